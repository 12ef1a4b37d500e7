/* meta.c — the meta store: meta.db (SQLite in WAL mode) inside the data directory, its schema
 * migrations, the statement cache and transaction helpers engines use (meta.h), and settings. */
#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/clock.h"
#include "common/log.h"
#include "store/mdx.h"
#include "store/metavfs.h"
#include "store/store_int.h"

/* How long a statement waits for a lock another connection holds (a reader's checkpoint, a second
 * handle) before failing with SQLITE_BUSY. Writers are already serialised by LOCK, so waits are
 * short; this only has to outlast them. */
#define BUSY_TIMEOUT_MS 5000

/* The schema, one script per version, applied in order, each in its own transaction together with
 * the PRAGMA user_version that records it. Never edit a script that has shipped: add the next
 * one (and raise TB__META_SCHEMA_VERSION). Static text: this is the only place sqlite3_exec runs.
 */
static const char *const migrations[] = {
    /* 1: settings, and the inventory of extract batches (tagbase scan) */
    "CREATE TABLE setting (\n"
    "    key        TEXT PRIMARY KEY,\n"
    "    value      TEXT NOT NULL,\n"
    "    updated_at TEXT NOT NULL\n"
    ");\n"
    "CREATE TABLE batch (\n"
    "    batch_date    TEXT PRIMARY KEY,\n"
    "    source_dir    TEXT NOT NULL,\n"
    "    scanned_at    TEXT NOT NULL,\n"
    "    files         INTEGER NOT NULL,\n"
    "    rows          INTEGER NOT NULL,\n"
    "    manifest_json TEXT\n"
    ");\n"
    "CREATE TABLE extract_file (\n"
    "    batch_date    TEXT NOT NULL REFERENCES batch ON DELETE CASCADE,\n"
    "    name          TEXT NOT NULL,\n"
    "    business_type TEXT NOT NULL,\n"
    "    data_kind     TEXT NOT NULL,\n"
    "    format        TEXT NOT NULL,\n"
    "    encoding      TEXT NOT NULL,\n"
    "    bytes         INTEGER NOT NULL,\n"
    "    rows          INTEGER NOT NULL,\n"
    "    bad_width     INTEGER NOT NULL,\n"
    "    PRIMARY KEY (batch_date, name)\n"
    ");\n"
    "PRAGMA user_version = 1;\n",

    /* 2: the pipeline — data standards (versions), loads, the general-domain registry of flagged
     * segments, per-file statistics of the five modules, rejected rows by rule, quarantine, and the
     * profile snapshot of each batch. Owned by src/pipeline (standard.c, load.c). */
    "CREATE TABLE standard_version (\n"
    "    version    INTEGER PRIMARY KEY,\n"
    "    source     TEXT NOT NULL,\n"
    "    hash       TEXT NOT NULL UNIQUE,\n"
    "    body       TEXT NOT NULL,\n"
    "    loaded_at  TEXT NOT NULL\n"
    ");\n"
    "CREATE TABLE load (\n"
    "    load_id          INTEGER PRIMARY KEY,\n"
    "    batch_date       TEXT NOT NULL,\n"
    "    standard_version INTEGER NOT NULL,\n"
    "    source           TEXT NOT NULL,\n"
    "    started_at       TEXT NOT NULL,\n"
    "    finished_at      TEXT,\n"
    "    status           TEXT NOT NULL CHECK (status IN ('done', 'failed')),\n"
    "    detail           TEXT\n"
    ");\n"
    "CREATE INDEX load_by_batch ON load (batch_date);\n"
    "CREATE TABLE segment (\n"
    "    batch_date    TEXT NOT NULL,\n"
    "    file          TEXT NOT NULL,\n"
    "    business_type TEXT NOT NULL,\n"
    "    data_kind     TEXT NOT NULL,\n"
    "    source_system TEXT NOT NULL,\n"
    "    load_id       INTEGER NOT NULL REFERENCES load,\n"
    "    path          TEXT NOT NULL,\n"
    "    rows          INTEGER NOT NULL,\n"
    "    bytes         INTEGER NOT NULL,\n"
    "    PRIMARY KEY (batch_date, file)\n"
    ");\n"
    "CREATE TABLE load_file (\n"
    "    load_id       INTEGER NOT NULL REFERENCES load ON DELETE CASCADE,\n"
    "    batch_date    TEXT NOT NULL,\n"
    "    file          TEXT NOT NULL,\n"
    "    business_type TEXT NOT NULL,\n"
    "    data_kind     TEXT NOT NULL,\n"
    "    source_system TEXT NOT NULL,\n"
    "    acquired      INTEGER NOT NULL,\n"
    "    valid         INTEGER NOT NULL,\n"
    "    rejected      INTEGER NOT NULL,\n"
    "    warnings      INTEGER NOT NULL,\n"
    "    aggregated    INTEGER NOT NULL,\n"
    "    transmitted   INTEGER NOT NULL,\n"
    "    allocated     INTEGER NOT NULL,\n"
    "    collected     INTEGER NOT NULL,\n"
    "    completeness  REAL NOT NULL,\n"
    "    validity      REAL NOT NULL,\n"
    "    uniqueness    REAL NOT NULL,\n"
    "    error         TEXT,\n"
    "    PRIMARY KEY (load_id, file)\n"
    ");\n"
    "CREATE TABLE load_rule (\n"
    "    load_id INTEGER NOT NULL REFERENCES load ON DELETE CASCADE,\n"
    "    file    TEXT NOT NULL,\n"
    "    rule    TEXT NOT NULL,\n"
    "    field   TEXT NOT NULL,\n"
    "    count   INTEGER NOT NULL,\n"
    "    PRIMARY KEY (load_id, file, rule, field)\n"
    ");\n"
    "CREATE TABLE quarantine (\n"
    "    load_id    INTEGER NOT NULL REFERENCES load ON DELETE CASCADE,\n"
    "    batch_date TEXT NOT NULL,\n"
    "    file       TEXT NOT NULL,\n"
    "    line       INTEGER NOT NULL,\n"
    "    field      TEXT NOT NULL,\n"
    "    value      TEXT,\n"
    "    rule       TEXT NOT NULL,\n"
    "    PRIMARY KEY (load_id, file, line)\n"
    ");\n"
    "CREATE TABLE snapshot (\n"
    "    batch_date TEXT PRIMARY KEY,\n"
    "    load_id    INTEGER NOT NULL REFERENCES load,\n"
    "    dir        TEXT NOT NULL,\n"
    "    customers  INTEGER NOT NULL,\n"
    "    created_at TEXT NOT NULL\n"
    ");\n"
    "PRAGMA user_version = 2;\n",

    /* 3: master data — golden records (dense internal ids), the keys each source system knows
     * them by, golden-record history, survivorship conflicts, relationships, merges. Owned by
     * src/pipeline/identity.c. */
    "CREATE TABLE party (\n"
    "    gid         INTEGER PRIMARY KEY,\n"
    "    kind        TEXT NOT NULL CHECK (kind IN ('person', 'company')),\n"
    "    cert_type   TEXT,\n"
    "    cert_no     TEXT,\n"
    "    cust_type   TEXT,\n"
    "    name        TEXT,\n"
    "    mobile      TEXT,\n"
    "    merged_into INTEGER REFERENCES party,\n"
    "    attrs       TEXT NOT NULL,\n"
    "    first_batch TEXT NOT NULL,\n"
    "    last_batch  TEXT NOT NULL,\n"
    "    first_load  INTEGER,\n"
    "    last_load   INTEGER\n"
    ");\n"
    "CREATE UNIQUE INDEX party_by_cert ON party (kind, cert_no) WHERE cert_no IS NOT NULL;\n"
    "CREATE INDEX party_by_name ON party (name);\n"
    "CREATE INDEX party_by_mobile ON party (mobile);\n"
    "CREATE TABLE party_key (\n"
    "    system      TEXT NOT NULL,\n"
    "    key         TEXT NOT NULL,\n"
    "    gid         INTEGER NOT NULL REFERENCES party,\n"
    "    first_batch TEXT NOT NULL,\n"
    "    load_id     INTEGER,\n"
    "    PRIMARY KEY (system, key)\n"
    ") WITHOUT ROWID;\n"
    "CREATE INDEX party_key_by_gid ON party_key (gid);\n"
    "CREATE INDEX party_key_by_key ON party_key (key);\n"
    "CREATE TABLE party_history (\n"
    "    id         INTEGER PRIMARY KEY,\n"
    "    gid        INTEGER NOT NULL REFERENCES party,\n"
    "    batch_date TEXT NOT NULL,\n"
    "    load_id    INTEGER,\n"
    "    field      TEXT NOT NULL,\n"
    "    old_value  TEXT,\n"
    "    new_value  TEXT,\n"
    "    source     TEXT NOT NULL,\n"
    "    changed_at TEXT NOT NULL\n"
    ");\n"
    "CREATE INDEX party_history_by_gid ON party_history (gid);\n"
    "CREATE TABLE party_conflict (\n"
    "    id         INTEGER PRIMARY KEY,\n"
    "    gid        INTEGER NOT NULL REFERENCES party,\n"
    "    batch_date TEXT NOT NULL,\n"
    "    load_id    INTEGER,\n"
    "    field      TEXT NOT NULL,\n"
    "    value_a    TEXT NOT NULL,\n"
    "    source_a   TEXT NOT NULL,\n"
    "    value_b    TEXT NOT NULL,\n"
    "    source_b   TEXT NOT NULL,\n"
    "    chosen     TEXT NOT NULL CHECK (chosen IN ('a', 'b'))\n"
    ");\n"
    "CREATE INDEX party_conflict_by_gid ON party_conflict (gid);\n"
    "CREATE TABLE party_relation (\n"
    "    gid        INTEGER NOT NULL REFERENCES party,\n"
    "    rel_type   TEXT NOT NULL,\n"
    "    target     TEXT NOT NULL,\n"
    "    target_gid INTEGER,\n"
    "    role       TEXT,\n"
    "    batch_date TEXT NOT NULL,\n"
    "    load_id    INTEGER,\n"
    "    PRIMARY KEY (gid, rel_type, target)\n"
    ") WITHOUT ROWID;\n"
    "CREATE INDEX party_relation_by_target ON party_relation (rel_type, target);\n"
    "CREATE TABLE merge_log (\n"
    "    merge_id  INTEGER PRIMARY KEY,\n"
    "    action    TEXT NOT NULL CHECK (action IN ('merge', 'unmerge')),\n"
    "    gid_into  INTEGER NOT NULL,\n"
    "    gid_from  INTEGER NOT NULL,\n"
    "    who       TEXT NOT NULL,\n"
    "    reason    TEXT,\n"
    "    at        TEXT NOT NULL,\n"
    "    undone_by INTEGER REFERENCES merge_log\n"
    ");\n"
    "CREATE INDEX merge_log_by_from ON merge_log (gid_from);\n"
    "CREATE TABLE merge_key (\n"
    "    merge_id INTEGER NOT NULL REFERENCES merge_log,\n"
    "    system   TEXT NOT NULL,\n"
    "    key      TEXT NOT NULL,\n"
    "    PRIMARY KEY (merge_id, system, key)\n"
    ");\n"
    "PRAGMA user_version = 3;\n",

    /* 4: the tag centre (src/tags/catalog.c: themes, tags, versions, lifecycle and approvals),
     * tag builds (src/tags/build.c: one immutable tag store per batch date, its per-tag coverage
     * and value distribution, usage counters) and saved segments (src/segments/cseg.c: dynamic or
     * imported, membership per batch date kept as bitmap files). */
    "CREATE TABLE tag_theme (\n"
    "    code        TEXT PRIMARY KEY,\n"
    "    parent      TEXT REFERENCES tag_theme,\n"
    "    level       INTEGER NOT NULL CHECK (level IN (1, 2)),\n"
    "    name_zh     TEXT NOT NULL,\n"
    "    name_en     TEXT NOT NULL,\n"
    "    cust_types  TEXT NOT NULL,\n"
    "    ord         INTEGER NOT NULL\n"
    ");\n"
    "CREATE TABLE tag (\n"
    "    code           TEXT PRIMARY KEY,\n"
    "    theme          TEXT NOT NULL REFERENCES tag_theme,\n"
    "    status         TEXT NOT NULL CHECK (status IN ('draft', 'in_review', 'online', "
    "'offline')),\n"
    "    version        INTEGER NOT NULL,\n"
    "    online_version INTEGER,\n"
    "    created_at     TEXT NOT NULL,\n"
    "    updated_at     TEXT NOT NULL\n"
    ");\n"
    "CREATE TABLE tag_version (\n"
    "    code       TEXT NOT NULL REFERENCES tag,\n"
    "    version    INTEGER NOT NULL,\n"
    "    definition TEXT NOT NULL,\n"
    "    hash       TEXT NOT NULL,\n"
    "    author     TEXT NOT NULL,\n"
    "    created_at TEXT NOT NULL,\n"
    "    comment    TEXT,\n"
    "    PRIMARY KEY (code, version)\n"
    ") WITHOUT ROWID;\n"
    "CREATE TABLE tag_event (\n"
    "    id      INTEGER PRIMARY KEY,\n"
    "    code    TEXT NOT NULL REFERENCES tag,\n"
    "    version INTEGER NOT NULL,\n"
    "    action  TEXT NOT NULL CHECK (action IN ('create', 'edit', 'submit', 'approve', 'reject',\n"
    "                                            'publish', 'offline', 'withdraw')),\n"
    "    actor   TEXT NOT NULL,\n"
    "    at      TEXT NOT NULL,\n"
    "    comment TEXT\n"
    ");\n"
    "CREATE INDEX tag_event_by_code ON tag_event (code, id);\n"
    "CREATE TABLE tag_build (\n"
    "    build_id    INTEGER PRIMARY KEY,\n"
    "    batch_date  TEXT NOT NULL,\n"
    "    dir         TEXT NOT NULL,\n"
    "    snapshot    TEXT NOT NULL,\n"
    "    customers   INTEGER NOT NULL,\n"
    "    tags        INTEGER NOT NULL,\n"
    "    bytes       INTEGER NOT NULL,\n"
    "    millis      INTEGER NOT NULL,\n"
    "    built_at    TEXT NOT NULL,\n"
    "    current     INTEGER NOT NULL DEFAULT 1\n"
    ");\n"
    "CREATE INDEX tag_build_by_batch ON tag_build (batch_date, current);\n"
    "CREATE TABLE tag_stat (\n"
    "    build_id     INTEGER NOT NULL REFERENCES tag_build ON DELETE CASCADE,\n"
    "    code         TEXT NOT NULL,\n"
    "    version      INTEGER NOT NULL,\n"
    "    coverage     INTEGER NOT NULL,\n"
    "    distribution TEXT NOT NULL,\n"
    "    PRIMARY KEY (build_id, code)\n"
    ") WITHOUT ROWID;\n"
    "CREATE TABLE tag_usage (\n"
    "    code    TEXT NOT NULL,\n"
    "    day     TEXT NOT NULL,\n"
    "    queries INTEGER NOT NULL,\n"
    "    PRIMARY KEY (code, day)\n"
    ") WITHOUT ROWID;\n"
    "CREATE TABLE cseg (\n"
    "    name        TEXT PRIMARY KEY,\n"
    "    kind        TEXT NOT NULL CHECK (kind IN ('dynamic', 'static')),\n"
    "    expr        TEXT,\n"
    "    description TEXT,\n"
    "    owner       TEXT NOT NULL,\n"
    "    created_at  TEXT NOT NULL,\n"
    "    updated_at  TEXT NOT NULL\n"
    ");\n"
    "CREATE TABLE cseg_tag (\n"
    "    name TEXT NOT NULL REFERENCES cseg ON DELETE CASCADE,\n"
    "    code TEXT NOT NULL,\n"
    "    PRIMARY KEY (name, code)\n"
    ") WITHOUT ROWID;\n"
    "CREATE INDEX cseg_tag_by_code ON cseg_tag (code);\n"
    "CREATE TABLE cseg_member (\n"
    "    name       TEXT NOT NULL REFERENCES cseg ON DELETE CASCADE,\n"
    "    batch_date TEXT NOT NULL,\n"
    "    build_id   INTEGER,\n"
    "    customers  INTEGER NOT NULL,\n"
    "    file       TEXT NOT NULL,\n"
    "    created_at TEXT NOT NULL,\n"
    "    PRIMARY KEY (name, batch_date)\n"
    ") WITHOUT ROWID;\n"
    "PRAGMA user_version = 4;\n",

    /* 5: security (src/security/): users and their roles and scopes, custom roles, console
     * sessions, API tokens (stored hashed), and the append-only, hash-chained audit log. */
    "CREATE TABLE role (\n"
    "    name        TEXT PRIMARY KEY,\n"
    "    perms       TEXT NOT NULL,\n"
    "    builtin     INTEGER NOT NULL,\n"
    "    description TEXT NOT NULL\n"
    ");\n"
    "CREATE TABLE user (\n"
    "    user_id      INTEGER PRIMARY KEY,\n"
    "    name         TEXT NOT NULL UNIQUE,\n"
    "    role         TEXT NOT NULL REFERENCES role,\n"
    "    scope_kind   TEXT NOT NULL CHECK (scope_kind IN ('all', 'org', 'manager')),\n"
    "    scope_id     TEXT,\n"
    "    pw_hash      TEXT NOT NULL,\n"
    "    must_change  INTEGER NOT NULL DEFAULT 0,\n"
    "    disabled     INTEGER NOT NULL DEFAULT 0,\n"
    "    blocked      TEXT,\n"
    "    created_at   TEXT NOT NULL,\n"
    "    updated_at   TEXT NOT NULL\n"
    ");\n"
    "CREATE TABLE session (\n"
    "    id_hash    TEXT PRIMARY KEY,\n"
    "    user_id    INTEGER NOT NULL REFERENCES user ON DELETE CASCADE,\n"
    "    csrf       TEXT NOT NULL,\n"
    "    created_at TEXT NOT NULL,\n"
    "    expires_at TEXT NOT NULL,\n"
    "    remote     TEXT\n"
    ") WITHOUT ROWID;\n"
    "CREATE TABLE api_token (\n"
    "    token_id   INTEGER PRIMARY KEY,\n"
    "    user_id    INTEGER NOT NULL REFERENCES user ON DELETE CASCADE,\n"
    "    name       TEXT NOT NULL,\n"
    "    hash       TEXT NOT NULL UNIQUE,\n"
    "    perms      TEXT NOT NULL,\n"
    "    created_at TEXT NOT NULL,\n"
    "    expires_at TEXT NOT NULL,\n"
    "    revoked_at TEXT\n"
    ");\n"
    "CREATE TABLE audit (\n"
    "    seq       INTEGER PRIMARY KEY,\n"
    "    at        TEXT NOT NULL,\n"
    "    actor     TEXT NOT NULL,\n"
    "    role      TEXT,\n"
    "    remote    TEXT,\n"
    "    action    TEXT NOT NULL,\n"
    "    object    TEXT,\n"
    "    detail    TEXT,\n"
    "    outcome   TEXT NOT NULL,\n"
    "    prev_hash TEXT NOT NULL,\n"
    "    hash      TEXT NOT NULL\n"
    ");\n"
    "CREATE INDEX audit_by_actor ON audit (actor, seq);\n"
    "PRAGMA user_version = 5;\n",

    /* 6: maker-checker approvals, the consent ledger (PIPL: current decision per customer,
     * purpose and channel, and every grant and withdrawal), and the per-user, per-minute access
     * counters behind the abnormal-access alerts (src/security/approval.c, consent.c, access.c). */
    "CREATE TABLE approval (\n"
    "    approval_id INTEGER PRIMARY KEY,\n"
    "    kind        TEXT NOT NULL,\n"
    "    requester   TEXT NOT NULL,\n"
    "    payload     TEXT NOT NULL,\n"
    "    status      TEXT NOT NULL\n"
    "                CHECK (status IN ('pending', 'approved', 'rejected', 'used', 'expired')),\n"
    "    created_at  TEXT NOT NULL,\n"
    "    expires_at  TEXT NOT NULL,\n"
    "    decided_by  TEXT,\n"
    "    decided_at  TEXT,\n"
    "    comment     TEXT,\n"
    "    used_at     TEXT\n"
    ");\n"
    "CREATE INDEX approval_by_status ON approval (status, approval_id);\n"
    "CREATE TABLE consent_event (\n"
    "    event_id INTEGER PRIMARY KEY,\n"
    "    gid      INTEGER NOT NULL,\n"
    "    purpose  TEXT NOT NULL,\n"
    "    channel  TEXT NOT NULL,\n"
    "    granted  INTEGER NOT NULL CHECK (granted IN (0, 1)),\n"
    "    source   TEXT NOT NULL,\n"
    "    actor    TEXT NOT NULL,\n"
    "    at       TEXT NOT NULL\n"
    ");\n"
    "CREATE INDEX consent_event_by_gid ON consent_event (gid, event_id);\n"
    "CREATE TABLE consent (\n"
    "    purpose    TEXT NOT NULL,\n"
    "    channel    TEXT NOT NULL,\n"
    "    gid        INTEGER NOT NULL,\n"
    "    granted    INTEGER NOT NULL CHECK (granted IN (0, 1)),\n"
    "    event_id   INTEGER NOT NULL REFERENCES consent_event,\n"
    "    updated_at TEXT NOT NULL,\n"
    "    PRIMARY KEY (purpose, channel, gid)\n"
    ") WITHOUT ROWID;\n"
    "CREATE INDEX consent_by_gid ON consent (gid);\n"
    "CREATE TABLE access_counter (\n"
    "    user_id INTEGER NOT NULL REFERENCES user ON DELETE CASCADE,\n"
    "    kind    TEXT NOT NULL,\n"
    "    minute  INTEGER NOT NULL,\n"
    "    n       INTEGER NOT NULL,\n"
    "    PRIMARY KEY (user_id, kind, minute)\n"
    ") WITHOUT ROWID;\n"
    "PRAGMA user_version = 6;\n",

    /* 7: login lock-out: consecutive failed logins and the time the lock ends (src/security/
     * users.c; docs/security.md, "Login lock-out"). */
    "ALTER TABLE user ADD COLUMN failed_logins INTEGER NOT NULL DEFAULT 0;\n"
    "ALTER TABLE user ADD COLUMN locked_until TEXT;\n"
    "PRAGMA user_version = 7;\n",
    /* 8: event tracking (src/events/; docs/events.md): the apps that send events with their
     * write keys (stored hashed) and policy for events the plan does not know, the tracking plan
     * per app with every version kept, and the real-time tag rules with theirs. */
    "CREATE TABLE ev_source (\n"
    "  id INTEGER PRIMARY KEY,\n"
    "  name TEXT NOT NULL UNIQUE,\n"
    "  project TEXT NOT NULL,\n"
    "  key_hash BLOB NOT NULL UNIQUE,\n"
    "  key_hint TEXT NOT NULL,\n"
    "  unknown_events TEXT NOT NULL DEFAULT 'accept'\n"
    "    CHECK (unknown_events IN ('accept', 'flag', 'quarantine')),\n"
    "  created_at TEXT NOT NULL,\n"
    "  created_by TEXT NOT NULL,\n"
    "  revoked_at TEXT\n"
    ");\n"
    "CREATE TABLE ev_plan (\n"
    "  source TEXT NOT NULL,\n"
    "  version INTEGER NOT NULL,\n"
    "  plan TEXT NOT NULL,\n"
    "  created_at TEXT NOT NULL,\n"
    "  created_by TEXT NOT NULL,\n"
    "  PRIMARY KEY (source, version)\n"
    ");\n"
    "CREATE TABLE ev_rule (\n"
    "  version INTEGER PRIMARY KEY,\n"
    "  rules TEXT NOT NULL,\n"
    "  created_at TEXT NOT NULL,\n"
    "  created_by TEXT NOT NULL\n"
    ");\n"
    "PRAGMA user_version = 8;\n",
    /* 9: erasure of a person (src/security/erase.c; docs/security.md, "Erasure"): the golden
     * record stays as a tombstone (erased_at set, every personal column blank) so that dense gids
     * stay stable; each erasure keeps who asked, who approved, the report and its proof, and only
     * keyed hashes of the person's identifiers (a later load of the same person is recognised). */
    "ALTER TABLE party ADD COLUMN erased_at TEXT;\n"
    "CREATE TABLE erasure (\n"
    "    erasure_id  INTEGER PRIMARY KEY,\n"
    "    gid         INTEGER NOT NULL,\n"
    "    gids        TEXT NOT NULL,\n"
    "    approval_id INTEGER,\n"
    "    actor       TEXT NOT NULL,\n"
    "    at          TEXT NOT NULL,\n"
    "    report      TEXT NOT NULL,\n"
    "    verified_at TEXT,\n"
    "    proof       TEXT\n"
    ");\n"
    "CREATE TABLE erasure_hash (\n"
    "    erasure_id INTEGER NOT NULL REFERENCES erasure,\n"
    "    kind       TEXT NOT NULL,\n"
    "    hash       TEXT NOT NULL,\n"
    "    len        INTEGER NOT NULL,\n"
    "    PRIMARY KEY (erasure_id, kind, hash)\n"
    ") WITHOUT ROWID;\n"
    "CREATE INDEX erasure_hash_by_hash ON erasure_hash (hash);\n"
    "PRAGMA user_version = 9;\n",
    /* 10: encryption at rest of C2 fields (src/store/crypt.c; docs/security.md, "Encryption at
     * rest"): the keys the directory needs (the active one with its check value, the retired ones)
     * and the sealed copies of the values whose column holds a blind index when encrypted. */
    "ALTER TABLE party ADD COLUMN cert_enc TEXT;\n"
    "ALTER TABLE party_relation ADD COLUMN target_enc TEXT;\n"
    "CREATE TABLE c2_key (\n"
    "    key_id      INTEGER PRIMARY KEY,\n"
    "    check_value TEXT NOT NULL,\n"
    "    state       TEXT NOT NULL CHECK (state IN ('active', 'retired')),\n"
    "    since       TEXT NOT NULL,\n"
    "    retired_at  TEXT\n"
    ");\n"
    "PRAGMA user_version = 10;\n",
    /* 11: no index of party_key by key alone. A look-up by customer number in any system probes
     * the primary key (system, key) once per source system (a handful; identity_md.c), and every
     * first load no longer sorts a million keys more per million customers into an index. */
    "DROP INDEX party_key_by_key;\n"
    "PRAGMA user_version = 11;\n",
    /* 12: the look-ups of golden records by certificate, mobile and name, and of the keys of a
     * golden record, move from SQLite indexes to the look-up image each load writes
     * (src/store/mdx.c; docs/identity.md, "The look-up image"); md_image names the current one.
     * A store without a row gets its image rebuilt from these tables on first use. The keys a
     * merge moved to a gid are found by merge_log's gid_into, now indexed. */
    "DROP INDEX party_by_cert;\n"
    "DROP INDEX party_by_name;\n"
    "DROP INDEX party_by_mobile;\n"
    "DROP INDEX party_key_by_gid;\n"
    "CREATE INDEX merge_log_by_into ON merge_log (gid_into);\n"
    "CREATE TABLE md_image (\n"
    "    id         INTEGER PRIMARY KEY CHECK (id = 1),\n"
    "    file       TEXT NOT NULL,\n"
    "    load_id    INTEGER,\n"
    "    created_at TEXT NOT NULL\n"
    ");\n"
    "PRAGMA user_version = 12;\n",
};

