/* roles.c — permissions and their names, the built-in roles and custom ones, the command line's
 * principal, and the helpers every file of the security module shares (libsodium, keyed hash). */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "security/sec_int.h"
#include "store/meta.h"

/* Index = bit number of tb__perm. */
static const char *const perm_names[] = {
    "pipeline.read", "pipeline.load", "standard.edit", "tag.read",   "tag.edit",
    "tag.approve",   "tag.build",     "seg.read",      "seg.write",  "seg.export",
    "customer.view", "pii.clear",     "user.admin",    "audit.read",
};
_Static_assert(sizeof perm_names / sizeof perm_names[0] == 14, "one name per permission bit");

/* The built-in roles (docs/security.md has the same table for people). */
static const struct builtin_role {
    const char *name;
    unsigned perms;
    const char *description;
} builtin_roles[] = {
    {"admin", TB__P_ALL, "everything, including users, roles and tokens"},
    {"data_steward",
     TB__P_PIPELINE_READ | TB__P_PIPELINE_LOAD | TB__P_STANDARD_EDIT | TB__P_TAG_READ |
         TB__P_TAG_APPROVE | TB__P_TAG_BUILD | TB__P_SEG_READ | TB__P_CUSTOMER_VIEW,
     "loads and data standards, reviews and publishes tags, builds them"},
    {"tag_developer",
     TB__P_TAG_READ | TB__P_TAG_EDIT | TB__P_TAG_BUILD | TB__P_SEG_READ | TB__P_PIPELINE_READ,
     "writes tag definitions and submits them for review"},
    {"analyst",
     TB__P_SEG_READ | TB__P_SEG_WRITE | TB__P_SEG_EXPORT | TB__P_TAG_READ | TB__P_CUSTOMER_VIEW,
     "finds customers, saves and exports segments (masked)"},
    {"marketing_manager", TB__P_SEG_READ | TB__P_SEG_WRITE | TB__P_SEG_EXPORT | TB__P_TAG_READ,
     "builds campaigns on segments"},
    {"branch_manager", TB__P_CUSTOMER_VIEW | TB__P_SEG_READ | TB__P_SEG_EXPORT | TB__P_TAG_READ,
     "the customers of one branch and its subtree (org scope)"},
    {"customer_manager", TB__P_CUSTOMER_VIEW | TB__P_SEG_READ | TB__P_TAG_READ,
     "the customers assigned to one manager (manager scope)"},
    {"auditor", TB__P_AUDIT_READ | TB__P_PIPELINE_READ | TB__P_TAG_READ,
     "reads and verifies the audit trail"},
};
#define N_BUILTIN (sizeof builtin_roles / sizeof builtin_roles[0])

const char *tb__perm_name(tb__perm p)
{
    for (unsigned i = 0; i < sizeof perm_names / sizeof perm_names[0]; i++)
        if ((unsigned)p == 1u << i) return perm_names[i];
    return NULL;
}

unsigned tb__perm_parse(const char *name)
{
    if (!name) return 0;
    for (unsigned i = 0; i < sizeof perm_names / sizeof perm_names[0]; i++)
        if (strcmp(name, perm_names[i]) == 0) return 1u << i;
    return 0;
}

int tb__perms_parse_list(const char *list, unsigned *out, char *bad, size_t cap)
{
    *out = 0;
    if (bad && cap) *bad = 0;
    if (!list) return TB_EINVAL;
    const char *p = list;
    while (*p) {
        while (*p == ' ' || *p == ',')
            p++;
        if (!*p) break;
        const char *e = p;
        while (*e && *e != ',')
            e++;
        size_t n = (size_t)(e - p);
        while (n && p[n - 1] == ' ')
            n--;
        char name[32];
        unsigned bit = 0;
        if (n < sizeof name) {
            memcpy(name, p, n);
            name[n] = 0;
            bit = tb__perm_parse(name);
        }
        if (!bit) {
            if (bad && cap) snprintf(bad, cap, "%.*s", (int)(n > 40 ? 40 : n), p);
            return TB_EINVAL;
        }
        *out |= bit;
        p = e;
    }
    return *out ? 0 : TB_EINVAL;
}

