/* request.c — what every handler shares: answers (JSON and JSON errors), the pieces of a request
 * (body members, query parameters, headers), the data directory's handles, the principal's scope
 * and audit records. */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "security/security.h"
#include "server/srv_int.h"
#include "store/meta.h"

/* The error code of each status (the "code" member of an error answer). */
static const char *status_code(unsigned status)
{
    switch (status) {
    case 400:
        return "bad_request";
    case 401:
        return "unauthorized";
    case 403:
        return "forbidden";
    case 404:
        return "not_found";
    case 405:
        return "method_not_allowed";
    case 409:
        return "conflict";
    case 413:
        return "too_large";
    case 414:
        return "too_large";
    case 429:
        return "too_many_requests";
    case 503:
        return "unavailable";
    default:
        return "internal";
    }
}

/* Sets the answer, replacing one set before (a handler answers once; the dispatcher may replace
 * an answer when a later step fails, e.g. the audit record). */
static void set_answer(tb__req *r, unsigned status, struct MHD_Response *resp)
{
    if (r->resp) MHD_destroy_response(r->resp);
    r->resp = resp;
    r->status = status;
    if (!resp) return;
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
}

void tb__req_json_take(tb__req *r, unsigned status, char *text)
{
    if (!text) {
        tb__req_error(r, 500, NULL, "out of memory");
        return;
    }
    size_t n = strlen(text);
    struct MHD_Response *resp = MHD_create_response_from_buffer(n, text, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        free(text);
        set_answer(r, 500, NULL);
        return;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json; charset=utf-8");
    set_answer(r, status, resp);
    r->bytes = n;
}

void tb__req_json_copy(tb__req *r, unsigned status, const char *text)
{
    tb__req_json_take(r, status, strdup(text));
}

void tb__req_json_value(tb__req *r, unsigned status, json_t *v)
{
    char *text = v ? json_dumps(v, JSON_COMPACT) : NULL;
    json_decref(v);
    tb__req_json_take(r, status, text);
}

void tb__req_error(tb__req *r, unsigned status, const char *field, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    json_t *e = json_pack("{s:s, s:s}", "code", status_code(status), "message", msg);
    /* an engine message cut inside a UTF-8 character makes json_string fail: say less then */
    if (!e) e = json_pack("{s:s, s:s}", "code", status_code(status), "message", "error");
    if (e && field) json_object_set_new(e, "field", json_string(field));
    tb__req_json_value(r, status, json_pack("{s:o}", "error", e));
}

void tb__req_engine_error(tb__req *r, int rc, tb_db *db)
{
    const char *msg = db ? tb_errmsg(db) : "";
    if (!msg || !*msg) msg = tb_strerror(rc);
    unsigned status;
    switch (rc) {
    case TB_EFORMAT:
    case TB_EINVAL:
    case TB_ERANGE:
    case TB_ENOTSUP:
        status = 400;
        break;
    case TB_ENOENT:
        status = 404;
        break;
    case TB_EEXIST:
        status = 409;
        break;
    case TB_EPERM:
        status = 403;
        break;
    case TB_ELIMIT:
        status = 413;
        break;
    case TB_EBUSY:
        status = 503;
        break;
    default:
        status = 500;
    }
    if (status == 500) {
        tb__log_error("server", "%s %s: %s: %s", r->method, r->route ? r->route->pattern : "-",
                      tb_strerror(rc), msg);
        tb__req_error(r, 500, NULL, "internal error (%s); the server log has the detail",
                      tb_strerror(rc));
        return;
    }
    tb__req_error(r, status, NULL, "%s", msg);
}

void tb__req_header(tb__req *r, const char *name, const char *value)
{
    if (r->resp) MHD_add_response_header(r->resp, name, value);
}

json_t *tb__req_body(tb__req *r)
{
    if (r->json) return r->json;
    char err[256];
    int rc = tb__http_json_body(r->body ? r->body : "", r->body_len, &r->json, err, sizeof err);
    if (rc == TB_ENOMEM) {
        tb__req_error(r, 500, NULL, "out of memory");
        return NULL;
    }
    if (rc) {
        tb__req_error(r, 400, NULL, "%s", err);
        return NULL;
    }
    return r->json;
}

int tb__req_str(tb__req *r, const char *key, int required, const char **out)
{
    *out = NULL;
    json_t *b = tb__req_body(r);
    if (!b) return -1;
    json_t *v = json_object_get(b, key);
    if (!v || json_is_null(v)) {
        if (!required) return 0;
        tb__req_error(r, 400, key, "'%s' is required", key);
        return -1;
    }
    if (!json_is_string(v)) {
        tb__req_error(r, 400, key, "'%s' must be a string", key);
        return -1;
    }
    if (required && json_string_length(v) == 0) {
        tb__req_error(r, 400, key, "'%s' must not be empty", key);
        return -1;
    }
    *out = json_string_value(v);
    return 0;
}

int tb__req_bool(tb__req *r, const char *key, int *out)
{
    *out = 0;
    json_t *b = tb__req_body(r);
    if (!b) return -1;
    json_t *v = json_object_get(b, key);
    if (!v || json_is_null(v)) return 0;
    if (!json_is_boolean(v)) {
        tb__req_error(r, 400, key, "'%s' must be true or false", key);
        return -1;
    }
    *out = json_is_true(v);
    return 0;
}

int tb__req_int(tb__req *r, const char *key, long long min, long long max, long long *out)
{
    json_t *b = tb__req_body(r);
    if (!b) return -1;
    json_t *v = json_object_get(b, key);
    if (!v || json_is_null(v)) return 0;
    if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max) {
        tb__req_error(r, 400, key, "'%s' must be an integer from %lld to %lld", key, min, max);
        return -1;
    }
    *out = json_integer_value(v);
    return 0;
}

