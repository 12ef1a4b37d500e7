/* evapi.c — the public event analyses (tb_ev_*, tagbase.h): parse the JSON spec, load the days
 * it needs, apply the caller's scope (the customers of a tb__segctx universe), run the engine
 * (funnel.c, paths.c, retention.c, evcount.c) and render the JSON answer. Saved segments of a
 * funnel step's converted or dropped customers go through cseg (tb__seg_save_bitmap). */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/arena.h"
#include "events/evpart_int.h"
#include "events/evq.h"
#include "segments/cseg.h"
#include "store/meta.h"

/* ---- spec parsing --------------------------------------------------------------------------- */

typedef struct spec {
    tb__arena a;
    tb__errbuf *eb;
} spec;

static int bad(spec *s, const char *member, const char *why)
{
    return tb__seterr(s->eb, TB_EFORMAT, "spec member '%s': %s", member, why);
}

static int parse_cond(spec *s, const char *prop, const char *opname, json_t *val, tb__evcond *c)
{
    static const struct {
        const char *name;
        tb__evop op;
    } ops[] = {{"eq", TB__EVOP_EQ},     {"in", TB__EVOP_EQ}, {"ne", TB__EVOP_NE},
               {"not_in", TB__EVOP_NE}, {"lt", TB__EVOP_LT}, {"le", TB__EVOP_LE},
               {"gt", TB__EVOP_GT},     {"ge", TB__EVOP_GE}, {"exists", TB__EVOP_EXISTS}};
    memset(c, 0, sizeof *c);
    size_t oi = 0;
    while (oi < sizeof ops / sizeof ops[0] && strcmp(ops[oi].name, opname) != 0)
        oi++;
    if (oi == sizeof ops / sizeof ops[0])
        return bad(s, "where", "op is one of eq, ne, in, not_in, lt, le, gt, ge, exists");
    c->op = ops[oi].op;
    if (!(c->prop = tb__arena_strdup(&s->a, prop))) return TB_ENOMEM;
    if (c->op == TB__EVOP_EXISTS) return 0;
    size_t n = json_is_array(val) ? json_array_size(val) : val ? 1 : 0;
    if (!n || n > 1000) return bad(s, "where", "a value (or 1..1000 values for in)");
    const char **vt = tb__arena_calloc(&s->a, n, sizeof *vt);
    double *vn = tb__arena_calloc(&s->a, n, sizeof *vn);
    uint8_t *vi = tb__arena_calloc(&s->a, n, 1);
    if (!vt || !vn || !vi) return TB_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        json_t *v = json_is_array(val) ? json_array_get(val, i) : val;
        if (json_is_array(v) || json_is_object(v)) return bad(s, "where", "values are scalars");
        char *t = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
        if (!t) return TB_ENOMEM;
        vt[i] = tb__arena_strdup(&s->a, t);
        free(t);
        if (!vt[i]) return TB_ENOMEM;
        vi[i] = json_is_number(v);
        vn[i] = vi[i] ? json_number_value(v) : 0;
    }
    if (c->op >= TB__EVOP_LT && c->op <= TB__EVOP_GE && (n != 1 || !vi[0]))
        return bad(s, "where", "lt, le, gt and ge compare with one number");
    c->nv = n;
    c->vtext = vt;
    c->vnum = vn;
    c->visnum = vi;
    return 0;
}

/* A step: "name" or {"event":"name","where":[{"prop","op","value"}] | {"prop": value, ...}}. */
static int parse_step(spec *s, json_t *j, tb__evstep *st)
{
    memset(st, 0, sizeof *st);
    json_t *ev = json_is_string(j) ? j : json_object_get(j, "event");
    if (!json_is_string(ev) || !json_string_length(ev) || json_string_length(ev) > TB__EV_NAME_MAX)
        return bad(s, "event", "an event name of 1 to 100 bytes");
    if (!(st->event = tb__arena_strdup(&s->a, json_string_value(ev)))) return TB_ENOMEM;
    json_t *w = json_is_object(j) ? json_object_get(j, "where") : NULL;
    if (!w) return 0;
    size_t n = json_is_array(w) ? json_array_size(w) : json_is_object(w) ? json_object_size(w) : 0;
    if (!n || n > 16) return bad(s, "where", "1 to 16 conditions (an array or an object)");
    tb__evcond *cs = tb__arena_calloc(&s->a, n, sizeof *cs);
    if (!cs) return TB_ENOMEM;
    int rc = 0;
    if (json_is_array(w)) {
        for (size_t i = 0; !rc && i < n; i++) {
            json_t *c = json_array_get(w, i);
            json_t *p = json_object_get(c, "prop"), *op = json_object_get(c, "op");
            json_t *v = json_object_get(c, "value");
            if (!v) v = json_object_get(c, "values");
            if (!json_is_string(p) || !json_string_length(p))
                return bad(s, "where", "each condition names its 'prop'");
            rc = parse_cond(s, json_string_value(p),
                            json_is_string(op) ? json_string_value(op) : "eq", v, &cs[i]);
        }
    } else {
        const char *k;
        json_t *v;
        size_t i = 0;
        json_object_foreach(w, k, v)
        {
            if (rc) break;
            rc = parse_cond(s, k, json_is_array(v) ? "in" : "eq", v, &cs[i++]);
        }
    }
    st->conds = cs;
    st->nconds = n;
    return rc;
}

