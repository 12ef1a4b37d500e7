/* test_evpart.c — the event store (src/events/part*.c, persons.c, evset.c) and the analyses over
 * it (funnel.c, paths.c, retention.c, evcount.c): round trips, merging appends, corrupt bytes,
 * and every analysis against a brute-force computation on random events with linked persons. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "events/evpart_int.h"
#include "events/evq.h"
#include "events/evstore.h"
#include "helpers.h"

static int32_t day0(void)
{
    int32_t d;
    assert_int_equal(tb__ev_parse_day("2026-11-15", &d), 0);
    return d;
}

static void test_day_math(void **state)
{
    (void)state;
    int32_t d = day0();
    char t[16];
    assert_string_equal(tb__ev_day_text(d, t), "2026-11-15");
    /* 2026-11-15 00:00 Shanghai is 2026-11-14 16:00 UTC */
    assert_int_equal(tb__ev_day_start(d), 1794672000000LL);
    assert_int_equal(tb__ev_day(1794672000000LL), d);
    assert_int_equal(tb__ev_day(1794672000000LL - 1), d - 1);
    assert_int_equal(tb__ev_parse_day("20260230", &d), -1);
    assert_int_equal(tb__ev_parse_day("2024-02-29", &d), 0);
}

static void test_append_roundtrip(void **state)
{
    const char *dir = *state;
    tb__errbuf eb;
    int64_t t0 = tb__ev_day_start(day0());
    tb__evrow rows[] = {
        {2, t0 + 5000, "view", "{\"channel\":\"app\",\"amount\":12.5}", 0},
        {1, t0 + 1000, "launch", NULL, 0},
        {2, t0 + 1000, "launch", "{\"channel\":\"web\",\"n\":[1,2]}", 0},
        {1, t0 + TB__EV_DAY_MS + 7, "pay", "{\"amount\":\"x\"}", 0},
    };
    for (int i = 0; i < 4; i++)
        rows[i].props_len = rows[i].props ? strlen(rows[i].props) : 0;
    assert_int_equal(tb__evpart_append(dir, NULL, rows, 4, &eb), 0);
    tb__evpart p;
    assert_int_equal(tb__evpart_read(dir, NULL, day0(), TB__EVP_PROPS, &p, &eb), 0);
    assert_int_equal(p.nrows, 3);
    assert_int_equal(p.person[0], 1);
    assert_int_equal(p.person[1], 2);
    assert_int_equal(p.ts[1], 1000);
    assert_string_equal(p.events[p.code[1]], "launch");
    assert_string_equal(p.events[p.code[2]], "view");
    assert_int_equal(p.ncols, 3);
    const tb__evcol *ch = NULL, *am = NULL, *n = NULL;
    for (uint32_t c = 0; c < p.ncols; c++) {
        if (!strcmp(p.cols[c].name, "channel")) ch = &p.cols[c];
        if (!strcmp(p.cols[c].name, "amount")) am = &p.cols[c];
        if (!strcmp(p.cols[c].name, "n")) n = &p.cols[c];
    }
    assert_non_null(ch);
    assert_non_null(am);
    assert_non_null(n);
    assert_int_equal(ch->type, TB__EVCOL_DICT);
    assert_int_equal(ch->code[0], 0); /* row of person 1: no property */
    assert_string_equal(ch->dict[ch->code[1] - 1], "\"web\"");
    assert_string_equal(ch->dict[ch->code[2] - 1], "\"app\"");
    assert_int_equal(am->type, TB__EVCOL_NUM);
    assert_true(isnan(am->num[1]));
    assert_true(am->num[2] == 12.5);
    assert_string_equal(n->dict[n->code[1] - 1], "[1,2]");
    tb__evpart_release(&p);

    /* a second append merges: same (person, ts) keeps arrival order (old first); the amount
     * column of day 2 stays a dictionary column ("x" is a string) */
    tb__evrow more[] = {{2, t0 + 1000, "click", "{\"amount\":3}", 12},
                        {0, t0 + 2000, "launch", NULL, 0}};
    assert_int_equal(tb__evpart_append(dir, NULL, more, 2, &eb), 0);
    assert_int_equal(tb__evpart_read(dir, NULL, day0(), TB__EVP_PROPS, &p, &eb), 0);
    assert_int_equal(p.nrows, 5);
    assert_int_equal(p.person[0], 0);
    assert_string_equal(p.events[p.code[2]], "launch");
    assert_string_equal(p.events[p.code[3]], "click");
    tb__evpart_release(&p);
    int32_t *days;
    size_t nd;
    assert_int_equal(tb__evpart_list(dir, &days, &nd, &eb), 0);
    assert_int_equal(nd, 2);
    assert_int_equal(days[0], day0());
    assert_int_equal(days[1], day0() + 1);
    free(days);

    /* bad input: nothing written */
    tb__evrow badr[] = {{1, t0, "", NULL, 0}};
    assert_int_equal(tb__evpart_append(dir, NULL, badr, 1, &eb), TB_EINVAL);
    tb__evrow badp[] = {{1, t0, "x", "[1]", 3}};
    assert_int_equal(tb__evpart_append(dir, NULL, badp, 1, &eb), TB_EINVAL);
    assert_int_equal(tb__evpart_read(dir, NULL, day0(), 0, &p, &eb), 0);
    assert_int_equal(p.nrows, 5);
    tb__evpart_release(&p);
}

