/* test_static.c — tests src/server/static.c: the path normaliser of the web console's files
 * (traversal, encodings, hidden names, limits), Content-Type by extension, which files are
 * immutable and which misses fall back to the single-page app. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "server/static.h"
#include "tagbase.h"

/* tb__static_path over a string literal (which may contain NUL): its return code. */
static int norm(const char *raw, size_t len, char *out, size_t cap)
{
    const char *why = NULL;
    int rc = tb__static_path(raw, len, out, cap, &why);
    assert_non_null(why);
    if (rc) assert_true(*why != '\0');
    return rc;
}
#define NORM(lit, out) norm((lit), sizeof(lit) - 1, (out), sizeof(out))

static void good_paths(void **state)
{
    (void)state;
    char out[TB__STATIC_MAX_PATH + 1];
    assert_int_equal(NORM("/", out), 0);
    assert_string_equal(out, "index.html");
    assert_int_equal(NORM("/index.html", out), 0);
    assert_string_equal(out, "index.html");
    assert_int_equal(NORM("/assets/index-Bx3f9a.js", out), 0);
    assert_string_equal(out, "assets/index-Bx3f9a.js");
    assert_int_equal(NORM("/assets/", out), 0);
    assert_string_equal(out, "assets/index.html");
    assert_int_equal(NORM("/segments/%E9%AB%98%E5%87%80%E5%80%BC", out), 0);
    assert_string_equal(out, "segments/\xE9\xAB\x98\xE5\x87\x80\xE5\x80\xBC");
    assert_int_equal(NORM("/a%20b/c.css", out), 0);
    assert_string_equal(out, "a b/c.css");
    assert_int_equal(NORM("/a..b", out), 0); /* dots inside a name are fine */
    assert_string_equal(out, "a..b");
}

static void traversal_refused(void **state)
{
    (void)state;
    char out[64];
    assert_int_equal(NORM("/..", out), TB_EFORMAT);
    assert_int_equal(NORM("/../etc/passwd", out), TB_EFORMAT);
    assert_int_equal(NORM("/assets/../../etc/passwd", out), TB_EFORMAT);
    assert_int_equal(NORM("/%2e%2e/etc/passwd", out), TB_EFORMAT);
    assert_int_equal(NORM("/%2E%2E/etc/passwd", out), TB_EFORMAT);
    assert_int_equal(NORM("/.%2e/x", out), TB_EFORMAT);
    assert_int_equal(NORM("/./index.html", out), TB_EFORMAT);
    assert_int_equal(NORM("/assets/..%2fx", out), TB_EFORMAT); /* an encoded '/' */
    assert_int_equal(NORM("/assets%2F..%2F..%2Fx", out), TB_EFORMAT);
    assert_int_equal(NORM("/..\\..\\etc\\passwd", out), TB_EFORMAT);
    assert_int_equal(NORM("/a\\b", out), TB_EFORMAT);
    assert_int_equal(NORM("/a%5cb", out), TB_EFORMAT);
    assert_int_equal(NORM("/a%00b", out), TB_EFORMAT);
    assert_int_equal(NORM("/a\0b", out), TB_EFORMAT);
    assert_int_equal(NORM("/a%0ab", out), TB_EFORMAT);
    assert_int_equal(NORM("/a%7fb", out), TB_EFORMAT);
    assert_int_equal(NORM("/.git/config", out), TB_EFORMAT);
    assert_int_equal(NORM("/.env", out), TB_EFORMAT);
    assert_int_equal(NORM("/assets/.hidden", out), TB_EFORMAT);
    assert_int_equal(NORM("//etc/passwd", out), TB_EFORMAT);
    assert_int_equal(NORM("/a//b", out), TB_EFORMAT);
    assert_int_equal(NORM("etc/passwd", out), TB_EFORMAT);
    assert_int_equal(norm("", 0, out, sizeof out), TB_EFORMAT);
    assert_int_equal(NORM("/%", out), TB_EFORMAT);
    assert_int_equal(NORM("/%2", out), TB_EFORMAT);
    assert_int_equal(NORM("/%zz", out), TB_EFORMAT);
    assert_int_equal(NORM("/%c0%ae%c0%ae/x", out), TB_EFORMAT); /* overlong '.' (not UTF-8) */
    assert_int_equal(NORM("/\xff", out), TB_EFORMAT);
}

static void limits(void **state)
{
    (void)state;
    char out[TB__STATIC_MAX_PATH + 1], raw[4096];
    /* 16 segments are fine, 17 are not */
    strcpy(raw, "");
    for (int i = 0; i < 16; i++)
        strcat(raw, "/a");
    assert_int_equal(norm(raw, strlen(raw), out, sizeof out), 0);
    strcat(raw, "/a");
    assert_int_equal(norm(raw, strlen(raw), out, sizeof out), TB_ELIMIT);
    /* a name longer than the limit */
    raw[0] = '/';
    memset(raw + 1, 'x', TB__STATIC_MAX_PATH + 10);
    assert_int_equal(norm(raw, TB__STATIC_MAX_PATH + 11, out, sizeof out), TB_ELIMIT);
    /* a small output buffer is never overrun */
    char small[8];
    assert_int_equal(NORM("/abcdefghij", small), TB_ELIMIT);
    assert_int_equal(NORM("/", small), TB_ELIMIT); /* no room for index.html */
    assert_int_equal(NORM("/abc", small), 0);
    assert_string_equal(small, "abc");
}

static void mime_cache_and_fallback(void **state)
{
    (void)state;
    assert_string_equal(tb__static_mime("index.html"), "text/html; charset=utf-8");
    assert_string_equal(tb__static_mime("assets/a-1.js"), "text/javascript; charset=utf-8");
    assert_string_equal(tb__static_mime("assets/a-1.CSS"), "text/css; charset=utf-8");
    assert_string_equal(tb__static_mime("assets/f.woff2"), "font/woff2");
    assert_string_equal(tb__static_mime("favicon.svg"), "image/svg+xml");
    assert_string_equal(tb__static_mime("x.bin"), "application/octet-stream");
    assert_string_equal(tb__static_mime("noext"), "application/octet-stream");
    assert_string_equal(tb__static_mime("a.js/noext"), "application/octet-stream");
    assert_true(tb__static_immutable("assets/index-abc.js"));
    assert_false(tb__static_immutable("index.html"));
    assert_false(tb__static_immutable("assets/"));
    assert_false(tb__static_immutable("favicon.svg"));
    assert_true(tb__static_spa_route("segments/abc"));
    assert_true(tb__static_spa_route("login"));
    assert_false(tb__static_spa_route("assets/missing.js"));
    assert_false(tb__static_spa_route("favicon.ico"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(good_paths),
        cmocka_unit_test(traversal_refused),
        cmocka_unit_test(limits),
        cmocka_unit_test(mime_cache_and_fallback),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
