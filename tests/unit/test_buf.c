/* test_buf.c — tests src/common/buf.c: appends, growth, integer and fixed-point formatting. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "common/buf.h"
#include "tagbase.h"

/* Formats with `fn`-style calls into a fresh buffer and compares. */
#define EXPECT_I64(v, want)                                                                        \
    do {                                                                                           \
        tb__buf b_ = TB__BUF_INIT;                                                                 \
        assert_int_equal(tb__buf_put_i64(&b_, (v)), 0);                                            \
        assert_string_equal(b_.data, (want));                                                      \
        assert_int_equal(b_.len, strlen(want));                                                    \
        tb__buf_release(&b_);                                                                      \
    } while (0)

#define EXPECT_FIXED(v, scale, want)                                                               \
    do {                                                                                           \
        tb__buf b_ = TB__BUF_INIT;                                                                 \
        assert_int_equal(tb__buf_put_fixed(&b_, (v), (scale)), 0);                                 \
        assert_string_equal(b_.data, (want));                                                      \
        tb__buf_release(&b_);                                                                      \
    } while (0)

static void integers(void **state)
{
    (void)state;
    EXPECT_I64(0, "0");
    EXPECT_I64(7, "7");
    EXPECT_I64(-1, "-1");
    EXPECT_I64(1234567890123LL, "1234567890123");
    EXPECT_I64(INT64_MAX, "9223372036854775807");
    EXPECT_I64(INT64_MIN, "-9223372036854775808");
    tb__buf b = TB__BUF_INIT;
    assert_int_equal(tb__buf_put_u64(&b, UINT64_MAX), 0);
    assert_string_equal(b.data, "18446744073709551615");
    tb__buf_reset(&b);
    assert_int_equal(tb__buf_put_u64(&b, 0), 0);
    assert_int_equal(tb__buf_put_u64(&b, 10), 0);
    assert_string_equal(b.data, "010");
    tb__buf_release(&b);
}

/* tb__u64_digits at every power of ten and its neighbours, against printf. */
static void u64_digits(void **state)
{
    (void)state;
    char out[TB__U64_DIGITS_MAX + 1], want[32];
    uint64_t p = 1;
    for (int e = 0; e < 20; e++, p *= 10) {
        const uint64_t vs[] = {p - 1, p, p + 1, p * 9 / 10 * 10 / 9};
        for (size_t k = 0; k < sizeof vs / sizeof vs[0]; k++) {
            memset(out, '#', sizeof out);
            size_t n = tb__u64_digits(vs[k], out);
            snprintf(want, sizeof want, "%llu", (unsigned long long)vs[k]);
            assert_int_equal(n, strlen(want));
            assert_memory_equal(out, want, n);
            assert_int_equal(out[n < TB__U64_DIGITS_MAX ? n : TB__U64_DIGITS_MAX], '#');
        }
    }
    assert_int_equal(tb__u64_digits(UINT64_MAX, out), 20);
    assert_memory_equal(out, "18446744073709551615", 20);
    assert_int_equal(tb__u64_digits(0, out), 1);
    assert_int_equal(out[0], '0');
}

static void fixed_point(void **state)
{
    (void)state;
    EXPECT_FIXED(123456, 2, "1234.56");
    EXPECT_FIXED(-123456, 2, "-1234.56");
    EXPECT_FIXED(5, 2, "0.05");
    EXPECT_FIXED(-5, 2, "-0.05");
    EXPECT_FIXED(-100, 2, "-1.00");
    EXPECT_FIXED(0, 2, "0.00");
    EXPECT_FIXED(7, 3, "0.007");
    EXPECT_FIXED(42, 0, "42");
    EXPECT_FIXED(-42, 0, "-42");
    EXPECT_FIXED(INT64_MIN, 2, "-92233720368547758.08");
    EXPECT_FIXED(INT64_MAX, 2, "92233720368547758.07");
    EXPECT_FIXED(INT64_MIN, 19, "-0.9223372036854775808");
    EXPECT_FIXED(1, 18, "0.000000000000000001");
    /* Scales whose power of ten does not fit 64 bits are refused, not mis-printed. */
    tb__buf b = TB__BUF_INIT;
    assert_int_equal(tb__buf_put_fixed(&b, 1, 20), TB_EINVAL);
    assert_int_equal(tb__buf_put_fixed(&b, 1, 40), TB_EINVAL);
    assert_int_equal(tb__buf_put_fixed(&b, 1, -1), TB_EINVAL);
    assert_int_equal(b.len, 0);
    tb__buf_release(&b);
}

static void growth_and_appends(void **state)
{
    (void)state;
    tb__buf b = TB__BUF_INIT;
    assert_null(b.data);
    for (int i = 0; i < 100000; i++)
        assert_int_equal(tb__buf_putc(&b, (char)('a' + i % 26)), 0);
    assert_int_equal(b.len, 100000);
    assert_true(b.cap > b.len);
    assert_int_equal(b.data[b.len], '\0');
    for (int i = 0; i < 100000; i++)
        assert_int_equal(b.data[i], 'a' + i % 26);

    tb__buf_reset(&b);
    assert_int_equal(b.len, 0);
    assert_non_null(b.data);
    assert_string_equal(b.data, "");
    size_t cap = b.cap;
    assert_int_equal(tb__buf_puts(&b, "abc"), 0);
    assert_int_equal(tb__buf_append(&b, "de\0f", 4), 0); /* binary-safe */
    assert_int_equal(b.len, 7);
    assert_memory_equal(b.data, "abcde\0f", 8);
    assert_int_equal(b.cap, cap); /* reset kept the memory */
    assert_int_equal(tb__buf_append(&b, NULL, 0), 0);
    assert_int_equal(tb__buf_printf(&b, "[%d|%s]", -12, "x"), 0);
    assert_int_equal(b.len, 14);
    assert_memory_equal(b.data + 7, "[-12|x]", 8);
    assert_int_equal(tb__buf_reserve(&b, SIZE_MAX), TB_ENOMEM);
    assert_int_equal(tb__buf_reserve(&b, SIZE_MAX - b.len), TB_ENOMEM);
    tb__buf_release(&b);
    assert_null(b.data);
    assert_int_equal(b.len, 0);
    assert_int_equal(b.cap, 0);

    tb__buf e = TB__BUF_INIT; /* an empty printf still makes a string */
    assert_int_equal(tb__buf_printf(&e, "%s", ""), 0);
    assert_non_null(e.data);
    assert_string_equal(e.data, "");
    char big[5000];
    memset(big, 'q', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    assert_int_equal(tb__buf_printf(&e, "%s!", big), 0);
    assert_int_equal(e.len, 5000);
    assert_int_equal(e.data[4999], '!');
    tb__buf_release(&e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(integers),
        cmocka_unit_test(u64_digits),
        cmocka_unit_test(fixed_point),
        cmocka_unit_test(growth_and_appends),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
