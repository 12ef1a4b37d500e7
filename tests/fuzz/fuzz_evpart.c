/* fuzz_evpart.c — libFuzzer target for the event store's readers (src/events/part.c,
 * persons.c): arbitrary bytes as a day partition (decoded with its property columns, then every
 * value touched and the image encoded again, which must succeed: what the decoder accepts is
 * what the encoder's rules allow) or, when the input starts with "TBEP", as a person table.
 * Neither may crash, read out of bounds or leak. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/crc32c.h"
#include "events/evstore.h"

static volatile uint64_t g_sink;

/* Rewrites the header and section checksums of a copy so that mutations reach the checks behind
 * them (section framing, decompression, row order, dictionaries). */
static void fix_crcs(uint8_t *b, size_t len)
{
    if (len < 64) return;
    uint32_t c = tb__crc32c(0, b, 60);
    memcpy(b + 60, &c, 4);
    size_t off = 64;
    while (len - off >= 24) {
        uint32_t clen;
        memcpy(&clen, b + off + 16, 4);
        if (clen > len - off - 24) break;
        c = tb__crc32c(tb__crc32c(0, b + off, 20), b + off + 24, clen);
        memcpy(b + off + 20, &c, 4);
        off += 24 + (size_t)clen;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    tb__errbuf eb;
    tb__clearerr(&eb);
    if (size >= 4 && memcmp(data, "TBEP", 4) == 0) {
        tb__evpersons ps;
        if (tb__evpersons_parse(data, size, &ps, &eb) == 0) {
            uint64_t acc = 0;
            for (uint32_t i = 0; i < ps.n; i++)
                acc += ps.root[ps.root[i]] + ps.gid[i];
            g_sink = acc;
            tb__evpersons_release(&ps);
        }
        return 0;
    }
    tb__evpart p;
    uint8_t *copy = malloc(size ? size : 1);
    if (!copy) return 0;
    memcpy(copy, data, size);
    fix_crcs(copy, size);
    int rc = tb__evpart_parse(copy, size, TB__EVP_PROPS, &p, &eb);
    free(copy);
    if (rc != 0) return 0;
    uint64_t acc = 0;
    for (uint32_t i = 0; i < p.nrows; i++) {
        acc += p.person[i] + p.ts[i] + strlen(p.events[p.code[i]]);
        for (uint32_t c = 0; c < p.ncols; c++) {
            const tb__evcol *col = &p.cols[c];
            if (col->type == TB__EVCOL_NUM)
                acc += isnan(col->num[i]) ? 1 : 2;
            else if (col->code[i])
                acc +=
                    col->dictlen[col->code[i] - 1] + (unsigned char)col->dict[col->code[i] - 1][0];
        }
    }
    g_sink = acc;
    tb__buf out = TB__BUF_INIT;
    if (tb__evpart_encode(&p, 1, &out, &eb) != 0) abort(); /* accepted bytes must re-encode */
    tb__buf_release(&out);
    tb__evpart_release(&p);
    return 0;
}
