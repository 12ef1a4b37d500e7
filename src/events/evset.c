/* evset.c — loading a range of day partitions and the person table for the analyses, days
 * decoded in parallel (each day is independent: one zstd frame per column). */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "events/evstore.h"

typedef struct loadjob {
    const char *dir;
    const tb__evkeys *keys;
    tb__evset *s;
    unsigned flags;
    atomic_uint next;
    atomic_int rc;
    tb__errbuf eb;
    pthread_mutex_t mu;
} loadjob;

static void *load_worker(void *arg)
{
    loadjob *j = arg;
    uint32_t nd = (uint32_t)(j->s->to - j->s->from + 1);
    for (;;) {
        uint32_t d = atomic_fetch_add(&j->next, 1);
        if (d >= nd || atomic_load(&j->rc)) break;
        tb__errbuf eb;
        tb__clearerr(&eb);
        int rc = tb__evpart_read(j->dir, j->keys, j->s->from + (int32_t)d, j->flags, &j->s->days[d],
                                 &eb);
        if (rc == TB_ENOENT) continue;
        if (rc) {
            pthread_mutex_lock(&j->mu);
            if (!atomic_load(&j->rc)) {
                j->eb = eb;
                atomic_store(&j->rc, rc);
            }
            pthread_mutex_unlock(&j->mu);
            break;
        }
    }
    return NULL;
}

/* The CSR of roots with linked members (see tb__evset). */
static int build_groups(tb__evset *s, tb__errbuf *eb)
{
    uint32_t n = s->pers.n;
    if (!n) return 0;
    const uint32_t *root = s->pers.root;
    s->cplx = calloc(n, 1);
    if (!s->cplx) return tb__seterr(eb, TB_ENOMEM, "out of memory");
    uint32_t nlinked = 0;
    for (uint32_t p = 0; p < n; p++)
        if (root[p] != p) {
            s->cplx[p] = 1;
            if (!s->cplx[root[p]]) s->ngrp++;
            s->cplx[root[p]] = 1;
            nlinked++;
        }
    if (!s->ngrp) return 0;
    s->grp_root = malloc((size_t)s->ngrp * 4);
    s->grp_off = malloc(((size_t)s->ngrp + 1) * 4);
    s->grp_mem = malloc(((size_t)nlinked + s->ngrp) * 4);
    uint32_t *gi = malloc((size_t)n * 4);
    if (!s->grp_root || !s->grp_off || !s->grp_mem || !gi) {
        free(gi);
        return tb__seterr(eb, TB_ENOMEM, "out of memory");
    }
    uint32_t g = 0;
    for (uint32_t p = 0; p < n; p++)
        if (root[p] == p && s->cplx[p]) {
            gi[p] = g;
            s->grp_root[g++] = p;
        }
    /* counts, then offsets, then fill (root first, members ascending) */
    memset(s->grp_off, 0, ((size_t)s->ngrp + 1) * 4);
    for (uint32_t p = 0; p < n; p++)
        if (s->cplx[p]) s->grp_off[gi[root[p]] + 1]++;
    for (uint32_t k = 0; k < s->ngrp; k++)
        s->grp_off[k + 1] += s->grp_off[k];
    uint32_t *fill = gi; /* reuse: per group the next slot, root placed first */
    for (uint32_t k = 0; k < s->ngrp; k++) {
        uint32_t r = s->grp_root[k];
        s->grp_mem[s->grp_off[k]] = r;
        fill[r] = s->grp_off[k] + 1;
    }
    for (uint32_t p = 0; p < n; p++)
        if (s->cplx[p] && root[p] != p) s->grp_mem[fill[root[p]]++] = p;
    free(gi);
    return 0;
}

