/* metavfs.h — the SQLite VFS the meta store opens its files with: the system's own (unix), with
 * one addition. While a checkpoint copies the write-ahead log into meta.db (tb__metavfs_direct on),
 * the pages it writes in a row are gathered into aligned blocks of 4 MiB and written past the page
 * cache (O_DIRECT). A load's checkpoint copies gigabytes of master data; through the page cache,
 * each fresh page of it is a fault on a virtual machine's host, and that copy was most of the
 * load's COMMIT (docs/storage.md, "Checkpoints past the page cache").
 *
 * Everything else (reads, locks, the WAL index, the journal and WAL files) is the unix VFS's own:
 * connections opened with it and without it share a database as any two SQLite connections do.
 * Thread-safety: as SQLite's; the direct mode belongs to the one connection that turned it on. */
#ifndef TB_STORE_METAVFS_H
#define TB_STORE_METAVFS_H

#include <sqlite3.h>
#include <stdint.h>

/* The VFS's name, registered (not as the default) on first call. Returns NULL when the system has
 * no default VFS or registration failed (then the meta store opens with SQLite's default). */
const char *tb__metavfs_name(void);

/* Turns gathering direct writes on (`on` 1) or off (0) for the main database file `f` (from
 * SQLITE_FCNTL_FILE_POINTER), around one checkpoint. On: starts a writer thread with two blocks of
 * 4 MiB, which writes through SQLite's own descriptor with O_DIRECT set for each write (where the
 * file system refuses the flag, the blocks go through the page cache); where `f` was not opened by
 * this VFS or the connection maps the file, nothing changes (returns 0: SQLite writes as usual).
 * While on, a write that fails past the page cache is made through it; the file's growth is
 * reserved when the checkpoint announces it (SQLITE_FCNTL_SIZE_HINT), so that no block written
 * after the last page finds the disk full; and the last blocks, written when SQLite says the copy
 * is done (and ignores what it is told), are written again through SQLite's xWrite if they failed.
 * Off: writes what is gathered and stops the thread; returns 0 or SQLITE_IOERR_WRITE when a block
 * could not be written either way (then pages a checkpoint cut short by a reader took for copied
 * may be missing from the file: the caller reports it). *written (may be NULL) gets the bytes
 * written past the page cache. */
int tb__metavfs_direct(sqlite3_file *f, int on, uint64_t *written);

#endif
