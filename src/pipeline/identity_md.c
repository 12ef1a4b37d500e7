/* identity_md.c — master data on the persisted id map: search before create, the masked golden
 * record view, and audited merges and unmerges of golden records (identity.h). */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/clock.h"
#include "common/err.h"
#include "common/log.h"
#include "common/mask.h"
#include "common/utf8.h"
#include "pipeline/identity.h"
#include "store/crypt.h"
#include "store/mdx.h"
#include "store/meta.h"

/* The rows of party_key whose key is ?1, in any source system, selecting `cols` of them (as
 * k.*): the primary key (system, key) probed once per system, the systems found by seeks along
 * it (migration 11 dropped the index on key alone). */
#define KEY_ANY_SYSTEM(cols)                                                                       \
    "WITH RECURSIVE sys(s) AS (SELECT min(system) FROM party_key UNION ALL "                       \
    "SELECT (SELECT min(system) FROM party_key WHERE system > s) FROM sys WHERE s IS NOT NULL) "   \
    "SELECT " cols " FROM sys JOIN party_key k ON k.system = sys.s AND k.key = ?1"

#define FIND_DEFAULT_LIMIT 20
#define VIEW_HISTORY_MAX   50
#define ADDRESS_SHOWN      6 /* characters of an address shown: enough for the district */

char *tb__mask_field(int field, const char *v, char *out, size_t cap)
{
    if (cap == 0) return out;
    out[0] = '\0';
    if (!v) return out;
    size_t len = strlen(v);
    switch (field) {
    case TB__F_NAME:
        return tb__mask_name(v, len, out, cap);
    case TB__F_MOBILE:
        return tb__mask_mobile(v, len, out, cap);
    case TB__F_BIRTH_DATE:
        /* The year alone is what segments use (age bands); the day identifies. */
        snprintf(out, cap, "%.4s-**-**", v);
        return out;
    case TB__F_ADDRESS: {
        size_t at = 0;
        for (int c = 0; c < ADDRESS_SHOWN && at < len; c++) {
            size_t n = tb__utf8_char((const unsigned char *)v + at, len - at);
            at += n ? n : 1;
        }
        snprintf(out, cap, "%.*s****", (int)at, v);
        return out;
    }
    default:
        snprintf(out, cap, "%s", v);
        return out;
    }
}

/* Copies field `f` of an attrs string (identity.c's format) into out; 1 when present. */
static int attrs_field(const char *a, int f, char *out, size_t cap)
{
    tb__attr_field fs[TB__F_COUNT];
    out[0] = '\0';
    (void)tb__attrs_split(a, a ? strlen(a) : 0, fs); /* what parsed is shown */
    if (!fs[f].value) return 0;
    snprintf(out, cap, "%.*s", (int)fs[f].value_len, fs[f].value);
    return 1;
}

/* The party row with its C2 columns readable: cert_enc instead of cert_no when encrypted. */
static int party_stmt(tb_db *db, sqlite3_stmt **st)
{
    if (tb__c2_on(db))
        return tb__meta_stmt(
            db, TB__STMT_ID_VIEW_PARTY_C2,
            "SELECT kind, cert_type, cert_enc, cust_type, name, mobile, "
            "merged_into, attrs, first_batch, last_batch FROM party WHERE gid = ?1",
            st);
    return tb__meta_stmt(db, TB__STMT_ID_VIEW_PARTY,
                         "SELECT kind, cert_type, cert_no, cust_type, name, mobile, merged_into, "
                         "attrs, first_batch, last_batch FROM party WHERE gid = ?1",
                         st);
}

int tb__party_pii_get(tb_db *db, uint32_t gid, tb__party_pii *out)
{
    memset(out, 0, sizeof *out);
    sqlite3_stmt *st;
    int rc = party_stmt(db, &st);
    if (rc) return rc;
    sqlite3_bind_int64(st, 1, gid);
    tb__buf cb = TB__BUF_INIT, ab = TB__BUF_INIT;
    int s = sqlite3_step(st);
    if (s == SQLITE_ROW) {
        out->found = 1;
        const char *k = (const char *)sqlite3_column_text(st, 0), *cert, *attrs;
        snprintf(out->kind, sizeof out->kind, "%s", k ? k : "");
        k = (const char *)sqlite3_column_text(st, 3);
        snprintf(out->cust_type, sizeof out->cust_type, "%s", k ? k : "");
        rc =
            tb__c2_reveal(db, TB__C2_AD_CERT, (const char *)sqlite3_column_text(st, 2), &cb, &cert);
        if (!rc)
            rc = tb__c2_reveal(db, TB__C2_AD_ATTRS, (const char *)sqlite3_column_text(st, 7), &ab,
                               &attrs);
        if (!rc) {
            if ((out->has_cert = cert != NULL))
                snprintf(out->cert_no, sizeof out->cert_no, "%s", cert);
            if (tb__c2_on(db)) {
                /* the name and mobile columns hold blind indexes: the values are in attrs */
                out->has_name = attrs_field(attrs, TB__F_NAME, out->name, sizeof out->name);
                out->has_mobile = attrs_field(attrs, TB__F_MOBILE, out->mobile, sizeof out->mobile);
            } else {
                const char *v = (const char *)sqlite3_column_text(st, 4);
                if ((out->has_name = v != NULL)) snprintf(out->name, sizeof out->name, "%s", v);
                v = (const char *)sqlite3_column_text(st, 5);
                if ((out->has_mobile = v != NULL))
                    snprintf(out->mobile, sizeof out->mobile, "%s", v);
            }
        }
    } else if (s != SQLITE_DONE) {
        rc = tb__meta_seterr_sqlite(db, s, "cannot read a party");
    }
    tb__meta_stmt_done(st);
    if (cb.data) sodium_memzero(cb.data, cb.cap);
    if (ab.data) sodium_memzero(ab.data, ab.cap);
    tb__buf_release(&cb);
    tb__buf_release(&ab);
    return rc;
}

