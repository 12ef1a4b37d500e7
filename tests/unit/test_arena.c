/* test_arena.c — tests src/common/arena.c: alignment, big allocations, reset reuse, printf. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "common/arena.h"

static void alignment(void **state)
{
    (void)state;
    tb__arena a;
    tb__arena_init(&a, 256);
    for (size_t n = 0; n < 300; n++) {
        unsigned char *p = tb__arena_alloc(&a, n % 37);
        assert_non_null(p);
        assert_int_equal((uintptr_t)p % _Alignof(max_align_t), 0);
        memset(p, 0xAB, n % 37); /* ASan: every byte handed out is usable */
    }
    assert_true(a.used >= 300);
    tb__arena_release(&a);
    assert_null(a.head);
    assert_int_equal(a.used, 0);
}

static void distinct_and_intact(void **state)
{
    (void)state;
    tb__arena a;
    tb__arena_init(&a, 128);
    char *p[64];
    for (int i = 0; i < 64; i++) {
        p[i] = tb__arena_alloc(&a, 20);
        assert_non_null(p[i]);
        memset(p[i], 'a' + i % 26, 20);
    }
    /* Allocations never overlap: every block still holds its own letter. */
    for (int i = 0; i < 64; i++)
        for (int k = 0; k < 20; k++)
            assert_int_equal(p[i][k], 'a' + i % 26);
    tb__arena_release(&a);
}

static void big_allocations(void **state)
{
    (void)state;
    tb__arena a;
    tb__arena_init(&a, 1024);
    char *small = tb__arena_alloc(&a, 16);
    memset(small, 's', 16);
    char *big = tb__arena_alloc(&a, 100000); /* far bigger than a block */
    assert_non_null(big);
    memset(big, 'b', 100000);
    assert_int_equal((uintptr_t)big % _Alignof(max_align_t), 0);
    /* The current block's free tail is still used after an oversized request. */
    char *next = tb__arena_alloc(&a, 16);
    assert_true(next > small && next < small + 1024);
    char *first_big = tb__arena_alloc(&a, 5000); /* first allocation of a fresh arena too */
    assert_non_null(first_big);
    memset(first_big, 'c', 5000);
    assert_int_equal(small[15], 's');
    assert_int_equal(big[99999], 'b');
    assert_null(tb__arena_alloc(&a, SIZE_MAX));
    assert_null(tb__arena_alloc(&a, SIZE_MAX - 8));
    assert_null(tb__arena_calloc(&a, SIZE_MAX / 2, 3));
    tb__arena_release(&a);

    tb__arena b;
    tb__arena_init(&b, 0); /* default block size */
    assert_int_equal(b.block_size, 64 * 1024);
    char *huge = tb__arena_alloc(&b, 200000);
    assert_non_null(huge);
    memset(huge, 1, 200000);
    tb__arena_release(&b);
}

static void reset_keeps_one_block(void **state)
{
    (void)state;
    tb__arena a;
    tb__arena_init(&a, 512);
    char *first = tb__arena_alloc(&a, 10);
    for (int i = 0; i < 10; i++)
        assert_non_null(tb__arena_alloc(&a, 3000)); /* oversized */
    tb__arena_reset(&a);
    assert_non_null(a.head);
    assert_int_equal(a.used, 0);
    /* The kept standard block is reused from its start. */
    assert_ptr_equal(tb__arena_alloc(&a, 10), first);
    /* Many standard blocks: reset still keeps exactly one, and the arena keeps working. */
    for (int i = 0; i < 100; i++)
        assert_non_null(tb__arena_alloc(&a, 100));
    tb__arena_reset(&a);
    assert_non_null(a.head);
    char *p = tb__arena_alloc(&a, 500);
    assert_non_null(p);
    memset(p, 0, 500);
    tb__arena_release(&a);
    tb__arena_reset(&a); /* reset of an empty arena is harmless */
    assert_null(a.head);
    tb__arena_release(&a);
}

static void strings_and_printf(void **state)
{
    (void)state;
    tb__arena a;
    tb__arena_init(&a, 64);
    char *s = tb__arena_printf(&a, "%s-%d-%05.1f", "batch", 20261121, 3.14159);
    assert_string_equal(s, "batch-20261121-003.1");
    char longer[300];
    memset(longer, 'x', sizeof longer - 1);
    longer[sizeof longer - 1] = '\0';
    char *l = tb__arena_printf(&a, "<%s>", longer); /* bigger than a block */
    assert_int_equal(strlen(l), 301);
    assert_int_equal(l[0], '<');
    assert_int_equal(l[300], '>');
    assert_string_equal(tb__arena_strdup(&a, "张三"), "张三");
    char *n = tb__arena_strndup(&a, "abcdef", 3);
    assert_string_equal(n, "abc");
    assert_null(tb__arena_strndup(&a, "x", SIZE_MAX));
    int *z = tb__arena_calloc(&a, 10, sizeof(int));
    for (int i = 0; i < 10; i++)
        assert_int_equal(z[i], 0);
    assert_string_equal(tb__arena_printf(&a, "%s", ""), "");
    tb__arena_release(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(alignment),          cmocka_unit_test(distinct_and_intact),
        cmocka_unit_test(big_allocations),    cmocka_unit_test(reset_keeps_one_block),
        cmocka_unit_test(strings_and_printf),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
