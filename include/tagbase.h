/* tagbase.h — the public API of libtagbase, the customer data, tag and marketing engine.
 *
 * Rules that hold for the whole API (stated once, like jq's jv.h):
 *
 *  - Every function that can fail returns 0 on success or a negative TB_E* code; tb_strerror()
 *    names the code, and the handle the call was made on keeps a detail message saying what, where
 *    and why (tb_errmsg(), tb_gen_errmsg(), ...). Detail messages never contain personal data in
 *    clear: ID numbers, mobiles, names and card numbers are masked.
 *  - Pointers passed in are borrowed: the library copies what it keeps. A function that hands back
 *    memory the caller must release says "caller frees with X". Ownership never depends on whether
 *    the call succeeded: on failure, out-parameters are set to NULL and nothing is owed.
 *  - The library never exits, aborts or prints to stdout on bad input or when out of memory.
 *  - Handles are not thread-safe unless the function says so: use one handle per thread, or lock.
 */
#ifndef TAGBASE_H
#define TAGBASE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define TB_VERSION_STRING "0.1.0"

/* ---------------------------------------------------------------------------------------------
 * Errors
 */

/* The one error enum. Codes are negative so that "rc < 0" means failure everywhere. */
typedef enum tb_err {
    TB_OK = 0,
    TB_ERR = -1,       /* unspecified failure (a bug if ever seen: report it) */
    TB_ENOMEM = -2,    /* out of memory */
    TB_EINVAL = -3,    /* invalid argument from the caller */
    TB_EIO = -4,       /* operating-system I/O failure (the detail names the path and errno) */
    TB_ENOENT = -5,    /* no such file, directory, record or name */
    TB_EEXIST = -6,    /* already exists */
    TB_EBUSY = -7,     /* locked by another process (data directory, database) */
    TB_ECORRUPT = -8,  /* stored bytes fail their checks: checksum, magic, length, structure */
    TB_EFORMAT = -9,   /* input does not follow its format (the detail names line, field, byte) */
    TB_EVERSION = -10, /* written by an incompatible version of tagbase */
    TB_ERANGE = -11,   /* value out of range */
    TB_ESTORE = -12,   /* the meta store (SQLite) failed; the detail carries its message */
    TB_EPERM = -13,    /* not allowed */
    TB_ENOTSUP = -14,  /* not supported */
    TB_ELIMIT = -15,   /* a configured size or count limit was exceeded */
} tb_err;

/* Returns a static, lowercase, human-readable name of an error code ("data directory is locked").
 * Unknown codes give "unknown error". Thread-safe. */
const char *tb_strerror(int rc);

/* ---------------------------------------------------------------------------------------------
 * Logging: levels, to stderr by default. Thread-safe.
 */

typedef enum tb_log_level {
    TB_LOG_ERROR = 0,
    TB_LOG_WARN = 1,
    TB_LOG_INFO = 2,
    TB_LOG_DEBUG = 3,
} tb_log_level;

/* Sets the most verbose level that is written (default TB_LOG_INFO, or the level named by the
 * environment variable TAGBASE_LOG: error, warn, info, debug). */
void tb_log_set_level(tb_log_level level);
tb_log_level tb_log_get_level(void);

/* Parses "error", "warn", "info" or "debug". Returns 0, or TB_EINVAL for any other text. */
int tb_log_level_parse(const char *name, tb_log_level *out);

/* ---------------------------------------------------------------------------------------------
 * The data directory and its meta store
 *
 * One tb_db is one open data directory: a version stamp (tagbase.version), a lock (LOCK) held by
 * the one process allowed to write, and the meta store meta.db (SQLite, WAL mode). docs/storage.md
 * describes the layout. A handle is not thread-safe: use one per thread. Any number of read-only
 * handles, in any processes, may be open beside the one writer.
 */

typedef struct tb_db tb_db;

typedef enum tb_open_flags {
    TB_OPEN_READONLY = 1 << 0, /* no lock taken; writes fail with TB_EPERM */
    TB_OPEN_CREATE = 1 << 1,   /* create the directory, stamp and meta store when absent */
} tb_open_flags;