_Static_assert(sizeof migrations / sizeof migrations[0] == TB__META_SCHEMA_VERSION,
               "one migration script per schema version");

sqlite3 *tb__db_sqlite(tb_db *db)
{
    return db->sql;
}

tb__errbuf *tb__db_err(tb_db *db)
{
    return &db->err;
}

int tb__db_check_writable(tb_db *db)
{
    if (db->flags & TB_OPEN_READONLY)
        return tb__seterr(&db->err, TB_EPERM, "data directory '%s' was opened read-only", db->path);
    return 0;
}

int tb__meta_seterr_sqlite(tb_db *db, int sqlite_rc, const char *what)
{
    int code = TB_ESTORE;
    switch (sqlite_rc & 0xff) {
    case SQLITE_NOMEM:
        code = TB_ENOMEM;
        break;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
        code = TB_ECORRUPT;
        break;
    case SQLITE_READONLY:
        code = TB_EPERM;
        break;
    default:
        break;
    }
    /* The connection's message is specific ("UNIQUE constraint failed: batch.batch_date") but
     * only if it belongs to this error; otherwise fall back to the code's generic text. */
    const char *msg = sqlite3_errstr(sqlite_rc);
    if (db->sql && (sqlite3_extended_errcode(db->sql) & 0xff) == (sqlite_rc & 0xff))
        msg = sqlite3_errmsg(db->sql);
    return tb__seterr(&db->err, code, "%s: %s", what, msg);
}

