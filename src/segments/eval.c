/* eval.c — binding segment expressions to a tag store and evaluating them chunk by chunk, the
 * whole expression fused per chunk of 65,536 customers (eval.h). */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "segments/eval.h"
#include "events/realtime.h"
#include "common/log.h"
#include "tags/catalog.h"
#include "segments/expr_int.h"

#define W TB__BM_CHUNK_WORDS

typedef enum nkind {
    N_BM,    /* one bitmap */
    N_ANY,   /* OR of several bitmaps (an enum's `in` list, `!=`, `is not null`) */
    N_BSI,   /* a range over a bit-sliced index */
    N_AND,   /* kids */
    N_OR,    /* kids */
    N_NOT,   /* universe and not kid[0] */
    N_FALSE, /* nobody */
    N_TRUE,  /* everyone (of the universe) */
} nkind;

typedef struct node node;
struct node {
    nkind kind;
    const tb__bmv **bm; /* N_BM (1) and N_ANY (nbm) */
    uint32_t nbm;
    const tb__bsiv *bsi; /* N_BSI */
    tb__bsi_op op;
    int64_t lo, hi;
    node **kid;
    uint32_t nkid;
};

struct tb__query {
    const tb__tagset *ts;
    const tb__bmv *universe;
    node *root;
    int depth; /* buffers a chunk evaluation needs */
    const char **tags;
    size_t ntags;
};

size_t tb__query_ntags(const tb__query *q)
{
    return q->ntags;
}
const char *tb__query_tag(const tb__query *q, size_t i)
{
    return i < q->ntags ? q->tags[i] : NULL;
}

/* ---- binding ---------------------------------------------------------------------------------*/

typedef struct binder {
    const tb__tagset *ts;
    const char *src;
    size_t srclen;
    tb__seg_resolver resolve;
    void *rctx;
    tb__arena *a;
    tb__expr_error *err;
    const char **tags;
    size_t ntags, captags;
} binder;

static node *mk(binder *b, nkind k, uint32_t nkid)
{
    node *n = tb__arena_calloc(b->a, 1, sizeof *n);
    if (n && nkid) {
        n->kid = tb__arena_calloc(b->a, nkid, sizeof *n->kid);
        if (!n->kid) return NULL;
    }
    if (n) n->kind = k, n->nkid = nkid;
    return n;
}

static int nomem(binder *b)
{
    snprintf(b->err->msg, sizeof b->err->msg, "out of memory");
    snprintf(b->err->text, sizeof b->err->text, "out of memory");
    return TB_ENOMEM;
}

static int note_tag(binder *b, const char *code)
{
    for (size_t i = 0; i < b->ntags; i++)
        if (strcmp(b->tags[i], code) == 0) return 0;
    if (b->ntags == b->captags) {
        size_t cap = b->captags ? 2 * b->captags : 8;
        const char **t = tb__arena_alloc(b->a, cap * sizeof *t);
        if (!t) return TB_ENOMEM;
        if (b->ntags) memcpy(t, b->tags, b->ntags * sizeof *t);
        b->tags = t;
        b->captags = cap;
    }
    b->tags[b->ntags++] = code;
    return 0;
}

/* A real-time tag as it is now: the built store holds it empty (tag builds run daily); its
 * members come from the event collector's published realtime.bin (events/realtime.h), read at
 * every binding so a tag an event set is seen within the collector's publish interval. Members
 * have the value "true"; everyone else has no value. On a missing or unreadable file the tag
 * stays as built (empty) and the reason is logged. NULL only when out of memory. */
