/* consent.c — the consent ledger (PIPL): per customer, purpose and channel the current decision
 * and the history of every grant and withdrawal, the per-purpose defaults, and the filters that
 * let exports (and later campaigns) drop customers without consent. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "security/sec_int.h"
#include "store/meta.h"

/* The purposes tagbase knows and their defaults when a customer has no record. */
static const struct purpose_def {
    const char *name;
    int granted;
} purposes[] = {
    {"marketing", 0},   /* opt-in: nothing is sent without a grant */
    {"profiling", 1},   /* opt-out (PIPL art. 24): the service contract covers it until withdrawn */
    {"third_party", 0}, /* separate consent (PIPL art. 23) */
};
#define N_PURPOSES (sizeof purposes / sizeof purposes[0])

static const char *const channels[] = {"any",   "sms",    "phone", "app_push",
                                       "email", "wechat", "post"};
#define N_CHANNELS (sizeof channels / sizeof channels[0])

static int name_ok(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > 32) return 0;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
            return 0;
    return 1;
}

static int channel_ok(tb_db *db, const char *channel)
{
    for (size_t i = 0; channel && i < N_CHANNELS; i++)
        if (strcmp(channel, channels[i]) == 0) return 0;
    return tb__seterr(tb__db_err(db), TB_EINVAL,
                      "unknown consent channel '%.32s' (any, sms, phone, app_push, email, wechat, "
                      "post)",
                      channel ? channel : "");
}

int tb__consent_default(tb_db *db, const char *purpose, int *granted)
{
    *granted = 0;
    if (!name_ok(purpose))
        return tb__seterr(tb__db_err(db), TB_EINVAL,
                          "consent purpose must be 1 to 32 of a-z, 0-9 and '_'");
    char key[96], *v = NULL;
    snprintf(key, sizeof key, "security.consent.default.%s", purpose);
    int rc = tb_db_get_setting(db, key, &v);
    if (rc == 0) {
        int g = strcmp(v, "granted") == 0, ng = strcmp(v, "not_granted") == 0;
        free(v);
        if (!g && !ng)
            return tb__seterr(tb__db_err(db), TB_EINVAL,
                              "setting '%s' must be 'granted' or 'not_granted'", key);
        *granted = g;
        return 0;
    }
    if (rc != TB_ENOENT) return rc;
    tb__clearerr(tb__db_err(db));
    for (size_t i = 0; i < N_PURPOSES; i++)
        if (strcmp(purpose, purposes[i].name) == 0) {
            *granted = purposes[i].granted;
            return 0;
        }
    return tb__seterr(tb__db_err(db), TB_EINVAL,
                      "unknown consent purpose '%s' (marketing, profiling, third_party, or one "
                      "given a default by setting '%s')",
                      purpose, key);
}

