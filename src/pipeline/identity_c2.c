/* identity_c2.c — re-sealing the master data's C2 values under another key (tb__md_c2_rekey in
 * identity.h): key rotation, and the first encryption of a plaintext store. One transaction: a
 * crash leaves every value under the old key or every value under the new one, never a mix. */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/err.h"
#include "common/log.h"
#include "pipeline/identity.h"
#include "store/crypt.h"
#include "store/mdx.h"
#include "store/meta.h"

#define CHUNK 2048 /* rows read before they are rewritten: no statement reads while we update */

/* Uncached: rotation runs rarely, each statement once or per chunk. */
static int prep(tb_db *db, const char *sql, sqlite3_stmt **st)
{
    int rc = sqlite3_prepare_v2(tb__db_sqlite(db), sql, -1, st, NULL);
    if (rc != SQLITE_OK) {
        *st = NULL;
        return tb__meta_seterr_sqlite(db, rc, "cannot prepare a re-encryption statement");
    }
    return 0;
}

static int step_done(tb_db *db, sqlite3_stmt *st, const char *what)
{
    int s = sqlite3_step(st);
    int rc = s == SQLITE_DONE ? 0 : tb__meta_seterr_sqlite(db, s, what);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc;
}

/* Binds a sealed value (NULL and "" stay as they are: a tombstone's attrs are ""). */
static int bind_seal(sqlite3_stmt *st, int col, const tb__c2key *to, const char *ad, const char *v,
                     tb__buf *tmp)
{
    if (!v) return sqlite3_bind_null(st, col), 0;
    if (!*v) return sqlite3_bind_text(st, col, "", 0, SQLITE_STATIC), 0;
    if (tb__c2_seal_with(to, ad, v, strlen(v), tmp)) return TB_ENOMEM;
    sqlite3_bind_text(st, col, tmp->data, (int)tmp->len, SQLITE_TRANSIENT);
    return 0;
}

static void bind_blind(sqlite3_stmt *st, int col, const tb__c2key *to, const char *ad,
                       const char *v)
{
    if (!v) {
        sqlite3_bind_null(st, col);
        return;
    }
    char b[TB__C2_BLIND_LEN];
    tb__c2_blind_with(to, ad, v, strlen(v), b);
    sqlite3_bind_text(st, col, b, -1, SQLITE_TRANSIENT);
}

/* Field f of a clear attrs string into out; returns out, or NULL when absent. */
static const char *attr(const char *a, int f, char *out, size_t cap)
{
    tb__attr_field fs[TB__F_COUNT];
    (void)tb__attrs_split(a, a ? strlen(a) : 0, fs); /* what parsed is kept */
    if (!fs[f].value) return NULL;
    snprintf(out, cap, "%.*s", (int)fs[f].value_len, fs[f].value);
    return out;
}

struct prow {
    int64_t gid;
    char *cert, *attrs, *name, *mobile; /* in clear, owned; NULL when NULL */
};

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

static void prow_wipe(struct prow *r)
{
    char *v[] = {r->cert, r->attrs, r->name, r->mobile};
    for (size_t i = 0; i < 4; i++)
        if (v[i]) {
            sodium_memzero(v[i], strlen(v[i]));
            free(v[i]);
        }
    memset(r, 0, sizeof *r);
}

