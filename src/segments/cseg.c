/* cseg.c — saved segments (客群): the query context, segment('name'), save, import, list, show,
 * diff, overlap and the refresh after each tag build; and tb_seg_count, the one entry point of
 * customer finding (搜客). See cseg.h. */
#include <inttypes.h>
#include <pthread.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/mask.h"
#include "pipeline/identity.h"
#include "pipeline/standard.h"
#include "pipeline/segment.h"
#include "store/file.h"
#include "store/meta.h"
#include "events/evbehav.h"
#include "events/evpart_int.h"
#include "segments/cseg.h"
#include "tags/build.h"

#define NAME_MAX_BYTES 64
#define MAX_DEPTH      16 /* segment('a') referring to segment('b') ... */

typedef struct loaded {
    char *name;
    char *buf; /* the file's bytes (or a serialised evaluation) */
    size_t len;
    tb__bmv v;
} loaded;

struct tb__segctx {
    tb_db *db;
    tb__tagset *ts;
    char batch[9];
    int scoped;
    char *scope_buf; /* the serialised scope bitmap */
    tb__bmv scope;   /* the universe of a scoped context */
    loaded **seg;    /* each entry allocated on its own: views handed out must not move */
    size_t nseg;
    int depth;
    tb__arena arena;
    tb__errbuf eb;
};

const tb__tagset *tb__segctx_tags(const tb__segctx *c)
{
    return c->ts;
}

const tb__bmv *tb__segctx_universe(const tb__segctx *c)
{
    return c->scoped ? &c->scope : tb__tagset_universe(c->ts);
}
const char *tb__segctx_batch(const tb__segctx *c)
{
    return c->batch;
}

/* Open tag stores, shared by every context of the process (a server answers many queries on the
 * same store: opening it maps and checks hundreds of files). A store is immutable and may be read
 * by any number of threads; an entry is closed when it is neither in use nor among the newest
 * CACHE_SLOTS used. Builds live in new directories, so a cached store is never stale. */
#define CACHE_SLOTS 4

typedef struct cached {
    char *dir;
    tb__tagset *ts;
    int refs;
    uint64_t used;
    int stale; /* dropped while in use (an erasure replaced the store): closed at last release */
} cached;

static pthread_mutex_t g_cache_mu = PTHREAD_MUTEX_INITIALIZER;
static cached g_cache[CACHE_SLOTS];
static uint64_t g_cache_clock;
static pthread_once_t g_cache_once = PTHREAD_ONCE_INIT;

/* At exit, the stores nobody uses any more are unmapped (leak checkers see a clean exit). */
static void cache_clear(void)
{
    pthread_mutex_lock(&g_cache_mu);
    for (int i = 0; i < CACHE_SLOTS; i++)
        if (g_cache[i].dir && g_cache[i].refs == 0) {
            tb__tagset_close(g_cache[i].ts);
            free(g_cache[i].dir);
            g_cache[i] = (cached){0};
        }
    pthread_mutex_unlock(&g_cache_mu);
}

static void cache_init(void)
{
    atexit(cache_clear);
}

static int tagset_acquire(const char *dir, const tb__keyring *ring, tb__tagset **out,
                          tb__errbuf *eb)
{
    pthread_mutex_lock(&g_cache_mu);
    for (int i = 0; i < CACHE_SLOTS; i++)
        if (g_cache[i].dir && !g_cache[i].stale && strcmp(g_cache[i].dir, dir) == 0) {
            g_cache[i].refs++;
            g_cache[i].used = ++g_cache_clock;
            *out = g_cache[i].ts;
            pthread_mutex_unlock(&g_cache_mu);
            return 0;
        }
    pthread_mutex_unlock(&g_cache_mu);
    tb__tagset *ts;
    int rc = tb__tagset_open_keys(dir, ring, &ts, eb);
    if (rc) return rc;
    pthread_once(&g_cache_once, cache_init);
    pthread_mutex_lock(&g_cache_mu);
    int victim = -1;
    for (int i = 0; i < CACHE_SLOTS; i++)
        if (!g_cache[i].dir) {
            victim = i;
            break;
        } else if (g_cache[i].refs == 0 && !g_cache[i].stale &&
                   (victim < 0 || g_cache[i].used < g_cache[victim].used))
            victim = i;
    char *copy = victim >= 0 ? strdup(dir) : NULL;
    if (copy) {
        if (g_cache[victim].dir) {
            tb__tagset_close(g_cache[victim].ts);
            free(g_cache[victim].dir);
        }
        g_cache[victim] = (cached){copy, ts, 1, ++g_cache_clock, 0};
    }
    pthread_mutex_unlock(&g_cache_mu);
    *out = ts; /* not cached (every slot in use): released by closing it */
    return 0;
}

static void tagset_release(tb__tagset *ts)
{
    if (!ts) return;
    pthread_mutex_lock(&g_cache_mu);
    for (int i = 0; i < CACHE_SLOTS; i++)
        if (g_cache[i].ts == ts) {
            if (--g_cache[i].refs == 0 && g_cache[i].stale) {
                free(g_cache[i].dir);
                g_cache[i] = (cached){0};
                pthread_mutex_unlock(&g_cache_mu);
                tb__tagset_close(ts);
                return;
            }
            pthread_mutex_unlock(&g_cache_mu);
            return;
        }
    pthread_mutex_unlock(&g_cache_mu);
    tb__tagset_close(ts);
}

void tb__tagset_cache_drop(const char *dir)
{
    tb__tagset *close_now = NULL;
    pthread_mutex_lock(&g_cache_mu);
    for (int i = 0; i < CACHE_SLOTS; i++)
        if (g_cache[i].dir && !g_cache[i].stale && strcmp(g_cache[i].dir, dir) == 0) {
            if (g_cache[i].refs == 0) {
                close_now = g_cache[i].ts;
                free(g_cache[i].dir);
                g_cache[i] = (cached){0};
            } else {
                g_cache[i].stale = 1;
            }
        }
    pthread_mutex_unlock(&g_cache_mu);
    tb__tagset_close(close_now);
}

static int build_scope(tb__segctx *c, tb_scope_kind kind, const char *id, tb__errbuf *eb);

int tb__segctx_open(tb_db *db, const tb_seg_opts *o, tb__segctx **out, tb__errbuf *eb)
{
    *out = NULL;
    tb__segctx *c = calloc(1, sizeof *c);
    if (!c) return tb__seterr(eb, TB_ENOMEM, "out of memory");
    c->db = db;
    tb__arena_init(&c->arena, 0);
    char *dir = NULL;
    int rc = tb__tags_current(db, o ? o->as_of : NULL, &dir, c->batch, eb);
    if (!rc) rc = tagset_acquire(dir, tb__c2_ring(c->db), &c->ts, eb);
    free(dir);
    if (!rc && o && o->scope != TB_SCOPE_ALL) rc = build_scope(c, o->scope, o->scope_id, eb);
    if (rc) {
        tb__segctx_close(c);
        return rc;
    }
    *out = c;
    return 0;
}

