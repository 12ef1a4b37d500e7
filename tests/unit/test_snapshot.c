/* test_snapshot.c — tests src/store/snapshot.c and src/common/crc32c.c: round trips of every column
 * type with NULLs, dictionary strings in Chinese, a 1M-row column, and every way a snapshot can be
 * damaged or left incomplete (truncation, flipped bytes, wrong nrows, no manifest, a writer that
 * dies before commit, abort). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <pthread.h>
#include <unistd.h>
#include <cmocka.h>

#include "helpers.h"
#include "common/crc32c.h"
#include "store/snapshot.h"
#include "tagbase.h"

/* ---- helpers -------------------------------------------------------------------------------- */

static void *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    void *p = malloc((size_t)n + 1);
    assert_non_null(p);
    assert_int_equal(fread(p, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return p;
}

/* Replaces a (read-only) file with new bytes, as damage or a bug in another writer would. */
static void spew(const char *path, const void *p, size_t len)
{
    unlink(path);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(p, 1, len, f), len);
    fclose(f);
}

static int exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* A small snapshot of 5 rows with one column of each type; returns its directory (caller frees). */
static const char *k_names[] = {NULL, "张三", "李四", "王小明", "Zoë"};
static char *make_small(const char *tmp, const char *sub)
{
    char *dir = tbt_join(tmp, sub);
    tb__errbuf eb = {0};
    tb__snap_writer *w;
    assert_int_equal(tb__snap_writer_open(dir, 5, &w, &eb), 0);
    int64_t a[5] = {0, -1, TB__SNAP_NULL_I64, INT64_MAX, INT64_MIN + 1};
    int32_t b[5] = {42, TB__SNAP_NULL_I32, -7, INT32_MAX, 0};
    uint8_t c[5] = {0, 1, TB__SNAP_NULL_U8, 254, 3};
    uint32_t codes[5] = {1, 0, 2, 3, 1};
    uint32_t lens[5];
    for (int i = 1; i < 5; i++)
        lens[i] = (uint32_t)strlen(k_names[i]);
    assert_int_equal(tb__snap_put_i64(w, "balance", a, "{\"class\":\"C3\",\"src\":\"deposits\"}"),
                     0);
    assert_int_equal(tb__snap_put_i32(w, "age", b, NULL), 0);
    assert_int_equal(tb__snap_put_u8(w, "level", c, "{}"), 0);
    assert_int_equal(tb__snap_put_dict(w, "name", codes, k_names, lens, 5, "{\"pii\":true}"), 0);
    assert_int_equal(tb__snap_writer_commit(w, "{\"batch_date\":\"20261121\"}", &eb), 0);
    return dir;
}

static int open_err(const char *dir, tb__errbuf *eb)
{
    tb__snap *s = (tb__snap *)1;
    int rc = tb__snap_open(dir, &s, eb);
    if (rc == 0)
        tb__snap_close(s);
    else
        assert_null(s);
    return rc;
}

/* ---- tests ---------------------------------------------------------------------------------- */

static void crc_known_values(void **state)
{
    (void)state;
    assert_int_equal(tb__crc32c(0, "123456789", 9), 0xE3069283u);
    assert_int_equal(tb__crc32c_sw(0, "123456789", 9), 0xE3069283u);
    assert_int_equal(tb__crc32c(0, NULL, 0), 0);
    /* 32 zero bytes: the iSCSI test vector (RFC 3720 B.4). */
    unsigned char z[32] = {0};
    assert_int_equal(tb__crc32c(0, z, 32), 0x8A9136AAu);
    /* Hardware and table agree at every alignment and length, and chaining equals one pass. */
    unsigned char buf[300];
    for (size_t i = 0; i < sizeof buf; i++)
        buf[i] = (unsigned char)(i * 131 + 7);
    for (size_t off = 0; off < 9; off++)
        for (size_t n = 0; n + off <= sizeof buf; n += 7) {
            uint32_t a = tb__crc32c(0, buf + off, n);
            assert_int_equal(a, tb__crc32c_sw(0, buf + off, n));
            assert_int_equal(
                a, tb__crc32c(tb__crc32c(0, buf + off, n / 3), buf + off + n / 3, n - n / 3));
        }
}

