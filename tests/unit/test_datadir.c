/* test_datadir.c — tests src/store/datadir.c: creating and reopening a data directory, its
 * version stamp and its writer lock (same process, forked child, read-only beside a writer). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "store/meta.h"

#include "tagbase.h"

#include "helpers.h"

/* Each test gets a fresh parent directory (the state, see helpers.h); the data directory is
 * <state>/d. */

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    assert_int_equal(fclose(f), 0);
}

/* Creates and closes <parent>/d; returns its path (caller frees). */
static char *make_datadir(const char *parent)
{
    char *d = tbt_join(parent, "d");
    char err[256];
    tb_db *db;
    assert_int_equal(tb_db_open(d, TB_OPEN_CREATE, &db, err, sizeof err), 0);
    tb_db_close(db);
    return d;
}

static void create_and_reopen(void **state)
{
    char *d = tbt_join(*state, "deep/d");
    char err[256] = "";
    tb_db *db = NULL;
    assert_int_equal(tb_db_open(d, TB_OPEN_CREATE, &db, err, sizeof err), 0);
    assert_non_null(db);
    assert_string_equal(tb_db_path(db), d);
    assert_string_equal(tb_errmsg(db), "");
    tb_db_info info;
    assert_int_equal(tb_db_get_info(db, &info), 0);
    assert_int_equal(info.actions, TB_DB_CREATED | TB_DB_MIGRATED);
    assert_int_equal(info.format_version, 1);
    assert_int_equal(info.schema_version, TB__META_SCHEMA_VERSION);
    assert_int_equal(info.schema_at_open, 0);
    assert_int_equal(info.lock_held, 1);
    assert_int_equal(info.lock_pid, (long)getpid());
    tb_db_close(db);

    char *stamp = tbt_join(d, "tagbase.version");
    FILE *f = fopen(stamp, "r");
    assert_non_null(f);
    char line[64] = "";
    assert_non_null(fgets(line, sizeof line, f));
    fclose(f);
    assert_string_equal(line, "tagbase-data 1\n");

    /* Reopening (with a trailing slash, without CREATE) changes nothing. */
    char *slashed = tbt_join(d, "");
    assert_int_equal(tb_db_open(slashed, 0, &db, err, sizeof err), 0);
    assert_string_equal(tb_db_path(db), d);
    assert_int_equal(tb_db_get_info(db, &info), 0);
    assert_int_equal(info.actions, 0);
    assert_int_equal(info.schema_at_open, TB__META_SCHEMA_VERSION);
    tb_db_close(db);
    free(slashed);
    free(stamp);
    free(d);
}

static void missing_dir_is_enoent(void **state)
{
    char *d = tbt_join(*state, "absent");
    char err[256] = "";
    tb_db *db = (tb_db *)1;
    assert_int_equal(tb_db_open(d, 0, &db, err, sizeof err), TB_ENOENT);
    assert_null(db);
    assert_non_null(strstr(err, d));
    assert_int_equal(tb_db_open(d, TB_OPEN_READONLY | TB_OPEN_CREATE, &db, err, sizeof err),
                     TB_ENOENT); /* readers never create */
    assert_int_equal(access(d, F_OK), -1);

    /* An empty directory is not initialised without CREATE, and may be with it. */
    char *e = tbt_join(*state, "empty");
    assert_int_equal(mkdir(e, 0700), 0);
    assert_int_equal(tb_db_open(e, 0, &db, err, sizeof err), TB_ENOENT);
    assert_non_null(strstr(err, "not initialised"));
    assert_int_equal(tb_db_open(e, TB_OPEN_CREATE, &db, err, sizeof err), 0);
    tb_db_close(db);

    assert_int_equal(tb_db_open(NULL, 0, &db, err, sizeof err), TB_EINVAL);
    assert_int_equal(tb_db_open(e, 1u << 7, &db, err, sizeof err), TB_EINVAL);
    free(e);
    free(d);
}

