/* cmd_standard.c — tagbase standard: load data standards files into the meta store as versions,
 * list the versions, show the business types and fields of one. */
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "pipeline/standard.h"
#include "store/meta.h"

static const char usage[] =
    "load FILE [--data DIR]\n"
    "       tagbase standard list [--json] [--data DIR]\n"
    "       tagbase standard show [TYPE] [--version N] [--json] [--data DIR]";

/* Writes a rendered document and its newline; 1 when stdout failed. */
static int dump(json_t *doc)
{
    if (!doc) return tb__cli_fail("standard", "cannot render the result as JSON");
    int rc = json_dumpf(doc, stdout, JSON_INDENT(2)) == 0 && fputc('\n', stdout) != EOF ? 0 : 1;
    json_decref(doc);
    return rc;
}

/* load: the one writing subcommand; a missing data directory is an error, never created. */
static int cmd_load(const char *data, const char *file)
{
    char err[512];
    tb_db *db;
    int rc = tb_db_open(data, 0, &db, err, sizeof err);
    if (rc) return tb__cli_fail("standard", "%s", err);
    tb__std_load_result res;
    rc = tb__std_load_ex(db, file, &res);
    if (rc) {
        tb__cli_fail("standard", "%s", tb_errmsg(db));
        tb_db_close(db);
        return 1;
    }
    if (res.unchanged)
        printf("data standards from '%s' unchanged (version %d)\n", file, res.version);
    else
        printf("loaded data standards version %d from '%s' (%zu business types)\n", res.version,
               file, res.ntypes);
    tb_db_close(db);
    return 0;
}

typedef struct list_ctx {
    int json;
    json_t *arr;
    int n;
} list_ctx;

static int list_one(const tb__std_version_info *in, void *arg)
{
    list_ctx *c = arg;
    c->n++;
    if (c->json) {
        json_t *o =
            json_pack("{s:i, s:s, s:s, s:s, s:s, s:I, s:I, s:b}", "version", in->version, "source",
                      in->source, "hash", in->hash, "loaded_at", in->loaded_at, "version_note",
                      in->version_note, "business_types", (json_int_t)in->ntypes, "bytes",
                      (json_int_t)in->bytes, "current", in->current);
        return o && json_array_append_new(c->arr, o) == 0 ? 0 : TB_ENOMEM;
    }
    if (c->n == 1)
        printf("%-8s %-19s %6s %9s  %-16s  %s\n", "version", "loaded at", "types", "bytes", "hash",
               "source");
    printf("%-8d %-19s %6zu %9zu  %-16s  %s%s\n", in->version, in->loaded_at, in->ntypes, in->bytes,
           in->hash, in->source, in->current ? "  (current)" : "");
    return 0;
}

/* list: read-only, so it works beside a running writer. */
static int cmd_list(const char *data, int json)
{
    char err[512];
    tb_db *db;
    int rc = tb_db_open(data, TB_OPEN_READONLY, &db, err, sizeof err);
    if (rc) return tb__cli_fail("standard", "%s", err);
    list_ctx c = {json, json ? json_array() : NULL, 0};
    rc = tb__std_list(db, list_one, &c);
    if (rc) {
        tb__cli_fail("standard", "%s", rc == TB_ENOMEM ? "out of memory" : tb_errmsg(db));
        json_decref(c.arr);
        tb_db_close(db);
        return 1;
    }
    tb_db_close(db);
    if (json) return dump(c.arr);
    if (c.n == 0) printf("no data standards loaded: run 'tagbase standard load FILE'\n");
    return 0;
}

/* "decimal(18,2)" back from its parts, for display. */
static const char *type_text(const tb__std_field *f, char *buf, size_t len)
{
    if (f->type != TB__STD_DECIMAL) return tb__std_ftype_name(f->type);
    snprintf(buf, len, "decimal(%d,%d)", f->precision, f->scale);
    return buf;
}

