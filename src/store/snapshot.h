/* snapshot.h — profile snapshots: one immutable directory per batch date, one row per customer
 * indexed by the dense internal id (gid 0..nrows-1), one memory-mapped file per column.
 *
 * The on-disk format and the crash-safety argument are in docs/snapshot.md. In short: the writer
 * creates a new directory, writes each column file crash-safely (temp, fsync, rename), and writes
 * manifest.json LAST; the manifest is the commit point. A directory without a manifest is an
 * incomplete snapshot that tb__snap_open refuses.
 *
 * Types and their NULLs (a column has no separate NULL bitmap: one value is reserved):
 *   TB__SNAP_I64   int64_t   NULL is INT64_MIN  (TB__SNAP_NULL_I64)
 *   TB__SNAP_I32   int32_t   NULL is INT32_MIN  (TB__SNAP_NULL_I32)
 *   TB__SNAP_U8    uint8_t   NULL is 0xFF       (TB__SNAP_NULL_U8)
 *   TB__SNAP_DICT  uint32_t  codes into a per-column string dictionary; code 0 is NULL and
 *                            dictionary entry 0 is unused (always the empty string)
 * Values are stored little-endian; the library builds only on little-endian hosts, so a mapped
 * column is used in place, without decoding.
 *
 * Ownership, stated once for the whole module:
 *  - All pointers passed in are borrowed; the writer copies names and metadata it keeps and writes
 *    values to disk before the put call returns (the caller may free them at once).
 *  - A tb__snap_writer is created by tb__snap_writer_open and released by exactly one of
 *    tb__snap_writer_commit or tb__snap_writer_abort, whatever they return.
 *  - A tb__snap is created by tb__snap_open (caller frees with tb__snap_close). Everything it hands
 *    out (column values, dictionary strings, names, metadata text) is borrowed from it and stays
 *    valid until tb__snap_close. Strings from the dictionary are NOT NUL-terminated: use the
 * length.
 *  - On failure, out-parameters are set to NULL/zero and nothing is owed.
 *
 * Errors: 0 or a negative TB_E* code, with a detail naming the file, the byte offset and what
 * differs ("'d/age.col' byte 16: nrows is 5, manifest says 6"): TB_ECORRUPT (bad magic, checksum,
 * size, offset, manifest), TB_ENOENT (no such directory, no manifest: an incomplete snapshot, no
 * such column), TB_EEXIST (writer's directory exists), TB_EVERSION (a newer format), TB_ELIMIT
 * (manifest too large, too many columns), TB_EINVAL (bad arguments), TB_EIO, TB_ENOMEM.
 *
 * Thread-safety: a writer belongs to one thread. An open tb__snap is immutable: any number of
 * threads may read it concurrently (all the accessors below are read-only), but tb__snap_close
 * must not race with them. The files must not be modified or truncated while mapped (a truncated
 * mapped file raises SIGBUS on access; snapshots are immutable by design, and only
 * tb__snap_verify, not the accessors, touches every page).
 */
#ifndef TB_STORE_SNAPSHOT_H
#define TB_STORE_SNAPSHOT_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "store/crypt.h"

#define TB__SNAP_FORMAT_VERSION 1
#define TB__SNAP_MANIFEST       "manifest.json"
#define TB__SNAP_MANIFEST_MAX   ((size_t)16 << 20) /* bytes of manifest.json tb__snap_open reads */
#define TB__SNAP_MAX_COLUMNS    4096
#define TB__SNAP_NAME_MAX       64 /* column names: 1..64 of [A-Za-z0-9_], unique */
#define TB__SNAP_HEADER_SIZE    64 /* bytes before the values in every column file */

#define TB__SNAP_NULL_I64  INT64_MIN
#define TB__SNAP_NULL_I32  INT32_MIN
#define TB__SNAP_NULL_U8   0xFF
#define TB__SNAP_NULL_DICT 0u

typedef enum tb__snap_type {
    TB__SNAP_I64 = 1,
    TB__SNAP_I32 = 2,
    TB__SNAP_U8 = 3,
    TB__SNAP_DICT = 4,
} tb__snap_type;

/* "i64", "i32", "u8", "dict", or "?" for anything else. Static storage. */
const char *tb__snap_type_name(tb__snap_type t);

/* ---------------------------------------------------------------------------------------------
 * Writing
 */

typedef struct tb__snap_writer tb__snap_writer;

/* Creates directory `dir` (it must not exist; its parent must) for a snapshot of `nrows` rows
 * (0 allowed). On success *out is the writer (released by commit or abort). Errors: TB_EEXIST,
 * TB_ENOENT (no parent), TB_EINVAL (nrows above 2^40), TB_EIO, TB_ENOMEM; detail in `eb`. */
int tb__snap_writer_open(const char *dir, uint64_t nrows, tb__snap_writer **out, tb__errbuf *eb);

