/* fuzz_http.c — libFuzzer target for src/server/http.c: the request target (percent-decoding of
 * path segments and query parameters), the Cookie header and JSON bodies, over arbitrary bytes.
 * Checks that every decoded piece is NUL-free, well-formed UTF-8 without control characters, and
 * no longer than its input. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/utf8.h"
#include "server/http.h"

/* A decoded piece must be what tb__http_pct_decode promises. */
static void check_piece(const char *s, size_t maxlen)
{
    size_t n = strlen(s);
    if (n > maxlen) __builtin_trap();
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) __builtin_trap();
    if (tb__utf8_validate((const unsigned char *)s, n, NULL) != 0) __builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* An exact-size heap copy lets ASan catch any read past the input's end. */
    char *in = malloc(size ? size : 1);
    if (!in) return 0;
    memcpy(in, data, size);

    tb__arena a;
    tb__arena_init(&a, 4096);
    tb__target t;
    const char *why;
    if (tb__http_parse_target(&a, in, size, &t, &why) == 0) {
        if (t.nsegs > TB__HTTP_MAX_SEGS || t.nquery > TB__HTTP_MAX_QUERY) __builtin_trap();
        for (size_t i = 0; i < t.nsegs; i++)
            check_piece(t.segs[i], size);
        for (size_t i = 0; i < t.nquery; i++) {
            check_piece(t.query[i].key, size);
            check_piece(t.query[i].val, size);
            if (tb__http_query(&t, t.query[i].key) == NULL) __builtin_trap();
        }
    } else if (!why || !*why)
        __builtin_trap();
    tb__arena_release(&a);

    char *out = malloc(size + 1);
    if (out) {
        long n = tb__http_pct_decode(in, size, size & 1, out);
        if (n >= 0) check_piece(out, size);
        free(out);
    }

    size_t vlen;
    const char *v = tb__http_cookie(in, size, "tb_session", &vlen);
    if (v && (v < in || v + vlen > in + size)) __builtin_trap();

    json_t *doc = NULL;
    char err[256];
    if (tb__http_json_body(in, size, &doc, err, sizeof err) == 0) {
        if (!json_is_object(doc)) __builtin_trap();
        json_decref(doc);
    } else if (doc)
        __builtin_trap();
    free(in);
    return 0;
}
