/* api_console.c — the few routes the web console needs that the API lacked: saving a tag
 * definition as a draft from the tag centre's editor (the command line loads a catalog file), and
 * the quarantined rows of one file of a batch. Thin: each calls one library function. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "server/srv_int.h"

/* PUT /api/v1/tags/{code} with one tag's definition as in a catalog file (docs/tags.md): a new
 * tag becomes version 1 as a draft, a changed one a new draft version (the online version stays
 * online until the draft is approved by a second person), an unchanged one is left alone. The
 * definition is wrapped into a one-tag catalog file in a private temporary directory and loaded
 * with tb_tag_load, as `tagbase tag load` does; its checks are the engine's. */
void tb__api_tag_save(tb__req *r)
{
    json_t *b = tb__req_body(r);
    if (!b) return;
    json_t *code = json_object_get(b, "code");
    if (!json_is_string(code) || strcmp(json_string_value(code), r->params[0]) != 0) {
        tb__req_error(r, 400, "code", "'code' must be the tag's code, as in the path");
        return;
    }
    json_t *cat =
        json_pack("{s:s, s:[], s:[O]}", "format", "tagbase-catalog/1", "themes", "tags", b);
    char *text = cat ? json_dumps(cat, JSON_COMPACT) : NULL;
    json_decref(cat);
    if (!text) {
        tb__req_error(r, 500, NULL, "out of memory");
        return;
    }
    const char *tmp = getenv("TMPDIR");
    char dir[512], path[600];
    snprintf(dir, sizeof dir, "%s/tb-tag-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(dir)) {
        free(text);
        tb__req_error(r, 500, NULL, "cannot create a temporary directory for the definition");
        return;
    }
    snprintf(path, sizeof path, "%s/tag.json", dir);
    FILE *f = fopen(path, "wx");
    int werr = !f || fputs(text, f) < 0;
    if (f && fclose(f) != 0) werr = 1;
    free(text);
    if (werr) {
        unlink(path);
        rmdir(dir);
        tb__req_error(r, 500, NULL, "cannot write the definition to a temporary file");
        return;
    }
    char *json = NULL;
    tb_db *w = tb__srv_wlock(r->srv);
    int rc = tb_tag_load(w, path, r->who.name, &json);
    if (rc) tb__req_engine_error(r, rc, w);
    tb__audit(w, &r->who, r->remote, "tag.edit", r->params[0], NULL, rc ? "failed" : "ok");
    tb__srv_wunlock(r->srv);
    unlink(path);
    rmdir(dir);
    if (!rc) tb__req_json_take(r, 200, json);
}

/* GET /api/v1/pipeline/quarantine?batch=YYYYMMDD&file=NAME[&limit=&offset=]: the rows of that
 * file the load quarantined (values masked as stored), for the pipeline screen. */
void tb__api_pipeline_quarantine(tb__req *r)
{
    const char *batch, *file = tb__req_query(r, "file");
    if (tb__req_date(r, "batch", &batch)) return;
    if (!batch || !file || !*file) {
        tb__req_error(r, 400, batch ? "file" : "batch", "'batch' and 'file' are required");
        return;
    }
    long lim = 100, off = 0;
    const char *l = tb__req_query(r, "limit"), *o = tb__req_query(r, "offset");
    char *end;
    if (l && *l && ((lim = strtol(l, &end, 10)) < 1 || lim > 1000 || *end)) {
        tb__req_error(r, 400, "limit", "'limit' takes 1..1000");
        return;
    }
    if (o && *o && ((off = strtol(o, &end, 10)) < 0 || off > 100000000 || *end)) {
        tb__req_error(r, 400, "offset", "'offset' takes 0 or more");
        return;
    }
    char *json = NULL;
    tb_db *db = tb__req_rdb(r);
    int rc = tb_pipeline_quarantine(db, batch, file, (int)lim, (int)off, &json);
    if (rc)
        tb__req_engine_error(r, rc, db);
    else
        tb__req_json_take(r, 200, json);
}
