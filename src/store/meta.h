/* meta.h — the meta store's interface for engines: run your own prepared statements on the data
 * directory's SQLite database (meta.db), inside transactions, with errors on the handle.
 *
 * How an engine writes to the meta store (the whole pattern):
 *
 *     sqlite3_stmt *st;
 *     int rc = tb__meta_begin(db);          // BEGIN IMMEDIATE; TB_EPERM if read-only
 *     if (rc) return rc;
 *     rc = tb__meta_stmt(db, TB__STMT_X,    // an id of yours, from the enum below
 *                        "INSERT INTO batch (batch_date, ...) VALUES (?1, ...)", &st);
 *     if (rc) goto out_rollback;
 *     sqlite3_bind_text(st, 1, date, -1, SQLITE_TRANSIENT); // bind values, never format SQL
 *     rc = tb__meta_run(db, st, "cannot record batch");      // steps to SQLITE_DONE, resets
 *     if (rc) goto out_rollback;
 *     return tb__meta_commit(db);           // rolls back itself if it fails
 *   out_rollback:
 *     tb__meta_rollback(db);
 *     return rc;
 *
 * Queries step the statement themselves (SQLITE_ROW...) and must end with tb__meta_stmt_done(st)
 * on every path: an un-reset SELECT keeps a read transaction open, which stops WAL checkpoints.
 *
 * Rules: SQL text is static (a literal at the call site); values are bound, never formatted into
 * SQL. Schema changes are new entries in the migration list in meta.c, never edits of old ones.
 * Handles are not thread-safe: one tb_db per thread.
 */
#ifndef TB_STORE_META_H
#define TB_STORE_META_H

#include <sqlite3.h>

#include "common/err.h"
#include "tagbase.h"

/* The newest meta-store schema this binary knows (the number of migrations in meta.c). A store
 * with a larger PRAGMA user_version is refused with TB_EVERSION. */
#define TB__META_SCHEMA_VERSION 12

/* Ids of cached prepared statements: each is prepared once per handle, on first use, from the
 * SQL text given with it, and finalised by tb_db_close. Engines add one id per statement, grouped
 * under their name, and keep the SQL at the call site. An id must always come with the same SQL. */
