/* standard.c — data standards: parsing the JSON users edit, storing versions in the meta store,
 * and the per-row validator of the pipeline's acquisition (see standard.h, docs/standards.md). */
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/arena.h"
#include "common/clock.h"
#include "common/utf8.h"
#include "pipeline/standard.h"
#include "store/file.h"
#include "store/meta.h"

typedef struct code_entry {
    const char *code;
    uint32_t len;
    const char *label;
} code_entry;

struct tb__std_codes {
    const char *name;
    code_entry *entries; /* in document order */
    size_t n;
    uint32_t *slots; /* open addressing: entry index + 1, 0 = empty */
    uint32_t mask;   /* slots - 1 (a power of two minus one) */
};

struct tb__standards {
    const char *source;
    const char *version_note;
    tb__std_type *types; /* sorted by name */
    size_t ntypes;
    tb__std_codes *tables; /* sorted by name */
    size_t ntables;
    tb__arena arena; /* owns everything above */
};

/* ---------------------------------------------------------------------------------------------
 * Names
 */

static const char *const rule_names[TB__STD_RULE_COUNT] = {
    [TB__STD_OK] = "ok",
    [TB__STD_WRONG_COLUMN_COUNT] = "wrong_column_count",
    [TB__STD_MISSING_REQUIRED] = "missing_required",
    [TB__STD_UNKNOWN_CODE] = "unknown_code",
    [TB__STD_BAD_ID_CHECK] = "bad_id_check",
    [TB__STD_BAD_MOBILE] = "bad_mobile",
    [TB__STD_BAD_DATE] = "bad_date",
    [TB__STD_BAD_TIMESTAMP] = "bad_timestamp",
    [TB__STD_BAD_NUMBER] = "bad_number",
    [TB__STD_TOO_LONG] = "too_long",
    [TB__STD_BAD_ENCODING] = "bad_encoding",
    [TB__STD_DUPLICATE_ROW] = "duplicate_row",
    [TB__STD_KEY_CONFLICT] = "key_conflict",
};

/* One table for every rule name, so the pipeline, the CLI and reports can never disagree. */
const char *tb__std_rule_name(tb__std_rule rule)
{
    if ((unsigned)rule >= TB__STD_RULE_COUNT) return "unknown";
    return rule_names[rule];
}

/* Warnings are flags; only one exists so far, named as the generator's checker names it. */
const char *tb__std_warning_name(tb__std_warning w)
{
    return w == TB__STD_WARN_LUHN ? "bad_luhn" : "unknown";
}

static const char *const kind_names[] = {"mart", "external", "model", "reference"};
static const char *const ftype_names[] = {"string", "int", "decimal", "date", "timestamp"};
static const char *const check_names[] = {"",       "resident_id", "uscc", "id_by_type",
                                          "mobile", "luhn",        "date", "timestamp"};
static const char *const mask_names[] = {"", "id", "mobile", "name", "card"};
#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* Display names, bounds-checked so a corrupt enum never indexes past the tables. */
const char *tb__std_kind_name(tb__std_kind k)
{
    return (unsigned)k < NELEM(kind_names) ? kind_names[k] : "unknown";
}

/* See tb__std_kind_name. */
const char *tb__std_ftype_name(tb__std_ftype t)
{
    return (unsigned)t < NELEM(ftype_names) ? ftype_names[t] : "unknown";
}

/* See tb__std_kind_name. */
const char *tb__std_check_name(tb__std_fcheck c)
{
    return (unsigned)c < NELEM(check_names) ? check_names[c] : "unknown";
}

/* See tb__std_kind_name. */
const char *tb__std_mask_name(tb__std_mask m)
{
    return (unsigned)m < NELEM(mask_names) ? mask_names[m] : "unknown";
}

/* Finds `s` in a table of names; the index, or -1. Used by the parser for enums. */
static int name_index(const char *const *names, size_t n, const char *s)
{
    for (size_t i = 0; i < n; i++)
        if (names[i][0] && strcmp(names[i], s) == 0) return (int)i;
    return -1;
}

/* ---------------------------------------------------------------------------------------------
 * Code tables
 */

/* FNV-1a, 32-bit: codes are a few bytes long, so a simple byte-wise hash beats anything wider. */
static inline uint32_t fnv32(const char *p, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)p[i]) * 16777619u;
    return h;
}

/* Runs on every coded field of every row: one hash, usually one probe, no allocation. */
const char *tb__std_code_label(const tb__std_codes *c, const char *p, size_t n)
{
    if (!c || !c->slots) return NULL;
    uint32_t i = fnv32(p, n) & c->mask;
    for (;;) {
        uint32_t e = c->slots[i];
        if (!e) return NULL;
        const code_entry *ce = &c->entries[e - 1];
        if (ce->len == n && memcmp(ce->code, p, n) == 0) return ce->label;
        i = (i + 1) & c->mask;
    }
}

/* Builds the hash at parse time, at most half full so that probes stay short. */
static int codes_index(tb__arena *a, tb__std_codes *c)
{
    uint32_t cap = 8;
    while (cap < 2 * c->n)
        cap <<= 1;
    c->slots = tb__arena_calloc(a, cap, sizeof *c->slots);
    if (!c->slots) return TB_ENOMEM;
    c->mask = cap - 1;
    for (size_t k = 0; k < c->n; k++) {
        uint32_t i = fnv32(c->entries[k].code, c->entries[k].len) & c->mask;
        while (c->slots[i])
            i = (i + 1) & c->mask;
        c->slots[i] = (uint32_t)k + 1;
    }
    return 0;
}

/* Accessors: thin, so callers never depend on the private layout. */
const char *tb__std_codes_name(const tb__std_codes *c)
{
    return c->name;
}

/* See tb__std_codes_name. */
size_t tb__std_codes_count(const tb__std_codes *c)
{
    return c->n;
}

/* ---------------------------------------------------------------------------------------------
 * Value parsers: hand-written because they run per field of every row (no sscanf, no locale).
 */

