/* collector.c — the collector's state and its life: sources and plans, validation, messageId
 * deduplication, ID mapping, real-time rules, the durable log, checkpoints and compaction
 * (collector.h; docs/events.md).
 *
 * Everything that decides what an event becomes (dedup, person ids, rule windows) is applied in
 * log order under one lock, at append time, by the same code that replays the log after a restart.
 * So the state after a restart is exactly the state the acknowledged records produced. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/clock.h"
#include "common/crc32c.h"
#include "common/mask.h"
#include "common/hash.h"
#include "common/log.h"
#include "events/collector.h"
#include "events/evcrypt.h"
#include "events/evlog.h"
#include "events/evmeta.h"
#include "events/evstore.h"
#include "events/realtime.h"
#include "pipeline/identity.h"
#include "security/erase.h"
#include "store/file.h"
#include "store/meta.h"
#include <sodium.h>

#define REC_BATCH   'B'
#define REC_VERSION 1
#define F_QUAR      1 /* quarantined: kept with its reason, never in partitions */
#define F_UNPLANNED 2 /* an event the plan does not know, accepted under policy "flag" */
#define P_USER      1 /* person flag: a login id (its key starts "u:") */
#define NO_PERSON   UINT32_MAX
#define DEDUP_MAX   ((size_t)4 << 20) /* ids per generation: two generations are remembered */
/* Events per compaction chunk (default of events.compact_chunk): partitions are appended and the
 * checkpoint written after each, so memory stays bounded however much log a compaction finds. */
#define COMPACT_CHUNK ((size_t)1 << 20)
#define COMPACT_STOP  1 /* collect_record's "chunk full" (not an error) */

/* ---- small hash tables ---------------------------------------------------------------------- */

/* Open addressing over 64-bit hashes (never 0, see hash.h); `val` rides along. */
typedef struct htab {
    uint64_t *h;
    uint32_t *val;
    size_t cap, n;
} htab;

static void ht_free(htab *t)
{
    free(t->h);
    free(t->val);
    memset(t, 0, sizeof *t);
}

static int ht_grow(htab *t)
{
    size_t cap = t->cap ? t->cap * 2 : 1024;
    uint64_t *h = calloc(cap, sizeof *h);
    uint32_t *v = calloc(cap, sizeof *v);
    if (!h || !v) {
        free(h);
        free(v);
        return TB_ENOMEM;
    }
    for (size_t i = 0; i < t->cap; i++)
        if (t->h[i]) {
            size_t j = t->h[i] & (cap - 1);
            while (h[j])
                j = (j + 1) & (cap - 1);
            h[j] = t->h[i];
            v[j] = t->val[i];
        }
    free(t->h);
    free(t->val);
    t->h = h;
    t->val = v;
    t->cap = cap;
    return 0;
}

/* The slot of hash x: either holding x or the empty slot where it would go. */
static size_t ht_slot(const htab *t, uint64_t x)
{
    size_t j = x & (t->cap - 1);
    while (t->h[j] && t->h[j] != x)
        j = (j + 1) & (t->cap - 1);
    return j;
}

static int ht_has(const htab *t, uint64_t x)
{
    return t->cap && t->h[ht_slot(t, x)] == x;
}

static int ht_put(htab *t, uint64_t x, uint32_t v)
{
    if ((t->n + 1) * 2 > t->cap) {
        int rc = ht_grow(t);
        if (rc) return rc;
    }
    size_t j = ht_slot(t, x);
    if (!t->h[j]) t->n++;
    t->h[j] = x;
    t->val[j] = v;
    return 0;
}

/* ---- state ---------------------------------------------------------------------------------- */

typedef struct source {
    uint32_t id;
    char *name, *project;
    uint8_t key_hash[32];
    int revoked;
    json_t *plan; /* the newest plan, or NULL */
    int plan_version;
    int policy;       /* 0 accept, 1 flag, 2 quarantine */
    int64_t rate_sec; /* the second `rate_n` counts events of (flood control) */
    uint64_t rate_n;
} source;

struct tb__collector {
    tb_db *db;
    char dir[4096]; /* <data>/events */
    tb__col_limits lim;
    pthread_mutex_t cmu; /* one compaction or erasure at a time (taken before mu) */
    pthread_mutex_t mu;  /* everything below */
    tb__evlog *log;
    source *src;
    size_t nsrc;
    time_t src_loaded;
    /* persons */
    htab ids; /* hash of key -> person; keys compared through `keys` */
    uint32_t *parent, *gid, *keyoff;
    uint8_t *pflags;
    size_t npersons, pcap;
    tb__buf keys; /* NUL-separated keys "u:…" / "a:…" */
    /* dedup: two generations of message-id hashes */
    htab dd[2];
    /* counters */
    uint64_t accepted, duplicates, quarantined, unplanned, batches;
    tb__evpos compacted; /* log position up to which partitions hold the events */
    tb__rt *rt;
    int replaying;
    size_t chunk;         /* events per compaction chunk (events.compact_chunk) */
    size_t resolved_upto; /* persons below were looked up at the last compaction */
    time_t resolved_at;   /* when every unmatched login was last looked up */
    int poisoned;      /* a batch was applied to the state but not appended: the state is ahead of
                          the log, so nothing more is taken and no checkpoint written until a restart
                          rebuilds it from the log */
    uint64_t max_rate; /* events per second per source before 429 (events.max_rate) */
    int64_t retention_days; /* day partitions kept (events.retention_days) */
    tb__evkeys ek;          /* sealing (encrypted store) and opening of the store's files */
    tb__c2key ekey;         /* ek.seal points here: a copy of the active key, zeroed at close */
};

static uint32_t find(tb__collector *c, uint32_t p)
{
    while (c->parent[p] != p) {
        c->parent[p] = c->parent[c->parent[p]];
        p = c->parent[p];
    }
    return p;
}

/* The person of key (kind 'u' or 'a'), or NO_PERSON; creates it when `create`. */
static uint32_t person(tb__collector *c, char kind, const char *id, int create)
{
    char k[300];
    int n = snprintf(k, sizeof k, "%c:%s", kind, id);
    if (n < 0 || (size_t)n >= sizeof k) n = (int)sizeof k - 1;
    uint64_t h = tb__hash64(k, (size_t)n, 0x65766964);
    for (;;) {
        if (c->ids.cap) {
            size_t j = ht_slot(&c->ids, h);
            if (!c->ids.h[j]) break;
            uint32_t p = c->ids.val[j];
            if (strncmp(c->keys.data + c->keyoff[p], k, (size_t)n) == 0 &&
                c->keys.data[c->keyoff[p] + (size_t)n] == '\0')
                return p;
            h = h * 0x9E3779B97F4A7C15ull | 1; /* a different key with the same hash: rehash */
        } else
            break;
    }
    if (!create) return NO_PERSON;
    if (c->npersons == c->pcap) {
        size_t cap = c->pcap ? c->pcap * 2 : 1024;
        uint32_t *pa = realloc(c->parent, cap * sizeof *pa);
        if (pa) c->parent = pa;
        uint32_t *g = realloc(c->gid, cap * sizeof *g);
        if (g) c->gid = g;
        uint32_t *ko = realloc(c->keyoff, cap * sizeof *ko);
        if (ko) c->keyoff = ko;
        uint8_t *f = realloc(c->pflags, cap);
        if (f) c->pflags = f;
        if (!pa || !g || !ko || !f) return NO_PERSON;
        c->pcap = cap;
    }
    uint32_t p = (uint32_t)c->npersons;
    size_t off = c->keys.len;
    if (tb__buf_append(&c->keys, k, (size_t)n) || tb__buf_putc(&c->keys, '\0') ||
        ht_put(&c->ids, h, p))
        return NO_PERSON;
    c->npersons++;
    c->parent[p] = p;
    c->gid[p] = TB__EV_NO_GID;
    c->keyoff[p] = (uint32_t)off;
    c->pflags[p] = kind == 'u' ? P_USER : 0;
    if (kind == 'u' && !c->replaying) {
        uint32_t g;
        if (c->db && tb__customer_resolve_any(c->db, id, &g) == 0) c->gid[p] = g;
    }
    return p;
}

/* An id of unknown kind (Sensors distinct_id, alias previousId): a known login id wins. */
static uint32_t person_any(tb__collector *c, const char *id)
{
    uint32_t p = person(c, 'u', id, 0);
    return p != NO_PERSON ? p : person(c, 'a', id, 1);
}

/* Links person `a` to `to`'s root. An anonymous person joins at most one login: once its root is
 * a login person it stays (a shared device does not merge two customers), unless `force` (alias).
 */
static void link_to(tb__collector *c, uint32_t a, uint32_t to, int force)
{
    if (a == NO_PERSON || to == NO_PERSON) return;
    uint32_t ra = find(c, a), rt = find(c, to);
    if (ra == rt) return;
    if (!force && (c->pflags[ra] & P_USER)) return;
    c->parent[ra] = rt;
    if (c->gid[rt] == TB__EV_NO_GID) c->gid[rt] = c->gid[ra];
}

/* The person an event belongs to, creating and linking as its ids say. */
static uint32_t person_of(tb__collector *c, const tb__evin *e)
{
    uint32_t p = NO_PERSON;
    switch (e->type) {
    case TB__EVT_ALIAS: {
        p = person(c, 'u', e->user, 1);
        link_to(c, person_any(c, e->other), p, 1);
        return p;
    }
    default:
        if (e->user) {
            p = person(c, 'u', e->user, 1);
            if (e->anon) link_to(c, person(c, 'a', e->anon, 1), p, 0);
        } else if (e->anon)
            p = person(c, 'a', e->anon, 1);
        else if (e->other)
            p = person_any(c, e->other);
        return p;
    }
}

static int dedup_seen(tb__collector *c, uint64_t h)
{
    return ht_has(&c->dd[0], h) || ht_has(&c->dd[1], h);
}

static int dedup_add(tb__collector *c, uint64_t h)
{
    if (c->dd[0].n >= DEDUP_MAX) { /* retire the older generation */
        ht_free(&c->dd[1]);
        c->dd[1] = c->dd[0];
        memset(&c->dd[0], 0, sizeof c->dd[0]);
    }
    return ht_put(&c->dd[0], h, 0);
}