/* What tb_db_open did to the directory (tb_db_info.actions), for tools that report it. */
typedef enum tb_db_action {
    TB_DB_CREATED = 1 << 0,  /* the directory was initialised: stamp and meta store written */
    TB_DB_MIGRATED = 1 << 1, /* meta-store migrations were applied */
} tb_db_action;

/* Where the data directory is when the user did not say: $TAGBASE_DATA, else "./tagbase-data".
 * Returns a pointer to static storage or to the environment; do not free. */
const char *tb_default_data_dir(void);

/* Opens the data directory `dir`. Unless TB_OPEN_READONLY, takes the writer lock; a second writer
 * (another process, or another handle in this one) gets TB_EBUSY with the holder's pid in the
 * detail. A writer applies pending meta-store migrations; a reader does not (it sees the schema
 * as it is). With TB_OPEN_CREATE (and not TB_OPEN_READONLY), a missing or empty directory is
 * initialised.
 * Errors: TB_ENOENT (no directory, or an empty one, without TB_OPEN_CREATE; meta.db missing),
 * TB_EVERSION (a non-empty directory without a stamp, or a stamp or meta-store schema newer than
 * this binary), TB_ECORRUPT (an unreadable stamp), TB_EBUSY, TB_EIO, TB_ESTORE, TB_ENOMEM,
 * TB_EINVAL.
 * On success *out is the handle (caller frees with tb_db_close); on failure *out is NULL and, if
 * `errbuf` is not NULL, up to `errlen` bytes of detail are written there. */
int tb_db_open(const char *dir, unsigned flags, tb_db **out, char *errbuf, size_t errlen);

/* Closes the handle: finalises statements, checkpoints the WAL, releases the lock (rolling back a
 * transaction left open). NULL is a no-op. */
void tb_db_close(tb_db *db);

/* The detail message of the last failed call on `db` ("" if none). Valid until the next call. */
const char *tb_errmsg(const tb_db *db);

/* The directory the handle was opened on. Borrowed, valid until tb_db_close. */
const char *tb_db_path(const tb_db *db);

/* The meta store's schema version after migrations (PRAGMA user_version, read from the store). */
int tb_db_schema_version(tb_db *db, int *out);

/* Reads or writes a setting in the meta store (a small key/value table). tb_db_get_setting sets
 * *out to a copy (caller frees with free) or returns TB_ENOENT with *out NULL. tb_db_set_setting
 * inserts or replaces (TB_EPERM on a read-only handle, TB_EINVAL for an empty key). */
int tb_db_get_setting(tb_db *db, const char *key, char **out);
int tb_db_set_setting(tb_db *db, const char *key, const char *value);

/* A snapshot of the handle's state, for status displays. */
typedef struct tb_db_info {
    int format_version; /* of tagbase.version */
    int schema_version; /* of the meta store, now */
    int schema_at_open; /* of the meta store before this handle's migrations (0: new store) */
    unsigned actions;   /* TB_DB_* flags: what opening did */
    int readonly;       /* 1 for a TB_OPEN_READONLY handle */
    int lock_held;      /* 1 when a writer holds LOCK: this handle, or another process */
    long lock_pid;      /* the writer's pid when known, else 0 */
} tb_db_info;

/* Fills *out. For a read-only handle the lock is probed now (without disturbing a writer that
 * holds it); for a writer it is the handle's own. Returns 0 or TB_ESTORE / TB_EIO. */
int tb_db_get_info(tb_db *db, tb_db_info *out);

/* One row of the meta store's batch table, as tb_db_list_batches passes it. Strings are borrowed
 * for the duration of the callback only. */
typedef struct tb_db_batch {
    const char *batch_date; /* "YYYYMMDD" */
    const char *source_dir; /* the directory that was scanned */
    const char *scanned_at; /* "yyyy-MM-dd HH:mm:ss" */
    int64_t files;
    int64_t rows;
} tb_db_batch;

/* Calls fn(batch, arg) for each recorded batch, oldest batch date first; `fn` must not use `db`.
 * A non-zero return from `fn` stops the walk and is returned as is. Returns 0, or TB_ESTORE (e.g.
 * on a read-only handle of a store older than schema 1). */
int tb_db_list_batches(tb_db *db, int (*fn)(const tb_db_batch *batch, void *arg), void *arg);

