/* api_events.c — the event collector's HTTP edges (Segment /v1/..., Sensors /sa and /sa.gif) and
 * the management routes of event tracking (sources, tracking plan, real-time rules, status,
 * compaction, quarantine). Collection answers only once the batch is durable: the connection is
 * suspended while the event log's group commit runs, and resumed by its completion. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sodium.h>

#include "common/clock.h"
#include "events/collector.h"
#include "events/evmeta.h"
#include "server/srv_int.h"

/* A 1×1 transparent GIF, the answer to image beacons (Sensors' /sa.gif). */
static const unsigned char gif1x1[] = {
    0x47, 0x49, 0x46, 0x38, 0x39, 0x61, 0x01, 0x00, 0x01, 0x00, 0x80, 0x00, 0x00, 0x00, 0x00,
    0x00, 0xff, 0xff, 0xff, 0x21, 0xf9, 0x04, 0x01, 0x00, 0x00, 0x00, 0x00, 0x2c, 0x00, 0x00,
    0x00, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x02, 0x02, 0x44, 0x01, 0x00, 0x3b};

/* The user name of an HTTP Basic Authorization header (the write key), in the request pool. */
static const char *basic_user(tb__req *r)
{
    const char *h = tb__req_header_in(r, "Authorization");
    if (!h || strncasecmp(h, "Basic ", 6) != 0) return NULL;
    const char *b = h + 6;
    size_t n = strlen(b);
    unsigned char *out = tb__arena_alloc(&r->pool, n + 1);
    size_t len;
    if (!out || sodium_base642bin(out, n, b, n, " ", &len, NULL, sodium_base64_VARIANT_ORIGINAL))
        return NULL;
    out[len] = '\0';
    char *colon = memchr(out, ':', len);
    if (colon) *colon = '\0';
    return (const char *)out;
}

