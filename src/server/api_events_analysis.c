/* api_events_analysis.c — handlers of event analysis: funnels, paths, retention and counts
 * (POST /api/v1/events/{funnel,paths,retention,count}). The body is the spec of tb_ev_*
 * (docs/events.md, "Analysis"), "as_of" optional; the principal's scope limits the customers
 * counted. A funnel with "save" writes a static segment: it needs seg.write, runs on the writable
 * handle and is audited. */
#include <stdlib.h>
#include <string.h>

#include "server/srv_int.h"

typedef int (*ev_fn)(tb_db *db, const char *spec, const tb_seg_opts *o, char **json_out);

/* The body as text (the engine parses it) and its "as_of". 0, or -1 after answering 400. */
static int spec_of(tb__req *r, char **text, const char **as_of)
{
    json_t *b = tb__req_body(r);
    if (!b) return -1;
    if (tb__req_str(r, "as_of", 0, as_of)) return -1;
    if (*as_of && (strlen(*as_of) != 8 || strspn(*as_of, "0123456789") != 8)) {
        tb__req_error(r, 400, "as_of", "'as_of' takes a batch date YYYYMMDD");
        return -1;
    }
    *text = json_dumps(b, JSON_COMPACT);
    if (!*text) {
        tb__req_error(r, 500, NULL, "out of memory");
        return -1;
    }
    return 0;
}

static void run(tb__req *r, ev_fn fn)
{
    char *spec;
    const char *as_of;
    if (spec_of(r, &spec, &as_of)) return;
    tb_seg_opts so;
    tb__req_seg_opts(r, &so, as_of, 0);
    char *json = NULL;
    tb_db *db = tb__req_rdb(r);
    int rc = fn(db, spec, &so, &json);
    free(spec);
    if (rc)
        tb__req_engine_error(r, rc, db);
    else
        tb__req_json_take(r, 200, json);
}

void tb__api_ev_funnel(tb__req *r)
{
    json_t *b = tb__req_body(r);
    if (!b) return;
    json_t *save = json_object_get(b, "save");
    if (!save) {
        char *spec;
        const char *as_of;
        if (spec_of(r, &spec, &as_of)) return;
        tb_seg_opts so;
        tb__req_seg_opts(r, &so, as_of, 0);
        char *json = NULL;
        tb_db *db = tb__req_rdb(r);
        int rc = tb_ev_funnel(db, spec, &so, r->who.name, &json);
        free(spec);
        if (rc)
            tb__req_engine_error(r, rc, db);
        else
            tb__req_json_take(r, 200, json);
        return;
    }
    if (!(r->who.perms & TB__P_SEG_WRITE)) {
        tb__req_error(r, 403, "save", "saving a segment needs the permission seg.write");
        return;
    }
    char *spec;
    const char *as_of;
    if (spec_of(r, &spec, &as_of)) return;
    tb_seg_opts so;
    tb__req_seg_opts(r, &so, as_of, 0);
    char *json = NULL;
    json_t *nm = json_object_get(save, "name");
    const char *name = json_is_string(nm) ? json_string_value(nm) : "";
    tb_db *w = tb__srv_wlock(r->srv);
    int rc = tb_ev_funnel(w, spec, &so, r->who.name, &json);
    if (rc)
        tb__req_engine_error(r, rc, w);
    else
        tb__audit(w, &r->who, r->remote, "segment.save", name, "from a funnel step", "ok");
    tb__srv_wunlock(r->srv);
    free(spec);
    if (!rc) tb__req_json_take(r, 201, json);
}

void tb__api_ev_paths(tb__req *r)
{
    run(r, tb_ev_paths);
}

void tb__api_ev_retention(tb__req *r)
{
    run(r, tb_ev_retention);
}

void tb__api_ev_count(tb__req *r)
{
    run(r, tb_ev_count);
}
