/* cmd_explain.c — tagbase explain: where a customer's profile values came from (thin). */
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

static const char usage[] = "[--data DIR] [--batch YYYYMMDD] [--json] CUSTOMER [ATTRIBUTE]";

static void print_explain(json_t *doc)
{
    printf("customer %lld, snapshot %s\n",
           (long long)json_integer_value(json_object_get(doc, "gid")),
           json_string_value(json_object_get(doc, "batch_date")));
    size_t i, k;
    json_t *a, *s;
    json_array_foreach(json_object_get(doc, "attributes"), i, a)
    {
        json_t *v = json_object_get(a, "value");
        char *val = json_is_null(v) ? NULL : json_dumps(v, JSON_ENCODE_ANY);
        json_t *def = json_object_get(a, "definition");
        printf("  %-22s %-16s %s.%s\n", json_string_value(json_object_get(a, "attribute")),
               val ? val : "NULL", json_string_value(json_object_get(def, "business_type")),
               json_string_value(json_object_get(def, "field")));
        free(val);
        json_array_foreach(json_object_get(a, "sources"), k, s)
        {
            json_t *f = json_object_get(s, "flag");
            printf("      %s/%s/%s batch %s load %lld: %s, %lld row%s, lines",
                   json_string_value(json_object_get(f, "business_type")),
                   json_string_value(json_object_get(f, "kind")),
                   json_string_value(json_object_get(f, "source_system")),
                   json_string_value(json_object_get(f, "batch_date")),
                   (long long)json_integer_value(json_object_get(f, "load_id")),
                   json_string_value(json_object_get(s, "file")),
                   (long long)json_integer_value(json_object_get(s, "rows")),
                   json_integer_value(json_object_get(s, "rows")) == 1 ? "" : "s");
            size_t j;
            json_t *l;
            json_array_foreach(json_object_get(s, "lines"), j, l)
                printf(" %lld", (long long)json_integer_value(l));
            printf("\n");
        }
    }
}

int tb__cmd_explain(int argc, char **argv)
{
    const char *data = tb_default_data_dir(), *batch = NULL, *who = NULL, *attr = NULL;
    int json = 0;
    for (int i = 1; i < argc; i++) {
        int d = tb__cli_data_opt(argc, argv, &i, &data);
        if (d < 0) return tb__cli_usage("explain", usage);
        if (d) continue;
        if (strcmp(argv[i], "--json") == 0)
            json = 1;
        else if (strcmp(argv[i], "--batch") == 0 && i + 1 < argc)
            batch = argv[++i];
        else if (argv[i][0] == '-')
            return tb__cli_usage("explain", usage);
        else if (!who)
            who = argv[i];
        else if (!attr)
            attr = argv[i];
        else
            return tb__cli_usage("explain", usage);
    }
    if (!who) return tb__cli_usage("explain", usage);
    char err[512];
    tb_db *db;
    if (tb_db_open(data, TB_OPEN_READONLY, &db, err, sizeof err))
        return tb__cli_fail("explain", "%s", err);
    char *text = NULL;
    int status = 0;
    if (tb_explain(db, who, attr, batch, &text)) {
        status = tb__cli_fail("explain", "%s", tb_errmsg(db));
    } else if (json) {
        printf("%s\n", text);
    } else {
        json_t *doc = json_loads(text, 0, NULL);
        print_explain(doc);
        json_decref(doc);
    }
    free(text);
    tb_db_close(db);
    return status;
}
