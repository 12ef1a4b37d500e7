/* routes.c — the route table (every route, the permission it needs, its handler) and the
 * dispatcher: route, authenticate (session cookie + CSRF header, or bearer token), authorise,
 * call the handler. docs/openapi.yaml documents the same table; tests/e2e/server.test.mjs checks
 * that the two agree. */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "server/srv_int.h"

#define A  "/api/v1"
#define PW TB__R_PWCHANGE

/* Literal routes come before parametrised ones of the same shape: the first match wins. */
const tb__route tb__routes[] = {
    {"GET", "/health", 0, TB__R_PUBLIC, tb__api_health, "liveness"},
    {"GET", A "/routes", TB__P_USER_ADMIN, 0, tb__api_routes, "this table"},
    {"POST", A "/login", 0, TB__R_PUBLIC, tb__api_login, "log in: session cookie and CSRF token"},
    {"POST", A "/logout", 0, TB__R_ANY | PW, tb__api_logout, "end the session"},
    {"GET", A "/me", 0, TB__R_ANY | PW, tb__api_me, "who is logged in"},
    {"POST", A "/me/password", 0, TB__R_ANY | PW, tb__api_me_password, "change own password"},
    {"GET", A "/users", TB__P_USER_ADMIN, 0, tb__api_users_list, "users"},
    {"POST", A "/users", TB__P_USER_ADMIN, 0, tb__api_users_add, "add a user"},
    {"PATCH", A "/users/{name}", TB__P_USER_ADMIN, 0, tb__api_user_update,
     "change role, disable, reset password"},
    {"GET", A "/users/{name}/tokens", TB__P_USER_ADMIN, 0, tb__api_tokens_list, "API tokens"},
    {"POST", A "/users/{name}/tokens", TB__P_USER_ADMIN, 0, tb__api_tokens_create,
     "create an API token"},
    {"DELETE", A "/tokens/{id}", TB__P_USER_ADMIN, 0, tb__api_token_revoke, "revoke a token"},
    {"GET", A "/roles", TB__P_USER_ADMIN, 0, tb__api_roles_list, "roles and permissions"},
    {"GET", A "/audit", TB__P_AUDIT_READ, 0, tb__api_audit_list, "audit records"},
    {"GET", A "/audit/verify", TB__P_AUDIT_READ, 0, tb__api_audit_verify, "verify the chain"},
    {"GET", A "/approvals", 0, TB__R_ANY, tb__api_approvals_list, "approval requests"},
    {"POST", A "/approvals", 0, TB__R_ANY, tb__api_approval_request, "ask for an approval"},
    {"POST", A "/approvals/{id}/approve", 0, TB__R_ANY, tb__api_approval_approve,
     "approve (a second person)"},
    {"POST", A "/approvals/{id}/reject", 0, TB__R_ANY, tb__api_approval_reject, "reject"},
    {"GET", A "/alerts", TB__P_AUDIT_READ, 0, tb__api_alerts_list, "abnormal-access alerts"},
    {"POST", A "/alerts/{name}/clear", TB__P_USER_ADMIN, 0, tb__api_alert_clear, "unblock a user"},
    {"GET", A "/pipeline/status", TB__P_PIPELINE_READ, 0, tb__api_pipeline_status,
     "pipeline status"},
    {"POST", A "/pipeline/load", TB__P_PIPELINE_LOAD, 0, tb__api_pipeline_load,
     "load extracts from a server-side path"},
    {"GET", A "/check", TB__P_PIPELINE_READ, 0, tb__api_check, "verify the data directory"},
    {"GET", A "/customers/{id}", TB__P_CUSTOMER_VIEW, 0, tb__api_customer_360, "360 view"},
    {"GET", A "/customers/{id}/lineage", TB__P_CUSTOMER_VIEW, 0, tb__api_customer_lineage,
     "lineage of a customer's values"},
    {"GET", A "/customers/{id}/consent", TB__P_CUSTOMER_VIEW, 0, tb__api_customer_consent,
     "consent (PIPL) with history"},
    {"POST", A "/customers/{id}/consent", TB__P_CUSTOMER_VIEW, 0, tb__api_customer_consent_set,
     "record a grant or withdrawal"},
    /* data subject rights (api_privacy.c) */
    {"GET", A "/customers/{id}/copy", TB__P_PII_CLEAR, 0, tb__api_customer_copy,
     "a person's copy of their data (PIPL), unmasked"},
    /* erasure of a person (api_privacy.c, src/security/erase.c) */
    {"POST", A "/customers/{id}/erase", TB__P_USER_ADMIN | TB__P_PII_CLEAR, 0,
     tb__api_customer_erase, "erase a person from every store, with a second person's approval"},
    /* end of erasure */
    {"GET", A "/tags", TB__P_TAG_READ, 0, tb__api_tags_list, "tags"},
    {"GET", A "/tags/tree", TB__P_TAG_READ, 0, tb__api_tags_tree, "themes and tags"},
    {"POST", A "/tags/build", TB__P_TAG_BUILD, 0, tb__api_tag_build, "build tags for a batch"},
    {"GET", A "/tags/{code}", TB__P_TAG_READ, 0, tb__api_tag_show, "one tag"},
    {"GET", A "/tags/{code}/history", TB__P_TAG_READ, 0, tb__api_tag_history, "versions, events"},
    {"POST", A "/tags/{code}/submit", TB__P_TAG_EDIT, 0, tb__api_tag_submit, "submit for review"},
    {"POST", A "/tags/{code}/approve", TB__P_TAG_APPROVE, 0, tb__api_tag_approve, "publish"},
    {"POST", A "/tags/{code}/reject", TB__P_TAG_APPROVE, 0, tb__api_tag_reject, "reject"},
    {"POST", A "/tags/{code}/offline", TB__P_TAG_APPROVE, 0, tb__api_tag_offline, "offline"},
    /* event analysis (api_events_analysis.c) */
    {"POST", A "/events/funnel", TB__P_SEG_READ, 0, tb__api_ev_funnel,
     "a funnel: conversion per step, trend, breakdown, save a step's customers"},
    {"POST", A "/events/paths", TB__P_SEG_READ, 0, tb__api_ev_paths, "next/previous events"},
    {"POST", A "/events/retention", TB__P_SEG_READ, 0, tb__api_ev_retention, "day-N retention"},
    {"POST", A "/events/count", TB__P_SEG_READ, 0, tb__api_ev_count, "event counts and trends"},
    /* end of event analysis */
    {"POST", A "/segments/count", TB__P_SEG_READ, 0, tb__api_seg_count, "count an expression"},
    {"GET", A "/segments", TB__P_SEG_READ, 0, tb__api_seg_list, "saved segments"},
    {"POST", A "/segments", TB__P_SEG_WRITE, 0, tb__api_seg_save, "save a segment"},
    {"POST", A "/segments/import", TB__P_SEG_WRITE, 0, tb__api_seg_import,
     "a static segment from a list"},
    {"GET", A "/segments/overlap", TB__P_SEG_READ, 0, tb__api_seg_overlap, "overlap of two"},
    {"GET", A "/segments/{name}", TB__P_SEG_READ, 0, tb__api_seg_show, "one segment"},
    {"DELETE", A "/segments/{name}", TB__P_SEG_WRITE, 0, tb__api_seg_delete, "delete"},
    {"GET", A "/segments/{name}/diff", TB__P_SEG_READ, 0, tb__api_seg_diff, "entered and left"},
    {"GET", A "/segments/{name}/profile", TB__P_SEG_READ, 0, tb__api_seg_profile,
     "distribution of a tag"},
    {"POST", A "/segments/{name}/export", TB__P_SEG_EXPORT, 0, tb__api_seg_export,
     "members as CSV"},
    /* event collection: the wire formats of the SDKs apps already ship (api_events.c); the
     * write key or project authenticates, so no session or token is asked for */
    {"POST", "/v1/{kind}", 0, TB__R_PUBLIC, tb__api_collect_segment,
     "Segment / RudderStack tracking API: track, identify, page, screen, group, alias, batch"},
    {"GET", "/sa", 0, TB__R_PUBLIC, tb__api_collect_sensors, "Sensors Data collection (query)"},
    {"POST", "/sa", 0, TB__R_PUBLIC, tb__api_collect_sensors, "Sensors Data collection (form)"},
    {"GET", "/sa.gif", 0, TB__R_PUBLIC, tb__api_collect_sensors, "Sensors image beacon"},
    {"POST", "/sa.gif", 0, TB__R_PUBLIC, tb__api_collect_sensors, "Sensors image beacon (form)"},
    /* event tracking's management (api_events.c) */
    {"GET", A "/events/sources", TB__P_PIPELINE_READ, 0, tb__api_events_sources,
     "apps that send events"},
    {"POST", A "/events/sources", TB__P_PIPELINE_LOAD, 0, tb__api_events_source_add,
     "add an app: its write key, shown once"},
    {"DELETE", A "/events/sources/{name}", TB__P_PIPELINE_LOAD, 0, tb__api_events_source_revoke,
     "revoke an app's write key"},
    {"GET", A "/events/plans/{source}", TB__P_PIPELINE_READ, 0, tb__api_events_plan,
     "tracking plan of an app (a version, and the list of versions)"},
    {"PUT", A "/events/plans/{source}", TB__P_PIPELINE_LOAD, 0, tb__api_events_plan_put,
     "new version of an app's tracking plan"},
    {"GET", A "/events/rules", TB__P_PIPELINE_READ, 0, tb__api_events_rules, "real-time tag rules"},
    {"PUT", A "/events/rules", TB__P_PIPELINE_LOAD, 0, tb__api_events_rules_put,
     "new version of the real-time tag rules"},
    {"GET", A "/events/status", TB__P_PIPELINE_READ, 0, tb__api_events_status,
     "collector counters, log position, persons, real-time tags"},
    {"POST", A "/events/compact", TB__P_PIPELINE_LOAD, 0, tb__api_events_compact,
     "compact the event log into day partitions now"},
    {"GET", A "/events/quarantine", TB__P_PIPELINE_READ, 0, tb__api_events_quarantine,
     "newest quarantined events with reasons (masked)"},
    /* the web console's own (api_console.c) */
    {"PUT", A "/tags/{code}", TB__P_TAG_EDIT, 0, tb__api_tag_save,
     "save a tag definition as a draft"},
    {"GET", A "/pipeline/quarantine", TB__P_PIPELINE_READ, 0, tb__api_pipeline_quarantine,
     "quarantined rows of one file (masked)"},
    /* end of the web console's */
};
const size_t tb__nroutes = sizeof tb__routes / sizeof tb__routes[0];

