/* cmd_status.c — tagbase status: the data directory, its versions, its writer and its batches. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "cli/cli.h"
#include "store/crypt.h"

static const char usage[] = "[--data DIR] [--json]";

/* Text output: one line per batch under a header. */
static int print_batch(const tb_db_batch *b, void *arg)
{
    int *n = arg;
    if ((*n)++ == 0)
        printf("batches:\n  %-10s %7s %12s  %s\n", "date", "files", "rows", "scanned at");
    printf("  %-10s %7" PRId64 " %12" PRId64 "  %s\n", b->batch_date, b->files, b->rows,
           b->scanned_at);
    return 0;
}

/* JSON output: appends one object per batch; a failed allocation stops the walk. */
static int json_batch(const tb_db_batch *b, void *arg)
{
    json_t *o = json_pack("{s:s, s:s, s:s, s:I, s:I}", "batch_date", b->batch_date, "source_dir",
                          b->source_dir, "scanned_at", b->scanned_at, "files", (json_int_t)b->files,
                          "rows", (json_int_t)b->rows);
    if (!o || json_array_append_new(arg, o) != 0) return TB_ENOMEM;
    return 0;
}

/* Renders the status as one JSON document on stdout, for scripts and the e2e tests. */
static int print_json(tb_db *db, const tb_db_info *info)
{
    json_t *batches = json_array();
    if (!batches) return tb__cli_fail("status", "out of memory");
    int rc = tb_db_list_batches(db, json_batch, batches);
    if (rc) {
        json_decref(batches);
        return tb__cli_fail("status", "%s", rc == TB_ENOMEM ? "out of memory" : tb_errmsg(db));
    }
    /* lock_pid is null when nobody holds the lock or the holder did not say who it is. */
    json_t *lock = info->lock_held && info->lock_pid ? json_integer(info->lock_pid) : json_null();
    tb__c2_info c2;
    (void)tb__c2_info_get(db, &c2);
    const char *kf = tb__c2_key_file();
    json_t *enc = json_pack("{s:b, s:o, s:o, s:b, s:i}", "encrypted", c2.encrypted, "key_id",
                            c2.encrypted ? json_integer(c2.key_id) : json_null(), "key_file",
                            kf ? json_string(kf) : json_null(), "pending", c2.pending,
                            "retired_keys", c2.retired);
    json_t *doc =
        json_pack("{s:s, s:i, s:i, s:b, s:o, s:o, s:o}", "path", tb_db_path(db), "format_version",
                  info->format_version, "schema_version", info->schema_version, "locked",
                  info->lock_held, "lock_pid", lock, "batches", batches, "encryption", enc);
    if (!doc) return tb__cli_fail("status", "out of memory"); /* "o" consumed both on failure */
    rc = json_dumpf(doc, stdout, JSON_INDENT(2)) == 0 && fputc('\n', stdout) != EOF ? 0 : 1;
    json_decref(doc);
    return rc ? tb__cli_fail("status", "cannot write output") : 0;
}

/* Opens the directory read-only: status must work while a load holds the writer lock, and must
 * never change anything (not even apply migrations). */
int tb__cmd_status(int argc, char **argv)
{
    const char *dir = NULL;
    int json = 0;
    for (int i = 1; i < argc; i++) {
        int r = tb__cli_data_opt(argc, argv, &i, &dir);
        if (r < 0) return tb__cli_usage("status", usage);
        if (r > 0) continue;
        if (strcmp(argv[i], "--json") == 0) {
            json = 1;
        } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            printf("usage: tagbase status %s\n\nShows the data directory, its format and schema "
                   "versions, the process holding its writer lock, and the recorded batches.\n",
                   usage);
            return 0;
        } else {
            return tb__cli_usage("status", usage);
        }
    }
    if (!dir) dir = tb_default_data_dir();

    char err[512];
    tb_db *db;
    int rc = tb_db_open(dir, TB_OPEN_READONLY, &db, err, sizeof err);
    if (rc) return tb__cli_fail("status", "%s", err);

    int status = 0;
    tb_db_info info;
    rc = tb_db_get_info(db, &info);
    if (rc) {
        status = tb__cli_fail("status", "%s", tb_errmsg(db));
        goto out_close;
    }
    if (json) {
        status = print_json(db, &info);
        goto out_close;
    }

    printf("data directory: %s\n", tb_db_path(db));
    printf("format version: %d\n", info.format_version);
    printf("schema version: %d\n", info.schema_version);
    if (!info.lock_held)
        printf("writer lock:    free\n");
    else if (info.lock_pid)
        printf("writer lock:    held by pid %ld\n", info.lock_pid);
    else
        printf("writer lock:    held (pid unknown)\n");
    /* Loud on purpose: a store without encryption at rest keeps names, ID numbers and mobiles in
     * clear in meta.db (docs/security.md, "Encryption at rest"). */
    tb__c2_info c2;
    (void)tb__c2_info_get(db, &c2);
    if (c2.encrypted)
        printf("encryption:     C2 fields encrypted at rest with key %u (key file %s)\n", c2.key_id,
               tb__c2_key_file() ? tb__c2_key_file() : "?");
    else if (c2.pending)
        printf("encryption:     OFF - C2 fields (names, ID numbers, mobiles, addresses) are in "
               "clear; a key file is given: run 'tagbase key rotate' to encrypt them\n");
    else
        printf("encryption:     OFF - C2 fields (names, ID numbers, mobiles, addresses) are in "
               "clear: no key file (--key-file, TAGBASE_KEY_FILE; docs/security.md)\n");
    int n = 0;
    rc = tb_db_list_batches(db, print_batch, &n);
    if (rc) {
        status = tb__cli_fail("status", "%s", tb_errmsg(db));
        goto out_close;
    }
    if (n == 0) printf("batches:        none\n");

out_close:
    tb_db_close(db);
    return status;
}
