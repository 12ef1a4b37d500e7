/* gen.c — tagbase gen: the public API of the synthetic-bank generator. Splits the customers into
 * chunks, generates chunks on worker threads, writes them in order (so the output never depends
 * on the thread count), then writes manifest.json last and crash-safely. */
#include <errno.h>
#include <fcntl.h>
#include <iconv.h>
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gen/gen_int.h"
#include "store/file.h"

#define GEN_MAX_THREADS 64
/* Paths are built in 4096-byte buffers from the directory and names of at most 32 bytes. */
#define GEN_MAX_DIR  4000
#define GEN_MAX_SEED 9007199254740991ULL /* 2^53 - 1: exact in every JSON reader */

struct tb_gen {
    gen_ctx ctx;
    tb__errbuf err;
    char *dir;
    int fd[GF_COUNT];
    int defects_fd;
    uint64_t rows[GF_COUNT];  /* data rows written per file */
    uint64_t bytes[GF_COUNT]; /* bytes written per file */
    uint64_t kinds[GF_COUNT][GK_COUNT];
    uint64_t ndefects;
    gen_stats st;
    tb__buf line; /* scratch for defects lines */
};

int tb_gen_create(const tb_gen_opts *opts, tb_gen **out, char *errbuf, size_t errlen)
{
    tb__errbuf eb;
    tb__clearerr(&eb);
    *out = NULL;
    int rc = 0;
    if (!opts)
        rc = tb__seterr(&eb, TB_EINVAL, "no options given");
    else if (opts->customers < 1 || opts->customers > TB__GEN_MAX_CUSTOMERS)
        rc = tb__seterr(&eb, TB_EINVAL, "customers must be between 1 and %llu, got %llu",
                        (unsigned long long)TB__GEN_MAX_CUSTOMERS,
                        (unsigned long long)opts->customers);
    else if (opts->seed > GEN_MAX_SEED)
        rc = tb__seterr(&eb, TB_EINVAL, "seed must be between 0 and %llu, got %llu",
                        (unsigned long long)GEN_MAX_SEED, (unsigned long long)opts->seed);
    else if (!tb_valid_date(opts->batch_date) || opts->batch_date < 20000101)
        rc = tb__seterr(&eb, TB_EINVAL,
                        "date must be a calendar date YYYYMMDD from 20000101 to 21991231, got %d",
                        opts->batch_date);
    else if (!(opts->dirty >= 0 && opts->dirty <= 0.5)) /* also rejects NaN */
        rc = tb__seterr(&eb, TB_EINVAL, "dirty must be a rate between 0 and 0.5, got %g",
                        opts->dirty);
    else if (opts->format != TB_GEN_HIVE && opts->format != TB_GEN_CSV)
        rc = tb__seterr(&eb, TB_EINVAL, "format must be hive or csv");
    else if (!opts->out_dir || !*opts->out_dir)
        rc = tb__seterr(&eb, TB_EINVAL, "out must name a directory");
    else if (strlen(opts->out_dir) > GEN_MAX_DIR)
        rc = tb__seterr(&eb, TB_EINVAL, "out must be a path of at most %d bytes", GEN_MAX_DIR);
    else if (opts->threads < 0 || opts->threads > GEN_MAX_THREADS)
        rc = tb__seterr(&eb, TB_EINVAL, "threads must be between 0 and %d, got %d", GEN_MAX_THREADS,
                        opts->threads);
    if (rc) {
        tb__copyerr(&eb, errbuf, errlen);
        return rc;
    }
    tb_gen *g = calloc(1, sizeof *g);
    char *dir = strdup(opts->out_dir);
    if (!g || !dir) {
        free(g);
        free(dir);
        tb__seterr(&eb, TB_ENOMEM, "out of memory");
        tb__copyerr(&eb, errbuf, errlen);
        return TB_ENOMEM;
    }
    g->ctx.o = *opts;
    g->ctx.o.out_dir = dir;
    g->dir = dir;
    for (int f = 0; f < GF_COUNT; f++)
        g->fd[f] = -1;
    g->defects_fd = -1;
    *out = g;
    return 0;
}

