/* test_consent.c — tests src/security/consent.c: defaults per purpose (and from settings), grants
 * and withdrawals per channel and for "any" (a withdrawal wins), the history with who, when and
 * source, the ledger view, the walk in gid order and the filter over a gid list, input checks, and
 * the audit records (no customer number, chain intact). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "security/security.h"
#include "store/meta.h"

#include "helpers.h"

static tb_db *setup_db(const char *parent)
{
    char *d = tbt_join(parent, "d");
    char err[256] = "";
    tb_db *db = NULL;
    if (tb_db_open(d, TB_OPEN_CREATE, &db, err, sizeof err)) fail_msg("tb_db_open: %s", err);
    free(d);
    assert_int_equal(tb__security_init(db), 0);
    return db;
}

static long long query_int(tb_db *db, const char *text)
{
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(tb__db_sqlite(db), text, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    long long n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return n;
}

/* The decision for (gid, purpose, channel); fails the test on an error. */
static int get(tb_db *db, uint32_t gid, const char *purpose, const char *channel)
{
    int g = -1;
    int rc = tb__consent_get(db, gid, purpose, channel, &g, NULL);
    if (rc) fail_msg("consent_get: %s", tb_errmsg(db));
    return g;
}

static void set(tb_db *db, const tb__principal *who, uint32_t gid, const char *purpose,
                const char *channel, int grant)
{
    int rc = tb__consent_set(db, who, "branch-7", gid, purpose, channel, grant, "branch");
    if (rc) fail_msg("consent_set: %s", tb_errmsg(db));
}

static void defaults(void **state)
{
    tb_db *db = setup_db(*state);
    int g, ex;
    assert_int_equal(tb__consent_default(db, "marketing", &g), 0);
    assert_int_equal(g, 0);
    assert_int_equal(tb__consent_default(db, "profiling", &g), 0);
    assert_int_equal(g, 1);
    assert_int_equal(tb__consent_default(db, "third_party", &g), 0);
    assert_int_equal(g, 0);
    assert_int_equal(tb__consent_default(db, "research", &g), TB_EINVAL);
    assert_non_null(strstr(tb_errmsg(db), "security.consent.default.research"));
    assert_int_equal(tb__consent_default(db, "Bad Name", &g), TB_EINVAL);
    assert_int_equal(tb_db_set_setting(db, "security.consent.default.research", "granted"), 0);
    assert_int_equal(tb__consent_default(db, "research", &g), 0);
    assert_int_equal(g, 1);
    assert_int_equal(tb_db_set_setting(db, "security.consent.default.marketing", "granted"), 0);
    assert_int_equal(get(db, 1, "marketing", "sms"), 1);
    assert_int_equal(tb_db_set_setting(db, "security.consent.default.marketing", "yes"), 0);
    assert_int_equal(tb__consent_get(db, 1, "marketing", "sms", &g, &ex), TB_EINVAL);
    assert_int_equal(tb_db_set_setting(db, "security.consent.default.marketing", "not_granted"), 0);
    assert_int_equal(tb__consent_get(db, 1, "marketing", "sms", &g, &ex), 0);
    assert_int_equal(g, 0);
    assert_int_equal(ex, 0);
    assert_int_equal(get(db, 1, "profiling", "any"), 1);
    assert_int_equal(tb__consent_get(db, 1, "marketing", "pigeon", &g, &ex), TB_EINVAL);
    assert_non_null(strstr(tb_errmsg(db), "unknown consent channel 'pigeon'"));
    tb_db_close(db);
}

