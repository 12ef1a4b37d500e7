/* crc32c.c — CRC-32C: a slicing-by-8 table in portable C and, on x86-64, the SSE4.2 crc32
 * instruction chosen by a run-time cpuid check (a binary built for any x86-64 still runs on CPUs
 * without SSE4.2). */
#include <pthread.h>
#include <string.h>

#include "common/crc32c.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <nmmintrin.h>
#define HAVE_X86_CRC 1
#endif

#define POLY 0x82F63B78u /* 0x1EDC6F41 bit-reversed: the table-driven form works LSB first */

/* Eight 256-entry tables let the loop fold eight bytes per step with independent look-ups. Built
 * once, on first use, under pthread_once so that concurrent first callers are safe. */
static uint32_t g_tab[8][256];
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

static void build_tables(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = (c >> 1) ^ (POLY & (0u - (c & 1u)));
        g_tab[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; i++)
        for (int t = 1; t < 8; t++)
            g_tab[t][i] = (g_tab[t - 1][i] >> 8) ^ g_tab[0][g_tab[t - 1][i] & 0xFF];
}

uint32_t tb__crc32c_sw(uint32_t crc, const void *p, size_t len)
{
    const unsigned char *b = p;
    (void)pthread_once(&g_once, build_tables);
    crc = ~crc;
    while (len && ((uintptr_t)b & 7)) {
        crc = (crc >> 8) ^ g_tab[0][(crc ^ *b++) & 0xFF];
        len--;
    }
    while (len >= 8) {
        uint64_t w;
        memcpy(&w, b, 8); /* little-endian hosts only: the snapshot format already requires it */
        w ^= crc;
        crc = g_tab[7][w & 0xFF] ^ g_tab[6][(w >> 8) & 0xFF] ^ g_tab[5][(w >> 16) & 0xFF] ^
              g_tab[4][(w >> 24) & 0xFF] ^ g_tab[3][(w >> 32) & 0xFF] ^ g_tab[2][(w >> 40) & 0xFF] ^
              g_tab[1][(w >> 48) & 0xFF] ^ g_tab[0][w >> 56];
        b += 8;
        len -= 8;
    }
    while (len--)
        crc = (crc >> 8) ^ g_tab[0][(crc ^ *b++) & 0xFF];
    return ~crc;
}

#ifdef HAVE_X86_CRC
/* One crc32 instruction per 8 bytes; its 3-cycle latency caps this at about 8 bytes every 3 cycles
 * (several GB/s), far beyond what a scan of a column needs. */
__attribute__((target("sse4.2"))) static uint32_t crc_hw(uint32_t crc, const void *p, size_t len)
{
    const unsigned char *b = p;
    uint64_t c = ~crc;
    while (len && ((uintptr_t)b & 7)) {
        c = _mm_crc32_u8((uint32_t)c, *b++);
        len--;
    }
    while (len >= 8) {
        uint64_t w;
        memcpy(&w, b, 8);
        c = _mm_crc32_u64(c, w);
        b += 8;
        len -= 8;
    }
    while (len--)
        c = _mm_crc32_u8((uint32_t)c, *b++);
    return ~(uint32_t)c;
}
#endif

int tb__crc32c_hw(void)
{
#ifdef HAVE_X86_CRC
    return __builtin_cpu_supports("sse4.2") ? 1 : 0;
#else
    return 0;
#endif
}

uint32_t tb__crc32c(uint32_t crc, const void *p, size_t len)
{
    if (len == 0) return crc;
#ifdef HAVE_X86_CRC
    if (__builtin_cpu_supports("sse4.2")) return crc_hw(crc, p, len);
#endif
    return tb__crc32c_sw(crc, p, len);
}
