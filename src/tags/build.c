/* build.c — `tagbase tag build`: computes every online tag of the catalog for the profile snapshot
 * of a batch date and writes the tag store of that date (tagstore.h), then records the build, each
 * tag's coverage and value distribution, and refreshes the saved segments.
 *
 * Fact, rule, model and external tags are expressions over the snapshot's columns (a fact is the
 * expression naming its attribute), evaluated per customer with the row evaluator of
 * segments/expr.h; statistical tags aggregate the valid rows of a business type's segments of the
 * batch inside a window ending on the batch date. Money columns are seen in yuan and rates as
 * fractions, so definitions read as a business user writes them. Tags are computed on every core,
 * one tag per worker at a time. */
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/hash.h"
#include "common/log.h"
#include "pipeline/profile.h"
#include "pipeline/segment.h"
#include "pipeline/standard.h"
#include "segments/expr.h"
#include "store/file.h"
#include "store/meta.h"
#include "store/snapshot.h"
#include "tags/build.h"
#include "tags/tagstore.h"

/* ---- snapshot columns as expression values ---------------------------------------------------*/

typedef enum ckind { CK_MONEY, CK_RATE, CK_INT, CK_DATE, CK_TIME, CK_CODE } ckind;

typedef struct colref {
    tb__snap_col col;
    ckind kind;
} colref;

typedef struct cols {
    const tb__snap *snap;
    colref *c;
    size_t n;
} cols;

static ckind kind_of(const tb__snap_col *c)
{
    static const struct {
        const char *s;
        ckind k;
    } k[] = {{"\"kind\":\"money\"", CK_MONEY},
             {"\"kind\":\"rate\"", CK_RATE},
             {"\"kind\":\"date\"", CK_DATE},
             {"\"kind\":\"time\"", CK_TIME},
             {"\"kind\":\"code\"", CK_CODE}};
    if (c->type == TB__SNAP_DICT) return CK_CODE;
    for (size_t i = 0; c->meta_json && i < sizeof k / sizeof k[0]; i++)
        if (strstr(c->meta_json, k[i].s)) return k[i].k;
    return c->type == TB__SNAP_I32 ? CK_DATE : CK_INT;
}

static int cols_load(const tb__snap *s, cols *out)
{
    out->snap = s;
    out->n = tb__snap_ncolumns(s);
    out->c = calloc(out->n ? out->n : 1, sizeof *out->c);
    if (!out->c) return TB_ENOMEM;
    for (size_t i = 0; i < out->n; i++) {
        tb__snap_column_at(s, i, &out->c[i].col);
        out->c[i].kind = kind_of(&out->c[i].col);
    }
    return 0;
}

static int cols_find(const cols *c, const char *name)
{
    for (size_t i = 0; i < c->n; i++)
        if (strcmp(c->c[i].col.name, name) == 0) return (int)i;
    return -1;
}

/* The value of column `cr` for customer gid. */
static void col_value(const colref *cr, uint32_t gid, tb__xval *v)
{
    memset(v, 0, sizeof *v);
    const tb__snap_col *c = &cr->col;
    switch (c->type) {
    case TB__SNAP_I64: {
        int64_t x = ((const int64_t *)c->values)[gid];
        if (x == TB__SNAP_NULL_I64) return;
        if (cr->kind == CK_MONEY)
            v->type = TB__XV_NUM, v->d = (double)x / 100.0;
        else if (cr->kind == CK_RATE)
            v->type = TB__XV_NUM, v->d = (double)x / 10000.0;
        else if (cr->kind == CK_TIME)
            v->type = TB__XV_TIME, v->i = x;
        else
            v->type = TB__XV_INT, v->i = x;
        return;
    }
    case TB__SNAP_I32: {
        int32_t x = ((const int32_t *)c->values)[gid];
        if (x == TB__SNAP_NULL_I32) return;
        v->type = cr->kind == CK_DATE ? TB__XV_DATE : TB__XV_INT;
        v->i = x;
        return;
    }
    case TB__SNAP_U8: {
        uint8_t x = ((const uint8_t *)c->values)[gid];
        if (x == TB__SNAP_NULL_U8) return;
        v->type = TB__XV_INT, v->i = x;
        return;
    }
    case TB__SNAP_DICT: {
        size_t len;
        const char *s = tb__snap_dict_str(c, ((const uint32_t *)c->values)[gid], &len);
        if (!s) return;
        v->type = TB__XV_STR, v->s = s, v->slen = len;
        return;
    }
    }
}

/* 10^k for the decimal scales data standards allow (0..18): pow() per row costs more than the rest
 * of the row. */
static double pow10i(int k)
{
    static const double p[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8, 1e9,
                               1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18};
    return k >= 0 && k <= 18 ? p[k] : pow(10, k);
}

/* ---- statistical tags ------------------------------------------------------------------------*/

/* The aggregate of one statistical tag per customer. */
typedef struct statacc {
    uint32_t *count;
    double *sum;
    int64_t *ext;   /* max or min, in the field's stored units */
    uint64_t *days; /* distinct_days: 6 words of day bits per customer (window <= 384) */
    int field, time_field;
    int field_scale;
    int is_max; /* agg "max" (else "min" for the extreme) */
    tb__std_ftype field_type, time_type;
    tb__expr *where;
} statacc;

/* The per-row context of a statistical tag's `where`: the row's fields, typed by the standard. */
typedef struct rowenv {
    const tb__std_type *type;
    const tb__field *f;
    size_t nf;
} rowenv;

static void field_value(const tb__std_field *sf, const tb__field *f, tb__xval *v)
{
    memset(v, 0, sizeof *v);
    if (f->is_null) return;
    switch (sf->type) {
    case TB__STD_INT:
        if (tb__std_parse_int(f->ptr, f->len, &v->i) == 0) v->type = TB__XV_INT;
        return;
    case TB__STD_DECIMAL: {
        int64_t x;
        if (tb__std_parse_decimal(f->ptr, f->len, sf->scale, &x) == 0)
            v->type = TB__XV_NUM, v->d = (double)x / pow10i(sf->scale);
        return;
    }
    case TB__STD_DATE: {
        int32_t d;
        if (tb__std_parse_date(f->ptr, f->len, &d) == 0) v->type = TB__XV_DATE, v->i = d;
        return;
    }
    case TB__STD_TIMESTAMP:
        if (tb__std_parse_timestamp(f->ptr, f->len, &v->i) == 0) v->type = TB__XV_TIME;
        return;
    default:
        v->type = TB__XV_STR, v->s = f->ptr, v->slen = f->len;
        return;
    }
}

