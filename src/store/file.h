/* file.h — crash-safe file writes (temp file, fsync, rename, fsync the directory) and bounded
 * reads: the only way the library puts bytes on disk outside the meta store.
 *
 * Crash-safety contract: after tb__file_write_atomic or tb__afile_commit returns 0, the file at
 * `path` holds exactly the new bytes and survives a power cut; if the process or machine dies
 * earlier, `path` holds exactly the old bytes (or is still absent). A dead process may leave a
 * temp file named "<path>.tmp.<pid>.<n>" behind; it is never read and may be deleted.
 *
 * Errors: TB_EIO (the detail names the path and the errno text), TB_ENOENT for a missing file or
 * directory where one is needed, TB_ENOMEM, TB_ELIMIT (tb__file_read_all over its limit),
 * TB_EINVAL for bad arguments. Every function writes its detail to the `eb` it is given.
 * Thread-safety: the functions keep no global state and may be called from any thread; one
 * tb__afile belongs to one thread at a time. */
#ifndef TB_STORE_FILE_H
#define TB_STORE_FILE_H

#include <stddef.h>
#include <sys/types.h>

#include "common/err.h"

/* A file being written crash-safely in pieces. Embed it or put it on the stack; zero it (or call
 * tb__afile_open, which always initialises it) before anything else, so that tb__afile_abort is
 * safe in every cleanup path. Layout is private to file.c; read no field. */
typedef struct tb__afile {
    int fd;     /* the temp file, -1 when none is open */
    char *path; /* the final name (owned) */
    char *tmp;  /* the temp name in the same directory (owned) */
    char *dbuf; /* tb__afile_direct: the aligned block being filled (owned), else NULL */
    size_t dlen;
} tb__afile;

/* Writes `len` bytes of `data` to `path` so that a crash leaves either the old file or the new one
 * whole: write a temp file in the same directory with permission bits `mode` (under the umask),
 * fsync it, rename it over `path`, fsync the directory. Returns 0 or a TB_E* code; on failure the
 * temp file is removed and `path` is untouched, except when only the final directory fsync failed
 * (the rename has happened but may not be durable; the detail says so). */
int tb__file_write_atomic(const char *path, const void *data, size_t len, mode_t mode,
                          tb__errbuf *eb);

/* Starts a streaming crash-safe write of `path`: creates the temp file beside it with `mode`.
 * On success the caller must end with exactly one of tb__afile_commit or tb__afile_abort. On
 * failure `af` is left closed (abort is a harmless no-op). */
int tb__afile_open(tb__afile *af, const char *path, mode_t mode, tb__errbuf *eb);

/* Asks that the rest of the file bypass the page cache (O_DIRECT): for large files their writer
 * does not read back (a load's domain segments, snapshot columns and look-up image), whose copies
 * into the page cache, writeback and the eviction they force cost the kernel more CPU than the
 * disk write (on a virtual machine every fresh page-cache page is a fault on the host: writing
 * 3 GB took 5.9 s of CPU buffered, 0.1 s this way). Later readers read them from disk. Writes are
 * then gathered into aligned blocks of 4 MiB (a user-space copy) and the last partial block goes
 * through the page cache at the end. Where the file system refuses O_DIRECT, or a write is
 * refused later, the file is simply written through the page cache: the bytes and the
 * crash-safety contract are the same either way. Call right after tb__afile_open; returns 0 or
 * TB_ENOMEM. */
int tb__afile_direct(tb__afile *af, tb__errbuf *eb);

/* Appends `len` bytes (retrying short writes and EINTR). On failure the caller still owes
 * tb__afile_abort. */
int tb__afile_write(tb__afile *af, const void *data, size_t len, tb__errbuf *eb);

/* fsyncs and closes the temp file, renames it over the final path and fsyncs the directory. Ends
 * the write whether it succeeds or not: `af` is released either way (a failure before the rename
 * removes the temp file and leaves the old file intact). Calling tb__afile_abort afterwards is a
 * no-op, so cleanup code may call it unconditionally. */
int tb__afile_commit(tb__afile *af, tb__errbuf *eb);

/* Closes the temp file and renames it over the final path WITHOUT making either durable: for a
 * file that nothing trusts until its writer has synced it (tb__fsync_file) and its directory
 * (tb__fsync_dir) — the columns of a snapshot, which only its manifest, written last, makes
 * complete. Many files written in a row then reach the disk while the next ones are made, instead
 * of one fsync at a time. Ends the write as tb__afile_commit does (af released either way). */
int tb__afile_publish(tb__afile *af, tb__errbuf *eb);

/* Abandons the write: closes and unlinks the temp file, frees `af`'s memory; the final path is not
 * touched. A no-op on a zeroed, failed-to-open, committed or already aborted tb__afile. */
void tb__afile_abort(tb__afile *af);

/* fsyncs the file at `path` (what tb__afile_publish left to its writer). */
int tb__fsync_file(const char *path, tb__errbuf *eb);

/* fsyncs directory `dir` so that entries created, renamed or removed in it are durable. */
int tb__fsync_dir(const char *dir, tb__errbuf *eb);

/* write(2) until all `len` bytes are written: short writes and EINTR are normal on some file
 * systems and must never truncate a file silently. Returns 0 or an errno value (not a TB_E*
 * code: the caller names the path in its own message). */
int tb__write_full(int fd, const void *data, size_t len);

/* Like fsync_dir for the directory that contains `path` ("." for a bare file name). */
int tb__fsync_parent(const char *path, tb__errbuf *eb);

/* Creates directory `path` and any missing parents with `mode` (under the umask), like mkdir -p.
 * An existing directory is success; an existing non-directory is TB_EEXIST. Each directory it
 * creates is made durable by fsyncing its parent. */
int tb__mkdir_p(const char *path, mode_t mode, tb__errbuf *eb);

/* Reads the whole of `path`, refusing more than `maxbytes` (TB_ELIMIT, nothing returned) — the
 * explicit limit every reader of bytes from disk takes. On success *out is a NUL-terminated copy
 * (caller frees with free) and *outlen its length without the NUL; on failure *out is NULL and
 * *outlen 0. A missing file is TB_ENOENT. */
int tb__file_read_all(const char *path, size_t maxbytes, char **out, size_t *outlen,
                      tb__errbuf *eb);

/* Removes `path` and everything below it, like rm -rf, without following symbolic links; what
 * cannot be removed is logged as a warning and left. A missing path is not an error. */
void tb__rm_tree(const char *path);

#endif
