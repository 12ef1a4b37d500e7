/* helpers.h — scratch-directory, file and key-file setup shared by the unit tests that touch the
 * file system. Include it after <cmocka.h>: the helpers fail the
 * running test with cmocka's asserts. Each test binary compiles its own copy (static inline), so
 * no extra object needs linking. */
#ifndef TB_TESTS_UNIT_HELPERS_H
#define TB_TESTS_UNIT_HELPERS_H

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "store/crypt.h"
#include "store/file.h"

static inline int tbt_rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

/* cmocka setup: *state becomes the path of a fresh, empty directory under /tmp (freed and
 * removed by tbt_teardown_tmpdir). Returns 0, or -1 to make cmocka skip the test as failed. */
static inline int tbt_setup_tmpdir(void **state)
{
    char *dir = strdup("/tmp/tb-test-XXXXXX");
    if (!dir || !mkdtemp(dir)) {
        free(dir);
        return -1;
    }
    *state = dir;
    return 0;
}

/* cmocka teardown: removes the directory in *state with everything in it (first giving it back
 * the write permission a test may have taken away) and frees the path. */
static inline int tbt_teardown_tmpdir(void **state)
{
    chmod(*state, 0700);
    nftw(*state, tbt_rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(*state);
    return 0;
}

/* "<dir>/<name>"; caller frees. */
static inline char *tbt_join(const char *dir, const char *name)
{
    char *p;
    assert_true(asprintf(&p, "%s/%s", dir, name) > 0);
    return p;
}

/* The bytes of a file (at most 64 MiB, through the library's reader); caller frees. */
static inline uint8_t *tbt_read_file(const char *path, size_t *n)
{
    char *b = NULL;
    tb__errbuf eb = {0};
    assert_int_equal(tb__file_read_all(path, (size_t)64 << 20, &b, n, &eb), 0);
    return (uint8_t *)b;
}

/* Replaces a file with n bytes (crash-safely, as the library writes). */
static inline void tbt_write_file(const char *path, const void *b, size_t n)
{
    tb__errbuf eb = {0};
    assert_int_equal(tb__file_write_atomic(path, b, n, 0640, &eb), 0);
}

/* A new key file at `path` holding one fresh key, saved as tagbase saves one (0600); *id (may be
 * NULL) is the key's id. Returns the keyring, caller frees with tb__keyring_free (at once when
 * only the file is wanted). */
static inline tb__keyring *tbt_key_file(const char *path, uint32_t *id)
{
    tb__errbuf eb = {0};
    tb__keyring *k;
    assert_int_equal(tb__keyring_new(path, &k, &eb), 0);
    assert_int_equal(tb__keyring_add(k, id, &eb), 0);
    assert_int_equal(tb__keyring_save(k, &eb), 0);
    return k;
}

#endif
