/* reader.c — the extract record reader: chunked reads into one growable buffer, memchr splitting
 * for Hive text and TSV, a resumable RFC 4180 state machine for CSV, and an optional GB18030 to
 * UTF-8 conversion (glibc iconv) between the read and the buffer. */
#include <errno.h>
#include <fcntl.h>
#include <iconv.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

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
    uint64_t got, dropped;    /* bytes read from fd; of those, let go from the page cache */
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

    /* GB18030 conversion (conv == 1). The parser sees only the converted UTF-8 in buf; these
     * fields map what it consumes back to offsets in the original bytes. Records start at line
     * starts, and '\n' is the single byte 0x0A in both encodings (GB18030 never uses it inside a
     * multi-byte character), so remembering the original offset after each converted newline is
     * enough to give every record its original offset. */
    int conv;
    iconv_t cd;
    char *raw; /* raw[0, raw_len): bytes read but not converted yet (a cut character) */
    size_t raw_len, raw_cap;
    uint64_t raw_conv; /* original bytes converted so far */
    uint64_t raw_nl;   /* newlines among them */
    uint64_t *nlq;     /* original offsets just after converted newlines not yet consumed */
    size_t nlq_head, nlq_len, nlq_cap;
    uint64_t orig_start; /* original offset of buf[start], always a line start (or after a BOM) */
    int conv_err;        /* an invalid sequence was met at conv_err_off: raised by the next fill */
    uint64_t conv_err_off, conv_err_line;
    unsigned char conv_err_byte;
};

static int fill_conv(tb__reader *r);
static uint64_t orig_offset(tb__reader *r, uint64_t line, uint64_t conv_off);

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
    /* Callers pass offsets into the buffer; for a converted source the user needs the offset in
     * the file they have, which only matters (and is only computed) on this error path. */
    if (r->conv) off = orig_offset(r, line, off);
    tb__seterr(&r->err, code, "'%s' line %llu, byte %llu: %s", r->name, (unsigned long long)line,
               (unsigned long long)off, what);
    r->failed = code;
    return code;
}

/* Makes room for one more chunk (moving the unconsumed tail to the front, growing the buffer
 * if that is not enough) and reads it. Offsets relative to buf + start stay valid; pointers into
 * buf do not. */
static int make_room(tb__reader *r, size_t chunk)
{
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
    return 0;
}

/* Counts n bytes read from the file and, every DROP_STEP bytes, lets the page cache go of what has
 * been read (POSIX_FADV_DONTNEED): an extract is read once, front to back, into our own buffer. At
 * 10M customers a load reads 14 GB of extracts while it holds 10 GB of its own; the kernel then
 * had to reclaim gigabytes, and took the load's write-ahead log (written first, so the oldest)
 * rather than extracts already read, and the checkpoint read 3 GB of it back from disk. */
#define DROP_STEP ((uint64_t)64 << 20)
static void note_read(tb__reader *r, size_t n)
{
    r->got += n;
    if (n && r->got - r->dropped < DROP_STEP) return;
    /* At the end (n 0), the rest of the file: length 0 means to its end. */
    (void)posix_fadvise(r->fd, (off_t)r->dropped, n ? (off_t)(r->got - r->dropped) : 0,
                        POSIX_FADV_DONTNEED);
    r->dropped = r->got;
}

static int fill(tb__reader *r)
{
    size_t chunk = r->opts.chunk_size;
    if (r->conv) return fill_conv(r);
    int rc = make_room(r, chunk);
    if (rc) return rc;
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
    note_read(r, (size_t)n);
    return 0;
}

/* Remembers the original offset after each newline of raw[0, n) (converted just now), for
 * conv_consume. */
static int conv_note_newlines(tb__reader *r, size_t n)
{
    const char *p = r->raw, *e = r->raw + n;
    while (p < e && (p = memchr(p, '\n', (size_t)(e - p))) != NULL) {
        p++;
        if (r->nlq_head + r->nlq_len == r->nlq_cap) {
            if (r->nlq_head > 0) {
                memmove(r->nlq, r->nlq + r->nlq_head, r->nlq_len * sizeof *r->nlq);
                r->nlq_head = 0;
            } else {
                size_t ncap = r->nlq_cap ? r->nlq_cap * 2 : 256;
                uint64_t *q = realloc(r->nlq, ncap * sizeof *q);
                if (!q) {
                    r->failed = TB_ENOMEM;
                    return tb__seterr(&r->err, TB_ENOMEM, "'%s': out of memory", r->name);
                }
                r->nlq = q;
                r->nlq_cap = ncap;
            }
        }
        r->nlq[r->nlq_head + r->nlq_len++] = r->raw_conv + (uint64_t)(p - r->raw);
        r->raw_nl++;
    }
    return 0;
}

