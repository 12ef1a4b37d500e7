/* evstore.h — the stored side of event tracking: columnar day partitions under
 * <data>/events/parts/ and the person table that maps event persons to customers. The collector
 * (collector.c, evlog.c) writes through this interface when it compacts its log; the analyses
 * (funnels, paths, retention, behaviour in segment expressions) read through it.
 *
 * Persons: every distinct device / anonymous id / login id seen by the collector gets a dense
 * person id (0..n-1) when it is first seen. Identify, alias and track_signup link persons: the
 * person table gives, for every person, its root (the person all its linked ids resolve to, a
 * root's root is itself) and the golden-record internal id of the customer it belongs to
 * (TB__EV_NO_GID when unknown). Analyses count roots, so events sent before login count for the
 * customer after login, even for partitions written before the link was made.
 *
 * Time: ts_ms is the event time in milliseconds since the Unix epoch (UTC), already corrected for
 * client clock skew; day partitions are by the local date in Asia/Shanghai (UTC+8, no DST). */
#ifndef TB_EVENTS_EVSTORE_H
#define TB_EVENTS_EVSTORE_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/err.h"
#include "events/evcrypt.h"

#define TB__EV_NO_GID UINT32_MAX

/* One event as the collector hands it to the store. All pointers are borrowed for the call. */
typedef struct tb__evrow {
    uint32_t person;   /* event person id (see above) */
    int64_t ts_ms;     /* event time, ms since the epoch, UTC */
    const char *event; /* event name, NUL-terminated, 1..100 bytes of UTF-8 */
    const char *props; /* the event's properties: a JSON object text, or NULL */
    size_t props_len;  /* length of props in bytes */
} tb__evrow;

/* Adds `n` rows to the day partitions under `dir` (created if missing): rows are split by local
 * day, merged with what each day's partition already holds, and each touched day is rewritten
 * crash-safely (temp, fsync, rename, fsync dir), sealed when k->seal (see "Sealed partitions").
 * Rows need not be sorted. Returns 0 or a negative TB_E… with the detail in `eb`; on error every
 * partition is as it was. */
int tb__evpart_append(const char *dir, const tb__evkeys *k, const tb__evrow *rows, size_t n,
                      tb__errbuf *eb);

/* Replaces the person table under `dir` (events/persons.bin) crash-safely. root[i] and gid[i]
 * are person i's root person and customer internal id (TB__EV_NO_GID when unknown). */
int tb__evpersons_write(const char *dir, const uint32_t *root, const uint32_t *gid, size_t n,
                        tb__errbuf *eb);

/* ---------------------------------------------------------------------------------------------
 * Where things are. `dir` above and below is the DATA DIRECTORY: day partitions live in
 * <dir>/events/parts/YYYYMMDD.tbev (the local day, Asia/Shanghai), the person table in
 * <dir>/events/persons.bin. docs/events.md ("Analysis", "Partition format") has the byte tables.
 *
 * Partition format ("TBEV" version 1, little-endian): a 64-byte header (magic, version, day,
 * rows, event names, property columns, sections, file length, crc32c of the header), then
 * sections, each a 24-byte section header (kind, column, raw length, compressed length, crc32c of
 * the section header's first 20 bytes and the payload) and one zstd frame. Sections in order:
 * event-name dictionary, person (u32 deltas of the sorted person ids), ts (u32 ms since the local
 * midnight of the day), event code (u16 into the dictionary), then per property column its
 * descriptor (type, name, and for a dictionary column the JSON texts of its values) and its values
 * (NUM: f64 per row, NaN when the row lacks it; DICT: u32 per row, 0 when absent, k = value k-1).
 * Rows are sorted by (person, ts); rows of equal (person, ts) keep the order they arrived in.
 *
 * Sealed partitions. The `k` (tb__evkeys, may be NULL) of the functions that write partitions
 * decides their form: with k->seal (an encrypted data directory) the whole file image is a sealed
 * stream (evcrypt.h) with associated data "events/parts/YYYYMMDD.tbev", else the clear image. The
 * readers take either, opening sealed ones with k->ring (TB_ENOENT naming the key when it lacks
 * it). The person table holds no identifier (dense person ids, roots, customer internal ids) and
 * stays clear.
 */
