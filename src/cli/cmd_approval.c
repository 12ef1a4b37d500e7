/* cmd_approval.c — tagbase approval: maker-checker requests (request, list, show, approve,
 * reject), and the principal helpers the security commands share (tb__cli_principal). The
 * command line acts as the operating-system user, or as the tagbase user given by --user NAME:
 * trusted here, because whoever runs the command line owns the data directory; the server binds
 * the principal to the logged-in user instead. */
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "cli/cli.h"
#include "security/security.h"
#include "store/meta.h"

static const char usage[] =
    "request export_large|export_unmasked|role_change|customer_erase --payload JSON [--user NAME] "
    "[--json]\n"
    "       tagbase approval list [--status pending|approved|rejected|used|expired] [--user NAME] "
    "[--json]\n"
    "       tagbase approval show ID [--json]\n"
    "       tagbase approval approve ID [--comment TEXT] [--user NAME]\n"
    "       tagbase approval reject ID --comment TEXT [--user NAME]\n"
    "       (every form takes [--data DIR])";

const char *tb__cli_os_user(void)
{
    const char *u = getenv("TAGBASE_USER");
    if (u && *u) return u;
    struct passwd *pw = getpwuid(getuid());
    return pw ? pw->pw_name : "unknown";
}

int tb__cli_principal(tb_db *db, const char *user, tb__principal *p)
{
    if (!user) {
        tb__principal_cli(p, tb__cli_os_user());
        return 0;
    }
    return tb__principal_user(db, user, p);
}

typedef struct opts {
    const char *data, *payload, *user, *status, *comment;
    int json;
    const char *pos[3];
    int npos;
} opts;

static int parse(int argc, char **argv, opts *o)
{
    memset(o, 0, sizeof *o);
    o->data = tb_default_data_dir();
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int d = tb__cli_data_opt(argc, argv, &i, &o->data);
        if (d < 0) return -1;
        if (d) continue;
        const char **val = strcmp(a, "--payload") == 0   ? &o->payload
                           : strcmp(a, "--user") == 0    ? &o->user
                           : strcmp(a, "--status") == 0  ? &o->status
                           : strcmp(a, "--comment") == 0 ? &o->comment
                                                         : NULL;
        if (val) {
            if (i + 1 >= argc) return -1;
            *val = argv[++i];
        } else if (strcmp(a, "--json") == 0) {
            o->json = 1;
        } else if (a[0] == '-' && a[1]) {
            return -1;
        } else {
            if (o->npos == 3) return -1;
            o->pos[o->npos++] = a;
        }
    }
    return o->npos ? 0 : -1;
}

static int open_db(const opts *o, int write, tb_db **db)
{
    char err[512];
    if (tb_db_open(o->data, write ? 0 : TB_OPEN_READONLY, db, err, sizeof err))
        return tb__cli_fail("approval", "%s", err);
    return 0;
}

static void print_json(json_t *doc)
{
    json_dumpf(doc, stdout, JSON_COMPACT);
    putchar('\n');
    json_decref(doc);
}

static int request(const opts *o)
{
    if (o->npos != 2 || !o->payload) return tb__cli_usage("approval", usage);
    tb_db *db;
    if (open_db(o, 1, &db)) return 1;
    tb__principal who;
    int64_t id = 0;
    int rc = tb__cli_principal(db, o->user, &who);
    if (!rc) rc = tb__approval_request(db, &who, "cli", o->pos[1], o->payload, &id);
    int status = rc ? tb__cli_fail("approval", "%s", tb_errmsg(db)) : 0;
    if (!rc && o->json)
        print_json(json_pack("{s:I, s:s, s:s, s:s}", "id", (json_int_t)id, "kind", o->pos[1],
                             "requester", who.name, "status", "pending"));
    else if (!rc)
        printf("approval request %lld (%s) by '%s' is pending; another person decides it with "
               "'tagbase approval approve %lld' or 'reject %lld'\n",
               (long long)id, o->pos[1], who.name, (long long)id, (long long)id);
    tb_db_close(db);
    return status;
}

/* Whether p may see every request: it holds the checker permissions of some kind. */
static int sees_all(tb_db *db, const tb__principal *p)
{
    static const char *const kinds[] = {"export_large", "export_unmasked", "role_change",
                                        "customer_erase"};
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
        unsigned need;
        if (tb__approval_perms(db, kinds[i], 0, &need) == 0 && tb__principal_can(p, need)) return 1;
    }
    return 0;
}

