/* test_bitmap.c — tests src/tags/bitmap.c: bitmaps of every density (empty, one id, sparse, dense,
 * full chunks, a short last chunk, nbits 0) built in order and out of order, serialised, parsed and
 * read back through every accessor against a naive bit array; tb__bm_or_words; popcount; the BSI
 * with random values (negative, the whole int64 range, NULLs, one value, none) under every
 * operator and bounds inside and outside [min, max] against a naive loop; and damaged input
 * (truncated, flipped bytes, crafted offsets, types, orders and slices) refused with TB_ECORRUPT.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "common/crc32c.h"
#include "common/rng.h"
#include "tags/bitmap.h"
#include "tagbase.h"

#define CH TB__BM_CHUNK_BITS
#define NW TB__BM_CHUNK_WORDS

/* ---- helpers -------------------------------------------------------------------------------- */

/* A naive bitmap: one byte per id. */
typedef struct naive {
    uint64_t nbits;
    uint8_t *b;
} naive;

static naive naive_new(uint64_t nbits)
{
    naive n = {nbits, calloc(nbits + 1, 1)};
    assert_non_null(n.b);
    return n;
}

static uint64_t naive_card(const naive *n)
{
    uint64_t c = 0;
    for (uint64_t i = 0; i < n->nbits; i++)
        c += n->b[i];
    return c;
}

/* Copies serialised bytes to a fresh 8-byte aligned block, as a mapping would hold them. */
static uint8_t *aligned_copy(const void *p, size_t n)
{
    uint8_t *q = aligned_alloc(64, (n + 63) & ~(size_t)63);
    assert_non_null(q);
    memcpy(q, p, n);
    return q;
}

static uint32_t nchunks_of(uint64_t nbits)
{
    return (uint32_t)((nbits + CH - 1) / CH);
}

static uint32_t chunk_size(uint64_t nbits, uint32_t c)
{
    uint64_t left = nbits - (uint64_t)c * CH;
    return left < CH ? (uint32_t)left : CH;
}

typedef struct fe {
    const naive *n;
    uint64_t next; /* the id foreach must give next */
    uint64_t seen;
    uint64_t stop_at; /* returns 7 at this count (0: never) */
} fe;

static int fe_cb(uint64_t id, void *arg)
{
    fe *f = arg;
    /* ascending, and exactly the set ids */
    assert_true(id >= f->next);
    for (uint64_t i = f->next; i < id; i++)
        assert_int_equal(f->n->b[i], 0);
    assert_int_equal(f->n->b[id], 1);
    f->next = id + 1;
    f->seen++;
    return f->stop_at && f->seen == f->stop_at ? 7 : 0;
}

/* Every accessor of the view against the naive bitmap. */
static void check_view(const tb__bmv *v, const naive *n)
{
    uint64_t *scratch = malloc(NW * 8);
    assert_non_null(scratch);
    assert_int_equal(v->nbits, n->nbits);
    assert_int_equal(v->nchunks, nchunks_of(n->nbits));
    assert_int_equal(v->card, naive_card(n));
    uint64_t sum = 0;
    for (uint32_t c = 0; c < v->nchunks; c++) {
        uint32_t size = chunk_size(n->nbits, c);
        memset(scratch, 0xA5, NW * 8); /* words must not depend on what scratch held */
        const uint64_t *w = tb__bmv_words(v, c, scratch);
        assert_non_null(w);
        assert_int_equal(((uintptr_t)w) & 7, 0);
        uint32_t card = tb__bmv_chunk_card(v, c);
        assert_int_equal(tb__bm_popcount_words(w, NW), card);
        for (uint32_t x = 0; x < CH; x++) {
            int bit = (int)((w[x >> 6] >> (x & 63)) & 1);
            int want = x < size ? n->b[(uint64_t)c * CH + x] : 0;
            if (bit != want) fail_msg("chunk %u id %u: word bit %d, expected %d", c, x, bit, want);
        }
        tb__bm_ctype t = tb__bmv_ctype(v, c);
        tb__bm_ctype want = card == 0                  ? TB__BM_EMPTY
                            : card == size             ? TB__BM_FULL
                            : card <= TB__BM_ARRAY_MAX ? TB__BM_ARRAY
                                                       : TB__BM_BITS;
        assert_int_equal(t, want);
        sum += card;
    }
    assert_int_equal(sum, v->card);
    for (uint64_t i = 0; i < n->nbits; i++)
        if (tb__bmv_contains(v, i) != n->b[i]) fail_msg("contains(%llu)", (unsigned long long)i);
    assert_int_equal(tb__bmv_contains(v, n->nbits), 0);
    assert_int_equal(tb__bmv_contains(v, UINT64_MAX), 0);
    fe f = {n, 0, 0, 0};
    assert_int_equal(tb__bmv_foreach(v, fe_cb, &f), 0);
    assert_int_equal(f.seen, v->card);
    for (uint64_t i = f.next; i < n->nbits; i++)
        assert_int_equal(n->b[i], 0);
    if (v->card >= 3) {
        fe g = {n, 0, 0, v->card / 2 + 1};
        assert_int_equal(tb__bmv_foreach(v, fe_cb, &g), 7);
        assert_int_equal(g.seen, v->card / 2 + 1);
    }
    free(scratch);
}

/* Serialises, parses (checksum verified) and checks the view; returns the serialised size. */
static size_t round_trip(const tb__bm_builder *b, const naive *n)
{
    tb__buf out = TB__BUF_INIT;
    assert_int_equal(tb__bm_serialize(b, &out), 0);
    assert_int_equal(out.len % 8, 0);
    uint8_t *p = aligned_copy(out.data, out.len);
    tb__bmv v;
    size_t used = 0;
    tb__errbuf eb = {0};
    int rc = tb__bm_parse_safe(p, out.len, 1, &v, &used, &eb);
    if (rc) fail_msg("parse: %s", eb.msg);
    assert_int_equal(used, out.len);
    check_view(&v, n);
    /* Trailing bytes are not part of the bitmap: used says where it ends. */
    uint8_t *q = aligned_copy(out.data, out.len);
    q = realloc(q, out.len + 16);
    memset(q + out.len, 0x5A, 16);
    assert_int_equal(tb__bm_parse_safe(q, out.len + 16, 1, &v, &used, &eb), 0);
    assert_int_equal(used, out.len);
    size_t len = out.len;
    free(q);
    free(p);
    tb__buf_release(&out);
    return len;
}

