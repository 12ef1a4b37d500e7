/* identity.c — identity resolution in memory: the id map (system keys and certificates to dense
 * gids), golden records with survivorship, conflicts, history and relations, and their loading
 * from and persisting to the meta store. Master-data queries on the store are in identity_md.c. */
#include <assert.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "common/hash.h"
#include "common/buf.h"
#include "common/clock.h"
#include "common/radix.h"
#include "common/err.h"
#include "common/log.h"
#include "common/mask.h"
#include "common/table.h"
#include "pipeline/identity.h"
#include "store/crypt.h"
#include "store/mdx.h"
#include "store/meta.h"

#define MAX_SYSTEMS  64
#define SYS_NAME_MAX 31
#define SRC_NONE     0xff
#define POOL_LIMIT   UINT32_MAX /* offsets are 32-bit: 4 GiB of distinct strings */
#define LOAD_NUM     7          /* tables grow past 7/10 full */
#define LOAD_DEN     10
#define MERGE_HOPS   64 /* longer merged_into chains mean a cycle: corrupt */
#define DEFAULT_PRIO 10
#define PARTY_DIRTY  1
#define PARTY_ERASED 2 /* a tombstone left by an erasure: no data, never live */

/* One golden record. Values are offsets into the string pool (0: NULL); day is as_of clamped to
 * 0..65535 days (1970..2149), enough for any business date, and halves the array. */
struct party {
    uint32_t val[TB__F_COUNT];
    uint16_t day[TB__F_COUNT];
    uint8_t src[TB__F_COUNT]; /* system index, SRC_NONE when val is 0 */
    uint8_t kind;
    uint8_t flags;
    uint32_t cert, cert_type; /* pool offsets */
    uint32_t merged;          /* TB__GID_NONE unless merged away */
    uint32_t first_key;       /* head of the party's key list, UINT32_MAX if none */
};

struct keyent {
    uint32_t off;  /* the key text in the pool */
    uint32_t gid;  /* as stored: may be merged away, follow with root() */
    uint32_t next; /* next key of the same party */
    uint8_t sys;
};

/* Open addressing with linear probing; slot empty when h == 0 (hashes are forced odd). The
 * stored 64-bit hash makes almost every mismatch a single compare; equality is still verified on
 * the strings, so colliding hashes never merge two keys. A slot holds the hash and the value side
 * by side: a probe costs one cache line, not two. */
struct htslot {
    uint64_t h;
    uint32_t v;
};

struct htab {
    struct htslot *s;
    size_t cap; /* power of two or 0 */
    size_t n;
};

struct hist {
    uint32_t gid, old_off, new_off;
    uint8_t field, sys;
};

struct conflict {
    uint32_t gid, a_off, b_off;
    uint8_t field, a_sys, b_sys, chosen_b;
};

struct relation {
    uint32_t gid, target_off, target_gid, role_off;
    uint8_t type;
};

struct nment {
    uint32_t off, gid; /* "name\x1fmobile" in the pool */
};

struct sysinfo {
    char name[SYS_NAME_MAX + 1];
    int prio;
};

struct tb__idres {
    tb__errbuf err;
    char *pool; /* all strings, NUL-terminated; offset 0 is the empty NULL marker */
    size_t pool_len, pool_cap;
    /* The pool is POOL_LIMIT bytes of address space reserved at once (pages come as they are
     * written), so it never moves and a frozen image can borrow it; or, where the reservation is
     * refused, a heap block grown by realloc. The pool is append-only either way. */
    uint8_t pool_mapped, pool_borrowed;
    struct party *party;
    uint16_t *touched; /* per party: fields given by a row in this session (conflict detection) */
    uint32_t nparty, party_cap, nsaved_party, nlive;
    struct keyent *keys;
    uint32_t nkeys, keys_cap, nsaved_keys;
    struct htab keytab, certtab, interntab, nmtab;
    struct nment *nm;
    uint32_t nnm, nm_cap;
    struct sysinfo sys[MAX_SYSTEMS];
    uint32_t bulk_min; /* new parties from which a commit rebuilds the indexes (0: default) */
    unsigned nsys;
    uint8_t rule[TB__F_COUNT];
    unsigned match;
    /* An image's golden records and keys, in memory it was given (tb__idres_freeze) */
    void *block;
    size_t block_bytes;
    struct hist *hist;
    size_t nhist, hist_cap;
    struct conflict *confl;
    size_t nconfl, confl_cap;
    struct relation *rel;
    size_t nrel, rel_cap;
    tb__idres_stats stats;
};

static const char *const field_names[TB__F_COUNT] = {
    "name",       "gender",   "birth_date", "mobile", "address", "province",  "city",
    "occupation", "industry", "risk_level", "org",    "manager", "cust_type",
};

static const char *const rel_names[] = {NULL, "household", "group", "legal_rep", "manager"};

const char *tb__field_name(int field)
{
    return field >= 0 && field < TB__F_COUNT ? field_names[field] : NULL;
}

int tb__field_by_name(const char *name)
{
    for (int f = 0; f < TB__F_COUNT; f++)
        if (strcmp(field_names[f], name) == 0) return f;
    return -1;
}

const char *tb__rel_name(int type)
{
    return type >= 1 && type <= TB__REL_MANAGER ? rel_names[type] : NULL;
}

int tb__rel_by_name(const char *name)
{
    for (int t = 1; t <= TB__REL_MANAGER; t++)
        if (strcmp(rel_names[t], name) == 0) return t;
    return 0;
}

const char *tb__idres_errmsg(const tb__idres *r)
{
    return r->err.msg;
}

/* ---------------------------------------------------------------------------------------------
 * Hashing and the string pool
 */

static int pool_reserve(tb__idres *r, size_t extra)
{
    if (r->pool_len + extra <= r->pool_cap) return 0;
    if (r->pool_len + extra > POOL_LIMIT)
        return tb__seterr(&r->err, TB_ELIMIT, "identity string pool is full (4 GiB)");
    if (!r->pool) {
        void *m = mmap(NULL, POOL_LIMIT, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (m != MAP_FAILED) {
            tb__table_huge(m, POOL_LIMIT); /* written from its start on: 2 MiB at a fault */
            r->pool = m;
            r->pool_cap = POOL_LIMIT;
            r->pool_mapped = 1;
            return 0;
        }
    }
    size_t cap = r->pool_cap ? r->pool_cap : (1u << 20);
    while (cap < r->pool_len + extra)
        cap *= 2;
    if (cap > POOL_LIMIT) cap = POOL_LIMIT;
    char *p = realloc(r->pool, cap);
    if (!p) return tb__seterr(&r->err, TB_ENOMEM, "out of memory growing the string pool");
    r->pool = p;
    r->pool_cap = cap;
    return 0;
}

/* Appends without a capacity check: callers reserved first, so that a row either applies fully
 * or not at all. */
static uint32_t pool_put(tb__idres *r, const char *s, size_t n)
{
    assert(r->pool_len + n + 1 <= r->pool_cap);
    uint32_t off = (uint32_t)r->pool_len;
    memcpy(r->pool + off, s, n);
    r->pool[off + n] = '\0';
    r->pool_len += n + 1;
    return off;
}

static inline const char *pstr(const tb__idres *r, uint32_t off)
{
    return off ? r->pool + off : NULL;
}

/* ---------------------------------------------------------------------------------------------
 * Hash tables
 */

/* Slots a table grows to for `want` entries in all, at the load factor ht_grow keeps. */
static size_t ht_cap_for(const struct htab *t, size_t want)
{
    size_t cap = t->cap ? t->cap : 1024;
    while (want * LOAD_DEN > cap * LOAD_NUM)
        cap *= 2;
    return cap;
}

/* Moves t's entries into `n`, `cap` zeroed slots (larger than t's), and frees t's old slots. */
static void ht_move(struct htab *t, struct htslot *n, size_t cap)
{
    for (size_t i = 0; i < t->cap; i++) {
        if (!t->s[i].h) continue;
        size_t j = t->s[i].h & (cap - 1);
        while (n[j].h)
            j = (j + 1) & (cap - 1);
        n[j] = t->s[i];
    }
    tb__table_free(t->s, t->cap * sizeof *t->s);
    t->s = n;
    t->cap = cap;
}

static int ht_grow(struct htab *t, size_t want)
{
    if ((t->n + want) * LOAD_DEN <= t->cap * LOAD_NUM) return 0;
    size_t cap = ht_cap_for(t, t->n + want);
    struct htslot *n = tb__table_alloc(cap * sizeof *n);
    if (!n) return TB_ENOMEM;
    ht_move(t, n, cap);
    return 0;
}

static void ht_release(struct htab *t)
{
    tb__table_free(t->s, t->cap * sizeof *t->s);
    memset(t, 0, sizeof *t);
}

typedef int (*ht_eq)(const tb__idres *r, uint32_t v, const void *probe);

/* Returns the slot holding a value equal to `probe`, or the empty slot where it would go
 * (*found 0). The table must have room (ht_grow) or be non-empty with free slots. */
static size_t ht_find(const tb__idres *r, const struct htab *t, uint64_t h, ht_eq eq,
                      const void *probe, int *found)
{
    *found = 0;
    if (!t->cap) return 0;
    size_t i = h & (t->cap - 1);
    while (t->s[i].h) {
        if (t->s[i].h == h && eq(r, t->s[i].v, probe)) {
            *found = 1;
            return i;
        }
        i = (i + 1) & (t->cap - 1);
    }
    return i;
}

static void ht_set(struct htab *t, size_t slot, uint64_t h, uint32_t v)
{
    t->s[slot].h = h;
    t->s[slot].v = v;
    t->n++;
}

/* Probes are not always NUL-terminated (attrs are decoded in place): compare `len` bytes and
 * require the pooled string to end there. */
static inline int str_eq(const tb__idres *r, uint32_t off, const char *s, size_t len)
{
    return memcmp(r->pool + off, s, len) == 0 && r->pool[off + len] == '\0';
}

struct key_probe {
    uint8_t sys;
    const char *key;
    size_t len;
};

static int key_eq(const tb__idres *r, uint32_t v, const void *probe)
{
    const struct key_probe *p = probe;
    const struct keyent *k = &r->keys[v];
    return k->sys == p->sys && str_eq(r, k->off, p->key, p->len);
}

static uint64_t key_hash(uint8_t sys, const char *key, size_t len)
{
    return tb__hash64(key, len, 0x6b65790000000000ULL + sys);
}

struct cert_probe {
    uint8_t kind;
    const char *cert;
    size_t len;
};

static int cert_eq(const tb__idres *r, uint32_t v, const void *probe)
{
    const struct cert_probe *p = probe;
    const struct party *pt = &r->party[v];
    return pt->kind == p->kind && pt->cert && str_eq(r, pt->cert, p->cert, p->len);
}

static uint64_t cert_hash(uint8_t kind, const char *cert, size_t len)
{
    return tb__hash64(cert, len, 0x6365727400000000ULL + kind);
}

struct str_probe {
    const char *s;
    size_t len;
};

static int intern_eq(const tb__idres *r, uint32_t v, const void *probe)
{
    const struct str_probe *p = probe;
    return str_eq(r, v, p->s, p->len);
}

static int nm_eq(const tb__idres *r, uint32_t v, const void *probe)
{
    const struct str_probe *p = probe;
    return str_eq(r, r->nm[v].off, p->s, p->len);
}

/* Interns a value: codes and repeated values (province, org, manager, household ids) are stored
 * once, which is most of the attribute bytes of a bank. Pool and table must have room. */
static uint32_t intern(tb__idres *r, const char *s, size_t len)
{
    struct str_probe p = {s, len};
    uint64_t h = tb__hash64(s, len, 0x696e7465726e0000ULL);
    int found;
    size_t slot = ht_find(r, &r->interntab, h, intern_eq, &p, &found);
    if (found) return r->interntab.s[slot].v;
    uint32_t off = pool_put(r, s, len);
    ht_set(&r->interntab, slot, h, off);
    return off;
}

/* ---------------------------------------------------------------------------------------------
 * Systems and configuration
 */

/* The index of source system `name`, or -1. */
static int find_sys(const tb__idres *r, const char *name)
{
    for (unsigned i = 0; i < r->nsys; i++)
        if (strcmp(r->sys[i].name, name) == 0) return (int)i;
    return -1;
}

static int sys_index(tb__idres *r, const char *name, int add)
{
    int at = find_sys(r, name);
    if (at >= 0) return at;
    if (!add) return TB_ENOENT;
    size_t n = strlen(name);
    if (n == 0 || n > SYS_NAME_MAX)
        return tb__seterr(&r->err, TB_EINVAL, "system name must be 1..%d bytes, got %zu",
                          SYS_NAME_MAX, n);
    if (r->nsys >= MAX_SYSTEMS)
        return tb__seterr(&r->err, TB_EINVAL, "more than %d source systems", MAX_SYSTEMS);
    struct sysinfo *s = &r->sys[r->nsys];
    memcpy(s->name, name, n + 1);
    /* Defaults: the core system is the bank's master, the card system an older satellite. */
    s->prio = strcmp(name, "core") == 0 ? 100 : strcmp(name, "card") == 0 ? 50 : DEFAULT_PRIO;
    return (int)r->nsys++;
}

int tb__idres_set_priority(tb__idres *r, const char *system, int priority)
{
    int i = sys_index(r, system ? system : "", 1);
    if (i < 0) return i;
    r->sys[i].prio = priority;
    return 0;
}

int tb__idres_set_rule(tb__idres *r, int field, tb__surv_rule rule)
{
    if (field < 0 || field >= TB__F_COUNT || rule < TB__SURV_PRIORITY || rule > TB__SURV_FIRST)
        return tb__seterr(&r->err, TB_EINVAL, "survivorship rule %d for field %d is not valid",
                          (int)rule, field);
    r->rule[field] = (uint8_t)rule;
    return 0;
}

static int nm_add(tb__idres *r, const char *name, const char *mobile, uint32_t gid);

void tb__idres_set_match(tb__idres *r, unsigned flags)
{
    unsigned was = r->match;
    r->match = flags & TB__MATCH_NAME_MOBILE;
    if (!(was & TB__MATCH_NAME_MOBILE) && (r->match & TB__MATCH_NAME_MOBILE)) {
        /* Parties loaded before the rule was switched on must be findable by it too. Failing to
         * index one only loses a possible match, so errors are not fatal here. */
        for (uint32_t g = 0; g < r->nparty; g++) {
            const struct party *p = &r->party[g];
            if (p->kind == TB__PARTY_PERSON && p->merged == TB__GID_NONE && p->val[TB__F_NAME] &&
                p->val[TB__F_MOBILE])
                (void)nm_add(r, pstr(r, p->val[TB__F_NAME]), pstr(r, p->val[TB__F_MOBILE]), g);
        }
    }
}

/* ---------------------------------------------------------------------------------------------
 * Growth helpers: everything a row may need is reserved before anything is changed.
 */

static int grow_sz(void **ptr, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap) return 0;
    size_t c = *cap ? *cap : 256;
    while (c < need)
        c *= 2;
    void *p = realloc(*ptr, c * elem);
    if (!p) return TB_ENOMEM;
    tb__table_huge(p, c * elem);
    *ptr = p;
    *cap = c;
    return 0;
}