static const tb__tagv *rt_overlay(binder *b, const tb__tagv *t)
{
    char dd[4096];
    snprintf(dd, sizeof dd, "%s", tb__tagset_dir(b->ts)); /* <data>/tags/<batch>-<build> */
    for (int up = 0; up < 2; up++) {
        char *slash = strrchr(dd, '/');
        if (slash) *slash = '\0';
    }
    uint32_t *gids = NULL;
    size_t n = 0;
    tb__errbuf eb = {0};
    int rc = tb__rt_members(dd, t->m.code, tb__now_ms(), &gids, &n, &eb);
    if (rc && rc != TB_ENOENT)
        tb__log_warn("segments", "real-time tag '%s': %s", t->m.code, eb.msg);
    uint64_t nbits = tb__tagset_nrows(b->ts);
    tb__bm_builder *bb = NULL;
    tb__buf buf = TB__BUF_INIT;
    tb__tagv *o = tb__arena_alloc(b->a, sizeof *o);
    tb__bmv *bms = tb__arena_calloc(b->a, t->nvalues ? t->nvalues : 1, sizeof *bms);
    const tb__tagv *res = NULL;
    if (!o || !bms || tb__bm_builder_create(nbits, &bb)) goto out;
    for (size_t i = 0; i < n; i++)
        if (gids[i] < nbits && tb__bm_set(bb, gids[i])) goto out;
    if (tb__bm_serialize(bb, &buf)) goto out;
    void *copy = tb__arena_alloc(b->a, buf.len);
    if (!copy) goto out;
    memcpy(copy, buf.data, buf.len);
    *o = *t;
    for (size_t i = 0; i < t->nvalues; i++) {
        size_t used;
        if (strcmp(t->values[i], "true") == 0) {
            if (tb__bm_parse_safe(copy, buf.len, 0, &bms[i], &used, &eb)) goto out;
        } else
            tb__bmv_empty(&bms[i], nbits);
    }
    o->bm = bms;
    o->coverage = tb__bm_builder_cardinality(bb);
    res = o;
out:
    tb__bm_builder_free(bb);
    tb__buf_release(&buf);
    free(gids);
    return res;
}

/* The tag an identifier names, or a binding error suggesting the nearest code. */
static int tag_of(binder *b, const tb__expr *id, const tb__tagv **out)
{
    if (id->kind != TB__X_IDENT)
        return tb__expr_fail(b->src, b->srclen, id, b->err, "expected a tag");
    const tb__tagv *t = tb__tagset_find(b->ts, id->text);
    if (!t) {
        size_t n = tb__tagset_ntags(b->ts);
        const char **c = tb__arena_alloc(b->a, (3 * n + 1) * sizeof *c);
        if (!c) return nomem(b);
        for (size_t i = 0; i < n; i++) {
            const tb__tagv *x = tb__tagset_tag_at(b->ts, i);
            c[3 * i] = x->m.code;
            c[3 * i + 1] = x->m.name_zh;
            c[3 * i + 2] = x->m.name_en;
        }
        const char *near = tb__expr_nearest(id->text, c, 3 * n);
        if (near)
            return tb__expr_fail(b->src, b->srclen, id, b->err,
                                 "unknown tag '%s' (did you mean '%s'?)", id->text, near);
        return tb__expr_fail(b->src, b->srclen, id, b->err, "unknown tag '%s'", id->text);
    }
    if (t->m.type == TB__TT_REALTIME && t->m.vtype == TB__TV_BOOL && !(t = rt_overlay(b, t)))
        return nomem(b);
    if (note_tag(b, t->m.code)) return nomem(b);
    *out = t;
    return 0;
}

static int is_value_tag(const tb__tagv *t)
{
    return t->m.vtype == TB__TV_BOOL || t->m.vtype == TB__TV_ENUM;
}

/* The values of an enum tag, listed for an error message. */
static const char *value_list(binder *b, const tb__tagv *t)
{
    tb__buf s = TB__BUF_INIT;
    for (size_t i = 0; i < t->nvalues && i < 12; i++)
        tb__buf_printf(&s, "%s'%s'", i ? ", " : "", t->values[i]);
    if (t->nvalues > 12) tb__buf_puts(&s, ", ...");
    const char *r = tb__arena_strdup(b->a, s.data ? s.data : "");
    tb__buf_release(&s);
    return r ? r : "";
}

