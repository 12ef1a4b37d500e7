/* test_approval.c — tests src/security/approval.c: requests of each kind and their payload
 * checks, a second person with the checker permissions decides (never the requester, never the
 * subject of a role change), single use with requester, kind and payload matched, expiry of
 * pending and approved requests, rejections, the export thresholds, and the audit trail of it
 * all (records present, chain intact). */
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

/* A fresh store with alice and carol (analysts), bob and dave (admins). */
static tb_db *setup_db(const char *parent)
{
    char *d = tbt_join(parent, "d");
    char err[256] = "";
    tb_db *db = NULL;
    if (tb_db_open(d, TB_OPEN_CREATE, &db, err, sizeof err)) fail_msg("tb_db_open: %s", err);
    free(d);
    assert_int_equal(tb__security_init(db), 0);
    const char *users[][2] = {
        {"alice", "analyst"}, {"carol", "analyst"}, {"bob", "admin"}, {"dave", "admin"}};
    for (size_t i = 0; i < 4; i++)
        assert_int_equal(tb__user_add(db, users[i][0], users[i][1], TB__SCOPE_ALL, NULL,
                                      "long enough password", NULL, 0),
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

/* The status of request id as tb__approval_get shows it (static buffer). */
static const char *status_of(tb_db *db, int64_t id)
{
    static char buf[32];
    json_t *r;
    assert_int_equal(tb__approval_get(db, id, &r), 0);
    snprintf(buf, sizeof buf, "%s", json_string_value(json_object_get(r, "status")));
    json_decref(r);
    return buf;
}

static void assert_chain_ok(tb_db *db)
{
    json_t *v;
    assert_int_equal(tb__audit_verify(db, &v), 0);
    assert_true(json_is_true(json_object_get(v, "ok")));
    json_decref(v);
}

static const char seg_payload[] = "{\"segment\":\"高净值\",\"customers\":20000,"
                                  "\"fields\":[\"cust_no\",\"aum_level\"]}";
/* The same object, keys in another order and spaced. */
static const char seg_payload_reordered[] =
    "{ \"fields\": [\"cust_no\", \"aum_level\"], \"customers\": 20000, \"segment\": \"高净值\" }";

static void request_approve_use_once(void **state)
{
    tb_db *db = setup_db(*state);
    tb__principal alice = who(db, "alice"), bob = who(db, "bob");
    int64_t id;
    assert_int_equal(tb__approval_request(db, &alice, "10.0.0.1", "export_large", seg_payload, &id),
                     0);
    assert_true(id > 0);
    assert_string_equal(status_of(db, id), "pending");
    /* not yet approved: cannot be used */
    assert_int_equal(
        tb__approval_consume(db, id, &alice, NULL, "export_large", seg_payload_reordered),
        TB_EPERM);
    assert_non_null(strstr(tb_errmsg(db), "pending, not approved"));
    assert_int_equal(tb__approval_decide(db, &bob, "10.0.0.2", id, 1, "ok for the campaign"), 0);
    assert_string_equal(status_of(db, id), "approved");
    json_t *r;
    assert_int_equal(tb__approval_get(db, id, &r), 0);
    assert_string_equal(json_string_value(json_object_get(r, "decided_by")), "bob");
    assert_string_equal(json_string_value(json_object_get(r, "requester")), "alice");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(r, "payload"), "segment")), "高净值");
    json_decref(r);

    /* the canonical payload matches whatever the key order */
    assert_int_equal(
        tb__approval_consume(db, id, &alice, NULL, "export_large", seg_payload_reordered), 0);
    assert_string_equal(status_of(db, id), "used");
    /* single use */
    assert_int_equal(tb__approval_consume(db, id, &alice, NULL, "export_large", seg_payload),
                     TB_EPERM);
    assert_non_null(strstr(tb_errmsg(db), "used once"));

    assert_int_equal(query_int(db,
                               "SELECT count(*) FROM audit WHERE action = 'approval.request' AND "
                               "actor = 'alice' AND outcome = 'ok' AND remote = '10.0.0.1'"),
                     1);
    assert_int_equal(query_int(db, "SELECT count(*) FROM audit WHERE action = 'approval.approve' "
                                   "AND actor = 'bob' AND outcome = 'ok'"),
                     1);
    assert_int_equal(query_int(db, "SELECT count(*) FROM audit WHERE action = 'approval.use' AND "
                                   "outcome = 'ok'"),
                     1);
    assert_int_equal(query_int(db, "SELECT count(*) FROM audit WHERE action = 'approval.use' AND "
                                   "outcome = 'denied'"),
                     2);
    /* the free-text comment stays out of the audit */
    assert_int_equal(query_int(db, "SELECT count(*) FROM audit WHERE detail LIKE '%campaign%'"), 0);
    assert_chain_ok(db);
    tb_db_close(db);
}

