/* fuzz_static.c — libFuzzer target for src/server/static.c: the path normaliser of the web
 * console's files over arbitrary bytes. Checks that an accepted path is NUL-terminated within
 * the output, relative, free of control characters and backslashes, made of non-empty segments
 * none of which starts with '.', well-formed UTF-8, and within the limits. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/utf8.h"
#include "server/static.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *in = malloc(size ? size : 1); /* exact size: ASan catches any read past the end */
    if (!in) return 0;
    memcpy(in, data, size);
    size_t cap = (size & 0xff) + 1; /* small buffers too */
    if (size & 0x100) cap = TB__STATIC_MAX_PATH + 1;
    char *out = malloc(cap);
    if (!out) goto out_in;
    const char *why = NULL;
    int rc = tb__static_path(in, size, out, cap, &why);
    if (!why) __builtin_trap();
    if (rc == 0) {
        size_t n = strnlen(out, cap);
        if (n == cap || n == 0 || n > TB__STATIC_MAX_PATH + 10) __builtin_trap();
        if (out[0] == '/' || out[n - 1] == '/') __builtin_trap();
        size_t depth = 1;
        for (size_t i = 0; i < n; i++) {
            unsigned char c = (unsigned char)out[i];
            if (c < 0x20 || c == 0x7f || c == '\\') __builtin_trap();
            if (c == '/') {
                depth++;
                if (out[i + 1] == '/' || out[i + 1] == '.') __builtin_trap();
            }
        }
        if (out[0] == '.' || depth > TB__STATIC_MAX_DEPTH + 1) __builtin_trap();
        if (tb__utf8_validate((const unsigned char *)out, n, NULL) != 0) __builtin_trap();
        (void)tb__static_mime(out);
        (void)tb__static_immutable(out);
        (void)tb__static_spa_route(out);
    } else if (!*why)
        __builtin_trap();
    free(out);
out_in:
    free(in);
    return 0;
}