static int grow_u32(void **ptr, uint32_t *cap, size_t need, size_t elem)
{
    if (need > UINT32_MAX - 1) return TB_ELIMIT;
    size_t c = *cap;
    int rc = grow_sz(ptr, &c, need, elem);
    if (rc) return rc;
    *cap = (uint32_t)(c > UINT32_MAX ? UINT32_MAX : c);
    return 0;
}

static int reserve_party(tb__idres *r, size_t extra)
{
    uint32_t cap = r->party_cap;
    int rc = grow_u32((void **)&r->party, &cap, (size_t)r->nparty + extra, sizeof *r->party);
    if (rc == 0 && cap != r->party_cap) {
        uint16_t *t = realloc(r->touched, (size_t)cap * sizeof *t);
        if (!t) return TB_ENOMEM;
        memset(t + r->party_cap, 0, (size_t)(cap - r->party_cap) * sizeof *t);
        r->touched = t;
        r->party_cap = cap;
    }
    return rc;
}

static int reserve_keys(tb__idres *r, size_t extra)
{
    return grow_u32((void **)&r->keys, &r->keys_cap, (size_t)r->nkeys + extra, sizeof *r->keys);
}

static uint32_t new_party(tb__idres *r, uint8_t kind)
{
    uint32_t gid = r->nparty++;
    struct party *p = &r->party[gid];
    memset(p, 0, sizeof *p);
    memset(p->src, SRC_NONE, sizeof p->src);
    p->kind = kind;
    p->merged = TB__GID_NONE;
    p->first_key = UINT32_MAX;
    r->touched[gid] = 0;
    r->nlive++;
    return gid;
}

static void add_key(tb__idres *r, uint8_t sys, uint32_t off, uint32_t gid, size_t slot, uint64_t h)
{
    uint32_t k = r->nkeys++;
    r->keys[k] = (struct keyent){.off = off, .gid = gid, .next = UINT32_MAX, .sys = sys};
    /* Append at the tail so a party's keys list in the order they were first seen. */
    uint32_t *link = &r->party[gid].first_key;
    while (*link != UINT32_MAX)
        link = &r->keys[*link].next;
    *link = k;
    ht_set(&r->keytab, slot, h, k);
}

static uint32_t root(const tb__idres *r, uint32_t gid)
{
    for (int hop = 0; hop < MERGE_HOPS && r->party[gid].merged != TB__GID_NONE; hop++)
        gid = r->party[gid].merged;
    return gid;
}

static int nm_add(tb__idres *r, const char *name, const char *mobile, uint32_t gid)
{
    size_t ln = strlen(name), lm = strlen(mobile);
    int rc = pool_reserve(r, ln + lm + 2);
    if (rc == 0) rc = ht_grow(&r->nmtab, 1);
    if (rc == 0) rc = grow_u32((void **)&r->nm, &r->nm_cap, (size_t)r->nnm + 1, sizeof *r->nm);
    if (rc) return rc;
    char buf[512];
    if (ln + lm + 2 > sizeof buf) return 0; /* absurd lengths never match anything anyway */
    memcpy(buf, name, ln);
    buf[ln] = '\x1f';
    memcpy(buf + ln + 1, mobile, lm + 1);
    struct str_probe p = {buf, ln + lm + 1};
    uint64_t h = tb__hash64(buf, p.len, 0x6e6d000000000000ULL);
    int found;
    size_t slot = ht_find(r, &r->nmtab, h, nm_eq, &p, &found);
    if (found) return 0; /* the first holder keeps the pair */
    r->nm[r->nnm] = (struct nment){.off = pool_put(r, buf, p.len), .gid = gid};
    ht_set(&r->nmtab, slot, h, r->nnm++);
    return 0;
}

static int nm_lookup(const tb__idres *r, const char *name, const char *mobile, uint32_t *gid)
{
    char buf[512];
    size_t ln = strlen(name), lm = strlen(mobile);
    if (!r->nmtab.cap || ln + lm + 2 > sizeof buf) return TB_ENOENT;
    memcpy(buf, name, ln);
    buf[ln] = '\x1f';
    memcpy(buf + ln + 1, mobile, lm + 1);
    struct str_probe p = {buf, ln + lm + 1};
    int found;
    size_t slot =
        ht_find(r, &r->nmtab, tb__hash64(buf, p.len, 0x6e6d000000000000ULL), nm_eq, &p, &found);
    if (!found) return TB_ENOENT;
    *gid = root(r, r->nm[r->nmtab.s[slot].v].gid);
    return 0;
}

/* ---------------------------------------------------------------------------------------------
 * Observe
 */

static inline int given(const char *s)
{
    return s && *s;
}

static uint16_t clamp_day(int32_t d)
{
    return d < 0 ? 0 : d > 65535 ? 65535 : (uint16_t)d;
}

/* Does a value from (prio, day) replace the current one from (cprio, cday)? Ties keep the
 * current value, so that the result does not depend on the order of equal rows in a file. */
static int wins(int rule, int prio, uint16_t day, int cprio, uint16_t cday)
{
    switch (rule) {
    case TB__SURV_RECENT:
        return day > cday || (day == cday && prio > cprio);
    case TB__SURV_FIRST:
        return 0;
    default:
        return prio > cprio || (prio == cprio && day > cday);
    }
}

void tb__idres_prefetch(const tb__idres *r, const char *system, const char *key, size_t len)
{
    int s = find_sys(r, system);
    if (s < 0 || !r->keytab.cap) return;
    __builtin_prefetch(&r->keytab.s[key_hash((uint8_t)s, key, len) & (r->keytab.cap - 1)]);
}

void tb__idres_prefetch_obs(const tb__idres *r, const char *system, const char *key, size_t klen,
                            tb__party_kind kind, const char *cert, size_t clen)
{
    tb__idres_prefetch(r, system, key, klen);
    if (cert && clen && r->certtab.cap)
        __builtin_prefetch(
            &r->certtab.s[cert_hash((uint8_t)kind, cert, clen) & (r->certtab.cap - 1)]);
}

int tb__idres_lookup(const tb__idres *r, const char *system, const char *key, uint32_t *gid)
{
    return tb__idres_lookup_len(r, system, key, key ? strlen(key) : 0, gid);
}

int tb__idres_lookup_len(const tb__idres *r, const char *system, const char *key, size_t len,
                         uint32_t *gid)
{
    *gid = TB__GID_NONE;
    if (!system || !key) return TB_EINVAL;
    int s = find_sys(r, system);
    if (s < 0 || !r->keytab.cap) return TB_ENOENT;
    struct key_probe p = {(uint8_t)s, key, len};
    int found;
    size_t slot = ht_find(r, &r->keytab, key_hash(p.sys, key, p.len), key_eq, &p, &found);
    if (!found) return TB_ENOENT;
    *gid = root(r, r->keys[r->keytab.s[slot].v].gid);
    return 0;
}

/* Rows looked up together: each stage below starts the memory reads of the next for all of them,
 * so that their cache misses overlap instead of following one another. */
#define MANY_GROUP 32

/* A batch of look-ups in four stages, each a pass over a group of keys: the hash and its slot's
 * fetch; the probe of the slot and the fetch of its key entry; the fetch of the key's text and of
 * its golden record; the compare and the merge chain. One at a time, a look-up is four misses in
 * gigabytes of tables, one after another (at 10M customers, a third of the parallel phase's
 * appliers). A slot whose hash matches but whose key does not (a collision) takes ht_find's
 * whole probe again. */