static void test_corrupt(void **state)
{
    const char *dir = *state;
    tb__errbuf eb;
    int64_t t0 = tb__ev_day_start(day0());
    tb__evrow rows[64];
    char props[64][40];
    for (int i = 0; i < 64; i++) {
        snprintf(props[i], sizeof props[i], "{\"k\":\"v%d\",\"n\":%d}", i % 5, i);
        rows[i] = (tb__evrow){(uint32_t)(i % 7), t0 + i * 1000, i % 2 ? "a" : "b", props[i],
                              strlen(props[i])};
    }
    assert_int_equal(tb__evpart_append(dir, NULL, rows, 64, &eb), 0);
    tb__buf img = TB__BUF_INIT;
    tb__evpart p;
    assert_int_equal(tb__evpart_read(dir, NULL, day0(), TB__EVP_PROPS, &p, &eb), 0);
    assert_int_equal(tb__evpart_encode(&p, 3, &img, &eb), 0);
    tb__evpart_release(&p);
    uint8_t *b = (uint8_t *)img.data;
    assert_int_equal(tb__evpart_parse(b, img.len, TB__EVP_PROPS, &p, &eb), 0);
    tb__evpart_release(&p);
    /* every single-byte change and every truncation is refused, never crashes */
    for (size_t i = 0; i < img.len; i++) {
        b[i] ^= 0x5A;
        int rc = tb__evpart_parse(b, img.len, TB__EVP_PROPS, &p, &eb);
        assert_true(rc == TB_ECORRUPT || rc == TB_EVERSION);
        b[i] ^= 0x5A;
    }
    for (size_t n = 0; n < img.len; n += 7)
        assert_int_equal(tb__evpart_parse(b, n, TB__EVP_PROPS, &p, &eb), TB_ECORRUPT);
    /* an unsorted image is refused by the encoder */
    uint32_t person[2] = {3, 1}, ts[2] = {0, 0};
    uint16_t code[2] = {0, 0};
    const char *names[1] = {"x"};
    tb__evpart bad = {.day = day0(),
                      .nrows = 2,
                      .person = person,
                      .ts = ts,
                      .code = code,
                      .nevents = 1,
                      .events = names};
    assert_int_equal(tb__evpart_encode(&bad, 1, &img, &eb), TB_EINVAL);
    tb__buf_release(&img);
}

static void test_persons(void **state)
{
    const char *dir = *state;
    tb__errbuf eb;
    uint32_t root[4] = {0, 0, 2, 2}, gid[4] = {10, TB__EV_NO_GID, 11, 11};
    assert_int_equal(tb__evpersons_write(dir, root, gid, 4, &eb), 0);
    tb__evpersons ps;
    assert_int_equal(tb__evpersons_read(dir, &ps, &eb), 0);
    assert_int_equal(ps.n, 4);
    assert_int_equal(ps.root[3], 2);
    assert_int_equal(ps.gid[0], 10);
    tb__evpersons_release(&ps);
    uint32_t bad[2] = {1, 0};
    assert_int_equal(tb__evpersons_write(dir, bad, gid, 2, &eb), TB_EINVAL);
    uint8_t junk[24] = "TBEP";
    assert_int_equal(tb__evpersons_parse(junk, sizeof junk, &ps, &eb), TB_ECORRUPT);
}

