/* catalog.c — the tag centre's catalog: parses tag definitions (the file format of
 * docs/tags.md), loads catalog files into the meta store as versions, runs the lifecycle (draft ->
 * in_review -> online -> offline, approved by a second person) and answers list, tree, show and
 * history. Definitions are stored as canonical JSON text, so every version stays readable by the
 * same parser that admitted it. */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "pipeline/profile.h"
#include "pipeline/standard.h"
#include "segments/expr.h"
#include "store/meta.h"
#include "tags/catalog.h"

#define MAX_FILE_BYTES  (64u << 20) /* a catalog file; the default one is ~300 KiB */
#define MAX_TAGS        100000
#define MAX_VALUES      256
#define MAX_SOURCES     64
#define MAX_TEXT        4096 /* bytes of a name, description or expression */
#define MAX_USER        64
#define MAX_WINDOW_DAYS 3660

/* ---- the snapshot columns rule expressions may read ------------------------------------------ */

/* The golden-record columns every snapshot carries besides the profile attributes. This list must
 * match put_golden() in src/pipeline/load.c (tests/unit/test_catalog.c loads a generated batch
 * and compares it with the snapshot's columns). The profile attributes come from profile.h. */
static const struct {
    const char *name;
    tb__pkind kind;
} golden_cols[] = {
    {"party_kind", TB__PK_CODE}, {"cust_type", TB__PK_CODE}, {"gender", TB__PK_CODE},
    {"birth_date", TB__PK_DATE}, {"province", TB__PK_CODE},  {"city", TB__PK_CODE},
    {"occupation", TB__PK_CODE}, {"industry", TB__PK_CODE},  {"risk_level", TB__PK_CODE},
    {"org_id", TB__PK_CODE},     {"mgr_id", TB__PK_CODE},    {"subdomain", TB__PK_CODE},
};
#define NGOLDEN (sizeof golden_cols / sizeof golden_cols[0])

size_t tb__catalog_ncolumns(void)
{
    return NGOLDEN + tb__profile_nattrs();
}

const char *tb__catalog_column(size_t i, int *kind)
{
    if (i < NGOLDEN) {
        if (kind) *kind = (int)golden_cols[i].kind;
        return golden_cols[i].name;
    }
    i -= NGOLDEN;
    if (i >= tb__profile_nattrs()) return NULL;
    const tb__pattr_info *in = tb__profile_attr(i);
    if (kind) *kind = (int)in->kind;
    return in->name;
}

static int column_kind(const char *name, tb__pkind *kind)
{
    for (size_t i = 0; i < tb__catalog_ncolumns(); i++) {
        int k = 0;
        const char *n = tb__catalog_column(i, &k);
        if (strcmp(n, name) == 0) {
            *kind = (tb__pkind)k;
            return 1;
        }
    }
    return 0;
}

/* ---- names of the enums ---------------------------------------------------------------------- */

static const char *const type_names[] = {"fact",  "rule",     "statistical",
                                         "model", "external", "realtime"};
static const char *const vtype_names[] = {"boolean", "enum", "integer", "decimal", "date"};
static const char *const refresh_names[] = {"daily", "weekly", "monthly", "quarterly", "realtime"};
static const char *const agg_names[] = {"count", "sum", "avg", "max", "min", "distinct_days"};
static const char *const status_names[] = {"draft", "in_review", "online", "offline"};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static int name_index(const char *const *names, size_t n, const char *s)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(names[i], s) == 0) return (int)i;
    return -1;
}

const char *tb__catalog_type_name(tb__tag_type t)
{
    return (unsigned)t < COUNT(type_names) ? type_names[t] : "?";
}

const char *tb__catalog_vtype_name(tb__tag_vtype t)
{
    return (unsigned)t < COUNT(vtype_names) ? vtype_names[t] : "?";
}

/* "a, b or c" for messages. */
static void one_of(const char *const *names, size_t n, char *out, size_t cap)
{
    size_t len = 0;
    out[0] = '\0';
    for (size_t i = 0; i < n && len < cap; i++)
        len += (size_t)snprintf(out + len, cap - len, "%s'%s'",
                                i == 0       ? ""
                                : i + 1 == n ? " or "
                                             : ", ",
                                names[i]);
}

/* ---- parsing one definition ------------------------------------------------------------------ */

typedef struct pctx {
    const char *code; /* for messages: the tag's code once known */
    tb__arena *a;
    tb__errbuf *eb;
    int check_exprs; /* parse expressions and resolve their names against the snapshot columns */
} pctx;

static int perr(pctx *p, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int perr(pctx *p, const char *field, const char *fmt, ...)
{
    char msg[TB__ERRMSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (p->code)
        return tb__seterr(p->eb, TB_EFORMAT, "tag '%s': field '%s': %s", p->code, field, msg);
    return tb__seterr(p->eb, TB_EFORMAT, "tag (no code): field '%s': %s", field, msg);
}

static int valid_code(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 64 || !(s[0] >= 'a' && s[0] <= 'z')) return 0;
    for (size_t i = 1; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
            return 0;
    return 1;
}

/* A string member: 1 and *out (copied into the arena) when present, 0 when absent (an error when
 * required), or a negative error. */
static int get_str(pctx *p, const json_t *obj, const char *key, const char *field, int required,
                   const char **out)
{
    *out = NULL;
    const json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v)) {
        if (required) return perr(p, field, "missing");
        return 0;
    }
    if (!json_is_string(v)) return perr(p, field, "expected a string");
    size_t n = json_string_length(v);
    if (n == 0) return perr(p, field, "must not be empty");
    if (n > MAX_TEXT) return perr(p, field, "longer than %d bytes", MAX_TEXT);
    if (memchr(json_string_value(v), '\0', n)) return perr(p, field, "contains a NUL character");
    if (!(*out = tb__arena_strndup(p->a, json_string_value(v), n))) return TB_ENOMEM;
    return 1;
}

static int get_enum(pctx *p, const json_t *obj, const char *key, const char *const *names, size_t n,
                    int *out)
{
    const char *s;
    int rc = get_str(p, obj, key, key, 1, &s);
    if (rc < 0) return rc;
    int i = name_index(names, n, s);
    if (i < 0) {
        char list[256];
        one_of(names, n, list, sizeof list);
        return perr(p, key, "'%s' is not one of %s", s, list);
    }
    *out = i;
    return 0;
}

/* An integer member in [lo, hi]; absent gives `dflt` (or an error when required). */
static int get_int(pctx *p, const json_t *obj, const char *key, const char *field, int required,
                   long lo, long hi, long dflt, long *out)
{
    const json_t *v = json_object_get(obj, key);
    *out = dflt;
    if (!v || json_is_null(v)) return required ? perr(p, field, "missing") : 0;
    if (!json_is_integer(v)) return perr(p, field, "expected an integer");
    json_int_t x = json_integer_value(v);
    if (x < lo || x > hi)
        return perr(p, field, "%" JSON_INTEGER_FORMAT " is not in %ld..%ld", x, lo, hi);
    *out = (long)x;
    return 0;
}

static int check_keys(pctx *p, const json_t *obj, const char *prefix, const char *const *keys,
                      size_t n)
{
    const char *k;
    const json_t *v;
    json_object_foreach((json_t *)obj, k, v)
    {
        (void)v;
        if (name_index(keys, n, k) < 0) {
            char field[160];
            snprintf(field, sizeof field, "%s%s", prefix, k);
            return perr(p, field, "unknown field");
        }
    }
    return 0;
}

/* Names an expression may read: the snapshot's columns, or a business type's fields. */
typedef struct names {
    const char **v;
    size_t n;
} names;

static int snapshot_names(tb__arena *a, names *out)
{
    out->n = tb__catalog_ncolumns();
    out->v = tb__arena_calloc(a, out->n, sizeof *out->v);
    if (!out->v) return TB_ENOMEM;
    for (size_t i = 0; i < out->n; i++)
        out->v[i] = tb__catalog_column(i, NULL);
    return 0;
}

typedef struct unknown_ctx {
    const names *known;
    const tb__expr *bad;
} unknown_ctx;

static void find_unknown(tb__expr *node, void *arg)
{
    unknown_ctx *u = arg;
    if (u->bad || node->kind != TB__X_IDENT) return;
    for (size_t i = 0; i < u->known->n; i++)
        if (strcmp(u->known->v[i], node->text) == 0) return;
    u->bad = node;
}

/* Parses a rule-mode expression and checks that every name it reads is in `known`. The message
 * names the field and, for an unknown name, the nearest known one. */
static int check_expr(pctx *p, const char *field, const char *src, const names *known)
{
    tb__expr *e;
    tb__expr_error xe;
    int rc = tb__expr_parse(src, strlen(src), TB__EXPR_RULE, p->a, &e, &xe);
    if (rc == TB_ENOMEM) return rc;
    if (rc) return perr(p, field, "%s", xe.msg[0] ? xe.text : "cannot parse the expression");
    unknown_ctx u = {known, NULL};
    tb__expr_walk(e, find_unknown, &u);
    if (u.bad) {
        const char *near = tb__expr_nearest(u.bad->text, known->v, known->n);
        if (near)
            return perr(p, field, "unknown column '%s' (did you mean '%s'?)", u.bad->text, near);
        return perr(p, field, "unknown column '%s'", u.bad->text);
    }
    return 0;
}

static int parse_values(pctx *p, const json_t *arr, tb__tag_def *d, int with_when,
                        const names *cols)
{
    if (!json_is_array(arr)) return perr(p, "values", "expected an array");
    size_t n = json_array_size(arr);
    if (n == 0) return perr(p, "values", "must not be empty");
    if (n > MAX_VALUES) return perr(p, "values", "more than %d values", MAX_VALUES);
    tb__tag_value *vals = tb__arena_calloc(p->a, n, sizeof *vals);
    if (!vals) return TB_ENOMEM;
    static const char *const keys[] = {"value", "name_zh", "name_en", "when"};
    for (size_t i = 0; i < n; i++) {
        const json_t *o = json_array_get(arr, i);
        char f[64], pre[32];
        snprintf(pre, sizeof pre, "values[%zu].", i);
        if (!json_is_object(o)) {
            snprintf(f, sizeof f, "values[%zu]", i);
            return perr(p, f, "expected an object");
        }
        int rc = check_keys(p, o, pre, keys, COUNT(keys));
        if (rc) return rc;
        snprintf(f, sizeof f, "values[%zu].value", i);
        if ((rc = get_str(p, o, "value", f, 1, &vals[i].value)) < 0) return rc;
        if (strlen(vals[i].value) > 64) return perr(p, f, "longer than 64 bytes");
        if (d->vtype == TB__TV_BOOL && strcmp(vals[i].value, "true") != 0 &&
            strcmp(vals[i].value, "false") != 0)
            return perr(p, f, "a boolean tag's values are 'true' and 'false', not '%s'",
                        vals[i].value);
        for (size_t k = 0; k < i; k++)
            if (strcmp(vals[k].value, vals[i].value) == 0)
                return perr(p, f, "'%s' repeats values[%zu]", vals[i].value, k);
        snprintf(f, sizeof f, "values[%zu].name_zh", i);
        if ((rc = get_str(p, o, "name_zh", f, 1, &vals[i].name_zh)) < 0) return rc;
        snprintf(f, sizeof f, "values[%zu].name_en", i);
        if ((rc = get_str(p, o, "name_en", f, 1, &vals[i].name_en)) < 0) return rc;
        snprintf(f, sizeof f, "values[%zu].when", i);
        if ((rc = get_str(p, o, "when", f, with_when, &vals[i].when)) < 0) return rc;
        if (!with_when && vals[i].when)
            return perr(p, f, "the values are codes of column '%s' here, without 'when'",
                        d->attribute ? d->attribute : "?");
        if (vals[i].when && p->check_exprs && (rc = check_expr(p, f, vals[i].when, cols)) != 0)
            return rc;
    }
    d->values = vals;
    d->nvalues = n;
    return 0;
}