int tb__meta_stmt(tb_db *db, tb__stmt_id id, const char *sql, sqlite3_stmt **out)
{
    *out = NULL;
    assert((unsigned)id < TB__STMT_COUNT);
    if ((unsigned)id >= TB__STMT_COUNT)
        return tb__seterr(&db->err, TB_EINVAL, "statement id %d out of range", (int)id);
    sqlite3_stmt *st = db->stmt[id];
    if (st) {
        assert(strcmp(sqlite3_sql(st), sql) == 0); /* one id, one statement */
        tb__meta_stmt_done(st); /* in case a caller forgot: never hand out a half-run statement */
        *out = st;
        return 0;
    }
    /* PERSISTENT: these live as long as the handle, so let SQLite keep them out of its lookaside.
     */
    int rc = sqlite3_prepare_v3(db->sql, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL);
    if (rc != SQLITE_OK) {
        char what[160];
        snprintf(what, sizeof what, "cannot prepare '%.100s'", sql);
        return tb__meta_seterr_sqlite(db, rc, what);
    }
    if (!st) return tb__seterr(&db->err, TB_EINVAL, "empty SQL for statement id %d", (int)id);
    db->stmt[id] = st;
    *out = st;
    return 0;
}

void tb__meta_stmt_done(sqlite3_stmt *st)
{
    if (!st) return;
    /* The return value of reset repeats the last step's error, which the step already reported. */
    (void)sqlite3_reset(st);
    (void)sqlite3_clear_bindings(st);
}