/* Density models for one chunk. */
enum { D_EMPTY, D_ONE, D_SPARSE, D_ARRAY_MAX, D_ARRAY_MAX1, D_DENSE, D_FULL, D_NEARFULL, D_NMODEL };

/* Fills the naive bitmap chunk by chunk by model (model < 0: random per chunk). */
static void fill(naive *n, tb__rng *r, int model)
{
    for (uint32_t c = 0; c < nchunks_of(n->nbits); c++) {
        uint32_t size = chunk_size(n->nbits, c);
        uint8_t *b = n->b + (uint64_t)c * CH;
        int m = model >= 0 ? model : (int)tb__rng_below(r, D_NMODEL);
        switch (m) {
        case D_EMPTY:
            break;
        case D_ONE:
            b[tb__rng_below(r, size)] = 1;
            break;
        case D_SPARSE: {
            uint32_t k = (uint32_t)tb__rng_below(r, 400) + 1;
            for (uint32_t i = 0; i < k; i++)
                b[tb__rng_below(r, size)] = 1;
            break;
        }
        case D_ARRAY_MAX:
        case D_ARRAY_MAX1: {
            /* exactly 4096 or 4097 ids (or as many as fit) */
            uint32_t want = m == D_ARRAY_MAX ? TB__BM_ARRAY_MAX : TB__BM_ARRAY_MAX + 1;
            if (want > size) want = size;
            uint32_t have = 0;
            while (have < want) {
                uint64_t x = tb__rng_below(r, size);
                if (!b[x]) {
                    b[x] = 1;
                    have++;
                }
            }
            break;
        }
        case D_DENSE:
            for (uint32_t i = 0; i < size; i++)
                b[i] = tb__rng_chance(r, 0.3);
            break;
        case D_FULL:
            memset(b, 1, size);
            break;
        case D_NEARFULL:
            memset(b, 1, size);
            b[tb__rng_below(r, size)] = 0;
            break;
        }
    }
}

/* Builds from the naive bitmap: ascending, descending or shuffled with repeats. */
static tb__bm_builder *build(const naive *n, tb__rng *r, int order)
{
    tb__bm_builder *b;
    assert_int_equal(tb__bm_builder_create(n->nbits, &b), 0);
    if (order == 0) {
        for (uint64_t i = 0; i < n->nbits; i++)
            if (n->b[i]) assert_int_equal(tb__bm_set(b, i), 0);
    } else if (order == 1) {
        for (uint64_t i = n->nbits; i-- > 0;)
            if (n->b[i]) assert_int_equal(tb__bm_set(b, i), 0);
    } else {
        uint64_t cnt = naive_card(n), k = 0;
        uint64_t *ids = malloc((cnt + 1) * 8);
        assert_non_null(ids);
        for (uint64_t i = 0; i < n->nbits; i++)
            if (n->b[i]) ids[k++] = i;
        for (uint64_t i = cnt; i > 1; i--) {
            uint64_t j = tb__rng_below(r, i);
            uint64_t t = ids[i - 1];
            ids[i - 1] = ids[j];
            ids[j] = t;
        }
        for (uint64_t i = 0; i < cnt; i++) {
            assert_int_equal(tb__bm_set(b, ids[i]), 0);
            if (tb__rng_chance(r, 0.1)) assert_int_equal(tb__bm_set(b, ids[i]), 0);
        }
        free(ids);
    }
    assert_int_equal(tb__bm_builder_cardinality(b), naive_card(n));
    return b;
}

/* ---- bitmaps -------------------------------------------------------------------------------- */

static void bitmap_densities(void **state)
{
    (void)state;
    static const uint64_t sizes[] = {1, 100, 64, 65536, 65537, 3 * 65536 + 1000, 5 * 65536};
    tb__rng r;
    tb__rng_seed(&r, 42, 1);
    for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++) {
        for (int model = -1; model < D_NMODEL; model++) {
            naive n = naive_new(sizes[s]);
            fill(&n, &r, model);
            for (int order = 0; order < 3; order++) {
                tb__bm_builder *b = build(&n, &r, order);
                round_trip(b, &n);
                tb__bm_builder_free(b);
            }
            free(n.b);
        }
    }
}

/* Per-chunk random models over many chunks, including short last chunks. */
static void bitmap_mixed_chunks(void **state)
{
    (void)state;
    tb__rng r;
    tb__rng_seed(&r, 7, 2);
    for (int iter = 0; iter < 6; iter++) {
        uint64_t nbits = 8 * CH + tb__rng_below(&r, CH);
        naive n = naive_new(nbits);
        fill(&n, &r, -1);
        tb__bm_builder *b = build(&n, &r, iter % 3);
        round_trip(b, &n);
        tb__bm_builder_free(b);
        free(n.b);
    }
}

static void bitmap_zero_bits(void **state)
{
    (void)state;
    naive n = naive_new(0);
    tb__bm_builder *b;
    assert_int_equal(tb__bm_builder_create(0, &b), 0);
    assert_int_equal(tb__bm_set(b, 0), TB_EINVAL);
    uint64_t w[NW] = {0};
    assert_int_equal(tb__bm_or_words(b, 0, w), TB_EINVAL);
    assert_int_equal(round_trip(b, &n), 40);
    tb__bm_builder_free(b);
    free(n.b);
}

static void bitmap_empty_view(void **state)
{
    (void)state;
    tb__bmv v;
    tb__bmv_empty(&v, 3 * CH + 5);
    naive n = naive_new(3 * CH + 5);
    check_view(&v, &n);
    free(n.b);
}

