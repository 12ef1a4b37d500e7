/* profile.c — seg profile: the distribution of one tag over a segment, computed on the bitmaps:
 * per value a popcount of (members AND value); for numbers the sum from the bit slices
 * (sum = min*n + sum over slices of 2^s * |members AND slice|) and percentiles by walking the
 * slices from the top (the k-th smallest value, O'Neil & Quass), never touching a row. */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/clock.h"
#include "segments/cseg.h"
#include "store/meta.h"

#define W TB__BM_CHUNK_WORDS

/* All words of a bitmap, dense (nchunks * W words); caller frees. */
static uint64_t *dense_of(const tb__bmv *v)
{
    uint64_t *d = malloc(((size_t)v->nchunks * W + 1) * sizeof *d);
    if (!d) return NULL;
    for (uint32_t ch = 0; ch < v->nchunks; ch++) {
        uint64_t *dst = d + (size_t)ch * W;
        const uint64_t *w = tb__bmv_words(v, ch, dst);
        if (w != dst) memcpy(dst, w, W * sizeof *dst);
    }
    return d;
}

/* |d AND v| (andnot: |d AND NOT v|). */
static uint64_t count_and(const uint64_t *d, const tb__bmv *v, int andnot, uint64_t *tmp)
{
    uint64_t n = 0;
    for (uint32_t ch = 0; ch < v->nchunks; ch++) {
        const uint64_t *w = tb__bmv_words(v, ch, tmp), *x = d + (size_t)ch * W;
        uint64_t t[W];
        for (uint32_t k = 0; k < W; k++)
            t[k] = andnot ? x[k] & ~w[k] : x[k] & w[k];
        n += tb__bm_popcount_words(t, W);
    }
    return n;
}

/* Keeps in d only the ids in v (or not in v). */
static void and_in_place(uint64_t *d, const tb__bmv *v, int andnot, uint64_t *tmp)
{
    for (uint32_t ch = 0; ch < v->nchunks; ch++) {
        const uint64_t *w = tb__bmv_words(v, ch, tmp);
        uint64_t *x = d + (size_t)ch * W;
        for (uint32_t k = 0; k < W; k++)
            x[k] = andnot ? x[k] & ~w[k] : x[k] & w[k];
    }
}

static json_t *value_json(const tb__tagv *t, int64_t stored)
{
    if (t->m.vtype == TB__TV_DATE) {
        char buf[TB__DATE_TEXT_LEN];
        return json_string(tb__date_text(stored, buf));
    }
    if (t->m.vtype == TB__TV_DECIMAL) return json_real((double)stored / pow(10, t->m.scale));
    return json_integer(stored);
}

/* Profile of members `m` by tag t into doc. */
static int profile(const tb__bmv *m, const tb__tagv *t, json_t *doc)
{
    uint64_t *tmp = malloc(W * sizeof *tmp), *d = dense_of(m);
    if (!tmp || !d) {
        free(tmp);
        free(d);
        return TB_ENOMEM;
    }
    uint64_t total = m->card;
    if (t->bsi) {
        const tb__bsiv *b = t->bsi;
        and_in_place(d, &b->notnull, 0, tmp);
        uint64_t n = 0;
        for (size_t i = 0; i < (size_t)m->nchunks * W; i++)
            n += (uint64_t)__builtin_popcountll(d[i]);
        long double sum = (long double)b->min * (long double)n;
        for (uint32_t s = 0; s < b->nslices; s++)
            sum += ldexpl((long double)count_and(d, &b->slice[s], 0, tmp), (int)s);
        json_object_set_new(doc, "count", json_integer((json_int_t)n));
        json_object_set_new(doc, "null", json_integer((json_int_t)(total - n)));
        if (n) {
            double scale = t->m.vtype == TB__TV_DECIMAL ? pow(10, t->m.scale) : 1;
            if (t->m.vtype != TB__TV_DATE) {
                json_object_set_new(doc, "sum", json_real((double)(sum / scale)));
                json_object_set_new(doc, "avg", json_real((double)(sum / n / scale)));
            }
            static const double pct[] = {0, 0.25, 0.5, 0.75, 0.9, 1};
            static const char *const pname[] = {"min", "p25", "p50", "p75", "p90", "max"};
            uint64_t *c = malloc(((size_t)m->nchunks * W + 1) * sizeof *c);
            if (!c) {
                free(tmp);
                free(d);
                return TB_ENOMEM;
            }
            for (size_t p = 0; p < 6; p++) {
                /* the k-th smallest (0-based, nearest rank) */
                uint64_t k = (uint64_t)ceil(pct[p] * (double)n);
                k = k ? k - 1 : 0;
                memcpy(c, d, (size_t)m->nchunks * W * sizeof *c);
                uint64_t off = 0;
                for (int s = (int)b->nslices - 1; s >= 0; s--) {
                    uint64_t zeros = count_and(c, &b->slice[s], 1, tmp);
                    if (k < zeros)
                        and_in_place(c, &b->slice[s], 1, tmp);
                    else {
                        k -= zeros;
                        and_in_place(c, &b->slice[s], 0, tmp);
                        off |= (uint64_t)1 << s;
                    }
                }
                json_object_set_new(doc, pname[p], value_json(t, b->min + (int64_t)off));
            }
            free(c);
        }
    } else {
        json_t *vals = json_array();
        uint64_t seen = 0;
        for (size_t i = 0; i < t->nvalues; i++) {
            uint64_t n = count_and(d, &t->bm[i], 0, tmp);
            seen += n;
            json_array_append_new(vals, json_pack("{s:s, s:I, s:f}", "value", t->values[i], "count",
                                                  (json_int_t)n, "share",
                                                  total ? (double)n / (double)total : 0.0));
        }
        json_object_set_new(doc, "values", vals);
        json_object_set_new(doc, "null", json_integer((json_int_t)(total - seen)));
    }
    free(tmp);
    free(d);
    return 0;
}

