/* test_metarows.c — tests src/store/metarows.c: tb__meta_insert_rows (many rows in one INSERT ...
 * SELECT from the tb_rows virtual table) and tb__meta_bind_vals. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "store/meta.h"

#include "helpers.h"

static tb_db *open_db(const char *parent)
{
    char *d = tbt_join(parent, "d");
    char err[256] = "";
    tb_db *db = NULL;
    int rc = tb_db_open(d, TB_OPEN_CREATE, &db, err, sizeof err);
    if (rc) fail_msg("tb_db_open('%s'): %s", d, err);
    free(d);
    assert_int_equal(sqlite3_exec(tb__db_sqlite(db),
                                  "CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT, n INTEGER, "
                                  "note TEXT NOT NULL)",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    return db;
}

static int64_t count(tb_db *db, const char *sql)
{
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(tb__db_sqlite(db), sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    int64_t n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return n;
}

/* Rows id, "name-<id>" (NULL for every tenth), id * 3, "x"; the text in one buffer that every row
 * rewrites, as callers do; row `fail_at` fails. */
struct src {
    char buf[32];
    size_t fail_at;
    tb_db *db;
};

static int row(void *arg, size_t i, tb__meta_val *v)
{
    struct src *s = arg;
    if (i == s->fail_at)
        return tb__seterr(tb__db_err(s->db), TB_EFORMAT, "row %zu: made up to fail", i);
    snprintf(s->buf, sizeof s->buf, "name-%zu", i);
    v[0] = tb__meta_int((int64_t)i);
    if (i % 10) v[1] = tb__meta_text(s->buf); /* else left NULL, as preset */
    v[2] = tb__meta_int((int64_t)i * 3);
    v[3] = (tb__meta_val){TB__VAL_TEXT, 0, "xyz", 1}; /* length, not strlen */
    return 0;
}

#define INSERT_T "INSERT INTO t (id, name, n, note) SELECT c0, c1, c2, c3 FROM tb_rows"

static void rows_go_in_as_given(void **state)
{
    tb_db *db = open_db(*state);
    struct src s = {.fail_at = SIZE_MAX, .db = db};
    assert_int_equal(tb__meta_begin(db), 0);
    assert_int_equal(tb__meta_insert_rows(db, TB__STMT_ID_INS_KEY, INSERT_T, 10000, 4, row, &s,
                                          "cannot insert into t"),
                     0);
    assert_int_equal(tb__meta_commit(db), 0);
    assert_int_equal(count(db, "SELECT count(*) FROM t"), 10000);
    assert_int_equal(count(db, "SELECT count(*) FROM t WHERE name IS NULL"), 1000);
    /* each row kept its own text although the buffer was rewritten for the next one */
    assert_int_equal(count(db, "SELECT count(*) FROM t WHERE name = 'name-' || id"), 9000);
    assert_int_equal(count(db, "SELECT count(*) FROM t WHERE n = id * 3 AND note = 'x'"), 10000);
    assert_int_equal(count(db, "SELECT typeof(n) = 'integer' FROM t WHERE id = 7"), 1);
    /* no rows: nothing happens, the statement is not even prepared */
    assert_int_equal(tb__meta_insert_rows(db, TB__STMT_ID_INS_HISTORY, "not SQL at all", 0, 4, row,
                                          &s, "nothing"),
                     0);
    tb_db_close(db);
}

