/* radix.c — LSD radix sort of records by a 128-bit key (radix.h). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/radix.h"
#include "tagbase.h"

#define DIGITS (1u << 16)

/* Records of `w` 64-bit words; inlined for each width, so that the record copy is a few moves
 * rather than a memcpy call. Passes alternate between the two buffers. */
static inline __attribute__((always_inline)) void radix_words(uint64_t *a, uint64_t *tmp,
                                                              size_t *count, size_t n, const int w)
{
    uint64_t *src = a, *dst = tmp;
    for (int pass = 0; pass < 8; pass++) {
        int word = pass < 4, shift = (pass & 3) * 16; /* the low half (word 1) first */
        memset(count, 0, DIGITS * sizeof *count);
        for (size_t i = 0; i < n; i++)
            count[src[i * w + word] >> shift & 0xffff]++;
        if (count[src[word] >> shift & 0xffff] == n) continue; /* one digit: nothing moves */
        size_t sum = 0;
        for (size_t d = 0; d < DIGITS; d++) {
            size_t c = count[d];
            count[d] = sum;
            sum += c;
        }
        for (size_t i = 0; i < n; i++) {
            uint64_t *to = dst + count[src[i * w + word] >> shift & 0xffff]++ * w;
            for (int k = 0; k < w; k++)
                to[k] = src[i * w + k];
        }
        uint64_t *t = src;
        src = dst;
        dst = t;
    }
    if (src != a) memcpy(a, src, n * (size_t)w * sizeof *a);
}

int tb__radix_sort128(void *a, size_t n, size_t size)
{
    if (size != 16 && size != 24 && size != 32) return TB_EINVAL;
    if (n < 2) return 0;
    uint64_t *tmp = malloc(n * size);
    size_t *count = malloc(DIGITS * sizeof *count);
    if (!tmp || !count) {
        free(tmp);
        free(count);
        return TB_ENOMEM;
    }
    if (size == 16)
        radix_words(a, tmp, count, n, 2);
    else if (size == 24)
        radix_words(a, tmp, count, n, 3);
    else
        radix_words(a, tmp, count, n, 4);
    free(tmp);
    free(count);
    return 0;
}
