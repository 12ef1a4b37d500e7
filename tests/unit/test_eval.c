/* test_eval.c — the segment evaluator (src/segments/eval.c) against a naive evaluation: a tag store
 * with every value type, NULLs, dead customers, sparse, dense and full chunks is written with the
 * real writer; thousands of random expressions are counted by the fused bitmap evaluator (one and
 * two threads, and as a materialised bitmap) and by the row evaluator of expr.h over the raw
 * values, customer by customer. They must agree exactly. Plus binding errors and as-of. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/rng.h"
#include "helpers.h"
#include "segments/eval.h"
#include "tags/tagstore.h"

#define N     70000u /* two chunks, the last one partial */
#define NBOOL 5      /* b0 b1 b2 (random), bs (sparse), bf (full) */

typedef struct raw {
    int8_t b[NBOOL][N]; /* -1 NULL */
    int8_t e[N];        /* enum index 0..3, -1 NULL */
    int64_t i[N];       /* int */
    int64_t d[N];       /* decimal, cents */
    int64_t t[N];       /* date, days */
    uint8_t inull[N], dnull[N], tnull[N];
    uint8_t live[N];
} raw;

static const char *const bnames[NBOOL] = {"b0", "b1", "b2", "bs", "bf"};
static const char *const evals[4] = {"a", "b", "c", "d"};

static uint64_t seed = 12345;
static uint64_t rnd(void)
{
    seed ^= seed << 13;
    seed ^= seed >> 7;
    seed ^= seed << 17;
    return seed;
}

typedef struct fixture {
    char *dir;
    raw *r;
    tb__tagset *ts;
} fixture;

static void write_store(const char *dir, raw *r)
{
    tb__errbuf eb;
    tb__tagw *w;
    assert_int_equal(tb__tagw_open(dir, N, &w, &eb), 0);
    tb__bm_builder *live;
    tb__bm_builder_create(N, &live);
    for (uint32_t g = 0; g < N; g++) {
        r->live[g] = g % 17 != 5;
        if (r->live[g]) tb__bm_set(live, g);
    }
    assert_int_equal(tb__tagw_put_universe(w, live, &eb), 0);
    tb__bm_builder_free(live);
    for (int k = 0; k < NBOOL; k++) {
        tb__bm_builder *bm[2];
        tb__bm_builder_create(N, &bm[0]);
        tb__bm_builder_create(N, &bm[1]);
        for (uint32_t g = 0; g < N; g++) {
            int v;
            if (!r->live[g])
                v = -1;
            else if (k == 3)
                v = rnd() % 500 == 0 ? 1 : rnd() % 7 == 0 ? -1 : 0; /* sparse */
            else if (k == 4)
                v = 1; /* full */
            else
                v = rnd() % 10 < 2 ? -1 : (int)(rnd() % 100 < (uint64_t)(20 + 25 * k));
            r->b[k][g] = (int8_t)v;
            if (v >= 0) tb__bm_set(bm[v ? 0 : 1], g);
        }
        tb__tag_meta m = {bnames[k], bnames[k], bnames[k], TB__TT_RULE, TB__TV_BOOL,
                          0,         1,         "C1",      2,           NULL};
        const char *vals[2] = {"true", "false"};
        assert_int_equal(tb__tagw_put_values(w, &m, vals, bm, 2, &eb), 0);
        tb__bm_builder_free(bm[0]);
        tb__bm_builder_free(bm[1]);
    }
    tb__bm_builder *eb4[4];
    for (int v = 0; v < 4; v++)
        tb__bm_builder_create(N, &eb4[v]);
    tb__bsi_builder *bi, *bd, *bt;
    tb__bsi_builder_create(N, &bi);
    tb__bsi_builder_create(N, &bd);
    tb__bsi_builder_create(N, &bt);
    for (uint32_t g = 0; g < N; g++) {
        r->e[g] = r->live[g] && rnd() % 8 ? (int8_t)(rnd() % 4) : -1;
        if (r->e[g] >= 0) tb__bm_set(eb4[r->e[g]], g);
        r->inull[g] = !r->live[g] || rnd() % 9 == 0;
        r->i[g] = (int64_t)(rnd() % 101) - 50;
        if (!r->inull[g]) tb__bsi_put(bi, g, r->i[g]);
        r->dnull[g] = !r->live[g] || rnd() % 6 == 0;
        r->d[g] = (int64_t)(rnd() % 200001) - 100000;
        if (!r->dnull[g]) tb__bsi_put(bd, g, r->d[g]);
        r->tnull[g] = !r->live[g] || rnd() % 5 == 0;
        r->t[g] = 20000 + (int64_t)(rnd() % 400);
        if (!r->tnull[g]) tb__bsi_put(bt, g, r->t[g]);
    }
    tb__tag_meta me = {"e1", "等级", "level", TB__TT_RULE, TB__TV_ENUM, 0, 1, "C1", 2, NULL};
    assert_int_equal(tb__tagw_put_values(w, &me, evals, eb4, 4, &eb), 0);
    tb__tag_meta mi = {"i1", "整数", "int", TB__TT_RULE, TB__TV_INT, 0, 1, "C1", 2, NULL};
    tb__tag_meta md = {"d1", "金额", "amount", TB__TT_RULE, TB__TV_DECIMAL, 2, 1, "C2", 3, NULL};
    tb__tag_meta mt = {"dt", "日期", "date", TB__TT_RULE, TB__TV_DATE, 0, 1, "C1", 2, NULL};
    assert_int_equal(tb__tagw_put_bsi(w, &mi, bi, &eb), 0);
    assert_int_equal(tb__tagw_put_bsi(w, &md, bd, &eb), 0);
    assert_int_equal(tb__tagw_put_bsi(w, &mt, bt, &eb), 0);
    for (int v = 0; v < 4; v++)
        tb__bm_builder_free(eb4[v]);
    tb__bsi_builder_free(bi);
    tb__bsi_builder_free(bd);
    tb__bsi_builder_free(bt);
    assert_int_equal(tb__tagw_commit(w, NULL, NULL, &eb), 0);
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    void *d;
    if (tbt_setup_tmpdir(&d)) return -1;
    f->dir = d;
    f->r = calloc(1, sizeof *f->r);
    char *path = tbt_join(f->dir, "tags");
    write_store(path, f->r);
    tb__errbuf eb;
    assert_int_equal(tb__tagset_open(path, &f->ts, &eb), 0);
    free(path);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    tb__tagset_close(f->ts);
    free(f->r);
    void *d = f->dir;
    tbt_teardown_tmpdir(&d);
    free(f);
    return 0;
}