/* The index of the value literal `lit` in boolean/enum tag t. */
static int value_of(binder *b, const tb__tagv *t, const tb__expr *lit, int *out)
{
    const char *s = NULL;
    size_t len = 0;
    if (lit->kind == TB__X_STR)
        s = lit->text, len = lit->text_len;
    else if (lit->kind == TB__X_BOOL && t->m.vtype == TB__TV_BOOL)
        s = lit->ival ? "true" : "false", len = strlen(s);
    else if (lit->kind == TB__X_NUM && t->m.vtype == TB__TV_ENUM)
        s = lit->text, len = lit->text_len;
    if (!s)
        return tb__expr_fail(b->src, b->srclen, lit, b->err, "tag '%s' takes %s", t->m.code,
                             t->m.vtype == TB__TV_BOOL ? "true or false" : "a quoted value");
    int k = tb__tagv_value_index(t, s, len);
    if (k < 0)
        return tb__expr_fail(b->src, b->srclen, lit, b->err,
                             "'%.*s' is not a value of tag '%s' (values: %s)", (int)len, s,
                             t->m.code, value_list(b, t));
    *out = k;
    return 0;
}

/* A literal as the stored integer of numeric tag t (scaled), exactly, or as a double when it has
 * more decimals than the tag (*exact 0). */
static int number_of(binder *b, const tb__tagv *t, const tb__expr *lit, double *v, int *exact)
{
    if (t->m.vtype == TB__TV_DATE) {
        int64_t d;
        if (lit->kind != TB__X_STR || tb__expr_parse_date(lit->text, lit->text_len, &d))
            return tb__expr_fail(b->src, b->srclen, lit, b->err,
                                 "tag '%s' is a date: write dates as 'YYYY-MM-DD'", t->m.code);
        *v = (double)d;
        *exact = 1;
        return 0;
    }
    if (lit->kind != TB__X_NUM)
        return tb__expr_fail(b->src, b->srclen, lit, b->err,
                             "tag '%s' is a number: expected a number", t->m.code);
    double x = lit->is_int ? (double)lit->ival : lit->dval;
    x *= pow(10, t->m.scale);
    double r = nearbyint(x);
    *exact = fabs(x - r) < 1e-6 * (fabs(x) > 1 ? fabs(x) : 1);
    *v = *exact ? r : x;
    if (!(fabs(*v) < 9.2e18))
        return tb__expr_fail(b->src, b->srclen, lit, b->err, "number out of range for tag '%s'",
                             t->m.code);
    return 0;
}

static node *bsi_node(binder *b, const tb__tagv *t, tb__bsi_op op, int64_t lo, int64_t hi)
{
    node *n = mk(b, N_BSI, 0);
    if (n) n->bsi = t->bsi, n->op = op, n->lo = lo, n->hi = hi;
    return n;
}

static node *notnull_node(binder *b, const tb__tagv *t)
{
    node *n = mk(b, N_ANY, 0);
    if (!n) return NULL;
    if (is_value_tag(t)) {
        n->bm = tb__arena_calloc(b->a, t->nvalues ? t->nvalues : 1, sizeof *n->bm);
        if (!n->bm) return NULL;
        for (size_t i = 0; i < t->nvalues; i++)
            n->bm[i] = &t->bm[i];
        n->nbm = (uint32_t)t->nvalues;
        if (!n->nbm) n->kind = N_FALSE;
    } else {
        n->bm = tb__arena_calloc(b->a, 1, sizeof *n->bm);
        if (!n->bm) return NULL;
        n->bm[0] = &t->bsi->notnull;
        n->nbm = 1;
    }
    return n;
}

/* A comparison of numeric tag t with value x (stored units; exact or not) as a BSI node. */
static node *cmp_number(binder *b, const tb__tagv *t, int cmp, double x, int exact)
{
    int64_t lo = 0;
    tb__bsi_op op;
    switch (cmp) {
    case TB__CMP_EQ:
        if (!exact) return mk(b, N_FALSE, 0);
        op = TB__BSI_EQ, lo = (int64_t)x;
        break;
    case TB__CMP_NE:
        if (!exact) return notnull_node(b, t);
        op = TB__BSI_NE, lo = (int64_t)x;
        break;
    case TB__CMP_LT:
        op = TB__BSI_LT, lo = exact ? (int64_t)x : (int64_t)ceil(x);
        break;
    case TB__CMP_LE:
        op = TB__BSI_LE, lo = exact ? (int64_t)x : (int64_t)floor(x);
        break;
    case TB__CMP_GT:
        op = TB__BSI_GT, lo = exact ? (int64_t)x : (int64_t)floor(x);
        break;
    default:
        op = TB__BSI_GE, lo = exact ? (int64_t)x : (int64_t)ceil(x);
        break;
    }
    return bsi_node(b, t, op, lo, lo);
}