static void round_trip_all_types(void **state)
{
    char *dir = make_small(*state, "s1");
    tb__errbuf eb = {0};
    tb__snap *s;
    assert_int_equal(tb__snap_open(dir, &s, &eb), 0);
    assert_int_equal(tb__snap_nrows(s), 5);
    assert_int_equal(tb__snap_ncolumns(s), 4);
    assert_string_equal(tb__snap_meta_json(s), "{\"batch_date\":\"20261121\"}");
    assert_int_equal(tb__snap_verify(s, &eb), 0);

    tb__snap_col c;
    assert_int_equal(tb__snap_column(s, "balance", &c), 0);
    assert_int_equal(c.type, TB__SNAP_I64);
    assert_int_equal(((uintptr_t)c.values) & 7, 0);
    const int64_t *a = c.values;
    assert_true(a[0] == 0 && a[1] == -1 && a[2] == TB__SNAP_NULL_I64 && a[3] == INT64_MAX &&
                a[4] == INT64_MIN + 1);
    assert_string_equal(c.meta_json, "{\"class\":\"C3\",\"src\":\"deposits\"}");

    assert_int_equal(tb__snap_column(s, "age", &c), 0);
    const int32_t *b = c.values;
    assert_int_equal(c.type, TB__SNAP_I32);
    assert_true(b[0] == 42 && b[1] == TB__SNAP_NULL_I32 && b[2] == -7 && b[3] == INT32_MAX);
    assert_null(c.meta_json);

    assert_int_equal(tb__snap_column(s, "level", &c), 0);
    const uint8_t *u = c.values;
    assert_true(u[0] == 0 && u[2] == TB__SNAP_NULL_U8 && u[3] == 254);
    assert_string_equal(c.meta_json, "{}");

    assert_int_equal(tb__snap_column(s, "name", &c), 0);
    assert_int_equal(c.type, TB__SNAP_DICT);
    assert_int_equal(c.ndict, 5);
    const uint32_t *codes = c.values;
    size_t len;
    const char *p = tb__snap_dict_str(&c, codes[0], &len);
    assert_int_equal(len, strlen("张三"));
    assert_memory_equal(p, "张三", len);
    assert_null(tb__snap_dict_str(&c, codes[1], &len)); /* NULL */
    assert_int_equal(len, 0);
    p = tb__snap_dict_str(&c, codes[3], &len);
    assert_memory_equal(p, "王小明", len);
    assert_int_equal(len, 9);
    p = tb__snap_dict_str(&c, 4, &len);
    assert_memory_equal(p, "Zoë", len);
    assert_null(tb__snap_dict_str(&c, 5, &len)); /* out of range: NULL, never a wild read */
    assert_null(tb__snap_dict_str(&c, UINT32_MAX, &len));

    /* Manifest order by index; lookup by name; missing names. */
    assert_int_equal(tb__snap_column_at(s, 0, &c), 0);
    assert_string_equal(c.name, "balance");
    assert_int_equal(tb__snap_column_at(s, 3, &c), 0);
    assert_string_equal(c.name, "name");
    assert_int_equal(tb__snap_column_at(s, 4, &c), TB_ERANGE);
    assert_int_equal(tb__snap_column(s, "nope", &c), TB_ENOENT);
    assert_null(c.values);
    tb__snap_close(s);
    free(dir);
}

static void empty_and_zero_rows(void **state)
{
    char *dir = tbt_join(*state, "z");
    tb__errbuf eb = {0};
    tb__snap_writer *w;
    assert_int_equal(tb__snap_writer_open(dir, 0, &w, &eb), 0);
    assert_int_equal(tb__snap_put_i64(w, "x", NULL, NULL), 0);
    assert_int_equal(tb__snap_put_dict(w, "d", NULL, NULL, NULL, 1, NULL), 0);
    assert_int_equal(tb__snap_writer_commit(w, NULL, &eb), 0);
    tb__snap *s;
    assert_int_equal(tb__snap_open(dir, &s, &eb), 0);
    assert_int_equal(tb__snap_nrows(s), 0);
    assert_null(tb__snap_meta_json(s));
    tb__snap_col c;
    assert_int_equal(tb__snap_column(s, "d", &c), 0);
    assert_int_equal(c.ndict, 1);
    assert_int_equal(tb__snap_verify(s, &eb), 0);
    tb__snap_close(s);
    free(dir);
}

