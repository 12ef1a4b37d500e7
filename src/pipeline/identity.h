/* identity.h — identity resolution (allocation module): rows about the same person or company
 * from different systems become one golden record with a stable, dense internal id (gid), with
 * survivorship, conflicts, history, relationships and merges. docs/identity.md explains the rules.
 *
 * Ownership, stated once for the whole module:
 *  - Every pointer passed in is borrowed; the resolver copies what it keeps (into its arena).
 *  - A tb__idres is created by tb__idres_open and freed (caller frees) with tb__idres_free.
 *  - Strings handed out by tb__idres_golden point into the resolver and stay valid until the next
 *    call that may add data (observe, relate, open of another handle is unrelated) or free.
 *  - tb__customer_find's candidates: caller frees with tb__customer_candidates_free.
 *  - tb__customer_view's JSON: caller frees with json_decref.
 *
 * Errors: 0 or a negative TB_E*. Resolver calls keep their detail in tb__idres_errmsg(r); calls
 * that take a tb_db keep it on the handle (tb_errmsg(db)). Details never hold personal data in
 * clear. Not thread-safe: one resolver per thread (the load pipeline uses one).
 */
#ifndef TB_PIPELINE_IDENTITY_H
#define TB_PIPELINE_IDENTITY_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "common/table.h"
#include "tagbase.h"

/* "No gid": returned nowhere as a valid id, used for "none" in fields and arguments. */
#define TB__GID_NONE UINT32_MAX

typedef enum tb__party_kind {
    TB__PARTY_PERSON = 1,
    TB__PARTY_COMPANY = 2,
} tb__party_kind;

/* The golden-record attributes with survivorship. The order is the persisted order (attrs). */
typedef enum tb__party_field {
    TB__F_NAME,
    TB__F_GENDER,
    TB__F_BIRTH_DATE,
    TB__F_MOBILE,
    TB__F_ADDRESS,
    TB__F_PROVINCE,
    TB__F_CITY,
    TB__F_OCCUPATION,
    TB__F_INDUSTRY,
    TB__F_RISK_LEVEL,
    TB__F_ORG,
    TB__F_MANAGER,
    TB__F_CUST_TYPE,
    TB__F_COUNT
} tb__party_field;

/* The field's persisted name ("name", "mobile", ...), or NULL past TB__F_COUNT. Static. */
const char *tb__field_name(int field);
/* The field id of a name, or -1. */
int tb__field_by_name(const char *name);

/* Survivorship rules, per field (tb__idres_set_rule, setting identity.survivorship). */
typedef enum tb__surv_rule {
    TB__SURV_PRIORITY = 0, /* higher source priority wins, then the more recent as_of (default) */
    TB__SURV_RECENT = 1,   /* the more recent as_of wins, then the higher source priority */
    TB__SURV_FIRST = 2,    /* the first non-NULL value is kept for ever (e.g. birth date) */
} tb__surv_rule;

/* Optional match rules beyond key and certificate (tb__idres_set_match, setting identity.match).
 */
typedef enum tb__match_flags {
    TB__MATCH_NAME_MOBILE = 1 << 0, /* a person row without a cert joins the person with the same
                                       name and mobile (exact bytes); off by default */
} tb__match_flags;

/* One row about a party, as a source system knows it. All strings are NUL-terminated and
 * borrowed; NULL (or "") means "not given". */
typedef struct tb__party_obs {
    const char *system;    /* source system: "core", "card", ... (required, at most 31 bytes) */
    const char *key;       /* the system's own customer number (required) */
    tb__party_kind kind;   /* person or company (required) */
    const char *cert_type; /* "101" resident ID, "201" USCC, other codes allowed */
    const char *cert_no;   /* the certificate number; matches across systems when given */
    const char *cust_type; /* customer type code; when given it is attr[TB__F_CUST_TYPE] */
    int32_t as_of;         /* days since 1970-01-01 of the row's date (open date, batch date) */
    int priority;          /* source priority for this row; 0: the system's configured one */
    const char *attr[TB__F_COUNT]; /* survivorship attributes by tb__party_field */
    /* Optional, for a caller that knows them (0: strlen): the lengths of key, cert_no and each
     * attr[f], which must then be exactly their strlen. A load's rows come with lengths. */
    size_t key_len, cert_len, attr_len[TB__F_COUNT];
} tb__party_obs;

