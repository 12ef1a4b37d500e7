/* expr_eval.c — the row-at-a-time evaluator of expressions: rule tags are computed with it, and
 * the property tests use it as the oracle the bitmap evaluator must agree with. The value model
 * and the NULL semantics are expr.h's; docs/expressions.md explains them to users. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "segments/expr.h"
#include "segments/expr_int.h"

typedef struct ev {
    const tb__expr_env *env;
    tb__errbuf *eb;
} ev;

/* Days are kept within years 1..9999 and beyond by this much at most, so that no arithmetic on
 * them (nor on seconds derived from them) can overflow. */
#define DAYS_LIMIT ((int64_t)1 << 40)

static int fail(ev *x, const tb__expr *at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(ev *x, const tb__expr *at, const char *fmt, ...)
{
    char msg[TB__ERRMSG_MAX - 32];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (!x->eb) return TB_EINVAL;
    if (at->len == 0) /* parsed from JSON: no source to point into */
        return tb__seterr(x->eb, TB_EINVAL, "%s", msg);
    tb__seterr(x->eb, TB_EINVAL, "%s (at byte %u of the expression)", msg, at->pos);
    return TB_EINVAL;
}

static const char *type_name(tb__xval_type t)
{
    static const char *const names[] = {"null",     "a boolean", "an integer", "a number",
                                        "a string", "a date",    "a time"};
    return (unsigned)t < sizeof names / sizeof names[0] ? names[t] : "an unknown type";
}

static void set_null(tb__xval *v)
{
    memset(v, 0, sizeof *v);
    v->type = TB__XV_NULL;
}

static void set_int(tb__xval *v, int64_t i)
{
    memset(v, 0, sizeof *v);
    v->type = TB__XV_INT;
    v->i = i;
}

static void set_num(tb__xval *v, double d)
{
    memset(v, 0, sizeof *v);
    v->type = TB__XV_NUM;
    v->d = d;
}

static void set_bool(tb__xval *v, int b)
{
    memset(v, 0, sizeof *v);
    v->type = TB__XV_BOOL;
    v->i = b != 0;
}

static void set_date(tb__xval *v, int64_t days)
{
    memset(v, 0, sizeof *v);
    v->type = TB__XV_DATE;
    v->i = days;
}

static double as_double(const tb__xval *v)
{
    return v->type == TB__XV_NUM ? v->d : (double)v->i;
}

static int is_numeric(tb__xval_type t)
{
    return t == TB__XV_INT || t == TB__XV_NUM;
}

/* The date of v: a DATE, a TIME's day in the env's offset, or a string read as a date. 0 when v
 * is NULL (*null set), TB_EINVAL when it is not a date. */
static int to_days(ev *x, const tb__expr *at, const tb__xval *v, int64_t *days, int *null)
{
    *null = 0;
    switch (v->type) {
    case TB__XV_NULL:
        *null = 1;
        return 0;
    case TB__XV_DATE:
        if (v->i < -DAYS_LIMIT || v->i > DAYS_LIMIT) return fail(x, at, "date out of range");
        *days = v->i;
        return 0;
    case TB__XV_TIME: {
        if (v->i < -DAYS_LIMIT * 86400 || v->i > DAYS_LIMIT * 86400)
            return fail(x, at, "time out of range");
        int64_t sec = v->i + x->env->utc_offset_s;
        *days = sec >= 0 ? sec / 86400 : -((-sec + 86399) / 86400);
        return 0;
    }
    case TB__XV_STR:
        if (tb__expr_parse_date(v->s, v->slen, days))
            return fail(x, at, "'%.*s' is not a date (expected 'YYYY-MM-DD' or 'YYYYMMDD')",
                        (int)(v->slen > 40 ? 40 : v->slen), v->s);
        return 0;
    default:
        return fail(x, at, "expected a date, not %s", type_name(v->type));
    }
}

/* Three-way comparison of two non-NULL values: *c is -1, 0, 1, or 2 for unordered (NaN).
 * TB_EINVAL for types that do not compare (the detail names both). */
static int compare(ev *x, const tb__expr *at, const tb__xval *a, const tb__xval *b, int *c)
{
    tb__xval_type ta = a->type, tb = b->type;
    if ((ta == TB__XV_INT || ta == TB__XV_BOOL) && (tb == TB__XV_INT || tb == TB__XV_BOOL)) {
        *c = (a->i > b->i) - (a->i < b->i);
        return 0;
    }
    if ((is_numeric(ta) || ta == TB__XV_BOOL) && (is_numeric(tb) || tb == TB__XV_BOOL)) {
        double p = as_double(a), q = as_double(b);
        *c = p < q ? -1 : p > q ? 1 : p == q ? 0 : 2;
        return 0;
    }
    if (ta == TB__XV_STR && tb == TB__XV_STR) {
        size_t n = a->slen < b->slen ? a->slen : b->slen;
        int r = n ? memcmp(a->s, b->s, n) : 0;
        if (r == 0) r = (a->slen > b->slen) - (a->slen < b->slen);
        *c = (r > 0) - (r < 0);
        return 0;
    }
    int64_t p, q;
    int null;
    if (ta == TB__XV_DATE && tb == TB__XV_DATE) {
        *c = (a->i > b->i) - (a->i < b->i);
        return 0;
    }
    if (ta == TB__XV_TIME || tb == TB__XV_TIME) {
        const tb__xval *v[2] = {a, b};
        int64_t s[2];
        for (int k = 0; k < 2; k++) {
            if (v[k]->type == TB__XV_TIME) {
                s[k] = v[k]->i;
            } else if (v[k]->type == TB__XV_DATE && v[k]->i >= -DAYS_LIMIT &&
                       v[k]->i <= DAYS_LIMIT) {
                s[k] = v[k]->i * 86400 - x->env->utc_offset_s;
            } else if (v[k]->type == TB__XV_STR) {
                if (tb__expr_parse_time(v[k]->s, v[k]->slen, x->env->utc_offset_s, &s[k]))
                    return fail(x, at,
                                "'%.*s' is not a time (expected 'YYYY-MM-DD' or 'YYYY-MM-DD "
                                "HH:MM:SS')",
                                (int)(v[k]->slen > 40 ? 40 : v[k]->slen), v[k]->s);
            } else {
                goto mismatch;
            }
        }
        *c = (s[0] > s[1]) - (s[0] < s[1]);
        return 0;
    }
    if ((ta == TB__XV_DATE && (tb == TB__XV_DATE || tb == TB__XV_STR)) ||
        (tb == TB__XV_DATE && ta == TB__XV_STR)) {
        int rc = to_days(x, at, a, &p, &null);
        if (rc == 0) rc = to_days(x, at, b, &q, &null);
        if (rc) return rc;
        *c = (p > q) - (p < q);
        return 0;
    }
mismatch:
    return fail(x, at, "cannot compare %s with %s", type_name(ta), type_name(tb));
}

static int holds(int op, int c)
{
    if (c == 2) return 0;
    switch (op) {
    case TB__CMP_EQ:
        return c == 0;
    case TB__CMP_NE:
        return c != 0;
    case TB__CMP_LT:
        return c < 0;
    case TB__CMP_LE:
        return c <= 0;
    case TB__CMP_GT:
        return c > 0;
    default:
        return c >= 0;
    }
}

static int eval(const tb__expr *e, ev *x, tb__xval *out);

/* A condition's truth: NULL is false, booleans as they are, integers when nonzero (a 0/1 tag). */
static int truth(const tb__expr *e, ev *x, int *t)
{
    tb__xval v;
    int rc = eval(e, x, &v);
    if (rc) return rc;
    switch (v.type) {
    case TB__XV_NULL:
        *t = 0;
        return 0;
    case TB__XV_BOOL:
    case TB__XV_INT:
        *t = v.i != 0;
        return 0;
    default:
        return fail(x, e, "expected a condition (true or false), not %s", type_name(v.type));
    }
}

/* + - * / % on non-NULL values. Integers stay exact; an overflow falls back to a double. */
static int arith(ev *x, const tb__expr *e, const tb__xval *a, const tb__xval *b, tb__xval *out)
{
    int op = e->op;
    if (a->type == TB__XV_INT && b->type == TB__XV_INT && op != '/') {
        int64_t r;
        int ovf = 0;
        switch (op) {
        case '+':
            ovf = __builtin_add_overflow(a->i, b->i, &r);
            break;
        case '-':
            ovf = __builtin_sub_overflow(a->i, b->i, &r);
            break;
        case '*':
            ovf = __builtin_mul_overflow(a->i, b->i, &r);
            break;
        default: /* '%' */
            if (b->i == 0) {
                set_null(out);
                return 0;
            }
            r = b->i == -1 ? 0 : a->i % b->i;
            break;
        }
        if (!ovf) {
            set_int(out, r);
            return 0;
        }
    }
    if (is_numeric(a->type) && is_numeric(b->type)) {
        double p = as_double(a), q = as_double(b), r;
        switch (op) {
        case '+':
            r = p + q;
            break;
        case '-':
            r = p - q;
            break;
        case '*':
            r = p * q;
            break;
        default:
            if (q == 0) {
                set_null(out);
                return 0;
            }
            r = op == '/' ? p / q : fmod(p, q);
            break;
        }
        set_num(out, r);
        return 0;
    }
    /* date + days, date - days, date - date (days), time - time (seconds) */
    if (a->type == TB__XV_DATE && b->type == TB__XV_INT && (op == '+' || op == '-') &&
        b->i >= -DAYS_LIMIT && b->i <= DAYS_LIMIT && a->i >= -DAYS_LIMIT && a->i <= DAYS_LIMIT) {
        set_date(out, op == '+' ? a->i + b->i : a->i - b->i);
        return 0;
    }
    if (a->type == TB__XV_INT && b->type == TB__XV_DATE && op == '+' && a->i >= -DAYS_LIMIT &&
        a->i <= DAYS_LIMIT && b->i >= -DAYS_LIMIT && b->i <= DAYS_LIMIT) {
        set_date(out, a->i + b->i);
        return 0;
    }
    if (a->type == b->type && (a->type == TB__XV_DATE || a->type == TB__XV_TIME) && op == '-') {
        int64_t r;
        if (!__builtin_sub_overflow(a->i, b->i, &r)) {
            set_int(out, r);
            return 0;
        }
        return fail(x, e, "date difference out of range");
    }
    return fail(x, e, "cannot compute %s %c %s", type_name(a->type), op, type_name(b->type));
}

/* Whole years from birth (days) to as_of. A 29 February birthday comes on 28 February in other
 * years, as days_until_birthday counts it. */
static int64_t age_years(int64_t birth, int64_t as_of)
{
    int64_t by, ny;
    unsigned bm, bd, nm, nd;
    tb__civil_from_days(birth, &by, &bm, &bd);
    tb__civil_from_days(as_of, &ny, &nm, &nd);
    if (bm == 2 && bd == 29 && !tb__expr_is_leap(ny)) bd = 28;
    int64_t years = ny - by;
    if (nm < bm || (nm == bm && nd < bd)) years--;
    return years;
}

/* The day of the anniversary of (m, d) in year y, 29 February moved to the 28th when needed. */
static int64_t anniversary(int64_t y, unsigned m, unsigned d)
{
    if (m == 2 && d == 29 && !tb__expr_is_leap(y)) d = 28;
    return tb__days_from_civil(y, m, d);
}

static int64_t until_birthday(int64_t birth, int64_t as_of)
{
    int64_t by, ny;
    unsigned bm, bd, nm, nd;
    tb__civil_from_days(birth, &by, &bm, &bd);
    tb__civil_from_days(as_of, &ny, &nm, &nd);
    int64_t next = anniversary(ny, bm, bd);
    if (next < as_of) next = anniversary(ny + 1, bm, bd);
    return next - as_of;
}

static int call(const tb__expr *e, ev *x, tb__xval *out)
{
    /* behaviour (segment mode): the env's segment callback answers did() 1/0 and event() with
     * the customer's number of events */
    if (e->op == 0 && (strcmp(e->text, "did") == 0 || strcmp(e->text, "event") == 0)) {
        if (!x->env->segment) return fail(x, e, "%s() cannot be evaluated here", e->text);
        int n = x->env->segment(e, x->env->ctx);
        if (n < 0) return n;
        if (e->text[0] == 'd')
            set_bool(out, n > 0);
        else
            set_int(out, n);
        return 0;
    }
    const tb__expr_fn *fn = e->op > 0 && e->op <= TB__FN_COUNT &&
                                    tb__expr_fns[e->op - 1].id == (tb__expr_fn_id)(e->op - 1)
                                ? &tb__expr_fns[e->op - 1]
                                : tb__expr_fn_find(e->text, e->text_len);
    if (!fn) return fail(x, e, "unknown function '%s'", e->text);
    if ((int)e->nkid < fn->min_args || (fn->max_args >= 0 && (int)e->nkid > fn->max_args))
        return fail(x, e, "%s() called with %u arguments", fn->name, e->nkid);
    tb__xval a;
    int rc, null;
    int64_t days;
    switch (fn->id) {
    case TB__FN_TODAY:
        set_date(out, x->env->as_of);
        return 0;
    case TB__FN_SEGMENT:
        if (!x->env->segment) return fail(x, e, "segment() cannot be evaluated here");
        rc = x->env->segment(e, x->env->ctx);
        if (rc < 0) return rc;
        set_bool(out, rc);
        return 0;
    case TB__FN_COALESCE:
        for (uint32_t i = 0; i < e->nkid; i++) {
            if ((rc = eval(e->kid[i], x, out))) return rc;
            if (out->type != TB__XV_NULL) return 0;
        }
        return 0;
    case TB__FN_LEAST:
    case TB__FN_GREATEST:
        set_null(out); /* NULL arguments are skipped; all NULL gives NULL */
        for (uint32_t i = 0; i < e->nkid; i++) {
            if ((rc = eval(e->kid[i], x, &a))) return rc;
            if (a.type == TB__XV_NULL) continue;
            int c = 0;
            if (out->type != TB__XV_NULL && (rc = compare(x, e, &a, out, &c))) return rc;
            if (out->type == TB__XV_NULL || (fn->id == TB__FN_LEAST ? c == -1 : c == 1)) *out = a;
        }
        return 0;
    case TB__FN_ABS:
        if ((rc = eval(e->kid[0], x, &a))) return rc;
        if (a.type == TB__XV_NULL) {
            set_null(out);
        } else if (a.type == TB__XV_INT) {
            if (a.i == INT64_MIN)
                set_num(out, -(double)INT64_MIN);
            else
                set_int(out, a.i < 0 ? -a.i : a.i);
        } else if (a.type == TB__XV_NUM) {
            set_num(out, fabs(a.d));
        } else {
            return fail(x, e, "abs() takes a number, not %s", type_name(a.type));
        }
        return 0;
    default:
        break;
    }
    /* The rest take one date (a DATE, a TIME, or a string read as a date). */
    if ((rc = eval(e->kid[0], x, &a))) return rc;
    if ((rc = to_days(x, e->kid[0], &a, &days, &null))) return rc;
    if (null) {
        set_null(out);
        return 0;
    }
    int64_t as_of = x->env->as_of, y;
    unsigned m, d;
    switch (fn->id) {
    case TB__FN_AGE:
        set_int(out, age_years(days, as_of));
        return 0;
    case TB__FN_DAYS_SINCE:
        set_int(out, as_of - days);
        return 0;
    case TB__FN_DAYS_UNTIL_BIRTHDAY:
        set_int(out, until_birthday(days, as_of));
        return 0;
    case TB__FN_DATE:
        set_date(out, days);
        return 0;
    default:
        tb__civil_from_days(days, &y, &m, &d);
        set_int(out, fn->id == TB__FN_YEAR ? y : fn->id == TB__FN_MONTH ? m : d);
        return 0;
    }
}

static int eval(const tb__expr *e, ev *x, tb__xval *out)
{
    tb__xval a, b, c;
    int rc, t, cmp;
    switch (e->kind) {
    case TB__X_OR:
    case TB__X_AND: {
        int want = e->kind == TB__X_OR; /* the value that decides */
        for (uint32_t i = 0; i < e->nkid; i++) {
            if ((rc = truth(e->kid[i], x, &t))) return rc;
            if (t == want) {
                set_bool(out, want);
                return 0;
            }
        }
        set_bool(out, !want);
        return 0;
    }
    case TB__X_NOT:
        if ((rc = truth(e->kid[0], x, &t))) return rc;
        set_bool(out, !t);
        return 0;
    case TB__X_CMP:
        if ((rc = eval(e->kid[0], x, &a))) return rc;
        if (a.type == TB__XV_NULL) {
            set_bool(out, 0);
            return 0;
        }
        if ((rc = eval(e->kid[1], x, &b))) return rc;
        if (b.type == TB__XV_NULL) {
            set_bool(out, 0);
            return 0;
        }
        if ((rc = compare(x, e, &a, &b, &cmp))) return rc;
        set_bool(out, holds(e->op, cmp));
        return 0;
    case TB__X_IN:
        if ((rc = eval(e->kid[0], x, &a))) return rc;
        if (a.type == TB__XV_NULL) {
            set_bool(out, 0);
            return 0;
        }
        t = 0;
        for (uint32_t i = 1; i < e->nkid && !t; i++) {
            if ((rc = eval(e->kid[i], x, &b))) return rc;
            if (b.type == TB__XV_NULL) continue;
            if ((rc = compare(x, e->kid[i], &a, &b, &cmp))) return rc;
            t = cmp == 0;
        }
        set_bool(out, t != e->negated);
        return 0;
    case TB__X_BETWEEN:
        if ((rc = eval(e->kid[0], x, &a)) || (rc = eval(e->kid[1], x, &b)) ||
            (rc = eval(e->kid[2], x, &c)))
            return rc;
        if (a.type == TB__XV_NULL || b.type == TB__XV_NULL || c.type == TB__XV_NULL) {
            set_bool(out, 0);
            return 0;
        }
        if ((rc = compare(x, e, &b, &a, &cmp))) return rc;
        t = holds(TB__CMP_LE, cmp);
        int unordered = cmp == 2;
        if ((rc = compare(x, e, &a, &c, &cmp))) return rc;
        t = t && holds(TB__CMP_LE, cmp);
        if (unordered || cmp == 2) { /* NaN: neither between nor not between */
            set_bool(out, 0);
            return 0;
        }
        set_bool(out, t != e->negated);
        return 0;
    case TB__X_ISNULL:
        if ((rc = eval(e->kid[0], x, &a))) return rc;
        set_bool(out, (a.type == TB__XV_NULL) != e->negated);
        return 0;
    case TB__X_IDENT:
        set_null(out);
        if (!x->env->get) return fail(x, e, "no values for '%s'", e->text);
        return x->env->get(e, x->env->ctx, out);
    case TB__X_STR:
        memset(out, 0, sizeof *out);
        out->type = TB__XV_STR;
        out->s = e->text;
        out->slen = e->text_len;
        return 0;
    case TB__X_NUM:
        if (e->is_int)
            set_int(out, e->ival);
        else
            set_num(out, e->dval);
        return 0;
    case TB__X_BOOL:
        set_bool(out, e->ival);
        return 0;
    case TB__X_CALL:
        return call(e, x, out);
    case TB__X_ARITH:
        if ((rc = eval(e->kid[0], x, &a)) || (rc = eval(e->kid[1], x, &b))) return rc;
        if (a.type == TB__XV_NULL || b.type == TB__XV_NULL) {
            set_null(out);
            return 0;
        }
        return arith(x, e, &a, &b, out);
    case TB__X_NEG:
        if ((rc = eval(e->kid[0], x, &a))) return rc;
        if (a.type == TB__XV_NULL)
            set_null(out);
        else if (a.type == TB__XV_INT && a.i != INT64_MIN)
            set_int(out, -a.i);
        else if (is_numeric(a.type))
            set_num(out, -as_double(&a));
        else
            return fail(x, e, "cannot negate %s", type_name(a.type));
        return 0;
    }
    return fail(x, e, "unknown expression node %d", (int)e->kind);
}

/* See expr.h. */
int tb__expr_eval(const tb__expr *e, const tb__expr_env *env, tb__xval *out, tb__errbuf *eb)
{
    ev x = {env, eb};
    set_null(out);
    return eval(e, &x, out);
}

/* See expr.h. */
int tb__expr_test(const tb__expr *e, const tb__expr_env *env, tb__errbuf *eb)
{
    ev x = {env, eb};
    int t = 0, rc = truth(e, &x, &t);
    return rc ? rc : t;
}