static const unsigned char mdays[13] = {0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

static inline int is_leap(unsigned y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static inline int digits(const char *p, size_t n, unsigned *out)
{
    unsigned v = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned d = (unsigned char)p[i] - '0';
        if (d > 9) return 0;
        v = v * 10 + d;
    }
    *out = v;
    return 1;
}

/* Days from 1970-01-01 to a proleptic Gregorian date (H. Hinnant's days_from_civil). */
static int32_t days_from_civil(int y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int32_t)doe - 719468;
}

/* Only the exact shape yyyy-MM-dd is a date: the generator's checker accepts nothing else, and
 * a looser parser would let two readings of one value into the profile. */
int tb__std_parse_date(const char *p, size_t n, int32_t *days)
{
    unsigned y, m, d;
    if (n != 10 || p[4] != '-' || p[7] != '-') return TB_EFORMAT;
    if (!digits(p, 4, &y) || !digits(p + 5, 2, &m) || !digits(p + 8, 2, &d)) return TB_EFORMAT;
    if (y < 1000 || m < 1 || m > 12 || d < 1) return TB_EFORMAT;
    if (d > (unsigned)mdays[m] + (m == 2 && is_leap(y))) return TB_EFORMAT;
    *days = days_from_civil((int)y, m, d);
    return 0;
}

/* Timestamps are local time of Asia/Shanghai, a fixed UTC+8 (see clock.h). */
int tb__std_parse_timestamp(const char *p, size_t n, int64_t *epoch)
{
    int32_t days;
    unsigned h, mi, s;
    if (n != 19 || p[10] != ' ' || p[13] != ':' || p[16] != ':') return TB_EFORMAT;
    if (tb__std_parse_date(p, 10, &days)) return TB_EFORMAT;
    if (!digits(p + 11, 2, &h) || !digits(p + 14, 2, &mi) || !digits(p + 17, 2, &s))
        return TB_EFORMAT;
    if (h > 23 || mi > 59 || s > 59) return TB_EFORMAT;
    *epoch = (int64_t)days * 86400 + h * 3600 + mi * 60 + s - 8 * 3600;
    return 0;
}

/* Integers within int64, accumulated unsigned so that overflow is detected, not undefined. */
int tb__std_parse_int(const char *p, size_t n, int64_t *out)
{
    size_t i = 0;
    int neg = 0;
    if (n && p[0] == '-') neg = 1, i = 1;
    if (i == n) return TB_EFORMAT;
    uint64_t v = 0, lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    for (; i < n; i++) {
        unsigned d = (unsigned char)p[i] - '0';
        if (d > 9) return TB_EFORMAT;
        if (v > (lim - d) / 10) {
            /* keep checking the syntax: a non-number is bad_number before it is too large */
            for (; i < n; i++)
                if ((unsigned)((unsigned char)p[i] - '0') > 9) return TB_EFORMAT;
            return TB_ERANGE;
        }
        v = v * 10 + d;
    }
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return 0;
}

/* Splits a decimal into its digits: returns 0 with the value scaled by 10^scale in *v, the count
 * of significant integer digits in *idig; TB_EFORMAT for bad syntax or more decimals than
 * `scale`; TB_ERANGE beyond 18 significant digits. Shared by the parser and the validator. */
static int scan_decimal(const char *p, size_t n, int scale, uint64_t *v, int *idig, int *neg)
{
    size_t i = 0;
    *neg = 0;
    if (n && p[0] == '-') *neg = 1, i = 1;
    size_t start = i;
    uint64_t acc = 0;
    int sig = 0, frac = 0, range = 0;
    for (; i < n && p[i] != '.'; i++) {
        unsigned d = (unsigned char)p[i] - '0';
        if (d > 9) return TB_EFORMAT;
        if (sig || d) sig++;
        if (sig > TB__STD_MAX_PREC)
            range = 1;
        else
            acc = acc * 10 + d;
    }
    if (i == start) return TB_EFORMAT; /* no integer digit: ".5", "-", "" */
    if (i < n) {
        size_t fs = ++i;
        for (; i < n; i++) {
            unsigned d = (unsigned char)p[i] - '0';
            if (d > 9) return TB_EFORMAT;
            frac++;
            if (!range) acc = acc * 10 + d;
        }
        if (i == fs) return TB_EFORMAT; /* "12." */
        if (frac > scale) return TB_EFORMAT;
    }
    if (range || sig + scale > TB__STD_MAX_PREC) return TB_ERANGE;
    for (int k = frac; k < scale; k++)
        acc *= 10;
    *v = acc;
    *idig = sig;
    return 0;
}

/* Money and rates become exact scaled integers: no binary floating point anywhere near a yuan. */
int tb__std_parse_decimal(const char *p, size_t n, int scale, int64_t *out)
{
    uint64_t v;
    int idig, neg;
    if (scale < 0 || scale > TB__STD_MAX_PREC) return TB_EINVAL;
    int rc = scan_decimal(p, n, scale, &v, &idig, &neg);
    if (rc) return rc;
    *out = neg ? -(int64_t)v : (int64_t)v;
    return 0;
}

/* ---------------------------------------------------------------------------------------------
 * Row validation
 */

/* Counts UTF-8 characters (bytes that are not continuation bytes); only called when the byte
 * length already exceeds the limit, so the common case costs one comparison. */
static size_t utf8_chars(const char *p, size_t n)
{
    size_t c = 0;
    for (size_t i = 0; i < n; i++)
        c += ((unsigned char)p[i] & 0xC0) != 0x80;
    return c;
}

static inline int reject(tb__std_verdict *v, tb__std_rule rule, int field)
{
    v->rule = rule;
    v->field = field;
    return (int)rule;
}

/* The order of checks is that of gen_check.mjs and docs/gen.md, so that the validator and the
 * generator's independent checker classify every injected defect the same way. */