/* ORs into dense words d the bitmaps of value `id` of tags `codes` (each may be absent). */
static void or_value(const tb__tagset *ts, const char *const *codes, size_t ncodes, const char *id,
                     uint64_t *d, uint64_t *tmp)
{
    for (size_t k = 0; k < ncodes; k++) {
        const tb__tagv *t = tb__tagset_find(ts, codes[k]);
        if (!t || t->bsi || strcmp(t->m.code, codes[k]) != 0) continue;
        int i = tb__tagv_value_index(t, id, strlen(id));
        if (i < 0) continue;
        const tb__bmv *v = &t->bm[i];
        for (uint32_t ch = 0; ch < v->nchunks; ch++) {
            if (tb__bmv_ctype(v, ch) == TB__BM_EMPTY) continue;
            const uint64_t *w = tb__bmv_words(v, ch, tmp);
            for (uint32_t j = 0; j < TB__BM_CHUNK_WORDS; j++)
                d[(size_t)ch * TB__BM_CHUNK_WORDS + j] |= w[j];
        }
    }
}

/* The org ids at and below `root` in the batch's org reference data (the org tree the pipeline
 * loaded); just `root` when the batch has none. *out: caller frees each and the array. */
static int org_subtree(tb__segctx *c, const char *root, char ***out, size_t *n, tb__errbuf *eb)
{
    *out = NULL;
    *n = 0;
    char **ids = NULL, **parents = NULL;
    size_t nids = 0;
    sqlite3_stmt *st;
    char rel[512] = "";
    int rc = tb__meta_stmt(c->db, TB__STMT_SEG_ORG_PATH,
                           "SELECT path FROM segment WHERE batch_date = ?1 AND business_type = "
                           "'org' ORDER BY file LIMIT 1",
                           &st);
    if (rc) return tb__seterr(eb, rc, "%s", tb_errmsg(c->db));
    sqlite3_bind_text(st, 1, c->batch, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW)
        snprintf(rel, sizeof rel, "%s", (const char *)sqlite3_column_text(st, 0));
    tb__meta_stmt_done(st);
    tb__standards *std = NULL;
    int ver;
    const tb__std_type *ty = NULL;
    if (rel[0] && tb__std_current(c->db, &std, &ver) == 0) ty = tb__std_find(std, "org");
    int fid = ty ? tb__std_field_index(ty, "org_id") : -1;
    int fpar = ty ? tb__std_field_index(ty, "parent_org_id") : -1;
    tb__clearerr(tb__db_err(c->db));
    if (fid >= 0 && fpar >= 0) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", tb_db_path(c->db), rel);
        tb__seg_reader *r = NULL;
        tb__seg_flag flag;
        uint64_t line;
        uint32_t gid;
        const tb__field *f;
        size_t nf;
        rc = tb__seg_reader_open(path, tb__c2_ring(c->db), &r, &flag, eb);
        while (!rc && (rc = tb__seg_read(r, &line, &gid, &f, &nf, eb)) == 1) {
            rc = 0;
            if ((size_t)fid >= nf || (size_t)fpar >= nf || f[fid].is_null) continue;
            char **a = realloc(ids, (nids + 1) * sizeof *a);
            if (a) ids = a;
            char **b = a ? realloc(parents, (nids + 1) * sizeof *b) : NULL;
            if (b) parents = b;
            if (!a || !b) {
                rc = tb__seterr(eb, TB_ENOMEM, "out of memory");
                break;
            }
            ids[nids] = strndup(f[fid].ptr, f[fid].len);
            parents[nids] = f[fpar].is_null ? NULL : strndup(f[fpar].ptr, f[fpar].len);
            nids++;
        }
        if (r) tb__seg_reader_close(r);
    }
    tb__std_free(std);
    /* breadth first from the root over the parent links */
    char **sub = calloc(nids + 1, sizeof *sub);
    size_t nsub = 0;
    if (!rc && sub && (sub[nsub] = strdup(root))) nsub++;
    for (size_t q = 0; !rc && q < nsub; q++)
        for (size_t i = 0; i < nids; i++)
            if (parents[i] && ids[i] && strcmp(parents[i], sub[q]) == 0 && nsub <= nids) {
                int seen = 0;
                for (size_t k = 0; k < nsub && !seen; k++)
                    seen = strcmp(sub[k], ids[i]) == 0;
                if (!seen) sub[nsub++] = strdup(ids[i]);
            }
    for (size_t i = 0; i < nids; i++)
        free(ids[i]), free(parents[i]);
    free(ids);
    free(parents);
    if (rc || !sub) {
        for (size_t i = 0; sub && i < nsub; i++)
            free(sub[i]);
        free(sub);
        return rc ? rc : tb__seterr(eb, TB_ENOMEM, "out of memory");
    }
    *out = sub;
    *n = nsub;
    return 0;
}

/* The scope's customers, limited to the live ones, as the context's universe: a customer
 * manager's are those whose golden record names them (tags mgr_id, corp_mgr_id); a branch's those
 * of its org and every org below it (tags org_id, corp_org_id). An unknown id sees nobody. */
static int build_scope(tb__segctx *c, tb_scope_kind kind, const char *id, tb__errbuf *eb)
{
    if (!id || !*id) return tb__seterr(eb, TB_EINVAL, "a scope needs an org or manager id");
    uint64_t n = tb__tagset_nrows(c->ts);
    uint32_t nch = (uint32_t)((n + TB__BM_CHUNK_BITS - 1) / TB__BM_CHUNK_BITS);
    uint64_t *d = calloc((size_t)nch * TB__BM_CHUNK_WORDS + 1, sizeof *d);
    uint64_t *tmp = malloc(TB__BM_CHUNK_WORDS * sizeof *tmp);
    int rc = d && tmp ? 0 : tb__seterr(eb, TB_ENOMEM, "out of memory");
    if (!rc && kind == TB_SCOPE_MANAGER) {
        static const char *const codes[] = {"mgr_id", "corp_mgr_id"};
        or_value(c->ts, codes, 2, id, d, tmp);
    } else if (!rc) {
        static const char *const codes[] = {"org_id", "corp_org_id"};
        char **orgs;
        size_t norgs;
        rc = org_subtree(c, id, &orgs, &norgs, eb);
        for (size_t i = 0; !rc && i < norgs; i++)
            or_value(c->ts, codes, 2, orgs[i], d, tmp);
        for (size_t i = 0; !rc && i < norgs; i++)
            free(orgs[i]);
        if (!rc) free(orgs);
    }
    tb__bm_builder *b = NULL;
    const tb__bmv *u = tb__tagset_universe(c->ts);
    if (!rc) rc = tb__bm_builder_create(n, &b);
    for (uint32_t ch = 0; !rc && ch < nch; ch++) {
        uint64_t *w = d + (size_t)ch * TB__BM_CHUNK_WORDS;
        const uint64_t *uw = tb__bmv_words(u, ch, tmp);
        for (uint32_t j = 0; j < TB__BM_CHUNK_WORDS; j++)
            w[j] &= uw[j];
        rc = tb__bm_or_words(b, ch, w);
    }
    tb__buf out = TB__BUF_INIT;
    if (!rc) rc = tb__bm_serialize(b, &out);
    tb__bm_builder_free(b);
    free(d);
    free(tmp);
    if (!rc) rc = tb__bm_parse_safe(out.data, out.len, 0, &c->scope, NULL, eb);
    if (rc) {
        tb__buf_release(&out);
        return eb->code ? rc : tb__seterr(eb, rc, "cannot build the scope: %s", tb_strerror(rc));
    }
    c->scope_buf = out.data;
    c->scoped = 1;
    return 0;
}

