/* cmd_pipeline.c — tagbase pipeline status: the five modules' counts, rejects and quality per
 * batch and file (thin: the library builds the JSON; this renders it). */
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

static const char usage[] = "status [--data DIR] [--batch YYYYMMDD] [--json]";

static long long num(json_t *o, const char *k)
{
    return (long long)json_integer_value(json_object_get(o, k));
}

static void print_status(json_t *doc)
{
    size_t i, k;
    json_t *b, *f;
    json_array_foreach(json_object_get(doc, "batches"), i, b)
    {
        json_t *snap = json_object_get(b, "snapshot");
        printf("batch %s", json_string_value(json_object_get(b, "batch_date")));
        if (json_is_object(snap)) {
            printf(": snapshot of %lld customers (load %lld)", num(snap, "customers"),
                   num(snap, "load_id"));
            const char *sd;
            json_t *n;
            const char *sep = " — ";
            json_object_foreach(json_object_get(snap, "subdomains"), sd, n)
            {
                printf("%s%s %lld", sep, sd, (long long)json_integer_value(n));
                sep = ", ";
            }
        }
        printf("\n  %-20s %-22s %10s %10s %10s %10s %10s %9s %7s\n", "file", "business type",
               "acquired", "aggregated", "transmitted", "allocated", "collected", "rejected",
               "quality");
        json_array_foreach(json_object_get(b, "files"), k, f)
        {
            json_t *m = json_object_get(f, "modules");
            printf("  %-20s %-22s %10lld %10lld %10lld %10lld %10lld %9lld %6.1f%%\n",
                   json_string_value(json_object_get(f, "file")),
                   json_string_value(json_object_get(f, "business_type")), num(m, "acquisition"),
                   num(m, "aggregation"), num(m, "transmission"), num(m, "allocation"),
                   num(m, "collection"), num(f, "rejected"),
                   json_real_value(json_object_get(json_object_get(f, "quality"), "score")));
            const char *err = json_string_value(json_object_get(f, "error"));
            if (err) printf("    rejected file: %s\n", err);
            const char *rule;
            json_t *fields;
            json_object_foreach(json_object_get(f, "rejected_by_rule"), rule, fields)
            {
                const char *field;
                json_t *n;
                json_object_foreach(fields, field, n)
                    printf("    %-20s %-20s %lld\n", rule, field, (long long)json_integer_value(n));
            }
        }
    }
}

int tb__cmd_pipeline(int argc, char **argv)
{
    const char *data = tb_default_data_dir(), *batch = NULL;
    int json = 0;
    if (argc < 2 || strcmp(argv[1], "status") != 0) return tb__cli_usage("pipeline", usage);
    for (int i = 2; i < argc; i++) {
        int d = tb__cli_data_opt(argc, argv, &i, &data);
        if (d < 0) return tb__cli_usage("pipeline", usage);
        if (d) continue;
        if (strcmp(argv[i], "--json") == 0)
            json = 1;
        else if (strcmp(argv[i], "--batch") == 0 && i + 1 < argc)
            batch = argv[++i];
        else
            return tb__cli_usage("pipeline", usage);
    }
    char err[512];
    tb_db *db;
    if (tb_db_open(data, TB_OPEN_READONLY, &db, err, sizeof err))
        return tb__cli_fail("pipeline", "%s", err);
    char *text = NULL;
    int status = 0;
    if (tb_pipeline_status(db, batch, &text)) {
        status = tb__cli_fail("pipeline", "%s", tb_errmsg(db));
    } else if (json) {
        printf("%s\n", text);
    } else {
        json_t *doc = json_loads(text, 0, NULL);
        print_status(doc);
        json_decref(doc);
    }
    free(text);
    tb_db_close(db);
    return status;
}