static int rekey_parties(tb_db *db, const tb__c2key *to, uint64_t *rows)
{
    int on = tb__c2_on(db);
    sqlite3_stmt *sel, *upd;
    int rc = prep(db,
                  on ? "SELECT gid, cert_enc, attrs, NULL, NULL FROM party WHERE gid > ?1 "
                       "ORDER BY gid LIMIT ?2"
                     : "SELECT gid, cert_no, attrs, name, mobile FROM party WHERE gid > ?1 "
                       "ORDER BY gid LIMIT ?2",
                  &sel);
    if (rc) return rc;
    rc = prep(db,
              "UPDATE party SET cert_no = ?2, cert_enc = ?3, name = ?4, mobile = ?5, attrs = ?6 "
              "WHERE gid = ?1",
              &upd);
    if (rc) {
        sqlite3_finalize(sel);
        return rc;
    }
    struct prow *chunk = calloc(CHUNK, sizeof *chunk);
    tb__buf b1 = TB__BUF_INIT, b2 = TB__BUF_INIT;
    if (!chunk) rc = tb__seterr(tb__db_err(db), TB_ENOMEM, "out of memory");
    int64_t last = -1;
    while (rc == 0) {
        size_t n = 0;
        sqlite3_bind_int64(sel, 1, last);
        sqlite3_bind_int(sel, 2, CHUNK);
        int s = SQLITE_DONE;
        while (rc == 0 && (s = sqlite3_step(sel)) == SQLITE_ROW) {
            struct prow *r = &chunk[n++];
            r->gid = last = sqlite3_column_int64(sel, 0);
            const char *cert, *attrs;
            rc = tb__c2_reveal(db, TB__C2_AD_CERT, (const char *)sqlite3_column_text(sel, 1), &b1,
                               &cert);
            if (!rc)
                rc = tb__c2_reveal(db, TB__C2_AD_ATTRS, (const char *)sqlite3_column_text(sel, 2),
                                   &b2, &attrs);
            if (rc) break;
            char nm[512], mb[128];
            const char *name = on ? attr(attrs, TB__F_NAME, nm, sizeof nm)
                                  : (const char *)sqlite3_column_text(sel, 3);
            const char *mobile = on ? attr(attrs, TB__F_MOBILE, mb, sizeof mb)
                                    : (const char *)sqlite3_column_text(sel, 4);
            r->cert = dup_or_null(cert);
            r->attrs = dup_or_null(attrs);
            r->name = dup_or_null(name);
            r->mobile = dup_or_null(mobile);
            sodium_memzero(nm, sizeof nm);
            sodium_memzero(mb, sizeof mb);
            if ((cert && !r->cert) || (attrs && !r->attrs) || (name && !r->name) ||
                (mobile && !r->mobile))
                rc = tb__seterr(tb__db_err(db), TB_ENOMEM, "out of memory");
        }
        if (!rc && s != SQLITE_ROW && s != SQLITE_DONE)
            rc = tb__meta_seterr_sqlite(db, s, "cannot read parties");
        sqlite3_reset(sel);
        for (size_t i = 0; rc == 0 && i < n; i++) {
            struct prow *r = &chunk[i];
            sqlite3_bind_int64(upd, 1, r->gid);
            bind_blind(upd, 2, to, TB__C2_AD_CERT, r->cert);
            bind_blind(upd, 4, to, TB__C2_AD_NAME, r->name);
            bind_blind(upd, 5, to, TB__C2_AD_MOBILE, r->mobile);
            if (bind_seal(upd, 3, to, TB__C2_AD_CERT, r->cert, &b1) ||
                bind_seal(upd, 6, to, TB__C2_AD_ATTRS, r->attrs ? r->attrs : "", &b1))
                rc = tb__seterr(tb__db_err(db), TB_ENOMEM, "out of memory");
            if (!rc) rc = step_done(db, upd, "cannot re-encrypt a party");
            if (!rc) (*rows)++;
        }
        for (size_t i = 0; i < n; i++)
            prow_wipe(&chunk[i]);
        if (n < CHUNK) break;
    }
    if (b1.data) sodium_memzero(b1.data, b1.cap);
    if (b2.data) sodium_memzero(b2.data, b2.cap);
    tb__buf_release(&b1);
    tb__buf_release(&b2);
    free(chunk);
    sqlite3_finalize(sel);
    sqlite3_finalize(upd);
    return rc;
}

