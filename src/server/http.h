/* http.h — the server's byte-level parsing, kept apart from libmicrohttpd so that it can be fuzzed
 * (tests/fuzz/fuzz_http.c): percent-decoding, request targets (path segments and query), the
 * Cookie header and JSON request bodies. Every function takes explicit lengths, trusts nothing in
 * the bytes, and allocates only from the caller's arena (or, for JSON, returns a jansson value the
 * caller releases with json_decref). Pure and thread-safe. */
#ifndef TB_SERVER_HTTP_H
#define TB_SERVER_HTTP_H

#include <jansson.h>
#include <stddef.h>

#include "common/arena.h"

#define TB__HTTP_MAX_SEGS   16   /* path segments of a request target */
#define TB__HTTP_MAX_QUERY  32   /* query parameters of a request target */
#define TB__HTTP_MAX_TARGET 8192 /* bytes of a request target */

/* One decoded query parameter (both NUL-terminated, well-formed UTF-8, no NUL inside). */
typedef struct tb__kv {
    const char *key;
    const char *val;
} tb__kv;

/* A parsed request target: "/api/v1/segments/%E9%AB%98?as_of=20261121" gives the segments
 * "api", "v1", "segments", "高" and the parameter as_of. Strings live in the arena. */
typedef struct tb__target {
    const char *segs[TB__HTTP_MAX_SEGS];
    size_t nsegs;
    tb__kv query[TB__HTTP_MAX_QUERY];
    size_t nquery;
} tb__target;

/* Percent-decodes src[0, len) into out, which has room for len + 1 bytes, and NUL-terminates it.
 * With `plus_is_space` (query strings), '+' decodes to ' '. Returns the decoded length, or -1 when
 * a '%' is not followed by two hex digits, when the result holds a NUL byte or a control
 * character below 0x20 (or 0x7f), or when it is not well-formed UTF-8. */
long tb__http_pct_decode(const char *src, size_t len, int plus_is_space, char *out);

/* Parses the raw request target raw[0, len) (origin form: it must start with '/'; a fragment is
 * not allowed) into *t, allocating the decoded strings from `a`. Empty segments are kept (so
 * "/a//b" and "/a/" match no route), "." and ".." segments are refused. Returns 0, or TB_EFORMAT
 * with *why (static text: what is wrong, never the bytes) or TB_ELIMIT for too many segments or
 * parameters or a target longer than TB__HTTP_MAX_TARGET, or TB_ENOMEM. */
int tb__http_parse_target(tb__arena *a, const char *raw, size_t len, tb__target *t,
                          const char **why);

/* The value of query parameter `key` (the first one when repeated), or NULL. */
const char *tb__http_query(const tb__target *t, const char *key);

/* Finds cookie `name` in a Cookie header hdr[0, len) ("a=1; tb_session=xyz"): returns a pointer
 * to its value inside hdr and its length in *vlen (surrounding double quotes removed), or NULL
 * when the header has no such cookie. Borrowed from hdr. */
const char *tb__http_cookie(const char *hdr, size_t len, const char *name, size_t *vlen);

/* Parses a request body as one JSON object. An empty body (len 0, or only white space) is an
 * empty object. Returns 0 with *out (caller frees with json_decref), or TB_EFORMAT with *out NULL
 * and err (errlen bytes) saying what and where ("invalid JSON at line 1, column 5: ..." or "the
 * body must be a JSON object"). Duplicate keys and NUL characters are refused. */
int tb__http_json_body(const char *body, size_t len, json_t **out, char *err, size_t errlen);

#endif
