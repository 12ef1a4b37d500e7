/* reader.h — the warehouse-extract record reader: Hive text, CSV and TSV, streamed in chunks.
 *
 * The first piece of the pipeline's acquisition. A reader turns the bytes of one extract (a file,
 * or a memory buffer with an explicit length) into records: arrays of fields, each a pointer and a
 * length plus a NULL flag, with the 1-based line and the byte offset where the record starts.
 * The formats, NULL conventions, limits and error messages are described in docs/formats.md.
 *
 * Ownership, stated once for the whole module:
 *  - Options and the memory buffer are borrowed: the reader copies the options (and the null
 *    token) it keeps; a memory buffer must stay valid and unchanged until tb__reader_close.
 *  - A tb__reader is created by tb__reader_open_file or tb__reader_open_mem and freed (caller
 *    frees) with tb__reader_close.
 *  - The fields and raw bytes of a record returned by tb__reader_next point into the reader's
 *    buffer and are valid only until the next call on the same reader (next, header, close).
 *    Fields are not NUL-terminated: use their lengths. The header record (tb__reader_header) is a
 *    copy and stays valid until tb__reader_close.
 *  - The reader never crashes or reads outside its buffers on any input; bad input gives
 *    TB_EFORMAT or TB_ELIMIT with a detail naming the source, the line, the byte offset and what
 *    was expected. Errors are sticky: after one, every call returns the same code.
 *
 * Converted sources (opts.encoding "GB18030"): the parser works on the UTF-8 text, so fields,
 * raw, max_record and the UTF-8 check are about the converted bytes. Every offset the reader
 * reports is in the ORIGINAL bytes of the source: tb__record.offset, tb__reader_offset and the
 * "byte N" of every error detail. Line numbers are the same in both (a newline is one byte 0x0A
 * in GB18030 too). An invalid GB18030 sequence is TB_EFORMAT "'src' line 12, byte 3456: invalid
 * GB18030 sequence starting with byte 0xFF", raised only after every record before it; a
 * character cut off by the end of the input is TB_EFORMAT too. A GB18030 BOM (84 31 95 33) is
 * skipped like the UTF-8 one. The conversion is bit-exact independent of the chunk size.
 *
 * Not thread-safe: one reader per thread. Different readers are independent.
 */
#ifndef TB_PIPELINE_READER_H
#define TB_PIPELINE_READER_H

#include <stddef.h>
#include <stdint.h>

typedef enum tb__reader_format {
    TB__READER_HIVE = 0, /* Hive text: separator \x01 by default, \N is NULL, no quoting */
    TB__READER_CSV = 1,  /* RFC 4180: quotes, doubled quotes, separators/newlines inside quotes */
    TB__READER_TSV = 2,  /* tab-separated, no quoting, \N is NULL */
} tb__reader_format;

typedef enum tb__reader_flags {
    TB__READER_HEADER = 1 << 0,        /* the first record is a header, not data */
    TB__READER_VALIDATE_UTF8 = 1 << 1, /* reject records that are not valid UTF-8 */
} tb__reader_flags;

/* Defaults used when the matching option is 0. */
#define TB__READER_DEFAULT_MAX_RECORD ((size_t)1 << 20) /* 1 MiB per record */
#define TB__READER_DEFAULT_MAX_FIELDS ((size_t)4096)
#define TB__READER_DEFAULT_CHUNK      ((size_t)256 << 10) /* bytes per read(2) */

/* Options; zero-initialise and set what differs from the defaults. */
typedef struct tb__reader_opts {
    tb__reader_format format;
    unsigned flags;         /* tb__reader_flags */
    char sep;               /* field separator; 0: \x01 (Hive), ',' (CSV), '\t' (TSV) */
    const char *null_token; /* an extra unquoted field text meaning NULL (e.g. "NULL"); NULL: none;
                               "" makes empty fields NULL. Copied. */
    size_t max_record;      /* longest record in bytes without its line end; 0: default */
    size_t max_fields;      /* most fields per record; 0: default */
    size_t chunk_size;      /* bytes read at a time; 0: default. Tiny values are for tests. */
    const char *encoding;   /* the source's encoding. NULL, "UTF-8" or "UTF8": bytes as they are
                               (no conversion, no cost). "GB18030", "GBK" or "GB2312" (any case;
                               GB18030 covers the other two): converted to UTF-8 with iconv as
                               the chunks are read. See "Converted sources" above. Not kept. */
} tb__reader_opts;

