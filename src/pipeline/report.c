/* report.c — what the pipeline tells its users: the status of each batch through the five modules
 * with rejected rows and quality scores (tb_pipeline_status), and the lineage of a customer's
 * profile values (tb_explain). Both return JSON text that the CLI prints and the server serves. */
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/identity.h"
#include "pipeline/segment.h"
#include "pipeline/standard.h"
#include "store/meta.h"
#include "store/snapshot.h"

#define LINEAGE_ROWS_MAX 20 /* source rows listed per file and attribute; the count is exact */

static const char *col_text(sqlite3_stmt *st, int i)
{
    const char *s = (const char *)sqlite3_column_text(st, i);
    return s ? s : "";
}

static int dump(tb_db *db, json_t *doc, char **out)
{
    if (!doc) return tb__seterr(tb__db_err(db), TB_ENOMEM, "out of memory");
    *out = json_dumps(doc, JSON_INDENT(2));
    json_decref(doc);
    return *out ? 0 : tb__seterr(tb__db_err(db), TB_ENOMEM, "out of memory");
}

/* The rules that rejected rows of one file of one load: {"rule": {"field": n, ...}, ...}. */
static int file_rules(tb_db *db, int64_t load_id, const char *file, json_t **out)
{
    sqlite3_stmt *st;
    int rc = tb__meta_stmt(db, TB__STMT_REPORT_RULES,
                           "SELECT rule, field, count FROM load_rule WHERE load_id = ?1 AND "
                           "file = ?2 ORDER BY rule, field",
                           &st);
    if (rc) return rc;
    sqlite3_bind_int64(st, 1, load_id);
    sqlite3_bind_text(st, 2, file, -1, SQLITE_TRANSIENT);
    json_t *rules = json_object();
    int s;
    while ((s = sqlite3_step(st)) == SQLITE_ROW) {
        json_t *r = json_object_get(rules, col_text(st, 0));
        if (!r) {
            r = json_object();
            json_object_set_new(rules, col_text(st, 0), r);
        }
        json_object_set_new(r, col_text(st, 1), json_integer(sqlite3_column_int64(st, 2)));
    }
    tb__meta_stmt_done(st);
    if (s != SQLITE_DONE) {
        json_decref(rules);
        return tb__meta_seterr_sqlite(db, s, "cannot read rule counts");
    }
    *out = rules;
    return 0;
}

/* Golden records per customer business-layer sub-domain, counted from the snapshot's
 * `subdomain` column: {"retail": n, "corporate": n, "merchant": n}; {} when it cannot be read. */
static json_t *subdomain_counts(tb_db *db, const char *rel)
{
    char path[4096];
    json_t *o = json_object();
    if (snprintf(path, sizeof path, "%s/%s", tb_db_path(db), rel) >= (int)sizeof path) return o;
    tb__errbuf eb = {0};
    tb__snap *s = NULL;
    tb__snap_col c;
    if (tb__snap_open_keys(path, tb__c2_ring(db), &s, &eb) == 0 &&
        tb__snap_column(s, "subdomain", &c) == 0 && c.type == TB__SNAP_DICT) {
        uint64_t *n = calloc(c.ndict ? c.ndict : 1, sizeof *n);
        const uint32_t *v = c.values;
        for (uint64_t i = 0; n && i < c.nrows; i++)
            if (v[i] < c.ndict) n[v[i]]++;
        for (uint32_t k = 1; n && k < c.ndict; k++) {
            size_t len;
            const char *name = tb__snap_dict_str(&c, k, &len);
            if (name) json_object_setn_new(o, name, len, json_integer((json_int_t)n[k]));
        }
        free(n);
    }
    tb__snap_close(s);
    return o;
}