void tb__idres_lookup_many(const tb__idres *r, const char *system, const char *const *key,
                           const size_t *len, size_t n, uint32_t *gid)
{
    int s = system ? find_sys(r, system) : -1;
    if (s < 0 || !r->keytab.cap) {
        for (size_t i = 0; i < n; i++)
            gid[i] = TB__GID_NONE;
        return;
    }
    const struct htab *t = &r->keytab;
    size_t mask = t->cap - 1;
    uint64_t h[MANY_GROUP];
    uint32_t v[MANY_GROUP];
    for (size_t at = 0; at < n; at += MANY_GROUP) {
        size_t m = n - at < MANY_GROUP ? n - at : MANY_GROUP;
        const char *const *k = key + at;
        const size_t *l = len + at;
        for (size_t i = 0; i < m; i++) {
            h[i] = key_hash((uint8_t)s, k[i], l[i]);
            __builtin_prefetch(&t->s[h[i] & mask]);
        }
        for (size_t i = 0; i < m; i++) {
            size_t j = h[i] & mask;
            while (t->s[j].h && t->s[j].h != h[i])
                j = (j + 1) & mask;
            v[i] = t->s[j].h ? t->s[j].v : UINT32_MAX;
            if (v[i] != UINT32_MAX) __builtin_prefetch(&r->keys[v[i]]);
        }
        for (size_t i = 0; i < m; i++) {
            if (v[i] == UINT32_MAX) continue;
            __builtin_prefetch(r->pool + r->keys[v[i]].off);
            __builtin_prefetch(&r->party[r->keys[v[i]].gid].merged);
        }
        for (size_t i = 0; i < m; i++) {
            struct key_probe p = {(uint8_t)s, k[i], l[i]};
            if (v[i] != UINT32_MAX && !key_eq(r, v[i], &p)) {
                int found;
                size_t slot = ht_find(r, t, h[i], key_eq, &p, &found);
                v[i] = found ? t->s[slot].v : UINT32_MAX;
            }
            gid[at + i] = v[i] == UINT32_MAX ? TB__GID_NONE : root(r, r->keys[v[i]].gid);
        }
    }
}

int tb__idres_lookup_cert(const tb__idres *r, tb__party_kind kind, const char *cert_no,
                          uint32_t *gid)
{
    *gid = TB__GID_NONE;
    if (!given(cert_no) || !r->certtab.cap) return TB_ENOENT;
    struct cert_probe p = {(uint8_t)kind, cert_no, strlen(cert_no)};
    int found;
    size_t slot = ht_find(r, &r->certtab, cert_hash(p.kind, cert_no, p.len), cert_eq, &p, &found);
    if (!found) return TB_ENOENT;
    *gid = root(r, r->certtab.s[slot].v);
    return 0;
}

/* A person's name, mobile and address are hardly ever shared between parties: interning them
 * would cost a probe per row at a random place in a table the size of the pool, for nothing (a
 * tenth of a 10M-customer load's serial phase). They are kept as they come and compared as text;
 * the other attributes are codes and dates, interned, and compared by offset. */
static int interned_attr(int f)
{
    return f != TB__F_NAME && f != TB__F_MOBILE && f != TB__F_ADDRESS;
}

/* The pool offset of attribute f's value `s` (len bytes); room is reserved by the caller. */
static uint32_t attr_put(tb__idres *r, int f, const char *s, size_t len)
{
    return interned_attr(f) ? intern(r, s, len) : pool_put(r, s, len);
}

static void apply_attrs(tb__idres *r, uint32_t gid, uint8_t sys, int prio, uint16_t day,
                        const char *const *vals, const size_t *lens)
{
    struct party *p = &r->party[gid];
    int saved = gid < r->nsaved_party;
    for (int f = 0; f < TB__F_COUNT; f++) {
        if (!vals[f]) continue;
        uint16_t bit = (uint16_t)(1u << f);
        uint32_t cur = p->val[f];
        uint32_t off = cur && !interned_attr(f) && str_eq(r, cur, vals[f], lens[f])
                           ? cur
                           : attr_put(r, f, vals[f], lens[f]);
        int cprio = cur ? r->sys[p->src[f]].prio : 0;
        if (cur == off) {
            /* Same value: the better-ranked source becomes its source of record. */
            if ((p->src[f] != sys || p->day[f] != day) &&
                wins(r->rule[f] == TB__SURV_FIRST ? TB__SURV_PRIORITY : r->rule[f], prio, day,
                     cprio, p->day[f])) {
                p->src[f] = sys;
                p->day[f] = day;
                if (saved) p->flags |= PARTY_DIRTY;
            }
            r->touched[gid] |= bit;
            continue;
        }
        int take = !cur || wins(r->rule[f], prio, day, cprio, p->day[f]);
        if (cur && (r->touched[gid] & bit)) {
            r->confl[r->nconfl++] = (struct conflict){.gid = gid,
                                                      .a_off = cur,
                                                      .b_off = off,
                                                      .field = (uint8_t)f,
                                                      .a_sys = p->src[f],
                                                      .b_sys = sys,
                                                      .chosen_b = (uint8_t)take};
            r->stats.conflicts++;
        }
        if (take) {
            if (saved) {
                r->hist[r->nhist++] = (struct hist){
                    .gid = gid, .old_off = cur, .new_off = off, .field = (uint8_t)f, .sys = sys};
                p->flags |= PARTY_DIRTY;
                r->stats.changes++;
            }
            p->val[f] = off;
            p->src[f] = sys;
            p->day[f] = day;
        }
        r->touched[gid] |= bit;
    }
}

int tb__idres_observe(tb__idres *r, const tb__party_obs *o, uint32_t *gidp, tb__match_how *how)
{
    if (gidp) *gidp = TB__GID_NONE;
    tb__clearerr(&r->err);
    if (!o || !given(o->system) || !given(o->key))
        return tb__seterr(&r->err, TB_EINVAL, "an observation needs a system and a key");
    if (o->kind != TB__PARTY_PERSON && o->kind != TB__PARTY_COMPANY)
        return tb__seterr(&r->err, TB_EINVAL, "observation of '%s' has kind %d: not a party kind",
                          o->system, (int)o->kind);
    int s = sys_index(r, o->system, 1);
    if (s < 0) return s;
    uint8_t sys = (uint8_t)s;

    /* Reserve everything this row can need, so it applies fully or not at all. */
    const char *vals[TB__F_COUNT];
    size_t lens[TB__F_COUNT];
    size_t need = 0;
    for (int f = 0; f < TB__F_COUNT; f++) {
        const char *v = f == TB__F_CUST_TYPE && given(o->cust_type) ? o->cust_type : o->attr[f];
        vals[f] = given(v) ? v : NULL;
        lens[f] = !vals[f] ? 0 : v == o->attr[f] && o->attr_len[f] ? o->attr_len[f] : strlen(v);
        need += lens[f] + 1;
    }
    size_t klen = o->key_len ? o->key_len : strlen(o->key);
    const char *cert = given(o->cert_no) ? o->cert_no : NULL;
    size_t clen = !cert ? 0 : o->cert_len ? o->cert_len : strlen(cert);
    const char *ctype = given(o->cert_type) ? o->cert_type : NULL;
    need += klen + clen + (ctype ? strlen(ctype) : 0) + 3;
    int rc = pool_reserve(r, need);
    if (rc == 0) rc = reserve_party(r, 1);
    if (rc == 0) rc = reserve_keys(r, 1);
    if (rc == 0) rc = ht_grow(&r->keytab, 1);
    if (rc == 0) rc = ht_grow(&r->certtab, 1);
    if (rc == 0) rc = ht_grow(&r->interntab, TB__F_COUNT + 1);
    if (rc == 0)
        rc = grow_sz((void **)&r->hist, &r->hist_cap, r->nhist + TB__F_COUNT, sizeof *r->hist);
    if (rc == 0)
        rc = grow_sz((void **)&r->confl, &r->confl_cap, r->nconfl + TB__F_COUNT, sizeof *r->confl);
    if (rc == TB_ENOMEM) return tb__seterr(&r->err, rc, "out of memory resolving identities");
    if (rc == TB_ELIMIT && !r->err.code)
        return tb__seterr(&r->err, rc, "more than %u parties or keys", UINT32_MAX - 1);
    if (rc) return rc;

    r->stats.observed++;
    struct key_probe kp = {sys, o->key, klen};
    uint64_t kh = key_hash(sys, o->key, klen);
    int found;
    size_t kslot = ht_find(r, &r->keytab, kh, key_eq, &kp, &found);
    uint32_t gid = TB__GID_NONE;
    tb__match_how m = TB__MATCHED_NEW;
    struct cert_probe cp = {(uint8_t)o->kind, cert, clen};
    uint64_t ch = cert ? cert_hash(cp.kind, cert, clen) : 0;
    size_t cslot = 0;
    int cfound = 0;
    if (cert) cslot = ht_find(r, &r->certtab, ch, cert_eq, &cp, &cfound);
    if (found) {
        gid = root(r, r->keys[r->keytab.s[kslot].v].gid);
        m = TB__MATCHED_KEY;
        r->stats.by_key++;
    } else if (cfound) {
        gid = root(r, r->certtab.s[cslot].v);
        m = TB__MATCHED_CERT;
        r->stats.by_cert++;
    } else if (!cert && (r->match & TB__MATCH_NAME_MOBILE) && o->kind == TB__PARTY_PERSON &&
               vals[TB__F_NAME] && vals[TB__F_MOBILE] &&
               nm_lookup(r, vals[TB__F_NAME], vals[TB__F_MOBILE], &gid) == 0 &&
               r->party[gid].kind == TB__PARTY_PERSON) {
        m = TB__MATCHED_RULE;
        r->stats.by_rule++;
    } else {
        gid = new_party(r, (uint8_t)o->kind);
        r->stats.created++;
    }
    if (!found) {
        add_key(r, sys, pool_put(r, o->key, klen), gid, kslot, kh);
        r->stats.keys_added++;
    }
    struct party *p = &r->party[gid];
    /* A party known only by key or rule learns its certificate from the first row that has one.
     * A row whose cert belongs to another party keeps its key's party: that is a merge decision
     * for a data steward (tagbase customer merge), not for a batch load. */
    if (cert && !cfound && !p->cert && p->kind == o->kind) {
        p->cert = pool_put(r, cert, clen);
        if (ctype) p->cert_type = intern(r, ctype, strlen(ctype));
        ht_set(&r->certtab, cslot, ch, gid);
        if (gid < r->nsaved_party) p->flags |= PARTY_DIRTY;
    } else if (p->cert && !p->cert_type && ctype && cfound) {
        p->cert_type = intern(r, ctype, strlen(ctype));
        if (gid < r->nsaved_party) p->flags |= PARTY_DIRTY; /* else the store never learns it */
    }
    apply_attrs(r, gid, sys, o->priority ? o->priority : r->sys[sys].prio, clamp_day(o->as_of),
                vals, lens);
    if ((r->match & TB__MATCH_NAME_MOBILE) && o->kind == TB__PARTY_PERSON && vals[TB__F_NAME] &&
        vals[TB__F_MOBILE])
        (void)nm_add(r, vals[TB__F_NAME], vals[TB__F_MOBILE], gid); /* only loses a match */
    if (gidp) *gidp = gid;
    if (how) *how = m;
    return 0;
}

int tb__idres_relate(tb__idres *r, uint32_t gid, tb__rel_type type, const char *target,
                     uint32_t target_gid, const char *role)
{
    tb__clearerr(&r->err);
    if (gid >= r->nparty || !tb__rel_name((int)type) || !given(target) ||
        (target_gid != TB__GID_NONE && target_gid >= r->nparty))
        return tb__seterr(&r->err, TB_EINVAL, "relation of gid %u (type %d) is not valid", gid,
                          (int)type);
    size_t lt = strlen(target), lr = given(role) ? strlen(role) : 0;
    int rc = pool_reserve(r, lt + lr + 2);
    if (rc == 0) rc = ht_grow(&r->interntab, 2);
    if (rc == 0) rc = grow_sz((void **)&r->rel, &r->rel_cap, r->nrel + 1, sizeof *r->rel);
    if (rc == TB_ENOMEM) return tb__seterr(&r->err, rc, "out of memory recording a relation");
    if (rc) return rc;
    r->rel[r->nrel++] = (struct relation){
        .gid = root(r, gid),
        .type = (uint8_t)type,
        .target_off = intern(r, target, lt),
        .target_gid = target_gid == TB__GID_NONE ? TB__GID_NONE : root(r, target_gid),
        .role_off = lr ? intern(r, role, lr) : 0};
    r->stats.relations++;
    return 0;
}

