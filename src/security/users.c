/* users.c — users (argon2id passwords through libsodium, generated one-time passwords, role,
 * scope, disable), console logins and their sessions (keyed hashes of random ids, CSRF tokens,
 * expiry). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "common/clock.h"
#include "common/mask.h"
#include "security/sec_int.h"
#include "store/meta.h"

#define PW_MIN     10   /* characters, the bank's policy */
#define PW_MAX     1024 /* bytes: enough for any passphrase, bounds the hashing work */
#define PW_GEN_LEN 20

/* Generated passwords avoid characters people confuse (0/O, 1/l/I). */
static const char pw_alphabet[] = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";

static const char *scope_text(tb__scope_kind k)
{
    return k == TB__SCOPE_ORG ? "org" : k == TB__SCOPE_MANAGER ? "manager" : "all";
}

static tb__scope_kind scope_kind(const char *t)
{
    return t && strcmp(t, "org") == 0       ? TB__SCOPE_ORG
           : t && strcmp(t, "manager") == 0 ? TB__SCOPE_MANAGER
                                            : TB__SCOPE_ALL;
}

static int user_name_ok(const char *name)
{
    size_t n = name ? strlen(name) : 0;
    if (n == 0 || n > 64) return 0;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '@' || c == '-'))
            return 0;
    }
    return 1;
}

/* Counts UTF-8 characters (bytes that do not continue a sequence). */
static size_t utf8_chars(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        if (((unsigned char)*s & 0xC0) != 0x80) n++;
    return n;
}

/* The password policy; the detail says what is wrong without echoing the password. */
static int password_ok(tb_db *db, const char *pw)
{
    size_t bytes = strlen(pw), chars = utf8_chars(pw);
    if (chars < PW_MIN)
        return tb__seterr(tb__db_err(db), TB_EINVAL,
                          "password is too short: %zu characters, at least %d needed", chars,
                          PW_MIN);
    if (bytes > PW_MAX)
        return tb__seterr(tb__db_err(db), TB_EINVAL, "password is longer than %d bytes", PW_MAX);
    return 0;
}

/* A random password of PW_GEN_LEN characters from pw_alphabet, by rejection sampling over
 * random bytes (no modulo bias). */
static void generate_password(char out[PW_GEN_LEN + 1])
{
    const unsigned n = sizeof pw_alphabet - 1, limit = 256 - 256 % n;
    size_t len = 0;
    unsigned char b[64];
    while (len < PW_GEN_LEN) {
        randombytes_buf(b, sizeof b);
        for (size_t i = 0; i < sizeof b && len < PW_GEN_LEN; i++)
            if (b[i] < limit) out[len++] = pw_alphabet[b[i] % n];
    }
    out[len] = 0;
    sodium_memzero(b, sizeof b);
}

