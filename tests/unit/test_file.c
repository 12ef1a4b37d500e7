/* test_file.c — tests src/store/file.c: crash-safe writes, streaming writes, bounded reads. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "store/file.h"

#include "helpers.h"

/* Each test gets a fresh directory (the state, see helpers.h), removed afterwards. */

/* The number of entries in `dir` other than . and ..: shows that no temp file is left behind. */
static int count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) n++;
    closedir(d);
    return n;
}

static void assert_content(const char *path, const char *want)
{
    tb__errbuf eb = {0};
    char *got;
    size_t len;
    assert_int_equal(tb__file_read_all(path, 1 << 20, &got, &len, &eb), 0);
    assert_int_equal(len, strlen(want));
    assert_string_equal(got, want);
    free(got);
}

static void atomic_write_replaces_content(void **state)
{
    char *path = tbt_join(*state, "a.txt");
    tb__errbuf eb = {0};
    assert_int_equal(tb__file_write_atomic(path, "old", 3, 0640, &eb), 0);
    assert_content(path, "old");
    assert_int_equal(tb__file_write_atomic(path, "new content", 11, 0640, &eb), 0);
    assert_content(path, "new content");
    assert_int_equal(count_entries(*state), 1); /* the temp file is gone */

    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777 & ~0640, 0); /* never more open than asked */
    assert_int_equal(st.st_mode & 0600, 0600);

    assert_int_equal(tb__file_write_atomic(path, "", 0, 0640, &eb), 0); /* empty is fine */
    assert_content(path, "");
    free(path);
}

static void streaming_write_commits(void **state)
{
    char *path = tbt_join(*state, "big.bin");
    tb__errbuf eb = {0};
    tb__afile af;
    assert_int_equal(tb__afile_open(&af, path, 0600, &eb), 0);
    assert_int_equal(count_entries(*state), 1); /* only the temp file so far */
    assert_int_equal(access(path, F_OK), -1);   /* the final name does not exist yet */
    for (int i = 0; i < 1000; i++)
        assert_int_equal(tb__afile_write(&af, "0123456789", 10, &eb), 0);
    assert_int_equal(tb__afile_commit(&af, &eb), 0);
    tb__afile_abort(&af); /* a no-op after commit: cleanup paths may always call it */
    assert_int_equal(count_entries(*state), 1);

    char *got;
    size_t len;
    assert_int_equal(tb__file_read_all(path, 10000, &got, &len, &eb), 0);
    assert_int_equal(len, 10000);
    assert_memory_equal(got + 9990, "0123456789", 10);
    free(got);
    free(path);
}

/* A file written past the page cache (tb__afile_direct): pieces of every size, some larger than
 * a 4 MiB block, some crossing one, give back exactly the bytes written, replacing the old file;
 * an abort in the middle leaves the old file and no temp file. On a file system without O_DIRECT
 * the same bytes go through the page cache. */
static void direct_write_same_bytes(void **state)
{
    char *path = tbt_join(*state, "seg.seg");
    tb__errbuf eb = {0};
    assert_int_equal(tb__file_write_atomic(path, "old", 3, 0640, &eb), 0);
    size_t total = (size_t)11 << 20, at = 0;
    unsigned char *want = malloc(total);
    assert_non_null(want);
    uint32_t x = 1;
    for (size_t i = 0; i < total; i++) {
        x = x * 1664525u + 1013904223u;
        want[i] = (unsigned char)(x >> 24);
    }
    static const size_t sizes[] = {1, 4095, 4097, 100000, (size_t)5 << 20, 3, 65536};
    tb__afile af;
    assert_int_equal(tb__afile_open(&af, path, 0640, &eb), 0);
    assert_int_equal(tb__afile_direct(&af, &eb), 0);
    assert_int_equal(tb__afile_direct(&af, &eb), 0); /* twice is harmless */
    for (size_t k = 0; at < total; k++) {
        size_t n = sizes[k % 7] < total - at ? sizes[k % 7] : total - at;
        assert_int_equal(tb__afile_write(&af, want + at, n, &eb), 0);
        at += n;
    }
    assert_int_equal(tb__afile_commit(&af, &eb), 0);
    tb__afile_abort(&af);
    assert_int_equal(count_entries(*state), 1);
    char *got;
    size_t len;
    assert_int_equal(tb__file_read_all(path, total, &got, &len, &eb), 0);
    assert_int_equal(len, total);
    assert_memory_equal(got, want, total);
    free(got);

    assert_int_equal(tb__afile_open(&af, path, 0640, &eb), 0);
    assert_int_equal(tb__afile_direct(&af, &eb), 0);
    assert_int_equal(tb__afile_write(&af, want, (size_t)9 << 20, &eb), 0);
    tb__afile_abort(&af);
    assert_int_equal(count_entries(*state), 1);
    assert_int_equal(tb__file_read_all(path, total, &got, &len, &eb), 0);
    assert_int_equal(len, total);
    assert_memory_equal(got, want, total);
    free(got);
    free(want);
    free(path);
}

