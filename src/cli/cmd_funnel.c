/* cmd_funnel.c — event analysis on the command line: tagbase funnel, paths, retention and evstat
 * (counts and trends). Thin: builds the JSON spec of tb_ev_* (tagbase.h; docs/events.md,
 * "Analysis") from the arguments (or takes it whole with --spec), calls it, prints the answer. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

static const char usage_funnel[] =
    "STEP STEP... [--window 1d|12h|30m|SECONDS] [--from YYYY-MM-DD] [--to YYYY-MM-DD]\n"
    "       [--by-tag TAG | --by-segment NAME ...] [--save NAME --save-step K [--dropped]]\n"
    "       [--spec JSON] [--scope org:ID|manager:ID] [--as-of YYYYMMDD] [--threads N] [--json]\n"
    "       STEP: an event name, or NAME:PROP=VALUE[,PROP=VALUE...] (VALUE as JSON when it is,\n"
    "       else a string)";
static const char usage_paths[] =
    "EVENT [--previous] [--depth N] [--top K] [--from D] [--to D] [--spec JSON] [--json]";
static const char usage_ret[] =
    "START_EVENT RETURN_EVENT [--days N] [--from D] [--to D] [--spec JSON] [--json]";
static const char usage_stat[] =
    "[EVENT...] [--hour] [--property PROP] [--by-tag TAG | --by-segment NAME ...] [--from D]\n"
    "       [--to D] [--spec JSON] [--json]";

/* A step argument: "name" or "name:p=v,q=w". */
static json_t *step_arg(const char *a)
{
    const char *colon = strchr(a, ':');
    if (!colon) return json_string(a);
    json_t *st = json_pack("{s:s%}", "event", a, (size_t)(colon - a));
    json_t *where = json_object();
    char *conds = strdup(colon + 1), *save = NULL;
    for (char *c = strtok_r(conds, ",", &save); c; c = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(c, '=');
        if (!eq || eq == c) {
            free(conds);
            json_decref(where);
            json_decref(st);
            return NULL;
        }
        *eq = 0;
        json_t *v = json_loads(eq + 1, JSON_DECODE_ANY, NULL);
        if (!v || json_is_object(v) || json_is_array(v)) {
            json_decref(v);
            v = json_string(eq + 1);
        }
        json_object_set_new(where, c, v);
    }
    free(conds);
    json_object_set_new(st, "where", where);
    return st;
}

static int parse_scope(const char *cmd, const char *scope, tb_seg_opts *so)
{
    if (!scope) return 0;
    const char *colon = strchr(scope, ':');
    so->scope = !colon || !colon[1]                  ? TB_SCOPE_ALL
                : strncmp(scope, "org:", 4) == 0     ? TB_SCOPE_ORG
                : strncmp(scope, "manager:", 8) == 0 ? TB_SCOPE_MANAGER
                                                     : TB_SCOPE_ALL;
    if (so->scope == TB_SCOPE_ALL)
        return tb__cli_fail(cmd, "--scope takes org:ID or manager:ID, not '%s'", scope);
    so->scope_id = colon + 1;
    return 0;
}

