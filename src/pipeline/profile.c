/* profile.c — collection: the attribute table of the customer profile and the per-gid arrays the
 * valid business rows are folded into. One declarative table says what each attribute is; the
 * loader binds it to the fields of the current data standard, so a renamed field is an error at
 * bind time, not a silently empty column. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/hash.h"
#include "common/table.h"
#include "pipeline/profile.h"
#include "pipeline/standard.h"
#include "tagbase.h"

typedef enum op {
    OP_SUM,   /* sum of a number field */
    OP_COUNT, /* number of rows */
    OP_MAX,   /* largest number, date or time */
    OP_MIN,   /* smallest */
    OP_LAST,  /* the code of the last row seen */
    OP_FLAG,  /* 1 when any row matched */
    OP_DERIVED
} op;

typedef struct attr_def {
    tb__pattr_info info;
    op op;
    const char *where_field; /* NULL: every row */
    const char *where_value;
} attr_def;

#define A(name, type, opv, field, kind, desc)                                                      \
    {                                                                                              \
        {name, type, field, "", kind, desc}, opv, NULL, NULL                                       \
    }
#define AW(name, type, opv, field, wf, wv, kind, desc)                                             \
    {                                                                                              \
        {name, type, field, wf "=" wv, kind, desc}, opv, wf, wv                                    \
    }

/* The profile. Money is yuan * 100, rates * 10000, dates days since 1970-01-01. */
static const attr_def attrs[] = {
    AW("dep_demand_bal", "deposit", OP_SUM, "balance", "dep_type", "1", TB__PK_MONEY,
       "demand deposit balance"),
    AW("dep_time_bal", "deposit", OP_SUM, "balance", "dep_type", "2", TB__PK_MONEY,
       "time deposit balance"),
    A("dep_acct_count", "deposit", OP_COUNT, "", TB__PK_INT, "deposit accounts"),
    A("dep_first_open", "deposit", OP_MIN, "open_date", TB__PK_DATE,
      "earliest deposit account opening"),
    A("loan_bal", "loan", OP_SUM, "balance", TB__PK_MONEY, "loan balance"),
    A("loan_contract_amt", "loan", OP_SUM, "contract_amt", TB__PK_MONEY, "loan contract amount"),
    A("loan_count", "loan", OP_COUNT, "", TB__PK_INT, "loans"),
    A("loan_worst_class", "loan", OP_MAX, "five_class", TB__PK_INT,
      "worst five-level classification (1 normal .. 5 loss)"),
    A("loan_max_overdue_days", "loan", OP_MAX, "overdue_days", TB__PK_INT, "longest overdue days"),
    A("card_count", "credit_card", OP_COUNT, "", TB__PK_INT, "credit cards"),
    A("card_limit", "credit_card", OP_SUM, "credit_limit", TB__PK_MONEY, "credit card limits"),
    A("card_used", "credit_card", OP_SUM, "used_amt", TB__PK_MONEY, "credit card amounts used"),
    A("wealth_amt", "wealth", OP_SUM, "amount", TB__PK_MONEY, "wealth management"),
    A("wealth_count", "wealth", OP_COUNT, "", TB__PK_INT, "wealth products held"),
    A("fund_mv", "fund", OP_SUM, "market_value", TB__PK_MONEY, "fund market value"),
    A("fund_count", "fund", OP_COUNT, "", TB__PK_INT, "funds held"),
    A("ins_premium", "insurance", OP_SUM, "annual_premium", TB__PK_MONEY,
      "annual insurance premium"),
    A("ins_count", "insurance", OP_COUNT, "", TB__PK_INT, "insurance policies"),
    A("metal_mv", "precious_metal", OP_SUM, "market_value", TB__PK_MONEY,
      "precious metal market value"),
    A("payroll_salary", "payroll", OP_MAX, "monthly_salary", TB__PK_MONEY,
      "monthly salary paid through the bank (代发)"),
    A("payroll_last_date", "payroll", OP_MAX, "last_pay_date", TB__PK_DATE, "last salary payment"),
    A("etc_count", "etc", OP_COUNT, "", TB__PK_INT, "ETC cards"),
    A("txn_count", "transaction", OP_COUNT, "", TB__PK_INT, "transactions in the extract window"),
    AW("txn_in_amt", "transaction", OP_SUM, "amount", "direction", "C", TB__PK_MONEY,
       "inflows in the extract window"),
    AW("txn_out_amt", "transaction", OP_SUM, "amount", "direction", "D", TB__PK_MONEY,
       "outflows in the extract window"),
    A("txn_last_time", "transaction", OP_MAX, "txn_time", TB__PK_TIME, "last transaction"),
    A("household_id", "household", OP_LAST, "household_id", TB__PK_CODE, "household"),
    A("household_relation", "household", OP_LAST, "relation", TB__PK_CODE,
      "relation to the household head"),
    A("court_case_count", "court_enforcement", OP_COUNT, "", TB__PK_INT, "court enforcement cases"),
    A("court_exec_amt", "court_enforcement", OP_SUM, "exec_amount", TB__PK_MONEY,
      "amount under enforcement"),
    AW("court_dishonest", "court_enforcement", OP_FLAG, "", "enforce_type", "02", TB__PK_INT,
       "listed as a dishonest judgment debtor (失信被执行人)"),
    A("reg_status", "business_registration", OP_LAST, "reg_status", TB__PK_CODE,
      "business registration status"),
    A("reg_abnormal", "business_registration", OP_MAX, "abnormal_flag", TB__PK_INT,
      "listed in abnormal operations"),
    A("reg_capital", "business_registration", OP_MAX, "reg_capital", TB__PK_MONEY,
      "registered capital"),
    A("churn_score", "model_score", OP_MAX, "churn_score", TB__PK_RATE, "churn probability"),
    A("fund_propensity", "model_score", OP_MAX, "fund_propensity", TB__PK_RATE,
      "fund purchase propensity"),
    A("loan_propensity", "model_score", OP_MAX, "loan_propensity", TB__PK_RATE, "loan propensity"),
    A("card_propensity", "model_score", OP_MAX, "card_propensity", TB__PK_RATE,
      "credit card propensity"),
    A("aum", "derived", OP_DERIVED, "", TB__PK_MONEY,
      "assets under management: deposits + wealth + funds + precious metals"),
};
#define NATTRS (sizeof attrs / sizeof attrs[0])