/* Step conditions against one partition (evfilter.c): every operator on a number column and a
 * dictionary column, a missing key, and several steps on the same event. */
static void test_masks(void **state)
{
    const char *dir = *state;
    tb__errbuf eb;
    int64_t t0 = tb__ev_day_start(day0());
    const char *pj[] = {"{\"amt\":5,\"ch\":\"app\"}", "{\"amt\":50,\"ch\":\"web\"}",
                        "{\"ch\":\"app\"}", "{\"amt\":500,\"ch\":true}", NULL};
    tb__evrow rows[5];
    for (int i = 0; i < 5; i++)
        rows[i] = (tb__evrow){(uint32_t)i, t0 + i, "pay", pj[i], pj[i] ? strlen(pj[i]) : 0};
    assert_int_equal(tb__evpart_append(dir, NULL, rows, 5, &eb), 0);
    tb__evpart p;
    assert_int_equal(tb__evpart_read(dir, NULL, day0(), TB__EVP_PROPS, &p, &eb), 0);
    const char *t50 = "50", *tapp = "\"app\"", *tweb = "\"web\"", *ttrue = "true";
    double v50 = 50, z = 0;
    uint8_t one = 1, no = 0;
    const char *both[2] = {"\"app\"", "\"web\""};
    double zz[2] = {0, 0};
    uint8_t nn[2] = {0, 0};
    tb__evcond c[] = {
        {"amt", TB__EVOP_GE, 1, &t50, &v50, &one},     /* step 0: rows 1, 3 */
        {"amt", TB__EVOP_LT, 1, &t50, &v50, &one},     /* step 1: row 0 */
        {"ch", TB__EVOP_NE, 1, &tapp, &z, &no},        /* step 2: rows 1, 3 */
        {"ch", TB__EVOP_EQ, 2, both, zz, nn},          /* step 3: rows 0, 1, 2 */
        {"amt", TB__EVOP_EXISTS, 0, NULL, NULL, NULL}, /* step 4: rows 0, 1, 3 */
        {"nope", TB__EVOP_NE, 1, &tweb, &z, &no},      /* step 5: none */
        {"ch", TB__EVOP_EQ, 1, &ttrue, &z, &no},       /* step 6: row 3 */
        {"amt", TB__EVOP_EQ, 1, &t50, &v50, &one},     /* step 7: row 1 */
    };
    tb__evstep st[9];
    for (int k = 0; k < 8; k++)
        st[k] = (tb__evstep){"pay", &c[k], 1};
    st[8] = (tb__evstep){"other", NULL, 0};
    tb__evmask *m;
    assert_int_equal(tb__evmask_prepare(&p, st, 9, &m), 0);
    uint32_t want[5] = {0, 0, 0, 0, 0};
    int rows_of[8][4] = {{1, 3, -1},    {0, -1}, {1, 3, -1}, {0, 1, 2, -1},
                         {0, 1, 3, -1}, {-1},    {3, -1},    {1, -1}};
    for (int k = 0; k < 8; k++)
        for (int j = 0; rows_of[k][j] >= 0; j++)
            want[rows_of[k][j]] |= 1u << k;
    for (uint32_t i = 0; i < 5; i++)
        assert_int_equal(tb__evmask_row(m, i), want[p.person[i]]);
    tb__evmask_free(m);
    tb__evpart_release(&p);
}

/* ---- analyses against brute force ---------------------------------------------------------- */

#define NP   60
#define NEV  4000
#define DAYS 5

typedef struct bev {
    uint32_t root;
    int64_t ts;
    int e;   /* 0..4 */
    int chn; /* property "ch": 0 absent, 1 "app", 2 "web" */
    uint64_t seq;
} bev;

static uint32_t g_root[NP];
static bev g_ev[NEV];

static uint64_t rnd(uint64_t *s)
{
    *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
    return *s >> 33;
}

static const char *ename[5] = {"a", "b", "c", "d", "e"};

static int cmp_bev(const void *x, const void *y)
{
    const bev *a = x, *b = y;
    if (a->root != b->root) return a->root < b->root ? -1 : 1;
    if (a->ts != b->ts) return a->ts < b->ts ? -1 : 1;
    return a->seq < b->seq ? -1 : a->seq > b->seq;
}

