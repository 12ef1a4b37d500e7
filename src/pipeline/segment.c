/* segment.c — writes and reads business-domain segments (format in segment.h). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/buf.h"
#include "pipeline/segment.h"
#include "store/file.h"
#include "tagbase.h"

#define FLUSH_AT     ((size_t)1 << 20)
#define MAGIC        "#tagbase-segment 1"
#define MAGIC_SEALED "#tagbase-segment 2"
#define FLAG_MAX     4096

struct tb__seg_writer {
    tb__afile af;
    tb__buf buf;
    uint64_t bytes;
    int sealed;
    tb__c2_stream s;
    tb__buf cipher;
};

/* The associated data of a sealed segment: a hash of its clear flag line, so that the rows open
 * only under the flag they were written with. */
static void flag_ad(const char *line, size_t n, unsigned char ad[crypto_generichash_BYTES])
{
    crypto_generichash(ad, crypto_generichash_BYTES, (const unsigned char *)line, n,
                       (const unsigned char *)"tagbase-segment", 15);
}

/* Writes out the buffered rows (whole rows only: a sealed chunk never splits a row), as the
 * stream's final chunk when `final`. */
static int flush(tb__seg_writer *w, int final, tb__errbuf *eb)
{
    if (!w->sealed) {
        if (w->buf.len == 0) return 0;
        int rc = tb__afile_write(&w->af, w->buf.data, w->buf.len, eb);
        w->bytes += w->buf.len;
        tb__buf_reset(&w->buf);
        return rc;
    }
    if (w->buf.len == 0 && !final) return 0;
    tb__buf_reset(&w->cipher);
    int rc = tb__c2_stream_seal(&w->s, w->buf.data, w->buf.len, final, &w->cipher);
    if (rc) return tb__seterr(eb, rc, "cannot seal a segment chunk");
    sodium_memzero(w->buf.data, w->buf.len);
    tb__buf_reset(&w->buf);
    rc = tb__afile_write(&w->af, w->cipher.data, w->cipher.len, eb);
    w->bytes += w->cipher.len;
    return rc;
}

int tb__seg_writer_open(const char *path, const tb__seg_flag *f, const tb__c2key *key,
                        tb__seg_writer **out, tb__errbuf *eb)
{
    *out = NULL;
    tb__seg_writer *w = calloc(1, sizeof *w);
    if (!w) return tb__seterr(eb, TB_ENOMEM, "out of memory");
    int rc = tb__afile_open(&w->af, path, 0640, eb);
    if (rc) {
        free(w);
        return rc;
    }
    /* Written once, read back only by lineage and reloads: not worth the page cache. */
    if ((rc = tb__afile_direct(&w->af, eb)) != 0) {
        tb__afile_abort(&w->af);
        free(w);
        return rc;
    }
    w->sealed = key != NULL;
    rc = tb__buf_printf(
        &w->buf, "%s\tbusiness_type=%s\tkind=%s\tsource=%s\tbatch=%s\tload=%" PRId64 "\tfile=%s\n",
        w->sealed ? MAGIC_SEALED : MAGIC, f->business_type, f->kind, f->source_system,
        f->batch_date, f->load_id, f->file);
    if (rc) {
        tb__seg_writer_abort(w);
        return tb__seterr(eb, rc, "out of memory");
    }
    if (w->buf.len > FLAG_MAX) {
        tb__seg_writer_abort(w);
        return tb__seterr(eb, TB_EINVAL, "segment '%s': flag line over %d bytes", path, FLAG_MAX);
    }
    if (w->sealed) {
        /* The flag line stays clear (it holds no personal data: `pipeline status` and lineage
         * name batches and files by it); the rows follow as one sealed stream. */
        unsigned char ad[crypto_generichash_BYTES];
        flag_ad(w->buf.data, w->buf.len - 1, ad);
        rc = tb__c2_stream_seal_init(&w->s, key, ad, sizeof ad, &w->buf);
        if (!rc)
            rc = tb__afile_write(&w->af, w->buf.data, w->buf.len, eb);
        else
            tb__seterr(eb, rc, "out of memory");
        w->bytes += w->buf.len;
        tb__buf_reset(&w->buf);
        if (rc) {
            tb__seg_writer_abort(w);
            return rc;
        }
    }
    *out = w;
    return 0;
}

