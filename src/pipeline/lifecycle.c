/* lifecycle.c — what happens to a load's files after the load: leftovers of failed loads removed,
 * replaced segments and snapshots removed, old batches retired by the retention settings. */
#define _XOPEN_SOURCE 700
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "pipeline/load_int.h"
#include "store/file.h"
#include "store/meta.h"

void tb__load_remove(tb_db *db, const char *rel)
{
    if (!rel || !*rel || strstr(rel, "..")) return;
    char path[4096];
    if (snprintf(path, sizeof path, "%s/%s", tb_db_path(db), rel) >= (int)sizeof path) return;
    tb__rm_tree(path);
    /* Empty parents up to the area's root go too (domains/<batch>/<load>/). */
    for (int up = 0; up < 2; up++) {
        char *slash = strrchr(path, '/');
        if (!slash) break;
        *slash = '\0';
        const char *base = strrchr(path, '/');
        base = base ? base + 1 : path;
        if (strcmp(base, "domains") == 0 || strcmp(base, "snapshots") == 0) break;
        if (rmdir(path) != 0) break; /* not empty: in use */
    }
}

/* 1 when `rel` is referenced by the query `sql` (one parameter: the path). */
static int referenced(tb_db *db, tb__stmt_id id, const char *sql, const char *rel, int *out)
{
    sqlite3_stmt *st;
    int rc = tb__meta_stmt(db, id, sql, &st);
    if (rc) return rc;
    sqlite3_bind_text(st, 1, rel, -1, SQLITE_TRANSIENT);
    int s = sqlite3_step(st);
    *out = s == SQLITE_ROW;
    tb__meta_stmt_done(st);
    return s == SQLITE_ROW || s == SQLITE_DONE ? 0 : tb__meta_seterr_sqlite(db, s, "gc");
}

/* Walks domains/<batch>/<load>/<file>.seg and snapshots/<dir>, removing what no row names. */
int tb__load_gc(tb_db *db)
{
    char root[4096], rel[4096];
    int rc = 0;
    snprintf(root, sizeof root, "%s/snapshots", tb_db_path(db));
    DIR *d = opendir(root);
    struct dirent *e;
    while (d && !rc && (e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        int used = 0;
        if (snprintf(rel, sizeof rel, "snapshots/%s", e->d_name) >= (int)sizeof rel) continue;
        rc = referenced(db, TB__STMT_LOAD_GC_SNAPSHOT, "SELECT 1 FROM snapshot WHERE dir = ?1", rel,
                        &used);
        if (!rc && !used) tb__load_remove(db, rel);
    }
    if (d) closedir(d);
    snprintf(root, sizeof root, "%s/domains", tb_db_path(db));
    DIR *batches = opendir(root);
    while (batches && !rc && (e = readdir(batches)) != NULL) {
        if (e->d_name[0] == '.') continue;
        char bdir[4096];
        if (snprintf(bdir, sizeof bdir, "%s/%s", root, e->d_name) >= (int)sizeof bdir) continue;
        DIR *loads = opendir(bdir);
        struct dirent *l;
        while (loads && !rc && (l = readdir(loads)) != NULL) {
            if (l->d_name[0] == '.') continue;
            char ldir[4096];
            if (snprintf(ldir, sizeof ldir, "%s/%s", bdir, l->d_name) >= (int)sizeof ldir) continue;
            DIR *files = opendir(ldir);
            struct dirent *f;
            while (files && !rc && (f = readdir(files)) != NULL) {
                if (f->d_name[0] == '.') continue;
                int used = 0;
                if (snprintf(rel, sizeof rel, "domains/%s/%s/%s", e->d_name, l->d_name,
                             f->d_name) >= (int)sizeof rel)
                    continue;
                rc = referenced(db, TB__STMT_LOAD_GC_SEGMENT,
                                "SELECT 1 FROM segment WHERE path = ?1", rel, &used);
                if (!rc && !used) tb__load_remove(db, rel);
            }
            if (files) closedir(files);
            rmdir(ldir); /* when empty */
        }
        if (loads) closedir(loads);
        rmdir(bdir);
    }
    if (batches) closedir(batches);
    return rc;
}

static long setting_long(tb_db *db, const char *key, long dflt)
{
    char *v = NULL;
    long n = dflt;
    if (tb_db_get_setting(db, key, &v) == 0 && v) {
        char *end;
        long x = strtol(v, &end, 10);
        if (*v && !*end && x >= 0)
            n = x;
        else
            tb__log_warn("load", "setting %s='%s' is not a whole number: using %ld", key, v, dflt);
    }
    free(v);
    return n;
}

void tb__load_retention(tb_db *db)
{
    long days = setting_long(db, "pipeline.retention_days", 90);
    long keep = setting_long(db, "pipeline.snapshot_keep", 7);
    sqlite3_stmt *st;
    int rc = tb__meta_begin(db);
    if (rc) goto out_log;
    /* Batches are yyyyMMdd: julianday() of the ISO form gives the age in days. */
    rc = tb__meta_stmt(db, TB__STMT_LOAD_RETIRE_SEGMENTS,
                       "DELETE FROM segment WHERE julianday(substr(batch_date, 1, 4) || '-' || "
                       "substr(batch_date, 5, 2) || '-' || substr(batch_date, 7, 2)) < (SELECT "
                       "julianday(substr(max(batch_date), 1, 4) || '-' || substr(max(batch_date), "
                       "5, 2) || '-' || substr(max(batch_date), 7, 2)) FROM segment) - ?1",
                       &st);
    if (rc) goto out_rollback;
    sqlite3_bind_int64(st, 1, days);
    if ((rc = tb__meta_run(db, st, "cannot retire segments")) != 0) goto out_rollback;
    rc = tb__meta_stmt(db, TB__STMT_LOAD_RETIRE_QUARANTINE,
                       "DELETE FROM quarantine WHERE julianday(substr(batch_date, 1, 4) || '-' || "
                       "substr(batch_date, 5, 2) || '-' || substr(batch_date, 7, 2)) < (SELECT "
                       "julianday(substr(max(batch_date), 1, 4) || '-' || substr(max(batch_date), "
                       "5, 2) || '-' || substr(max(batch_date), 7, 2)) FROM load) - ?1",
                       &st);
    if (rc) goto out_rollback;
    sqlite3_bind_int64(st, 1, days);
    if ((rc = tb__meta_run(db, st, "cannot retire quarantined rows")) != 0) goto out_rollback;
    rc = tb__meta_stmt(db, TB__STMT_LOAD_RETIRE_SNAPSHOTS,
                       "DELETE FROM snapshot WHERE batch_date NOT IN (SELECT batch_date FROM "
                       "snapshot ORDER BY batch_date DESC LIMIT ?1)",
                       &st);
    if (rc) goto out_rollback;
    sqlite3_bind_int64(st, 1, keep > 0 ? keep : 1);
    if ((rc = tb__meta_run(db, st, "cannot retire snapshots")) != 0) goto out_rollback;
    rc = tb__meta_commit(db);
    if (!rc) rc = tb__load_gc(db); /* the files of what was just retired */
    if (!rc) return;
    goto out_log;
out_rollback:
    tb__meta_rollback(db);
out_log:
    tb__log_warn("load", "retention: %s", tb_errmsg(db));
}
