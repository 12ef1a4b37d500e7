/* test_err.c — tests src/common/err.c: names of every code, detail formatting and truncation,
 * the errno variant, clearing and copying. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "common/err.h"

static void every_code_has_a_name(void **state)
{
    (void)state;
    const char *names[16];
    for (int rc = 0; rc >= TB_ELIMIT; rc--) {
        const char *s = tb_strerror(rc);
        assert_non_null(s);
        assert_true(strlen(s) > 0);
        assert_string_not_equal(s, "unknown error");
        /* Lowercase, no trailing period (git's message style). */
        assert_true(s[0] >= 'a' && s[0] <= 'z');
        assert_true(s[strlen(s) - 1] != '.');
        for (int k = 0; k < -rc; k++)
            assert_string_not_equal(names[k], s);
        names[-rc] = s;
    }
    assert_string_equal(tb_strerror(TB_OK), "success");
    assert_string_equal(tb_strerror(TB_ENOMEM), "out of memory");
    assert_string_equal(tb_strerror(TB_EFORMAT), "input does not follow its format");
    assert_string_equal(tb_strerror(TB_ELIMIT), "limit exceeded");
    assert_string_equal(tb_strerror(TB_ELIMIT - 1), "unknown error");
    assert_string_equal(tb_strerror(1), "unknown error");
    assert_string_equal(tb_strerror(-1000), "unknown error");
}

static void seterr_formats(void **state)
{
    (void)state;
    tb__errbuf eb;
    tb__clearerr(&eb);
    assert_int_equal(eb.code, 0);
    assert_string_equal(eb.msg, "");
    int rc = tb__seterr(&eb, TB_EFORMAT, "line %d, field '%s': %s", 42, "id_no", "bad check digit");
    assert_int_equal(rc, TB_EFORMAT);
    assert_int_equal(eb.code, TB_EFORMAT);
    assert_string_equal(eb.msg, "line 42, field 'id_no': bad check digit");
    tb__clearerr(&eb);
    assert_int_equal(eb.code, 0);
    assert_string_equal(eb.msg, "");
}

static void seterr_truncates(void **state)
{
    (void)state;
    tb__errbuf eb;
    char big[2000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    tb__seterr(&eb, TB_EINVAL, "%s", big);
    assert_int_equal(strlen(eb.msg), TB__ERRMSG_MAX - 1);
    /* The errno suffix is dropped rather than overflowing when the message already fills it. */
    tb__seterr_errno(&eb, TB_EIO, ENOENT, "%s", big);
    assert_int_equal(eb.code, TB_EIO);
    assert_int_equal(strlen(eb.msg), TB__ERRMSG_MAX - 1);
    /* Near the end: the suffix is cut, the string still terminated. */
    big[TB__ERRMSG_MAX - 5] = '\0';
    tb__seterr_errno(&eb, TB_EIO, ENOENT, "%s", big);
    assert_int_equal(strlen(eb.msg), TB__ERRMSG_MAX - 1);
    assert_memory_equal(eb.msg + TB__ERRMSG_MAX - 5, ": No", 4);
}

static void errno_variant(void **state)
{
    (void)state;
    tb__errbuf eb;
    int rc = tb__seterr_errno(&eb, TB_ENOENT, ENOENT, "cannot open '%s'", "x.csv");
    assert_int_equal(rc, TB_ENOENT);
    char want[256];
    snprintf(want, sizeof want, "cannot open 'x.csv': %s", strerror(ENOENT));
    assert_string_equal(eb.msg, want);
    tb__seterr_errno(&eb, TB_EIO, 0, "no errno");
    assert_string_equal(eb.msg, "no errno"); /* errnum 0 adds nothing */
}

static void copyerr(void **state)
{
    (void)state;
    tb__errbuf eb;
    char dst[8];
    tb__seterr(&eb, TB_EIO, "disk on fire");
    tb__copyerr(&eb, dst, sizeof dst);
    assert_string_equal(dst, "disk on");
    tb__copyerr(&eb, NULL, 10); /* no-ops */
    dst[0] = 'Z';
    tb__copyerr(&eb, dst, 0);
    assert_int_equal(dst[0], 'Z');
    /* Without a detail, the code's name stands in. */
    char d2[64];
    tb__seterr(&eb, TB_ENOMEM, "%s", "");
    tb__copyerr(&eb, d2, sizeof d2);
    assert_string_equal(d2, "out of memory");
    tb__clearerr(&eb);
    tb__copyerr(&eb, d2, sizeof d2);
    assert_string_equal(d2, "success");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_code_has_a_name),
        cmocka_unit_test(seterr_formats),
        cmocka_unit_test(seterr_truncates),
        cmocka_unit_test(errno_variant),
        cmocka_unit_test(copyerr),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
