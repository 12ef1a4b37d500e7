/* crypt.c — encryption at rest of C2 fields (crypt.h): the key file, the keys a data directory
 * records (table c2_key), and sealing, opening and blind-indexing values with libsodium. */
#include <assert.h>
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/clock.h"
#include "store/crypt.h"
#include "store/file.h"
#include "store/store_int.h"

#define KEYFILE_MAX   (256 * 1024)
#define KEYFILE_MAGIC "tagbase-keyfile 1"
#define NONCE         crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
#define TAG           crypto_aead_xchacha20poly1305_ietf_ABYTES
#define BLIND_BYTES   16
#define DATE_LEN      TB__TIME_TEXT_LEN

struct entry {
    uint32_t id;
    int usable; /* 0: retired, bytes forgotten */
    unsigned char master[TB__C2_KEYBYTES];
    tb__c2key k;
    char date[DATE_LEN]; /* created, or retired at */
};

struct tb__keyring {
    char *path;
    struct entry e[TB__C2_MAX_KEYS];
    size_t n;
};

/* The per-handle state (tb_db.c2). */
struct tb__c2state {
    tb__keyring *ring; /* the key file given, or NULL */
    tb__c2key active;  /* valid when on */
    int on;
    int pending; /* key file given, store plaintext with data */
    tb__buf tmp; /* sealing scratch for the bind helpers */
};

static char *g_key_file;
static int g_key_file_set;

void tb__c2_set_key_file(const char *path)
{
    free(g_key_file);
    g_key_file = path ? strdup(path) : NULL;
    g_key_file_set = path != NULL;
}

const char *tb__c2_key_file(void)
{
    const char *p = g_key_file_set ? g_key_file : getenv("TAGBASE_KEY_FILE");
    return p && *p ? p : NULL;
}

static int sodium_ready(tb__errbuf *eb)
{
    if (sodium_init() < 0) return tb__seterr(eb, TB_ERR, "cannot initialise libsodium");
    return 0;
}

static void iso_now(char out[DATE_LEN])
{
    tb__now_text(out);
    char *sp = strchr(out, ' ');
    if (sp) *sp = 'T';
}

/* ---- keys ------------------------------------------------------------------------------------*/

void tb__c2key_derive(tb__c2key *k, uint32_t id, const unsigned char master[TB__C2_KEYBYTES])
{
    k->id = id;
    crypto_kdf_derive_from_key(k->enc, sizeof k->enc, 1, "tbc2enc_", master);
    crypto_kdf_derive_from_key(k->blind, sizeof k->blind, 2, "tbc2idx_", master);
    crypto_kdf_derive_from_key(k->check, sizeof k->check, 3, "tbc2chk_", master);
    /* Each primitive has a key of its own: a key is never both a cipher key and a KDF master. */
    crypto_kdf_derive_from_key(k->stream, sizeof k->stream, 4, "tbc2stm_", master);
    crypto_kdf_derive_from_key(k->record, sizeof k->record, 5, "tbc2rec_", master);
}

void tb__c2key_check(const tb__c2key *k, char out[TB__C2_CHECK_LEN])
{
    static const char msg[] = "tagbase c2 key check 1";
    unsigned char h[16];
    crypto_generichash(h, sizeof h, (const unsigned char *)msg, sizeof msg - 1, k->check,
                       sizeof k->check);
    sodium_bin2hex(out, TB__C2_CHECK_LEN, h, sizeof h);
}

int tb__keyring_new(const char *path, tb__keyring **out, tb__errbuf *eb)
{
    *out = NULL;
    int rc = sodium_ready(eb);
    if (rc) return rc;
    tb__keyring *k = sodium_malloc(sizeof *k);
    if (!k) return tb__seterr(eb, TB_ENOMEM, "out of memory");
    memset(k, 0, sizeof *k);
    k->path = strdup(path);
    if (!k->path) {
        sodium_free(k);
        return tb__seterr(eb, TB_ENOMEM, "out of memory");
    }
    *out = k;
    return 0;
}

void tb__keyring_free(tb__keyring *k)
{
    if (!k) return;
    free(k->path);
    sodium_free(k); /* zeroes the key material */
}

const char *tb__keyring_path(const tb__keyring *k)
{
    return k->path;
}

static struct entry *find(const tb__keyring *k, uint32_t id)
{
    for (size_t i = 0; i < k->n; i++)
        if (k->e[i].id == id) return (struct entry *)&k->e[i];
    return NULL;
}

