/* tagstore.c — writing and reading the tag store of a build (tagstore.h). Each tag file is the
 * magic "TBTAGF1\n" followed by serialised bitmaps (or one BSI), each at an 8-byte aligned offset;
 * the manifest says where each lies, and the bitmaps carry their own checksums. */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/crc32c.h"
#include "store/crypt.h"
#include "store/file.h"
#include "tags/tagstore.h"

#define FILE_MAGIC     "TBTAGF1\n"
#define FILE_MAGIC_LEN 8
#define MAX_TAGS       100000
#define MAX_VALUES     65536

static const char *const vtype_names[] = {"boolean", "enum", "integer", "decimal", "date"};
static const char *const type_names[] = {"fact",  "rule",     "statistical",
                                         "model", "external", "realtime"};

/* ---- writing ---------------------------------------------------------------------------------*/

struct tb__tagw {
    char *dir;
    uint64_t nrows;
    json_t *tags; /* manifest entries */
    json_t *universe;
    json_t *keys;
    uint64_t bytes;
    const tb__c2key *key; /* seal C2 tags' files under it (tb__tagw_seal), or NULL */
};

int tb__tagw_open(const char *dir, uint64_t nrows, tb__tagw **out, tb__errbuf *eb)
{
    *out = NULL;
    if (mkdir(dir, 0750) != 0)
        return tb__seterr_errno(eb, errno == EEXIST ? TB_EEXIST : TB_EIO, errno,
                                "cannot create tag store '%s'", dir);
    tb__tagw *w = calloc(1, sizeof *w);
    if (w) w->dir = strdup(dir);
    if (w) w->tags = json_array();
    if (!w || !w->dir || !w->tags) {
        if (w) free(w->dir), json_decref(w->tags), free(w);
        rmdir(dir);
        return tb__seterr(eb, TB_ENOMEM, "out of memory");
    }
    w->nrows = nrows;
    *out = w;
    return 0;
}

/* Pads `b` with zeros to a multiple of 8 bytes. */
static int pad8(tb__buf *b)
{
    static const char zero[8];
    return b->len % 8 ? tb__buf_append(b, zero, 8 - b->len % 8) : 0;
}

void tb__tagw_seal(tb__tagw *w, const tb__c2key *key)
{
    w->key = key;
}

/* The associated data of a sealed file of the store: its name, so that files cannot be swapped. */
static size_t file_ad(const char *name, char out[160])
{
    return (size_t)snprintf(out, 160, "tagbase-tagstore-file:%.128s", name);
}

/* 1 for the pi_class of a C2 tag (JR/T 0171): its file is sealed on an encrypted store. */
static int class_c2(const char *pi_class)
{
    return pi_class && strcmp(pi_class, "C2") == 0;
}

/* Writes `b` to "<dir>/<name>" crash-safely (sealed when `c2` and the writer has a key) and
 * returns its manifest entry fields: the plaintext's size and checksum either way. */
static int write_file(tb__tagw *w, const char *name, const tb__buf *b, int c2, json_t *entry,
                      tb__errbuf *eb)
{
    char path[4096], ad[160];
    if (snprintf(path, sizeof path, "%s/%s", w->dir, name) >= (int)sizeof path)
        return tb__seterr(eb, TB_EINVAL, "path too long for '%s'", name);
    int rc = tb__c2_file_write(path, b->data, b->len, 0640, c2 ? w->key : NULL, ad,
                               file_ad(name, ad), eb);
    if (rc) return rc;
    w->bytes += b->len;
    uint32_t crc = tb__crc32c(0, b->data, b->len);
    if (json_object_set_new(entry, "file", json_string(name)) ||
        json_object_set_new(entry, "bytes", json_integer((json_int_t)b->len)) ||
        json_object_set_new(entry, "crc32c", json_integer(crc)))
        return tb__seterr(eb, TB_ENOMEM, "out of memory");
    return 0;
}

int tb__tagw_put_universe(tb__tagw *w, const tb__bm_builder *live, tb__errbuf *eb)
{
    tb__buf b = TB__BUF_INIT;
    json_t *e = json_object();
    int rc = e && !tb__buf_append(&b, FILE_MAGIC, FILE_MAGIC_LEN) ? 0 : TB_ENOMEM;
    if (!rc) rc = tb__bm_serialize(live, &b);
    if (!rc)
        rc = json_object_set_new(e, "customers",
                                 json_integer((json_int_t)tb__bm_builder_cardinality(live)))
                 ? TB_ENOMEM
                 : 0;
    if (rc) rc = tb__seterr(eb, rc, "cannot serialise the universe: %s", tb_strerror(rc));
    if (!rc) rc = write_file(w, "universe.bm", &b, 0, e, eb);
    tb__buf_release(&b);
    if (rc) {
        json_decref(e);
        return rc;
    }
    json_decref(w->universe);
    w->universe = e;
    return 0;
}

int tb__tagw_put_keys(tb__tagw *w, const char *blob, const uint64_t *offs, tb__errbuf *eb)
{
    tb__buf b = TB__BUF_INIT;
    json_t *e = json_object();
    uint64_t n = w->nrows, nb = offs[n];
    int rc =
        e && !tb__buf_append(&b, FILE_MAGIC, FILE_MAGIC_LEN) && !tb__buf_append(&b, &n, sizeof n) &&
                !tb__buf_append(&b, offs, (n + 1) * sizeof *offs) && !tb__buf_append(&b, blob, nb)
            ? 0
            : tb__seterr(eb, TB_ENOMEM, "out of memory");
    if (!rc) rc = write_file(w, "keys.bin", &b, 0, e, eb);
    tb__buf_release(&b);
    if (rc) {
        json_decref(e);
        return rc;
    }
    json_decref(w->keys);
    w->keys = e;
    return 0;
}

