/* buf.c — growable byte buffer. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "tagbase.h"

int tb__buf_reserve(tb__buf *b, size_t extra)
{
    if (extra > SIZE_MAX - b->len - 1) return TB_ENOMEM;
    size_t need = b->len + extra + 1;
    if (need <= b->cap) return 0;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    char *p = realloc(b->data, cap);
    if (!p) return TB_ENOMEM;
    b->data = p;
    b->cap = cap;
    return 0;
}

int tb__buf_append(tb__buf *b, const void *p, size_t n)
{
    int rc = tb__buf_reserve(b, n);
    if (rc) return rc;
    if (n) memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

int tb__buf_puts(tb__buf *b, const char *s)
{
    return tb__buf_append(b, s, strlen(s));
}

int tb__buf_putc(tb__buf *b, char c)
{
    if (b->len + 1 >= b->cap) {
        int rc = tb__buf_reserve(b, 1);
        if (rc) return rc;
    }
    b->data[b->len++] = c;
    b->data[b->len] = '\0';
    return 0;
}

int tb__buf_printf(tb__buf *b, const char *fmt, ...)
{
    va_list ap, ap2;
    va_start(ap, fmt);
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    int rc = n < 0 ? TB_EINVAL : tb__buf_reserve(b, (size_t)n);
    if (rc == 0) {
        vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap2);
        b->len += (size_t)n;
    }
    va_end(ap2);
    return rc;
}

/* Two digits at a time from a table: a load writes two numbers into every segment row (line
 * and gid), 150M of them at 10M customers; with a division per digit, tb__buf_put_u64 was 1.3 s
 * of the transactions' applying thread's 13.8 s (perf, 10M). */
static const char digit_pairs[201] = "00010203040506070809"
                                     "10111213141516171819"
                                     "20212223242526272829"
                                     "30313233343536373839"
                                     "40414243444546474849"
                                     "50515253545556575859"
                                     "60616263646566676869"
                                     "70717273747576777879"
                                     "80818283848586878889"
                                     "90919293949596979899";

/* Counting first lets the digits go straight to their place, last digits first. */
size_t tb__u64_digits(uint64_t v, char out[TB__U64_DIGITS_MAX])
{
    size_t n = 1;
    for (uint64_t t = v; t >= 10; t /= 10)
        n++;
    size_t i = n;
    while (v >= 100) {
        const char *d = &digit_pairs[(v % 100) * 2];
        v /= 100;
        out[--i] = d[1];
        out[--i] = d[0];
    }
    if (v >= 10) {
        out[--i] = digit_pairs[v * 2 + 1];
        out[--i] = digit_pairs[v * 2];
    } else {
        out[--i] = (char)('0' + v);
    }
    return n;
}

int tb__buf_put_u64(tb__buf *b, uint64_t v)
{
    int rc = tb__buf_reserve(b, TB__U64_DIGITS_MAX);
    if (rc) return rc;
    b->len += tb__u64_digits(v, b->data + b->len);
    b->data[b->len] = '\0';
    return 0;
}

int tb__buf_put_i64(tb__buf *b, int64_t v)
{
    if (v < 0) {
        int rc = tb__buf_putc(b, '-');
        if (rc) return rc;
        return tb__buf_put_u64(b, (uint64_t)0 - (uint64_t)v);
    }
    return tb__buf_put_u64(b, (uint64_t)v);
}

int tb__buf_put_fixed(tb__buf *b, int64_t v, int scale)
{
    if (scale < 0 || scale > 19) return TB_EINVAL; /* 10^scale must fit in 64 bits, and frac[] */
    uint64_t p = 1;
    for (int i = 0; i < scale; i++)
        p *= 10;
    uint64_t a = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    int rc = 0;
    if (v < 0) rc = tb__buf_putc(b, '-');
    if (!rc) rc = tb__buf_put_u64(b, a / p);
    if (!rc && scale > 0) {
        char frac[20];
        uint64_t f = a % p;
        for (int i = scale - 1; i >= 0; i--) {
            frac[i] = (char)('0' + f % 10);
            f /= 10;
        }
        rc = tb__buf_putc(b, '.');
        if (!rc) rc = tb__buf_append(b, frac, (size_t)scale);
    }
    return rc;
}

void tb__buf_reset(tb__buf *b)
{
    b->len = 0;
    if (b->data) b->data[0] = '\0';
}

void tb__buf_release(tb__buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}
