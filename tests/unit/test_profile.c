/* test_profile.c — tests src/pipeline/profile.c: binding the attribute table to field names,
 * folding rows of each sub-domain into per-gid cells (filters, sums of decimals, max, min, last
 * code, flags, rates), growing past the initial capacity, and emitting columns with the NULL of
 * each kind and the derived AUM. Expected values are worked out by hand from the rows. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "pipeline/profile.h"
#include "tagbase.h"

#define NROWS 6000u

/* The emitted columns, copied by name. */
typedef struct emitted {
    size_t ncols;
    struct col {
        const tb__pattr_info *a;
        void *v;
        char **dict;
        uint32_t ndict;
    } col[64];
    uint32_t nrows;
} emitted;

static size_t width(tb__pkind k)
{
    return k == TB__PK_DATE || k == TB__PK_CODE ? 4 : 8;
}

static int put(void *arg, const tb__pattr_info *a, const void *values, const char *const *dict,
               const uint32_t *dict_len, uint32_t ndict)
{
    emitted *e = arg;
    assert_true(e->ncols < sizeof e->col / sizeof e->col[0]);
    assert_non_null(values);
    assert_true(ndict >= 1);
    struct col *c = &e->col[e->ncols++];
    c->a = a;
    size_t n = (size_t)e->nrows * width(a->kind);
    c->v = malloc(n ? n : 1);
    assert_non_null(c->v);
    if (n) memcpy(c->v, values, n);
    c->ndict = ndict;
    c->dict = calloc(ndict, sizeof *c->dict);
    assert_non_null(c->dict);
    for (uint32_t i = 1; i < ndict; i++) {
        assert_non_null(dict);
        c->dict[i] = strndup(dict[i], dict_len[i]);
        assert_int_equal(strlen(c->dict[i]), dict_len[i]);
    }
    return 0;
}

static void emitted_free(emitted *e)
{
    for (size_t i = 0; i < e->ncols; i++) {
        for (uint32_t k = 1; k < e->col[i].ndict; k++)
            free(e->col[i].dict[k]);
        free(e->col[i].dict);
        free(e->col[i].v);
    }
}

static const struct col *find(const emitted *e, const char *name)
{
    for (size_t i = 0; i < e->ncols; i++)
        if (strcmp(e->col[i].a->name, name) == 0) return &e->col[i];
    fail_msg("column '%s' was not emitted", name);
    return NULL;
}

static int64_t i64(const emitted *e, const char *name, uint32_t gid)
{
    const struct col *c = find(e, name);
    assert_int_not_equal(c->a->kind, TB__PK_DATE);
    assert_int_not_equal(c->a->kind, TB__PK_CODE);
    return ((const int64_t *)c->v)[gid];
}

static int32_t i32(const emitted *e, const char *name, uint32_t gid)
{
    const struct col *c = find(e, name);
    assert_int_equal(c->a->kind, TB__PK_DATE);
    return ((const int32_t *)c->v)[gid];
}

/* The text of a CODE cell, or NULL for code 0. */
static const char *code(const emitted *e, const char *name, uint32_t gid)
{
    const struct col *c = find(e, name);
    assert_int_equal(c->a->kind, TB__PK_CODE);
    uint32_t k = ((const uint32_t *)c->v)[gid];
    assert_true(k < c->ndict);
    return k ? c->dict[k] : NULL;
}

/* Builds fields from texts; NULL is a NULL field. */
static void mk(tb__field *f, size_t n, const char *const *v)
{
    for (size_t i = 0; i < n; i++) {
        f[i].is_null = v[i] == NULL;
        f[i].ptr = v[i] ? v[i] : "";
        f[i].len = v[i] ? strlen(v[i]) : 0;
    }
}

#define ADD(p, b, gid, ...)                                                                        \
    do {                                                                                           \
        const char *const v_[] = {__VA_ARGS__};                                                    \
        tb__field f_[sizeof v_ / sizeof v_[0]];                                                    \
        mk(f_, sizeof v_ / sizeof v_[0], v_);                                                      \
        assert_int_equal(tb__profile_add(p, b, gid, f_, sizeof v_ / sizeof v_[0]), 1);             \
    } while (0)

