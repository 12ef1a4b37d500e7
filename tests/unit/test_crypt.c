/* test_crypt.c — tests src/store/crypt.c (sealing, blind indexes, the key file, the keys a data
 * directory records) and the encrypted master data of src/pipeline/identity*.c: round trips,
 * a wrong key id, tampered ciphertext, a value moved to another column, key-file permissions and
 * format, a key file inside the data directory, a wrong or missing key file refused at open, and
 * identity resolution, search, the view and rotation on an encrypted store. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>
#include <jansson.h>
#include <sodium.h>

#include "helpers.h"
#include "pipeline/identity.h"
#include "store/crypt.h"
#include "store/meta.h"

static tb__c2key key_of(uint32_t id, unsigned char fill)
{
    unsigned char m[TB__C2_KEYBYTES];
    memset(m, fill, sizeof m);
    tb__c2key k;
    tb__c2key_derive(&k, id, m);
    return k;
}

/* A keyring holding one fresh key, *id, from a key file in the scratch directory. */
static tb__keyring *ring_with(const char *dir, uint32_t *id)
{
    char *path = tbt_join(dir, "ring.key");
    tb__keyring *r = tbt_key_file(path, id);
    free(path);
    return r;
}

static void seal_round_trip(void **state)
{
    uint32_t id;
    tb__keyring *ring = ring_with(*state, &id);
    const tb__c2key *k = tb__keyring_get(ring, id);
    assert_non_null(k);
    tb__buf s = TB__BUF_INIT, p = TB__BUF_INIT, s2 = TB__BUF_INIT;
    tb__errbuf eb;
    const char *v = "张三丰 320106194512200193";
    assert_int_equal(tb__c2_seal_with(k, TB__C2_AD_ATTRS, v, strlen(v), &s), 0);
    assert_int_equal(s.data[0], '$');
    assert_null(strstr(s.data, "320106")); /* nothing in clear */
    assert_int_equal(tb__c2_open_with(ring, NULL, TB__C2_AD_ATTRS, s.data, &p, &eb), 0);
    assert_string_equal(p.data, v);
    /* a random nonce: the same value seals differently every time */
    assert_int_equal(tb__c2_seal_with(k, TB__C2_AD_ATTRS, v, strlen(v), &s2), 0);
    assert_string_not_equal(s.data, s2.data);
    /* the empty value round-trips too */
    assert_int_equal(tb__c2_seal_with(k, TB__C2_AD_CERT, "", 0, &s2), 0);
    assert_int_equal(tb__c2_open_with(ring, NULL, TB__C2_AD_CERT, s2.data, &p, &eb), 0);
    assert_string_equal(p.data, "");
    /* long values (past the stack buffers) */
    char big[5000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    assert_int_equal(tb__c2_seal_with(k, TB__C2_AD_HISTORY, big, strlen(big), &s2), 0);
    assert_int_equal(tb__c2_open_with(ring, NULL, TB__C2_AD_HISTORY, s2.data, &p, &eb), 0);
    assert_string_equal(p.data, big);
    tb__buf_release(&s);
    tb__buf_release(&s2);
    tb__buf_release(&p);
    tb__keyring_free(ring);
}

static void seal_refusals(void **state)
{
    uint32_t id;
    tb__keyring *ring = ring_with(*state, &id);
    const tb__c2key *k = tb__keyring_get(ring, id);
    tb__buf s = TB__BUF_INIT, p = TB__BUF_INIT;
    tb__errbuf eb;
    const char *v = "13812345678";
    assert_int_equal(tb__c2_seal_with(k, TB__C2_AD_CERT, v, strlen(v), &s), 0);
    /* swapped column: the associated data differs */
    assert_int_equal(tb__c2_open_with(ring, NULL, TB__C2_AD_ATTRS, s.data, &p, &eb), TB_ECORRUPT);
    assert_null(strstr(eb.msg, v));
    /* tampered ciphertext: flip one base64 character in the middle */
    char *t = strdup(s.data);
    size_t mid = strlen(t) / 2;
    t[mid] = t[mid] == 'A' ? 'B' : 'A';
    assert_int_equal(tb__c2_open_with(ring, NULL, TB__C2_AD_CERT, t, &p, &eb), TB_ECORRUPT);
    /* truncated */
    t[6] = '\0';
    assert_int_equal(tb__c2_open_with(ring, NULL, TB__C2_AD_CERT, t, &p, &eb), TB_ECORRUPT);
    free(t);
    /* a key id the ring does not hold */
    tb__c2key other = key_of(7, 0x42);
    tb__buf s7 = TB__BUF_INIT;
    assert_int_equal(tb__c2_seal_with(&other, TB__C2_AD_CERT, v, strlen(v), &s7), 0);
    assert_int_equal(tb__c2_open_with(ring, NULL, TB__C2_AD_CERT, s7.data, &p, &eb), TB_ENOENT);
    /* the right id with the wrong bytes (another key file's key 1) */
    tb__c2key wrong = key_of(id, 0x43);
    tb__buf sw = TB__BUF_INIT;
    assert_int_equal(tb__c2_seal_with(&wrong, TB__C2_AD_CERT, v, strlen(v), &sw), 0);
    assert_int_equal(tb__c2_open_with(ring, NULL, TB__C2_AD_CERT, sw.data, &p, &eb), TB_ECORRUPT);
    /* not a sealed value at all */
    assert_int_equal(tb__c2_open_with(ring, NULL, TB__C2_AD_CERT, v, &p, &eb), TB_ECORRUPT);
    assert_int_equal(tb__c2_open_with(ring, NULL, TB__C2_AD_CERT, "$x$AAAA", &p, &eb), TB_ECORRUPT);
    tb__buf_release(&s);
    tb__buf_release(&s7);
    tb__buf_release(&sw);
    tb__buf_release(&p);
    tb__keyring_free(ring);
}

static void blind_index(void **state)
{
    (void)state;
    tb__c2key a = key_of(1, 1), b = key_of(2, 2);
    char x[TB__C2_BLIND_LEN], y[TB__C2_BLIND_LEN], z[TB__C2_BLIND_LEN], w[TB__C2_BLIND_LEN];
    tb__c2_blind_with(&a, TB__C2_AD_MOBILE, "13812345678", 11, x);
    tb__c2_blind_with(&a, TB__C2_AD_MOBILE, "13812345678", 11, y);
    tb__c2_blind_with(&a, TB__C2_AD_NAME, "13812345678", 11, z);
    tb__c2_blind_with(&b, TB__C2_AD_MOBILE, "13812345678", 11, w);
    assert_string_equal(x, y);     /* deterministic: equality look-ups work */
    assert_string_not_equal(x, z); /* per column */
    assert_string_not_equal(x, w); /* per key */
    assert_int_equal(x[0], '#');
    assert_int_equal(strlen(x), TB__C2_BLIND_LEN - 1);
}

static void write_file(const char *path, const char *text, mode_t mode)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    chmod(path, mode);
}