int tb__consent_set(tb_db *db, const tb__principal *who, const char *remote, uint32_t gid,
                    const char *purpose, const char *channel, int grant, const char *source)
{
    tb__clearerr(tb__db_err(db));
    int def;
    int rc = tb__consent_default(db, purpose, &def);
    if (rc) return rc;
    rc = channel_ok(db, channel);
    if (rc) return rc;
    size_t n = source ? strlen(source) : 0;
    int printable = n >= 1 && n <= 64;
    for (size_t i = 0; printable && i < n; i++)
        if (source[i] < ' ' || source[i] > '~') printable = 0;
    if (!printable)
        return tb__seterr(tb__db_err(db), TB_EINVAL,
                          "consent source must be 1 to 64 printable ASCII characters");
    const char *actor = who && who->name[0] ? who->name : "-";
    int own;
    rc = tb__sec_begin(db, &own);
    if (rc) return rc;
    sqlite3_stmt *st;
    rc = tb__meta_stmt(db, TB__STMT_SEC_CONSENT_EVENT,
                       "INSERT INTO consent_event (gid, purpose, channel, granted, source, actor, "
                       "at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                       &st);
    if (rc) goto out;
    char at[TB__TIME_TEXT_LEN];
    tb__now_text(at);
    sqlite3_bind_int64(st, 1, gid);
    sqlite3_bind_text(st, 2, purpose, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 3, channel, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(st, 4, grant ? 1 : 0);
    sqlite3_bind_text(st, 5, source, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 6, actor, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 7, at, -1, SQLITE_TRANSIENT);
    rc = tb__meta_run(db, st, "cannot record the consent event");
    if (rc) goto out;
    int64_t event = sqlite3_last_insert_rowid(tb__db_sqlite(db));
    rc = tb__meta_stmt(db, TB__STMT_SEC_CONSENT_PUT,
                       "INSERT INTO consent (purpose, channel, gid, granted, event_id, "
                       "updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (purpose, "
                       "channel, gid) DO UPDATE SET granted = excluded.granted, event_id = "
                       "excluded.event_id, updated_at = excluded.updated_at",
                       &st);
    if (rc) goto out;
    sqlite3_bind_text(st, 1, purpose, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, channel, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 3, gid);
    sqlite3_bind_int(st, 4, grant ? 1 : 0);
    sqlite3_bind_int64(st, 5, event);
    sqlite3_bind_text(st, 6, at, -1, SQLITE_TRANSIENT);
    rc = tb__meta_run(db, st, "cannot record the consent");
    if (rc) goto out;
    /* The gid is an internal number, not personal data; the customer number stays out. */
    char object[24];
    snprintf(object, sizeof object, "gid:%u", gid);
    json_t *d = json_pack("{s:s, s:s, s:s, s:I}", "purpose", purpose, "channel", channel, "source",
                          source, "event", (json_int_t)event);
    char *text = d ? json_dumps(d, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(d);
    if (!text) {
        rc = tb__seterr(tb__db_err(db), TB_ENOMEM, "out of memory");
        goto out;
    }
    rc = tb__sec_audit_in_tx(db, who, remote, grant ? "consent.grant" : "consent.withdraw", object,
                             text, "ok");
    free(text);
out:
    return tb__sec_end(db, own, rc);
}

/* The decision from the records of one gid: any withdrawal wins, else any grant, else -1. */
static int decide(int any_grant, int any_withdraw)
{
    return any_withdraw ? 0 : any_grant ? 1 : -1;
}

int tb__consent_get(tb_db *db, uint32_t gid, const char *purpose, const char *channel, int *granted,
                    int *explicit_)
{
    tb__clearerr(tb__db_err(db));
    *granted = 0;
    if (explicit_) *explicit_ = 0;
    int def;
    int rc = tb__consent_default(db, purpose, &def);
    if (rc) return rc;
    rc = channel_ok(db, channel);
    if (rc) return rc;
    sqlite3_stmt *st;
    rc = tb__meta_stmt(db, TB__STMT_SEC_CONSENT_GET,
                       "SELECT granted FROM consent WHERE purpose = ?1 AND gid = ?3 AND "
                       "channel IN (?2, 'any')",
                       &st);
    if (rc) return rc;
    sqlite3_bind_text(st, 1, purpose, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, channel, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 3, gid);
    int g = 0, w = 0, src;
    while ((src = sqlite3_step(st)) == SQLITE_ROW)
        if (sqlite3_column_int(st, 0))
            g = 1;
        else
            w = 1;
    if (src != SQLITE_DONE) rc = tb__meta_seterr_sqlite(db, src, "cannot read consent");
    tb__meta_stmt_done(st);
    if (rc) return rc;
    int d = decide(g, w);
    *granted = d < 0 ? def : d;
    if (explicit_) *explicit_ = d >= 0;
    return 0;
}

int tb__consent_each(tb_db *db, const char *purpose, const char *channel,
                     int (*fn)(uint32_t gid, int granted, void *arg), void *arg)
{
    tb__clearerr(tb__db_err(db));
    int def;
    int rc = tb__consent_default(db, purpose, &def);
    if (rc) return rc;
    rc = channel_ok(db, channel);
    if (rc) return rc;
    sqlite3_stmt *st;
    rc = tb__meta_stmt(db, TB__STMT_SEC_CONSENT_SCAN,
                       "SELECT gid, granted FROM consent WHERE purpose = ?1 AND "
                       "channel IN (?2, 'any') ORDER BY gid",
                       &st);
    if (rc) return rc;
    sqlite3_bind_text(st, 1, purpose, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, channel, -1, SQLITE_TRANSIENT);
    int64_t cur = -1;
    int g = 0, w = 0, src;
    while ((src = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t gid = sqlite3_column_int64(st, 0);
        if (gid != cur && cur >= 0) {
            rc = fn((uint32_t)cur, decide(g, w), arg);
            if (rc) break;
            g = w = 0;
        }
        cur = gid;
        if (sqlite3_column_int(st, 1))
            g = 1;
        else
            w = 1;
    }
    if (!rc && src != SQLITE_ROW && src != SQLITE_DONE)
        rc = tb__meta_seterr_sqlite(db, src, "cannot read consent");
    tb__meta_stmt_done(st);
    if (!rc && cur >= 0) rc = fn((uint32_t)cur, decide(g, w), arg);
    return rc;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

/* The sorted, distinct gids asked about and the decision found for each (-1: none). */
typedef struct filter_state {
    uint32_t *gids;
    signed char *decision;
    size_t n;
} filter_state;

static size_t find(const filter_state *f, uint32_t gid)
{
    size_t lo = 0, hi = f->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (f->gids[mid] < gid)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static int filter_note(uint32_t gid, int granted, void *arg)
{
    filter_state *f = arg;
    size_t i = find(f, gid);
    if (i < f->n && f->gids[i] == gid) f->decision[i] = (signed char)granted;
    return 0;
}

int tb__consent_filter(tb_db *db, const char *purpose, const char *channel, uint32_t *gids,
                       size_t n, size_t *kept)
{
    tb__clearerr(tb__db_err(db));
    *kept = 0;
    int def;
    int rc = tb__consent_default(db, purpose, &def);
    if (rc) return rc;
    filter_state f = {0};
    if (n) {
        f.gids = malloc(n * sizeof *f.gids);
        f.decision = malloc(n);
        if (!f.gids || !f.decision) {
            rc = tb__seterr(tb__db_err(db), TB_ENOMEM, "out of memory");
            goto out_free;
        }
        memcpy(f.gids, gids, n * sizeof *gids);
        qsort(f.gids, n, sizeof *f.gids, cmp_u32);
        for (size_t i = 0; i < n; i++)
            if (i == 0 || f.gids[i] != f.gids[f.n - 1]) f.gids[f.n++] = f.gids[i];
        memset(f.decision, -1, f.n);
    }
    rc = tb__consent_each(db, purpose, channel, filter_note, &f);
    if (rc) goto out_free;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        signed char d = f.decision[find(&f, gids[i])];
        if (d < 0 ? def : d) gids[k++] = gids[i];
    }
    *kept = k;
out_free:
    free(f.gids);
    free(f.decision);
    return rc;
}

/* Adds to eff[purpose] the decision on every channel, from the current records of one customer
 * (the rows of `cur` with that purpose) and the purpose's default. */
static int effective_of(tb_db *db, json_t *cur, const char *purpose, json_t *eff)
{
    int def;
    int rc = tb__consent_default(db, purpose, &def);
    if (rc == TB_EINVAL) { /* a purpose whose default setting was removed: not granted */
        tb__clearerr(tb__db_err(db));
        def = 0;
    } else if (rc) {
        return rc;
    }
    json_t *o = json_object();
    if (!o || json_object_set_new(eff, purpose, o))
        return tb__seterr(tb__db_err(db), TB_ENOMEM, "out of memory");
    for (size_t c = 0; c < N_CHANNELS; c++) {
        int g = 0, w = 0;
        size_t i;
        json_t *r;
        json_array_foreach(cur, i, r)
        {
            const char *p = json_string_value(json_object_get(r, "purpose"));
            const char *ch = json_string_value(json_object_get(r, "channel"));
            if (strcmp(p, purpose) || (strcmp(ch, channels[c]) && strcmp(ch, "any"))) continue;
            if (json_is_true(json_object_get(r, "granted")))
                g = 1;
            else
                w = 1;
        }
        int d = decide(g, w);
        if (json_object_set_new(o, channels[c], json_boolean(d < 0 ? def : d)))
            return tb__seterr(tb__db_err(db), TB_ENOMEM, "out of memory");
    }
    return 0;
}

int tb__consent_show(tb_db *db, uint32_t gid, json_t **out)
{
    tb__clearerr(tb__db_err(db));
    *out = NULL;
    json_t *cur = json_array(), *hist = json_array(), *eff = json_object();
    json_t *doc = json_pack("{s:I, s:o, s:o, s:o}", "gid", (json_int_t)gid, "current", cur,
                            "effective", eff, "history", hist);
    if (!doc) return tb__seterr(tb__db_err(db), TB_ENOMEM, "out of memory");
    sqlite3_stmt *st;
    int rc = tb__meta_stmt(db, TB__STMT_SEC_CONSENT_CURRENT,
                           "SELECT purpose, channel, granted, updated_at FROM consent "
                           "WHERE gid = ?1 ORDER BY purpose, channel",
                           &st);
    if (rc) goto out_free;
    sqlite3_bind_int64(st, 1, gid);
    int src = SQLITE_DONE;
    while (!rc && (src = sqlite3_step(st)) == SQLITE_ROW) {
        json_t *r = json_pack("{s:s, s:s, s:b, s:s}", "purpose", sqlite3_column_text(st, 0),
                              "channel", sqlite3_column_text(st, 1), "granted",
                              sqlite3_column_int(st, 2), "updated_at", sqlite3_column_text(st, 3));
        if (!r || json_array_append_new(cur, r))
            rc = tb__seterr(tb__db_err(db), TB_ENOMEM, "out of memory");
    }
    if (!rc && src != SQLITE_DONE) rc = tb__meta_seterr_sqlite(db, src, "cannot read consent");
    tb__meta_stmt_done(st);
    if (rc) goto out_free;
    rc = tb__meta_stmt(db, TB__STMT_SEC_CONSENT_HISTORY,
                       "SELECT event_id, at, purpose, channel, granted, source, actor FROM "
                       "consent_event WHERE gid = ?1 ORDER BY event_id DESC LIMIT 1000",
                       &st);
    if (rc) goto out_free;
    sqlite3_bind_int64(st, 1, gid);
    while (!rc && (src = sqlite3_step(st)) == SQLITE_ROW) {
        json_t *r = json_pack(
            "{s:I, s:s, s:s, s:s, s:s, s:s, s:s}", "id", (json_int_t)sqlite3_column_int64(st, 0),
            "at", sqlite3_column_text(st, 1), "purpose", sqlite3_column_text(st, 2), "channel",
            sqlite3_column_text(st, 3), "action", sqlite3_column_int(st, 4) ? "grant" : "withdraw",
            "source", sqlite3_column_text(st, 5), "actor", sqlite3_column_text(st, 6));
        if (!r || json_array_append_new(hist, r))
            rc = tb__seterr(tb__db_err(db), TB_ENOMEM, "out of memory");
    }
    if (!rc && src != SQLITE_DONE)
        rc = tb__meta_seterr_sqlite(db, src, "cannot read consent history");
    tb__meta_stmt_done(st);
    if (rc) goto out_free;
    for (size_t i = 0; !rc && i < N_PURPOSES; i++)
        rc = effective_of(db, cur, purposes[i].name, eff);
    size_t i;
    json_t *r;
    json_array_foreach(cur, i, r)
    {
        if (rc) break;
        const char *p = json_string_value(json_object_get(r, "purpose"));
        if (!json_object_get(eff, p)) rc = effective_of(db, cur, p, eff);
    }
    if (rc) goto out_free;
    *out = doc;
    return 0;
out_free:
    json_decref(doc);
    return rc;
}
