/* test_standard.c — tests src/pipeline/standard.c: parse errors name the source and JSON path, C3
 * is refused, versions in the meta store, the row validator's rules one by one, the value
 * parsers' edges, and that the validator with standards/default.json classifies every defect of
 * a generated dirty bank exactly as the generator's manifest counts them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "helpers.h"
#include "pipeline/reader.h"
#include "pipeline/standard.h"
#include "store/file.h"
#include "store/meta.h"

/* A small valid document; tests patch one spot of it to provoke each error. */
static const char base[] =
    "{\"version_note\": \"t\", \"code_tables\": {\"id_type\": {\"101\": \"id\", \"201\": "
    "\"uscc\"}, \"flag\": {\"0\": \"no\", \"1\": \"yes\"}},\n"
    " \"business_types\": {\"party\": {\"kind\": \"external\", \"source_system\": \"court\",\n"
    "  \"unique\": [\"id_no\"], \"customer_key\": {\"cert_field\": \"id_no\", "
    "\"cert_type_field\": \"id_type\"},\n"
    "  \"fields\": [\n"
    "   {\"name\": \"id_type\", \"type\": \"string\", \"required\": true, \"codes\": \"id_type\", "
    "\"pi_class\": \"C1\", \"level\": 2},\n"
    "   {\"name\": \"id_no\", \"type\": \"string\", \"required\": true, \"check\": "
    "\"id_by_type\", \"pi_class\": \"C2\", \"level\": 3, \"mask\": \"id\", \"max_len\": 18},\n"
    "   {\"name\": \"mobile\", \"type\": \"string\", \"check\": \"mobile\", \"pi_class\": "
    "\"C2\", \"level\": 3},\n"
    "   {\"name\": \"card\", \"type\": \"string\", \"check\": \"luhn\", \"pi_class\": \"C2\", "
    "\"level\": 3},\n"
    "   {\"name\": \"born\", \"type\": \"date\", \"check\": \"date\", \"pi_class\": \"C2\", "
    "\"level\": 3},\n"
    "   {\"name\": \"at\", \"type\": \"timestamp\", \"pi_class\": \"C1\", \"level\": 2},\n"
    "   {\"name\": \"amount\", \"type\": \"decimal(18,2)\", \"required\": true, \"pi_class\": "
    "\"C2\", \"level\": 3},\n"
    "   {\"name\": \"n\", \"type\": \"int\", \"pi_class\": \"C1\", \"level\": 1},\n"
    "   {\"name\": \"flag\", \"type\": \"string\", \"codes\": \"flag\", \"pi_class\": \"C1\", "
    "\"level\": 1},\n"
    "   {\"name\": \"note\", \"type\": \"string\", \"max_len\": 3, \"pi_class\": \"C1\", "
    "\"level\": 1}\n"
    "  ]}}}\n";

/* base with the first occurrence of `from` replaced by `to`; caller frees. */
static char *patch(const char *from, const char *to)
{
    const char *at = strstr(base, from);
    assert_non_null(at);
    char *out;
    assert_true(asprintf(&out, "%.*s%s%s", (int)(at - base), base, to, at + strlen(from)) > 0);
    return out;
}

/* Parses base patched as given and returns the error message (static buffer). */
static const char *parse_error(const char *from, const char *to, int want)
{
    static tb__errbuf eb;
    char *doc = patch(from, to);
    tb__standards *s = (tb__standards *)1;
    int rc = tb__std_parse(doc, strlen(doc), "std.json", &s, &eb);
    free(doc);
    assert_int_equal(rc, want);
    assert_null(s);
    return eb.msg;
}

