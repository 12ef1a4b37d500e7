/* utf8.c — UTF-8 well-formedness (see utf8.h). */
#include <stdint.h>
#include <string.h>

#include "tagbase.h"
#include "utf8.h"

/* The decoder itself, static inline so that tb__utf8_validate's loop gets it inlined (a call
 * per character costs the reader ~7% on Chinese-heavy extracts). Only the second byte's range
 * depends on the lead byte (Table 3-7); later bytes are plain continuations, 80..BF. */
static inline size_t char_len(const unsigned char *s, size_t len)
{
    if (len == 0) return 0;
    unsigned char c = s[0];
    if (c < 0x80) return 1;
    size_t n;
    unsigned char lo = 0x80, hi = 0xBF; /* allowed range of the second byte */
    if (c >= 0xC2 && c <= 0xDF) {
        n = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        if (c == 0xE0) lo = 0xA0; /* E0 80..9F would be overlong */
        if (c == 0xED) hi = 0x9F; /* ED A0..BF would be a surrogate */
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        if (c == 0xF0) lo = 0x90; /* F0 80..8F would be overlong */
        if (c == 0xF4) hi = 0x8F; /* F4 90.. would be above U+10FFFF */
    } else {
        return 0; /* continuation byte, C0/C1 (always overlong) or F5..FF */
    }
    if (len < n || s[1] < lo || s[1] > hi) return 0;
    for (size_t k = 2; k < n; k++)
        if ((s[k] & 0xC0) != 0x80) return 0;
    return n;
}

size_t tb__utf8_char(const unsigned char *s, size_t len)
{
    return char_len(s, len);
}

int tb__utf8_validate(const unsigned char *s, size_t len, size_t *bad_offset)
{
    size_t i = 0;
    while (i < len) {
        /* ASCII runs dominate real extracts: test eight bytes at a time. */
        while (i + 8 <= len) {
            uint64_t w;
            memcpy(&w, s + i, 8);
            if (w & 0x8080808080808080ULL) break;
            i += 8;
        }
        if (i >= len) break;
        if (s[i] < 0x80) {
            i++;
            continue;
        }
        size_t n = char_len(s + i, len - i);
        if (n == 0) {
            if (bad_offset) *bad_offset = i;
            return TB_EFORMAT;
        }
        i += n;
    }
    return 0;
}
