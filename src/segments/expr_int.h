/* expr_int.h — what the expression parser (expr.c) and the row evaluator (expr_eval.c) share:
 * the function table and the calendar arithmetic. Not for other modules: they use expr.h. */
#ifndef TB_SEGMENTS_EXPR_INT_H
#define TB_SEGMENTS_EXPR_INT_H

#include "common/clock.h"
#include <stddef.h>
#include <stdint.h>

typedef enum tb__expr_fn_id {
    TB__FN_AGE,
    TB__FN_DAYS_SINCE,
    TB__FN_DAYS_UNTIL_BIRTHDAY,
    TB__FN_YEAR,
    TB__FN_MONTH,
    TB__FN_DAY,
    TB__FN_ABS,
    TB__FN_COALESCE,
    TB__FN_LEAST,
    TB__FN_GREATEST,
    TB__FN_DATE,
    TB__FN_TODAY,   /* the as-of date (the batch date in tag builds) */
    TB__FN_SEGMENT, /* segment mode only */
    TB__FN_COUNT
} tb__expr_fn_id;

typedef struct tb__expr_fn {
    const char *name; /* lowercase, as the canonical text writes it */
    tb__expr_fn_id id;
    int min_args, max_args; /* max_args -1: any number */
} tb__expr_fn;

extern const tb__expr_fn tb__expr_fns[TB__FN_COUNT];

/* The function named s[0, len) (ASCII case-insensitive), or NULL. */
const tb__expr_fn *tb__expr_fn_find(const char *s, size_t len);

/* Days since 1970-01-01 of a proleptic Gregorian date, and back (H. Hinnant's algorithms). */
int tb__expr_is_leap(int64_t y);

/* Reads 'YYYY-MM-DD' or 'YYYYMMDD' (years 0001..9999, a real calendar day) from s[0, len). 0 and
 * *days, or -1. */
int tb__expr_parse_date(const char *s, size_t len, int64_t *days);

/* Reads 'YYYY-MM-DD', 'YYYYMMDD', 'YYYY-MM-DD HH:MM:SS' or 'YYYY-MM-DDTHH:MM:SS' as local time at
 * utc_offset_s seconds east of UTC: 0 and *epoch (seconds), or -1. */
int tb__expr_parse_time(const char *s, size_t len, int utc_offset_s, int64_t *epoch);

/* A plain identifier the lexer reads back unquoted: [A-Za-z_][A-Za-z0-9_.]*, not a keyword. */
int tb__expr_plain_name(const char *s, size_t n);

/* Appends the shortest text that reads back as exactly d, with a '.' or an exponent. */
struct tb__buf;
int tb__expr_put_double(struct tb__buf *b, double d);

#endif