static tb__profile_binding *bind(tb__profile *p, const char *type, const char *const *names,
                                 size_t n)
{
    tb__errbuf eb = {0};
    tb__profile_binding *b = NULL;
    assert_int_equal(tb__profile_bind(p, type, names, n, &b, &eb), 0);
    assert_non_null(b);
    return b;
}

static void collect_and_emit(void **state)
{
    (void)state;
    tb__profile *p = NULL;
    assert_int_equal(tb__profile_create(&p), 0);

    /* Field orders differ from the attribute table's, and carry fields no attribute reads. */
    static const char *const dep[] = {"acct_no", "open_date", "dep_type", "cust_no", "balance"};
    tb__profile_binding *bd = bind(p, "deposit", dep, 5);
    ADD(p, bd, 1, "A1", "2020-02-29", "1", "C1", "100.50");
    ADD(p, bd, 1, "A2", "2019-03-01", "1", "C1", "0.01");
    ADD(p, bd, 1, "A3", NULL, "2", "C1", "1000");
    ADD(p, bd, 1, "A4", "2021-01-01", "3", "C1", "77.7"); /* neither demand nor time */
    ADD(p, bd, 1, "A5", "2022-01-01", "1", "C1", NULL);   /* counted, adds nothing */
    ADD(p, bd, 1, "A6", "2022-01-01", NULL, "C1", "9");   /* no type: only counted */
    ADD(p, bd, 4, "A7", "1969-12-31", "2", "C4", "-0.5");
    ADD(p, bd, 5000, "A8", "2020-02-29", "1", "C9", "12.3"); /* beyond the first 1024 gids */
    ADD(p, bd, 5000, "A9", "2020-02-29", "2", "C9", "0.07");

    static const char *const loan[] = {"loan_no", "five_class", "balance", "overdue_days",
                                       "contract_amt"};
    tb__profile_binding *bl = bind(p, "loan", loan, 5);
    ADD(p, bl, 1, "L1", "2", "10", "30", "100");
    ADD(p, bl, 1, "L2", "4", "20.5", "0", "200");
    ADD(p, bl, 1, "L3", "1", NULL, "90", NULL);
    ADD(p, bl, 2, "L4", NULL, "1", NULL, "1");

    static const char *const txn[] = {"txn_id", "txn_time", "amount", "direction"};
    tb__profile_binding *bt = bind(p, "transaction", txn, 4);
    ADD(p, bt, 1, "T1", "2026-11-20 10:00:00", "100.00", "C");
    ADD(p, bt, 1, "T2", "2026-11-21 23:59:59", "30.5", "D");
    ADD(p, bt, 1, "T3", "2026-01-01 00:00:00", "0.25", "C");
    ADD(p, bt, 1, "T4", NULL, "7", "X");
    ADD(p, bt, 1, "T5", "2026-01-01 00:00:00", "1", "c"); /* filters are exact */

    static const char *const hh[] = {"relation", "household_id"};
    tb__profile_binding *bh = bind(p, "household", hh, 2);
    ADD(p, bh, 1, "head", "H1");
    ADD(p, bh, 1, "spouse", "H2");
    ADD(p, bh, 2, "child", "H1");
    ADD(p, bh, 3, "head", NULL); /* NULL leaves the earlier code (none here) */

    static const char *const court[] = {"case_no", "exec_amount", "enforce_type"};
    tb__profile_binding *bc = bind(p, "court_enforcement", court, 3);
    ADD(p, bc, 1, "K1", "10", "01");
    ADD(p, bc, 2, "K2", "20", "02");
    ADD(p, bc, 2, "K3", NULL, "01");
    ADD(p, bc, 3, "K4", "1", "2"); /* not "02" */

    static const char *const ms[] = {"card_propensity", "loan_propensity", "fund_propensity",
                                     "churn_score"};
    tb__profile_binding *bm = bind(p, "model_score", ms, 4);
    ADD(p, bm, 1, "0.1", "0.0001", "1", "0.1234");
    ADD(p, bm, 1, "0.05", NULL, "0.9999", "0.5");
    {
        /* a row whose every field is NULL gives nothing to any attribute */
        tb__field f[4];
        static const char *const none[4] = {NULL, NULL, NULL, NULL};
        mk(f, 4, none);
        assert_int_equal(tb__profile_add(p, bm, 2, f, 4), 0);
    }

    static const char *const fund[] = {"fund_code", "market_value"};
    tb__profile_binding *bf = bind(p, "fund", fund, 2);
    ADD(p, bf, 3, "F1", "12.34");
    ADD(p, bf, 1, "F2", "1");

    emitted e = {.nrows = NROWS};
    assert_int_equal(tb__profile_emit(p, NROWS, put, &e), 0);
    assert_int_equal(e.ncols, tb__profile_nattrs());

    /* deposit: sums of two-decimal amounts by dep_type, count, earliest opening */
    assert_int_equal(i64(&e, "dep_demand_bal", 1), 10051);
    assert_int_equal(i64(&e, "dep_time_bal", 1), 100000);
    assert_int_equal(i64(&e, "dep_acct_count", 1), 6);
    assert_int_equal(i32(&e, "dep_first_open", 1), 17956);
    assert_int_equal(i64(&e, "dep_demand_bal", 4), INT64_MIN);
    assert_int_equal(i64(&e, "dep_time_bal", 4), -50);
    assert_int_equal(i32(&e, "dep_first_open", 4), -1);
    assert_int_equal(i64(&e, "dep_demand_bal", 5000), 1230);
    assert_int_equal(i64(&e, "dep_time_bal", 5000), 7);
    assert_int_equal(i64(&e, "dep_acct_count", 5000), 2);
    assert_int_equal(i32(&e, "dep_first_open", 5000), 18321);

    /* loan: max of five_class and overdue_days, sums */
    assert_int_equal(i64(&e, "loan_worst_class", 1), 4);
    assert_int_equal(i64(&e, "loan_max_overdue_days", 1), 90);
    assert_int_equal(i64(&e, "loan_bal", 1), 3050);
    assert_int_equal(i64(&e, "loan_contract_amt", 1), 30000);
    assert_int_equal(i64(&e, "loan_count", 1), 3);
    assert_int_equal(i64(&e, "loan_worst_class", 2), INT64_MIN);
    assert_int_equal(i64(&e, "loan_max_overdue_days", 2), INT64_MIN);
    assert_int_equal(i64(&e, "loan_count", 2), 1);

    /* transaction: count, sums filtered by direction, latest time */
    assert_int_equal(i64(&e, "txn_count", 1), 5);
    assert_int_equal(i64(&e, "txn_in_amt", 1), 10025);
    assert_int_equal(i64(&e, "txn_out_amt", 1), 3050);
    assert_int_equal(i64(&e, "txn_last_time", 1), 1795276799);

    /* household: the last code */
    assert_string_equal(code(&e, "household_id", 1), "H2");
    assert_string_equal(code(&e, "household_relation", 1), "spouse");
    assert_string_equal(code(&e, "household_id", 2), "H1");
    assert_string_equal(code(&e, "household_relation", 2), "child");
    assert_null(code(&e, "household_id", 3));
    assert_string_equal(code(&e, "household_relation", 3), "head");
    assert_null(code(&e, "household_id", 0));

    /* court enforcement: the dishonest flag only with enforce_type=02 */
    assert_int_equal(i64(&e, "court_dishonest", 1), INT64_MIN);
    assert_int_equal(i64(&e, "court_dishonest", 2), 1);
    assert_int_equal(i64(&e, "court_dishonest", 3), INT64_MIN);
    assert_int_equal(i64(&e, "court_case_count", 2), 2);
    assert_int_equal(i64(&e, "court_exec_amt", 2), 2000);

    /* model scores: rates with four decimals, max */
    assert_int_equal(i64(&e, "churn_score", 1), 5000);
    assert_int_equal(i64(&e, "fund_propensity", 1), 10000);
    assert_int_equal(i64(&e, "loan_propensity", 1), 1);
    assert_int_equal(i64(&e, "card_propensity", 1), 1000);
    assert_int_equal(i64(&e, "churn_score", 2), INT64_MIN);

    /* AUM = deposits + wealth + funds + metals; NULL when every part is NULL */
    assert_int_equal(i64(&e, "aum", 1), 10051 + 100000 + 100);
    assert_int_equal(i64(&e, "aum", 3), 1234);
    assert_int_equal(i64(&e, "aum", 4), -50);
    assert_int_equal(i64(&e, "aum", 5000), 1237);
    assert_int_equal(i64(&e, "aum", 2), INT64_MIN);
    assert_int_equal(i64(&e, "aum", 0), INT64_MIN);

    /* Untouched cells, including gids past every gid seen, hold the NULL of their kind; a count
     * no row reached is NULL too, not 0. */
    for (size_t k = 0; k < e.ncols; k++) {
        const struct col *c = &e.col[k];
        for (uint32_t g = 5001; g < NROWS; g += 333) {
            switch (c->a->kind) {
            case TB__PK_DATE:
                assert_int_equal(((int32_t *)c->v)[g], INT32_MIN);
                break;
            case TB__PK_CODE:
                assert_int_equal(((uint32_t *)c->v)[g], 0);
                break;
            default:
                assert_int_equal(((int64_t *)c->v)[g], INT64_MIN);
            }
        }
        if (c->a->kind == TB__PK_DATE)
            assert_int_equal(((int32_t *)c->v)[NROWS - 1], INT32_MIN);
        else if (c->a->kind == TB__PK_CODE)
            assert_int_equal(((uint32_t *)c->v)[NROWS - 1], 0);
        else
            assert_int_equal(((int64_t *)c->v)[NROWS - 1], INT64_MIN);
    }
    emitted_free(&e);
    tb__profile_free(p);
}

