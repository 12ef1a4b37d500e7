/* mask.c — masking rules for personal identifiers. */
#include <string.h>

#include "mask.h"

char *tb__mask_keep(const char *s, size_t len, size_t head, size_t tail, char *out, size_t outlen)
{
    if (outlen == 0) return out;
    size_t o = 0;
    int show = len >= head + tail + 1;
    for (size_t i = 0; i < len && o + 1 < outlen; i++) {
        int keep = show && (i < head || i >= len - tail);
        out[o++] = keep ? s[i] : '*';
    }
    out[o] = '\0';
    return out;
}

char *tb__mask_id(const char *s, size_t len, char *out, size_t outlen)
{
    return tb__mask_keep(s, len, 6, 4, out, outlen);
}

char *tb__mask_mobile(const char *s, size_t len, char *out, size_t outlen)
{
    return tb__mask_keep(s, len, 3, 4, out, outlen);
}

char *tb__mask_card(const char *s, size_t len, char *out, size_t outlen)
{
    return tb__mask_keep(s, len, 6, 4, out, outlen);
}

/* Length of the well-formed UTF-8 character at s (1..4 bytes, no overlongs, surrogates or code
 * points above U+10FFFF), or 0 when the bytes do not start with one (invalid lead byte, bad or
 * missing continuation byte). */
static size_t utf8_char(const unsigned char *s, size_t len)
{
    unsigned char c = s[0];
    size_t n;
    unsigned char lo = 0x80, hi = 0xBF;
    if (c < 0x80) return 1;
    if (c >= 0xC2 && c <= 0xDF) {
        n = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        if (c == 0xE0) lo = 0xA0;
        if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        if (c == 0xF0) lo = 0x90;
        if (c == 0xF4) hi = 0x8F;
    } else {
        return 0;
    }
    if (len < n || s[1] < lo || s[1] > hi) return 0;
    for (size_t k = 2; k < n; k++)
        if ((s[k] & 0xC0) != 0x80) return 0;
    return n;
}

/* The first character is shown only when it is well-formed UTF-8 and more bytes follow: a
 * one-character name, or a first byte that is not a character, is all stars. Every further
 * character (or stray byte) becomes one star. */
char *tb__mask_name(const char *s, size_t len, char *out, size_t outlen)
{
    if (outlen == 0) return out;
    const unsigned char *u = (const unsigned char *)s;
    size_t o = 0, i = 0;
    if (len > 0) {
        size_t n = utf8_char(u, len);
        if (n && len > n && n < outlen) {
            memcpy(out, s, n);
            o = n;
            i = n;
        }
    }
    while (i < len && o + 1 < outlen) {
        size_t n = utf8_char(u + i, len - i);
        i += n ? n : 1;
        out[o++] = '*';
    }
    out[o] = '\0';
    return out;
}
