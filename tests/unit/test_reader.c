/* test_reader.c — tests src/pipeline/reader.c: every format, BOM, header, NULL conventions, CRLF,
 * records across chunk boundaries, limits, each error with its line and offset, and the golden
 * and corrupt inputs under tests/data/reader/, and GB18030 sources converted on read. */
#include <iconv.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "common/buf.h"
#include "common/utf8.h"
#include "pipeline/reader.h"
#include "tagbase.h"

#define DATA_DIR "tests/data/reader/"

/* Appends one field, escaping bytes that would make the dump ambiguous. */
static void dump_field(tb__buf *out, const tb__field *f)
{
    if (f->is_null) {
        tb__buf_puts(out, "<null>");
        return;
    }
    for (size_t i = 0; i < f->len; i++) {
        unsigned char c = (unsigned char)f->ptr[i];
        if (c < 0x20 || c == '\\' || c == '|' || c >= 0x7f)
            tb__buf_printf(out, "\\x%02X", c);
        else
            tb__buf_putc(out, (char)c);
    }
}

static void dump_record(tb__buf *out, const tb__record *rec)
{
    tb__buf_printf(out, "%llu@%llu:", (unsigned long long)rec->line,
                   (unsigned long long)rec->offset);
    for (size_t i = 0; i < rec->nfields; i++) {
        if (i) tb__buf_putc(out, '|');
        dump_field(out, &rec->fields[i]);
    }
    tb__buf_putc(out, '\n');
}

/* Reads a whole reader into a text dump: the header (if any), one line per record, and the end:
 * "EOF" or "ERR <code> <detail>". Returns the malloc'd dump. */
static char *dump_reader(tb__reader *r, unsigned flags)
{
    tb__buf out = TB__BUF_INIT;
    tb__record rec;
    int rc;
    if (flags & TB__READER_HEADER) {
        rc = tb__reader_header(r, &rec);
        if (rc == 1) {
            tb__buf_puts(&out, "H ");
            dump_record(&out, &rec);
        } else if (rc == 0) {
            tb__buf_puts(&out, "H none\n");
        }
    }
    while ((rc = tb__reader_next(r, &rec)) == 1)
        dump_record(&out, &rec);
    if (rc == 0)
        tb__buf_puts(&out, "EOF\n");
    else
        tb__buf_printf(&out, "ERR %d %s\n", rc, tb__reader_errmsg(r));
    tb__buf_puts(&out, ""); /* a dump of nothing is still a string */
    return out.data;
}

static char *read_mem(const char *data, size_t len, const tb__reader_opts *o)
{
    tb__reader *r = NULL;
    char eb[256];
    int rc = tb__reader_open_mem(data, len, "t.dat", o, &r, eb, sizeof eb);
    assert_int_equal(rc, 0);
    char *d = dump_reader(r, o ? o->flags : 0);
    tb__reader_close(r);
    return d;
}

/* Reads `data` with the default chunk and with every chunk size from 1 to 17 and checks that all
 * dumps equal `expected`: chunk boundaries at every byte position must not change anything. */
static void check_all_chunks(const char *data, size_t len, const tb__reader_opts *opts,
                             const char *expected)
{
    tb__reader_opts o = *opts;
    for (size_t chunk = 0; chunk <= 17; chunk++) {
        o.chunk_size = chunk;
        char *got = read_mem(data, len, &o);
        if (strcmp(got, expected) != 0) {
            print_error("chunk %zu:\n--- got\n%s--- expected\n%s", chunk, got, expected);
            free(got);
            fail();
        }
        free(got);
    }
}

#define CHECK(data, opts, expected) check_all_chunks(data, sizeof(data) - 1, opts, expected)

static void hive_basic(void **state)
{
    (void)state;
    tb__reader_opts o = {0};
    CHECK("1\x01zhang\x01\\N\x01x\n2\x01\x01NULL\x01\r\n3\x01\\N\\N", &o,
          "1@0:1|zhang|<null>|x\n"
          "2@13:2||NULL|\n"
          "3@23:3|\\x5CN\\x5CN\n"
          "EOF\n");
    /* With beeline's literal NULL token. */
    o.null_token = "NULL";
    CHECK("a\x01NULL\x01null\x01NULLx\n", &o, "1@0:a|<null>|null|NULLx\nEOF\n");
    /* An empty token makes empty fields NULL. */
    o.null_token = "";
    CHECK("a\x01\x01\n", &o, "1@0:a|<null>|<null>\nEOF\n");
}