static void bitmap_builder_errors(void **state)
{
    (void)state;
    tb__bm_builder *b = (void *)1;
    assert_int_equal(tb__bm_builder_create(TB__BM_MAX_BITS + 1, &b), TB_EINVAL);
    assert_null(b);
    assert_int_equal(tb__bm_builder_create(1000, &b), 0);
    assert_int_equal(tb__bm_set(b, 1000), TB_EINVAL);
    assert_int_equal(tb__bm_set(b, UINT64_MAX), TB_EINVAL);
    assert_int_equal(tb__bm_set(b, 999), 0);
    assert_int_equal(tb__bm_set(b, 999), 0);
    assert_int_equal(tb__bm_builder_cardinality(b), 1);
    uint64_t w[NW] = {0};
    assert_int_equal(tb__bm_or_words(b, 1, w), TB_EINVAL);
    tb__bm_builder_free(b);
    tb__bm_builder_free(NULL);
    /* The largest universe: the chunk table is allocated, nothing else. */
    assert_int_equal(tb__bm_builder_create(TB__BM_MAX_BITS, &b), 0);
    assert_int_equal(tb__bm_set(b, TB__BM_MAX_BITS - 1), 0);
    assert_int_equal(tb__bm_set(b, TB__BM_MAX_BITS), TB_EINVAL);
    tb__bm_builder_free(b);
}

/* tb__bm_or_words into chunks that are empty, arrays and blocks, sparse and dense words. */
static void bitmap_or_words(void **state)
{
    (void)state;
    tb__rng r;
    tb__rng_seed(&r, 9, 3);
    uint64_t nbits = 4 * CH + 777;
    for (int iter = 0; iter < 8; iter++) {
        naive n = naive_new(nbits);
        fill(&n, &r, -1);
        tb__bm_builder *b = build(&n, &r, iter % 3);
        uint64_t w[NW];
        for (int k = 0; k < 12; k++) {
            uint32_t c = (uint32_t)tb__rng_below(&r, nchunks_of(nbits));
            uint32_t size = chunk_size(nbits, c);
            double p = (double[]){0.0, 0.0005, 0.05, 0.5, 1.0}[tb__rng_below(&r, 5)];
            memset(w, 0, sizeof w);
            for (uint32_t x = 0; x < size; x++)
                if (tb__rng_chance(&r, p)) {
                    w[x >> 6] |= (uint64_t)1 << (x & 63);
                    n.b[(uint64_t)c * CH + x] = 1;
                }
            assert_int_equal(tb__bm_or_words(b, c, w), 0);
            assert_int_equal(tb__bm_builder_cardinality(b), naive_card(&n));
            if (k % 4 == 0) {
                /* sets after an OR land in whatever the OR left */
                uint64_t id = (uint64_t)c * CH + tb__rng_below(&r, size);
                assert_int_equal(tb__bm_set(b, id), 0);
                n.b[id] = 1;
            }
        }
        round_trip(b, &n);
        tb__bm_builder_free(b);
        free(n.b);
    }
}

/* The serialised form appended behind arbitrary bytes still parses once placed aligned. */
static void bitmap_append_unaligned(void **state)
{
    (void)state;
    tb__rng r;
    tb__rng_seed(&r, 5, 4);
    naive n = naive_new(2 * CH + 3);
    fill(&n, &r, -1);
    n.b[2 * CH + 2] = 1;
    tb__bm_builder *b = build(&n, &r, 0);
    tb__buf out = TB__BUF_INIT;
    assert_int_equal(tb__buf_append(&out, "abc", 3), 0);
    assert_int_equal(tb__bm_serialize(b, &out), 0);
    size_t first = out.len - 3;
    assert_int_equal(tb__bm_serialize(b, &out), 0);
    assert_int_equal(out.len, 3 + 2 * first);
    assert_memory_equal(out.data + 3, out.data + 3 + first, first);
    uint8_t *p = aligned_copy(out.data + 3, first);
    tb__bmv v;
    tb__errbuf eb = {0};
    assert_int_equal(tb__bm_parse_safe(p, first, 1, &v, NULL, &eb), 0);
    check_view(&v, &n);
    /* An unaligned buffer is the caller's mistake, not damage. */
    assert_int_equal(tb__bm_parse_safe(out.data + 3, first, 1, &v, NULL, &eb), TB_EINVAL);
    free(p);
    tb__buf_release(&out);
    tb__bm_builder_free(b);
    free(n.b);
}

static void popcount_matches(void **state)
{
    (void)state;
    tb__rng r;
    tb__rng_seed(&r, 11, 5);
    uint64_t w[2100];
    for (size_t i = 0; i < 2100; i++)
        w[i] = tb__rng_next(&r) & tb__rng_next(&r);
    for (size_t n = 0; n < 2100; n += 1 + n / 8) {
        for (size_t off = 0; off < 4; off++) {
            uint64_t want = 0;
            for (size_t i = 0; i < n && off + i < 2100; i++)
                want += (uint64_t)__builtin_popcountll(w[off + i]);
            size_t len = n + off <= 2100 ? n : 2100 - off;
            assert_int_equal(tb__bm_popcount_words(w + off, len), want);
        }
    }
    memset(w, 0xFF, sizeof w);
    assert_int_equal(tb__bm_popcount_words(w, 1024), 65536);
}

/* ---- damaged bitmaps ------------------------------------------------------------------------ */

/* A small bitmap with every container type; caller frees *p. */
static size_t small_bitmap(uint8_t **p)
{
    tb__bm_builder *b;
    assert_int_equal(tb__bm_builder_create(3 * CH + 100, &b), 0);
    for (uint64_t i = 0; i < 10; i++)
        assert_int_equal(tb__bm_set(b, i * 3), 0); /* chunk 0: ARRAY */
    for (uint64_t i = 0; i < 5000; i++)
        assert_int_equal(tb__bm_set(b, CH + i * 7), 0); /* chunk 1: BITS */
    /* chunk 2: EMPTY */
    for (uint64_t i = 0; i < 100; i++)
        assert_int_equal(tb__bm_set(b, 3 * CH + i), 0); /* chunk 3: FULL (short) */
    tb__buf out = TB__BUF_INIT;
    assert_int_equal(tb__bm_serialize(b, &out), 0);
    tb__bm_builder_free(b);
    *p = aligned_copy(out.data, out.len);
    size_t n = out.len;
    tb__buf_release(&out);
    return n;
}