static int batch_status(tb_db *db, const char *batch, json_t **out)
{
    sqlite3_stmt *st;
    json_t *files = json_array(), *snap = json_null();
    int rc = tb__meta_stmt(db, TB__STMT_REPORT_SNAPSHOT,
                           "SELECT load_id, dir, customers, created_at FROM snapshot WHERE "
                           "batch_date = ?1",
                           &st);
    if (rc) goto out_free;
    sqlite3_bind_text(st, 1, batch, -1, SQLITE_TRANSIENT);
    if (sqlite3_step(st) == SQLITE_ROW)
        snap = json_pack("{s:I, s:s, s:I, s:s, s:o}", "load_id",
                         (json_int_t)sqlite3_column_int64(st, 0), "dir", col_text(st, 1),
                         "customers", (json_int_t)sqlite3_column_int64(st, 2), "created_at",
                         col_text(st, 3), "subdomains", subdomain_counts(db, col_text(st, 1)));
    tb__meta_stmt_done(st);

    /* The newest attempt at each file of the batch. */
    rc = tb__meta_stmt(
        db, TB__STMT_REPORT_FILES,
        "SELECT f.load_id, f.file, f.business_type, f.data_kind, f.source_system, f.acquired, "
        "f.valid, f.rejected, f.warnings, f.aggregated, f.transmitted, f.allocated, f.collected, "
        "f.completeness, f.validity, f.uniqueness, f.error, l.finished_at FROM load_file f JOIN "
        "load l ON l.load_id = f.load_id WHERE f.batch_date = ?1 AND f.load_id = (SELECT "
        "max(load_id) FROM load_file WHERE batch_date = f.batch_date AND file = f.file) ORDER BY "
        "f.file",
        &st);
    if (rc) goto out_free;
    sqlite3_bind_text(st, 1, batch, -1, SQLITE_TRANSIENT);
    int s;
    while ((s = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t load_id = sqlite3_column_int64(st, 0);
        double c = sqlite3_column_double(st, 13), v = sqlite3_column_double(st, 14),
               u = sqlite3_column_double(st, 15);
        json_t *rules = NULL;
        rc = file_rules(db, load_id, col_text(st, 1), &rules);
        if (rc) break;
        json_t *f = json_pack(
            "{s:I, s:s, s:s, s:s, s:s, s:s, s:{s:I, s:I, s:I, s:I, s:I}, s:I, s:I, s:I, s:o, "
            "s:{s:f, s:f, s:f, s:f}, s:o}",
            "load_id", (json_int_t)load_id, "loaded_at", col_text(st, 17), "file", col_text(st, 1),
            "business_type", col_text(st, 2), "kind", col_text(st, 3), "source_system",
            col_text(st, 4), "modules", "acquisition", (json_int_t)sqlite3_column_int64(st, 5),
            "aggregation", (json_int_t)sqlite3_column_int64(st, 9), "transmission",
            (json_int_t)sqlite3_column_int64(st, 10), "allocation",
            (json_int_t)sqlite3_column_int64(st, 11), "collection",
            (json_int_t)sqlite3_column_int64(st, 12), "valid",
            (json_int_t)sqlite3_column_int64(st, 6), "rejected",
            (json_int_t)sqlite3_column_int64(st, 7), "warnings",
            (json_int_t)sqlite3_column_int64(st, 8), "rejected_by_rule", rules, "quality",
            "completeness", c, "validity", v, "uniqueness", u, "score", (c + v + u) / 3.0 * 100.0,
            "error",
            sqlite3_column_type(st, 16) == SQLITE_NULL ? json_null()
                                                       : json_string(col_text(st, 16)));
        if (!f || json_array_append_new(files, f)) {
            rc = tb__seterr(tb__db_err(db), TB_ENOMEM, "out of memory");
            break;
        }
    }
    tb__meta_stmt_done(st);
    if (!rc && s != SQLITE_DONE) rc = tb__meta_seterr_sqlite(db, s, "cannot read file statistics");
    if (rc) goto out_free;
    *out = json_pack("{s:s, s:o, s:o}", "batch_date", batch, "snapshot", snap, "files", files);
    return *out ? 0 : tb__seterr(tb__db_err(db), TB_ENOMEM, "out of memory");

out_free:
    json_decref(files);
    json_decref(snap);
    return rc;
}

int tb_pipeline_status(tb_db *db, const char *batch_date, char **json_out)
{
    *json_out = NULL;
    tb__clearerr(tb__db_err(db));
    sqlite3_stmt *st;
    int rc = tb__meta_stmt(db, TB__STMT_REPORT_BATCHES,
                           "SELECT DISTINCT batch_date FROM load WHERE ?1 IS NULL OR batch_date = "
                           "?1 ORDER BY batch_date",
                           &st);
    if (rc) return rc;
    if (batch_date)
        sqlite3_bind_text(st, 1, batch_date, -1, SQLITE_TRANSIENT);
    else
        sqlite3_bind_null(st, 1);
    char(*batches)[16] = NULL;
    size_t n = 0;
    int s;
    while ((s = sqlite3_step(st)) == SQLITE_ROW) {
        void *p = realloc(batches, (n + 1) * sizeof *batches);
        if (!p) break;
        batches = p;
        snprintf(batches[n++], sizeof batches[0], "%s", col_text(st, 0));
    }
    tb__meta_stmt_done(st);
    if (s != SQLITE_DONE) {
        free(batches);
        return s == SQLITE_ROW ? tb__seterr(tb__db_err(db), TB_ENOMEM, "out of memory")
                               : tb__meta_seterr_sqlite(db, s, "cannot list batches");
    }
    if (batch_date && n == 0) {
        free(batches);
        return tb__seterr(tb__db_err(db), TB_ENOENT, "batch %s has not been loaded", batch_date);
    }
    json_t *arr = json_array();
    for (size_t i = 0; i < n && !rc; i++) {
        json_t *b = NULL;
        rc = batch_status(db, batches[i], &b);
        if (!rc) json_array_append_new(arr, b);
    }
    free(batches);
    if (rc) {
        json_decref(arr);
        return rc;
    }
    return dump(db, json_pack("{s:o}", "batches", arr), json_out);
}

int tb_pipeline_quarantine(tb_db *db, const char *batch_date, const char *file, int limit,
                           int offset, char **json_out)
{
    *json_out = NULL;
    tb__clearerr(tb__db_err(db));
    if (limit < 1 || limit > 1000 || offset < 0)
        return tb__seterr(tb__db_err(db), TB_EINVAL, "limit must be 1..1000 and offset >= 0");
    sqlite3_stmt *st;
    int rc = tb__meta_stmt(db, TB__STMT_REPORT_QUARANTINE_COUNT,
                           "SELECT (SELECT count(*) FROM load WHERE batch_date = ?1), "
                           "(SELECT count(*) FROM quarantine WHERE batch_date = ?1 AND file = ?2)",
                           &st);
    if (rc) return rc;
    sqlite3_bind_text(st, 1, batch_date, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, file, -1, SQLITE_TRANSIENT);
    int s = sqlite3_step(st);
    int64_t loads = s == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    int64_t total = s == SQLITE_ROW ? sqlite3_column_int64(st, 1) : 0;
    tb__meta_stmt_done(st);
    if (s != SQLITE_ROW) return tb__meta_seterr_sqlite(db, s, "cannot count quarantined rows");
    if (loads == 0)
        return tb__seterr(tb__db_err(db), TB_ENOENT, "batch %s has not been loaded", batch_date);
    rc = tb__meta_stmt(db, TB__STMT_REPORT_QUARANTINE,
                       "SELECT line, field, value, rule FROM quarantine WHERE batch_date = ?1 AND "
                       "file = ?2 ORDER BY line LIMIT ?3 OFFSET ?4",
                       &st);
    if (rc) return rc;
    sqlite3_bind_text(st, 1, batch_date, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, file, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(st, 3, limit);
    sqlite3_bind_int(st, 4, offset);
    json_t *rows = json_array();
    while (rows && (s = sqlite3_step(st)) == SQLITE_ROW) {
        const char *v = (const char *)sqlite3_column_text(st, 2);
        json_t *row =
            json_pack("{s:I, s:s, s:s?, s:s}", "line", (json_int_t)sqlite3_column_int64(st, 0),
                      "field", col_text(st, 1), "value", v, "rule", col_text(st, 3));
        /* a value cut inside a character is not text JSON can carry: say nothing rather than fail
         */
        if (!row)
            row = json_pack("{s:I, s:s, s:n, s:s}", "line", (json_int_t)sqlite3_column_int64(st, 0),
                            "field", col_text(st, 1), "value", "rule", col_text(st, 3));
        if (!row || json_array_append_new(rows, row) != 0) {
            json_decref(rows);
            rows = NULL;
        }
    }
    tb__meta_stmt_done(st);
    if (!rows) return tb__seterr(tb__db_err(db), TB_ENOMEM, "out of memory");
    if (s != SQLITE_DONE) {
        json_decref(rows);
        return tb__meta_seterr_sqlite(db, s, "cannot read quarantined rows");
    }
    return dump(db,
                json_pack("{s:s, s:s, s:I, s:o}", "batch_date", batch_date, "file", file, "total",
                          (json_int_t)total, "rows", rows),
                json_out);
}

/* ---- lineage ------------------------------------------------------------------------------- */

/* The value of column c at row g as JSON: money and rates as decimal text, dates as ISO text. */
static json_t *cell(const tb__snap_col *c, uint32_t g)
{
    json_t *meta = c->meta_json ? json_loads(c->meta_json, 0, NULL) : NULL;
    const char *kind = json_string_value(json_object_get(meta, "kind"));
    json_t *v = json_null();
    char buf[48];
    if (c->type == TB__SNAP_I64) {
        int64_t x = ((const int64_t *)c->values)[g];
        if (x != TB__SNAP_NULL_I64) {
            if (kind && (strcmp(kind, "money") == 0 || strcmp(kind, "rate") == 0)) {
                int scale = strcmp(kind, "money") == 0 ? 100 : 10000;
                uint64_t a = x < 0 ? (uint64_t)0 - (uint64_t)x : (uint64_t)x;
                snprintf(buf, sizeof buf,
                         scale == 100 ? "%s%" PRIu64 ".%02" PRIu64 : "%s%" PRIu64 ".%04" PRIu64,
                         x < 0 ? "-" : "", a / (uint64_t)scale, a % (uint64_t)scale);
                v = json_string(buf);
            } else {
                v = json_integer(x);
            }
        }
    } else if (c->type == TB__SNAP_I32) {
        int32_t d = ((const int32_t *)c->values)[g];
        if (d != TB__SNAP_NULL_I32) {
            /* days since 1970-01-01 to a civil date (Howard Hinnant's algorithm) */
            int64_t z = (int64_t)d + 719468, era = (z >= 0 ? z : z - 146096) / 146097;
            int64_t doe = z - era * 146097,
                    yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
            int64_t y = yoe + era * 400, doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
            int64_t mp = (5 * doy + 2) / 153, dd = doy - (153 * mp + 2) / 5 + 1;
            int64_t mm = mp < 10 ? mp + 3 : mp - 9;
            snprintf(buf, sizeof buf, "%04" PRId64 "-%02" PRId64 "-%02" PRId64, y + (mm <= 2), mm,
                     dd);
            v = json_string(buf);
        }
    } else if (c->type == TB__SNAP_U8) {
        uint8_t x = ((const uint8_t *)c->values)[g];
        if (x != TB__SNAP_NULL_U8) v = json_integer(x);
    } else if (c->type == TB__SNAP_DICT) {
        uint32_t code = ((const uint32_t *)c->values)[g];
        size_t len;
        const char *s = code ? tb__snap_dict_str(c, code, &len) : NULL;
        if (s) v = json_stringn(s, len);
    }
    json_decref(meta);
    return v ? v : json_null();
}

/* Rows of one segment about one gid. */
typedef struct seg_hits {
    char business_type[64], kind[32], source[32], file[256];
    int64_t load_id;
    uint64_t count;
    uint64_t line[LINEAGE_ROWS_MAX];
} seg_hits;

static int scan_segments(tb_db *db, const char *batch, uint32_t gid, seg_hits **out, size_t *n)
{
    sqlite3_stmt *st;
    *out = NULL;
    *n = 0;
    int rc = tb__meta_stmt(db, TB__STMT_REPORT_SEGMENTS,
                           "SELECT path FROM segment WHERE batch_date = ?1 ORDER BY file", &st);
    if (rc) return rc;
    sqlite3_bind_text(st, 1, batch, -1, SQLITE_TRANSIENT);
    char **paths = NULL;
    size_t np = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        char **p = realloc(paths, (np + 1) * sizeof *p);
        if (!p) break;
        paths = p;
        paths[np++] = strdup(col_text(st, 0));
    }
    tb__meta_stmt_done(st);
    seg_hits *hits = calloc(np ? np : 1, sizeof *hits);
    if (!hits) rc = tb__seterr(tb__db_err(db), TB_ENOMEM, "out of memory");
    for (size_t i = 0; i < np && !rc; i++) {
        char abs[4096];
        snprintf(abs, sizeof abs, "%s/%s", tb_db_path(db), paths[i] ? paths[i] : "");
        tb__seg_reader *r;
        tb__seg_flag f;
        rc = tb__seg_reader_open(abs, tb__c2_ring(db), &r, &f, tb__db_err(db));
        if (rc) break;
        seg_hits *h = &hits[*n];
        snprintf(h->business_type, sizeof h->business_type, "%s", f.business_type);
        snprintf(h->kind, sizeof h->kind, "%s", f.kind);
        snprintf(h->source, sizeof h->source, "%s", f.source_system);
        snprintf(h->file, sizeof h->file, "%s", f.file);
        h->load_id = f.load_id;
        uint64_t line;
        uint32_t g;
        const tb__field *fields;
        size_t nf;
        while ((rc = tb__seg_read(r, &line, &g, &fields, &nf, tb__db_err(db))) == 1) {
            if (g != gid) continue;
            if (h->count < LINEAGE_ROWS_MAX) h->line[h->count] = line;
            h->count++;
        }
        tb__seg_reader_close(r);
        if (rc < 0) break;
        rc = 0;
        if (h->count) (*n)++;
    }
    for (size_t i = 0; i < np; i++)
        free(paths[i]);
    free(paths);
    if (rc) {
        free(hits);
        *n = 0;
        return rc;
    }
    *out = hits;
    return 0;
}

static json_t *sources_for(const seg_hits *hits, size_t n, const char *batch, const char *type,
                           int identity_only, const tb__standards *std)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++) {
        const seg_hits *h = &hits[i];
        if (identity_only) {
            const tb__std_type *t = std ? tb__std_find(std, h->business_type) : NULL;
            if (!t || t->key_field < 0 || t->cert_field < 0) continue;
        } else if (strcmp(h->business_type, type) != 0) {
            continue;
        }
        json_t *lines = json_array();
        for (uint64_t k = 0; k < h->count && k < LINEAGE_ROWS_MAX; k++)
            json_array_append_new(lines, json_integer((json_int_t)h->line[k]));
        json_array_append_new(arr, json_pack("{s:{s:s, s:s, s:s, s:s, s:I}, s:s, s:I, s:o}", "flag",
                                             "business_type", h->business_type, "kind", h->kind,
                                             "source_system", h->source, "batch_date", batch,
                                             "load_id", (json_int_t)h->load_id, "file", h->file,
                                             "rows", (json_int_t)h->count, "lines", lines));
    }
    return arr;
}