void tb__segctx_close(tb__segctx *c)
{
    if (!c) return;
    for (size_t i = 0; i < c->nseg; i++)
        free(c->seg[i]->name), free(c->seg[i]->buf), free(c->seg[i]);
    free(c->seg);
    free(c->scope_buf);
    tagset_release(c->ts);
    tb__arena_release(&c->arena);
    free(c);
}

/* segments/<batch>/<hex of name>.bm, relative to the data directory. */
static void member_rel(const char *name, const char *batch, char *out, size_t cap)
{
    size_t n = (size_t)snprintf(out, cap, "segments/%s/", batch);
    for (const unsigned char *p = (const unsigned char *)name; *p && n + 3 < cap; p++)
        n += (size_t)snprintf(out + n, cap - n, "%02x", *p);
    snprintf(out + n, cap - n, ".bm");
}

static int keep(tb__segctx *c, const char *name, char *buf, size_t len, const tb__bmv **out,
                tb__errbuf *eb);

/* Behaviour predicates reach the resolver as "\x01" + their canonical text (eval.c): evaluated
 * from the event partitions (events/evbehav.c) for the context's batch date, kept like a loaded
 * segment under that name. */
static int behaviour(tb__segctx *c, const char *name, const tb__bmv **out, tb__errbuf *eb)
{
    for (size_t i = 0; i < c->nseg; i++)
        if (strcmp(c->seg[i]->name, name) == 0) return *out = &c->seg[i]->v, 0;
    tb__expr *e;
    tb__expr_error err;
    int32_t as_of;
    int rc = tb__expr_parse(name + 1, strlen(name + 1), TB__EXPR_SEGMENT, &c->arena, &e, &err);
    if (rc) return tb__seterr(eb, rc, "%s", err.msg);
    if (tb__ev_parse_day(c->batch, &as_of)) return tb__seterr(eb, TB_EINVAL, "bad batch date");
    tb__bm_builder *b = NULL;
    tb__evkeys k = tb__evkeys_of(c->db);
    rc = tb__ev_behaviour(tb_db_path(c->db), &k, e, as_of, tb__tagset_nrows(c->ts), &b, eb);
    tb__buf buf = TB__BUF_INIT;
    if (!rc) rc = tb__bm_serialize(b, &buf);
    tb__bm_builder_free(b);
    if (rc) {
        tb__buf_release(&buf);
        return rc == TB_ENOMEM && !eb->msg[0] ? tb__seterr(eb, rc, "out of memory") : rc;
    }
    return keep(c, name, buf.data, buf.len, out, eb); /* takes buf */
}

static int resolver(const char *name, void *ctx, const tb__bmv **out, tb__errbuf *eb)
{
    if (name[0] == '\x01') return behaviour(ctx, name, out, eb);
    return tb__segctx_members(ctx, name, out, eb);
}

static void fail_expr(tb__errbuf *eb, const tb__expr_error *err)
{
    tb__seterr(eb, TB_EFORMAT, "%.480s", err->text[0] ? err->text : err->msg);
}

int tb__segctx_compile(tb__segctx *c, const char *expr, int is_json, tb__query **q, tb__expr **e,
                       tb__errbuf *eb)
{
    tb__expr_error err;
    memset(&err, 0, sizeof err);
    int rc;
    if (is_json) {
        json_error_t je;
        json_t *j = json_loads(expr, 0, &je);
        if (!j)
            return tb__seterr(eb, TB_EFORMAT, "expression JSON: line %d, column %d: %s", je.line,
                              je.column, je.text);
        rc = tb__expr_parse_json(j, &c->arena, e, &err);
        json_decref(j);
        if (rc == TB_EFORMAT && err.path[0])
            return tb__seterr(eb, rc, "expression JSON at '%s': %s", err.path, err.msg);
    } else
        rc = tb__expr_parse(expr, strlen(expr), TB__EXPR_SEGMENT, &c->arena, e, &err);
    if (rc) {
        if (rc == TB_EFORMAT)
            fail_expr(eb, &err);
        else
            tb__seterr(eb, rc, "cannot parse the expression: %s", tb_strerror(rc));
        return rc;
    }
    rc = tb__query_compile(c->ts, tb__segctx_universe(c), *e, is_json ? NULL : expr,
                           is_json ? 0 : strlen(expr), resolver, c, &c->arena, q, &err);
    if (rc == TB_EFORMAT)
        fail_expr(eb, &err);
    else if (rc)
        tb__seterr(eb, rc, "%.480s", err.msg[0] ? err.msg : tb_strerror(rc));
    return rc;
}

/* Keeps a serialised bitmap as segment `name`'s members for this context. */
static int keep(tb__segctx *c, const char *name, char *buf, size_t len, const tb__bmv **out,
                tb__errbuf *eb)
{
    loaded **s = realloc(c->seg, (c->nseg + 1) * sizeof *s);
    loaded *l = s ? calloc(1, sizeof *l) : NULL;
    if (s) c->seg = s;
    if (!l) {
        free(buf);
        return tb__seterr(eb, TB_ENOMEM, "out of memory");
    }
    l->buf = buf;
    l->len = len;
    l->name = strdup(name);
    int rc = l->name ? tb__bm_parse_safe(buf, len, 1, &l->v, NULL, eb) : TB_ENOMEM;
    if (rc) {
        free(l->name);
        free(buf);
        free(l);
        return rc == TB_ENOMEM ? tb__seterr(eb, rc, "out of memory") : rc;
    }
    c->seg[c->nseg++] = l;
    *out = &l->v;
    return 0;
}

/* A bitmap over this store's ids from `v` (another store's ids, maybe fewer), limited to the
 * live customers, serialised into a fresh buffer. */
static int refit(tb__segctx *c, const tb__bmv *v, char **buf, size_t *len)
{
    tb__bm_builder *b;
    uint64_t n = tb__tagset_nrows(c->ts);
    int rc = tb__bm_builder_create(n, &b);
    if (rc) return rc;
    const tb__bmv *u = tb__segctx_universe(c);
    uint32_t nch = (uint32_t)((n + TB__BM_CHUNK_BITS - 1) / TB__BM_CHUNK_BITS);
    uint64_t *w1 = malloc(2 * TB__BM_CHUNK_WORDS * sizeof *w1), *w2 = w1 + TB__BM_CHUNK_WORDS;
    uint64_t *o = malloc(TB__BM_CHUNK_WORDS * sizeof *o);
    if (!w1 || !o) rc = TB_ENOMEM;
    for (uint32_t ch = 0; !rc && ch < nch; ch++) {
        if (ch >= v->nchunks) break;
        const uint64_t *a = tb__bmv_words(v, ch, w1), *uu = tb__bmv_words(u, ch, w2);
        uint64_t lim = n - (uint64_t)ch * TB__BM_CHUNK_BITS; /* ids of this chunk in the store */
        for (uint32_t k = 0; k < TB__BM_CHUNK_WORDS; k++) {
            uint64_t m = (uint64_t)k * 64 >= lim        ? 0
                         : (uint64_t)k * 64 + 64 <= lim ? ~0ull
                                                        : (1ull << (lim - (uint64_t)k * 64)) - 1;
            o[k] = a[k] & uu[k] & m;
        }
        rc = tb__bm_or_words(b, ch, o);
    }
    free(w1);
    free(o);
    tb__buf out = TB__BUF_INIT;
    if (!rc) rc = tb__bm_serialize(b, &out);
    tb__bm_builder_free(b);
    if (rc) {
        tb__buf_release(&out);
        return rc;
    }
    *buf = out.data;
    *len = out.len;
    return 0;
}

