/* evbehav.c — behaviour in segment expressions: did('e'[, last N days]) and
 * event('e'[, last N days]) <op> n evaluated into a bitmap over customer internal ids (gids) from
 * the day partitions and the person table (docs/expressions.md, "Behaviour"). Counts are per
 * customer: every root linked to the customer adds its events; customers without events have 0
 * (so `event('x') < 3` and `not did('x')` include them). */
#include <stdlib.h>
#include <string.h>

#include "events/evbehav.h"
#include "events/evq.h"

typedef struct bctx {
    const tb__evset *s;
    uint32_t *count; /* per gid */
    uint64_t nbits;
} bctx;

static int on_root(void *arg, int t, const tb__evrun *run)
{
    (void)t;
    bctx *c = arg;
    uint32_t g = tb__ev_gid(c->s, run->root);
    if (g == TB__EV_NO_GID || g >= c->nbits) return 0;
    __atomic_fetch_add(&c->count[g], run->n, __ATOMIC_RELAXED);
    return 0;
}

static int cmp_holds(int op, int64_t a, int64_t b)
{
    switch (op) {
    case 0:
        return a == b;
    case 1:
        return a != b;
    case 2:
        return a < b;
    case 3:
        return a <= b;
    case 4:
        return a > b;
    default:
        return a >= b;
    }
}

int tb__ev_behaviour(const char *dir, const tb__evkeys *k, const tb__expr *pred, int32_t as_of,
                     uint64_t nbits, tb__bm_builder **out, tb__errbuf *eb)
{
    *out = NULL;
    const tb__expr *call = pred->kind == TB__X_CMP ? pred->kid[0] : pred;
    if (call->kind != TB__X_CALL || call->nkid < 1 || call->kid[0]->kind != TB__X_STR ||
        (pred->kind == TB__X_CMP && (pred->kid[1]->kind != TB__X_NUM || !pred->kid[1]->is_int)))
        return tb__seterr(eb, TB_EINVAL, "not a behaviour predicate");
    int op = pred->kind == TB__X_CMP ? pred->op : 4; /* did(): count > 0 */
    int64_t rhs = pred->kind == TB__X_CMP ? pred->kid[1]->ival : 0;
    int64_t days = call->nkid == 2 ? call->kid[1]->kid[0]->ival : 0;
    int32_t from = as_of, to = as_of;
    if (days > 0)
        from = as_of - (int32_t)days + 1;
    else {
        int32_t *list;
        size_t n;
        int rc = tb__evpart_list(dir, &list, &n, eb);
        if (rc) return rc;
        from = n && list[0] <= as_of ? list[0] : as_of;
        if (n && as_of - from >= 3660) from = as_of - 3659; /* the loader's bound */
        free(list);
    }
    tb__evstep step = {call->kid[0]->text, NULL, 0};
    bctx c = {0};
    c.nbits = nbits;
    c.count = calloc(nbits ? nbits : 1, 4);
    tb__evset s = {0};
    int rc = c.count ? 0 : tb__seterr(eb, TB_ENOMEM, "out of memory");
    if (!rc) rc = tb__evset_load(dir, k, from, to, 0, 0, &s, eb);
    c.s = &s;
    tb__evwalk w = {.s = &s, .steps = &step, .nsteps = 1, .fn = on_root, .arg = &c};
    if (!rc) rc = tb__ev_walk_prepare(&w, eb);
    if (!rc) rc = tb__ev_walk_run(&w, eb);
    tb__ev_walk_release(&w);
    tb__evset_release(&s);
    tb__bm_builder *b = NULL;
    if (!rc) rc = tb__bm_builder_create(nbits, &b);
    for (uint64_t g = 0; !rc && g < nbits; g++)
        if (cmp_holds(op, c.count[g], rhs)) rc = tb__bm_set(b, g);
    free(c.count);
    if (rc) {
        tb__bm_builder_free(b);
        return rc == TB_ENOMEM && !eb->msg[0] ? tb__seterr(eb, rc, "out of memory") : rc;
    }
    *out = b;
    return 0;
}
