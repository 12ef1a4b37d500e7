/* test_validate.c — tests src/common/validate.c: check digits of the identity standards. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "tagbase.h"

static void resident_id_examples(void **state)
{
    (void)state;
    assert_true(tb_valid_resident_id("11010519491231002X", 18));
    assert_true(tb_valid_resident_id("11010519491231002x", 18));
    assert_false(tb_valid_resident_id("110105194912310021", 18)); /* wrong check digit */
    assert_false(tb_valid_resident_id("11010519491331002X", 18)); /* month 13 */
    assert_false(tb_valid_resident_id("11010519491231002", 17));
    assert_int_equal(tb_resident_id_check("11010519491231002"), 'X');
}

static void uscc_examples(void **state)
{
    (void)state;
    assert_true(tb_valid_uscc("91350100M000100Y43", 18));
    assert_false(tb_valid_uscc("91350100M000100Y44", 18));
    assert_false(tb_valid_uscc("91350100M000100I43", 18)); /* I is outside the charset */
    assert_int_equal(tb_uscc_check("91350100M000100Y4"), '3');
}

static void luhn_and_mobile(void **state)
{
    (void)state;
    assert_true(tb_valid_luhn("4111111111111111", 16));
    assert_false(tb_valid_luhn("4111111111111112", 16));
    assert_int_equal(tb_luhn_check("411111111111111", 15), '1');
    assert_true(tb_valid_mobile("13812345678", 11));
    assert_false(tb_valid_mobile("12812345678", 11));
    assert_false(tb_valid_mobile("1381234567", 10));
    assert_true(tb_valid_date(20240229));
    assert_false(tb_valid_date(20230229));
    assert_false(tb_valid_date(20231301));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(resident_id_examples),
        cmocka_unit_test(uscc_examples),
        cmocka_unit_test(luhn_and_mobile),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
