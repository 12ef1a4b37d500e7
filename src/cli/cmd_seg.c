/* cmd_seg.c — tagbase seg: find customers (搜客) with tag expressions and work with saved
 * segments (客群). Thin: parses arguments, calls tb_seg_* (tagbase.h), prints the answer. */
#include <jansson.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"

static const char usage[] =
    "count EXPR [--json-expr] [--as-of YYYYMMDD] [--threads N] [--json] [--data DIR]\n"
    "       tagbase seg save NAME EXPR [--json-expr] [--description TEXT] [--user NAME] [--json]\n"
    "       tagbase seg import NAME FILE [--description TEXT] [--user NAME] [--json]\n"
    "       tagbase seg list | show NAME | delete NAME [--json]\n"
    "       tagbase seg diff NAME [--as-of YYYYMMDD] [--sample N] [--json]\n"
    "       tagbase seg overlap A B [--as-of YYYYMMDD] [--json]\n"
    "       tagbase seg profile NAME|EXPR --by TAG [--as-of YYYYMMDD] [--json]\n"
    "       tagbase seg export NAME --out FILE [--fields F,...] [--unmasked] [--as-of YYYYMMDD]\n"
    "                              [--purpose P [--channel C]]   (only customers whose consent "
    "allows it)\n"
    "       (any of them: --scope org:ORG_ID | manager:MANAGER_ID, what that branch or customer\n"
    "        manager may see)";

typedef struct opts {
    const char *data, *as_of, *description, *user, *by, *out, *fields, *scope, *purpose, *channel;
    int json, json_expr, unmasked, threads;
    uint64_t sample;
    const char *pos[3];
    int npos;
} opts;

static const char *os_user(void)
{
    const char *u = getenv("TAGBASE_USER");
    if (u && *u) return u;
    struct passwd *pw = getpwuid(getuid());
    return pw ? pw->pw_name : "unknown";
}

/* Prints an answer: compact JSON with --json, else indented. */
static int print(const opts *o, char *text)
{
    if (o->json) {
        puts(text);
        free(text);
        return 0;
    }
    json_t *doc = json_loads(text, 0, NULL);
    free(text);
    if (!doc) return tb__cli_fail("seg", "cannot render the answer");
    json_dumpf(doc, stdout, JSON_INDENT(2));
    putchar('\n');
    json_decref(doc);
    return 0;
}

