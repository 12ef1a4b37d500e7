/* realtime.c — real-time tag rules, their windows and memberships, and realtime.bin (realtime.h).
 *
 * realtime.bin: "TBRT0001", u32 tag count, then per tag: u16 code length, code, u32 member count,
 * members as (u32 gid, i64 expiry ms) sorted by gid; then a CRC-32C of all before it. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/crc32c.h"
#include "common/log.h"
#include "events/evmeta.h"
#include "events/evstore.h"
#include "events/realtime.h"
#include "store/file.h"

#define MAX_COUNT   16
#define MAX_RULES   256
#define MAX_SECONDS (3650 * 86400) /* ttl_s and within_s: ten years */

typedef enum op { OP_EQ, OP_NE, OP_GT, OP_GTE, OP_LT, OP_LTE } op;

typedef struct cond {
    char *prop;
    op op;
    json_t *value;
} cond;

/* What one person has done lately for a rule: the last `count` matching times, and the time the
 * tag ends for them (0: not a member). */
typedef struct entry {
    uint32_t root;
    int64_t until;
    int64_t ts[MAX_COUNT];
    uint8_t nts;
} entry;

typedef struct rule {
    char *tag, *event;
    cond *conds;
    size_t nconds;
    int count;
    int64_t within_ms, ttl_ms;
    entry *e;
    size_t ne, cap;
    uint32_t *ix; /* open addressing over e[]: slot holds index + 1, 0 empty */
    size_t ixcap; /* a power of two, at least twice ne; 0 when it must be rebuilt */
} rule;

struct tb__rt {
    char path[4200];
    rule *rules;
    size_t nrules;
    int dirty;
    struct timespec last;
};

static const struct {
    const char *name;
    op op;
} ops[] = {{"eq", OP_EQ},   {"ne", OP_NE}, {"gt", OP_GT},
           {"gte", OP_GTE}, {"lt", OP_LT}, {"lte", OP_LTE}};