/* ---------------------------------------------------------------------------------------------
 * Extract inventory: the batch of warehouse extracts a directory holds (manifest.json + files),
 * read, counted and recorded in the meta store. The first step of the pipeline's acquisition.
 */

typedef struct tb_inventory tb_inventory;

/* Reads `dir`/manifest.json, then reads every file it lists with the extract reader (Hive text or
 * CSV, as the manifest says), counting rows and checking each row's field count. Records the batch
 * and its files in the meta store (replacing an earlier record of the same batch date). On success
 * *out holds the result (caller frees with tb_inventory_free). */
int tb_inventory_scan(tb_db *db, const char *dir, tb_inventory **out);
void tb_inventory_free(tb_inventory *inv);

/* Accessors for the result of tb_inventory_scan. Strings are borrowed from `inv`; an index past
 * the last file gives NULL or 0. */
const char *tb_inventory_batch(const tb_inventory *inv); /* "YYYYMMDD" */
size_t tb_inventory_nfiles(const tb_inventory *inv);
const char *tb_inventory_file_name(const tb_inventory *inv, size_t i);
const char *tb_inventory_file_type(const tb_inventory *inv, size_t i);       /* business type */
const char *tb_inventory_file_kind(const tb_inventory *inv, size_t i);       /* data kind */
uint64_t tb_inventory_file_rows(const tb_inventory *inv, size_t i);          /* rows read */
uint64_t tb_inventory_file_expected_rows(const tb_inventory *inv, size_t i); /* per manifest */
uint64_t tb_inventory_file_bytes(const tb_inventory *inv, size_t i);
uint64_t tb_inventory_file_bad_width(const tb_inventory *inv, size_t i); /* wrong field count */
/* "ok" when the file holds the rows its manifest states and, where the manifest says how many rows
 * have a wrong field count, exactly that many; else what differs. Static text. */
const char *tb_inventory_file_check(const tb_inventory *inv, size_t i);

/* ---------------------------------------------------------------------------------------------
 * The customer data pipeline: acquisition -> aggregation -> transmission -> allocation ->
 * collection (docs/pipeline.md). One call loads a batch of extracts into the business domains,
 * resolves identities into golden records and writes the batch's profile snapshot.
 */

typedef struct tb_load_progress {
    const char *file;     /* the file being read (borrowed, valid during the call) */
    uint64_t rows;        /* rows read so far in the whole load */
    uint64_t bytes_done;  /* bytes read so far in the whole load */
    uint64_t bytes_total; /* bytes of every file of the load */
    double elapsed;       /* seconds since the load started */
} tb_load_progress;

typedef struct tb_load_opts {
    const char *const *inputs; /* batch directories, manifest.json paths or single extract files */
    size_t ninputs;
    const char *business_type; /* single files: their business type (required for them) */
    const char *kind;          /* single files: mart, external or model (default: the standard's) */
    const char *encoding;      /* single files: UTF-8 (default), GB18030 or GBK */
    const char *null_token;    /* an extra text meaning NULL, e.g. beeline's "NULL"; NULL: none */
    int batch_date;            /* YYYYMMDD; 0: the manifest's (required for single files) */
    /* Called about once a second while rows are read (may be NULL). */
    void (*progress)(const tb_load_progress *p, void *arg);
    void *progress_arg;
} tb_load_opts;

/* Loads the inputs through the five modules as one batch and commits the result atomically:
 * the business segments of the files, their statistics and quarantined rows, the golden records
 * and the batch's profile snapshot all appear together, replacing what an earlier load of the same
 * batch and files wrote; a load that fails or is killed leaves the previous state as it was.
 * Row-level problems (the data standard, duplicates) quarantine the row and the load goes on;
 * file-level problems (missing file, unknown business type, wrong header, malformed bytes) reject
 * that file, the others load, and the call returns TB_EFORMAT after committing them.
 * On return (0 or TB_EFORMAT) *json_out, when not NULL, is the load's summary as JSON text (caller
 * frees with free); on other errors it is NULL and tb_errmsg(db) says what went wrong. */
int tb_load(tb_db *db, const tb_load_opts *opts, char **json_out);

