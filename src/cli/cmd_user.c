/* cmd_user.c — tagbase user and tagbase role: users (add, passwd, list, role, disable, enable),
 * their API tokens (create, list, revoke) and roles (list, add). The command line acts as the
 * operating-system user (tb__principal_cli) and audits every change it makes under that name, in
 * the same transaction as the change. */
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "cli/cli.h"
#include "security/security.h"
#include "store/meta.h"

static const char user_usage[] =
    "add NAME --role ROLE [--scope org:ID|manager:ID] [--password-stdin] [--json]\n"
    "       tagbase user passwd NAME [--password-stdin]\n"
    "       tagbase user list [--json]\n"
    "       tagbase user role NAME ROLE --approval ID\n"
    "       tagbase user disable|enable|unlock NAME\n"
    "       tagbase user token create USER --name N [--perms p1,p2] [--days N] [--json]\n"
    "       tagbase user token list [USER] [--json]\n"
    "       tagbase user token revoke ID\n"
    "       (every form takes [--data DIR])";
static const char role_usage[] = "list [--json] | add NAME --perms p1,p2 [--description TEXT] "
                                 "[--data DIR]";

typedef struct opts {
    const char *data, *role, *scope, *name, *perms, *description, *approval;
    int json, password_stdin;
    uint64_t days;
    const char *pos[4];
    int npos;
} opts;

/* Who runs the command: $TAGBASE_USER, else the operating-system account. */
static const char *os_user(void)
{
    const char *u = getenv("TAGBASE_USER");
    if (u && *u) return u;
    struct passwd *pw = getpwuid(getuid());
    return pw ? pw->pw_name : "unknown";
}

/* Parses the options every verb shares; returns 0, or -1 on a usage error. */
static int parse(int argc, char **argv, int first, opts *o)
{
    memset(o, 0, sizeof *o);
    o->data = tb_default_data_dir();
    o->days = 90;
    for (int i = first; i < argc; i++) {
        const char *a = argv[i];
        int d = tb__cli_data_opt(argc, argv, &i, &o->data);
        if (d < 0) return -1;
        if (d) continue;
        const char **val = strcmp(a, "--role") == 0          ? &o->role
                           : strcmp(a, "--scope") == 0       ? &o->scope
                           : strcmp(a, "--name") == 0        ? &o->name
                           : strcmp(a, "--perms") == 0       ? &o->perms
                           : strcmp(a, "--description") == 0 ? &o->description
                           : strcmp(a, "--approval") == 0    ? &o->approval
                                                             : NULL;
        if (val) {
            if (i + 1 >= argc) return -1;
            *val = argv[++i];
        } else if (strcmp(a, "--days") == 0) {
            if (i + 1 >= argc || tb__cli_parse_u64(argv[++i], 1, 3650, &o->days)) return -1;
        } else if (strcmp(a, "--json") == 0) {
            o->json = 1;
        } else if (strcmp(a, "--password-stdin") == 0) {
            o->password_stdin = 1;
        } else if (a[0] == '-' && a[1]) {
            return -1;
        } else {
            if (o->npos == 4) return -1;
            o->pos[o->npos++] = a;
        }
    }
    return 0;
}

/* Reads one line (the password) from standard input into buf, without its line end. */
static int read_password(char *buf, size_t cap)
{
    if (!fgets(buf, (int)cap, stdin)) return -1;
    size_t n = strlen(buf);
    if (n == cap - 1 && buf[n - 1] != '\n') return -1; /* longer than we take */
    while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        buf[--n] = 0;
    return 0;
}

static int open_db(const char *cmd, const opts *o, int write, tb_db **db)
{
    char err[512];
    if (tb_db_open(o->data, write ? 0 : TB_OPEN_READONLY, db, err, sizeof err))
        return tb__cli_fail(cmd, "%s", err);
    return 0;
}

/* Prints a JSON document indented (or compact with --json) and frees it. */
static void print_json(json_t *doc, int compact)
{
    json_dumpf(doc, stdout, compact ? JSON_COMPACT : JSON_INDENT(2));
    putchar('\n');
    json_decref(doc);
}