/* Appends a field, escaping the bytes the format gives a meaning to. */
static int put_field(tb__buf *b, const tb__field *f)
{
    if (f->is_null) return tb__buf_append(b, "\\N", 2);
    size_t start = 0;
    for (size_t i = 0; i < f->len; i++) {
        char c = f->ptr[i];
        const char *esc = c == '\\'     ? "\\\\"
                          : c == '\x01' ? "\\x"
                          : c == '\n'   ? "\\n"
                          : c == '\r'   ? "\\r"
                                        : NULL;
        if (!esc) continue;
        int rc = tb__buf_append(b, f->ptr + start, i - start);
        if (!rc) rc = tb__buf_append(b, esc, 2);
        if (rc) return rc;
        start = i + 1;
    }
    return tb__buf_append(b, f->ptr + start, f->len - start);
}

int tb__seg_write(tb__seg_writer *w, uint64_t line, uint32_t gid, const tb__field *fields,
                  size_t nfields, tb__errbuf *eb)
{
    tb__buf *b = &w->buf;
    int rc = tb__buf_put_u64(b, line);
    if (!rc) rc = tb__buf_putc(b, '\x01');
    if (!rc) rc = gid == TB__SEG_NO_GID ? tb__buf_append(b, "\\N", 2) : tb__buf_put_u64(b, gid);
    for (size_t i = 0; !rc && i < nfields; i++) {
        rc = tb__buf_putc(b, '\x01');
        if (!rc) rc = put_field(b, &fields[i]);
    }
    if (!rc) rc = tb__buf_putc(b, '\n');
    if (rc) return tb__seterr(eb, rc, "out of memory");
    return b->len >= FLUSH_AT ? flush(w, 0, eb) : 0;
}

/* 1 when every backslash of raw Hive bytes is a whole "\N" field and there is no \r or \n:
 * the bytes then mean in a segment exactly what they meant in the extract. */
static int raw_is_segment_text(const char *p, size_t n)
{
    if (memchr(p, '\r', n) || memchr(p, '\n', n)) return 0;
    for (const char *b = memchr(p, '\\', n); b; b = memchr(b + 1, '\\', (size_t)(p + n - b - 1))) {
        size_t at = (size_t)(b - p);
        int starts = at == 0 || p[at - 1] == '\x01';
        int ends = at + 2 == n || (at + 2 < n && p[at + 2] == '\x01');
        if (!starts || at + 1 >= n || p[at + 1] != 'N' || !ends) return 0;
        if (at + 2 >= n) break;
    }
    return 1;
}

int tb__seg_write_raw(tb__seg_writer *w, uint64_t line, uint32_t gid, const tb__record *rec,
                      tb__errbuf *eb)
{
    if (!raw_is_segment_text(rec->raw, rec->raw_len))
        return tb__seg_write(w, line, gid, rec->fields, rec->nfields, eb);
    tb__buf *b = &w->buf;
    int rc = tb__buf_reserve(b, 2 * TB__U64_DIGITS_MAX + 4 + rec->raw_len);
    if (!rc) rc = tb__buf_put_u64(b, line);
    if (!rc) rc = tb__buf_putc(b, '\x01');
    if (!rc) rc = gid == TB__SEG_NO_GID ? tb__buf_append(b, "\\N", 2) : tb__buf_put_u64(b, gid);
    if (!rc) rc = tb__buf_putc(b, '\x01');
    if (!rc) rc = tb__buf_append(b, rec->raw, rec->raw_len);
    if (!rc) rc = tb__buf_putc(b, '\n');
    if (rc) return tb__seterr(eb, rc, "out of memory");
    return b->len >= FLUSH_AT ? flush(w, 0, eb) : 0;
}

