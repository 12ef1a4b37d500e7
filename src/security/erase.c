/* erase.c — erasure of a person (erase.h; docs/security.md, "Erasure"): the golden record becomes
 * a blank tombstone, master data, consent, quarantine and lineage rows go, every kept snapshot and
 * tag store is rewritten without the person, saved segment memberships and the business-data
 * domain segments lose them, SQLite's free pages are wiped, and a scan of every file of the data
 * directory proves that none of their identifiers is left. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/log.h"
#include "pipeline/identity.h"
#include "pipeline/segment.h"
#include "security/erase.h"
#include "security/sec_int.h"
#include "segments/cseg.h"
#include "store/crypt.h"
#include "store/file.h"
#include "store/mdx.h"
#include "store/meta.h"
#include "store/snapshot.h"
#include "tags/bitmap.h"
#include "tags/tagstore.h"

#define MAX_STEPS 16
#define MAX_IDS   4096 /* identifiers of one person: keys of every system, old mobiles, ... */
#define HASH_HEX  17   /* 8 bytes of SipHash as hex and a NUL */

/* ---- the registry of other stores' steps ------------------------------------------------------*/

static struct {
    char name[33];
    tb__erase_step fn;
    tb__erase_check check;
} g_steps[MAX_STEPS];
static size_t g_nsteps;

int tb__erase_register(const char *store, tb__erase_step fn, tb__erase_check check)
{
    size_t n = store ? strlen(store) : 0;
    if (!fn || n == 0 || n > 32) return TB_EINVAL;
    for (size_t i = 0; i < n; i++)
        if (!((store[i] >= 'a' && store[i] <= 'z') || (store[i] >= '0' && store[i] <= '9') ||
              store[i] == '_'))
            return TB_EINVAL;
    size_t at = 0;
    while (at < g_nsteps && strcmp(g_steps[at].name, store) != 0)
        at++;
    if (at == MAX_STEPS) return TB_ELIMIT;
    snprintf(g_steps[at].name, sizeof g_steps[at].name, "%s", store);
    g_steps[at].fn = fn;
    g_steps[at].check = check;
    if (at == g_nsteps) g_nsteps++;
    return 0;
}

/* ---- small helpers ---------------------------------------------------------------------------*/

/* Erasure runs rarely and its statements once: they are prepared here and finalised at once
 * rather than kept in the handle's cache. */
static int prep(tb_db *db, const char *sql, sqlite3_stmt **st)
{
    int rc = sqlite3_prepare_v2(tb__db_sqlite(db), sql, -1, st, NULL);
    if (rc != SQLITE_OK) {
        *st = NULL;
        return tb__meta_seterr_sqlite(db, rc, "cannot prepare an erasure statement");
    }
    return 0;
}

/* Steps a write to the end and finalises it. */
static int done(tb_db *db, sqlite3_stmt *st, const char *what)
{
    int s;
    while ((s = sqlite3_step(st)) == SQLITE_ROW) {
    }
    int rc = s == SQLITE_DONE ? 0 : tb__meta_seterr_sqlite(db, s, what);
    sqlite3_finalize(st);
    return rc;
}

/* Runs `sql` with ?1 = a, ?2 = b (integers). */
static int run_ii(tb_db *db, const char *sql, int64_t a, int64_t b, const char *what)
{
    sqlite3_stmt *st;
    int rc = prep(db, sql, &st);
    if (rc) return rc;
    sqlite3_bind_int64(st, 1, a);
    if (sqlite3_bind_parameter_count(st) >= 2) sqlite3_bind_int64(st, 2, b);
    return done(db, st, what);
}

/* Runs `sql` with text parameters ?1..?3 (NULL: SQL NULL) and integer ?4 .. ?5 when present. */
static int run_t(tb_db *db, const char *sql, const char *a, const char *b, int64_t x, int64_t y,
                 const char *what)
{
    sqlite3_stmt *st;
    int rc = prep(db, sql, &st);
    if (rc) return rc;
    int np = sqlite3_bind_parameter_count(st);
    if (np >= 1) sqlite3_bind_text(st, 1, a, -1, SQLITE_TRANSIENT);
    if (np >= 2) sqlite3_bind_text(st, 2, b, -1, SQLITE_TRANSIENT);
    if (np >= 3) sqlite3_bind_int64(st, 3, x);
    if (np >= 4) sqlite3_bind_int64(st, 4, y);
    return done(db, st, what);
}

/* ---- the person: gids and identifiers --------------------------------------------------------*/

typedef struct ident {
    const char *kind; /* "customer_no", "id_no", "mobile", "name" (static) */
    char *text;
} ident;

typedef struct person {
    uint32_t gid; /* the live golden record */
    uint32_t *gids;
    size_t ngids;
    ident *ids;
    size_t nids;
} person;

static void person_free(person *p)
{
    for (size_t i = 0; i < p->nids; i++) {
        sodium_memzero(p->ids[i].text, strlen(p->ids[i].text));
        free(p->ids[i].text);
    }
    free(p->ids);
    free(p->gids);
    memset(p, 0, sizeof *p);
}

static int add_id(tb_db *db, person *p, const char *kind, const char *text)
{
    if (!text || !*text || strcmp(text, "\\N") == 0) return 0;
    for (size_t i = 0; i < p->nids; i++)
        if (strcmp(p->ids[i].text, text) == 0) return 0;
    if (p->nids == MAX_IDS)
        return tb__seterr(tb__db_err(db), TB_ELIMIT, "more than %d identifiers for one person",
                          MAX_IDS);
    if (p->nids % 16 == 0) {
        ident *n = realloc(p->ids, (p->nids + 16) * sizeof *n);
        if (!n) return tb__seterr(tb__db_err(db), TB_ENOMEM, "out of memory");
        p->ids = n;
    }
    char *t = strdup(text);
    if (!t) return tb__seterr(tb__db_err(db), TB_ENOMEM, "out of memory");
    p->ids[p->nids++] = (ident){kind, t};
    return 0;
}

static int add_gid(tb_db *db, person *p, uint32_t g)
{
    for (size_t i = 0; i < p->ngids; i++)
        if (p->gids[i] == g) return 0;
    uint32_t *n = realloc(p->gids, (p->ngids + 1) * sizeof *n);
    if (!n) return tb__seterr(tb__db_err(db), TB_ENOMEM, "out of memory");
    p->gids = n;
    p->gids[p->ngids++] = g;
    return 0;
}

/* Adds the identifiers of the rows of `sql` (?1 = gid): column i of kind kinds[i]; a kind of NULL
 * takes the kind from column 0 ("name" or "mobile": history and conflicts). */
static int ids_of(tb_db *db, person *p, uint32_t gid, const char *sql, const char *const *kinds,
                  int ncols, const char *sealed_ad)
{
    /* sealed_ad: the identifier columns are C2 values the store may keep sealed (crypt.h) */
    tb__buf scratch = TB__BUF_INIT;
    sqlite3_stmt *st;
    int rc = prep(db, sql, &st);
    if (rc) return rc;
    sqlite3_bind_int64(st, 1, gid);
    int s;
    while (!rc && (s = sqlite3_step(st)) == SQLITE_ROW) {
        for (int c = 0; !rc && c < ncols; c++) {
            const char *kind = kinds[c];
            if (!kind) continue;
            if (strcmp(kind, "*") == 0) { /* the field named in column 0 */
                const char *f = (const char *)sqlite3_column_text(st, 0);
                kind = f && strcmp(f, "name") == 0 ? "name" : "mobile";
            }
            const char *v = (const char *)sqlite3_column_text(st, c);
            if (sealed_ad) rc = tb__c2_reveal(db, sealed_ad, v, &scratch, &v);
            if (!rc) rc = add_id(db, p, kind, v);
        }
    }
    if (!rc && s != SQLITE_DONE) rc = tb__meta_seterr_sqlite(db, s, "cannot read a customer");
    sqlite3_finalize(st);
    if (scratch.data) sodium_memzero(scratch.data, scratch.cap);
    tb__buf_release(&scratch);
    return rc;
}

