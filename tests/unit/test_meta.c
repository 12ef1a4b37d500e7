/* test_meta.c — tests src/store/meta.c: connection settings (WAL, foreign keys), migrations,
 * schema version checks, settings, the statement cache and the transaction helpers of meta.h. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "common/log.h"
#include "store/meta.h"

#include "helpers.h"

/* Each test gets a fresh parent directory (the state, see helpers.h); the data directory is
 * <state>/d. */

static tb_db *open_db(const char *parent, unsigned flags)
{
    char *d = tbt_join(parent, "d");
    char err[256] = "";
    tb_db *db = NULL;
    int rc = tb_db_open(d, flags, &db, err, sizeof err);
    if (rc) fail_msg("tb_db_open('%s'): %s", d, err);
    free(d);
    return db;
}

/* A single-value query run on the raw connection, as a test's independent view of the store. */
static char *query_text(tb_db *db, const char *sql)
{
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(tb__db_sqlite(db), sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    char *v = strdup((const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    return v;
}

static void assert_query(tb_db *db, const char *sql, const char *want)
{
    char *got = query_text(db, sql);
    assert_string_equal(got, want);
    free(got);
}

static void connection_is_configured(void **state)
{
    tb_db *db = open_db(*state, TB_OPEN_CREATE);
    assert_query(db, "PRAGMA journal_mode", "wal");
    assert_query(db, "PRAGMA synchronous", "2"); /* FULL */
    assert_query(db, "PRAGMA foreign_keys", "1");
    assert_query(db, "PRAGMA page_size", "16384"); /* a new store's */
    tb_db_close(db);

    /* WAL is a property of the file: a reader finds it, and gets foreign keys too. */
    db = open_db(*state, TB_OPEN_READONLY);
    assert_query(db, "PRAGMA journal_mode", "wal");
    assert_query(db, "PRAGMA foreign_keys", "1");
    tb_db_close(db);
}

static void migrations_are_idempotent(void **state)
{
    tb_db_info info;
    for (int i = 0; i < 3; i++) {
        tb_db *db = open_db(*state, TB_OPEN_CREATE);
        assert_int_equal(tb_db_get_info(db, &info), 0);
        assert_int_equal(info.schema_version, TB__META_SCHEMA_VERSION);
        assert_int_equal(info.actions & TB_DB_MIGRATED, i == 0 ? TB_DB_MIGRATED : 0);
        assert_query(db,
                     "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name IN "
                     "('setting', 'batch', 'extract_file', 'load', 'quarantine', 'party')",
                     "6");
        int v;
        assert_int_equal(tb_db_schema_version(db, &v), 0);
        assert_int_equal(v, TB__META_SCHEMA_VERSION);
        tb_db_close(db);
    }
}

/* A store written by an older tagbase (here: an empty SQLite file, schema 0) is upgraded by a
 * writer and read as it is by a reader. */
static void older_store_is_upgraded_by_writer(void **state)
{
    tb_db *db = open_db(*state, TB_OPEN_CREATE);
    tb_db_close(db);
    char *meta = tbt_join(*state, "d/meta.db");
    assert_int_equal(unlink(meta), 0);
    sqlite3 *raw;
    assert_int_equal(sqlite3_open(meta, &raw), SQLITE_OK);
    assert_int_equal(sqlite3_exec(raw, "PRAGMA journal_mode = WAL", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(raw);

    db = open_db(*state, TB_OPEN_READONLY);
    int v = -1;
    assert_int_equal(tb_db_schema_version(db, &v), 0);
    assert_int_equal(v, 0);
    assert_int_equal(tb_db_list_batches(db, NULL, NULL), TB_ESTORE); /* no table yet */
    assert_non_null(strstr(tb_errmsg(db), "no such table"));
    tb_db_close(db);

    db = open_db(*state, 0);
    tb_db_info info;
    assert_int_equal(tb_db_get_info(db, &info), 0);
    assert_int_equal(info.actions, TB_DB_MIGRATED);
    assert_int_equal(info.schema_at_open, 0);
    assert_int_equal(info.schema_version, TB__META_SCHEMA_VERSION);
    tb_db_close(db);
    free(meta);
}

static void newer_user_version_is_eversion(void **state)
{
    tb_db *db = open_db(*state, TB_OPEN_CREATE);
    assert_int_equal(sqlite3_exec(tb__db_sqlite(db), "PRAGMA user_version = 99", NULL, NULL, NULL),
                     SQLITE_OK);
    tb_db_close(db);

    char *d = tbt_join(*state, "d");
    char err[256] = "";
    assert_int_equal(tb_db_open(d, 0, &db, err, sizeof err), TB_EVERSION);
    assert_null(db);
    assert_non_null(strstr(err, "schema version 99"));
    assert_int_equal(tb_db_open(d, TB_OPEN_READONLY, &db, err, sizeof err), TB_EVERSION);
    assert_int_equal(tb_db_open(d, TB_OPEN_CREATE, &db, err, sizeof err), TB_EVERSION);
    free(d);
}

static void corrupt_store_is_ecorrupt(void **state)
{
    tb_db *db = open_db(*state, TB_OPEN_CREATE);
    tb_db_close(db);
    char *meta = tbt_join(*state, "d/meta.db");
    FILE *f = fopen(meta, "w");
    assert_non_null(f);
    for (int i = 0; i < 200; i++)
        fputs("this is not a database file. ", f);
    fclose(f);
    char *d = tbt_join(*state, "d");
    char err[256] = "";
    assert_int_equal(tb_db_open(d, 0, &db, err, sizeof err), TB_ECORRUPT);
    assert_non_null(strstr(err, "meta.db"));

    assert_int_equal(unlink(meta), 0); /* lost: not silently recreated without CREATE */
    assert_int_equal(tb_db_open(d, 0, &db, err, sizeof err), TB_ENOENT);
    assert_int_equal(tb_db_open(d, TB_OPEN_READONLY, &db, err, sizeof err), TB_ENOENT);
    assert_non_null(strstr(err, "meta store"));
    free(d);
    free(meta);
}

static void settings_round_trip(void **state)
{
    tb_db *db = open_db(*state, TB_OPEN_CREATE);
    char *v = (char *)1;
    assert_int_equal(tb_db_get_setting(db, "timezone", &v), TB_ENOENT);
    assert_null(v);
    assert_non_null(strstr(tb_errmsg(db), "'timezone'"));

    assert_int_equal(tb_db_set_setting(db, "timezone", "Asia/Shanghai"), 0);
    assert_string_equal(tb_errmsg(db), "");
    assert_int_equal(tb_db_get_setting(db, "timezone", &v), 0);
    assert_string_equal(v, "Asia/Shanghai");
    free(v);
    assert_int_equal(tb_db_set_setting(db, "timezone", "UTC+8 \xe5\x8c\x97\xe4\xba\xac"), 0);
    assert_int_equal(tb_db_get_setting(db, "timezone", &v), 0);
    assert_string_equal(v, "UTC+8 \xe5\x8c\x97\xe4\xba\xac");
    free(v);
    assert_query(db, "SELECT count(*) FROM setting", "1");
    char *at = query_text(db, "SELECT updated_at FROM setting");
    assert_int_equal(strlen(at), 19); /* yyyy-MM-dd HH:mm:ss */
    assert_int_equal(at[10], ' ');
    free(at);

    /* Values are bound, never spliced into SQL. */
    assert_int_equal(tb_db_set_setting(db, "x'); DROP TABLE setting; --", "v"), 0);
    assert_query(db, "SELECT count(*) FROM setting", "2");

    assert_int_equal(tb_db_set_setting(db, "", "v"), TB_EINVAL);
    assert_int_equal(tb_db_set_setting(db, "k", NULL), TB_EINVAL);
    tb_db_close(db);

    db = open_db(*state, TB_OPEN_READONLY); /* persisted, and readable by a reader */
    assert_int_equal(tb_db_get_setting(db, "timezone", &v), 0);
    assert_string_equal(v, "UTC+8 \xe5\x8c\x97\xe4\xba\xac");
    free(v);
    assert_int_equal(tb_db_set_setting(db, "timezone", "x"), TB_EPERM);
    tb_db_close(db);
}

/* Inserts a batch row the way an engine would: cached statement, bound values, tb__meta_run. */
static int insert_batch(tb_db *db, const char *date, int64_t rows)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(tb__db_sqlite(db),
                           "INSERT INTO batch (batch_date, source_dir, scanned_at, files, rows) "
                           "VALUES (?1, '/x', '2024-01-31 10:00:00', 2, ?2)",
                           -1, &st, NULL) != SQLITE_OK)
        return TB_ESTORE;
    sqlite3_bind_text(st, 1, date, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, rows);
    int rc = tb__meta_run(db, st, "cannot insert batch");
    sqlite3_finalize(st);
    return rc;
}

static int collect(const tb_db_batch *b, void *arg)
{
    char *out = arg;
    char line[64];
    snprintf(line, sizeof line, "%s:%lld;", b->batch_date, (long long)b->rows);
    strcat(out, line);
    return 0;
}

static int stop_at_first(const tb_db_batch *b, void *arg)
{
    (void)b;
    (*(int *)arg)++;
    return 42;
}

static void transactions_and_batches(void **state)
{
    tb_db *db = open_db(*state, TB_OPEN_CREATE);
    char seen[256] = "";

    assert_int_equal(tb__meta_begin(db), 0);
    assert_int_equal(tb__meta_begin(db), TB_EINVAL); /* no nesting */
    assert_int_equal(insert_batch(db, "20240131", 10), 0);
    tb__meta_rollback(db);
    assert_int_equal(tb_db_list_batches(db, collect, seen), 0);
    assert_string_equal(seen, "");

    assert_int_equal(tb__meta_begin(db), 0);
    assert_int_equal(insert_batch(db, "20240229", 20), 0);
    assert_int_equal(insert_batch(db, "20240131", 10), 0);
    assert_int_equal(tb__meta_commit(db), 0);
    tb__meta_rollback(db); /* nothing open: a no-op */
    assert_int_equal(tb_db_list_batches(db, collect, seen), 0);
    assert_string_equal(seen, "20240131:10;20240229:20;");

    int calls = 0;
    assert_int_equal(tb_db_list_batches(db, stop_at_first, &calls), 42);
    assert_int_equal(calls, 1);

    /* A constraint failure maps to TB_ESTORE with SQLite's words, and keeps them across the
     * caller's rollback. */
    assert_int_equal(tb__meta_begin(db), 0);
    assert_int_equal(insert_batch(db, "20240131", 1), TB_ESTORE);
    tb__meta_rollback(db);
    assert_non_null(strstr(tb_errmsg(db), "cannot insert batch: UNIQUE constraint failed"));
    tb_db_close(db);

    db = open_db(*state, TB_OPEN_READONLY);
    assert_int_equal(tb__meta_begin(db), TB_EPERM);
    tb_db_close(db);
}

static void foreign_keys_enforced(void **state)
{
    tb_db *db = open_db(*state, TB_OPEN_CREATE);
    static const char ins[] =
        "INSERT INTO extract_file (batch_date, name, business_type, data_kind, format, encoding, "
        "bytes, rows, bad_width) VALUES (?1, 'deposit.txt', 'deposit', 'mart', 'hive', 'utf-8', "
        "1, 1, 0)";
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(tb__db_sqlite(db), ins, -1, &st, NULL), SQLITE_OK);
    sqlite3_bind_text(st, 1, "20240131", -1, SQLITE_STATIC);
    assert_int_equal(tb__meta_run(db, st, "cannot record file"), TB_ESTORE);
    assert_non_null(strstr(tb_errmsg(db), "FOREIGN KEY constraint failed"));

    assert_int_equal(insert_batch(db, "20240131", 1), 0);
    sqlite3_bind_text(st, 1, "20240131", -1, SQLITE_STATIC);
    assert_int_equal(tb__meta_run(db, st, "cannot record file"), 0);
    assert_query(db, "SELECT count(*) FROM extract_file", "1");
    assert_int_equal(sqlite3_exec(tb__db_sqlite(db), "DELETE FROM batch", NULL, NULL, NULL),
                     SQLITE_OK);
    assert_query(db, "SELECT count(*) FROM extract_file", "0"); /* ON DELETE CASCADE */
    sqlite3_finalize(st);
    tb_db_close(db);
}

/* A bulk transaction turns foreign-key checks off while it is open and on again when it ends,
 * committed or rolled back. */
static void bulk_transaction(void **state)
{
    tb_db *db = open_db(*state, TB_OPEN_CREATE);
    assert_int_equal(tb__meta_begin_bulk(db), 0);
    assert_query(db, "PRAGMA foreign_keys", "0");
    assert_int_equal(tb__meta_begin_bulk(db), TB_EINVAL); /* no nesting */
    tb__meta_rollback(db);
    assert_query(db, "PRAGMA foreign_keys", "1");
    assert_int_equal(tb__meta_begin_bulk(db), 0);
    assert_int_equal(tb__meta_commit(db), 0);
    assert_query(db, "PRAGMA foreign_keys", "1");
    tb_db_close(db);
    db = open_db(*state, TB_OPEN_READONLY);
    assert_int_equal(tb__meta_begin_bulk(db), TB_EPERM);
    assert_query(db, "PRAGMA foreign_keys", "1");
    tb_db_close(db);
}

/* Rows of `t` that do not hold their generation's value (`gen` 0, 1 or 2): 8,000 bytes each. */
static void assert_generation(tb_db *db, int gen)
{
    char sql[200];
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM t WHERE v IS NOT replace(printf('%%.8000c', 'a'), 'a', "
             "char(65 + (k + %d) %% 26))",
             gen);
    assert_query(db, sql, "0");
    assert_query(db, "SELECT count(*) FROM t", "4000");
}

/* A checkpoint writes the log's pages into meta.db past the page cache (store/metavfs.c), and a
 * reader that had the old pages in the page cache reads the new ones from the file once the log is
 * gone; a bulk COMMIT runs it itself. */
static void checkpoint_past_page_cache(void **state)
{
    char *probe = tbt_join(*state, "probe");
    int pfd = open(probe, O_CREAT | O_WRONLY | O_DIRECT, 0600);
    int direct_ok = pfd >= 0; /* the file system takes O_DIRECT (not tmpfs) */
    if (pfd >= 0) close(pfd);
    free(probe);

    tb_db *w = open_db(*state, TB_OPEN_CREATE);
    sqlite3 *raw = tb__db_sqlite(w);
    assert_int_equal(
        sqlite3_exec(raw,
                     "CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT);"
                     "WITH RECURSIVE c(k) AS (SELECT 1 UNION ALL SELECT k + 1 FROM c "
                     "WHERE k < 4000) INSERT INTO t SELECT k, replace(printf('%.8000c',"
                     " 'a'), 'a', char(65 + k % 26)) FROM c;"
                     "PRAGMA wal_checkpoint(TRUNCATE);",
                     NULL, NULL, NULL),
        SQLITE_OK);
    tb_db *r = open_db(*state, TB_OPEN_READONLY);
    assert_generation(r, 0); /* read from meta.db: its pages are in the page cache now */

    /* The next generation stays in the log until tb__meta_checkpoint copies it. */
    sqlite3_wal_autocheckpoint(raw, 0);
    assert_int_equal(sqlite3_exec(raw,
                                  "UPDATE t SET v = replace(printf('%.8000c', 'a'), 'a', "
                                  "char(65 + (k + 1) % 26))",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    uint64_t direct = 0;
    assert_int_equal(tb__meta_checkpoint(w, &direct), 0);
    if (direct_ok)
        assert_true(direct >= (uint64_t)30 << 20); /* 4,000 rows of 8,000 bytes and more */
    else
        assert_int_equal(direct, 0);
    assert_int_equal(tb__meta_checkpoint(w, &direct), 0);
    assert_int_equal(direct, 0); /* nothing left to copy */
    assert_int_equal(sqlite3_exec(raw, "PRAGMA wal_checkpoint(TRUNCATE)", NULL, NULL, NULL),
                     SQLITE_OK); /* the log emptied: readers read meta.db alone */
    assert_generation(r, 1);
    assert_query(r, "PRAGMA integrity_check", "ok");

    /* A reader holding a snapshot in the middle of the log cuts the copy short there (SQLite
     * then syncs nothing, and the last block is written when it says the copy is done); the rest
     * follows once it lets go. */
    assert_int_equal(sqlite3_exec(raw,
                                  "UPDATE t SET v = replace(printf('%.8000c', 'a'), 'a', "
                                  "char(65 + (k + 2) % 26)) WHERE k <= 2000",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3 *rr = tb__db_sqlite(r);
    assert_int_equal(sqlite3_exec(rr, "BEGIN; SELECT count(*) FROM t", NULL, NULL, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_exec(raw,
                                  "UPDATE t SET v = replace(printf('%.8000c', 'a'), 'a', "
                                  "char(65 + (k + 2) % 26)) WHERE k > 2000",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    assert_int_equal(tb__meta_checkpoint(w, &direct), 0);
    if (direct_ok) assert_true(direct >= (uint64_t)15 << 20); /* the first half */
    assert_int_equal(sqlite3_exec(rr, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(tb__meta_checkpoint(w, &direct), 0);
    if (direct_ok) assert_true(direct >= (uint64_t)15 << 20); /* the second */
    assert_int_equal(sqlite3_exec(raw, "PRAGMA wal_checkpoint(TRUNCATE)", NULL, NULL, NULL),
                     SQLITE_OK);
    assert_generation(r, 2);
    assert_query(r, "PRAGMA integrity_check", "ok");

    /* A bulk COMMIT copies its log itself; SQLite's own checkpoints are back on after it. */
    assert_int_equal(tb__meta_begin_bulk(w), 0);
    assert_int_equal(sqlite3_exec(raw,
                                  "UPDATE t SET v = replace(printf('%.8000c', 'a'), 'a', "
                                  "char(65 + k % 26))",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    assert_int_equal(tb__meta_commit(w), 0);
    assert_int_equal(tb__meta_checkpoint(w, &direct), 0);
    assert_int_equal(direct, 0);
    assert_query(w, "PRAGMA wal_autocheckpoint", "1000");
    assert_int_equal(sqlite3_exec(raw, "PRAGMA wal_checkpoint(TRUNCATE)", NULL, NULL, NULL),
                     SQLITE_OK);
    assert_generation(r, 0);
    tb_db_close(r);
    tb_db_close(w);
    w = open_db(*state, 0);
    assert_generation(w, 0);
    assert_query(w, "PRAGMA integrity_check", "ok");
    tb_db_close(w);
}

/* Sort mode: only inside a transaction; small cache and two helper threads while on; the
 * handle's own cache size back after, and rows written before it still there. */
static void sort_mode(void **state)
{
    tb_db *db = open_db(*state, TB_OPEN_CREATE);
    assert_int_equal(tb__meta_sort_mode(db, 1), TB_EINVAL); /* no transaction */
    assert_int_equal(tb__meta_sort_mode(db, 0), 0);         /* never on: only the helpers go */
    assert_query(db, "PRAGMA threads", "0");
    assert_int_equal(tb__meta_cache_limit(db, 8), 0);
    assert_int_equal(tb__meta_begin_bulk(db), 0);
    assert_int_equal(insert_batch(db, "20240131", 1), 0);
    assert_int_equal(tb__meta_sort_mode(db, 1), 0);
    assert_query(db, "PRAGMA cache_size", "-4096");
    assert_query(db, "PRAGMA threads", "2");
    assert_int_equal(sqlite3_exec(tb__db_sqlite(db), "CREATE INDEX t_by_date ON batch (batch_date)",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    assert_int_equal(tb__meta_sort_mode(db, 0), 0);
    assert_query(db, "PRAGMA cache_size", "-8192");
    assert_query(db, "PRAGMA threads", "0");
    assert_int_equal(tb__meta_commit(db), 0);
    assert_query(db, "SELECT count(*) FROM batch", "1");
    tb_db_close(db);
}

/* A handle closed inside a transaction rolls it back and closes its connection cleanly: the
 * rollback must not leave a statement behind that keeps sqlite3_close from succeeding (which
 * would leak the connection and log a warning). */
static void close_inside_transaction(void **state)
{
    tb_db *db = open_db(*state, TB_OPEN_CREATE);
    assert_int_equal(tb__meta_begin(db), 0);
    assert_int_equal(insert_batch(db, "20240131", 1), 0);
    char *logpath = tbt_join(*state, "log.txt");
    FILE *log = fopen(logpath, "w+");
    assert_non_null(log);
    tb__log_set_stream(log);
    tb_db_close(db);
    tb__log_set_stream(NULL);
    assert_int_equal(ftell(log), 0); /* no "cannot close meta store" */
    fclose(log);
    free(logpath);

    db = open_db(*state, TB_OPEN_CREATE);
    assert_query(db, "SELECT count(*) FROM batch", "0"); /* not committed behind our back */
    tb_db_close(db);
}

static void statement_cache_and_errors(void **state)
{
    tb_db *db = open_db(*state, TB_OPEN_CREATE);
    sqlite3_stmt *a, *b;
    assert_int_equal(tb__meta_stmt(db, TB__STMT_USER_VERSION, "PRAGMA user_version", &a), 0);
    assert_int_equal(sqlite3_step(a), SQLITE_ROW); /* left mid-way on purpose */
    assert_int_equal(tb__meta_stmt(db, TB__STMT_USER_VERSION, "PRAGMA user_version", &b), 0);
    assert_ptr_equal(a, b);                    /* prepared once */
    assert_int_equal(sqlite3_stmt_busy(b), 0); /* and handed out reset */
    tb__meta_stmt_done(b);
    tb__meta_stmt_done(NULL);

    assert_int_equal(tb__meta_stmt(db, TB__STMT_BATCH_LIST, "SELEC nonsense", &a), TB_ESTORE);
    assert_null(a);
    assert_non_null(strstr(tb_errmsg(db), "syntax error"));

    assert_int_equal(tb__meta_seterr_sqlite(db, SQLITE_CORRUPT, "reading"), TB_ECORRUPT);
    assert_int_equal(tb__meta_seterr_sqlite(db, SQLITE_NOMEM, "reading"), TB_ENOMEM);
    assert_int_equal(tb__meta_seterr_sqlite(db, SQLITE_FULL, "writing 'x'"), TB_ESTORE);
    assert_string_equal(tb__db_err(db)->msg, "writing 'x': database or disk is full");
    assert_int_equal(tb__db_check_writable(db), 0);
    tb_db_close(db);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(connection_is_configured, tbt_setup_tmpdir,
                                        tbt_teardown_tmpdir),
        cmocka_unit_test_setup_teardown(migrations_are_idempotent, tbt_setup_tmpdir,
                                        tbt_teardown_tmpdir),
        cmocka_unit_test_setup_teardown(older_store_is_upgraded_by_writer, tbt_setup_tmpdir,
                                        tbt_teardown_tmpdir),
        cmocka_unit_test_setup_teardown(newer_user_version_is_eversion, tbt_setup_tmpdir,
                                        tbt_teardown_tmpdir),
        cmocka_unit_test_setup_teardown(corrupt_store_is_ecorrupt, tbt_setup_tmpdir,
                                        tbt_teardown_tmpdir),
        cmocka_unit_test_setup_teardown(settings_round_trip, tbt_setup_tmpdir, tbt_teardown_tmpdir),
        cmocka_unit_test_setup_teardown(transactions_and_batches, tbt_setup_tmpdir,
                                        tbt_teardown_tmpdir),
        cmocka_unit_test_setup_teardown(foreign_keys_enforced, tbt_setup_tmpdir,
                                        tbt_teardown_tmpdir),
        cmocka_unit_test_setup_teardown(statement_cache_and_errors, tbt_setup_tmpdir,
                                        tbt_teardown_tmpdir),
        cmocka_unit_test_setup_teardown(bulk_transaction, tbt_setup_tmpdir, tbt_teardown_tmpdir),
        cmocka_unit_test_setup_teardown(sort_mode, tbt_setup_tmpdir, tbt_teardown_tmpdir),
        cmocka_unit_test_setup_teardown(checkpoint_past_page_cache, tbt_setup_tmpdir,
                                        tbt_teardown_tmpdir),
        cmocka_unit_test_setup_teardown(close_inside_transaction, tbt_setup_tmpdir,
                                        tbt_teardown_tmpdir),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