/* Publishing renames without a wait for the disk: the file is there under its final name, no
 * temp file is left, a second publish is refused, and the owner can make it durable later. */
static void publish_then_fsync(void **state)
{
    char *path = tbt_join(*state, "c.col");
    tb__errbuf eb = {0};
    tb__afile af;
    assert_int_equal(tb__afile_open(&af, path, 0600, &eb), 0);
    assert_int_equal(tb__afile_write(&af, "abc", 3, &eb), 0);
    assert_int_equal(tb__afile_publish(&af, &eb), 0);
    tb__afile_abort(&af); /* a no-op after publish, as after commit */
    assert_int_equal(count_entries(*state), 1);
    assert_content(path, "abc");
    assert_int_equal(tb__afile_publish(&af, &eb), TB_EINVAL);
    assert_int_equal(tb__fsync_file(path, &eb), 0);
    assert_int_equal(tb__fsync_dir(*state, &eb), 0);
    char *missing = tbt_join(*state, "nope.col");
    assert_int_equal(tb__fsync_file(missing, &eb), TB_ENOENT);
    assert_non_null(strstr(eb.msg, "nope.col"));
    free(missing);
    free(path);
}

static void abort_leaves_old_file(void **state)
{
    char *path = tbt_join(*state, "keep.txt");
    tb__errbuf eb = {0};
    assert_int_equal(tb__file_write_atomic(path, "precious", 8, 0640, &eb), 0);

    tb__afile af;
    assert_int_equal(tb__afile_open(&af, path, 0640, &eb), 0);
    assert_int_equal(tb__afile_write(&af, "half-writ", 9, &eb), 0);
    tb__afile_abort(&af);
    tb__afile_abort(&af); /* twice is harmless */
    assert_content(path, "precious");
    assert_int_equal(count_entries(*state), 1);

    tb__afile zero = {.fd = -1};
    tb__afile_abort(&zero); /* a zeroed one too */
    free(path);
}

static void read_all_limit_enforced(void **state)
{
    char *path = tbt_join(*state, "hundred");
    tb__errbuf eb = {0};
    char data[100];
    memset(data, 'x', sizeof data);
    assert_int_equal(tb__file_write_atomic(path, data, sizeof data, 0640, &eb), 0);

    char *got = (char *)1;
    size_t len = 7;
    assert_int_equal(tb__file_read_all(path, 99, &got, &len, &eb), TB_ELIMIT);
    assert_null(got);
    assert_int_equal(len, 0);
    assert_non_null(strstr(eb.msg, path));

    assert_int_equal(tb__file_read_all(path, 100, &got, &len, &eb), 0); /* exactly the limit */
    assert_int_equal(len, 100);
    assert_int_equal(got[100], '\0');
    free(got);

    /* A file whose size stat cannot tell (procfs says 0) is still held to the limit. */
    assert_int_equal(tb__file_read_all("/proc/self/status", 10, &got, &len, &eb), TB_ELIMIT);
    assert_null(got);
    free(path);
}

static void read_all_missing_names_path(void **state)
{
    char *path = tbt_join(*state, "nope");
    tb__errbuf eb = {0};
    char *got;
    size_t len;
    assert_int_equal(tb__file_read_all(path, 10, &got, &len, &eb), TB_ENOENT);
    assert_null(got);
    assert_non_null(strstr(eb.msg, path));
    assert_non_null(strstr(eb.msg, "No such file"));
    assert_int_equal(tb__file_read_all(*state, 10, &got, &len, &eb), TB_EIO); /* a directory */
    free(path);
}