uint32_t tb__idres_count(const tb__idres *r)
{
    return r->nparty;
}

uint32_t tb__idres_live(const tb__idres *r)
{
    return r->nlive;
}

void tb__idres_stats_get(const tb__idres *r, tb__idres_stats *out)
{
    *out = r->stats;
}

int tb__idres_golden(const tb__idres *r, uint32_t gid, tb__golden *out)
{
    memset(out, 0, sizeof *out);
    if (gid >= r->nparty) return TB_ENOENT;
    const struct party *p = &r->party[gid];
    out->gid = gid;
    out->merged_into = p->merged;
    out->erased = (p->flags & PARTY_ERASED) != 0;
    out->kind = (tb__party_kind)p->kind;
    out->cert_no = pstr(r, p->cert);
    out->cert_type = pstr(r, p->cert_type);
    for (int f = 0; f < TB__F_COUNT; f++) {
        out->value[f] = pstr(r, p->val[f]);
        out->source[f] = p->val[f] ? r->sys[p->src[f]].name : NULL;
        out->as_of[f] = p->day[f];
    }
    for (uint32_t k = p->first_key; k != UINT32_MAX; k = r->keys[k].next) {
        if (out->nkeys < TB__GOLDEN_MAX_KEYS) {
            out->key_system[out->nkeys] = r->sys[r->keys[k].sys].name;
            out->key[out->nkeys] = r->pool + r->keys[k].off;
        }
        out->nkeys++;
    }
    return 0;
}

int tb__idres_value(const tb__idres *r, uint32_t gid, int f, tb__party_kind *kind, const char **v)
{
    assert(f >= 0 && f < TB__F_COUNT);
    if (gid >= r->nparty) return 0;
    const struct party *p = &r->party[gid];
    if (p->merged != TB__GID_NONE || (p->flags & PARTY_ERASED)) return 0;
    *kind = (tb__party_kind)p->kind;
    *v = pstr(r, p->val[f]);
    return 1;
}

/* ---------------------------------------------------------------------------------------------
 * Open: load the id map
 */

/* Parses "core=100,card=50" / "mobile=recent,birth_date=first" / "name_mobile" settings. */
static int apply_settings(tb__idres *r, tb_db *db)
{
    static const char *const keys[] = {"identity.priority", "identity.survivorship",
                                       "identity.match"};
    for (int k = 0; k < 3; k++) {
        char *v = NULL;
        int rc = tb_db_get_setting(db, keys[k], &v);
        if (rc == TB_ENOENT) continue;
        if (rc) return rc;
        rc = 0;
        char *save = NULL;
        for (char *item = strtok_r(v, ", ", &save); item && !rc;
             item = strtok_r(NULL, ", ", &save)) {
            char *eq = strchr(item, '=');
            if (k == 2) {
                if (strcmp(item, "name_mobile") == 0)
                    r->match |= TB__MATCH_NAME_MOBILE;
                else if (strcmp(item, "none") != 0)
                    rc = TB_EINVAL;
                continue;
            }
            if (!eq) {
                rc = TB_EINVAL;
                break;
            }
            *eq++ = '\0';
            if (k == 0) {
                char *end;
                long prio = strtol(eq, &end, 10);
                rc = *end || end == eq ? TB_EINVAL : tb__idres_set_priority(r, item, (int)prio);
            } else {
                int f = tb__field_by_name(item);
                int rule = strcmp(eq, "priority") == 0 ? TB__SURV_PRIORITY
                           : strcmp(eq, "recent") == 0 ? TB__SURV_RECENT
                           : strcmp(eq, "first") == 0  ? TB__SURV_FIRST
                                                       : -1;
                rc = f < 0 || rule < 0 ? TB_EINVAL : tb__idres_set_rule(r, f, (tb__surv_rule)rule);
            }
        }
        free(v);
        if (rc)
            return tb__seterr(tb__db_err(db), rc,
                              "setting '%s' is not valid (see docs/identity.md)", keys[k]);
    }
    return 0;
}

/* attrs: per field in tb__party_field order, separated by RS (0x1e): empty for NULL, else the
 * value, then US system US as_of-days (US = 0x1f). Compact and parsed without a JSON library: it
 * is read for every party at every open. The first format had the system and day on every
 * present field; the compact one (which starts with two US, something the first never does: its
 * system names are not empty) has them only where they differ from the previous present field's,
 * which saves a third of a party row: most records come from one row of one system. */
#define ATTRS_COMPACT     "\x1f\x1f"
#define ATTRS_COMPACT_LEN 2

static int parse_day(const char *d, const char *e, int32_t *out)
{
    long day = 0;
    for (; d < e; d++) {
        if (*d < '0' || *d > '9' || day > 65535) return TB_ECORRUPT;
        day = day * 10 + (*d - '0');
    }
    *out = (int32_t)day;
    return 0;
}

int tb__attrs_split(const char *a, size_t len, tb__attr_field out[TB__F_COUNT])
{
    memset(out, 0, TB__F_COUNT * sizeof *out);
    if (!a) return 0;
    const char *end = a + len;
    int compact = len >= ATTRS_COMPACT_LEN && memcmp(a, ATTRS_COMPACT, ATTRS_COMPACT_LEN) == 0;
    if (compact) a += ATTRS_COMPACT_LEN;
    const tb__attr_field *prev = NULL;
    for (int f = 0; f < TB__F_COUNT; f++) {
        const char *e = memchr(a, '\x1e', (size_t)(end - a));
        if (!e) e = end;
        if (e > a) {
            tb__attr_field *o = &out[f];
            const char *u1 = memchr(a, '\x1f', (size_t)(e - a));
            o->value = a;
            o->value_len = (size_t)((u1 ? u1 : e) - a);
            if (u1) {
                const char *u2 = memchr(u1 + 1, '\x1f', (size_t)(e - u1 - 1));
                if (!u2 || u2 - u1 - 1 > SYS_NAME_MAX || u2 == u1 + 1 ||
                    parse_day(u2 + 1, e, &o->as_of)) {
                    *o = (tb__attr_field){0};
                    return TB_ECORRUPT;
                }
                o->system = u1 + 1;
                o->system_len = (size_t)(u2 - u1 - 1);
            } else {
                if (!compact || !prev) {
                    *o = (tb__attr_field){0};
                    return TB_ECORRUPT;
                }
                o->system = prev->system;
                o->system_len = prev->system_len;
                o->as_of = prev->as_of;
            }
            prev = o;
        }
        a = e < end ? e + 1 : end;
    }
    return 0;
}

static int load_attrs(tb__idres *r, struct party *p, const char *a, size_t len)
{
    tb__attr_field fs[TB__F_COUNT];
    if (tb__attrs_split(a, len, fs)) return TB_ECORRUPT;
    for (int f = 0; f < TB__F_COUNT; f++) {
        if (!fs[f].value) continue;
        char sname[SYS_NAME_MAX + 1];
        memcpy(sname, fs[f].system, fs[f].system_len);
        sname[fs[f].system_len] = '\0';
        int s = sys_index(r, sname, 1);
        if (s < 0) return TB_ECORRUPT;
        int rc = pool_reserve(r, fs[f].value_len + 1);
        if (rc == 0) rc = ht_grow(&r->interntab, 1);
        if (rc) return rc;
        p->val[f] = attr_put(r, f, fs[f].value, fs[f].value_len);
        p->src[f] = (uint8_t)s;
        p->day[f] = clamp_day(fs[f].as_of);
    }
    return 0;
}