json_t *tb__perms_json(unsigned perms)
{
    json_t *a = json_array();
    if (!a) return NULL;
    for (unsigned i = 0; i < sizeof perm_names / sizeof perm_names[0]; i++)
        if ((perms & (1u << i)) && json_array_append_new(a, json_string(perm_names[i]))) {
            json_decref(a);
            return NULL;
        }
    return a;
}

unsigned tb__sec_perms_lenient(const char *text)
{
    unsigned p = 0;
    char one[32];
    while (text && *text) {
        size_t n = strcspn(text, ",");
        if (n < sizeof one) {
            memcpy(one, text, n);
            one[n] = 0;
            p |= tb__perm_parse(one);
        }
        text += n;
        if (*text) text++;
    }
    return p;
}

void tb__sec_perms_text(unsigned perms, char *out, size_t cap)
{
    size_t n = 0;
    out[0] = 0;
    for (unsigned i = 0; i < sizeof perm_names / sizeof perm_names[0]; i++) {
        if (!(perms & (1u << i))) continue;
        int w = snprintf(out + n, cap - n, "%s%s", n ? "," : "", perm_names[i]);
        if (w < 0 || (size_t)w >= cap - n) return;
        n += (size_t)w;
    }
}

void tb__principal_cli(tb__principal *p, const char *name)
{
    memset(p, 0, sizeof *p);
    snprintf(p->name, sizeof p->name, "%s", name && *name ? name : "unknown");
    snprintf(p->role, sizeof p->role, "cli");
    p->perms = TB__P_ALL;
    p->scope = TB__SCOPE_ALL;
}

static pthread_once_t sodium_once = PTHREAD_ONCE_INIT;
static int sodium_rc;

static void sodium_start(void)
{
    sodium_rc = sodium_init() < 0 ? -1 : 0;
}

int tb__sec_sodium(tb_db *db)
{
    pthread_once(&sodium_once, sodium_start);
    if (sodium_rc) return tb__seterr(tb__db_err(db), TB_ERR, "cannot start libsodium");
    return 0;
}

void tb__sec_hex(const unsigned char *b, size_t len, char *out)
{
    sodium_bin2hex(out, 2 * len + 1, b, len);
}

void tb__sec_random_hex(char out[TB__SEC_HEX_LEN])
{
    unsigned char b[32];
    randombytes_buf(b, sizeof b);
    tb__sec_hex(b, sizeof b, out);
    sodium_memzero(b, sizeof b);
}

/* Reads the hash key into key[32]; creates it when missing. Creation is INSERT ... DO NOTHING and
 * a second read, so two handles racing agree on one key. */
static int hash_key(tb_db *db, unsigned char key[32])
{
    for (int attempt = 0; attempt < 2; attempt++) {
        sqlite3_stmt *st;
        int rc = tb__meta_stmt(db, TB__STMT_SEC_KEY_GET,
                               "SELECT value FROM setting WHERE key = 'security.hash_key'", &st);
        if (rc) return rc;
        int src = sqlite3_step(st);
        if (src == SQLITE_ROW) {
            const char *hex = (const char *)sqlite3_column_text(st, 0);
            size_t bin_len = 0;
            int bad = !hex || strlen(hex) != 64 ||
                      sodium_hex2bin(key, 32, hex, 64, NULL, &bin_len, NULL) != 0 || bin_len != 32;
            tb__meta_stmt_done(st);
            if (bad)
                return tb__seterr(tb__db_err(db), TB_ECORRUPT,
                                  "setting 'security.hash_key' is not 64 hex digits");
            return 0;
        }
        tb__meta_stmt_done(st);
        if (src != SQLITE_DONE)
            return tb__meta_seterr_sqlite(db, src, "cannot read the security hash key");
        if (attempt) break;
        rc = tb__db_check_writable(db);
        if (rc) return rc;
        char hex[TB__SEC_HEX_LEN];
        tb__sec_random_hex(hex);
        rc = tb__meta_stmt(db, TB__STMT_SEC_KEY_PUT,
                           "INSERT INTO setting (key, value, updated_at) VALUES "
                           "('security.hash_key', ?1, strftime('%Y-%m-%d %H:%M:%S', 'now', "
                           "'+8 hours')) ON CONFLICT (key) DO NOTHING",
                           &st);
        if (rc) return rc;
        sqlite3_bind_text(st, 1, hex, -1, SQLITE_TRANSIENT);
        sodium_memzero(hex, sizeof hex);
        rc = tb__meta_run(db, st, "cannot create the security hash key");
        if (rc) return rc;
    }
    return tb__seterr(tb__db_err(db), TB_ERR, "security hash key vanished");
}

