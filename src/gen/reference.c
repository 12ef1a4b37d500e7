/* reference.c — the reference files written before any customer: regions, the org tree and the
 * customer managers. Their size does not depend on the number of customers. */
#include <stdio.h>
#include <string.h>

#include "gen/gen_int.h"

#define BANK "泰格银行"

static void org_row(gen_chunk *c, const char *id, const char *name, int level, const char *parent,
                    unsigned region, tb__rng *r)
{
    gen_row w;
    char addr[160];
    const gen_region *g = &tb__gen_regions[region];
    snprintf(addr, sizeof addr, "%s%s%s%s%u号", g->province,
             strcmp(g->city, g->province) ? g->city : "",
             strcmp(g->county, g->city) ? g->county : "",
             tb__gen_roads[tb__rng_below(r, tb__gen_nroads)], 1 + (unsigned)tb__rng_below(r, 300));
    tb__gen_row_begin(&w);
    tb__gen_col_str(&w, id);
    tb__gen_col_str(&w, name);
    tb__gen_col_u64(&w, (uint64_t)level);
    if (parent)
        tb__gen_col_str(&w, parent);
    else
        tb__gen_col_null(&w);
    tb__gen_col_str(&w, tb__gen_ct_province.codes[tb__gen_province_of(region)]);
    tb__gen_col_str(&w, tb__gen_ct_city.codes[tb__gen_city_of(region)]);
    tb__gen_col_str(&w, g->code);
    tb__gen_col_str(&w, addr);
    tb__gen_emit(c, GF_ORG, &w);
}

/* Strips a trailing administrative suffix (省, 市, 区) so names read like real branch names. */
static void short_name(char *dst, size_t cap, const char *s)
{
    size_t n = strlen(s);
    if (n > 3 && (strcmp(s + n - 3, "省") == 0 || strcmp(s + n - 3, "市") == 0 ||
                  strcmp(s + n - 3, "区") == 0))
        n -= 3;
    if (n >= cap) n = cap - 1;
    memcpy(dst, s, n);
    dst[n] = '\0';
}

int tb__gen_reference(const gen_ctx *x, gen_chunk *c)
{
    tb__rng r;
    tb__rng_seed(&r, x->o.seed, UINT64_MAX); /* a stream no customer uses */
    for (unsigned k = 0; k < tb__gen_nregions; k++) {
        gen_row w;
        tb__gen_row_begin(&w);
        tb__gen_col_str(&w, tb__gen_regions[k].code);
        tb__gen_col_str(&w, tb__gen_regions[k].province);
        tb__gen_col_str(&w, tb__gen_regions[k].city);
        tb__gen_col_str(&w, tb__gen_regions[k].county);
        tb__gen_emit(c, GF_REGION, &w);
    }

    char name[160], a[48], b[48];
    org_row(c, "100000", BANK "总行", 1, NULL, 1, &r); /* 西城区, Beijing */
    uint64_t mgr_no = 0;
    for (unsigned br = 0; br < GEN_BRANCHES; br++) {
        char bid[8];
        snprintf(bid, sizeof bid, "1%02u000", br + 1);
        unsigned reg = tb__gen_sub_region(br, 0);
        short_name(a, sizeof a, tb__gen_regions[reg].province);
        snprintf(name, sizeof name, BANK "%s分行", a);
        org_row(c, bid, name, 2, "100000", reg, &r);
        for (unsigned s = 0; s < GEN_SUBS; s++) {
            char sid[8];
            snprintf(sid, sizeof sid, "1%02u%u00", br + 1, s + 1);
            unsigned sreg = tb__gen_sub_region(br, s);
            short_name(a, sizeof a, tb__gen_regions[sreg].city);
            short_name(b, sizeof b, tb__gen_regions[sreg].county);
            snprintf(name, sizeof name, BANK "%s%s支行", a, b);
            org_row(c, sid, name, 3, bid, sreg, &r);
            for (unsigned o = 0; o < GEN_OUTLETS; o++) {
                const gen_outlet *ou = &tb__gen_outlets[(br * GEN_SUBS + s) * GEN_OUTLETS + o];
                short_name(a, sizeof a, tb__gen_regions[ou->region].county);
                snprintf(name, sizeof name, BANK "%s%s%s网点", a,
                         tb__gen_roads[(br * 7 + s * 5 + o) % tb__gen_nroads], o ? "" : "营业部");
                org_row(c, ou->org_id, name, 4, sid, ou->region, &r);
                for (unsigned m = 0; m < GEN_MGRS_PER_OUTLET; m++) {
                    gen_row w;
                    char id[10], mobile[12];
                    id[0] = 'M';
                    memcpy(id + 1, ou->org_id, 6);
                    tb__gen_zpad(id + 7, m, 2);
                    id[9] = '\0';
                    gen_person p;
                    p.male = tb__rng_chance(&r, 0.5);
                    tb__gen_person_name(&r, &p);
                    tb__gen_mobile(x, 4 * TB__GEN_MAX_CUSTOMERS + mgr_no++, mobile);
                    tb__gen_row_begin(&w);
                    tb__gen_col_str(&w, id);
                    tb__gen_col_str(&w, p.name);
                    tb__gen_col_str(&w, ou->org_id);
                    tb__gen_col_str(&w, m < 2 ? "2" : "1"); /* 00, 01 corporate; 02, 03 retail */
                    tb__gen_col_str(&w, mobile);
                    tb__gen_col_date(&w, x->batch_days - 30 - (int)tb__rng_below(&r, 15 * 365));
                    tb__gen_emit(c, GF_MGR, &w);
                }
            }
        }
    }
    return c->rc;
}