/* Follows merged_into to the live golden record. */
static int live_gid(tb_db *db, uint32_t gid, uint32_t *out)
{
    sqlite3_stmt *st;
    int rc =
        tb__meta_stmt(db, TB__STMT_ID_ROOT,
                      "SELECT merged_into, erased_at IS NOT NULL FROM party WHERE gid = ?1", &st);
    if (rc) return rc;
    for (int hop = 0; hop < 64; hop++) {
        sqlite3_bind_int64(st, 1, gid);
        int s = sqlite3_step(st);
        if (s == SQLITE_DONE) {
            tb__meta_stmt_done(st);
            return TB_ENOENT;
        }
        if (s != SQLITE_ROW) {
            rc = tb__meta_seterr_sqlite(db, s, "cannot read a party");
            tb__meta_stmt_done(st);
            return rc;
        }
        int merged = sqlite3_column_type(st, 0) != SQLITE_NULL;
        uint32_t next = (uint32_t)sqlite3_column_int64(st, 0);
        int erased = sqlite3_column_int(st, 1);
        tb__meta_stmt_done(st);
        if (erased) return TB_ENOENT; /* a tombstone: nobody any more */
        if (!merged) {
            *out = gid;
            return 0;
        }
        gid = next;
    }
    return tb__seterr(tb__db_err(db), TB_ECORRUPT, "merge chain of party %u is a cycle", gid);
}

/* ---------------------------------------------------------------------------------------------
 * The look-up image (store/mdx.h): candidates from the image, checked against their rows
 */

/* The handle's look-up image: the current one, or rebuilt from the rows when the store has none. */
static int md_image(tb_db *db, const tb__mdx **out)
{
    int rc = tb__mdx_current(db, out);
    if (rc != TB_ENOENT && rc != TB_ECORRUPT) return rc;
    rc = tb__mdx_rebuild(db);
    if (!rc) rc = tb__mdx_current(db, out);
    /* never "not found" from here: the callers read that as "no such customer" */
    if (rc == TB_ENOENT)
        rc = tb__seterr(tb__db_err(db), TB_ESTORE, "the master-data look-up image is unusable");
    return rc;
}

/* What a C2 column holds for `text`: its blind index when the store is encrypted. */
static const char *stored_text(tb_db *db, const char *ad, const char *text,
                               char blind[TB__C2_BLIND_LEN])
{
    if (!tb__c2_on(db)) return text;
    tb__c2_blind_with(tb__c2_active(db), ad, text, strlen(text), blind);
    return blind;
}

/* A candidate's row: found, a company, merged away, erased, and whether column `f` (cert_no,
 * mobile or name as stored) equals the n bytes at v (prefix: starts with them and is longer). */
struct prow {
    int found, company, merged, erased, match;
};

static int party_row(tb_db *db, uint32_t gid, tb__mdx_field f, const char *v, size_t n, int prefix,
                     struct prow *r)
{
    memset(r, 0, sizeof *r);
    sqlite3_stmt *st;
    int rc = tb__meta_stmt(db, TB__STMT_ID_MD_VERIFY,
                           "SELECT kind, cert_no, mobile, name, merged_into IS NOT NULL, "
                           "erased_at IS NOT NULL FROM party WHERE gid = ?1",
                           &st);
    if (rc) return rc;
    sqlite3_bind_int64(st, 1, gid);
    int s = sqlite3_step(st);
    if (s == SQLITE_ROW) {
        r->found = 1;
        const char *k = (const char *)sqlite3_column_text(st, 0);
        r->company = k && strcmp(k, "company") == 0;
        const char *c = (const char *)sqlite3_column_text(st, 1 + (int)f);
        size_t cn = (size_t)sqlite3_column_bytes(st, 1 + (int)f);
        r->match = c && (prefix ? cn > n : cn == n) && memcmp(c, v, n) == 0;
        r->merged = sqlite3_column_int(st, 4);
        r->erased = sqlite3_column_int(st, 5);
    } else if (s != SQLITE_DONE) {
        rc = tb__meta_seterr_sqlite(db, s, "cannot read a party");
    }
    tb__meta_stmt_done(st);
    return rc;
}

/* The image's candidates for field f = v: every one of them (*cand: `stack` when they fit, else
 * malloc'd: caller frees when *cand != stack), *n of them. */
static int candidates(tb_db *db, const tb__mdx *m, tb__mdx_field f, const char *v, uint32_t *stack,
                      size_t cap, uint32_t **cand, size_t *n)
{
    *cand = stack;
    int rc = tb__mdx_lookup(m, f, v, strlen(v), stack, cap, n, tb__db_err(db));
    if (rc || *n <= cap) return rc;
    uint32_t *all = malloc(*n * sizeof *all);
    if (!all) return tb__seterr(tb__db_err(db), TB_ENOMEM, "out of memory");
    size_t again;
    rc = tb__mdx_lookup(m, f, v, strlen(v), all, *n, &again, tb__db_err(db));
    if (rc) {
        free(all);
        return rc;
    }
    *cand = all;
    return 0;
}

/* The gids whose column `f` holds `text` (as the store keeps it), at most cap, with whether each
 * is a company; merged-away records only `with_merged`. Every candidate is checked, so a value
 * that many stale or merged records share still finds the live ones. */
static int find_by(tb_db *db, tb__mdx_field f, const char *text, int with_merged, uint32_t *gids,
                   int *company, size_t cap, size_t *n)
{
    static const char *const ad[] = {TB__C2_AD_CERT, TB__C2_AD_MOBILE, TB__C2_AD_NAME};
    *n = 0;
    const tb__mdx *m;
    int rc = md_image(db, &m);
    if (rc) return rc;
    char blind[TB__C2_BLIND_LEN];
    const char *v = stored_text(db, ad[f], text, blind);
    uint32_t stack[256], *cand;
    size_t found;
    rc = candidates(db, m, f, v, stack, 256, &cand, &found);
    for (size_t i = 0; rc == 0 && i < found && *n < cap; i++) {
        struct prow r;
        if ((rc = party_row(db, cand[i], f, v, strlen(v), 0, &r)) != 0) break;
        if (!r.found || !r.match || (r.merged && !with_merged)) continue;
        gids[*n] = cand[i];
        if (company) company[*n] = r.company;
        ++*n;
    }
    if (cand != stack) free(cand);
    return rc;
}