/* A dictionary of the texts of one OP_LAST attribute. */
typedef struct dict {
    char **str;
    uint32_t *len;
    uint32_t n, cap; /* codes 1..n-1 are used; 0 is NULL */
    uint32_t *slot;  /* open addressing: code or 0 */
    uint32_t slot_mask;
} dict;

typedef struct column {
    void *v;      /* int64_t[] or int32_t[] or uint32_t[] */
    uint32_t cap; /* gids it holds */
    dict d;       /* OP_LAST only */
} column;

struct tb__profile_binding {
    const char *business_type;
    size_t nattrs;
    uint16_t attr[NATTRS]; /* which attributes */
    int field[NATTRS];     /* their field index, -1 for counts */
    int where[NATTRS];     /* their filter field index, -1 for none */
    int scale[NATTRS];     /* decimal scale of the field */
    tb__profile_binding *next;
};

struct tb__profile {
    uint32_t cap; /* gids a column grows to at once (tb__profile_reserve), at least */
    column col[NATTRS];
    tb__profile_binding *bindings;
};

static size_t width(tb__pkind k)
{
    return k == TB__PK_DATE ? 4 : k == TB__PK_CODE ? 4 : 8;
}

/* Fills new cells with the NULL of their kind (counts start at 0 when a row arrives). */
static void fill_null(const attr_def *a, void *v, uint32_t from, uint32_t to)
{
    for (uint32_t i = from; i < to; i++) {
        switch (a->info.kind) {
        case TB__PK_DATE:
            ((int32_t *)v)[i] = INT32_MIN;
            break;
        case TB__PK_CODE:
            ((uint32_t *)v)[i] = 0;
            break;
        default:
            ((int64_t *)v)[i] = INT64_MIN;
        }
    }
}