static uint64_t msg_hash(uint32_t src_id, const char *msgid)
{
    char k[400]; /* a source id and a message id of at most 320 bytes (col_format.c) */
    int n = snprintf(k, sizeof k, "%u:%s", src_id, msgid);
    if (n < 0 || (size_t)n >= sizeof k) n = (int)sizeof k - 1;
    return tb__hash64(k, (size_t)n, 0x6d736764);
}

/* ---- sources and plans ---------------------------------------------------------------------- */

static void free_sources(tb__collector *c)
{
    for (size_t i = 0; i < c->nsrc; i++) {
        free(c->src[i].name);
        free(c->src[i].project);
        json_decref(c->src[i].plan);
    }
    free(c->src);
    c->src = NULL;
    c->nsrc = 0;
}

static int add_source(void *arg, const tb__ev_source *s)
{
    tb__collector *c = arg;
    source *t = realloc(c->src, (c->nsrc + 1) * sizeof *t);
    if (!t) return TB_ENOMEM;
    c->src = t;
    source *x = &c->src[c->nsrc++];
    memset(x, 0, sizeof *x);
    x->id = s->id;
    x->name = strdup(s->name);
    x->project = strdup(s->project);
    memcpy(x->key_hash, s->key_hash, 32);
    x->revoked = s->revoked_at != NULL;
    return x->name && x->project ? 0 : TB_ENOMEM;
}

/* (Re)reads sources and their newest plans from the meta store. */
static int load_sources(tb__collector *c)
{
    free_sources(c);
    c->src_loaded = time(NULL);
    if (!c->db) return 0;
    int rc = tb__ev_source_list(c->db, add_source, c);
    for (size_t i = 0; !rc && i < c->nsrc; i++) {
        char *text;
        int v;
        if (tb__ev_plan_get(c->db, c->src[i].name, 0, &text, &v) == 0) {
            c->src[i].plan = json_loads(text, 0, NULL);
            c->src[i].plan_version = v;
            free(text);
            const char *pol = json_string_value(json_object_get(c->src[i].plan, "unknown_events"));
            c->src[i].policy = pol && !strcmp(pol, "flag")         ? 1
                               : pol && !strcmp(pol, "quarantine") ? 2
                                                                   : 0;
        }
    }
    return rc;
}

static source *source_by_key(tb__collector *c, const char *key)
{
    uint8_t h[32];
    tb__ev_key_hash(key, h);
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < c->nsrc; i++)
            if (sodium_memcmp(c->src[i].key_hash, h, 32) == 0) return &c->src[i];
        /* A key we do not know: maybe a source added since; re-read at most once a second. */
        if (pass == 0 && time(NULL) != c->src_loaded)
            load_sources(c);
        else
            break;
    }
    return NULL;
}

static source *source_by_project(tb__collector *c, const char *project)
{
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < c->nsrc; i++)
            if (!c->src[i].revoked && strcmp(c->src[i].project, project) == 0) return &c->src[i];
        if (pass == 0 && time(NULL) != c->src_loaded)
            load_sources(c);
        else
            break;
    }
    return NULL;
}

static source *source_by_name(tb__collector *c, const char *name)
{
    for (size_t i = 0; i < c->nsrc; i++)
        if (strcmp(c->src[i].name, name) == 0) return &c->src[i];
    return NULL;
}

/* Checks one property value against its schema; a reason in `why` when it breaks it. */
static int check_prop(const char *ev, const char *k, json_t *schema, json_t *v, char *why,
                      size_t cap)
{
    const char *t = json_string_value(json_object_get(schema, "type"));
    int ok = !t || (!strcmp(t, "string") && json_is_string(v)) ||
             (!strcmp(t, "number") && json_is_number(v)) ||
             (!strcmp(t, "integer") && json_is_integer(v)) ||
             (!strcmp(t, "boolean") && json_is_boolean(v)) ||
             (!strcmp(t, "object") && json_is_object(v)) ||
             (!strcmp(t, "array") && json_is_array(v));
    if (!ok) {
        snprintf(why, cap, "event '%.60s': property '%.60s' is not of type %s", ev, k, t);
        return 0;
    }
    json_t *en = json_object_get(schema, "enum");
    if (json_is_array(en)) {
        size_t i;
        json_t *x;
        int found = 0;
        json_array_foreach(en, i, x) if (json_equal(x, v)) found = 1;
        if (!found) {
            snprintf(why, cap, "event '%.60s': property '%.60s' is not one of the allowed values",
                     ev, k);
            return 0;
        }
    }
    json_t *mn = json_object_get(schema, "minimum"), *mx = json_object_get(schema, "maximum");
    if (json_is_number(v) && ((mn && json_number_value(v) < json_number_value(mn)) ||
                              (mx && json_number_value(v) > json_number_value(mx)))) {
        snprintf(why, cap, "event '%.60s': property '%.60s' is out of range", ev, k);
        return 0;
    }
    return 1;
}

/* Validates an event against its source's plan: 0 ok, F_UNPLANNED, or F_QUAR with `why`. */
static int check_plan(const source *s, const tb__evin *e, char *why, size_t cap)
{
    if (!s->plan || e->event[0] == '$') return 0; /* no plan, or a system event */
    json_t *def = json_object_get(json_object_get(s->plan, "events"), e->event);
    if (!def) {
        if (s->policy == 2) {
            snprintf(why, cap, "event '%.60s' is not in the tracking plan of '%s' (version %d)",
                     e->event, s->name, s->plan_version);
            return F_QUAR;
        }
        return s->policy == 1 ? F_UNPLANNED : 0;
    }
    json_t *props = json_object_get(def, "properties");
    if (!json_object_size(props)) return 0;
    json_t *vals = json_loadb(e->props, e->props_len, 0, NULL);
    const char *k;
    json_t *schema;
    int rc = 0;
    json_object_foreach(props, k, schema)
    {
        json_t *v = json_object_get(vals, k);
        if (!v || json_is_null(v)) {
            if (json_is_true(json_object_get(schema, "required"))) {
                snprintf(why, cap, "event '%.60s': required property '%.60s' is missing", e->event,
                         k);
                rc = F_QUAR;
                break;
            }
            continue;
        }
        if (!check_prop(e->event, k, schema, v, why, cap)) {
            rc = F_QUAR;
            break;
        }
    }
    json_decref(vals);
    return rc;
}

/* ---- log records ------------------------------------------------------------------------------
 * A batch record: 'B', version, u32 source id, i64 reception ms, u32 count, then per event:
 * u8 type, u8 flags, u32 person, i64 ts, u64 message hash (0: none), and the strings event, anon,
 * user, other, reason (u16 length each) and props (u32 length). Little-endian. */

static int put(tb__buf *b, const void *p, size_t n)
{
    return tb__buf_append(b, p, n);
}

static int put_str16(tb__buf *b, const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n > 0xffff) n = 0xffff;
    uint16_t l = (uint16_t)n;
    return put(b, &l, 2) || (n && put(b, s, n));
}

typedef struct rd {
    const uint8_t *p;
    size_t n, at;
    int bad;
} rd;

static void get(rd *r, void *out, size_t n)
{
    if (r->bad || r->n - r->at < n) {
        r->bad = 1;
        memset(out, 0, n);
        return;
    }
    memcpy(out, r->p + r->at, n);
    r->at += n;
}

/* A string of the record, copied NUL-terminated into `a` (NULL when empty). */
static const char *get_str(rd *r, tb__arena *a, int wide, size_t *len)
{
    uint32_t n = 0;
    if (wide)
        get(r, &n, 4);
    else {
        uint16_t s;
        get(r, &s, 2);
        n = s;
    }
    if (r->bad || r->n - r->at < n) {
        r->bad = 1;
        return NULL;
    }
    const char *s = n ? tb__arena_strndup(a, (const char *)r->p + r->at, n) : NULL;
    r->at += n;
    if (len) *len = n;
    return s;
}

typedef struct rec_event {
    tb__evin e;
    uint8_t flags;
    uint32_t person;
    uint64_t mh;
} rec_event;

/* Decodes a batch record into events (strings in `a`). TB_ECORRUPT when it does not parse. */
static int decode_record(const uint8_t *p, size_t n, tb__arena *a, uint32_t *src_id, int64_t *recv,
                         rec_event **out, uint32_t *count)
{
    rd r = {p, n, 0, 0};
    uint8_t kind, ver;
    get(&r, &kind, 1);
    get(&r, &ver, 1);
    get(&r, src_id, 4);
    get(&r, recv, 8);
    get(&r, count, 4);
    if (r.bad || kind != REC_BATCH || ver != REC_VERSION || *count > n) return TB_ECORRUPT;
    rec_event *ev = tb__arena_calloc(a, *count ? *count : 1, sizeof *ev);
    if (!ev) return TB_ENOMEM;
    for (uint32_t i = 0; i < *count && !r.bad; i++) {
        get(&r, &ev[i].e.type, 1);
        get(&r, &ev[i].flags, 1);
        get(&r, &ev[i].person, 4);
        get(&r, &ev[i].e.ts_ms, 8);
        get(&r, &ev[i].mh, 8);
        ev[i].e.event = get_str(&r, a, 0, NULL);
        ev[i].e.anon = get_str(&r, a, 0, NULL);
        ev[i].e.user = get_str(&r, a, 0, NULL);
        ev[i].e.other = get_str(&r, a, 0, NULL);
        ev[i].e.reason = get_str(&r, a, 0, NULL);
        ev[i].e.props = get_str(&r, a, 1, &ev[i].e.props_len);
        if (!ev[i].e.props) {
            ev[i].e.props = "{}";
            ev[i].e.props_len = 2;
        }
        if (!ev[i].e.event) ev[i].e.event = "$invalid";
    }
    if (r.bad || r.at != n) return TB_ECORRUPT;
    *out = ev;
    return 0;
}

