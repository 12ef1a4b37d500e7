/* fuzz_reader.c — libFuzzer target for src/pipeline/reader.c: every format over arbitrary bytes,
 * with big and tiny chunk sizes and small limits, checking that the chunk size never changes the
 * result (same records, same error, same detail) and that records respect the limits; and the
 * same over the GB18030 conversion, whose records must equal those of the UTF-8 reader on the
 * input converted in one piece by iconv. */
#include <iconv.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "pipeline/reader.h"
#include "tagbase.h"

/* Reads everything with `o` and serialises what came out, so runs can be compared byte for byte. */
static void run(const uint8_t *data, size_t size, const tb__reader_opts *o, tb__buf *out,
                int fields_only)
{
    /* A converted source's raw text is UTF-8, not a slice of the input. */
    int conv = o->encoding != NULL;
    tb__reader *r = NULL;
    char eb[256];
    tb__buf_reset(out);
    if (tb__reader_open_mem(data, size, "fuzz", o, &r, eb, sizeof eb) != 0) {
        tb__buf_puts(out, "open failed");
        return;
    }
    size_t max_record = o->max_record ? o->max_record : TB__READER_DEFAULT_MAX_RECORD;
    size_t max_fields = o->max_fields ? o->max_fields : TB__READER_DEFAULT_MAX_FIELDS;
    tb__record rec;
    int rc;
    uint64_t last_off = 0, last_line = 0;
    if (o->flags & TB__READER_HEADER) {
        rc = tb__reader_header(r, &rec);
        tb__buf_printf(out, "H%d;", rc);
        if (rc == 1) {
            for (size_t i = 0; i < rec.nfields; i++)
                tb__buf_append(out, rec.fields[i].ptr, rec.fields[i].len);
        }
    }
    while ((rc = tb__reader_next(r, &rec)) == 1) {
        if (rec.nfields < 1 || rec.nfields > max_fields || rec.raw_len > max_record)
            __builtin_trap();
        if (rec.offset > size || (!conv && rec.raw_len > size - rec.offset)) __builtin_trap();
        if (rec.offset < last_off || rec.line <= last_line) __builtin_trap();
        if (!conv && memcmp(rec.raw, data + rec.offset, rec.raw_len) != 0) __builtin_trap();
        if (conv && rec.offset > 0 && data[rec.offset - 1] != '\n' && rec.offset != 4)
            __builtin_trap(); /* records start at line starts (or after a 4-byte BOM) */
        last_off = rec.offset + 1;
        last_line = rec.line;
        if (fields_only)
            tb__buf_printf(out, "R%llu,%zu:", (unsigned long long)rec.line, rec.nfields);
        else
            tb__buf_printf(out, "R%llu,%llu,%zu,%zu:", (unsigned long long)rec.line,
                           (unsigned long long)rec.offset, rec.raw_len, rec.nfields);
        for (size_t i = 0; i < rec.nfields; i++) {
            const tb__field *f = &rec.fields[i];
            if (!f->ptr || f->len > max_record) __builtin_trap();
            tb__buf_printf(out, "%zu%c", f->len, f->is_null ? 'N' : 'v');
            tb__buf_append(out, f->ptr, f->len);
        }
    }
    if (fields_only)
        tb__buf_printf(out, "E%d;", rc);
    else
        tb__buf_printf(out, "E%d;%s", rc, tb__reader_errmsg(r));
    /* Errors are sticky and EOF stays EOF. */
    if (tb__reader_next(r, &rec) != rc) __builtin_trap();
    if (rc == 0 && tb__reader_offset(r) != size) __builtin_trap();
    tb__reader_close(r);
}

/* A slow, obviously-correct reference parse of the whole input in memory, serialised like run()
 * does. Only called when the reader accepted the input, so it may assume well-formed data. */