static uint32_t lower_bound(const uint32_t *a, uint32_t n, uint32_t key)
{
    uint32_t lo = 0, hi = n;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (a[mid] < key)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

typedef struct ixjob {
    tb__evset *s;
    uint32_t lo, hi; /* persons */
    uint64_t at;     /* first output row */
    uint16_t **evmap;
} ixjob;

static void *ix_worker(void *arg)
{
    ixjob *j = arg;
    tb__evset *s = j->s;
    uint32_t nd = (uint32_t)(s->to - s->from + 1);
    uint32_t *cur = malloc((size_t)nd * 8);
    if (!cur) return (void *)1;
    uint32_t *end = cur + nd;
    for (uint32_t d = 0; d < nd; d++) {
        const tb__evpart *p = &s->days[d];
        cur[d] = lower_bound(p->person, p->nrows, j->lo);
        end[d] = lower_bound(p->person, p->nrows, j->hi);
    }
    uint64_t o = j->at;
    for (uint32_t p = j->lo; p < j->hi; p++) {
        s->poff[p] = (uint32_t)o;
        for (uint32_t d = 0; d < nd; d++) {
            const tb__evpart *dp = &s->days[d];
            uint32_t i = cur[d];
            if (i >= end[d] || dp->person[i] != p) continue;
            int64_t base = tb__ev_day_start(dp->day);
            const uint16_t *em = j->evmap[d];
            for (; i < end[d] && dp->person[i] == p; i++, o++) {
                s->mts[o] = base + dp->ts[i];
                s->mev[o] = em[dp->code[i]];
                s->mday[o] = (uint16_t)d;
                s->mrow[o] = i;
            }
            cur[d] = i;
        }
    }
    free(cur);
    return NULL;
}

/* The person-major index (see tb__evset), built by `threads` workers over person ranges. */
static int build_index(tb__evset *s, int threads, tb__errbuf *eb)
{
    uint32_t nd = (uint32_t)(s->to - s->from + 1);
    if (s->nrows > 0xFFFFFFF0u) return tb__seterr(eb, TB_ELIMIT, "more than 2^32 events in range");
    uint16_t **evmap = calloc(nd, sizeof *evmap);
    size_t cap = 0;
    for (uint32_t d = 0; d < nd; d++)
        cap += s->days[d].nevents;
    s->names = calloc(cap + 1, sizeof *s->names);
    s->poff = malloc(((size_t)s->maxperson + 1) * 4);
    size_t n = s->nrows ? s->nrows : 1;
    s->mts = malloc(n * 8);
    s->mev = malloc(n * 2);
    s->mday = malloc(n * 2);
    s->mrow = malloc(n * 4);
    int rc = 0;
    if (!evmap || !s->names || !s->poff || !s->mts || !s->mev || !s->mday || !s->mrow)
        rc = tb__seterr(eb, TB_ENOMEM, "out of memory");
    for (uint32_t d = 0; !rc && d < nd; d++) {
        const tb__evpart *p = &s->days[d];
        if (!(evmap[d] = malloc((size_t)p->nevents * 2 + 2))) {
            rc = tb__seterr(eb, TB_ENOMEM, "out of memory");
            break;
        }
        for (uint32_t e = 0; e < p->nevents; e++) {
            uint32_t g = 0;
            while (g < s->nnames && strcmp(s->names[g], p->events[e]) != 0)
                g++;
            if (g == s->nnames) {
                if (g == 65535) {
                    rc = tb__seterr(eb, TB_ELIMIT, "more than 65535 event names in range");
                    break;
                }
                s->names[s->nnames++] = p->events[e];
            }
            evmap[d][e] = (uint16_t)g;
        }
    }
    if (!rc) {
        int t = threads <= 0 ? 2 : threads > 16 ? 16 : threads;
        if (s->nrows < 200000) t = 1;
        uint32_t big = 0;
        for (uint32_t d = 1; d < nd; d++)
            if (s->days[d].nrows > s->days[big].nrows) big = d;
        const tb__evpart *bp = &s->days[big];
        ixjob jobs[16];
        pthread_t th[16];
        int ok[16] = {0};
        for (int i = 0; i < t; i++) {
            jobs[i].s = s;
            jobs[i].evmap = evmap;
            jobs[i].lo = i == 0 ? 0 : jobs[i - 1].hi;
            jobs[i].hi = i + 1 == t
                             ? s->maxperson
                             : bp->person[(uint64_t)bp->nrows * (uint64_t)(i + 1) / (uint64_t)t];
            if (jobs[i].hi < jobs[i].lo) jobs[i].hi = jobs[i].lo;
            uint64_t at = 0;
            for (uint32_t d = 0; d < nd; d++)
                at += lower_bound(s->days[d].person, s->days[d].nrows, jobs[i].lo);
            jobs[i].at = at;
        }
        for (int i = 1; i < t; i++)
            ok[i] = pthread_create(&th[i], NULL, ix_worker, &jobs[i]) == 0;
        void *r0 = ix_worker(&jobs[0]);
        if (r0) rc = TB_ENOMEM;
        for (int i = 1; i < t; i++) {
            void *r = ok[i] ? (pthread_join(th[i], &r), r) : ix_worker(&jobs[i]);
            if (r) rc = TB_ENOMEM;
        }
        if (rc) tb__seterr(eb, rc, "out of memory");
        s->poff[s->maxperson] = (uint32_t)s->nrows;
    }
    for (uint32_t d = 0; evmap && d < nd; d++)
        free(evmap[d]);
    free(evmap);
    return rc;
}

int tb__evset_load(const char *dir, const tb__evkeys *k, int32_t from, int32_t to, unsigned flags,
                   int threads, tb__evset *out, tb__errbuf *eb)
{
    memset(out, 0, sizeof *out);
    if (to < from || to - from >= 3660)
        return tb__seterr(eb, TB_EINVAL, "a date range of 1 to 3660 days is needed");
    out->from = from;
    out->to = to;
    uint32_t nd = (uint32_t)(to - from + 1);
    out->days = calloc(nd, sizeof *out->days);
    if (!out->days) return tb__seterr(eb, TB_ENOMEM, "out of memory");
    for (uint32_t d = 0; d < nd; d++)
        out->days[d].day = from + (int32_t)d;
    int rc = tb__evpersons_read(dir, &out->pers, eb);
    if (rc) goto out_fail;
    if (threads <= 0) threads = 2;
    if ((uint32_t)threads > nd) threads = (int)nd;
    if (threads > 16) threads = 16;
    loadjob j = {.dir = dir, .keys = k, .s = out, .flags = flags};
    atomic_init(&j.next, 0);
    atomic_init(&j.rc, 0);
    pthread_mutex_init(&j.mu, NULL);
    pthread_t th[16];
    int started = 0;
    for (int t = 1; t < threads; t++)
        if (pthread_create(&th[t], NULL, load_worker, &j) == 0) started |= 1 << t;
    load_worker(&j);
    for (int t = 1; t < threads; t++)
        if (started & (1 << t)) pthread_join(th[t], NULL);
    pthread_mutex_destroy(&j.mu);
    rc = atomic_load(&j.rc);
    if (rc) {
        *eb = j.eb;
        goto out_fail;
    }
    if ((rc = build_groups(out, eb))) goto out_fail;
    out->maxperson = out->pers.n;
    for (uint32_t d = 0; d < nd; d++) {
        const tb__evpart *p = &out->days[d];
        out->nrows += p->nrows;
        if (p->nrows && p->person[p->nrows - 1] >= out->maxperson)
            out->maxperson = p->person[p->nrows - 1] + 1;
    }
    if ((rc = build_index(out, threads, eb))) goto out_fail;
    return 0;
out_fail:
    tb__evset_release(out);
    return rc;
}

void tb__evset_release(tb__evset *s)
{
    if (!s) return;
    if (s->days)
        for (int32_t d = 0; d <= s->to - s->from; d++)
            tb__evpart_release(&s->days[d]);
    free(s->days);
    tb__evpersons_release(&s->pers);
    free(s->cplx);
    free(s->grp_root);
    free(s->grp_off);
    free(s->grp_mem);
    free(s->poff);
    free(s->mts);
    free(s->mev);
    free(s->mday);
    free(s->mrow);
    free(s->names);
    memset(s, 0, sizeof *s);
}
