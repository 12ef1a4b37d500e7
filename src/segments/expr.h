/* expr.h — the expression language of tagbase: segment expressions over tags (搜客, `seg count`)
 * and rule expressions over profile attributes (rule tags in the catalog). One grammar, one
 * parser, two modes; a text form and an equivalent JSON form; a canonical printer for each; and a
 * row-at-a-time evaluator (rule tags are computed with it, and the property tests use it as the
 * naive oracle the bitmap evaluator must agree with). docs/expressions.md is the user's manual.
 *
 * Grammar (keywords case-insensitive; precedence low to high: or, and, not, predicate, + -, * / %,
 * unary -):
 *   expr      := and_expr ( OR and_expr )*
 *   and_expr  := not_expr ( AND not_expr )*
 *   not_expr  := NOT not_expr | predicate
 *   predicate := sum [ cmp sum
 *                    | [NOT] IN '(' literal (',' literal)* ')'
 *                    | [NOT] BETWEEN sum AND sum
 *                    | IS [NOT] NULL ]
 *   cmp       := '=' | '!=' | '<>' | '<' | '<=' | '>' | '>='
 *   sum       := term ( ('+'|'-') term )*          (rule mode only)
 *   term      := unary ( ('*'|'/'|'%') unary )*    (rule mode only)
 *   unary     := '-' unary | primary
 *   primary   := NUMBER | 'string' | ident | "quoted name" | ident '(' [expr (',' expr)*] ')'
 *              | TRUE | FALSE | '(' expr ')'
 * ident: [A-Za-z_][A-Za-z0-9_.]*, not a keyword. "quoted name": any UTF-8 except '"' (a tag's
 * Chinese or English name, or a code), not empty; "" escapes a '"' (so that every name prints).
 * 'string': '' escapes a quote. Numbers: 12, -3, 4.5, 1e6 (a '-' directly before a number is part
 * of the literal: NUM -3, not NEG 3). Function names are case-insensitive and stored lowercase.
 * Dates are strings 'YYYY-MM-DD' compared with date values.
 *
 * Segment mode (TB__EXPR_SEGMENT) accepts only what the bitmap evaluator can run: a predicate's
 * left side is a tag (ident or quoted name) and its right sides are literals; a bare tag is a
 * boolean test; the calls are segment('name') and behaviour: did('event'[, last N days]) as a
 * condition and event('event'[, last N days]) compared with a whole number (`>= 3`); a window
 * `last N days` ends at the evaluation's as-of day and is printed back as written. Rule mode
 * (TB__EXPR_RULE) accepts the whole
 * grammar, with arithmetic and the functions listed at tb__expr_eval.
 *
 * JSON form (segment mode; what UIs build):
 *   {"and":[X,...]} {"or":[X,...]} {"not":X} {"segment":"name"} {"tag":"code"} (boolean true)
 *   {"tag":"code","eq"|"ne"|"lt"|"le"|"gt"|"ge": literal} {"tag":..,"in":[lit,...]}
 *   {"tag":..,"not_in":[...]} {"tag":..,"between":[lo,hi]} {"tag":..,"not_between":[lo,hi]}
 *   {"tag":..,"is_null":true} {"tag":..,"is_null":false}
 *   {"did":"event"} {"did":"event","last_days":7} {"event":"login","last_days":30,"ge":3}
 * "tag" may hold a code or a name, exactly like the text form (names are written quoted).
 *
 * NULL semantics (two-valued, the same in every evaluator): a predicate on a NULL value is false
 * (`x = 1`, `x != 1`, `x in (...)`, `x between ...` and a bare boolean tag are all false when x
 * is NULL; only `is null` is true); `not E` is true exactly when E is false. So `not x = 1` holds
 * for customers without x, while `x != 1` does not.
 *
 * Ownership: every node, string and list of a parsed expression lives in the caller's arena and is
 * freed with it. Nothing else is allocated except in tb__buf / json_t outputs the caller owns.
 * Thread-safety: all functions are reentrant; an expression tree may be read by several threads
 * at once (tb__expr_eval does not modify it).
 *
 * Errors: 0 or negative TB_E*. Parse errors are TB_EFORMAT with a tb__expr_error that says what was
 * expected at which character and shows the expression with a caret under it. */
#ifndef TB_SEGMENTS_EXPR_H
#define TB_SEGMENTS_EXPR_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "common/arena.h"
#include "common/buf.h"
#include "common/err.h"

