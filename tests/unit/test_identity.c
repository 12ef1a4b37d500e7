/* test_identity.c — tests src/pipeline/identity.c and identity_md.c: match rules, stable gids
 * across loads, survivorship, conflicts, history, relations, find, merge/unmerge, and resolution
 * of a generated bank against its ground truth. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include <jansson.h>

#include "common/table.h"
#include "helpers.h"
#include "pipeline/identity.h"
#include "pipeline/reader.h"
#include "store/meta.h"

static tb_db *open_db(const char *dir)
{
    tb_db *db = NULL;
    char err[256];
    int rc = tb_db_open(dir, TB_OPEN_CREATE, &db, err, sizeof err);
    if (rc) fprintf(stderr, "%s\n", err);
    assert_int_equal(rc, 0);
    return db;
}

static tb__party_obs person(const char *system, const char *key, const char *id, const char *name,
                            const char *mobile, int32_t as_of)
{
    tb__party_obs o = {.system = system,
                       .key = key,
                       .kind = TB__PARTY_PERSON,
                       .cert_type = id ? "101" : NULL,
                       .cert_no = id,
                       .cust_type = "1",
                       .as_of = as_of};
    o.attr[TB__F_NAME] = name;
    o.attr[TB__F_MOBILE] = mobile;
    return o;
}

static uint32_t observe(tb__idres *r, tb__party_obs o, tb__match_how want)
{
    uint32_t gid;
    tb__match_how how;
    int rc = tb__idres_observe(r, &o, &gid, &how);
    if (rc) fprintf(stderr, "%s\n", tb__idres_errmsg(r));
    assert_int_equal(rc, 0);
    assert_int_equal(how, want);
    return gid;
}

/* `o` with the lengths a load passes (tb__party_obs's key_len, cert_len, attr_len). */
static tb__party_obs with_lengths(tb__party_obs o)
{
    o.key_len = strlen(o.key);
    o.cert_len = o.cert_no ? strlen(o.cert_no) : 0;
    for (int f = 0; f < TB__F_COUNT; f++)
        o.attr_len[f] = o.attr[f] ? strlen(o.attr[f]) : 0;
    return o;
}

