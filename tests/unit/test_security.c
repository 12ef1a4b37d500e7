/* test_security.c — tests src/security/: permissions and roles (built-in and custom), users and
 * the password policy, argon2id hashing and login, sessions (expiry, CSRF, logout), API tokens
 * (narrowed permissions, expiry, revocation) and the hash-chained audit log (append, verify, and
 * tampering by UPDATE, DELETE and swapped records found at the right seq). */
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

static tb_db *open_db(const char *parent)
{
    char *d = tbt_join(parent, "d");
    char err[256] = "";
    tb_db *db = NULL;
    int rc = tb_db_open(d, TB_OPEN_CREATE, &db, err, sizeof err);
    if (rc) fail_msg("tb_db_open('%s'): %s", d, err);
    free(d);
    return db;
}

/* Runs SQL on the raw connection: the test's way of tampering with the store. */
static void sql(tb_db *db, const char *text)
{
    char *err = NULL;
    if (sqlite3_exec(tb__db_sqlite(db), text, NULL, NULL, &err) != SQLITE_OK)
        fail_msg("%s: %s", text, err);
}

/* A single-value query as text (caller frees). */
static char *query(tb_db *db, const char *text)
{
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(tb__db_sqlite(db), text, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    const char *v = (const char *)sqlite3_column_text(st, 0);
    char *r = strdup(v ? v : "(null)");
    sqlite3_finalize(st);
    return r;
}

static long long query_int(tb_db *db, const char *text)
{
    char *v = query(db, text);
    long long n = atoll(v);
    free(v);
    return n;
}

static int is_hex64(const char *s)
{
    if (strlen(s) != 64) return 0;
    for (; *s; s++)
        if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f'))) return 0;
    return 1;
}

static void perms_and_roles(void **state)
{
    assert_string_equal(tb__perm_name(TB__P_SEG_READ), "seg.read");
    assert_int_equal(tb__perm_parse("audit.read"), TB__P_AUDIT_READ);
    assert_int_equal(tb__perm_parse("seg.nope"), 0);
    assert_null(tb__perm_name((tb__perm)3));
    for (unsigned b = 1; b < TB__P_ALL; b <<= 1)
        assert_int_equal(tb__perm_parse(tb__perm_name((tb__perm)b)), b);
    unsigned p;
    char bad[48];
    assert_int_equal(tb__perms_parse_list(" seg.read, seg.export ", &p, bad, sizeof bad), 0);
    assert_int_equal(p, TB__P_SEG_READ | TB__P_SEG_EXPORT);
    assert_int_equal(tb__perms_parse_list("seg.read,bogus", &p, bad, sizeof bad), TB_EINVAL);
    assert_string_equal(bad, "bogus");
    assert_int_equal(tb__perms_parse_list("", &p, bad, sizeof bad), TB_EINVAL);

    tb_db *db = open_db(*state);
    assert_int_equal(tb__security_init(db), 0);
    assert_int_equal(tb__security_init(db), 0); /* idempotent */
    assert_int_equal(query_int(db, "SELECT count(*) FROM role WHERE builtin = 1"), 8);

    struct {
        const char *role;
        unsigned has, lacks;
    } cases[] = {
        {"admin", TB__P_ALL, 0},
        {"data_steward", TB__P_PIPELINE_LOAD | TB__P_STANDARD_EDIT | TB__P_TAG_APPROVE,
         TB__P_TAG_EDIT | TB__P_PII_CLEAR | TB__P_USER_ADMIN},
        {"tag_developer", TB__P_TAG_EDIT | TB__P_TAG_BUILD, TB__P_TAG_APPROVE | TB__P_SEG_WRITE},
        {"analyst", TB__P_SEG_WRITE | TB__P_SEG_EXPORT | TB__P_CUSTOMER_VIEW,
         TB__P_PII_CLEAR | TB__P_TAG_EDIT},
        {"marketing_manager", TB__P_SEG_EXPORT, TB__P_CUSTOMER_VIEW | TB__P_PII_CLEAR},
        {"branch_manager", TB__P_CUSTOMER_VIEW | TB__P_SEG_EXPORT, TB__P_SEG_WRITE},
        {"customer_manager", TB__P_CUSTOMER_VIEW | TB__P_SEG_READ, TB__P_SEG_EXPORT},
        {"auditor", TB__P_AUDIT_READ | TB__P_PIPELINE_READ, TB__P_SEG_READ | TB__P_USER_ADMIN},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        assert_int_equal(tb__role_perms(db, cases[i].role, &p), 0);
        assert_int_equal(p & cases[i].has, cases[i].has);
        assert_int_equal(p & cases[i].lacks, 0);
    }
    assert_int_equal(tb__role_perms(db, "nobody", &p), TB_ENOENT);

    /* Custom roles: stored by name, replaced, never over a built-in one. */
    assert_int_equal(tb__role_put(db, "risk", TB__P_SEG_READ | TB__P_CUSTOMER_VIEW, "risk"), 0);
    assert_int_equal(tb__role_perms(db, "risk", &p), 0);
    assert_int_equal(p, TB__P_SEG_READ | TB__P_CUSTOMER_VIEW);
    assert_int_equal(tb__role_put(db, "risk", TB__P_SEG_READ, NULL), 0);
    assert_int_equal(tb__role_perms(db, "risk", &p), 0);
    assert_int_equal(p, TB__P_SEG_READ);
    char *text = query(db, "SELECT perms FROM role WHERE name = 'risk'");
    assert_string_equal(text, "seg.read");
    free(text);
    assert_int_equal(tb__role_put(db, "admin", TB__P_SEG_READ, NULL), TB_EPERM);
    assert_int_equal(tb__role_put(db, "Bad Name", TB__P_SEG_READ, NULL), TB_EINVAL);
    assert_int_equal(tb__role_put(db, "empty", 0, NULL), TB_EINVAL);

    json_t *list;
    assert_int_equal(tb__role_list(db, &list), 0);
    assert_int_equal(json_array_size(list), 9);
    json_t *risk = json_array_get(list, 8);
    assert_string_equal(json_string_value(json_object_get(risk, "name")), "risk");
    assert_string_equal(json_string_value(json_array_get(json_object_get(risk, "perms"), 0)),
                        "seg.read");
    json_decref(list);

    tb__principal cli;
    tb__principal_cli(&cli, "ops");
    assert_string_equal(cli.name, "ops");
    assert_int_equal(cli.perms, TB__P_ALL);
    assert_int_equal(cli.scope, TB__SCOPE_ALL);
    assert_true(tb__principal_can(&cli, TB__P_PII_CLEAR | TB__P_USER_ADMIN));
    tb_db_close(db);
}

static void users_and_passwords(void **state)
{
    tb_db *db = open_db(*state);
    assert_int_equal(tb__user_none(db), 1);
    char gen[64];
    assert_int_equal(
        tb__user_add(db, "alice", "analyst", TB__SCOPE_ALL, NULL, "correct horse", gen, sizeof gen),
        0);
    assert_string_equal(gen, "");
    assert_int_equal(tb__user_none(db), 0);
    char *h = query(db, "SELECT pw_hash FROM user WHERE name = 'alice'");
    assert_true(strncmp(h, "$argon2id$", 10) == 0);
    assert_null(strstr(h, "correct horse"));
    free(h);

    /* The policy: a clear error, nothing stored. */
    assert_int_equal(
        tb__user_add(db, "bob", "analyst", TB__SCOPE_ALL, NULL, "tiny-pw", gen, sizeof gen),
        TB_EINVAL);
    assert_non_null(strstr(tb_errmsg(db), "password is too short"));
    assert_null(strstr(tb_errmsg(db), "tiny-pw"));
    assert_int_equal(query_int(db, "SELECT count(*) FROM user WHERE name = 'bob'"), 0);

    /* Generated: 20 characters, must change, shown once. */
    assert_int_equal(tb__user_add(db, "bob", "auditor", TB__SCOPE_ALL, NULL, NULL, gen, sizeof gen),
                     0);
    assert_int_equal(strlen(gen), 20);
    assert_int_equal(query_int(db, "SELECT must_change FROM user WHERE name = 'bob'"), 1);
    char gen2[64];
    assert_int_equal(tb__user_passwd(db, "bob", NULL, gen2, sizeof gen2), 0);
    assert_string_not_equal(gen, gen2);

    assert_int_equal(
        tb__user_add(db, "alice", "analyst", TB__SCOPE_ALL, NULL, "another one!", gen, sizeof gen),
        TB_EEXIST);
    assert_int_equal(
        tb__user_add(db, "carl", "nobody", TB__SCOPE_ALL, NULL, "0123456789", gen, sizeof gen),
        TB_ENOENT);
    assert_int_equal(tb__user_add(db, "carl", "branch_manager", TB__SCOPE_ALL, NULL, "0123456789",
                                  gen, sizeof gen),
                     TB_EINVAL);
    assert_int_equal(tb__user_add(db, "carl", "customer_manager", TB__SCOPE_ORG, "0101",
                                  "0123456789", gen, sizeof gen),
                     TB_EINVAL);
    assert_int_equal(
        tb__user_add(db, "bad name", "analyst", TB__SCOPE_ALL, NULL, "0123456789", gen, sizeof gen),
        TB_EINVAL);
    assert_int_equal(tb__user_add(db, "carl", "branch_manager", TB__SCOPE_ORG, "0101", "0123456789",
                                  gen, sizeof gen),
                     0);
    assert_int_equal(tb__user_add(db, "dora", "customer_manager", TB__SCOPE_MANAGER, "M0042",
                                  "0123456789", gen, sizeof gen),
                     0);

    /* Login: success, then every kind of failure looks the same and is audited as denied. */
    tb__principal p;
    char sid[65], csrf[65];
    assert_int_equal(tb__login(db, "carl", "0123456789", 600, "10.0.0.1", &p, sid, csrf), 0);
    assert_string_equal(p.role, "branch_manager");
    assert_int_equal(p.scope, TB__SCOPE_ORG);
    assert_string_equal(p.scope_id, "0101");
    assert_true(tb__principal_can(&p, TB__P_CUSTOMER_VIEW));
    assert_false(tb__principal_can(&p, TB__P_SEG_WRITE));
    assert_int_equal(p.must_change_password, 0);
    assert_int_equal(tb__login(db, "bob", gen2, 600, NULL, &p, sid, csrf), 0);
    assert_int_equal(p.must_change_password, 1);

    assert_int_equal(tb__login(db, "alice", "wrong password", 600, "10.0.0.2", &p, sid, csrf),
                     TB_EPERM);
    assert_string_equal(tb_errmsg(db), "wrong user name or password");
    assert_string_equal(sid, "");
    assert_int_equal(tb__login(db, "nosuchuser", "correct horse", 600, NULL, &p, sid, csrf),
                     TB_EPERM);
    assert_string_equal(tb_errmsg(db), "wrong user name or password");
    assert_int_equal(tb__user_disable(db, "alice", 1), 0);
    assert_int_equal(tb__login(db, "alice", "correct horse", 600, NULL, &p, sid, csrf), TB_EPERM);
    assert_string_equal(tb_errmsg(db), "wrong user name or password");
    assert_int_equal(tb__user_disable(db, "alice", 0), 0);
    assert_int_equal(tb__login(db, "alice", "correct horse", 600, NULL, &p, sid, csrf), 0);
    assert_int_equal(tb__user_disable(db, "nobody", 1), TB_ENOENT);

    assert_int_equal(query_int(db, "SELECT count(*) FROM audit WHERE action = 'login' AND "
                                   "outcome = 'denied'"),
                     3);
    assert_int_equal(query_int(db, "SELECT count(*) FROM audit WHERE detail LIKE '%horse%' OR "
                                   "detail LIKE '%wrong password%' OR object LIKE '%horse%' "
                                   "OR object = 'nosuchuser'"),
                     0);
    assert_int_equal(query_int(db, "SELECT count(*) FROM audit WHERE action = 'login' AND "
                                   "outcome = 'ok'"),
                     3);
    char *why = query(db, "SELECT group_concat(json_extract(detail, '$.reason')) FROM audit "
                          "WHERE outcome = 'denied'");
    assert_string_equal(why, "bad_password,unknown_user,disabled");
    free(why);

    /* A changed password: the old one fails, must-change is cleared. */
    assert_int_equal(tb__user_passwd(db, "bob", "my own passphrase", gen, sizeof gen), 0);
    assert_int_equal(tb__login(db, "bob", gen2, 600, NULL, &p, sid, csrf), TB_EPERM);
    assert_int_equal(tb__login(db, "bob", "my own passphrase", 600, NULL, &p, sid, csrf), 0);
    assert_int_equal(p.must_change_password, 0);
    assert_int_equal(tb__user_passwd(db, "bob", "tiny", gen, sizeof gen), TB_EINVAL);
    assert_int_equal(tb__user_passwd(db, "nobody", "0123456789", gen, sizeof gen), TB_ENOENT);

    /* A role change is audited with both roles; a scoped role needs its scope. */
    assert_int_equal(tb__user_set_role(db, "alice", "marketing_manager"), 0);
    char *d = query(db, "SELECT detail FROM audit WHERE action = 'user.role'");
    assert_string_equal(d, "{\"from\":\"analyst\",\"to\":\"marketing_manager\"}");
    free(d);
    assert_int_equal(tb__user_set_role(db, "alice", "branch_manager"), TB_EINVAL);
    assert_int_equal(tb__user_set_scope(db, "alice", TB__SCOPE_ORG, "0202"), 0);
    assert_int_equal(tb__user_set_role(db, "alice", "branch_manager"), 0);
    assert_int_equal(tb__user_set_role(db, "alice", "nobody"), TB_ENOENT);

    json_t *list;
    assert_int_equal(tb__user_list(db, &list), 0);
    assert_int_equal(json_array_size(list), 4);
    json_t *a = json_array_get(list, 0);
    assert_string_equal(json_string_value(json_object_get(a, "name")), "alice");
    assert_string_equal(json_string_value(json_object_get(a, "scope")), "org");
    assert_string_equal(json_string_value(json_object_get(a, "scope_id")), "0202");
    assert_null(json_object_get(a, "pw_hash"));
    json_decref(list);
    tb_db_close(db);
}

static void sessions(void **state)
{
    tb_db *db = open_db(*state);
    char gen[64];
    assert_int_equal(
        tb__user_add(db, "erin", "analyst", TB__SCOPE_ALL, NULL, "erin's passphrase", gen, 64), 0);
    tb__principal p;
    char sid[65], csrf[65];
    assert_int_equal(tb__login(db, "erin", "erin's passphrase", 3600, "::1", &p, sid, csrf), 0);
    assert_true(is_hex64(sid));
    assert_true(is_hex64(csrf));
    assert_string_not_equal(sid, csrf);
    /* Only a keyed hash of the id is stored. */
    char *stored = query(db, "SELECT id_hash FROM session");
    assert_true(is_hex64(stored));
    assert_string_not_equal(stored, sid);
    free(stored);
    char *key = query(db, "SELECT value FROM setting WHERE key = 'security.hash_key'");
    assert_true(is_hex64(key));
    free(key);

    assert_int_equal(tb__session_check(db, sid, NULL, &p), 0);
    assert_string_equal(p.name, "erin");
    assert_int_equal(p.via_token, 0);
    assert_int_equal(tb__session_check(db, sid, csrf, &p), 0);
    char wrong[65];
    memcpy(wrong, csrf, sizeof wrong);
    wrong[10] = wrong[10] == 'a' ? 'b' : 'a';
    assert_int_equal(tb__session_check(db, sid, wrong, &p), TB_EPERM);
    assert_string_equal(tb_errmsg(db), "csrf token mismatch");
    assert_string_equal(p.name, "");
    assert_int_equal(tb__session_check(db, sid, "", &p), TB_EPERM);
    assert_int_equal(tb__session_check(db, csrf, NULL, &p), TB_EPERM);
    assert_int_equal(tb__session_check(db, "short", NULL, &p), TB_EPERM);
    assert_int_equal(tb__session_check(db, NULL, NULL, &p), TB_EPERM);

    /* Expiry. */
    char sid2[65], csrf2[65];
    assert_int_equal(tb__login(db, "erin", "erin's passphrase", 60, NULL, &p, sid2, csrf2), 0);
    assert_int_equal(tb__session_check(db, sid2, csrf2, &p), 0);
    sql(db, "UPDATE session SET expires_at = '2000-01-01 00:00:00'");
    assert_int_equal(tb__session_check(db, sid2, NULL, &p), TB_EPERM);
    assert_string_equal(tb_errmsg(db), "session expired or unknown");
    assert_int_equal(tb__session_check(db, sid, NULL, &p), TB_EPERM);
    assert_int_equal(tb__login(db, "erin", "erin's passphrase", 0, NULL, &p, sid2, csrf2),
                     TB_EINVAL);

    /* A new login purges expired sessions; logout deletes its session. */
    assert_int_equal(tb__login(db, "erin", "erin's passphrase", 60, NULL, &p, sid, csrf), 0);
    assert_int_equal(query_int(db, "SELECT count(*) FROM session"), 1);
    assert_int_equal(tb__logout(db, sid), 0);
    assert_int_equal(tb__session_check(db, sid, NULL, &p), TB_EPERM);
    assert_int_equal(tb__logout(db, sid), TB_ENOENT);
    assert_int_equal(query_int(db, "SELECT count(*) FROM audit WHERE action = 'logout'"), 1);

    /* Disabling a user or changing the password ends their sessions. */
    assert_int_equal(tb__login(db, "erin", "erin's passphrase", 60, NULL, &p, sid, csrf), 0);
    assert_int_equal(tb__user_disable(db, "erin", 1), 0);
    assert_int_equal(tb__session_check(db, sid, NULL, &p), TB_EPERM);
    assert_int_equal(tb__user_disable(db, "erin", 0), 0);
    assert_int_equal(tb__login(db, "erin", "erin's passphrase", 60, NULL, &p, sid, csrf), 0);
    assert_int_equal(tb__user_passwd(db, "erin", "a new passphrase", gen, 64), 0);
    assert_int_equal(tb__session_check(db, sid, NULL, &p), TB_EPERM);
    /* A user blocked (abnormal access) cannot use a live session. */
    assert_int_equal(tb__login(db, "erin", "a new passphrase", 60, NULL, &p, sid, csrf), 0);
    sql(db, "UPDATE user SET blocked = 'too many exports'");
    assert_int_equal(tb__session_check(db, sid, NULL, &p), TB_EPERM);
    assert_int_equal(tb__login(db, "erin", "a new passphrase", 60, NULL, &p, sid, csrf), TB_EPERM);
    tb_db_close(db);
}

/* Login lock-out: N consecutive failures lock (same answer as a wrong password, even for the right
 * one), each failure and the lock are audited, an admin unlocks, a lock that ran out is forgotten,
 * minutes 0 locks until unlocked, a good login resets the count. */
static void lockout(void **state)
{
    tb_db *db = open_db(*state);
    char gen[64], sid[65], csrf[65];
    const char *pw = "fran's passphrase";
    assert_int_equal(tb__user_add(db, "fran", "analyst", TB__SCOPE_ALL, NULL, pw, gen, 64), 0);
    assert_int_equal(tb_db_set_setting(db, "security.lockout.attempts", "3"), 0);
    tb__principal p, admin, analyst;
    /* two failures, then a good login resets the count */
    for (int i = 0; i < 2; i++)
        assert_int_equal(tb__login(db, "fran", "wrong password!", 60, "::1", &p, sid, csrf),
                         TB_EPERM);
    assert_int_equal(query_int(db, "SELECT failed_logins FROM user WHERE name = 'fran'"), 2);
    assert_int_equal(tb__login(db, "fran", pw, 60, "::1", &p, sid, csrf), 0);
    assert_int_equal(query_int(db, "SELECT failed_logins FROM user WHERE name = 'fran'"), 0);
    /* three in a row lock; the right password is then refused with the same message */
    for (int i = 0; i < 3; i++)
        assert_int_equal(tb__login(db, "fran", "wrong password!", 60, "::1", &p, sid, csrf),
                         TB_EPERM);
    assert_int_equal(tb__login(db, "fran", pw, 60, "::1", &p, sid, csrf), TB_EPERM);
    assert_string_equal(tb_errmsg(db), "wrong user name or password");
    assert_int_equal(query_int(db, "SELECT count(*) FROM audit WHERE action = 'user.lock' AND "
                                   "object = 'fran' AND outcome = 'denied'"),
                     1);
    assert_int_equal(query_int(db, "SELECT count(*) FROM audit WHERE action = 'login' AND "
                                   "detail = '{\"reason\":\"locked\"}'"),
                     1);
    char *d = query(db, "SELECT detail FROM audit WHERE action = 'login' ORDER BY seq DESC "
                        "LIMIT 1 OFFSET 1");
    assert_string_equal(d, "{\"failures\":3,\"reason\":\"bad_password\"}");
    free(d);
    json_t *users;
    assert_int_equal(tb__user_list(db, &users), 0);
    assert_true(json_is_string(json_object_get(json_array_get(users, 0), "locked_until")));
    json_decref(users);
    /* unlocking needs user.admin, and an admin's unlock lets the right password in again */
    assert_int_equal(tb__user_add(db, "gus", "analyst", TB__SCOPE_ALL, NULL, pw, gen, 64), 0);
    assert_int_equal(tb__principal_user(db, "gus", &analyst), 0);
    assert_int_equal(tb__user_unlock(db, &analyst, "::1", "fran"), TB_EPERM);
    tb__principal_cli(&admin, "ops");
    assert_int_equal(tb__user_unlock(db, &admin, "::1", "nobody"), TB_ENOENT);
    assert_int_equal(tb__user_unlock(db, &admin, "::1", "fran"), 0);
    assert_int_equal(tb__user_unlock(db, &admin, "::1", "fran"), TB_EINVAL);
    assert_string_equal(tb_errmsg(db), "user 'fran' is not locked");
    assert_int_equal(query_int(db, "SELECT count(*) FROM audit WHERE action = 'user.unlock' AND "
                                   "outcome = 'ok'"),
                     1);
    assert_int_equal(tb__login(db, "fran", pw, 60, "::1", &p, sid, csrf), 0);
    /* a lock that has run out is forgotten with its count */
    for (int i = 0; i < 3; i++)
        tb__login(db, "fran", "wrong password!", 60, "::1", &p, sid, csrf);
    sql(db, "UPDATE user SET locked_until = '2000-01-01 00:00:00' WHERE name = 'fran'");
    assert_int_equal(tb__login(db, "fran", "wrong password!", 60, "::1", &p, sid, csrf), TB_EPERM);
    assert_int_equal(query_int(db, "SELECT failed_logins FROM user WHERE name = 'fran'"), 1);
    assert_int_equal(tb__login(db, "fran", pw, 60, "::1", &p, sid, csrf), 0);
    /* minutes 0: until an admin unlocks */
    assert_int_equal(tb_db_set_setting(db, "security.lockout.minutes", "0"), 0);
    for (int i = 0; i < 3; i++)
        tb__login(db, "fran", "wrong password!", 60, "::1", &p, sid, csrf);
    char *until = query(db, "SELECT locked_until FROM user WHERE name = 'fran'");
    assert_string_equal(until, "9999-12-31 23:59:59");
    free(until);
    /* an unknown name counts nothing anywhere */
    assert_int_equal(tb__login(db, "nobody", "wrong password!", 60, "::1", &p, sid, csrf),
                     TB_EPERM);
    json_t *v;
    assert_int_equal(tb__audit_verify(db, &v), 0);
    assert_true(json_is_true(json_object_get(v, "ok")));
    json_decref(v);
    tb_db_close(db);
}

static void tokens(void **state)
{
    tb_db *db = open_db(*state);
    char gen[64], token[80], token2[80], token3[80];
    int64_t id, id2, id3;
    assert_int_equal(
        tb__user_add(db, "crm", "analyst", TB__SCOPE_ALL, NULL, "system passphrase", gen, 64), 0);
    assert_int_equal(tb__token_create(db, "crm", "nightly", TB__P_SEG_READ | TB__P_SEG_EXPORT, 30,
                                      token, sizeof token, &id),
                     0);
    assert_true(strncmp(token, "tbt_", 4) == 0 && is_hex64(token + 4));
    assert_true(id > 0);
    char *stored = query(db, "SELECT hash || ' ' || perms FROM api_token");
    assert_null(strstr(stored, token + 4));
    assert_non_null(strstr(stored, " seg.read,seg.export"));
    free(stored);

    tb__principal p;
    assert_int_equal(tb__token_check(db, token, &p), 0);
    assert_int_equal(p.perms, TB__P_SEG_READ | TB__P_SEG_EXPORT);
    assert_int_equal(p.via_token, 1);
    assert_string_equal(p.name, "crm");
    assert_string_equal(p.role, "analyst");

    /* perms 0: all of the role's; more than the role's: refused. */
    assert_int_equal(tb__token_create(db, "crm", "all", 0, 1, token2, sizeof token2, &id2), 0);
    assert_int_equal(tb__token_check(db, token2, &p), 0);
    unsigned analyst;
    assert_int_equal(tb__role_perms(db, "analyst", &analyst), 0);
    assert_int_equal(p.perms, analyst);
    assert_int_equal(tb__token_create(db, "crm", "greedy", TB__P_SEG_READ | TB__P_PII_CLEAR, 30,
                                      token3, sizeof token3, &id3),
                     TB_EPERM);
    assert_non_null(strstr(tb_errmsg(db), "pii.clear"));
    assert_int_equal(tb__token_create(db, "nobody", "x", 0, 30, token3, sizeof token3, &id3),
                     TB_ENOENT);
    assert_int_equal(tb__token_create(db, "crm", "x", 0, 0, token3, sizeof token3, &id3),
                     TB_EINVAL);
    assert_int_equal(tb__token_create(db, "crm", "x", 0, 30, token3, 10, &id3), TB_EINVAL);

    /* A narrower role narrows its tokens (perms = role AND token). */
    assert_int_equal(tb__user_set_role(db, "crm", "marketing_manager"), 0);
    assert_int_equal(tb__token_check(db, token2, &p), 0);
    assert_int_equal(p.perms & TB__P_CUSTOMER_VIEW, 0);

    /* Expiry, revocation, unknown tokens, disabled users. */
    char sqltext[160];
    snprintf(sqltext, sizeof sqltext,
             "UPDATE api_token SET expires_at = '2000-01-01 00:00:00' WHERE token_id = %lld",
             (long long)id2);
    sql(db, sqltext);
    assert_int_equal(tb__token_check(db, token2, &p), TB_EPERM);
    assert_int_equal(tb__token_check(db, token, &p), 0);
    assert_int_equal(tb__token_revoke(db, id), 0);
    assert_int_equal(tb__token_revoke(db, id), 0);
    assert_int_equal(tb__token_revoke(db, 9999), TB_ENOENT);
    assert_int_equal(tb__token_check(db, token, &p), TB_EPERM);
    assert_int_equal(p.perms, 0);
    token3[0] = 0;
    assert_int_equal(tb__token_check(db, "tbt_00", &p), TB_EPERM);
    assert_int_equal(tb__token_check(db, NULL, &p), TB_EPERM);
    char forged[80];
    memcpy(forged, token, sizeof forged);
    forged[20] = forged[20] == '0' ? '1' : '0';
    assert_int_equal(tb__token_check(db, forged, &p), TB_EPERM);
    assert_int_equal(tb__token_create(db, "crm", "fresh", 0, 5, token3, sizeof token3, &id3), 0);
    assert_int_equal(tb__user_disable(db, "crm", 1), 0);
    assert_int_equal(tb__token_check(db, token3, &p), TB_EPERM);

    json_t *list;
    assert_int_equal(tb__token_list(db, "crm", &list), 0);
    assert_int_equal(json_array_size(list), 3);
    assert_string_equal(json_string_value(json_object_get(json_array_get(list, 0), "state")),
                        "revoked");
    assert_string_equal(json_string_value(json_object_get(json_array_get(list, 1), "state")),
                        "expired");
    assert_string_equal(json_string_value(json_object_get(json_array_get(list, 2), "state")),
                        "active");
    assert_null(json_object_get(json_array_get(list, 0), "hash"));
    json_decref(list);
    assert_int_equal(tb__token_list(db, "nobody", &list), 0);
    assert_int_equal(json_array_size(list), 0);
    json_decref(list);
    tb_db_close(db);
}

/* Six audit records by two actors. */
static tb_db *audited(const char *parent)
{
    tb_db *db = open_db(parent);
    tb__principal a, b;
    tb__principal_cli(&a, "ops");
    tb__principal_cli(&b, "auditor1");
    const char *actions[] = {"user.add", "user.role", "seg.export",
                             "view.360", "user.add",  "tag.approve"};
    for (int i = 0; i < 6; i++) {
        char detail[64];
        snprintf(detail, sizeof detail, "{\"n\":%d}", i + 1);
        assert_int_equal(tb__audit(db, i % 2 ? &b : &a, "127.0.0.1", actions[i], "x", detail, "ok"),
                         0);
    }
    return db;
}

/* Verifies and checks where it breaks (0: intact); returns the reason (caller frees). */
static char *verify_at(tb_db *db, long long want)
{
    json_t *v;
    assert_int_equal(tb__audit_verify(db, &v), 0);
    assert_int_equal(json_is_true(json_object_get(v, "ok")), want == 0);
    assert_int_equal(json_integer_value(json_object_get(v, "broken_at")), want);
    const char *r = json_string_value(json_object_get(v, "reason"));
    char *reason = strdup(r ? r : "");
    json_decref(v);
    return reason;
}

static void audit_chain(void **state)
{
    tb_db *db = audited(*state);
    json_t *v;
    assert_int_equal(tb__audit_verify(db, &v), 0);
    assert_true(json_is_true(json_object_get(v, "ok")));
    assert_int_equal(json_integer_value(json_object_get(v, "records")), 6);
    char *last = query(db, "SELECT hash FROM audit WHERE seq = 6");
    assert_string_equal(json_string_value(json_object_get(v, "head")), last);
    free(last);
    json_decref(v);
    char *first = query(db, "SELECT prev_hash FROM audit WHERE seq = 1");
    assert_string_equal(first, "0000000000000000000000000000000000000000000000000000000000000000");
    free(first);
    assert_int_equal(query_int(db, "SELECT count(*) FROM audit a JOIN audit b ON b.seq = a.seq + "
                                   "1 WHERE b.prev_hash = a.hash"),
                     5);

    /* Filters, newest first. */
    json_t *list;
    assert_int_equal(tb__audit_list(db, "ops", NULL, 0, &list), 0);
    assert_int_equal(json_array_size(list), 3);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(list, 0), "seq")), 5);
    assert_int_equal(json_integer_value(
                         json_object_get(json_object_get(json_array_get(list, 0), "detail"), "n")),
                     5);
    json_decref(list);
    assert_int_equal(tb__audit_list(db, NULL, "user", 0, &list), 0);
    assert_int_equal(json_array_size(list), 3);
    json_decref(list);
    assert_int_equal(tb__audit_list(db, NULL, "user.add", 1, &list), 0);
    assert_int_equal(json_array_size(list), 1);
    json_decref(list);
    assert_int_equal(tb__audit_list(db, NULL, "use", 0, &list), 0);
    assert_int_equal(json_array_size(list), 0);
    json_decref(list);

    /* Bad records are refused; the chain is unchanged. */
    assert_int_equal(tb__audit(db, NULL, NULL, "x", NULL, "[1]", "ok"), TB_EINVAL);
    assert_int_equal(tb__audit(db, NULL, NULL, "x", NULL, "{bad", "ok"), TB_EINVAL);
    assert_int_equal(tb__audit(db, NULL, NULL, "x", NULL, NULL, "maybe"), TB_EINVAL);
    assert_int_equal(tb__audit(db, NULL, NULL, "", NULL, NULL, "ok"), TB_EINVAL);

    /* Inside the caller's transaction: rolled back with it. */
    assert_int_equal(tb__meta_begin(db), 0);
    assert_int_equal(tb__audit(db, NULL, NULL, "x.y", NULL, NULL, "failed"), 0);
    tb__meta_rollback(db);
    assert_int_equal(query_int(db, "SELECT count(*) FROM audit"), 6);
    assert_int_equal(tb__audit(db, NULL, NULL, "x.y", NULL, NULL, "failed"), 0);
    char *actor = query(db, "SELECT actor FROM audit WHERE seq = 7");
    assert_string_equal(actor, "-");
    free(actor);
    free(verify_at(db, 0));
    tb_db_close(db);
}