/* Renders a collector answer on the request (Segment: JSON; Sensors: JSON or the GIF). */
static void render(tb__req *r, const tb__col_result *res, int gif)
{
    if (res->status == 200 && gif) {
        r->resp =
            MHD_create_response_from_buffer(sizeof gif1x1, (void *)gif1x1, MHD_RESPMEM_PERSISTENT);
        r->status = 200;
        if (r->resp) {
            MHD_add_response_header(r->resp, MHD_HTTP_HEADER_CONTENT_TYPE, "image/gif");
            MHD_add_response_header(r->resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
        }
        r->bytes = sizeof gif1x1;
    } else if (res->status == 200) {
        json_t *j = json_pack("{s:b,s:I,s:I,s:I}", "success", 1, "accepted",
                              (json_int_t)res->accepted, "duplicates", (json_int_t)res->duplicates,
                              "quarantined", (json_int_t)res->quarantined);
        tb__req_json_value(r, 200, j);
    } else {
        tb__req_error(r, (unsigned)res->status, NULL, "%s", res->message);
        if (res->retry_after) {
            char ra[16];
            snprintf(ra, sizeof ra, "%d", res->retry_after);
            tb__req_header(r, MHD_HTTP_HEADER_RETRY_AFTER, ra);
        }
    }
    tb__req_header(r, "Access-Control-Allow-Origin", "*");
}

/* The log's committer thread: the batch is durable (or failed); answer and wake the connection. */
static void on_done(void *arg, const tb__col_result *res)
{
    tb__req *r = arg;
    render(r, res, r->col_gif);
    MHD_resume_connection(r->con);
}

static void collect(tb__req *r, tb__col_fmt fmt, const char *kind)
{
    tb__srv *s = r->srv;
    if (!s->col) {
        tb__req_error(r, 503, NULL, "event collection is not running on this server");
        tb__req_header(r, MHD_HTTP_HEADER_RETRY_AFTER, "30");
        return;
    }
    tb__col_input in = {.fmt = fmt,
                        .kind = kind,
                        .basic_user = basic_user(r),
                        .content_encoding = tb__req_header_in(r, "Content-Encoding"),
                        .body = r->body,
                        .body_len = r->body_len,
                        .now_ms = tb__now_ms()};
    if (fmt == TB__COL_SENSORS && strcmp(r->method, "GET") == 0) {
        const char *q = strchr(r->raw_target, '?');
        in.query = q ? q + 1 : "";
        in.body = NULL;
        in.body_len = 0;
    } else if (fmt == TB__COL_SENSORS) {
        const char *q = strchr(r->raw_target, '?'); /* a POST names its project in the URL */
        if (r->body_len == 0)
            in.query = q ? q + 1 : "";
        else
            in.url_query = q ? q + 1 : NULL;
    }
    /* Suspend first: the completion may come from the committer thread before submit returns. */
    MHD_suspend_connection(r->con);
    r->deferred = 1;
    tb__col_result res;
    if (tb__collector_submit(s->col, &in, on_done, r, &res) == 0) {
        render(r, &res, r->col_gif);
        MHD_resume_connection(r->con);
    }
}

void tb__api_collect_segment(tb__req *r)
{
    static const char *const kinds[] = {"track", "identify", "page",  "screen",
                                        "group", "alias",    "batch", "import"};
    const char *kind = r->params[0];
    size_t i = 0, n = sizeof kinds / sizeof kinds[0];
    while (i < n && strcmp(kinds[i], kind) != 0)
        i++;
    if (i == n) {
        tb__req_error(r, 404, NULL, "no collection endpoint /v1/%.40s", kind);
        return;
    }
    collect(r, TB__COL_SEGMENT, kind);
}

void tb__api_collect_sensors(tb__req *r)
{
    r->col_gif = r->tgt.nsegs == 1 && strcmp(r->tgt.segs[0], "sa.gif") == 0;
    collect(r, TB__COL_SENSORS, "sa");
}

/* ---- management ------------------------------------------------------------------------------ */

static int source_json(void *arg, const tb__ev_source *s)
{
    return json_array_append_new(arg, tb__ev_source_json(s));
}

void tb__api_events_sources(tb__req *r)
{
    tb_db *db = tb__req_rdb(r);
    json_t *a = json_array();
    int rc = tb__ev_source_list(db, source_json, a);
    if (rc) {
        json_decref(a);
        tb__req_engine_error(r, rc, db);
        return;
    }
    tb__req_json_value(r, 200, json_pack("{s:o}", "sources", a));
}

void tb__api_events_source_add(tb__req *r)
{
    const char *name, *project = NULL;
    if (tb__req_str(r, "name", 1, &name) || tb__req_str(r, "project", 0, &project)) return;
    char key[TB__EV_KEY_LEN + 1];
    tb_db *db = tb__srv_wlock(r->srv);
    int rc = tb__ev_source_add(db, name, project, r->who.name, key);
    if (rc) {
        tb__req_engine_error(r, rc, db);
        tb__srv_wunlock(r->srv);
        return;
    }
    tb__srv_wunlock(r->srv);
    tb__req_audit(r, &r->who, "events.source.add", name, NULL, "ok");
    tb__req_json_value(r, 201,
                       json_pack("{s:s,s:s,s:s}", "name", name, "project",
                                 project ? project : "default", "write_key", key));
    sodium_memzero(key, sizeof key);
}

void tb__api_events_source_revoke(tb__req *r)
{
    tb_db *db = tb__srv_wlock(r->srv);
    int rc = tb__ev_source_revoke(db, r->params[0]);
    if (rc) tb__req_engine_error(r, rc, db);
    tb__srv_wunlock(r->srv);
    if (rc) return;
    tb__req_audit(r, &r->who, "events.source.revoke", r->params[0], NULL, "ok");
    tb__req_json_value(r, 200, json_pack("{s:s,s:b}", "name", r->params[0], "revoked", 1));
}

void tb__api_events_plan(tb__req *r)
{
    tb_db *db = tb__req_rdb(r);
    long long v = 0;
    const char *vs = tb__req_query(r, "version");
    if (vs) v = atoll(vs);
    char *text;
    int got;
    int rc = tb__ev_plan_get(db, r->params[0], (int)v, &text, &got);
    if (rc) {
        tb__req_engine_error(r, rc, db);
        return;
    }
    json_t *versions = json_array();
    tb__ev_plan_versions(db, r->params[0], versions);
    json_t *plan = json_loads(text, 0, NULL);
    free(text);
    tb__req_json_value(r, 200,
                       json_pack("{s:s,s:i,s:o,s:o}", "source", r->params[0], "version", got,
                                 "plan", plan ? plan : json_null(), "versions", versions));
}

void tb__api_events_plan_put(tb__req *r)
{
    json_t *body = tb__req_body(r);
    if (!body) return;
    char *text = json_dumps(body, JSON_COMPACT);
    if (!text) {
        tb__req_error(r, 500, NULL, "out of memory");
        return;
    }
    int v = 0;
    tb_db *db = tb__srv_wlock(r->srv);
    int rc = tb__ev_plan_put(db, r->params[0], text, r->who.name, &v);
    free(text);
    if (rc) tb__req_engine_error(r, rc, db);
    tb__srv_wunlock(r->srv);
    if (rc) return;
    char detail[32];
    snprintf(detail, sizeof detail, "version %d", v);
    tb__req_audit(r, &r->who, "events.plan.put", r->params[0], detail, "ok");
    tb__req_json_value(r, 201, json_pack("{s:s,s:i}", "source", r->params[0], "version", v));
}

void tb__api_events_rules(tb__req *r)
{
    tb_db *db = tb__req_rdb(r);
    char *text;
    int v = 0;
    int rc = tb__ev_rules_get(db, &text, &v);
    if (rc == TB_ENOENT) {
        tb__req_json_value(r, 200, json_pack("{s:i,s:[]}", "version", 0, "rules"));
        return;
    }
    if (rc) {
        tb__req_engine_error(r, rc, db);
        return;
    }
    json_t *j = json_loads(text, 0, NULL);
    free(text);
    json_t *rules = json_object_get(j, "rules");
    tb__req_json_value(r, 200,
                       json_pack("{s:i,s:O}", "version", v, "rules", rules ? rules : json_array()));
    json_decref(j);
}

void tb__api_events_rules_put(tb__req *r)
{
    json_t *body = tb__req_body(r);
    if (!body) return;
    char *text = json_dumps(body, JSON_COMPACT);
    int v = 0;
    tb_db *db = tb__srv_wlock(r->srv);
    int rc = text ? tb__ev_rules_put(db, text, r->who.name, &v) : TB_ENOMEM;
    free(text);
    if (rc) tb__req_engine_error(r, rc, db);
    tb__srv_wunlock(r->srv);
    if (rc) return;
    tb__req_audit(r, &r->who, "events.rules.put", "realtime", NULL, "ok");
    /* Rules take effect when the collector next opens (restart); say so. */
    tb__req_json_value(
        r, 201,
        json_pack("{s:i,s:s}", "version", v, "effective", "at the next start of the server"));
}

void tb__api_events_status(tb__req *r)
{
    if (!r->srv->col) {
        tb__req_error(r, 503, NULL, "event collection is not running on this server");
        return;
    }
    char *text;
    if (tb__collector_status(r->srv->col, &text)) {
        tb__req_error(r, 500, NULL, "out of memory");
        return;
    }
    tb__req_json_take(r, 200, text);
}

void tb__api_events_compact(tb__req *r)
{
    if (!r->srv->col) {
        tb__req_error(r, 503, NULL, "event collection is not running on this server");
        return;
    }
    char *text;
    int rc = tb__collector_compact(r->srv->col, &text);
    if (rc) {
        tb__req_error(r, 500, NULL, "compaction failed (%s): see the server log", tb_strerror(rc));
        return;
    }
    tb__req_audit(r, &r->who, "events.compact", "events", NULL, "ok");
    tb__req_json_take(r, 200, text);
}

void tb__api_events_quarantine(tb__req *r)
{
    long long limit = 100;
    const char *ls = tb__req_query(r, "limit");
    if (ls) limit = atoll(ls);
    if (limit < 1 || limit > 10000) {
        tb__req_error(r, 400, "limit", "limit: expected 1 to 10000");
        return;
    }
    json_t *doc;
    if (tb__events_quarantine(tb__req_rdb(r), (size_t)limit, 1, &doc)) {
        tb__req_error(r, 500, NULL, "cannot read the event quarantine");
        return;
    }
    tb__req_json_value(r, 200, doc);
}
