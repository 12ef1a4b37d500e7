/* cmd_tag.c — tagbase tag: the tag catalog (load, list, tree, show, history) and its lifecycle
 * (submit, approve, reject, offline). Thin: parses arguments, calls the tb_tag_* functions and
 * renders their JSON as text or passes it through with --json. `tag build` is cmd_tagbuild.c. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

static const char usage[] =
    "load FILE [--user NAME] [--json] [--data DIR]\n"
    "       tagbase tag list [--theme T] [--status S] [--search TEXT] [--unused] [--json] "
    "[--data DIR]\n"
    "       tagbase tag tree [--json] [--data DIR]\n"
    "       tagbase tag show CODE|NAME [--version N] [--json] [--data DIR]\n"
    "       tagbase tag history CODE|NAME [--json] [--data DIR]\n"
    "       tagbase tag submit CODE|--all [--comment TEXT] [--user NAME] [--json] [--data DIR]\n"
    "       tagbase tag approve CODE|--all [--comment TEXT] [--user NAME] [--json] [--data DIR]\n"
    "       tagbase tag reject CODE --comment TEXT [--user NAME] [--json] [--data DIR]\n"
    "       tagbase tag offline CODE [--comment TEXT] [--user NAME] [--json] [--data DIR]\n"
    "       tagbase tag build --batch YYYYMMDD [--data DIR]\n"
    "The acting user is --user, else $TAGBASE_USER, else the login name.";

typedef struct opts {
    const char *data, *arg, *user, *comment, *theme, *status, *search;
    int json, all, unused;
    uint64_t version;
} opts;

static const char *str(const json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : "";
}

static long long num(const json_t *o, const char *key)
{
    return (long long)json_integer_value(json_object_get(o, key));
}

/* Parses the library's JSON for rendering; prints it as is with --json. NULL when printed or bad.
 */
static json_t *take(char *text, int json, int *status)
{
    if (json) {
        *status = fputs(text, stdout) >= 0 && fputc('\n', stdout) != EOF ? 0 : 1;
        free(text);
        return NULL;
    }
    json_t *doc = json_loads(text, 0, NULL);
    free(text);
    *status = doc ? 0 : tb__cli_fail("tag", "cannot read the result");
    return doc;
}

static void render_load(const json_t *d)
{
    printf("loaded %lld tags in %lld themes from '%s' as %s: %lld new, %lld changed, %lld "
           "unchanged\n",
           num(d, "tags"), num(d, "themes"), str(d, "file"), str(d, "user"), num(d, "created"),
           num(d, "edited"), num(d, "unchanged"));
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(d, "changes"), i, c)
    {
        if (strcmp(str(c, "action"), "edit") == 0)
            printf("  %s: version %lld (draft)\n", str(c, "code"), num(c, "version"));
    }
    json_array_foreach(json_object_get(d, "warnings"), i, c)
        printf("warning: %s\n", json_string_value(c));
}

static void render_lifecycle(const json_t *d)
{
    size_t i;
    json_t *t;
    json_array_foreach(json_object_get(d, "tags"), i, t)
        printf("%s version %lld: %s -> %s\n", str(t, "code"), num(t, "version"), str(t, "from"),
               str(t, "status"));
    printf("%s: %lld tag%s by %s\n", str(d, "action"), num(d, "count"),
           num(d, "count") == 1 ? "" : "s", str(d, "user"));
}

static void render_list(const json_t *d)
{
    size_t i;
    json_t *t;
    if (json_array_size(d) == 0) {
        printf("no tags\n");
        return;
    }
    printf("%-28s %-10s %-11s %-8s %-9s %-3s %-3s %s\n", "code", "status", "type", "value",
           "online", "seg", "q30", "name");
    json_array_foreach(d, i, t)
    {
        char on[16] = "-";
        if (json_is_integer(json_object_get(t, "online_version")))
            snprintf(on, sizeof on, "v%lld", num(t, "online_version"));
        printf("%-28s %-10s %-11s %-8s %-9s %-3lld %-3lld %s / %s\n", str(t, "code"),
               str(t, "status"), str(t, "type"), str(t, "value_type"), on, num(t, "segments"),
               num(t, "queries_30d"), str(t, "name_zh"), str(t, "name_en"));
    }
    printf("%zu tags\n", json_array_size(d));
}

static void render_tree(const json_t *d)
{
    size_t i, k, r;
    json_t *t1, *t2, *tag;
    json_array_foreach(json_object_get(d, "themes"), i, t1)
    {
        printf("%s %s / %s (%lld tags, %lld online)\n", str(t1, "code"), str(t1, "name_zh"),
               str(t1, "name_en"), num(t1, "tags"), num(t1, "online"));
        json_array_foreach(json_object_get(t1, "children"), k, t2)
        {
            printf("  %s %s / %s (%lld)\n", str(t2, "code"), str(t2, "name_zh"), str(t2, "name_en"),
                   num(t2, "tags"));
            json_array_foreach(json_object_get(t2, "items"), r, tag) printf(
                "    %-28s %-10s %s\n", str(tag, "code"), str(tag, "status"), str(tag, "name_zh"));
        }
    }
    printf("%lld tags, %lld online\n", num(d, "tags"), num(d, "online"));
}

