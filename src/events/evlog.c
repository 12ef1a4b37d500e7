/* evlog.c — the event log: checked segment files, torn-tail repair and group commit (evlog.h). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/crc32c.h"
#include "common/log.h"
#include "events/evlog.h"
#include "store/file.h"

#define HDR_LEN  16u
#define REC_HDR  8u
#define MAGIC    "TBEVLOG1"
#define VERSION  1u
#define SEG_SIZE ((uint64_t)64 << 20)
#define REC_AD   TB__EVLOG_AD
#define REC_ADN  (sizeof REC_AD - 1)

typedef struct done_cb {
    tb__evlog_done_fn fn;
    void *arg;
} done_cb;

/* Where a new segment starts inside a queued batch: bytes before `at` go to the older one. */
typedef struct split {
    size_t at;
    uint32_t seg;
} split;

/* What the appenders fill and the committer drains: bytes, their callbacks, segment switches. */
typedef struct queue {
    uint8_t *buf;
    size_t len, cap;
    done_cb *cbs;
    size_t ncbs, cbcap;
    split *splits;
    size_t nsplits, splitcap;
} queue;

struct tb__evlog {
    char *dir;
    uint64_t seg_bytes;
    pthread_mutex_t mu;
    pthread_cond_t work; /* the committer waits for records or for stop */
    pthread_cond_t idle; /* flushers wait for the committer to catch up */
    pthread_t thread;
    queue q;           /* being filled (under mu) */
    int stop, failed;  /* under mu */
    int rolling;       /* under mu: a roll waits for the queue to drain; appends wait for it */
    uint64_t appended; /* records appended (under mu) */
    uint64_t durable;  /* records durable or failed (under mu) */
    uint64_t syncs;
    uint32_t app_seg; /* where the next append goes (under mu) */
    uint64_t app_off;
    int fd; /* the segment the committer writes (committer only) */
    uint32_t fd_seg;
    uint64_t cut;
    int sealing;             /* appends are sealed under `seal` */
    tb__c2key seal;          /* a copy, zeroed at close */
    const tb__keyring *ring; /* borrowed: opens sealed records at open */
};

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

/* 1 when a record header's stored length (sealed flag already masked off) is one a record of
 * that kind can have: the open, the scan and the verification share this rule. */