/* ---- the naive side --------------------------------------------------------------------------*/

typedef struct row {
    const raw *r;
    uint32_t g;
} row;

static int get(const tb__expr *id, void *ctx, tb__xval *out)
{
    const row *x = ctx;
    const raw *r = x->r;
    uint32_t g = x->g;
    memset(out, 0, sizeof *out);
    const char *n = id->text;
    for (int k = 0; k < NBOOL; k++)
        if (strcmp(n, bnames[k]) == 0) {
            if (r->b[k][g] >= 0) out->type = TB__XV_BOOL, out->i = r->b[k][g];
            return 0;
        }
    if (strcmp(n, "e1") == 0 || strcmp(n, "等级") == 0) {
        if (r->e[g] >= 0) out->type = TB__XV_STR, out->s = evals[r->e[g]], out->slen = 1;
    } else if (strcmp(n, "i1") == 0) {
        if (!r->inull[g]) out->type = TB__XV_INT, out->i = r->i[g];
    } else if (strcmp(n, "d1") == 0) {
        if (!r->dnull[g]) out->type = TB__XV_NUM, out->d = (double)r->d[g] / 100.0;
    } else if (strcmp(n, "dt") == 0) {
        if (!r->tnull[g]) out->type = TB__XV_DATE, out->i = r->t[g];
    } else
        return TB_ENOENT;
    return 0;
}

static uint64_t naive(const raw *r, const tb__expr *e, uint8_t *member)
{
    row x = {r, 0};
    tb__expr_env env = {get, NULL, &x, 20200, 28800};
    tb__errbuf eb;
    uint64_t n = 0;
    for (uint32_t g = 0; g < N; g++) {
        if (!r->live[g]) {
            if (member) member[g] = 0;
            continue;
        }
        x.g = g;
        int t = tb__expr_test(e, &env, &eb);
        assert_true(t >= 0);
        if (member) member[g] = (uint8_t)t;
        n += (uint64_t)t;
    }
    return n;
}

/* ---- random expressions ----------------------------------------------------------------------*/

static void date_text(int64_t days, char *out)
{
    /* days 20000..20400 fall in 2024-2025 */
    int64_t z = days + 719468, era = z / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153, d = doy - (153 * mp + 2) / 5 + 1;
    unsigned m = mp < 10 ? mp + 3 : mp - 9;
    sprintf(out, "'%04d-%02u-%02u'", (int)(yoe + era * 400 + (m <= 2)), m, d);
}

