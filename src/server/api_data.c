/* api_data.c — handlers of the pipeline (status, check), the 360-degree view and lineage, and
 * the tag centre (catalog, lifecycle, builds). Thin: each calls the one library function the
 * command line calls for the same thing. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/srv_int.h"

/* Answers an engine call's result: 200 with its JSON, or the error. */
static void answer(tb__req *r, int rc, tb_db *db, char *json)
{
    if (rc)
        tb__req_engine_error(r, rc, db);
    else
        tb__req_json_take(r, 200, json);
}

/* `?unmasked=true|1`: personal fields in clear, only with the permission to see them (403
 * otherwise, audited). 0 or 1, or -1 after answering. */
static int want_unmasked(tb__req *r)
{
    const char *u = tb__req_query(r, "unmasked");
    if (!u || !*u || strcmp(u, "false") == 0 || strcmp(u, "0") == 0) return 0;
    if (strcmp(u, "true") != 0 && strcmp(u, "1") != 0) {
        tb__req_error(r, 400, "unmasked", "'unmasked' takes true or false");
        return -1;
    }
    if (!(r->who.perms & TB__P_PII_CLEAR)) {
        tb__req_error(r, 403, "unmasked", "role '%s' may not see personal fields unmasked",
                      r->who.role);
        tb__req_audit(r, NULL, "pii.read", r->route->pattern, NULL, "denied");
        return -1;
    }
    return 1;
}

void tb__api_pipeline_status(tb__req *r)
{
    const char *batch;
    if (tb__req_date(r, "batch", &batch)) return;
    char *json = NULL;
    tb_db *db = tb__req_rdb(r);
    int rc = tb_pipeline_status(db, batch, &json);
    answer(r, rc, db, json);
}

void tb__api_check(tb__req *r)
{
    char *json = NULL;
    tb_db *db = tb__req_rdb(r);
    int rc = tb_check(db, &json);
    answer(r, rc, db, json);
}

/* The gid of a 360 answer ("" when absent): the audit names the customer by it, never by the
 * ID number or mobile the caller may have searched with. */
static void gid_of(const char *json, char *out, size_t cap)
{
    /* The engine writes the view's gid first ({"gid":N,...}): read it without parsing the whole
     * answer (tens of kilobytes); anything else falls back to the parser. */
    long long g;
    char end;
    if (sscanf(json, "{\"gid\":%lld%c", &g, &end) == 2 && (end == ',' || end == '}')) {
        snprintf(out, cap, "%lld", g);
        return;
    }
    json_t *doc = json_loads(json, 0, NULL);
    json_t *v = json_object_get(doc, "gid");
    if (json_is_integer(v))
        snprintf(out, cap, "%lld", (long long)json_integer_value(v));
    else if (json_is_string(v))
        snprintf(out, cap, "%s", json_string_value(v));
    else
        snprintf(out, cap, "?");
    json_decref(doc);
}

void tb__api_customer_360(tb__req *r)
{
    const char *as_of;
    if (tb__req_date(r, "as_of", &as_of)) return;
    int unmasked = want_unmasked(r);
    if (unmasked < 0) return;
    tb_seg_opts so;
    tb__req_seg_opts(r, &so, as_of, unmasked);
    char *json = NULL;
    tb_db *db = tb__req_rdb(r);
    int rc = tb_customer_360(db, r->params[0], &so, &json);
    if (rc) {
        tb__req_engine_error(r, rc, db);
        return;
    }
    /* no answer leaves without its audit record */
    char gid[64], detail[96];
    gid_of(json, gid, sizeof gid);
    snprintf(detail, sizeof detail, "{\"unmasked\":%s,\"as_of\":\"%s\"}",
             unmasked ? "true" : "false", as_of ? as_of : "");
    /* counted too: over the configured rate the user is blocked and nothing is shown */
    int arc = tb__req_audit_access(r, "view360", "customer.view", gid, detail);
    if (!arc && unmasked) arc = tb__req_audit_access(r, "pii_read", "pii.read", gid, detail);
    if (arc) {
        free(json);
        if (arc == TB_EPERM)
            tb__req_error(r, 403, NULL,
                          "user '%s' is blocked for unusual access; an administrator must clear it",
                          r->who.name);
        else
            tb__req_error(r, 500, NULL, "cannot write the audit record: nothing is shown");
        return;
    }
    tb__req_json_take(r, 200, json);
}

/* Lineage has no scope of its own in the engine: the customer is first looked up through the
 * scoped 360 view (404 outside the scope), and then explained by the gid that view found. */