typedef enum tb__stmt_id {
    /* store (meta.c) */
    TB__STMT_BEGIN,
    TB__STMT_COMMIT,
    TB__STMT_ROLLBACK,
    TB__STMT_USER_VERSION,
    TB__STMT_CACHE_SIZE,
    TB__STMT_SETTING_GET,
    TB__STMT_SETTING_SET,
    TB__STMT_BATCH_LIST,
    TB__STMT_FK_ON,
    TB__STMT_FK_OFF,
    /* pipeline: batch inventory (inventory.c) */
    TB__STMT_INV_BATCH_DELETE,
    TB__STMT_INV_BATCH_INSERT,
    TB__STMT_INV_FILE_INSERT,
    /* pipeline: identity (identity.c) */
    TB__STMT_ID_BULK_DROP,
    TB__STMT_ID_BULK_CREATE,
    TB__STMT_ID_LOAD_PARTY,
    TB__STMT_ID_LOAD_KEY,
    TB__STMT_ID_INS_PARTY,
    TB__STMT_ID_UPD_PARTY,
    TB__STMT_ID_INS_KEY,
    TB__STMT_ID_INS_HISTORY,
    TB__STMT_ID_INS_CONFLICT,
    TB__STMT_ID_UPS_RELATION,
    TB__STMT_ID_FIND_KEY,
    TB__STMT_ID_ROOT,
    TB__STMT_ID_KEY_GID,
    TB__STMT_ID_VIEW_PARTY,
    TB__STMT_ID_VIEW_REL,
    TB__STMT_ID_VIEW_HIST,
    TB__STMT_ID_VIEW_CONFL,
    TB__STMT_ID_MERGE_LOG,
    TB__STMT_ID_MERGE_KEYS_SAVE,
    TB__STMT_ID_MERGE_KEYS_MOVE,
    TB__STMT_ID_SET_MERGED,
    TB__STMT_ID_LAST_MERGE,
    TB__STMT_ID_UNMERGE_KEYS,
    TB__STMT_ID_MERGE_UNDONE,
    /* pipeline: standards (standard.c) */
    TB__STMT_STD_LATEST,
    TB__STMT_STD_PREV_HASH,
    TB__STMT_STD_INSERT,
    TB__STMT_STD_GET,
    TB__STMT_STD_LIST,
    /* pipeline: load (load.c, lifecycle.c, report.c) */
    TB__STMT_LOAD_NEXT_ID,
    TB__STMT_LOAD_INSERT,
    TB__STMT_LOAD_SEGMENTS_OF_BATCH,
    TB__STMT_LOAD_SEGMENT_OLD,
    TB__STMT_LOAD_SEGMENT_PUT,
    TB__STMT_LOAD_FILE_INSERT,
    TB__STMT_LOAD_RULE_INSERT,
    TB__STMT_LOAD_QUARANTINE_INSERT,
    TB__STMT_LOAD_SNAPSHOT_OLD,
    TB__STMT_LOAD_SNAPSHOT_PUT,
    TB__STMT_LOAD_GC_SNAPSHOT,
    TB__STMT_LOAD_GC_SEGMENT,
    TB__STMT_LOAD_RETIRE_SEGMENTS,
    TB__STMT_LOAD_RETIRE_QUARANTINE,
    TB__STMT_LOAD_RETIRE_SNAPSHOTS,
    TB__STMT_REPORT_RULES,
    TB__STMT_REPORT_SNAPSHOT,
    TB__STMT_REPORT_FILES,
    TB__STMT_REPORT_BATCHES,
    TB__STMT_REPORT_SEGMENTS,
    TB__STMT_REPORT_SNAPSHOT_FOR,
    TB__STMT_REPORT_QUARANTINE, /* the web console's quarantined rows (report.c) */
    TB__STMT_REPORT_QUARANTINE_COUNT,
    TB__STMT_CHECK_QUICK,
    TB__STMT_CHECK_FK,
    TB__STMT_CHECK_SEGMENTS,
    TB__STMT_CHECK_SNAPSHOTS,
    TB__STMT_CHECK_TAG_BUILDS,
    TB__STMT_CHECK_SEG_MEMBERS,
    /* tags: catalog (catalog.c) — add yours here */
    TB__STMT_CAT_FIRST_,
    TB__STMT_CAT_ROWS,
    TB__STMT_CAT_STATE,
    TB__STMT_CAT_VERSION_GET,
    TB__STMT_CAT_ONLINE,
    TB__STMT_CAT_THEME_LEVEL,
    TB__STMT_CAT_EVENT_INSERT,
    TB__STMT_CAT_VERSION_INSERT,
    TB__STMT_CAT_THEME_UPSERT,
    TB__STMT_CAT_TAG_INSERT,
    TB__STMT_CAT_TAG_EDIT,
    TB__STMT_CAT_SUBMITTER,
    TB__STMT_CAT_SET_STATUS,
    TB__STMT_CAT_CODES_IN,
    TB__STMT_CAT_USAGE_SEGS,
    TB__STMT_CAT_USAGE_QUERIES,
    TB__STMT_CAT_COVERAGE,
    TB__STMT_CAT_THEMES,
    TB__STMT_CAT_VERSIONS,
    TB__STMT_CAT_EVENTS,
    /* tags: builds and tag store (build.c, tagstore.c) — add yours here */
    TB__STMT_TAG_FIRST_,
    TB__STMT_TAG_SEGMENTS,
    TB__STMT_TAG_SNAPSHOT,
    TB__STMT_TAG_BUILD_NEXT,
    TB__STMT_TAG_BUILD_UNCURRENT,
    TB__STMT_TAG_BUILD_INSERT,
    TB__STMT_TAG_STAT_INSERT,
    TB__STMT_TAG_BUILD_STALE,
    TB__STMT_TAG_BUILD_DELETE,
    TB__STMT_TAG_BUILD_CURRENT,
    TB__STMT_TAG_KEYS,
    TB__STMT_MDX_GET,
    TB__STMT_MDX_PUT,
    TB__STMT_MDX_VERSION,
    TB__STMT_ID_MD_VERIFY,
    TB__STMT_ID_KEY_VERIFY,
    TB__STMT_ID_MERGE_KEYS_OF,
    TB__STMT_ID_PARTY_COUNT,
    TB__STMT_ID_SCAN_PARTY,
    TB__STMT_ID_SCAN_PARTY_KEY,
    /* segments: saved segments (cseg.c) — add yours here */
    TB__STMT_SEG_FIRST_,
    TB__STMT_SEG_GET,
    TB__STMT_SEG_MEMBER_AT,
    TB__STMT_SEG_MEMBER_BEFORE,
    TB__STMT_SEG_MEMBER_PREV,
    TB__STMT_SEG_INSERT,
    TB__STMT_SEG_TAG_INSERT,
    TB__STMT_SEG_MEMBER_PUT,
    TB__STMT_SEG_LIST,
    TB__STMT_SEG_HISTORY,
    TB__STMT_SEG_ALL,
    TB__STMT_SEG_DELETE,
    TB__STMT_SEG_USAGE,
    TB__STMT_SEG_KEY_OF,
    TB__STMT_SEG_THEMES,
    TB__STMT_SEG_EXPORT_PARTY,
    TB__STMT_SEG_OF_CUSTOMER,
    TB__STMT_SEG_ORG_PATH,
    /* security: users, sessions, tokens, audit (src/security/) — add yours here */
    TB__STMT_SEC_FIRST_,
    TB__STMT_SEC_AUDIT_ALL,
    TB__STMT_SEC_AUDIT_HEAD_GET,
    TB__STMT_SEC_AUDIT_HEAD_PUT,
    TB__STMT_SEC_AUDIT_INSERT,
    TB__STMT_SEC_AUDIT_LAST,
    TB__STMT_SEC_AUDIT_LIST,
    TB__STMT_SEC_KEY_GET,
    TB__STMT_SEC_KEY_PUT,
    TB__STMT_SEC_LOGIN_GET,
    TB__STMT_SEC_ROLE_BUILTIN,
    TB__STMT_SEC_ROLE_GET,
    TB__STMT_SEC_ROLE_LIST,
    TB__STMT_SEC_ROLE_PUT,
    TB__STMT_SEC_SESSION_DELETE,
    TB__STMT_SEC_SESSION_END_USER,
    TB__STMT_SEC_SESSION_GET,
    TB__STMT_SEC_SESSION_INSERT,
    TB__STMT_SEC_SESSION_PURGE,
    TB__STMT_SEC_TOKEN_GET,
    TB__STMT_SEC_TOKEN_INSERT,
    TB__STMT_SEC_TOKEN_LIST,
    TB__STMT_SEC_TOKEN_REVOKE,
    TB__STMT_SEC_TOKEN_USER,
    TB__STMT_SEC_USER_ANY,
    TB__STMT_SEC_USER_DISABLE,
    TB__STMT_SEC_USER_GET,
    TB__STMT_SEC_USER_INSERT,
    TB__STMT_SEC_USER_LIST,
    TB__STMT_SEC_USER_PASSWD,
    TB__STMT_SEC_USER_ROLE,
    TB__STMT_SEC_USER_SCOPE,
    TB__STMT_SEC_USER_SCOPE_GET,
    /* security: approvals, consent, abnormal access (approval.c, consent.c, access.c) */
    TB__STMT_SEC_APPR_INSERT,
    TB__STMT_SEC_APPR_GET,
    TB__STMT_SEC_APPR_EXPIRE,
    TB__STMT_SEC_APPR_DECIDE,
    TB__STMT_SEC_APPR_USE,
    TB__STMT_SEC_APPR_LIST,
    TB__STMT_SEC_CONSENT_EVENT,
    TB__STMT_SEC_CONSENT_PUT,
    TB__STMT_SEC_CONSENT_GET,
    TB__STMT_SEC_CONSENT_CURRENT,
    TB__STMT_SEC_CONSENT_HISTORY,
    TB__STMT_SEC_CONSENT_SCAN,
    TB__STMT_SEC_ACCESS_USER,
    TB__STMT_SEC_ACCESS_BUMP,
    TB__STMT_SEC_ACCESS_SUM,
    TB__STMT_SEC_ACCESS_PRUNE,
    TB__STMT_SEC_ACCESS_BLOCK,
    TB__STMT_SEC_ACCESS_UNBLOCK,
    TB__STMT_SEC_ACCESS_CLEAR,
    TB__STMT_SEC_ACCESS_BLOCKED,
    TB__STMT_SEC_PRINCIPAL_GET,
    /* security: login lock-out (users.c) */
    TB__STMT_SEC_LOCK_FAIL,
    TB__STMT_SEC_LOCK_CLEAR,
    TB__STMT_SEC_LOCK_GET,
    /* events: sources, tracking plan, real-time rules (src/events/collector.c, evmeta.c) */
    TB__STMT_EV_SOURCE_ADD,
    TB__STMT_EV_SOURCE_LIST,
    TB__STMT_EV_SOURCE_REVOKE,
    TB__STMT_EV_PLAN_ADD,
    TB__STMT_EV_PLAN_LATEST,
    TB__STMT_EV_PLAN_GET,
    TB__STMT_EV_PLAN_VERSIONS,
    TB__STMT_EV_RULE_ADD,
    TB__STMT_EV_RULE_LATEST,
    /* erasure of a person (src/security/erase.c): none — it runs rarely and prepares its
     * statements once, uncached */
    /* store: encryption at rest of C2 fields (crypt.c) and the identity reads that need the
     * encrypted columns of migration 10 (identity.c, identity_md.c) */
    TB__STMT_C2_ACTIVE,
    TB__STMT_C2_RETIRE,
    TB__STMT_C2_RECORD,
    TB__STMT_C2_ANY_PARTY,
    TB__STMT_C2_RETIRED,
    TB__STMT_ID_LOAD_PARTY_C2,
    TB__STMT_ID_VIEW_PARTY_C2,
    TB__STMT_ID_VIEW_REL_C2,
    /* server (src/server/) — add yours here */
    TB__STMT_SRV_FIRST_,
    /* engines: add ids above this line */
    TB__STMT_COUNT
} tb__stmt_id;