static int parse_err(uint8_t *p, size_t len, int verify, tb__errbuf *eb)
{
    tb__bmv v;
    size_t used = 99;
    int rc = tb__bm_parse_safe(p, len, verify, &v, &used, eb);
    if (rc) {
        assert_int_equal(used, 0);
        assert_int_equal(v.nchunks, 0);
        assert_non_null(strstr(eb->msg, "byte "));
    }
    return rc;
}

static void reseal(uint8_t *p, size_t len)
{
    uint32_t crc = tb__crc32c(0, p, 28);
    crc = tb__crc32c(crc, p + 32, len - 32);
    memcpy(p + 28, &crc, 4);
}

static void bitmap_truncated(void **state)
{
    (void)state;
    uint8_t *p;
    size_t len = small_bitmap(&p);
    tb__errbuf eb = {0};
    assert_int_equal(parse_err(p, len, 1, &eb), 0);
    for (size_t n = 0; n < len; n++) {
        int rc = parse_err(p, n, 0, &eb);
        if (rc != TB_ECORRUPT) fail_msg("truncated to %zu: rc %d", n, rc);
    }
    free(p);
}

static void bitmap_flipped_bytes(void **state)
{
    (void)state;
    uint8_t *p;
    size_t len = small_bitmap(&p);
    tb__errbuf eb = {0};
    for (size_t i = 0; i < len; i++) {
        for (int bit = 0; bit < 8; bit += 3) {
            p[i] ^= (uint8_t)(1u << bit);
            int rc = parse_err(p, len, 1, &eb);
            int ok = rc == TB_ECORRUPT || (rc == TB_EVERSION && i >= 4 && i < 8);
            if (!ok) fail_msg("flipped byte %zu bit %d: rc %d", i, bit, rc);
            p[i] ^= (uint8_t)(1u << bit);
        }
    }
    assert_int_equal(parse_err(p, len, 1, &eb), 0);
    free(p);
}

/* Crafted damage with a valid checksum: only the structural checks can catch it. */
static void bitmap_crafted(void **state)
{
    (void)state;
    uint8_t *p;
    size_t len = small_bitmap(&p);
    uint8_t *q = malloc(len);
    tb__errbuf eb = {0};
    size_t dir = 40, payload = 40 + 4 * 16;
#define CRAFT(edit, want_rc, needle)                                                               \
    do {                                                                                           \
        memcpy(q, p, len);                                                                         \
        edit;                                                                                      \
        reseal(q, len);                                                                            \
        assert_int_equal(parse_err(q, len, 1, &eb), want_rc);                                      \
        if (!strstr(eb.msg, needle)) fail_msg("message '%s' lacks '%s'", eb.msg, needle);          \
    } while (0)
    CRAFT(q[0] = 'X', TB_ECORRUPT, "byte 0: bad magic");
    CRAFT(q[4] = 2, TB_EVERSION, "byte 4: ");
    CRAFT(q[4] = 0, TB_ECORRUPT, "byte 4: ");
    CRAFT(q[8] ^= 1, TB_ECORRUPT, "byte 88: chunk 3: 100 ids in a container of type 1");
    CRAFT(q[13] = 1, TB_ECORRUPT, "byte 8: nbits");                 /* nbits > 2^40 */
    CRAFT(q[24] = 5, TB_ECORRUPT, "byte 24: 5 chunks, expected 4"); /* nchunks */
    CRAFT(q[16] += 1, TB_ECORRUPT, "byte 16: cardinality");         /* card */
    CRAFT(q[32] += 8, TB_ECORRUPT, "byte 32: payload");             /* payload length */
    CRAFT(q[33] = 0x70, TB_ECORRUPT, "byte 32: payload");           /* payload beyond file */
    CRAFT(q[dir] = 9, TB_ECORRUPT, "byte 40: chunk 0: container type 9");
    CRAFT(q[dir] = TB__BM_BITS, TB_ECORRUPT, "byte 40: chunk 0: 10 ids in a container of type 3");
    CRAFT(q[dir + 1] = 1, TB_ECORRUPT, "byte 41: chunk 0: padding");
    CRAFT(q[dir + 4] = 11, TB_ECORRUPT, "byte 124: chunk 0: array id 0 follows 27");
    CRAFT(q[dir + 16 + 8] = 8, TB_ECORRUPT, "byte 64: chunk 1: payload offset 8, expected 24");
    CRAFT(q[dir + 48 + 6] = 1, TB_ECORRUPT, "byte 92: chunk 3: 65636 ids");
    /* chunk 0's ids are 0, 3, 6, ...: make the third equal the second */
    CRAFT(q[payload + 4] = 3, TB_ECORRUPT, "byte 108: chunk 0: array id 3 follows 3");
    CRAFT(q[payload + 18] = 0, TB_ECORRUPT, "byte 122: chunk 0: array id 0 follows 24");
    CRAFT(q[payload + 22] = 1, TB_ECORRUPT, "byte 126: chunk 0: padding byte is 1");
    /* a bit in the BITS block that the directory does not count */
    CRAFT(q[payload + 24 + 1] ^= 0x80, TB_ECORRUPT, "chunk 1: 5001 bits set");
#undef CRAFT
    /* A bit past nbits in a short last BITS chunk. */
    tb__bm_builder *b;
    assert_int_equal(tb__bm_builder_create(CH + 5000, &b), 0);
    for (uint64_t i = 0; i < 4500; i++)
        assert_int_equal(tb__bm_set(b, CH + i), 0);
    tb__buf out = TB__BUF_INIT;
    assert_int_equal(tb__bm_serialize(b, &out), 0);
    uint8_t *r = aligned_copy(out.data, out.len);
    /* chunk 1 is BITS (4500 ids) at payload offset 0; set id 5000 (word 78 bit 8), clear id 0 */
    size_t bits = 40 + 2 * 16;
    r[bits + 78 * 8 + 1] |= 1;
    r[bits] &= 0xFE;
    reseal(r, out.len);
    assert_int_equal(parse_err(r, out.len, 1, &eb), TB_ECORRUPT);
    assert_non_null(strstr(eb.msg, "bit set at id 70536, expected none at or past nbits"));
    free(r);
    tb__buf_release(&out);
    tb__bm_builder_free(b);
    /* The checksum alone: a flipped payload bit that keeps the structure is caught only by
     * verify. */
    memcpy(q, p, len);
    q[payload + 24 + 1] ^= 0x80; /* sets id 15 of chunk 1 */
    q[payload + 24] ^= 0x01;     /* clears id 0 of chunk 1: the same count */
    assert_int_equal(parse_err(q, len, 0, &eb), 0);
    assert_int_equal(parse_err(q, len, 1, &eb), TB_ECORRUPT);
    assert_non_null(strstr(eb.msg, "byte 28: checksum is 0x"));
    free(q);
    free(p);
}