static void second_person_with_permission(void **state)
{
    tb_db *db = setup_db(*state);
    tb__principal alice = who(db, "alice"), carol = who(db, "carol"), bob = who(db, "bob"),
                  dave = who(db, "dave");
    int64_t id;
    /* an analyst may not ask for role changes */
    assert_int_equal(tb__approval_request(db, &alice, NULL, "role_change",
                                          "{\"user\":\"carol\",\"role\":\"admin\"}", &id),
                     TB_EPERM);
    assert_int_equal(id, 0);
    assert_non_null(strstr(tb_errmsg(db), "user.admin"));
    assert_int_equal(query_int(db, "SELECT count(*) FROM approval"), 0);
    assert_int_equal(query_int(db, "SELECT count(*) FROM audit WHERE action = "
                                   "'approval.request' AND outcome = 'denied'"),
                     1);

    assert_int_equal(tb__approval_request(db, &bob, NULL, "role_change",
                                          "{\"user\":\"carol\",\"role\":\"marketing_manager\"}",
                                          &id),
                     0);
    /* the requester cannot decide their own request */
    assert_int_equal(tb__approval_decide(db, &bob, NULL, id, 1, NULL), TB_EPERM);
    assert_non_null(strstr(tb_errmsg(db), "second person"));
    /* a second person without user.admin cannot either */
    assert_int_equal(tb__approval_decide(db, &alice, NULL, id, 1, NULL), TB_EPERM);
    assert_non_null(strstr(tb_errmsg(db), "needs user.admin"));
    /* the subject of the role change cannot decide it (carol has no user.admin anyway) */
    assert_int_equal(tb__approval_decide(db, &carol, NULL, id, 1, NULL), TB_EPERM);
    assert_string_equal(status_of(db, id), "pending");
    assert_int_equal(tb__approval_decide(db, &dave, NULL, id, 1, "agreed"), 0);
    assert_string_equal(status_of(db, id), "approved");
    /* decided once */
    assert_int_equal(tb__approval_decide(db, &dave, NULL, id, 0, "changed my mind"), TB_EPERM);
    assert_non_null(strstr(tb_errmsg(db), "approved, not pending"));

    /* an admin asking to change another admin's role: that admin cannot approve it */
    assert_int_equal(tb__approval_request(db, &bob, NULL, "role_change",
                                          "{\"user\":\"dave\",\"role\":\"auditor\"}", &id),
                     0);
    assert_int_equal(tb__approval_decide(db, &dave, NULL, id, 1, NULL), TB_EPERM);
    assert_non_null(strstr(tb_errmsg(db), "their own role"));

    /* unmasked export: checker needs pii.clear; carol (analyst) cannot, bob can */
    assert_int_equal(tb__approval_request(db, &alice, NULL, "export_unmasked",
                                          "{\"segment\":\"s1\",\"fields\":[\"mobile\"]}", &id),
                     0);
    assert_int_equal(tb__approval_decide(db, &carol, NULL, id, 1, NULL), TB_EPERM);
    assert_non_null(strstr(tb_errmsg(db), "pii.clear"));
    assert_int_equal(tb__approval_decide(db, &bob, NULL, id, 1, NULL), 0);

    /* the checker permissions come from a setting when it is set */
    assert_int_equal(tb_db_set_setting(db, "security.approval.perms.export_large", "seg.export"),
                     0);
    assert_int_equal(
        tb__approval_request(db, &alice, NULL, "export_large", "{\"segment\":\"s1\"}", &id), 0);
    assert_int_equal(tb__approval_decide(db, &carol, NULL, id, 1, NULL), 0);
    assert_int_equal(tb_db_set_setting(db, "security.approval.perms.export_large", "seg.nope"), 0);
    assert_int_equal(
        tb__approval_request(db, &alice, NULL, "export_large", "{\"segment\":\"s1\"}", &id), 0);
    assert_int_equal(tb__approval_decide(db, &carol, NULL, id, 1, NULL), TB_EINVAL);
    assert_non_null(strstr(tb_errmsg(db), "security.approval.perms.export_large"));

    assert_int_equal(query_int(db, "SELECT count(*) FROM audit WHERE action = "
                                   "'approval.approve' AND outcome = 'denied'"),
                     5);
    assert_chain_ok(db);
    tb_db_close(db);
}

