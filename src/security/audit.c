/* audit.c — the append-only, hash-chained audit log: append (tb__audit), verify the chain, list.
 * Each record's hash covers the previous record's hash and a canonical text of its own fields, so
 * an edited, removed or reordered record breaks the chain at that record; the last record's seq
 * and hash are also kept as the setting 'security.audit_head' so a cut at the end shows too. */
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "common/clock.h"
#include "security/sec_int.h"
#include "store/meta.h"

static const char zero_hash[] = "0000000000000000000000000000000000000000000000000000000000000000";

/* The fields of a record in chain order. */
typedef struct record {
    long long seq;
    const char *at, *actor, *role, *remote, *action, *object, *detail, *outcome;
} record;

/* Feeds one field as "<byte length>:<bytes>\n", or "-\n" for NULL, so that no two different
 * records have the same text. */
static void feed(crypto_generichash_state *h, const char *v)
{
    char len[24];
    if (!v) {
        crypto_generichash_update(h, (const unsigned char *)"-\n", 2);
        return;
    }
    size_t n = strlen(v);
    int w = snprintf(len, sizeof len, "%zu:", n);
    crypto_generichash_update(h, (const unsigned char *)len, (size_t)w);
    crypto_generichash_update(h, (const unsigned char *)v, n);
    crypto_generichash_update(h, (const unsigned char *)"\n", 1);
}

/* hash = BLAKE2b-256(prev_hash hex || canonical text of r), as hex into out[65]. */
static void record_hash(const char *prev, const record *r, char out[TB__SEC_HEX_LEN])
{
    crypto_generichash_state h;
    unsigned char bin[32];
    char seq[24];
    snprintf(seq, sizeof seq, "%lld", r->seq);
    crypto_generichash_init(&h, NULL, 0, sizeof bin);
    crypto_generichash_update(&h, (const unsigned char *)prev, strlen(prev));
    feed(&h, seq);
    feed(&h, r->at);
    feed(&h, r->actor);
    feed(&h, r->role);
    feed(&h, r->remote);
    feed(&h, r->action);
    feed(&h, r->object);
    feed(&h, r->detail);
    feed(&h, r->outcome);
    crypto_generichash_final(&h, bin, sizeof bin);
    tb__sec_hex(bin, sizeof bin, out);
}

/* Checks the caller's fields: bounded, known outcome, detail a JSON object. */
static int check_fields(tb_db *db, const char *remote, const char *action, const char *object,
                        const char *detail, const char *outcome)
{
    tb__errbuf *e = tb__db_err(db);
    if (!action || !*action || strlen(action) > 64)
        return tb__seterr(e, TB_EINVAL, "audit action must be 1 to 64 bytes");
    if (!outcome ||
        (strcmp(outcome, "ok") && strcmp(outcome, "denied") && strcmp(outcome, "failed")))
        return tb__seterr(e, TB_EINVAL, "audit outcome must be 'ok', 'denied' or 'failed'");
    if (object && strlen(object) > 256)
        return tb__seterr(e, TB_EINVAL, "audit object is longer than 256 bytes");
    if (remote && strlen(remote) > 128)
        return tb__seterr(e, TB_EINVAL, "audit remote address is longer than 128 bytes");
    if (detail) {
        if (strlen(detail) > 8192)
            return tb__seterr(e, TB_EINVAL, "audit detail is longer than 8192 bytes");
        json_t *j = json_loads(detail, 0, NULL);
        int ok = j && json_is_object(j);
        json_decref(j);
        if (!ok) return tb__seterr(e, TB_EINVAL, "audit detail is not a JSON object");
    }
    return 0;
}