uint64_t tb__seg_bytes(const tb__seg_writer *w)
{
    /* Sealed, the rows not yet written become the final chunk (flush() wrote any earlier). */
    return w->bytes + w->buf.len + (w->sealed ? TB__C2_STREAM_OVERHEAD : 0);
}

int tb__seg_writer_commit(tb__seg_writer *w, tb__errbuf *eb)
{
    int rc = flush(w, 1, eb);
    if (rc) {
        tb__seg_writer_abort(w);
        return rc;
    }
    rc = tb__afile_commit(&w->af, eb); /* ends af either way: the abort below frees the rest */
    tb__seg_writer_abort(w);
    return rc;
}

void tb__seg_writer_abort(tb__seg_writer *w)
{
    if (!w) return;
    tb__afile_abort(&w->af);
    if (w->buf.data) sodium_memzero(w->buf.data, w->buf.cap);
    tb__buf_release(&w->buf);
    tb__buf_release(&w->cipher);
    sodium_memzero(&w->s, sizeof w->s);
    free(w);
}

struct tb__seg_reader {
    tb__reader *r;      /* the clear rows, or the rows of the current sealed chunk */
    tb__c2_sfile *sf;   /* sealed: the stream after the flag line */
    uint64_t line_base; /* sealed: file lines before the current chunk */
    uint64_t chunk_lines;
    char *path;
    char *flagline; /* the flag line, NUL-terminated; the flag's strings point into it */
    tb__field *fields;
    size_t cap;
    tb__buf scratch; /* unescaped field bytes */
};

/* Splits "key=value" parts of the flag line (already copied into r->flagline) into *flag; 1 for a
 * sealed segment, 0 for a clear one, -1 when it is no flag line. */
static int parse_flag(tb__seg_reader *r, tb__seg_flag *flag)
{
    memset(flag, 0, sizeof *flag);
    char *save = NULL;
    char *part = strtok_r(r->flagline, "\t", &save);
    if (!part) return -1;
    int sealed = strcmp(part, MAGIC_SEALED) == 0;
    if (!sealed && strcmp(part, MAGIC) != 0) return -1;
    while ((part = strtok_r(NULL, "\t", &save)) != NULL) {
        char *eq = strchr(part, '=');
        if (!eq) return -1;
        *eq++ = '\0';
        if (strcmp(part, "business_type") == 0)
            flag->business_type = eq;
        else if (strcmp(part, "kind") == 0)
            flag->kind = eq;
        else if (strcmp(part, "source") == 0)
            flag->source_system = eq;
        else if (strcmp(part, "batch") == 0)
            flag->batch_date = eq;
        else if (strcmp(part, "file") == 0)
            flag->file = eq;
        else if (strcmp(part, "load") == 0)
            flag->load_id = strtoll(eq, NULL, 10);
    }
    return flag->business_type && flag->kind && flag->source_system && flag->batch_date &&
                   flag->file && flag->load_id > 0
               ? sealed
               : -1;
}

/* What the writer wrote must read back: escaping can double a source record of the default
 * maximum, and the line number and gid add two fields to the standard's maximum. */
static const tb__reader_opts row_opts = {.format = TB__READER_HIVE,
                                         .max_record = 4 * TB__READER_DEFAULT_MAX_RECORD,
                                         .max_fields = TB__READER_DEFAULT_MAX_FIELDS + 2};

/* Reads the flag line into r->flagline; *len counts it with its '\n'. TB_ECORRUPT when the file
 * does not start with a line of at most FLAG_MAX bytes without NUL bytes. */