/* Random events over DAYS days, persons linked in groups (root = the group's first), written in
 * three appends; g_ev sorted per root in the analyses' order. */
static void make_data(const char *dir)
{
    uint64_t s = 42;
    tb__errbuf eb;
    uint32_t gid[NP];
    for (uint32_t p = 0; p < NP; p++) {
        g_root[p] = (p % 10 == 3 || p % 10 == 4) ? p - p % 10 + 2 : p; /* 3,4 -> 2 */
        gid[p] = p % 10 == 9 ? TB__EV_NO_GID : g_root[p];
    }
    for (uint32_t p = 0; p < NP; p++)
        gid[p] = gid[g_root[p]];
    assert_int_equal(tb__evpersons_write(dir, g_root, gid, NP, &eb), 0);
    int64_t t0 = tb__ev_day_start(day0());
    static tb__evrow rows[NEV];
    static uint32_t person[NEV];
    for (int i = 0; i < NEV; i++) {
        person[i] = (uint32_t)(rnd(&s) % NP);
        /* seconds resolution makes same-millisecond ties between linked persons rare but real */
        g_ev[i].ts = t0 + (int64_t)(rnd(&s) % (DAYS * 86400)) * 1000;
        g_ev[i].e = (int)(rnd(&s) % 5);
        g_ev[i].chn = (int)(rnd(&s) % 3);
        g_ev[i].root = g_root[person[i]];
        static const char *pj[3] = {NULL, "{\"ch\":\"app\"}", "{\"ch\":\"web\",\"v\":2}"};
        rows[i] = (tb__evrow){person[i], g_ev[i].ts, ename[g_ev[i].e], pj[g_ev[i].chn],
                              pj[g_ev[i].chn] ? strlen(pj[g_ev[i].chn]) : 0};
    }
    /* the walk orders ties by (member order: root first then ascending person, stored order);
     * seq reproduces that: member index, then the order of arrival (a day's rows of one person
     * keep it) */
    for (int i = 0; i < NEV; i++) {
        uint32_t p = person[i], r = g_root[p];
        uint32_t mi = p == r ? 0 : p; /* members after the root, ascending */
        g_ev[i].seq = ((uint64_t)mi << 32) | (uint64_t)i;
    }
    assert_int_equal(tb__evpart_append(dir, NULL, rows, 1500, &eb), 0);
    assert_int_equal(tb__evpart_append(dir, NULL, rows + 1500, 1500, &eb), 0);
    assert_int_equal(tb__evpart_append(dir, NULL, rows + 3000, NEV - 3000, &eb), 0);
    qsort(g_ev, NEV, sizeof g_ev[0], cmp_bev);
}

static int match(const bev *e, int step_e, int need_app)
{
    return e->e == step_e && (!need_app || e->chn == 1);
}

