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

/* Check characters below were computed independently (a Python transcription of ISO 7064
 * MOD 11-2 with weights 2^(17-i) mod 11, and of GB 32100 with weights 3^i mod 31), not with the
 * code under test. */
static void resident_id_more(void **state)
{
    (void)state;
    static const char *const valid[] = {
        "11010519491231002X", "440304198002291236", "31011520000101456X",
        "51010819991231000X", "650102200002290116", "110101190001010014",
    };
    for (size_t i = 0; i < sizeof valid / sizeof valid[0]; i++) {
        assert_true(tb_valid_resident_id(valid[i], 18));
        assert_int_equal(tb_resident_id_check(valid[i]), valid[i][17]);
    }
    assert_true(tb_valid_resident_id("31011520000101456x", 18)); /* lowercase x accepted */
    static const char *const invalid[] = {
        "440304198002291237", /* check digit off by one */
        "44030419800229123X", /* X where a digit is due */
        "440304198102291236", /* 1981-02-29 does not exist */
        "110101190002290016", /* 1900 is not a leap year */
        "011010194912310020", /* region cannot start with 0 */
        "11010519491231002A", /* check character outside 0-9X */
        "1101051949123100 X", /* a space in the body */
        "11010518991231002X", /* born before 1900 */
        "110105194900000021", /* month 00 */
    };
    for (size_t i = 0; i < sizeof invalid / sizeof invalid[0]; i++)
        assert_false(tb_valid_resident_id(invalid[i], 18));
    /* Lengths other than 18 (including the retired 15-digit form), NULL, embedded NUL. */
    assert_false(tb_valid_resident_id("110105491231002", 15));
    assert_false(tb_valid_resident_id("11010519491231002X0", 19));
    assert_false(tb_valid_resident_id("", 0));
    assert_false(tb_valid_resident_id(NULL, 18));
    assert_false(tb_valid_resident_id("11010519491231\0"
                                      "02X",
                                      18));
    assert_int_equal(tb_resident_id_check("1101051949123100A"), 0);
}

static void uscc_more(void **state)
{
    (void)state;
    static const char *const valid[] = {
        "91350100M000100Y43",
        "91110000100000000R",
        "12100000400000000W",
        "91440300MA5F000007",
    };
    for (size_t i = 0; i < sizeof valid / sizeof valid[0]; i++) {
        assert_true(tb_valid_uscc(valid[i], 18));
        assert_int_equal(tb_uscc_check(valid[i]), valid[i][17]);
    }
    assert_false(tb_valid_uscc("91110000100000000Q", 18));
    assert_false(tb_valid_uscc("91440300ma5f000007", 18)); /* lowercase is outside the charset */
    assert_false(tb_valid_uscc("91440300MA5F00000O", 18)); /* O is excluded (looks like 0) */
    assert_false(tb_valid_uscc("91350100M000100Y4", 17));
    assert_false(tb_valid_uscc(NULL, 18));
    assert_false(tb_valid_uscc("9135010\0M000100Y43", 18));
    assert_int_equal(tb_uscc_check("9135010SM000100Y4"), 0); /* S is excluded */
}

static void luhn_more(void **state)
{
    (void)state;
    /* Published test numbers of the card schemes. */
    assert_true(tb_valid_luhn("5555555555554444", 16));
    assert_true(tb_valid_luhn("378282246310005", 15));
    assert_true(tb_valid_luhn("6011111111111117", 16));
    assert_true(tb_valid_luhn("4012888888881881", 16));
    assert_true(tb_valid_luhn("6228480000000001230", 19)); /* 19 digits, computed independently */
    assert_true(tb_valid_luhn("401288888888811", 15));
    assert_false(tb_valid_luhn("6228480000000001231", 19));
    assert_false(tb_valid_luhn("5555555555554443", 16));
    assert_false(tb_valid_luhn("00000000000", 11));          /* too short */
    assert_false(tb_valid_luhn("00000000000000000000", 20)); /* too long */
    assert_true(tb_valid_luhn("000000000000", 12));
    assert_false(tb_valid_luhn("5555 5555 5555 4444", 19));
    assert_false(tb_valid_luhn(NULL, 16));
    assert_int_equal(tb_luhn_check("555555555555444", 15), '4');
    assert_int_equal(tb_luhn_check("55555a", 6), 0);
    assert_int_equal(tb_luhn_check("", 0), '0');
}

static void mobile_more(void **state)
{
    (void)state;
    const char *ok[] = {"13000000000", "14700000000", "15912345678", "16600000000",
                        "17712345678", "18888888888", "19912345678"};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
        assert_true(tb_valid_mobile(ok[i], 11));
    assert_false(tb_valid_mobile("10012345678", 11));
    assert_false(tb_valid_mobile("11012345678", 11));
    assert_false(tb_valid_mobile("23812345678", 11));
    assert_false(tb_valid_mobile("1381234567a", 11));
    assert_false(tb_valid_mobile("+8613812345678", 14));
    assert_false(tb_valid_mobile("138123456789", 12));
    assert_false(tb_valid_mobile("13812345678", 10)); /* the length decides, not the NUL */
    assert_false(tb_valid_mobile(NULL, 11));
}

static void dates(void **state)
{
    (void)state;
    const int ok[] = {20000229, 20240229, 19960229, 19000101, 21991231,
                      20241231, 20240131, 20240430, 20230228, 21960229};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
        assert_true(tb_valid_date(ok[i]));
    const int bad[] = {19000229, 21000229, 20230229,  20240230, 18991231,
                       22000101, 20240431, 20240001,  20240100, 20241301,
                       20240132, 0,        -20240101, 2024011,  202401011};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (tb_valid_date(bad[i])) fail_msg("%d accepted", bad[i]);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(resident_id_examples),
        cmocka_unit_test(uscc_examples),
        cmocka_unit_test(luhn_and_mobile),
        cmocka_unit_test(resident_id_more),
        cmocka_unit_test(uscc_more),
        cmocka_unit_test(luhn_more),
        cmocka_unit_test(mobile_more),
        cmocka_unit_test(dates),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