static int rec_len_ok(uint32_t len, int sealed)
{
    return len != 0 && len <= TB__EVLOG_MAX_RECORD + (sealed ? TB__C2_REC_OVERHEAD : 0) &&
           (!sealed || len > TB__C2_REC_OVERHEAD);
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void seg_path(char *out, size_t cap, const char *dir, uint32_t seg)
{
    snprintf(out, cap, "%s/%08u.log", dir, seg);
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

/* The segment numbers in `dir`, ascending (caller frees *out). A missing directory is empty. */
static int list_segments(const char *dir, uint32_t **out, size_t *n, tb__errbuf *eb)
{
    *out = NULL;
    *n = 0;
    DIR *d = opendir(dir);
    if (!d) {
        if (errno == ENOENT) return 0;
        return tb__seterr_errno(eb, TB_EIO, errno, "cannot open event log directory '%s'", dir);
    }
    size_t cap = 0;
    struct dirent *e;
    int rc = 0;
    while ((e = readdir(d))) {
        unsigned v;
        char tail[8];
        if (strlen(e->d_name) != 12 || sscanf(e->d_name, "%8u%7s", &v, tail) != 2 ||
            strcmp(tail, ".log") != 0 || v == 0)
            continue;
        if (*n == cap) {
            cap = cap ? cap * 2 : 16;
            uint32_t *t = realloc(*out, cap * sizeof *t);
            if (!t) {
                rc = TB_ENOMEM;
                break;
            }
            *out = t;
        }
        (*out)[(*n)++] = v;
    }
    closedir(d);
    if (rc) {
        free(*out);
        *out = NULL;
        *n = 0;
        return tb__seterr(eb, rc, "out of memory listing '%s'", dir);
    }
    if (*n) qsort(*out, *n, sizeof **out, cmp_u32);
    return 0;
}

static int read_file(const char *path, uint8_t **out, size_t *len, tb__errbuf *eb)
{
    char *p;
    int rc = tb__file_read_all(path, (size_t)1 << 40, &p, len, eb);
    *out = (uint8_t *)p;
    return rc;
}

/* ---- the records of one segment -------------------------------------------------------------*/

/* A walk over the records of one segment image, for the scan and for key rotation alike: the
 * framing (header, record length, CRC) is parsed here and nowhere else. */
typedef struct seg_walk {
    const char *path; /* for messages */
    uint32_t seg;
    const uint8_t *d;
    size_t n;
    /* Where the next record header starts (0 until the segment header was checked), and the
     * record returned, or where the walk ended or the framing went wrong: so `off` is always the
     * end of the last valid record. */
    uint64_t next, off;
    const uint8_t *rec; /* the record returned, as stored (sealed: its envelope) */
    uint32_t len;       /* its stored length, the sealed flag masked off */
    int sealed;
    const char *why; /* set when walk_next returned TB_ECORRUPT for bad framing */
    uint8_t *plain;  /* a sealed record opened by walk_open; zeroed by walk_release */
    size_t plaincap;
} seg_walk;

/* `d` and `path` are borrowed for the walk's lifetime; release it with walk_release. */
static void walk_init(seg_walk *w, const char *path, uint32_t seg, const uint8_t *d, size_t n)
{
    *w = (seg_walk){.path = path, .seg = seg, .d = d, .n = n};
}

static int walk_bad(seg_walk *w, const char *why)
{
    w->why = why;
    return TB_ECORRUPT;
}

/* Steps to the next record (the first step checks the segment header): 1 with w->off, rec, len
 * and sealed describing it, 0 at the end of the segment. Bad framing is TB_ECORRUPT with w->why
 * set and nothing reported, because only the caller knows whether it is a torn tail (cut) or
 * corruption (walk_fail reports it). A version this build does not read is never a torn tail:
 * TB_EVERSION, reported in eb. */
static int walk_next(seg_walk *w, tb__errbuf *eb)
{
    const uint8_t *d = w->d;
    size_t n = w->n;
    if (w->next == 0) {
        if (n < HDR_LEN) return walk_bad(w, "segment header truncated");
        if (memcmp(d, MAGIC, 8) != 0) return walk_bad(w, "bad magic (not an event log segment)");
        if (get32(d + 8) != VERSION)
            return tb__seterr(eb, TB_EVERSION, "event log '%s': version %u, this tagbase reads %u",
                              w->path, get32(d + 8), VERSION);
        if (get32(d + 12) != w->seg)
            return walk_bad(w, "segment number in the header differs from the file name");
        w->next = HDR_LEN;
    }
    uint64_t off = w->off = w->next;
    if (off >= n) return 0;
    if (n - off < REC_HDR) return walk_bad(w, "record header truncated");
    uint32_t len = get32(d + off), crc = get32(d + off + 4);
    int sealed = (len & TB__EVLOG_SEALED) != 0;
    len &= ~TB__EVLOG_SEALED;
    if (!rec_len_ok(len, sealed)) return walk_bad(w, "record length out of range");
    if (n - off - REC_HDR < len) return walk_bad(w, "record truncated");
    if (tb__crc32c(0, d + off + REC_HDR, len) != crc)
        return walk_bad(w, "record checksum mismatch");
    w->rec = d + off + REC_HDR;
    w->len = len;
    w->sealed = sealed;
    w->next = off + REC_HDR + len;
    return 1;
}

/* Reports the bad framing walk_next found as TB_ECORRUPT, naming the file and the byte. */
static int walk_fail(const seg_walk *w, tb__errbuf *eb)
{
    return tb__seterr(eb, TB_ECORRUPT, "event log '%s', byte %llu: %s", w->path,
                      (unsigned long long)w->off, w->why);
}

/* The clear payload of the record returned: the stored bytes, or a sealed record opened with
 * `ring` (may be NULL) into the walk's buffer, valid until the next walk_open or walk_release.
 * TB_ENOENT names the key the ring lacks; TB_ECORRUPT when authentication fails, which is never
 * a torn write (the CRC matched) but tampering or another key's bytes. */
static int walk_open(seg_walk *w, const tb__keyring *ring, const uint8_t **p, size_t *pn,
                     tb__errbuf *eb)
{
    if (!w->sealed) {
        *p = w->rec;
        *pn = w->len;
        return 0;
    }
    if (w->plaincap < w->len) {
        /* Nothing to keep: a fresh buffer leaves no opened record behind in a freed one. */
        if (w->plain) sodium_memzero(w->plain, w->plaincap);
        free(w->plain);
        w->plaincap = 0;
        if (!(w->plain = malloc(w->len)))
            return tb__seterr(eb, TB_ENOMEM, "out of memory reading the event log");
        w->plaincap = w->len;
    }
    uint32_t kid;
    int rc = tb__c2_rec_open(ring, REC_AD, REC_ADN, w->rec, w->len, w->plain, &kid);
    if (rc == TB_ENOENT)
        return tb__seterr(eb, TB_ENOENT,
                          "event log '%s', byte %llu: the record is sealed under key %" PRIu32
                          ", which %s",
                          w->path, (unsigned long long)w->off, kid,
                          ring ? "the key file does not hold" : "needs a key file (none given)");
    if (rc)
        return tb__seterr(eb, TB_ECORRUPT,
                          "event log '%s', byte %llu: record fails authentication (tampered, or "
                          "another key's bytes)",
                          w->path, (unsigned long long)w->off);
    *p = w->plain;
    *pn = w->len - TB__C2_REC_OVERHEAD;
    return 0;
}

static void walk_release(seg_walk *w)
{
    if (w->plain) sodium_memzero(w->plain, w->plaincap);
    free(w->plain);
    w->plain = NULL;
    w->plaincap = 0;
}

/* Checks segment `seg` and replays its records in [from, to) through fn. *good is set to the end
 * of the last valid record. A bad record ends the scan when `tail_ok` (the newest segment) with
 * *torn set, else it is TB_ECORRUPT. */
static int scan_segment(const char *dir, const tb__keyring *ring, uint32_t seg, int tail_ok,
                        tb__evpos from, tb__evpos to, tb__evlog_replay_fn fn, void *arg,
                        uint64_t *good, int *torn, tb__errbuf *eb)
{
    char path[4096];
    seg_path(path, sizeof path, dir, seg);
    uint8_t *d;
    size_t n;
    int rc = read_file(path, &d, &n, eb);
    if (rc) return rc;
    *torn = 0;
    seg_walk w;
    walk_init(&w, path, seg, d, n);
    while ((rc = walk_next(&w, eb)) > 0) {
        int after_from = seg > from.seg || (seg == from.seg && w.off >= from.off);
        int before_to = to.seg == 0 || seg < to.seg || (seg == to.seg && w.off < to.off);
        if (!fn || !after_from || !before_to) continue;
        const uint8_t *p;
        size_t pn;
        if ((rc = walk_open(&w, ring, &p, &pn, eb))) break;
        if ((rc = fn(arg, (tb__evpos){seg, w.off}, p, pn))) break;
    }
    if (rc == TB_ECORRUPT && w.why) {
        *torn = tail_ok;
        rc = tail_ok ? 0 : walk_fail(&w, eb);
    }
    *good = w.off;
    walk_release(&w);
    free(d);
    return rc;
}

static int write_header(int fd, uint32_t seg)
{
    uint8_t h[HDR_LEN];
    memcpy(h, MAGIC, 8);
    put32(h + 8, VERSION);
    put32(h + 12, seg);
    return tb__write_full(fd, h, sizeof h);
}

/* Creates segment `seg` with its header, durable (file and directory entry). */
static int create_segment(const char *dir, uint32_t seg, int *fdout, tb__errbuf *eb)
{
    char path[4096];
    seg_path(path, sizeof path, dir, seg);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
    if (fd < 0) return tb__seterr_errno(eb, TB_EIO, errno, "cannot create '%s'", path);
    if (write_header(fd, seg) || fsync(fd)) {
        int e = errno;
        close(fd);
        return tb__seterr_errno(eb, TB_EIO, e, "cannot write '%s'", path);
    }
    int rc = tb__fsync_dir(dir, eb);
    if (rc) {
        close(fd);
        return rc;
    }
    *fdout = fd;
    return 0;
}

/* Writes buf to the current segment, switching segments at the splits; one fdatasync per file. */
static int commit_queue(tb__evlog *l, queue *q, tb__errbuf *eb)
{
    size_t at = 0;
    for (size_t s = 0; s <= q->nsplits; s++) {
        size_t end = s < q->nsplits ? q->splits[s].at : q->len;
        if (end > at && tb__write_full(l->fd, q->buf + at, end - at))
            return tb__seterr_errno(eb, TB_EIO, errno, "cannot write event log segment %u",
                                    l->fd_seg);
        if (fdatasync(l->fd))
            return tb__seterr_errno(eb, TB_EIO, errno, "cannot fsync event log segment %u",
                                    l->fd_seg);
        l->syncs++;
        at = end;
        if (s < q->nsplits) {
            int fd, rc = create_segment(l->dir, q->splits[s].seg, &fd, eb);
            if (rc) return rc;
            close(l->fd);
            l->fd = fd;
            l->fd_seg = q->splits[s].seg;
        }
    }
    return 0;
}

static void *committer(void *arg)
{
    tb__evlog *l = arg;
    queue mine = {0};
    pthread_mutex_lock(&l->mu);
    for (;;) {
        while (l->q.ncbs == 0 && !l->stop)
            pthread_cond_wait(&l->work, &l->mu);
        if (l->q.ncbs == 0 && l->stop) break;
        queue t = l->q;
        l->q = mine;
        mine = t;
        l->q.len = l->q.ncbs = l->q.nsplits = 0;
        int failed = l->failed;
        pthread_mutex_unlock(&l->mu);

        tb__errbuf eb = {0};
        int rc = failed ? TB_EIO : commit_queue(l, &mine, &eb);
        if (rc && !failed) tb__log_error("events", "event log failed: %s", eb.msg);
        for (size_t i = 0; i < mine.ncbs; i++)
            if (mine.cbs[i].fn) mine.cbs[i].fn(mine.cbs[i].arg, rc);

        pthread_mutex_lock(&l->mu);
        if (rc) l->failed = 1;
        l->durable += mine.ncbs;
        pthread_cond_broadcast(&l->idle);
    }
    pthread_mutex_unlock(&l->mu);
    free(mine.buf);
    free(mine.cbs);
    free(mine.splits);
    return NULL;
}

static int grow(void **p, size_t *cap, size_t need, size_t size)
{
    if (need <= *cap) return 0;
    size_t c = *cap ? *cap : 64;
    while (c < need)
        c *= 2;
    void *t = realloc(*p, c * size);
    if (!t) return TB_ENOMEM;
    *p = t;
    *cap = c;
    return 0;
}

int tb__evlog_append(tb__evlog *l, const void *p, size_t n, tb__evlog_done_fn done, void *arg,
                     tb__evpos *pos)
{
    if (n == 0 || n > TB__EVLOG_MAX_RECORD) return TB_EINVAL;
    /* Sealed and checksummed by the appending thread, outside the lock: appenders work in
     * parallel, the committer only writes and fsyncs. */
    uint8_t *sealed = NULL;
    uint32_t word = (uint32_t)n;
    if (l->sealing) {
        if (!(sealed = malloc(n + TB__C2_REC_OVERHEAD))) return TB_ENOMEM;
        if (tb__c2_rec_seal(&l->seal, REC_AD, REC_ADN, p, n, sealed)) {
            free(sealed);
            return TB_EINVAL;
        }
        p = sealed;
        n += TB__C2_REC_OVERHEAD;
        word = (uint32_t)n | TB__EVLOG_SEALED;
    }
    uint32_t crc = tb__crc32c(0, p, n);
    pthread_mutex_lock(&l->mu);
    while (l->rolling) /* one fsync at most: the roll drains what is queued, then switches */
        pthread_cond_wait(&l->idle, &l->mu);
    int rc = l->failed || l->stop ? TB_EIO : 0;
    queue *q = &l->q;
    int roll = l->app_off >= l->seg_bytes;
    if (!rc && (rc = grow((void **)&q->buf, &q->cap, q->len + REC_HDR + n, 1)) == 0 &&
        (rc = grow((void **)&q->cbs, &q->cbcap, q->ncbs + 1, sizeof *q->cbs)) == 0 && roll)
        rc = grow((void **)&q->splits, &q->splitcap, q->nsplits + 1, sizeof *q->splits);
    if (rc) {
        pthread_mutex_unlock(&l->mu);
        free(sealed);
        return rc;
    }
    if (roll) {
        l->app_seg++;
        l->app_off = HDR_LEN;
        q->splits[q->nsplits++] = (split){q->len, l->app_seg};
    }
    if (pos) *pos = (tb__evpos){l->app_seg, l->app_off};
    put32(q->buf + q->len, word);
    put32(q->buf + q->len + 4, crc);
    memcpy(q->buf + q->len + REC_HDR, p, n);
    q->len += REC_HDR + n;
    q->cbs[q->ncbs++] = (done_cb){done, arg};
    l->app_off += REC_HDR + n;
    l->appended++;
    pthread_cond_signal(&l->work);
    pthread_mutex_unlock(&l->mu);
    free(sealed);
    return 0;
}

typedef struct waiter {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int done, rc;
} waiter;

static void wake(void *arg, int rc)
{
    waiter *w = arg;
    pthread_mutex_lock(&w->mu);
    w->done = 1;
    w->rc = rc;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

int tb__evlog_append_sync(tb__evlog *l, const void *p, size_t n, tb__evpos *pos)
{
    waiter w = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0};
    int rc = tb__evlog_append(l, p, n, wake, &w, pos);
    if (rc) return rc;
    pthread_mutex_lock(&w.mu);
    while (!w.done)
        pthread_cond_wait(&w.cv, &w.mu);
    pthread_mutex_unlock(&w.mu);
    return w.rc;
}

int tb__evlog_flush(tb__evlog *l)
{
    pthread_mutex_lock(&l->mu);
    uint64_t want = l->appended;
    while (l->durable < want)
        pthread_cond_wait(&l->idle, &l->mu);
    int rc = l->failed ? TB_EIO : 0;
    pthread_mutex_unlock(&l->mu);
    return rc;
}

tb__evpos tb__evlog_end(tb__evlog *l)
{
    pthread_mutex_lock(&l->mu);
    tb__evpos p = {l->app_seg, l->app_off};
    pthread_mutex_unlock(&l->mu);
    return p;
}

uint64_t tb__evlog_cut_bytes(const tb__evlog *l)
{
    return l->cut;
}

void tb__evlog_stats(tb__evlog *l, uint64_t *records, uint64_t *syncs)
{
    pthread_mutex_lock(&l->mu);
    if (records) *records = l->appended;
    if (syncs) *syncs = l->syncs;
    pthread_mutex_unlock(&l->mu);
}

/* Scans every segment; the newest may be torn. Reports the newest segment and its good end. */
static int scan_all(const char *dir, const tb__keyring *ring, tb__evpos from, tb__evpos to,
                    tb__evlog_replay_fn fn, void *arg, int tail_ok, uint32_t *last,
                    uint64_t *last_good, int *torn, tb__errbuf *eb)
{
    uint32_t *segs;
    size_t n;
    int rc = list_segments(dir, &segs, &n, eb);
    if (rc) return rc;
    *last = 0;
    *last_good = 0;
    *torn = 0;
    for (size_t i = 0; i < n && !rc; i++) {
        if (i && segs[i] != segs[i - 1] + 1) {
            rc = tb__seterr(eb, TB_ECORRUPT, "event log '%s': segment %u is missing", dir,
                            segs[i - 1] + 1);
            break;
        }
        if (to.seg && segs[i] > to.seg) break;
        /* Segments wholly before `from` are still checked: cheap next to losing data silently. */
        uint64_t good;
        int t;
        rc = scan_segment(dir, ring, segs[i], tail_ok && i + 1 == n, from, to, fn, arg, &good, &t,
                          eb);
        *last = segs[i];
        *last_good = good;
        *torn = t;
    }
    free(segs);
    return rc;
}

int tb__evlog_scan(const char *dir, const tb__keyring *ring, tb__evpos from, tb__evpos to,
                   tb__evlog_replay_fn fn, void *arg, tb__errbuf *eb)
{
    uint32_t last;
    uint64_t good;
    int torn;
    return scan_all(dir, ring, from, to, fn, arg, 1, &last, &good, &torn, eb);
}

int tb__evlog_verify(const char *dir, const tb__keyring *ring, tb__evlog_replay_fn fn, void *arg,
                     tb__errbuf *eb)
{
    uint32_t last;
    uint64_t good;
    int torn;
    return scan_all(dir, ring, (tb__evpos){0, 0}, (tb__evpos){0, 0}, fn, arg, 0, &last, &good,
                    &torn, eb);
}

int tb__evlog_open(const char *dir, uint64_t seg_bytes, const tb__evkeys *keys, tb__evpos from,
                   tb__evlog_replay_fn fn, void *arg, tb__evlog **out, tb__errbuf *eb)
{
    *out = NULL;
    int rc = tb__mkdir_p(dir, 0750, eb);
    if (rc) return rc;
    uint32_t last;
    uint64_t good;
    int torn;
    const tb__keyring *ring = keys ? keys->ring : NULL;
    if ((rc = scan_all(dir, ring, from, (tb__evpos){0, 0}, fn, arg, 1, &last, &good, &torn, eb)))
        return rc;
    tb__evlog *l = calloc(1, sizeof *l);
    if (!l || !(l->dir = strdup(dir))) {
        free(l);
        return tb__seterr(eb, TB_ENOMEM, "out of memory opening the event log");
    }
    l->seg_bytes = seg_bytes ? seg_bytes : SEG_SIZE;
    l->fd = -1;
    l->ring = ring;
    if (keys && keys->seal) {
        l->sealing = 1;
        l->seal = *keys->seal;
    }
    char path[4096];
    if (last == 0 || good < HDR_LEN) {
        /* No segment yet, or the newest lost even its header: (re)create it empty. */
        uint32_t seg = last ? last : 1;
        if ((rc = create_segment(dir, seg, &l->fd, eb))) goto out_free;
        l->fd_seg = seg;
        good = HDR_LEN;
        if (last) {
            tb__log_warn("events", "event log segment %u had no valid header: recreated", seg);
            l->cut = 1;
        }
    } else {
        seg_path(path, sizeof path, dir, last);
        l->fd = open(path, O_WRONLY | O_CLOEXEC);
        struct stat st;
        if (l->fd < 0 || fstat(l->fd, &st)) {
            rc = tb__seterr_errno(eb, TB_EIO, errno, "cannot open '%s'", path);
            goto out_free;
        }
        if (torn || (uint64_t)st.st_size != good) {
            l->cut = (uint64_t)st.st_size - good;
            if (ftruncate(l->fd, (off_t)good) || fsync(l->fd)) {
                rc = tb__seterr_errno(eb, TB_EIO, errno, "cannot cut the torn tail of '%s'", path);
                goto out_free;
            }
            tb__log_warn("events", "event log '%s': cut a torn tail of %llu bytes at byte %llu",
                         path, (unsigned long long)l->cut, (unsigned long long)good);
        }
        if (lseek(l->fd, (off_t)good, SEEK_SET) < 0) {
            rc = tb__seterr_errno(eb, TB_EIO, errno, "cannot seek '%s'", path);
            goto out_free;
        }
        l->fd_seg = last;
    }
    l->app_seg = l->fd_seg;
    l->app_off = good;
    pthread_mutex_init(&l->mu, NULL);
    pthread_cond_init(&l->work, NULL);
    pthread_cond_init(&l->idle, NULL);
    if (pthread_create(&l->thread, NULL, committer, l)) {
        rc = tb__seterr(eb, TB_ENOMEM, "cannot start the event log committer thread");
        pthread_mutex_destroy(&l->mu);
        pthread_cond_destroy(&l->work);
        pthread_cond_destroy(&l->idle);
        goto out_free;
    }
    *out = l;
    return 0;
out_free:
    if (l->fd >= 0) close(l->fd);
    sodium_memzero(&l->seal, sizeof l->seal);
    free(l->dir);
    free(l);
    return rc;
}

int tb__evlog_roll(tb__evlog *l, tb__errbuf *eb)
{
    pthread_mutex_lock(&l->mu);
    /* Nothing may be queued or in flight while the file changes under the committer: new appends
     * wait (rolling) so that the queue drains even under steady ingest. */
    while (l->rolling)
        pthread_cond_wait(&l->idle, &l->mu);
    l->rolling = 1;
    while (l->durable < l->appended || l->q.ncbs)
        pthread_cond_wait(&l->idle, &l->mu);
    int rc = 0;
    if (l->failed)
        rc = tb__seterr(eb, TB_EIO, "the event log has failed");
    else if (l->app_off > HDR_LEN) {
        int fd;
        if ((rc = create_segment(l->dir, l->app_seg + 1, &fd, eb)) == 0) {
            close(l->fd);
            l->fd = fd;
            l->fd_seg = ++l->app_seg;
            l->app_off = HDR_LEN;
        }
    }
    l->rolling = 0;
    pthread_cond_broadcast(&l->idle);
    pthread_mutex_unlock(&l->mu);
    return rc;
}

int tb__evlog_trim(tb__evlog *l, tb__evpos before, tb__errbuf *eb)
{
    uint32_t *segs;
    size_t n;
    int rc = list_segments(l->dir, &segs, &n, eb);
    if (rc) return rc;
    pthread_mutex_lock(&l->mu);
    uint32_t open_seg = l->app_seg;
    pthread_mutex_unlock(&l->mu);
    int removed = 0;
    for (size_t i = 0; i < n; i++) {
        /* Segment s ends before `before` when a later segment starts at or before it. */
        if (segs[i] >= before.seg || segs[i] >= open_seg) break;
        char path[4096];
        seg_path(path, sizeof path, l->dir, segs[i]);
        if (unlink(path) && errno != ENOENT) {
            rc = tb__seterr_errno(eb, TB_EIO, errno, "cannot remove '%s'", path);
            break;
        }
        removed = 1;
    }
    free(segs);
    if (!rc && removed) rc = tb__fsync_dir(l->dir, eb);
    return rc;
}

void tb__evlog_close(tb__evlog *l)
{
    if (!l) return;
    pthread_mutex_lock(&l->mu);
    l->stop = 1;
    pthread_cond_signal(&l->work);
    pthread_mutex_unlock(&l->mu);
    pthread_join(l->thread, NULL);
    if (l->fd >= 0) close(l->fd);
    pthread_mutex_destroy(&l->mu);
    pthread_cond_destroy(&l->work);
    pthread_cond_destroy(&l->idle);
    free(l->q.buf);
    free(l->q.cbs);
    free(l->q.splits);
    sodium_memzero(&l->seal, sizeof l->seal);
    free(l->dir);
    free(l);
}

/* ---- key rotation ----------------------------------------------------------------------------*/

/* Re-seals segment `seg` into a new image when any record needs it (*changed). */
static int reseal_segment(const char *dir, uint32_t seg, const tb__keyring *ring,
                          const tb__c2key *to, int *changed, tb__errbuf *eb)
{
    char path[4096];
    seg_path(path, sizeof path, dir, seg);
    uint8_t *d;
    size_t n;
    *changed = 0;
    int rc = read_file(path, &d, &n, eb);
    if (rc) return rc;
    uint8_t *out = NULL;
    size_t olen = 0, ocap = 0;
    seg_walk w;
    walk_init(&w, path, seg, d, n);
    while ((rc = walk_next(&w, eb)) > 0) {
        if (!(w.sealed && get32(w.rec) == to->id)) *changed = 1;
        const uint8_t *p;
        size_t pn;
        if ((rc = walk_open(&w, ring, &p, &pn, eb))) break;
        size_t need = olen + REC_HDR + pn + TB__C2_REC_OVERHEAD;
        if (need > ocap) {
            size_t c = ocap ? ocap * 2 : n + 4096;
            while (c < need)
                c *= 2;
            uint8_t *t = realloc(out, c);
            if (!t) {
                rc = tb__seterr(eb, TB_ENOMEM, "out of memory re-sealing '%s'", path);
                break;
            }
            out = t;
            ocap = c;
        }
        if (!olen) {
            memcpy(out, d, HDR_LEN);
            olen = HDR_LEN;
        }
        uint8_t *r = out + olen;
        if ((rc = tb__c2_rec_seal(to, REC_AD, REC_ADN, p, pn, r + REC_HDR))) {
            rc = tb__seterr(eb, rc, "cannot seal a record of '%s'", path);
            break;
        }
        put32(r, (uint32_t)(pn + TB__C2_REC_OVERHEAD) | TB__EVLOG_SEALED);
        put32(r + 4, tb__crc32c(0, r + REC_HDR, pn + TB__C2_REC_OVERHEAD));
        olen += REC_HDR + pn + TB__C2_REC_OVERHEAD;
    }
    if (rc == TB_ECORRUPT && w.why) rc = walk_fail(&w, eb);
    if (!rc && *changed) rc = tb__file_write_atomic(path, out, olen, 0640, eb);
    if (out) sodium_memzero(out, ocap);
    free(out);
    walk_release(&w);
    free(d);
    return rc;
}

int tb__evlog_reseal(const char *dir, const tb__keyring *ring, const tb__c2key *to, uint64_t *files,
                     tb__errbuf *eb)
{
    uint32_t *segs;
    size_t n;
    int rc = list_segments(dir, &segs, &n, eb);
    for (size_t i = 0; !rc && i < n; i++) {
        int changed;
        rc = reseal_segment(dir, segs[i], ring, to, &changed, eb);
        if (!rc && changed) (*files)++;
    }
    free(segs);
    return rc;
}