static int parse_stat(pctx *p, const json_t *o, tb__tag_def *d)
{
    static const char *const keys[] = {"business_type", "agg",         "field",
                                       "time_field",    "window_days", "where"};
    if (!json_is_object(o)) return perr(p, "stat", "expected an object");
    int rc = check_keys(p, o, "stat.", keys, COUNT(keys));
    if (rc) return rc;
    tb__tag_stat *s = &d->stat;
    if ((rc = get_str(p, o, "business_type", "stat.business_type", 1, &s->business_type)) < 0)
        return rc;
    if (!valid_code(s->business_type))
        return perr(p, "stat.business_type", "'%s' is not a business type name", s->business_type);
    if ((rc = get_str(p, o, "agg", "stat.agg", 1, &s->agg)) < 0) return rc;
    if (name_index(agg_names, COUNT(agg_names), s->agg) < 0) {
        char list[160];
        one_of(agg_names, COUNT(agg_names), list, sizeof list);
        return perr(p, "stat.agg", "'%s' is not one of %s", s->agg, list);
    }
    int counting = strcmp(s->agg, "count") == 0 || strcmp(s->agg, "distinct_days") == 0;
    if ((rc = get_str(p, o, "field", "stat.field", !counting, &s->field)) < 0) return rc;
    if (counting && s->field) return perr(p, "stat.field", "'%s' reads no field", s->agg);
    if ((rc = get_str(p, o, "time_field", "stat.time_field", 0, &s->time_field)) < 0) return rc;
    long w;
    if ((rc = get_int(p, o, "window_days", "stat.window_days", 1, 0, MAX_WINDOW_DAYS, 0, &w)) != 0)
        return rc;
    s->window_days = (int)w;
    if ((w > 0 || strcmp(s->agg, "distinct_days") == 0) && !s->time_field)
        return perr(p, "stat.time_field", "missing (a window or distinct_days needs it)");
    if ((rc = get_str(p, o, "where", "stat.where", 0, &s->where)) < 0) return rc;
    if (s->where && p->check_exprs) {
        /* The row's fields are known only with a data standard (tb__catalog_check_def); here the
         * expression must at least parse. */
        tb__expr *e;
        tb__expr_error xe;
        rc = tb__expr_parse(s->where, strlen(s->where), TB__EXPR_RULE, p->a, &e, &xe);
        if (rc == TB_ENOMEM) return rc;
        if (rc) return perr(p, "stat.where", "%s", xe.text);
    }
    return 0;
}

static int parse_sources(pctx *p, const json_t *arr, tb__tag_def *d)
{
    if (!json_is_array(arr)) return perr(p, "sources", "expected an array of \"type.field\" texts");
    size_t n = json_array_size(arr);
    if (n == 0) return perr(p, "sources", "must not be empty (the tag's lineage)");
    if (n > MAX_SOURCES) return perr(p, "sources", "more than %d sources", MAX_SOURCES);
    const char **v = tb__arena_calloc(p->a, n, sizeof *v);
    if (!v) return TB_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        const json_t *s = json_array_get(arr, i);
        char f[32];
        snprintf(f, sizeof f, "sources[%zu]", i);
        if (!json_is_string(s)) return perr(p, f, "expected a string");
        const char *t = json_string_value(s);
        /* business_type or business_type.field, both code-shaped */
        char head[80];
        const char *dot = strchr(t, '.');
        size_t hl = dot ? (size_t)(dot - t) : strlen(t);
        if (hl >= sizeof head) return perr(p, f, "'%s' is not \"business_type.field\"", t);
        memcpy(head, t, hl);
        head[hl] = '\0';
        if (!valid_code(head) || (dot && (!valid_code(dot + 1))))
            return perr(p, f, "'%s' is not \"business_type.field\"", t);
        if (!(v[i] = tb__arena_strdup(p->a, t))) return TB_ENOMEM;
    }
    d->sources = v;
    d->nsources = n;
    return 0;
}

/* Whether a fact (or model/external) tag of value type vt may show a column of kind k as it is. */
static const char *kind_fits(tb__pkind k, tb__tag_vtype vt)
{
    switch (k) {
    case TB__PK_MONEY:
    case TB__PK_RATE:
        return vt == TB__TV_DECIMAL ? NULL : "decimal";
    case TB__PK_INT:
        return vt == TB__TV_INT || vt == TB__TV_BOOL ? NULL : "integer or boolean";
    case TB__PK_DATE:
        return vt == TB__TV_DATE ? NULL : "date";
    case TB__PK_TIME:
        return "(none: a time; use a rule with days_since())";
    case TB__PK_CODE:
        return vt == TB__TV_ENUM ? NULL : "enum";
    }
    return "?";
}

/* A statistical tag is the aggregate itself (an integer or a decimal), or an expression or bands
 * over it: `value` (or the tag's own code) names the aggregate, beside the snapshot columns. */
static int parse_stat_value(pctx *p, const json_t *vals, tb__tag_def *d, const names *cols)
{
    names known = {tb__arena_calloc(p->a, cols->n + 2, sizeof(char *)), cols->n + 2};
    if (!known.v) return TB_ENOMEM;
    memcpy(known.v, cols->v, cols->n * sizeof(char *));
    known.v[cols->n] = "value";
    known.v[cols->n + 1] = d->code;
    int counting = strcmp(d->stat.agg, "count") == 0 || strcmp(d->stat.agg, "distinct_days") == 0;
    if (d->expr && vals)
        return perr(p, "expr", "a statistical tag has 'expr' or 'values', not both");
    if (vals) {
        if (d->vtype != TB__TV_ENUM && d->vtype != TB__TV_BOOL)
            return perr(p, "value_type", "a statistical tag with values is an enum or a boolean");
        return parse_values(p, vals, d, 1, &known);
    }
    if (d->expr) {
        if (d->vtype == TB__TV_ENUM)
            return perr(p, "values", "missing (an enum statistical tag lists its values)");
        return p->check_exprs ? check_expr(p, "expr", d->expr, &known) : 0;
    }
    if (d->vtype != TB__TV_INT && d->vtype != TB__TV_DECIMAL)
        return perr(p, "value_type",
                    "a statistical tag without values is an integer or a decimal, not %s",
                    vtype_names[d->vtype]);
    if (counting && d->vtype != TB__TV_INT)
        return perr(p, "value_type", "'%s' gives an integer", d->stat.agg);
    return 0;
}

static int parse_def(const json_t *j, tb__arena *a, tb__tag_def *d, tb__errbuf *eb, int check_exprs)
{
    static const char *const keys[] = {
        "code",       "name_zh",        "name_en",        "description", "theme",   "type",
        "value_type", "scale",          "customer_types", "owner",       "refresh", "sources",
        "pi_class",   "security_level", "attribute",      "expr",        "values",  "stat"};
    pctx p = {NULL, a, eb, check_exprs};
    int rc;
    memset(d, 0, sizeof *d);
    if (!json_is_object(j)) return tb__seterr(eb, TB_EFORMAT, "tag definition is not an object");
    if ((rc = get_str(&p, j, "code", "code", 1, &d->code)) < 0) return rc;
    if (!valid_code(d->code)) {
        rc = perr(&p, "code", "'%.64s' is not a code ([a-z][a-z0-9_]{0,63})", d->code);
        return rc;
    }
    p.code = d->code;
    if ((rc = check_keys(&p, j, "", keys, COUNT(keys))) != 0) return rc;
    if ((rc = get_str(&p, j, "name_zh", "name_zh", 1, &d->name_zh)) < 0) return rc;
    if ((rc = get_str(&p, j, "name_en", "name_en", 1, &d->name_en)) < 0) return rc;
    if ((rc = get_str(&p, j, "description", "description", 1, &d->description)) < 0) return rc;
    if ((rc = get_str(&p, j, "theme", "theme", 1, &d->theme)) < 0) return rc;
    if (!valid_code(d->theme)) return perr(&p, "theme", "'%s' is not a theme code", d->theme);
    int t, vt;
    if ((rc = get_enum(&p, j, "type", type_names, COUNT(type_names), &t)) != 0) return rc;
    if ((rc = get_enum(&p, j, "value_type", vtype_names, COUNT(vtype_names), &vt)) != 0) return rc;
    d->type = (tb__tag_type)t;
    d->vtype = (tb__tag_vtype)vt;
    long scale;
    if ((rc = get_int(&p, j, "scale", "scale", 0, 0, 6, d->vtype == TB__TV_DECIMAL ? 2 : 0,
                      &scale)) != 0)
        return rc;
    if (d->vtype != TB__TV_DECIMAL && json_object_get(j, "scale"))
        return perr(&p, "scale", "only a decimal tag has a scale");
    d->scale = (int)scale;

    const json_t *ct = json_object_get(j, "customer_types");
    if (!ct) return perr(&p, "customer_types", "missing");
    if (!json_is_array(ct) || json_array_size(ct) == 0)
        return perr(&p, "customer_types",
                    "expected a non-empty array of 'retail', 'corporate', 'merchant'");
    for (size_t i = 0; i < json_array_size(ct); i++) {
        const char *s = json_string_value(json_array_get(ct, i));
        unsigned bit = !s                            ? 0
                       : strcmp(s, "retail") == 0    ? TB__SD_RETAIL
                       : strcmp(s, "corporate") == 0 ? TB__SD_CORPORATE
                       : strcmp(s, "merchant") == 0  ? TB__SD_MERCHANT
                                                     : 0;
        char f[40];
        snprintf(f, sizeof f, "customer_types[%zu]", i);
        if (!bit) return perr(&p, f, "expected 'retail', 'corporate' or 'merchant'");
        if (d->cust_types & bit) return perr(&p, f, "'%s' is listed twice", s);
        d->cust_types |= bit;
    }
    if ((rc = get_str(&p, j, "owner", "owner", 1, &d->owner)) < 0) return rc;
    if ((rc = get_str(&p, j, "refresh", "refresh", 1, &d->refresh)) < 0) return rc;
    if (name_index(refresh_names, COUNT(refresh_names), d->refresh) < 0) {
        char list[160];
        one_of(refresh_names, COUNT(refresh_names), list, sizeof list);
        return perr(&p, "refresh", "'%s' is not one of %s", d->refresh, list);
    }
    if ((d->type == TB__TT_REALTIME) != (strcmp(d->refresh, "realtime") == 0))
        return perr(&p, "refresh", "'realtime' is the refresh of realtime tags and only theirs");
    const json_t *src = json_object_get(j, "sources");
    if (!src) return perr(&p, "sources", "missing (the tag's lineage)");
    if ((rc = parse_sources(&p, src, d)) != 0) return rc;
    const char *pic;
    if ((rc = get_str(&p, j, "pi_class", "pi_class", 1, &pic)) < 0) return rc;
    if (strcmp(pic, "C3") == 0)
        return perr(&p, "pi_class", "class C3 (authentication data, JR/T 0171) is never stored");
    if (strcmp(pic, "C1") != 0 && strcmp(pic, "C2") != 0)
        return perr(&p, "pi_class", "'%s' is not 'C1' or 'C2'", pic);
    d->pi_class = pic;
    long lvl;
    if ((rc = get_int(&p, j, "security_level", "security_level", 1, 1, 5, 0, &lvl)) != 0) return rc;
    d->security_level = (int)lvl;

    if ((rc = get_str(&p, j, "attribute", "attribute", 0, &d->attribute)) < 0) return rc;
    if ((rc = get_str(&p, j, "expr", "expr", 0, &d->expr)) < 0) return rc;
    const json_t *vals = json_object_get(j, "values");
    const json_t *stat = json_object_get(j, "stat");
    names cols = {0};
    if ((rc = snapshot_names(a, &cols)) != 0) return rc;

    /* What each type takes, and nothing else. */
    int want_attr = d->type == TB__TT_FACT || d->type == TB__TT_MODEL || d->type == TB__TT_EXTERNAL;
    if (d->attribute && !want_attr)
        return perr(&p, "attribute", "a %s tag reads no attribute directly", type_names[d->type]);
    if (want_attr && !d->attribute) return perr(&p, "attribute", "missing");
    if (d->expr && d->type != TB__TT_RULE && d->type != TB__TT_STATISTICAL)
        return perr(&p, "expr", "only a rule or a statistical tag has an expression");
    if (stat && d->type != TB__TT_STATISTICAL)
        return perr(&p, "stat", "only a statistical tag has 'stat'");
    if (vals && d->type == TB__TT_REALTIME)
        return perr(&p, "values", "a %s tag has no values", type_names[d->type]);

    if (d->attribute) {
        tb__pkind k;
        if (!column_kind(d->attribute, &k)) {
            const char *near = tb__expr_nearest(d->attribute, cols.v, cols.n);
            if (near)
                return perr(&p, "attribute", "unknown column '%s' (did you mean '%s'?)",
                            d->attribute, near);
            return perr(&p, "attribute", "unknown column '%s'", d->attribute);
        }
        const char *want = kind_fits(k, d->vtype);
        if (!vals && want)
            return perr(&p, "value_type", "column '%s' gives %s values, not %s", d->attribute, want,
                        vtype_names[d->vtype]);
        if (vals && d->type == TB__TT_FACT && k != TB__PK_CODE)
            return perr(&p, "values", "column '%s' is not a code: use a rule tag for bands",
                        d->attribute);
    }
    switch (d->type) {
    case TB__TT_FACT:
        if (vals && d->vtype != TB__TV_ENUM)
            return perr(&p, "values", "only an enum fact tag lists values");
        if (vals && (rc = parse_values(&p, vals, d, 0, &cols)) != 0) return rc;
        break;
    case TB__TT_RULE:
        if (!d->expr == !vals) return perr(&p, "expr", "a rule tag has either 'expr' or 'values'");
        if (d->expr) {
            if (d->vtype == TB__TV_ENUM)
                return perr(&p, "values", "missing (an enum rule tag lists its values)");
            if (p.check_exprs && (rc = check_expr(&p, "expr", d->expr, &cols)) != 0) return rc;
        } else {
            if (d->vtype != TB__TV_ENUM && d->vtype != TB__TV_BOOL)
                return perr(&p, "expr", "missing (an %s rule tag is computed by 'expr')",
                            vtype_names[d->vtype]);
            if ((rc = parse_values(&p, vals, d, 1, &cols)) != 0) return rc;
        }
        break;
    case TB__TT_STATISTICAL:
        if (!stat) return perr(&p, "stat", "missing");
        if ((rc = parse_stat(&p, stat, d)) != 0) return rc;
        if ((rc = parse_stat_value(&p, vals, d, &cols)) != 0) return rc;
        break;
    case TB__TT_MODEL:
    case TB__TT_EXTERNAL:
        if (vals) {
            if (d->vtype != TB__TV_ENUM && d->vtype != TB__TV_BOOL)
                return perr(&p, "value_type", "a %s tag with values is an enum or a boolean",
                            type_names[d->type]);
            /* An enum over a code column may list the codes as they are (no `when`), like a
             * fact; otherwise the values are bands with a `when` each. */
            tb__pkind k = TB__PK_INT;
            int codes = d->vtype == TB__TV_ENUM && column_kind(d->attribute, &k) &&
                        k == TB__PK_CODE && json_is_object(json_array_get(vals, 0)) &&
                        !json_object_get(json_array_get(vals, 0), "when");
            if ((rc = parse_values(&p, vals, d, !codes, &cols)) != 0) return rc;
        }
        break;
    case TB__TT_REALTIME:
        if (d->vtype != TB__TV_BOOL)
            return perr(&p, "value_type", "a realtime tag is a boolean (set by event rules)");
        break;
    }
    return 0;
}

