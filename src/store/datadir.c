/* datadir.c — the data directory: opening and creating it, its version stamp (tagbase.version)
 * and its writer lock (LOCK); the meta store inside it is meta.c's. */
#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "store/crypt.h"
#include "store/file.h"
#include "store/mdx.h"
#include "store/store_int.h"

/* Permission bits (under the umask): the directory holds customer data, so no access for
 * "other"; the group may read, for backup and audit accounts. */
#define DIR_MODE  0750
#define FILE_MODE 0640

#define STAMP_PREFIX "tagbase-data "
#define STAMP_MAX    64 /* bytes: the stamp is one short line; anything longer is not ours */

/* How often and how long a writer retries a lock that is busy: a read-only handle probing the
 * lock for tb_db_get_info holds it for microseconds, and must not make a writer fail. */
#define LOCK_TRIES    5
#define LOCK_RETRY_NS (10 * 1000 * 1000)

const char *tb_default_data_dir(void)
{
    const char *env = getenv("TAGBASE_DATA");
    return env && *env ? env : "./tagbase-data";
}

char *tb__db_join(const tb_db *db, const char *name)
{
    size_t n = strlen(db->path) + 1 + strlen(name) + 1;
    char *p = malloc(n);
    if (p) snprintf(p, n, "%s/%s", db->path, name);
    return p;
}

/* The stamp says which on-disk format the directory has. Returns 0 with *version set (0 when
 * there is no stamp), or TB_ECORRUPT / TB_EIO with a detail. Strict parsing: a
 * stamp we cannot read exactly is not one we can trust. */
static int read_stamp(tb_db *db, int *version)
{
    *version = 0;
    char *path = tb__db_join(db, TB__STAMP_FILE);
    if (!path) return tb__seterr(&db->err, TB_ENOMEM, "out of memory");
    char *text = NULL;
    size_t len = 0;
    int rc = tb__file_read_all(path, STAMP_MAX, &text, &len, &db->err);
    if (rc == TB_ENOENT) { /* no stamp: the caller decides what an unstamped directory means */
        tb__clearerr(&db->err);
        rc = 0;
        goto out_free;
    }
    if (rc == TB_ELIMIT) {
        rc = tb__seterr(&db->err, TB_ECORRUPT, "'%s' is not a tagbase version stamp", path);
        goto out_free;
    }
    if (rc) goto out_free;

    long v = 0;
    int digits = 0;
    if (len < strlen(STAMP_PREFIX) || memcmp(text, STAMP_PREFIX, strlen(STAMP_PREFIX)) != 0)
        goto out_bad;
    const char *p = text + strlen(STAMP_PREFIX); /* inside the text: checked just above */
    for (; *p >= '0' && *p <= '9' && digits < 9; p++, digits++)
        v = v * 10 + (*p - '0');
    if (*p == '\n') p++;
    if (digits == 0 || v < 1 || p != text + len) goto out_bad;
    *version = (int)v;
    goto out_free;

out_bad:
    rc = tb__seterr(&db->err, TB_ECORRUPT, "'%s' is not a tagbase version stamp", path);
out_free:
    free(text);
    free(path);
    return rc;
}

/* Whether the directory holds anything but what a creation that died half-way leaves (LOCK and
 * temp files of the stamp): such a directory may still be initialised. */
static int dir_is_empty(tb_db *db, int *empty)
{
    *empty = 1;
    DIR *d = opendir(db->path);
    if (!d)
        return tb__seterr_errno(&db->err, TB_EIO, errno, "cannot read directory '%s'", db->path);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        const char *n = e->d_name;
        if (strcmp(n, ".") == 0 || strcmp(n, "..") == 0 || strcmp(n, TB__LOCK_FILE) == 0) continue;
        if (strncmp(n, TB__STAMP_FILE ".tmp.", strlen(TB__STAMP_FILE ".tmp.")) == 0) continue;
        *empty = 0;
        break;
    }
    closedir(d);
    return 0;
}

/* Checks the stamp against this binary. Sets *stamped to 1 when there is a usable stamp; 0 when
 * the directory is empty and may be initialised. A non-empty directory without a stamp is refused:
 * it is someone else's directory or a format before stamps, and writing into it could destroy
 * data we do not understand. */