/* Keys to check for gid: what the image lists, and every key a merge or unmerge since may have
 * moved to it (merge_key names them all). */
struct cand {
    tb__md_key *k;
    size_t n, cap;
};

static int cand_add(tb_db *db, struct cand *c, const char *system, size_t slen, const char *key,
                    size_t klen)
{
    if (slen >= sizeof c->k->system)
        return tb__seterr(tb__db_err(db), TB_ECORRUPT, "a system name of %zu bytes", slen);
    for (size_t i = 0; i < c->n; i++)
        if (strncmp(c->k[i].system, system, slen) == 0 && !c->k[i].system[slen] &&
            strncmp(c->k[i].key, key, klen) == 0 && !c->k[i].key[klen])
            return 0;
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 8;
        tb__md_key *p = realloc(c->k, cap * sizeof *p);
        if (!p) return tb__seterr(tb__db_err(db), TB_ENOMEM, "out of memory");
        c->k = p;
        c->cap = cap;
    }
    tb__md_key *k = &c->k[c->n];
    memset(k, 0, sizeof *k);
    memcpy(k->system, system, slen);
    if (!(k->key = strndup(key, klen)))
        return tb__seterr(tb__db_err(db), TB_ENOMEM, "out of memory");
    c->n++;
    return 0;
}

static int key_order(const void *a, const void *b)
{
    const tb__md_key *x = a, *y = b;
    int xc = strcmp(x->system, "core") != 0, yc = strcmp(y->system, "core") != 0;
    if (xc != yc) return xc - yc;
    int d = strcmp(x->system, y->system);
    return d ? d : strcmp(x->key, y->key);
}

int tb__md_keys_of(tb_db *db, uint32_t gid, tb__md_key **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    const tb__mdx *m;
    int rc = md_image(db, &m);
    if (rc) return rc;
    struct cand c = {0};
    tb__mdx_key ik[64];
    size_t nk;
    rc = tb__mdx_keys(m, gid, ik, 64, &nk, tb__db_err(db));
    if (!rc && nk > 64) {
        tb__mdx_key *big = malloc(nk * sizeof *big);
        size_t again;
        rc = big ? tb__mdx_keys(m, gid, big, nk, &again, tb__db_err(db))
                 : tb__seterr(tb__db_err(db), TB_ENOMEM, "out of memory");
        for (size_t i = 0; rc == 0 && i < nk; i++)
            rc = cand_add(db, &c, big[i].system, strlen(big[i].system), big[i].key, big[i].len);
        free(big);
    } else {
        for (size_t i = 0; rc == 0 && i < nk; i++)
            rc = cand_add(db, &c, ik[i].system, strlen(ik[i].system), ik[i].key, ik[i].len);
    }
    sqlite3_stmt *st;
    if (!rc)
        rc = tb__meta_stmt(db, TB__STMT_ID_MERGE_KEYS_OF,
                           "SELECT system, key FROM merge_key WHERE merge_id IN (SELECT merge_id "
                           "FROM merge_log WHERE gid_from = ?1 OR gid_into = ?1)",
                           &st);
    if (!rc) {
        sqlite3_bind_int64(st, 1, gid);
        int s;
        while (rc == 0 && (s = sqlite3_step(st)) == SQLITE_ROW)
            rc = cand_add(db, &c, (const char *)sqlite3_column_text(st, 0),
                          (size_t)sqlite3_column_bytes(st, 0),
                          (const char *)sqlite3_column_text(st, 1),
                          (size_t)sqlite3_column_bytes(st, 1));
        if (!rc && s != SQLITE_DONE) rc = tb__meta_seterr_sqlite(db, s, "cannot read merged keys");
        tb__meta_stmt_done(st);
    }
    /* Keep the candidates the key table gives to gid now. */
    if (!rc)
        rc = tb__meta_stmt(db, TB__STMT_ID_KEY_VERIFY,
                           "SELECT gid, first_batch FROM party_key WHERE system = ?1 AND key = ?2",
                           &st);
    size_t kept = 0, i = 0;
    for (; rc == 0 && i < c.n; i++) {
        sqlite3_bind_text(st, 1, c.k[i].system, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, c.k[i].key, -1, SQLITE_STATIC);
        int s = sqlite3_step(st);
        int mine = s == SQLITE_ROW && (uint32_t)sqlite3_column_int64(st, 0) == gid;
        if (mine) {
            const char *fb = (const char *)sqlite3_column_text(st, 1);
            snprintf(c.k[i].first_batch, sizeof c.k[i].first_batch, "%s", fb ? fb : "");
        } else if (s != SQLITE_ROW && s != SQLITE_DONE) {
            rc = tb__meta_seterr_sqlite(db, s, "cannot look up a key");
        }
        tb__meta_stmt_done(st);
        if (mine)
            c.k[kept++] = c.k[i];
        else
            free(c.k[i].key); /* not gid's key (any more) */
    }
    if (rc) {
        for (; i < c.n; i++)
            free(c.k[i].key);
        tb__md_keys_free(c.k, kept);
        return rc;
    }
    if (kept) qsort(c.k, kept, sizeof *c.k, key_order);
    if (!kept) {
        free(c.k);
        c.k = NULL;
    }
    *out = c.k;
    *n = kept;
    return 0;
}

void tb__md_keys_free(tb__md_key *k, size_t n)
{
    for (size_t i = 0; k && i < n; i++)
        free(k[i].key);
    free(k);
}