static void test_parse_ok(void **state)
{
    (void)state;
    tb__errbuf eb = {0};
    tb__standards *s;
    assert_int_equal(tb__std_parse(base, strlen(base), "std.json", &s, &eb), 0);
    assert_int_equal(tb__std_ntypes(s), 1);
    const tb__std_type *t = tb__std_find(s, "party");
    assert_non_null(t);
    assert_null(tb__std_find(s, "nope"));
    assert_int_equal(t->kind, TB__STD_EXTERNAL);
    assert_int_equal(t->nfields, 10);
    assert_int_equal(t->nunique, 1);
    assert_int_equal(t->unique[0], 1);
    assert_int_equal(t->cert_field, 1);
    assert_int_equal(t->cert_type_field, 0);
    assert_int_equal(t->key_field, -1);
    assert_int_equal(t->fields[1].id_type_field, 0);
    assert_int_equal(t->fields[6].type, TB__STD_DECIMAL);
    assert_int_equal(t->fields[6].precision, 18);
    assert_int_equal(t->fields[6].scale, 2);
    assert_int_equal(t->fields[1].mask, TB__STD_MASK_ID);
    assert_int_equal(tb__std_field_index(t, "amount"), 6);
    assert_string_equal(tb__std_code_label(t->fields[0].codes, "201", 3), "uscc");
    assert_null(tb__std_code_label(t->fields[0].codes, "20", 2));
    assert_int_equal(tb__std_ncode_tables(s), 2);
    assert_string_equal(tb__std_codes_name(tb__std_code_table_at(s, 0)), "flag");
    tb__std_free(s);
}

static void test_parse_errors(void **state)
{
    (void)state;
    assert_string_equal(parse_error("\"decimal(18,2)\"", "\"decimal(18\"", TB_EFORMAT),
                        "std.json: business_types.party.fields[6].type: 'decimal(18' is not a type "
                        "(string, int, decimal(p,s) with p <= 18, date, timestamp)");
    assert_non_null(strstr(parse_error("\"decimal(18,2)\"", "\"decimal(19,2)\"", TB_EFORMAT),
                           "fields[6].type: 'decimal(19,2)' is not a type"));
    assert_non_null(
        strstr(parse_error("\"check\": \"mobile\"", "\"check\": \"phone\"", TB_EFORMAT),
               "std.json: business_types.party.fields[2].check: 'phone' is not a check"));
    assert_non_null(strstr(parse_error("\"codes\": \"flag\"", "\"codes\": \"flags\"", TB_EFORMAT),
                           "fields[8].codes: no code table 'flags' in code_tables"));
    assert_non_null(strstr(parse_error("\"name\": \"n\"", "\"name\": \"amount\"", TB_EFORMAT),
                           "fields[7].name: duplicate field name 'amount'"));
    assert_non_null(strstr(parse_error("[\"id_no\"]", "[\"case_no\"]", TB_EFORMAT),
                           "business_types.party.unique[0]: no field 'case_no'"));
    assert_non_null(strstr(parse_error("\"required\": true, \"codes\": \"id_type\"",
                                       "\"requried\": true, \"codes\": \"id_type\"", TB_EFORMAT),
                           "fields[0]: unknown key 'requried'"));
    assert_non_null(strstr(parse_error("\"level\": 1}\n  ]", "\"level\": 6}\n  ]", TB_EFORMAT),
                           "fields[9].level: must be an integer from 1 to 5"));
    assert_non_null(strstr(parse_error("\"mask\": \"id\"", "\"mask\": \"hash\"", TB_EFORMAT),
                           "fields[1].mask: 'hash' is not a mask"));
    assert_non_null(
        strstr(parse_error("\"kind\": \"external\"", "\"kind\": \"events\"", TB_EFORMAT),
               "business_types.party.kind: 'events' is not a kind"));
    assert_non_null(strstr(parse_error("\"type\": \"date\", \"check\": \"date\"",
                                       "\"type\": \"string\", \"check\": \"date\"", TB_EFORMAT),
                           "fields[4].check: check 'date' does not fit type 'string'"));
    assert_non_null(strstr(parse_error("\"cert_type_field\": \"id_type\"",
                                       "\"cert_type_field\": \"idtype\"", TB_EFORMAT),
                           "business_types.party.customer_key: no field 'idtype'"));
    assert_non_null(strstr(parse_error("\"name\": \"id_type\"", "\"name\": \"kind\"", TB_EFORMAT),
                           "fields[1]: check 'id_by_type' needs a string field 'id_type'"));
    assert_non_null(strstr(parse_error("{\"version_note\"", "[{\"version_note\"", TB_EFORMAT),
                           "std.json: line 1"));
    assert_non_null(
        strstr(parse_error("\"flag\": {\"0\"", "\"flag\": {\"0\": 1, \"0\"", TB_EFORMAT),
               "std.json: line"));
    /* truncated documents and bytes after the value are refused too */
    tb__errbuf eb = {0};
    tb__standards *s;
    for (size_t n = 0; n < strlen(base) - 2; n += 97)
        assert_int_equal(tb__std_parse(base, n, "cut", &s, &eb), TB_EFORMAT);
}