static void errors_on_unwritable_dir(void **state)
{
    tb__errbuf eb = {0};
    /* A path below a regular file fails for everyone, root included. */
    char *file = tbt_join(*state, "plain");
    assert_int_equal(tb__file_write_atomic(file, "x", 1, 0640, &eb), 0);
    char *below = tbt_join(file, "x.txt");
    assert_int_equal(tb__file_write_atomic(below, "x", 1, 0640, &eb), TB_EIO);
    assert_non_null(strstr(eb.msg, below));
    assert_non_null(strstr(eb.msg, "Not a directory"));

    /* Permission bits stop everyone but root. */
    if (geteuid() != 0) {
        char *ro = tbt_join(*state, "ro");
        assert_int_equal(mkdir(ro, 0500), 0);
        char *inside = tbt_join(ro, "x.txt");
        assert_int_equal(tb__file_write_atomic(inside, "x", 1, 0640, &eb), TB_EIO);
        assert_non_null(strstr(eb.msg, "Permission denied"));
        assert_int_equal(count_entries(ro), 0);
        chmod(ro, 0700);
        free(inside);
        free(ro);
    }
    free(below);
    free(file);
}

static void mkdir_p_and_fsync_dir(void **state)
{
    tb__errbuf eb = {0};
    char *deep = tbt_join(*state, "a/b//c/");
    assert_int_equal(tb__mkdir_p(deep, 0750, &eb), 0);
    assert_int_equal(tb__mkdir_p(deep, 0750, &eb), 0); /* exists: fine */
    char *c = tbt_join(*state, "a/b/c");
    struct stat st;
    assert_int_equal(stat(c, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    assert_int_equal(tb__fsync_dir(c, &eb), 0);

    char *file = tbt_join(*state, "a/f");
    assert_int_equal(tb__file_write_atomic(file, "x", 1, 0640, &eb), 0);
    assert_int_equal(tb__mkdir_p(file, 0750, &eb), TB_EEXIST);
    char *under = tbt_join(file, "d");
    assert_int_equal(tb__mkdir_p(under, 0750, &eb), TB_EEXIST); /* a component is a file */
    assert_non_null(strstr(eb.msg, file));

    char *missing = tbt_join(*state, "missing");
    assert_int_equal(tb__fsync_dir(missing, &eb), TB_ENOENT);
    free(missing);
    free(under);
    free(file);
    free(c);
    free(deep);
}

/* Aborting a zeroed tb__afile (a cleanup path reached before any open) touches no descriptor:
 * its fd field is 0, which is the process's stdin. */
static void abort_zeroed_keeps_stdin(void **state)
{
    (void)state;
    int saved = dup(0);
    assert_true(saved >= 0);
    tb__afile af = {0};
    tb__afile_abort(&af);
    assert_int_not_equal(fcntl(0, F_GETFD), -1);
    dup2(saved, 0);
    close(saved);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(abort_zeroed_keeps_stdin),
        cmocka_unit_test_setup_teardown(atomic_write_replaces_content, tbt_setup_tmpdir,
                                        tbt_teardown_tmpdir),
        cmocka_unit_test_setup_teardown(streaming_write_commits, tbt_setup_tmpdir,
                                        tbt_teardown_tmpdir),
        cmocka_unit_test_setup_teardown(publish_then_fsync, tbt_setup_tmpdir, tbt_teardown_tmpdir),
        cmocka_unit_test_setup_teardown(direct_write_same_bytes, tbt_setup_tmpdir,
                                        tbt_teardown_tmpdir),
        cmocka_unit_test_setup_teardown(abort_leaves_old_file, tbt_setup_tmpdir,
                                        tbt_teardown_tmpdir),
        cmocka_unit_test_setup_teardown(read_all_limit_enforced, tbt_setup_tmpdir,
                                        tbt_teardown_tmpdir),
        cmocka_unit_test_setup_teardown(read_all_missing_names_path, tbt_setup_tmpdir,
                                        tbt_teardown_tmpdir),
        cmocka_unit_test_setup_teardown(errors_on_unwritable_dir, tbt_setup_tmpdir,
                                        tbt_teardown_tmpdir),
        cmocka_unit_test_setup_teardown(mkdir_p_and_fsync_dir, tbt_setup_tmpdir,
                                        tbt_teardown_tmpdir),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