static int load_parties(tb__idres *r, tb_db *db)
{
    sqlite3_stmt *st;
    /* Encrypted: cert_no holds a blind index, the certificate itself is sealed in cert_enc. */
    int rc = tb__c2_on(db) ? tb__meta_stmt(db, TB__STMT_ID_LOAD_PARTY_C2,
                                           "SELECT gid, kind, cert_type, cert_enc, merged_into, "
                                           "attrs, erased_at IS NOT NULL FROM party ORDER BY gid",
                                           &st)
                           : tb__meta_stmt(db, TB__STMT_ID_LOAD_PARTY,
                                           "SELECT gid, kind, cert_type, cert_no, merged_into, "
                                           "attrs, erased_at IS NOT NULL FROM party ORDER BY gid",
                                           &st);
    if (rc) return rc;
    tb__buf cbuf = TB__BUF_INIT, abuf = TB__BUF_INIT;
    int src;
    while ((src = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t g = sqlite3_column_int64(st, 0);
        if (g != (int64_t)r->nparty) {
            rc = tb__seterr(tb__db_err(db), TB_ECORRUPT,
                            "party gids are not dense: found %lld, expected %u", (long long)g,
                            r->nparty);
            goto out;
        }
        const char *kind = (const char *)sqlite3_column_text(st, 1);
        const char *ctype = (const char *)sqlite3_column_text(st, 2);
        const char *cert, *attrs;
        rc = tb__c2_reveal(db, TB__C2_AD_CERT, (const char *)sqlite3_column_text(st, 3), &cbuf,
                           &cert);
        if (rc == 0)
            rc = tb__c2_reveal(db, TB__C2_AD_ATTRS, (const char *)sqlite3_column_text(st, 5), &abuf,
                               &attrs);
        if (rc) goto out;
        size_t alen = attrs ? strlen(attrs) : 0;
        size_t clen = cert ? strlen(cert) : 0;
        rc = reserve_party(r, 1);
        if (rc == 0) rc = pool_reserve(r, clen + (ctype ? strlen(ctype) : 0) + 2);
        if (rc == 0) rc = ht_grow(&r->certtab, 1);
        if (rc == 0) rc = ht_grow(&r->interntab, 1);
        if (rc) goto out_nomem;
        uint32_t gid = new_party(r, kind && strcmp(kind, "company") == 0 ? TB__PARTY_COMPANY
                                                                         : TB__PARTY_PERSON);
        struct party *p = &r->party[gid];
        if (sqlite3_column_type(st, 4) != SQLITE_NULL) {
            int64_t m = sqlite3_column_int64(st, 4);
            if (m < 0 || m >= UINT32_MAX) {
                rc = tb__seterr(tb__db_err(db), TB_ECORRUPT, "party %u: bad merged_into", gid);
                goto out;
            }
            p->merged = (uint32_t)m;
            r->nlive--;
        } else if (sqlite3_column_int(st, 6)) {
            p->flags |= PARTY_ERASED; /* a tombstone: counted, never live */
            r->nlive--;
        }
        if (ctype) p->cert_type = intern(r, ctype, strlen(ctype));
        if (cert && *cert) {
            struct cert_probe cp = {p->kind, cert, clen};
            uint64_t h = cert_hash(p->kind, cert, clen);
            int found;
            size_t slot = ht_find(r, &r->certtab, h, cert_eq, &cp, &found);
            p->cert = pool_put(r, cert, clen);
            if (!found) ht_set(&r->certtab, slot, h, gid);
        }
        rc = attrs ? load_attrs(r, p, attrs, alen) : TB_ECORRUPT;
        if (rc == TB_ECORRUPT) {
            rc =
                tb__seterr(tb__db_err(db), rc, "party %u: attrs are not in the stored format", gid);
            goto out;
        }
        if (rc) goto out_nomem;
    }
    if (src != SQLITE_DONE) rc = tb__meta_seterr_sqlite(db, src, "cannot read parties");
    /* merged_into must point at an existing party; checked after all are read. */
    for (uint32_t g = 0; rc == 0 && g < r->nparty; g++)
        if (r->party[g].merged != TB__GID_NONE && r->party[g].merged >= r->nparty)
            rc = tb__seterr(tb__db_err(db), TB_ECORRUPT, "party %u merged into unknown %u", g,
                            r->party[g].merged);
    goto out;
out_nomem:
    if (rc == TB_ENOMEM || rc == TB_ELIMIT)
        rc = tb__seterr(tb__db_err(db), rc, "cannot hold the id map in memory: %s",
                        rc == TB_ENOMEM ? "out of memory" : r->err.msg);
out:
    tb__meta_stmt_done(st);
    if (cbuf.data) sodium_memzero(cbuf.data, cbuf.cap);
    if (abuf.data) sodium_memzero(abuf.data, abuf.cap);
    tb__buf_release(&cbuf);
    tb__buf_release(&abuf);
    return rc;
}

static int load_keys(tb__idres *r, tb_db *db)
{
    sqlite3_stmt *st;
    int rc = tb__meta_stmt(db, TB__STMT_ID_LOAD_KEY, "SELECT system, key, gid FROM party_key", &st);
    if (rc) return rc;
    int src;
    while ((src = sqlite3_step(st)) == SQLITE_ROW) {
        const char *sysname = (const char *)sqlite3_column_text(st, 0);
        const char *key = (const char *)sqlite3_column_text(st, 1);
        int64_t g = sqlite3_column_int64(st, 2);
        if (!sysname || !key || g < 0 || g >= (int64_t)r->nparty) {
            rc = tb__seterr(tb__db_err(db), TB_ECORRUPT, "party_key row with an unknown gid %lld",
                            (long long)g);
            goto out;
        }
        int s = sys_index(r, sysname, 1);
        if (s < 0) {
            rc = tb__seterr(tb__db_err(db), TB_ECORRUPT, "party_key: %s", r->err.msg);
            goto out;
        }
        size_t klen = strlen(key);
        rc = pool_reserve(r, klen + 1);
        if (rc == 0) rc = reserve_keys(r, 1);
        if (rc == 0) rc = ht_grow(&r->keytab, 1);
        if (rc) {
            rc = tb__seterr(tb__db_err(db), rc, "cannot hold the id map in memory");
            goto out;
        }
        struct key_probe kp = {(uint8_t)s, key, klen};
        uint64_t h = key_hash(kp.sys, key, klen);
        int found;
        size_t slot = ht_find(r, &r->keytab, h, key_eq, &kp, &found);
        if (found) continue; /* the primary key makes this impossible */
        add_key(r, (uint8_t)s, pool_put(r, key, klen), (uint32_t)g, slot, h);
    }
    if (src != SQLITE_DONE) rc = tb__meta_seterr_sqlite(db, src, "cannot read party keys");
out:
    tb__meta_stmt_done(st);
    return rc;
}

int tb__idres_open(tb_db *db, tb__idres **out)
{
    *out = NULL;
    tb__idres *r = calloc(1, sizeof *r);
    if (!r) return tb__seterr(tb__db_err(db), TB_ENOMEM, "out of memory opening the id map");
    int rc = pool_reserve(r, 1);
    if (rc) goto out_free;
    r->pool[0] = '\0';
    r->pool_len = 1; /* offset 0 means NULL */
    (void)sys_index(r, "core", 1);
    (void)sys_index(r, "card", 1);
    unsigned match = 0;
    rc = apply_settings(r, db);
    if (rc) goto out_free;
    match = r->match;
    r->match = 0;
    rc = load_parties(r, db);
    if (rc == 0) rc = load_keys(r, db);
    if (rc) goto out_free;
    r->nsaved_party = r->nparty;
    r->nsaved_keys = r->nkeys;
    tb__idres_set_match(r, match);
    *out = r;
    return 0;
out_free:
    if (rc == TB_ENOMEM && !tb__db_err(db)->code)
        tb__seterr(tb__db_err(db), rc, "out of memory opening the id map");
    tb__idres_free(r);
    return rc;
}

void tb__idres_free(tb__idres *r)
{
    if (!r) return;
    if (r->pool_mapped && !r->pool_borrowed)
        munmap(r->pool, POOL_LIMIT);
    else if (!r->pool_borrowed)
        free(r->pool);
    if (r->block) {
        tb__table_free(r->block, r->block_bytes);
    } else {
        free(r->party);
        free(r->keys);
    }
    free(r->touched);
    free(r->nm);
    free(r->hist);
    free(r->confl);
    free(r->rel);
    ht_release(&r->keytab);
    ht_release(&r->certtab);
    ht_release(&r->interntab);
    ht_release(&r->nmtab);
    free(r);
}

/* A copy of n elements of `size` bytes, or NULL with *fail set (n == 0: NULL, no failure). */
static void *dup_array(const void *a, size_t n, size_t size, int *fail)
{
    if (!n) return NULL;
    void *p = malloc(n * size);
    if (p)
        memcpy(p, a, n * size);
    else
        *fail = 1;
    return p;
}

/* Half of a copy, on a thread of its own (freeze). */
struct half_copy {
    void *dst;
    const void *src;
    size_t n;
};

static void *half_copy_run(void *arg)
{
    struct half_copy *h = arg;
    memcpy(h->dst, h->src, h->n);
    return NULL;
}

/* memcpy on two threads: the copy writes fresh pages, and on a virtual machine the first write to
 * a page can cost more than the copy itself (at 10M customers, copying the image's golden records
 * took 2.2 s on one thread while every other thread of the load waited for the image). */
static void *copy2(void *dst, const void *src, size_t n)
{
    size_t first = n / 2;
    struct half_copy h = {(char *)dst + first, (const char *)src + first, n - first};
    pthread_t tid;
    int threaded = n >= ((size_t)1 << 20) && pthread_create(&tid, NULL, half_copy_run, &h) == 0;
    memcpy(dst, src, threaded ? first : n);
    if (threaded) pthread_join(tid, NULL);
    return dst;
}

/* dup_array with copy2. */
static void *dup_array2(const void *a, size_t n, size_t size, int *fail)
{
    if (!n) return NULL;
    char *p = malloc(n * size);
    if (!p) {
        *fail = 1;
        return NULL;
    }
    return copy2(p, a, n * size);
}

void tb__idres_mark_now(const tb__idres *r, tb__idres_mark *m)
{
    *m = (tb__idres_mark){r->keytab.n, r->certtab.n, r->interntab.n,
                          r->nmtab.n,  r->nparty,    r->pool_len};
}

/* `at` plus `factor` times what was added since `since`, or `at` when that does not fit. */
static size_t extrapolate(size_t since, size_t at, double factor, size_t most)
{
    double w = (double)since + (double)(at > since ? at - since : 0) * factor;
    return w < (double)most ? (size_t)w : at;
}

static size_t page_round(size_t n)
{
    size_t page = tb__table_page();
    return (n + page - 1) / page * page;
}

int tb__idres_plan_growth(const tb__idres *r, const tb__idres_mark *m, double factor,
                          size_t max_bytes, tb__idres_plan *pl)
{
    const struct htab *t[] = {&r->keytab, &r->certtab, &r->interntab, &r->nmtab};
    size_t since[] = {m->keys, m->certs, m->interned, m->names};
    size_t bytes = 0;
    memset(pl, 0, sizeof *pl);
    if (!(factor > 1.0)) return 0;
    for (int i = 0; i < 4; i++) {
        size_t want = extrapolate(since[i], t[i]->n, factor, SIZE_MAX / LOAD_DEN / 2);
        size_t cap = ht_cap_for(t[i], want);
        bytes += cap * sizeof(struct htslot);
        /* a table the part added nothing to stays (one never used stays empty) */
        if (want <= t[i]->n || cap <= t[i]->cap) continue;
        pl->slots[i] = cap;
        pl->tables += page_round(cap * sizeof(struct htslot));
    }
    if (bytes > max_bytes) {
        memset(pl, 0, sizeof *pl);
        return 0;
    }
    pl->parties = extrapolate(m->parties, r->nparty, factor, UINT32_MAX - 1);
    pl->keys = extrapolate(m->keys, r->nkeys, factor, UINT32_MAX - 1); /* every key is in keytab */
    pl->pool = extrapolate(m->pool, r->pool_len, factor, POOL_LIMIT);
    /* what the arrays will fill is faulted in ahead: within the same bound, or not planned */
    double more = (double)(pl->parties - r->nparty) * sizeof *r->party +
                  (double)(pl->keys - r->nkeys) * sizeof *r->keys +
                  (double)(pl->pool - r->pool_len);
    if ((double)bytes + more > (double)max_bytes) {
        pl->parties = r->nparty;
        pl->keys = r->nkeys;
        pl->pool = r->pool_len;
    }
    return pl->tables || pl->parties > r->nparty || pl->keys > r->nkeys || pl->pool > r->pool_len;
}

int tb__idres_grow(tb__idres *r, const tb__idres_plan *pl, void *mem, size_t bytes)
{
    struct htab *t[] = {&r->keytab, &r->certtab, &r->interntab, &r->nmtab};
    if (mem && bytes < pl->tables) {
        tb__table_free(mem, bytes);
        mem = NULL;
    }
    char *at = mem;
    int rc = 0;
    /* Tables of 2 MiB and more first: they are multiples of it, so each stays on huge-page
     * boundaries in a block that starts on one (the kernel aligns large mappings so). */
    for (int big = 1; big >= 0; big--) {
        for (int i = 0; i < 4; i++) {
            size_t cap = pl->slots[i], n = page_round(cap * sizeof(struct htslot));
            if (!cap || (n >= ((size_t)2 << 20)) != big) continue;
            struct htslot *s = mem ? (struct htslot *)at : NULL;
            at += mem ? n : 0;
            /* grown as large meanwhile (it doubled while the memory was made ready) */
            if (cap <= t[i]->cap) {
                tb__table_free(s, n);
                continue;
            }
            if (!s && !(s = tb__table_alloc(n))) {
                rc = TB_ENOMEM; /* this one stays as it is */
                continue;
            }
            ht_move(t[i], s, cap);
        }
    }
    if (mem && bytes > pl->tables) tb__table_free(at, bytes - pl->tables);
    return rc;
}

int tb__idres_expect(tb__idres *r, const tb__idres_mark *m, double factor, size_t max_bytes)
{
    tb__idres_plan pl;
    return tb__idres_plan_growth(r, m, factor, max_bytes, &pl) ? tb__idres_grow(r, &pl, NULL, 0)
                                                               : 0;
}

int tb__idres_reserve(tb__idres *r, const tb__idres_plan *pl, tb__span out[3])
{
    int n = 0;
    if (pl->parties > r->nparty && reserve_party(r, pl->parties - r->nparty) == 0)
        out[n++] = (tb__span){r->party + r->nparty, (pl->parties - r->nparty) * sizeof *r->party};
    if (pl->keys > r->nkeys && reserve_keys(r, pl->keys - r->nkeys) == 0)
        out[n++] = (tb__span){r->keys + r->nkeys, (pl->keys - r->nkeys) * sizeof *r->keys};
    /* the pool's whole reservation is mapped already; a pool on the heap moves when it grows */
    if (r->pool_mapped && !r->pool_borrowed && pl->pool > r->pool_len)
        out[n++] = (tb__span){r->pool + r->pool_len, pl->pool - r->pool_len};
    return n;
}

size_t tb__idres_footprint(const tb__idres *r)
{
    return r->pool_len + (size_t)r->nparty * sizeof *r->party + (size_t)r->nkeys * sizeof *r->keys;
}

void tb__idres_memory(const tb__idres *r, tb__idres_mem *m)
{
    m->pool = r->pool_len;
    m->party = (size_t)r->party_cap * (sizeof *r->party + sizeof *r->touched);
    m->keys = (size_t)r->keys_cap * sizeof *r->keys;
    m->tables =
        (r->keytab.cap + r->certtab.cap + r->interntab.cap + r->nmtab.cap) * sizeof(struct htslot);
}

size_t tb__idres_image_bytes(size_t nparty, size_t nkeys)
{
    return nparty * sizeof(struct party) + nkeys * sizeof(struct keyent);
}

size_t tb__idres_image_now(const tb__idres *r)
{
    return tb__idres_image_bytes(r->nparty, r->nkeys);
}

tb__idres *tb__idres_freeze(const tb__idres *r, void *mem, size_t bytes)
{
    tb__idres *f = calloc(1, sizeof *f);
    if (!f) {
        tb__table_free(mem, bytes);
        return NULL;
    }
    int fail = 0;
    size_t pbytes = (size_t)r->nparty * sizeof *r->party;
    if (mem && tb__idres_image_bytes(r->nparty, r->nkeys) <= bytes) {
        /* struct party's size is a multiple of keyent's alignment: the keys follow directly */
        _Static_assert(sizeof(struct party) % _Alignof(struct keyent) == 0, "keys aligned");
        f->block = mem;
        f->block_bytes = bytes;
        /* the memory may be faulted in only in part (made ready meanwhile): two threads */
        if (r->nparty) f->party = copy2(mem, r->party, pbytes);
        if (r->nkeys)
            f->keys = copy2((char *)mem + pbytes, r->keys, (size_t)r->nkeys * sizeof *r->keys);
    } else {
        tb__table_free(mem, bytes);
        f->party = dup_array2(r->party, r->nparty, sizeof *r->party, &fail);
        f->keys = dup_array(r->keys, r->nkeys, sizeof *r->keys, &fail);
    }
    if (r->pool_mapped) {
        /* Strings are only ever appended past pool_len: the copy's part never changes. */
        f->pool = r->pool;
        f->pool_mapped = f->pool_borrowed = 1;
    } else {
        f->pool = dup_array(r->pool, r->pool_len, 1, &fail);
    }
    f->pool_len = f->pool_cap = r->pool_len;
    f->nparty = f->party_cap = r->nparty;
    f->nsaved_party = r->nsaved_party;
    f->nlive = r->nlive;
    f->nkeys = f->keys_cap = r->nkeys;
    f->nsaved_keys = r->nsaved_keys;
    memcpy(f->sys, r->sys, sizeof r->sys);
    f->nsys = r->nsys;
    f->bulk_min = r->bulk_min;
    /* no history, conflicts or relations: tb__idres_write_since writes them all from `r` */
    if (fail) {
        tb__idres_free(f);
        return NULL;
    }
    return f;
}

/* ---------------------------------------------------------------------------------------------
 * Commit: persist the session inside the caller's transaction
 */

/* The compact attrs format (load_attrs). */
static int encode_attrs(const tb__idres *r, const struct party *p, tb__buf *b)
{
    tb__buf_reset(b);
    int rc = tb__buf_puts(b, ATTRS_COMPACT);
    int prev = -1;
    for (int f = 0; f < TB__F_COUNT && rc == 0; f++) {
        if (f) rc = tb__buf_putc(b, '\x1e');
        if (!p->val[f] || rc) continue;
        /* The separators never occur in extract values; if one did, a space keeps the record
         * parseable rather than failing a whole load on one cosmetic byte. */
        size_t at = b->len;
        rc = tb__buf_puts(b, r->pool + p->val[f]);
        for (size_t i = at; rc == 0 && i < b->len; i++)
            if (b->data[i] == '\x1e' || b->data[i] == '\x1f') b->data[i] = ' ';
        if (prev >= 0 && p->src[f] == p->src[prev] && p->day[f] == p->day[prev]) {
            prev = f;
            continue;
        }
        prev = f;
        if (rc == 0) rc = tb__buf_putc(b, '\x1f');
        if (rc == 0) rc = tb__buf_puts(b, r->sys[p->src[f]].name);
        if (rc == 0) rc = tb__buf_putc(b, '\x1f');
        if (rc == 0) rc = tb__buf_put_u64(b, p->day[f]);
    }
    return rc;
}

/* A new key, for sorting into the party_key primary key's order (system name, key): the system's
 * rank by name and the key's first 15 bytes, big-endian, are a 128-bit number that a radix sort
 * orders without a look at the pool (a comparison sort of 13M keys took 4.3 s, most of it cache
 * misses); keys equal in those bytes are then ordered by the rest. */
#define KEYSORT_BYTES 15
struct keysort {
    uint64_t hi, lo; /* the rank, key bytes 0-6; key bytes 7-14 (zero-padded) */
    uint32_t idx;    /* into r->keys */
    uint32_t gid;    /* r->keys[idx].gid, and sys its system: the row is written from here alone */
    uint8_t sys;
    uint8_t longer; /* the key has more than KEYSORT_BYTES bytes */
};
_Static_assert(sizeof(struct keysort) == 32,
               "tb__radix_sort128 sorts records of 16, 24 or 32 bytes");

static uint64_t be64_at(const char *s, size_t n)
{
    uint64_t v = 0;
    for (size_t i = 0; i < 8; i++)
        v = v << 8 | (i < n ? (uint8_t)s[i] : 0);
    return v;
}

/* Keys equal in their sort number: the shorter first, else by the bytes past it. */
static int key_rest_order(const void *a, const void *b, void *arg)
{
    const tb__idres *r = arg;
    const struct keysort *x = a, *y = b;
    if (!x->longer || !y->longer) return (int)x->longer - (int)y->longer;
    return strcmp(r->pool + r->keys[x->idx].off + KEYSORT_BYTES,
                  r->pool + r->keys[y->idx].off + KEYSORT_BYTES);
}

/* The keys from `from` on, in primary-key order. Caller frees. NULL when out of memory. */
static struct keysort *keys_sorted(const tb__idres *r, uint32_t from)
{
    size_t n = r->nkeys - from;
    struct keysort *o = malloc((n ? n : 1) * sizeof *o);
    if (!o) return NULL;
    uint8_t rank[MAX_SYSTEMS] = {0};
    for (unsigned i = 0; i < r->nsys; i++)
        for (unsigned k = 0; k < r->nsys; k++)
            rank[i] += strcmp(r->sys[k].name, r->sys[i].name) < 0;
    for (size_t i = 0; i < n; i++) {
        const struct keyent *e = &r->keys[from + i];
        const char *k = r->pool + e->off;
        size_t len = strlen(k);
        o[i] = (struct keysort){(uint64_t)rank[e->sys] << 56 | be64_at(k, len) >> 8,
                                len > 7 ? be64_at(k + 7, len - 7) : 0,
                                from + (uint32_t)i,
                                e->gid,
                                e->sys,
                                len > KEYSORT_BYTES};
    }
    if (tb__radix_sort128(o, n, sizeof *o)) {
        free(o);
        return NULL;
    }
    for (size_t i = 0, j; i < n; i = j) {
        int longer = 0;
        for (j = i; j < n && o[j].hi == o[i].hi && o[j].lo == o[i].lo; j++)
            longer |= o[j].longer;
        if (j - i > 1 && longer) qsort_r(o + i, j - i, sizeof *o, key_rest_order, (void *)r);
    }
    return o;
}

/* The relations from `from` on, in the order of party_relation's primary key (gid, rel_type,
 * target), equal keys in the order they came (INSERT OR REPLACE: the last one stays): a household
 * file names its members by household, so in gid order the inserts append to the B-tree instead
 * of landing at random in it. Caller frees. NULL when out of memory. */
struct relsort {
    const tb__idres *r;
    size_t idx;
};

static int rel_order(const void *a, const void *b)
{
    const struct relsort *x = a, *y = b;
    const struct relation *p = &x->r->rel[x->idx], *q = &y->r->rel[y->idx];
    if (p->gid != q->gid) return p->gid < q->gid ? -1 : 1;
    if (p->type != q->type) return strcmp(rel_names[p->type], rel_names[q->type]);
    int d = strcmp(x->r->pool + p->target_off, x->r->pool + q->target_off);
    if (d) return d;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

static struct relsort *relations_sorted(const tb__idres *r, size_t from)
{
    size_t n = r->nrel - from;
    struct relsort *o = malloc((n ? n : 1) * sizeof *o);
    if (!o) return NULL;
    for (size_t i = 0; i < n; i++)
        o[i] = (struct relsort){r, from + i};
    qsort(o, n, sizeof *o, rel_order);
    return o;
}

/* What the row callbacks of commit_rows read, and the scratch space their values live in until
 * the next row (tb__meta_insert_rows). */
struct rowctx {
    const tb__idres *r;
    tb_db *db;
    const char *batch_date, *now;
    int64_t load_id;
    size_t from;                  /* the first new history entry, conflict or party */
    const struct keysort *korder; /* the new keys in primary-key order */
    const struct relsort *rorder; /* the new relations in primary-key order */
    tb__buf attrs, sealed[2];
    char blind[3][TB__C2_BLIND_LEN];
    char masked[2][256];
    char key[KEYSORT_BYTES + 1];
};

static void rowctx_release(struct rowctx *x)
{
    tb__buf_release(&x->attrs);
    tb__buf_release(&x->sealed[0]);
    tb__buf_release(&x->sealed[1]);
}

static tb__meta_val off_val(const tb__idres *r, uint32_t off)
{
    return tb__meta_text(off ? r->pool + off : NULL);
}

/* `v` sealed for column `ad` into `b` when the store is encrypted, else as it is. */
static int sealed_val(struct rowctx *x, const char *ad, const char *v, tb__buf *b,
                      tb__meta_val *out)
{
    if (!v || !tb__c2_on(x->db)) {
        *out = tb__meta_text(v);
        return 0;
    }
    if (tb__c2_seal_with(tb__c2_active(x->db), ad, v, strlen(v), b))
        return tb__seterr(tb__db_err(x->db), TB_ENOMEM, "out of memory encrypting a value");
    *out = (tb__meta_val){TB__VAL_TEXT, 0, b->data ? b->data : "", b->len};
    return 0;
}

/* `v`'s blind index for column `ad` (into `out`) when the store is encrypted, else `v`. */
static tb__meta_val blind_val(struct rowctx *x, const char *ad, const char *v,
                              char out[TB__C2_BLIND_LEN])
{
    if (!v || !tb__c2_on(x->db)) return tb__meta_text(v);
    tb__c2_blind_with(tb__c2_active(x->db), ad, v, strlen(v), out);
    return tb__meta_text(out);
}

/* Party `gid`'s values, in the order of the party INSERT's and UPDATE's parameters: gid, kind,
 * cert_type, cert_no, cust_type, name, mobile, attrs, batch, load, cert_enc. The C2 columns go
 * through crypt.h: when the store is encrypted, cert_no, name and mobile hold blind indexes (the
 * look-ups stay equality look-ups), the certificate is sealed in cert_enc and every attribute
 * (name and mobile included) in attrs. */
#define PARTY_VALS 11
static int party_vals(struct rowctx *x, uint32_t gid, tb__meta_val *v)
{
    const tb__idres *r = x->r;
    const struct party *p = &r->party[gid];
    if (encode_attrs(r, p, &x->attrs))
        return tb__seterr(tb__db_err(x->db), TB_ENOMEM, "out of memory persisting parties");
    v[0] = tb__meta_int(gid);
    v[1] = tb__meta_text(p->kind == TB__PARTY_COMPANY ? "company" : "person");
    v[2] = off_val(r, p->cert_type);
    v[3] = blind_val(x, TB__C2_AD_CERT, pstr(r, p->cert), x->blind[0]);
    v[4] = off_val(r, p->val[TB__F_CUST_TYPE]);
    v[5] = blind_val(x, TB__C2_AD_NAME, pstr(r, p->val[TB__F_NAME]), x->blind[1]);
    v[6] = blind_val(x, TB__C2_AD_MOBILE, pstr(r, p->val[TB__F_MOBILE]), x->blind[2]);
    v[8] = tb__meta_text(x->batch_date);
    v[9] = tb__meta_int(x->load_id);
    if (!tb__c2_on(x->db)) {
        v[7] = (tb__meta_val){TB__VAL_TEXT, 0, x->attrs.data ? x->attrs.data : "", x->attrs.len};
        return 0; /* cert_enc stays NULL */
    }
    int rc =
        sealed_val(x, TB__C2_AD_ATTRS, x->attrs.data ? x->attrs.data : "", &x->sealed[0], &v[7]);
    if (!rc) rc = sealed_val(x, TB__C2_AD_CERT, pstr(r, p->cert), &x->sealed[1], &v[10]);
    return rc;
}

static int party_row(void *arg, size_t row, tb__meta_val *v)
{
    struct rowctx *x = arg;
    return party_vals(x, (uint32_t)(x->from + row), v);
}

/* The secondary indexes that a bulk first load rebuilds instead of updating row by row:
 * inserting a million rows into a B-tree index in random order costs several times more than
 * sorting them once at CREATE INDEX. The SQL must stay identical to the migration's (test_identity
 * checks the schema is unchanged after a bulk commit). The look-ups of golden records themselves
 * are in the look-up image (store/mdx.h), built beside the rows (image_start). */
static const struct {
    tb__stmt_id drop_id, create_id;
    const char *drop, *create;
} bulk_indexes[] = {
    {TB__STMT_ID_BULK_DROP, TB__STMT_ID_BULK_CREATE, "DROP INDEX party_relation_by_target",
     "CREATE INDEX party_relation_by_target ON party_relation (rel_type, target)"},
};
#define BULK_MIN_PARTIES 100000 /* and more new parties than stored ones */

static int bulk_indexes_run(tb_db *db, int create)
{
    for (size_t i = 0; i < sizeof bulk_indexes / sizeof bulk_indexes[0]; i++) {
        sqlite3_stmt *st;
        int rc = tb__meta_stmt(db, create ? bulk_indexes[i].create_id : bulk_indexes[i].drop_id,
                               create ? bulk_indexes[i].create : bulk_indexes[i].drop, &st);
        if (!rc)
            rc = tb__meta_run(db, st, create ? "cannot rebuild an index" : "cannot drop an index");
        if (rc) return rc;
    }
    return 0;
}

static int commit_rows(const tb__idres *r, const tb__idres *since, tb_db *db,
                       const char *batch_date, int64_t load_id, int keys);

void tb__idres_set_bulk_min(tb__idres *r, uint32_t n)
{
    r->bulk_min = n;
}

int tb__idres_commit(tb__idres *r, tb_db *db, const char *batch_date, int64_t load_id)
{
    int rc = tb__idres_write(r, db, batch_date, load_id);
    if (!rc) tb__idres_written(r);
    return rc;
}

/* 1 when the session's new parties are many enough for a bulk write (indexes dropped, then
 * rebuilt). A two-part write decides once, from the image (tb__idres_write_first drops,
 * tb__idres_write_since rebuilds): an image below the threshold only forgoes the bulk path. */
static int bulk_write(const tb__idres *r)
{
    uint32_t fresh = r->nparty - r->nsaved_party;
    return fresh >= (r->bulk_min ? r->bulk_min : BULK_MIN_PARTIES) && fresh > r->nsaved_party;
}

/* The look-up image of the golden records as `r` holds them (what commit_rows stored): certificate,
 * mobile and name as bound in plaintext, every key with its gid. An encrypted store's columns hold
 * blind indexes: its image is read back from the rows instead (identity_md.c). */
static int image_from_session(const tb__idres *r, tb__mdx_builder *b, tb__errbuf *eb)
{
    uint8_t sys[MAX_SYSTEMS];
    int rc = 0;
    for (unsigned i = 0; rc == 0 && i < r->nsys; i++)
        rc = tb__mdx_builder_system(b, r->sys[i].name, &sys[i], eb);
    for (uint32_t g = 0; rc == 0 && g < r->nparty; g++) {
        const struct party *p = &r->party[g];
        static const struct {
            tb__mdx_field f;
            int field; /* -1: the certificate */
        } cols[] = {{TB__MDX_CERT, -1}, {TB__MDX_MOBILE, TB__F_MOBILE}, {TB__MDX_NAME, TB__F_NAME}};
        for (size_t c = 0; rc == 0 && c < sizeof cols / sizeof cols[0]; c++) {
            uint32_t off = cols[c].field < 0 ? p->cert : p->val[cols[c].field];
            if (off) rc = tb__mdx_put(b, cols[c].f, g, r->pool + off, strlen(r->pool + off), eb);
        }
    }
    for (uint32_t i = 0; rc == 0 && i < r->nkeys; i++) {
        const struct keyent *e = &r->keys[i];
        rc =
            tb__mdx_put_key(b, e->gid, sys[e->sys], r->pool + e->off, strlen(r->pool + e->off), eb);
    }
    return rc;
}

/* The look-up image of the store as the session leaves it (docs/identity.md), in the making. From
 * the session it depends on nothing the rows write, so it is built and written on a thread of its
 * own while they are (at 10M customers it took 4.4-4.7 s at the end of the second writer, the last
 * thing the load waited for); an encrypted store's image is read back from the rows once they are
 * written. */
struct image_job {
    const tb__idres *r;
    tb__mdx_builder *b;
    char *rel, *abs; /* the file, new (tb__mdx_new_path) */
    int started, rc;
    tb__errbuf err; /* the thread's own */
    pthread_t tid;
};

static void *image_run(void *arg)
{
    struct image_job *j = arg;
    j->rc = image_from_session(j->r, j->b, &j->err);
    if (!j->rc) j->rc = tb__mdx_builder_write(j->b, j->abs, &j->err);
    return NULL;
}

/* Starts the image of `r` on a thread of its own where it can be built before the rows are
 * written (not in an encrypted store); 0, or an error on the handle (a new file's name). */
static int image_start(const tb__idres *r, tb_db *db, int64_t load_id, struct image_job *j)
{
    memset(j, 0, sizeof *j);
    j->r = r;
    if (tb__mdx_builder_create(r->nparty, load_id, &j->b))
        return tb__seterr(tb__db_err(db), TB_ENOMEM, "out of memory");
    int rc = tb__mdx_new_path(db, load_id, &j->rel, &j->abs);
    if (!rc && !tb__c2_on(db)) j->started = pthread_create(&j->tid, NULL, image_run, j) == 0;
    return rc;
}

/* Ends the image `j` (image_start): waits for its thread, or builds it here; then, if `record`,
 * records it as current in the caller's transaction (a crash before the commit leaves the previous
 * image current; the new file is an orphan tb__mdx_prune removes). Frees what j holds. */
static int image_end(struct image_job *j, tb_db *db, int64_t load_id, int record)
{
    tb__errbuf *eb = tb__db_err(db);
    int rc = 0;
    if (j->started) {
        pthread_join(j->tid, NULL);
        if ((rc = j->rc) != 0) *eb = j->err;
    } else if (record && j->b) {
        rc = tb__c2_on(db) ? tb__mdx_put_store(db, j->b) : image_from_session(j->r, j->b, eb);
        if (!rc) rc = tb__mdx_builder_write(j->b, j->abs, eb);
    }
    if (!rc && record) rc = tb__mdx_record(db, j->rel, load_id);
    tb__mdx_builder_free(j->b);
    free(j->rel);
    free(j->abs);
    memset(j, 0, sizeof *j);
    return rc;
}

/* The steps of a write: `drop` the bulk indexes first, rows from `since` on (NULL: from the stored
 * state), `rebuild` the indexes after; the `last` step writes the look-up image. */
static int write_steps(const tb__idres *r, const tb__idres *since, tb_db *db,
                       const char *batch_date, int64_t load_id, int drop, int rebuild, int last)
{
    if (!batch_date || !*batch_date)
        return tb__seterr(tb__db_err(db), TB_EINVAL, "identity commit needs a batch date");
    if (sqlite3_get_autocommit(tb__db_sqlite(db)))
        return tb__seterr(tb__db_err(db), TB_EINVAL,
                          "identity commit must run inside the caller's transaction");
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    struct image_job image = {0};
    int rc = last ? image_start(r, db, load_id, &image) : 0;
    if (!rc && drop) rc = bulk_indexes_run(db, 0);
    if (!rc) rc = commit_rows(r, since, db, batch_date, load_id, last);
    double rows_s = tb__seconds_since(&t0);
    if (!rc && rebuild) {
        rc = tb__meta_sort_mode(db, 1);
        if (!rc) rc = bulk_indexes_run(db, 1);
        if (rc) {
            tb__errbuf kept = *tb__db_err(db); /* the first error is the one to report */
            (void)tb__meta_sort_mode(db, 0);
            *tb__db_err(db) = kept;
        } else {
            rc = tb__meta_sort_mode(db, 0);
        }
    }
    double index_s = tb__seconds_since(&t0) - rows_s;
    if (last) {
        tb__errbuf kept = *tb__db_err(db); /* the first error is the one to report */
        int irc = image_end(&image, db, load_id, rc == 0);
        if (rc)
            *tb__db_err(db) = kept;
        else
            rc = irc;
    }
    tb__log_debug("identity",
                  "%u parties from %u, %u keys: rows %.2f s, indexes %.2f s, image (waited) %.2f s",
                  r->nparty - (since ? since->nparty : r->nsaved_party),
                  since ? since->nparty : r->nsaved_party, last ? r->nkeys - r->nsaved_keys : 0,
                  rows_s, index_s, last ? tb__seconds_since(&t0) - rows_s - index_s : 0.0);
    return rc;
}

int tb__idres_write(const tb__idres *r, tb_db *db, const char *batch_date, int64_t load_id)
{
    int bulk = bulk_write(r);
    return write_steps(r, NULL, db, batch_date, load_id, bulk, bulk, 1);
}

int tb__idres_write_first(const tb__idres *image, tb_db *db, const char *batch_date,
                          int64_t load_id)
{
    return write_steps(image, NULL, db, batch_date, load_id, bulk_write(image), 0, 0);
}

int tb__idres_write_since(const tb__idres *r, const tb__idres *image, tb_db *db,
                          const char *batch_date, int64_t load_id)
{
    return write_steps(r, image, db, batch_date, load_id, 0, bulk_write(image), 1);
}

/* 1 when a party's stored fields differ from its copy in an image. */
static int party_changed(const struct party *a, const struct party *b)
{
    return memcmp(a->val, b->val, sizeof a->val) != 0 ||
           memcmp(a->day, b->day, sizeof a->day) != 0 ||
           memcmp(a->src, b->src, sizeof a->src) != 0 || a->kind != b->kind || a->cert != b->cert ||
           a->cert_type != b->cert_type || a->merged != b->merged;
}

/* The changed parties (since the image `since`, or since the store: the dirty ones) of gids
 * 0..to-1 are updated one statement each: a daily load changes few golden records. */
static int update_parties(struct rowctx *x, const tb__idres *since, uint32_t to)
{
    const tb__idres *r = x->r;
    sqlite3_stmt *st;
    int rc = tb__meta_stmt(x->db, TB__STMT_ID_UPD_PARTY,
                           "UPDATE party SET kind = ?2, cert_type = ?3, cert_no = ?4, "
                           "cust_type = ?5, name = ?6, mobile = ?7, attrs = ?8, last_batch = ?9, "
                           "last_load = ?10, cert_enc = ?11 WHERE gid = ?1",
                           &st);
    tb__meta_val v[PARTY_VALS];
    for (uint32_t g = 0; rc == 0 && g < to; g++) {
        if (since ? !party_changed(&r->party[g], &since->party[g])
                  : !(r->party[g].flags & PARTY_DIRTY))
            continue;
        for (int i = 0; i < PARTY_VALS; i++)
            v[i] = (tb__meta_val){TB__VAL_NULL, 0, NULL, 0};
        rc = party_vals(x, g, v);
        if (!rc && tb__meta_bind_vals(st, v, PARTY_VALS))
            rc = tb__seterr(tb__db_err(x->db), TB_ESTORE, "cannot bind the values of a party");
        if (rc) {
            tb__meta_stmt_done(st);
            return rc;
        }
        rc = tb__meta_run(x->db, st, "cannot update a party");
    }
    return rc;
}

static int key_row(void *arg, size_t row, tb__meta_val *v)
{
    struct rowctx *x = arg;
    const struct keysort *o = &x->korder[row];
    v[0] = tb__meta_text(x->r->sys[o->sys].name);
    if (o->longer) {
        v[1] = tb__meta_text(x->r->pool + x->r->keys[o->idx].off);
    } else {
        /* A key of up to KEYSORT_BYTES is in its sort entry already: no trip to the pool. */
        for (int i = 0; i < 7; i++)
            x->key[i] = (char)(o->hi >> (48 - 8 * i));
        for (int i = 0; i < 8; i++)
            x->key[7 + i] = (char)(o->lo >> (56 - 8 * i));
        v[1] = (tb__meta_val){TB__VAL_TEXT, 0, x->key, strnlen(x->key, KEYSORT_BYTES)};
    }
    v[2] = tb__meta_int(o->gid);
    v[3] = tb__meta_text(x->batch_date);
    v[4] = tb__meta_int(x->load_id);
    return 0;
}

static int history_row(void *arg, size_t row, tb__meta_val *v)
{
    struct rowctx *x = arg;
    const struct hist *h = &x->r->hist[x->from + row];
    v[0] = tb__meta_int(h->gid);
    v[1] = tb__meta_text(x->batch_date);
    v[2] = tb__meta_int(x->load_id);
    v[3] = tb__meta_text(field_names[h->field]);
    int rc = sealed_val(x, TB__C2_AD_HISTORY, pstr(x->r, h->old_off), &x->sealed[0], &v[4]);
    if (!rc) rc = sealed_val(x, TB__C2_AD_HISTORY, pstr(x->r, h->new_off), &x->sealed[1], &v[5]);
    v[6] = tb__meta_text(x->r->sys[h->sys].name);
    v[7] = tb__meta_text(x->now);
    return rc;
}

static int conflict_row(void *arg, size_t row, tb__meta_val *v)
{
    struct rowctx *x = arg;
    const struct conflict *c = &x->r->confl[x->from + row];
    v[0] = tb__meta_int(c->gid);
    v[1] = tb__meta_text(x->batch_date);
    v[2] = tb__meta_int(x->load_id);
    v[3] = tb__meta_text(field_names[c->field]);
    v[4] = tb__meta_text(
        tb__mask_field(c->field, x->r->pool + c->a_off, x->masked[0], sizeof x->masked[0]));
    v[5] = tb__meta_text(x->r->sys[c->a_sys].name);
    v[6] = tb__meta_text(
        tb__mask_field(c->field, x->r->pool + c->b_off, x->masked[1], sizeof x->masked[1]));
    v[7] = tb__meta_text(x->r->sys[c->b_sys].name);
    v[8] = tb__meta_text(c->chosen_b ? "b" : "a");
    return 0;
}

static int relation_row(void *arg, size_t row, tb__meta_val *v)
{
    struct rowctx *x = arg;
    const struct relation *l = &x->r->rel[x->rorder[row].idx];
    const char *target = x->r->pool + l->target_off;
    v[0] = tb__meta_int(l->gid);
    v[1] = tb__meta_text(rel_names[l->type]);
    v[2] = tb__meta_text(target);
    if (l->target_gid != TB__GID_NONE) v[3] = tb__meta_int(l->target_gid);
    v[4] = off_val(x->r, l->role_off);
    v[5] = tb__meta_text(x->batch_date);
    v[6] = tb__meta_int(x->load_id);
    /* A legal representative is a person's name (C2): a blind index keeps the relation's key, the
     * name itself is sealed in target_enc. Other targets are codes. */
    if (l->type == TB__REL_LEGAL_REP && tb__c2_on(x->db)) {
        v[2] = blind_val(x, TB__C2_AD_LEGAL, target, x->blind[0]);
        return sealed_val(x, TB__C2_AD_LEGAL, target, &x->sealed[0], &v[7]);
    }
    return 0;
}

/* Writes the session's rows (tb__idres_commit has checked the transaction): each table's new rows
 * in one INSERT ... SELECT from tb_rows (store/meta.h); the golden records new since `since` (or
 * the store), and only with `keys` the keys new since the store and all of the session's history,
 * conflicts and relations (tb__idres_write_first leaves them to tb__idres_write_since). */
static int commit_rows(const tb__idres *r, const tb__idres *since, tb_db *db,
                       const char *batch_date, int64_t load_id, int keys)
{
    /* What is new: after the image `since`, or after the store. The golden records alone are
     * written in two parts; the keys, history, conflicts and relations all by the last part
     * (`keys`), each table in one pass: relations and conflicts written by the first part were
     * the ones the second part's inserts then split and updated, pages already in the
     * write-ahead log. SQLite writes such a page over its earlier frame and, at the COMMIT, reads
     * back every frame from the first one it overwrote to recompute their checksums: at 10M
     * customers half the log, 1.5 GB, read and every frame's header written again. */
    uint32_t party0 = since ? since->nparty : r->nsaved_party;
    uint32_t key0 = r->nsaved_keys;
    size_t hist0 = keys ? 0 : r->nhist, confl0 = keys ? 0 : r->nconfl, rel0 = keys ? 0 : r->nrel;
    char now[TB__TIME_TEXT_LEN];
    tb__now_text(now);
    struct rowctx x = {.r = r, .db = db, .batch_date = batch_date, .now = now, .load_id = load_id};
    struct timespec t0;
    double t_ins = 0, t_upd = 0, t_key = 0, t_hist = 0, t_confl = 0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    x.from = party0;
    int rc = tb__meta_insert_rows(
        db, TB__STMT_ID_INS_PARTY,
        "INSERT INTO party (gid, kind, cert_type, cert_no, cust_type, name, mobile, attrs, "
        "first_batch, last_batch, first_load, last_load, cert_enc) "
        "SELECT c0, c1, c2, c3, c4, c5, c6, c7, c8, c8, c9, c9, c10 FROM tb_rows",
        r->nparty - party0, PARTY_VALS, party_row, &x, "cannot insert a party");
    t_ins = tb__seconds_since(&t0);
    if (!rc) rc = update_parties(&x, since, party0);
    t_upd = tb__seconds_since(&t0);
    if (rc) goto out;
    /* Inserting in primary-key order turns random B-tree inserts into appends: persisting 1.4M
     * keys in first-seen (scrambled customer number) order is several times slower. */
    size_t nnew = keys ? r->nkeys - key0 : 0;
    struct keysort *order = nnew ? keys_sorted(r, key0) : NULL;
    double t_sort = tb__seconds_since(&t0) - t_upd;
    if (nnew && !order) {
        rc = tb__seterr(tb__db_err(db), TB_ENOMEM, "out of memory persisting party keys");
        goto out;
    }
    x.korder = order;
    rc = tb__meta_insert_rows(db, TB__STMT_ID_INS_KEY,
                              "INSERT INTO party_key (system, key, gid, first_batch, load_id) "
                              "SELECT c0, c1, c2, c3, c4 FROM tb_rows",
                              nnew, 5, key_row, &x, "cannot insert a party key");
    free(order);
    t_key = tb__seconds_since(&t0);
    if (rc) goto out;
    x.from = hist0;
    rc = tb__meta_insert_rows(db, TB__STMT_ID_INS_HISTORY,
                              "INSERT INTO party_history (gid, batch_date, load_id, field, "
                              "old_value, new_value, source, changed_at) "
                              "SELECT c0, c1, c2, c3, c4, c5, c6, c7 FROM tb_rows",
                              r->nhist - hist0, 8, history_row, &x, "cannot record party history");
    t_hist = tb__seconds_since(&t0);
    if (rc) goto out;
    x.from = confl0;
    rc = tb__meta_insert_rows(db, TB__STMT_ID_INS_CONFLICT,
                              "INSERT INTO party_conflict (gid, batch_date, load_id, field, "
                              "value_a, source_a, value_b, source_b, chosen) "
                              "SELECT c0, c1, c2, c3, c4, c5, c6, c7, c8 FROM tb_rows",
                              r->nconfl - confl0, 9, conflict_row, &x,
                              "cannot record a survivorship conflict");
    t_confl = tb__seconds_since(&t0);
    if (rc) goto out;
    struct relsort *rorder = r->nrel > rel0 ? relations_sorted(r, rel0) : NULL;
    if (r->nrel > rel0 && !rorder) {
        rc = tb__seterr(tb__db_err(db), TB_ENOMEM, "out of memory persisting relations");
        goto out;
    }
    x.rorder = rorder;
    rc = tb__meta_insert_rows(db, TB__STMT_ID_UPS_RELATION,
                              "INSERT OR REPLACE INTO party_relation (gid, rel_type, target, "
                              "target_gid, role, batch_date, load_id, target_enc) "
                              "SELECT c0, c1, c2, c3, c4, c5, c6, c7 FROM tb_rows",
                              r->nrel - rel0, 8, relation_row, &x, "cannot record a relation");
    free(rorder);
    tb__log_debug("identity",
                  "rows: parties inserted %.2f s, updated %.2f s, keys %.2f s (%zu; sort %.2f s), "
                  "history %.2f s (%zu), conflicts %.2f s (%zu), relations %.2f s (%zu)",
                  t_ins, t_upd - t_ins, t_key - t_upd, nnew, t_sort, t_hist - t_key,
                  r->nhist - hist0, t_confl - t_hist, r->nconfl - confl0,
                  tb__seconds_since(&t0) - t_confl, r->nrel - rel0);
out:
    rowctx_release(&x);
    return rc;
}

/* The session is now in the caller's transaction: start the next one from here. */
void tb__idres_written(tb__idres *r)
{
    for (uint32_t g = 0; g < r->nparty; g++)
        r->party[g].flags &= (uint8_t)~PARTY_DIRTY;
    if (r->nparty) memset(r->touched, 0, (size_t)r->nparty * sizeof *r->touched);
    r->nsaved_party = r->nparty;
    r->nsaved_keys = r->nkeys;
    r->nhist = r->nconfl = r->nrel = 0;
    memset(&r->stats, 0, sizeof r->stats);
}