static int rekey_history(tb_db *db, const tb__c2key *to, uint64_t *rows)
{
    sqlite3_stmt *sel, *upd;
    int rc = prep(db,
                  "SELECT id, old_value, new_value FROM party_history WHERE id > ?1 ORDER BY id "
                  "LIMIT ?2",
                  &sel);
    if (rc) return rc;
    rc = prep(db, "UPDATE party_history SET old_value = ?2, new_value = ?3 WHERE id = ?1", &upd);
    if (rc) {
        sqlite3_finalize(sel);
        return rc;
    }
    struct prow *chunk = calloc(CHUNK, sizeof *chunk); /* cert = old, attrs = new */
    tb__buf b1 = TB__BUF_INIT;
    if (!chunk) rc = tb__seterr(tb__db_err(db), TB_ENOMEM, "out of memory");
    int64_t last = -1;
    while (rc == 0) {
        size_t n = 0;
        sqlite3_bind_int64(sel, 1, last);
        sqlite3_bind_int(sel, 2, CHUNK);
        int s = SQLITE_DONE;
        while (rc == 0 && (s = sqlite3_step(sel)) == SQLITE_ROW) {
            struct prow *r = &chunk[n++];
            r->gid = last = sqlite3_column_int64(sel, 0);
            const char *v;
            rc = tb__c2_reveal(db, TB__C2_AD_HISTORY, (const char *)sqlite3_column_text(sel, 1),
                               &b1, &v);
            if (!rc && v && !(r->cert = strdup(v))) rc = TB_ENOMEM;
            if (!rc)
                rc = tb__c2_reveal(db, TB__C2_AD_HISTORY, (const char *)sqlite3_column_text(sel, 2),
                                   &b1, &v);
            if (!rc && v && !(r->attrs = strdup(v))) rc = TB_ENOMEM;
        }
        if (rc == TB_ENOMEM) tb__seterr(tb__db_err(db), rc, "out of memory");
        if (!rc && s != SQLITE_ROW && s != SQLITE_DONE)
            rc = tb__meta_seterr_sqlite(db, s, "cannot read party history");
        sqlite3_reset(sel);
        for (size_t i = 0; rc == 0 && i < n; i++) {
            sqlite3_bind_int64(upd, 1, chunk[i].gid);
            if (bind_seal(upd, 2, to, TB__C2_AD_HISTORY, chunk[i].cert, &b1) ||
                bind_seal(upd, 3, to, TB__C2_AD_HISTORY, chunk[i].attrs, &b1))
                rc = tb__seterr(tb__db_err(db), TB_ENOMEM, "out of memory");
            if (!rc) rc = step_done(db, upd, "cannot re-encrypt party history");
            if (!rc) (*rows)++;
        }
        for (size_t i = 0; i < n; i++)
            prow_wipe(&chunk[i]);
        if (n < CHUNK) break;
    }
    if (b1.data) sodium_memzero(b1.data, b1.cap);
    tb__buf_release(&b1);
    free(chunk);
    sqlite3_finalize(sel);
    sqlite3_finalize(upd);
    return rc;
}

/* Legal representatives: the target (part of the primary key) becomes the new blind index, the
 * name is sealed in target_enc. Read all first (a company has one), then rewrite. */
