/* test_utf8.c — tests src/common/utf8.c: the well-formed UTF-8 character and range checks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "common/utf8.h"
#include "tagbase.h"

/* tb__utf8_char over the bytes of a string literal (which may contain NUL). */
#define CHAR_LEN(lit) tb__utf8_char((const unsigned char *)(lit), sizeof(lit) - 1)

static void ascii_and_two_byte(void **state)
{
    (void)state;
    assert_int_equal(CHAR_LEN("A"), 1);
    assert_int_equal(CHAR_LEN("\x00"), 1); /* U+0000 is a character */
    assert_int_equal(CHAR_LEN("\x7F"), 1);
    assert_int_equal(CHAR_LEN("Ab"), 1);       /* only the first character counts */
    assert_int_equal(CHAR_LEN("\xC2\x80"), 2); /* U+0080, the smallest two-byte character */
    assert_int_equal(CHAR_LEN("\xDF\xBF"), 2); /* U+07FF */
    assert_int_equal(CHAR_LEN("\xC0\x80"), 0); /* overlong U+0000 */
    assert_int_equal(CHAR_LEN("\xC0\xAF"), 0); /* overlong '/' */
    assert_int_equal(CHAR_LEN("\xC1\xBF"), 0); /* overlong U+007F */
    assert_int_equal(CHAR_LEN("\x80"), 0);     /* a continuation byte cannot lead */
    assert_int_equal(CHAR_LEN("\xBF\x80"), 0);
    assert_int_equal(CHAR_LEN("\xC2\x41"), 0); /* second byte not a continuation */
    assert_int_equal(CHAR_LEN("\xC2\xC2"), 0);
}

static void three_byte_boundaries(void **state)
{
    (void)state;
    assert_int_equal(CHAR_LEN("\xE0\xA0\x80"), 3); /* U+0800, the smallest three-byte one */
    assert_int_equal(CHAR_LEN("\xE0\x9F\xBF"), 0); /* overlong U+07FF */
    assert_int_equal(CHAR_LEN("\xE0\x80\x80"), 0);
    assert_int_equal(CHAR_LEN("\xE4\xB8\xAD"), 3); /* 中 */
    assert_int_equal(CHAR_LEN("\xED\x9F\xBF"), 3); /* U+D7FF, last before the surrogates */
    assert_int_equal(CHAR_LEN("\xED\xA0\x80"), 0); /* U+D800, first surrogate */
    assert_int_equal(CHAR_LEN("\xED\xBF\xBF"), 0); /* U+DFFF, last surrogate */
    assert_int_equal(CHAR_LEN("\xEE\x80\x80"), 3); /* U+E000, first after them */
    assert_int_equal(CHAR_LEN("\xEF\xBF\xBF"), 3); /* U+FFFF */
    assert_int_equal(CHAR_LEN("\xE4\xB8\x41"), 0); /* third byte not a continuation */
    assert_int_equal(CHAR_LEN("\xE4\x41\xAD"), 0);
}

static void four_byte_boundaries(void **state)
{
    (void)state;
    assert_int_equal(CHAR_LEN("\xF0\x90\x80\x80"), 4); /* U+10000 */
    assert_int_equal(CHAR_LEN("\xF0\x8F\xBF\xBF"), 0); /* overlong U+FFFF */
    assert_int_equal(CHAR_LEN("\xF0\x9F\x98\x80"), 4); /* U+1F600 */
    assert_int_equal(CHAR_LEN("\xF4\x8F\xBF\xBF"), 4); /* U+10FFFF, the last code point */
    assert_int_equal(CHAR_LEN("\xF4\x90\x80\x80"), 0); /* U+110000 */
    assert_int_equal(CHAR_LEN("\xF5\x80\x80\x80"), 0); /* leads F5..FF never occur */
    assert_int_equal(CHAR_LEN("\xF7\xBF\xBF\xBF"), 0);
    assert_int_equal(CHAR_LEN("\xF8\x88\x80\x80\x80"), 0); /* old five-byte form */
    assert_int_equal(CHAR_LEN("\xFE"), 0);
    assert_int_equal(CHAR_LEN("\xFF"), 0);
    assert_int_equal(CHAR_LEN("\xF0\x90\x80\x41"), 0); /* fourth byte not a continuation */
    assert_int_equal(CHAR_LEN("\xF0\x90\x41\x80"), 0);
}

/* The length bounds the read: bytes past it do not complete a character. */
static void truncated_sequences(void **state)
{
    (void)state;
    const unsigned char zh[] = "\xE4\xB8\xAD", emoji[] = "\xF0\x9F\x98\x80", two[] = "\xC3\xA9";
    assert_int_equal(tb__utf8_char(zh, 0), 0);
    assert_int_equal(tb__utf8_char(zh, 1), 0);
    assert_int_equal(tb__utf8_char(zh, 2), 0);
    assert_int_equal(tb__utf8_char(zh, 3), 3);
    assert_int_equal(tb__utf8_char(two, 1), 0);
    assert_int_equal(tb__utf8_char(two, 2), 2);
    for (size_t n = 0; n < 4; n++)
        assert_int_equal(tb__utf8_char(emoji, n), 0);
    assert_int_equal(tb__utf8_char(emoji, 4), 4);
}