static int bind(binder *b, const tb__expr *e, node **out);

/* `not_` applied to a predicate p on tag t: values without t never match (NULL semantics). */
static node *negate_within(binder *b, const tb__tagv *t, node *p)
{
    node *n = mk(b, N_AND, 2), *nt = mk(b, N_NOT, 1), *nn = notnull_node(b, t);
    if (!n || !nt || !nn) return NULL;
    nt->kid[0] = p;
    n->kid[0] = nn;
    n->kid[1] = nt;
    return n;
}

static int bind_pred(binder *b, const tb__expr *e, node **out)
{
    const tb__tagv *t;
    int rc = tag_of(b, e->kid[0], &t);
    if (rc) return rc;
    node *n = NULL;
    switch (e->kind) {
    case TB__X_ISNULL: {
        node *nn = notnull_node(b, t);
        if (!nn) return nomem(b);
        if (e->negated)
            n = nn;
        else if ((n = mk(b, N_NOT, 1)))
            n->kid[0] = nn;
        break;
    }
    case TB__X_CMP:
        if (is_value_tag(t)) {
            if (e->op != TB__CMP_EQ && e->op != TB__CMP_NE)
                return tb__expr_fail(b->src, b->srclen, e, b->err,
                                     "tag '%s' has values, not an order: use =, != or in",
                                     t->m.code);
            int k;
            if ((rc = value_of(b, t, e->kid[1], &k))) return rc;
            n = mk(b, N_ANY, 0);
            if (!n || !(n->bm = tb__arena_calloc(b->a, t->nvalues, sizeof *n->bm))) break;
            for (size_t i = 0; i < t->nvalues; i++)
                if ((e->op == TB__CMP_EQ) == ((int)i == k)) n->bm[n->nbm++] = &t->bm[i];
            if (!n->nbm) n->kind = N_FALSE;
        } else {
            double x;
            int exact;
            if ((rc = number_of(b, t, e->kid[1], &x, &exact))) return rc;
            n = cmp_number(b, t, e->op, x, exact);
        }
        break;
    case TB__X_IN: {
        node *any;
        if (is_value_tag(t)) {
            any = mk(b, N_ANY, 0);
            if (!any || !(any->bm = tb__arena_calloc(b->a, e->nkid, sizeof *any->bm)))
                return nomem(b);
            for (uint32_t i = 1; i < e->nkid; i++) {
                int k;
                if ((rc = value_of(b, t, e->kid[i], &k))) return rc;
                any->bm[any->nbm++] = &t->bm[k];
            }
        } else {
            any = mk(b, N_OR, e->nkid - 1);
            if (!any) return nomem(b);
            for (uint32_t i = 1; i < e->nkid; i++) {
                double x;
                int exact;
                if ((rc = number_of(b, t, e->kid[i], &x, &exact))) return rc;
                if (!(any->kid[i - 1] = cmp_number(b, t, TB__CMP_EQ, x, exact))) return nomem(b);
            }
        }
        n = e->negated ? negate_within(b, t, any) : any;
        break;
    }
    case TB__X_BETWEEN: {
        if (is_value_tag(t))
            return tb__expr_fail(b->src, b->srclen, e, b->err,
                                 "tag '%s' has values, not an order: 'between' needs a number "
                                 "or a date",
                                 t->m.code);
        double lo, hi;
        int elo, ehi;
        if ((rc = number_of(b, t, e->kid[1], &lo, &elo)) ||
            (rc = number_of(b, t, e->kid[2], &hi, &ehi)))
            return rc;
        int64_t l = elo ? (int64_t)lo : (int64_t)ceil(lo),
                h = ehi ? (int64_t)hi : (int64_t)floor(hi);
        node *r = l <= h ? bsi_node(b, t, TB__BSI_BETWEEN, l, h) : mk(b, N_FALSE, 0);
        n = r && e->negated ? negate_within(b, t, r) : r;
        break;
    }
    default:
        return tb__expr_fail(b->src, b->srclen, e, b->err, "unexpected expression");
    }
    if (!n) return nomem(b);
    *out = n;
    return 0;
}

