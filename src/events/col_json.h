/* col_json.h — a validating single-pass JSON scanner for the collector's hot path: it checks a
 * body against RFC 8259 and hands out the byte spans of values without building a tree, so an
 * event's properties are stored as the client sent them and decoding costs one pass over the bytes
 * (bench/RESULTS.md, "Event ingest": jansson's tree and re-serialisation were three quarters of the
 * ingest CPU). Used by col_format.c for Segment and RudderStack bodies. UTF-8 is validated by the
 * caller over the whole body (common/utf8.h). Safe on any bytes (tests/fuzz/fuzz_collector.c). */
#ifndef TB_EVENTS_COL_JSON_H
#define TB_EVENTS_COL_JSON_H

#include <stddef.h>
#include <stdint.h>

#include "common/arena.h"

#define TB__JSON_MAX_DEPTH 64

/* A value in the body: its first byte and length. kind: 's' string (with its quotes), 'n'
 * number, 'o' object, 'a' array, 't' true, 'f' false, 'z' null; 0 when absent. */
typedef struct tb__jspan {
    const char *p;
    size_t n;
    char kind;
} tb__jspan;

/* Scans one value starting at *p (leading whitespace allowed) within [*p, end): on success fills
 * `v`, moves *p past it and returns 0; else returns -1 with *p at the offending byte and `why`
 * saying what was expected. */
int tb__jscan(const char **p, const char *end, tb__jspan *v, const char **why);

/* Iterates an object's members: start with *it = NULL; each call sets the key (a string span)
 * and the value and returns 1, or returns 0 at the end. The object must have been scanned. */
int tb__jobj_next(const tb__jspan *obj, const char **it, tb__jspan *key, tb__jspan *val);

/* Iterates an array's elements the same way. */
int tb__jarr_next(const tb__jspan *arr, const char **it, tb__jspan *val);

/* 1 when string span `s` is exactly the key `k` (no escapes in it). */
int tb__jkey_is(const tb__jspan *s, const char *k);

/* The text of a string span (escapes decoded, NUL-terminated) in arena `a`; NULL when out of
 * memory or `s` is not a string. */
char *tb__jstr(const tb__jspan *s, tb__arena *a);

#endif
