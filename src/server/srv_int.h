/* srv_int.h — the server's private interface: the server state, one request, the route table and
 * the helpers every handler (api_*.c) shares. Handlers are thin: parse, authorise, call the
 * library (tagbase.h, security.h), render. */
#ifndef TB_SERVER_SRV_INT_H
#define TB_SERVER_SRV_INT_H

#include <jansson.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>

#include "common/arena.h"
#include "security/security.h"
#include "server/http.h"
#include "server/server.h"
#include "tagbase.h"

/* The running server. One per process; handlers reach it through their request. */
typedef struct tb__srv {
    tb__srv_opts o; /* with defaults filled in */
    int tls;        /* 1 when serving HTTPS */
    struct MHD_Daemon *daemon;
    tb_db *wdb; /* the one writable handle: writes and audit, under wlock */
    pthread_mutex_t wlock;
    tb_db **rdb;     /* read-only handles, one per worker thread, lent under rlock */
    int nrdb, rfree; /* rdb[0, rfree) are free */
    pthread_mutex_t rlock;
    pthread_cond_t rcond;
    atomic_int inflight;       /* requests between their request line and their completion */
    atomic_int stopping;       /* 1 once shutdown began */
    int webfd;                 /* the web console's directory (static.c), or -1: not served */
    struct tb__collector *col; /* event collection (api_events.c), or NULL when it failed to open */
    tb_db *coldb;              /* the collector's own read-only handle (used under its lock) */
    pthread_t compactor;       /* compacts the event log every o.compact_s seconds */
    int compactor_on;
    pthread_mutex_t stoplock;
    pthread_cond_t stopcond;
} tb__srv;

typedef struct tb__route tb__route;

/* One request, from its request line until its response was sent; everything it allocates comes
 * from `pool` (freed in one call when the response ends) except the body buffer. */
typedef struct tb__req {
    tb__srv *srv;
    struct MHD_Connection *con;
    tb__arena pool;
    struct timespec t0;
    const char *method; /* borrowed from libmicrohttpd for the request's life */
    char *raw_target;   /* in pool */
    tb__target tgt;     /* decoded path and query */
    int tgt_rc;         /* 0, or why the target was refused */
    const char *tgt_why;
    const tb__route *route;
    const char *params[2]; /* path parameters of the route, in order */
    char remote[64];       /* client address, text */
    int started;           /* the access handler has seen the headers */
    char *body;            /* malloc'd, max_body bytes at most */
    size_t body_len, body_cap;
    uint64_t body_seen; /* bytes received, kept or not */
    int body_too_big;
    json_t *json;      /* the parsed body, once asked for */
    tb__principal who; /* valid when authed */
    int authed;
    const char *sid; /* the session cookie when authenticated by it (in pool) */
    tb_db *rdb;      /* a read-only handle lent to this request, or NULL */
    /* the answer */
    struct MHD_Response *resp;
    unsigned status;
    uint64_t bytes;
    int deferred; /* suspended until the event log made the batch durable (api_events.c) */
    int col_gif;  /* answer a Sensors image beacon with the 1x1 GIF */
} tb__req;

/* Route flags. */
enum {
    TB__R_PUBLIC = 1 << 0,  /* no authentication */
    TB__R_ANY = 1 << 1,     /* any authenticated principal (no permission needed) */
    TB__R_PWCHANGE = 1 << 2 /* allowed while the password must still be changed */
};

/* A handler answers through tb__req_* helpers (one answer per request) and returns nothing. */
typedef void (*tb__handler)(tb__req *r);

struct tb__route {
    const char *method;  /* "GET", "POST", "DELETE" */
    const char *pattern; /* "/api/v1/segments/{name}/diff" */
    unsigned perm;       /* tb__perm bits all needed */
    unsigned flags;      /* TB__R_* */
    tb__handler fn;
    const char *summary;
};

/* The route table (routes.c) and its lookup: the route for method and target, or NULL with
 * *allow set to a comma-separated list of the methods the path has (405) or "" (404). HEAD is
 * served as GET. */
