/* cmd_customer.c — tagbase customer: find (search before create), show (masked golden record),
 * merge and unmerge golden records, copy (a person's data as one JSON document, PIPL), erase (a
 * person removed from every store, with a second person's approval, and the proof). Thin:
 * parses, calls src/pipeline/identity.h and src/security/, renders. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli/cli.h"
#include "pipeline/identity.h"
#include "security/erase.h"
#include "security/security.h"

static const char usage[] =
    "find QUERY [--json] | show CUST_NO|ID_NO|MOBILE|GID [--as-of YYYYMMDD] [--unmasked] "
    "[--json] | "
    "merge GID_INTO GID_FROM --reason TEXT | unmerge GID | copy CUST_NO|ID_NO|MOBILE|GID "
    "[--as-of YYYYMMDD] | erase CUST_NO|ID_NO|MOBILE|GID --approval ID [--json] | "
    "erase --verify ERASURE_ID|CUST_NO|ID_NO|MOBILE [--json]  "
    "[--data DIR] [--user NAME]";

struct opts {
    const char *dir, *user, *reason, *as_of, *approval;
    int json, unmasked, verify, user_given;
    const char *pos[3];
    int npos;
};

/* Returns 0, or 2 after printing the usage. */
static int parse(int argc, char **argv, struct opts *o)
{
    memset(o, 0, sizeof *o);
    for (int i = 1; i < argc; i++) {
        int d = tb__cli_data_opt(argc, argv, &i, &o->dir);
        if (d < 0) return tb__cli_usage("customer", usage) ? 2 : 2;
        if (d) continue;
        if (strcmp(argv[i], "--json") == 0) {
            o->json = 1;
        } else if (strcmp(argv[i], "--unmasked") == 0) {
            o->unmasked = 1;
        } else if (strcmp(argv[i], "--as-of") == 0 && i + 1 < argc) {
            o->as_of = argv[++i];
        } else if (strcmp(argv[i], "--approval") == 0 && i + 1 < argc) {
            o->approval = argv[++i];
        } else if (strcmp(argv[i], "--verify") == 0) {
            o->verify = 1;
        } else if ((strcmp(argv[i], "--user") == 0 || strcmp(argv[i], "--reason") == 0) &&
                   i + 1 < argc) {
            *(argv[i][2] == 'u' ? &o->user : &o->reason) = argv[i + 1];
            if (argv[i][2] == 'u') o->user_given = 1;
            i++;
        } else if (argv[i][0] == '-' || o->npos == 3) {
            tb__cli_usage("customer", usage);
            return 2;
        } else {
            o->pos[o->npos++] = argv[i];
        }
    }
    if (!o->dir) o->dir = tb_default_data_dir();
    if (!o->user) o->user = getenv("USER");
    if (!o->user || !*o->user) o->user = "unknown";
    return 0;
}

static int open_db(const struct opts *o, unsigned flags, tb_db **db)
{
    char err[512];
    if (tb_db_open(o->dir, flags, db, err, sizeof err) != 0)
        return tb__cli_fail("customer", "%s", err);
    return 0;
}

static int print_doc(json_t *doc)
{
    int rc = json_dumpf(doc, stdout, JSON_INDENT(2)) == 0 && fputc('\n', stdout) != EOF ? 0 : 1;
    json_decref(doc);
    return rc ? tb__cli_fail("customer", "cannot write output") : 0;
}

