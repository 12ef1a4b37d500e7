/* test_tagstore.c — tests src/tags/tagstore.c: a store written and read back, and its rewrite
 * without some customers (erasure): the ids leave every value bitmap, every bit-sliced index
 * (including the case where the erased customer held the only minimum), the universe and
 * keys.bin, everyone else keeps their values, counts and coverage follow, and the new store
 * verifies (sizes and checksums in the manifest are those of the new bytes). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "helpers.h"
#include "tags/tagstore.h"

#define N 200000u /* over three chunks, so that chunk edges are crossed */

static const tb__tag_meta m_enum = {"level", "等级", "Level", TB__TT_RULE, TB__TV_ENUM,
                                    0,       1,      "C1",    2,           "[\"golden.x\"]"};
static const tb__tag_meta m_bal = {"balance", "余额", "Balance", TB__TT_FACT, TB__TV_DECIMAL,
                                   2,         1,      "C2",      3,           NULL};

/* value of id i in the test data: ids % 7 == 0 have no balance; id 5 has the only minimum */
static int64_t bal_of(uint32_t i)
{
    return i == 5 ? -1000 : (int64_t)(i % 1000) * 100;
}

static void write_store_keyed(const char *dir, const tb__c2key *key)
{
    tb__errbuf eb = {0};
    tb__tagw *w;
    assert_int_equal(tb__tagw_open(dir, N, &w, &eb), 0);
    tb__tagw_seal(w, key);
    tb__bm_builder *live, *v[3];
    assert_int_equal(tb__bm_builder_create(N, &live), 0);
    for (int k = 0; k < 3; k++)
        assert_int_equal(tb__bm_builder_create(N, &v[k]), 0);
    tb__bsi_builder *b;
    assert_int_equal(tb__bsi_builder_create(N, &b), 0);
    char *blob = malloc((size_t)N * 8);
    uint64_t *offs = malloc(((size_t)N + 1) * sizeof *offs);
    assert_non_null(blob);
    assert_non_null(offs);
    size_t at = 0;
    for (uint32_t i = 0; i < N; i++) {
        assert_int_equal(tb__bm_set(live, i), 0);
        assert_int_equal(tb__bm_set(v[i % 3], i), 0);
        if (i % 7 || i == 0 || i == 5) assert_int_equal(tb__bsi_put(b, i, bal_of(i)), 0);
        offs[i] = at;
        at += (size_t)sprintf(blob + at, "C%06u", i);
    }
    offs[N] = at;
    const char *vals[] = {"L1", "L2", "L3"};
    assert_int_equal(tb__tagw_put_universe(w, live, &eb), 0);
    assert_int_equal(tb__tagw_put_values(w, &m_enum, vals, v, 3, &eb), 0);
    assert_int_equal(tb__tagw_put_bsi(w, &m_bal, b, &eb), 0);
    assert_int_equal(tb__tagw_put_keys(w, blob, offs, &eb), 0);
    assert_int_equal(tb__tagw_commit(w, "{\"batch_date\":\"20261121\"}", NULL, &eb), 0);
    tb__bm_builder_free(live);
    for (int k = 0; k < 3; k++)
        tb__bm_builder_free(v[k]);
    tb__bsi_builder_free(b);
    free(blob);
    free(offs);
}

static void write_store(const char *dir)
{
    write_store_keyed(dir, NULL);
}

static void rewrite_without(void **state)
{
    const char *tmp = *state;
    char src[512], dst[512];
    snprintf(src, sizeof src, "%s/tags-1", tmp);
    snprintf(dst, sizeof dst, "%s/tags-1-e1", tmp);
    write_store(src);
    /* 5 holds the only minimum of the BSI; 65536 is the first id of chunk 1; 199999 the last */
    const uint32_t gone[] = {199999, 5, 65536, 42};
    tb__errbuf eb = {0};
    assert_int_equal(tb__tagset_rewrite_without(src, dst, gone, 4, NULL, NULL, &eb), 0);
    tb__tagset *a, *b;
    assert_int_equal(tb__tagset_open(src, &a, &eb), 0);
    assert_int_equal(tb__tagset_open(dst, &b, &eb), 0);
    assert_int_equal(tb__tagset_verify(b, &eb), 0);
    assert_string_equal(tb__tagset_meta_json(b), "{\"batch_date\":\"20261121\"}");
    assert_int_equal(tb__tagset_universe(b)->card, N - 4);
    const tb__tagv *ea = tb__tagset_find(a, "level"), *eb_ = tb__tagset_find(b, "level");
    const tb__tagv *ba = tb__tagset_find(a, "balance"), *bb = tb__tagset_find(b, "balance");
    assert_non_null(eb_);
    assert_non_null(bb);
    assert_int_equal(eb_->coverage, ea->coverage - 4);
    assert_int_equal(bb->bsi->min, 0); /* the erased minimum is gone from the header too */
    assert_int_equal(bb->bsi->max, ba->bsi->max);
    for (uint32_t i = 0; i < N; i++) {
        int erased = i == 199999 || i == 5 || i == 65536 || i == 42;
        int64_t x = 0, y = 0;
        const char *s = NULL, *t = NULL;
        size_t kl = 0;
        const char *key = tb__tagset_key(b, i, &kl);
        if (erased) {
            assert_false(tb__bmv_contains(tb__tagset_universe(b), i));
            assert_int_equal(tb__tagv_get(eb_, i, &x, &t), 0);
            assert_int_equal(tb__tagv_get(bb, i, &y, &t), 0);
            assert_null(key);
            continue;
        }
        assert_int_equal(tb__tagv_get(ea, i, &x, &s), tb__tagv_get(eb_, i, &y, &t));
        assert_string_equal(s, t);
        int ha = tb__tagv_get(ba, i, &x, &s), hb = tb__tagv_get(bb, i, &y, &t);
        assert_int_equal(ha, hb);
        if (ha) assert_int_equal(x, y);
        char want[16];
        snprintf(want, sizeof want, "C%06u", i);
        assert_int_equal(kl, strlen(want));
        assert_memory_equal(key, want, kl);
    }
    tb__tagset_close(a);
    tb__tagset_close(b);
    /* the target must not exist: a second rewrite into it is refused */
    assert_int_equal(tb__tagset_rewrite_without(src, dst, gone, 4, NULL, NULL, &eb), TB_EEXIST);
}