/* Parses rules; fills rt when given, else only checks. */
static int parse_rules(const char *text, tb__rt *rt, char *why, size_t cap)
{
    json_error_t je;
    json_t *root = json_loads(text, 0, &je);
    if (!root) {
        snprintf(why, cap, "rules are not JSON: %s at line %d column %d", je.text, je.line,
                 je.column);
        return TB_EFORMAT;
    }
    json_t *list = json_object_get(root, "rules");
    int rc = TB_EFORMAT;
    if (!json_is_array(list) || json_array_size(list) > MAX_RULES) {
        snprintf(why, cap, "field 'rules': expected an array of at most %d rules", MAX_RULES);
        goto out;
    }
    if (rt) {
        rt->rules = calloc(json_array_size(list) + 1, sizeof *rt->rules);
        if (!rt->rules) {
            rc = TB_ENOMEM;
            goto out;
        }
    }
    size_t i;
    json_t *r;
    json_array_foreach(list, i, r)
    {
        const char *tag = json_string_value(json_object_get(r, "tag"));
        const char *ev = json_string_value(json_object_get(r, "event"));
        json_t *cnt = json_object_get(r, "count"), *within = json_object_get(r, "within_s"),
               *ttl = json_object_get(r, "ttl_s"), *where = json_object_get(r, "where");
        if (!tag || !*tag || strlen(tag) > 64) {
            snprintf(why, cap, "rules[%zu].tag: expected the code of a real-time tag", i);
            goto out;
        }
        if (!ev || !*ev) {
            snprintf(why, cap, "rules[%zu].event: expected an event name", i);
            goto out;
        }
        if (cnt && (!json_is_integer(cnt) || json_integer_value(cnt) < 1 ||
                    json_integer_value(cnt) > MAX_COUNT)) {
            snprintf(why, cap, "rules[%zu].count: expected 1 to %d", i, MAX_COUNT);
            goto out;
        }
        /* At most ten years, so that the milliseconds (and ts + ttl) cannot overflow. */
        if (!json_is_integer(ttl) || json_integer_value(ttl) < 1 ||
            json_integer_value(ttl) > MAX_SECONDS) {
            snprintf(why, cap, "rules[%zu].ttl_s: expected seconds (1 to %d) the tag lasts", i,
                     MAX_SECONDS);
            goto out;
        }
        if (within && (!json_is_integer(within) || json_integer_value(within) < 1 ||
                       json_integer_value(within) > MAX_SECONDS)) {
            snprintf(why, cap, "rules[%zu].within_s: expected seconds (1 to %d)", i, MAX_SECONDS);
            goto out;
        }
        if (where && !json_is_object(where)) {
            snprintf(why, cap, "rules[%zu].where: expected an object of property conditions", i);
            goto out;
        }
        rule *x = rt ? &rt->rules[rt->nrules] : NULL;
        if (x) {
            x->tag = strdup(tag);
            x->event = strdup(ev);
            x->count = cnt ? (int)json_integer_value(cnt) : 1;
            x->within_ms = within ? json_integer_value(within) * 1000 : INT64_MAX / 4;
            x->ttl_ms = json_integer_value(ttl) * 1000;
            x->conds = calloc(json_object_size(where) + 1, sizeof *x->conds);
            rt->nrules++;
            if (!x->tag || !x->event || !x->conds) {
                rc = TB_ENOMEM;
                goto out;
            }
        }
        const char *prop;
        json_t *c;
        json_object_foreach(where, prop, c)
        {
            op o = OP_EQ;
            json_t *val = c;
            if (json_is_object(c)) {
                if (json_object_size(c) != 1) {
                    snprintf(why, cap, "rules[%zu].where.%.60s: expected one operator", i, prop);
                    goto out;
                }
                const char *name = json_object_iter_key(json_object_iter(c));
                val = json_object_iter_value(json_object_iter(c));
                size_t k = 0, nops = sizeof ops / sizeof ops[0];
                while (k < nops && strcmp(ops[k].name, name))
                    k++;
                if (k == nops) {
                    snprintf(why, cap,
                             "rules[%zu].where.%.60s: unknown operator '%.20s' (eq, ne, gt, gte, "
                             "lt, lte)",
                             i, prop, name);
                    goto out;
                }
                o = ops[k].op;
                if (o >= OP_GT && !json_is_number(val)) {
                    snprintf(why, cap, "rules[%zu].where.%.60s: '%s' needs a number", i, prop,
                             name);
                    goto out;
                }
            }
            if (x) {
                cond *cd = &x->conds[x->nconds++];
                cd->prop = strdup(prop);
                cd->op = o;
                cd->value = json_incref(val);
                if (!cd->prop) {
                    rc = TB_ENOMEM;
                    goto out;
                }
            }
        }
    }
    rc = 0;
out:
    json_decref(root);
    return rc;
}

int tb__ev_rules_check(const char *text, char *why, size_t cap)
{
    return parse_rules(text, NULL, why, cap);
}

int tb__rt_create(const char *events_dir, const char *rules, tb__rt **out, tb__errbuf *eb)
{
    *out = NULL;
    tb__rt *rt = calloc(1, sizeof *rt);
    if (!rt) return tb__seterr(eb, TB_ENOMEM, "out of memory");
    snprintf(rt->path, sizeof rt->path, "%s/realtime.bin", events_dir);
    if (rules) {
        char why[300] = "out of memory";
        int rc = parse_rules(rules, rt, why, sizeof why);
        if (rc) {
            tb__rt_free(rt);
            return tb__seterr(eb, rc, "real-time rules: %s", why);
        }
    }
    rt->dirty = 1;
    *out = rt;
    return 0;
}

void tb__rt_free(tb__rt *rt)
{
    if (!rt) return;
    for (size_t i = 0; i < rt->nrules; i++) {
        rule *r = &rt->rules[i];
        for (size_t k = 0; k < r->nconds; k++) {
            free(r->conds[k].prop);
            json_decref(r->conds[k].value);
        }
        free(r->conds);
        free(r->tag);
        free(r->event);
        free(r->e);
        free(r->ix);
    }
    free(rt->rules);
    free(rt);
}

static int holds(const cond *c, json_t *v)
{
    if (!v) return 0;
    if (c->op == OP_EQ) return json_equal(v, c->value);
    if (c->op == OP_NE) return !json_equal(v, c->value);
    if (!json_is_number(v)) return 0;
    double a = json_number_value(v), b = json_number_value(c->value);
    switch (c->op) {
    case OP_GT:
        return a > b;
    case OP_GTE:
        return a >= b;
    case OP_LT:
        return a < b;
    default:
        return a <= b;
    }
}