/* An independent definition: decode by the bit patterns, then reject what Unicode excludes
 * (overlong forms, surrogates, code points above U+10FFFF). */
static size_t reference_char(const unsigned char *s, size_t len)
{
    static const uint32_t min_cp[] = {0, 0, 0x80, 0x800, 0x10000};
    if (len == 0) return 0;
    unsigned char c = s[0];
    size_t n;
    uint32_t cp;
    if (c < 0x80) return 1;
    if ((c & 0xE0) == 0xC0) {
        n = 2, cp = c & 0x1Fu;
    } else if ((c & 0xF0) == 0xE0) {
        n = 3, cp = c & 0x0Fu;
    } else if ((c & 0xF8) == 0xF0) {
        n = 4, cp = c & 0x07u;
    } else {
        return 0;
    }
    if (len < n) return 0;
    for (size_t k = 1; k < n; k++) {
        if ((s[k] & 0xC0) != 0x80) return 0;
        cp = cp << 6 | (s[k] & 0x3Fu);
    }
    if (cp < min_cp[n] || (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF) return 0;
    return n;
}

/* Every first and second byte, with later bytes drawn from the values around the continuation
 * range, and every length up to four. */
static void agrees_with_reference(void **state)
{
    (void)state;
    static const unsigned char tail[] = {0x00, 0x41, 0x7F, 0x80, 0x8F, 0x90,
                                         0x9F, 0xA0, 0xBF, 0xC0, 0xC2, 0xFF};
    const size_t nt = sizeof tail;
    unsigned char s[4];
    for (unsigned b0 = 0; b0 < 256; b0++)
        for (unsigned b1 = 0; b1 < 256; b1++)
            for (size_t t2 = 0; t2 < nt; t2++)
                for (size_t t3 = 0; t3 < nt; t3++) {
                    s[0] = (unsigned char)b0, s[1] = (unsigned char)b1;
                    s[2] = tail[t2], s[3] = tail[t3];
                    for (size_t len = 1; len <= 4; len++) {
                        size_t got = tb__utf8_char(s, len), want = reference_char(s, len);
                        if (got != want)
                            fail_msg("%02X %02X %02X %02X len %zu: got %zu, expected %zu", s[0],
                                     s[1], s[2], s[3], len, got, want);
                    }
                }
}

#define VALIDATE(lit, off) tb__utf8_validate((const unsigned char *)(lit), sizeof(lit) - 1, (off))

static void validate_ranges(void **state)
{
    (void)state;
    size_t bad = 12345;
    assert_int_equal(tb__utf8_validate(NULL, 0, &bad), 0);
    assert_int_equal(bad, 12345); /* untouched on success */
    assert_int_equal(VALIDATE("plain ASCII, longer than eight bytes", &bad), 0);
    assert_int_equal(VALIDATE("张三丰\x01"
                              "110105\xC3\xA9\xF0\x9F\x98\x80",
                              &bad),
                     0);
    assert_int_equal(VALIDATE("\xED\x9F\xBF\xF4\x8F\xBF\xBF", NULL), 0);

    assert_int_equal(VALIDATE("\xC0\x80", &bad), TB_EFORMAT);
    assert_int_equal(bad, 0);
    assert_int_equal(VALIDATE("abcdefghij\xC1\xBF", &bad), TB_EFORMAT); /* after a fast run */
    assert_int_equal(bad, 10);
    assert_int_equal(VALIDATE("中文\xED\xA0\x80", &bad), TB_EFORMAT); /* surrogate */
    assert_int_equal(bad, 6);
    assert_int_equal(VALIDATE("ok \xF4\x90\x80\x80", &bad), TB_EFORMAT); /* above U+10FFFF */
    assert_int_equal(bad, 3);
    assert_int_equal(VALIDATE("abc\xE4\xB8", &bad), TB_EFORMAT); /* cut at the end */
    assert_int_equal(bad, 3);
    assert_int_equal(VALIDATE("abc\xE4\xB8", NULL), TB_EFORMAT);
}

/* A bad byte at each position of the eight-byte ASCII steps, and a good character there. */
static void validate_every_position(void **state)
{
    (void)state;
    unsigned char s[24];
    for (size_t at = 0; at + 3 <= sizeof s; at++) {
        memset(s, 'x', sizeof s);
        s[at] = 0xFF;
        size_t bad = 0;
        assert_int_equal(tb__utf8_validate(s, sizeof s, &bad), TB_EFORMAT);
        assert_int_equal(bad, at);
        memcpy(s + at, "\xE4\xB8\xAD", 3);
        assert_int_equal(tb__utf8_validate(s, sizeof s, &bad), 0);
        assert_int_equal(tb__utf8_validate(s, at + 2, &bad), TB_EFORMAT); /* cut mid-character */
        assert_int_equal(bad, at);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(ascii_and_two_byte),      cmocka_unit_test(three_byte_boundaries),
        cmocka_unit_test(four_byte_boundaries),    cmocka_unit_test(truncated_sequences),
        cmocka_unit_test(agrees_with_reference),   cmocka_unit_test(validate_ranges),
        cmocka_unit_test(validate_every_position),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
