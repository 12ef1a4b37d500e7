/* approval.c — maker-checker approvals: a request for one large or unmasked export or one role
 * change, decided by a second person who holds the kind's checker permissions, used once, and
 * expiring; every step audited. Also the integer-setting reader and the principal of a named user
 * the command line and tests use. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/clock.h"
#include "security/sec_int.h"
#include "store/meta.h"

#define PAYLOAD_MAX 4096
#define COMMENT_MAX 512

/* The kinds of request, what a requester (maker) needs and what a checker needs by default. */
static const struct kind_def {
    const char *name;
    unsigned maker, checker;
} kinds[] = {
    {"export_large", TB__P_SEG_EXPORT, TB__P_SEG_EXPORT | TB__P_USER_ADMIN},
    {"export_unmasked", TB__P_SEG_EXPORT, TB__P_SEG_EXPORT | TB__P_PII_CLEAR},
    {"role_change", TB__P_USER_ADMIN, TB__P_USER_ADMIN},
    {"customer_erase", TB__P_USER_ADMIN | TB__P_PII_CLEAR, TB__P_USER_ADMIN | TB__P_PII_CLEAR},
};

static const struct kind_def *kind_find(const char *name)
{
    for (size_t i = 0; name && i < sizeof kinds / sizeof kinds[0]; i++)
        if (strcmp(kinds[i].name, name) == 0) return &kinds[i];
    return NULL;
}

int tb__setting_int(tb_db *db, const char *key, long long def, long long min, long long max,
                    long long *out)
{
    *out = def;
    char *v = NULL;
    int rc = tb_db_get_setting(db, key, &v);
    if (rc == TB_ENOENT) {
        tb__clearerr(tb__db_err(db));
        return 0;
    }
    if (rc) return rc;
    char *end;
    long long n = strtoll(v, &end, 10);
    int bad = !*v || *end || n < min || n > max;
    free(v);
    if (bad)
        return tb__seterr(tb__db_err(db), TB_EINVAL,
                          "setting '%s' must be a whole number from %lld to %lld", key, min, max);
    *out = n;
    return 0;
}

int tb__principal_user(tb_db *db, const char *name, tb__principal *p)
{
    memset(p, 0, sizeof *p);
    sqlite3_stmt *st;
    int rc = tb__meta_stmt(db, TB__STMT_SEC_PRINCIPAL_GET,
                           "SELECT user_id, name, role, scope_kind, scope_id, must_change, "
                           "disabled, blocked FROM user WHERE name = ?1",
                           &st);
    if (rc) return rc;
    sqlite3_bind_text(st, 1, name ? name : "", -1, SQLITE_TRANSIENT);
    int src = sqlite3_step(st);
    if (src == SQLITE_ROW) {
        const char *kind = (const char *)sqlite3_column_text(st, 3);
        const char *sid = (const char *)sqlite3_column_text(st, 4);
        const char *blocked = (const char *)sqlite3_column_text(st, 7);
        p->user_id = sqlite3_column_int64(st, 0);
        snprintf(p->name, sizeof p->name, "%s", (const char *)sqlite3_column_text(st, 1));
        snprintf(p->role, sizeof p->role, "%s", (const char *)sqlite3_column_text(st, 2));
        p->scope = kind && strcmp(kind, "org") == 0       ? TB__SCOPE_ORG
                   : kind && strcmp(kind, "manager") == 0 ? TB__SCOPE_MANAGER
                                                          : TB__SCOPE_ALL;
        snprintf(p->scope_id, sizeof p->scope_id, "%s", sid ? sid : "");
        p->must_change_password = sqlite3_column_int(st, 5);
        if (sqlite3_column_int(st, 6))
            rc = tb__seterr(tb__db_err(db), TB_EPERM, "user '%s' is disabled", p->name);
        else if (blocked)
            rc = tb__seterr(tb__db_err(db), TB_EPERM,
                            "user '%s' is blocked (%.200s): an admin must clear it", p->name,
                            blocked);
    } else if (src == SQLITE_DONE) {
        rc = tb__seterr(tb__db_err(db), TB_ENOENT, "no user '%.64s'", name ? name : "");
    } else {
        rc = tb__meta_seterr_sqlite(db, src, "cannot read user");
    }
    tb__meta_stmt_done(st);
    if (!rc) rc = tb__sec_role_perms(db, p->role, &p->perms);
    if (rc) memset(p, 0, sizeof *p);
    return rc;
}