/* How a gid was found by tb__idres_observe (optional out-parameter `how`). */
typedef enum tb__match_how {
    TB__MATCHED_KEY = 1,  /* (system, key) known */
    TB__MATCHED_CERT = 2, /* same (kind, cert_no) */
    TB__MATCHED_RULE = 3, /* an extra match rule (name + mobile) */
    TB__MATCHED_NEW = 4,  /* a new gid was allocated */
} tb__match_how;

typedef struct tb__idres tb__idres;

/* Loads the persisted id map (party, party_key) of `db` into memory and the configuration from the
 * settings identity.priority ("core=100,card=50"), identity.survivorship ("mobile=recent,...")
 * and identity.match ("name_mobile"). Returns 0 and *out (caller frees with tb__idres_free), or
 * TB_ENOMEM, TB_ESTORE, TB_ECORRUPT (gids not dense, bad attrs), TB_EINVAL (bad setting) with *out
 * NULL and the detail in tb_errmsg(db). */
int tb__idres_open(tb_db *db, tb__idres **out);
void tb__idres_free(tb__idres *r);

/* The detail of the last failed call on `r` ("" if none). Borrowed. */
const char *tb__idres_errmsg(const tb__idres *r);

/* Configuration; call before observing. Priorities: core 100, card 50, anything else 10 unless
 * set. Returns 0 or TB_EINVAL (empty or too long system name, field out of range, too many
 * systems). */
int tb__idres_set_priority(tb__idres *r, const char *system, int priority);
int tb__idres_set_rule(tb__idres *r, int field, tb__surv_rule rule);
void tb__idres_set_match(tb__idres *r, unsigned flags); /* tb__match_flags */

/* Resolves one row (rules in order: known (system, key); same (kind, cert_no); extra rules; else a
 * new gid = the next dense id), registers its key and cert, and applies survivorship to its
 * attributes, recording conflicts and (for parties that existed before this session) history.
 * Sets *gid (may be NULL) to the live gid and *how (may be NULL) to how it was found.
 * Errors: TB_EINVAL (missing system/key/kind, bad kind), TB_ENOMEM, TB_ELIMIT (4 GiB of strings
 * or 2^32-2 gids); on error nothing is changed and *gid is TB__GID_NONE. */
int tb__idres_observe(tb__idres *r, const tb__party_obs *o, uint32_t *gid, tb__match_how *how);

/* The live gid of a system's key / of a certificate (following merges). TB_ENOENT if unknown: a
 * certificate nobody holds is not a customer. No allocation; fast enough per row. */
int tb__idres_lookup(const tb__idres *r, const char *system, const char *key, uint32_t *gid);
/* tb__idres_lookup of the `len` bytes at `key` (not terminated; no NUL among them). */
int tb__idres_lookup_len(const tb__idres *r, const char *system, const char *key, size_t len,
                         uint32_t *gid);

/* tb__idres_lookup_len of `n` keys of `system` at once: gid[i] is key i's live gid, or
 * TB__GID_NONE when unknown (as TB_ENOENT). key[i] is len[i] bytes, not necessarily terminated.
 * Faster than one at a time where the tables are far larger than the cache: the memory reads of
 * the keys overlap. Safe wherever tb__idres_lookup is. */
void tb__idres_lookup_many(const tb__idres *r, const char *system, const char *const *key,
                           const size_t *len, size_t n, uint32_t *gid);

/* A hint for a tb__idres_lookup(r, system, key) to come: fetches the slot it will read into the
 * CPU cache, so that work done in between (a row's checks) hides the memory latency of a table
 * far larger than the cache. `key` is `len` bytes, not necessarily NUL-terminated. No effect on
 * results; safe wherever tb__idres_lookup is. */
void tb__idres_prefetch(const tb__idres *r, const char *system, const char *key, size_t len);

/* The same for a tb__idres_observe to come of a party with customer number `key` (`klen` bytes)
 * in `system` and certificate `cert` (`clen` bytes, NULL when none) of `kind`: both slots it
 * will probe. No effect on results; safe wherever tb__idres_lookup is. */
void tb__idres_prefetch_obs(const tb__idres *r, const char *system, const char *key, size_t klen,
                            tb__party_kind kind, const char *cert, size_t clen);
int tb__idres_lookup_cert(const tb__idres *r, tb__party_kind kind, const char *cert_no,
                          uint32_t *gid);