const tb__c2key *tb__keyring_get(const tb__keyring *k, uint32_t id)
{
    const struct entry *e = k ? find(k, id) : NULL;
    return e && e->usable ? &e->k : NULL;
}

const tb__c2key *tb__keyring_newest(const tb__keyring *k)
{
    const struct entry *best = NULL;
    for (size_t i = 0; k && i < k->n; i++)
        if (k->e[i].usable && (!best || k->e[i].id > best->id)) best = &k->e[i];
    return best ? &best->k : NULL;
}

int tb__keyring_entry(const tb__keyring *k, size_t i, uint32_t *id, int *usable, const char **date)
{
    if (i >= k->n) return TB_ENOENT;
    *id = k->e[i].id;
    *usable = k->e[i].usable;
    *date = k->e[i].date;
    return 0;
}

int tb__keyring_add(tb__keyring *k, uint32_t *id, tb__errbuf *eb)
{
    if (k->n == TB__C2_MAX_KEYS)
        return tb__seterr(eb, TB_ELIMIT, "key file '%s' holds %d keys already", k->path,
                          TB__C2_MAX_KEYS);
    uint32_t next = 1;
    for (size_t i = 0; i < k->n; i++)
        if (k->e[i].id >= next) next = k->e[i].id + 1;
    struct entry *e = &k->e[k->n++];
    memset(e, 0, sizeof *e);
    e->id = next;
    e->usable = 1;
    randombytes_buf(e->master, sizeof e->master);
    tb__c2key_derive(&e->k, next, e->master);
    iso_now(e->date);
    if (id) *id = next;
    return 0;
}

int tb__keyring_retire(tb__keyring *k, uint32_t id, tb__errbuf *eb)
{
    struct entry *e = find(k, id);
    if (!e || !e->usable)
        return tb__seterr(eb, TB_ENOENT, "key file '%s' holds no key %u", k->path, id);
    sodium_memzero(e->master, sizeof e->master);
    sodium_memzero(&e->k, sizeof e->k);
    e->k.id = id;
    e->usable = 0;
    iso_now(e->date);
    return 0;
}

int tb__keyring_save(const tb__keyring *k, tb__errbuf *eb)
{
    /* sodium_malloc'd, so the hex of the keys never sits in ordinary heap memory */
    size_t cap = 64 + k->n * (16 + 2 * TB__C2_KEYBYTES + DATE_LEN + 16);
    char *text = sodium_malloc(cap);
    if (!text) return tb__seterr(eb, TB_ENOMEM, "out of memory");
    size_t at = (size_t)snprintf(text, cap, "%s\n", KEYFILE_MAGIC);
    for (size_t i = 0; i < k->n; i++) {
        const struct entry *e = &k->e[i];
        if (e->usable) {
            char hex[2 * TB__C2_KEYBYTES + 1];
            sodium_bin2hex(hex, sizeof hex, e->master, sizeof e->master);
            at += (size_t)snprintf(text + at, cap - at, "key %u %s %s\n", e->id, hex, e->date);
            sodium_memzero(hex, sizeof hex);
        } else {
            at += (size_t)snprintf(text + at, cap - at, "retired %u %s\n", e->id, e->date);
        }
    }
    int rc = tb__file_write_atomic(k->path, text, at, 0600, eb);
    sodium_free(text);
    if (rc == 0 && chmod(k->path, 0600) != 0) /* the umask may have taken bits away, never added */
        rc = tb__seterr_errno(eb, TB_EIO, errno, "cannot chmod key file '%s'", k->path);
    return rc;
}

static int parse_id(const char *s, uint32_t *id)
{
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno || *end || end == s || v == 0 || v > 1000000) return -1;
    *id = (uint32_t)v;
    return 0;
}