static void emit_empty(void **state)
{
    (void)state;
    tb__profile *p = NULL;
    assert_int_equal(tb__profile_create(&p), 0);
    emitted e = {.nrows = 0};
    assert_int_equal(tb__profile_emit(p, 0, put, &e), 0);
    assert_int_equal(e.ncols, tb__profile_nattrs());
    emitted_free(&e);
    tb__profile_free(p);
}

static void bind_errors(void **state)
{
    (void)state;
    tb__profile *p = NULL;
    assert_int_equal(tb__profile_create(&p), 0);
    tb__errbuf eb = {0};
    tb__profile_binding *b = (tb__profile_binding *)1;

    static const char *const no_balance[] = {"acct_no", "dep_type", "open_date"};
    assert_int_equal(tb__profile_bind(p, "deposit", no_balance, 3, &b, &eb), TB_EFORMAT);
    assert_null(b);
    assert_non_null(strstr(eb.msg, "'balance'"));
    assert_non_null(strstr(eb.msg, "'deposit'"));

    /* a missing filter field is named, also for an attribute that reads no field itself */
    static const char *const no_type[] = {"case_no", "exec_amount"};
    b = (tb__profile_binding *)1;
    assert_int_equal(tb__profile_bind(p, "court_enforcement", no_type, 2, &b, &eb), TB_EFORMAT);
    assert_null(b);
    assert_non_null(strstr(eb.msg, "'enforce_type'"));
    static const char *const no_dir[] = {"txn_id", "amount", "txn_time"};
    assert_int_equal(tb__profile_bind(p, "transaction", no_dir, 3, &b, &eb), TB_EFORMAT);
    assert_non_null(strstr(eb.msg, "'direction'"));

    /* a type no attribute reads binds to nothing */
    static const char *const any[] = {"x"};
    b = (tb__profile_binding *)1;
    assert_int_equal(tb__profile_bind(p, "customer", any, 1, &b, &eb), 0);
    assert_null(b);
    tb__profile_free(p);
}

