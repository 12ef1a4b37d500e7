/* cmd_scan.c — tagbase scan: read a batch directory of extracts, count it, record it. */
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

static const char usage[] = "[--data DIR] [--json] BATCH_DIR";

static void print_table(const tb_inventory *inv, const char *dir)
{
    uint64_t rows = 0, bytes = 0;
    printf("batch %s from '%s'\n", tb_inventory_batch(inv), dir);
    printf("  %-20s %-22s %-9s %10s %9s %12s  %s\n", "file", "business type", "kind", "rows",
           "bad width", "bytes", "check");
    for (size_t i = 0; i < tb_inventory_nfiles(inv); i++) {
        uint64_t r = tb_inventory_file_rows(inv, i);
        rows += r;
        bytes += tb_inventory_file_bytes(inv, i);
        printf("  %-20s %-22s %-9s %10llu %9llu %12llu  %s\n", tb_inventory_file_name(inv, i),
               tb_inventory_file_type(inv, i), tb_inventory_file_kind(inv, i),
               (unsigned long long)r, (unsigned long long)tb_inventory_file_bad_width(inv, i),
               (unsigned long long)tb_inventory_file_bytes(inv, i),
               tb_inventory_file_check(inv, i));
    }
    printf("  %zu files, %llu rows, %.1f MB\n", tb_inventory_nfiles(inv), (unsigned long long)rows,
           (double)bytes / 1e6);
}

static int print_json(const tb_inventory *inv, const char *dir)
{
    json_t *files = json_array();
    json_t *doc = json_pack("{s:s, s:s%, s:o}", "batch_date", tb_inventory_batch(inv), "dir", dir,
                            strlen(dir), "files", files);
    for (size_t i = 0; doc && i < tb_inventory_nfiles(inv); i++) {
        json_t *f = json_pack(
            "{s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:s}", "name", tb_inventory_file_name(inv, i),
            "business_type", tb_inventory_file_type(inv, i), "kind", tb_inventory_file_kind(inv, i),
            "rows", (json_int_t)tb_inventory_file_rows(inv, i), "expected_rows",
            (json_int_t)tb_inventory_file_expected_rows(inv, i), "bad_width",
            (json_int_t)tb_inventory_file_bad_width(inv, i), "bytes",
            (json_int_t)tb_inventory_file_bytes(inv, i), "check", tb_inventory_file_check(inv, i));
        if (!f || json_array_append_new(files, f) != 0) {
            json_decref(doc);
            doc = NULL;
        }
    }
    /* json_pack refuses text that is not UTF-8 (a directory name, say): say so, print nothing. */
    if (!doc) return tb__cli_fail("scan", "cannot render the result as JSON (non-UTF-8 path?)");
    int rc = json_dumpf(doc, stdout, JSON_INDENT(2)) == 0 && fputc('\n', stdout) != EOF ? 0 : 1;
    json_decref(doc);
    return rc;
}

int tb__cmd_scan(int argc, char **argv)
{
    const char *data = tb_default_data_dir(), *dir = NULL;
    int json = 0;
    for (int i = 1; i < argc; i++) {
        int d = tb__cli_data_opt(argc, argv, &i, &data);
        if (d < 0) return tb__cli_usage("scan", usage);
        if (d) continue;
        if (strcmp(argv[i], "--json") == 0) {
            json = 1;
        } else if (strcmp(argv[i], "--help") == 0) {
            printf("usage: tagbase scan %s\n", usage);
            return 0;
        } else if (argv[i][0] == '-' || dir) {
            return tb__cli_usage("scan", usage);
        } else {
            dir = argv[i];
        }
    }
    if (!dir) return tb__cli_usage("scan", usage);

    char err[512];
    tb_db *db;
    /* No TB_OPEN_CREATE: a mistyped --data must not start a new, empty data directory. */
    int rc = tb_db_open(data, 0, &db, err, sizeof err);
    if (rc) return tb__cli_fail("scan", "%s", err);
    tb_inventory *inv;
    rc = tb_inventory_scan(db, dir, &inv);
    if (rc) {
        tb__cli_fail("scan", "%s", tb_errmsg(db));
        tb_db_close(db);
        return 1;
    }
    int status = 0;
    for (size_t i = 0; i < tb_inventory_nfiles(inv); i++)
        if (strcmp(tb_inventory_file_check(inv, i), "ok") != 0) status = 1;
    if (json) {
        if (print_json(inv, dir)) status = 1;
    } else {
        print_table(inv, dir);
    }
    if (status)
        fprintf(stderr, "tagbase scan: some files differ from their manifest "
                        "(truncated or replaced?)\n");
    tb_inventory_free(inv);
    tb_db_close(db);
    return status;
}