int tb__std_check(const tb__std_type *t, const tb__record *rec, tb__std_verdict *v)
{
    v->rule = TB__STD_OK;
    v->field = -1;
    v->warnings = 0;
    v->warn_field = -1;
    if (rec->nfields != t->nfields) return reject(v, TB__STD_WRONG_COLUMN_COUNT, -1);
    for (size_t i = 0; i < t->nfields; i++) {
        const tb__field *f = &rec->fields[i];
        const tb__std_field *d = &t->fields[i];
        int fi = (int)i;
        if (f->is_null) {
            if (d->required) return reject(v, TB__STD_MISSING_REQUIRED, fi);
            continue;
        }
        const char *p = f->ptr;
        size_t n = f->len;
        if (!rec->utf8 && tb__utf8_validate((const unsigned char *)p, n, NULL))
            return reject(v, TB__STD_BAD_ENCODING, fi);
        if (d->codes && !tb__std_code_label(d->codes, p, n))
            return reject(v, TB__STD_UNKNOWN_CODE, fi);
        tb__std_fcheck check = d->check;
        if (check == TB__STD_CHECK_ID_BY_TYPE) {
            const tb__field *tf = &rec->fields[d->id_type_field];
            check = TB__STD_CHECK_NONE;
            if (!tf->is_null && tf->len == 3) {
                if (memcmp(tf->ptr, "101", 3) == 0)
                    check = TB__STD_CHECK_RESIDENT_ID;
                else if (memcmp(tf->ptr, "201", 3) == 0)
                    check = TB__STD_CHECK_USCC;
            }
        }
        switch (check) {
        case TB__STD_CHECK_RESIDENT_ID:
            if (!tb_valid_resident_id(p, n)) return reject(v, TB__STD_BAD_ID_CHECK, fi);
            break;
        case TB__STD_CHECK_USCC:
            if (!tb_valid_uscc(p, n)) return reject(v, TB__STD_BAD_ID_CHECK, fi);
            break;
        case TB__STD_CHECK_MOBILE:
            if (!tb_valid_mobile(p, n)) return reject(v, TB__STD_BAD_MOBILE, fi);
            break;
        case TB__STD_CHECK_LUHN:
            if (!tb_valid_luhn(p, n)) {
                if (!v->warnings) v->warn_field = fi;
                v->warnings |= TB__STD_WARN_LUHN;
            }
            break;
        default:
            break;
        }
        switch (d->type) {
        case TB__STD_INT: {
            int64_t x;
            if (tb__std_parse_int(p, n, &x)) return reject(v, TB__STD_BAD_NUMBER, fi);
            break;
        }
        case TB__STD_DECIMAL: {
            uint64_t x;
            int idig, neg;
            if (scan_decimal(p, n, d->scale, &x, &idig, &neg) || idig > d->precision - d->scale)
                return reject(v, TB__STD_BAD_NUMBER, fi);
            break;
        }
        case TB__STD_DATE: {
            int32_t x;
            if (tb__std_parse_date(p, n, &x)) return reject(v, TB__STD_BAD_DATE, fi);
            break;
        }
        case TB__STD_TIMESTAMP: {
            int64_t x;
            if (tb__std_parse_timestamp(p, n, &x)) return reject(v, TB__STD_BAD_TIMESTAMP, fi);
            break;
        }
        default:
            break;
        }
        if (d->max_len && n > d->max_len && utf8_chars(p, n) > d->max_len)
            return reject(v, TB__STD_TOO_LONG, fi);
    }
    return TB__STD_OK;
}

/* ---------------------------------------------------------------------------------------------
 * Parsing
 */

typedef struct pctx {
    tb__standards *s;
    tb__errbuf *eb;
} pctx;

/* Every parse error reads "<source>: <json path>: <problem>", so a user can find the spot. */
__attribute__((format(printf, 4, 5))) static int perr(pctx *c, int code, const char *path,
                                                      const char *fmt, ...)
{
    char msg[TB__ERRMSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (path && *path) return tb__seterr(c->eb, code, "%s: %s: %s", c->s->source, path, msg);
    return tb__seterr(c->eb, code, "%s: %s", c->s->source, msg);
}

/* Names become identifiers in tables, SQL values and terminals: hold them to [A-Za-z0-9_]. */
static int valid_name(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > TB__STD_MAX_NAME) return 0;
    if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || *s == '_')) return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '_'))
            return 0;
    return 1;
}

/* Refuses keys the format does not define: a misspelt "requried" must not silently vanish. */
static int check_keys(pctx *c, json_t *obj, const char *path, const char *const *allowed)
{
    const char *key;
    json_t *val;
    json_object_foreach(obj, key, val)
    {
        const char *const *a = allowed;
        while (*a && strcmp(*a, key) != 0)
            a++;
        if (!*a) return perr(c, TB_EFORMAT, path, "unknown key '%s'", key);
    }
    return 0;
}

/* An optional string member: NULL when absent or null; a type error otherwise. */
static int opt_string(pctx *c, json_t *obj, const char *key, const char *path, const char **out)
{
    json_t *v = json_object_get(obj, key);
    *out = NULL;
    if (!v || json_is_null(v)) return 0;
    if (!json_is_string(v)) return perr(c, TB_EFORMAT, path, "'%s' must be a string", key);
    *out = tb__arena_strdup(&c->s->arena, json_string_value(v));
    return *out ? 0 : TB_ENOMEM;
}

static int req_string(pctx *c, json_t *obj, const char *key, const char *path, const char **out)
{
    int rc = opt_string(c, obj, key, path, out);
    if (rc) return rc;
    if (!*out) return perr(c, TB_EFORMAT, path, "'%s' is required", key);
    return 0;
}

static int cmp_codes(const void *a, const void *b)
{
    return strcmp(((const tb__std_codes *)a)->name, ((const tb__std_codes *)b)->name);
}

static int cmp_types(const void *a, const void *b)
{
    return strcmp(((const tb__std_type *)a)->name, ((const tb__std_type *)b)->name);
}