static void key_file(void **state)
{
    const char *dir = *state;
    char *path = tbt_join(dir, "tb.key");
    tb__errbuf eb;
    tb__keyring *k;
    uint32_t id1, id2;
    assert_int_equal(tb__keyring_load(path, &k, &eb), TB_ENOENT);
    assert_int_equal(tb__keyring_new(path, &k, &eb), 0);
    assert_int_equal(tb__keyring_add(k, &id1, &eb), 0);
    assert_int_equal(tb__keyring_add(k, &id2, &eb), 0);
    assert_int_equal(id1, 1);
    assert_int_equal(id2, 2);
    assert_int_equal(tb__keyring_save(k, &eb), 0);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    char c1[TB__C2_CHECK_LEN], c2[TB__C2_CHECK_LEN];
    tb__c2key_check(tb__keyring_get(k, 1), c1);
    tb__keyring_free(k);
    /* load it back: the same key */
    assert_int_equal(tb__keyring_load(path, &k, &eb), 0);
    tb__c2key_check(tb__keyring_get(k, 1), c2);
    assert_string_equal(c1, c2);
    assert_int_equal(tb__keyring_newest(k)->id, 2);
    /* retire key 1: its bytes leave the file, the id stays taken */
    assert_int_equal(tb__keyring_retire(k, 1, &eb), 0);
    assert_null(tb__keyring_get(k, 1));
    assert_int_equal(tb__keyring_retire(k, 1, &eb), TB_ENOENT);
    assert_int_equal(tb__keyring_save(k, &eb), 0);
    tb__keyring_free(k);
    assert_int_equal(tb__keyring_load(path, &k, &eb), 0);
    assert_null(tb__keyring_get(k, 1));
    assert_non_null(tb__keyring_get(k, 2));
    uint32_t id3;
    assert_int_equal(tb__keyring_add(k, &id3, &eb), 0);
    assert_int_equal(id3, 3); /* never reused */
    tb__keyring_free(k);
    /* group- or world-readable: refused */
    chmod(path, 0640);
    assert_int_equal(tb__keyring_load(path, &k, &eb), TB_EPERM);
    assert_non_null(strstr(eb.msg, "chmod 600"));
    /* malformed */
    char *bad = tbt_join(dir, "bad.key");
    write_file(bad, "not a key file\n", 0600);
    assert_int_equal(tb__keyring_load(bad, &k, &eb), TB_EFORMAT);
    write_file(bad, "tagbase-keyfile 1\nkey 1 abcd 2026\n", 0600);
    assert_int_equal(tb__keyring_load(bad, &k, &eb), TB_EFORMAT);
    assert_non_null(strstr(eb.msg, "line 2"));
    write_file(bad,
               "tagbase-keyfile 1\n"
               "key 1 0000000000000000000000000000000000000000000000000000000000000000 x\n"
               "key 1 0000000000000000000000000000000000000000000000000000000000000000 x\n",
               0600);
    assert_int_equal(tb__keyring_load(bad, &k, &eb), TB_EFORMAT);
    /* inside the data directory: refused; beside it: fine */
    char *data = tbt_join(dir, "data");
    mkdir(data, 0700);
    char *inside = tbt_join(data, "k.key"), *beside = tbt_join(dir, "data.key");
    assert_int_equal(tb__c2_key_outside(inside, data, &eb), TB_EINVAL);
    assert_int_equal(tb__c2_key_outside(beside, data, &eb), 0);
    free(inside);
    free(beside);
    free(data);
    free(bad);
    free(path);
}