/* Bounds the handle's page cache to `mib` MiB (a writer opens with 1 GiB so that a load's big
 * transaction does not spill). A long-running writer that mostly appends (the server: audit
 * records) keeps every page it wrote in that cache, so it sets a small bound to keep its memory
 * flat. TB_ESTORE on failure. */
int tb__meta_cache_limit(tb_db *db, int mib);

/* The handle's SQLite connection, for engines that need more than the helpers (e.g.
 * sqlite3_last_insert_rowid, sqlite3_changes). Borrowed, valid until tb_db_close. Never close it,
 * never change its pragmas, never begin or end transactions on it except through the helpers. */
sqlite3 *tb__db_sqlite(tb_db *db);

/* The handle's detail-message buffer, so engine code can record its own errors where tb_errmsg
 * reads them: `return tb__seterr(tb__db_err(db), TB_EFORMAT, "...");`. Borrowed. */
tb__errbuf *tb__db_err(tb_db *db);

/* Returns 0 when the handle may write, else TB_EPERM with a detail ("opened read-only"). Call it
 * first in any write path that does not start with tb__meta_begin. */
int tb__db_check_writable(tb_db *db);

/* Turns a failed SQLite call's result code into ours and records "`what`: <sqlite3_errmsg>" on the
 * handle; returns the code. SQLITE_NOMEM -> TB_ENOMEM, SQLITE_CORRUPT / SQLITE_NOTADB ->
 * TB_ECORRUPT, SQLITE_READONLY -> TB_EPERM, everything else -> TB_ESTORE. `what` says what we
 * were doing, lowercase, with the subject quoted: "cannot record batch '20240131'". */