extern const tb__route tb__routes[];
extern const size_t tb__nroutes;
const tb__route *tb__route_find(const char *method, const tb__target *t, const char **params,
                                char *allow, size_t allowlen);

/* Runs the request: route, authenticate, authorise, call the handler; sets r->resp/status. */
void tb__dispatch(tb__req *r);

/* ---- answers (http helpers in server.c) ---- */

/* Answers `status` with a JSON text: _take frees `text` with free() after sending; _copy copies.
 */
void tb__req_json_take(tb__req *r, unsigned status, char *text);
void tb__req_json_copy(tb__req *r, unsigned status, const char *text);
/* Answers with a jansson value (consumed). */
void tb__req_json_value(tb__req *r, unsigned status, json_t *v);
/* Answers {"error":{"code","message","field"?}} with `status`; the code follows the status. The
 * message must hold no personal data in clear. */
void tb__req_error(tb__req *r, unsigned status, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Answers the engine's failure `rc` on handle `db`: TB_EFORMAT/TB_EINVAL/TB_ERANGE 400 with the
 * engine's message, TB_ENOENT 404, TB_EEXIST 409, TB_EPERM 403, TB_ELIMIT 413, TB_EBUSY 503,
 * anything else 500 (detail logged, not shown). */
void tb__req_engine_error(tb__req *r, int rc, tb_db *db);
/* Adds a header to the answer already set (Set-Cookie, Retry-After, ...). */
void tb__req_header(tb__req *r, const char *name, const char *value);

/* ---- request pieces ---- */

/* The body as a JSON object (parsed once, owned by the request). NULL after answering 400. */
json_t *tb__req_body(tb__req *r);
/* A string member of the body: 0 and *out (NULL when absent and not required), or -1 after
 * answering 400 naming the field. */
int tb__req_str(tb__req *r, const char *key, int required, const char **out);
/* A boolean member (absent: 0). 0, or -1 after answering 400. */
int tb__req_bool(tb__req *r, const char *key, int *out);
/* An integer member in [min, max] (absent: *out unchanged). 0, or -1 after answering 400. */
int tb__req_int(tb__req *r, const char *key, long long min, long long max, long long *out);
/* A query parameter, or NULL. */
const char *tb__req_query(tb__req *r, const char *key);
/* A query parameter that must be a batch date YYYYMMDD when present: 0 and *out (NULL when
 * absent), or -1 after answering 400. */
int tb__req_date(tb__req *r, const char *key, const char **out);
/* A request header, or NULL. */
const char *tb__req_header_in(tb__req *r, const char *name);

/* ---- handles ---- */

/* A read-only handle for this request (lent until the request's handler returns). */
tb_db *tb__req_rdb(tb__req *r);
/* Gives the request's read-only handle back (the dispatcher does, after the handler). */
void tb__req_rdb_return(tb__req *r);
/* The writable handle, locked: call tb__srv_wunlock when done, on every path. */
tb_db *tb__srv_wlock(tb__srv *s);
void tb__srv_wunlock(tb__srv *s);

/* Segment and customer options from the principal: its scope; `unmasked` as given. */
void tb__req_seg_opts(tb__req *r, tb_seg_opts *so, const char *as_of, int unmasked);

/* Writes an audit record through the writable handle: who (the principal, or `who` when not
 * NULL), from where (the client address), what. Returns 0 or the TB_E* of tb__audit (logged). */
int tb__req_audit(tb__req *r, const tb__principal *who, const char *action, const char *object,
                  const char *detail, const char *outcome);
/* Like tb__req_audit, counting one access of `access` ("view360", "export", "pii_read": see
 * tb__access_note) in the same transaction: TB_EPERM when the user is (now) blocked — the record
 * is then written with outcome "denied" and the caller refuses the request. */
int tb__req_audit_access(tb__req *r, const char *access, const char *action, const char *object,
                         const char *detail);

/* The principal as JSON: name, role, permissions, scope, must_change_password. */
json_t *tb__principal_json(const tb__principal *p);

/* ---- the web console's files (static.c) ---- */

/* Answers a GET or HEAD that matched no route from the console's directory: a file, 304 on a
 * matching ETag, index.html for a console route asked for by a browser, or 400/404/414. Returns 1
 * when it answered, 0 when the caller should answer its own 404 (no console served). */
int tb__static_serve(tb__req *r);
/* Opens the console's directory: its descriptor; -1 when it is missing and not `required` (an
 * info line logged); -2 after printing why when `required`. */
int tb__static_open(const char *dir, int required);

/* ---- handlers (api_*.c) ---- */

void tb__api_health(tb__req *r);
void tb__api_routes(tb__req *r);
void tb__api_login(tb__req *r);
void tb__api_logout(tb__req *r);
void tb__api_me(tb__req *r);
void tb__api_me_password(tb__req *r);
void tb__api_users_list(tb__req *r);
void tb__api_users_add(tb__req *r);
void tb__api_user_update(tb__req *r);
void tb__api_roles_list(tb__req *r);
void tb__api_tokens_list(tb__req *r);
void tb__api_tokens_create(tb__req *r);
void tb__api_token_revoke(tb__req *r);
void tb__api_audit_list(tb__req *r);
void tb__api_audit_verify(tb__req *r);
void tb__api_approvals_list(tb__req *r);
void tb__api_approval_request(tb__req *r);
void tb__api_approval_approve(tb__req *r);
void tb__api_approval_reject(tb__req *r);
void tb__api_alerts_list(tb__req *r);
void tb__api_customer_consent(tb__req *r);
void tb__api_customer_consent_set(tb__req *r);
void tb__api_alert_clear(tb__req *r);
void tb__api_customer_copy(tb__req *r); /* api_privacy.c */
/* api_privacy.c: erasure of a person */
void tb__api_customer_erase(tb__req *r);
/* api_events.c: collection and its management */
void tb__api_collect_segment(tb__req *r);
void tb__api_collect_sensors(tb__req *r);
void tb__api_events_sources(tb__req *r);
void tb__api_events_source_add(tb__req *r);
void tb__api_events_source_revoke(tb__req *r);
void tb__api_events_plan(tb__req *r);
void tb__api_events_plan_put(tb__req *r);
void tb__api_events_rules(tb__req *r);
void tb__api_events_rules_put(tb__req *r);
void tb__api_events_status(tb__req *r);
void tb__api_events_compact(tb__req *r);
void tb__api_events_quarantine(tb__req *r);
/* The approval an export of `rows` customers needs (src/server/api_approval.c): 0 to go ahead,
 * else the 403 answer is set. */
int tb__export_approved(tb__req *r, const char *segment, const char *fields, uint64_t rows,
                        int unmasked);

void tb__api_pipeline_status(tb__req *r);
void tb__api_check(tb__req *r);
void tb__api_customer_lineage(tb__req *r);
void tb__api_customer_360(tb__req *r);
void tb__api_tags_list(tb__req *r);
void tb__api_tags_tree(tb__req *r);
void tb__api_tag_show(tb__req *r);
void tb__api_tag_history(tb__req *r);
void tb__api_tag_submit(tb__req *r);
void tb__api_tag_approve(tb__req *r);
void tb__api_tag_reject(tb__req *r);
void tb__api_tag_offline(tb__req *r);
void tb__api_tag_build(tb__req *r);

void tb__api_seg_count(tb__req *r);
/* event analysis (api_events_analysis.c) */
void tb__api_ev_funnel(tb__req *r);
void tb__api_ev_paths(tb__req *r);
void tb__api_ev_retention(tb__req *r);
void tb__api_ev_count(tb__req *r);
void tb__api_seg_list(tb__req *r);
void tb__api_seg_save(tb__req *r);
void tb__api_seg_show(tb__req *r);
void tb__api_seg_delete(tb__req *r);
void tb__api_seg_diff(tb__req *r);
void tb__api_seg_overlap(tb__req *r);
void tb__api_seg_profile(tb__req *r);
void tb__api_seg_export(tb__req *r);
void tb__api_seg_import(tb__req *r);
void tb__api_pipeline_load(tb__req *r);
void tb__api_tag_save(tb__req *r);            /* api_console.c */
void tb__api_pipeline_quarantine(tb__req *r); /* api_console.c */

#endif