static void hive_edges(void **state)
{
    (void)state;
    tb__reader_opts o = {0};
    CHECK("", &o, "EOF\n");
    CHECK("\n", &o, "1@0:\nEOF\n");
    CHECK("\n\n", &o, "1@0:\n2@1:\nEOF\n");
    CHECK("\r\n", &o, "1@0:\nEOF\n");
    CHECK("a\rb\n", &o, "1@0:a\\x0Db\nEOF\n"); /* a lone CR is data */
    CHECK("a", &o, "1@0:a\nEOF\n");
    CHECK("a\r", &o, "1@0:a\nEOF\n");
    CHECK("\x01\x01\n", &o, "1@0:||\nEOF\n");
    o.sep = '|';
    CHECK("a|b\x01|c\n", &o, "1@0:a|b\\x01|c\nEOF\n");
    /* Quotes mean nothing in Hive text. */
    o.sep = ',';
    CHECK("\"a,b\",\"\n", &o, "1@0:\"a|b\"|\"\nEOF\n");
}

static void tsv_basic(void **state)
{
    (void)state;
    tb__reader_opts o = {.format = TB__READER_TSV};
    CHECK("id\tname\r\n1\t\\N\r\n2\t\"q\"\n\t\n", &o,
          "1@0:id|name\n2@9:1|<null>\n3@15:2|\"q\"\n4@21:|\nEOF\n");
    o.null_token = "NULL";
    CHECK("NULL\tx\n", &o, "1@0:<null>|x\nEOF\n");
}

static void csv_basic(void **state)
{
    (void)state;
    tb__reader_opts o = {.format = TB__READER_CSV};
    CHECK("a,b,c\r\n1,\"x,y\",\"say \"\"hi\"\"\"\n", &o,
          "1@0:a|b|c\n2@7:1|x,y|say \"hi\"\n"
          "EOF\n");
    /* Newlines inside quotes: the next record starts on a later line. */
    CHECK("1,\"two\nlines\r\nthree\"\n2,x\n", &o,
          "1@0:1|two\\x0Alines\\x0D\\x0Athree\n4@21:2|x\nEOF\n");
    /* NULL: unquoted empty, unquoted \N; a quoted empty or quoted \N is a value. */
    CHECK(",\"\",\\N,\"\\N\"\n", &o, "1@0:<null>||<null>|\\x5CN\nEOF\n");
    CHECK("\n", &o, "1@0:<null>\nEOF\n");
    CHECK("a,", &o, "1@0:a|<null>\nEOF\n");
    CHECK("\"a\"", &o, "1@0:a\nEOF\n");
    CHECK("\"a\"\r", &o, "1@0:a\nEOF\n");
    CHECK("a\r,b\r", &o, "1@0:a\\x0D|b\nEOF\n"); /* only a CR before the line end is dropped */
    CHECK("\"a\"\r\n\"\"\r\n", &o, "1@0:a\n2@5:\nEOF\n");
    CHECK("\"\"\"\"", &o, "1@0:\"\nEOF\n");
    CHECK("\"a\"\"\",\"\"\"b\"\n", &o, "1@0:a\"|\"b\nEOF\n");
    o.null_token = "NULL";
    CHECK("NULL,\"NULL\"\n", &o, "1@0:<null>|NULL\nEOF\n");
    o.null_token = NULL;
    o.sep = ';';
    CHECK("a;\"b;c\";d,e\n", &o, "1@0:a|b;c|d,e\nEOF\n");
}

static void bom_and_header(void **state)
{
    (void)state;
    tb__reader_opts o = {.format = TB__READER_CSV, .flags = TB__READER_HEADER};
    CHECK("\xEF\xBB\xBFid,name\r\n1,a\r\n", &o, "H 1@3:id|name\n2@12:1|a\nEOF\n");
    CHECK("\xEF\xBB\xBF", &o, "H none\nEOF\n");
    CHECK("", &o, "H none\nEOF\n");
    CHECK("id\n", &o, "H 1@0:id\nEOF\n");
    o.flags = 0;
    CHECK("\xEF\xBB\xBF"
          "a\n",
          &o, "1@3:a\nEOF\n");
    CHECK("\xEF\xBB", &o, "1@0:\\xEF\\xBB\nEOF\n"); /* not a whole BOM: data */
    CHECK("a\n\xEF\xBB\xBF\n", &o, "1@0:a\n2@2:\\xEF\\xBB\\xBF\nEOF\n");
    o.format = TB__READER_HIVE;
    CHECK("\xEF\xBB\xBFh1\x01h2\n", &o, "1@3:h1|h2\nEOF\n");

    /* The header is a copy: still valid after later records, NUL-terminated fields. */
    static const char data[] = "col_a\x01\x63ol_b\nv1\x01v2\n";
    tb__reader *r;
    tb__reader_opts h = {.flags = TB__READER_HEADER, .chunk_size = 4};
    assert_int_equal(tb__reader_open_mem(data, sizeof data - 1, "h", &h, &r, NULL, 0), 0);
    tb__record hdr, rec;
    assert_int_equal(tb__reader_next(r, &rec), 1); /* skips the header */
    assert_int_equal(rec.line, 2);
    assert_int_equal(tb__reader_header(r, &hdr), 1);
    assert_int_equal(hdr.nfields, 2);
    assert_string_equal(hdr.fields[0].ptr, "col_a");
    assert_string_equal(hdr.fields[1].ptr, "col_b");
    assert_int_equal(tb__reader_next(r, &rec), 0);
    assert_string_equal(hdr.fields[1].ptr, "col_b");
    tb__reader_close(r);

    /* Without the flag a header is a caller mistake. */
    assert_int_equal(tb__reader_open_mem(data, sizeof data - 1, "h", NULL, &r, NULL, 0), 0);
    assert_int_equal(tb__reader_header(r, &hdr), TB_EINVAL);
    tb__reader_close(r);
}