/* Matches `pattern` against the decoded segments, filling params[] from {...} pieces. */
static int match(const char *pattern, const tb__target *t, const char **params)
{
    size_t k = 0, np = 0;
    const char *p = pattern + 1;
    for (;;) {
        const char *sl = strchr(p, '/');
        size_t n = sl ? (size_t)(sl - p) : strlen(p);
        if (k >= t->nsegs) return 0;
        if (n >= 2 && p[0] == '{' && p[n - 1] == '}') {
            if (!*t->segs[k]) return 0; /* an empty name never matches */
            if (np < 2) params[np++] = t->segs[k];
        } else if (strlen(t->segs[k]) != n || memcmp(t->segs[k], p, n) != 0)
            return 0;
        k++;
        if (!sl) break;
        p = sl + 1;
    }
    return k == t->nsegs;
}

const tb__route *tb__route_find(const char *method, const tb__target *t, const char **params,
                                char *allow, size_t allowlen)
{
    const char *m = strcmp(method, "HEAD") == 0 ? "GET" : method;
    const char *tmp[2];
    size_t o = 0;
    allow[0] = '\0';
    for (size_t i = 0; i < tb__nroutes; i++) {
        if (!match(tb__routes[i].pattern, t, tmp)) continue;
        if (strcmp(tb__routes[i].method, m) == 0) {
            params[0] = tmp[0];
            params[1] = tmp[1];
            return &tb__routes[i];
        }
        if (!strstr(allow, tb__routes[i].method)) {
            int w = snprintf(allow + o, allowlen - o, "%s%s", o ? ", " : "", tb__routes[i].method);
            if (w > 0 && (size_t)w < allowlen - o) o += (size_t)w;
        }
    }
    return NULL;
}