static int inspect(tb_db *db, int *stamped)
{
    *stamped = 0;
    int v;
    int rc = read_stamp(db, &v);
    if (rc == 0 && v == 0) {
        int empty;
        rc = dir_is_empty(db, &empty);
        if (rc) return rc;
        if (!empty)
            return tb__seterr(&db->err, TB_EVERSION,
                              "data directory '%s' has no version stamp '%s' but is not empty: "
                              "not a tagbase data directory, or of an unknown format",
                              db->path, TB__STAMP_FILE);
        return 0;
    }
    if (rc) return rc;
    if (v > TB__FORMAT_VERSION)
        return tb__seterr(&db->err, TB_EVERSION,
                          "data directory '%s' has format version %d; this tagbase %s reads up "
                          "to %d: upgrade tagbase",
                          db->path, v, TB_VERSION_STRING, TB__FORMAT_VERSION);
    /* Older formats would be upgraded here, under the lock; format 1 is the first. */
    db->format = v;
    *stamped = 1;
    return 0;
}

/* The pid the lock holder wrote into LOCK, or 0 when there is none we can read (the holder may
 * be another tool, such as flock(1), or a tagbase that is still starting). */
static long read_lock_pid(int fd)
{
    char buf[32];
    ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
    if (n <= 0) return 0;
    buf[n] = '\0';
    char *end;
    long pid = strtol(buf, &end, 10);
    if (end == buf || (*end != '\n' && *end != '\0') || pid <= 0) return 0;
    return pid;
}

/* Takes the writer lock: flock(2) LOCK_EX on LOCK, held until tb_db_close. flock rather than
 * fcntl locks because flock belongs to the open file description: a second handle in the same
 * process conflicts like another process does, and closing some other descriptor of the file
 * (as SQLite does with its own files) cannot drop it. The kernel releases it when the process
 * dies, so a crash never leaves a stale lock; the pid inside is only for messages. */
static int take_lock(tb_db *db)
{
    char *path = tb__db_join(db, TB__LOCK_FILE);
    if (!path) return tb__seterr(&db->err, TB_ENOMEM, "out of memory");
    int rc = 0;
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, FILE_MODE);
    if (fd < 0) {
        rc = tb__seterr_errno(&db->err, TB_EIO, errno, "cannot open lock file '%s'", path);
        goto out_free;
    }
    for (int tries = 0;; tries++) {
        if (flock(fd, LOCK_EX | LOCK_NB) == 0) break;
        if (errno == EINTR) continue;
        if (errno != EWOULDBLOCK) {
            rc = tb__seterr_errno(&db->err, TB_EIO, errno, "cannot lock '%s'", path);
            goto out_close;
        }
        if (tries + 1 >= LOCK_TRIES) {
            long pid = read_lock_pid(fd);
            if (pid > 0)
                rc = tb__seterr(&db->err, TB_EBUSY, "data directory '%s' is locked by pid %ld",
                                db->path, pid);
            else
                rc = tb__seterr(&db->err, TB_EBUSY,
                                "data directory '%s' is locked by another process", db->path);
            goto out_close;
        }
        struct timespec ts = {0, LOCK_RETRY_NS};
        nanosleep(&ts, NULL);
    }
    char line[32];
    int n = snprintf(line, sizeof line, "%ld\n", (long)getpid());
    ssize_t w = -1; /* stays -1 when ftruncate fails: then errno says why */
    if (ftruncate(fd, 0) != 0 || (w = pwrite(fd, line, (size_t)n, 0)) != n) {
        /* A short write sets no errno: report it as the full disk it almost always is. */
        rc = tb__seterr_errno(&db->err, TB_EIO, w >= 0 ? ENOSPC : errno,
                              "cannot write lock file '%s'", path);
        goto out_close;
    }
    db->lock_fd = fd;
    goto out_free;

out_close:
    close(fd);
out_free:
    free(path);
    return rc;
}

/* Empties LOCK (so a reader never shows a pid that no longer holds it) and drops the lock. */
static void release_lock(tb_db *db)
{
    if (db->lock_fd < 0) return;
    if (ftruncate(db->lock_fd, 0) != 0)
        tb__log_warn("store", "cannot empty lock file of '%s': %s", db->path, strerror(errno));
    close(db->lock_fd); /* closing the only descriptor of the description releases the flock */
    db->lock_fd = -1;
}