/* The manifest entry of a tag's metadata. */
static json_t *meta_entry(const tb__tag_meta *m)
{
    json_t *src = NULL;
    if (m->sources_json) src = json_loads(m->sources_json, 0, NULL);
    json_t *e =
        json_pack("{s:s, s:s, s:s, s:s, s:s, s:i, s:i, s:s, s:i, s:o}", "code", m->code, "name_zh",
                  m->name_zh ? m->name_zh : "", "name_en", m->name_en ? m->name_en : "", "type",
                  type_names[m->type], "vtype", vtype_names[m->vtype], "scale", m->scale, "version",
                  m->version, "pi_class", m->pi_class ? m->pi_class : "C1", "security_level",
                  m->security_level, "sources", src ? src : json_array());
    return e;
}

/* A tag code is also a file name: keep it to [a-z0-9_]. */
static int check_code(const char *code, tb__errbuf *eb)
{
    size_t n = code ? strlen(code) : 0;
    if (n == 0 || n > 64) return tb__seterr(eb, TB_EINVAL, "bad tag code");
    for (size_t i = 0; i < n; i++)
        if (!((code[i] >= 'a' && code[i] <= 'z') || (code[i] >= '0' && code[i] <= '9') ||
              code[i] == '_'))
            return tb__seterr(eb, TB_EINVAL, "bad tag code '%s'", code);
    return 0;
}

static int add_tag(tb__tagw *w, const tb__tag_meta *m, tb__buf *b, json_t *e, tb__errbuf *eb)
{
    char name[80];
    snprintf(name, sizeof name, "%s.tag", m->code);
    int rc = write_file(w, name, b, class_c2(m->pi_class), e, eb);
    if (!rc && json_array_append_new(w->tags, e))
        rc = tb__seterr(eb, TB_ENOMEM, "out of memory");
    else if (rc)
        json_decref(e);
    return rc;
}

int tb__tagw_put_values(tb__tagw *w, const tb__tag_meta *m, const char *const *values,
                        tb__bm_builder *const *bms, size_t nvalues, tb__errbuf *eb)
{
    int rc = check_code(m->code, eb);
    if (rc) return rc;
    if (m->vtype != TB__TV_BOOL && m->vtype != TB__TV_ENUM)
        return tb__seterr(eb, TB_EINVAL, "tag '%s' is not boolean or enum", m->code);
    if (nvalues > MAX_VALUES)
        return tb__seterr(eb, TB_ELIMIT, "tag '%s': too many values", m->code);
    tb__buf b = TB__BUF_INIT;
    json_t *e = meta_entry(m), *vals = json_array();
    uint64_t coverage = 0;
    rc = e && vals && !tb__buf_append(&b, FILE_MAGIC, FILE_MAGIC_LEN) ? 0 : TB_ENOMEM;
    for (size_t i = 0; !rc && i < nvalues; i++) {
        size_t off = b.len;
        rc = tb__bm_serialize(bms[i], &b);
        if (!rc) rc = pad8(&b);
        uint64_t card = tb__bm_builder_cardinality(bms[i]);
        coverage += card;
        if (!rc &&
            json_array_append_new(vals, json_pack("{s:s, s:I, s:I, s:I}", "value", values[i], "off",
                                                  (json_int_t)off, "len", (json_int_t)(b.len - off),
                                                  "count", (json_int_t)card)))
            rc = TB_ENOMEM;
    }
    if (!rc && (json_object_set_new(e, "values", vals) ||
                json_object_set_new(e, "coverage", json_integer((json_int_t)coverage))))
        rc = TB_ENOMEM;
    vals = NULL;
    if (rc) {
        json_decref(e);
        json_decref(vals);
        tb__buf_release(&b);
        return tb__seterr(eb, rc, "tag '%s': cannot serialise: %s", m->code, tb_strerror(rc));
    }
    rc = add_tag(w, m, &b, e, eb);
    tb__buf_release(&b);
    return rc;
}

int tb__tagw_put_bsi(tb__tagw *w, const tb__tag_meta *m, const tb__bsi_builder *bsi, tb__errbuf *eb)
{
    int rc = check_code(m->code, eb);
    if (rc) return rc;
    if (m->vtype == TB__TV_BOOL || m->vtype == TB__TV_ENUM)
        return tb__seterr(eb, TB_EINVAL, "tag '%s' is not numeric", m->code);
    tb__buf b = TB__BUF_INIT;
    json_t *e = meta_entry(m);
    rc = e && !tb__buf_append(&b, FILE_MAGIC, FILE_MAGIC_LEN) ? 0 : TB_ENOMEM;
    if (!rc) rc = tb__bsi_serialize(bsi, &b);
    tb__bsiv v;
    if (!rc)
        rc = tb__bsi_parse_safe(b.data + FILE_MAGIC_LEN, b.len - FILE_MAGIC_LEN, 0, &v, NULL, eb);
    if (!rc && (json_object_set_new(e, "bsi",
                                    json_pack("{s:I, s:I}", "off", (json_int_t)FILE_MAGIC_LEN,
                                              "len", (json_int_t)(b.len - FILE_MAGIC_LEN))) ||
                json_object_set_new(e, "coverage", json_integer((json_int_t)v.notnull.card))))
        rc = TB_ENOMEM;
    if (rc) {
        json_decref(e);
        tb__buf_release(&b);
        return tb__seterr(eb, rc, "tag '%s': cannot serialise: %s", m->code, tb_strerror(rc));
    }
    rc = add_tag(w, m, &b, e, eb);
    tb__buf_release(&b);
    return rc;
}