static int parse_line(tb__keyring *k, char *line, int lineno, tb__errbuf *eb)
{
    char *f[5];
    int n = 0;
    for (char *save = NULL, *t = strtok_r(line, " \t\r", &save); t && n < 5;
         t = strtok_r(NULL, " \t\r", &save))
        f[n++] = t;
    if (n == 0 || f[0][0] == '#') return 0;
    int is_key = strcmp(f[0], "key") == 0, is_ret = strcmp(f[0], "retired") == 0;
    uint32_t id;
    if (!(is_key && n == 4) && !(is_ret && n == 3))
        return tb__seterr(eb, TB_EFORMAT,
                          "key file '%s', line %d: expected 'key ID HEX DATE' or "
                          "'retired ID DATE'",
                          k->path, lineno);
    if (parse_id(f[1], &id))
        return tb__seterr(eb, TB_EFORMAT, "key file '%s', line %d: bad key id", k->path, lineno);
    if (find(k, id))
        return tb__seterr(eb, TB_EFORMAT, "key file '%s', line %d: key %u appears twice", k->path,
                          lineno, id);
    if (k->n == TB__C2_MAX_KEYS)
        return tb__seterr(eb, TB_EFORMAT, "key file '%s': more than %d keys", k->path,
                          TB__C2_MAX_KEYS);
    struct entry *e = &k->e[k->n];
    memset(e, 0, sizeof *e);
    e->id = id;
    snprintf(e->date, sizeof e->date, "%s", f[is_key ? 3 : 2]);
    if (is_key) {
        size_t len;
        if (strlen(f[2]) != 2 * TB__C2_KEYBYTES ||
            sodium_hex2bin(e->master, sizeof e->master, f[2], strlen(f[2]), NULL, &len, NULL) !=
                0 ||
            len != TB__C2_KEYBYTES)
            return tb__seterr(eb, TB_EFORMAT, "key file '%s', line %d: a key is 64 hex digits",
                              k->path, lineno);
        e->usable = 1;
        tb__c2key_derive(&e->k, id, e->master);
    } else {
        e->k.id = id;
    }
    k->n++;
    return 0;
}

int tb__keyring_load(const char *path, tb__keyring **out, tb__errbuf *eb)
{
    *out = NULL;
    struct stat st;
    if (stat(path, &st) != 0)
        return tb__seterr_errno(eb, errno == ENOENT ? TB_ENOENT : TB_EIO, errno,
                                "cannot read key file '%s'", path);
    if (!S_ISREG(st.st_mode))
        return tb__seterr(eb, TB_EINVAL, "key file '%s' is not a regular file", path);
    if (st.st_mode & 077)
        return tb__seterr(eb, TB_EPERM,
                          "key file '%s' is readable or writable by others (mode %03o): chmod 600 "
                          "it",
                          path, (unsigned)(st.st_mode & 0777));
    tb__keyring *k;
    int rc = tb__keyring_new(path, &k, eb);
    if (rc) return rc;
    char *text = NULL;
    size_t len = 0;
    rc = tb__file_read_all(path, KEYFILE_MAX, &text, &len, eb);
    if (rc) goto out_free;
    /* copy into guarded memory, NUL-terminated, and wipe the ordinary buffer */
    char *s = sodium_malloc(len + 1);
    if (!s) {
        rc = tb__seterr(eb, TB_ENOMEM, "out of memory");
        goto out_free;
    }
    memcpy(s, text, len);
    s[len] = '\0';
    sodium_memzero(text, len);
    free(text);
    text = NULL;
    if (memchr(s, '\0', len)) {
        rc = tb__seterr(eb, TB_EFORMAT, "key file '%s' is not text", path);
    } else {
        char *save = NULL;
        char *line = strtok_r(s, "\n", &save);
        if (!line || strncmp(line, KEYFILE_MAGIC, strlen(KEYFILE_MAGIC)) != 0)
            rc = tb__seterr(eb, TB_EFORMAT, "'%s' is not a tagbase key file (first line '%s')",
                            path, KEYFILE_MAGIC);
        for (int no = 2; rc == 0 && (line = strtok_r(NULL, "\n", &save)); no++)
            rc = parse_line(k, line, no, eb);
    }
    sodium_memzero(s, len);
    sodium_free(s);
    if (rc == 0) {
        *out = k;
        return 0;
    }
out_free:
    free(text);
    tb__keyring_free(k);
    return rc;
}

/* realpath for a path that may not exist yet: its deepest existing ancestor resolved, the rest
 * appended as written. 0, or -1 when even that fails or is too long. */
static int resolve_loose(const char *path, char out[PATH_MAX], int depth)
{
    if (realpath(path, out)) return 0;
    if (depth > 64) return -1;
    char a[PATH_MAX], b[PATH_MAX];
    if (snprintf(a, sizeof a, "%s", path) >= (int)sizeof a) return -1;
    snprintf(b, sizeof b, "%s", path);
    const char *base = basename(b);
    char *parent = dirname(a);
    char rp[PATH_MAX];
    if (strcmp(parent, path) == 0 || resolve_loose(parent, rp, depth + 1)) return -1;
    if (snprintf(out, PATH_MAX, "%s/%s", strcmp(rp, "/") == 0 ? "" : rp, base) >= PATH_MAX)
        return -1;
    return 0;
}

