/* mdx.h — the master-data look-up image: one immutable file per load with the look-ups of the
 * golden records that would otherwise be SQLite indexes (certificate, mobile, name, the keys of a
 * golden record), built in one sort instead of maintained row by row in B-trees.
 *
 * What it holds. For every party row of the meta store: the stored text of cert_no, mobile and
 * name (the blind index when C2 values are encrypted), and for every party_key row its system and
 * key, grouped by gid. Look-ups answer CANDIDATES: the meta store stays the truth, and a caller
 * checks each candidate gid against its row (a merge, an unmerge or an erasure since the image was
 * written changes the rows, never the image). docs/identity.md, "The look-up image", says why and
 * how the candidates stay a superset of the answer.
 *
 * Format (little-endian): a 64-byte header ("TBMDX001", version, section count,
 * nparty, nsys, load id, CRC-32C of the body, CRC-32C of header and section table), a table of
 * TB__MDX_NSEC (offset, length) pairs, then the sections, each 8-byte aligned:
 *   SYS     nsys names of 32 bytes, NUL-padded: the source systems keys belong to
 *   CERT    {u64 h, u32 gid, u32 0} sorted by (h, gid); h = XXH3-64 (seed 0) of the stored text
 *   MOBILE  the same for mobile
 *   NAME    {u32 off, u32 len, u32 gid} into HEAP, sorted by (bytes, gid): exact and prefix
 *   KFIRST  u32 per gid 0..nparty: where a gid's keys start in KENT (nparty + 1 entries)
 *   KENT    {u32 off, u16 len, u8 sys, u8 0} into HEAP, per gid core first, then by system, key
 *   HEAP    bytes
 * An image is opened by mmap and checked on open (header CRC, magic, version, every section inside
 * the file and of a whole number of entries); every read is bounds-checked as it happens, so a
 * damaged body gives TB_ECORRUPT, never a read outside the file. tb__mdx_verify checks the body's
 * CRC as well (tagbase check).
 *
 * Ownership: a builder is created by tb__mdx_builder_create and freed (caller frees) with
 * tb__mdx_builder_free; an image is opened by tb__mdx_open / tb__mdx_from_bytes and closed with
 * tb__mdx_close. Everything returned from an image (key text) is borrowed from it.
 * Errors: 0 or a negative TB_E*, the detail in the tb__errbuf given. Thread-safety: a builder
 * belongs to one thread; an open image is read-only and may be read from any number of threads. */
#ifndef TB_STORE_MDX_H
#define TB_STORE_MDX_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "tagbase.h"

typedef enum tb__mdx_field {
    TB__MDX_CERT,   /* party.cert_no */
    TB__MDX_MOBILE, /* party.mobile */
    TB__MDX_NAME,   /* party.name */
} tb__mdx_field;

#define TB__MDX_MAX_SYSTEMS 64
#define TB__MDX_SYSTEM_LEN  32 /* a system name's bytes, NUL included */

typedef struct tb__mdx_builder tb__mdx_builder;
typedef struct tb__mdx tb__mdx;

/* ---- building -------------------------------------------------------------------------------- */

/* A builder for an image of gids 0..nparty-1 made by load `load_id`. TB_ENOMEM. */
int tb__mdx_builder_create(uint32_t nparty, int64_t load_id, tb__mdx_builder **out);
void tb__mdx_builder_free(tb__mdx_builder *b);

/* The index of source system `name` in the image, added when new. TB_ELIMIT past
 * TB__MDX_MAX_SYSTEMS systems, TB_EINVAL for a name of TB__MDX_SYSTEM_LEN bytes or more. */
int tb__mdx_builder_system(tb__mdx_builder *b, const char *name, uint8_t *idx, tb__errbuf *eb);

/* Adds the stored value `v` (n bytes) of field `f` of party `gid`. TB_EINVAL for a gid outside
 * the image, TB_ENOMEM. */
int tb__mdx_put(tb__mdx_builder *b, tb__mdx_field f, uint32_t gid, const char *v, size_t n,
                tb__errbuf *eb);

/* Adds key `key` (n bytes, under 64 KiB) of system `sys` (tb__mdx_builder_system) to party
 * `gid`. TB_EINVAL, TB_ENOMEM. */
int tb__mdx_put_key(tb__mdx_builder *b, uint32_t gid, uint8_t sys, const char *key, size_t n,
                    tb__errbuf *eb);

/* Sorts what was put and writes the image to `path` crash-safely (temp file, fsync, rename,
 * directory fsync; file.h). The builder may only be freed afterwards. TB_EIO, TB_ENOMEM. */
int tb__mdx_builder_write(tb__mdx_builder *b, const char *path, tb__errbuf *eb);

/* Sorts what was put and returns the image in memory instead (caller closes it with
 * tb__mdx_close). TB_ENOMEM. */
int tb__mdx_builder_image(tb__mdx_builder *b, tb__mdx **out, tb__errbuf *eb);

/* ---- reading --------------------------------------------------------------------------------- */

