/* seg_floor.c — the memory-bandwidth floor and the naive oracle of the segment benchmark
 * (bench/segments.sh). It generates the benchmark's deterministic customers in memory, counts
 * every query of bench/seg_queries.json with one hand-written fused pass over uncompressed
 * 64-bit words (every operand read once per word, one popcount), and checks each count against a
 * naive per-customer loop over plain values that recomputes the tags from the formula with
 * different arithmetic. Standalone on purpose: it shares no code with the engine it bounds.
 *
 *   cc -std=c17 -O2 -march=x86-64-v2 -pthread -o seg_floor bench/seg_floor.c
 *   seg_floor N RUNS
 *
 * Data (customer i = 0..N-1, tag k = 1..200; P = 2^31 - 1):
 *   x = (i*48271 + k*1234567) mod P, h(i,k) = x^2 mod P,
 *   tag k set when h mod 100 < 10 + 2*((7k) mod 20), age = 18 + h(i,0) mod 63,
 *   v10 = 'v' || h(i,201) mod 10, amt = h(i,202) mod 1000000.
 * Layout: t1..t10 and v10=v0..v9 as bitsets; age-18 as 6 bit slices and amt as 20 (O'Neil's
 * bit-sliced index, compared word-parallel); age, amt and v10 also as plain arrays for the oracle.
 *
 * Output: JSON lines on stdout; first {"engine":"floor","n",...}, then per query {"name","kind",
 * "count","expected","floor_ms_median","floor_ms_min","floor2_ms_median","runs"} (floor2 = the
 * same pass split over 2 threads), with "profile"/"expected_profile" for P and
 * "expected_idsum"/"expected_agesum" for the export E (the floor only counts E's selection).
 * Exit status 1 when any floor count disagrees with the oracle. */
#define _DEFAULT_SOURCE /* MAP_ANONYMOUS, madvise */
#include <inttypes.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#define P31 2147483647ULL
#define NTAG 10     /* t1..t10: the tags the queries use */
#define AGE_BITS 6  /* age - 18 in 0..62 */
#define AMT_BITS 20 /* amt in 0..999999 */
#define NV10 10

typedef uint64_t u64;

struct data {
    uint64_t n;
    size_t words;
    u64 *t[NTAG + 1]; /* t[1]..t[10] */
    u64 *age[AGE_BITS];
    u64 *amt[AMT_BITS];
    u64 *v10[NV10];
    uint8_t *age_v; /* plain values, for the oracle */
    uint32_t *amt_v;
    uint8_t *v10_v;
};

/* x mod (2^31 - 1) by folding (2^31 = 1 mod P); valid for x < 2^62. The oracle uses '%'. */
static inline u64 mod31(u64 x)
{
    x = (x & P31) + (x >> 31);
    x = (x & P31) + (x >> 31);
    return x >= P31 ? x - P31 : x;
}

static inline u64 h_fast(u64 i, u64 k)
{
    u64 x = mod31(i * 48271 + k * 1234567);
    return mod31(x * x);
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* A zeroed bitset on 2 MB pages where the kernel allows (transparent huge pages on madvise):
 * a pass reads up to 30 streams at once, and 4 KB pages cost TLB misses on each of them. */
static u64 *bitset_alloc(size_t words)
{
    size_t bytes = (words * 8 + (2u << 20) - 1) & ~(size_t)((2u << 20) - 1);
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        fprintf(stderr, "seg_floor: out of memory (%zu bytes)\n", bytes);
        exit(2);
    }
    if (getenv("SEG_FLOOR_NO_HUGEPAGES") == NULL)
        (void)madvise(p, bytes, MADV_HUGEPAGE);
    return p;
}

static void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n, size);
    if (!p) {
        fprintf(stderr, "seg_floor: out of memory (%zu x %zu bytes)\n", n, size);
        exit(2);
    }
    return p;
}

/* ---- generation: each thread fills whole words, so no two threads write the same word ---- */