static int cmd_find(tb_db *db, const struct opts *o)
{
    tb__candidate *c;
    size_t n;
    if (tb__customer_find(db, o->pos[1], 0, &c, &n) != 0)
        return tb__cli_fail("customer", "%s", tb_errmsg(db));
    int rc = 0;
    if (o->json) {
        json_t *arr = json_array();
        for (size_t i = 0; arr && i < n; i++)
            json_array_append_new(
                arr,
                json_pack("{s:I, s:s, s:s, s:s, s:s, s:s, s:s, s:i}", "gid", (json_int_t)c[i].gid,
                          "kind", c[i].kind == TB__PARTY_COMPANY ? "company" : "person", "name",
                          c[i].name, "cert_no", c[i].cert, "mobile", c[i].mobile, "cust_type",
                          c[i].cust_type, "reasons", c[i].reasons, "score", c[i].score));
        rc = arr ? print_doc(arr) : tb__cli_fail("customer", "out of memory");
    } else if (n == 0) {
        printf("no matching customer\n");
    } else {
        printf("%-10s %-8s %-16s %-20s %-12s %s\n", "gid", "kind", "name", "cert", "mobile", "why");
        for (size_t i = 0; i < n; i++)
            printf("%-10u %-8s %-16s %-20s %-12s %s\n", c[i].gid,
                   c[i].kind == TB__PARTY_COMPANY ? "company" : "person", c[i].name, c[i].cert,
                   c[i].mobile, c[i].reasons);
    }
    tb__customer_candidates_free(c);
    return rc;
}

static void print_text(json_t *doc)
{
    json_t *m = json_object_get(doc, "merged_into");
    printf("gid %lld  %s  cert %s  cust_type %s\n",
           (long long)json_integer_value(json_object_get(doc, "gid")),
           json_string_value(json_object_get(doc, "kind")),
           json_is_string(json_object_get(doc, "cert_no"))
               ? json_string_value(json_object_get(doc, "cert_no"))
               : "-",
           json_is_string(json_object_get(doc, "cust_type"))
               ? json_string_value(json_object_get(doc, "cust_type"))
               : "-");
    if (json_is_integer(m)) printf("merged into gid %lld\n", (long long)json_integer_value(m));
    const char *k;
    json_t *v;
    printf("attributes:\n");
    json_object_foreach(json_object_get(doc, "attributes"), k, v)
        printf("  %-11s %-24s %s %s\n", k, json_string_value(json_object_get(v, "value")),
               json_string_value(json_object_get(v, "source")),
               json_string_value(json_object_get(v, "as_of")));
    size_t i;
    printf("keys:\n");
    json_array_foreach(json_object_get(doc, "keys"), i, v)
        printf("  %-6s %s\n", json_string_value(json_object_get(v, "system")),
               json_string_value(json_object_get(v, "key")));
    json_array_foreach(json_object_get(doc, "relations"), i, v)
    {
        if (i == 0) printf("relations:\n");
        printf("  %-10s %-16s %s\n", json_string_value(json_object_get(v, "type")),
               json_string_value(json_object_get(v, "target")),
               json_is_string(json_object_get(v, "role"))
                   ? json_string_value(json_object_get(v, "role"))
                   : "");
    }
    json_array_foreach(json_object_get(doc, "history"), i, v)
    {
        if (i == 0) printf("history:\n");
        printf("  %s %-11s %s -> %s (%s)\n", json_string_value(json_object_get(v, "batch_date")),
               json_string_value(json_object_get(v, "field")),
               json_string_value(json_object_get(v, "old")),
               json_string_value(json_object_get(v, "new")),
               json_string_value(json_object_get(v, "source")));
    }
    json_array_foreach(json_object_get(doc, "conflicts"), i, v)
    {
        if (i == 0) printf("conflicts:\n");
        printf("  %s %-11s %s (%s) vs %s (%s), chose %s\n",
               json_string_value(json_object_get(v, "batch_date")),
               json_string_value(json_object_get(v, "field")),
               json_string_value(json_object_get(v, "value_a")),
               json_string_value(json_object_get(v, "source_a")),
               json_string_value(json_object_get(v, "value_b")),
               json_string_value(json_object_get(v, "source_b")),
               json_string_value(json_object_get(v, "chosen")));
    }
}