/* Applies one accepted event to the state (dedup, persons, rules). Returns its person. */
static uint32_t apply(tb__collector *c, uint32_t src, const tb__evin *e, uint64_t mh)
{
    if (mh) dedup_add(c, mh);
    uint32_t p = person_of(c, e);
    if (p != NO_PERSON && c->rt) {
        uint32_t root = find(c, p);
        tb__rt_observe(c->rt, root, e->event, e->props, e->props_len, e->ts_ms);
    }
    (void)src;
    return p;
}

/* Replay of one log record at open: the same state changes as at append. */
static int replay(void *arg, tb__evpos pos, const uint8_t *p, size_t n)
{
    tb__collector *c = arg;
    tb__arena a;
    tb__arena_init(&a, 0);
    uint32_t src, count;
    int64_t recv;
    rec_event *ev;
    int rc = decode_record(p, n, &a, &src, &recv, &ev, &count);
    if (rc) {
        tb__arena_release(&a);
        tb__log_error("events", "log record at segment %u byte %llu does not decode", pos.seg,
                      (unsigned long long)pos.off);
        return rc;
    }
    for (uint32_t i = 0; i < count; i++) {
        if (ev[i].flags & F_QUAR) {
            c->quarantined++;
            continue;
        }
        uint32_t got = apply(c, src, &ev[i].e, ev[i].mh);
        if (got != ev[i].person)
            tb__log_warn("events", "replay at segment %u byte %llu: person %u, logged %u", pos.seg,
                         (unsigned long long)pos.off, got, ev[i].person);
        c->accepted++;
    }
    c->batches++;
    tb__arena_release(&a);
    return 0;
}

/* ---- checkpoint --------------------------------------------------------------------------------
 * events/state.bin: "TBEVST01", u32 version 1, then the log position the state covers and the
 * compacted position, counters, persons (parent, gid, flags, key offsets, keys), the two dedup
 * generations, the real-time state, and a CRC-32C of everything before it. */

static int ck_put_tab(tb__buf *b, const htab *t)
{
    uint64_t n = 0;
    for (size_t i = 0; i < t->cap; i++)
        n += t->h[i] != 0;
    if (put(b, &n, 8)) return TB_ENOMEM;
    for (size_t i = 0; i < t->cap; i++)
        if (t->h[i] && put(b, &t->h[i], 8)) return TB_ENOMEM;
    return 0;
}

#define CK_NAME "events/state.bin" /* associated data of the sealed checkpoint */
#define QU_NAME "events/quarantine.jsonl"

static int write_checkpoint(tb__collector *c, tb__evpos at, tb__errbuf *eb)
{
    if (c->poisoned)
        return tb__seterr(eb, TB_EIO,
                          "the collector's state is ahead of its log (a failed "
                          "append): no checkpoint until a restart");
    tb__buf b = TB__BUF_INIT;
    uint32_t ver = 1;
    uint64_t np = c->npersons, kl = c->keys.len;
    int rc = put(&b, "TBEVST01", 8) || put(&b, &ver, 4) || put(&b, &at.seg, 4) ||
             put(&b, &at.off, 8) || put(&b, &c->compacted.seg, 4) ||
             put(&b, &c->compacted.off, 8) || put(&b, &c->accepted, 8) ||
             put(&b, &c->duplicates, 8) || put(&b, &c->quarantined, 8) ||
             put(&b, &c->unplanned, 8) || put(&b, &c->batches, 8) || put(&b, &np, 8) ||
             (np && (put(&b, c->parent, np * 4) || put(&b, c->gid, np * 4) ||
                     put(&b, c->pflags, np) || put(&b, c->keyoff, np * 4))) ||
             put(&b, &kl, 8) || (kl && put(&b, c->keys.data, kl)) || ck_put_tab(&b, &c->dd[0]) ||
             ck_put_tab(&b, &c->dd[1]) || tb__rt_save(c->rt, &b);
    if (rc) {
        tb__buf_release(&b);
        return tb__seterr(eb, TB_ENOMEM, "out of memory writing the event checkpoint");
    }
    uint32_t crc = tb__crc32c(0, b.data, b.len);
    if (put(&b, &crc, 4)) {
        tb__buf_release(&b);
        return tb__seterr(eb, TB_ENOMEM, "out of memory");
    }
    char path[4200];
    snprintf(path, sizeof path, "%s/state.bin", c->dir);
    rc = tb__ev_file_write(path, CK_NAME, &c->ek, b.data, b.len, eb);
    sodium_memzero(b.data, b.len); /* login ids */
    tb__buf_release(&b);
    return rc;
}

static int ck_get_tab(rd *r, htab *t)
{
    uint64_t n;
    get(r, &n, 8);
    if (r->bad || n > (r->n - r->at) / 8) return TB_ECORRUPT;
    for (uint64_t i = 0; i < n; i++) {
        uint64_t h;
        get(r, &h, 8);
        if (!h || ht_put(t, h, 0)) return TB_ECORRUPT;
    }
    return 0;
}

/* 1 when every chain of parent links ends at a root (a person that is its own parent): a damaged
 * checkpoint with a cycle would otherwise make find() loop forever. Linear: each person is walked
 * once (0 unseen, 1 on the current path, 2 known to reach a root). */
static int links_acyclic(const uint32_t *parent, uint64_t n)
{
    uint8_t *st = calloc(n + 1, 1);
    if (!st) return 0;
    int ok = 1;
    for (uint64_t i = 0; i < n && ok; i++) {
        uint32_t x = (uint32_t)i;
        while (st[x] == 0) {
            st[x] = 1;
            if (parent[x] == x) break;
            x = parent[x];
        }
        if (st[x] == 1 && parent[x] != x) ok = 0; /* back on the current path: a cycle */
        for (uint32_t y = (uint32_t)i; ok && st[y] == 1; y = parent[y]) {
            st[y] = 2;
            if (parent[y] == y) break;
        }
    }
    free(st);
    return ok;
}

/* Loads events/state.bin if present; *from is where replay starts. */
static int read_checkpoint(tb__collector *c, tb__evpos *from, tb__errbuf *eb)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/state.bin", c->dir);
    char *d;
    size_t n;
    *from = (tb__evpos){0, 0};
    int rc = tb__ev_file_read(path, CK_NAME, &c->ek, (size_t)1 << 40, &d, &n, NULL, eb);
    if (rc == TB_ENOENT && access(path, F_OK) != 0) {
        tb__clearerr(eb);
        return 0;
    }
    if (rc) return rc;
    uint32_t crc;
    if (n < 16 || memcmp(d, "TBEVST01", 8) != 0 ||
        (memcpy(&crc, d + n - 4, 4), tb__crc32c(0, d, n - 4) != crc)) {
        sodium_memzero(d, n);
        free(d);
        return tb__seterr(eb, TB_ECORRUPT, "'%s': bad magic or checksum", path);
    }
    rd r = {(const uint8_t *)d, n - 4, 8, 0};
    uint32_t ver;
    uint64_t np, kl;
    get(&r, &ver, 4);
    get(&r, &from->seg, 4);
    get(&r, &from->off, 8);
    get(&r, &c->compacted.seg, 4);
    get(&r, &c->compacted.off, 8);
    get(&r, &c->accepted, 8);
    get(&r, &c->duplicates, 8);
    get(&r, &c->quarantined, 8);
    get(&r, &c->unplanned, 8);
    get(&r, &c->batches, 8);
    get(&r, &np, 8);
    rc = TB_ECORRUPT;
    if (r.bad || ver != 1 || np > (r.n - r.at) / 13) goto out;
    c->pcap = c->npersons = np;
    c->parent = malloc(np * 4 + 4);
    c->gid = malloc(np * 4 + 4);
    c->pflags = malloc(np + 1);
    c->keyoff = malloc(np * 4 + 4);
    if (!c->parent || !c->gid || !c->pflags || !c->keyoff) {
        rc = TB_ENOMEM;
        goto out;
    }
    get(&r, c->parent, np * 4);
    get(&r, c->gid, np * 4);
    get(&r, c->pflags, np);
    get(&r, c->keyoff, np * 4);
    get(&r, &kl, 8);
    if (r.bad || kl > r.n - r.at) goto out;
    if (kl && tb__buf_append(&c->keys, r.p + r.at, kl)) {
        rc = TB_ENOMEM;
        goto out;
    }
    r.at += kl;
    for (uint64_t i = 0; i < np; i++) {
        if (c->parent[i] >= np || c->keyoff[i] >= kl) goto out;
        const char *k = c->keys.data + c->keyoff[i];
        size_t len = strnlen(k, kl - c->keyoff[i]);
        if (len == kl - c->keyoff[i]) goto out;
        if (ht_put(&c->ids, tb__hash64(k, len, 0x65766964), (uint32_t)i)) goto out;
    }
    if (!links_acyclic(c->parent, np)) goto out;
    if (ck_get_tab(&r, &c->dd[0]) || ck_get_tab(&r, &c->dd[1])) goto out;
    if (tb__rt_load(c->rt, r.p + r.at, r.n - r.at)) goto out;
    rc = 0;
out:
    sodium_memzero(d, n);
    free(d);
    if (rc) return tb__seterr(eb, rc, "'%s': damaged checkpoint (structure)", path);
    return 0;
}

/* ---- open / close -----------------------------------------------------------------------------
 */

static void events_dir(tb_db *db, char *out, size_t cap)
{
    snprintf(out, cap, "%s/events", tb_db_path(db));
}

/* A whole-number setting, or `def` when unset or not a positive number. */
static uint64_t setting(tb_db *db, const char *key, uint64_t def)
{
    char *v = NULL;
    uint64_t x = def;
    if (tb_db_get_setting(db, key, &v) == 0 && v) {
        char *end;
        unsigned long long n = strtoull(v, &end, 10);
        if (!*end && n > 0) x = n;
    }
    free(v);
    return x;
}