static void stamp_mismatch_is_eversion(void **state)
{
    char *d = make_datadir(*state);
    char *stamp = tbt_join(d, "tagbase.version");
    char err[256] = "";
    tb_db *db = (tb_db *)1;

    write_text(stamp, "tagbase-data 2\n"); /* a newer tagbase wrote this */
    assert_int_equal(tb_db_open(d, 0, &db, err, sizeof err), TB_EVERSION);
    assert_null(db);
    assert_non_null(strstr(err, "format version 2"));
    assert_int_equal(tb_db_open(d, TB_OPEN_READONLY, &db, err, sizeof err), TB_EVERSION);
    assert_int_equal(tb_db_open(d, TB_OPEN_CREATE, &db, err, sizeof err), TB_EVERSION);

    write_text(stamp, "tagbase-data one\n");
    assert_int_equal(tb_db_open(d, 0, &db, err, sizeof err), TB_ECORRUPT);
    write_text(stamp, "tagbase-data 1\ntrailing");
    assert_int_equal(tb_db_open(d, 0, &db, err, sizeof err), TB_ECORRUPT);

    /* No stamp in a directory that holds something: not ours, never written into. */
    assert_int_equal(unlink(stamp), 0);
    assert_int_equal(tb_db_open(d, TB_OPEN_CREATE, &db, err, sizeof err), TB_EVERSION);
    assert_non_null(strstr(err, "no version stamp"));
    assert_int_equal(access(stamp, F_OK), -1);

    char *foreign = tbt_join(*state, "foreign");
    assert_int_equal(mkdir(foreign, 0700), 0);
    char *junk = tbt_join(foreign, "notes.txt");
    write_text(junk, "hello");
    assert_int_equal(tb_db_open(foreign, TB_OPEN_CREATE, &db, err, sizeof err), TB_EVERSION);
    char *lock = tbt_join(foreign, "LOCK");
    assert_int_equal(access(lock, F_OK), -1); /* we left no LOCK file in someone's directory */

    write_text(stamp, "tagbase-data 1\n");
    assert_int_equal(tb_db_open(d, 0, &db, err, sizeof err), 0);
    tb_db_close(db);
    free(lock);
    free(junk);
    free(foreign);
    free(stamp);
    free(d);
}

static void second_writer_same_process_is_ebusy(void **state)
{
    char *d = make_datadir(*state);
    char err[256] = "";
    tb_db *first, *second = (tb_db *)1;
    assert_int_equal(tb_db_open(d, 0, &first, err, sizeof err), 0);
    assert_int_equal(tb_db_open(d, 0, &second, err, sizeof err), TB_EBUSY);
    assert_null(second);
    char want[128];
    snprintf(want, sizeof want, "data directory '%s' is locked by pid %ld", d, (long)getpid());
    assert_string_equal(err, want);

    /* A reader is allowed beside the writer, sees who holds the lock, and cannot write. */
    tb_db *ro;
    assert_int_equal(tb_db_open(d, TB_OPEN_READONLY, &ro, err, sizeof err), 0);
    tb_db_info info;
    assert_int_equal(tb_db_get_info(ro, &info), 0);
    assert_int_equal(info.readonly, 1);
    assert_int_equal(info.lock_held, 1);
    assert_int_equal(info.lock_pid, (long)getpid());
    assert_int_equal(tb_db_set_setting(ro, "k", "v"), TB_EPERM);
    assert_non_null(strstr(tb_errmsg(ro), "read-only"));

    /* The writer still works while the reader probes. */
    assert_int_equal(tb_db_set_setting(first, "k", "v"), 0);
    tb_db_close(first);

    assert_int_equal(tb_db_get_info(ro, &info), 0);
    assert_int_equal(info.lock_held, 0);
    assert_int_equal(info.lock_pid, 0);
    tb_db_close(ro);
    free(d);
}

static void lock_released_after_close(void **state)
{
    char *d = make_datadir(*state);
    char err[256] = "";
    tb_db *db;
    for (int i = 0; i < 3; i++) {
        assert_int_equal(tb_db_open(d, 0, &db, err, sizeof err), 0);
        tb_db_close(db);
    }
    /* The pid is gone from LOCK once the lock is released, so nobody reports a stale holder. */
    char *lock = tbt_join(d, "LOCK");
    struct stat st;
    assert_int_equal(stat(lock, &st), 0);
    assert_int_equal(st.st_size, 0);
    free(lock);
    free(d);
}