static int day_member(spec *s, json_t *j, const char *key, int32_t *out, int *given)
{
    json_t *v = json_object_get(j, key);
    *given = v != NULL;
    if (!v) return 0;
    if (!json_is_string(v) || tb__ev_parse_day(json_string_value(v), out))
        return bad(s, key, "a date YYYY-MM-DD");
    return 0;
}

/* from/to: given, else the newest 7 days with partitions (ending at the newest), else the last 7
 * days up to today. */
static int date_range(spec *s, const char *dir, json_t *j, int32_t *from, int32_t *to)
{
    int gf, gt;
    int rc = day_member(s, j, "from", from, &gf);
    if (!rc) rc = day_member(s, j, "to", to, &gt);
    if (rc) return rc;
    if (!gt) {
        int32_t *days;
        size_t nd;
        if ((rc = tb__evpart_list(dir, &days, &nd, s->eb))) return rc;
        *to = nd ? days[nd - 1] : tb__ev_day((int64_t)time(NULL) * 1000);
        free(days);
    }
    if (!gf) *from = *to - 6;
    if (*from > *to || *to - *from > 366) return bad(s, "from", "from <= to, at most 366 days");
    return 0;
}

static int window_ms(spec *s, json_t *j, int64_t *out)
{
    json_t *v = json_object_get(j, "window");
    *out = TB__EV_DAY_MS;
    if (!v) return 0;
    if (json_is_integer(v)) {
        *out = (int64_t)json_integer_value(v) * 1000;
    } else if (json_is_string(v)) {
        const char *t = json_string_value(v);
        char *end;
        long long n = strtoll(t, &end, 10);
        int64_t unit = !strcmp(end, "d")   ? TB__EV_DAY_MS
                       : !strcmp(end, "h") ? 3600000
                       : !strcmp(end, "m") ? 60000
                       : !strcmp(end, "s") ? 1000
                                           : 0;
        if (end == t || !unit || n < 1 || n > 31LL * 86400)
            return bad(s, "window", "like 1d, 12h, 30m or seconds");
        *out = n * unit;
    } else
        return bad(s, "window", "like 1d, 12h, 30m or seconds");
    if (*out < 1000 || *out > 31 * TB__EV_DAY_MS) return bad(s, "window", "1 second to 31 days");
    return 0;
}

/* ---- shared plumbing ------------------------------------------------------------------------ */

typedef struct run {
    tb_db *db;
    tb__errbuf eb;
    spec sp;
    json_t *j;
    tb__segctx *c; /* when a scope, breakdown or save needs the tag store */
    const tb__bmv *universe;
    struct timespec t0;
} run;

static int run_open(run *r, tb_db *db, const char *spec_json, const tb_seg_opts *o, int need_ctx)
{
    memset(r, 0, sizeof *r);
    r->db = db;
    clock_gettime(CLOCK_MONOTONIC, &r->t0);
    tb__clearerr(&r->eb);
    tb__arena_init(&r->sp.a, 0);
    r->sp.eb = &r->eb;
    json_error_t je;
    r->j = spec_json ? json_loads(spec_json, 0, &je) : NULL;
    if (!json_is_object(r->j))
        return tb__seterr(&r->eb, TB_EFORMAT, "the spec is not a JSON object%s%s", r->j ? "" : ": ",
                          r->j ? "" : je.text);
    int scoped = o && o->scope != TB_SCOPE_ALL;
    if (scoped || need_ctx) {
        int rc = tb__segctx_open(db, o, &r->c, &r->eb);
        if (rc) return rc;
        if (scoped) r->universe = tb__segctx_universe(r->c);
    }
    return 0;
}