static tb_db *open_db(const char *dir, unsigned flags, int want)
{
    tb_db *db = NULL;
    char err[512];
    int rc = tb_db_open(dir, flags, &db, err, sizeof err);
    if (rc != want) fprintf(stderr, "%s\n", err);
    assert_int_equal(rc, want);
    return db;
}

static tb__party_obs person(const char *key, const char *id, const char *name, const char *mobile,
                            int32_t as_of)
{
    tb__party_obs o = {.system = "core",
                       .key = key,
                       .kind = TB__PARTY_PERSON,
                       .cert_type = "101",
                       .cert_no = id,
                       .cust_type = "1",
                       .as_of = as_of};
    o.attr[TB__F_NAME] = name;
    o.attr[TB__F_MOBILE] = mobile;
    o.attr[TB__F_ADDRESS] = "江苏省南京市玄武区文化路65号";
    return o;
}

static void load_people(tb_db *db, int round)
{
    tb__idres *r;
    assert_int_equal(tb__idres_open(db, &r), 0);
    /* a later row of the same source: its new mobile survives and writes history */
    tb__party_obs a = person("C1", "320106194512200193", "陈鹏国",
                             round ? "13900000001" : "15184044740", 20000 + round);
    tb__party_obs b = person("C2", "500103199908046505", "陈梅佳", "17033896498", 20000);
    uint32_t g;
    assert_int_equal(tb__idres_observe(r, &a, &g, NULL), 0);
    assert_int_equal(tb__idres_observe(r, &b, &g, NULL), 0);
    tb__party_obs c = {.system = "core",
                       .key = "E1",
                       .kind = TB__PARTY_COMPANY,
                       .cert_type = "201",
                       .cert_no = "91320100MA1XXXXX0Q",
                       .as_of = 20000};
    c.attr[TB__F_NAME] = "南京某某科技有限公司";
    assert_int_equal(tb__idres_observe(r, &c, &g, NULL), 0);
    assert_int_equal(tb__idres_relate(r, g, TB__REL_LEGAL_REP, "王法人", TB__GID_NONE, NULL), 0);
    assert_int_equal(tb__meta_begin(db), 0);
    assert_int_equal(tb__idres_commit(r, db, round ? "20261122" : "20261121", round + 1), 0);
    assert_int_equal(tb__meta_commit(db), 0);
    tb__idres_free(r);
}

