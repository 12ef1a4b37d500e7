/* test_mask.c — tests src/common/mask.c: ID, mobile, card and name masks, short, truncated and
 * invalid input, small output buffers; a mask never shows a byte its rule hides. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "common/mask.h"

#define S(lit) (lit), (sizeof(lit) - 1)

static void identifiers(void **state)
{
    (void)state;
    char out[64];
    assert_string_equal(tb__mask_id(S("11010519491231002X"), out, sizeof out),
                        "110105********002X");
    assert_string_equal(tb__mask_mobile(S("13812345678"), out, sizeof out), "138****5678");
    assert_string_equal(tb__mask_card(S("6228480000000001234"), out, sizeof out),
                        "622848*********1234");
    assert_string_equal(tb__mask_card(S("4111111111111111"), out, sizeof out), "411111******1111");
    /* Too short to hide anything while showing head and tail: all stars, same length. */
    assert_string_equal(tb__mask_id(S("1101051949"), out, sizeof out), "**********");
    assert_string_equal(tb__mask_mobile(S("1381234"), out, sizeof out), "*******");
    assert_string_equal(tb__mask_mobile(S("13812345"), out, sizeof out), "138*2345");
    assert_string_equal(tb__mask_id(S(""), out, sizeof out), "");
    assert_string_equal(tb__mask_keep(S("abcdef"), 0, 0, out, sizeof out), "******");
    assert_string_equal(tb__mask_keep(S("abcdef"), 5, 0, out, sizeof out), "abcde*");
    assert_string_equal(tb__mask_keep(S("abcdef"), 5, 1, out, sizeof out), "******");
}

static void small_outputs(void **state)
{
    (void)state;
    char out[8];
    memset(out, 'Z', sizeof out);
    assert_string_equal(tb__mask_id(S("11010519491231002X"), out, 8), "110105*");
    assert_string_equal(tb__mask_id(S("11010519491231002X"), out, 1), "");
    out[0] = 'Z';
    tb__mask_id(S("11010519491231002X"), out, 0); /* nothing written */
    assert_int_equal(out[0], 'Z');
    tb__mask_name(S("张三"), out, 0);
    assert_int_equal(out[0], 'Z');
    /* A name whose first character does not fit is all stars rather than a cut character. */
    assert_string_equal(tb__mask_name(S("张三丰"), out, 3), "**");
    assert_string_equal(tb__mask_name(S("张三丰"), out, 4), "张"); /* stars cut by the size */
    assert_string_equal(tb__mask_name(S("张三丰"), out, 5), "张*");
}

static void names(void **state)
{
    (void)state;
    char out[64];
    assert_string_equal(tb__mask_name(S("张三丰"), out, sizeof out), "张**");
    assert_string_equal(tb__mask_name(S("张三"), out, sizeof out), "张*");
    assert_string_equal(tb__mask_name(S("欧阳娜娜"), out, sizeof out), "欧***");
    assert_string_equal(tb__mask_name(S("张"), out, sizeof out), "*"); /* one character: hidden */
    assert_string_equal(tb__mask_name(S("Li Lei"), out, sizeof out), "L*****");
    assert_string_equal(tb__mask_name(S("😀ab"), out, sizeof out), "😀**");
    assert_string_equal(tb__mask_name(S(""), out, sizeof out), "");
    assert_string_equal(tb__mask_name(S("a"), out, sizeof out), "*");
}

/* True when no byte of `hidden` (a byte string) occurs in `out`. */
static int shows_none(const char *out, const char *hidden, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strchr(out, hidden[i])) return 0;
    return 1;
}

static void names_invalid_utf8(void **state)
{
    (void)state;
    char out[64];
    /* Truncated last character: its bytes are never echoed. */
    assert_string_equal(tb__mask_name(S("张\xE4\xB8"), out, sizeof out), "张**");
    assert_true(shows_none(out + 3, "\xE4\xB8", 2));
    /* Truncated or invalid first character: nothing is shown at all. */
    assert_string_equal(tb__mask_name(S("\xE5\xBC"), out, sizeof out), "**");
    assert_string_equal(tb__mask_name(S("\xE5\xBC"
                                        "abc"),
                                      out, sizeof out),
                        "*****");
    assert_true(shows_none(out,
                           "\xE5\xBC"
                           "abc",
                           5));
    assert_string_equal(tb__mask_name(S("\xFF\xFE"
                                        "ab"),
                                      out, sizeof out),
                        "****");
    assert_string_equal(tb__mask_name(S("\x80"
                                        "abc"),
                                      out, sizeof out),
                        "****");
    assert_string_equal(tb__mask_name(S("\xC0\x80x"), out, sizeof out), "***");      /* overlong */
    assert_string_equal(tb__mask_name(S("\xED\xA0\x80x"), out, sizeof out), "****"); /* surrogate */
    assert_string_equal(tb__mask_name(S("\xF4\x90\x80\x80x"), out, sizeof out), "*****");
    /* A length shorter than the character: the bytes beyond len are never read or shown. */
    assert_string_equal(tb__mask_name("张三", 2, out, sizeof out), "**");
    assert_string_equal(tb__mask_name("张三", 4, out, sizeof out), "张*");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(identifiers),
        cmocka_unit_test(small_outputs),
        cmocka_unit_test(names),
        cmocka_unit_test(names_invalid_utf8),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