/* The live gid of `customer`, every gid merged into it, and every identifier they had. */
static int person_load(tb_db *db, const char *customer, person *p)
{
    memset(p, 0, sizeof *p);
    uint32_t gid;
    int rc = tb__customer_resolve_any(db, customer, &gid);
    if (rc == TB_ENOENT)
        return tb__seterr(tb__db_err(db), TB_ENOENT, "no such customer (or already erased)");
    if (rc) return rc;
    /* follow merges to the live record (a merged-away gid is the same person) */
    for (int hop = 0; hop < 64; hop++) {
        sqlite3_stmt *st;
        rc = prep(db, "SELECT merged_into FROM party WHERE gid = ?1", &st);
        if (rc) return rc;
        sqlite3_bind_int64(st, 1, gid);
        int s = sqlite3_step(st);
        int merged = s == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL;
        uint32_t next = merged ? (uint32_t)sqlite3_column_int64(st, 0) : gid;
        sqlite3_finalize(st);
        if (!merged) break;
        gid = next;
    }
    p->gid = gid;
    rc = add_gid(db, p, gid);
    /* every record merged into it, at any depth */
    for (size_t i = 0; !rc && i < p->ngids; i++) {
        sqlite3_stmt *st;
        rc = prep(db, "SELECT gid FROM party WHERE merged_into = ?1", &st);
        if (rc) break;
        sqlite3_bind_int64(st, 1, p->gids[i]);
        while (!rc && sqlite3_step(st) == SQLITE_ROW)
            rc = add_gid(db, p, (uint32_t)sqlite3_column_int64(st, 0));
        sqlite3_finalize(st);
    }
    static const char *const k_key[] = {"customer_no"};
    static const char *const k_field[] = {NULL, "*", "*"};
    for (size_t i = 0; !rc && i < p->ngids; i++) {
        uint32_t g = p->gids[i];
        tb__party_pii pii;
        rc = tb__party_pii_get(db, g, &pii);
        if (!rc && pii.has_cert) rc = add_id(db, p, "id_no", pii.cert_no);
        if (!rc && pii.has_name) rc = add_id(db, p, "name", pii.name);
        if (!rc && pii.has_mobile) rc = add_id(db, p, "mobile", pii.mobile);
        sodium_memzero(&pii, sizeof pii);
        if (!rc) {
            tb__md_key *keys;
            size_t nk;
            rc = tb__md_keys_of(db, g, &keys, &nk);
            for (size_t k = 0; !rc && k < nk; k++)
                rc = add_id(db, p, k_key[0], keys[k].key);
            tb__md_keys_free(keys, nk);
        }
        if (!rc)
            rc = ids_of(db, p, g,
                        "SELECT key FROM merge_key WHERE merge_id IN (SELECT merge_id FROM "
                        "merge_log WHERE gid_from = ?1 OR gid_into = ?1)",
                        k_key, 1, NULL);
        if (!rc)
            rc = ids_of(db, p, g,
                        "SELECT field, old_value, new_value FROM party_history WHERE gid = ?1 "
                        "AND field IN ('name', 'mobile')",
                        k_field, 3, TB__C2_AD_HISTORY);
        if (!rc)
            rc = ids_of(db, p, g,
                        "SELECT field, value_a, value_b FROM party_conflict WHERE gid = ?1 AND "
                        "field IN ('name', 'mobile')",
                        k_field, 3, NULL);
    }
    if (rc) person_free(p);
    return rc;
}

static int in_gids(const person *p, uint32_t g)
{
    for (size_t i = 0; i < p->ngids; i++)
        if (p->gids[i] == g) return 1;
    return 0;
}

/* 1 when the field equals an identifier that names the person alone (not a name: two people
 * share names, and a row is dropped only for what is theirs). */
static int names_person(const person *p, const char *s, size_t len)
{
    for (size_t i = 0; i < p->nids; i++)
        if (strcmp(p->ids[i].kind, "name") != 0 && strlen(p->ids[i].text) == len &&
            memcmp(p->ids[i].text, s, len) == 0)
            return 1;
    return 0;
}

/* ---- keyed hashes of identifiers -------------------------------------------------------------*/

/* The SipHash key of erasure records, derived from the store's secret hash key. */
static int id_key(tb_db *db, unsigned char key[crypto_shorthash_KEYBYTES])
{
    char hex[TB__SEC_HEX_LEN];
    int rc = tb__sec_keyed_hash(db, "tagbase erasure identifier key 1", hex);
    if (rc) return rc;
    sodium_hex2bin(key, crypto_shorthash_KEYBYTES, hex, 2 * crypto_shorthash_KEYBYTES, NULL, NULL,
                   NULL);
    sodium_memzero(hex, sizeof hex);
    return 0;
}

static void id_hash(const unsigned char *key, const void *s, size_t len, char out[HASH_HEX])
{
    unsigned char h[crypto_shorthash_BYTES];
    crypto_shorthash(h, s, len, key);
    tb__sec_hex(h, sizeof h, out);
}

int tb__erasure_known(tb_db *db, const char *identifier, int *erased)
{
    *erased = 0;
    unsigned char key[crypto_shorthash_KEYBYTES];
    int rc = tb__sec_sodium(db);
    if (!rc) rc = id_key(db, key);
    if (rc) return rc;
    char h[HASH_HEX];
    id_hash(key, identifier, strlen(identifier), h);
    sodium_memzero(key, sizeof key);
    sqlite3_stmt *st;
    rc = prep(db, "SELECT 1 FROM erasure_hash WHERE hash = ?1 LIMIT 1", &st);
    if (rc) return rc;
    sqlite3_bind_text(st, 1, h, -1, SQLITE_TRANSIENT);
    int s = sqlite3_step(st);
    *erased = s == SQLITE_ROW;
    sqlite3_finalize(st);
    return s == SQLITE_ROW || s == SQLITE_DONE ? 0 : tb__meta_seterr_sqlite(db, s, "erasure");
}

/* ---- rewriting the stores --------------------------------------------------------------------*/

/* A file or directory replaced by the erasure: the old relative path and the new one. */
typedef struct moved {
    char *old_rel, *new_rel;
    int64_t count; /* members (segments), rows (domain segments) */
    int64_t bytes;
} moved;

typedef struct plan {
    moved *snaps, *builds, *members, *domains;
    size_t nsnaps, nbuilds, nmembers, ndomains;
    int64_t domain_rows, member_rows;
} plan;

static void moved_free(moved *m, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(m[i].old_rel), free(m[i].new_rel);
    free(m);
}

static void plan_free(plan *pl)
{
    moved_free(pl->snaps, pl->nsnaps);
    moved_free(pl->builds, pl->nbuilds);
    moved_free(pl->members, pl->nmembers);
    moved_free(pl->domains, pl->ndomains);
    memset(pl, 0, sizeof *pl);
}