/* Columns put on a fork of the writer from a second thread land in the same directory and are
 * listed after the writer's own, in their put order; an aborted fork removes only its own files. */
struct forkarg {
    tb__snap_writer *w;
    const int64_t *v;
    int rc;
};

static void *fork_put(void *arg)
{
    struct forkarg *a = arg;
    a->rc = tb__snap_put_i64(a->w, "c", a->v, NULL);
    if (!a->rc) a->rc = tb__snap_put_i64(a->w, "d", a->v + 1, NULL);
    return NULL;
}

static void fork_and_join(void **state)
{
    char *dir = tbt_join(*state, "f");
    int64_t v[5] = {1, 2, 3, 4, 5};
    tb__errbuf eb = {0};
    tb__snap_writer *w, *f, *g;
    assert_int_equal(tb__snap_writer_open(dir, 4, &w, &eb), 0);
    assert_int_equal(tb__snap_writer_fork(w, &f, &eb), 0);
    assert_int_equal(tb__snap_writer_fork(w, &g, &eb), 0);
    assert_int_equal(tb__snap_put_i64(g, "gone", v, NULL), 0);
    tb__snap_writer_abort(g); /* its file goes, w's directory stays */
    struct forkarg a = {f, v, -1};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, fork_put, &a), 0);
    assert_int_equal(tb__snap_put_i64(w, "x", v, NULL), 0);
    assert_int_equal(tb__snap_put_i64(w, "y", v + 1, NULL), 0);
    pthread_join(t, NULL);
    assert_int_equal(a.rc, 0);
    assert_int_equal(tb__snap_writer_join(w, f, &eb), 0);
    assert_int_equal(tb__snap_writer_commit(w, NULL, &eb), 0);
    tb__snap *s;
    assert_int_equal(tb__snap_open(dir, &s, &eb), 0);
    assert_int_equal(tb__snap_verify(s, &eb), 0);
    static const char *const order[] = {"x", "y", "c", "d"}; /* not by name */
    for (size_t i = 0; i < 4; i++) {
        tb__snap_col c;
        assert_int_equal(tb__snap_column_at(s, i, &c), 0);
        assert_string_equal(c.name, order[i]);
        assert_memory_equal(c.values, v + (i % 2), 4 * sizeof *v);
    }
    tb__snap_col c;
    assert_int_not_equal(tb__snap_column_at(s, 4, &c), 0);
    assert_int_not_equal(tb__snap_column(s, "gone", &c), 0);
    tb__snap_close(s);
    char *gone = tbt_join(dir, "gone.col");
    assert_int_equal(access(gone, F_OK), -1);
    free(gone);
    free(dir);
}

/* The 8 MB column is written past the page cache (4 MiB and more: one aligned block of 4 MiB, the
 * other 3.8 MB through the cache at the end), the 4 MB one through it; both read back byte for
 * byte. */
static void million_rows(void **state)
{
    const uint64_t n = 1000000;
    char *dir = tbt_join(*state, "big");
    int64_t *v = malloc(n * sizeof *v);
    uint32_t *codes = malloc(n * sizeof *codes);
    assert_true(v && codes);
    for (uint64_t i = 0; i < n; i++) {
        v[i] = i % 97 == 0 ? TB__SNAP_NULL_I64 : (int64_t)(i * 2654435761u) - (int64_t)n;
        codes[i] = (uint32_t)(i % 3);
    }
    const char *dict[3] = {NULL, "男", "女"};
    uint32_t dl[3] = {0, 3, 3};
    tb__errbuf eb = {0};
    tb__snap_writer *w;
    assert_int_equal(tb__snap_writer_open(dir, n, &w, &eb), 0);
    assert_int_equal(tb__snap_put_i64(w, "v", v, NULL), 0);
    assert_int_equal(tb__snap_put_dict(w, "sex", codes, dict, dl, 3, NULL), 0);
    assert_int_equal(tb__snap_writer_commit(w, NULL, &eb), 0);
    tb__snap *s;
    assert_int_equal(tb__snap_open(dir, &s, &eb), 0);
    assert_int_equal(tb__snap_verify(s, &eb), 0);
    tb__snap_col c, d;
    assert_int_equal(tb__snap_column(s, "v", &c), 0);
    assert_int_equal(tb__snap_column(s, "sex", &d), 0);
    assert_int_equal(c.nrows, n);
    assert_memory_equal(c.values, v, n * sizeof *v);
    size_t len;
    const uint32_t *dc = d.values;
    assert_memory_equal(tb__snap_dict_str(&d, dc[999998], &len), "女", 3); /* 999998 % 3 == 2 */
    tb__snap_close(s);
    free(v);
    free(codes);
    free(dir);
}