int tb_explain(tb_db *db, const char *customer, const char *attribute, const char *batch_date,
               char **json_out)
{
    *json_out = NULL;
    tb__errbuf *eb = tb__db_err(db);
    tb__clearerr(eb);
    uint32_t gid;
    int rc = tb__customer_resolve(db, customer, &gid);
    if (rc) return rc;

    sqlite3_stmt *st;
    rc = tb__meta_stmt(db, TB__STMT_REPORT_SNAPSHOT_FOR,
                       "SELECT batch_date, dir FROM snapshot WHERE ?1 IS NULL OR batch_date = ?1 "
                       "ORDER BY batch_date DESC LIMIT 1",
                       &st);
    if (rc) return rc;
    if (batch_date)
        sqlite3_bind_text(st, 1, batch_date, -1, SQLITE_TRANSIENT);
    else
        sqlite3_bind_null(st, 1);
    char batch[16] = "", dir[4096] = "";
    if (sqlite3_step(st) == SQLITE_ROW) {
        snprintf(batch, sizeof batch, "%s", col_text(st, 0));
        snprintf(dir, sizeof dir, "%s/%s", tb_db_path(db), col_text(st, 1));
    }
    tb__meta_stmt_done(st);
    if (!batch[0])
        return tb__seterr(eb, TB_ENOENT, "no snapshot%s%s has been loaded",
                          batch_date ? " of batch " : "", batch_date ? batch_date : "");

    tb__snap *snap = NULL;
    seg_hits *hits = NULL;
    size_t nhits = 0;
    tb__standards *std = NULL;
    int version;
    json_t *attrs = json_array();
    rc = tb__snap_open_keys(dir, tb__c2_ring(db), &snap, eb);
    if (rc) goto out_free;
    if (gid >= tb__snap_nrows(snap)) {
        rc = tb__seterr(eb, TB_ENOENT, "customer %u is not in the snapshot of %s", gid, batch);
        goto out_free;
    }
    if (attribute) {
        tb__snap_col c;
        if (tb__snap_column(snap, attribute, &c) != 0) {
            rc = tb__seterr(eb, TB_ENOENT, "attribute '%s' is not in the snapshot of %s", attribute,
                            batch);
            goto out_free;
        }
    }
    if (tb__std_current(db, &std, &version) != 0) tb__clearerr(eb); /* lineage without types */
    rc = scan_segments(db, batch, gid, &hits, &nhits);
    if (rc) goto out_free;
    for (size_t i = 0; i < tb__snap_ncolumns(snap); i++) {
        tb__snap_col c;
        if (tb__snap_column_at(snap, i, &c) != 0) continue;
        if (attribute && strcmp(c.name, attribute) != 0) continue;
        json_t *meta = c.meta_json ? json_loads(c.meta_json, 0, NULL) : json_object();
        const char *type = json_string_value(json_object_get(meta, "business_type"));
        type = type ? type : "";
        json_t *src = strcmp(type, "derived") == 0
                          ? json_array()
                          : sources_for(hits, nhits, batch, type, strcmp(type, "golden") == 0, std);
        json_array_append_new(attrs, json_pack("{s:s, s:o, s:o, s:o}", "attribute", c.name, "value",
                                               cell(&c, gid), "definition", meta, "sources", src));
    }
    json_t *doc = json_pack("{s:I, s:s, s:s, s:o}", "gid", (json_int_t)gid, "customer", customer,
                            "batch_date", batch, "attributes", attrs);
    attrs = NULL;
    rc = dump(db, doc, json_out);

out_free:
    json_decref(attrs);
    free(hits);
    tb__std_free(std);
    tb__snap_close(snap);
    return rc;
}
