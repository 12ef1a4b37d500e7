/* api_auth.c — handlers of logging in and out, the principal, users, roles, API tokens and the
 * audit log. Secrets (passwords, session ids, tokens) go to the security module and back to the
 * client only: never into an audit detail, a log line or an error message. */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/srv_int.h"
#include "store/meta.h"

/* Parses "all", "org:ID" or "manager:ID". 0, or -1 after answering 400. */
static int parse_scope(tb__req *r, const char *s, tb__scope_kind *kind, const char **id)
{
    *id = "";
    *kind = TB__SCOPE_ALL;
    if (!s || strcmp(s, "all") == 0) return 0;
    if (strncmp(s, "org:", 4) == 0 && s[4]) {
        *kind = TB__SCOPE_ORG;
        *id = s + 4;
    } else if (strncmp(s, "manager:", 8) == 0 && s[8]) {
        *kind = TB__SCOPE_MANAGER;
        *id = s + 8;
    } else {
        tb__req_error(r, 400, "scope", "'scope' takes all, org:ORG_ID or manager:MANAGER_ID");
        return -1;
    }
    if (strlen(*id) > 64) {
        tb__req_error(r, 400, "scope", "the scope's id is longer than 64 bytes");
        return -1;
    }
    return 0;
}

/* Answers a security-module failure: the detail is copied while the handle is still held. */
static void sec_error(tb__req *r, int rc, tb_db *db)
{
    tb__req_engine_error(r, rc, db);
}

/* Answers a new session: the CSRF token and the principal in the body, the session id in an
 * HttpOnly, SameSite=Strict cookie (Secure under TLS). Wipes sid. */
static void answer_session(tb__req *r, const tb__principal *p, char *sid, const char *csrf)
{
    tb__srv *s = r->srv;
    tb__req_json_value(r, 200,
                       json_pack("{s:s, s:o, s:i}", "csrf_token", csrf, "user",
                                 tb__principal_json(p), "expires_in", s->o.session_ttl_s));
    char cookie[256];
    snprintf(cookie, sizeof cookie,
             "tb_session=%s; Path=/; HttpOnly; SameSite=Strict; Max-Age=%d%s", sid,
             s->o.session_ttl_s, s->tls ? "; Secure" : "");
    tb__req_header(r, MHD_HTTP_HEADER_SET_COOKIE, cookie);
    sodium_memzero(sid, 65);
    sodium_memzero(cookie, sizeof cookie);
}

void tb__api_login(tb__req *r)
{
    const char *user, *pw;
    if (tb__req_str(r, "user", 1, &user) || tb__req_str(r, "password", 1, &pw)) return;
    if (strlen(user) > 64 || strlen(pw) > 1024) {
        tb__req_error(r, 400, strlen(user) > 64 ? "user" : "password", "too long");
        return;
    }
    tb__srv *s = r->srv;
    tb__principal p;
    char sid[65], csrf[65];
    /* tb__login audits every attempt itself (ok or denied, never the password) */
    tb_db *w = tb__srv_wlock(s);
    int rc = tb__login(w, user, pw, s->o.session_ttl_s, r->remote, &p, sid, csrf);
    if (rc && rc != TB_EPERM && rc != TB_ENOENT) {
        sec_error(r, rc, w);
        tb__srv_wunlock(s);
        return;
    }
    tb__srv_wunlock(s);
    if (rc) {
        tb__req_error(r, 401, NULL, "wrong user name or password");
        return;
    }
    r->who = p;
    r->authed = 1;
    answer_session(r, &p, sid, csrf);
}

void tb__api_logout(tb__req *r)
{
    if (!r->sid) {
        tb__req_error(r, 400, NULL, "not a session: an API token is revoked, not logged out");
        return;
    }
    tb_db *w = tb__srv_wlock(r->srv);
    int rc = tb__logout(w, r->sid); /* audits "logout" itself */
    if (rc) sec_error(r, rc, w);
    tb__srv_wunlock(r->srv);
    if (rc) return;
    tb__req_json_copy(r, 200, "{\"ok\":true}");
    tb__req_header(r, MHD_HTTP_HEADER_SET_COOKIE,
                   r->srv->tls ? "tb_session=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0; Secure"
                               : "tb_session=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0");
}

