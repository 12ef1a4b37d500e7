/* fuzz_bitmap.c — libFuzzer target for src/tags/bitmap.c: arbitrary bytes as a serialised bitmap
 * and as a serialised BSI, each parsed with and without checksum verification. Whatever parses
 * must then be consistent under every accessor: the words of each chunk, its cardinality, contains,
 * foreach, and for a BSI tb__bsi_get against tb__bsi_range_words under every operator. Nothing may
 * crash, read out of bounds, leak, or disagree.
 *
 * The first input byte picks the mode: even, a bitmap; odd, a BSI. For a BSI the harness rewrites
 * the header checksum (bytes 56..59) when bit 1 of the mode byte is set, so that mutations reach
 * the structure behind it instead of dying at the checksum. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/crc32c.h"
#include "common/err.h"
#include "tags/bitmap.h"
#include "tagbase.h"

#define CHECK(x)                                                                                   \
    do {                                                                                           \
        if (!(x)) __builtin_trap();                                                                \
    } while (0)

/* Ids are bounded to keep one input fast: the largest valid nbits is 2^40, which would be far
 * too many contains() calls. The first chunks are checked id by id (every step0-th id). */
#define MAX_SCAN_IDS (1u << 20)

static uint64_t g_scratch[TB__BSI_SCRATCH_WORDS];
static uint64_t g_words[TB__BM_CHUNK_WORDS];
static uint64_t g_out[TB__BM_CHUNK_WORDS];

typedef struct walk {
    const tb__bmv *v;
    uint64_t prev; /* last id + 1 */
    uint64_t n;
} walk;

static int walk_cb(uint64_t id, void *arg)
{
    walk *w = arg;
    CHECK(id >= w->prev && id < w->v->nbits);
    if (w->v->nbits <= MAX_SCAN_IDS) CHECK(tb__bmv_contains(w->v, id));
    w->prev = id + 1;
    w->n++;
    return 0;
}

static int stop_cb(uint64_t id, void *arg)
{
    (void)id;
    (void)arg;
    return 5;
}

/* Every accessor over every chunk of a view that parsed. FULL chunks cost 16 bytes of input for
 * 65,536 ids, so id-by-id checks are bounded to keep one input in the milliseconds. */
static void check_view(const tb__bmv *v, uint32_t step0)
{
    uint64_t sum = 0;
    for (uint32_t c = 0; c < v->nchunks; c++) {
        const uint64_t *w = tb__bmv_words(v, c, g_words);
        CHECK(w != NULL);
        uint32_t card = tb__bmv_chunk_card(v, c);
        CHECK(tb__bm_popcount_words(w, TB__BM_CHUNK_WORDS) == card);
        tb__bm_ctype t = tb__bmv_ctype(v, c);
        CHECK(t <= TB__BM_BITS);
        CHECK((t == TB__BM_EMPTY) == (card == 0));
        uint64_t base = (uint64_t)c * TB__BM_CHUNK_BITS;
        /* all ids of the first chunks, a stride of the others */
        uint32_t step = c < 2 ? step0 : 997;
        for (uint32_t x = c & 63; x < TB__BM_CHUNK_BITS; x += step) {
            int bit = (int)((w[x >> 6] >> (x & 63)) & 1);
            CHECK(tb__bmv_contains(v, base + x) == bit);
        }
        sum += card;
    }
    CHECK(sum == v->card);
    CHECK(!tb__bmv_contains(v, v->nbits));
    if (v->card <= MAX_SCAN_IDS) {
        walk wk = {v, 0, 0};
        CHECK(tb__bmv_foreach(v, walk_cb, &wk) == 0);
        CHECK(wk.n == v->card);
    }
    CHECK(tb__bmv_foreach(v, stop_cb, NULL) == (v->card ? 5 : 0));
}

static void fuzz_bm(const uint8_t *data, size_t size)
{
    for (int verify = 0; verify < 2; verify++) {
        tb__errbuf eb = {0};
        tb__bmv v;
        size_t used = 0;
        int rc = tb__bm_parse_safe(data, size, verify, &v, &used, &eb);
        if (rc == 0) {
            CHECK(used <= size && used % 8 == 0);
            check_view(&v, 1);
        } else {
            CHECK(rc == TB_ECORRUPT || rc == TB_EVERSION);
            CHECK(strncmp(eb.msg, "byte ", 5) == 0);
        }
    }
}

static int64_t pick(const tb__bsiv *v, uint64_t r)
{
    uint64_t range = (uint64_t)v->max - (uint64_t)v->min;
    switch (r % 8) {
    case 6:
        return (int64_t)((uint64_t)v->min + (range >> ((r >> 3) % 64)));
    case 7:
        return (int64_t)((uint64_t)v->max - (range >> ((r >> 3) % 64)));
    case 0:
        return v->min;
    case 1:
        return v->max;
    case 2:
        return v->min == INT64_MIN ? INT64_MIN : v->min - 1;
    case 3:
        return v->max == INT64_MAX ? INT64_MAX : v->max + 1;
    case 4:
        return (int64_t)((uint64_t)v->min + ((uint64_t)v->max - (uint64_t)v->min) / 2);
    default:
        return (int64_t)(r * 0x9E3779B97F4A7C15ull);
    }
}

