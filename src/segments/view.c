/* view.c — the 360-degree view of one customer (客户360): the golden record from master data
 * (masked), every tag of the batch with its value, theme and lineage, and the saved segments the
 * customer belongs to. A tag value is one bit test per value (or one read per bit slice), so the
 * whole view costs a few hundred memory reads on the mapped tag store. */
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/clock.h"
#include "pipeline/identity.h"
#include "segments/cseg.h"
#include "store/meta.h"

/* The value of tag t for id as JSON, or NULL when it has none. */
static json_t *tag_value(const tb__tagv *t, uint64_t id)
{
    int64_t v;
    const char *str;
    switch (tb__tagv_get(t, id, &v, &str)) {
    case 2:
        return t->m.vtype == TB__TV_BOOL ? json_boolean(strcmp(str, "true") == 0)
                                         : json_string(str);
    case 1:
        if (t->m.vtype == TB__TV_DATE) {
            char d[TB__DATE_TEXT_LEN];
            return json_string(tb__date_text(v, d));
        }
        if (t->m.vtype == TB__TV_DECIMAL) {
            double x = (double)v;
            for (int i = 0; i < t->m.scale; i++)
                x /= 10;
            return json_real(x);
        }
        return json_integer(v);
    default:
        return NULL;
    }
}

/* Themes of the catalog's tags: code -> {theme, theme names, parent}. */
static json_t *themes(tb_db *db)
{
    json_t *o = json_object();
    sqlite3_stmt *st;
    if (tb__meta_stmt(db, TB__STMT_SEG_THEMES,
                      "SELECT t.code, t.theme, th.name_zh, th.name_en, th.parent FROM tag t JOIN "
                      "tag_theme th ON th.code = t.theme",
                      &st))
        return o;
    while (sqlite3_step(st) == SQLITE_ROW)
        json_object_set_new(o, (const char *)sqlite3_column_text(st, 0),
                            json_pack("{s:s, s:s, s:s, s:s?}", "theme", sqlite3_column_text(st, 1),
                                      "theme_zh", sqlite3_column_text(st, 2), "theme_en",
                                      sqlite3_column_text(st, 3), "parent",
                                      sqlite3_column_text(st, 4)));
    tb__meta_stmt_done(st);
    return o;
}

/* The themes map and each tag's parsed sources depend only on the catalog and the tag store: a
 * server answering many views on the same (cached, immutable) store builds them once. The cache
 * follows the store: a new build is a new store. jansson's reference counts are atomic, so the
 * shared documents may be used by several threads at once (read-only). */
typedef struct viewcache {
    const tb__tagset *ts;
    char *dir; /* with ts: a store closed and another opened at the same address is not it */
    json_t *themes;
    json_t *sources; /* array: sources of tag i, or null */
} viewcache;

static pthread_mutex_t g_vc_mu = PTHREAD_MUTEX_INITIALIZER;
static viewcache g_vc;
static pthread_once_t g_vc_once = PTHREAD_ONCE_INIT;

static void vc_clear(void)
{
    pthread_mutex_lock(&g_vc_mu);
    json_decref(g_vc.themes);
    json_decref(g_vc.sources);
    free(g_vc.dir);
    g_vc = (viewcache){0};
    pthread_mutex_unlock(&g_vc_mu);
}

static void vc_init(void)
{
    atexit(vc_clear);
}

/* New references to the themes map and the sources array for store ts. */
static void view_cache(tb_db *db, const tb__tagset *ts, json_t **th, json_t **src)
{
    pthread_once(&g_vc_once, vc_init);
    pthread_mutex_lock(&g_vc_mu);
    if (g_vc.ts != ts || !g_vc.themes || !g_vc.dir || strcmp(g_vc.dir, tb__tagset_dir(ts)) != 0) {
        json_decref(g_vc.themes);
        json_decref(g_vc.sources);
        free(g_vc.dir);
        g_vc.ts = ts;
        g_vc.dir = strdup(tb__tagset_dir(ts));
        g_vc.themes = themes(db);
        g_vc.sources = json_array();
        for (size_t i = 0; i < tb__tagset_ntags(ts); i++) {
            const tb__tagv *t = tb__tagset_tag_at(ts, i);
            json_t *j = t->m.sources_json ? json_loads(t->m.sources_json, 0, NULL) : NULL;
            json_array_append_new(g_vc.sources, j ? j : json_array());
        }
    }
    *th = json_incref(g_vc.themes);
    *src = json_incref(g_vc.sources);
    pthread_mutex_unlock(&g_vc_mu);
}