/* Authenticates the request: a bearer token, else the session cookie (and, for a method that
 * changes something, the X-CSRF-Token header the session was given). Returns 0, or answers 401
 * or 403 and returns -1. */
static int authenticate(tb__req *r, int mutating)
{
    const char *authz = tb__req_header_in(r, MHD_HTTP_HEADER_AUTHORIZATION);
    if (authz) {
        if (strncasecmp(authz, "Bearer ", 7) != 0) {
            tb__req_error(r, 401, NULL, "the Authorization header takes 'Bearer TOKEN'");
            return -1;
        }
        const char *tok = authz + 7;
        while (*tok == ' ')
            tok++;
        tb_db *db = tb__req_rdb(r);
        if (tb__token_check(db, tok, &r->who) != 0) {
            tb__req_error(r, 401, NULL, "invalid, expired or revoked token");
            return -1;
        }
        r->authed = 1;
        return 0;
    }
    const char *cookie = tb__req_header_in(r, MHD_HTTP_HEADER_COOKIE);
    size_t vlen = 0;
    const char *v = cookie ? tb__http_cookie(cookie, strlen(cookie), "tb_session", &vlen) : NULL;
    if (!v || vlen == 0 || vlen > 128) {
        tb__req_error(r, 401, NULL, "log in first (session cookie or bearer token)");
        return -1;
    }
    char *sid = tb__arena_strndup(&r->pool, v, vlen);
    if (!sid) {
        tb__req_error(r, 500, NULL, "out of memory");
        return -1;
    }
    tb_db *db = tb__req_rdb(r);
    if (tb__session_check(db, sid, NULL, &r->who) != 0) {
        tb__req_error(r, 401, NULL, "the session has expired or ended: log in again");
        return -1;
    }
    r->authed = 1;
    r->sid = sid;
    if (mutating) {
        const char *csrf = tb__req_header_in(r, "X-CSRF-Token");
        tb__principal again;
        if (!csrf || !*csrf || tb__session_check(db, sid, csrf, &again) != 0) {
            tb__req_error(r, 403, NULL,
                          "missing or wrong X-CSRF-Token header (the token login returned)");
            return -1;
        }
    }
    return 0;
}

