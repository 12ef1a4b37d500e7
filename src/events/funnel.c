/* funnel.c — ordered funnels with a conversion window (semantics in evq.h and docs/events.md).
 * Per root, over its matching events only: every step-1 event inside the date range starts an
 * attempt; each later step takes the earliest qualifying event. A backward pass builds, per step,
 * the position of the next matching event, so a root costs O(events × steps) to prepare and
 * O(steps) per attempt, with no data-dependent branch in the preparation. */
#include <stdlib.h>
#include <string.h>

#include "events/evq.h"

typedef struct u32v {
    uint32_t *v;
    size_t n, cap;
} u32v;

static int u32v_push(u32v *a, uint32_t x)
{
    if (a->n == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 4096;
        uint32_t *nv = realloc(a->v, cap * 4);
        if (!nv) return TB_ENOMEM;
        a->v = nv;
        a->cap = cap;
    }
    a->v[a->n++] = x;
    return 0;
}

typedef struct fthr {
    uint32_t *nx; /* next-match tables of the current root */
    size_t nxcap;
    uint64_t users[TB__EV_MAX_STEPS];
    uint64_t *started, *converted;
    u32v delta[TB__EV_MAX_STEPS];
} fthr;

typedef struct fctx {
    const tb__funnel_spec *sp;
    int64_t rs, re; /* step-1 range [rs, re) in epoch ms */
    int32_t from;
    uint8_t *level;
    uint32_t nlevel;
    fthr th[16];
} fctx;

static int on_root(void *arg, int t, const tb__evrun *run)
{
    fctx *c = arg;
    fthr *f = &c->th[t];
    const uint32_t K = c->sp->nsteps;
    const int64_t W = c->sp->window_ms;
    const int64_t *ts = run->ts;
    const uint32_t *m = run->mask;
    const uint32_t n = run->n;
    /* nx[k][i]: the first event at or after i that matches step k (n: none), built backwards
     * without branches; then every attempt is one look-up per step */
    size_t need = (size_t)K * (n + 1);
    if (need > f->nxcap) {
        size_t cap = need * 2;
        uint32_t *nx = realloc(f->nx, cap * 4);
        if (!nx) return TB_ENOMEM;
        f->nx = nx;
        f->nxcap = cap;
    }
    uint32_t *nx = f->nx;
    for (uint32_t k = 0; k < K; k++)
        nx[(size_t)k * (n + 1) + n] = n;
    for (uint32_t i = n; i-- > 0;) {
        uint32_t mi = m[i];
        for (uint32_t k = 0; k < K; k++) {
            uint32_t *row = nx + (size_t)k * (n + 1);
            row[i] = (mi >> k) & 1 ? i : row[i + 1];
        }
    }
    uint32_t ch[TB__EV_MAX_STEPS], best_ch[TB__EV_MAX_STEPS];
    uint32_t best = 0;
    const uint32_t *n0 = nx;
    for (uint32_t s = n0[0]; s < n; s = n0[s + 1]) {
        if (ts[s] < c->rs) continue;
        if (ts[s] >= c->re) break;
        ch[0] = s;
        uint32_t L = 1, prev = s;
        int64_t limit = ts[s] + W;
        for (uint32_t k = 1; k < K; k++) {
            uint32_t q = nx[(size_t)k * (n + 1) + prev + 1];
            if (q == n || ts[q] > limit) break;
            ch[k] = prev = q;
            L++;
        }
        if (L > best) {
            best = L;
            memcpy(best_ch, ch, L * sizeof ch[0]);
            if (L == K) break;
        }
    }
    if (!best) return 0;
    if (run->root < c->nlevel) c->level[run->root] = (uint8_t)best;
    for (uint32_t k = 0; k < best; k++)
        f->users[k]++;
    int64_t t0 = ts[best_ch[0]];
    int32_t day = tb__ev_day(t0) - c->from;
    f->started[day]++;
    if (best == K) f->converted[day]++;
    for (uint32_t k = 1; k < best; k++)
        if (u32v_push(&f->delta[k], (uint32_t)(ts[best_ch[k]] - ts[best_ch[k - 1]])))
            return TB_ENOMEM;
    return 0;
}

