/* cmd_load.c — tagbase load: extracts through the five-module pipeline (thin: options, progress,
 * rendering the library's JSON summary). */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"

static const char usage[] =
    "[--data DIR] [--batch YYYYMMDD] [--business TYPE --kind KIND] [--encoding ENC] "
    "[--null TOKEN] [--json] MANIFEST_OR_DIR_OR_FILE...";

static void show_progress(const tb_load_progress *p, void *arg)
{
    (void)arg;
    double mbs = p->elapsed > 0 ? (double)p->bytes_done / 1e6 / p->elapsed : 0;
    double left = mbs > 0 && p->bytes_total > p->bytes_done
                      ? (double)(p->bytes_total - p->bytes_done) / 1e6 / mbs
                      : 0;
    fprintf(stderr, "\r  %-22.22s %12llu rows  %7.1f MB/s  %5.0f s left ", p->file,
            (unsigned long long)p->rows, mbs, left);
}

static void print_summary(json_t *doc)
{
    json_t *files = json_object_get(doc, "files");
    printf("batch %s, load %lld (data standards version %lld)\n",
           json_string_value(json_object_get(doc, "batch_date")),
           (long long)json_integer_value(json_object_get(doc, "load_id")),
           (long long)json_integer_value(json_object_get(doc, "standard_version")));
    printf("  %-20s %-22s %10s %10s %9s %10s %10s\n", "file", "business type", "acquired", "valid",
           "rejected", "allocated", "collected");
    size_t i;
    json_t *f;
    json_array_foreach(files, i, f)
    {
        printf("  %-20s %-22s %10lld %10lld %9lld %10lld %10lld\n",
               json_string_value(json_object_get(f, "file")),
               json_string_value(json_object_get(f, "business_type")),
               (long long)json_integer_value(json_object_get(f, "acquired")),
               (long long)json_integer_value(json_object_get(f, "valid")),
               (long long)json_integer_value(json_object_get(f, "rejected")),
               (long long)json_integer_value(json_object_get(f, "allocated")),
               (long long)json_integer_value(json_object_get(f, "collected")));
        const char *err = json_string_value(json_object_get(f, "error"));
        if (err) printf("    rejected file: %s\n", err);
    }
    double secs = json_real_value(json_object_get(doc, "seconds"));
    double mb = (double)json_integer_value(json_object_get(doc, "bytes")) / 1e6;
    printf("  %lld rows, %.1f MB in %.1f s (%.0f MB/s, %.0f rows/s); %lld golden records in "
           "snapshot %s\n",
           (long long)json_integer_value(json_object_get(doc, "rows")), mb, secs,
           secs > 0 ? mb / secs : 0,
           secs > 0 ? (double)json_integer_value(json_object_get(doc, "rows")) / secs : 0,
           (long long)json_integer_value(json_object_get(doc, "customers")),
           json_string_value(json_object_get(doc, "snapshot")));
}

int tb__cmd_load(int argc, char **argv)
{
    const char *data = tb_default_data_dir();
    tb_load_opts o = {0};
    const char **inputs = calloc((size_t)argc, sizeof *inputs);
    int json = 0;
    if (!inputs) return tb__cli_fail("load", "out of memory");
    for (int i = 1; i < argc; i++) {
        int d = tb__cli_data_opt(argc, argv, &i, &data);
        const char *a = argv[i];
        if (d < 0) goto out_usage;
        if (d) continue;
        int more = i + 1 < argc;
        if (strcmp(a, "--json") == 0) {
            json = 1;
        } else if (strcmp(a, "--batch") == 0 && more) {
            uint64_t v;
            if (tb__cli_parse_u64(argv[++i], 19000101, 21991231, &v) || !tb_valid_date((int)v)) {
                free(inputs);
                return tb__cli_fail("load", "--batch expects a date YYYYMMDD, got '%s'", argv[i]);
            }
            o.batch_date = (int)v;
        } else if (strcmp(a, "--business") == 0 && more) {
            o.business_type = argv[++i];
        } else if (strcmp(a, "--kind") == 0 && more) {
            o.kind = argv[++i];
        } else if (strcmp(a, "--encoding") == 0 && more) {
            o.encoding = argv[++i];
        } else if (strcmp(a, "--null") == 0 && more) {
            o.null_token = argv[++i];
        } else if (strcmp(a, "--help") == 0) {
            printf("usage: tagbase load %s\n", usage);
            free(inputs);
            return 0;
        } else if (a[0] == '-') {
            goto out_usage;
        } else {
            inputs[o.ninputs++] = a;
        }
    }
    if (o.ninputs == 0) goto out_usage;
    o.inputs = inputs;
    int tty = isatty(STDERR_FILENO);
    if (tty) o.progress = show_progress;

    char err[512];
    tb_db *db;
    int rc = tb_db_open(data, 0, &db, err, sizeof err);
    if (rc) {
        free(inputs);
        return tb__cli_fail("load", "%s", err);
    }
    char *text = NULL;
    rc = tb_load(db, &o, &text);
    if (tty && o.progress) fprintf(stderr, "\r%80s\r", "");
    int status = 0;
    if (text) {
        if (json) {
            printf("%s\n", text);
        } else {
            json_t *doc = json_loads(text, 0, NULL);
            if (doc) print_summary(doc);
            json_decref(doc);
        }
    }
    if (rc) status = tb__cli_fail("load", "%s", tb_errmsg(db));
    free(text);
    tb_db_close(db);
    free(inputs);
    return status;

out_usage:
    free(inputs);
    return tb__cli_usage("load", usage);
}