/* ---- bit-sliced index ----------------------------------------------------------------------- */

typedef struct nvals {
    uint64_t nbits;
    uint8_t *has;
    int64_t *v;
} nvals;

static int naive_match(tb__bsi_op op, int64_t v, int64_t lo, int64_t hi)
{
    switch (op) {
    case TB__BSI_EQ:
        return v == lo;
    case TB__BSI_NE:
        return v != lo;
    case TB__BSI_LT:
        return v < lo;
    case TB__BSI_LE:
        return v <= lo;
    case TB__BSI_GT:
        return v > lo;
    case TB__BSI_GE:
        return v >= lo;
    case TB__BSI_BETWEEN:
        return lo <= v && v <= hi;
    }
    return -1;
}

static int64_t sat_add(int64_t a, int64_t d)
{
    if (d > 0 && a > INT64_MAX - d) return INT64_MAX;
    if (d < 0 && a < INT64_MIN - d) return INT64_MIN;
    return a + d;
}

/* A bound near the interesting places: min, max, just outside, a value some id has, random. */
static int64_t pick_bound(tb__rng *r, const nvals *n, int64_t min, int64_t max)
{
    switch (tb__rng_below(r, 9)) {
    case 0:
        return min;
    case 1:
        return max;
    case 2:
        return sat_add(min, -1 - (int64_t)tb__rng_below(r, 3));
    case 3:
        return sat_add(max, 1 + (int64_t)tb__rng_below(r, 3));
    case 4:
        return INT64_MIN;
    case 5:
        return INT64_MAX;
    case 6:
        return (int64_t)tb__rng_next(r);
    default:
        for (int k = 0; k < 50; k++) {
            uint64_t id = tb__rng_below(r, n->nbits ? n->nbits : 1);
            if (n->nbits && n->has[id]) return sat_add(n->v[id], (int64_t)tb__rng_below(r, 3) - 1);
        }
        return (int64_t)tb__rng_next(r);
    }
}

static void check_bsi(const tb__bsiv *v, const nvals *n, tb__rng *r, int nbounds)
{
    uint64_t count = 0;
    int64_t min = INT64_MAX, max = INT64_MIN;
    for (uint64_t i = 0; i < n->nbits; i++) {
        if (!n->has[i]) continue;
        count++;
        if (n->v[i] < min) min = n->v[i];
        if (n->v[i] > max) max = n->v[i];
    }
    assert_int_equal(v->notnull.card, count);
    if (count) {
        assert_true(v->min == min && v->max == max);
        uint64_t range = (uint64_t)max - (uint64_t)min;
        uint32_t ns = range ? 64 - (uint32_t)__builtin_clzll(range) : 0;
        assert_int_equal(v->nslices, ns);
    } else {
        assert_true(v->min > v->max);
        assert_int_equal(v->nslices, 0);
    }
    for (uint64_t i = 0; i < n->nbits + 2; i++) {
        int64_t got = 12345;
        int has = tb__bsi_get(v, i, &got);
        int want = i < n->nbits && n->has[i];
        assert_int_equal(has, want);
        if (want && got != n->v[i])
            fail_msg("get(%llu) = %lld, expected %lld", (unsigned long long)i, (long long)got,
                     (long long)n->v[i]);
    }
    uint64_t *out = malloc(NW * 8), *scratch = malloc(TB__BSI_SCRATCH_WORDS * 8);
    assert_non_null(out);
    assert_non_null(scratch);
    uint32_t nc = nchunks_of(n->nbits);
    for (int k = 0; k < nbounds; k++) {
        int64_t lo = pick_bound(r, n, min, max), hi = pick_bound(r, n, min, max);
        if (k % 3 == 0 && lo > hi) {
            int64_t t = lo;
            lo = hi;
            hi = t;
        }
        for (int op = TB__BSI_EQ; op <= TB__BSI_BETWEEN; op++) {
            for (uint32_t c = 0; c < nc; c++) {
                memset(out, 0x33, NW * 8);
                memset(scratch, 0x77, TB__BSI_SCRATCH_WORDS * 8);
                tb__bsi_range_words(v, c, (tb__bsi_op)op, lo, hi, out, scratch);
                uint32_t size = chunk_size(n->nbits, c);
                for (uint32_t x = 0; x < CH; x++) {
                    uint64_t id = (uint64_t)c * CH + x;
                    int bit = (int)((out[x >> 6] >> (x & 63)) & 1);
                    int want =
                        x < size && n->has[id] && naive_match((tb__bsi_op)op, n->v[id], lo, hi);
                    if (bit != want)
                        fail_msg("op %d lo %lld hi %lld id %llu (value %lld, null %d): got %d", op,
                                 (long long)lo, (long long)hi, (unsigned long long)id,
                                 (long long)(x < size ? n->v[id] : 0), x < size ? !n->has[id] : -1,
                                 bit);
                }
            }
        }
    }
    free(out);
    free(scratch);
}

/* Every bound from min - 2 to max + 2 (a small range) under every operator, and every pair of
 * them for BETWEEN: reaches each way a chunk's slices can end the walk (EMPTY, FULL, BITS). */