/* The 360-degree view's tags by theme and segments, after the golden record. */
static void print_tags(json_t *doc)
{
    size_t i, j;
    json_t *g, *t;
    const char *batch = json_string_value(json_object_get(doc, "batch_date"));
    if (!batch) {
        const char *note = json_string_value(json_object_get(doc, "tags_note"));
        if (note) printf("tags: %s\n", note);
        return;
    }
    printf("tags of %s:\n", batch);
    json_array_foreach(json_object_get(doc, "tags"), i, g)
    {
        printf("  [%s %s]\n", json_string_value(json_object_get(g, "theme")),
               json_is_string(json_object_get(g, "name_zh"))
                   ? json_string_value(json_object_get(g, "name_zh"))
                   : "");
        json_array_foreach(json_object_get(g, "tags"), j, t)
        {
            char *v = json_dumps(json_object_get(t, "value"), JSON_ENCODE_ANY);
            printf("    %-28s %-20s %s\n", json_string_value(json_object_get(t, "code")),
                   v ? v : "", json_string_value(json_object_get(t, "name_zh")));
            free(v);
        }
    }
    printf("segments:");
    json_array_foreach(json_object_get(doc, "segments"), i, t) printf(" %s", json_string_value(t));
    printf("\n");
}

/* A person's copy of their data (PIPL), unmasked, as one JSON document; audited under the
 * operating-system user before it is written out (no unaudited read of personal data). */
static int cmd_copy(tb_db *db, const struct opts *o)
{
    tb_seg_opts so = {0};
    so.as_of = o->as_of;
    uint32_t gid;
    json_t *doc;
    if (tb__customer_copy(db, o->pos[1], &so, &gid, &doc) != 0)
        return tb__cli_fail("customer", "%s", tb_errmsg(db));
    tb__principal who;
    const char *env = getenv("TAGBASE_USER");
    tb__principal_cli(&who, env && *env ? env : o->user);
    char object[32];
    snprintf(object, sizeof object, "gid:%u", gid);
    if (tb__audit(db, &who, "cli", "customer.copy", object, NULL, "ok") != 0) {
        json_decref(doc);
        return tb__cli_fail("customer", "cannot write the audit record: %s", tb_errmsg(db));
    }
    return print_doc(doc);
}

/* Prints an erasure's or a proof's store table: "store  files  bytes  found". */
static void print_proof(json_t *proof)
{
    const char *k;
    json_t *v;
    printf("%-22s %6s %12s %6s\n", "store", "files", "bytes", "found");
    json_object_foreach(json_object_get(proof, "stores"), k, v)
    {
        printf("%-22s %6lld %12lld %6lld\n", k,
               (long long)json_integer_value(json_object_get(v, "files")),
               (long long)json_integer_value(json_object_get(v, "bytes")),
               (long long)json_integer_value(json_object_get(v, "found")));
    }
    json_t *nm = json_object_get(json_object_get(proof, "kinds"), "name");
    if (json_is_true(json_object_get(nm, "shared_with_other_customers")))
        printf("(the name is also another customer's: its hits are theirs or the proof's limit)\n");
    printf("%s\n", json_is_true(json_object_get(proof, "ok"))
                       ? "proof: 0 found in every store"
                       : "proof: FOUND identifiers of the erased person (see above)");
}

/* Erasure of a person (PIPL art. 47) with a second person's approval, or the rerun of its proof.
 * The principal is the tagbase user of --user, else the operating-system user. */
static int cmd_erase(tb_db *db, const struct opts *o)
{
    tb__principal who;
    if (tb__cli_principal(db, o->user_given ? o->user : NULL, &who) != 0)
        return tb__cli_fail("customer", "%s", tb_errmsg(db));
    json_t *doc = NULL;
    if (o->verify) {
        if (tb__customer_erase_verify(db, &who, "cli", o->pos[1], &doc) != 0)
            return tb__cli_fail("customer", "%s", tb_errmsg(db));
    } else {
        char *end = NULL;
        long long id = o->approval ? strtoll(o->approval, &end, 10) : 0;
        if (o->approval && (*end || id <= 0))
            return tb__cli_fail("customer", "--approval takes a request number");
        if (tb__customer_erase(db, &who, "cli", o->pos[1], id, &doc) != 0)
            return tb__cli_fail("customer", "%s", tb_errmsg(db));
    }
    int ok = json_is_true(json_object_get(doc, "ok")) ||
             json_is_true(json_object_get(json_object_get(doc, "proof"), "ok"));
    if (o->json) {
        int rc = print_doc(doc);
        return rc ? rc : ok ? 0 : 1;
    }
    if (!o->verify)
        printf("erased gid %lld (erasure %lld)\n",
               (long long)json_integer_value(json_object_get(doc, "gid")),
               (long long)json_integer_value(json_object_get(doc, "erasure_id")));
    print_proof(o->verify ? doc : json_object_get(doc, "proof"));
    json_decref(doc);
    return ok ? 0 : 1;
}

