/* standard.h — data standards: the JSON files users edit that say, per business type, which fields
 * an extract row has and what each must hold; their versions in the meta store; and the row
 * validator the pipeline's acquisition runs on every row. docs/standards.md describes the format.
 *
 * Ownership, stated once for the module:
 *  - A tb__standards is created by tb__std_parse or tb__std_current / tb__std_get (caller frees
 *    with tb__std_free). Every type, field, code table and string reached through it is borrowed
 *    from it and lives until tb__std_free. On failure the out-pointer is NULL and nothing is owed.
 *  - Inputs (JSON bytes, records, field bytes) are borrowed and never retained.
 *
 * Thread-safety: a parsed tb__standards is immutable; any number of threads may call tb__std_find,
 * tb__std_check and the parse helpers on it at once. Functions taking a tb_db follow the handle's
 * rule (one thread at a time).
 */
#ifndef TB_PIPELINE_STANDARD_H
#define TB_PIPELINE_STANDARD_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "pipeline/reader.h"
#include "tagbase.h"

#define TB__STD_MAX_BYTES  ((size_t)16 << 20) /* largest standards file read or stored */
#define TB__STD_MAX_TYPES  1000               /* business types per document */
#define TB__STD_MAX_FIELDS 4096               /* fields per business type (the reader's limit) */
#define TB__STD_MAX_TABLES 10000              /* code tables per document */
#define TB__STD_MAX_CODES  1000000            /* codes per code table */
#define TB__STD_MAX_NAME   64                 /* bytes of a type, field or code-table name */
#define TB__STD_MAX_PREC   18                 /* decimal(p,s): p <= 18 fits an int64 */

typedef enum tb__std_kind {
    TB__STD_MART = 0,     /* business data of the bank's own systems */
    TB__STD_EXTERNAL = 1, /* external feature tags (court, business registration, ...) */
    TB__STD_MODEL = 2,    /* mining-model tags */
    TB__STD_REFERENCE = 3 /* reference data: regions, orgs, managers, groups */
} tb__std_kind;

typedef enum tb__std_ftype {
    TB__STD_STRING = 0,
    TB__STD_INT = 1,     /* optional '-', 1..19 digits, within int64 */
    TB__STD_DECIMAL = 2, /* decimal(p,s): optional '-', <= p-s integer digits, '.', <= s decimals */
    TB__STD_DATE = 3,    /* yyyy-MM-dd, a calendar date, years 1000..9999 */
    TB__STD_TIMESTAMP = 4 /* yyyy-MM-dd HH:mm:ss, Asia/Shanghai (UTC+8) */
} tb__std_ftype;

typedef enum tb__std_fcheck {
    TB__STD_CHECK_NONE = 0,
    TB__STD_CHECK_RESIDENT_ID = 1, /* GB 11643 */
    TB__STD_CHECK_USCC = 2,        /* GB 32100 */
    TB__STD_CHECK_ID_BY_TYPE = 3,  /* by the row's id type field: 101 resident ID, 201 USCC */
    TB__STD_CHECK_MOBILE = 4,      /* ^1[3-9][0-9]{9}$ */
    TB__STD_CHECK_LUHN = 5,        /* card number; a failure is a warning, not a rejection */
    TB__STD_CHECK_DATE = 6,        /* the field's type already checks it; kept for the record */
    TB__STD_CHECK_TIMESTAMP = 7
} tb__std_fcheck;

typedef enum tb__std_mask {
    TB__STD_MASK_NONE = 0,
    TB__STD_MASK_ID = 1,     /* tb__mask_id */
    TB__STD_MASK_MOBILE = 2, /* tb__mask_mobile */
    TB__STD_MASK_NAME = 3,   /* tb__mask_name */
    TB__STD_MASK_CARD = 4    /* tb__mask_card */
} tb__std_mask;

/* A code table, opaque: look codes up with tb__std_code_label. */
typedef struct tb__std_codes tb__std_codes;

/* One field (column) of a business type. Strings are borrowed from the tb__standards. */
typedef struct tb__std_field {
    const char *name;
    tb__std_ftype type;
    int precision, scale; /* decimal(p,s); 0 otherwise */
    int required;         /* 1: NULL is missing_required */
    tb__std_fcheck check;
    const tb__std_codes *codes; /* NULL: no code table */
    uint32_t max_len;           /* in characters (UTF-8); 0: no limit */
    int pi_class;               /* JR/T 0171: 1 (C1) or 2 (C2); C3 is refused at parse */
    int level;                  /* JR/T 0197: 1..5 */
    tb__std_mask mask;
    int id_type_field;       /* TB__STD_CHECK_ID_BY_TYPE: index of the id type field; else -1 */
    const char *description; /* "" when none */
} tb__std_field;

