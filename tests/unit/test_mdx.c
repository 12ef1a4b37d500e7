/* test_mdx.c — tests src/store/mdx.c: the master-data look-up image built, written, mapped and
 * looked up (exact, prefix, keys by gid) against a reference, and damaged images refused or
 * answered with TB_ECORRUPT instead of a read out of bounds. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "helpers.h"
#include "store/mdx.h"

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

/* A small image: duplicates, shared prefixes, names longer than 8 bytes, keys in three systems
 * put out of order. */
static tb__mdx_builder *small(void)
{
    tb__mdx_builder *b;
    tb__errbuf eb = {0};
    assert_int_equal(tb__mdx_builder_create(6, 42, &b), 0);
    uint8_t card, core, loan;
    assert_int_equal(tb__mdx_builder_system(b, "card", &card, &eb), 0);
    assert_int_equal(tb__mdx_builder_system(b, "loan", &loan, &eb), 0);
    assert_int_equal(tb__mdx_builder_system(b, "core", &core, &eb), 0);
    uint8_t again;
    assert_int_equal(tb__mdx_builder_system(b, "card", &again, &eb), 0);
    assert_int_equal(again, card);
    static const struct {
        tb__mdx_field f;
        uint32_t gid;
        const char *v;
    } puts_[] = {
        {TB__MDX_NAME, 5, "张三丰"},
        {TB__MDX_NAME, 1, "张三"},
        {TB__MDX_NAME, 3, "张三"},
        {TB__MDX_NAME, 2, "张三丰之徒弟甲"},
        {TB__MDX_NAME, 4, "张三丰之徒弟乙"},
        {TB__MDX_NAME, 0, "李四"},
        {TB__MDX_CERT, 4, "110105199001010021"},
        {TB__MDX_CERT, 1, "110105199001010021"},
        {TB__MDX_CERT, 2, "91350100MA2XXXXX1X"},
        {TB__MDX_MOBILE, 3, "13800001111"},
        {TB__MDX_MOBILE, 0, "13800001111"},
        {TB__MDX_MOBILE, 5, "13900002222"},
    };
    for (size_t i = 0; i < sizeof puts_ / sizeof puts_[0]; i++)
        assert_int_equal(
            tb__mdx_put(b, puts_[i].f, puts_[i].gid, puts_[i].v, strlen(puts_[i].v), &eb), 0);
    assert_int_equal(tb__mdx_put_key(b, 1, loan, "L9", 2, &eb), 0);
    assert_int_equal(tb__mdx_put_key(b, 1, card, "K2", 2, &eb), 0);
    assert_int_equal(tb__mdx_put_key(b, 1, core, "800000000001", 12, &eb), 0);
    assert_int_equal(tb__mdx_put_key(b, 1, card, "K1", 2, &eb), 0);
    assert_int_equal(tb__mdx_put_key(b, 4, card, "K7", 2, &eb), 0);
    /* out of range */
    assert_int_equal(tb__mdx_put(b, TB__MDX_NAME, 6, "x", 1, &eb), TB_EINVAL);
    assert_int_equal(tb__mdx_put_key(b, 6, card, "x", 1, &eb), TB_EINVAL);
    assert_int_equal(tb__mdx_put_key(b, 0, 9, "x", 1, &eb), TB_EINVAL);
    return b;
}