static int read_flag_line(tb__seg_reader *r, size_t *len, tb__errbuf *eb)
{
    int fd = open(r->path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return tb__seterr(eb, errno == ENOENT ? TB_ENOENT : TB_EIO, "cannot open '%s': %s", r->path,
                          strerror(errno));
    char *line = malloc(FLAG_MAX + 1);
    size_t got = 0;
    int rc = line ? 0 : tb__seterr(eb, TB_ENOMEM, "out of memory");
    while (!rc && got < FLAG_MAX + 1) {
        ssize_t n = read(fd, line + got, FLAG_MAX + 1 - got);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) rc = tb__seterr(eb, TB_EIO, "cannot read '%s': %s", r->path, strerror(errno));
        if (n <= 0) break;
        got += (size_t)n;
    }
    close(fd);
    char *nl = rc ? NULL : memchr(line, '\n', got);
    if (!rc && (!nl || memchr(line, '\0', (size_t)(nl - line)))) rc = TB_ECORRUPT;
    if (!rc) {
        *nl = '\0';
        *len = (size_t)(nl - line) + 1;
        r->flagline = line;
        line = NULL;
    }
    free(line);
    return rc;
}

int tb__seg_reader_open(const char *path, const tb__keyring *ring, tb__seg_reader **out,
                        tb__seg_flag *flag, tb__errbuf *eb)
{
    *out = NULL;
    tb__seg_reader *r = calloc(1, sizeof *r);
    if (!r || !(r->path = strdup(path))) {
        free(r);
        return tb__seterr(eb, TB_ENOMEM, "out of memory");
    }
    size_t flen = 0;
    int rc = read_flag_line(r, &flen, eb);
    if (rc == TB_ECORRUPT) goto out_bad;
    if (rc) goto out_free;
    unsigned char ad[crypto_generichash_BYTES];
    flag_ad(r->flagline, flen - 1, ad);
    int sealed = parse_flag(r, flag);
    if (sealed < 0) goto out_bad;
    if (sealed) {
        rc = tb__c2_sfile_open(path, flen, ring, ad, sizeof ad, &r->sf, eb);
        if (rc) goto out_free;
        r->line_base = 1;
    } else {
        char err[TB__ERRMSG_MAX];
        rc = tb__reader_open_file(path, &row_opts, &r->r, err, sizeof err);
        if (rc) {
            tb__seterr(eb, rc, "%s", err);
            goto out_free;
        }
        tb__record rec; /* the flag line, read above */
        rc = tb__reader_next(r->r, &rec);
        if (rc < 0) {
            tb__seterr(eb, rc, "%s", tb__reader_errmsg(r->r));
            goto out_free;
        }
    }
    *out = r;
    return 0;

out_bad:
    rc = tb__seterr(eb, TB_ECORRUPT, "'%s' is not a tagbase segment (bad flag line)", path);
out_free:
    tb__seg_reader_close(r);
    return rc;
}

/* The next row as a record; *line is its line in the file (sealed rows count as if clear). */
static int next_record(tb__seg_reader *r, tb__record *rec, uint64_t *line, tb__errbuf *eb)
{
    for (;;) {
        if (r->r) {
            int rc = tb__reader_next(r->r, rec);
            if (rc < 0) return tb__seterr(eb, rc, "%s", tb__reader_errmsg(r->r));
            if (rc == 1) {
                *line = r->line_base + rec->line;
                r->chunk_lines = rec->line;
                return 1;
            }
            if (!r->sf) return 0;
            tb__reader_close(r->r);
            r->r = NULL;
            r->line_base += r->chunk_lines;
            r->chunk_lines = 0;
        }
        const void *data;
        size_t n;
        int rc = tb__c2_sfile_next(r->sf, &data, &n, eb);
        if (rc <= 0) return rc;
        char err[TB__ERRMSG_MAX];
        rc = tb__reader_open_mem(data, n, r->path, &row_opts, &r->r, err, sizeof err);
        if (rc) return tb__seterr(eb, rc, "%s", err);
    }
}

