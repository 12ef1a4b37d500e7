/* test_catalog.c — tests src/tags/catalog.c: parse errors name the tag and the field exactly;
 * loading versions a tag only when its definition changes and keeps the online version online;
 * the lifecycle with maker-checker, reject, offline and the --all variants; history and old
 * versions stay readable; the default catalog loads (>= 200 tags, every level-1 theme, every
 * expression resolved); and the catalog's list of snapshot columns matches a real snapshot. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "helpers.h"
#include "pipeline/profile.h"
#include "pipeline/standard.h"
#include "store/meta.h"
#include "store/snapshot.h"
#include "tags/catalog.h"

/* A valid rule tag; tests set or delete one member to provoke each error. */
static const char base_def[] =
    "{\"code\": \"aum_level\", \"name_zh\": \"资产等级\", \"name_en\": \"AUM level\","
    " \"description\": \"bands\", \"theme\": \"r_asset_aum\", \"type\": \"rule\","
    " \"value_type\": \"enum\", \"customer_types\": [\"retail\"], \"owner\": \"wm\","
    " \"refresh\": \"daily\", \"sources\": [\"deposit.balance\"], \"pi_class\": \"C2\","
    " \"security_level\": 3, \"values\": ["
    "  {\"value\": \"L1\", \"name_zh\": \"一\", \"name_en\": \"one\", \"when\": \"aum < 50000\"},"
    "  {\"value\": \"L2\", \"name_zh\": \"二\", \"name_en\": \"two\", \"when\": \"aum >= 50000\"},"
    "  {\"value\": \"L3\", \"name_zh\": \"三\", \"name_en\": \"three\", \"when\": \"aum >= "
    "1e6\"}]}";

/* Parses base_def with member `key` set to the JSON `val` (NULL: deleted); returns the error
 * message (static) or "" when it parsed. */
static const char *def_error(const char *key, const char *val)
{
    static char msg[TB__ERRMSG_MAX];
    json_t *j = json_loads(base_def, 0, NULL);
    assert_non_null(j);
    if (val) {
        json_t *v = json_loads(val, JSON_DECODE_ANY, NULL);
        assert_non_null(v);
        json_object_set_new(j, key, v);
    } else if (key) {
        json_object_del(j, key);
    }
    tb__arena a;
    tb__arena_init(&a, 0);
    tb__errbuf eb;
    tb__clearerr(&eb);
    tb__tag_def d;
    int rc = tb__catalog_parse_def(j, &a, &d, &eb);
    snprintf(msg, sizeof msg, "%s", rc ? eb.msg : "");
    if (rc) assert_int_equal(rc, TB_EFORMAT);
    tb__arena_release(&a);
    json_decref(j);
    return msg;
}

static void test_parse_ok(void **state)
{
    (void)state;
    assert_string_equal(def_error(NULL, NULL), "");
    json_t *j = json_loads(base_def, 0, NULL);
    tb__arena a;
    tb__arena_init(&a, 0);
    tb__errbuf eb;
    tb__tag_def d;
    assert_int_equal(tb__catalog_parse_def(j, &a, &d, &eb), 0);
    assert_string_equal(d.code, "aum_level");
    assert_int_equal(d.type, TB__TT_RULE);
    assert_int_equal(d.vtype, TB__TV_ENUM);
    assert_int_equal(d.cust_types, TB__SD_RETAIL);
    assert_int_equal(d.nvalues, 3);
    assert_string_equal(d.values[2].when, "aum >= 1e6");
    assert_int_equal(d.nsources, 1);
    assert_string_equal(d.pi_class, "C2");
    assert_int_equal(d.security_level, 3);
    tb__arena_release(&a);
    json_decref(j);
}

