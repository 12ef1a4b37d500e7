/* test_log.c — tests src/common/log.c: level filtering, TAGBASE_LOG parsing, the line format and
 * truncation of over-long lines, through tb__log_set_stream. */
#include <regex.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "common/log.h"

static FILE *g_out;

static int setup(void **state)
{
    (void)state;
    g_out = tmpfile();
    if (!g_out) return -1;
    tb__log_set_stream(g_out);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    tb__log_set_stream(NULL);
    fclose(g_out);
    return 0;
}

/* Returns what was logged since the last call (static storage). */
static const char *captured(void)
{
    static char text[8192];
    rewind(g_out);
    size_t n = fread(text, 1, sizeof text - 1, g_out);
    text[n] = '\0';
    fclose(g_out);
    g_out = tmpfile();
    tb__log_set_stream(g_out);
    return text;
}

/* The level a child process derives from TAGBASE_LOG=value (the level is read once per process). */
static int level_from_env(const char *value)
{
    pid_t pid = fork();
    if (pid == 0) {
        if (value)
            setenv("TAGBASE_LOG", value, 1);
        else
            unsetenv("TAGBASE_LOG");
        _exit((int)tb_log_get_level());
    }
    int st = 0;
    waitpid(pid, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void env_parsing(void **state)
{
    (void)state;
    assert_int_equal(level_from_env("debug"), TB_LOG_DEBUG);
    assert_int_equal(level_from_env("error"), TB_LOG_ERROR);
    assert_int_equal(level_from_env("warn"), TB_LOG_WARN);
    assert_int_equal(level_from_env("info"), TB_LOG_INFO);
    assert_int_equal(level_from_env("loud"), TB_LOG_INFO); /* unknown: the default */
    assert_int_equal(level_from_env(""), TB_LOG_INFO);
    assert_int_equal(level_from_env(NULL), TB_LOG_INFO);
    tb_log_level lv = TB_LOG_ERROR;
    assert_int_equal(tb_log_level_parse("debug", &lv), 0);
    assert_int_equal(lv, TB_LOG_DEBUG);
    assert_int_equal(tb_log_level_parse("DEBUG", &lv), TB_EINVAL);
    assert_int_equal(tb_log_level_parse(NULL, &lv), TB_EINVAL);
    assert_int_equal(lv, TB_LOG_DEBUG); /* untouched on failure */
}

static void levels_filter(void **state)
{
    (void)state;
    tb_log_set_level(TB_LOG_WARN);
    assert_int_equal(tb_log_get_level(), TB_LOG_WARN);
    tb__log_info("t", "hidden %d", 1);
    tb__log_debug("t", "hidden %d", 2);
    tb__log_warn("t", "shown %d", 3);
    tb__log_error("t", "shown %d", 4);
    const char *s = captured();
    assert_null(strstr(s, "hidden"));
    assert_non_null(strstr(s, "shown 3"));
    assert_non_null(strstr(s, "shown 4"));
    tb_log_set_level(TB_LOG_DEBUG);
    tb__log_debug("t", "now shown");
    assert_non_null(strstr(captured(), "now shown"));
    /* Values outside the enum are ignored, never used as an index. */
    tb_log_set_level((tb_log_level)9);
    assert_int_equal(tb_log_get_level(), TB_LOG_DEBUG);
    tb__log((tb_log_level)7, "t", "bogus level");
    tb__log((tb_log_level)-1, "t", "bogus level");
    assert_string_equal(captured(), "");
}

static void line_format(void **state)
{
    (void)state;
    tb_log_set_level(TB_LOG_DEBUG);
    tb__log_info("store", "opened '%s' (schema %d)", "tagbase-data", 1);
    tb__log_warn(NULL, "no component");
    tb__log_debug("x", "d");
    const char *s = captured();
    regex_t re;
    assert_int_equal(regcomp(&re,
                             "^[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3} "
                             "INFO  store: opened 'tagbase-data' \\(schema 1\\)\n"
                             "[0-9-]{10} [0-9:.]{12} WARN  tagbase: no component\n"
                             "[0-9-]{10} [0-9:.]{12} DEBUG x: d\n$",
                             REG_EXTENDED),
                     0);
    int m = regexec(&re, s, 0, NULL, 0);
    regfree(&re);
    if (m != 0) fail_msg("unexpected log output:\n%s", s);
}

static void long_lines_are_cut(void **state)
{
    (void)state;
    tb_log_set_level(TB_LOG_INFO);
    static char big[5000];
    memset(big, 'm', sizeof big - 1);
    tb__log_info("c", "%s", big);
    const char *s = captured();
    size_t n = strlen(s);
    assert_true(n <= 2047);
    assert_int_equal(s[n - 1], '\n');
    assert_ptr_equal(strchr(s, '\n'), s + n - 1); /* one line */
    /* A component longer than a line must not overflow (it used to wrap the size around). */
    tb__log_info(big, "after a long component");
    s = captured();
    n = strlen(s);
    assert_true(n > 0 && n <= 2047);
    assert_int_equal(s[n - 1], '\n');
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(env_parsing),
        cmocka_unit_test(levels_filter),
        cmocka_unit_test(line_format),
        cmocka_unit_test(long_lines_are_cut),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