static int run_close(run *r, int rc, json_t *doc, char **json_out)
{
    if (!rc && doc) {
        struct timespec t1;
        clock_gettime(CLOCK_MONOTONIC, &t1);
        json_object_set_new(doc, "millis",
                            json_real((double)(t1.tv_sec - r->t0.tv_sec) * 1e3 +
                                      (double)(t1.tv_nsec - r->t0.tv_nsec) / 1e6));
        *json_out = json_dumps(doc, JSON_COMPACT);
        if (!*json_out) rc = tb__seterr(&r->eb, TB_ENOMEM, "out of memory");
    }
    json_decref(doc);
    json_decref(r->j);
    tb__segctx_close(r->c);
    tb__arena_release(&r->sp.a);
    if (rc == TB_ENOMEM && !r->eb.msg[0]) tb__seterr(&r->eb, rc, "out of memory");
    if (rc) tb__seterr(tb__db_err(r->db), rc, "%s", r->eb.msg[0] ? r->eb.msg : tb_strerror(rc));
    return rc;
}

static json_t *day_json(int32_t day)
{
    char t[16];
    return json_string(tb__ev_day_text(day, t));
}

static json_t *step_json(const tb__evstep *st)
{
    json_t *o = json_pack("{s:s}", "event", st->event);
    if (st->nconds) {
        static const char *opn[] = {"eq", "ne", "lt", "le", "gt", "ge", "exists"};
        json_t *w = json_array();
        for (size_t i = 0; i < st->nconds; i++) {
            const tb__evcond *c = &st->conds[i];
            json_t *vals = json_array();
            for (size_t v = 0; v < c->nv; v++)
                json_array_append_new(vals, json_loads(c->vtext[v], JSON_DECODE_ANY, NULL));
            json_array_append_new(
                w, json_pack("{s:s, s:s, s:o}", "prop", c->prop, "op", opn[c->op], "values", vals));
        }
        json_object_set_new(o, "where", w);
    }
    return o;
}

/* Groups for breakdowns: {"tag": code} (one per value) or {"segments": [names]}. */
static int groups(run *r, json_t *by, const tb__bmv ***gs, const char ***names, uint32_t *n)
{
    *n = 0;
    if (!by) return 0;
    if (!r->c) return bad(&r->sp, "breakdown", "needs a tag build");
    json_t *tag = json_object_get(by, "tag"), *segs = json_object_get(by, "segments");
    if (json_is_string(tag)) {
        const tb__tagv *t = tb__tagset_find(tb__segctx_tags(r->c), json_string_value(tag));
        if (!t) return tb__seterr(&r->eb, TB_ENOENT, "no tag '%s'", json_string_value(tag));
        if (!t->nvalues || t->nvalues > 64)
            return bad(&r->sp, "breakdown", "a boolean or enum tag with at most 64 values");
        *gs = tb__arena_calloc(&r->sp.a, t->nvalues, sizeof **gs);
        *names = tb__arena_calloc(&r->sp.a, t->nvalues, sizeof **names);
        if (!*gs || !*names) return TB_ENOMEM;
        for (size_t i = 0; i < t->nvalues; i++) {
            (*gs)[i] = &t->bm[i];
            (*names)[i] = t->values[i];
        }
        *n = (uint32_t)t->nvalues;
        return 0;
    }
    if (!json_is_array(segs) || !json_array_size(segs) || json_array_size(segs) > 64)
        return bad(&r->sp, "breakdown", "{\"tag\": code} or {\"segments\": [1 to 64 names]}");
    size_t k = json_array_size(segs);
    *gs = tb__arena_calloc(&r->sp.a, k, sizeof **gs);
    *names = tb__arena_calloc(&r->sp.a, k, sizeof **names);
    if (!*gs || !*names) return TB_ENOMEM;
    for (size_t i = 0; i < k; i++) {
        json_t *v = json_array_get(segs, i);
        if (!json_is_string(v)) return bad(&r->sp, "breakdown", "segment names are strings");
        int rc = tb__segctx_members(r->c, json_string_value(v), &(*gs)[i], &r->eb);
        if (rc) return rc;
        (*names)[i] = json_string_value(v);
    }
    *n = (uint32_t)k;
    return 0;
}

static int load(run *r, int32_t from, int32_t to, unsigned flags, int threads, tb__evset *s)
{
    tb__evkeys k = tb__evkeys_of(r->db);
    return tb__evset_load(tb_db_path(r->db), &k, from, to, flags, threads, s, &r->eb);
}

static unsigned props_flag(const tb__evstep *st, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++)
        if (st[i].nconds) return TB__EVP_PROPS;
    return 0;
}

/* ---- funnel --------------------------------------------------------------------------------- */