static int row_get(const tb__expr *id, void *ctx, tb__xval *out)
{
    const rowenv *r = ctx;
    if (id->slot < 0 || (size_t)id->slot >= r->nf) return TB_EINVAL;
    field_value(&r->type->fields[id->slot], &r->f[id->slot], out);
    return 0;
}

/* ---- the build -------------------------------------------------------------------------------*/

typedef struct btag {
    const tb__tag_def *def;
    tb__expr *expr;  /* value expression (NULL when the tag has values with `when`s) */
    tb__expr **when; /* per value */
    statacc *stat;   /* statistical tags */
    /* results */
    tb__bm_builder **bm; /* per value */
    const char **vals;
    size_t nvals, capvals;
    int32_t *slot; /* open addressing over vals: index + 1, 0 empty; VSLOTS entries */
    tb__bsi_builder *bsi;
    double sum;
    int64_t min, max;
    uint64_t count;
    int rc;
    char err[256];
} btag;

typedef struct build {
    tb_db *db;
    const char *batch;
    const char *snapdir;
    int32_t as_of;
    cols cols;
    uint32_t n;                /* gids */
    const uint32_t *subdomain; /* codes of the subdomain column, or NULL */
    const tb__snap_col *sdcol;
    unsigned *sdbits; /* per dictionary code: tb__subdomain bit */
    tb__bm_builder *live;
    btag *tags;
    size_t ntags;
    atomic_size_t next;
    tb__arena arena;
} build;

/* Binds the identifiers of a rule expression to snapshot columns (slot = column index); the
 * aggregate of a statistical tag is the identifier `value` or the tag's own code (slot -2). */
typedef struct bindctx {
    const cols *c;
    const char *code;
    int stat;
    const char *bad;
} bindctx;

static void bind_ident(tb__expr *e, void *arg)
{
    bindctx *b = arg;
    if (e->kind != TB__X_IDENT) return;
    if (b->stat && (strcmp(e->text, "value") == 0 || strcmp(e->text, b->code) == 0)) {
        e->slot = -2;
        return;
    }
    e->slot = cols_find(b->c, e->text);
    if (e->slot < 0 && !b->bad) b->bad = e->text;
}

static int parse_rule(build *B, btag *t, const char *src, tb__expr **out, tb__errbuf *eb)
{
    tb__expr_error err;
    int rc = tb__expr_parse(src, strlen(src), TB__EXPR_RULE, &B->arena, out, &err);
    if (rc) return tb__seterr(eb, rc, "tag '%s': %s", t->def->code, err.text);
    bindctx b = {&B->cols, t->def->code, t->def->type == TB__TT_STATISTICAL, NULL};
    tb__expr_walk(*out, bind_ident, &b);
    if (b.bad)
        return tb__seterr(eb, TB_EFORMAT, "tag '%s': '%s' is not a column of the snapshot",
                          t->def->code, b.bad);
    return 0;
}

typedef struct evalctx {
    build *B;
    btag *t;
    uint32_t gid;
} evalctx;

static int snap_get(const tb__expr *id, void *ctx, tb__xval *out)
{
    evalctx *c = ctx;
    if (id->slot == -2) {
        const statacc *s = c->t->stat;
        const char *agg = c->t->def->stat.agg;
        memset(out, 0, sizeof *out);
        uint32_t n = s->count[c->gid];
        if (strcmp(agg, "count") == 0)
            out->type = TB__XV_INT, out->i = n;
        else if (strcmp(agg, "distinct_days") == 0) {
            uint64_t k = 0;
            for (int w = 0; w < 6; w++)
                k += (uint64_t)__builtin_popcountll(s->days[(size_t)c->gid * 6 + w]);
            out->type = TB__XV_INT, out->i = (int64_t)k;
        } else if (n == 0)
            return 0;
        else if (strcmp(agg, "sum") == 0)
            out->type = TB__XV_NUM, out->d = s->sum[c->gid];
        else if (strcmp(agg, "avg") == 0)
            out->type = TB__XV_NUM, out->d = s->sum[c->gid] / n;
        else if (s->field_type == TB__STD_DECIMAL)
            out->type = TB__XV_NUM, out->d = (double)s->ext[c->gid] / pow10i(s->field_scale);
        else if (s->field_type == TB__STD_DATE)
            out->type = TB__XV_DATE, out->i = s->ext[c->gid];
        else if (s->field_type == TB__STD_TIMESTAMP)
            out->type = TB__XV_TIME, out->i = s->ext[c->gid];
        else
            out->type = TB__XV_INT, out->i = s->ext[c->gid];
        return 0;
    }
    col_value(&c->B->cols.c[id->slot], c->gid, out);
    return 0;
}

#define MAX_VALUES 4096
#define VSLOTS     (4 * MAX_VALUES) /* a power of two, at most a quarter full */

/* The index of value s[0, len) of tag t, added (with its bitmap) when new. */
static int add_value(btag *t, const char *s, size_t len, uint32_t n, int *idx)
{
    if (!t->slot && !(t->slot = calloc(VSLOTS, sizeof *t->slot))) return TB_ENOMEM;
    uint32_t h = (uint32_t)tb__hash64(s, len, 0) & (VSLOTS - 1);
    for (; t->slot[h]; h = (h + 1) & (VSLOTS - 1)) {
        size_t i = (size_t)t->slot[h] - 1;
        if (strlen(t->vals[i]) == len && memcmp(t->vals[i], s, len) == 0) return *idx = (int)i, 0;
    }
    if (t->nvals == MAX_VALUES) return TB_ELIMIT;
    if (t->nvals == t->capvals) {
        size_t cap = t->capvals ? 2 * t->capvals : 8;
        const char **v = realloc(t->vals, cap * sizeof *v);
        tb__bm_builder **b = v ? realloc(t->bm, cap * sizeof *b) : NULL;
        if (v) t->vals = v;
        if (!b) return TB_ENOMEM;
        t->bm = b;
        t->capvals = cap;
    }
    char *copy = strndup(s, len);
    if (!copy) return TB_ENOMEM;
    int rc = tb__bm_builder_create(n, &t->bm[t->nvals]);
    if (rc) {
        free(copy);
        return rc;
    }
    t->vals[t->nvals] = copy;
    t->slot[h] = (int32_t)t->nvals + 1;
    *idx = (int)t->nvals++;
    return 0;
}