/* The interval [*lo, *hi] a range node selects (NE is not one): 0, or -1. */
static int interval_of(const node *n, int64_t *lo, int64_t *hi)
{
    int64_t x = n->lo;
    *lo = INT64_MIN;
    *hi = INT64_MAX;
    switch (n->op) {
    case TB__BSI_EQ:
        *lo = *hi = x;
        return 0;
    case TB__BSI_LT:
        if (x == INT64_MIN) return *lo = 1, *hi = 0, 0; /* empty */
        *hi = x - 1;
        return 0;
    case TB__BSI_LE:
        *hi = x;
        return 0;
    case TB__BSI_GT:
        if (x == INT64_MAX) return *lo = 1, *hi = 0, 0;
        *lo = x + 1;
        return 0;
    case TB__BSI_GE:
        *lo = x;
        return 0;
    case TB__BSI_BETWEEN:
        *lo = n->lo;
        *hi = n->hi;
        return 0;
    default:
        return -1;
    }
}

/* `x >= a and x < b` reads the slices of x twice; as one `between` it reads them once (the
 * comparison keeps both bounds in one pass). Ranges over the same index in one AND are merged
 * into the first; the others become "everyone" (a FULL operand costs nothing: see ev). */
static void merge_ranges(node *and)
{
    for (uint32_t i = 0; i < and->nkid; i++) {
        node *a = and->kid[i];
        int64_t lo, hi;
        if (a->kind != N_BSI || interval_of(a, &lo, &hi)) continue;
        int merged = 0;
        for (uint32_t j = i + 1; j < and->nkid; j++) {
            node *c = and->kid[j];
            int64_t l2, h2;
            if (c->kind != N_BSI || c->bsi != a->bsi || interval_of(c, &l2, &h2)) continue;
            if (l2 > lo) lo = l2;
            if (h2 < hi) hi = h2;
            c->kind = N_TRUE;
            merged = 1;
        }
        if (!merged) continue;
        if (lo > hi)
            a->kind = N_FALSE;
        else
            a->op = TB__BSI_BETWEEN, a->lo = lo, a->hi = hi;
    }
}

/* Behaviour (did(), event() compared with a number): the resolver is asked for the name
 * "\x01" + the predicate's canonical text and answers a bitmap over this store's customers
 * (cseg.c computes it from the event partitions; docs/expressions.md, "Behaviour"). */
static int bind_behaviour(binder *b, const tb__expr *e, node **out)
{
    if (!b->resolve)
        return tb__expr_fail(b->src, b->srclen, e, b->err, "events are not available here");
    tb__buf t = TB__BUF_INIT;
    int rc = tb__buf_putc(&t, '\x01') || tb__expr_to_text(e, &t) || tb__buf_putc(&t, 0);
    if (rc) {
        tb__buf_release(&t);
        return nomem(b);
    }
    const tb__bmv *v;
    tb__errbuf eb;
    tb__clearerr(&eb);
    rc = b->resolve(t.data, b->rctx, &v, &eb);
    tb__buf_release(&t);
    if (rc == TB_ENOENT || rc == TB_EFORMAT)
        return tb__expr_fail(b->src, b->srclen, e, b->err, "%s", eb.msg);
    if (rc) {
        snprintf(b->err->msg, sizeof b->err->msg, "%.200s", eb.msg);
        snprintf(b->err->text, sizeof b->err->text, "%.500s", eb.msg);
        return rc;
    }
    if (v->nbits != tb__tagset_nrows(b->ts))
        return tb__expr_fail(b->src, b->srclen, e, b->err, "behaviour bitmap of another size");
    node *n;
    if (!(n = mk(b, N_BM, 0)) || !(n->bm = tb__arena_calloc(b->a, 1, sizeof *n->bm)))
        return nomem(b);
    n->bm[0] = v;
    n->nbm = 1;
    *out = n;
    return 0;
}

