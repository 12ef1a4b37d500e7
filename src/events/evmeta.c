/* evmeta.c — what event tracking keeps in the meta store: the apps that send events (sources, with
 * hashed write keys), the tracking plan of each app with every version, and the real-time tag
 * rules (docs/events.md, "Sources", "Tracking plan", "Real-time tags"). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <sodium.h>

#include "common/clock.h"
#include "events/evmeta.h"
#include "store/meta.h"

static int fail(tb_db *db, int rc, const char *what)
{
    return tb__seterr(tb__db_err(db), rc, "%s", what);
}

static void now_text(char *out, size_t cap)
{
    char t[TB__TIME_TEXT_LEN];
    snprintf(out, cap, "%s", tb__now_text(t));
}

void tb__ev_key_hash(const char *key, uint8_t out[32])
{
    crypto_generichash(out, 32, (const unsigned char *)key, strlen(key), NULL, 0);
}

static int valid_name(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 64) return 0;
    for (size_t i = 0; i < n; i++)
        if (!(s[i] == '_' || s[i] == '-' || s[i] == '.' || (s[i] >= 'a' && s[i] <= 'z') ||
              (s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9')))
            return 0;
    return 1;
}

int tb__ev_source_add(tb_db *db, const char *name, const char *project, const char *user,
                      char key[TB__EV_KEY_LEN + 1])
{
    if (!name || !valid_name(name))
        return fail(db, TB_EINVAL, "source name: 1 to 64 letters, digits, '_', '-' or '.'");
    if (!project || !*project) project = "default";
    if (!valid_name(project))
        return fail(db, TB_EINVAL, "project: 1 to 64 letters, digits, '_', '-' or '.'");
    uint8_t raw[20];
    randombytes_buf(raw, sizeof raw);
    sodium_bin2hex(key, TB__EV_KEY_LEN + 1, raw, sizeof raw);
    uint8_t h[32];
    tb__ev_key_hash(key, h);
    char at[32];
    now_text(at, sizeof at);
    sqlite3_stmt *st;
    int rc = tb__meta_begin(db);
    if (rc) return rc;
    rc = tb__meta_stmt(db, TB__STMT_EV_SOURCE_ADD,
                       "INSERT INTO ev_source (name, project, key_hash, key_hint, created_at, "
                       "created_by) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                       &st);
    if (rc) goto out_rollback;
    char hint[5];
    memcpy(hint, key, 4);
    hint[4] = '\0';
    sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, project, -1, SQLITE_TRANSIENT);
    sqlite3_bind_blob(st, 3, h, sizeof h, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 4, hint, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 5, at, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 6, user ? user : "system", -1, SQLITE_TRANSIENT);
    if (sqlite3_step(st) != SQLITE_DONE) {
        int ext = sqlite3_extended_errcode(tb__db_sqlite(db));
        tb__meta_stmt_done(st);
        rc = ext == SQLITE_CONSTRAINT_UNIQUE
                 ? tb__seterr(tb__db_err(db), TB_EEXIST, "source '%s' already exists", name)
                 : fail(db, TB_ESTORE, "cannot add the event source");
        goto out_rollback;
    }
    tb__meta_stmt_done(st);
    return tb__meta_commit(db);
out_rollback:
    tb__meta_rollback(db);
    sodium_memzero(key, TB__EV_KEY_LEN + 1);
    return rc;
}

int tb__ev_source_revoke(tb_db *db, const char *name)
{
    char at[32];
    now_text(at, sizeof at);
    sqlite3_stmt *st;
    int rc = tb__meta_begin(db);
    if (rc) return rc;
    rc = tb__meta_stmt(
        db, TB__STMT_EV_SOURCE_REVOKE,
        "UPDATE ev_source SET revoked_at = ?2 WHERE name = ?1 AND revoked_at IS NULL", &st);
    if (rc) goto out_rollback;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, at, -1, SQLITE_TRANSIENT);
    if ((rc = tb__meta_run(db, st, "cannot revoke the source"))) goto out_rollback;
    if (sqlite3_changes(tb__db_sqlite(db)) == 0) {
        rc = tb__seterr(tb__db_err(db), TB_ENOENT, "no active source '%s'", name);
        goto out_rollback;
    }
    return tb__meta_commit(db);
out_rollback:
    tb__meta_rollback(db);
    return rc;
}

int tb__ev_source_list(tb_db *db, tb__ev_source_fn fn, void *arg)
{
    sqlite3_stmt *st;
    int rc = tb__meta_stmt(db, TB__STMT_EV_SOURCE_LIST,
                           "SELECT id, name, project, key_hash, key_hint, created_at, created_by, "
                           "revoked_at FROM ev_source ORDER BY id",
                           &st);
    if (rc) return rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        tb__ev_source s = {0};
        s.id = (uint32_t)sqlite3_column_int(st, 0);
        s.name = (const char *)sqlite3_column_text(st, 1);
        s.project = (const char *)sqlite3_column_text(st, 2);
        if (sqlite3_column_bytes(st, 3) == 32) memcpy(s.key_hash, sqlite3_column_blob(st, 3), 32);
        s.key_hint = (const char *)sqlite3_column_text(st, 4);
        s.created_at = (const char *)sqlite3_column_text(st, 5);
        s.created_by = (const char *)sqlite3_column_text(st, 6);
        s.revoked_at = (const char *)sqlite3_column_text(st, 7);
        if ((rc = fn(arg, &s))) {
            tb__meta_stmt_done(st);
            return rc;
        }
    }
    tb__meta_stmt_done(st);
    return rc == SQLITE_DONE ? 0 : fail(db, TB_ESTORE, "cannot list event sources");
}

json_t *tb__ev_source_json(const tb__ev_source *s)
{
    return json_pack("{s:s,s:s,s:s,s:s,s:s,s:s?}", "name", s->name, "project", s->project,
                     "key_hint", s->key_hint, "created_at", s->created_at, "created_by",
                     s->created_by, "revoked_at", s->revoked_at);
}

/* ---- tracking plan -------------------------------------------------------------------------- */