static void grant_withdraw_history(void **state)
{
    tb_db *db = setup_db(*state);
    tb__principal clerk;
    tb__principal_cli(&clerk, "clerk");
    /* a grant on one channel */
    set(db, &clerk, 5, "marketing", "sms", 1);
    assert_int_equal(get(db, 5, "marketing", "sms"), 1);
    assert_int_equal(get(db, 5, "marketing", "email"), 0);
    assert_int_equal(get(db, 5, "marketing", "any"), 0);
    int g, ex;
    assert_int_equal(tb__consent_get(db, 5, "marketing", "sms", &g, &ex), 0);
    assert_int_equal(ex, 1);
    /* a withdrawal for every channel wins over the channel's grant */
    set(db, &clerk, 5, "marketing", "any", 0);
    assert_int_equal(get(db, 5, "marketing", "sms"), 0);
    /* a grant for every channel, a withdrawal on one */
    set(db, &clerk, 6, "marketing", "any", 1);
    set(db, &clerk, 6, "marketing", "phone", 0);
    assert_int_equal(get(db, 6, "marketing", "sms"), 1);
    assert_int_equal(get(db, 6, "marketing", "phone"), 0);
    assert_int_equal(get(db, 6, "marketing", "any"), 1);
    /* re-granted: the latest record of a (purpose, channel) counts */
    set(db, &clerk, 6, "marketing", "phone", 1);
    assert_int_equal(get(db, 6, "marketing", "phone"), 1);
    /* profiling is opt-out */
    set(db, &clerk, 7, "profiling", "any", 0);
    assert_int_equal(get(db, 7, "profiling", "any"), 0);
    assert_int_equal(get(db, 8, "profiling", "any"), 1);

    json_t *doc;
    assert_int_equal(tb__consent_show(db, 6, &doc), 0);
    json_t *hist = json_object_get(doc, "history");
    assert_int_equal(json_array_size(hist), 3);
    json_t *newest = json_array_get(hist, 0);
    assert_string_equal(json_string_value(json_object_get(newest, "action")), "grant");
    assert_string_equal(json_string_value(json_object_get(newest, "channel")), "phone");
    assert_string_equal(json_string_value(json_object_get(newest, "actor")), "clerk");
    assert_string_equal(json_string_value(json_object_get(newest, "source")), "branch");
    assert_non_null(json_string_value(json_object_get(newest, "at")));
    assert_string_equal(json_string_value(json_object_get(json_array_get(hist, 1), "action")),
                        "withdraw");
    assert_int_equal(json_array_size(json_object_get(doc, "current")), 2);
    json_t *eff = json_object_get(doc, "effective");
    assert_true(json_is_true(json_object_get(json_object_get(eff, "marketing"), "sms")));
    assert_true(json_is_true(json_object_get(json_object_get(eff, "profiling"), "any")));
    assert_true(json_is_false(json_object_get(json_object_get(eff, "third_party"), "sms")));
    json_decref(doc);
    assert_int_equal(tb__consent_show(db, 5, &doc), 0);
    eff = json_object_get(doc, "effective");
    assert_true(json_is_false(json_object_get(json_object_get(eff, "marketing"), "sms")));
    json_decref(doc);

    /* audited under who recorded it, with the gid only */
    assert_int_equal(query_int(db, "SELECT count(*) FROM audit WHERE action = 'consent.grant' AND "
                                   "actor = 'clerk' AND object = 'gid:6' AND remote = 'branch-7'"),
                     2);
    assert_int_equal(query_int(db, "SELECT count(*) FROM audit WHERE action = 'consent.withdraw'"),
                     3);
    json_t *v;
    assert_int_equal(tb__audit_verify(db, &v), 0);
    assert_true(json_is_true(json_object_get(v, "ok")));
    json_decref(v);

    /* bad input changes nothing */
    long long before = query_int(db, "SELECT count(*) FROM consent_event");
    assert_int_equal(tb__consent_set(db, &clerk, NULL, 5, "marketing", "fax", 1, "x"), TB_EINVAL);
    assert_int_equal(tb__consent_set(db, &clerk, NULL, 5, "spam", "sms", 1, "x"), TB_EINVAL);
    assert_int_equal(tb__consent_set(db, &clerk, NULL, 5, "marketing", "sms", 1, ""), TB_EINVAL);
    assert_int_equal(tb__consent_set(db, &clerk, NULL, 5, "marketing", "sms", 1, "a\nb"),
                     TB_EINVAL);
    assert_int_equal(query_int(db, "SELECT count(*) FROM consent_event"), before);
    tb_db_close(db);
}