static void remove_dir(const char *dir)
{
    char path[4096];
    static const char *const fixed[] = {"manifest.json", "universe.bm", "keys.bin"};
    for (size_t i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, fixed[i]);
        unlink(path);
    }
}

void tb__tagw_abort(tb__tagw *w)
{
    if (!w) return;
    size_t i;
    json_t *e;
    json_array_foreach(w->tags, i, e)
    {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", w->dir, json_string_value(json_object_get(e, "file")));
        unlink(path);
    }
    remove_dir(w->dir);
    rmdir(w->dir);
    json_decref(w->tags);
    json_decref(w->universe);
    json_decref(w->keys);
    free(w->dir);
    free(w);
}

int tb__tagw_commit(tb__tagw *w, const char *meta_json, uint64_t *bytes, tb__errbuf *eb)
{
    int rc = 0;
    char *text = NULL, path[4096];
    json_t *meta = meta_json ? json_loads(meta_json, 0, NULL) : json_object();
    if (!w->universe)
        rc = tb__seterr(eb, TB_EINVAL, "tag store without a universe");
    else if (!json_is_object(meta))
        rc = tb__seterr(eb, TB_EINVAL, "build facts are not a JSON object");
    json_t *doc = NULL;
    if (!rc) {
        doc =
            json_pack("{s:i, s:I, s:O, s:O, s:O}", "format", TB__TAGSTORE_FORMAT, "nrows",
                      (json_int_t)w->nrows, "meta", meta, "universe", w->universe, "tags", w->tags);
        if (doc && w->keys) json_object_set(doc, "keys", w->keys);
        text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
        if (!text) rc = tb__seterr(eb, TB_ENOMEM, "out of memory");
    }
    if (!rc) {
        snprintf(path, sizeof path, "%s/manifest.json", w->dir);
        rc = tb__file_write_atomic(path, text, strlen(text), 0640, eb);
    }
    if (!rc) rc = tb__fsync_parent(w->dir, eb);
    if (!rc && bytes) *bytes = w->bytes + strlen(text);
    free(text);
    json_decref(doc);
    json_decref(meta);
    if (rc) {
        tb__tagw_abort(w);
        return rc;
    }
    json_decref(w->tags);
    json_decref(w->universe);
    json_decref(w->keys);
    free(w->dir);
    free(w);
    return 0;
}

/* ---- reading ---------------------------------------------------------------------------------*/

typedef struct mapped {
    void *p;
    size_t len;
    int heap;     /* p is the plaintext of a sealed file, in memory (free, not munmap) */
    uint32_t crc; /* from the manifest */
    char *name;
} mapped;

struct tb__tagset {
    char *dir;
    const tb__keyring *ring; /* opens sealed files; borrowed, may be NULL */
    json_t *manifest;
    char *meta_json;
    uint64_t nrows;
    tb__bmv universe;
    mapped *files;           /* [0] the universe, then one per tag, then the keys (if any) */
    const uint64_t *key_off; /* nrows + 1 */
    const char *key_bytes;
    size_t nfiles;
    tb__tagv *tags;
    size_t ntags;
    tb__bsiv *bsis;
    tb__bmv *bms;
    size_t nbms;
    const char **vals;
    char **srcs; /* per tag: its sources as JSON text */
};

uint64_t tb__tagset_nrows(const tb__tagset *ts)
{
    return ts->nrows;
}
const char *tb__tagset_dir(const tb__tagset *ts)
{
    return ts->dir;
}
const char *tb__tagset_meta_json(const tb__tagset *ts)
{
    return ts->meta_json;
}
const tb__bmv *tb__tagset_universe(const tb__tagset *ts)
{
    return &ts->universe;
}
size_t tb__tagset_ntags(const tb__tagset *ts)
{
    return ts->ntags;
}
const tb__tagv *tb__tagset_tag_at(const tb__tagset *ts, size_t i)
{
    return i < ts->ntags ? &ts->tags[i] : NULL;
}

void tb__tagset_close(tb__tagset *ts)
{
    if (!ts) return;
    for (size_t i = 0; i < ts->nfiles; i++) {
        if (ts->files[i].p && ts->files[i].heap) {
            sodium_memzero(ts->files[i].p, ts->files[i].len);
            free(ts->files[i].p);
        } else if (ts->files[i].p && ts->files[i].len) {
            munmap(ts->files[i].p, ts->files[i].len);
        }
        free(ts->files[i].name);
    }
    free(ts->files);
    free(ts->tags);
    free(ts->bsis);
    free(ts->bms);
    free(ts->vals);
    for (size_t i = 0; ts->srcs && i < ts->ntags; i++)
        free(ts->srcs[i]);
    free(ts->srcs);
    free(ts->meta_json);
    json_decref(ts->manifest);
    free(ts->dir);
    free(ts);
}