/* Makes column k hold `n` gids. A column grows only when a row reaches it: at 10M customers,
 * doubling all forty columns whenever the customer master's ids crossed a power of two faulted
 * in and filled gigabytes that the files read in order never touch. */
static int grow_col(tb__profile *p, size_t k, uint32_t n)
{
    column *c = &p->col[k];
    if (n <= c->cap && c->v) return 0;
    void *v = realloc(c->v, (size_t)(n ? n : 1) * width(attrs[k].info.kind));
    if (!v) return TB_ENOMEM;
    tb__table_huge(v, (size_t)(n ? n : 1) * width(attrs[k].info.kind));
    fill_null(&attrs[k], v, c->cap, n);
    c->v = v;
    c->cap = n;
    return 0;
}

/* Room for `gid` in column k: the reserved count, or doubling, so that rows arriving in gid order
 * cost O(1) each. */
static int grow_for(tb__profile *p, size_t k, uint32_t gid)
{
    if (gid == UINT32_MAX) return TB_ENOMEM; /* cells 0..UINT32_MAX do not fit a uint32_t cap */
    uint32_t cap = p->col[k].cap ? p->col[k].cap : 1024;
    while (cap <= gid)
        cap = cap > UINT32_MAX / 2 ? UINT32_MAX : cap * 2;
    return grow_col(p, k, gid < p->cap && p->cap > p->col[k].cap ? p->cap : cap);
}

/* Every column holds gids 0..n-1 (at least). */
static int grow_all(tb__profile *p, uint32_t n)
{
    for (size_t k = 0; k < NATTRS; k++)
        if (grow_col(p, k, n)) return TB_ENOMEM;
    return 0;
}

int tb__profile_create(tb__profile **out)
{
    *out = calloc(1, sizeof **out);
    return *out ? 0 : TB_ENOMEM;
}

static void dict_release(dict *d)
{
    for (uint32_t i = 1; i < d->n; i++)
        free(d->str[i]);
    free(d->str);
    free(d->len);
    free(d->slot);
}

void tb__profile_free(tb__profile *p)
{
    if (!p) return;
    for (size_t k = 0; k < NATTRS; k++) {
        free(p->col[k].v);
        dict_release(&p->col[k].d);
    }
    while (p->bindings) {
        tb__profile_binding *b = p->bindings;
        p->bindings = b->next;
        free(b);
    }
    free(p);
}

static int find_name(const char *const *names, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(names[i], name) == 0) return (int)i;
    return -1;
}

void tb__profile_reserve(tb__profile *p, uint32_t nrows)
{
    /* Columns grow when a row first reaches them, on the thread that reads their business type:
     * filling every column here would fault in gigabytes at 10M customers on one thread while
     * the workers wait. */
    if (nrows > p->cap) p->cap = nrows;
}

static pthread_mutex_t bind_mu = PTHREAD_MUTEX_INITIALIZER; /* the bindings list */

static int bind_locked(tb__profile *p, const char *business_type, const char *const *names,
                       size_t n, tb__profile_binding **out, tb__errbuf *eb);

int tb__profile_bind(tb__profile *p, const char *business_type, const char *const *names, size_t n,
                     tb__profile_binding **out, tb__errbuf *eb)
{
    pthread_mutex_lock(&bind_mu);
    int rc = bind_locked(p, business_type, names, n, out, eb);
    pthread_mutex_unlock(&bind_mu);
    return rc;
}