/* A field that is only decimal digits (no sign, no blanks) as a number; -1 when it is not one or
 * exceeds `max`. */
static int parse_count(const tb__field *f, uint64_t max, uint64_t *out)
{
    if (f->is_null || f->len == 0 || f->len > 20) return -1;
    uint64_t v = 0;
    for (size_t i = 0; i < f->len; i++) {
        unsigned d = (unsigned char)f->ptr[i] - '0';
        if (d > 9 || v > (max - d) / 10) return -1;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

/* Undoes put_field's escapes into the scratch buffer; the field then points there. Offsets are
 * fixed up after all fields are in, since the buffer may move while it grows. */
static int unescape(tb__buf *b, const tb__field *in, size_t *off, size_t *len)
{
    *off = b->len;
    for (size_t i = 0; i < in->len; i++) {
        char c = in->ptr[i];
        if (c == '\\' && i + 1 < in->len) {
            char e = in->ptr[++i];
            c = e == 'x' ? '\x01' : e == 'n' ? '\n' : e == 'r' ? '\r' : e;
        }
        int rc = tb__buf_putc(b, c);
        if (rc) return rc;
    }
    *len = b->len - *off;
    return 0;
}

int tb__seg_read(tb__seg_reader *r, uint64_t *line, uint32_t *gid, const tb__field **fields,
                 size_t *nfields, tb__errbuf *eb)
{
    tb__record rec;
    uint64_t at = 0;
    int rc = next_record(r, &rec, &at, eb);
    if (rc <= 0) return rc;
    if (rec.nfields < 2 || parse_count(&rec.fields[0], UINT64_MAX, line) != 0) goto out_bad;
    if (rec.fields[1].is_null) {
        *gid = TB__SEG_NO_GID;
    } else {
        uint64_t v;
        if (parse_count(&rec.fields[1], TB__SEG_NO_GID - 1, &v) != 0) goto out_bad;
        *gid = (uint32_t)v;
    }
    size_t n = rec.nfields - 2;
    if (n > r->cap) {
        tb__field *f = realloc(r->fields, n * sizeof *f);
        if (!f) return tb__seterr(eb, TB_ENOMEM, "out of memory");
        r->fields = f;
        r->cap = n;
    }
    tb__buf_reset(&r->scratch);
    size_t *offs = NULL;
    for (size_t i = 0; i < n; i++) {
        const tb__field *in = &rec.fields[i + 2];
        r->fields[i] = *in;
        if (in->is_null || !memchr(in->ptr, '\\', in->len)) continue;
        if (!offs && !(offs = calloc(n, sizeof *offs))) return tb__seterr(eb, TB_ENOMEM, "oom");
        size_t len;
        if (unescape(&r->scratch, in, &offs[i], &len)) {
            free(offs);
            return tb__seterr(eb, TB_ENOMEM, "out of memory");
        }
        r->fields[i].len = len;
        r->fields[i].ptr = NULL; /* set below, when the scratch buffer no longer moves */
    }
    for (size_t i = 0; offs && i < n; i++)
        if (!r->fields[i].ptr) r->fields[i].ptr = r->scratch.data + offs[i];
    free(offs);
    *fields = r->fields;
    *nfields = n;
    return 1;

out_bad:
    return tb__seterr(eb, TB_ECORRUPT, "'%s' line %" PRIu64 ": not a segment row", r->path, at);
}

uint32_t tb__seg_reader_key(const tb__seg_reader *r)
{
    return r->sf ? tb__c2_sfile_key(r->sf) : 0;
}

void tb__seg_reader_close(tb__seg_reader *r)
{
    if (!r) return;
    tb__reader_close(r->r);
    tb__c2_sfile_close(r->sf);
    free(r->fields);
    tb__buf_release(&r->scratch);
    free(r->path);
    free(r->flagline);
    free(r);
}