/* Maps file `name` of the store, checking its size against the manifest and its magic. */
static int map_file(tb__tagset *ts, const char *name, json_int_t bytes, json_int_t crc, mapped *out,
                    tb__errbuf *eb)
{
    if (!name || strchr(name, '/') || name[0] == '.' || bytes < FILE_MAGIC_LEN || crc < 0 ||
        crc > UINT32_MAX)
        return tb__seterr(eb, TB_ECORRUPT, "'%s/manifest.json': bad file entry '%s'", ts->dir,
                          name ? name : "?");
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", ts->dir, name);
    out->name = strdup(name);
    out->crc = (uint32_t)crc;
    if (!out->name) return tb__seterr(eb, TB_ENOMEM, "out of memory");
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return tb__seterr_errno(eb, errno == ENOENT ? TB_ECORRUPT : TB_EIO, errno,
                                "cannot open tag store file '%s'", path);
    struct stat st;
    int rc = 0;
    if (tb__c2_fd_key(fd)) {
        char ad[160];
        void *p;
        size_t len;
        close(fd);
        rc = tb__c2_file_read(path, ts->ring, ad, file_ad(name, ad), (size_t)bytes, &p, &len, eb);
        if (rc) return rc;
        out->p = p;
        out->len = len;
        out->heap = 1;
        if ((json_int_t)len != bytes)
            return tb__seterr(eb, TB_ECORRUPT,
                              "'%s' (sealed): %zu bytes inside, the manifest says "
                              "%lld",
                              path, len, (long long)bytes);
        if (memcmp(p, FILE_MAGIC, FILE_MAGIC_LEN) != 0)
            return tb__seterr(eb, TB_ECORRUPT, "'%s' byte 0: not a tag store file", path);
        return 0;
    }
    if (fstat(fd, &st) != 0)
        rc = tb__seterr_errno(eb, TB_EIO, errno, "cannot stat '%s'", path);
    else if ((json_int_t)st.st_size != bytes)
        rc = tb__seterr(eb, TB_ECORRUPT, "'%s': %lld bytes, the manifest says %lld", path,
                        (long long)st.st_size, (long long)bytes);
    if (!rc) {
        void *p = mmap(NULL, (size_t)bytes, PROT_READ, MAP_SHARED, fd, 0);
        if (p == MAP_FAILED)
            rc = tb__seterr_errno(eb, TB_EIO, errno, "cannot map '%s'", path);
        else {
            out->p = p;
            out->len = (size_t)bytes;
            if (memcmp(p, FILE_MAGIC, FILE_MAGIC_LEN) != 0)
                rc = tb__seterr(eb, TB_ECORRUPT, "'%s' byte 0: not a tag store file", path);
        }
    }
    close(fd);
    return rc;
}

/* Parses the bitmap at [off, off+len) of file f. */
static int blob(const tb__tagset *ts, const mapped *f, json_t *o, const char *what, int bsi,
                void *out, tb__errbuf *eb)
{
    json_int_t off = json_integer_value(json_object_get(o, "off"));
    json_int_t len = json_integer_value(json_object_get(o, "len"));
    if (!json_is_integer(json_object_get(o, "off")) || off < FILE_MAGIC_LEN || off % 8 ||
        len <= 0 || (uint64_t)off > f->len || (uint64_t)len > f->len - (uint64_t)off)
        return tb__seterr(eb, TB_ECORRUPT, "'%s/%s': %s lies outside the file", ts->dir, f->name,
                          what);
    const char *p = (const char *)f->p + off;
    tb__errbuf sub;
    tb__clearerr(&sub);
    /* opening trusts the BITS payloads (tb__tagset_verify reads them): a 100M-customer store
     * opens in milliseconds instead of reading gigabytes */
    int rc = bsi ? tb__bsi_parse_safe(p, (size_t)len, TB__BM_PARSE_TRUST_BITS, out, NULL, &sub)
                 : tb__bm_parse_safe(p, (size_t)len, TB__BM_PARSE_TRUST_BITS, out, NULL, &sub);
    if (rc)
        return tb__seterr(eb, rc, "'%s/%s' at byte %lld (%s): %s", ts->dir, f->name, (long long)off,
                          what, sub.msg);
    uint64_t nbits = bsi ? ((tb__bsiv *)out)->nbits : ((tb__bmv *)out)->nbits;
    if (nbits != ts->nrows)
        return tb__seterr(eb, TB_ECORRUPT, "'%s/%s' (%s): %llu ids, the store has %llu", ts->dir,
                          f->name, what, (unsigned long long)nbits, (unsigned long long)ts->nrows);
    return 0;
}

static int vtype_of(const char *s, tb__tag_vtype *out)
{
    for (int i = 0; i < 5; i++)
        if (s && strcmp(s, vtype_names[i]) == 0) return *out = (tb__tag_vtype)i, 0;
    return -1;
}

static int type_of(const char *s, tb__tag_type *out)
{
    for (int i = 0; i < 6; i++)
        if (s && strcmp(s, type_names[i]) == 0) return *out = (tb__tag_type)i, 0;
    return -1;
}

