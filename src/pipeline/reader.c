/* reader.c — the extract record reader: chunked reads into one growable buffer, memchr splitting
 * for Hive text and TSV, a resumable RFC 4180 state machine for CSV. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/err.h"
#include "common/utf8.h"
#include "pipeline/reader.h"

/* Upper bounds on options, so that buffer arithmetic can never overflow. */
#define MAX_CHUNK      ((size_t)1 << 30)
#define MAX_RECORD_LIM ((size_t)1 << 30)
#define MAX_FIELDS_LIM ((size_t)1 << 20)

/* Where the CSV state machine stands inside the current record. */
enum csv_state {
    CS_FSTART, /* at the first byte of a field */
    CS_UNQ,    /* inside an unquoted field */
    CS_Q,      /* inside a quoted field */
    CS_AFTERQ, /* just after a closing quote */
};

/* A CSV field while its record is still being parsed: offsets survive buffer compaction. */
typedef struct span {
    size_t off, len;    /* into the record (buf + start) or into the side buffer */
    unsigned char side; /* 1: the field had doubled quotes and was unescaped into `side` */
    unsigned char quoted;
} span;

struct tb__reader {
    tb__reader_opts opts; /* defaults filled in */
    unsigned char sep;
    char *null_token; /* copy of opts.null_token, or NULL */
    size_t null_len;
    char *name;

    int fd;                   /* -1 for memory sources */
    const unsigned char *mem; /* memory source */
    size_t mem_len, mem_pos;

    char *buf; /* buf[start, end) holds unconsumed bytes */
    size_t cap, start, end;
    uint64_t base; /* source offset of buf[0] */
    int eof;       /* the source has no more bytes */
    int bom_checked;
    uint64_t line; /* line number of buf[start] */

    /* Resumable scan state of the current record; offsets are relative to buf + start. */
    size_t pos;
    int cs;
    int escaped;     /* the current quoted field has doubled quotes */
    size_t fstart;   /* first content byte of the current field */
    size_t seg;      /* start of the not yet copied part of an escaped field */
    size_t side_off; /* where the current escaped field starts in `side` */
    uint64_t nl;     /* newlines inside quotes so far in this record */
    uint64_t qline;  /* line of the opening quote of the current field */
    size_t qoff;     /* offset of that quote */
    tb__buf side;    /* unescaped CSV fields of the current record */

    span *spans;
    tb__field *fields;
    size_t fcap, nf;

    int header_state; /* 0: not read yet, 1: read, 2: input was empty */
    tb__field *hfields;
    char *hdata;
    tb__record hrec;

    unsigned char ustop[256]; /* bytes that end a run inside an unquoted CSV field */
    unsigned char qstop[256]; /* bytes that end a run inside a quoted CSV field */

    int failed; /* sticky error code, 0 while healthy */
    int at_eof;
    tb__errbuf err;
};

/* Records a format or limit error in the reader's detail, prefixed with the source, line and byte
 * offset that a data engineer needs to find the bad bytes, and makes it sticky. */
