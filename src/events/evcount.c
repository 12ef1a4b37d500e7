/* evcount.c — event counts and trends: events and distinct roots per event name and day or hour,
 * for everyone counted and per group of customers (segments, tag values); and events per value of
 * a property (evq.h). */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "events/evq.h"

typedef struct cctx {
    const tb__count_spec *sp;
    const tb__evset *s;
    int64_t rs, re;
    uint32_t nb, nn, ng;
    uint64_t *ev[16], *us[16];
    uint32_t *last[16]; /* per thread [nn]: the last bucket + 1 counted for the current root */
} cctx;

static int on_root(void *arg, int t, const tb__evrun *run)
{
    cctx *c = arg;
    uint32_t nb = c->nb, nn = c->nn;
    uint32_t gid = tb__ev_gid(c->s, run->root);
    uint32_t gs[65];
    uint32_t ngs = 0;
    gs[ngs++] = 0;
    for (uint32_t g = 0; g < c->ng && ngs < 65; g++)
        if (gid != TB__EV_NO_GID && tb__bmv_contains(c->sp->groups[g], gid)) gs[ngs++] = g + 1;
    uint32_t *last = c->last[t];
    memset(last, 0, (size_t)nn * 4);
    int64_t bucket_ms = c->sp->hourly ? 3600000 : TB__EV_DAY_MS;
    for (uint32_t i = 0; i < run->n; i++) {
        if (c->sp->nonly && !run->mask[i]) continue;
        int64_t ts = run->ts[i];
        if (ts < c->rs || ts >= c->re) continue;
        uint32_t b = (uint32_t)((ts - c->rs) / bucket_ms), e = run->ev[i];
        int newu = last[e] != b + 1;
        last[e] = b + 1;
        for (uint32_t k = 0; k < ngs; k++) {
            size_t at = ((size_t)gs[k] * nn + e) * nb + b;
            c->ev[t][at]++;
            c->us[t][at] += (uint64_t)newu;
        }
    }
    return 0;
}

int tb__count_run(const tb__evset *s, const tb__count_spec *sp, const tb__bmv *universe,
                  int threads, tb__count_res *out, tb__errbuf *eb)
{
    memset(out, 0, sizeof *out);
    if (sp->from > sp->to || sp->from < s->from || sp->to > s->to)
        return tb__seterr(eb, TB_EINVAL, "the date range is not loaded");
    if (sp->ngroups > 64) return tb__seterr(eb, TB_ELIMIT, "at most 64 groups");
    cctx c;
    memset(&c, 0, sizeof c);
    c.sp = sp;
    c.s = s;
    c.rs = tb__ev_day_start(sp->from);
    c.re = tb__ev_day_start(sp->to + 1);
    c.nb = (uint32_t)(sp->to - sp->from + 1) * (sp->hourly ? 24 : 1);
    c.nn = s->nnames ? s->nnames : 1;
    c.ng = sp->ngroups;
    size_t cells = (size_t)(c.ng + 1) * c.nn * c.nb;
    if (cells > ((size_t)1 << 26)) return tb__seterr(eb, TB_ELIMIT, "too many buckets");
    tb__evwalk w = {.s = s,
                    .steps = sp->only,
                    .nsteps = sp->nonly,
                    .all = 1,
                    .universe = universe,
                    .threads = threads,
                    .fn = on_root,
                    .arg = &c};
    int rc = tb__ev_walk_prepare(&w, eb);
    for (int t = 0; !rc && t < w.nthreads; t++) {
        c.ev[t] = calloc(cells, 8);
        c.us[t] = calloc(cells, 8);
        c.last[t] = calloc(c.nn, 4);
        if (!c.ev[t] || !c.us[t] || !c.last[t]) rc = tb__seterr(eb, TB_ENOMEM, "out of memory");
    }
    if (!rc) rc = tb__ev_walk_run(&w, eb);
    if (!rc) {
        out->nbuckets = c.nb;
        out->nnames = c.nn;
        out->ngroups = c.ng;
        out->events = c.ev[0];
        out->users = c.us[0];
        c.ev[0] = c.us[0] = NULL;
        for (int t = 1; t < w.nthreads; t++)
            for (size_t i = 0; i < cells; i++) {
                out->events[i] += c.ev[t][i];
                out->users[i] += c.us[t][i];
            }
    }
    for (int t = 0; t < 16; t++) {
        free(c.ev[t]);
        free(c.us[t]);
        free(c.last[t]);
    }
    tb__ev_walk_release(&w);
    return rc;
}