int tb__meta_seterr_sqlite(tb_db *db, int sqlite_rc, const char *what);

/* Gives the cached statement `id`, preparing it from `sql` on first use. The statement is reset
 * and has no bindings. On success *out is borrowed from the handle (do not finalise it); release
 * it with tb__meta_stmt_done or tb__meta_run. On failure *out is NULL (TB_ESTORE, TB_ENOMEM). */
int tb__meta_stmt(tb_db *db, tb__stmt_id id, const char *sql, sqlite3_stmt **out);

/* Resets `st` and clears its bindings so it holds no read lock and no borrowed text. NULL is a
 * no-op. Always succeeds (a step error was already reported by the step). */
void tb__meta_stmt_done(sqlite3_stmt *st);

/* Steps a statement that returns no rows (INSERT, UPDATE, DELETE) until SQLITE_DONE, then calls
 * tb__meta_stmt_done. Returns 0, or the mapped error with "`what`: ..." on the handle. */
int tb__meta_run(tb_db *db, sqlite3_stmt *st, const char *what);

/* Transactions. tb__meta_begin starts one with BEGIN IMMEDIATE (the write lock is taken at once,
 * so a transaction never fails half-way for lack of it); TB_EPERM on a read-only handle,
 * TB_EINVAL if one is already open (transactions do not nest: the outermost caller owns it).
 * tb__meta_commit commits; if that fails, it rolls back and returns the error, so the
 * transaction is over either way. tb__meta_rollback ends an open transaction without keeping
 * anything; it is a no-op when none is open (after a failed commit, say), so cleanup code may call
 * it unconditionally. It keeps the detail of the error that made the caller roll back. */
int tb__meta_begin(tb_db *db);
int tb__meta_commit(tb_db *db);
void tb__meta_rollback(tb_db *db);

/* Like tb__meta_begin, for a transaction that writes millions of rows whose references the
 * writer guarantees by construction (a pipeline load creates every party before the rows that
 * point at it): foreign-key checks are off until the transaction ends, committed or not — about a
 * third of the cost of such a commit. Every other transaction keeps the checks. */
int tb__meta_begin_bulk(tb_db *db);