static void test_funnel_brute(void **state)
{
    const char *dir = *state;
    make_data(dir);
    tb__errbuf eb;
    tb__evset s;
    assert_int_equal(tb__evset_load(dir, NULL, day0(), day0() + DAYS, TB__EVP_PROPS, 2, &s, &eb),
                     0);
    assert_int_equal(s.nrows, NEV);
    const char *app = "\"app\"";
    double one = 0;
    uint8_t isn = 0;
    tb__evcond cond = {"ch", TB__EVOP_EQ, 1, &app, &one, &isn};
    int64_t windows[3] = {3600000, 6 * 3600000, TB__EV_DAY_MS};
    for (int wi = 0; wi < 3; wi++)
        for (int filt = 0; filt < 2; filt++) {
            tb__evstep steps[3] = {
                {"a", NULL, 0}, {"b", filt ? &cond : NULL, filt ? 1u : 0u}, {"c", NULL, 0}};
            int se[3] = {0, 1, 2};
            int32_t from = day0() + 1, to = day0() + 3;
            tb__funnel_spec sp = {steps, 3, windows[wi], from, to};
            tb__funnel_res r;
            assert_int_equal(tb__funnel_run(&s, &sp, NULL, 2, &r, &eb), 0);
            /* brute force: every start, greedy earliest, deepest level */
            uint64_t users[3] = {0}, started[3] = {0};
            int64_t rs = tb__ev_day_start(from), re = tb__ev_day_start(to + 1);
            for (int i = 0; i < NEV;) {
                int j = i;
                while (j < NEV && g_ev[j].root == g_ev[i].root)
                    j++;
                int best = 0, bstart = -1;
                for (int a = i; a < j; a++) {
                    if (!match(&g_ev[a], se[0], 0) || g_ev[a].ts < rs || g_ev[a].ts >= re) continue;
                    int L = 1, cur = a;
                    for (int k = 1; k < 3; k++) {
                        int q = cur + 1;
                        while (q < j && !match(&g_ev[q], se[k], filt && k == 1))
                            q++;
                        if (q == j || g_ev[q].ts - g_ev[a].ts > windows[wi]) break;
                        L++;
                        cur = q;
                    }
                    if (L > best) best = L, bstart = a;
                }
                for (int k = 0; k < best; k++)
                    users[k]++;
                if (best) started[tb__ev_day(g_ev[bstart].ts) - from]++;
                assert_int_equal(r.level[g_ev[i].root], best);
                i = j;
            }
            for (int k = 0; k < 3; k++)
                assert_int_equal(r.users[k], users[k]);
            for (int d = 0; d < 3; d++)
                assert_int_equal(r.trend_started[d], started[d]);
            assert_true(users[1] > 0);
            tb__funnel_res_release(&r);
        }
    /* scoped: only roots whose gid is in the universe */
    tb__bm_builder *b;
    assert_int_equal(tb__bm_builder_create(NP, &b), 0);
    for (uint32_t g = 0; g < NP; g += 2)
        assert_int_equal(tb__bm_set(b, g), 0);
    tb__buf buf = TB__BUF_INIT;
    assert_int_equal(tb__bm_serialize(b, &buf), 0);
    void *al = aligned_alloc(8, (buf.len + 7) / 8 * 8);
    memcpy(al, buf.data, buf.len);
    tb__bmv u;
    assert_int_equal(tb__bm_parse_safe(al, buf.len, 1, &u, NULL, &eb), 0);
    tb__evstep st1[1] = {{"a", NULL, 0}};
    tb__funnel_spec sp1 = {st1, 1, TB__EV_DAY_MS, day0(), day0() + DAYS - 1};
    tb__funnel_res r;
    assert_int_equal(tb__funnel_run(&s, &sp1, &u, 1, &r, &eb), 0);
    uint64_t expect = 0;
    for (uint32_t p = 0; p < NP; p++) {
        if (g_root[p] != p || p % 10 == 9 || p % 2) continue;
        for (int i = 0; i < NEV; i++)
            if (g_ev[i].root == p && g_ev[i].e == 0) {
                expect++;
                break;
            }
    }
    assert_int_equal(r.users[0], expect);
    tb__funnel_res_release(&r);
    free(al);
    tb__buf_release(&buf);
    tb__bm_builder_free(b);
    tb__evset_release(&s);
}