/* Parent holds the lock; a forked child (a separate process, with the parent's descriptors
 * inherited) must be refused, with the parent's pid in the detail. */
static void second_writer_forked_child_is_ebusy(void **state)
{
    char *d = make_datadir(*state);
    char err[256] = "";
    tb_db *db;
    assert_int_equal(tb_db_open(d, 0, &db, err, sizeof err), 0);
    long parent = (long)getpid();

    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        char cerr[256] = "";
        tb_db *c;
        int rc = tb_db_open(d, 0, &c, cerr, sizeof cerr);
        char want[64];
        snprintf(want, sizeof want, "locked by pid %ld", parent);
        _exit(rc == TB_EBUSY && c == NULL && strstr(cerr, want) ? 0 : 1);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    tb_db_close(db);
    free(d);
}

/* The other way round: a child process holds the lock, the parent is refused, and may write once
 * the child has gone (the kernel drops the lock of a dead process). */
static void lock_held_by_child_process(void **state)
{
    char *d = make_datadir(*state);
    int up[2], down[2];
    assert_int_equal(pipe(up), 0);
    assert_int_equal(pipe(down), 0);

    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        /* Only our ends stay open, so the child sees EOF (and leaves) if the parent dies. */
        close(up[0]);
        close(down[1]);
        char cerr[256];
        tb_db *c;
        char ok = tb_db_open(d, 0, &c, cerr, sizeof cerr) == 0 ? 'y' : 'n';
        char go;
        if (write(up[1], &ok, 1) != 1 || read(down[0], &go, 1) != 1) _exit(2);
        _exit(0); /* no tb_db_close: the kernel releases the lock of a dead process */
    }
    close(up[1]);
    close(down[0]);
    char ok = 0;
    assert_int_equal(read(up[0], &ok, 1), 1);
    assert_int_equal(ok, 'y');

    char err[256] = "";
    tb_db *db;
    assert_int_equal(tb_db_open(d, 0, &db, err, sizeof err), TB_EBUSY);
    char want[64];
    snprintf(want, sizeof want, "locked by pid %ld", (long)pid);
    assert_non_null(strstr(err, want));

    assert_int_equal(write(down[1], "g", 1), 1);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_int_equal(tb_db_open(d, 0, &db, err, sizeof err), 0);
    tb_db_close(db);
    close(up[0]);
    close(down[1]);
    free(d);
}

static void default_data_dir(void **state)
{
    (void)state;
    const char *old = getenv("TAGBASE_DATA");
    char *saved = old ? strdup(old) : NULL;
    setenv("TAGBASE_DATA", "/srv/tagbase", 1);
    assert_string_equal(tb_default_data_dir(), "/srv/tagbase");
    unsetenv("TAGBASE_DATA");
    assert_string_equal(tb_default_data_dir(), "./tagbase-data");
    setenv("TAGBASE_DATA", "", 1);
    assert_string_equal(tb_default_data_dir(), "./tagbase-data");
    if (saved)
        setenv("TAGBASE_DATA", saved, 1);
    else
        unsetenv("TAGBASE_DATA");
    free(saved);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(create_and_reopen, tbt_setup_tmpdir, tbt_teardown_tmpdir),
        cmocka_unit_test_setup_teardown(missing_dir_is_enoent, tbt_setup_tmpdir,
                                        tbt_teardown_tmpdir),
        cmocka_unit_test_setup_teardown(stamp_mismatch_is_eversion, tbt_setup_tmpdir,
                                        tbt_teardown_tmpdir),
        cmocka_unit_test_setup_teardown(second_writer_same_process_is_ebusy, tbt_setup_tmpdir,
                                        tbt_teardown_tmpdir),
        cmocka_unit_test_setup_teardown(lock_released_after_close, tbt_setup_tmpdir,
                                        tbt_teardown_tmpdir),
        cmocka_unit_test_setup_teardown(second_writer_forked_child_is_ebusy, tbt_setup_tmpdir,
                                        tbt_teardown_tmpdir),
        cmocka_unit_test_setup_teardown(lock_held_by_child_process, tbt_setup_tmpdir,
                                        tbt_teardown_tmpdir),
        cmocka_unit_test(default_data_dir),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
