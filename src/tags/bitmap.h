/* bitmap.h — compressed bitmaps over dense internal ids (gids), our own layout, and bit-sliced
 * indexes (BSI) for numbers and dates built on them. The evaluator (src/segments/eval.c) reads
 * them one chunk of 65,536 ids at a time, fusing a whole expression per chunk.
 *
 * Layout (docs/tags.md, "Bitmap format"): the universe [0, nbits) is cut into chunks of 2^16 ids.
 * Each chunk is one container, chosen by its cardinality when the bitmap is built:
 *   EMPTY  no id set (no payload)
 *   FULL   every id of the chunk that is < nbits is set (no payload)
 *   ARRAY  1..4096 ids, sorted uint16 (2 bytes each)
 *   BITS   1024 uint64 words (8 KiB), bit j of word w is id chunk*65536 + w*64 + j
 * This is roaring's idea without run containers (FULL covers the common long run) and with an
 * offset directory so a chunk is found in O(1). Debian's libroaring is built without POPCNT/AVX2,
 * and its API evaluates one operation at a time; bench/RESULTS.md shows why we fuse instead.
 *
 * Serialised form ("TBBM", little-endian, 8-byte aligned, see docs/tags.md):
 *   header 32 bytes: magic "TBBM", u32 version 1, u64 nbits, u64 cardinality, u32 nchunks,
 *                    u32 crc32c of the directory and payload
 *   directory: nchunks entries of 8 bytes: u8 type, u8 pad, u16 pad, u32 (card-1 for ARRAY,
 *              else 0) ... then nchunks u64 payload offsets relative to the payload start
 *   payload: containers, each 8-byte aligned
 * (the helper who implements it may refine the directory, but must keep: O(1) chunk lookup,
 *  8-byte aligned BITS words usable in place from a mapping, a checksum, and
 *  tb__bm_parse_safe refusing any length/offset/type/order it cannot trust.)
 *
 * Ownership: a tb__bm_builder is created by tb__bm_builder_create and freed by
 * tb__bm_builder_free (caller frees). tb__bm_serialize writes into a caller-owned tb__buf.
 * A tb__bmv is a VIEW: it borrows the bytes it was parsed from (a mapping, a buffer) and must not
 * outlive them; it owns nothing and needs no free. Thread-safety: builders belong to one thread;
 * views are read-only and may be shared by any number of threads.
 *
 * Errors: 0 or negative TB_E*: TB_ENOMEM, TB_EINVAL (bad argument: id out of range, ids not
 * ascending), TB_ECORRUPT (parse: detail names the byte offset and what was expected). */
#ifndef TB_TAGS_BITMAP_H
#define TB_TAGS_BITMAP_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/err.h"

#define TB__BM_CHUNK_BITS  65536u
#define TB__BM_CHUNK_WORDS 1024u /* uint64 words per chunk */
#define TB__BM_ARRAY_MAX   4096u /* more ids than this in a chunk: BITS */
#define TB__BM_MAX_BITS    ((uint64_t)1 << 40)

typedef enum tb__bm_ctype {
    TB__BM_EMPTY = 0,
    TB__BM_FULL = 1,
    TB__BM_ARRAY = 2,
    TB__BM_BITS = 3,
} tb__bm_ctype;

/* ---------------------------------------------------------------------------------------------
 * Building
 */
typedef struct tb__bm_builder tb__bm_builder;

/* A builder for a bitmap over [0, nbits). */
int tb__bm_builder_create(uint64_t nbits, tb__bm_builder **out);
void tb__bm_builder_free(tb__bm_builder *b);
/* Sets id (any order; idempotent). TB_EINVAL when id >= nbits. */
int tb__bm_set(tb__bm_builder *b, uint64_t id);
/* ORs 1024 words into chunk `chunk` (the evaluator's output path). TB_EINVAL past the end. Bits
 * at or beyond nbits must be zero (asserted). */
int tb__bm_or_words(tb__bm_builder *b, uint32_t chunk, const uint64_t *words);
/* Ids set so far. */
uint64_t tb__bm_builder_cardinality(const tb__bm_builder *b);
/* Appends the serialised bitmap (chooses each chunk's container) to `out`; the builder stays
 * usable. */
int tb__bm_serialize(const tb__bm_builder *b, tb__buf *out);

/* ---------------------------------------------------------------------------------------------
 * Reading (views over serialised bytes)
 */
typedef struct tb__bmv {
    uint64_t nbits;
    uint64_t card;
    uint32_t nchunks;
    const uint8_t *dir;     /* directory (private layout; use the functions below) */
    const uint8_t *payload; /* container bytes */
    uint64_t payload_len;
} tb__bmv;