int tb__md_name_in_use(tb_db *db, const char *name, int *yes)
{
    *yes = 0;
    const tb__mdx *m;
    int rc = md_image(db, &m);
    if (rc) return rc;
    char blind[TB__C2_BLIND_LEN];
    const char *v = stored_text(db, TB__C2_AD_NAME, name, blind);
    uint32_t stack[256], *cand;
    size_t found;
    rc = candidates(db, m, TB__MDX_NAME, v, stack, 256, &cand, &found);
    for (size_t i = 0; rc == 0 && i < found && !*yes; i++) {
        struct prow r;
        rc = party_row(db, cand[i], TB__MDX_NAME, v, strlen(v), 0, &r);
        *yes = !rc && r.found && !r.erased && r.match;
    }
    if (cand != stack) free(cand);
    return rc;
}

struct found {
    tb__candidate *c;
    size_t n, cap;
};

static int add_reason(tb_db *db, struct found *f, uint32_t gid, const char *reason, int score)
{
    uint32_t live;
    int rc = live_gid(db, gid, &live);
    if (rc == TB_ENOENT) return 0;
    if (rc) return rc;
    tb__candidate *c = NULL;
    for (size_t i = 0; i < f->n; i++)
        if (f->c[i].gid == live) c = &f->c[i];
    if (!c) {
        if (f->n == f->cap) {
            size_t cap = f->cap ? f->cap * 2 : 16;
            tb__candidate *p = realloc(f->c, cap * sizeof *p);
            if (!p) return tb__seterr(tb__db_err(db), TB_ENOMEM, "out of memory finding customers");
            f->c = p;
            f->cap = cap;
        }
        c = &f->c[f->n++];
        memset(c, 0, sizeof *c);
        c->gid = live;
    }
    if (strstr(c->reasons, reason)) return 0;
    size_t at = strlen(c->reasons);
    snprintf(c->reasons + at, sizeof c->reasons - at, "%s%s", at ? ", " : "", reason);
    c->score += score;
    return 0;
}

/* Runs one search statement whose column 0 is a gid, adding `reason` to each hit. A person's
 * and a company's certificate read differently to a steward, hence the two reasons. */
static int run_search(tb_db *db, struct found *f, sqlite3_stmt *st, const char *reason,
                      const char *company_reason, int score)
{
    int s, rc = 0;
    /* Collect first: add_reason runs another cached statement, and SQLite allows that, but
     * keeping one statement active at a time keeps the read transaction short and simple. */
    uint32_t hits[256];
    int company[256];
    size_t n = 0;
    while (n < 256 && (s = sqlite3_step(st)) == SQLITE_ROW) {
        hits[n] = (uint32_t)sqlite3_column_int64(st, 0);
        const char *k = (const char *)sqlite3_column_text(st, 1);
        company[n++] = k && strcmp(k, "company") == 0;
    }
    if (n < 256 && s != SQLITE_DONE) rc = tb__meta_seterr_sqlite(db, s, "cannot search parties");
    tb__meta_stmt_done(st);
    for (size_t i = 0; rc == 0 && i < n; i++)
        rc = add_reason(db, f, hits[i], company[i] && company_reason ? company_reason : reason,
                        score);
    return rc;
}

static int by_score(const void *a, const void *b)
{
    const tb__candidate *x = a, *y = b;
    if (x->score != y->score) return y->score - x->score;
    return x->gid < y->gid ? -1 : x->gid > y->gid;
}

static int fill_candidate(tb_db *db, tb__candidate *c)
{
    tb__party_pii p;
    int rc = tb__party_pii_get(db, c->gid, &p);
    if (rc == 0 && p.found) {
        c->kind = strcmp(p.kind, "company") == 0 ? TB__PARTY_COMPANY : TB__PARTY_PERSON;
        if (p.has_cert) tb__mask_id(p.cert_no, strlen(p.cert_no), c->cert, sizeof c->cert);
        snprintf(c->cust_type, sizeof c->cust_type, "%.7s", p.cust_type);
        tb__mask_field(TB__F_NAME, p.has_name ? p.name : NULL, c->name, sizeof c->name);
        tb__mask_field(TB__F_MOBILE, p.has_mobile ? p.mobile : NULL, c->mobile, sizeof c->mobile);
    }
    sodium_memzero(&p, sizeof p);
    return rc;
}

int tb__customer_find(tb_db *db, const char *query, size_t limit, tb__candidate **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    if (!query || !*query) return tb__seterr(tb__db_err(db), TB_EINVAL, "empty search query");
    if (limit == 0) limit = FIND_DEFAULT_LIMIT;
    struct found f = {0};
    sqlite3_stmt *st;
    /* Exact matches, strongest reason first: the customer number by the key table's primary key,
     * the rest by the look-up image. */
    static const struct {
        int field; /* tb__mdx_field, or -1 for the customer number */
        const char *reason, *company_reason;
        int score;
    } exact[] = {
        {TB__MDX_CERT, "same ID number", "same credit code", 100},
        {-1, "same customer number", NULL, 100},
        {TB__MDX_MOBILE, "same mobile", NULL, 60},
        {TB__MDX_NAME, "same name", NULL, 40},
    };
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < sizeof exact / sizeof exact[0]; i++) {
        if (exact[i].field < 0) {
            rc = tb__meta_stmt(db, TB__STMT_ID_FIND_KEY, KEY_ANY_SYSTEM("k.gid, NULL") " LIMIT 256",
                               &st);
            if (rc) break;
            sqlite3_bind_text(st, 1, query, -1, SQLITE_STATIC);
            rc = run_search(db, &f, st, exact[i].reason, NULL, exact[i].score);
            continue;
        }
        uint32_t gids[256];
        int company[256];
        size_t hits;
        rc = find_by(db, (tb__mdx_field)exact[i].field, query, 1, gids, company, 256, &hits);
        for (size_t k = 0; rc == 0 && k < hits; k++)
            rc = add_reason(db, &f, gids[k],
                            company[k] && exact[i].company_reason ? exact[i].company_reason
                                                                  : exact[i].reason,
                            exact[i].score);
    }
    if (rc) goto out;
    /* Names that start with the query, in name order. A blind index has no order: an encrypted
     * store finds names by exact match only. */
    if (!tb__c2_on(db)) {
        const tb__mdx *m;
        uint32_t gids[256];
        size_t hits = 0;
        rc = md_image(db, &m);
        if (!rc)
            rc = tb__mdx_prefix(m, query, strlen(query), gids, limit < 256 ? limit : 256, &hits,
                                tb__db_err(db));
        size_t qn = strlen(query);
        for (size_t k = 0; rc == 0 && k < hits; k++) {
            struct prow r;
            if ((rc = party_row(db, gids[k], TB__MDX_NAME, query, qn, 1, &r)) != 0) break;
            if (r.found && r.match) rc = add_reason(db, &f, gids[k], "name starts with query", 20);
        }
        if (rc) goto out;
    }
    if (f.n) qsort(f.c, f.n, sizeof *f.c, by_score);
    if (f.n > limit) f.n = limit;
    for (size_t i = 0; rc == 0 && i < f.n; i++)
        rc = fill_candidate(db, &f.c[i]);
    if (rc) goto out;
    *out = f.c;
    *n = f.n;
    return 0;
