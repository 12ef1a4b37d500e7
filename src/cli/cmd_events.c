/* cmd_events.c — `tagbase events`: sources (apps and write keys), the tracking plan, real-time
 * rules, importing event files through the collector, compaction, status and quarantine. The
 * analyses (funnels, paths, retention, counts) are `tagbase funnel` and its siblings. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "cli/cli.h"
#include "common/buf.h"
#include "common/clock.h"
#include "events/collector.h"
#include "events/evmeta.h"
#include "store/file.h"

static const char usage[] =
    "source add NAME [--project P] | source list | source revoke NAME\n"
    "       tagbase events plan load SOURCE FILE | plan show SOURCE [--version N]\n"
    "       tagbase events rules load FILE | rules show\n"
    "       tagbase events import FILE --source NAME [--format sensors|segment] [--batch N]\n"
    "       tagbase events compact | status | quarantine [--limit N] [--unmasked] | dump [--limit "
    "N]\n"
    "   (each takes --data DIR)";

static int fail_db(tb_db *db, const char *what)
{
    return tb__cli_fail("events", "%s: %s", what, tb_errmsg(db));
}

static int print_source(void *arg, const tb__ev_source *s)
{
    return json_array_append_new(arg, tb__ev_source_json(s));
}

static int print_json(json_t *j)
{
    char *t = json_dumps(j, JSON_INDENT(2));
    json_decref(j);
    if (!t) return tb__cli_fail("events", "out of memory");
    puts(t);
    free(t);
    return 0;
}

static int read_text(const char *path, char **out)
{
    tb__errbuf eb = {0};
    size_t n;
    int rc = tb__file_read_all(path, (size_t)64 << 20, out, &n, &eb);
    if (rc) return tb__cli_fail("events", "%s", eb.msg);
    return 0;
}

/* Feeds a JSON Lines file through the collector in batches, exactly as HTTP requests would be. */
static int import_file(tb__collector *col, const char *path, const char *source, int segment,
                       size_t batch)
{
    FILE *f = fopen(path, "r");
    if (!f) return tb__cli_fail("events", "cannot open '%s'", path);
    tb__buf body = TB__BUF_INIT;
    char *line = NULL;
    size_t cap = 0, inbatch = 0, lineno = 0;
    size_t acc = 0, dup = 0, quar = 0;
    int rc = 0;
    ssize_t got;
    for (;;) {
        got = getline(&line, &cap, f);
        if (got > 0) {
            lineno++;
            while (got && (line[got - 1] == '\n' || line[got - 1] == '\r'))
                line[--got] = '\0';
            if (!got) continue;
            if (inbatch == 0)
                tb__buf_puts(&body, segment ? "{\"batch\":[" : "[");
            else
                tb__buf_putc(&body, ',');
            tb__buf_append(&body, line, (size_t)got);
            inbatch++;
        }
        if (inbatch && (inbatch == batch || got <= 0)) {
            tb__buf_puts(&body, segment ? "]}" : "]");
            tb__col_input in = {.fmt = segment ? TB__COL_SEGMENT : TB__COL_SENSORS,
                                .kind = "batch",
                                .body = body.data,
                                .body_len = body.len,
                                .now_ms = tb__now_ms(),
                                .source = source};
            tb__col_result res;
            tb__collector_submit(col, &in, NULL, NULL, &res);
            if (res.status != 200) {
                rc = tb__cli_fail("events", "'%s', batch ending at line %zu: %s", path, lineno,
                                  res.message);
                break;
            }
            acc += res.accepted;
            dup += res.duplicates;
            quar += res.quarantined;
            tb__buf_reset(&body);
            inbatch = 0;
        }
        if (got <= 0) break;
    }
    free(line);
    fclose(f);
    tb__buf_release(&body);
    if (!rc)
        printf("{\"file\": \"%s\", \"lines\": %zu, \"accepted\": %zu, \"duplicates\": %zu, "
               "\"quarantined\": %zu}\n",
               path, lineno, acc, dup, quar);
    return rc;
}