static json_t *field_json(const tb__std_type *t, const tb__std_field *f)
{
    char tb[32], cls[4];
    snprintf(cls, sizeof cls, "C%d", f->pi_class);
    json_t *o = json_pack("{s:s, s:s, s:b, s:s?, s:s?, s:s, s:i, s:s?, s:s}", "name", f->name,
                          "type", type_text(f, tb, sizeof tb), "required", f->required, "check",
                          f->check ? tb__std_check_name(f->check) : NULL, "codes",
                          f->codes ? tb__std_codes_name(f->codes) : NULL, "pi_class", cls, "level",
                          f->level, "mask", f->mask ? tb__std_mask_name(f->mask) : NULL,
                          "description", f->description);
    if (o)
        json_object_set_new(o, "max_len",
                            f->max_len ? json_integer((json_int_t)f->max_len) : json_null());
    if (o && f->id_type_field >= 0)
        json_object_set_new(o, "id_type_field", json_string(t->fields[f->id_type_field].name));
    return o;
}

static json_t *type_json(const tb__std_type *t, int with_fields)
{
    json_t *uniq = json_array();
    for (size_t i = 0; uniq && i < t->nunique; i++)
        json_array_append_new(uniq, json_string(t->fields[t->unique[i]].name));
    json_t *o =
        json_pack("{s:s, s:s, s:s, s:s, s:o, s:I}", "name", t->name, "kind",
                  tb__std_kind_name(t->kind), "source_system", t->source_system, "description",
                  t->description, "unique", uniq, "nfields", (json_int_t)t->nfields);
    if (!o) return NULL;
    json_t *ck = json_object();
    if (t->key_field >= 0) {
        json_object_set_new(ck, "field", json_string(t->fields[t->key_field].name));
        json_object_set_new(ck, "system", json_string(t->key_system));
    }
    if (t->cert_field >= 0)
        json_object_set_new(ck, "cert_field", json_string(t->fields[t->cert_field].name));
    if (t->cert_type_field >= 0)
        json_object_set_new(ck, "cert_type_field", json_string(t->fields[t->cert_type_field].name));
    if (t->cert_type) json_object_set_new(ck, "cert_type", json_string(t->cert_type));
    json_object_set_new(o, "customer_key", json_object_size(ck) ? ck : json_null());
    if (!json_object_size(ck)) json_decref(ck);
    if (with_fields) {
        json_t *fa = json_array();
        for (size_t i = 0; fa && i < t->nfields; i++)
            json_array_append_new(fa, field_json(t, &t->fields[i]));
        json_object_set_new(o, "fields", fa);
    }
    return o;
}

static void print_type(const tb__std_type *t, int version)
{
    printf("business type %s (%s, source %s) in data standards version %d\n", t->name,
           tb__std_kind_name(t->kind), t->source_system, version);
    if (*t->description) printf("  %s\n", t->description);
    printf("  unique:");
    for (size_t i = 0; i < t->nunique; i++)
        printf(" %s", t->fields[t->unique[i]].name);
    if (t->key_field >= 0)
        printf("; customer key: %s (%s)", t->fields[t->key_field].name, t->key_system);
    if (t->cert_field >= 0)
        printf("; certificate: %s (type %s)", t->fields[t->cert_field].name,
               t->cert_type_field >= 0 ? t->fields[t->cert_type_field].name : t->cert_type);
    printf("\n  %3s %-18s %-14s %-3s %-12s %-18s %7s %-5s %-5s %-6s %s\n", "#", "field", "type",
           "req", "check", "codes", "max_len", "class", "level", "mask", "description");
    for (size_t i = 0; i < t->nfields; i++) {
        const tb__std_field *f = &t->fields[i];
        char tb[32], ml[16];
        snprintf(ml, sizeof ml, "%u", (unsigned)f->max_len);
        printf("  %3zu %-18s %-14s %-3s %-12s %-18s %7s C%-4d %-5d %-6s %s\n", i + 1, f->name,
               type_text(f, tb, sizeof tb), f->required ? "yes" : "", tb__std_check_name(f->check),
               f->codes ? tb__std_codes_name(f->codes) : "", f->max_len ? ml : "", f->pi_class,
               f->level, tb__std_mask_name(f->mask), f->description);
    }
}