void tb__api_me(tb__req *r)
{
    tb__req_json_value(r, 200, json_pack("{s:o}", "user", tb__principal_json(&r->who)));
}

/* The current password is checked by logging in with it (a session that ends at once). A new
 * password ends every session of the user, so the answer carries a new session (cookie and CSRF
 * token), as login does. */
void tb__api_me_password(tb__req *r)
{
    const char *cur, *nw;
    if (tb__req_str(r, "password", 1, &cur) || tb__req_str(r, "new_password", 1, &nw)) return;
    if (strlen(nw) > 1024 || strlen(cur) > 1024) {
        tb__req_error(r, 400, "new_password", "too long");
        return;
    }
    if (r->who.via_token) {
        tb__req_error(r, 403, NULL, "an API token cannot change a password");
        return;
    }
    tb__srv *s = r->srv;
    tb__principal p;
    char sid[65], csrf[65];
    tb_db *w = tb__srv_wlock(s);
    int rc = tb__login(w, r->who.name, cur, 60, r->remote, &p, sid, csrf);
    if (rc == 0) {
        tb__logout(w, sid);
        rc = tb__user_passwd(w, r->who.name, nw, NULL, 0);
        if (rc)
            sec_error(r, rc, w);
        else {
            tb__audit(w, &r->who, r->remote, "user.passwd", r->who.name, NULL, "ok");
            rc = tb__login(w, r->who.name, nw, s->o.session_ttl_s, r->remote, &p, sid, csrf);
            if (rc) sec_error(r, rc, w);
        }
    } else
        tb__req_error(r, 403, "password", "the current password is wrong");
    tb__srv_wunlock(s);
    if (rc) {
        sodium_memzero(sid, sizeof sid);
        return;
    }
    r->who = p;
    answer_session(r, &p, sid, csrf);
}

void tb__api_users_list(tb__req *r)
{
    json_t *out = NULL;
    tb_db *db = tb__req_rdb(r);
    int rc = tb__user_list(db, &out);
    if (rc) {
        sec_error(r, rc, db);
        return;
    }
    tb__req_json_value(r, 200, json_pack("{s:o}", "users", out));
}

void tb__api_users_add(tb__req *r)
{
    const char *name, *role, *scope, *pw;
    if (tb__req_str(r, "name", 1, &name) || tb__req_str(r, "role", 1, &role) ||
        tb__req_str(r, "scope", 0, &scope) || tb__req_str(r, "password", 0, &pw))
        return;
    tb__scope_kind kind;
    const char *sid;
    if (parse_scope(r, scope, &kind, &sid)) return;
    char gen[128] = "";
    tb_db *w = tb__srv_wlock(r->srv);
    int rc = tb__user_add(w, name, role, kind, sid, pw, gen, sizeof gen);
    if (rc)
        sec_error(r, rc, w);
    else {
        json_t *d = json_pack("{s:s, s:s}", "role", role, "scope", scope ? scope : "all");
        char *dt = d ? json_dumps(d, JSON_COMPACT) : NULL;
        json_decref(d);
        tb__audit(w, &r->who, r->remote, "user.add", name, dt, "ok");
        free(dt);
    }
    tb__srv_wunlock(r->srv);
    if (rc) return;
    json_t *ans =
        json_pack("{s:s, s:s, s:s}", "name", name, "role", role, "scope", scope ? scope : "all");
    if (ans && !pw) json_object_set_new(ans, "password", json_string(gen));
    sodium_memzero(gen, sizeof gen);
    tb__req_json_value(r, 201, ans);
}

