/* part_append.c — tb__evpart_append: new rows merged into the day partitions they fall on. Each
 * touched day is decoded, merged with the new rows in memory (rows of one (person, ts) keep their
 * arrival order: old rows first), its properties shredded into columns again and the day written
 * whole. Every day's image is written to its temp file before the first rename. */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/arena.h"
#include "common/hash.h"
#include "events/evpart_int.h"
#include "events/evstore.h"
#include "store/file.h"

/* ---- an interner of byte strings (event names, keys, value texts) ---- */
typedef struct strtab {
    tb__arena a;
    const char **s;
    uint32_t *len;
    uint32_t n, cap;
    uint32_t *slot; /* id + 1, 0 empty */
    uint32_t nslot;
} strtab;

static int st_grow(strtab *t)
{
    uint32_t ns = t->nslot ? t->nslot * 2 : 1024;
    uint32_t *sl = calloc(ns, 4);
    if (!sl) return TB_ENOMEM;
    for (uint32_t i = 0; i < t->n; i++) {
        uint64_t h = tb__hash64(t->s[i], t->len[i], 7);
        uint32_t j = (uint32_t)h & (ns - 1);
        while (sl[j])
            j = (j + 1) & (ns - 1);
        sl[j] = i + 1;
    }
    free(t->slot);
    t->slot = sl;
    t->nslot = ns;
    return 0;
}

static int st_intern(strtab *t, const char *s, size_t len, uint32_t *id)
{
    if ((uint64_t)(t->n + 1) * 2 > t->nslot && st_grow(t)) return TB_ENOMEM;
    uint64_t h = tb__hash64(s, len, 7);
    uint32_t j = (uint32_t)h & (t->nslot - 1);
    while (t->slot[j]) {
        uint32_t k = t->slot[j] - 1;
        if (t->len[k] == len && memcmp(t->s[k], s, len) == 0) {
            *id = k;
            return 0;
        }
        j = (j + 1) & (t->nslot - 1);
    }
    if (t->n == t->cap) {
        uint32_t cap = t->cap ? t->cap * 2 : 256;
        const char **ns = realloc(t->s, cap * sizeof *ns);
        if (!ns) return TB_ENOMEM;
        t->s = ns;
        uint32_t *nl = realloc(t->len, cap * 4);
        if (!nl) return TB_ENOMEM;
        t->len = nl;
        t->cap = cap;
    }
    char *c = tb__arena_strndup(&t->a, s, len);
    if (!c) return TB_ENOMEM;
    t->s[t->n] = c;
    t->len[t->n] = (uint32_t)len;
    t->slot[j] = t->n + 1;
    *id = t->n++;
    return 0;
}

static void st_free(strtab *t)
{
    tb__arena_release(&t->a);
    free(t->s);
    free(t->len);
    free(t->slot);
}

/* ---- rows being merged ---- */
typedef struct brow {
    uint32_t person, ts, ev;
    int32_t day;
    uint32_t p0, np; /* values bv[p0, p0+np) */
    uint64_t seq;
} brow;

typedef struct bval {
    uint32_t key;
    uint32_t txt; /* !isnum: interned compact JSON text */
    double num;   /* isnum */
    int isnum;
} bval;

typedef struct vec {
    void *p;
    size_t n, cap, size;
} vec;

static void *vec_push(vec *v)
{
    if (v->n == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 1024;
        void *np = realloc(v->p, cap * v->size);
        if (!np) return NULL;
        v->p = np;
        v->cap = cap;
    }
    return (char *)v->p + v->size * v->n++;
}

/* The shortest %g text that reads back as d (a JSON number: d is finite). */
static void num_text(double d, char out[40])
{
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(out, 40, "%.*g", prec, d);
        if (strtod(out, NULL) == d) return;
    }
}

