/* snapshot.c — profile snapshots: column files written crash-safely with the manifest last, read
 * back through read-only mappings after validating every length and offset (docs/snapshot.md). */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/crc32c.h"
#include "store/file.h"
#include "store/crypt.h"
#include "store/snapshot.h"

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
/* Columns are used in place from the mapping; a big-endian host would need a decoding pass. */
#error "snapshot.c assumes a little-endian host"
#endif

static const char k_magic[8] = {'T', 'B', 'C', 'O', 'L', '1', '\0', '\0'};

/* Header field offsets (docs/snapshot.md has the table). */
#define H_MAGIC    0
#define H_VERSION  8
#define H_TYPE     12
#define H_WIDTH    13
#define H_NROWS    16
#define H_PAYLOAD  24
#define H_NDICT    32
#define H_CRC      36
#define H_RESERVED 40 /* 40..59 zero, so that a later version can use them */
#define H_HCRC     60

/* 2^40 rows: far above any bank's customer count, and low enough that no size below overflows. */
#define MAX_ROWS ((uint64_t)1 << 40)

#define COL_MODE 0444 /* column files are immutable once written */
/* Columns of this many bytes or more are written past the page cache (docs/snapshot.md, the
 * writer's step 2); a smaller one would be all partial last block, which goes through it. */
#define DIRECT_MIN ((uint64_t)4 << 20)

static size_t type_width(int t)
{
    switch (t) {
    case TB__SNAP_I64:
        return 8;
    case TB__SNAP_I32:
    case TB__SNAP_DICT:
        return 4;
    case TB__SNAP_U8:
        return 1;
    default:
        return 0;
    }
}

const char *tb__snap_type_name(tb__snap_type t)
{
    switch (t) {
    case TB__SNAP_I64:
        return "i64";
    case TB__SNAP_I32:
        return "i32";
    case TB__SNAP_U8:
        return "u8";
    case TB__SNAP_DICT:
        return "dict";
    }
    return "?";
}

static int type_parse(const char *s)
{
    for (int t = TB__SNAP_I64; t <= TB__SNAP_DICT; t++)
        if (strcmp(s, tb__snap_type_name((tb__snap_type)t)) == 0) return t;
    return 0;
}

static uint64_t align8(uint64_t n)
{
    return (n + 7) & ~(uint64_t)7;
}

static void put_u32(unsigned char *p, uint32_t v)
{
    memcpy(p, &v, 4);
}

static void put_u64(unsigned char *p, uint64_t v)
{
    memcpy(p, &v, 8);
}