static int match(tb__bsi_op op, int64_t x, int64_t lo, int64_t hi)
{
    switch (op) {
    case TB__BSI_EQ:
        return x == lo;
    case TB__BSI_NE:
        return x != lo;
    case TB__BSI_LT:
        return x < lo;
    case TB__BSI_LE:
        return x <= lo;
    case TB__BSI_GT:
        return x > lo;
    case TB__BSI_GE:
        return x >= lo;
    default:
        return lo <= x && x <= hi;
    }
}

/* Checks range_words against tb__bsi_get on a sample of ids of the first chunks: the first ids
 * with a value and a stride of the others. */
static void check_bsi(const tb__bsiv *v, uint64_t seed)
{
    static uint32_t ids[1024];
    static int64_t vals[1024];
    static int has[1024];
    check_view(&v->notnull, 3);
    for (uint32_t i = 0; i < v->nslices; i++)
        check_view(&v->slice[i], 61);
    uint32_t nchunks = v->notnull.nchunks < 2 ? v->notnull.nchunks : 2;
    for (uint32_t c = 0; c < nchunks; c++) {
        uint64_t base = (uint64_t)c * TB__BM_CHUNK_BITS;
        const uint64_t *nn = tb__bmv_words(&v->notnull, c, g_words);
        uint32_t n = 0;
        for (uint32_t x = 0; x < TB__BM_CHUNK_BITS && n < 768; x++)
            if ((nn[x >> 6] >> (x & 63)) & 1) ids[n++] = x;
        for (uint32_t x = (uint32_t)(seed & 255); x < TB__BM_CHUNK_BITS && n < 1024; x += 331)
            ids[n++] = x;
        for (uint32_t k = 0; k < n; k++) {
            has[k] = tb__bsi_get(v, base + ids[k], &vals[k]);
            CHECK(has[k] == tb__bmv_contains(&v->notnull, base + ids[k]));
            if (has[k]) CHECK(vals[k] >= v->min && vals[k] <= v->max);
        }
        for (int b = 0; b < 3; b++) {
            int64_t lo = pick(v, seed >> (b * 8)), hi = pick(v, seed >> (b * 8 + 4));
            /* values ids have: an EQ that matches, a BETWEEN strictly inside [min, max] */
            if (b == 2 && n && has[0]) lo = hi = vals[0];
            if (b == 1 && n > 1 && has[0] && has[n / 2]) {
                lo = vals[0] < vals[n / 2] ? vals[0] : vals[n / 2];
                hi = vals[0] < vals[n / 2] ? vals[n / 2] : vals[0];
            }
            for (int op = TB__BSI_EQ; op <= TB__BSI_BETWEEN; op++) {
                tb__bsi_range_words(v, c, (tb__bsi_op)op, lo, hi, g_out, g_scratch);
                CHECK(tb__bm_popcount_words(g_out, TB__BM_CHUNK_WORDS) <=
                      tb__bmv_chunk_card(&v->notnull, c));
                for (uint32_t k = 0; k < n; k++) {
                    int bit = (int)((g_out[ids[k] >> 6] >> (ids[k] & 63)) & 1);
                    CHECK(bit == (has[k] && match((tb__bsi_op)op, vals[k], lo, hi)));
                }
            }
        }
    }
}

static void fuzz_bsi(const uint8_t *data, size_t size, uint64_t seed)
{
    for (int verify = 0; verify < 2; verify++) {
        tb__errbuf eb = {0};
        tb__bsiv *v = malloc(sizeof *v);
        if (!v) return;
        size_t used = 0;
        int rc = tb__bsi_parse_safe(data, size, verify, v, &used, &eb);
        if (rc == 0) {
            CHECK(used <= size && used % 8 == 0);
            check_bsi(v, seed);
        } else {
            CHECK(rc == TB_ECORRUPT || rc == TB_EVERSION || rc == TB_ENOMEM);
            if (rc != TB_ENOMEM) CHECK(strncmp(eb.msg, "byte ", 5) == 0);
        }
        free(v);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    uint8_t mode = data[0];
    size--;
    /* A mapping is page-aligned: give the parsers an aligned copy (malloc is 16-byte aligned). */
    uint8_t *buf = malloc(size ? size : 1);
    if (!buf) return 0;
    if (size) memcpy(buf, data + 1, size);
    if (mode & 1) {
        if ((mode & 2) && size >= 64) {
            uint32_t crc = tb__crc32c(0, buf, 56);
            memcpy(buf + 56, &crc, 4);
        }
        uint64_t seed = 0;
        for (size_t i = 0; i < size && i < 8; i++)
            seed = seed * 131 + buf[size - 1 - i];
        fuzz_bsi(buf, size, seed ^ mode);
    } else {
        fuzz_bm(buf, size);
    }
    free(buf);
    return 0;
}