static void test_paths_retention_counts(void **state)
{
    const char *dir = *state;
    make_data(dir);
    tb__errbuf eb;
    tb__evset s;
    assert_int_equal(tb__evset_load(dir, NULL, day0(), day0() + DAYS, 0, 2, &s, &eb), 0);
    int32_t from = day0(), to = day0() + DAYS - 1;
    int64_t rs = tb__ev_day_start(from), re = tb__ev_day_start(to + 1);
    uint32_t id[5];
    for (int e = 0; e < 5; e++)
        for (uint32_t g = 0; g < s.nnames; g++)
            if (!strcmp(s.names[g], ename[e])) id[e] = g;

    /* paths: next events after the first 'a' */
    tb__evstep anchor = {"a", NULL, 0};
    tb__paths_spec ps = {&anchor, 0, 2, from, to};
    tb__paths_res pr;
    assert_int_equal(tb__paths_run(&s, &ps, NULL, 2, &pr, &eb), 0);
    uint64_t roots = 0, l1[5] = {0};
    for (int i = 0; i < NEV;) {
        int j = i;
        while (j < NEV && g_ev[j].root == g_ev[i].root)
            j++;
        for (int a = i; a < j; a++)
            if (g_ev[a].e == 0 && g_ev[a].ts >= rs && g_ev[a].ts < re) {
                roots++;
                if (a + 1 < j) l1[g_ev[a + 1].e]++;
                break;
            }
        i = j;
    }
    assert_int_equal(pr.roots, roots);
    uint32_t nn = pr.nnames;
    for (int e = 0; e < 5; e++)
        assert_int_equal(pr.count[(size_t)id[0] * nn + id[e]], l1[e]);
    tb__paths_res_release(&pr);

    /* retention: first 'a', return 'b' on day n */
    tb__evstep ra = {"a", NULL, 0}, rb = {"b", NULL, 0};
    tb__ret_spec rsp = {&ra, &rb, from, from + 1, 2};
    tb__ret_res rr;
    assert_int_equal(tb__retention_run(&s, &rsp, NULL, 1, &rr, &eb), 0);
    uint64_t size[2] = {0}, ret[2][3] = {{0}};
    int64_t rre = tb__ev_day_start(from + 2);
    for (int i = 0; i < NEV;) {
        int j = i;
        while (j < NEV && g_ev[j].root == g_ev[i].root)
            j++;
        for (int a = i; a < j; a++)
            if (g_ev[a].e == 0 && g_ev[a].ts >= rs) {
                if (g_ev[a].ts >= rre) break;
                int co = tb__ev_day(g_ev[a].ts) - from;
                size[co]++;
                for (int dn = 0; dn <= 2; dn++)
                    for (int q = a + 1; q < j; q++)
                        if (g_ev[q].e == 1 && tb__ev_day(g_ev[q].ts) - (from + co) == dn) {
                            ret[co][dn]++;
                            break;
                        }
                break;
            }
        i = j;
    }
    for (int c = 0; c < 2; c++) {
        assert_int_equal(rr.size[c], size[c]);
        for (int d = 0; d <= 2; d++)
            assert_int_equal(rr.retained[c * 3 + d], ret[c][d]);
    }
    tb__ret_res_release(&rr);

    /* counts per day: events and distinct roots */
    tb__count_spec cs = {NULL, 0, 0, from, to, NULL, 0};
    tb__count_res cr;
    assert_int_equal(tb__count_run(&s, &cs, NULL, 2, &cr, &eb), 0);
    for (int e = 0; e < 5; e++)
        for (int d = 0; d < DAYS; d++) {
            uint64_t ne = 0, nu = 0;
            uint32_t last = UINT32_MAX;
            for (int i = 0; i < NEV; i++)
                if (g_ev[i].e == e && tb__ev_day(g_ev[i].ts) - from == d) {
                    ne++;
                    if (g_ev[i].root != last) nu++, last = g_ev[i].root;
                }
            size_t at = (size_t)id[e] * cr.nbuckets + (size_t)d;
            assert_int_equal(cr.events[at], ne);
            assert_int_equal(cr.users[at], nu);
        }
    tb__count_res_release(&cr);
    tb__evset_release(&s);
}

/* An encrypted store's partitions: sealed whole (no property value in the bytes), read back with
 * the key file, refused without it, tampered, cut or copied over another day; a merging append
 * and a rewrite under another key keep it readable. */