/* The stored integer of a numeric value for tag t (decimal: value * 10^scale, rounded). */
static int to_stored(const btag *t, const tb__xval *v, int64_t *out)
{
    double x;
    switch (v->type) {
    case TB__XV_INT:
    case TB__XV_BOOL:
        if (t->def->vtype == TB__TV_DATE) return -1;
        x = (double)v->i;
        break;
    case TB__XV_NUM:
        if (t->def->vtype == TB__TV_DATE) return -1;
        x = v->d;
        break;
    case TB__XV_DATE:
        if (t->def->vtype != TB__TV_DATE) return -1;
        *out = v->i;
        return 0;
    case TB__XV_TIME:
        if (t->def->vtype != TB__TV_DATE) return -1;
        *out = (v->i + 28800) / 86400 - ((v->i + 28800) % 86400 < 0);
        return 0;
    default:
        return -1;
    }
    x = nearbyint(x * pow10i(t->def->vtype == TB__TV_DECIMAL ? t->def->scale : 0));
    if (!(fabs(x) < 9.2e18)) return -1;
    *out = (int64_t)x;
    return 0;
}

static const char *xval_type_name(tb__xval_type t)
{
    static const char *const n[] = {"null", "boolean", "integer", "number", "text", "date", "time"};
    return n[t];
}

/* Computes tag t for every live customer of its customer types. */
static int compute(build *B, btag *t)
{
    const tb__tag_def *d = t->def;
    evalctx ec = {B, t, 0};
    tb__expr_env env = {snap_get, NULL, &ec, B->as_of, 28800};
    tb__errbuf eb;
    tb__clearerr(&eb);
    int rc = 0,
        numeric = d->vtype == TB__TV_INT || d->vtype == TB__TV_DECIMAL || d->vtype == TB__TV_DATE;
    if (numeric) rc = tb__bsi_builder_create(B->n, &t->bsi);
    /* declared values first, in their order, so that the store lists them as the catalog does */
    for (size_t i = 0; !rc && i < d->nvalues; i++) {
        int k;
        rc = add_value(t, d->values[i].value, strlen(d->values[i].value), B->n, &k);
    }
    int itrue = -1, ifalse = -1;
    if (!rc && d->vtype == TB__TV_BOOL) {
        rc = add_value(t, "true", 4, B->n, &itrue);
        if (!rc) rc = add_value(t, "false", 5, B->n, &ifalse);
    }
    t->min = INT64_MAX;
    t->max = INT64_MIN;
    if (rc || d->type == TB__TT_REALTIME) return rc;
    for (uint32_t g = 0; g < B->n && !rc; g++) {
        if (B->subdomain) {
            uint32_t code = B->subdomain[g];
            if (code == 0 || code >= B->sdcol->ndict) continue; /* not live */
            if (!(B->sdbits[code] & d->cust_types)) continue;
        }
        ec.gid = g;
        if (t->when) {
            int hit = -1;
            for (size_t i = 0; i < d->nvalues && hit < 0; i++) {
                int r = tb__expr_test(t->when[i], &env, &eb);
                if (r < 0)
                    rc = r;
                else if (r)
                    hit = (int)i;
            }
            if (rc) break;
            if (hit >= 0) {
                int k = hit;
                if (d->vtype == TB__TV_BOOL) {
                    const char *v = d->values[hit].value;
                    k = strcmp(v, "false") == 0 || strcmp(v, "0") == 0 ? ifalse : itrue;
                }
                rc = tb__bm_set(t->bm[k], g);
                t->count++;
            } else if (d->vtype == TB__TV_BOOL) {
                rc = tb__bm_set(t->bm[ifalse], g);
                t->count++;
            }
            continue;
        }
        tb__xval v;
        rc = tb__expr_eval(t->expr, &env, &v, &eb);
        if (rc || v.type == TB__XV_NULL) continue;
        if (numeric) {
            int64_t x;
            if (to_stored(t, &v, &x)) {
                rc =
                    tb__seterr(&eb, TB_EFORMAT, "gives a %s, the tag is %s", xval_type_name(v.type),
                               d->vtype == TB__TV_DATE ? "a date" : "a number");
                break;
            }
            rc = tb__bsi_put(t->bsi, g, x);
            t->sum += (double)x;
            if (x < t->min) t->min = x;
            if (x > t->max) t->max = x;
            t->count++;
        } else if (d->vtype == TB__TV_BOOL) {
            int truth = v.type == TB__XV_BOOL || v.type == TB__XV_INT ? v.i != 0
                        : v.type == TB__XV_NUM                        ? v.d != 0
                                                                      : -1;
            if (truth < 0) {
                rc = tb__seterr(&eb, TB_EFORMAT, "gives a %s, the tag is boolean",
                                xval_type_name(v.type));
                break;
            }
            rc = tb__bm_set(t->bm[truth ? itrue : ifalse], g);
            t->count++;
        } else {
            char num[64];
            const char *s = v.s;
            size_t len = v.slen;
            if (v.type == TB__XV_INT)
                len = (size_t)snprintf(num, sizeof num, "%" PRId64, v.i), s = num;
            else if (v.type != TB__XV_STR) {
                rc = tb__seterr(&eb, TB_EFORMAT, "gives a %s, the tag is an enum",
                                xval_type_name(v.type));
                break;
            }
            int k;
            rc = add_value(t, s, len, B->n, &k);
            if (rc == TB_ELIMIT)
                rc = tb__seterr(&eb, TB_ELIMIT,
                                "has more than %d distinct values: an enum tag is a code, not an "
                                "identifier",
                                MAX_VALUES);
            if (!rc) rc = tb__bm_set(t->bm[k], g);
            t->count++;
        }
    }
    if (rc)
        snprintf(t->err, sizeof t->err, "tag '%s': %.180s", d->code,
                 eb.msg[0] ? eb.msg : tb_strerror(rc));
    return rc;
}

static void *worker(void *arg)
{
    build *B = arg;
    for (;;) {
        size_t i = atomic_fetch_add(&B->next, 1);
        if (i >= B->ntags) break;
        B->tags[i].rc = compute(B, &B->tags[i]);
    }
    return NULL;
}

/* ---- statistical scans -----------------------------------------------------------------------*/

