/* retention.c — day-N retention: cohorts by the day of a root's first start event in the range,
 * returning on day n when a return event falls on that local day (evq.h). */
#include <stdlib.h>
#include <string.h>

#include "events/evq.h"

typedef struct rctx {
    const tb__ret_spec *sp;
    int64_t rs, re;
    uint64_t *size[16], *ret[16];
    uint8_t *seen[16]; /* per thread: days already counted for this root */
} rctx;

static int on_root(void *arg, int t, const tb__evrun *run)
{
    rctx *c = arg;
    uint32_t a = UINT32_MAX;
    for (uint32_t i = 0; i < run->n; i++)
        if ((run->mask[i] & 1) && run->ts[i] >= c->rs) {
            if (run->ts[i] < c->re) a = i;
            break;
        }
    if (a == UINT32_MAX) return 0;
    uint32_t nd = c->sp->ndays;
    int32_t cday = tb__ev_day(run->ts[a]);
    uint32_t co = (uint32_t)(cday - c->sp->from);
    c->size[t][co]++;
    uint8_t *seen = c->seen[t];
    memset(seen, 0, nd + 1);
    uint64_t *row = c->ret[t] + (size_t)co * (nd + 1);
    for (uint32_t i = a + 1; i < run->n; i++) {
        if (!(run->mask[i] & 2)) continue;
        int32_t dn = tb__ev_day(run->ts[i]) - cday;
        if (dn > (int32_t)nd) break;
        if (!seen[dn]) {
            seen[dn] = 1;
            row[dn]++;
        }
    }
    return 0;
}

int tb__retention_run(const tb__evset *s, const tb__ret_spec *sp, const tb__bmv *universe,
                      int threads, tb__ret_res *out, tb__errbuf *eb)
{
    memset(out, 0, sizeof *out);
    if (sp->ndays < 1 || sp->ndays > 90) return tb__seterr(eb, TB_EINVAL, "days is 1 to 90");
    if (sp->from > sp->to || sp->from < s->from || sp->to > s->to)
        return tb__seterr(eb, TB_EINVAL, "the date range is not loaded");
    tb__evstep steps[2] = {*sp->start, *sp->ret};
    rctx c;
    memset(&c, 0, sizeof c);
    c.sp = sp;
    c.rs = tb__ev_day_start(sp->from);
    c.re = tb__ev_day_start(sp->to + 1);
    uint32_t nc = (uint32_t)(sp->to - sp->from + 1);
    tb__evwalk w = {.s = s,
                    .steps = steps,
                    .nsteps = 2,
                    .universe = universe,
                    .threads = threads,
                    .fn = on_root,
                    .arg = &c};
    int rc = tb__ev_walk_prepare(&w, eb);
    for (int t = 0; !rc && t < w.nthreads; t++) {
        c.size[t] = calloc(nc, 8);
        c.ret[t] = calloc((size_t)nc * (sp->ndays + 1), 8);
        c.seen[t] = calloc(sp->ndays + 1, 1);
        if (!c.size[t] || !c.ret[t] || !c.seen[t]) rc = tb__seterr(eb, TB_ENOMEM, "out of memory");
    }
    if (!rc) rc = tb__ev_walk_run(&w, eb);
    if (!rc) {
        out->ncohorts = nc;
        out->ndays = sp->ndays;
        out->size = c.size[0];
        out->retained = c.ret[0];
        c.size[0] = c.ret[0] = NULL;
        for (int t = 1; t < w.nthreads; t++) {
            for (uint32_t i = 0; i < nc; i++)
                out->size[i] += c.size[t][i];
            for (size_t i = 0; i < (size_t)nc * (sp->ndays + 1); i++)
                out->retained[i] += c.ret[t][i];
        }
    }
    for (int t = 0; t < 16; t++) {
        free(c.size[t]);
        free(c.ret[t]);
        free(c.seen[t]);
    }
    tb__ev_walk_release(&w);
    return rc;
}

void tb__ret_res_release(tb__ret_res *r)
{
    free(r->size);
    free(r->retained);
    memset(r, 0, sizeof *r);
}
