/* evbench.c — the tagbase side of bench/events_funnel.sh (links the library).
 *
 *   evbench gen --events N --users U --data DIR [--csv FILE] [--seed S]
 *       N events of U users over 7 local days starting 2026-11-15, 6 event types (1..6: launch,
 *       view, click, apply, submit, pay), written as day partitions through the bulk path
 *       (tb__evpart_write) plus a person table (root = self, gid = person), and the same events
 *       as CSV "person,ts,ev" for DuckDB and chDB. Events come in sessions: a user's session
 *       starts at a random time and walks forward 1 s..10 min per event, moving on to the next
 *       funnel step with probability 0.55, else a random event; a person's timestamps are
 *       distinct (ties would make the engines' orders differ).
 *   evbench funnel --data DIR [--runs R] [--threads T]
 *       the 4-step funnel launch → view → click → apply, window 1 day, over the 7 days: the
 *       partitions loaded once (load_ms, median of R loads), then the funnel R times on the
 *       loaded columns (median_ms), and load + funnel together (cold_ms). Prints one JSON line.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "events/evpart_int.h"
#include "events/evq.h"
#include "events/evstore.h"

#define NDAYS 7
static const char *names[6] = {"launch", "view", "click", "apply", "submit", "pay"};

static uint64_t sm(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static double now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

typedef struct dayc {
    uint32_t *person, *ts;
    uint16_t *code;
    size_t n, cap;
} dayc;

typedef struct ev {
    int64_t ts;
    uint8_t e;
} ev;

static int cmp_ev(const void *a, const void *b)
{
    const ev *x = a, *y = b;
    return x->ts < y->ts ? -1 : x->ts > y->ts;
}

static int gen(uint64_t n, uint64_t users, const char *dir, const char *csv, uint64_t seed)
{
    int32_t day0;
    tb__ev_parse_day("2026-11-15", &day0);
    int64_t t0 = tb__ev_day_start(day0), span = NDAYS * TB__EV_DAY_MS;
    dayc d[NDAYS] = {0};
    for (int i = 0; i < NDAYS; i++) {
        d[i].cap = n / NDAYS + n / 20 + 1024;
        d[i].person = malloc(d[i].cap * 4);
        d[i].ts = malloc(d[i].cap * 4);
        d[i].code = malloc(d[i].cap * 2);
        if (!d[i].person || !d[i].ts || !d[i].code) return fprintf(stderr, "out of memory\n"), 1;
    }
    FILE *cf = csv ? fopen(csv, "w") : NULL;
    if (csv && !cf) return perror(csv), 1;
    static char cbuf[1 << 20];
    if (cf) setvbuf(cf, cbuf, _IOFBF, sizeof cbuf);
    if (cf) fputs("person,ts,ev\n", cf);
    uint64_t s = seed * 7919 + 17, left = n;
    ev *evs = NULL;
    size_t ecap = 0;
    for (uint64_t u = 0; u < users; u++) {
        /* this user's share: the rest spread evenly, +-50 % */
        uint64_t avg = left / (users - u);
        uint64_t c = u + 1 == users ? left : avg / 2 + sm(&s) % (avg + 1);
        if (c > left) c = left;
        left -= c;
        if (c > ecap) {
            ecap = c * 2;
            evs = realloc(evs, ecap * sizeof *evs);
        }
        size_t k = 0;
        while (k < c) {
            int64_t t = t0 + (int64_t)(sm(&s) % (uint64_t)(span - 7200000)); /* sessions end in it */
            int step = 0;
            size_t len = 1 + sm(&s) % 8;
            for (size_t j = 0; j < len && k < c; j++) {
                uint8_t e;
                if (j == 0)
                    e = (sm(&s) % 3) ? 0 : (uint8_t)(sm(&s) % 6);
                else if (sm(&s) % 100 < 55 && step < 5)
                    e = (uint8_t)(++step);
                else
                    e = (uint8_t)(sm(&s) % 6);
                step = e;
                evs[k].ts = t;
                evs[k].e = e;
                k++;
                t += 1000 + (int64_t)(sm(&s) % 600000);
            }
        }
        qsort(evs, c, sizeof *evs, cmp_ev);
        for (size_t j = 1; j < c; j++) /* distinct timestamps per person */
            if (evs[j].ts <= evs[j - 1].ts) evs[j].ts = evs[j - 1].ts + 1;
        for (size_t j = 0; j < c; j++) {
            int64_t t = evs[j].ts;
            int di = tb__ev_day(t) - day0;
            dayc *dc = &d[di];
            if (dc->n == dc->cap) {
                dc->cap *= 2;
                dc->person = realloc(dc->person, dc->cap * 4);
                dc->ts = realloc(dc->ts, dc->cap * 4);
                dc->code = realloc(dc->code, dc->cap * 2);
            }
            dc->person[dc->n] = (uint32_t)u;
            dc->ts[dc->n] = (uint32_t)(t - tb__ev_day_start(day0 + di));
            dc->code[dc->n] = evs[j].e;
            dc->n++;
            if (cf) fprintf(cf, "%llu,%lld,%u\n", (unsigned long long)u, (long long)t, evs[j].e + 1);
        }
    }
    free(evs);
    if (cf && fclose(cf)) return perror(csv), 1;
    tb__errbuf eb;
    tb__clearerr(&eb);
    for (int i = 0; i < NDAYS; i++) {
        tb__evpart p = {.day = day0 + i,
                        .nrows = (uint32_t)d[i].n,
                        .person = d[i].person,
                        .ts = d[i].ts,
                        .code = d[i].code,
                        .nevents = 6,
                        .events = names};
        if (tb__evpart_write(dir, NULL, &p, 1, &eb)) return fprintf(stderr, "%s\n", eb.msg), 1;
        free(d[i].person);
        free(d[i].ts);
        free(d[i].code);
    }
    uint32_t *root = malloc(users * 4), *gid = malloc(users * 4);
    for (uint64_t u = 0; u < users; u++)
        root[u] = gid[u] = (uint32_t)u;
    if (tb__evpersons_write(dir, root, gid, users, &eb)) return fprintf(stderr, "%s\n", eb.msg), 1;
    free(root);
    free(gid);
    printf("{\"events\":%llu,\"users\":%llu}\n", (unsigned long long)n, (unsigned long long)users);
    return 0;
}