void tb__api_customer_lineage(tb__req *r)
{
    const char *as_of, *attr = tb__req_query(r, "attribute");
    if (tb__req_date(r, "batch", &as_of)) return;
    if (attr && !*attr) attr = NULL;
    tb_seg_opts so;
    tb__req_seg_opts(r, &so, NULL, 0);
    char *view = NULL, *json = NULL, gid[64];
    tb_db *db = tb__req_rdb(r);
    int rc = tb_customer_360(db, r->params[0], &so, &view);
    if (rc) {
        tb__req_engine_error(r, rc, db);
        return;
    }
    gid_of(view, gid, sizeof gid);
    free(view);
    rc = tb_explain(db, gid, attr, as_of, &json);
    if (rc) {
        tb__req_engine_error(r, rc, db);
        return;
    }
    if (tb__req_audit(r, NULL, "customer.lineage", gid, NULL, "ok")) {
        free(json);
        tb__req_error(r, 500, NULL, "cannot write the audit record: nothing is shown");
        return;
    }
    tb__req_json_take(r, 200, json);
}

void tb__api_tags_list(tb__req *r)
{
    tb_tag_filter f = {0};
    f.theme = tb__req_query(r, "theme");
    f.status = tb__req_query(r, "status");
    f.search = tb__req_query(r, "search");
    const char *u = tb__req_query(r, "unused");
    f.unused = u && (strcmp(u, "true") == 0 || strcmp(u, "1") == 0);
    char *json = NULL;
    tb_db *db = tb__req_rdb(r);
    int rc = tb_tag_list(db, &f, &json);
    answer(r, rc, db, json);
}

void tb__api_tags_tree(tb__req *r)
{
    char *json = NULL;
    tb_db *db = tb__req_rdb(r);
    int rc = tb_tag_tree(db, &json);
    answer(r, rc, db, json);
}

void tb__api_tag_show(tb__req *r)
{
    const char *v = tb__req_query(r, "version");
    int version = 0;
    if (v && *v) {
        char *end;
        long n = strtol(v, &end, 10);
        if (*end || n < 1 || n > 1000000) {
            tb__req_error(r, 400, "version", "'version' takes a version number");
            return;
        }
        version = (int)n;
    }
    char *json = NULL;
    tb_db *db = tb__req_rdb(r);
    int rc = tb_tag_show(db, r->params[0], version, &json);
    answer(r, rc, db, json);
}

void tb__api_tag_history(tb__req *r)
{
    char *json = NULL;
    tb_db *db = tb__req_rdb(r);
    int rc = tb_tag_history(db, r->params[0], &json);
    answer(r, rc, db, json);
}

typedef int (*lifecycle_fn)(tb_db *, const char *, const char *, const char *, char **);

/* A lifecycle step on one tag by the principal, through the writable handle, audited. */
static void lifecycle(tb__req *r, lifecycle_fn fn, const char *action)
{
    const char *comment;
    if (tb__req_str(r, "comment", 0, &comment)) return;
    char *json = NULL;
    tb_db *w = tb__srv_wlock(r->srv);
    int rc = fn(w, r->params[0], r->who.name, comment, &json);
    if (rc) {
        tb__req_engine_error(r, rc, w);
        tb__audit(w, &r->who, r->remote, action, r->params[0], NULL,
                  rc == TB_EPERM ? "denied" : "failed");
    } else
        tb__audit(w, &r->who, r->remote, action, r->params[0], NULL, "ok");
    tb__srv_wunlock(r->srv);
    if (!rc) tb__req_json_take(r, 200, json);
}

void tb__api_tag_submit(tb__req *r)
{
    lifecycle(r, tb_tag_submit, "tag.submit");
}

void tb__api_tag_approve(tb__req *r)
{
    lifecycle(r, tb_tag_approve, "tag.approve");
}

void tb__api_tag_reject(tb__req *r)
{
    lifecycle(r, tb_tag_reject, "tag.reject");
}

void tb__api_tag_offline(tb__req *r)
{
    lifecycle(r, tb_tag_offline, "tag.offline");
}

/* A build holds the writable handle for its whole run (seconds at a million customers): other
 * writes and audit records wait for it. docs/server.md says so. */
void tb__api_tag_build(tb__req *r)
{
    const char *batch;
    if (tb__req_str(r, "batch", 0, &batch)) return;
    if (batch && (strlen(batch) != 8 || strspn(batch, "0123456789") != 8)) {
        tb__req_error(r, 400, "batch", "'batch' takes a batch date YYYYMMDD");
        return;
    }
    char *json = NULL, detail[64];
    snprintf(detail, sizeof detail, "{\"batch\":\"%s\"}", batch ? batch : "");
    tb_db *w = tb__srv_wlock(r->srv);
    int rc = tb_tag_build(w, batch, 0, &json);
    if (rc) tb__req_engine_error(r, rc, w);
    tb__audit(w, &r->who, r->remote, "tag.build", batch ? batch : "newest", detail,
              rc ? "failed" : "ok");
    tb__srv_wunlock(r->srv);
    if (!rc) tb__req_json_take(r, 200, json);
}