static int open_tag(tb__tagset *ts, json_t *e, size_t ti, size_t *nbm, tb__errbuf *eb)
{
    tb__tagv *t = &ts->tags[ti];
    mapped *f = &ts->files[ti + 1];
    const char *code = json_string_value(json_object_get(e, "code"));
    int rc = map_file(ts, json_string_value(json_object_get(e, "file")),
                      json_integer_value(json_object_get(e, "bytes")),
                      json_integer_value(json_object_get(e, "crc32c")), f, eb);
    if (rc) return rc;
    tb__tag_meta *m = &t->m;
    m->code = code;
    m->name_zh = json_string_value(json_object_get(e, "name_zh"));
    m->name_en = json_string_value(json_object_get(e, "name_en"));
    m->pi_class = json_string_value(json_object_get(e, "pi_class"));
    m->scale = (int)json_integer_value(json_object_get(e, "scale"));
    m->version = (int)json_integer_value(json_object_get(e, "version"));
    m->security_level = (int)json_integer_value(json_object_get(e, "security_level"));
    if (!code || !m->name_zh || !m->name_en || !m->pi_class ||
        vtype_of(json_string_value(json_object_get(e, "vtype")), &m->vtype) ||
        type_of(json_string_value(json_object_get(e, "type")), &m->type) || m->scale < 0 ||
        m->scale > 9)
        return tb__seterr(eb, TB_ECORRUPT, "'%s/manifest.json': tag %zu is incomplete", ts->dir,
                          ti);
    t->coverage = (uint64_t)json_integer_value(json_object_get(e, "coverage"));
    json_t *src = json_object_get(e, "sources");
    if (json_is_array(src)) m->sources_json = ts->srcs[ti] = json_dumps(src, JSON_COMPACT);
    if (m->vtype == TB__TV_BOOL || m->vtype == TB__TV_ENUM) {
        json_t *vals = json_object_get(e, "values");
        size_t nv = json_array_size(vals);
        if (!json_is_array(vals) || nv > MAX_VALUES)
            return tb__seterr(eb, TB_ECORRUPT, "'%s/manifest.json': tag '%s' has no values",
                              ts->dir, code);
        tb__bmv *bms = realloc(ts->bms, (*nbm + nv + 1) * sizeof *bms);
        const char **vs = bms ? realloc(ts->vals, (*nbm + nv + 1) * sizeof *vs) : NULL;
        if (bms) ts->bms = bms;
        if (vs) ts->vals = vs;
        if (!bms || !vs) return tb__seterr(eb, TB_ENOMEM, "out of memory");
        for (size_t i = 0; i < nv; i++) {
            json_t *v = json_array_get(vals, i);
            const char *s = json_string_value(json_object_get(v, "value"));
            if (!s)
                return tb__seterr(eb, TB_ECORRUPT, "'%s/manifest.json': tag '%s' value %zu",
                                  ts->dir, code, i);
            ts->vals[*nbm + i] = s;
            rc = blob(ts, f, v, s, 0, &ts->bms[*nbm + i], eb);
            if (rc) return rc;
        }
        /* indices for now; pointers are fixed once every tag is read (realloc moves them) */
        t->values = (const char *const *)(uintptr_t)*nbm;
        t->bm = (const tb__bmv *)(uintptr_t)*nbm;
        t->nvalues = nv;
        *nbm += nv;
    } else {
        rc = blob(ts, f, json_object_get(e, "bsi"), "bsi", 1, &ts->bsis[ti], eb);
        if (rc) return rc;
        t->bsi = &ts->bsis[ti];
    }
    return 0;
}

int tb__tagset_open(const char *dir, tb__tagset **out, tb__errbuf *eb)
{
    return tb__tagset_open_keys(dir, NULL, out, eb);
}