int tb__sec_keyed_hash(tb_db *db, const char *text, char out[TB__SEC_HEX_LEN])
{
    int rc = tb__sec_sodium(db);
    if (rc) return rc;
    unsigned char key[32], h[32];
    rc = hash_key(db, key);
    if (rc) goto out_wipe;
    crypto_generichash(h, sizeof h, (const unsigned char *)text, strlen(text), key, sizeof key);
    tb__sec_hex(h, sizeof h, out);
out_wipe:
    sodium_memzero(key, sizeof key);
    return rc;
}

int tb__sec_begin(tb_db *db, int *own)
{
    *own = 0;
    if (!sqlite3_get_autocommit(tb__db_sqlite(db))) return tb__db_check_writable(db);
    int rc = tb__meta_begin(db);
    if (rc == 0) *own = 1;
    return rc;
}

int tb__sec_end(tb_db *db, int own, int rc)
{
    if (!own) return rc;
    if (rc) {
        tb__meta_rollback(db);
        return rc;
    }
    return tb__meta_commit(db);
}

static const struct builtin_role *builtin(const char *name)
{
    for (size_t i = 0; i < N_BUILTIN; i++)
        if (strcmp(builtin_roles[i].name, name) == 0) return &builtin_roles[i];
    return NULL;
}

int tb__sec_builtin_roles_put(tb_db *db)
{
    for (size_t i = 0; i < N_BUILTIN; i++) {
        sqlite3_stmt *st;
        int rc = tb__meta_stmt(db, TB__STMT_SEC_ROLE_BUILTIN,
                               "INSERT INTO role (name, perms, builtin, description) "
                               "VALUES (?1, ?2, 1, ?3) ON CONFLICT (name) DO UPDATE SET "
                               "perms = excluded.perms, builtin = 1, "
                               "description = excluded.description",
                               &st);
        if (rc) return rc;
        char perms[512];
        tb__sec_perms_text(builtin_roles[i].perms, perms, sizeof perms);
        sqlite3_bind_text(st, 1, builtin_roles[i].name, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, perms, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 3, builtin_roles[i].description, -1, SQLITE_STATIC);
        rc = tb__meta_run(db, st, "cannot create the built-in roles");
        if (rc) return rc;
    }
    return 0;
}

int tb__security_init(tb_db *db)
{
    tb__clearerr(tb__db_err(db));
    int rc = tb__sec_sodium(db);
    if (rc) return rc;
    int own;
    rc = tb__sec_begin(db, &own);
    if (rc) return rc;
    rc = tb__sec_builtin_roles_put(db);
    return tb__sec_end(db, own, rc);
}

/* Role names are short identifiers: they end up in the audit, the console and URLs. */
static int role_name_ok(const char *name)
{
    size_t n = name ? strlen(name) : 0;
    if (n == 0 || n > 32) return 0;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) return 0;
    }
    return 1;
}

int tb__role_put(tb_db *db, const char *name, unsigned perms, const char *description)
{
    tb__clearerr(tb__db_err(db));
    if (!role_name_ok(name))
        return tb__seterr(tb__db_err(db), TB_EINVAL,
                          "role name must be 1 to 32 of a-z, 0-9 and '_'");
    if (builtin(name))
        return tb__seterr(tb__db_err(db), TB_EPERM, "role '%s' is built in and cannot change",
                          name);
    if (perms == 0 || (perms & ~(unsigned)TB__P_ALL))
        return tb__seterr(tb__db_err(db), TB_EINVAL, "role '%s' needs known permissions", name);
    int own;
    int rc = tb__sec_begin(db, &own);
    if (rc) return rc;
    rc = tb__sec_builtin_roles_put(db);
    if (rc) goto out;
    sqlite3_stmt *st;
    rc = tb__meta_stmt(db, TB__STMT_SEC_ROLE_PUT,
                       "INSERT INTO role (name, perms, builtin, description) VALUES (?1, ?2, 0, "
                       "?3) ON CONFLICT (name) DO UPDATE SET perms = excluded.perms, "
                       "description = excluded.description",
                       &st);
    if (rc) goto out;
    char text[512];
    tb__sec_perms_text(perms, text, sizeof text);
    sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, text, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 3, description ? description : "", -1, SQLITE_TRANSIENT);
    rc = tb__meta_run(db, st, "cannot store role");