/* A pipeline load of a server-side path (a batch directory, manifest.json or one extract file).
 * It holds the writable handle for the whole load. A load that rejected some files commits the
 * others: then the answer is 400 with the engine's message and the summary (error.summary). */
void tb__api_pipeline_load(tb__req *r)
{
    const char *path, *btype, *kind, *enc;
    long long batch = 0;
    if (tb__req_str(r, "path", 1, &path) || tb__req_str(r, "business_type", 0, &btype) ||
        tb__req_str(r, "kind", 0, &kind) || tb__req_str(r, "encoding", 0, &enc) ||
        tb__req_int(r, "batch_date", 20000101, 21991231, &batch))
        return;
    if (path[0] != '/') {
        tb__req_error(r, 400, "path", "'path' must be an absolute path on the server");
        return;
    }
    tb_load_opts lo = {0};
    lo.inputs = &path;
    lo.ninputs = 1;
    lo.business_type = btype;
    lo.kind = kind;
    lo.encoding = enc;
    lo.batch_date = (int)batch;
    char *json = NULL;
    tb_db *w = tb__srv_wlock(r->srv);
    int rc = tb_load(w, &lo, &json);
    if (rc) tb__req_engine_error(r, rc, w);
    tb__audit(w, &r->who, r->remote, "pipeline.load", path, NULL,
              rc == 0            ? "ok"
              : rc == TB_EFORMAT ? "partial"
                                 : "failed");
    tb__srv_wunlock(r->srv);
    if (!rc) {
        tb__req_json_take(r, 200, json);
        return;
    }
    if (rc == TB_EFORMAT && json) {
        /* the error answer carries the summary of what was committed */
        json_t *sum = json_loads(json, 0, NULL);
        json_t *err = json_object();
        json_t *e = json_pack("{s:s, s:s, s:o?}", "code", "bad_request", "message",
                              "some files were rejected; the others were loaded", "summary", sum);
        if (err && e) json_object_set_new(err, "error", e);
        tb__req_json_value(r, 400, err);
    }
    free(json);
}

/* The gid of customer `id` as the caller may see it (the 360 view's look-up, scoped): 0, or the
 * answer (404 outside the scope) is set. */
static int scoped_gid(tb__req *r, uint32_t *gid)
{
    tb_seg_opts so;
    tb__req_seg_opts(r, &so, NULL, 0);
    char *view = NULL, g[64];
    tb_db *db = tb__req_rdb(r);
    int rc = tb_customer_360(db, r->params[0], &so, &view);
    if (rc) {
        tb__req_engine_error(r, rc, db);
        return rc;
    }
    gid_of(view, g, sizeof g);
    free(view);
    char *end;
    unsigned long long v = strtoull(g, &end, 10);
    if (*end || !g[0] || v > UINT32_MAX) {
        tb__req_error(r, 500, NULL, "cannot read the customer's id");
        return TB_ERR;
    }
    *gid = (uint32_t)v;
    return 0;
}

/* PIPL consent of one customer: every purpose and channel decided, with history. */
void tb__api_customer_consent(tb__req *r)
{
    uint32_t gid;
    if (scoped_gid(r, &gid)) return;
    json_t *out = NULL;
    tb_db *db = tb__req_rdb(r);
    int rc = tb__consent_show(db, gid, &out);
    if (rc) {
        tb__req_engine_error(r, rc, db);
        return;
    }
    char g[32];
    snprintf(g, sizeof g, "gid:%u", gid);
    if (tb__req_audit(r, NULL, "consent.read", g, NULL, "ok")) {
        json_decref(out);
        tb__req_error(r, 500, NULL, "cannot write the audit record: nothing is shown");
        return;
    }
    tb__req_json_value(r, 200, out);
}

/* Records a grant or a withdrawal (audited by the consent ledger itself). */
void tb__api_customer_consent_set(tb__req *r)
{
    const char *purpose, *channel, *source;
    int grant = 0;
    json_t *b = tb__req_body(r);
    if (!b || tb__req_str(r, "purpose", 1, &purpose) || tb__req_str(r, "channel", 1, &channel) ||
        tb__req_str(r, "source", 0, &source) || tb__req_bool(r, "grant", &grant))
        return;
    if (!json_is_boolean(json_object_get(b, "grant"))) {
        tb__req_error(r, 400, "grant", "'grant' must be true (grant) or false (withdraw)");
        return;
    }
    uint32_t gid;
    if (scoped_gid(r, &gid)) return;
    tb_db *w = tb__srv_wlock(r->srv);
    int rc = tb__consent_set(w, &r->who, r->remote, gid, purpose, channel, grant,
                             source ? source : "api");
    if (rc) tb__req_engine_error(r, rc, w);
    tb__srv_wunlock(r->srv);
    if (rc) return;
    tb__req_json_value(
        r, 200,
        json_pack("{s:s, s:s, s:b}", "purpose", purpose, "channel", channel, "granted", grant));
}