/* One business type. Field indexes are positions in fields[] (= column order in the extract). */
typedef struct tb__std_type {
    const char *name; /* the manifest's business_type */
    tb__std_kind kind;
    const char *source_system; /* core, card, court, aic, model, ref, ... */
    const char *description;   /* "" when none */
    const tb__std_field *fields;
    size_t nfields;
    const int *unique; /* indexes of the unique-key fields, in the order given */
    size_t nunique;
    /* The identity a row is about (customer_key); -1 / NULL when not given. */
    int key_field;          /* a customer number ... */
    const char *key_system; /* ... of this system */
    int cert_field;         /* or a certificate number ... */
    int cert_type_field;    /* ... whose type is in this field ... */
    const char *cert_type;  /* ... or is always this code (e.g. "201") */
} tb__std_type;

typedef struct tb__standards tb__standards;

/* Parses `len` bytes of untrusted JSON at `json` (need not be NUL-terminated). `source` names the
 * document in messages (copied). On success *out is the parsed set (caller frees with
 * tb__std_free). On failure *out is NULL and `eb` holds TB_EFORMAT with "<source>: <json path>:
 * <problem>", e.g. "standards/default.json: business_types.deposit.fields[4].type: 'decimal(18'
 * is not a type"; or TB_ELIMIT (over a TB__STD_MAX_* limit), TB_ENOMEM. Refused: unknown keys,
 * C3 fields (never stored), unknown types, checks or masks, references to missing code tables,
 * duplicate field names, unique or customer-key fields that do not exist, a check that does not
 * fit the field's type. */
int tb__std_parse(const char *json, size_t len, const char *source, tb__standards **out,
                  tb__errbuf *eb);

void tb__std_free(tb__standards *s); /* NULL is a no-op */

/* Accessors. Borrowed from `s`. */
const char *tb__std_source(const tb__standards *s);
const char *tb__std_version_note(const tb__standards *s); /* "" when none */
size_t tb__std_ntypes(const tb__standards *s);
const tb__std_type *tb__std_type_at(const tb__standards *s, size_t i); /* sorted by name */
/* The business type called `business_type`, or NULL. */
const tb__std_type *tb__std_find(const tb__standards *s, const char *business_type);
/* The index of the field called `name` in `t`, or -1. */
int tb__std_field_index(const tb__std_type *t, const char *name);

size_t tb__std_ncode_tables(const tb__standards *s);
const tb__std_codes *tb__std_code_table_at(const tb__standards *s, size_t i); /* sorted by name */
const char *tb__std_codes_name(const tb__std_codes *c);
size_t tb__std_codes_count(const tb__std_codes *c);
/* The label of code p[0..n), or NULL when the code is not in the table. No allocation. */
const char *tb__std_code_label(const tb__std_codes *c, const char *p, size_t n);

/* Names for display and JSON: "mart", "string", "decimal" (without (p,s)), "resident_id", "id",
 * ... Static text; "" for NONE values of check and mask. */
const char *tb__std_kind_name(tb__std_kind k);
const char *tb__std_ftype_name(tb__std_ftype t);
const char *tb__std_check_name(tb__std_fcheck c);
const char *tb__std_mask_name(tb__std_mask m);

/* ---------------------------------------------------------------------------------------------
 * Row validation
 */

/* Why a row is rejected. Every rule name lives here, including the two the pipeline decides with
 * the unique key (DUPLICATE_ROW: identical to the previous row; KEY_CONFLICT: same unique key,
 * different content), which tb__std_check never returns. */
typedef enum tb__std_rule {
    TB__STD_OK = 0,
    TB__STD_WRONG_COLUMN_COUNT,
    TB__STD_MISSING_REQUIRED,
    TB__STD_UNKNOWN_CODE,
    TB__STD_BAD_ID_CHECK,
    TB__STD_BAD_MOBILE,
    TB__STD_BAD_DATE,
    TB__STD_BAD_TIMESTAMP,
    TB__STD_BAD_NUMBER,
    TB__STD_TOO_LONG,
    TB__STD_BAD_ENCODING,
    TB__STD_DUPLICATE_ROW,
    TB__STD_KEY_CONFLICT,
    TB__STD_RULE_COUNT
} tb__std_rule;

/* Warnings: reported, the row is kept. Flags for tb__std_verdict.warnings. */
typedef enum tb__std_warning {
    TB__STD_WARN_LUHN = 1 << 0, /* a luhn-checked field fails its check digit */
} tb__std_warning;

typedef struct tb__std_verdict {
    tb__std_rule rule; /* TB__STD_OK or the first broken rule */
    int field;         /* index of the field that broke it; -1 for whole-row rules and OK */
    unsigned warnings; /* tb__std_warning flags of the fields checked */
    int warn_field;    /* index of the first field that warned; -1 when none */
} tb__std_verdict;