/* Parses a serialised bitmap in buf[0, len) (borrowed; untrusted): checks magic, version, sizes,
 * every directory entry (type known, offsets in bounds and aligned, each ARRAY strictly ascending,
 * the cardinalities adding up, no bit set at or past nbits), so that readers can trust the view
 * without further checks; and the checksum when `verify_crc` is non-zero (the tag store passes 0
 * on open and 1 in `tagbase check`). On success fills *out and returns 0; *used (if not NULL) gets the
 * serialised size. TB_ECORRUPT with "byte N: ..." otherwise. */
int tb__bm_parse_safe(const void *buf, size_t len, int verify_crc, tb__bmv *out, size_t *used,
                      tb__errbuf *eb);

/* An all-zero view of nbits ids (no bytes behind it). */
void tb__bmv_empty(tb__bmv *out, uint64_t nbits);

/* The container type of chunk c (c < nchunks). */
tb__bm_ctype tb__bmv_ctype(const tb__bmv *v, uint32_t c);

/* The 1024 words of chunk c: a pointer into the view for BITS, to a shared all-zero or all-one
 * block for EMPTY/FULL (the FULL block of the LAST chunk is masked to nbits: it is written to
 * `scratch`), or `scratch` (1024 words, caller's) filled from the ARRAY. Never NULL. */
const uint64_t *tb__bmv_words(const tb__bmv *v, uint32_t c, uint64_t *scratch);

/* Ids set in chunk c, without materialising words when the container says it. */
uint32_t tb__bmv_chunk_card(const tb__bmv *v, uint32_t c);

/* 1 when id is set (O(1) for BITS/EMPTY/FULL, O(log n) for ARRAY); 0 past nbits. */
int tb__bmv_contains(const tb__bmv *v, uint64_t id);

/* Calls fn(id, arg) for every set id in ascending order; stops early and returns fn's value when
 * it is non-zero. */
int tb__bmv_foreach(const tb__bmv *v, int (*fn)(uint64_t id, void *arg), void *arg);

/* Popcount of 1024 words; the kernel every count uses (dispatches to POPCNT when the CPU has it,
 * whatever the build flags). */
uint64_t tb__bm_popcount_words(const uint64_t *w, size_t nwords);

/* ---------------------------------------------------------------------------------------------
 * Bit-sliced index: a number per id, for ranges as bitmap operations. Values are int64 (money in
 * cents, rates * 10000, dates as days since 1970-01-01); the BSI stores v - min in `nslices` bit
 * slices (slice 0 = least significant) plus a bitmap of the ids that have a value (not NULL).
 */
typedef struct tb__bsi_builder tb__bsi_builder;

int tb__bsi_builder_create(uint64_t nbits, tb__bsi_builder **out);
void tb__bsi_builder_free(tb__bsi_builder *b);
/* Records value v for id (each id at most once; TB_EINVAL when id >= nbits). */
int tb__bsi_put(tb__bsi_builder *b, uint64_t id, int64_t v);
/* Serialises: header ("TBSI", min, max, nslices, count) + the not-null bitmap + nslices bitmaps,
 * each in tb__bm_serialize form. */
int tb__bsi_serialize(const tb__bsi_builder *b, tb__buf *out);

typedef struct tb__bsiv {
    uint64_t nbits;
    int64_t min, max; /* over the non-NULL values; min > max when there are none */
    uint32_t nslices; /* 0..64 */
    tb__bmv notnull;
    tb__bmv slice[64];
} tb__bsiv;

/* Parses a serialised BSI (same rules as tb__bm_parse_safe). */
int tb__bsi_parse_safe(const void *buf, size_t len, int verify_crc, tb__bsiv *out, size_t *used,
                       tb__errbuf *eb);

/* Comparison operators for ranges. */
typedef enum tb__bsi_op {
    TB__BSI_EQ,
    TB__BSI_NE, /* not null and != */
    TB__BSI_LT,
    TB__BSI_LE,
    TB__BSI_GT,
    TB__BSI_GE,
    TB__BSI_BETWEEN, /* lo <= v <= hi */
} tb__bsi_op;

/* Writes into out[0..1023] the ids of chunk c whose value satisfies `op` against lo (and hi for
 * BETWEEN): O'Neil's bit-sliced comparison over the chunk's slices, word-parallel, with NULLs
 * never matching. `scratch` is caller-provided working space of at least
 * TB__BSI_SCRATCH_WORDS words. */
#define TB__BSI_SCRATCH_WORDS (4 * TB__BM_CHUNK_WORDS)
void tb__bsi_range_words(const tb__bsiv *v, uint32_t c, tb__bsi_op op, int64_t lo, int64_t hi,
                         uint64_t *out, uint64_t *scratch);

/* The value of id: 1 and *val when it has one, 0 when NULL or past nbits. */
int tb__bsi_get(const tb__bsiv *v, uint64_t id, int64_t *val);

#endif
