/* load.c — tagbase load: the five modules of the customer data pipeline over one batch.
 *
 *   1 acquisition   every row of every file is read and checked against the data standard of its
 *                   business type; valid rows go to the file's business sub-domain segment,
 *                   invalid ones to quarantine (file, line, field, masked value, rule)
 *   2 aggregation   the segments, stamped with their business flag (business type, data kind,
 *                   source system, batch, load id), replace the batch's earlier segments of the
 *                   same files in the business data general domain (meta table `segment`)
 *   3 transmission  rows that name a customer (a customer number or a certificate) move on
 *   4 allocation    identity resolution gives each of them its golden record (identity.c)
 *   5 collection    the rows are folded into the profile attributes (profile.c) and the batch's
 *                   snapshot is written (store/snapshot.c)
 *
 * Everything a load writes goes to new files named by its load id; one meta-store transaction at
 * the end makes them current. A load that dies earlier leaves only unreferenced files, which the
 * next load removes. See docs/pipeline.md. */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/hash.h"
#include "common/log.h"
#include "common/mask.h"
#include "common/table.h"
#include "common/utf8.h"
#include "pipeline/identity.h"
#include "pipeline/load_int.h"
#include "pipeline/manifest.h"
#include "pipeline/profile.h"
#include "pipeline/segment.h"
#include "pipeline/standard.h"
#include "store/file.h"
#include "store/mdx.h"
#include "store/meta.h"
#include "store/snapshot.h"

#define MANIFEST_MAX_BYTES (16u << 20)
#define PROGRESS_EVERY     65536 /* rows between clock reads */
#define DICT_SLOTS         4096  /* hash slots of a golden column's dictionary (at most 1024) */
#define MEMO_SLOTS         256   /* codes a golden column remembers by value pointer */

/* One quarantined row. */
typedef struct qrow {
    uint32_t file;
    int32_t field; /* -1: the whole row */
    uint8_t rule;
    uint64_t line;
    char value[64]; /* masked where the field is personal; cut at 60 bytes */
} qrow;

static int qrow_order(const void *a, const void *b)
{
    const qrow *x = a, *y = b;
    if (x->file != y->file) return x->file < y->file ? -1 : 1;
    return x->line < y->line ? -1 : x->line > y->line;
}

/* Unique-key map of one file: key hash -> row hash (open addressing, key 0 = empty). A slot
 * holds both, so a probe that hits costs one cache line. Any number of slots: a key's first slot
 * is its hash scaled to the table (keymap_home), so the map is sized to the file, not to the next
 * power of two (at 100M rows, 2.3 GB instead of 4 GB, every page of it faulted in on the load's
 * longest file). */
typedef struct keyslot {
    uint64_t key, row;
} keyslot;

typedef struct keymap {
    keyslot *slot;
    size_t cap, n;
} keymap;

#define KEYMAP_ROUND ((size_t)2 << 20 >> 4) /* slots in a 2 MiB huge page */
#define KEYMAP_FIRST 1024                   /* slots of a map not sized for its file */

static inline size_t keymap_home(const keymap *m, uint64_t k)
{
    return (size_t)(((unsigned __int128)k * m->cap) >> 64);
}

typedef struct job {
    /* what the file is */
    char *name, *path, *business_type, *kind, *format, *encoding;
    int header;
    const tb__std_type *t;
    int rank;  /* processing order: identities before the rows that point at them */
    char *err; /* a file-level problem: the file is rejected */
    uint64_t bytes;
    /* module counts */
    uint64_t acquired, valid, rejected, warnings, aggregated, transmitted, allocated, collected;
    uint64_t cells, nonnull, dups;
    uint64_t *rule_count; /* [TB__STD_RULE_COUNT * (nfields + 1)]: by rule and field (last: row) */
    char *seg_path;       /* relative to the data directory */
    uint64_t seg_bytes;
    int taken;     /* parallel phase: a worker has it (under next_mu) */
    int done;      /* parallel phase: read, or never to be (under next_mu) */
    int pipelined; /* read and checked on one thread, applied on another (pipe_start) */
} job;

typedef struct load {
    tb_db *db;
    tb__errbuf *eb;
    const tb_load_opts *o;
    char batch[9];
    int64_t load_id;
    int std_version;
    tb__standards *std;
    tb__idres *idr;
    tb__profile *prof;
    job *jobs;
    size_t njobs;
    qrow *q;
    size_t nq, qcap;
    uint64_t rows, bytes_done, bytes_total;
    struct timespec t0, last_progress;
    char started[TB__TIME_TEXT_LEN];
    int32_t batch_days;
    char *snap_rel; /* snapshot directory relative to the data directory */
    uint32_t customers;
    uint64_t earlier_rows; /* rows collected again from earlier loads' segments */
    struct earlier {
        char *file, *type, *path;
    } * earlier; /* the batch's current segments before this load (list_earlier) */
    size_t nearlier;
    const tb__std_type *busy[2]; /* parallel phase: the type each worker reads (under next_mu) */
    int stop;                    /* parallel phase: a worker failed */
    int quiet;                   /* no progress reports from this (worker) copy */
    struct prep *prep;           /* memory made ready while the ordered files are read */
    int nice; /* the calling thread's nice value, which the load's threads start from */
    struct idwriter *early; /* run_ordered: the first writer to start midway through a file */
    uint64_t early_at;      /* ... once that file's reader is past this offset */
} load;

static char *path_in(tb_db *db, const char *rel)
{
    size_t n = strlen(tb_db_path(db)) + strlen(rel) + 2;
    char *p = malloc(n);
    if (p) snprintf(p, n, "%s/%s", tb_db_path(db), rel);
    return p;
}

/* ---- inputs ---------------------------------------------------------------------------------- */

/* Identities first (customer master, then the card system), then relations, then every row that
 * points at them; reference data first of all. */
static int rank_of(const tb__std_type *t)
{
    if (!t) return 9;
    if (t->kind == TB__STD_REFERENCE) return 0;
    int identity = t->key_field >= 0 && t->cert_field >= 0;
    if (identity) return strcmp(t->key_system ? t->key_system : "", "core") == 0 ? 1 : 2;
    if (t->kind == TB__STD_MART) return 3;
    return t->kind == TB__STD_EXTERNAL ? 4 : 5;
}

static int add_job(load *L, const char *name, const char *path, const char *type, const char *kind,
                   const char *format, const char *encoding, int header)
{
    job *j = realloc(L->jobs, (L->njobs + 1) * sizeof *j);
    if (!j) return TB_ENOMEM;
    L->jobs = j;
    j = &L->jobs[L->njobs];
    memset(j, 0, sizeof *j);
    j->name = strdup(name);
    j->path = strdup(path);
    j->business_type = strdup(type);
    j->format = strdup(format);
    j->encoding = strdup(encoding);
    j->header = header;
    j->t = tb__std_find(L->std, type);
    j->kind = strdup(kind ? kind : j->t ? tb__std_kind_name(j->t->kind) : "mart");
    j->rank = rank_of(j->t);
    L->njobs++;
    if (!j->name || !j->path || !j->business_type || !j->format || !j->encoding || !j->kind)
        return TB_ENOMEM;
    struct stat st;
    if (stat(path, &st) == 0) j->bytes = (uint64_t)st.st_size;
    return 0;
}

