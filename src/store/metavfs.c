/* metavfs.c — the meta store's VFS: the unix VFS, plus checkpoint writes gathered and written
 * past the page cache while tb__metavfs_direct is on (metavfs.h). */
#include "store/metavfs.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define VFS_NAME "tagbase"
#define BLOCK    ((size_t)4 << 20) /* bytes gathered before a write; a multiple of any page size */
#define ALIGN    4096              /* O_DIRECT's alignment of offsets, lengths and memory */

/* SQLite's unixFile starts with its methods, its VFS, its inode record and then the descriptor
 * (os_unix.c, unchanged since 2008). The descriptor is read from there only to write gathered
 * blocks through it, and only once fstat says it is the file this VFS opened under that name: a
 * second descriptor of our own would be safer to come by but not to close, since closing any
 * descriptor of a file drops every POSIX lock the process holds on it, SQLite's included. */
struct unix_head {
    const sqlite3_io_methods *methods;
    sqlite3_vfs *vfs;
    void *inode;
    int h;
};

/* Direct mode of one main database file. Blocks are gathered on SQLite's thread and written by a
 * thread of their own, so that the checkpoint reads the next pages from the log while the disk
 * writes the last ones (10M customers: 1.3 s of reads and 1.9 s of writes, one after the other
 * when written on SQLite's thread). */
typedef struct dmode {
    int fd;       /* SQLite's descriptor of the file */
    char *blk[2]; /* ALIGN-aligned; blk[cur] is being gathered, the other may be in flight */
    int cur;
    size_t blen;      /* bytes in blk[cur] */
    sqlite3_int64 at; /* the file offset of blk[cur][0] */
    pthread_t tid;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    /* under mu */
    int busy; /* blk[!cur] is being written: wlen bytes at wat */
    size_t wlen;
    sqlite3_int64 wat;
    int stop;
    int err;          /* the first errno a write returned: every later flush fails */
    uint64_t written; /* bytes written past the page cache */
} dmode;

typedef struct dfile {
    sqlite3_file base;
    sqlite3_file *real; /* the unix VFS's file, allocated right after this struct */
    int main_db;        /* opened as SQLITE_OPEN_MAIN_DB */
    dev_t dev;          /* of the main database, at open */
    ino_t ino;
    dmode *x; /* direct mode, else NULL */
} dfile;

static sqlite3_vfs vfs;
static sqlite3_io_methods methods1, methods2, methods3; /* by the real file's iVersion */
static const char *registered;
static pthread_once_t once = PTHREAD_ONCE_INIT;

/* Writes n bytes of p at `at` through fd with O_DIRECT (set for the call, then cleared, so that
 * SQLite's own reads and writes through the descriptor stay as they were: none runs meanwhile);
 * where the file system refuses the flag or the write, through the page cache. 0 or an errno;
 * *direct_bytes += what went past the page cache. */
static int write_block(int fd, const char *p, size_t n, sqlite3_int64 at, uint64_t *direct_bytes)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0) return errno;
    int direct = fcntl(fd, F_SETFL, fl | O_DIRECT) == 0;
    int err = 0;
    while (n) {
        ssize_t k = pwrite(fd, p, n, at);
        if (k < 0) {
            if (errno == EINTR) continue;
            if (direct) { /* refused past the cache (EINVAL: the flag taken, not the write): */
                fcntl(fd, F_SETFL, fl); /* through it, as SQLite would have written it */
                direct = 0;
                continue;
            }
            err = errno;
            break;
        }
        if (direct) *direct_bytes += (uint64_t)k;
        if ((size_t)k < n && direct) { /* the rest would start unaligned */
            fcntl(fd, F_SETFL, fl);
            direct = 0;
        }
        p += k;
        n -= (size_t)k;
        at += k;
    }
    if (direct) fcntl(fd, F_SETFL, fl);
    return err;
}

static void *writer(void *arg)
{
    dmode *x = arg;
    pthread_mutex_lock(&x->mu);
    for (;;) {
        while (!x->busy && !x->stop)
            pthread_cond_wait(&x->cv, &x->mu);
        if (!x->busy) break;
        const char *p = x->blk[!x->cur];
        size_t n = x->wlen;
        sqlite3_int64 at = x->wat;
        pthread_mutex_unlock(&x->mu);
        uint64_t wrote = 0;
        int err = write_block(x->fd, p, n, at, &wrote);
        pthread_mutex_lock(&x->mu);
        x->written += wrote;
        if (err && !x->err) x->err = err;
        x->busy = 0;
        pthread_cond_broadcast(&x->cv);
    }
    pthread_mutex_unlock(&x->mu);
    return NULL;
}