static int moved_add(tb_db *db, moved **arr, size_t *n, const char *old_rel, const char *new_rel,
                     int64_t count, int64_t bytes)
{
    moved *a = realloc(*arr, (*n + 1) * sizeof *a);
    if (!a) return tb__seterr(tb__db_err(db), TB_ENOMEM, "out of memory");
    *arr = a;
    a[*n] = (moved){strdup(old_rel), new_rel ? strdup(new_rel) : NULL, count, bytes};
    if (!a[*n].old_rel || (new_rel && !a[*n].new_rel)) {
        free(a[*n].old_rel), free(a[*n].new_rel);
        return tb__seterr(tb__db_err(db), TB_ENOMEM, "out of memory");
    }
    (*n)++;
    return 0;
}

/* Reads the one text column of every row of `sql` into a NULL-terminated array (caller frees
 * each and the array). */
static int texts(tb_db *db, const char *sql, char ***out, size_t *n)
{
    *out = NULL;
    *n = 0;
    sqlite3_stmt *st;
    int rc = prep(db, sql, &st);
    if (rc) return rc;
    char **a = NULL;
    size_t cap = 0;
    int s;
    while (!rc && (s = sqlite3_step(st)) == SQLITE_ROW) {
        if (*n + 2 > cap) {
            cap = cap ? cap * 2 : 16;
            char **b = realloc(a, cap * sizeof *b);
            if (!b) {
                rc = TB_ENOMEM;
                break;
            }
            a = b;
        }
        const char *t = (const char *)sqlite3_column_text(st, 0);
        if (!(a[*n] = strdup(t ? t : "")))
            rc = TB_ENOMEM;
        else
            a[++*n] = NULL;
    }
    sqlite3_finalize(st);
    if (rc == TB_ENOMEM) rc = tb__seterr(tb__db_err(db), rc, "out of memory");
    if (!rc && s != SQLITE_DONE) rc = tb__meta_seterr_sqlite(db, s, "cannot list the stores");
    if (rc) {
        for (size_t i = 0; i < *n; i++)
            free(a[i]);
        free(a);
        *n = 0;
        return rc;
    }
    *out = a;
    return 0;
}

static void texts_free(char **a, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(a[i]);
    free(a);
}

/* "snapshots/20261121-3" or "snapshots/20261121-3-e2" -> "snapshots/20261121-3-e<N>": a
 * rewritten directory is named after the erasure, without growing a suffix per erasure. */
static void erased_name(const char *rel, int64_t n, char *out, size_t cap)
{
    size_t len = strlen(rel);
    const char *dash = strrchr(rel, '-');
    if (dash && dash[1] == 'e' && dash[2]) {
        const char *d = dash + 2;
        while (*d >= '0' && *d <= '9')
            d++;
        if (!*d) len = (size_t)(dash - rel);
    }
    snprintf(out, cap, "%.*s-e%lld", (int)len, rel, (long long)n);
}

static int path_of(tb_db *db, const char *rel, char *out, size_t cap)
{
    if (!rel || !*rel || strstr(rel, "..") || rel[0] == '/')
        return tb__seterr(tb__db_err(db), TB_ECORRUPT, "the meta store names a bad path");
    if (snprintf(out, cap, "%s/%s", tb_db_path(db), rel) >= (int)cap)
        return tb__seterr(tb__db_err(db), TB_ELIMIT, "path too long");
    return 0;
}

/* Every kept snapshot and every tag store, rewritten into "<dir>-e<N>" without the person. */
static int rewrite_dirs(tb_db *db, const person *p, int64_t n, plan *pl)
{
    static const struct {
        const char *sql;
        int tags;
    } kinds[] = {
        {"SELECT dir FROM snapshot ORDER BY batch_date", 0},
        {"SELECT DISTINCT dir FROM tag_build ORDER BY dir", 1},
    };
    int rc = 0;
    for (size_t k = 0; !rc && k < 2; k++) {
        char **dirs;
        size_t nd;
        rc = texts(db, kinds[k].sql, &dirs, &nd);
        for (size_t i = 0; !rc && i < nd; i++) {
            char src[4096], dst[4096], rel[4096];
            struct stat sb;
            rc = path_of(db, dirs[i], src, sizeof src);
            if (rc) break;
            if (stat(src, &sb) != 0) continue; /* a build whose files are gone: nothing to erase */
            erased_name(dirs[i], n, rel, sizeof rel);
            rc = path_of(db, rel, dst, sizeof dst);
            if (rc) break;
            tb__rm_tree(dst); /* left by an erasure that did not finish */
            tb__errbuf eb = {0};
            rc = kinds[k].tags ? tb__tagset_rewrite_without(src, dst, p->gids, p->ngids,
                                                            tb__c2_ring(db), tb__c2_active(db), &eb)
                               : tb__snap_rewrite_blank(src, dst, p->gids, p->ngids,
                                                        tb__c2_ring(db), tb__c2_active(db), &eb);
            if (rc) {
                rc = tb__seterr(tb__db_err(db), rc, "cannot rewrite '%s': %s", dirs[i], eb.msg);
                break;
            }
            rc = kinds[k].tags ? moved_add(db, &pl->builds, &pl->nbuilds, dirs[i], rel, 0, 0)
                               : moved_add(db, &pl->snaps, &pl->nsnaps, dirs[i], rel, 0, 0);
        }
        texts_free(dirs, nd);
    }
    return rc;
}

/* Saved segments' membership files holding the person: rewritten in place (atomically). */
static int rewrite_members(tb_db *db, const person *p, plan *pl)
{
    char **files;
    size_t nf;
    int rc = texts(db, "SELECT DISTINCT file FROM cseg_member ORDER BY file", &files, &nf);
    if (rc) return rc;
    uint64_t *scratch = malloc((size_t)2 * TB__BM_CHUNK_WORDS * sizeof *scratch);
    if (!scratch) rc = tb__seterr(tb__db_err(db), TB_ENOMEM, "out of memory");
    for (size_t i = 0; !rc && i < nf; i++) {
        char path[4096], *buf = NULL;
        size_t len;
        tb__errbuf eb = {0};
        tb__bmv v;
        rc = path_of(db, files[i], path, sizeof path);
        if (rc) break;
        if (tb__file_read_all(path, (size_t)1 << 34, &buf, &len, &eb) != 0 ||
            tb__bm_parse_safe(buf, len, 1, &v, NULL, &eb) != 0) {
            rc = tb__seterr(tb__db_err(db), TB_ECORRUPT, "segment members '%s': %s", files[i],
                            eb.msg);
            free(buf);
            break;
        }
        int hit = 0;
        for (size_t g = 0; g < p->ngids; g++)
            hit |= tb__bmv_contains(&v, p->gids[g]);
        if (!hit) {
            free(buf);
            continue;
        }
        tb__bm_builder *b = NULL;
        rc = tb__bm_builder_create(v.nbits, &b);
        for (uint32_t c = 0; !rc && c < v.nchunks; c++) {
            if (tb__bmv_chunk_card(&v, c) == 0) continue;
            const uint64_t *w = tb__bmv_words(&v, c, scratch);
            uint64_t *tmp = scratch + TB__BM_CHUNK_WORDS;
            memcpy(tmp, w, TB__BM_CHUNK_WORDS * sizeof *tmp);
            for (size_t g = 0; g < p->ngids; g++) {
                uint64_t id = p->gids[g], lo = (uint64_t)c * TB__BM_CHUNK_BITS;
                if (id >= lo && id < lo + TB__BM_CHUNK_BITS)
                    tmp[(id - lo) / 64] &= ~((uint64_t)1 << ((id - lo) % 64));
            }
            rc = tb__bm_or_words(b, c, tmp);
        }
        tb__buf out = TB__BUF_INIT;
        if (!rc) rc = tb__bm_serialize(b, &out);
        if (rc) rc = tb__seterr(tb__db_err(db), rc, "cannot rewrite segment members");
        if (!rc) rc = tb__file_write_atomic(path, out.data, out.len, 0640, tb__db_err(db));
        if (!rc) {
            rc = moved_add(db, &pl->members, &pl->nmembers, files[i], NULL,
                           (int64_t)tb__bm_builder_cardinality(b), 0);
            pl->member_rows++;
        }
        tb__buf_release(&out);
        tb__bm_builder_free(b);
        free(buf);
    }
    free(scratch);
    texts_free(files, nf);
    return rc;
}

