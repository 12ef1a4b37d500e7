/* cmd_consent.c — tagbase consent: record a customer's grant or withdrawal per purpose and
 * channel, and show the ledger (current decisions, what they mean per channel, history). The
 * customer is found as `tagbase customer show` finds one: number, ID number, mobile or gid. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli/cli.h"
#include "pipeline/identity.h"
#include "security/security.h"
#include "store/meta.h"

static const char usage[] =
    "set CUSTOMER --purpose P --channel C --grant|--withdraw [--source S] [--user NAME]\n"
    "       tagbase consent show CUSTOMER [--json] [--user NAME]\n"
    "       (CUSTOMER: customer number, ID number, mobile or gid; every form takes [--data DIR])";

typedef struct opts {
    const char *data, *purpose, *channel, *source, *user;
    int json, grant, withdraw;
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
        const char **val = strcmp(a, "--purpose") == 0   ? &o->purpose
                           : strcmp(a, "--channel") == 0 ? &o->channel
                           : strcmp(a, "--source") == 0  ? &o->source
                           : strcmp(a, "--user") == 0    ? &o->user
                                                         : NULL;
        if (val) {
            if (i + 1 >= argc) return -1;
            *val = argv[++i];
        } else if (strcmp(a, "--json") == 0) {
            o->json = 1;
        } else if (strcmp(a, "--grant") == 0) {
            o->grant = 1;
        } else if (strcmp(a, "--withdraw") == 0) {
            o->withdraw = 1;
        } else if (a[0] == '-' && a[1]) {
            return -1;
        } else {
            if (o->npos == 3) return -1;
            o->pos[o->npos++] = a;
        }
    }
    return o->npos ? 0 : -1;
}

/* Opens the store, finds the acting principal (who must hold customer.view) and the customer. */
static int prepare(const opts *o, int write, tb_db **db, tb__principal *who, uint32_t *gid)
{
    char err[512];
    if (tb_db_open(o->data, write ? 0 : TB_OPEN_READONLY, db, err, sizeof err))
        return tb__cli_fail("consent", "%s", err);
    int rc = tb__cli_principal(*db, o->user, who);
    if (!rc && !tb__principal_can(who, TB__P_CUSTOMER_VIEW))
        rc = tb__seterr(tb__db_err(*db), TB_EPERM, "consent needs customer.view");
    if (!rc) rc = tb__customer_resolve_any(*db, o->pos[1], gid);
    if (rc == TB_ENOENT) /* what was typed may be an ID number or a mobile: never echo it */
        return tb__cli_fail("consent", "no such customer");
    if (rc) return tb__cli_fail("consent", "%s", tb_errmsg(*db));
    return 0;
}

static int set(const opts *o)
{
    if (o->npos != 2 || !o->purpose || !o->channel || o->grant == o->withdraw)
        return tb__cli_usage("consent", usage);
    tb_db *db = NULL;
    tb__principal who;
    uint32_t gid;
    int status = prepare(o, 1, &db, &who, &gid);
    if (!status) {
        if (tb__consent_set(db, &who, "cli", gid, o->purpose, o->channel, o->grant,
                            o->source ? o->source : "cli"))
            status = tb__cli_fail("consent", "%s", tb_errmsg(db));
        else
            printf("consent of gid %u for %s on %s: %s\n", gid, o->purpose, o->channel,
                   o->grant ? "granted" : "withdrawn");
    }
    tb_db_close(db);
    return status;
}

static void print_text(json_t *doc, const char *cust_no)
{
    printf("customer %s (gid %lld)\n", cust_no,
           (long long)json_integer_value(json_object_get(doc, "gid")));
    const char *purpose;
    json_t *chs;
    printf("decisions (a withdrawal for 'any' or the channel wins; no record: the default):\n");
    json_object_foreach(json_object_get(doc, "effective"), purpose, chs)
    {
        const char *ch;
        json_t *v;
        printf("  %-12s", purpose);
        json_object_foreach(chs, ch, v) printf(" %s=%s", ch, json_is_true(v) ? "yes" : "no");
        putchar('\n');
    }
    size_t i;
    json_t *e;
    printf("history:\n");
    if (json_array_size(json_object_get(doc, "history")) == 0) printf("  (none)\n");
    json_array_foreach(json_object_get(doc, "history"), i, e)
        printf("  %s %-8s %-12s %-8s by %s from %s\n", json_string_value(json_object_get(e, "at")),
               json_string_value(json_object_get(e, "action")),
               json_string_value(json_object_get(e, "purpose")),
               json_string_value(json_object_get(e, "channel")),
               json_string_value(json_object_get(e, "actor")),
               json_string_value(json_object_get(e, "source")));
}

static int show(const opts *o)
{
    if (o->npos != 2) return tb__cli_usage("consent", usage);
    tb_db *db = NULL;
    tb__principal who;
    uint32_t gid;
    /* a named user's read of a person's ledger counts toward their personal-data reads */
    int status = prepare(o, o->user != NULL, &db, &who, &gid);
    if (!status && o->user && tb__access_note(db, &who, "cli", "pii_read"))
        status = tb__cli_fail("consent", "%s", tb_errmsg(db));
    json_t *doc = NULL;
    if (!status && tb__consent_show(db, gid, &doc))
        status = tb__cli_fail("consent", "%s", tb_errmsg(db));
    if (!status) {
        char cust_no[72] = "";
        if (tb__customer_key_of(db, gid, cust_no, sizeof cust_no)) snprintf(cust_no, 2, "-");
        if (o->json) {
            json_object_set_new(doc, "customer", json_string(cust_no));
            json_dumpf(doc, stdout, JSON_COMPACT);
            putchar('\n');
        } else {
            print_text(doc, cust_no);
        }
    }
    json_decref(doc);
    tb_db_close(db);
    return status;
}

int tb__cmd_consent(int argc, char **argv)
{
    opts o;
    if (parse(argc, argv, &o)) return tb__cli_usage("consent", usage);
    if (strcmp(o.pos[0], "set") == 0) return set(&o);
    if (strcmp(o.pos[0], "show") == 0) return show(&o);
    return tb__cli_usage("consent", usage);
}
