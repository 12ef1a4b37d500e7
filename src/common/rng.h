/* rng.h — a small, fast, seedable pseudo-random generator (xoshiro256**, seeded by splitmix64).
 * Deterministic across machines: the generator's byte-identical output depends on it. Not for
 * secrets (use libsodium for those). */
#ifndef TB_COMMON_RNG_H
#define TB_COMMON_RNG_H

#include <stdint.h>

typedef struct tb__rng {
    uint64_t s[4];
} tb__rng;

/* Seeds from one 64-bit value; two different (seed, stream) pairs give independent sequences, so
 * that e.g. customer i can be generated from (seed, i) in any order or thread. */
void tb__rng_seed(tb__rng *r, uint64_t seed, uint64_t stream);

uint64_t tb__rng_next(tb__rng *r);

/* Uniform in [0, n) without modulo bias; n == 0 returns 0. */
uint64_t tb__rng_below(tb__rng *r, uint64_t n);

/* Uniform in [lo, hi] inclusive. */
int64_t tb__rng_range(tb__rng *r, int64_t lo, int64_t hi);

/* Uniform double in [0, 1). */
double tb__rng_unit(tb__rng *r);

/* 1 with probability p. */
int tb__rng_chance(tb__rng *r, double p);

/* Standard normal (Box-Muller; one value per call). */
double tb__rng_normal(tb__rng *r);

/* Log-normal with the given median and shape sigma: median * exp(sigma * N(0,1)). */
double tb__rng_lognormal(tb__rng *r, double median, double sigma);

/* Picks an index by non-negative integer weights (sum must be > 0). */
unsigned tb__rng_weighted(tb__rng *r, const unsigned *weights, unsigned n);

/* splitmix64 step: a good 64-bit mixer for hashing ids into seeds. */
uint64_t tb__mix64(uint64_t x);

#endif
