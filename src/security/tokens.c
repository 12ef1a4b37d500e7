/* tokens.c — API tokens for systems: "tbt_" and 32 random bytes in hex, shown once, stored as a
 * keyed BLAKE2b hash with the permissions they were narrowed to (by name), an expiry in days, and
 * revocation. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "common/clock.h"
#include "security/sec_int.h"
#include "store/meta.h"

#define TOKEN_PREFIX "tbt_"
#define TOKEN_LEN    (4 + 64)

int tb__token_create(tb_db *db, const char *user, const char *name, unsigned perms, int ttl_days,
                     char *token, size_t cap, int64_t *token_id)
{
    tb__clearerr(tb__db_err(db));
    tb__errbuf *e = tb__db_err(db);
    if (token && cap) *token = 0;
    if (token_id) *token_id = 0;
    if (!token || cap < TOKEN_LEN + 1)
        return tb__seterr(e, TB_EINVAL, "no room for the token (%d bytes needed)", TOKEN_LEN + 1);
    if (!name || !*name || strlen(name) > 64)
        return tb__seterr(e, TB_EINVAL, "token name must be 1 to 64 bytes");
    if (ttl_days < 1 || ttl_days > 3650)
        return tb__seterr(e, TB_EINVAL, "token validity must be 1 to 3650 days");
    int rc = tb__sec_sodium(db);
    if (rc) return rc;
    int own;
    rc = tb__sec_begin(db, &own);
    if (rc) return rc;
    sqlite3_stmt *st;
    rc = tb__meta_stmt(db, TB__STMT_SEC_TOKEN_USER,
                       "SELECT user_id, role, disabled FROM user WHERE name = ?1", &st);
    if (rc) goto out;
    sqlite3_bind_text(st, 1, user ? user : "", -1, SQLITE_TRANSIENT);
    int src = sqlite3_step(st);
    int64_t uid = 0;
    char role[40] = "";
    int disabled = 0;
    if (src == SQLITE_ROW) {
        uid = sqlite3_column_int64(st, 0);
        snprintf(role, sizeof role, "%s", (const char *)sqlite3_column_text(st, 1));
        disabled = sqlite3_column_int(st, 2);
    } else if (src == SQLITE_DONE) {
        rc = tb__seterr(e, TB_ENOENT, "no user '%.64s'", user ? user : "");
    } else {
        rc = tb__meta_seterr_sqlite(db, src, "cannot read user");
    }
    tb__meta_stmt_done(st);
    if (rc) goto out;
    if (disabled) {
        rc = tb__seterr(e, TB_EPERM, "user '%.64s' is disabled", user);
        goto out;
    }
    unsigned role_perms;
    rc = tb__sec_role_perms(db, role, &role_perms);
    if (rc) goto out;
    if (perms == 0) perms = role_perms;
    if (perms & ~role_perms) {
        char extra[512];
        tb__sec_perms_text(perms & ~role_perms, extra, sizeof extra);
        rc = tb__seterr(e, TB_EPERM, "role '%s' of user '%.64s' does not have %s%s", role, user,
                        extra[0] ? extra : "these permissions", extra[0] ? "" : "");
        goto out;
    }
    char secret[TB__SEC_HEX_LEN], hash[TB__SEC_HEX_LEN];
    tb__sec_random_hex(secret);
    snprintf(token, cap, TOKEN_PREFIX "%s", secret);
    sodium_memzero(secret, sizeof secret);
    rc = tb__sec_keyed_hash(db, token, hash);
    if (rc) goto out;
    rc = tb__meta_stmt(db, TB__STMT_SEC_TOKEN_INSERT,
                       "INSERT INTO api_token (user_id, name, hash, perms, created_at, "
                       "expires_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                       &st);
    if (rc) goto out;
    char text[512], at[TB__TIME_TEXT_LEN], until[TB__TIME_TEXT_LEN];
    time_t now = time(NULL);
    tb__sec_perms_text(perms, text, sizeof text);
    sqlite3_bind_int64(st, 1, uid);
    sqlite3_bind_text(st, 2, name, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 3, hash, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 4, text, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 5, tb__time_text(now, at), -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 6, tb__time_text(now + (time_t)ttl_days * 86400, until), -1,
                      SQLITE_TRANSIENT);
    rc = tb__meta_run(db, st, "cannot store token");
    if (rc) goto out;
    if (token_id) *token_id = sqlite3_last_insert_rowid(tb__db_sqlite(db));
out:
    rc = tb__sec_end(db, own, rc);
    if (rc) {
        sodium_memzero(token, cap);
        if (token_id) *token_id = 0;
    }
    return rc;
}

int tb__token_check(tb_db *db, const char *token, tb__principal *p)
{
    tb__clearerr(tb__db_err(db));
    memset(p, 0, sizeof *p);
    if (!token || strlen(token) != TOKEN_LEN || strncmp(token, TOKEN_PREFIX, 4) != 0)
        return tb__seterr(tb__db_err(db), TB_EPERM, "token unknown, expired or revoked");
    char hash[TB__SEC_HEX_LEN];
    int rc = tb__sec_keyed_hash(db, token, hash);
    if (rc) return rc;
    sqlite3_stmt *st;
    rc = tb__meta_stmt(db, TB__STMT_SEC_TOKEN_GET,
                       "SELECT u.user_id, u.name, u.role, u.scope_kind, u.scope_id, u.disabled, "
                       "u.blocked, t.perms, t.expires_at, t.revoked_at FROM api_token t "
                       "JOIN user u USING (user_id) WHERE t.hash = ?1",
                       &st);
    if (rc) return rc;
    sqlite3_bind_text(st, 1, hash, -1, SQLITE_TRANSIENT);
    int src = sqlite3_step(st);
    unsigned token_perms = 0;
    if (src == SQLITE_ROW) {
        char now[TB__TIME_TEXT_LEN];
        const char *until = (const char *)sqlite3_column_text(st, 8);
        if (sqlite3_column_type(st, 9) != SQLITE_NULL || !until ||
            strcmp(until, tb__now_text(now)) <= 0)
            rc = tb__seterr(tb__db_err(db), TB_EPERM, "token unknown, expired or revoked");
        else if (sqlite3_column_int(st, 5) || sqlite3_column_type(st, 6) != SQLITE_NULL)
            rc = tb__seterr(tb__db_err(db), TB_EPERM, "user disabled");
        if (!rc) {
            const char *s;
            p->user_id = sqlite3_column_int64(st, 0);
            snprintf(p->name, sizeof p->name, "%s", (const char *)sqlite3_column_text(st, 1));
            snprintf(p->role, sizeof p->role, "%s", (const char *)sqlite3_column_text(st, 2));
            s = (const char *)sqlite3_column_text(st, 3);
            p->scope = s && strcmp(s, "org") == 0       ? TB__SCOPE_ORG
                       : s && strcmp(s, "manager") == 0 ? TB__SCOPE_MANAGER
                                                        : TB__SCOPE_ALL;
            s = (const char *)sqlite3_column_text(st, 4);
            snprintf(p->scope_id, sizeof p->scope_id, "%s", s ? s : "");
            token_perms = tb__sec_perms_lenient((const char *)sqlite3_column_text(st, 7));
            p->via_token = 1;
        }
    } else if (src == SQLITE_DONE) {
        rc = tb__seterr(tb__db_err(db), TB_EPERM, "token unknown, expired or revoked");
    } else {
        rc = tb__meta_seterr_sqlite(db, src, "cannot read token");
    }
    tb__meta_stmt_done(st);
    if (!rc) {
        unsigned role_perms;
        rc = tb__sec_role_perms(db, p->role, &role_perms);
        p->perms = role_perms & token_perms;
    }
    if (rc) memset(p, 0, sizeof *p);
    return rc;
}

int tb__token_revoke(tb_db *db, int64_t token_id)
{
    tb__clearerr(tb__db_err(db));
    int own;
    int rc = tb__sec_begin(db, &own);
    if (rc) return rc;
    sqlite3_stmt *st;
    rc = tb__meta_stmt(db, TB__STMT_SEC_TOKEN_REVOKE,
                       "UPDATE api_token SET revoked_at = coalesce(revoked_at, ?2) "
                       "WHERE token_id = ?1",
                       &st);
    if (rc) goto out;
    char now[TB__TIME_TEXT_LEN];
    sqlite3_bind_int64(st, 1, token_id);
    sqlite3_bind_text(st, 2, tb__now_text(now), -1, SQLITE_TRANSIENT);
    rc = tb__meta_run(db, st, "cannot revoke token");
    if (!rc && sqlite3_changes(tb__db_sqlite(db)) == 0)
        rc = tb__seterr(tb__db_err(db), TB_ENOENT, "no token %lld", (long long)token_id);
out:
    return tb__sec_end(db, own, rc);
}

int tb__token_list(tb_db *db, const char *user, json_t **out)
{
    tb__clearerr(tb__db_err(db));
    *out = NULL;
    sqlite3_stmt *st;
    int rc = tb__meta_stmt(db, TB__STMT_SEC_TOKEN_LIST,
                           "SELECT t.token_id, u.name, t.name, t.perms, t.created_at, "
                           "t.expires_at, t.revoked_at FROM api_token t JOIN user u "
                           "USING (user_id) WHERE ?1 IS NULL OR u.name = ?1 ORDER BY t.token_id",
                           &st);
    if (rc) return rc;
    sqlite3_bind_text(st, 1, user, -1, SQLITE_TRANSIENT);
    json_t *a = json_array();
    if (!a) rc = tb__seterr(tb__db_err(db), TB_ENOMEM, "out of memory");
    char now[TB__TIME_TEXT_LEN];
    tb__now_text(now);
    int src = SQLITE_DONE;
    while (!rc && (src = sqlite3_step(st)) == SQLITE_ROW) {
        const char *until = (const char *)sqlite3_column_text(st, 5);
        const char *state = sqlite3_column_type(st, 6) != SQLITE_NULL ? "revoked"
                            : !until || strcmp(until, now) <= 0       ? "expired"
                                                                      : "active";
        json_t *t = json_pack(
            "{s:I, s:s, s:s, s:o?, s:s, s:s, s:s?, s:s}", "id",
            (json_int_t)sqlite3_column_int64(st, 0), "user", sqlite3_column_text(st, 1), "name",
            sqlite3_column_text(st, 2), "perms",
            tb__perms_json(tb__sec_perms_lenient((const char *)sqlite3_column_text(st, 3))),
            "created_at", sqlite3_column_text(st, 4), "expires_at", until, "revoked_at",
            sqlite3_column_text(st, 6), "state", state);
        if (!t || json_array_append_new(a, t))
            rc = tb__seterr(tb__db_err(db), TB_ENOMEM, "out of memory");
    }
    if (!rc && src != SQLITE_DONE) rc = tb__meta_seterr_sqlite(db, src, "cannot list tokens");
    tb__meta_stmt_done(st);
    if (rc) {
        json_decref(a);
        return rc;
    }
    *out = a;
    return 0;
}
