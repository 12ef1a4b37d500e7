/* bitmap.c — compressed bitmaps over dense ids and bit-sliced indexes on them: the builders, the
 * serialised form, its validating parser and the per-chunk kernels the evaluator fuses
 * (docs/bitmap.md has the byte layout and the range algorithm). */
#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/crc32c.h"
#include "tags/bitmap.h"

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
/* BITS words and ARRAY ids are used in place from the mapping. */
#error "bitmap.c assumes a little-endian host"
#endif

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define HAVE_X86 1
#endif

/* Bitmap header field offsets (docs/bitmap.md has the table). */
#define H_MAGIC   0
#define H_VERSION 4
#define H_NBITS   8
#define H_CARD    16
#define H_NCHUNKS 24
#define H_CRC     28
#define H_PAYLOAD 32
#define H_SIZE    40

#define BM_VERSION 1
#define BITS_BYTES (TB__BM_CHUNK_WORDS * 8u)

/* One directory entry: the container of one chunk. The directory is 8-byte aligned in the
 * serialised form, so entries are read in place. */
typedef struct dent {
    uint8_t type;   /* tb__bm_ctype */
    uint8_t pad[3]; /* 0 */
    uint32_t card;  /* ids set in the chunk */
    uint64_t off;   /* payload offset of an ARRAY or BITS container, else 0 */
} dent;
_Static_assert(sizeof(dent) == 16, "directory entries are 16 bytes");

/* BSI header field offsets. */
#define S_MAGIC     0
#define S_VERSION   4
#define S_NBITS     8
#define S_COUNT     16
#define S_MIN       24
#define S_MAX       32
#define S_NSLICES   40
#define S_RESERVED  44
#define S_TOTAL     48
#define S_HCRC      56
#define S_RESERVED2 60
#define S_SIZE      64

#define BSI_VERSION 1

static const char k_bm_magic[4] = {'T', 'B', 'B', 'M'};
static const char k_bsi_magic[4] = {'T', 'B', 'S', 'I'};

/* The shared blocks tb__bmv_words returns for EMPTY and FULL chunks. */
static const uint64_t k_zero[TB__BM_CHUNK_WORDS] __attribute__((aligned(64)));
static const uint64_t k_ones[TB__BM_CHUNK_WORDS]
    __attribute__((aligned(64))) = {[0 ... TB__BM_CHUNK_WORDS - 1] = ~(uint64_t)0};

static uint32_t get_u32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

static uint64_t get_u64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

static void put_u32(uint8_t *p, uint32_t v)
{
    memcpy(p, &v, 4);
}

static void put_u64(uint8_t *p, uint64_t v)
{
    memcpy(p, &v, 8);
}

static uint64_t align8(uint64_t n)
{
    return (n + 7) & ~(uint64_t)7;
}

static uint32_t nchunks_of(uint64_t nbits)
{
    return (uint32_t)((nbits + TB__BM_CHUNK_BITS - 1) / TB__BM_CHUNK_BITS);
}

/* Ids in chunk c of a universe of nbits: 65536 except in a short last chunk. */
static uint32_t chunk_size(uint64_t nbits, uint32_t c)
{
    uint64_t left = nbits - (uint64_t)c * TB__BM_CHUNK_BITS;
    return left < TB__BM_CHUNK_BITS ? (uint32_t)left : TB__BM_CHUNK_BITS;
}

/* The container a chunk of `card` ids out of `size` is written as. */
static tb__bm_ctype ctype_for(uint32_t card, uint32_t size)
{
    if (card == 0) return TB__BM_EMPTY;
    if (card == size) return TB__BM_FULL;
    return card <= TB__BM_ARRAY_MAX ? TB__BM_ARRAY : TB__BM_BITS;
}

static uint64_t container_bytes(tb__bm_ctype t, uint32_t card)
{
    return t == TB__BM_BITS ? BITS_BYTES : t == TB__BM_ARRAY ? align8((uint64_t)card * 2) : 0;
}

/* Sets the words of a FULL chunk of `size` ids: all ones up to size, zero after. */
static void fill_full(uint64_t *w, uint32_t size)
{
    uint32_t n = size / 64;
    memset(w, 0xFF, (size_t)n * 8);
    memset(w + n, 0, (size_t)(TB__BM_CHUNK_WORDS - n) * 8);
    if (size & 63) w[n] = ((uint64_t)1 << (size & 63)) - 1;
}

/* ---------------------------------------------------------------------------------------------
 * Popcount: POPCNT or AVX2 chosen at run time, since the build targets plain x86-64.
 */

static uint64_t pop_sw(const uint64_t *w, size_t n)
{
    uint64_t s = 0;
    for (size_t i = 0; i < n; i++)
        s += (uint64_t)__builtin_popcountll(w[i]);
    return s;
}

#ifdef HAVE_X86
/* Four independent sums hide POPCNT's latency (and its false output dependency on some Intel
 * cores). */
__attribute__((target("popcnt"))) static uint64_t pop_popcnt(const uint64_t *w, size_t n)
{
    uint64_t a = 0, b = 0, c = 0, d = 0;
    size_t i = 0;
    for (; i + 4 <= n; i += 4) {
        a += (uint64_t)__builtin_popcountll(w[i]);
        b += (uint64_t)__builtin_popcountll(w[i + 1]);
        c += (uint64_t)__builtin_popcountll(w[i + 2]);
        d += (uint64_t)__builtin_popcountll(w[i + 3]);
    }
    for (; i < n; i++)
        a += (uint64_t)__builtin_popcountll(w[i]);
    return a + b + c + d;
}

/* Mula's nibble look-up (vpshufb) summed with vpsadbw: about twice POPCNT's speed on whole
 * chunks. */
__attribute__((target("avx2,popcnt"))) static uint64_t pop_avx2(const uint64_t *w, size_t n)
{
    const __m256i lut = _mm256_setr_epi8(0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4, 0, 1, 1, 2,
                                         1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4);
    const __m256i low = _mm256_set1_epi8(0x0F);
    __m256i acc = _mm256_setzero_si256();
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256i x = _mm256_loadu_si256((const __m256i *)(w + i));
        __m256i y = _mm256_loadu_si256((const __m256i *)(w + i + 4));
        __m256i cx = _mm256_add_epi8(
            _mm256_shuffle_epi8(lut, _mm256_and_si256(x, low)),
            _mm256_shuffle_epi8(lut, _mm256_and_si256(_mm256_srli_epi16(x, 4), low)));
        __m256i cy = _mm256_add_epi8(
            _mm256_shuffle_epi8(lut, _mm256_and_si256(y, low)),
            _mm256_shuffle_epi8(lut, _mm256_and_si256(_mm256_srli_epi16(y, 4), low)));
        /* at most 16 per byte: the byte sums cannot overflow before vpsadbw widens them */
        acc =
            _mm256_add_epi64(acc, _mm256_sad_epu8(_mm256_add_epi8(cx, cy), _mm256_setzero_si256()));
    }
    uint64_t s = (uint64_t)_mm256_extract_epi64(acc, 0) + (uint64_t)_mm256_extract_epi64(acc, 1) +
                 (uint64_t)_mm256_extract_epi64(acc, 2) + (uint64_t)_mm256_extract_epi64(acc, 3);
    for (; i < n; i++)
        s += (uint64_t)__builtin_popcountll(w[i]);
    return s;
}
#endif

uint64_t tb__bm_popcount_words(const uint64_t *w, size_t nwords)
{
#ifdef HAVE_X86
    /* __builtin_cpu_supports reads flags libgcc fills in before main: one load per call. */
    if (__builtin_cpu_supports("avx2")) return pop_avx2(w, nwords);
    if (__builtin_cpu_supports("popcnt")) return pop_popcnt(w, nwords);
#endif
    return pop_sw(w, nwords);
}

/* ---------------------------------------------------------------------------------------------
 * Builder: per touched chunk a sorted uint16 array while it holds at most ARRAY_MAX ids, then a
 * BITS block; the serialised container is chosen from the cardinality at serialise time.
 */

#define CAP_BITS   UINT32_MAX /* bchunk.cap of a chunk held as a BITS block */
#define ARRAY_CAP0 16u

typedef struct bchunk {
    union {
        uint64_t *bits; /* cap == CAP_BITS: 1024 words */
        uint16_t *arr;  /* otherwise: card sorted ids, room for cap */
    } u;
    uint32_t card;
    uint32_t cap;
} bchunk;