static void sums_saturate(void **state)
{
    (void)state;
    tb__profile *p = NULL;
    assert_int_equal(tb__profile_create(&p), 0);
    static const char *const fund[] = {"fund_code", "market_value"};
    tb__profile_binding *b = bind(p, "fund", fund, 2);
    for (int i = 0; i < 20; i++) {
        ADD(p, b, 0, "F", "9999999999999999.99");
        ADD(p, b, 1, "F", "-9999999999999999.99");
    }
    emitted e = {.nrows = 2};
    assert_int_equal(tb__profile_emit(p, 2, put, &e), 0);
    assert_int_equal(i64(&e, "fund_mv", 0), INT64_MAX);
    assert_int_equal(i64(&e, "fund_mv", 1), INT64_MIN + 1); /* not NULL */
    assert_int_equal(i64(&e, "fund_count", 0), 20);
    emitted_free(&e);

    /* the largest gid a profile can index is an error, not a hang */
    tb__field f[2];
    static const char *const v[] = {"F", "1"};
    mk(f, 2, v);
    assert_true(tb__profile_add(p, b, UINT32_MAX, f, 2) < 0);
    tb__profile_free(p);
}

static void attr_table(void **state)
{
    (void)state;
    size_t n = tb__profile_nattrs();
    assert_true(n > 0);
    assert_null(tb__profile_attr(n));
    assert_null(tb__profile_attr_op(n));
    for (size_t i = 0; i < n; i++) {
        const tb__pattr_info *a = tb__profile_attr(i);
        assert_non_null(a);
        assert_non_null(tb__profile_attr_op(i));
        for (size_t k = 0; k < i; k++)
            assert_string_not_equal(tb__profile_attr(k)->name, a->name);
    }
}