typedef struct segrow {
    char kind[8];
    char *expr;
} segrow;

/* The definition of saved segment `name`: TB_ENOENT with "no segment 'x'" when none. */
static int seg_get(tb_db *db, const char *name, segrow *out, tb__errbuf *eb)
{
    memset(out, 0, sizeof *out);
    sqlite3_stmt *st;
    int rc =
        tb__meta_stmt(db, TB__STMT_SEG_GET, "SELECT kind, expr FROM cseg WHERE name = ?1", &st);
    if (rc) return tb__seterr(eb, rc, "%s", tb_errmsg(db));
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    int found = 0;
    if (sqlite3_step(st) == SQLITE_ROW) {
        found = 1;
        snprintf(out->kind, sizeof out->kind, "%s", (const char *)sqlite3_column_text(st, 0));
        if (sqlite3_column_type(st, 1) != SQLITE_NULL)
            out->expr = strdup((const char *)sqlite3_column_text(st, 1));
    }
    tb__meta_stmt_done(st);
    if (!found) return tb__seterr(eb, TB_ENOENT, "no segment '%s'", name);
    return 0;
}

/* The membership file of `name` recorded for `batch` exactly (before = 0), for the newest batch
 * at or before it (before = 1) or strictly before it (before = 2); *rel "" when none. */
static int member_file(tb_db *db, const char *name, const char *batch, int before, char *rel,
                       size_t cap, char *at, tb__errbuf *eb)
{
    sqlite3_stmt *st;
    rel[0] = 0;
    int rc = before == 2 ? tb__meta_stmt(db, TB__STMT_SEG_MEMBER_PREV,
                                         "SELECT file, batch_date FROM cseg_member WHERE name = ?1 "
                                         "AND batch_date < ?2 ORDER BY batch_date DESC LIMIT 1",
                                         &st)
             : before    ? tb__meta_stmt(db, TB__STMT_SEG_MEMBER_BEFORE,
                                         "SELECT file, batch_date FROM cseg_member WHERE name = ?1 "
                                            "AND batch_date <= ?2 ORDER BY batch_date DESC LIMIT 1",
                                         &st)
                         : tb__meta_stmt(db, TB__STMT_SEG_MEMBER_AT,
                                         "SELECT file, batch_date FROM cseg_member WHERE name = ?1 "
                                            "AND batch_date = ?2",
                                         &st);
    if (rc) return tb__seterr(eb, rc, "%s", tb_errmsg(db));
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, batch, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW) {
        snprintf(rel, cap, "%s", (const char *)sqlite3_column_text(st, 0));
        if (at) snprintf(at, 9, "%s", (const char *)sqlite3_column_text(st, 1));
    }
    tb__meta_stmt_done(st);
    return 0;
}

static int read_member_file(tb__segctx *c, const char *rel, char **buf, size_t *len, tb__errbuf *eb)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", tb_db_path(c->db), rel);
    return tb__file_read_all(path, (size_t)1 << 34, buf, len, eb);
}

/* Evaluates expression `expr` of a dynamic segment into a serialised bitmap. */
static int eval_to_buf(tb__segctx *c, const char *expr, char **buf, size_t *len, uint64_t *count,
                       tb__errbuf *eb)
{
    tb__query *q;
    tb__expr *e;
    if (c->depth >= MAX_DEPTH)
        return tb__seterr(eb, TB_ELIMIT, "segments refer to each other more than %d deep",
                          MAX_DEPTH);
    c->depth++;
    int rc = tb__segctx_compile(c, expr, 0, &q, &e, eb);
    c->depth--;
    tb__bm_builder *b = NULL;
    if (!rc) rc = tb__query_bitmap(q, 0, &b);
    tb__buf out = TB__BUF_INIT;
    if (!rc) rc = tb__bm_serialize(b, &out);
    if (!rc && count) *count = tb__bm_builder_cardinality(b);
    tb__bm_builder_free(b);
    if (rc) {
        tb__buf_release(&out);
        return eb->code ? rc : tb__seterr(eb, rc, "cannot evaluate: %s", tb_strerror(rc));
    }
    *buf = out.data;
    *len = out.len;
    return 0;
}

int tb__segctx_members(tb__segctx *c, const char *name, const tb__bmv **out, tb__errbuf *eb)
{
    for (size_t i = 0; i < c->nseg; i++)
        if (strcmp(c->seg[i]->name, name) == 0) return *out = &c->seg[i]->v, 0;
    segrow s;
    int rc = seg_get(c->db, name, &s, eb);
    if (rc) return rc;
    char rel[512], *buf = NULL;
    size_t len = 0;
    rc = member_file(c->db, name, c->batch, 0, rel, sizeof rel, NULL, eb);
    if (!rc && rel[0]) {
        rc = read_member_file(c, rel, &buf, &len, eb);
        if (!rc && c->scoped) { /* saved over everyone: keep the caller's customers */
            tb__bmv v;
            char *all = buf;
            buf = NULL;
            rc = tb__bm_parse_safe(all, len, TB__BM_PARSE_CRC, &v, NULL, eb);
            if (!rc) rc = refit(c, &v, &buf, &len);
            free(all);
        }
    } else if (!rc && strcmp(s.kind, "dynamic") == 0 && s.expr) {
        rc = eval_to_buf(c, s.expr, &buf, &len, NULL, eb);
    } else if (!rc) {
        rc = member_file(c->db, name, c->batch, 1, rel, sizeof rel, NULL, eb);
        /* imported after this batch: its list as imported (ids are stable), from the newest */
        if (!rc && !rel[0]) rc = member_file(c->db, name, "99999999", 1, rel, sizeof rel, NULL, eb);
        if (!rc && !rel[0]) rc = tb__seterr(eb, TB_ENOENT, "segment '%s' has no members", name);
        char *raw = NULL;
        size_t rlen;
        if (!rc) rc = read_member_file(c, rel, &raw, &rlen, eb);
        tb__bmv v;
        if (!rc) rc = tb__bm_parse_safe(raw, rlen, 1, &v, NULL, eb);
        if (!rc) rc = refit(c, &v, &buf, &len);
        free(raw);
    }
    free(s.expr);
    if (rc) return rc;
    return keep(c, name, buf, len, out, eb);
}

/* ---- writing memberships ---------------------------------------------------------------------*/

static int put_member(tb__segctx *c, const char *name, const char *buf, size_t len, uint64_t count,
                      tb__errbuf *eb)
{
    char rel[512], path[4096], now[TB__TIME_TEXT_LEN];
    member_rel(name, c->batch, rel, sizeof rel);
    snprintf(path, sizeof path, "%s/segments/%s", tb_db_path(c->db), c->batch);
    int rc = tb__mkdir_p(path, 0750, eb);
    snprintf(path, sizeof path, "%s/%s", tb_db_path(c->db), rel);
    if (!rc) rc = tb__file_write_atomic(path, buf, len, 0640, eb);
    sqlite3_stmt *st;
    if (!rc)
        rc = tb__meta_stmt(c->db, TB__STMT_SEG_MEMBER_PUT,
                           "INSERT OR REPLACE INTO cseg_member (name, batch_date, build_id, "
                           "customers, file, created_at) VALUES (?1, ?2, NULL, ?3, ?4, ?5)",
                           &st);
    if (!rc) {
        sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, c->batch, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 3, (sqlite3_int64)count);
        sqlite3_bind_text(st, 4, rel, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 5, tb__now_text(now), -1, SQLITE_STATIC);
        rc = tb__meta_run(c->db, st, "cannot record segment members");
        if (rc) tb__seterr(eb, rc, "%s", tb_errmsg(c->db));
    }
    return rc;
}