int tb__meta_run(tb_db *db, sqlite3_stmt *st, const char *what)
{
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        /* a RETURNING clause's rows: the caller asked only for the effect */
    }
    int err = rc == SQLITE_DONE ? 0 : tb__meta_seterr_sqlite(db, rc, what);
    tb__meta_stmt_done(st);
    return err;
}

int tb__meta_begin(tb_db *db)
{
    int rc = tb__db_check_writable(db);
    if (rc) return rc;
    if (!sqlite3_get_autocommit(db->sql))
        return tb__seterr(&db->err, TB_EINVAL, "a meta-store transaction is already open");
    sqlite3_stmt *st;
    rc = tb__meta_stmt(db, TB__STMT_BEGIN, "BEGIN IMMEDIATE", &st);
    if (rc) return rc;
    return tb__meta_run(db, st, "cannot begin a meta-store transaction");
}

/* Foreign-key enforcement can only change outside a transaction. */
static int foreign_keys(tb_db *db, int on)
{
    sqlite3_stmt *st;
    int rc = tb__meta_stmt(db, on ? TB__STMT_FK_ON : TB__STMT_FK_OFF,
                           on ? "PRAGMA foreign_keys = ON" : "PRAGMA foreign_keys = OFF", &st);
    if (rc == 0) rc = tb__meta_run(db, st, "cannot switch foreign-key checks");
    return rc;
}