static size_t ix_slot(const rule *r, uint32_t root)
{
    size_t j = (size_t)(root * 0x9E3779B1u) & (r->ixcap - 1);
    while (r->ix[j] && r->e[r->ix[j] - 1].root != root)
        j = (j + 1) & (r->ixcap - 1);
    return j;
}

/* Rebuilds the index for ne entries (after a load, a forget, or growth). 0 or TB_ENOMEM. */
static int reindex(rule *r, size_t want)
{
    size_t cap = 64;
    while (cap < 2 * want)
        cap *= 2;
    uint32_t *ix = calloc(cap, sizeof *ix);
    if (!ix) return TB_ENOMEM;
    free(r->ix);
    r->ix = ix;
    r->ixcap = cap;
    for (size_t i = 0; i < r->ne; i++)
        r->ix[ix_slot(r, r->e[i].root)] = (uint32_t)i + 1;
    return 0;
}

/* The entry of `root` for rule r, created empty when new; NULL when out of memory. Indexed: rules
 * like "three failed logins" keep an entry per person who ever matched, so a scan would grow with
 * them. */
static entry *entry_of(rule *r, uint32_t root)
{
    if (!r->ixcap || 2 * (r->ne + 1) > r->ixcap)
        if (reindex(r, r->ne + 1)) return NULL;
    size_t j = ix_slot(r, root);
    if (r->ix[j]) return &r->e[r->ix[j] - 1];
    if (r->ne == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 64;
        entry *t = realloc(r->e, cap * sizeof *t);
        if (!t) return NULL;
        r->e = t;
        r->cap = cap;
    }
    entry *e = &r->e[r->ne++];
    memset(e, 0, sizeof *e);
    e->root = root;
    r->ix[j] = (uint32_t)r->ne;
    return e;
}

void tb__rt_observe(tb__rt *rt, uint32_t root, const char *event, const char *props, size_t plen,
                    int64_t ts_ms)
{
    json_t *p = NULL;
    int parsed = 0;
    for (size_t i = 0; i < rt->nrules; i++) {
        rule *r = &rt->rules[i];
        if (strcmp(r->event, event) != 0) continue;
        if (!parsed) {
            p = json_loadb(props, plen, 0, NULL);
            parsed = 1;
        }
        size_t k = 0;
        while (k < r->nconds && holds(&r->conds[k], json_object_get(p, r->conds[k].prop)))
            k++;
        if (k < r->nconds) continue;
        entry *e = entry_of(r, root);
        if (!e) continue;
        /* Keep the newest `count` times; the tag is set when they all fall within the window. */
        if (e->nts == r->count) {
            memmove(e->ts, e->ts + 1, (size_t)(r->count - 1) * sizeof e->ts[0]);
            e->nts--;
        }
        e->ts[e->nts++] = ts_ms;
        /* Compared without a subtraction of the two times: ts[0] may come from a checkpoint. */
        if (e->nts == r->count && e->ts[0] >= ts_ms - r->within_ms) {
            int64_t until = ts_ms + r->ttl_ms;
            if (until > e->until) {
                e->until = until;
                rt->dirty = 1;
            }
        }
    }
    json_decref(p);
}

void tb__rt_forget(tb__rt *rt, const uint8_t *gone, size_t npersons)
{
    for (size_t i = 0; i < rt->nrules; i++) {
        rule *r = &rt->rules[i];
        size_t k = 0;
        for (size_t x = 0; x < r->ne; x++)
            if (r->e[x].root >= npersons || !gone[r->e[x].root]) r->e[k++] = r->e[x];
        if (k != r->ne) rt->dirty = 1;
        r->ne = k;
        r->ixcap = 0; /* entries moved: rebuild the index on next use */
    }
}

static int put(tb__buf *b, const void *p, size_t n)
{
    return tb__buf_append(b, p, n);
}

int tb__rt_save(const tb__rt *rt, tb__buf *b)
{
    uint32_t n = (uint32_t)rt->nrules;
    if (put(b, &n, 4)) return TB_ENOMEM;
    for (size_t i = 0; i < rt->nrules; i++) {
        const rule *r = &rt->rules[i];
        uint16_t tl = (uint16_t)strlen(r->tag);
        uint64_t ne = r->ne;
        if (put(b, &tl, 2) || put(b, r->tag, tl) || put(b, &ne, 8) ||
            (ne && put(b, r->e, ne * sizeof *r->e)))
            return TB_ENOMEM;
    }
    return 0;
}