static void a_failing_row_undoes_the_statement(void **state)
{
    tb_db *db = open_db(*state);
    struct src s = {.fail_at = 5000, .db = db};
    assert_int_equal(tb__meta_begin(db), 0);
    assert_int_equal(sqlite3_exec(tb__db_sqlite(db), "INSERT INTO t VALUES (-1, 'kept', 0, 'k')",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    assert_int_equal(tb__meta_insert_rows(db, TB__STMT_ID_INS_KEY, INSERT_T, 10000, 4, row, &s,
                                          "cannot insert into t"),
                     TB_EFORMAT);
    assert_string_equal(tb_errmsg(db), "row 5000: made up to fail"); /* the callback's detail */
    /* the statement's 5000 rows are gone, the transaction's earlier row is not */
    assert_int_equal(count(db, "SELECT count(*) FROM t"), 1);
    /* a constraint the rows break fails the statement with SQLite's words */
    s.fail_at = SIZE_MAX;
    assert_int_equal(tb__meta_insert_rows(db, TB__STMT_ID_INS_HISTORY,
                                          "INSERT INTO t (id, name, n, note) "
                                          "SELECT c0, c1, c2, NULL FROM tb_rows",
                                          3, 4, row, &s, "cannot insert into t"),
                     TB_ESTORE);
    assert_non_null(strstr(tb_errmsg(db), "cannot insert into t: NOT NULL constraint failed"));
    assert_int_equal(count(db, "SELECT count(*) FROM t"), 1);
    /* the handle is usable again: the same statement works with good rows */
    assert_int_equal(tb__meta_insert_rows(db, TB__STMT_ID_INS_KEY, INSERT_T, 3, 4, row, &s,
                                          "cannot insert into t"),
                     0);
    tb__meta_rollback(db);
    assert_int_equal(count(db, "SELECT count(*) FROM t"), 0);
    tb_db_close(db);
}

static int nested(void *arg, size_t i, tb__meta_val *v)
{
    (void)i;
    struct src *s = arg;
    v[0] = tb__meta_int(0);
    return tb__meta_insert_rows(s->db, TB__STMT_ID_INS_HISTORY, INSERT_T, 1, 4, row, s, "nested");
}

static void misuse_is_einval(void **state)
{
    tb_db *db = open_db(*state);
    struct src s = {.fail_at = SIZE_MAX, .db = db};
    assert_int_equal(tb__meta_insert_rows(db, TB__STMT_ID_INS_KEY, INSERT_T, 1, 0, row, &s, "t"),
                     TB_EINVAL);
    assert_int_equal(tb__meta_insert_rows(db, TB__STMT_ID_INS_KEY, INSERT_T, 1,
                                          TB__META_ROW_COLS + 1, row, &s, "t"),
                     TB_EINVAL);
    assert_non_null(strstr(tb_errmsg(db), "at most 16"));
    assert_int_equal(tb__meta_begin(db), 0);
    assert_int_equal(
        tb__meta_insert_rows(db, TB__STMT_ID_INS_KEY, INSERT_T, 2, 4, nested, &s, "outer"),
        TB_EINVAL);
    assert_non_null(strstr(tb_errmsg(db), "already being inserted"));
    tb__meta_rollback(db);
    /* tb_rows is for our own statements only: a view over it is refused */
    assert_int_not_equal(sqlite3_exec(tb__db_sqlite(db),
                                      "CREATE VIEW v AS SELECT c0 FROM tb_rows; SELECT * FROM v",
                                      NULL, NULL, NULL),
                         SQLITE_OK);
    tb_db_close(db);
}

static void bind_vals_binds_each_kind(void **state)
{
    tb_db *db = open_db(*state);
    sqlite3_stmt *st;
    assert_int_equal(tb__meta_stmt(db, TB__STMT_ID_INS_KEY,
                                   "INSERT INTO t (id, name, n, note) VALUES (?1, ?2, ?3, ?4)",
                                   &st),
                     0);
    tb__meta_val v[4] = {tb__meta_int(42), tb__meta_text(NULL), tb__meta_int(-7),
                         (tb__meta_val){TB__VAL_TEXT, 0, "abcdef", 3}};
    assert_int_equal(tb__meta_bind_vals(st, v, 4), 0);
    assert_int_equal(tb__meta_run(db, st, "insert"), 0);
    assert_int_equal(count(db, "SELECT count(*) FROM t WHERE id = 42 AND name IS NULL AND n = -7 "
                               "AND note = 'abc'"),
                     1);
    tb__meta_val extra[5] = {v[0], v[1], v[2], v[3], tb__meta_int(1)};
    assert_int_equal(tb__meta_bind_vals(st, extra, 5), TB_ESTORE); /* no fifth parameter */
    tb__meta_stmt_done(st);
    tb_db_close(db);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(rows_go_in_as_given, tbt_setup_tmpdir, tbt_teardown_tmpdir),
        cmocka_unit_test_setup_teardown(a_failing_row_undoes_the_statement, tbt_setup_tmpdir,
                                        tbt_teardown_tmpdir),
        cmocka_unit_test_setup_teardown(misuse_is_einval, tbt_setup_tmpdir, tbt_teardown_tmpdir),
        cmocka_unit_test_setup_teardown(bind_vals_binds_each_kind, tbt_setup_tmpdir,
                                        tbt_teardown_tmpdir),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