static int window_day(const statacc *s, const tb__field *f, int32_t *day)
{
    if (f->is_null) return -1;
    if (s->time_type == TB__STD_DATE) return tb__std_parse_date(f->ptr, f->len, day) ? -1 : 0;
    int64_t t;
    if (tb__std_parse_timestamp(f->ptr, f->len, &t)) return -1;
    int64_t local = t + 28800;
    *day = (int32_t)(local / 86400 - (local % 86400 < 0));
    return 0;
}

/* Binds the identifiers of a statistical tag's `where` to the fields of its business type. */
typedef struct fbind {
    const tb__std_type *st;
    const char *bad;
} fbind;

static void fieldbind(tb__expr *e, void *arg)
{
    fbind *bc = arg;
    if (e->kind != TB__X_IDENT) return;
    e->slot = tb__std_field_index(bc->st, e->text);
    if (e->slot < 0 && !bc->bad) bc->bad = e->text;
}

/* Prepares the accumulators of statistical tag t over business type `st`. */
static int stat_prepare(build *B, btag *t, const tb__std_type *st, tb__errbuf *eb)
{
    const tb__tag_stat *s = &t->def->stat;
    statacc *a = calloc(1, sizeof *a);
    if (!a) return tb__seterr(eb, TB_ENOMEM, "out of memory");
    t->stat = a;
    a->field = a->time_field = -1;
    if (s->field && s->field[0]) {
        a->field = tb__std_field_index(st, s->field);
        if (a->field < 0)
            return tb__seterr(eb, TB_EFORMAT, "tag '%s': business type '%s' has no field '%s'",
                              t->def->code, st->name, s->field);
        a->field_type = st->fields[a->field].type;
        a->field_scale = st->fields[a->field].scale;
    }
    if (s->time_field && s->time_field[0]) {
        a->time_field = tb__std_field_index(st, s->time_field);
        if (a->time_field < 0 || (st->fields[a->time_field].type != TB__STD_DATE &&
                                  st->fields[a->time_field].type != TB__STD_TIMESTAMP))
            return tb__seterr(eb, TB_EFORMAT, "tag '%s': '%s' is not a date or time field of '%s'",
                              t->def->code, s->time_field, st->name);
        a->time_type = st->fields[a->time_field].type;
    }
    const char *agg = s->agg ? s->agg : "count";
    int needs_field = strcmp(agg, "count") != 0 && strcmp(agg, "distinct_days") != 0;
    if (needs_field && a->field < 0)
        return tb__seterr(eb, TB_EFORMAT, "tag '%s': aggregate '%s' needs a field", t->def->code,
                          agg);
    if (strcmp(agg, "distinct_days") == 0 && (a->time_field < 0 || s->window_days > 384))
        return tb__seterr(eb, TB_EFORMAT,
                          "tag '%s': distinct_days needs a time field and a window of at most 384 "
                          "days",
                          t->def->code);
    a->is_max = strcmp(agg, "max") == 0;
    a->count = calloc(B->n ? B->n : 1, sizeof *a->count);
    a->sum = calloc(B->n ? B->n : 1, sizeof *a->sum);
    a->ext = calloc(B->n ? B->n : 1, sizeof *a->ext);
    if (strcmp(agg, "distinct_days") == 0) a->days = calloc((size_t)(B->n ? B->n : 1) * 6, 8);
    if (!a->count || !a->sum || !a->ext || (strcmp(agg, "distinct_days") == 0 && !a->days))
        return tb__seterr(eb, TB_ENOMEM, "out of memory");
    if (s->where && s->where[0]) {
        tb__expr_error err;
        int rc =
            tb__expr_parse(s->where, strlen(s->where), TB__EXPR_RULE, &B->arena, &a->where, &err);
        if (rc) return tb__seterr(eb, rc, "tag '%s': where: %s", t->def->code, err.text);
        fbind bc = {st, NULL};
        tb__expr_walk(a->where, fieldbind, &bc);
        if (bc.bad)
            return tb__seterr(eb, TB_EFORMAT, "tag '%s': where: '%s' is not a field of '%s'",
                              t->def->code, bc.bad, st->name);
    }
    return 0;
}

/* The day of each date or time field of one row, parsed once for all the tags that ask. */
typedef struct daycache {
    int32_t day[64];
    int8_t state[64]; /* 0 not parsed, 1 parsed, -1 NULL or bad */
} daycache;

static void stat_row(build *B, btag *t, const tb__std_type *st, uint32_t gid, const tb__field *f,
                     size_t nf, daycache *dc)
{
    statacc *a = t->stat;
    const tb__tag_stat *s = &t->def->stat;
    int32_t day = 0;
    if (a->time_field >= 0) {
        if ((size_t)a->time_field >= nf) return;
        if (a->time_field < 64) {
            int8_t *stt = &dc->state[a->time_field];
            if (*stt == 0)
                *stt = window_day(a, &f[a->time_field], &dc->day[a->time_field]) ? -1 : 1;
            if (*stt < 0) return;
            day = dc->day[a->time_field];
        } else if (window_day(a, &f[a->time_field], &day))
            return;
        if (day > B->as_of) return;
        if (s->window_days > 0 && day <= B->as_of - s->window_days) return;
    }
    if (a->where) {
        rowenv r = {st, f, nf};
        tb__expr_env env = {row_get, NULL, &r, B->as_of, 28800};
        tb__errbuf eb;
        if (tb__expr_test(a->where, &env, &eb) != 1) return;
    }
    if (a->days) {
        int off = B->as_of - day; /* 0..383 */
        if (off >= 0 && off < 384)
            a->days[(size_t)gid * 6 + (size_t)off / 64] |= 1ull << (off % 64);
        a->count[gid]++;
        return;
    }
    if (a->field < 0) {
        a->count[gid]++;
        return;
    }
    if ((size_t)a->field >= nf || f[a->field].is_null) return;
    tb__xval v;
    field_value(&st->fields[a->field], &f[a->field], &v);
    int64_t x;
    double dx;
    switch (v.type) {
    case TB__XV_NUM:
        dx = v.d, x = (int64_t)nearbyint(v.d * pow10i(a->field_scale));
        break;
    case TB__XV_INT:
    case TB__XV_DATE:
    case TB__XV_TIME:
        dx = (double)v.i, x = v.i;
        break;
    default:
        return;
    }
    if (a->count[gid] == 0)
        a->ext[gid] = x;
    else if (a->is_max ? x > a->ext[gid] : x < a->ext[gid])
        a->ext[gid] = x;
    a->sum[gid] += dx;
    a->count[gid]++;
}