/* fill for a GB18030 source: reads up to one chunk of original bytes behind any carried-over
 * partial character and converts as much as is complete. An invalid sequence is not raised at
 * once: the valid bytes before it are delivered first and the error comes with the next fill, so
 * that which records precede the error never depends on the chunk size. */
static int fill_conv(tb__reader *r)
{
    size_t chunk = r->opts.chunk_size;
    if (r->conv_err) {
        r->failed = TB_EFORMAT;
        return tb__seterr(&r->err, TB_EFORMAT,
                          "'%s' line %llu, byte %llu: invalid GB18030 sequence starting with byte "
                          "0x%02X",
                          r->name, (unsigned long long)r->conv_err_line,
                          (unsigned long long)r->conv_err_off, (unsigned)r->conv_err_byte);
    }
    /* One GB18030 byte becomes at most 1.5 UTF-8 bytes (2 -> 3, 4 -> 4), so twice the input
     * always fits and iconv never stops for lack of room. */
    int rc = make_room(r, 2 * (chunk + r->raw_len) + 8);
    if (rc) return rc;
    size_t want = r->raw_cap - r->raw_len;
    if (want > chunk) want = chunk;
    size_t n;
    if (r->fd < 0) {
        n = r->mem_len - r->mem_pos;
        if (n > want) n = want;
        if (n) memcpy(r->raw + r->raw_len, r->mem + r->mem_pos, n);
        r->mem_pos += n;
    } else {
        ssize_t got;
        do {
            got = read(r->fd, r->raw + r->raw_len, want);
        } while (got < 0 && errno == EINTR);
        if (got < 0) {
            r->failed = TB_EIO;
            return tb__seterr_errno(&r->err, TB_EIO, errno, "cannot read '%s' at byte %llu",
                                    r->name, (unsigned long long)(r->raw_conv + r->raw_len));
        }
        n = (size_t)got;
        note_read(r, n);
    }
    if (n == 0) {
        if (r->raw_len == 0) {
            r->eof = 1;
            return 0;
        }
        r->failed = TB_EFORMAT;
        return tb__seterr(&r->err, TB_EFORMAT,
                          "'%s' line %llu, byte %llu: GB18030 sequence cut short by the end of the "
                          "input",
                          r->name, (unsigned long long)(r->raw_nl + 1),
                          (unsigned long long)r->raw_conv);
    }
    r->raw_len += n;
    char *in = r->raw, *out = r->buf + r->end;
    size_t inleft = r->raw_len, outleft = r->cap - r->end;
    size_t k = iconv(r->cd, &in, &inleft, &out, &outleft);
    int e = errno;
    size_t used = (size_t)(in - r->raw);
    if ((rc = conv_note_newlines(r, used))) return rc;
    r->raw_conv += used;
    r->end = (size_t)(out - r->buf);
    if (k == (size_t)-1 && e == EILSEQ) {
        r->conv_err = 1;
        r->conv_err_off = r->raw_conv;
        r->conv_err_line = r->raw_nl + 1;
        r->conv_err_byte = (unsigned char)*in;
        r->raw_len = 0;
        return 0;
    }
    /* EINVAL: a character cut by the end of this read; keep its bytes for the next one. */
    memmove(r->raw, in, inleft);
    r->raw_len = inleft;
    return 0;
}

/* The original offset of converted offset `conv_off`, on `line`, inside the current record: the
 * original offset of that line's start plus the GB18030 length of the converted text before
 * conv_off on the line, found by converting it back (exact: the mapping is one to one). Only
 * error details use it, so its cost does not matter. Falls back to the line start. */