struct tb__bm_builder {
    uint64_t nbits;
    uint64_t card;
    uint32_t nchunks;
    bchunk *ch;
};

int tb__bm_builder_create(uint64_t nbits, tb__bm_builder **out)
{
    *out = NULL;
    if (nbits > TB__BM_MAX_BITS) return TB_EINVAL;
    tb__bm_builder *b = calloc(1, sizeof *b);
    if (!b) return TB_ENOMEM;
    b->nbits = nbits;
    b->nchunks = nchunks_of(nbits);
    /* calloc: the chunk table of a large universe stays untouched (and unbacked) where no id is
     * ever set. */
    if (b->nchunks && !(b->ch = calloc(b->nchunks, sizeof *b->ch))) {
        free(b);
        return TB_ENOMEM;
    }
    *out = b;
    return 0;
}

void tb__bm_builder_free(tb__bm_builder *b)
{
    if (!b) return;
    for (uint32_t c = 0; c < b->nchunks; c++) {
        if (b->ch[c].cap == CAP_BITS)
            free(b->ch[c].u.bits);
        else
            free(b->ch[c].u.arr);
    }
    free(b->ch);
    free(b);
}

uint64_t tb__bm_builder_cardinality(const tb__bm_builder *b)
{
    return b->card;
}

/* Turns an array chunk into a BITS block. */
static int promote(bchunk *ch)
{
    uint64_t *w = calloc(TB__BM_CHUNK_WORDS, 8);
    if (!w) return TB_ENOMEM;
    for (uint32_t k = 0; k < ch->card; k++)
        w[ch->u.arr[k] >> 6] |= (uint64_t)1 << (ch->u.arr[k] & 63);
    free(ch->u.arr);
    ch->u.bits = w;
    ch->cap = CAP_BITS;
    return 0;
}

/* The out-of-order, growing and promoting cases of tb__bm_set. */
static int set_slow(tb__bm_builder *b, bchunk *ch, uint32_t x)
{
    uint32_t lo = 0, hi = ch->card;
    while (lo < hi) {
        uint32_t mid = (lo + hi) / 2;
        if (ch->u.arr[mid] < x)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < ch->card && ch->u.arr[lo] == x) return 0;
    if (ch->card == TB__BM_ARRAY_MAX) {
        int rc = promote(ch);
        if (rc) return rc;
        ch->u.bits[x >> 6] |= (uint64_t)1 << (x & 63);
        ch->card++;
        b->card++;
        return 0;
    }
    if (ch->card == ch->cap) {
        uint32_t ncap = ch->cap ? ch->cap * 2 : ARRAY_CAP0;
        if (ncap > TB__BM_ARRAY_MAX) ncap = TB__BM_ARRAY_MAX;
        uint16_t *a = realloc(ch->u.arr, (size_t)ncap * 2);
        if (!a) return TB_ENOMEM;
        ch->u.arr = a;
        ch->cap = ncap;
    }
    memmove(ch->u.arr + lo + 1, ch->u.arr + lo, (size_t)(ch->card - lo) * 2);
    ch->u.arr[lo] = (uint16_t)x;
    ch->card++;
    b->card++;
    return 0;
}

int tb__bm_set(tb__bm_builder *b, uint64_t id)
{
    if (id >= b->nbits) return TB_EINVAL;
    bchunk *ch = &b->ch[id >> 16];
    uint32_t x = (uint32_t)(id & 0xFFFF);
    if (ch->cap == CAP_BITS) {
        uint64_t *w = &ch->u.bits[x >> 6];
        uint64_t m = (uint64_t)1 << (x & 63);
        uint32_t added = (*w & m) == 0;
        *w |= m;
        ch->card += added;
        b->card += added;
        return 0;
    }
    /* Ascending ids: append. */
    if (ch->card && ch->card < ch->cap && ch->u.arr[ch->card - 1] < x) {
        ch->u.arr[ch->card++] = (uint16_t)x;
        b->card++;
        return 0;
    }
    return set_slow(b, ch, x);
}

int tb__bm_or_words(tb__bm_builder *b, uint32_t chunk, const uint64_t *words)
{
    if (chunk >= b->nchunks) return TB_EINVAL;
    bchunk *ch = &b->ch[chunk];
    uint32_t size = chunk_size(b->nbits, chunk);
    uint32_t nfull = size / 64, nw = (size + 63) / 64;
    uint64_t lastmask = size & 63 ? ((uint64_t)1 << (size & 63)) - 1 : ~(uint64_t)0;
#ifndef NDEBUG
    for (uint32_t w = nfull; w < TB__BM_CHUNK_WORDS; w++)
        assert((words[w] & ~(w == nfull ? lastmask : 0)) == 0);
#endif
    if (ch->cap != CAP_BITS) {
        uint64_t n = tb__bm_popcount_words(words, nfull);
        if (nfull < nw) n += (uint64_t)__builtin_popcountll(words[nfull] & lastmask);
        if (n == 0) return 0;
        if (ch->card == 0 && n <= TB__BM_ARRAY_MAX) {
            /* A sparse result stays an array: the builder's memory follows the ids. */
            uint16_t *a = realloc(ch->u.arr, (size_t)n * 2);
            if (!a) return TB_ENOMEM;
            uint32_t k = 0;
            for (uint32_t w = 0; w < nw; w++) {
                uint64_t x = words[w] & (w == nfull ? lastmask : ~(uint64_t)0);
                while (x) {
                    a[k++] = (uint16_t)(w * 64 + (uint32_t)__builtin_ctzll(x));
                    x &= x - 1;
                }
            }
            ch->u.arr = a;
            ch->cap = (uint32_t)n;
            ch->card = (uint32_t)n;
            b->card += n;
            return 0;
        }
        int rc = promote(ch);
        if (rc) return rc;
    }
    uint64_t *w = ch->u.bits;
    for (uint32_t i = 0; i < nfull; i++)
        w[i] |= words[i];
    if (nfull < nw) w[nfull] |= words[nfull] & lastmask;
    uint32_t card = (uint32_t)tb__bm_popcount_words(w, nw);
    b->card += card - ch->card;
    ch->card = card;
    return 0;
}

/* ---------------------------------------------------------------------------------------------
 * Writing the serialised form. Both writers (builder, BSI slices) first fix every chunk's
 * cardinality, which fixes the containers, their offsets and the size; then fill the containers.
 */

/* Serialised bytes of a bitmap whose chunks hold card[c] ids. */
static uint64_t bm_size(uint64_t nbits, uint32_t nchunks, const uint32_t *card)
{
    uint64_t n = H_SIZE + (uint64_t)nchunks * sizeof(dent);
    for (uint32_t c = 0; c < nchunks; c++)
        n += container_bytes(ctype_for(card[c], chunk_size(nbits, c)), card[c]);
    return n;
}

/* The writers go through memcpy: a caller's buffer need not be 8-byte aligned where it appends
 * (only a reader needs that). */
static dent dir_get(const uint8_t *dst, uint32_t c)
{
    dent d;
    memcpy(&d, dst + H_SIZE + (uint64_t)c * sizeof d, sizeof d);
    return d;
}

/* Writes header (checksum 0 until bm_seal) and directory at dst. */
static void bm_write_dir(uint8_t *dst, uint64_t nbits, uint32_t nchunks, const uint32_t *card)
{
    uint64_t total = 0, off = 0;
    for (uint32_t c = 0; c < nchunks; c++) {
        tb__bm_ctype t = ctype_for(card[c], chunk_size(nbits, c));
        dent d;
        memset(&d, 0, sizeof d);
        d.type = (uint8_t)t;
        d.card = card[c];
        uint64_t n = container_bytes(t, card[c]);
        d.off = n ? off : 0;
        memcpy(dst + H_SIZE + (uint64_t)c * sizeof d, &d, sizeof d);
        off += n;
        total += card[c];
    }
    memcpy(dst + H_MAGIC, k_bm_magic, 4);
    put_u32(dst + H_VERSION, BM_VERSION);
    put_u64(dst + H_NBITS, nbits);
    put_u64(dst + H_CARD, total);
    put_u32(dst + H_NCHUNKS, nchunks);
    put_u32(dst + H_CRC, 0);
    put_u64(dst + H_PAYLOAD, off);
}