static void truncated_file(void **state)
{
    char *dir = make_small(*state, "t");
    char *path = tbt_join(dir, "balance.col");
    size_t len;
    char *p = slurp(path, &len);
    tb__errbuf eb = {0};
    /* Cut inside the payload, inside the header, and to nothing. */
    size_t cuts[] = {len - 1, 30, 0};
    for (size_t i = 0; i < 3; i++) {
        spew(path, p, cuts[i]);
        assert_int_equal(open_err(dir, &eb), TB_ECORRUPT);
        assert_non_null(strstr(eb.msg, "balance.col"));
        assert_non_null(strstr(eb.msg, "byte"));
    }
    free(p);
    free(path);
    free(dir);
}

static void flipped_byte_found_by_verify(void **state)
{
    char *dir = make_small(*state, "f");
    char *path = tbt_join(dir, "age.col");
    size_t len;
    char *p = slurp(path, &len);
    p[TB__SNAP_HEADER_SIZE + 5] ^= 0x10; /* a value byte: the header still checks out */
    spew(path, p, len);
    tb__errbuf eb = {0};
    tb__snap *s;
    assert_int_equal(tb__snap_open(dir, &s, &eb), 0);
    assert_int_equal(tb__snap_verify(s, &eb), TB_ECORRUPT);
    assert_non_null(strstr(eb.msg, "age.col"));
    assert_non_null(strstr(eb.msg, "checksum"));
    tb__snap_close(s);

    /* A flipped header byte is caught at open by the header checksum. */
    p[TB__SNAP_HEADER_SIZE + 5] ^= 0x10;
    p[20] ^= 1;
    spew(path, p, len);
    assert_int_equal(open_err(dir, &eb), TB_ECORRUPT);
    assert_non_null(strstr(eb.msg, "header checksum"));
    free(p);
    free(path);
    free(dir);
}

/* Rewrites manifest.json replacing `from` by `to`. */
static void edit_manifest(const char *dir, const char *from, const char *to)
{
    char *path = tbt_join(dir, "manifest.json");
    size_t len;
    char *p = slurp(path, &len);
    p[len] = '\0';
    char *at = strstr(p, from);
    assert_non_null(at);
    char *q;
    assert_true(asprintf(&q, "%.*s%s%s", (int)(at - p), p, to, at + strlen(from)) > 0);
    spew(path, q, strlen(q));
    free(q);
    free(p);
    free(path);
}

static void wrong_nrows_and_manifest_damage(void **state)
{
    tb__errbuf eb = {0};
    char *dir = make_small(*state, "n");
    edit_manifest(dir, "\"nrows\": 5", "\"nrows\": 6");
    assert_int_equal(open_err(dir, &eb), TB_ECORRUPT);
    assert_non_null(strstr(eb.msg, "nrows is 5, manifest says 6"));
    free(dir);

    dir = make_small(*state, "n2");
    edit_manifest(dir, "\"file\": \"age.col\"", "\"file\": \"../age.col\"");
    assert_int_equal(open_err(dir, &eb), TB_ECORRUPT);
    free(dir);

    dir = make_small(*state, "n3");
    edit_manifest(dir, "\"type\": \"i32\"", "\"type\": \"i64\"");
    assert_int_equal(open_err(dir, &eb), TB_ECORRUPT);
    free(dir);

    dir = make_small(*state, "n4");
    edit_manifest(dir, "\"version\": 1", "\"version\": 2");
    assert_int_equal(open_err(dir, &eb), TB_EVERSION);
    free(dir);

    dir = make_small(*state, "n5");
    edit_manifest(dir, "\"columns\"", "\"columns\": 1, \"x\"");
    assert_int_equal(open_err(dir, &eb), TB_ECORRUPT);
    free(dir);
}