/* Restores the windows of rules that still exist (matched by tag); others are dropped. */
int tb__rt_load(tb__rt *rt, const uint8_t *p, size_t n)
{
    size_t at = 0;
    uint32_t cnt;
    if (n < 4) return TB_ECORRUPT;
    memcpy(&cnt, p, 4);
    at = 4;
    for (uint32_t i = 0; i < cnt; i++) {
        uint16_t tl;
        uint64_t ne;
        if (n - at < 2) return TB_ECORRUPT;
        memcpy(&tl, p + at, 2);
        at += 2;
        if (n - at < (size_t)tl + 8) return TB_ECORRUPT;
        const char *tag = (const char *)p + at;
        at += tl;
        memcpy(&ne, p + at, 8);
        at += 8;
        if (ne > (n - at) / sizeof(entry)) return TB_ECORRUPT;
        for (size_t k = 0; k < rt->nrules; k++) {
            rule *r = &rt->rules[k];
            /* r->e, not r->ne: a tag listed twice must not leak the first copy. */
            if (strlen(r->tag) != tl || memcmp(r->tag, tag, tl) != 0 || r->e) continue;
            r->e = malloc(ne * sizeof *r->e + 1);
            if (!r->e) return TB_ENOMEM;
            memcpy(r->e, p + at, ne * sizeof *r->e);
            r->ne = r->cap = ne;
            r->ixcap = 0;
            for (size_t x = 0; x < ne; x++)
                if (r->e[x].nts > r->count) r->e[x].nts = (uint8_t)r->count;
        }
        at += ne * sizeof(entry);
    }
    rt->dirty = 1;
    return 0;
}

typedef struct member {
    uint32_t gid;
    int64_t until;
} member;

static int by_gid(const void *a, const void *b)
{
    const member *x = a, *y = b;
    return x->gid < y->gid ? -1 : x->gid > y->gid;
}

void tb__rt_publish(tb__rt *rt, const uint32_t *parent, const uint32_t *gid, size_t npersons,
                    int force)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    double since = (double)(now.tv_sec - rt->last.tv_sec) + (now.tv_nsec - rt->last.tv_nsec) / 1e9;
    if (!force && (!rt->dirty || since < 0.25)) return;
    tb__buf b = TB__BUF_INIT;
    uint32_t nt = (uint32_t)rt->nrules;
    int bad = put(&b, "TBRT0001", 8) || put(&b, &nt, 4);
    for (size_t i = 0; i < rt->nrules && !bad; i++) {
        rule *r = &rt->rules[i];
        member *m = malloc((r->ne + 1) * sizeof *m);
        if (!m) {
            bad = 1;
            break;
        }
        size_t k = 0;
        for (size_t x = 0; x < r->ne; x++) {
            if (!r->e[x].until) continue;
            uint32_t p = r->e[x].root;
            if (p >= npersons) continue;
            while (parent[p] != p)
                p = parent[p];
            if (gid[p] == TB__EV_NO_GID) continue;
            m[k++] = (member){gid[p], r->e[x].until};
        }
        qsort(m, k, sizeof *m, by_gid);
        size_t u = 0; /* one per customer: the latest end */
        for (size_t x = 0; x < k; x++) {
            if (u && m[u - 1].gid == m[x].gid) {
                if (m[x].until > m[u - 1].until) m[u - 1].until = m[x].until;
            } else
                m[u++] = m[x];
        }
        uint16_t tl = (uint16_t)strlen(r->tag);
        uint32_t nu = (uint32_t)u;
        bad = put(&b, &tl, 2) || put(&b, r->tag, tl) || put(&b, &nu, 4);
        for (size_t x = 0; x < u && !bad; x++)
            bad = put(&b, &m[x].gid, 4) || put(&b, &m[x].until, 8);
        free(m);
    }
    uint32_t crc = bad ? 0 : tb__crc32c(0, b.data, b.len);
    if (!bad) bad = put(&b, &crc, 4);
    if (!bad) {
        /* A derived file, rebuilt from the checkpoint and the log at every open: visibility
         * needs an atomic rename, not an fsync. */
        char tmp[4300];
        snprintf(tmp, sizeof tmp, "%s.tmp", rt->path);
        int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
        if (fd < 0 || tb__write_full(fd, b.data, b.len) || close(fd) || rename(tmp, rt->path)) {
            tb__log_warn("events", "cannot publish '%s': %s", rt->path, strerror(errno));
            if (fd >= 0) unlink(tmp);
        } else {
            rt->dirty = 0;
            rt->last = now;
        }
    }
    tb__buf_release(&b);
}