static void gen_range(struct data *d, size_t w0, size_t w1)
{
    for (size_t w = w0; w < w1; w++) {
        u64 tw[NTAG + 1] = {0}, aw[AGE_BITS] = {0}, mw[AMT_BITS] = {0}, vw[NV10] = {0};
        u64 i0 = (u64)w * 64, i1 = i0 + 64 < d->n ? i0 + 64 : d->n;
        for (u64 i = i0; i < i1; i++) {
            u64 bit = 1ULL << (i - i0);
            for (int k = 1; k <= NTAG; k++)
                if (h_fast(i, k) % 100 < (u64)(10 + 2 * ((7 * k) % 20)))
                    tw[k] |= bit;
            unsigned a = (unsigned)(h_fast(i, 0) % 63);
            unsigned v = (unsigned)(h_fast(i, 201) % 10);
            unsigned m = (unsigned)(h_fast(i, 202) % 1000000);
            d->age_v[i] = (uint8_t)(18 + a);
            d->v10_v[i] = (uint8_t)v;
            d->amt_v[i] = m;
            for (int b = 0; b < AGE_BITS; b++)
                if (a >> b & 1)
                    aw[b] |= bit;
            for (int b = 0; b < AMT_BITS; b++)
                if (m >> b & 1)
                    mw[b] |= bit;
            vw[v] |= bit;
        }
        for (int k = 1; k <= NTAG; k++)
            d->t[k][w] = tw[k];
        for (int b = 0; b < AGE_BITS; b++)
            d->age[b][w] = aw[b];
        for (int b = 0; b < AMT_BITS; b++)
            d->amt[b][w] = mw[b];
        for (int v = 0; v < NV10; v++)
            d->v10[v][w] = vw[v];
    }
}

/* ---- bit-sliced comparisons with a constant, one word: inlined, so c folds into the code ---- */

/* Customers in word w whose value (nb slices, LSB first) is <= c. */
static inline __attribute__((always_inline)) u64 bsi_le(u64 *const *s, int nb, size_t w, u64 c)
{
    u64 lt = 0, eq = ~0ULL;
#pragma GCC unroll 32 /* unrolled, each test of c folds away: straight-line code */
    for (int b = nb - 1; b >= 0; b--) {
        u64 x = s[b][w];
        if (c >> b & 1) {
            lt |= eq & ~x;
            eq &= x;
        } else {
            eq &= ~x;
        }
    }
    return lt | eq;
}

/* Customers in word w whose value is >= c. */
static inline __attribute__((always_inline)) u64 bsi_ge(u64 *const *s, int nb, size_t w, u64 c)
{
    u64 gt = 0, eq = ~0ULL;
#pragma GCC unroll 32 /* unrolled, each test of c folds away: straight-line code */
    for (int b = nb - 1; b >= 0; b--) {
        u64 x = s[b][w];
        if (c >> b & 1) {
            eq &= x;
        } else {
            gt |= eq & x;
            eq &= ~x;
        }
    }
    return gt | eq;
}

/* lo <= value <= hi, one read of each slice (the compiler shares the loads of both halves). */
static inline __attribute__((always_inline)) u64 bsi_between(u64 *const *s, int nb, size_t w,
                                                             u64 lo, u64 hi)
{
    return bsi_ge(s, nb, w, lo) & bsi_le(s, nb, w, hi);
}

/* ---- the queries, one word each; must say what bench/seg_queries.json says ---- */

#define T(k) d->t[k][w]
#define AGE_BETWEEN(lo, hi) bsi_between(d->age, AGE_BITS, w, (lo) - 18, (hi) - 18)

/* Q: (t1 and t2) or (not t3 and age between 30 and 45) */
static inline __attribute__((always_inline)) u64 w_Q(const struct data *d, size_t w)
{
    return (T(1) & T(2)) | (~T(3) & AGE_BETWEEN(30, 45));
}

/* Q2: (t4 or t5) and not t6 and (t7 or t8) */
static inline __attribute__((always_inline)) u64 w_Q2(const struct data *d, size_t w)
{
    return (T(4) | T(5)) & ~T(6) & (T(7) | T(8));
}

/* R1: age between 25 and 34 */
static inline __attribute__((always_inline)) u64 w_R1(const struct data *d, size_t w)
{
    return AGE_BETWEEN(25, 34);
}

/* R2: amt >= 250000 and amt < 400000 */
static inline __attribute__((always_inline)) u64 w_R2(const struct data *d, size_t w)
{
    return bsi_between(d->amt, AMT_BITS, w, 250000, 399999);
}