int tb__catalog_parse_def(const json_t *j, tb__arena *a, tb__tag_def *out, tb__errbuf *eb)
{
    return parse_def(j, a, out, eb, 1);
}

int tb__catalog_check_def(const tb__tag_def *d, const tb__standards *std, tb__arena *a,
                          tb__errbuf *eb)
{
    pctx p = {d->code, a, eb, 1};
    for (size_t i = 0; i < d->nsources; i++) {
        char f[32], head[80];
        snprintf(f, sizeof f, "sources[%zu]", i);
        const char *s = d->sources[i], *dot = strchr(s, '.');
        size_t hl = dot ? (size_t)(dot - s) : strlen(s);
        snprintf(head, sizeof head, "%.*s", (int)hl, s);
        if (strcmp(head, "golden") == 0) {
            tb__pkind k;
            if (dot && !column_kind(dot + 1, &k))
                return perr(&p, f, "'%s': no golden-record column '%s'", s, dot + 1);
            continue;
        }
        if (strcmp(head, "events") == 0) continue; /* app events: not in the data standard */
        const tb__std_type *t = tb__std_find(std, head);
        if (!t) return perr(&p, f, "'%s': no business type '%s' in the data standard", s, head);
        if (dot && tb__std_field_index(t, dot + 1) < 0)
            return perr(&p, f, "'%s': business type '%s' has no field '%s'", s, head, dot + 1);
    }
    if (d->type != TB__TT_STATISTICAL) return 0;
    const tb__tag_stat *st = &d->stat;
    const tb__std_type *t = tb__std_find(std, st->business_type);
    if (!t)
        return perr(&p, "stat.business_type", "no business type '%s' in the data standard",
                    st->business_type);
    if (st->field) {
        int fi = tb__std_field_index(t, st->field);
        if (fi < 0)
            return perr(&p, "stat.field", "business type '%s' has no field '%s'", t->name,
                        st->field);
        tb__std_ftype ft = t->fields[fi].type;
        int numeric = ft == TB__STD_INT || ft == TB__STD_DECIMAL;
        int ordered = numeric || ft == TB__STD_DATE || ft == TB__STD_TIMESTAMP;
        if ((strcmp(st->agg, "sum") == 0 || strcmp(st->agg, "avg") == 0) && !numeric)
            return perr(&p, "stat.field", "'%s.%s' is not a number", t->name, st->field);
        if (!ordered) return perr(&p, "stat.field", "'%s.%s' is not a number", t->name, st->field);
    }
    if (st->time_field) {
        int fi = tb__std_field_index(t, st->time_field);
        if (fi < 0)
            return perr(&p, "stat.time_field", "business type '%s' has no field '%s'", t->name,
                        st->time_field);
        if (t->fields[fi].type != TB__STD_DATE && t->fields[fi].type != TB__STD_TIMESTAMP)
            return perr(&p, "stat.time_field", "'%s.%s' is not a date or a timestamp", t->name,
                        st->time_field);
    }
    if (st->where) {
        names known = {tb__arena_calloc(a, t->nfields ? t->nfields : 1, sizeof(char *)),
                       t->nfields};
        if (!known.v) return TB_ENOMEM;
        for (size_t i = 0; i < t->nfields; i++)
            known.v[i] = t->fields[i].name;
        int rc = check_expr(&p, "stat.where", st->where, &known);
        if (rc) {
            /* say whose fields were meant */
            if (rc == TB_EFORMAT && strstr(eb->msg, "unknown column")) {
                char msg[TB__ERRMSG_MAX];
                snprintf(msg, sizeof msg, "%s", eb->msg);
                return tb__seterr(eb, rc, "%s of business type '%s'", msg, t->name);
            }
            return rc;
        }
    }
    return 0;
}

/* ---- small helpers --------------------------------------------------------------------------- */

/* FNV-1a 64 of the canonical text: stable across versions of every library we link. */
static void def_hash(const char *s, char out[17])
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 0x100000001b3ull;
    }
    snprintf(out, 17, "%016" PRIx64, h);
}

/* The acting user: the given name, else $TAGBASE_USER, else the OS login name. The server will
 * pass its authenticated user here, so the rule lives in one place. */
static int acting_user(tb_db *db, const char *given, char out[MAX_USER + 1])
{
    const char *u = given && *given ? given : getenv("TAGBASE_USER");
    char buf[256];
    if (!u || !*u) {
        struct passwd pw, *res = NULL;
        char pwbuf[1024];
        if (getpwuid_r(geteuid(), &pw, pwbuf, sizeof pwbuf, &res) == 0 && res) {
            snprintf(buf, sizeof buf, "%s", res->pw_name);
            u = buf;
        } else if (getlogin_r(buf, sizeof buf) == 0) {
            u = buf;
        }
    }
    if (!u || !*u)
        return tb__seterr(tb__db_err(db), TB_EINVAL,
                          "cannot tell who is acting: pass a user or set TAGBASE_USER");
    size_t n = strlen(u);
    if (n > MAX_USER)
        return tb__seterr(tb__db_err(db), TB_EINVAL, "user name longer than %d bytes", MAX_USER);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)u[i] < 0x20 || u[i] == 0x7f)
            return tb__seterr(tb__db_err(db), TB_EINVAL, "user name contains a control character");
    memcpy(out, u, n + 1);
    return 0;
}

static const char *col_text(sqlite3_stmt *st, int i)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    return t ? (const char *)t : NULL;
}

static int ieq(const char *a, const char *b)
{
    return strcasecmp(a, b) == 0;
}

/* Case-insensitive (ASCII) substring. */
static int icontains(const char *hay, const char *needle)
{
    size_t n = strlen(needle);
    if (n == 0) return 1;
    for (; *hay; hay++)
        if (strncasecmp(hay, needle, n) == 0) return 1;
    return 0;
}

static int set_json_out(tb_db *db, json_t *doc, char **json_out)
{
    *json_out = doc ? json_dumps(doc, JSON_INDENT(2)) : NULL;
    json_decref(doc);
    if (!*json_out) return tb__seterr(tb__db_err(db), TB_ENOMEM, "out of memory rendering JSON");
    return 0;
}

/* ---- reading the stored catalog -------------------------------------------------------------- */

/* One tag with its newest definition, as list, tree and name look-ups need it. */
typedef struct tag_row {
    char *code, *theme, *status, *created_at, *updated_at;
    int version, online_version; /* 0: none online */
    json_t *def;                 /* newest definition */
} tag_row;

typedef struct tag_rows {
    tag_row *v;
    size_t n, cap;
} tag_rows;

static void rows_free(tag_rows *r)
{
    for (size_t i = 0; i < r->n; i++) {
        free(r->v[i].code);
        free(r->v[i].theme);
        free(r->v[i].status);
        free(r->v[i].created_at);
        free(r->v[i].updated_at);
        json_decref(r->v[i].def);
    }
    free(r->v);
    memset(r, 0, sizeof *r);
}

static char *xstrdup(const char *s)
{
    return strdup(s ? s : "");
}

