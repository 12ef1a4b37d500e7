/* customer.c — everything one customer index produces: the customer master row(s), the truth,
 * household, accounts and holdings of every business type, transactions, external and model
 * tags. All randomness comes from the customer's own stream (seed, i), so customers can be made
 * in any order or thread; links to other customers use only pure functions of their index. */
#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gen/gen_int.h"

enum { /* salts of the cheap cross-customer decisions */
       SALT_DUP = 0xd0b1,
       SALT_HH = 0x4040,
       SALT_GROUP = 0x6709,
       SALT_GMEM = 0x6e3b,
       SALT_CARDONLY = 0xca0d,
       SALT_DIRT = 0xd127,
};

#define HH_BLOCK    4
#define GROUP_BLOCK 256

typedef struct cust {
    uint64_t i;
    int type;
    char cust_no[13];
    const gen_outlet *ou;
    char mgr[12];
    int has_mgr;
    int open;
    unsigned risk; /* 0..4 = R1..R5 */
    char acct[24]; /* primary demand account */
    int64_t aum;   /* fen */
    int age;
} cust;

static int64_t yuan(double v)
{
    return v < 0.01 ? 1 : (int64_t)llround(v * 100.0);
}

static int add_months(int days, int months)
{
    int y, m, d;
    tb__gen_civil(days, &y, &m, &d);
    int t = y * 12 + (m - 1) + months;
    y = t / 12;
    m = t % 12 + 1;
    static const int md[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int max = md[m - 1] + (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0));
    return tb__gen_days(y, m, d > max ? max : d);
}

static int rand_day(tb__rng *r, int lo, int hi)
{
    return (int)tb__rng_range(r, lo, hi < lo ? lo : hi);
}

/* 20-digit business number: outlet (6) + business digit + the customer number's 11 digits + a
 * 2-digit sequence: unique per customer number, business and sequence. */
static void biz_no(char out[21], const gen_outlet *ou, char biz, const char *cust_no, unsigned seq)
{
    memcpy(out, ou->org_id, 6);
    out[6] = biz;
    memcpy(out + 7, cust_no + 1, 11);
    tb__gen_zpad(out + 18, seq, 2);
    out[20] = '\0';
}

static const gen_outlet *pick_outlet(tb__rng *r, int branch)
{
    if (branch < 0) {
        unsigned cum[GEN_BRANCHES], s = 0;
        for (unsigned b = 0; b < GEN_BRANCHES; b++)
            cum[b] = s += tb__gen_branch_weight[b];
        branch = (int)tb__gen_pick_cum(r, cum, GEN_BRANCHES);
    }
    unsigned k = (unsigned)tb__rng_below(r, GEN_SUBS * GEN_OUTLETS);
    return &tb__gen_outlets[(unsigned)branch * GEN_SUBS * GEN_OUTLETS + k];
}

static int branch_of_region(unsigned region)
{
    for (int b = 0; b < GEN_BRANCHES; b++)
        if (memcmp(tb__gen_branch_prov[b], tb__gen_regions[region].code, 2) == 0) return b;
    return -1;
}

/* Appends s[0, l) to the address being built in out[0, *n) of `cap` bytes, keeping room for the
 * NUL. Text that does not fit is cut at a UTF-8 character boundary and marks the address full,
 * so that nothing is appended after a cut. The callers' buffers hold the longest address the
 * tables can make, so this never cuts in practice; it only keeps a bad table from overflowing. */
static void addr_put(char *out, size_t cap, size_t *n, int *full, const char *s, size_t l)
{
    if (*full) return;
    if (*n + l >= cap) {
        l = cap - 1 - *n;
        while (l > 0 && ((unsigned char)s[l] & 0xC0) == 0x80) /* s[l] continues a character */
            l--;
        *full = 1;
    }
    memcpy(out + *n, s, l);
    *n += l;
}

/* A street address in `region` (province, city, county, road, number), NUL-terminated in `out`
 * of `cap` >= 1 bytes (cut at a character boundary when longer, see addr_put). The random draws
 * are the same whatever `cap` is, so a cut never shifts the rest of the customer's data. */
static void address(tb__rng *r, unsigned region, char *out, size_t cap)
{
    assert(cap > 0);
    const gen_region *g = &tb__gen_regions[region];
    size_t n = 0;
    int full = 0;
    const char *parts[3] = {g->province, g->city, g->county};
    for (int k = 0; k < 3; k++) {
        if (k == 1 && strcmp(g->city, g->province) == 0) continue; /* 北京市北京市 */
        if (k == 2 && strcmp(g->county, g->city) == 0) continue;   /* 东莞市东莞市 */
        addr_put(out, cap, &n, &full, parts[k], strlen(parts[k]));
    }
    const char *road = tb__gen_roads[tb__rng_below(r, tb__gen_nroads)];
    addr_put(out, cap, &n, &full, road, strlen(road));
    char num[TB__U64_DIGITS_MAX];
    addr_put(out, cap, &n, &full, num, tb__u64_digits(1 + tb__rng_below(r, 899), num));
    addr_put(out, cap, &n, &full, "号", strlen("号"));
    if (tb__rng_chance(r, 0.02)) { /* some systems keep "building, room" with an ASCII comma */
        const char *tail = tb__rng_chance(r, 0.5) ? ",3栋1201室" : ",B座808";
        addr_put(out, cap, &n, &full, tail, strlen(tail));
    }
    out[n] = '\0';
}

/* ---- rows shared by all customer types ---------------------------------------------------- */

static void truth_row(gen_chunk *c, const char *system, const char *sys_id, char etype,
                      uint64_t ent)
{
    gen_row r;
    char id[13];
    id[0] = etype == 'P' ? 'P' : 'E';
    tb__gen_zpad(id + 1, ent, 11);
    id[12] = '\0';
    tb__gen_row_begin(&r);
    tb__gen_col_str(&r, system);
    tb__gen_col_str(&r, sys_id);
    tb__gen_col_strn(&r, &etype, 1);
    tb__gen_col_strn(&r, id, 12);
    tb__gen_emit(c, GF_TRUTH, &r);
}