static int bind(binder *b, const tb__expr *e, node **out)
{
    int rc;
    node *n;
    switch (e->kind) {
    case TB__X_AND:
    case TB__X_OR:
        if (!(n = mk(b, e->kind == TB__X_AND ? N_AND : N_OR, e->nkid))) return nomem(b);
        for (uint32_t i = 0; i < e->nkid; i++)
            if ((rc = bind(b, e->kid[i], &n->kid[i]))) return rc;
        if (n->kind == N_AND) merge_ranges(n);
        break;
    case TB__X_NOT:
        if (!(n = mk(b, N_NOT, 1))) return nomem(b);
        if ((rc = bind(b, e->kid[0], &n->kid[0]))) return rc;
        break;
    case TB__X_IDENT: {
        const tb__tagv *t;
        if ((rc = tag_of(b, e, &t))) return rc;
        if (t->m.vtype != TB__TV_BOOL)
            return tb__expr_fail(b->src, b->srclen, e, b->err,
                                 "tag '%s' is not boolean: compare it with a value", t->m.code);
        int k = tb__tagv_value_index(t, "true", 4);
        if (!(n = mk(b, k < 0 ? N_FALSE : N_BM, 0))) return nomem(b);
        if (k >= 0) {
            if (!(n->bm = tb__arena_calloc(b->a, 1, sizeof *n->bm))) return nomem(b);
            n->bm[0] = &t->bm[k];
            n->nbm = 1;
        }
        break;
    }
    case TB__X_BOOL:
        if (e->ival) {
            if (!(n = mk(b, N_NOT, 1)) || !(n->kid[0] = mk(b, N_FALSE, 0))) return nomem(b);
        } else if (!(n = mk(b, N_FALSE, 0)))
            return nomem(b);
        break;
    case TB__X_CALL: {
        if (strcmp(e->text, "did") == 0) return bind_behaviour(b, e, out);
        if (strcasecmp(e->text, "segment") != 0 || e->nkid != 1 || e->kid[0]->kind != TB__X_STR)
            return tb__expr_fail(b->src, b->srclen, e, b->err,
                                 "expected segment('name') (the only function of segments)");
        if (!b->resolve)
            return tb__expr_fail(b->src, b->srclen, e, b->err,
                                 "saved segments are not available here");
        const tb__bmv *v;
        tb__errbuf eb;
        tb__clearerr(&eb);
        rc = b->resolve(e->kid[0]->text, b->rctx, &v, &eb);
        if (rc == TB_ENOENT)
            return tb__expr_fail(b->src, b->srclen, e->kid[0], b->err, "%s", eb.msg);
        if (rc) {
            snprintf(b->err->msg, sizeof b->err->msg, "%.200s", eb.msg);
            snprintf(b->err->text, sizeof b->err->text, "%.500s", eb.msg);
            return rc;
        }
        if (v->nbits != tb__tagset_nrows(b->ts))
            return tb__expr_fail(
                b->src, b->srclen, e, b->err,
                "segment '%s' was saved over %llu customers, this snapshot has %llu",
                e->kid[0]->text, (unsigned long long)v->nbits,
                (unsigned long long)tb__tagset_nrows(b->ts));
        if (!(n = mk(b, N_BM, 0)) || !(n->bm = tb__arena_calloc(b->a, 1, sizeof *n->bm)))
            return nomem(b);
        n->bm[0] = v;
        n->nbm = 1;
        break;
    }
    case TB__X_CMP:
        if (e->kid[0]->kind == TB__X_CALL && strcmp(e->kid[0]->text, "event") == 0)
            return bind_behaviour(b, e, out);
        return bind_pred(b, e, out);
    case TB__X_IN:
    case TB__X_BETWEEN:
    case TB__X_ISNULL:
        return bind_pred(b, e, out);
    default:
        return tb__expr_fail(b->src, b->srclen, e, b->err, "expected a condition on a tag");
    }
    *out = n;
    return 0;
}

static int depth_of(const node *n)
{
    int d = 0;
    for (uint32_t i = 0; i < n->nkid; i++) {
        int k = depth_of(n->kid[i]);
        if (k > d) d = k;
    }
    return d + 1;
}