static void record_fields_and_raw(void **state)
{
    (void)state;
    static const char data[] = "x,\"a\"\"b\",\r\n";
    tb__reader_opts o = {.format = TB__READER_CSV};
    tb__reader *r;
    assert_int_equal(tb__reader_open_mem(data, sizeof data - 1, NULL, &o, &r, NULL, 0), 0);
    tb__record rec;
    assert_int_equal(tb__reader_next(r, &rec), 1);
    assert_int_equal(rec.nfields, 3);
    assert_int_equal(rec.raw_len, 9);
    assert_memory_equal(rec.raw, "x,\"a\"\"b\",", 9); /* raw is untouched by unescaping */
    assert_int_equal(rec.fields[1].len, 3);
    assert_memory_equal(rec.fields[1].ptr, "a\"b", 3);
    assert_non_null(rec.fields[2].ptr);
    assert_int_equal(tb__reader_offset(r), sizeof data - 1);
    assert_int_equal(tb__reader_next(r, &rec), 0);
    assert_null(rec.fields);
    assert_int_equal(tb__reader_next(r, &rec), 0); /* EOF stays EOF */
    tb__reader_close(r);
}

static void limits_all(void **state)
{
    (void)state;
    for (int fmt = 0; fmt < 3; fmt++) {
        tb__reader_opts o = {.format = (tb__reader_format)fmt, .max_record = 8};
        CHECK("12345678\n12345678\r\n123456789\nx\n", &o,
              "1@0:12345678\n2@9:12345678\n"
              "ERR -15 't.dat' line 3, byte 19: record longer than the maximum of 8 bytes "
              "(max_record)\n");
        CHECK("12345678", &o, "1@0:12345678\nEOF\n");
        CHECK("123456789", &o,
              "ERR -15 't.dat' line 1, byte 0: record longer than the maximum of 8 bytes "
              "(max_record)\n");
        /* A record far beyond the limit is rejected without reading all of it. */
        CHECK("a\n1234567890123456789012345678901234567890", &o,
              "1@0:a\n"
              "ERR -15 't.dat' line 2, byte 2: record longer than the maximum of 8 bytes "
              "(max_record)\n");
        o.max_record = 0;
        o.max_fields = 3;
        const char *sep = fmt == 0 ? "\x01" : fmt == 1 ? "," : "\t";
        char data[64];
        snprintf(data, sizeof data, "a%sb%sc\nz\na%sb%sc%sd\n", sep, sep, sep, sep, sep);
        check_all_chunks(data, strlen(data), &o,
                         "1@0:a|b|c\n2@6:z\n"
                         "ERR -15 't.dat' line 3, byte 14: more than the maximum of 3 fields "
                         "(max_fields)\n");
    }
    /* CSV: quoted bytes count, and a long quoted field spanning lines is still one record. */
    tb__reader_opts o = {.format = TB__READER_CSV, .max_record = 8};
    CHECK("\"123456\"\n\"1\n3456\"\n\"1234567\"\n", &o,
          "1@0:123456\n2@9:1\\x0A3456\n"
          "ERR -15 't.dat' line 4, byte 18: record longer than the maximum of 8 bytes "
          "(max_record)\n");
    /* An unterminated quote in a big file ends in the record limit, not at the end of input. */
    CHECK("a,\"bcdefghijklmnopqrstuvwxyz\n", &o,
          "ERR -15 't.dat' line 1, byte 0: record longer than the maximum of 8 bytes "
          "(max_record)\n");
}

static void csv_errors(void **state)
{
    (void)state;
    tb__reader_opts o = {.format = TB__READER_CSV};
    CHECK("a,b\nc,\"d\ne", &o,
          "1@0:a|b\n"
          "ERR -9 't.dat' line 2, byte 6: quoted field not closed at the end of the input, "
          "expected a closing '\"'\n");
    CHECK("a,b\nc,d\"e\"\n", &o,
          "1@0:a|b\n"
          "ERR -9 't.dat' line 2, byte 7: quote inside an unquoted field, expected the whole "
          "field quoted with '\"' doubled inside\n");
    CHECK("\"a\nb\"x,c\n", &o,
          "ERR -9 't.dat' line 2, byte 5: character after a closing quote, expected a "
          "separator or the end of the line\n");
    CHECK("\"a\"\rb\n", &o,
          "ERR -9 't.dat' line 1, byte 3: character after a closing quote, expected a "
          "separator or the end of the line\n");
    CHECK("ok\n\"a\nb\x00\"\n", &o,
          "1@0:ok\nERR -9 't.dat' line 3, byte 7: NUL byte inside a record, expected text\n");
    CHECK("a,b\x00\n", &o,
          "ERR -9 't.dat' line 1, byte 3: NUL byte inside a record, expected text\n");
    CHECK("\x00", &o, "ERR -9 't.dat' line 1, byte 0: NUL byte inside a record, expected text\n");
    CHECK("\"a\"\x00", &o,
          "ERR -9 't.dat' line 1, byte 3: NUL byte inside a record, expected text\n");
}