/* Scans the batch's segments of every business type statistical tags read, once per type. */
static int stat_scan(build *B, tb__errbuf *eb)
{
    sqlite3_stmt *st;
    int rc = 0;
    tb__standards *std = NULL;
    int have = 0;
    for (size_t i = 0; i < B->ntags; i++)
        have |= B->tags[i].def->type == TB__TT_STATISTICAL;
    if (!have) return 0;
    int ver;
    rc = tb__std_current(B->db, &std, &ver);
    if (rc) return tb__seterr(eb, rc, "%s", tb_errmsg(B->db));
    for (size_t i = 0; !rc && i < B->ntags; i++) {
        btag *t = &B->tags[i];
        if (t->def->type != TB__TT_STATISTICAL) continue;
        const tb__std_type *ty =
            tb__std_find(std, t->def->stat.business_type ? t->def->stat.business_type : "");
        if (!ty)
            rc = tb__seterr(eb, TB_EFORMAT, "tag '%s': no business type '%s' in the data standards",
                            t->def->code,
                            t->def->stat.business_type ? t->def->stat.business_type : "");
        else
            rc = stat_prepare(B, t, ty, eb);
    }
    rc =
        rc ? rc
           : tb__meta_stmt(B->db, TB__STMT_TAG_SEGMENTS,
                           "SELECT business_type, path FROM segment WHERE batch_date = ?1 ORDER BY "
                           "business_type, file",
                           &st);
    if (rc) {
        tb__std_free(std);
        return rc == TB_ESTORE ? tb__seterr(eb, rc, "%s", tb_errmsg(B->db)) : rc;
    }
    sqlite3_bind_text(st, 1, B->batch, -1, SQLITE_STATIC);
    char **types = NULL, **paths = NULL;
    size_t nseg = 0;
    int src;
    while ((src = sqlite3_step(st)) == SQLITE_ROW && !rc) {
        char **t2 = realloc(types, (nseg + 1) * sizeof *t2);
        if (t2) types = t2;
        char **p2 = t2 ? realloc(paths, (nseg + 1) * sizeof *p2) : NULL;
        if (p2) paths = p2;
        if (!t2 || !p2) {
            rc = tb__seterr(eb, TB_ENOMEM, "out of memory");
            break;
        }
        types[nseg] = strdup((const char *)sqlite3_column_text(st, 0));
        paths[nseg] = strdup((const char *)sqlite3_column_text(st, 1));
        nseg++;
    }
    tb__meta_stmt_done(st);
    for (size_t s = 0; !rc && s < nseg; s++) {
        int wanted = 0;
        for (size_t i = 0; i < B->ntags; i++)
            wanted |= B->tags[i].def->type == TB__TT_STATISTICAL &&
                      B->tags[i].def->stat.business_type &&
                      strcmp(B->tags[i].def->stat.business_type, types[s]) == 0;
        if (!wanted) continue;
        const tb__std_type *ty = tb__std_find(std, types[s]);
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", tb_db_path(B->db), paths[s]);
        tb__seg_reader *r = NULL;
        tb__seg_flag flag;
        rc = tb__seg_reader_open(path, tb__c2_ring(B->db), &r, &flag, eb);
        uint64_t line;
        uint32_t gid;
        const tb__field *f;
        size_t nf;
        /* the tags this segment feeds, found once rather than per row */
        btag **mine = calloc(B->ntags ? B->ntags : 1, sizeof *mine);
        size_t nmine = 0;
        for (size_t i = 0; mine && i < B->ntags; i++)
            if (B->tags[i].stat && strcmp(B->tags[i].def->stat.business_type, types[s]) == 0)
                mine[nmine++] = &B->tags[i];
        if (!mine) rc = tb__seterr(eb, TB_ENOMEM, "out of memory");
        while (!rc && (rc = tb__seg_read(r, &line, &gid, &f, &nf, eb)) == 1) {
            rc = 0;
            if (gid == TB__SEG_NO_GID || gid >= B->n) continue;
            daycache dc;
            memset(dc.state, 0, sizeof dc.state);
            for (size_t i = 0; i < nmine; i++)
                stat_row(B, mine[i], ty, gid, f, nf, &dc);
        }
        free(mine);
        if (r) tb__seg_reader_close(r);
    }
    for (size_t s = 0; s < nseg; s++)
        free(types[s]), free(paths[s]);
    free(types);
    free(paths);
    tb__std_free(std);
    return rc;
}

/* ---- writing the store and recording the build -----------------------------------------------*/

static int32_t batch_days(const char *b)
{
    int32_t d = 0;
    char iso[11];
    snprintf(iso, sizeof iso, "%.4s-%.2s-%.2s", b, b + 4, b + 6);
    tb__std_parse_date(iso, 10, &d);
    return d;
}

/* The distribution of a built tag as JSON text (caller frees): value -> customers for value tags;
 * count, min, max, avg in the tag's unit for numbers; dates as text. */
static char *distribution(const btag *t)
{
    json_t *o = json_object();
    if (!o) return NULL;
    if (t->bsi) {
        double scale = pow(10, t->def->vtype == TB__TV_DECIMAL ? t->def->scale : 0);
        json_object_set_new(o, "count", json_integer((json_int_t)t->count));
        if (t->count) {
            if (t->def->vtype == TB__TV_DATE) {
                char a[TB__DATE_TEXT_LEN], b[TB__DATE_TEXT_LEN];
                tb__date_text(t->min, a);
                tb__date_text(t->max, b);
                json_object_set_new(o, "min", json_string(a));
                json_object_set_new(o, "max", json_string(b));
            } else {
                json_object_set_new(o, "min", json_real((double)t->min / scale));
                json_object_set_new(o, "max", json_real((double)t->max / scale));
                json_object_set_new(o, "avg", json_real(t->sum / (double)t->count / scale));
            }
        }
    } else
        for (size_t i = 0; i < t->nvals; i++)
            json_object_set_new(o, t->vals[i],
                                json_integer((json_int_t)tb__bm_builder_cardinality(t->bm[i])));
    char *s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return s;
}

/* The customer number of every gid: the core system's smallest key, else that of the first system
 * by name. One pass over the key table in its own order (system, key), so the first key seen of
 * a system is its smallest: no sort, no index by gid. */