int tb__tagset_open_keys(const char *dir, const tb__keyring *ring, tb__tagset **out, tb__errbuf *eb)
{
    *out = NULL;
    tb__tagset *ts = calloc(1, sizeof *ts);
    if (!ts || !(ts->dir = strdup(dir))) {
        free(ts);
        return tb__seterr(eb, TB_ENOMEM, "out of memory");
    }
    ts->ring = ring;
    char path[4096], *text = NULL;
    size_t len;
    snprintf(path, sizeof path, "%s/manifest.json", dir);
    int rc = tb__file_read_all(path, TB__TAGSTORE_MANIFEST_MAX, &text, &len, eb);
    if (rc == TB_ENOENT) {
        struct stat st;
        rc = stat(dir, &st) == 0 ? tb__seterr(eb, TB_ENOENT,
                                              "'%s' is an incomplete tag store "
                                              "(no manifest)",
                                              dir)
                                 : tb__seterr(eb, TB_ENOENT, "no tag store '%s'", dir);
    }
    if (rc) goto out_fail;
    json_error_t je;
    ts->manifest = json_loadb(text, len, 0, &je);
    free(text);
    json_t *m = ts->manifest, *tags = json_object_get(m, "tags");
    if (!json_is_object(m) || !json_is_array(tags) || json_array_size(tags) > MAX_TAGS) {
        rc = tb__seterr(eb, TB_ECORRUPT, "'%s': not a tag store manifest", path);
        goto out_fail;
    }
    if (json_integer_value(json_object_get(m, "format")) != TB__TAGSTORE_FORMAT) {
        rc = tb__seterr(eb, TB_EVERSION, "'%s': format %lld, this tagbase reads %d", path,
                        (long long)json_integer_value(json_object_get(m, "format")),
                        TB__TAGSTORE_FORMAT);
        goto out_fail;
    }
    json_int_t nrows = json_integer_value(json_object_get(m, "nrows"));
    if (nrows < 0 || (uint64_t)nrows > TB__BM_MAX_BITS) {
        rc = tb__seterr(eb, TB_ECORRUPT, "'%s': bad nrows", path);
        goto out_fail;
    }
    ts->nrows = (uint64_t)nrows;
    if (json_is_object(json_object_get(m, "meta")))
        ts->meta_json = json_dumps(json_object_get(m, "meta"), JSON_COMPACT);
    ts->ntags = json_array_size(tags);
    ts->nfiles = ts->ntags + 2;
    ts->files = calloc(ts->nfiles, sizeof *ts->files);
    ts->tags = calloc(ts->ntags ? ts->ntags : 1, sizeof *ts->tags);
    ts->bsis = calloc(ts->ntags ? ts->ntags : 1, sizeof *ts->bsis);
    ts->srcs = calloc(ts->ntags ? ts->ntags : 1, sizeof *ts->srcs);
    if (!ts->files || !ts->tags || !ts->bsis || !ts->srcs) {
        rc = tb__seterr(eb, TB_ENOMEM, "out of memory");
        goto out_fail;
    }
    json_t *u = json_object_get(m, "universe");
    rc = map_file(ts, json_string_value(json_object_get(u, "file")),
                  json_integer_value(json_object_get(u, "bytes")),
                  json_integer_value(json_object_get(u, "crc32c")), &ts->files[0], eb);
    if (!rc) {
        json_t *where = json_pack("{s:I, s:I}", "off", (json_int_t)FILE_MAGIC_LEN, "len",
                                  (json_int_t)(ts->files[0].len - FILE_MAGIC_LEN));
        rc = where ? blob(ts, &ts->files[0], where, "universe", 0, &ts->universe, eb)
                   : tb__seterr(eb, TB_ENOMEM, "out of memory");
        json_decref(where);
    }
    size_t nbm = 0;
    for (size_t i = 0; !rc && i < ts->ntags; i++)
        rc = open_tag(ts, json_array_get(tags, i), i, &nbm, eb);
    json_t *k = json_object_get(m, "keys");
    if (!rc && k) {
        mapped *f = &ts->files[ts->ntags + 1];
        rc = map_file(ts, json_string_value(json_object_get(k, "file")),
                      json_integer_value(json_object_get(k, "bytes")),
                      json_integer_value(json_object_get(k, "crc32c")), f, eb);
        uint64_t n = 0;
        if (!rc && f->len >= FILE_MAGIC_LEN + 8) memcpy(&n, (const char *)f->p + FILE_MAGIC_LEN, 8);
        size_t head = FILE_MAGIC_LEN + 8;
        if (!rc && (n != ts->nrows || (f->len - head) / 8 < n + 1))
            rc = tb__seterr(eb, TB_ECORRUPT, "'%s/keys.bin': not %llu customer numbers", ts->dir,
                            (unsigned long long)ts->nrows);
        if (!rc) {
            ts->key_off = (const uint64_t *)(const void *)((const char *)f->p + head);
            ts->key_bytes = (const char *)f->p + head + (n + 1) * 8;
            uint64_t avail = f->len - head - (n + 1) * 8;
            if (ts->key_off[0] != 0 || ts->key_off[n] != avail) rc = TB_ECORRUPT;
            for (uint64_t i = 0; !rc && i < n; i++)
                if (ts->key_off[i] > ts->key_off[i + 1]) rc = TB_ECORRUPT;
            if (rc) {
                ts->key_off = NULL;
                rc = tb__seterr(eb, TB_ECORRUPT, "'%s/keys.bin': offsets out of order or bounds",
                                ts->dir);
            }
        }
    }
    if (rc) goto out_fail;
    for (size_t i = 0; i < ts->ntags; i++)
        if (ts->tags[i].nvalues || ts->tags[i].m.vtype <= TB__TV_ENUM) {
            uintptr_t at = (uintptr_t)ts->tags[i].bm;
            ts->tags[i].bm = ts->bms ? ts->bms + at : NULL;
            ts->tags[i].values = ts->vals ? ts->vals + at : NULL;
        }
    ts->ring = NULL; /* used by the open only: the store outlives the caller's ring (caches) */
    *out = ts;
    return 0;
out_fail:
    tb__tagset_close(ts);
    return rc;
}

/* ASCII case-insensitive equality of two NUL-terminated strings (UTF-8 bytes compared as is). */
static int name_eq(const char *a, const char *b)
{
    return a && b && strcasecmp(a, b) == 0;
}

const tb__tagv *tb__tagset_find(const tb__tagset *ts, const char *s)
{
    for (size_t i = 0; i < ts->ntags; i++)
        if (strcmp(ts->tags[i].m.code, s) == 0) return &ts->tags[i];
    for (size_t i = 0; i < ts->ntags; i++)
        if (name_eq(ts->tags[i].m.name_zh, s) || name_eq(ts->tags[i].m.name_en, s))
            return &ts->tags[i];
    return NULL;
}

int tb__tagv_get(const tb__tagv *t, uint64_t id, int64_t *num, const char **str)
{
    if (t->bsi) return tb__bsi_get(t->bsi, id, num) ? 1 : 0;
    for (size_t i = 0; i < t->nvalues; i++)
        if (tb__bmv_contains(&t->bm[i], id)) {
            *str = t->values[i];
            return 2;
        }
    return 0;
}

int tb__tagv_value_index(const tb__tagv *t, const char *s, size_t len)
{
    for (size_t i = 0; i < t->nvalues; i++)
        if (strlen(t->values[i]) == len && memcmp(t->values[i], s, len) == 0) return (int)i;
    return -1;
}