static void delimited_errors(void **state)
{
    (void)state;
    for (int fmt = 0; fmt < 3; fmt += 2) {
        tb__reader_opts o = {.format = (tb__reader_format)fmt};
        CHECK("ab\ncd\x00\n", &o,
              "1@0:ab\nERR -9 't.dat' line 2, byte 5: NUL byte inside a record, expected text\n");
    }
}

static void utf8_validation(void **state)
{
    (void)state;
    static const char good[] = "\xE5\xBC\xA0\xE4\xB8\x89,\xF0\x9F\x98\x80\n";
    static const char bad[] = "\xE5\xBC\xA0\n\"x\ny\xC3\x28\"\n";
    tb__reader_opts o = {.format = TB__READER_CSV};
    CHECK(bad, &o, "1@0:\\xE5\\xBC\\xA0\n2@4:x\\x0Ay\\xC3(\nEOF\n"); /* not checked by default */
    o.flags = TB__READER_VALIDATE_UTF8;
    CHECK(good, &o, "1@0:\\xE5\\xBC\\xA0\\xE4\\xB8\\x89|\\xF0\\x9F\\x98\\x80\nEOF\n");
    CHECK(bad, &o,
          "1@0:\\xE5\\xBC\\xA0\n"
          "ERR -9 't.dat' line 3, byte 8: invalid UTF-8 sequence starting with byte 0xC3, expected "
          "well-formed "
          "UTF-8\n");
    o.format = TB__READER_HIVE;
    /* Overlong, surrogate, beyond U+10FFFF, stray continuation, truncated at the end. */
    CHECK("\xC0\xAF\n", &o,
          "ERR -9 't.dat' line 1, byte 0: invalid UTF-8 sequence starting with byte 0xC0, expected "
          "well-formed "
          "UTF-8\n");
    CHECK("ab\xED\xA0\x80\n", &o,
          "ERR -9 't.dat' line 1, byte 2: invalid UTF-8 sequence starting with byte 0xED, expected "
          "well-formed "
          "UTF-8\n");
    CHECK("\xF4\x90\x80\x80\n", &o,
          "ERR -9 't.dat' line 1, byte 0: invalid UTF-8 sequence starting with byte 0xF4, expected "
          "well-formed "
          "UTF-8\n");
    CHECK("abcdefgh\x80\n", &o,
          "ERR -9 't.dat' line 1, byte 8: invalid UTF-8 sequence starting with byte 0x80, expected "
          "well-formed "
          "UTF-8\n");
    CHECK("abc\xE5\xBC", &o,
          "ERR -9 't.dat' line 1, byte 3: invalid UTF-8 sequence starting with byte 0xE5, expected "
          "well-formed "
          "UTF-8\n");
}

/* Hive text and TSV records split sixteen bytes at a time: random records up to ~100 bytes, so
 * separators, NUL bytes, multi-byte and invalid UTF-8 fall both in the wide loop and in its
 * scalar tail, each read as one record and compared with a byte-at-a-time model of the reader:
 * a NUL byte first, then bad UTF-8, then too many fields, else the fields. */
