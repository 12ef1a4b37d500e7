/* segbench.c — the tagbase side of bench/segments.sh: writes the deterministic data set
 * (200 boolean tags t1..t200, age, amt, v10) as a real tag store in a real data directory, then
 * times the engine on the queries of bench/seg_queries.json. Built by `make build/segbench`.
 *
 *   segbench gen --customers N --data DIR [--threads T]
 *   segbench query --data DIR --runs R --queries FILE
 *
 * gen prints {"gen_ms", "bytes", "bytes_per_customer", "customers"}; query prints one JSON object
 * per query: {"name", "count" | "profile" | "rows", "median_ms", "min_ms", "runs", ...}. Count
 * times are the evaluation alone (tb__query_count on an open store, 2 threads and 1 thread), the
 * way a server answers; "e2e_ms" adds opening the store and parsing, the way the CLI answers. */
#include <inttypes.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "segments/cseg.h"
#include "store/file.h"
#include "store/meta.h"
#include "tags/bitmap.h"
#include "tags/tagstore.h"
#include "tagbase.h"

#define P     2147483647ULL
#define NTAGS 200
#define BATCH "20261121"

static uint64_t h(uint64_t i, uint64_t k)
{
    uint64_t x = (i * 48271 + k * 1234567) % P;
    return (x * x) % P;
}

static double now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static void die(const char *what, const char *detail)
{
    fprintf(stderr, "segbench: %s: %s\n", what, detail);
    exit(1);
}

typedef struct gjob {
    uint64_t n;
    int k0, k1; /* tags [k0, k1) */
    tb__bm_builder **bm;
} gjob;

static void *gen_tags(void *arg)
{
    gjob *j = arg;
    uint64_t *w = calloc(TB__BM_CHUNK_WORDS, sizeof *w);
    uint32_t nch = (uint32_t)((j->n + TB__BM_CHUNK_BITS - 1) / TB__BM_CHUNK_BITS);
    for (int k = j->k0; k < j->k1; k++) {
        uint64_t thr = 10 + 2 * ((7 * (uint64_t)k) % 20);
        for (uint32_t ch = 0; ch < nch; ch++) {
            memset(w, 0, TB__BM_CHUNK_WORDS * sizeof *w);
            uint64_t base = (uint64_t)ch * TB__BM_CHUNK_BITS;
            uint64_t end = base + TB__BM_CHUNK_BITS < j->n ? base + TB__BM_CHUNK_BITS : j->n;
            for (uint64_t i = base; i < end; i++)
                if (h(i, (uint64_t)k) % 100 < thr) w[(i - base) / 64] |= 1ull << ((i - base) % 64);
            if (tb__bm_or_words(j->bm[k - 1], ch, w)) die("gen", "or_words");
        }
    }
    free(w);
    return NULL;
}

static void put_bool(tb__tagw *w, const char *code, tb__bm_builder *t, uint64_t n)
{
    /* false = universe minus true */
    tb__bm_builder *f;
    tb__bm_builder_create(n, &f);
    tb__buf s = TB__BUF_INIT;
    tb__bm_serialize(t, &s);
    tb__bmv v;
    tb__errbuf eb;
    if (tb__bm_parse_safe(s.data, s.len, 0, &v, NULL, &eb)) die("parse", eb.msg);
    uint64_t *tmp = malloc(TB__BM_CHUNK_WORDS * 8), *o = malloc(TB__BM_CHUNK_WORDS * 8);
    for (uint32_t ch = 0; ch < v.nchunks; ch++) {
        const uint64_t *x = tb__bmv_words(&v, ch, tmp);
        uint64_t base = (uint64_t)ch * TB__BM_CHUNK_BITS, lim = n - base;
        for (uint32_t k = 0; k < TB__BM_CHUNK_WORDS; k++) {
            uint64_t m = (uint64_t)k * 64 >= lim        ? 0
                         : (uint64_t)k * 64 + 64 <= lim ? ~0ull
                                                        : (1ull << (lim - (uint64_t)k * 64)) - 1;
            o[k] = ~x[k] & m;
        }
        tb__bm_or_words(f, ch, o);
    }
    free(tmp);
    free(o);
    tb__buf_release(&s);
    tb__tag_meta m = {code, code, code, TB__TT_RULE, TB__TV_BOOL, 0, 1, "C1", 2, "[\"bench\"]"};
    const char *vals[2] = {"true", "false"};
    tb__bm_builder *bms[2] = {t, f};
    if (tb__tagw_put_values(w, &m, vals, bms, 2, &eb)) die("put", eb.msg);
    tb__bm_builder_free(f);
}

