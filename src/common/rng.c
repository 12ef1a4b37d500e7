/* rng.c — xoshiro256** (Blackman and Vigna), seeded through splitmix64. */
#include <math.h>

#include "rng.h"

uint64_t tb__mix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

void tb__rng_seed(tb__rng *r, uint64_t seed, uint64_t stream)
{
    uint64_t x = tb__mix64(seed) ^ tb__mix64(stream * 0xd1342543de82ef95ULL + 1);
    for (int i = 0; i < 4; i++) {
        x += 0x9e3779b97f4a7c15ULL;
        r->s[i] = tb__mix64(x);
    }
    if ((r->s[0] | r->s[1] | r->s[2] | r->s[3]) == 0) r->s[0] = 1;
}

static inline uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

uint64_t tb__rng_next(tb__rng *r)
{
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

uint64_t tb__rng_below(tb__rng *r, uint64_t n)
{
    if (n == 0) return 0;
    /* Lemire's multiply-shift with rejection. */
    unsigned __int128 m = (unsigned __int128)tb__rng_next(r) * n;
    uint64_t lo = (uint64_t)m;
    if (lo < n) {
        uint64_t t = -n % n;
        while (lo < t) {
            m = (unsigned __int128)tb__rng_next(r) * n;
            lo = (uint64_t)m;
        }
    }
    return (uint64_t)(m >> 64);
}

int64_t tb__rng_range(tb__rng *r, int64_t lo, int64_t hi)
{
    if (hi <= lo) return lo;
    /* Unsigned arithmetic: hi - lo overflows int64_t for wide ranges such as the whole type. */
    uint64_t span = (uint64_t)hi - (uint64_t)lo;
    uint64_t x = span == UINT64_MAX ? tb__rng_next(r) : tb__rng_below(r, span + 1);
    return (int64_t)((uint64_t)lo + x);
}

double tb__rng_unit(tb__rng *r)
{
    return (double)(tb__rng_next(r) >> 11) * 0x1.0p-53;
}

int tb__rng_chance(tb__rng *r, double p)
{
    return tb__rng_unit(r) < p;
}

double tb__rng_normal(tb__rng *r)
{
    double u1 = tb__rng_unit(r), u2 = tb__rng_unit(r);
    if (u1 < 1e-300) u1 = 1e-300;
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

double tb__rng_lognormal(tb__rng *r, double median, double sigma)
{
    return median * exp(sigma * tb__rng_normal(r));
}

unsigned tb__rng_weighted(tb__rng *r, const unsigned *w, unsigned n)
{
    uint64_t total = 0;
    for (unsigned i = 0; i < n; i++)
        total += w[i];
    uint64_t x = tb__rng_below(r, total);
    for (unsigned i = 0; i < n; i++) {
        if (x < w[i]) return i;
        x -= w[i];
    }
    return n ? n - 1 : 0;
}