static int fail_at(tb__reader *r, int code, uint64_t line, uint64_t off, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static int fail_at(tb__reader *r, int code, uint64_t line, uint64_t off, const char *fmt, ...)
{
    char what[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    tb__seterr(&r->err, code, "'%s' line %llu, byte %llu: %s", r->name, (unsigned long long)line,
               (unsigned long long)off, what);
    r->failed = code;
    return code;
}

/* Makes room for one more chunk (moving the unconsumed tail to the front, growing the buffer
 * if that is not enough) and reads it. Offsets relative to buf + start stay valid; pointers into
 * buf do not. */
static int fill(tb__reader *r)
{
    size_t chunk = r->opts.chunk_size;
    if (r->cap - r->end < chunk && r->start > 0) {
        /* Only when out of room: then the tail is at most one partial record. */
        size_t keep = r->end - r->start;
        memmove(r->buf, r->buf + r->start, keep);
        r->base += r->start;
        r->start = 0;
        r->end = keep;
    }
    if (r->cap - r->end < chunk) {
        size_t ncap = r->end + chunk;
        if (ncap < r->cap + r->cap / 2) ncap = r->cap + r->cap / 2;
        char *p = realloc(r->buf, ncap);
        if (!p) {
            r->failed = TB_ENOMEM;
            return tb__seterr(&r->err, TB_ENOMEM, "'%s': out of memory growing the read buffer",
                              r->name);
        }
        r->buf = p;
        r->cap = ncap;
    }
    size_t room = r->cap - r->end;
    if (room > chunk) room = chunk;
    if (r->fd < 0) {
        size_t n = r->mem_len - r->mem_pos;
        if (n > room) n = room;
        if (n) memcpy(r->buf + r->end, r->mem + r->mem_pos, n);
        r->mem_pos += n;
        r->end += n;
        if (n == 0) r->eof = 1;
        return 0;
    }
    ssize_t n;
    do {
        n = read(r->fd, r->buf + r->end, room);
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
        r->failed = TB_EIO;
        return tb__seterr_errno(&r->err, TB_EIO, errno, "cannot read '%s' at byte %llu", r->name,
                                (unsigned long long)(r->base + r->end));
    }
    if (n == 0) r->eof = 1;
    r->end += (size_t)n;
    return 0;
}

/* Makes room for one more field; the field count limit is checked by the caller. */
static int grow_fields(tb__reader *r)
{
    size_t ncap = r->fcap ? r->fcap * 2 : 16;
    if (ncap > r->opts.max_fields) ncap = r->opts.max_fields;
    tb__field *f = realloc(r->fields, ncap * sizeof *f);
    if (!f) goto out_nomem;
    r->fields = f;
    if (r->opts.format == TB__READER_CSV) {
        span *s = realloc(r->spans, ncap * sizeof *s);
        if (!s) goto out_nomem;
        r->spans = s;
    }
    r->fcap = ncap;
    return 0;
out_nomem:
    r->failed = TB_ENOMEM;
    return tb__seterr(&r->err, TB_ENOMEM, "'%s': out of memory for %zu fields", r->name, ncap);
}

/* Counts newlines in p[0, n): the line of a byte inside a multi-line CSV record. */
static uint64_t count_nl(const char *p, size_t n)
{
    uint64_t c = 0;
    const char *e = p + n;
    while (p < e && (p = memchr(p, '\n', (size_t)(e - p))) != NULL) {
        c++;
        p++;
    }
    return c;
}

/* The optional UTF-8 check over a complete record: names the first bad byte's line and offset. */
static int check_utf8(tb__reader *r, const char *p, size_t len)
{
    size_t bad;
    if (tb__utf8_validate((const unsigned char *)p, len, &bad) == 0) return 0;
    return fail_at(r, TB_EFORMAT, r->line + count_nl(p, bad), r->base + r->start + bad,
                   "invalid UTF-8 sequence starting with byte 0x%02X, expected well-formed "
                   "UTF-8",
                   (unsigned)(unsigned char)p[bad]);
}

static int too_long(tb__reader *r)
{
    return fail_at(r, TB_ELIMIT, r->line, r->base + r->start,
                   "record longer than the maximum of %zu bytes (max_record)", r->opts.max_record);
}

static int too_many_fields(tb__reader *r, uint64_t line, uint64_t off)
{
    return fail_at(r, TB_ELIMIT, line, off, "more than the maximum of %zu fields (max_fields)",
                   r->opts.max_fields);
}

static int is_null_text(const tb__reader *r, const char *p, size_t len)
{
    if (len == 2 && p[0] == '\\' && p[1] == 'N') return 1;
    return r->null_token && len == r->null_len && memcmp(p, r->null_token, len) == 0;
}

/* Hive text and TSV: one record per line, so the line end is found with memchr and the fields
 * with memchr again; no per-byte state is needed. */
static int delim_next(tb__reader *r, tb__record *rec)
{
    const size_t lim = r->opts.max_record + 2; /* content, \r and \n */
    const char *nl;
    size_t avail;
    for (;;) {
        avail = r->end - r->start;
        size_t look = avail < lim ? avail : lim;
        nl = r->pos < look ? memchr(r->buf + r->start + r->pos, '\n', look - r->pos) : NULL;
        if (nl) break;
        r->pos = look;
        if (avail >= lim) return too_long(r);
        if (r->eof) {
            if (avail == 0) return 0;
            break;
        }
        int rc = fill(r);
        if (rc) return rc;
    }
    const char *p = r->buf + r->start;
    size_t len = nl ? (size_t)(nl - p) : avail;
    size_t consumed = nl ? len + 1 : len;
    if (len && p[len - 1] == '\r') len--;
    if (len > r->opts.max_record) return too_long(r);

    const char *z = memchr(p, '\0', len);
    if (z)
        return fail_at(r, TB_EFORMAT, r->line, r->base + r->start + (size_t)(z - p),
                       "NUL byte inside a record, expected text");
    if (r->opts.flags & TB__READER_VALIDATE_UTF8) {
        int rc = check_utf8(r, p, len);
        if (rc) return rc;
    }

    const char *f = p, *e = p + len;
    size_t n = 0;
    for (;;) {
        const char *q = memchr(f, r->sep, (size_t)(e - f));
        const char *fe = q ? q : e;
        if (n == r->fcap) {
            if (n >= r->opts.max_fields)
                return too_many_fields(r, r->line, r->base + r->start + (size_t)(f - p));
            int rc = grow_fields(r);
            if (rc) return rc;
        }
        tb__field *fl = &r->fields[n++];
        fl->ptr = f;
        fl->len = (size_t)(fe - f);
        fl->is_null = is_null_text(r, f, fl->len);
        if (!q) break;
        f = q + 1;
    }

    rec->fields = r->fields;
    rec->nfields = n;
    rec->line = r->line;
    rec->offset = r->base + r->start;
    rec->raw = p;
    rec->raw_len = len;
    r->start += consumed;
    r->pos = 0;
    r->line++;
    return 1;
}

/* Appends one finished CSV field to the record being parsed, as offsets. */
static int csv_push(tb__reader *r, size_t off, size_t len, int side, int quoted, size_t at)
{
    if (r->nf == r->fcap) {
        if (r->nf >= r->opts.max_fields)
            return too_many_fields(r, r->line + r->nl, r->base + r->start + at);
        int rc = grow_fields(r);
        if (rc) return rc;
    }
    span *s = &r->spans[r->nf++];
    s->off = off;
    s->len = len;
    s->side = (unsigned char)side;
    s->quoted = (unsigned char)quoted;
    return 0;
}

static int csv_push_quoted(tb__reader *r, size_t close)
{
    if (r->escaped) return csv_push(r, r->side_off, r->side.len - r->side_off, 1, 1, r->fstart - 1);
    return csv_push(r, r->fstart, close - r->fstart, 0, 1, r->fstart - 1);
}

/* `at_eol`: the field ends the line, so a CR before the newline is part of the line end. */
static int csv_push_unquoted(tb__reader *r, const unsigned char *b, size_t end, int at_eol)
{
    if (at_eol && end > r->fstart && b[end - 1] == '\r') end--;
    return csv_push(r, r->fstart, end - r->fstart, 0, 0, r->fstart);
}

/* Copies a part of an escaped quoted field to the side buffer. */
static int side_append(tb__reader *r, const unsigned char *p, size_t n)
{
    if (tb__buf_append(&r->side, p, n) == 0) return 0;
    r->failed = TB_ENOMEM;
    return tb__seterr(&r->err, TB_ENOMEM, "'%s': out of memory unescaping a field", r->name);
}

/* CSV per RFC 4180, tolerant of LF line ends. The state lives in the reader so that a record
 * split across reads resumes where the scan stopped instead of starting over. Only the first
 * max_record + 2 bytes of a record are ever looked at, so which error a long record gets does
 * not depend on the chunk size. */
static int csv_next(tb__reader *r, tb__record *rec)
{
    const size_t lim = r->opts.max_record + 2;
    const unsigned char sep = r->sep;
    size_t rec_end = 0, consumed = 0;
    int rc;
    /* The previous record's unescaped fields live in `side` until this call. */
    if (r->pos == 0 && r->nf == 0 && r->cs == CS_FSTART) tb__buf_reset(&r->side);
    for (;;) {
        const unsigned char *b = (const unsigned char *)r->buf + r->start;
        size_t avail = r->end - r->start;
        int clipped = avail > lim;
        if (clipped) avail = lim;
        size_t pos = r->pos;
        int done = 0, need = 0;
        while (!done && !need) {
            unsigned char c;
            switch (r->cs) {
            case CS_FSTART:
                if (pos == avail) {
                    need = 1;
                    break;
                }
                if (b[pos] == '"') {
                    r->qline = r->line + r->nl;
                    r->qoff = pos;
                    r->escaped = 0;
                    r->fstart = r->seg = pos + 1;
                    pos++;
                    r->cs = CS_Q;
                } else {
                    r->fstart = pos;
                    r->cs = CS_UNQ;
                }
                break;
            case CS_UNQ:
                while (pos < avail && !r->ustop[b[pos]])
                    pos++;
                if (pos == avail) {
                    need = 1;
                    break;
                }
                c = b[pos];
                if (c == sep) {
                    if ((rc = csv_push_unquoted(r, b, pos, 0))) return rc;
                    pos++;
                    r->cs = CS_FSTART;
                } else if (c == '\n') {
                    if ((rc = csv_push_unquoted(r, b, pos, 1))) return rc;
                    rec_end = pos && b[pos - 1] == '\r' ? pos - 1 : pos;
                    consumed = pos + 1;
                    done = 1;
                } else if (c == '"') {
                    return fail_at(r, TB_EFORMAT, r->line + r->nl, r->base + r->start + pos,
                                   "quote inside an unquoted field, expected the whole field "
                                   "quoted with '\"' doubled inside");
                } else {
                    return fail_at(r, TB_EFORMAT, r->line + r->nl, r->base + r->start + pos,
                                   "NUL byte inside a record, expected text");
                }
                break;
            case CS_Q:
                while (pos < avail && !r->qstop[b[pos]])
                    pos++;
                if (pos == avail) {
                    need = 1;
                    break;
                }
                c = b[pos];
                if (c == '\n') {
                    r->nl++;
                    pos++;
                } else if (c == '\0') {
                    return fail_at(r, TB_EFORMAT, r->line + r->nl, r->base + r->start + pos,
                                   "NUL byte inside a record, expected text");
                } else if (pos + 1 == avail && !(r->eof && !clipped)) {
                    need = 1; /* a quote: the next byte decides between "" and the close */
                } else if (pos + 1 < avail && b[pos + 1] == '"') {
                    if (!r->escaped) {
                        r->escaped = 1;
                        r->side_off = r->side.len;
                    }
                    if ((rc = side_append(r, b + r->seg, pos + 1 - r->seg))) return rc;
                    pos += 2;
                    r->seg = pos;
                } else {
                    if (r->escaped && (rc = side_append(r, b + r->seg, pos - r->seg))) return rc;
                    r->seg = pos; /* the closing quote, remembered for csv_push_quoted */
                    pos++;
                    r->cs = CS_AFTERQ;
                }
                break;
            case CS_AFTERQ:
                if (pos == avail) {
                    need = 1;
                    break;
                }
                c = b[pos];
                if (c == sep || c == '\n') {
                    if ((rc = csv_push_quoted(r, r->seg))) return rc;
                    if (c == sep) {
                        pos++;
                        r->cs = CS_FSTART;
                    } else {
                        rec_end = pos;
                        consumed = pos + 1;
                        done = 1;
                    }
                } else if (c == '\r' && pos + 1 == avail && !(r->eof && !clipped)) {
                    need = 1;
                } else if (c == '\r' && (pos + 1 == avail || b[pos + 1] == '\n')) {
                    if ((rc = csv_push_quoted(r, r->seg))) return rc;
                    rec_end = pos;
                    consumed = pos + 1 < avail ? pos + 2 : pos + 1;
                    done = 1;
                } else if (c == '\0') {
                    return fail_at(r, TB_EFORMAT, r->line + r->nl, r->base + r->start + pos,
                                   "NUL byte inside a record, expected text");
                } else {
                    return fail_at(r, TB_EFORMAT, r->line + r->nl, r->base + r->start + pos,
                                   "character after a closing quote, expected a separator or "
                                   "the end of the line");
                }
                break;
            }
        }
        if (done) break;
        /* Ran out of buffered bytes in the middle of a record. */
        if (clipped) {
            r->pos = pos;
            return too_long(r);
        }
        if (r->eof) {
            switch (r->cs) {
            case CS_FSTART:
                if (pos == 0 && r->nf == 0) return 0;
                r->fstart = pos; /* a last empty field after a trailing separator */
                __attribute__((fallthrough));
            case CS_UNQ:
                if ((rc = csv_push_unquoted(r, b, pos, 1))) return rc;
                rec_end = pos && b[pos - 1] == '\r' ? pos - 1 : pos;
                break;
            case CS_Q:
                return fail_at(r, TB_EFORMAT, r->qline, r->base + r->start + r->qoff,
                               "quoted field not closed at the end of the input, expected a "
                               "closing '\"'");
            case CS_AFTERQ:
                if ((rc = csv_push_quoted(r, r->seg))) return rc;
                rec_end = pos;
                break;
            }
            consumed = pos;
            break;
        }
        r->pos = pos;
        if (avail >= lim) return too_long(r);
        if ((rc = fill(r))) return rc;
    }

    if (rec_end > r->opts.max_record) return too_long(r);
    const char *p = r->buf + r->start;
    if (r->opts.flags & TB__READER_VALIDATE_UTF8) {
        if ((rc = check_utf8(r, p, rec_end))) return rc;
    }
    for (size_t i = 0; i < r->nf; i++) {
        const span *s = &r->spans[i];
        tb__field *f = &r->fields[i];
        f->ptr = s->side ? r->side.data + s->off : p + s->off;
        f->len = s->len;
        f->is_null = !s->quoted && (s->len == 0 || is_null_text(r, f->ptr, s->len));
    }
    rec->fields = r->fields;
    rec->nfields = r->nf;
    rec->line = r->line;
    rec->offset = r->base + r->start;
    rec->raw = p;
    rec->raw_len = rec_end;

    r->line += 1 + r->nl;
    r->start += consumed;
    r->pos = 0;
    r->cs = CS_FSTART;
    r->nf = 0;
    r->nl = 0;
    return 1;
}

/* Reads one record of either kind after skipping a BOM at the very start of the source. */
static int read_record(tb__reader *r, tb__record *rec)
{
    int rc;
    if (!r->bom_checked) {
        while (r->end - r->start < 3 && !r->eof)
            if ((rc = fill(r))) return rc;
        if (r->end - r->start >= 3 && memcmp(r->buf + r->start, "\xEF\xBB\xBF", 3) == 0)
            r->start += 3;
        r->bom_checked = 1;
    }
    if (r->opts.format == TB__READER_CSV) return csv_next(r, rec);
    return delim_next(r, rec);
}

/* Copies the header record out of the read buffer so that callers can map column names for the
 * whole file. Each field is NUL-terminated in the copy, for convenience. */
static int keep_header(tb__reader *r, const tb__record *h)
{
    size_t total = h->raw_len + 1;
    for (size_t i = 0; i < h->nfields; i++)
        total += h->fields[i].len + 1;
    r->hfields = malloc(h->nfields * sizeof *r->hfields);
    r->hdata = malloc(total);
    if (!r->hfields || !r->hdata) {
        r->failed = TB_ENOMEM;
        return tb__seterr(&r->err, TB_ENOMEM, "'%s': out of memory copying the header", r->name);
    }
    char *d = r->hdata;
    for (size_t i = 0; i < h->nfields; i++) {
        r->hfields[i] = h->fields[i];
        r->hfields[i].ptr = d;
        if (h->fields[i].len) memcpy(d, h->fields[i].ptr, h->fields[i].len);
        d += h->fields[i].len;
        *d++ = '\0';
    }
    if (h->raw_len) memcpy(d, h->raw, h->raw_len);
    d[h->raw_len] = '\0';
    r->hrec = *h;
    r->hrec.fields = r->hfields;
    r->hrec.raw = d;
    return 0;
}

static int ensure_header(tb__reader *r)
{
    if (r->header_state) return 0;
    tb__record h;
    int rc = read_record(r, &h);
    if (rc < 0) return rc;
    if (rc == 0) {
        r->header_state = 2;
        return 0;
    }
    if ((rc = keep_header(r, &h))) return rc;
    r->header_state = 1;
    return 0;
}

int tb__reader_next(tb__reader *r, tb__record *rec)
{
    int rc;
    memset(rec, 0, sizeof *rec);
    if (r->failed) return r->failed;
    if (r->at_eof) return 0;
    if ((r->opts.flags & TB__READER_HEADER) && (rc = ensure_header(r))) return rc;
    rc = read_record(r, rec);
    if (rc <= 0) memset(rec, 0, sizeof *rec);
    if (rc == 0) r->at_eof = 1;
    return rc;
}

int tb__reader_header(tb__reader *r, tb__record *rec)
{
    memset(rec, 0, sizeof *rec);
    if (!(r->opts.flags & TB__READER_HEADER))
        return tb__seterr(&r->err, TB_EINVAL, "'%s': no header expected (TB__READER_HEADER unset)",
                          r->name);
    if (r->failed) return r->failed;
    int rc = ensure_header(r);
    if (rc) return rc;
    if (r->header_state != 1) return 0;
    *rec = r->hrec;
    return 1;
}

const char *tb__reader_errmsg(const tb__reader *r)
{
    return r->err.msg;
}

uint64_t tb__reader_offset(const tb__reader *r)
{
    return r->base + r->start;
}

void tb__reader_close(tb__reader *r)
{
    if (!r) return;
    if (r->fd >= 0) close(r->fd);
    free(r->buf);
    free(r->fields);
    free(r->spans);
    free(r->hfields);
    free(r->hdata);
    free(r->null_token);
    free(r->name);
    tb__buf_release(&r->side);
    free(r);
}

static void put_err(char *errbuf, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void put_err(char *errbuf, size_t errlen, const char *fmt, ...)
{
    if (!errbuf || errlen == 0) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(errbuf, errlen, fmt, ap);
    va_end(ap);
}

/* Checks the options, fills in defaults and allocates the reader shared by both sources; the
 * error detail goes to errbuf because there is no handle yet. */
static int create(const char *name, const tb__reader_opts *opts, tb__reader **out, char *errbuf,
                  size_t errlen)
{
    static const tb__reader_opts hive_defaults = {0};
    tb__reader_opts o = opts ? *opts : hive_defaults;
    if (o.format != TB__READER_HIVE && o.format != TB__READER_CSV && o.format != TB__READER_TSV) {
        put_err(errbuf, errlen, "'%s': unknown extract format %d", name, (int)o.format);
        return TB_EINVAL;
    }
    if (o.sep == 0)
        o.sep = o.format == TB__READER_CSV ? ',' : o.format == TB__READER_TSV ? '\t' : 1;
    if (o.sep == '\n' || o.sep == '\r' || (o.format == TB__READER_CSV && o.sep == '"')) {
        put_err(errbuf, errlen, "'%s': field separator 0x%02X cannot be used", name,
                (unsigned)(unsigned char)o.sep);
        return TB_EINVAL;
    }
    if (o.max_record == 0) o.max_record = TB__READER_DEFAULT_MAX_RECORD;
    if (o.max_fields == 0) o.max_fields = TB__READER_DEFAULT_MAX_FIELDS;
    if (o.chunk_size == 0) o.chunk_size = TB__READER_DEFAULT_CHUNK;
    if (o.max_record > MAX_RECORD_LIM || o.max_fields > MAX_FIELDS_LIM ||
        o.chunk_size > MAX_CHUNK) {
        put_err(errbuf, errlen, "'%s': max_record, max_fields or chunk_size is too large", name);
        return TB_EINVAL;
    }

    tb__reader *r = calloc(1, sizeof *r);
    if (!r) goto out_nomem;
    r->fd = -1;
    r->opts = o;
    r->opts.null_token = NULL;
    r->sep = (unsigned char)o.sep;
    r->line = 1;
    r->name = strdup(name);
    if (!r->name) goto out_free;
    if (o.null_token) {
        r->null_len = strlen(o.null_token);
        r->null_token = strdup(o.null_token);
        if (!r->null_token) goto out_free;
    }
    r->ustop[r->sep] = r->ustop['\n'] = r->ustop['"'] = r->ustop[0] = 1;
    r->qstop['"'] = r->qstop['\n'] = r->qstop[0] = 1;
    *out = r;
    return 0;
out_free:
    tb__reader_close(r);
out_nomem:
    put_err(errbuf, errlen, "'%s': out of memory creating a reader", name);
    return TB_ENOMEM;
}

int tb__reader_open_mem(const void *data, size_t len, const char *name, const tb__reader_opts *opts,
                        tb__reader **out, char *errbuf, size_t errlen)
{
    *out = NULL;
    if (!name) name = "<memory>";
    if (!data && len) {
        put_err(errbuf, errlen, "'%s': no data for %zu bytes", name, len);
        return TB_EINVAL;
    }
    tb__reader *r;
    int rc = create(name, opts, &r, errbuf, errlen);
    if (rc) return rc;
    r->mem = data;
    r->mem_len = len;
    *out = r;
    return 0;
}

int tb__reader_open_file(const char *path, const tb__reader_opts *opts, tb__reader **out,
                         char *errbuf, size_t errlen)
{
    *out = NULL;
    tb__reader *r;
    int rc = create(path, opts, &r, errbuf, errlen);
    if (rc) return rc;
    r->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (r->fd < 0) {
        int e = errno;
        put_err(errbuf, errlen, "cannot open '%s': %s", path, strerror(e));
        tb__reader_close(r);
        return e == ENOENT ? TB_ENOENT : TB_EIO;
    }
    /* The whole file is read once, front to back: let the kernel read ahead generously. */
    (void)posix_fadvise(r->fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    *out = r;
    return 0;
}