static int run(const char *cmd, const char *usage, int argc, char **argv)
{
    const char *data = NULL, *spec = NULL, *scope = NULL, *as_of = NULL, *user = NULL;
    int json = 0;
    uint64_t threads = 0;
    json_t *j = json_object(), *pos = json_array(), *segs = json_array();
    int rc = 0, writes = 0;
    for (int i = 1; i < argc && !rc; i++) {
        const char *a = argv[i];
        int r = tb__cli_data_opt(argc, argv, &i, &data);
        if (r < 0) rc = 2;
        if (r) continue;
        int has = i + 1 < argc;
        if (!strcmp(a, "--json"))
            json = 1;
        else if (!strcmp(a, "--previous"))
            json_object_set_new(j, "direction", json_string("previous"));
        else if (!strcmp(a, "--hour"))
            json_object_set_new(j, "interval", json_string("hour"));
        else if (!strcmp(a, "--dropped"))
            json_object_set_new(j, "_dropped", json_true());
        else if (!has && a[0] == '-' && a[1] == '-')
            rc = 2;
        else if (!strcmp(a, "--spec"))
            spec = argv[++i];
        else if (!strcmp(a, "--scope"))
            scope = argv[++i];
        else if (!strcmp(a, "--as-of"))
            as_of = argv[++i];
        else if (!strcmp(a, "--user"))
            user = argv[++i];
        else if (!strcmp(a, "--from") || !strcmp(a, "--to") || !strcmp(a, "--property") ||
                 !strcmp(a, "--window")) {
            const char *v = argv[++i];
            char *end;
            long long n = strtoll(v, &end, 10);
            json_object_set_new(j, a + 2,
                                !strcmp(a, "--window") && !*end ? json_integer(n) : json_string(v));
        } else if (!strcmp(a, "--depth") || !strcmp(a, "--top") || !strcmp(a, "--days") ||
                   !strcmp(a, "--save-step")) {
            uint64_t v;
            if (tb__cli_parse_u64(argv[++i], 1, 1000, &v)) rc = 2;
            json_object_set_new(j, a + 2, json_integer((json_int_t)v));
        } else if (!strcmp(a, "--threads")) {
            if (tb__cli_parse_u64(argv[++i], 0, 64, &threads)) rc = 2;
        } else if (!strcmp(a, "--by-tag"))
            json_object_set_new(j, "breakdown", json_pack("{s:s}", "tag", argv[++i]));
        else if (!strcmp(a, "--by-segment"))
            json_array_append_new(segs, json_string(argv[++i]));
        else if (!strcmp(a, "--save")) {
            json_object_set_new(j, "_save", json_string(argv[++i]));
            writes = 1;
        } else if (a[0] == '-' && a[1] == '-')
            rc = 2;
        else {
            json_t *st = step_arg(a);
            if (!st) rc = 2;
            json_array_append_new(pos, st);
        }
    }
    if (json_array_size(segs))
        json_object_set_new(j, "breakdown", json_pack("{s:O}", "segments", segs));
    json_decref(segs);
    size_t np = json_array_size(pos);
    const char *name = cmd;
    if (!rc && !spec) {
        if (!strcmp(name, "funnel")) {
            if (np < 1) rc = 2;
            json_object_set(j, "steps", pos);
            json_t *sv = json_object_get(j, "_save");
            if (sv) {
                json_t *st = json_object_get(j, "save-step");
                if (!st) rc = 2;
                json_object_set_new(
                    j, "save",
                    json_pack("{s:O, s:O, s:s}", "name", sv, "step", st ? st : json_integer(1),
                              "who", json_object_get(j, "_dropped") ? "dropped" : "converted"));
            }
        } else if (!strcmp(name, "paths")) {
            if (np != 1) rc = 2;
            json_object_set(j, "event", json_array_get(pos, 0));
        } else if (!strcmp(name, "retention")) {
            if (np != 2) rc = 2;
            json_object_set(j, "start", json_array_get(pos, 0));
            json_object_set(j, "return", json_array_get(pos, 1));
        } else if (np)
            json_object_set(j, "events", pos);
        json_object_del(j, "_save");
        json_object_del(j, "_dropped");
        json_object_del(j, "save-step");
    }
    json_decref(pos);
    if (rc) {
        json_decref(j);
        return tb__cli_usage(cmd, usage);
    }
    char *text = spec ? strdup(spec) : json_dumps(j, JSON_COMPACT);
    json_decref(j);
    if (spec) {
        json_t *sj = json_loads(spec, 0, NULL);
        writes = sj && json_object_get(sj, "save");
        json_decref(sj);
    }
    tb_seg_opts so = {.as_of = as_of, .threads = (int)threads, .scope = TB_SCOPE_ALL};
    if (parse_scope(cmd, scope, &so)) {
        free(text);
        return 1;
    }
    char err[512];
    tb_db *db;
    rc = tb_db_open(data, writes ? 0 : TB_OPEN_READONLY, &db, err, sizeof err);
    if (rc) {
        free(text);
        return tb__cli_fail(cmd, "%s", err);
    }
    char *ans = NULL;
    if (!strcmp(cmd, "funnel"))
        rc = tb_ev_funnel(db, text, &so, user ? user : tb__cli_os_user(), &ans);
    else if (!strcmp(cmd, "paths"))
        rc = tb_ev_paths(db, text, &so, &ans);
    else if (!strcmp(cmd, "retention"))
        rc = tb_ev_retention(db, text, &so, &ans);
    else
        rc = tb_ev_count(db, text, &so, &ans);
    free(text);
    if (rc) {
        tb__cli_fail(cmd, "%s", tb_errmsg(db));
        tb_db_close(db);
        return 1;
    }
    tb_db_close(db);
    if (json) {
        puts(ans);
    } else {
        json_t *doc = json_loads(ans, 0, NULL);
        json_dumpf(doc, stdout, JSON_INDENT(2));
        putchar('\n');
        json_decref(doc);
    }
    free(ans);
    return 0;
}

int tb__cmd_funnel(int argc, char **argv)
{
    return run("funnel", usage_funnel, argc, argv);
}

int tb__cmd_paths(int argc, char **argv)
{
    return run("paths", usage_paths, argc, argv);
}

int tb__cmd_retention(int argc, char **argv)
{
    return run("retention", usage_ret, argc, argv);
}

int tb__cmd_evstat(int argc, char **argv)
{
    return run("evstat", usage_stat, argc, argv);
}
