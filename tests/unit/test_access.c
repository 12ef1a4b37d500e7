/* test_access.c — tests src/security/access.c: per-user counters against their limits (settings),
 * the access that goes over raises an "alert.KIND" audit record and blocks the user (no further
 * access, no login), unblocking needs user.admin, clears the counts and is audited; the sliding
 * window forgets old minutes; the command line's own user is not counted. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "security/security.h"
#include "store/meta.h"

#include "helpers.h"

static tb_db *setup_db(const char *parent)
{
    char *d = tbt_join(parent, "d");
    char err[256] = "";
    tb_db *db = NULL;
    if (tb_db_open(d, TB_OPEN_CREATE, &db, err, sizeof err)) fail_msg("tb_db_open: %s", err);
    free(d);
    assert_int_equal(tb__security_init(db), 0);
    assert_int_equal(
        tb__user_add(db, "eve", "analyst", TB__SCOPE_ALL, NULL, "long enough password", NULL, 0),
        0);
    assert_int_equal(
        tb__user_add(db, "root2", "admin", TB__SCOPE_ALL, NULL, "long enough password", NULL, 0),
        0);
    return db;
}

static tb__principal who(tb_db *db, const char *name)
{
    tb__principal p;
    int rc = tb__principal_user(db, name, &p);
    if (rc) fail_msg("principal '%s': %s", name, tb_errmsg(db));
    return p;
}

static void sql(tb_db *db, const char *text)
{
    char *err = NULL;
    if (sqlite3_exec(tb__db_sqlite(db), text, NULL, NULL, &err) != SQLITE_OK)
        fail_msg("%s: %s", text, err);
}

static long long query_int(tb_db *db, const char *text)
{
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(tb__db_sqlite(db), text, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    long long n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return n;
}

static void threshold_block_unblock(void **state)
{
    tb_db *db = setup_db(*state);
    assert_int_equal(tb_db_set_setting(db, "security.alert.view360_per_hour", "3"), 0);
    tb__principal eve = who(db, "eve"), admin = who(db, "root2");
    for (int i = 0; i < 3; i++)
        assert_int_equal(tb__access_note(db, &eve, "10.1.1.1", "view360"), 0);
    /* other kinds count apart */
    assert_int_equal(tb__access_note(db, &eve, "10.1.1.1", "pii_read"), 0);
    assert_int_equal(tb__access_note(db, &eve, "10.1.1.1", "view360"), TB_EPERM);
    assert_non_null(strstr(tb_errmsg(db), "4 view360 in 1h is over the limit of 3"));
    assert_int_equal(query_int(db, "SELECT count(*) FROM audit WHERE action = 'alert.view360' AND "
                                   "actor = 'eve' AND object = 'eve' AND outcome = 'denied' AND "
                                   "remote = '10.1.1.1'"),
                     1);
    /* blocked for everything now, without another alert */
    assert_int_equal(tb__access_note(db, &eve, NULL, "pii_read"), TB_EPERM);
    assert_non_null(strstr(tb_errmsg(db), "is blocked"));
    assert_int_equal(query_int(db, "SELECT count(*) FROM audit WHERE action LIKE 'alert.%'"), 1);
    tb__principal p;
    assert_int_equal(tb__principal_user(db, "eve", &p), TB_EPERM);
    char sid[65], csrf[65];
    assert_int_equal(tb__login(db, "eve", "long enough password", 60, NULL, &p, sid, csrf),
                     TB_EPERM);

    json_t *a;
    assert_int_equal(tb__alert_list(db, 0, &a), 0);
    assert_int_equal(json_array_size(a), 1);
    json_t *al = json_array_get(a, 0);
    assert_string_equal(json_string_value(json_object_get(al, "user")), "eve");
    assert_string_equal(json_string_value(json_object_get(al, "kind")), "view360");
    assert_int_equal(json_integer_value(json_object_get(al, "count")), 4);
    assert_int_equal(json_integer_value(json_object_get(al, "limit")), 3);
    assert_string_equal(json_string_value(json_object_get(al, "window")), "1h");
    assert_non_null(strstr(json_string_value(json_object_get(al, "blocked")), "alert.view360"));
    json_decref(a);

    /* only user.admin clears it; an attempt without is audited */
    tb__principal analyst = eve;
    assert_int_equal(tb__user_unblock(db, &analyst, NULL, "eve"), TB_EPERM);
    assert_int_equal(query_int(db, "SELECT count(*) FROM audit WHERE action = 'user.unblock' AND "
                                   "outcome = 'denied'"),
                     1);
    assert_int_equal(tb__user_unblock(db, &admin, "10.9.9.9", "nobody"), TB_ENOENT);
    assert_int_equal(tb__user_unblock(db, &admin, "10.9.9.9", "eve"), 0);
    assert_int_equal(tb__user_unblock(db, &admin, "10.9.9.9", "eve"), TB_EINVAL);
    assert_int_equal(query_int(db, "SELECT count(*) FROM audit WHERE action = 'user.unblock' AND "
                                   "actor = 'root2' AND outcome = 'ok' AND detail LIKE "
                                   "'%alert.view360%'"),
                     1);
    /* counters start again */
    assert_int_equal(query_int(db, "SELECT count(*) FROM access_counter"), 0);
    for (int i = 0; i < 3; i++)
        assert_int_equal(tb__access_note(db, &eve, NULL, "view360"), 0);
    assert_int_equal(tb__alert_list(db, 0, &a), 0);
    assert_true(json_is_null(json_object_get(json_array_get(a, 0), "blocked")));
    json_decref(a);

    json_t *v;
    assert_int_equal(tb__audit_verify(db, &v), 0);
    assert_true(json_is_true(json_object_get(v, "ok")));
    json_decref(v);
    tb_db_close(db);
}