const char *tb__tagset_key(const tb__tagset *ts, uint64_t id, size_t *len)
{
    *len = 0;
    if (!ts->key_off || id >= ts->nrows || ts->key_off[id] == ts->key_off[id + 1]) return NULL;
    *len = (size_t)(ts->key_off[id + 1] - ts->key_off[id]);
    return ts->key_bytes + ts->key_off[id];
}

int tb__tagset_verify(const tb__tagset *ts, tb__errbuf *eb)
{
    for (size_t i = 0; i < ts->nfiles; i++) {
        const mapped *f = &ts->files[i];
        if (!f->p) continue;
        uint32_t crc = tb__crc32c(0, f->p, f->len);
        if (crc != f->crc)
            return tb__seterr(eb, TB_ECORRUPT, "'%s/%s': checksum %08x, the manifest says %08x",
                              ts->dir, f->name, crc, f->crc);
    }
    tb__errbuf sub;
    tb__clearerr(&sub);
    tb__bmv tmp;
    json_t *tags = json_object_get(ts->manifest, "tags");
    for (size_t i = 0; i < ts->ntags; i++) {
        const mapped *f = &ts->files[i + 1];
        json_t *e = json_array_get(tags, i), *v;
        size_t k;
        if (ts->tags[i].bsi) {
            json_t *o = json_object_get(e, "bsi");
            tb__bsiv bv;
            json_int_t off = json_integer_value(json_object_get(o, "off"));
            json_int_t len = json_integer_value(json_object_get(o, "len"));
            if (tb__bsi_parse_safe((const char *)f->p + off, (size_t)len, 1, &bv, NULL, &sub))
                return tb__seterr(eb, TB_ECORRUPT, "'%s/%s': %s", ts->dir, f->name, sub.msg);
            continue;
        }
        json_array_foreach(json_object_get(e, "values"), k, v)
        {
            json_int_t off = json_integer_value(json_object_get(v, "off"));
            json_int_t len = json_integer_value(json_object_get(v, "len"));
            if (tb__bm_parse_safe((const char *)f->p + off, (size_t)len, 1, &tmp, NULL, &sub))
                return tb__seterr(eb, TB_ECORRUPT, "'%s/%s' value '%s': %s", ts->dir, f->name,
                                  ts->tags[i].values[k], sub.msg);
        }
    }
    return 0;
}

/* ---- rewriting without some customers (erasure) ----------------------------------------------*/

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static int erased_id(const uint32_t *gids, size_t n, uint64_t id)
{
    if (id > UINT32_MAX) return 0;
    uint32_t k = (uint32_t)id;
    return bsearch(&k, gids, n, sizeof k, cmp_u32) != NULL;
}

/* A builder holding the ids of view v except gids[0..n) (sorted), chunk by chunk. */
static int bm_without(const tb__bmv *v, const uint32_t *gids, size_t n, uint64_t *scratch,
                      uint64_t *tmp, tb__bm_builder **out)
{
    int rc = tb__bm_builder_create(v->nbits, out);
    for (uint32_t c = 0; !rc && c < v->nchunks; c++) {
        if (tb__bmv_chunk_card(v, c) == 0) continue;
        const uint64_t *w = tb__bmv_words(v, c, scratch);
        uint64_t lo = (uint64_t)c * TB__BM_CHUNK_BITS, hi = lo + TB__BM_CHUNK_BITS;
        int touched = 0;
        for (size_t i = 0; i < n; i++)
            if (gids[i] >= lo && gids[i] < hi) {
                if (!touched) memcpy(tmp, w, TB__BM_CHUNK_WORDS * sizeof *tmp);
                touched = 1;
                uint64_t b = gids[i] - lo;
                tmp[b / 64] &= ~((uint64_t)1 << (b % 64));
            }
        rc = tb__bm_or_words(*out, c, touched ? tmp : w);
    }
    if (rc) {
        tb__bm_builder_free(*out);
        *out = NULL;
    }
    return rc;
}

/* A BSI builder with the values of view v except those of gids[0..n) (sorted): each chunk's
 * values are put back together from the slices. scratch: 65 * 1024 words. */
static int bsi_without(const tb__bsiv *v, const uint32_t *gids, size_t n, uint64_t *scratch,
                       tb__bsi_builder **out)
{
    int rc = tb__bsi_builder_create(v->nbits, out);
    const uint64_t *sw[64];
    for (uint32_t c = 0; !rc && c < v->notnull.nchunks; c++) {
        if (tb__bmv_chunk_card(&v->notnull, c) == 0) continue;
        const uint64_t *nn = tb__bmv_words(&v->notnull, c, scratch);
        for (uint32_t i = 0; i < v->nslices; i++)
            sw[i] = tb__bmv_words(&v->slice[i], c, scratch + (size_t)(i + 1) * TB__BM_CHUNK_WORDS);
        for (uint32_t w = 0; !rc && w < TB__BM_CHUNK_WORDS; w++) {
            for (uint64_t bits = nn[w]; bits && !rc; bits &= bits - 1) {
                unsigned j = (unsigned)__builtin_ctzll(bits);
                uint64_t id = (uint64_t)c * TB__BM_CHUNK_BITS + (uint64_t)w * 64 + j;
                if (erased_id(gids, n, id)) continue;
                uint64_t u = 0;
                for (uint32_t i = 0; i < v->nslices; i++)
                    u |= ((sw[i][w] >> j) & 1) << i;
                rc = tb__bsi_put(*out, id, (int64_t)((uint64_t)v->min + u));
            }
        }
    }
    if (rc) {
        tb__bsi_builder_free(*out);
        *out = NULL;
    }
    return rc;
}