int tb__sec_audit_in_tx(tb_db *db, const tb__principal *who, const char *remote, const char *action,
                        const char *object, const char *detail, const char *outcome)
{
    int rc = check_fields(db, remote, action, object, detail, outcome);
    if (rc) return rc;
    rc = tb__sec_sodium(db);
    if (rc) return rc;
    sqlite3_stmt *st;
    rc = tb__meta_stmt(db, TB__STMT_SEC_AUDIT_LAST,
                       "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1", &st);
    if (rc) return rc;
    char prev[TB__SEC_HEX_LEN];
    record r = {0};
    int src = sqlite3_step(st);
    if (src == SQLITE_ROW) {
        r.seq = sqlite3_column_int64(st, 0) + 1;
        snprintf(prev, sizeof prev, "%s", (const char *)sqlite3_column_text(st, 1));
    } else if (src == SQLITE_DONE) {
        r.seq = 1;
        memcpy(prev, zero_hash, sizeof prev);
    } else {
        rc = tb__meta_seterr_sqlite(db, src, "cannot read the audit log");
    }
    tb__meta_stmt_done(st);
    if (rc) return rc;

    char at[TB__TIME_TEXT_LEN], hash[TB__SEC_HEX_LEN];
    r.at = tb__now_text(at);
    r.actor = who && who->name[0] ? who->name : "-";
    r.role = who && who->role[0] ? who->role : NULL;
    r.remote = remote;
    r.action = action;
    r.object = object;
    r.detail = detail;
    r.outcome = outcome;
    record_hash(prev, &r, hash);

    rc = tb__meta_stmt(db, TB__STMT_SEC_AUDIT_INSERT,
                       "INSERT INTO audit (seq, at, actor, role, remote, action, object, detail, "
                       "outcome, prev_hash, hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, "
                       "?10, ?11)",
                       &st);
    if (rc) return rc;
    sqlite3_bind_int64(st, 1, r.seq);
    sqlite3_bind_text(st, 2, r.at, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 3, r.actor, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 4, r.role, -1, SQLITE_TRANSIENT); /* NULL binds NULL */
    sqlite3_bind_text(st, 5, r.remote, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 6, r.action, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 7, r.object, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 8, r.detail, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 9, r.outcome, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 10, prev, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 11, hash, -1, SQLITE_TRANSIENT);
    rc = tb__meta_run(db, st, "cannot append to the audit log");
    if (rc) return rc;

    char head[96];
    snprintf(head, sizeof head, "%lld %s", r.seq, hash);
    rc = tb__meta_stmt(db, TB__STMT_SEC_AUDIT_HEAD_PUT,
                       "INSERT INTO setting (key, value, updated_at) VALUES "
                       "('security.audit_head', ?1, ?2) ON CONFLICT (key) DO UPDATE SET "
                       "value = excluded.value, updated_at = excluded.updated_at",
                       &st);
    if (rc) return rc;
    sqlite3_bind_text(st, 1, head, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, r.at, -1, SQLITE_TRANSIENT);
    return tb__meta_run(db, st, "cannot record the audit head");
}

int tb__audit(tb_db *db, const tb__principal *who, const char *remote, const char *action,
              const char *object, const char *detail, const char *outcome)
{
    tb__clearerr(tb__db_err(db));
    int rc = check_fields(db, remote, action, object, detail, outcome);
    if (rc) return rc;
    int own;
    rc = tb__sec_begin(db, &own);
    if (rc) return rc;
    rc = tb__sec_audit_in_tx(db, who, remote, action, object, detail, outcome);
    return tb__sec_end(db, own, rc);
}

/* The column text, or NULL for SQL NULL. */
static const char *col(sqlite3_stmt *st, int i)
{
    return (const char *)sqlite3_column_text(st, i);
}

/* Reads the head setting into *seq and hash; 0 when found, 1 when missing. */
static int read_head(tb_db *db, long long *seq, char hash[TB__SEC_HEX_LEN])
{
    sqlite3_stmt *st;
    int rc = tb__meta_stmt(db, TB__STMT_SEC_AUDIT_HEAD_GET,
                           "SELECT value FROM setting WHERE key = 'security.audit_head'", &st);
    if (rc) return rc;
    int src = sqlite3_step(st);
    if (src == SQLITE_ROW) {
        const char *v = col(st, 0);
        hash[0] = 0;
        if (!v || sscanf(v, "%lld %64s", seq, hash) != 2) *seq = -1;
    } else if (src == SQLITE_DONE) {
        rc = 1;
    } else {
        rc = tb__meta_seterr_sqlite(db, src, "cannot read the audit head");
    }
    tb__meta_stmt_done(st);
    return rc;
}