int tb__query_compile(const tb__tagset *ts, const tb__bmv *universe, const tb__expr *e,
                      const char *src, size_t srclen, tb__seg_resolver resolve, void *resolve_ctx,
                      tb__arena *a, tb__query **out, tb__expr_error *err)
{
    *out = NULL;
    memset(err, 0, sizeof *err);
    binder b = {ts, src ? src : "", src ? srclen : 0, resolve, resolve_ctx, a, err, NULL, 0, 0};
    tb__query *q = tb__arena_calloc(a, 1, sizeof *q);
    if (!q) return nomem(&b);
    int rc = bind(&b, e, &q->root);
    if (rc) return rc;
    q->ts = ts;
    q->universe = universe ? universe : tb__tagset_universe(ts);
    q->depth = depth_of(q->root) + 1;
    q->tags = b.tags;
    q->ntags = b.ntags;
    *out = q;
    return 0;
}

/* ---- evaluation ------------------------------------------------------------------------------*/

static const uint64_t zeros[W];

typedef struct ctx {
    const tb__query *q;
    uint64_t *bufs;   /* depth buffers of W words */
    uint64_t *bsiscr; /* TB__BSI_SCRATCH_WORDS */
    uint64_t *tmp;    /* W words for ARRAY containers */
    const uint64_t *univ;
    uint32_t chunk;
} ctx;

/* Evaluates n for the current chunk into bufs[d] (or returns a pointer to words that already hold
 * the answer: a BITS container, the zero block). */
static const uint64_t *ev(ctx *c, const node *n, int d)
{
    uint64_t *out = c->bufs + (size_t)d * W;
    switch (n->kind) {
    case N_FALSE:
        return zeros;
    case N_TRUE:
        return c->univ;
    case N_BM:
        if (tb__bmv_ctype(n->bm[0], c->chunk) == TB__BM_EMPTY) return zeros;
        return tb__bmv_words(n->bm[0], c->chunk, out);
    case N_ANY: {
        int first = 1;
        for (uint32_t i = 0; i < n->nbm; i++) {
            if (tb__bmv_ctype(n->bm[i], c->chunk) == TB__BM_EMPTY) continue;
            const uint64_t *w = tb__bmv_words(n->bm[i], c->chunk, c->tmp);
            if (first) {
                if (n->nbm == 1) return w;
                memcpy(out, w, W * sizeof *out);
                first = 0;
            } else
                for (uint32_t j = 0; j < W; j++)
                    out[j] |= w[j];
        }
        return first ? zeros : out;
    }
    case N_BSI:
        tb__bsi_range_words(n->bsi, c->chunk, n->op, n->lo, n->hi, out, c->bsiscr);
        return out;
    case N_NOT: {
        const uint64_t *k = ev(c, n->kid[0], d + 1);
        if (k == zeros) return c->univ;
        for (uint32_t j = 0; j < W; j++)
            out[j] = c->univ[j] & ~k[j];
        return out;
    }
    case N_AND: {
        const uint64_t *r = ev(c, n->kid[0], d + 1);
        if (r == zeros) return zeros;
        for (uint32_t i = 1; i < n->nkid; i++) {
            /* the first operand's words may live in bufs[d+1], which the next one reuses */
            if (r != out) {
                memcpy(out, r, W * sizeof *out);
                r = out;
            }
            const uint64_t *k = ev(c, n->kid[i], d + 1);
            if (k == zeros) return zeros;
            for (uint32_t j = 0; j < W; j++)
                out[j] &= k[j];
        }
        return r;
    }
    case N_OR: {
        const uint64_t *r = zeros;
        for (uint32_t i = 0; i < n->nkid; i++) {
            const uint64_t *k = ev(c, n->kid[i], d + 1);
            if (k == zeros) continue;
            if (r == zeros) {
                if (i + 1 == n->nkid) return k;
                memcpy(out, k, W * sizeof *out);
                r = out;
                continue;
            }
            for (uint32_t j = 0; j < W; j++)
                out[j] |= k[j];
        }
        return r;
    }
    }
    return zeros;
}

typedef struct job {
    const tb__query *q;
    uint32_t from, to; /* chunks */
    uint64_t count;
    uint64_t *dense; /* bitmap output: all chunks' words, or NULL for a count */
    int rc;
} job;