/* The business-data domain segments (and so the lineage behind `tagbase explain`): every row of
 * the person (their gid, or a field holding one of their numbers) dropped, the file rewritten in
 * place crash-safely when it had any. */
static int rewrite_domains(tb_db *db, const person *p, plan *pl)
{
    char **paths;
    size_t np;
    int rc = texts(db, "SELECT path FROM segment ORDER BY path", &paths, &np);
    for (size_t i = 0; !rc && i < np; i++) {
        char path[4096];
        rc = path_of(db, paths[i], path, sizeof path);
        if (rc) break;
        struct stat sb;
        if (stat(path, &sb) != 0) continue;
        tb__errbuf eb = {0};
        tb__seg_reader *r = NULL;
        tb__seg_writer *w = NULL;
        tb__seg_flag flag;
        int64_t kept = 0, dropped = 0;
        rc = tb__seg_reader_open(path, tb__c2_ring(db), &r, &flag, &eb);
        if (!rc) rc = tb__seg_writer_open(path, &flag, tb__c2_active(db), &w, &eb);
        while (!rc) {
            uint64_t line;
            uint32_t gid;
            const tb__field *f;
            size_t nf;
            int got = tb__seg_read(r, &line, &gid, &f, &nf, &eb);
            if (got <= 0) {
                rc = got;
                break;
            }
            int theirs = gid != TB__SEG_NO_GID && in_gids(p, gid);
            for (size_t k = 0; !theirs && k < nf; k++)
                theirs = !f[k].is_null && names_person(p, f[k].ptr, f[k].len);
            if (theirs) {
                dropped++;
                continue;
            }
            kept++;
            rc = tb__seg_write(w, line, gid, f, nf, &eb);
        }
        uint64_t bytes = w ? tb__seg_bytes(w) : 0;
        if (!rc && dropped) {
            rc = tb__seg_writer_commit(w, &eb);
            w = NULL;
        }
        tb__seg_writer_abort(w);
        tb__seg_reader_close(r);
        if (rc) {
            rc = tb__seterr(tb__db_err(db), rc, "cannot rewrite domain segment '%s': %s", paths[i],
                            eb.msg);
            break;
        }
        if (dropped) {
            rc = moved_add(db, &pl->domains, &pl->ndomains, paths[i], NULL, kept, (int64_t)bytes);
            pl->domain_rows += dropped;
        }
    }
    texts_free(paths, np);
    return rc;
}

/* ---- the meta store --------------------------------------------------------------------------*/

static int pragma_run(tb_db *db, const char *sql, json_t *report, const char *key)
{
    sqlite3_stmt *st;
    int rc = prep(db, sql, &st);
    if (rc) return rc;
    int s;
    json_t *row = NULL;
    while ((s = sqlite3_step(st)) == SQLITE_ROW)
        if (key && !row && sqlite3_column_count(st) >= 3)
            row = json_pack("{s:i, s:i, s:i}", "busy", sqlite3_column_int(st, 0), "log_frames",
                            sqlite3_column_int(st, 1), "checkpointed", sqlite3_column_int(st, 2));
    rc = s == SQLITE_DONE ? 0 : tb__meta_seterr_sqlite(db, s, "cannot wipe free pages");
    sqlite3_finalize(st);
    if (key && row)
        json_object_set_new(report, key, row);
    else
        json_decref(row);
    return rc;
}

/* The person's rows: the golden records become tombstones (dense gids stay), the rest goes. */
static int erase_rows(tb_db *db, const person *p, json_t *report)
{
    char now[TB__TIME_TEXT_LEN];
    tb__now_text(now);
    int64_t n_keys = 0, n_hist = 0, n_confl = 0, n_rel = 0, n_consent = 0, n_merge = 0;
    sqlite3 *sql = tb__db_sqlite(db);
    int rc = 0;
    for (size_t i = 0; !rc && i < p->ngids; i++) {
        int64_t g = p->gids[i];
        rc = run_t(db,
                   "UPDATE party SET cert_type = NULL, cert_no = NULL, cust_type = NULL, name = "
                   "NULL, mobile = NULL, merged_into = NULL, attrs = '', cert_enc = NULL, "
                   "erased_at = ?1 WHERE gid = ?3",
                   now, NULL, g, 0, "cannot blank the golden record");
#define DEL(counter, stmt, what)                                                                   \
    if (!rc) {                                                                                     \
        rc = run_ii(db, stmt, g, 0, what);                                                         \
        counter += sqlite3_changes(sql);                                                           \
    }
        /* by gid, scanning the table (no index by gid since migration 12): an erasure rests on
         * the key table itself, not on the look-up image's candidates */
        DEL(n_keys, "DELETE FROM party_key WHERE gid = ?1", "cannot delete keys")
        DEL(n_hist, "DELETE FROM party_history WHERE gid = ?1", "cannot delete history")
        DEL(n_confl, "DELETE FROM party_conflict WHERE gid = ?1", "cannot delete conflicts")
        DEL(n_rel, "DELETE FROM party_relation WHERE gid = ?1", "cannot delete relations")
        DEL(n_rel, "UPDATE party_relation SET target_gid = NULL WHERE target_gid = ?1",
            "cannot unlink relations")
        DEL(n_consent, "DELETE FROM consent WHERE gid = ?1", "cannot delete consent")
        DEL(n_consent, "DELETE FROM consent_event WHERE gid = ?1", "cannot delete consent history")
        DEL(n_merge,
            "DELETE FROM merge_key WHERE merge_id IN (SELECT merge_id FROM merge_log WHERE "
            "gid_from = ?1 OR gid_into = ?1)",
            "cannot delete merged keys")
        if (!rc)
            rc = run_ii(db,
                        "UPDATE merge_log SET undone_by = NULL WHERE undone_by IN (SELECT merge_id "
                        "FROM merge_log WHERE gid_from = ?1 OR gid_into = ?1)",
                        g, 0, "cannot unlink merges");
        DEL(n_merge, "DELETE FROM merge_log WHERE gid_from = ?1 OR gid_into = ?1",
            "cannot delete merges")
#undef DEL
    }
    int64_t n_quar = 0;
    for (size_t i = 0; !rc && i < p->nids; i++) {
        rc = run_t(db, "DELETE FROM quarantine WHERE value = ?1", p->ids[i].text, NULL, 0, 0,
                   "cannot delete quarantined rows");
        n_quar += sqlite3_changes(sql);
    }
    if (!rc)
        json_object_set_new(report, "master_data",
                            json_pack("{s:I, s:I, s:I, s:I, s:I, s:I}", "tombstones",
                                      (json_int_t)p->ngids, "keys", (json_int_t)n_keys, "history",
                                      (json_int_t)n_hist, "conflicts", (json_int_t)n_confl,
                                      "relations", (json_int_t)n_rel, "merges",
                                      (json_int_t)n_merge));
    if (!rc) json_object_set_new(report, "consent_rows_deleted", json_integer(n_consent));
    if (!rc) json_object_set_new(report, "quarantine_rows_deleted", json_integer(n_quar));
    return rc;
}