/* The pipeline's status as JSON text (caller frees with free): per batch (or only `batch_date`,
 * YYYYMMDD, when not NULL) and per file, the rows at each of the five modules, the rejected rows by
 * rule and field, and data-quality scores (completeness, validity, uniqueness). Read-only. */
int tb_pipeline_status(tb_db *db, const char *batch_date, char **json_out);

/* The rows of one file of one batch that the load quarantined, in line order, at most `limit`
 * (1..1000) from the `offset`-th: JSON text (caller frees with free) {"batch_date","file","total",
 * "rows":[{"line","field","value","rule"}]}, the value masked as the load stored it. TB_ENOENT
 * when the batch has not been loaded, TB_EINVAL for a limit out of range. Read-only. */
int tb_pipeline_quarantine(tb_db *db, const char *batch_date, const char *file, int limit,
                           int offset, char **json_out);

/* Lineage of a customer's profile values as JSON text (caller frees with free): for each
 * attribute (or only `attribute`), its value in the snapshot of `batch_date` (NULL: the newest),
 * the business flags (business type, data kind, source system, batch, load) and the source rows
 * (file and line) that produced it. `customer` is an internal id, or a customer number of any
 * source system. TB_ENOENT when the customer or the attribute is unknown. */
int tb_explain(tb_db *db, const char *customer, const char *attribute, const char *batch_date,
               char **json_out);

/* Verifies the data directory (read-only): the meta store's integrity and references, that every
 * current segment has the size the store recorded, and every snapshot's column checksums. Returns
 * 0 with *json_out (caller frees with free): {"ok": bool, "segments": n, "snapshots": n,
 * "problems": [{"what", "detail"}]}; a TB_E* code when the check itself could not run. */
int tb_check(tb_db *db, char **json_out);

/* ---------------------------------------------------------------------------------------------
 * tagbase gen: a synthetic bank, deterministic by seed
 *
 * Writes one batch directory: the warehouse extracts of every business type, external and model
 * tags, mobile-banking events (JSON Lines), reference files, the identity truth, defects.tsv and,
 * last, manifest.json. docs/gen.md describes every file, column, code table and defect kind.
 */

typedef enum tb_gen_format {
    TB_GEN_HIVE = 0, /* \x01-separated fields, \N for NULL, no quoting, '\n' rows, no header */
    TB_GEN_CSV = 1,  /* RFC 4180, header, UTF-8 with BOM, CRLF rows; cards.csv in GB18030 */
} tb_gen_format;

typedef struct tb_gen_opts {
    uint64_t customers; /* number of bank customers (core system), 1..100000000 */
    uint64_t seed;      /* 0..2^53-1; same seed and options give byte-identical output */
    int batch_date;     /* YYYYMMDD, the extract's business date, 20000101..21991231 */
    double dirty;       /* 0..0.5: share of rows with one injected defect each */
    tb_gen_format format;
    const char *out_dir; /* created if absent; must not already hold a manifest.json */
    int threads;         /* 0 = as many as cores, at most 64; never changes the output */
} tb_gen_opts;

typedef struct tb_gen tb_gen;

/* Creates a generator for `opts` (copied, out_dir included). Returns 0 and *out (caller frees with
 * tb_gen_free), or TB_EINVAL (TB_ENOMEM) with *out NULL when an option is out of range; `errbuf`
 * (may be NULL) then names the option and what it expects. Touches no file. */
int tb_gen_create(const tb_gen_opts *opts, tb_gen **out, char *errbuf, size_t errlen);

/* Writes every file and, last, manifest.json (crash-safely: a directory with a manifest is
 * complete). Call once per handle. Returns 0, or TB_EEXIST (the directory already holds a
 * manifest: a batch is never overwritten), TB_EIO (the detail names the path and errno),
 * TB_ENOMEM, TB_ENOTSUP (no GB18030 converter), with the detail in tb_gen_errmsg. Uses
 * opts.threads worker threads internally; the handle itself is not thread-safe. */
int tb_gen_run(tb_gen *g);

/* The detail of the last failed call on `g` ("" if none). Borrowed, valid until the next call. */
const char *tb_gen_errmsg(const tb_gen *g);