static uint64_t orig_offset(tb__reader *r, uint64_t line, uint64_t conv_off)
{
    if (line < r->line || conv_off < r->base + r->start || conv_off > r->base + r->end)
        return r->orig_start;
    uint64_t k = line - r->line;
    if (k > r->nlq_len) return r->orig_start;
    uint64_t ostart = k == 0 ? r->orig_start : r->nlq[r->nlq_head + k - 1];
    /* Find the converted start of line `line`: after the k-th newline of the record. */
    const char *ls = r->buf + r->start, *x = r->buf + (conv_off - r->base);
    for (uint64_t i = 0; i < k; i++) {
        const char *nl = memchr(ls, '\n', (size_t)(x - ls));
        if (!nl) return ostart;
        ls = nl + 1;
    }
    iconv_t back = iconv_open("GB18030", "UTF-8");
    if (back == (iconv_t)-1) return ostart;
    uint64_t total = 0;
    char *in = (char *)ls;
    size_t inleft = (size_t)(x - ls);
    while (inleft > 0) {
        char tmp[256], *out = tmp;
        size_t outleft = sizeof tmp;
        size_t rc = iconv(back, &in, &inleft, &out, &outleft);
        total += (uint64_t)(out - tmp);
        if (rc == (size_t)-1 && errno != E2BIG) break;
    }
    iconv_close(back);
    return ostart + total;
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

/* Moves orig_start past a record of `k` newlines (inside CSV quotes and its line end) that the
 * parser has just consumed. A record not `ended` by a newline is the last one: everything
 * converted has then been consumed. */
static void conv_consume(tb__reader *r, uint64_t k, int ended)
{
    if (k) r->orig_start = r->nlq[r->nlq_head + k - 1];
    r->nlq_head += (size_t)k;
    r->nlq_len -= (size_t)k;
    if (!ended) r->orig_start = r->raw_conv;
}

static int is_null_text(const tb__reader *r, const char *p, size_t len)
{
    if (len == 2 && p[0] == '\\' && p[1] == 'N') return 1;
    return r->null_token && len == r->null_len && memcmp(p, r->null_token, len) == 0;
}

/* Appends the field p[from, to) to r->fields. */
static int delim_push(tb__reader *r, const char *p, size_t from, size_t to)
{
    if (r->nf == r->fcap) {
        if (r->nf >= r->opts.max_fields) return TB_ELIMIT; /* reported by the caller */
        int rc = grow_fields(r);
        if (rc) return rc;
    }
    tb__field *fl = &r->fields[r->nf++];
    fl->ptr = p + from;
    fl->len = to - from;
    fl->is_null = is_null_text(r, fl->ptr, fl->len);
    return 0;
}

/* Splits the record p[0, len) at the separator into r->fields (r->nf of them) in one pass that
 * also finds a NUL byte (*at, its offset, or len when none) and whether any byte is >= 0x80
 * (the return value is then 1: only such records need the UTF-8 check). SSE2 compares sixteen
 * bytes at a time against the separator and zero; every x86-64 has it. A separate memchr per
 * field, one for NUL and a UTF-8 pass over every record cost the reading threads of a 10M load
 * about three times as much. Returns TB_ELIMIT when there are more than max_fields fields, with
 * *at the offset of the first field beyond them (the rest is not scanned). */
static int delim_split(tb__reader *r, const char *p, size_t len, size_t *at)
{
    const unsigned char sep = r->sep;
    size_t i = 0, from = 0;
    unsigned high = 0;
    int rc;
    r->nf = 0;
#if defined(__SSE2__)
    const __m128i vsep = _mm_set1_epi8((char)sep), vzero = _mm_setzero_si128();
    for (; i + 16 <= len; i += 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(p + i));
        unsigned ms = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(v, vsep));
        unsigned mz = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(v, vzero));
        high |= (unsigned)_mm_movemask_epi8(v);
        if (mz) {
            *at = i + (size_t)__builtin_ctz(mz);
            return high != 0;
        }
        while (ms) {
            size_t end = i + (size_t)__builtin_ctz(ms);
            if ((rc = delim_push(r, p, from, end))) goto out_stopped;
            from = end + 1;
            ms &= ms - 1;
        }
    }
#endif
    for (; i < len; i++) {
        unsigned char c = (unsigned char)p[i];
        high |= c & 0x80u;
        if (c == sep) {
            if ((rc = delim_push(r, p, from, i))) goto out_stopped;
            from = i + 1;
        } else if (c == 0) {
            *at = i;
            return high != 0;
        }
    }
    *at = len;
    if ((rc = delim_push(r, p, from, len))) goto out_stopped;
    return high != 0;
out_stopped:
    *at = from; /* TB_ELIMIT: the field that did not fit starts here */
    return rc;
}