static const char *basename_of(const char *p)
{
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

/* A batch directory or its manifest: every file it lists, but the generator's truth and the
 * app events (not pipeline inputs). */
static int add_manifest(load *L, const char *input, int is_dir)
{
    char *mpath = NULL, *dir = NULL, *json = NULL;
    size_t jlen;
    tb__manifest m;
    int rc;
    if (is_dir) {
        dir = strdup(input);
        mpath = malloc(strlen(input) + 16);
        if (mpath) sprintf(mpath, "%s/manifest.json", input);
    } else {
        mpath = strdup(input);
        dir = strdup(input);
        if (dir) {
            char *slash = strrchr(dir, '/');
            if (slash)
                *slash = '\0';
            else
                strcpy(dir, ".");
        }
    }
    if (!mpath || !dir) {
        rc = tb__seterr(L->eb, TB_ENOMEM, "out of memory");
        goto out_free;
    }
    rc = tb__file_read_all(mpath, MANIFEST_MAX_BYTES, &json, &jlen, L->eb);
    if (rc) goto out_free;
    rc = tb__manifest_parse(json, jlen, mpath, &m, L->eb);
    if (rc) goto out_free;
    if (!L->batch[0]) memcpy(L->batch, m.batch_date, sizeof L->batch);
    if (strcmp(L->batch, m.batch_date) != 0) {
        rc = tb__seterr(L->eb, TB_EINVAL, "'%s' is batch %s, but this load is batch %s", mpath,
                        m.batch_date, L->batch);
        goto out_manifest;
    }
    for (size_t i = 0; i < m.nfiles && !rc; i++) {
        const tb__manifest_file *f = &m.files[i];
        if (strcmp(f->data_kind, "truth") == 0 || strcmp(f->data_kind, "events") == 0) continue;
        char *p = malloc(strlen(dir) + strlen(f->name) + 2);
        if (!p) {
            rc = tb__seterr(L->eb, TB_ENOMEM, "out of memory");
            break;
        }
        sprintf(p, "%s/%s", dir, f->name);
        rc = add_job(L, f->name, p, f->business_type, f->data_kind, f->format, f->encoding,
                     f->header);
        free(p);
        if (rc) tb__seterr(L->eb, rc, "out of memory");
    }
out_manifest:
    tb__manifest_release(&m);
out_free:
    free(json);
    free(mpath);
    free(dir);
    return rc;
}

static int collect_inputs(load *L)
{
    const tb_load_opts *o = L->o;
    if (o->batch_date) {
        if (!tb_valid_date(o->batch_date))
            return tb__seterr(L->eb, TB_EINVAL, "batch %d is not a date YYYYMMDD", o->batch_date);
        snprintf(L->batch, sizeof L->batch, "%08d", o->batch_date);
    }
    for (size_t i = 0; i < o->ninputs; i++) {
        const char *in = o->inputs[i];
        struct stat st;
        if (stat(in, &st) != 0)
            return tb__seterr_errno(L->eb, errno == ENOENT ? TB_ENOENT : TB_EIO, errno,
                                    "cannot read '%s'", in);
        int rc;
        const char *base = basename_of(in);
        if (S_ISDIR(st.st_mode) || strcmp(base, "manifest.json") == 0) {
            rc = add_manifest(L, in, S_ISDIR(st.st_mode));
        } else {
            if (!o->business_type)
                return tb__seterr(L->eb, TB_EINVAL,
                                  "'%s' is a single file: say its business type (--business)", in);
            if (!L->batch[0])
                return tb__seterr(L->eb, TB_EINVAL,
                                  "'%s' is a single file: say its batch date (--batch)", in);
            size_t n = strlen(base);
            const char *fmt = n > 4 && strcmp(base + n - 4, ".csv") == 0   ? "csv"
                              : n > 4 && strcmp(base + n - 4, ".tsv") == 0 ? "tsv"
                                                                           : "hive";
            rc = add_job(L, base, in, o->business_type, o->kind, fmt,
                         o->encoding ? o->encoding : "UTF-8", strcmp(fmt, "hive") != 0);
            if (rc) tb__seterr(L->eb, rc, "out of memory");
        }
        if (rc) return rc;
    }
    if (L->njobs == 0) return tb__seterr(L->eb, TB_EINVAL, "nothing to load");
    for (size_t i = 0; i < L->njobs; i++)
        for (size_t k = 0; k < i; k++)
            if (strcmp(L->jobs[i].name, L->jobs[k].name) == 0)
                return tb__seterr(L->eb, TB_EINVAL, "two inputs are named '%s'", L->jobs[i].name);
    /* Stable order by rank: insertion sort keeps the manifest's order within a rank. */
    for (size_t i = 1; i < L->njobs; i++) {
        job x = L->jobs[i];
        size_t k = i;
        for (; k > 0 && L->jobs[k - 1].rank > x.rank; k--)
            L->jobs[k] = L->jobs[k - 1];
        L->jobs[k] = x;
    }
    for (size_t i = 0; i < L->njobs; i++)
        L->bytes_total += L->jobs[i].bytes;
    return 0;
}

static void start_first_writer(load *L);
static int parallel_ok(const job *j);

/* ---- acquisition helpers --------------------------------------------------------------------- */

/* Makes the map `cap` slots (larger than now), rehashing what it holds. */
static int keymap_rehash(keymap *m, size_t cap)
{
    keymap t = {tb__table_alloc(cap * sizeof(keyslot)), cap, m->n};
    if (!t.slot) return TB_ENOMEM;
    for (size_t i = 0; i < m->cap; i++) {
        if (!m->slot[i].key) continue;
        size_t k = keymap_home(&t, m->slot[i].key);
        while (t.slot[k].key)
            k = k + 1 < cap ? k + 1 : 0;
        t.slot[k] = m->slot[i];
    }
    if (m->cap) tb__table_free(m->slot, m->cap * sizeof *m->slot);
    *m = t;
    return 0;
}

/* The slots of a map for about `rows` rows (kept at most 70 % full). */
static size_t keymap_cap_for(size_t rows)
{
    size_t cap = (rows + 1) * 10 / 7;
    size_t round = cap >= 8 * KEYMAP_ROUND ? KEYMAP_ROUND : KEYMAP_FIRST;
    return (cap / round + 1) * round;
}

/* Sizes the map for about `rows` rows. */
static int keymap_grow(keymap *m, size_t rows)
{
    size_t cap = keymap_cap_for(rows);
    return cap <= m->cap ? 0 : keymap_rehash(m, cap);
}

/* Where key `k` starts its probe: fetched ahead of the probe, so that it finds the line in cache
 * (a large file's map is far larger than the cache). Only for a map with slots: the caller tests
 * m->cap once, before its loop. GCC 12 at -O2 drops a prefetch behind its own `if (m->cap)`
 * altogether (there was none in judge's machine code, and judge's probes missed the cache:
 * 6.3 s of the transactions' reading thread at 10M customers). Fetched JUDGE_AHEAD rows ahead:
 * with 16, judge took 3.77 s of the 10M transactions, with 64 3.28 s (one debug run each). */
static inline void keymap_prefetch(const keymap *m, uint64_t k)
{
    __builtin_prefetch(&m->slot[keymap_home(m, k + !k)]);
}

/* Records the row under its unique key: 0 first time, 1 identical repeat, 2 same key with other
 * content, TB_ENOMEM. 64-bit hashes: two different keys colliding is a one in 2^64 event per
 * pair, accepted and documented. */
static int keymap_put(keymap *m, uint64_t k, uint64_t r)
{
    if ((m->n + 1) * 10 > m->cap * 7 && keymap_rehash(m, m->cap ? m->cap * 2 : KEYMAP_FIRST))
        return TB_ENOMEM;
    k += !k; /* 0 marks an empty slot */
    size_t i = keymap_home(m, k);
    for (; m->slot[i].key; i = i + 1 < m->cap ? i + 1 : 0)
        if (m->slot[i].key == k) return m->slot[i].row == r ? 1 : 2;
    m->slot[i].key = k;
    m->slot[i].row = r;
    m->n++;
    return 0;
}

#define KEYMAP_SAMPLE 4096 /* rows read before the map is sized for the file */

/* A quarter of the machine's memory: the most a guess from a file's first rows may allocate at
 * once (a wrong guess costs a bounded allocation, never one the machine cannot hold). */
static size_t memory_quarter(void)
{
    long pages = sysconf(_SC_PHYS_PAGES), psize = sysconf(_SC_PAGESIZE);
    return pages > 0 && psize > 0 ? (size_t)pages / 4 * (size_t)psize : (size_t)1 << 31;
}

/* The most rows a guess may size the map for: a map of a quarter of the machine's memory. A
 * 10M-customer transactions file (100M rows) needs 2.3 GB; capped lower, the map would double once
 * more near the end, rehashing 94M rows at a cache miss each on the load's longest file. */
static size_t keymap_max_guess(void)
{
    return memory_quarter() / sizeof(keyslot) / 10 * 7;
}

/* Sizes the map for the file's likely number of rows, from the bytes the first rows took:
 * doubling a map of tens of millions of rows rehashes it several times, at a cache miss per
 * row each time. A wrong guess costs memory or a later doubling, never a wrong answer. */
static size_t keymap_guess(const tb__reader *r, uint64_t file_bytes, uint64_t rows)
{
    uint64_t at = tb__reader_offset(r);
    if (!at || !file_bytes) return 0;
    /* Short first rows overestimate: the guess is capped, so a wrong one costs a bounded
     * allocation, never one the machine cannot hold. */
    double guess = (double)rows * ((double)file_bytes / (double)at) * 1.05;
    size_t most = keymap_max_guess();
    return guess < (double)most ? (size_t)guess : most;
}

static int keymap_presize(keymap *m, const tb__reader *r, uint64_t file_bytes, uint64_t rows)
{
    size_t guess = keymap_guess(r, file_bytes, rows);
    return guess ? keymap_grow(m, guess) : 0;
}

static void keymap_release(keymap *m)
{
    if (m->cap) tb__table_free(m->slot, m->cap * sizeof *m->slot);
    memset(m, 0, sizeof *m);
}

/* Memory the load will need, made ready by a thread of low priority while the ordered files are
 * read (their threads leave a core mostly idle: the customer master's applier bounds them). On a
 * virtual machine the first write to a fresh page costs more than most work done with it (about
 * 2 s per GB here), and at 10M customers a third of that applier's time went to such faults. In
 * the order needed:
 * - an ordered file's look-up tables, sized for the whole file from its first rows
 *   (tb__idres_plan_growth), and faulted in: the applier asks (prep_ask) and goes on with tables
 * that double as before, then takes them (prep_take_tables) when they are ready;
 * - the memory of the first writer's image (start_first_writer) of the golden records and keys,
 *   faulted in, so that taking the image only copies: it stopped both of the customer master's
 *   threads for 1.3-1.6 s at 10M customers, most of it spent on first writes to fresh pages;
 * - the golden records, keys and strings that file's rows will write (tb__idres_reserve), faulted
 *   in ahead of its applier a few megabytes at a time, without writing a byte;
 * - the duplicate-key map of the parallel phase's largest file (the transactions: at 100M rows,
 *   2.3 GB), sized as process() sizes it from the file's first rows, and faulted in; on that
 *   file's own thread this took seconds at the head of the load's critical path.
 * The map is taken by process() when it starts that file; the image's memory by the freeze, as
 * far as it is faulted in by then (the copy faults in the rest). */
typedef struct prep {
    load *L;
    size_t job;    /* the file whose map is prepared; L->njobs: none */
    size_t early;  /* the file the first writer starts in; L->njobs: none */
    size_t stored; /* what the golden records and keys loaded from the store take in an image */
    keymap km;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    /* under mu (but `applied`, atomic, and km_*, the thread's own): */
    void *image; /* the image's memory once ready */
    size_t image_bytes;
    int image_taken; /* the freeze came: what is still to come is not wanted */
    int ask;         /* PREP_ASKED, PREP_READY (tables made ready), or 0 */
    uint64_t ask_id; /* which ask (a cancelled one's tables are freed, its spans dropped) */
    tb__idres_plan plan;
    void *tables;
    tb__span spans[3];     /* of the last ask, what is still to be faulted in */
    size_t span_len[3];    /* and how long each was */
    uint64_t rows0, rows1; /* the asker's rows applied when it asked, and at its file's end */
    int asked_once;        /* an ordered file has asked, or passed the point where it would */
    uint64_t applied;      /* the asker's rows applied (atomic: it stores, this thread loads) */
    void *km_mem;          /* the map's memory while it is faulted in (km_at bytes so far) */
    size_t km_cap, km_at;
    void *image_mem; /* the image's, likewise (under mu) */
    size_t image_want, image_at;
    int image_write; /* the kernel cannot fault in ahead: written (under mu) */
    int stop;        /* prep_join: the ordered files are done (PREP_FAILED: with an error) */
    pthread_t tid;
    int started;
} prep;

enum { PREP_ASKED = 1, PREP_READY };   /* prep.ask */
enum { PREP_DONE = 1, PREP_FAILED };   /* prep.stop */
#define PREP_STEP    ((size_t)4 << 20) /* bytes faulted in ahead at a time (the mapping lock held) */
#define PREP_LEAD    0.15              /* of a file's rows: how far ahead of its applier first */
#define PREP_WAIT    2                 /* seconds the thread waits for the first file's ask */
#define LOAD_BG_NICE 10 /* the nice value of work off the longest path (background) */

static int prep_ask(prep *p, const tb__idres_plan *pl, const tb__span *sp, int nsp, uint64_t rows0,
                    uint64_t rows1);
static int prep_take_tables(prep *p, void **mem, size_t *bytes);
static void prep_done_asking(prep *p, int asked);

/* Copies a field into a NUL-terminated buffer (fields are not terminated), cut to cap - 1 bytes;
 * *len (when wanted) is its strlen: a record never holds a NUL byte (the reader rejects it). */
static const char *cstrn(const tb__field *f, char *buf, size_t cap, size_t *len)
{
    if (len) *len = 0;
    if (!f || f->is_null) return NULL;
    size_t n = f->len < cap - 1 ? f->len : cap - 1;
    memcpy(buf, f->ptr, n);
    buf[n] = '\0';
    if (len) *len = n;
    return buf;
}

/* cstrn without the length. */
static const char *cstr(const tb__field *f, char *buf, size_t cap)
{
    return cstrn(f, buf, cap, NULL);
}

static int quarantine(load *L, uint32_t file, const job *j, const tb__record *rec,
                      const tb__std_verdict *v, tb__std_rule rule)
{
    if (L->nq == L->qcap) {
        size_t cap = L->qcap ? L->qcap * 2 : 1024;
        qrow *q = realloc(L->q, cap * sizeof *q);
        if (!q) return TB_ENOMEM;
        L->q = q;
        L->qcap = cap;
    }
    qrow *q = &L->q[L->nq++];
    q->file = file;
    q->line = rec->line;
    q->rule = (uint8_t)rule;
    q->field = v ? v->field : -1;
    q->value[0] = '\0';
    if (q->field >= 0 && (size_t)q->field < rec->nfields && j->t &&
        (size_t)q->field < j->t->nfields) {
        const tb__field *f = &rec->fields[q->field];
        size_t n = f->len < 60 ? f->len : 60;
        switch (j->t->fields[q->field].mask) {
        case TB__STD_MASK_ID:
            tb__mask_id(f->ptr, f->len, q->value, sizeof q->value);
            break;
        case TB__STD_MASK_MOBILE:
            tb__mask_mobile(f->ptr, f->len, q->value, sizeof q->value);
            break;
        case TB__STD_MASK_NAME:
            tb__mask_name(f->ptr, f->len, q->value, sizeof q->value);
            break;
        case TB__STD_MASK_CARD:
            tb__mask_card(f->ptr, f->len, q->value, sizeof q->value);
            break;
        default:
            /* Unmasked fields are C1 or amounts: shown as read, cut on a character boundary. */
            while (n > 0 && n < f->len && ((unsigned char)f->ptr[n] & 0xC0) == 0x80)
                n--;
            memcpy(q->value, f->ptr, n);
            q->value[n] = '\0';
            for (size_t i = 0; i < n; i++)
                if ((unsigned char)q->value[i] < 0x20) q->value[i] = '?';
        }
    }
    return 0;
}

static void count_rule(job *j, tb__std_rule rule, int field)
{
    size_t nf = j->t ? j->t->nfields : 0;
    size_t col = field >= 0 && (size_t)field < nf ? (size_t)field : nf;
    j->rule_count[(size_t)rule * (nf + 1) + col]++;
}

/* Reports rows and bytes so far: the files done plus `offset` bytes of the current one. */
static void progress(load *L, const char *file, uint64_t offset)
{
    if (!L->o->progress || L->quiet) return;
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    if (now.tv_sec == L->last_progress.tv_sec) return;
    L->last_progress = now;
    tb_load_progress p = {file, L->rows, L->bytes_done + offset, L->bytes_total,
                          tb__seconds_since(&L->t0)};
    L->o->progress(&p, L->o->progress_arg);
}

/* ---- transmission and allocation ------------------------------------------------------------- */

/* Field names of the survivorship attributes, as the default standard names them. */
static const struct {
    int attr;
    const char *names[3];
} attr_fields[] = {
    {TB__F_NAME, {"cust_name", "ent_name", NULL}},
    {TB__F_GENDER, {"gender", NULL, NULL}},
    {TB__F_BIRTH_DATE, {"birth_date", NULL, NULL}},
    {TB__F_MOBILE, {"mobile", NULL, NULL}},
    {TB__F_ADDRESS, {"address", NULL, NULL}},
    {TB__F_PROVINCE, {"province_code", NULL, NULL}},
    {TB__F_CITY, {"city_code", NULL, NULL}},
    {TB__F_OCCUPATION, {"occupation_code", NULL, NULL}},
    {TB__F_INDUSTRY, {"industry_code", NULL, NULL}},
    {TB__F_RISK_LEVEL, {"risk_level", NULL, NULL}},
    {TB__F_ORG, {"org_id", NULL, NULL}},
    {TB__F_MANAGER, {"mgr_id", NULL, NULL}},
    {TB__F_CUST_TYPE, {"cust_type", NULL, NULL}},
};

/* Per-file field positions the allocation step needs, looked up once. */
typedef struct binding {
    int attr[TB__F_COUNT];
    int open_date, household, relation, head, group, legal_rep;
} binding;

static void bind_fields(const tb__std_type *t, binding *b)
{
    for (int a = 0; a < TB__F_COUNT; a++)
        b->attr[a] = -1;
    for (size_t k = 0; k < sizeof attr_fields / sizeof attr_fields[0]; k++)
        for (int n = 0; n < 3 && attr_fields[k].names[n]; n++) {
            int i = tb__std_field_index(t, attr_fields[k].names[n]);
            if (i >= 0) {
                b->attr[attr_fields[k].attr] = i;
                break;
            }
        }
    b->open_date = tb__std_field_index(t, "open_date");
    b->household = tb__std_field_index(t, "household_id");
    b->relation = tb__std_field_index(t, "relation");
    b->head = tb__std_field_index(t, "head_cust_no");
    b->group = tb__std_field_index(t, "group_id");
    b->legal_rep = tb__std_field_index(t, "legal_rep");
}

#define KEY_CAP 128 /* a customer number is looked up by its first KEY_CAP - 1 bytes */

/* The golden record a valid row is about: observed (identity sources: a system's customer number
 * with a certificate), or looked up by customer number or by certificate. 1 with *gid, 0 when the
 * row names nobody known (or nobody at all: *transmitted 0), <0 on error. `known` (may be NULL)
 * is the gid its customer number was already looked up to (TB__GID_NONE: nobody); the caller
 * passes one only while no row can change the resolver. */
static int allocate(load *L, const job *j, const binding *b, const tb__record *rec, uint32_t *gid,
                    int *transmitted, const uint32_t *known)
{
    const tb__std_type *t = j->t;
    const tb__field *f = rec->fields;
    char key[KEY_CAP], cert[64], ctype[16];
    size_t klen = 0, clen = 0;
    const char *k = t->key_field >= 0 ? cstrn(&f[t->key_field], key, sizeof key, &klen) : NULL;
    const char *c = t->cert_field >= 0 ? cstrn(&f[t->cert_field], cert, sizeof cert, &clen) : NULL;
    const char *ct =
        t->cert_type_field >= 0 ? cstr(&f[t->cert_type_field], ctype, sizeof ctype) : t->cert_type;
    *transmitted = k || c;
    if (!*transmitted) return 0;
    tb__party_kind kind = ct && strcmp(ct, "201") == 0 ? TB__PARTY_COMPANY : TB__PARTY_PERSON;
    if (k && c && t->key_system) {
        char vals[TB__F_COUNT][128];
        tb__party_obs o = {.system = t->key_system,
                           .key = k,
                           .kind = kind,
                           .cert_type = ct,
                           .cert_no = c,
                           .as_of = L->batch_days,
                           .key_len = klen,
                           .cert_len = clen};
        for (int a = 0; a < TB__F_COUNT; a++)
            if (b->attr[a] >= 0)
                o.attr[a] = cstrn(&f[b->attr[a]], vals[a], sizeof vals[a], &o.attr_len[a]);
        o.cust_type = o.attr[TB__F_CUST_TYPE];
        if (b->open_date >= 0 && !f[b->open_date].is_null)
            tb__std_parse_date(f[b->open_date].ptr, f[b->open_date].len, &o.as_of);
        int rc = tb__idres_observe(L->idr, &o, gid, NULL);
        if (rc) return tb__seterr(L->eb, rc, "%s", tb__idres_errmsg(L->idr));
        return 1;
    }
    int rc;
    if (k && known) {
        *gid = *known;
        rc = *gid == TB__GID_NONE ? TB_ENOENT : 0;
    } else if (k) {
        rc = tb__idres_lookup_len(L->idr, t->key_system ? t->key_system : "core", k, klen, gid);
    } else {
        rc = tb__idres_lookup_cert(L->idr, kind, c, gid);
    }
    if (rc == TB_ENOENT) return 0;
    return rc ? tb__seterr(L->eb, rc, "%s", tb__idres_errmsg(L->idr)) : 1;
}

/* Relationships the rows carry: household membership, corporate group, legal representative.
 * (The customer manager is an attribute of the golden record.) */
static int relate(load *L, const binding *b, const tb__record *rec, uint32_t gid)
{
    const tb__field *f = rec->fields;
    char a[128], r[32], h[128];
    int rc = 0;
    if (b->household >= 0 && cstr(&f[b->household], a, sizeof a)) {
        uint32_t head = TB__GID_NONE;
        if (b->head >= 0 && cstr(&f[b->head], h, sizeof h))
            (void)tb__idres_lookup(L->idr, "core", h, &head);
        rc = tb__idres_relate(L->idr, gid, TB__REL_HOUSEHOLD, a, head,
                              b->relation >= 0 ? cstr(&f[b->relation], r, sizeof r) : NULL);
    }
    if (!rc && b->group >= 0 && cstr(&f[b->group], a, sizeof a))
        rc = tb__idres_relate(L->idr, gid, TB__REL_GROUP, a, TB__GID_NONE, NULL);
    if (!rc && b->legal_rep >= 0 && cstr(&f[b->legal_rep], a, sizeof a))
        rc = tb__idres_relate(L->idr, gid, TB__REL_LEGAL_REP, a, TB__GID_NONE, NULL);
    /* The customer manager is not written as a relation: it is the golden record's `manager`
     * attribute (survivorship, history on change, the snapshot's mgr_id column), and a million
     * duplicate relation rows cost a quarter of a first load's commit. */
    return rc ? tb__seterr(L->eb, rc, "%s", tb__idres_errmsg(L->idr)) : 0;
}

/* ---- one file through the modules ------------------------------------------------------------ */

static int file_error(job *j, const char *msg)
{
    free(j->err);
    j->err = strdup(msg);
    /* Messages quote bytes of the file (a header cell): keep them valid UTF-8 for JSON. */
    for (size_t i = 0, n = j->err ? strlen(j->err) : 0; i < n;) {
        size_t k = tb__utf8_char((const unsigned char *)j->err + i, n - i);
        if (k == 0) {
            j->err[i] = '?';
            k = 1;
        }
        i += k;
    }
    tb__log_debug("load", "%s", msg); /* reported in the summary, with the file */
    return 0;
}

/* A CSV header must name the standard's fields in its order. */
static int check_header(job *j, tb__reader *r)
{
    tb__record h;
    int rc = tb__reader_header(r, &h);
    if (rc < 0) return rc;
    if (rc == 0) return 0;
    char msg[TB__ERRMSG_MAX];
    for (size_t i = 0; i < j->t->nfields; i++) {
        const char *want = j->t->fields[i].name;
        if (i >= h.nfields) {
            snprintf(msg, sizeof msg, "'%s' line 1: column '%s' is missing", j->name, want);
            file_error(j, msg);
            return 1;
        }
        const tb__field *f = &h.fields[i];
        if (f->len != strlen(want) || memcmp(f->ptr, want, f->len) != 0) {
            snprintf(msg, sizeof msg, "'%s' line 1, column %zu: expected '%s', found '%.*s'",
                     j->name, i + 1, want, (int)(f->len > 40 ? 40 : f->len), f->ptr);
            file_error(j, msg);
            return 1;
        }
    }
    return 0;
}

/* What the applier counts of a file's rows. Kept apart from the job, which the reading thread
 * updates at every row: with both threads writing one cache line per row, the line went back and
 * forth between the cores, a third of either thread's own time at the transactions (perf annotate
 * of process and apply_batch). Added to the job when the file ends (pipe_end). */
typedef struct applied_counts {
    uint64_t transmitted, allocated, collected, aggregated;
} applied_counts;

/* What a valid row still goes through after its checks: the file's context. */
typedef struct applier {
    load *L;
    job *j;
    applied_counts *n; /* the applier's own (rowpipe) */
    const binding *b;
    tb__profile_binding *pb;
    tb__seg_writer *w;
    int identity, hive;
    int grows; /* an ordered file: its rows add golden records, keys or relations */
} applier;

/* Transmission, allocation and collection of one valid row, then its flagged row in the file's
 * segment (aggregation); `known` as allocate() takes it. 0 or a negative TB_E* (detail on
 * a->L->eb). */
static int apply_row(const applier *a, const tb__record *rec, const uint32_t *known)
{
    load *L = a->L;
    applied_counts *n = a->n;
    uint32_t gid = TB__SEG_NO_GID;
    int transmitted = 0;
    int rc = allocate(L, a->j, a->b, rec, &gid, &transmitted, known);
    if (rc < 0) return rc;
    n->transmitted += (uint64_t)transmitted;
    if (rc == 1) {
        n->allocated++;
        if (a->identity && (rc = relate(L, a->b, rec, gid)) != 0) return rc;
        if (a->b->household >= 0 && !a->identity && (rc = relate(L, a->b, rec, gid)) != 0)
            return rc;
        if (a->b->legal_rep >= 0 && !a->identity && (rc = relate(L, a->b, rec, gid)) != 0)
            return rc;
        /* collection */
        int took = a->identity;
        if (a->pb) {
            int k = tb__profile_add(L->prof, a->pb, gid, rec->fields, rec->nfields);
            if (k < 0) return tb__seterr(L->eb, k, "out of memory");
            took |= k;
        }
        n->collected += (uint64_t)took;
    } else {
        gid = TB__SEG_NO_GID;
    }
    rc = a->hive ? tb__seg_write_raw(a->w, rec->line, gid, rec, L->eb)
                 : tb__seg_write(a->w, rec->line, gid, rec->fields, rec->nfields, L->eb);
    if (!rc) n->aggregated++;
    return rc;
}

/* ---- a file's valid rows in batches ------------------------------------------------------------
 * A file's valid rows are copied into batches of PIPE_ROWS (the reader reuses its buffer) before
 * they are applied. A whole batch's duplicate-key probes then run in one loop that fetches each
 * slot a few rows ahead (judge): the map of a large file is gigabytes, and one probe at a time was
 * a cache and TLB miss each, most of the reading thread's time.
 *
 * The largest file of the parallel phase (the transactions: 60 % of a bank's bytes) would end the
 * load on one core while the other has nothing left; the files that create golden records are read
 * one by one while a core is idle. Such a file is
 * read and checked on its worker's thread (reader, data standard, duplicate keys, quarantine:
 * everything in file order, as one thread does it) and its batches are applied on a second thread
 * (allocate, collect, segment row), handed over in order through a ring. Any other file applies
 * its batches itself. Either way the same rows reach the same functions in the same order, so the
 * result is the one row by row makes. */

#define PIPE_BATCHES  4
#define PIPE_ROWS     2048
#define PIPE_MIN      (64u << 20) /* bytes: below this a file is not worth a second thread */
#define PIPE_BYTES    (64u << 20) /* a batch is handed over at this many bytes, if not rows */
#define PIPE_STOPPED  1           /* pipe_add: the applier stopped on an error (pipe_end has it) */
#define JUDGE_AHEAD   64          /* rows between a slot's fetch and its probe */
#define EXPECT_SAMPLE 65536       /* rows of an ordered file applied before its tables are sized */

typedef struct prow {
    uint64_t line, offset;
    uint64_t kh, rh;       /* unique key's and whole row's hashes, when keyed */
    uint32_t raw, raw_len; /* into the batch's bytes */
    uint32_t f0, nf;       /* into the batch's fields */
    uint8_t keyed, drop;   /* to be judged; judged a repeat: not applied */
} prow;

typedef struct pfield {
    uint32_t off, len; /* into the batch's bytes */
    int is_null;
} pfield;

typedef struct pbatch {
    prow rows[PIPE_ROWS];
    size_t n;
    pfield *f;
    size_t nf, fcap;
    tb__buf bytes;
    int full; /* handed to the applier (under mu) */
} pbatch;

typedef struct rowpipe {
    applier a;        /* the applier's copy: its own load (error buffer) */
    applied_counts n; /* a.n points here */
    /* a file that only looks up: the batch's customer numbers, looked up together (resolve) */
    const char *key[PIPE_ROWS];
    size_t key_len[PIPE_ROWS];
    uint32_t key_gid[PIPE_ROWS];
    uint32_t row_key[PIPE_ROWS]; /* a row's index into them; UINT32_MAX: none */
    load la;                     /* a.L points here */
    tb__errbuf err;              /* the applier's error */
    int threaded;                /* batches applied by a thread of their own (tid) */
    pthread_t tid;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pbatch b[PIPE_BATCHES];
    size_t fill;     /* the batch the reader fills */
    int done, abort; /* the reader has no more rows / stop now (under mu) */
    int rc;          /* the applier's result */
    /* the resolver's tables when the file started, and whether they were sized for the file */
    tb__idres_mark mark;
    uint64_t applied;
    int expected;
    int asked; /* the prep thread makes the tables of `plan` ready (prep_ask) */
    int spans; /* and faults in what the rows will write */
    tb__idres_plan plan;
} rowpipe;

/* Names a thread the load started (top, perf and gdb show it); not the caller's own thread, which
 * runs a job itself when a thread cannot be started. */
static void thread_name(const char *name)
{
    if (gettid() != getpid()) pthread_setname_np(pthread_self(), name);
}

/* Fetches the resolver's slots that applying row `r` will probe (allocate): its customer number's
 * and, in an identity file, its certificate's too. */
static void prefetch_row(const rowpipe *p, const pbatch *bt, const prow *r, const char *system)
{
    const tb__std_type *t = p->a.j->t;
    const pfield *k = &bt->f[r->f0 + (uint32_t)t->key_field];
    if (k->is_null) return;
    const char *key = bt->bytes.data + k->off;
    if (r > bt->rows && (uint32_t)t->key_field < r[-1].nf) {
        /* the row before is the same customer's: its look-up fetched the same slots */
        const pfield *k0 = &bt->f[r[-1].f0 + (uint32_t)t->key_field];
        if (!k0->is_null && k0->len == k->len && memcmp(bt->bytes.data + k0->off, key, k->len) == 0)
            return;
    }
    if (!p->a.identity) {
        tb__idres_prefetch(p->la.idr, system, key, k->len);
        return;
    }
    const pfield *c = t->cert_field >= 0 && (uint32_t)t->cert_field < r->nf
                          ? &bt->f[r->f0 + (uint32_t)t->cert_field]
                          : NULL;
    const pfield *ct = t->cert_type_field >= 0 && (uint32_t)t->cert_type_field < r->nf
                           ? &bt->f[r->f0 + (uint32_t)t->cert_type_field]
                           : NULL;
    /* the kind as allocate() decides it */
    int company =
        ct ? !ct->is_null && ct->len == 3 && memcmp(bt->bytes.data + ct->off, "201", 3) == 0
           : t->cert_type && strcmp(t->cert_type, "201") == 0;
    int has_cert = c && !c->is_null && c->len < 64; /* allocate's cstr keeps 63 bytes */
    tb__idres_prefetch_obs(p->la.idr, system, key, k->len,
                           company ? TB__PARTY_COMPANY : TB__PARTY_PERSON,
                           has_cert ? bt->bytes.data + c->off : NULL, has_cert ? c->len : 0);
}

/* At EXPECT_SAMPLE rows of an ordered file: the resolver sized for the whole file, its look-up
 * tables by the prep thread if there is one (taken by apply_batch once ready), the memory its
 * arrays will fill faulted in ahead there too. */
static void expect_rest(rowpipe *p, const pbatch *bt)
{
    /* The rest of the file adds what its first part did, byte for byte. */
    p->expected = 1;
    const prow *last = &bt->rows[bt->n - 1];
    double factor = (double)p->a.j->bytes / (double)(last->offset + last->raw_len) * 1.05;
    tb__idres_plan pl;
    if (!tb__idres_plan_growth(p->la.idr, &p->mark, factor, memory_quarter(), &pl)) {
        prep_done_asking(p->la.prep, 0);
        return;
    }
    tb__span sp[3];
    int nsp = tb__idres_reserve(p->la.idr, &pl, sp);
    if (prep_ask(p->la.prep, &pl, sp, nsp, p->applied, (uint64_t)((double)p->applied * factor))) {
        p->asked = p->spans = 1;
        p->plan = pl;
        tb__log_debug("load",
                      "%s: sized for %.1f times its first %" PRIu64 " rows on the prep thread "
                      "(look-up tables of %zu MB)",
                      p->a.j->name, factor, p->applied, pl.tables >> 20);
    } else if (tb__idres_grow(p->la.idr, &pl, NULL, 0) == 0) {
        tb__log_debug("load", "%s: identity tables sized for %.1f times its first %" PRIu64 " rows",
                      p->a.j->name, factor, p->applied);
    }
}

/* Looks up the customer numbers of a batch of a file that only looks up, all at once
 * (tb__idres_lookup_many): p->row_key[i] is row i's index into p->key_gid, UINT32_MAX for a row
 * that has none or is not applied. A customer's rows come together in most extracts (7.5
 * transactions a customer at 10M): a number that repeats the row before's is looked up once. The
 * key is cut as allocate() cuts it. */
static void resolve(rowpipe *p, const pbatch *bt)
{
    const tb__std_type *t = p->a.j->t;
    uint32_t kf = (uint32_t)t->key_field, n = 0;
    for (size_t i = 0; i < bt->n; i++) {
        const prow *r = &bt->rows[i];
        const pfield *k = kf < r->nf ? &bt->f[r->f0 + kf] : NULL;
        p->row_key[i] = UINT32_MAX;
        if (r->drop || !k || k->is_null) continue;
        const char *key = bt->bytes.data + k->off;
        size_t len = k->len < KEY_CAP - 1 ? k->len : KEY_CAP - 1;
        if (!n || p->key_len[n - 1] != len || memcmp(p->key[n - 1], key, len) != 0) {
            p->key[n] = key;
            p->key_len[n++] = len;
        }
        p->row_key[i] = n - 1;
    }
    tb__idres_lookup_many(p->la.idr, t->key_system ? t->key_system : "core", p->key, p->key_len, n,
                          p->key_gid);
}

/* Applies a batch's rows but those judged repeats, in order; p->rc. */
static int apply_batch(rowpipe *p, pbatch *bt)
{
    tb__field fs[TB__STD_MAX_FIELDS];
    const tb__std_type *t = p->a.j->t;
    int ahead = t->key_field >= 0;
    const char *system = t->key_system ? t->key_system : "core";
    void *mem;
    size_t bytes;
    if (p->asked && prep_take_tables(p->la.prep, &mem, &bytes)) {
        p->asked = 0;
        double at = tb__seconds_since(&p->la.t0);
        if (tb__idres_grow(p->la.idr, &p->plan, mem, bytes) == 0)
            tb__log_debug("load",
                          "%s: identity tables taken at %.2f s after %" PRIu64 " rows (%.2f s)",
                          p->a.j->name, at, p->applied, tb__seconds_since(&p->la.t0) - at);
    }
    /* the resolver does not change under a file that only looks up */
    int many = ahead && !p->a.grows;
    if (many) resolve(p, bt);
    for (size_t i = 0; p->rc == 0 && i < bt->n; i++) {
        /* the golden record of the row 8 ahead, fetched while this one is applied */
        if (ahead && !many && i + 8 < bt->n && (uint32_t)t->key_field < bt->rows[i + 8].nf)
            prefetch_row(p, bt, &bt->rows[i + 8], system);
        const prow *r = &bt->rows[i];
        if (r->drop) continue;
        for (uint32_t f = 0; f < r->nf; f++) {
            const pfield *pf = &bt->f[r->f0 + f];
            fs[f] = (tb__field){bt->bytes.data + pf->off, pf->len, pf->is_null};
        }
        tb__record rec = {fs, r->nf, r->line, r->offset, bt->bytes.data + r->raw, r->raw_len, 0};
        const uint32_t *known =
            many && p->row_key[i] != UINT32_MAX ? &p->key_gid[p->row_key[i]] : NULL;
        p->rc = apply_row(&p->a, &rec, known);
    }
    p->applied += bt->n;
    if (p->asked || p->spans) /* how far the prep thread's faulting is ahead */
        __atomic_store_n(&p->la.prep->applied, p->applied, __ATOMIC_RELAXED);
    if (p->a.grows && !p->expected && p->rc == 0 && bt->n && p->applied >= EXPECT_SAMPLE)
        expect_rest(p, bt);
    bt->n = bt->nf = 0;
    bt->bytes.len = 0;
    return p->rc;
}

static double thread_cpu(void);

static void *pipe_run(void *arg)
{
    rowpipe *p = arg;
    thread_name("tb-load-apply");
    for (size_t at = 0;; at = (at + 1) % PIPE_BATCHES) {
        pbatch *bt = &p->b[at];
        pthread_mutex_lock(&p->mu);
        while (!bt->full && !p->done && !p->abort)
            pthread_cond_wait(&p->cv, &p->mu);
        int go = bt->full && !p->abort;
        pthread_mutex_unlock(&p->mu);
        if (!go) break;
        apply_batch(p, bt);
        pthread_mutex_lock(&p->mu);
        bt->full = 0;
        if (p->rc) p->abort = 1;
        pthread_cond_broadcast(&p->cv);
        pthread_mutex_unlock(&p->mu);
        if (p->rc) break;
    }
    tb__log_debug("load", "%s: applied at %.2f s (applying thread: %.2f s of CPU)", p->a.j->name,
                  tb__seconds_since(&p->la.t0), thread_cpu());
    return NULL;
}

static void pipe_free(rowpipe *p)
{
    for (int i = 0; i < PIPE_BATCHES; i++) {
        free(p->b[i].f);
        tb__buf_release(&p->b[i].bytes);
    }
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
    free(p);
}

/* The batches of `a`'s file, applied by a thread of their own when `threaded` and one can be
 * started, else by the caller as they fill. *out; TB_ENOMEM. */
static int pipe_start(const applier *a, int threaded, rowpipe **out, tb__errbuf *eb)
{
    *out = NULL;
    rowpipe *p = calloc(1, sizeof *p);
    if (!p) return tb__seterr(eb, TB_ENOMEM, "out of memory");
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    p->la = *a->L;
    p->la.eb = &p->err;
    p->a = *a;
    p->a.L = &p->la;
    p->a.n = &p->n;
    if (a->grows) tb__idres_mark_now(a->L->idr, &p->mark);
    /* no thread: the file's batches are applied on this one */
    p->threaded = threaded && pthread_create(&p->tid, NULL, pipe_run, p) == 0;
    *out = p;
    return 0;
}

/* Hands the batch being filled to the applier and waits for the next one to be free; or applies
 * it here. */
static int pipe_flush(rowpipe *p)
{
    if (!p->threaded) return apply_batch(p, &p->b[p->fill]) ? PIPE_STOPPED : 0;
    pthread_mutex_lock(&p->mu);
    p->b[p->fill].full = 1;
    pthread_cond_broadcast(&p->cv);
    p->fill = (p->fill + 1) % PIPE_BATCHES;
    while (p->b[p->fill].full && !p->abort)
        pthread_cond_wait(&p->cv, &p->mu);
    int stop = p->abort;
    pthread_mutex_unlock(&p->mu);
    return stop ? PIPE_STOPPED : 0;
}

/* Copies a valid row into the batch being filled, after its last row; `keyed` rows carry their
 * unique key's hash `kh` and the row's `rh` for judge. 1 when the batch is to be handed over
 * (judge, then pipe_flush), else 0; TB_ENOMEM, TB_ELIMIT. */
static int pipe_add(rowpipe *p, const tb__record *rec, int keyed, uint64_t kh, uint64_t rh,
                    tb__errbuf *eb)
{
    pbatch *bt = &p->b[p->fill];
    if (bt->nf + rec->nfields > bt->fcap) {
        size_t cap = bt->fcap ? bt->fcap * 2 : (size_t)PIPE_ROWS * 16;
        while (cap < bt->nf + rec->nfields)
            cap *= 2;
        pfield *f = realloc(bt->f, cap * sizeof *f);
        if (!f) return tb__seterr(eb, TB_ENOMEM, "out of memory");
        bt->f = f;
        bt->fcap = cap;
    }
    /* a batch is handed over past PIPE_BYTES, so only one row of gigabytes gets here */
    if (bt->bytes.len + 2 * (uint64_t)rec->raw_len + 1 > UINT32_MAX)
        return tb__seterr(eb, TB_ELIMIT, "a row of %zu bytes", rec->raw_len);
    prow *r = &bt->rows[bt->n];
    r->line = rec->line;
    r->offset = rec->offset;
    r->kh = kh;
    r->rh = rh;
    r->keyed = (uint8_t)keyed;
    r->drop = 0;
    r->raw = (uint32_t)bt->bytes.len;
    r->raw_len = (uint32_t)rec->raw_len;
    r->f0 = (uint32_t)bt->nf;
    r->nf = (uint32_t)rec->nfields;
    if (tb__buf_append(&bt->bytes, rec->raw, rec->raw_len))
        return tb__seterr(eb, TB_ENOMEM, "out of memory");
    for (size_t f = 0; f < rec->nfields; f++) {
        const tb__field *x = &rec->fields[f];
        pfield *y = &bt->f[bt->nf++];
        y->len = (uint32_t)x->len;
        y->is_null = x->is_null;
        /* Most fields lie inside the raw bytes; an unescaped or converted one is copied. */
        if (x->len == 0 || (x->ptr >= rec->raw && x->ptr + x->len <= rec->raw + rec->raw_len)) {
            y->off = r->raw + (uint32_t)(x->len ? x->ptr - rec->raw : 0);
        } else {
            y->off = (uint32_t)bt->bytes.len;
            if (tb__buf_append(&bt->bytes, x->ptr, x->len))
                return tb__seterr(eb, TB_ENOMEM, "out of memory");
        }
    }
    return ++bt->n == PIPE_ROWS || bt->bytes.len >= PIPE_BYTES;
}

/* The duplicate-key verdicts of the batch being filled, in row order: a first occurrence is
 * valid, a repeat is quarantined and dropped from the batch. A row's verdict depends only on the
 * rows before it, so it is the one a row-by-row probe gives; quarantined rows are sorted by line
 * before they are stored (run_parallel). */
static int judge(load *L, uint32_t index, job *j, keymap *km, rowpipe *p)
{
    pbatch *bt = &p->b[p->fill];
    int ahead = km->cap != 0; /* a map that has slots (its first rows may come before any) */
    for (size_t i = 0; ahead && i < bt->n && i < JUDGE_AHEAD; i++)
        if (bt->rows[i].keyed) keymap_prefetch(km, bt->rows[i].kh);
    for (size_t i = 0; i < bt->n; i++) {
        if (ahead && i + JUDGE_AHEAD < bt->n && bt->rows[i + JUDGE_AHEAD].keyed)
            keymap_prefetch(km, bt->rows[i + JUDGE_AHEAD].kh);
        prow *r = &bt->rows[i];
        if (!r->keyed) continue;
        int seen = keymap_put(km, r->kh, r->rh);
        if (seen < 0) return tb__seterr(L->eb, TB_ENOMEM, "out of memory");
        if (seen == 0) {
            j->valid++;
            continue;
        }
        r->drop = 1;
        tb__std_rule rule = seen == 1 ? TB__STD_DUPLICATE_ROW : TB__STD_KEY_CONFLICT;
        tb__std_verdict v = {rule, -1, 0, -1};
        tb__record rec = {.line = r->line};
        j->dups++;
        j->rejected++;
        count_rule(j, rule, -1);
        if (quarantine(L, index, j, &rec, &v, rule))
            return tb__seterr(L->eb, TB_ENOMEM, "out of memory");
    }
    return 0;
}

/* Waits until the applier has applied every batch handed to it (the one being filled is handed
 * first, judged): the resolver is then the one a single thread makes up to the last row read,
 * and the caller may freeze it. PIPE_STOPPED when the applier stopped on an error. */
static int pipe_drain(load *L, uint32_t index, job *j, keymap *km, rowpipe *p)
{
    if (!p->threaded) return 0; /* every full batch was applied as it filled */
    int rc = p->b[p->fill].n ? judge(L, index, j, km, p) : 0;
    if (!rc && p->b[p->fill].n) rc = pipe_flush(p);
    if (rc) return rc;
    pthread_mutex_lock(&p->mu);
    for (int i = 0; i < PIPE_BATCHES && !p->abort; i++)
        while (p->b[i].full && !p->abort)
            pthread_cond_wait(&p->cv, &p->mu);
    int stop = p->abort;
    pthread_mutex_unlock(&p->mu);
    return stop ? PIPE_STOPPED : 0;
}

/* Ends the file: applies the last rows (unless `failed`: the reader stopped on an error of its
 * own, and the applier is stopped too), joins the applier and frees the pipe. Returns the
 * applier's result, its detail copied to `eb`. */
static int pipe_end(rowpipe *p, int failed, tb__errbuf *eb)
{
    if (!p->threaded) {
        if (!failed && p->b[p->fill].n) apply_batch(p, &p->b[p->fill]);
    } else {
        pthread_mutex_lock(&p->mu);
        if (failed)
            p->abort = 1;
        else if (p->b[p->fill].n)
            p->b[p->fill].full = 1;
        p->done = 1;
        pthread_cond_broadcast(&p->cv);
        pthread_mutex_unlock(&p->mu);
        pthread_join(p->tid, NULL);
    }
    if (p->a.grows) prep_done_asking(p->la.prep, p->asked || p->spans);
    job *j = p->a.j;
    j->transmitted += p->n.transmitted;
    j->allocated += p->n.allocated;
    j->collected += p->n.collected;
    j->aggregated += p->n.aggregated;
    int rc = p->rc;
    if (rc && !failed) *eb = p->err; /* the reader's own error keeps its own detail */
    pipe_free(p);
    return rc;
}

/* The size from which a file is pipelined: PIPE_MIN, or TAGBASE_LOAD_PIPE_MIN bytes (tests
 * pipeline small files with it). On a single core, never. */
static uint64_t pipe_min(void)
{
    if (sysconf(_SC_NPROCESSORS_ONLN) < 2) return UINT64_MAX;
    const char *env = getenv("TAGBASE_LOAD_PIPE_MIN");
    return env && *env ? strtoull(env, NULL, 10) : PIPE_MIN;
}

/* How file `j` is read. */
static tb__reader_opts reader_opts(const load *L, const job *j)
{
    tb__reader_opts ro = {0};
    ro.format = strcmp(j->format, "csv") == 0   ? TB__READER_CSV
                : strcmp(j->format, "tsv") == 0 ? TB__READER_TSV
                                                : TB__READER_HIVE;
    if (j->header) ro.flags |= TB__READER_HEADER;
    ro.null_token = L->o->null_token;
    ro.encoding = strcasecmp(j->encoding, "UTF-8") == 0 ? NULL : j->encoding;
    return ro;
}

static int process(load *L, uint32_t index)
{
    job *j = &L->jobs[index];
    char msg[TB__ERRMSG_MAX];
    if (!j->t) {
        snprintf(msg, sizeof msg,
                 "'%s': business type '%s' is not in the data standards (version %d)", j->name,
                 j->business_type, L->std_version);
        return file_error(j, msg);
    }
    const tb__std_type *t = j->t;
    j->rule_count = calloc((size_t)TB__STD_RULE_COUNT * (t->nfields + 1), sizeof *j->rule_count);
    if (!j->rule_count) return tb__seterr(L->eb, TB_ENOMEM, "out of memory");

    tb__reader_opts ro = reader_opts(L, j);
    char err[TB__ERRMSG_MAX];
    tb__reader *r;
    int rc = tb__reader_open_file(j->path, &ro, &r, err, sizeof err);
    if (rc == TB_ENOENT || rc == TB_EIO || rc == TB_EINVAL) return file_error(j, err);
    if (rc) return tb__seterr(L->eb, rc, "%s", err);
    if (j->header && (rc = check_header(j, r)) != 0) {
        if (rc < 0) file_error(j, tb__reader_errmsg(r));
        tb__reader_close(r);
        return 0;
    }

    char rel[256];
    snprintf(rel, sizeof rel, "domains/%s/%" PRId64 "/%s.seg", L->batch, L->load_id, j->name);
    j->seg_path = strdup(rel);
    char *abs = path_in(L->db, rel);
    char *dir = abs ? strdup(abs) : NULL;
    if (!j->seg_path || !abs || !dir) {
        free(abs);
        free(dir);
        tb__reader_close(r);
        return tb__seterr(L->eb, TB_ENOMEM, "out of memory");
    }
    *strrchr(dir, '/') = '\0';
    rc = tb__mkdir_p(dir, 0750, L->eb);
    free(dir);
    tb__seg_writer *w = NULL;
    tb__seg_flag flag = {t->name, j->kind, t->source_system, L->batch, j->name, L->load_id};
    if (!rc) rc = tb__seg_writer_open(abs, &flag, tb__c2_active(L->db), &w, L->eb);
    free(abs);
    if (rc) {
        tb__reader_close(r);
        return rc;
    }

    binding b;
    bind_fields(t, &b);
    const char *names[TB__STD_MAX_FIELDS];
    for (size_t i = 0; i < t->nfields; i++)
        names[i] = t->fields[i].name;
    tb__profile_binding *pb = NULL;
    rc = tb__profile_bind(L->prof, t->name, names, t->nfields, &pb, L->eb);
    keymap km = {0};
    int sized = 0;
    /* Only the parallel phase reads that file, after prep_join: the map is complete by then. */
    if (L->prep && L->prep->job == index && L->prep->km.cap) {
        km = L->prep->km; /* sized from this file's first rows, as below, and faulted in */
        memset(&L->prep->km, 0, sizeof km);
        sized = 1;
        tb__log_debug("load", "%s: duplicate-key map of %zu slots prepared", j->name, km.cap);
    }
    int identity = t->key_field >= 0 && t->cert_field >= 0;
    /* Hive text without an extra NULL token is already the segment's row format. */
    int hive = ro.format == TB__READER_HIVE && !ro.null_token && !ro.encoding;
    applier ap = {L, j, NULL, &b, pb, w, identity, hive, !parallel_ok(j)};
    rowpipe *pp = NULL;
    if (!rc) rc = pipe_start(&ap, j->pipelined, &pp, L->eb);
    if (pp && pp->threaded)
        tb__log_debug("load", "%s: checked on this thread, applied on a second", j->name);
    tb__record rec;
    int got = 0;
    while (!rc && (got = tb__reader_next(r, &rec)) == 1) {
        if (L->early && tb__reader_offset(r) >= L->early_at) {
            /* the resolver is frozen with every row before this one applied */
            if ((rc = pipe_drain(L, index, j, &km, pp))) break;
            start_first_writer(L);
        }
        j->acquired++;
        L->rows++;
        if ((L->rows & (PROGRESS_EVERY - 1)) == 0) progress(L, j->name, tb__reader_offset(r));
        tb__std_verdict v;
        tb__std_rule rule = (tb__std_rule)tb__std_check(t, &rec, &v);
        if (rec.nfields == t->nfields) {
            j->cells += rec.nfields;
            for (size_t i = 0; i < rec.nfields; i++)
                j->nonnull += !rec.fields[i].is_null;
        }
        if (v.warnings) j->warnings++;
        if (rule != TB__STD_OK) {
            j->rejected++;
            count_rule(j, rule, v.field);
            if (quarantine(L, index, j, &rec, &v, rule))
                rc = tb__seterr(L->eb, TB_ENOMEM, "out of memory");
            continue;
        }
        /* A valid row has all its fields: its unique key is judged with its batch's. */
        uint64_t kh = 0x9e3779b97f4a7c15ULL, rh = 0;
        int keyed = t->nunique > 0;
        if (keyed) {
            if (!sized && j->acquired >= KEYMAP_SAMPLE) {
                sized = 1;
                if (keymap_presize(&km, r, j->bytes, j->acquired)) {
                    rc = tb__seterr(L->eb, TB_ENOMEM, "out of memory");
                    break;
                }
            }
            for (size_t u = 0; u < t->nunique; u++) {
                const tb__field *f = &rec.fields[t->unique[u]];
                kh = tb__hash64(f->ptr, f->is_null ? 0 : f->len, kh);
            }
            rh = tb__hash64(rec.raw, rec.raw_len, 7);
        } else {
            j->valid++;
        }
        rc = pipe_add(pp, &rec, keyed, kh, rh, L->eb);
        if (rc == 1) {
            rc = judge(L, index, j, &km, pp);
            if (!rc) rc = pipe_flush(pp);
        }
    }
    if (!rc && pp) rc = judge(L, index, j, &km, pp);
    if (pp) {
        int stopped = rc == PIPE_STOPPED;
        int prc = pipe_end(pp, rc != 0 && !stopped, L->eb);
        if (!rc || stopped) rc = prc;
    }
    keymap_release(&km);
    L->bytes_done += tb__reader_offset(r);
    if (!rc && got < 0) rc = got;
    if (rc == TB_EFORMAT || rc == TB_ELIMIT) {
        /* The bytes stop making sense (the reader), or the standard and the profile disagree
         * (bind): the file is rejected, nothing of it becomes current. */
        file_error(j, got < 0 ? tb__reader_errmsg(r) : L->eb->msg);
        tb__clearerr(L->eb);
        tb__seg_writer_abort(w);
        tb__reader_close(r);
        return 0;
    }
    tb__reader_close(r);
    if (rc < 0) {
        tb__seg_writer_abort(w);
        return rc;
    }
    j->seg_bytes = tb__seg_bytes(w);
    return tb__seg_writer_commit(w, L->eb);
}

/* ---- the files that only look identities up, on every core -------------------------------- */

/* 1 when a file only looks golden records up: no identities observed, no relations recorded. */
static int parallel_ok(const job *j)
{
    if (!j->t || j->err) return 0;
    binding b;
    bind_fields(j->t, &b);
    int identity = j->t->key_field >= 0 && j->t->cert_field >= 0;
    return !identity && b.household < 0 && b.legal_rep < 0 && b.group < 0;
}

/* CPU seconds the calling thread has used, for the debug log's phase times. */
static double thread_cpu(void)
{
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* The ordered file in which the first writer starts (run_ordered): the largest, if another
 * follows it; L->njobs when none. It starts once three quarters of its bytes are read
 * (early_at). */
static size_t early_file(const load *L)
{
    size_t biggest = L->njobs, last = L->njobs;
    for (size_t i = 0; i < L->njobs; i++) {
        if (parallel_ok(&L->jobs[i])) continue;
        if (biggest == L->njobs || L->jobs[i].bytes > L->jobs[biggest].bytes) biggest = i;
        last = i;
    }
    return biggest != last ? biggest : L->njobs;
}

static uint64_t early_at(const job *j)
{
    return j->bytes / 4 * 3;
}

/* The parallel phase's largest file if it is large enough to be pipelined (pipe_min: never on
 * one core), else L->njobs. */
static size_t pipelined_file(const load *L)
{
    size_t big = L->njobs;
    for (size_t i = 0; i < L->njobs; i++)
        if (parallel_ok(&L->jobs[i]) && (big == L->njobs || L->jobs[i].bytes > L->jobs[big].bytes))
            big = i;
    return big < L->njobs && L->jobs[big].bytes >= pipe_min() ? big : L->njobs;
}

/* Opens file j as process() does and reads its first KEYMAP_SAMPLE rows: the reader there (caller
 * closes it with tb__reader_close), or NULL when it cannot or the file is shorter (process()
 * reports what is wrong with it). */
static tb__reader *prep_sample(const load *L, const job *j)
{
    tb__reader_opts ro = reader_opts(L, j);
    char err[TB__ERRMSG_MAX];
    tb__reader *r;
    if (tb__reader_open_file(j->path, &ro, &r, err, sizeof err)) return NULL;
    tb__record rec;
    uint64_t rows = 0;
    int got = j->header ? tb__reader_header(r, &rec) : 1;
    while (got >= 0 && rows < KEYMAP_SAMPLE && (got = tb__reader_next(r, &rec)) == 1)
        rows++;
    if (rows == KEYMAP_SAMPLE && tb__reader_offset(r)) return r;
    tb__reader_close(r);
    return NULL;
}

/* The image's memory: the golden records and keys of the store, and for each row before the
 * freeze at most one more of each; the files before it add some too (the margin). A short guess
 * costs the freeze's own allocation. */
static void prep_image(prep *p)
{
    load *L = p->L;
    const job *j = &L->jobs[p->early];
    tb__reader *r = prep_sample(L, j);
    if (!r) return;
    double rows = (double)KEYMAP_SAMPLE * (double)early_at(j) / (double)tb__reader_offset(r);
    tb__reader_close(r);
    double n = rows * 1.1 + 65536,
           want = (double)p->stored + n * (double)tb__idres_image_bytes(1, 1);
    if (want > (double)memory_quarter()) return;
    void *m = tb__table_map((size_t)want);
    pthread_mutex_lock(&p->mu);
    int late = p->image_taken;
    if (!late) {
        p->image_mem = m;
        p->image_want = m ? (size_t)want : 0;
    }
    pthread_mutex_unlock(&p->mu);
    if (late) tb__table_free(m, (size_t)want);
}

/* Faults in a step of p->image_mem; once it is all in, it is the image's memory. The freeze may
 * take it before (prep_take_image, under mu): faulting in ahead changes no byte, so a step still
 * under way then does no harm; where the kernel cannot, the step writes, under mu. 1 when there
 * was a step. */
static int prep_image_step(prep *p)
{
    pthread_mutex_lock(&p->mu);
    if (!p->image_mem || p->image_taken) {
        pthread_mutex_unlock(&p->mu);
        return 0;
    }
    char *at = (char *)p->image_mem + p->image_at;
    size_t n = p->image_want - p->image_at;
    n = n < PREP_STEP ? n : PREP_STEP;
    p->image_at += n;
    if (p->image_at == p->image_want) {
        p->image = p->image_mem;
        p->image_bytes = p->image_want;
        p->image_mem = NULL;
    }
    if (p->image_write) tb__table_touch(at, n);
    pthread_mutex_unlock(&p->mu);
    if (!p->image_write && tb__table_populate(at, n)) {
        pthread_mutex_lock(&p->mu); /* an old kernel: written from here on, this step too */
        p->image_write = 1;
        if (!p->image_taken) tb__table_touch(at, n);
        pthread_mutex_unlock(&p->mu);
    }
    return 1;
}

/* Makes the asked-for look-up tables ready (the asker may have gone meanwhile: then freed). */
static void prep_tables(prep *p)
{
    pthread_mutex_lock(&p->mu);
    while (p->ask == PREP_ASKED && !p->tables && p->plan.tables && !p->stop) {
        size_t bytes = p->plan.tables;
        uint64_t id = p->ask_id;
        pthread_mutex_unlock(&p->mu);
        void *m = tb__table_alloc(bytes);
        pthread_mutex_lock(&p->mu);
        if (!m) {
            if (p->ask == PREP_ASKED && p->ask_id == id) p->plan.tables = 0; /* the asker's own */
            break;
        }
        if (p->ask == PREP_ASKED && p->ask_id == id) {
            p->tables = m;
            p->ask = PREP_READY;
        } else {
            pthread_mutex_unlock(&p->mu);
            tb__table_free(m, bytes);
            pthread_mutex_lock(&p->mu);
        }
    }
    pthread_mutex_unlock(&p->mu);
}

/* Faults in a step of what the asker's rows will write, of the span least far along (they fill
 * together). With `lead`, only where the step is within PREP_LEAD of the file's rows ahead of the
 * applier. 1 when there was a step, 0 when none is left (of the lead). A span that is no longer
 * mapped (its array moved) is dropped. */
static int prep_span_step(prep *p, int lead)
{
    pthread_mutex_lock(&p->mu);
    double done = 1.0, rows = (double)(p->rows1 - p->rows0);
    int i = -1;
    for (int k = 0; k < 3; k++) {
        double f = p->span_len[k] ? 1.0 - (double)p->spans[k].n / (double)p->span_len[k] : 1.0;
        if (p->spans[k].n && f < done) done = f, i = k;
    }
    double at = (double)(__atomic_load_n(&p->applied, __ATOMIC_RELAXED) - p->rows0);
    if (i < 0 || p->stop || (lead && rows > 0 && done > at / rows + PREP_LEAD)) {
        pthread_mutex_unlock(&p->mu);
        return 0;
    }
    tb__span *sp = &p->spans[i];
    size_t n = sp->n < PREP_STEP ? sp->n : PREP_STEP;
    char *from = sp->p;
    uint64_t id = p->ask_id;
    sp->p = from + n;
    sp->n -= n;
    pthread_mutex_unlock(&p->mu);
    if (tb__table_populate(from, n)) {
        pthread_mutex_lock(&p->mu);
        if (p->ask_id == id) p->spans[i].n = 0;
        pthread_mutex_unlock(&p->mu);
    }
    return 1;
}

/* Maps the duplicate-key map of file p->job, sized as process() sizes it after as many rows, to
 * be faulted in by prep_map_step. */
static void prep_map(prep *p)
{
    const job *j = &p->L->jobs[p->job];
    tb__reader *r = prep_sample(p->L, j);
    if (!r) return;
    size_t guess = keymap_guess(r, j->bytes, KEYMAP_SAMPLE), cap = keymap_cap_for(guess);
    tb__reader_close(r);
    if (guess && (p->km_mem = tb__table_map(cap * sizeof(keyslot))) != NULL) p->km_cap = cap;
}

/* Faults in a step of the map; once it is all in, it is p->km. 1 when there was a step. */
static int prep_map_step(prep *p)
{
    if (!p->km_mem) return 0;
    size_t bytes = p->km_cap * sizeof(keyslot), n = bytes - p->km_at;
    n = n < PREP_STEP ? n : PREP_STEP;
    if (tb__table_populate((char *)p->km_mem + p->km_at, n))
        tb__table_touch((char *)p->km_mem + p->km_at, n); /* an old kernel: this thread's alone */
    p->km_at += n;
    if (p->km_at == bytes) {
        p->km = (keymap){p->km_mem, p->km_cap, 0};
        p->km_mem = NULL;
    }
    return 1;
}

static void *prep_run(void *arg)
{
    prep *p = arg;
    thread_name("tb-load-prep");
    /* Only an otherwise idle core: the ordered files' threads come first (the same amount as
     * background work, but for the whole thread). */
    (void)setpriority(PRIO_PROCESS, (id_t)gettid(), p->L->nice + LOAD_BG_NICE);
    /* The first file's applier asks for its tables a fraction of a second in (EXPECT_SAMPLE
     * rows): they come before anything else. */
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += PREP_WAIT;
    pthread_mutex_lock(&p->mu);
    while (!p->asked_once && !p->stop)
        if (pthread_cond_timedwait(&p->cv, &p->mu, &until)) break;
    int stop = p->stop;
    pthread_mutex_unlock(&p->mu);
    if (p->early < p->L->njobs && !stop) prep_image(p);
    if (p->job < p->L->njobs && stop != PREP_FAILED) prep_map(p);
    /* Asks first, then the spans near the applier, the image (by the freeze), the map, and the
     * rest of the spans; then the next ordered files' asks until they are done. The map is
     * finished unless they failed. */
    for (int logged = 0;;) {
        prep_tables(p);
        pthread_mutex_lock(&p->mu);
        stop = p->stop;
        pthread_mutex_unlock(&p->mu);
        if (stop == PREP_FAILED) break;
        if (prep_span_step(p, 1) || prep_image_step(p) || prep_map_step(p) || prep_span_step(p, 0))
            continue;
        if (!logged++)
            tb__log_debug("load", "memory made ready at %.2f s (%.2f s of CPU)",
                          tb__seconds_since(&p->L->t0), thread_cpu());
        /* the map is in: after prep_join nothing else is wanted */
        pthread_mutex_lock(&p->mu);
        int asked = p->ask == PREP_ASKED && !p->tables && p->plan.tables;
        if (!p->stop && !asked && !p->spans[0].n && !p->spans[1].n && !p->spans[2].n)
            pthread_cond_wait(&p->cv, &p->mu);
        stop = p->stop;
        pthread_mutex_unlock(&p->mu);
        if (stop) break;
    }
    /* not all in: not wanted */
    tb__table_free(p->km_mem, p->km_cap * sizeof(keyslot));
    p->km_mem = NULL;
    pthread_mutex_lock(&p->mu);
    tb__table_free(p->image_mem, p->image_want);
    p->image_mem = NULL;
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

/* An ordered file's applier, `pl` planned from its first rows: 1 when the thread takes the ask
 * (the tables, if any grow, come by prep_take_tables; the spans are faulted in ahead), 0 when
 * there is no such thread (any more): the caller grows the tables itself. One ask at a time: a
 * new one replaces what is left of the last. */
static int prep_ask(prep *p, const tb__idres_plan *pl, const tb__span *sp, int nsp, uint64_t rows0,
                    uint64_t rows1)
{
    if (!p) return 0;
    pthread_mutex_lock(&p->mu);
    int ok = !p->stop && p->ask != PREP_READY;
    if (ok) {
        p->ask = PREP_ASKED;
        p->ask_id++;
        p->plan = *pl;
        memset(p->spans, 0, sizeof p->spans);
        memset(p->span_len, 0, sizeof p->span_len);
        for (int i = 0; i < nsp && i < 3; i++) {
            p->spans[i] = sp[i];
            p->span_len[i] = sp[i].n;
        }
        p->rows0 = rows0;
        p->rows1 = rows1 > rows0 ? rows1 : rows0;
        __atomic_store_n(&p->applied, rows0, __ATOMIC_RELAXED);
        pthread_cond_broadcast(&p->cv);
    }
    p->asked_once = 1;
    pthread_mutex_unlock(&p->mu);
    return ok;
}

/* The tables of the caller's ask once ready (1, *mem and *bytes to tb__idres_grow), else 0. */
static int prep_take_tables(prep *p, void **mem, size_t *bytes)
{
    pthread_mutex_lock(&p->mu);
    int ready = p->ask == PREP_READY || (p->ask == PREP_ASKED && !p->plan.tables);
    if (ready) {
        *mem = p->tables;
        *bytes = p->tables ? p->plan.tables : 0;
        p->tables = NULL;
        p->ask = 0;
    }
    pthread_mutex_unlock(&p->mu);
    return ready;
}

/* The asker's file ended (or never asked, if `asked` is 0): its tables, ready or not, and what is
 * left of its spans are not wanted. */
static void prep_done_asking(prep *p, int asked)
{
    if (!p) return;
    void *m = NULL;
    size_t bytes = 0;
    pthread_mutex_lock(&p->mu);
    p->asked_once = 1;
    if (asked) {
        m = p->tables;
        bytes = p->plan.tables;
        p->tables = NULL;
        p->ask = 0;
        p->ask_id++;
        memset(p->spans, 0, sizeof p->spans);
    }
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    tb__table_free(m, bytes);
}

/* Starts preparing what is worth it: the map of the file the parallel phase will pipeline, if it
 * has unique keys; the image's memory, if the file the first writer starts in is as large as
 * a pipelined one. */
static void prep_start(load *L, prep *p)
{
    memset(p, 0, sizeof *p);
    p->L = L;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    p->job = pipelined_file(L);
    if (p->job < L->njobs && (!L->jobs[p->job].t || !L->jobs[p->job].t->nunique)) p->job = L->njobs;
    p->early = early_file(L);
    p->stored = tb__idres_image_now(L->idr); /* before any thread uses the resolver */
    if (p->early < L->njobs && L->jobs[p->early].bytes < pipe_min()) p->early = L->njobs;
    if (p->job == L->njobs && p->early == L->njobs) return;
    p->started = pthread_create(&p->tid, NULL, prep_run, p) == 0;
    if (p->started) L->prep = p;
}

/* The image's memory for the freeze, as far as it is faulted in (*partial: not all of it; *mem NULL
 * when there is none): what is still to come is not wanted any more. */
static void prep_take_image(prep *p, void **mem, size_t *bytes, int *partial)
{
    *mem = NULL;
    *bytes = 0;
    *partial = 0;
    if (!p) return;
    pthread_mutex_lock(&p->mu);
    *mem = p->image;
    *bytes = p->image_bytes;
    if (!*mem && p->image_mem) { /* faulted in so far: the copy faults in the rest */
        *mem = p->image_mem;
        *bytes = p->image_want;
        *partial = 1;
        p->image_mem = NULL;
    }
    p->image = NULL;
    p->image_taken = 1;
    pthread_mutex_unlock(&p->mu);
}

/* Ends the preparation and waits for it: the duplicate-key map is made unless the ordered files
 * `failed` (what else was still to come is not wanted any more); after it, process() may take the
 * map. The image's memory, if the freeze never came, and tables never taken are released. */
static void prep_join(prep *p, int failed)
{
    pthread_mutex_lock(&p->mu);
    if (!p->stop) p->stop = failed ? PREP_FAILED : PREP_DONE;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    if (p->started) pthread_join(p->tid, NULL);
    p->started = 0;
    tb__table_free(p->image, p->image_bytes);
    p->image = NULL;
    tb__table_free(p->tables, p->plan.tables);
    p->tables = NULL;
}

static void prep_release(load *L, prep *p)
{
    prep_join(p, 1);
    keymap_release(&p->km);
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
    L->prep = NULL;
}

typedef struct worker {
    load *L;
    load w; /* the worker's own counters, quarantine and error buffer */
    tb__errbuf err;
    pthread_t tid;
    int slot; /* in L->busy */
    int own;  /* a thread of its own (the caller's thread's priority is never changed) */
    int rc;
} worker;

static pthread_mutex_t next_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t done_cv = PTHREAD_COND_INITIALIZER; /* with next_mu: a job is done */

/* The largest file no worker has taken whose business type the other worker is not reading (two
 * files of one type fill the same profile columns, which one thread at a time may write), or
 * L->njobs. Largest first: a long file taken last (the transactions, most of the bytes) would end
 * the phase on one core. Under next_mu. */
static size_t next_file(load *L, int slot)
{
    size_t best = L->njobs;
    for (size_t c = 0; c < L->njobs; c++) {
        const job *j = &L->jobs[c];
        if (j->taken || !parallel_ok(j) || L->busy[!slot] == j->t) continue;
        if (best == L->njobs || j->bytes > L->jobs[best].bytes) best = c;
    }
    return best;
}

/* Lowers the calling thread's priority while it does work that is not on the load's longest path
 * (`on`): the master-data writers, and the parallel phase's files but the pipelined one. On two
 * cores, with every thread at one priority, the transactions' two threads got half a core each
 * for most of the parallel phase and then ran alone, a core and a third busy, while the writers
 * had seconds to spare; the work is the same either way. Raising it back (`on` 0) is best effort:
 * a thread without the right to stays low (a worker takes the pipelined file, the largest, first).
 */
static void background(const load *L, int on)
{
    (void)setpriority(PRIO_PROCESS, (id_t)gettid(), L->nice + (on ? LOAD_BG_NICE : 0));
}

static void *work(void *arg)
{
    worker *k = arg;
    load *L = k->L;
    thread_name(k->slot ? "tb-load-work1" : "tb-load-work0");
    for (;;) {
        pthread_mutex_lock(&next_mu);
        size_t i = next_file(L, k->slot);
        if (i < L->njobs) {
            L->jobs[i].taken = 1;
            L->busy[k->slot] = L->jobs[i].t;
        }
        int stop = L->stop;
        pthread_mutex_unlock(&next_mu);
        if (i >= L->njobs || stop) break;
        if (k->own) background(L, !L->jobs[i].pipelined); /* the pipelined file is the longest */
        k->rc = process(&k->w, (uint32_t)i);
        tb__log_debug("load", "%s done at %.2f s (worker %d: %.2f s of CPU)", L->jobs[i].name,
                      tb__seconds_since(&L->t0), k->slot, thread_cpu());
        pthread_mutex_lock(&next_mu);
        L->busy[k->slot] = NULL;
        L->jobs[i].done = 1;
        pthread_cond_broadcast(&done_cv); /* its columns may be final (goldwriter_run) */
        if (k->rc) L->stop = 1;
        pthread_mutex_unlock(&next_mu);
        if (k->rc) break;
    }
    return NULL;
}

/* A thread that writes golden records into the load's meta-store transaction: the first part
 * (`first`: an image of the resolver taken while the ordered files go on), or what is left after
 * it (`image` set), or everything (neither). One that has a `prev` joins it before it starts. */
typedef struct idwriter {
    load *L;
    tb__idres *image; /* tb__idres_freeze, owned by the first part's writer */
    struct idwriter *prev;
    int first, started;
    int own; /* a thread of its own (the caller's thread's priority is never changed) */
    pthread_t tid;
    int rc;
} idwriter;

static int write_identities(load *L, const idwriter *w);
static int collect_earlier(load *L);
struct goldwriter;
static int snapshot_start(load *L, struct goldwriter **out);
static int write_snapshot(load *L, struct goldwriter *g);
static void goldwriter_end(struct goldwriter *g);

/* Waits for a started writer; its result stays in w->rc. */
static void idwriter_join(idwriter *w)
{
    if (!w || !w->started) return;
    pthread_join(w->tid, NULL);
    w->started = 0;
}

static void *idwriter_run(void *arg)
{
    idwriter *w = arg;
    thread_name(w->first ? "tb-load-idw1" : "tb-load-idw2");
    if (w->own) background(w->L, 1);
    idwriter_join(w->prev);
    w->rc = w->prev ? w->prev->rc : 0;
    if (!w->rc) w->rc = write_identities(w->L, w);
    tb__log_debug("load", "identities%s written at %.2f s (%.2f s of CPU)",
                  w->first ? " (first part)" : "", tb__seconds_since(&w->L->t0), thread_cpu());
    return NULL;
}

/* Everything after the ordered files, on every core: the parallel files on up to two workers
 * (the machine's cores), whose results are then merged (quarantined rows in file order, counters,
 * the first error: the same as one by one), the earlier segments and the snapshot. Meanwhile a
 * thread of its own writes the golden records into the load's meta-store transaction (after the
 * first part, if run_ordered started one): the resolver is final once the ordered files are done,
 * everything else only reads it, and nothing else uses the store until that thread is joined,
 * here. Returns this thread's result; the writer's is in *wrc (its detail on the handle, while
 * this thread reports on L->eb). On error the transaction may be open (the caller rolls back). */
static int run_parallel(load *L, idwriter *first, int *wrc)
{
    idwriter idw = {.L = L, .image = first->image, .prev = first};
    tb__profile_reserve(L->prof, tb__idres_count(L->idr));
    struct goldwriter *gold = NULL;
    int rc = 0;
    idw.own = 1;
    idw.started = pthread_create(&idw.tid, NULL, idwriter_run, &idw) == 0;
    if (!idw.started) {
        idw.own = 0;
        idwriter_run(&idw); /* no thread: write them first */
        if ((*wrc = idw.rc) != 0) return 0;
    }
    if ((rc = snapshot_start(L, &gold)) != 0) {
        goldwriter_end(gold);
        idwriter_join(&idw);
        *wrc = idw.rc;
        return rc;
    }
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    int n = cores >= 2 ? 2 : 1;
    /* The largest file gets a second thread (pipe_start), if it is large. */
    size_t big = pipelined_file(L);
    if (n == 2 && big < L->njobs) L->jobs[big].pipelined = 1;
    worker k[2];
    memset(k, 0, sizeof k);
    L->busy[0] = L->busy[1] = NULL;
    L->stop = 0;
    /* Every copy of *L is taken before any worker starts writing to it. */
    for (int t = 0; t < n; t++) {
        k[t].L = L;
        k[t].slot = t;
        k[t].w = *L;
        k[t].w.eb = &k[t].err;
        k[t].w.q = NULL;
        k[t].w.nq = k[t].w.qcap = 0;
        k[t].w.rows = k[t].w.bytes_done = 0;
        k[t].w.quiet = t > 0; /* one progress line is enough */
    }
    int started = 0;
    for (int t = 0; t < n; t++) {
        k[t].own = n > 1;
        if (n == 1 || pthread_create(&k[t].tid, NULL, work, &k[t]) != 0) {
            k[t].own = 0;
            work(&k[t]); /* no thread: this one does the work itself */
            continue;
        }
        started |= 1 << t;
    }
    for (int t = 0; t < n; t++)
        if (started & (1 << t)) pthread_join(k[t].tid, NULL);
    for (int t = 0; t < n; t++) {
        L->rows += k[t].w.rows;
        L->bytes_done += k[t].w.bytes_done;
        for (size_t i = 0; !rc && i < k[t].w.nq; i++) {
            if (L->nq == L->qcap) {
                size_t cap = L->qcap ? L->qcap * 2 : 1024;
                qrow *q = realloc(L->q, cap * sizeof *q);
                if (!q) {
                    rc = tb__seterr(L->eb, TB_ENOMEM, "out of memory");
                    break;
                }
                L->q = q;
                L->qcap = cap;
            }
            L->q[L->nq++] = k[t].w.q[i];
        }
        free(k[t].w.q);
        if (!rc && k[t].rc) rc = tb__seterr(L->eb, k[t].rc, "%s", k[t].err.msg);
    }
    /* Quarantine in file order, then line order, whichever worker read the file. */
    if (!rc && L->nq > 1) qsort(L->q, L->nq, sizeof *L->q, qrow_order);
    if (!rc) rc = collect_earlier(L);
    tb__log_debug("load", "earlier segments done at %.2f s", tb__seconds_since(&L->t0));
    if (!rc) rc = write_snapshot(L, gold);
    goldwriter_end(gold);
    tb__log_debug("load", "snapshot written at %.2f s (main: %.2f s of CPU)",
                  tb__seconds_since(&L->t0), thread_cpu());
    idwriter_join(&idw);
    *wrc = idw.rc;
    return rc;
}

/* Rows of the batch's current segments from earlier loads (files this load does not replace)
 * are collected again, so the snapshot always covers the whole batch. list_earlier finds the
 * batch's current segments in the meta store before any file is read (from then on, the store is
 * busy with the golden records); collect_earlier reads those that no file of this load replaced
 * (a rejected file replaces nothing: commit keeps its earlier segment current). */
static int list_earlier(load *L)
{
    sqlite3_stmt *st;
    int rc = tb__meta_stmt(L->db, TB__STMT_LOAD_SEGMENTS_OF_BATCH,
                           "SELECT file, business_type, path FROM segment WHERE batch_date = ?1 "
                           "ORDER BY file",
                           &st);
    if (rc) return rc;
    sqlite3_bind_text(st, 1, L->batch, -1, SQLITE_STATIC);
    int src;
    while ((src = sqlite3_step(st)) == SQLITE_ROW) {
        struct earlier *n = realloc(L->earlier, (L->nearlier + 1) * sizeof *n);
        if (!n) {
            rc = tb__seterr(L->eb, TB_ENOMEM, "out of memory");
            break;
        }
        L->earlier = n;
        n = &L->earlier[L->nearlier++];
        n->file = strdup((const char *)sqlite3_column_text(st, 0));
        n->type = strdup((const char *)sqlite3_column_text(st, 1));
        n->path = strdup((const char *)sqlite3_column_text(st, 2));
        if (!n->file || !n->type || !n->path) {
            rc = tb__seterr(L->eb, TB_ENOMEM, "out of memory");
            break;
        }
    }
    tb__meta_stmt_done(st);
    if (!rc && src != SQLITE_DONE)
        rc = tb__meta_seterr_sqlite(L->db, src, "cannot list the batch's segments");
    return rc;
}

static int collect_earlier(load *L)
{
    int rc = 0;
    for (size_t i = 0; i < L->nearlier && !rc; i++) {
        int replaced = 0; /* by a file of this load that loaded */
        for (size_t k = 0; k < L->njobs && !replaced; k++)
            replaced = strcmp(L->jobs[k].name, L->earlier[i].file) == 0 && !L->jobs[k].err;
        if (replaced) continue;
        const tb__std_type *t = tb__std_find(L->std, L->earlier[i].type);
        if (!t) continue;
        const char *names[TB__STD_MAX_FIELDS];
        for (size_t f = 0; f < t->nfields; f++)
            names[f] = t->fields[f].name;
        tb__profile_binding *pb = NULL;
        rc = tb__profile_bind(L->prof, t->name, names, t->nfields, &pb, L->eb);
        if (rc || !pb) continue;
        char *abs = path_in(L->db, L->earlier[i].path);
        tb__seg_reader *sr = NULL;
        tb__seg_flag flag;
        rc = abs ? tb__seg_reader_open(abs, tb__c2_ring(L->db), &sr, &flag, L->eb) : TB_ENOMEM;
        free(abs);
        uint64_t line;
        uint32_t gid;
        const tb__field *fields;
        size_t nf;
        while (!rc && (rc = tb__seg_read(sr, &line, &gid, &fields, &nf, L->eb)) == 1) {
            rc = 0;
            if (gid == TB__SEG_NO_GID || gid >= tb__idres_count(L->idr)) continue;
            if (tb__profile_add(L->prof, pb, gid, fields, nf) < 0) rc = TB_ENOMEM;
            L->earlier_rows++;
        }
        if (rc == 0 || rc == 1) rc = 0;
        tb__seg_reader_close(sr);
    }
    return rc;
}

/* ---- the snapshot ---------------------------------------------------------------------------- */

typedef struct snapctx {
    load *L;
    tb__snap_writer *w;
} snapctx;

static const char *kind_name(tb__pkind k)
{
    static const char *const n[] = {"money", "rate", "int", "date", "time", "code"};
    return n[k];
}

static int put_attr(void *arg, const tb__pattr_info *a, const void *values, const char *const *dict,
                    const uint32_t *dict_len, uint32_t ndict)
{
    snapctx *c = arg;
    char meta[640], sd[64];
    tb__profile_subdomains_json(tb__profile_subdomains(a->business_type, a->field), sd, sizeof sd);
    snprintf(meta, sizeof meta,
             "{\"kind\":\"%s\",\"business_type\":\"%s\",\"field\":\"%s\",\"where\":\"%s\","
             "\"pi_class\":\"C2\",\"subdomains\":%s,\"description\":\"%s\"}",
             kind_name(a->kind), a->business_type, a->field, a->where, sd, a->description);
    switch (a->kind) {
    case TB__PK_DATE:
        return tb__snap_put_i32(c->w, a->name, values, meta);
    case TB__PK_CODE: {
        static const char *const none[1] = {""};
        static const uint32_t none_len[1] = {0};
        return tb__snap_put_dict(c->w, a->name, values, ndict > 1 ? dict : none,
                                 ndict > 1 ? dict_len : none_len, ndict, meta);
    }
    default:
        return tb__snap_put_i64(c->w, a->name, values, meta);
    }
}

/* The golden record's own attributes as columns: type, kind and the surviving values that are
 * codes or dates. Names, certificates and mobiles stay in the master data (meta store). */
static int put_golden(load *L, tb__snap_writer *w, uint32_t n)
{
    static const struct {
        const char *col;
        int attr; /* -1: the party kind */
        int date;
    } cols[] = {
        {"party_kind", -1, 0},
        {"cust_type", TB__F_CUST_TYPE, 0},
        {"gender", TB__F_GENDER, 0},
        {"birth_date", TB__F_BIRTH_DATE, 1},
        {"province", TB__F_PROVINCE, 0},
        {"city", TB__F_CITY, 0},
        {"occupation", TB__F_OCCUPATION, 0},
        {"industry", TB__F_INDUSTRY, 0},
        {"risk_level", TB__F_RISK_LEVEL, 0},
        {"org_id", TB__F_ORG, 0},
        {"mgr_id", TB__F_MANAGER, 0},
        {"subdomain", -2, 0},
    };
    int rc = 0;
    uint32_t *codes = calloc(n ? n : 1, sizeof *codes);
    int32_t *dates = calloc(n ? n : 1, sizeof *dates);
    char **dict = calloc(1024, sizeof *dict);
    uint32_t *dlen = calloc(1024, sizeof *dlen);
    /* The dictionary's codes by value hash (open addressing, 0 = empty): a linear search over a
     * column with hundreds of managers was 1M x hundreds of compares, most of the snapshot. */
    uint64_t *dh = calloc(DICT_SLOTS, sizeof *dh);
    uint32_t *dcode = calloc(DICT_SLOTS, sizeof *dcode);
    if (!codes || !dates || !dict || !dlen || !dh || !dcode) rc = TB_ENOMEM;
    for (size_t c = 0; !rc && c < sizeof cols / sizeof cols[0]; c++) {
        uint32_t nd = 1;
        memset(dh, 0, DICT_SLOTS * sizeof *dh);
        /* Codes by value pointer, checked before any hashing: the resolver keeps one copy of
         * most code values, so most rows find their code here. Equal pointers are equal values;
         * a miss only costs the hash look-up below. */
        struct {
            const char *v;
            uint32_t code;
        } seen[MEMO_SLOTS] = {{0}};
        for (uint32_t g = 0; g < n && !rc; g++) {
            tb__party_kind kind;
            const char *v;
            if (!tb__idres_value(L->idr, g, cols[c].attr < 0 ? TB__F_CUST_TYPE : cols[c].attr,
                                 &kind, &v)) {
                codes[g] = 0;
                dates[g] = INT32_MIN;
                continue;
            }
            static const char *const sd_names[] = {NULL, "retail", "corporate", NULL, "merchant"};
            if (cols[c].attr == -2)
                v = sd_names[tb__profile_subdomain_of(v, kind == TB__PARTY_COMPANY)];
            else if (cols[c].attr < 0)
                v = kind == TB__PARTY_COMPANY ? "company" : "person";
            if (cols[c].date) {
                int32_t d;
                dates[g] = v && tb__std_parse_date(v, strlen(v), &d) == 0 ? d : INT32_MIN;
                continue;
            }
            if (!v) {
                codes[g] = 0;
                continue;
            }
            size_t memo = ((uintptr_t)v >> 3) & (MEMO_SLOTS - 1);
            if (seen[memo].v == v) {
                codes[g] = seen[memo].code;
                continue;
            }
            /* A column with more than 1023 distinct values is cut to NULL for the rest
             * (documented); codes are given in first-seen order. */
            size_t vl = strlen(v);
            uint64_t h = tb__hash64(v, vl, 0);
            size_t s = h & (DICT_SLOTS - 1);
            uint32_t k = 0;
            for (; dh[s]; s = (s + 1) & (DICT_SLOTS - 1)) {
                uint32_t e = dcode[s];
                if (dh[s] == h && dlen[e] == vl && memcmp(dict[e], v, vl) == 0) {
                    k = e;
                    break;
                }
            }
            if (!k) {
                if (nd == 1024) {
                    codes[g] = 0;
                    continue;
                }
                if (!(dict[nd] = strdup(v))) rc = TB_ENOMEM;
                dlen[nd] = (uint32_t)vl;
                dh[s] = h;
                dcode[s] = k = nd++;
            }
            seen[memo].v = v;
            seen[memo].code = k;
            codes[g] = k;
        }
        char meta[384], sd[64];
        tb__profile_subdomains_json(tb__profile_subdomains("golden", cols[c].col), sd, sizeof sd);
        snprintf(meta, sizeof meta,
                 "{\"kind\":\"%s\",\"business_type\":\"golden\",\"field\":\"%s\",\"pi_class\":"
                 "\"C2\",\"subdomains\":%s,\"description\":\"%s\"}",
                 cols[c].date ? "date" : "code", cols[c].col, sd,
                 cols[c].attr == -2 ? "customer business-layer sub-domain (allocation by type)"
                                    : "golden record (survivorship)");
        if (!rc)
            rc = cols[c].date ? tb__snap_put_i32(w, cols[c].col, dates, meta)
                              : tb__snap_put_dict(w, cols[c].col, codes, (const char *const *)dict,
                                                  dlen, nd, meta);
        for (uint32_t k = 1; k < nd; k++) {
            free(dict[k]);
            dict[k] = NULL;
        }
    }
    free(codes);
    free(dates);
    free(dict);
    free(dlen);
    free(dh);
    free(dcode);
    return rc;
}

/* Opens the batch's snapshot: its directory and writer (sealed when C2 is active). Its rows are
 * the golden records, final once the ordered files are done. */
static int snapshot_open(load *L, tb__snap_writer **out)
{
    *out = NULL;
    uint32_t n = tb__idres_count(L->idr);
    L->customers = tb__idres_live(L->idr);
    char rel[64];
    snprintf(rel, sizeof rel, "snapshots/%s-%" PRId64, L->batch, L->load_id);
    L->snap_rel = strdup(rel);
    char *abs = path_in(L->db, rel);
    char *parent = path_in(L->db, "snapshots");
    int rc = L->snap_rel && abs && parent ? tb__mkdir_p(parent, 0750, L->eb)
                                          : tb__seterr(L->eb, TB_ENOMEM, "out of memory");
    if (!rc) rc = tb__snap_writer_open(abs, n, out, L->eb);
    if (!rc) tb__snap_writer_seal(*out, tb__c2_active(L->db));
    free(abs);
    free(parent);
    return rc;
}

/* The snapshot written while the parallel files are read, on a thread of its own: the golden
 * records' columns (final once the ordered files are done; everything after only reads them),
 * then each profile column as soon as every file of its business type is in. What is left after
 * the parallel files (the longest file's columns, the derived ones) is written on two threads.
 * Every profile column goes to a fork of the writer of its own, and the forks are joined in the
 * attributes' order: the manifest is the one a single thread writes. At 10M customers the
 * snapshot held up the commit for 2.5-3.6 s, nearly all of it the golden columns (1.9-2.4 s)
 * and writing 3.3 GB of columns to disk. */
typedef struct goldwriter {
    load *L;
    tb__snap_writer *w;    /* the snapshot's writer: the thread's alone until joined */
    tb__snap_writer **col; /* [tb__profile_nattrs()]: the fork attribute k's column went to */
    uint8_t *part;    /* [na]: which of write_snapshot's two threads writes column k (2: none) */
    size_t na, early; /* attributes; columns written while the parallel files were read */
    int stop;         /* under next_mu: write no more (write_snapshot, or a failure) */
    int started, own;
    int rc;
    double secs; /* the golden columns took */
    tb__errbuf err;
    pthread_t tid;
} goldwriter;

/* Whether profile attribute k's column is final while files are still being read: every file of
 * its business type is done, and every segment of that type from an earlier load of the batch was
 * replaced by one of them (the others are collected after the parallel files: collect_earlier).
 * A derived column waits for the end. Under next_mu. */
static int column_final(const load *L, size_t k)
{
    const char *type = tb__profile_attr(k)->business_type;
    if (strcmp(type, "derived") == 0) return 0;
    for (size_t i = 0; i < L->njobs; i++)
        if (!L->jobs[i].done && L->jobs[i].t && strcmp(L->jobs[i].t->name, type) == 0) return 0;
    for (size_t i = 0; i < L->nearlier; i++) {
        if (strcmp(L->earlier[i].type, type) != 0) continue;
        int replaced = 0; /* as collect_earlier decides it, once the file is done */
        for (size_t j = 0; j < L->njobs && !replaced; j++)
            replaced = L->jobs[j].done && strcmp(L->jobs[j].name, L->earlier[i].file) == 0 &&
                       !L->jobs[j].err;
        if (!replaced) return 0;
    }
    return 1;
}

/* Writes profile attribute k's column into a fork of the snapshot of its own (g->col[k]); its
 * column is final, and `early`: written before tb__profile_finish. The error's detail goes to
 * `eb`. */
static int write_column(goldwriter *g, size_t k, int early, tb__errbuf *eb)
{
    tb__snap_writer *f;
    int rc = tb__snap_writer_fork(g->w, &f, eb);
    if (rc) return rc;
    snapctx c = {g->L, f};
    if (early && (rc = tb__profile_finish_attr(g->L->prof, k, tb__idres_count(g->L->idr))) != 0)
        tb__seterr(eb, rc, "out of memory");
    if (!rc && (rc = tb__profile_emit_range(g->L->prof, k, k + 1, put_attr, &c)) != 0)
        tb__seterr(eb, rc, "snapshot: %s", tb__snap_writer_errmsg(f));
    if (rc) {
        tb__snap_writer_abort(f);
        return rc;
    }
    g->col[k] = f;
    return 0;
}

static void *goldwriter_run(void *arg)
{
    goldwriter *g = arg;
    thread_name("tb-load-gold");
    if (g->own) background(g->L, 1);
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    g->rc = put_golden(g->L, g->w, tb__idres_count(g->L->idr));
    if (g->rc) tb__seterr(&g->err, g->rc, "snapshot: %s", tb__snap_writer_errmsg(g->w));
    g->secs = tb__seconds_since(&t0);
    /* a column is written (g->col[k]) or the loop ends on its error */
    while (!g->rc) {
        size_t k = g->na;
        pthread_mutex_lock(&next_mu);
        for (;;) {
            for (k = 0; k < g->na && (g->col[k] || !column_final(g->L, k)); k++)
                ;
            if (k < g->na || g->stop) break;
            pthread_cond_wait(&done_cv, &next_mu);
        }
        int stop = g->stop;
        pthread_mutex_unlock(&next_mu);
        if (stop || k == g->na) break;
        if ((g->rc = write_column(g, k, 1, &g->err)) == 0) g->early++;
    }
    return NULL;
}

/* Tells the snapshot's thread to write no more and waits for it; its result stays in g->rc. */
static void goldwriter_join(goldwriter *g)
{
    if (!g->started) return;
    pthread_mutex_lock(&next_mu);
    g->stop = 1;
    pthread_cond_broadcast(&done_cv);
    pthread_mutex_unlock(&next_mu);
    pthread_join(g->tid, NULL);
    g->started = 0;
}

/* Opens the snapshot (snapshot_open) and starts its thread (background priority: on two cores the
 * parallel files keep theirs); without a thread, everything is written at the end. Every job not
 * left to the parallel phase is done. *out is freed by goldwriter_end, whatever happens. */
static int snapshot_start(load *L, goldwriter **out)
{
    goldwriter *g = *out = calloc(1, sizeof *g);
    if (!g) return tb__seterr(L->eb, TB_ENOMEM, "out of memory");
    g->L = L;
    g->na = tb__profile_nattrs();
    if (!(g->col = calloc(g->na, sizeof *g->col)) || !(g->part = calloc(g->na, 1)))
        return tb__seterr(L->eb, TB_ENOMEM, "out of memory");
    for (size_t i = 0; i < L->njobs; i++)
        L->jobs[i].done = !parallel_ok(&L->jobs[i]);
    int rc = snapshot_open(L, &g->w);
    if (rc) return rc;
    g->own = 1;
    g->started = pthread_create(&g->tid, NULL, goldwriter_run, g) == 0;
    return 0;
}

/* Stops and joins the snapshot's thread, aborts a snapshot not committed (the load failed before
 * write_snapshot was done) and frees `g` (NULL: nothing). */
static void goldwriter_end(goldwriter *g)
{
    if (!g) return;
    goldwriter_join(g);
    for (size_t k = 0; g->col && k < g->na; k++)
        if (g->col[k]) tb__snap_writer_abort(g->col[k]);
    if (g->w) tb__snap_writer_abort(g->w);
    free(g->col);
    free(g->part);
    free(g);
}

/* The second of write_snapshot's two threads: the columns of part 1. */
typedef struct snappart {
    goldwriter *g;
    int rc;
    tb__errbuf err;
    pthread_t tid;
} snappart;

/* Writes the columns write_snapshot gave to part `part` (0 or 1). */
static int write_rest(goldwriter *g, int part, tb__errbuf *eb)
{
    for (size_t k = 0; k < g->na; k++) {
        if (g->part[k] != part) continue;
        int rc = write_column(g, k, 0, eb);
        if (rc) return rc;
    }
    return 0;
}

static void *snap_run(void *arg)
{
    snappart *s = arg;
    thread_name("tb-load-snap");
    s->rc = write_rest(s->g, 1, &s->err);
    return NULL;
}

/* The snapshot of the batch, into the writer snapshot_start opened: what its thread did not
 * write, then the commit of the whole. */
static int write_snapshot(load *L, goldwriter *g)
{
    uint32_t n = tb__idres_count(L->idr);
    tb__snap_writer *w = g->w;
    int threaded = g->started;
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    goldwriter_join(g);
    double t_wait = tb__seconds_since(&t0);
    int rc = threaded ? g->rc : 0;
    if (rc) *L->eb = g->err;
    if (!rc && (rc = tb__profile_finish(L->prof, n)) != 0) tb__seterr(L->eb, rc, "out of memory");
    if (!rc && !threaded && (rc = put_golden(L, w, n)) != 0)
        tb__seterr(L->eb, rc, "snapshot: %s", tb__snap_writer_errmsg(w));
    /* what is left, every other column to a second thread */
    size_t early = g->early, nth = 0;
    for (size_t k = 0; k < g->na; k++)
        g->part[k] = g->col[k] ? 2 : (uint8_t)(nth++ & 1);
    snappart sp = {.g = g};
    int forked = !rc && sysconf(_SC_NPROCESSORS_ONLN) >= 2 &&
                 pthread_create(&sp.tid, NULL, snap_run, &sp) == 0;
    if (!rc) rc = write_rest(g, 0, L->eb);
    if (forked) {
        pthread_join(sp.tid, NULL);
        if (!rc && sp.rc) {
            rc = sp.rc;
            *L->eb = sp.err;
        }
    }
    if (!rc && !forked) rc = write_rest(g, 1, L->eb);
    for (size_t k = 0; !rc && k < g->na; k++) {
        tb__snap_writer *f = g->col[k];
        g->col[k] = NULL;
        rc = tb__snap_writer_join(w, f, L->eb); /* frees f either way */
    }
    if (rc) return rc; /* goldwriter_end aborts what was written */
    double t_cols = tb__seconds_since(&t0);
    char meta[160];
    snprintf(meta, sizeof meta, "{\"batch_date\":\"%s\",\"load_id\":%" PRId64 ",\"customers\":%u}",
             L->batch, L->load_id, L->customers);
    g->w = NULL; /* committed, or removed by the failed commit */
    rc = tb__snap_writer_commit(w, meta, L->eb);
    tb__log_debug("load",
                  "snapshot: golden columns %.2f s and %zu of %zu profile columns %s, waited "
                  "%.2f s for them; the rest %.2f s (two threads), sync %.2f s",
                  threaded ? g->secs : 0.0, early, g->na,
                  threaded ? "while the files were read" : "here", t_wait, t_cols - t_wait,
                  tb__seconds_since(&t0) - t_cols);
    return rc;
}

/* ---- the commit ------------------------------------------------------------------------------ */

/* The previous current files of what this load replaces, removed once the commit is durable. */
typedef struct oldfiles {
    char **path;
    size_t n;
} oldfiles;

static int remember(oldfiles *o, const char *rel)
{
    char **p = realloc(o->path, (o->n + 1) * sizeof *p);
    if (!p) return TB_ENOMEM;
    o->path = p;
    if (!(o->path[o->n] = strdup(rel))) return TB_ENOMEM;
    o->n++;
    return 0;
}

static int bind_run(load *L, sqlite3_stmt *st, const char *what)
{
    return tb__meta_run(L->db, st, what);
}

/* The first part of the load's one meta-store transaction: the golden records, keys, history,
 * conflicts and relations, the bulk of what a first load writes, flushed to the write-ahead log
 * so that the COMMIT has little left to write. It runs while the workers read the parallel files
 * (run_parallel); commit() adds the rest and commits. Until then nothing is visible, and a crash
 * leaves the previous state. The caller rolls back on error. */
static int write_identities(load *L, const idwriter *w)
{
    if (w->first) {
        int rc = tb__meta_begin_bulk(L->db);
        return rc ? rc : tb__idres_write_first(w->image, L->db, L->batch, L->load_id);
    }
    int rc = w->image ? 0 : tb__meta_begin_bulk(L->db);
    if (!rc)
        rc = w->image ? tb__idres_write_since(L->idr, w->image, L->db, L->batch, L->load_id)
                      : tb__idres_write(L->idr, L->db, L->batch, L->load_id);
    if (!rc) rc = tb__meta_flush(L->db);
    /* gigabytes of log at a first load: on disk while the files are still being read */
    if (!rc) rc = tb__meta_sync_log(L->db);
    return rc;
}

/* The ordered files, one by one on this thread. After the largest of them (the customer master),
 * if more follow, an image of the resolver goes to a writer thread (`first`) that starts the
 * golden records' transaction while the rest are read; run_parallel's writer joins it and
 * writes what they added. Nothing else may use the store until then. */
static int run_ordered(load *L, idwriter *first)
{
    size_t early = early_file(L);
    int rc = 0;
    uint64_t pmin = pipe_min();
    for (size_t i = 0; !rc && i < L->njobs; i++) {
        if (parallel_ok(&L->jobs[i])) continue;
        if (i == early) {
            L->early = first;
            L->early_at = early_at(&L->jobs[i]);
        }
        /* Read and checked here, resolved on a second thread in file order. In the file in which
         * the first writer starts, the resolver is frozen once the second thread has applied
         * every row before that point (pipe_drain). */
        L->jobs[i].pipelined = L->jobs[i].bytes >= pmin;
        rc = process(L, (uint32_t)i);
        tb__log_debug("load", "%s done at %.2f s (main: %.2f s of CPU)", L->jobs[i].name,
                      tb__seconds_since(&L->t0), thread_cpu());
        tb__idres_mem m;
        tb__idres_memory(L->idr, &m);
        tb__log_debug("load",
                      "resolver: pool %zu MB, golden records %zu MB, keys %zu MB, tables %zu MB",
                      m.pool >> 20, m.party >> 20, m.keys >> 20, m.tables >> 20);
        if (!rc && L->early) start_first_writer(L); /* a file shorter than it said */
        L->early = NULL;
    }
    return rc;
}

/* Starts the writer of the first part (L->early) on an image of the resolver as it is now. Without
 * memory for the image (a quarter of the machine at most) or a thread, everything is written after
 * the files. */
static void start_first_writer(load *L)
{
    idwriter *first = L->early;
    L->early = NULL;
    void *mem;
    size_t bytes;
    int partial;
    prep_take_image(L->prep, &mem, &bytes, &partial); /* also when there is to be no image */
    if (tb__idres_footprint(L->idr) > memory_quarter()) {
        tb__table_free(mem, bytes);
        return;
    }
    double t = tb__seconds_since(&L->t0);
    if (!(first->image = tb__idres_freeze(L->idr, mem, bytes))) return;
    char ready[64] = "";
    if (mem)
        snprintf(ready, sizeof ready, "; %zu MB were made ready for it%s", bytes >> 20,
                 partial ? ", in part" : "");
    tb__log_debug("load", "first part of the identities frozen at %.2f s (%.2f s, %zu MB%s)", t,
                  tb__seconds_since(&L->t0) - t, tb__idres_footprint(L->idr) >> 20, ready);
    first->own = 1;
    first->started = pthread_create(&first->tid, NULL, idwriter_run, first) == 0;
    if (!first->started) {
        tb__idres_free(first->image);
        first->image = NULL;
    }
}

/* The rest of the transaction write_identities began, then the COMMIT. */
static int commit(load *L, oldfiles *old)
{
    tb_db *db = L->db;
    sqlite3_stmt *st;
    char now[TB__TIME_TEXT_LEN];
    tb__now_text(now);
    int rc = tb__meta_stmt(db, TB__STMT_LOAD_INSERT,
                           "INSERT INTO load (load_id, batch_date, standard_version, source, "
                           "started_at, finished_at, status, detail) "
                           "VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'done', ?7)",
                           &st);
    if (rc) goto out_rollback;
    char source[512] = "";
    for (size_t i = 0; i < L->o->ninputs; i++) {
        size_t n = strlen(source);
        snprintf(source + n, sizeof source - n, "%s%s", i ? " " : "", L->o->inputs[i]);
    }
    sqlite3_bind_int64(st, 1, L->load_id);
    sqlite3_bind_text(st, 2, L->batch, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 3, L->std_version);
    sqlite3_bind_text(st, 4, source, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 5, L->started, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 6, now, -1, SQLITE_STATIC);
    sqlite3_bind_null(st, 7);
    if ((rc = bind_run(L, st, "cannot record the load")) != 0) goto out_rollback;

    for (size_t i = 0; i < L->njobs; i++) {
        job *j = &L->jobs[i];
        if (j->err || !j->t) continue;
        /* aggregation: this file's flagged segment replaces the batch's earlier one */
        rc = tb__meta_stmt(db, TB__STMT_LOAD_SEGMENT_OLD,
                           "SELECT path FROM segment WHERE batch_date = ?1 AND file = ?2", &st);
        if (rc) goto out_rollback;
        sqlite3_bind_text(st, 1, L->batch, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, j->name, -1, SQLITE_STATIC);
        if (sqlite3_step(st) == SQLITE_ROW)
            rc = remember(old, (const char *)sqlite3_column_text(st, 0));
        tb__meta_stmt_done(st);
        if (rc) goto out_rollback;
        rc = tb__meta_stmt(db, TB__STMT_LOAD_SEGMENT_PUT,
                           "INSERT OR REPLACE INTO segment (batch_date, file, business_type, "
                           "data_kind, source_system, load_id, path, rows, bytes) "
                           "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                           &st);
        if (rc) goto out_rollback;
        sqlite3_bind_text(st, 1, L->batch, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, j->name, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, j->t->name, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 4, j->kind, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 5, j->t->source_system, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 6, L->load_id);
        sqlite3_bind_text(st, 7, j->seg_path, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 8, (sqlite3_int64)j->aggregated);
        sqlite3_bind_int64(st, 9, (sqlite3_int64)j->seg_bytes);
        if ((rc = bind_run(L, st, "cannot register a segment")) != 0) goto out_rollback;
    }
    for (size_t i = 0; i < L->njobs; i++) {
        job *j = &L->jobs[i];
        rc = tb__meta_stmt(db, TB__STMT_LOAD_FILE_INSERT,
                           "INSERT INTO load_file (load_id, batch_date, file, business_type, "
                           "data_kind, source_system, acquired, valid, rejected, warnings, "
                           "aggregated, transmitted, allocated, collected, completeness, validity, "
                           "uniqueness, error) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, "
                           "?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)",
                           &st);
        if (rc) goto out_rollback;
        double acq = j->acquired ? (double)j->acquired : 1.0;
        sqlite3_bind_int64(st, 1, L->load_id);
        sqlite3_bind_text(st, 2, L->batch, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, j->name, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 4, j->business_type, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 5, j->kind, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 6, j->t ? j->t->source_system : "", -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 7, (sqlite3_int64)j->acquired);
        sqlite3_bind_int64(st, 8, (sqlite3_int64)j->valid);
        sqlite3_bind_int64(st, 9, (sqlite3_int64)j->rejected);
        sqlite3_bind_int64(st, 10, (sqlite3_int64)j->warnings);
        sqlite3_bind_int64(st, 11, (sqlite3_int64)j->aggregated);
        sqlite3_bind_int64(st, 12, (sqlite3_int64)j->transmitted);
        sqlite3_bind_int64(st, 13, (sqlite3_int64)j->allocated);
        sqlite3_bind_int64(st, 14, (sqlite3_int64)j->collected);
        sqlite3_bind_double(st, 15, j->cells ? (double)j->nonnull / (double)j->cells : 0.0);
        sqlite3_bind_double(st, 16, j->acquired ? (double)j->valid / acq : 0.0);
        sqlite3_bind_double(st, 17, j->acquired ? 1.0 - (double)j->dups / acq : 0.0);
        if (j->err)
            sqlite3_bind_text(st, 18, j->err, -1, SQLITE_STATIC);
        else
            sqlite3_bind_null(st, 18);
        if ((rc = bind_run(L, st, "cannot record file statistics")) != 0) goto out_rollback;
        if (!j->rule_count) continue;
        size_t nf = j->t->nfields;
        for (size_t r = 1; r < TB__STD_RULE_COUNT; r++)
            for (size_t f = 0; f <= nf; f++) {
                uint64_t c = j->rule_count[r * (nf + 1) + f];
                if (!c) continue;
                rc = tb__meta_stmt(db, TB__STMT_LOAD_RULE_INSERT,
                                   "INSERT INTO load_rule (load_id, file, rule, field, count) "
                                   "VALUES (?1, ?2, ?3, ?4, ?5)",
                                   &st);
                if (rc) goto out_rollback;
                sqlite3_bind_int64(st, 1, L->load_id);
                sqlite3_bind_text(st, 2, j->name, -1, SQLITE_STATIC);
                sqlite3_bind_text(st, 3, tb__std_rule_name((tb__std_rule)r), -1, SQLITE_STATIC);
                sqlite3_bind_text(st, 4, f < nf ? j->t->fields[f].name : "-", -1, SQLITE_STATIC);
                sqlite3_bind_int64(st, 5, (sqlite3_int64)c);
                if ((rc = bind_run(L, st, "cannot record rule counts")) != 0) goto out_rollback;
            }
    }
    for (size_t i = 0; i < L->nq; i++) {
        const qrow *q = &L->q[i];
        const job *j = &L->jobs[q->file];
        rc = tb__meta_stmt(db, TB__STMT_LOAD_QUARANTINE_INSERT,
                           "INSERT INTO quarantine (load_id, batch_date, file, line, field, value, "
                           "rule) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                           &st);
        if (rc) goto out_rollback;
        sqlite3_bind_int64(st, 1, L->load_id);
        sqlite3_bind_text(st, 2, L->batch, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, j->name, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 4, (sqlite3_int64)q->line);
        int named = q->field >= 0 && j->t && (size_t)q->field < j->t->nfields;
        sqlite3_bind_text(st, 5, named ? j->t->fields[q->field].name : "-", -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 6, q->value, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 7, tb__std_rule_name((tb__std_rule)q->rule), -1, SQLITE_STATIC);
        if ((rc = bind_run(L, st, "cannot record a quarantined row")) != 0) goto out_rollback;
    }
    /* collection: the batch's snapshot */
    rc = tb__meta_stmt(db, TB__STMT_LOAD_SNAPSHOT_OLD,
                       "SELECT dir FROM snapshot WHERE batch_date = ?1", &st);
    if (rc) goto out_rollback;
    sqlite3_bind_text(st, 1, L->batch, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW)
        rc = remember(old, (const char *)sqlite3_column_text(st, 0));
    tb__meta_stmt_done(st);
    if (rc) goto out_rollback;
    rc = tb__meta_stmt(db, TB__STMT_LOAD_SNAPSHOT_PUT,
                       "INSERT OR REPLACE INTO snapshot (batch_date, load_id, dir, customers, "
                       "created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                       &st);
    if (rc) goto out_rollback;
    sqlite3_bind_text(st, 1, L->batch, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, L->load_id);
    sqlite3_bind_text(st, 3, L->snap_rel, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, L->customers);
    sqlite3_bind_text(st, 5, now, -1, SQLITE_STATIC);
    if ((rc = bind_run(L, st, "cannot register the snapshot")) != 0) goto out_rollback;
    tb__log_debug("load", "COMMIT at %.2f s", tb__seconds_since(&L->t0));
    return tb__meta_commit(db);

out_rollback:
    tb__meta_rollback(db);
    return rc;
}

/* ---- the whole load -------------------------------------------------------------------------- */

static void release(load *L)
{
    for (size_t i = 0; i < L->njobs; i++) {
        job *j = &L->jobs[i];
        free(j->name);
        free(j->path);
        free(j->business_type);
        free(j->kind);
        free(j->format);
        free(j->encoding);
        free(j->err);
        free(j->rule_count);
        free(j->seg_path);
    }
    free(L->jobs);
    free(L->q);
    free(L->snap_rel);
    for (size_t i = 0; i < L->nearlier; i++) {
        free(L->earlier[i].file);
        free(L->earlier[i].type);
        free(L->earlier[i].path);
    }
    free(L->earlier);
    tb__profile_free(L->prof);
    tb__idres_free(L->idr);
    tb__std_free(L->std);
}

static int next_load_id(load *L)
{
    sqlite3_stmt *st;
    int rc = tb__meta_stmt(L->db, TB__STMT_LOAD_NEXT_ID,
                           "SELECT coalesce(max(load_id), 0) + 1 FROM load", &st);
    if (rc) return rc;
    rc =
        sqlite3_step(st) == SQLITE_ROW ? 0 : tb__meta_seterr_sqlite(L->db, SQLITE_ERROR, "load id");
    if (!rc) L->load_id = sqlite3_column_int64(st, 0);
    tb__meta_stmt_done(st);
    return rc;
}

static int summary_json(load *L, double secs, char **out)
{
    json_t *files = json_array();
    json_t *doc = json_pack(
        "{s:I, s:s, s:i, s:I, s:s, s:f, s:I, s:I, s:o}", "load_id", (json_int_t)L->load_id,
        "batch_date", L->batch, "standard_version", L->std_version, "customers",
        (json_int_t)L->customers, "snapshot", L->snap_rel ? L->snap_rel : "", "seconds", secs,
        "bytes", (json_int_t)L->bytes_total, "rows", (json_int_t)L->rows, "files", files);
    for (size_t i = 0; doc && i < L->njobs; i++) {
        job *j = &L->jobs[i];
        json_t *rules = json_object();
        for (size_t r = 1; j->rule_count && r < TB__STD_RULE_COUNT; r++) {
            uint64_t c = 0;
            for (size_t f = 0; f <= j->t->nfields; f++)
                c += j->rule_count[r * (j->t->nfields + 1) + f];
            if (c)
                json_object_set_new(rules, tb__std_rule_name((tb__std_rule)r),
                                    json_integer((json_int_t)c));
        }
        json_t *f = json_pack(
            "{s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:o, s:o}", "file", j->name,
            "business_type", j->business_type, "kind", j->kind, "acquired", (json_int_t)j->acquired,
            "valid", (json_int_t)j->valid, "rejected", (json_int_t)j->rejected, "warnings",
            (json_int_t)j->warnings, "aggregated", (json_int_t)j->aggregated, "transmitted",
            (json_int_t)j->transmitted, "allocated", (json_int_t)j->allocated, "collected",
            (json_int_t)j->collected, "rejected_by_rule", rules, "error",
            j->err ? json_string(j->err) : json_null());
        if (!f || json_array_append_new(files, f)) {
            json_decref(doc);
            doc = NULL;
        }
    }
    if (!doc) return tb__seterr(L->eb, TB_ENOMEM, "out of memory");
    *out = json_dumps(doc, JSON_INDENT(2));
    json_decref(doc);
    return *out ? 0 : tb__seterr(L->eb, TB_ENOMEM, "out of memory");
}

int tb_load(tb_db *db, const tb_load_opts *opts, char **json_out)
{
    if (json_out) *json_out = NULL;
    int rc = tb__db_check_writable(db);
    if (rc) return rc;
    load L = {0};
    L.db = db;
    L.eb = tb__db_err(db);
    L.o = opts;
    tb__clearerr(L.eb);
    clock_gettime(CLOCK_MONOTONIC, &L.t0);
    errno = 0;
    L.nice = getpriority(PRIO_PROCESS, (id_t)gettid());
    if (errno) L.nice = 0;
    tb__now_text(L.started);
    oldfiles old = {0};

    rc = tb__std_current(db, &L.std, &L.std_version);
    if (!rc) rc = collect_inputs(&L);
    if (!rc) {
        int32_t d;
        char iso[11];
        snprintf(iso, sizeof iso, "%.4s-%.2s-%.2s", L.batch, L.batch + 4, L.batch + 6);
        rc = tb__std_parse_date(iso, 10, &d);
        L.batch_days = d;
    }
    if (!rc) rc = tb__load_gc(db);
    if (!rc) rc = next_load_id(&L);
    if (!rc) rc = tb__idres_open(db, &L.idr);
    if (!rc) rc = tb__profile_create(&L.prof) ? tb__seterr(L.eb, TB_ENOMEM, "out of memory") : 0;
    /* Files that create golden records or relations go one by one, in order; the rest only
     * read the resolver and fill their own profile columns, and run on every core. */
    if (!rc) rc = list_earlier(&L);
    if (!rc) {
        /* From here the writer threads report on the handle, this one on its own buffer. */
        tb__errbuf mine = {0}, *eb = L.eb;
        idwriter first = {.L = &L, .first = 1};
        int wrc = 0;
        prep pr;
        L.eb = &mine;
        prep_start(&L, &pr);
        rc = run_ordered(&L, &first);
        prep_join(&pr, rc != 0);
        if (!rc) rc = run_parallel(&L, &first, &wrc);
        prep_release(&L, &pr);
        idwriter_join(&first); /* when run_parallel's writer did not */
        if (!rc && !wrc) wrc = first.rc;
        tb__idres_free(first.image);
        L.eb = eb;
        if (rc)
            *eb = mine; /* this thread's error is the one to report */
        else
            rc = wrc;
        /* The resolver is freed with the load (release), not reset for more rows
         * (tb__idres_written: a pass over every golden record, 10M of them at a time). */
    }
    if (!rc) rc = commit(&L, &old);
    tb__log_debug("load", "committed at %.2f s", tb__seconds_since(&L.t0));
    if (!rc) {
        /* The commit is durable: the files it replaced are garbage now. */
        for (size_t i = 0; i < old.n; i++)
            tb__load_remove(db, old.path[i]);
        tb__mdx_prune(db); /* the look-up images but the one this load recorded */
        tb__load_retention(db);
        int file_errors = 0;
        for (size_t i = 0; i < L.njobs; i++)
            file_errors += L.jobs[i].err != NULL;
        if (json_out) rc = summary_json(&L, tb__seconds_since(&L.t0), json_out);
        if (!rc && file_errors)
            rc = tb__seterr(L.eb, TB_EFORMAT, "%d file%s rejected (see the summary)", file_errors,
                            file_errors > 1 ? "s were" : " was");
        tb__log_debug("load", "batch %s load %" PRId64 ": %" PRIu64 " rows, %u customers, %.1f s",
                      L.batch, L.load_id, L.rows, L.customers, tb__seconds_since(&L.t0));
    } else {
        /* Nothing was made current; what this load wrote is removed now (or by the next load). */
        tb__meta_rollback(db);
        tb__load_gc(db);
    }
    for (size_t i = 0; i < old.n; i++)
        free(old.path[i]);
    free(old.path);
    release(&L);
    return rc;
}