int tb_ev_funnel(tb_db *db, const char *spec_json, const tb_seg_opts *o, const char *user,
                 char **json_out)
{
    *json_out = NULL;
    run r;
    json_t *tmp = spec_json ? json_loads(spec_json, 0, NULL) : NULL;
    int need = tmp && (json_object_get(tmp, "breakdown") || json_object_get(tmp, "save"));
    json_decref(tmp);
    int rc = run_open(&r, db, spec_json, o, need);
    if (rc) return run_close(&r, rc, NULL, json_out);
    json_t *js = json_object_get(r.j, "steps");
    tb__evstep steps[TB__EV_MAX_STEPS];
    uint32_t ns = json_is_array(js) ? (uint32_t)json_array_size(js) : 0;
    if (ns < 1 || ns > TB__EV_MAX_STEPS) rc = bad(&r.sp, "steps", "1 to 16 steps");
    for (uint32_t k = 0; !rc && k < ns; k++)
        rc = parse_step(&r.sp, json_array_get(js, k), &steps[k]);
    tb__funnel_spec fs = {steps, ns, 0, 0, 0};
    if (!rc) rc = window_ms(&r.sp, r.j, &fs.window_ms);
    if (!rc) rc = date_range(&r.sp, tb_db_path(db), r.j, &fs.from, &fs.to);
    const tb__bmv **gs = NULL;
    const char **gn = NULL;
    uint32_t ng = 0;
    if (!rc) rc = groups(&r, json_object_get(r.j, "breakdown"), &gs, &gn, &ng);
    json_t *save = json_object_get(r.j, "save");
    const char *save_name = NULL, *who = "converted";
    long long save_step = 0;
    if (!rc && save) {
        json_t *nm = json_object_get(save, "name"), *st = json_object_get(save, "step"),
               *wh = json_object_get(save, "who");
        if (!json_is_string(nm) || !json_is_integer(st) || json_integer_value(st) < 1 ||
            json_integer_value(st) > ns || (wh && !json_is_string(wh)))
            rc = bad(&r.sp, "save", "{\"name\", \"step\": 1..steps, \"who\": converted|dropped}");
        else {
            save_name = json_string_value(nm);
            save_step = json_integer_value(st);
            if (wh) who = json_string_value(wh);
            if (strcmp(who, "converted") && strcmp(who, "dropped"))
                rc = bad(&r.sp, "save", "who is converted or dropped");
            else if (!strcmp(who, "dropped") && save_step < 2)
                rc = bad(&r.sp, "save", "dropped needs a step of 2 or more");
            else if ((rc = tb__db_check_writable(db)) != 0)
                tb__seterr(&r.eb, rc, "saving a segment needs a writable data directory");
        }
    }
    int threads = o ? o->threads : 0;
    tb__evset s = {0};
    int32_t wdays = (int32_t)((fs.window_ms + TB__EV_DAY_MS - 1) / TB__EV_DAY_MS);
    if (!rc) rc = load(&r, fs.from, fs.to + wdays, props_flag(steps, ns), threads, &s);
    tb__funnel_res fr = {0};
    if (!rc) rc = tb__funnel_run(&s, &fs, r.universe, threads, &fr, &r.eb);
    json_t *doc = NULL;
    if (!rc) {
        doc = json_object();
        json_object_set_new(doc, "from", day_json(fs.from));
        json_object_set_new(doc, "to", day_json(fs.to));
        json_object_set_new(doc, "window_seconds", json_integer(fs.window_ms / 1000));
        json_t *sa = json_array();
        for (uint32_t k = 0; k < ns; k++) {
            json_t *st = step_json(&steps[k]);
            uint64_t u = fr.users[k], prev = k ? fr.users[k - 1] : u, first = fr.users[0];
            json_object_set_new(st, "step", json_integer(k + 1));
            json_object_set_new(st, "users", json_integer((json_int_t)u));
            json_object_set_new(st, "conversion_from_previous",
                                json_real(prev ? (double)u / (double)prev : 0));
            json_object_set_new(st, "conversion_from_first",
                                json_real(first ? (double)u / (double)first : 0));
            json_object_set_new(st, "dropped", json_integer((json_int_t)(prev - u)));
            json_object_set_new(st, "median_seconds_from_previous",
                                k && fr.median_ms[k] >= 0 ? json_real(fr.median_ms[k] / 1e3)
                                                          : json_null());
            json_array_append_new(sa, st);
        }
        json_object_set_new(doc, "steps", sa);
        json_t *tr = json_array();
        for (uint32_t d = 0; d < fr.ndays; d++) {
            uint64_t st = fr.trend_started[d], cv = fr.trend_converted[d];
            json_array_append_new(tr, json_pack("{s:o, s:I, s:I, s:f}", "date",
                                                day_json(fs.from + (int32_t)d), "started",
                                                (json_int_t)st, "converted", (json_int_t)cv,
                                                "conversion", st ? (double)cv / (double)st : 0.0));
        }
        json_object_set_new(doc, "trend", tr);
        if (ng) {
            uint64_t *cnt = calloc((size_t)ng * ns, 8);
            if (!cnt) rc = TB_ENOMEM;
            for (uint32_t p = 0; cnt && p < fr.nlevel; p++) {
                if (!fr.level[p]) continue;
                uint32_t g = tb__ev_gid(&s, p);
                if (g == TB__EV_NO_GID) continue;
                for (uint32_t i = 0; i < ng; i++)
                    if (tb__bmv_contains(gs[i], g))
                        for (uint32_t k = 0; k < fr.level[p]; k++)
                            cnt[(size_t)i * ns + k]++;
            }
            json_t *ga = json_array();
            for (uint32_t i = 0; cnt && i < ng; i++) {
                json_t *u = json_array();
                for (uint32_t k = 0; k < ns; k++)
                    json_array_append_new(u, json_integer((json_int_t)cnt[(size_t)i * ns + k]));
                json_array_append_new(ga, json_pack("{s:s, s:o}", "group", gn[i], "users", u));
            }
            free(cnt);
            json_t *by = json_object_get(r.j, "breakdown");
            json_object_set_new(doc, "breakdown", json_pack("{s:O, s:o}", "by", by, "groups", ga));
        }
        if (!rc && save_name) {
            tb__bm_builder *b = NULL;
            uint64_t nbits = tb__tagset_nrows(tb__segctx_tags(r.c)), count = 0;
            rc = tb__bm_builder_create(nbits, &b);
            int dropped = !strcmp(who, "dropped");
            for (uint32_t p = 0; !rc && p < fr.nlevel; p++) {
                uint32_t lv = fr.level[p];
                if (!lv || (dropped ? lv != save_step - 1 : lv < save_step)) continue;
                uint32_t g = tb__ev_gid(&s, p);
                if (g == TB__EV_NO_GID || g >= nbits) continue;
                rc = tb__bm_set(b, g);
            }
            char desc[256];
            snprintf(desc, sizeof desc, "funnel step %lld %s (%s)", save_step, who,
                     steps[save_step - 1].event);
            if (!rc) rc = tb__seg_save_bitmap(r.c, save_name, b, user, desc, &count, &r.eb);
            tb__bm_builder_free(b);
            if (!rc)
                json_object_set_new(doc, "saved",
                                    json_pack("{s:s, s:I, s:s, s:I, s:s}", "name", save_name,
                                              "step", (json_int_t)save_step, "who", who,
                                              "customers", (json_int_t)count, "batch_date",
                                              tb__segctx_batch(r.c)));
        }
    }
    tb__funnel_res_release(&fr);
    tb__evset_release(&s);
    return run_close(&r, rc, rc ? (json_decref(doc), NULL) : doc, json_out);
}

