/* cmd_audit.c — tagbase audit: verify the hash chain of the audit log (exit 1 when it is broken)
 * and list its records, newest first, filtered by actor and action. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli/cli.h"
#include "security/security.h"

static const char usage[] = "verify [--json] | list [--actor A] [--action X] [--limit N] [--json] "
                            "[--data DIR]";

static int verify(tb_db *db, int json)
{
    json_t *doc;
    if (tb__audit_verify(db, &doc)) return tb__cli_fail("audit", "%s", tb_errmsg(db));
    int ok = json_is_true(json_object_get(doc, "ok"));
    long long records = (long long)json_integer_value(json_object_get(doc, "records"));
    if (json) {
        json_dumpf(doc, stdout, JSON_COMPACT);
        putchar('\n');
    } else if (ok) {
        printf("audit chain intact: %lld records, head %s\n", records,
               json_string_value(json_object_get(doc, "head")));
    } else {
        printf("audit chain broken at seq %lld: %s\n",
               (long long)json_integer_value(json_object_get(doc, "broken_at")),
               json_string_value(json_object_get(doc, "reason")));
    }
    json_decref(doc);
    return ok ? 0 : 1;
}

static int list(tb_db *db, const char *actor, const char *action, uint64_t limit, int json)
{
    json_t *a;
    if (tb__audit_list(db, actor, action, (int64_t)limit, &a))
        return tb__cli_fail("audit", "%s", tb_errmsg(db));
    if (json) {
        json_dumpf(a, stdout, JSON_COMPACT);
        putchar('\n');
        json_decref(a);
        return 0;
    }
    size_t i;
    json_t *r;
    json_array_foreach(a, i, r)
    {
        json_t *d = json_object_get(r, "detail");
        char *dt = d && !json_is_null(d) ? json_dumps(d, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
        const char *object = json_string_value(json_object_get(r, "object"));
        printf("%6lld  %s  %-16s %-14s %-20s %-6s %s\n",
               (long long)json_integer_value(json_object_get(r, "seq")),
               json_string_value(json_object_get(r, "at")),
               json_string_value(json_object_get(r, "actor")),
               json_string_value(json_object_get(r, "action")), object ? object : "-",
               json_string_value(json_object_get(r, "outcome")), dt ? dt : "");
        free(dt);
    }
    json_decref(a);
    return 0;
}

int tb__cmd_audit(int argc, char **argv)
{
    const char *data = tb_default_data_dir(), *actor = NULL, *action = NULL, *verb = NULL;
    uint64_t limit = 100;
    int json = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int d = tb__cli_data_opt(argc, argv, &i, &data);
        if (d < 0) return tb__cli_usage("audit", usage);
        if (d) continue;
        if (strcmp(a, "--json") == 0)
            json = 1;
        else if (strcmp(a, "--actor") == 0 && i + 1 < argc)
            actor = argv[++i];
        else if (strcmp(a, "--action") == 0 && i + 1 < argc)
            action = argv[++i];
        else if (strcmp(a, "--limit") == 0 && i + 1 < argc) {
            if (tb__cli_parse_u64(argv[++i], 1, 10000, &limit))
                return tb__cli_fail("audit", "--limit must be 1 to 10000");
        } else if (!verb && a[0] != '-')
            verb = a;
        else
            return tb__cli_usage("audit", usage);
    }
    int is_verify = verb && strcmp(verb, "verify") == 0;
    if (!verb || (!is_verify && strcmp(verb, "list") != 0) || (is_verify && (actor || action)))
        return tb__cli_usage("audit", usage);
    char err[512];
    tb_db *db;
    if (tb_db_open(data, TB_OPEN_READONLY, &db, err, sizeof err))
        return tb__cli_fail("audit", "%s", err);
    int status = is_verify ? verify(db, json) : list(db, actor, action, limit, json);
    tb_db_close(db);
    return status;
}
