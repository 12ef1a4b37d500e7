/* test_radix.c — tests src/common/radix.c: records of each width sorted as a stable comparison
 * sort orders them, whatever digits their keys share. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "common/radix.h"
#include "common/rng.h"
#include "tagbase.h"

/* Up to four words: the key (hi, lo), then the record's original position as payload. */
typedef struct rec4 {
    uint64_t w[4];
} rec4;

static size_t g_words; /* words per record of the current run, for by_key */

static int by_key(const void *a, const void *b)
{
    const uint64_t *x = a, *y = b;
    if (x[0] != y[0]) return x[0] < y[0] ? -1 : 1;
    if (x[1] != y[1]) return x[1] < y[1] ? -1 : 1;
    /* stable: the position, in the last word */
    return x[g_words - 1] < y[g_words - 1] ? -1 : x[g_words - 1] > y[g_words - 1];
}

/* A key drawn from a few shapes: all digits random, only a few 16-bit digits used (passes
 * skipped), a small range (many equal keys), a shared high half. */
static void key(tb__rng *r, int shape, uint64_t *hi, uint64_t *lo)
{
    switch (shape) {
    case 0:
        *hi = tb__rng_next(r);
        *lo = tb__rng_next(r);
        break;
    case 1:
        *hi = tb__rng_below(r, 65536) << 32;
        *lo = tb__rng_below(r, 65536) << 16;
        break;
    case 2:
        *hi = tb__rng_below(r, 3);
        *lo = tb__rng_below(r, 5) << 48;
        break;
    default:
        *hi = 0x3031323334353637ULL;
        *lo = tb__rng_next(r);
    }
}

static void sorts_like_qsort(void **state)
{
    (void)state;
    tb__rng r;
    tb__rng_seed(&r, 42, 7);
    static const size_t sizes[] = {16, 24, 32};
    static const size_t counts[] = {0, 1, 2, 3, 100, 70000};
    for (size_t s = 0; s < 3; s++)
        for (size_t c = 0; c < sizeof counts / sizeof counts[0]; c++)
            for (int shape = 0; shape < 4; shape++) {
                size_t n = counts[c], words = sizes[s] / 8;
                uint64_t *a = calloc(n ? n * words : 1, sizeof *a);
                uint64_t *want = calloc(n ? n * words : 1, sizeof *want);
                assert_non_null(a);
                assert_non_null(want);
                for (size_t i = 0; i < n; i++) {
                    key(&r, shape, &a[i * words], &a[i * words + 1]);
                    if (words > 2) a[i * words + 2] = tb__rng_next(&r);
                    a[i * words + words - 1] = i; /* the position, payload of every width */
                    if (words == 2) a[i * words + 1] = (a[i * words + 1] & ~0xffffffULL) | i;
                }
                memcpy(want, a, n * words * sizeof *a);
                g_words = words;
                qsort(want, n, sizes[s], by_key);
                assert_int_equal(tb__radix_sort128(a, n, sizes[s]), 0);
                assert_memory_equal(a, want, n * words * sizeof *a + (n == 0));
                free(a);
                free(want);
            }
}

static void other_sizes_refused(void **state)
{
    (void)state;
    uint64_t a[8] = {3, 0, 2, 0, 1, 0, 0, 0};
    assert_int_equal(tb__radix_sort128(a, 2, 8), TB_EINVAL);
    assert_int_equal(tb__radix_sort128(a, 2, 40), TB_EINVAL);
    assert_int_equal(a[0], 3); /* nothing moved */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(sorts_like_qsort),
        cmocka_unit_test(other_sizes_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