/* The checksum covers every byte but its own four. */
static uint32_t bm_crc(const uint8_t *p, uint64_t size)
{
    uint32_t crc = tb__crc32c(0, p, H_CRC);
    return tb__crc32c(crc, p + H_CRC + 4, (size_t)(size - H_CRC - 4));
}

static void bm_seal(uint8_t *dst, uint64_t size)
{
    put_u32(dst + H_CRC, bm_crc(dst, size));
}

/* Writes chunk c's ARRAY container from its words. */
static void put_array_from_words(uint8_t *p, const uint64_t *w, uint32_t card)
{
    uint32_t k = 0;
    for (uint32_t i = 0; i < TB__BM_CHUNK_WORDS; i++) {
        for (uint64_t x = w[i]; x; x &= x - 1) {
            uint16_t id = (uint16_t)(i * 64 + (uint32_t)__builtin_ctzll(x));
            memcpy(p + 2 * k++, &id, 2);
        }
    }
    assert(k == card);
    (void)k;
    memset(p + 2 * (size_t)card, 0, (size_t)(align8((uint64_t)card * 2) - (uint64_t)card * 2));
}

/* Writes chunk c's container (if it has one) from its words. */
static void bm_put_words(uint8_t *dst, uint32_t nchunks, uint32_t c, const uint64_t *w)
{
    dent d = dir_get(dst, c);
    uint8_t *p = dst + H_SIZE + (uint64_t)nchunks * sizeof(dent) + d.off;
    if (d.type == TB__BM_BITS)
        memcpy(p, w, BITS_BYTES);
    else if (d.type == TB__BM_ARRAY)
        put_array_from_words(p, w, d.card);
}

int tb__bm_serialize(const tb__bm_builder *b, tb__buf *out)
{
    uint32_t *card = b->nchunks ? malloc((size_t)b->nchunks * 4) : NULL;
    if (b->nchunks && !card) return TB_ENOMEM;
    for (uint32_t c = 0; c < b->nchunks; c++)
        card[c] = b->ch[c].card;
    uint64_t size = bm_size(b->nbits, b->nchunks, card);
    int rc = tb__buf_reserve(out, (size_t)size);
    if (rc) goto out_free;
    uint8_t *dst = (uint8_t *)out->data + out->len;
    bm_write_dir(dst, b->nbits, b->nchunks, card);
    uint8_t *payload = dst + H_SIZE + (uint64_t)b->nchunks * sizeof(dent);
    for (uint32_t c = 0; c < b->nchunks; c++) {
        const bchunk *ch = &b->ch[c];
        dent d = dir_get(dst, c);
        if (d.type == TB__BM_BITS) {
            memcpy(payload + d.off, ch->u.bits, BITS_BYTES);
        } else if (d.type == TB__BM_ARRAY) {
            if (ch->cap == CAP_BITS) {
                put_array_from_words(payload + d.off, ch->u.bits, ch->card);
            } else {
                uint64_t n = (uint64_t)ch->card * 2;
                memcpy(payload + d.off, ch->u.arr, n);
                memset(payload + d.off + n, 0, (size_t)(align8(n) - n));
            }
        }
    }
    bm_seal(dst, size);
    out->len += (size_t)size;
    out->data[out->len] = '\0';
out_free:
    free(card);
    return rc;
}

/* ---------------------------------------------------------------------------------------------
 * Parsing untrusted bytes
 */

/* Where a parse reports from: `base` is added to every byte offset and `what` names the bitmap
 * inside a BSI ("" for a bare bitmap). */
typedef struct pctx {
    uint64_t base;
    const char *what;
    tb__errbuf *eb;
} pctx;

