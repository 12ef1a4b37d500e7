/* bitmap.h — compressed bitmaps over dense internal ids (gids), our own layout, and bit-sliced
 * indexes (BSI) for numbers and dates built on them. The evaluator (src/segments/eval.c) reads
 * them one chunk of 65,536 ids at a time, fusing a whole expression per chunk.
 *
 * Layout (docs/bitmap.md): the universe [0, nbits) is cut into chunks of 2^16 ids.
 * Each chunk is one container, chosen by its cardinality when the bitmap is serialised:
 *   EMPTY  no id set (no payload)
 *   FULL   every id of the chunk that is < nbits is set (no payload)
 *   ARRAY  1..4096 ids, sorted uint16 (2 bytes each)
 *   BITS   1024 uint64 words (8 KiB), bit j of word w is id chunk*65536 + w*64 + j
 * This is roaring's idea without run containers (FULL covers the common long run) and with an
 * offset directory so a chunk is found in O(1). Debian's libroaring is built without POPCNT/AVX2,
 * and its API evaluates one operation at a time; bench/RESULTS.md shows why we fuse instead.
 *
 * Serialised form ("TBBM", version 1, little-endian; docs/bitmap.md has the byte tables):
 *   header 40 bytes: magic "TBBM", u32 version 1, u64 nbits, u64 cardinality, u32 nchunks,
 *                    u32 crc32c (of every byte of the bitmap but these four), u64 payload bytes
 *   directory: nchunks entries of 16 bytes: u8 type, 3 bytes 0, u32 ids in the chunk,
 *              u64 payload offset (ARRAY/BITS; 0 for EMPTY/FULL)
 *   payload: the ARRAY and BITS containers in chunk order, each 8-byte aligned, no gaps (an ARRAY
 *            is padded with zero bytes to a multiple of 8)
 * The size is always a multiple of 8 and every part is 8-byte aligned relative to the start, so a
 * bitmap placed at an 8-byte aligned address (a mapping, malloc, or after other serialised
 * bitmaps) is read in place: BITS words, ARRAY ids and the directory are never copied. Exactly
 * one byte string encodes each bitmap (containers by cardinality, offsets in order, zero padding).
 *
 * Ownership: a tb__bm_builder is created by tb__bm_builder_create and freed by
 * tb__bm_builder_free (caller frees). tb__bm_serialize writes into a caller-owned tb__buf.
 * A tb__bmv is a VIEW: it borrows the bytes it was parsed from (a mapping, a buffer) and must not
 * outlive them; it owns nothing and needs no free. Thread-safety: builders belong to one thread;
 * views are read-only and may be shared by any number of threads.
 *
 * Memory: a builder keeps per touched chunk a sorted uint16 array while it holds at most 4096 ids,
 * then one 8 KiB block, plus 16 bytes per chunk: at most about nbits/8 bytes. A BSI builder keeps
 * 8 bytes per id of every chunk that has a value (the values), plus its not-null builder.
 *
 * Errors: 0 or negative TB_E*: TB_ENOMEM, TB_EINVAL (bad argument: id out of range, nbits above
 * 2^40, an id put twice into a BSI, a buffer to parse that is not 8-byte aligned), TB_ECORRUPT
 * (parse: the detail is "byte N: what, expected what", N counted from the start of the buffer),
 * TB_EVERSION (parse: written by a newer format version). */
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

/* A builder for a bitmap over [0, nbits), nbits <= TB__BM_MAX_BITS (0 is allowed). *out is the
 * builder (caller frees with tb__bm_builder_free), NULL on error. TB_EINVAL, TB_ENOMEM. */
int tb__bm_builder_create(uint64_t nbits, tb__bm_builder **out);
void tb__bm_builder_free(tb__bm_builder *b); /* NULL is a no-op */
/* Sets id (any order; idempotent). TB_EINVAL when id >= nbits, TB_ENOMEM. Ascending ids are the
 * fast path (an append, or one bit once the chunk has more than 4096 ids). */