#define TB__EV_DAY_MS   86400000LL
#define TB__EV_TZ_MS    (8LL * 3600000LL) /* Asia/Shanghai: UTC+8, no DST */
#define TB__EV_NAME_MAX 100               /* bytes of an event name */
#define TB__EV_MAX_COLS 1024              /* property columns per partition */

/* The local day (days since 1970-01-01 in UTC+8) of an event time. */
static inline int32_t tb__ev_day(int64_t ts_ms)
{
    int64_t t = ts_ms + TB__EV_TZ_MS;
    return (int32_t)(t >= 0 ? t / TB__EV_DAY_MS : -((-t + TB__EV_DAY_MS - 1) / TB__EV_DAY_MS));
}
/* Epoch ms of local midnight of day `day`. */
static inline int64_t tb__ev_day_start(int32_t day)
{
    return (int64_t)day * TB__EV_DAY_MS - TB__EV_TZ_MS;
}

typedef enum tb__evcol_type {
    TB__EVCOL_NUM = 1,  /* every value of the key in the partition is a JSON number */
    TB__EVCOL_DICT = 2, /* anything else: dictionary of the values' compact JSON texts */
} tb__evcol_type;

/* One property column of a decoded partition. */
typedef struct tb__evcol {
    const char *name; /* the property key (NUL-terminated) */
    tb__evcol_type type;
    double *num;             /* NUM: nrows values, NaN when the row has no such property */
    uint32_t *code;          /* DICT: nrows codes, 0 absent, k: dict[k-1] */
    uint32_t ndict;          /* DICT: number of distinct values */
    const char **dict;       /* DICT: compact JSON text of each value ("\"app\"", "true", ...) */
    const uint32_t *dictlen; /* DICT: byte lengths of dict[i] */
} tb__evcol;

/* A decoded day partition (columns in memory). Filled by tb__evpart_parse / _read; released with
 * tb__evpart_release (which frees everything the struct points to). For writing (the bulk path of
 * the benchmark generator and of tb__evpart_append), a caller may fill one itself and hand it to
 * tb__evpart_encode: then nothing of it is taken over. */
typedef struct tb__evpart {
    int32_t day;      /* local day, days since 1970-01-01 */
    uint32_t nrows;   /* rows in the day */
    uint32_t *person; /* nrows person ids, ascending */
    uint32_t *ts;     /* nrows ms since local midnight (< TB__EV_DAY_MS), ascending per person */
    uint16_t *code;   /* nrows indexes into events[] */
    uint32_t nevents; /* event names in the dictionary (<= 65535) */
    const char **events;
    uint32_t ncols; /* property columns (0 when read without TB__EVP_PROPS) */
    tb__evcol *cols;
    void *own; /* private: the memory behind the pointers above when decoded */
} tb__evpart;

/* Flags of tb__evpart_parse / _read / tb__evset_load. */
enum {
    TB__EVP_PROPS = 1 << 0, /* decode the property columns (else only their checksums are read) */
};

/* Serialises `p` (borrowed; validated: persons ascending, ts < one day and ascending per person,
 * codes < nevents, names 1..100 bytes, dict codes in range, at most TB__EV_MAX_COLS columns with
 * distinct non-empty names) and appends the file image to `out`, compressing each column with zstd
 * at `level` (1..19; 0: 3). TB_EINVAL with the detail in eb for a violated rule, TB_ENOMEM. */
int tb__evpart_encode(const tb__evpart *p, int level, tb__buf *out, tb__errbuf *eb);

/* Writes `p` as the day partition of p->day under data directory `dir`, replacing what was there,
 * crash-safely. The bulk path: no merge with the old partition. */
int tb__evpart_write(const char *dir, const tb__evkeys *k, const tb__evpart *p, int level,
                     tb__errbuf *eb);

