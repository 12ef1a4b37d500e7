/* cmd_tagbuild.c — tagbase tag build: computes every online tag for a batch's snapshot. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

static const char usage[] = "build [--batch YYYYMMDD] [--threads N] [--json] [--data DIR]";

int tb__cmd_tag_build(int argc, char **argv)
{
    const char *data = NULL, *batch = NULL;
    int json = 0;
    uint64_t threads = 0;
    for (int i = 1; i < argc; i++) {
        int r = tb__cli_data_opt(argc, argv, &i, &data);
        if (r < 0) return tb__cli_usage("tag", usage);
        if (r > 0) continue;
        if (strcmp(argv[i], "--batch") == 0 && i + 1 < argc)
            batch = argv[++i];
        else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc) {
            if (tb__cli_parse_u64(argv[++i], 0, 64, &threads)) return tb__cli_usage("tag", usage);
        } else if (strcmp(argv[i], "--json") == 0)
            json = 1;
        else
            return tb__cli_usage("tag", usage);
    }
    if (batch && (strlen(batch) != 8 || strspn(batch, "0123456789") != 8))
        return tb__cli_fail("tag build", "--batch takes a date YYYYMMDD, not '%s'", batch);
    char err[512];
    tb_db *db;
    int rc = tb_db_open(data, 0, &db, err, sizeof err);
    if (rc) return tb__cli_fail("tag build", "%s", err);
    char *ans = NULL;
    rc = tb_tag_build(db, batch, (int)threads, &ans);
    if (rc) {
        tb__cli_fail("tag build", "%s", tb_errmsg(db));
        tb_db_close(db);
        return 1;
    }
    tb_db_close(db);
    if (json) {
        puts(ans);
        free(ans);
        return 0;
    }
    json_t *d = json_loads(ans, 0, NULL);
    free(ans);
    printf("built %lld tags for %lld customers of %s in %.1f s: %s, %.0f bytes per customer\n",
           (long long)json_integer_value(json_object_get(d, "tags")),
           (long long)json_integer_value(json_object_get(d, "customers")),
           json_string_value(json_object_get(d, "batch_date")),
           (double)json_integer_value(json_object_get(d, "millis")) / 1000.0,
           json_string_value(json_object_get(d, "dir")),
           json_real_value(json_object_get(d, "bytes_per_customer")));
    json_decref(d);
    return 0;
}