/* The argon2id hash of pw into out. */
static int hash_password(tb_db *db, const char *pw, char out[crypto_pwhash_STRBYTES])
{
    if (crypto_pwhash_str(out, pw, strlen(pw), crypto_pwhash_OPSLIMIT_INTERACTIVE,
                          crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0)
        return tb__seterr(tb__db_err(db), TB_ENOMEM, "cannot hash the password (out of memory)");
    return 0;
}

/* Chooses the password to store: the given one (checked against the policy) or a generated one
 * copied to generated[cap]. */
static int choose_password(tb_db *db, const char *password, char *generated, size_t cap,
                           char pw[PW_GEN_LEN + 1], const char **use)
{
    if (password) {
        *use = password;
        return password_ok(db, password);
    }
    if (!generated || cap < PW_GEN_LEN + 1)
        return tb__seterr(tb__db_err(db), TB_EINVAL,
                          "no password given and no room for a generated one");
    generate_password(pw);
    memcpy(generated, pw, PW_GEN_LEN + 1);
    *use = pw;
    return 0;
}

/* Checks that a scope fits the role: the scoped roles must be scoped, so that a branch or a
 * customer manager can never see every customer. */
static int scope_ok(tb_db *db, const char *role, tb__scope_kind scope, const char *scope_id)
{
    tb__errbuf *e = tb__db_err(db);
    if (scope != TB__SCOPE_ALL && scope != TB__SCOPE_ORG && scope != TB__SCOPE_MANAGER)
        return tb__seterr(e, TB_EINVAL, "unknown scope kind %d", (int)scope);
    if (scope != TB__SCOPE_ALL && (!scope_id || !*scope_id || strlen(scope_id) > 64))
        return tb__seterr(e, TB_EINVAL, "a %s scope needs an id of 1 to 64 bytes",
                          scope_text(scope));
    if (strcmp(role, "branch_manager") == 0 && scope != TB__SCOPE_ORG)
        return tb__seterr(e, TB_EINVAL, "role 'branch_manager' needs an org scope (org:ID)");
    if (strcmp(role, "customer_manager") == 0 && scope != TB__SCOPE_MANAGER)
        return tb__seterr(e, TB_EINVAL,
                          "role 'customer_manager' needs a manager scope (manager:ID)");
    return 0;
}

int tb__user_add(tb_db *db, const char *name, const char *role, tb__scope_kind scope,
                 const char *scope_id, const char *password, char *generated, size_t cap)
{
    tb__clearerr(tb__db_err(db));
    if (generated && cap) *generated = 0;
    if (!user_name_ok(name))
        return tb__seterr(tb__db_err(db), TB_EINVAL,
                          "user name must be 1 to 64 of A-Z, a-z, 0-9, '.', '_', '@', '-'");
    unsigned perms;
    int rc = tb__sec_sodium(db);
    if (rc) return rc;
    rc = tb__sec_role_perms(db, role, &perms);
    if (rc) return rc;
    rc = scope_ok(db, role, scope, scope_id);
    if (rc) return rc;
    char pw[PW_GEN_LEN + 1], hash[crypto_pwhash_STRBYTES];
    const char *use;
    rc = choose_password(db, password, generated, cap, pw, &use);
    if (rc) goto out_wipe;
    /* Hash before taking the write lock: argon2id takes a while on purpose. */
    rc = hash_password(db, use, hash);
    if (rc) goto out_wipe;
    int own;
    rc = tb__sec_begin(db, &own);
    if (rc) goto out_wipe;
    rc = tb__sec_builtin_roles_put(db);
    if (rc) goto out_end;
    sqlite3_stmt *st;
    rc = tb__meta_stmt(db, TB__STMT_SEC_USER_INSERT,
                       "INSERT INTO user (name, role, scope_kind, scope_id, pw_hash, must_change, "
                       "created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7) "
                       "ON CONFLICT (name) DO NOTHING",
                       &st);
    if (rc) goto out_end;
    char now[TB__TIME_TEXT_LEN];
    sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, role, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 3, scope_text(scope), -1, SQLITE_STATIC);
    if (scope != TB__SCOPE_ALL) sqlite3_bind_text(st, 4, scope_id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 5, hash, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(st, 6, password ? 0 : 1);
    sqlite3_bind_text(st, 7, tb__now_text(now), -1, SQLITE_TRANSIENT);
    rc = tb__meta_run(db, st, "cannot add user");
    if (!rc && sqlite3_changes(tb__db_sqlite(db)) == 0)
        rc = tb__seterr(tb__db_err(db), TB_EEXIST, "user '%s' exists", name);
out_end:
    rc = tb__sec_end(db, own, rc);
out_wipe:
    sodium_memzero(pw, sizeof pw);
    sodium_memzero(hash, sizeof hash);
    if (rc && generated && cap) sodium_memzero(generated, cap);
    return rc;
}

/* Deletes every session of a user (in the caller's transaction). */
static int end_sessions(tb_db *db, int64_t user_id)
{
    sqlite3_stmt *st;
    int rc = tb__meta_stmt(db, TB__STMT_SEC_SESSION_END_USER,
                           "DELETE FROM session WHERE user_id = ?1", &st);
    if (rc) return rc;
    sqlite3_bind_int64(st, 1, user_id);
    return tb__meta_run(db, st, "cannot end sessions");
}

/* The row of user `name` (in the caller's transaction or none): id, role and scope. */
static int user_get(tb_db *db, const char *name, int64_t *id, char role[33])
{
    sqlite3_stmt *st;
    int rc = tb__meta_stmt(db, TB__STMT_SEC_USER_GET,
                           "SELECT user_id, role FROM user WHERE name = ?1", &st);
    if (rc) return rc;
    sqlite3_bind_text(st, 1, name ? name : "", -1, SQLITE_TRANSIENT);
    int src = sqlite3_step(st);
    if (src == SQLITE_ROW) {
        *id = sqlite3_column_int64(st, 0);
        if (role) snprintf(role, 33, "%s", (const char *)sqlite3_column_text(st, 1));
    } else if (src == SQLITE_DONE) {
        rc = tb__seterr(tb__db_err(db), TB_ENOENT, "no user '%.64s'", name ? name : "");
    } else {
        rc = tb__meta_seterr_sqlite(db, src, "cannot read user");
    }
    tb__meta_stmt_done(st);
    return rc;
}

int tb__user_passwd(tb_db *db, const char *name, const char *password, char *generated, size_t cap)
{
    tb__clearerr(tb__db_err(db));
    if (generated && cap) *generated = 0;
    int rc = tb__sec_sodium(db);
    if (rc) return rc;
    int64_t id;
    rc = user_get(db, name, &id, NULL);
    if (rc) return rc;
    char pw[PW_GEN_LEN + 1], hash[crypto_pwhash_STRBYTES];
    const char *use;
    rc = choose_password(db, password, generated, cap, pw, &use);
    if (rc) goto out_wipe;
    rc = hash_password(db, use, hash);
    if (rc) goto out_wipe;
    int own;
    rc = tb__sec_begin(db, &own);
    if (rc) goto out_wipe;
    sqlite3_stmt *st;
    rc = tb__meta_stmt(db, TB__STMT_SEC_USER_PASSWD,
                       "UPDATE user SET pw_hash = ?2, must_change = ?3, updated_at = ?4 "
                       "WHERE user_id = ?1",
                       &st);
    if (rc) goto out_end;
    char now[TB__TIME_TEXT_LEN];
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_text(st, 2, hash, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(st, 3, password ? 0 : 1);
    sqlite3_bind_text(st, 4, tb__now_text(now), -1, SQLITE_TRANSIENT);
    rc = tb__meta_run(db, st, "cannot change password");
    if (!rc && sqlite3_changes(tb__db_sqlite(db)) == 0)
        rc = tb__seterr(tb__db_err(db), TB_ENOENT, "no user '%.64s'", name);
    if (!rc) rc = end_sessions(db, id);
out_end:
    rc = tb__sec_end(db, own, rc);
out_wipe:
    sodium_memzero(pw, sizeof pw);
    sodium_memzero(hash, sizeof hash);
    if (rc && generated && cap) sodium_memzero(generated, cap);
    return rc;
}

int tb__user_set_role_by(tb_db *db, const tb__principal *who, const char *remote, const char *name,
                         const char *role)
{
    tb__clearerr(tb__db_err(db));
    unsigned perms;
    int rc = tb__sec_role_perms(db, role, &perms);
    if (rc) return rc;
    int own;
    rc = tb__sec_begin(db, &own);
    if (rc) return rc;
    rc = tb__sec_builtin_roles_put(db);
    if (rc) goto out;
    sqlite3_stmt *st;
    rc = tb__meta_stmt(db, TB__STMT_SEC_USER_SCOPE_GET,
                       "SELECT user_id, role, scope_kind, scope_id FROM user WHERE name = ?1", &st);
    if (rc) goto out;
    sqlite3_bind_text(st, 1, name ? name : "", -1, SQLITE_TRANSIENT);
    int src = sqlite3_step(st);
    int64_t id = 0;
    char old[40] = "", kind[16] = "", sid[72] = "";
    if (src == SQLITE_ROW) {
        id = sqlite3_column_int64(st, 0);
        snprintf(old, sizeof old, "%s", (const char *)sqlite3_column_text(st, 1));
        snprintf(kind, sizeof kind, "%s", (const char *)sqlite3_column_text(st, 2));
        const char *s = (const char *)sqlite3_column_text(st, 3);
        snprintf(sid, sizeof sid, "%s", s ? s : "");
    } else if (src == SQLITE_DONE) {
        rc = tb__seterr(tb__db_err(db), TB_ENOENT, "no user '%.64s'", name ? name : "");
    } else {
        rc = tb__meta_seterr_sqlite(db, src, "cannot read user");
    }
    tb__meta_stmt_done(st);
    if (rc) goto out;
    rc = scope_ok(db, role, scope_kind(kind), sid);
    if (rc) goto out;
    rc = tb__meta_stmt(db, TB__STMT_SEC_USER_ROLE,
                       "UPDATE user SET role = ?2, updated_at = ?3 WHERE user_id = ?1", &st);
    if (rc) goto out;
    char now[TB__TIME_TEXT_LEN];
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_text(st, 2, role, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 3, tb__now_text(now), -1, SQLITE_TRANSIENT);
    rc = tb__meta_run(db, st, "cannot change role");
    if (rc) goto out;
    json_t *d = json_pack("{s:s, s:s}", "from", old, "to", role);
    char *text = d ? json_dumps(d, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(d);
    if (!text) {
        rc = tb__seterr(tb__db_err(db), TB_ENOMEM, "out of memory");
        goto out;
    }
    rc = tb__sec_audit_in_tx(db, who, remote, "user.role", name, text, "ok");
    free(text);
out:
    return tb__sec_end(db, own, rc);
}

int tb__user_set_role(tb_db *db, const char *name, const char *role)
{
    return tb__user_set_role_by(db, NULL, NULL, name, role);
}

int tb__user_set_scope(tb_db *db, const char *name, tb__scope_kind scope, const char *scope_id)
{
    tb__clearerr(tb__db_err(db));
    int own;
    int rc = tb__sec_begin(db, &own);
    if (rc) return rc;
    int64_t id;
    char role[33];
    rc = user_get(db, name, &id, role);
    if (rc) goto out;
    rc = scope_ok(db, role, scope, scope_id);
    if (rc) goto out;
    sqlite3_stmt *st;
    rc = tb__meta_stmt(db, TB__STMT_SEC_USER_SCOPE,
                       "UPDATE user SET scope_kind = ?2, scope_id = ?3, updated_at = ?4 "
                       "WHERE user_id = ?1",
                       &st);
    if (rc) goto out;
    char now[TB__TIME_TEXT_LEN];
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_text(st, 2, scope_text(scope), -1, SQLITE_STATIC);
    if (scope != TB__SCOPE_ALL) sqlite3_bind_text(st, 3, scope_id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 4, tb__now_text(now), -1, SQLITE_TRANSIENT);
    rc = tb__meta_run(db, st, "cannot change scope");
    /* Sessions read the scope at each check; nothing else to end. */
out:
    return tb__sec_end(db, own, rc);
}

int tb__user_disable(tb_db *db, const char *name, int disabled)
{
    tb__clearerr(tb__db_err(db));
    int own;
    int rc = tb__sec_begin(db, &own);
    if (rc) return rc;
    int64_t id;
    rc = user_get(db, name, &id, NULL);
    if (rc) goto out;
    sqlite3_stmt *st;
    rc = tb__meta_stmt(db, TB__STMT_SEC_USER_DISABLE,
                       "UPDATE user SET disabled = ?2, updated_at = ?3 WHERE user_id = ?1", &st);
    if (rc) goto out;
    char now[TB__TIME_TEXT_LEN];
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_int(st, 2, disabled ? 1 : 0);
    sqlite3_bind_text(st, 3, tb__now_text(now), -1, SQLITE_TRANSIENT);
    rc = tb__meta_run(db, st, "cannot disable user");
    if (!rc && disabled) rc = end_sessions(db, id);
out:
    return tb__sec_end(db, own, rc);
}

int tb__user_list(tb_db *db, json_t **out)
{
    tb__clearerr(tb__db_err(db));
    *out = NULL;
    sqlite3_stmt *st;
    int rc = tb__meta_stmt(db, TB__STMT_SEC_USER_LIST,
                           "SELECT user_id, name, role, scope_kind, scope_id, must_change, "
                           "disabled, blocked, created_at, updated_at, failed_logins, "
                           "locked_until FROM user ORDER BY name",
                           &st);
    char now[TB__TIME_TEXT_LEN];
    tb__now_text(now);
    if (rc) return rc;
    json_t *a = json_array();
    if (!a) rc = tb__seterr(tb__db_err(db), TB_ENOMEM, "out of memory");
    int src = SQLITE_DONE;
    while (!rc && (src = sqlite3_step(st)) == SQLITE_ROW) {
        json_t *u = json_pack(
            "{s:I, s:s, s:s, s:s, s:s?, s:b, s:b, s:s?, s:s, s:s}", "id",
            (json_int_t)sqlite3_column_int64(st, 0), "name", sqlite3_column_text(st, 1), "role",
            sqlite3_column_text(st, 2), "scope", sqlite3_column_text(st, 3), "scope_id",
            sqlite3_column_text(st, 4), "must_change", sqlite3_column_int(st, 5), "disabled",
            sqlite3_column_int(st, 6), "blocked", sqlite3_column_text(st, 7), "created_at",
            sqlite3_column_text(st, 8), "updated_at", sqlite3_column_text(st, 9));
        const char *lu = (const char *)sqlite3_column_text(st, 11);
        if (u) {
            /* a lock that has run out is shown as none (the next login forgets it) */
            int live = lu && strcmp(lu, now) > 0;
            json_object_set_new(u, "failed_logins",
                                json_integer(live || !lu ? sqlite3_column_int64(st, 10) : 0));
            json_object_set_new(u, "locked_until", live ? json_string(lu) : json_null());
        }
        if (!u || json_array_append_new(a, u))
            rc = tb__seterr(tb__db_err(db), TB_ENOMEM, "out of memory");
    }
    if (!rc && src != SQLITE_DONE) rc = tb__meta_seterr_sqlite(db, src, "cannot list users");
    tb__meta_stmt_done(st);
    if (rc) {
        json_decref(a);
        return rc;
    }
    *out = a;
    return 0;
}

int tb__user_none(tb_db *db)
{
    tb__clearerr(tb__db_err(db));
    sqlite3_stmt *st;
    int rc = tb__meta_stmt(db, TB__STMT_SEC_USER_ANY, "SELECT EXISTS (SELECT 1 FROM user)", &st);
    if (rc) return rc;
    int src = sqlite3_step(st);
    if (src == SQLITE_ROW)
        rc = sqlite3_column_int(st, 0) ? 0 : 1;
    else
        rc = tb__meta_seterr_sqlite(db, src, "cannot count users");
    tb__meta_stmt_done(st);
    return rc;
}

/* Fills a principal from a user row's columns role, name, scope kind, scope id. */
static int fill_principal(tb_db *db, tb__principal *p, int64_t id, const char *name,
                          const char *role, const char *kind, const char *sid, int must_change)
{
    memset(p, 0, sizeof *p);
    p->user_id = id;
    snprintf(p->name, sizeof p->name, "%s", name ? name : "");
    snprintf(p->role, sizeof p->role, "%s", role ? role : "");
    p->scope = scope_kind(kind);
    snprintf(p->scope_id, sizeof p->scope_id, "%s", sid ? sid : "");
    p->must_change_password = must_change;
    return tb__sec_role_perms(db, p->role, &p->perms);
}

/* A hash of a fixed text, verified against for unknown names; made once per process. */
static pthread_once_t dummy_once = PTHREAD_ONCE_INIT;
static char dummy[crypto_pwhash_STRBYTES];

static void make_dummy(void)
{
    if (crypto_pwhash_str(dummy, "tagbase-dummy", 13, crypto_pwhash_OPSLIMIT_INTERACTIVE,
                          crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0)
        dummy[0] = 0; /* verify then fails at once: only the timing guard is lost */
}

/* Audits a login attempt in its own transaction; the outcome of the login stands whatever this
 * returns, but a failure to audit a successful login fails the login (no unaudited access). */
static int audit_login(tb_db *db, const tb__principal *who, const char *remote, const char *object,
                       const char *reason, const char *outcome)
{
    char detail[96] = "";
    if (reason) snprintf(detail, sizeof detail, "{\"reason\":\"%s\"}", reason);
    tb__errbuf saved = *tb__db_err(db);
    int rc = tb__audit(db, who, remote, "login", object, reason ? detail : NULL, outcome);
    if (strcmp(outcome, "ok") != 0) *tb__db_err(db) = saved;
    return rc;
}

/* The lock-out settings: failures before the lock (security.lockout.attempts, default 5) and
 * its length in minutes (security.lockout.minutes, default 15; 0 locks until an admin unlocks).
 * A setting that does not parse falls back to its default: a typo must not switch the lock off. */
static void lockout_settings(tb_db *db, long long *attempts, long long *minutes)
{
    tb__errbuf saved = *tb__db_err(db);
    if (tb__setting_int(db, "security.lockout.attempts", 5, 1, 1000, attempts)) *attempts = 5;
    if (tb__setting_int(db, "security.lockout.minutes", 15, 0, 525600, minutes)) *minutes = 15;
    *tb__db_err(db) = saved;
}

/* "Until an admin unlocks": later than any time tb__now_text gives. */
#define LOCK_FOREVER "9999-12-31 23:59:59"

/* Records the n-th consecutive failed login of user p and, at the limit, locks the account;
 * audits "login" (denied, bad_password, the count) and "user.lock" in one transaction. The login
 * is refused whatever this returns, so its errors only keep the caller's detail. */
static void note_failure(tb_db *db, const tb__principal *p, const char *remote, long long n)
{
    tb__errbuf saved = *tb__db_err(db);
    long long attempts, minutes;
    lockout_settings(db, &attempts, &minutes);
    char until[TB__TIME_TEXT_LEN] = "";
    if (n >= attempts) {
        if (minutes == 0)
            snprintf(until, sizeof until, "%s", LOCK_FOREVER);
        else
            tb__time_text(time(NULL) + (time_t)minutes * 60, until);
    }
    int own;
    int rc = tb__sec_begin(db, &own);
    if (rc) goto out;
    sqlite3_stmt *st;
    rc = tb__meta_stmt(db, TB__STMT_SEC_LOCK_FAIL,
                       "UPDATE user SET failed_logins = ?2, locked_until = ?3 WHERE user_id = ?1",
                       &st);
    if (!rc) {
        sqlite3_bind_int64(st, 1, p->user_id);
        sqlite3_bind_int64(st, 2, n);
        if (until[0]) sqlite3_bind_text(st, 3, until, -1, SQLITE_TRANSIENT);
        rc = tb__meta_run(db, st, "cannot count a failed login");
    }
    char detail[160];
    snprintf(detail, sizeof detail, "{\"failures\":%lld,\"reason\":\"bad_password\"}", n);
    if (!rc) rc = tb__sec_audit_in_tx(db, p, remote, "login", p->name, detail, "denied");
    if (!rc && until[0]) {
        snprintf(detail, sizeof detail, "{\"failures\":%lld,\"minutes\":%lld,\"until\":\"%s\"}", n,
                 minutes, minutes ? until : "unlocked by an admin");
        rc = tb__sec_audit_in_tx(db, p, remote, "user.lock", p->name, detail, "denied");
    }
    tb__sec_end(db, own, rc);
out:
    *tb__db_err(db) = saved;
}

int tb__user_unlock(tb_db *db, const tb__principal *who, const char *remote, const char *name)
{
    tb__clearerr(tb__db_err(db));
    if (!tb__principal_can(who, TB__P_USER_ADMIN)) {
        tb__audit(db, who, remote, "user.unlock", name, "{\"reason\":\"not user.admin\"}",
                  "denied");
        return tb__seterr(tb__db_err(db), TB_EPERM,
                          "unlocking a user needs the permission 'user.admin'");
    }
    int own;
    int rc = tb__sec_begin(db, &own);
    if (rc) return rc;
    sqlite3_stmt *st;
    rc =
        tb__meta_stmt(db, TB__STMT_SEC_LOCK_GET,
                      "SELECT user_id, failed_logins, locked_until FROM user WHERE name = ?1", &st);
    if (rc) goto out;
    sqlite3_bind_text(st, 1, name ? name : "", -1, SQLITE_TRANSIENT);
    int src = sqlite3_step(st);
    int64_t id = 0;
    long long failures = 0;
    char until[TB__TIME_TEXT_LEN] = "", now[TB__TIME_TEXT_LEN];
    if (src == SQLITE_ROW) {
        id = sqlite3_column_int64(st, 0);
        failures = sqlite3_column_int64(st, 1);
        const char *lu = (const char *)sqlite3_column_text(st, 2);
        if (lu && strcmp(lu, tb__now_text(now)) > 0) snprintf(until, sizeof until, "%s", lu);
    } else if (src == SQLITE_DONE) {
        rc = tb__seterr(tb__db_err(db), TB_ENOENT, "no user '%.64s'", name ? name : "");
    } else {
        rc = tb__meta_seterr_sqlite(db, src, "cannot read user");
    }
    tb__meta_stmt_done(st);
    if (rc) goto out;
    if (!until[0]) {
        rc = tb__seterr(tb__db_err(db), TB_EINVAL, "user '%.64s' is not locked", name);
        goto out;
    }
    rc = tb__meta_stmt(db, TB__STMT_SEC_LOCK_CLEAR,
                       "UPDATE user SET failed_logins = 0, locked_until = NULL "
                       "WHERE user_id = ?1",
                       &st);
    if (rc) goto out;
    sqlite3_bind_int64(st, 1, id);
    rc = tb__meta_run(db, st, "cannot unlock user");
    if (rc) goto out;
    char detail[128];
    snprintf(detail, sizeof detail, "{\"failures\":%lld,\"locked_until\":\"%s\"}", failures, until);
    rc = tb__sec_audit_in_tx(db, who, remote, "user.unlock", name, detail, "ok");
out:
    return tb__sec_end(db, own, rc);
}

int tb__login(tb_db *db, const char *name, const char *password, int ttl_s, const char *remote,
              tb__principal *p, char sid[65], char csrf[65])
{
    tb__clearerr(tb__db_err(db));
    memset(p, 0, sizeof *p);
    sid[0] = csrf[0] = 0;
    if (ttl_s <= 0) return tb__seterr(tb__db_err(db), TB_EINVAL, "session ttl must be positive");
    int rc = tb__sec_sodium(db);
    if (rc) return rc;
    sqlite3_stmt *st;
    rc = tb__meta_stmt(db, TB__STMT_SEC_LOGIN_GET,
                       "SELECT user_id, name, role, scope_kind, scope_id, pw_hash, must_change, "
                       "disabled, blocked, failed_logins, locked_until FROM user WHERE name = ?1",
                       &st);
    if (rc) return rc;
    sqlite3_bind_text(st, 1, name ? name : "", -1, SQLITE_TRANSIENT);
    int src = sqlite3_step(st);
    const char *reason = NULL;
    char hash[crypto_pwhash_STRBYTES] = "";
    char nowt[TB__TIME_TEXT_LEN], locked[TB__TIME_TEXT_LEN] = "";
    int found = 0;
    long long failures = 0;
    tb__now_text(nowt);
    if (src == SQLITE_ROW) {
        found = 1;
        const char *lu = (const char *)sqlite3_column_text(st, 10);
        /* a lock that has run out is forgotten with its count: the next failure is the first */
        if (lu && strcmp(lu, nowt) > 0) {
            snprintf(locked, sizeof locked, "%s", lu);
            failures = sqlite3_column_int64(st, 9);
        } else if (!lu) {
            failures = sqlite3_column_int64(st, 9);
        }
        snprintf(hash, sizeof hash, "%s", (const char *)sqlite3_column_text(st, 5));
        rc = fill_principal(
            db, p, sqlite3_column_int64(st, 0), (const char *)sqlite3_column_text(st, 1),
            (const char *)sqlite3_column_text(st, 2), (const char *)sqlite3_column_text(st, 3),
            (const char *)sqlite3_column_text(st, 4), sqlite3_column_int(st, 6));
        if (sqlite3_column_int(st, 7))
            reason = "disabled";
        else if (sqlite3_column_type(st, 8) != SQLITE_NULL)
            reason = "blocked";
        else if (locked[0])
            reason = "locked";
    } else if (src != SQLITE_DONE) {
        rc = tb__meta_seterr_sqlite(db, src, "cannot read user");
    }
    tb__meta_stmt_done(st);
    if (rc) return rc;
    /* An unknown name still costs one argon2id verification, so timing does not tell which
     * names exist. */
    if (!found) pthread_once(&dummy_once, make_dummy);
    const char *pw = password ? password : "";
    size_t pwlen = strnlen(pw, PW_MAX + 1);
    int good = crypto_pwhash_str_verify(found ? hash : dummy, pw, pwlen) == 0 && pwlen <= PW_MAX;
    if (!found)
        reason = "unknown_user";
    else if (!good && !reason)
        reason = "bad_password";
    if (reason) {
        /* The typed name of an unknown user may be a mistyped password: keep only a hint. */
        char masked[80];
        const char *object = name;
        tb__principal anon;
        if (!found) {
            tb__mask_keep(name ? name : "", name ? strlen(name) : 0, 1, 0, masked, sizeof masked);
            object = masked;
            memset(&anon, 0, sizeof anon);
            snprintf(anon.name, sizeof anon.name, "-");
        }
        if (found && strcmp(reason, "bad_password") == 0)
            note_failure(db, p, remote, failures + 1);
        else
            audit_login(db, found ? p : &anon, remote, object, reason, "denied");
        memset(p, 0, sizeof *p);
        return tb__seterr(tb__db_err(db), TB_EPERM, "wrong user name or password");
    }

    char idhash[TB__SEC_HEX_LEN];
    tb__sec_random_hex(sid);
    tb__sec_random_hex(csrf);
    int own;
    rc = tb__sec_begin(db, &own);
    if (rc) goto out_fail;
    rc = tb__sec_keyed_hash(db, sid, idhash);
    if (rc) goto out_end;
    rc = tb__meta_stmt(db, TB__STMT_SEC_SESSION_INSERT,
                       "INSERT INTO session (id_hash, user_id, csrf, created_at, expires_at, "
                       "remote) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                       &st);
    if (rc) goto out_end;
    time_t now = time(NULL);
    char at[TB__TIME_TEXT_LEN], until[TB__TIME_TEXT_LEN];
    sqlite3_bind_text(st, 1, idhash, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 2, p->user_id);
    sqlite3_bind_text(st, 3, csrf, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 4, tb__time_text(now, at), -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 5, tb__time_text(now + ttl_s, until), -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 6, remote, -1, SQLITE_TRANSIENT);
    rc = tb__meta_run(db, st, "cannot create session");
    if (rc) goto out_end;
    /* Old sessions of everyone go when anyone logs in: the table stays small without a timer. */
    rc = tb__meta_stmt(db, TB__STMT_SEC_SESSION_PURGE, "DELETE FROM session WHERE expires_at <= ?1",
                       &st);
    if (rc) goto out_end;
    sqlite3_bind_text(st, 1, at, -1, SQLITE_TRANSIENT);
    rc = tb__meta_run(db, st, "cannot purge expired sessions");
    if (rc) goto out_end;
    if (failures) {
        rc = tb__meta_stmt(db, TB__STMT_SEC_LOCK_CLEAR,
                           "UPDATE user SET failed_logins = 0, locked_until = NULL "
                           "WHERE user_id = ?1",
                           &st);
        if (rc) goto out_end;
        sqlite3_bind_int64(st, 1, p->user_id);
        rc = tb__meta_run(db, st, "cannot reset failed logins");
        if (rc) goto out_end;
    }
    rc = tb__sec_audit_in_tx(db, p, remote, "login", p->name, NULL, "ok");
out_end:
    rc = tb__sec_end(db, own, rc);
out_fail:
    if (rc) {
        sodium_memzero(sid, 65);
        sodium_memzero(csrf, 65);
        memset(p, 0, sizeof *p);
    }
    return rc;
}

int tb__session_check(tb_db *db, const char *sid, const char *csrf, tb__principal *p)
{
    tb__clearerr(tb__db_err(db));
    memset(p, 0, sizeof *p);
    if (!sid || strlen(sid) != 64)
        return tb__seterr(tb__db_err(db), TB_EPERM, "session expired or unknown");
    char idhash[TB__SEC_HEX_LEN];
    int rc = tb__sec_keyed_hash(db, sid, idhash);
    if (rc) return rc;
    sqlite3_stmt *st;
    rc = tb__meta_stmt(db, TB__STMT_SEC_SESSION_GET,
                       "SELECT u.user_id, u.name, u.role, u.scope_kind, u.scope_id, "
                       "u.must_change, u.disabled, u.blocked, s.csrf, s.expires_at "
                       "FROM session s JOIN user u USING (user_id) WHERE s.id_hash = ?1",
                       &st);
    if (rc) return rc;
    sqlite3_bind_text(st, 1, idhash, -1, SQLITE_TRANSIENT);
    int src = sqlite3_step(st);
    if (src == SQLITE_ROW) {
        char now[TB__TIME_TEXT_LEN];
        const char *token = (const char *)sqlite3_column_text(st, 8);
        const char *until = (const char *)sqlite3_column_text(st, 9);
        if (!until || strcmp(until, tb__now_text(now)) <= 0)
            rc = tb__seterr(tb__db_err(db), TB_EPERM, "session expired or unknown");
        else if (sqlite3_column_int(st, 6) || sqlite3_column_type(st, 7) != SQLITE_NULL)
            rc = tb__seterr(tb__db_err(db), TB_EPERM, "user disabled");
        else if (csrf && (!token || strlen(csrf) != strlen(token) ||
                          sodium_memcmp(csrf, token, strlen(token)) != 0))
            rc = tb__seterr(tb__db_err(db), TB_EPERM, "csrf token mismatch");
        else
            rc = fill_principal(
                db, p, sqlite3_column_int64(st, 0), (const char *)sqlite3_column_text(st, 1),
                (const char *)sqlite3_column_text(st, 2), (const char *)sqlite3_column_text(st, 3),
                (const char *)sqlite3_column_text(st, 4), sqlite3_column_int(st, 5));
    } else if (src == SQLITE_DONE) {
        rc = tb__seterr(tb__db_err(db), TB_EPERM, "session expired or unknown");
    } else {
        rc = tb__meta_seterr_sqlite(db, src, "cannot read session");
    }
    tb__meta_stmt_done(st);
    if (rc) memset(p, 0, sizeof *p);
    return rc;
}

int tb__logout(tb_db *db, const char *sid)
{
    tb__clearerr(tb__db_err(db));
    tb__principal p;
    int rc = tb__session_check(db, sid, NULL, &p);
    int known = rc == 0;
    if (rc && rc != TB_EPERM) return rc;
    if (!sid || strlen(sid) != 64) return tb__seterr(tb__db_err(db), TB_ENOENT, "no such session");
    char idhash[TB__SEC_HEX_LEN];
    int own;
    rc = tb__sec_begin(db, &own);
    if (rc) return rc;
    rc = tb__sec_keyed_hash(db, sid, idhash);
    if (rc) goto out;
    sqlite3_stmt *st;
    rc = tb__meta_stmt(db, TB__STMT_SEC_SESSION_DELETE, "DELETE FROM session WHERE id_hash = ?1",
                       &st);
    if (rc) goto out;
    sqlite3_bind_text(st, 1, idhash, -1, SQLITE_TRANSIENT);
    rc = tb__meta_run(db, st, "cannot end session");
    if (rc) goto out;
    if (sqlite3_changes(tb__db_sqlite(db)) == 0) {
        rc = tb__seterr(tb__db_err(db), TB_ENOENT, "no such session");
        goto out;
    }
    if (known) rc = tb__sec_audit_in_tx(db, &p, NULL, "logout", p.name, NULL, "ok");
out:
    return tb__sec_end(db, own, rc);
}
