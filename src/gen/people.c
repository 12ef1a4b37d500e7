/* people.c — persons and companies of the synthetic bank: unique identifiers by construction
 * (ID numbers, mobiles, credit codes, customer numbers), names, and calendar arithmetic. */
#include <stdlib.h>
#include <string.h>

#include "gen/gen_int.h"

/* Days since 1970-01-01 of a civil date (H. Hinnant's algorithm): exact for any year we use. */
int tb__gen_days(int y, int m, int d)
{
    y -= m <= 2;
    int era = (y >= 0 ? y : y - 399) / 400;
    int yoe = y - era * 400;
    int doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

void tb__gen_civil(int z, int *y, int *m, int *d)
{
    z += 719468;
    int era = (z >= 0 ? z : z - 146096) / 146097;
    int doe = z - era * 146097;
    int yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = yoe + era * 400 + (*m <= 2);
}

int tb__gen_days_of(int yyyymmdd)
{
    return tb__gen_days(yyyymmdd / 10000, yyyymmdd / 100 % 100, yyyymmdd % 100);
}

void tb__gen_zpad(char *dst, uint64_t v, int width)
{
    for (int k = width - 1; k >= 0; k--) {
        dst[k] = (char)('0' + v % 10);
        v /= 10;
    }
}

static uint64_t gcd64(uint64_t a, uint64_t b)
{
    while (b) {
        uint64_t t = a % b;
        a = b;
        b = t;
    }
    return a;
}

/* A multiplier near the golden ratio of `space`, coprime with it, so that x -> x*m+a mod space
 * is a bijection that scatters neighbours (consecutive customers look unrelated). */
static uint64_t scatter_mult(uint64_t space, uint64_t seed)
{
    uint64_t m = (uint64_t)((double)space * 0.6180339887498949) + seed % 9973;
    if (m >= space) m = space - 1;
    if (m < 1) m = 1;
    while (gcd64(m, space) != 1)
        m++;
    return m;
}

static uint64_t scatter(uint64_t v, uint64_t mult, uint64_t add, uint64_t space)
{
    return (uint64_t)(((unsigned __int128)v * mult + add) % space);
}

/* Weight of a birth year by age at the batch date: the working-age middle is the largest. */
static unsigned year_weight(int age)
{
    if (age < 25) return 2;
    if (age < 45) return 4;
    if (age < 60) return 3;
    if (age < 71) return 2;
    return 1;
}

int tb__gen_ctx_init(gen_ctx *x)
{
    tb__gen_tables_init();
    x->batch_days = tb__gen_days_of(x->o.batch_date);
    x->batch_year = x->o.batch_date / 10000;
    x->hive = x->o.format == TB_GEN_HIVE;
    x->year_min = x->batch_year - 85;
    int year_max = x->batch_year - 19;
    uint64_t n = 0;
    for (unsigned r = 0; r < tb__gen_nregions; r++) {
        unsigned wr = tb__gen_regions[r].code[0] == '1' || tb__gen_regions[r].code[0] == '3' ||
                              tb__gen_regions[r].code[0] == '4' || tb__gen_regions[r].code[0] == '5'
                          ? 2
                          : 1;
        for (int y = x->year_min; y <= year_max; y++)
            n += wr * year_weight(x->batch_year - y);
    }
    x->cells = malloc(n * sizeof *x->cells);
    if (!x->cells) return TB_ENOMEM;
    n = 0;
    for (unsigned r = 0; r < tb__gen_nregions; r++) {
        unsigned wr = tb__gen_regions[r].code[0] == '1' || tb__gen_regions[r].code[0] == '3' ||
                              tb__gen_regions[r].code[0] == '4' || tb__gen_regions[r].code[0] == '5'
                          ? 2
                          : 1;
        for (int y = x->year_min; y <= year_max; y++) {
            unsigned w = wr * year_weight(x->batch_year - y);
            for (unsigned b = 0; b < w; b++)
                x->cells[n++] = (uint32_t)r << 16 | (uint32_t)(y - x->year_min) << 8 | b;
        }
    }
    x->ncells = n;
    x->id_space = n * 36500; /* 365 birthdays x 100 sequence numbers per cell */
    uint64_t s = tb__mix64(x->o.seed ^ 0x1d5eedULL);
    x->id_mult = 0; /* unused: ID numbers use the Feistel permutation */
    x->id_add = s;  /* its key */
    if (x->id_space < 4 * TB__GEN_MAX_CUSTOMERS) return TB_ERANGE; /* cannot happen: a bug */
    x->mob_space = (uint64_t)tb__gen_nmobile_prefix * 100000000ULL;
    s = tb__mix64(x->o.seed ^ 0x30b11eULL);
    x->mob_mult = scatter_mult(x->mob_space, s);
    x->mob_add = s % x->mob_space;
    s = tb__mix64(x->o.seed ^ 0xc057ULL);
    x->cno_mult = scatter_mult(100000000000ULL, s);
    x->cno_add = s % 100000000000ULL;
    s = tb__mix64(x->o.seed ^ 0x0c0deULL);
    x->org_mult = scatter_mult(100000000ULL, s);
    x->org_add = s % 100000000ULL;
    s = tb__mix64(x->o.seed ^ 0xca4dULL);
    x->card_mult = scatter_mult(1000000000ULL, s);
    x->card_add = s % 1000000000ULL;
    s = tb__mix64(x->o.seed ^ 0xcc0ULL);
    x->ccn_mult = scatter_mult(1000000000000ULL, s);
    x->ccn_add = s % 1000000000000ULL;
    return 0;
}

void tb__gen_ctx_release(gen_ctx *x)
{
    free(x->cells);
    x->cells = NULL;
}

void tb__gen_cust_no(const gen_ctx *x, uint64_t i, char out[13])
{
    out[0] = '8';
    tb__gen_zpad(out + 1, scatter(i, x->cno_mult, x->cno_add, 100000000000ULL), 11);
    out[12] = '\0';
}

double tb__gen_hash_unit(const gen_ctx *x, uint64_t salt, uint64_t i)
{
    uint64_t h = tb__mix64(tb__mix64(x->o.seed * 0x9e3779b97f4a7c15ULL + salt) ^ i);
    return (double)(h >> 11) * 0x1.0p-53;
}

int tb__gen_cust_type(const gen_ctx *x, uint64_t i)
{
    double u = tb__gen_hash_unit(x, 0x7e9e, i);
    return u < 0.90 ? 1 : u < 0.98 ? 2 : 3;
}

void tb__gen_mobile(const gen_ctx *x, uint64_t m, char out[12])
{
    uint64_t v = scatter(m, x->mob_mult, x->mob_add, x->mob_space);
    memcpy(out, tb__gen_mobile_prefix[v / 100000000ULL], 3);
    tb__gen_zpad(out + 3, v % 100000000ULL, 8);
    out[11] = '\0';
}

/* A keyed pseudo-random permutation of [0, space): a 4-round Feistel network over the smallest
 * even number of bits that covers the space, cycle-walking until the value falls inside. Unlike
 * the affine scatter it leaves no arithmetic pattern (an affine map would give every even
 * person number the same sequence-number parity, hence the same gender). */
static uint64_t permute(uint64_t v, uint64_t space, uint64_t key)
{
    int bits = 2;
    while (bits < 62 && ((uint64_t)1 << bits) < space)
        bits += 2;
    int half = bits / 2;
    uint64_t mask = ((uint64_t)1 << half) - 1;
    do {
        uint64_t l = v >> half, r = v & mask;
        for (uint64_t round = 0; round < 4; round++) {
            uint64_t t = l ^ (tb__mix64(r ^ key ^ (round << 56)) & mask);
            l = r;
            r = t;
        }
        v = l << half | r;
    } while (v >= space);
    return v;
}

void tb__gen_person_ident(const gen_ctx *x, uint64_t px, gen_person *p)
{
    uint64_t v = permute(px, x->id_space, x->id_add);
    uint32_t cell = x->cells[v / 36500];
    unsigned slot = (unsigned)(v % 36500);
    unsigned region = cell >> 16, year = x->year_min + (cell >> 8 & 0xff), block = cell & 0xff;
    unsigned seq = block * 100 + slot % 100;
    p->x = px;
    p->region = region;
    p->birth = tb__gen_days((int)year, 1, 1) + (int)(slot / 100);
    p->male = seq & 1;
    int y, m, d;
    tb__gen_civil(p->birth, &y, &m, &d);
    memcpy(p->id_no, tb__gen_regions[region].code, 6);
    tb__gen_zpad(p->id_no + 6, (uint64_t)(y * 10000 + m * 100 + d), 8);
    tb__gen_zpad(p->id_no + 14, seq, 3);
    p->id_no[17] = tb_resident_id_check(p->id_no);
    p->id_no[18] = '\0';
    tb__gen_mobile(x, px, p->mobile);
}

static size_t put(char *dst, size_t at, const char *s)
{
    size_t n = strlen(s);
    memcpy(dst + at, s, n);
    return at + n;
}

void tb__gen_person_name(tb__rng *r, gen_person *p)
{
    size_t n = put(p->name, 0,
                   tb__gen_surnames[tb__gen_pick_cum(r, tb__gen_surname_cum, tb__gen_nsurnames)]);
    const char *const *g = p->male ? tb__gen_given_m : tb__gen_given_f;
    unsigned ng = p->male ? tb__gen_ngiven_m : tb__gen_ngiven_f;
    n = put(p->name, n, g[tb__rng_below(r, ng)]);
    if (tb__rng_chance(r, 0.72)) n = put(p->name, n, g[tb__rng_below(r, ng)]);
    p->name[n] = '\0';
}

/* GB 11714 organisation code check character over 8 digits. */
static char org_check(const char *d)
{
    static const int w[8] = {3, 7, 9, 10, 5, 8, 4, 2};
    int sum = 0;
    for (int k = 0; k < 8; k++)
        sum += (d[k] - '0') * w[k];
    int c = 11 - sum % 11;
    return c == 10 ? 'X' : c == 11 ? '0' : (char)('0' + c);
}

static size_t put_trim_suffix(char *dst, size_t at, const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    if (n > k && memcmp(s + n - k, suffix, k) == 0) n -= k;
    memcpy(dst + at, s, n);
    return at + n;
}

void tb__gen_company(const gen_ctx *x, uint64_t i, int merchant, unsigned region, tb__rng *r,
                     gen_company *co)
{
    const gen_region *rg = &tb__gen_regions[region];
    co->region = region;
    co->uscc[0] = '9';
    co->uscc[1] = merchant ? '2' : '1';
    memcpy(co->uscc + 2, rg->code, 6);
    tb__gen_zpad(co->uscc + 8, scatter(i, x->org_mult, x->org_add, 100000000ULL), 8);
    co->uscc[16] = org_check(co->uscc + 8);
    co->uscc[17] = tb_uscc_check(co->uscc);
    co->uscc[18] = '\0';
    tb__gen_mobile(x, 2 * i, co->mobile);

    gen_person rep;
    rep.male = tb__rng_chance(r, 0.7);
    tb__gen_person_name(r, &rep);
    memcpy(co->legal_rep, rep.name, sizeof co->legal_rep);

    size_t n = 0;
    if (merchant) {
        unsigned shop = (unsigned)tb__rng_below(r, tb__gen_nshop);
        co->industry = shop == 1 || shop == 8 ? 22 : 17; /* H6210 正餐 or F5212 百货零售 */
        n = put(co->name, n, rg->county);
        /* the owner's surname, "记", the trade */
        size_t sl = 3; /* first character of the surname (all are 3-byte UTF-8) */
        memcpy(co->name + n, rep.name, sl);
        n += sl;
        n = put(co->name, n, "记");
        n = put(co->name, n, tb__gen_shop[shop]);
        memcpy(co->brand, rep.name, 3);
        co->brand[3] = '\0';
        co->est = x->batch_days - 90 - (int)tb__rng_below(r, 15 * 365);
    } else {
        co->industry = (unsigned)tb__rng_below(r, tb__gen_ct_industry.n);
        size_t b = 0;
        b = put(co->brand, b, tb__gen_brand[tb__rng_below(r, tb__gen_nbrand)]);
        b = put(co->brand, b, tb__gen_brand[tb__rng_below(r, tb__gen_nbrand)]);
        co->brand[b] = '\0';
        n = put_trim_suffix(co->name, n, rg->city, "市");
        n = put(co->name, n, co->brand);
        n = put(co->name, n, tb__gen_industry_word[co->industry]);
        n = put(co->name, n, tb__rng_chance(r, 0.2) ? "股份有限公司" : "有限公司");
        co->est = x->batch_days - 365 - (int)tb__rng_below(r, 28 * 365);
    }
    co->name[n] = '\0';
}

void tb__gen_card_no(const gen_ctx *x, uint64_t px, unsigned k, const char *bin, char out[17])
{
    memcpy(out, bin, 6);
    tb__gen_zpad(out + 6, scatter(px * 4 + k, x->card_mult, x->card_add, 1000000000ULL), 9);
    out[15] = tb_luhn_check(out, 15);
    out[16] = '\0';
}

void tb__gen_card_cust_no(const gen_ctx *x, uint64_t px, char out[14])
{
    out[0] = 'C';
    tb__gen_zpad(out + 1, scatter(px, x->ccn_mult, x->ccn_add, 1000000000000ULL), 12);
    out[13] = '\0';
}

void tb__gen_device_id(const gen_ctx *x, uint64_t px, unsigned k, char out[37])
{
    static const char hex[] = "0123456789abcdef";
    uint64_t a = tb__mix64(x->o.seed ^ tb__mix64(px * 4 + k + 0xde51ce)), b = tb__mix64(a);
    int o = 0;
    for (int n = 0; n < 32; n++) {
        if (n == 8 || n == 12 || n == 16 || n == 20) out[o++] = '-';
        uint64_t w = n < 16 ? a : b;
        unsigned v = (unsigned)(w >> (4 * (n % 16))) & 15;
        if (n == 12) v = 4;           /* version 4 */
        if (n == 16) v = 8 | (v & 3); /* variant 10xx */
        out[o++] = hex[v];
    }
    out[36] = '\0';
}