static void ref_field(tb__buf *out, const tb__reader_opts *o, const char *p, size_t len, int quoted)
{
    int null =
        !quoted &&
        ((len == 2 && p[0] == '\\' && p[1] == 'N') ||
         (o->null_token && strlen(o->null_token) == len && memcmp(p, o->null_token, len) == 0) ||
         (o->format == TB__READER_CSV && len == 0));
    tb__buf_printf(out, "%zu%c", len, null ? 'N' : 'v');
    tb__buf_append(out, p, len);
}

static void ref_parse(const uint8_t *d, size_t size, const tb__reader_opts *o, tb__buf *out)
{
    char sep = o->sep                        ? o->sep
               : o->format == TB__READER_CSV ? ','
               : o->format == TB__READER_TSV ? '\t'
                                             : 1;
    size_t pos = size >= 3 && memcmp(d, "\xEF\xBB\xBF", 3) == 0 ? 3 : 0;
    uint64_t line = 1;
    int first = 1;
    tb__buf val = TB__BUF_INIT;
    tb__buf_reset(out);
    while (pos < size) {
        size_t start = pos, end, nf = 0;
        uint64_t start_line = line;
        tb__buf rec = TB__BUF_INIT;
        if (o->format != TB__READER_CSV) {
            while (pos < size && d[pos] != '\n')
                pos++;
            end = pos;
            if (end > start && d[end - 1] == '\r') end--;
            size_t f = start;
            for (size_t i = start; i <= end; i++) {
                if (i == end || d[i] == (uint8_t)sep) {
                    ref_field(&rec, o, (const char *)d + f, i - f, 0);
                    nf++;
                    f = i + 1;
                }
            }
            if (pos < size) pos++;
        } else {
            for (;;) {
                if (pos < size && d[pos] == '"') {
                    tb__buf_reset(&val);
                    tb__buf_puts(&val, "");
                    pos++;
                    for (;;) {
                        if (d[pos] == '"') {
                            if (pos + 1 < size && d[pos + 1] == '"') {
                                tb__buf_putc(&val, '"');
                                pos += 2;
                                continue;
                            }
                            pos++;
                            break;
                        }
                        if (d[pos] == '\n') line++;
                        tb__buf_putc(&val, (char)d[pos++]);
                    }
                    ref_field(&rec, o, val.data, val.len, 1);
                    end = pos;
                    if (pos < size && d[pos] == '\r') pos++;
                } else {
                    size_t f = pos;
                    while (pos < size && d[pos] != (uint8_t)sep && d[pos] != '\n')
                        pos++;
                    end = pos;
                    size_t e = pos;
                    if ((pos == size || d[pos] == '\n') && e > f && d[e - 1] == '\r') e--, end--;
                    ref_field(&rec, o, (const char *)d + f, e - f, 0);
                }
                nf++;
                if (pos < size && d[pos] == (uint8_t)sep) {
                    pos++;
                    continue;
                }
                if (pos < size) pos++; /* the newline */
                break;
            }
        }
        if (first && (o->flags & TB__READER_HEADER)) {
            /* run() prints the header's fields bare; redo that shape. */
            tb__buf_puts(out, "H1;");
            size_t i = 0;
            while (i < rec.len) {
                size_t len = strtoull(rec.data + i, NULL, 10);
                while (rec.data[i] >= '0' && rec.data[i] <= '9')
                    i++;
                i++;
                tb__buf_append(out, rec.data + i, len);
                i += len;
            }
        } else {
            tb__buf_printf(out, "R%llu,%llu,%zu,%zu:", (unsigned long long)start_line,
                           (unsigned long long)start, end - start, nf);
            tb__buf_append(out, rec.data, rec.len);
        }
        first = 0;
        line++;
        tb__buf_release(&rec);
    }
    if (first && (o->flags & TB__READER_HEADER)) tb__buf_puts(out, "H0;");
    tb__buf_puts(out, "E0;");
    tb__buf_release(&val);
}