/* Hive text and TSV: one record per line, so the line end is found with memchr and the line is
 * split in one pass (delim_split); no per-byte state is needed. A record's errors are reported
 * in the same order whatever the split met first: a NUL byte, then bad UTF-8, then too many
 * fields. */
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

    size_t at = len, nul = len;
    int rc = delim_split(r, p, len, &at);
    if (rc == TB_ELIMIT) { /* the split stopped early: look at the rest for worse errors */
        const char *z = memchr(p, '\0', len);
        if (z) nul = (size_t)(z - p);
    } else if (rc < 0) {
        return rc;
    } else {
        nul = at;
    }
    if (nul < len)
        return fail_at(r, TB_EFORMAT, r->line, r->base + r->start + nul,
                       "NUL byte inside a record, expected text");
    int utf8 = rc == 0; /* ASCII */
    if (rc != 0 && (r->opts.flags & TB__READER_VALIDATE_UTF8)) {
        int urc = check_utf8(r, p, len); /* rc is 1 (a byte >= 0x80) or TB_ELIMIT */
        if (urc) return urc;
        utf8 = 1;
    } else if (rc == 1) {
        /* Checked once here, so that the data standard need not check field by field. */
        utf8 = tb__utf8_validate((const unsigned char *)p, len, NULL) == 0;
    }
    if (rc == TB_ELIMIT) return too_many_fields(r, r->line, r->base + r->start + at);

    rec->fields = r->fields;
    rec->nfields = r->nf;
    r->nf = 0;
    rec->line = r->line;
    rec->offset = r->conv ? r->orig_start : r->base + r->start;
    rec->raw = p;
    rec->raw_len = len;
    rec->utf8 = utf8;
    if (r->conv) conv_consume(r, nl ? 1 : 0, nl != NULL);
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
    rec->offset = r->conv ? r->orig_start : r->base + r->start;
    rec->raw = p;
    rec->raw_len = rec_end;
    if (r->conv) {
        int ended = consumed && p[consumed - 1] == '\n';
        conv_consume(r, r->nl + (uint64_t)ended, ended);
    }

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
        if (r->end - r->start >= 3 && memcmp(r->buf + r->start, "\xEF\xBB\xBF", 3) == 0) {
            r->start += 3;
            r->orig_start = 4; /* U+FEFF is 84 31 95 33 in GB18030 */
        }
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
    return r->conv ? r->orig_start : r->base + r->start;
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
    if (r->conv) iconv_close(r->cd);
    free(r->raw);
    free(r->nlq);
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
    int conv = 0;
    if (o.encoding && strcasecmp(o.encoding, "UTF-8") != 0 && strcasecmp(o.encoding, "UTF8") != 0) {
        /* GB18030 is a superset of GBK and GB2312 (same bytes for every character they have), so
         * one converter serves all three. */
        if (strcasecmp(o.encoding, "GB18030") != 0 && strcasecmp(o.encoding, "GBK") != 0 &&
            strcasecmp(o.encoding, "GB2312") != 0) {
            put_err(errbuf, errlen, "'%s': unknown encoding '%.32s', expected UTF-8 or GB18030",
                    name, o.encoding);
            return TB_EINVAL;
        }
        conv = 1;
    }

    tb__reader *r = calloc(1, sizeof *r);
    if (!r) goto out_nomem;
    r->fd = -1;
    r->opts = o;
    r->opts.null_token = NULL;
    r->opts.encoding = NULL;
    r->sep = (unsigned char)o.sep;
    r->line = 1;
    r->name = strdup(name);
    if (!r->name) goto out_free;
    if (o.null_token) {
        r->null_len = strlen(o.null_token);
        r->null_token = strdup(o.null_token);
        if (!r->null_token) goto out_free;
    }
    if (conv) {
        r->cd = iconv_open("UTF-8", "GB18030");
        if (r->cd == (iconv_t)-1) {
            tb__reader_close(r);
            put_err(errbuf, errlen, "'%s': this system's iconv cannot convert GB18030", name);
            return TB_ENOTSUP;
        }
        r->conv = 1;
        /* A chunk plus a carried partial character (at most 3 bytes of a 4-byte one). */
        r->raw_cap = o.chunk_size + 4;
        r->raw = malloc(r->raw_cap);
        if (!r->raw) goto out_free;
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