int tb__cmd_seg(int argc, char **argv)
{
    if (argc < 2) return tb__cli_usage("seg", usage);
    const char *verb = argv[1];
    opts o = {0};
    o.sample = 10;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        int r = tb__cli_data_opt(argc, argv, &i, &o.data);
        if (r < 0) return tb__cli_usage("seg", usage);
        if (r > 0) continue;
        const char **val = strcmp(a, "--as-of") == 0         ? &o.as_of
                           : strcmp(a, "--description") == 0 ? &o.description
                           : strcmp(a, "--user") == 0        ? &o.user
                           : strcmp(a, "--by") == 0          ? &o.by
                           : strcmp(a, "--out") == 0         ? &o.out
                           : strcmp(a, "--fields") == 0      ? &o.fields
                           : strcmp(a, "--scope") == 0       ? &o.scope
                           : strcmp(a, "--purpose") == 0     ? &o.purpose
                           : strcmp(a, "--channel") == 0     ? &o.channel
                                                             : NULL;
        if (val) {
            if (++i >= argc) return tb__cli_usage("seg", usage);
            *val = argv[i];
        } else if (strcmp(a, "--json") == 0)
            o.json = 1;
        else if (strcmp(a, "--json-expr") == 0)
            o.json_expr = 1;
        else if (strcmp(a, "--unmasked") == 0)
            o.unmasked = 1;
        else if (strcmp(a, "--threads") == 0 || strcmp(a, "--sample") == 0) {
            uint64_t v;
            if (++i >= argc || tb__cli_parse_u64(argv[i], 0, 1000000, &v) != 0)
                return tb__cli_usage("seg", usage);
            if (a[2] == 't')
                o.threads = (int)v;
            else
                o.sample = v;
        } else if (a[0] == '-' && a[1] == '-')
            return tb__cli_usage("seg", usage);
        else if (o.npos < 3)
            o.pos[o.npos++] = a;
        else
            return tb__cli_usage("seg", usage);
    }
    if (o.as_of && (strlen(o.as_of) != 8 || strspn(o.as_of, "0123456789") != 8))
        return tb__cli_fail("seg", "--as-of takes a batch date YYYYMMDD, not '%s'", o.as_of);
    int writes = strcmp(verb, "save") == 0 || strcmp(verb, "import") == 0 ||
                 strcmp(verb, "delete") == 0 || strcmp(verb, "count") == 0;
    int need =
        strcmp(verb, "count") == 0 || strcmp(verb, "show") == 0 || strcmp(verb, "delete") == 0 ||
                strcmp(verb, "diff") == 0 || strcmp(verb, "profile") == 0 ||
                strcmp(verb, "export") == 0
            ? 1
        : strcmp(verb, "save") == 0 || strcmp(verb, "import") == 0 || strcmp(verb, "overlap") == 0
            ? 2
        : strcmp(verb, "list") == 0 ? 0
                                    : -1;
    if (need < 0 || o.npos != need) return tb__cli_usage("seg", usage);
    if (strcmp(verb, "profile") == 0 && !o.by) return tb__cli_usage("seg", usage);
    if (strcmp(verb, "export") == 0 && !o.out) return tb__cli_usage("seg", usage);
    char err[512];
    tb_db *db;
    /* counting records tag usage when it can take the writer lock; it never waits for it */
    int rc = tb_db_open(o.data, writes ? 0 : TB_OPEN_READONLY, &db, err, sizeof err);
    if (rc == TB_EBUSY && strcmp(verb, "count") == 0)
        rc = tb_db_open(o.data, TB_OPEN_READONLY, &db, err, sizeof err);
    if (rc) return tb__cli_fail("seg", "%s", err);
    char *ans = NULL;
    tb_seg_opts so = {.as_of = o.as_of,
                      .is_json = o.json_expr,
                      .threads = o.threads,
                      .scope = TB_SCOPE_ALL,
                      .unmasked = o.unmasked,
                      .consent_purpose = o.purpose,
                      .consent_channel = o.channel};
    if (o.scope) {
        const char *colon = strchr(o.scope, ':');
        if (!colon || !colon[1]) {
            tb_db_close(db);
            return tb__cli_fail("seg", "--scope takes org:ID or manager:ID, not '%s'", o.scope);
        }
        so.scope = strncmp(o.scope, "org:", 4) == 0       ? TB_SCOPE_ORG
                   : strncmp(o.scope, "manager:", 8) == 0 ? TB_SCOPE_MANAGER
                                                          : TB_SCOPE_ALL;
        so.scope_id = colon + 1;
        if (so.scope == TB_SCOPE_ALL) {
            tb_db_close(db);
            return tb__cli_fail("seg", "--scope takes org:ID or manager:ID, not '%s'", o.scope);
        }
    }
    const char *user = o.user ? o.user : os_user();
    if (strcmp(verb, "count") == 0)
        rc = tb_seg_count(db, o.pos[0], &so, &ans);
    else if (strcmp(verb, "save") == 0)
        rc = tb_seg_save(db, o.pos[0], o.pos[1], &so, user, o.description, &ans);
    else if (strcmp(verb, "import") == 0)
        rc = tb_seg_import(db, o.pos[0], o.pos[1], user, o.description, &ans);
    else if (strcmp(verb, "list") == 0)
        rc = tb_seg_list(db, &ans);
    else if (strcmp(verb, "show") == 0)
        rc = tb_seg_show(db, o.pos[0], &ans);
    else if (strcmp(verb, "delete") == 0)
        rc = tb_seg_delete(db, o.pos[0], &ans);
    else if (strcmp(verb, "diff") == 0)
        rc = tb_seg_diff(db, o.pos[0], &so, o.sample, &ans);
    else if (strcmp(verb, "overlap") == 0)
        rc = tb_seg_overlap(db, o.pos[0], o.pos[1], &so, &ans);
    else if (strcmp(verb, "profile") == 0)
        rc = tb_seg_profile(db, o.pos[0], o.by, &so, &ans);
    else
        rc = tb_seg_export(db, o.pos[0], &so, o.fields, o.out, &ans);
    if (rc) {
        tb__cli_fail("seg", "%s", tb_errmsg(db));
        tb_db_close(db);
        return 1;
    }
    tb_db_close(db);
    if (strcmp(verb, "count") == 0 && !o.json) {
        json_t *doc = json_loads(ans, 0, NULL);
        free(ans);
        printf("%lld\n", (long long)json_integer_value(json_object_get(doc, "count")));
        json_decref(doc);
        return 0;
    }
    return print(&o, ans);
}