static int cmpd(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmpd);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static int funnel(const char *dir, int runs, int threads)
{
    int32_t day0;
    tb__ev_parse_day("2026-11-15", &day0);
    tb__evstep steps[4] = {{names[0], NULL, 0}, {names[1], NULL, 0}, {names[2], NULL, 0},
                           {names[3], NULL, 0}};
    tb__funnel_spec sp = {steps, 4, TB__EV_DAY_MS, day0, day0 + NDAYS - 1};
    tb__errbuf eb;
    tb__clearerr(&eb);
    double *lt = calloc((size_t)runs, 8), *ft = calloc((size_t)runs, 8),
           *ct = calloc((size_t)runs, 8);
    tb__funnel_res r = {0};
    tb__evset s;
    /* the set holds the window's day after the range (empty here), like the API loads it */
    for (int i = 0; i < runs; i++) {
        double a = now_ms();
        if (tb__evset_load(dir, NULL, day0, day0 + NDAYS, 0, threads, &s, &eb))
            return fprintf(stderr, "%s\n", eb.msg), 1;
        double b = now_ms();
        tb__funnel_res_release(&r);
        if (tb__funnel_run(&s, &sp, NULL, threads, &r, &eb)) return fprintf(stderr, "%s\n", eb.msg), 1;
        double c = now_ms();
        lt[i] = b - a;
        ct[i] = c - a;
        if (i + 1 < runs) tb__evset_release(&s);
    }
    for (int i = 0; i < runs; i++) {
        double a = now_ms();
        tb__funnel_res_release(&r);
        if (tb__funnel_run(&s, &sp, NULL, threads, &r, &eb)) return fprintf(stderr, "%s\n", eb.msg), 1;
        ft[i] = now_ms() - a;
    }
    double fmed = median(ft, runs), fmin = ft[0]; /* sorted by median() */
    printf("{\"engine\":\"tagbase\",\"rows\":%llu,\"threads\":%d,\"runs\":%d,\"users\":[%llu,%llu,"
           "%llu,%llu],\"median_ms\":%.2f,\"min_ms\":%.2f,\"load_ms\":%.1f,\"cold_ms\":%.1f,"
           "\"step_median_s\":[%.1f,%.1f,%.1f]}\n",
           (unsigned long long)s.nrows, threads, runs, (unsigned long long)r.users[0],
           (unsigned long long)r.users[1], (unsigned long long)r.users[2],
           (unsigned long long)r.users[3], fmed, fmin,
           median(lt, runs), median(ct, runs), r.median_ms[1] / 1e3, r.median_ms[2] / 1e3,
           r.median_ms[3] / 1e3);
    tb__funnel_res_release(&r);
    tb__evset_release(&s);
    free(lt);
    free(ft);
    free(ct);
    return 0;
}

int main(int argc, char **argv)
{
    const char *dir = NULL, *csv = NULL;
    uint64_t n = 10000000, users = 500000, seed = 1;
    int runs = 5, threads = 2;
    for (int i = 2; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--data")) dir = argv[i + 1];
        else if (!strcmp(argv[i], "--csv")) csv = argv[i + 1];
        else if (!strcmp(argv[i], "--events")) n = strtoull(argv[i + 1], NULL, 10);
        else if (!strcmp(argv[i], "--users")) users = strtoull(argv[i + 1], NULL, 10);
        else if (!strcmp(argv[i], "--seed")) seed = strtoull(argv[i + 1], NULL, 10);
        else if (!strcmp(argv[i], "--runs")) runs = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--threads")) threads = atoi(argv[i + 1]);
    }
    if (argc < 2 || !dir || runs < 1 || users < 1 || users > 0xFFFFFFF0u) {
        fprintf(stderr, "usage: evbench gen|funnel --data DIR [...]\n");
        return 2;
    }
    if (!strcmp(argv[1], "gen")) return gen(n, users, dir, csv, seed);
    if (!strcmp(argv[1], "funnel")) return funnel(dir, runs, threads);
    fprintf(stderr, "usage: evbench gen|funnel --data DIR [...]\n");
    return 2;
}