static void test_c3_refused(void **state)
{
    (void)state;
    const char *m = parse_error("\"pi_class\": \"C2\", \"level\": 3, \"mask\": \"id\"",
                                "\"pi_class\": \"C3\", \"level\": 3, \"mask\": \"id\"", TB_EFORMAT);
    assert_non_null(strstr(m, "std.json: business_types.party.fields[1].pi_class: class C3"));
    assert_non_null(strstr(m, "is never stored"));
    assert_non_null(strstr(parse_error("\"pi_class\": \"C1\", \"level\": 2}",
                                       "\"pi_class\": \"c1\", \"level\": 2}", TB_EFORMAT),
                           "'c1' is not a class (C1 or C2)"));
}

/* A record from '|'-separated text; "~" is NULL. Fields point into a static copy. */
static tb__record rec_of(const char *text)
{
    static char buf[1024];
    static tb__field f[32];
    snprintf(buf, sizeof buf, "%s", text);
    size_t n = 0;
    char *p = buf;
    for (;;) {
        char *e = strchr(p, '|');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        f[n].ptr = p;
        f[n].len = len;
        f[n].is_null = len == 1 && *p == '~';
        n++;
        if (!e) break;
        p = e + 1;
    }
    tb__record r = {f, n, 1, 0, text, strlen(text), 0};
    return r;
}