static int check_name(const char *name, tb__errbuf *eb)
{
    size_t n = name ? strlen(name) : 0;
    if (n == 0 || n > NAME_MAX_BYTES)
        return tb__seterr(eb, TB_EINVAL, "a segment name has 1 to %d bytes", NAME_MAX_BYTES);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)name[i] < 0x20 || name[i] == '\'' || name[i] == '/')
            return tb__seterr(eb, TB_EINVAL,
                              "segment name '%s': control characters, quotes and '/' are not "
                              "allowed",
                              name);
    return 0;
}

static int insert_seg(tb__segctx *c, const char *name, const char *kind, const char *expr,
                      const char *user, const char *description, const tb__query *q, tb__errbuf *eb)
{
    sqlite3_stmt *st;
    char now[TB__TIME_TEXT_LEN];
    tb__now_text(now);
    int rc = tb__meta_stmt(c->db, TB__STMT_SEG_INSERT,
                           "INSERT INTO cseg (name, kind, expr, description, owner, created_at, "
                           "updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)",
                           &st);
    if (!rc) {
        sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, kind, -1, SQLITE_STATIC);
        if (expr) sqlite3_bind_text(st, 3, expr, -1, SQLITE_STATIC);
        if (description) sqlite3_bind_text(st, 4, description, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 5, user ? user : "unknown", -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 6, now, -1, SQLITE_STATIC);
        rc = tb__meta_run(c->db, st, "cannot save the segment");
    }
    for (size_t i = 0; !rc && q && i < tb__query_ntags(q); i++) {
        rc = tb__meta_stmt(c->db, TB__STMT_SEG_TAG_INSERT,
                           "INSERT OR IGNORE INTO cseg_tag (name, code) VALUES (?1, ?2)", &st);
        if (!rc) {
            sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
            sqlite3_bind_text(st, 2, tb__query_tag(q, i), -1, SQLITE_STATIC);
            rc = tb__meta_run(c->db, st, "cannot save the segment");
        }
    }
    if (rc) tb__seterr(eb, rc, "%s", tb_errmsg(c->db));
    return rc;
}

int tb__segctx_refresh(tb__segctx *c, tb__errbuf *eb)
{
    sqlite3_stmt *st;
    int rc = tb__meta_stmt(c->db, TB__STMT_SEG_ALL, "SELECT name FROM cseg ORDER BY name", &st);
    if (rc) return tb__seterr(eb, rc, "%s", tb_errmsg(c->db));
    char **names = NULL;
    size_t n = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        char **p = realloc(names, (n + 1) * sizeof *p);
        if (!p) break;
        names = p;
        if ((names[n] = strdup((const char *)sqlite3_column_text(st, 0)))) n++;
    }
    tb__meta_stmt_done(st);
    for (size_t i = 0; i < n; i++) {
        /* a dynamic segment is evaluated afresh; a static one is carried forward */
        const tb__bmv *v;
        tb__errbuf sub;
        tb__clearerr(&sub);
        char rel[512];
        segrow sr;
        int r = seg_get(c->db, names[i], &sr, &sub);
        if (!r && strcmp(sr.kind, "dynamic") == 0 && sr.expr) {
            /* evaluated afresh even when the batch has a membership: a rebuilt batch may have
             * changed tags */
            char *buf = NULL;
            size_t len = 0;
            uint64_t cnt = 0;
            r = eval_to_buf(c, sr.expr, &buf, &len, &cnt, &sub);
            if (!r) r = put_member(c, names[i], buf, len, cnt, &sub);
            free(buf);
        } else if (!r) {
            r = member_file(c->db, names[i], c->batch, 0, rel, sizeof rel, NULL, &sub);
            if (!r && !rel[0]) {
                r = tb__segctx_members(c, names[i], &v, &sub);
                if (!r) {
                    const loaded *l = c->seg[c->nseg - 1];
                    r = put_member(c, names[i], l->buf, l->len, v->card, &sub);
                }
            }
        }
        free(sr.expr);
        if (r)
            tb__log_warn("seg", "segment '%s' not refreshed for %s: %s", names[i], c->batch,
                         sub.msg);
        free(names[i]);
    }
    free(names);
    return 0;
}

/* ---- the public API --------------------------------------------------------------------------*/

/* Renders `doc` (consumed) into *json_out; TB_ENOMEM when it cannot. */
static int answer(tb_db *db, json_t *doc, char **json_out)
{
    *json_out = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    json_decref(doc);
    return *json_out ? 0 : tb__seterr(tb__db_err(db), TB_ENOMEM, "out of memory");
}

static int fail(tb_db *db, const tb__errbuf *eb, int rc)
{
    return tb__seterr(tb__db_err(db), rc, "%s", eb->msg[0] ? eb->msg : tb_strerror(rc));
}

static double ms_since(const struct timespec *a)
{
    struct timespec b;
    clock_gettime(CLOCK_MONOTONIC, &b);
    return (double)(b.tv_sec - a->tv_sec) * 1e3 + (double)(b.tv_nsec - a->tv_nsec) / 1e6;
}

/* Adds one query to the usage counters of the tags it read (writable handles only). */
static void record_usage(tb_db *db, const tb__query *q)
{
    if (tb__db_check_writable(db) != 0) return;
    char now[TB__TIME_TEXT_LEN];
    tb__now_text(now);
    now[10] = 0; /* the day */
    for (size_t i = 0; i < tb__query_ntags(q); i++) {
        sqlite3_stmt *st;
        if (tb__meta_stmt(db, TB__STMT_SEG_USAGE,
                          "INSERT INTO tag_usage (code, day, queries) VALUES (?1, ?2, 1) ON "
                          "CONFLICT (code, day) DO UPDATE SET queries = queries + 1",
                          &st))
            return;
        sqlite3_bind_text(st, 1, tb__query_tag(q, i), -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, now, -1, SQLITE_STATIC);
        tb__meta_run(db, st, "cannot count tag usage");
    }
    tb__clearerr(tb__db_err(db));
}

static json_t *tags_json(const tb__query *q)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < tb__query_ntags(q); i++)
        json_array_append_new(a, json_string(tb__query_tag(q, i)));
    return a;
}