int tb__bm_set(tb__bm_builder *b, uint64_t id);
/* ORs 1024 words into chunk `chunk` (the evaluator's output path). TB_EINVAL past the end,
 * TB_ENOMEM. Bits at or beyond nbits must be zero (asserted; ignored in a release build). */
int tb__bm_or_words(tb__bm_builder *b, uint32_t chunk, const uint64_t *words);
/* Ids set so far. */
uint64_t tb__bm_builder_cardinality(const tb__bm_builder *b);
/* Appends the serialised bitmap (chooses each chunk's container) to `out`; the builder stays
 * usable. The appended size is a multiple of 8; `out` need not be aligned (parse from an aligned
 * copy or place the bytes at an aligned file offset). TB_ENOMEM (out unchanged). */
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

/* Parses a serialised bitmap in buf[0, len) (borrowed; untrusted; must be 8-byte aligned, else
 * TB_EINVAL): checks magic, version, sizes, every directory entry (type known and the one its
 * cardinality calls for, offsets in order and in bounds, each ARRAY strictly ascending and
 * zero-padded, each BITS block's popcount, the cardinalities adding up, no id at or past nbits),
 * so that readers can trust the view without further checks; and the checksum when `verify_crc`
 * is non-zero (the tag store passes 0 on open and 1 in `tagbase check`). Bytes after the bitmap
 * are allowed (not read). Costs one pass over the BITS blocks (popcount) even without the
 * checksum. On success fills *out and returns 0; *used (if not NULL) gets the serialised size.
 * TB_ECORRUPT with "byte N: ..." (or TB_EVERSION) otherwise, *out then an empty view of 0 ids and
 * *used 0. */
/* Flags of the `verify_crc` argument of the parsers (0 is the full structural check). */
enum {
    TB__BM_PARSE_CRC = 1 << 0,        /* also verify the checksum (reads every byte) */
    TB__BM_PARSE_TRUST_BITS = 1 << 1, /* skip the passes over container payloads (BITS popcount
                                         against the directory, no bit past nbits; ARRAY order and
                                         range) and the BSI's value check:
                                         for memory-mapped stores whose every byte `tagbase check`
                                         verifies by checksum. Views stay memory-safe (no offset
                                         or length comes from what is skipped); a damaged payload
                                         can only give wrong bits, and every count is bounded by
                                         the universe bitmap. */
};

int tb__bm_parse_safe(const void *buf, size_t len, int verify_crc, tb__bmv *out, size_t *used,
                      tb__errbuf *eb);

/* An all-zero view of nbits ids (no bytes behind it). */
void tb__bmv_empty(tb__bmv *out, uint64_t nbits);

/* The container type of chunk c (c < nchunks). */
tb__bm_ctype tb__bmv_ctype(const tb__bmv *v, uint32_t c);

/* The 1024 words of chunk c: a pointer into the view for BITS, to a shared all-zero or all-one
 * block for EMPTY/FULL (the FULL block of the LAST chunk is masked to nbits: it is written to
 * `scratch`), or `scratch` (1024 words, caller's) filled from the ARRAY. Never NULL; 8-byte
 * aligned; read-only; valid while the view's bytes and scratch are. O(1) but for ARRAY (a clear
 * and one store per id). Bits at or past nbits are always 0. */
const uint64_t *tb__bmv_words(const tb__bmv *v, uint32_t c, uint64_t *scratch);

/* Ids set in chunk c, without materialising words when the container says it. */
uint32_t tb__bmv_chunk_card(const tb__bmv *v, uint32_t c);

/* 1 when id is set (O(1) for BITS/EMPTY/FULL, O(log n) for ARRAY); 0 past nbits. */
int tb__bmv_contains(const tb__bmv *v, uint64_t id);

/* Calls fn(id, arg) for every set id in ascending order; stops early and returns fn's value when
 * it is non-zero. */