static int add_tags(tb_db *db, tb__segctx *c, uint32_t gid, json_t *doc)
{
    const tb__tagset *ts = tb__segctx_tags(c);
    json_t *th, *srcs, *groups = json_object();
    view_cache(db, ts, &th, &srcs);
    size_t with = 0, without = 0;
    for (size_t i = 0; i < tb__tagset_ntags(ts); i++) {
        const tb__tagv *t = tb__tagset_tag_at(ts, i);
        json_t *v = tag_value(t, gid);
        if (!v) {
            without++;
            continue;
        }
        with++;
        json_t *where = json_object_get(th, t->m.code);
        const char *theme = where ? json_string_value(json_object_get(where, "theme")) : "other";
        json_t *g = json_object_get(groups, theme);
        if (!g) {
            g = json_pack(
                "{s:s, s:s?, s:s?, s:s?, s:[]}", "theme", theme, "name_zh",
                where ? json_string_value(json_object_get(where, "theme_zh")) : NULL, "name_en",
                where ? json_string_value(json_object_get(where, "theme_en")) : NULL, "parent",
                where ? json_string_value(json_object_get(where, "parent")) : NULL, "tags");
            json_object_set_new(groups, theme, g);
        }
        json_t *src = json_incref(json_array_get(srcs, i));
        json_array_append_new(json_object_get(g, "tags"),
                              json_pack("{s:s, s:s, s:s, s:o, s:s, s:i, s:{s:s, s:o, s:i}}", "code",
                                        t->m.code, "name_zh", t->m.name_zh, "name_en", t->m.name_en,
                                        "value", v, "pi_class", t->m.pi_class, "security_level",
                                        t->m.security_level, "lineage", "batch_date",
                                        tb__segctx_batch(c), "sources", src ? src : json_array(),
                                        "version", t->m.version));
    }
    json_decref(th);
    json_decref(srcs);
    json_t *arr = json_array();
    const char *k;
    json_t *g;
    json_object_foreach(groups, k, g) json_array_append(arr, g);
    json_decref(groups);
    json_object_set_new(doc, "tags", arr);
    json_object_set_new(doc, "tags_with_value", json_integer((json_int_t)with));
    json_object_set_new(doc, "tags_without_value", json_integer((json_int_t)without));
    return 0;
}

static void add_segments(tb_db *db, tb__segctx *c, uint32_t gid, json_t *doc)
{
    json_t *a = json_array();
    sqlite3_stmt *st;
    char **names = NULL;
    size_t n = 0;
    if (tb__meta_stmt(db, TB__STMT_SEG_OF_CUSTOMER,
                      "SELECT name FROM cseg_member WHERE batch_date = ?1 ORDER BY name",
                      &st) == 0) {
        sqlite3_bind_text(st, 1, tb__segctx_batch(c), -1, SQLITE_STATIC);
        while (sqlite3_step(st) == SQLITE_ROW) {
            char **p = realloc(names, (n + 1) * sizeof *p);
            if (!p) break;
            names = p;
            if ((names[n] = strdup((const char *)sqlite3_column_text(st, 0)))) n++;
        }
        tb__meta_stmt_done(st);
    }
    for (size_t i = 0; i < n; i++) {
        const tb__bmv *m;
        tb__errbuf eb;
        if (tb__segctx_members(c, names[i], &m, &eb) == 0 && tb__bmv_contains(m, gid))
            json_array_append_new(a, json_string(names[i]));
        free(names[i]);
    }
    free(names);
    json_object_set_new(doc, "segments", a);
}

int tb_customer_360(tb_db *db, const char *who, const tb_seg_opts *o, char **json_out)
{
    *json_out = NULL;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    uint32_t gid;
    int rc = tb__customer_resolve_any(db, who ? who : "", &gid);
    if (rc == TB_ENOENT) return tb__seterr(tb__db_err(db), rc, "no customer '%s'", who);
    if (rc) return rc;
    tb__errbuf eb;
    tb__clearerr(&eb);
    tb__segctx *c = NULL;
    int open_rc = tb__segctx_open(db, o, &c, &eb);
    /* outside the caller's scope a customer does not exist (the answer may not even say it
     * does); without built tags only an unscoped caller sees the golden record */
    if (o && o->scope != TB_SCOPE_ALL &&
        (open_rc || !tb__bmv_contains(tb__segctx_universe(c), gid))) {
        tb__segctx_close(c);
        return tb__seterr(tb__db_err(db), TB_ENOENT, "no customer '%s'", who);
    }
    json_t *doc;
    rc = tb__customer_view_ex(db, gid, o && o->unmasked, &doc);
    if (rc) {
        tb__segctx_close(c);
        return rc;
    }
    if (open_rc == 0) {
        json_object_set_new(doc, "batch_date", json_string(tb__segctx_batch(c)));
        if (gid < tb__tagset_nrows(tb__segctx_tags(c))) {
            add_tags(db, c, gid, doc);
            add_segments(db, c, gid, doc);
        }
        tb__segctx_close(c);
    } else {
        if (o && o->as_of) {
            json_decref(doc);
            return tb__seterr(tb__db_err(db), eb.code, "%s", eb.msg);
        }
        json_object_set_new(doc, "tags_note", json_string(eb.msg));
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    json_object_set_new(
        doc, "millis",
        json_real((double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6));
    *json_out = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    return *json_out ? 0 : TB_ENOMEM;
}
