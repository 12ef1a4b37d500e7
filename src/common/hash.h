/* hash.h — the one hash of bytes for in-memory tables (XXH3 from libxxhash): keys, codes, rows.
 * Not for anything stored on disk (those formats name their own checksums) nor for secrets. */
#ifndef TB_COMMON_HASH_H
#define TB_COMMON_HASH_H

#include <stddef.h>
#include <stdint.h>
#include <xxhash.h>

/* 64-bit hash of p[0..n) under `seed`, never 0, so that open-addressing tables can mark an empty
 * slot with 0. Different seeds give independent hashes of the same bytes. Thread-safe. */
static inline uint64_t tb__hash64(const void *p, size_t n, uint64_t seed)
{
    return XXH3_64bits_withSeed(p, n, seed) | 1;
}

#endif
