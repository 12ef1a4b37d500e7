/* evq.h — the analyses over loaded day partitions (evstore.h, tb__evset): funnels, paths,
 * retention, counts, and the behaviour predicates of segment expressions. They work on roots
 * (every person is counted as its root person) and return plain C results; evapi.c turns them
 * into the JSON answers of tb_ev_* (tagbase.h), with scopes, breakdowns and saved segments.
 *
 * Semantics (docs/events.md, "Analysis", is the user's statement of the same):
 *  - Order: a root's events are ordered by time; ties keep the stored order (person, then arrival).
 *  - Funnel: step 1 must happen inside [from, to] (local days); step k+1 must be an event after
 *    step k's event (strictly later in that order, possibly the same millisecond) and no more
 *    than `window_ms` after step 1's. A root's level is the deepest step reached over all its
 *    step-1 events (every step-1 event may start an attempt; within an attempt every step takes
 *    the earliest event that qualifies). Its reported attempt is the earliest step-1 event that
 *    reaches that level: the trend counts it on that day, and times between steps are that
 *    attempt's. This is ClickHouse's windowFunnel() (default mode) and the ASOF-join SQL of
 *    bench/events_duckdb.mjs; the benchmark checks all three agree.
 *
 * Ownership: results own their arrays (release functions free them). Thread-safety: an evset is
 * read-only; every function may run concurrently on the same set. */
#ifndef TB_EVENTS_EVQ_H
#define TB_EVENTS_EVQ_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "events/evstore.h"
#include "tags/bitmap.h"

#define TB__EV_MAX_STEPS 16

typedef enum tb__evop {
    TB__EVOP_EQ, /* present and equal to one of the values (several values: "in") */
    TB__EVOP_NE, /* present and equal to none of the values */
    TB__EVOP_LT, /* numbers: present, a number, and < value */
    TB__EVOP_LE,
    TB__EVOP_GT,
    TB__EVOP_GE,
    TB__EVOP_EXISTS, /* present */
} tb__evop;

/* One condition on a property of the event. Values are compact JSON texts ("\"app\"", "3", "true")
 * and, when they are numbers, their value (isnum[i]). */
typedef struct tb__evcond {
    const char *prop;
    tb__evop op;
    size_t nv;
    const char *const *vtext;
    const double *vnum;
    const uint8_t *visnum;
} tb__evcond;

/* An event: its name and conditions (all must hold). */
typedef struct tb__evstep {
    const char *event;
    const tb__evcond *conds;
    size_t nconds;
} tb__evstep;

/* Step masks per row of one day: tb__evmask_prepare resolves steps against the day's dictionary
 * and columns once; tb__evmask_row gives the set of steps row i matches (bit k: step k). */
typedef struct tb__evmask tb__evmask;
int tb__evmask_prepare(const tb__evpart *p, const tb__evstep *steps, uint32_t nsteps,
                       tb__evmask **out);
void tb__evmask_free(tb__evmask *m);
uint32_t tb__evmask_row(const tb__evmask *m, uint32_t i);
/* The plain table by event code (no conditions) and which steps carry conditions. */
const uint32_t *tb__evmask_table(const tb__evmask *m);
uint32_t tb__evmask_filtered(const tb__evmask *m);

/* Who is counted: roots (persons whose root is themselves, or persons past the person table);
 * with a universe, only roots whose gid is in it. */
int tb__ev_root_in(const tb__evset *s, uint32_t root, const tb__bmv *universe);
/* The root and gid of person p (itself and TB__EV_NO_GID past the table). */
uint32_t tb__ev_root(const tb__evset *s, uint32_t p);
uint32_t tb__ev_gid(const tb__evset *s, uint32_t p);

/* ---- the walk: every counted root's events in time order ---- */

/* One root's events, in order (see the header). ts: epoch ms; mask: the steps each matches; ev:
 * global event ids (tb__evwalk.names) when the walk passes every row, else NULL. */
typedef struct tb__evrun {
    uint32_t root;
    uint32_t n;
    const int64_t *ts;
    const uint32_t *mask;
    const uint32_t *ev;
} tb__evrun;

typedef struct tb__evwalk {
    const tb__evset *s;
    const tb__evstep *steps; /* may be NULL (nsteps 0) when `all` */
    uint32_t nsteps;
    int all; /* pass every row (masks may be 0) with global event ids; else only matching rows */
    const tb__bmv *universe;
    int threads; /* 0: 2 */
    /* called once per counted root with at least one row passed, from worker `thread`
     * (0..threads-1); a non-zero return stops the walk and is returned */
    int (*fn)(void *arg, int thread, const tb__evrun *run);
    void *arg;
    /* filled by tb__ev_walk when `all`: the event names of every loaded day (ids of ev[]) */
    const char **names;
    uint32_t nnames;
    int nthreads; /* the number of workers used (set by tb__ev_walk_prepare) */
    void *priv;
} tb__evwalk;

/* Prepares w (sets names, nthreads) so callers can size per-thread state, then tb__ev_walk_run
 * walks; tb__ev_walk_release frees what prepare allocated. */