static void delimited_split_model(void **state)
{
    (void)state;
    static const char *const pieces[] = {"a",    "bcd",          "\x01",       "\t",
                                         "\\N",  "\xE5\xBC\xA0", "0123456789", "\x00",
                                         "\x80", "\xE5\xBC",     "\xC3"};
    static const size_t plen[] = {1, 3, 1, 1, 2, 3, 10, 1, 1, 2, 1};
    uint32_t seed = 12345;
    for (int iter = 0; iter < 4000; iter++) {
        int fmt = iter % 2 ? TB__READER_TSV : TB__READER_HIVE;
        char sep = fmt == TB__READER_TSV ? '\t' : '\x01';
        tb__reader_opts o = {.format = (tb__reader_format)fmt};
        o.flags = iter % 3 ? TB__READER_VALIDATE_UTF8 : 0;
        o.max_fields = iter % 5 ? 0 : 1 + (size_t)(iter / 5 % 9);
        size_t max_fields = o.max_fields ? o.max_fields : TB__READER_DEFAULT_MAX_FIELDS;
        char line[256];
        size_t len = 0, want = (size_t)(iter % 97);
        while (len < want) {
            seed = seed * 1103515245u + 12345u;
            unsigned k = (seed >> 16) % 40;
            /* Mostly text and separators; NUL and bad bytes now and then. */
            unsigned pi = k < 8     ? 0
                          : k < 14  ? 1
                          : k < 22  ? 2
                          : k < 27  ? 3
                          : k < 29  ? 4
                          : k < 33  ? 5
                          : k < 36  ? 6
                          : k == 36 ? 7
                          : k == 37 ? 8
                          : k == 38 ? 9
                                    : 10;
            if ((pi >= 7 && (seed >> 8) % 4) || len + plen[pi] > sizeof line - 3) pi = 0;
            memcpy(line + len, pieces[pi], plen[pi]);
            len += plen[pi];
        }
        size_t content = len;
        memcpy(line + len, iter % 4 == 1 ? "\r\n" : "\n", iter % 4 == 1 ? 2 : 1);
        len += iter % 4 == 1 ? 2 : 1;

        tb__buf exp = TB__BUF_INIT;
        const char *z = memchr(line, '\0', content);
        size_t bad = 0, nsep = 0, at = 0;
        for (size_t i = 0; i < content; i++)
            if (line[i] == sep && ++nsep == max_fields) at = i + 1;
        if (z) {
            tb__buf_printf(&exp,
                           "ERR -9 't.dat' line 1, byte %zu: NUL byte inside a record, "
                           "expected text\n",
                           (size_t)(z - line));
        } else if (o.flags && tb__utf8_validate((const unsigned char *)line, content, &bad) != 0) {
            tb__buf_printf(&exp,
                           "ERR -9 't.dat' line 1, byte %zu: invalid UTF-8 sequence starting "
                           "with byte 0x%02X, expected well-formed UTF-8\n",
                           bad, (unsigned)(unsigned char)line[bad]);
        } else if (nsep >= max_fields) {
            tb__buf_printf(&exp,
                           "ERR -15 't.dat' line 1, byte %zu: more than the maximum of %zu "
                           "fields (max_fields)\n",
                           at, max_fields);
        } else {
            tb__buf_puts(&exp, "1@0:");
            size_t from = 0;
            for (size_t i = 0; i <= content; i++) {
                if (i < content && line[i] != sep) continue;
                tb__field f = {.ptr = line + from, .len = i - from};
                f.is_null = f.len == 2 && memcmp(f.ptr, "\\N", 2) == 0;
                if (from) tb__buf_putc(&exp, '|');
                dump_field(&exp, &f);
                from = i + 1;
            }
            tb__buf_puts(&exp, "\nEOF\n");
        }
        if (!z && nsep < max_fields) {
            /* The record says whether it is well-formed UTF-8 (the data standard then skips
             * its per-field check), with or without the reader's own check. */
            tb__reader *r = NULL;
            char eb[256];
            tb__record rec;
            assert_int_equal(tb__reader_open_mem(line, len, "t.dat", &o, &r, eb, sizeof eb), 0);
            int rc = tb__reader_next(r, &rec);
            int valid = tb__utf8_validate((const unsigned char *)line, content, NULL) == 0;
            if (rc == 1)
                assert_int_equal(rec.utf8, valid);
            else
                assert_false(valid);
            tb__reader_close(r);
        }
        for (size_t chunk = 0; chunk <= 16; chunk += 16) {
            o.chunk_size = chunk;
            char *got = read_mem(line, len, &o);
            if (strcmp(got, exp.data) != 0) {
                print_error("record %d, chunk %zu:\n--- got\n%s--- expected\n%s", iter, chunk, got,
                            exp.data);
                free(got);
                fail();
            }
            free(got);
        }
        tb__buf_release(&exp);
    }
}

static void errors_are_sticky(void **state)
{
    (void)state;
    static const char data[] = "a\"b\nc\n";
    tb__reader_opts o = {.format = TB__READER_CSV};
    tb__reader *r;
    assert_int_equal(tb__reader_open_mem(data, sizeof data - 1, "s.csv", &o, &r, NULL, 0), 0);
    tb__record rec;
    assert_int_equal(tb__reader_next(r, &rec), TB_EFORMAT);
    assert_null(rec.fields);
    char first[512];
    snprintf(first, sizeof first, "%s", tb__reader_errmsg(r));
    assert_non_null(strstr(first, "'s.csv' line 1, byte 1"));
    assert_int_equal(tb__reader_next(r, &rec), TB_EFORMAT);
    assert_string_equal(tb__reader_errmsg(r), first);
    tb__reader_close(r);
}