int tb_seg_count(tb_db *db, const char *expr, const tb_seg_opts *o, char **json_out)
{
    *json_out = NULL;
    tb_seg_opts none = {0};
    if (!o) o = &none;
    tb__errbuf eb;
    tb__clearerr(&eb);
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    tb__segctx *c;
    int rc = tb__segctx_open(db, o, &c, &eb);
    if (rc) return fail(db, &eb, rc);
    tb__query *q;
    tb__expr *e;
    uint64_t count = 0;
    rc = tb__segctx_compile(c, expr, o->is_json, &q, &e, &eb);
    if (!rc) rc = tb__query_count(q, o->threads, &count);
    if (rc) {
        tb__segctx_close(c);
        return fail(db, &eb, rc);
    }
    double ms = ms_since(&t0);
    record_usage(db, q);
    tb__buf text = TB__BUF_INIT;
    tb__expr_to_text(e, &text);
    json_t *doc = json_pack("{s:I, s:s, s:s, s:o, s:f, s:o}", "count", (json_int_t)count,
                            "batch_date", c->batch, "expression", text.data ? text.data : "",
                            "json", tb__expr_to_json(e), "millis", ms, "tags", tags_json(q));
    tb__buf_release(&text);
    tb__segctx_close(c);
    return answer(db, doc, json_out);
}

int tb_seg_save(tb_db *db, const char *name, const char *expr, const tb_seg_opts *o,
                const char *user, const char *description, char **json_out)
{
    *json_out = NULL;
    tb_seg_opts none = {0};
    if (!o) o = &none;
    tb__errbuf eb;
    tb__clearerr(&eb);
    int rc = check_name(name, &eb);
    if (rc) return fail(db, &eb, rc);
    segrow s;
    rc = seg_get(db, name, &s, &eb);
    free(s.expr);
    if (rc == 0) return tb__seterr(tb__db_err(db), TB_EEXIST, "segment '%s' exists", name);
    if (rc != TB_ENOENT) return fail(db, &eb, rc);
    tb__clearerr(&eb);
    tb__segctx *c;
    /* the membership is kept over everyone (dynamic segments are evaluated again by every tag
     * build); what the caller is told is counted within their scope */
    tb_seg_opts all = *o;
    all.scope = TB_SCOPE_ALL;
    rc = tb__segctx_open(db, &all, &c, &eb);
    if (rc) return fail(db, &eb, rc);
    tb__query *q;
    tb__expr *e;
    tb__bm_builder *b = NULL;
    tb__buf buf = TB__BUF_INIT, text = TB__BUF_INIT;
    rc = tb__segctx_compile(c, expr, o->is_json, &q, &e, &eb);
    if (!rc) rc = tb__query_bitmap(q, o->threads, &b);
    if (!rc) rc = tb__bm_serialize(b, &buf);
    if (!rc) rc = tb__expr_to_text(e, &text);
    uint64_t count = b ? tb__bm_builder_cardinality(b) : 0;
    tb__bm_builder_free(b);
    if (!rc && (rc = tb__meta_begin(db)) != 0) tb__seterr(&eb, rc, "%s", tb_errmsg(db));
    if (!rc) {
        /* the canonical text is stored: JSON input and text input save the same definition */
        rc = insert_seg(c, name, "dynamic", text.data, user, description, q, &eb);
        if (!rc) rc = put_member(c, name, buf.data, buf.len, count, &eb);
        if (rc)
            tb__meta_rollback(db);
        else if ((rc = tb__meta_commit(db)) != 0)
            tb__seterr(&eb, rc, "%s", tb_errmsg(db));
    }
    tb__segctx *sc = NULL;
    const tb__bmv *mine;
    if (!rc && o->scope != TB_SCOPE_ALL && (rc = tb__segctx_open(db, o, &sc, &eb)) == 0 &&
        (rc = tb__segctx_members(sc, name, &mine, &eb)) == 0)
        count = mine->card;
    tb__segctx_close(sc);
    json_t *doc = NULL;
    if (!rc)
        doc = json_pack("{s:s, s:s, s:s, s:I, s:o}", "name", name, "kind", "dynamic", "expression",
                        text.data, "count", (json_int_t)count, "batch_date", json_string(c->batch));
    tb__buf_release(&buf);
    tb__buf_release(&text);
    tb__segctx_close(c);
    if (rc) return fail(db, &eb, rc);
    return answer(db, doc, json_out);
}

int tb_seg_import(tb_db *db, const char *name, const char *path, const char *user,
                  const char *description, char **json_out)
{
    *json_out = NULL;
    tb__errbuf eb;
    tb__clearerr(&eb);
    int rc = check_name(name, &eb);
    if (rc) return fail(db, &eb, rc);
    segrow s;
    rc = seg_get(db, name, &s, &eb);
    free(s.expr);
    if (rc == 0) return tb__seterr(tb__db_err(db), TB_EEXIST, "segment '%s' exists", name);
    tb__clearerr(&eb);
    char *text = NULL;
    size_t len = 0;
    rc = tb__file_read_all(path, (size_t)1 << 30, &text, &len, &eb);
    if (rc) return fail(db, &eb, rc);
    tb__segctx *c;
    rc = tb__segctx_open(db, NULL, &c, &eb);
    if (rc) {
        free(text);
        return fail(db, &eb, rc);
    }
    tb__bm_builder *b = NULL;
    rc = tb__bm_builder_create(tb__tagset_nrows(c->ts), &b);
    json_t *unknown = json_array();
    uint64_t lines = 0, found = 0, nunknown = 0;
    const tb__bmv *u = tb__tagset_universe(c->ts);
    for (char *p = text, *end = text + len; !rc && p < end;) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        char *e = nl ? nl : end;
        lines++;
        char *a = p, *z = e;
        while (a < z && (*a == ' ' || *a == '\t' || (unsigned char)*a == 0xEF))
            a++;
        if (a == text + 0 && len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0) a = text + 3;
        while (z > a && (z[-1] == '\r' || z[-1] == ' ' || z[-1] == '\t' || z[-1] == ','))
            z--;
        p = nl ? nl + 1 : end;
        if (a == z || *a == '#') continue;
        char key[128];
        snprintf(key, sizeof key, "%.*s", (int)(z - a), a);
        uint32_t gid;
        int r = tb__customer_resolve_any(db, key, &gid);
        if (r == 0 && tb__bmv_contains(u, gid)) {
            rc = tb__bm_set(b, gid);
            found++;
            continue;
        }
        if (r && r != TB_ENOENT && r != TB_EINVAL) { /* EINVAL: several share it */
            rc = r;
            tb__seterr(&eb, r, "%s", tb_errmsg(db));
            break;
        }
        nunknown++;
        if (json_array_size(unknown) < 100) {
            char masked[160];
            const char *why = r == TB_EINVAL ? "several customers"
                              : r == 0       ? "not a live customer"
                                             : "no such customer";
            tb__mask_keep(key, strlen(key), 3, 2, masked, sizeof masked);
            json_array_append_new(unknown, json_pack("{s:I, s:s, s:s}", "line", (json_int_t)lines,
                                                     "value", masked, "reason", why));
        }
    }
    free(text);
    tb__buf buf = TB__BUF_INIT;
    uint64_t count = b ? tb__bm_builder_cardinality(b) : 0;
    if (!rc) rc = tb__bm_serialize(b, &buf);
    tb__bm_builder_free(b);
    if (!rc && (rc = tb__meta_begin(db)) != 0) tb__seterr(&eb, rc, "%s", tb_errmsg(db));
    if (!rc) {
        rc = insert_seg(c, name, "static", NULL, user, description, NULL, &eb);
        if (!rc) rc = put_member(c, name, buf.data, buf.len, count, &eb);
        if (rc)
            tb__meta_rollback(db);
        else if ((rc = tb__meta_commit(db)) != 0)
            tb__seterr(&eb, rc, "%s", tb_errmsg(db));
    }
    tb__buf_release(&buf);
    json_t *doc = NULL;
    if (!rc)
        doc = json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:o}", "name", name, "kind", "static",
                        "batch_date", c->batch, "lines", (json_int_t)lines, "matched",
                        (json_int_t)found, "count", (json_int_t)count, "unknown_count",
                        (json_int_t)nunknown, "unknown", unknown);
    else
        json_decref(unknown);
    tb__segctx_close(c);
    if (rc) return fail(db, &eb, rc);
    return answer(db, doc, json_out);
}