static int parse_gid(tb_db *db, const char *s, uint32_t *gid)
{
    int rc = tb__customer_resolve(db, s, gid);
    if (rc == TB_ENOENT) return tb__cli_fail("customer", "no customer '%s'", s);
    if (rc) return tb__cli_fail("customer", "%s", tb_errmsg(db));
    return 0;
}

int tb__cmd_customer(int argc, char **argv)
{
    struct opts o;
    if (parse(argc, argv, &o)) return 2;
    const char *sub = o.npos ? o.pos[0] : "";
    int want = strcmp(sub, "find") == 0 || strcmp(sub, "show") == 0 ||
                       strcmp(sub, "unmerge") == 0 || strcmp(sub, "copy") == 0 ||
                       strcmp(sub, "erase") == 0
                   ? 2
               : strcmp(sub, "merge") == 0 ? 3
                                           : 0;
    if (!want || o.npos != want) return tb__cli_usage("customer", usage);
    if (strcmp(sub, "merge") == 0 && !o.reason) return tb__cli_usage("customer", usage);
    /* copy and erase are audited */
    int write = sub[0] == 'm' || sub[0] == 'u' || sub[0] == 'c' || sub[0] == 'e';
    tb_db *db;
    /* Reads open read-only, so find and show work while a load holds the writer lock. */
    if (open_db(&o, write ? 0 : TB_OPEN_READONLY, &db)) return 1;
    int rc = 0;
    uint32_t a, b;
    if (strcmp(sub, "find") == 0) {
        rc = cmd_find(db, &o);
    } else if (strcmp(sub, "show") == 0) {
        /* the 360-degree view: by customer number, ID number, mobile or gid */
        char *text = NULL;
        json_t *doc = NULL;
        tb_seg_opts so = {0};
        so.as_of = o.as_of;
        so.unmasked = o.unmasked;
        if (tb_customer_360(db, o.pos[1], &so, &text) != 0) {
            rc = tb__cli_fail("customer", "%s", tb_errmsg(db));
        } else if (!(doc = json_loads(text, 0, NULL))) {
            rc = tb__cli_fail("customer", "cannot render the view");
        } else if (o.json) {
            rc = print_doc(doc);
        } else {
            print_text(doc);
            print_tags(doc);
            json_decref(doc);
        }
        free(text);
    } else if (strcmp(sub, "copy") == 0) {
        rc = cmd_copy(db, &o);
    } else if (strcmp(sub, "erase") == 0) {
        rc = cmd_erase(db, &o);
    } else if (strcmp(sub, "merge") == 0) {
        int64_t id;
        if ((rc = parse_gid(db, o.pos[1], &a)) == 0 && (rc = parse_gid(db, o.pos[2], &b)) == 0) {
            if (tb__customer_merge(db, a, b, o.user, o.reason, &id) != 0)
                rc = tb__cli_fail("customer", "%s", tb_errmsg(db));
            else
                printf("merged gid %u into gid %u (merge %lld)\n", b, a, (long long)id);
        }
    } else {
        if ((rc = parse_gid(db, o.pos[1], &a)) == 0) {
            if (tb__customer_unmerge(db, a, o.user) != 0)
                rc = tb__cli_fail("customer", "%s", tb_errmsg(db));
            else
                printf("unmerged gid %u\n", a);
        }
    }
    tb_db_close(db);
    return rc;
}
