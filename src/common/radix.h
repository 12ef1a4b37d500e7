/* radix.h — sorting fixed-size records by a 128-bit key, in linear time. */
#ifndef TB_COMMON_RADIX_H
#define TB_COMMON_RADIX_H

#include <stddef.h>

/* Sorts the n records of `size` bytes at `a` by the unsigned 128-bit key whose high half is the
 * uint64_t at offset 0 of each record and whose low half is the one at offset 8; records of equal
 * keys keep their order (stable). `size` is 16, 24 or 32 (the record must be 8-byte aligned).
 * An LSD radix sort, 16 bits a pass, that skips a pass whose digit is the same in every record:
 * tens of millions of keys sort in a few passes over memory, where a comparison sort misses the
 * cache on most of its n log n compares. 0, or TB_ENOMEM (nothing moved) for its n records of
 * scratch space; TB_EINVAL for another size. Thread-safe (no shared state). */
int tb__radix_sort128(void *a, size_t n, size_t size);

#endif