/* ---- paths ---------------------------------------------------------------------------------- */

typedef struct lab {
    uint32_t ev[64]; /* the kept events of a level (top K), the rest is "(other)" */
    uint32_t n;
} lab;

static const char *label(const lab *l, const char **names, uint32_t e)
{
    for (uint32_t i = 0; i < l->n; i++)
        if (l->ev[i] == e) return names[e];
    return "(other)";
}

int tb_ev_paths(tb_db *db, const char *spec_json, const tb_seg_opts *o, char **json_out)
{
    *json_out = NULL;
    run r;
    int rc = run_open(&r, db, spec_json, o, 0);
    if (rc) return run_close(&r, rc, NULL, json_out);
    tb__evstep anchor;
    rc = parse_step(&r.sp,
                    json_object_get(r.j, "event") && !json_is_string(json_object_get(r.j, "event"))
                        ? json_object_get(r.j, "event")
                        : r.j,
                    &anchor);
    json_t *dirj = json_object_get(r.j, "direction"), *dj = json_object_get(r.j, "depth"),
           *tj = json_object_get(r.j, "top");
    tb__paths_spec ps = {&anchor, 0, 3, 0, 0};
    long long top = 10;
    if (!rc && dirj) {
        if (!json_is_string(dirj) || (strcmp(json_string_value(dirj), "next") &&
                                      strcmp(json_string_value(dirj), "previous")))
            rc = bad(&r.sp, "direction", "next or previous");
        else
            ps.previous = !strcmp(json_string_value(dirj), "previous");
    }
    if (!rc && dj) {
        if (!json_is_integer(dj) || json_integer_value(dj) < 1 || json_integer_value(dj) > 10)
            rc = bad(&r.sp, "depth", "1 to 10");
        else
            ps.depth = (uint32_t)json_integer_value(dj);
    }
    if (!rc && tj) {
        if (!json_is_integer(tj) || json_integer_value(tj) < 1 || json_integer_value(tj) > 64)
            rc = bad(&r.sp, "top", "1 to 64");
        else
            top = json_integer_value(tj);
    }
    if (!rc) rc = date_range(&r.sp, tb_db_path(db), r.j, &ps.from, &ps.to);
    int threads = o ? o->threads : 0;
    tb__evset s = {0};
    /* "previous" looks before the range, "next" after it: a week either way */
    if (!rc)
        rc = load(&r, ps.previous ? ps.from - 7 : ps.from, ps.previous ? ps.to : ps.to + 7,
                  props_flag(&anchor, 1), threads, &s);
    tb__paths_res pr = {0};
    if (!rc) rc = tb__paths_run(&s, &ps, r.universe, threads, &pr, &r.eb);
    json_t *doc = NULL;
    if (!rc) {
        uint32_t nn = pr.nnames;
        lab *labs = calloc(ps.depth + 1, sizeof *labs);
        uint64_t *tot = calloc(nn, 8);
        json_t *nodes = json_object(), *links = json_object();
        if (!labs || !tot || !nodes || !links) rc = TB_ENOMEM;
        /* level 0: the anchor */
        for (uint32_t e = 0; !rc && e < nn; e++)
            if (!strcmp(s.names[e], anchor.event)) labs[0].ev[labs[0].n++] = e;
        for (uint32_t lv = 0; !rc && lv < ps.depth; lv++) {
            const uint64_t *m = pr.count + (size_t)lv * nn * nn;
            memset(tot, 0, (size_t)nn * 8);
            for (uint32_t a = 0; a < nn; a++)
                for (uint32_t b = 0; b < nn; b++)
                    tot[b] += m[(size_t)a * nn + b];
            lab *l = &labs[lv + 1];
            while (l->n < (uint32_t)top) { /* top K by users, ties by name order of first seen */
                uint32_t best = UINT32_MAX;
                for (uint32_t b = 0; b < nn; b++) {
                    int taken = 0;
                    for (uint32_t i = 0; i < l->n; i++)
                        taken |= l->ev[i] == b;
                    if (!taken && tot[b] && (best == UINT32_MAX || tot[b] > tot[best])) best = b;
                }
                if (best == UINT32_MAX) break;
                l->ev[l->n++] = best;
            }
            for (uint32_t a = 0; a < nn; a++)
                for (uint32_t b = 0; b < nn; b++) {
                    uint64_t v = m[(size_t)a * nn + b];
                    if (!v) continue;
                    char src[160], dst[160], key[330];
                    snprintf(src, sizeof src, "%u:%s", lv, label(&labs[lv], s.names, a));
                    snprintf(dst, sizeof dst, "%u:%s", lv + 1, label(l, s.names, b));
                    snprintf(key, sizeof key, "%s\x1f%s", src, dst);
                    json_t *old = json_object_get(links, key);
                    json_object_set_new(
                        links, key,
                        json_integer((old ? json_integer_value(old) : 0) + (json_int_t)v));
                    old = json_object_get(nodes, dst);
                    json_object_set_new(
                        nodes, dst,
                        json_integer((old ? json_integer_value(old) : 0) + (json_int_t)v));
                }
        }
        doc = json_object();
        json_t *na = json_array(), *la = json_array();
        char n0[160];
        snprintf(n0, sizeof n0, "0:%s", anchor.event);
        json_array_append_new(na, json_pack("{s:s, s:i, s:s, s:I}", "name", n0, "level", 0, "event",
                                            anchor.event, "users", (json_int_t)pr.roots));
        const char *k;
        json_t *v;
        json_object_foreach(nodes, k, v)
        {
            json_array_append_new(na, json_pack("{s:s, s:i, s:s, s:O}", "name", k, "level", atoi(k),
                                                "event", strchr(k, ':') + 1, "users", v));
        }
        json_object_foreach(links, k, v)
        {
            const char *sep = strchr(k, '\x1f');
            json_array_append_new(la, json_pack("{s:s%, s:s, s:O}", "source", k, (size_t)(sep - k),
                                                "target", sep + 1, "users", v));
        }
        json_object_set_new(doc, "event", json_string(anchor.event));
        json_object_set_new(doc, "direction", json_string(ps.previous ? "previous" : "next"));
        json_object_set_new(doc, "depth", json_integer(ps.depth));
        json_object_set_new(doc, "from", day_json(ps.from));
        json_object_set_new(doc, "to", day_json(ps.to));
        json_object_set_new(doc, "users", json_integer((json_int_t)pr.roots));
        json_object_set_new(doc, "nodes", na);
        json_object_set_new(doc, "links", la);
        json_decref(nodes);
        json_decref(links);
        free(labs);
        free(tot);
    }
    tb__paths_res_release(&pr);
    tb__evset_release(&s);
    return run_close(&r, rc, rc ? (json_decref(doc), NULL) : doc, json_out);
}