int tb__meta_begin_bulk(tb_db *db)
{
    int rc = tb__db_check_writable(db);
    if (rc) return rc;
    if (!sqlite3_get_autocommit(db->sql))
        return tb__seterr(&db->err, TB_EINVAL, "a meta-store transaction is already open");
    rc = foreign_keys(db, 0);
    if (rc) return rc;
    db->bulk = 1;
    rc = tb__meta_begin(db);
    if (rc) {
        db->bulk = 0;
        foreign_keys(db, 1);
    }
    return rc;
}

int tb__meta_sync_log(tb_db *db)
{
    sqlite3_file *f = NULL;
    if (sqlite3_file_control(db->sql, "main", SQLITE_FCNTL_JOURNAL_POINTER, &f) != SQLITE_OK ||
        !f || !f->pMethods)
        return 0; /* no log open: nothing to sync */
    int src = f->pMethods->xSync(f, SQLITE_SYNC_NORMAL);
    return src == SQLITE_OK ? 0
                            : tb__meta_seterr_sqlite(db, src, "cannot sync the write-ahead log");
}

#define WAL_AUTOCHECKPOINT 1000 /* pages: SQLite's own default */
#define SORT_CACHE_KIB     4096 /* bench/RESULTS.md: 2-8 MiB runs sort fastest on this machine */