typedef enum tb__expr_mode {
    TB__EXPR_SEGMENT = 1, /* segment expressions over tags */
    TB__EXPR_RULE = 2,    /* rule expressions over attributes */
} tb__expr_mode;

typedef enum tb__expr_kind {
    TB__X_OR,      /* kid[0..nkid) */
    TB__X_AND,     /* kid[0..nkid) */
    TB__X_NOT,     /* kid[0] */
    TB__X_CMP,     /* kid[0] op kid[1]; op is a tb__expr_cmp */
    TB__X_IN,      /* kid[0] in (kid[1..nkid)); negated for NOT IN */
    TB__X_BETWEEN, /* kid[0] between kid[1] and kid[2]; negated for NOT BETWEEN */
    TB__X_ISNULL,  /* kid[0] is null; negated for IS NOT NULL */
    TB__X_IDENT,   /* a tag or attribute: text; quoted when written "..." */
    TB__X_STR,     /* a string literal: text (unescaped) */
    TB__X_NUM,     /* a number literal: is_int ? ival : dval; text as written */
    TB__X_BOOL,    /* TRUE / FALSE: ival 1 / 0 */
    TB__X_CALL,    /* text(kid[0..nkid)): a function; segment('name') in segment mode */
    TB__X_ARITH,   /* kid[0] op kid[1]; op is one of '+', '-', '*', '/', '%' */
    TB__X_NEG,     /* -kid[0] */
} tb__expr_kind;

typedef enum tb__expr_cmp {
    TB__CMP_EQ,
    TB__CMP_NE,
    TB__CMP_LT,
    TB__CMP_LE,
    TB__CMP_GT,
    TB__CMP_GE,
} tb__expr_cmp;

typedef struct tb__expr tb__expr;
struct tb__expr {
    tb__expr_kind kind;
    int op;           /* TB__X_CMP: tb__expr_cmp; TB__X_ARITH: the operator character;
                         TB__X_CALL: the function's id + 1 from the text parser (0: by name) */
    int negated;      /* TB__X_IN / TB__X_BETWEEN / TB__X_ISNULL */
    int quoted;       /* TB__X_IDENT written in double quotes */
    int is_int;       /* TB__X_NUM */
    int64_t ival;     /* TB__X_NUM (is_int), TB__X_BOOL */
    double dval;      /* TB__X_NUM (always set, also for integers) */
    const char *text; /* NUL-terminated, in the arena: ident, string, number, function name */
    size_t text_len;
    uint32_t pos, len; /* the node's byte range in the source text (0 for JSON input) */
    int32_t slot;      /* free for the binder (set to -1 by the parser) */
    void *bound;       /* free for the binder (NULL from the parser) */
    tb__expr **kid;
    uint32_t nkid;
};

/* A parse or bind error: `pos` is the byte offset in the source, `msg` says what was expected
 * ("expected ')' or ',' after a value"), `text` is the whole message as shown to users:
 *   expected a value after 'between' at character 23
 *     age between and 45
 *                 ^
 * (a long expression is cut to a window around the caret). For JSON input, `path` is the JSON
 * pointer of the bad element ("/and/1/in/0") instead of a caret. */
typedef struct tb__expr_error {
    uint32_t pos;
    char msg[256];
    char path[128];
    char text[1024];
} tb__expr_error;

/* Parses `src[0, len)` (borrowed, untrusted, any bytes; at most 1 MiB and nesting 256 deep) in
 * `mode`. On success *out is the root, allocated in `a`. TB_EFORMAT with *err filled otherwise
 * (also for invalid UTF-8, naming the byte offset); TB_ENOMEM. */
int tb__expr_parse(const char *src, size_t len, tb__expr_mode mode, tb__arena *a, tb__expr **out,
                   tb__expr_error *err);

/* Parses the JSON form (segment mode). TB_EFORMAT with err->path set when an element is not one of
 * the forms above. */
int tb__expr_parse_json(const json_t *j, tb__arena *a, tb__expr **out, tb__expr_error *err);

/* Appends the canonical text form to `out`: keywords lowercase, strings single-quoted, names that
 * are not plain identifiers double-quoted, minimal parentheses. Parsing the output gives an equal
 * tree (tested). */
int tb__expr_to_text(const tb__expr *e, tb__buf *out);

