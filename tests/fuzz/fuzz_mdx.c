/* fuzz_mdx.c — libFuzzer target for src/store/mdx.c: arbitrary bytes as a master-data look-up
 * image (through the validating open on memory), then every kind of look-up — exact by each
 * field, prefix, the keys of the first gids — and the body checksum. None may crash, read out of
 * bounds or leak; a damaged entry must come back as TB_ECORRUPT. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/crc32c.h"
#include "common/err.h"
#include "store/mdx.h"

static volatile uint64_t g_sink;

/* The header and section table (176 bytes) carry a CRC-32C at byte 36: the input is tried as it
 * is and with that CRC made right, so that mutations reach the section checks and the look-ups
 * behind it instead of stopping at the checksum. */
#define TABLE_END 176
#define HEAD_CRC  36

static void run(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    run(data, size);
    if (size < TABLE_END) return 0;
    uint8_t *copy = malloc(size);
    if (!copy) return 0;
    memcpy(copy, data, size);
    memset(copy + HEAD_CRC, 0, 4);
    uint32_t crc = tb__crc32c(0, copy, TABLE_END);
    memcpy(copy + HEAD_CRC, &crc, 4);
    run(copy, size);
    free(copy);
    return 0;
}

static void run(const uint8_t *data, size_t size)
{
    tb__errbuf eb = {0};
    tb__mdx *m;
    if (tb__mdx_from_bytes(data, size, &m, &eb) != 0) return;
    (void)tb__mdx_verify(m, &eb);
    uint32_t g[16];
    size_t n;
    /* queries: a few bytes from the input's end, and the empty string */
    size_t qn = size < 12 ? size : 12;
    const char *q = (const char *)data + size - qn;
    for (int f = TB__MDX_CERT; f <= TB__MDX_NAME; f++) {
        if (tb__mdx_lookup(m, (tb__mdx_field)f, q, qn, g, 16, &n, &eb) == 0)
            for (size_t i = 0; i < n && i < 16; i++)
                g_sink += g[i];
        (void)tb__mdx_lookup(m, (tb__mdx_field)f, "", 0, g, 16, &n, &eb);
    }
    if (tb__mdx_prefix(m, q, qn < 3 ? qn : 3, g, 16, &n, &eb) == 0)
        for (size_t i = 0; i < n; i++)
            g_sink += g[i];
    uint32_t np = tb__mdx_nparty(m);
    for (uint32_t gid = 0; gid < np && gid < 64; gid++) {
        tb__mdx_key k[8];
        if (tb__mdx_keys(m, gid, k, 8, &n, &eb) != 0) continue;
        for (size_t i = 0; i < n && i < 8; i++)
            g_sink +=
                (uint64_t)strlen(k[i].system) + (k[i].len ? (uint8_t)k[i].key[k[i].len - 1] : 0);
    }
    tb__mdx_close(m);
}