static void render_show(const json_t *d)
{
    const json_t *tp = json_object_get(d, "theme_path");
    printf("%s  %s / %s\n", str(d, "code"), str(d, "name_zh"), str(d, "name_en"));
    printf("  %s\n", str(d, "description"));
    printf("  theme:    %s > %s\n", str(json_array_get(tp, 0), "name_zh"),
           str(json_array_get(tp, 1), "name_zh"));
    printf("  type:     %s, %s\n", str(d, "type"), str(d, "value_type"));
    char on[16] = "none";
    if (json_is_integer(json_object_get(d, "online_version")))
        snprintf(on, sizeof on, "%lld", num(d, "online_version"));
    printf("  version:  %lld (%s) of %lld; status %s; online version %s\n", num(d, "version"),
           str(d, "version_status"), num(d, "current_version"), str(d, "status"), on);
    printf("  author:   %s at %s\n", str(d, "author"), str(d, "created_at"));
    printf("  owner:    %s; refresh %s; %s, security level %lld\n", str(d, "owner"),
           str(d, "refresh"), str(d, "pi_class"), num(d, "security_level"));
    char *ct = json_dumps(json_object_get(d, "customer_types"), JSON_COMPACT);
    char *src = json_dumps(json_object_get(d, "sources"), JSON_COMPACT);
    printf("  for:      %s\n  sources:  %s\n", ct ? ct : "", src ? src : "");
    free(ct);
    free(src);
    if (*str(d, "attribute")) printf("  attribute: %s\n", str(d, "attribute"));
    if (*str(d, "expr")) printf("  expr:     %s\n", str(d, "expr"));
    const json_t *st = json_object_get(d, "stat");
    if (st) {
        char *s = json_dumps(st, JSON_COMPACT);
        printf("  stat:     %s\n", s ? s : "");
        free(s);
    }
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(d, "values"), i, v)
    {
        printf("  value %-10s %s / %s", str(v, "value"), str(v, "name_zh"), str(v, "name_en"));
        if (*str(v, "when")) printf("  when %s", str(v, "when"));
        printf("\n");
    }
    const json_t *u = json_object_get(d, "usage");
    printf("  usage:    %lld saved segments, %lld queries in 30 days\n", num(u, "segments"),
           num(u, "queries_30d"));
    const json_t *c = json_object_get(d, "coverage");
    if (json_is_object(c)) {
        printf("  coverage: %lld of %lld customers (%.1f%%) in batch %s (build %lld)\n",
               num(c, "coverage"), num(c, "customers"),
               100.0 * json_real_value(json_object_get(c, "ratio")), str(c, "batch_date"),
               num(c, "build_id"));
        const char *k;
        json_t *n;
        json_object_foreach(json_object_get(c, "distribution"), k, n)
            printf("    %-16s %lld\n", k, (long long)json_integer_value(n));
    } else {
        printf("  coverage: not built yet\n");
    }
}

static void render_history(const json_t *d)
{
    size_t i;
    json_t *v;
    printf("%s: status %s, version %lld\n", str(d, "code"), str(d, "status"), num(d, "version"));
    json_array_foreach(json_object_get(d, "versions"), i, v)
        printf("  version %-3lld %-10s by %-16s at %s  %s\n", num(v, "version"), str(v, "status"),
               str(v, "author"), str(v, "created_at"), str(v, "hash"));
    json_array_foreach(json_object_get(d, "events"), i, v)
    {
        printf("  %s  v%-3lld %-8s %-16s", str(v, "at"), num(v, "version"), str(v, "action"),
               str(v, "actor"));
        if (*str(v, "comment")) printf("  %s", str(v, "comment"));
        printf("\n");
    }
}