int tb__collector_open(tb_db *db, const tb__col_limits *lim, tb__collector **out, tb__errbuf *eb)
{
    *out = NULL;
    tb__collector *c = calloc(1, sizeof *c);
    if (!c) return tb__seterr(eb, TB_ENOMEM, "out of memory");
    c->db = db;
    if (lim) c->lim = *lim;
    c->ek = tb__evkeys_of(db);
    if (c->ek.seal) {
        c->ekey = *c->ek.seal;
        c->ek.seal = &c->ekey;
    }
    events_dir(db, c->dir, sizeof c->dir);
    pthread_mutex_init(&c->mu, NULL);
    pthread_mutex_init(&c->cmu, NULL);
    int rc = tb__mkdir_p(c->dir, 0750, eb);
    if (rc) goto out_free;
    char *rules = NULL;
    if (tb__ev_rules_get(db, &rules, NULL) == TB_ESTORE) {
        rc = tb__seterr(eb, TB_ESTORE, "%s", tb_errmsg(db));
        goto out_free;
    }
    rc = tb__rt_create(c->dir, rules, &c->rt, eb);
    free(rules);
    if (rc) goto out_free;
    /* Limits the caller left at 0 come from settings (defaults in col_format.c when unset). */
    if (!c->lim.max_event) c->lim.max_event = (size_t)setting(db, "events.max_event_bytes", 0);
    if (!c->lim.max_batch) c->lim.max_batch = (size_t)setting(db, "events.max_batch_bytes", 0);
    if (!c->lim.max_future_ms)
        c->lim.max_future_ms = (int64_t)setting(db, "events.max_future_s", 0) * 1000;
    if (!c->lim.max_past_ms)
        c->lim.max_past_ms = (int64_t)setting(db, "events.max_past_days", 0) * 86400000;
    c->max_rate = setting(db, "events.max_rate", 1000000);
    c->chunk = (size_t)setting(db, "events.compact_chunk", COMPACT_CHUNK);
    c->retention_days = (int64_t)setting(db, "events.retention_days", 400);
    if ((rc = load_sources(c))) {
        rc = tb__seterr(eb, rc, "%s", tb_errmsg(db));
        goto out_free;
    }
    tb__evpos from;
    if ((rc = read_checkpoint(c, &from, eb))) goto out_free;
    char logdir[4200];
    snprintf(logdir, sizeof logdir, "%s/log", c->dir);
    c->replaying = 1;
    rc = tb__evlog_open(logdir, 0, &c->ek, from, replay, c, &c->log, eb);
    c->replaying = 0;
    if (rc) goto out_free;
    /* Logins first seen during replay get their customer now. */
    for (size_t p = 0; p < c->npersons; p++)
        if ((c->pflags[p] & P_USER) && c->gid[p] == TB__EV_NO_GID) {
            uint32_t g;
            if (tb__customer_resolve_any(db, c->keys.data + c->keyoff[p] + 2, &g) == 0)
                c->gid[p] = g;
        }
    tb__rt_publish(c->rt, c->parent, c->gid, c->npersons, 1);
    c->resolved_upto = c->npersons;
    c->resolved_at = time(NULL);
    *out = c;
    return 0;
out_free:
    tb__collector_close(c);
    return rc;
}

void tb__collector_close(tb__collector *c)
{
    if (!c) return;
    if (c->log) {
        tb__errbuf eb = {0};
        tb__evpos end = tb__evlog_end(c->log);
        if (tb__evlog_flush(c->log) == 0) {
            pthread_mutex_lock(&c->mu);
            if (write_checkpoint(c, end, &eb))
                tb__log_warn("events", "no checkpoint at close: %s", eb.msg);
            pthread_mutex_unlock(&c->mu);
        }
        tb__evlog_close(c->log);
    }
    tb__rt_free(c->rt);
    free_sources(c);
    ht_free(&c->ids);
    ht_free(&c->dd[0]);
    ht_free(&c->dd[1]);
    free(c->parent);
    free(c->gid);
    free(c->keyoff);
    free(c->pflags);
    if (c->keys.data) sodium_memzero(c->keys.data, c->keys.cap);
    tb__buf_release(&c->keys);
    sodium_memzero(&c->ekey, sizeof c->ekey);
    pthread_mutex_destroy(&c->mu);
    pthread_mutex_destroy(&c->cmu);
    free(c);
}

/* ---- submit ------------------------------------------------------------------------------------
 */

typedef struct pending {
    tb__col_done_fn done;
    void *arg;
    tb__col_result res;
} pending;

static void on_durable(void *arg, int rc)
{
    pending *p = arg;
    if (rc) {
        p->res.status = 503;
        p->res.retry_after = 5;
        snprintf(p->res.message, sizeof p->res.message,
                 "the event log cannot write (%s): nothing of this batch was stored",
                 tb_strerror(rc));
        p->res.accepted = p->res.quarantined = 0;
    }
    p->done(p->arg, &p->res);
    free(p);
}

static void answer(tb__col_result *res, int status, const char *msg)
{
    res->status = status;
    size_t n = strlen(msg);
    if (n >= sizeof res->message) n = sizeof res->message - 1;
    memcpy(res->message, msg, n);
    res->message[n] = '\0';
}

int tb__collector_submit(tb__collector *c, const tb__col_input *in, tb__col_done_fn done, void *arg,
                         tb__col_result *res)
{
    memset(res, 0, sizeof *res);
    tb__arena a;
    tb__arena_init(&a, 0);
    tb__errbuf eb = {0};
    tb__col_batch b;
    tb__buf rec = TB__BUF_INIT;
    int async = 0;
    int rc = tb__col_decode(in, &c->lim, &a, &b, &eb);
    if (rc) {
        answer(res, rc == TB_ENOMEM ? 503 : 400, eb.msg);
        if (rc == TB_ENOMEM) res->retry_after = 1;
        goto out;
    }
    if (b.crc_mismatch)
        tb__log_warn("events", "sensors request: crc parameter does not match data");
    pthread_mutex_lock(&c->mu);
    if (c->poisoned) {
        pthread_mutex_unlock(&c->mu);
        answer(res, 503,
               "the event collector stopped taking events after a failed append: "
               "restart the server");
        res->retry_after = 30;
        goto out;
    }
    source *s = in->source                   ? source_by_name(c, in->source)
                : in->fmt == TB__COL_SEGMENT ? (b.write_key ? source_by_key(c, b.write_key) : NULL)
                                             : source_by_project(c, b.project);
    if (!s || s->revoked) {
        pthread_mutex_unlock(&c->mu);
        answer(res, 401,
               in->fmt == TB__COL_SEGMENT
                   ? (b.write_key ? "unknown or revoked write key"
                                  : "no write key (HTTP Basic user or writeKey)")
                   : "unknown project");
        goto out;
    }
    /* Flood control per source: a write key sending more than max_rate events in one second
     * gets 429 with Retry-After for the rest of that second (nothing of the batch is taken). */
    int64_t sec = in->now_ms / 1000;
    if (s->rate_sec != sec) {
        s->rate_sec = sec;
        s->rate_n = 0;
    }
    if (!in->source && s->rate_n + b.n > c->max_rate) {
        pthread_mutex_unlock(&c->mu);
        answer(res, 429, "this source sends more events per second than events.max_rate allows");
        res->retry_after = 1;
        goto out;
    }
    s->rate_n += b.n;
    uint8_t hdr[18] = {REC_BATCH, REC_VERSION};
    memcpy(hdr + 2, &s->id, 4);
    memcpy(hdr + 6, &in->now_ms, 8);
    uint32_t cnt = 0;
    rc = put(&rec, hdr, sizeof hdr);
    for (size_t i = 0; i < b.n && !rc; i++) {
        tb__evin *e = &b.ev[i];
        uint8_t flags = 0;
        char why[300];
        if (!e->reason) {
            flags = (uint8_t)check_plan(s, e, why, sizeof why);
            if (flags == F_QUAR) e->reason = tb__arena_strdup(&a, why);
        }
        if (e->reason) flags = F_QUAR;
        uint64_t mh = e->msgid ? msg_hash(s->id, e->msgid) : 0;
        if (!(flags & F_QUAR) && mh && dedup_seen(c, mh)) {
            res->duplicates++;
            c->duplicates++;
            continue;
        }
        uint32_t p = NO_PERSON;
        if (flags & F_QUAR) {
            res->quarantined++;
            c->quarantined++;
        } else {
            p = apply(c, s->id, e, mh);
            res->accepted++;
            c->accepted++;
            if (flags & F_UNPLANNED) c->unplanned++;
        }
        uint32_t plen = (uint32_t)e->props_len;
        rc = put(&rec, &e->type, 1) || put(&rec, &flags, 1) || put(&rec, &p, 4) ||
             put(&rec, &e->ts_ms, 8) || put(&rec, &mh, 8) || put_str16(&rec, e->event) ||
             put_str16(&rec, e->anon) || put_str16(&rec, e->user) || put_str16(&rec, e->other) ||
             put_str16(&rec, e->reason) || put(&rec, &plen, 4) || put(&rec, e->props, plen);
        cnt++;
    }
    if (rc) {
        c->poisoned = res->accepted > 0; /* some events were applied already */
        pthread_mutex_unlock(&c->mu);
        answer(res, 503, "out of memory");
        res->retry_after = 1;
        goto out;
    }
    res->status = 200;
    if (cnt == 0) { /* all duplicates (or an empty batch): nothing to store */
        pthread_mutex_unlock(&c->mu);
        /* The originals may still be on their way to disk: a retry is answered 200 only once
         * everything appended before it is durable. */
        if (res->duplicates && tb__evlog_flush(c->log)) {
            answer(res, 503, "the event log cannot write");
            res->retry_after = 5;
        }
        goto out;
    }
    memcpy(rec.data + 14, &cnt, 4);
    c->batches++;
    pending *pd = malloc(sizeof *pd);
    if (!pd) {
        c->poisoned = 1;
        pthread_mutex_unlock(&c->mu);
        answer(res, 503, "out of memory");
        goto out;
    }
    pd->done = done;
    pd->arg = arg;
    pd->res = *res;
    rc = done ? tb__evlog_append(c->log, rec.data, rec.len, on_durable, pd, NULL)
              : tb__evlog_append_sync(c->log, rec.data, rec.len, NULL);
    if (rc) c->poisoned = 1; /* applied above, not in the log */
    tb__rt_publish(c->rt, c->parent, c->gid, c->npersons, 0);
    pthread_mutex_unlock(&c->mu);
    if (!done || rc) {
        free(pd);
        if (rc) {
            answer(res, 503, "the event log cannot write: nothing of this batch was stored");
            res->retry_after = 5;
            res->accepted = res->quarantined = 0;
        }
        goto out;
    }
    async = 1;
out:
    tb__buf_release(&rec);
    tb__arena_release(&a);
    return async;
}