/* Copies what the write-ahead log holds into meta.db (a PASSIVE checkpoint: frames a reader
 * still needs stay in the log), the pages written in a row gathered into 4 MiB blocks and written
 * past the page cache where the file system allows (store/metavfs.h). tb__meta_commit runs it
 * after a bulk transaction, whose log can hold gigabytes. Returns 0 or TB_ESTORE (detail on db):
 * the log then keeps the frames SQLite was told were not copied (docs/storage.md, "Checkpoints
 * past the page cache", for the one case where that is not enough). *direct_bytes (may be NULL):
 * the bytes written past the page cache. Not inside a transaction. */
int tb__meta_checkpoint(tb_db *db, uint64_t *direct_bytes);

/* Writes the open transaction's changed pages to the write-ahead log now, uncommitted (a crash
 * keeps ignoring them; a rollback discards them), so that the COMMIT of a big transaction only
 * writes what changed since. A writer calls it when it has written most of its rows and has other
 * work to overlap the writes with. TB_EINVAL when no transaction is open, TB_ESTORE/TB_EIO. */
int tb__meta_flush(tb_db *db);

/* Waits until the write-ahead log's bytes so far are on disk (an fsync of the log), uncommitted
 * as they are: the COMMIT's own sync then has only what was written since to wait for. A writer
 * thread that has flushed its part (tb__meta_flush) calls it while other threads still work, so
 * that the disk writes gigabytes of log in parallel with them instead of at the COMMIT. 0 (also
 * when the store has no log open), TB_EIO. Same thread rules as the transaction. */
int tb__meta_sync_log(tb_db *db);

/* Before (on = 1) and after (on = 0) CREATE INDEX statements over millions of rows inside the
 * open transaction. SQLite sorts the index entries in runs as large as the page cache (up to
 * 512 MiB with our 1 GiB cache): a run that size misses the CPU cache on almost every
 * comparison. On: the transaction's pages are flushed to the write-ahead log (tb__meta_flush),
 * the cache shrinks to a few MiB so the sorter's runs fit the CPU cache, and up to two helper
 * threads sort and merge them; off restores the cache size and no helpers. Measured on a
 * 10M-party store: 20 s to 4.6 s for one text index (bench/RESULTS.md). TB_EINVAL when no
 * transaction is open, TB_ESTORE/TB_EIO. */
int tb__meta_sort_mode(tb_db *db, int on);

/* ---- many rows in one statement (metarows.c) ------------------------------------------------
 * A statement per row pays for its start, its cursors and its reset on every row: inserting 5M
 * party keys that way takes 1.01 us a row, against 0.38 us when one INSERT ... SELECT reads them
 * from a virtual table (bench/rows.sh, bench/RESULTS.md). tb__meta_insert_rows runs such a
 * statement: `sql` reads columns c0..c15 of tb_rows, whose rows 0..nrows-1 come from `fn`, which
 * fills the first `ncols` values of one row (preset to NULL). Text is borrowed until fn is called
 * for the next row.
 *
 *     INSERT INTO party_key (system, key, gid) SELECT c0, c1, c2 FROM tb_rows
 *
 * fn returns 0 or a negative TB_E* with its detail on the handle (tb__db_err), which ends the
 * statement with that error. The rows go in in order, as one step of the caller's transaction.
 * Not reentrant: one at a time per handle (TB_EINVAL). Errors: fn's, TB_ESTORE, TB_ENOMEM. */
#define TB__META_ROW_COLS 16

typedef enum tb__val_type { TB__VAL_NULL, TB__VAL_INT, TB__VAL_TEXT } tb__val_type;

typedef struct tb__meta_val {
    tb__val_type type;
    int64_t i;     /* TB__VAL_INT */
    const char *s; /* TB__VAL_TEXT: n bytes, borrowed */
    size_t n;
} tb__meta_val;

typedef int (*tb__meta_row_fn)(void *arg, size_t row, tb__meta_val *vals);

int tb__meta_insert_rows(tb_db *db, tb__stmt_id id, const char *sql, size_t nrows, int ncols,
                         tb__meta_row_fn fn, void *arg, const char *what);

/* Binds vals[0..n-1] to parameters 1..n of `st` (text borrowed: step before it changes), for a
 * statement per row that shares its values with an INSERT ... SELECT. TB_ESTORE for a parameter
 * the statement does not have. */
int tb__meta_bind_vals(sqlite3_stmt *st, const tb__meta_val *vals, int n);

/* A value of a row: text (NULL s gives NULL; its length by strlen) and integer. */
tb__meta_val tb__meta_text(const char *s);
tb__meta_val tb__meta_int(int64_t i);

#endif