static void mismatch_refused(void **state)
{
    tb_db *db = setup_db(*state);
    tb__principal alice = who(db, "alice"), carol = who(db, "carol"), bob = who(db, "bob");
    int64_t id;
    assert_int_equal(tb__approval_request(db, &alice, NULL, "export_unmasked",
                                          "{\"segment\":\"s1\",\"fields\":[\"mobile\"]}", &id),
                     0);
    assert_int_equal(tb__approval_decide(db, &bob, NULL, id, 1, NULL), 0);
    /* another segment, more fields, another kind, another person: all refused */
    assert_int_equal(tb__approval_consume(db, id, &alice, NULL, "export_unmasked",
                                          "{\"segment\":\"s2\",\"fields\":[\"mobile\"]}"),
                     TB_EPERM);
    assert_non_null(strstr(tb_errmsg(db), "does not cover"));
    assert_int_equal(tb__approval_consume(db, id, &alice, NULL, "export_unmasked",
                                          "{\"segment\":\"s1\",\"fields\":[\"mobile\",\"id_no\"]}"),
                     TB_EPERM);
    assert_int_equal(tb__approval_consume(db, id, &alice, NULL, "export_large",
                                          "{\"segment\":\"s1\",\"fields\":[\"mobile\"]}"),
                     TB_EPERM);
    assert_non_null(strstr(tb_errmsg(db), "is for 'export_unmasked'"));
    assert_int_equal(tb__approval_consume(db, id, &carol, NULL, "export_unmasked",
                                          "{\"segment\":\"s1\",\"fields\":[\"mobile\"]}"),
                     TB_EPERM);
    assert_non_null(strstr(tb_errmsg(db), "someone else"));
    /* a bad payload is bad input, not a refusal */
    assert_int_equal(tb__approval_consume(db, id, &alice, NULL, "export_unmasked", "{"), TB_EINVAL);
    assert_int_equal(tb__approval_consume(db, id, &alice, NULL, "nope", "{}"), TB_EINVAL);
    assert_int_equal(tb__approval_consume(db, 999, &alice, NULL, "export_unmasked",
                                          "{\"segment\":\"s1\",\"fields\":[\"mobile\"]}"),
                     TB_ENOENT);
    /* still usable by the right person for the right thing */
    assert_string_equal(status_of(db, id), "approved");
    assert_int_equal(tb__approval_consume(db, id, &alice, NULL, "export_unmasked",
                                          "{\"fields\":[\"mobile\"],\"segment\":\"s1\"}"),
                     0);
    assert_int_equal(query_int(db, "SELECT count(*) FROM audit WHERE action = 'approval.use' AND "
                                   "outcome = 'denied'"),
                     4);
    assert_chain_ok(db);
    tb_db_close(db);
}