int tb_seg_list(tb_db *db, char **json_out)
{
    *json_out = NULL;
    sqlite3_stmt *st;
    int rc = tb__meta_stmt(db, TB__STMT_SEG_LIST,
                           "SELECT s.name, s.kind, s.expr, s.owner, s.created_at, (SELECT "
                           "batch_date || ' ' || customers FROM cseg_member m WHERE m.name = "
                           "s.name ORDER BY batch_date DESC LIMIT 1), s.description FROM cseg s "
                           "ORDER BY s.name",
                           &st);
    if (rc) return rc;
    json_t *a = json_array();
    while (sqlite3_step(st) == SQLITE_ROW) {
        const char *latest = (const char *)sqlite3_column_text(st, 5);
        char batch[9] = "";
        long long n = 0;
        if (latest) sscanf(latest, "%8s %lld", batch, &n);
        json_array_append_new(
            a,
            json_pack("{s:s, s:s, s:s?, s:s, s:s, s:s?, s:I, s:s?}", "name",
                      sqlite3_column_text(st, 0), "kind", sqlite3_column_text(st, 1), "expression",
                      sqlite3_column_text(st, 2), "owner", sqlite3_column_text(st, 3), "created_at",
                      sqlite3_column_text(st, 4), "batch_date", latest ? batch : NULL, "count",
                      (json_int_t)n, "description", sqlite3_column_text(st, 6)));
    }
    tb__meta_stmt_done(st);
    return answer(db, json_pack("{s:o}", "segments", a), json_out);
}

int tb_seg_show(tb_db *db, const char *name, char **json_out)
{
    *json_out = NULL;
    tb__errbuf eb;
    tb__clearerr(&eb);
    segrow s;
    int rc = seg_get(db, name, &s, &eb);
    if (rc) return fail(db, &eb, rc);
    sqlite3_stmt *st;
    json_t *hist = json_array(), *tags = json_array();
    rc = tb__meta_stmt(db, TB__STMT_SEG_HISTORY,
                       "SELECT batch_date, customers, created_at FROM cseg_member WHERE name = ?1 "
                       "ORDER BY batch_date",
                       &st);
    if (!rc) {
        sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
        while (sqlite3_step(st) == SQLITE_ROW)
            json_array_append_new(hist, json_pack("{s:s, s:I, s:s}", "batch_date",
                                                  sqlite3_column_text(st, 0), "count",
                                                  (json_int_t)sqlite3_column_int64(st, 1),
                                                  "evaluated_at", sqlite3_column_text(st, 2)));
        tb__meta_stmt_done(st);
    }
    if (!rc)
        rc = tb__meta_stmt(db, TB__STMT_SEG_KEY_OF,
                           "SELECT code FROM cseg_tag WHERE name = ?1 ORDER BY code", &st);
    if (!rc) {
        sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
        while (sqlite3_step(st) == SQLITE_ROW)
            json_array_append_new(tags, json_string((const char *)sqlite3_column_text(st, 0)));
        tb__meta_stmt_done(st);
    }
    json_t *doc = json_pack("{s:s, s:s, s:s?, s:o, s:o}", "name", name, "kind", s.kind,
                            "expression", s.expr, "tags", tags, "history", hist);
    free(s.expr);
    if (rc) {
        json_decref(doc);
        return rc;
    }
    return answer(db, doc, json_out);
}

int tb_seg_delete(tb_db *db, const char *name, char **json_out)
{
    *json_out = NULL;
    tb__errbuf eb;
    tb__clearerr(&eb);
    segrow s;
    int rc = seg_get(db, name, &s, &eb);
    free(s.expr);
    if (rc) return fail(db, &eb, rc);
    /* the files go after the rows: a crash between leaves files no row names (harmless) */
    sqlite3_stmt *st;
    char **files = NULL;
    size_t nf = 0;
    rc = tb__meta_stmt(db, TB__STMT_SEG_HISTORY,
                       "SELECT batch_date, customers, created_at FROM cseg_member WHERE name = ?1 "
                       "ORDER BY batch_date",
                       &st);
    if (!rc) {
        sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
        while (sqlite3_step(st) == SQLITE_ROW) {
            char **f = realloc(files, (nf + 1) * sizeof *f);
            if (!f) break;
            files = f;
            char rel[512];
            member_rel(name, (const char *)sqlite3_column_text(st, 0), rel, sizeof rel);
            if ((files[nf] = strdup(rel))) nf++;
        }
        tb__meta_stmt_done(st);
    }
    if (!rc) rc = tb__meta_begin(db);
    if (!rc) rc = tb__meta_stmt(db, TB__STMT_SEG_DELETE, "DELETE FROM cseg WHERE name = ?1", &st);
    if (!rc) {
        sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
        rc = tb__meta_run(db, st, "cannot delete the segment");
        if (rc)
            tb__meta_rollback(db);
        else
            rc = tb__meta_commit(db);
    }
    for (size_t i = 0; i < nf; i++) {
        if (!rc) {
            char path[4096];
            snprintf(path, sizeof path, "%s/%s", tb_db_path(db), files[i]);
            tb__rm_tree(path);
        }
        free(files[i]);
    }
    free(files);
    if (rc) return rc;
    return answer(db, json_pack("{s:s, s:b}", "name", name, "deleted", 1), json_out);
}

/* Popcounts of a AND b, a AND NOT b, b AND NOT a over all chunks. */
static void compare(const tb__bmv *a, const tb__bmv *b, uint64_t *both, uint64_t *only_a,
                    uint64_t *only_b)
{
    uint64_t *w = malloc(3 * TB__BM_CHUNK_WORDS * sizeof *w);
    *both = *only_a = *only_b = 0;
    if (!w) return;
    uint32_t n = a->nchunks > b->nchunks ? a->nchunks : b->nchunks;
    for (uint32_t ch = 0; ch < n; ch++) {
        const uint64_t *x = ch < a->nchunks ? tb__bmv_words(a, ch, w) : w + 2 * TB__BM_CHUNK_WORDS;
        const uint64_t *y = ch < b->nchunks ? tb__bmv_words(b, ch, w + TB__BM_CHUNK_WORDS)
                                            : w + 2 * TB__BM_CHUNK_WORDS;
        if (ch >= a->nchunks || ch >= b->nchunks)
            memset(w + 2 * TB__BM_CHUNK_WORDS, 0, TB__BM_CHUNK_WORDS * sizeof *w);
        for (uint32_t k = 0; k < TB__BM_CHUNK_WORDS; k++) {
            *both += (uint64_t)__builtin_popcountll(x[k] & y[k]);
            *only_a += (uint64_t)__builtin_popcountll(x[k] & ~y[k]);
            *only_b += (uint64_t)__builtin_popcountll(y[k] & ~x[k]);
        }
    }
    free(w);
}