/* ---- retention ------------------------------------------------------------------------------ */

int tb_ev_retention(tb_db *db, const char *spec_json, const tb_seg_opts *o, char **json_out)
{
    *json_out = NULL;
    run r;
    int rc = run_open(&r, db, spec_json, o, 0);
    if (rc) return run_close(&r, rc, NULL, json_out);
    tb__evstep a, b;
    json_t *sj = json_object_get(r.j, "start"), *rj = json_object_get(r.j, "return");
    if (!sj || !rj) rc = bad(&r.sp, "start", "start and return events are needed");
    if (!rc) rc = parse_step(&r.sp, sj, &a);
    if (!rc) rc = parse_step(&r.sp, rj, &b);
    tb__ret_spec rs = {&a, &b, 0, 0, 7};
    json_t *dj = json_object_get(r.j, "days");
    if (!rc && dj) {
        if (!json_is_integer(dj) || json_integer_value(dj) < 1 || json_integer_value(dj) > 90)
            rc = bad(&r.sp, "days", "1 to 90");
        else
            rs.ndays = (uint32_t)json_integer_value(dj);
    }
    if (!rc) rc = date_range(&r.sp, tb_db_path(db), r.j, &rs.from, &rs.to);
    int threads = o ? o->threads : 0;
    tb__evset s = {0};
    tb__evstep both[2] = {a, b};
    if (!rc) rc = load(&r, rs.from, rs.to + (int32_t)rs.ndays, props_flag(both, 2), threads, &s);
    tb__ret_res rr = {0};
    if (!rc) rc = tb__retention_run(&s, &rs, r.universe, threads, &rr, &r.eb);
    json_t *doc = NULL;
    if (!rc) {
        doc = json_object();
        json_object_set_new(doc, "start", step_json(&a));
        json_object_set_new(doc, "return", step_json(&b));
        json_object_set_new(doc, "days", json_integer(rs.ndays));
        json_object_set_new(doc, "from", day_json(rs.from));
        json_object_set_new(doc, "to", day_json(rs.to));
        json_t *ca = json_array();
        uint64_t total = 0;
        uint64_t *tret = calloc(rs.ndays + 1, 8);
        for (uint32_t c = 0; tret && c < rr.ncohorts; c++) {
            json_t *ret = json_array(), *rate = json_array();
            uint64_t sz = rr.size[c];
            total += sz;
            for (uint32_t d = 0; d <= rs.ndays; d++) {
                uint64_t v = rr.retained[(size_t)c * (rs.ndays + 1) + d];
                tret[d] += v;
                json_array_append_new(ret, json_integer((json_int_t)v));
                json_array_append_new(rate, json_real(sz ? (double)v / (double)sz : 0));
            }
            json_array_append_new(ca, json_pack("{s:o, s:I, s:o, s:o}", "date",
                                                day_json(rs.from + (int32_t)c), "users",
                                                (json_int_t)sz, "retained", ret, "rate", rate));
        }
        json_t *ret = json_array(), *rate = json_array();
        for (uint32_t d = 0; tret && d <= rs.ndays; d++) {
            json_array_append_new(ret, json_integer((json_int_t)tret[d]));
            json_array_append_new(rate, json_real(total ? (double)tret[d] / (double)total : 0));
        }
        free(tret);
        json_object_set_new(doc, "cohorts", ca);
        json_object_set_new(doc, "total",
                            json_pack("{s:I, s:o, s:o}", "users", (json_int_t)total, "retained",
                                      ret, "rate", rate));
    }
    tb__ret_res_release(&rr);
    tb__evset_release(&s);
    return run_close(&r, rc, rc ? (json_decref(doc), NULL) : doc, json_out);
}

