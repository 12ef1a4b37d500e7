/* test_clock.c — tests src/common/clock.c: Asia/Shanghai text whatever TZ says. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "common/clock.h"

static void shanghai_whatever_tz(void **state)
{
    (void)state;
    char out[TB__TIME_TEXT_LEN];
    setenv("TZ", "America/New_York", 1);
    tzset();
    assert_string_equal(tb__time_text(0, out), "1970-01-01 08:00:00");
    /* 2026-11-21 16:30:05 UTC is past midnight in Shanghai: the date rolls over. */
    assert_string_equal(tb__time_text(1795278605, out), "2026-11-22 00:30:05");
    assert_string_equal(tb__time_text(951782399, out), "2000-02-29 07:59:59");
    assert_int_equal(strlen(tb__now_text(out)), 19);
}

/* Day numbers as dates: the epoch, a leap day, a day before the epoch. */
static void dates_from_day_numbers(void **state)
{
    (void)state;
    char d[TB__DATE_TEXT_LEN];
    assert_string_equal(tb__date_text(0, d), "1970-01-01");
    assert_string_equal(tb__date_text(19782, d), "2024-02-29");
    assert_string_equal(tb__date_text(20413, d), "2025-11-21");
    assert_string_equal(tb__date_text(-1, d), "1969-12-31");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(shanghai_whatever_tz),
        cmocka_unit_test(dates_from_day_numbers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