int tb__ev_walk_prepare(tb__evwalk *w, tb__errbuf *eb);
int tb__ev_walk_run(tb__evwalk *w, tb__errbuf *eb);
void tb__ev_walk_release(tb__evwalk *w);

/* ---- funnels ---- */
typedef struct tb__funnel_spec {
    const tb__evstep *steps;
    uint32_t nsteps;   /* 1..16 */
    int64_t window_ms; /* 1 s .. 31 days */
    int32_t from, to;  /* local days of step 1; the set must hold [from, to + window days] */
} tb__funnel_spec;

typedef struct tb__funnel_res {
    uint32_t nsteps;
    uint64_t users[TB__EV_MAX_STEPS];   /* roots that reached step k (k = 0..nsteps-1) */
    double median_ms[TB__EV_MAX_STEPS]; /* [k], k >= 1: median time from step k-1 to k of the
                                           reported attempts that reached k; -1 when none */
    uint32_t ndays;                     /* to - from + 1 */
    uint64_t *trend_started;            /* [ndays]: reported attempts started that day */
    uint64_t *trend_converted;          /* [ndays]: ... that reached the last step */
    uint8_t *level;                     /* [maxperson]: the root's level (0: not in it) */
    uint32_t nlevel;
} tb__funnel_res;

int tb__funnel_run(const tb__evset *s, const tb__funnel_spec *sp, const tb__bmv *universe,
                   int threads, tb__funnel_res *out, tb__errbuf *eb);
void tb__funnel_res_release(tb__funnel_res *r);

/* ---- paths: the events after (or before) a root's first anchor event in [from, to] ----
 * Level 0 is the anchor; level i (1..depth) the i-th event after it (before it, for "previous"),
 * any event; a root whose sequence ends earlier stops there. count[i][a][b]: roots whose level
 * i-1 event is a and level i event b (ids into the set's names). */
typedef struct tb__paths_spec {
    const tb__evstep *anchor; /* one step: the event (and conditions) paths start from */
    int previous;             /* 1: walk backwards */
    uint32_t depth;           /* 1..10 */
    int32_t from, to;
} tb__paths_spec;

typedef struct tb__paths_res {
    uint32_t depth, nnames;
    uint64_t roots;  /* roots with an anchor */
    uint64_t *count; /* [depth][nnames][nnames], level i at count + i*nnames*nnames */
} tb__paths_res;

int tb__paths_run(const tb__evset *s, const tb__paths_spec *sp, const tb__bmv *universe,
                  int threads, tb__paths_res *out, tb__errbuf *eb);
void tb__paths_res_release(tb__paths_res *r);

/* ---- retention: cohorts by the local day of a root's first `start` event in [from, to];
 * retained on day n (0..ndays) when it has a `ret` event on cohort day + n (day 0: after
 * the start event, the same day). */
typedef struct tb__ret_spec {
    const tb__evstep *start, *ret;
    int32_t from, to;
    uint32_t ndays; /* 1..90 */
} tb__ret_spec;

typedef struct tb__ret_res {
    uint32_t ncohorts, ndays;
    uint64_t *size;     /* [ncohorts] */
    uint64_t *retained; /* [ncohorts][ndays + 1] */
} tb__ret_res;

int tb__retention_run(const tb__evset *s, const tb__ret_spec *sp, const tb__bmv *universe,
                      int threads, tb__ret_res *out, tb__errbuf *eb);
void tb__ret_res_release(tb__ret_res *r);

/* ---- counts: events and distinct roots per event name and time bucket (day or hour) in
 * [from, to], optionally only events matching `only` (steps), optionally per group of customers
 * (bitmaps over gids: segments, tag values). */
typedef struct tb__count_spec {
    const tb__evstep *only; /* NULL: every event; else events matching any of these */
    uint32_t nonly;
    int hourly;
    int32_t from, to;
    const tb__bmv *const *groups; /* optional */
    uint32_t ngroups;
} tb__count_spec;

typedef struct tb__count_res {
    uint32_t nbuckets, nnames, ngroups;
    /* [group + 1][name][bucket]; group slot 0 is everyone counted */
    uint64_t *events, *users;
} tb__count_res;

int tb__count_run(const tb__evset *s, const tb__count_spec *sp, const tb__bmv *universe,
                  int threads, tb__count_res *out, tb__errbuf *eb);
void tb__count_res_release(tb__count_res *r);

/* Events per value of property `prop` for each event name in [from, to] (single pass over the
 * day columns; scoped callers get the counts of their roots). Calls fn(name, value JSON text or
 * NULL for "no such property", events) once per pair. */
int tb__count_by_prop(const tb__evset *s, const char *prop, int32_t from, int32_t to,
                      const tb__bmv *universe,
                      int (*fn)(void *arg, const char *event, const char *value, uint64_t n),
                      void *arg, tb__errbuf *eb);

/* The median of a[0, n) (reorders a); -1 when n is 0. */
double tb__ev_median_u32(uint32_t *a, size_t n);

#endif