/* Audits a change the command made, inside the transaction the caller opened. */
static int audit(tb_db *db, const char *action, const char *object, json_t *detail)
{
    tb__principal who;
    tb__principal_cli(&who, os_user());
    char *text = detail ? json_dumps(detail, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(detail);
    int rc = tb__audit(db, &who, "cli", action, object, text, "ok");
    free(text);
    return rc;
}

/* Parses --scope: "all", "org:ID" or "manager:ID". */
static int parse_scope(const char *s, tb__scope_kind *kind, const char **id)
{
    *kind = TB__SCOPE_ALL;
    *id = NULL;
    if (!s || strcmp(s, "all") == 0) return 0;
    if (strncmp(s, "org:", 4) == 0 && s[4]) {
        *kind = TB__SCOPE_ORG;
        *id = s + 4;
        return 0;
    }
    if (strncmp(s, "manager:", 8) == 0 && s[8]) {
        *kind = TB__SCOPE_MANAGER;
        *id = s + 8;
        return 0;
    }
    return -1;
}

static int user_add(const opts *o)
{
    if (o->npos != 2 || !o->role) return tb__cli_usage("user", user_usage);
    const char *name = o->pos[1];
    tb__scope_kind kind;
    const char *sid;
    if (parse_scope(o->scope, &kind, &sid))
        return tb__cli_fail("user", "--scope must be org:ID, manager:ID or all");
    char pw[1100] = "", gen[64] = "";
    if (o->password_stdin && read_password(pw, sizeof pw))
        return tb__cli_fail("user", "cannot read the password from standard input");
    tb_db *db;
    if (open_db("user", o, 1, &db)) return 1;
    int rc = tb__meta_begin(db);
    if (!rc)
        rc = tb__user_add(db, name, o->role, kind, sid, o->password_stdin ? pw : NULL, gen,
                          sizeof gen);
    if (!rc)
        rc = audit(db, "user.add", name,
                   json_pack("{s:s, s:s, s:s?, s:b}", "role", o->role, "scope",
                             kind == TB__SCOPE_ORG       ? "org"
                             : kind == TB__SCOPE_MANAGER ? "manager"
                                                         : "all",
                             "scope_id", sid, "generated_password", !o->password_stdin));
    if (!rc) rc = tb__meta_commit(db);
    if (rc) tb__meta_rollback(db);
    int status = rc ? tb__cli_fail("user", "%s", tb_errmsg(db)) : 0;
    if (!rc) {
        if (o->json) {
            print_json(json_pack("{s:s, s:s, s:s?}", "name", name, "role", o->role, "password",
                                 o->password_stdin ? NULL : gen),
                       1);
        } else {
            printf("user '%s' added with role '%s'\n", name, o->role);
            if (!o->password_stdin)
                printf("one-time password: %s\n(shown once; it must be changed at first login)\n",
                       gen);
        }
    }
    memset(pw, 0, sizeof pw);
    memset(gen, 0, sizeof gen);
    tb_db_close(db);
    return status;
}

static int user_passwd(const opts *o)
{
    if (o->npos != 2) return tb__cli_usage("user", user_usage);
    const char *name = o->pos[1];
    char pw[1100] = "", gen[64] = "";
    if (o->password_stdin && read_password(pw, sizeof pw))
        return tb__cli_fail("user", "cannot read the password from standard input");
    tb_db *db;
    if (open_db("user", o, 1, &db)) return 1;
    int rc = tb__meta_begin(db);
    if (!rc) rc = tb__user_passwd(db, name, o->password_stdin ? pw : NULL, gen, sizeof gen);
    if (!rc)
        rc = audit(db, "user.passwd", name,
                   json_pack("{s:b}", "generated_password", !o->password_stdin));
    if (!rc) rc = tb__meta_commit(db);
    if (rc) tb__meta_rollback(db);
    int status = rc ? tb__cli_fail("user", "%s", tb_errmsg(db)) : 0;
    if (!rc) {
        printf("password of '%s' changed\n", name);
        if (!o->password_stdin)
            printf("one-time password: %s\n(shown once; it must be changed at first login)\n", gen);
    }
    memset(pw, 0, sizeof pw);
    memset(gen, 0, sizeof gen);
    tb_db_close(db);
    return status;
}

static int user_list(const opts *o)
{
    if (o->npos != 1) return tb__cli_usage("user", user_usage);
    tb_db *db;
    if (open_db("user", o, 0, &db)) return 1;
    json_t *a;
    int status = 0;
    if (tb__user_list(db, &a)) {
        status = tb__cli_fail("user", "%s", tb_errmsg(db));
    } else if (o->json) {
        print_json(a, 1);
    } else {
        printf("%-20s %-18s %-24s %s\n", "NAME", "ROLE", "SCOPE", "STATE");
        size_t i;
        json_t *u;
        json_array_foreach(a, i, u)
        {
            char scope[96];
            const char *kind = json_string_value(json_object_get(u, "scope"));
            const char *sid = json_string_value(json_object_get(u, "scope_id"));
            snprintf(scope, sizeof scope, "%s%s%s", kind, sid ? ":" : "", sid ? sid : "");
            const char *state = json_is_true(json_object_get(u, "disabled"))         ? "disabled"
                                : json_is_string(json_object_get(u, "blocked"))      ? "blocked"
                                : json_is_string(json_object_get(u, "locked_until")) ? "locked"
                                : json_is_true(json_object_get(u, "must_change"))
                                    ? "must change password"
                                    : "active";
            printf("%-20s %-18s %-24s %s\n", json_string_value(json_object_get(u, "name")),
                   json_string_value(json_object_get(u, "role")), scope, state);
        }
        json_decref(a);
    }
    tb_db_close(db);
    return status;
}

static int user_role(const opts *o)
{
    if (o->npos != 3) return tb__cli_usage("user", user_usage);
    tb_db *db;
    if (open_db("user", o, 1, &db)) return 1;
    tb__principal who;
    tb__principal_cli(&who, os_user());
    int status = 0, rc;
    if (o->approval) {
        /* maker-checker: the change uses an approved role_change request of this user, in the
         * same transaction; a refusal still commits its audit record */
        uint64_t id;
        if (tb__cli_parse_u64(o->approval, 1, INT64_MAX, &id)) {
            tb_db_close(db);
            return tb__cli_usage("user", user_usage);
        }
        json_t *p = json_pack("{s:s, s:s}", "user", o->pos[1], "role", o->pos[2]);
        char *payload = p ? json_dumps(p, JSON_COMPACT) : NULL;
        json_decref(p);
        rc = payload ? tb__meta_begin(db) : TB_ENOMEM;
        if (!rc) rc = tb__approval_consume(db, (int64_t)id, &who, "cli", "role_change", payload);
        if (!rc) rc = tb__user_set_role_by(db, &who, "cli", o->pos[1], o->pos[2]);
        if (!rc || rc == TB_EPERM) {
            tb__errbuf saved = *tb__db_err(db);
            int crc = tb__meta_commit(db);
            if (!rc)
                rc = crc;
            else
                *tb__db_err(db) = saved;
        }
        tb__meta_rollback(db);
        free(payload);
    } else {
        /* maker-checker on the command line too: a user's role changes only with a second
         * person's approval; the first admin comes from 'user add' or the server's first start */
        tb__audit(db, &who, "cli", "user.role", o->pos[1], "{\"approval\":\"missing\"}", "denied");
        rc = tb__seterr(tb__db_err(db), TB_EPERM,
                        "a role change needs an approved 'role_change' request: 'tagbase approval "
                        "request role_change --payload '{\"user\":\"%s\",\"role\":\"%s\"}'', "
                        "approved by a second person, then --approval ID",
                        o->pos[1], o->pos[2]);
    }
    if (rc)
        status = tb__cli_fail("user", "%s", tb_errmsg(db)[0] ? tb_errmsg(db) : tb_strerror(rc));
    else
        printf("user '%s' now has role '%s'\n", o->pos[1], o->pos[2]);
    tb_db_close(db);
    return status;
}

static int user_disable(const opts *o, int disable)
{
    if (o->npos != 2) return tb__cli_usage("user", user_usage);
    tb_db *db;
    if (open_db("user", o, 1, &db)) return 1;
    int rc = tb__meta_begin(db);
    if (!rc) rc = tb__user_disable(db, o->pos[1], disable);
    if (!rc) rc = audit(db, disable ? "user.disable" : "user.enable", o->pos[1], NULL);
    if (!rc) rc = tb__meta_commit(db);
    if (rc) tb__meta_rollback(db);
    int status = rc ? tb__cli_fail("user", "%s", tb_errmsg(db)) : 0;
    if (!rc) printf("user '%s' %s\n", o->pos[1], disable ? "disabled" : "enabled");
    tb_db_close(db);
    return status;
}

static int user_unlock(const opts *o)
{
    if (o->npos != 2) return tb__cli_usage("user", user_usage);
    tb_db *db;
    if (open_db("user", o, 1, &db)) return 1;
    tb__principal who;
    tb__principal_cli(&who, os_user());
    int rc = tb__user_unlock(db, &who, "cli", o->pos[1]);
    int status = rc ? tb__cli_fail("user", "%s", tb_errmsg(db)) : 0;
    if (!rc) printf("user '%s' unlocked\n", o->pos[1]);
    tb_db_close(db);
    return status;
}

static int token_create(const opts *o)
{
    if (o->npos != 3 || !o->name) return tb__cli_usage("user", user_usage);
    unsigned perms = 0;
    char bad[48];
    if (o->perms && tb__perms_parse_list(o->perms, &perms, bad, sizeof bad))
        return tb__cli_fail("user", "unknown permission '%s' (see 'tagbase role list')", bad);
    tb_db *db;
    if (open_db("user", o, 1, &db)) return 1;
    char token[80] = "";
    int64_t id = 0;
    int rc = tb__meta_begin(db);
    if (!rc)
        rc =
            tb__token_create(db, o->pos[2], o->name, perms, (int)o->days, token, sizeof token, &id);
    if (!rc)
        rc = audit(db, "token.create", o->pos[2],
                   json_pack("{s:I, s:s, s:o, s:I}", "token_id", (json_int_t)id, "name", o->name,
                             "perms", perms ? tb__perms_json(perms) : json_string("role"), "days",
                             (json_int_t)o->days));
    if (!rc) rc = tb__meta_commit(db);
    if (rc) tb__meta_rollback(db);
    int status = rc ? tb__cli_fail("user", "%s", tb_errmsg(db)) : 0;
    if (!rc) {
        if (o->json)
            print_json(json_pack("{s:I, s:s, s:s, s:I, s:s}", "id", (json_int_t)id, "user",
                                 o->pos[2], "name", o->name, "days", (json_int_t)o->days, "token",
                                 token),
                       1);
        else {
            printf("%s\n", token);
            fprintf(stderr, "token %lld '%s' for user '%s', valid %llu days (shown once)\n",
                    (long long)id, o->name, o->pos[2], (unsigned long long)o->days);
        }
    }
    memset(token, 0, sizeof token);
    tb_db_close(db);
    return status;
}

static int token_list(const opts *o)
{
    if (o->npos > 3) return tb__cli_usage("user", user_usage);
    tb_db *db;
    if (open_db("user", o, 0, &db)) return 1;
    json_t *a;
    int status = 0;
    if (tb__token_list(db, o->npos == 3 ? o->pos[2] : NULL, &a)) {
        status = tb__cli_fail("user", "%s", tb_errmsg(db));
    } else if (o->json) {
        print_json(a, 1);
    } else {
        printf("%-5s %-16s %-20s %-8s %-20s %s\n", "ID", "USER", "NAME", "STATE", "EXPIRES",
               "PERMS");
        size_t i, j;
        json_t *t, *p;
        json_array_foreach(a, i, t)
        {
            printf("%-5lld %-16s %-20s %-8s %-20s ",
                   (long long)json_integer_value(json_object_get(t, "id")),
                   json_string_value(json_object_get(t, "user")),
                   json_string_value(json_object_get(t, "name")),
                   json_string_value(json_object_get(t, "state")),
                   json_string_value(json_object_get(t, "expires_at")));
            json_array_foreach(json_object_get(t, "perms"), j, p)
                printf("%s%s", j ? "," : "", json_string_value(p));
            putchar('\n');
        }
        json_decref(a);
    }
    tb_db_close(db);
    return status;
}

static int token_revoke(const opts *o)
{
    uint64_t id;
    if (o->npos != 3 || tb__cli_parse_u64(o->pos[2], 1, INT64_MAX, &id))
        return tb__cli_usage("user", user_usage);
    tb_db *db;
    if (open_db("user", o, 1, &db)) return 1;
    int rc = tb__meta_begin(db);
    if (!rc) rc = tb__token_revoke(db, (int64_t)id);
    if (!rc) {
        char object[32];
        snprintf(object, sizeof object, "token:%llu", (unsigned long long)id);
        rc = audit(db, "token.revoke", object, NULL);
    }
    if (!rc) rc = tb__meta_commit(db);
    if (rc) tb__meta_rollback(db);
    int status = rc ? tb__cli_fail("user", "%s", tb_errmsg(db)) : 0;
    if (!rc) printf("token %llu revoked\n", (unsigned long long)id);
    tb_db_close(db);
    return status;
}

int tb__cmd_user(int argc, char **argv)
{
    opts o;
    if (argc < 2 || parse(argc, argv, 1, &o) || o.npos < 1)
        return tb__cli_usage("user", user_usage);
    const char *verb = o.pos[0];
    if (strcmp(verb, "add") == 0) return user_add(&o);
    if (strcmp(verb, "passwd") == 0) return user_passwd(&o);
    if (strcmp(verb, "list") == 0) return user_list(&o);
    if (strcmp(verb, "role") == 0) return user_role(&o);
    if (strcmp(verb, "disable") == 0) return user_disable(&o, 1);
    if (strcmp(verb, "enable") == 0) return user_disable(&o, 0);
    if (strcmp(verb, "unlock") == 0) return user_unlock(&o);
    if (strcmp(verb, "token") == 0 && o.npos >= 2) {
        if (strcmp(o.pos[1], "create") == 0) return token_create(&o);
        if (strcmp(o.pos[1], "list") == 0) return token_list(&o);
        if (strcmp(o.pos[1], "revoke") == 0) return token_revoke(&o);
    }
    return tb__cli_usage("user", user_usage);
}

static int role_list(const opts *o)
{
    if (o->npos != 1) return tb__cli_usage("role", role_usage);
    tb_db *db;
    if (open_db("role", o, 0, &db)) return 1;
    json_t *a;
    int status = 0;
    if (tb__role_list(db, &a)) {
        status = tb__cli_fail("role", "%s", tb_errmsg(db));
    } else if (o->json) {
        print_json(a, 1);
    } else {
        size_t i, j;
        json_t *r, *p;
        json_array_foreach(a, i, r)
        {
            printf("%-18s %-7s ", json_string_value(json_object_get(r, "name")),
                   json_is_true(json_object_get(r, "builtin")) ? "builtin" : "custom");
            json_array_foreach(json_object_get(r, "perms"), j, p)
                printf("%s%s", j ? "," : "", json_string_value(p));
            const char *d = json_string_value(json_object_get(r, "description"));
            printf("%s%s\n", d && *d ? "\n                           " : "", d ? d : "");
        }
        json_decref(a);
    }
    tb_db_close(db);
    return status;
}

static int role_add(const opts *o)
{
    if (o->npos != 2 || !o->perms) return tb__cli_usage("role", role_usage);
    unsigned perms;
    char bad[48];
    if (tb__perms_parse_list(o->perms, &perms, bad, sizeof bad))
        return tb__cli_fail("role",
                            "unknown permission '%s' (one of: pipeline.read, "
                            "pipeline.load, standard.edit, tag.read, tag.edit, "
                            "tag.approve, tag.build, seg.read, seg.write, seg.export, "
                            "customer.view, pii.clear, user.admin, audit.read)",
                            bad);
    tb_db *db;
    if (open_db("role", o, 1, &db)) return 1;
    int rc = tb__meta_begin(db);
    if (!rc) rc = tb__role_put(db, o->pos[1], perms, o->description);
    if (!rc)
        rc = audit(db, "role.add", o->pos[1], json_pack("{s:o}", "perms", tb__perms_json(perms)));
    if (!rc) rc = tb__meta_commit(db);
    if (rc) tb__meta_rollback(db);
    int status = rc ? tb__cli_fail("role", "%s", tb_errmsg(db)) : 0;
    if (!rc) printf("role '%s' stored\n", o->pos[1]);
    tb_db_close(db);
    return status;
}

int tb__cmd_role(int argc, char **argv)
{
    opts o;
    if (argc < 2 || parse(argc, argv, 1, &o) || o.npos < 1)
        return tb__cli_usage("role", role_usage);
    if (strcmp(o.pos[0], "list") == 0) return role_list(&o);
    if (strcmp(o.pos[0], "add") == 0) return role_add(&o);
    return tb__cli_usage("role", role_usage);
}
