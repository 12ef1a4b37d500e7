/* catalog.h — the tag centre's catalog: themes (level 1 and 2), tag definitions with their
 * metadata, versions, lifecycle (draft -> in_review -> online -> offline, publishing approved by a
 * second person) and history. Definitions come from JSON files users edit (catalog/default.json is
 * the default set) and live, versioned, in the meta store (tables tag_theme, tag, tag_version,
 * tag_event; migration 4). docs/tags.md is the user's manual of the file format.
 *
 * Ownership: everything a function hands out through a tb__arena lives in the caller's arena.
 * Thread-safety: as the tb_db handle (one per thread). */
#ifndef TB_TAGS_CATALOG_H
#define TB_TAGS_CATALOG_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "common/arena.h"
#include "common/err.h"
#include "tagbase.h"

typedef enum tb__tag_type {
    TB__TT_FACT,        /* a profile attribute as it is */
    TB__TT_RULE,        /* an expression over attributes (bands, thresholds, date arithmetic) */
    TB__TT_STATISTICAL, /* an aggregate over business detail rows in a window */
    TB__TT_MODEL,       /* from the pipeline's mining-model scores (bands of a score attribute) */
    TB__TT_EXTERNAL,    /* from the pipeline's external feature data */
    TB__TT_REALTIME,    /* set by event rules (the events issue); built as empty until then */
} tb__tag_type;

typedef enum tb__tag_vtype {
    TB__TV_BOOL,    /* true / false (stored: one bitmap of the true ids + not-null) */
    TB__TV_ENUM,    /* one of `values` (stored: one bitmap per value) */
    TB__TV_INT,     /* integer (stored: bit-sliced index) */
    TB__TV_DECIMAL, /* decimal with `scale` places (BSI of value * 10^scale) */
    TB__TV_DATE,    /* date (BSI of days since 1970-01-01) */
} tb__tag_vtype;

/* One value of an enum tag (or the true value of a boolean rule tag): `when` is a rule-mode
 * expression (src/segments/expr.h); the first value whose `when` holds wins; a customer matching
 * none has no value (NULL). */
typedef struct tb__tag_value {
    const char *value;   /* stored code: 'L1' */
    const char *name_zh; /* display names */
    const char *name_en;
    const char *when;
} tb__tag_value;

/* A statistical tag: agg over the valid rows of `business_type` in the batch whose `time_field`
 * falls in the `window_days` days up to the batch date (0: all rows of the batch), optionally
 * filtered by `where` (a rule-mode expression over the row's fields). */
typedef struct tb__tag_stat {
    const char *business_type;
    const char *agg;        /* "count", "sum", "avg", "max", "min", "distinct_days" */
    const char *field;      /* summed/averaged field; NULL for count */
    const char *time_field; /* date or time field the window applies to */
    int window_days;
    const char *where; /* NULL: every row */
} tb__tag_stat;

/* A tag definition at one version, as `tag build` and the engines need it. */
typedef struct tb__tag_def {
    const char *code; /* [a-z][a-z0-9_]{0,63} */
    const char *name_zh, *name_en, *description;
    const char *theme; /* level-2 theme code */
    tb__tag_type type;
    tb__tag_vtype vtype;
    int scale;             /* decimal places for TB__TV_DECIMAL, else 0 */
    unsigned cust_types;   /* tb__subdomain bits (pipeline/profile.h): who the tag applies to */
    const char *owner;     /* owning business line */
    const char *refresh;   /* "daily", "monthly", "realtime" ... */
    const char *attribute; /* fact/model/external without values: the profile attribute read */
    const char *expr;      /* rule value (int/decimal/date/bool): a rule-mode expression */
    const tb__tag_value *values; /* enum values, or bands of a model score, in order */
    size_t nvalues;
    tb__tag_stat stat;          /* statistical tags */
    const char *const *sources; /* lineage: "business_type.field" or "golden.field" items */
    size_t nsources;
    const char *pi_class; /* JR/T 0171: "C1" or "C2" (C3 is refused) */
    int security_level;   /* JR/T 0197: 1..5 */
    int version;
    const char *status; /* "draft", "in_review", "online", "offline" */
} tb__tag_def;

/* The definitions that `tag build` computes: every online tag at its online version, ordered by
 * code. *defs is an array of *n in `a`. */
int tb__catalog_online(tb_db *db, tb__arena *a, tb__tag_def **defs, size_t *n);

/* One tag by code, or by its Chinese or English name (exact, case-insensitive for ASCII), at its
 * current version (version 0) or a given version. TB_ENOENT when none. */
int tb__catalog_get(tb_db *db, const char *code_or_name, int version, tb__arena *a,
                    tb__tag_def **out);

/* Parses one tag definition object (the file format) into *out, in `a`. TB_EFORMAT with the
 * detail naming the tag and the field ("tag 'aum_level': field 'values[2].when': ...") */
int tb__catalog_parse_def(const json_t *j, tb__arena *a, tb__tag_def *out, tb__errbuf *eb);

/* Checks a parsed definition against a data standard: its sources name business types and fields
 * that exist ("golden.FIELD" a golden-record column; "events" app events, not checked), and a
 * statistical tag's business type, fields and `where` names exist with fitting types.
 * TB_EFORMAT with the detail naming the tag and the field; TB_ENOMEM. Scratch memory in `a`. */
typedef struct tb__standards tb__standards;
int tb__catalog_check_def(const tb__tag_def *d, const tb__standards *std, tb__arena *a,
                          tb__errbuf *eb);

/* The snapshot columns rule expressions and fact tags may read: the golden-record columns and
 * the profile attributes. Column i < tb__catalog_ncolumns(): its name (static) and, if `kind` is
 * not NULL, its tb__pkind (pipeline/profile.h); NULL past the end. */
size_t tb__catalog_ncolumns(void);
const char *tb__catalog_column(size_t i, int *kind);

/* Names of the enums as written in catalog files ("statistical", "decimal"). Static text. */
const char *tb__catalog_type_name(tb__tag_type t);
const char *tb__catalog_vtype_name(tb__tag_vtype t);

#endif