/* Bytes of every file of the directory's meta store (db, -wal) hold `s`? */
static int meta_holds(const char *dir, const char *s)
{
    const char *names[] = {"meta.db", "meta.db-wal"};
    int found = 0;
    for (size_t i = 0; i < 2; i++) {
        char *p = tbt_join(dir, names[i]);
        FILE *f = fopen(p, "rb");
        free(p);
        if (!f) continue;
        fseek(f, 0, SEEK_END);
        long n = ftell(f);
        fseek(f, 0, SEEK_SET);
        char *b = malloc((size_t)n + 1);
        assert_int_equal(fread(b, 1, (size_t)n, f), (size_t)n);
        fclose(f);
        found |= memmem(b, (size_t)n, s, strlen(s)) != NULL;
        free(b);
    }
    return found;
}

static void check_readable(tb_db *db, const char *mobile)
{
    uint32_t gid;
    assert_int_equal(tb__customer_resolve_any(db, "320106194512200193", &gid), 0);
    assert_int_equal(gid, 0);
    assert_int_equal(tb__customer_resolve_any(db, mobile, &gid), 0);
    assert_int_equal(gid, 0);
    tb__candidate *c;
    size_t n;
    assert_int_equal(tb__customer_find(db, "陈梅佳", 0, &c, &n), 0);
    assert_int_equal(n, 1);
    assert_string_equal(c[0].mobile, "170****6498");
    tb__customer_candidates_free(c);
    json_t *v;
    assert_int_equal(tb__customer_view_ex(db, 0, 1, &v), 0);
    assert_string_equal(json_string_value(json_object_get(v, "cert_no")), "320106194512200193");
    json_t *attrs = json_object_get(v, "attributes");
    assert_string_equal(json_string_value(json_object_get(json_object_get(attrs, "name"), "value")),
                        "陈鹏国");
    json_decref(v);
    assert_int_equal(tb__customer_view_ex(db, 2, 1, &v), 0);
    json_t *rel = json_array_get(json_object_get(v, "relations"), 0);
    assert_string_equal(json_string_value(json_object_get(rel, "target")), "王法人");
    json_decref(v);
    tb__party_pii p;
    assert_int_equal(tb__party_pii_get(db, 1, &p), 0);
    assert_true(p.found && p.has_name && p.has_cert && p.has_mobile);
    assert_string_equal(p.name, "陈梅佳");
    assert_string_equal(p.cert_no, "500103199908046505");
    assert_string_equal(p.mobile, "17033896498");
}

