/* rekey.c — key rotation of the sealed files of every store (rekey.h). */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "pipeline/segment.h"
#include "security/rekey.h"
#include "store/meta.h"
#include "store/snapshot.h"
#include "tags/tagstore.h"

/* The distinct directories named by `sql` (one text column, relative to the data directory)
 * that exist on disk; caller frees each and the array. */
static int list_dirs(tb_db *db, const char *sql, char ***out, size_t *n)
{
    *out = NULL;
    *n = 0;
    sqlite3_stmt *st;
    int s = sqlite3_prepare_v2(tb__db_sqlite(db), sql, -1, &st, NULL);
    if (s != SQLITE_OK) return tb__meta_seterr_sqlite(db, s, "cannot list the stores to re-seal");
    int rc = 0;
    while ((s = sqlite3_step(st)) == SQLITE_ROW) {
        char path[4096];
        struct stat sb;
        if (snprintf(path, sizeof path, "%s/%s", tb_db_path(db),
                     (const char *)sqlite3_column_text(st, 0)) >= (int)sizeof path ||
            stat(path, &sb) != 0 || !S_ISDIR(sb.st_mode))
            continue;
        char **a = realloc(*out, (*n + 1) * sizeof *a);
        if (!a || !(a[*n] = strdup(path))) {
            if (a) *out = a;
            rc = tb__seterr(tb__db_err(db), TB_ENOMEM, "out of memory");
            break;
        }
        *out = a;
        (*n)++;
    }
    if (!rc && s != SQLITE_DONE) rc = tb__meta_seterr_sqlite(db, s, "cannot list the stores");
    sqlite3_finalize(st);
    return rc;
}

static void free_dirs(char **d, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(d[i]);
    free(d);
}

int tb__files_c2_reseal(tb_db *db, const tb__c2key *to, tb__reseal_counts *n)
{
    tb__reseal_counts c = {0};
    int rc = tb__domains_c2_reseal(db, to, &c.segments);
    char **dirs = NULL;
    size_t nd = 0;
    if (!rc) rc = list_dirs(db, "SELECT DISTINCT dir FROM snapshot ORDER BY dir", &dirs, &nd);
    for (size_t i = 0; !rc && i < nd; i++)
        rc = tb__snap_c2_reseal(dirs[i], tb__c2_ring(db), to, &c.snapshot_files, tb__db_err(db));
    free_dirs(dirs, nd);
    dirs = NULL;
    nd = 0;
    if (!rc) rc = list_dirs(db, "SELECT DISTINCT dir FROM tag_build ORDER BY dir", &dirs, &nd);
    for (size_t i = 0; !rc && i < nd; i++)
        rc = tb__tagset_c2_reseal(dirs[i], tb__c2_ring(db), to, &c.tag_files, tb__db_err(db));
    free_dirs(dirs, nd);
    if (n) *n = c;
    return rc;
}