/* Relationship types (tb__idres_relate). `target` is the related thing's key as text. */
typedef enum tb__rel_type {
    TB__REL_HOUSEHOLD = 1, /* target household_id, role relation code, target_gid the head */
    TB__REL_GROUP = 2,     /* target group_id, target_gid the group's head company if known */
    TB__REL_LEGAL_REP = 3, /* target the legal representative's name (text, as registered) */
    TB__REL_MANAGER = 4,   /* target mgr_id */
} tb__rel_type;

/* Name of a relationship type ("household", "group", "legal_rep", "manager"), NULL if unknown;
 * and back (0 if unknown). */
const char *tb__rel_name(int type);
int tb__rel_by_name(const char *name);

/* Masks a value of `field` for display, conflicts and logs (mask.h rules): name 张*, mobile
 * 138****5678, address first 6 characters + "****", birth date year only; codes as they are.
 * NULL gives "". Writes at most `cap` bytes into out and returns out. */
char *tb__mask_field(int field, const char *value, char *out, size_t cap);

/* Records that `gid` has relationship `type` to `target` (role may be NULL, target_gid may be
 * TB__GID_NONE); persisted by commit as the relation's state at this batch (one row per
 * (gid, type, target), replaced on every load). TB_EINVAL (unknown gid or type, empty target),
 * TB_ENOMEM. */
int tb__idres_relate(tb__idres *r, uint32_t gid, tb__rel_type type, const char *target,
                     uint32_t target_gid, const char *role);

/* Number of gids ever allocated: gids are dense 0..count-1. Merged-away gids stay allocated (never
 * reused) and count here; tb__idres_live counts golden records that are not merged away. */
uint32_t tb__idres_count(const tb__idres *r);
uint32_t tb__idres_live(const tb__idres *r);

/* Counters of this session (since open or the last commit). */
typedef struct tb__idres_stats {
    uint64_t observed, by_key, by_cert, by_rule, created;
    uint64_t keys_added, changes, conflicts, relations;
} tb__idres_stats;
void tb__idres_stats_get(const tb__idres *r, tb__idres_stats *out);

/* The golden record of `gid`. Strings are borrowed (see above), NULL when absent. */
#define TB__GOLDEN_MAX_KEYS 16
typedef struct tb__golden {
    uint32_t gid;
    uint32_t merged_into; /* TB__GID_NONE unless merged away (then the rest is its own data) */
    int erased;           /* 1: a tombstone left by an erasure (no data; never live) */
    tb__party_kind kind;
    const char *cert_type, *cert_no;
    const char *value[TB__F_COUNT];  /* surviving values */
    const char *source[TB__F_COUNT]; /* system that gave each */
    int32_t as_of[TB__F_COUNT];
    size_t nkeys; /* all keys; the first TB__GOLDEN_MAX_KEYS are listed */
    const char *key_system[TB__GOLDEN_MAX_KEYS];
    const char *key[TB__GOLDEN_MAX_KEYS];
} tb__golden;

/* Fills *out for `gid`. TB_ENOENT if gid >= count. */
int tb__idres_golden(const tb__idres *r, uint32_t gid, tb__golden *out);

/* One surviving value of a live golden record, for a pass over every party (a snapshot column):
 * 1 with the party's kind in *kind and attribute `f`'s value in *v (borrowed, NULL when absent;
 * equal values are often one pointer, different values never), 0 for a gid out of range, merged
 * away or erased. Reads only the party itself, unlike tb__idres_golden. */
int tb__idres_value(const tb__idres *r, uint32_t gid, int f, tb__party_kind *kind, const char **v);

/* Persists what this session added or changed — new parties and keys, changed golden attributes
 * with party_history rows, conflicts, relations — with cached prepared statements, inside the
 * CALLER's transaction (tb__meta_begin before, tb__meta_commit after, with the caller's other
 * writes). Returns TB_EINVAL when no transaction is open, TB_ESTORE/TB_ENOMEM otherwise (detail on
 * db). On success the session is reset (counters, conflicts, history, relations). If the caller's
 * transaction does not commit, the resolver no longer matches the store: free it and reopen. */
int tb__idres_commit(tb__idres *r, tb_db *db, const char *batch_date, int64_t load_id);