/* ---- compaction --------------------------------------------------------------------------------
 */

typedef struct srcname {
    uint32_t id;
    char name[72];
} srcname;

typedef struct compactor {
    tb__collector *c;
    tb__arena a;
    tb__evrow *rows;
    size_t n, cap;
    tb__buf quar; /* JSON lines of quarantined events */
    size_t nquar;
    srcname *src; /* the sources' names, copied so the scan runs without the collector's lock */
    size_t nsrc;
    tb__evpos stop; /* where a full chunk stopped */
    int stopped;
} compactor;

/* 1 when the day partitions can store these properties (the checks of part_append.c). */
static int storable(const char *props, size_t n)
{
    json_t *o = json_loadb(props, n, 0, NULL);
    int ok = o && json_is_object(o);
    const char *k;
    json_t *v;
    json_object_foreach(o, k, v)
    {
        size_t kl = strlen(k);
        if (kl == 0 || kl > 255) ok = 0;
    }
    json_decref(o);
    return ok;
}

/* Appends one quarantined event to the chunk's JSON lines: its ids, reason and properties (as
 * parsed, or as received text when they do not parse). 0 or TB_ENOMEM. */
static int quarantine_line(compactor *k, const char *sname, int64_t recv, const tb__evin *e,
                           const char *reason)
{
    json_t *j =
        json_pack("{s:s,s:I,s:I,s:s,s:s,s:s?,s:s?,s:s?}", "source", sname, "received_ms",
                  (json_int_t)recv, "ts_ms", (json_int_t)e->ts_ms, "event", e->event, "reason",
                  reason, "anonymous_id", e->anon, "user_id", e->user, "distinct_id", e->other);
    json_t *props = json_loadb(e->props, e->props_len, 0, NULL);
    if (j)
        json_object_set_new(j, props ? "properties" : "properties_raw",
                            props ? props : json_stringn(e->props, e->props_len));
    char *t = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    int rc = !t || tb__buf_puts(&k->quar, t) || tb__buf_putc(&k->quar, '\n') ? TB_ENOMEM : 0;
    free(t);
    if (!rc) k->nquar++;
    return rc;
}

static int collect_record(void *arg, tb__evpos pos, const uint8_t *p, size_t n)
{
    compactor *k = arg;
    uint32_t src, count;
    int64_t recv;
    rec_event *ev;
    if (k->n >= k->c->chunk) {
        k->stop = pos;
        k->stopped = 1;
        return COMPACT_STOP;
    }
    int rc = decode_record(p, n, &k->a, &src, &recv, &ev, &count);
    if (rc) {
        tb__log_error("events", "log record at segment %u byte %llu does not decode", pos.seg,
                      (unsigned long long)pos.off);
        return rc;
    }
    const char *sname = "?";
    for (size_t x = 0; x < k->nsrc; x++)
        if (k->src[x].id == src) sname = k->src[x].name;
    for (uint32_t i = 0; i < count; i++) {
        if (ev[i].flags & F_QUAR) {
            if (quarantine_line(k, sname, recv, &ev[i].e, ev[i].e.reason ? ev[i].e.reason : ""))
                return TB_ENOMEM;
            continue;
        }
        if (ev[i].person == NO_PERSON) continue;
        if (!storable(ev[i].e.props, ev[i].e.props_len)) {
            /* Accepted at the edge but not what a partition can hold (the store reads properties
             * with jansson: no NUL, no lone surrogate, keys 1..255 bytes): kept in quarantine, so
             * one such event can never stop every later compaction. */
            if (quarantine_line(k, sname, recv, &ev[i].e,
                                "properties the event store cannot hold (NUL, lone surrogate, "
                                "number out of range or a key of 0 or more than 255 bytes)"))
                return TB_ENOMEM;
            continue;
        }
        if (k->n == k->cap) {
            size_t cap = k->cap ? k->cap * 2 : 4096;
            tb__evrow *t = realloc(k->rows, cap * sizeof *t);
            if (!t) return TB_ENOMEM;
            k->rows = t;
            k->cap = cap;
        }
        k->rows[k->n++] = (tb__evrow){ev[i].person, ev[i].e.ts_ms, ev[i].e.event, ev[i].e.props,
                                      ev[i].e.props_len};
    }
    return 0;
}

/* Reads events/quarantine.jsonl (clear or sealed) into *d, *len; a missing file is empty (*d
 * NULL). Caller frees with free. */
static int read_quarantine(const char *path, const tb__evkeys *k, char **d, size_t *len,
                           tb__errbuf *eb)
{
    int rc = tb__ev_file_read(path, QU_NAME, k, (size_t)1 << 34, d, len, NULL, eb);
    if (rc == TB_ENOENT && access(path, F_OK) != 0) {
        tb__clearerr(eb);
        return 0;
    }
    return rc;
}

/* Appends quarantined events to events/quarantine.jsonl (rewritten crash-safely, sealed whole
 * when the store is encrypted). */
static int save_quarantine(tb__collector *c, const tb__buf *q, tb__errbuf *eb)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/quarantine.jsonl", c->dir);
    char *old = NULL;
    size_t on = 0;
    int rc = read_quarantine(path, &c->ek, &old, &on, eb);
    if (rc) return rc;
    tb__buf all = TB__BUF_INIT;
    if (tb__buf_append(&all, old ? old : "", on) || tb__buf_append(&all, q->data, q->len))
        rc = tb__seterr(eb, TB_ENOMEM, "out of memory");
    else
        rc = tb__ev_file_write(path, QU_NAME, &c->ek, all.data, all.len, eb);
    if (all.data) sodium_memzero(all.data, all.cap);
    tb__buf_release(&all);
    if (old) sodium_memzero(old, on);
    free(old);
    return rc;
}

/* Removes day partitions older than the retention (events.retention_days, by the local date of
 * today). Returns how many went; problems are logged, not fatal (the next compaction retries). */
static int remove_old_days(tb__collector *c, tb__errbuf *eb)
{
    int32_t *days = NULL;
    size_t n = 0, removed = 0;
    if (tb__evpart_list(tb_db_path(c->db), &days, &n, eb)) return 0;
    int32_t today = tb__ev_day(tb__now_ms());
    for (size_t i = 0; i < n; i++) {
        if (days[i] >= today - c->retention_days) break;
        int64_t y;
        unsigned m, d;
        tb__civil_from_days(days[i], &y, &m, &d);
        char path[4300];
        snprintf(path, sizeof path, "%s/events/parts/%04lld%02u%02u.tbev", tb_db_path(c->db),
                 (long long)y, m, d);
        if (unlink(path) == 0)
            removed++;
        else
            tb__log_warn("events", "retention: cannot remove '%s': %s", path, strerror(errno));
    }
    free(days);
    if (removed) tb__log_info("events", "retention: removed %zu day partitions", removed);
    return (int)removed;
}

static int compact_locked(tb__collector *c, char **json_out);

int tb__collector_compact(tb__collector *c, char **json_out)
{
    pthread_mutex_lock(&c->cmu);
    int rc = compact_locked(c, json_out);
    pthread_mutex_unlock(&c->cmu);
    return rc;
}