static void deposit_row(gen_chunk *c, const char *acct, const char *cust_no, int time_dep,
                        int64_t bal, int open, int maturity, int term, int rate_bp4,
                        const gen_outlet *ou, tb__rng *r)
{
    gen_row w;
    tb__gen_row_begin(&w);
    tb__gen_col_str(&w, acct);
    tb__gen_col_str(&w, cust_no);
    tb__gen_col_str(&w, time_dep ? "2" : "1");
    tb__gen_col_str(&w, "CNY");
    tb__gen_col_fixed(&w, bal, 2);
    tb__gen_col_date(&w, open);
    if (time_dep) {
        tb__gen_col_date(&w, maturity);
        tb__gen_col_u64(&w, (uint64_t)term);
    } else {
        tb__gen_col_null(&w);
        tb__gen_col_null(&w);
    }
    tb__gen_col_fixed(&w, rate_bp4, 4);
    double u = tb__rng_unit(r);
    tb__gen_col_str(&w, u < 0.985 ? "1" : u < 0.992 ? "2" : "3");
    tb__gen_col_str(&w, ou->org_id);
    tb__gen_emit(c, GF_DEP, &w);
}

static void time_deposits(gen_chunk *c, const cust *cu, int64_t total, tb__rng *r)
{
    static const int terms[] = {3, 6, 12, 24, 36, 60};
    static const int rates[] = {10500, 12500, 13500, 14500, 17500, 18000}; /* % x 10^4 */
    unsigned n = 1 + (unsigned)tb__rng_below(r, 3);
    for (unsigned k = 0; k < n; k++) {
        unsigned t = (unsigned)tb__rng_below(r, 6);
        /* opened within the term so that it matures after the batch date */
        int span = add_months(c->ctx->batch_days, -terms[t]);
        int open = rand_day(r, span + 1, c->ctx->batch_days - 1);
        if (open < cu->open) open = cu->open;
        char acct[21];
        biz_no(acct, cu->ou, '2', cu->cust_no, k);
        int64_t amt = total / n;
        amt -= amt % 100;               /* time deposits are whole yuan */
        if (amt < 500000) amt = 500000; /* 5 000 yuan minimum */
        deposit_row(c, acct, cu->cust_no, 1, amt, open, add_months(open, terms[t]), terms[t],
                    rates[t], cu->ou, r);
    }
}

static void txns(gen_chunk *c, const cust *cu, unsigned n, int corporate, int salary_day,
                 int64_t salary, tb__rng *r)
{
    static const unsigned ch_retail[] = {7, 12, 57, 65, 80, 100}; /* cumulative, channels 01..06 */
    static const unsigned ch_corp[] = {20, 80, 100, 100, 100, 100};
    static const char *const chans[] = {"01", "02", "03", "04", "05", "06"};
    int64_t times[64];
    if (n > 60) n = 60;
    int first = c->ctx->batch_days - 29;
    for (unsigned k = 0; k < n; k++) {
        /* waking hours are busier: hour 8..22 with a small night tail */
        int h = tb__rng_chance(r, 0.94) ? 8 + (int)tb__rng_below(r, 15) : (int)tb__rng_below(r, 8);
        times[k] = (int64_t)rand_day(r, first, c->ctx->batch_days) * 86400 + h * 3600 +
                   (int64_t)tb__rng_below(r, 3600);
    }
    for (unsigned a = 1; a < n; a++) /* insertion sort: n is small */
        for (unsigned b = a; b > 0 && times[b - 1] > times[b]; b--) {
            int64_t t = times[b];
            times[b] = times[b - 1];
            times[b - 1] = t;
        }
    unsigned seq = 0;
    char id[23];
    tb__gen_zpad(id, (uint64_t)c->ctx->o.batch_date, 8);
    memcpy(id + 8, cu->cust_no + 1, 11);
    id[22] = '\0';
    /* the monthly salary credit, when a pay day falls in the window */
    int pay = -1;
    if (salary_day > 0) {
        int y, m, d;
        tb__gen_civil(c->ctx->batch_days, &y, &m, &d);
        pay = tb__gen_days(y, m, salary_day);
        if (pay > c->ctx->batch_days) pay = add_months(pay, -1);
        if (pay < first) pay = -1;
    }
    for (unsigned k = 0; k <= n; k++) {
        gen_row w;
        int is_pay = 0;
        int64_t t;
        if (k == n) {
            if (pay < 0) break;
            is_pay = 1;
            t = (int64_t)pay * 86400 + 9 * 3600 + (int64_t)tb__rng_below(r, 7200);
        } else {
            t = times[k];
        }
        tb__gen_zpad(id + 19, seq++, 3);
        tb__gen_row_begin(&w);
        tb__gen_col_strn(&w, id, 22);
        tb__gen_col_ts(&w, t);
        tb__gen_col_str(&w, cu->cust_no);
        tb__gen_col_str(&w, cu->acct);
        unsigned ch = tb__gen_pick_cum(r, corporate ? ch_corp : ch_retail, 6);
        int credit;
        const char *type, *summary;
        int64_t amt;
        const char *cp = NULL;
        char cpbuf[64];
        if (is_pay) {
            ch = 1;
            credit = 1;
            type = "110";
            summary = "工资";
            amt = salary;
        } else if (ch == 3) { /* ATM */
            credit = tb__rng_chance(r, 0.2);
            type = credit ? "300" : "310";
            summary = credit ? "存现" : "取现";
            amt = 100 * 100 * (1 + (int64_t)tb__rng_below(r, 30));
        } else if (ch == 4) { /* POS */
            credit = 0;
            type = "200";
            summary = "消费";
            amt = yuan(tb__rng_lognormal(r, 120, 1.1));
            snprintf(cpbuf, sizeof cpbuf, "%s%s", tb__gen_brand[tb__rng_below(r, tb__gen_nbrand)],
                     tb__gen_shop[tb__rng_below(r, tb__gen_nshop)]);
            cp = cpbuf;
        } else if (ch == 5) {
            credit = tb__rng_chance(r, 0.1);
            type = "210";
            summary = credit ? "退款" : "快捷支付";
            amt = yuan(tb__rng_lognormal(r, 80, 1.2));
            cp = tb__rng_chance(r, 0.6) ? "支付宝" : "财付通";
        } else {
            credit = tb__rng_chance(r, 0.4);
            type = "100";
            summary = credit ? "转入" : "转账";
            amt = yuan(tb__rng_lognormal(r, corporate ? 30000 : 600, 1.4));
            gen_person o;
            o.male = tb__rng_chance(r, 0.5);
            tb__gen_person_name(r, &o);
            memcpy(cpbuf, o.name, sizeof o.name);
            cp = cpbuf;
            if (tb__rng_chance(r, 0.03))
                summary = tb__rng_chance(r, 0.5) ? "房租,押金" : "备注\"还款\"";
        }
        tb__gen_col_str(&w, credit ? "C" : "D");
        tb__gen_col_fixed(&w, amt, 2);
        tb__gen_col_str(&w, chans[ch]);
        tb__gen_col_str(&w, type);
        if (cp)
            tb__gen_col_str(&w, cp);
        else
            tb__gen_col_null(&w);
        tb__gen_col_str(&w, summary);
        tb__gen_emit(c, GF_TXN, &w);
    }
}