const char *tb_gen_errmsg(const tb_gen *g)
{
    return g ? g->err.msg : "";
}

void tb_gen_free(tb_gen *g)
{
    if (!g) return;
    for (int f = 0; f < GF_COUNT; f++)
        if (g->fd[f] >= 0) close(g->fd[f]);
    if (g->defects_fd >= 0) close(g->defects_fd);
    tb__gen_ctx_release(&g->ctx);
    tb__buf_release(&g->line);
    free(g->dir);
    free(g);
}

/* ---- files --------------------------------------------------------------------------------- */

static const char *file_ext(const tb_gen *g, gen_file f)
{
    if (f == GF_EVENTS) return ".jsonl";
    return g->ctx.hive ? ".txt" : ".csv";
}

static int is_gb18030(const tb_gen *g, gen_file f)
{
    return !g->ctx.hive && tb__gen_files[f].gb18030;
}

static int write_all(tb_gen *g, int fd, const char *path, const void *p, size_t n)
{
    int errnum = tb__write_full(fd, p, n);
    return errnum ? tb__seterr_errno(&g->err, TB_EIO, errnum, "cannot write '%s'", path) : 0;
}

static void file_path(const tb_gen *g, gen_file f, char *path, size_t cap)
{
    snprintf(path, cap, "%s/%s%s", g->dir, tb__gen_files[f].name, file_ext(g, f));
}

static int write_file(tb_gen *g, gen_file f, const char *p, size_t n)
{
    if (!n) return 0;
    char path[4096];
    file_path(g, f, path, sizeof path);
    int rc = write_all(g, g->fd[f], path, p, n);
    if (!rc) g->bytes[f] += n;
    return rc;
}

static int open_files(tb_gen *g)
{
    char path[4096];
    for (int f = 0; f < GF_COUNT; f++) {
        file_path(g, (gen_file)f, path, sizeof path);
        g->fd[f] = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (g->fd[f] < 0)
            return tb__seterr_errno(&g->err, TB_EIO, errno, "cannot create '%s'", path);
        if (g->ctx.hive || f == GF_EVENTS) continue;
        /* CSV: a UTF-8 BOM (none for the GB18030 file), then the header row */
        tb__buf h = TB__BUF_INIT;
        int rc = is_gb18030(g, (gen_file)f) ? 0 : tb__buf_append(&h, "\xEF\xBB\xBF", 3);
        if (!rc) rc = tb__gen_header(&g->ctx, (gen_file)f, &h);
        if (!rc)
            rc = write_file(g, (gen_file)f, h.data, h.len);
        else
            rc = tb__seterr(&g->err, rc, "out of memory");
        tb__buf_release(&h);
        if (rc) return rc;
    }
    snprintf(path, sizeof path, "%s/defects.tsv", g->dir);
    g->defects_fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (g->defects_fd < 0)
        return tb__seterr_errno(&g->err, TB_EIO, errno, "cannot create '%s'", path);
    static const char head[] = "file\tline\tkind\tfield\n";
    return write_all(g, g->defects_fd, path, head, sizeof head - 1);
}

static int sync_close(tb_gen *g, int *fd, const char *path)
{
    int rc = 0;
    if (fsync(*fd) != 0) rc = tb__seterr_errno(&g->err, TB_EIO, errno, "cannot fsync '%s'", path);
    if (close(*fd) != 0 && !rc)
        rc = tb__seterr_errno(&g->err, TB_EIO, errno, "cannot close '%s'", path);
    *fd = -1;
    return rc;
}

static int close_files(tb_gen *g)
{
    char path[4096];
    for (int f = 0; f < GF_COUNT; f++) {
        file_path(g, (gen_file)f, path, sizeof path);
        int rc = sync_close(g, &g->fd[f], path);
        if (rc) return rc;
    }
    snprintf(path, sizeof path, "%s/defects.tsv", g->dir);
    return sync_close(g, &g->defects_fd, path);
}