static void atom(tb__buf *b)
{
    static const char *const cmp[] = {"=", "!=", "<", "<=", ">", ">="};
    char lit[32];
    switch (rnd() % 14) {
    case 0:
    case 1:
        tb__buf_puts(b, bnames[rnd() % NBOOL]);
        break;
    case 2:
        tb__buf_printf(b, "%s = %s", bnames[rnd() % NBOOL], rnd() % 2 ? "true" : "false");
        break;
    case 3:
        tb__buf_printf(b, "%s %s '%s'", rnd() % 3 ? "e1" : "\"等级\"",
                       rnd() % 2 ? "=" : "!=", evals[rnd() % 4]);
        break;
    case 4:
        tb__buf_printf(b, "e1 %sin ('%s', '%s')", rnd() % 2 ? "not " : "", evals[rnd() % 4],
                       evals[rnd() % 4]);
        break;
    case 5:
        tb__buf_printf(b, "i1 %s %d", cmp[rnd() % 6], (int)(rnd() % 121) - 60);
        break;
    case 6: {
        int lo = (int)(rnd() % 121) - 60, hi = lo + (int)(rnd() % 40) - 5;
        tb__buf_printf(b, "i1 %sbetween %d and %d", rnd() % 3 ? "" : "not ", lo, hi);
        break;
    }
    case 7:
        tb__buf_printf(b, "i1 %sin (%d, %d, %d)", rnd() % 3 ? "" : "not ", (int)(rnd() % 101) - 50,
                       (int)(rnd() % 101) - 50, (int)(rnd() % 101) - 50);
        break;
    case 8: /* decimals, sometimes finer than the tag's two places */
        tb__buf_printf(b, "d1 %s %.*f", cmp[rnd() % 6], rnd() % 2 ? 2 : 3,
                       (double)((int64_t)(rnd() % 200001) - 100000) / (rnd() % 2 ? 100.0 : 10.0));
        break;
    case 9:
        tb__buf_printf(b, "d1 between %.2f and %.2f", (double)((int)(rnd() % 1000) - 900),
                       (double)(rnd() % 1000));
        break;
    case 10:
        date_text(20000 + (int64_t)(rnd() % 420) - 10, lit);
        tb__buf_printf(b, "dt %s %s", cmp[rnd() % 6], lit);
        break;
    case 11: {
        char lo[32], hi[32];
        int64_t a = 20000 + (int64_t)(rnd() % 400);
        date_text(a, lo);
        date_text(a + (int64_t)(rnd() % 60), hi);
        tb__buf_printf(b, "dt between %s and %s", lo, hi);
        break;
    }
    case 12: {
        static const char *const any[] = {"b0", "b1", "bs", "e1", "i1", "d1", "dt"};
        tb__buf_printf(b, "%s is %snull", any[rnd() % 7], rnd() % 2 ? "not " : "");
        break;
    }
    default:
        tb__buf_printf(b, "bf = %s", rnd() % 2 ? "true" : "false");
        break;
    }
}

static void gen(tb__buf *b, int depth)
{
    if (depth == 0 || rnd() % 3 == 0) {
        if (rnd() % 4 == 0) tb__buf_puts(b, "not ");
        atom(b);
        return;
    }
    int n = 2 + (int)(rnd() % 3);
    int paren = rnd() % 2;
    if (rnd() % 5 == 0) tb__buf_puts(b, "not ");
    if (paren) tb__buf_putc(b, '(');
    const char *op = rnd() % 2 ? " and " : " or ";
    for (int i = 0; i < n; i++) {
        if (i) tb__buf_puts(b, rnd() % 4 ? op : (op[1] == 'a' ? " or " : " and "));
        if (rnd() % 2) {
            tb__buf_putc(b, '(');
            gen(b, depth - 1);
            tb__buf_putc(b, ')');
        } else
            gen(b, depth - 1);
    }
    if (paren) tb__buf_putc(b, ')');
}