/* Five-level classification and overdue days that agree with each other. */
static void loan_quality(tb__rng *r, unsigned *cls, unsigned *overdue)
{
    double u = tb__rng_unit(r);
    if (u < 0.92) {
        *cls = 1;
        *overdue = tb__rng_chance(r, 0.03) ? 1 + (unsigned)tb__rng_below(r, 29) : 0;
    } else if (u < 0.965) {
        *cls = 2;
        *overdue = (unsigned)tb__rng_below(r, 91);
    } else if (u < 0.98) {
        *cls = 3;
        *overdue = 91 + (unsigned)tb__rng_below(r, 90);
    } else if (u < 0.99) {
        *cls = 4;
        *overdue = 181 + (unsigned)tb__rng_below(r, 180);
    } else {
        *cls = 5;
        *overdue = 361 + (unsigned)tb__rng_below(r, 700);
    }
}

static void loan(gen_chunk *c, const cust *cu, unsigned seq, const char *type, double median,
                 int years_lo, int years_hi, int rate_lo, int rate_hi, const char *guar, tb__rng *r)
{
    gen_row w;
    char no[21];
    biz_no(no, cu->ou, '3', cu->cust_no, seq);
    int64_t contract = yuan(tb__rng_lognormal(r, median, 0.7));
    contract -= contract % 100000; /* whole thousands */
    if (contract < 100000) contract = 100000;
    int years = (int)tb__rng_range(r, years_lo, years_hi);
    int start = rand_day(r, c->ctx->batch_days - years * 365 + 30, c->ctx->batch_days - 1);
    if (start < cu->open) start = cu->open;
    int maturity = add_months(start, years * 12);
    double left = (double)(maturity - c->ctx->batch_days) / (double)(maturity - start);
    if (left < 0.02) left = 0.02;
    unsigned cls, overdue;
    loan_quality(r, &cls, &overdue);
    tb__gen_row_begin(&w);
    tb__gen_col_str(&w, no);
    tb__gen_col_str(&w, cu->cust_no);
    tb__gen_col_str(&w, type);
    tb__gen_col_fixed(&w, contract, 2);
    tb__gen_col_fixed(&w, (int64_t)((double)contract * left), 2);
    tb__gen_col_fixed(&w, (int64_t)tb__rng_range(r, rate_lo, rate_hi) * 100, 4);
    tb__gen_col_date(&w, start);
    tb__gen_col_date(&w, maturity);
    tb__gen_col_u64(&w, cls);
    tb__gen_col_u64(&w, overdue);
    tb__gen_col_str(&w, guar);
    tb__gen_col_str(&w, cu->ou->org_id);
    tb__gen_emit(c, GF_LOAN, &w);
}

static void court(gen_chunk *c, const char *id_type, const char *id_no, const char *name,
                  unsigned region, tb__rng *r)
{
    gen_row w;
    int filing = rand_day(r, c->ctx->batch_days - 5 * 365, c->ctx->batch_days - 1);
    int y, m, d;
    tb__gen_civil(filing, &y, &m, &d);
    char caseno[64];
    snprintf(caseno, sizeof caseno, "(%d)%s%.4s执%u号", y, tb__gen_plate_prefix(region),
             tb__gen_regions[region].code + 2, 100 + (unsigned)tb__rng_below(r, 9900));
    tb__gen_row_begin(&w);
    tb__gen_col_str(&w, id_type);
    tb__gen_col_str(&w, id_no);
    tb__gen_col_str(&w, name);
    tb__gen_col_str(&w, caseno);
    double u = tb__rng_unit(r);
    tb__gen_col_str(&w, u < 0.6 ? "01" : u < 0.85 ? "02" : "03");
    tb__gen_col_date(&w, filing);
    tb__gen_col_fixed(&w, yuan(tb__rng_lognormal(r, 50000, 1.3)), 2);
    tb__gen_col_str(&w, tb__rng_chance(r, 0.7) ? "1" : "2");
    tb__gen_emit(c, GF_COURT, &w);
}