/* ---- chunks ------------------------------------------------------------------------------- */

static void chunk_reset(gen_chunk *c)
{
    for (int f = 0; f < GF_COUNT; f++)
        tb__buf_reset(&c->out[f]);
    memset(c->rows, 0, sizeof c->rows);
    memset(c->kinds, 0, sizeof c->kinds);
    memset(&c->st, 0, sizeof c->st);
    c->ndefects = 0;
    c->rc = 0;
}

static void chunk_release(gen_chunk *c)
{
    for (int f = 0; f < GF_COUNT; f++)
        tb__buf_release(&c->out[f]);
    free(c->defects);
    c->defects = NULL;
}

/* GB18030 for the one file CSV output gives in the encoding of older Chinese systems. */
static int to_gb18030(gen_chunk *c, tb__buf *b)
{
    if (!b->len) return 0;
    iconv_t cd = iconv_open("GB18030", "UTF-8");
    if (cd == (iconv_t)-1)
        return tb__seterr_errno(&c->err, TB_ENOTSUP, errno, "cannot convert UTF-8 to GB18030");
    tb__buf o = TB__BUF_INIT;
    int rc = tb__buf_reserve(&o, b->len * 2 + 16);
    if (rc) {
        iconv_close(cd);
        return tb__seterr(&c->err, rc, "out of memory");
    }
    char *in = b->data, *outp = o.data;
    size_t inleft = b->len, outleft = o.cap - 1;
    if (iconv(cd, &in, &inleft, &outp, &outleft) == (size_t)-1)
        rc = tb__seterr_errno(&c->err, TB_ERR, errno, "GB18030 conversion failed");
    iconv_close(cd);
    if (rc) {
        tb__buf_release(&o);
        return rc;
    }
    o.len = (size_t)(outp - o.data);
    o.data[o.len] = '\0';
    tb__buf_release(b);
    *b = o;
    return 0;
}

static void chunk_generate(const tb_gen *g, gen_chunk *c, uint64_t k)
{
    chunk_reset(c);
    c->ctx = &g->ctx;
    c->first = k * TB__GEN_CHUNK;
    c->end = c->first + TB__GEN_CHUNK;
    if (c->end > g->ctx.o.customers) c->end = g->ctx.o.customers;
    for (uint64_t i = c->first; i < c->end && !c->rc; i++)
        tb__gen_customer(c, i);
    if (c->rc && !c->err.msg[0]) tb__seterr(&c->err, c->rc, "out of memory");
    for (int f = 0; f < GF_COUNT && !c->rc; f++)
        if (is_gb18030(g, (gen_file)f)) c->rc = to_gb18030(c, &c->out[f]);
}

static void add_stats(gen_stats *a, const gen_stats *b)
{
    a->retail += b->retail;
    a->corporate += b->corporate;
    a->merchant += b->merchant;
    a->core_records += b->core_records;
    a->dup_persons += b->dup_persons;
    a->card_only += b->card_only;
    a->card_holders += b->card_holders;
    a->app_users += b->app_users;
    a->devices += b->devices;
    a->households += b->households;
    a->groups += b->groups;
}

/* Appends a generated chunk to the files: data, then its defects with their final line numbers
 * (1-based, counting the CSV header as line 1). */