out:
    free(f.c);
    return rc;
}

void tb__customer_candidates_free(tb__candidate *c)
{
    free(c);
}

int tb__customer_resolve(tb_db *db, const char *text, uint32_t *gid)
{
    *gid = TB__GID_NONE;
    if (!text || !*text) return TB_EINVAL;
    sqlite3_stmt *st;
    int rc = tb__meta_stmt(db, TB__STMT_ID_KEY_GID,
                           KEY_ANY_SYSTEM("k.gid") " ORDER BY k.system <> 'core', k.system "
                                                   "LIMIT 1",
                           &st);
    if (rc) return rc;
    sqlite3_bind_text(st, 1, text, -1, SQLITE_STATIC);
    int s = sqlite3_step(st);
    if (s == SQLITE_ROW)
        *gid = (uint32_t)sqlite3_column_int64(st, 0);
    else if (s != SQLITE_DONE)
        rc = tb__meta_seterr_sqlite(db, s, "cannot look up a key");
    tb__meta_stmt_done(st);
    if (rc || *gid != TB__GID_NONE) return rc;
    /* Customer numbers are digits too, so a key match is tried first; the gid comes second. */
    char *end;
    unsigned long long v = strtoull(text, &end, 10);
    if (*end || text[0] < '0' || text[0] > '9' || v >= TB__GID_NONE) return TB_ENOENT;
    uint32_t live;
    rc = live_gid(db, (uint32_t)v, &live);
    if (rc) return rc;
    *gid = (uint32_t)v; /* the record asked for, even if merged away: show says where it went */
    return 0;
}

/* One live golden record whose field `f` (certificate or mobile) is text: 0 and *gid, TB_ENOENT
 * when none, TB_EINVAL (detail on the handle) when several share it. */
static int unique_by(tb_db *db, tb__mdx_field f, const char *text, uint32_t *gid)
{
    uint32_t gids[256];
    size_t n;
    int rc = find_by(db, f, text, 0, gids, NULL, 256, &n);
    if (rc) return rc;
    if (n == 0) return TB_ENOENT;
    if (n > 1) {
        char masked[64];
        return tb__seterr(tb__db_err(db), TB_EINVAL,
                          "'%s' belongs to %zu customers: use the customer number",
                          tb__mask_keep(text, strlen(text), 3, 2, masked, sizeof masked), n);
    }
    *gid = gids[0];
    return 0;
}

int tb__customer_resolve_any(tb_db *db, const char *text, uint32_t *gid)
{
    int rc = tb__customer_resolve(db, text, gid);
    if (rc != TB_ENOENT) return rc;
    rc = unique_by(db, TB__MDX_CERT, text, gid);
    if (rc != TB_ENOENT) return rc;
    return unique_by(db, TB__MDX_MOBILE, text, gid);
}

int tb__customer_key_of(tb_db *db, uint32_t gid, char *out, size_t cap)
{
    tb__md_key *k;
    size_t n;
    int rc = tb__md_keys_of(db, gid, &k, &n);
    if (rc) return rc;
    if (n) snprintf(out, cap, "%s", k[0].key);
    tb__md_keys_free(k, n);
    return n ? 0 : TB_ENOENT;
}

static json_t *jstr(const char *s)
{
    return s ? json_string(s) : json_null();
}

/* Set for the duration of a view asked unmasked (tb__customer_view_ex): the row renderers below
 * are plain callbacks, so the choice travels beside them, per thread. */
static _Thread_local int t_clear;
/* The handle of the view being rendered (for the C2 values its rows reveal), the first reveal
 * error, and the scratch buffers of a row. */
static _Thread_local tb_db *t_db;
static _Thread_local int t_rc;

/* A stored C2 value of a view row in clear into out (cap bytes); NULL when stored is NULL or it
 * cannot be opened (t_rc keeps the error). */
static const char *revealed(const char *ad, const char *stored, char *out, size_t cap)
{
    tb__buf b = TB__BUF_INIT;
    const char *v;
    int rc = tb__c2_reveal(t_db, ad, stored, &b, &v);
    if (rc && !t_rc) t_rc = rc;
    if (!rc && v) snprintf(out, cap, "%s", v);
    if (b.data) sodium_memzero(b.data, b.cap);
    tb__buf_release(&b);
    return rc || !v ? NULL : out;
}

/* A personal field as the view shows it: masked by its class, or as stored for callers with the
 * right to see it. */
