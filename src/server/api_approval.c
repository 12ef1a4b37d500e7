/* api_approval.c — maker-checker approvals over HTTP: ask for one (a large or unmasked export, a
 * role change), list them, approve or reject one; and the abnormal-access alerts. Who may decide is
 * the library's rule (src/security/approval.c: a second person with the kind's checker
 * permissions); these handlers only parse, call and render. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "security/security.h"
#include "server/srv_int.h"

void tb__api_approvals_list(tb__req *r)
{
    const char *status = tb__req_query(r, "status");
    json_t *out = NULL;
    tb_db *db = tb__req_rdb(r);
    /* the users who may decide see every request; others their own */
    int decider = (r->who.perms & TB__P_USER_ADMIN) || (r->who.perms & TB__P_PII_CLEAR);
    int rc = tb__approval_list(db, status, decider ? NULL : r->who.name, 200, &out);
    if (rc) {
        tb__req_engine_error(r, rc, db);
        return;
    }
    tb__req_json_value(r, 200, out);
}

void tb__api_approval_request(tb__req *r)
{
    const char *kind;
    json_t *b = tb__req_body(r);
    if (!b || tb__req_str(r, "kind", 1, &kind)) return;
    json_t *payload = json_object_get(b, "payload");
    if (!json_is_object(payload)) {
        tb__req_error(r, 400, "payload", "'payload' must be an object saying what is asked");
        return;
    }
    char *text = json_dumps(payload, JSON_COMPACT | JSON_SORT_KEYS);
    if (!text) {
        tb__req_error(r, 500, NULL, "out of memory");
        return;
    }
    int64_t id = 0;
    tb_db *w = tb__srv_wlock(r->srv);
    int rc = tb__approval_request(w, &r->who, r->remote, kind, text, &id);
    if (rc) tb__req_engine_error(r, rc, w);
    tb__srv_wunlock(r->srv);
    free(text);
    if (rc) return;
    tb__req_json_value(
        r, 201,
        json_pack("{s:I, s:s, s:s}", "id", (json_int_t)id, "kind", kind, "status", "pending"));
}

static void decide(tb__req *r, int approve)
{
    char *end;
    long long id = strtoll(r->params[0], &end, 10);
    if (*end || id <= 0) {
        tb__req_error(r, 400, "id", "an approval id is a positive number");
        return;
    }
    const char *comment = NULL;
    json_t *b = tb__req_body(r);
    if (!b || tb__req_str(r, "comment", !approve, &comment)) return;
    tb_db *w = tb__srv_wlock(r->srv);
    int rc = tb__approval_decide(w, &r->who, r->remote, id, approve, comment);
    if (rc) tb__req_engine_error(r, rc, w);
    tb__srv_wunlock(r->srv);
    if (rc) return;
    tb__req_json_value(
        r, 200,
        json_pack("{s:I, s:s}", "id", (json_int_t)id, "status", approve ? "approved" : "rejected"));
}

void tb__api_approval_approve(tb__req *r)
{
    decide(r, 1);
}

void tb__api_approval_reject(tb__req *r)
{
    decide(r, 0);
}

/* The approval an export needs, checked and used: 0 to go ahead; otherwise the answer (403) is
 * already set. `fields` is the comma-separated list the export writes. */
int tb__export_approved(tb__req *r, const char *segment, const char *fields, uint64_t rows,
                        int unmasked)
{
    const char *kind = NULL;
    tb_db *db = tb__req_rdb(r);
    int rc = tb__approval_export_kind(db, rows, unmasked, &kind);
    if (rc) {
        tb__req_engine_error(r, rc, db);
        return rc;
    }
    if (!kind) return 0;
    json_t *b = tb__req_body(r);
    json_t *jid = b ? json_object_get(b, "approval") : NULL;
    if (!json_is_integer(jid)) {
        tb__req_error(r, 403, "approval",
                      "this export (%llu customers%s) needs an approved '%s' request: ask with "
                      "POST /api/v1/approvals {\"kind\":\"%s\",\"payload\":{\"segment\":...%s}}; a "
                      "second person approves it; then export again with \"approval\": ID",
                      (unsigned long long)rows, unmasked ? ", unmasked" : "", kind, kind,
                      unmasked ? ",\"fields\":[...]" : "");
        tb__req_audit(r, NULL, "segment.export", segment, "{\"approval\":\"missing\"}", "denied");
        return TB_EPERM;
    }
    /* The request's own payload is what was approved: it must name this segment (and, unmasked,
     * exactly these fields); then it is used up. */
    json_t *a = NULL;
    tb_db *w = tb__srv_wlock(r->srv);
    rc = tb__approval_get(w, json_integer_value(jid), &a);
    json_t *p = json_object_get(a, "payload");
    const char *seg = json_string_value(json_object_get(p, "segment"));
    int same = seg && strcmp(seg, segment) == 0;
    if (!rc && same && unmasked) {
        json_t *f = json_object_get(p, "fields");
        tb__buf want = TB__BUF_INIT;
        size_t i;
        json_t *v;
        json_array_foreach(f, i, v)
            tb__buf_printf(&want, "%s%s", i ? "," : "", json_string_value(v));
        same = want.data && fields && strcmp(want.data, fields) == 0;
        tb__buf_release(&want);
    }
    char *text = p ? json_dumps(p, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    if (!rc && !same) {
        rc = TB_EPERM;
        tb__req_error(r, 403, "approval", "approval %lld is not for this export (segment%s differ)",
                      (long long)json_integer_value(jid), unmasked ? " or fields" : "");
    } else if (!rc) {
        rc = tb__approval_consume(w, json_integer_value(jid), &r->who, r->remote, kind,
                                  text ? text : "{}");
        if (rc) tb__req_engine_error(r, rc, w);
    } else
        tb__req_engine_error(r, rc, w);
    tb__srv_wunlock(r->srv);
    free(text);
    json_decref(a);
    return rc;
}

/* Abnormal access: the alerts raised (and who is blocked), and clearing a user. */
void tb__api_alerts_list(tb__req *r)
{
    json_t *out = NULL;
    tb_db *db = tb__req_rdb(r);
    int rc = tb__alert_list(db, 200, &out);
    if (rc) {
        tb__req_engine_error(r, rc, db);
        return;
    }
    tb__req_json_value(r, 200, out);
}

void tb__api_alert_clear(tb__req *r)
{
    tb_db *w = tb__srv_wlock(r->srv);
    int rc = tb__user_unblock(w, &r->who, r->remote, r->params[0]);
    if (rc) tb__req_engine_error(r, rc, w);
    tb__srv_wunlock(r->srv);
    if (rc) return;
    tb__req_json_value(r, 200, json_pack("{s:s, s:b}", "user", r->params[0], "blocked", 0));
}
