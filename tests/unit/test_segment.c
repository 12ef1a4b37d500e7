/* test_segment.c — tests src/pipeline/segment.c: a segment written with every escaped byte, NULLs
 * and empty fields reads back field by field; abort leaves nothing; corrupt flag lines and rows
 * give TB_ECORRUPT naming the path; a big segment crosses the writer's flush size and the
 * reader's chunk size. */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "helpers.h"
#include "common/buf.h"
#include "pipeline/segment.h"
#include "store/file.h"
#include "tagbase.h"

static const tb__seg_flag FLAG = {"deposit", "mart", "core", "20261121", "deposits.txt", 7};

static tb__field fld(const char *s, size_t n)
{
    tb__field f = {s, n, 0};
    return f;
}

static tb__field null_fld(void)
{
    tb__field f = {"", 0, 1};
    return f;
}

/* Number of entries in dir other than . and .. */
static int count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
    closedir(d);
    return n;
}

static void write_file(const char *path, const char *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

/* The whole file, NUL-terminated; caller frees. */
static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    long n = ftell(f);
    assert_true(n >= 0);
    rewind(f);
    char *b = malloc((size_t)n + 1);
    assert_non_null(b);
    assert_int_equal(fread(b, 1, (size_t)n, f), (size_t)n);
    b[n] = '\0';
    fclose(f);
    *len = (size_t)n;
    return b;
}

static void assert_field(const tb__field *got, const tb__field *want)
{
    assert_int_equal(got->is_null, want->is_null);
    if (want->is_null) return;
    assert_int_equal(got->len, want->len);
    assert_non_null(got->ptr);
    if (want->len) assert_memory_equal(got->ptr, want->ptr, want->len);
}

typedef struct row {
    uint64_t line;
    uint32_t gid;
    tb__field f[8];
    size_t n;
} row;

static void roundtrip_escapes(void **state)
{
    char *path = tbt_join(*state, "a.seg");
    static const char all[] = "a\\b\x01"
                              "c\nd\re\\N";
    static const char lit_null[] = "\\N";
    static const char trailing_bs[] = "x\\";
    static const char only_esc[] = "\\\x01\n\r";
    row rows[] = {
        {2, 0, {fld("plain", 5), null_fld(), fld("", 0), fld(all, sizeof all - 1)}, 4},
        {3, TB__SEG_NO_GID, {fld(lit_null, 2), fld("N", 1), fld("\\", 1), null_fld()}, 4},
        {5, 4294967294u, {fld(trailing_bs, 2), fld(only_esc, 4), fld("", 0)}, 3},
        {18446744073709551615ull, 17, {null_fld()}, 1},
        {9, 1, {fld("", 0)}, 1},
        {10, 2, {{0}}, 0},
        {11, 3, {null_fld(), null_fld(), fld("\\\\NN", 4)}, 3},
        {12, 4, {fld("x", 1), fld("end\r", 4)}, 2}, /* a raw \r here would read as a CRLF */
    };
    size_t nrows = sizeof rows / sizeof rows[0];

    tb__errbuf eb = {0};
    tb__seg_writer *w = NULL;
    assert_int_equal(tb__seg_writer_open(path, &FLAG, NULL, &w, &eb), 0);
    assert_non_null(w);
    for (size_t i = 0; i < nrows; i++)
        assert_int_equal(tb__seg_write(w, rows[i].line, rows[i].gid, rows[i].f, rows[i].n, &eb), 0);
    uint64_t bytes = tb__seg_bytes(w);
    assert_int_equal(tb__seg_writer_commit(w, &eb), 0);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal((uint64_t)st.st_size, bytes);
    assert_int_equal(count_entries(*state), 1); /* no temp file left */

    tb__seg_reader *r = NULL;
    tb__seg_flag flag;
    assert_int_equal(tb__seg_reader_open(path, NULL, &r, &flag, &eb), 0);
    assert_string_equal(flag.business_type, "deposit");
    assert_string_equal(flag.kind, "mart");
    assert_string_equal(flag.source_system, "core");
    assert_string_equal(flag.batch_date, "20261121");
    assert_string_equal(flag.file, "deposits.txt");
    assert_int_equal(flag.load_id, 7);
    for (size_t i = 0; i < nrows; i++) {
        uint64_t line = 0;
        uint32_t gid = 0;
        const tb__field *f = NULL;
        size_t n = 99;
        assert_int_equal(tb__seg_read(r, &line, &gid, &f, &n, &eb), 1);
        assert_true(line == rows[i].line);
        assert_int_equal(gid, rows[i].gid);
        assert_int_equal(n, rows[i].n);
        for (size_t k = 0; k < n; k++)
            assert_field(&f[k], &rows[i].f[k]);
    }
    uint64_t line;
    uint32_t gid;
    const tb__field *f;
    size_t n;
    assert_int_equal(tb__seg_read(r, &line, &gid, &f, &n, &eb), 0);
    assert_int_equal(tb__seg_read(r, &line, &gid, &f, &n, &eb), 0);
    tb__seg_reader_close(r);
    free(path);
}