static const char *shown(int field, const char *v, char *out, size_t cap)
{
    if (t_clear) {
        snprintf(out, cap, "%s", v ? v : "");
        return out;
    }
    return tb__mask_field(field, v, out, cap);
}

/* Decodes the attrs column (see identity.c) into masked {field: {value, source, as_of}}. */
static json_t *attrs_json(const char *a)
{
    json_t *o = json_object();
    if (!o || !a) return o;
    tb__attr_field fs[TB__F_COUNT];
    (void)tb__attrs_split(a, strlen(a), fs); /* what parsed is shown */
    for (int f = 0; f < TB__F_COUNT; f++) {
        if (!fs[f].value || !fs[f].system) continue;
        char val[512], sys[40], m[512], d[16];
        snprintf(val, sizeof val, "%.*s", (int)fs[f].value_len, fs[f].value);
        snprintf(sys, sizeof sys, "%.*s", (int)fs[f].system_len, fs[f].system);
        json_object_set_new(o, tb__field_name(f),
                            json_pack("{s:s, s:s, s:s}", "value", shown(f, val, m, sizeof m),
                                      "source", sys, "as_of", tb__date_text(fs[f].as_of, d)));
    }
    return o;
}

/* Appends one JSON object per row of `st`, built by `row`; the statement is reset after. */
static int rows_json(tb_db *db, sqlite3_stmt *st, json_t *arr, json_t *(*row)(sqlite3_stmt *))
{
    int s, rc = 0;
    while ((s = sqlite3_step(st)) == SQLITE_ROW) {
        json_t *o = row(st);
        if (t_rc) { /* a C2 value did not open: the detail is on the handle */
            json_decref(o);
            rc = t_rc;
            break;
        }
        if (!o || json_array_append_new(arr, o)) {
            rc = tb__seterr(tb__db_err(db), TB_ENOMEM, "out of memory rendering a customer");
            break;
        }
    }
    if (!rc && s != SQLITE_DONE) rc = tb__meta_seterr_sqlite(db, s, "cannot read a customer");
    tb__meta_stmt_done(st);
    return rc;
}

static const char *col(sqlite3_stmt *st, int i)
{
    return (const char *)sqlite3_column_text(st, i);
}

static json_t *rel_row(sqlite3_stmt *st)
{
    char m[256], c[256];
    const char *type = col(st, 0), *target = col(st, 1);
    /* A legal representative is a person's name: masked like any name (sealed in target_enc,
     * column 5 of the encrypted query, when the store is encrypted). */
    if (type && strcmp(type, "legal_rep") == 0) {
        if (tb__c2_on(t_db) && col(st, 5))
            target = revealed(TB__C2_AD_LEGAL, col(st, 5), c, sizeof c);
        target = shown(TB__F_NAME, target, m, sizeof m);
    }
    json_t *tg = sqlite3_column_type(st, 2) == SQLITE_NULL
                     ? json_null()
                     : json_integer(sqlite3_column_int64(st, 2));
    return json_pack("{s:s, s:s, s:o, s:o, s:s}", "type", type, "target", target ? target : "",
                     "target_gid", tg, "role", jstr(col(st, 3)), "batch_date", col(st, 4));
}

static json_t *hist_row(sqlite3_stmt *st)
{
    int f = tb__field_by_name(col(st, 1) ? col(st, 1) : "");
    char a[512], b[512], ca[512], cb[512];
    const char *o = revealed(TB__C2_AD_HISTORY, col(st, 2), ca, sizeof ca);
    const char *n = revealed(TB__C2_AD_HISTORY, col(st, 3), cb, sizeof cb);
    json_t *j = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "batch_date", col(st, 0), "field",
                          col(st, 1), "old", shown(f, o, a, sizeof a), "new",
                          shown(f, n, b, sizeof b), "source", col(st, 4), "changed_at", col(st, 5));
    sodium_memzero(ca, sizeof ca);
    sodium_memzero(cb, sizeof cb);
    return j;
}

static json_t *confl_row(sqlite3_stmt *st)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "batch_date", col(st, 0), "field",
                     col(st, 1), "value_a", col(st, 2), "source_a", col(st, 3), "value_b",
                     col(st, 4), "source_b", col(st, 5), "chosen", col(st, 6));
}