static int bind_locked(tb__profile *p, const char *business_type, const char *const *names,
                       size_t n, tb__profile_binding **out, tb__errbuf *eb)
{
    *out = NULL;
    tb__profile_binding *b = calloc(1, sizeof *b);
    if (!b) return tb__seterr(eb, TB_ENOMEM, "out of memory");
    for (size_t k = 0; k < NATTRS; k++) {
        const attr_def *a = &attrs[k];
        if (strcmp(a->info.business_type, business_type) != 0) continue;
        int f = -1, w = -1;
        const char *missing = a->info.field;
        if (a->info.field[0] && (f = find_name(names, n, a->info.field)) < 0) goto out_missing;
        missing = a->where_field;
        if (a->where_field && (w = find_name(names, n, a->where_field)) < 0) goto out_missing;
        b->attr[b->nattrs] = (uint16_t)k;
        b->field[b->nattrs] = f;
        b->where[b->nattrs] = w;
        b->scale[b->nattrs] = a->info.kind == TB__PK_RATE    ? 4
                              : a->info.kind == TB__PK_MONEY ? 2
                                                             : 0;
        b->nattrs++;
        continue;
    out_missing:
        free(b);
        return tb__seterr(eb, TB_EFORMAT,
                          "profile attribute '%s' reads field '%s' of '%s', which the data "
                          "standard does not have",
                          a->info.name, missing, business_type);
    }
    if (b->nattrs == 0) {
        free(b);
        return 0;
    }
    b->business_type = attrs[b->attr[0]].info.business_type;
    b->next = p->bindings;
    p->bindings = b;
    *out = b;
    return 0;
}

/* The code of text s[0..n) in d, adding it when new; 0 when out of memory. */
static uint32_t dict_code(dict *d, const char *s, size_t n)
{
    if (d->n == 0) {
        d->cap = 64;
        d->str = calloc(d->cap, sizeof *d->str);
        d->len = calloc(d->cap, sizeof *d->len);
        d->slot_mask = 127;
        d->slot = calloc(d->slot_mask + 1, sizeof *d->slot);
        if (!d->str || !d->len || !d->slot) {
            dict_release(d); /* d->n is 0: frees only the arrays */
            memset(d, 0, sizeof *d);
            return 0;
        }
        d->n = 1;
    }
    uint64_t h = tb__hash64(s, n, 0);
    uint32_t i = (uint32_t)h & d->slot_mask;
    for (; d->slot[i]; i = (i + 1) & d->slot_mask) {
        uint32_t c = d->slot[i];
        if (d->len[c] == n && memcmp(d->str[c], s, n) == 0) return c;
    }
    if (d->n == d->cap) {
        uint32_t cap = d->cap * 2;
        char **str = realloc(d->str, cap * sizeof *str);
        if (str) d->str = str;
        uint32_t *len = str ? realloc(d->len, cap * sizeof *len) : NULL;
        if (!len) return 0;
        d->len = len;
        d->cap = cap;
    }
    if ((uint64_t)(d->n + 1) * 2 > (uint64_t)d->slot_mask + 1) {
        uint32_t mask = d->slot_mask * 2 + 1;
        uint32_t *slot = calloc((size_t)mask + 1, sizeof *slot);
        if (!slot) return 0;
        for (uint32_t c = 1; c < d->n; c++) {
            uint32_t j = (uint32_t)tb__hash64(d->str[c], d->len[c], 0) & mask;
            while (slot[j])
                j = (j + 1) & mask;
            slot[j] = c;
        }
        free(d->slot);
        d->slot = slot;
        d->slot_mask = mask;
        i = (uint32_t)h & mask;
        while (slot[i])
            i = (i + 1) & mask;
    }
    char *copy = malloc(n + 1);
    if (!copy) return 0;
    memcpy(copy, s, n);
    copy[n] = '\0';
    uint32_t c = d->n++;
    d->str[c] = copy;
    d->len[c] = (uint32_t)n;
    d->slot[i] = c;
    return c;
}

/* Reads a field as the attribute's number; 0 when it parsed. The standard already validated the
 * row, so a failure here means a type the attribute cannot use: the value is skipped. */
static int number(const tb__pattr_info *a, const tb__field *f, int scale, int64_t *out)
{
    int32_t d;
    switch (a->kind) {
    case TB__PK_DATE:
        if (tb__std_parse_date(f->ptr, f->len, &d)) return -1;
        *out = d;
        return 0;
    case TB__PK_TIME:
        return tb__std_parse_timestamp(f->ptr, f->len, out) ? -1 : 0;
    case TB__PK_MONEY:
    case TB__PK_RATE:
        return tb__std_parse_decimal(f->ptr, f->len, scale, out) ? -1 : 0;
    default:
        return tb__std_parse_decimal(f->ptr, f->len, 0, out) ? -1 : 0;
    }
}

