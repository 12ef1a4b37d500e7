/* fuzz_evpart.c — libFuzzer target for the event store's readers (src/events/part.c,
 * persons.c, evcrypt.c): arbitrary bytes as a day partition (decoded with its property columns,
 * then every value touched and the image encoded again, which must succeed: what the decoder
 * accepts is what the encoder's rules allow) or, when the input starts with "TBEP", as a person
 * table. Sealed files (an encrypted store): an input starting with "TBS1" is opened as a sealed
 * image with a fixed key file (framing, cut, extended and unauthenticated chunks); one starting
 * with "TBSX" has the rest sealed by the harness under that key, in chunks of 1 to 256 bytes
 * chosen by its fifth byte, and the result must open to exactly the rest, which is then decoded
 * as a partition. None may crash, read out of bounds or leak. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/crc32c.h"
#include "events/evcrypt.h"
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

#define NAME "events/parts/20261122.tbev"

static tb__keyring *g_ring;

static void free_ring(void)
{
    tb__keyring_free(g_ring); /* its memory is libsodium's, which LeakSanitizer does not scan */
}

static tb__keyring *ring(void)
{
    if (!g_ring) {
        tb__errbuf eb;
        uint32_t id;
        if (tb__keyring_new("/nonexistent/fuzz.key", &g_ring, &eb) ||
            tb__keyring_add(g_ring, &id, &eb))
            abort();
        atexit(free_ring);
    }
    return g_ring;
}

/* Seals p[0, n) as a sealed image in chunks of `chunk` bytes (the stream API directly, so that
 * multi-chunk images are reached with small inputs). */
static int seal_chunks(const uint8_t *p, size_t n, size_t chunk, tb__buf *out)
{
    tb__c2_stream s;
    int rc = tb__c2_stream_seal_init(&s, tb__keyring_newest(ring()), NAME, strlen(NAME), out);
    for (size_t at = 0; !rc;) {
        size_t len = n - at < chunk ? n - at : chunk;
        int final = at + len == n;
        rc = tb__c2_stream_seal(&s, p + at, len, final, out);
        at += len;
        if (final) break;
    }
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    tb__errbuf eb;
    tb__clearerr(&eb);
    char *plain = NULL;
    size_t plen = 0;
    uint32_t kid;
    if (size >= 4 && memcmp(data, "TBS1", 4) == 0) {
        uint8_t *copy = malloc(size);
        if (!copy) return 0;
        memcpy(copy, data, size); /* exact size: ASan sees a read past the end */
        if (tb__ev_open_image(ring(), NAME, copy, size, &plain, &plen, &kid, &eb) == 0) {
            if (!plain && size >= TB__C2_STREAM_HEADER) abort(); /* taken as sealed */
            free(plain);
        }
        free(copy);
        return 0;
    }
    if (size >= 5 && memcmp(data, "TBSX", 4) == 0) {
        tb__buf img = TB__BUF_INIT;
        if (seal_chunks(data + 5, size - 5, (size_t)data[4] + 1, &img)) abort();
        if (tb__ev_open_image(ring(), NAME, img.data, img.len, &plain, &plen, &kid, &eb) != 0 ||
            !plain || plen != size - 5 || memcmp(plain, data + 5, plen) != 0)
            abort(); /* what is sealed opens to exactly itself */
        tb__buf_release(&img);
        data = (const uint8_t *)plain;
        size = plen;
    }
    if (size >= 4 && memcmp(data, "TBEP", 4) == 0) {
        tb__evpersons ps;
        if (tb__evpersons_parse(data, size, &ps, &eb) == 0) {
            uint64_t acc = 0;
            for (uint32_t i = 0; i < ps.n; i++)
                acc += ps.root[ps.root[i]] + ps.gid[i];
            g_sink = acc;
            tb__evpersons_release(&ps);
        }
        free(plain);
        return 0;
    }
    tb__evpart p;
    uint8_t *copy = malloc(size ? size : 1);
    if (!copy) {
        free(plain);
        return 0;
    }
    memcpy(copy, data, size);
    fix_crcs(copy, size);
    int rc = tb__evpart_parse(copy, size, TB__EVP_PROPS, &p, &eb);
    free(copy);
    free(plain);
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
