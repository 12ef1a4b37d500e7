/* test_inventory.c — tests src/pipeline/inventory.c: scanning a batch directory into the meta
 * store. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "store/meta.h"
#include "tagbase.h"

typedef struct fixture {
    char root[64];
    char data[96];
    char batch[96];
    tb_db *db;
} fixture;

static void write_file(const char *dir, const char *name, const char *text, size_t len)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, len, f), len);
    fclose(f);
}

static const char manifest[] =
    "{\"batch_date\":\"20261121\",\"files\":["
    "{\"name\":\"customer.dat\",\"business_type\":\"customer\",\"kind\":\"mart\","
    "\"format\":\"hive\",\"encoding\":\"UTF-8\",\"header\":false,"
    "\"columns\":[\"cust_no\",\"name\",\"id_no\"],\"rows\":3,"
    "\"defects\":{\"wrong_column_count\":1}},"
    "{\"name\":\"card.csv\",\"business_type\":\"card\",\"kind\":\"mart\","
    "\"format\":\"csv\",\"encoding\":\"UTF-8\",\"header\":true,"
    "\"columns\":[\"card_no\",\"memo\"],\"rows\":2},"
    "{\"name\":\"events.jsonl\",\"business_type\":\"events\",\"kind\":\"events\","
    "\"format\":\"jsonl\",\"encoding\":\"UTF-8\",\"rows\":2}]}";

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    snprintf(f->root, sizeof f->root, "/tmp/tb-inv-XXXXXX");
    if (!mkdtemp(f->root)) return -1;
    snprintf(f->data, sizeof f->data, "%s/data", f->root);
    snprintf(f->batch, sizeof f->batch, "%s/batch", f->root);
    mkdir(f->batch, 0755);
    write_file(f->batch, "manifest.json", manifest, sizeof manifest - 1);
    /* The second customer row has a field too few: counted as bad width, still a row. */
    static const char hive[] = "C1\x01张三\x01"
                               "11010519491231002X\n"
                               "C2\x01\\N\n"
                               "C3\x01李四\x01\\N\n";
    write_file(f->batch, "customer.dat", hive, sizeof hive - 1);
    static const char csv[] = "\xEF\xBB\xBF"
                              "card_no,memo\r\n"
                              "4111111111111111,\"a, \"\"quoted\"\"\r\nmemo\"\r\n"
                              "4111111111111112,plain\r\n";
    write_file(f->batch, "card.csv", csv, sizeof csv - 1);
    static const char ev[] = "{\"event\":\"launch\"}\n{\"event\":\"login\"}\n";
    write_file(f->batch, "events.jsonl", ev, sizeof ev - 1);
    char err[256];
    if (tb_db_open(f->data, TB_OPEN_CREATE, &f->db, err, sizeof err)) return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    tb_db_close(f->db);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->root);
    if (system(cmd) != 0) return -1;
    free(f);
    return 0;
}

static int64_t count(tb_db *db, const char *sql)
{
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(tb__db_sqlite(db), sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    int64_t n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return n;
}

static void scans_and_records(void **state)
{
    fixture *f = *state;
    tb_inventory *inv;
    assert_int_equal(tb_inventory_scan(f->db, f->batch, &inv), 0);
    assert_string_equal(tb_inventory_batch(inv), "20261121");
    assert_int_equal(tb_inventory_nfiles(inv), 3);
    assert_string_equal(tb_inventory_file_name(inv, 0), "customer.dat");
    assert_int_equal(tb_inventory_file_rows(inv, 0), 3);
    assert_int_equal(tb_inventory_file_bad_width(inv, 0), 1);
    assert_string_equal(tb_inventory_file_check(inv, 0), "ok");
    assert_int_equal(tb_inventory_file_rows(inv, 1), 2); /* embedded CRLF stays in the field */
    assert_int_equal(tb_inventory_file_bad_width(inv, 1), 0);
    assert_int_equal(tb_inventory_file_rows(inv, 2), 2);
    assert_int_equal(tb_inventory_file_expected_rows(inv, 2), 2);
    assert_null(tb_inventory_file_name(inv, 3));
    tb_inventory_free(inv);

    assert_int_equal(count(f->db, "SELECT rows FROM batch WHERE batch_date = '20261121'"), 7);
    assert_int_equal(count(f->db, "SELECT count(*) FROM extract_file"), 3);

    /* Scanning the same batch again replaces its record: no duplicates. */
    assert_int_equal(tb_inventory_scan(f->db, f->batch, &inv), 0);
    tb_inventory_free(inv);
    assert_int_equal(count(f->db, "SELECT count(*) FROM batch"), 1);
    assert_int_equal(count(f->db, "SELECT count(*) FROM extract_file"), 3);
}

static void truncated_file_is_seen(void **state)
{
    fixture *f = *state;
    write_file(f->batch, "events.jsonl", "{}\n", 3);
    tb_inventory *inv;
    assert_int_equal(tb_inventory_scan(f->db, f->batch, &inv), 0);
    assert_int_equal(tb_inventory_file_rows(inv, 2), 1);
    assert_int_equal(tb_inventory_file_expected_rows(inv, 2), 2);
    assert_string_equal(tb_inventory_file_check(inv, 2), "rows differ from manifest");

    /* Same rows, but one more with a wrong field count than the manifest says. */
    static const char two_bad[] = "C1\x01"
                                  "a\x01"
                                  "b\nC2\nC3\n";
    write_file(f->batch, "customer.dat", two_bad, sizeof two_bad - 1);
    tb_inventory_free(inv);
    assert_int_equal(tb_inventory_scan(f->db, f->batch, &inv), 0);
    assert_int_equal(tb_inventory_file_bad_width(inv, 0), 2);
    assert_string_equal(tb_inventory_file_check(inv, 0), "field counts differ from manifest");
    tb_inventory_free(inv);
}

static void errors_keep_the_store(void **state)
{
    fixture *f = *state;
    tb_inventory *inv;
    assert_int_equal(tb_inventory_scan(f->db, f->batch, &inv), 0);
    tb_inventory_free(inv);

    /* A listed file that is missing: the scan fails, naming it, and the old record stays. */
    char path[160];
    snprintf(path, sizeof path, "%s/card.csv", f->batch);
    assert_int_equal(unlink(path), 0);
    assert_int_equal(tb_inventory_scan(f->db, f->batch, &inv), TB_ENOENT);
    assert_null(inv);
    assert_non_null(strstr(tb_errmsg(f->db), "card.csv"));
    assert_int_equal(count(f->db, "SELECT count(*) FROM extract_file"), 3);

    /* An unterminated quote: the detail names the file and the line. */
    write_file(f->batch, "card.csv", "card_no,memo\n1,\"open\n", 21);
    assert_int_equal(tb_inventory_scan(f->db, f->batch, &inv), TB_EFORMAT);
    assert_non_null(strstr(tb_errmsg(f->db), "card.csv"));
    assert_non_null(strstr(tb_errmsg(f->db), "line 2"));

    /* No manifest at all. */
    assert_int_equal(tb_inventory_scan(f->db, f->root, &inv), TB_ENOENT);
    assert_non_null(strstr(tb_errmsg(f->db), "manifest.json"));
    assert_int_equal(count(f->db, "SELECT count(*) FROM batch"), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(scans_and_records, setup, teardown),
        cmocka_unit_test_setup_teardown(truncated_file_is_seen, setup, teardown),
        cmocka_unit_test_setup_teardown(errors_keep_the_store, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