static void window_and_kinds(void **state)
{
    tb_db *db = setup_db(*state);
    tb__principal eve = who(db, "eve");
    assert_int_equal(tb_db_set_setting(db, "security.alert.export_per_day", "2"), 0);
    /* two exports 25 hours ago fall out of the day's window */
    sql(db, "INSERT INTO access_counter (user_id, kind, minute, n) SELECT user_id, 'export', "
            "CAST(strftime('%s', 'now') AS INTEGER) / 60 - 1500, 2 FROM user WHERE name = 'eve'");
    /* one 23 hours ago stays in it */
    sql(db, "INSERT INTO access_counter (user_id, kind, minute, n) SELECT user_id, 'export', "
            "CAST(strftime('%s', 'now') AS INTEGER) / 60 - 1380, 1 FROM user WHERE name = 'eve'");
    assert_int_equal(tb__access_note(db, &eve, NULL, "export"), 0);
    assert_int_equal(query_int(db, "SELECT count(*) FROM access_counter WHERE kind = 'export'"), 2);
    assert_int_equal(tb__access_note(db, &eve, NULL, "export"), TB_EPERM);
    assert_non_null(strstr(tb_errmsg(db), "3 export in 1d"));
    assert_int_equal(query_int(db, "SELECT count(*) FROM audit WHERE action = 'alert.export'"), 1);

    /* bad kinds and settings */
    assert_int_equal(tb__access_note(db, &eve, NULL, "peek"), TB_EINVAL);
    assert_int_equal(tb_db_set_setting(db, "security.alert.pii_per_hour", "0"), 0);
    tb__principal admin = who(db, "root2");
    assert_int_equal(tb__access_note(db, &admin, NULL, "pii_read"), TB_EINVAL);
    assert_non_null(strstr(tb_errmsg(db), "security.alert.pii_per_hour"));

    /* the command line's operating-system user is not counted */
    tb__principal cli;
    tb__principal_cli(&cli, "root");
    assert_int_equal(tb_db_set_setting(db, "security.alert.view360_per_hour", "1"), 0);
    for (int i = 0; i < 5; i++)
        assert_int_equal(tb__access_note(db, &cli, NULL, "view360"), 0);
    /* at a limit of 50 an hour, the 51st read goes over */
    assert_int_equal(tb_db_set_setting(db, "security.alert.pii_per_hour", "50"), 0);
    for (int i = 0; i < 50; i++)
        assert_int_equal(tb__access_note(db, &admin, NULL, "pii_read"), 0);
    assert_int_equal(tb__access_note(db, &admin, NULL, "pii_read"), TB_EPERM);
    tb_db_close(db);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(threshold_block_unblock, tbt_setup_tmpdir,
                                        tbt_teardown_tmpdir),
        cmocka_unit_test_setup_teardown(window_and_kinds, tbt_setup_tmpdir, tbt_teardown_tmpdir),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
