/* test_gen.c — tests src/gen: determinism of the synthetic bank, option validation, refusal to
 * overwrite a batch, and that the check digits it writes are valid. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "tagbase.h"

static const char *const files[] = {"customers.txt",    "cards.txt",    "deposits.txt",
                                    "transactions.txt", "events.jsonl", "truth.txt",
                                    "defects.tsv",      "manifest.json"};

static char *slurp(const char *dir, const char *name, size_t *len)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *p = malloc((size_t)n + 1);
    if (p && fread(p, 1, (size_t)n, f) != (size_t)n) {
        free(p);
        p = NULL;
    }
    fclose(f);
    if (p) p[n] = '\0';
    *len = (size_t)n;
    return p;
}

static void make_tmp(char *dir, size_t cap)
{
    snprintf(dir, cap, "/tmp/tb-test-gen-XXXXXX");
    assert_non_null(mkdtemp(dir));
}

static void remove_tree(const char *dir)
{
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

static void run(const char *dir, uint64_t seed, int threads, tb_gen_format fmt)
{
    tb_gen_opts o = {.customers = 25000, /* 13 chunks: 3 threads reuse their 6 slots */
                     .seed = seed,
                     .batch_date = 20261121,
                     .dirty = 0.02,
                     .format = fmt,
                     .out_dir = dir,
                     .threads = threads};
    tb_gen *g = NULL;
    char err[256];
    assert_int_equal(tb_gen_create(&o, &g, err, sizeof err), 0);
    int rc = tb_gen_run(g);
    if (rc) fprintf(stderr, "%s\n", tb_gen_errmsg(g));
    assert_int_equal(rc, 0);
    tb_gen_free(g);
}

static int same_file(const char *a, const char *b, const char *name)
{
    size_t la, lb;
    char *pa = slurp(a, name, &la), *pb = slurp(b, name, &lb);
    assert_non_null(pa);
    assert_non_null(pb);
    int same = la == lb && memcmp(pa, pb, la) == 0;
    free(pa);
    free(pb);
    return same;
}

static void deterministic(void **state)
{
    (void)state;
    char a[64], b[64], c[64];
    make_tmp(a, sizeof a);
    make_tmp(b, sizeof b);
    make_tmp(c, sizeof c);
    run(a, 5, 1, TB_GEN_HIVE);
    run(b, 5, 3, TB_GEN_HIVE); /* a different thread count must not change a byte */
    run(c, 6, 1, TB_GEN_HIVE);
    for (size_t k = 0; k < sizeof files / sizeof files[0]; k++) {
        assert_true(same_file(a, b, files[k]));
        if (strcmp(files[k], "defects.tsv") != 0) assert_false(same_file(a, c, files[k]));
    }
    remove_tree(a);
    remove_tree(b);
    remove_tree(c);
}

/* The customer master of a clean bank: every ID / credit code passes the library validators. */
static void valid_identities(void **state)
{
    (void)state;
    char d[64];
    make_tmp(d, sizeof d);
    tb_gen_opts o = {.customers = 2000, .seed = 9, .batch_date = 20261121, .out_dir = d};
    tb_gen *g = NULL;
    assert_int_equal(tb_gen_create(&o, &g, NULL, 0), 0);
    assert_int_equal(tb_gen_run(g), 0);
    tb_gen_free(g);
    size_t len;
    char *p = slurp(d, "customers.txt", &len);
    assert_non_null(p);
    size_t rows = 0, persons = 0, companies = 0;
    for (char *line = p; *line;) {
        char *nl = strchr(line, '\n');
        assert_non_null(nl);
        char *f[32];
        int n = 0;
        f[n++] = line;
        for (char *q = line; q < nl; q++)
            if (*q == '\x01') {
                *q = '\0';
                f[n++] = q + 1;
            }
        *nl = '\0';
        assert_int_equal(n, 19);
        if (strcmp(f[3], "101") == 0) {
            assert_true(tb_valid_resident_id(f[4], strlen(f[4])));
            persons++;
        } else {
            assert_true(tb_valid_uscc(f[4], strlen(f[4])));
            companies++;
        }
        assert_true(tb_valid_mobile(f[7], strlen(f[7])));
        rows++;
        line = nl + 1;
    }
    assert_true(rows >= 2000);
    assert_true(persons > 1700 && companies > 100);
    free(p);
    remove_tree(d);
}