static void encrypted_store(void **state)
{
    const char *root = *state;
    char *data = tbt_join(root, "data"), *kf = tbt_join(root, "data.key"),
         *wrong = tbt_join(root, "wrong.key");
    tb__errbuf eb;
    tb__keyring_free(tbt_key_file(kf, NULL));
    tb__keyring_free(tbt_key_file(wrong, NULL));

    /* a new store adopts the key file */
    tb__c2_set_key_file(kf);
    tb_db *db = open_db(data, TB_OPEN_CREATE, 0);
    assert_true(tb__c2_on(db));
    load_people(db, 0);
    load_people(db, 1); /* a second load: history of the mobile, an update of every party */
    check_readable(db, "13900000001");
    tb_db_close(db);
    assert_false(meta_holds(data, "320106194512200193"));
    assert_false(meta_holds(data, "15184044740"));
    assert_false(meta_holds(data, "13900000001"));
    assert_false(meta_holds(data, "陈鹏国"));
    assert_false(meta_holds(data, "王法人"));
    assert_false(meta_holds(data, "玄武区"));

    /* reopen read-only: the id map and the look-ups work from the sealed values */
    db = open_db(data, TB_OPEN_READONLY, 0);
    check_readable(db, "13900000001");
    tb__idres *r;
    assert_int_equal(tb__idres_open(db, &r), 0);
    uint32_t g;
    assert_int_equal(tb__idres_lookup_cert(r, TB__PARTY_PERSON, "500103199908046505", &g), 0);
    assert_int_equal(g, 1);
    tb__idres_free(r);
    tb_db_close(db);

    /* no key file, a wrong one: refused at open with a clear detail */
    char err[512];
    tb__c2_set_key_file("");
    assert_int_equal(tb_db_open(data, TB_OPEN_READONLY, &db, err, sizeof err), TB_EPERM);
    assert_non_null(strstr(err, "is encrypted"));
    tb__c2_set_key_file(wrong);
    assert_int_equal(tb_db_open(data, 0, &db, err, sizeof err), TB_EPERM);
    assert_non_null(strstr(err, "different key"));

    /* rotation: everything under key 2, still readable, key 1 no longer needed */
    tb__c2_set_key_file(kf);
    db = open_db(data, 0, 0);
    assert_int_equal(tb__keyring_add(tb__c2_ring(db), NULL, &eb), 0);
    assert_int_equal(tb__keyring_save(tb__c2_ring(db), &eb), 0);
    tb__c2key k2 = *tb__keyring_get(tb__c2_ring(db), 2);
    uint64_t rows;
    assert_int_equal(tb__md_c2_rekey(db, &k2, &rows), 0);
    assert_true(rows >= 4);
    assert_int_equal(tb__c2_active(db)->id, 2);
    check_readable(db, "13900000001");
    assert_int_equal(tb__keyring_retire(tb__c2_ring(db), 1, &eb), 0);
    assert_int_equal(tb__keyring_save(tb__c2_ring(db), &eb), 0);
    tb__c2_info info;
    assert_int_equal(tb__c2_info_get(db, &info), 0);
    assert_int_equal(info.retired, 1);
    tb_db_close(db);
    db = open_db(data, TB_OPEN_READONLY, 0); /* without key 1 in the file */
    check_readable(db, "13900000001");
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(tb__db_sqlite(db),
                                        "SELECT count(*) FROM party WHERE attrs LIKE '$1$%' OR "
                                        "cert_enc LIKE '$1$%'",
                                        -1, &st, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(st, 0), 0);
    sqlite3_finalize(st);
    tb_db_close(db);
    assert_false(meta_holds(data, "320106194512200193"));
    tb__c2_set_key_file("");
    free(data);
    free(kf);
    free(wrong);
}

/* A plaintext store with data stays plaintext when a key file appears, until rekeyed. */
static void plaintext_then_encrypt(void **state)
{
    const char *root = *state;
    char *data = tbt_join(root, "data"), *kf = tbt_join(root, "k.key");
    tb__c2_set_key_file("");
    tb_db *db = open_db(data, TB_OPEN_CREATE, 0);
    assert_false(tb__c2_on(db));
    load_people(db, 0);
    tb_db_close(db);
    assert_true(meta_holds(data, "320106194512200193"));
    tb__keyring_free(tbt_key_file(kf, NULL));
    tb__c2_set_key_file(kf);
    db = open_db(data, 0, 0);
    assert_false(tb__c2_on(db));
    tb__c2_info info;
    assert_int_equal(tb__c2_info_get(db, &info), 0);
    assert_true(info.pending);
    tb__c2key k1 = *tb__keyring_get(tb__c2_ring(db), 1);
    assert_int_equal(tb__md_c2_rekey(db, &k1, NULL), 0);
    assert_true(tb__c2_on(db));
    check_readable(db, "15184044740");
    load_people(db, 1);
    check_readable(db, "13900000001");
    tb_db_close(db);
    assert_false(meta_holds(data, "320106194512200193"));
    assert_false(meta_holds(data, "15184044740"));
    assert_false(meta_holds(data, "陈鹏国"));
    tb__c2_set_key_file("");
    free(data);
    free(kf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(seal_round_trip, tbt_setup_tmpdir, tbt_teardown_tmpdir),
        cmocka_unit_test_setup_teardown(seal_refusals, tbt_setup_tmpdir, tbt_teardown_tmpdir),
        cmocka_unit_test(blind_index),
        cmocka_unit_test_setup_teardown(key_file, tbt_setup_tmpdir, tbt_teardown_tmpdir),
        cmocka_unit_test_setup_teardown(encrypted_store, tbt_setup_tmpdir, tbt_teardown_tmpdir),
        cmocka_unit_test_setup_teardown(plaintext_then_encrypt, tbt_setup_tmpdir,
                                        tbt_teardown_tmpdir),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
