/* build.h — computing a batch's tags into its tag store (build.c), and finding the store of a
 * batch date for queries. */
#ifndef TB_TAGS_BUILD_H
#define TB_TAGS_BUILD_H

#include <jansson.h>
#include <stddef.h>

#include "common/err.h"
#include "tags/catalog.h"
#include "tagbase.h"

/* Computes tags defs[0..n) for the snapshot of `batch_date` (NULL: the newest snapshot) with
 * `threads` workers (0: one per core), writes the tag store tags/<batch>-<build_id>/, records the
 * build (tag_build, tag_stat) as the batch's current one and removes the builds it replaces and
 * those of batches whose snapshot is gone. On success *summary (caller frees with json_decref)
 * says what was built. Errors: TB_ENOENT (no snapshot), TB_EFORMAT (a definition does not fit the
 * snapshot: the detail names the tag), TB_EIO, TB_ESTORE, TB_ENOMEM; detail in eb. The caller
 * holds the data directory's writer lock (a writable handle). */
int tb__tags_build(tb_db *db, const char *batch_date, const tb__tag_def *defs, size_t n,
                   int threads, json_t **summary, tb__errbuf *eb);

/* The current tag store of `batch_date` (NULL: the newest batch that has one): its absolute
 * directory in *dir (caller frees with free) and the batch in batch_out (9 bytes). TB_ENOENT with
 * a detail ("no tags built for 20261121: run 'tagbase tag build'") when there is none. */
int tb__tags_current(tb_db *db, const char *batch_date, char **dir, char batch_out[9],
                     tb__errbuf *eb);

#endif