static void random_expressions_agree_with_the_naive_evaluation(void **state)
{
    fixture *f = *state;
    uint8_t *m = malloc(N);
    int nexpr = 2000, checked = 0;
    for (int i = 0; i < nexpr; i++) {
        tb__buf b = TB__BUF_INIT;
        gen(&b, 3);
        tb__arena a;
        tb__arena_init(&a, 0);
        tb__expr *e;
        tb__expr_error err;
        int rc = tb__expr_parse(b.data, b.len, TB__EXPR_SEGMENT, &a, &e, &err);
        if (rc) fail_msg("parse '%s': %s", b.data, err.text);
        tb__query *q;
        rc = tb__query_compile(f->ts, NULL, e, b.data, b.len, NULL, NULL, &a, &q, &err);
        if (rc) fail_msg("compile '%s': %s", b.data, err.text);
        uint64_t c1, c2;
        assert_int_equal(tb__query_count(q, 1, &c1), 0);
        assert_int_equal(tb__query_count(q, 2, &c2), 0);
        uint64_t want = naive(f->r, e, i % 50 == 0 ? m : NULL);
        if (c1 != want || c2 != want)
            fail_msg("'%s': bitmaps %llu/%llu, naive %llu", b.data, (unsigned long long)c1,
                     (unsigned long long)c2, (unsigned long long)want);
        if (i % 50 == 0) { /* the members themselves, not just how many */
            tb__bm_builder *bm;
            assert_int_equal(tb__query_bitmap(q, 2, &bm), 0);
            tb__buf s = TB__BUF_INIT;
            assert_int_equal(tb__bm_serialize(bm, &s), 0);
            tb__bmv v;
            tb__errbuf eb;
            assert_int_equal(tb__bm_parse_safe(s.data, s.len, 1, &v, NULL, &eb), 0);
            for (uint32_t g = 0; g < N; g++)
                if (tb__bmv_contains(&v, g) != m[g]) fail_msg("'%s': member %u differs", b.data, g);
            tb__buf_release(&s);
            tb__bm_builder_free(bm);
        }
        checked++;
        tb__arena_release(&a);
        tb__buf_release(&b);
    }
    assert_int_equal(checked, nexpr);
    free(m);
}

/* A binding error names the character and suggests what was meant. */
static void expect_bind_error(const tb__tagset *ts, const char *src, const char *needle)
{
    tb__arena a;
    tb__arena_init(&a, 0);
    tb__expr *e;
    tb__expr_error err;
    assert_int_equal(tb__expr_parse(src, strlen(src), TB__EXPR_SEGMENT, &a, &e, &err), 0);
    tb__query *q;
    assert_int_equal(tb__query_compile(ts, NULL, e, src, strlen(src), NULL, NULL, &a, &q, &err),
                     TB_EFORMAT);
    if (!strstr(err.text, needle)) fail_msg("'%s': '%s' lacks '%s'", src, err.text, needle);
    assert_non_null(strchr(err.text, '^'));
    tb__arena_release(&a);
}

static void binding_errors_are_precise(void **state)
{
    fixture *f = *state;
    expect_bind_error(f->ts, "b0 and dtt > '2024-01-01'", "unknown tag 'dtt' (did you mean 'dt'?)");
    expect_bind_error(f->ts, "e1 = 'z'",
                      "'z' is not a value of tag 'e1' (values: 'a', 'b', 'c', 'd')");
    expect_bind_error(f->ts, "e1 > 'a'", "has values, not an order");
    expect_bind_error(f->ts, "i1", "is not boolean");
    expect_bind_error(f->ts, "dt > '2024-13-01'", "write dates as 'YYYY-MM-DD'");
    expect_bind_error(f->ts, "d1 > 'x'", "expected a number");
    expect_bind_error(f->ts, "segment('x')", "not available");
}

/* The tag store's own checks: a flipped byte is found by verify, a missing file at open. */
static void corruption_is_detected(void **state)
{
    fixture *f = *state;
    tb__errbuf eb;
    assert_int_equal(tb__tagset_verify(f->ts, &eb), 0);
    char *path = tbt_join(f->dir, "tags/i1.tag");
    FILE *fp = fopen(path, "r+b");
    assert_non_null(fp);
    fseek(fp, 200, SEEK_SET);
    int ch = fgetc(fp);
    fseek(fp, 200, SEEK_SET);
    fputc(ch ^ 0x5a, fp);
    fclose(fp);
    char *dir = tbt_join(f->dir, "tags");
    tb__tagset *ts;
    int rc = tb__tagset_open(dir, &ts, &eb);
    if (rc == 0) {
        assert_int_equal(tb__tagset_verify(ts, &eb), TB_ECORRUPT);
        assert_non_null(strstr(eb.msg, "i1.tag"));
        tb__tagset_close(ts);
    } else
        assert_int_equal(rc, TB_ECORRUPT);
    remove(path);
    assert_int_equal(tb__tagset_open(dir, &ts, &eb), TB_ECORRUPT);
    assert_non_null(strstr(eb.msg, "i1.tag"));
    free(path);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(random_expressions_agree_with_the_naive_evaluation),
        cmocka_unit_test(binding_errors_are_precise),
        cmocka_unit_test(corruption_is_detected),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