/* The JSON form of a segment-mode expression; caller frees with json_decref. NULL when out of
 * memory or when `e` uses rule-only constructs. */
json_t *tb__expr_to_json(const tb__expr *e);

/* Fills err for an error found after parsing (binding: an unknown tag, a value of the wrong
 * type) at node `at` of the expression parsed from src[0, len): same message shape and caret as
 * parse errors. Returns TB_EFORMAT, so binders can `return tb__expr_fail(...)`. */
int tb__expr_fail(const char *src, size_t len, const tb__expr *at, tb__expr_error *err,
                  const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* The candidate nearest to `name` by edit distance over UTF-8 characters (case-insensitive for
 * ASCII), or NULL when none is within max(2, len/3) edits. For "did you mean 'age'?". */
const char *tb__expr_nearest(const char *name, const char *const *cands, size_t ncands);

/* 1 when a and b mean the same: same kinds, operators, negations, texts and values, kid by kid.
 * Source positions, the `quoted` flag (presentation only), number spellings ("1e3" and 1000.0
 * are equal) and the binder's slot/bound are ignored. */
int tb__expr_equal(const tb__expr *a, const tb__expr *b);

/* Calls fn on every node, parents before children. */
void tb__expr_walk(tb__expr *e, void (*fn)(tb__expr *node, void *arg), void *arg);

/* ---------------------------------------------------------------------------------------------
 * Row-at-a-time evaluation
 */
typedef enum tb__xval_type {
    TB__XV_NULL,
    TB__XV_BOOL, /* i: 0/1 */
    TB__XV_INT,  /* i */
    TB__XV_NUM,  /* d */
    TB__XV_STR,  /* s, slen (not NUL-terminated; borrowed from whoever produced it) */
    TB__XV_DATE, /* i: days since 1970-01-01 */
    TB__XV_TIME, /* i: seconds since the epoch */
} tb__xval_type;

typedef struct tb__xval {
    tb__xval_type type;
    int64_t i;
    double d;
    const char *s;
    size_t slen;
} tb__xval;

typedef struct tb__expr_env {
    /* The value of identifier node `id` (its slot/bound were set by the binder) for the row being
     * evaluated. Returns 0, or a negative TB_E* that stops the evaluation. */
    int (*get)(const tb__expr *id, void *ctx, tb__xval *out);
    /* segment('name') in segment mode: 1 member, 0 not, negative error. NULL: an error. Also
     * answers the behaviour calls (the CALL node is passed): did('e'[, last N days]) 1 or 0, and
     * event('e'[, last N days]) the row's number of such events (>= 0). */
    int (*segment)(const tb__expr *call, void *ctx);
    void *ctx;
    int32_t as_of;    /* days since 1970-01-01: "today" for age(), days_since() ... */
    int utc_offset_s; /* seconds added to TIME values before taking their date (28800, Shanghai) */
} tb__expr_env;

/* Evaluates `e` for one row. Predicates and and/or/not give TB__XV_BOOL (never NULL: see the NULL
 * semantics above); arithmetic on a NULL gives NULL; INT op INT stays INT except '/', which gives
 * NUM; division by zero gives NULL. A string literal compared with a DATE is read as 'YYYY-MM-DD'
 * (or 'YYYYMMDD'); with a TIME as 'YYYY-MM-DD[ HH:MM:SS]' in the env's offset.
 * Functions (rule mode): age(date) whole years at as_of; days_since(date|time) as_of - date;
 * days_until_birthday(date) 0..365 to the next anniversary (29 Feb counts as 28 Feb in other
 * years); year(d) month(d) day(d); abs(x); coalesce(a, b, ...); least(a, ...) greatest(a, ...)
 * (NULL arguments skipped; NULL when all are); date('YYYY-MM-DD'); today() (as_of). Unknown
 * functions and wrong argument counts are errors the parser already reports in rule mode. Returns 0
 * and *out, or a negative TB_E* from env->get / env->segment, or TB_EINVAL for a type error (a
 * string compared with a number...) with the detail in eb. */
int tb__expr_eval(const tb__expr *e, const tb__expr_env *env, tb__xval *out, tb__errbuf *eb);

/* Convenience: evaluates a predicate and gives 1 (true) or 0 (false), or a negative error. */
int tb__expr_test(const tb__expr *e, const tb__expr_env *env, tb__errbuf *eb);

#endif
