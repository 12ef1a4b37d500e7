/* evwalk.c — the walk every analysis is built on: each counted root's events in time order, from
 * the decoded day partitions, split over threads by person id range. Rows of one person are
 * contiguous and time-sorted within a day, and days are disjoint time ranges, so a person's
 * events in order are its day slices concatenated: no merge. Only roots with linked persons
 * (identify/alias) gather their members' rows by binary search and sort them. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "events/evq.h"

typedef struct wpriv {
    uint32_t nd;
    tb__evmask **masks;  /* [nd]: for steps with conditions */
    uint32_t *gtab;      /* [nnames]: steps by global event id, conditions not applied */
    uint32_t filt;       /* steps with conditions */
    uint32_t bounds[17]; /* person-id boundaries of the workers */
} wpriv;

typedef struct buf3 {
    int64_t *ts;
    uint32_t *mask, *ev;
    size_t n, cap;
} buf3;

static int buf3_need(buf3 *b, size_t n)
{
    if (n <= b->cap) return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < n)
        cap *= 2;
    int64_t *t = realloc(b->ts, cap * 8);
    if (t) b->ts = t;
    uint32_t *m = realloc(b->mask, cap * 4);
    if (m) b->mask = m;
    uint32_t *e = realloc(b->ev, cap * 4);
    if (e) b->ev = e;
    if (!t || !m || !e) return TB_ENOMEM;
    b->cap = cap;
    return 0;
}

int tb__ev_walk_prepare(tb__evwalk *w, tb__errbuf *eb)
{
    const tb__evset *s = w->s;
    wpriv *pv = calloc(1, sizeof *pv);
    if (!pv) return tb__seterr(eb, TB_ENOMEM, "out of memory");
    w->priv = pv;
    pv->nd = (uint32_t)(s->to - s->from + 1);
    pv->masks = calloc(pv->nd, sizeof *pv->masks);
    pv->gtab = calloc((size_t)s->nnames + 1, 4);
    if (!pv->masks || !pv->gtab) return tb__seterr(eb, TB_ENOMEM, "out of memory");
    for (uint32_t d = 0; d < pv->nd; d++)
        if (tb__evmask_prepare(&s->days[d], w->steps, w->nsteps, &pv->masks[d]))
            return tb__seterr(eb, TB_ENOMEM, "out of memory");
    for (uint32_t k = 0; k < w->nsteps; k++) {
        for (uint32_t g = 0; g < s->nnames; g++)
            if (strcmp(s->names[g], w->steps[k].event) == 0) pv->gtab[g] |= 1u << k;
        if (w->steps[k].nconds) pv->filt |= 1u << k;
    }
    w->names = s->names;
    w->nnames = s->nnames;
    int t = w->threads <= 0 ? 2 : w->threads > 16 ? 16 : w->threads;
    if (s->nrows < 100000) t = 1;
    /* boundaries: equal shares of rows */
    pv->bounds[0] = 0;
    for (int i = 1; i < t; i++) {
        uint64_t want = s->nrows * (uint64_t)i / (uint64_t)t;
        uint32_t lo = pv->bounds[i - 1], hi = s->maxperson;
        while (lo < hi) {
            uint32_t mid = lo + (hi - lo) / 2;
            if (s->poff[mid] < want)
                lo = mid + 1;
            else
                hi = mid;
        }
        pv->bounds[i] = lo;
    }
    pv->bounds[t] = s->maxperson;
    w->nthreads = t;
    return 0;
}

void tb__ev_walk_release(tb__evwalk *w)
{
    wpriv *pv = w->priv;
    if (pv) {
        for (uint32_t d = 0; d < pv->nd; d++)
            if (pv->masks) tb__evmask_free(pv->masks[d]);
        free(pv->masks);
        free(pv->gtab);
        free(pv);
    }
    w->names = NULL;
    w->nnames = 0;
    w->priv = NULL;
}

typedef struct wjob {
    tb__evwalk *w;
    int t;
    int rc;
} wjob;

/* Appends person p's rows (index order) to b from position n; returns the new count. */
static size_t gather(const tb__evwalk *w, const wpriv *pv, uint32_t p, buf3 *b, size_t n)
{
    const tb__evset *s = w->s;
    uint32_t a = s->poff[p], e = s->poff[p + 1];
    const uint32_t *gtab = pv->gtab;
    const uint32_t filt = pv->filt;
    const int64_t *mts = s->mts;
    const uint16_t *mev = s->mev;
    if (w->all) {
        for (uint32_t i = a; i < e; i++, n++) {
            uint32_t m = gtab[mev[i]];
            if (m & filt) m = tb__evmask_row(pv->masks[s->mday[i]], s->mrow[i]);
            b->ts[n] = mts[i];
            b->mask[n] = m;
            b->ev[n] = mev[i];
        }
    } else if (!filt) {
        for (uint32_t i = a; i < e; i++) {
            uint32_t m = gtab[mev[i]];
            b->ts[n] = mts[i];
            b->mask[n] = m;
            n += m != 0;
        }
    } else {
        for (uint32_t i = a; i < e; i++) {
            uint32_t m = gtab[mev[i]];
            if (m & filt) m = tb__evmask_row(pv->masks[s->mday[i]], s->mrow[i]);
            b->ts[n] = mts[i];
            b->mask[n] = m;
            n += m != 0;
        }
    }
    return n;
}

