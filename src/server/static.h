/* static.h — the web console's files, served by tagbase serve from one directory (--web DIR): the
 * pure pieces kept apart from libmicrohttpd so that they can be unit-tested and fuzzed
 * (tests/unit/test_static.c, tests/fuzz/fuzz_static.c). Pure and thread-safe. */
#ifndef TB_SERVER_STATIC_H
#define TB_SERVER_STATIC_H

#include <stddef.h>

#define TB__STATIC_MAX_PATH  1024 /* bytes of a decoded relative path */
#define TB__STATIC_MAX_DEPTH 16   /* path segments */

/* Normalises the path of a request target, raw[0, len) (percent-encoded, the query already cut
 * off, starting with '/'), into a relative path below the web root, written NUL-terminated to
 * out (cap bytes; TB__STATIC_MAX_PATH + 1 is enough). "/" gives "index.html"; a path ending in
 * '/' names the index.html of that directory. Each segment is percent-decoded on its own and
 * refused when it is empty ("//"), "." or "..", starts with '.' (hidden files: .git, .env), or
 * holds (raw or decoded) a backslash, a '/' (from %2F), a NUL or another control character, or
 * bytes that are not well-formed UTF-8. Returns 0, or TB_EFORMAT with *why (static text, never
 * the bytes) for a path that is never a file of the console (the server answers 400), or
 * TB_ELIMIT for one too long or too deep (414). */
int tb__static_path(const char *raw, size_t len, char *out, size_t cap, const char **why);

/* The Content-Type of a file by the extension of its relative path (text types with
 * "; charset=utf-8"); "application/octet-stream" when unknown. Static text. */
const char *tb__static_mime(const char *rel);

/* 1 when the file at relative path rel is content-hashed by the build (Vite writes those under
 * "assets/") and may be cached for a year as immutable; 0 for the rest (index.html and files
 * copied as they are), which a browser revalidates every time. */
int tb__static_immutable(const char *rel);

/* 1 when the last segment of the relative path has no extension (a console route such as
 * "segments/abc" rather than a file such as "app.js"): a miss there is answered with index.html
 * (the single-page app's own router takes it); 0 otherwise. */
int tb__static_spa_route(const char *rel);

#endif