/* tb__idres_commit in two steps, for a caller that persists the session while other threads are
 * still looking identities up: tb__idres_write writes the same rows (same errors) and changes
 * nothing in the resolver, so concurrent tb__idres_lookup / tb__idres_lookup_cert /
 * tb__idres_golden calls stay safe (nothing may observe, relate or merge meanwhile);
 * tb__idres_written, called once those threads are done and the rows are in the caller's
 * transaction, resets the session as tb__idres_commit does. */
int tb__idres_write(const tb__idres *r, tb_db *db, const char *batch_date, int64_t load_id);
void tb__idres_written(tb__idres *r);

/* A copy of the session's state at this moment (the golden records, keys and strings; no
 * history, conflicts, relations or look-up tables), for a caller that starts persisting while rows
 * are still being observed: tb__idres_write_first(image, ...) on another thread writes the copy
 * while `r` goes on, then tb__idres_write_since(r, image, ...) writes what `r` added or changed
 * after the copy (a party that differs from its copy is updated) and finishes as tb__idres_write
 * does (a bulk first load's indexes are rebuilt), in the same transaction. Only golden records
 * are written in two steps: the keys, history, conflicts and relations all wait for the second,
 * which writes each table in one sorted pass (the copy's keys, spread over the whole key space,
 * would turn the second step's inserts into random ones, and its relations' pages would be
 * written twice, which makes SQLite read back the log at the COMMIT). The two write what one
 * tb__idres_write(r) would have; then tb__idres_written(r) if r takes more rows (a caller that
 * frees r next need not). Caller frees the copy with tb__idres_free after tb__idres_write_since,
 * and before `r`: the copy may borrow r's string pool (append-only: the part the copy sees never
 * changes, so it may be read on another thread while rows are observed on r's).
 *
 * The copy's golden records and keys go into `mem` (`bytes` from tb__table_alloc: faulted in
 * already, so the copy costs no first writes, which on a virtual machine cost more than the copy)
 * when they fit, else into memory allocated here. The copy takes `mem` either way (NULL, 0: none
 * given) and tb__idres_free releases it. NULL when out of memory (mem released too).
 * tb__idres_image_bytes is what `nparty` golden records and `nkeys` keys take in `mem`;
 * tb__idres_image_now what r's take now (those loaded from the store included). */
tb__idres *tb__idres_freeze(const tb__idres *r, void *mem, size_t bytes);
size_t tb__idres_image_bytes(size_t nparty, size_t nkeys);
size_t tb__idres_image_now(const tb__idres *r);
int tb__idres_write_first(const tb__idres *image, tb_db *db, const char *batch_date,
                          int64_t load_id);
int tb__idres_write_since(const tb__idres *r, const tb__idres *image, tb_db *db,
                          const char *batch_date, int64_t load_id);

/* What a resolver holds at one moment (tb__idres_mark_now), so that a caller that has seen part
 * of a file can size it for the whole of it (tb__idres_expect, tb__idres_plan_growth): the entries
 * of its look-up tables, its golden records and keys, the bytes of its string pool. */
typedef struct tb__idres_mark {
    size_t keys, certs, interned, names; /* keys: also the key array's count */
    size_t parties, pool;
} tb__idres_mark;

void tb__idres_mark_now(const tb__idres *r, tb__idres_mark *m);

/* Makes room at once for `factor` times what the look-up tables gained since `m` (the part of a
 * file applied so far, against the whole file): a file of millions of identities would otherwise
 * double each table several times, faulting in and rehashing a new table every time. Growth past
 * `max_bytes` of tables in all is not made here (the tables double as before). A hint: on
 * TB_ENOMEM a table that could not grow is left as it was (tables grown before it stay grown), and
 * every table still holds what it held. Same thread as the observations. Equals
 * tb__idres_plan_growth, then tb__idres_grow without memory. */
int tb__idres_expect(tb__idres *r, const tb__idres_mark *m, double factor, size_t max_bytes);

