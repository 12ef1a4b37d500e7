/* test_manifest.c — tests src/pipeline/manifest.c: what a batch manifest must say. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "pipeline/manifest.h"

static int parse(const char *json, tb__manifest *m, tb__errbuf *eb)
{
    return tb__manifest_parse(json, strlen(json), "manifest.json", m, eb);
}

static void good_manifest(void **state)
{
    (void)state;
    tb__manifest m;
    tb__errbuf eb = {0};
    const char *j =
        "{\"batch_date\":\"20261121\",\"files\":["
        "{\"name\":\"customer.dat\",\"business_type\":\"customer\",\"kind\":\"mart\","
        "\"format\":\"hive\",\"encoding\":\"UTF-8\",\"header\":false,"
        "\"columns\":[\"cust_no\",{\"name\":\"id_no\"}],\"rows\":3,\"bytes\":99},"
        "{\"name\":\"events.jsonl\",\"business_type\":\"events\",\"data_kind\":\"events\","
        "\"format\":\"jsonl\",\"encoding\":\"UTF-8\",\"rows\":0,\"extra\":1}]}";
    assert_int_equal(parse(j, &m, &eb), 0);
    assert_string_equal(m.batch_date, "20261121");
    assert_int_equal(m.nfiles, 2);
    assert_string_equal(m.files[0].name, "customer.dat");
    assert_int_equal(m.files[0].ncolumns, 2);
    assert_int_equal(m.files[0].rows, 3);
    assert_int_equal(m.files[0].bytes, 99);
    assert_int_equal(m.files[0].header, 0);
    assert_string_equal(m.files[1].data_kind, "events");
    assert_int_equal(m.files[1].ncolumns, 0);
    tb__manifest_release(&m);

    /* An integer batch date is accepted too. */
    assert_int_equal(parse("{\"batch_date\":20240229,\"files\":[]}", &m, &eb), 0);
    assert_string_equal(m.batch_date, "20240229");
    tb__manifest_release(&m);
}

static void expect_error(const char *json, int code, const char *needle)
{
    tb__manifest m;
    tb__errbuf eb = {0};
    assert_int_equal(parse(json, &m, &eb), code);
    if (!strstr(eb.msg, needle)) fail_msg("message '%s' lacks '%s'", eb.msg, needle);
    assert_null(m.files);
}

static void bad_manifests(void **state)
{
    (void)state;
    expect_error("{", TB_EFORMAT, "line 1");
    expect_error("[]", TB_EFORMAT, "top level");
    expect_error("{\"batch_date\":\"20230229\",\"files\":[]}", TB_EFORMAT, "batch_date");
    expect_error("{\"batch_date\":\"2026112x\",\"files\":[]}", TB_EFORMAT, "batch_date");
    expect_error("{\"batch_date\":\"20261121\"}", TB_EFORMAT, "'files'");
    expect_error("{\"batch_date\":\"20261121\",\"files\":[1]}", TB_EFORMAT, "files[0]");
    const char *prefix = "{\"batch_date\":\"20261121\",\"files\":[{\"business_type\":\"x\","
                         "\"kind\":\"mart\",\"format\":\"hive\",\"encoding\":\"UTF-8\","
                         "\"columns\":[\"a\"],\"rows\":1,";
    char j[512];
    snprintf(j, sizeof j, "%s\"name\":\"../etc/passwd\"}]}", prefix);
    expect_error(j, TB_EFORMAT, "plain file name");
    snprintf(j, sizeof j, "%s\"name\":\"a/b\"}]}", prefix);
    expect_error(j, TB_EFORMAT, "plain file name");
    snprintf(j, sizeof j, "%s\"name\":\"a\\\"b\"}]}", prefix);
    expect_error(j, TB_EFORMAT, "plain file name");
    /* Identifiers reach terminals and JSON output: no control bytes, quotes or spaces. */
    snprintf(j, sizeof j,
             "{\"batch_date\":\"20261121\",\"files\":[{\"name\":\"a\",\"business_type\":"
             "\"x\\u001b[31m\",\"kind\":\"mart\",\"format\":\"hive\",\"encoding\":\"UTF-8\","
             "\"columns\":[\"a\"],\"rows\":1}]}");
    expect_error(j, TB_EFORMAT, "'business_type' must be 1 to 64 letters");
    snprintf(j, sizeof j,
             "{\"batch_date\":\"20261121\",\"files\":[{\"name\":\"a\",\"business_type\":"
             "\"x\",\"kind\":\"ma rt\",\"format\":\"hive\",\"encoding\":\"UTF-8\","
             "\"columns\":[\"a\"],\"rows\":1}]}");
    expect_error(j, TB_EFORMAT, "'kind' must be");
    snprintf(j, sizeof j, "%s\"name\":\"a\",\"format\":\"xml\"}]}", prefix);
    expect_error(j, TB_EFORMAT, "duplicate"); /* jansson rejects the repeated key */
    snprintf(j, sizeof j, "%s\"name\":\"a\",\"header\":1}]}", prefix);
    expect_error(j, TB_EFORMAT, "'header'");
    snprintf(j, sizeof j,
             "{\"batch_date\":\"20261121\",\"files\":[{\"name\":\"a\",\"business_type\":\"x\","
             "\"kind\":\"mart\",\"format\":\"parquet\",\"encoding\":\"UTF-8\",\"columns\":[\"a\"],"
             "\"rows\":1}]}");
    expect_error(j, TB_EFORMAT, "format 'parquet'");
    snprintf(j, sizeof j,
             "{\"batch_date\":\"20261121\",\"files\":[{\"name\":\"a\",\"business_type\":\"x\","
             "\"kind\":\"mart\",\"format\":\"hive\",\"encoding\":\"UTF-8\",\"columns\":[],"
             "\"rows\":1}]}");
    expect_error(j, TB_EFORMAT, "'columns'");
    snprintf(j, sizeof j,
             "{\"batch_date\":\"20261121\",\"files\":[{\"name\":\"a\",\"business_type\":\"x\","
             "\"kind\":\"mart\",\"format\":\"hive\",\"encoding\":\"UTF-8\",\"columns\":[\"a\"],"
             "\"rows\":-1}]}");
    expect_error(j, TB_EFORMAT, "'rows'");
    const char *f = "{\"name\":\"a\",\"business_type\":\"x\",\"kind\":\"mart\",\"format\":\"hive\","
                    "\"encoding\":\"UTF-8\",\"columns\":[\"a\"],\"rows\":1}";
    snprintf(j, sizeof j, "{\"batch_date\":\"20261121\",\"files\":[%s,%s]}", f, f);
    expect_error(j, TB_EFORMAT, "listed twice");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(good_manifest),
        cmocka_unit_test(bad_manifests),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