/* One field. `ptr` is never NULL (an empty field points at a valid, zero-length place). */
typedef struct tb__field {
    const char *ptr;
    size_t len;
    int is_null; /* 1 for \N, the null token, or (CSV) an unquoted empty field */
} tb__field;

/* One record. Every pointer is borrowed from the reader (see the ownership rules above). */
typedef struct tb__record {
    const tb__field *fields;
    size_t nfields;  /* >= 1: a blank line is one empty field */
    uint64_t line;   /* 1-based line number where the record starts */
    uint64_t offset; /* byte offset of the record's first byte from the start of the source,
                        in the original bytes also for a converted source (a skipped BOM counts:
                        the first record of a UTF-8 BOM file is at 3) */
    const char *raw; /* the record's bytes as read (converted to UTF-8 for a converted source),
                        without its line end (\n or \r\n) */
    size_t raw_len;
    int utf8; /* 1: the reader found raw well-formed UTF-8, so every field is too (fields end at
                 ASCII separators); 0: not checked */
} tb__record;

typedef struct tb__reader tb__reader;

/* Opens the file at `path` for reading (read(2) in chunks; files of any size). `opts` may be NULL
 * for Hive text with defaults. On success returns 0 and *out (caller frees with tb__reader_close).
 * On failure *out is NULL, the code is TB_ENOENT (no such file), TB_EIO (cannot open or stat) or
 * TB_EINVAL (bad options: an unknown format or encoding, a separator that is \n or \r or '"' in
 * CSV, or max_record or chunk_size above 1 GiB, max_fields above 1,048,576), and up to `errlen`
 * bytes of detail are written to `errbuf` when it is not NULL. */
int tb__reader_open_file(const char *path, const tb__reader_opts *opts, tb__reader **out,
                         char *errbuf, size_t errlen);

/* Reads `len` bytes at `data` (borrowed: valid and unchanged until close; may be NULL when len is
 * 0), named `name` in error details (copied; NULL: "<memory>"). Same results as
 * tb__reader_open_file except that it cannot fail with TB_ENOENT or TB_EIO. */
int tb__reader_open_mem(const void *data, size_t len, const char *name, const tb__reader_opts *opts,
                        tb__reader **out, char *errbuf, size_t errlen);

/* Reads the next data record into *rec (skipping the header when TB__READER_HEADER is set).
 * Returns 1 when *rec holds a record, 0 at the end of input (then and afterwards; *rec is
 * zeroed), or a negative code: TB_EFORMAT (malformed input), TB_ELIMIT (record longer than
 * max_record, more fields than max_fields), TB_EIO (read failed) or TB_ENOMEM; the detail is in
 * tb__reader_errmsg. *rec's pointers are valid until the next call on `r`. */
int tb__reader_next(tb__reader *r, tb__record *rec);

/* With TB__READER_HEADER: reads the header record if it has not been read yet and sets *rec to
 * it. Returns 1, 0 when the input is empty (no header), TB_EINVAL without the flag, or an error
 * as tb__reader_next. The header's memory belongs to the reader and stays valid until close. */
int tb__reader_header(tb__reader *r, tb__record *rec);

/* The detail message of the last error ("" if none). Borrowed, valid until the next call. */
const char *tb__reader_errmsg(const tb__reader *r);

/* Bytes of the source consumed so far (records returned, including line ends and the BOM), in
 * original bytes for a converted source. */
uint64_t tb__reader_offset(const tb__reader *r);

/* Closes the file (if any) and frees the reader. NULL is a no-op. */
void tb__reader_close(tb__reader *r);

#endif