static const char *const prop_types[] = {"string",  "number", "integer",
                                         "boolean", "object", "array"};

int tb__ev_plan_check(const char *text, char *why, size_t cap)
{
    json_error_t je;
    json_t *p = json_loads(text, 0, &je);
    int ok = 0;
    if (!p) {
        snprintf(why, cap, "plan is not JSON: %s at line %d column %d", je.text, je.line,
                 je.column);
        return TB_EFORMAT;
    }
    json_t *pol = json_object_get(p, "unknown_events");
    json_t *evs = json_object_get(p, "events");
    const char *k;
    json_t *v;
    if (!json_is_object(p)) {
        snprintf(why, cap, "plan: expected a JSON object");
        goto out;
    }
    if (pol && (!json_is_string(pol) || (strcmp(json_string_value(pol), "accept") != 0 &&
                                         strcmp(json_string_value(pol), "flag") != 0 &&
                                         strcmp(json_string_value(pol), "quarantine") != 0))) {
        snprintf(why, cap, "field 'unknown_events': expected accept, flag or quarantine");
        goto out;
    }
    if (!json_is_object(evs)) {
        snprintf(why, cap, "field 'events': expected an object of event name to definition");
        goto out;
    }
    json_object_foreach(evs, k, v)
    {
        if (!*k || strlen(k) > 100) {
            snprintf(why, cap, "events: event name '%.40s' must be 1 to 100 bytes", k);
            goto out;
        }
        if (!json_is_object(v)) {
            snprintf(why, cap, "events.%.100s: expected an object", k);
            goto out;
        }
        json_t *props = json_object_get(v, "properties");
        if (props && !json_is_object(props)) {
            snprintf(why, cap, "events.%.100s.properties: expected an object", k);
            goto out;
        }
        const char *pk;
        json_t *pv;
        json_object_foreach(props, pk, pv)
        {
            json_t *t = json_object_get(pv, "type");
            size_t i = 0, nt = sizeof prop_types / sizeof prop_types[0];
            while (t && json_is_string(t) && i < nt && strcmp(prop_types[i], json_string_value(t)))
                i++;
            if (!json_is_object(pv) || !json_is_string(t) || i == nt) {
                snprintf(why, cap,
                         "events.%.100s.properties.%.100s.type: expected string, number, integer, "
                         "boolean, object or array",
                         k, pk);
                goto out;
            }
            json_t *en = json_object_get(pv, "enum");
            if (en && !json_is_array(en)) {
                snprintf(why, cap, "events.%.100s.properties.%.100s.enum: expected an array", k,
                         pk);
                goto out;
            }
        }
    }
    ok = 1;
out:
    json_decref(p);
    return ok ? 0 : TB_EFORMAT;
}

/* The newest version number of `source`'s plan, 0 when none. */
static int latest_version(tb_db *db, const char *source, int *v)
{
    sqlite3_stmt *st;
    int rc = tb__meta_stmt(db, TB__STMT_EV_PLAN_LATEST,
                           "SELECT coalesce(max(version), 0) FROM ev_plan WHERE source = ?1", &st);
    if (rc) return rc;
    sqlite3_bind_text(st, 1, source, -1, SQLITE_TRANSIENT);
    rc = sqlite3_step(st);
    *v = rc == SQLITE_ROW ? sqlite3_column_int(st, 0) : 0;
    tb__meta_stmt_done(st);
    return rc == SQLITE_ROW ? 0 : fail(db, TB_ESTORE, "cannot read the tracking plan");
}

