/* check.c — tagbase check: verifies what the data directory holds against what the meta store
 * says it holds — the store's own integrity and references, every current segment's size, every
 * snapshot's column checksums. Read-only. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "store/meta.h"
#include "store/file.h"
#include "store/mdx.h"
#include "store/snapshot.h"
/* check reads every store, the tag engine's included */
#include "tags/tagstore.h"
#include "events/collector.h"

static int problem(json_t *list, const char *what, const char *detail)
{
    return json_array_append_new(list, json_pack("{s:s, s:s}", "what", what, "detail", detail));
}

/* Runs a PRAGMA whose rows are problems; "ok" alone (quick_check) means none. */
static int pragma_rows(tb_db *db, tb__stmt_id id, const char *sql, const char *what,
                       json_t *problems)
{
    sqlite3_stmt *st;
    int rc = tb__meta_stmt(db, id, sql, &st);
    if (rc) return rc;
    int s;
    while ((s = sqlite3_step(st)) == SQLITE_ROW) {
        char line[512] = "";
        for (int c = 0; c < sqlite3_column_count(st); c++) {
            const char *v = (const char *)sqlite3_column_text(st, c);
            size_t n = strlen(line);
            snprintf(line + n, sizeof line - n, "%s%s", c ? " " : "", v ? v : "NULL");
        }
        if (strcmp(line, "ok") != 0) problem(problems, what, line);
    }
    tb__meta_stmt_done(st);
    return s == SQLITE_DONE ? 0 : tb__meta_seterr_sqlite(db, s, what);
}

int tb_check(tb_db *db, char **json_out)
{
    *json_out = NULL;
    tb__clearerr(tb__db_err(db));
    json_t *problems = json_array();
    int64_t nseg = 0, nsnap = 0;
    int rc = pragma_rows(db, TB__STMT_CHECK_QUICK, "PRAGMA quick_check", "meta store integrity",
                         problems);
    if (!rc)
        rc = pragma_rows(db, TB__STMT_CHECK_FK, "PRAGMA foreign_key_check", "meta store reference",
                         problems);
    sqlite3_stmt *st;
    if (!rc)
        rc = tb__meta_stmt(db, TB__STMT_CHECK_SEGMENTS,
                           "SELECT path, bytes FROM segment ORDER BY path", &st);
    if (!rc) {
        while (sqlite3_step(st) == SQLITE_ROW) {
            char path[4096], msg[4200];
            const char *rel = (const char *)sqlite3_column_text(st, 0);
            snprintf(path, sizeof path, "%s/%s", tb_db_path(db), rel ? rel : "");
            struct stat sb;
            nseg++;
            if (stat(path, &sb) != 0) {
                snprintf(msg, sizeof msg, "'%s' is missing", rel ? rel : "");
                problem(problems, "segment", msg);
            } else if ((int64_t)sb.st_size != sqlite3_column_int64(st, 1)) {
                snprintf(msg, sizeof msg, "'%s' is %lld bytes, the store says %lld", rel,
                         (long long)sb.st_size, (long long)sqlite3_column_int64(st, 1));
                problem(problems, "segment", msg);
            }
        }
        tb__meta_stmt_done(st);
        rc = tb__meta_stmt(db, TB__STMT_CHECK_SNAPSHOTS,
                           "SELECT batch_date, dir FROM snapshot ORDER BY batch_date", &st);
    }
    if (!rc) {
        while (sqlite3_step(st) == SQLITE_ROW) {
            char path[4096];
            snprintf(path, sizeof path, "%s/%s", tb_db_path(db),
                     (const char *)sqlite3_column_text(st, 1));
            tb__errbuf eb = {0};
            tb__snap *s = NULL;
            nsnap++;
            if (tb__snap_open_keys(path, tb__c2_ring(db), &s, &eb) != 0 ||
                tb__snap_verify(s, &eb) != 0)
                problem(problems, "snapshot", eb.msg);
            tb__snap_close(s);
        }
        tb__meta_stmt_done(st);
    }
    /* the master-data look-up image the last load (or a rebuild) recorded */
    int64_t nimage = 0;
    if (!rc) {
        char msg[700];
        int ok = tb__mdx_check(db, msg, sizeof msg);
        if (ok < 0) problem(problems, "master-data image", msg);
        nimage = ok != 0;
    }
    /* tag stores (every byte of every current build) and saved segments' membership files */
    int64_t ntag = 0, nmember = 0;
    if (!rc)
        rc = tb__meta_stmt(db, TB__STMT_CHECK_TAG_BUILDS,
                           "SELECT dir FROM tag_build WHERE current = 1 ORDER BY batch_date", &st);
    if (!rc) {
        while (sqlite3_step(st) == SQLITE_ROW) {
            char path[4096];
            snprintf(path, sizeof path, "%s/%s", tb_db_path(db),
                     (const char *)sqlite3_column_text(st, 0));
            tb__errbuf eb = {0};
            tb__tagset *ts = NULL;
            ntag++;
            if (tb__tagset_open_keys(path, tb__c2_ring(db), &ts, &eb) != 0 ||
                tb__tagset_verify(ts, &eb) != 0)
                problem(problems, "tags", eb.msg);
            tb__tagset_close(ts);
        }
        tb__meta_stmt_done(st);
        rc = tb__meta_stmt(db, TB__STMT_CHECK_SEG_MEMBERS,
                           "SELECT name, batch_date, file, customers FROM cseg_member ORDER BY "
                           "name, batch_date",
                           &st);
    }
    if (!rc) {
        while (sqlite3_step(st) == SQLITE_ROW) {
            char path[4096], *buf = NULL, msg[700];
            size_t len;
            snprintf(path, sizeof path, "%s/%s", tb_db_path(db),
                     (const char *)sqlite3_column_text(st, 2));
            tb__errbuf eb = {0};
            tb__bmv v;
            nmember++;
            if (tb__file_read_all(path, (size_t)1 << 34, &buf, &len, &eb) != 0 ||
                tb__bm_parse_safe(buf, len, 1, &v, NULL, &eb) != 0) {
                snprintf(msg, sizeof msg, "segment '%s' of %s: %s", sqlite3_column_text(st, 0),
                         sqlite3_column_text(st, 1), eb.msg);
                problem(problems, "segment members", msg);
            } else if ((int64_t)v.card != sqlite3_column_int64(st, 3)) {
                snprintf(msg, sizeof msg, "segment '%s' of %s: %llu members, the store says %lld",
                         sqlite3_column_text(st, 0), sqlite3_column_text(st, 1),
                         (unsigned long long)v.card, (long long)sqlite3_column_int64(st, 3));
                problem(problems, "segment members", msg);
            }
            free(buf);
        }
        tb__meta_stmt_done(st);
    }
    if (rc) {
        json_decref(problems);
        return rc;
    }
    int64_t nevrec = 0, nevdays = 0;
    tb__events_check(db, problems, &nevrec, &nevdays);
    json_t *doc =
        json_pack("{s:b, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:o}", "ok",
                  json_array_size(problems) == 0, "segments", (json_int_t)nseg, "snapshots",
                  (json_int_t)nsnap, "master_images", (json_int_t)nimage, "tag_builds",
                  (json_int_t)ntag, "segment_members", (json_int_t)nmember, "event_log_records",
                  (json_int_t)nevrec, "event_days", (json_int_t)nevdays, "problems", problems);
    *json_out = doc ? json_dumps(doc, JSON_INDENT(2)) : NULL;
    json_decref(doc);
    return *json_out ? 0 : tb__seterr(tb__db_err(db), TB_ENOMEM, "out of memory");
}