/* Writes the stamp of a new directory. It is written before the meta store, so that a directory
 * holding anything of ours always has a stamp, and atomically, so that it is never half there. */
static int write_stamp(tb_db *db)
{
    char *path = tb__db_join(db, TB__STAMP_FILE);
    if (!path) return tb__seterr(&db->err, TB_ENOMEM, "out of memory");
    char text[STAMP_MAX];
    int n = snprintf(text, sizeof text, STAMP_PREFIX "%d\n", TB__FORMAT_VERSION);
    int rc = tb__file_write_atomic(path, text, (size_t)n, FILE_MODE, &db->err);
    free(path);
    if (rc == 0) {
        db->format = TB__FORMAT_VERSION;
        db->actions |= TB_DB_CREATED;
    }
    return rc;
}

/* Makes sure meta.db exists before SQLite opens it: a reader or a writer without CREATE must not
 * conjure an empty store where one was lost; a creator makes the file itself so that it (and the
 * -wal and -shm files SQLite derives from it) get our permission bits rather than SQLite's 0644. */
static int prepare_meta_file(tb_db *db, int create, int *fresh)
{
    *fresh = 0;
    char *path = tb__db_join(db, TB__META_FILE);
    if (!path) return tb__seterr(&db->err, TB_ENOMEM, "out of memory");
    int rc = 0;
    struct stat st;
    if (stat(path, &st) == 0) goto out_free;
    if (errno != ENOENT) {
        rc = tb__seterr_errno(&db->err, TB_EIO, errno, "cannot stat '%s'", path);
        goto out_free;
    }
    if (!create) {
        rc = tb__seterr(&db->err, TB_ENOENT, "meta store '%s' is missing", path);
        goto out_free;
    }
    int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, FILE_MODE);
    if (fd < 0) {
        rc = tb__seterr_errno(&db->err, TB_EIO, errno, "cannot create '%s'", path);
        goto out_free;
    }
    close(fd);
    *fresh = 1;

out_free:
    free(path);
    return rc;
}

/* The body of tb_db_open, with every error recorded on the (partly built) handle. */
static int open_dir(tb_db *db)
{
    int writer = !(db->flags & TB_OPEN_READONLY);
    int create = writer && (db->flags & TB_OPEN_CREATE);
    int rc, stamped, fresh;

    struct stat st;
    if (stat(db->path, &st) != 0) {
        if (errno != ENOENT)
            return tb__seterr_errno(&db->err, TB_EIO, errno, "cannot stat data directory '%s'",
                                    db->path);
        if (!create)
            return tb__seterr(&db->err, TB_ENOENT, "data directory '%s' does not exist", db->path);
        rc = tb__mkdir_p(db->path, DIR_MODE, &db->err);
        if (rc) return rc;
    } else if (!S_ISDIR(st.st_mode)) {
        return tb__seterr(&db->err, TB_EINVAL, "data directory '%s' is not a directory", db->path);
    }

    /* Inspect before locking so that we never drop a LOCK file into a directory that is not
     * ours; inspect again under the lock, where nobody can be creating it at the same time. */
    rc = inspect(db, &stamped);
    if (rc) return rc;
    if (!stamped && !create)
        return tb__seterr(&db->err, TB_ENOENT, "data directory '%s' is empty (not initialised)",
                          db->path);
    if (writer) {
        rc = take_lock(db);
        if (rc) return rc;
        rc = inspect(db, &stamped);
        if (rc) return rc;
        if (!stamped) {
            rc = write_stamp(db);
            if (rc) return rc;
        }
    }

    rc = prepare_meta_file(db, create, &fresh);
    if (rc) return rc;
    rc = tb__meta_open(db, create);
    if (rc) return rc;
    rc = tb__c2_attach(db); /* a wrong or missing key file is refused before any engine runs */
    if (rc) return rc;
    /* Migration 12 dropped the master-data look-up indexes: the look-up image replaces them now,
     * not at every read-only search after (docs/identity.md, "The look-up image"). */
    if ((db->actions & TB_DB_MIGRATED) && db->schema_open > 0 && db->schema_open < 12 &&
        tb__mdx_rebuild(db) != 0) {
        tb__log_warn("store", "cannot build the master-data look-up image now (%s): on first use",
                     db->err.msg);
        tb__clearerr(&db->err);
    }
    if (fresh) return tb__fsync_dir(db->path, &db->err); /* the new meta.db's directory entry */
    return 0;
}