static int put_keys(build *B, tb__tagw *w, tb__errbuf *eb)
{
    sqlite3_stmt *st;
    int rc = tb__meta_stmt(B->db, TB__STMT_TAG_KEYS,
                           "SELECT system, key, gid FROM party_key ORDER BY system, key", &st);
    if (rc) return tb__seterr(eb, rc, "%s", tb_errmsg(B->db));
    size_t n = (size_t)B->n;
    uint64_t *at = malloc((n ? n : 1) * sizeof *at); /* into seen; UINT64_MAX: none yet */
    uint32_t *len = malloc((n ? n : 1) * sizeof *len);
    uint8_t *core = calloc(n ? n : 1, 1); /* the key kept is the core system's */
    uint64_t *offs = calloc(n + 1, sizeof *offs);
    tb__buf seen = TB__BUF_INIT, blob = TB__BUF_INIT;
    if (!at || !len || !core || !offs) rc = tb__seterr(eb, TB_ENOMEM, "out of memory");
    for (size_t g = 0; !rc && g < n; g++)
        at[g] = UINT64_MAX;
    int s = SQLITE_DONE;
    while (!rc && (s = sqlite3_step(st)) == SQLITE_ROW) {
        sqlite3_int64 g = sqlite3_column_int64(st, 2);
        if (g < 0 || (uint64_t)g >= n) continue;
        const char *sys = (const char *)sqlite3_column_text(st, 0);
        int is_core = sys && strcmp(sys, "core") == 0;
        if (at[g] != UINT64_MAX && (core[g] || !is_core)) continue;
        at[g] = seen.len;
        len[g] = (uint32_t)sqlite3_column_bytes(st, 1);
        core[g] = (uint8_t)is_core;
        if (tb__buf_append(&seen, sqlite3_column_text(st, 1), len[g]))
            rc = tb__seterr(eb, TB_ENOMEM, "out of memory");
    }
    if (!rc && s != SQLITE_DONE) rc = tb__seterr(eb, TB_ESTORE, "cannot read party keys");
    tb__meta_stmt_done(st);
    for (size_t g = 0; !rc && g < n; g++) {
        offs[g] = blob.len;
        if (at[g] != UINT64_MAX && tb__buf_append(&blob, seen.data + at[g], len[g]))
            rc = tb__seterr(eb, TB_ENOMEM, "out of memory");
    }
    if (!rc) offs[n] = blob.len;
    if (!rc) rc = tb__tagw_put_keys(w, blob.data ? blob.data : "", offs, eb);
    free(at);
    free(len);
    free(core);
    free(offs);
    tb__buf_release(&seen);
    tb__buf_release(&blob);
    return rc;
}

static int write_store(build *B, const char *abs, uint64_t *bytes, tb__errbuf *eb)
{
    tb__tagw *w;
    int rc = tb__tagw_open(abs, B->n, &w, eb);
    if (rc) return rc;
    tb__tagw_seal(w, tb__c2_active(B->db));
    rc = tb__tagw_put_universe(w, B->live, eb);
    if (!rc) rc = put_keys(B, w, eb);
    for (size_t i = 0; !rc && i < B->ntags; i++) {
        btag *t = &B->tags[i];
        const tb__tag_def *d = t->def;
        tb__buf src = TB__BUF_INIT;
        tb__buf_putc(&src, '[');
        for (size_t k = 0; k < d->nsources; k++) {
            json_t *js = json_string(d->sources[k]);
            char *q = js ? json_dumps(js, JSON_ENCODE_ANY) : NULL;
            tb__buf_printf(&src, "%s%s", k ? "," : "", q ? q : "\"\"");
            free(q);
            json_decref(js);
        }
        tb__buf_putc(&src, ']');
        tb__tag_meta m = {d->code,  d->name_zh, d->name_en,  d->type,           d->vtype,
                          d->scale, d->version, d->pi_class, d->security_level, src.data};
        rc = t->bsi ? tb__tagw_put_bsi(w, &m, t->bsi, eb)
                    : tb__tagw_put_values(w, &m, t->vals, t->bm, t->nvals, eb);
        tb__buf_release(&src);
    }
    if (rc) {
        tb__tagw_abort(w);
        return rc;
    }
    char meta[160];
    snprintf(meta, sizeof meta, "{\"batch_date\":\"%s\",\"customers\":%" PRIu64 "}", B->batch,
             tb__bm_builder_cardinality(B->live));
    return tb__tagw_commit(w, meta, bytes, eb);
}

static void btag_release(btag *t)
{
    for (size_t i = 0; i < t->nvals; i++) {
        tb__bm_builder_free(t->bm[i]);
        free((char *)t->vals[i]);
    }
    free(t->bm);
    free(t->vals);
    free(t->slot);
    tb__bsi_builder_free(t->bsi);
    if (t->stat) {
        free(t->stat->count);
        free(t->stat->sum);
        free(t->stat->ext);
        free(t->stat->days);
        free(t->stat);
    }
}

/* Parses what tag t computes from: `when`s of its values, or one value expression. */
static int prepare_tag(build *B, btag *t, tb__errbuf *eb)
{
    const tb__tag_def *d = t->def;
    int has_when = 0;
    for (size_t i = 0; i < d->nvalues; i++)
        has_when |= d->values[i].when && d->values[i].when[0];
    if (d->type == TB__TT_REALTIME) return 0;
    if (has_when) {
        t->when = tb__arena_calloc(&B->arena, d->nvalues, sizeof *t->when);
        if (!t->when) return tb__seterr(eb, TB_ENOMEM, "out of memory");
        for (size_t i = 0; i < d->nvalues; i++) {
            if (!d->values[i].when || !d->values[i].when[0])
                return tb__seterr(eb, TB_EFORMAT, "tag '%s': value '%s' has no 'when'", d->code,
                                  d->values[i].value);
            int rc = parse_rule(B, t, d->values[i].when, &t->when[i], eb);
            if (rc) return rc;
        }
        return 0;
    }
    const char *src = d->expr && d->expr[0]             ? d->expr
                      : d->attribute && d->attribute[0] ? d->attribute
                      : d->type == TB__TT_STATISTICAL   ? "value"
                                                        : NULL;
    if (!src)
        return tb__seterr(eb, TB_EFORMAT,
                          "tag '%s': neither an expression, an attribute nor values", d->code);
    return parse_rule(B, t, src, &t->expr, eb);
}