static int load_rows(tb_db *db, tag_rows *out)
{
    sqlite3_stmt *st;
    memset(out, 0, sizeof *out);
    int rc = tb__meta_stmt(db, TB__STMT_CAT_ROWS,
                           "SELECT t.code, t.theme, t.status, t.version, t.online_version, "
                           "t.created_at, t.updated_at, v.definition FROM tag t JOIN tag_version v "
                           "ON v.code = t.code AND v.version = t.version ORDER BY t.code",
                           &st);
    if (rc) return rc;
    int step;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        if (out->n == out->cap) {
            size_t cap = out->cap ? out->cap * 2 : 256;
            tag_row *v = realloc(out->v, cap * sizeof *v);
            if (!v) {
                rc = TB_ENOMEM;
                break;
            }
            out->v = v;
            out->cap = cap;
        }
        tag_row *r = &out->v[out->n];
        memset(r, 0, sizeof *r);
        r->code = xstrdup(col_text(st, 0));
        r->theme = xstrdup(col_text(st, 1));
        r->status = xstrdup(col_text(st, 2));
        r->version = sqlite3_column_int(st, 3);
        r->online_version =
            sqlite3_column_type(st, 4) == SQLITE_NULL ? 0 : sqlite3_column_int(st, 4);
        r->created_at = xstrdup(col_text(st, 5));
        r->updated_at = xstrdup(col_text(st, 6));
        const char *def = col_text(st, 7);
        r->def = def ? json_loads(def, 0, NULL) : NULL;
        out->n++;
        if (!r->code || !r->theme || !r->status || !r->created_at || !r->updated_at || !r->def) {
            rc = r->def || !def ? TB_ENOMEM : TB_ECORRUPT;
            break;
        }
    }
    if (!rc && step != SQLITE_DONE)
        rc = tb__meta_seterr_sqlite(db, step, "cannot read the tag catalog");
    tb__meta_stmt_done(st);
    if (rc == TB_ENOMEM) tb__seterr(tb__db_err(db), rc, "out of memory reading the tag catalog");
    if (rc == TB_ECORRUPT) tb__seterr(tb__db_err(db), rc, "a stored tag definition is not JSON");
    if (rc) rows_free(out);
    return rc;
}

static const char *def_str(const json_t *def, const char *key)
{
    const char *s = json_string_value(json_object_get(def, key));
    return s ? s : "";
}

/* The code of the tag named `q` (a code, or a Chinese or English name): 0 and out, TB_ENOENT. */
static int resolve_code(tb_db *db, const char *q, char *out, size_t cap)
{
    tag_rows rows;
    int rc = load_rows(db, &rows);
    if (rc) return rc;
    rc = TB_ENOENT;
    for (size_t i = 0; i < rows.n && rc; i++)
        if (strcmp(rows.v[i].code, q) == 0) {
            snprintf(out, cap, "%s", rows.v[i].code);
            rc = 0;
        }
    for (size_t i = 0; i < rows.n && rc; i++) {
        const json_t *d = rows.v[i].def;
        if (strcmp(def_str(d, "name_zh"), q) == 0 || ieq(def_str(d, "name_en"), q)) {
            snprintf(out, cap, "%s", rows.v[i].code);
            rc = 0;
        }
    }
    rows_free(&rows);
    if (rc) tb__seterr(tb__db_err(db), rc, "no tag '%s' in the catalog", q);
    return rc;
}

/* The tag's row fields: status, newest version, online version (0: none). */
typedef struct tag_state {
    char status[16];
    char theme[80];
    int version, online_version;
} tag_state;

static int get_state(tb_db *db, const char *code, tag_state *s)
{
    sqlite3_stmt *st;
    int rc = tb__meta_stmt(db, TB__STMT_CAT_STATE,
                           "SELECT status, version, online_version, theme FROM tag WHERE code = ?1",
                           &st);
    if (rc) return rc;
    sqlite3_bind_text(st, 1, code, -1, SQLITE_TRANSIENT);
    int step = sqlite3_step(st);
    if (step == SQLITE_ROW) {
        snprintf(s->status, sizeof s->status, "%s", col_text(st, 0) ? col_text(st, 0) : "");
        s->version = sqlite3_column_int(st, 1);
        s->online_version =
            sqlite3_column_type(st, 2) == SQLITE_NULL ? 0 : sqlite3_column_int(st, 2);
        snprintf(s->theme, sizeof s->theme, "%s", col_text(st, 3) ? col_text(st, 3) : "");
        rc = 0;
    } else if (step == SQLITE_DONE) {
        rc = TB_ENOENT;
    } else {
        rc = tb__meta_seterr_sqlite(db, step, "cannot read the tag catalog");
    }
    tb__meta_stmt_done(st);
    return rc;
}

/* The stored definition text of (code, version): a malloc'd copy in *def, plus author/time. */
typedef struct version_row {
    char *definition;
    char hash[17];
    char author[MAX_USER + 1];
    char created_at[TB__TIME_TEXT_LEN];
} version_row;

static int get_version(tb_db *db, const char *code, int version, version_row *v)
{
    sqlite3_stmt *st;
    memset(v, 0, sizeof *v);
    int rc = tb__meta_stmt(db, TB__STMT_CAT_VERSION_GET,
                           "SELECT definition, hash, author, created_at FROM tag_version "
                           "WHERE code = ?1 AND version = ?2",
                           &st);
    if (rc) return rc;
    sqlite3_bind_text(st, 1, code, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(st, 2, version);
    int step = sqlite3_step(st);
    if (step == SQLITE_ROW) {
        v->definition = xstrdup(col_text(st, 0));
        snprintf(v->hash, sizeof v->hash, "%s", col_text(st, 1) ? col_text(st, 1) : "");
        snprintf(v->author, sizeof v->author, "%s", col_text(st, 2) ? col_text(st, 2) : "");
        snprintf(v->created_at, sizeof v->created_at, "%s", col_text(st, 3) ? col_text(st, 3) : "");
        rc = v->definition ? 0 : TB_ENOMEM;
    } else if (step == SQLITE_DONE) {
        rc = tb__seterr(tb__db_err(db), TB_ENOENT, "tag '%s' has no version %d", code, version);
    } else {
        rc = tb__meta_seterr_sqlite(db, step, "cannot read the tag catalog");
    }
    tb__meta_stmt_done(st);
    return rc;
}

static const char *version_status(const tag_state *s, int version)
{
    if (version == s->online_version) return "online";
    if (version == s->version) return s->status;
    return "superseded";
}

/* Parses a stored definition at (code, version) into `a`. */
static int def_at(tb_db *db, const char *code, const tag_state *s, int version, tb__arena *a,
                  tb__tag_def **out)
{
    version_row v;
    int rc = get_version(db, code, version, &v);
    if (rc) return rc;
    json_error_t je;
    json_t *j = json_loads(v.definition, 0, &je);
    free(v.definition);
    if (!j)
        return tb__seterr(tb__db_err(db), TB_ECORRUPT,
                          "tag '%s' version %d: stored definition is not JSON: %s", code, version,
                          je.text);
    tb__tag_def *d = tb__arena_calloc(a, 1, sizeof *d);
    if (!d) {
        json_decref(j);
        return TB_ENOMEM;
    }
    /* Stored definitions were checked when they were loaded; re-reading an old version must work
     * even after the snapshot's columns have changed, so the expressions are not re-resolved. */
    rc = parse_def(j, a, d, tb__db_err(db), 0);
    json_decref(j);
    if (rc) return rc == TB_EFORMAT ? TB_ECORRUPT : rc;
    d->version = version;
    d->status = version_status(s, version);
    *out = d;
    return 0;
}

int tb__catalog_get(tb_db *db, const char *code_or_name, int version, tb__arena *a,
                    tb__tag_def **out)
{
    char code[80];
    tag_state s;
    *out = NULL;
    int rc = resolve_code(db, code_or_name, code, sizeof code);
    if (rc) return rc;
    if ((rc = get_state(db, code, &s)) != 0) return rc;
    return def_at(db, code, &s, version ? version : s.version, a, out);
}

int tb__catalog_online(tb_db *db, tb__arena *a, tb__tag_def **defs, size_t *n)
{
    sqlite3_stmt *st;
    *defs = NULL;
    *n = 0;
    int rc = tb__meta_stmt(db, TB__STMT_CAT_ONLINE,
                           "SELECT t.code, t.online_version, v.definition FROM tag t "
                           "JOIN tag_version v ON v.code = t.code AND v.version = t.online_version "
                           "WHERE t.online_version IS NOT NULL ORDER BY t.code",
                           &st);
    if (rc) return rc;
    size_t cap = 0;
    tb__tag_def *v = NULL;
    int step;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        if (*n == cap) {
            size_t ncap = cap ? cap * 2 : 64;
            tb__tag_def *nv = tb__arena_calloc(a, ncap, sizeof *nv);
            if (!nv) {
                rc = TB_ENOMEM;
                break;
            }
            if (*n) memcpy(nv, v, *n * sizeof *v);
            v = nv;
            cap = ncap;
        }
        json_error_t je;
        json_t *j = json_loads(col_text(st, 2) ? col_text(st, 2) : "", 0, &je);
        if (!j) {
            rc =
                tb__seterr(tb__db_err(db), TB_ECORRUPT,
                           "tag '%s': stored definition is not JSON: %s", col_text(st, 0), je.text);
            break;
        }
        rc = parse_def(j, a, &v[*n], tb__db_err(db), 0);
        json_decref(j);
        if (rc) break;
        v[*n].version = sqlite3_column_int(st, 1);
        v[*n].status = "online";
        (*n)++;
    }
    if (!rc && step != SQLITE_DONE)
        rc = tb__meta_seterr_sqlite(db, step, "cannot read the online tags");
    tb__meta_stmt_done(st);
    if (rc) {
        *n = 0;
        return rc;
    }
    *defs = v;
    return 0;
}

/* ---- loading a catalog file ------------------------------------------------------------------ */

typedef struct theme_in {
    const char *code, *parent, *name_zh, *name_en;
    char *cust_types; /* JSON array text, malloc'd */
    int level, ord;
} theme_in;