static const tb__std_codes *find_table(const tb__standards *s, const char *name)
{
    size_t lo = 0, hi = s->ntables;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int r = strcmp(name, s->tables[mid].name);
        if (r == 0) return &s->tables[mid];
        if (r < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

/* "code_tables": {name: {code: label}}: copied into the arena and indexed for the validator. */
static int parse_code_tables(pctx *c, json_t *ct)
{
    tb__standards *s = c->s;
    if (!ct || json_is_null(ct)) return 0;
    if (!json_is_object(ct)) return perr(c, TB_EFORMAT, "code_tables", "must be an object");
    size_t n = json_object_size(ct);
    if (n > TB__STD_MAX_TABLES)
        return perr(c, TB_ELIMIT, "code_tables", "more than %d code tables", TB__STD_MAX_TABLES);
    s->tables = tb__arena_calloc(&s->arena, n ? n : 1, sizeof *s->tables);
    if (!s->tables) return TB_ENOMEM;
    const char *name;
    json_t *tab;
    char path[TB__STD_MAX_NAME + 64];
    json_object_foreach(ct, name, tab)
    {
        if (!valid_name(name))
            return perr(c, TB_EFORMAT, "code_tables",
                        "'%s' is not a valid name (letters, digits, '_', at most %d)", name,
                        TB__STD_MAX_NAME);
        snprintf(path, sizeof path, "code_tables.%s", name);
        if (!json_is_object(tab))
            return perr(c, TB_EFORMAT, path, "must be an object of code: label");
        size_t m = json_object_size(tab);
        if (m > TB__STD_MAX_CODES)
            return perr(c, TB_ELIMIT, path, "more than %d codes", TB__STD_MAX_CODES);
        tb__std_codes *t = &s->tables[s->ntables++];
        t->name = tb__arena_strdup(&s->arena, name);
        t->entries = tb__arena_calloc(&s->arena, m ? m : 1, sizeof *t->entries);
        if (!t->name || !t->entries) return TB_ENOMEM;
        const char *code;
        json_t *label;
        json_object_foreach(tab, code, label)
        {
            size_t cl = strlen(code);
            if (cl == 0 || cl > TB__STD_MAX_NAME)
                return perr(c, TB_EFORMAT, path, "code '%s' must have 1 to %d bytes", code,
                            TB__STD_MAX_NAME);
            if (!json_is_string(label))
                return perr(c, TB_EFORMAT, path, "the label of code '%s' must be a string", code);
            code_entry *e = &t->entries[t->n++];
            e->code = tb__arena_strndup(&s->arena, code, cl);
            e->len = (uint32_t)cl;
            e->label = tb__arena_strdup(&s->arena, json_string_value(label));
            if (!e->code || !e->label) return TB_ENOMEM;
        }
        int rc = codes_index(&s->arena, t);
        if (rc) return rc;
    }
    qsort(s->tables, s->ntables, sizeof *s->tables, cmp_codes);
    return 0;
}

/* "decimal(p,s)" with 1 <= p <= 18, 0 <= s <= p; anything else is not a type. */
static int parse_decimal_type(const char *s, int *prec, int *scale)
{
    unsigned p = 0, q = 0;
    const char *x = s + 8;
    if (strncmp(s, "decimal(", 8) != 0) return 0;
    const char *st = x;
    while (*x >= '0' && *x <= '9' && x - st < 3)
        p = p * 10 + (unsigned)(*x++ - '0');
    if (x == st || *x++ != ',') return 0;
    st = x;
    while (*x >= '0' && *x <= '9' && x - st < 3)
        q = q * 10 + (unsigned)(*x++ - '0');
    if (x == st || *x++ != ')' || *x) return 0;
    if (p < 1 || p > TB__STD_MAX_PREC || q > p) return 0;
    *prec = (int)p;
    *scale = (int)q;
    return 1;
}

static int parse_field(pctx *c, json_t *fo, const char *tpath, size_t k, tb__std_field *f,
                       const char **id_type_name, const char **codes_name)
{
    static const char *const keys[] = {"name",  "type",        "required",      "check",
                                       "codes", "max_len",     "pi_class",      "level",
                                       "mask",  "description", "id_type_field", NULL};
    char path[TB__STD_MAX_NAME * 2 + 64];
    char kp[sizeof path + 32];
    snprintf(path, sizeof path, "%s.fields[%zu]", tpath, k);
    if (!json_is_object(fo)) return perr(c, TB_EFORMAT, path, "must be an object");
    int rc = check_keys(c, fo, path, keys);
    if (rc) return rc;

    snprintf(kp, sizeof kp, "%s.name", path);
    if ((rc = req_string(c, fo, "name", path, &f->name))) return rc;
    if (!valid_name(f->name))
        return perr(c, TB_EFORMAT, kp,
                    "'%s' is not a valid name (letters, digits, '_', at most %d)", f->name,
                    TB__STD_MAX_NAME);

    const char *ty;
    snprintf(kp, sizeof kp, "%s.type", path);
    if ((rc = req_string(c, fo, "type", path, &ty))) return rc;
    int ti = name_index(ftype_names, NELEM(ftype_names), ty);
    if (ti >= 0 && ti != TB__STD_DECIMAL) {
        f->type = (tb__std_ftype)ti;
    } else if (parse_decimal_type(ty, &f->precision, &f->scale)) {
        f->type = TB__STD_DECIMAL;
    } else {
        return perr(c, TB_EFORMAT, kp,
                    "'%s' is not a type (string, int, decimal(p,s) with p <= 18, date, timestamp)",
                    ty);
    }

    json_t *v = json_object_get(fo, "required");
    if (v && !json_is_boolean(v) && !json_is_null(v))
        return perr(c, TB_EFORMAT, path, "'required' must be true or false");
    f->required = json_is_true(v);

    const char *s;
    snprintf(kp, sizeof kp, "%s.check", path);
    if ((rc = opt_string(c, fo, "check", path, &s))) return rc;
    f->check = TB__STD_CHECK_NONE;
    f->id_type_field = -1;
    if (s) {
        int ci = name_index(check_names, NELEM(check_names), s);
        if (ci < 0)
            return perr(c, TB_EFORMAT, kp,
                        "'%s' is not a check (resident_id, uscc, id_by_type, mobile, luhn, date, "
                        "timestamp or null)",
                        s);
        f->check = (tb__std_fcheck)ci;
        int want_string = f->check != TB__STD_CHECK_DATE && f->check != TB__STD_CHECK_TIMESTAMP;
        if ((want_string && f->type != TB__STD_STRING) ||
            (f->check == TB__STD_CHECK_DATE && f->type != TB__STD_DATE) ||
            (f->check == TB__STD_CHECK_TIMESTAMP && f->type != TB__STD_TIMESTAMP))
            return perr(c, TB_EFORMAT, kp, "check '%s' does not fit type '%s'", s, ty);
    }
    if ((rc = opt_string(c, fo, "id_type_field", path, id_type_name))) return rc;
    if (*id_type_name && f->check != TB__STD_CHECK_ID_BY_TYPE)
        return perr(c, TB_EFORMAT, path, "'id_type_field' needs check 'id_by_type'");
    if (!*id_type_name && f->check == TB__STD_CHECK_ID_BY_TYPE) *id_type_name = "id_type";

    if ((rc = opt_string(c, fo, "codes", path, codes_name))) return rc;
    if (*codes_name) {
        snprintf(kp, sizeof kp, "%s.codes", path);
        f->codes = find_table(c->s, *codes_name);
        if (!f->codes)
            return perr(c, TB_EFORMAT, kp, "no code table '%s' in code_tables", *codes_name);
    }

    v = json_object_get(fo, "max_len");
    snprintf(kp, sizeof kp, "%s.max_len", path);
    if (v && !json_is_null(v)) {
        if (!json_is_integer(v) || json_integer_value(v) < 1 ||
            json_integer_value(v) > (json_int_t)TB__READER_DEFAULT_MAX_RECORD)
            return perr(c, TB_EFORMAT, kp, "must be null or an integer from 1 to %zu",
                        TB__READER_DEFAULT_MAX_RECORD);
        f->max_len = (uint32_t)json_integer_value(v);
    }

    snprintf(kp, sizeof kp, "%s.pi_class", path);
    if ((rc = req_string(c, fo, "pi_class", path, &s))) return rc;
    if (strcmp(s, "C1") == 0) {
        f->pi_class = 1;
    } else if (strcmp(s, "C2") == 0) {
        f->pi_class = 2;
    } else if (strcmp(s, "C3") == 0) {
        return perr(c, TB_EFORMAT, kp,
                    "class C3 (authentication data: passwords, PINs, CVV, biometrics) is never "
                    "stored (JR/T 0171-2020): remove field '%s' from the standard and the extract",
                    f->name);
    } else {
        return perr(c, TB_EFORMAT, kp, "'%s' is not a class (C1 or C2)", s);
    }

    v = json_object_get(fo, "level");
    snprintf(kp, sizeof kp, "%s.level", path);
    if (!v) return perr(c, TB_EFORMAT, path, "'level' is required");
    if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > 5)
        return perr(c, TB_EFORMAT, kp, "must be an integer from 1 to 5 (JR/T 0197-2020)");
    f->level = (int)json_integer_value(v);

    snprintf(kp, sizeof kp, "%s.mask", path);
    if ((rc = opt_string(c, fo, "mask", path, &s))) return rc;
    if (s) {
        int mi = name_index(mask_names, NELEM(mask_names), s);
        if (mi < 0)
            return perr(c, TB_EFORMAT, kp, "'%s' is not a mask (id, mobile, name, card or null)",
                        s);
        f->mask = (tb__std_mask)mi;
    }

    if ((rc = opt_string(c, fo, "description", path, &f->description))) return rc;
    if (!f->description) f->description = "";
    return 0;
}

/* Looks a field up by name while the type is being built (the type is not sorted yet). */
static int field_index(const tb__std_field *fields, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(fields[i].name, name) == 0) return (int)i;
    return -1;
}