/* Hands the gathered block to the writer (after the one before it is written) and, with `wait`,
 * waits for it to be written too: before anything else touches the file. SQLITE_OK or
 * SQLITE_IOERR_WRITE (this block's write or an earlier one failed). */
static int flush(dmode *x, int wait)
{
    pthread_mutex_lock(&x->mu);
    while (x->busy)
        pthread_cond_wait(&x->cv, &x->mu);
    if (x->blen && !x->err) {
        x->wlen = x->blen;
        x->wat = x->at;
        x->busy = 1;
        x->cur ^= 1;
        x->blen = 0;
        pthread_cond_broadcast(&x->cv);
        while (wait && x->busy)
            pthread_cond_wait(&x->cv, &x->mu);
    }
    int err = x->err;
    pthread_mutex_unlock(&x->mu);
    return err ? SQLITE_IOERR_WRITE : SQLITE_OK;
}

/* Ends direct mode: writes what is gathered, stops the writer. SQLITE_OK or SQLITE_IOERR_WRITE. */
static int direct_end(dfile *d, uint64_t *written)
{
    dmode *x = d->x;
    int rc = flush(x, 1);
    pthread_mutex_lock(&x->mu);
    x->stop = 1;
    pthread_cond_broadcast(&x->cv);
    pthread_mutex_unlock(&x->mu);
    pthread_join(x->tid, NULL);
    if (written) *written = x->written;
    pthread_mutex_destroy(&x->mu);
    pthread_cond_destroy(&x->cv);
    free(x->blk[0]);
    free(x->blk[1]);
    free(x);
    d->x = NULL;
    return rc;
}

static int x_close(sqlite3_file *f)
{
    dfile *d = (dfile *)f;
    int rc = d->x ? direct_end(d, NULL) : SQLITE_OK;
    int rc2 = d->real->pMethods ? d->real->pMethods->xClose(d->real) : SQLITE_OK;
    return rc != SQLITE_OK ? rc : rc2;
}

static int x_read(sqlite3_file *f, void *p, int n, sqlite3_int64 at)
{
    dfile *d = (dfile *)f;
    if (d->x && flush(d->x, 1) != SQLITE_OK) return SQLITE_IOERR_READ;
    return d->real->pMethods->xRead(d->real, p, n, at);
}

static int x_write(sqlite3_file *f, const void *p, int n, sqlite3_int64 at)
{
    dfile *d = (dfile *)f;
    dmode *x = d->x;
    if (!x) return d->real->pMethods->xWrite(d->real, p, n, at);
    int aligned = n > 0 && (size_t)n <= BLOCK && n % ALIGN == 0 && at % ALIGN == 0;
    if (!aligned) { /* SQLite's own write, once every block is written (none in flight) */
        int rc = flush(x, 1);
        return rc != SQLITE_OK ? rc : d->real->pMethods->xWrite(d->real, p, n, at);
    }
    if (x->blen && (at != x->at + (sqlite3_int64)x->blen || x->blen + (size_t)n > BLOCK)) {
        int rc = flush(x, 0); /* the block is sent; this write starts the next */
        if (rc != SQLITE_OK) return rc;
    }
    if (!x->blen) x->at = at;
    memcpy(x->blk[x->cur] + x->blen, p, (size_t)n);
    x->blen += (size_t)n;
    return x->blen == BLOCK ? flush(x, 0) : SQLITE_OK;
}

static int x_truncate(sqlite3_file *f, sqlite3_int64 size)
{
    dfile *d = (dfile *)f;
    int rc = d->x ? flush(d->x, 1) : SQLITE_OK;
    return rc != SQLITE_OK ? rc : d->real->pMethods->xTruncate(d->real, size);
}

static int x_sync(sqlite3_file *f, int flags)
{
    dfile *d = (dfile *)f;
    int rc = d->x ? flush(d->x, 1) : SQLITE_OK;
    return rc != SQLITE_OK ? SQLITE_IOERR_FSYNC : d->real->pMethods->xSync(d->real, flags);
}

static int x_file_size(sqlite3_file *f, sqlite3_int64 *size)
{
    dfile *d = (dfile *)f;
    int rc = d->x ? flush(d->x, 1) : SQLITE_OK;
    return rc != SQLITE_OK ? SQLITE_IOERR_FSTAT : d->real->pMethods->xFileSize(d->real, size);
}