/* Points the meta store at the rewritten files and records their new counts. */
static int repoint(tb_db *db, const plan *pl)
{
    int rc = 0;
    for (size_t i = 0; !rc && i < pl->nsnaps; i++) {
        rc = run_t(db, "UPDATE snapshot SET dir = ?2 WHERE dir = ?1", pl->snaps[i].old_rel,
                   pl->snaps[i].new_rel, 0, 0, "cannot record a rewritten snapshot");
        if (!rc)
            rc = run_t(db, "UPDATE tag_build SET snapshot = ?2 WHERE snapshot = ?1",
                       pl->snaps[i].old_rel, pl->snaps[i].new_rel, 0, 0,
                       "cannot record a rewritten snapshot");
    }
    for (size_t i = 0; !rc && i < pl->nbuilds; i++)
        rc = run_t(db, "UPDATE tag_build SET dir = ?2 WHERE dir = ?1", pl->builds[i].old_rel,
                   pl->builds[i].new_rel, 0, 0, "cannot record a rewritten tag store");
    for (size_t i = 0; !rc && i < pl->nmembers; i++)
        rc = run_t(db, "UPDATE cseg_member SET customers = ?3 WHERE file = ?1",
                   pl->members[i].old_rel, NULL, pl->members[i].count, 0,
                   "cannot record segment members");
    for (size_t i = 0; !rc && i < pl->ndomains; i++)
        rc = run_t(db, "UPDATE segment SET rows = ?3, bytes = ?4 WHERE path = ?1",
                   pl->domains[i].old_rel, NULL, pl->domains[i].count, pl->domains[i].bytes,
                   "cannot record a rewritten domain segment");
    return rc;
}

/* ---- the proof -------------------------------------------------------------------------------*/

typedef struct scan {
    /* clear identifiers (NULL when scanning by hash only) */
    const ident *ids;
    size_t nids;
    /* keyed hashes: SipHash of runs of [0-9A-Za-z] of the given lengths */
    const unsigned char *key;
    char (*hashes)[HASH_HEX];
    const char **hkinds;
    int *hlens;
    size_t nhashes;
    tb_db *db;      /* for the keys that open sealed domain segments */
    json_t *stores; /* name -> {"files", "bytes", "found", "opened"} */
    json_t *kinds;  /* kind -> {"found"} */
    uint64_t found;
} scan;

/* Adds n hits of `kind` in `store` (per store, per kind and in total). */
static void count(scan *sc, const char *store, const char *kind, uint64_t n)
{
    json_t *s = json_object_get(sc->stores, store);
    json_object_set_new(
        s, "found", json_integer(json_integer_value(json_object_get(s, "found")) + (json_int_t)n));
    json_t *bk = json_object_get(s, "by_kind");
    if (!bk) json_object_set_new(s, "by_kind", bk = json_object());
    json_object_set_new(
        bk, kind, json_integer(json_integer_value(json_object_get(bk, kind)) + (json_int_t)n));
    json_t *k = json_object_get(sc->kinds, kind);
    if (!k) json_object_set_new(sc->kinds, kind, k = json_pack("{s:i}", "found", 0));
    json_object_set_new(
        k, "found", json_integer(json_integer_value(json_object_get(k, "found")) + (json_int_t)n));
}

static int alnum(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

static void scan_bytes(scan *sc, const char *store, const unsigned char *b, size_t len)
{
    for (size_t i = 0; i < sc->nids; i++) {
        const char *t = sc->ids[i].text;
        size_t tl = strlen(t);
        uint64_t n = 0;
        const unsigned char *at = b, *end = b + len;
        while (tl && at < end) {
            const unsigned char *hit = memmem(at, (size_t)(end - at), t, tl);
            if (!hit) break;
            n++;
            at = hit + 1;
        }
        if (n) count(sc, store, sc->ids[i].kind, n);
    }
    if (!sc->nhashes) return;
    int maxlen = 0;
    for (size_t h = 0; h < sc->nhashes; h++)
        if (sc->hlens[h] > maxlen) maxlen = sc->hlens[h];
    size_t i = 0;
    while (i < len) {
        if (!alnum(b[i])) {
            i++;
            continue;
        }
        size_t run = i;
        while (run < len && alnum(b[run]))
            run++;
        for (size_t s = i; s < run; s++)
            for (size_t h = 0; h < sc->nhashes; h++) {
                size_t L = (size_t)sc->hlens[h];
                if (s + L > run) continue;
                char hx[HASH_HEX];
                id_hash(sc->key, b + s, L, hx);
                if (memcmp(hx, sc->hashes[h], HASH_HEX - 1) == 0)
                    count(sc, store, sc->hkinds[h], 1);
            }
        i = run;
    }
}

/* A sealed domain segment's bytes are ciphertext and say nothing: its rows are opened with the
 * directory's keys and their fields scanned instead, so that the proof covers what a key holder
 * could read. One that cannot be opened counts as unverified (the proof fails). */
static void scan_sealed_segment(scan *sc, const char *path, const char *store, json_t *s)
{
    tb__errbuf eb = {0};
    tb__seg_reader *r = NULL;
    tb__seg_flag flag;
    int rc = tb__seg_reader_open(path, tb__c2_ring(sc->db), &r, &flag, &eb);
    uint64_t line;
    uint32_t gid;
    const tb__field *f;
    size_t nf;
    while (!rc && (rc = tb__seg_read(r, &line, &gid, &f, &nf, &eb)) == 1) {
        rc = 0;
        for (size_t i = 0; i < nf; i++)
            if (!f[i].is_null) scan_bytes(sc, store, (const unsigned char *)f[i].ptr, f[i].len);
    }
    tb__seg_reader_close(r);
    if (rc) {
        tb__log_warn("erase", "proof: cannot open sealed segment '%s': %s", path, eb.msg);
        count(sc, store, "unverified", 1);
        return;
    }
    json_object_set_new(s, "opened",
                        json_integer(json_integer_value(json_object_get(s, "opened")) + 1));
}

static int is_sealed_segment(const unsigned char *m, size_t n)
{
    static const char magic[] = "#tagbase-segment 2\t";
    return n > sizeof magic && memcmp(m, magic, sizeof magic - 1) == 0;
}

/* Scans one file; `store` is what it belongs to ("meta.db", "snapshots", ...). */
static int scan_file(scan *sc, const char *path, const char *store)
{
    json_t *s = json_object_get(sc->stores, store);
    if (!s)
        json_object_set_new(sc->stores, store,
                            s = json_pack("{s:i, s:i, s:i}", "files", 0, "bytes", 0, "found", 0));
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) return 0; /* gone since the directory was read (a temp file) */
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return 0;
    }
    json_object_set_new(s, "files",
                        json_integer(json_integer_value(json_object_get(s, "files")) + 1));
    json_object_set_new(
        s, "bytes",
        json_integer(json_integer_value(json_object_get(s, "bytes")) + (json_int_t)st.st_size));
    if (st.st_size > 0) {
        void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (m != MAP_FAILED) {
            scan_bytes(sc, store, m, (size_t)st.st_size);
            if (strcmp(store, "domains") == 0 && is_sealed_segment(m, (size_t)st.st_size))
                scan_sealed_segment(sc, path, store, s);
            munmap(m, (size_t)st.st_size);
        }
    }
    close(fd);
    return 0;
}