/* tb__idres_expect in steps, so that another thread can fault the memory in meanwhile:
 * - tb__idres_plan_growth computes, without changing r, the look-up table sizes (slots; 0 for a
 *   table that stays: one the part added nothing to, or large enough) and what the golden
 *   records, keys and string pool will hold. `tables` is the bytes of the tables that grow, each
 *   rounded up to whole pages. 1 when there is a plan; 0 when nothing grows or the tables would
 *   pass max_bytes (then *pl plans nothing). The arrays and pool are planned only if they fit
 *   within max_bytes with the tables. Any thread, while r is not changed.
 * - tb__idres_grow grows the tables to the plan: into `mem` if given (`bytes` >= tables, zeroed,
 *   page-aligned, from tb__table_alloc or tb__table_map; consumed either way: each table takes
 *   its part in turn, those of 2 MiB and more first, and what is not taken is freed), else into
 *   tables of their own. A table that has grown as large meanwhile keeps its own. TB_ENOMEM as
 *   tb__idres_expect. Same thread as the observations.
 * - tb__idres_reserve makes the golden-record and key arrays large enough for the plan (no page
 *   of the new part written) and returns the memory the plan's rows will write next, up to
 *   three spans (records, keys, pool; the count returned). Another thread may fault those in
 *   ahead with tb__table_populate, which changes no byte, and never write them: an array that
 *   grows past its plan moves, and the span is stale (populating it fails or is harmless). A
 *   hint: where an array cannot grow it stays, without a span. Same thread as observations. */
typedef struct tb__idres_plan {
    size_t slots[4];
    size_t tables;
    size_t parties, keys, pool;
} tb__idres_plan;

int tb__idres_plan_growth(const tb__idres *r, const tb__idres_mark *m, double factor,
                          size_t max_bytes, tb__idres_plan *pl);
int tb__idres_grow(tb__idres *r, const tb__idres_plan *pl, void *mem, size_t bytes);
int tb__idres_reserve(tb__idres *r, const tb__idres_plan *pl, tb__span out[3]);

/* The bytes a tb__idres_freeze of `r` would copy now. */
size_t tb__idres_footprint(const tb__idres *r);

/* What r's memory holds, in bytes: the string pool used, the golden-record and key arrays as
 * allocated, and the four look-up tables (for debug logs and sizing). */
typedef struct tb__idres_mem {
    size_t pool, party, keys, tables;
} tb__idres_mem;
void tb__idres_memory(const tb__idres *r, tb__idres_mem *m);

/* One field of a stored `attrs` value (docs/identity.md): value and source system point into
 * the string and are not terminated; value is NULL when the field is absent. */
typedef struct tb__attr_field {
    const char *value, *system;
    size_t value_len, system_len;
    int32_t as_of; /* days since 1970-01-01 */
} tb__attr_field;

/* Splits a stored attrs value (either format: the compact one identity.c writes, or the first one,
 * with system and day on every field) into its TB__F_COUNT fields. `a` may be NULL (no field).
 * Returns 0, or TB_ECORRUPT (a present field without a system, a system longer than 31 bytes, a
 * day that is not a number below 655360) with out[] partly filled. Thread-safe, no allocation. */
int tb__attrs_split(const char *a, size_t len, tb__attr_field out[TB__F_COUNT]);

/* From how many new parties (and more than are stored) a commit drops the secondary indexes of
 * the master data and rebuilds them after inserting, instead of updating them row by row; 0
 * restores the default (100000). For tests and tuning. */
void tb__idres_set_bulk_min(tb__idres *r, uint32_t n);

/* --- master data on the persisted tables (no resolver needed; what the CLI and server use) --- */

#define TB__FIND_MAX_REASONS 96
typedef struct tb__candidate {
    uint32_t gid;
    tb__party_kind kind;
    char name[64];   /* masked: 张* */
    char cert[40];   /* masked: first 6 + last 4 */
    char mobile[24]; /* masked: 138****5678 */
    char cust_type[8];
    char reasons[TB__FIND_MAX_REASONS]; /* "same ID number, same mobile" */
    int score;                          /* higher is a stronger match */
} tb__candidate;

/* Search before create: finds live golden records matching `query` as an ID number or credit
 * code, a mobile, a system key (customer number), an exact name or a name prefix, best first, at
 * most `limit` (0: 20). *out (caller frees with tb__customer_candidates_free) and *n; with no
 * match, 0 with *n = 0. TB_EINVAL (empty query), TB_ESTORE, TB_ENOMEM. */
int tb__customer_find(tb_db *db, const char *query, size_t limit, tb__candidate **out, size_t *n);
void tb__customer_candidates_free(tb__candidate *c);

/* Resolves "GID" (all digits, below 2^32-1 and known) or a system key ("core" first, then any
 * system) to a gid; TB_ENOENT if neither. */
int tb__customer_resolve(tb_db *db, const char *text, uint32_t *gid);