/* Add one column of nrows values each: written to "<dir>/<name>.col" (crash-safely) before the call
 * returns. `meta_json` is an optional JSON object text (classification, lineage), stored verbatim
 * as an object in the manifest; NULL for none. Errors (detail in tb__snap_writer_errmsg):
 * TB_EINVAL (a bad or duplicate name, meta_json not a JSON object, NULL vals with nrows > 0),
 * TB_ELIMIT (too many columns), TB_EIO, TB_ENOMEM. A failed put adds no column and leaves the
 * writer usable. */
int tb__snap_put_i64(tb__snap_writer *w, const char *name, const int64_t *vals,
                     const char *meta_json);
int tb__snap_put_i32(tb__snap_writer *w, const char *name, const int32_t *vals,
                     const char *meta_json);
int tb__snap_put_u8(tb__snap_writer *w, const char *name, const uint8_t *vals,
                    const char *meta_json);

/* A string column, dictionary-encoded: `codes` (nrows of them) index `dict`; code 0 is NULL and
 * dict[0] is ignored (may be NULL). dict[i] for 1 <= i < ndict holds dict_len[i] bytes (any
 * bytes; UTF-8 expected). ndict >= 1; every code must be < ndict (TB_EINVAL otherwise).
 * Duplicate dictionary entries are allowed and kept. */
int tb__snap_put_dict(tb__snap_writer *w, const char *name, const uint32_t *codes,
                      const char *const *dict, const uint32_t *dict_len, uint32_t ndict,
                      const char *meta_json);

/* From now on, columns whose metadata has "pi_class": "C2" are written sealed under `key`
 * (borrowed for the writer's life; NULL: clear). Call it right after open. A sealed column file is
 * a sealed stream (crypt.h, "whole files sealed") of exactly the bytes the clear file would hold;
 * the manifest keeps the plaintext size and checksum either way. */
void tb__snap_writer_seal(tb__snap_writer *w, const tb__c2key *key);

/* The detail of the writer's last failed put ("" if none). Borrowed, valid until the next call. */
const char *tb__snap_writer_errmsg(const tb__snap_writer *w);

/* Makes the snapshot durable and complete: writes manifest.json (format version, nrows, the
 * optional `snapshot_meta_json` object, and per column name, type, file, bytes, crc32c, ndict and
 * meta) crash-safely, then fsyncs the directory and its parent. Frees `w` in every case; on failure
 * the directory is removed (best effort) so that no incomplete snapshot stays behind. Errors:
 * TB_EINVAL (snapshot_meta_json not a JSON object), TB_EIO, TB_ENOMEM; detail in `eb`. */
int tb__snap_writer_commit(tb__snap_writer *w, const char *snapshot_meta_json, tb__errbuf *eb);

/* Removes every file the writer wrote and its directory, and frees it. NULL is a no-op. */
void tb__snap_writer_abort(tb__snap_writer *w);

/* A second writer of `w`'s snapshot, for columns written by another thread at the same time: its
 * puts go to the same directory (with w's row count and sealing key) and are listed in the
 * manifest after w's own once tb__snap_writer_join hands them over. `w` and the fork may each be
 * used by one thread; their column names must differ. *out is released by exactly one of
 * tb__snap_writer_join or tb__snap_writer_abort (which removes only the fork's files). Errors:
 * TB_ENOMEM; detail in `eb`. */
int tb__snap_writer_fork(tb__snap_writer *w, tb__snap_writer **out, tb__errbuf *eb);

/* Appends the columns of `fork` (from tb__snap_writer_fork on `w`) after w's, in the order they
 * were put, and frees the fork. On TB_ENOMEM the fork's files are removed and it is freed too. */
int tb__snap_writer_join(tb__snap_writer *w, tb__snap_writer *fork, tb__errbuf *eb);

/* ---------------------------------------------------------------------------------------------
 * Reading
 */

typedef struct tb__snap tb__snap;

/* One column, as tb__snap_column hands it out: a view into the mapped file. */
typedef struct tb__snap_col {
    const char *name;
    tb__snap_type type;
    uint64_t nrows;
    const void *values;    /* nrows values of the type's width: int64_t, int32_t, uint8_t, uint32_t
                              codes; 8-byte aligned. NULL when nrows is 0 */
    const char *meta_json; /* the column's metadata object as compact JSON text, or NULL */
    /* Dictionary columns only (else 0 / NULL): */
    uint32_t ndict;           /* entries, including the unused entry 0 */
    const uint64_t *dict_off; /* ndict + 1 offsets into dict_bytes, validated non-decreasing */
    const char *dict_bytes;
    uint64_t dict_bytes_len;
} tb__snap_col;