static void check_small(const tb__mdx *m)
{
    tb__errbuf eb = {0};
    uint32_t g[8];
    size_t n;
    assert_int_equal(tb__mdx_nparty(m), 6);
    assert_int_equal(tb__mdx_load_id(m), 42);
    assert_int_equal(tb__mdx_verify(m, &eb), 0);
    assert_int_equal(tb__mdx_lookup(m, TB__MDX_NAME, "张三", strlen("张三"), g, 8, &n, &eb), 0);
    assert_int_equal(n, 2);
    assert_true(g[0] == 1 && g[1] == 3);
    assert_int_equal(tb__mdx_lookup(m, TB__MDX_NAME, "张", strlen("张"), g, 8, &n, &eb), 0);
    assert_int_equal(n, 0);
    assert_int_equal(tb__mdx_lookup(m, TB__MDX_CERT, "110105199001010021", 18, g, 8, &n, &eb), 0);
    assert_int_equal(n, 2);
    qsort(g, n, sizeof *g, cmp_u32);
    assert_true(g[0] == 1 && g[1] == 4);
    assert_int_equal(tb__mdx_lookup(m, TB__MDX_MOBILE, "13800001111", 11, g, 1, &n, &eb), 0);
    assert_int_equal(n, 2); /* counted beyond cap */
    assert_int_equal(tb__mdx_lookup(m, TB__MDX_MOBILE, "13800001112", 11, g, 8, &n, &eb), 0);
    assert_int_equal(n, 0);
    /* prefix: longer names only, in name order */
    assert_int_equal(tb__mdx_prefix(m, "张三", strlen("张三"), g, 8, &n, &eb), 0);
    assert_int_equal(n, 3);
    assert_int_equal(g[0], 5); /* 张三丰 */
    assert_int_equal(g[1], 4); /* 乙 (E4 B9 99) sorts before 甲 (E7 94 B2) by bytes */
    assert_int_equal(g[2], 2);
    assert_int_equal(tb__mdx_prefix(m, "张三", strlen("张三"), g, 2, &n, &eb), 0);
    assert_int_equal(n, 2);
    assert_int_equal(tb__mdx_prefix(m, "王", strlen("王"), g, 8, &n, &eb), 0);
    assert_int_equal(n, 0);
    /* keys: core first, then by system name, then by key */
    tb__mdx_key k[8];
    assert_int_equal(tb__mdx_keys(m, 1, k, 8, &n, &eb), 0);
    assert_int_equal(n, 4);
    assert_string_equal(k[0].system, "core");
    assert_true(k[0].len == 12 && memcmp(k[0].key, "800000000001", 12) == 0);
    assert_string_equal(k[1].system, "card");
    assert_true(k[1].len == 2 && memcmp(k[1].key, "K1", 2) == 0);
    assert_true(memcmp(k[2].key, "K2", 2) == 0);
    assert_string_equal(k[3].system, "loan");
    assert_int_equal(tb__mdx_keys(m, 1, k, 1, &n, &eb), 0);
    assert_int_equal(n, 4); /* all counted, one written */
    assert_int_equal(tb__mdx_keys(m, 0, k, 8, &n, &eb), 0);
    assert_int_equal(n, 0);
    assert_int_equal(tb__mdx_keys(m, 99, k, 8, &n, &eb), 0);
    assert_int_equal(n, 0);
}

static void file_and_memory(void **state)
{
    tb__errbuf eb = {0};
    char *path = tbt_join(*state, "a.mdx");
    tb__mdx_builder *b = small();
    assert_int_equal(tb__mdx_builder_write(b, path, &eb), 0);
    tb__mdx_builder_free(b);
    tb__mdx *m;
    assert_int_equal(tb__mdx_open(path, &m, &eb), 0);
    check_small(m);
    tb__mdx_close(m);
    b = small();
    assert_int_equal(tb__mdx_builder_image(b, &m, &eb), 0);
    tb__mdx_builder_free(b);
    check_small(m);
    tb__mdx_close(m);
    /* an empty image */
    assert_int_equal(tb__mdx_builder_create(0, 1, &b), 0);
    assert_int_equal(tb__mdx_builder_image(b, &m, &eb), 0);
    tb__mdx_builder_free(b);
    uint32_t g[1];
    size_t n;
    assert_int_equal(tb__mdx_lookup(m, TB__MDX_NAME, "x", 1, g, 1, &n, &eb), 0);
    assert_int_equal(n, 0);
    tb__mdx_close(m);
    char *missing = tbt_join(*state, "none.mdx");
    assert_int_equal(tb__mdx_open(missing, &m, &eb), TB_ENOENT);
    free(missing);
    free(path);
}

