/* buf.h — a growable byte buffer (like git's strbuf): always NUL-terminated, length explicit. */
#ifndef TB_COMMON_BUF_H
#define TB_COMMON_BUF_H

#include <stddef.h>
#include <stdint.h>

typedef struct tb__buf {
    char *data; /* NULL until the first append; then NUL-terminated */
    size_t len;
    size_t cap;
} tb__buf;

#define TB__BUF_INIT                                                                               \
    {                                                                                              \
        NULL, 0, 0                                                                                 \
    }

/* Ensures room for `extra` more bytes plus the NUL. Returns 0 or TB_ENOMEM. */
int tb__buf_reserve(tb__buf *b, size_t extra);
int tb__buf_append(tb__buf *b, const void *p, size_t n);
int tb__buf_puts(tb__buf *b, const char *s);
int tb__buf_putc(tb__buf *b, char c);
int tb__buf_printf(tb__buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Decimal integers without printf: the generator writes hundreds of millions of them. */
/* Writes the decimal digits of `v` (no sign, no leading zeros, "0" for 0) to out[0..n) without a
 * NUL and returns n, 1..20 (20 = TB__U64_DIGITS_MAX, the length of UINT64_MAX). The one digit
 * formatter of the code base: tb__buf_put_u64 and the generator's fixed buffers use it. */
#define TB__U64_DIGITS_MAX 20
size_t tb__u64_digits(uint64_t v, char out[TB__U64_DIGITS_MAX]);
int tb__buf_put_i64(tb__buf *b, int64_t v);
int tb__buf_put_u64(tb__buf *b, uint64_t v);
/* Fixed point: v / 10^scale, e.g. (123456, 2) -> "1234.56". TB_EINVAL unless 0 <= scale <= 19. */
int tb__buf_put_fixed(tb__buf *b, int64_t v, int scale);
void tb__buf_reset(tb__buf *b); /* length 0, keeps the memory */
void tb__buf_release(tb__buf *b);

#endif