const char *tb__req_query(tb__req *r, const char *key)
{
    return tb__http_query(&r->tgt, key);
}

int tb__req_date(tb__req *r, const char *key, const char **out)
{
    const char *v = tb__req_query(r, key);
    *out = NULL;
    if (!v || !*v) return 0;
    if (strlen(v) != 8 || strspn(v, "0123456789") != 8) {
        tb__req_error(r, 400, key, "'%s' takes a batch date YYYYMMDD", key);
        return -1;
    }
    *out = v;
    return 0;
}

const char *tb__req_header_in(tb__req *r, const char *name)
{
    return MHD_lookup_connection_value(r->con, MHD_HEADER_KIND, name);
}

/* Handles are lent, never shared: a worker thread runs one handler at a time, so with as many
 * read-only handles as worker threads the wait below never happens in practice. */
tb_db *tb__req_rdb(tb__req *r)
{
    if (r->rdb) return r->rdb;
    tb__srv *s = r->srv;
    pthread_mutex_lock(&s->rlock);
    while (s->rfree == 0)
        pthread_cond_wait(&s->rcond, &s->rlock);
    r->rdb = s->rdb[--s->rfree];
    pthread_mutex_unlock(&s->rlock);
    return r->rdb;
}

void tb__req_rdb_return(tb__req *r)
{
    if (!r->rdb) return;
    tb__srv *s = r->srv;
    pthread_mutex_lock(&s->rlock);
    s->rdb[s->rfree++] = r->rdb;
    pthread_cond_signal(&s->rcond);
    pthread_mutex_unlock(&s->rlock);
    r->rdb = NULL;
}

tb_db *tb__srv_wlock(tb__srv *s)
{
    pthread_mutex_lock(&s->wlock);
    return s->wdb;
}

void tb__srv_wunlock(tb__srv *s)
{
    pthread_mutex_unlock(&s->wlock);
}

void tb__req_seg_opts(tb__req *r, tb_seg_opts *so, const char *as_of, int unmasked)
{
    memset(so, 0, sizeof *so);
    so->as_of = as_of;
    so->threads = 1; /* parallelism comes from concurrent requests */
    so->scope = r->who.scope == TB__SCOPE_ORG       ? TB_SCOPE_ORG
                : r->who.scope == TB__SCOPE_MANAGER ? TB_SCOPE_MANAGER
                                                    : TB_SCOPE_ALL;
    so->scope_id = so->scope == TB_SCOPE_ALL ? NULL : r->who.scope_id;
    so->unmasked = unmasked;
}

/* Audit records are written with group commit: a request queues its record and waits; the first
 * waiter to find no flush under way becomes the leader, takes every queued record, and writes them
 * all in one transaction (one fsync) through the writable handle, then wakes the others. Each
 * request still returns only once its record is durable, and the chain stays in queue order; under
 * load one commit carries many records instead of one each (bench/RESULTS.md, "Server"). */