static void payloads_checked(void **state)
{
    tb_db *db = setup_db(*state);
    tb__principal alice = who(db, "alice"), bob = who(db, "bob");
    int64_t id;
    const char *bad[][2] = {
        {"export_large", "not json"},
        {"export_large", "[1]"},
        {"export_large", "{}"},
        {"export_large", "{\"segment\":\"a\",\"expression\":\"b\"}"},
        {"export_large", "{\"segment\":\"a\",\"mobile\":\"13812345678\"}"},
        {"export_large", "{\"segment\":\"a\",\"fields\":\"mobile\"}"},
        {"export_large", "{\"segment\":\"a\",\"customers\":-1}"},
        {"export_large", "{\"segment\":\"a\",\"segment\":\"b\"}"},
        {"export_unmasked", "{\"segment\":\"a\"}"},
        {"export_unmasked", "{\"segment\":\"a\",\"fields\":[]}"},
        {"role_change", "{\"user\":\"carol\"}"},
        {"role_change", "{\"user\":\"carol\",\"role\":\"nosuchrole\"}"},
        {"role_change", "{\"user\":\"carol\",\"role\":\"admin\",\"why\":\"x\"}"},
        {"nope", "{\"segment\":\"a\"}"},
        {"export_large", NULL},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const tb__principal *p = strcmp(bad[i][0], "role_change") == 0 ? &bob : &alice;
        int rc = tb__approval_request(db, p, NULL, bad[i][0], bad[i][1], &id);
        if (rc != TB_EINVAL && rc != TB_ENOENT)
            fail_msg("payload %zu (%s) gave %d: %s", i, bad[i][1] ? bad[i][1] : "NULL", rc,
                     tb_errmsg(db));
    }
    char big[5000];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = 0;
    assert_int_equal(tb__approval_request(db, &alice, NULL, "export_large", big, &id), TB_EINVAL);
    assert_int_equal(query_int(db, "SELECT count(*) FROM approval"), 0);
    /* expression instead of segment is fine */
    assert_int_equal(tb__approval_request(db, &alice, NULL, "export_large",
                                          "{\"expression\":\"age > 30\"}", &id),
                     0);
    /* reject needs a comment */
    assert_int_equal(tb__approval_decide(db, &bob, NULL, id, 0, NULL), TB_EINVAL);
    assert_int_equal(tb__approval_decide(db, &bob, NULL, id, 0, "too broad"), 0);
    assert_string_equal(status_of(db, id), "rejected");
    assert_int_equal(
        tb__approval_consume(db, id, &alice, NULL, "export_large", "{\"expression\":\"age > 30\"}"),
        TB_EPERM);
    assert_non_null(strstr(tb_errmsg(db), "rejected"));
    assert_int_equal(query_int(db, "SELECT count(*) FROM audit WHERE action = 'approval.reject'"),
                     1);
    json_t *a;
    assert_int_equal(tb__approval_list(db, "bogus", NULL, 0, &a), TB_EINVAL);
    assert_int_equal(tb__approval_list(db, "rejected", "alice", 0, &a), 0);
    assert_int_equal(json_array_size(a), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(a, 0), "comment")),
                        "too broad");
    json_decref(a);
    assert_chain_ok(db);
    tb_db_close(db);
}