static void abort_leaves_nothing(void **state)
{
    char *path = tbt_join(*state, "b.seg");
    tb__errbuf eb = {0};
    tb__seg_writer *w = NULL;
    assert_int_equal(tb__seg_writer_open(path, &FLAG, NULL, &w, &eb), 0);
    tb__field f = fld("x", 1);
    assert_int_equal(tb__seg_write(w, 1, 1, &f, 1, &eb), 0);
    tb__seg_writer_abort(w);
    assert_int_equal(access(path, F_OK), -1);
    assert_int_equal(count_entries(*state), 0);
    tb__seg_writer_abort(NULL);

    /* an aborted rewrite leaves the committed segment as it was */
    assert_int_equal(tb__seg_writer_open(path, &FLAG, NULL, &w, &eb), 0);
    assert_int_equal(tb__seg_write(w, 1, 1, &f, 1, &eb), 0);
    assert_int_equal(tb__seg_writer_commit(w, &eb), 0);
    struct stat before, after;
    assert_int_equal(stat(path, &before), 0);
    assert_int_equal(tb__seg_writer_open(path, &FLAG, NULL, &w, &eb), 0);
    for (int i = 0; i < 100; i++)
        assert_int_equal(tb__seg_write(w, 2, 2, &f, 1, &eb), 0);
    tb__seg_writer_abort(w);
    assert_int_equal(stat(path, &after), 0);
    assert_int_equal(before.st_size, after.st_size);
    assert_int_equal(count_entries(*state), 1);
    free(path);
}

/* Opening `data` as a segment fails with TB_ECORRUPT naming the path. */
static void expect_bad_open(const char *dir, const char *data, size_t len)
{
    char *path = tbt_join(dir, "bad.seg");
    write_file(path, data, len);
    tb__errbuf eb = {0};
    tb__seg_reader *r = (tb__seg_reader *)1;
    tb__seg_flag flag;
    assert_int_equal(tb__seg_reader_open(path, NULL, &r, &flag, &eb), TB_ECORRUPT);
    assert_null(r);
    assert_non_null(strstr(eb.msg, path));
    free(path);
}

