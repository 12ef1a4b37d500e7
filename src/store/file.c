/* file.c — crash-safe file writes (temp, fsync, rename, fsync the directory) and bounded reads,
 * the way Redis writes its rdb file; see file.h for the contract. */
#include <errno.h>
#include <ftw.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "store/file.h"

/* Distinguishes temp files of several writers in one process; the pid separates processes. */
static _Atomic unsigned long g_tmp_seq;

/* The directory part of `path` as a new string ("." for a bare name, "/" for "/x"), because
 * durability of a rename needs an fsync of exactly that directory. NULL when out of memory. */
static char *parent_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash) return strdup(".");
    while (slash > path && slash[-1] == '/')
        slash--; /* "a//b" -> "a" */
    if (slash == path) return strdup("/");
    return strndup(path, (size_t)(slash - path));
}

int tb__write_full(int fd, const void *data, size_t len)
{
    const char *p = data;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR) continue;
            return errno;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Maps an errno from opening a path to our codes: a missing file or directory is something the
 * caller may want to treat differently (TB_ENOENT); everything else is an I/O failure. */
static int code_for(int errnum)
{
    if (errnum == ENOENT) return TB_ENOENT;
    if (errnum == ENOMEM) return TB_ENOMEM;
    return TB_EIO;
}

int tb__fsync_dir(const char *dir, tb__errbuf *eb)
{
    /* O_RDONLY is enough for fsync on a directory on Linux and is what every durable store does. */
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return tb__seterr_errno(eb, code_for(errno), errno, "cannot open directory '%s'", dir);
    int rc = 0;
    if (fsync(fd) != 0 && errno != EINVAL) /* EINVAL: the file system cannot sync directories */
        rc = tb__seterr_errno(eb, TB_EIO, errno, "cannot fsync directory '%s'", dir);
    close(fd);
    return rc;
}

int tb__fsync_file(const char *path, tb__errbuf *eb)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return tb__seterr_errno(eb, code_for(errno), errno, "cannot open '%s'", path);
    int rc = 0;
    if (fsync(fd) != 0) rc = tb__seterr_errno(eb, TB_EIO, errno, "cannot fsync '%s'", path);
    close(fd);
    return rc;
}

int tb__fsync_parent(const char *path, tb__errbuf *eb)
{
    char *dir = parent_of(path);
    if (!dir) return tb__seterr(eb, TB_ENOMEM, "out of memory");
    int rc = tb__fsync_dir(dir, eb);
    free(dir);
    return rc;
}