static int cmp_row(const void *a, const void *b)
{
    const brow *x = a, *y = b;
    if (x->person != y->person) return x->person < y->person ? -1 : 1;
    if (x->ts != y->ts) return x->ts < y->ts ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

typedef struct ctx {
    strtab st;
    vec rows; /* brow */
    vec vals; /* bval */
    tb__errbuf *eb;
} ctx;

/* Shreds one JSON object into bvals. */
static int add_props(ctx *c, brow *r, const char *props, size_t len, size_t rowno)
{
    r->p0 = (uint32_t)c->vals.n;
    r->np = 0;
    if (!props || !len) return 0;
    json_error_t je;
    json_t *o = json_loadb(props, len, 0, &je);
    if (!o || !json_is_object(o)) {
        json_decref(o);
        return tb__seterr(c->eb, TB_EINVAL, "row %zu: properties are not a JSON object", rowno);
    }
    int rc = 0;
    const char *k;
    json_t *v;
    json_object_foreach(o, k, v)
    {
        size_t kl = strlen(k);
        if (kl == 0 || kl > 255) {
            rc =
                tb__seterr(c->eb, TB_EINVAL, "row %zu: a property key is empty or too long", rowno);
            break;
        }
        bval *b = vec_push(&c->vals);
        if (!b || st_intern(&c->st, k, kl, &b->key)) {
            rc = TB_ENOMEM;
            break;
        }
        b->isnum = 0;
        if (json_is_real(v) ||
            (json_is_integer(v) && llabs(json_integer_value(v)) <= (1LL << 53))) {
            b->isnum = 1;
            b->num = json_number_value(v);
            b->txt = 0;
        } else {
            char *t = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_PRESERVE_ORDER);
            if (!t || st_intern(&c->st, t, strlen(t), &b->txt)) {
                free(t);
                rc = TB_ENOMEM;
                break;
            }
            free(t);
        }
        r->np++;
    }
    json_decref(o);
    return rc;
}

/* Appends the rows of an existing partition for merging. */
static int add_old(ctx *c, const tb__evpart *p)
{
    uint32_t *evid = malloc((size_t)p->nevents * 4 + 4);
    uint32_t *keyid = malloc((size_t)p->ncols * 4 + 4);
    uint32_t **txt = calloc((size_t)p->ncols + 1, sizeof *txt);
    int rc = !evid || !keyid || !txt ? TB_ENOMEM : 0;
    for (uint32_t e = 0; !rc && e < p->nevents; e++)
        rc = st_intern(&c->st, p->events[e], strlen(p->events[e]), &evid[e]);
    for (uint32_t k = 0; !rc && k < p->ncols; k++) {
        const tb__evcol *col = &p->cols[k];
        rc = st_intern(&c->st, col->name, strlen(col->name), &keyid[k]);
        if (!rc && col->type == TB__EVCOL_DICT) {
            if (!(txt[k] = malloc((size_t)col->ndict * 4 + 4))) rc = TB_ENOMEM;
            for (uint32_t d = 0; !rc && d < col->ndict; d++)
                rc = st_intern(&c->st, col->dict[d], col->dictlen[d], &txt[k][d]);
        }
    }
    for (uint32_t i = 0; !rc && i < p->nrows; i++) {
        brow *r = vec_push(&c->rows);
        if (!r) {
            rc = TB_ENOMEM;
            break;
        }
        r->person = p->person[i];
        r->ts = p->ts[i];
        r->day = p->day;
        r->ev = evid[p->code[i]];
        r->seq = i;
        r->p0 = (uint32_t)c->vals.n;
        r->np = 0;
        for (uint32_t k = 0; k < p->ncols; k++) {
            const tb__evcol *col = &p->cols[k];
            if (col->type == TB__EVCOL_NUM ? isnan(col->num[i]) : col->code[i] == 0) continue;
            bval *b = vec_push(&c->vals);
            if (!b) {
                rc = TB_ENOMEM;
                break;
            }
            b->key = keyid[k];
            b->isnum = col->type == TB__EVCOL_NUM;
            b->num = b->isnum ? col->num[i] : 0;
            b->txt = b->isnum ? 0 : txt[k][col->code[i] - 1];
            r->np++;
        }
    }
    for (uint32_t k = 0; txt && k < p->ncols; k++)
        free(txt[k]);
    free(txt);
    free(evid);
    free(keyid);
    return rc ? tb__seterr(c->eb, rc, "out of memory") : 0;
}