/* R3: age > 60 and amt < 100000 */
static inline __attribute__((always_inline)) u64 w_R3(const struct data *d, size_t w)
{
    return bsi_ge(d->age, AGE_BITS, w, 61 - 18) & bsi_le(d->amt, AMT_BITS, w, 99999);
}

/* T10: (t1 and t2) or (t3 and not t4) or (t5 and t6 and t7) or (not t8 and t9 and t10) */
static inline __attribute__((always_inline)) u64 w_T10(const struct data *d, size_t w)
{
    return (T(1) & T(2)) | (T(3) & ~T(4)) | (T(5) & T(6) & T(7)) | (~T(8) & T(9) & T(10));
}

/* E's selection: t1 and age between 18 and 43 */
static inline __attribute__((always_inline)) u64 w_E(const struct data *d, size_t w)
{
    return T(1) & AGE_BETWEEN(18, 43);
}

/* Bits of the last word past customer n-1 are zero in every bitset but set by a NOT; the
 * full words run unmasked and the one partial word is masked. */
static inline u64 tail_mask(const struct data *d) { return d->n % 64 ? (1ULL << (d->n % 64)) - 1 : ~0ULL; }

#define DEFINE_COUNT(Q)                                                                            \
    static __attribute__((target("popcnt"), noinline)) u64 count_##Q(const struct data *d,         \
                                                                      size_t w0, size_t w1,        \
                                                                      u64 *prof)                   \
    {                                                                                              \
        (void)prof;                                                                                \
        size_t full = d->n / 64, end = w1 < full ? w1 : full;                                      \
        u64 c = 0;                                                                                 \
        for (size_t w = w0; w < end; w++)                                                          \
            c += (u64)__builtin_popcountll(w_##Q(d, w));                                           \
        if (w1 > full && full < d->words)                                                          \
            c += (u64)__builtin_popcountll(w_##Q(d, full) & tail_mask(d));                         \
        return c;                                                                                  \
    }

DEFINE_COUNT(Q)
DEFINE_COUNT(Q2)
DEFINE_COUNT(R1)
DEFINE_COUNT(R2)
DEFINE_COUNT(R3)
DEFINE_COUNT(T10)
DEFINE_COUNT(E)

/* P: members of Q counted per v10 value, in the same single pass. */
static __attribute__((target("popcnt"), noinline)) u64 count_P(const struct data *d, size_t w0,
                                                                size_t w1, u64 *prof)
{
    size_t full = d->n / 64, end = w1 < full ? w1 : full;
    u64 c[NV10] = {0};
    for (size_t w = w0; w < end; w++) {
        u64 q = w_Q(d, w);
        for (int v = 0; v < NV10; v++)
            c[v] += (u64)__builtin_popcountll(q & d->v10[v][w]);
    }
    if (w1 > full && full < d->words) {
        u64 q = w_Q(d, full) & tail_mask(d);
        for (int v = 0; v < NV10; v++)
            c[v] += (u64)__builtin_popcountll(q & d->v10[v][full]);
    }
    u64 total = 0;
    for (int v = 0; v < NV10; v++) {
        prof[v] = c[v];
        total += c[v];
    }
    return total;
}

/* ---- the oracle: one customer at a time, tags recomputed from the formula with '%' ---- */

static u64 h_naive(u64 i, u64 k)
{
    u64 x = (i * 48271 + k * 1234567) % P31;
    return x * x % P31;
}

static int tag_naive(u64 i, int k) { return (int)(h_naive(i, (u64)k) % 100) < 10 + 2 * ((7 * k) % 20); }

enum { QN_Q, QN_Q2, QN_R1, QN_R2, QN_R3, QN_T10, QN_P, QN_E, QN_COUNT };

struct oracle {
    u64 count[QN_COUNT];
    u64 prof[NV10];
    u64 e_idsum, e_agesum;
};

static void oracle_run(const struct data *d, struct oracle *o)
{
    memset(o, 0, sizeof *o);
    for (u64 i = 0; i < d->n; i++) {
        int t[NTAG + 1];
        for (int k = 1; k <= NTAG; k++)
            t[k] = tag_naive(i, k);
        int age = d->age_v[i];
        long amt = (long)d->amt_v[i];
        int q = (t[1] && t[2]) || (!t[3] && age >= 30 && age <= 45);
        o->count[QN_Q] += q;
        o->count[QN_Q2] += (t[4] || t[5]) && !t[6] && (t[7] || t[8]);
        o->count[QN_R1] += age >= 25 && age <= 34;
        o->count[QN_R2] += amt >= 250000 && amt < 400000;
        o->count[QN_R3] += age > 60 && amt < 100000;
        o->count[QN_T10] += (t[1] && t[2]) || (t[3] && !t[4]) || (t[5] && t[6] && t[7]) ||
                            (!t[8] && t[9] && t[10]);
        o->count[QN_P] += q;
        if (q)
            o->prof[d->v10_v[i]]++;
        if (t[1] && age >= 18 && age <= 43) {
            o->count[QN_E]++;
            o->e_idsum += i;
            o->e_agesum += (u64)age;
        }
    }
}

/* ---- timing: one thread, or the words split in two halves on two threads ---- */

typedef u64 count_fn(const struct data *, size_t, size_t, u64 *);

struct job {
    count_fn *fn;
    const struct data *d;
    size_t w0, w1;
    u64 prof[NV10];
    u64 result;
};

static void *job_main(void *arg)
{
    struct job *j = arg;
    j->result = j->fn(j->d, j->w0, j->w1, j->prof);
    return NULL;
}

static u64 run_threads(count_fn *fn, const struct data *d, int nthreads, u64 *prof)
{
    struct job jobs[2];
    pthread_t tid[2];
    size_t step = (d->words / nthreads + 7) & ~(size_t)7; /* whole cache lines per thread */
    u64 total = 0;
    for (int t = 0; t < nthreads; t++) {
        jobs[t] = (struct job){.fn = fn, .d = d};
        jobs[t].w0 = t * step < d->words ? t * step : d->words;
        jobs[t].w1 = t == nthreads - 1 ? d->words : (t + 1) * step < d->words ? (t + 1) * step : d->words;
    }
    for (int t = 1; t < nthreads; t++)
        if (pthread_create(&tid[t], NULL, job_main, &jobs[t]) != 0) {
            fprintf(stderr, "seg_floor: cannot create a thread\n");
            exit(2);
        }
    job_main(&jobs[0]);
    for (int t = 1; t < nthreads; t++)
        pthread_join(tid[t], NULL);
    for (int v = 0; v < NV10; v++)
        prof[v] = 0;
    for (int t = 0; t < nthreads; t++) {
        total += jobs[t].result;
        for (int v = 0; v < NV10; v++)
            prof[v] += jobs[t].prof[v];
    }
    return total;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

struct gen_job {
    struct data *d;
    size_t w0, w1;
};

static void *gen_main(void *arg)
{
    struct gen_job *g = arg;
    gen_range(g->d, g->w0, g->w1);
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: seg_floor N RUNS\n");
        return 2;
    }
    char *end;
    u64 n = strtoull(argv[1], &end, 10);
    if (*end || n == 0 || n > (1ULL << 40)) {
        fprintf(stderr, "seg_floor: bad customer count '%s'\n", argv[1]);
        return 2;
    }
    long runs = strtol(argv[2], &end, 10);
    if (*end || runs < 1 || runs > 100000) {
        fprintf(stderr, "seg_floor: bad run count '%s'\n", argv[2]);
        return 2;
    }

    struct data d = {.n = n, .words = (size_t)((n + 63) / 64)};
    for (int k = 1; k <= NTAG; k++)
        d.t[k] = bitset_alloc(d.words);
    for (int b = 0; b < AGE_BITS; b++)
        d.age[b] = bitset_alloc(d.words);
    for (int b = 0; b < AMT_BITS; b++)
        d.amt[b] = bitset_alloc(d.words);
    for (int v = 0; v < NV10; v++)
        d.v10[v] = bitset_alloc(d.words);
    d.age_v = xcalloc(n, 1);
    d.amt_v = xcalloc(n, 4);
    d.v10_v = xcalloc(n, 1);

    double t0 = now_ms();
    {
        struct gen_job g[2] = {{&d, 0, d.words / 2}, {&d, d.words / 2, d.words}};
        pthread_t tid;
        if (pthread_create(&tid, NULL, gen_main, &g[1]) != 0) {
            fprintf(stderr, "seg_floor: cannot create a thread\n");
            return 2;
        }
        gen_main(&g[0]);
        pthread_join(tid, NULL);
    }
    double gen_ms = now_ms() - t0;

    t0 = now_ms();
    struct oracle o;
    oracle_run(&d, &o);
    double oracle_ms = now_ms() - t0;

    size_t bitset_bytes = d.words * 8 * (NTAG + AGE_BITS + AMT_BITS + NV10);
    printf("{\"engine\":\"floor\",\"n\":%" PRIu64 ",\"gen_ms\":%.1f,\"oracle_ms\":%.1f,"
           "\"bitset_bytes\":%zu,\"threads\":[1,2]}\n",
           n, gen_ms, oracle_ms, bitset_bytes);

    static const struct {
        const char *name, *kind;
        count_fn *fn;
        int oracle;
    } qs[] = {
        {"Q", "count", count_Q, QN_Q},       {"Q2", "count", count_Q2, QN_Q2},
        {"R1", "count", count_R1, QN_R1},    {"R2", "count", count_R2, QN_R2},
        {"R3", "count", count_R3, QN_R3},    {"T10", "count", count_T10, QN_T10},
        {"P", "profile", count_P, QN_P},     {"E", "export", count_E, QN_E},
    };
    double *ms1 = xcalloc((size_t)runs, sizeof(double));
    double *ms2 = xcalloc((size_t)runs, sizeof(double));
    int bad = 0;
    for (size_t q = 0; q < sizeof qs / sizeof qs[0]; q++) {
        u64 prof[NV10], prof2[NV10], count = 0, count2 = 0;
        count = run_threads(qs[q].fn, &d, 1, prof); /* warm-up */
        for (long r = 0; r < runs; r++) {
            double s = now_ms();
            count = run_threads(qs[q].fn, &d, 1, prof);
            ms1[r] = now_ms() - s;
            s = now_ms();
            count2 = run_threads(qs[q].fn, &d, 2, prof2);
            ms2[r] = now_ms() - s;
            if (count2 != count || memcmp(prof, prof2, sizeof prof) != 0) {
                fprintf(stderr, "seg_floor: %s: 2-thread count %" PRIu64 " != %" PRIu64 "\n",
                        qs[q].name, count2, count);
                bad = 1;
            }
        }
        u64 expected = o.count[qs[q].oracle];
        double min1 = ms1[0];
        for (long r = 1; r < runs; r++)
            min1 = ms1[r] < min1 ? ms1[r] : min1;
        printf("{\"name\":\"%s\",\"kind\":\"%s\",\"count\":%" PRIu64 ",\"expected\":%" PRIu64
               ",\"floor_ms_median\":%.3f,\"floor_ms_min\":%.3f,\"floor2_ms_median\":%.3f,"
               "\"runs\":%ld",
               qs[q].name, qs[q].kind, count, expected, median(ms1, (int)runs), min1,
               median(ms2, (int)runs), runs);
        if (count != expected) {
            fprintf(stderr, "seg_floor: MISMATCH %s: floor %" PRIu64 ", oracle %" PRIu64 "\n",
                    qs[q].name, count, expected);
            bad = 1;
        }
        if (qs[q].oracle == QN_P) {
            for (int pass = 0; pass < 2; pass++) {
                const u64 *p = pass ? o.prof : prof;
                printf(",\"%s\":{", pass ? "expected_profile" : "profile");
                for (int v = 0; v < NV10; v++)
                    printf("%s\"v%d\":%" PRIu64, v ? "," : "", v, p[v]);
                printf("}");
            }
            if (memcmp(prof, o.prof, sizeof prof) != 0) {
                fprintf(stderr, "seg_floor: MISMATCH P: profile differs from the oracle's\n");
                bad = 1;
            }
        }
        if (qs[q].oracle == QN_E)
            printf(",\"expected_idsum\":%" PRIu64 ",\"expected_agesum\":%" PRIu64, o.e_idsum,
                   o.e_agesum);
        printf("}\n");
        fflush(stdout);
    }
    return bad;
}