int tb__afile_open(tb__afile *af, const char *path, mode_t mode, tb__errbuf *eb)
{
    af->fd = -1;
    af->path = NULL;
    af->tmp = NULL;
    af->dbuf = NULL;
    af->dlen = 0;
    if (!path || !*path) return tb__seterr(eb, TB_EINVAL, "empty file name");

    af->path = strdup(path);
    size_t cap = strlen(path) + 64;
    af->tmp = malloc(cap);
    if (!af->path || !af->tmp) {
        tb__afile_abort(af);
        return tb__seterr(eb, TB_ENOMEM, "out of memory");
    }
    /* O_EXCL so that we never write into somebody else's temp file; retry on the rare clash with
     * a leftover of a dead process that had our pid. */
    for (int attempt = 0; attempt < 100; attempt++) {
        unsigned long seq = atomic_fetch_add(&g_tmp_seq, 1);
        snprintf(af->tmp, cap, "%s.tmp.%ld.%lu", path, (long)getpid(), seq);
        af->fd = open(af->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
        if (af->fd >= 0) return 0;
        if (errno != EEXIST) break;
    }
    int errnum = errno;
    tb__seterr_errno(eb, code_for(errnum), errnum, "cannot create temp file for '%s'", path);
    tb__afile_abort(af);
    return eb->code;
}

#define DIRECT_BLOCK ((size_t)4 << 20) /* a multiple of every logical block size */

int tb__afile_direct(tb__afile *af, tb__errbuf *eb)
{
    if (af->fd < 0 || af->dbuf) return 0;
    void *p;
    if (posix_memalign(&p, 4096, DIRECT_BLOCK) != 0)
        return tb__seterr(eb, TB_ENOMEM, "out of memory");
    int fl = fcntl(af->fd, F_GETFL);
    if (fl < 0 || fcntl(af->fd, F_SETFL, fl | O_DIRECT) != 0) {
        free(p); /* not on this file system (tmpfs, some FUSE): the page cache it is */
        return 0;
    }
    af->dbuf = p;
    af->dlen = 0;
    return 0;
}

/* Leaves O_DIRECT: the rest of the file goes through the page cache. */
static void direct_off(tb__afile *af)
{
    int fl = fcntl(af->fd, F_GETFL);
    if (fl >= 0) fcntl(af->fd, F_SETFL, fl & ~O_DIRECT);
}

/* Writes the gathered block; an EINVAL (a file system that accepted the flag but not the write)
 * turns O_DIRECT off and writes it through the page cache instead. Returns 0 or an errno. */
static int direct_flush(tb__afile *af)
{
    const char *p = af->dbuf;
    size_t n = af->dlen;
    int direct = 1;
    while (n) {
        ssize_t k = write(af->fd, p, n);
        if (k < 0) {
            if (errno == EINTR) continue;
            if (errno == EINVAL && direct) {
                direct_off(af);
                direct = 0;
                continue;
            }
            return errno;
        }
        if ((size_t)k < n && direct) { /* the rest would start unaligned */
            direct_off(af);
            direct = 0;
        }
        p += k;
        n -= (size_t)k;
    }
    af->dlen = 0;
    if (!direct) { /* buffered from now on */
        free(af->dbuf);
        af->dbuf = NULL;
    }
    return 0;
}

int tb__afile_write(tb__afile *af, const void *data, size_t len, tb__errbuf *eb)
{
    if (af->fd < 0) return tb__seterr(eb, TB_EINVAL, "write to a file that is not open");
    const char *p = data;
    while (af->dbuf && len) {
        size_t k = DIRECT_BLOCK - af->dlen < len ? DIRECT_BLOCK - af->dlen : len;
        memcpy(af->dbuf + af->dlen, p, k);
        af->dlen += k;
        p += k;
        len -= k;
        if (af->dlen == DIRECT_BLOCK) {
            int errnum = direct_flush(af);
            if (errnum) return tb__seterr_errno(eb, TB_EIO, errnum, "cannot write '%s'", af->tmp);
        }
    }
    int errnum = len ? tb__write_full(af->fd, p, len) : 0;
    if (errnum) return tb__seterr_errno(eb, TB_EIO, errnum, "cannot write '%s'", af->tmp);
    return 0;
}

/* Ends a write: closes the temp file and renames it over the final path, made durable first
 * (`durable`: the file fsynced before the rename, its directory after) or left to the caller
 * (tb__afile_publish). Releases af either way. */
static int finish(tb__afile *af, int durable, tb__errbuf *eb)
{
    int rc = 0;
    if (af->fd < 0) {
        rc = tb__seterr(eb, TB_EINVAL, "%s of a file that is not open",
                        durable ? "commit" : "publish");
        goto out_abort;
    }
    if (af->dbuf) { /* the last partial block, through the page cache */
        direct_off(af);
        int errnum = af->dlen ? tb__write_full(af->fd, af->dbuf, af->dlen) : 0;
        free(af->dbuf);
        af->dbuf = NULL;
        if (errnum) {
            rc = tb__seterr_errno(eb, TB_EIO, errnum, "cannot write '%s'", af->tmp);
            goto out_abort;
        }
    }
    /* The data must be on disk before the rename makes it visible under the final name; otherwise
     * a power cut can leave the new name pointing at an empty or partial file. */
    if (durable && fsync(af->fd) != 0) {
        rc = tb__seterr_errno(eb, TB_EIO, errno, "cannot fsync '%s'", af->tmp);
        goto out_abort;
    }
    int fd = af->fd;
    af->fd = -1;
    if (close(fd) != 0) { /* NFS reports deferred write errors here */
        rc = tb__seterr_errno(eb, TB_EIO, errno, "cannot close '%s'", af->tmp);
        goto out_abort;
    }
    if (rename(af->tmp, af->path) != 0) {
        rc = tb__seterr_errno(eb, TB_EIO, errno, "cannot rename '%s' to '%s'", af->tmp, af->path);
        goto out_abort;
    }
    /* The rename is done: from here the temp name no longer exists and must not be unlinked. */
    free(af->tmp);
    af->tmp = NULL;
    if (durable && (rc = tb__fsync_parent(af->path, eb)) != 0) {
        char what[TB__ERRMSG_MAX];
        snprintf(what, sizeof what, "%s", eb->msg);
        tb__seterr(eb, rc, "'%s' was replaced but may not be durable: %s", af->path, what);
    }

out_abort:
    tb__afile_abort(af);
    return rc;
}

int tb__afile_commit(tb__afile *af, tb__errbuf *eb)
{
    return finish(af, 1, eb);
}

int tb__afile_publish(tb__afile *af, tb__errbuf *eb)
{
    return finish(af, 0, eb);
}

void tb__afile_abort(tb__afile *af)
{
    /* A zeroed tb__afile has fd 0 but no temp file: only an open write owns its descriptor (never
     * close the process's stdin from a cleanup path). */
    if (af->fd >= 0 && af->tmp) close(af->fd);
    af->fd = -1;
    if (af->tmp) unlink(af->tmp);
    free(af->tmp);
    free(af->path);
    free(af->dbuf);
    af->tmp = NULL;
    af->path = NULL;
    af->dbuf = NULL;
    af->dlen = 0;
}

int tb__file_write_atomic(const char *path, const void *data, size_t len, mode_t mode,
                          tb__errbuf *eb)
{
    tb__afile af;
    int rc = tb__afile_open(&af, path, mode, eb);
    if (rc) return rc;
    rc = tb__afile_write(&af, data, len, eb);
    if (rc) goto out_abort;
    return tb__afile_commit(&af, eb);

out_abort:
    tb__afile_abort(&af);
    return rc;
}

/* mkdir(2) of one component, made durable in its parent. EEXIST is fine for a directory and an
 * error for anything else, so that "mkdir -p a/file/b" fails with a clear message. */
static int mkdir_one(const char *path, mode_t mode, tb__errbuf *eb)
{
    if (mkdir(path, mode) == 0) return tb__fsync_parent(path, eb);
    int errnum = errno;
    if (errnum == EEXIST) {
        struct stat st;
        if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) return 0;
        return tb__seterr(eb, TB_EEXIST, "cannot create directory '%s': exists and is not one",
                          path);
    }
    return tb__seterr_errno(eb, code_for(errnum), errnum, "cannot create directory '%s'", path);
}