int tb__meta_flush(tb_db *db)
{
    if (sqlite3_get_autocommit(db->sql))
        return tb__seterr(&db->err, TB_EINVAL, "no meta-store transaction to flush");
    int src = sqlite3_db_cacheflush(db->sql);
    return src == SQLITE_OK ? 0 : tb__meta_seterr_sqlite(db, src, "cannot flush the transaction");
}

int tb__meta_sort_mode(tb_db *db, int on)
{
    char sql[96];
    if (on) {
        int rc = tb__meta_flush(db);
        sqlite3_stmt *st;
        if (!rc) rc = tb__meta_stmt(db, TB__STMT_CACHE_SIZE, "PRAGMA cache_size", &st);
        if (rc) return rc;
        int src = sqlite3_step(st);
        if (src != SQLITE_ROW) {
            tb__meta_stmt_done(st);
            return tb__meta_seterr_sqlite(db, src, "cannot read the cache size");
        }
        db->sort_saved_cache = sqlite3_column_int(st, 0);
        db->sort_saved = 1;
        tb__meta_stmt_done(st);
        snprintf(sql, sizeof sql, "PRAGMA cache_size = %d; PRAGMA threads = 2", -SORT_CACHE_KIB);
    } else if (db->sort_saved) {
        snprintf(sql, sizeof sql, "PRAGMA cache_size = %d; PRAGMA threads = 0",
                 db->sort_saved_cache);
        db->sort_saved = 0;
    } else {
        snprintf(sql, sizeof sql, "PRAGMA threads = 0"); /* sort mode never got as far */
    }
    char *msg = NULL;
    int src = sqlite3_exec(db->sql, sql, NULL, NULL, &msg);
    sqlite3_free(msg);
    return src == SQLITE_OK ? 0 : tb__meta_seterr_sqlite(db, src, "cannot set the sort mode");
}

/* After a bulk transaction ends (either way), checks are on again for everyone else. */
static void end_bulk(tb_db *db)
{
    if (!db->bulk) return;
    db->bulk = 0;
    tb__errbuf saved = db->err;
    if (foreign_keys(db, 1)) tb__log_warn("store", "%s", db->err.msg);
    db->err = saved;
}

int tb__meta_checkpoint(tb_db *db, uint64_t *direct_bytes)
{
    if (direct_bytes) *direct_bytes = 0;
    sqlite3_file *f = NULL;
    if (sqlite3_file_control(db->sql, "main", SQLITE_FCNTL_FILE_POINTER, &f) != SQLITE_OK) f = NULL;
    tb__metavfs_direct(f, 1, NULL);
    int src = sqlite3_wal_checkpoint_v2(db->sql, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
    int src2 = tb__metavfs_direct(f, 0, direct_bytes);
    if (src == SQLITE_OK && src2 != SQLITE_OK) src = src2;
    return src == SQLITE_OK ? 0
                            : tb__meta_seterr_sqlite(db, src, "cannot checkpoint the meta store");
}

int tb__meta_commit(tb_db *db)
{
    sqlite3_stmt *st;
    int bulk = db->bulk;
    int rc = tb__meta_stmt(db, TB__STMT_COMMIT, "COMMIT", &st);
    /* A bulk transaction's log is copied into the database by tb__meta_checkpoint below, past
     * the page cache, rather than by the checkpoint SQLite runs itself after a large COMMIT. */
    if (bulk) sqlite3_wal_autocheckpoint(db->sql, 0);
    if (rc == 0) rc = tb__meta_run(db, st, "cannot commit a meta-store transaction");
    /* A COMMIT that fails (SQLITE_BUSY, I/O) leaves the transaction open; end it here so that
     * the caller's "it's over either way" holds. */
    if (rc) tb__meta_rollback(db);
    end_bulk(db);
    if (bulk) {
        sqlite3_wal_autocheckpoint(db->sql, WAL_AUTOCHECKPOINT);
        /* The transaction is durable in the log: a checkpoint that fails leaves it there for
         * the next one (docs/storage.md, "Checkpoints past the page cache", for the one case it
         * cannot, which is logged as an error). */
        if (!rc) {
            tb__errbuf saved = db->err;
            uint64_t direct;
            struct timespec t0;
            clock_gettime(CLOCK_MONOTONIC, &t0);
            if (tb__meta_checkpoint(db, &direct))
                tb__log_error("store", "%s (the transaction is committed; run 'tagbase check')",
                              db->err.msg);
            else
                tb__log_debug("store", "checkpoint: %.2f s, %" PRIu64 " MB past the page cache",
                              tb__seconds_since(&t0), direct >> 20);
            db->err = saved;
        }
    }
    return rc;
}

void tb__meta_rollback(tb_db *db)
{
    if (!db->sql || sqlite3_get_autocommit(db->sql)) return; /* nothing open */
    tb__errbuf saved = db->err; /* the caller's error is the one worth reporting */
    sqlite3_stmt *st;
    int rc = tb__meta_stmt(db, TB__STMT_ROLLBACK, "ROLLBACK", &st);
    if (rc == 0) rc = tb__meta_run(db, st, "cannot roll back a meta-store transaction");
    if (rc) tb__log_warn("store", "%s", db->err.msg);
    db->err = saved;
    end_bulk(db);
}

/* Runs one static PRAGMA and, when `expect` is given, checks the value it reports: SQLite answers
 * "delete" to "journal_mode=WAL" when it cannot switch, rather than failing. */
static int pragma(tb_db *db, const char *path, const char *sql, const char *expect)
{
    char what[TB__ERRMSG_MAX / 2];
    snprintf(what, sizeof what, "meta store '%s': cannot run '%s'", path, sql);
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db->sql, sql, -1, &st, NULL);
    if (rc != SQLITE_OK) return tb__meta_seterr_sqlite(db, rc, what);
    int mismatch = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *got = (const char *)sqlite3_column_text(st, 0);
        if (expect && (!got || strcmp(got, expect) != 0)) mismatch = 1;
    }
    int err = rc == SQLITE_DONE ? 0 : tb__meta_seterr_sqlite(db, rc, what);
    sqlite3_finalize(st);
    if (!err && mismatch)
        err = tb__seterr(&db->err, TB_ESTORE, "%s: the store did not switch to '%s'", what, expect);
    return err;
}