int tb_seg_profile(tb_db *db, const char *name, const char *by, const tb_seg_opts *o,
                   char **json_out)
{
    *json_out = NULL;
    tb__errbuf eb;
    tb__clearerr(&eb);
    tb__segctx *c;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int rc = tb__segctx_open(db, o, &c, &eb);
    if (rc) return tb__seterr(tb__db_err(db), rc, "%s", eb.msg);
    const tb__tagv *t = tb__tagset_find(tb__segctx_tags(c), by);
    const tb__bmv *m = NULL;
    tb__bm_builder *b = NULL;
    tb__buf buf = TB__BUF_INIT;
    tb__bmv mv;
    if (!t) rc = tb__seterr(&eb, TB_ENOENT, "unknown tag '%s'", by);
    if (!rc) {
        rc = tb__segctx_members(c, name, &m, &eb);
        if (rc == TB_ENOENT) {
            /* not a saved segment: an expression */
            tb__errbuf sub;
            tb__clearerr(&sub);
            tb__query *q;
            tb__expr *e;
            rc = tb__segctx_compile(c, name, 0, &q, &e, &sub);
            if (rc)
                tb__seterr(&eb, rc, "'%s' is neither a saved segment nor an expression: %s", name,
                           sub.msg);
            if (!rc) rc = tb__query_bitmap(q, 0, &b);
            if (!rc) rc = tb__bm_serialize(b, &buf);
            if (!rc) rc = tb__bm_parse_safe(buf.data, buf.len, 0, &mv, NULL, &eb);
            if (!rc) m = &mv;
        }
    }
    json_t *doc = NULL;
    if (!rc) {
        doc = json_pack("{s:s, s:s, s:s, s:s, s:I}", "segment", name, "by", t->m.code, "batch_date",
                        tb__segctx_batch(c), "vtype",
                        t->m.vtype == TB__TV_BOOL   ? "boolean"
                        : t->m.vtype == TB__TV_ENUM ? "enum"
                        : t->m.vtype == TB__TV_DATE ? "date"
                                                    : "number",
                        "members", (json_int_t)m->card);
        rc = doc ? profile(m, t, doc) : TB_ENOMEM;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    if (doc)
        json_object_set_new(doc, "millis",
                            json_real((double)(t1.tv_sec - t0.tv_sec) * 1e3 +
                                      (double)(t1.tv_nsec - t0.tv_nsec) / 1e6));
    tb__bm_builder_free(b);
    tb__buf_release(&buf);
    tb__segctx_close(c);
    if (rc) {
        json_decref(doc);
        return tb__seterr(tb__db_err(db), rc, "%s", eb.msg[0] ? eb.msg : tb_strerror(rc));
    }
    *json_out = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    return *json_out ? 0 : TB_ENOMEM;
}