static void expiry(void **state)
{
    tb_db *db = setup_db(*state);
    tb__principal alice = who(db, "alice"), bob = who(db, "bob");
    int64_t pending, approved;
    const char *p = "{\"segment\":\"s1\"}";
    assert_int_equal(tb__approval_request(db, &alice, NULL, "export_large", p, &pending), 0);
    assert_int_equal(tb__approval_request(db, &alice, NULL, "export_large", p, &approved), 0);
    assert_int_equal(tb__approval_decide(db, &bob, NULL, approved, 1, NULL), 0);
    /* approval_hours: 24 by default, counted again from the approval */
    assert_int_equal(query_int(db, "SELECT count(*) FROM approval WHERE expires_at > "
                                   "datetime('now', '+8 hours', '+23 hours')"),
                     2);
    sql(db, "UPDATE approval SET expires_at = '2000-01-01 00:00:00'");
    assert_string_equal(status_of(db, pending), "expired");
    assert_string_equal(status_of(db, approved), "expired");
    json_t *a;
    assert_int_equal(tb__approval_list(db, "expired", NULL, 0, &a), 0);
    assert_int_equal(json_array_size(a), 2);
    json_decref(a);
    assert_int_equal(tb__approval_decide(db, &bob, NULL, pending, 1, NULL), TB_EPERM);
    assert_non_null(strstr(tb_errmsg(db), "expired"));
    assert_int_equal(tb__approval_consume(db, approved, &alice, NULL, "export_large", p), TB_EPERM);
    assert_non_null(strstr(tb_errmsg(db), "expired"));
    /* the refusal marked them expired in the store too */
    assert_int_equal(query_int(db, "SELECT count(*) FROM approval WHERE status = 'expired'"), 2);
    /* the setting is checked */
    assert_int_equal(tb_db_set_setting(db, "security.approval_hours", "0"), 0);
    assert_int_equal(tb__approval_request(db, &alice, NULL, "export_large", p, &pending),
                     TB_EINVAL);
    assert_int_equal(tb_db_set_setting(db, "security.approval_hours", "2"), 0);
    assert_int_equal(tb__approval_request(db, &alice, NULL, "export_large", p, &pending), 0);
    assert_int_equal(query_int(db, "SELECT count(*) FROM approval WHERE status = 'pending' AND "
                                   "expires_at < datetime('now', '+8 hours', '+3 hours')"),
                     1);
    assert_chain_ok(db);
    tb_db_close(db);
}

static void export_thresholds(void **state)
{
    tb_db *db = setup_db(*state);
    const char *k;
    assert_int_equal(tb__approval_export_kind(db, 10000, 0, &k), 0);
    assert_null(k);
    assert_int_equal(tb__approval_export_kind(db, 10001, 0, &k), 0);
    assert_string_equal(k, "export_large");
    assert_int_equal(tb__approval_export_kind(db, 5, 1, &k), 0);
    assert_string_equal(k, "export_unmasked");
    assert_int_equal(tb_db_set_setting(db, "security.export_approval_over", "100"), 0);
    assert_int_equal(tb__approval_export_kind(db, 101, 0, &k), 0);
    assert_string_equal(k, "export_large");
    assert_int_equal(tb_db_set_setting(db, "security.export_approval_over", "lots"), 0);
    assert_int_equal(tb__approval_export_kind(db, 101, 0, &k), TB_EINVAL);
    assert_non_null(strstr(tb_errmsg(db), "security.export_approval_over"));
    unsigned perms;
    assert_int_equal(tb__approval_perms(db, "role_change", 0, &perms), 0);
    assert_int_equal(perms, TB__P_USER_ADMIN);
    assert_int_equal(tb__approval_perms(db, "export_unmasked", 0, &perms), 0);
    assert_int_equal(perms, TB__P_SEG_EXPORT | TB__P_PII_CLEAR);
    assert_int_equal(tb__approval_perms(db, "x", 0, &perms), TB_EINVAL);
    /* principals: unknown, disabled */
    tb__principal p;
    assert_int_equal(tb__principal_user(db, "nobody", &p), TB_ENOENT);
    assert_int_equal(tb__user_disable(db, "carol", 1), 0);
    assert_int_equal(tb__principal_user(db, "carol", &p), TB_EPERM);
    assert_non_null(strstr(tb_errmsg(db), "disabled"));
    tb_db_close(db);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(request_approve_use_once, tbt_setup_tmpdir,
                                        tbt_teardown_tmpdir),
        cmocka_unit_test_setup_teardown(second_person_with_permission, tbt_setup_tmpdir,
                                        tbt_teardown_tmpdir),
        cmocka_unit_test_setup_teardown(mismatch_refused, tbt_setup_tmpdir, tbt_teardown_tmpdir),
        cmocka_unit_test_setup_teardown(payloads_checked, tbt_setup_tmpdir, tbt_teardown_tmpdir),
        cmocka_unit_test_setup_teardown(expiry, tbt_setup_tmpdir, tbt_teardown_tmpdir),
        cmocka_unit_test_setup_teardown(export_thresholds, tbt_setup_tmpdir, tbt_teardown_tmpdir),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