static int record(build *B, int64_t build_id, const char *rel, uint64_t bytes, int64_t millis,
                  tb__errbuf *eb)
{
    tb_db *db = B->db;
    sqlite3_stmt *st;
    char now[TB__TIME_TEXT_LEN];
    tb__now_text(now);
    int rc = tb__meta_begin(db);
    if (rc) return tb__seterr(eb, rc, "%s", tb_errmsg(db));
    rc = tb__meta_stmt(db, TB__STMT_TAG_BUILD_UNCURRENT,
                       "UPDATE tag_build SET current = 0 WHERE batch_date = ?1", &st);
    if (!rc) {
        sqlite3_bind_text(st, 1, B->batch, -1, SQLITE_STATIC);
        rc = tb__meta_run(db, st, "cannot record the tag build");
    }
    if (!rc)
        rc = tb__meta_stmt(db, TB__STMT_TAG_BUILD_INSERT,
                           "INSERT INTO tag_build (build_id, batch_date, dir, snapshot, customers, "
                           "tags, bytes, millis, built_at, current) VALUES (?1, ?2, ?3, ?4, ?5, "
                           "?6, ?7, ?8, ?9, 1)",
                           &st);
    if (!rc) {
        sqlite3_bind_int64(st, 1, build_id);
        sqlite3_bind_text(st, 2, B->batch, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, rel, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 4, B->snapdir, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 5, (sqlite3_int64)tb__bm_builder_cardinality(B->live));
        sqlite3_bind_int64(st, 6, (sqlite3_int64)B->ntags);
        sqlite3_bind_int64(st, 7, (sqlite3_int64)bytes);
        sqlite3_bind_int64(st, 8, millis);
        sqlite3_bind_text(st, 9, now, -1, SQLITE_STATIC);
        rc = tb__meta_run(db, st, "cannot record the tag build");
    }
    for (size_t i = 0; !rc && i < B->ntags; i++) {
        btag *t = &B->tags[i];
        char *dist = distribution(t);
        rc = dist ? tb__meta_stmt(db, TB__STMT_TAG_STAT_INSERT,
                                  "INSERT INTO tag_stat (build_id, code, version, coverage, "
                                  "distribution) VALUES (?1, ?2, ?3, ?4, ?5)",
                                  &st)
                  : TB_ENOMEM;
        if (!rc) {
            sqlite3_bind_int64(st, 1, build_id);
            sqlite3_bind_text(st, 2, t->def->code, -1, SQLITE_STATIC);
            sqlite3_bind_int(st, 3, t->def->version);
            sqlite3_bind_int64(st, 4, (sqlite3_int64)t->count);
            sqlite3_bind_text(st, 5, dist, -1, SQLITE_TRANSIENT);
            rc = tb__meta_run(db, st, "cannot record tag statistics");
        }
        free(dist);
    }
    if (rc) {
        tb__meta_rollback(db);
        return tb__seterr(eb, rc, "%s", tb_errmsg(db));
    }
    rc = tb__meta_commit(db);
    return rc ? tb__seterr(eb, rc, "%s", tb_errmsg(db)) : 0;
}

/* Removes builds that are no longer current, and those of batches without a snapshot. */
static void gc(tb_db *db)
{
    sqlite3_stmt *st;
    if (tb__meta_stmt(db, TB__STMT_TAG_BUILD_STALE,
                      "SELECT build_id, dir FROM tag_build WHERE current = 0 OR batch_date NOT IN "
                      "(SELECT batch_date FROM snapshot)",
                      &st))
        return;
    int64_t ids[256];
    char *dirs[256];
    size_t n = 0;
    while (n < 256 && sqlite3_step(st) == SQLITE_ROW) {
        ids[n] = sqlite3_column_int64(st, 0);
        dirs[n] = strdup((const char *)sqlite3_column_text(st, 1));
        if (dirs[n]) n++;
    }
    tb__meta_stmt_done(st);
    for (size_t i = 0; i < n; i++) {
        if (!tb__meta_stmt(db, TB__STMT_TAG_BUILD_DELETE,
                           "DELETE FROM tag_build WHERE build_id = ?1", &st)) {
            sqlite3_bind_int64(st, 1, ids[i]);
            if (tb__meta_run(db, st, "cannot remove a replaced tag build") == 0 &&
                !strstr(dirs[i], "..")) {
                char path[4096];
                snprintf(path, sizeof path, "%s/%s", tb_db_path(db), dirs[i]);
                tb__rm_tree(path);
            }
        }
        free(dirs[i]);
    }
}