void tb__dispatch(tb__req *r)
{
    char allow[64];
    const tb__route *rt = tb__route_find(r->method, &r->tgt, r->params, allow, sizeof allow);
    if (!rt) {
        if (allow[0]) {
            tb__req_error(r, 405, NULL, "method %s is not allowed here (allowed: %s)", r->method,
                          allow);
            tb__req_header(r, MHD_HTTP_HEADER_ALLOW, allow);
        } else if ((strcmp(r->method, "GET") == 0 || strcmp(r->method, "HEAD") == 0) &&
                   !(r->tgt.nsegs > 0 && strcmp(r->tgt.segs[0], "api") == 0) &&
                   tb__static_serve(r)) {
            /* the web console (static.c): every path outside /api/ */
        } else
            tb__req_error(r, 404, NULL, "no such route");
        return;
    }
    r->route = rt;
    int mutating = strcmp(rt->method, "GET") != 0;
    if (!(rt->flags & TB__R_PUBLIC)) {
        if (authenticate(r, mutating) != 0) goto out;
        if (r->who.must_change_password && !r->who.via_token && !(rt->flags & TB__R_PWCHANGE)) {
            tb__req_error(r, 403, NULL,
                          "change the one-time password first (POST /api/v1/me/password)");
            goto out;
        }
        if (!(rt->flags & TB__R_ANY) && (r->who.perms & rt->perm) != rt->perm) {
            tb__req_error(r, 403, NULL, "role '%s' lacks the permission '%s'", r->who.role,
                          tb__perm_name((tb__perm)rt->perm) ? tb__perm_name((tb__perm)rt->perm)
                                                            : "?");
            tb__req_audit(r, NULL, "access.denied", rt->pattern, NULL, "denied");
            goto out;
        }
    }
    rt->fn(r);
out:
    tb__req_rdb_return(r);
}

/* GET /api/v1/routes: the table, for the console and for the test that holds it against
 * docs/openapi.yaml. */
void tb__api_routes(tb__req *r)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < tb__nroutes && arr; i++) {
        const tb__route *rt = &tb__routes[i];
        const char *perm = rt->flags & TB__R_PUBLIC ? "public"
                           : rt->flags & TB__R_ANY  ? "authenticated"
                                                    : tb__perm_name((tb__perm)rt->perm);
        json_array_append_new(arr, json_pack("{s:s, s:s, s:s, s:s}", "method", rt->method, "path",
                                             rt->pattern, "permission", perm ? perm : "?",
                                             "summary", rt->summary));
    }
    tb__req_json_value(r, 200, json_pack("{s:o}", "routes", arr ? arr : json_array()));
}

void tb__api_health(tb__req *r)
{
    tb__srv *s = r->srv;
    tb__req_json_value(r, 200,
                       json_pack("{s:b, s:s, s:i, s:b}", "ok", 1, "version", TB_VERSION_STRING,
                                 "in_flight", atomic_load(&s->inflight), "stopping",
                                 atomic_load(&s->stopping)));
}