int tb__audit_verify(tb_db *db, json_t **out)
{
    tb__clearerr(tb__db_err(db));
    *out = NULL;
    int rc = tb__sec_sodium(db);
    if (rc) return rc;
    sqlite3_stmt *st;
    rc = tb__meta_stmt(db, TB__STMT_SEC_AUDIT_ALL,
                       "SELECT seq, at, actor, role, remote, action, object, detail, outcome, "
                       "prev_hash, hash FROM audit ORDER BY seq",
                       &st);
    if (rc) return rc;
    char prev[TB__SEC_HEX_LEN], got[TB__SEC_HEX_LEN], reason[256] = "";
    memcpy(prev, zero_hash, sizeof prev);
    long long expect = 1, records = 0, broken = 0;
    int src;
    while ((src = sqlite3_step(st)) == SQLITE_ROW) {
        record r = {sqlite3_column_int64(st, 0),
                    col(st, 1),
                    col(st, 2),
                    col(st, 3),
                    col(st, 4),
                    col(st, 5),
                    col(st, 6),
                    col(st, 7),
                    col(st, 8)};
        const char *prev_hash = col(st, 9), *hash = col(st, 10);
        records++;
        if (r.seq != expect) {
            broken = expect;
            if (expect == r.seq - 1)
                snprintf(reason, sizeof reason, "record %lld is missing (removed)", expect);
            else
                snprintf(reason, sizeof reason, "records %lld to %lld are missing (removed)",
                         expect, r.seq - 1);
            break;
        }
        if (!prev_hash || strcmp(prev_hash, prev) != 0) {
            broken = r.seq;
            snprintf(reason, sizeof reason,
                     "record %lld does not follow record %lld (its prev_hash is not that "
                     "record's hash): records removed, reordered or replaced",
                     r.seq, r.seq - 1);
            break;
        }
        record_hash(prev, &r, got);
        if (!hash || strcmp(hash, got) != 0) {
            broken = r.seq;
            snprintf(reason, sizeof reason,
                     "record %lld was edited (its hash does not match its contents)", r.seq);
            break;
        }
        snprintf(prev, sizeof prev, "%s", hash);
        expect++;
    }
    if (src != SQLITE_ROW && src != SQLITE_DONE)
        rc = tb__meta_seterr_sqlite(db, src, "cannot read the audit log");
    tb__meta_stmt_done(st);
    if (rc) return rc;

    if (!broken) {
        long long head_seq = 0;
        char head_hash[TB__SEC_HEX_LEN] = "";
        rc = read_head(db, &head_seq, head_hash);
        if (rc < 0) return rc;
        long long last = expect - 1;
        if (rc == 1) {
            rc = 0;
            if (last > 0) {
                broken = last;
                snprintf(reason, sizeof reason,
                         "the audit head (setting 'security.audit_head') is missing");
            }
        } else if (head_seq > last) {
            broken = last + 1;
            snprintf(reason, sizeof reason,
                     "records %lld to %lld are missing (removed from the end; the head says %lld)",
                     last + 1, head_seq, head_seq);
        } else if (head_seq < last || strcmp(head_hash, prev) != 0) {
            broken = head_seq < last && head_seq >= 0 ? head_seq + 1 : last;
            snprintf(reason, sizeof reason,
                     "the records do not end where the audit head says (seq %lld): records "
                     "added or replaced outside tagbase",
                     head_seq);
        }
    }
    json_t *doc = json_pack("{s:b, s:I, s:I, s:s?, s:s}", "ok", !broken, "records",
                            (json_int_t)records, "broken_at", (json_int_t)broken, "reason",
                            broken ? reason : NULL, "head", broken ? "" : prev);
    if (!doc) return tb__seterr(tb__db_err(db), TB_ENOMEM, "out of memory");
    if (!broken) json_object_set_new(doc, "reason", json_null());
    *out = doc;
    return 0;
}

int tb__audit_list(tb_db *db, const char *actor, const char *action, int64_t limit, json_t **out)
{
    tb__clearerr(tb__db_err(db));
    *out = NULL;
    if (limit <= 0) limit = 100;
    if (limit > 10000) limit = 10000;
    sqlite3_stmt *st;
    int rc = tb__meta_stmt(db, TB__STMT_SEC_AUDIT_LIST,
                           "SELECT seq, at, actor, role, remote, action, object, detail, "
                           "outcome, hash FROM audit WHERE (?1 IS NULL OR actor = ?1) AND "
                           "(?2 IS NULL OR action = ?2 OR "
                           "substr(action, 1, length(?2) + 1) = ?2 || '.') "
                           "ORDER BY seq DESC LIMIT ?3",
                           &st);
    if (rc) return rc;
    sqlite3_bind_text(st, 1, actor, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, action, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 3, limit);
    json_t *a = json_array();
    if (!a) rc = tb__seterr(tb__db_err(db), TB_ENOMEM, "out of memory");
    int src = SQLITE_DONE;
    while (!rc && (src = sqlite3_step(st)) == SQLITE_ROW) {
        const char *detail = col(st, 7);
        json_t *d = detail ? json_loads(detail, 0, NULL) : NULL;
        if (detail && !d) d = json_string(detail);
        json_t *r =
            json_pack("{s:I, s:s?, s:s?, s:s?, s:s?, s:s?, s:s?, s:o?, s:s?, s:s?}", "seq",
                      (json_int_t)sqlite3_column_int64(st, 0), "at", col(st, 1), "actor",
                      col(st, 2), "role", col(st, 3), "remote", col(st, 4), "action", col(st, 5),
                      "object", col(st, 6), "detail", d, "outcome", col(st, 8), "hash", col(st, 9));
        if (!r || json_array_append_new(a, r))
            rc = tb__seterr(tb__db_err(db), TB_ENOMEM, "out of memory");
    }
    if (!rc && src != SQLITE_DONE)
        rc = tb__meta_seterr_sqlite(db, src, "cannot list the audit log");
    tb__meta_stmt_done(st);
    if (rc) {
        json_decref(a);
        return rc;
    }
    *out = a;
    return 0;
}
