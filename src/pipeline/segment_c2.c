/* segment_c2.c — re-sealing the business-data domain segments under another key (key rotation, and
 * the first encryption of a plaintext store: tb__domains_c2_reseal in segment.h). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/log.h"
#include "pipeline/load_int.h"
#include "pipeline/segment.h"
#include "store/crypt.h"
#include "store/meta.h"

/* Rewrites the segment at `path` under `to` (crash-safely: the old file stays until the new one is
 * complete), unless it is sealed under `to` already (*done 0). A registered segment that is gone
 * (removed by hand; `tagbase check` reports it) is skipped: it holds nothing to seal. */
static int reseal_one(tb_db *db, const char *path, const tb__c2key *to, int *done)
{
    tb__errbuf *eb = tb__db_err(db);
    tb__seg_reader *r = NULL;
    tb__seg_writer *w = NULL;
    tb__seg_flag flag;
    struct stat st;
    *done = 0;
    if (stat(path, &st) != 0 && errno == ENOENT) return 0;
    int rc = tb__seg_reader_open(path, tb__c2_ring(db), &r, &flag, eb);
    if (rc) return rc;
    if (tb__seg_reader_key(r) == to->id) {
        tb__seg_reader_close(r);
        return 0;
    }
    rc = tb__seg_writer_open(path, &flag, to, &w, eb);
    uint64_t line;
    uint32_t gid;
    const tb__field *f;
    size_t nf;
    while (!rc && (rc = tb__seg_read(r, &line, &gid, &f, &nf, eb)) == 1)
        rc = tb__seg_write(w, line, gid, f, nf, eb);
    if (!rc) {
        rc = tb__seg_writer_commit(w, eb);
        w = NULL;
        *done = rc == 0;
    }
    tb__seg_writer_abort(w);
    tb__seg_reader_close(r);
    return rc;
}

int tb__domains_c2_reseal(tb_db *db, const tb__c2key *to, uint64_t *files)
{
    if (files) *files = 0;
    /* Garbage of replaced or failed loads goes first: it would otherwise keep its old bytes. */
    int rc = tb__load_gc(db);
    if (rc) return rc;
    sqlite3_stmt *st;
    rc = sqlite3_prepare_v2(tb__db_sqlite(db), "SELECT path FROM segment ORDER BY path", -1, &st,
                            NULL);
    if (rc != SQLITE_OK) return tb__meta_seterr_sqlite(db, rc, "cannot list domain segments");
    char **paths = NULL;
    size_t n = 0;
    int s;
    while ((s = sqlite3_step(st)) == SQLITE_ROW) {
        char **p = realloc(paths, (n + 1) * sizeof *p);
        if (!p || !(p[n] = strdup((const char *)sqlite3_column_text(st, 0)))) {
            if (p) paths = p;
            rc = tb__seterr(tb__db_err(db), TB_ENOMEM, "out of memory");
            break;
        }
        paths = p;
        n++;
    }
    if (!rc && s != SQLITE_DONE) rc = tb__meta_seterr_sqlite(db, s, "cannot list domain segments");
    sqlite3_finalize(st);
    for (size_t i = 0; !rc && i < n; i++) {
        char path[4096];
        if (snprintf(path, sizeof path, "%s/%s", tb_db_path(db), paths[i]) >= (int)sizeof path) {
            rc = tb__seterr(tb__db_err(db), TB_ELIMIT, "segment path too long: '%s'", paths[i]);
            break;
        }
        int done;
        rc = reseal_one(db, path, to, &done);
        if (!rc && done && files) (*files)++;
    }
    /* The recorded sizes (which `tagbase check` compares) follow the files: every present file's,
     * so that a rotation run again after a crash also fixes those its first run rewrote. */
    st = NULL;
    if (!rc) rc = tb__meta_begin(db);
    if (!rc && (s = sqlite3_prepare_v2(tb__db_sqlite(db),
                                       "UPDATE segment SET bytes = ?2 WHERE path = ?1 AND "
                                       "bytes <> ?2",
                                       -1, &st, NULL)) != SQLITE_OK)
        rc = tb__meta_seterr_sqlite(db, s, "cannot record a segment's size");
    for (size_t i = 0; !rc && i < n; i++) {
        char path[4096];
        struct stat sb;
        snprintf(path, sizeof path, "%s/%s", tb_db_path(db), paths[i]);
        if (stat(path, &sb) != 0) continue;
        sqlite3_bind_text(st, 1, paths[i], -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, (sqlite3_int64)sb.st_size);
        s = sqlite3_step(st);
        sqlite3_reset(st);
        if (s != SQLITE_DONE) rc = tb__meta_seterr_sqlite(db, s, "cannot record a segment's size");
    }
    sqlite3_finalize(st);
    if (!rc)
        rc = tb__meta_commit(db);
    else
        tb__meta_rollback(db); /* a no-op when nothing is open */
    for (size_t i = 0; i < n; i++)
        free(paths[i]);
    free(paths);
    return rc;
}