static void corrupt_flag_line(void **state)
{
    const char *d = *state;
    static const char *const bad[] = {
        "",
        "\n",
        "hello\n1\x01"
        "2\n",
        "#tagbase-segment 2\tbusiness_type=a\tkind=b\tsource=c\tbatch=d\tload=1\tfile=f\n",
        "#tagbase-segment 1\tbusiness_type=a\tkind=b\tsource=c\tbatch=d\tload=0\tfile=f\n",
        "#tagbase-segment 1\tbusiness_type=a\tkind=b\tsource=c\tbatch=d\tload=x\tfile=f\n",
        "#tagbase-segment 1\tbusiness_type=a\tkind=b\tsource=c\tbatch=d\tload=1\n",
        "#tagbase-segment 1\tbusiness_type=a\tkind=b\tsource\tbatch=d\tload=1\tfile=f\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        expect_bad_open(d, bad[i], strlen(bad[i]));
    /* The good one parses, so the cases above fail for the reason they test. */
    char *path = tbt_join(d, "good.seg");
    static const char good[] =
        "#tagbase-segment 1\tbusiness_type=a\tkind=b\tsource=c\tbatch=d\tload=1\tfile=f\n";
    write_file(path, good, sizeof good - 1);
    tb__errbuf eb = {0};
    tb__seg_reader *r;
    tb__seg_flag flag;
    assert_int_equal(tb__seg_reader_open(path, NULL, &r, &flag, &eb), 0);
    tb__seg_reader_close(r);
    /* a missing file is not corruption */
    char *missing = tbt_join(d, "missing.seg");
    assert_int_equal(tb__seg_reader_open(missing, NULL, &r, &flag, &eb), TB_ENOENT);
    assert_null(r);
    free(missing);
    free(path);
}

/* The first row of a segment whose rows are `rows` is TB_ECORRUPT naming the path and line 2. */
static void expect_bad_row(const char *dir, const char *rows)
{
    char *path = tbt_join(dir, "row.seg");
    tb__buf b = {0};
    assert_int_equal(
        tb__buf_puts(&b, "#tagbase-segment 1\tbusiness_type=a\tkind=b\tsource=c\tbatch=d\tload=1"
                         "\tfile=f\n"),
        0);
    assert_int_equal(tb__buf_append(&b, rows, strlen(rows)), 0);
    write_file(path, b.data, b.len);
    tb__buf_release(&b);
    tb__errbuf eb = {0};
    tb__seg_reader *r;
    tb__seg_flag flag;
    assert_int_equal(tb__seg_reader_open(path, NULL, &r, &flag, &eb), 0);
    uint64_t line;
    uint32_t gid;
    const tb__field *f;
    size_t n;
    assert_int_equal(tb__seg_read(r, &line, &gid, &f, &n, &eb), TB_ECORRUPT);
    assert_non_null(strstr(eb.msg, path));
    assert_non_null(strstr(eb.msg, "line 2"));
    tb__seg_reader_close(r);
    free(path);
}

static void corrupt_rows(void **state)
{
    const char *d = *state;
    static const char *const bad[] = {
        "abc\x01"
        "1\x01x\n", /* non-numeric line */
        "12a\x01"
        "1\n", /* trailing junk in the line */
        "\x01"
        "1\n", /* empty line number */
        "\\N\x01"
        "1\n", /* NULL line number */
        "-1\x01"
        "1\n",       /* negative line number */
        "1\x01-1\n", /* negative gid */
        "1\x01"
        "4294967295\n", /* TB__SEG_NO_GID written as a number */
        "1\x01"
        "99999999999999999999\n", /* far out of range */
        "1\x01"
        "12345678901234567890123\n", /* too long */
        "1\x01\x01x\n",              /* empty gid */
        "1\x01"
        "2x\n", /* trailing junk in the gid */
        "7\n",  /* only one field */
        "\n",   /* blank line */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        expect_bad_row(d, bad[i]);
    }
}

/* Enough rows to cross the writer's 1 MiB flush several times and the reader's 256 KiB chunks. */
static void big_segment(void **state)
{
    char *path = tbt_join(*state, "big.seg");
    enum { N = 100000 };
    tb__errbuf eb = {0};
    tb__seg_writer *w = NULL;
    assert_int_equal(tb__seg_writer_open(path, &FLAG, NULL, &w, &eb), 0);
    char a[64], b[64];
    for (uint32_t i = 0; i < N; i++) {
        int na = snprintf(a, sizeof a, "row %u\\with\nescapes\r\x01", i);
        int nb = snprintf(b, sizeof b, "%0*u", (int)(i % 40), i);
        tb__field f[3] = {fld(a, (size_t)na), i % 7 ? fld(b, (size_t)nb) : null_fld(), fld("", 0)};
        assert_int_equal(tb__seg_write(w, (uint64_t)i + 2, i % 5 ? i : TB__SEG_NO_GID, f, 3, &eb),
                         0);
    }
    uint64_t bytes = tb__seg_bytes(w);
    assert_true(bytes > 4u << 20);
    assert_int_equal(tb__seg_writer_commit(w, &eb), 0);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal((uint64_t)st.st_size, bytes);

    tb__seg_reader *r;
    tb__seg_flag flag;
    assert_int_equal(tb__seg_reader_open(path, NULL, &r, &flag, &eb), 0);
    uint64_t line;
    uint32_t gid;
    const tb__field *f;
    size_t n;
    uint32_t i = 0;
    int rc;
    while ((rc = tb__seg_read(r, &line, &gid, &f, &n, &eb)) == 1) {
        int na = snprintf(a, sizeof a, "row %u\\with\nescapes\r\x01", i);
        int nb = snprintf(b, sizeof b, "%0*u", (int)(i % 40), i);
        assert_true(line == (uint64_t)i + 2);
        assert_int_equal(gid, i % 5 ? i : TB__SEG_NO_GID);
        assert_int_equal(n, 3);
        tb__field want0 = fld(a, (size_t)na);
        tb__field want1 = i % 7 ? fld(b, (size_t)nb) : null_fld();
        tb__field want2 = fld("", 0);
        assert_field(&f[0], &want0);
        assert_field(&f[1], &want1);
        assert_field(&f[2], &want2);
        i++;
    }
    assert_int_equal(rc, 0);
    assert_int_equal(i, N);
    tb__seg_reader_close(r);
    free(path);
}

/* A row as long as the reader's default record limit, all backslashes, doubles when escaped:
 * what the writer accepts the reader must read back. */
static void long_row_reads_back(void **state)
{
    char *path = tbt_join(*state, "long.seg");
    size_t len = (size_t)1 << 20;
    char *big = malloc(len);
    assert_non_null(big);
    memset(big, '\\', len);
    tb__errbuf eb = {0};
    tb__seg_writer *w = NULL;
    assert_int_equal(tb__seg_writer_open(path, &FLAG, NULL, &w, &eb), 0);
    tb__field f = fld(big, len);
    assert_int_equal(tb__seg_write(w, 2, 1, &f, 1, &eb), 0);
    assert_int_equal(tb__seg_writer_commit(w, &eb), 0);
    tb__seg_reader *r;
    tb__seg_flag flag;
    assert_int_equal(tb__seg_reader_open(path, NULL, &r, &flag, &eb), 0);
    uint64_t line;
    uint32_t gid;
    const tb__field *got;
    size_t n;
    assert_int_equal(tb__seg_read(r, &line, &gid, &got, &n, &eb), 1);
    assert_int_equal(n, 1);
    assert_field(&got[0], &f);
    tb__seg_reader_close(r);
    free(big);
    free(path);
}

/* A flag whose file name makes the flag line longer than 1 KiB still reads back. */
static void long_flag_reads_back(void **state)
{
    char *path = tbt_join(*state, "flag.seg");
    char name[1500];
    memset(name, 'n', sizeof name - 1);
    name[sizeof name - 1] = '\0';
    tb__seg_flag fl = FLAG;
    fl.file = name;
    tb__errbuf eb = {0};
    tb__seg_writer *w = NULL;
    assert_int_equal(tb__seg_writer_open(path, &fl, NULL, &w, &eb), 0);
    assert_int_equal(tb__seg_writer_commit(w, &eb), 0);
    tb__seg_reader *r;
    tb__seg_flag flag;
    assert_int_equal(tb__seg_reader_open(path, NULL, &r, &flag, &eb), 0);
    assert_string_equal(flag.file, name);
    tb__seg_reader_close(r);
    free(path);
}

/* Rows written from raw Hive bytes (the fast path) and field by field give the same file, for
 * rows the fast path copies and rows it hands back (a backslash that is not a NULL, a \r), short
 * and long. */
static void raw_equals_fields(void **state)
{
    static const char hive[] = "a\x01\\N\x01"
                               "b\n"
                               "\\N\x01x\\y\x01"
                               "c\n"
                               "\\Nz\x01"
                               "q\rr\x01\\N\n"
                               "\x01\x01\n"
                               "0123456789abcdefghij\x01klmnopqrstuvwxyz0123456789\n"
                               "0123456789abcdefghij\x01klmnop\\qrstuvwxyz\n"
                               "0123456789abcdefghij\x01klmnopqrstuvwx\ryz\n"
                               "0123456789abcdefghij\x01\\N\x01klmnopqrstuvwxyz\n";
    char *pa = tbt_join(*state, "raw.seg"), *pb = tbt_join(*state, "fields.seg");
    tb__seg_writer *wa, *wb;
    tb__errbuf eb = {0};
    assert_int_equal(tb__seg_writer_open(pa, &FLAG, NULL, &wa, &eb), 0);
    assert_int_equal(tb__seg_writer_open(pb, &FLAG, NULL, &wb, &eb), 0);
    tb__reader *r;
    assert_int_equal(tb__reader_open_mem(hive, sizeof hive - 1, "t", NULL, &r, NULL, 0), 0);
    tb__record rec;
    uint32_t gid = 0;
    while (tb__reader_next(r, &rec) == 1) {
        assert_int_equal(tb__seg_write_raw(wa, rec.line, gid, &rec, &eb), 0);
        assert_int_equal(tb__seg_write(wb, rec.line, gid, rec.fields, rec.nfields, &eb), 0);
        gid = gid ? TB__SEG_NO_GID : 5;
    }
    tb__reader_close(r);
    assert_int_equal(tb__seg_writer_commit(wa, &eb), 0);
    assert_int_equal(tb__seg_writer_commit(wb, &eb), 0);
    char *a = NULL, *b = NULL;
    size_t la, lb;
    assert_int_equal(tb__file_read_all(pa, 1 << 20, &a, &la, &eb), 0);
    assert_int_equal(tb__file_read_all(pb, 1 << 20, &b, &lb, &eb), 0);
    assert_int_equal(la, lb);
    assert_memory_equal(a, b, la);
    free(a);
    free(b);
    free(pa);
    free(pb);
}

/* A sealed segment (a key given) reads back row for row like a clear one, holds none of its
 * values in clear, needs its key, and refuses every change to its bytes: a flipped byte, a cut
 * last chunk, bytes appended, another flag line. */
static void sealed_segment(void **state)
{
    char *path = tbt_join(*state, "sealed.seg"), *keys = tbt_join(*state, "keys");
    tb__errbuf eb = {0};
    uint32_t id;
    tb__keyring *ring = tbt_key_file(keys, &id);
    tb__keyring *other;
    assert_int_equal(tb__keyring_new(keys, &other, &eb), 0);
    const tb__c2key *key = tb__keyring_get(ring, id);
    enum { N = 60000 }; /* several chunks */
    tb__seg_writer *w = NULL;
    assert_int_equal(tb__seg_writer_open(path, &FLAG, key, &w, &eb), 0);
    char a[64];
    for (uint32_t i = 0; i < N; i++) {
        int na = snprintf(a, sizeof a, "13800%06u\\x\n\x01", i);
        tb__field f[2] = {fld(a, (size_t)na), i % 3 ? fld("", 0) : null_fld()};
        assert_int_equal(tb__seg_write(w, (uint64_t)i + 2, i, f, 2, &eb), 0);
    }
    uint64_t bytes = tb__seg_bytes(w);
    assert_int_equal(tb__seg_writer_commit(w, &eb), 0);
    size_t len;
    char *raw = read_file(path, &len);
    assert_int_equal(len, bytes);
    assert_null(memmem(raw, len, "13800", 5)); /* the values are sealed */
    assert_non_null(strstr(raw, "#tagbase-segment 2\tbusiness_type=deposit")); /* flag in clear */

    tb__seg_reader *r;
    tb__seg_flag flag;
    assert_int_equal(tb__seg_reader_open(path, NULL, &r, &flag, &eb), TB_ENOENT);
    assert_non_null(strstr(eb.msg, "key"));
    assert_int_equal(tb__seg_reader_open(path, other, &r, &flag, &eb), TB_ENOENT);
    assert_int_equal(tb__seg_reader_open(path, ring, &r, &flag, &eb), 0);
    assert_string_equal(flag.file, "deposits.txt");
    uint64_t line;
    uint32_t gid, i = 0;
    const tb__field *f;
    size_t n;
    int rc;
    while ((rc = tb__seg_read(r, &line, &gid, &f, &n, &eb)) == 1) {
        int na = snprintf(a, sizeof a, "13800%06u\\x\n\x01", i);
        tb__field want0 = fld(a, (size_t)na), want1 = i % 3 ? fld("", 0) : null_fld();
        assert_true(line == (uint64_t)i + 2);
        assert_int_equal(gid, i);
        assert_int_equal(n, 2);
        assert_field(&f[0], &want0);
        assert_field(&f[1], &want1);
        i++;
    }
    assert_int_equal(rc, 0);
    assert_int_equal(i, N);
    tb__seg_reader_close(r);

    /* Each damaged copy fails with TB_ECORRUPT before its end, naming the file. */
    char *bad = tbt_join(*state, "bad.seg");
    char *flagged = malloc(len); /* the sealed rows hold NUL bytes: a copy, not strdup */
    assert_non_null(flagged);
    memcpy(flagged, raw, len);
    char *batch = memmem(flagged, len, "20261121", 8);
    assert_non_null(batch);
    memcpy(batch, "20261122", 8);
    const struct {
        const char *what;
        const char *data;
        size_t len;
    } cases[] = {
        {"flipped", NULL, len},
        {"cut", raw, len - 30},
        {"appended", NULL, len + 1},
        {"other flag", flagged, len},
    };
    char *copy = malloc(len + 1);
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        memcpy(copy, raw, len);
        if (c == 0) copy[len / 2] ^= 0x20;
        if (c == 2) copy[len] = '\n';
        write_file(bad, cases[c].data ? cases[c].data : copy, cases[c].len);
        rc = tb__seg_reader_open(bad, ring, &r, &flag, &eb);
        while (rc == 0 && (rc = tb__seg_read(r, &line, &gid, &f, &n, &eb)) == 1)
            rc = 0;
        if (rc != TB_ECORRUPT) fail_msg("%s: rc %d", cases[c].what, rc);
        assert_non_null(strstr(eb.msg, "bad.seg"));
        tb__seg_reader_close(r); /* NULL when the open failed */
    }
    free(copy);
    free(flagged);

    /* A sealed segment without rows is a flag line, a header and one empty final chunk. */
    assert_int_equal(tb__seg_writer_open(bad, &FLAG, key, &w, &eb), 0);
    bytes = tb__seg_bytes(w);
    assert_int_equal(tb__seg_writer_commit(w, &eb), 0);
    free(raw);
    raw = read_file(bad, &len);
    assert_int_equal(len, bytes);
    assert_int_equal(tb__seg_reader_open(bad, ring, &r, &flag, &eb), 0);
    assert_int_equal(tb__seg_reader_key(r), id);
    assert_int_equal(tb__seg_read(r, &line, &gid, &f, &n, &eb), 0);
    tb__seg_reader_close(r);
    free(bad);
    free(raw);
    tb__keyring_free(other);
    tb__keyring_free(ring);
    free(keys);
    free(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(roundtrip_escapes, tbt_setup_tmpdir, tbt_teardown_tmpdir),
        cmocka_unit_test_setup_teardown(raw_equals_fields, tbt_setup_tmpdir, tbt_teardown_tmpdir),
        cmocka_unit_test_setup_teardown(abort_leaves_nothing, tbt_setup_tmpdir,
                                        tbt_teardown_tmpdir),
        cmocka_unit_test_setup_teardown(corrupt_flag_line, tbt_setup_tmpdir, tbt_teardown_tmpdir),
        cmocka_unit_test_setup_teardown(corrupt_rows, tbt_setup_tmpdir, tbt_teardown_tmpdir),
        cmocka_unit_test_setup_teardown(big_segment, tbt_setup_tmpdir, tbt_teardown_tmpdir),
        cmocka_unit_test_setup_teardown(long_row_reads_back, tbt_setup_tmpdir, tbt_teardown_tmpdir),
        cmocka_unit_test_setup_teardown(long_flag_reads_back, tbt_setup_tmpdir,
                                        tbt_teardown_tmpdir),
        cmocka_unit_test_setup_teardown(sealed_segment, tbt_setup_tmpdir, tbt_teardown_tmpdir),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