static void test_parse_errors(void **state)
{
    (void)state;
    static const struct {
        const char *key, *val, *want;
    } cases[] = {
        {"code", "\"Aum\"",
         "tag (no code): field 'code': 'Aum' is not a code ([a-z][a-z0-9_]{0,63})"},
        {"code", NULL, "tag (no code): field 'code': missing"},
        {"name_zh", NULL, "tag 'aum_level': field 'name_zh': missing"},
        {"name_en", "\"\"", "tag 'aum_level': field 'name_en': must not be empty"},
        {"vaule_type", "\"enum\"", "tag 'aum_level': field 'vaule_type': unknown field"},
        {"type", "\"magic\"",
         "tag 'aum_level': field 'type': 'magic' is not one of 'fact', 'rule', 'statistical', "
         "'model', 'external' or 'realtime'"},
        {"value_type", "3", "tag 'aum_level': field 'value_type': expected a string"},
        {"customer_types", "[\"retail\", \"retail\"]",
         "tag 'aum_level': field 'customer_types[1]': 'retail' is listed twice"},
        {"customer_types", "[\"bank\"]",
         "tag 'aum_level': field 'customer_types[0]': expected 'retail', 'corporate' or "
         "'merchant'"},
        {"refresh", "\"hourly\"",
         "tag 'aum_level': field 'refresh': 'hourly' is not one of 'daily', 'weekly', "
         "'monthly', 'quarterly' or 'realtime'"},
        {"refresh", "\"realtime\"",
         "tag 'aum_level': field 'refresh': 'realtime' is the refresh of realtime tags and only "
         "theirs"},
        {"sources", "[]",
         "tag 'aum_level': field 'sources': must not be empty (the tag's lineage)"},
        {"sources", "[\"deposit.Balance\"]",
         "tag 'aum_level': field 'sources[0]': 'deposit.Balance' is not \"business_type.field\""},
        {"pi_class", "\"C3\"",
         "tag 'aum_level': field 'pi_class': class C3 (authentication data, JR/T 0171) is never "
         "stored"},
        {"security_level", "6", "tag 'aum_level': field 'security_level': 6 is not in 1..5"},
        {"scale", "2", "tag 'aum_level': field 'scale': only a decimal tag has a scale"},
        {"expr", "\"aum\"",
         "tag 'aum_level': field 'expr': a rule tag has either 'expr' or 'values'"},
        {"attribute", "\"aum\"",
         "tag 'aum_level': field 'attribute': a rule tag reads no attribute "
         "directly"},
        {"stat", "{}", "tag 'aum_level': field 'stat': only a statistical tag has 'stat'"},
        {"values", "[{\"value\": \"L1\", \"name_zh\": \"一\", \"name_en\": \"one\"}]",
         "tag 'aum_level': field 'values[0].when': missing"},
        {"values",
         "[{\"value\": \"L1\", \"name_zh\": \"一\", \"name_en\": \"one\", \"when\": \"aum > 1\"},"
         " {\"value\": \"L1\", \"name_zh\": \"二\", \"name_en\": \"two\", \"when\": \"aum > 2\"}]",
         "tag 'aum_level': field 'values[1].value': 'L1' repeats values[0]"},
        {"values",
         "[{\"value\": \"L1\", \"name_zh\": \"一\", \"name_en\": \"one\", \"when\": \"aumm > 1\"}]",
         "tag 'aum_level': field 'values[0].when': unknown column 'aumm' (did you mean 'aum'?)"},
        {"values",
         "[{\"value\": \"L1\", \"name_zh\": \"一\", \"name_en\": \"one\", \"when\": \"aum >\"}]",
         NULL /* a parse error: checked by prefix below */},
        {"values",
         "[{\"value\": \"L1\", \"name_zh\": \"一\", \"name_en\": \"one\", \"when\": "
         "\"x = 1\", \"colour\": 1}]",
         "tag 'aum_level': field 'values[0].colour': unknown field"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *got = def_error(cases[i].key, cases[i].val);
        if (cases[i].want)
            assert_string_equal(got, cases[i].want);
        else
            assert_non_null(strstr(got, "tag 'aum_level': field 'values[0].when': "));
    }
}

/* Parses one definition given as JSON text; returns the error message or "". */
static const char *text_error(const char *text)
{
    static char msg[TB__ERRMSG_MAX];
    json_error_t je;
    json_t *j = json_loads(text, 0, &je);
    if (!j) fail_msg("bad test JSON: %s", je.text);
    tb__arena a;
    tb__arena_init(&a, 0);
    tb__errbuf eb;
    tb__clearerr(&eb);
    tb__tag_def d;
    int rc = tb__catalog_parse_def(j, &a, &d, &eb);
    snprintf(msg, sizeof msg, "%s", rc ? eb.msg : "");
    tb__arena_release(&a);
    json_decref(j);
    return msg;
}

#define COMMON                                                                                     \
    "\"name_zh\": \"x\", \"name_en\": \"x\", \"description\": \"x\", \"theme\": \"t\", "           \
    "\"customer_types\": [\"retail\"], \"owner\": \"o\", \"sources\": [\"loan\"], "                \
    "\"pi_class\": \"C1\", \"security_level\": 2, "

static void test_parse_types(void **state)
{
    (void)state;
    /* fact: the attribute must exist and fit the value type */
    assert_string_equal(
        text_error("{\"code\": \"f\", " COMMON "\"type\": \"fact\", \"value_type\": "
                   "\"decimal\", \"refresh\": \"daily\", \"attribute\": \"loan_bal\"}"),
        "");
    assert_string_equal(
        text_error("{\"code\": \"f\", " COMMON "\"type\": \"fact\", \"value_type\": "
                   "\"integer\", \"refresh\": \"daily\", \"attribute\": \"loan_bal\"}"),
        "tag 'f': field 'value_type': column 'loan_bal' gives decimal values, not "
        "integer");
    assert_string_equal(
        text_error("{\"code\": \"f\", " COMMON "\"type\": \"fact\", \"value_type\": "
                   "\"decimal\", \"refresh\": \"daily\", \"attribute\": \"loan_bla\"}"),
        "tag 'f': field 'attribute': unknown column 'loan_bla' (did you mean "
        "'loan_bal'?)");
    assert_string_equal(text_error("{\"code\": \"f\", " COMMON
                                   "\"type\": \"fact\", \"value_type\": "
                                   "\"enum\", \"refresh\": \"daily\", \"attribute\": \"gender\", "
                                   "\"values\": [{\"value\": \"1\", \"name_zh\": \"男\", "
                                   "\"name_en\": \"m\", \"when\": \"gender = '1'\"}]}"),
                        "tag 'f': field 'values[0].when': the values are codes of column 'gender' "
                        "here, without 'when'");
    /* rule: expr for numbers */
    assert_string_equal(
        text_error("{\"code\": \"r\", " COMMON "\"type\": \"rule\", \"value_type\": "
                   "\"integer\", \"refresh\": \"daily\", \"expr\": \"age(birth_date)\"}"),
        "");
    assert_string_equal(text_error("{\"code\": \"r\", " COMMON
                                   "\"type\": \"rule\", \"value_type\": "
                                   "\"integer\", \"refresh\": \"daily\"}"),
                        "tag 'r': field 'expr': a rule tag has either 'expr' or 'values'");
    assert_string_equal(
        text_error("{\"code\": \"r\", " COMMON "\"type\": \"rule\", \"value_type\": "
                   "\"integer\", \"refresh\": \"daily\", \"expr\": \"age(brith_date)\"}"),
        "tag 'r': field 'expr': unknown column 'brith_date' (did you mean "
        "'birth_date'?)");
    /* statistical */
    assert_string_equal(text_error("{\"code\": \"s\", " COMMON "\"type\": \"statistical\", "
                                   "\"value_type\": \"integer\", \"refresh\": \"daily\", \"stat\": "
                                   "{\"business_type\": \"transaction\", \"agg\": \"count\", "
                                   "\"time_field\": \"txn_time\", \"window_days\": 30}}"),
                        "");
    assert_string_equal(text_error("{\"code\": \"s\", " COMMON "\"type\": \"statistical\", "
                                   "\"value_type\": \"integer\", \"refresh\": \"daily\", \"stat\": "
                                   "{\"business_type\": \"transaction\", \"agg\": \"sum\", "
                                   "\"window_days\": 30}}"),
                        "tag 's': field 'stat.field': missing");
    assert_string_equal(
        text_error("{\"code\": \"s\", " COMMON "\"type\": \"statistical\", "
                   "\"value_type\": \"integer\", \"refresh\": \"daily\", \"stat\": "
                   "{\"business_type\": \"transaction\", \"agg\": \"count\", "
                   "\"window_days\": 30}}"),
        "tag 's': field 'stat.time_field': missing (a window or distinct_days needs "
        "it)");
    assert_string_equal(text_error("{\"code\": \"s\", " COMMON "\"type\": \"statistical\", "
                                   "\"value_type\": \"decimal\", \"refresh\": \"daily\", \"stat\": "
                                   "{\"business_type\": \"transaction\", \"agg\": \"count\", "
                                   "\"window_days\": 0}}"),
                        "tag 's': field 'value_type': 'count' gives an integer");
    assert_string_equal(text_error("{\"code\": \"s\", " COMMON "\"type\": \"statistical\", "
                                   "\"value_type\": \"boolean\", \"refresh\": \"daily\", \"stat\": "
                                   "{\"business_type\": \"loan\", \"agg\": \"count\", "
                                   "\"window_days\": 0}, \"values\": [{\"value\": \"true\", "
                                   "\"name_zh\": \"是\", \"name_en\": \"yes\", \"when\": "
                                   "\"value > 0 and aum > 1\"}]}"),
                        "");
    /* model / external / realtime */
    assert_string_equal(text_error("{\"code\": \"m\", " COMMON
                                   "\"type\": \"model\", \"value_type\": "
                                   "\"boolean\", \"refresh\": \"daily\", \"values\": [{\"value\": "
                                   "\"true\", \"name_zh\": \"是\", \"name_en\": \"yes\", \"when\": "
                                   "\"churn_score >= 0.6\"}]}"),
                        "tag 'm': field 'attribute': missing");
    assert_string_equal(
        text_error("{\"code\": \"m\", " COMMON "\"type\": \"model\", \"value_type\": "
                   "\"boolean\", \"refresh\": \"daily\", \"attribute\": "
                   "\"churn_score\", \"values\": [{\"value\": \"yes\", \"name_zh\": "
                   "\"是\", \"name_en\": \"yes\", \"when\": \"churn_score >= 0.6\"}]}"),
        "tag 'm': field 'values[0].value': a boolean tag's values are 'true' and "
        "'false', not 'yes'");
    assert_string_equal(text_error("{\"code\": \"e\", " COMMON "\"type\": \"realtime\", "
                                   "\"value_type\": \"integer\", \"refresh\": \"realtime\"}"),
                        "tag 'e': field 'value_type': a realtime tag is a boolean (set by event "
                        "rules)");
}

/* ---- the meta store ------------------------------------------------------------------------- */

static tb_db *open_db(const char *dir)
{
    char *data = tbt_join(dir, "data"), err[512];
    tb_db *db;
    int rc = tb_db_open(data, TB_OPEN_CREATE, &db, err, sizeof err);
    if (rc) fail_msg("open: %s", err);
    free(data);
    return db;
}

static char *write_file(const char *dir, const char *name, const char *text)
{
    char *p = tbt_join(dir, name);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    return p;
}

/* A small catalog: two themes, two tags; `n` changes the threshold of tag 'big'. */
static char *small_catalog(const char *dir, int n)
{
    char *text;
    assert_true(
        asprintf(&text,
                 "{\"format\": \"tagbase-catalog/1\", \"themes\": [{\"code\": \"r_asset\", "
                 "\"name_zh\": \"资产\", \"name_en\": \"Assets\", \"customer_types\": "
                 "[\"retail\"], \"children\": [{\"code\": \"r_asset_aum\", \"name_zh\": \"AUM\", "
                 "\"name_en\": \"AUM\"}]}], \"tags\": ["
                 "{\"code\": \"big\", \"name_zh\": \"大户\", \"name_en\": \"Big\", "
                 "\"description\": \"d\", \"theme\": \"r_asset_aum\", \"type\": \"rule\", "
                 "\"value_type\": \"boolean\", \"customer_types\": [\"retail\"], \"owner\": "
                 "\"wm\", \"refresh\": \"daily\", \"sources\": [\"deposit.balance\"], "
                 "\"pi_class\": \"C2\", \"security_level\": 3, \"expr\": \"aum >= %d\"},"
                 "{\"code\": \"age\", \"name_zh\": \"年龄\", \"name_en\": \"Age\", "
                 "\"description\": \"d\", \"theme\": \"r_asset_aum\", \"type\": \"rule\", "
                 "\"value_type\": \"integer\", \"customer_types\": [\"retail\"], \"owner\": "
                 "\"data\", \"refresh\": \"daily\", \"sources\": [\"golden.birth_date\"], "
                 "\"pi_class\": \"C2\", \"security_level\": 3, \"expr\": \"age(birth_date)\"}]}\n",
                 n) > 0);
    char *p = write_file(dir, "small.json", text);
    free(text);
    return p;
}

static json_t *parse_out(char *text)
{
    assert_non_null(text);
    json_error_t je;
    json_t *j = json_loads(text, 0, &je);
    free(text);
    if (!j) fail_msg("bad JSON out: %s", je.text);
    return j;
}

static json_t *show(tb_db *db, const char *code, int version)
{
    char *out;
    int rc = tb_tag_show(db, code, version, &out);
    if (rc) fail_msg("show %s: %s", code, tb_errmsg(db));
    return parse_out(out);
}

static void test_versions(void **state)
{
    tb_db *db = open_db(*state);
    char *path = small_catalog(*state, 1000000), *out;
    assert_int_equal(tb_tag_load(db, path, "alice", &out), 0);
    json_t *r = parse_out(out);
    assert_int_equal(json_integer_value(json_object_get(r, "created")), 2);
    assert_non_null(json_object_get(r, "warnings")); /* no data standard loaded */
    json_decref(r);

    /* the same file again: nothing */
    assert_int_equal(tb_tag_load(db, path, "alice", &out), 0);
    r = parse_out(out);
    assert_int_equal(json_integer_value(json_object_get(r, "unchanged")), 2);
    assert_int_equal(json_integer_value(json_object_get(r, "created")), 0);
    json_decref(r);

    /* publish version 1, then edit: version 2 is a draft, version 1 stays online */
    assert_int_equal(tb_tag_submit(db, "big", "alice", NULL, &out), 0);
    free(out);
    assert_int_equal(tb_tag_approve(db, "big", "bob", "ok", &out), 0);
    free(out);
    free(path);
    path = small_catalog(*state, 2000000);
    assert_int_equal(tb_tag_load(db, path, "carol", &out), 0);
    r = parse_out(out);
    assert_int_equal(json_integer_value(json_object_get(r, "edited")), 1);
    assert_int_equal(json_integer_value(json_object_get(r, "unchanged")), 1);
    json_decref(r);
    json_t *s = show(db, "big", 0);
    assert_int_equal(json_integer_value(json_object_get(s, "version")), 2);
    assert_string_equal(json_string_value(json_object_get(s, "status")), "draft");
    assert_int_equal(json_integer_value(json_object_get(s, "online_version")), 1);
    assert_string_equal(json_string_value(json_object_get(s, "expr")), "aum >= 2000000");
    assert_string_equal(json_string_value(json_object_get(s, "author")), "carol");
    json_decref(s);
    s = show(db, "大户", 1); /* by Chinese name, the old version */
    assert_string_equal(json_string_value(json_object_get(s, "expr")), "aum >= 1000000");
    assert_string_equal(json_string_value(json_object_get(s, "version_status")), "online");
    json_decref(s);

    /* the engines see the online version, and version 2 through tb__catalog_get */
    tb__arena a;
    tb__arena_init(&a, 0);
    tb__tag_def *defs, *d;
    size_t n;
    assert_int_equal(tb__catalog_online(db, &a, &defs, &n), 0);
    assert_int_equal(n, 1);
    assert_string_equal(defs[0].code, "big");
    assert_int_equal(defs[0].version, 1);
    assert_string_equal(defs[0].expr, "aum >= 1000000");
    assert_int_equal(tb__catalog_get(db, "BIG", 0, &a, &d), 0); /* English name, any case */
    assert_int_equal(d->version, 2);
    assert_string_equal(d->status, "draft");
    assert_int_equal(tb__catalog_get(db, "big", 1, &a, &d), 0);
    assert_string_equal(d->status, "online");
    assert_int_equal(tb__catalog_get(db, "nope", 0, &a, &d), TB_ENOENT);
    assert_int_equal(tb__catalog_get(db, "big", 7, &a, &d), TB_ENOENT);
    assert_string_equal(tb_errmsg(db), "tag 'big' has no version 7");
    tb__arena_release(&a);

    /* publishing version 2 replaces version 1 */
    assert_int_equal(tb_tag_submit(db, "big", "carol", NULL, &out), 0);
    free(out);
    assert_int_equal(tb_tag_approve(db, "big", "bob", NULL, &out), 0);
    free(out);
    s = show(db, "big", 1);
    assert_string_equal(json_string_value(json_object_get(s, "version_status")), "superseded");
    assert_int_equal(json_integer_value(json_object_get(s, "online_version")), 2);
    json_decref(s);
    free(path);
    tb_db_close(db);
}

static void test_lifecycle(void **state)
{
    tb_db *db = open_db(*state);
    char *path = small_catalog(*state, 1000), *out;
    assert_int_equal(tb_tag_load(db, path, "alice", &out), 0);
    free(out);
    /* only drafts are submitted, only tags in review approved */
    assert_int_equal(tb_tag_approve(db, "age", "bob", NULL, &out), TB_EINVAL);
    assert_null(out);
    assert_string_equal(tb_errmsg(db), "cannot approve tag 'age': it is draft, not in review");
    assert_int_equal(tb_tag_submit(db, NULL, "alice", NULL, &out), 0); /* --all */
    json_t *r = parse_out(out);
    assert_int_equal(json_integer_value(json_object_get(r, "count")), 2);
    json_decref(r);
    assert_int_equal(tb_tag_submit(db, "age", "alice", NULL, &out), TB_EINVAL);
    assert_string_equal(tb_errmsg(db), "cannot submit tag 'age': it is in_review, not a draft");

    /* maker-checker: the submitter cannot approve, alone or with --all (all or nothing) */
    assert_int_equal(tb_tag_approve(db, "age", "alice", NULL, &out), TB_EPERM);
    assert_string_equal(tb_errmsg(db),
                        "cannot approve tag 'age' version 1: 'alice' submitted it, and the "
                        "approver must be someone else (maker-checker)");
    assert_int_equal(tb_tag_approve(db, NULL, "alice", NULL, &out), TB_EPERM);
    assert_non_null(strstr(tb_errmsg(db), "approve --all: nothing changed: "));
    json_t *s = show(db, "big", 0);
    assert_string_equal(json_string_value(json_object_get(s, "status")), "in_review");
    json_decref(s);

    /* reject needs a comment and goes back to draft */
    assert_int_equal(tb_tag_reject(db, "big", "bob", NULL, &out), TB_EINVAL);
    assert_string_equal(tb_errmsg(db), "a rejection needs a comment saying why");
    assert_int_equal(tb_tag_reject(db, "big", "bob", "threshold too low", &out), 0);
    free(out);
    assert_int_equal(tb_tag_approve(db, NULL, "bob", NULL, &out), 0); /* only 'age' is left */
    r = parse_out(out);
    assert_int_equal(json_integer_value(json_object_get(r, "count")), 1);
    json_t *t = json_array_get(json_object_get(r, "tags"), 0);
    assert_string_equal(json_string_value(json_object_get(t, "code")), "age");
    assert_string_equal(json_string_value(json_object_get(t, "status")), "online");
    json_decref(r);

    /* offline: online -> offline; not again */
    assert_int_equal(tb_tag_offline(db, "age", "bob", "retired", &out), 0);
    free(out);
    s = show(db, "age", 0);
    assert_string_equal(json_string_value(json_object_get(s, "status")), "offline");
    assert_true(json_is_null(json_object_get(s, "online_version")));
    json_decref(s);
    assert_int_equal(tb_tag_offline(db, "age", "bob", NULL, &out), TB_EINVAL);
    assert_string_equal(tb_errmsg(db), "cannot take tag 'age' offline: no version of it is online");
    tb__arena a;
    tb__arena_init(&a, 0);
    tb__tag_def *defs;
    size_t n = 9;
    assert_int_equal(tb__catalog_online(db, &a, &defs, &n), 0);
    assert_int_equal(n, 0);
    tb__arena_release(&a);

    /* history: versions and every event, in order, with who did it */
    assert_int_equal(tb_tag_history(db, "age", &out), 0);
    r = parse_out(out);
    json_t *ev = json_object_get(r, "events");
    static const char *const want[][2] = {{"create", "alice"},
                                          {"submit", "alice"},
                                          {"approve", "bob"},
                                          {"publish", "bob"},
                                          {"offline", "bob"}};
    assert_int_equal(json_array_size(ev), 5);
    for (size_t i = 0; i < 5; i++) {
        json_t *e = json_array_get(ev, i);
        assert_string_equal(json_string_value(json_object_get(e, "action")), want[i][0]);
        assert_string_equal(json_string_value(json_object_get(e, "actor")), want[i][1]);
    }
    assert_string_equal(json_string_value(json_object_get(json_array_get(ev, 4), "comment")),
                        "retired");
    assert_int_equal(json_array_size(json_object_get(r, "versions")), 1);
    json_decref(r);
    assert_int_equal(tb_tag_history(db, "big", &out), 0);
    r = parse_out(out);
    ev = json_object_get(r, "events");
    assert_string_equal(json_string_value(json_object_get(json_array_get(ev, 2), "action")),
                        "reject");
    assert_string_equal(json_string_value(json_object_get(json_array_get(ev, 2), "comment")),
                        "threshold too low");
    json_decref(r);

    /* a bad user name is refused */
    assert_int_equal(tb_tag_submit(db, "big", "a\nb", NULL, &out), TB_EINVAL);
    free(path);
    tb_db_close(db);
}

static void test_load_errors(void **state)
{
    tb_db *db = open_db(*state);
    char *out;
    char *p = write_file(*state, "bad.json", "{\"themes\": [], \"tags\": [1]}");
    assert_int_equal(tb_tag_load(db, p, "alice", &out), TB_EFORMAT);
    assert_null(out);
    assert_non_null(strstr(tb_errmsg(db), "bad.json: tags[0]: tag definition is not an object"));
    free(p);
    p = write_file(*state, "bad.json", "{\"themes\": [], \"tags\": [], }");
    assert_int_equal(tb_tag_load(db, p, "alice", &out), TB_EFORMAT);
    assert_non_null(strstr(tb_errmsg(db), "bad.json: line 1, column"));
    free(p);
    /* a tag whose theme is unknown, and nothing is stored */
    char *small = small_catalog(*state, 5);
    char *text = NULL;
    FILE *f = fopen(small, "r");
    size_t cap = 0;
    assert_true(getdelim(&text, &cap, '\0', f) > 0);
    fclose(f);
    char *at = strstr(text, "\"theme\": \"r_asset_aum\"");
    memcpy(at, "\"theme\": \"r_asset_aux\"", 22);
    p = write_file(*state, "bad.json", text);
    assert_int_equal(tb_tag_load(db, p, "alice", &out), TB_EFORMAT);
    assert_non_null(
        strstr(tb_errmsg(db), "bad.json: tags[0]: tag 'big': field 'theme': no such theme"));
    assert_int_equal(tb_tag_list(db, NULL, &out), 0);
    json_t *l = parse_out(out);
    assert_int_equal(json_array_size(l), 0);
    json_decref(l);
    free(text);
    free(p);
    free(small);
    /* missing file */
    assert_int_equal(tb_tag_load(db, "/nonexistent/catalog.json", "alice", &out), TB_ENOENT);
    tb_db_close(db);
}

/* ---- the default catalog -------------------------------------------------------------------- */

static void test_default_catalog(void **state)
{
    tb_db *db = open_db(*state);
    assert_int_equal(tb__std_load(db, "standards/default.json", &(int){0}), 0);
    char *out;
    int rc = tb_tag_load(db, "catalog/default.json", "alice", &out);
    if (rc) fail_msg("default catalog: %s", tb_errmsg(db));
    json_t *r = parse_out(out);
    json_int_t ntags = json_integer_value(json_object_get(r, "tags"));
    assert_true(ntags >= 200);
    assert_int_equal(json_integer_value(json_object_get(r, "created")), ntags);
    assert_null(json_object_get(r, "warnings")); /* checked against the data standard */
    json_decref(r);

    /* every level-1 theme the catalog promises, for the right customers */
    static const struct {
        const char *zh, *ct;
    } l1[] = {{"资产", "retail"},       {"负债", "retail"},        {"产品", "retail"},
              {"交易", "retail"},       {"价值", "retail"},        {"风险", "retail"},
              {"自然属性", "retail"},   {"基本信息", "corporate"}, {"经营", "corporate"},
              {"产品", "corporate"},    {"交易", "corporate"},     {"风险", "corporate"},
              {"集团关系", "corporate"}};
    assert_int_equal(tb_tag_tree(db, &out), 0);
    json_t *tree = parse_out(out);
    assert_int_equal(json_integer_value(json_object_get(tree, "tags")), ntags);
    for (size_t i = 0; i < sizeof l1 / sizeof l1[0]; i++) {
        int found = 0;
        size_t k;
        json_t *t;
        json_array_foreach(json_object_get(tree, "themes"), k, t)
        {
            json_t *ct = json_object_get(t, "customer_types");
            if (strcmp(json_string_value(json_object_get(t, "name_zh")), l1[i].zh) == 0 &&
                strcmp(json_string_value(json_array_get(ct, 0)), l1[i].ct) == 0) {
                found = 1;
                assert_true(json_array_size(json_object_get(t, "children")) >= 1);
                assert_true(json_integer_value(json_object_get(t, "tags")) >= 1);
            }
        }
        if (!found) fail_msg("no level-1 theme %s for %s", l1[i].zh, l1[i].ct);
    }
    json_decref(tree);

    /* tags the issue names, and every tag re-read through the engine interface */
    static const char *const named[] = {"aum_level",
                                        "churn_high",
                                        "age",
                                        "rt_large_inflow",
                                        "payroll_customer",
                                        "etc_owner",
                                        "birthday_this_month",
                                        "birthday_within_7d",
                                        "city_tier",
                                        "overdue",
                                        "loan_five_class",
                                        "court_dishonest",
                                        "group_member",
                                        "new_account_90d",
                                        "txn_count_30d",
                                        "txn_count_90d",
                                        "corp_industry",
                                        "corp_size"};
    tb__arena a;
    tb__arena_init(&a, 0);
    for (size_t i = 0; i < sizeof named / sizeof named[0]; i++) {
        tb__tag_def *d;
        if (tb__catalog_get(db, named[i], 0, &a, &d)) fail_msg("no tag '%s'", named[i]);
    }
    tb__tag_def *d;
    assert_int_equal(tb__catalog_get(db, "资产等级", 0, &a, &d), 0);
    assert_string_equal(d->code, "aum_level");
    assert_int_equal(d->nvalues, 5);
    assert_int_equal(tb__catalog_get(db, "rt_large_inflow", 0, &a, &d), 0);
    assert_int_equal(d->type, TB__TT_REALTIME);

    /* every definition as stored parses again with its expressions resolved, and its lineage
     * checks against the data standard */
    assert_int_equal(tb_tag_list(db, NULL, &out), 0);
    json_t *list = parse_out(out);
    assert_int_equal(json_array_size(list), (size_t)ntags);
    tb__standards *std;
    int version;
    assert_int_equal(tb__std_current(db, &std, &version), 0);
    size_t i;
    json_t *t;
    unsigned types = 0;
    json_array_foreach(list, i, t)
    {
        json_t *def = show(db, json_string_value(json_object_get(t, "code")), 0);
        /* drop what show adds, keep the definition */
        static const char *const extra[] = {
            "version", "version_status", "status",     "current_version", "online_version", "hash",
            "author",  "created_at",     "theme_path", "usage",           "coverage"};
        for (size_t k = 0; k < sizeof extra / sizeof extra[0]; k++)
            json_object_del(def, extra[k]);
        tb__tag_def pd;
        tb__errbuf eb;
        if (tb__catalog_parse_def(def, &a, &pd, &eb)) fail_msg("%s", eb.msg);
        if (tb__catalog_check_def(&pd, std, &a, &eb)) fail_msg("%s", eb.msg);
        types |= 1u << pd.type;
        json_decref(def);
    }
    assert_int_equal(types, 0x3f); /* all six types occur */
    tb__std_free(std);
    json_decref(list);

    /* filters */
    tb_tag_filter f = {"交易", NULL, "30", 0};
    assert_int_equal(tb_tag_list(db, &f, &out), 0);
    list = parse_out(out);
    assert_true(json_array_size(list) > 5);
    json_array_foreach(list, i, t)
        assert_string_equal(json_string_value(json_object_get(t, "theme_l1")), "r_txn");
    json_decref(list);
    tb_tag_filter bad = {NULL, "live", NULL, 0};
    assert_int_equal(tb_tag_list(db, &bad, &out), TB_EINVAL);
    tb_tag_filter nothm = {"nope", NULL, NULL, 0};
    assert_int_equal(tb_tag_list(db, &nothm, &out), TB_ENOENT);
    tb__arena_release(&a);
    tb_db_close(db);
}

/* A statistical field that the data standard lacks is refused at load, naming both. */
static void test_standard_check(void **state)
{
    tb_db *db = open_db(*state);
    assert_int_equal(tb__std_load(db, "standards/default.json", &(int){0}), 0);
    char *text;
    assert_true(asprintf(&text,
                         "{\"themes\": [{\"code\": \"r_txn\", \"name_zh\": \"交易\", \"name_en\": "
                         "\"T\", \"customer_types\": [\"retail\"], \"children\": [{\"code\": "
                         "\"r_txn_a\", \"name_zh\": \"活跃\", \"name_en\": \"A\"}]}], \"tags\": "
                         "[{\"code\": \"s\", " COMMON "\"type\": \"statistical\", \"value_type\": "
                         "\"integer\", \"refresh\": \"daily\", \"stat\": {\"business_type\": "
                         "\"transaction\", \"agg\": \"count\", \"time_field\": \"txn_time\", "
                         "\"window_days\": 30, \"where\": \"chanel = '03'\"}}]}") > 0);
    /* COMMON's theme is 't'; point it at the level-2 theme */
    char *at = strstr(text, "\"theme\": \"t\"");
    char *fixed;
    assert_true(asprintf(&fixed, "%.*s\"theme\": \"r_txn_a\"%s", (int)(at - text), text,
                         at + strlen("\"theme\": \"t\"")) > 0);
    char *p = write_file(*state, "c.json", fixed), *out;
    assert_int_equal(tb_tag_load(db, p, "alice", &out), TB_EFORMAT);
    assert_non_null(strstr(tb_errmsg(db), "tags[0]: tag 's': field 'stat.where': unknown column "
                                          "'chanel' (did you mean 'channel'?) of business type "
                                          "'transaction'"));
    free(text);
    free(fixed);
    free(p);
    tb_db_close(db);
}

/* The catalog's list of snapshot columns is exactly what a load writes (golden columns from
 * put_golden() in load.c, attributes from profile.c), with matching kinds. */
static void test_columns_match_snapshot(void **state)
{
    char *bank = tbt_join(*state, "bank");
    tb_gen_opts go = {300, 11, 20250131, 0, TB_GEN_HIVE, bank, 1};
    tb_gen *gen;
    assert_int_equal(tb_gen_create(&go, &gen, NULL, 0), 0);
    assert_int_equal(tb_gen_run(gen), 0);
    tb_gen_free(gen);
    tb_db *db = open_db(*state);
    assert_int_equal(tb__std_load(db, "standards/default.json", &(int){0}), 0);
    const char *inputs[] = {bank};
    tb_load_opts lo = {0};
    lo.inputs = inputs;
    lo.ninputs = 1;
    char *out = NULL;
    int rc = tb_load(db, &lo, &out);
    free(out);
    if (rc) fail_msg("load: %s", tb_errmsg(db));
    tb_db_close(db);

    char *snaps = tbt_join(*state, "data/snapshots");
    DIR *dir = opendir(snaps);
    assert_non_null(dir);
    struct dirent *e;
    char *sdir = NULL;
    while ((e = readdir(dir)))
        if (e->d_name[0] != '.') sdir = tbt_join(snaps, e->d_name);
    closedir(dir);
    assert_non_null(sdir);
    tb__snap *s;
    tb__errbuf eb;
    assert_int_equal(tb__snap_open(sdir, &s, &eb), 0);
    assert_int_equal(tb__snap_ncolumns(s), tb__catalog_ncolumns());
    for (size_t i = 0; i < tb__catalog_ncolumns(); i++) {
        int kind;
        const char *name = tb__catalog_column(i, &kind);
        tb__snap_col c;
        if (tb__snap_column(s, name, &c)) fail_msg("snapshot has no column '%s'", name);
        if (kind == TB__PK_CODE) assert_int_equal(c.type, TB__SNAP_DICT);
        if (kind == TB__PK_DATE) assert_int_equal(c.type, TB__SNAP_I32);
    }
    assert_null(tb__catalog_column(tb__catalog_ncolumns(), NULL));
    tb__snap_close(s);
    free(sdir);
    free(snaps);
    free(bank);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_ok),
        cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_parse_types),
        cmocka_unit_test_setup_teardown(test_versions, tbt_setup_tmpdir, tbt_teardown_tmpdir),
        cmocka_unit_test_setup_teardown(test_lifecycle, tbt_setup_tmpdir, tbt_teardown_tmpdir),
        cmocka_unit_test_setup_teardown(test_load_errors, tbt_setup_tmpdir, tbt_teardown_tmpdir),
        cmocka_unit_test_setup_teardown(test_default_catalog, tbt_setup_tmpdir,
                                        tbt_teardown_tmpdir),
        cmocka_unit_test_setup_teardown(test_standard_check, tbt_setup_tmpdir, tbt_teardown_tmpdir),
        cmocka_unit_test_setup_teardown(test_columns_match_snapshot, tbt_setup_tmpdir,
                                        tbt_teardown_tmpdir),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