int tb__c2_key_outside(const char *path, const char *dir, tb__errbuf *eb)
{
    char rd[PATH_MAX], rp[PATH_MAX];
    if (resolve_loose(dir, rd, 0) || resolve_loose(path, rp, 0))
        return tb__seterr(eb, TB_EINVAL, "cannot resolve key file '%s' or data directory '%s'",
                          path, dir);
    size_t n = strlen(rd);
    if (strncmp(rp, rd, n) == 0 && (rp[n] == '/' || rp[n] == '\0' || strcmp(rd, "/") == 0))
        return tb__seterr(eb, TB_EINVAL,
                          "key file '%s' is inside data directory '%s': keep it outside (a copy "
                          "of the directory must not carry its key)",
                          path, dir);
    return 0;
}

/* ---- values ----------------------------------------------------------------------------------*/

int tb__c2_seal_with(const tb__c2key *k, const char *ad, const char *plain, size_t n, tb__buf *out)
{
    tb__buf_reset(out);
    size_t blen = NONCE + n + TAG;
    unsigned char stack[1024], *bin = blen <= sizeof stack ? stack : malloc(blen);
    if (!bin) return TB_ENOMEM;
    randombytes_buf(bin, NONCE);
    unsigned long long clen;
    crypto_aead_xchacha20poly1305_ietf_encrypt(bin + NONCE, &clen, (const unsigned char *)plain, n,
                                               (const unsigned char *)ad, strlen(ad), NULL, bin,
                                               k->enc);
    size_t b64 = sodium_base64_ENCODED_LEN(blen, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    int rc = tb__buf_printf(out, "$%u$", k->id);
    if (rc == 0) rc = tb__buf_reserve(out, b64 + 1);
    if (rc == 0) {
        sodium_bin2base64(out->data + out->len, b64, bin, blen,
                          sodium_base64_VARIANT_URLSAFE_NO_PADDING);
        out->len += strlen(out->data + out->len);
    }
    if (bin != stack) free(bin);
    return rc;
}

int tb__c2_open_with(const tb__keyring *ring, const tb__c2key *only, const char *ad,
                     const char *sealed, tb__buf *out, tb__errbuf *eb)
{
    tb__buf_reset(out);
    const char *p = sealed;
    if (!p || *p != '$') return tb__seterr(eb, TB_ECORRUPT, "a value of '%s' is not encrypted", ad);
    char *end;
    errno = 0;
    unsigned long id = strtoul(p + 1, &end, 10);
    if (errno || end == p + 1 || *end != '$' || id == 0 || id > UINT32_MAX)
        return tb__seterr(eb, TB_ECORRUPT, "a value of '%s' has a bad key id", ad);
    const tb__c2key *k = only && only->id == id ? only : tb__keyring_get(ring, (uint32_t)id);
    if (!k)
        return tb__seterr(eb, TB_ENOENT,
                          "a value of '%s' needs key %lu, which the key file does not hold", ad,
                          id);
    const char *b = end + 1;
    size_t blen = strlen(b), cap = blen * 3 / 4 + 3, binlen;
    unsigned char stack[1024], *bin = cap <= sizeof stack ? stack : malloc(cap);
    if (!bin) return tb__seterr(eb, TB_ENOMEM, "out of memory");
    int rc = 0;
    if (sodium_base642bin(bin, cap, b, blen, NULL, &binlen, NULL,
                          sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 ||
        binlen < NONCE + TAG) {
        rc = tb__seterr(eb, TB_ECORRUPT, "a value of '%s' is not valid ciphertext", ad);
        goto out;
    }
    size_t n = binlen - NONCE - TAG;
    if (tb__buf_reserve(out, n + 1)) {
        rc = tb__seterr(eb, TB_ENOMEM, "out of memory");
        goto out;
    }
    unsigned long long plen;
    if (crypto_aead_xchacha20poly1305_ietf_decrypt(
            (unsigned char *)out->data, &plen, NULL, bin + NONCE, binlen - NONCE,
            (const unsigned char *)ad, strlen(ad), bin, k->enc) != 0) {
        rc = tb__seterr(eb, TB_ECORRUPT,
                        "a value of '%s' fails authentication under key %lu (tampered, moved "
                        "from another column, or a wrong key)",
                        ad, id);
        goto out;
    }
    out->len = (size_t)plen;
    out->data[out->len] = '\0';
out:
    if (bin != stack) free(bin);
    return rc;
}

void tb__c2_blind_with(const tb__c2key *k, const char *ad, const char *v, size_t n,
                       char out[TB__C2_BLIND_LEN])
{
    crypto_generichash_state s;
    unsigned char h[BLIND_BYTES];
    crypto_generichash_init(&s, k->blind, sizeof k->blind, sizeof h);
    crypto_generichash_update(&s, (const unsigned char *)ad, strlen(ad) + 1);
    crypto_generichash_update(&s, (const unsigned char *)v, n);
    crypto_generichash_final(&s, h, sizeof h);
    out[0] = '#';
    sodium_bin2base64(out + 1, TB__C2_BLIND_LEN - 1, h, sizeof h,
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

/* ---- the handle ------------------------------------------------------------------------------*/

int tb__c2_on(tb_db *db)
{
    return db->c2 && db->c2->on;
}

const tb__c2key *tb__c2_active(tb_db *db)
{
    return tb__c2_on(db) ? &db->c2->active : NULL;
}

tb__keyring *tb__c2_ring(tb_db *db)
{
    return db->c2 ? db->c2->ring : NULL;
}

int tb__c2_bind_sealed(tb_db *db, sqlite3_stmt *st, int col, const char *ad, const char *v)
{
    if (!v) return sqlite3_bind_null(st, col), 0;
    if (!tb__c2_on(db)) return sqlite3_bind_text(st, col, v, -1, SQLITE_TRANSIENT), 0;
    if (tb__c2_seal_with(&db->c2->active, ad, v, strlen(v), &db->c2->tmp))
        return tb__seterr(&db->err, TB_ENOMEM, "out of memory encrypting a value");
    sqlite3_bind_text(st, col, db->c2->tmp.data, (int)db->c2->tmp.len, SQLITE_TRANSIENT);
    return 0;
}

int tb__c2_bind_blind(tb_db *db, sqlite3_stmt *st, int col, const char *ad, const char *v)
{
    if (!v) return sqlite3_bind_null(st, col), 0;
    if (!tb__c2_on(db)) return sqlite3_bind_text(st, col, v, -1, SQLITE_TRANSIENT), 0;
    char b[TB__C2_BLIND_LEN];
    tb__c2_blind_with(&db->c2->active, ad, v, strlen(v), b);
    sqlite3_bind_text(st, col, b, -1, SQLITE_TRANSIENT);
    return 0;
}

int tb__c2_reveal(tb_db *db, const char *ad, const char *stored, tb__buf *scratch,
                  const char **plain)
{
    *plain = stored;
    if (!stored || !*stored || !tb__c2_on(db)) return 0;
    int rc = tb__c2_open_with(db->c2->ring, &db->c2->active, ad, stored, scratch, &db->err);
    if (rc) {
        *plain = NULL;
        return rc;
    }
    *plain = scratch->data ? scratch->data : "";
    return 0;
}

int tb__c2_record_key(tb_db *db, const tb__c2key *k)
{
    char now[TB__TIME_TEXT_LEN], check[TB__C2_CHECK_LEN];
    tb__now_text(now);
    tb__c2key_check(k, check);
    sqlite3_stmt *st;
    int rc = tb__meta_stmt(db, TB__STMT_C2_RETIRE,
                           "UPDATE c2_key SET state = 'retired', retired_at = ?1 WHERE state = "
                           "'active' AND key_id <> ?2",
                           &st);
    if (rc) return rc;
    sqlite3_bind_text(st, 1, now, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, k->id);
    rc = tb__meta_run(db, st, "cannot retire the data key");
    if (rc) return rc;
    rc = tb__meta_stmt(db, TB__STMT_C2_RECORD,
                       "INSERT OR REPLACE INTO c2_key (key_id, check_value, state, since) "
                       "VALUES (?1, ?2, 'active', ?3)",
                       &st);
    if (rc) return rc;
    sqlite3_bind_int64(st, 1, k->id);
    sqlite3_bind_text(st, 2, check, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 3, now, -1, SQLITE_STATIC);
    return tb__meta_run(db, st, "cannot record the data key");
}

void tb__c2_activate(tb_db *db, const tb__c2key *k)
{
    if (!db->c2) return;
    db->c2->active = *k;
    db->c2->on = 1;
    db->c2->pending = 0;
}

/* The active key recorded by the directory: 0 and *id/check, TB_ENOENT when none (plaintext). */
static int recorded_key(tb_db *db, uint32_t *id, char check[TB__C2_CHECK_LEN])
{
    if (db->schema < 10) return TB_ENOENT;
    sqlite3_stmt *st;
    int rc = tb__meta_stmt(db, TB__STMT_C2_ACTIVE,
                           "SELECT key_id, check_value FROM c2_key WHERE state = 'active'", &st);
    if (rc) return rc;
    int s = sqlite3_step(st);
    if (s == SQLITE_ROW) {
        *id = (uint32_t)sqlite3_column_int64(st, 0);
        snprintf(check, TB__C2_CHECK_LEN, "%s", (const char *)sqlite3_column_text(st, 1));
        rc = 0;
    } else {
        rc = s == SQLITE_DONE ? TB_ENOENT : tb__meta_seterr_sqlite(db, s, "cannot read c2_key");
    }
    tb__meta_stmt_done(st);
    return rc;
}

static int has_parties(tb_db *db, int *yes)
{
    sqlite3_stmt *st;
    int rc = tb__meta_stmt(db, TB__STMT_C2_ANY_PARTY, "SELECT 1 FROM party LIMIT 1", &st);
    if (rc) return rc;
    int s = sqlite3_step(st);
    *yes = s == SQLITE_ROW;
    if (s != SQLITE_ROW && s != SQLITE_DONE)
        rc = tb__meta_seterr_sqlite(db, s, "cannot read party");
    tb__meta_stmt_done(st);
    return rc;
}

int tb__c2_attach(tb_db *db)
{
    const char *path = tb__c2_key_file();
    uint32_t id = 0;
    char check[TB__C2_CHECK_LEN] = "";
    int rc = recorded_key(db, &id, check);
    if (rc && rc != TB_ENOENT) return rc;
    int encrypted = rc == 0;
    if (!encrypted && !path) return 0;
    if (encrypted && !path)
        return tb__seterr(&db->err, TB_EPERM,
                          "data directory '%s' is encrypted (key %u): give its key file with "
                          "--key-file or TAGBASE_KEY_FILE",
                          db->path, id);
    rc = sodium_ready(&db->err);
    if (rc) return rc;
    db->c2 = calloc(1, sizeof *db->c2);
    if (!db->c2) return tb__seterr(&db->err, TB_ENOMEM, "out of memory");
    rc = tb__c2_key_outside(path, db->path, &db->err);
    if (!rc) rc = tb__keyring_load(path, &db->c2->ring, &db->err);
    if (rc) return rc;
    if (encrypted) {
        const tb__c2key *k = tb__keyring_get(db->c2->ring, id);
        if (!k)
            return tb__seterr(&db->err, TB_EPERM,
                              "key file '%s' does not hold key %u, which data directory '%s' "
                              "needs (a wrong or an outdated key file?)",
                              path, id, db->path);
        char mine[TB__C2_CHECK_LEN];
        tb__c2key_check(k, mine);
        if (sodium_memcmp(mine, check, TB__C2_CHECK_LEN - 1) != 0)
            return tb__seterr(&db->err, TB_EPERM,
                              "key file '%s' holds a different key %u than data directory '%s' "
                              "was encrypted with: refused",
                              path, id, db->path);
        tb__c2_activate(db, k);
        return 0;
    }
    /* Plaintext so far. A writer's store without master data adopts the key now; one with data
     * stays plaintext until `tagbase key rotate` encrypts it (never half-way by a side effect). */
    int yes = 0;
    const tb__c2key *k = tb__keyring_newest(db->c2->ring);
    if (db->schema < 10 || !k) {
        db->c2->pending = db->schema >= 10 && k != NULL;
        return 0;
    }
    rc = has_parties(db, &yes);
    if (rc) return rc;
    if (yes || (db->flags & TB_OPEN_READONLY)) {
        db->c2->pending = 1;
        return 0;
    }
    rc = tb__meta_begin(db);
    if (rc) return rc;
    rc = tb__c2_record_key(db, k);
    if (rc) {
        tb__meta_rollback(db);
        return rc;
    }
    rc = tb__meta_commit(db);
    if (rc == 0) tb__c2_activate(db, k);
    return rc;
}

void tb__c2_detach(tb_db *db)
{
    if (!db->c2) return;
    tb__keyring_free(db->c2->ring);
    if (db->c2->tmp.data) sodium_memzero(db->c2->tmp.data, db->c2->tmp.cap);
    tb__buf_release(&db->c2->tmp);
    sodium_memzero(&db->c2->active, sizeof db->c2->active);
    free(db->c2);
    db->c2 = NULL;
}

int tb__c2_info_get(tb_db *db, tb__c2_info *out)
{
    memset(out, 0, sizeof *out);
    out->key_file_given = tb__c2_key_file() != NULL;
    out->encrypted = tb__c2_on(db);
    out->key_id = out->encrypted ? db->c2->active.id : 0;
    out->pending = db->c2 && db->c2->pending;
    if (db->schema < 10) return 0;
    sqlite3_stmt *st;
    int rc = tb__meta_stmt(db, TB__STMT_C2_RETIRED,
                           "SELECT count(*) FROM c2_key WHERE state = 'retired'", &st);
    if (rc) return rc;
    if (sqlite3_step(st) == SQLITE_ROW) out->retired = sqlite3_column_int(st, 0);
    tb__meta_stmt_done(st);
    return 0;
}

/* ---- sealed records
 * ----------------------------------------------------------------------------*/

static void rec_key(const tb__c2key *k,
                    unsigned char out[crypto_aead_xchacha20poly1305_ietf_KEYBYTES])
{
    static_assert(sizeof k->record == crypto_aead_xchacha20poly1305_ietf_KEYBYTES, "record key");
    memcpy(out, k->record, sizeof k->record);
}

int tb__c2_rec_seal(const tb__c2key *k, const void *ad, size_t adlen, const void *plain, size_t n,
                    unsigned char *out)
{
    static_assert(4 + crypto_aead_xchacha20poly1305_ietf_NPUBBYTES +
                          crypto_aead_xchacha20poly1305_ietf_ABYTES ==
                      TB__C2_REC_OVERHEAD,
                  "record overhead");
    if (sodium_init() < 0) return TB_EINVAL; /* never after tb__c2_attach */
    unsigned char key[crypto_aead_xchacha20poly1305_ietf_KEYBYTES];
    rec_key(k, key);
    out[0] = (unsigned char)k->id;
    out[1] = (unsigned char)(k->id >> 8);
    out[2] = (unsigned char)(k->id >> 16);
    out[3] = (unsigned char)(k->id >> 24);
    unsigned char *nonce = out + 4;
    randombytes_buf(nonce, crypto_aead_xchacha20poly1305_ietf_NPUBBYTES);
    unsigned long long clen;
    crypto_aead_xchacha20poly1305_ietf_encrypt(nonce + crypto_aead_xchacha20poly1305_ietf_NPUBBYTES,
                                               &clen, plain, n, ad, adlen, NULL, nonce, key);
    sodium_memzero(key, sizeof key);
    return 0;
}

int tb__c2_rec_open(const tb__keyring *ring, const void *ad, size_t adlen, const unsigned char *rec,
                    size_t n, unsigned char *out, uint32_t *key_id)
{
    *key_id = 0;
    if (n < TB__C2_REC_OVERHEAD) return TB_ECORRUPT;
    *key_id =
        (uint32_t)rec[0] | (uint32_t)rec[1] << 8 | (uint32_t)rec[2] << 16 | (uint32_t)rec[3] << 24;
    const tb__c2key *k = ring ? tb__keyring_get(ring, *key_id) : NULL;
    if (!k) return TB_ENOENT;
    if (sodium_init() < 0) return TB_ECORRUPT;
    unsigned char key[crypto_aead_xchacha20poly1305_ietf_KEYBYTES];
    rec_key(k, key);
    const unsigned char *nonce = rec + 4;
    unsigned long long plen;
    int bad = crypto_aead_xchacha20poly1305_ietf_decrypt(
        out, &plen, NULL, nonce + crypto_aead_xchacha20poly1305_ietf_NPUBBYTES,
        n - 4 - crypto_aead_xchacha20poly1305_ietf_NPUBBYTES, ad, adlen, nonce, key);
    sodium_memzero(key, sizeof key);
    return bad ? TB_ECORRUPT : 0;
}