static int chunk_write(tb_gen *g, gen_chunk *c)
{
    if (c->rc) {
        g->err = c->err;
        return c->rc;
    }
    int rc = 0;
    for (int f = 0; f < GF_COUNT && !rc; f++)
        rc = write_file(g, (gen_file)f, c->out[f].data, c->out[f].len);
    if (rc) return rc;
    tb__buf *l = &g->line;
    tb__buf_reset(l);
    for (size_t k = 0; k < c->ndefects; k++) {
        const gen_defect *d = &c->defects[k];
        const gen_file_spec *fs = &tb__gen_files[d->file];
        uint64_t line = g->rows[d->file] + d->row + 1 + (g->ctx.hive ? 0 : 1);
        rc = tb__buf_puts(l, fs->name);
        if (!rc) rc = tb__buf_puts(l, file_ext(g, (gen_file)d->file));
        if (!rc) rc = tb__buf_putc(l, '\t');
        if (!rc) rc = tb__buf_put_u64(l, line);
        if (!rc) rc = tb__buf_putc(l, '\t');
        if (!rc) rc = tb__buf_puts(l, tb__gen_kind_names[d->kind]);
        if (!rc) rc = tb__buf_putc(l, '\t');
        if (!rc) rc = tb__buf_puts(l, d->col == 0xff ? "-" : fs->cols[d->col].name);
        if (!rc) rc = tb__buf_putc(l, '\n');
        if (rc) return tb__seterr(&g->err, rc, "out of memory");
    }
    if (l->len) {
        char path[4096];
        snprintf(path, sizeof path, "%s/defects.tsv", g->dir);
        rc = write_all(g, g->defects_fd, path, l->data, l->len);
        if (rc) return rc;
    }
    g->ndefects += c->ndefects;
    for (int f = 0; f < GF_COUNT; f++) {
        g->rows[f] += c->rows[f];
        for (int k = 0; k < GK_COUNT; k++)
            g->kinds[f][k] += c->kinds[f][k];
    }
    add_stats(&g->st, &c->st);
    return 0;
}

/* ---- the worker pool --------------------------------------------------------------------- */

enum { SLOT_FREE, SLOT_BUSY, SLOT_READY };

typedef struct pool {
    tb_gen *g;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    uint64_t next, nchunks, written;
    unsigned nslots;
    gen_chunk *slots;
    int *state;
    int stop;
} pool;

/* Each worker claims the next chunk, waits until its slot has been written out, generates into
 * it and marks it ready; the writer (the calling thread) consumes slots strictly in order. */