int tb__approval_perms(tb_db *db, const char *kind, int maker, unsigned *perms)
{
    *perms = 0;
    const struct kind_def *k = kind_find(kind);
    if (!k)
        return tb__seterr(tb__db_err(db), TB_EINVAL,
                          "unknown approval kind '%.32s' (export_large, export_unmasked, "
                          "role_change, customer_erase)",
                          kind ? kind : "");
    if (maker) {
        *perms = k->maker;
        return 0;
    }
    char key[80], *v = NULL;
    snprintf(key, sizeof key, "security.approval.perms.%s", k->name);
    int rc = tb_db_get_setting(db, key, &v);
    if (rc == TB_ENOENT) {
        tb__clearerr(tb__db_err(db));
        *perms = k->checker;
        return 0;
    }
    if (rc) return rc;
    char bad[48];
    rc = tb__perms_parse_list(v, perms, bad, sizeof bad);
    free(v);
    if (rc)
        return tb__seterr(tb__db_err(db), TB_EINVAL,
                          "setting '%s' must list known permissions (not '%s')", key, bad);
    return 0;
}

int tb__approval_export_kind(tb_db *db, uint64_t customers, int unmasked, const char **kind)
{
    *kind = NULL;
    if (unmasked) {
        *kind = "export_unmasked";
        return 0;
    }
    long long over;
    int rc =
        tb__setting_int(db, "security.export_approval_over", 10000, 0, (long long)1 << 40, &over);
    if (rc) return rc;
    if (customers > (uint64_t)over) *kind = "export_large";
    return 0;
}

/* 1 when `v` is a string of 1..max bytes. */
static int str_ok(json_t *v, size_t max)
{
    return json_is_string(v) && json_string_length(v) >= 1 && json_string_length(v) <= max;
}

/* The first key of object j that is not in the NULL-terminated list `allowed`, or NULL. */
static const char *unknown_key(json_t *j, const char *const *allowed)
{
    const char *key;
    json_t *v;
    json_object_foreach(j, key, v)
    {
        size_t i = 0;
        while (allowed[i] && strcmp(allowed[i], key) != 0)
            i++;
        if (!allowed[i]) return key;
    }
    return NULL;
}

/* Checks `payload` against what `kind` asks for and writes its canonical text (compact, keys
 * sorted) to *canon (caller frees with free). */