static void expect_einval(tb_gen_opts o, const char *word)
{
    tb_gen *g = (tb_gen *)&o; /* must be reset to NULL */
    char err[256] = "";
    assert_int_equal(tb_gen_create(&o, &g, err, sizeof err), TB_EINVAL);
    assert_null(g);
    assert_non_null(strstr(err, word));
}

static void option_errors(void **state)
{
    (void)state;
    tb_gen_opts ok = {.customers = 10, .seed = 1, .batch_date = 20261121, .out_dir = "/tmp/x"};
    tb_gen_opts o = ok;
    o.customers = 0;
    expect_einval(o, "customers");
    o = ok;
    o.customers = 100000001;
    expect_einval(o, "customers");
    o = ok;
    o.batch_date = 20230229;
    expect_einval(o, "date");
    o = ok;
    o.batch_date = 19991231;
    expect_einval(o, "date");
    o = ok;
    o.dirty = 0.51;
    expect_einval(o, "dirty");
    o = ok;
    o.dirty = NAN;
    expect_einval(o, "dirty");
    o = ok;
    o.out_dir = NULL;
    expect_einval(o, "out");
    o = ok;
    static char long_dir[4100];
    memset(long_dir, 'd', sizeof long_dir - 1);
    o.out_dir = long_dir; /* would not fit the path buffers: refused, never truncated */
    expect_einval(o, "at most 4000 bytes");
    o = ok;
    o.threads = 65;
    expect_einval(o, "threads");
    o = ok;
    o.seed = 1ULL << 53;
    expect_einval(o, "seed");
    o = ok;
    o.format = (tb_gen_format)7;
    expect_einval(o, "format");
    tb_gen *g = (tb_gen *)&o;
    assert_int_equal(tb_gen_create(NULL, &g, NULL, 0), TB_EINVAL);
    assert_null(g);
}

static void refuses_existing_batch(void **state)
{
    (void)state;
    char d[64];
    make_tmp(d, sizeof d);
    tb_gen_opts o = {.customers = 5, .seed = 1, .batch_date = 20261121, .out_dir = d};
    tb_gen *g = NULL;
    assert_int_equal(tb_gen_create(&o, &g, NULL, 0), 0);
    assert_int_equal(tb_gen_run(g), 0);
    tb_gen_free(g);
    assert_int_equal(tb_gen_create(&o, &g, NULL, 0), 0);
    assert_int_equal(tb_gen_run(g), TB_EEXIST);
    assert_non_null(strstr(tb_gen_errmsg(g), "manifest.json"));
    tb_gen_free(g);
    tb_gen_free(NULL);
    remove_tree(d);
}

static void csv_bom_and_header(void **state)
{
    (void)state;
    char d[64];
    make_tmp(d, sizeof d);
    run(d, 3, 2, TB_GEN_CSV);
    size_t len;
    char *p = slurp(d, "customers.csv", &len);
    assert_non_null(p);
    assert_memory_equal(p,
                        "\xEF\xBB\xBF"
                        "cust_no,cust_type,",
                        21);
    free(p);
    p = slurp(d, "cards.csv", &len); /* GB18030: no BOM */
    assert_non_null(p);
    assert_memory_equal(p, "card_no,", 8);
    free(p);
    remove_tree(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(deterministic),      cmocka_unit_test(valid_identities),
        cmocka_unit_test(option_errors),      cmocka_unit_test(refuses_existing_batch),
        cmocka_unit_test(csv_bom_and_header),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