int tb_db_open(const char *dir, unsigned flags, tb_db **out, char *errbuf, size_t errlen)
{
    tb__errbuf eb;
    tb__clearerr(&eb);
    if (out) *out = NULL;
    if (!out || !dir || !*dir || (flags & ~(unsigned)(TB_OPEN_READONLY | TB_OPEN_CREATE))) {
        tb__seterr(&eb, TB_EINVAL, "tb_db_open: bad arguments");
        tb__copyerr(&eb, errbuf, errlen);
        return TB_EINVAL;
    }

    tb_db *db = calloc(1, sizeof *db);
    if (!db) {
        tb__seterr(&eb, TB_ENOMEM, "out of memory");
        tb__copyerr(&eb, errbuf, errlen);
        return TB_ENOMEM;
    }
    db->lock_fd = -1;
    db->flags = flags;
    db->path = strdup(dir);
    if (!db->path) {
        tb__seterr(&db->err, TB_ENOMEM, "out of memory");
        goto out_fail;
    }
    /* "x/" and "x" are the same directory; keep messages and joined paths tidy. */
    for (size_t n = strlen(db->path); n > 1 && db->path[n - 1] == '/'; n--)
        db->path[n - 1] = '\0';

    if (open_dir(db) != 0) goto out_fail;
    tb__clearerr(&db->err);
    *out = db;
    return 0;

out_fail:;
    int rc = db->err.code ? db->err.code : TB_ERR;
    tb__copyerr(&db->err, errbuf, errlen);
    tb_db_close(db);
    return rc;
}

void tb_db_close(tb_db *db)
{
    if (!db) return;
    tb__meta_close(db); /* before the lock: nobody may write the store once we let go */
    tb__c2_detach(db);
    release_lock(db);
    free(db->path);
    free(db);
}

const char *tb_errmsg(const tb_db *db)
{
    return db ? db->err.msg : "";
}

const char *tb_db_path(const tb_db *db)
{
    return db->path;
}

/* Whether some writer holds LOCK, seen from a handle that holds no lock: try a shared lock and
 * let go at once. Writers retry for a moment (take_lock), so this probe never makes one fail. */
static int probe_lock(tb_db *db, int *held, long *pid)
{
    *held = 0;
    *pid = 0;
    char *path = tb__db_join(db, TB__LOCK_FILE);
    if (!path) return tb__seterr(&db->err, TB_ENOMEM, "out of memory");
    int rc = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno != ENOENT) /* no LOCK file: never opened by a writer, so nobody holds it */
            rc = tb__seterr_errno(&db->err, TB_EIO, errno, "cannot open lock file '%s'", path);
        goto out_free;
    }
    int r;
    while ((r = flock(fd, LOCK_SH | LOCK_NB)) != 0 && errno == EINTR) {
    }
    if (r == 0) {
        /* nobody holds it; close() below lets go of our shared lock */
    } else if (errno == EWOULDBLOCK) {
        *held = 1;
        *pid = read_lock_pid(fd);
    } else {
        rc = tb__seterr_errno(&db->err, TB_EIO, errno, "cannot probe lock '%s'", path);
    }
    close(fd);
out_free:
    free(path);
    return rc;
}

int tb_db_get_info(tb_db *db, tb_db_info *out)
{
    tb__clearerr(&db->err);
    memset(out, 0, sizeof *out);
    out->format_version = db->format;
    out->schema_at_open = db->schema_open;
    out->actions = db->actions;
    out->readonly = (db->flags & TB_OPEN_READONLY) != 0;
    int rc = tb_db_schema_version(db, &out->schema_version);
    if (rc) return rc;
    if (db->lock_fd >= 0) {
        out->lock_held = 1;
        out->lock_pid = (long)getpid();
        return 0;
    }
    return probe_lock(db, &out->lock_held, &out->lock_pid);
}