static void bad_options(void **state)
{
    (void)state;
    tb__reader *r = (tb__reader *)&r;
    char eb[128];
    tb__reader_opts o = {.format = TB__READER_CSV, .sep = '"'};
    assert_int_equal(tb__reader_open_mem("", 0, "x", &o, &r, eb, sizeof eb), TB_EINVAL);
    assert_null(r);
    assert_non_null(strstr(eb, "separator"));
    o = (tb__reader_opts){.sep = '\n'};
    assert_int_equal(tb__reader_open_mem("", 0, "x", &o, &r, eb, sizeof eb), TB_EINVAL);
    o = (tb__reader_opts){.format = (tb__reader_format)7};
    assert_int_equal(tb__reader_open_mem("", 0, "x", &o, &r, eb, sizeof eb), TB_EINVAL);
    o = (tb__reader_opts){.max_record = (size_t)1 << 40};
    assert_int_equal(tb__reader_open_mem("", 0, "x", &o, &r, eb, sizeof eb), TB_EINVAL);
    assert_int_equal(tb__reader_open_mem(NULL, 3, "x", NULL, &r, eb, sizeof eb), TB_EINVAL);
    assert_int_equal(tb__reader_open_mem(NULL, 0, "x", NULL, &r, NULL, 0), 0);
    tb__record rec;
    assert_int_equal(tb__reader_next(r, &rec), 0);
    tb__reader_close(r);
    tb__reader_close(NULL);
}

static void open_file_errors(void **state)
{
    (void)state;
    tb__reader *r = (tb__reader *)&r;
    char eb[256];
    int rc = tb__reader_open_file(DATA_DIR "no-such-file.csv", NULL, &r, eb, sizeof eb);
    assert_int_equal(rc, TB_ENOENT);
    assert_null(r);
    assert_non_null(strstr(eb, "cannot open 'tests/data/reader/no-such-file.csv'"));
    rc = tb__reader_open_file(DATA_DIR, NULL, &r, eb, sizeof eb); /* a directory: read fails */
    if (rc == 0) {
        tb__record rec;
        assert_int_equal(tb__reader_next(r, &rec), TB_EIO);
        assert_non_null(strstr(tb__reader_errmsg(r), "cannot read"));
        tb__reader_close(r);
    } else {
        assert_int_equal(rc, TB_EIO);
    }
}

/* Golden and corrupt inputs: each tests/data/reader/NAME.EXT has NAME.expected holding the dump;
 * the options come from the extension (and a "header" or "nulltok" or "utf8" in the name). */
static void golden_files(void **state)
{
    (void)state;
    static const char *const names[] = {
        "customers.hive", "deposits_header.csv",  "accounts.tsv",        "wide_nulltok.hive",
        "names_utf8.csv", "bad_unterminated.csv", "bad_stray_quote.csv", "bad_nul.hive",
        "bad_utf8.csv",   "bad_after_quote.csv",
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        const char *n = names[i];
        tb__reader_opts o = {0};
        const char *ext = strrchr(n, '.');
        o.format = strcmp(ext, ".csv") == 0   ? TB__READER_CSV
                   : strcmp(ext, ".tsv") == 0 ? TB__READER_TSV
                                              : TB__READER_HIVE;
        if (strstr(n, "header")) o.flags |= TB__READER_HEADER;
        if (strstr(n, "utf8")) o.flags |= TB__READER_VALIDATE_UTF8;
        if (strstr(n, "nulltok")) o.null_token = "NULL";
        char path[256], exp_path[256];
        snprintf(path, sizeof path, DATA_DIR "%s", n);
        snprintf(exp_path, sizeof exp_path, DATA_DIR "%.*s.expected", (int)(ext - n), n);
        for (size_t chunk = 0; chunk <= 7; chunk += 7) {
            o.chunk_size = chunk;
            tb__reader *r;
            char eb[256];
            int rc = tb__reader_open_file(path, &o, &r, eb, sizeof eb);
            if (rc) fail_msg("%s", eb);
            char *got = dump_reader(r, o.flags);
            tb__reader_close(r);
            FILE *f = fopen(exp_path, "rb");
            if (!f) fail_msg("cannot open '%s'", exp_path);
            char exp[8192];
            size_t n_exp = fread(exp, 1, sizeof exp - 1, f);
            fclose(f);
            exp[n_exp] = '\0';
            /* The expected dump names the file as 't.dat'; the reader names it by its path. */
            char want[8192];
            char *at = strstr(exp, "'t.dat'");
            if (at)
                snprintf(want, sizeof want, "%.*s'%s'%s", (int)(at - exp), exp, path, at + 7);
            else
                snprintf(want, sizeof want, "%s", exp);
            if (strcmp(got, want) != 0) {
                print_error("%s (chunk %zu):\n--- got\n%s--- expected\n%s", n, chunk, got, want);
                free(got);
                fail();
            }
            free(got);
        }
    }
}

/* A file of several megabytes read in default chunks: every record comes back, in order, with its
 * offset, and the reader ends exactly at the end of the file. */