/* The customer-master row (both person and company). */
static void cust_row(gen_chunk *c, const cust *cu, const char *name, int person, const char *id_no,
                     const gen_person *p, const char *mobile, unsigned region, const char *addr,
                     unsigned occupation, int industry, const char *group_id, tb__rng *r)
{
    gen_row w;
    tb__gen_row_begin(&w);
    tb__gen_col_str(&w, cu->cust_no);
    tb__gen_col_u64(&w, (uint64_t)cu->type);
    tb__gen_col_str(&w, name);
    tb__gen_col_str(&w, person ? "101" : "201");
    tb__gen_col_str(&w, id_no);
    if (person) {
        tb__gen_col_str(&w, p->male ? "1" : "2");
        tb__gen_col_date(&w, p->birth);
    } else {
        tb__gen_col_null(&w);
        tb__gen_col_null(&w);
    }
    tb__gen_col_str(&w, mobile);
    tb__gen_col_str(&w, tb__gen_ct_province.codes[tb__gen_province_of(region)]);
    tb__gen_col_str(&w, tb__gen_ct_city.codes[tb__gen_city_of(region)]);
    tb__gen_col_str(&w, addr);
    if (person)
        tb__gen_col_u64(&w, occupation + 1);
    else
        tb__gen_col_null(&w);
    if (industry >= 0)
        tb__gen_col_str(&w, tb__gen_ct_industry.codes[industry]);
    else
        tb__gen_col_null(&w);
    tb__gen_col_str(&w, tb__gen_ct_risk.codes[cu->risk]);
    tb__gen_col_str(&w, cu->ou->org_id);
    if (cu->has_mgr)
        tb__gen_col_str(&w, cu->mgr);
    else
        tb__gen_col_null(&w);
    tb__gen_col_date(&w, cu->open);
    if (group_id)
        tb__gen_col_str(&w, group_id);
    else
        tb__gen_col_null(&w);
    double u = tb__rng_unit(r);
    tb__gen_col_str(&w, u < 0.97 ? "1" : u < 0.98 ? "2" : "3");
    tb__gen_emit(c, GF_CUST, &w);
}

static void set_mgr(cust *cu, tb__rng *r, double p, int corporate)
{
    cu->has_mgr = tb__rng_chance(r, p);
    if (!cu->has_mgr) return;
    cu->mgr[0] = 'M';
    memcpy(cu->mgr + 1, cu->ou->org_id, 6);
    /* managers 00..01 serve companies, 02..03 persons */
    tb__gen_zpad(cu->mgr + 7, (corporate ? 0 : 2) + tb__rng_below(r, 2), 2);
    cu->mgr[9] = '\0';
}

/* ---- retail -------------------------------------------------------------------------------- */

static void household(gen_chunk *c, const cust *cu, const gen_person *self)
{
    const gen_ctx *x = c->ctx;
    uint64_t h = cu->i / HH_BLOCK;
    if (tb__gen_hash_unit(x, SALT_HH, h) >= 0.45) return;
    uint64_t lo = h * HH_BLOCK, hi = lo + HH_BLOCK;
    if (hi > x->o.customers) hi = x->o.customers;
    uint64_t mem[HH_BLOCK];
    gen_person ps[HH_BLOCK];
    unsigned n = 0, me = 0, head = 0;
    for (uint64_t j = lo; j < hi; j++) {
        if (tb__gen_cust_type(x, j) != 1) continue;
        if (j == cu->i) me = n;
        mem[n] = j;
        tb__gen_person_ident(x, 2 * j, &ps[n]);
        if (n && ps[n].birth < ps[head].birth) head = n;
        n++;
    }
    if (n < 2) return;
    /* relations follow ages: the oldest is the head, an opposite-gender peer the spouse,
     * members 18+ years younger children, anyone else another relative */
    int spouse = -1;
    for (unsigned k = 0; k < n; k++) {
        if (k == head) continue;
        if (ps[k].male != ps[head].male && abs(ps[k].birth - ps[head].birth) < 12 * 365) {
            spouse = (int)k;
            break;
        }
    }
    const char *rel;
    if (me == head)
        rel = "01";
    else if ((int)me == spouse)
        rel = "02";
    else if (self->birth - ps[head].birth >= 18 * 365)
        rel = "03";
    else
        rel = "09";
    char hid[11], head_no[13];
    hid[0] = 'H';
    tb__gen_zpad(hid + 1, h, 9);
    hid[10] = '\0';
    tb__gen_cust_no(x, mem[head], head_no);
    gen_row w;
    tb__gen_row_begin(&w);
    tb__gen_col_str(&w, hid);
    tb__gen_col_str(&w, cu->cust_no);
    tb__gen_col_str(&w, rel);
    tb__gen_col_str(&w, head_no);
    tb__gen_emit(c, GF_HOUSEHOLD, &w);
    if (me == head) c->st.households++;
}

/* Cards of person p (px) in the card system, with its own customer number. */
static void cards(gen_chunk *c, const gen_person *p, const gen_outlet *ou, int open_min,
                  int64_t income, tb__rng *r)
{
    const gen_ctx *x = c->ctx;
    char ccn[14];
    tb__gen_card_cust_no(x, p->x, ccn);
    /* the card system sometimes keeps an older mobile than the core system */
    char mobile[12];
    if (tb__rng_chance(r, 0.03))
        tb__gen_mobile(x, 2 * TB__GEN_MAX_CUSTOMERS + p->x, mobile);
    else
        memcpy(mobile, p->mobile, 12);
    unsigned n = tb__rng_chance(r, 0.75) ? 1 : tb__rng_chance(r, 0.8) ? 2 : 3;
    for (unsigned k = 0; k < n; k++) {
        gen_row w;
        char no[17];
        unsigned prod =
            income > 5000000 ? 2 + (unsigned)tb__rng_below(r, 2) : (unsigned)tb__rng_below(r, 3);
        tb__gen_card_no(x, p->x, k, tb__gen_card_bins[tb__rng_below(r, tb__gen_ncard_bins)], no);
        static const int64_t limits[] = {800000, 2000000, 5000000, 10000000};
        int64_t limit = limits[prod] * (1 + (int64_t)tb__rng_below(r, 5)) / 2;
        int open =
            rand_day(r, open_min > x->batch_days - 12 * 365 ? open_min : x->batch_days - 12 * 365,
                     x->batch_days - 1);
        int y, m, d;
        tb__gen_civil(add_months(open, 60), &y, &m, &d);
        int expire = add_months(tb__gen_days(y, m, 1), 1) - 1;
        double u = tb__rng_unit(r);
        const char *status = u < 0.93 ? "N" : u < 0.96 ? "F" : u < 0.975 ? "L" : "C";
        tb__gen_row_begin(&w);
        tb__gen_col_str(&w, no);
        tb__gen_col_str(&w, ccn);
        tb__gen_col_str(&w, "101");
        tb__gen_col_str(&w, p->id_no);
        tb__gen_col_str(&w, p->name);
        tb__gen_col_str(&w, mobile);
        tb__gen_col_str(&w, tb__gen_ct_card_product.codes[prod]);
        tb__gen_col_fixed(&w, limit, 2);
        tb__gen_col_fixed(&w, (int64_t)((double)limit * tb__rng_unit(r) * tb__rng_unit(r)), 2);
        tb__gen_col_str(&w, status);
        tb__gen_col_date(&w, open);
        tb__gen_col_date(&w, expire);
        tb__gen_emit(c, GF_CARD, &w);
    }
    (void)ou;
    truth_row(c, "CARD", ccn, 'P', p->x);
    c->st.card_holders++;
}