/* Opens the snapshot in `dir`: reads manifest.json (at most TB__SNAP_MANIFEST_MAX bytes), maps
 * every column file read-only and validates its header against the manifest and the file size,
 * and a dictionary's offsets against its size. Does not read the values (see tb__snap_verify).
 * On success *out (caller frees with tb__snap_close). TB_ENOENT when `dir` or its manifest is
 * missing (the detail says "incomplete snapshot" for a directory without a manifest). */
int tb__snap_open(const char *dir, tb__snap **out, tb__errbuf *eb);
/* The same, reading sealed columns into memory (their plaintext, zeroed at close) with the keys of
 * `ring` (borrowed for the call). A sealed column without its key: TB_ENOENT naming the key id. */
int tb__snap_open_keys(const char *dir, const tb__keyring *ring, tb__snap **out, tb__errbuf *eb);

uint64_t tb__snap_nrows(const tb__snap *s);
size_t tb__snap_ncolumns(const tb__snap *s);

/* The snapshot's metadata object as compact JSON text, or NULL. Borrowed. */
const char *tb__snap_meta_json(const tb__snap *s);

/* Fills *out with the column named `name` (O(log n): columns are kept sorted by name), or returns
 * TB_ENOENT (and zeroes *out). Sets no detail: a missing column is a normal answer. */
int tb__snap_column(const tb__snap *s, const char *name, tb__snap_col *out);

/* Fills *out with the column at index `i` (manifest order), or returns TB_ERANGE. */
int tb__snap_column_at(const tb__snap *s, size_t i, tb__snap_col *out);

/* The string for `code` of a dictionary column, with its length in *len, in O(1); NULL (and *len
 * 0) for code 0 (NULL), a code >= ndict, or a column that is not a dictionary. Borrowed from the
 * snapshot; not NUL-terminated. */
const char *tb__snap_dict_str(const tb__snap_col *c, uint32_t code, size_t *len);

/* Reads every byte of every column: recomputes each payload's CRC-32C and compares it with the
 * header and the manifest, and checks that every dictionary code is < ndict. Returns 0 or
 * TB_ECORRUPT naming the file and what differs. Thread-safe on an open snapshot. */
int tb__snap_verify(const tb__snap *s, tb__errbuf *eb);

/* Unmaps and frees. NULL is a no-op. */
void tb__snap_close(tb__snap *s);

/* Erasure: writes a new snapshot in `dst` (must not exist) that is the snapshot in `src` (sealed
 * columns opened with `ring`, C2 columns sealed under `key` when not NULL) with
 * the rows gids[0..n) set to NULL in every column (gids past nrows are ignored), the same
 * metadata, and dictionaries keeping only the strings some remaining row uses; crash-safe like
 * any writer (the manifest last). `src` is verified first (TB_ECORRUPT: nothing is written) and
 * left as it is: the caller points its references at `dst`, then removes `src`. */
int tb__snap_rewrite_blank(const char *src, const char *dst, const uint32_t *gids, size_t n,
                           const tb__keyring *ring, const tb__c2key *key, tb__errbuf *eb);

/* Key rotation and the first encryption of a plaintext store: every C2 column file of the snapshot
 * in `dir` not yet sealed under `to` is rewritten sealed under it, in place and crash-safely (the
 * plaintext bytes, hence the manifest, do not change); `ring` opens the current files. *files
 * (may be NULL) is increased by the number rewritten. The snapshot is verified first. */
int tb__snap_c2_reseal(const char *dir, const tb__keyring *ring, const tb__c2key *to,
                       uint64_t *files, tb__errbuf *eb);

/* ---------------------------------------------------------------------------------------------
 * The validating parser, on memory (tb__snap_open uses it on each mapping; the fuzzer on its input)
 */

/* Parses the column file held in buf[0, len) (borrowed; untrusted): checks the magic, the header
 * checksum, the type and width, that the size is exactly header + payload, and for a dictionary
 * that the offsets are non-decreasing, start at 0 and end at the bytes' size. Does NOT check the
 * payload checksum (tb__snap_col_crc_ok). `fname` names the file in details. On success fills *out
 * (name and meta_json NULL; pointers into buf) and *payload_crc with the stored payload checksum.
 * Errors: TB_ECORRUPT with the byte offset, TB_EVERSION. */
int tb__snap_col_parse_safe(const void *buf, size_t len, const char *fname, tb__snap_col *out,
                            uint32_t *payload_crc, tb__errbuf *eb);

/* Recomputes the payload CRC-32C of a file parsed by tb__snap_col_parse_safe from buf[0, len)
 * and returns 0 when it equals `payload_crc` and all dictionary codes are < ndict, else
 * TB_ECORRUPT naming `fname`. */
int tb__snap_col_check_safe(const void *buf, size_t len, const char *fname, const tb__snap_col *col,
                            uint32_t payload_crc, tb__errbuf *eb);

#endif