int tb__meta_cache_limit(tb_db *db, int mib)
{
    char sql[64];
    snprintf(sql, sizeof sql, "PRAGMA cache_size = -%d", mib > 0 ? mib * 1024 : 2048);
    return pragma(db, tb_db_path(db), sql, NULL);
}

int tb_db_schema_version(tb_db *db, int *out)
{
    *out = 0;
    tb__clearerr(&db->err);
    sqlite3_stmt *st;
    int rc = tb__meta_stmt(db, TB__STMT_USER_VERSION, "PRAGMA user_version", &st);
    if (rc) return rc;
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *out = sqlite3_column_int(st, 0);
        rc = 0;
    } else {
        rc = tb__meta_seterr_sqlite(db, rc, "cannot read the meta-store schema version");
    }
    tb__meta_stmt_done(st);
    return rc;
}

/* Applies migration `v` + 1 in one transaction together with the user_version it sets, so that a
 * crash or failure leaves the store at a well-defined version that the next open continues from. */
static int apply_migration(tb_db *db, int v)
{
    char what[96];
    snprintf(what, sizeof what, "cannot apply meta-store migration %d", v + 1);
    int rc = tb__meta_begin(db);
    if (rc) return rc;
    int src = sqlite3_exec(db->sql, migrations[v], NULL, NULL, NULL);
    if (src != SQLITE_OK) {
        rc = tb__meta_seterr_sqlite(db, src, what);
        goto out_rollback;
    }
    int now;
    rc = tb_db_schema_version(db, &now);
    if (rc) goto out_rollback;
    if (now != v + 1) { /* a script that forgot its PRAGMA user_version: a bug of ours */
        rc = tb__seterr(&db->err, TB_ERR, "%s: it left user_version at %d", what, now);
        goto out_rollback;
    }
    return tb__meta_commit(db);

out_rollback:
    tb__meta_rollback(db);
    return rc;
}

/* Brings a writer's store up to TB__META_SCHEMA_VERSION, one migration at a time. */
static int migrate(tb_db *db)
{
    for (int v = db->schema; v < TB__META_SCHEMA_VERSION; v++) {
        int rc = apply_migration(db, v);
        if (rc) return rc;
        db->schema = v + 1;
        db->actions |= TB_DB_MIGRATED;
        tb__log_debug("store", "meta store of '%s' migrated to schema %d", db->path, v + 1);
    }
    return 0;
}

int tb__meta_open(tb_db *db, int create)
{
    int writer = !(db->flags & TB_OPEN_READONLY);
    char *path = tb__db_join(db, TB__META_FILE);
    if (!path) return tb__seterr(&db->err, TB_ENOMEM, "out of memory");

    int rc;
    char what[TB__ERRMSG_MAX / 2];
    snprintf(what, sizeof what, "cannot open meta store '%s'", path);
    int oflags = (writer ? SQLITE_OPEN_READWRITE : SQLITE_OPEN_READONLY) |
                 (writer && create ? SQLITE_OPEN_CREATE : 0) | SQLITE_OPEN_NOMUTEX |
                 SQLITE_OPEN_EXRESCODE;
    int src = sqlite3_open_v2(path, &db->sql, oflags, tb__metavfs_name());
    if (src != SQLITE_OK) {
        rc = tb__meta_seterr_sqlite(db, src, what);
        goto out_free;
    }
    /* Hardening: no writable_schema tricks, no double-quoted strings silently taken as literals,
     * no SQL functions run from inside the schema. */
    sqlite3_db_config(db->sql, SQLITE_DBCONFIG_DEFENSIVE, 1, (int *)NULL);
    sqlite3_db_config(db->sql, SQLITE_DBCONFIG_DQS_DDL, 0, (int *)NULL);
    sqlite3_db_config(db->sql, SQLITE_DBCONFIG_DQS_DML, 0, (int *)NULL);
    sqlite3_db_config(db->sql, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, (int *)NULL);
    sqlite3_busy_timeout(db->sql, BUSY_TIMEOUT_MS);

    /* Foreign keys are per connection and off by default; extract_file depends on them. */
    rc = pragma(db, path, "PRAGMA foreign_keys = ON", NULL);
    if (!rc) rc = tb__meta_rows_register(db);
    if (rc) goto out_free;
    if (writer && create) {
        /* 16 KiB pages, for a new store only (a store's page size is fixed once it holds a table,
         * and in WAL mode for good): a first load writes millions of master-data rows and rebuilds
         * their indexes; with a quarter of the pages, the B-trees are shallower and the WAL has
         * fewer frames to checksum and copy. 1M-customer load, alternating runs: identity rows
         * 3.7-3.9 s and indexes 3.0-3.1 s against 4.3 s and 3.6-4.3 s with 4 KiB pages; 64 KiB
         * was no better (bench/RESULTS.md). */
        rc = pragma(db, path, "PRAGMA page_size = 16384", NULL);
        if (rc) goto out_free;
    }
    if (writer) {
        /* WAL: readers (status, the server) never block the writer nor it them. It is persistent
         * in the file, so readers find it set. synchronous=FULL: the WAL is fsynced at every
         * commit, so a commit that returned survives a power cut; NORMAL could lose the last
         * ones. Our commits are few and large (a batch, a definition, an approval), so the cost
         * is one fsync each; see docs/storage.md. */
        rc = pragma(db, path, "PRAGMA journal_mode = WAL", "wal");
        if (rc) goto out_free;
        rc = pragma(db, path, "PRAGMA synchronous = FULL", NULL);
        if (rc) goto out_free;
        /* A load commits millions of master-data rows in one transaction; with SQLite's default
         * 2 MB page cache the transaction spills and rereads pages tens of millions of times
         * (measured: 22M pread/pwrite calls for a 1M-customer load). 1 GB keeps a 1M-customer load
         * in memory; the cache is only allocated as it fills. */
        rc = pragma(db, path, "PRAGMA cache_size = -1048576", NULL);
        if (rc) goto out_free;
    }

    rc = tb_db_schema_version(db, &db->schema_open);
    if (rc) goto out_free;
    db->schema = db->schema_open;
    if (db->schema > TB__META_SCHEMA_VERSION) {
        rc = tb__seterr(&db->err, TB_EVERSION,
                        "meta store '%s' has schema version %d; this tagbase %s knows up to %d: "
                        "upgrade tagbase",
                        path, db->schema, TB_VERSION_STRING, TB__META_SCHEMA_VERSION);
        goto out_free;
    }
    /* Readers take the schema as they find it: they must not write, and an older store still
     * answers what it has. tagbase init (a writer) upgrades it. */
    if (writer) rc = migrate(db);

out_free:
    free(path);
    return rc;
}