/* show: one type's fields, or the list of types; read-only. */
static int cmd_show(const char *data, const char *type, int version, int json)
{
    char err[512];
    tb_db *db;
    tb__standards *s = NULL;
    int status = 1;
    int rc = tb_db_open(data, TB_OPEN_READONLY, &db, err, sizeof err);
    if (rc) return tb__cli_fail("standard", "%s", err);
    rc = version ? tb__std_get(db, version, &s) : tb__std_current(db, &s, &version);
    if (rc) {
        tb__cli_fail("standard", "%s", tb_errmsg(db));
        goto out_close;
    }
    if (type) {
        const tb__std_type *t = tb__std_find(s, type);
        if (!t) {
            tb__cli_fail("standard", "no business type '%s' in data standards version %d", type,
                         version);
            goto out_close;
        }
        if (json) {
            json_t *o = type_json(t, 1);
            if (o) json_object_set_new(o, "version", json_integer(version));
            status = dump(o);
        } else {
            print_type(t, version);
            status = 0;
        }
        goto out_close;
    }
    if (json) {
        json_t *arr = json_array();
        for (size_t i = 0; arr && i < tb__std_ntypes(s); i++)
            json_array_append_new(arr, type_json(tb__std_type_at(s, i), 0));
        status = dump(json_pack("{s:i, s:s, s:I, s:o}", "version", version, "version_note",
                                tb__std_version_note(s), "code_tables",
                                (json_int_t)tb__std_ncode_tables(s), "business_types", arr));
        goto out_close;
    }
    printf("data standards version %d: %zu business types, %zu code tables\n", version,
           tb__std_ntypes(s), tb__std_ncode_tables(s));
    if (*tb__std_version_note(s)) printf("  %s\n", tb__std_version_note(s));
    printf("  %-22s %-9s %-7s %6s  %s\n", "business type", "kind", "source", "fields", "unique");
    for (size_t i = 0; i < tb__std_ntypes(s); i++) {
        const tb__std_type *t = tb__std_type_at(s, i);
        printf("  %-22s %-9s %-7s %6zu  ", t->name, tb__std_kind_name(t->kind), t->source_system,
               t->nfields);
        for (size_t k = 0; k < t->nunique; k++)
            printf("%s%s", k ? "," : "", t->fields[t->unique[k]].name);
        printf("\n");
    }
    status = 0;
out_close:
    tb__std_free(s);
    tb_db_close(db);
    return status;
}

int tb__cmd_standard(int argc, char **argv)
{
    const char *data = tb_default_data_dir(), *arg = NULL;
    int json = 0;
    uint64_t version = 0;
    if (argc < 2) return tb__cli_usage("standard", usage);
    const char *sub = argv[1];
    if (strcmp(sub, "--help") == 0 || strcmp(sub, "help") == 0) {
        printf("usage: tagbase standard %s\n", usage);
        return 0;
    }
    for (int i = 2; i < argc; i++) {
        int d = tb__cli_data_opt(argc, argv, &i, &data);
        if (d < 0) return tb__cli_usage("standard", usage);
        if (d) continue;
        if (strcmp(argv[i], "--json") == 0) {
            json = 1;
        } else if (strcmp(argv[i], "--version") == 0 && i + 1 < argc) {
            if (tb__cli_parse_u64(argv[++i], 1, 2147483647, &version))
                return tb__cli_fail("standard", "--version expects a version number, got '%s'",
                                    argv[i]) +
                       1;
        } else if (strcmp(argv[i], "--help") == 0) {
            printf("usage: tagbase standard %s\n", usage);
            return 0;
        } else if (argv[i][0] == '-' || arg) {
            return tb__cli_usage("standard", usage);
        } else {
            arg = argv[i];
        }
    }
    if (strcmp(sub, "load") == 0) {
        if (!arg || json || version) return tb__cli_usage("standard", usage);
        return cmd_load(data, arg);
    }
    if (strcmp(sub, "list") == 0) {
        if (arg || version) return tb__cli_usage("standard", usage);
        return cmd_list(data, json);
    }
    if (strcmp(sub, "show") == 0) return cmd_show(data, arg, (int)version, json);
    return tb__cli_usage("standard", usage);
}