/* One compaction; the caller holds cmu (compactions and erasures never overlap). */
static int compact_locked(tb__collector *c, char **json_out)
{
    *json_out = NULL;
    tb__errbuf eb = {0};
    compactor k = {.c = c};
    tb__arena_init(&k.a, 0);
    uint64_t total = 0, totalq = 0;
    pthread_mutex_lock(&c->mu);
    tb__evpos from = c->compacted, to = tb__evlog_end(c->log);
    k.src = calloc(c->nsrc + 1, sizeof *k.src);
    for (size_t i = 0; k.src && i < c->nsrc; i++) {
        k.src[i].id = c->src[i].id;
        snprintf(k.src[i].name, sizeof k.src[i].name, "%s", c->src[i].name);
    }
    k.nsrc = k.src ? c->nsrc : 0;
    pthread_mutex_unlock(&c->mu);
    int rc = tb__evlog_flush(c->log);
    if (rc) {
        rc = tb__seterr(&eb, rc, "the event log has failed: compaction needs a restart");
        goto out;
    }
    char logdir[4200];
    snprintf(logdir, sizeof logdir, "%s/log", c->dir);
    /* Chunk by chunk (ingest goes on meanwhile: the scan reads durable segments only). */
    for (;;) {
        k.n = k.nquar = 0;
        k.stopped = 0;
        tb__buf_reset(&k.quar);
        tb__arena_reset(&k.a);
        rc = tb__evlog_scan(logdir, c->ek.ring, from, to, collect_record, &k, &eb);
        if (rc == COMPACT_STOP && k.stopped) rc = 0;
        if (rc) goto out;
        tb__evpos upto = k.stopped ? k.stop : to;
        if (k.n && (rc = tb__evpart_append(tb_db_path(c->db), &c->ek, k.rows, k.n, &eb))) goto out;
        if (k.nquar && (rc = save_quarantine(c, &k.quar, &eb))) goto out;
        total += k.n;
        totalq += k.nquar;
        if (!k.stopped) break;
        /* A chunk done: the checkpoint says so before the next one starts. */
        if ((rc = tb__evlog_flush(c->log))) goto out;
        pthread_mutex_lock(&c->mu);
        tb__evpos was = c->compacted, now = tb__evlog_end(c->log);
        c->compacted = upto;
        if ((rc = tb__evlog_flush(c->log)) == 0) rc = write_checkpoint(c, now, &eb);
        if (rc) c->compacted = was;
        pthread_mutex_unlock(&c->mu);
        if (rc) goto out;
        from = upto;
    }
    pthread_mutex_lock(&c->mu);
    uint32_t *roots = malloc((c->npersons + 1) * sizeof *roots);
    if (!roots) {
        pthread_mutex_unlock(&c->mu);
        rc = tb__seterr(&eb, TB_ENOMEM, "out of memory");
        goto out;
    }
    /* Logins not matched to a customer yet are looked up again: the new ones each time, all of
     * them once an hour (customers loaded since), never all under the lock at every compaction. */
    time_t tnow = time(NULL);
    size_t first = tnow - c->resolved_at >= 3600 ? 0 : c->resolved_upto;
    if (first == 0) c->resolved_at = tnow;
    for (size_t p = 0; p < c->npersons; p++) {
        roots[p] = find(c, (uint32_t)p);
        if (p >= first && (c->pflags[p] & P_USER) && c->gid[p] == TB__EV_NO_GID) {
            uint32_t g;
            if (tb__customer_resolve_any(c->db, c->keys.data + c->keyoff[p] + 2, &g) == 0)
                c->gid[p] = g;
        }
    }
    c->resolved_upto = c->npersons;
    /* A root's customer is the one of any login person linked to it. */
    uint32_t *gids = malloc((c->npersons + 1) * sizeof *gids);
    if (gids) {
        for (size_t p = 0; p < c->npersons; p++)
            gids[p] = TB__EV_NO_GID;
        for (size_t p = 0; p < c->npersons; p++)
            if (c->gid[p] != TB__EV_NO_GID && gids[roots[p]] == TB__EV_NO_GID)
                gids[roots[p]] = c->gid[p];
        for (size_t p = 0; p < c->npersons; p++)
            gids[p] = gids[roots[p]];
    }
    size_t np = c->npersons;
    pthread_mutex_unlock(&c->mu);
    rc = gids ? tb__evpersons_write(tb_db_path(c->db), roots, gids, np, &eb)
              : tb__seterr(&eb, TB_ENOMEM, "out of memory");
    free(roots);
    free(gids);
    if (rc) goto out;
    /* The checkpoint records both where the state is and what the partitions hold. Under the
     * lock from reading the end to writing: the state then is exactly the records before `end`,
     * and they are durable (flushed) before the checkpoint says so. */
    pthread_mutex_lock(&c->mu);
    tb__evpos end = tb__evlog_end(c->log);
    rc = tb__evlog_flush(c->log);
    tb__evpos prev = c->compacted;
    c->compacted = to;
    if (!rc) rc = write_checkpoint(c, end, &eb);
    if (rc) c->compacted = prev;
    pthread_mutex_unlock(&c->mu);
    if (rc) goto out;
    /* Segments before both the checkpoint and the compacted position are no longer needed. */
    tb__evpos keep = to.seg < end.seg || (to.seg == end.seg && to.off < end.off) ? to : end;
    if ((rc = tb__evlog_trim(c->log, keep, &eb))) goto out;
    int removed = remove_old_days(c, &eb);
    json_t *j =
        json_pack("{s:I,s:I,s:I,s:i,s:{s:i,s:I}}", "events", (json_int_t)total, "quarantined",
                  (json_int_t)totalq, "persons", (json_int_t)np, "days_removed", removed,
                  "log_position", "segment", (int)to.seg, "offset", (json_int_t)to.off);
    *json_out = j ? json_dumps(j, JSON_INDENT(2)) : NULL;
    json_decref(j);
    if (!*json_out) rc = TB_ENOMEM;
out:
    if (rc) {
        tb__log_error("events", "compaction: %s", eb.msg);
        if (c->db) tb__seterr(tb__db_err(c->db), rc, "%s", eb.msg);
    }
    free(k.rows);
    free(k.src);
    tb__buf_release(&k.quar);
    tb__arena_release(&k.a);
    return rc;
}

int tb__collector_flush(tb__collector *c)
{
    return c ? tb__evlog_flush(c->log) : 0;
}

void tb__collector_publish(tb__collector *c)
{
    if (!c) return;
    pthread_mutex_lock(&c->mu);
    tb__rt_publish(c->rt, c->parent, c->gid, c->npersons, 0);
    pthread_mutex_unlock(&c->mu);
}

int tb__collector_status(tb__collector *c, char **json_out)
{
    pthread_mutex_lock(&c->mu);
    uint64_t recs = 0, syncs = 0;
    tb__evlog_stats(c->log, &recs, &syncs);
    tb__evpos end = tb__evlog_end(c->log);
    json_t *srcs = json_array();
    for (size_t i = 0; i < c->nsrc; i++)
        json_array_append_new(srcs,
                              json_pack("{s:s,s:s,s:b,s:i}", "name", c->src[i].name, "project",
                                        c->src[i].project, "revoked", c->src[i].revoked,
                                        "plan_version", c->src[i].plan_version));
    size_t linked = 0, customers = 0;
    for (size_t p = 0; p < c->npersons; p++) {
        if (c->parent[p] != p) linked++;
        if (c->gid[p] != TB__EV_NO_GID) customers++;
    }
    json_t *j = json_pack(
        "{s:o,s:{s:I,s:I,s:I,s:I,s:I},s:{s:I,s:I,s:I},s:{s:i,s:I,s:i,s:I,s:I,s:I},s:o}", "sources",
        srcs, "events", "accepted", (json_int_t)c->accepted, "duplicates",
        (json_int_t)c->duplicates, "quarantined", (json_int_t)c->quarantined, "unplanned",
        (json_int_t)c->unplanned, "batches", (json_int_t)c->batches, "persons", "total",
        (json_int_t)c->npersons, "linked", (json_int_t)linked, "with_customer",
        (json_int_t)customers, "log", "segment", (int)end.seg, "offset", (json_int_t)end.off,
        "compacted_segment", (int)c->compacted.seg, "compacted_offset",
        (json_int_t)c->compacted.off, "records_since_open", (json_int_t)recs, "fsyncs_since_open",
        (json_int_t)syncs, "realtime", tb__rt_status(c->rt));
    pthread_mutex_unlock(&c->mu);
    *json_out = j ? json_dumps(j, JSON_INDENT(2)) : NULL;
    json_decref(j);
    return *json_out ? 0 : TB_ENOMEM;
}

/* ---- dump ------------------------------------------------------------------------------------ */

int tb__collector_dump(tb__collector *c, FILE *out, size_t limit, tb__errbuf *eb)
{
    int32_t *days = NULL;
    size_t ndays = 0, written = 0;
    int rc = tb__evpart_list(tb_db_path(c->db), &days, &ndays, eb);
    if (rc) return rc;
    for (size_t d = 0; d < ndays && !rc && written < limit; d++) {
        tb__evpart p;
        if ((rc = tb__evpart_read(tb_db_path(c->db), &c->ek, days[d], TB__EVP_PROPS, &p, eb)))
            break;
        int64_t base = tb__ev_day_start(p.day);
        pthread_mutex_lock(&c->mu);
        for (uint32_t i = 0; i < p.nrows && written < limit; i++, written++) {
            uint32_t person = p.person[i];
            json_t *props = json_object();
            for (uint32_t k = 0; k < p.ncols; k++) {
                const tb__evcol *col = &p.cols[k];
                if (col->type == TB__EVCOL_NUM && col->num[i] == col->num[i])
                    json_object_set_new(props, col->name, json_real(col->num[i]));
                else if (col->type == TB__EVCOL_DICT && col->code[i])
                    json_object_set_new(props, col->name,
                                        json_loadb(col->dict[col->code[i] - 1],
                                                   col->dictlen[col->code[i] - 1], JSON_DECODE_ANY,
                                                   NULL));
            }
            const char *key = person < c->npersons ? c->keys.data + c->keyoff[person] : "?";
            uint32_t root = person < c->npersons ? find(c, person) : person;
            const char *rkey = root < c->npersons ? c->keys.data + c->keyoff[root] : "?";
            json_t *j =
                json_pack("{s:I,s:s,s:I,s:s,s:s,s:o}", "ts_ms", (json_int_t)(base + p.ts[i]),
                          "event", p.events[p.code[i]], "person", (json_int_t)person, "key", key,
                          "root_key", rkey, "properties", props);
            if (j && root < c->npersons && c->gid[root] != TB__EV_NO_GID)
                json_object_set_new(j, "gid", json_integer(c->gid[root]));
            char *t = j ? json_dumps(j, JSON_COMPACT) : NULL;
            json_decref(j);
            if (t) fprintf(out, "%s\n", t);
            free(t);
        }
        pthread_mutex_unlock(&c->mu);
        tb__evpart_release(&p);
    }
    free(days);
    return rc;
}

/* ---- check ----------------------------------------------------------------------------------- */

typedef struct checker {
    int64_t records, events;
    char bad[600];
} checker;

static int check_record(void *arg, tb__evpos pos, const uint8_t *p, size_t n)
{
    checker *k = arg;
    tb__arena a;
    tb__arena_init(&a, 0);
    uint32_t src, count;
    int64_t recv;
    rec_event *ev;
    int rc = decode_record(p, n, &a, &src, &recv, &ev, &count);
    tb__arena_release(&a);
    if (rc) {
        snprintf(k->bad, sizeof k->bad, "segment %u byte %llu: a record that does not decode",
                 pos.seg, (unsigned long long)pos.off);
        return rc;
    }
    k->records++;
    k->events += count;
    return 0;
}