static void *worker(void *arg)
{
    pool *p = arg;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (!p->stop && p->next < p->nchunks && p->next >= p->written + p->nslots)
            pthread_cond_wait(&p->cv, &p->mu);
        if (p->stop || p->next >= p->nchunks) break;
        uint64_t k = p->next++;
        gen_chunk *c = &p->slots[k % p->nslots];
        p->state[k % p->nslots] = SLOT_BUSY;
        pthread_mutex_unlock(&p->mu);
        chunk_generate(p->g, c, k);
        pthread_mutex_lock(&p->mu);
        p->state[k % p->nslots] = SLOT_READY;
        pthread_cond_broadcast(&p->cv);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

static int run_chunks(tb_gen *g, unsigned threads)
{
    uint64_t nchunks = (g->ctx.o.customers + TB__GEN_CHUNK - 1) / TB__GEN_CHUNK;
    if (threads > nchunks) threads = (unsigned)nchunks;
    if (threads <= 1) {
        gen_chunk c;
        memset(&c, 0, sizeof c);
        int rc = 0;
        for (uint64_t k = 0; k < nchunks && !rc; k++) {
            chunk_generate(g, &c, k);
            rc = chunk_write(g, &c);
        }
        chunk_release(&c);
        return rc;
    }
    pool p;
    memset(&p, 0, sizeof p);
    p.g = g;
    p.nchunks = nchunks;
    p.nslots = threads * 2;
    p.slots = calloc(p.nslots, sizeof *p.slots);
    p.state = calloc(p.nslots, sizeof *p.state);
    pthread_t tid[GEN_MAX_THREADS];
    unsigned started = 0;
    int rc = 0;
    if (!p.slots || !p.state) {
        rc = tb__seterr(&g->err, TB_ENOMEM, "out of memory");
        goto out_free;
    }
    if (pthread_mutex_init(&p.mu, NULL) != 0) {
        rc = tb__seterr(&g->err, TB_ENOMEM, "cannot create a mutex");
        goto out_free;
    }
    if (pthread_cond_init(&p.cv, NULL) != 0) {
        pthread_mutex_destroy(&p.mu);
        rc = tb__seterr(&g->err, TB_ENOMEM, "cannot create a condition variable");
        goto out_free;
    }
    for (; started < threads; started++)
        if (pthread_create(&tid[started], NULL, worker, &p) != 0) break;
    if (!started) {
        rc = tb__seterr(&g->err, TB_ERR, "cannot start a worker thread");
        goto out_destroy;
    }
    for (uint64_t k = 0; k < nchunks && !rc; k++) {
        unsigned s = (unsigned)(k % p.nslots);
        pthread_mutex_lock(&p.mu);
        while (p.state[s] != SLOT_READY)
            pthread_cond_wait(&p.cv, &p.mu);
        pthread_mutex_unlock(&p.mu);
        rc = chunk_write(g, &p.slots[s]);
        pthread_mutex_lock(&p.mu);
        p.state[s] = SLOT_FREE;
        p.written++;
        if (rc) p.stop = 1;
        pthread_cond_broadcast(&p.cv);
        pthread_mutex_unlock(&p.mu);
    }
    pthread_mutex_lock(&p.mu);
    p.stop = 1;
    pthread_cond_broadcast(&p.cv);
    pthread_mutex_unlock(&p.mu);
    for (unsigned t = 0; t < started; t++)
        pthread_join(tid[t], NULL);
out_destroy:
    pthread_cond_destroy(&p.cv);
    pthread_mutex_destroy(&p.mu);
out_free:
    if (p.slots)
        for (unsigned s = 0; s < p.nslots; s++)
            chunk_release(&p.slots[s]);
    free(p.slots);
    free(p.state);
    return rc;
}

/* ---- manifest ----------------------------------------------------------------------------- */

static const char *col_type(unsigned fl)
{
    if (fl & GC_DATE) return "date";
    if (fl & GC_TS) return "timestamp";
    if (fl & GC_INT) return "int";
    if (fl & GC_MONEY) return "decimal(18,2)";
    if (fl & GC_RATE) return "decimal(9,4)";
    return "string";
}

static const char *col_check(unsigned fl)
{
    if (fl & GC_RID) return "resident_id";
    if (fl & GC_USCC) return "uscc";
    if (fl & GC_IDTYPE) return "id_by_type";
    if (fl & GC_MOBILE) return "mobile";
    if (fl & GC_LUHN) return "luhn";
    if (fl & GC_DATE) return "date";
    if (fl & GC_TS) return "timestamp";
    return NULL;
}

/* jansson reports allocation failure by returning NULL or -1; one flag collects them all. */
static void put(json_t *o, const char *k, json_t *v, int *bad)
{
    if (!v || json_object_set_new(o, k, v) != 0) *bad = 1;
}

static void push(json_t *a, json_t *v, int *bad)
{
    if (!v || json_array_append_new(a, v) != 0) *bad = 1;
}

static json_t *manifest_json(const tb_gen *g)
{
    int bad = 0;
    const gen_ctx *x = &g->ctx;
    json_t *m = json_object(), *opts = json_object(), *fmt = json_object(), *files = json_array();
    json_t *tables = json_object(), *totals = json_object(), *truth = json_object(),
           *types = json_object(), *kinds = json_array(), *dfile = json_object();
    if (!m || !opts || !fmt || !files || !tables || !totals || !truth || !types || !kinds || !dfile)
        bad = 1;
    char date[9];
    snprintf(date, sizeof date, "%08d", x->o.batch_date);
    put(m, "generator", json_string("tagbase gen"), &bad);
    put(m, "generator_version", json_string(TB_VERSION_STRING " " TB__GEN_VERSION), &bad);
    put(m, "seed", json_integer((json_int_t)x->o.seed), &bad);
    put(m, "batch_date", json_string(date), &bad);
    put(opts, "customers", json_integer((json_int_t)x->o.customers), &bad);
    put(opts, "seed", json_integer((json_int_t)x->o.seed), &bad);
    put(opts, "date", json_string(date), &bad);
    put(opts, "dirty", json_real(x->o.dirty), &bad);
    put(opts, "format", json_string(x->hive ? "hive" : "csv"), &bad);
    put(m, "options", opts, &bad);
    put(fmt, "name", json_string(x->hive ? "hive" : "csv"), &bad);
    put(fmt, "delimiter", json_string(x->hive ? "\x01" : ","), &bad);
    put(fmt, "null", json_string(x->hive ? "\\N" : ""), &bad);
    put(fmt, "quote", x->hive ? json_null() : json_string("\""), &bad);
    put(fmt, "line_end", json_string(x->hive ? "\n" : "\r\n"), &bad);
    put(fmt, "header", json_boolean(!x->hive), &bad);
    put(m, "format", fmt, &bad);

    for (int f = 0; f < GF_COUNT; f++) {
        const gen_file_spec *fs = &tb__gen_files[f];
        json_t *o = json_object(), *cols = json_array(), *def = json_object();
        if (!o || !cols || !def) bad = 1;
        char name[128];
        snprintf(name, sizeof name, "%s%s", fs->name, file_ext(g, (gen_file)f));
        put(o, "name", json_string(name), &bad);
        put(o, "business_type", json_string(fs->business_type), &bad);
        put(o, "data_kind", json_string(fs->kind), &bad);
        put(o, "key_field", json_string(fs->key), &bad);
        int events = f == GF_EVENTS;
        put(o, "format", json_string(events ? "jsonl" : x->hive ? "hive" : "csv"), &bad);
        put(o, "encoding", json_string(is_gb18030(g, (gen_file)f) ? "GB18030" : "UTF-8"), &bad);
        put(o, "bom", json_boolean(!events && !x->hive && !is_gb18030(g, (gen_file)f)), &bad);
        put(o, "header", json_boolean(!events && !x->hive), &bad);
        put(o, "description", json_string(fs->desc), &bad);
        for (unsigned k = 0; k < fs->ncols; k++) {
            const gen_col *gc = &fs->cols[k];
            json_t *co = json_object();
            put(co, "name", json_string(gc->name), &bad);
            put(co, "type", json_string(col_type(gc->flags)), &bad);
            put(co, "required", json_boolean(gc->flags & GC_REQ), &bad);
            const char *chk = col_check(gc->flags);
            put(co, "check", chk ? json_string(chk) : json_null(), &bad);
            put(co, "codes", gc->codes ? json_string(gc->codes->name) : json_null(), &bad);
            put(co, "description", json_string(gc->desc), &bad);
            push(cols, co, &bad);
            if (gc->codes && !json_object_get(tables, gc->codes->name)) {
                json_t *t = json_object();
                for (unsigned j = 0; j < gc->codes->n; j++)
                    put(t, gc->codes->codes[j], json_string(gc->codes->labels[j]), &bad);
                put(tables, gc->codes->name, t, &bad);
            }
        }
        put(o, "columns", cols, &bad);
        put(o, "dirty", json_boolean(fs->dirty), &bad);
        put(o, "rows", json_integer((json_int_t)g->rows[f]), &bad);
        put(o, "bytes", json_integer((json_int_t)g->bytes[f]), &bad);
        for (int k = 0; k < GK_COUNT; k++)
            put(def, tb__gen_kind_names[k], json_integer((json_int_t)g->kinds[f][k]), &bad);
        put(o, "defects", def, &bad);
        push(files, o, &bad);
    }
    put(m, "files", files, &bad);
    put(m, "code_tables", tables, &bad);

    for (int k = 0; k < GK_COUNT; k++) {
        uint64_t n = 0;
        for (int f = 0; f < GF_COUNT; f++)
            n += g->kinds[f][k];
        put(totals, tb__gen_kind_names[k], json_integer((json_int_t)n), &bad);
        push(kinds, json_string(tb__gen_kind_names[k]), &bad);
    }
    put(dfile, "name", json_string("defects.tsv"), &bad);
    put(dfile, "rows", json_integer((json_int_t)g->ndefects), &bad);
    put(dfile, "kinds", kinds, &bad);
    put(dfile, "totals", totals, &bad);
    put(m, "defects", dfile, &bad);

    const gen_stats *s = &g->st;
    put(truth, "persons", json_integer((json_int_t)(s->retail + s->card_only)), &bad);
    put(truth, "companies", json_integer((json_int_t)(s->corporate + s->merchant)), &bad);
    put(truth, "core_customer_records", json_integer((json_int_t)s->core_records), &bad);
    put(truth, "persons_with_two_core_numbers", json_integer((json_int_t)s->dup_persons), &bad);
    put(truth, "card_only_persons", json_integer((json_int_t)s->card_only), &bad);
    put(truth, "card_holders", json_integer((json_int_t)s->card_holders), &bad);
    put(truth, "app_users", json_integer((json_int_t)s->app_users), &bad);
    put(truth, "devices", json_integer((json_int_t)s->devices), &bad);
    put(truth, "households", json_integer((json_int_t)s->households), &bad);
    put(truth, "groups", json_integer((json_int_t)s->groups), &bad);
    put(m, "truth", truth, &bad);
    put(types, "retail", json_integer((json_int_t)s->retail), &bad);
    put(types, "corporate", json_integer((json_int_t)s->corporate), &bad);
    put(types, "merchant", json_integer((json_int_t)s->merchant), &bad);
    put(m, "customer_types", types, &bad);
    if (bad) {
        json_decref(m);
        return NULL;
    }
    return m;
}

/* Writes manifest.json crash-safely (temp file, fsync, rename, directory fsync): a directory that
 * holds a manifest holds a complete batch. */
static int write_manifest(tb_gen *g)
{
    json_t *m = manifest_json(g);
    if (!m) return tb__seterr(&g->err, TB_ENOMEM, "out of memory building the manifest");
    char *text = json_dumps(m, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(10));
    json_decref(m);
    if (!text) return tb__seterr(&g->err, TB_ENOMEM, "out of memory writing the manifest");
    size_t len = strlen(text);
    text[len] = '\n'; /* json_dumps' NUL becomes the final newline; the length says where to stop */
    char path[4096];
    snprintf(path, sizeof path, "%s/manifest.json", g->dir);
    int rc = tb__file_write_atomic(path, text, len + 1, 0644, &g->err);
    free(text);
    return rc;
}

int tb_gen_run(tb_gen *g)
{
    tb__clearerr(&g->err);
    int rc = tb__mkdir_p(g->dir, 0755, &g->err);
    if (rc) return rc;
    char path[4096];
    snprintf(path, sizeof path, "%s/manifest.json", g->dir);
    if (access(path, F_OK) == 0)
        return tb__seterr(&g->err, TB_EEXIST,
                          "'%s' already exists: refusing to overwrite a complete batch", path);
    if (!g->ctx.cells && (rc = tb__gen_ctx_init(&g->ctx)) != 0)
        return tb__seterr(&g->err, rc,
                          rc == TB_ENOMEM ? "out of memory"
                                          : "the identity number space is too small (a bug)");
    rc = open_files(g);
    if (rc) return rc;

    gen_chunk ref;
    memset(&ref, 0, sizeof ref);
    ref.ctx = &g->ctx;
    rc = tb__gen_reference(&g->ctx, &ref);
    if (rc)
        rc = tb__seterr(&g->err, rc, "out of memory");
    else
        rc = chunk_write(g, &ref);
    chunk_release(&ref);
    if (rc) return rc;

    unsigned threads = (unsigned)g->ctx.o.threads;
    if (threads == 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        threads = n < 1 ? 1 : n > GEN_MAX_THREADS ? GEN_MAX_THREADS : (unsigned)n;
    }
    rc = run_chunks(g, threads);
    if (rc) return rc;
    rc = close_files(g);
    if (rc) return rc;
    return write_manifest(g);
}