static void print_row(json_t *r)
{
    char *payload = json_dumps(json_object_get(r, "payload"), JSON_COMPACT | JSON_SORT_KEYS);
    const char *by = json_string_value(json_object_get(r, "decided_by"));
    printf("%-5lld %-16s %-16s %-9s %-19s %-16s %s\n",
           (long long)json_integer_value(json_object_get(r, "id")),
           json_string_value(json_object_get(r, "kind")),
           json_string_value(json_object_get(r, "requester")),
           json_string_value(json_object_get(r, "status")),
           json_string_value(json_object_get(r, "created_at")), by ? by : "-",
           payload ? payload : "");
    free(payload);
}

static int list(const opts *o)
{
    if (o->npos != 1) return tb__cli_usage("approval", usage);
    tb_db *db;
    if (open_db(o, 0, &db)) return 1;
    tb__principal who;
    json_t *a = NULL;
    int rc = tb__cli_principal(db, o->user, &who);
    /* a maker sees their own requests; a checker sees every one */
    if (!rc) rc = tb__approval_list(db, o->status, sees_all(db, &who) ? NULL : who.name, 0, &a);
    int status = rc ? tb__cli_fail("approval", "%s", tb_errmsg(db)) : 0;
    if (!rc && o->json) {
        print_json(a);
    } else if (!rc) {
        printf("%-5s %-16s %-16s %-9s %-19s %-16s %s\n", "ID", "KIND", "REQUESTER", "STATUS",
               "CREATED", "DECIDED BY", "PAYLOAD");
        size_t i;
        json_t *r;
        json_array_foreach(a, i, r) print_row(r);
        json_decref(a);
    }
    tb_db_close(db);
    return status;
}

static int parse_id(const char *s, int64_t *id)
{
    uint64_t v;
    if (tb__cli_parse_u64(s, 1, INT64_MAX, &v)) return -1;
    *id = (int64_t)v;
    return 0;
}

static int show(const opts *o)
{
    int64_t id;
    if (o->npos != 2 || parse_id(o->pos[1], &id)) return tb__cli_usage("approval", usage);
    tb_db *db;
    if (open_db(o, 0, &db)) return 1;
    json_t *r;
    int status = 0;
    if (tb__approval_get(db, id, &r)) {
        status = tb__cli_fail("approval", "%s", tb_errmsg(db));
    } else if (o->json) {
        print_json(r);
    } else {
        const char *k;
        json_t *v;
        json_object_foreach(r, k, v)
        {
            char *text = json_is_string(v) ? NULL : json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
            printf("%-11s %s\n", k, json_is_string(v) ? json_string_value(v) : text);
            free(text);
        }
        json_decref(r);
    }
    tb_db_close(db);
    return status;
}

static int decide(const opts *o, int approve)
{
    int64_t id;
    if (o->npos != 2 || parse_id(o->pos[1], &id) || (!approve && !o->comment))
        return tb__cli_usage("approval", usage);
    tb_db *db;
    if (open_db(o, 1, &db)) return 1;
    tb__principal who;
    int rc = tb__cli_principal(db, o->user, &who);
    if (!rc) rc = tb__approval_decide(db, &who, "cli", id, approve, o->comment);
    int status = rc ? tb__cli_fail("approval", "%s", tb_errmsg(db)) : 0;
    if (!rc)
        printf("approval request %lld %s by '%s'\n", (long long)id,
               approve ? "approved" : "rejected", who.name);
    tb_db_close(db);
    return status;
}

int tb__cmd_approval(int argc, char **argv)
{
    opts o;
    if (parse(argc, argv, &o)) return tb__cli_usage("approval", usage);
    const char *verb = o.pos[0];
    if (strcmp(verb, "request") == 0) return request(&o);
    if (strcmp(verb, "list") == 0) return list(&o);
    if (strcmp(verb, "show") == 0) return show(&o);
    if (strcmp(verb, "approve") == 0) return decide(&o, 1);
    if (strcmp(verb, "reject") == 0) return decide(&o, 0);
    return tb__cli_usage("approval", usage);
}