static void *run(void *arg)
{
    job *j = arg;
    const tb__query *q = j->q;
    size_t words = (size_t)(q->depth + 2) * W + TB__BSI_SCRATCH_WORDS;
    uint64_t *mem = aligned_alloc(64, words * sizeof *mem);
    if (!mem) {
        j->rc = TB_ENOMEM;
        return NULL;
    }
    ctx c = {q, mem, mem + (size_t)(q->depth + 1) * W + W, mem + (size_t)q->depth * W, NULL, 0};
    uint64_t *ubuf = mem + (size_t)(q->depth + 1) * W;
    const tb__bmv *u = q->universe;
    uint64_t count = 0;
    for (uint32_t ch = j->from; ch < j->to; ch++) {
        c.chunk = ch;
        c.univ = tb__bmv_words(u, ch, ubuf);
        const uint64_t *r = ev(&c, q->root, 0);
        if (r == zeros) continue;
        /* universe-bounded: the result never leaves the live customers */
        if (j->dense) {
            uint64_t *dst = j->dense + (size_t)ch * W;
            for (uint32_t k = 0; k < W; k++)
                dst[k] = r[k] & c.univ[k];
            count += tb__bm_popcount_words(dst, W);
        } else if (r == c.univ) {
            count += tb__bmv_chunk_card(u, ch);
        } else {
            uint64_t *t = c.bufs; /* bufs[0] may be r itself: AND in place is fine */
            for (uint32_t k = 0; k < W; k++)
                t[k] = r[k] & c.univ[k];
            count += tb__bm_popcount_words(t, W);
        }
    }
    free(mem);
    j->count = count;
    return NULL;
}

static int run_all(const tb__query *q, int threads, uint64_t *dense, uint64_t *count)
{
    uint32_t nchunks =
        (uint32_t)((tb__tagset_nrows(q->ts) + TB__BM_CHUNK_BITS - 1) / TB__BM_CHUNK_BITS);
    if (threads <= 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        threads = n > 0 ? (int)n : 1;
    }
    if (threads > 64) threads = 64;
    /* below 64 chunks (4M customers) starting a thread costs more than it saves */
    if ((uint32_t)threads > nchunks / 64 + 1) threads = (int)(nchunks / 64 + 1);
    job jobs[64];
    pthread_t tid[64];
    int started[64] = {0};
    for (int i = 0; i < threads; i++) {
        jobs[i] = (job){q,
                        (uint32_t)((uint64_t)nchunks * i / threads),
                        (uint32_t)((uint64_t)nchunks * (i + 1) / threads),
                        0,
                        dense,
                        0};
        if (i > 0) started[i] = pthread_create(&tid[i], NULL, run, &jobs[i]) == 0;
        if (i > 0 && !started[i]) run(&jobs[i]);
    }
    run(&jobs[0]);
    uint64_t total = 0;
    int rc = 0;
    for (int i = 0; i < threads; i++) {
        if (started[i]) pthread_join(tid[i], NULL);
        total += jobs[i].count;
        if (jobs[i].rc) rc = jobs[i].rc;
    }
    *count = total;
    return rc;
}

int tb__query_count(const tb__query *q, int threads, uint64_t *out)
{
    *out = 0;
    return run_all(q, threads, NULL, out);
}

int tb__query_bitmap(const tb__query *q, int threads, tb__bm_builder **out)
{
    *out = NULL;
    uint64_t n = tb__tagset_nrows(q->ts), count;
    uint32_t nchunks = (uint32_t)((n + TB__BM_CHUNK_BITS - 1) / TB__BM_CHUNK_BITS);
    uint64_t *dense = calloc((size_t)nchunks * W + 1, sizeof *dense);
    if (!dense) return TB_ENOMEM;
    int rc = run_all(q, threads, dense, &count);
    tb__bm_builder *b = NULL;
    if (!rc) rc = tb__bm_builder_create(n, &b);
    for (uint32_t ch = 0; !rc && ch < nchunks; ch++)
        rc = tb__bm_or_words(b, ch, dense + (size_t)ch * W);
    free(dense);
    if (rc) {
        tb__bm_builder_free(b);
        return rc;
    }
    *out = b;
    return 0;
}