static void test_sealed(void **state)
{
    const char *dir = *state;
    char *kf = tbt_join(dir, "k.key");
    tb__errbuf eb;
    uint32_t id1, id2;
    tb__keyring *ring = tbt_key_file(kf, &id1);
    assert_int_equal(tb__keyring_add(ring, &id2, &eb), 0);
    tb__evkeys k1 = {tb__keyring_get(ring, id1), ring}, k2 = {tb__keyring_get(ring, id2), ring};
    int64_t t0 = tb__ev_day_start(day0());
    const char *props = "{\"phone\":\"13812345678\",\"amount\":3}";
    tb__evrow rows[] = {{1, t0 + 5, "login", props, strlen(props)},
                        {2, t0 + TB__EV_DAY_MS + 9, "login", props, strlen(props)}};
    assert_int_equal(tb__evpart_append(dir, &k1, rows, 2, &eb), 0);
    char path[4096], path2[4096];
    assert_int_equal(tb__evpart_path(dir, day0(), path, sizeof path), 0);
    assert_int_equal(tb__evpart_path(dir, day0() + 1, path2, sizeof path2), 0);
    size_t n;
    uint8_t *b = tbt_read_file(path, &n);
    assert_memory_equal(b, "TBS1", 4);
    assert_null(memmem(b, n, "1381234", 7));
    assert_null(memmem(b, n, "login", 5));
    tb__evpart p;
    assert_int_equal(tb__evpart_read(dir, &k1, day0(), TB__EVP_PROPS, &p, &eb), 0);
    assert_int_equal(p.nrows, 1);
    assert_string_equal(p.events[0], "login");
    assert_string_equal(p.cols[0].name, "phone");
    assert_string_equal(p.cols[0].dict[0], "\"13812345678\"");
    tb__evpart_release(&p);
    /* the loader of the analyses opens them too */
    tb__evset set;
    assert_int_equal(tb__evset_load(dir, &k1, day0(), day0() + 1, 0, 2, &set, &eb), 0);
    assert_int_equal(set.nrows, 2);
    tb__evset_release(&set);
    /* without the key file */
    assert_int_equal(tb__evpart_read(dir, NULL, day0(), TB__EVP_PROPS, &p, &eb), TB_ENOENT);
    assert_non_null(strstr(eb.msg, "key 1"));
    tb__evpart_release(&p);
    /* a merging append, sealed under key 2 now; day 1 keeps key 1; both read */
    assert_int_equal(tb__evpart_append(dir, &k2, rows, 1, &eb), 0);
    assert_int_equal(tb__evpart_read(dir, &k2, day0(), TB__EVP_PROPS, &p, &eb), 0);
    assert_int_equal(p.nrows, 2);
    tb__evpart_release(&p);
    assert_int_equal(tb__evpart_read(dir, &k2, day0() + 1, TB__EVP_PROPS, &p, &eb), 0);
    tb__evpart_release(&p);
    free(b);
    b = tbt_read_file(path, &n);
    assert_int_equal(b[4], 2); /* key id 2 */
    /* one bit flipped in a chunk; the file cut; a day copied over another: all refused */
    b[n - 3] ^= 0x10;
    tbt_write_file(path, b, n);
    assert_int_equal(tb__evpart_read(dir, &k2, day0(), TB__EVP_PROPS, &p, &eb), TB_ECORRUPT);
    assert_non_null(strstr(eb.msg, "fails authentication"));
    assert_non_null(strstr(eb.msg, "byte 32"));
    tb__evpart_release(&p);
    b[n - 3] ^= 0x10;
    tbt_write_file(path, b, n - 1);
    assert_int_equal(tb__evpart_read(dir, &k2, day0(), TB__EVP_PROPS, &p, &eb), TB_ECORRUPT);
    tb__evpart_release(&p);
    tbt_write_file(path, b, n);
    assert_int_equal(tb__evpart_read(dir, &k2, day0(), TB__EVP_PROPS, &p, &eb), 0);
    tb__evpart_release(&p);
    size_t n2;
    uint8_t *b2 = tbt_read_file(path2, &n2);
    tbt_write_file(path, b2, n2);
    assert_int_equal(tb__evpart_read(dir, &k2, day0(), TB__EVP_PROPS, &p, &eb), TB_ECORRUPT);
    tb__evpart_release(&p);
    /* a plaintext image is still read (a store encrypted since) */
    tb__evpart c = {.day = day0()};
    assert_int_equal(tb__evpart_write(dir, NULL, &c, 0, &eb), 0);
    assert_int_equal(tb__evpart_read(dir, &k2, day0(), TB__EVP_PROPS, &p, &eb), 0);
    tb__evpart_release(&p);
    free(b);
    free(b2);
    tb__keyring_free(ring);
    free(kf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_day_math),
        cmocka_unit_test_setup_teardown(test_append_roundtrip, tbt_setup_tmpdir,
                                        tbt_teardown_tmpdir),
        cmocka_unit_test_setup_teardown(test_corrupt, tbt_setup_tmpdir, tbt_teardown_tmpdir),
        cmocka_unit_test_setup_teardown(test_sealed, tbt_setup_tmpdir, tbt_teardown_tmpdir),
        cmocka_unit_test_setup_teardown(test_persons, tbt_setup_tmpdir, tbt_teardown_tmpdir),
        cmocka_unit_test_setup_teardown(test_masks, tbt_setup_tmpdir, tbt_teardown_tmpdir),
        cmocka_unit_test_setup_teardown(test_funnel_brute, tbt_setup_tmpdir, tbt_teardown_tmpdir),
        cmocka_unit_test_setup_teardown(test_paths_retention_counts, tbt_setup_tmpdir,
                                        tbt_teardown_tmpdir),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