int tb__ev_plan_put(tb_db *db, const char *source, const char *text, const char *user, int *version)
{
    char why[300];
    if (tb__ev_plan_check(text, why, sizeof why)) return fail(db, TB_EFORMAT, why);
    json_t *p = json_loads(text, 0, NULL);
    char *canon = p ? json_dumps(p, JSON_INDENT(2) | JSON_SORT_KEYS) : NULL;
    json_decref(p);
    if (!canon) return fail(db, TB_ENOMEM, "out of memory");
    char at[32];
    now_text(at, sizeof at);
    sqlite3_stmt *st;
    int v, rc = tb__meta_begin(db);
    if (rc) goto out_free;
    if ((rc = latest_version(db, source, &v))) goto out_rollback;
    rc = tb__meta_stmt(db, TB__STMT_EV_PLAN_ADD,
                       "INSERT INTO ev_plan (source, version, plan, created_at, created_by) "
                       "VALUES (?1, ?2, ?3, ?4, ?5)",
                       &st);
    if (rc) goto out_rollback;
    sqlite3_bind_text(st, 1, source, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(st, 2, v + 1);
    sqlite3_bind_text(st, 3, canon, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 4, at, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 5, user ? user : "system", -1, SQLITE_TRANSIENT);
    if ((rc = tb__meta_run(db, st, "cannot store the tracking plan"))) goto out_rollback;
    rc = tb__meta_commit(db);
    if (!rc && version) *version = v + 1;
    goto out_free;
out_rollback:
    tb__meta_rollback(db);
out_free:
    free(canon);
    return rc;
}

int tb__ev_plan_get(tb_db *db, const char *source, int version, char **text, int *got_version)
{
    *text = NULL;
    int v = version, rc;
    if (v <= 0 && (rc = latest_version(db, source, &v))) return rc;
    if (v == 0) return tb__seterr(tb__db_err(db), TB_ENOENT, "no tracking plan for '%s'", source);
    sqlite3_stmt *st;
    rc = tb__meta_stmt(db, TB__STMT_EV_PLAN_GET,
                       "SELECT plan FROM ev_plan WHERE source = ?1 AND version = ?2", &st);
    if (rc) return rc;
    sqlite3_bind_text(st, 1, source, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(st, 2, v);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) *text = strdup((const char *)sqlite3_column_text(st, 0));
    tb__meta_stmt_done(st);
    if (rc != SQLITE_ROW)
        return tb__seterr(tb__db_err(db), TB_ENOENT, "no version %d of the plan of '%s'", v,
                          source);
    if (!*text) return fail(db, TB_ENOMEM, "out of memory");
    if (got_version) *got_version = v;
    return 0;
}

int tb__ev_plan_versions(tb_db *db, const char *source, json_t *out)
{
    sqlite3_stmt *st;
    int rc = tb__meta_stmt(db, TB__STMT_EV_PLAN_VERSIONS,
                           "SELECT version, created_at, created_by FROM ev_plan WHERE source = ?1 "
                           "ORDER BY version",
                           &st);
    if (rc) return rc;
    sqlite3_bind_text(st, 1, source, -1, SQLITE_TRANSIENT);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        json_array_append_new(out,
                              json_pack("{s:i,s:s,s:s}", "version", sqlite3_column_int(st, 0),
                                        "created_at", (const char *)sqlite3_column_text(st, 1),
                                        "created_by", (const char *)sqlite3_column_text(st, 2)));
    tb__meta_stmt_done(st);
    return rc == SQLITE_DONE ? 0 : fail(db, TB_ESTORE, "cannot list plan versions");
}

/* ---- real-time rules ------------------------------------------------------------------------ */

int tb__ev_rules_put(tb_db *db, const char *text, const char *user, int *version)
{
    char why[300];
    if (tb__ev_rules_check(text, why, sizeof why)) return fail(db, TB_EFORMAT, why);
    char at[32];
    now_text(at, sizeof at);
    sqlite3_stmt *st;
    int rc = tb__meta_begin(db);
    if (rc) return rc;
    rc = tb__meta_stmt(db, TB__STMT_EV_RULE_ADD,
                       "INSERT INTO ev_rule (version, rules, created_at, created_by) VALUES "
                       "((SELECT coalesce(max(version), 0) + 1 FROM ev_rule), ?1, ?2, ?3) "
                       "RETURNING version",
                       &st);
    if (rc) goto out_rollback;
    sqlite3_bind_text(st, 1, text, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, at, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 3, user ? user : "system", -1, SQLITE_TRANSIENT);
    if (sqlite3_step(st) != SQLITE_ROW) {
        tb__meta_stmt_done(st);
        rc = fail(db, TB_ESTORE, "cannot store the real-time rules");
        goto out_rollback;
    }
    if (version) *version = sqlite3_column_int(st, 0);
    tb__meta_stmt_done(st);
    return tb__meta_commit(db);
out_rollback:
    tb__meta_rollback(db);
    return rc;
}

int tb__ev_rules_get(tb_db *db, char **text, int *version)
{
    *text = NULL;
    sqlite3_stmt *st;
    int rc = tb__meta_stmt(db, TB__STMT_EV_RULE_LATEST,
                           "SELECT version, rules FROM ev_rule ORDER BY version DESC LIMIT 1", &st);
    if (rc) return rc;
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        if (version) *version = sqlite3_column_int(st, 0);
        *text = strdup((const char *)sqlite3_column_text(st, 1));
    }
    tb__meta_stmt_done(st);
    if (rc == SQLITE_DONE) return TB_ENOENT;
    if (rc != SQLITE_ROW) return fail(db, TB_ESTORE, "cannot read the real-time rules");
    return *text ? 0 : fail(db, TB_ENOMEM, "out of memory");
}
