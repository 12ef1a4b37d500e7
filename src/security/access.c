/* access.c — abnormal access: per-user counters of 360 views, exports and personal-data reads in
 * sliding windows of minute buckets; going over a limit raises an alert in the audit and blocks
 * the user until an admin clears it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/clock.h"
#include "security/sec_int.h"
#include "store/meta.h"

/* The kinds of access counted: their limit's setting and default, and the window. */
static const struct kind_def {
    const char *name, *setting;
    long long def;
    int window_min;
    const char *window;
} kinds[] = {
    {"view360", "security.alert.view360_per_hour", 200, 60, "1h"},
    {"export", "security.alert.export_per_day", 20, 1440, "1d"},
    {"pii_read", "security.alert.pii_per_hour", 50, 60, "1h"},
};

static const struct kind_def *kind_find(const char *name)
{
    for (size_t i = 0; name && i < sizeof kinds / sizeof kinds[0]; i++)
        if (strcmp(kinds[i].name, name) == 0) return &kinds[i];
    return NULL;
}

/* Ends a transaction whose refusal (TB_EPERM) must still be committed: the alert and the block
 * are the point of it. */
static int end_keep(tb_db *db, int own, int rc)
{
    if (rc != TB_EPERM) return tb__sec_end(db, own, rc);
    tb__errbuf saved = *tb__db_err(db);
    int crc = tb__sec_end(db, own, 0);
    if (crc) return crc;
    *tb__db_err(db) = saved;
    return TB_EPERM;
}

/* Reads the block reason of user `id` into reason[cap] ("" when not blocked). */
static int blocked_of(tb_db *db, int64_t id, const char *name, char *reason, size_t cap)
{
    sqlite3_stmt *st;
    reason[0] = 0;
    int rc = tb__meta_stmt(db, TB__STMT_SEC_ACCESS_USER,
                           "SELECT blocked FROM user WHERE user_id = ?1", &st);
    if (rc) return rc;
    sqlite3_bind_int64(st, 1, id);
    int src = sqlite3_step(st);
    if (src == SQLITE_ROW) {
        const char *b = (const char *)sqlite3_column_text(st, 0);
        if (b) snprintf(reason, cap, "%s", b);
    } else if (src == SQLITE_DONE) {
        rc = tb__seterr(tb__db_err(db), TB_EPERM, "user '%s' no longer exists", name);
    } else {
        rc = tb__meta_seterr_sqlite(db, src, "cannot read user");
    }
    tb__meta_stmt_done(st);
    return rc;
}

/* Adds one to the current minute's bucket, drops buckets older than the window and sums the
 * window into *count. */
static int bump(tb_db *db, int64_t user, const struct kind_def *k, long long *count)
{
    long long minute = (long long)(time(NULL) / 60);
    sqlite3_stmt *st;
    int rc = tb__meta_stmt(db, TB__STMT_SEC_ACCESS_BUMP,
                           "INSERT INTO access_counter (user_id, kind, minute, n) VALUES (?1, ?2, "
                           "?3, 1) ON CONFLICT (user_id, kind, minute) DO UPDATE SET n = n + 1",
                           &st);
    if (rc) return rc;
    sqlite3_bind_int64(st, 1, user);
    sqlite3_bind_text(st, 2, k->name, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, minute);
    rc = tb__meta_run(db, st, "cannot count the access");
    if (rc) return rc;
    rc = tb__meta_stmt(db, TB__STMT_SEC_ACCESS_PRUNE,
                       "DELETE FROM access_counter WHERE user_id = ?1 AND kind = ?2 AND "
                       "minute <= ?3",
                       &st);
    if (rc) return rc;
    sqlite3_bind_int64(st, 1, user);
    sqlite3_bind_text(st, 2, k->name, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, minute - k->window_min);
    rc = tb__meta_run(db, st, "cannot prune access counters");
    if (rc) return rc;
    rc = tb__meta_stmt(db, TB__STMT_SEC_ACCESS_SUM,
                       "SELECT coalesce(sum(n), 0) FROM access_counter WHERE user_id = ?1 AND "
                       "kind = ?2",
                       &st);
    if (rc) return rc;
    sqlite3_bind_int64(st, 1, user);
    sqlite3_bind_text(st, 2, k->name, -1, SQLITE_STATIC);
    int src = sqlite3_step(st);
    if (src == SQLITE_ROW)
        *count = sqlite3_column_int64(st, 0);
    else
        rc = tb__meta_seterr_sqlite(db, src, "cannot sum access counters");
    tb__meta_stmt_done(st);
    return rc;
}