int tb__bmv_foreach(const tb__bmv *v, int (*fn)(uint64_t id, void *arg), void *arg);

/* Popcount of nwords words (any count, any 8-byte aligned address); the kernel every count uses
 * (dispatches at run time to AVX2, else POPCNT, when the CPU has them, whatever the build flags).
 */
uint64_t tb__bm_popcount_words(const uint64_t *w, size_t nwords);

/* ---------------------------------------------------------------------------------------------
 * Bit-sliced index: a number per id, for ranges as bitmap operations. Values are int64 (money in
 * cents, rates * 10000, dates as days since 1970-01-01); the BSI stores v - min in `nslices` bit
 * slices (slice 0 = least significant) plus a bitmap of the ids that have a value (not NULL).
 */
typedef struct tb__bsi_builder tb__bsi_builder;

/* A BSI builder over [0, nbits) (caller frees with tb__bsi_builder_free). TB_EINVAL, TB_ENOMEM. */
int tb__bsi_builder_create(uint64_t nbits, tb__bsi_builder **out);
void tb__bsi_builder_free(tb__bsi_builder *b); /* NULL is a no-op */
/* Records value v (any int64) for id, ids in any order (ascending is the fast path). TB_EINVAL
 * when id >= nbits or id already has a value (each id at most once), TB_ENOMEM. */
int tb__bsi_put(tb__bsi_builder *b, uint64_t id, int64_t v);
/* Appends the serialised BSI to `out`: a 64-byte header ("TBSI", nbits, count, min, max,
 * nslices, total size, header crc32c) + the not-null bitmap + nslices bitmaps (slice 0 first),
 * each in tb__bm_serialize form; the size is a multiple of 8. The builder stays usable. Slices
 * are cut twice (count, then write in place), so `out` is the only large allocation. TB_ENOMEM. */
int tb__bsi_serialize(const tb__bsi_builder *b, tb__buf *out);

typedef struct tb__bsiv {
    uint64_t nbits;
    int64_t min, max; /* over the non-NULL values, both attained; INT64_MAX, INT64_MIN when there
                         are none */
    uint32_t nslices; /* bits of max - min as uint64: 0..64 (0: at most one distinct value) */
    tb__bmv notnull;
    tb__bmv slice[64]; /* slice[i] for i >= nslices: empty views */
} tb__bsiv;

/* Parses a serialised BSI (same rules as tb__bm_parse_safe; the 64-byte header's own checksum is
 * always checked, the bitmaps' when verify_crc is non-zero). Beyond each bitmap's checks: nbits
 * agree, count is the not-null cardinality, nslices is what max - min needs, every slice bit
 * belongs to an id with a value, no value exceeds max, min and max are values some id has (one
 * comparison pass over the slices). A view of a BSI is about 3.2 KB: parse into heap or static
 * storage in threads with small stacks. */
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

/* Writes into out[0..1023] the ids of chunk c (c < notnull.nchunks) whose value satisfies `op`
 * against lo (and hi for BETWEEN; lo > hi matches nothing; hi is ignored by the other operators):
 * O'Neil's bit-sliced comparison over the chunk's slices, most significant first, word-parallel,
 * stopping when no id is still undecided; NULLs never match; bounds below min or above max, an
 * empty BSI and a chunk without values are answered without reading a slice. `scratch` is
 * caller-provided working space of at least TB__BSI_SCRATCH_WORDS words; out must not overlap it.
 * Thread-safe for distinct out/scratch. */
#define TB__BSI_SCRATCH_WORDS (4 * TB__BM_CHUNK_WORDS)
void tb__bsi_range_words(const tb__bsiv *v, uint32_t c, tb__bsi_op op, int64_t lo, int64_t hi,
                         uint64_t *out, uint64_t *scratch);

/* The value of id: 1 and *val when it has one, 0 when NULL or past nbits. */
int tb__bsi_get(const tb__bsiv *v, uint64_t id, int64_t *val);

#endif