void tb__api_user_update(tb__req *r)
{
    const char *name = r->params[0], *role, *scope;
    int disabled = 0, reset = 0, unlock = 0;
    json_t *b = tb__req_body(r);
    if (!b || tb__req_str(r, "role", 0, &role) || tb__req_str(r, "scope", 0, &scope) ||
        tb__req_bool(r, "disabled", &disabled) || tb__req_bool(r, "reset_password", &reset) ||
        tb__req_bool(r, "unlock", &unlock))
        return;
    int has_disabled = json_object_get(b, "disabled") != NULL;
    if (!role && !scope && !has_disabled && !reset && !unlock) {
        tb__req_error(r, 400, NULL,
                      "nothing to change: give role, scope, disabled, reset_password or unlock");
        return;
    }
    tb__scope_kind kind;
    const char *sid;
    if (scope && parse_scope(r, scope, &kind, &sid)) return;
    /* maker-checker: a role change needs an approved role_change request of this caller for
     * exactly this user and role, used in the same transaction as the change */
    json_t *jid = json_object_get(b, "approval");
    if (role && !json_is_integer(jid)) {
        tb__req_error(r, 403, "approval",
                      "a role change needs an approved 'role_change' request: ask with POST "
                      "/api/v1/approvals {\"kind\":\"role_change\",\"payload\":{\"user\":...,"
                      "\"role\":...}}; a second person approves it; then send \"approval\": ID");
        tb__req_audit(r, NULL, "user.role", name, "{\"approval\":\"missing\"}", "denied");
        return;
    }
    char gen[128] = "";
    tb_db *w = tb__srv_wlock(r->srv);
    int rc = 0;
    if (scope) rc = tb__user_set_scope(w, name, kind, sid);
    if (!rc && role) {
        json_t *p = json_pack("{s:s, s:s}", "user", name, "role", role);
        char *payload = p ? json_dumps(p, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
        json_decref(p);
        rc = payload ? tb__meta_begin(w) : TB_ENOMEM;
        if (!rc)
            rc = tb__approval_consume(w, json_integer_value(jid), &r->who, r->remote, "role_change",
                                      payload);
        if (!rc) rc = tb__user_set_role_by(w, &r->who, r->remote, name, role);
        if (!rc || rc == TB_EPERM) { /* a refusal keeps its audit record */
            tb__errbuf saved = *tb__db_err(w);
            int crc = tb__meta_commit(w);
            if (!rc)
                rc = crc;
            else
                *tb__db_err(w) = saved;
        }
        tb__meta_rollback(w);
        free(payload);
    }
    if (!rc && unlock) rc = tb__user_unlock(w, &r->who, r->remote, name); /* audits itself */
    if (!rc && has_disabled) rc = tb__user_disable(w, name, disabled);
    if (!rc && reset) rc = tb__user_passwd(w, name, NULL, gen, sizeof gen);
    if (rc)
        sec_error(r, rc, w);
    else if (scope || has_disabled || reset) {
        json_t *d = json_pack("{s:s?, s:b, s:b}", "scope", scope, "disabled", disabled,
                              "reset_password", reset);
        if (d && !has_disabled) json_object_del(d, "disabled");
        char *dt = d ? json_dumps(d, JSON_COMPACT) : NULL;
        json_decref(d);
        tb__audit(w, &r->who, r->remote, "user.update", name, dt, "ok");
        free(dt);
    }
    tb__srv_wunlock(r->srv);
    if (rc) return;
    json_t *ans = json_pack("{s:s, s:b}", "name", name, "ok", 1);
    if (ans && reset) json_object_set_new(ans, "password", json_string(gen));
    sodium_memzero(gen, sizeof gen);
    tb__req_json_value(r, 200, ans);
}

void tb__api_roles_list(tb__req *r)
{
    json_t *out = NULL;
    tb_db *db = tb__req_rdb(r);
    int rc = tb__role_list(db, &out);
    if (rc) {
        sec_error(r, rc, db);
        return;
    }
    tb__req_json_value(r, 200, json_pack("{s:o}", "roles", out));
}

void tb__api_tokens_list(tb__req *r)
{
    json_t *out = NULL;
    tb_db *db = tb__req_rdb(r);
    int rc = tb__token_list(db, r->params[0], &out);
    if (rc) {
        sec_error(r, rc, db);
        return;
    }
    tb__req_json_value(r, 200, json_pack("{s:o}", "tokens", out));
}

void tb__api_tokens_create(tb__req *r)
{
    const char *user = r->params[0], *name;
    long long ttl = 90;
    json_t *b = tb__req_body(r);
    if (!b || tb__req_str(r, "name", 1, &name) || tb__req_int(r, "ttl_days", 1, 3650, &ttl)) return;
    unsigned perms = 0;
    json_t *pl = json_object_get(b, "permissions");
    if (json_is_string(pl)) {
        if (tb__perms_parse_list(json_string_value(pl), &perms, NULL, 0) != 0) {
            tb__req_error(r, 400, "permissions", "unknown permission in 'permissions'");
            return;
        }
    } else if (pl && !json_is_null(pl)) {
        if (!json_is_array(pl)) {
            tb__req_error(r, 400, "permissions", "'permissions' must be an array of names");
            return;
        }
        size_t i;
        json_t *v;
        json_array_foreach(pl, i, v)
        {
            unsigned p = json_is_string(v) ? tb__perm_parse(json_string_value(v)) : 0;
            if (!p) {
                tb__req_error(r, 400, "permissions", "unknown permission at index %zu", i);
                return;
            }
            perms |= p;
        }
    }
    char token[256];
    int64_t id = 0;
    tb_db *w = tb__srv_wlock(r->srv);
    int rc = tb__token_create(w, user, name, perms, (int)ttl, token, sizeof token, &id);
    if (rc)
        sec_error(r, rc, w);
    else {
        char detail[128];
        snprintf(detail, sizeof detail, "{\"token_id\":%lld,\"ttl_days\":%lld}", (long long)id,
                 ttl);
        tb__audit(w, &r->who, r->remote, "token.create", user, detail, "ok");
    }
    tb__srv_wunlock(r->srv);
    if (rc) return;
    tb__req_json_value(r, 201,
                       json_pack("{s:s, s:I, s:s, s:s, s:I}", "token", token, "id", (json_int_t)id,
                                 "user", user, "name", name, "ttl_days", (json_int_t)ttl));
    sodium_memzero(token, sizeof token);
}

void tb__api_token_revoke(tb__req *r)
{
    const char *p = r->params[0];
    if (strspn(p, "0123456789") != strlen(p) || strlen(p) > 18) {
        tb__req_error(r, 400, "id", "a token id is a number");
        return;
    }
    int64_t id = strtoll(p, NULL, 10);
    tb_db *w = tb__srv_wlock(r->srv);
    int rc = tb__token_revoke(w, id);
    if (rc)
        sec_error(r, rc, w);
    else {
        char detail[64];
        snprintf(detail, sizeof detail, "{\"token_id\":%lld}", (long long)id);
        tb__audit(w, &r->who, r->remote, "token.revoke", p, detail, "ok");
    }
    tb__srv_wunlock(r->srv);
    if (rc) return;
    tb__req_json_copy(r, 200, "{\"ok\":true}");
}

void tb__api_audit_list(tb__req *r)
{
    const char *lim = tb__req_query(r, "limit");
    long long limit = 100;
    if (lim) {
        char *end;
        limit = strtoll(lim, &end, 10);
        if (*end || !*lim || limit < 1 || limit > 10000) {
            tb__req_error(r, 400, "limit", "'limit' takes a number from 1 to 10000");
            return;
        }
    }
    json_t *out = NULL;
    tb_db *db = tb__req_rdb(r);
    int rc = tb__audit_list(db, tb__req_query(r, "actor"), tb__req_query(r, "action"), limit, &out);
    if (rc) {
        sec_error(r, rc, db);
        return;
    }
    tb__req_json_value(r, 200, json_pack("{s:o}", "records", out));
}

void tb__api_audit_verify(tb__req *r)
{
    json_t *out = NULL;
    tb_db *db = tb__req_rdb(r);
    int rc = tb__audit_verify(db, &out);
    if (rc) {
        sec_error(r, rc, db);
        return;
    }
    tb__req_json_value(r, 200, out);
}