static void retail(gen_chunk *c, cust *cu, tb__rng *r)
{
    const gen_ctx *x = c->ctx;
    gen_person p;
    tb__gen_person_ident(x, 2 * cu->i, &p);
    tb__gen_person_name(r, &p);
    int b = branch_of_region(p.region);
    cu->ou = pick_outlet(r, b >= 0 && tb__rng_chance(r, 0.8) ? b : -1);
    int by, bm, bd;
    tb__gen_civil(p.birth, &by, &bm, &bd);
    cu->age = x->batch_year - by;
    int adult = add_months(p.birth, 18 * 12);
    int lo = adult > x->batch_days - 20 * 365 ? adult : x->batch_days - 20 * 365;
    cu->open = rand_day(r, lo, x->batch_days - 1);
    set_mgr(cu, r, 0.85, 0);
    static const unsigned risk_cum[] = {20, 55, 85, 95, 100};
    cu->risk = tb__gen_pick_cum(r, risk_cum, 5);
    static const unsigned occ_cum[] = {3, 21, 39, 64, 69, 84, 85, 92, 100};
    unsigned occ = cu->age >= 60 ? 8 : tb__gen_pick_cum(r, occ_cum, 9);
    char addr[160];
    address(r, cu->ou->region, addr, sizeof addr);
    /* wealth: log-normal, a thin tail of the very rich */
    double wealth = tb__rng_lognormal(r, 20000, 1.6);
    if (tb__rng_chance(r, 0.003)) wealth *= 20;
    cu->aum = yuan(wealth);
    biz_no(cu->acct, cu->ou, '1', cu->cust_no, 0);

    cust_row(c, cu, p.name, 1, p.id_no, &p, p.mobile, cu->ou->region, addr, occ, -1, NULL, r);
    truth_row(c, "CORE", cu->cust_no, 'P', p.x);

    /* a second core customer number opened at another branch: identity resolution must merge */
    if (tb__gen_hash_unit(x, SALT_DUP, cu->i) < 0.005) {
        cust dup = *cu;
        tb__gen_cust_no(x, cu->i + TB__GEN_MAX_CUSTOMERS, dup.cust_no);
        dup.ou = pick_outlet(r, -1);
        dup.has_mgr = 0;
        dup.open = rand_day(r, lo, x->batch_days - 1);
        char mobile[12], addr2[160];
        if (tb__rng_chance(r, 0.3))
            tb__gen_mobile(x, 2 * TB__GEN_MAX_CUSTOMERS + p.x, mobile); /* an older number */
        else
            memcpy(mobile, p.mobile, 12);
        address(r, dup.ou->region, addr2, sizeof addr2);
        cust_row(c, &dup, p.name, 1, p.id_no, &p, mobile, dup.ou->region, addr2, occ, -1, NULL, r);
        truth_row(c, "CORE", dup.cust_no, 'P', p.x);
        char acct[21];
        biz_no(acct, dup.ou, '1', dup.cust_no, 0);
        deposit_row(c, acct, dup.cust_no, 0, yuan(tb__rng_lognormal(r, 300, 1.5)), dup.open, 0, 0,
                    1000, dup.ou, r);
        c->st.dup_persons++;
        c->st.core_records++;
    }

    household(c, cu, &p);

    /* deposits: the wealth split across products */
    int64_t rest = cu->aum;
    int rich = cu->aum > 50000000;
    int64_t time_amt = 0, wm_amt = 0, fund_amt = 0, metal_amt = 0;
    if (tb__rng_chance(r, rich ? 0.7 : 0.33))
        time_amt = rest * (20 + (int64_t)tb__rng_below(r, 40)) / 100;
    rest -= time_amt;
    if (tb__rng_chance(r, rich ? 0.6 : 0.13))
        wm_amt = rest * (20 + (int64_t)tb__rng_below(r, 40)) / 100;
    rest -= wm_amt;
    if (tb__rng_chance(r, rich ? 0.4 : 0.13))
        fund_amt = rest * (10 + (int64_t)tb__rng_below(r, 40)) / 100;
    rest -= fund_amt;
    if (tb__rng_chance(r, 0.04)) metal_amt = rest * (5 + (int64_t)tb__rng_below(r, 20)) / 100;
    rest -= metal_amt;
    deposit_row(c, cu->acct, cu->cust_no, 0, rest, cu->open, 0, 0, 1000, cu->ou, r);
    if (tb__rng_chance(r, 0.2)) {
        char acct[21];
        biz_no(acct, cu->ou, '1', cu->cust_no, 1);
        deposit_row(c, acct, cu->cust_no, 0, yuan(tb__rng_lognormal(r, 500, 1.5)),
                    rand_day(r, cu->open, x->batch_days - 1), 0, 0, 1000, cu->ou, r);
    }
    if (time_amt) time_deposits(c, cu, time_amt, r);

    /* loans */
    double ploan = cu->age >= 25 && cu->age <= 55 ? 0.22 : 0.06;
    if (tb__rng_chance(r, ploan)) {
        unsigned k = (unsigned)tb__rng_below(r, 10);
        if (k < 4)
            loan(c, cu, 0, "01", 900000, 15, 30, 310, 420, "3", r);
        else if (k < 8)
            loan(c, cu, 0, "02", 60000, 1, 5, 350, 800, "1", r);
        else if (k < 9)
            loan(c, cu, 0, "03", 300000, 1, 3, 320, 500, "2", r);
        else
            loan(c, cu, 0, "04", 120000, 1, 5, 400, 600, "4", r);
    }

    /* credit cards, and now and then a card-only companion the core system does not know */
    int64_t income = yuan(tb__rng_lognormal(r, 6000, 0.6));
    if (tb__rng_chance(r, cu->age < 60 ? 0.38 : 0.12)) cards(c, &p, cu->ou, cu->open, income, r);
    if (tb__gen_hash_unit(x, SALT_CARDONLY, cu->i) < 0.02) {
        gen_person q;
        tb__gen_person_ident(x, 2 * cu->i + 1, &q);
        tb__gen_person_name(r, &q);
        cards(c, &q, cu->ou, add_months(q.birth, 18 * 12), income, r);
        c->st.card_only++;
    }

    /* wealth management, funds, insurance, precious metals */
    if (wm_amt) {
        unsigned n = 1 + (unsigned)tb__rng_below(r, 2);
        for (unsigned k = 0; k < n; k++) {
            gen_row w;
            char id[21];
            biz_no(id, cu->ou, '4', cu->cust_no, k);
            /* suitability: a product's risk never exceeds the customer's */
            unsigned prod;
            do
                prod = (unsigned)tb__rng_below(r, tb__gen_ct_wm_product.n);
            while (tb__gen_wm_risk[prod] > cu->risk + 1);
            int buy = rand_day(r, x->batch_days - 700, x->batch_days - 1);
            if (buy < cu->open) buy = cu->open;
            tb__gen_row_begin(&w);
            tb__gen_col_str(&w, id);
            tb__gen_col_str(&w, cu->cust_no);
            tb__gen_col_str(&w, tb__gen_ct_wm_product.codes[prod]);
            tb__gen_col_str(&w, tb__gen_ct_risk.codes[tb__gen_wm_risk[prod] - 1]);
            int64_t amt = wm_amt / n;
            tb__gen_col_fixed(&w, amt < 100000 ? 100000 : amt, 2);
            tb__gen_col_date(&w, buy);
            if (prod < 2)
                tb__gen_col_null(&w);
            else
                tb__gen_col_date(&w, x->batch_days + 1 + (int)tb__rng_below(r, 700));
            tb__gen_col_str(&w, cu->ou->org_id);
            tb__gen_emit(c, GF_WEALTH, &w);
        }
    }
    if (fund_amt) {
        unsigned n = 1 + (unsigned)tb__rng_below(r, 3);
        for (unsigned k = 0; k < n; k++) {
            gen_row w;
            char id[21];
            biz_no(id, cu->ou, '5', cu->cust_no, k);
            unsigned f = (unsigned)tb__rng_below(r, tb__gen_ct_fund.n);
            int64_t mv = fund_amt / n;
            if (mv < 10000) mv = 10000;
            int64_t nav = tb__gen_fund_nav[f];
            int64_t shares = mv * 10000 / nav; /* fen of shares = 0.01 share units */
            int buy = rand_day(r, x->batch_days - 5 * 365, x->batch_days - 1);
            if (buy < cu->open) buy = cu->open;
            tb__gen_row_begin(&w);
            tb__gen_col_str(&w, id);
            tb__gen_col_str(&w, cu->cust_no);
            tb__gen_col_str(&w, tb__gen_ct_fund.codes[f]);
            tb__gen_col_fixed(&w, shares, 2);
            tb__gen_col_fixed(&w, nav, 4);
            tb__gen_col_fixed(&w, shares * nav / 10000, 2);
            tb__gen_col_date(&w, buy);
            tb__gen_emit(c, GF_FUND, &w);
        }
    }
    if (tb__rng_chance(r, cu->age >= 30 ? 0.09 : 0.03)) {
        gen_row w;
        char id[21];
        biz_no(id, cu->ou, '6', cu->cust_no, 0);
        unsigned t = (unsigned)tb__rng_below(r, 5);
        int64_t prem = yuan(tb__rng_lognormal(r, t == 3 ? 300 : 8000, 0.8));
        int start = rand_day(r, x->batch_days - 8 * 365, x->batch_days - 1);
        static const unsigned pay_years[] = {20, 10, 20, 1, 1};
        static const int mult[] = {40, 12, 30, 500, 200};
        tb__gen_row_begin(&w);
        tb__gen_col_str(&w, id);
        tb__gen_col_str(&w, cu->cust_no);
        tb__gen_col_str(&w, tb__gen_ct_ins_type.codes[t]);
        tb__gen_col_str(&w, tb__gen_ct_insurer.codes[tb__rng_below(r, tb__gen_ct_insurer.n)]);
        tb__gen_col_fixed(&w, prem, 2);
        tb__gen_col_fixed(&w, prem * mult[t], 2);
        tb__gen_col_u64(&w, pay_years[t]);
        tb__gen_col_date(&w, start);
        if (t == 0)
            tb__gen_col_null(&w);
        else
            tb__gen_col_date(&w, add_months(start, t == 1 ? 240 : t == 2 ? 360 : 12));
        tb__gen_emit(c, GF_INS, &w);
    }
    if (metal_amt) {
        gen_row w;
        char id[21];
        biz_no(id, cu->ou, '7', cu->cust_no, 0);
        static const int64_t price[] = {56000, 55800, 750, 23000}; /* fen per gram */
        unsigned m = tb__rng_chance(r, 0.8) ? 0 : 1 + (unsigned)tb__rng_below(r, 3);
        int64_t grams = metal_amt * 100 / price[m]; /* in 0.01 g */
        if (grams < 100) grams = 100;
        tb__gen_row_begin(&w);
        tb__gen_col_str(&w, id);
        tb__gen_col_str(&w, cu->cust_no);
        tb__gen_col_str(&w, tb__gen_ct_metal.codes[m]);
        tb__gen_col_fixed(&w, grams, 2);
        tb__gen_col_fixed(&w, grams * price[m] / 100, 2);
        tb__gen_col_date(&w, rand_day(r, cu->open, x->batch_days - 1));
        tb__gen_emit(c, GF_METAL, &w);
    }

    /* payroll: employees of a nearby corporate customer */
    int salary_day = 0;
    if (cu->age < 60 && tb__rng_chance(r, 0.35)) {
        uint64_t e = cu->i;
        unsigned steps = 0;
        while (e > 0 && steps < 300) {
            e--;
            steps++;
            if (tb__gen_cust_type(x, e) == 2) break;
        }
        if (steps && tb__gen_cust_type(x, e) == 2 && e != cu->i) {
            gen_row w;
            char emp[13];
            tb__gen_cust_no(x, e, emp);
            salary_day = 5 + (int)(tb__mix64(e) % 20);
            int y, m, d;
            tb__gen_civil(x->batch_days, &y, &m, &d);
            int last = tb__gen_days(y, m, salary_day);
            if (last > x->batch_days) last = add_months(last, -1);
            tb__gen_row_begin(&w);
            tb__gen_col_str(&w, cu->cust_no);
            tb__gen_col_str(&w, emp);
            tb__gen_col_str(&w, cu->acct);
            tb__gen_col_fixed(&w, income, 2);
            tb__gen_col_u64(&w, 1 + tb__rng_below(r, 12));
            tb__gen_col_date(&w, last);
            tb__gen_emit(c, GF_PAYROLL, &w);
        }
    }

    /* ETC */
    if (tb__rng_chance(r, cu->age >= 25 && cu->age < 65 ? 0.15 : 0.03)) {
        gen_row w;
        char id[21], plate[32];
        biz_no(id, cu->ou, '8', cu->cust_no, 0);
        static const char letters[] = "ABCDEFGHJKLMNPQRSTUVWXYZ0123456789";
        size_t n =
            (size_t)snprintf(plate, sizeof plate, "%s%c", tb__gen_plate_prefix(cu->ou->region),
                             "ABCDEFGH"[tb__rng_below(r, 8)]);
        for (int k = 0; k < 5; k++)
            plate[n++] = letters[tb__rng_below(r, 34)];
        plate[n] = '\0';
        tb__gen_row_begin(&w);
        tb__gen_col_str(&w, id);
        tb__gen_col_str(&w, cu->cust_no);
        tb__gen_col_str(&w, plate);
        tb__gen_col_str(&w, tb__rng_chance(r, 0.9) ? "1" : "2");
        tb__gen_col_str(&w, cu->acct);
        tb__gen_col_date(&w, rand_day(r, cu->open, x->batch_days - 1));
        tb__gen_col_str(&w, tb__rng_chance(r, 0.95) ? "1" : tb__rng_chance(r, 0.5) ? "2" : "3");
        tb__gen_emit(c, GF_ETC, &w);
    }

    /* transactions of the last 30 days */
    unsigned ntx = 0;
    if (tb__rng_chance(r, 0.8)) {
        ntx = 1;
        while (tb__rng_chance(r, 0.85) && ntx < 40)
            ntx++;
    }
    txns(c, cu, ntx, 0, salary_day, income, r);

    /* mobile-banking events */
    if (cu->age < 75 && tb__rng_chance(r, 0.45)) tb__gen_events(c, cu->i, &p, r);

    /* model scores */
    {
        gen_row w;
        tb__gen_row_begin(&w);
        tb__gen_col_str(&w, cu->cust_no);
        double churn = 1.0 / (1.0 + exp(2.0 + (ntx ? 0.8 : -1.2) + tb__rng_normal(r)));
        double fundp = 1.0 / (1.0 + exp(2.5 - (fund_amt ? 1.5 : 0) + tb__rng_normal(r)));
        double loanp = 1.0 / (1.0 + exp(2.2 - (cu->age < 40 ? 0.8 : 0) + tb__rng_normal(r)));
        double cardp = 1.0 / (1.0 + exp(2.0 + tb__rng_normal(r)));
        tb__gen_col_fixed(&w, llround(churn * 10000), 4);
        tb__gen_col_fixed(&w, llround(fundp * 10000), 4);
        tb__gen_col_fixed(&w, llround(loanp * 10000), 4);
        tb__gen_col_fixed(&w, llround(cardp * 10000), 4);
        tb__gen_col_str(&w, "v2.3");
        tb__gen_col_date(&w, x->batch_days);
        tb__gen_emit(c, GF_MODEL, &w);
    }

    if (tb__rng_chance(r, 0.008)) court(c, "101", p.id_no, p.name, p.region, r);
    c->st.retail++;
}