/* The input converted from GB18030 in one iconv call; 0 when it is not valid GB18030. */
static int convert_all(const uint8_t *data, size_t size, tb__buf *out)
{
    static iconv_t cd = (iconv_t)-1;
    if (cd == (iconv_t)-1) cd = iconv_open("UTF-8", "GB18030");
    tb__buf_reset(out);
    if (tb__buf_reserve(out, size * 2 + 8)) return 0;
    char *in = (char *)data, *o = out->data;
    size_t inleft = size, outleft = size * 2 + 8;
    iconv(cd, NULL, NULL, NULL, NULL);
    if (iconv(cd, &in, &inleft, &o, &outleft) == (size_t)-1) return 0;
    out->len = (size_t)(o - out->data);
    return 1;
}

/* The GB18030 path: chunk size never matters, and on valid input the records (lines, fields) are
 * those of the UTF-8 reader over the whole input converted at once. */
static void fuzz_gb18030(const uint8_t *data, size_t size, uint8_t p)
{
    static tb__buf a = TB__BUF_INIT, b = TB__BUF_INIT, u = TB__BUF_INIT;
    tb__reader_opts o;
    memset(&o, 0, sizeof o);
    o.format = (tb__reader_format)(p % 3);
    o.flags = (p >> 2) & 3;
    o.encoding = "GB18030";
    if (p & 16) o.max_record = 1 + (p % 23);
    run(data, size, &o, &a, 0);
    o.chunk_size = 1;
    run(data, size, &o, &b, 0);
    if (a.len != b.len || memcmp(a.data, b.data, a.len) != 0) __builtin_trap();
    o.chunk_size = 2 + (p >> 5);
    run(data, size, &o, &b, 0);
    if (a.len != b.len || memcmp(a.data, b.data, a.len) != 0) __builtin_trap();
    if (!convert_all(data, size, &u)) return;
    o.chunk_size = 0;
    run(data, size, &o, &a, 1);
    o.encoding = NULL;
    run((const uint8_t *)u.data, u.len, &o, &b, 1);
    if (a.len != b.len || memcmp(a.data, b.data, a.len) != 0) __builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static tb__buf a = TB__BUF_INIT, b = TB__BUF_INIT;
    uint8_t p = size ? data[0] : 0;
    for (int fmt = 0; fmt < 3; fmt++) {
        tb__reader_opts o;
        memset(&o, 0, sizeof o);
        o.format = (tb__reader_format)fmt;
        o.flags = p & 3;
        if (p & 4) o.null_token = (p & 8) ? "NULL" : "";
        if (p & 16) o.sep = fmt == 1 ? ';' : '|';
        /* Default limits: big chunk against the reference, chunk 1 and a small odd chunk. */
        run(data, size, &o, &a, 0);
        if (a.len >= 3 && memcmp(a.data + a.len - 3, "E0;", 3) == 0) {
            ref_parse(data, size, &o, &b);
            if (a.len != b.len || memcmp(a.data, b.data, a.len) != 0) __builtin_trap();
        }
        o.chunk_size = 1;
        run(data, size, &o, &b, 0);
        if (a.len != b.len || memcmp(a.data, b.data, a.len) != 0) __builtin_trap();
        o.chunk_size = 3 + (p >> 5);
        run(data, size, &o, &b, 0);
        if (a.len != b.len || memcmp(a.data, b.data, a.len) != 0) __builtin_trap();
        /* Small limits: again the chunk size must not matter. */
        o.max_record = 1 + (p % 23);
        o.max_fields = 1 + (p % 5);
        o.chunk_size = 0;
        run(data, size, &o, &a, 0);
        o.chunk_size = 1;
        run(data, size, &o, &b, 0);
        if (a.len != b.len || memcmp(a.data, b.data, a.len) != 0) __builtin_trap();
        o.chunk_size = 2 + (p >> 6);
        run(data, size, &o, &b, 0);
        if (a.len != b.len || memcmp(a.data, b.data, a.len) != 0) __builtin_trap();
    }
    fuzz_gb18030(data, size, p);
    return 0;
}