/* Frees the generator (closing any file a failed run left open). NULL is a no-op. */
void tb_gen_free(tb_gen *g);

/* ---------------------------------------------------------------------------------------------
 * Identity validators of the standards the domain brings. Thread-safe, no allocation.
 */

/* GB 11643 resident ID: 18 characters, region 6 digits, birth date valid, ISO 7064 MOD 11-2 check
 * character (0-9 or X). Returns 1 when valid, 0 otherwise. */
int tb_valid_resident_id(const char *s, size_t len);

/* The GB 11643 check character ('0'..'9' or 'X') for 17 leading digits; 0 if they are not digits.
 */
char tb_resident_id_check(const char *digits17);

/* GB 32100 unified social credit code: 18 characters over 0-9 A-H J-N P-R T-U W-Y, mod 31 check.
 * Returns 1 when valid, 0 otherwise. */
int tb_valid_uscc(const char *s, size_t len);

/* The GB 32100 check character for 17 leading characters; 0 if one is outside the charset. */
char tb_uscc_check(const char *chars17);

/* Mainland mobile: 11 digits, ^1[3-9][0-9]{9}$. Returns 1 when valid. */
int tb_valid_mobile(const char *s, size_t len);

/* Luhn check over an all-digit string of 12..19 digits. Returns 1 when valid. */
int tb_valid_luhn(const char *s, size_t len);

/* The Luhn check digit ('0'..'9') to append to `digits` (len digits); 0 if not all digits. */
char tb_luhn_check(const char *digits, size_t len);

/* Validates a calendar date YYYYMMDD (as an int) between 1900-01-01 and 2199-12-31. */
int tb_valid_date(int yyyymmdd);

#ifdef __cplusplus
}
#endif
/* ---------------------------------------------------------------------------------------------
 * The tag catalog (src/tags/catalog.c)
 */

/* The tag centre's catalog: themes (two levels), tag definitions, versions and the lifecycle
 * draft -> in_review -> online -> offline, where publishing needs a second person (maker-checker).
 * docs/tags.md describes the catalog file format and every field of the JSON answers below.
 *
 * The acting user (`user`): who loads, submits, approves, rejects or takes a tag offline. NULL or
 * "" means $TAGBASE_USER, else the operating-system login name; the HTTP server passes its
 * authenticated user instead. At most 64 bytes, no control characters (TB_EINVAL otherwise).
 *
 * Every function returns 0 and *json_out (caller frees with free), or a negative TB_E* with
 * *json_out NULL and the detail in tb_errmsg(db). Writing functions need a writable handle
 * (TB_EPERM otherwise) and change all or nothing (one transaction). A tag is named by its code,
 * or by its Chinese or English name (exact; case-insensitive for ASCII); TB_ENOENT when none. */

/* Loads a catalog file (docs/tags.md): themes are inserted or updated; a new tag becomes version 1
 * as a draft (event "create"); a tag whose definition changed becomes a new version, a draft
 * (event "edit"), while a version already online stays online until the new one is approved; an
 * unchanged tag is left alone. Every definition is checked first (expressions parse and read only
 * snapshot columns; sources and statistics against the current data standard when one is
 * loaded): TB_EFORMAT names the file, the tag and the field, and nothing is stored.
 * JSON: {"file","user","themes","tags","created","edited","unchanged","changes":[{"code",
 * "version","action"}],"standard_version"?, "warnings"?}. */
int tb_tag_load(tb_db *db, const char *path, const char *user, char **json_out);

/* Lifecycle steps. `code` NULL means every tag the step applies to (submit: all drafts; approve:
 * all tags in review), all or nothing. submit: draft (or offline) -> in_review. approve: in_review
 * -> online, publishing that version (events "approve" and "publish"); TB_EPERM when `user`
 * submitted it. reject: in_review -> draft; `comment` is required (TB_EINVAL). offline: the online
 * version stops being built (online_version null; status online -> offline; a pending edit stays
 * pending). A tag in the wrong status for the step: TB_EINVAL. `comment` may be NULL otherwise.
 * JSON: {"action","user","count","tags":[{"code","version","from","status","online_version"}]}. */