/* Builds the columns of rows[0, n) (sorted, one day) into *p (arrays from the arena). */
static int build_day(ctx *c, brow *rows, size_t n, int32_t day, tb__arena *a, tb__evpart *p)
{
    memset(p, 0, sizeof *p);
    p->day = day;
    p->nrows = (uint32_t)n;
    uint32_t *map = malloc((size_t)c->st.n * 4 + 4); /* interned id -> local code + 1 */
    if (!map) return TB_ENOMEM;
    memset(map, 0, (size_t)c->st.n * 4);
    p->person = tb__arena_alloc(a, n * 4 + 4);
    p->ts = tb__arena_alloc(a, n * 4 + 4);
    p->code = tb__arena_alloc(a, n * 2 + 2);
    p->events = tb__arena_alloc(a, 65536 * sizeof(char *));
    int rc = !p->person || !p->ts || !p->code || !p->events ? TB_ENOMEM : 0;
    for (size_t i = 0; !rc && i < n; i++) {
        p->person[i] = rows[i].person;
        p->ts[i] = rows[i].ts;
        uint32_t e = rows[i].ev;
        if (!map[e]) {
            if (p->nevents == 65535) {
                rc = tb__seterr(c->eb, TB_ELIMIT, "more than 65535 event names in one day");
                break;
            }
            p->events[p->nevents] = c->st.s[e];
            map[e] = ++p->nevents;
        }
        p->code[i] = (uint16_t)(map[e] - 1);
    }
    /* keys in first-occurrence order; numeric when every value of the key is a number */
    memset(map, 0, (size_t)c->st.n * 4);
    const bval *bv = c->vals.p;
    uint32_t keys[TB__EV_MAX_COLS];
    int isnum[TB__EV_MAX_COLS];
    uint32_t nk = 0;
    for (size_t i = 0; !rc && i < n; i++)
        for (uint32_t j = 0; j < rows[i].np; j++) {
            const bval *b = &bv[rows[i].p0 + j];
            if (!map[b->key]) {
                if (nk == TB__EV_MAX_COLS) {
                    rc = tb__seterr(c->eb, TB_ELIMIT, "more than %d property keys in one day",
                                    TB__EV_MAX_COLS);
                    break;
                }
                keys[nk] = b->key;
                isnum[nk] = 1;
                map[b->key] = ++nk;
            }
            if (!b->isnum) isnum[map[b->key] - 1] = 0;
        }
    if (!rc && nk) {
        p->cols = tb__arena_calloc(a, nk, sizeof(tb__evcol));
        if (!p->cols) rc = TB_ENOMEM;
        p->ncols = rc ? 0 : nk;
    }
    for (uint32_t k = 0; !rc && k < nk; k++) {
        tb__evcol *col = &p->cols[k];
        col->name = c->st.s[keys[k]];
        col->type = isnum[k] ? TB__EVCOL_NUM : TB__EVCOL_DICT;
        if (isnum[k]) {
            if (!(col->num = tb__arena_alloc(a, n * 8 + 8))) rc = TB_ENOMEM;
            for (size_t i = 0; !rc && i < n; i++)
                col->num[i] = NAN;
        } else if (!(col->code = tb__arena_calloc(a, n + 1, 4)))
            rc = TB_ENOMEM;
    }
    /* dictionaries: value texts per column, first-occurrence order, via a per-column strtab */
    strtab *dt = rc ? NULL : calloc(nk + 1, sizeof *dt);
    if (!rc && !dt) rc = TB_ENOMEM;
    for (uint32_t k = 0; dt && k < nk; k++)
        tb__arena_init(&dt[k].a, 0);
    for (size_t i = 0; !rc && i < n; i++)
        for (uint32_t j = 0; !rc && j < rows[i].np; j++) {
            const bval *b = &bv[rows[i].p0 + j];
            uint32_t k = map[b->key] - 1;
            tb__evcol *col = &p->cols[k];
            if (col->type == TB__EVCOL_NUM) {
                col->num[i] = b->num;
                continue;
            }
            char nb[40];
            const char *s = b->isnum ? (num_text(b->num, nb), nb) : c->st.s[b->txt];
            size_t sl = b->isnum ? strlen(nb) : c->st.len[b->txt];
            uint32_t id;
            if (st_intern(&dt[k], s, sl, &id)) rc = TB_ENOMEM;
            col->code[i] = id + 1;
        }
    for (uint32_t k = 0; !rc && k < nk; k++) {
        tb__evcol *col = &p->cols[k];
        if (col->type != TB__EVCOL_DICT) continue;
        col->ndict = dt[k].n;
        const char **d = tb__arena_alloc(a, (size_t)dt[k].n * sizeof(char *) + 1);
        uint32_t *dl = tb__arena_alloc(a, (size_t)dt[k].n * 4 + 4);
        if (!d || !dl) {
            rc = TB_ENOMEM;
            break;
        }
        for (uint32_t x = 0; x < dt[k].n; x++) {
            if (!(d[x] = tb__arena_strndup(a, dt[k].s[x], dt[k].len[x]))) rc = TB_ENOMEM;
            dl[x] = dt[k].len[x];
        }
        col->dict = d;
        col->dictlen = dl;
    }
    for (uint32_t k = 0; dt && k < nk; k++)
        st_free(&dt[k]);
    free(dt);
    free(map);
    if (rc == TB_ENOMEM && !c->eb->msg[0]) tb__seterr(c->eb, rc, "out of memory");
    return rc;
}