int tb__tagset_rewrite_without(const char *src, const char *dst, const uint32_t *gids_in, size_t n,
                               const tb__keyring *ring, const tb__c2key *key, tb__errbuf *eb)
{
    tb__tagset *ts = NULL;
    tb__tagw *w = NULL;
    uint32_t *gids = malloc((n ? n : 1) * sizeof *gids);
    uint64_t *scratch = malloc((size_t)66 * TB__BM_CHUNK_WORDS * sizeof *scratch);
    uint64_t *tmp = scratch ? scratch + (size_t)65 * TB__BM_CHUNK_WORDS : NULL;
    char *blob = NULL;
    uint64_t *offs = NULL;
    if (!gids || !scratch) {
        free(gids);
        free(scratch);
        return tb__seterr(eb, TB_ENOMEM, "out of memory");
    }
    if (n) memcpy(gids, gids_in, n * sizeof *gids);
    qsort(gids, n, sizeof *gids, cmp_u32);
    int rc = tb__tagset_open_keys(src, ring, &ts, eb);
    if (!rc) rc = tb__tagset_verify(ts, eb); /* never give damaged bytes a fresh checksum */
    if (!rc) rc = tb__tagw_open(dst, ts->nrows, &w, eb);
    if (!rc) tb__tagw_seal(w, key);
    tb__bm_builder *b = NULL;
    if (!rc) {
        rc = bm_without(&ts->universe, gids, n, scratch, tmp, &b);
        if (rc) rc = tb__seterr(eb, rc, "cannot rewrite the universe: %s", tb_strerror(rc));
        if (!rc) rc = tb__tagw_put_universe(w, b, eb);
        tb__bm_builder_free(b);
    }
    for (size_t t = 0; !rc && t < ts->ntags; t++) {
        const tb__tagv *tv = &ts->tags[t];
        if (tv->bsi) {
            tb__bsi_builder *bb = NULL;
            rc = bsi_without(tv->bsi, gids, n, scratch, &bb);
            if (rc)
                rc =
                    tb__seterr(eb, rc, "tag '%s': cannot rewrite: %s", tv->m.code, tb_strerror(rc));
            if (!rc) rc = tb__tagw_put_bsi(w, &tv->m, bb, eb);
            tb__bsi_builder_free(bb);
            continue;
        }
        tb__bm_builder **bms = calloc(tv->nvalues ? tv->nvalues : 1, sizeof *bms);
        if (!bms) rc = tb__seterr(eb, TB_ENOMEM, "out of memory");
        for (size_t i = 0; !rc && i < tv->nvalues; i++) {
            rc = bm_without(&tv->bm[i], gids, n, scratch, tmp, &bms[i]);
            if (rc)
                rc =
                    tb__seterr(eb, rc, "tag '%s': cannot rewrite: %s", tv->m.code, tb_strerror(rc));
        }
        if (!rc) rc = tb__tagw_put_values(w, &tv->m, tv->values, bms, tv->nvalues, eb);
        for (size_t i = 0; bms && i < tv->nvalues; i++)
            tb__bm_builder_free(bms[i]);
        free(bms);
    }
    if (!rc && ts->key_off) {
        /* customer numbers: the erased ids get an empty range (no number) */
        uint64_t nr = ts->nrows;
        offs = malloc((nr + 1) * sizeof *offs);
        blob = malloc(ts->key_off[nr] ? ts->key_off[nr] : 1);
        if (!offs || !blob) rc = tb__seterr(eb, TB_ENOMEM, "out of memory");
        uint64_t at = 0;
        for (uint64_t i = 0; !rc && i < nr; i++) {
            offs[i] = at;
            if (erased_id(gids, n, i)) continue;
            uint64_t len = ts->key_off[i + 1] - ts->key_off[i];
            memcpy(blob + at, ts->key_bytes + ts->key_off[i], len);
            at += len;
        }
        if (!rc) {
            offs[nr] = at;
            rc = tb__tagw_put_keys(w, blob, offs, eb);
        }
    }
    if (!rc) {
        rc = tb__tagw_commit(w, ts->meta_json, NULL, eb);
        w = NULL;
    }
    if (w) tb__tagw_abort(w);
    tb__tagset_close(ts);
    free(blob);
    free(offs);
    free(gids);
    free(scratch);
    return rc;
}

int tb__tagset_c2_reseal(const char *dir, const tb__keyring *ring, const tb__c2key *to,
                         uint64_t *files, tb__errbuf *eb)
{
    tb__tagset *ts = NULL;
    int rc = tb__tagset_open_keys(dir, ring, &ts, eb);
    if (!rc) rc = tb__tagset_verify(ts, eb); /* never seal damaged bytes */
    for (size_t i = 0; !rc && i < ts->ntags; i++) {
        if (!class_c2(ts->tags[i].m.pi_class)) continue;
        const mapped *f = &ts->files[i + 1];
        char path[4096], ad[160];
        snprintf(path, sizeof path, "%s/%s", ts->dir, f->name);
        /* Already under `to`: nothing to do (an interrupted rotation runs again). */
        if (tb__c2_file_key(path) == to->id) continue;
        rc = tb__c2_file_write(path, f->p, f->len, 0640, to, ad, file_ad(f->name, ad), eb);
        if (!rc && files) (*files)++;
    }
    tb__tagset_close(ts);
    return rc;
}