int tb__customer_view(tb_db *db, uint32_t gid, json_t **out)
{
    *out = NULL;
    sqlite3_stmt *st;
    int rc = party_stmt(db, &st);
    if (rc) return rc;
    t_db = db;
    t_rc = 0;
    sqlite3_bind_int64(st, 1, gid);
    int s = sqlite3_step(st);
    if (s != SQLITE_ROW) {
        rc = s == SQLITE_DONE
                 ? tb__seterr(tb__db_err(db), TB_ENOENT, "no customer with gid %u", gid)
                 : tb__meta_seterr_sqlite(db, s, "cannot read a customer");
        tb__meta_stmt_done(st);
        return rc;
    }
    char cert[64] = "";
    tb__buf cb = TB__BUF_INIT, ab = TB__BUF_INIT;
    const char *cert_clear, *attrs;
    rc = tb__c2_reveal(db, TB__C2_AD_CERT, col(st, 2), &cb, &cert_clear);
    if (!rc) rc = tb__c2_reveal(db, TB__C2_AD_ATTRS, col(st, 7), &ab, &attrs);
    if (rc) {
        tb__meta_stmt_done(st);
        tb__buf_release(&cb);
        tb__buf_release(&ab);
        return rc;
    }
    if (cert_clear) {
        if (t_clear)
            snprintf(cert, sizeof cert, "%s", cert_clear);
        else
            tb__mask_id(cert_clear, strlen(cert_clear), cert, sizeof cert);
    }
    json_t *merged = sqlite3_column_type(st, 6) == SQLITE_NULL
                         ? json_null()
                         : json_integer(sqlite3_column_int64(st, 6));
    json_t *doc =
        json_pack("{s:I, s:s, s:o, s:o, s:o, s:o, s:o, s:s, s:s, s:[], s:[], s:[], s:[]}", "gid",
                  (json_int_t)gid, "kind", col(st, 0), "cert_type", jstr(col(st, 1)), "cert_no",
                  cert_clear ? json_string(cert) : json_null(), "cust_type", jstr(col(st, 3)),
                  "merged_into", merged, "attributes", attrs_json(attrs), "first_batch", col(st, 8),
                  "last_batch", col(st, 9), "keys", "relations", "history", "conflicts");
    tb__meta_stmt_done(st);
    if (cb.data) sodium_memzero(cb.data, cb.cap);
    if (ab.data) sodium_memzero(ab.data, ab.cap);
    tb__buf_release(&cb);
    tb__buf_release(&ab);
    if (!doc) return tb__seterr(tb__db_err(db), TB_ENOMEM, "out of memory rendering a customer");
    /* The lists of the view: one query each, rendered row by row. */
    static const struct {
        tb__stmt_id id;
        const char *key, *sql;
        json_t *(*row)(sqlite3_stmt *);
    } lists[] = {
        {TB__STMT_ID_VIEW_REL, "relations",
         "SELECT rel_type, target, target_gid, role, batch_date FROM party_relation WHERE "
         "gid = ?1 ORDER BY rel_type, target",
         rel_row},
        {TB__STMT_ID_VIEW_HIST, "history",
         "SELECT batch_date, field, old_value, new_value, source, changed_at FROM "
         "party_history WHERE gid = ?1 ORDER BY id DESC LIMIT 50",
         hist_row},
        {TB__STMT_ID_VIEW_CONFL, "conflicts",
         "SELECT batch_date, field, value_a, source_a, value_b, source_b, chosen FROM "
         "party_conflict WHERE gid = ?1 ORDER BY id DESC LIMIT 50",
         confl_row},
    };
    /* The keys: the look-up image's, checked against the key table. */
    tb__md_key *keys;
    size_t nk;
    rc = tb__md_keys_of(db, gid, &keys, &nk);
    for (size_t i = 0; rc == 0 && i < nk; i++) {
        json_t *k = json_pack("{s:s, s:s, s:s}", "system", keys[i].system, "key", keys[i].key,
                              "first_batch", keys[i].first_batch);
        if (!k || json_array_append_new(json_object_get(doc, "keys"), k))
            rc = tb__seterr(tb__db_err(db), TB_ENOMEM, "out of memory rendering a customer");
    }
    tb__md_keys_free(keys, nk);
    for (size_t i = 0; rc == 0 && i < sizeof lists / sizeof lists[0]; i++) {
        if (lists[i].id == TB__STMT_ID_VIEW_REL && tb__c2_on(db))
            rc = tb__meta_stmt(db, TB__STMT_ID_VIEW_REL_C2,
                               "SELECT rel_type, target, target_gid, role, batch_date, target_enc "
                               "FROM party_relation WHERE gid = ?1 ORDER BY rel_type, target",
                               &st);
        else
            rc = tb__meta_stmt(db, lists[i].id, lists[i].sql, &st);
        if (rc) break;
        sqlite3_bind_int64(st, 1, gid);
        rc = rows_json(db, st, json_object_get(doc, lists[i].key), lists[i].row);
    }
    if (rc) {
        json_decref(doc);
        return rc;
    }
    *out = doc;
    return 0;
}

/* Reads kind and merged state of `gid` for the merge checks. */
static int party_state(tb_db *db, uint32_t gid, char kind[16], int *merged)
{
    sqlite3_stmt *st;
    int rc = tb__meta_stmt(db, TB__STMT_ID_VIEW_PARTY,
                           "SELECT kind, cert_type, cert_no, cust_type, name, mobile, merged_into, "
                           "attrs, first_batch, last_batch FROM party WHERE gid = ?1",
                           &st);
    if (rc) return rc;
    sqlite3_bind_int64(st, 1, gid);
    int s = sqlite3_step(st);
    if (s == SQLITE_ROW) {
        snprintf(kind, 16, "%s", col(st, 0) ? col(st, 0) : "");
        *merged = sqlite3_column_type(st, 6) != SQLITE_NULL;
    } else {
        rc = s == SQLITE_DONE
                 ? tb__seterr(tb__db_err(db), TB_ENOENT, "no customer with gid %u", gid)
                 : tb__meta_seterr_sqlite(db, s, "cannot read a customer");
    }
    tb__meta_stmt_done(st);
    return rc;
}