int tb__events_check(tb_db *db, json_t *problems, int64_t *records, int64_t *days)
{
    const char *data_dir = tb_db_path(db);
    tb__evkeys ek = tb__evkeys_of(db);
    char dir[4200], path[4300];
    *records = *days = 0;
    snprintf(dir, sizeof dir, "%s/events/log", data_dir);
    tb__errbuf eb = {0};
    checker k = {0};
    int rc = tb__evlog_verify(dir, ek.ring, check_record, &k, &eb);
    if (rc)
        json_array_append_new(problems, json_pack("{s:s,s:s}", "what", "event log", "detail",
                                                  k.bad[0] ? k.bad : eb.msg));
    *records = k.records;
    snprintf(path, sizeof path, "%s/events/state.bin", data_dir);
    char *d;
    size_t n;
    tb__clearerr(&eb);
    rc = tb__ev_file_read(path, CK_NAME, &ek, (size_t)1 << 40, &d, &n, NULL, &eb);
    if (rc == 0) {
        uint32_t crc = 0;
        if (n >= 8) memcpy(&crc, d + n - 4, 4);
        if (n < 16 || memcmp(d, "TBEVST01", 8) != 0 || tb__crc32c(0, d, n - 4) != crc)
            json_array_append_new(problems,
                                  json_pack("{s:s,s:s}", "what", "event checkpoint", "detail",
                                            "events/state.bin: bad magic or checksum"));
        sodium_memzero(d, n);
        free(d);
    } else if (access(path, F_OK) == 0)
        json_array_append_new(problems,
                              json_pack("{s:s,s:s}", "what", "event checkpoint", "detail", eb.msg));
    snprintf(path, sizeof path, "%s/events/quarantine.jsonl", data_dir);
    tb__clearerr(&eb);
    if (read_quarantine(path, &ek, &d, &n, &eb))
        json_array_append_new(problems,
                              json_pack("{s:s,s:s}", "what", "event quarantine", "detail", eb.msg));
    else if (d) {
        sodium_memzero(d, n);
        free(d);
    }
    tb__evpersons pers = {0};
    tb__clearerr(&eb);
    if (tb__evpersons_read(data_dir, &pers, &eb))
        json_array_append_new(problems,
                              json_pack("{s:s,s:s}", "what", "event persons", "detail", eb.msg));
    tb__evpersons_release(&pers);
    int32_t *list = NULL;
    size_t nd = 0;
    tb__clearerr(&eb);
    if (tb__evpart_list(data_dir, &list, &nd, &eb) == 0) {
        for (size_t i = 0; i < nd; i++) {
            tb__evpart p = {0};
            tb__clearerr(&eb);
            if (tb__evpart_read(data_dir, &ek, list[i], TB__EVP_PROPS, &p, &eb))
                json_array_append_new(
                    problems, json_pack("{s:s,s:s}", "what", "event partition", "detail", eb.msg));
            tb__evpart_release(&p);
        }
        *days = (int64_t)nd;
        free(list);
    } else
        json_array_append_new(problems,
                              json_pack("{s:s,s:s}", "what", "event partitions", "detail", eb.msg));
    return 0;
}

/* ---- erasure (PIPL): the event store's step of tagbase customer erase --------------------------
 * The collector open in this process (the server's), so that an erasure through the API works on
 * the live state; the command line opens one of its own. */
static pthread_mutex_t g_live_mu = PTHREAD_MUTEX_INITIALIZER;
static tb__collector *g_live;

void tb__collector_set_live(tb__collector *c, int on)
{
    pthread_mutex_lock(&g_live_mu);
    if (on)
        g_live = c;
    else if (g_live == c)
        g_live = NULL;
    pthread_mutex_unlock(&g_live_mu);
}

static int in_set(const uint32_t *v, size_t n, uint32_t x)
{
    for (size_t i = 0; i < n; i++)
        if (v[i] == x) return 1;
    return 0;
}

/* Rewrites day `day` without the rows of persons in `gone`, dropping dictionary values no kept row
 * uses (a value only the person had is theirs). *removed: rows dropped. */
static int erase_day(tb__collector *c, int32_t day, const uint8_t *gone, uint64_t *removed,
                     tb__errbuf *eb)
{
    tb__evpart p;
    const char *dd = tb_db_path(c->db);
    int rc = tb__evpart_read(dd, &c->ek, day, TB__EVP_PROPS, &p, eb);
    if (rc) return rc;
    uint32_t keep = 0;
    for (uint32_t i = 0; i < p.nrows; i++)
        keep += !(p.person[i] < c->npersons && gone[p.person[i]]);
    *removed = p.nrows - keep;
    if (keep == p.nrows) {
        tb__evpart_release(&p);
        return 0;
    }
    tb__evpart np = {
        .day = p.day, .nrows = keep, .nevents = p.nevents, .events = p.events, .ncols = p.ncols};
    np.person = malloc((keep + 1) * sizeof *np.person);
    np.ts = malloc((keep + 1) * sizeof *np.ts);
    np.code = malloc((keep + 1) * sizeof *np.code);
    np.cols = calloc(p.ncols + 1, sizeof *np.cols);
    rc = np.person && np.ts && np.code && np.cols ? 0 : TB_ENOMEM;
    for (uint32_t k = 0; !rc && k < p.ncols; k++) {
        const tb__evcol *oc = &p.cols[k];
        tb__evcol *col = &np.cols[k];
        col->name = oc->name;
        col->type = oc->type;
        if (oc->type == TB__EVCOL_NUM) {
            if (!(col->num = malloc((keep + 1) * sizeof *col->num))) rc = TB_ENOMEM;
            continue;
        }
        col->code = malloc((keep + 1) * sizeof *col->code);
        uint32_t *map = calloc((size_t)oc->ndict + 1, sizeof *map);
        const char **dict = malloc(((size_t)oc->ndict + 1) * sizeof *dict);
        uint32_t *dlen = malloc(((size_t)oc->ndict + 1) * sizeof *dlen);
        if (!col->code || !map || !dict || !dlen) {
            free(map);
            free(dict);
            free(dlen);
            rc = TB_ENOMEM;
            break;
        }
        for (uint32_t i = 0; i < p.nrows; i++) /* values the kept rows use */
            if (!(p.person[i] < c->npersons && gone[p.person[i]]) && oc->code[i])
                map[oc->code[i]] = 1;
        uint32_t nd = 0;
        for (uint32_t v = 1; v <= oc->ndict; v++)
            if (map[v]) {
                dict[nd] = oc->dict[v - 1];
                dlen[nd] = oc->dictlen[v - 1];
                map[v] = ++nd;
            }
        col->dict = dict;
        col->dictlen = dlen;
        col->ndict = nd;
        /* the code array is filled below through the map, kept in num's place meanwhile */
        col->num = (double *)(void *)map;
    }
    uint32_t j = 0;
    for (uint32_t i = 0; !rc && i < p.nrows; i++) {
        if (p.person[i] < c->npersons && gone[p.person[i]]) continue;
        np.person[j] = p.person[i];
        np.ts[j] = p.ts[i];
        np.code[j] = p.code[i];
        for (uint32_t k = 0; k < p.ncols; k++) {
            if (p.cols[k].type == TB__EVCOL_NUM)
                np.cols[k].num[j] = p.cols[k].num[i];
            else {
                const uint32_t *map = (const uint32_t *)(const void *)np.cols[k].num;
                np.cols[k].code[j] = p.cols[k].code[i] ? map[p.cols[k].code[i]] : 0;
            }
        }
        j++;
    }
    for (uint32_t k = 0; k < p.ncols && np.cols; k++)
        if (p.cols[k].type == TB__EVCOL_DICT) {
            free(np.cols[k].num);
            np.cols[k].num = NULL;
        }
    if (!rc)
        rc = tb__evpart_write(dd, &c->ek, &np, 0, eb);
    else
        tb__seterr(eb, rc, "out of memory rewriting an event partition");
    for (uint32_t k = 0; k < p.ncols && np.cols; k++) {
        free(np.cols[k].code);
        free((void *)np.cols[k].dict);
        free((void *)np.cols[k].dictlen);
        if (p.cols[k].type == TB__EVCOL_NUM) free(np.cols[k].num);
    }
    free(np.cols);
    free(np.person);
    free(np.ts);
    free(np.code);
    tb__evpart_release(&p);
    return rc;
}

/* Rewrites events/quarantine.jsonl without the lines that name any of the identifiers or keys. */
static int erase_quarantine(tb__collector *c, const char *const *ids, size_t n, uint64_t *removed,
                            tb__errbuf *eb)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/quarantine.jsonl", c->dir);
    char *d;
    size_t len;
    *removed = 0;
    int rc = read_quarantine(path, &c->ek, &d, &len, eb);
    if (rc || !d) return rc;
    tb__buf out = TB__BUF_INIT;
    for (char *line = d, *end; line < d + len; line = end + 1) {
        end = memchr(line, '\n', (size_t)(d + len - line));
        if (!end) end = d + len;
        int hit = 0;
        for (size_t i = 0; i < n && !hit; i++)
            hit = ids[i][0] && memmem(line, (size_t)(end - line), ids[i], strlen(ids[i])) != NULL;
        if (hit)
            (*removed)++;
        else if (tb__buf_append(&out, line, (size_t)(end - line)) || tb__buf_putc(&out, '\n'))
            rc = TB_ENOMEM;
    }
    if (!rc && *removed)
        rc = tb__ev_file_write(path, QU_NAME, &c->ek, out.data ? out.data : "", out.len, eb);
    if (out.data) sodium_memzero(out.data, out.cap);
    tb__buf_release(&out);
    sodium_memzero(d, len);
    free(d);
    return rc;
}

/* Rolls the log and compacts; the caller holds cmu. */
static int drain_locked(tb__collector *c, tb__errbuf *eb)
{
    int rc = tb__evlog_roll(c->log, eb);
    char *out = NULL;
    if (!rc && (rc = compact_locked(c, &out))) tb__seterr(eb, rc, "%s", tb_errmsg(c->db));
    free(out);
    return rc;
}

int tb__collector_drain(tb__collector *c, tb__errbuf *eb)
{
    pthread_mutex_lock(&c->cmu);
    int rc = drain_locked(c, eb);
    pthread_mutex_unlock(&c->cmu);
    return rc;
}