static void audit_tamper_update(void **state)
{
    tb_db *db = audited(*state);
    sql(db, "UPDATE audit SET detail = '{\"n\":33}' WHERE seq = 3");
    char *r = verify_at(db, 3);
    assert_non_null(strstr(r, "edited"));
    free(r);
    tb_db_close(db);
}

static void audit_tamper_update_rehashed(void **state)
{
    /* Record 2 edited and given another record's hash: found at 2, not later. */
    tb_db *db = audited(*state);
    sql(db, "UPDATE audit SET outcome = 'denied', hash = (SELECT hash FROM audit WHERE seq = 1) "
            "WHERE seq = 2");
    free(verify_at(db, 2));
    tb_db_close(db);
}

static void audit_tamper_delete(void **state)
{
    tb_db *db = audited(*state);
    sql(db, "DELETE FROM audit WHERE seq = 4");
    char *r = verify_at(db, 4);
    assert_non_null(strstr(r, "record 4 is missing"));
    free(r);
    tb_db_close(db);
}

static void audit_tamper_delete_last(void **state)
{
    tb_db *db = audited(*state);
    sql(db, "DELETE FROM audit WHERE seq >= 5");
    char *r = verify_at(db, 5);
    assert_non_null(strstr(r, "removed from the end"));
    free(r);
    /* ... and deleting the first makes seq 1 missing. */
    sql(db, "DELETE FROM audit WHERE seq = 1");
    r = verify_at(db, 1);
    assert_non_null(strstr(r, "record 1 is missing"));
    free(r);
    tb_db_close(db);
}