static int cmp_day_row(const void *a, const void *b)
{
    const brow *x = a, *y = b;
    if (x->day != y->day) return x->day < y->day ? -1 : 1;
    return cmp_row(a, b);
}

int tb__evpart_append(const char *dir, const tb__evkeys *k, const tb__evrow *rows, size_t n,
                      tb__errbuf *eb)
{
    if (n == 0) return 0;
    if (!rows) return tb__seterr(eb, TB_EINVAL, "no rows");
    ctx c = {0};
    tb__arena_init(&c.st.a, 0);
    c.rows.size = sizeof(brow);
    c.vals.size = sizeof(bval);
    c.eb = eb;
    tb__clearerr(eb);
    int rc = 0;
    for (size_t i = 0; !rc && i < n; i++) {
        const tb__evrow *r = &rows[i];
        if (!r->event || !r->event[0] || strnlen(r->event, TB__EV_NAME_MAX + 1) > TB__EV_NAME_MAX) {
            rc = tb__seterr(eb, TB_EINVAL, "row %zu: event name empty or over 100 bytes", i);
            break;
        }
        if (r->ts_ms < 0 || r->ts_ms > (int64_t)253402300799999LL) {
            rc = tb__seterr(eb, TB_EINVAL, "row %zu: time out of range", i);
            break;
        }
        brow *b = vec_push(&c.rows);
        if (!b) {
            rc = tb__seterr(eb, TB_ENOMEM, "out of memory");
            break;
        }
        b->person = r->person;
        b->day = tb__ev_day(r->ts_ms);
        b->ts = (uint32_t)(r->ts_ms - tb__ev_day_start(b->day));
        b->seq = (1ULL << 40) + i; /* after every old row */
        if (st_intern(&c.st, r->event, strlen(r->event), &b->ev)) {
            rc = tb__seterr(eb, TB_ENOMEM, "out of memory");
            break;
        }
        brow tmp = *b; /* add_props may move c.rows? no: it grows c.vals only */
        rc = add_props(&c, &tmp, r->props, r->props_len, i);
        *b = tmp;
    }
    size_t nnew = c.rows.n;
    /* the distinct days, ascending */
    int32_t *days = NULL;
    size_t ndays = 0;
    if (!rc) {
        qsort(c.rows.p, nnew, sizeof(brow), cmp_day_row);
        days = malloc(nnew * sizeof *days);
        if (!days) rc = tb__seterr(eb, TB_ENOMEM, "out of memory");
        for (size_t i = 0; !rc && i < nnew; i++) {
            int32_t d = ((brow *)c.rows.p)[i].day;
            if (!ndays || days[ndays - 1] != d) days[ndays++] = d;
        }
    }
    tb__afile *af = rc ? NULL : calloc(ndays + 1, sizeof *af);
    if (!rc && !af) rc = tb__seterr(eb, TB_ENOMEM, "out of memory");
    for (size_t di = 0; af && di < ndays; di++)
        af[di].fd = -1; /* a zeroed one would hold fd 0 */
    char pdir[4096];
    if (!rc && snprintf(pdir, sizeof pdir, "%s/events/parts", dir) >= (int)sizeof pdir)
        rc = tb__seterr(eb, TB_EINVAL, "data directory path too long");
    if (!rc) rc = tb__mkdir_p(pdir, 0750, eb);
    for (size_t di = 0, at = 0; !rc && di < ndays; di++) {
        int32_t day = days[di];
        size_t end = at;
        while (end < nnew && ((brow *)c.rows.p)[end].day == day)
            end++;
        /* this day's rows: the old partition's, then the new ones, in a vector of their own */
        ctx dc = c;
        dc.rows.p = NULL;
        dc.rows.n = dc.rows.cap = 0;
        tb__evpart old;
        int r = tb__evpart_read(dir, k, day, TB__EVP_PROPS, &old, eb);
        if (r == 0)
            r = add_old(&dc, &old);
        else if (r == TB_ENOENT) {
            r = 0;
            tb__clearerr(eb);
        }
        tb__evpart_release(&old);
        for (size_t i = at; !r && i < end; i++) {
            brow *b = vec_push(&dc.rows);
            if (!b)
                r = tb__seterr(eb, TB_ENOMEM, "out of memory");
            else
                *b = ((brow *)c.rows.p)[i];
        }
        c.vals = dc.vals; /* add_old may have grown the shared value vector */
        c.st = dc.st;
        if (!r) qsort(dc.rows.p, dc.rows.n, sizeof(brow), cmp_row);
        tb__arena a;
        tb__arena_init(&a, 1 << 20);
        tb__evpart p;
        tb__buf img = TB__BUF_INIT;
        if (!r) r = build_day(&c, dc.rows.p, dc.rows.n, day, &a, &p);
        if (!r) r = tb__evpart_encode(&p, 3, &img, eb);
        char path[4096];
        if (!r && tb__evpart_path(dir, day, path, sizeof path))
            r = tb__seterr(eb, TB_EINVAL, "data directory path too long");
        if (!r && k && k->seal) { /* the image sealed whole, named by its path in the data dir */
            tb__buf sealed = TB__BUF_INIT;
            if ((r = tb__ev_seal_image(k->seal, path + strlen(dir) + 1, img.data, img.len,
                                       &sealed)))
                r = tb__seterr(eb, r, "cannot seal '%s'", path);
            tb__buf_release(&img);
            img = sealed;
        }
        if (!r && !(r = tb__afile_open(&af[di], path, 0640, eb)))
            r = tb__afile_write(&af[di], img.data, img.len, eb);
        tb__buf_release(&img);
        tb__arena_release(&a);
        free(dc.rows.p);
        rc = r;
        at = end;
    }
    /* every image is in its temp file: now the renames */
    for (size_t di = 0; !rc && di < ndays; di++)
        rc = tb__afile_commit(&af[di], eb);
    for (size_t di = 0; af && di < ndays; di++)
        tb__afile_abort(&af[di]);
    free(af);
    free(days);
    free(c.rows.p);
    free(c.vals.p);
    st_free(&c.st);
    return rc;
}