int tb__cmd_events(int argc, char **argv)
{
    const char *dir = NULL, *project = NULL, *source = NULL, *format = NULL;
    long version = 0, limit = 20, batch = 500;
    int unmasked = 0;
    const char *pos[4] = {0};
    int npos = 0;
    for (int i = 1; i < argc; i++) {
        int d = tb__cli_data_opt(argc, argv, &i, &dir);
        if (d < 0) return tb__cli_usage("events", usage);
        if (d) continue;
        const char *a = argv[i];
        if (!strcmp(a, "--project") && i + 1 < argc)
            project = argv[++i];
        else if (!strcmp(a, "--source") && i + 1 < argc)
            source = argv[++i];
        else if (!strcmp(a, "--format") && i + 1 < argc)
            format = argv[++i];
        else if (!strcmp(a, "--version") && i + 1 < argc)
            version = atol(argv[++i]);
        else if (!strcmp(a, "--limit") && i + 1 < argc)
            limit = atol(argv[++i]);
        else if (!strcmp(a, "--batch") && i + 1 < argc)
            batch = atol(argv[++i]);
        else if (!strcmp(a, "--json"))
            continue; /* every answer is JSON already */
        else if (!strcmp(a, "--unmasked"))
            unmasked = 1;
        else if (a[0] == '-' || npos == 4)
            return tb__cli_usage("events", usage);
        else
            pos[npos++] = a;
    }
    if (npos == 0 || batch < 1 || batch > 100000 || limit < 1)
        return tb__cli_usage("events", usage);
    const char *verb = pos[0], *sub = pos[1];
    int ro = !strcmp(verb, "status") || !strcmp(verb, "quarantine") ||
             ((!strcmp(verb, "source") || !strcmp(verb, "plan") || !strcmp(verb, "rules")) && sub &&
              (!strcmp(sub, "list") || !strcmp(sub, "show")));
    tb_db *db;
    char err[512];
    /* Commands that touch the collector need the data directory to themselves (the server,
     * when running, owns the event log: use its API then). */
    if (tb_db_open(dir ? dir : tb_default_data_dir(),
                   ro && strcmp(verb, "status") ? TB_OPEN_READONLY : 0, &db, err, sizeof err))
        return tb__cli_fail("events", "%s", err);
    int rc = 0;
    const char *user = tb__cli_os_user();
    if (!strcmp(verb, "source") && sub && !strcmp(sub, "add") && npos == 3) {
        char key[TB__EV_KEY_LEN + 1];
        if (tb__ev_source_add(db, pos[2], project, user, key))
            rc = fail_db(db, "source add");
        else {
            printf("{\"name\": \"%s\", \"project\": \"%s\", \"write_key\": \"%s\"}\n", pos[2],
                   project ? project : "default", key);
            fprintf(stderr, "tagbase events: the write key is shown once; it is stored hashed\n");
        }
    } else if (!strcmp(verb, "source") && sub && !strcmp(sub, "list")) {
        json_t *a = json_array();
        if (tb__ev_source_list(db, print_source, a)) {
            json_decref(a);
            rc = fail_db(db, "source list");
        } else
            rc = print_json(json_pack("{s:o}", "sources", a));
    } else if (!strcmp(verb, "source") && sub && !strcmp(sub, "revoke") && npos == 3) {
        if (tb__ev_source_revoke(db, pos[2]))
            rc = fail_db(db, "source revoke");
        else
            printf("{\"name\": \"%s\", \"revoked\": true}\n", pos[2]);
    } else if (!strcmp(verb, "plan") && sub && !strcmp(sub, "load") && npos == 4) {
        char *text;
        int v;
        if ((rc = read_text(pos[3], &text)) == 0) {
            if (tb__ev_plan_put(db, pos[2], text, user, &v))
                rc = tb__cli_fail("events", "'%s': %s", pos[3], tb_errmsg(db));
            else
                printf("{\"source\": \"%s\", \"version\": %d}\n", pos[2], v);
            free(text);
        }
    } else if (!strcmp(verb, "plan") && sub && !strcmp(sub, "show") && npos == 3) {
        char *text;
        int v;
        if (tb__ev_plan_get(db, pos[2], (int)version, &text, &v))
            rc = fail_db(db, "plan show");
        else {
            json_t *versions = json_array();
            tb__ev_plan_versions(db, pos[2], versions);
            json_t *plan = json_loads(text, 0, NULL);
            free(text);
            rc = print_json(json_pack("{s:s,s:i,s:o,s:o}", "source", pos[2], "version", v, "plan",
                                      plan ? plan : json_null(), "versions", versions));
        }
    } else if (!strcmp(verb, "rules") && sub && !strcmp(sub, "load") && npos == 3) {
        char *text;
        int v;
        if ((rc = read_text(pos[2], &text)) == 0) {
            if (tb__ev_rules_put(db, text, user, &v))
                rc = tb__cli_fail("events", "'%s': %s", pos[2], tb_errmsg(db));
            else
                printf("{\"version\": %d}\n", v);
            free(text);
        }
    } else if (!strcmp(verb, "rules") && sub && !strcmp(sub, "show")) {
        char *text;
        int v = 0;
        int r2 = tb__ev_rules_get(db, &text, &v);
        if (r2 == TB_ENOENT)
            printf("{\"version\": 0, \"rules\": []}\n");
        else if (r2)
            rc = fail_db(db, "rules show");
        else {
            printf("{\"version\": %d, \"rules\": %s}\n", v, text);
            free(text);
        }
    } else if (!strcmp(verb, "import") || !strcmp(verb, "compact") || !strcmp(verb, "status") ||
               !strcmp(verb, "dump")) {
        if (!strcmp(verb, "import") && (npos != 2 || !source)) {
            tb_db_close(db);
            return tb__cli_usage("events", usage);
        }
        tb__collector *col;
        tb__errbuf eb = {0};
        /* An import is history: events of any age are taken (the HTTP edge keeps 30 days). */
        tb__col_limits lim = {.max_past_ms = (int64_t)20 * 366 * 86400 * 1000,
                              .max_batch = (size_t)64 << 20};
        if (tb__collector_open(db, !strcmp(verb, "import") ? &lim : NULL, &col, &eb)) {
            tb_db_close(db);
            return tb__cli_fail("events", "%s", eb.msg);
        }
        char *out = NULL;
        if (!strcmp(verb, "import"))
            rc = import_file(col, pos[1], source, format && !strcmp(format, "segment"),
                             (size_t)batch);
        else if (!strcmp(verb, "dump")) {
            if (tb__collector_dump(col, stdout, (size_t)limit, &eb))
                rc = tb__cli_fail("events", "%s", eb.msg);
        } else if (!strcmp(verb, "compact")) {
            if (tb__collector_compact(col, &out)) rc = fail_db(db, "compact");
        } else if (tb__collector_status(col, &out))
            rc = tb__cli_fail("events", "out of memory");
        if (out) puts(out);
        free(out);
        tb__collector_close(col);
    } else if (!strcmp(verb, "quarantine")) {
        json_t *doc;
        if (tb__events_quarantine(db, (size_t)limit, !unmasked, &doc))
            rc = tb__cli_fail("events", "cannot read the event quarantine");
        else
            rc = print_json(doc);
    } else
        rc = tb__cli_usage("events", usage);
    tb_db_close(db);
    return rc;
}
