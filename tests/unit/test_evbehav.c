/* test_evbehav.c — behaviour in segment expressions (src/events/evbehav.c, the did()/event() parts
 * of src/segments/expr*.c and eval.c): text and JSON forms round-trip, parse errors, and counts of
 * expressions that combine behaviour with tags, from the fused evaluator over a real tag store and
 * from the row oracle, against a brute force over the generated events. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "events/evbehav.h"
#include "events/evpart_int.h"
#include "events/evstore.h"
#include "segments/eval.h"
#include "segments/expr.h"
#include "tags/tagstore.h"
#include "helpers.h"

#define NP   300 /* persons */
#define NG   200 /* customers (gids) */
#define NEV  1500
#define DAYS 6

static uint32_t g_gid[NP];
static int32_t g_day[NEV];
static int g_e[NEV];
static uint32_t g_p[NEV];
static int g_vip[NG];
static int32_t g_asof;
static tb__arena g_a;

static uint64_t rnd(uint64_t *s)
{
    *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
    return *s >> 33;
}

static const char *names[4] = {"login", "apply", "granted", "view"};

/* events of persons over DAYS days; persons 0..NG-1 are customers' roots, the rest either link
 * to a customer (root = p % NG) or stay anonymous; a tag store with one boolean tag "vip". */
static void setup_data(const char *dir)
{
    uint64_t s = 99;
    tb__errbuf eb;
    uint32_t root[NP], gid[NP];
    for (uint32_t p = 0; p < NP; p++) {
        root[p] = p < NG ? p : p % 3 ? p % NG : p;
        gid[p] = p < NG ? p : p % 3 ? p % NG : TB__EV_NO_GID;
        g_gid[p] = gid[p];
    }
    assert_int_equal(tb__evpersons_write(dir, root, gid, NP, &eb), 0);
    int32_t d0;
    assert_int_equal(tb__ev_parse_day("2026-11-15", &d0), 0);
    g_asof = d0 + DAYS - 1;
    static tb__evrow rows[NEV];
    for (int i = 0; i < NEV; i++) {
        g_p[i] = (uint32_t)(rnd(&s) % NP);
        g_e[i] = (int)(rnd(&s) % 4);
        int64_t ts = tb__ev_day_start(d0) + (int64_t)(rnd(&s) % ((uint64_t)DAYS * 86400000));
        g_day[i] = tb__ev_day(ts);
        rows[i] = (tb__evrow){g_p[i], ts, names[g_e[i]], NULL, 0};
    }
    assert_int_equal(tb__evpart_append(dir, NULL, rows, NEV, &eb), 0);

    char tdir[4096];
    snprintf(tdir, sizeof tdir, "%s/tags", dir);
    tb__tagw *w;
    assert_int_equal(tb__tagw_open(tdir, NG, &w, &eb), 0);
    tb__bm_builder *live, *bm[2];
    tb__bm_builder_create(NG, &live);
    tb__bm_builder_create(NG, &bm[0]);
    tb__bm_builder_create(NG, &bm[1]);
    for (uint32_t g = 0; g < NG; g++) {
        tb__bm_set(live, g);
        g_vip[g] = rnd(&s) % 3 == 0;
        tb__bm_set(bm[g_vip[g] ? 0 : 1], g);
    }
    assert_int_equal(tb__tagw_put_universe(w, live, &eb), 0);
    tb__tag_meta m = {"vip", "vip", "vip", TB__TT_RULE, TB__TV_BOOL, 0, 1, "C1", 2, NULL};
    const char *vals[2] = {"true", "false"};
    assert_int_equal(tb__tagw_put_values(w, &m, vals, bm, 2, &eb), 0);
    assert_int_equal(tb__tagw_commit(w, NULL, NULL, &eb), 0);
    tb__bm_builder_free(live);
    tb__bm_builder_free(bm[0]);
    tb__bm_builder_free(bm[1]);
}

/* Brute force: the number of events `name` of customer g within the last `days` (0: all). */
static int brute_count(uint32_t g, const char *name, int64_t days)
{
    int n = 0;
    for (int i = 0; i < NEV; i++) {
        if (g_gid[g_p[i]] != g || strcmp(names[g_e[i]], name) != 0) continue;
        if (g_day[i] > g_asof || (days && g_day[i] < g_asof - days + 1)) continue;
        n++;
    }
    return n;
}

typedef struct res {
    const char *dir;
    char *bufs[32];
    tb__bmv views[32];
    int n;
} res;

/* The resolver cseg.c installs, reduced to behaviour: "\x01" + canonical predicate text. */
static int resolve(const char *name, void *ctx, const tb__bmv **out, tb__errbuf *eb)
{
    res *r = ctx;
    if (name[0] != '\x01') return tb__seterr(eb, TB_ENOENT, "no segment '%s'", name);
    tb__expr *e;
    tb__expr_error err;
    assert_int_equal(tb__expr_parse(name + 1, strlen(name + 1), TB__EXPR_SEGMENT, &g_a, &e, &err),
                     0);
    tb__bm_builder *b;
    int rc = tb__ev_behaviour(r->dir, NULL, e, g_asof, NG, &b, eb);
    if (rc) return rc;
    tb__buf buf = TB__BUF_INIT;
    assert_int_equal(tb__bm_serialize(b, &buf), 0);
    tb__bm_builder_free(b);
    assert_true(r->n < 32);
    r->bufs[r->n] = buf.data;
    assert_int_equal(tb__bm_parse_safe(buf.data, buf.len, 1, &r->views[r->n], NULL, eb), 0);
    *out = &r->views[r->n++];
    return 0;
}