static int parse_customer_key(pctx *c, json_t *ck, const char *tpath, tb__std_type *t)
{
    static const char *const keys[] = {"field",           "system",    "cert_field",
                                       "cert_type_field", "cert_type", NULL};
    char path[TB__STD_MAX_NAME * 2 + 64];
    snprintf(path, sizeof path, "%s.customer_key", tpath);
    t->key_field = t->cert_field = t->cert_type_field = -1;
    if (!ck || json_is_null(ck)) return 0;
    if (!json_is_object(ck)) return perr(c, TB_EFORMAT, path, "must be an object or null");
    int rc = check_keys(c, ck, path, keys);
    if (rc) return rc;
    const char *field, *cert, *cert_tf;
    if ((rc = opt_string(c, ck, "field", path, &field)) ||
        (rc = opt_string(c, ck, "system", path, &t->key_system)) ||
        (rc = opt_string(c, ck, "cert_field", path, &cert)) ||
        (rc = opt_string(c, ck, "cert_type_field", path, &cert_tf)) ||
        (rc = opt_string(c, ck, "cert_type", path, &t->cert_type)))
        return rc;
    if (!field && !cert) return perr(c, TB_EFORMAT, path, "needs 'field' or 'cert_field'");
    if (!field != !t->key_system)
        return perr(c, TB_EFORMAT, path, "'field' and 'system' go together");
    if (!cert && (cert_tf || t->cert_type))
        return perr(c, TB_EFORMAT, path, "'cert_type_field' and 'cert_type' need 'cert_field'");
    if (cert && !cert_tf == !t->cert_type)
        return perr(c, TB_EFORMAT, path,
                    "'cert_field' needs exactly one of 'cert_type_field' and 'cert_type'");
    const char *names[] = {field, cert, cert_tf};
    int *idx[] = {&t->key_field, &t->cert_field, &t->cert_type_field};
    for (int i = 0; i < 3; i++) {
        if (!names[i]) continue;
        *idx[i] = field_index(t->fields, t->nfields, names[i]);
        if (*idx[i] < 0)
            return perr(c, TB_EFORMAT, path, "no field '%s' in this business type", names[i]);
    }
    return 0;
}