/* ---- corporates and merchants ------------------------------------------------------------- */

static int group_member(const gen_ctx *x, uint64_t j)
{
    return tb__gen_cust_type(x, j) == 2 && tb__gen_hash_unit(x, SALT_GMEM, j) < 0.35;
}

static void company(gen_chunk *c, cust *cu, tb__rng *r)
{
    const gen_ctx *x = c->ctx;
    int merchant = cu->type == 3;
    cu->ou = pick_outlet(r, -1);
    gen_company co;
    tb__gen_company(x, cu->i, merchant, cu->ou->region, r, &co);
    cu->open = rand_day(r, co.est > x->batch_days - 20 * 365 ? co.est : x->batch_days - 20 * 365,
                        x->batch_days - 1);
    set_mgr(cu, r, merchant ? 0.7 : 1.0, 1);
    static const unsigned risk_cum[] = {10, 40, 80, 95, 100};
    cu->risk = tb__gen_pick_cum(r, risk_cum, 5);
    char addr[160];
    address(r, cu->ou->region, addr, sizeof addr);
    cu->aum = yuan(tb__rng_lognormal(r, merchant ? 30000 : 300000, 1.8));
    biz_no(cu->acct, cu->ou, '1', cu->cust_no, 0);

    /* corporate groups: members of a block of indices; the first member heads the group */
    char gid[10];
    const char *group = NULL;
    if (!merchant && group_member(x, cu->i)) {
        uint64_t g = cu->i / GROUP_BLOCK, lo = g * GROUP_BLOCK, hi = lo + GROUP_BLOCK;
        if (hi > x->o.customers) hi = x->o.customers;
        if (tb__gen_hash_unit(x, SALT_GROUP, g) < 0.5) {
            uint64_t first = hi, count = 0;
            for (uint64_t j = lo; j < hi; j++)
                if (group_member(x, j)) {
                    if (first == hi) first = j;
                    count++;
                }
            if (count >= 2) {
                gid[0] = 'G';
                tb__gen_zpad(gid + 1, g, 8);
                gid[9] = '\0';
                group = gid;
                if (first == cu->i) {
                    gen_row gw;
                    char name[64];
                    snprintf(name, sizeof name, "%s集团", co.brand);
                    tb__gen_row_begin(&gw);
                    tb__gen_col_str(&gw, gid);
                    tb__gen_col_str(&gw, name);
                    tb__gen_col_str(&gw, cu->cust_no);
                    tb__gen_col_u64(&gw, count);
                    tb__gen_col_str(&gw, tb__gen_ct_industry.codes[co.industry]);
                    tb__gen_emit(c, GF_GROUP, &gw);
                    c->st.groups++;
                }
            }
        }
    }

    cust_row(c, cu, co.name, 0, co.uscc, NULL, co.mobile, cu->ou->region, addr, 0, (int)co.industry,
             group, r);
    truth_row(c, "CORE", cu->cust_no, 'C', cu->i);

    /* business registration (external, keyed by credit code) */
    {
        gen_row b;
        tb__gen_row_begin(&b);
        tb__gen_col_str(&b, co.uscc);
        tb__gen_col_str(&b, co.name);
        tb__gen_col_str(&b, merchant ? "9100" : tb__rng_chance(r, 0.2) ? "1200" : "1100");
        double u = tb__rng_unit(r);
        tb__gen_col_str(&b, u < 0.6 ? "1" : u < 0.97 ? "2" : u < 0.99 ? "3" : "4");
        tb__gen_col_date(&b, co.est);
        int64_t cap = merchant ? 100 * (1 + (int64_t)tb__rng_below(r, 50))
                               : yuan(tb__rng_lognormal(r, 500, 1.2)) / 100 * 100;
        tb__gen_col_fixed(&b, cap < 100 ? 100 : cap, 2);
        tb__gen_col_str(&b, co.legal_rep);
        tb__gen_col_str(&b, tb__gen_ct_industry.codes[co.industry]);
        tb__gen_col_str(&b, tb__gen_regions[co.region].code);
        tb__gen_col_str(&b, tb__rng_chance(r, 0.04) ? "1" : "0");
        tb__gen_emit(c, GF_BIZREG, &b);
    }

    int64_t time_amt = tb__rng_chance(r, 0.25) ? cu->aum * 40 / 100 : 0;
    deposit_row(c, cu->acct, cu->cust_no, 0, cu->aum - time_amt, cu->open, 0, 0, 3500, cu->ou, r);
    unsigned nd = merchant ? 0 : (unsigned)tb__rng_below(r, 3);
    for (unsigned k = 0; k < nd; k++) {
        char acct[21];
        biz_no(acct, cu->ou, '1', cu->cust_no, k + 1);
        deposit_row(c, acct, cu->cust_no, 0, yuan(tb__rng_lognormal(r, 50000, 1.5)),
                    rand_day(r, cu->open, x->batch_days - 1), 0, 0, 3500, cu->ou, r);
    }
    if (time_amt) time_deposits(c, cu, time_amt, r);

    if (merchant) {
        if (tb__rng_chance(r, 0.25)) loan(c, cu, 0, "14", 300000, 1, 3, 350, 600, "2", r);
    } else if (tb__rng_chance(r, 0.4)) {
        unsigned n = 1 + (unsigned)tb__rng_below(r, 2);
        for (unsigned k = 0; k < n; k++) {
            unsigned t = (unsigned)tb__rng_below(r, 3);
            static const char *const types[] = {"11", "12", "13"};
            static const char *const guar[] = {"2", "3", "4"};
            loan(c, cu, k, types[t], t == 1 ? 20000000 : 3000000, 1, t == 1 ? 8 : 3, 280, 480,
                 guar[tb__rng_below(r, 3)], r);
        }
    }

    unsigned ntx = 1;
    double more = merchant ? 0.975 : 0.96;
    while (tb__rng_chance(r, more) && ntx < 60)
        ntx++;
    txns(c, cu, ntx, !merchant, 0, 0, r);

    if (tb__rng_chance(r, 0.02)) court(c, "201", co.uscc, co.name, co.region, r);
    if (merchant)
        c->st.merchant++;
    else
        c->st.corporate++;
}

void tb__gen_customer(gen_chunk *c, uint64_t i)
{
    tb__rng r;
    tb__rng_seed(&r, c->ctx->o.seed, i);
    tb__rng_seed(&c->dirt, c->ctx->o.seed ^ SALT_DIRT, i);
    cust cu;
    memset(&cu, 0, sizeof cu);
    cu.i = i;
    cu.type = tb__gen_cust_type(c->ctx, i);
    tb__gen_cust_no(c->ctx, i, cu.cust_no);
    c->st.core_records++;
    if (cu.type == 1)
        retail(c, &cu, &r);
    else
        company(c, &cu, &r);
}