static void check_bsi_all_bounds(const tb__bsiv *v, const nvals *n)
{
    if (v->min > v->max) return;
    uint64_t *out = malloc(NW * 8), *scratch = malloc(TB__BSI_SCRATCH_WORDS * 8);
    assert_non_null(out);
    assert_non_null(scratch);
    assert_true(v->max - v->min < 128);
    for (int64_t lo = v->min - 2; lo <= v->max + 2; lo++) {
        for (int64_t hi = v->min - 2; hi <= v->max + 2; hi++) {
            for (int op = TB__BSI_EQ; op <= TB__BSI_BETWEEN; op++) {
                if (op != TB__BSI_BETWEEN && hi != lo) continue;
                for (uint32_t c = 0; c < nchunks_of(n->nbits); c++) {
                    tb__bsi_range_words(v, c, (tb__bsi_op)op, lo, hi, out, scratch);
                    uint32_t size = chunk_size(n->nbits, c);
                    for (uint32_t x = 0; x < size; x++) {
                        uint64_t id = (uint64_t)c * CH + x;
                        int bit = (int)((out[x >> 6] >> (x & 63)) & 1);
                        int want = n->has[id] && naive_match((tb__bsi_op)op, n->v[id], lo, hi);
                        if (bit != want)
                            fail_msg("op %d lo %lld hi %lld id %llu: got %d", op, (long long)lo,
                                     (long long)hi, (unsigned long long)id, bit);
                    }
                }
            }
        }
    }
    free(out);
    free(scratch);
}

/* Builds (in order or shuffled), serialises, parses with verify and checks. */
static void bsi_round_trip(const nvals *n, tb__rng *r, int nbounds, int shuffled, int all_bounds)
{
    tb__bsi_builder *b;
    assert_int_equal(tb__bsi_builder_create(n->nbits, &b), 0);
    uint64_t start = shuffled ? tb__rng_below(r, n->nbits ? n->nbits : 1) : 0;
    for (uint64_t k = 0; k < n->nbits; k++) {
        uint64_t i = (start + k) % n->nbits;
        if (n->has[i]) assert_int_equal(tb__bsi_put(b, i, n->v[i]), 0);
    }
    tb__buf out = TB__BUF_INIT;
    /* behind 7 bytes: the writer must not assume an aligned buffer */
    assert_int_equal(tb__buf_append(&out, "1234567", 7), 0);
    assert_int_equal(tb__bsi_serialize(b, &out), 0);
    assert_int_equal((out.len - 7) % 8, 0);
    uint8_t *p = aligned_copy(out.data + 7, out.len - 7);
    tb__bsiv v;
    size_t used = 0;
    tb__errbuf eb = {0};
    int rc = tb__bsi_parse_safe(p, out.len - 7, 1, &v, &used, &eb);
    if (rc) fail_msg("bsi parse: %s", eb.msg);
    assert_int_equal(used, out.len - 7);
    check_bsi(&v, n, r, nbounds);
    if (all_bounds) check_bsi_all_bounds(&v, n);
    free(p);
    tb__buf_release(&out);
    tb__bsi_builder_free(b);
}

enum { V_SMALL, V_NEG, V_HUGE, V_FULL64, V_ONE, V_EXTREMES, V_WIDE, V_NMODEL };

static nvals make_vals(tb__rng *r, uint64_t nbits, int model, double pnull)
{
    nvals n = {nbits, calloc(nbits + 1, 1), calloc(nbits + 1, 8)};
    assert_non_null(n.has);
    assert_non_null(n.v);
    int64_t one = (int64_t)tb__rng_next(r);
    for (uint64_t i = 0; i < nbits; i++) {
        if (tb__rng_chance(r, pnull)) continue;
        n.has[i] = 1;
        switch (model) {
        case V_SMALL:
            n.v[i] = tb__rng_range(r, 0, 100);
            break;
        case V_NEG:
            n.v[i] = tb__rng_range(r, -1000000, -3);
            break;
        case V_HUGE: /* INT64_MIN+1 .. INT64_MAX, both ends present */
            n.v[i] = i % 97 == 0   ? INT64_MIN + 1
                     : i % 89 == 0 ? INT64_MAX
                                   : (int64_t)(tb__rng_next(r) | 1);
            if (n.v[i] == INT64_MIN) n.v[i]++;
            break;
        case V_FULL64:
            n.v[i] = i % 53 == 0 ? INT64_MIN : i % 59 == 0 ? INT64_MAX : (int64_t)tb__rng_next(r);
            break;
        case V_ONE:
            n.v[i] = one;
            break;
        case V_EXTREMES:
            n.v[i] =
                tb__rng_chance(r, 0.5) ? INT64_MAX - (int64_t)tb__rng_below(r, 4) : INT64_MAX - 100;
            break;
        case V_WIDE:
            n.v[i] = tb__rng_range(r, -5000000000LL, 5000000000LL);
            break;
        }
    }
    return n;
}

static void bsi_random(void **state)
{
    (void)state;
    tb__rng r;
    tb__rng_seed(&r, 2024, 6);
    static const uint64_t sizes[] = {1, 1000, CH + 300, 2 * CH};
    static const double pnull[] = {0.0, 0.3, 0.97};
    for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++)
        for (int model = 0; model < V_NMODEL; model++)
            for (size_t pn = 0; pn < 3; pn++) {
                nvals n = make_vals(&r, sizes[s], model, pnull[pn]);
                bsi_round_trip(&n, &r, sizes[s] > CH ? 4 : 12, (int)(pn & 1),
                               model == V_SMALL && sizes[s] == 1000);
                free(n.has);
                free(n.v);
            }
}