typedef struct pending {
    tb__principal who;
    char *remote, *action, *object, *detail, *outcome;
    const char *access; /* an access to count first (tb__access_note), or NULL */
    int rc;
    int done;
    struct pending *next;
} pending;

static pthread_mutex_t g_qmu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_qcond = PTHREAD_COND_INITIALIZER;
static pending *g_head, **g_tail = &g_head;
static int g_flushing;

static void flush(tb__srv *s, pending *batch)
{
    tb_db *w = tb__srv_wlock(s);
    int rc = tb__meta_begin(w);
    for (pending *p = batch; !rc && p; p = p->next) {
        int blocked = 0;
        if (p->access) {
            int ra = tb__access_note(w, &p->who, p->remote, p->access);
            if (ra == TB_EPERM)
                blocked = 1;
            else if (ra)
                tb__log_error("server", "cannot count an access of '%s': %s", p->access,
                              tb_errmsg(w));
        }
        p->rc = tb__audit(w, &p->who, p->remote, p->action, p->object, p->detail,
                          blocked ? "denied" : p->outcome);
        if (blocked && !p->rc) p->rc = TB_EPERM;
        if (p->rc) /* a bad record (it never is: built here) must not cost the others theirs */
            tb__log_error("server", "cannot write the audit record '%s': %s", p->action,
                          tb_errmsg(w));
    }
    if (!rc)
        rc = tb__meta_commit(w);
    else
        tb__meta_rollback(w);
    if (rc) tb__log_error("server", "cannot commit audit records: %s", tb_errmsg(w));
    tb__srv_wunlock(s);
    pthread_mutex_lock(&g_qmu);
    for (pending *p = batch; p; p = p->next) {
        if (rc) p->rc = rc;
        p->done = 1;
    }
    pthread_mutex_unlock(&g_qmu);
}

static int queue_and_wait(tb__req *r, const tb__principal *who, const char *access,
                          const char *action, const char *object, const char *detail,
                          const char *outcome)
{
    pending me = {*(who ? who : &r->who), NULL, NULL, NULL, NULL, NULL, access, 0, 0, NULL};
    me.remote = r->remote;
    me.action = (char *)action;
    me.object = (char *)object;
    me.detail = (char *)detail;
    me.outcome = (char *)outcome;
    pthread_mutex_lock(&g_qmu);
    *g_tail = &me;
    g_tail = &me.next;
    while (!me.done) {
        if (!g_flushing) {
            g_flushing = 1;
            pending *batch = g_head;
            g_head = NULL;
            g_tail = &g_head;
            pthread_mutex_unlock(&g_qmu);
            flush(r->srv, batch);
            pthread_mutex_lock(&g_qmu);
            g_flushing = 0;
            pthread_cond_broadcast(&g_qcond);
        } else {
            pthread_cond_wait(&g_qcond, &g_qmu);
        }
    }
    pthread_mutex_unlock(&g_qmu);
    return me.rc;
}

int tb__req_audit(tb__req *r, const tb__principal *who, const char *action, const char *object,
                  const char *detail, const char *outcome)
{
    return queue_and_wait(r, who, NULL, action, object, detail, outcome);
}

int tb__req_audit_access(tb__req *r, const char *access, const char *action, const char *object,
                         const char *detail)
{
    return queue_and_wait(r, NULL, access, action, object, detail, "ok");
}

json_t *tb__principal_json(const tb__principal *p)
{
    json_t *perms = json_array();
    for (unsigned bit = 1; bit < TB__P_ALL; bit <<= 1)
        if ((p->perms & bit) && tb__perm_name((tb__perm)bit))
            json_array_append_new(perms, json_string(tb__perm_name((tb__perm)bit)));
    const char *kind = p->scope == TB__SCOPE_ORG       ? "org"
                       : p->scope == TB__SCOPE_MANAGER ? "manager"
                                                       : "all";
    return json_pack("{s:s, s:s, s:o, s:{s:s, s:s?}, s:b, s:b}", "name", p->name, "role", p->role,
                     "permissions", perms ? perms : json_array(), "scope", "kind", kind, "id",
                     p->scope == TB__SCOPE_ALL ? NULL : p->scope_id, "must_change_password",
                     p->must_change_password, "via_token", p->via_token);
}