static void missing_manifest_is_incomplete(void **state)
{
    char *dir = make_small(*state, "m");
    char *path = tbt_join(dir, "manifest.json");
    assert_int_equal(unlink(path), 0);
    tb__errbuf eb = {0};
    assert_int_equal(open_err(dir, &eb), TB_ENOENT);
    assert_non_null(strstr(eb.msg, "incomplete snapshot"));
    char *nodir = tbt_join(*state, "absent");
    assert_int_equal(open_err(nodir, &eb), TB_ENOENT);
    free(nodir);
    free(path);
    free(dir);
}

/* A writer that dies after writing its columns (before commit) leaves a directory that open refuses
 * and that a new writer will not reuse. */
static void crash_before_manifest(void **state)
{
    char *dir = tbt_join(*state, "crash");
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        tb__errbuf eb = {0};
        tb__snap_writer *w;
        int64_t v[3] = {1, 2, 3};
        if (tb__snap_writer_open(dir, 3, &w, &eb) || tb__snap_put_i64(w, "v", v, NULL)) _exit(2);
        _exit(0); /* the crash: no commit, no abort */
    }
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_int_equal(WEXITSTATUS(st), 0);
    char *col = tbt_join(dir, "v.col");
    assert_true(exists(col));
    tb__errbuf eb = {0};
    assert_int_equal(open_err(dir, &eb), TB_ENOENT);
    assert_non_null(strstr(eb.msg, "incomplete"));
    tb__snap_writer *w;
    assert_int_equal(tb__snap_writer_open(dir, 3, &w, &eb), TB_EEXIST);
    assert_null(w);
    free(col);
    free(dir);
}

static void abort_leaves_nothing(void **state)
{
    char *dir = tbt_join(*state, "ab");
    tb__errbuf eb = {0};
    tb__snap_writer *w;
    int64_t v[2] = {1, 2};
    assert_int_equal(tb__snap_writer_open(dir, 2, &w, &eb), 0);
    assert_int_equal(tb__snap_put_i64(w, "a", v, NULL), 0);
    assert_int_equal(tb__snap_put_i64(w, "b", v, NULL), 0);
    assert_true(exists(dir));
    tb__snap_writer_abort(w);
    assert_false(exists(dir));
    tb__snap_writer_abort(NULL);
    free(dir);
}

/* Erasure: rows blanked in every column, a string only they had gone from the dictionary (and
 * from the file's bytes), everyone else's values unchanged, the new snapshot verifies. */
static void rewrite_blank(void **state)
{
    char *src = make_small(*state, "snap-1");
    char *dst = tbt_join(*state, "snap-1-e1");
    tb__errbuf eb = {0};
    const uint32_t gone[] = {3, 2, 99}; /* 99: past nrows, ignored */
    assert_int_equal(tb__snap_rewrite_blank(src, dst, gone, 3, NULL, NULL, &eb), 0);
    tb__snap *a, *b;
    assert_int_equal(tb__snap_open(src, &a, &eb), 0);
    assert_int_equal(tb__snap_open(dst, &b, &eb), 0);
    assert_int_equal(tb__snap_verify(b, &eb), 0);
    assert_int_equal(tb__snap_nrows(b), 5);
    assert_string_equal(tb__snap_meta_json(b), tb__snap_meta_json(a));
    tb__snap_col ca, cb;
    assert_int_equal(tb__snap_column(b, "balance", &cb), 0);
    assert_int_equal(tb__snap_column(a, "balance", &ca), 0);
    assert_string_equal(cb.meta_json, ca.meta_json);
    const int64_t *ba = ca.values, *bb = cb.values;
    assert_int_equal(bb[2], TB__SNAP_NULL_I64);
    assert_int_equal(bb[3], TB__SNAP_NULL_I64);
    assert_int_equal(bb[0], ba[0]);
    assert_int_equal(bb[4], ba[4]);
    assert_int_equal(tb__snap_column(b, "age", &cb), 0);
    assert_int_equal(((const int32_t *)cb.values)[2], TB__SNAP_NULL_I32);
    assert_int_equal(((const int32_t *)cb.values)[0], 42);
    assert_int_equal(tb__snap_column(b, "level", &cb), 0);
    assert_int_equal(((const uint8_t *)cb.values)[3], TB__SNAP_NULL_U8);
    assert_int_equal(((const uint8_t *)cb.values)[4], 3);
    assert_int_equal(tb__snap_column(b, "name", &cb), 0);
    assert_int_equal(cb.ndict, 2); /* entry 0 and 张三: 李四 and 王小明 were only theirs */
    const uint32_t *codes = cb.values;
    assert_int_equal(codes[2], 0);
    assert_int_equal(codes[3], 0);
    size_t len;
    const char *s0 = tb__snap_dict_str(&cb, codes[0], &len);
    assert_int_equal(len, strlen("张三"));
    assert_memory_equal(s0, "张三", len);
    assert_int_equal(codes[4], codes[0]);
    tb__snap_close(a);
    tb__snap_close(b);
    char *col = tbt_join(dst, "name.col");
    size_t n;
    char *bytes = slurp(col, &n);
    assert_null(memmem(bytes, n, "李四", strlen("李四")));
    assert_null(memmem(bytes, n, "王小明", strlen("王小明")));
    free(bytes);
    free(col);
    /* the target must be new */
    assert_int_equal(tb__snap_rewrite_blank(src, dst, gone, 3, NULL, NULL, &eb), TB_EEXIST);
    free(src);
    free(dst);
}