static int ferr(tb_db *db, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int ferr(tb_db *db, const char *path, const char *fmt, ...)
{
    char msg[TB__ERRMSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return tb__seterr(tb__db_err(db), TB_EFORMAT, "%s: %s", path, msg);
}

static int ctypes_text(tb_db *db, const char *path, const char *where, const json_t *arr,
                       char **out)
{
    *out = NULL;
    if (!json_is_array(arr) || json_array_size(arr) == 0)
        return ferr(db, path, "%s.customer_types: expected a non-empty array", where);
    for (size_t i = 0; i < json_array_size(arr); i++) {
        const char *s = json_string_value(json_array_get(arr, i));
        if (!s || (strcmp(s, "retail") && strcmp(s, "corporate") && strcmp(s, "merchant")))
            return ferr(db, path,
                        "%s.customer_types[%zu]: expected 'retail', 'corporate' or 'merchant'",
                        where, i);
    }
    *out = json_dumps(arr, JSON_COMPACT);
    return *out ? 0 : TB_ENOMEM;
}

static int theme_str(tb_db *db, const char *path, const char *where, const json_t *o,
                     const char *key, const char **out)
{
    const char *s = json_string_value(json_object_get(o, key));
    if (!s || !*s) return ferr(db, path, "%s.%s: missing or not a text", where, key);
    *out = s;
    return 0;
}

static int parse_theme(tb_db *db, const char *path, const char *where, const json_t *o,
                       const char *parent, const char *parent_ct, theme_in *t)
{
    static const char *const keys1[] = {"code", "name_zh", "name_en", "customer_types", "children"};
    memset(t, 0, sizeof *t);
    if (!json_is_object(o)) return ferr(db, path, "%s: expected an object", where);
    const char *k;
    const json_t *v;
    json_object_foreach((json_t *)o, k, v)
    {
        (void)v;
        if (name_index(keys1, parent ? 4 : 5, k) < 0)
            return ferr(db, path, "%s.%s: unknown field", where, k);
    }
    int rc;
    if ((rc = theme_str(db, path, where, o, "code", &t->code)) != 0) return rc;
    if (!valid_code(t->code)) return ferr(db, path, "%s.code: '%s' is not a code", where, t->code);
    if ((rc = theme_str(db, path, where, o, "name_zh", &t->name_zh)) != 0) return rc;
    if ((rc = theme_str(db, path, where, o, "name_en", &t->name_en)) != 0) return rc;
    t->parent = parent;
    t->level = parent ? 2 : 1;
    const json_t *ct = json_object_get(o, "customer_types");
    if (ct) return ctypes_text(db, path, where, ct, &t->cust_types);
    if (!parent_ct) return ferr(db, path, "%s.customer_types: missing", where);
    t->cust_types = strdup(parent_ct);
    return t->cust_types ? 0 : TB_ENOMEM;
}

typedef struct load_ctx {
    tb_db *db;
    const char *path;
    theme_in *themes;
    size_t nthemes;
    json_t *doc;
    json_t *result;
    json_t *changes;
    int created, edited, unchanged;
} load_ctx;

static int read_file(tb_db *db, const char *path, char **buf, size_t *len)
{
    *buf = NULL;
    FILE *f = fopen(path, "rb");
    if (!f)
        return tb__seterr_errno(tb__db_err(db), errno == ENOENT ? TB_ENOENT : TB_EIO, errno,
                                "cannot open '%s'", path);
    struct stat sb;
    int rc = 0;
    if (fstat(fileno(f), &sb) != 0) {
        rc = tb__seterr_errno(tb__db_err(db), TB_EIO, errno, "cannot stat '%s'", path);
        goto out_close;
    }
    if (sb.st_size > (off_t)MAX_FILE_BYTES) {
        rc = tb__seterr(tb__db_err(db), TB_ELIMIT, "'%s' is larger than %u MiB", path,
                        MAX_FILE_BYTES >> 20);
        goto out_close;
    }
    *buf = malloc((size_t)sb.st_size + 1);
    if (!*buf) {
        rc = TB_ENOMEM;
        goto out_close;
    }
    *len = fread(*buf, 1, (size_t)sb.st_size, f);
    if (ferror(f)) {
        rc = tb__seterr_errno(tb__db_err(db), TB_EIO, errno, "cannot read '%s'", path);
        free(*buf);
        *buf = NULL;
    }
out_close:
    fclose(f);
    return rc;
}

static const theme_in *find_theme(const load_ctx *L, const char *code)
{
    for (size_t i = 0; i < L->nthemes; i++)
        if (strcmp(L->themes[i].code, code) == 0) return &L->themes[i];
    return NULL;
}

static int stored_theme_level(tb_db *db, const char *code, int *level)
{
    sqlite3_stmt *st;
    int rc = tb__meta_stmt(db, TB__STMT_CAT_THEME_LEVEL,
                           "SELECT level FROM tag_theme WHERE code = ?1", &st);
    if (rc) return rc;
    sqlite3_bind_text(st, 1, code, -1, SQLITE_TRANSIENT);
    int step = sqlite3_step(st);
    *level = step == SQLITE_ROW ? sqlite3_column_int(st, 0) : 0;
    if (step != SQLITE_ROW && step != SQLITE_DONE)
        rc = tb__meta_seterr_sqlite(db, step, "cannot read the tag themes");
    tb__meta_stmt_done(st);
    return rc;
}

static int parse_file(load_ctx *L, tb__arena *a, json_t *doc)
{
    tb_db *db = L->db;
    static const char *const keys[] = {"format", "description", "themes", "tags"};
    if (!json_is_object(doc)) return ferr(db, L->path, "expected a JSON object");
    const char *k;
    json_t *v;
    json_object_foreach(doc, k, v)
    {
        if (name_index(keys, COUNT(keys), k) < 0) return ferr(db, L->path, "%s: unknown field", k);
    }
    const char *fmt = json_string_value(json_object_get(doc, "format"));
    if (fmt && strcmp(fmt, "tagbase-catalog/1") != 0)
        return ferr(db, L->path, "format: '%s' is not 'tagbase-catalog/1'", fmt);
    json_t *themes = json_object_get(doc, "themes"), *tags = json_object_get(doc, "tags");
    if (!json_is_array(themes)) return ferr(db, L->path, "themes: missing or not an array");
    if (!json_is_array(tags)) return ferr(db, L->path, "tags: missing or not an array");
    if (json_array_size(tags) > MAX_TAGS)
        return tb__seterr(tb__db_err(db), TB_ELIMIT, "%s: more than %d tags", L->path, MAX_TAGS);

    /* themes, level 1 with their level-2 children */
    size_t cap = 0;
    for (size_t i = 0; i < json_array_size(themes); i++) {
        json_t *t1 = json_array_get(themes, i);
        json_t *kids = json_object_get(t1, "children");
        size_t need = L->nthemes + 1 + json_array_size(kids);
        if (need > cap) {
            cap = need * 2;
            theme_in *nt = realloc(L->themes, cap * sizeof *nt);
            if (!nt) return TB_ENOMEM;
            L->themes = nt;
        }
        char where[48];
        snprintf(where, sizeof where, "themes[%zu]", i);
        theme_in *p = &L->themes[L->nthemes];
        int rc = parse_theme(db, L->path, where, t1, NULL, NULL, p);
        if (rc) {
            if (p->cust_types) L->nthemes++; /* freed with the rest */
            return rc;
        }
        L->nthemes++;
        size_t parent = L->nthemes - 1;
        if (!json_is_array(kids) || json_array_size(kids) == 0)
            return ferr(db, L->path, "%s.children: expected a non-empty array of level-2 themes",
                        where);
        for (size_t c = 0; c < json_array_size(kids); c++) {
            char w2[80];
            snprintf(w2, sizeof w2, "themes[%zu].children[%zu]", i, c);
            theme_in *t2 = &L->themes[L->nthemes];
            rc = parse_theme(db, L->path, w2, json_array_get(kids, c), L->themes[parent].code,
                             L->themes[parent].cust_types, t2);
            if (t2->cust_types) L->nthemes++;
            if (rc) return rc;
        }
    }
    for (size_t i = 0; i < L->nthemes; i++) {
        L->themes[i].ord = (int)i + 1;
        for (size_t j = 0; j < i; j++)
            if (strcmp(L->themes[i].code, L->themes[j].code) == 0)
                return ferr(db, L->path, "theme '%s' is declared twice", L->themes[i].code);
    }

    /* tags */
    size_t n = json_array_size(tags);
    for (size_t i = 0; i < n; i++) {
        tb__tag_def d;
        int rc = tb__catalog_parse_def(json_array_get(tags, i), a, &d, tb__db_err(db));
        if (rc == TB_EFORMAT) {
            char msg[TB__ERRMSG_MAX];
            snprintf(msg, sizeof msg, "%s", tb_errmsg(db));
            return ferr(db, L->path, "tags[%zu]: %s", i, msg);
        }
        if (rc) return rc;
        const theme_in *th = find_theme(L, d.theme);
        int level = th ? th->level : 0;
        if (!th && (rc = stored_theme_level(db, d.theme, &level)) != 0) return rc;
        if (level != 2)
            return ferr(db, L->path, "tags[%zu]: tag '%s': field 'theme': %s", i, d.code,
                        level == 1 ? "a tag belongs to a level-2 theme, not a level-1 one"
                                   : "no such theme");
        for (size_t q = 0; q < i; q++) {
            json_t *o = json_array_get(tags, q);
            if (strcmp(def_str(o, "code"), d.code) == 0)
                return ferr(db, L->path, "tags[%zu]: tag '%s' is declared twice (tags[%zu])", i,
                            d.code, q);
            if (strcmp(def_str(o, "name_zh"), d.name_zh) == 0)
                return ferr(db, L->path, "tags[%zu]: tag '%s': name_zh '%s' is also tag '%s'", i,
                            d.code, d.name_zh, def_str(o, "code"));
            if (ieq(def_str(o, "name_en"), d.name_en))
                return ferr(db, L->path, "tags[%zu]: tag '%s': name_en '%s' is also tag '%s'", i,
                            d.code, d.name_en, def_str(o, "code"));
        }
    }
    return 0;
}

/* Checks every definition's lineage and statistics against the current data standard. */
static int check_against_standard(load_ctx *L, tb__arena *a, json_t *tags)
{
    tb__standards *std = NULL;
    int version = 0;
    int rc = tb__std_current(L->db, &std, &version);
    if (rc == TB_ENOENT) {
        tb__clearerr(tb__db_err(L->db));
        json_object_set_new(L->result, "warnings",
                            json_pack("[s]", "no data standards loaded: sources and statistical "
                                             "fields were not checked"));
        return 0;
    }
    if (rc) return rc;
    json_object_set_new(L->result, "standard_version", json_integer(version));
    for (size_t i = 0; i < json_array_size(tags) && !rc; i++) {
        tb__tag_def d;
        rc = parse_def(json_array_get(tags, i), a, &d, tb__db_err(L->db), 0);
        if (!rc) rc = tb__catalog_check_def(&d, std, a, tb__db_err(L->db));
        if (rc == TB_EFORMAT) {
            char msg[TB__ERRMSG_MAX];
            snprintf(msg, sizeof msg, "%s", tb_errmsg(L->db));
            rc = ferr(L->db, L->path, "tags[%zu]: %s (data standards version %d)", i, msg, version);
        }
    }
    tb__std_free(std);
    return rc;
}

static int add_event(tb_db *db, const char *code, int version, const char *action,
                     const char *actor, const char *at, const char *comment)
{
    sqlite3_stmt *st;
    int rc = tb__meta_stmt(db, TB__STMT_CAT_EVENT_INSERT,
                           "INSERT INTO tag_event (code, version, action, actor, at, comment) "
                           "VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                           &st);
    if (rc) return rc;
    sqlite3_bind_text(st, 1, code, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(st, 2, version);
    sqlite3_bind_text(st, 3, action, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, actor, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 5, at, -1, SQLITE_TRANSIENT);
    if (comment && *comment)
        sqlite3_bind_text(st, 6, comment, -1, SQLITE_TRANSIENT);
    else
        sqlite3_bind_null(st, 6);
    return tb__meta_run(db, st, "cannot record a tag event");
}

static int put_version(tb_db *db, const char *code, int version, const char *text, const char *hash,
                       const char *user, const char *now)
{
    sqlite3_stmt *st;
    int rc = tb__meta_stmt(db, TB__STMT_CAT_VERSION_INSERT,
                           "INSERT INTO tag_version (code, version, definition, hash, author, "
                           "created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                           &st);
    if (rc) return rc;
    sqlite3_bind_text(st, 1, code, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(st, 2, version);
    sqlite3_bind_text(st, 3, text, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 4, hash, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 5, user, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 6, now, -1, SQLITE_TRANSIENT);
    return tb__meta_run(db, st, "cannot store a tag version");
}

static int store_themes(load_ctx *L)
{
    sqlite3_stmt *st;
    for (size_t i = 0; i < L->nthemes; i++) {
        const theme_in *t = &L->themes[i];
        int rc = tb__meta_stmt(L->db, TB__STMT_CAT_THEME_UPSERT,
                               "INSERT INTO tag_theme (code, parent, level, name_zh, name_en, "
                               "cust_types, ord) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) "
                               "ON CONFLICT (code) DO UPDATE SET parent = excluded.parent, "
                               "level = excluded.level, name_zh = excluded.name_zh, "
                               "name_en = excluded.name_en, cust_types = excluded.cust_types, "
                               "ord = excluded.ord",
                               &st);
        if (rc) return rc;
        sqlite3_bind_text(st, 1, t->code, -1, SQLITE_TRANSIENT);
        if (t->parent)
            sqlite3_bind_text(st, 2, t->parent, -1, SQLITE_TRANSIENT);
        else
            sqlite3_bind_null(st, 2);
        sqlite3_bind_int(st, 3, t->level);
        sqlite3_bind_text(st, 4, t->name_zh, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 5, t->name_en, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 6, t->cust_types, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int(st, 7, t->ord);
        if ((rc = tb__meta_run(L->db, st, "cannot store a tag theme")) != 0) return rc;
    }
    return 0;
}

static int note_change(load_ctx *L, const char *code, int version, const char *action)
{
    json_t *o = json_pack("{s:s, s:i, s:s}", "code", code, "version", version, "action", action);
    return o && json_array_append_new(L->changes, o) == 0 ? 0 : TB_ENOMEM;
}

/* One tag of the file: new (version 1, draft), changed (a new version, draft; an online version
 * stays online until the new one is published) or unchanged (nothing). */
static int store_tag(load_ctx *L, const json_t *obj, const char *user, const char *now)
{
    tb_db *db = L->db;
    const char *code = def_str(obj, "code"), *theme = def_str(obj, "theme");
    char *text = json_dumps(obj, JSON_SORT_KEYS | JSON_COMPACT);
    if (!text) return TB_ENOMEM;
    char hash[17];
    def_hash(text, hash);
    tag_state s;
    sqlite3_stmt *st;
    int rc = get_state(db, code, &s);
    if (rc == TB_ENOENT) {
        rc = tb__meta_stmt(db, TB__STMT_CAT_TAG_INSERT,
                           "INSERT INTO tag (code, theme, status, version, online_version, "
                           "created_at, updated_at) VALUES (?1, ?2, 'draft', 1, NULL, ?3, ?3)",
                           &st);
        if (rc) goto out;
        sqlite3_bind_text(st, 1, code, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 2, theme, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 3, now, -1, SQLITE_TRANSIENT);
        if ((rc = tb__meta_run(db, st, "cannot store a tag")) != 0) goto out;
        if ((rc = put_version(db, code, 1, text, hash, user, now)) != 0) goto out;
        if ((rc = add_event(db, code, 1, "create", user, now, NULL)) != 0) goto out;
        L->created++;
        rc = note_change(L, code, 1, "create");
        goto out;
    }
    if (rc) goto out;
    version_row v;
    if ((rc = get_version(db, code, s.version, &v)) != 0) goto out;
    int same = strcmp(v.hash, hash) == 0 && strcmp(v.definition, text) == 0;
    free(v.definition);
    if (same) {
        L->unchanged++;
        goto out;
    }
    int nv = s.version + 1;
    if (strcmp(s.status, "in_review") == 0 &&
        (rc = add_event(db, code, s.version, "withdraw", user, now,
                        "superseded by a new version before approval")) != 0)
        goto out;
    if ((rc = put_version(db, code, nv, text, hash, user, now)) != 0) goto out;
    rc = tb__meta_stmt(db, TB__STMT_CAT_TAG_EDIT,
                       "UPDATE tag SET version = ?2, status = 'draft', theme = ?3, updated_at = ?4 "
                       "WHERE code = ?1",
                       &st);
    if (rc) goto out;
    sqlite3_bind_text(st, 1, code, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(st, 2, nv);
    sqlite3_bind_text(st, 3, theme, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 4, now, -1, SQLITE_TRANSIENT);
    if ((rc = tb__meta_run(db, st, "cannot update a tag")) != 0) goto out;
    if ((rc = add_event(db, code, nv, "edit", user, now, NULL)) != 0) goto out;
    L->edited++;
    rc = note_change(L, code, nv, "edit");
out:
    free(text);
    return rc;
}

int tb_tag_load(tb_db *db, const char *path, const char *user, char **json_out)
{
    char who[MAX_USER + 1], now[TB__TIME_TEXT_LEN];
    char *buf = NULL;
    size_t len = 0;
    tb__arena a;
    load_ctx L;
    *json_out = NULL;
    if (!path) return tb__seterr(tb__db_err(db), TB_EINVAL, "no catalog file given");
    int rc = tb__db_check_writable(db);
    if (rc) return rc;
    if ((rc = acting_user(db, user, who)) != 0) return rc;
    if ((rc = read_file(db, path, &buf, &len)) != 0) return rc;
    memset(&L, 0, sizeof L);
    L.db = db;
    L.path = path;
    tb__arena_init(&a, 0);
    json_error_t je;
    L.doc = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &je);
    free(buf);
    if (!L.doc) {
        rc = ferr(db, path, "line %d, column %d: %s", je.line, je.column, je.text);
        goto out;
    }
    L.result = json_object();
    L.changes = json_array();
    if (!L.result || !L.changes) {
        rc = TB_ENOMEM;
        goto out;
    }
    if ((rc = parse_file(&L, &a, L.doc)) != 0) goto out;
    json_t *tags = json_object_get(L.doc, "tags");
    if ((rc = check_against_standard(&L, &a, tags)) != 0) goto out;

    tb__now_text(now);
    if ((rc = tb__meta_begin(db)) != 0) goto out;
    rc = store_themes(&L);
    for (size_t i = 0; !rc && i < json_array_size(tags); i++)
        rc = store_tag(&L, json_array_get(tags, i), who, now);
    if (rc) {
        tb__meta_rollback(db);
        goto out;
    }
    if ((rc = tb__meta_commit(db)) != 0) goto out;
    json_object_set_new(L.result, "file", json_string(path));
    json_object_set_new(L.result, "user", json_string(who));
    json_object_set_new(L.result, "themes", json_integer((json_int_t)L.nthemes));
    json_object_set_new(L.result, "tags", json_integer((json_int_t)json_array_size(tags)));
    json_object_set_new(L.result, "created", json_integer(L.created));
    json_object_set_new(L.result, "edited", json_integer(L.edited));
    json_object_set_new(L.result, "unchanged", json_integer(L.unchanged));
    json_object_set(L.result, "changes", L.changes);
    rc = set_json_out(db, json_incref(L.result), json_out);
out:
    if (rc == TB_ENOMEM) tb__seterr(tb__db_err(db), rc, "out of memory loading '%s'", path);
    for (size_t i = 0; i < L.nthemes; i++)
        free(L.themes[i].cust_types);
    free(L.themes);
    json_decref(L.changes);
    json_decref(L.result);
    json_decref(L.doc);
    tb__arena_release(&a);
    return rc;
}

/* ---- the lifecycle --------------------------------------------------------------------------- */

typedef enum act { ACT_SUBMIT, ACT_APPROVE, ACT_REJECT, ACT_OFFLINE } act;
static const char *const act_names[] = {"submit", "approve", "reject", "offline"};

/* Who submitted (code, version) last: 0 and out, TB_ENOENT when no one did. */
static int submitter(tb_db *db, const char *code, int version, char out[MAX_USER + 1])
{
    sqlite3_stmt *st;
    int rc = tb__meta_stmt(db, TB__STMT_CAT_SUBMITTER,
                           "SELECT actor FROM tag_event WHERE code = ?1 AND version = ?2 AND "
                           "action = 'submit' ORDER BY id DESC LIMIT 1",
                           &st);
    if (rc) return rc;
    sqlite3_bind_text(st, 1, code, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(st, 2, version);
    int step = sqlite3_step(st);
    if (step == SQLITE_ROW)
        snprintf(out, MAX_USER + 1, "%s", col_text(st, 0) ? col_text(st, 0) : "");
    else if (step == SQLITE_DONE)
        rc = TB_ENOENT;
    else
        rc = tb__meta_seterr_sqlite(db, step, "cannot read the tag events");
    tb__meta_stmt_done(st);
    return rc;
}

static int set_status(tb_db *db, const char *code, const char *status, int online_version,
                      const char *now)
{
    sqlite3_stmt *st;
    int rc = tb__meta_stmt(db, TB__STMT_CAT_SET_STATUS,
                           "UPDATE tag SET status = ?2, online_version = ?3, updated_at = ?4 "
                           "WHERE code = ?1",
                           &st);
    if (rc) return rc;
    sqlite3_bind_text(st, 1, code, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, status, -1, SQLITE_STATIC);
    if (online_version)
        sqlite3_bind_int(st, 3, online_version);
    else
        sqlite3_bind_null(st, 3);
    sqlite3_bind_text(st, 4, now, -1, SQLITE_TRANSIENT);
    return tb__meta_run(db, st, "cannot update a tag's status");
}

/* One transition of one tag, inside the caller's transaction. */
static int transition(tb_db *db, act what, const char *code, const char *user, const char *comment,
                      const char *now, json_t *done)
{
    tag_state s;
    int rc = get_state(db, code, &s);
    if (rc == TB_ENOENT) return tb__seterr(tb__db_err(db), rc, "no tag '%s' in the catalog", code);
    if (rc) return rc;
    const char *to = NULL;
    int online = s.online_version, version = s.version;
    switch (what) {
    case ACT_SUBMIT:
        if (strcmp(s.status, "draft") != 0 && strcmp(s.status, "offline") != 0)
            return tb__seterr(tb__db_err(db), TB_EINVAL,
                              "cannot submit tag '%s': it is %s, not a draft", code, s.status);
        to = "in_review";
        rc = add_event(db, code, version, "submit", user, now, comment);
        break;
    case ACT_APPROVE: {
        if (strcmp(s.status, "in_review") != 0)
            return tb__seterr(tb__db_err(db), TB_EINVAL,
                              "cannot approve tag '%s': it is %s, not in review", code, s.status);
        char maker[MAX_USER + 1] = "";
        rc = submitter(db, code, version, maker);
        if (rc && rc != TB_ENOENT) return rc;
        if (rc == 0 && strcmp(maker, user) == 0)
            return tb__seterr(tb__db_err(db), TB_EPERM,
                              "cannot approve tag '%s' version %d: '%s' submitted it, and the "
                              "approver must be someone else (maker-checker)",
                              code, version, user);
        to = "online";
        online = version;
        rc = add_event(db, code, version, "approve", user, now, comment);
        if (!rc) rc = add_event(db, code, version, "publish", user, now, NULL);
        break;
    }
    case ACT_REJECT:
        if (strcmp(s.status, "in_review") != 0)
            return tb__seterr(tb__db_err(db), TB_EINVAL,
                              "cannot reject tag '%s': it is %s, not in review", code, s.status);
        to = "draft";
        rc = add_event(db, code, version, "reject", user, now, comment);
        break;
    case ACT_OFFLINE:
        if (!s.online_version)
            return tb__seterr(tb__db_err(db), TB_EINVAL,
                              "cannot take tag '%s' offline: no version of it is online", code);
        /* A pending edit (draft or in review) stays pending; only the online version goes. */
        to = strcmp(s.status, "online") == 0 ? "offline" : NULL;
        version = s.online_version;
        online = 0;
        rc = add_event(db, code, version, "offline", user, now, comment);
        break;
    }
    if (rc) return rc;
    if ((rc = set_status(db, code, to ? to : s.status, online, now)) != 0) return rc;
    json_t *o = json_pack("{s:s, s:i, s:s, s:s}", "code", code, "version", version, "from",
                          s.status, "status", to ? to : s.status);
    if (o) json_object_set_new(o, "online_version", online ? json_integer(online) : json_null());
    return o && json_array_append_new(done, o) == 0 ? 0 : TB_ENOMEM;
}

/* Codes in a status, for the --all variants. */
static int codes_in(tb_db *db, const char *status, json_t *out)
{
    sqlite3_stmt *st;
    int rc = tb__meta_stmt(db, TB__STMT_CAT_CODES_IN,
                           "SELECT code FROM tag WHERE status = ?1 ORDER BY code", &st);
    if (rc) return rc;
    sqlite3_bind_text(st, 1, status, -1, SQLITE_STATIC);
    int step;
    while ((step = sqlite3_step(st)) == SQLITE_ROW)
        if (json_array_append_new(out, json_string(col_text(st, 0))) != 0) {
            rc = TB_ENOMEM;
            break;
        }
    if (!rc && step != SQLITE_DONE) rc = tb__meta_seterr_sqlite(db, step, "cannot read the tags");
    tb__meta_stmt_done(st);
    return rc;
}

static int lifecycle(tb_db *db, act what, const char *code_or_name, const char *user,
                     const char *comment, char **json_out)
{
    char who[MAX_USER + 1], now[TB__TIME_TEXT_LEN], code[80];
    *json_out = NULL;
    int rc = tb__db_check_writable(db);
    if (rc) return rc;
    if ((rc = acting_user(db, user, who)) != 0) return rc;
    if (what == ACT_REJECT && (!comment || !*comment))
        return tb__seterr(tb__db_err(db), TB_EINVAL, "a rejection needs a comment saying why");
    if (!code_or_name && what != ACT_SUBMIT && what != ACT_APPROVE)
        return tb__seterr(tb__db_err(db), TB_EINVAL, "%s needs a tag", act_names[what]);
    json_t *codes = json_array(), *done = json_array();
    if (!codes || !done) {
        rc = TB_ENOMEM;
        goto out;
    }
    if (code_or_name) {
        if ((rc = resolve_code(db, code_or_name, code, sizeof code)) != 0) goto out;
        json_array_append_new(codes, json_string(code));
    }
    tb__now_text(now);
    if ((rc = tb__meta_begin(db)) != 0) goto out;
    /* --all: every draft (submit) or every tag in review (approve), all or nothing */
    if (!code_or_name) rc = codes_in(db, what == ACT_SUBMIT ? "draft" : "in_review", codes);
    for (size_t i = 0; !rc && i < json_array_size(codes); i++)
        rc = transition(db, what, json_string_value(json_array_get(codes, i)), who, comment, now,
                        done);
    if (rc && !code_or_name && rc != TB_ENOMEM && rc != TB_ESTORE) {
        char msg[TB__ERRMSG_MAX];
        snprintf(msg, sizeof msg, "%s", tb_errmsg(db));
        tb__seterr(tb__db_err(db), rc, "%s --all: nothing changed: %s", act_names[what], msg);
    }
    if (rc) {
        tb__meta_rollback(db);
        goto out;
    }
    if ((rc = tb__meta_commit(db)) != 0) goto out;
    rc = set_json_out(db,
                      json_pack("{s:s, s:s, s:I, s:O}", "action", act_names[what], "user", who,
                                "count", (json_int_t)json_array_size(done), "tags", done),
                      json_out);
out:
    if (rc == TB_ENOMEM) tb__seterr(tb__db_err(db), rc, "out of memory");
    json_decref(codes);
    json_decref(done);
    return rc;
}

int tb_tag_submit(tb_db *db, const char *code, const char *user, const char *comment,
                  char **json_out)
{
    return lifecycle(db, ACT_SUBMIT, code, user, comment, json_out);
}

int tb_tag_approve(tb_db *db, const char *code, const char *user, const char *comment,
                   char **json_out)
{
    return lifecycle(db, ACT_APPROVE, code, user, comment, json_out);
}

int tb_tag_reject(tb_db *db, const char *code, const char *user, const char *comment,
                  char **json_out)
{
    if (!code) {
        *json_out = NULL;
        return tb__seterr(tb__db_err(db), TB_EINVAL, "reject needs a tag");
    }
    return lifecycle(db, ACT_REJECT, code, user, comment, json_out);
}

int tb_tag_offline(tb_db *db, const char *code, const char *user, const char *comment,
                   char **json_out)
{
    if (!code) {
        *json_out = NULL;
        return tb__seterr(tb__db_err(db), TB_EINVAL, "offline needs a tag");
    }
    return lifecycle(db, ACT_OFFLINE, code, user, comment, json_out);
}

/* ---- usage and coverage ---------------------------------------------------------------------- */

/* Saved segments that use each tag, and queries of the last 30 days, for all tags at once. */
typedef struct usage {
    json_t *segments; /* code -> n */
    json_t *queries;  /* code -> n */
} usage;

static int read_usage(tb_db *db, usage *u)
{
    sqlite3_stmt *st;
    u->segments = json_object();
    u->queries = json_object();
    if (!u->segments || !u->queries) return TB_ENOMEM;
    int rc = tb__meta_stmt(db, TB__STMT_CAT_USAGE_SEGS,
                           "SELECT code, count(*) FROM cseg_tag GROUP BY code", &st);
    if (rc) return rc;
    int step;
    while ((step = sqlite3_step(st)) == SQLITE_ROW)
        json_object_set_new(u->segments, col_text(st, 0) ? col_text(st, 0) : "",
                            json_integer(sqlite3_column_int64(st, 1)));
    if (step != SQLITE_DONE) rc = tb__meta_seterr_sqlite(db, step, "cannot read tag usage");
    tb__meta_stmt_done(st);
    if (rc) return rc;
    /* day may be stored as YYYY-MM-DD or YYYYMMDD: compare without the dashes */
    char since[16];
    time_t t = time(NULL) + 8 * 3600 - 30 * 86400;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(since, sizeof since, "%Y%m%d", &tm);
    rc = tb__meta_stmt(db, TB__STMT_CAT_USAGE_QUERIES,
                       "SELECT code, sum(queries) FROM tag_usage "
                       "WHERE replace(day, '-', '') >= ?1 GROUP BY code",
                       &st);
    if (rc) return rc;
    sqlite3_bind_text(st, 1, since, -1, SQLITE_TRANSIENT);
    while ((step = sqlite3_step(st)) == SQLITE_ROW)
        json_object_set_new(u->queries, col_text(st, 0) ? col_text(st, 0) : "",
                            json_integer(sqlite3_column_int64(st, 1)));
    if (step != SQLITE_DONE) rc = tb__meta_seterr_sqlite(db, step, "cannot read tag usage");
    tb__meta_stmt_done(st);
    return rc;
}

static void usage_release(usage *u)
{
    json_decref(u->segments);
    json_decref(u->queries);
}

static json_int_t usage_of(const json_t *o, const char *code)
{
    return json_integer_value(json_object_get(o, code));
}

/* Coverage and distribution of `code` in the newest current build of the newest batch: a JSON
 * object, or JSON null when no build has it. */
static int read_coverage(tb_db *db, const char *code, json_t **out)
{
    sqlite3_stmt *st;
    *out = json_null();
    int rc = tb__meta_stmt(db, TB__STMT_CAT_COVERAGE,
                           "SELECT b.build_id, b.batch_date, b.customers, b.built_at, s.version, "
                           "s.coverage, s.distribution FROM tag_build b "
                           "JOIN tag_stat s ON s.build_id = b.build_id AND s.code = ?1 "
                           "WHERE b.build_id = (SELECT build_id FROM tag_build WHERE current = 1 "
                           "ORDER BY batch_date DESC, build_id DESC LIMIT 1)",
                           &st);
    if (rc) return rc;
    sqlite3_bind_text(st, 1, code, -1, SQLITE_TRANSIENT);
    int step = sqlite3_step(st);
    if (step == SQLITE_ROW) {
        json_int_t customers = sqlite3_column_int64(st, 2), cov = sqlite3_column_int64(st, 5);
        const char *dist = col_text(st, 6);
        json_t *d = dist ? json_loads(dist, 0, NULL) : NULL;
        *out = json_pack("{s:I, s:s, s:s, s:i, s:I, s:I, s:f, s:o}", "build_id",
                         (json_int_t)sqlite3_column_int64(st, 0), "batch_date",
                         col_text(st, 1) ? col_text(st, 1) : "", "built_at",
                         col_text(st, 3) ? col_text(st, 3) : "", "version",
                         sqlite3_column_int(st, 4), "customers", customers, "coverage", cov,
                         "ratio", customers > 0 ? (double)cov / (double)customers : 0.0,
                         "distribution", d ? d : json_object());
        if (!*out) rc = TB_ENOMEM;
    } else if (step != SQLITE_DONE) {
        rc = tb__meta_seterr_sqlite(db, step, "cannot read tag statistics");
    }
    tb__meta_stmt_done(st);
    return rc;
}

/* ---- list, tree, show, history --------------------------------------------------------------- */

typedef struct theme_row {
    char *code, *parent, *name_zh, *name_en, *cust_types;
    int level;
} theme_row;

typedef struct theme_rows {
    theme_row *v;
    size_t n;
} theme_rows;

static void themes_free(theme_rows *t)
{
    for (size_t i = 0; i < t->n; i++) {
        free(t->v[i].code);
        free(t->v[i].parent);
        free(t->v[i].name_zh);
        free(t->v[i].name_en);
        free(t->v[i].cust_types);
    }
    free(t->v);
    memset(t, 0, sizeof *t);
}

static int load_themes(tb_db *db, theme_rows *out)
{
    sqlite3_stmt *st;
    size_t cap = 0;
    memset(out, 0, sizeof *out);
    int rc =
        tb__meta_stmt(db, TB__STMT_CAT_THEMES,
                      "SELECT code, parent, level, name_zh, name_en, cust_types FROM tag_theme "
                      "ORDER BY ord, code",
                      &st);
    if (rc) return rc;
    int step;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        if (out->n == cap) {
            cap = cap ? cap * 2 : 64;
            theme_row *v = realloc(out->v, cap * sizeof *v);
            if (!v) {
                rc = TB_ENOMEM;
                break;
            }
            out->v = v;
        }
        theme_row *t = &out->v[out->n++];
        t->code = xstrdup(col_text(st, 0));
        t->parent = col_text(st, 1) ? xstrdup(col_text(st, 1)) : NULL;
        t->level = sqlite3_column_int(st, 2);
        t->name_zh = xstrdup(col_text(st, 3));
        t->name_en = xstrdup(col_text(st, 4));
        t->cust_types = xstrdup(col_text(st, 5));
        if (!t->code || !t->name_zh || !t->name_en || !t->cust_types ||
            (col_text(st, 1) && !t->parent)) {
            rc = TB_ENOMEM;
            break;
        }
    }
    if (!rc && step != SQLITE_DONE)
        rc = tb__meta_seterr_sqlite(db, step, "cannot read the tag themes");
    tb__meta_stmt_done(st);
    if (rc) themes_free(out);
    return rc;
}

static const theme_row *theme_by_code(const theme_rows *t, const char *code)
{
    for (size_t i = 0; code && i < t->n; i++)
        if (strcmp(t->v[i].code, code) == 0) return &t->v[i];
    return NULL;
}

static json_t *theme_json(const theme_row *t)
{
    if (!t) return json_null();
    json_t *ct = json_loads(t->cust_types, 0, NULL);
    return json_pack("{s:s, s:s, s:s, s:i, s:o}", "code", t->code, "name_zh", t->name_zh, "name_en",
                     t->name_en, "level", t->level, "customer_types", ct ? ct : json_array());
}

static json_t *list_item(const tag_row *r, const theme_rows *th, const usage *u)
{
    const theme_row *t2 = theme_by_code(th, r->theme),
                    *t1 = t2 ? theme_by_code(th, t2->parent) : NULL;
    json_t *o =
        json_pack("{s:s, s:s, s:s, s:s, s:s?, s:s, s:s, s:s, s:i, s:s, s:I, s:I}", "code", r->code,
                  "name_zh", def_str(r->def, "name_zh"), "name_en", def_str(r->def, "name_en"),
                  "theme", r->theme, "theme_l1", t1 ? t1->code : NULL, "type",
                  def_str(r->def, "type"), "value_type", def_str(r->def, "value_type"), "status",
                  r->status, "version", r->version, "owner", def_str(r->def, "owner"), "segments",
                  usage_of(u->segments, r->code), "queries_30d", usage_of(u->queries, r->code));
    if (!o) return NULL;
    json_object_set_new(o, "online_version",
                        r->online_version ? json_integer(r->online_version) : json_null());
    json_t *ct = json_object_get(r->def, "customer_types");
    json_object_set_new(o, "customer_types", ct ? json_deep_copy(ct) : json_array());
    return o;
}

int tb_tag_list(tb_db *db, const tb_tag_filter *f, char **json_out)
{
    tag_rows rows = {0};
    theme_rows th = {0};
    usage u = {0};
    *json_out = NULL;
    if (f && f->status && name_index(status_names, COUNT(status_names), f->status) < 0)
        return tb__seterr(tb__db_err(db), TB_EINVAL,
                          "'%s' is not a status (draft, in_review, online, offline)", f->status);
    int rc = load_rows(db, &rows);
    if (!rc) rc = load_themes(db, &th);
    if (!rc) rc = read_usage(db, &u);
    json_t *arr = rc ? NULL : json_array();
    if (!rc && !arr) rc = TB_ENOMEM;
    const theme_row *want = NULL;
    if (!rc && f && f->theme) {
        for (size_t i = 0; i < th.n && !want; i++)
            if (strcmp(th.v[i].code, f->theme) == 0 || strcmp(th.v[i].name_zh, f->theme) == 0 ||
                ieq(th.v[i].name_en, f->theme))
                want = &th.v[i];
        if (!want) rc = tb__seterr(tb__db_err(db), TB_ENOENT, "no tag theme '%s'", f->theme);
    }
    for (size_t i = 0; !rc && i < rows.n; i++) {
        const tag_row *r = &rows.v[i];
        if (want) {
            const theme_row *t2 = theme_by_code(&th, r->theme);
            if (strcmp(r->theme, want->code) != 0 &&
                !(t2 && t2->parent && strcmp(t2->parent, want->code) == 0))
                continue;
        }
        if (f && f->status && strcmp(r->status, f->status) != 0) continue;
        if (f && f->search && *f->search &&
            !(icontains(r->code, f->search) || strstr(def_str(r->def, "name_zh"), f->search) ||
              icontains(def_str(r->def, "name_en"), f->search) ||
              icontains(def_str(r->def, "description"), f->search)))
            continue;
        if (f && f->unused && (usage_of(u.segments, r->code) || usage_of(u.queries, r->code)))
            continue;
        json_t *o = list_item(r, &th, &u);
        if (!o || json_array_append_new(arr, o) != 0) rc = TB_ENOMEM;
    }
    if (!rc) {
        rc = set_json_out(db, arr, json_out);
        arr = NULL;
    }
    json_decref(arr);
    if (rc == TB_ENOMEM) tb__seterr(tb__db_err(db), rc, "out of memory listing tags");
    usage_release(&u);
    themes_free(&th);
    rows_free(&rows);
    return rc;
}

int tb_tag_tree(tb_db *db, char **json_out)
{
    tag_rows rows = {0};
    theme_rows th = {0};
    *json_out = NULL;
    int rc = load_rows(db, &rows);
    if (!rc) rc = load_themes(db, &th);
    json_t *top = rc ? NULL : json_array();
    if (!rc && !top) rc = TB_ENOMEM;
    size_t total = 0, total_online = 0;
    for (size_t i = 0; !rc && i < th.n; i++) {
        if (th.v[i].level != 1) continue;
        json_t *t1 = theme_json(&th.v[i]), *kids = json_array();
        json_int_t n1 = 0, on1 = 0;
        for (size_t k = 0; t1 && kids && k < th.n; k++) {
            if (!th.v[k].parent || strcmp(th.v[k].parent, th.v[i].code) != 0) continue;
            json_t *t2 = theme_json(&th.v[k]), *items = json_array();
            json_int_t n2 = 0, on2 = 0;
            for (size_t r = 0; t2 && items && r < rows.n; r++) {
                const tag_row *tr = &rows.v[r];
                if (strcmp(tr->theme, th.v[k].code) != 0) continue;
                n2++;
                if (tr->online_version) on2++;
                json_array_append_new(
                    items,
                    json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "code", tr->code, "name_zh",
                              def_str(tr->def, "name_zh"), "name_en", def_str(tr->def, "name_en"),
                              "type", def_str(tr->def, "type"), "value_type",
                              def_str(tr->def, "value_type"), "status", tr->status));
            }
            if (!t2 || !items) {
                json_decref(t2);
                json_decref(items);
                rc = TB_ENOMEM;
                break;
            }
            json_object_set_new(t2, "tags", json_integer(n2));
            json_object_set_new(t2, "online", json_integer(on2));
            json_object_set_new(t2, "items", items);
            json_array_append_new(kids, t2);
            n1 += n2;
            on1 += on2;
        }
        if (!t1 || !kids) rc = TB_ENOMEM;
        if (rc) {
            json_decref(t1);
            json_decref(kids);
            break;
        }
        json_object_set_new(t1, "tags", json_integer(n1));
        json_object_set_new(t1, "online", json_integer(on1));
        json_object_set_new(t1, "children", kids);
        json_array_append_new(top, t1);
        total += (size_t)n1;
        total_online += (size_t)on1;
    }
    if (!rc) {
        rc = set_json_out(db,
                          json_pack("{s:I, s:I, s:o}", "tags", (json_int_t)total, "online",
                                    (json_int_t)total_online, "themes", top),
                          json_out);
        top = NULL;
    }
    json_decref(top);
    if (rc == TB_ENOMEM) tb__seterr(tb__db_err(db), rc, "out of memory building the tag tree");
    themes_free(&th);
    rows_free(&rows);
    return rc;
}

int tb_tag_show(tb_db *db, const char *code_or_name, int version, char **json_out)
{
    char code[80];
    tag_state s;
    version_row v = {0};
    theme_rows th = {0};
    usage u = {0};
    json_t *doc = NULL, *cov = NULL;
    *json_out = NULL;
    if (version < 0)
        return tb__seterr(tb__db_err(db), TB_EINVAL, "version %d is not a version", version);
    int rc = resolve_code(db, code_or_name, code, sizeof code);
    if (rc) return rc;
    if ((rc = get_state(db, code, &s)) != 0) return rc;
    int want = version ? version : s.version;
    if ((rc = get_version(db, code, want, &v)) != 0) return rc;
    json_error_t je;
    doc = json_loads(v.definition, 0, &je);
    if (!doc) {
        rc = tb__seterr(tb__db_err(db), TB_ECORRUPT,
                        "tag '%s' version %d: stored definition is not JSON", code, want);
        goto out;
    }
    if ((rc = load_themes(db, &th)) != 0) goto out;
    if ((rc = read_usage(db, &u)) != 0) goto out;
    if ((rc = read_coverage(db, code, &cov)) != 0) goto out;
    const theme_row *t2 = theme_by_code(&th, s.theme),
                    *t1 = t2 ? theme_by_code(&th, t2->parent) : NULL;
    json_object_set_new(doc, "version", json_integer(want));
    json_object_set_new(doc, "version_status", json_string(version_status(&s, want)));
    json_object_set_new(doc, "status", json_string(s.status));
    json_object_set_new(doc, "current_version", json_integer(s.version));
    json_object_set_new(doc, "online_version",
                        s.online_version ? json_integer(s.online_version) : json_null());
    json_object_set_new(doc, "hash", json_string(v.hash));
    json_object_set_new(doc, "author", json_string(v.author));
    json_object_set_new(doc, "created_at", json_string(v.created_at));
    json_object_set_new(doc, "theme_path", json_pack("[o, o]", theme_json(t1), theme_json(t2)));
    json_object_set_new(doc, "usage",
                        json_pack("{s:I, s:I}", "segments", usage_of(u.segments, code),
                                  "queries_30d", usage_of(u.queries, code)));
    json_object_set_new(doc, "coverage", cov);
    cov = NULL;
    rc = set_json_out(db, doc, json_out);
    doc = NULL;
out:
    free(v.definition);
    json_decref(doc);
    json_decref(cov);
    usage_release(&u);
    themes_free(&th);
    return rc;
}

int tb_tag_history(tb_db *db, const char *code_or_name, char **json_out)
{
    char code[80];
    tag_state s;
    sqlite3_stmt *st;
    *json_out = NULL;
    int rc = resolve_code(db, code_or_name, code, sizeof code);
    if (rc) return rc;
    if ((rc = get_state(db, code, &s)) != 0) return rc;
    json_t *versions = json_array(), *events = json_array();
    if (!versions || !events) {
        rc = TB_ENOMEM;
        goto out;
    }
    rc = tb__meta_stmt(db, TB__STMT_CAT_VERSIONS,
                       "SELECT version, hash, author, created_at, comment FROM tag_version "
                       "WHERE code = ?1 ORDER BY version",
                       &st);
    if (rc) goto out;
    sqlite3_bind_text(st, 1, code, -1, SQLITE_TRANSIENT);
    int step;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        int ver = sqlite3_column_int(st, 0);
        json_array_append_new(versions,
                              json_pack("{s:i, s:s, s:s, s:s, s:s?, s:s}", "version", ver, "hash",
                                        col_text(st, 1) ? col_text(st, 1) : "", "author",
                                        col_text(st, 2) ? col_text(st, 2) : "", "created_at",
                                        col_text(st, 3) ? col_text(st, 3) : "", "comment",
                                        col_text(st, 4), "status", version_status(&s, ver)));
    }
    if (step != SQLITE_DONE) rc = tb__meta_seterr_sqlite(db, step, "cannot read tag versions");
    tb__meta_stmt_done(st);
    if (rc) goto out;
    rc = tb__meta_stmt(db, TB__STMT_CAT_EVENTS,
                       "SELECT id, version, action, actor, at, comment FROM tag_event "
                       "WHERE code = ?1 ORDER BY id",
                       &st);
    if (rc) goto out;
    sqlite3_bind_text(st, 1, code, -1, SQLITE_TRANSIENT);
    while ((step = sqlite3_step(st)) == SQLITE_ROW)
        json_array_append_new(events, json_pack("{s:I, s:i, s:s, s:s, s:s, s:s?}", "id",
                                                (json_int_t)sqlite3_column_int64(st, 0), "version",
                                                sqlite3_column_int(st, 1), "action",
                                                col_text(st, 2) ? col_text(st, 2) : "", "actor",
                                                col_text(st, 3) ? col_text(st, 3) : "", "at",
                                                col_text(st, 4) ? col_text(st, 4) : "", "comment",
                                                col_text(st, 5)));
    if (step != SQLITE_DONE) rc = tb__meta_seterr_sqlite(db, step, "cannot read tag events");
    tb__meta_stmt_done(st);
    if (rc) goto out;
    json_t *doc = json_pack("{s:s, s:s, s:i, s:O, s:O}", "code", code, "status", s.status,
                            "version", s.version, "versions", versions, "events", events);
    if (doc)
        json_object_set_new(doc, "online_version",
                            s.online_version ? json_integer(s.online_version) : json_null());
    rc = set_json_out(db, doc, json_out);
out:
    if (rc == TB_ENOMEM) tb__seterr(tb__db_err(db), rc, "out of memory reading tag history");
    json_decref(versions);
    json_decref(events);
    return rc;
}
