/* evfilter.c — steps (event name + property conditions) resolved against one day partition, so
 * that the per-row test is a table look-up by event code, plus, for steps with conditions, one
 * look-up per condition in a per-dictionary match table (strings) or one comparison (numbers).
 * Also the person → root → gid helpers every analysis uses. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "events/evq.h"

typedef struct rcond {
    int col; /* property column, -1 when the day has no such key (never matches) */
    tb__evop op;
    const uint8_t *match; /* DICT: [ndict + 1] 1 when code matches (0 = absent: never) */
    double lo;            /* NUM: the bound for LT..GE */
    const tb__evcond *c;
} rcond;

struct tb__evmask {
    const tb__evpart *p;
    uint32_t nsteps;
    uint32_t *bycode;  /* [nevents] */
    uint32_t filtered; /* steps with conditions */
    rcond *rc;         /* conditions of all steps */
    uint32_t rc_off[TB__EV_MAX_STEPS + 1];
    uint8_t *mem;
};

static int dict_is_num(const char *s, double *v)
{
    char *end;
    if (!*s || !(s[0] == '-' || (s[0] >= '0' && s[0] <= '9'))) return 0;
    *v = strtod(s, &end);
    return *end == 0;
}

static int cmp_ok(tb__evop op, double x, double v)
{
    switch (op) {
    case TB__EVOP_LT:
        return x < v;
    case TB__EVOP_LE:
        return x <= v;
    case TB__EVOP_GT:
        return x > v;
    case TB__EVOP_GE:
        return x >= v;
    default:
        return 0;
    }
}

int tb__evmask_prepare(const tb__evpart *p, const tb__evstep *steps, uint32_t nsteps,
                       tb__evmask **out)
{
    *out = NULL;
    if (nsteps > TB__EV_MAX_STEPS) return TB_EINVAL;
    tb__evmask *m = calloc(1, sizeof *m);
    if (!m) return TB_ENOMEM;
    m->p = p;
    m->nsteps = nsteps;
    m->bycode = calloc((size_t)p->nevents + 1, 4);
    size_t ncond = 0;
    for (uint32_t k = 0; k < nsteps; k++)
        ncond += steps[k].nconds;
    m->rc = calloc(ncond + 1, sizeof *m->rc);
    if (!m->bycode || !m->rc) goto out_nomem;
    /* match tables of DICT conditions: one byte per dictionary entry per condition */
    size_t need = 0;
    for (uint32_t k = 0; k < nsteps; k++)
        for (size_t j = 0; j < steps[k].nconds; j++)
            for (uint32_t c = 0; c < p->ncols; c++)
                if (strcmp(p->cols[c].name, steps[k].conds[j].prop) == 0 &&
                    p->cols[c].type == TB__EVCOL_DICT)
                    need += p->cols[c].ndict + 1;
    m->mem = calloc(need + 1, 1);
    if (!m->mem) goto out_nomem;
    uint8_t *mp = m->mem;
    size_t ri = 0;
    for (uint32_t k = 0; k < nsteps; k++) {
        m->rc_off[k] = (uint32_t)ri;
        for (uint32_t e = 0; e < p->nevents; e++)
            if (strcmp(p->events[e], steps[k].event) == 0) m->bycode[e] |= 1u << k;
        if (steps[k].nconds) m->filtered |= 1u << k;
        for (size_t j = 0; j < steps[k].nconds; j++) {
            const tb__evcond *c = &steps[k].conds[j];
            rcond *r = &m->rc[ri++];
            r->c = c;
            r->op = c->op;
            r->col = -1;
            for (uint32_t ci = 0; ci < p->ncols; ci++)
                if (strcmp(p->cols[ci].name, c->prop) == 0) r->col = (int)ci;
            if (r->col < 0) continue;
            const tb__evcol *col = &p->cols[r->col];
            if (col->type != TB__EVCOL_DICT) continue;
            uint8_t *mt = mp;
            mp += col->ndict + 1;
            r->match = mt;
            for (uint32_t d = 0; d < col->ndict; d++) {
                int hit = 0;
                double x;
                if (c->op == TB__EVOP_EXISTS)
                    hit = 1;
                else if (c->op == TB__EVOP_EQ || c->op == TB__EVOP_NE) {
                    for (size_t v = 0; v < c->nv && !hit; v++)
                        hit = strcmp(col->dict[d], c->vtext[v]) == 0 ||
                              (c->visnum[v] && dict_is_num(col->dict[d], &x) && x == c->vnum[v]);
                    if (c->op == TB__EVOP_NE) hit = !hit;
                } else if (c->nv && c->visnum[0] && dict_is_num(col->dict[d], &x))
                    hit = cmp_ok(c->op, x, c->vnum[0]);
                mt[d + 1] = (uint8_t)hit;
            }
        }
    }
    m->rc_off[nsteps] = (uint32_t)ri;
    *out = m;
    return 0;
out_nomem:
    tb__evmask_free(m);
    return TB_ENOMEM;
}

void tb__evmask_free(tb__evmask *m)
{
    if (!m) return;
    free(m->bycode);
    free(m->rc);
    free(m->mem);
    free(m);
}

static int cond_row(const tb__evmask *m, const rcond *r, uint32_t i)
{
    if (r->col < 0) return 0;
    const tb__evcol *col = &m->p->cols[r->col];
    if (col->type == TB__EVCOL_DICT) return r->match[col->code[i]];
    double x = col->num[i];
    if (isnan(x)) return 0;
    const tb__evcond *c = r->c;
    switch (r->op) {
    case TB__EVOP_EXISTS:
        return 1;
    case TB__EVOP_EQ:
    case TB__EVOP_NE: {
        int hit = 0;
        for (size_t v = 0; v < c->nv && !hit; v++)
            hit = c->visnum[v] && x == c->vnum[v];
        return r->op == TB__EVOP_EQ ? hit : !hit;
    }
    default:
        return c->nv && c->visnum[0] && cmp_ok(r->op, x, c->vnum[0]);
    }
}

uint32_t tb__evmask_row(const tb__evmask *m, uint32_t i)
{
    uint32_t b = m->bycode[m->p->code[i]];
    uint32_t f = b & m->filtered;
    while (f) {
        uint32_t k = (uint32_t)__builtin_ctz(f);
        f &= f - 1;
        for (uint32_t j = m->rc_off[k]; j < m->rc_off[k + 1]; j++)
            if (!cond_row(m, &m->rc[j], i)) {
                b &= ~(1u << k);
                break;
            }
    }
    return b;
}

const uint32_t *tb__evmask_table(const tb__evmask *m)
{
    return m->bycode;
}

uint32_t tb__evmask_filtered(const tb__evmask *m)
{
    return m->filtered;
}

uint32_t tb__ev_root(const tb__evset *s, uint32_t p)
{
    return p < s->pers.n ? s->pers.root[p] : p;
}

uint32_t tb__ev_gid(const tb__evset *s, uint32_t p)
{
    return p < s->pers.n ? s->pers.gid[p] : TB__EV_NO_GID;
}

int tb__ev_root_in(const tb__evset *s, uint32_t root, const tb__bmv *universe)
{
    if (!universe) return 1;
    uint32_t g = tb__ev_gid(s, root);
    return g != TB__EV_NO_GID && tb__bmv_contains(universe, g);
}