int tb_seg_overlap(tb_db *db, const char *a, const char *b, const tb_seg_opts *o, char **json_out)
{
    *json_out = NULL;
    tb__errbuf eb;
    tb__clearerr(&eb);
    tb__segctx *c;
    int rc = tb__segctx_open(db, o, &c, &eb);
    if (rc) return fail(db, &eb, rc);
    const tb__bmv *va, *vb;
    rc = tb__segctx_members(c, a, &va, &eb);
    if (!rc) rc = tb__segctx_members(c, b, &vb, &eb);
    if (rc) {
        tb__segctx_close(c);
        return fail(db, &eb, rc);
    }
    uint64_t both, oa, ob;
    compare(va, vb, &both, &oa, &ob);
    uint64_t either = both + oa + ob;
    json_t *doc = json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:f}", "a", a, "b", b,
                            "batch_date", c->batch, "count_a", (json_int_t)va->card, "count_b",
                            (json_int_t)vb->card, "both", (json_int_t)both, "either",
                            (json_int_t)either, "only_a", (json_int_t)oa, "only_b", (json_int_t)ob,
                            "jaccard", either ? (double)both / (double)either : 0.0);
    tb__segctx_close(c);
    return answer(db, doc, json_out);
}

/* Up to `max` ids of a AND NOT b, as customer numbers. */
typedef struct sample {
    tb_db *db;
    const tb__tagset *ts;
    const tb__bmv *not_in;
    json_t *out;
    size_t max;
} sample;

static int sample_one(uint64_t id, void *arg)
{
    sample *s = arg;
    if (s->not_in && tb__bmv_contains(s->not_in, id)) return 0;
    char key[128];
    size_t kl;
    const char *k = tb__tagset_key(s->ts, id, &kl);
    if (k)
        snprintf(key, sizeof key, "%.*s", (int)kl, k);
    else if (tb__customer_key_of(s->db, (uint32_t)id, key, sizeof key) != 0)
        snprintf(key, sizeof key, "gid:%" PRIu64, id);
    json_array_append_new(s->out, json_pack("{s:I, s:s}", "gid", (json_int_t)id, "cust_no", key));
    return json_array_size(s->out) >= s->max;
}

int tb_seg_diff(tb_db *db, const char *name, const tb_seg_opts *o, size_t nsample, char **json_out)
{
    *json_out = NULL;
    tb__errbuf eb;
    tb__clearerr(&eb);
    tb__segctx *c;
    int rc = tb__segctx_open(db, o, &c, &eb);
    if (rc) return fail(db, &eb, rc);
    const tb__bmv *cur;
    char rel[512], prev_batch[9] = "";
    rc = tb__segctx_members(c, name, &cur, &eb);
    /* the previous batch: the newest membership strictly before this batch */
    if (!rc) rc = member_file(db, name, c->batch, 2, rel, sizeof rel, prev_batch, &eb);
    json_t *doc = NULL;
    if (!rc && !rel[0]) {
        doc = json_pack("{s:s, s:s, s:n, s:I, s:I, s:I, s:[], s:[]}", "name", name, "batch_date",
                        c->batch, "previous_batch", "count", (json_int_t)cur->card, "entered",
                        (json_int_t)cur->card, "left", (json_int_t)0, "entered_sample",
                        "left_sample");
    } else if (!rc) {
        char *buf = NULL;
        size_t len;
        tb__bmv prev;
        rc = read_member_file(c, rel, &buf, &len, &eb);
        if (!rc) rc = tb__bm_parse_safe(buf, len, 1, &prev, NULL, &eb);
        if (!rc && c->scoped) { /* the previous batch's members the caller may see now */
            char *all = buf;
            buf = NULL;
            rc = refit(c, &prev, &buf, &len);
            free(all);
            if (!rc) rc = tb__bm_parse_safe(buf, len, 1, &prev, NULL, &eb);
        }
        if (!rc) {
            uint64_t both, entered, left;
            compare(cur, &prev, &both, &entered, &left);
            sample se = {db, c->ts, &prev, json_array(), nsample},
                   sl = {db, c->ts, cur, json_array(), nsample};
            if (nsample) {
                tb__bmv_foreach(cur, sample_one, &se);
                tb__bmv_foreach(&prev, sample_one, &sl);
            }
            doc = json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:o, s:o}", "name", name,
                            "batch_date", c->batch, "previous_batch", prev_batch, "count",
                            (json_int_t)cur->card, "previous_count", (json_int_t)prev.card,
                            "stayed", (json_int_t)both, "entered", (json_int_t)entered, "left",
                            (json_int_t)left, "entered_sample", se.out, "left_sample", sl.out);
        }
        free(buf);
    }
    tb__segctx_close(c);
    if (rc) return fail(db, &eb, rc);
    return answer(db, doc, json_out);
}

int tb_tag_build(tb_db *db, const char *batch_date, int threads, char **json_out)
{
    *json_out = NULL;
    tb__arena a;
    tb__arena_init(&a, 0);
    tb__tag_def *defs;
    size_t n;
    tb__errbuf eb;
    tb__clearerr(&eb);
    int rc = tb__catalog_online(db, &a, &defs, &n);
    if (rc) {
        tb__arena_release(&a);
        return rc;
    }
    if (n == 0) {
        tb__arena_release(&a);
        return tb__seterr(tb__db_err(db), TB_ENOENT,
                          "no tag is online: load a catalog ('tagbase tag load FILE') and publish "
                          "its tags");
    }
    json_t *sum = NULL;
    rc = tb__tags_build(db, batch_date, defs, n, threads, &sum, &eb);
    tb__arena_release(&a);
    if (rc) return fail(db, &eb, rc);
    tb__segctx *c;
    tb_seg_opts at = {0};
    at.as_of = json_string_value(json_object_get(sum, "batch_date"));
    if (tb__segctx_open(db, &at, &c, &eb) == 0) {
        tb__segctx_refresh(c, &eb);
        tb__segctx_close(c);
    }
    return answer(db, sum, json_out);
}

/* ---- static segments from a bitmap (the customers a funnel step converted or dropped) -------*/

int tb__seg_save_bitmap(tb__segctx *c, const char *name, const tb__bm_builder *b, const char *user,
                        const char *description, uint64_t *count, tb__errbuf *eb)
{
    int rc = check_name(name, eb);
    if (rc) return rc;
    segrow s;
    rc = seg_get(c->db, name, &s, eb);
    free(s.expr);
    if (rc == 0) return tb__seterr(eb, TB_EEXIST, "segment '%s' exists", name);
    if (rc != TB_ENOENT) return rc;
    tb__clearerr(eb);
    tb__buf buf = TB__BUF_INIT;
    *count = tb__bm_builder_cardinality(b);
    rc = tb__bm_serialize(b, &buf);
    if (rc) return tb__seterr(eb, rc, "out of memory");
    if ((rc = tb__meta_begin(c->db)) != 0) tb__seterr(eb, rc, "%s", tb_errmsg(c->db));
    if (!rc) {
        rc = insert_seg(c, name, "static", NULL, user, description, NULL, eb);
        if (!rc) rc = put_member(c, name, buf.data, buf.len, *count, eb);
        if (rc)
            tb__meta_rollback(c->db);
        else if ((rc = tb__meta_commit(c->db)) != 0)
            tb__seterr(eb, rc, "%s", tb_errmsg(c->db));
    }
    tb__buf_release(&buf);
    return rc;
}