static void big_file_streaming(void **state)
{
    (void)state;
    char path[] = "/tmp/tb_test_reader_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "wb");
    assert_non_null(f);
    const int rows = 60000;
    for (int i = 0; i < rows; i++)
        fprintf(f,
                "%d\x01"
                "customer-%d\x01\\N\x01%0*d\n",
                i, i * 7, 1 + i % 40, i);
    long size = ftell(f);
    fclose(f);
    assert_true(size > 2 * (long)TB__READER_DEFAULT_CHUNK);

    tb__reader *r;
    assert_int_equal(tb__reader_open_file(path, NULL, &r, NULL, 0), 0);
    tb__record rec;
    int n = 0, rc;
    uint64_t next_off = 0;
    while ((rc = tb__reader_next(r, &rec)) == 1) {
        assert_int_equal(rec.offset, next_off);
        assert_int_equal(rec.line, (uint64_t)n + 1);
        assert_int_equal(rec.nfields, 4);
        assert_int_equal(strtol(rec.fields[0].ptr, NULL, 10), n);
        assert_true(rec.fields[2].is_null);
        char want[64];
        int wl = snprintf(want, sizeof want, "%0*d", 1 + n % 40, n);
        assert_int_equal(rec.fields[3].len, (size_t)wl);
        assert_memory_equal(rec.fields[3].ptr, want, (size_t)wl);
        next_off = rec.offset + rec.raw_len + 1;
        n++;
    }
    assert_int_equal(rc, 0);
    assert_int_equal(n, rows);
    assert_int_equal(tb__reader_offset(r), (uint64_t)size);
    tb__reader_close(r);
    unlink(path);
}

/* ---- GB18030 sources ------------------------------------------------------------------------ */

/* Converts UTF-8 text to the given encoding with iconv (the test's own, independent of the
 * reader's converter use); caller frees. */
static char *iconv_all(const char *to, const char *from, const char *s, size_t len, size_t *outlen)
{
    iconv_t cd = iconv_open(to, from);
    assert_true(cd != (iconv_t)-1);
    size_t cap = len * 2 + 16;
    char *out = malloc(cap), *o = out, *in = (char *)s;
    size_t inleft = len, outleft = cap;
    assert_int_not_equal(iconv(cd, &in, &inleft, &o, &outleft), (size_t)-1);
    iconv_close(cd);
    *outlen = cap - outleft;
    return out;
}

/* Chinese names (two-byte GB18030), a CJK Extension B character and U+00E9 (four-byte GB18030),
 * quoted fields with separators and newlines, CRLF, an empty line, a last record without a line
 * end but with a newline inside quotes. */
static const char k_cn_csv[] = "cust_no,name,city,note\r\n"
                               "C001,张三,北京,\"普通客户\"\r\n"
                               "C002,欧阳娜娜,上海,\"多行\n备注,含逗号\"\n"
                               "C003,𠀀𠀁,Café,\"引号\"\"里\"\n"
                               "\n"
                               "C004,李四,,NULL\n"
                               "C005,王小明,深圳,\"末\n行\"";

static char *dump_with(const char *data, size_t len, tb__reader_opts *o)
{
    tb__reader *r = NULL;
    char eb[256];
    assert_int_equal(tb__reader_open_mem(data, len, "t.dat", o, &r, eb, sizeof eb), 0);
    char *d = dump_reader(r, o->flags);
    tb__reader_close(r);
    return d;
}

/* Strips the "line@offset:" prefixes so that a GB18030 dump can be compared with its UTF-8 twin
 * (fields and lines equal; offsets differ by design). */
static void strip_offsets(char *d)
{
    char *w = d;
    for (char *p = d; *p;) {
        char *at = strchr(p, '@');
        char *nl = strchr(p, '\n');
        if (at && (!nl || at < nl) && at > p && at[-1] >= '0' && at[-1] <= '9') {
            char *colon = strchr(at, ':');
            memmove(w, p, (size_t)(at - p));
            w += at - p;
            p = colon;
        }
        nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p + 1) : strlen(p);
        memmove(w, p, n);
        w += n;
        p += n;
    }
    *w = '\0';
}