int tb__access_note(tb_db *db, const tb__principal *p, const char *remote, const char *kind)
{
    tb__clearerr(tb__db_err(db));
    const struct kind_def *k = kind_find(kind);
    if (!k)
        return tb__seterr(tb__db_err(db), TB_EINVAL,
                          "unknown access kind '%.32s' (view360, export, pii_read)",
                          kind ? kind : "");
    if (p->user_id == 0) return 0; /* the data directory's owner on the command line */
    long long limit;
    int rc = tb__setting_int(db, k->setting, k->def, 1, 1000000000, &limit);
    if (rc) return rc;
    int own;
    rc = tb__sec_begin(db, &own);
    if (rc) return rc;
    char reason[256];
    rc = blocked_of(db, p->user_id, p->name, reason, sizeof reason);
    if (rc) goto out;
    if (reason[0]) {
        rc = tb__seterr(tb__db_err(db), TB_EPERM,
                        "user '%s' is blocked (%s): an admin must clear it", p->name, reason);
        goto out;
    }
    long long count = 0;
    rc = bump(db, p->user_id, k, &count);
    if (rc || count <= limit) goto out;

    char at[TB__TIME_TEXT_LEN];
    snprintf(reason, sizeof reason, "alert.%s: %lld in %s over the limit of %lld, at %s", k->name,
             count, k->window, limit, tb__now_text(at));
    sqlite3_stmt *st;
    rc = tb__meta_stmt(db, TB__STMT_SEC_ACCESS_BLOCK,
                       "UPDATE user SET blocked = ?2, updated_at = ?3 WHERE user_id = ?1", &st);
    if (rc) goto out;
    sqlite3_bind_int64(st, 1, p->user_id);
    sqlite3_bind_text(st, 2, reason, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 3, at, -1, SQLITE_TRANSIENT);
    rc = tb__meta_run(db, st, "cannot block the user");
    if (rc) goto out;
    char action[32], detail[160];
    snprintf(action, sizeof action, "alert.%s", k->name);
    snprintf(detail, sizeof detail, "{\"count\":%lld,\"limit\":%lld,\"window\":\"%s\"}", count,
             limit, k->window);
    rc = tb__sec_audit_in_tx(db, p, remote, action, p->name, detail, "denied");
    if (rc) goto out;
    rc = tb__seterr(tb__db_err(db), TB_EPERM,
                    "user '%s' is blocked: %lld %s in %s is over the limit of %lld; an admin must "
                    "clear it",
                    p->name, count, k->name, k->window, limit);
out:
    return end_keep(db, own, rc);
}

/* The id and block reason of user `name`. */
static int user_blocked(tb_db *db, const char *name, int64_t *id, char *reason, size_t cap)
{
    sqlite3_stmt *st;
    reason[0] = 0;
    int rc = tb__meta_stmt(db, TB__STMT_SEC_ACCESS_BLOCKED,
                           "SELECT user_id, blocked FROM user WHERE name = ?1", &st);
    if (rc) return rc;
    sqlite3_bind_text(st, 1, name ? name : "", -1, SQLITE_TRANSIENT);
    int src = sqlite3_step(st);
    if (src == SQLITE_ROW) {
        *id = sqlite3_column_int64(st, 0);
        const char *b = (const char *)sqlite3_column_text(st, 1);
        if (b) snprintf(reason, cap, "%s", b);
    } else if (src == SQLITE_DONE) {
        rc = tb__seterr(tb__db_err(db), TB_ENOENT, "no user '%.64s'", name ? name : "");
    } else {
        rc = tb__meta_seterr_sqlite(db, src, "cannot read user");
    }
    tb__meta_stmt_done(st);
    return rc;
}