static int cmd_gen(uint64_t n, const char *data, int threads)
{
    double t0 = now_ms();
    char err[512];
    tb_db *db;
    if (tb_db_open(data, TB_OPEN_CREATE, &db, err, sizeof err)) die("open", err);
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/tags", data);
    tb__errbuf eb;
    tb__mkdir_p(dir, 0750, &eb);
    snprintf(dir, sizeof dir, "%s/tags/" BATCH "-1", data);
    tb__rm_tree(dir);
    tb__tagw *w;
    if (tb__tagw_open(dir, n, &w, &eb)) die("tag store", eb.msg);
    tb__bm_builder *live;
    tb__bm_builder_create(n, &live);
    uint64_t *ones = malloc(TB__BM_CHUNK_WORDS * 8);
    uint32_t nch = (uint32_t)((n + TB__BM_CHUNK_BITS - 1) / TB__BM_CHUNK_BITS);
    for (uint32_t ch = 0; ch < nch; ch++) {
        uint64_t lim = n - (uint64_t)ch * TB__BM_CHUNK_BITS;
        for (uint32_t k = 0; k < TB__BM_CHUNK_WORDS; k++)
            ones[k] = (uint64_t)k * 64 >= lim        ? 0
                      : (uint64_t)k * 64 + 64 <= lim ? ~0ull
                                                     : (1ull << (lim - (uint64_t)k * 64)) - 1;
        tb__bm_or_words(live, ch, ones);
    }
    free(ones);
    if (tb__tagw_put_universe(w, live, &eb)) die("universe", eb.msg);
    tb__bm_builder_free(live);
    /* the tags, in groups so memory stays bounded: each group's builders live until written */
    for (int g0 = 1; g0 <= NTAGS; g0 += 20) {
        int g1 = g0 + 20 > NTAGS + 1 ? NTAGS + 1 : g0 + 20;
        tb__bm_builder *bm[NTAGS + 1];
        for (int k = g0; k < g1; k++)
            tb__bm_builder_create(n, &bm[k - 1]);
        pthread_t tid[16];
        gjob jobs[16];
        int nt = threads < 1 ? 1 : threads > 16 ? 16 : threads;
        for (int t = 0; t < nt; t++) {
            jobs[t] = (gjob){n, g0 + (g1 - g0) * t / nt, g0 + (g1 - g0) * (t + 1) / nt, bm};
            pthread_create(&tid[t], NULL, gen_tags, &jobs[t]);
        }
        for (int t = 0; t < nt; t++)
            pthread_join(tid[t], NULL);
        for (int k = g0; k < g1; k++) {
            char code[16];
            snprintf(code, sizeof code, "t%d", k);
            put_bool(w, code, bm[k - 1], n);
            tb__bm_builder_free(bm[k - 1]);
        }
    }
    /* age, amt (bit-sliced) and v10 (ten values) */
    tb__bsi_builder *age, *amt;
    tb__bsi_builder_create(n, &age);
    tb__bsi_builder_create(n, &amt);
    tb__bm_builder *v10[10];
    for (int k = 0; k < 10; k++)
        tb__bm_builder_create(n, &v10[k]);
    for (uint64_t i = 0; i < n; i++) {
        tb__bsi_put(age, i, 18 + (int64_t)(h(i, 0) % 63));
        tb__bsi_put(amt, i, (int64_t)(h(i, 202) % 1000000));
        tb__bm_set(v10[h(i, 201) % 10], i);
    }
    tb__tag_meta ma = {"age", "年龄", "age", TB__TT_RULE, TB__TV_INT, 0, 1, "C1", 2, "[\"bench\"]"};
    tb__tag_meta mm = {"amt", "金额", "amount", TB__TT_RULE, TB__TV_INT,
                       0,     1,      "C2",     3,           "[\"bench\"]"};
    tb__tag_meta mv = {"v10", "十值", "ten values", TB__TT_RULE, TB__TV_ENUM,
                       0,     1,      "C1",         2,           "[\"bench\"]"};
    const char *vals[10] = {"v0", "v1", "v2", "v3", "v4", "v5", "v6", "v7", "v8", "v9"};
    if (tb__tagw_put_bsi(w, &ma, age, &eb) || tb__tagw_put_bsi(w, &mm, amt, &eb) ||
        tb__tagw_put_values(w, &mv, vals, v10, 10, &eb))
        die("put", eb.msg);
    tb__bsi_builder_free(age);
    tb__bsi_builder_free(amt);
    for (int k = 0; k < 10; k++)
        tb__bm_builder_free(v10[k]);
    /* customer numbers: C + 10 digits */
    double k0 = now_ms();
    uint64_t *offs = malloc((n + 1) * sizeof *offs);
    char *blob = malloc(n * 11 + 1);
    for (uint64_t i = 0; i < n; i++) {
        char k[32];
        offs[i] = i * 11;
        snprintf(k, sizeof k, "C%010" PRIu64, (uint64_t)(i % UINT64_C(10000000000)));
        memcpy(blob + i * 11, k, 11);
    }
    offs[n] = n * 11;
    if (tb__tagw_put_keys(w, blob, offs, &eb)) die("keys", eb.msg);
    free(offs);
    free(blob);
    double keys_ms = now_ms() - k0;
    uint64_t bytes = 0;
    if (tb__tagw_commit(w, "{\"batch_date\":\"" BATCH "\",\"bench\":true}", &bytes, &eb))
        die("commit", eb.msg);
    /* register the build, and customer numbers for the export (C + 10 digits) */
    sqlite3 *sql = tb__db_sqlite(db);
    sqlite3_exec(sql, "DELETE FROM tag_build; DELETE FROM cseg", NULL, NULL, NULL);
    char q[512];
    snprintf(q, sizeof q,
             "INSERT INTO tag_build (build_id, batch_date, dir, snapshot, customers, tags, bytes, "
             "millis, built_at, current) VALUES (1, '" BATCH "', 'tags/" BATCH
             "-1', 'bench', %" PRIu64 ", %d, %" PRIu64 ", 0, 'now', 1)",
             n, NTAGS + 3, bytes);
    if (sqlite3_exec(sql, q, NULL, NULL, NULL) != SQLITE_OK) die("register", sqlite3_errmsg(sql));
    tb_db_close(db);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("{\"customers\":%" PRIu64 ",\"gen_ms\":%.0f,\"keys_ms\":%.0f,\"bytes\":%" PRIu64
           ",\"bytes_per_customer\":%.2f,\"rss_kb\":%ld}\n",
           n, now_ms() - t0, keys_ms, bytes, (double)bytes / (double)n, ru.ru_maxrss);
    return 0;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_d);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static int cmd_query(const char *data, int runs, const char *qfile)
{
    json_error_t je;
    json_t *qs = json_load_file(qfile, 0, &je);
    if (!json_is_array(qs)) die(qfile, je.text);
    char err[512];
    tb_db *db;
    if (tb_db_open(data, 0, &db, err, sizeof err)) die("open", err);
    tb__segctx *c;
    tb__errbuf eb;
    tb__clearerr(&eb);
    double o0 = now_ms();
    if (tb__segctx_open(db, NULL, &c, &eb)) die("tag store", eb.msg);
    double open_ms = now_ms() - o0;
    double *t = calloc((size_t)runs, sizeof *t), *t1 = calloc((size_t)runs, sizeof *t1);
    size_t i;
    json_t *q;
    json_array_foreach(qs, i, q)
    {
        const char *name = json_string_value(json_object_get(q, "name"));
        const char *kind = json_string_value(json_object_get(q, "kind"));
        const char *expr = json_string_value(json_object_get(q, "expr"));
        if (strcmp(kind, "count") == 0) {
            tb__query *qq;
            tb__expr *e;
            if (tb__segctx_compile(c, expr, 0, &qq, &e, &eb)) die(name, eb.msg);
            uint64_t n = 0, n1 = 0;
            for (int r = 0; r < runs; r++) {
                double a = now_ms();
                tb__query_count(qq, 2, &n);
                t[r] = now_ms() - a;
                a = now_ms();
                tb__query_count(qq, 1, &n1);
                t1[r] = now_ms() - a;
                if (n1 != n) die(name, "one and two threads disagree");
            }
            double mn = t[0], mn1 = t1[0];
            for (int r = 1; r < runs; r++) {
                if (t[r] < mn) mn = t[r];
                if (t1[r] < mn1) mn1 = t1[r];
            }
            /* end to end, as `tagbase seg count` does it: open, parse, bind, count */
            double e2e[5];
            for (int r = 0; r < 5; r++) {
                char *ans;
                double a = now_ms();
                tb_seg_opts so = {.threads = 2};
                if (tb_seg_count(db, expr, &so, &ans)) die(name, tb_errmsg(db));
                e2e[r] = now_ms() - a;
                free(ans);
            }
            printf("{\"name\":\"%s\",\"count\":%" PRIu64 ",\"median_ms\":%.3f,\"min_ms\":%.3f,"
                   "\"median_ms_1thread\":%.3f,\"min_ms_1thread\":%.3f,\"e2e_ms\":%.2f,"
                   "\"runs\":%d}\n",
                   name, n, median(t, runs), mn, median(t1, runs), mn1, median(e2e, 5), runs);
        } else if (strcmp(kind, "profile") == 0) {
            char *ans;
            tb_seg_delete(db, name, &ans) == 0 ? free(ans) : (void)0;
            if (tb_seg_save(db, name, expr, NULL, "bench", NULL, &ans)) die(name, tb_errmsg(db));
            free(ans);
            json_t *prof = NULL;
            for (int r = 0; r < runs; r++) {
                double a = now_ms();
                if (tb_seg_profile(db, name, json_string_value(json_object_get(q, "by")), NULL,
                                   &ans))
                    die(name, tb_errmsg(db));
                t[r] = now_ms() - a;
                json_decref(prof);
                prof = json_loads(ans, 0, NULL);
                free(ans);
            }
            json_t *out = json_object();
            size_t k;
            json_t *v;
            json_array_foreach(json_object_get(prof, "values"), k, v) json_object_set(
                out, json_string_value(json_object_get(v, "value")), json_object_get(v, "count"));
            char *ps = json_dumps(out, JSON_COMPACT | JSON_SORT_KEYS);
            printf("{\"name\":\"%s\",\"profile\":%s,\"median_ms\":%.3f,\"runs\":%d}\n", name, ps,
                   median(t, runs), runs);
            free(ps);
            json_decref(out);
            json_decref(prof);
        } else if (strcmp(kind, "export") == 0) {
            char *ans;
            tb_seg_delete(db, name, &ans) == 0 ? free(ans) : (void)0;
            if (tb_seg_save(db, name, expr, NULL, "bench", NULL, &ans)) die(name, tb_errmsg(db));
            free(ans);
            int er = runs < 5 ? runs : 5;
            long long rows = 0;
            char out[64];
            snprintf(out, sizeof out, "/tmp/segbench-export-%d.csv", (int)getpid());
            for (int r = 0; r < er; r++) {
                double a = now_ms();
                if (tb_seg_export(db, name, NULL, "cust_no,age", out, &ans))
                    die(name, tb_errmsg(db));
                t[r] = now_ms() - a;
                json_t *d = json_loads(ans, 0, NULL);
                rows = (long long)json_integer_value(json_object_get(d, "rows"));
                json_decref(d);
                free(ans);
            }
            unlink(out);
            printf("{\"name\":\"%s\",\"rows\":%lld,\"median_ms\":%.3f,\"runs\":%d}\n", name, rows,
                   median(t, er), er);
        }
        fflush(stdout);
    }
    printf("{\"name\":\"open\",\"open_ms\":%.2f}\n", open_ms);
    /* the tag part of a 360-degree view: every tag's value of one customer, on the open store */
    const tb__tagset *ts = tb__segctx_tags(c);
    uint64_t nrows = tb__tagset_nrows(ts), seen = 0;
    int nl = 1001;
    double *lt = calloc((size_t)nl, sizeof *lt);
    for (int r = 0; r < nl; r++) {
        uint64_t id = h((uint64_t)r, 999) % nrows;
        double a = now_ms();
        for (size_t k = 0; k < tb__tagset_ntags(ts); k++) {
            int64_t v;
            const char *s;
            seen += tb__tagv_get(tb__tagset_tag_at(ts, k), id, &v, &s) != 0;
        }
        lt[r] = now_ms() - a;
    }
    printf("{\"name\":\"lookup360\",\"tags\":%zu,\"values\":%" PRIu64
           ",\"median_us\":%.2f,\"runs\":%d}\n",
           tb__tagset_ntags(ts), seen, median(lt, nl) * 1000, nl);
    free(lt);
    free(t);
    free(t1);
    tb__segctx_close(c);
    tb_db_close(db);
    json_decref(qs);
    return 0;
}

int main(int argc, char **argv)
{
    const char *data = NULL, *queries = NULL;
    uint64_t n = 0;
    int runs = 15, threads = 2;
    for (int i = 2; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--customers") == 0)
            n = strtoull(argv[i + 1], NULL, 10);
        else if (strcmp(argv[i], "--data") == 0)
            data = argv[i + 1];
        else if (strcmp(argv[i], "--runs") == 0)
            runs = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--queries") == 0)
            queries = argv[i + 1];
        else if (strcmp(argv[i], "--threads") == 0)
            threads = atoi(argv[i + 1]);
    }
    if (argc >= 2 && strcmp(argv[1], "gen") == 0 && n && data) return cmd_gen(n, data, threads);
    if (argc >= 2 && strcmp(argv[1], "query") == 0 && data && queries && runs > 0)
        return cmd_query(data, runs, queries);
    fprintf(stderr, "usage: segbench gen --customers N --data DIR [--threads T]\n"
                    "       segbench query --data DIR --runs R --queries FILE\n");
    return 2;
}