static void audit_tamper_swap(void **state)
{
    tb_db *db = audited(*state);
    /* Whole records 2 and 3 trade places (every column but seq). */
    sql(db, "CREATE TEMP TABLE t AS SELECT * FROM audit WHERE seq IN (2, 3);"
            "UPDATE audit SET (at, actor, role, remote, action, object, detail, outcome, "
            "prev_hash, hash) = (SELECT at, actor, role, remote, action, object, detail, outcome, "
            "prev_hash, hash FROM t WHERE t.seq = 5 - audit.seq) WHERE seq IN (2, 3);"
            "DROP TABLE t;");
    char *r = verify_at(db, 2);
    assert_non_null(strstr(r, "does not follow"));
    free(r);
    tb_db_close(db);
}

static void audit_tamper_swap_contents(void **state)
{
    tb_db *db = audited(*state);
    /* Only the contents of records 4 and 5 trade places (the hashes stay). */
    sql(db, "CREATE TEMP TABLE t AS SELECT * FROM audit WHERE seq IN (4, 5);"
            "UPDATE audit SET (actor, role, action, detail) = (SELECT actor, role, action, detail "
            "FROM t WHERE t.seq = 9 - audit.seq) WHERE seq IN (4, 5);"
            "DROP TABLE t;");
    char *r = verify_at(db, 4);
    assert_non_null(strstr(r, "edited"));
    free(r);
    tb_db_close(db);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(perms_and_roles, tbt_setup_tmpdir, tbt_teardown_tmpdir),
        cmocka_unit_test_setup_teardown(users_and_passwords, tbt_setup_tmpdir, tbt_teardown_tmpdir),
        cmocka_unit_test_setup_teardown(sessions, tbt_setup_tmpdir, tbt_teardown_tmpdir),
        cmocka_unit_test_setup_teardown(lockout, tbt_setup_tmpdir, tbt_teardown_tmpdir),
        cmocka_unit_test_setup_teardown(tokens, tbt_setup_tmpdir, tbt_teardown_tmpdir),
        cmocka_unit_test_setup_teardown(audit_chain, tbt_setup_tmpdir, tbt_teardown_tmpdir),
        cmocka_unit_test_setup_teardown(audit_tamper_update, tbt_setup_tmpdir, tbt_teardown_tmpdir),
        cmocka_unit_test_setup_teardown(audit_tamper_update_rehashed, tbt_setup_tmpdir,
                                        tbt_teardown_tmpdir),
        cmocka_unit_test_setup_teardown(audit_tamper_delete, tbt_setup_tmpdir, tbt_teardown_tmpdir),
        cmocka_unit_test_setup_teardown(audit_tamper_delete_last, tbt_setup_tmpdir,
                                        tbt_teardown_tmpdir),
        cmocka_unit_test_setup_teardown(audit_tamper_swap, tbt_setup_tmpdir, tbt_teardown_tmpdir),
        cmocka_unit_test_setup_teardown(audit_tamper_swap_contents, tbt_setup_tmpdir,
                                        tbt_teardown_tmpdir),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