void tb__meta_close(tb_db *db)
{
    /* A transaction a caller left open is not committed behind its back. The rollback prepares a
     * cached statement, so it comes before the statements are finalised: sqlite3_close fails
     * (and leaks the connection) while any statement is left. */
    if (db->sql) tb__meta_rollback(db);
    tb__mdx_forget(db);
    for (int i = 0; i < TB__STMT_COUNT; i++) {
        sqlite3_finalize(db->stmt[i]);
        db->stmt[i] = NULL;
    }
    if (!db->sql) return;
    if (!(db->flags & TB_OPEN_READONLY)) {
        /* Copy the WAL into the database while we still hold LOCK. SQLite would also do it when
         * the last connection closes, but not while a reader is open. */
        int rc = sqlite3_wal_checkpoint_v2(db->sql, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
        if (rc != SQLITE_OK && rc != SQLITE_BUSY)
            tb__log_debug("store", "checkpoint of '%s' failed: %s", db->path, sqlite3_errstr(rc));
    }
    int rc = sqlite3_close(db->sql);
    if (rc != SQLITE_OK)
        tb__log_warn("store", "cannot close meta store of '%s': %s", db->path, sqlite3_errstr(rc));
    db->sql = NULL;
}

int tb_db_get_setting(tb_db *db, const char *key, char **out)
{
    *out = NULL;
    tb__clearerr(&db->err);
    if (!key || !*key) return tb__seterr(&db->err, TB_EINVAL, "empty setting name");
    sqlite3_stmt *st;
    int rc =
        tb__meta_stmt(db, TB__STMT_SETTING_GET, "SELECT value FROM setting WHERE key = ?1", &st);
    if (rc) return rc;
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    int src = sqlite3_step(st);
    if (src == SQLITE_ROW) {
        const char *v = (const char *)sqlite3_column_text(st, 0);
        *out = strdup(v ? v : "");
        rc = *out ? 0 : tb__seterr(&db->err, TB_ENOMEM, "out of memory");
    } else if (src == SQLITE_DONE) {
        rc = tb__seterr(&db->err, TB_ENOENT, "setting '%s' is not set", key);
    } else {
        char what[128];
        snprintf(what, sizeof what, "cannot read setting '%.64s'", key);
        rc = tb__meta_seterr_sqlite(db, src, what);
    }
    tb__meta_stmt_done(st);
    return rc;
}

int tb_db_set_setting(tb_db *db, const char *key, const char *value)
{
    tb__clearerr(&db->err);
    if (!key || !*key || !value)
        return tb__seterr(&db->err, TB_EINVAL, "setting needs a name and a value");
    int rc = tb__db_check_writable(db);
    if (rc) return rc;
    /* Times are Asia/Shanghai (UTC+8, no daylight saving) like every time the product shows. */
    sqlite3_stmt *st;
    rc = tb__meta_stmt(db, TB__STMT_SETTING_SET,
                       "INSERT INTO setting (key, value, updated_at) VALUES (?1, ?2, "
                       "strftime('%Y-%m-%d %H:%M:%S', 'now', '+8 hours')) "
                       "ON CONFLICT (key) DO UPDATE SET value = excluded.value, "
                       "updated_at = excluded.updated_at",
                       &st);
    if (rc) return rc;
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, value, -1, SQLITE_STATIC);
    char what[128];
    snprintf(what, sizeof what, "cannot write setting '%.64s'", key);
    return tb__meta_run(db, st, what);
}

int tb_db_list_batches(tb_db *db, int (*fn)(const tb_db_batch *batch, void *arg), void *arg)
{
    tb__clearerr(&db->err);
    sqlite3_stmt *st;
    int rc = tb__meta_stmt(db, TB__STMT_BATCH_LIST,
                           "SELECT batch_date, source_dir, scanned_at, files, rows FROM batch "
                           "ORDER BY batch_date",
                           &st);
    if (rc) return rc;
    int src;
    while ((src = sqlite3_step(st)) == SQLITE_ROW) {
        const char *date = (const char *)sqlite3_column_text(st, 0);
        const char *dir = (const char *)sqlite3_column_text(st, 1);
        const char *at = (const char *)sqlite3_column_text(st, 2);
        tb_db_batch b = {
            .batch_date = date ? date : "",
            .source_dir = dir ? dir : "",
            .scanned_at = at ? at : "",
            .files = sqlite3_column_int64(st, 3),
            .rows = sqlite3_column_int64(st, 4),
        };
        rc = fn(&b, arg);
        if (rc) goto out_done;
    }
    if (src != SQLITE_DONE) rc = tb__meta_seterr_sqlite(db, src, "cannot list batches");

out_done:
    tb__meta_stmt_done(st);
    return rc;
}
