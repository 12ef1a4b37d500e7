/* load_int.h — private interface between the pipeline's load (load.c), its lifecycle
 * (lifecycle.c) and its reports (report.c). */
#ifndef TB_PIPELINE_LOAD_INT_H
#define TB_PIPELINE_LOAD_INT_H

#include "tagbase.h"

/* Removes files under domains/ and snapshots/ that no committed load references: what a failed
 * or killed load left behind. Call with the writer lock held (a writable tb_db). Returns 0 or a
 * TB_E* code with the detail on db. */
int tb__load_gc(tb_db *db);

/* Removes `rel` (a file or a directory tree, relative to the data directory) and the empty
 * directories above it up to domains/ or snapshots/. Failures are logged, not returned: the
 * next tb__load_gc tries again. */
void tb__load_remove(tb_db *db, const char *rel);

/* Applies the retention settings after a load: business segments and quarantined rows of batches
 * older than pipeline.retention_days (default 90) before the newest batch are removed, and only
 * the newest pipeline.snapshot_keep (default 7) snapshots are kept. Failures are logged. */
void tb__load_retention(tb_db *db);

#endif