int tb_tag_submit(tb_db *db, const char *code, const char *user, const char *comment,
                  char **json_out);
int tb_tag_approve(tb_db *db, const char *code, const char *user, const char *comment,
                   char **json_out);
int tb_tag_reject(tb_db *db, const char *code, const char *user, const char *comment,
                  char **json_out);
int tb_tag_offline(tb_db *db, const char *code, const char *user, const char *comment,
                   char **json_out);

/* Filters of tb_tag_list; every member may be NULL / 0 (no filter). */
typedef struct tb_tag_filter {
    const char *theme;  /* a level-1 or level-2 theme: code, or Chinese or English name */
    const char *status; /* draft, in_review, online or offline */
    const char *search; /* substring of the code, names or description */
    int unused;         /* only tags no saved segment uses and no query read in 30 days */
} tb_tag_filter;

/* The tags, ordered by code: [{"code","name_zh","name_en","theme","theme_l1","type",
 * "value_type","status","version","online_version","owner","customer_types","segments",
 * "queries_30d"}]. `f` may be NULL. TB_ENOENT for an unknown theme, TB_EINVAL for a bad status. */
int tb_tag_list(tb_db *db, const tb_tag_filter *f, char **json_out);

/* Themes -> sub-themes -> tags, with counts: {"tags","online","themes":[{"code","name_zh",
 * "name_en","level","customer_types","tags","online","children":[{...,"items":[{"code",
 * "name_zh","name_en","type","value_type","status"}]}]}]}. */
int tb_tag_tree(tb_db *db, char **json_out);

/* One tag's definition at `version` (0: its newest) as in the file, plus "version",
 * "version_status" (draft, in_review, online, offline or superseded), "status",
 * "current_version", "online_version", "hash", "author", "created_at", "theme_path" (level 1 and
 * 2), "usage" {"segments","queries_30d"} and "coverage" (null, or {"build_id","batch_date",
 * "built_at","version","customers","coverage","ratio","distribution":{value: count}} from the
 * newest current tag build of the newest batch). TB_ENOENT for an unknown tag or version. */
int tb_tag_show(tb_db *db, const char *code_or_name, int version, char **json_out);

/* A tag's versions and events: {"code","status","version","online_version","versions":[
 * {"version","hash","author","created_at","comment","status"}],"events":[{"id","version",
 * "action","actor","at","comment"}]}. */
int tb_tag_history(tb_db *db, const char *code_or_name, char **json_out);

/* ---------------------------------------------------------------------------------------------
 * Tag builds, segments and the 360-degree view (src/tags/build.c, src/segments/)
 */

/* Every function below answers with a JSON document in *json_out (caller frees with free()) and
 * returns 0, or a negative TB_E* code with the detail in tb_errmsg(db) — for expressions, the
 * expression with a caret under the character where it goes wrong. `as_of` is a batch date
 * YYYYMMDD (NULL: the newest batch with built tags). Personal fields in answers are masked.
 * Thread-safety: as the tb_db handle. */

/* Computes every online tag of the catalog for the snapshot of `batch_date` (NULL: the newest),
 * writes the batch's tag store, records coverage and value distributions, and refreshes the
 * saved segments. `threads` 0: one per core. Needs a writable handle. */
int tb_tag_build(tb_db *db, const char *batch_date, int threads, char **json_out);

/* Whose customers a caller may see (applied inside the engine: counts, profiles, exports,
 * 360-degree views and diffs never leave the scope). */
typedef enum tb_scope_kind {
    TB_SCOPE_ALL = 0,     /* every customer (head office) */
    TB_SCOPE_ORG = 1,     /* the customers of org `scope_id` and the orgs below it */
    TB_SCOPE_MANAGER = 2, /* the customers assigned to customer manager `scope_id` */
} tb_scope_kind;

/* Options of every segment and customer query. A zeroed struct (or NULL) means: the newest
 * batch, the text form, one thread per core, every customer, personal fields masked. */
typedef struct tb_seg_opts {
    const char *as_of; /* YYYYMMDD or NULL */
    int is_json;       /* the expression is the JSON form */
    int threads;       /* 0: one per core */
    tb_scope_kind scope;
    const char *scope_id;
    int unmasked; /* personal fields in clear: only for callers with the right to see them */
    /* Exports only: keep the customers whose consent (PIPL ledger) allows this purpose on this
     * channel ("marketing", "sms"); NULL purpose: no consent filter. */
    const char *consent_purpose;
    const char *consent_channel;
} tb_seg_opts;