typedef struct gath {
    int64_t ts;
    uint64_t tie;
    uint32_t mask, ev;
} gath;

static int cmp_gath(const void *a, const void *b)
{
    const gath *x = a, *y = b;
    if (x->ts != y->ts) return x->ts < y->ts ? -1 : 1;
    return x->tie < y->tie ? -1 : x->tie > y->tie;
}

/* Linked roots of this worker's range: their members' rows merged by time (ties: member order,
 * then stored order). */
static int walk_groups(tb__evwalk *w, int t, buf3 *b)
{
    const tb__evset *s = w->s;
    wpriv *pv = w->priv;
    uint32_t lo = pv->bounds[t], hi = pv->bounds[t + 1];
    buf3 one = {0};
    gath *g = NULL;
    size_t gcap = 0;
    int rc = 0;
    for (uint32_t k = 0; !rc && k < s->ngrp; k++) {
        uint32_t r = s->grp_root[k];
        if (r < lo || r >= hi || !tb__ev_root_in(s, r, w->universe)) continue;
        size_t n = 0;
        for (uint32_t mi = s->grp_off[k]; !rc && mi < s->grp_off[k + 1]; mi++) {
            uint32_t p = s->grp_mem[mi];
            if (p >= s->maxperson) continue;
            size_t rows = s->poff[p + 1] - s->poff[p];
            if (buf3_need(&one, rows)) {
                rc = TB_ENOMEM;
                break;
            }
            /* Grow only: realloc(g, 0) (a member with no rows yet) would free g. */
            if (n + rows > gcap) {
                gath *ng = realloc(g, (n + rows) * 2 * sizeof *g);
                if (!ng) {
                    rc = TB_ENOMEM;
                    break;
                }
                g = ng;
                gcap = (n + rows) * 2;
            }
            tb__evwalk all1 = *w;
            all1.all = 1; /* keep every row here: masks come with it, filtered below */
            size_t m = gather(&all1, pv, p, &one, 0);
            for (size_t i = 0; i < m; i++) {
                if (!one.mask[i] && !w->all) continue;
                g[n].ts = one.ts[i];
                g[n].tie = ((uint64_t)(mi - s->grp_off[k]) << 32) | (uint32_t)i;
                g[n].mask = one.mask[i];
                g[n].ev = one.ev[i];
                n++;
            }
        }
        if (rc || !n) continue;
        qsort(g, n, sizeof *g, cmp_gath);
        if (buf3_need(b, n)) {
            rc = TB_ENOMEM;
            break;
        }
        for (size_t i = 0; i < n; i++) {
            b->ts[i] = g[i].ts;
            b->mask[i] = g[i].mask;
            b->ev[i] = g[i].ev;
        }
        tb__evrun run = {r, (uint32_t)n, b->ts, b->mask, w->all ? b->ev : NULL};
        rc = w->fn(w->arg, t, &run);
    }
    free(g);
    free(one.ts);
    free(one.mask);
    free(one.ev);
    return rc;
}

static void *walk_worker(void *arg)
{
    wjob *j = arg;
    tb__evwalk *w = j->w;
    const tb__evset *s = w->s;
    wpriv *pv = w->priv;
    uint32_t lo = pv->bounds[j->t], hi = pv->bounds[j->t + 1];
    buf3 b = {0};
    int rc = 0;
    const uint8_t *cplx = s->cplx;
    uint32_t npers = s->pers.n;
    for (uint32_t p = lo; p < hi; p++) {
        uint32_t rows = s->poff[p + 1] - s->poff[p];
        if (!rows) continue;
        if (p < npers && cplx && cplx[p]) continue;
        if (w->universe && !tb__ev_root_in(s, p, w->universe)) continue;
        if (rows > b.cap && buf3_need(&b, rows)) {
            rc = TB_ENOMEM;
            break;
        }
        size_t n = gather(w, pv, p, &b, 0);
        if (!n) continue;
        tb__evrun run = {p, (uint32_t)n, b.ts, b.mask, w->all ? b.ev : NULL};
        if ((rc = w->fn(w->arg, j->t, &run))) break;
    }
    if (!rc) rc = walk_groups(w, j->t, &b);
    free(b.ts);
    free(b.mask);
    free(b.ev);
    j->rc = rc;
    return NULL;
}

int tb__ev_walk_run(tb__evwalk *w, tb__errbuf *eb)
{
    wjob jobs[16];
    pthread_t th[16];
    int started[16] = {0};
    int t = w->nthreads;
    for (int i = 0; i < t; i++) {
        jobs[i].w = w;
        jobs[i].t = i;
        jobs[i].rc = 0;
    }
    for (int i = 1; i < t; i++)
        started[i] = pthread_create(&th[i], NULL, walk_worker, &jobs[i]) == 0;
    walk_worker(&jobs[0]);
    int rc = jobs[0].rc;
    for (int i = 1; i < t; i++) {
        if (started[i])
            pthread_join(th[i], NULL);
        else
            walk_worker(&jobs[i]);
        if (!rc) rc = jobs[i].rc;
    }
    if (rc == TB_ENOMEM) return tb__seterr(eb, rc, "out of memory");
    if (rc && !eb->msg[0]) return tb__seterr(eb, rc, "%s", tb_strerror(rc));
    return rc;
}