/* Row oracle env: the row is a gid. */
static int row_get(const tb__expr *id, void *ctx, tb__xval *out)
{
    uint32_t g = *(uint32_t *)ctx;
    assert_string_equal(id->text, "vip");
    out->type = TB__XV_BOOL;
    out->i = g_vip[g];
    return 0;
}

static int row_call(const tb__expr *call, void *ctx)
{
    uint32_t g = *(uint32_t *)ctx;
    int64_t days = call->nkid == 2 ? call->kid[1]->kid[0]->ival : 0;
    return brute_count(g, call->kid[0]->text, days);
}

static void test_forms(void **state)
{
    (void)state;
    tb__arena a;
    tb__arena_init(&a, 0);
    const char *ok[][2] = {
        {"did('credit_apply') and not did('credit_granted', last 7 days)",
         "did('credit_apply') and not did('credit_granted', last 7 days)"},
        {"EVENT('login', LAST 30 DAYS) >= 3 and vip", "event('login', last 30 days) >= 3 and vip"},
        {"did('x', last 1 day)", "did('x', last 1 days)"},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        tb__expr *e, *e2, *e3;
        tb__expr_error err;
        assert_int_equal(tb__expr_parse(ok[i][0], strlen(ok[i][0]), TB__EXPR_SEGMENT, &a, &e, &err),
                         0);
        tb__buf t = TB__BUF_INIT;
        assert_int_equal(tb__expr_to_text(e, &t), 0);
        assert_string_equal(t.data, ok[i][1]);
        assert_int_equal(tb__expr_parse(t.data, t.len, TB__EXPR_SEGMENT, &a, &e2, &err), 0);
        assert_true(tb__expr_equal(e, e2));
        json_t *j = tb__expr_to_json(e);
        assert_non_null(j);
        assert_int_equal(tb__expr_parse_json(j, &a, &e3, &err), 0);
        assert_true(tb__expr_equal(e, e3));
        json_decref(j);
        tb__buf_release(&t);
    }
    json_t *j = json_loads("{\"event\":\"login\",\"last_days\":30,\"ge\":3}", 0, NULL);
    tb__expr *e;
    tb__expr_error err;
    assert_int_equal(tb__expr_parse_json(j, &a, &e, &err), 0);
    json_decref(j);
    tb__buf t = TB__BUF_INIT;
    tb__expr_to_text(e, &t);
    assert_string_equal(t.data, "event('login', last 30 days) >= 3");
    tb__buf_release(&t);
    const char *bad[] = {"event('login')",        "did(login)",        "did('x', last 0 days)",
                         "did('x', 7)",           "event('x') >= 'a'", "event('x') >= 1.5",
                         "did('x', last 3 weeks)"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(tb__expr_parse(bad[i], strlen(bad[i]), TB__EXPR_SEGMENT, &a, &e, &err),
                         TB_EFORMAT);
    /* rule mode does not know them */
    assert_int_equal(tb__expr_parse("did('x')", 8, TB__EXPR_RULE, &a, &e, &err), TB_EFORMAT);
    tb__arena_release(&a);
}

static void test_counts_brute(void **state)
{
    const char *dir = *state;
    setup_data(dir);
    tb__arena_init(&g_a, 0);
    char tdir[4096];
    snprintf(tdir, sizeof tdir, "%s/tags", dir);
    tb__tagset *ts;
    tb__errbuf eb;
    assert_int_equal(tb__tagset_open(tdir, &ts, &eb), 0);
    const char *exprs[] = {
        "did('login')",
        "did('apply', last 2 days)",
        "event('login', last 3 days) >= 3",
        "did('apply') and not did('granted', last 1 days)",
        "vip and event('view') < 2",
        "vip or did('granted', last 2 days)",
        "event('apply') = 0",
        "not event('login', last 6 days) > 4 and not vip",
    };
    res r = {.dir = dir};
    for (size_t i = 0; i < sizeof exprs / sizeof exprs[0]; i++) {
        tb__expr *e;
        tb__expr_error err;
        assert_int_equal(
            tb__expr_parse(exprs[i], strlen(exprs[i]), TB__EXPR_SEGMENT, &g_a, &e, &err), 0);
        tb__query *q;
        int rc =
            tb__query_compile(ts, NULL, e, exprs[i], strlen(exprs[i]), resolve, &r, &g_a, &q, &err);
        if (rc) fprintf(stderr, "%s: %s\n", exprs[i], err.text);
        assert_int_equal(rc, 0);
        uint64_t n;
        assert_int_equal(tb__query_count(q, 2, &n), 0);
        uint64_t oracle = 0;
        for (uint32_t g = 0; g < NG; g++) {
            tb__expr_env env = {row_get, row_call, &g, g_asof, 28800};
            int t = tb__expr_test(e, &env, &eb);
            assert_true(t >= 0);
            oracle += (uint64_t)t;
        }
        if (n != oracle)
            fprintf(stderr, "%s: evaluator %llu, oracle %llu\n", exprs[i], (unsigned long long)n,
                    (unsigned long long)oracle);
        assert_int_equal(n, oracle);
        assert_true(oracle > 0 && oracle < NG);
    }
    for (int i = 0; i < r.n; i++)
        free(r.bufs[i]);
    tb__tagset_close(ts);
    tb__arena_release(&g_a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_forms),
        cmocka_unit_test_setup_teardown(test_counts_brute, tbt_setup_tmpdir, tbt_teardown_tmpdir),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
