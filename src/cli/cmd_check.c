/* cmd_check.c — tagbase check: verify the data directory (thin; exit 1 when anything is wrong). */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

int tb__cmd_check(int argc, char **argv)
{
    const char *data = tb_default_data_dir();
    int json = 0;
    for (int i = 1; i < argc; i++) {
        int d = tb__cli_data_opt(argc, argv, &i, &data);
        if (d < 0) return tb__cli_usage("check", "[--data DIR] [--json]");
        if (d) continue;
        if (strcmp(argv[i], "--json") != 0) return tb__cli_usage("check", "[--data DIR] [--json]");
        json = 1;
    }
    char err[512];
    tb_db *db;
    if (tb_db_open(data, TB_OPEN_READONLY, &db, err, sizeof err))
        return tb__cli_fail("check", "%s", err);
    char *text = NULL;
    int status = 0;
    if (tb_check(db, &text)) {
        status = tb__cli_fail("check", "%s", tb_errmsg(db));
    } else {
        json_t *doc = json_loads(text, 0, NULL);
        int ok = json_is_true(json_object_get(doc, "ok"));
        if (json) {
            printf("%s\n", text);
        } else {
            size_t i;
            json_t *p;
            json_array_foreach(json_object_get(doc, "problems"), i, p)
                printf("%s: %s\n", json_string_value(json_object_get(p, "what")),
                       json_string_value(json_object_get(p, "detail")));
            printf("%s: %lld segments, %lld snapshots, %lld tag builds, %lld segment memberships "
                   "checked\n",
                   ok ? "ok" : "PROBLEMS",
                   (long long)json_integer_value(json_object_get(doc, "segments")),
                   (long long)json_integer_value(json_object_get(doc, "snapshots")),
                   (long long)json_integer_value(json_object_get(doc, "tag_builds")),
                   (long long)json_integer_value(json_object_get(doc, "segment_members")));
        }
        status = ok ? 0 : 1;
        json_decref(doc);
    }
    free(text);
    tb_db_close(db);
    return status;
}