json_t *tb__rt_status(const tb__rt *rt)
{
    json_t *a = json_array();
    for (size_t i = 0; i < rt->nrules; i++) {
        size_t members = 0;
        for (size_t x = 0; x < rt->rules[i].ne; x++)
            members += rt->rules[i].e[x].until != 0;
        json_array_append_new(a, json_pack("{s:s,s:s,s:i,s:I,s:I,s:I}", "tag", rt->rules[i].tag,
                                           "event", rt->rules[i].event, "count", rt->rules[i].count,
                                           "within_s", (json_int_t)(rt->rules[i].within_ms / 1000),
                                           "ttl_s", (json_int_t)(rt->rules[i].ttl_ms / 1000),
                                           "persons_ever_tagged", (json_int_t)members));
    }
    return a;
}

int tb__rt_members_parse(const uint8_t *p, size_t len, const char *code, int64_t now_ms,
                         uint32_t **gids, size_t *n, tb__errbuf *eb)
{
    *gids = NULL;
    *n = 0;
    uint32_t crc, nt;
    if (len < 16 || memcmp(p, "TBRT0001", 8) != 0)
        return tb__seterr(eb, TB_ECORRUPT, "realtime.bin: bad magic or too short");
    memcpy(&crc, p + len - 4, 4);
    if (tb__crc32c(0, p, len - 4) != crc)
        return tb__seterr(eb, TB_ECORRUPT, "realtime.bin: checksum mismatch");
    len -= 4;
    memcpy(&nt, p + 8, 4);
    size_t at = 12;
    for (uint32_t i = 0; i < nt; i++) {
        uint16_t tl;
        uint32_t nm;
        if (len - at < 2) goto bad;
        memcpy(&tl, p + at, 2);
        at += 2;
        if (len - at < (size_t)tl + 4) goto bad;
        int match = strlen(code) == tl && memcmp(p + at, code, tl) == 0;
        at += tl;
        memcpy(&nm, p + at, 4);
        at += 4;
        if (nm > (len - at) / 12) goto bad;
        if (match) {
            uint32_t *g = malloc(((size_t)nm + 1) * sizeof *g);
            if (!g) return tb__seterr(eb, TB_ENOMEM, "out of memory");
            size_t k = 0;
            uint32_t prev = 0;
            for (uint32_t x = 0; x < nm; x++) {
                uint32_t gid;
                int64_t until;
                memcpy(&gid, p + at + 12 * (size_t)x, 4);
                memcpy(&until, p + at + 12 * (size_t)x + 4, 8);
                if (x && gid <= prev) {
                    free(g);
                    goto bad;
                }
                prev = gid;
                if (until > now_ms) g[k++] = gid;
            }
            *gids = g;
            *n = k;
            return 0;
        }
        at += 12 * (size_t)nm;
    }
    return TB_ENOENT;
bad:
    return tb__seterr(eb, TB_ECORRUPT, "realtime.bin: structure damaged at byte %zu", at);
}

int tb__rt_members(const char *data_dir, const char *code, int64_t now_ms, uint32_t **gids,
                   size_t *n, tb__errbuf *eb)
{
    *gids = NULL;
    *n = 0;
    char path[4200];
    snprintf(path, sizeof path, "%s/events/realtime.bin", data_dir);
    char *d;
    size_t len;
    int rc = tb__file_read_all(path, (size_t)1 << 32, &d, &len, eb);
    if (rc == TB_ENOENT) {
        tb__clearerr(eb);
        return TB_ENOENT;
    }
    if (rc) return rc;
    rc = tb__rt_members_parse((const uint8_t *)d, len, code, now_ms, gids, n, eb);
    free(d);
    return rc;
}
