/* api_seg.c — handlers of finding customers (搜客) and saved segments (客群): count, save, list,
 * show, delete, diff, overlap, profile and the CSV export. The principal's scope goes into every
 * engine call (tb__req_seg_opts), so no answer leaves it. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "server/srv_int.h"

static void answer(tb__req *r, int rc, tb_db *db, char *json)
{
    if (rc)
        tb__req_engine_error(r, rc, db);
    else
        tb__req_json_take(r, 200, json);
}

/* The expression of a body: "expr" (text form) or "json" (the JSON form, as an object or its
 * text). Sets *expr (in the request's pool or the body) and *is_json; -1 after answering 400. */
static int body_expr(tb__req *r, const char **expr, int *is_json)
{
    json_t *b = tb__req_body(r);
    if (!b) return -1;
    json_t *t = json_object_get(b, "expr"), *j = json_object_get(b, "json");
    *is_json = 0;
    if (t && j) {
        tb__req_error(r, 400, "expr", "give 'expr' or 'json', not both");
        return -1;
    }
    if (j) {
        *is_json = 1;
        if (json_is_string(j)) {
            *expr = json_string_value(j);
            return 0;
        }
        if (!json_is_object(j)) {
            tb__req_error(r, 400, "json", "'json' must be an object (the JSON form)");
            return -1;
        }
        char *text = json_dumps(j, JSON_COMPACT);
        *expr = text ? tb__arena_strdup(&r->pool, text) : NULL;
        free(text);
        if (!*expr) {
            tb__req_error(r, 500, NULL, "out of memory");
            return -1;
        }
        return 0;
    }
    return tb__req_str(r, "expr", 1, expr);
}

/* "as_of" of a body: a batch date or absent. */
static int body_date(tb__req *r, const char **as_of)
{
    if (tb__req_str(r, "as_of", 0, as_of)) return -1;
    if (*as_of && (strlen(*as_of) != 8 || strspn(*as_of, "0123456789") != 8)) {
        tb__req_error(r, 400, "as_of", "'as_of' takes a batch date YYYYMMDD");
        return -1;
    }
    return 0;
}

void tb__api_seg_count(tb__req *r)
{
    const char *expr, *as_of;
    int is_json;
    if (body_expr(r, &expr, &is_json) || body_date(r, &as_of)) return;
    tb_seg_opts so;
    tb__req_seg_opts(r, &so, as_of, 0);
    so.is_json = is_json;
    char *json = NULL;
    tb_db *db = tb__req_rdb(r);
    int rc = tb_seg_count(db, expr, &so, &json);
    answer(r, rc, db, json);
}

void tb__api_seg_list(tb__req *r)
{
    char *json = NULL;
    tb_db *db = tb__req_rdb(r);
    int rc = tb_seg_list(db, &json);
    answer(r, rc, db, json);
}

void tb__api_seg_save(tb__req *r)
{
    const char *name, *expr, *desc, *as_of;
    int is_json;
    if (tb__req_str(r, "name", 1, &name) || body_expr(r, &expr, &is_json) ||
        tb__req_str(r, "description", 0, &desc) || body_date(r, &as_of))
        return;
    tb_seg_opts so;
    tb__req_seg_opts(r, &so, as_of, 0);
    so.is_json = is_json;
    char *json = NULL;
    tb_db *w = tb__srv_wlock(r->srv);
    int rc = tb_seg_save(w, name, expr, &so, r->who.name, desc, &json);
    if (rc)
        tb__req_engine_error(r, rc, w);
    else
        tb__audit(w, &r->who, r->remote, "segment.save", name, NULL, "ok");
    tb__srv_wunlock(r->srv);
    if (!rc) tb__req_json_take(r, 201, json);
}

void tb__api_seg_show(tb__req *r)
{
    char *json = NULL;
    tb_db *db = tb__req_rdb(r);
    int rc = tb_seg_show(db, r->params[0], &json);
    answer(r, rc, db, json);
}

void tb__api_seg_delete(tb__req *r)
{
    char *json = NULL;
    tb_db *w = tb__srv_wlock(r->srv);
    int rc = tb_seg_delete(w, r->params[0], &json);
    if (rc)
        tb__req_engine_error(r, rc, w);
    else
        tb__audit(w, &r->who, r->remote, "segment.delete", r->params[0], NULL, "ok");
    tb__srv_wunlock(r->srv);
    if (!rc) tb__req_json_take(r, 200, json);
}