out:
    return tb__sec_end(db, own, rc);
}

int tb__sec_role_perms(tb_db *db, const char *name, unsigned *perms)
{
    *perms = 0;
    if (!name) return tb__seterr(tb__db_err(db), TB_EINVAL, "no role given");
    const struct builtin_role *b = builtin(name);
    if (b) {
        *perms = b->perms;
        return 0;
    }
    sqlite3_stmt *st;
    int rc = tb__meta_stmt(db, TB__STMT_SEC_ROLE_GET,
                           "SELECT perms FROM role WHERE name = ?1 AND builtin = 0", &st);
    if (rc) return rc;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
    int src = sqlite3_step(st);
    if (src == SQLITE_ROW) {
        *perms = tb__sec_perms_lenient((const char *)sqlite3_column_text(st, 0));
    } else if (src == SQLITE_DONE) {
        rc = tb__seterr(tb__db_err(db), TB_ENOENT, "no role '%.32s'", name);
    } else {
        rc = tb__meta_seterr_sqlite(db, src, "cannot read role");
    }
    tb__meta_stmt_done(st);
    return rc;
}

int tb__role_perms(tb_db *db, const char *name, unsigned *perms)
{
    tb__clearerr(tb__db_err(db));
    return tb__sec_role_perms(db, name, perms);
}

/* One role as JSON; NULL when out of memory. */
static json_t *role_json(const char *name, int is_builtin, const char *description, unsigned perms)
{
    return json_pack("{s:s, s:b, s:s, s:o?}", "name", name, "builtin", is_builtin, "description",
                     description ? description : "", "perms", tb__perms_json(perms));
}

int tb__role_list(tb_db *db, json_t **out)
{
    tb__clearerr(tb__db_err(db));
    *out = NULL;
    json_t *a = json_array();
    if (!a) return tb__seterr(tb__db_err(db), TB_ENOMEM, "out of memory");
    int rc = 0;
    for (size_t i = 0; i < N_BUILTIN; i++)
        if (json_array_append_new(a,
                                  role_json(builtin_roles[i].name, 1, builtin_roles[i].description,
                                            builtin_roles[i].perms))) {
            rc = tb__seterr(tb__db_err(db), TB_ENOMEM, "out of memory");
            goto out_free;
        }
    sqlite3_stmt *st;
    rc = tb__meta_stmt(db, TB__STMT_SEC_ROLE_LIST,
                       "SELECT name, description FROM role WHERE builtin = 0 ORDER BY name", &st);
    if (rc) goto out_free;
    int src;
    while ((src = sqlite3_step(st)) == SQLITE_ROW) {
        char name[40];
        snprintf(name, sizeof name, "%s", (const char *)sqlite3_column_text(st, 0));
        json_t *r = json_pack("{s:s, s:b, s:s}", "name", name, "builtin", 0, "description",
                              (const char *)sqlite3_column_text(st, 1));
        if (!r || json_array_append_new(a, r)) {
            rc = tb__seterr(tb__db_err(db), TB_ENOMEM, "out of memory");
            break;
        }
    }
    if (!rc && src != SQLITE_DONE) rc = tb__meta_seterr_sqlite(db, src, "cannot list roles");
    tb__meta_stmt_done(st);
    if (rc) goto out_free;
    /* Perms of custom roles parsed the one way tb__sec_role_perms does (after the scan: the
     * look-up uses another cached statement). */
    size_t i;
    json_t *r;
    json_array_foreach(a, i, r)
    {
        if (i < N_BUILTIN) continue;
        unsigned perms;
        rc = tb__sec_role_perms(db, json_string_value(json_object_get(r, "name")), &perms);
        if (rc) goto out_free;
        if (json_object_set_new(r, "perms", tb__perms_json(perms))) {
            rc = tb__seterr(tb__db_err(db), TB_ENOMEM, "out of memory");
            goto out_free;
        }
    }
    *out = a;
    return 0;
out_free:
    json_decref(a);
    return rc;
}