/* ---- counts --------------------------------------------------------------------------------- */

static int prop_row(void *arg, const char *event, const char *value, uint64_t n)
{
    json_t *a = arg;
    json_t *v = value ? json_loads(value, JSON_DECODE_ANY, NULL) : json_null();
    if (!v) v = json_string(value);
    return json_array_append_new(
               a, json_pack("{s:s, s:o, s:I}", "event", event, "value", v, "events", (json_int_t)n))
               ? TB_ENOMEM
               : 0;
}

int tb_ev_count(tb_db *db, const char *spec_json, const tb_seg_opts *o, char **json_out)
{
    *json_out = NULL;
    run r;
    json_t *tmp = spec_json ? json_loads(spec_json, 0, NULL) : NULL;
    int need = tmp && json_object_get(tmp, "breakdown");
    json_decref(tmp);
    int rc = run_open(&r, db, spec_json, o, need);
    if (rc) return run_close(&r, rc, NULL, json_out);
    tb__count_spec cs = {0};
    json_t *ej = json_object_get(r.j, "events");
    tb__evstep only[TB__EV_MAX_STEPS];
    if (ej) {
        size_t n = json_is_array(ej) ? json_array_size(ej) : 0;
        if (!n || n > TB__EV_MAX_STEPS) rc = bad(&r.sp, "events", "1 to 16 events");
        for (size_t i = 0; !rc && i < n; i++)
            rc = parse_step(&r.sp, json_array_get(ej, i), &only[i]);
        cs.only = only;
        cs.nonly = (uint32_t)n;
    }
    json_t *ij = json_object_get(r.j, "interval");
    if (!rc && ij) {
        if (!json_is_string(ij) ||
            (strcmp(json_string_value(ij), "day") && strcmp(json_string_value(ij), "hour")))
            rc = bad(&r.sp, "interval", "day or hour");
        else
            cs.hourly = !strcmp(json_string_value(ij), "hour");
    }
    if (!rc) rc = date_range(&r.sp, tb_db_path(db), r.j, &cs.from, &cs.to);
    if (!rc && cs.hourly && cs.to - cs.from > 31)
        rc = bad(&r.sp, "interval", "hours: at most 31 days");
    const char **gn = NULL;
    const tb__bmv **gs = NULL;
    if (!rc) rc = groups(&r, json_object_get(r.j, "breakdown"), &gs, &gn, &cs.ngroups);
    cs.groups = gs;
    json_t *pj = json_object_get(r.j, "property");
    if (!rc && pj && (!json_is_string(pj) || !json_string_length(pj)))
        rc = bad(&r.sp, "property", "a property name");
    int threads = o ? o->threads : 0;
    tb__evset s = {0};
    unsigned fl = props_flag(only, cs.nonly) | (pj ? TB__EVP_PROPS : 0);
    if (!rc) rc = load(&r, cs.from, cs.to, fl, threads, &s);
    json_t *doc = NULL;
    if (!rc && pj) {
        json_t *vals = json_array();
        rc = tb__count_by_prop(&s, json_string_value(pj), cs.from, cs.to, r.universe, prop_row,
                               vals, &r.eb);
        if (!rc)
            doc = json_pack("{s:o, s:o, s:O, s:o}", "from", day_json(cs.from), "to",
                            day_json(cs.to), "property", pj, "values", vals);
        else
            json_decref(vals);
    } else if (!rc) {
        tb__count_res cr = {0};
        rc = tb__count_run(&s, &cs, r.universe, threads, &cr, &r.eb);
        if (!rc) {
            doc = json_object();
            json_object_set_new(doc, "from", day_json(cs.from));
            json_object_set_new(doc, "to", day_json(cs.to));
            json_object_set_new(doc, "interval", json_string(cs.hourly ? "hour" : "day"));
            json_t *bk = json_array();
            for (uint32_t b = 0; b < cr.nbuckets; b++) {
                char t[32], d[16];
                tb__ev_day_text(cs.from + (int32_t)(cs.hourly ? b / 24 : b), d);
                if (cs.hourly)
                    snprintf(t, sizeof t, "%s %02u:00", d, b % 24);
                else
                    snprintf(t, sizeof t, "%s", d);
                json_array_append_new(bk, json_string(t));
            }
            json_object_set_new(doc, "buckets", bk);
            for (uint32_t g = 0; g <= cr.ngroups; g++) {
                json_t *series = json_array();
                for (uint32_t e = 0; e < s.nnames; e++) {
                    json_t *ev = json_array(), *us = json_array();
                    uint64_t te = 0;
                    for (uint32_t b = 0; b < cr.nbuckets; b++) {
                        size_t at = ((size_t)g * cr.nnames + e) * cr.nbuckets + b;
                        te += cr.events[at];
                        json_array_append_new(ev, json_integer((json_int_t)cr.events[at]));
                        json_array_append_new(us, json_integer((json_int_t)cr.users[at]));
                    }
                    if (!te) {
                        json_decref(ev);
                        json_decref(us);
                        continue;
                    }
                    json_array_append_new(series,
                                          json_pack("{s:s, s:I, s:o, s:o}", "event", s.names[e],
                                                    "total_events", (json_int_t)te, "events", ev,
                                                    "users", us));
                }
                if (g == 0)
                    json_object_set_new(doc, "series", series);
                else {
                    json_t *ga = json_object_get(doc, "groups");
                    if (!ga) json_object_set_new(doc, "groups", ga = json_array());
                    json_array_append_new(
                        ga, json_pack("{s:s, s:o}", "group", gn[g - 1], "series", series));
                }
            }
        }
        tb__count_res_release(&cr);
    }
    tb__evset_release(&s);
    return run_close(&r, rc, rc ? (json_decref(doc), NULL) : doc, json_out);
}