/* Per-chunk structure: chunks without values, all NULL, FULL not-null chunks, dense slices. */
static void bsi_chunk_shapes(void **state)
{
    (void)state;
    tb__rng r;
    tb__rng_seed(&r, 77, 7);
    uint64_t nbits = 4 * CH + 10;
    nvals n = {nbits, calloc(nbits, 1), calloc(nbits, 8)};
    for (uint64_t i = 0; i < CH; i++) { /* chunk 0: every id, values 0..7 */
        n.has[i] = 1;
        n.v[i] = (int64_t)(i & 7);
    }
    /* chunk 1: none; chunk 2: 5 ids */
    for (uint64_t i = 0; i < 5; i++) {
        n.has[2 * CH + i * 1000] = 1;
        n.v[2 * CH + i * 1000] = -(int64_t)i;
    }
    for (uint64_t i = 3 * CH; i < nbits; i++) { /* chunks 3, 4: all ids, one value */
        n.has[i] = 1;
        n.v[i] = 3;
    }
    bsi_round_trip(&n, &r, 30, 0, 1);
    /* no values at all */
    memset(n.has, 0, nbits);
    bsi_round_trip(&n, &r, 5, 0, 0);
    free(n.has);
    free(n.v);
    /* nbits 0 */
    nvals z = {0, calloc(1, 1), calloc(1, 8)};
    bsi_round_trip(&z, &r, 3, 0, 0);
    free(z.has);
    free(z.v);
}

static void bsi_builder_errors(void **state)
{
    (void)state;
    tb__bsi_builder *b;
    assert_int_equal(tb__bsi_builder_create(TB__BM_MAX_BITS + 1, &b), TB_EINVAL);
    assert_int_equal(tb__bsi_builder_create(10, &b), 0);
    assert_int_equal(tb__bsi_put(b, 10, 1), TB_EINVAL);
    assert_int_equal(tb__bsi_put(b, 3, 1), 0);
    assert_int_equal(tb__bsi_put(b, 3, 2), TB_EINVAL); /* each id at most once */
    assert_int_equal(tb__bsi_put(b, 2, INT64_MIN), 0);
    tb__bsi_builder_free(b);
    tb__bsi_builder_free(NULL);
}

/* A serialised BSI from parts, so that tests can make what the builder never would. */
static size_t assemble(uint8_t **p, uint64_t nbits, uint64_t count, int64_t min, int64_t max,
                       uint32_t ns, tb__bm_builder **bms, uint32_t nbm)
{
    tb__buf out = TB__BUF_INIT;
    uint8_t h[64] = {0};
    assert_int_equal(tb__buf_append(&out, h, 64), 0);
    for (uint32_t i = 0; i < nbm; i++)
        assert_int_equal(tb__bm_serialize(bms[i], &out), 0);
    uint64_t total = out.len;
    memcpy(h, "TBSI", 4);
    uint32_t ver = 1;
    memcpy(h + 4, &ver, 4);
    memcpy(h + 8, &nbits, 8);
    memcpy(h + 16, &count, 8);
    memcpy(h + 24, &min, 8);
    memcpy(h + 32, &max, 8);
    memcpy(h + 40, &ns, 4);
    memcpy(h + 48, &total, 8);
    uint32_t crc = tb__crc32c(0, h, 56);
    memcpy(h + 56, &crc, 4);
    memcpy(out.data, h, 64);
    *p = aligned_copy(out.data, out.len);
    tb__buf_release(&out);
    return (size_t)total;
}

static tb__bm_builder *bm_of(uint64_t nbits, const uint64_t *ids, size_t n)
{
    tb__bm_builder *b;
    assert_int_equal(tb__bm_builder_create(nbits, &b), 0);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(tb__bm_set(b, ids[i]), 0);
    return b;
}