int tb__tags_build(tb_db *db, const char *batch_date, const tb__tag_def *defs, size_t n,
                   int threads, json_t **summary, tb__errbuf *eb)
{
    *summary = NULL;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int rc = tb__db_check_writable(db);
    if (rc) return tb__seterr(eb, rc, "%s", tb_errmsg(db));
    build B;
    memset(&B, 0, sizeof B);
    B.db = db;
    tb__arena_init(&B.arena, 0);
    sqlite3_stmt *st;
    char batch[9] = "", snapdir[512] = "";
    rc = tb__meta_stmt(db, TB__STMT_TAG_SNAPSHOT,
                       "SELECT batch_date, dir FROM snapshot WHERE ?1 IS NULL OR batch_date = ?1 "
                       "ORDER BY batch_date DESC LIMIT 1",
                       &st);
    if (rc) return tb__seterr(eb, rc, "%s", tb_errmsg(db));
    if (batch_date) sqlite3_bind_text(st, 1, batch_date, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW) {
        snprintf(batch, sizeof batch, "%s", (const char *)sqlite3_column_text(st, 0));
        snprintf(snapdir, sizeof snapdir, "%s", (const char *)sqlite3_column_text(st, 1));
    }
    tb__meta_stmt_done(st);
    if (!batch[0])
        return tb__seterr(eb, TB_ENOENT, "no snapshot%s%s has been loaded: run 'tagbase load'",
                          batch_date ? " of " : "", batch_date ? batch_date : "");
    B.batch = batch;
    B.snapdir = snapdir;
    B.as_of = batch_days(batch);
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", tb_db_path(db), snapdir);
    tb__snap *snap = NULL;
    rc = tb__snap_open_keys(path, tb__c2_ring(db), &snap, eb);
    if (rc) goto out;
    rc = cols_load(snap, &B.cols);
    if (rc) goto out;
    B.n = (uint32_t)tb__snap_nrows(snap);
    int sd = cols_find(&B.cols, "subdomain");
    if (sd >= 0 && B.cols.c[sd].col.type == TB__SNAP_DICT) {
        B.sdcol = &B.cols.c[sd].col;
        B.subdomain = B.sdcol->values;
        B.sdbits = calloc(B.sdcol->ndict ? B.sdcol->ndict : 1, sizeof *B.sdbits);
        if (!B.sdbits) rc = TB_ENOMEM;
        for (uint32_t k = 1; !rc && k < B.sdcol->ndict; k++) {
            size_t len;
            const char *s = tb__snap_dict_str(B.sdcol, k, &len);
            B.sdbits[k] = len == 6 && memcmp(s, "retail", 6) == 0      ? TB__SD_RETAIL
                          : len == 9 && memcmp(s, "corporate", 9) == 0 ? TB__SD_CORPORATE
                          : len == 8 && memcmp(s, "merchant", 8) == 0  ? TB__SD_MERCHANT
                                                                       : 0;
        }
    }
    if (!rc) rc = tb__bm_builder_create(B.n, &B.live);
    for (uint32_t g = 0; !rc && g < B.n; g++)
        if (!B.subdomain || (B.subdomain[g] && B.subdomain[g] < B.sdcol->ndict))
            rc = tb__bm_set(B.live, g);
    B.tags = calloc(n ? n : 1, sizeof *B.tags);
    if (!B.tags) rc = TB_ENOMEM;
    if (rc) {
        rc = tb__seterr(eb, rc, "cannot prepare the build: %s", tb_strerror(rc));
        goto out;
    }
    B.ntags = n;
    for (size_t i = 0; !rc && i < n; i++) {
        B.tags[i].def = &defs[i];
        rc = prepare_tag(&B, &B.tags[i], eb);
    }
    if (!rc) rc = stat_scan(&B, eb);
    if (rc) goto out;
    if (threads <= 0) {
        long c = sysconf(_SC_NPROCESSORS_ONLN);
        threads = c > 0 ? (int)c : 1;
    }
    if (threads > 32) threads = 32;
    pthread_t tid[32];
    int started[32] = {0};
    atomic_init(&B.next, 0);
    for (int i = 1; i < threads; i++)
        started[i] = pthread_create(&tid[i], NULL, worker, &B) == 0;
    worker(&B);
    for (int i = 1; i < threads; i++)
        if (started[i]) pthread_join(tid[i], NULL);
    for (size_t i = 0; i < n; i++)
        if (B.tags[i].rc) {
            rc = tb__seterr(eb, B.tags[i].rc, "%s", B.tags[i].err);
            goto out;
        }
    /* the store */
    int64_t build_id = 1;
    rc = tb__meta_stmt(db, TB__STMT_TAG_BUILD_NEXT,
                       "SELECT coalesce(max(build_id), 0) + 1 FROM tag_build", &st);
    if (rc) {
        rc = tb__seterr(eb, rc, "%s", tb_errmsg(db));
        goto out;
    }
    if (sqlite3_step(st) == SQLITE_ROW) build_id = sqlite3_column_int64(st, 0);
    tb__meta_stmt_done(st);
    char rel[64], abs[4096];
    snprintf(rel, sizeof rel, "tags/%s-%" PRId64, batch, build_id);
    snprintf(abs, sizeof abs, "%s/tags", tb_db_path(db));
    rc = tb__mkdir_p(abs, 0750, eb);
    snprintf(abs, sizeof abs, "%s/%s", tb_db_path(db), rel);
    uint64_t bytes = 0;
    if (!rc) rc = write_store(&B, abs, &bytes, eb);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    int64_t millis = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
    if (!rc) {
        rc = record(&B, build_id, rel, bytes, millis, eb);
        if (rc) tb__rm_tree(abs);
    }
    if (rc) goto out;
    gc(db);
    json_t *types = json_object();
    static const char *const tn[] = {"fact",  "rule",     "statistical",
                                     "model", "external", "realtime"};
    for (size_t i = 0; i < n; i++) {
        const char *k = tn[defs[i].type];
        json_object_set_new(types, k,
                            json_integer(json_integer_value(json_object_get(types, k)) + 1));
    }
    uint64_t live = tb__bm_builder_cardinality(B.live);
    *summary = json_pack("{s:s, s:I, s:s, s:I, s:I, s:I, s:f, s:I, s:o}", "batch_date", batch,
                         "build_id", (json_int_t)build_id, "dir", rel, "customers",
                         (json_int_t)live, "tags", (json_int_t)n, "bytes", (json_int_t)bytes,
                         "bytes_per_customer", live ? (double)bytes / (double)live : 0.0, "millis",
                         (json_int_t)millis, "by_type", types);
    if (!*summary) rc = tb__seterr(eb, TB_ENOMEM, "out of memory");
out:
    for (size_t i = 0; B.tags && i < B.ntags; i++)
        btag_release(&B.tags[i]);
    free(B.tags);
    free(B.sdbits);
    free(B.cols.c);
    tb__bm_builder_free(B.live);
    tb__snap_close(snap);
    tb__arena_release(&B.arena);
    return rc;
}

int tb__tags_current(tb_db *db, const char *batch_date, char **dir, char batch_out[9],
                     tb__errbuf *eb)
{
    *dir = NULL;
    sqlite3_stmt *st;
    int rc = tb__meta_stmt(db, TB__STMT_TAG_BUILD_CURRENT,
                           "SELECT batch_date, dir FROM tag_build WHERE current = 1 AND (?1 IS "
                           "NULL OR batch_date = ?1) ORDER BY batch_date DESC LIMIT 1",
                           &st);
    if (rc) return tb__seterr(eb, rc, "%s", tb_errmsg(db));
    if (batch_date) sqlite3_bind_text(st, 1, batch_date, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW) {
        snprintf(batch_out, 9, "%s", (const char *)sqlite3_column_text(st, 0));
        size_t n = strlen(tb_db_path(db)) + (size_t)sqlite3_column_bytes(st, 1) + 2;
        *dir = malloc(n);
        if (*dir)
            snprintf(*dir, n, "%s/%s", tb_db_path(db), (const char *)sqlite3_column_text(st, 1));
    }
    tb__meta_stmt_done(st);
    if (*dir) return 0;
    if (batch_date)
        return tb__seterr(eb, TB_ENOENT, "no tags built for %s: run 'tagbase tag build --batch %s'",
                          batch_date, batch_date);
    return tb__seterr(eb, TB_ENOENT, "no tags built yet: run 'tagbase tag build'");
}
