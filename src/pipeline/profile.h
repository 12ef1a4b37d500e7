/* profile.h — collection: the customer profile attributes of a snapshot, computed from the valid
 * rows of the business sub-domains, one row per golden record (dense internal id).
 *
 * The attributes are declared in one table in profile.c (name, source business type, operation,
 * field, filter): balances, holdings, counts, dates, risk flags, model scores. Each row of a
 * business type that feeds attributes is "collected" into per-attribute arrays indexed by gid; the
 * arrays are written as columns of the snapshot (src/store/snapshot.h).
 *
 * Ownership: a tb__profile is created with tb__profile_create and freed (caller frees) with
 * tb__profile_free. Bindings belong to the profile. Not thread-safe.
 */
#ifndef TB_PIPELINE_PROFILE_H
#define TB_PIPELINE_PROFILE_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "pipeline/reader.h"

typedef struct tb__profile tb__profile;
typedef struct tb__profile_binding tb__profile_binding;

/* Value kinds of attributes, as stored in the snapshot. */
typedef enum tb__pkind {
    TB__PK_MONEY, /* int64, yuan * 100 (DECIMAL(18,2)); NULL INT64_MIN */
    TB__PK_RATE,  /* int64, value * 10000 (DECIMAL(9,4)); NULL INT64_MIN */
    TB__PK_INT,   /* int64 count or number; NULL INT64_MIN */
    TB__PK_DATE,  /* int32 days since 1970-01-01; NULL INT32_MIN */
    TB__PK_TIME,  /* int64 seconds since the epoch; NULL INT64_MIN */
    TB__PK_CODE,  /* dictionary-encoded text (a code of a code table); NULL code 0 */
} tb__pkind;

/* One attribute's description, for the snapshot manifest and the explain command. */
typedef struct tb__pattr_info {
    const char *name;
    const char *business_type; /* the sub-domain it is collected from; "derived" if computed */
    const char *field;         /* the field it reads ("" for counts) */
    const char *where;         /* "field=value" filter, or "" */
    tb__pkind kind;
    const char *description;
} tb__pattr_info;

/* The customer business-layer sub-domains (allocation by customer type). */
typedef enum tb__subdomain {
    TB__SD_RETAIL = 1 << 0, /* 个人: customer type 1, and persons known only to the card system */
    TB__SD_CORPORATE = 1 << 1, /* 公司: customer type 2 */
    TB__SD_MERCHANT = 1 << 2,  /* 商户: customer type 3 */
    TB__SD_ALL = 7,
} tb__subdomain;

/* The sub-domain of a golden record from its customer type code ("1", "2", "3"; NULL) and
 * whether it is a company: 0 when neither says. */
tb__subdomain tb__profile_subdomain_of(const char *cust_type, int company);

/* The sub-domains whose attribute set includes what `business_type` (or "golden.FIELD", or
 * "derived") provides: retail customers have payroll, cards, wealth, households; corporates and
 * merchants have business registration; deposits, loans, transactions, court records, AUM are
 * everyone's. */
unsigned tb__profile_subdomains(const char *business_type, const char *field);

/* Writes the names of the sub-domains in `set` as a JSON array text ("[\"retail\"]") into out. */
void tb__profile_subdomains_json(unsigned set, char *out, size_t cap);

int tb__profile_create(tb__profile **out);
void tb__profile_free(tb__profile *p);

/* Prepares collection for rows of `business_type` whose fields are named `names[0..n-1]` (the
 * standard's order). Returns 0 and *out (borrowed from p), or 0 and *out NULL when no attribute
 * reads this business type. TB_EFORMAT (detail in eb) when an attribute names a field the type
 * lacks: the standard and the attribute table disagree. */
int tb__profile_bind(tb__profile *p, const char *business_type, const char *const *names, size_t n,
                     tb__profile_binding **out, tb__errbuf *eb);

/* Declares gids 0..nrows-1 final: a column grows at most once more, to nrows, when a row first
 * reaches it. Then (and only then) threads may call tb__profile_add at the same time with
 * bindings of different business types (never two with the same type): their attributes are
 * disjoint columns, each grown by the thread that fills it. tb__profile_bind is thread-safe. */
void tb__profile_reserve(tb__profile *p, uint32_t nrows);

/* Collects one valid row (fields in the bound order) for golden record `gid`. Returns 1 when an
 * attribute took a value from the row, 0 when none did (a filter excluded it), TB_ENOMEM. */
int tb__profile_add(tb__profile *p, tb__profile_binding *b, uint32_t gid, const tb__field *fields,
                    size_t nfields);

/* Number of attributes, and each one's description (index < count). */
size_t tb__profile_nattrs(void);
const tb__pattr_info *tb__profile_attr(size_t i);
/* How attribute i is computed: sum, count, max, min, last, flag or derived. Static text. */
const char *tb__profile_attr_op(size_t i);

/* Finalises derived attributes (AUM = deposits + wealth + funds + metals) for gids 0..nrows-1
 * and hands the columns to `put` one by one: values are arrays of nrows int64 (MONEY, RATE, INT,
 * TIME), int32 (DATE) or uint32 codes (CODE) with the dictionary `dict` (dict[0] unused). */
typedef int (*tb__profile_put_fn)(void *arg, const tb__pattr_info *a, const void *values,
                                  const char *const *dict, const uint32_t *dict_len,
                                  uint32_t ndict);
int tb__profile_emit(tb__profile *p, uint32_t nrows, tb__profile_put_fn put, void *arg);

/* tb__profile_emit in parts, for two threads: tb__profile_finish once (every column grown to
 * nrows, AUM derived; TB_ENOMEM), then tb__profile_emit_range for attributes [from, to) of the
 * tb__profile_nattrs() there are, from as many threads as there are disjoint ranges. */
int tb__profile_finish(tb__profile *p, uint32_t nrows);
/* tb__profile_finish for attribute i alone, which must not be derived (its business type is not
 * "derived"): grown to nrows, NULL where no row reached it. For a column written out as soon as
 * the rows of its business type are all in, while other threads still add to other columns (each
 * column is its writer's alone). TB_ENOMEM; TB_EINVAL for a derived or unknown attribute. */
int tb__profile_finish_attr(tb__profile *p, size_t i, uint32_t nrows);
int tb__profile_emit_range(tb__profile *p, size_t from, size_t to, tb__profile_put_fn put,
                           void *arg);

#endif