int tb__profile_add(tb__profile *p, tb__profile_binding *b, uint32_t gid, const tb__field *fields,
                    size_t nfields)
{
    int took = 0;
    for (size_t k = 0; k < b->nattrs; k++) {
        const attr_def *a = &attrs[b->attr[k]];
        column *c = &p->col[b->attr[k]];
        if (gid >= c->cap && grow_for(p, b->attr[k], gid)) return TB_ENOMEM;
        if (b->where[k] >= 0) {
            const tb__field *w = &fields[b->where[k]];
            if ((size_t)b->where[k] >= nfields || w->is_null || w->len != strlen(a->where_value) ||
                memcmp(w->ptr, a->where_value, w->len) != 0)
                continue;
        }
        const tb__field *f =
            b->field[k] >= 0 && (size_t)b->field[k] < nfields ? &fields[b->field[k]] : NULL;
        if (b->field[k] >= 0 && (!f || f->is_null)) continue;
        int64_t x = 0;
        if (a->op == OP_LAST) {
            uint32_t code = dict_code(&c->d, f->ptr, f->len);
            if (!code) return TB_ENOMEM;
            ((uint32_t *)c->v)[gid] = code;
            took = 1;
            continue;
        }
        if (a->op != OP_COUNT && a->op != OP_FLAG && number(&a->info, f, b->scale[k], &x)) continue;
        if (a->info.kind == TB__PK_DATE) {
            int32_t *v = &((int32_t *)c->v)[gid];
            if (*v == INT32_MIN || (a->op == OP_MAX ? x > *v : x < *v)) *v = (int32_t)x;
        } else {
            int64_t *v = &((int64_t *)c->v)[gid];
            int64_t old = *v == INT64_MIN ? 0 : *v;
            switch (a->op) {
            case OP_SUM:
                /* Saturates instead of overflowing (18-digit amounts add up past int64), and
                 * keeps clear of INT64_MIN, which is NULL. */
                if (__builtin_add_overflow(old, x, v)) *v = x > 0 ? INT64_MAX : INT64_MIN + 1;
                if (*v == INT64_MIN) *v = INT64_MIN + 1;
                break;
            case OP_COUNT:
                *v = old + 1;
                break;
            case OP_FLAG:
                *v = 1;
                break;
            case OP_MAX:
                if (*v == INT64_MIN || x > *v) *v = x;
                break;
            case OP_MIN:
                if (*v == INT64_MIN || x < *v) *v = x;
                break;
            default:
                break;
            }
        }
        took = 1;
    }
    return took;
}

const char *tb__profile_attr_op(size_t i)
{
    static const char *const names[] = {"sum", "count", "max", "min", "last", "flag", "derived"};
    return i < NATTRS ? names[attrs[i].op] : NULL;
}

tb__subdomain tb__profile_subdomain_of(const char *cust_type, int company)
{
    if (cust_type && strcmp(cust_type, "1") == 0) return TB__SD_RETAIL;
    if (cust_type && strcmp(cust_type, "2") == 0) return TB__SD_CORPORATE;
    if (cust_type && strcmp(cust_type, "3") == 0) return TB__SD_MERCHANT;
    if (!cust_type) return company ? TB__SD_CORPORATE : TB__SD_RETAIL;
    return 0;
}