static int payload_canon(tb_db *db, const char *kind, const char *payload, char **canon)
{
    tb__errbuf *e = tb__db_err(db);
    *canon = NULL;
    size_t len = payload ? strlen(payload) : 0;
    if (len == 0 || len > PAYLOAD_MAX)
        return tb__seterr(e, TB_EINVAL, "approval payload must be a JSON object of 1 to %d bytes",
                          PAYLOAD_MAX);
    json_error_t jerr;
    json_t *j = json_loadb(payload, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!j || !json_is_object(j)) {
        json_decref(j);
        return tb__seterr(e, TB_EINVAL, "approval payload is not a JSON object%s%s", j ? "" : ": ",
                          j ? "" : jerr.text);
    }
    int rc = 0;
    if (strcmp(kind, "role_change") == 0) {
        static const char *const keys[] = {"user", "role", NULL};
        if (unknown_key(j, keys)) {
            rc = tb__seterr(e, TB_EINVAL, "a role_change payload has only \"user\" and \"role\"");
            goto out;
        }
        if (!str_ok(json_object_get(j, "user"), 64) || !str_ok(json_object_get(j, "role"), 32)) {
            rc = tb__seterr(e, TB_EINVAL,
                            "a role_change payload needs \"user\" and \"role\" (strings)");
            goto out;
        }
        unsigned perms;
        rc = tb__sec_role_perms(db, json_string_value(json_object_get(j, "role")), &perms);
        if (rc) goto out;
    } else if (strcmp(kind, "customer_erase") == 0) {
        /* Only the internal id: the request must not carry the person's identifiers. */
        static const char *const keys[] = {"gid", NULL};
        json_t *g = json_object_get(j, "gid");
        if (unknown_key(j, keys) || !json_is_integer(g) || json_integer_value(g) < 0 ||
            json_integer_value(g) >= (json_int_t)UINT32_MAX) {
            rc = tb__seterr(e, TB_EINVAL,
                            "a customer_erase payload has only \"gid\" (the internal id, a whole "
                            "number)");
            goto out;
        }
    } else {
        static const char *const keys[] = {"segment", "expression", "fields", "customers", NULL};
        const char *key = unknown_key(j, keys);
        if (key) {
            rc = tb__seterr(e, TB_EINVAL,
                            "an export payload has only \"segment\" or \"expression\", "
                            "\"fields\" and \"customers\" (not \"%.32s\")",
                            key);
            goto out;
        }
        json_t *seg = json_object_get(j, "segment"), *ex = json_object_get(j, "expression");
        if (!!seg == !!ex || (seg && !str_ok(seg, 128)) || (ex && !str_ok(ex, 2048))) {
            rc = tb__seterr(e, TB_EINVAL,
                            "an export payload needs one of \"segment\" (1 to 128 bytes) or "
                            "\"expression\" (1 to 2048 bytes)");
            goto out;
        }
        json_t *fields = json_object_get(j, "fields"), *f;
        size_t i;
        int fields_ok = !fields || json_is_array(fields);
        if (fields_ok) json_array_foreach(fields, i, f) fields_ok = fields_ok && str_ok(f, 64);
        if (strcmp(kind, "export_unmasked") == 0 && json_array_size(fields) == 0) fields_ok = 0;
        if (!fields_ok) {
            rc = tb__seterr(e, TB_EINVAL, "\"fields\" must be an array of field names%s",
                            strcmp(kind, "export_unmasked") == 0
                                ? " (an export_unmasked payload needs it)"
                                : "");
            goto out;
        }
        json_t *n = json_object_get(j, "customers");
        if (n && (!json_is_integer(n) || json_integer_value(n) < 0)) {
            rc = tb__seterr(e, TB_EINVAL, "\"customers\" must be a whole number");
            goto out;
        }
    }
    *canon = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
    if (!*canon) rc = tb__seterr(e, TB_ENOMEM, "out of memory");
out:
    json_decref(j);
    return rc;
}