void tb__count_res_release(tb__count_res *r)
{
    free(r->events);
    free(r->users);
    memset(r, 0, sizeof *r);
}

int tb__count_by_prop(const tb__evset *s, const char *prop, int32_t from, int32_t to,
                      const tb__bmv *universe,
                      int (*fn)(void *arg, const char *event, const char *value, uint64_t n),
                      void *arg, tb__errbuf *eb)
{
    if (from > to || from < s->from || to > s->to)
        return tb__seterr(eb, TB_EINVAL, "the date range is not loaded");
    /* key "event\x1fvalue" (value "" for absent) -> count, over every day */
    json_t *acc = json_object();
    if (!acc) return tb__seterr(eb, TB_ENOMEM, "out of memory");
    int rc = 0;
    for (int32_t day = from; !rc && day <= to; day++) {
        const tb__evpart *p = &s->days[day - s->from];
        if (!p->nrows) continue;
        const tb__evcol *col = NULL;
        for (uint32_t k = 0; k < p->ncols; k++)
            if (strcmp(p->cols[k].name, prop) == 0) col = &p->cols[k];
        uint32_t nv = col && col->type == TB__EVCOL_DICT ? col->ndict + 1 : 1;
        uint64_t *cnt =
            col && col->type == TB__EVCOL_NUM ? NULL : calloc((size_t)p->nevents * nv + 1, 8);
        if (col && col->type == TB__EVCOL_NUM) {
            /* numbers: one key per distinct value, through the map directly */
            for (uint32_t i = 0; !rc && i < p->nrows; i++) {
                if (universe && !tb__ev_root_in(s, tb__ev_root(s, p->person[i]), universe))
                    continue;
                char key[160];
                if (col->num[i] != col->num[i])
                    snprintf(key, sizeof key, "%s\x1f", p->events[p->code[i]]);
                else
                    snprintf(key, sizeof key, "%s\x1f%.17g", p->events[p->code[i]], col->num[i]);
                json_t *v = json_object_get(acc, key);
                json_int_t n = v ? json_integer_value(v) : 0;
                if (json_object_set_new(acc, key, json_integer(n + 1))) rc = TB_ENOMEM;
            }
            continue;
        }
        if (!cnt) {
            rc = TB_ENOMEM;
            break;
        }
        for (uint32_t i = 0; i < p->nrows; i++) {
            if (universe && !tb__ev_root_in(s, tb__ev_root(s, p->person[i]), universe)) continue;
            cnt[(size_t)p->code[i] * nv + (col ? col->code[i] : 0)]++;
        }
        for (uint32_t e = 0; !rc && e < p->nevents; e++)
            for (uint32_t v = 0; !rc && v < nv; v++) {
                uint64_t n = cnt[(size_t)e * nv + v];
                if (!n) continue;
                size_t kl = strlen(p->events[e]) + 2 + (v ? col->dictlen[v - 1] : 0);
                char *key = malloc(kl);
                if (!key) {
                    rc = TB_ENOMEM;
                    break;
                }
                snprintf(key, kl, "%s\x1f%s", p->events[e], v ? col->dict[v - 1] : "");
                json_t *old = json_object_get(acc, key);
                json_int_t o = old ? json_integer_value(old) : 0;
                if (json_object_set_new(acc, key, json_integer(o + (json_int_t)n))) rc = TB_ENOMEM;
                free(key);
            }
        free(cnt);
    }
    const char *k;
    json_t *v;
    json_object_foreach(acc, k, v)
    {
        if (rc) break;
        char *sep = strchr(k, '\x1f');
        char ev[128];
        size_t el = (size_t)(sep - k);
        if (el >= sizeof ev) el = sizeof ev - 1;
        memcpy(ev, k, el);
        ev[el] = 0;
        rc = fn(arg, ev, sep[1] ? sep + 1 : NULL, (uint64_t)json_integer_value(v));
    }
    json_decref(acc);
    if (rc == TB_ENOMEM) return tb__seterr(eb, rc, "out of memory");
    return rc;
}