static int scan_dir(scan *sc, const char *dir, const char *store, int depth)
{
    if (depth > 16) return 0;
    DIR *d = opendir(dir);
    if (!d) return 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        char path[4096];
        if (snprintf(path, sizeof path, "%s/%s", dir, e->d_name) >= (int)sizeof path) continue;
        struct stat st;
        if (lstat(path, &st) != 0) continue;
        /* at the top, each file and each directory is its own store */
        const char *name = store ? store : e->d_name;
        if (S_ISDIR(st.st_mode))
            scan_dir(sc, path, name, depth + 1);
        else if (S_ISREG(st.st_mode))
            scan_file(sc, path, name);
    }
    closedir(d);
    return 0;
}

/* Scans the data directory and asks every registered store's proof; fills `proof`. A name that
 * another live customer also carries proves nothing when found (it may be theirs), and the
 * landing area holds the warehouse's extracts, not a store of ours: both are reported, and do not
 * make the proof fail. */
static void prove(tb_db *db, scan *sc, int name_shared, json_t *proof)
{
    sc->db = db;
    sc->stores = json_object();
    sc->kinds = json_object();
    scan_dir(sc, tb_db_path(db), NULL, 0);
    const char **clear = calloc(sc->nids ? sc->nids : 1, sizeof *clear);
    size_t nclear = 0;
    for (size_t i = 0; clear && i < sc->nids; i++)
        clear[nclear++] = sc->ids[i].text;
    for (size_t i = 0; i < g_nsteps; i++) {
        if (!g_steps[i].check) continue;
        uint64_t found = 0;
        json_t *r = json_object();
        int rc = g_steps[i].check(db, clear, nclear, &found, r);
        if (rc) json_object_set_new(r, "error", json_string(tb_strerror(rc)));
        /* The raw scan of the store's own directory (same name) keeps its hits: the step's report
         * joins it rather than replacing it. */
        json_t *raw = json_object_get(sc->stores, g_steps[i].name);
        json_object_del(r, "found");
        if (raw) {
            json_object_update(raw, r);
            json_decref(r);
        } else {
            json_object_set_new(r, "found", json_integer(0));
            json_object_set_new(sc->stores, g_steps[i].name, r);
        }
        count(sc, g_steps[i].name, "any", found);
        if (rc) count(sc, g_steps[i].name, "unverified", 1);
    }
    free(clear);
    int ok = 1;
    const char *key, *k2;
    json_t *v, *n;
    json_object_foreach(sc->stores, key, v)
    {
        if (strcmp(key, "landing") == 0) continue;
        json_object_foreach(json_object_get(v, "by_kind"), k2, n)
        {
            if (name_shared && strcmp(k2, "name") == 0) continue;
            if (json_integer_value(n) > 0) ok = 0;
        }
    }
    if (name_shared && json_object_get(sc->kinds, "name"))
        json_object_set_new(json_object_get(sc->kinds, "name"), "shared_with_other_customers",
                            json_true());
    char now[TB__TIME_TEXT_LEN];
    json_object_set_new(proof, "verified_at", json_string(tb__now_text(now)));
    json_object_set_new(proof, "ok", json_boolean(ok));
    json_object_set_new(proof, "stores", sc->stores);
    json_object_set_new(proof, "kinds", sc->kinds);
}

/* 1 when another live golden record carries one of the person's names. */
static int name_shared(tb_db *db, const person *p)
{
    int shared = 0;
    for (size_t i = 0; i < p->nids && !shared; i++) {
        if (strcmp(p->ids[i].kind, "name") != 0) continue;
        if (tb__md_name_in_use(db, p->ids[i].text, &shared)) return 0;
    }
    return shared;
}

/* ---- the erasure -----------------------------------------------------------------------------*/

static void deny(tb_db *db, const tb__principal *who, const char *remote, const char *why)
{
    tb__errbuf saved = *tb__db_err(db);
    char detail[256];
    snprintf(detail, sizeof detail, "{\"reason\":\"%s\"}", why);
    tb__audit(db, who, remote, "customer.erase", NULL, detail, "denied");
    *tb__db_err(db) = saved;
}

/* Checks, before any file is touched, that approval `id` is an approved customer_erase request of
 * `who` for `gid`; tb__approval_consume checks it again, in the transaction. */
static int approval_ok(tb_db *db, const tb__principal *who, int64_t id, uint32_t gid)
{
    json_t *a = NULL;
    int rc = tb__approval_get(db, id, &a);
    if (rc) return rc;
    const char *kind = json_string_value(json_object_get(a, "kind"));
    const char *status = json_string_value(json_object_get(a, "status"));
    const char *req = json_string_value(json_object_get(a, "requester"));
    json_t *g = json_object_get(json_object_get(a, "payload"), "gid");
    if (!kind || strcmp(kind, "customer_erase") != 0)
        rc = tb__seterr(tb__db_err(db), TB_EPERM, "approval %lld is not a 'customer_erase' request",
                        (long long)id);
    else if (!status || strcmp(status, "approved") != 0)
        rc = tb__seterr(tb__db_err(db), TB_EPERM, "approval %lld is %s, not approved",
                        (long long)id, status ? status : "unknown");
    else if (!req || strcmp(req, who->name) != 0)
        rc = tb__seterr(tb__db_err(db), TB_EPERM,
                        "approval %lld was requested by somebody else: only its requester may use "
                        "it",
                        (long long)id);
    else if (!json_is_integer(g) || json_integer_value(g) != (json_int_t)gid)
        rc = tb__seterr(tb__db_err(db), TB_EPERM,
                        "approval %lld is for another customer (payload gid differs)",
                        (long long)id);
    json_decref(a);
    return rc;
}