static void commit(tb__idres *r, tb_db *db, const char *batch, int64_t load)
{
    assert_int_equal(tb__meta_begin(db), 0);
    int rc = tb__idres_commit(r, db, batch, load);
    if (rc) fprintf(stderr, "%s\n", tb_errmsg(db));
    assert_int_equal(rc, 0);
    assert_int_equal(tb__meta_commit(db), 0);
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

/* Every index's SQL, in name order: the schema as migrations made it. Caller frees. */
static char *index_sql(tb_db *db)
{
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(tb__db_sqlite(db),
                                        "SELECT group_concat(sql, ';') FROM (SELECT sql FROM "
                                        "sqlite_schema WHERE type = 'index' AND sql IS NOT NULL "
                                        "ORDER BY name)",
                                        -1, &st, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    char *sql = strdup((const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    return sql;
}

#define ID_A "11010519491231002X"
#define ID_B "440305198801011234"
#define USCC "91350100M000100Y43"

/* Cert links across systems and numbers; stable gids across loads; the next new party gets the
 * next id; keys and certs look up; history on change. */
static void match_and_stable(void **state)
{
    tb_db *db = open_db(*state);
    tb__idres *r;
    assert_int_equal(tb__idres_open(db, &r), 0);
    uint32_t a = observe(r, person("core", "800000000001", ID_A, "张三", "13800001111", 19000),
                         TB__MATCHED_NEW);
    uint32_t c = observe(r, person("core", "800000000002", ID_B, "李四", "13900002222", 19000),
                         TB__MATCHED_NEW);
    /* a second core number of the same person, and the card system's own number */
    assert_int_equal(observe(r, person("core", "800000000003", ID_A, "张三", "13800001111", 19100),
                             TB__MATCHED_CERT),
                     a);
    assert_int_equal(observe(r, person("card", "C000000000001", ID_A, "张三", "13700003333", 19050),
                             TB__MATCHED_CERT),
                     a);
    assert_int_equal(observe(r, person("core", "800000000001", ID_A, "张三", "13800001111", 19000),
                             TB__MATCHED_KEY),
                     a);
    tb__party_obs co = {.system = "core",
                        .key = "800000000009",
                        .kind = TB__PARTY_COMPANY,
                        .cert_type = "201",
                        .cert_no = USCC,
                        .cust_type = "2",
                        .as_of = 19000};
    co.attr[TB__F_NAME] = "福建某某科技有限公司";
    uint32_t e = observe(r, co, TB__MATCHED_NEW);
    assert_int_equal(a, 0);
    assert_int_equal(c, 1);
    assert_int_equal(e, 2);
    assert_int_equal(tb__idres_count(r), 3);
    assert_int_equal(tb__idres_live(r), 3);
    uint32_t g;
    assert_int_equal(tb__idres_lookup(r, "card", "C000000000001", &g), 0);
    assert_int_equal(g, a);
    assert_int_equal(tb__idres_lookup(r, "card", "C999", &g), TB_ENOENT);
    /* By length, in a longer buffer (a field of a record): the key's bytes and no more or less. */
    const char *rowbytes = "C000000000001"
                           "\x01"
                           "800000000009";
    assert_int_equal(tb__idres_lookup_len(r, "card", rowbytes, 13, &g), 0);
    assert_int_equal(g, a);
    assert_int_equal(tb__idres_lookup_len(r, "card", rowbytes, 12, &g), TB_ENOENT);
    assert_int_equal(g, TB__GID_NONE);
    assert_int_equal(tb__idres_lookup_len(r, "card", rowbytes, 14, &g), TB_ENOENT);
    assert_int_equal(tb__idres_lookup_cert(r, TB__PARTY_COMPANY, USCC, &g), 0);
    assert_int_equal(g, e);
    assert_int_equal(tb__idres_lookup_cert(r, TB__PARTY_PERSON, USCC, &g), TB_ENOENT);
    assert_int_equal(tb__idres_relate(r, a, TB__REL_HOUSEHOLD, "H000000001", a, "01"), 0);
    assert_int_equal(tb__idres_relate(r, e, TB__REL_LEGAL_REP, "王五", TB__GID_NONE, NULL), 0);
    /* a company row does not join a person through a cert of the other kind */
    assert_int_equal(tb__idres_relate(r, 99, TB__REL_GROUP, "G1", TB__GID_NONE, NULL), TB_EINVAL);
    commit(r, db, "20261120", 1);
    tb__idres_free(r);
    assert_int_equal(count(db, "SELECT count(*) FROM party"), 3);
    assert_int_equal(count(db, "SELECT count(*) FROM party_key"), 5);
    assert_int_equal(count(db, "SELECT count(*) FROM party_history"), 0);
    assert_int_equal(count(db, "SELECT count(*) FROM party_relation"), 2);

    /* second load: same keys give the same gids, a new party the next id, a change history */
    assert_int_equal(tb__idres_open(db, &r), 0);
    assert_int_equal(tb__idres_count(r), 3);
    assert_int_equal(observe(r, person("card", "C000000000001", ID_A, "张三", "13700003333", 19050),
                             TB__MATCHED_KEY),
                     a);
    assert_int_equal(observe(r, person("core", "800000000002", ID_B, "李四", "13911112222", 19200),
                             TB__MATCHED_KEY),
                     c);
    assert_int_equal(observe(r, person("card", "C000000000002", ID_B, "李四", "13900002222", 19000),
                             TB__MATCHED_CERT),
                     c);
    assert_int_equal(
        observe(r,
                person("core", "800000000010", "110105199001010011", "赵六", "13600006666", 19200),
                TB__MATCHED_NEW),
        3);
    tb__golden gd;
    assert_int_equal(tb__idres_golden(r, c, &gd), 0);
    assert_string_equal(gd.value[TB__F_MOBILE], "13911112222");
    assert_string_equal(gd.source[TB__F_MOBILE], "core");
    assert_int_equal(gd.nkeys, 2);
    assert_int_equal(tb__idres_golden(r, a, &gd), 0);
    assert_int_equal(gd.nkeys, 3);
    assert_string_equal(gd.cert_no, ID_A);
    commit(r, db, "20261121", 2);
    tb__idres_free(r);
    assert_int_equal(count(db, "SELECT count(*) FROM party"), 4);
    assert_int_equal(count(db, "SELECT count(*) FROM party_history WHERE gid = 1 AND field = "
                               "'mobile' AND old_value = '13900002222' AND new_value = "
                               "'13911112222' AND batch_date = '20261121' AND load_id = 2"),
                     1);
    /* persisted values survive a third open */
    assert_int_equal(tb__idres_open(db, &r), 0);
    assert_int_equal(tb__idres_golden(r, c, &gd), 0);
    assert_string_equal(gd.value[TB__F_MOBILE], "13911112222");
    assert_string_equal(gd.value[TB__F_NAME], "李四");
    assert_int_equal(gd.as_of[TB__F_MOBILE], 19200);
    tb__idres_free(r);
    tb_db_close(db);
}

/* Lengths given with an observation, as a load gives them, decide exactly what strlen did: the
 * same matches, survivors, conflicts and history, also for names where one is the other's
 * prefix (a name is compared as text, not interned). */
static void lengths_given(void **state)
{
    tb_db *db = open_db(*state);
    tb__idres *r[2];
    static const struct {
        const char *sys, *key, *id, *name, *mobile;
        int32_t day;
    } rows[] = {
        {"core", "800000000001", ID_A, "张三", "13800001111", 19000},
        {"card", "C1", ID_A, "张三丰", "13800001111", 19100},         /* longer: differs */
        {"card", "C1", ID_A, "张三", "1380000111", 19200},            /* shorter: differs */
        {"core", "800000000001", ID_A, "张三", "13800001111", 19300}, /* equal again */
        {"core", "800000000002", ID_B, "李四", "13900002222", 19000},
        {"web", "W2", ID_B, "李", "13900002222", 19400},
        {"web", "W3", NULL, "王五", "13700003333", 19400},
    };
    for (int v = 0; v < 2; v++) {
        assert_int_equal(tb__idres_open(db, &r[v]), 0);
        for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
            tb__party_obs o = person(rows[i].sys, rows[i].key, rows[i].id, rows[i].name,
                                     rows[i].mobile, rows[i].day);
            o.attr[TB__F_ADDRESS] = i % 2 ? "福州市鼓楼区" : "福州市鼓楼区1号";
            if (v) o = with_lengths(o);
            uint32_t gid;
            assert_int_equal(tb__idres_observe(r[v], &o, &gid, NULL), 0);
        }
    }
    tb__idres_stats a, b;
    tb__idres_stats_get(r[0], &a);
    tb__idres_stats_get(r[1], &b);
    assert_memory_equal(&a, &b, sizeof a);
    /* A value that differs from the surviving one of a field this session already gave is a
     * conflict; by default the core system's values survive the card's and the web's: 张三丰 and
     * the address (row 2), the mobile cut short (row 3, its address equals the survivor), the
     * address (row 4, core: it survives); 李 against 李四 and the address (row 6). */
    assert_int_equal(a.conflicts, 6);
    assert_int_equal(a.created, 3);
    assert_int_equal(tb__idres_count(r[1]), 3);
    for (uint32_t g = 0; g < 3; g++) {
        tb__golden x, y;
        assert_int_equal(tb__idres_golden(r[0], g, &x), 0);
        assert_int_equal(tb__idres_golden(r[1], g, &y), 0);
        for (int f = 0; f < TB__F_COUNT; f++) {
            assert_true((x.value[f] == NULL) == (y.value[f] == NULL));
            if (x.value[f]) assert_string_equal(x.value[f], y.value[f]);
            assert_int_equal(x.as_of[f], y.as_of[f]);
        }
    }
    tb__golden z;
    assert_int_equal(tb__idres_golden(r[1], 0, &z), 0);
    assert_string_equal(z.value[TB__F_NAME], "张三");          /* core's, not 张三丰 */
    assert_string_equal(z.value[TB__F_MOBILE], "13800001111"); /* not the card's, cut short */
    for (int v = 0; v < 2; v++)
        tb__idres_free(r[v]);
    tb_db_close(db);
}

/* attrs in both stored formats: the first one (system and day on every field) still reads, the
 * compact one repeats system and day only where they change; bad ones are TB_ECORRUPT. */
static void attrs_formats(void **state)
{
    tb__attr_field fs[TB__F_COUNT];
    const char *first = "\xe5\xbc\xa0\xe4\xb8\x89\x1f"
                        "core\x1f"
                        "19000\x1e"
                        "1\x1f"
                        "core\x1f"
                        "19000\x1e\x1e"
                        "13700003333\x1f"
                        "card\x1f"
                        "19050";
    const char *compact = "\x1f\x1f\xe5\xbc\xa0\xe4\xb8\x89\x1f"
                          "core\x1f"
                          "19000\x1e"
                          "1\x1e\x1e"
                          "13700003333\x1f"
                          "card\x1f"
                          "19050\x1e\x1e"
                          "9";
    for (int k = 0; k < 2; k++) {
        const char *a = k ? compact : first;
        assert_int_equal(tb__attrs_split(a, strlen(a), fs), 0);
        assert_int_equal(fs[TB__F_NAME].value_len, 6);
        assert_memory_equal(fs[TB__F_NAME].value, "\xe5\xbc\xa0\xe4\xb8\x89", 6);
        assert_int_equal(fs[TB__F_GENDER].system_len, 4);
        assert_memory_equal(fs[TB__F_GENDER].system, "core", 4);
        assert_int_equal(fs[TB__F_GENDER].as_of, 19000);
        assert_null(fs[TB__F_BIRTH_DATE].value);
        assert_memory_equal(fs[TB__F_MOBILE].system, "card", 4);
        assert_int_equal(fs[TB__F_MOBILE].as_of, 19050);
        if (k) { /* the address is absent, the province from the mobile's system and day */
            assert_null(fs[TB__F_ADDRESS].value);
            assert_memory_equal(fs[TB__F_PROVINCE].value, "9", 1);
            assert_memory_equal(fs[TB__F_PROVINCE].system, "card", 4);
        }
    }
    assert_int_equal(tb__attrs_split("", 0, fs), 0); /* an erased party's tombstone */
    assert_null(fs[TB__F_NAME].value);
    assert_int_equal(tb__attrs_split(NULL, 0, fs), 0);
    /* a first-format field without system, a compact one with nothing to inherit, a bad day */
    assert_int_equal(tb__attrs_split("x", 1, fs), TB_ECORRUPT);
    assert_int_equal(tb__attrs_split("\x1f\x1fx", 3, fs), TB_ECORRUPT);
    assert_int_equal(tb__attrs_split("x\x1f"
                                     "core\x1f"
                                     "19a",
                                     10, fs),
                     TB_ECORRUPT);
    assert_int_equal(tb__attrs_split("x\x1f\x1f"
                                     "19",
                                     5, fs),
                     TB_ECORRUPT);

    /* a store written in the first format opens with the same golden records */
    tb_db *db = open_db(*state);
    tb__idres *r;
    assert_int_equal(tb__idres_open(db, &r), 0);
    uint32_t a = observe(
        r, person("core", "800000000001", ID_A, "\xe5\xbc\xa0\xe4\xb8\x89", "13800001111", 19000),
        TB__MATCHED_NEW);
    commit(r, db, "20261120", 1);
    tb__idres_free(r);
    assert_int_equal(count(db, "SELECT count(*) FROM party WHERE attrs LIKE char(31, 31) || '%'"),
                     1);
    sqlite3_stmt *st;
    assert_int_equal(
        sqlite3_prepare_v2(tb__db_sqlite(db), "UPDATE party SET attrs = ?1", -1, &st, NULL),
        SQLITE_OK);
    sqlite3_bind_text(st, 1, first, -1, SQLITE_STATIC);
    assert_int_equal(sqlite3_step(st), SQLITE_DONE);
    sqlite3_finalize(st);
    assert_int_equal(tb__idres_open(db, &r), 0);
    tb__golden gd;
    assert_int_equal(tb__idres_golden(r, a, &gd), 0);
    assert_string_equal(gd.value[TB__F_NAME], "\xe5\xbc\xa0\xe4\xb8\x89");
    assert_string_equal(gd.value[TB__F_MOBILE], "13700003333");
    assert_string_equal(gd.source[TB__F_MOBILE], "card");
    assert_int_equal(gd.as_of[TB__F_MOBILE], 19050);
    assert_string_equal(gd.source[TB__F_GENDER], "core");
    tb__idres_free(r);
    tb_db_close(db);
}

/* Core beats card for the name; the most recent mobile wins among equals; a conflict of two
 * sources in one batch is recorded masked; rules are configurable. */
static void survivorship(void **state)
{
    tb_db *db = open_db(*state);
    tb__idres *r;
    assert_int_equal(tb__idres_open(db, &r), 0);
    uint32_t g =
        observe(r, person("card", "C1", ID_A, "张叁", "13700000001", 19500), TB__MATCHED_NEW);
    observe(r, person("core", "801", ID_A, "张三", "13800000001", 19000), TB__MATCHED_CERT);
    observe(r, person("core", "802", ID_A, "张三", "13800000002", 19300), TB__MATCHED_CERT);
    tb__golden gd;
    assert_int_equal(tb__idres_golden(r, g, &gd), 0);
    assert_string_equal(gd.value[TB__F_NAME], "张三"); /* core over a more recent card row */
    assert_string_equal(gd.source[TB__F_NAME], "core");
    assert_string_equal(gd.value[TB__F_MOBILE], "13800000002"); /* the more recent core row */
    tb__idres_stats s;
    tb__idres_stats_get(r, &s);
    assert_int_equal(s.conflicts, 3); /* name card/core, mobile card/core, mobile core/core */
    /* recency first for the mobile: a newer card row now wins */
    assert_int_equal(tb__idres_set_rule(r, TB__F_MOBILE, TB__SURV_RECENT), 0);
    observe(r, person("card", "C1", ID_A, "张叁", "13700000009", 19600), TB__MATCHED_KEY);
    assert_int_equal(tb__idres_golden(r, g, &gd), 0);
    assert_string_equal(gd.value[TB__F_MOBILE], "13700000009");
    assert_string_equal(gd.value[TB__F_NAME], "张三");
    assert_int_equal(tb__idres_set_rule(r, TB__F_COUNT, TB__SURV_RECENT), TB_EINVAL);
    /* a higher configured priority for the card system takes the name */
    assert_int_equal(tb__idres_set_priority(r, "card", 200), 0);
    observe(r, person("card", "C1", ID_A, "张叁", NULL, 19600), TB__MATCHED_KEY);
    assert_int_equal(tb__idres_golden(r, g, &gd), 0);
    assert_string_equal(gd.value[TB__F_NAME], "张叁");
    commit(r, db, "20261121", 7);
    tb__idres_free(r);
    /* + mobile card/core, name card/core (kept), name card/core (taken at priority 200) */
    assert_int_equal(count(db, "SELECT count(*) FROM party_conflict"), 6);
    assert_int_equal(count(db, "SELECT count(*) FROM party_conflict WHERE field = 'name' AND "
                               "value_a = '张*' AND source_a = 'card' AND value_b = '张*' AND "
                               "source_b = 'core' AND chosen = 'b'"),
                     1);
    /* no clear mobile in the conflict table */
    assert_int_equal(count(db, "SELECT count(*) FROM party_conflict WHERE value_a LIKE '%0001' "
                               "AND value_a NOT LIKE '%*%'"),
                     0);
    tb_db_close(db);
}

/* Every row of the master-data tables, in a fixed order, as text (the time of a history row
 * left out). Caller frees. */
static char *dump_master(tb_db *db)
{
    static const char *const q[] = {
        "SELECT gid, kind, cert_type, cert_no, cust_type, name, mobile, merged_into, attrs, "
        "first_batch, last_batch, first_load, last_load FROM party ORDER BY gid",
        "SELECT system, key, gid, first_batch, load_id FROM party_key ORDER BY system, key",
        "SELECT gid, batch_date, load_id, field, old_value, new_value, source FROM party_history "
        "ORDER BY id",
        "SELECT gid, field, value_a, source_a, value_b, source_b, chosen FROM party_conflict "
        "ORDER BY id",
        "SELECT gid, rel_type, target, target_gid, role FROM party_relation "
        "ORDER BY gid, rel_type, target",
    };
    size_t len = 0, cap = 4096;
    char *out = malloc(cap);
    assert_non_null(out);
    out[0] = '\0';
    for (size_t i = 0; i < sizeof q / sizeof q[0]; i++) {
        sqlite3_stmt *st;
        assert_int_equal(sqlite3_prepare_v2(tb__db_sqlite(db), q[i], -1, &st, NULL), SQLITE_OK);
        while (sqlite3_step(st) == SQLITE_ROW) {
            for (int c = 0; c < sqlite3_column_count(st); c++) {
                const char *v = (const char *)sqlite3_column_text(st, c);
                size_t n = strlen(v ? v : "NULL") + 2;
                while (len + n + 1 > cap)
                    assert_non_null(out = realloc(out, cap *= 2));
                len += (size_t)sprintf(out + len, "%s%c", v ? v : "NULL", c ? '|' : '\n');
            }
        }
        sqlite3_finalize(st);
    }
    return out;
}

/* The first observations of a session, then the rest: new parties, changes to the first ones
 * and to stored ones, another system's keys, conflicts and relations. */
static void session_part(tb__idres *r, int part)
{
    char key[32], id[19], name[16], mobile[12];
    int second = part % 2, later = part / 2; /* the second part of a load; a later load */
    for (int i = 0; i < 40; i++) {
        int k = second ? 30 + i : i; /* the second part revisits 30..39 and adds 40..69 */
        /* 37: stored without a certificate type, untouched by the next load until its second
         * part replays the same row with one: only the type changes */
        if (k == 37 && part == 2) continue;
        int replay = k == 37 && part == 3;
        snprintf(key, sizeof key, "8%011d", k);
        snprintf(id, sizeof id, "1101051990%04d%03d", k, k % 1000);
        id[17] = 'X';
        id[18] = '\0';
        snprintf(name, sizeof name, "name%d%s", k,
                 later && !replay   ? "L"
                 : second && k < 35 ? "b"
                                    : "");
        snprintf(mobile, sizeof mobile, "138%08d",
                 k + (second && k % 2 ? 7 : 0) + 3 * (later && !replay));
        tb__party_obs o = person("core", key, id, name, mobile, 19000 + (replay ? 1 : part));
        if (k == 37 && part < 3) o.cert_type = NULL; /* learnt by a stored party, late */
        uint32_t gid;
        assert_int_equal(tb__idres_observe(r, &o, &gid, NULL), 0);
        if (second && i % 3 == 0) {
            snprintf(key, sizeof key, "C%d", k + 100 * later);
            tb__party_obs c = person("card", key, id, name, "13999999999", 19100);
            assert_int_equal(tb__idres_observe(r, &c, &gid, NULL), 0);
        }
        snprintf(key, sizeof key, "H%d", k / 4 + part);
        assert_int_equal(tb__idres_relate(r, gid, TB__REL_HOUSEHOLD, key, TB__GID_NONE,
                                          i % 4 ? "member" : "head"),
                         0);
    }
}

/* A load writes the golden records in two parts (an image after the customer master, then
 * what the later files changed): the store ends exactly as if written at once, for a first
 * (bulk: indexes dropped and rebuilt) and for a later load. The image borrows the session's
 * string pool, which the second part goes on appending to. */
static void write_in_two_parts(void **state)
{
    char dir[2][512];
    tb_db *db[2];
    tb__idres *r[2];
    for (int k = 0; k < 2; k++) {
        snprintf(dir[k], sizeof dir[k], "%s/%c", (const char *)*state, 'a' + k);
        db[k] = open_db(dir[k]);
    }
    char *schema = index_sql(db[0]);
    for (int load = 1; load <= 2; load++) {
        for (int k = 0; k < 2; k++) {
            assert_int_equal(tb__idres_open(db[k], &r[k]), 0);
            tb__idres_set_bulk_min(r[k], 10); /* the first load is a bulk one */
            assert_int_equal(tb__meta_begin(db[k]), 0);
        }
        const char *batch = load == 1 ? "20261121" : "20261122";
        /* a later load starts where the first one ended: renamed, moved on */
        int first = 2 * (load - 1);
        /* db a: written around a freeze after the first part, its look-up tables sized at once
         * for three times what the first part added (tb__idres_expect): same answers */
        tb__idres_mark m;
        tb__idres_mark_now(r[0], &m);
        session_part(r[0], first);
        assert_int_equal(tb__idres_expect(r[0], &m, 3.0, SIZE_MAX), 0);
        /* the first load's image in memory given to it (tb__idres_freeze), the second's
         * offered memory too small for it (then allocated by tb__idres_freeze itself) */
        size_t bytes = load == 1 ? tb__idres_image_bytes(1000, 1000) : 64;
        unsigned char *mem = tb__table_alloc(bytes);
        assert_non_null(mem);
        memset(mem, 0xab, bytes);
        tb__idres *image = tb__idres_freeze(r[0], mem, bytes);
        assert_non_null(image);
        if (load == 1) { /* the golden records were copied there (the image owns it now) */
            size_t marked = 0;
            for (size_t i = 0; i < tb__idres_image_bytes(1, 0); i++)
                marked += mem[i] == 0xab;
            assert_true(marked < tb__idres_image_bytes(1, 0));
        }
        assert_int_equal(tb__idres_write_first(image, db[0], batch, load), 0);
        session_part(r[0], first + 1);
        assert_int_equal(tb__idres_write_since(r[0], image, db[0], batch, load), 0);
        tb__idres_written(r[0]);
        tb__idres_free(image);
        /* db b: the same observations, at once */
        session_part(r[1], first);
        session_part(r[1], first + 1);
        /* db b: at once */
        assert_int_equal(tb__idres_write(r[1], db[1], batch, load), 0);
        tb__idres_written(r[1]);
        for (int k = 0; k < 2; k++) {
            assert_int_equal(tb__meta_commit(db[k]), 0);
            tb__idres_free(r[k]);
        }
        char *a = dump_master(db[0]), *b = dump_master(db[1]);
        assert_true(strlen(a) > 1000);
        assert_string_equal(a, b);
        free(a);
        free(b);
        char *sa = index_sql(db[0]);
        assert_string_equal(sa, schema); /* the bulk load rebuilt every index it dropped */
        free(sa);
    }
    assert_true(count(db[0], "SELECT count(*) FROM party_history") > 0);
    assert_true(count(db[0], "SELECT count(*) FROM party_conflict") > 0);
    assert_int_equal(count(db[0], "SELECT count(*) FROM party"), 70);
    assert_int_equal(count(db[0], "SELECT count(*) FROM party WHERE cert_type IS NULL"), 0);
    free(schema);
    for (int k = 0; k < 2; k++)
        tb_db_close(db[k]);
}

/* tb__idres_expect in steps, as a load does with a second thread (plan, arrays reserved and
 * faulted in ahead, tables grown into memory made ready elsewhere), gives the master data of a
 * resolver that grows as it needs; so does a plan the tables outgrew before its memory came. */
static void grow_in_steps(void **state)
{
    char dir[3][512];
    tb_db *db[3];
    tb__idres *r[3];
    for (int k = 0; k < 3; k++) {
        snprintf(dir[k], sizeof dir[k], "%s/%c", (const char *)*state, 'a' + k);
        db[k] = open_db(dir[k]);
        assert_int_equal(tb__idres_open(db[k], &r[k]), 0);
        assert_int_equal(tb__meta_begin(db[k]), 0);
    }
    for (int k = 0; k < 2; k++) {
        tb__idres_mark m;
        tb__idres_mark_now(r[k], &m);
        session_part(r[k], 0);
        tb__idres_plan pl;
        assert_int_equal(tb__idres_plan_growth(r[k], &m, 300.0, SIZE_MAX, &pl), 1);
        assert_true(pl.tables > 0);
        assert_true(pl.parties > tb__idres_count(r[k]));
        assert_int_equal(tb__idres_plan_growth(r[k], &m, 300.0, pl.tables / 2, &pl), 0);
        assert_int_equal(pl.tables + pl.parties + pl.keys + pl.pool, 0); /* nothing planned */
        assert_int_equal(tb__idres_plan_growth(r[k], &m, 300.0, SIZE_MAX, &pl), 1);
        tb__span sp[3];
        int n = tb__idres_reserve(r[k], &pl, sp);
        assert_true(n >= 2); /* golden records and keys; strings too where the pool is mapped */
        for (int i = 0; i < n; i++) {
            /* faulted in ahead, as another thread would: not a byte changes */
            assert_true(sp[i].n > 0);
            size_t look = sp[i].n < 4096 ? sp[i].n : 4096;
            unsigned char *was = malloc(look);
            assert_non_null(was);
            memcpy(was, sp[i].p, look);
            int rc = tb__table_populate(sp[i].p, sp[i].n);
            assert_true(rc == 0 || rc == TB_ENOTSUP);
            assert_memory_equal(was, sp[i].p, look);
            free(was);
        }
        unsigned char *mem = tb__table_alloc(pl.tables);
        assert_non_null(mem);
        if (k == 1) /* the tables grew past the plan before its memory came */
            assert_int_equal(tb__idres_expect(r[k], &m, 600.0, SIZE_MAX), 0);
        assert_int_equal(tb__idres_grow(r[k], &pl, mem, pl.tables), 0);
        if (k == 0) { /* the tables are in the memory given */
            size_t used = 0;
            for (size_t i = 0; i < pl.tables; i++)
                used += mem[i] != 0;
            assert_true(used > 0);
        }
        session_part(r[k], 1);
    }
    session_part(r[2], 0); /* as it needs */
    session_part(r[2], 1);
    for (int k = 0; k < 3; k++) {
        assert_int_equal(tb__idres_write(r[k], db[k], "20261121", 1), 0);
        assert_int_equal(tb__meta_commit(db[k]), 0);
        tb__idres_free(r[k]);
    }
    char *want = dump_master(db[2]);
    assert_true(strlen(want) > 1000);
    for (int k = 0; k < 2; k++) {
        char *got = dump_master(db[k]);
        assert_string_equal(got, want);
        free(got);
    }
    free(want);
    for (int k = 0; k < 3; k++)
        tb_db_close(db[k]);
}

/* Look-ups in a batch (tb__idres_lookup_many) answer as one at a time does: across more keys than
 * a group, with keys that repeat, are unknown, are cut from a longer buffer, of a party merged
 * into another, of an unknown system, and none at all. */
static void lookup_many_agrees(void **state)
{
    enum { N = 1500 };
    tb_db *db = open_db(*state);
    tb__idres *r;
    assert_int_equal(tb__idres_open(db, &r), 0);
    char key[N][16], card[N][16], id[24];
    for (int i = 0; i < N; i++) {
        snprintf(key[i], sizeof key[i], "8%011d", i);
        snprintf(card[i], sizeof card[i], "C%012d", i);
        /* a valid resident ID is not needed here: the resolver matches certificates as text */
        snprintf(id, sizeof id, "1101051990%08d", i);
        tb__party_obs o = person("core", key[i], id, "某", "13800001111", 19000);
        assert_int_equal(tb__idres_observe(r, &o, NULL, NULL), 0);
        if (i % 3 == 0) {
            tb__party_obs c = person("card", card[i], id, "某", "13800001111", 19000);
            assert_int_equal(tb__idres_observe(r, &c, NULL, NULL), 0);
        }
    }
    uint32_t into, from;
    assert_int_equal(tb__idres_lookup(r, "core", key[7], &into), 0);
    assert_int_equal(tb__idres_lookup(r, "core", key[9], &from), 0);
    commit(r, db, "20261121", 1);
    tb__idres_free(r);
    int64_t mid;
    assert_int_equal(tb__customer_merge(db, into, from, "steward", "same person", &mid), 0);
    assert_int_equal(tb__idres_open(db, &r), 0);

    static const char *want[2 * N + 8];
    static size_t len[2 * N + 8];
    static uint32_t got[2 * N + 8];
    const char *systems[] = {"core", "card", "nobody"};
    for (int s = 0; s < 3; s++) {
        size_t n = 0;
        for (int i = 0; i < N; i++) {
            const char *k = s == 1 ? card[i] : key[i];
            want[n] = k;
            len[n++] = strlen(k);
            if (i % 5 == 0) { /* the same again, as a customer's next row */
                want[n] = k;
                len[n++] = strlen(k);
            }
            if (i % 7 == 0) { /* a prefix of a known key, from a longer buffer */
                want[n] = k;
                len[n++] = strlen(k) - 1;
            }
        }
        want[n] = "nobody-at-all";
        len[n++] = 13;
        tb__idres_lookup_many(r, systems[s], want, len, n, got);
        size_t known = 0;
        for (size_t i = 0; i < n; i++) {
            uint32_t one;
            int rc = tb__idres_lookup_len(r, systems[s], want[i], len[i], &one);
            assert_true(rc == 0 || rc == TB_ENOENT);
            assert_int_equal(got[i], rc == 0 ? one : TB__GID_NONE);
            known += rc == 0;
        }
        /* every full key of a known system is known; every third customer has a card */
        assert_int_equal(known, s == 0   ? N + (N + 4) / 5
                                : s == 1 ? (N + 2) / 3 + (N + 14) / 15
                                         : 0);
    }
    /* the merged party's key leads to the one it was merged into */
    want[0] = key[9];
    len[0] = strlen(key[9]);
    tb__idres_lookup_many(r, "core", want, len, 1, got);
    assert_int_equal(got[0], into);
    got[0] = 12345;
    tb__idres_lookup_many(r, "core", want, len, 0, got);
    assert_int_equal(got[0], 12345); /* nothing asked, nothing written */
    tb__idres_free(r);
    tb_db_close(db);
}

/* The optional name + mobile rule links a row without a cert; off by default. */
static void name_mobile_rule(void **state)
{
    tb_db *db = open_db(*state);
    tb__idres *r;
    assert_int_equal(tb__idres_open(db, &r), 0);
    uint32_t a =
        observe(r, person("core", "801", ID_A, "张三", "13800000001", 19000), TB__MATCHED_NEW);
    assert_int_not_equal(
        observe(r, person("crm", "X1", NULL, "张三", "13800000001", 19000), TB__MATCHED_NEW), a);
    tb__idres_set_match(r, TB__MATCH_NAME_MOBILE);
    assert_int_equal(
        observe(r, person("crm", "X2", NULL, "张三", "13800000001", 19000), TB__MATCHED_RULE), a);
    tb__idres_free(r);
    tb_db_close(db);
}

static int has(const tb__candidate *c, size_t n, uint32_t gid, const char *reason)
{
    for (size_t i = 0; i < n; i++)
        if (c[i].gid == gid && strstr(c[i].reasons, reason)) return 1;
    return 0;
}

/* Every prepared SELECT of `db` with a WHERE clause is a search, never a scan of a whole table or
 * index of master data: at ten million customers a scan costs seconds per search. */
static void assert_searches_only(tb_db *db)
{
    sqlite3 *sql = tb__db_sqlite(db);
    int checked = 0;
    for (sqlite3_stmt *st = sqlite3_next_stmt(sql, NULL); st; st = sqlite3_next_stmt(sql, st)) {
        const char *text = sqlite3_sql(st);
        if (strncmp(text, "SELECT", 6) != 0 && strncmp(text, "WITH", 4) != 0) continue;
        if (!strstr(text, "WHERE") || !strstr(text, "party")) continue;
        char *plan_sql = sqlite3_mprintf("EXPLAIN QUERY PLAN %s", text);
        sqlite3_stmt *plan;
        assert_int_equal(sqlite3_prepare_v2(sql, plan_sql, -1, &plan, NULL), SQLITE_OK);
        while (sqlite3_step(plan) == SQLITE_ROW) {
            const char *detail = (const char *)sqlite3_column_text(plan, 3);
            if (strncmp(detail, "SCAN ", 5) == 0 && strncmp(detail, "SCAN sys", 8) != 0)
                fail_msg("'%s' scans: %s", text, detail);
        }
        sqlite3_finalize(plan);
        sqlite3_free(plan_sql);
        checked++;
    }
    assert_true(checked > 0);
}

/* A customer number is a key per source system: the same number in three systems is found in
 * each (the systems are walked along the primary key, with no index on the key alone), and
 * resolving it prefers the core system's party. */
static void find_key_in_any_system(void **state)
{
    tb_db *db = open_db(*state);
    tb__idres *r;
    assert_int_equal(tb__idres_open(db, &r), 0);
    uint32_t a = observe(r, person("wealth", "800000000001", NULL, "李四", "13900002222", 19000),
                         TB__MATCHED_NEW);
    uint32_t b = observe(r, person("core", "800000000001", ID_A, "张三", "13800001111", 19000),
                         TB__MATCHED_NEW);
    uint32_t c = observe(r, person("card", "800000000001", ID_B, "王五", "13700003333", 19000),
                         TB__MATCHED_NEW);
    commit(r, db, "20261121", 1);
    tb__idres_free(r);

    tb__candidate *f;
    size_t n;
    assert_int_equal(tb__customer_find(db, "800000000001", 0, &f, &n), 0);
    assert_int_equal(n, 3);
    assert_true(has(f, n, a, "same customer number") && has(f, n, b, "same customer number") &&
                has(f, n, c, "same customer number"));
    tb__customer_candidates_free(f);
    uint32_t g;
    assert_int_equal(tb__customer_resolve(db, "800000000001", &g), 0);
    assert_int_equal(g, b);
    assert_int_equal(tb__customer_find(db, "800000000002", 0, &f, &n), 0);
    assert_int_equal(n, 0);
    tb__customer_candidates_free(f);
    assert_int_equal(tb__customer_resolve_any(db, ID_B, &g), 0);
    assert_int_equal(g, c);
    assert_int_equal(tb__customer_resolve_any(db, "13900002222", &g), 0);
    assert_int_equal(g, a);
    assert_searches_only(db);
    tb_db_close(db);
}

/* The keys of a golden record, as the view lists them: "system:key" joined by spaces. */
static void keys_text(tb_db *db, uint32_t gid, char *out, size_t cap)
{
    tb__md_key *k;
    size_t n;
    assert_int_equal(tb__md_keys_of(db, gid, &k, &n), 0);
    out[0] = '\0';
    for (size_t i = 0; i < n; i++)
        snprintf(out + strlen(out), cap - strlen(out), "%s%s:%s", i ? " " : "", k[i].system,
                 k[i].key);
    tb__md_keys_free(k, n);
}

static size_t find_count(tb_db *db, const char *q, uint32_t gid, const char *reason)
{
    tb__candidate *c;
    size_t n;
    assert_int_equal(tb__customer_find(db, q, 0, &c, &n), 0);
    size_t hit = has(c, n, gid, reason);
    tb__customer_candidates_free(c);
    return hit;
}

/* The look-up image (store/mdx.h) answers for the store as it is now: keys moved by merges and
 * unmerges since the image was written (chained: b into a, then a into c), an erased name no longer
 * found; and a store whose image is gone (row dropped, file deleted) gets it rebuilt on first use,
 * written when the handle may write, in memory on a read-only handle. */
static void image_follows_changes(void **state)
{
    tb_db *db = open_db(*state);
    tb__idres *r;
    assert_int_equal(tb__idres_open(db, &r), 0);
    uint32_t a = observe(r, person("core", "800000000001", ID_A, "张三", "13800001111", 19000),
                         TB__MATCHED_NEW);
    uint32_t b =
        observe(r, person("card", "C7", ID_B, "李四", "13900002222", 19000), TB__MATCHED_NEW);
    observe(r, person("loan", "L7", ID_B, "李四", "13900002222", 19000), TB__MATCHED_CERT);
    uint32_t c = observe(r, person("core", "800000000003", NULL, "王五", "13700003333", 19000),
                         TB__MATCHED_NEW);
    commit(r, db, "20261121", 1);
    tb__idres_free(r);
    assert_int_equal(count(db, "SELECT count(*) FROM md_image"), 1);
    char t[256];
    keys_text(db, b, t, sizeof t);
    assert_string_equal(t, "card:C7 loan:L7");

    int64_t mid;
    assert_int_equal(tb__customer_merge(db, a, b, "steward", "same", &mid), 0);
    keys_text(db, a, t, sizeof t);
    assert_string_equal(t, "core:800000000001 card:C7 loan:L7");
    keys_text(db, b, t, sizeof t);
    assert_string_equal(t, "");
    assert_int_equal(tb__customer_merge(db, c, a, "steward", "same", &mid), 0);
    keys_text(db, c, t, sizeof t);
    assert_string_equal(t, "core:800000000001 core:800000000003 card:C7 loan:L7");
    char key[64];
    assert_int_equal(tb__customer_key_of(db, c, key, sizeof key), 0);
    assert_string_equal(key, "800000000001");
    assert_int_equal(tb__customer_unmerge(db, a, "steward"), 0);
    keys_text(db, a, t, sizeof t);
    assert_string_equal(t, "core:800000000001 card:C7 loan:L7");
    keys_text(db, c, t, sizeof t);
    assert_string_equal(t, "core:800000000003");
    assert_int_equal(tb__customer_unmerge(db, b, "steward"), 0);
    keys_text(db, b, t, sizeof t);
    assert_string_equal(t, "card:C7 loan:L7");
    /* a row changed behind the image: the candidate is checked, not trusted */
    assert_int_equal(sqlite3_exec(tb__db_sqlite(db),
                                  "UPDATE party SET name = NULL, erased_at = 'x' WHERE gid = 2",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    assert_int_equal(find_count(db, "王五", c, "same name"), 0);
    int used;
    assert_int_equal(tb__md_name_in_use(db, "王五", &used), 0);
    assert_int_equal(used, 0);
    assert_int_equal(tb__md_name_in_use(db, "张三", &used), 0);
    assert_int_equal(used, 1);

    /* no image recorded: rebuilt from the rows and recorded */
    assert_int_equal(sqlite3_exec(tb__db_sqlite(db), "DELETE FROM md_image", NULL, NULL, NULL),
                     SQLITE_OK);
    assert_int_equal(find_count(db, ID_B, b, "same ID number"), 1);
    assert_int_equal(count(db, "SELECT count(*) FROM md_image"), 1);
    keys_text(db, b, t, sizeof t);
    assert_string_equal(t, "card:C7 loan:L7");
    /* the recorded file deleted: rebuilt again */
    sqlite3_stmt *st;
    assert_int_equal(
        sqlite3_prepare_v2(tb__db_sqlite(db), "SELECT file FROM md_image", -1, &st, NULL),
        SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    char *file = tbt_join(*state, (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    tb_db_close(db);
    assert_int_equal(unlink(file), 0);
    db = open_db(*state);
    assert_int_equal(find_count(db, "13800001111", a, "same mobile"), 1);
    assert_int_equal(find_count(db, "张", a, "name starts with"), 1);
    assert_int_equal(count(db, "SELECT count(*) FROM md_image"), 1);
    /* a read-only handle whose recorded file is missing builds one in memory, once */
    assert_int_equal(
        sqlite3_prepare_v2(tb__db_sqlite(db), "SELECT file FROM md_image", -1, &st, NULL),
        SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    char *file2 = tbt_join(*state, (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    tb_db_close(db);
    assert_int_equal(unlink(file2), 0);
    free(file2);
    char err0[256];
    assert_int_equal(tb_db_open(*state, TB_OPEN_READONLY, &db, err0, sizeof err0), 0);
    assert_int_equal(find_count(db, ID_A, a, "same ID number"), 1);
    uint32_t g1;
    assert_int_equal(tb__customer_resolve_any(db, "13800001111", &g1), 0);
    assert_int_equal(g1, a);
    keys_text(db, b, t, sizeof t);
    assert_string_equal(t, "card:C7 loan:L7");
    tb_db_close(db);
    db = open_db(*state);
    /* a read-only handle without a recorded image builds one in memory and records nothing */
    assert_int_equal(sqlite3_exec(tb__db_sqlite(db), "DELETE FROM md_image", NULL, NULL, NULL),
                     SQLITE_OK);
    tb_db_close(db);
    char err[256];
    assert_int_equal(tb_db_open(*state, TB_OPEN_READONLY, &db, err, sizeof err), 0);
    assert_int_equal(find_count(db, ID_A, a, "same ID number"), 1);
    assert_int_equal(find_count(db, ID_A, a, "same ID number"), 1); /* kept in memory */
    assert_int_equal(count(db, "SELECT count(*) FROM md_image"), 0);
    tb_db_close(db);
    free(file);
}

/* More records share a name than a look-up checks at once (256), and the first ones by gid are
 * stale: the live ones are still found, by name and as "in use". */
static void many_share_a_name(void **state)
{
    tb_db *db = open_db(*state);
    tb__idres *r;
    assert_int_equal(tb__idres_open(db, &r), 0);
    char key[32];
    for (int i = 0; i < 300; i++) {
        snprintf(key, sizeof key, "8000000%05d", i);
        observe(r, person("core", key, NULL, "赵六", NULL, 19000), TB__MATCHED_NEW);
    }
    commit(r, db, "20261121", 1);
    tb__idres_free(r);
    /* the first 290 erased behind the image's back */
    assert_int_equal(sqlite3_exec(tb__db_sqlite(db),
                                  "UPDATE party SET name = NULL, erased_at = 'x' WHERE gid < 290",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    tb__candidate *c;
    size_t n;
    assert_int_equal(tb__customer_find(db, "赵六", 0, &c, &n), 0);
    assert_int_equal(n, 10);
    for (size_t i = 0; i < n; i++)
        assert_true(c[i].gid >= 290 && strstr(c[i].reasons, "same name"));
    tb__customer_candidates_free(c);
    int used;
    assert_int_equal(tb__md_name_in_use(db, "赵六", &used), 0);
    assert_int_equal(used, 1);
    tb_db_close(db);
}

/* A store from before migration 12 (its look-up indexes, no md_image) loses the indexes and gets
 * its look-up image when a writer opens it. */
static void migrated_store_gets_image(void **state)
{
    tb_db *db = open_db(*state);
    tb__idres *r;
    assert_int_equal(tb__idres_open(db, &r), 0);
    uint32_t a = observe(r, person("core", "800000000001", ID_A, "张三", "13800001111", 19000),
                         TB__MATCHED_NEW);
    commit(r, db, "20261121", 1);
    tb__idres_free(r);
    assert_int_equal(
        sqlite3_exec(tb__db_sqlite(db),
                     "DROP TABLE md_image;"
                     "DROP INDEX merge_log_by_into;"
                     "CREATE UNIQUE INDEX party_by_cert ON party (kind, cert_no) WHERE cert_no IS "
                     "NOT NULL;"
                     "CREATE INDEX party_by_name ON party (name);"
                     "CREATE INDEX party_by_mobile ON party (mobile);"
                     "CREATE INDEX party_key_by_gid ON party_key (gid);"
                     "PRAGMA user_version = 11;",
                     NULL, NULL, NULL),
        SQLITE_OK);
    tb_db_close(db);
    db = open_db(*state);
    assert_int_equal(count(db, "SELECT count(*) FROM sqlite_master WHERE name IN "
                               "('party_by_cert', 'party_by_name', 'party_by_mobile', "
                               "'party_key_by_gid')"),
                     0);
    assert_int_equal(count(db, "SELECT count(*) FROM md_image"), 1);
    assert_int_equal(find_count(db, ID_A, a, "same ID number"), 1);
    tb_db_close(db);
}

/* Find by each kind of query with reasons; merge and unmerge round trip with the audit log. */
static void find_merge_unmerge(void **state)
{
    tb_db *db = open_db(*state);
    tb__idres *r;
    assert_int_equal(tb__idres_open(db, &r), 0);
    uint32_t a = observe(r, person("core", "800000000001", ID_A, "张三", "13800001111", 19000),
                         TB__MATCHED_NEW);
    uint32_t b = observe(r, person("card", "C000000000007", ID_B, "张三丰", "13800001111", 19000),
                         TB__MATCHED_NEW);
    observe(r, person("card", "C000000000008", ID_B, "张三丰", "13800001111", 19000),
            TB__MATCHED_CERT);
    tb__party_obs co = {.system = "core",
                        .key = "800000000009",
                        .kind = TB__PARTY_COMPANY,
                        .cert_no = USCC,
                        .cust_type = "2",
                        .as_of = 19000};
    co.attr[TB__F_NAME] = "福建某某科技有限公司";
    uint32_t e = observe(r, co, TB__MATCHED_NEW);
    commit(r, db, "20261121", 1);
    tb__idres_free(r);

    tb__candidate *c;
    size_t n;
    assert_int_equal(tb__customer_find(db, ID_A, 0, &c, &n), 0);
    assert_int_equal(n, 1);
    assert_true(has(c, n, a, "same ID number"));
    assert_string_equal(c[0].cert, "110105********002X");
    assert_string_equal(c[0].name, "张*");
    assert_string_equal(c[0].mobile, "138****1111");
    tb__customer_candidates_free(c);
    assert_int_equal(tb__customer_find(db, "13800001111", 0, &c, &n), 0);
    assert_int_equal(n, 2);
    assert_true(has(c, n, a, "same mobile") && has(c, n, b, "same mobile"));
    tb__customer_candidates_free(c);
    assert_int_equal(tb__customer_find(db, "张三", 0, &c, &n), 0);
    assert_int_equal(n, 2);
    assert_int_equal(c[0].gid, a); /* exact name ranks above a prefix */
    assert_true(has(c, n, a, "same name") && has(c, n, b, "name starts with"));
    tb__customer_candidates_free(c);
    assert_int_equal(tb__customer_find(db, USCC, 0, &c, &n), 0);
    assert_true(n == 1 && has(c, n, e, "same credit code"));
    tb__customer_candidates_free(c);
    assert_int_equal(tb__customer_find(db, "C000000000008", 0, &c, &n), 0);
    assert_true(n == 1 && has(c, n, b, "same customer number"));
    tb__customer_candidates_free(c);
    assert_int_equal(tb__customer_find(db, "nobody", 0, &c, &n), 0);
    assert_int_equal(n, 0);
    tb__customer_candidates_free(c);

    /* merge b into a: b's keys move, the search finds a, the log says who */
    int64_t mid;
    assert_int_equal(tb__customer_merge(db, a, e, "steward", "x", &mid), TB_EINVAL); /* kinds */
    assert_int_equal(tb__customer_merge(db, a, a, "steward", "x", &mid), TB_EINVAL);
    assert_int_equal(tb__customer_merge(db, a, b, "steward", "same person, new ID", &mid), 0);
    assert_int_equal(tb__customer_merge(db, a, b, "steward", "again", &mid), TB_EEXIST);
    assert_int_equal(count(db, "SELECT count(*) FROM party_key WHERE gid = 0"), 3);
    assert_int_equal(count(db, "SELECT count(*) FROM party WHERE merged_into = 0"), 1);
    assert_int_equal(count(db, "SELECT count(*) FROM merge_log WHERE action = 'merge' AND "
                               "who = 'steward' AND gid_from = 1"),
                     1);
    assert_int_equal(tb__customer_find(db, "C000000000008", 0, &c, &n), 0);
    assert_true(n == 1 && c[0].gid == a);
    tb__customer_candidates_free(c);
    uint32_t g;
    assert_int_equal(tb__customer_resolve(db, "C000000000007", &g), 0);
    assert_int_equal(g, a);
    /* a resolver opened now sees the merge: b's keys and cert lead to a */
    assert_int_equal(tb__idres_open(db, &r), 0);
    assert_int_equal(tb__idres_live(r), 2);
    assert_int_equal(tb__idres_count(r), 3);
    assert_int_equal(tb__idres_lookup_cert(r, TB__PARTY_PERSON, ID_B, &g), 0);
    assert_int_equal(g, a);
    tb__idres_free(r);
    json_t *doc;
    assert_int_equal(tb__customer_view(db, b, &doc), 0);
    assert_int_equal(json_integer_value(json_object_get(doc, "merged_into")), a);
    json_decref(doc);

    assert_int_equal(tb__customer_unmerge(db, a, "steward"), TB_ENOENT);
    assert_int_equal(tb__customer_unmerge(db, b, "auditor"), 0);
    assert_int_equal(count(db, "SELECT count(*) FROM party_key WHERE gid = 1"), 2);
    assert_int_equal(count(db, "SELECT count(*) FROM party_key WHERE gid = 0"), 1);
    assert_int_equal(count(db, "SELECT count(*) FROM party WHERE merged_into IS NOT NULL"), 0);
    assert_int_equal(count(db, "SELECT count(*) FROM merge_log WHERE action = 'unmerge' AND "
                               "who = 'auditor'"),
                     1);
    assert_int_equal(count(db, "SELECT count(*) FROM merge_log WHERE undone_by IS NOT NULL"), 1);

    /* the view is masked */
    assert_int_equal(tb__customer_view(db, a, &doc), 0);
    char *text = json_dumps(doc, 0);
    assert_non_null(text);
    assert_null(strstr(text, ID_A));
    assert_null(strstr(text, "13800001111"));
    assert_non_null(strstr(text, "138****1111"));
    free(text);
    json_decref(doc);
    tb_db_close(db);
}

/* --- truth test: a generated bank resolved against truth.txt --- */

static int32_t days_of(const tb__field *f)
{
    if (f->is_null || f->len != 10) return 0;
    struct tm tm = {0};
    tm.tm_year = atoi(f->ptr) - 1900;
    tm.tm_mon = atoi(f->ptr + 5) - 1;
    tm.tm_mday = atoi(f->ptr + 8);
    return (int32_t)(timegm(&tm) / 86400);
}

/* Copies a field into a NUL-terminated buffer; NULL for a NULL field. */
static const char *cpy(const tb__field *f, char *buf, size_t cap)
{
    if (f->is_null || f->len >= cap) return NULL;
    memcpy(buf, f->ptr, f->len);
    buf[f->len] = '\0';
    return buf;
}

struct pair {
    char entity[16];
    uint32_t gid;
};

static int by_entity(const void *a, const void *b)
{
    return strcmp(((const struct pair *)a)->entity, ((const struct pair *)b)->entity);
}

static int by_gid(const void *a, const void *b)
{
    const struct pair *x = a, *y = b;
    return x->gid < y->gid ? -1 : x->gid > y->gid;
}

static void load_file(tb__idres *r, const char *dir, const char *name, int card)
{
    char *path = tbt_join(dir, name);
    tb__reader *rd;
    assert_int_equal(tb__reader_open_file(path, NULL, &rd, NULL, 0), 0);
    free(path);
    tb__record rec;
    int rc;
    char b[TB__F_COUNT + 6][256];
    while ((rc = tb__reader_next(rd, &rec)) == 1) {
        const tb__field *f = rec.fields;
        tb__party_obs o = {0};
        if (!card) {
            assert_int_equal(rec.nfields, 19);
            o.system = "core";
            o.key = cpy(&f[0], b[0], 256);
            o.cust_type = cpy(&f[1], b[1], 256);
            o.kind = f[3].len == 3 && memcmp(f[3].ptr, "101", 3) == 0 ? TB__PARTY_PERSON
                                                                      : TB__PARTY_COMPANY;
            o.cert_type = cpy(&f[3], b[2], 256);
            o.cert_no = cpy(&f[4], b[3], 256);
            o.as_of = days_of(&f[16]);
            static const int map[][2] = {
                {2, TB__F_NAME},        {5, TB__F_GENDER},      {6, TB__F_BIRTH_DATE},
                {7, TB__F_MOBILE},      {8, TB__F_PROVINCE},    {9, TB__F_CITY},
                {10, TB__F_ADDRESS},    {11, TB__F_OCCUPATION}, {12, TB__F_INDUSTRY},
                {13, TB__F_RISK_LEVEL}, {14, TB__F_ORG},        {15, TB__F_MANAGER}};
            for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
                o.attr[map[i][1]] = cpy(&f[map[i][0]], b[4 + i], 256);
        } else {
            o.system = "card";
            o.key = cpy(&f[1], b[0], 256);
            o.kind = TB__PARTY_PERSON;
            o.cert_type = cpy(&f[2], b[1], 256);
            o.cert_no = cpy(&f[3], b[2], 256);
            o.attr[TB__F_NAME] = cpy(&f[4], b[3], 256);
            o.attr[TB__F_MOBILE] = cpy(&f[5], b[4], 256);
            o.as_of = days_of(&f[10]);
        }
        uint32_t gid;
        assert_int_equal(tb__idres_observe(r, &o, &gid, NULL), 0);
    }
    assert_int_equal(rc, 0);
    tb__reader_close(rd);
}

static void truth(void **state)
{
    char *bank = tbt_join(*state, "bank"), *data = tbt_join(*state, "data");
    tb_gen_opts go = {.customers = 3000, .seed = 11, .batch_date = 20261121, .out_dir = bank};
    tb_gen *gen;
    assert_int_equal(tb_gen_create(&go, &gen, NULL, 0), 0);
    assert_int_equal(tb_gen_run(gen), 0);
    tb_gen_free(gen);
    tb_db *db = open_db(data);
    tb__idres *r;
    assert_int_equal(tb__idres_open(db, &r), 0);
    load_file(r, bank, "customers.txt", 0);
    load_file(r, bank, "cards.txt", 1);

    char *mpath = tbt_join(bank, "manifest.json");
    json_t *man = json_load_file(mpath, 0, NULL);
    free(mpath);
    assert_non_null(man);
    json_t *t = json_object_get(man, "truth");
    int64_t persons = json_integer_value(json_object_get(t, "persons"));
    int64_t companies = json_integer_value(json_object_get(t, "companies"));
    json_decref(man);
    assert_true(persons > 2000 && companies > 100);
    assert_int_equal(tb__idres_live(r), persons + companies);

    /* every core/card key maps to the gid of its true entity, and only that entity's */
    char *tpath = tbt_join(bank, "truth.txt");
    tb__reader *rd;
    assert_int_equal(tb__reader_open_file(tpath, NULL, &rd, NULL, 0), 0);
    free(tpath);
    size_t np = 0, cap = 16384;
    struct pair *p = malloc(cap * sizeof *p);
    assert_non_null(p);
    tb__record rec;
    char sys[16], key[64];
    while (tb__reader_next(rd, &rec) == 1) {
        const char *s = cpy(&rec.fields[0], sys, sizeof sys);
        const char *system = strcmp(s, "CORE") == 0   ? "core"
                             : strcmp(s, "CARD") == 0 ? "card"
                                                      : NULL;
        if (!system) continue;
        if (np == cap) {
            p = realloc(p, (cap *= 2) * sizeof *p);
            assert_non_null(p);
        }
        assert_int_equal(
            tb__idres_lookup(r, system, cpy(&rec.fields[1], key, sizeof key), &p[np].gid), 0);
        assert_non_null(cpy(&rec.fields[3], p[np].entity, sizeof p[np].entity));
        np++;
    }
    tb__reader_close(rd);
    assert_true(np > 3000);
    qsort(p, np, sizeof *p, by_entity);
    for (size_t i = 1; i < np; i++)
        if (strcmp(p[i].entity, p[i - 1].entity) == 0) assert_int_equal(p[i].gid, p[i - 1].gid);
    qsort(p, np, sizeof *p, by_gid);
    for (size_t i = 1; i < np; i++)
        if (p[i].gid == p[i - 1].gid) assert_string_equal(p[i].entity, p[i - 1].entity);
    free(p);

    /* persisting (as a bulk load: indexes dropped and rebuilt) and reopening keeps every gid,
     * and leaves the schema exactly as migration 3 made it */
    char *schema_before = index_sql(db);
    tb__idres_set_bulk_min(r, 1000);
    commit(r, db, "20261121", 1);
    char *schema_after = index_sql(db);
    assert_string_equal(schema_after, schema_before);
    free(schema_before);
    free(schema_after);
    assert_int_equal(count(db, "SELECT count(*) FROM party"), tb__idres_count(r));
    uint32_t n = tb__idres_count(r);
    tb__idres_free(r);
    assert_int_equal(tb__idres_open(db, &r), 0);
    assert_int_equal(tb__idres_count(r), n);
    uint32_t before = tb__idres_count(r);
    load_file(r, bank, "customers.txt", 0);
    assert_int_equal(tb__idres_count(r), before); /* nothing new on a reload */
    tb__idres_free(r);
    tb_db_close(db);
    free(bank);
    free(data);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(match_and_stable, tbt_setup_tmpdir, tbt_teardown_tmpdir),
        cmocka_unit_test_setup_teardown(attrs_formats, tbt_setup_tmpdir, tbt_teardown_tmpdir),
        cmocka_unit_test_setup_teardown(lengths_given, tbt_setup_tmpdir, tbt_teardown_tmpdir),
        cmocka_unit_test_setup_teardown(survivorship, tbt_setup_tmpdir, tbt_teardown_tmpdir),
        cmocka_unit_test_setup_teardown(name_mobile_rule, tbt_setup_tmpdir, tbt_teardown_tmpdir),
        cmocka_unit_test_setup_teardown(find_merge_unmerge, tbt_setup_tmpdir, tbt_teardown_tmpdir),
        cmocka_unit_test_setup_teardown(image_follows_changes, tbt_setup_tmpdir,
                                        tbt_teardown_tmpdir),
        cmocka_unit_test_setup_teardown(migrated_store_gets_image, tbt_setup_tmpdir,
                                        tbt_teardown_tmpdir),
        cmocka_unit_test_setup_teardown(many_share_a_name, tbt_setup_tmpdir, tbt_teardown_tmpdir),
        cmocka_unit_test_setup_teardown(find_key_in_any_system, tbt_setup_tmpdir,
                                        tbt_teardown_tmpdir),
        cmocka_unit_test_setup_teardown(truth, tbt_setup_tmpdir, tbt_teardown_tmpdir),
        cmocka_unit_test_setup_teardown(write_in_two_parts, tbt_setup_tmpdir, tbt_teardown_tmpdir),
        cmocka_unit_test_setup_teardown(grow_in_steps, tbt_setup_tmpdir, tbt_teardown_tmpdir),
        cmocka_unit_test_setup_teardown(lookup_many_agrees, tbt_setup_tmpdir, tbt_teardown_tmpdir),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