/* The median (the mean of the two middle values for an even count) by quickselect. */
static uint32_t qsel(uint32_t *a, size_t n, size_t k)
{
    size_t lo = 0, hi = n - 1;
    while (lo < hi) {
        uint32_t piv = a[lo + (hi - lo) / 2];
        size_t i = lo, j = hi;
        while (i <= j) {
            while (a[i] < piv)
                i++;
            while (a[j] > piv)
                j--;
            if (i <= j) {
                uint32_t t = a[i];
                a[i] = a[j];
                a[j] = t;
                i++;
                if (j == 0) break;
                j--;
            }
        }
        if (k <= j)
            hi = j;
        else if (k >= i)
            lo = i;
        else
            return a[k];
    }
    return a[k];
}

double tb__ev_median_u32(uint32_t *a, size_t n)
{
    if (!n) return -1;
    uint32_t hi = qsel(a, n, n / 2);
    if (n % 2) return hi;
    uint32_t lo = qsel(a, n, n / 2 - 1);
    return ((double)lo + (double)hi) / 2;
}

int tb__funnel_run(const tb__evset *s, const tb__funnel_spec *sp, const tb__bmv *universe,
                   int threads, tb__funnel_res *out, tb__errbuf *eb)
{
    memset(out, 0, sizeof *out);
    if (sp->nsteps < 1 || sp->nsteps > TB__EV_MAX_STEPS)
        return tb__seterr(eb, TB_EINVAL, "a funnel has 1 to %d steps", TB__EV_MAX_STEPS);
    if (sp->window_ms < 1000 || sp->window_ms > 31 * TB__EV_DAY_MS)
        return tb__seterr(eb, TB_EINVAL, "the window is 1 second to 31 days");
    if (sp->from > sp->to || sp->from < s->from || sp->to > s->to)
        return tb__seterr(eb, TB_EINVAL, "the date range is not loaded");
    fctx c;
    memset(&c, 0, sizeof c);
    c.sp = sp;
    c.rs = tb__ev_day_start(sp->from);
    c.re = tb__ev_day_start(sp->to + 1);
    c.from = sp->from;
    out->nsteps = sp->nsteps;
    out->ndays = (uint32_t)(sp->to - sp->from + 1);
    out->nlevel = s->maxperson;
    out->level = calloc((size_t)s->maxperson + 1, 1);
    out->trend_started = calloc(out->ndays, 8);
    out->trend_converted = calloc(out->ndays, 8);
    if (!out->level || !out->trend_started || !out->trend_converted) {
        tb__funnel_res_release(out);
        return tb__seterr(eb, TB_ENOMEM, "out of memory");
    }
    c.level = out->level;
    c.nlevel = out->nlevel;
    tb__evwalk w = {.s = s,
                    .steps = sp->steps,
                    .nsteps = sp->nsteps,
                    .universe = universe,
                    .threads = threads,
                    .fn = on_root,
                    .arg = &c};
    int rc = tb__ev_walk_prepare(&w, eb);
    for (int t = 0; !rc && t < w.nthreads; t++) {
        c.th[t].started = calloc(out->ndays, 8);
        c.th[t].converted = calloc(out->ndays, 8);
        if (!c.th[t].started || !c.th[t].converted) rc = tb__seterr(eb, TB_ENOMEM, "out of memory");
    }
    if (!rc) rc = tb__ev_walk_run(&w, eb);
    u32v all[TB__EV_MAX_STEPS];
    memset(all, 0, sizeof all);
    for (int t = 0; t < w.nthreads; t++) {
        fthr *f = &c.th[t];
        for (uint32_t k = 0; !rc && k < sp->nsteps; k++) {
            out->users[k] += f->users[k];
            for (size_t i = 0; !rc && i < f->delta[k].n; i++)
                if (u32v_push(&all[k], f->delta[k].v[i]))
                    rc = tb__seterr(eb, TB_ENOMEM, "out of memory");
        }
        for (uint32_t d = 0; !rc && d < out->ndays; d++) {
            out->trend_started[d] += f->started[d];
            out->trend_converted[d] += f->converted[d];
        }
        for (uint32_t k = 0; k < TB__EV_MAX_STEPS; k++)
            free(f->delta[k].v);
        free(f->started);
        free(f->converted);
        free(f->nx);
    }
    out->median_ms[0] = -1;
    for (uint32_t k = 0; k < TB__EV_MAX_STEPS; k++) {
        if (k) out->median_ms[k] = rc ? -1 : tb__ev_median_u32(all[k].v, all[k].n);
        free(all[k].v);
    }
    tb__ev_walk_release(&w);
    if (rc) tb__funnel_res_release(out);
    return rc;
}

void tb__funnel_res_release(tb__funnel_res *r)
{
    free(r->level);
    free(r->trend_started);
    free(r->trend_converted);
    memset(r, 0, sizeof *r);
}