int tb__customer_erase(tb_db *db, const tb__principal *who, const char *remote,
                       const char *customer, int64_t approval, json_t **out)
{
    if (out) *out = NULL;
    tb__clearerr(tb__db_err(db));
    int rc = tb__db_check_writable(db);
    if (rc) return rc;
    if ((rc = tb__sec_sodium(db))) return rc;
    if (!tb__principal_can(who, TB__P_USER_ADMIN | TB__P_PII_CLEAR)) {
        deny(db, who, remote, "permission");
        return tb__seterr(tb__db_err(db), TB_EPERM,
                          "erasing a customer needs the permissions user.admin and pii.clear");
    }
    if (who->scope != TB__SCOPE_ALL) {
        deny(db, who, remote, "scope");
        return tb__seterr(tb__db_err(db), TB_EPERM,
                          "erasing a customer needs a head-office scope ('all')");
    }
    person p;
    rc = person_load(db, customer, &p);
    if (rc) return rc;
    if (approval <= 0) {
        deny(db, who, remote, "approval missing");
        rc = tb__seterr(tb__db_err(db), TB_EPERM,
                        "erasing a customer needs an approved 'customer_erase' request: ask with "
                        "'tagbase approval request customer_erase --payload {\"gid\":%u}', a "
                        "second person approves it, then pass --approval ID",
                        p.gid);
        goto out_person;
    }
    char payload[64];
    snprintf(payload, sizeof payload, "{\"gid\":%u}", p.gid);
    rc = approval_ok(db, who, approval, p.gid);
    if (rc == TB_EPERM || rc == TB_ENOENT) {
        /* refused the way the approval module refuses (and audits) it */
        tb__errbuf why = *tb__db_err(db);
        if (tb__meta_begin(db) == 0) {
            tb__approval_consume(db, approval, who, remote, "customer_erase", payload);
            tb__meta_commit(db);
        }
        deny(db, who, remote, "approval");
        *tb__db_err(db) = why;
        rc = TB_EPERM;
    }
    if (rc) goto out_person;

    json_t *report = json_object();
    json_t *stores = json_object();
    if (!report || !stores) {
        json_decref(report), json_decref(stores);
        rc = tb__seterr(tb__db_err(db), TB_ENOMEM, "out of memory");
        goto out_person;
    }
    json_object_set_new(report, "stores", stores);
    /* the erasure's number names the rewritten directories; one writer at a time holds LOCK */
    int64_t n = 1;
    {
        sqlite3_stmt *st;
        rc = prep(db, "SELECT coalesce(max(erasure_id), 0) + 1 FROM erasure", &st);
        if (!rc && sqlite3_step(st) == SQLITE_ROW) n = sqlite3_column_int64(st, 0);
        sqlite3_finalize(st);
    }
    plan pl = {0};
    /* 1. files, each rewritten crash-safely and idempotently: a failure here changes nothing the
     * meta store points at (new directories) or only drops the person's rows (in place), and
     * running the erase again finishes it */
    if (!rc) rc = rewrite_dirs(db, &p, n, &pl);
    if (!rc) rc = rewrite_members(db, &p, &pl);
    if (!rc) rc = rewrite_domains(db, &p, &pl);
    const char **clear = calloc(p.nids ? p.nids : 1, sizeof *clear);
    if (!clear && !rc) rc = tb__seterr(tb__db_err(db), TB_ENOMEM, "out of memory");
    for (size_t i = 0; clear && i < p.nids; i++)
        clear[i] = p.ids[i].text;
    for (size_t i = 0; !rc && i < g_nsteps; i++) {
        json_t *r = json_object();
        rc = g_steps[i].fn(db, p.gid, p.gids, p.ngids, clear, p.nids, r);
        json_object_set_new(stores, g_steps[i].name, r);
        if (rc && !*tb_errmsg(db))
            tb__seterr(tb__db_err(db), rc, "the '%s' store's erase step failed", g_steps[i].name);
    }
    if (rc) goto out_plan;
    json_object_set_new(stores, "snapshots", json_integer((json_int_t)pl.nsnaps));
    json_object_set_new(stores, "tag_stores", json_integer((json_int_t)pl.nbuilds));
    json_object_set_new(stores, "segment_memberships", json_integer((json_int_t)pl.nmembers));
    json_object_set_new(stores, "domain_segments", json_integer((json_int_t)pl.ndomains));
    json_object_set_new(stores, "domain_rows_deleted", json_integer(pl.domain_rows));

    /* 2. the meta store, in one transaction with the approval's use and the audit record; freed
     * pages are zeroed (secure_delete) so the deleted rows do not linger in the file */
    rc = pragma_run(db, "PRAGMA secure_delete = ON", NULL, NULL);
    if (!rc) rc = tb__meta_begin(db);
    if (rc) goto out_plan;
    rc = tb__approval_consume(db, approval, who, remote, "customer_erase", payload);
    if (!rc) rc = erase_rows(db, &p, report);
    /* the look-up image without the person, current when the transaction commits */
    if (!rc) rc = tb__mdx_rebuild(db);
    if (!rc) rc = repoint(db, &pl);
    json_t *gids = json_array(), *kinds = json_object();
    for (size_t i = 0; gids && i < p.ngids; i++)
        json_array_append_new(gids, json_integer(p.gids[i]));
    for (size_t i = 0; kinds && i < p.nids; i++)
        json_object_set_new(
            kinds, p.ids[i].kind,
            json_integer(json_integer_value(json_object_get(kinds, p.ids[i].kind)) + 1));
    json_object_set_new(report, "erasure_id", json_integer(n));
    json_object_set_new(report, "gid", json_integer(p.gid));
    json_object_set_new(report, "gids", gids);
    json_object_set_new(report, "identifiers", kinds);
    json_object_set_new(report, "approval", json_integer(approval));
    char *rtext = json_dumps(report, JSON_COMPACT | JSON_SORT_KEYS);
    char *gtext = json_dumps(gids, JSON_COMPACT);
    char now[TB__TIME_TEXT_LEN];
    if (!rc && (!rtext || !gtext)) rc = tb__seterr(tb__db_err(db), TB_ENOMEM, "out of memory");
    if (!rc) {
        sqlite3_stmt *st;
        rc = prep(db,
                  "INSERT INTO erasure (erasure_id, gid, gids, approval_id, actor, at, report) "
                  "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                  &st);
        if (!rc) {
            sqlite3_bind_int64(st, 1, n);
            sqlite3_bind_int64(st, 2, p.gid);
            sqlite3_bind_text(st, 3, gtext, -1, SQLITE_TRANSIENT);
            sqlite3_bind_int64(st, 4, approval);
            sqlite3_bind_text(st, 5, who->name, -1, SQLITE_TRANSIENT);
            sqlite3_bind_text(st, 6, tb__now_text(now), -1, SQLITE_TRANSIENT);
            sqlite3_bind_text(st, 7, rtext, -1, SQLITE_TRANSIENT);
            rc = done(db, st, "cannot record the erasure");
        }
    }
    unsigned char key[crypto_shorthash_KEYBYTES];
    if (!rc) rc = id_key(db, key);
    for (size_t i = 0; !rc && i < p.nids; i++) {
        char h[HASH_HEX];
        id_hash(key, p.ids[i].text, strlen(p.ids[i].text), h);
        sqlite3_stmt *st;
        rc = prep(db,
                  "INSERT OR IGNORE INTO erasure_hash (erasure_id, kind, hash, len) VALUES (?1, "
                  "?2, ?3, ?4)",
                  &st);
        if (rc) break;
        sqlite3_bind_int64(st, 1, n);
        sqlite3_bind_text(st, 2, p.ids[i].kind, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, h, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st, 4, (int64_t)strlen(p.ids[i].text));
        rc = done(db, st, "cannot record the erasure");
    }
    sodium_memzero(key, sizeof key);
    if (!rc) {
        char object[40], *detail = NULL;
        snprintf(object, sizeof object, "erasure:%lld", (long long)n);
        json_t *d = json_pack("{s:i, s:I, s:O, s:O}", "gid", (json_int_t)p.gid, "approval",
                              (json_int_t)approval, "identifiers", kinds, "stores", stores);
        detail = d ? json_dumps(d, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
        json_decref(d);
        rc = detail ? tb__sec_audit_in_tx(db, who, remote, "customer.erase", object, detail, "ok")
                    : tb__seterr(tb__db_err(db), TB_ENOMEM, "out of memory");
        free(detail);
    }
    free(rtext);
    free(gtext);
    if (rc) {
        /* a refused approval keeps its audit record; nothing else of the erasure is kept */
        if (rc == TB_EPERM) {
            tb__errbuf saved = *tb__db_err(db);
            tb__meta_rollback(db);
            deny(db, who, remote, "approval");
            *tb__db_err(db) = saved;
        }
        tb__meta_rollback(db);
        goto out_plan;
    }
    rc = tb__meta_commit(db);
    if (rc) goto out_plan;

    /* 3. what the meta store no longer names: the old directories, and the server's cached maps
     * of them (a running server opens the new stores on its next query) */
    for (size_t i = 0; i < pl.nbuilds; i++) {
        char path[4096];
        if (path_of(db, pl.builds[i].old_rel, path, sizeof path)) continue;
        tb__tagset_cache_drop(path);
        tb__rm_tree(path);
    }
    for (size_t i = 0; i < pl.nsnaps; i++) {
        char path[4096];
        if (path_of(db, pl.snaps[i].old_rel, path, sizeof path) == 0) tb__rm_tree(path);
    }
    tb__mdx_prune(db); /* the look-up images that still name the person */
    /* 4. SQLite's free pages and its write-ahead log: VACUUM rewrites the file without the freed
     * pages, the checkpoint empties meta.db-wal */
    json_t *sqlite = json_object();
    int vrc = pragma_run(db, "VACUUM", NULL, NULL);
    if (!vrc) vrc = pragma_run(db, "PRAGMA wal_checkpoint(TRUNCATE)", sqlite, "checkpoint");
    json_object_set_new(sqlite, "vacuum", json_boolean(vrc == 0));
    if (vrc) json_object_set_new(sqlite, "error", json_string(tb_errmsg(db)));
    json_object_set_new(report, "sqlite", sqlite);
    tb__clearerr(tb__db_err(db));

    /* 5. the proof */
    json_t *proof = json_object();
    scan sc = {.ids = p.ids, .nids = p.nids};
    prove(db, &sc, name_shared(db, &p), proof);
    char *ptext = json_dumps(proof, JSON_COMPACT | JSON_SORT_KEYS);
    if (ptext)
        run_t(db, "UPDATE erasure SET verified_at = ?1, proof = ?2 WHERE erasure_id = ?3",
              json_string_value(json_object_get(proof, "verified_at")), ptext, n, 0,
              "cannot record the proof");
    free(ptext);
    /* the proof's own row goes into the log: empty it again */
    pragma_run(db, "PRAGMA wal_checkpoint(TRUNCATE)", NULL, NULL);
    json_object_set_new(report, "proof", proof);
    json_object_set_new(report, "ok", json_boolean(json_is_true(json_object_get(proof, "ok"))));
    if (out)
        *out = report;
    else
        json_decref(report);
    report = NULL;
    rc = 0;
out_plan:
    json_decref(report);
    free(clear);
    plan_free(&pl);
out_person:
    person_free(&p);
    return rc;
}

int tb__customer_erase_verify(tb_db *db, const tb__principal *who, const char *remote,
                              const char *what, json_t **out)
{
    *out = NULL;
    tb__clearerr(tb__db_err(db));
    int rc = tb__sec_sodium(db);
    if (rc) return rc;
    if (!tb__principal_can(who, TB__P_USER_ADMIN | TB__P_PII_CLEAR))
        return tb__seterr(tb__db_err(db), TB_EPERM,
                          "verifying an erasure needs the permissions user.admin and pii.clear");
    unsigned char key[crypto_shorthash_KEYBYTES];
    rc = id_key(db, key);
    if (rc) return rc;
    /* an identifier of the erased person, by its keyed hash; else an erasure id */
    int64_t id = 0;
    char h[HASH_HEX];
    const char *kind = NULL;
    id_hash(key, what, strlen(what), h);
    sqlite3_stmt *st;
    rc = prep(db,
              "SELECT erasure_id, kind FROM erasure_hash WHERE hash = ?1 ORDER BY erasure_id "
              "DESC LIMIT 1",
              &st);
    if (rc) goto out_key;
    sqlite3_bind_text(st, 1, h, -1, SQLITE_TRANSIENT);
    static const char *const kinds[] = {"customer_no", "id_no", "mobile", "name"};
    if (sqlite3_step(st) == SQLITE_ROW) {
        id = sqlite3_column_int64(st, 0);
        const char *k = (const char *)sqlite3_column_text(st, 1);
        for (size_t i = 0; k && i < 4; i++)
            if (strcmp(k, kinds[i]) == 0) kind = kinds[i];
    }
    sqlite3_finalize(st);
    if (!id) {
        char *end;
        long long v = strtoll(what, &end, 10);
        if (*what && !*end && v > 0) id = v;
    }
    int64_t gid = -1;
    if (id) {
        rc = prep(db, "SELECT gid FROM erasure WHERE erasure_id = ?1", &st);
        if (rc) goto out_key;
        sqlite3_bind_int64(st, 1, id);
        if (sqlite3_step(st) == SQLITE_ROW) gid = sqlite3_column_int64(st, 0);
        sqlite3_finalize(st);
    }
    if (gid < 0) {
        rc = tb__seterr(tb__db_err(db), TB_ENOENT, "no erasure matches");
        goto out_key;
    }
    /* the stored hashes, scanned for as runs of letters and digits (names cannot be: see docs) */
    scan sc = {.key = key};
    ident one = {kind, (char *)what};
    if (kind) {
        sc.ids = &one;
        sc.nids = 1;
    }
    rc = prep(db,
              "SELECT kind, hash, len FROM erasure_hash WHERE erasure_id = ?1 AND kind <> "
              "'name'",
              &st);
    if (rc) goto out_key;
    sqlite3_bind_int64(st, 1, id);
    size_t cap = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        if (sc.nhashes == cap) {
            cap = cap ? cap * 2 : 16;
            void *a = realloc(sc.hashes, cap * sizeof *sc.hashes);
            void *b = a ? realloc(sc.hkinds, cap * sizeof *sc.hkinds) : NULL;
            void *c = b ? realloc(sc.hlens, cap * sizeof *sc.hlens) : NULL;
            if (a) sc.hashes = a;
            if (b) sc.hkinds = b;
            if (c) sc.hlens = c;
            if (!c) {
                rc = tb__seterr(tb__db_err(db), TB_ENOMEM, "out of memory");
                break;
            }
        }
        const char *k = (const char *)sqlite3_column_text(st, 0);
        sc.hkinds[sc.nhashes] = "customer_no";
        for (size_t i = 0; k && i < 4; i++)
            if (strcmp(k, kinds[i]) == 0) sc.hkinds[sc.nhashes] = kinds[i];
        snprintf(sc.hashes[sc.nhashes], HASH_HEX, "%s", sqlite3_column_text(st, 1));
        sc.hlens[sc.nhashes] = sqlite3_column_int(st, 2);
        sc.nhashes++;
    }
    sqlite3_finalize(st);
    if (!rc) {
        json_t *proof = json_object();
        prove(db, &sc, 0, proof);
        json_object_set_new(proof, "erasure_id", json_integer(id));
        json_object_set_new(proof, "gid", json_integer(gid));
        json_object_set_new(proof, "by", json_string(kind ? "identifier" : "erasure_id"));
        char object[40], detail[96];
        snprintf(object, sizeof object, "erasure:%lld", (long long)id);
        snprintf(detail, sizeof detail, "{\"ok\":%s}",
                 json_is_true(json_object_get(proof, "ok")) ? "true" : "false");
        if (tb__db_check_writable(db) == 0)
            tb__audit(db, who, remote, "customer.erase_verify", object, detail, "ok");
        tb__clearerr(tb__db_err(db));
        *out = proof;
    }
    free(sc.hashes);
    free(sc.hkinds);
    free(sc.hlens);
out_key:
    sodium_memzero(key, sizeof key);
    return rc;
}