static int rekey_relations(tb_db *db, const tb__c2key *to, uint64_t *rows)
{
    int on = tb__c2_on(db);
    sqlite3_stmt *sel, *upd;
    int rc = prep(db,
                  "SELECT gid, target, target_enc FROM party_relation WHERE rel_type = "
                  "'legal_rep'",
                  &sel);
    if (rc) return rc;
    rc = prep(db,
              "UPDATE party_relation SET target = ?3, target_enc = ?4 WHERE gid = ?1 AND "
              "rel_type = 'legal_rep' AND target = ?2",
              &upd);
    if (rc) {
        sqlite3_finalize(sel);
        return rc;
    }
    struct prow *all = NULL; /* cert = stored target, name = clear name */
    size_t n = 0, cap = 0;
    tb__buf b1 = TB__BUF_INIT;
    int s = SQLITE_DONE;
    while (rc == 0 && (s = sqlite3_step(sel)) == SQLITE_ROW) {
        if (n == cap) {
            size_t c = cap ? cap * 2 : 256;
            struct prow *p = realloc(all, c * sizeof *p);
            if (!p) {
                rc = tb__seterr(tb__db_err(db), TB_ENOMEM, "out of memory");
                break;
            }
            all = p;
            cap = c;
        }
        struct prow *r = &all[n++];
        memset(r, 0, sizeof *r);
        r->gid = sqlite3_column_int64(sel, 0);
        const char *stored = (const char *)sqlite3_column_text(sel, 1), *clear = stored;
        if (on)
            rc = tb__c2_reveal(db, TB__C2_AD_LEGAL, (const char *)sqlite3_column_text(sel, 2), &b1,
                               &clear);
        if (rc) break;
        r->cert = dup_or_null(stored);
        r->name = dup_or_null(clear);
        if (!r->cert || !r->name) rc = tb__seterr(tb__db_err(db), TB_ENOMEM, "out of memory");
    }
    if (!rc && s != SQLITE_DONE) rc = tb__meta_seterr_sqlite(db, s, "cannot read relations");
    sqlite3_reset(sel);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        sqlite3_bind_int64(upd, 1, all[i].gid);
        sqlite3_bind_text(upd, 2, all[i].cert, -1, SQLITE_STATIC);
        bind_blind(upd, 3, to, TB__C2_AD_LEGAL, all[i].name);
        if (bind_seal(upd, 4, to, TB__C2_AD_LEGAL, all[i].name, &b1))
            rc = tb__seterr(tb__db_err(db), TB_ENOMEM, "out of memory");
        if (!rc) rc = step_done(db, upd, "cannot re-encrypt a relation");
        if (!rc) (*rows)++;
    }
    for (size_t i = 0; i < n; i++)
        prow_wipe(&all[i]);
    free(all);
    if (b1.data) sodium_memzero(b1.data, b1.cap);
    tb__buf_release(&b1);
    sqlite3_finalize(sel);
    sqlite3_finalize(upd);
    return rc;
}

static int run_sql(tb_db *db, const char *sql, const char *what)
{
    sqlite3_stmt *st;
    int rc = prep(db, sql, &st);
    if (rc) return rc;
    int s = SQLITE_DONE;
    while ((s = sqlite3_step(st)) == SQLITE_ROW) {
    }
    rc = s == SQLITE_DONE ? 0 : tb__meta_seterr_sqlite(db, s, what);
    sqlite3_finalize(st);
    return rc;
}

int tb__md_c2_rekey(tb_db *db, const tb__c2key *to, uint64_t *rows)
{
    uint64_t n = 0;
    if (rows) *rows = 0;
    int rc = tb__meta_begin(db);
    if (rc) return rc;
    rc = rekey_parties(db, to, &n);
    if (!rc) rc = rekey_history(db, to, &n);
    if (!rc) rc = rekey_relations(db, to, &n);
    if (!rc) rc = tb__c2_record_key(db, to);
    /* The look-up image holds the columns as stored (blind indexes under the old key, or values
     * in clear): stale now. The next look-up rebuilds it from the rewritten rows. */
    if (!rc) rc = tb__mdx_drop(db);
    if (rc) {
        tb__meta_rollback(db);
        return rc;
    }
    rc = tb__meta_commit(db);
    if (rc) return rc;
    tb__c2_activate(db, to);
    if (rows) *rows = n;
    /* The image of the columns as they are now; the old one (values in clear, or blind indexes
     * under the old key) is removed with it. */
    if (tb__mdx_rebuild(db) != 0) {
        tb__log_warn("identity", "cannot rebuild the look-up image (%s): on first use",
                     tb_errmsg(db));
        tb__clearerr(tb__db_err(db));
    }
    tb__mdx_prune(db); /* also when the rebuild failed: no image then, none kept */
    /* The old bytes (clear values, or values under the retired key) stay in free pages and the
     * WAL until overwritten: VACUUM rewrites the file, the checkpoint empties the log. */
    rc = run_sql(db, "VACUUM", "cannot vacuum the meta store");
    if (!rc)
        rc = run_sql(db, "PRAGMA wal_checkpoint(TRUNCATE)", "cannot checkpoint the meta store");
    return rc;
}