int tb_seg_count(tb_db *db, const char *expr, const tb_seg_opts *o, char **json_out);

/* Saves a dynamic segment `name` = `expr`, evaluated now and again after every tag build
 * (membership history kept). TB_EEXIST when the name is taken. Writable handle. */
int tb_seg_save(tb_db *db, const char *name, const char *expr, const tb_seg_opts *o,
                const char *user, const char *description, char **json_out);

/* 导入建群: a static segment from a file of customer numbers (or ID numbers, mobiles), one per
 * line; unknown ones are reported (masked) with their line numbers, never silently dropped. */
int tb_seg_import(tb_db *db, const char *name, const char *path, const char *user,
                  const char *description, char **json_out);

int tb_seg_list(tb_db *db, char **json_out);
/* The definition and the membership history (customers per batch). */
int tb_seg_show(tb_db *db, const char *name, char **json_out);
/* Removes a saved segment and its membership files. Writable handle. */
int tb_seg_delete(tb_db *db, const char *name, char **json_out);
/* Who entered and who left since the previous batch with a membership. */
int tb_seg_diff(tb_db *db, const char *name, const tb_seg_opts *o, size_t sample, char **json_out);
/* Sizes of A, B, both, either, only A, only B, and the Jaccard index. */
int tb_seg_overlap(tb_db *db, const char *a, const char *b, const tb_seg_opts *o, char **json_out);
/* The distribution of tag `by` over the segment: customers per value (and without one); for
 * numbers and dates count, sum, avg, min, max and percentiles 25/50/75/90. `name` may also be an
 * expression when it is not a saved segment's name. */
int tb_seg_profile(tb_db *db, const char *name, const char *by, const tb_seg_opts *o,
                   char **json_out);

/* Writes the segment's customers to the CSV file `out` (crash-safely; UTF-8, header line) with
 * `fields` (comma-separated: cust_no, name, cert_no, mobile, gid, tag codes; NULL: "cust_no"),
 * personal fields masked by their class unless o->unmasked, and, with o->consent_purpose, only
 * the customers whose consent allows it. Answers {"rows", "file", "masked_fields",
 * "without_consent", "millis"}. */
int tb_seg_export(tb_db *db, const char *name, const tb_seg_opts *o, const char *fields,
                  const char *out, char **json_out);

/* The 360-degree view of one customer, found by customer number, ID number, mobile or gid: the
 * golden record (masked), every tag with its value and lineage, grouped by theme, the saved
 * segments the customer belongs to, relationships. */
int tb_customer_360(tb_db *db, const char *who, const tb_seg_opts *o, char **json_out);

/* ---------------------------------------------------------------------------------------------
 * Event analysis (src/events/evapi.c; docs/events.md, "Analysis"): funnels, paths, retention and
 * counts over the day partitions of the data directory. `spec_json` is the query as a JSON object
 * (the same document the API takes as its body); the answer is JSON in *json_out (caller frees
 * with free()). o->scope limits the customers counted (persons not linked to a customer of the
 * scope are left out); o->as_of picks the tag batch for breakdowns and saved segments;
 * o->threads (0: 2). `user` names who saves a segment (funnel "save"). Errors: TB_EFORMAT for a
 * bad spec (the detail names the member), TB_ENOENT (no tag build when one is needed, unknown
 * segment or tag), TB_EEXIST (a segment name taken), TB_EPERM (saving on a read-only handle).
 */
int tb_ev_funnel(tb_db *db, const char *spec_json, const tb_seg_opts *o, const char *user,
                 char **json_out);
int tb_ev_paths(tb_db *db, const char *spec_json, const tb_seg_opts *o, char **json_out);
int tb_ev_retention(tb_db *db, const char *spec_json, const tb_seg_opts *o, char **json_out);
int tb_ev_count(tb_db *db, const char *spec_json, const tb_seg_opts *o, char **json_out);

#endif /* TAGBASE_H */