static void bsi_crafted(void **state)
{
    (void)state;
    tb__errbuf eb = {0};
    tb__bsiv v;
    uint8_t *p;
    size_t len;
    uint64_t nn_ids[] = {0, 1}, s0[] = {0, 1}, s1[] = {1}, bad[] = {1, 5};
    tb__bm_builder *bm[4];
    /* u = {1, 3}: fine as min 10 max 12? no: 13 is above max, and 10 (u 0) is nobody's */
    bm[0] = bm_of(100, nn_ids, 2);
    bm[1] = bm_of(100, s0, 2);
    bm[2] = bm_of(100, s1, 1);
    bm[3] = bm_of(100, bad, 2);
    len = assemble(&p, 100, 2, 10, 13, 2, bm, 3); /* values 11, 13: min 10 never occurs */
    assert_int_equal(tb__bsi_parse_safe(p, len, 1, &v, NULL, &eb), TB_ECORRUPT);
    assert_non_null(strstr(eb.msg, "byte 24: min 10, expected a value some id has"));
    free(p);
    len = assemble(&p, 100, 2, 11, 13, 2, bm, 3); /* u 3 is 14 > 13 */
    assert_int_equal(tb__bsi_parse_safe(p, len, 1, &v, NULL, &eb), TB_ECORRUPT);
    assert_non_null(strstr(eb.msg, "byte 32: id 1 has a value above max 13"));
    free(p);
    len = assemble(&p, 100, 2, 11, 14, 2, bm, 3); /* fine: values 12 and 14? u 1, 3 no 0 */
    assert_int_equal(tb__bsi_parse_safe(p, len, 1, &v, NULL, &eb), TB_ECORRUPT);
    free(p);
    tb__bm_builder *bm2[3] = {bm[0], bm[3], bm[2]}; /* slice 0 has id 5 without a value */
    len = assemble(&p, 100, 2, 0, 3, 2, bm2, 3);
    assert_int_equal(tb__bsi_parse_safe(p, len, 1, &v, NULL, &eb), TB_ECORRUPT);
    assert_non_null(strstr(eb.msg, "slice 0 has id 5"));
    free(p);
    /* u = {1, 3} with min 0 is never attained; with s0 = {0} values 0 and 3 are fine */
    uint64_t s0b[] = {1};
    tb__bm_builder *ok0 = bm_of(100, s0b, 1);
    tb__bm_builder *bm3[3] = {bm[0], ok0, bm[2]}; /* u(0) = 0, u(1) = 3 */
    len = assemble(&p, 100, 2, -1, 2, 2, bm3, 3);
    assert_int_equal(tb__bsi_parse_safe(p, len, 1, &v, NULL, &eb), 0);
    int64_t x;
    assert_int_equal(tb__bsi_get(&v, 0, &x), 1);
    assert_int_equal(x, -1);
    assert_int_equal(tb__bsi_get(&v, 1, &x), 1);
    assert_int_equal(x, 2);
    free(p);
    /* header lies: count, nslices, nbits of a part, total, min > max with values */
    len = assemble(&p, 100, 3, -1, 2, 2, bm3, 3);
    assert_int_equal(tb__bsi_parse_safe(p, len, 1, &v, NULL, &eb), TB_ECORRUPT);
    assert_non_null(strstr(eb.msg, "byte 16: 3 values, the not-null bitmap has 2"));
    free(p);
    len = assemble(&p, 100, 2, -1, 2, 3, bm3, 3);
    assert_int_equal(tb__bsi_parse_safe(p, len, 1, &v, NULL, &eb), TB_ECORRUPT);
    assert_non_null(strstr(eb.msg, "byte 40: 3 slices, expected 2"));
    free(p);
    len = assemble(&p, 101, 2, -1, 2, 2, bm3, 3);
    assert_int_equal(tb__bsi_parse_safe(p, len, 1, &v, NULL, &eb), TB_ECORRUPT);
    assert_non_null(strstr(eb.msg, "byte 72: not-null bitmap: nbits 100, expected the BSI's 101"));
    free(p);
    len = assemble(&p, 100, 2, 2, -1, 2, bm3, 3);
    assert_int_equal(tb__bsi_parse_safe(p, len, 1, &v, NULL, &eb), TB_ECORRUPT);
    free(p);
    /* u = {0, 1} with max - min 3: max is nobody's */
    tb__bm_builder *none = bm_of(100, NULL, 0);
    tb__bm_builder *bm4[3] = {bm[0], ok0, none};
    len = assemble(&p, 100, 2, 0, 3, 2, bm4, 3);
    assert_int_equal(tb__bsi_parse_safe(p, len, 1, &v, NULL, &eb), TB_ECORRUPT);
    assert_non_null(strstr(eb.msg, "byte 32: max 3, expected a value some id has"));
    /* versions: newer is TB_EVERSION, 0 is damage; nbits above 2^40 */
    for (int k = 0; k < 3; k++) {
        uint32_t ver = k == 0 ? 2 : k == 1 ? 0 : 1;
        uint64_t big = TB__BM_MAX_BITS + 1;
        memcpy(p + 4, &ver, 4);
        if (k == 2) memcpy(p + 8, &big, 8);
        uint32_t crc = tb__crc32c(0, p, 56);
        memcpy(p + 56, &crc, 4);
        int rc = tb__bsi_parse_safe(p, len, 1, &v, NULL, &eb);
        assert_int_equal(rc, k == 0 ? TB_EVERSION : TB_ECORRUPT);
        assert_non_null(strstr(eb.msg, k < 2 ? "byte 4: BSI format version" : "byte 8: nbits"));
    }
    free(p);
    tb__bm_builder_free(none);
    len = assemble(&p, 100, 0, 0, 0, 0, bm3, 1); /* no values but min <= max */
    assert_int_equal(tb__bsi_parse_safe(p, len, 1, &v, NULL, &eb), TB_ECORRUPT);
    free(p);
    len = assemble(&p, 100, 2, -1, 2, 2, bm3, 2); /* a slice missing */
    assert_int_equal(tb__bsi_parse_safe(p, len, 1, &v, NULL, &eb), TB_ECORRUPT);
    free(p);
    for (int i = 0; i < 4; i++)
        tb__bm_builder_free(bm[i]);
    tb__bm_builder_free(ok0);
}

/* Truncations and flipped bytes of a real BSI. */
static void bsi_damaged(void **state)
{
    (void)state;
    tb__rng r;
    tb__rng_seed(&r, 3, 8);
    nvals n = make_vals(&r, 3000, V_NEG, 0.2);
    tb__bsi_builder *b;
    assert_int_equal(tb__bsi_builder_create(n.nbits, &b), 0);
    for (uint64_t i = 0; i < n.nbits; i++)
        if (n.has[i]) assert_int_equal(tb__bsi_put(b, i, n.v[i]), 0);
    tb__buf out = TB__BUF_INIT;
    assert_int_equal(tb__bsi_serialize(b, &out), 0);
    uint8_t *p = aligned_copy(out.data, out.len);
    size_t len = out.len;
    tb__bsiv v;
    tb__errbuf eb = {0};
    size_t used = 1;
    assert_int_equal(tb__bsi_parse_safe(p, len, 1, &v, &used, &eb), 0);
    assert_int_equal(used, len);
    for (size_t k = 0; k < len; k++) {
        int rc = tb__bsi_parse_safe(p, k, 0, &v, &used, &eb);
        if (rc != TB_ECORRUPT) fail_msg("truncated to %zu: rc %d", k, rc);
        assert_int_equal(used, 0);
    }
    for (size_t i = 0; i < len; i += 1 + (i > 200) * 5) {
        p[i] ^= 0x10;
        int rc = tb__bsi_parse_safe(p, len, 1, &v, &used, &eb);
        if (rc != TB_ECORRUPT) fail_msg("flipped byte %zu: rc %d (%s)", i, rc, eb.msg);
        assert_non_null(strstr(eb.msg, "byte "));
        p[i] ^= 0x10;
    }
    assert_int_equal(tb__bsi_parse_safe(p + 1, len - 1, 1, &v, &used, &eb), TB_EINVAL);
    free(p);
    tb__buf_release(&out);
    tb__bsi_builder_free(b);
    free(n.has);
    free(n.v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(bitmap_densities),
        cmocka_unit_test(bitmap_mixed_chunks),
        cmocka_unit_test(bitmap_zero_bits),
        cmocka_unit_test(bitmap_empty_view),
        cmocka_unit_test(bitmap_builder_errors),
        cmocka_unit_test(bitmap_or_words),
        cmocka_unit_test(bitmap_append_unaligned),
        cmocka_unit_test(popcount_matches),
        cmocka_unit_test(bitmap_truncated),
        cmocka_unit_test(bitmap_flipped_bytes),
        cmocka_unit_test(bitmap_crafted),
        cmocka_unit_test(bsi_random),
        cmocka_unit_test(bsi_chunk_shapes),
        cmocka_unit_test(bsi_builder_errors),
        cmocka_unit_test(bsi_crafted),
        cmocka_unit_test(bsi_damaged),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