int tb__user_unblock(tb_db *db, const tb__principal *who, const char *remote, const char *name)
{
    tb__clearerr(tb__db_err(db));
    int own;
    int rc = tb__sec_begin(db, &own);
    if (rc) return rc;
    if (!tb__principal_can(who, TB__P_USER_ADMIN)) {
        rc = tb__sec_audit_in_tx(db, who, remote, "user.unblock", name,
                                 "{\"reason\":\"needs user.admin\"}", "denied");
        if (!rc) rc = tb__seterr(tb__db_err(db), TB_EPERM, "clearing a block needs user.admin");
        goto out;
    }
    int64_t id = 0;
    char reason[256];
    rc = user_blocked(db, name, &id, reason, sizeof reason);
    if (rc) goto out;
    if (!reason[0]) {
        rc = tb__seterr(tb__db_err(db), TB_EINVAL, "user '%s' is not blocked", name);
        goto out;
    }
    sqlite3_stmt *st;
    rc = tb__meta_stmt(db, TB__STMT_SEC_ACCESS_UNBLOCK,
                       "UPDATE user SET blocked = NULL, updated_at = ?2 WHERE user_id = ?1", &st);
    if (rc) goto out;
    char at[TB__TIME_TEXT_LEN];
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_text(st, 2, tb__now_text(at), -1, SQLITE_TRANSIENT);
    rc = tb__meta_run(db, st, "cannot clear the block");
    if (rc) goto out;
    /* A fresh start: the counts that tripped the alert would trip it again at once. */
    rc = tb__meta_stmt(db, TB__STMT_SEC_ACCESS_CLEAR,
                       "DELETE FROM access_counter WHERE user_id = ?1", &st);
    if (rc) goto out;
    sqlite3_bind_int64(st, 1, id);
    rc = tb__meta_run(db, st, "cannot clear access counters");
    if (rc) goto out;
    json_t *d = json_pack("{s:s}", "reason", reason);
    char *text = d ? json_dumps(d, JSON_COMPACT) : NULL;
    json_decref(d);
    if (!text) {
        rc = tb__seterr(tb__db_err(db), TB_ENOMEM, "out of memory");
        goto out;
    }
    rc = tb__sec_audit_in_tx(db, who, remote, "user.unblock", name, text, "ok");
    free(text);
out:
    return end_keep(db, own, rc);
}

int tb__alert_list(tb_db *db, int64_t limit, json_t **out)
{
    *out = NULL;
    json_t *a;
    int rc = tb__audit_list(db, NULL, "alert", limit, &a);
    if (rc) return rc;
    size_t i;
    json_t *r;
    json_t *res = json_array();
    if (!res) rc = tb__seterr(tb__db_err(db), TB_ENOMEM, "out of memory");
    json_array_foreach(a, i, r)
    {
        if (rc) break;
        const char *user = json_string_value(json_object_get(r, "object"));
        const char *action = json_string_value(json_object_get(r, "action"));
        json_t *d = json_object_get(r, "detail");
        int64_t id;
        char reason[256];
        rc = user_blocked(db, user, &id, reason, sizeof reason);
        if (rc == TB_ENOENT) { /* the user was removed since */
            tb__clearerr(tb__db_err(db));
            rc = 0;
            reason[0] = 0;
        }
        if (rc) break;
        json_t *e =
            json_pack("{s:O, s:O, s:s?, s:s, s:O?, s:O?, s:O?, s:s?}", "seq",
                      json_object_get(r, "seq"), "at", json_object_get(r, "at"), "user", user,
                      "kind", action && strlen(action) > 6 ? action + 6 : "", "count",
                      json_object_get(d, "count"), "limit", json_object_get(d, "limit"), "window",
                      json_object_get(d, "window"), "blocked", reason[0] ? reason : NULL);
        if (!e || json_array_append_new(res, e))
            rc = tb__seterr(tb__db_err(db), TB_ENOMEM, "out of memory");
    }
    json_decref(a);
    if (rc) {
        json_decref(res);
        return rc;
    }
    *out = res;
    return 0;
}