static void writer_errors(void **state)
{
    tb__errbuf eb = {0};
    tb__snap_writer *w;
    char *dir = tbt_join(*state, "e");
    char *deep = tbt_join(*state, "no/such/dir");
    assert_int_equal(tb__snap_writer_open(deep, 1, &w, &eb), TB_ENOENT);
    assert_int_equal(tb__snap_writer_open(*state, 1, &w, &eb), TB_EEXIST);
    assert_int_equal(tb__snap_writer_open(dir, 2, &w, &eb), 0);
    int64_t v[2] = {1, 2};
    uint32_t codes[2] = {1, 2};
    const char *dict[2] = {NULL, "x"};
    uint32_t dl[2] = {0, 1};
    assert_int_equal(tb__snap_put_i64(w, "a/b", v, NULL), TB_EINVAL);
    assert_int_equal(tb__snap_put_i64(w, "", v, NULL), TB_EINVAL);
    assert_int_equal(tb__snap_put_i64(w, "a", v, "[1]"), TB_EINVAL);
    assert_int_equal(tb__snap_put_i64(w, "a", v, "{bad"), TB_EINVAL);
    assert_int_equal(tb__snap_put_i64(w, "a", NULL, NULL), TB_EINVAL);
    assert_int_equal(tb__snap_put_dict(w, "d", codes, dict, dl, 2, NULL), TB_EINVAL);
    assert_non_null(strstr(tb__snap_writer_errmsg(w), "code 2"));
    assert_int_equal(tb__snap_put_dict(w, "d", codes, dict, dl, 0, NULL), TB_EINVAL);
    assert_int_equal(tb__snap_put_i64(w, "a", v, NULL), 0);
    assert_int_equal(tb__snap_put_i64(w, "a", v, NULL), TB_EINVAL); /* duplicate */
    assert_int_equal(tb__snap_writer_commit(w, "not json", &eb), TB_EINVAL);
    assert_false(exists(dir)); /* a failed commit removes the directory */
    free(deep);
    free(dir);
}

/* The parser on memory: every structural damage is TB_ECORRUPT with the byte, never a crash. */
static void parse_safe_on_memory(void **state)
{
    char *dir = make_small(*state, "p");
    char *path = tbt_join(dir, "name.col");
    size_t len;
    uint64_t *al = NULL;
    char *raw = slurp(path, &len);
    al = malloc(len + 8); /* 8-byte aligned copy, as a mapping is */
    memcpy(al, raw, len);
    tb__snap_col c;
    uint32_t crc;
    tb__errbuf eb = {0};
    assert_int_equal(tb__snap_col_parse_safe(al, len, "name.col", &c, &crc, &eb), 0);
    assert_int_equal(tb__snap_col_check_safe(al, len, "name.col", &c, crc, &eb), 0);
    /* A dictionary offset beyond the bytes: caught by the structure check at parse time. */
    unsigned char *b = (unsigned char *)al;
    size_t off_at = TB__SNAP_HEADER_SIZE + 24; /* 5 codes = 20 bytes, padded to 24 */
    uint64_t big = 1000;
    memcpy(b + off_at + 3 * 8, &big, 8);
    assert_int_equal(tb__snap_col_parse_safe(al, len, "name.col", &c, &crc, &eb), TB_ECORRUPT);
    assert_non_null(strstr(eb.msg, "dictionary offset 3"));
    memcpy(b, raw, len);
    /* A code >= ndict with a matching checksum: only the code check can see it. */
    uint32_t bad = 9;
    memcpy(b + TB__SNAP_HEADER_SIZE + 4, &bad, 4);
    assert_int_equal(tb__snap_col_parse_safe(al, len, "name.col", &c, &crc, &eb), 0);
    crc = tb__crc32c(0, b + TB__SNAP_HEADER_SIZE, len - TB__SNAP_HEADER_SIZE);
    assert_int_equal(tb__snap_col_check_safe(al, len, "name.col", &c, crc, &eb), TB_ECORRUPT);
    assert_non_null(strstr(eb.msg, "row 1 has code 9"));
    /* Bad magic; short buffers of every length. */
    memcpy(b, raw, len);
    b[0] = 'X';
    assert_int_equal(tb__snap_col_parse_safe(al, len, "name.col", &c, &crc, &eb), TB_ECORRUPT);
    memcpy(b, raw, len);
    for (size_t n = 0; n < len; n++)
        assert_int_equal(tb__snap_col_parse_safe(al, n, "name.col", &c, &crc, &eb), TB_ECORRUPT);
    free(al);
    free(raw);
    free(path);
    free(dir);
}