/* Decodes a partition image buf[0, len) (borrowed, untrusted): checks the header and its checksum,
 * every section's kind, order, lengths, checksum and decompressed size (a raw length is never
 * trusted beyond what its compressed bytes can expand to), and every invariant encode checks.
 * 0 and *out (release with tb__evpart_release), or TB_ECORRUPT ("byte N: ...") / TB_EVERSION /
 * TB_ENOMEM with *out zeroed. */
int tb__evpart_parse(const void *buf, size_t len, unsigned flags, tb__evpart *out, tb__errbuf *eb);

/* Reads and decodes the partition of `day` under data directory `dir`; TB_ENOENT when there is
 * none (then *out is an empty partition of that day, still to be released). */
int tb__evpart_read(const char *dir, const tb__evkeys *k, int32_t day, unsigned flags,
                    tb__evpart *out, tb__errbuf *eb);
void tb__evpart_release(tb__evpart *p); /* zeroed or released: no-op */

/* The days that have a partition under `dir`: *days (caller frees with free), ascending. A missing
 * events/parts directory is zero days. */
int tb__evpart_list(const char *dir, int32_t **days, size_t *ndays, tb__errbuf *eb);

/* The person table, decoded. root/gid: n entries each (one allocation; release frees). */
typedef struct tb__evpersons {
    uint32_t n;
    uint32_t *root;
    uint32_t *gid;
} tb__evpersons;

/* Decodes persons.bin bytes (untrusted): "TBEP", version 1, n, crc32c, then root[n], gid[n];
 * every root < n and its own root. TB_ECORRUPT / TB_EVERSION / TB_ENOMEM. */
int tb__evpersons_parse(const void *buf, size_t len, tb__evpersons *out, tb__errbuf *eb);
/* Reads <dir>/events/persons.bin; a missing file is an empty table (0). */
int tb__evpersons_read(const char *dir, tb__evpersons *out, tb__errbuf *eb);
void tb__evpersons_release(tb__evpersons *p);

/* A set of loaded days [from, to] and the person table: what every analysis runs on. Read-only
 * once loaded; may be shared by threads. */
typedef struct tb__evset {
    int32_t from, to;   /* local days, inclusive */
    tb__evpart *days;   /* to - from + 1 partitions (empty ones for days without data) */
    tb__evpersons pers; /* persons (may be empty: every person is then its own root, no gid) */
    uint64_t nrows;     /* over all loaded days */
    uint32_t maxperson; /* 1 + the largest person id in the loaded days or the person table */
    /* Linked persons, precomputed on load: cplx[p] (p < pers.n) is 1 when p is not its own root
     * or other persons have p as root; such roots are analysed by gathering their members'
     * events (grp_root[g], members grp_mem[grp_off[g], grp_off[g+1]), the root first). */
    uint8_t *cplx;
    uint32_t ngrp;
    uint32_t *grp_root, *grp_off, *grp_mem;
    /* The person-major index, built on load (the analyses' hot path reads only this): every
     * loaded row once, ordered by (person, ts, stored order); person p's rows are
     * [poff[p], poff[p+1]). ev: ids into names[] (the union of the days' dictionaries); day/row:
     * where the row is stored (for property columns). */
    uint32_t *poff; /* maxperson + 1 */
    int64_t *mts;
    uint16_t *mev, *mday;
    uint32_t *mrow;
    const char **names;
    uint32_t nnames;
} tb__evset;

/* Loads days [from, to] (at most 3660) from `dir` with `threads` threads (0: 2), decoding
 * property columns with TB__EVP_PROPS, and builds the person-major index. At most 2^32 - 16 rows
 * and 65535 distinct event names over the range (TB_ELIMIT). Release with tb__evset_release. */
int tb__evset_load(const char *dir, const tb__evkeys *k, int32_t from, int32_t to, unsigned flags,
                   int threads, tb__evset *out, tb__errbuf *eb);
void tb__evset_release(tb__evset *s);

#endif