unsigned tb__profile_subdomains(const char *business_type, const char *field)
{
    static const struct {
        const char *type;
        unsigned set;
    } sets[] = {
        {"credit_card", TB__SD_RETAIL},
        {"wealth", TB__SD_RETAIL},
        {"fund", TB__SD_RETAIL},
        {"insurance", TB__SD_RETAIL},
        {"precious_metal", TB__SD_RETAIL},
        {"payroll", TB__SD_RETAIL},
        {"etc", TB__SD_RETAIL},
        {"household", TB__SD_RETAIL},
        {"model_score", TB__SD_RETAIL},
        {"business_registration", TB__SD_CORPORATE | TB__SD_MERCHANT},
    };
    if (strcmp(business_type, "golden") == 0 && field) {
        if (!strcmp(field, "gender") || !strcmp(field, "birth_date") ||
            !strcmp(field, "occupation"))
            return TB__SD_RETAIL;
        if (!strcmp(field, "industry")) return TB__SD_CORPORATE | TB__SD_MERCHANT;
        return TB__SD_ALL;
    }
    for (size_t i = 0; i < sizeof sets / sizeof sets[0]; i++)
        if (strcmp(sets[i].type, business_type) == 0) return sets[i].set;
    return TB__SD_ALL;
}

void tb__profile_subdomains_json(unsigned set, char *out, size_t cap)
{
    static const char *const names[] = {"retail", "corporate", "merchant"};
    size_t n = 0;
    if (cap < 3) return;
    out[n++] = '[';
    for (int i = 0; i < 3; i++) {
        if (!(set & (1u << i))) continue;
        int w = snprintf(out + n, cap - n, "%s\"%s\"", n > 1 ? "," : "", names[i]);
        if (w < 0 || (size_t)w >= cap - n) break;
        n += (size_t)w;
    }
    if (n + 2 <= cap) {
        out[n++] = ']';
        out[n] = '\0';
    } else {
        snprintf(out, cap, "[]");
    }
}

size_t tb__profile_nattrs(void)
{
    return NATTRS;
}

const tb__pattr_info *tb__profile_attr(size_t i)
{
    return i < NATTRS ? &attrs[i].info : NULL;
}

static int attr_index(const char *name)
{
    for (size_t k = 0; k < NATTRS; k++)
        if (strcmp(attrs[k].info.name, name) == 0) return (int)k;
    return -1;
}

/* AUM from its parts; NULL only when every part is NULL. */
static void derive_aum(tb__profile *p, uint32_t nrows)
{
    static const char *const parts[] = {"dep_demand_bal", "dep_time_bal", "wealth_amt", "fund_mv",
                                        "metal_mv"};
    int64_t *aum = p->col[attr_index("aum")].v;
    for (uint32_t g = 0; g < nrows; g++) {
        int64_t sum = INT64_MIN;
        for (size_t k = 0; k < sizeof parts / sizeof parts[0]; k++) {
            int64_t v = ((int64_t *)p->col[attr_index(parts[k])].v)[g];
            if (v != INT64_MIN) sum = (sum == INT64_MIN ? 0 : sum) + v;
        }
        aum[g] = sum;
    }
}

int tb__profile_finish(tb__profile *p, uint32_t nrows)
{
    /* Every column covers every golden record, even those no row reached. */
    if (grow_all(p, nrows)) return TB_ENOMEM; /* nrows 0: still a (zero-length) column */
    if (nrows > 0) derive_aum(p, nrows);
    return 0;
}

int tb__profile_finish_attr(tb__profile *p, size_t i, uint32_t nrows)
{
    if (i >= NATTRS || attrs[i].op == OP_DERIVED) return TB_EINVAL;
    return grow_col(p, i, nrows);
}

int tb__profile_emit(tb__profile *p, uint32_t nrows, tb__profile_put_fn put, void *arg)
{
    int rc = tb__profile_finish(p, nrows);
    return rc ? rc : tb__profile_emit_range(p, 0, NATTRS, put, arg);
}

int tb__profile_emit_range(tb__profile *p, size_t from, size_t to, tb__profile_put_fn put,
                           void *arg)
{
    for (size_t k = from; k < to && k < NATTRS; k++) {
        column *c = &p->col[k];
        int rc = put(arg, &attrs[k].info, c->v, (const char *const *)c->d.str, c->d.len,
                     c->d.n ? c->d.n : 1);
        if (rc) return rc;
    }
    return 0;
}