void tb__api_seg_diff(tb__req *r)
{
    const char *as_of, *sp = tb__req_query(r, "sample");
    if (tb__req_date(r, "as_of", &as_of)) return;
    size_t sample = 10;
    if (sp && *sp) {
        char *end;
        long n = strtol(sp, &end, 10);
        if (*end || n < 0 || n > 1000) {
            tb__req_error(r, 400, "sample", "'sample' takes a number from 0 to 1000");
            return;
        }
        sample = (size_t)n;
    }
    tb_seg_opts so;
    tb__req_seg_opts(r, &so, as_of, 0);
    char *json = NULL;
    tb_db *db = tb__req_rdb(r);
    int rc = tb_seg_diff(db, r->params[0], &so, sample, &json);
    answer(r, rc, db, json);
}

void tb__api_seg_overlap(tb__req *r)
{
    const char *as_of, *a = tb__req_query(r, "a"), *b = tb__req_query(r, "b");
    if (tb__req_date(r, "as_of", &as_of)) return;
    if (!a || !*a || !b || !*b) {
        tb__req_error(r, 400, !a || !*a ? "a" : "b", "give two segments: ?a=NAME&b=NAME");
        return;
    }
    tb_seg_opts so;
    tb__req_seg_opts(r, &so, as_of, 0);
    char *json = NULL;
    tb_db *db = tb__req_rdb(r);
    int rc = tb_seg_overlap(db, a, b, &so, &json);
    answer(r, rc, db, json);
}

void tb__api_seg_profile(tb__req *r)
{
    const char *as_of, *by = tb__req_query(r, "by");
    if (tb__req_date(r, "as_of", &as_of)) return;
    if (!by || !*by) {
        tb__req_error(r, 400, "by", "give the tag to profile by: ?by=TAG");
        return;
    }
    tb_seg_opts so;
    tb__req_seg_opts(r, &so, as_of, 0);
    char *json = NULL;
    tb_db *db = tb__req_rdb(r);
    int rc = tb_seg_profile(db, r->params[0], by, &so, &json);
    answer(r, rc, db, json);
}

/* "fields": "cust_no,name" or ["cust_no","name"]; NULL when absent. -1 after answering. */
static int body_fields(tb__req *r, const char **out)
{
    json_t *b = tb__req_body(r);
    if (!b) return -1;
    json_t *f = json_object_get(b, "fields");
    *out = NULL;
    if (!f || json_is_null(f)) return 0;
    if (json_is_string(f)) {
        *out = json_string_value(f);
        return 0;
    }
    if (!json_is_array(f) || json_array_size(f) == 0 || json_array_size(f) > 256) {
        tb__req_error(r, 400, "fields", "'fields' must be a list of field names");
        return -1;
    }
    size_t i, len = 0;
    json_t *v;
    json_array_foreach(f, i, v)
    {
        if (!json_is_string(v) || json_string_length(v) == 0 || strchr(json_string_value(v), ',')) {
            tb__req_error(r, 400, "fields", "'fields' item %zu is not a field name", i);
            return -1;
        }
        len += json_string_length(v) + 1;
    }
    char *s = tb__arena_alloc(&r->pool, len + 1), *p = s;
    if (!s) {
        tb__req_error(r, 500, NULL, "out of memory");
        return -1;
    }
    json_array_foreach(f, i, v)
    {
        p += sprintf(p, "%s%s", i ? "," : "", json_string_value(v));
    }
    *out = s;
    return 0;
}

/* The export is written by the engine to a file in a private temporary directory, opened,
 * unlinked at once (so nothing stays behind whatever happens next) and sent from the open file. */