__attribute__((format(printf, 3, 4))) static int corrupt(const pctx *px, uint64_t at,
                                                         const char *fmt, ...)
{
    char msg[TB__ERRMSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return tb__seterr(px->eb, TB_ECORRUPT, "byte %llu: %s%s", (unsigned long long)(px->base + at),
                      px->what, msg);
}

/* Checks one ARRAY container: strictly ascending ids below the chunk's size, zero padding. */
static int check_array(const pctx *px, const uint8_t *p, uint64_t at, uint32_t c, uint32_t card,
                       uint32_t size)
{
    const uint16_t *a = (const uint16_t *)p;
    for (uint32_t k = 0; k < card; k++) {
        if (k && a[k] <= a[k - 1])
            return corrupt(px, at + 2 * (uint64_t)k,
                           "chunk %u: array id %u follows %u, expected strictly ascending ids", c,
                           a[k], a[k - 1]);
        if (a[k] >= size)
            return corrupt(px, at + 2 * (uint64_t)k,
                           "chunk %u: array id %u, expected below the chunk's %u ids", c, a[k],
                           size);
    }
    for (uint64_t i = (uint64_t)card * 2; i < align8((uint64_t)card * 2); i++)
        if (p[i]) return corrupt(px, at + i, "chunk %u: padding byte is %u, expected 0", c, p[i]);
    return 0;
}

/* Checks one BITS container: its popcount is the directory's card, nothing at or past nbits. */
static int check_bits(const pctx *px, const uint64_t *w, uint64_t at, uint32_t c, uint32_t card,
                      uint32_t size)
{
    if (size < TB__BM_CHUNK_BITS) {
        uint32_t nfull = size / 64;
        uint64_t keep = size & 63 ? ((uint64_t)1 << (size & 63)) - 1 : 0;
        for (uint32_t i = nfull; i < TB__BM_CHUNK_WORDS; i++)
            if (w[i] & ~(i == nfull ? keep : 0))
                return corrupt(px, at + 8 * (uint64_t)i,
                               "chunk %u: bit set at id %llu, expected none at or past nbits", c,
                               (unsigned long long)c * TB__BM_CHUNK_BITS + i * 64 +
                                   (uint64_t)__builtin_ctzll(w[i] & ~(i == nfull ? keep : 0)));
    }
    uint64_t n = tb__bm_popcount_words(w, TB__BM_CHUNK_WORDS);
    if (n != card)
        return corrupt(px, at, "chunk %u: %llu bits set, expected the directory's %u", c,
                       (unsigned long long)n, card);
    return 0;
}

static int bm_parse(const uint8_t *b, size_t len, int verify_crc, tb__bmv *out, size_t *used,
                    const pctx *px)
{
    if (len < H_SIZE)
        return corrupt(px, len, "bitmap ends inside its %d-byte header, expected %d bytes", H_SIZE,
                       H_SIZE);
    if (memcmp(b + H_MAGIC, k_bm_magic, 4) != 0)
        return corrupt(px, H_MAGIC, "bad magic, expected \"TBBM\"");
    uint32_t ver = get_u32(b + H_VERSION);
    if (ver != BM_VERSION) {
        int rc = corrupt(px, H_VERSION, "bitmap format version %u, expected %d", ver, BM_VERSION);
        if (ver > BM_VERSION) px->eb->code = rc = TB_EVERSION;
        return rc;
    }
    uint64_t nbits = get_u64(b + H_NBITS);
    if (nbits > TB__BM_MAX_BITS)
        return corrupt(px, H_NBITS, "nbits %llu, expected at most 2^40", (unsigned long long)nbits);
    uint64_t card = get_u64(b + H_CARD);
    if (card > nbits)
        return corrupt(px, H_CARD, "cardinality %llu, expected at most nbits %llu",
                       (unsigned long long)card, (unsigned long long)nbits);
    uint32_t nchunks = get_u32(b + H_NCHUNKS);
    if (nchunks != nchunks_of(nbits))
        return corrupt(px, H_NCHUNKS, "%u chunks, expected %u for nbits %llu", nchunks,
                       nchunks_of(nbits), (unsigned long long)nbits);
    uint64_t plen = get_u64(b + H_PAYLOAD);
    uint64_t dir_end = H_SIZE + (uint64_t)nchunks * sizeof(dent);
    if (dir_end > len)
        return corrupt(px, len, "bitmap ends inside its directory, expected %llu bytes",
                       (unsigned long long)dir_end);
    /* Every container is at most 8 KiB: a larger payload cannot be right, and the bound keeps
     * the sums below far from overflow. */
    if (plen > len - dir_end || (plen & 7) || plen > (uint64_t)nchunks * BITS_BYTES)
        return corrupt(px, H_PAYLOAD,
                       "payload of %llu bytes, expected a multiple of 8 within the %llu bytes "
                       "after the directory",
                       (unsigned long long)plen, (unsigned long long)(len - dir_end));
    const dent *d = (const dent *)(b + H_SIZE);
    const uint8_t *payload = b + dir_end;
    uint64_t pos = 0, sum = 0;
    for (uint32_t c = 0; c < nchunks; c++) {
        uint64_t at = H_SIZE + (uint64_t)c * sizeof(dent);
        uint32_t size = chunk_size(nbits, c);
        uint32_t t = d[c].type, n = d[c].card;
        if (t > TB__BM_BITS)
            return corrupt(px, at, "chunk %u: container type %u, expected 0..3", c, t);
        if (d[c].pad[0] || d[c].pad[1] || d[c].pad[2])
            return corrupt(px, at + 1, "chunk %u: padding is not 0", c);
        if (n > size)
            return corrupt(px, at + 4, "chunk %u: %u ids, expected at most the chunk's %u", c, n,
                           size);
        if (t != ctype_for(n, size))
            return corrupt(px, at, "chunk %u: %u ids in a container of type %u, expected type %u",
                           c, n, t, (unsigned)ctype_for(n, size));
        uint64_t nb = container_bytes((tb__bm_ctype)t, n);
        if (d[c].off != (nb ? pos : 0))
            return corrupt(px, at + 8, "chunk %u: payload offset %llu, expected %llu", c,
                           (unsigned long long)d[c].off, (unsigned long long)(nb ? pos : 0));
        if (nb > plen - pos)
            return corrupt(px, at + 8,
                           "chunk %u: container ends at payload byte %llu, expected "
                           "within the %llu-byte payload",
                           c, (unsigned long long)(pos + nb), (unsigned long long)plen);
        int rc = 0;
        if (t == TB__BM_ARRAY && !(verify_crc & TB__BM_PARSE_TRUST_BITS))
            rc = check_array(px, payload + pos, dir_end + pos, c, n, size);
        else if (t == TB__BM_BITS && !(verify_crc & TB__BM_PARSE_TRUST_BITS))
            rc = check_bits(px, (const uint64_t *)(payload + pos), dir_end + pos, c, n, size);
        if (rc) return rc;
        pos += nb;
        sum += n;
    }
    if (pos != plen)
        return corrupt(px, H_PAYLOAD, "payload of %llu bytes, the containers take %llu",
                       (unsigned long long)plen, (unsigned long long)pos);
    if (sum != card)
        return corrupt(px, H_CARD, "cardinality %llu, the chunks add up to %llu",
                       (unsigned long long)card, (unsigned long long)sum);
    uint64_t size = dir_end + plen;
    if (verify_crc & TB__BM_PARSE_CRC) {
        uint32_t want = get_u32(b + H_CRC), got = bm_crc(b, size);
        if (want != got)
            return corrupt(px, H_CRC, "checksum is 0x%08X, computed 0x%08X", want, got);
    }
    out->nbits = nbits;
    out->card = card;
    out->nchunks = nchunks;
    out->dir = b + H_SIZE;
    out->payload = payload;
    out->payload_len = plen;
    if (used) *used = (size_t)size;
    return 0;
}

int tb__bm_parse_safe(const void *buf, size_t len, int verify_crc, tb__bmv *out, size_t *used,
                      tb__errbuf *eb)
{
    tb__bmv_empty(out, 0);
    if (used) *used = 0;
    if ((uintptr_t)buf & 7) return tb__seterr(eb, TB_EINVAL, "bitmap buffer is not 8-byte aligned");
    pctx px = {0, "", eb};
    int rc = bm_parse(buf, len, verify_crc, out, used, &px);
    if (rc) tb__bmv_empty(out, 0);
    return rc;
}

/* ---------------------------------------------------------------------------------------------
 * Views
 */

void tb__bmv_empty(tb__bmv *out, uint64_t nbits)
{
    memset(out, 0, sizeof *out);
    out->nbits = nbits;
    out->nchunks = nchunks_of(nbits);
}

static const dent *entry(const tb__bmv *v, uint32_t c)
{
    assert(c < v->nchunks);
    return (const dent *)v->dir + c;
}

tb__bm_ctype tb__bmv_ctype(const tb__bmv *v, uint32_t c)
{
    return v->dir ? (tb__bm_ctype)entry(v, c)->type : TB__BM_EMPTY;
}

uint32_t tb__bmv_chunk_card(const tb__bmv *v, uint32_t c)
{
    return v->dir ? entry(v, c)->card : 0;
}

const uint64_t *tb__bmv_words(const tb__bmv *v, uint32_t c, uint64_t *scratch)
{
    if (!v->dir) return k_zero;
    const dent *d = entry(v, c);
    switch (d->type) {
    case TB__BM_BITS:
        return (const uint64_t *)(v->payload + d->off);
    case TB__BM_EMPTY:
        return k_zero;
    case TB__BM_FULL:
        if (d->card == TB__BM_CHUNK_BITS) return k_ones;
        fill_full(scratch, d->card);
        return scratch;
    default: {
        const uint16_t *a = (const uint16_t *)(v->payload + d->off);
        memset(scratch, 0, BITS_BYTES);
        for (uint32_t k = 0; k < d->card; k++)
            scratch[a[k] >> 6] |= (uint64_t)1 << (a[k] & 63);
        return scratch;
    }
    }
}

int tb__bmv_contains(const tb__bmv *v, uint64_t id)
{
    if (id >= v->nbits || !v->dir) return 0;
    const dent *d = entry(v, (uint32_t)(id >> 16));
    uint32_t x = (uint32_t)(id & 0xFFFF);
    switch (d->type) {
    case TB__BM_BITS:
        return (int)((((const uint64_t *)(v->payload + d->off))[x >> 6] >> (x & 63)) & 1);
    case TB__BM_FULL:
        return 1;
    case TB__BM_ARRAY: {
        const uint16_t *a = (const uint16_t *)(v->payload + d->off);
        uint32_t lo = 0, hi = d->card;
        while (lo < hi) {
            uint32_t mid = (lo + hi) / 2;
            if (a[mid] < x)
                lo = mid + 1;
            else
                hi = mid;
        }
        return lo < d->card && a[lo] == x;
    }
    default:
        return 0;
    }
}

int tb__bmv_foreach(const tb__bmv *v, int (*fn)(uint64_t id, void *arg), void *arg)
{
    if (!v->dir) return 0;
    for (uint32_t c = 0; c < v->nchunks; c++) {
        const dent *d = entry(v, c);
        uint64_t base = (uint64_t)c * TB__BM_CHUNK_BITS;
        int rc;
        switch (d->type) {
        case TB__BM_FULL:
            for (uint32_t x = 0; x < d->card; x++)
                if ((rc = fn(base + x, arg))) return rc;
            break;
        case TB__BM_ARRAY: {
            const uint16_t *a = (const uint16_t *)(v->payload + d->off);
            for (uint32_t k = 0; k < d->card; k++)
                if ((rc = fn(base + a[k], arg))) return rc;
            break;
        }
        case TB__BM_BITS: {
            const uint64_t *w = (const uint64_t *)(v->payload + d->off);
            for (uint32_t i = 0; i < TB__BM_CHUNK_WORDS; i++) {
                for (uint64_t x = w[i]; x; x &= x - 1)
                    if ((rc = fn(base + i * 64 + (uint64_t)__builtin_ctzll(x), arg))) return rc;
            }
            break;
        }
        default:
            break;
        }
    }
    return 0;
}

/* ---------------------------------------------------------------------------------------------
 * Bit-sliced index: builder
 */

struct tb__bsi_builder {
    uint64_t nbits;
    uint32_t nchunks;
    int64_t min, max;   /* over the values put so far */
    tb__bm_builder *nn; /* ids with a value */
    int64_t **vals;     /* per chunk: 65536 values once one id of the chunk has one */
};

int tb__bsi_builder_create(uint64_t nbits, tb__bsi_builder **out)
{
    *out = NULL;
    if (nbits > TB__BM_MAX_BITS) return TB_EINVAL;
    tb__bsi_builder *b = calloc(1, sizeof *b);
    if (!b) return TB_ENOMEM;
    b->nbits = nbits;
    b->nchunks = nchunks_of(nbits);
    b->min = INT64_MAX;
    b->max = INT64_MIN;
    int rc = tb__bm_builder_create(nbits, &b->nn);
    if (rc) goto out_free;
    if (b->nchunks && !(b->vals = calloc(b->nchunks, sizeof *b->vals))) {
        rc = TB_ENOMEM;
        goto out_free;
    }
    *out = b;
    return 0;
out_free:
    tb__bm_builder_free(b->nn);
    free(b);
    return rc;
}

void tb__bsi_builder_free(tb__bsi_builder *b)
{
    if (!b) return;
    for (uint32_t c = 0; c < b->nchunks; c++)
        free(b->vals[c]);
    free(b->vals);
    tb__bm_builder_free(b->nn);
    free(b);
}

/* 1 when the builder has id set. */
static int bld_test(const tb__bm_builder *b, uint64_t id)
{
    const bchunk *ch = &b->ch[id >> 16];
    uint32_t x = (uint32_t)(id & 0xFFFF);
    if (ch->cap == CAP_BITS) return (int)((ch->u.bits[x >> 6] >> (x & 63)) & 1);
    /* Ascending puts look at the last id first. */
    if (ch->card == 0 || ch->u.arr[ch->card - 1] < x) return 0;
    uint32_t lo = 0, hi = ch->card;
    while (lo < hi) {
        uint32_t mid = (lo + hi) / 2;
        if (ch->u.arr[mid] < x)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < ch->card && ch->u.arr[lo] == x;
}

int tb__bsi_put(tb__bsi_builder *b, uint64_t id, int64_t v)
{
    if (id >= b->nbits || bld_test(b->nn, id)) return TB_EINVAL;
    int64_t **vc = &b->vals[id >> 16];
    /* calloc: the values of ids without one are read (and masked off) when slicing. */
    if (!*vc && !(*vc = calloc(TB__BM_CHUNK_BITS, sizeof **vc))) return TB_ENOMEM;
    int rc = tb__bm_set(b->nn, id);
    if (rc) return rc;
    (*vc)[id & 0xFFFF] = v;
    if (v < b->min) b->min = v;
    if (v > b->max) b->max = v;
    return 0;
}

/* Transposes a 64x64 bit matrix in place: afterwards bit j of a[i] is what bit i of a[j] was
 * (Hacker's Delight 7-3, LSB-first): six rounds of swapping off-diagonal blocks. */
static void transpose64(uint64_t a[64])
{
    static const uint64_t mask[6] = {0x00000000FFFFFFFFull, 0x0000FFFF0000FFFFull,
                                     0x00FF00FF00FF00FFull, 0x0F0F0F0F0F0F0F0Full,
                                     0x3333333333333333ull, 0x5555555555555555ull};
    for (unsigned r = 0, s = 32; r < 6; r++, s >>= 1) {
        uint64_t m = mask[r];
        for (unsigned k = 0; k < 64; k = ((k | s) + 1) & ~s) {
            uint64_t t = ((a[k] >> s) ^ a[k | s]) & m;
            a[k | s] ^= t;
            a[k] ^= t << s;
        }
    }
}

/* The words of chunk c in the builder's not-null bitmap (scratch when it is an array). */
static const uint64_t *bld_words(const tb__bm_builder *b, uint32_t c, uint64_t *scratch)
{
    const bchunk *ch = &b->ch[c];
    if (ch->cap == CAP_BITS) return ch->u.bits;
    memset(scratch, 0, BITS_BYTES);
    for (uint32_t k = 0; k < ch->card; k++)
        scratch[ch->u.arr[k] >> 6] |= (uint64_t)1 << (ch->u.arr[k] & 63);
    return scratch;
}

/* Cuts chunk c's values (minus min) into nslices slices of 1024 words: slice i at t[i * 1024]. */
static void slice_chunk(const tb__bsi_builder *b, uint32_t c, uint64_t min, uint32_t nslices,
                        uint64_t *t, uint64_t *nnbuf)
{
    const uint64_t *nn = bld_words(b->nn, c, nnbuf);
    const int64_t *vals = b->vals[c];
    uint64_t m[64];
    for (uint32_t w = 0; w < TB__BM_CHUNK_WORDS; w++) {
        if (!nn[w]) {
            for (uint32_t i = 0; i < nslices; i++)
                t[(size_t)i * TB__BM_CHUNK_WORDS + w] = 0;
            continue;
        }
        for (unsigned j = 0; j < 64; j++)
            m[j] = (uint64_t)vals[w * 64 + j] - min;
        transpose64(m);
        for (uint32_t i = 0; i < nslices; i++)
            t[(size_t)i * TB__BM_CHUNK_WORDS + w] = m[i] & nn[w];
    }
}

static uint32_t bits_needed(uint64_t r)
{
    return r ? 64u - (uint32_t)__builtin_clzll(r) : 0;
}

static uint32_t bsi_hcrc(const uint8_t *h)
{
    return tb__crc32c(0, h, S_HCRC);
}

/* Slices are cut twice, once to count (which fixes every container and offset) and once to
 * write in place: the output buffer is then the only large allocation. */
int tb__bsi_serialize(const tb__bsi_builder *b, tb__buf *out)
{
    uint64_t count = b->nn->card;
    int64_t min = count ? b->min : INT64_MAX, max = count ? b->max : INT64_MIN;
    uint32_t ns = count ? bits_needed((uint64_t)max - (uint64_t)min) : 0;
    uint32_t nc = b->nchunks;
    uint32_t *card = NULL, *nncard = NULL;
    uint64_t *t = NULL, *nnbuf = NULL;
    uint64_t *ssize = NULL;
    int rc = TB_ENOMEM;
    if (!(nncard = malloc((size_t)nc * 4 + 4)) || !(ssize = malloc((size_t)ns * 8 + 8)) ||
        !(card = calloc((size_t)ns * nc + 1, 4)) || !(t = malloc((size_t)ns * BITS_BYTES + 8)) ||
        !(nnbuf = malloc(BITS_BYTES)))
        goto out_free;
    for (uint32_t c = 0; c < nc; c++) {
        nncard[c] = b->nn->ch[c].card;
        if (!ns || !b->vals[c]) continue;
        slice_chunk(b, c, (uint64_t)min, ns, t, nnbuf);
        for (uint32_t i = 0; i < ns; i++)
            card[(size_t)i * nc + c] = (uint32_t)tb__bm_popcount_words(
                t + (size_t)i * TB__BM_CHUNK_WORDS, TB__BM_CHUNK_WORDS);
    }
    uint64_t total = S_SIZE + bm_size(b->nbits, nc, nncard);
    for (uint32_t i = 0; i < ns; i++) {
        ssize[i] = bm_size(b->nbits, nc, card + (size_t)i * nc);
        total += ssize[i];
    }
    if ((rc = tb__buf_reserve(out, (size_t)total))) goto out_free;
    uint8_t h[S_SIZE] = {0};
    memcpy(h + S_MAGIC, k_bsi_magic, 4);
    put_u32(h + S_VERSION, BSI_VERSION);
    put_u64(h + S_NBITS, b->nbits);
    put_u64(h + S_COUNT, count);
    put_u64(h + S_MIN, (uint64_t)min);
    put_u64(h + S_MAX, (uint64_t)max);
    put_u32(h + S_NSLICES, ns);
    put_u64(h + S_TOTAL, total);
    put_u32(h + S_HCRC, bsi_hcrc(h));
    size_t start = out->len;
    if ((rc = tb__buf_append(out, h, S_SIZE)) || (rc = tb__bm_serialize(b->nn, out))) {
        out->len = start;
        goto out_free;
    }
    uint8_t *s0 = (uint8_t *)out->data + out->len;
    uint8_t *dst = s0;
    for (uint32_t i = 0; i < ns; i++) {
        bm_write_dir(dst, b->nbits, nc, card + (size_t)i * nc);
        dst += ssize[i];
    }
    for (uint32_t c = 0; c < nc; c++) {
        if (!ns || !b->vals[c]) continue;
        slice_chunk(b, c, (uint64_t)min, ns, t, nnbuf);
        dst = s0;
        for (uint32_t i = 0; i < ns; i++) {
            bm_put_words(dst, nc, c, t + (size_t)i * TB__BM_CHUNK_WORDS);
            dst += ssize[i];
        }
    }
    dst = s0;
    for (uint32_t i = 0; i < ns; i++) {
        bm_seal(dst, ssize[i]);
        dst += ssize[i];
    }
    out->len = start + (size_t)total;
    out->data[out->len] = '\0';
    rc = 0;
out_free:
    free(nnbuf);
    free(t);
    free(card);
    free(ssize);
    free(nncard);
    return rc;
}

/* ---------------------------------------------------------------------------------------------
 * Bit-sliced index: comparison kernel (O'Neil & Quass, "Improved query performance with variant
 * indexes", 1997, algorithm 4.3), one chunk at a time, word-parallel.
 */

enum { K_EQ, K_LT, K_GT };

/* Compares the values u (= v - min) of chunk c with the constant k, walking the slices from the
 * most significant. On entry eq holds the chunk's not-null words and acc is zero; on return eq
 * holds the ids with u == k and acc those with u < k (K_LT) or u > k (K_GT). A bit leaves eq at
 * the first slice where u and k differ, into acc when the difference goes the wanted way; once
 * eq is empty the remaining slices cannot change anything. */
/* The slice loops are vectorised; on CPUs with AVX2 a 256-bit clone runs (chosen at load time). */
__attribute__((target_clones("avx2", "default"))) static void
cmp_chunk(const tb__bsiv *v, uint32_t c, uint64_t k, int mode, uint64_t *restrict eq,
          uint64_t *restrict acc, uint64_t *sbuf)
{
    const uint32_t n = TB__BM_CHUNK_WORDS;
    for (uint32_t i = v->nslices; i-- > 0;) {
        const tb__bmv *sv = &v->slice[i];
        int bit = (int)((k >> i) & 1);
        tb__bm_ctype t = tb__bmv_ctype(sv, c);
        if (t == TB__BM_EMPTY || t == TB__BM_FULL) {
            /* s is all zeros or (within the chunk's ids, the only ones eq can hold) all ones. */
            int s1 = t == TB__BM_FULL;
            if (s1 == bit) continue; /* u and k agree on this bit for every id */
            if ((mode == K_LT && bit) || (mode == K_GT && !bit))
                for (uint32_t w = 0; w < n; w++)
                    acc[w] |= eq[w];
            memset(eq, 0, BITS_BYTES);
            return;
        }
        const uint64_t *restrict s = tb__bmv_words(sv, c, sbuf);
        uint64_t any = 0;
        if (mode == K_LT && bit) {
            for (uint32_t w = 0; w < n; w++) {
                acc[w] |= eq[w] & ~s[w];
                eq[w] &= s[w];
                any |= eq[w];
            }
        } else if (mode == K_GT && !bit) {
            for (uint32_t w = 0; w < n; w++) {
                acc[w] |= eq[w] & s[w];
                eq[w] &= ~s[w];
                any |= eq[w];
            }
        } else if (bit) {
            for (uint32_t w = 0; w < n; w++) {
                eq[w] &= s[w];
                any |= eq[w];
            }
        } else {
            for (uint32_t w = 0; w < n; w++) {
                eq[w] &= ~s[w];
                any |= eq[w];
            }
        }
        if (!any) return;
    }
}

/* out = ids of chunk c whose u compares with k as `mode` says, or'ed with those equal to k when
 * `or_eq`; K_EQ gives the equal ones. eq is scratch. */
static void cmp_words(const tb__bsiv *v, uint32_t c, uint64_t k, int mode, int or_eq,
                      const uint64_t *nn, uint64_t *restrict out, uint64_t *restrict eq,
                      uint64_t *sbuf)
{
    memcpy(eq, nn, BITS_BYTES);
    memset(out, 0, BITS_BYTES);
    cmp_chunk(v, c, k, mode, eq, out, sbuf);
    if (mode == K_EQ || or_eq)
        for (uint32_t w = 0; w < TB__BM_CHUNK_WORDS; w++)
            out[w] |= eq[w];
}

/* out = ids of chunk c with klo <= u <= khi: the two comparisons of cmp_chunk (u > klo, u < khi)
 * side by side, so that each slice is read once. eqlo and eqhi hold the chunk's not-null words
 * on entry; lt is scratch. */
__attribute__((target_clones("avx2", "default"))) static void
between_chunk(const tb__bsiv *v, uint32_t c, uint64_t klo, uint64_t khi, uint64_t *restrict out,
              uint64_t *restrict eqlo, uint64_t *restrict lt, uint64_t *restrict eqhi,
              uint64_t *sbuf)
{
    const uint32_t n = TB__BM_CHUNK_WORDS;
    uint64_t *restrict gt = out;
    memset(gt, 0, BITS_BYTES);
    memset(lt, 0, BITS_BYTES);
    int lo_live = 1, hi_live = 1;
    for (uint32_t i = v->nslices; i-- > 0 && (lo_live || hi_live);) {
        const tb__bmv *sv = &v->slice[i];
        uint64_t a = (klo >> i) & 1 ? ~(uint64_t)0 : 0, b = (khi >> i) & 1 ? ~(uint64_t)0 : 0;
        tb__bm_ctype t = tb__bmv_ctype(sv, c);
        if (t == TB__BM_EMPTY || t == TB__BM_FULL) {
            uint64_t s1 = t == TB__BM_FULL ? ~(uint64_t)0 : 0;
            if (lo_live && s1 != a) {
                if (s1)
                    for (uint32_t w = 0; w < n; w++)
                        gt[w] |= eqlo[w];
                memset(eqlo, 0, BITS_BYTES);
                lo_live = 0;
            }
            if (hi_live && s1 != b) {
                if (!s1)
                    for (uint32_t w = 0; w < n; w++)
                        lt[w] |= eqhi[w];
                memset(eqhi, 0, BITS_BYTES);
                hi_live = 0;
            }
            continue;
        }
        const uint64_t *restrict s = tb__bmv_words(sv, c, sbuf);
        uint64_t anylo = 0, anyhi = 0;
        /* a, b all-ones where k's bit is 1: u > klo where s = 1 and a = 0; u < khi where s = 0
         * and b = 1; the eq sets keep the ids whose bit equals k's */
        if (lo_live && hi_live) {
            for (uint32_t w = 0; w < n; w++) {
                gt[w] |= eqlo[w] & s[w] & ~a;
                eqlo[w] &= s[w] ^ ~a;
                lt[w] |= eqhi[w] & ~s[w] & b;
                eqhi[w] &= s[w] ^ ~b;
                anylo |= eqlo[w];
                anyhi |= eqhi[w];
            }
        } else if (lo_live) {
            for (uint32_t w = 0; w < n; w++) {
                gt[w] |= eqlo[w] & s[w] & ~a;
                eqlo[w] &= s[w] ^ ~a;
                anylo |= eqlo[w];
            }
        } else {
            for (uint32_t w = 0; w < n; w++) {
                lt[w] |= eqhi[w] & ~s[w] & b;
                eqhi[w] &= s[w] ^ ~b;
                anyhi |= eqhi[w];
            }
        }
        lo_live &= anylo != 0;
        hi_live &= anyhi != 0;
    }
    for (uint32_t w = 0; w < n; w++)
        out[w] = (gt[w] | eqlo[w]) & (lt[w] | eqhi[w]);
}

/* The fused range kernel: for four words at a time, every slice of the chunk from the most
 * significant down, with the "equal so far", "greater" and "less" vectors held in registers; only
 * the slices are read and only the answer is written (the slice-at-a-time loops above read and
 * write their 8 KiB vectors once per slice). u is in [klo, khi] (offsets from min); use_lo /
 * use_hi say whether each bound cuts anything. Slices that are EMPTY or FULL in the chunk come in
 * as the zero or all-ones block. */
typedef uint64_t v4u64 __attribute__((vector_size(32), aligned(8)));

static inline __attribute__((always_inline)) void
range_kernel(const uint64_t *const *sp, uint32_t ns, const uint64_t *nn, uint64_t klo, uint64_t khi,
             const int use_lo, const int use_hi, uint64_t *out)
{
    /* Eight words (one cache line of each slice) at a time; once no id of the eight is still
     * equal to a bound's prefix, the lower slices cannot change the answer and are not read:
     * for values spread over their range that is about half of them. */
    for (uint32_t w = 0; w < TB__BM_CHUNK_WORDS; w += 8) {
        v4u64 n0 = *(const v4u64 *)(const void *)(nn + w);
        v4u64 n1 = *(const v4u64 *)(const void *)(nn + w + 4);
        v4u64 eqlo0 = n0, eqhi0 = n0, gt0 = n0 ^ n0, lt0 = n0 ^ n0;
        v4u64 eqlo1 = n1, eqhi1 = n1, gt1 = n1 ^ n1, lt1 = n1 ^ n1;
        for (uint32_t i = ns; i-- > 0;) {
            v4u64 x0 = *(const v4u64 *)(const void *)(sp[i] + w);
            v4u64 x1 = *(const v4u64 *)(const void *)(sp[i] + w + 4);
            uint64_t a = (uint64_t)0 - ((klo >> i) & 1), b = (uint64_t)0 - ((khi >> i) & 1);
            v4u64 live = n0 ^ n0;
            if (use_lo) {
                gt0 |= eqlo0 & x0 & ~a;
                eqlo0 &= ~(x0 ^ a);
                gt1 |= eqlo1 & x1 & ~a;
                eqlo1 &= ~(x1 ^ a);
                live |= eqlo0 | eqlo1;
            }
            if (use_hi) {
                lt0 |= eqhi0 & ~x0 & b;
                eqhi0 &= ~(x0 ^ b);
                lt1 |= eqhi1 & ~x1 & b;
                eqhi1 &= ~(x1 ^ b);
                live |= eqhi0 | eqhi1;
            }
            if ((i & 3) == 0 && !(live[0] | live[1] | live[2] | live[3])) break;
        }
        v4u64 r0 = n0, r1 = n1;
        if (use_lo) r0 &= gt0 | eqlo0, r1 &= gt1 | eqlo1;
        if (use_hi) r0 &= lt0 | eqhi0, r1 &= lt1 | eqhi1;
        *(v4u64 *)(void *)(out + w) = r0;
        *(v4u64 *)(void *)(out + w + 4) = r1;
    }
}

__attribute__((target_clones("avx2", "default"))) static void
range_fused(const uint64_t *const *sp, uint32_t ns, const uint64_t *nn, uint64_t klo, uint64_t khi,
            int use_lo, int use_hi, uint64_t *out)
{
    if (use_lo && use_hi)
        range_kernel(sp, ns, nn, klo, khi, 1, 1, out);
    else if (use_lo)
        range_kernel(sp, ns, nn, klo, khi, 1, 0, out);
    else
        range_kernel(sp, ns, nn, klo, khi, 0, 1, out);
}

/* The interval [*klo, *khi] of offsets (u = v - min) that `op` selects: 1 for an interval, 0 for
 * none at all, 2 for every value, -1 when it is no interval (NE). */
static int op_interval(const tb__bsiv *v, tb__bsi_op op, int64_t lo, int64_t hi, uint64_t *klo,
                       uint64_t *khi)
{
    int64_t min = v->min, max = v->max, l, h;
    switch (op) {
    case TB__BSI_EQ:
        l = h = lo;
        break;
    case TB__BSI_LT:
        if (lo == INT64_MIN) return 0;
        l = INT64_MIN, h = lo - 1;
        break;
    case TB__BSI_LE:
        l = INT64_MIN, h = lo;
        break;
    case TB__BSI_GT:
        if (lo == INT64_MAX) return 0;
        l = lo + 1, h = INT64_MAX;
        break;
    case TB__BSI_GE:
        l = lo, h = INT64_MAX;
        break;
    case TB__BSI_BETWEEN:
        l = lo, h = hi;
        break;
    default:
        return -1;
    }
    if (l > h || h < min || l > max) return 0;
    if (l <= min && h >= max) return 2;
    *klo = (uint64_t)(l < min ? min : l) - (uint64_t)min;
    *khi = (uint64_t)(h > max ? max : h) - (uint64_t)min;
    return 1;
}

void tb__bsi_range_words(const tb__bsiv *v, uint32_t c, tb__bsi_op op, int64_t lo, int64_t hi,
                         uint64_t *out, uint64_t *scratch)
{
    uint64_t *eq = scratch, *sbuf = scratch + TB__BM_CHUNK_WORDS;
    uint64_t *nnbuf = scratch + 2 * TB__BM_CHUNK_WORDS, *tmp = scratch + 3 * TB__BM_CHUNK_WORDS;
    const uint64_t *nn;
    int64_t min = v->min, max = v->max;
    /* below min, above max, and every value: without reading a slice */
    enum { NONE, ALL, CMP } how = CMP;
    int mode = K_EQ, or_eq = 0;
    if (min > max || tb__bmv_ctype(&v->notnull, c) == TB__BM_EMPTY) goto out_none;
    /* The fused kernel when no slice of the chunk is an ARRAY (the common case of numbers
     * spread over their range); otherwise the slice-at-a-time loops below. */
    {
        uint64_t klo = 0, khi = 0;
        int iv = op_interval(v, op, lo, hi, &klo, &khi);
        if (iv == 0) goto out_none;
        if (iv == 2) {
            nn = tb__bmv_words(&v->notnull, c, nnbuf);
            memcpy(out, nn, BITS_BYTES);
            return;
        }
        if (iv == 1) {
            const uint64_t *sp[64];
            uint32_t i;
            for (i = 0; i < v->nslices; i++) {
                tb__bm_ctype t = tb__bmv_ctype(&v->slice[i], c);
                if (t == TB__BM_ARRAY) break;
                sp[i] = t == TB__BM_EMPTY  ? k_zero
                        : t == TB__BM_FULL ? k_ones
                                           : tb__bmv_words(&v->slice[i], c, NULL);
            }
            if (i == v->nslices) {
                uint64_t umax = (uint64_t)max - (uint64_t)min;
                nn = tb__bmv_words(&v->notnull, c, nnbuf);
                range_fused(sp, v->nslices, nn, klo, khi, klo > 0, khi < umax, out);
                return;
            }
        }
    }
    switch (op) {
    case TB__BSI_EQ:
        how = lo < min || lo > max ? NONE : CMP;
        break;
    case TB__BSI_NE:
        how = lo < min || lo > max ? ALL : CMP;
        break;
    case TB__BSI_LT:
        how = lo <= min ? NONE : lo > max ? ALL : CMP;
        mode = K_LT;
        break;
    case TB__BSI_LE:
        how = lo < min ? NONE : lo >= max ? ALL : CMP;
        mode = K_LT;
        or_eq = 1;
        break;
    case TB__BSI_GT:
        how = lo >= max ? NONE : lo < min ? ALL : CMP;
        mode = K_GT;
        break;
    case TB__BSI_GE:
        how = lo > max ? NONE : lo <= min ? ALL : CMP;
        mode = K_GT;
        or_eq = 1;
        break;
    case TB__BSI_BETWEEN:
        if (lo > hi || hi < min || lo > max) goto out_none;
        if (lo <= min && hi >= max) {
            how = ALL;
        } else if (lo <= min) { /* v <= hi */
            lo = hi;
            mode = K_LT;
            or_eq = 1;
        } else if (hi >= max) { /* v >= lo */
            mode = K_GT;
            or_eq = 1;
        } else if (lo == hi) {
            mode = K_EQ;
        } else {
            nn = tb__bmv_words(&v->notnull, c, nnbuf);
            memcpy(eq, nn, BITS_BYTES);
            memcpy(tmp, nn, BITS_BYTES);
            /* nn is not read again: its buffer becomes the lt vector */
            between_chunk(v, c, (uint64_t)lo - (uint64_t)min, (uint64_t)hi - (uint64_t)min, out, eq,
                          nnbuf, tmp, sbuf);
            return;
        }
        break;
    default:
        assert(!"unknown tb__bsi_op");
        goto out_none;
    }
    if (how == NONE) goto out_none;
    nn = tb__bmv_words(&v->notnull, c, nnbuf);
    if (how == ALL) {
        memcpy(out, nn, BITS_BYTES);
        return;
    }
    cmp_words(v, c, (uint64_t)lo - (uint64_t)min, mode, or_eq, nn, out, eq, sbuf);
    if (op == TB__BSI_NE)
        for (uint32_t w = 0; w < TB__BM_CHUNK_WORDS; w++)
            out[w] = nn[w] & ~out[w];
    return;
out_none:
    memset(out, 0, BITS_BYTES);
}

int tb__bsi_get(const tb__bsiv *v, uint64_t id, int64_t *val)
{
    if (!tb__bmv_contains(&v->notnull, id)) return 0;
    uint64_t u = 0;
    for (uint32_t i = 0; i < v->nslices; i++)
        u |= (uint64_t)tb__bmv_contains(&v->slice[i], id) << i;
    *val = (int64_t)((uint64_t)v->min + u);
    return 1;
}

/* ---------------------------------------------------------------------------------------------
 * Bit-sliced index: parsing
 */

/* What the bitmaps alone cannot show: every slice bit belongs to an id with a value, no value is
 * above max (u <= max - min) and min and max are values some id has. One comparison pass with
 * k = max - min gives the last two; the min is usually found in the first chunk. */
static int bsi_check_values(const tb__bsiv *v, uint64_t *scratch, const pctx *px)
{
    uint64_t *eq = scratch, *acc = scratch + TB__BM_CHUNK_WORDS;
    uint64_t *nnbuf = scratch + 2 * TB__BM_CHUNK_WORDS, *sbuf = scratch + 3 * TB__BM_CHUNK_WORDS;
    uint64_t r = (uint64_t)v->max - (uint64_t)v->min;
    int seen_min = 0, seen_max = 0;
    for (uint32_t c = 0; c < v->notnull.nchunks; c++) {
        const uint64_t *nn = tb__bmv_words(&v->notnull, c, nnbuf);
        int nn_full = tb__bmv_ctype(&v->notnull, c) == TB__BM_FULL;
        for (uint32_t i = 0; i < v->nslices && !nn_full; i++) {
            if (tb__bmv_ctype(&v->slice[i], c) == TB__BM_EMPTY) continue;
            const uint64_t *s = tb__bmv_words(&v->slice[i], c, sbuf);
            for (uint32_t w = 0; w < TB__BM_CHUNK_WORDS; w++)
                if (s[w] & ~nn[w])
                    return corrupt(px, S_NSLICES,
                                   "slice %u has id %llu, expected only ids in the not-null "
                                   "bitmap",
                                   i,
                                   (unsigned long long)c * TB__BM_CHUNK_BITS + w * 64 +
                                       (uint64_t)__builtin_ctzll(s[w] & ~nn[w]));
        }
        if (!v->nslices || tb__bmv_chunk_card(&v->notnull, c) == 0) continue;
        cmp_words(v, c, r, K_GT, 0, nn, acc, eq, sbuf);
        for (uint32_t w = 0; w < TB__BM_CHUNK_WORDS; w++) {
            if (acc[w])
                return corrupt(px, S_MAX, "id %llu has a value above max %lld",
                               (unsigned long long)c * TB__BM_CHUNK_BITS + w * 64 +
                                   (uint64_t)__builtin_ctzll(acc[w]),
                               (long long)v->max);
            seen_max |= eq[w] != 0;
        }
        if (!seen_min) {
            cmp_words(v, c, 0, K_EQ, 0, nn, acc, eq, sbuf);
            for (uint32_t w = 0; w < TB__BM_CHUNK_WORDS; w++)
                seen_min |= acc[w] != 0;
        }
    }
    if (v->nslices && !seen_min)
        return corrupt(px, S_MIN, "min %lld, expected a value some id has", (long long)v->min);
    if (v->nslices && !seen_max)
        return corrupt(px, S_MAX, "max %lld, expected a value some id has", (long long)v->max);
    return 0;
}

int tb__bsi_parse_safe(const void *buf, size_t len, int verify_crc, tb__bsiv *out, size_t *used,
                       tb__errbuf *eb)
{
    const uint8_t *b = buf;
    char what[32];
    pctx px = {0, "", eb};
    uint64_t *scratch = NULL;
    int rc;
    memset(out, 0, sizeof *out);
    if (used) *used = 0;
    if ((uintptr_t)buf & 7) return tb__seterr(eb, TB_EINVAL, "BSI buffer is not 8-byte aligned");
    if (len < S_SIZE)
        return corrupt(&px, len, "BSI ends inside its %d-byte header, expected %d bytes", S_SIZE,
                       S_SIZE);
    if (memcmp(b + S_MAGIC, k_bsi_magic, 4) != 0)
        return corrupt(&px, S_MAGIC, "bad magic, expected \"TBSI\"");
    uint32_t hcrc = bsi_hcrc(b);
    if (get_u32(b + S_HCRC) != hcrc)
        return corrupt(&px, S_HCRC, "header checksum is 0x%08X, computed 0x%08X",
                       get_u32(b + S_HCRC), hcrc);
    uint32_t ver = get_u32(b + S_VERSION);
    if (ver != BSI_VERSION) {
        rc = corrupt(&px, S_VERSION, "BSI format version %u, expected %d", ver, BSI_VERSION);
        if (ver > BSI_VERSION) eb->code = rc = TB_EVERSION;
        return rc;
    }
    if (get_u32(b + S_RESERVED) || get_u32(b + S_RESERVED2))
        return corrupt(&px, get_u32(b + S_RESERVED) ? S_RESERVED : S_RESERVED2,
                       "reserved field is not 0");
    uint64_t nbits = get_u64(b + S_NBITS), count = get_u64(b + S_COUNT);
    int64_t min = (int64_t)get_u64(b + S_MIN), max = (int64_t)get_u64(b + S_MAX);
    uint32_t ns = get_u32(b + S_NSLICES);
    uint64_t total = get_u64(b + S_TOTAL);
    if (nbits > TB__BM_MAX_BITS)
        return corrupt(&px, S_NBITS, "nbits %llu, expected at most 2^40",
                       (unsigned long long)nbits);
    if (count > nbits)
        return corrupt(&px, S_COUNT, "%llu values, expected at most nbits %llu",
                       (unsigned long long)count, (unsigned long long)nbits);
    if (count && min > max)
        return corrupt(&px, S_MIN, "min %lld above max %lld, expected min <= max", (long long)min,
                       (long long)max);
    if (!count && (min != INT64_MAX || max != INT64_MIN))
        return corrupt(&px, S_MIN, "min %lld, max %lld without values, expected %lld, %lld",
                       (long long)min, (long long)max, (long long)INT64_MAX, (long long)INT64_MIN);
    uint32_t want = count ? bits_needed((uint64_t)max - (uint64_t)min) : 0;
    if (ns != want)
        return corrupt(&px, S_NSLICES, "%u slices, expected %u for values %lld..%lld", ns, want,
                       (long long)min, (long long)max);
    if (total > len || total < S_SIZE || (total & 7))
        return corrupt(&px, S_TOTAL, "BSI of %llu bytes, expected a multiple of 8 from %d to %zu",
                       (unsigned long long)total, S_SIZE, len);
    out->nbits = nbits;
    out->min = min;
    out->max = max;
    out->nslices = ns;
    uint64_t pos = S_SIZE;
    for (uint32_t i = 0; i <= ns; i++) {
        tb__bmv *bv = i == 0 ? &out->notnull : &out->slice[i - 1];
        size_t n;
        if (i == 0)
            snprintf(what, sizeof what, "not-null bitmap: ");
        else
            snprintf(what, sizeof what, "slice %u: ", i - 1);
        pctx sub = {pos, what, eb};
        if ((rc = bm_parse(b + pos, (size_t)(total - pos), verify_crc, bv, &n, &sub))) {
            /* the BSI's own version covers its parts: another one inside is damage */
            if (rc == TB_EVERSION) eb->code = rc = TB_ECORRUPT;
            goto out_fail;
        }
        if (bv->nbits != nbits) {
            rc = corrupt(&sub, H_NBITS, "nbits %llu, expected the BSI's %llu",
                         (unsigned long long)bv->nbits, (unsigned long long)nbits);
            goto out_fail;
        }
        pos += n;
    }
    if (out->notnull.card != count) {
        rc = corrupt(&px, S_COUNT, "%llu values, the not-null bitmap has %llu",
                     (unsigned long long)count, (unsigned long long)out->notnull.card);
        goto out_fail;
    }
    if (pos != total) {
        rc = corrupt(&px, S_TOTAL, "BSI of %llu bytes, its bitmaps end at %llu",
                     (unsigned long long)total, (unsigned long long)pos);
        goto out_fail;
    }
    if (!(scratch = malloc(TB__BSI_SCRATCH_WORDS * 8))) {
        rc = tb__seterr(eb, TB_ENOMEM, "out of memory checking a BSI");
        goto out_fail;
    }
    if (!(verify_crc & TB__BM_PARSE_TRUST_BITS) && (rc = bsi_check_values(out, scratch, &px)))
        goto out_fail;
    free(scratch);
    for (uint32_t i = ns; i < 64; i++)
        tb__bmv_empty(&out->slice[i], nbits);
    if (used) *used = (size_t)total;
    return 0;
out_fail:
    free(scratch);
    memset(out, 0, sizeof *out);
    return rc;
}