int tb__mkdir_p(const char *path, mode_t mode, tb__errbuf *eb)
{
    if (!path || !*path) return tb__seterr(eb, TB_EINVAL, "empty directory name");
    char *p = strdup(path);
    if (!p) return tb__seterr(eb, TB_ENOMEM, "out of memory");
    size_t n = strlen(p);
    while (n > 1 && p[n - 1] == '/')
        p[--n] = '\0';

    int rc = 0;
    /* Create each prefix in turn; the leading '/' of an absolute path is not a component. */
    for (char *s = p + 1; *s; s++) {
        if (*s != '/' || s[-1] == '/') continue;
        *s = '\0';
        rc = mkdir_one(p, mode, eb);
        *s = '/';
        if (rc) goto out_free;
    }
    rc = mkdir_one(p, mode, eb);

out_free:
    free(p);
    return rc;
}

int tb__file_read_all(const char *path, size_t maxbytes, char **out, size_t *outlen, tb__errbuf *eb)
{
    *out = NULL;
    *outlen = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return tb__seterr_errno(eb, code_for(errno), errno, "cannot open '%s'", path);

    int rc = 0;
    char *buf = NULL;
    struct stat st;
    if (fstat(fd, &st) != 0) {
        rc = tb__seterr_errno(eb, TB_EIO, errno, "cannot stat '%s'", path);
        goto out_close;
    }
    if (S_ISDIR(st.st_mode)) {
        rc = tb__seterr(eb, TB_EIO, "cannot read '%s': is a directory", path);
        goto out_close;
    }
    /* Refuse early when the size is known; keep counting anyway, because the file may grow while
     * we read and pipes or /proc files report size 0. */
    if (S_ISREG(st.st_mode) && (uint64_t)st.st_size > (uint64_t)maxbytes) {
        rc = tb__seterr(eb, TB_ELIMIT, "'%s' is %lld bytes, more than the limit of %zu", path,
                        (long long)st.st_size, maxbytes);
        goto out_close;
    }
    size_t hint = S_ISREG(st.st_mode) ? (size_t)st.st_size : 4096;
    size_t cap = (hint < maxbytes ? hint : maxbytes) + 1; /* +1: room for the NUL */
    size_t len = 0;
    buf = malloc(cap);
    if (!buf) {
        rc = tb__seterr(eb, TB_ENOMEM, "out of memory reading '%s'", path);
        goto out_close;
    }
    for (;;) {
        if (len == cap - 1) {
            if (len == maxbytes) {
                /* At the limit: the file is acceptable only if nothing follows. */
                char extra;
                ssize_t n = read(fd, &extra, 1);
                if (n < 0 && errno == EINTR) continue;
                if (n < 0) {
                    rc = tb__seterr_errno(eb, TB_EIO, errno, "cannot read '%s'", path);
                    goto out_close;
                }
                if (n > 0) {
                    rc = tb__seterr(eb, TB_ELIMIT, "'%s' is more than the limit of %zu bytes", path,
                                    maxbytes);
                    goto out_close;
                }
                break;
            }
            /* Double, at least 4 KiB, never past the limit; len < maxbytes here, so it grows. */
            size_t want = len > maxbytes / 2 ? maxbytes : 2 * len;
            if (want < 4096) want = 4096;
            if (want > maxbytes) want = maxbytes;
            char *nb = want < SIZE_MAX ? realloc(buf, want + 1) : NULL;
            if (!nb) {
                rc = tb__seterr(eb, TB_ENOMEM, "out of memory reading '%s'", path);
                goto out_close;
            }
            buf = nb;
            cap = want + 1;
        }
        ssize_t n = read(fd, buf + len, cap - 1 - len);
        if (n < 0) {
            if (errno == EINTR) continue;
            rc = tb__seterr_errno(eb, TB_EIO, errno, "cannot read '%s'", path);
            goto out_close;
        }
        if (n == 0) break;
        len += (size_t)n;
    }
    buf[len] = '\0';
    *out = buf;
    *outlen = len;
    buf = NULL;

out_close:
    free(buf);
    close(fd);
    return rc;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    int rc = flag == FTW_DP ? rmdir(path) : unlink(path);
    if (rc != 0 && errno != ENOENT)
        tb__log_warn("store", "cannot remove '%s': %s", path, strerror(errno));
    return 0;
}

void tb__rm_tree(const char *path)
{
    nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}