/* The rest is the unix VFS's own. */
#define REAL(f) (((dfile *)(f))->real)
static int x_lock(sqlite3_file *f, int l)
{
    return REAL(f)->pMethods->xLock(REAL(f), l);
}
static int x_unlock(sqlite3_file *f, int l)
{
    return REAL(f)->pMethods->xUnlock(REAL(f), l);
}
static int x_check_reserved(sqlite3_file *f, int *out)
{
    return REAL(f)->pMethods->xCheckReservedLock(REAL(f), out);
}
/* After the checkpoint's last page: SQLite ignores what this returns and, in a checkpoint that
 * a reader cut short, syncs nothing, so a block that failed here would be taken for written. It is
 * written again through SQLite's own xWrite (the page cache); if that fails too, the checkpoint
 * is reported failed by tb__metavfs_direct (off). */
static int ckpt_done(dfile *d)
{
    dmode *x = d->x;
    if (flush(x, 1) == SQLITE_OK) return SQLITE_OK;
    pthread_mutex_lock(&x->mu); /* the writer is idle: err stops every hand-over */
    int rc = d->real->pMethods->xWrite(d->real, x->blk[!x->cur], (int)x->wlen, x->wat);
    if (rc == SQLITE_OK && x->blen)
        rc = d->real->pMethods->xWrite(d->real, x->blk[x->cur], (int)x->blen, x->at);
    if (rc == SQLITE_OK) {
        x->err = 0;
        x->blen = 0;
    }
    pthread_mutex_unlock(&x->mu);
    return rc;
}

static int x_file_control(sqlite3_file *f, int op, void *arg)
{
    dfile *d = (dfile *)f;
    if (d->x) {
        if (op == SQLITE_FCNTL_CKPT_DONE) {
            int rc = ckpt_done(d);
            REAL(f)->pMethods->xFileControl(REAL(f), op, arg);
            return rc;
        }
        if (flush(d->x, 1) != SQLITE_OK) return SQLITE_IOERR_WRITE;
        if (op == SQLITE_FCNTL_SIZE_HINT) {
            /* The checkpoint is about to grow the file: its blocks are placed now, so that none
             * written later (after the copy, where SQLite no longer looks) finds the disk full.
             * Where they cannot be (no space, or no fallocate(2) here), the checkpoint goes
             * through the page cache, its errors SQLite's own. */
            struct stat st;
            sqlite3_int64 want = *(const sqlite3_int64 *)arg;
            if (fstat(d->x->fd, &st) != 0 ||
                (want > st.st_size &&
                 fallocate(d->x->fd, 0, st.st_size, (off_t)(want - st.st_size)) != 0))
                direct_end(d, NULL);
        }
    }
    return REAL(f)->pMethods->xFileControl(REAL(f), op, arg);
}
static int x_sector_size(sqlite3_file *f)
{
    return REAL(f)->pMethods->xSectorSize(REAL(f));
}
static int x_device_chars(sqlite3_file *f)
{
    return REAL(f)->pMethods->xDeviceCharacteristics(REAL(f));
}
static int x_shm_map(sqlite3_file *f, int pg, int sz, int extend, void volatile **pp)
{
    return REAL(f)->pMethods->xShmMap(REAL(f), pg, sz, extend, pp);
}
static int x_shm_lock(sqlite3_file *f, int off, int n, int flags)
{
    return REAL(f)->pMethods->xShmLock(REAL(f), off, n, flags);
}
static void x_shm_barrier(sqlite3_file *f)
{
    REAL(f)->pMethods->xShmBarrier(REAL(f));
}
static int x_shm_unmap(sqlite3_file *f, int del)
{
    return REAL(f)->pMethods->xShmUnmap(REAL(f), del);
}
static int x_fetch(sqlite3_file *f, sqlite3_int64 at, int n, void **pp)
{
    dfile *d = (dfile *)f;
    if (d->x && flush(d->x, 1) != SQLITE_OK) return SQLITE_IOERR_READ;
    return REAL(f)->pMethods->xFetch(REAL(f), at, n, pp);
}
static int x_unfetch(sqlite3_file *f, sqlite3_int64 at, void *p)
{
    return REAL(f)->pMethods->xUnfetch(REAL(f), at, p);
}