/* Maps the image file at `path` and checks its header. TB_ENOENT when absent, TB_ECORRUPT, TB_EIO.
 */
int tb__mdx_open(const char *path, tb__mdx **out, tb__errbuf *eb);

/* Checks and wraps `len` bytes at `p` as an image; `p` is borrowed and must outlive it (the
 * fuzzer's entry point). TB_ECORRUPT, TB_ENOMEM. */
int tb__mdx_from_bytes(const void *p, size_t len, tb__mdx **out, tb__errbuf *eb);

void tb__mdx_close(tb__mdx *m);

/* Checks the body's CRC-32C. TB_ECORRUPT. */
int tb__mdx_verify(const tb__mdx *m, tb__errbuf *eb);

uint32_t tb__mdx_nparty(const tb__mdx *m);
int64_t tb__mdx_load_id(const tb__mdx *m);

/* The gids whose field `f` was stored as `v` (n bytes): up to `cap` of them into gids (NAME in
 * gid order; CERT and MOBILE in gid order within a hash); *found counts all matches, also those
 * beyond cap. Hash collisions make a CERT or MOBILE match a candidate only. TB_ECORRUPT. */
int tb__mdx_lookup(const tb__mdx *m, tb__mdx_field f, const char *v, size_t n, uint32_t *gids,
                   size_t cap, size_t *found, tb__errbuf *eb);

/* The gids whose name starts with q (n bytes) but is longer, in name order: up to cap into gids,
 * *got of them. TB_ECORRUPT. */
int tb__mdx_prefix(const tb__mdx *m, const char *q, size_t n, uint32_t *gids, size_t cap,
                   size_t *got, tb__errbuf *eb);

/* One key of a golden record: system name and key bytes, borrowed from the image. */
typedef struct tb__mdx_key {
    const char *system;
    const char *key;
    size_t len;
} tb__mdx_key;

/* The keys party `gid` had when the image was written, core system first, then by system and
 * key: the first `cap` into keys, *n of them all (may exceed cap; 0 for a gid outside the image).
 * TB_ECORRUPT. */
int tb__mdx_keys(const tb__mdx *m, uint32_t gid, tb__mdx_key *keys, size_t cap, size_t *n,
                 tb__errbuf *eb);

/* ---- the data directory's current image, on a handle ------------------------------------------
 * The meta store's md_image row names the current image file (relative to the data directory); a
 * load records its new one inside its transaction, so a crash leaves the previous image current.
 * Errors on the handle. Not thread-safe: one handle, one thread (meta.h). */

/* The current image, kept open on the handle (reopened when a load has replaced it), or the
 * in-memory one tb__mdx_adopt gave it while the store is unchanged since. *out is borrowed until
 * the next call with the handle. TB_ENOENT: none (a store from before images, one whose image a key
 * rotation dropped, or a missing file): the caller rebuilds it (identity_md.c). */
int tb__mdx_current(tb_db *db, const tb__mdx **out);

/* Keeps `m` (taken, also on failure) on the handle: as the image of `file` (what md_image names),
 * or, with file NULL, as an in-memory image valid until another connection changes the store.
 * TB_ENOMEM. */
int tb__mdx_adopt(tb_db *db, tb__mdx *m, const char *file);

/* Inside the caller's transaction: `file` becomes the current image (tb__mdx_drop: none is). */
int tb__mdx_record(tb_db *db, const char *file, int64_t load_id);
int tb__mdx_drop(tb_db *db);

/* A fresh file name for an image of load `load_id`: *rel relative to the data directory
 * ("master/LOAD-PID-N.mdx", never a name in use), *abs absolute, its directory created. Caller
 * frees both with free. TB_ENOMEM, TB_EIO. */
int tb__mdx_new_path(tb_db *db, int64_t load_id, char **rel, char **abs);

/* Removes the image files in master/ other than the current one (left by earlier loads, or by a
 * load that died before its commit). Failures are logged, not returned. */
void tb__mdx_prune(tb_db *db);

/* Puts every party's stored cert_no, mobile and name and every key of the meta store into `b`
 * (an encrypted store's columns hold blind indexes: what its look-ups compare). TB_ESTORE,
 * TB_ENOMEM, TB_ELIMIT. */
int tb__mdx_put_store(tb_db *db, tb__mdx_builder *b);

/* Builds the image from the meta store's rows: written and recorded as current when the handle
 * may write (in the caller's transaction, if one is open), kept in memory on a read-only handle
 * (tb__mdx_adopt). For a store without a current image: one from before images, one after a key
 * rotation, one whose file is missing. */
int tb__mdx_rebuild(tb_db *db);

/* tagbase check: the current image opened from its file and its body's checksum verified.
 * Returns 1 when it is whole, 0 when the store names none, -1 with `msg` (cap bytes) saying what
 * is wrong. */
int tb__mdx_check(tb_db *db, char *msg, size_t cap);

/* Closes the handle's image (tb__meta_close; and after a change that makes it stale). */
void tb__mdx_forget(tb_db *db);

#endif
