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

static size_t utf8_len(unsigned char c)
{
    if (c < 0x80) return 1;
    if ((c & 0xE0) == 0xC0) return 2;
    if ((c & 0xF0) == 0xE0) return 3;
    if ((c & 0xF8) == 0xF0) return 4;
    return 1; /* invalid lead byte: count it as one character, never echo it */
}

char *tb__mask_name(const char *s, size_t len, char *out, size_t outlen)
{
    if (outlen == 0) return out;
    size_t o = 0, i = 0;
    if (len > 0) {
        size_t n = utf8_len((unsigned char)s[0]);
        int valid = n <= len;
        for (size_t k = 1; valid && k < n; k++) valid = ((unsigned char)s[k] & 0xC0) == 0x80;
        if (valid && n < outlen && len > n) {
            memcpy(out, s, n);
            o = n;
        } else if (len > 0 && o + 1 < outlen) {
            out[o++] = '*';
            if (!valid) n = 1;
        }
        i = n;
    }
    while (i < len && o + 1 < outlen) {
        i += utf8_len((unsigned char)s[i]);
        out[o++] = '*';
    }
    out[o] = '\0';
    return out;
}