static void gb18030_round_trip(void **state)
{
    (void)state;
    size_t glen;
    char *gb = iconv_all("GB18030", "UTF-8", k_cn_csv, strlen(k_cn_csv), &glen);
    assert_true(glen < strlen(k_cn_csv)); /* really converted: Chinese is 2 bytes, not 3 */
    const char *encs[] = {"GB18030", "gbk"};
    for (int fl = 0; fl < 2; fl++) {
        tb__reader_opts o = {.format = TB__READER_CSV, .null_token = "NULL"};
        o.flags = TB__READER_HEADER | (fl ? TB__READER_VALIDATE_UTF8 : 0);
        char *want = dump_with(k_cn_csv, strlen(k_cn_csv), &o);
        strip_offsets(want);
        assert_non_null(strstr(want, "EOF"));
        for (size_t chunk = 0; chunk <= 13; chunk++) {
            o.chunk_size = chunk;
            o.encoding = encs[chunk & 1];
            char *got = dump_with(gb, glen, &o);
            strip_offsets(got);
            if (strcmp(got, want) != 0) {
                print_error("chunk %zu:\n--- got\n%s--- want\n%s", chunk, got, want);
                fail();
            }
            free(got);

            /* Every record offset is in the GB18030 bytes: a line start whose bytes convert to
             * the record's raw text; the reader ends at the end of the original input. */
            tb__reader *r;
            assert_int_equal(tb__reader_open_mem(gb, glen, "t.dat", &o, &r, NULL, 0), 0);
            tb__record rec;
            int rc, n = 0;
            while ((rc = tb__reader_next(r, &rec)) == 1) {
                assert_true(rec.offset > 0 && rec.offset < glen && gb[rec.offset - 1] == '\n');
                size_t ul;
                char *u = iconv_all("UTF-8", "GB18030", gb + rec.offset, glen - rec.offset, &ul);
                assert_true(ul >= rec.raw_len);
                assert_memory_equal(u, rec.raw, rec.raw_len);
                free(u);
                n++;
            }
            assert_int_equal(rc, 0);
            assert_int_equal(n, 6);
            assert_int_equal(tb__reader_offset(r), glen);
            tb__reader_close(r);
        }
        free(want);
    }
    free(gb);
}

static void gb18030_errors(void **state)
{
    (void)state;
    tb__reader_opts o = {.format = TB__READER_CSV, .encoding = "GB18030"};
    /* Line 3 starts at byte 4 + 7 = 11 ("a,b\n", "\xD5\xC5\xC8\xFD,1\n"); 0xFF is never valid. */
    const char bad[] = "a,b\n\xD5\xC5\xC8\xFD,1\nxy\xFF\xFF,2\nz,3\n";
    for (size_t chunk = 0; chunk <= 9; chunk++) {
        o.chunk_size = chunk;
        char *d = dump_with(bad, sizeof bad - 1, &o);
        assert_string_equal(d, "1@0:a|b\n"
                               "2@4:\\xE5\\xBC\\xA0\\xE4\\xB8\\x89|1\n"
                               "ERR -9 't.dat' line 3, byte 13: invalid GB18030 sequence starting "
                               "with byte 0xFF\n");
        free(d);
    }
    /* A character cut by the end of the input. */
    const char cut[] = "a,\xD5\xC5\xC8";
    o.chunk_size = 0;
    char *d = dump_with(cut, sizeof cut - 1, &o);
    assert_non_null(strstr(d, "ERR -9 't.dat' line 1, byte 4: GB18030 sequence cut short"));
    free(d);
    /* A CSV error after Chinese text: the byte is counted in the original bytes (4 for 张三, then
     * ,"x" = 4 more), not in the 10 bytes the UTF-8 text has there. */
    const char q[] = "ok\n\xD5\xC5\xC8\xFD,\"x\"y\n";
    for (size_t chunk = 0; chunk <= 5; chunk++) {
        o.chunk_size = chunk;
        d = dump_with(q, sizeof q - 1, &o);
        assert_non_null(strstr(d, "ERR -9 't.dat' line 2, byte 11: character after a closing"));
        free(d);
    }
    /* A GB18030 BOM is skipped and counted. */
    const char bom[] = "\x84\x31\x95\x33x\n";
    d = dump_with(bom, sizeof bom - 1, &o);
    assert_string_equal(d, "1@4:x\nEOF\n");
    free(d);
    /* Unknown encodings are refused; UTF-8 by name is the plain path. */
    tb__reader *r;
    char eb[256];
    o.encoding = "latin1";
    assert_int_equal(tb__reader_open_mem("", 0, "t.dat", &o, &r, eb, sizeof eb), TB_EINVAL);
    assert_null(r);
    assert_non_null(strstr(eb, "unknown encoding"));
    o.encoding = "utf-8";
    d = dump_with("\xD5\xC5\n", 3, &o);
    assert_string_equal(d, "1@0:\\xD5\\xC5\nEOF\n");
    free(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(hive_basic),         cmocka_unit_test(hive_edges),
        cmocka_unit_test(tsv_basic),          cmocka_unit_test(csv_basic),
        cmocka_unit_test(bom_and_header),     cmocka_unit_test(record_fields_and_raw),
        cmocka_unit_test(limits_all),         cmocka_unit_test(csv_errors),
        cmocka_unit_test(delimited_errors),   cmocka_unit_test(utf8_validation),
        cmocka_unit_test(errors_are_sticky),  cmocka_unit_test(bad_options),
        cmocka_unit_test(open_file_errors),   cmocka_unit_test(golden_files),
        cmocka_unit_test(big_file_streaming), cmocka_unit_test(gb18030_round_trip),
        cmocka_unit_test(gb18030_errors),     cmocka_unit_test(delimited_split_model),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