static int log_action(tb_db *db, const char *action, uint32_t into, uint32_t from, const char *who,
                      const char *reason, int64_t *id)
{
    char now[TB__TIME_TEXT_LEN];
    sqlite3_stmt *st;
    int rc = tb__meta_stmt(db, TB__STMT_ID_MERGE_LOG,
                           "INSERT INTO merge_log (action, gid_into, gid_from, who, reason, at) "
                           "VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                           &st);
    if (rc) return rc;
    sqlite3_bind_text(st, 1, action, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, into);
    sqlite3_bind_int64(st, 3, from);
    sqlite3_bind_text(st, 4, who, -1, SQLITE_STATIC);
    if (reason) sqlite3_bind_text(st, 5, reason, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 6, tb__now_text(now), -1, SQLITE_STATIC);
    rc = tb__meta_run(db, st, "cannot write the merge log");
    if (rc == 0) *id = sqlite3_last_insert_rowid(tb__db_sqlite(db));
    return rc;
}

static int run2(tb_db *db, tb__stmt_id id, const char *sql, int64_t a, int64_t b, int null_a,
                const char *what)
{
    sqlite3_stmt *st;
    int rc = tb__meta_stmt(db, id, sql, &st);
    if (rc) return rc;
    if (!null_a) sqlite3_bind_int64(st, 1, a);
    sqlite3_bind_int64(st, 2, b);
    return tb__meta_run(db, st, what);
}

/* Moves every key of `from` to `into`, naming each in merge_key under merge `id` (an unmerge
 * brings back exactly these). */
static int move_keys(tb_db *db, int64_t id, uint32_t into, uint32_t from)
{
    tb__md_key *k;
    size_t n;
    int rc = tb__md_keys_of(db, from, &k, &n);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        sqlite3_stmt *st;
        rc =
            tb__meta_stmt(db, TB__STMT_ID_MERGE_KEYS_SAVE,
                          "INSERT INTO merge_key (merge_id, system, key) VALUES (?1, ?2, ?3)", &st);
        if (rc) break;
        sqlite3_bind_int64(st, 1, id);
        sqlite3_bind_text(st, 2, k[i].system, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, k[i].key, -1, SQLITE_STATIC);
        rc = tb__meta_run(db, st, "cannot record the merged keys");
        if (!rc)
            rc = tb__meta_stmt(db, TB__STMT_ID_MERGE_KEYS_MOVE,
                               "UPDATE party_key SET gid = ?1 WHERE system = ?2 AND key = ?3", &st);
        if (rc) break;
        sqlite3_bind_int64(st, 1, into);
        sqlite3_bind_text(st, 2, k[i].system, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, k[i].key, -1, SQLITE_STATIC);
        rc = tb__meta_run(db, st, "cannot move the merged keys");
    }
    tb__md_keys_free(k, n);
    return rc;
}

int tb__customer_merge(tb_db *db, uint32_t into, uint32_t from, const char *who, const char *reason,
                       int64_t *merge_id)
{
    if (merge_id) *merge_id = 0;
    if (into == from)
        return tb__seterr(tb__db_err(db), TB_EINVAL, "cannot merge gid %u into itself", into);
    if (!who || !*who) return tb__seterr(tb__db_err(db), TB_EINVAL, "a merge needs who did it");
    int rc = tb__meta_begin(db);
    if (rc) return rc;
    char ka[16], kb[16];
    int ma, mb;
    rc = party_state(db, into, ka, &ma);
    if (rc == 0) rc = party_state(db, from, kb, &mb);
    if (rc) goto out_rollback;
    if (ma || mb) {
        rc = tb__seterr(tb__db_err(db), TB_EEXIST, "gid %u is already merged into another",
                        ma ? into : from);
        goto out_rollback;
    }
    if (strcmp(ka, kb) != 0) {
        rc = tb__seterr(tb__db_err(db), TB_EINVAL, "cannot merge a %s into a %s", kb, ka);
        goto out_rollback;
    }
    int64_t id;
    rc = log_action(db, "merge", into, from, who, reason, &id);
    if (rc == 0) rc = move_keys(db, id, into, from);
    if (rc == 0)
        rc = run2(db, TB__STMT_ID_SET_MERGED, "UPDATE party SET merged_into = ?1 WHERE gid = ?2",
                  into, from, 0, "cannot mark the party merged");
    if (rc) goto out_rollback;
    rc = tb__meta_commit(db);
    if (rc == 0 && merge_id) *merge_id = id;
    return rc;
out_rollback:
    tb__meta_rollback(db);
    return rc;
}

int tb__customer_unmerge(tb_db *db, uint32_t gid, const char *who)
{
    if (!who || !*who) return tb__seterr(tb__db_err(db), TB_EINVAL, "an unmerge needs who did it");
    int rc = tb__meta_begin(db);
    if (rc) return rc;
    sqlite3_stmt *st;
    rc = tb__meta_stmt(db, TB__STMT_ID_LAST_MERGE,
                       "SELECT merge_id, gid_into FROM merge_log WHERE gid_from = ?1 AND "
                       "action = 'merge' AND undone_by IS NULL ORDER BY merge_id DESC LIMIT 1",
                       &st);
    if (rc) goto out_rollback;
    sqlite3_bind_int64(st, 1, gid);
    int s = sqlite3_step(st);
    int64_t mid = 0, into = 0;
    if (s == SQLITE_ROW) {
        mid = sqlite3_column_int64(st, 0);
        into = sqlite3_column_int64(st, 1);
    } else if (s == SQLITE_DONE) {
        rc = tb__seterr(tb__db_err(db), TB_ENOENT, "gid %u is not merged into another", gid);
    } else {
        rc = tb__meta_seterr_sqlite(db, s, "cannot read the merge log");
    }
    tb__meta_stmt_done(st);
    if (rc) goto out_rollback;
    int64_t id;
    /* The keys come back wherever later merges took them: they are named, not found by gid. */
    rc = run2(db, TB__STMT_ID_UNMERGE_KEYS,
              "UPDATE party_key SET gid = ?2 WHERE (system, key) IN "
              "(SELECT system, key FROM merge_key WHERE merge_id = ?1)",
              mid, gid, 0, "cannot restore the merged keys");
    if (rc == 0)
        rc = run2(db, TB__STMT_ID_SET_MERGED, "UPDATE party SET merged_into = ?1 WHERE gid = ?2", 0,
                  gid, 1, "cannot clear the merge");
    if (rc == 0) rc = log_action(db, "unmerge", (uint32_t)into, gid, who, NULL, &id);
    if (rc == 0)
        rc = run2(db, TB__STMT_ID_MERGE_UNDONE,
                  "UPDATE merge_log SET undone_by = ?1 WHERE merge_id = ?2", id, mid, 0,
                  "cannot close the merge");
    if (rc) goto out_rollback;
    return tb__meta_commit(db);
out_rollback:
    tb__meta_rollback(db);
    return rc;
}

int tb__customer_view_ex(tb_db *db, uint32_t gid, int unmasked, json_t **out)
{
    t_clear = unmasked != 0;
    int rc = tb__customer_view(db, gid, out);
    t_clear = 0;
    if (!rc && *out) json_object_set_new(*out, "masked", json_boolean(!unmasked));
    return rc;
}