static int collect(uint32_t gid, int granted, void *arg)
{
    json_t *a = arg;
    return json_array_append_new(a, json_pack("[i, b]", (int)gid, granted));
}

static int stop_at_two(uint32_t gid, int granted, void *arg)
{
    (void)granted;
    int *n = arg;
    (void)gid;
    return ++*n == 2 ? 42 : 0;
}

static void filter(void **state)
{
    tb_db *db = setup_db(*state);
    tb__principal clerk;
    tb__principal_cli(&clerk, "clerk");
    set(db, &clerk, 30, "marketing", "sms", 1);
    set(db, &clerk, 10, "marketing", "any", 1);
    set(db, &clerk, 20, "marketing", "sms", 1);
    set(db, &clerk, 20, "marketing", "any", 0);
    set(db, &clerk, 40, "marketing", "email", 1); /* another channel: no effect on sms */
    set(db, &clerk, 50, "profiling", "any", 0);

    json_t *a = json_array();
    assert_int_equal(tb__consent_each(db, "marketing", "sms", collect, a), 0);
    char *text = json_dumps(a, JSON_COMPACT);
    assert_string_equal(text, "[[10,true],[20,false],[30,true]]");
    free(text);
    json_decref(a);
    int n = 0;
    assert_int_equal(tb__consent_each(db, "marketing", "sms", stop_at_two, &n), 42);

    uint32_t gids[] = {40, 30, 99, 20, 10, 30, 50};
    size_t kept;
    assert_int_equal(tb__consent_filter(db, "marketing", "sms", gids, 7, &kept), 0);
    assert_int_equal(kept, 3);
    assert_int_equal(gids[0], 30);
    assert_int_equal(gids[1], 10);
    assert_int_equal(gids[2], 30);

    /* profiling defaults to granted: only the withdrawal drops */
    uint32_t all[] = {50, 10, 99};
    assert_int_equal(tb__consent_filter(db, "profiling", "any", all, 3, &kept), 0);
    assert_int_equal(kept, 2);
    assert_int_equal(all[0], 10);
    assert_int_equal(all[1], 99);

    assert_int_equal(tb__consent_filter(db, "marketing", "sms", NULL, 0, &kept), 0);
    assert_int_equal(kept, 0);
    assert_int_equal(tb__consent_filter(db, "nope", "sms", all, 3, &kept), TB_EINVAL);

    /* a larger list against many records */
    assert_int_equal(tb__meta_begin(db), 0); /* one commit for all (the caller's transaction) */
    for (uint32_t g = 1000; g < 1400; g++)
        set(db, &clerk, g, "third_party", g % 3 ? "any" : "sms", g % 2);
    assert_int_equal(tb__meta_commit(db), 0);
    uint32_t big[600];
    for (uint32_t i = 0; i < 600; i++)
        big[i] = 1399 - i; /* 1399 down to 800 */
    assert_int_equal(tb__consent_filter(db, "third_party", "sms", big, 600, &kept), 0);
    assert_int_equal(kept, 200); /* the odd gids of 1000..1399 */
    for (size_t i = 0; i < kept; i++) {
        assert_true(big[i] >= 1000 && big[i] % 2 == 1);
        if (i) assert_true(big[i] < big[i - 1]); /* order kept */
    }
    tb_db_close(db);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(defaults, tbt_setup_tmpdir, tbt_teardown_tmpdir),
        cmocka_unit_test_setup_teardown(grant_withdraw_history, tbt_setup_tmpdir,
                                        tbt_teardown_tmpdir),
        cmocka_unit_test_setup_teardown(filter, tbt_setup_tmpdir, tbt_teardown_tmpdir),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