/* With a key, the C2 tag's file is sealed and the C1 ones stay clear; the store opens with the
 * key only, reads the same values and verifies; a flipped byte is refused; the file moves to
 * another key in place; an erasure rewrite seals what it writes. */
static void sealed_c2_tags(void **state)
{
    const char *tmp = *state;
    char dir[512], dst[512], bal[600], lvl[600], keys[512];
    snprintf(dir, sizeof dir, "%s/tags-s", tmp);
    snprintf(dst, sizeof dst, "%s/tags-s-e1", tmp);
    snprintf(bal, sizeof bal, "%s/balance.tag", dir);
    snprintf(lvl, sizeof lvl, "%s/level.tag", dir);
    snprintf(keys, sizeof keys, "%s/keys", tmp);
    tb__errbuf eb = {0};
    uint32_t k1, k2;
    tb__keyring *ring = tbt_key_file(keys, &k1);
    write_store_keyed(dir, tb__keyring_get(ring, k1));
    char head[8];
    FILE *f = fopen(bal, "rb");
    assert_int_equal(fread(head, 1, 8, f), 8);
    fclose(f);
    assert_memory_equal(head, "TBS1\x01\0\0\0", 8);
    f = fopen(lvl, "rb");
    assert_int_equal(fread(head, 1, 8, f), 8);
    fclose(f);
    assert_memory_equal(head, "TBTAGF1\n", 8);

    tb__tagset *ts;
    assert_int_equal(tb__tagset_open(dir, &ts, &eb), TB_ENOENT);
    assert_int_equal(tb__tagset_open_keys(dir, ring, &ts, &eb), 0);
    assert_int_equal(tb__tagset_verify(ts, &eb), 0);
    const tb__tagv *t = tb__tagset_find(ts, "balance");
    assert_non_null(t);
    assert_non_null(t->bsi);
    uint64_t covered = 0;
    for (uint32_t i = 0; i < N; i++)
        covered += i % 7 || i == 0 || i == 5;
    assert_int_equal(t->coverage, covered);
    tb__tagset_close(ts);

    /* a flipped byte: refused */
    f = fopen(bal, "r+b");
    assert_int_equal(fseek(f, 100, SEEK_SET), 0);
    int c = fgetc(f);
    assert_int_equal(fseek(f, 100, SEEK_SET), 0);
    fputc(c ^ 4, f);
    fclose(f);
    assert_int_equal(tb__tagset_open_keys(dir, ring, &ts, &eb), TB_ECORRUPT);
    assert_non_null(strstr(eb.msg, "balance.tag"));
    f = fopen(bal, "r+b");
    assert_int_equal(fseek(f, 100, SEEK_SET), 0);
    fputc(c, f);
    fclose(f);

    /* to key 2 in place */
    assert_int_equal(tb__keyring_add(ring, &k2, &eb), 0);
    uint64_t files = 0;
    assert_int_equal(tb__tagset_c2_reseal(dir, ring, tb__keyring_get(ring, k2), &files, &eb), 0);
    assert_int_equal(files, 1);
    assert_int_equal(tb__keyring_retire(ring, k1, &eb), 0);
    assert_int_equal(tb__tagset_open_keys(dir, ring, &ts, &eb), 0);
    assert_int_equal(tb__tagset_verify(ts, &eb), 0);
    tb__tagset_close(ts);

    const uint32_t gone[] = {8};
    assert_int_equal(
        tb__tagset_rewrite_without(dir, dst, gone, 1, ring, tb__keyring_get(ring, k2), &eb), 0);
    snprintf(bal, sizeof bal, "%s/balance.tag", dst);
    f = fopen(bal, "rb");
    assert_int_equal(fread(head, 1, 8, f), 8);
    fclose(f);
    assert_memory_equal(head, "TBS1\x02\0\0\0", 8);
    assert_int_equal(tb__tagset_open_keys(dst, ring, &ts, &eb), 0);
    assert_int_equal(tb__tagset_verify(ts, &eb), 0);
    tb__tagset_close(ts);
    tb__keyring_free(ring);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(rewrite_without, tbt_setup_tmpdir, tbt_teardown_tmpdir),
        cmocka_unit_test_setup_teardown(sealed_c2_tags, tbt_setup_tmpdir, tbt_teardown_tmpdir),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