static int run(const char *sub, const opts *o)
{
    int writes = !strcmp(sub, "load") || !strcmp(sub, "submit") || !strcmp(sub, "approve") ||
                 !strcmp(sub, "reject") || !strcmp(sub, "offline");
    char err[512];
    tb_db *db;
    int rc = tb_db_open(o->data, writes ? 0 : TB_OPEN_READONLY, &db, err, sizeof err);
    if (rc) return tb__cli_fail("tag", "%s", err);
    char *text = NULL;
    void (*render)(const json_t *) = NULL;
    const char *target = o->all ? NULL : o->arg;
    if (!strcmp(sub, "load")) {
        rc = tb_tag_load(db, o->arg, o->user, &text);
        render = render_load;
    } else if (!strcmp(sub, "submit")) {
        rc = tb_tag_submit(db, target, o->user, o->comment, &text);
        render = render_lifecycle;
    } else if (!strcmp(sub, "approve")) {
        rc = tb_tag_approve(db, target, o->user, o->comment, &text);
        render = render_lifecycle;
    } else if (!strcmp(sub, "reject")) {
        rc = tb_tag_reject(db, target, o->user, o->comment, &text);
        render = render_lifecycle;
    } else if (!strcmp(sub, "offline")) {
        rc = tb_tag_offline(db, target, o->user, o->comment, &text);
        render = render_lifecycle;
    } else if (!strcmp(sub, "list")) {
        tb_tag_filter f = {o->theme, o->status, o->search, o->unused};
        rc = tb_tag_list(db, &f, &text);
        render = render_list;
    } else if (!strcmp(sub, "tree")) {
        rc = tb_tag_tree(db, &text);
        render = render_tree;
    } else if (!strcmp(sub, "show")) {
        rc = tb_tag_show(db, o->arg, (int)o->version, &text);
        render = render_show;
    } else {
        rc = tb_tag_history(db, o->arg, &text);
        render = render_history;
    }
    if (rc) {
        tb__cli_fail("tag", "%s", rc == TB_ENOMEM ? "out of memory" : tb_errmsg(db));
        tb_db_close(db);
        return 1;
    }
    tb_db_close(db);
    int status;
    json_t *doc = take(text, o->json, &status);
    if (doc) render(doc);
    json_decref(doc);
    return status;
}

int tb__cmd_tag(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "build") == 0) return tb__cmd_tag_build(argc - 1, argv + 1);
    if (argc < 2) return tb__cli_usage("tag", usage);
    const char *sub = argv[1];
    if (!strcmp(sub, "--help") || !strcmp(sub, "help")) {
        printf("usage: tagbase tag %s\n", usage);
        return 0;
    }
    static const char *const subs[] = {"load",   "list",    "tree",   "show",   "history",
                                       "submit", "approve", "reject", "offline"};
    int known = 0;
    for (size_t i = 0; i < sizeof subs / sizeof subs[0]; i++)
        known |= strcmp(sub, subs[i]) == 0;
    if (!known) return tb__cli_usage("tag", usage);
    opts o = {0};
    o.data = tb_default_data_dir();
    for (int i = 2; i < argc; i++) {
        int d = tb__cli_data_opt(argc, argv, &i, &o.data);
        if (d < 0) return tb__cli_usage("tag", usage);
        if (d) continue;
        const char *a = argv[i];
        int has = i + 1 < argc;
        if (!strcmp(a, "--json")) {
            o.json = 1;
        } else if (!strcmp(a, "--all")) {
            o.all = 1;
        } else if (!strcmp(a, "--unused")) {
            o.unused = 1;
        } else if (!strcmp(a, "--user") && has) {
            o.user = argv[++i];
        } else if (!strcmp(a, "--comment") && has) {
            o.comment = argv[++i];
        } else if (!strcmp(a, "--theme") && has) {
            o.theme = argv[++i];
        } else if (!strcmp(a, "--status") && has) {
            o.status = argv[++i];
        } else if (!strcmp(a, "--search") && has) {
            o.search = argv[++i];
        } else if (!strcmp(a, "--version") && has) {
            if (tb__cli_parse_u64(argv[++i], 1, 2147483647, &o.version))
                return tb__cli_fail("tag", "--version expects a version number, got '%s'",
                                    argv[i]) +
                       1;
        } else if (!strcmp(a, "--help")) {
            printf("usage: tagbase tag %s\n", usage);
            return 0;
        } else if (a[0] == '-' || o.arg) {
            return tb__cli_usage("tag", usage);
        } else {
            o.arg = a;
        }
    }
    /* which options each subcommand takes */
    int lifecycle = !strcmp(sub, "submit") || !strcmp(sub, "approve") || !strcmp(sub, "reject") ||
                    !strcmp(sub, "offline");
    int listing = !strcmp(sub, "list");
    int needs_arg = !strcmp(sub, "load") || !strcmp(sub, "show") || !strcmp(sub, "history") ||
                    (lifecycle && !o.all);
    if ((needs_arg && !o.arg) || (!needs_arg && o.arg) || (o.all && o.arg))
        return tb__cli_usage("tag", usage);
    if (o.all && strcmp(sub, "submit") && strcmp(sub, "approve"))
        return tb__cli_usage("tag", usage);
    if ((o.user && !lifecycle && strcmp(sub, "load")) || (o.comment && !lifecycle) ||
        (o.version && strcmp(sub, "show")) ||
        ((o.theme || o.status || o.search || o.unused) && !listing))
        return tb__cli_usage("tag", usage);
    if (!strcmp(sub, "reject") && (!o.comment || !*o.comment))
        return tb__cli_fail("tag", "reject needs --comment saying why") + 1;
    return run(sub, &o);
}