/* Allocation by customer type and the attribute set of each sub-domain. */
static void subdomains(void **state)
{
    (void)state;
    assert_int_equal(tb__profile_subdomain_of("1", 0), TB__SD_RETAIL);
    assert_int_equal(tb__profile_subdomain_of("2", 1), TB__SD_CORPORATE);
    assert_int_equal(tb__profile_subdomain_of("3", 1), TB__SD_MERCHANT);
    assert_int_equal(tb__profile_subdomain_of(NULL, 0), TB__SD_RETAIL); /* card-only person */
    assert_int_equal(tb__profile_subdomain_of(NULL, 1), TB__SD_CORPORATE);
    assert_int_equal(tb__profile_subdomain_of("9", 0), 0);
    assert_int_equal(tb__profile_subdomains("payroll", "monthly_salary"), TB__SD_RETAIL);
    assert_int_equal(tb__profile_subdomains("business_registration", "reg_status"),
                     TB__SD_CORPORATE | TB__SD_MERCHANT);
    assert_int_equal(tb__profile_subdomains("deposit", "balance"), TB__SD_ALL);
    assert_int_equal(tb__profile_subdomains("golden", "birth_date"), TB__SD_RETAIL);
    char out[64];
    tb__profile_subdomains_json(TB__SD_CORPORATE | TB__SD_MERCHANT, out, sizeof out);
    assert_string_equal(out, "[\"corporate\",\"merchant\"]");
    tb__profile_subdomains_json(0, out, sizeof out);
    assert_string_equal(out, "[]");
    tb__profile_subdomains_json(TB__SD_ALL, out, 8); /* too small: still valid JSON */
    assert_string_equal(out, "[]");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(subdomains),    cmocka_unit_test(collect_and_emit),
        cmocka_unit_test(emit_empty),    cmocka_unit_test(bind_errors),
        cmocka_unit_test(sums_saturate), cmocka_unit_test(attr_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
