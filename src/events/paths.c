/* paths.c — most frequent next / previous events from an anchor event, level by level, as the
 * links of a sankey chart (evq.h). One pass of the walk; counts per thread, added at the end. */
#include <stdlib.h>
#include <string.h>

#include "events/evq.h"

typedef struct pctx {
    const tb__paths_spec *sp;
    int64_t rs, re;
    uint32_t nn;
    uint64_t *cnt[16];
    uint64_t roots[16];
} pctx;

static int on_root(void *arg, int t, const tb__evrun *run)
{
    pctx *c = arg;
    uint32_t a = UINT32_MAX;
    for (uint32_t i = 0; i < run->n; i++)
        if ((run->mask[i] & 1) && run->ts[i] >= c->rs) {
            if (run->ts[i] < c->re) a = i;
            break;
        }
    if (a == UINT32_MAX) return 0;
    c->roots[t]++;
    uint64_t *m = c->cnt[t];
    size_t nn = c->nn;
    uint32_t prev = run->ev[a];
    for (uint32_t lv = 0; lv < c->sp->depth; lv++) {
        int64_t j = c->sp->previous ? (int64_t)a - 1 - lv : (int64_t)a + 1 + lv;
        if (j < 0 || j >= run->n) break;
        uint32_t e = run->ev[j];
        m[(size_t)lv * nn * nn + (size_t)prev * nn + e]++;
        prev = e;
    }
    return 0;
}

int tb__paths_run(const tb__evset *s, const tb__paths_spec *sp, const tb__bmv *universe,
                  int threads, tb__paths_res *out, tb__errbuf *eb)
{
    memset(out, 0, sizeof *out);
    if (sp->depth < 1 || sp->depth > 10) return tb__seterr(eb, TB_EINVAL, "depth is 1 to 10");
    if (s->nnames > 512) return tb__seterr(eb, TB_ELIMIT, "paths need at most 512 event names");
    if (sp->from > sp->to || sp->from < s->from || sp->to > s->to)
        return tb__seterr(eb, TB_EINVAL, "the date range is not loaded");
    pctx c;
    memset(&c, 0, sizeof c);
    c.sp = sp;
    c.rs = tb__ev_day_start(sp->from);
    c.re = tb__ev_day_start(sp->to + 1);
    c.nn = s->nnames ? s->nnames : 1;
    size_t cells = (size_t)sp->depth * c.nn * c.nn;
    tb__evwalk w = {.s = s,
                    .steps = sp->anchor,
                    .nsteps = 1,
                    .all = 1,
                    .universe = universe,
                    .threads = threads,
                    .fn = on_root,
                    .arg = &c};
    int rc = tb__ev_walk_prepare(&w, eb);
    for (int t = 0; !rc && t < w.nthreads; t++)
        if (!(c.cnt[t] = calloc(cells, 8))) rc = tb__seterr(eb, TB_ENOMEM, "out of memory");
    if (!rc) rc = tb__ev_walk_run(&w, eb);
    if (!rc) {
        out->depth = sp->depth;
        out->nnames = c.nn;
        out->count = c.cnt[0];
        c.cnt[0] = NULL;
        for (int t = 0; t < w.nthreads; t++) {
            out->roots += c.roots[t];
            for (size_t i = 0; t && i < cells; i++)
                out->count[i] += c.cnt[t][i];
        }
    }
    for (int t = 0; t < 16; t++)
        free(c.cnt[t]);
    tb__ev_walk_release(&w);
    return rc;
}

void tb__paths_res_release(tb__paths_res *r)
{
    free(r->count);
    memset(r, 0, sizeof *r);
}