/* Like tb__customer_resolve, then by ID number / credit code, then by mobile (each must name one
 * live customer: TB_EINVAL with the detail on the handle when several share it). */
int tb__customer_resolve_any(tb_db *db, const char *text, uint32_t *gid);

/* The customer number of `gid` (the core system's key first) into out[cap]. TB_ENOENT if none. */
int tb__customer_key_of(tb_db *db, uint32_t gid, char *out, size_t cap);

/* The identifying (C2) values of one golden record in clear, whether the store keeps them sealed
 * or not: the one decrypt path for callers outside identity (export, erasure). found = 0 when no
 * such gid; has_* say which values are present (NULL in the store). Caller wipes it
 * (sodium_memzero) when done. TB_ESTORE, TB_ECORRUPT (a value does not open), TB_ENOMEM. */
typedef struct tb__party_pii {
    int found, has_cert, has_name, has_mobile;
    char kind[16];
    char cust_type[16];
    char cert_no[64];
    char name[256];
    char mobile[64];
} tb__party_pii;
int tb__party_pii_get(tb_db *db, uint32_t gid, tb__party_pii *out);

/* ---- the look-up image (store/mdx.h) of the golden records ------------------------------------
 * Certificates, mobiles, names and the keys of each golden record are looked up in the image the
 * last load wrote, and every candidate is checked against its row; a store without an image (one
 * from before them, or after a key rotation) gets it rebuilt from its rows on first use, written
 * to disk when the handle may write. */

/* One key of a golden record, as stored in party_key. */
typedef struct tb__md_key {
    char system[32];
    char first_batch[16];
    char *key; /* owned by the array */
} tb__md_key;

/* The keys golden record `gid` holds now, core system first, then by system and key: *out (caller
 * frees with tb__md_keys_free; NULL when none) and *n. Errors on the handle. */
int tb__md_keys_of(tb_db *db, uint32_t gid, tb__md_key **out, size_t *n);
void tb__md_keys_free(tb__md_key *k, size_t n);

/* *yes = 1 when a golden record not erased carries `name` (plaintext; blinded here when the store
 * is encrypted). */
int tb__md_name_in_use(tb_db *db, const char *name, int *yes);

/* Re-seals every C2 value of the master data (party, party_history, legal-representative
 * relations) under key `to` in one transaction of its own, reading them with the handle's current
 * key (or in clear when the store is plaintext: this is how a plaintext store is encrypted), and
 * records `to` as the directory's active key (the previous one becomes retired). After the commit
 * the handle uses `to`, and VACUUM wipes the freed pages that held the old bytes. *rows (may be
 * NULL) counts the rows rewritten. TB_EPERM (read-only), TB_ECORRUPT, TB_ESTORE, TB_ENOMEM. */
struct tb__c2key;
int tb__md_c2_rekey(tb_db *db, const struct tb__c2key *to, uint64_t *rows);

/* The golden record of `gid` as JSON, masked for display: gid, kind, merged_into, cert (masked),
 * attributes with their sources, keys, relations, history (newest first, at most 50), conflicts.
 * *out: caller frees with json_decref. TB_ENOENT, TB_ESTORE, TB_ENOMEM. */
int tb__customer_view(tb_db *db, uint32_t gid, json_t **out);

/* The same view with personal fields as stored when `unmasked` (for callers with the right to
 * see them; the caller audits the read), masked otherwise; adds "masked": true/false. */
int tb__customer_view_ex(tb_db *db, uint32_t gid, int unmasked, json_t **out);

/* Merges golden record `from` into `into` (both live, same kind, different): the keys of `from`
 * move to `into`, party.merged_into of `from` is set, and merge_log + merge_key record who, when,
 * why and which keys moved. Runs its own transaction. *merge_id (may be NULL) is the log id.
 * TB_EINVAL (same gid, kinds differ, empty who), TB_ENOENT, TB_EEXIST (already merged), TB_EPERM
 * (read-only), TB_ESTORE. */
int tb__customer_merge(tb_db *db, uint32_t into, uint32_t from, const char *who, const char *reason,
                       int64_t *merge_id);

/* Undoes the latest merge of `gid` (a merged-away gid): its keys (those moved by that merge) come
 * back, merged_into is cleared, merge_log records it. Own transaction. TB_ENOENT (not merged). */
int tb__customer_unmerge(tb_db *db, uint32_t gid, const char *who);

#endif
