/* segment.h — business-domain segments: the valid rows of one extract file of one batch, stamped
 * with their business flag, as the pipeline keeps them (docs/pipeline.md, "Segments").
 *
 * A segment is a text file. Its first line is the flag:
 *   #tagbase-segment
 * 1\tbusiness_type=deposit\tkind=mart\tsource=core\tbatch=20261121\tload=7\tfile=deposits.txt then
 * one line per valid row: the source line number, the golden record's gid (\N when the row is about
 * nobody the bank knows), then the row's fields in the data standard's order, separated by \x01,
 * NULL written \N, and backslash, \x01, \n and \r inside a field escaped as \\, \x, \n and \r.
 * Written crash-safely (tb__afile): a segment exists completely or not at all.
 *
 * A sealed segment (written with a key: the data directory keeps C2 values encrypted) has the same
 * flag line with "#tagbase-segment 2" in clear, then its rows as one sealed stream (crypt.h) under
 * the key, authenticated with a hash of the flag line; each chunk holds whole rows (about 1 MiB).
 * Readers see the same rows and line numbers either way.
 *
 * Ownership: a writer or reader is created by its _open and freed (caller frees) by its
 * _commit/_abort or _close. Not thread-safe. */
#ifndef TB_PIPELINE_SEGMENT_H
#define TB_PIPELINE_SEGMENT_H

#include <stdint.h>

#include "common/err.h"
#include "pipeline/reader.h"
#include "store/crypt.h"

#define TB__SEG_NO_GID UINT32_MAX

typedef struct tb__seg_flag {
    const char *business_type, *kind, *source_system, *batch_date, *file;
    int64_t load_id;
} tb__seg_flag;

typedef struct tb__seg_writer tb__seg_writer;

/* Creates `path` (through a temp file) and writes the flag line; the rows are sealed under `key`
 * (borrowed for the writer's life) when it is not NULL, else written clear. */
int tb__seg_writer_open(const char *path, const tb__seg_flag *flag, const tb__c2key *key,
                        tb__seg_writer **out, tb__errbuf *eb);
/* Appends one valid row. */
int tb__seg_write(tb__seg_writer *w, uint64_t line, uint32_t gid, const tb__field *fields,
                  size_t nfields, tb__errbuf *eb);
/* Appends one valid row read from Hive text (\x01 separators, \N NULLs), copying its raw bytes
 * when they are already in the segment's encoding — the common case — and falling back to
 * tb__seg_write field by field when a field holds a backslash or \r. Same result either way. */
int tb__seg_write_raw(tb__seg_writer *w, uint64_t line, uint32_t gid, const tb__record *rec,
                      tb__errbuf *eb);
/* The file's size once committed, if nothing more is written. */
uint64_t tb__seg_bytes(const tb__seg_writer *w);
/* Flushes, fsyncs and renames into place; frees w whatever the result. */
int tb__seg_writer_commit(tb__seg_writer *w, tb__errbuf *eb);
/* Removes the temp file and frees w. NULL is a no-op. */
void tb__seg_writer_abort(tb__seg_writer *w);

/* Reading a segment back (collection of earlier loads, lineage). */
typedef struct tb__seg_reader tb__seg_reader;

/* Opens `path` and checks its flag line; the flag's strings stay valid until close. A sealed
 * segment needs `ring` (borrowed until close) to hold its key: TB_ENOENT otherwise; TB_ECORRUPT
 * for a bad flag line, and from tb__seg_read for rows that fail to open (cut, tampered). */
int tb__seg_reader_open(const char *path, const tb__keyring *ring, tb__seg_reader **out,
                        tb__seg_flag *flag, tb__errbuf *eb);
/* Reads the next row: 1 with *line, *gid and the unescaped fields (borrowed until the next call),
 * 0 at the end, TB_ECORRUPT / TB_EIO / TB_ENOMEM with the detail in eb. */
int tb__seg_read(tb__seg_reader *r, uint64_t *line, uint32_t *gid, const tb__field **fields,
                 size_t *nfields, tb__errbuf *eb);
/* The id of the key a sealed segment is sealed under; 0 for a clear one. */
uint32_t tb__seg_reader_key(const tb__seg_reader *r);
void tb__seg_reader_close(tb__seg_reader *r);

/* Key rotation and the first encryption of a plaintext store: rewrites every registered domain
 * segment of `db` that is not sealed under `to` yet (clear ones included) sealed under it, after
 * removing unregistered leftovers (tb__load_gc). Each file is replaced crash-safely; a crash
 * midway leaves some under the old key, some under `to`, all readable while the key file holds
 * both (which rotation guarantees). *files (may be NULL) counts the files rewritten. Needs the
 * writer; 0 or a negative TB_E* with the detail on the handle. */
int tb__domains_c2_reseal(tb_db *db, const tb__c2key *to, uint64_t *files);

#endif