/* Checks one record against business type `t` and fills *v. Order (that of the generator's
 * independent checker, tests/e2e/lib/gen_check.mjs): field count, then per field in column
 * order: NULL (missing_required when required, else the field passes), invalid UTF-8
 * (bad_encoding), code-table membership (unknown_code), the check (resident_id / uscc /
 * id_by_type: bad_id_check; mobile: bad_mobile; luhn: warning), the type (date: bad_date,
 * timestamp: bad_timestamp, int/decimal: bad_number), then max_len (too_long). Stops at the first
 * broken rule. Fields must be UTF-8 (convert GB18030 extracts first); when rec->utf8 says the
 * reader found the whole record well-formed, fields are not checked again. Returns v->rule (0 when
 * the row passes). No allocation; thread-safe. */
int tb__std_check(const tb__std_type *t, const tb__record *rec, tb__std_verdict *v);

/* "wrong_column_count", "missing_required", ... as in the manifest's defect kinds; "ok" for OK;
 * "unknown" out of range. Static text. tb__std_warning_name gives "bad_luhn". */
const char *tb__std_rule_name(tb__std_rule rule);
const char *tb__std_warning_name(tb__std_warning w);

/* Value parsers the pipeline shares with the validator. Each reads exactly p[0..n) (no NUL
 * needed), allocates nothing and returns 0, or TB_EFORMAT (not the format) / TB_ERANGE (out of
 * range); *out is written only on success. */
/* "yyyy-MM-dd" -> days since 1970-01-01 (negative before). */
int tb__std_parse_date(const char *p, size_t n, int32_t *days);
/* "yyyy-MM-dd HH:mm:ss" in Asia/Shanghai -> seconds since the epoch (UTC). */
int tb__std_parse_timestamp(const char *p, size_t n, int64_t *epoch);
/* A decimal with at most `scale` (0..18) decimals -> value * 10^scale, e.g. ("-12.5", 2) ->
 * -1250. Up to 18 significant digits in total; TB_EINVAL for a scale out of range. */
int tb__std_parse_decimal(const char *p, size_t n, int scale, int64_t *out);
/* An integer: optional '-', digits, within int64. */
int tb__std_parse_int(const char *p, size_t n, int64_t *out);

/* ---------------------------------------------------------------------------------------------
 * Versions in the meta store (table standard_version)
 */

/* What tb__std_store / tb__std_load_ex did. */
typedef struct tb__std_load_result {
    int version;   /* the version now current */
    int unchanged; /* 1: the body was identical to the latest version; nothing stored */
    size_t ntypes; /* business types in the document */
} tb__std_load_result;

/* Parses `len` bytes of JSON named `source` and, if they are valid, stores them as a new version,
 * unless the body is byte-identical to the latest version (then res->unchanged = 1 and that
 * version is returned). A refused document stores nothing. Each stored version carries a hash
 * chained to the previous version's (docs/standards.md), so history cannot be edited unseen.
 * Errors (detail in tb_errmsg(db)): TB_EFORMAT / TB_ELIMIT (as tb__std_parse), TB_EPERM
 * (read-only handle), TB_ESTORE, TB_ENOMEM. */
int tb__std_store(tb_db *db, const char *json, size_t len, const char *source,
                  tb__std_load_result *res);

/* Reads the file at `path` (at most TB__STD_MAX_BYTES) and stores it as tb__std_store does, with
 * `path` as its source. Adds TB_ENOENT (no such file) and TB_EIO to tb__std_store's errors. */
int tb__std_load_ex(tb_db *db, const char *path, tb__std_load_result *res);
/* The same, giving only the version now current. */
int tb__std_load(tb_db *db, const char *path, int *version_out);

/* The latest stored version, parsed: *out (caller frees with tb__std_free) and *version. Errors:
 * TB_ENOENT "no data standards loaded: run 'tagbase standard load FILE'", TB_ECORRUPT (the stored
 * body fails its hash or no longer parses), TB_ESTORE, TB_ENOMEM. */
int tb__std_current(tb_db *db, tb__standards **out, int *version);
/* Version `version`, parsed; TB_ENOENT "no data standards version N" when there is none. */
int tb__std_get(tb_db *db, int version, tb__standards **out);

/* One stored version, as tb__std_list passes it. Strings are borrowed for the callback only. */
typedef struct tb__std_version_info {
    int version;
    const char *source;       /* the file it was loaded from */
    const char *hash;         /* 16 hex digits, chained (see tb__std_store) */
    const char *loaded_at;    /* "yyyy-MM-dd HH:mm:ss" Asia/Shanghai */
    const char *version_note; /* "" when none */
    size_t ntypes;            /* business types */
    size_t bytes;             /* size of the body */
    int current;              /* 1 for the latest version */
} tb__std_version_info;

/* Calls fn(info, arg) for each stored version, oldest first; `fn` must not use `db`. A non-zero
 * return from `fn` stops the walk and is returned. Returns 0, or TB_ESTORE / TB_ENOMEM. */
int tb__std_list(tb_db *db, int (*fn)(const tb__std_version_info *info, void *arg), void *arg);

#endif
