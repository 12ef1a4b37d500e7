/* cmd_alert.c — tagbase alert: the abnormal-access alerts (list) and clearing the block an alert
 * put on a user (clear, needs user.admin). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli/cli.h"
#include "security/security.h"

static const char usage[] = "list [--limit N] [--json] | clear USER [--user NAME] [--data DIR]";

int tb__cmd_alert(int argc, char **argv)
{
    const char *data = tb_default_data_dir(), *user = NULL, *pos[2] = {0};
    int json = 0, npos = 0;
    uint64_t limit = 100;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int d = tb__cli_data_opt(argc, argv, &i, &data);
        if (d < 0) return tb__cli_usage("alert", usage);
        if (d) continue;
        if (strcmp(a, "--user") == 0 && i + 1 < argc) {
            user = argv[++i];
        } else if (strcmp(a, "--limit") == 0 && i + 1 < argc) {
            if (tb__cli_parse_u64(argv[++i], 1, 10000, &limit))
                return tb__cli_usage("alert", usage);
        } else if (strcmp(a, "--json") == 0) {
            json = 1;
        } else if ((a[0] == '-' && a[1]) || npos == 2) {
            return tb__cli_usage("alert", usage);
        } else {
            pos[npos++] = a;
        }
    }
    int clear = npos == 2 && strcmp(pos[0], "clear") == 0;
    if (!clear && !(npos == 1 && strcmp(pos[0], "list") == 0)) return tb__cli_usage("alert", usage);
    tb_db *db;
    char err[512];
    if (tb_db_open(data, clear ? 0 : TB_OPEN_READONLY, &db, err, sizeof err))
        return tb__cli_fail("alert", "%s", err);
    int status = 0;
    if (clear) {
        tb__principal who;
        int rc = tb__cli_principal(db, user, &who);
        if (!rc) rc = tb__user_unblock(db, &who, "cli", pos[1]);
        if (rc)
            status = tb__cli_fail("alert", "%s", tb_errmsg(db));
        else
            printf("user '%s' unblocked\n", pos[1]);
        tb_db_close(db);
        return status;
    }
    json_t *a;
    if (tb__alert_list(db, (int64_t)limit, &a)) {
        status = tb__cli_fail("alert", "%s", tb_errmsg(db));
    } else if (json) {
        json_dumpf(a, stdout, JSON_COMPACT);
        putchar('\n');
        json_decref(a);
    } else {
        printf("%-6s %-19s %-16s %-9s %-7s %-7s %s\n", "SEQ", "AT", "USER", "KIND", "COUNT",
               "WINDOW", "NOW");
        size_t i;
        json_t *r;
        json_array_foreach(a, i, r)
        {
            const char *u = json_string_value(json_object_get(r, "user"));
            printf("%-6lld %-19s %-16s %-9s %-7lld %-7s %s\n",
                   (long long)json_integer_value(json_object_get(r, "seq")),
                   json_string_value(json_object_get(r, "at")), u ? u : "-",
                   json_string_value(json_object_get(r, "kind")),
                   (long long)json_integer_value(json_object_get(r, "count")),
                   json_string_value(json_object_get(r, "window")),
                   json_is_string(json_object_get(r, "blocked")) ? "user blocked" : "user active");
        }
        json_decref(a);
    }
    tb_db_close(db);
    return status;
}