static int parse_type(pctx *c, const char *name, json_t *to, tb__std_type *t)
{
    static const char *const keys[] = {"kind",   "source_system", "description", "unique",
                                       "fields", "customer_key",  NULL};
    tb__standards *s = c->s;
    char path[TB__STD_MAX_NAME + 64], kp[TB__STD_MAX_NAME + 96];
    if (!valid_name(name))
        return perr(c, TB_EFORMAT, "business_types",
                    "'%s' is not a valid name (letters, digits, '_', at most %d)", name,
                    TB__STD_MAX_NAME);
    snprintf(path, sizeof path, "business_types.%s", name);
    if (!json_is_object(to)) return perr(c, TB_EFORMAT, path, "must be an object");
    int rc = check_keys(c, to, path, keys);
    if (rc) return rc;
    t->name = tb__arena_strdup(&s->arena, name);
    if (!t->name) return TB_ENOMEM;

    const char *kind;
    if ((rc = req_string(c, to, "kind", path, &kind))) return rc;
    int ki = name_index(kind_names, NELEM(kind_names), kind);
    snprintf(kp, sizeof kp, "%s.kind", path);
    if (ki < 0)
        return perr(c, TB_EFORMAT, kp, "'%s' is not a kind (mart, external, model, reference)",
                    kind);
    t->kind = (tb__std_kind)ki;
    if ((rc = req_string(c, to, "source_system", path, &t->source_system))) return rc;
    snprintf(kp, sizeof kp, "%s.source_system", path);
    if (!valid_name(t->source_system))
        return perr(c, TB_EFORMAT, kp, "'%s' is not a valid name", t->source_system);
    if ((rc = opt_string(c, to, "description", path, &t->description))) return rc;
    if (!t->description) t->description = "";

    json_t *fa = json_object_get(to, "fields");
    snprintf(kp, sizeof kp, "%s.fields", path);
    if (!json_is_array(fa) || json_array_size(fa) == 0)
        return perr(c, TB_EFORMAT, kp, "must be a non-empty array of fields");
    size_t nf = json_array_size(fa);
    if (nf > TB__STD_MAX_FIELDS)
        return perr(c, TB_ELIMIT, kp, "more than %d fields", TB__STD_MAX_FIELDS);
    tb__std_field *fields = tb__arena_calloc(&s->arena, nf, sizeof *fields);
    const char **id_type_names = calloc(nf, sizeof *id_type_names);
    if (!fields || !id_type_names) {
        rc = TB_ENOMEM;
        goto out_free;
    }
    for (size_t k = 0; k < nf; k++) {
        const char *codes = NULL;
        rc = parse_field(c, json_array_get(fa, k), path, k, &fields[k], &id_type_names[k], &codes);
        if (rc) goto out_free;
        if (field_index(fields, k, fields[k].name) >= 0) {
            snprintf(kp, sizeof kp, "%s.fields[%zu].name", path, k);
            rc = perr(c, TB_EFORMAT, kp, "duplicate field name '%s'", fields[k].name);
            goto out_free;
        }
    }
    for (size_t k = 0; k < nf; k++) {
        if (!id_type_names[k]) continue;
        int j = field_index(fields, nf, id_type_names[k]);
        snprintf(kp, sizeof kp, "%s.fields[%zu]", path, k);
        if (j < 0 || (size_t)j == k || fields[j].type != TB__STD_STRING) {
            rc = perr(c, TB_EFORMAT, kp,
                      "check 'id_by_type' needs a string field '%s' holding the id type",
                      id_type_names[k]);
            goto out_free;
        }
        fields[k].id_type_field = j;
    }
    t->fields = fields;
    t->nfields = nf;

    json_t *ua = json_object_get(to, "unique");
    snprintf(kp, sizeof kp, "%s.unique", path);
    if (!json_is_array(ua) || json_array_size(ua) == 0 || json_array_size(ua) > 16) {
        rc = perr(c, TB_EFORMAT, kp, "must be an array of 1 to 16 field names");
        goto out_free;
    }
    int *uniq = tb__arena_calloc(&s->arena, json_array_size(ua), sizeof *uniq);
    if (!uniq) {
        rc = TB_ENOMEM;
        goto out_free;
    }
    for (size_t k = 0; k < json_array_size(ua); k++) {
        json_t *u = json_array_get(ua, k);
        snprintf(kp, sizeof kp, "%s.unique[%zu]", path, k);
        int j = json_is_string(u) ? field_index(fields, nf, json_string_value(u)) : -1;
        if (j < 0) {
            rc = perr(c, TB_EFORMAT, kp, "no field '%s' in this business type",
                      json_is_string(u) ? json_string_value(u) : "(not a string)");
            goto out_free;
        }
        for (size_t q = 0; q < k; q++)
            if (uniq[q] == j) {
                rc = perr(c, TB_EFORMAT, kp, "field '%s' is listed twice", fields[j].name);
                goto out_free;
            }
        uniq[k] = j;
    }
    t->unique = uniq;
    t->nunique = json_array_size(ua);
    rc = parse_customer_key(c, json_object_get(to, "customer_key"), path, t);
out_free:
    free(id_type_names);
    return rc;
}

/* Builds the whole set in one arena so that freeing it is one call and a failure leaks nothing. */
int tb__std_parse(const char *json, size_t len, const char *source, tb__standards **out,
                  tb__errbuf *eb)
{
    static const char *const keys[] = {"version_note", "description", "code_tables",
                                       "business_types", NULL};
    *out = NULL;
    tb__standards *s = calloc(1, sizeof *s);
    if (!s) return tb__seterr(eb, TB_ENOMEM, "out of memory");
    tb__arena_init(&s->arena, 0);
    pctx c = {s, eb};
    int rc;
    json_t *root = NULL;
    s->source = tb__arena_strdup(&s->arena, source ? source : "<memory>");
    if (!s->source) {
        rc = TB_ENOMEM;
        goto out_fail;
    }
    json_error_t jerr;
    root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        rc = tb__seterr(eb, TB_EFORMAT, "%s: line %d, column %d: %s", s->source, jerr.line,
                        jerr.column, jerr.text);
        goto out_fail;
    }
    if (!json_is_object(root)) {
        rc = perr(&c, TB_EFORMAT, NULL, "the document must be a JSON object");
        goto out_fail;
    }
    if ((rc = check_keys(&c, root, "(top level)", keys))) goto out_fail;
    if ((rc = opt_string(&c, root, "version_note", "(top level)", &s->version_note))) goto out_fail;
    if (!s->version_note) s->version_note = "";
    if ((rc = parse_code_tables(&c, json_object_get(root, "code_tables")))) goto out_fail;

    json_t *bt = json_object_get(root, "business_types");
    if (!json_is_object(bt) || json_object_size(bt) == 0) {
        rc = perr(&c, TB_EFORMAT, "business_types", "must be a non-empty object of types");
        goto out_fail;
    }
    if (json_object_size(bt) > TB__STD_MAX_TYPES) {
        rc = perr(&c, TB_ELIMIT, "business_types", "more than %d types", TB__STD_MAX_TYPES);
        goto out_fail;
    }
    s->types = tb__arena_calloc(&s->arena, json_object_size(bt), sizeof *s->types);
    if (!s->types) {
        rc = TB_ENOMEM;
        goto out_fail;
    }
    const char *name;
    json_t *to;
    json_object_foreach(bt, name, to)
    {
        if ((rc = parse_type(&c, name, to, &s->types[s->ntypes]))) goto out_fail;
        s->ntypes++;
    }
    qsort(s->types, s->ntypes, sizeof *s->types, cmp_types);
    json_decref(root);
    *out = s;
    return 0;