/* Many random names against a reference sorted with qsort: exact counts and prefix order. */
static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void many_names(void **state)
{
    (void)state;
    enum { N = 20000 };
    static const char *const syl[] = {"王", "李", "张", "刘", "陈", "小", "明", "华", "a", "ab"};
    char **names = malloc(N * sizeof *names);
    tb__mdx_builder *b;
    tb__errbuf eb = {0};
    assert_int_equal(tb__mdx_builder_create(N, 1, &b), 0);
    srand(7);
    for (uint32_t i = 0; i < N; i++) {
        char s[64] = "";
        int parts = 1 + rand() % 7; /* up to 21 bytes: past the 16 a radix pass sees */
        for (int p = 0; p < parts; p++)
            strcat(s, syl[rand() % 10]);
        names[i] = strdup(s);
        assert_int_equal(tb__mdx_put(b, TB__MDX_NAME, i, s, strlen(s), &eb), 0);
    }
    tb__mdx *m;
    assert_int_equal(tb__mdx_builder_image(b, &m, &eb), 0);
    tb__mdx_builder_free(b);
    char **sorted = malloc(N * sizeof *sorted);
    memcpy(sorted, names, N * sizeof *sorted);
    qsort(sorted, N, sizeof *sorted, cmp_str);
    uint32_t *g = malloc(N * sizeof *g);
    for (int probe = 0; probe < 200; probe++) {
        const char *q = names[rand() % N];
        size_t want = 0, n;
        for (uint32_t i = 0; i < N; i++)
            want += strcmp(names[i], q) == 0;
        assert_int_equal(tb__mdx_lookup(m, TB__MDX_NAME, q, strlen(q), g, N, &n, &eb), 0);
        assert_int_equal(n, want);
        for (size_t i = 0; i < n; i++) {
            assert_string_equal(names[g[i]], q);
            if (i) assert_true(g[i - 1] < g[i]); /* equal names in gid order */
        }
        assert_int_equal(tb__mdx_prefix(m, q, strlen(q), g, N, &n, &eb), 0);
        size_t qn = strlen(q), expect = 0;
        for (uint32_t i = 0; i < N; i++)
            expect += strncmp(sorted[i], q, qn) == 0 && strlen(sorted[i]) > qn;
        assert_int_equal(n, expect);
        for (size_t i = 1; i < n; i++)
            assert_true(strcmp(names[g[i - 1]], names[g[i]]) <= 0);
    }
    for (uint32_t i = 0; i < N; i++)
        free(names[i]);
    free(names);
    free(sorted);
    free(g);
    tb__mdx_close(m);
}

static void damaged(void **state)
{
    tb__errbuf eb = {0};
    char *path = tbt_join(*state, "a.mdx");
    tb__mdx_builder *b = small();
    assert_int_equal(tb__mdx_builder_write(b, path, &eb), 0);
    tb__mdx_builder_free(b);
    size_t len;
    uint8_t *bytes = tbt_read_file(path, &len);
    tb__mdx *m;
    /* every truncation is refused, but one that cuts only the padding after the last section */
    for (size_t cut = 0; cut < len; cut++) {
        int rc = tb__mdx_from_bytes(bytes, cut, &m, &eb);
        if (rc == 0) {
            assert_true(len - cut < 8);
            check_small(m);
            tb__mdx_close(m);
            continue;
        }
        assert_int_equal(rc, TB_ECORRUPT);
    }
    /* a flipped header byte fails the header checksum */
    uint8_t *copy = malloc(len);
    memcpy(copy, bytes, len);
    copy[20] ^= 1;
    assert_int_equal(tb__mdx_from_bytes(copy, len, &m, &eb), TB_ECORRUPT);
    assert_non_null(strstr(eb.msg, "checksum"));
    /* a flipped body byte opens, fails verify; a name entry pointing past the heap is corrupt */
    memcpy(copy, bytes, len);
    uint64_t name_off;
    memcpy(&name_off, copy + 64 + 3 * 16, 8);
    uint32_t bad = 0xfffffff0u;
    memcpy(copy + name_off, &bad, 4);
    assert_int_equal(tb__mdx_from_bytes(copy, len, &m, &eb), 0);
    assert_int_equal(tb__mdx_verify(m, &eb), TB_ECORRUPT);
    uint32_t g[8];
    size_t n;
    assert_int_equal(tb__mdx_lookup(m, TB__MDX_NAME, "张三", strlen("张三"), g, 8, &n, &eb),
                     TB_ECORRUPT);
    assert_non_null(strstr(eb.msg, "out of bounds"));
    tb__mdx_close(m);
    free(copy);
    free(bytes);
    free(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(file_and_memory, tbt_setup_tmpdir, tbt_teardown_tmpdir),
        cmocka_unit_test(many_names),
        cmocka_unit_test_setup_teardown(damaged, tbt_setup_tmpdir, tbt_teardown_tmpdir),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