static int x_open(sqlite3_vfs *v, const char *name, sqlite3_file *f, int flags, int *out_flags)
{
    sqlite3_vfs *real_vfs = v->pAppData;
    dfile *d = (dfile *)f;
    memset(d, 0, sizeof *d);
    d->real = (sqlite3_file *)(d + 1);
    int rc = real_vfs->xOpen(real_vfs, name, d->real, flags, out_flags);
    const sqlite3_io_methods *m = d->real->pMethods;
    if (!m) return rc; /* nothing to close */
    /* Set even on failure: SQLite then calls xClose, which closes the real file. */
    f->pMethods = m->iVersion >= 3 ? &methods3 : m->iVersion == 2 ? &methods2 : &methods1;
    if (rc != SQLITE_OK) return rc;
    struct stat st;
    if ((flags & SQLITE_OPEN_MAIN_DB) && name && stat(name, &st) == 0) {
        d->main_db = 1;
        d->dev = st.st_dev;
        d->ino = st.st_ino;
    }
    return SQLITE_OK;
}

static void setup(void)
{
    sqlite3_vfs *real = sqlite3_vfs_find(NULL);
    if (!real || (size_t)real->szOsFile < sizeof(struct unix_head)) return;
    /* Every method but xOpen is the system's; none of them reads the VFS object it is given (the
     * system's xOpen does, and is called with its own). */
    vfs = *real;
    vfs.szOsFile = (int)sizeof(dfile) + real->szOsFile;
    vfs.pNext = NULL;
    vfs.zName = VFS_NAME;
    vfs.pAppData = real;
    vfs.xOpen = x_open;
    sqlite3_io_methods m = {
        .iVersion = 1,
        .xClose = x_close,
        .xRead = x_read,
        .xWrite = x_write,
        .xTruncate = x_truncate,
        .xSync = x_sync,
        .xFileSize = x_file_size,
        .xLock = x_lock,
        .xUnlock = x_unlock,
        .xCheckReservedLock = x_check_reserved,
        .xFileControl = x_file_control,
        .xSectorSize = x_sector_size,
        .xDeviceCharacteristics = x_device_chars,
    };
    methods1 = m;
    m.iVersion = 2;
    m.xShmMap = x_shm_map;
    m.xShmLock = x_shm_lock;
    m.xShmBarrier = x_shm_barrier;
    m.xShmUnmap = x_shm_unmap;
    methods2 = m;
    m.iVersion = 3;
    m.xFetch = x_fetch;
    m.xUnfetch = x_unfetch;
    methods3 = m;
    if (sqlite3_vfs_register(&vfs, 0) == SQLITE_OK) registered = VFS_NAME;
}

const char *tb__metavfs_name(void)
{
    pthread_once(&once, setup);
    return registered;
}

int tb__metavfs_direct(sqlite3_file *f, int on, uint64_t *written)
{
    if (written) *written = 0;
    if (!f || !registered ||
        (f->pMethods != &methods1 && f->pMethods != &methods2 && f->pMethods != &methods3))
        return SQLITE_OK;
    dfile *d = (dfile *)f;
    if (!on) return d->x ? direct_end(d, written) : SQLITE_OK;
    if (d->x || !d->main_db) return SQLITE_OK;
    const struct unix_head *u = (const struct unix_head *)d->real;
    struct stat st;
    sqlite3_int64 mmap = -1; /* a query: the connection's mapping limit, unchanged */
    if (x_file_control(f, SQLITE_FCNTL_MMAP_SIZE, &mmap) != SQLITE_OK || mmap != 0)
        return SQLITE_OK; /* mapped pages would not see writes that bypass the page cache */
    if (u->vfs != vfs.pAppData || u->h < 0 || fstat(u->h, &st) != 0 || st.st_dev != d->dev ||
        st.st_ino != d->ino)
        return SQLITE_OK; /* not the layout we know: the page cache it is */
    dmode *x = calloc(1, sizeof *x);
    if (!x) return SQLITE_OK;
    void *b0 = NULL, *b1 = NULL;
    if (posix_memalign(&b0, ALIGN, BLOCK) != 0 || posix_memalign(&b1, ALIGN, BLOCK) != 0) {
        free(b0);
        free(x);
        return SQLITE_OK;
    }
    x->blk[0] = b0;
    x->blk[1] = b1;
    x->fd = u->h;
    pthread_mutex_init(&x->mu, NULL);
    pthread_cond_init(&x->cv, NULL);
    if (pthread_create(&x->tid, NULL, writer, x) != 0) {
        pthread_mutex_destroy(&x->mu);
        pthread_cond_destroy(&x->cv);
        free(b0);
        free(b1);
        free(x);
        return SQLITE_OK;
    }
    d->x = x;
    return SQLITE_OK;
}