/* Audits an approval step (in the open transaction) with a detail built from `fmt`. */
static int audit_step(tb_db *db, const tb__principal *who, const char *remote, const char *action,
                      int64_t id, json_t *detail, const char *outcome)
{
    char object[40];
    if (id > 0)
        snprintf(object, sizeof object, "approval:%lld", (long long)id);
    else
        snprintf(object, sizeof object, "approval");
    char *text = detail ? json_dumps(detail, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(detail);
    int rc = tb__sec_audit_in_tx(db, who, remote, action, object, text, outcome);
    free(text);
    return rc;
}

/* Records a refusal in the audit (the transaction stays open and will be committed) and sets the
 * TB_EPERM detail `why`; returns TB_EPERM, or the audit's error. */
static int deny(tb_db *db, const tb__principal *who, const char *remote, const char *action,
                int64_t id, const char *why)
{
    int rc = audit_step(db, who, remote, action, id, json_pack("{s:s}", "reason", why), "denied");
    if (rc) return rc;
    return tb__seterr(tb__db_err(db), TB_EPERM, "%s", why);
}

/* Ends the transaction of a step: a refusal (TB_EPERM after its audit) is committed so the audit
 * record stays; anything else as tb__sec_end. */
static int end_step(tb_db *db, int own, int rc)
{
    if (rc != TB_EPERM) return tb__sec_end(db, own, rc);
    tb__errbuf saved = *tb__db_err(db);
    int crc = tb__sec_end(db, own, 0);
    if (crc) return crc;
    *tb__db_err(db) = saved;
    return TB_EPERM;
}

static long long approval_hours(tb_db *db, int *rc)
{
    long long h = 24;
    *rc = tb__setting_int(db, "security.approval_hours", 24, 1, 720, &h);
    return h;
}

int tb__approval_request(tb_db *db, const tb__principal *who, const char *remote, const char *kind,
                         const char *payload, int64_t *id)
{
    tb__clearerr(tb__db_err(db));
    *id = 0;
    unsigned need;
    int rc = tb__approval_perms(db, kind, 1, &need);
    if (rc) return rc;
    char *canon = NULL;
    rc = payload_canon(db, kind, payload, &canon);
    if (rc) return rc;
    long long hours = approval_hours(db, &rc);
    if (rc) goto out_free;
    int own;
    rc = tb__sec_begin(db, &own);
    if (rc) goto out_free;
    if (!tb__principal_can(who, need)) {
        char perms[256], why[400];
        tb__sec_perms_text(need, perms, sizeof perms);
        snprintf(why, sizeof why, "asking for a '%s' approval needs %s", kind, perms);
        rc = deny(db, who, remote, "approval.request", 0, why);
        goto out_end;
    }
    sqlite3_stmt *st;
    rc = tb__meta_stmt(db, TB__STMT_SEC_APPR_INSERT,
                       "INSERT INTO approval (kind, requester, payload, status, created_at, "
                       "expires_at) VALUES (?1, ?2, ?3, 'pending', ?4, ?5)",
                       &st);
    if (rc) goto out_end;
    time_t now = time(NULL);
    char at[TB__TIME_TEXT_LEN], until[TB__TIME_TEXT_LEN];
    sqlite3_bind_text(st, 1, kind, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, who->name, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 3, canon, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 4, tb__time_text(now, at), -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 5, tb__time_text(now + (time_t)hours * 3600, until), -1,
                      SQLITE_TRANSIENT);
    rc = tb__meta_run(db, st, "cannot record the approval request");
    if (rc) goto out_end;
    int64_t new_id = sqlite3_last_insert_rowid(tb__db_sqlite(db));
    rc = audit_step(db, who, remote, "approval.request", new_id,
                    json_pack("{s:s, s:o}", "kind", kind, "payload", json_loads(canon, 0, NULL)),
                    "ok");
    if (!rc) *id = new_id;
out_end:
    rc = end_step(db, own, rc);
out_free:
    free(canon);
    if (rc) *id = 0;
    return rc;
}

/* The row of request `id`, copied. */
typedef struct row {
    char kind[40], requester[72], status[16], expires_at[TB__TIME_TEXT_LEN];
    char *payload; /* caller frees */
} row;

static int row_get(tb_db *db, int64_t id, row *r)
{
    memset(r, 0, sizeof *r);
    sqlite3_stmt *st;
    int rc = tb__meta_stmt(db, TB__STMT_SEC_APPR_GET,
                           "SELECT kind, requester, status, expires_at, payload FROM approval "
                           "WHERE approval_id = ?1",
                           &st);
    if (rc) return rc;
    sqlite3_bind_int64(st, 1, id);
    int src = sqlite3_step(st);
    if (src == SQLITE_ROW) {
        snprintf(r->kind, sizeof r->kind, "%s", (const char *)sqlite3_column_text(st, 0));
        snprintf(r->requester, sizeof r->requester, "%s", (const char *)sqlite3_column_text(st, 1));
        snprintf(r->status, sizeof r->status, "%s", (const char *)sqlite3_column_text(st, 2));
        snprintf(r->expires_at, sizeof r->expires_at, "%s",
                 (const char *)sqlite3_column_text(st, 3));
        r->payload = strdup((const char *)sqlite3_column_text(st, 4));
        if (!r->payload) rc = tb__seterr(tb__db_err(db), TB_ENOMEM, "out of memory");
    } else if (src == SQLITE_DONE) {
        rc = tb__seterr(tb__db_err(db), TB_ENOENT, "no approval request %lld", (long long)id);
    } else {
        rc = tb__meta_seterr_sqlite(db, src, "cannot read the approval request");
    }
    tb__meta_stmt_done(st);
    return rc;
}

/* Marks request `id` expired when its time is up and it is still open; *expired says whether. */
static int expire_if_due(tb_db *db, int64_t id, row *r, int *expired)
{
    char now[TB__TIME_TEXT_LEN];
    *expired = 0;
    if ((strcmp(r->status, "pending") && strcmp(r->status, "approved")) ||
        strcmp(r->expires_at, tb__now_text(now)) > 0)
        return 0;
    sqlite3_stmt *st;
    int rc = tb__meta_stmt(db, TB__STMT_SEC_APPR_EXPIRE,
                           "UPDATE approval SET status = 'expired' WHERE approval_id = ?1", &st);
    if (rc) return rc;
    sqlite3_bind_int64(st, 1, id);
    rc = tb__meta_run(db, st, "cannot mark the approval request expired");
    if (rc) return rc;
    snprintf(r->status, sizeof r->status, "expired");
    *expired = 1;
    return 0;
}

int tb__approval_decide(tb_db *db, const tb__principal *who, const char *remote, int64_t id,
                        int approve, const char *comment)
{
    tb__clearerr(tb__db_err(db));
    const char *action = approve ? "approval.approve" : "approval.reject";
    if (comment && strlen(comment) > COMMENT_MAX)
        return tb__seterr(tb__db_err(db), TB_EINVAL, "comment is longer than %d bytes",
                          COMMENT_MAX);
    if (!approve && (!comment || !*comment))
        return tb__seterr(tb__db_err(db), TB_EINVAL, "a rejection needs a comment saying why");
    int rc;
    long long hours = approval_hours(db, &rc);
    if (rc) return rc;
    int own;
    rc = tb__sec_begin(db, &own);
    if (rc) return rc;
    row r;
    rc = row_get(db, id, &r);
    if (rc) goto out_end;
    int expired;
    rc = expire_if_due(db, id, &r, &expired);
    if (rc) goto out_end;
    char why[400];
    if (strcmp(r.status, "pending") != 0) {
        snprintf(why, sizeof why, "approval request %lld is %s, not pending", (long long)id,
                 r.status);
        rc = deny(db, who, remote, action, id, why);
        goto out_end;
    }
    if (strcmp(who->name, r.requester) == 0) {
        snprintf(why, sizeof why,
                 "approval request %lld was made by '%s': a second person must decide it",
                 (long long)id, r.requester);
        rc = deny(db, who, remote, action, id, why);
        goto out_end;
    }
    unsigned need;
    rc = tb__approval_perms(db, r.kind, 0, &need);
    if (rc) goto out_end;
    if (!tb__principal_can(who, need)) {
        char perms[256];
        tb__sec_perms_text(need, perms, sizeof perms);
        snprintf(why, sizeof why, "deciding a '%s' request needs %s", r.kind, perms);
        rc = deny(db, who, remote, action, id, why);
        goto out_end;
    }
    if (strcmp(r.kind, "role_change") == 0) {
        json_t *j = json_loads(r.payload, 0, NULL);
        const char *subject = json_string_value(json_object_get(j, "user"));
        int self = subject && strcmp(subject, who->name) == 0;
        json_decref(j);
        if (self) {
            snprintf(why, sizeof why, "'%s' cannot decide a change of their own role", who->name);
            rc = deny(db, who, remote, action, id, why);
            goto out_end;
        }
    }
    sqlite3_stmt *st;
    rc = tb__meta_stmt(db, TB__STMT_SEC_APPR_DECIDE,
                       "UPDATE approval SET status = ?2, decided_by = ?3, decided_at = ?4, "
                       "comment = ?5, expires_at = ?6 WHERE approval_id = ?1 AND status = "
                       "'pending'",
                       &st);
    if (rc) goto out_end;
    time_t now = time(NULL);
    char at[TB__TIME_TEXT_LEN], until[TB__TIME_TEXT_LEN];
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_text(st, 2, approve ? "approved" : "rejected", -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, who->name, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 4, tb__time_text(now, at), -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 5, comment && *comment ? comment : NULL, -1, SQLITE_TRANSIENT);
    /* an approval is good for the same time again from when it was given */
    sqlite3_bind_text(st, 6,
                      approve ? tb__time_text(now + (time_t)hours * 3600, until) : r.expires_at, -1,
                      SQLITE_TRANSIENT);
    rc = tb__meta_run(db, st, "cannot record the decision");
    if (rc) goto out_end;
    /* The comment is free text and may name people: it stays in the approval, not the audit. */
    rc = audit_step(db, who, remote, action, id,
                    json_pack("{s:s, s:s, s:b}", "kind", r.kind, "requester", r.requester,
                              "comment", comment && *comment),
                    "ok");
out_end:
    free(r.payload);
    return end_step(db, own, rc);
}

int tb__approval_consume(tb_db *db, int64_t id, const tb__principal *requester, const char *remote,
                         const char *kind, const char *payload)
{
    tb__clearerr(tb__db_err(db));
    const char *action = "approval.use";
    if (!kind_find(kind)) {
        unsigned dummy;
        return tb__approval_perms(db, kind, 1, &dummy);
    }
    char *canon = NULL;
    int rc = payload_canon(db, kind, payload, &canon);
    if (rc) return rc;
    int own;
    rc = tb__sec_begin(db, &own);
    if (rc) goto out_free;
    row r;
    rc = row_get(db, id, &r);
    if (rc) goto out_end;
    int expired;
    rc = expire_if_due(db, id, &r, &expired);
    if (rc) goto out_end;
    char why[400];
    if (strcmp(r.status, "approved") != 0) {
        snprintf(why, sizeof why, "approval %lld is %s, not approved%s", (long long)id, r.status,
                 strcmp(r.status, "used") == 0 ? " (an approval is used once)" : "");
        rc = deny(db, requester, remote, action, id, why);
    } else if (strcmp(requester->name, r.requester) != 0) {
        snprintf(why, sizeof why, "approval %lld was asked for by someone else", (long long)id);
        rc = deny(db, requester, remote, action, id, why);
    } else if (strcmp(kind, r.kind) != 0) {
        snprintf(why, sizeof why, "approval %lld is for '%s', not '%s'", (long long)id, r.kind,
                 kind);
        rc = deny(db, requester, remote, action, id, why);
    } else if (strcmp(canon, r.payload) != 0) {
        snprintf(why, sizeof why,
                 "approval %lld does not cover this request (it was given for something else)",
                 (long long)id);
        rc = deny(db, requester, remote, action, id, why);
    }
    if (rc) goto out_end;
    sqlite3_stmt *st;
    rc = tb__meta_stmt(db, TB__STMT_SEC_APPR_USE,
                       "UPDATE approval SET status = 'used', used_at = ?2 WHERE approval_id = ?1 "
                       "AND status = 'approved'",
                       &st);
    if (rc) goto out_end;
    char at[TB__TIME_TEXT_LEN];
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_text(st, 2, tb__now_text(at), -1, SQLITE_TRANSIENT);
    rc = tb__meta_run(db, st, "cannot mark the approval used");
    if (rc) goto out_end;
    rc = audit_step(db, requester, remote, action, id,
                    json_pack("{s:s, s:o}", "kind", kind, "payload", json_loads(canon, 0, NULL)),
                    "ok");
out_end:
    free(r.payload);
    rc = end_step(db, own, rc);
out_free:
    free(canon);
    return rc;
}

/* The column text, or NULL for SQL NULL. */
static const char *col(sqlite3_stmt *st, int i)
{
    return (const char *)sqlite3_column_text(st, i);
}

/* Lists requests (id 0: all, filtered) into *out. */
static int list(tb_db *db, int64_t id, const char *status, const char *requester, int64_t limit,
                json_t **out)
{
    tb__clearerr(tb__db_err(db));
    *out = NULL;
    if (status && strcmp(status, "pending") && strcmp(status, "approved") &&
        strcmp(status, "rejected") && strcmp(status, "used") && strcmp(status, "expired"))
        return tb__seterr(tb__db_err(db), TB_EINVAL,
                          "status must be pending, approved, rejected, used or expired");
    if (limit <= 0) limit = 100;
    if (limit > 10000) limit = 10000;
    sqlite3_stmt *st;
    /* Expiry is computed here, so a read-only handle shows it too. */
    int rc = tb__meta_stmt(db, TB__STMT_SEC_APPR_LIST,
                           "SELECT approval_id, kind, requester, payload, "
                           "CASE WHEN status IN ('pending', 'approved') AND expires_at <= ?5 "
                           "THEN 'expired' ELSE status END AS state, created_at, expires_at, "
                           "decided_by, decided_at, comment, used_at FROM approval "
                           "WHERE (?1 = 0 OR approval_id = ?1) AND (?2 IS NULL OR state = ?2) AND "
                           "(?3 IS NULL OR requester = ?3) ORDER BY approval_id DESC LIMIT ?4",
                           &st);
    if (rc) return rc;
    char now[TB__TIME_TEXT_LEN];
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_text(st, 2, status, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 3, requester, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 4, limit);
    sqlite3_bind_text(st, 5, tb__now_text(now), -1, SQLITE_TRANSIENT);
    json_t *a = json_array();
    if (!a) rc = tb__seterr(tb__db_err(db), TB_ENOMEM, "out of memory");
    int src = SQLITE_DONE;
    while (!rc && (src = sqlite3_step(st)) == SQLITE_ROW) {
        json_t *payload = json_loads(col(st, 3), 0, NULL);
        json_t *r =
            json_pack("{s:I, s:s, s:s, s:o, s:s, s:s, s:s, s:s?, s:s?, s:s?, s:s?}", "id",
                      (json_int_t)sqlite3_column_int64(st, 0), "kind", col(st, 1), "requester",
                      col(st, 2), "payload", payload ? payload : json_null(), "status", col(st, 4),
                      "created_at", col(st, 5), "expires_at", col(st, 6), "decided_by", col(st, 7),
                      "decided_at", col(st, 8), "comment", col(st, 9), "used_at", col(st, 10));
        if (!r || json_array_append_new(a, r))
            rc = tb__seterr(tb__db_err(db), TB_ENOMEM, "out of memory");
    }
    if (!rc && src != SQLITE_DONE)
        rc = tb__meta_seterr_sqlite(db, src, "cannot list approval requests");
    tb__meta_stmt_done(st);
    if (rc) {
        json_decref(a);
        return rc;
    }
    *out = a;
    return 0;
}

int tb__approval_list(tb_db *db, const char *status, const char *requester, int64_t limit,
                      json_t **out)
{
    return list(db, 0, status, requester, limit, out);
}

int tb__approval_get(tb_db *db, int64_t id, json_t **out)
{
    json_t *a;
    *out = NULL;
    if (id <= 0)
        return tb__seterr(tb__db_err(db), TB_ENOENT, "no approval request %lld", (long long)id);
    int rc = list(db, id, NULL, NULL, 1, &a);
    if (rc) return rc;
    if (json_array_size(a) == 0) {
        json_decref(a);
        return tb__seterr(tb__db_err(db), TB_ENOENT, "no approval request %lld", (long long)id);
    }
    *out = json_incref(json_array_get(a, 0));
    json_decref(a);
    return 0;
}