static void test_check_rules(void **state)
{
    (void)state;
    tb__errbuf eb = {0};
    tb__standards *s;
    assert_int_equal(tb__std_parse(base, strlen(base), "std.json", &s, &eb), 0);
    const tb__std_type *t = tb__std_find(s, "party");
    static const struct {
        const char *row;
        tb__std_rule rule;
        int field;
    } cases[] = {
        {"101|11010519491231002X|13812345678|4111111111111111|1990-02-28|2026-11-21 "
         "23:59:59|12.50|-3|1|abc",
         TB__STD_OK, -1},
        {"201|91350100M000100Y43|~|~|~|~|0|~|~|~", TB__STD_OK, -1},
        {"999|x|~|~|~|~|0|~|~|~", TB__STD_UNKNOWN_CODE, 0},
        {"101|x|~|~|~|~|0|~|~", TB__STD_WRONG_COLUMN_COUNT, -1},
        {"101|x|~|~|~|~|0|~|~|~|0", TB__STD_WRONG_COLUMN_COUNT, -1},
        {"~|x|~|~|~|~|~|~|~|~", TB__STD_MISSING_REQUIRED, 0},
        {"101|11010519491231002X|~|~|~|~|~|~|~|~", TB__STD_MISSING_REQUIRED, 6},
        {"101|110105194912310021|~|~|~|~|0|~|~|~", TB__STD_BAD_ID_CHECK, 1},
        {"201|11010519491231002X|~|~|~|~|0|~|~|~", TB__STD_BAD_ID_CHECK, 1},
        {"101|11010519491231002X|12812345678|~|~|~|0|~|~|~", TB__STD_BAD_MOBILE, 2},
        {"101|11010519491231002X|1381234567|~|~|~|0|~|~|~", TB__STD_BAD_MOBILE, 2},
        {"101|11010519491231002X|~|~|1990-02-30|~|0|~|~|~", TB__STD_BAD_DATE, 4},
        {"101|11010519491231002X|~|~|19900228|~|0|~|~|~", TB__STD_BAD_DATE, 4},
        {"101|11010519491231002X|~|~|~|2026-11-21 24:00:00|0|~|~|~", TB__STD_BAD_TIMESTAMP, 5},
        {"101|11010519491231002X|~|~|~|~|1.234|~|~|~", TB__STD_BAD_NUMBER, 6},
        {"101|11010519491231002X|~|~|~|~|1e5|~|~|~", TB__STD_BAD_NUMBER, 6},
        {"101|11010519491231002X|~|~|~|~|0|9223372036854775808|~|~", TB__STD_BAD_NUMBER, 7},
        {"101|11010519491231002X|~|~|~|~|0|~|2|~", TB__STD_UNKNOWN_CODE, 8},
        {"101|11010519491231002X|~|~|~|~|0|~|~|abcd", TB__STD_TOO_LONG, 9},
        {"101|11010519491231002X|~|~|~|~|0|~|~|张三丰", TB__STD_OK, -1},
        {"101|11010519491231002X|~|~|~|~|0|~|~|张三丰李", TB__STD_TOO_LONG, 9},
        {"101|11010519491231002X|~|~|~|~|0|~|~|\xc3\x28", TB__STD_BAD_ENCODING, 9},
        /* first broken rule in column order wins */
        {"101|110105194912310021|128|~|1990-02-30|~|x|~|~|~", TB__STD_BAD_ID_CHECK, 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        tb__record r = rec_of(cases[i].row);
        tb__std_verdict v;
        int rc = tb__std_check(t, &r, &v);
        if (rc != (int)cases[i].rule || v.field != cases[i].field)
            fail_msg("case %zu '%s': got %s field %d, want %s field %d", i, cases[i].row,
                     tb__std_rule_name(v.rule), v.field, tb__std_rule_name(cases[i].rule),
                     cases[i].field);
        assert_int_equal(v.warnings, 0);
    }
    /* a bad Luhn digit is a warning: the row passes */
    tb__record r = rec_of("101|11010519491231002X|~|4111111111111112|~|~|0|~|~|~");
    tb__std_verdict v;
    assert_int_equal(tb__std_check(t, &r, &v), TB__STD_OK);
    assert_int_equal(v.warnings, TB__STD_WARN_LUHN);
    assert_int_equal(v.warn_field, 3);
    assert_string_equal(tb__std_warning_name(TB__STD_WARN_LUHN), "bad_luhn");
    tb__std_free(s);

    assert_string_equal(tb__std_rule_name(TB__STD_WRONG_COLUMN_COUNT), "wrong_column_count");
    assert_string_equal(tb__std_rule_name(TB__STD_DUPLICATE_ROW), "duplicate_row");
    assert_string_equal(tb__std_rule_name(TB__STD_KEY_CONFLICT), "key_conflict");
    assert_string_equal(tb__std_rule_name(TB__STD_BAD_ENCODING), "bad_encoding");
    assert_string_equal(tb__std_rule_name(TB__STD_RULE_COUNT), "unknown");
}

static void test_parse_values(void **state)
{
    (void)state;
    int32_t d = 0;
    assert_int_equal(tb__std_parse_date("1970-01-01", 10, &d), 0);
    assert_int_equal(d, 0);
    assert_int_equal(tb__std_parse_date("1969-12-31", 10, &d), 0);
    assert_int_equal(d, -1);
    assert_int_equal(tb__std_parse_date("2000-02-29", 10, &d), 0);
    assert_int_equal(d, 11016);
    assert_int_equal(tb__std_parse_date("2026-11-21", 10, &d), 0);
    assert_int_equal(d, 20778);
    assert_int_equal(tb__std_parse_date("1900-02-29", 10, &d), TB_EFORMAT);
    assert_int_equal(tb__std_parse_date("2100-02-29", 10, &d), TB_EFORMAT);
    assert_int_equal(tb__std_parse_date("2024-04-31", 10, &d), TB_EFORMAT);
    assert_int_equal(tb__std_parse_date("2024-00-10", 10, &d), TB_EFORMAT);
    assert_int_equal(tb__std_parse_date("2024-13-01", 10, &d), TB_EFORMAT);
    assert_int_equal(tb__std_parse_date("2024-06-00", 10, &d), TB_EFORMAT);
    assert_int_equal(tb__std_parse_date("2024-6-01", 9, &d), TB_EFORMAT);
    assert_int_equal(tb__std_parse_date("2024-06-01x", 11, &d), TB_EFORMAT);
    assert_int_equal(tb__std_parse_date("2024-06-01", 9, &d), TB_EFORMAT);
    assert_int_equal(tb__std_parse_date("+024-06-01", 10, &d), TB_EFORMAT);

    int64_t e = 0;
    assert_int_equal(tb__std_parse_timestamp("1970-01-01 08:00:00", 19, &e), 0);
    assert_int_equal(e, 0);
    assert_int_equal(tb__std_parse_timestamp("2026-11-21 10:00:00", 19, &e), 0);
    assert_int_equal(e, 1795226400);
    assert_int_equal(tb__std_parse_timestamp("2026-11-21 10:60:00", 19, &e), TB_EFORMAT);
    assert_int_equal(tb__std_parse_timestamp("2026-11-21T10:00:00", 19, &e), TB_EFORMAT);
    assert_int_equal(tb__std_parse_timestamp("2026-11-31 10:00:00", 19, &e), TB_EFORMAT);

    int64_t v = 0;
    assert_int_equal(tb__std_parse_decimal("1234.50", 7, 2, &v), 0);
    assert_int_equal(v, 123450);
    assert_int_equal(tb__std_parse_decimal("-12.5", 5, 2, &v), 0);
    assert_int_equal(v, -1250);
    assert_int_equal(tb__std_parse_decimal("007", 3, 4, &v), 0);
    assert_int_equal(v, 70000);
    assert_int_equal(tb__std_parse_decimal("0.0001", 6, 4, &v), 0);
    assert_int_equal(v, 1);
    assert_int_equal(tb__std_parse_decimal("9999999999999999.99", 19, 2, &v), 0);
    assert_int_equal(v, 999999999999999999LL);
    assert_int_equal(tb__std_parse_decimal("99999999999999999.99", 20, 2, &v), TB_ERANGE);
    assert_int_equal(tb__std_parse_decimal("1.234", 5, 2, &v), TB_EFORMAT);
    assert_int_equal(tb__std_parse_decimal("1.", 2, 2, &v), TB_EFORMAT);
    assert_int_equal(tb__std_parse_decimal(".5", 2, 2, &v), TB_EFORMAT);
    assert_int_equal(tb__std_parse_decimal("-", 1, 2, &v), TB_EFORMAT);
    assert_int_equal(tb__std_parse_decimal("", 0, 2, &v), TB_EFORMAT);
    assert_int_equal(tb__std_parse_decimal("1,5", 3, 2, &v), TB_EFORMAT);
    assert_int_equal(tb__std_parse_decimal("+1", 2, 2, &v), TB_EFORMAT);
    assert_int_equal(tb__std_parse_decimal("1", 1, 19, &v), TB_EINVAL);
    assert_int_equal(v, 999999999999999999LL); /* untouched on failure */

    assert_int_equal(tb__std_parse_int("-9223372036854775808", 20, &v), 0);
    assert_true(v == INT64_MIN);
    assert_int_equal(tb__std_parse_int("9223372036854775807", 19, &v), 0);
    assert_true(v == INT64_MAX);
    assert_int_equal(tb__std_parse_int("9223372036854775808", 19, &v), TB_ERANGE);
    assert_int_equal(tb__std_parse_int("99999999999999999999x", 21, &v), TB_EFORMAT);
    assert_int_equal(tb__std_parse_int("-", 1, &v), TB_EFORMAT);
    assert_int_equal(tb__std_parse_int("1.0", 3, &v), TB_EFORMAT);
}

static int count_versions(const tb__std_version_info *in, void *arg)
{
    int *n = arg;
    (*n)++;
    assert_int_equal(in->version, *n);
    assert_int_equal(strlen(in->hash), 16);
    assert_int_equal(in->ntypes, 1);
    return 0;
}

static void test_versions(void **state)
{
    const char *dir = *state;
    char *data = tbt_join(dir, "data"), *f1 = tbt_join(dir, "a.json"),
         *f2 = tbt_join(dir, "b.json"), *bad = tbt_join(dir, "bad.json");
    char *doc2 = patch("\"version_note\": \"t\"", "\"version_note\": \"t2\"");
    char *doc3 = patch("\"pi_class\": \"C1\", \"level\": 1}\n  ]",
                       "\"pi_class\": \"C3\", \"level\": 1}\n  ]");
    tb__errbuf eb = {0};
    assert_int_equal(tb__file_write_atomic(f1, base, strlen(base), 0644, &eb), 0);
    assert_int_equal(tb__file_write_atomic(f2, doc2, strlen(doc2), 0644, &eb), 0);
    assert_int_equal(tb__file_write_atomic(bad, doc3, strlen(doc3), 0644, &eb), 0);
    tb_db *db;
    char err[256];
    assert_int_equal(tb_db_open(data, TB_OPEN_CREATE, &db, err, sizeof err), 0);

    tb__standards *s = (tb__standards *)1;
    int ver = -1;
    assert_int_equal(tb__std_current(db, &s, &ver), TB_ENOENT);
    assert_null(s);
    assert_string_equal(tb_errmsg(db),
                        "no data standards loaded: run 'tagbase standard load FILE'");

    tb__std_load_result res;
    assert_int_equal(tb__std_load_ex(db, f1, &res), 0);
    assert_int_equal(res.version, 1);
    assert_int_equal(res.unchanged, 0);
    assert_int_equal(res.ntypes, 1);
    assert_int_equal(tb__std_load(db, f1, &ver), 0); /* same body: same version */
    assert_int_equal(ver, 1);
    assert_int_equal(tb__std_load_ex(db, f1, &res), 0);
    assert_int_equal(res.unchanged, 1);
    assert_int_equal(tb__std_load(db, bad, &ver), TB_EFORMAT); /* refused: nothing stored */
    assert_non_null(strstr(tb_errmsg(db), "bad.json: business_types.party.fields[9].pi_class"));
    assert_int_equal(tb__std_load(db, f2, &ver), 0); /* changed: new version */
    assert_int_equal(ver, 2);
    assert_int_equal(tb__std_load(db, f1, &ver), 0); /* an older body again: a third version */
    assert_int_equal(ver, 3);
    char *missing = tbt_join(dir, "nope.json");
    assert_int_equal(tb__std_load(db, missing, &ver), TB_ENOENT);
    free(missing);

    assert_int_equal(tb__std_current(db, &s, &ver), 0);
    assert_int_equal(ver, 3);
    assert_string_equal(tb__std_version_note(s), "t");
    tb__std_free(s);
    assert_int_equal(tb__std_get(db, 2, &s), 0);
    assert_string_equal(tb__std_version_note(s), "t2");
    tb__std_free(s);
    assert_int_equal(tb__std_get(db, 9, &s), TB_ENOENT);
    int n = 0;
    assert_int_equal(tb__std_list(db, count_versions, &n), 0);
    assert_int_equal(n, 3);

    /* an edited history is detected by the chained hash */
    assert_int_equal(sqlite3_exec(tb__db_sqlite(db),
                                  "UPDATE standard_version SET body = replace(body, '\"t\"', "
                                  "'\"x\"') WHERE version = 3",
                                  NULL, NULL, NULL),
                     0);
    assert_int_equal(tb__std_current(db, &s, &ver), TB_ECORRUPT);
    assert_null(s);
    tb_db_close(db);

    /* a read-only handle cannot load */
    assert_int_equal(tb_db_open(data, TB_OPEN_READONLY, &db, err, sizeof err), 0);
    assert_int_equal(tb__std_load(db, f2, &ver), TB_EPERM);
    tb_db_close(db);
    free(doc2);
    free(doc3);
    free(data);
    free(f1);
    free(f2);
    free(bad);
}

/* The default standard parses and covers every pipeline file the generator writes. */
static tb__standards *default_standard(void)
{
    char *buf;
    size_t len;
    tb__errbuf eb = {0};
    int rc = tb__file_read_all("standards/default.json", TB__STD_MAX_BYTES, &buf, &len, &eb);
    if (rc) fail_msg("cannot read standards/default.json (run from the repo root): %s", eb.msg);
    tb__standards *s;
    rc = tb__std_parse(buf, len, "standards/default.json", &s, &eb);
    free(buf);
    if (rc) fail_msg("%s", eb.msg);
    return s;
}

/* The proof that matters: over a generated dirty bank, the validator (with duplicates of the
 * previous row detected as the pipeline does) finds exactly the defects the manifest counts, per
 * file and per kind, and nothing else. */
static void test_agrees_with_gen(void **state)
{
    const char *dir = *state;
    char err[256];
    tb_gen *g;
    tb_gen_opts o = {.customers = 6000,
                     .seed = 11,
                     .batch_date = 20261121,
                     .dirty = 0.05,
                     .format = TB_GEN_HIVE,
                     .out_dir = dir,
                     .threads = 2};
    assert_int_equal(tb_gen_create(&o, &g, err, sizeof err), 0);
    assert_int_equal(tb_gen_run(g), 0);
    tb_gen_free(g);

    tb__standards *s = default_standard();
    char *mpath = tbt_join(dir, "manifest.json");
    json_error_t jerr;
    json_t *man = json_load_file(mpath, 0, &jerr);
    free(mpath);
    assert_non_null(man);
    json_t *files = json_object_get(man, "files");
    size_t i, checked = 0;
    json_t *f;
    uint64_t total_defects = 0;
    json_array_foreach(files, i, f)
    {
        const char *name = json_string_value(json_object_get(f, "name"));
        const char *bt = json_string_value(json_object_get(f, "business_type"));
        const char *kind = json_string_value(json_object_get(f, "data_kind"));
        const tb__std_type *t = tb__std_find(s, bt);
        if (strcmp(kind, "truth") == 0 || strcmp(kind, "events") == 0) {
            assert_null(t);
            continue;
        }
        if (!t) fail_msg("no business type '%s' (file %s) in standards/default.json", bt, name);
        /* the standard's fields are the manifest's columns, in order */
        json_t *cols = json_object_get(f, "columns");
        assert_int_equal(json_array_size(cols), t->nfields);
        for (size_t k = 0; k < t->nfields; k++)
            assert_string_equal(json_string_value(json_object_get(json_array_get(cols, k), "name")),
                                t->fields[k].name);

        uint64_t got[TB__STD_RULE_COUNT] = {0}, warnings = 0;
        char *path = tbt_join(dir, name);
        tb__reader *r;
        assert_int_equal(tb__reader_open_file(path, NULL, &r, err, sizeof err), 0);
        free(path);
        tb__record rec;
        char *prev = NULL;
        size_t prev_len = 0, prev_cap = 0;
        int rc;
        while ((rc = tb__reader_next(r, &rec)) == 1) {
            if (prev && rec.raw_len == prev_len && memcmp(rec.raw, prev, prev_len) == 0) {
                got[TB__STD_DUPLICATE_ROW]++;
            } else {
                tb__std_verdict v;
                got[tb__std_check(t, &rec, &v)]++;
                if (v.warnings) warnings++;
            }
            if (rec.raw_len + 1 > prev_cap) {
                prev_cap = rec.raw_len * 2 + 64;
                prev = realloc(prev, prev_cap);
                assert_non_null(prev);
            }
            memcpy(prev, rec.raw, rec.raw_len);
            prev_len = rec.raw_len;
        }
        assert_int_equal(rc, 0);
        tb__reader_close(r);
        free(prev);

        json_t *defects = json_object_get(f, "defects");
        for (int rule = 1; rule < TB__STD_RULE_COUNT; rule++) {
            json_t *want = json_object_get(defects, tb__std_rule_name(rule));
            uint64_t w = want ? (uint64_t)json_integer_value(want) : 0;
            if (got[rule] != w)
                fail_msg("%s: %s: validator found %llu, manifest says %llu", name,
                         tb__std_rule_name(rule), (unsigned long long)got[rule],
                         (unsigned long long)w);
            total_defects += w;
        }
        assert_int_equal(warnings, 0);
        checked++;
    }
    assert_int_equal(checked, 19);
    assert_true(total_defects > 500); /* the run really was dirty */
    json_decref(man);
    tb__std_free(s);
}

static void test_default_covers_reference(void **state)
{
    (void)state;
    tb__standards *s = default_standard();
    static const char *const types[] = {"customer",
                                        "deposit",
                                        "loan",
                                        "credit_card",
                                        "wealth",
                                        "fund",
                                        "insurance",
                                        "precious_metal",
                                        "payroll",
                                        "etc",
                                        "transaction",
                                        "household",
                                        "court_enforcement",
                                        "business_registration",
                                        "model_score",
                                        "region",
                                        "org",
                                        "manager",
                                        "corporate_group"};
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
        if (!tb__std_find(s, types[i])) fail_msg("no business type '%s'", types[i]);
    const tb__std_type *t = tb__std_find(s, "court_enforcement");
    assert_string_equal(t->fields[t->unique[0]].name, "case_no");
    t = tb__std_find(s, "customer");
    assert_string_equal(t->fields[t->key_field].name, "cust_no");
    assert_string_equal(t->key_system, "core");
    /* every C2 identifier that has a mask carries it */
    assert_int_equal(t->fields[tb__std_field_index(t, "id_no")].mask, TB__STD_MASK_ID);
    assert_int_equal(t->fields[tb__std_field_index(t, "mobile")].pi_class, 2);
    tb__std_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_ok),
        cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_c3_refused),
        cmocka_unit_test(test_check_rules),
        cmocka_unit_test(test_parse_values),
        cmocka_unit_test_setup_teardown(test_versions, tbt_setup_tmpdir, tbt_teardown_tmpdir),
        cmocka_unit_test(test_default_covers_reference),
        cmocka_unit_test_setup_teardown(test_agrees_with_gen, tbt_setup_tmpdir,
                                        tbt_teardown_tmpdir),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