void tb__api_seg_export(tb__req *r)
{
    const char *fields, *as_of;
    int unmasked;
    if (body_fields(r, &fields) || tb__req_bool(r, "unmasked", &unmasked) || body_date(r, &as_of))
        return;
    if (unmasked && !(r->who.perms & TB__P_PII_CLEAR)) {
        tb__req_error(r, 403, "unmasked", "role '%s' may not export personal fields unmasked",
                      r->who.role);
        tb__req_audit(r, NULL, "segment.export", r->params[0], "{\"unmasked\":true}", "denied");
        return;
    }
    tb_seg_opts so;
    tb__req_seg_opts(r, &so, as_of, unmasked);
    /* PIPL: with a purpose (and a channel), only customers whose consent allows it */
    if (tb__req_str(r, "purpose", 0, &so.consent_purpose) ||
        tb__req_str(r, "channel", 0, &so.consent_channel))
        return;
    const char *tmp = getenv("TMPDIR");
    char dir[512], path[600];
    snprintf(dir, sizeof dir, "%s/tb-export-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(dir)) {
        tb__req_error(r, 500, NULL, "cannot create a temporary directory for the export");
        return;
    }
    snprintf(path, sizeof path, "%s/export.csv", dir);
    char *json = NULL;
    tb_db *db = tb__req_rdb(r);
    int rc = tb_seg_export(db, r->params[0], &so, fields, path, &json);
    int fd = rc ? -1 : open(path, O_RDONLY | O_CLOEXEC);
    unlink(path);
    rmdir(dir);
    if (rc) {
        tb__req_engine_error(r, rc, db);
        return;
    }
    json_t *doc = json_loads(json, 0, NULL);
    free(json);
    long long rows = (long long)json_integer_value(json_object_get(doc, "rows"));
    json_t *mf = json_object_get(doc, "masked_fields");
    char *masked = mf ? json_dumps(mf, JSON_COMPACT) : NULL;
    json_decref(doc);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        if (fd >= 0) close(fd);
        free(masked);
        tb__req_error(r, 500, NULL, "cannot read the export back");
        return;
    }
    /* maker-checker: a large or unmasked export needs a second person's approval, used once */
    if (tb__export_approved(r, r->params[0], fields ? fields : "cust_no", (uint64_t)rows,
                            unmasked) != 0) {
        close(fd);
        free(masked);
        return;
    }
    char detail[512];
    snprintf(detail, sizeof detail, "{\"rows\":%lld,\"unmasked\":%s,\"masked_fields\":%s}", rows,
             unmasked ? "true" : "false", masked ? masked : "[]");
    free(masked);
    int arc = tb__req_audit_access(r, "export", "segment.export", r->params[0], detail);
    if (!arc && unmasked)
        arc = tb__req_audit_access(r, "pii_read", "pii.read", r->params[0], detail);
    if (arc) {
        close(fd);
        if (arc == TB_EPERM)
            tb__req_error(r, 403, NULL,
                          "user '%s' is blocked for unusual access; an administrator must clear it",
                          r->who.name);
        else
            tb__req_error(r, 500, NULL, "cannot write the audit record: nothing is exported");
        return;
    }
    struct MHD_Response *resp = MHD_create_response_from_fd((uint64_t)st.st_size, fd);
    if (!resp) {
        close(fd);
        tb__req_error(r, 500, NULL, "out of memory");
        return;
    }
    if (r->resp) MHD_destroy_response(r->resp);
    r->resp = resp;
    r->status = 200;
    r->bytes = (uint64_t)st.st_size;
    char nrows[32];
    snprintf(nrows, sizeof nrows, "%lld", rows);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/csv; charset=utf-8");
    MHD_add_response_header(resp, "Content-Disposition", "attachment; filename=\"segment.csv\"");
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(resp, "X-Rows", nrows);
}

/* 导入建群 over HTTP: the body's list ("lines": an array of strings, or "text": one per line) is
 * written to a private temporary file for tb_seg_import, which reports unknown lines (masked). */
void tb__api_seg_import(tb__req *r)
{
    const char *name, *desc, *text;
    json_t *b = tb__req_body(r);
    if (!b || tb__req_str(r, "name", 1, &name) || tb__req_str(r, "description", 0, &desc) ||
        tb__req_str(r, "text", 0, &text))
        return;
    json_t *lines = json_object_get(b, "lines");
    if (!text && !json_is_array(lines)) {
        tb__req_error(r, 400, "lines", "give 'lines' (an array of customer numbers) or 'text'");
        return;
    }
    const char *tmp = getenv("TMPDIR");
    char dir[512], path[600];
    snprintf(dir, sizeof dir, "%s/tb-import-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(dir)) {
        tb__req_error(r, 500, NULL, "cannot create a temporary directory for the import");
        return;
    }
    snprintf(path, sizeof path, "%s/import.txt", dir);
    FILE *f = fopen(path, "wx");
    int bad = -1;
    if (f && text)
        fputs(text, f);
    else if (f) {
        size_t i;
        json_t *v;
        json_array_foreach(lines, i, v)
        {
            if (!json_is_string(v) || strpbrk(json_string_value(v), "\r\n")) {
                bad = (int)i;
                break;
            }
            fprintf(f, "%s\n", json_string_value(v));
        }
    }
    int werr = !f || ferror(f);
    if (f && fclose(f) != 0) werr = 1;
    if (bad >= 0 || werr) {
        unlink(path);
        rmdir(dir);
        if (bad >= 0)
            tb__req_error(r, 400, "lines", "'lines' item %d is not one line of text", bad);
        else
            tb__req_error(r, 500, NULL, "cannot write the list to a temporary file");
        return;
    }
    char *json = NULL;
    tb_db *w = tb__srv_wlock(r->srv);
    int rc = tb_seg_import(w, name, path, r->who.name, desc, &json);
    if (rc)
        tb__req_engine_error(r, rc, w);
    else
        tb__audit(w, &r->who, r->remote, "segment.import", name, NULL, "ok");
    tb__srv_wunlock(r->srv);
    unlink(path);
    rmdir(dir);
    if (!rc) tb__req_json_take(r, 201, json);
}
