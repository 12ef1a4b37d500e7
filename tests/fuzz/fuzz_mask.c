/* fuzz_mask.c — libFuzzer target for src/common/mask.c: every mask over arbitrary bytes and output
 * sizes, checking that the result is NUL-terminated inside `out` and never shows a hidden byte. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/mask.h"

/* A kept-ends mask may show s[i] only where the rule keeps it; everything else is '*'. */
static void check_keep(const char *s, size_t len, size_t head, size_t tail, const char *out,
                       size_t outlen)
{
    size_t o = strnlen(out, outlen);
    if (o >= outlen) __builtin_trap();
    if (o > len) __builtin_trap();
    int show = len >= head + tail + 1;
    for (size_t i = 0; i < o; i++) {
        int keep = show && (i < head || i >= len - tail);
        if (keep ? out[i] != s[i] : out[i] != '*') __builtin_trap();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    size_t outlen = data[0] % 48; /* 0 included: nothing may be written */
    const char *s = (const char *)data + 1;
    size_t len = size - 1;
    /* An exact-size heap copy lets ASan catch any read past the input's end. */
    char *in = malloc(len ? len : 1);
    char *out = malloc(outlen ? outlen : 1);
    if (!in || !out) goto out_free;
    if (len) memcpy(in, s, len);
    if (outlen == 0) {
        out[0] = 'z';
        tb__mask_id(in, len, out, 0);
        tb__mask_name(in, len, out, 0);
        if (out[0] != 'z') __builtin_trap();
        goto out_free;
    }
    tb__mask_id(in, len, out, outlen);
    check_keep(in, len, 6, 4, out, outlen);
    tb__mask_mobile(in, len, out, outlen);
    check_keep(in, len, 3, 4, out, outlen);
    tb__mask_card(in, len, out, outlen);
    check_keep(in, len, 6, 4, out, outlen);
    size_t h = (size_t)(data[0] >> 4), t = (size_t)(data[0] & 7);
    tb__mask_keep(in, len, h, t, out, outlen);
    check_keep(in, len, h, t, out, outlen);

    /* Names: an optional copy of the first character (only if more bytes follow), then stars. */
    tb__mask_name(in, len, out, outlen);
    size_t o = strnlen(out, outlen);
    if (o >= outlen) __builtin_trap();
    size_t i = 0;
    while (i < o && out[i] != '*')
        i++;
    if (i > 0 && (i > 4 || i >= len || memcmp(out, in, i) != 0)) __builtin_trap();
    for (; i < o; i++)
        if (out[i] != '*') __builtin_trap();
out_free:
    free(in);
    free(out);
    return 0;
}