out_fail:
    if (rc == TB_ENOMEM) tb__seterr(eb, TB_ENOMEM, "out of memory parsing data standards");
    json_decref(root);
    tb__std_free(s);
    return rc;
}

void tb__std_free(tb__standards *s)
{
    if (!s) return;
    tb__arena_release(&s->arena);
    free(s);
}

/* Accessors: the struct stays private so its layout can change without touching callers. */
const char *tb__std_source(const tb__standards *s)
{
    return s->source;
}

/* See tb__std_source. */
const char *tb__std_version_note(const tb__standards *s)
{
    return s->version_note;
}

/* See tb__std_source. */
size_t tb__std_ntypes(const tb__standards *s)
{
    return s->ntypes;
}

/* See tb__std_source. */
const tb__std_type *tb__std_type_at(const tb__standards *s, size_t i)
{
    return i < s->ntypes ? &s->types[i] : NULL;
}

/* See tb__std_source. */
size_t tb__std_ncode_tables(const tb__standards *s)
{
    return s->ntables;
}

/* See tb__std_source. */
const tb__std_codes *tb__std_code_table_at(const tb__standards *s, size_t i)
{
    return i < s->ntables ? &s->tables[i] : NULL;
}

/* Binary search: called once per file by the pipeline, never per row. */
const tb__std_type *tb__std_find(const tb__standards *s, const char *business_type)
{
    size_t lo = 0, hi = s->ntypes;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int r = strcmp(business_type, s->types[mid].name);
        if (r == 0) return &s->types[mid];
        if (r < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

/* Linear: types have tens of fields and this is not on the per-row path. */
int tb__std_field_index(const tb__std_type *t, const char *name)
{
    return field_index(t->fields, t->nfields, name);
}

/* ---------------------------------------------------------------------------------------------
 * Versions in the meta store
 */

/* The version hash chains each body to the previous version's hash (FNV-1a 64 over
 * prev_hash "\n" body). It keeps the table's UNIQUE(hash) satisfiable when an older body is
 * loaded again (A, B, A: three versions), and it makes an edit of stored history detectable. */
static void chain_hash(const char *prev, const char *body, size_t len, char out[17])
{
    uint64_t h = 14695981039346656037ull;
    for (const char *p = prev; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ull;
    h = (h ^ (unsigned char)'\n') * 1099511628211ull;
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)body[i]) * 1099511628211ull;
    snprintf(out, 17, "%016llx", (unsigned long long)h);
}

/* Copies a text column (possibly NULL) into a fixed buffer; the hash is always 16 hex digits. */
static void column_hash(sqlite3_stmt *st, int col, char out[17])
{
    const unsigned char *t = sqlite3_column_text(st, col);
    snprintf(out, 17, "%s", t ? (const char *)t : "");
}

/* The store transaction makes "compare with the latest, then insert" atomic against another
 * writer of the same data directory. */
int tb__std_store(tb_db *db, const char *json, size_t len, const char *source,
                  tb__std_load_result *res)
{
    tb__standards *s;
    sqlite3_stmt *st;
    memset(res, 0, sizeof *res);
    int rc = tb__std_parse(json, len, source, &s, tb__db_err(db));
    if (rc) return rc;
    res->ntypes = s->ntypes;
    tb__std_free(s);

    if ((rc = tb__meta_begin(db))) return rc;
    rc = tb__meta_stmt(db, TB__STMT_STD_LATEST,
                       "SELECT version, hash, body, source FROM standard_version "
                       "ORDER BY version DESC LIMIT 1",
                       &st);
    if (rc) goto out_rollback;
    char prev[17] = "";
    int step = sqlite3_step(st);
    if (step == SQLITE_ROW) {
        const void *body = sqlite3_column_blob(st, 2);
        size_t blen = (size_t)sqlite3_column_bytes(st, 2);
        column_hash(st, 1, prev);
        if (blen == len && (len == 0 || memcmp(body, json, len) == 0)) {
            res->version = sqlite3_column_int(st, 0);
            res->unchanged = 1;
            tb__meta_stmt_done(st);
            tb__meta_rollback(db);
            return 0;
        }
    } else if (step != SQLITE_DONE) {
        rc = tb__meta_seterr_sqlite(db, step, "cannot read data standards");
        tb__meta_stmt_done(st);
        goto out_rollback;
    }
    tb__meta_stmt_done(st);

    char hash[17], now[TB__TIME_TEXT_LEN];
    chain_hash(prev, json, len, hash);
    tb__now_text(now);
    rc = tb__meta_stmt(db, TB__STMT_STD_INSERT,
                       "INSERT INTO standard_version (source, hash, body, loaded_at) "
                       "VALUES (?1, ?2, ?3, ?4)",
                       &st);
    if (rc) goto out_rollback;
    sqlite3_bind_text(st, 1, source, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, hash, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 3, json, (int)len, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, now, -1, SQLITE_TRANSIENT);
    rc = tb__meta_run(db, st, "cannot store data standards");
    if (rc) goto out_rollback;
    res->version = (int)sqlite3_last_insert_rowid(tb__db_sqlite(db));
    return tb__meta_commit(db);
out_rollback:
    tb__meta_rollback(db);
    return rc;
}

/* Files are read whole with a limit: a standards file is small, and a huge one is a mistake. */
int tb__std_load_ex(tb_db *db, const char *path, tb__std_load_result *res)
{
    char *buf;
    size_t len;
    memset(res, 0, sizeof *res);
    int rc = tb__file_read_all(path, TB__STD_MAX_BYTES, &buf, &len, tb__db_err(db));
    if (rc) return rc;
    rc = tb__std_store(db, buf, len, path, res);
    free(buf);
    return rc;
}

/* The short form most callers want. */
int tb__std_load(tb_db *db, const char *path, int *version_out)
{
    tb__std_load_result res;
    int rc = tb__std_load_ex(db, path, &res);
    *version_out = rc ? 0 : res.version;
    return rc;
}

/* Verifies a stored version against its chained hash, then parses it: what was stored was valid,
 * so any failure here means the store was changed behind our back. */
static int load_row(tb_db *db, sqlite3_stmt *st, tb__standards **out, int *version)
{
    int ver = sqlite3_column_int(st, 0);
    char hash[17], prev[17] = "", want[17], src[64];
    column_hash(st, 1, hash);
    size_t len = (size_t)sqlite3_column_bytes(st, 2);
    const void *b = sqlite3_column_blob(st, 2);
    char *body = malloc(len + 1);
    if (!body) {
        tb__meta_stmt_done(st);
        return tb__seterr(tb__db_err(db), TB_ENOMEM, "out of memory reading data standards");
    }
    if (len) memcpy(body, b, len);
    body[len] = '\0';
    tb__meta_stmt_done(st);

    sqlite3_stmt *ps;
    int rc = tb__meta_stmt(db, TB__STMT_STD_PREV_HASH,
                           "SELECT hash FROM standard_version WHERE version < ?1 "
                           "ORDER BY version DESC LIMIT 1",
                           &ps);
    if (rc) goto out_free;
    sqlite3_bind_int(ps, 1, ver);
    int step = sqlite3_step(ps);
    if (step == SQLITE_ROW) column_hash(ps, 0, prev);
    tb__meta_stmt_done(ps);
    if (step != SQLITE_ROW && step != SQLITE_DONE) {
        rc = tb__meta_seterr_sqlite(db, step, "cannot read data standards");
        goto out_free;
    }
    chain_hash(prev, body, len, want);
    if (strcmp(want, hash) != 0) {
        rc = tb__seterr(tb__db_err(db), TB_ECORRUPT,
                        "data standards version %d fails its hash (stored %s, computed %s): the "
                        "meta store was edited",
                        ver, hash, want);
        goto out_free;
    }
    snprintf(src, sizeof src, "data standards version %d", ver);
    rc = tb__std_parse(body, len, src, out, tb__db_err(db));
    if (rc == TB_EFORMAT || rc == TB_ELIMIT) {
        tb__db_err(db)->code = TB_ECORRUPT;
        rc = TB_ECORRUPT;
    }
    if (!rc && version) *version = ver;
out_free:
    free(body);
    return rc;
}

/* The pipeline checks every load against the latest version, and records which one it used. */
int tb__std_current(tb_db *db, tb__standards **out, int *version)
{
    sqlite3_stmt *st;
    *out = NULL;
    if (version) *version = 0;
    int rc = tb__meta_stmt(db, TB__STMT_STD_LATEST,
                           "SELECT version, hash, body, source FROM standard_version "
                           "ORDER BY version DESC LIMIT 1",
                           &st);
    if (rc) return rc;
    int step = sqlite3_step(st);
    if (step == SQLITE_DONE) {
        tb__meta_stmt_done(st);
        return tb__seterr(tb__db_err(db), TB_ENOENT,
                          "no data standards loaded: run 'tagbase standard load FILE'");
    }
    if (step != SQLITE_ROW) {
        rc = tb__meta_seterr_sqlite(db, step, "cannot read data standards");
        tb__meta_stmt_done(st);
        return rc;
    }
    return load_row(db, st, out, version);
}

/* Older versions stay readable: a past load can be explained by the standard it used. */
int tb__std_get(tb_db *db, int version, tb__standards **out)
{
    sqlite3_stmt *st;
    *out = NULL;
    int rc = tb__meta_stmt(db, TB__STMT_STD_GET,
                           "SELECT version, hash, body, source FROM standard_version "
                           "WHERE version = ?1",
                           &st);
    if (rc) return rc;
    sqlite3_bind_int(st, 1, version);
    int step = sqlite3_step(st);
    if (step == SQLITE_DONE) {
        tb__meta_stmt_done(st);
        return tb__seterr(tb__db_err(db), TB_ENOENT, "no data standards version %d", version);
    }
    if (step != SQLITE_ROW) {
        rc = tb__meta_seterr_sqlite(db, step, "cannot read data standards");
        tb__meta_stmt_done(st);
        return rc;
    }
    return load_row(db, st, out, NULL);
}

/* The note and type count come from the body itself (one JSON parse each: bodies are small). */
int tb__std_list(tb_db *db, int (*fn)(const tb__std_version_info *info, void *arg), void *arg)
{
    sqlite3_stmt *st;
    int rc = tb__meta_stmt(db, TB__STMT_STD_LIST,
                           "SELECT version, source, hash, loaded_at, body, "
                           "version = (SELECT max(version) FROM standard_version) "
                           "FROM standard_version ORDER BY version",
                           &st);
    if (rc) return rc;
    int step;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        tb__std_version_info in = {0};
        in.version = sqlite3_column_int(st, 0);
        in.source = (const char *)sqlite3_column_text(st, 1);
        in.hash = (const char *)sqlite3_column_text(st, 2);
        in.loaded_at = (const char *)sqlite3_column_text(st, 3);
        const char *body = (const char *)sqlite3_column_blob(st, 4);
        in.bytes = (size_t)sqlite3_column_bytes(st, 4);
        in.current = sqlite3_column_int(st, 5);
        json_t *root = body ? json_loadb(body, in.bytes, 0, NULL) : NULL;
        json_t *note = json_object_get(root, "version_note");
        in.version_note = json_is_string(note) ? json_string_value(note) : "";
        in.ntypes = json_object_size(json_object_get(root, "business_types"));
        if (!in.source) in.source = "";
        if (!in.hash) in.hash = "";
        if (!in.loaded_at) in.loaded_at = "";
        rc = fn(&in, arg);
        json_decref(root);
        if (rc) break;
    }
    if (!rc && step != SQLITE_DONE)
        rc = tb__meta_seterr_sqlite(db, step, "cannot list data standards");
    tb__meta_stmt_done(st);
    return rc;
}
