/* mask.c — masking rules for personal identifiers. */
#include <string.h>

#include "mask.h"
#include "utf8.h"

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

/* The first character is shown only when it is well-formed UTF-8 and more bytes follow: a
 * one-character name, or a first byte that is not a character, is all stars. Every further
 * character (or stray byte) becomes one star. */
char *tb__mask_name(const char *s, size_t len, char *out, size_t outlen)
{
    if (outlen == 0) return out;
    const unsigned char *u = (const unsigned char *)s;
    size_t o = 0, i = 0;
    if (len > 0) {
        size_t n = tb__utf8_char(u, len);
        if (n && len > n && n < outlen) {
            memcpy(out, s, n);
            o = n;
            i = n;
        }
    }
    while (i < len && o + 1 < outlen) {
        size_t n = tb__utf8_char(u + i, len - i);
        i += n ? n : 1;
        out[o++] = '*';
    }
    out[o] = '\0';
    return out;
}