static int erase_in(tb__collector *c, const uint32_t *gids, size_t ngids, const char *const *ids,
                    size_t n, json_t *report, tb__errbuf *eb)
{
    /* Every record so far into partitions, and the log segments that held them removed. */
    pthread_mutex_lock(&c->cmu);
    int rc = drain_locked(c, eb);
    char *out = NULL;
    if (rc) {
        pthread_mutex_unlock(&c->cmu);
        return rc;
    }
    pthread_mutex_lock(&c->mu);
    uint8_t *gone = calloc(c->npersons + 1, 1);
    uint64_t persons = 0, rows = 0, days_rewritten = 0, qlines = 0;
    if (!gone) {
        pthread_mutex_unlock(&c->mu);
        pthread_mutex_unlock(&c->cmu);
        return tb__seterr(eb, TB_ENOMEM, "out of memory");
    }
    /* The person's persons: their logins and devices (by customer or by identifier), and every
     * person linked to one of those. */
    for (size_t p = 0; p < c->npersons; p++) {
        uint32_t r = find(c, (uint32_t)p);
        const char *key = c->keys.data + c->keyoff[p] + 2;
        int hit = (c->gid[p] != TB__EV_NO_GID && in_set(gids, ngids, c->gid[p])) ||
                  (c->gid[r] != TB__EV_NO_GID && in_set(gids, ngids, c->gid[r]));
        for (size_t i = 0; i < n && !hit; i++)
            hit = strcmp(key, ids[i]) == 0;
        if (hit) gone[p] = gone[r] = 1;
    }
    for (size_t p = 0; p < c->npersons; p++)
        if (gone[find(c, (uint32_t)p)]) gone[p] = 1;
    int32_t *days = NULL;
    size_t nd = 0;
    rc = tb__evpart_list(tb_db_path(c->db), &days, &nd, eb);
    for (size_t i = 0; !rc && i < nd; i++) {
        uint64_t removed = 0;
        rc = erase_day(c, days[i], gone, &removed, eb);
        rows += removed;
        days_rewritten += removed > 0;
    }
    free(days);
    if (!rc) rc = erase_quarantine(c, ids, n, &qlines, eb);
    if (!rc) {
        /* Their keys are blanked in place (the person slots stay: ids are dense), their links and
         * customer cut, their real-time windows forgotten. */
        for (size_t p = 0; p < c->npersons; p++) {
            if (!gone[p]) continue;
            persons++;
            char *key = c->keys.data + c->keyoff[p] + 2;
            memset(key, '*', strlen(key));
            c->parent[p] = (uint32_t)p;
            c->gid[p] = TB__EV_NO_GID;
        }
        tb__rt_forget(c->rt, gone, c->npersons);
        tb__rt_publish(c->rt, c->parent, c->gid, c->npersons, 1);
        tb__evpos end = tb__evlog_end(c->log);
        rc = tb__evlog_flush(c->log);
        if (!rc) rc = write_checkpoint(c, end, eb);
    }
    pthread_mutex_unlock(&c->mu);
    free(gone);
    /* The person table follows (roots and customers of the blanked persons are their own). */
    if (!rc && (rc = compact_locked(c, &out))) tb__seterr(eb, rc, "%s", tb_errmsg(c->db));
    free(out);
    pthread_mutex_unlock(&c->cmu);
    json_object_set_new(report, "persons", json_integer((json_int_t)persons));
    json_object_set_new(report, "events_removed", json_integer((json_int_t)rows));
    json_object_set_new(report, "days_rewritten", json_integer((json_int_t)days_rewritten));
    json_object_set_new(report, "quarantined_removed", json_integer((json_int_t)qlines));
    return rc;
}

static int erase_step(tb_db *db, uint32_t gid, const uint32_t *gids, size_t ngids,
                      const char *const *ids, size_t n, json_t *report)
{
    (void)gid;
    tb__errbuf eb = {0};
    pthread_mutex_lock(&g_live_mu);
    tb__collector *c =
        g_live && strcmp(tb_db_path(g_live->db), tb_db_path(db)) == 0 ? g_live : NULL;
    int rc = 0, own = 0;
    if (!c) {
        own = 1;
        rc = tb__collector_open(db, NULL, &c, &eb);
    }
    if (!rc) rc = erase_in(c, gids, ngids, ids, n, report, &eb);
    if (own && c) tb__collector_close(c);
    pthread_mutex_unlock(&g_live_mu);
    if (rc) return tb__seterr(tb__db_err(db), rc, "event store: %s", eb.msg);
    return 0;
}

/* Occurrences of the identifiers in b[0, len). */
static uint64_t count_ids(const char *b, size_t len, const char *const *ids, size_t n)
{
    uint64_t found = 0;
    for (size_t i = 0; i < n; i++) {
        size_t tl = strlen(ids[i]);
        for (const char *at = b, *end = b + len; tl && at < end; at++) {
            at = memmem(at, (size_t)(end - at), ids[i], tl);
            if (!at) break;
            found++;
        }
    }
    return found;
}

typedef struct idscan {
    const char *const *ids;
    size_t n;
    uint64_t found;
} idscan;

static int scan_record(void *arg, tb__evpos pos, const uint8_t *p, size_t n)
{
    (void)pos;
    idscan *s = arg;
    s->found += count_ids((const char *)p, n, s->ids, s->n);
    return 0;
}

/* The proof inside the files a raw-byte scan cannot see into: identifiers among the property
 * values of the decompressed partitions, and, opened when sealed (an encrypted store), in the
 * checkpoint, the quarantine and every log record. */
static int erase_check(tb_db *db, const char *const *ids, size_t n, uint64_t *found, json_t *report)
{
    tb__errbuf eb = {0};
    int32_t *days = NULL;
    size_t nd = 0;
    *found = 0;
    tb__evkeys ek = tb__evkeys_of(db);
    const char *dd = tb_db_path(db);
    char path[4300];
    int rc = 0;
    uint64_t sealed_found = 0;
    static const char *const files[] = {CK_NAME, QU_NAME};
    for (size_t f = 0; !rc && f < 2; f++) {
        snprintf(path, sizeof path, "%s/%s", dd, files[f]);
        if (access(path, F_OK) != 0) continue;
        char *d;
        size_t len;
        if ((rc = tb__ev_file_read(path, files[f], &ek, (size_t)1 << 40, &d, &len, NULL, &eb)))
            break;
        sealed_found += count_ids(d, len, ids, n);
        sodium_memzero(d, len);
        free(d);
    }
    idscan is = {ids, n, 0};
    snprintf(path, sizeof path, "%s/events/log", dd);
    if (!rc)
        rc = tb__evlog_scan(path, ek.ring, (tb__evpos){0, 0}, (tb__evpos){0, 0}, scan_record, &is,
                            &eb);
    sealed_found += is.found;
    *found += sealed_found;
    json_object_set_new(report, "opened_found", json_integer((json_int_t)sealed_found));
    if (!rc) rc = tb__evpart_list(dd, &days, &nd, &eb);
    for (size_t d = 0; !rc && d < nd; d++) {
        tb__evpart p;
        if ((rc = tb__evpart_read(dd, &ek, days[d], TB__EVP_PROPS, &p, &eb))) break;
        for (uint32_t k = 0; k < p.ncols; k++)
            for (uint32_t v = 0; p.cols[k].type == TB__EVCOL_DICT && v < p.cols[k].ndict; v++)
                for (size_t i = 0; i < n; i++)
                    if (ids[i][0] &&
                        memmem(p.cols[k].dict[v], p.cols[k].dictlen[v], ids[i], strlen(ids[i])))
                        (*found)++;
        tb__evpart_release(&p);
    }
    free(days);
    json_object_set_new(report, "partitions_scanned", json_integer((json_int_t)nd));
    if (rc) return tb__seterr(tb__db_err(db), rc, "event store: %s", eb.msg);
    return 0;
}

int tb__events_erase_register(void)
{
    return tb__erase_register("events", erase_step, erase_check);
}

/* ---- the quarantine, as the CLI and the API show it ---------------------------------------- */

/* Masks every string that is a login id or looks like a mobile or an ID number, in the ids and
 * the properties alike (quarantined events are shown to pipeline readers, masked like the
 * pipeline's own quarantine). Device ids and other strings pass. */
static void mask_strings(json_t *o, int ids)
{
    const char *k;
    json_t *v;
    void *tmp;
    json_object_foreach_safe(o, tmp, k, v)
    {
        if (json_is_object(v)) {
            mask_strings(v, 0);
            continue;
        }
        if (json_is_array(v)) { /* {"phones": ["138…"]}: the same rule inside arrays */
            size_t i;
            json_t *x;
            json_array_foreach(v, i, x)
            {
                json_t *wrap = json_pack("{s:O}", "v", x);
                if (!wrap) continue;
                mask_strings(wrap, 0);
                json_array_set(v, i, json_object_get(wrap, "v"));
                json_decref(wrap);
            }
            continue;
        }
        if (!json_is_string(v)) continue;
        const char *s = json_string_value(v);
        size_t n = strlen(s);
        char out[256];
        int login = ids && (!strcmp(k, "user_id") || !strcmp(k, "distinct_id"));
        if (tb_valid_mobile(s, n))
            tb__mask_mobile(s, n, out, sizeof out);
        else if (tb_valid_resident_id(s, n))
            tb__mask_id(s, n, out, sizeof out);
        else if (login && n < sizeof out)
            tb__mask_keep(s, n, 2, 2, out, sizeof out);
        else
            continue;
        json_object_set_new(o, k, json_string(out));
    }
}

int tb__events_quarantine(tb_db *db, size_t limit, int masked, json_t **out)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/events/quarantine.jsonl", tb_db_path(db));
    *out = NULL;
    tb__evkeys ek = tb__evkeys_of(db);
    tb__errbuf eb = {0};
    char *d = NULL;
    size_t len = 0;
    int rc = read_quarantine(path, &ek, &d, &len, &eb);
    if (rc) return rc;
    json_t *rows = json_array();
    size_t total = 0;
    for (char *line = d, *end; d && rows && line < d + len; line = end + 1) {
        end = memchr(line, '\n', (size_t)(d + len - line));
        if (!end) end = d + len;
        if (end == line) continue;
        total++;
        json_t *j = json_loadb(line, (size_t)(end - line), 0, NULL);
        if (!j) continue;
        if (masked) mask_strings(j, 1);
        json_array_append_new(rows, j);
        if (json_array_size(rows) > limit) json_array_remove(rows, 0);
    }
    if (d) sodium_memzero(d, len);
    free(d);
    *out = rows ? json_pack("{s:I,s:o}", "total", (json_int_t)total, "newest", rows) : NULL;
    return *out ? 0 : TB_ENOMEM;
}