static uint32_t get_u32(const unsigned char *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

static uint64_t get_u64(const unsigned char *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

/* Column names become file names, so they are restricted to a set that can never form a path. */
static int valid_name(const char *s)
{
    size_t n = 0;
    for (; s[n]; n++) {
        char c = s[n];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_'))
            return 0;
        if (n >= TB__SNAP_NAME_MAX) return 0;
    }
    return n > 0;
}

/* ---------------------------------------------------------------------------------------------
 * Writer
 */

typedef struct wcol {
    char *name;
    int type;
    uint64_t bytes; /* whole file */
    uint32_t crc;   /* payload */
    uint32_t ndict;
    json_t *meta; /* owned reference, or NULL */
} wcol;

struct tb__snap_writer {
    char *dir;
    uint64_t nrows;
    const tb__c2key *key; /* seal C2 columns under it (tb__snap_writer_seal), or NULL */
    wcol *cols;
    size_t ncols, cap;
    int fork; /* tb__snap_writer_fork: the directory and the manifest are another writer's */
    tb__errbuf err;
};

int tb__snap_writer_open(const char *dir, uint64_t nrows, tb__snap_writer **out, tb__errbuf *eb)
{
    *out = NULL;
    if (!dir || !*dir) return tb__seterr(eb, TB_EINVAL, "snapshot directory name is empty");
    if (nrows > MAX_ROWS)
        return tb__seterr(eb, TB_EINVAL, "snapshot of %llu rows is above the limit of 2^40",
                          (unsigned long long)nrows);
    tb__snap_writer *w = calloc(1, sizeof *w);
    if (!w || !(w->dir = strdup(dir))) {
        free(w);
        return tb__seterr(eb, TB_ENOMEM, "out of memory opening snapshot writer");
    }
    w->nrows = nrows;
    /* mkdir, not mkdir -p: an existing directory may be a committed snapshot or the remains of a
     * crashed writer, and either must not be mixed with new files. */
    if (mkdir(dir, 0755) != 0) {
        int e = errno;
        int rc = e == EEXIST ? TB_EEXIST : e == ENOENT ? TB_ENOENT : TB_EIO;
        tb__seterr_errno(eb, rc, e, "cannot create snapshot directory '%s'", dir);
        goto out_free;
    }
    int rc = tb__fsync_parent(dir, eb);
    if (rc) {
        rmdir(dir);
        goto out_free;
    }
    *out = w;
    return 0;
out_free:
    free(w->dir);
    free(w);
    return eb->code;
}

void tb__snap_writer_seal(tb__snap_writer *w, const tb__c2key *key)
{
    w->key = key;
}

/* 1 when a column's metadata classes it C2 (JR/T 0171): its file is sealed on an encrypted store.
 */
static int meta_is_c2(json_t *meta)
{
    const char *c = json_string_value(json_object_get(meta, "pi_class"));
    return c && strcmp(c, "C2") == 0;
}

/* The associated data of a sealed column file: its name, so that files cannot be swapped. */
static size_t col_ad(const char *name, char out[TB__SNAP_NAME_MAX + 32])
{
    return (size_t)snprintf(out, TB__SNAP_NAME_MAX + 32, "tagbase-snapshot-column:%s", name);
}

const char *tb__snap_writer_errmsg(const tb__snap_writer *w)
{
    return w->err.msg;
}

/* Parses an optional metadata text into an object reference (*out NULL for no text). */
static int parse_meta(const char *text, json_t **out, tb__errbuf *eb, const char *what)
{
    *out = NULL;
    if (!text) return 0;
    json_error_t je;
    json_t *j = json_loads(text, JSON_REJECT_DUPLICATES, &je);
    if (!j || !json_is_object(j)) {
        json_decref(j);
        return tb__seterr(eb, TB_EINVAL, "%s: metadata is not a JSON object%s%s", what,
                          j ? "" : ": ", j ? "" : je.text);
    }
    *out = j;
    return 0;
}

/* Checks what every put shares and makes room for one more column. */
static int put_begin(tb__snap_writer *w, const char *name, const void *vals, const char *meta_json,
                     json_t **meta)
{
    *meta = NULL;
    tb__clearerr(&w->err);
    if (!name || !valid_name(name))
        return tb__seterr(&w->err, TB_EINVAL,
                          "column name '%.64s' is not 1..64 letters, digits or '_'",
                          name ? name : "");
    for (size_t i = 0; i < w->ncols; i++)
        if (strcmp(w->cols[i].name, name) == 0)
            return tb__seterr(&w->err, TB_EINVAL, "column '%s' is already in the snapshot", name);
    if (!vals && w->nrows > 0)
        return tb__seterr(&w->err, TB_EINVAL, "column '%s': no values", name);
    if (w->ncols >= TB__SNAP_MAX_COLUMNS)
        return tb__seterr(&w->err, TB_ELIMIT, "column '%s': more than %d columns", name,
                          TB__SNAP_MAX_COLUMNS);
    if (w->ncols == w->cap) {
        size_t ncap = w->cap ? w->cap * 2 : 16;
        wcol *c = realloc(w->cols, ncap * sizeof *c);
        if (!c) return tb__seterr(&w->err, TB_ENOMEM, "out of memory adding column '%s'", name);
        w->cols = c;
        w->cap = ncap;
    }
    return parse_meta(meta_json, meta, &w->err, name);
}

static char *col_path(const char *dir, const char *name)
{
    char *p;
    if (asprintf(&p, "%s/%s.col", dir, name) < 0) return NULL;
    return p;
}

/* One piece of a payload: the column file is header + pieces, written in order. */
typedef struct piece {
    const void *p;
    size_t n;
} piece;

/* Writes "<dir>/<name>.col" crash-safely from its pieces and records the column. Consumes `meta`
 * (kept on success, released on failure). */
static int write_col(tb__snap_writer *w, const char *name, int type, uint32_t ndict,
                     const piece *pc, size_t npc, json_t *meta)
{
    unsigned char h[TB__SNAP_HEADER_SIZE];
    uint64_t payload = 0;
    uint32_t crc = 0;
    for (size_t i = 0; i < npc; i++) {
        payload += pc[i].n;
        crc = tb__crc32c(crc, pc[i].p, pc[i].n);
    }
    memset(h, 0, sizeof h);
    memcpy(h + H_MAGIC, k_magic, 8);
    put_u32(h + H_VERSION, TB__SNAP_FORMAT_VERSION);
    h[H_TYPE] = (unsigned char)type;
    h[H_WIDTH] = (unsigned char)type_width(type);
    put_u64(h + H_NROWS, w->nrows);
    put_u64(h + H_PAYLOAD, payload);
    put_u32(h + H_NDICT, ndict);
    put_u32(h + H_CRC, crc);
    put_u32(h + H_HCRC, tb__crc32c(0, h, H_HCRC));

    int rc;
    tb__afile af = {.fd = -1};
    char *path = col_path(w->dir, name);
    char *nm = strdup(name);
    if (!path || !nm) {
        rc = tb__seterr(&w->err, TB_ENOMEM, "out of memory writing column '%s'", name);
        goto out_free;
    }
    if ((rc = tb__afile_open(&af, path, COL_MODE, &w->err))) goto out_free;
    if (payload >= DIRECT_MIN && (rc = tb__afile_direct(&af, &w->err))) goto out_abort;
    if (w->key && meta_is_c2(meta)) {
        /* The same bytes, as a sealed stream: the manifest's size and checksum stay those of the
         * plaintext (docs/snapshot.md, "Sealed columns"). */
        tb__c2_swriter sw;
        char ad[TB__SNAP_NAME_MAX + 32];
        rc = tb__c2_swriter_begin(&sw, &af, w->key, ad, col_ad(name, ad), &w->err);
        if (!rc) rc = tb__c2_swriter_write(&sw, h, sizeof h, &w->err);
        for (size_t i = 0; !rc && i < npc; i++)
            rc = tb__c2_swriter_write(&sw, pc[i].p, pc[i].n, &w->err);
        if (!rc) rc = tb__c2_swriter_end(&sw, &w->err);
        tb__c2_swriter_release(&sw);
        if (rc) goto out_abort;
    } else {
        if ((rc = tb__afile_write(&af, h, sizeof h, &w->err))) goto out_abort;
        for (size_t i = 0; i < npc; i++)
            if (pc[i].n && (rc = tb__afile_write(&af, pc[i].p, pc[i].n, &w->err))) goto out_abort;
    }
    /* Durable at tb__snap_writer_commit, before the manifest: until then nothing reads it. A failed
     * publish has renamed nothing and removed its temp file. */
    if ((rc = tb__afile_publish(&af, &w->err))) goto out_free;
    wcol *c = &w->cols[w->ncols++];
    c->name = nm;
    c->type = type;
    c->bytes = TB__SNAP_HEADER_SIZE + payload;
    c->crc = crc;
    c->ndict = ndict;
    c->meta = meta;
    free(path);
    return 0;
out_abort:
    tb__afile_abort(&af);
out_free:
    free(path);
    free(nm);
    json_decref(meta);
    return rc;
}

static int put_fixed(tb__snap_writer *w, const char *name, int type, const void *vals,
                     const char *meta_json)
{
    json_t *meta;
    int rc = put_begin(w, name, vals, meta_json, &meta);
    if (rc) return rc;
    piece pc = {vals, (size_t)(w->nrows * type_width(type))};
    return write_col(w, name, type, 0, &pc, 1, meta);
}

int tb__snap_put_i64(tb__snap_writer *w, const char *name, const int64_t *vals,
                     const char *meta_json)
{
    return put_fixed(w, name, TB__SNAP_I64, vals, meta_json);
}

int tb__snap_put_i32(tb__snap_writer *w, const char *name, const int32_t *vals,
                     const char *meta_json)
{
    return put_fixed(w, name, TB__SNAP_I32, vals, meta_json);
}

int tb__snap_put_u8(tb__snap_writer *w, const char *name, const uint8_t *vals,
                    const char *meta_json)
{
    return put_fixed(w, name, TB__SNAP_U8, vals, meta_json);
}

int tb__snap_put_dict(tb__snap_writer *w, const char *name, const uint32_t *codes,
                      const char *const *dict, const uint32_t *dict_len, uint32_t ndict,
                      const char *meta_json)
{
    json_t *meta;
    int rc = put_begin(w, name, codes, meta_json, &meta);
    if (rc) return rc;
    uint64_t *offs = NULL;
    tb__buf bytes = TB__BUF_INIT;
    if (ndict == 0 || (ndict > 1 && (!dict || !dict_len))) {
        rc = tb__seterr(&w->err, TB_EINVAL, "column '%s': dictionary needs ndict >= 1 and entries",
                        name);
        goto out_free;
    }
    /* A code out of range would be caught by verify, but only after the snapshot is committed:
     * refuse it now, where the caller can still fix it. */
    for (uint64_t i = 0; i < w->nrows; i++)
        if (codes[i] >= ndict) {
            rc = tb__seterr(&w->err, TB_EINVAL, "column '%s' row %llu: code %u, ndict is %u", name,
                            (unsigned long long)i, codes[i], ndict);
            goto out_free;
        }
    offs = malloc(((size_t)ndict + 1) * sizeof *offs);
    if (!offs) goto out_nomem;
    offs[0] = offs[1] = 0;
    for (uint32_t i = 1; i < ndict; i++) {
        if (!dict[i] && dict_len[i]) {
            rc =
                tb__seterr(&w->err, TB_EINVAL, "column '%s': dictionary entry %u is NULL", name, i);
            goto out_free;
        }
        if (dict_len[i] && tb__buf_append(&bytes, dict[i], dict_len[i])) goto out_nomem;
        offs[i + 1] = bytes.len;
    }
    static const unsigned char zeros[8];
    size_t codes_len = (size_t)w->nrows * 4;
    piece pc[4] = {
        {codes, codes_len},
        {zeros, (size_t)(align8(codes_len) - codes_len)},
        {offs, ((size_t)ndict + 1) * sizeof *offs},
        {bytes.data, bytes.len},
    };
    rc = write_col(w, name, TB__SNAP_DICT, ndict, pc, 4, meta);
    meta = NULL; /* consumed */
    goto out_free;
out_nomem:
    rc = tb__seterr(&w->err, TB_ENOMEM, "out of memory building the dictionary of '%s'", name);
out_free:
    json_decref(meta);
    free(offs);
    tb__buf_release(&bytes);
    return rc;
}

static void writer_free(tb__snap_writer *w)
{
    for (size_t i = 0; i < w->ncols; i++) {
        free(w->cols[i].name);
        json_decref(w->cols[i].meta);
    }
    free(w->cols);
    free(w->dir);
    free(w);
}

/* Removes what the writer put into its directory, then the directory. The manifest is removed
 * first so that a crash in the middle leaves a directory that open refuses, never a manifest
 * naming missing files. */
static void writer_remove(tb__snap_writer *w)
{
    char *p;
    if (!w->fork && asprintf(&p, "%s/%s", w->dir, TB__SNAP_MANIFEST) >= 0) {
        unlink(p);
        free(p);
    }
    for (size_t i = 0; i < w->ncols; i++) {
        if ((p = col_path(w->dir, w->cols[i].name)) != NULL) {
            unlink(p);
            free(p);
        }
    }
    if (!w->fork) rmdir(w->dir);
}

void tb__snap_writer_abort(tb__snap_writer *w)
{
    if (!w) return;
    writer_remove(w);
    writer_free(w);
}

int tb__snap_writer_fork(tb__snap_writer *w, tb__snap_writer **out, tb__errbuf *eb)
{
    *out = NULL;
    tb__snap_writer *f = calloc(1, sizeof *f);
    if (!f || !(f->dir = strdup(w->dir))) {
        free(f);
        return tb__seterr(eb, TB_ENOMEM, "out of memory opening snapshot writer");
    }
    f->nrows = w->nrows;
    f->key = w->key;
    f->fork = 1;
    *out = f;
    return 0;
}

int tb__snap_writer_join(tb__snap_writer *w, tb__snap_writer *fork, tb__errbuf *eb)
{
    if (w->cap - w->ncols < fork->ncols) {
        size_t ncap = w->ncols + fork->ncols;
        wcol *c = realloc(w->cols, ncap * sizeof *c);
        if (!c) {
            tb__snap_writer_abort(fork);
            return tb__seterr(eb, TB_ENOMEM, "out of memory writing snapshot '%s'", w->dir);
        }
        w->cols = c;
        w->cap = ncap;
    }
    if (fork->ncols) memcpy(w->cols + w->ncols, fork->cols, fork->ncols * sizeof *fork->cols);
    w->ncols += fork->ncols;
    fork->ncols = 0; /* the names and metadata are w's now */
    writer_free(fork);
    return 0;
}

int tb__snap_writer_commit(tb__snap_writer *w, const char *snapshot_meta_json, tb__errbuf *eb)
{
    int rc;
    json_t *meta = NULL, *root = NULL, *cols = NULL;
    char *text = NULL, *path = NULL;
    assert(!w->fork); /* a fork's columns are committed by the writer it was forked from */
    if ((rc = parse_meta(snapshot_meta_json, &meta, eb, "snapshot"))) goto out_remove;
    root = json_object();
    cols = json_array();
    if (!root || !cols) goto out_nomem;
    if (json_object_set_new(root, "format", json_string("tagbase-snapshot")) ||
        json_object_set_new(root, "version", json_integer(TB__SNAP_FORMAT_VERSION)) ||
        json_object_set_new(root, "nrows", json_integer((json_int_t)w->nrows)) ||
        json_object_set(root, "columns", cols) ||
        json_object_set(root, "meta", meta ? meta : json_null()))
        goto out_nomem;
    for (size_t i = 0; i < w->ncols; i++) {
        const wcol *c = &w->cols[i];
        char file[TB__SNAP_NAME_MAX + 8];
        snprintf(file, sizeof file, "%s.col", c->name);
        json_t *o = json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:O?}", "name", c->name, "type",
                              tb__snap_type_name((tb__snap_type)c->type), "file", file, "bytes",
                              (json_int_t)c->bytes, "crc32c", (json_int_t)c->crc, "ndict",
                              (json_int_t)c->ndict, "meta", c->meta);
        if (!o || json_array_append_new(cols, o)) goto out_nomem;
    }
    text = json_dumps(root, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
    if (asprintf(&path, "%s/%s", w->dir, TB__SNAP_MANIFEST) < 0) path = NULL;
    if (!text || !path) goto out_nomem;
    /* The column files were written without a wait for the disk (tb__afile_publish), which has
     * been writing them meanwhile: each is made durable now, then their names, and only then the
     * manifest, so that once its rename is durable the snapshot is complete. */
    for (size_t i = 0; i < w->ncols; i++) {
        char *col = col_path(w->dir, w->cols[i].name);
        rc = col ? tb__fsync_file(col, eb) : tb__seterr(eb, TB_ENOMEM, "out of memory");
        free(col);
        if (rc) goto out_remove;
    }
    if ((rc = tb__fsync_dir(w->dir, eb))) goto out_remove;
    if ((rc = tb__file_write_atomic(path, text, strlen(text), 0444, eb))) goto out_remove;
    if ((rc = tb__fsync_parent(w->dir, eb))) goto out_remove;
    goto out_free;
out_nomem:
    rc = tb__seterr(eb, TB_ENOMEM, "out of memory writing the manifest of '%s'", w->dir);
out_remove:
    writer_remove(w);
out_free:
    free(path);
    free(text);
    json_decref(cols);
    json_decref(root);
    json_decref(meta);
    writer_free(w);
    return rc;
}

/* ---------------------------------------------------------------------------------------------
 * Validating parser
 */

int tb__snap_col_parse_safe(const void *buf, size_t len, const char *fname, tb__snap_col *out,
                            uint32_t *payload_crc, tb__errbuf *eb)
{
    const unsigned char *b = buf;
    memset(out, 0, sizeof *out);
    *payload_crc = 0;
    if ((uintptr_t)buf & 7)
        return tb__seterr(eb, TB_EINVAL, "'%s': buffer is not 8-byte aligned", fname);
    if (len < TB__SNAP_HEADER_SIZE)
        return tb__seterr(eb, TB_ECORRUPT, "'%s' byte %zu: file ends inside the %d-byte header",
                          fname, len, TB__SNAP_HEADER_SIZE);
    if (memcmp(b + H_MAGIC, k_magic, 8) != 0)
        return tb__seterr(eb, TB_ECORRUPT, "'%s' byte 0: bad magic, expected \"TBCOL1\"", fname);
    uint32_t hcrc = tb__crc32c(0, b, H_HCRC);
    if (get_u32(b + H_HCRC) != hcrc)
        return tb__seterr(eb, TB_ECORRUPT,
                          "'%s' byte %d: header checksum is 0x%08X, computed 0x%08X", fname, H_HCRC,
                          get_u32(b + H_HCRC), hcrc);
    uint32_t ver = get_u32(b + H_VERSION);
    if (ver != TB__SNAP_FORMAT_VERSION)
        return tb__seterr(eb, ver > TB__SNAP_FORMAT_VERSION ? TB_EVERSION : TB_ECORRUPT,
                          "'%s' byte %d: format version %u, this build reads %d", fname, H_VERSION,
                          ver, TB__SNAP_FORMAT_VERSION);
    int type = b[H_TYPE];
    size_t width = type_width(type);
    if (!width)
        return tb__seterr(eb, TB_ECORRUPT, "'%s' byte %d: unknown column type %d", fname, H_TYPE,
                          type);
    if (b[H_WIDTH] != width)
        return tb__seterr(eb, TB_ECORRUPT, "'%s' byte %d: value width %u, type %s has %zu", fname,
                          H_WIDTH, b[H_WIDTH], tb__snap_type_name((tb__snap_type)type), width);
    for (int i = 14; i < 16; i++)
        if (b[i])
            return tb__seterr(eb, TB_ECORRUPT, "'%s' byte %d: reserved byte is not 0", fname, i);
    for (int i = H_RESERVED; i < H_HCRC; i++)
        if (b[i])
            return tb__seterr(eb, TB_ECORRUPT, "'%s' byte %d: reserved byte is not 0", fname, i);
    uint64_t nrows = get_u64(b + H_NROWS);
    if (nrows > MAX_ROWS)
        return tb__seterr(eb, TB_ECORRUPT, "'%s' byte %d: nrows %llu is above 2^40", fname, H_NROWS,
                          (unsigned long long)nrows);
    uint64_t payload = get_u64(b + H_PAYLOAD);
    uint64_t have = len - TB__SNAP_HEADER_SIZE;
    if (payload != have)
        return tb__seterr(eb, TB_ECORRUPT,
                          "'%s' byte %zu: header says %llu payload bytes, the file has %llu "
                          "(truncated or extended)",
                          fname, len, (unsigned long long)payload, (unsigned long long)have);
    uint32_t ndict = get_u32(b + H_NDICT);
    uint64_t vbytes = nrows * width;
    const unsigned char *p = b + TB__SNAP_HEADER_SIZE;
    if (type != TB__SNAP_DICT) {
        if (ndict != 0)
            return tb__seterr(eb, TB_ECORRUPT, "'%s' byte %d: ndict %u in a %s column", fname,
                              H_NDICT, ndict, tb__snap_type_name((tb__snap_type)type));
        if (payload != vbytes)
            return tb__seterr(
                eb, TB_ECORRUPT, "'%s' byte %d: %llu payload bytes for %llu rows of %zu bytes",
                fname, H_PAYLOAD, (unsigned long long)payload, (unsigned long long)nrows, width);
    } else {
        if (ndict == 0)
            return tb__seterr(eb, TB_ECORRUPT, "'%s' byte %d: ndict is 0, expected >= 1", fname,
                              H_NDICT);
        uint64_t off_at = align8(vbytes);
        uint64_t off_len = ((uint64_t)ndict + 1) * 8;
        if (payload < off_at || payload - off_at < off_len)
            return tb__seterr(eb, TB_ECORRUPT,
                              "'%s' byte %zu: file ends inside the dictionary offsets (need %llu "
                              "bytes for %llu codes and %u entries)",
                              fname, len, (unsigned long long)(off_at + off_len),
                              (unsigned long long)nrows, ndict);
        const unsigned char *o = p + off_at;
        uint64_t blen = payload - off_at - off_len;
        uint64_t prev = 0;
        for (uint64_t i = 0; i <= ndict; i++) {
            uint64_t v = get_u64(o + i * 8);
            size_t at = (size_t)(TB__SNAP_HEADER_SIZE + off_at + i * 8);
            /* Entry 0 (NULL) is empty by definition: offsets[0] == offsets[1] == 0. */
            if ((i <= 1 && v != 0) || v < prev || v > blen)
                return tb__seterr(eb, TB_ECORRUPT,
                                  "'%s' byte %zu: dictionary offset %llu is %llu, expected %s",
                                  fname, at, (unsigned long long)i, (unsigned long long)v,
                                  i <= 1 ? "0" : "non-decreasing and within the dictionary bytes");
            prev = v;
        }
        if (prev != blen)
            return tb__seterr(eb, TB_ECORRUPT,
                              "'%s' byte %zu: last dictionary offset is %llu, the bytes are %llu",
                              fname, (size_t)(TB__SNAP_HEADER_SIZE + off_at + (uint64_t)ndict * 8),
                              (unsigned long long)prev, (unsigned long long)blen);
        out->ndict = ndict;
        out->dict_off = (const uint64_t *)(const void *)o;
        out->dict_bytes = (const char *)(o + off_len);
        out->dict_bytes_len = blen;
    }
    out->type = (tb__snap_type)type;
    out->nrows = nrows;
    out->values = nrows ? p : NULL;
    *payload_crc = get_u32(b + H_CRC);
    return 0;
}

int tb__snap_col_check_safe(const void *buf, size_t len, const char *fname, const tb__snap_col *col,
                            uint32_t payload_crc, tb__errbuf *eb)
{
    if (len < TB__SNAP_HEADER_SIZE)
        return tb__seterr(eb, TB_ECORRUPT, "'%s': file shorter than its header", fname);
    uint32_t crc = tb__crc32c(0, (const unsigned char *)buf + TB__SNAP_HEADER_SIZE,
                              len - TB__SNAP_HEADER_SIZE);
    if (crc != payload_crc)
        return tb__seterr(eb, TB_ECORRUPT,
                          "'%s' bytes %d..%zu: payload checksum is 0x%08X, expected 0x%08X", fname,
                          TB__SNAP_HEADER_SIZE, len, crc, payload_crc);
    if (col->type == TB__SNAP_DICT && col->nrows) {
        const uint32_t *c = col->values;
        uint32_t bad = 0;
        /* Branch-free max so the loop vectorises: the common case is one pass, no error. */
        for (uint64_t i = 0; i < col->nrows; i++)
            bad = c[i] > bad ? c[i] : bad;
        if (bad >= col->ndict) {
            for (uint64_t i = 0; i < col->nrows; i++)
                if (c[i] >= col->ndict)
                    return tb__seterr(eb, TB_ECORRUPT,
                                      "'%s' byte %llu: row %llu has code %u, ndict is %u", fname,
                                      (unsigned long long)(TB__SNAP_HEADER_SIZE + i * 4),
                                      (unsigned long long)i, c[i], col->ndict);
        }
    }
    return 0;
}

const char *tb__snap_dict_str(const tb__snap_col *c, uint32_t code, size_t *len)
{
    *len = 0;
    if (c->type != TB__SNAP_DICT || code == 0 || code >= c->ndict) return NULL;
    /* The offsets were checked non-decreasing and bounded when the file was opened. */
    uint64_t a = c->dict_off[code], e = c->dict_off[code + 1];
    *len = (size_t)(e - a);
    return c->dict_bytes + a;
}

/* ---------------------------------------------------------------------------------------------
 * Reader
 */

typedef struct rcol {
    tb__snap_col col; /* name and meta_json point at the strings below */
    char *name;
    char *meta;
    char *path;
    void *map;
    size_t map_len;
    int heap;     /* map is the plaintext of a sealed file, in memory (free, not munmap) */
    uint32_t crc; /* from the manifest, equal to the header's */
} rcol;

struct tb__snap {
    char *dir;
    const tb__keyring *ring; /* opens sealed columns; borrowed, may be NULL */
    uint64_t nrows;
    char *meta;
    rcol *cols;
    size_t ncols;
    const rcol **by_name; /* the columns sorted by name, for binary search */
};

uint64_t tb__snap_nrows(const tb__snap *s)
{
    return s->nrows;
}

size_t tb__snap_ncolumns(const tb__snap *s)
{
    return s->ncols;
}

const char *tb__snap_meta_json(const tb__snap *s)
{
    return s->meta;
}

int tb__snap_column_at(const tb__snap *s, size_t i, tb__snap_col *out)
{
    if (i >= s->ncols) {
        memset(out, 0, sizeof *out);
        return TB_ERANGE;
    }
    *out = s->cols[i].col;
    return 0;
}

int tb__snap_column(const tb__snap *s, const char *name, tb__snap_col *out)
{
    size_t lo = 0, hi = s->ncols;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(s->by_name[mid]->name, name);
        if (c == 0) {
            *out = s->by_name[mid]->col;
            return 0;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    memset(out, 0, sizeof *out);
    return TB_ENOENT;
}

void tb__snap_close(tb__snap *s)
{
    if (!s) return;
    for (size_t i = 0; i < s->ncols; i++) {
        rcol *c = &s->cols[i];
        if (c->map && c->heap) {
            sodium_memzero(c->map, c->map_len);
            free(c->map);
        } else if (c->map) {
            munmap(c->map, c->map_len);
        }
        free(c->name);
        free(c->meta);
        free(c->path);
    }
    free(s->cols);
    free(s->by_name);
    free(s->meta);
    free(s->dir);
    free(s);
}

/* Compact JSON text of an object member, or NULL when it is absent or null. */
static int meta_text(json_t *v, char **out)
{
    *out = NULL;
    if (!v || json_is_null(v)) return 0;
    *out = json_dumps(v, JSON_COMPACT | JSON_PRESERVE_ORDER);
    return *out ? 0 : TB_ENOMEM;
}

/* An integer member in [0, max]; -1 when missing, not an integer or out of range. */
static int64_t get_int(json_t *o, const char *key, int64_t max)
{
    json_t *v = json_object_get(o, key);
    if (!json_is_integer(v)) return -1;
    json_int_t n = json_integer_value(v);
    return n < 0 || n > max ? -1 : (int64_t)n;
}

static int cmp_name(const void *a, const void *b)
{
    return strcmp((*(const rcol *const *)a)->name, (*(const rcol *const *)b)->name);
}

/* Maps one column file (or reads a sealed one's plaintext into memory) and checks it against its
 * manifest entry. */
static int open_col(tb__snap *s, rcol *c, int type, uint64_t bytes, uint32_t crc, uint32_t ndict,
                    tb__errbuf *eb)
{
    int fd = open(c->path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        return tb__seterr_errno(eb, e == ENOENT ? TB_ECORRUPT : TB_EIO, e,
                                "cannot open column file '%s' listed in the manifest", c->path);
    }
    int rc = 0;
    struct stat st;
    if (fstat(fd, &st) != 0) {
        rc = tb__seterr_errno(eb, TB_EIO, errno, "cannot stat '%s'", c->path);
        goto out_close;
    }
    if (bytes <= SIZE_MAX && tb__c2_fd_key(fd)) {
        char ad[TB__SNAP_NAME_MAX + 32];
        void *p;
        size_t len;
        rc = tb__c2_file_read(c->path, s->ring, ad, col_ad(c->name, ad), (size_t)bytes, &p, &len,
                              eb);
        if (rc) goto out_close;
        c->map = p;
        c->map_len = len;
        c->heap = 1;
        if (len != bytes) {
            rc = tb__seterr(eb, TB_ECORRUPT,
                            "'%s' (sealed) byte %llu: %llu bytes inside, manifest says %llu",
                            c->path, (unsigned long long)(len < bytes ? len : bytes),
                            (unsigned long long)len, (unsigned long long)bytes);
            goto out_close;
        }
        goto parse;
    }
    if ((uint64_t)st.st_size != bytes) {
        rc = tb__seterr(
            eb, TB_ECORRUPT, "'%s' byte %llu: file is %llu bytes, manifest says %llu", c->path,
            (unsigned long long)((uint64_t)st.st_size < bytes ? (uint64_t)st.st_size : bytes),
            (unsigned long long)st.st_size, (unsigned long long)bytes);
        goto out_close;
    }
    if (bytes < TB__SNAP_HEADER_SIZE || bytes > SIZE_MAX) {
        rc = tb__seterr(eb, TB_ECORRUPT, "'%s' byte 0: %llu bytes cannot hold a column", c->path,
                        (unsigned long long)bytes);
        goto out_close;
    }
    void *m = mmap(NULL, (size_t)bytes, PROT_READ, MAP_SHARED, fd, 0);
    if (m == MAP_FAILED) {
        rc = tb__seterr_errno(eb, TB_EIO, errno, "cannot map '%s'", c->path);
        goto out_close;
    }
    c->map = m;
    c->map_len = (size_t)bytes;
parse:;
    uint32_t hcrc;
    if ((rc = tb__snap_col_parse_safe(c->map, c->map_len, c->path, &c->col, &hcrc, eb)))
        goto out_close;
    if ((int)c->col.type != type)
        rc = tb__seterr(eb, TB_ECORRUPT, "'%s' byte %d: type %s, manifest says %s", c->path, H_TYPE,
                        tb__snap_type_name(c->col.type), tb__snap_type_name((tb__snap_type)type));
    else if (c->col.nrows != s->nrows)
        rc = tb__seterr(eb, TB_ECORRUPT, "'%s' byte %d: nrows is %llu, manifest says %llu", c->path,
                        H_NROWS, (unsigned long long)c->col.nrows, (unsigned long long)s->nrows);
    else if (c->col.ndict != ndict)
        rc = tb__seterr(eb, TB_ECORRUPT, "'%s' byte %d: ndict is %u, manifest says %u", c->path,
                        H_NDICT, c->col.ndict, ndict);
    else if (hcrc != crc)
        rc = tb__seterr(eb, TB_ECORRUPT,
                        "'%s' byte %d: payload checksum 0x%08X, manifest says 0x%08X", c->path,
                        H_CRC, hcrc, crc);
    if (rc) goto out_close;
    /* Point engines' scans at the kernel's read-ahead; the values are read front to back. */
    if (!c->heap) (void)madvise(c->map, c->map_len, MADV_WILLNEED);
    c->crc = crc;
    c->col.name = c->name;
    c->col.meta_json = c->meta;
out_close:
    close(fd);
    return rc;
}

int tb__snap_open(const char *dir, tb__snap **out, tb__errbuf *eb)
{
    return tb__snap_open_keys(dir, NULL, out, eb);
}

int tb__snap_open_keys(const char *dir, const tb__keyring *ring, tb__snap **out, tb__errbuf *eb)
{
    *out = NULL;
    int rc;
    char *mpath = NULL, *text = NULL;
    size_t tlen = 0;
    json_t *root = NULL;
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return tb__seterr(eb, TB_ENOENT, "no snapshot directory '%s'", dir);
    tb__snap *s = calloc(1, sizeof *s);
    if (s) s->ring = ring;
    if (!s || !(s->dir = strdup(dir)) || asprintf(&mpath, "%s/%s", dir, TB__SNAP_MANIFEST) < 0) {
        mpath = NULL;
        goto out_nomem;
    }
    rc = tb__file_read_all(mpath, TB__SNAP_MANIFEST_MAX, &text, &tlen, eb);
    if (rc == TB_ENOENT) {
        rc =
            tb__seterr(eb, TB_ENOENT, "incomplete snapshot '%s': no %s (the writer did not commit)",
                       dir, TB__SNAP_MANIFEST);
        goto out_fail;
    }
    if (rc) goto out_fail;
    json_error_t je;
    root = json_loadb(text, tlen, JSON_REJECT_DUPLICATES, &je);
    if (!root) {
        rc = tb__seterr(eb, TB_ECORRUPT, "'%s' byte %d: %s", mpath, je.position, je.text);
        goto out_fail;
    }
    const char *fmt = json_string_value(json_object_get(root, "format"));
    if (!json_is_object(root) || !fmt || strcmp(fmt, "tagbase-snapshot") != 0) {
        rc = tb__seterr(eb, TB_ECORRUPT, "'%s': not a snapshot manifest (format)", mpath);
        goto out_fail;
    }
    int64_t ver = get_int(root, "version", INT32_MAX);
    if (ver != TB__SNAP_FORMAT_VERSION) {
        rc = tb__seterr(eb, ver > TB__SNAP_FORMAT_VERSION ? TB_EVERSION : TB_ECORRUPT,
                        "'%s': format version %lld, this build reads %d", mpath, (long long)ver,
                        TB__SNAP_FORMAT_VERSION);
        goto out_fail;
    }
    int64_t nrows = get_int(root, "nrows", (int64_t)MAX_ROWS);
    json_t *cols = json_object_get(root, "columns");
    json_t *meta = json_object_get(root, "meta");
    if (nrows < 0 || !json_is_array(cols) ||
        (meta && !json_is_null(meta) && !json_is_object(meta))) {
        rc = tb__seterr(eb, TB_ECORRUPT, "'%s': nrows, columns or meta missing or invalid", mpath);
        goto out_fail;
    }
    s->nrows = (uint64_t)nrows;
    if (json_array_size(cols) > TB__SNAP_MAX_COLUMNS) {
        rc = tb__seterr(eb, TB_ELIMIT, "'%s': %zu columns, the limit is %d", mpath,
                        json_array_size(cols), TB__SNAP_MAX_COLUMNS);
        goto out_fail;
    }
    if (meta_text(meta, &s->meta)) goto out_nomem;
    size_t n = json_array_size(cols);
    s->cols = calloc(n ? n : 1, sizeof *s->cols);
    s->by_name = calloc(n ? n : 1, sizeof *s->by_name);
    if (!s->cols || !s->by_name) goto out_nomem;
    for (size_t i = 0; i < n; i++) {
        json_t *c = json_array_get(cols, i);
        const char *name = json_string_value(json_object_get(c, "name"));
        const char *type = json_string_value(json_object_get(c, "type"));
        const char *file = json_string_value(json_object_get(c, "file"));
        int64_t bytes = get_int(c, "bytes", INT64_MAX);
        int64_t crc = get_int(c, "crc32c", UINT32_MAX);
        int64_t ndict = get_int(c, "ndict", UINT32_MAX);
        json_t *cm = json_object_get(c, "meta");
        int t = type ? type_parse(type) : 0;
        char want[TB__SNAP_NAME_MAX + 8];
        /* The file name is derived from the checked name, never taken from disk as a path. */
        if (!name || !valid_name(name) || !t || !file || bytes < 0 || crc < 0 || ndict < 0 ||
            (cm && !json_is_null(cm) && !json_is_object(cm)) ||
            snprintf(want, sizeof want, "%s.col", name) < 0 || strcmp(file, want) != 0) {
            rc = tb__seterr(eb, TB_ECORRUPT,
                            "'%s': columns[%zu] is missing or has an invalid "
                            "name, type, file, bytes, crc32c, ndict or meta",
                            mpath, i);
            goto out_fail;
        }
        rcol *rc_ = &s->cols[i];
        s->ncols = i + 1; /* from here on close() cleans this entry */
        rc_->name = strdup(name);
        rc_->path = col_path(dir, name);
        if (!rc_->name || !rc_->path || meta_text(cm, &rc_->meta)) goto out_nomem;
        s->by_name[i] = rc_;
        if ((rc = open_col(s, rc_, t, (uint64_t)bytes, (uint32_t)crc, (uint32_t)ndict, eb)))
            goto out_fail;
    }
    qsort(s->by_name, s->ncols, sizeof *s->by_name, cmp_name);
    for (size_t i = 1; i < s->ncols; i++)
        if (strcmp(s->by_name[i - 1]->name, s->by_name[i]->name) == 0) {
            rc = tb__seterr(eb, TB_ECORRUPT, "'%s': column '%s' is listed twice", mpath,
                            s->by_name[i]->name);
            goto out_fail;
        }
    s->ring = NULL; /* used by the open only */
    *out = s;
    s = NULL;
    rc = 0;
    goto out_free;
out_nomem:
    rc = tb__seterr(eb, TB_ENOMEM, "out of memory opening snapshot '%s'", dir);
out_fail:
    tb__snap_close(s);
out_free:
    json_decref(root);
    free(text);
    free(mpath);
    return rc;
}

int tb__snap_verify(const tb__snap *s, tb__errbuf *eb)
{
    for (size_t i = 0; i < s->ncols; i++) {
        const rcol *c = &s->cols[i];
        int rc = tb__snap_col_check_safe(c->map, c->map_len, c->path, &c->col, c->crc, eb);
        if (rc) return rc;
    }
    return 0;
}

/* ---------------------------------------------------------------------------------------------
 * Rewriting with rows blanked (erasure)
 */

/* Writes column c of the open snapshot into w with the rows in gids[0..n) set to NULL. A
 * dictionary keeps only the entries some remaining row uses, so a string only the blanked rows
 * had (a household id, say) leaves the file too. */
static int blank_column(tb__snap_writer *w, const tb__snap_col *c, const uint32_t *gids, size_t n)
{
    uint64_t nr = c->nrows;
    int rc = 0;
    switch (c->type) {
    case TB__SNAP_I64: {
        int64_t *v = malloc((nr ? nr : 1) * sizeof *v);
        if (!v) return TB_ENOMEM;
        if (nr) memcpy(v, c->values, nr * sizeof *v);
        for (size_t i = 0; i < n; i++)
            if (gids[i] < nr) v[gids[i]] = TB__SNAP_NULL_I64;
        rc = tb__snap_put_i64(w, c->name, v, c->meta_json);
        free(v);
        return rc;
    }
    case TB__SNAP_I32: {
        int32_t *v = malloc((nr ? nr : 1) * sizeof *v);
        if (!v) return TB_ENOMEM;
        if (nr) memcpy(v, c->values, nr * sizeof *v);
        for (size_t i = 0; i < n; i++)
            if (gids[i] < nr) v[gids[i]] = TB__SNAP_NULL_I32;
        rc = tb__snap_put_i32(w, c->name, v, c->meta_json);
        free(v);
        return rc;
    }
    case TB__SNAP_U8: {
        uint8_t *v = malloc(nr ? nr : 1);
        if (!v) return TB_ENOMEM;
        if (nr) memcpy(v, c->values, nr);
        for (size_t i = 0; i < n; i++)
            if (gids[i] < nr) v[gids[i]] = TB__SNAP_NULL_U8;
        rc = tb__snap_put_u8(w, c->name, v, c->meta_json);
        free(v);
        return rc;
    }
    case TB__SNAP_DICT:
        break;
    default:
        return TB_EINVAL;
    }
    uint32_t *codes = malloc((nr ? nr : 1) * sizeof *codes);
    uint32_t *map = calloc(c->ndict ? c->ndict : 1, sizeof *map); /* old code -> new code */
    const char **dict = calloc(c->ndict ? c->ndict : 1, sizeof *dict);
    uint32_t *dlen = calloc(c->ndict ? c->ndict : 1, sizeof *dlen);
    if (!codes || !map || !dict || !dlen) {
        rc = TB_ENOMEM;
        goto out;
    }
    if (nr) memcpy(codes, c->values, nr * sizeof *codes);
    for (size_t i = 0; i < n; i++)
        if (gids[i] < nr) codes[gids[i]] = TB__SNAP_NULL_DICT;
    for (uint64_t g = 0; g < nr; g++)
        if (codes[g] < c->ndict) map[codes[g]] = 1; /* used */
    uint32_t nd = 1;
    for (uint32_t k = 1; k < c->ndict; k++) {
        if (!map[k]) continue;
        size_t len;
        const char *s = tb__snap_dict_str(c, k, &len);
        dict[nd] = s ? s : "";
        dlen[nd] = (uint32_t)len;
        map[k] = nd++;
    }
    for (uint64_t g = 0; g < nr; g++)
        codes[g] = codes[g] && codes[g] < c->ndict ? map[codes[g]] : 0;
    rc = tb__snap_put_dict(w, c->name, codes, dict, dlen, nd, c->meta_json);
out:
    free(codes);
    free(map);
    free(dict);
    free(dlen);
    return rc;
}

int tb__snap_rewrite_blank(const char *src, const char *dst, const uint32_t *gids, size_t n,
                           const tb__keyring *ring, const tb__c2key *key, tb__errbuf *eb)
{
    tb__snap *s = NULL;
    int rc = tb__snap_open_keys(src, ring, &s, eb);
    if (rc) return rc;
    rc = tb__snap_verify(s, eb); /* never copy damaged bytes into a fresh checksum */
    tb__snap_writer *w = NULL;
    if (!rc) rc = tb__snap_writer_open(dst, tb__snap_nrows(s), &w, eb);
    if (!rc) tb__snap_writer_seal(w, key);
    for (size_t i = 0; !rc && i < tb__snap_ncolumns(s); i++) {
        tb__snap_col c;
        rc = tb__snap_column_at(s, i, &c);
        if (!rc) rc = blank_column(w, &c, gids, n);
        if (rc)
            rc = tb__seterr(
                eb, rc, "snapshot '%s': cannot rewrite column '%s': %s", src, c.name ? c.name : "?",
                *tb__snap_writer_errmsg(w) ? tb__snap_writer_errmsg(w) : tb_strerror(rc));
    }
    if (!rc) {
        rc = tb__snap_writer_commit(w, tb__snap_meta_json(s), eb);
        w = NULL;
    }
    tb__snap_writer_abort(w);
    tb__snap_close(s);
    return rc;
}

int tb__snap_c2_reseal(const char *dir, const tb__keyring *ring, const tb__c2key *to,
                       uint64_t *files, tb__errbuf *eb)
{
    tb__snap *s = NULL;
    int rc = tb__snap_open_keys(dir, ring, &s, eb);
    if (rc) return rc;
    rc = tb__snap_verify(s, eb); /* never seal damaged bytes */
    for (size_t i = 0; !rc && i < s->ncols; i++) {
        rcol *c = &s->cols[i];
        json_t *meta = c->meta ? json_loads(c->meta, 0, NULL) : NULL;
        int c2 = meta_is_c2(meta);
        json_decref(meta);
        if (!c2) continue;
        /* Already under `to`: nothing to do (an interrupted rotation runs again). */
        if (tb__c2_file_key(c->path) == to->id) continue;
        char ad[TB__SNAP_NAME_MAX + 32];
        rc = tb__c2_file_write(c->path, c->map, c->map_len, COL_MODE, to, ad, col_ad(c->name, ad),
                               eb);
        if (!rc && files) (*files)++;
    }
    tb__snap_close(s);
    return rc;
}