/* On a writer with a key, C2 columns are sealed and C1 ones stay clear; they open with the key
 * only, read back the same values (a column bigger than a sealed chunk included), fail on a
 * flipped byte, move to another key in place (the manifest untouched), and an erasure rewrite
 * seals what it writes. */
static void sealed_c2_columns(void **state)
{
    char *dir = tbt_join(*state, "sealed"), *dst = tbt_join(*state, "sealed-e1");
    char *keys = tbt_join(*state, "keys");
    tb__errbuf eb = {0};
    uint32_t k1, k2;
    tb__keyring *ring = tbt_key_file(keys, &k1);
    enum { N = 1200000 }; /* 9.6 MB of values: three sealed chunks */
    int64_t *bal = malloc(N * sizeof *bal);
    uint8_t *lvl = malloc(N);
    for (uint32_t i = 0; i < N; i++) {
        bal[i] = (int64_t)i * 7919 - 5;
        lvl[i] = (uint8_t)(i % 5);
    }
    tb__snap_writer *w;
    assert_int_equal(tb__snap_writer_open(dir, N, &w, &eb), 0);
    tb__snap_writer_seal(w, tb__keyring_get(ring, k1));
    assert_int_equal(tb__snap_put_i64(w, "bal", bal, "{\"pi_class\":\"C2\"}"), 0);
    assert_int_equal(tb__snap_put_u8(w, "lvl", lvl, "{\"pi_class\":\"C1\"}"), 0);
    assert_int_equal(tb__snap_writer_commit(w, NULL, &eb), 0);
    char *bpath = tbt_join(dir, "bal.col"), *lpath = tbt_join(dir, "lvl.col");
    size_t n;
    char *raw = slurp(bpath, &n);
    assert_memory_equal(raw, "TBS1\x01\0\0\0", 8);
    free(raw);
    raw = slurp(lpath, &n);
    assert_memory_equal(raw, "TBCOL1", 6);
    free(raw);

    tb__snap *s;
    assert_int_equal(tb__snap_open(dir, &s, &eb), TB_ENOENT); /* no key */
    assert_non_null(strstr(eb.msg, "key 1"));
    assert_int_equal(tb__snap_open_keys(dir, ring, &s, &eb), 0);
    assert_int_equal(tb__snap_verify(s, &eb), 0);
    tb__snap_col c;
    assert_int_equal(tb__snap_column(s, "bal", &c), 0);
    assert_int_equal(c.nrows, N);
    assert_memory_equal(c.values, bal, N * sizeof *bal);
    assert_int_equal((uintptr_t)c.values % 8, 0);
    tb__snap_close(s);

    /* a flipped byte in the sealed file: refused at open */
    raw = slurp(bpath, &n);
    raw[n / 2] ^= 1;
    spew(bpath, raw, n);
    raw[n / 2] ^= 1;
    assert_int_equal(tb__snap_open_keys(dir, ring, &s, &eb), TB_ECORRUPT);
    assert_non_null(strstr(eb.msg, "bal.col"));
    spew(bpath, raw, n);
    free(raw);

    /* to key 2 in place: only the C2 file changes, the manifest does not */
    char *man = tbt_join(dir, "manifest.json");
    size_t mlen, mlen2;
    char *m1 = slurp(man, &mlen);
    assert_int_equal(tb__keyring_add(ring, &k2, &eb), 0);
    uint64_t files = 0;
    assert_int_equal(tb__snap_c2_reseal(dir, ring, tb__keyring_get(ring, k2), &files, &eb), 0);
    assert_int_equal(files, 1);
    assert_int_equal(tb__snap_c2_reseal(dir, ring, tb__keyring_get(ring, k2), &files, &eb), 0);
    assert_int_equal(files, 1); /* already under key 2: nothing to do */
    char *m2 = slurp(man, &mlen2);
    assert_int_equal(mlen, mlen2);
    assert_memory_equal(m1, m2, mlen);
    raw = slurp(bpath, &n);
    assert_memory_equal(raw, "TBS1\x02\0\0\0", 8);
    free(raw);
    assert_int_equal(tb__keyring_retire(ring, k1, &eb), 0);
    assert_int_equal(tb__snap_open_keys(dir, ring, &s, &eb), 0);
    assert_int_equal(tb__snap_verify(s, &eb), 0);
    tb__snap_close(s);

    /* an erasure rewrite seals what it writes */
    const uint32_t gone[] = {7};
    assert_int_equal(
        tb__snap_rewrite_blank(dir, dst, gone, 1, ring, tb__keyring_get(ring, k2), &eb), 0);
    assert_int_equal(tb__snap_open_keys(dst, ring, &s, &eb), 0);
    assert_int_equal(tb__snap_column(s, "bal", &c), 0);
    assert_int_equal(((const int64_t *)c.values)[7], TB__SNAP_NULL_I64);
    assert_int_equal(((const int64_t *)c.values)[8], bal[8]);
    tb__snap_close(s);
    char *dpath = tbt_join(dst, "bal.col");
    raw = slurp(dpath, &n);
    assert_memory_equal(raw, "TBS1\x02\0\0\0", 8);
    free(raw);
    free(dpath);
    free(m1);
    free(m2);
    free(man);
    free(bpath);
    free(lpath);
    free(bal);
    free(lvl);
    tb__keyring_free(ring);
    free(keys);
    free(dir);
    free(dst);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(crc_known_values),
        cmocka_unit_test_setup_teardown(round_trip_all_types, tbt_setup_tmpdir,
                                        tbt_teardown_tmpdir),
        cmocka_unit_test_setup_teardown(empty_and_zero_rows, tbt_setup_tmpdir, tbt_teardown_tmpdir),
        cmocka_unit_test_setup_teardown(fork_and_join, tbt_setup_tmpdir, tbt_teardown_tmpdir),
        cmocka_unit_test_setup_teardown(million_rows, tbt_setup_tmpdir, tbt_teardown_tmpdir),
        cmocka_unit_test_setup_teardown(truncated_file, tbt_setup_tmpdir, tbt_teardown_tmpdir),
        cmocka_unit_test_setup_teardown(flipped_byte_found_by_verify, tbt_setup_tmpdir,
                                        tbt_teardown_tmpdir),
        cmocka_unit_test_setup_teardown(wrong_nrows_and_manifest_damage, tbt_setup_tmpdir,
                                        tbt_teardown_tmpdir),
        cmocka_unit_test_setup_teardown(missing_manifest_is_incomplete, tbt_setup_tmpdir,
                                        tbt_teardown_tmpdir),
        cmocka_unit_test_setup_teardown(crash_before_manifest, tbt_setup_tmpdir,
                                        tbt_teardown_tmpdir),
        cmocka_unit_test_setup_teardown(abort_leaves_nothing, tbt_setup_tmpdir,
                                        tbt_teardown_tmpdir),
        cmocka_unit_test_setup_teardown(writer_errors, tbt_setup_tmpdir, tbt_teardown_tmpdir),
        cmocka_unit_test_setup_teardown(rewrite_blank, tbt_setup_tmpdir, tbt_teardown_tmpdir),
        cmocka_unit_test_setup_teardown(sealed_c2_columns, tbt_setup_tmpdir, tbt_teardown_tmpdir),
        cmocka_unit_test_setup_teardown(parse_safe_on_memory, tbt_setup_tmpdir,
                                        tbt_teardown_tmpdir),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
