/* crypt_stream.c — sealed streams (crypt.h): whole files under a data key, chunk by chunk, with
 * libsodium's secretstream, and a reader of such a stream stored in a file. */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/crypt.h"

#define SS_HEADER crypto_secretstream_xchacha20poly1305_HEADERBYTES
#define SS_ABYTES crypto_secretstream_xchacha20poly1305_ABYTES

static_assert(sizeof(crypto_secretstream_xchacha20poly1305_state) <=
                  sizeof(((tb__c2_stream *)0)->state),
              "secretstream state does not fit");
static_assert(4 + 4 + SS_HEADER == TB__C2_STREAM_HEADER, "stream header layout");
static_assert(4 + SS_ABYTES == TB__C2_STREAM_OVERHEAD, "stream chunk overhead");

static crypto_secretstream_xchacha20poly1305_state *ss(tb__c2_stream *s)
{
    return (crypto_secretstream_xchacha20poly1305_state *)(void *)s->state;
}

static void put_u32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
    p[2] = (unsigned char)(v >> 16);
    p[3] = (unsigned char)(v >> 24);
}

static uint32_t get_u32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* The stream key of a data key (its own key from the key file's entry: a stream and a sealed value
 * never share a key). */
static void stream_key(const tb__c2key *k,
                       unsigned char out[crypto_secretstream_xchacha20poly1305_KEYBYTES])
{
    static_assert(sizeof k->stream == crypto_secretstream_xchacha20poly1305_KEYBYTES, "stream key");
    memcpy(out, k->stream, sizeof k->stream);
}

int tb__c2_stream_seal_init(tb__c2_stream *s, const tb__c2key *k, const void *ad, size_t adlen,
                            tb__buf *out)
{
    memset(s, 0, sizeof *s);
    if (adlen > sizeof s->ad || sodium_init() < 0) return TB_EINVAL;
    memcpy(s->ad, ad, adlen);
    s->adlen = adlen;
    s->key_id = k->id;
    int rc = tb__buf_reserve(out, TB__C2_STREAM_HEADER);
    if (rc) return rc;
    unsigned char *h = (unsigned char *)out->data + out->len;
    memcpy(h, TB__C2_STREAM_MAGIC, 4);
    put_u32(h + 4, k->id);
    unsigned char key[crypto_secretstream_xchacha20poly1305_KEYBYTES];
    stream_key(k, key);
    crypto_secretstream_xchacha20poly1305_init_push(ss(s), h + 8, key);
    sodium_memzero(key, sizeof key);
    out->len += TB__C2_STREAM_HEADER;
    return 0;
}

int tb__c2_stream_seal(tb__c2_stream *s, const void *plain, size_t n, int final, tb__buf *out)
{
    if (s->final || n > TB__C2_STREAM_MAX_CHUNK) return TB_EINVAL;
    int rc = tb__buf_reserve(out, n + TB__C2_STREAM_OVERHEAD);
    if (rc) return rc;
    unsigned char *p = (unsigned char *)out->data + out->len;
    unsigned long long clen = 0;
    crypto_secretstream_xchacha20poly1305_push(
        ss(s), p + 4, &clen, plain, n, s->adlen ? s->ad : NULL, s->adlen,
        final ? crypto_secretstream_xchacha20poly1305_TAG_FINAL : 0);
    assert(clen == n + SS_ABYTES);
    put_u32(p, (uint32_t)clen);
    out->len += 4 + (size_t)clen;
    s->final = final;
    return 0;
}

int tb__c2_stream_is(const void *b, size_t n)
{
    return n >= TB__C2_STREAM_HEADER && memcmp(b, TB__C2_STREAM_MAGIC, 4) == 0;
}

int tb__c2_stream_open_init(tb__c2_stream *s, const tb__keyring *ring, const void *ad, size_t adlen,
                            const unsigned char *header, const char *what, tb__errbuf *eb)
{
    memset(s, 0, sizeof *s);
    if (adlen > sizeof s->ad || sodium_init() < 0)
        return tb__seterr(eb, TB_EINVAL, "'%s': associated data too long", what);
    if (!tb__c2_stream_is(header, TB__C2_STREAM_HEADER))
        return tb__seterr(eb, TB_ECORRUPT, "'%s': not a sealed stream (bad header)", what);
    s->key_id = get_u32(header + 4);
    const tb__c2key *k = ring ? tb__keyring_get(ring, s->key_id) : NULL;
    if (!k)
        return tb__seterr(eb, TB_ENOENT, "'%s' is sealed under key %" PRIu32 ", which %s", what,
                          s->key_id,
                          ring ? "the key file does not hold" : "needs a key file (none given)");
    memcpy(s->ad, ad, adlen);
    s->adlen = adlen;
    unsigned char key[crypto_secretstream_xchacha20poly1305_KEYBYTES];
    stream_key(k, key);
    int bad = crypto_secretstream_xchacha20poly1305_init_pull(ss(s), header + 8, key);
    sodium_memzero(key, sizeof key);
    return bad ? tb__seterr(eb, TB_ECORRUPT, "'%s': bad sealed-stream header", what) : 0;
}

int tb__c2_stream_open(tb__c2_stream *s, const void *chunk, size_t n, tb__buf *out, int *final,
                       const char *what, tb__errbuf *eb)
{
    *final = 0;
    tb__buf_reset(out);
    if (s->final) return tb__seterr(eb, TB_ECORRUPT, "'%s': bytes after the final chunk", what);
    if (n < SS_ABYTES || n - SS_ABYTES > TB__C2_STREAM_MAX_CHUNK)
        return tb__seterr(eb, TB_ECORRUPT, "'%s': a chunk of %zu bytes cannot be", what, n);
    int rc = tb__buf_reserve(out, n - SS_ABYTES + 1);
    if (rc) return tb__seterr(eb, rc, "out of memory");
    unsigned long long plen = 0;
    unsigned char tag = 0;
    if (crypto_secretstream_xchacha20poly1305_pull(ss(s), (unsigned char *)out->data, &plen, &tag,
                                                   chunk, n, s->adlen ? s->ad : NULL, s->adlen))
        return tb__seterr(eb, TB_ECORRUPT,
                          "'%s': a sealed chunk fails authentication (tampered, reordered, "
                          "from another file, or another key's bytes)",
                          what);
    out->len = (size_t)plen;
    out->data[out->len] = '\0';
    s->final = *final = tag == crypto_secretstream_xchacha20poly1305_TAG_FINAL;
    return 0;
}

/* ---- a sealed stream in a file ----------------------------------------------------------------*/

struct tb__c2_sfile {
    int fd;
    char *path;
    tb__c2_stream s;
    tb__buf cipher, plain;
    int done;
};

enum { READ_ERROR = -1, READ_EOF = 0, READ_OK = 1, READ_SHORT = 2 };

/* Reads exactly n bytes: READ_OK, READ_EOF at the end of the file before any byte, READ_SHORT
 * when it ends after *got bytes, READ_ERROR with errno. */
static int read_full(int fd, void *p, size_t n, size_t *got)
{
    *got = 0;
    while (*got < n) {
        ssize_t r = read(fd, (char *)p + *got, n - *got);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) return READ_ERROR;
        if (r == 0) return *got == 0 ? READ_EOF : READ_SHORT;
        *got += (size_t)r;
    }
    return READ_OK;
}

int tb__c2_sfile_open(const char *path, uint64_t offset, const tb__keyring *ring, const void *ad,
                      size_t adlen, tb__c2_sfile **out, tb__errbuf *eb)
{
    *out = NULL;
    tb__c2_sfile *f = calloc(1, sizeof *f);
    if (!f || !(f->path = strdup(path))) {
        free(f);
        return tb__seterr(eb, TB_ENOMEM, "out of memory");
    }
    f->fd = -1;
    int rc = 0;
    f->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (f->fd < 0) {
        rc = tb__seterr(eb, errno == ENOENT ? TB_ENOENT : TB_EIO, "cannot open '%s': %s", path,
                        strerror(errno));
        goto out_free;
    }
    if (lseek(f->fd, (off_t)offset, SEEK_SET) < 0) {
        rc = tb__seterr(eb, TB_EIO, "cannot seek in '%s': %s", path, strerror(errno));
        goto out_free;
    }
    unsigned char h[TB__C2_STREAM_HEADER];
    size_t got;
    if (read_full(f->fd, h, sizeof h, &got) != READ_OK) {
        rc = tb__seterr(eb, TB_ECORRUPT, "'%s': the sealed-stream header is cut at byte %" PRIu64,
                        path, offset + got);
        goto out_free;
    }
    rc = tb__c2_stream_open_init(&f->s, ring, ad, adlen, h, path, eb);
    if (rc) goto out_free;
    *out = f;
    return 0;

out_free:
    tb__c2_sfile_close(f);
    return rc;
}

int tb__c2_sfile_next(tb__c2_sfile *f, const void **data, size_t *n, tb__errbuf *eb)
{
    *data = NULL;
    *n = 0;
    unsigned char len[4];
    size_t got;
    int r = read_full(f->fd, len, sizeof len, &got);
    if (r == READ_ERROR)
        return tb__seterr(eb, TB_EIO, "cannot read '%s': %s", f->path, strerror(errno));
    if (f->done)
        return r == READ_EOF
                   ? 0
                   : tb__seterr(eb, TB_ECORRUPT, "'%s': bytes after the final chunk", f->path);
    if (r != READ_OK)
        return tb__seterr(eb, TB_ECORRUPT, "'%s': the file ends before its final chunk (cut)",
                          f->path);
    uint32_t clen = get_u32(len);
    if (clen < SS_ABYTES || clen - SS_ABYTES > TB__C2_STREAM_MAX_CHUNK)
        return tb__seterr(eb, TB_ECORRUPT, "'%s': a chunk of %" PRIu32 " bytes cannot be", f->path,
                          clen);
    tb__buf_reset(&f->cipher);
    if (tb__buf_reserve(&f->cipher, clen)) return tb__seterr(eb, TB_ENOMEM, "out of memory");
    r = read_full(f->fd, f->cipher.data, clen, &got);
    if (r == READ_ERROR)
        return tb__seterr(eb, TB_EIO, "cannot read '%s': %s", f->path, strerror(errno));
    if (r != READ_OK)
        return tb__seterr(eb, TB_ECORRUPT, "'%s': a chunk is cut (the file ends)", f->path);
    int final;
    int rc = tb__c2_stream_open(&f->s, f->cipher.data, clen, &f->plain, &final, f->path, eb);
    if (rc) return rc;
    f->done = final;
    *data = f->plain.data;
    *n = f->plain.len;
    return 1;
}

uint32_t tb__c2_sfile_key(const tb__c2_sfile *f)
{
    return f->s.key_id;
}

void tb__c2_sfile_close(tb__c2_sfile *f)
{
    if (!f) return;
    if (f->fd >= 0) close(f->fd);
    if (f->plain.data) sodium_memzero(f->plain.data, f->plain.cap);
    tb__buf_release(&f->cipher);
    tb__buf_release(&f->plain);
    free(f->path);
    sodium_memzero(&f->s, sizeof f->s);
    free(f);
}

/* ---- whole files ------------------------------------------------------------------------------*/

int tb__c2_swriter_begin(tb__c2_swriter *w, tb__afile *af, const tb__c2key *k, const void *ad,
                         size_t adlen, tb__errbuf *eb)
{
    memset(w, 0, sizeof *w);
    w->af = af;
    int rc = tb__c2_stream_seal_init(&w->s, k, ad, adlen, &w->cipher);
    if (rc) return tb__seterr(eb, rc, "cannot start a sealed file");
    rc = tb__afile_write(af, w->cipher.data, w->cipher.len, eb);
    w->bytes += w->cipher.len;
    return rc;
}

/* Seals the buffered plaintext as one chunk and writes it. */
static int swriter_chunk(tb__c2_swriter *w, int final, tb__errbuf *eb)
{
    tb__buf_reset(&w->cipher);
    int rc = tb__c2_stream_seal(&w->s, w->plain.data, w->plain.len, final, &w->cipher);
    if (rc) return tb__seterr(eb, rc, "cannot seal a chunk");
    if (w->plain.data) sodium_memzero(w->plain.data, w->plain.len);
    tb__buf_reset(&w->plain);
    rc = tb__afile_write(w->af, w->cipher.data, w->cipher.len, eb);
    w->bytes += w->cipher.len;
    return rc;
}

int tb__c2_swriter_write(tb__c2_swriter *w, const void *p, size_t n, tb__errbuf *eb)
{
    const char *at = p;
    while (n) {
        size_t take = TB__C2_FILE_CHUNK - w->plain.len;
        if (take > n) take = n;
        if (tb__buf_append(&w->plain, at, take)) return tb__seterr(eb, TB_ENOMEM, "out of memory");
        at += take;
        n -= take;
        if (w->plain.len == TB__C2_FILE_CHUNK) {
            int rc = swriter_chunk(w, 0, eb);
            if (rc) return rc;
        }
    }
    return 0;
}

int tb__c2_swriter_end(tb__c2_swriter *w, tb__errbuf *eb)
{
    int rc = swriter_chunk(w, 1, eb);
    tb__c2_swriter_release(w);
    return rc;
}

void tb__c2_swriter_release(tb__c2_swriter *w)
{
    if (w->plain.data) sodium_memzero(w->plain.data, w->plain.cap);
    tb__buf_release(&w->plain);
    tb__buf_release(&w->cipher);
    sodium_memzero(&w->s, sizeof w->s);
}

int tb__c2_file_write(const char *path, const void *data, size_t n, mode_t mode, const tb__c2key *k,
                      const void *ad, size_t adlen, tb__errbuf *eb)
{
    if (!k) return tb__file_write_atomic(path, data, n, mode, eb);
    tb__afile af;
    int rc = tb__afile_open(&af, path, mode, eb);
    if (rc) return rc;
    tb__c2_swriter w;
    rc = tb__c2_swriter_begin(&w, &af, k, ad, adlen, eb);
    if (!rc) rc = tb__c2_swriter_write(&w, data, n, eb);
    if (!rc) rc = tb__c2_swriter_end(&w, eb);
    tb__c2_swriter_release(&w);
    if (rc) {
        tb__afile_abort(&af);
        return rc;
    }
    return tb__afile_commit(&af, eb);
}

uint32_t tb__c2_fd_key(int fd)
{
    unsigned char h[TB__C2_STREAM_HEADER];
    ssize_t got = pread(fd, h, sizeof h, 0);
    return got == (ssize_t)sizeof h && tb__c2_stream_is(h, sizeof h) ? get_u32(h + 4) : 0;
}

uint32_t tb__c2_file_key(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return 0;
    uint32_t k = tb__c2_fd_key(fd);
    close(fd);
    return k;
}

int tb__c2_file_read(const char *path, const tb__keyring *ring, const void *ad, size_t adlen,
                     size_t max, void **out, size_t *len, tb__errbuf *eb)
{
    *out = NULL;
    *len = 0;
    char *img, *plain = NULL;
    size_t n, pn = 0;
    uint32_t kid;
    /* The sealed image is its plaintext plus 32 + 21 bytes per chunk of at least 4 MiB (the
     * writers' chunk), so a file over that bound holds more than `max`. */
    size_t cap = max > SIZE_MAX / 2 ? SIZE_MAX : max + max / 4096 + 4096;
    int rc = tb__file_read_all(path, cap, &img, &n, eb);
    /* Bigger than its manifest allows: damage, like a clear file of the wrong size. */
    if (rc == TB_ELIMIT)
        return tb__seterr(eb, TB_ECORRUPT, "'%s': larger than %zu bytes", path, max);
    if (rc) return rc;
    rc = tb__c2_image_open(ring, ad, adlen, path, img, n, &plain, &pn, &kid, eb);
    free(img);
    if (!rc && !plain) rc = tb__seterr(eb, TB_ECORRUPT, "'%s': not a sealed file", path);
    if (!rc && pn > max) rc = tb__seterr(eb, TB_ECORRUPT, "'%s': more than %zu bytes", path, max);
    if (rc) {
        if (plain) sodium_memzero(plain, pn);
        free(plain);
        return rc;
    }
    *out = plain;
    *len = pn;
    return 0;
}

/* ---- sealed images in memory -----------------------------------------------------------------*/

int tb__c2_image_seal(const tb__c2key *k, const void *ad, size_t adlen, const void *p, size_t n,
                      size_t chunk_max, tb__buf *out)
{
    tb__c2_stream s;
    if (!chunk_max || chunk_max > TB__C2_STREAM_MAX_CHUNK) chunk_max = TB__C2_STREAM_MAX_CHUNK;
    int rc = tb__c2_stream_seal_init(&s, k, ad, adlen, out);
    /* At least one chunk, the last one final: an empty image still proves it is whole. */
    for (size_t at = 0; !rc;) {
        size_t len = n - at < chunk_max ? n - at : chunk_max;
        int final = at + len == n;
        rc = tb__c2_stream_seal(&s, len ? (const char *)p + at : "", len, final, out);
        at += len;
        if (final) break;
    }
    sodium_memzero(&s, sizeof s);
    return rc;
}

int tb__c2_image_open(const tb__keyring *ring, const void *ad, size_t adlen, const char *name,
                      const void *img, size_t len, char **out, size_t *outlen, uint32_t *key_id,
                      tb__errbuf *eb)
{
    *out = NULL;
    *outlen = 0;
    *key_id = 0;
    if (!tb__c2_stream_is(img, len)) return 0;
    const unsigned char *b = img;
    tb__c2_stream s;
    int rc = tb__c2_stream_open_init(&s, ring, ad, adlen, b, name, eb);
    *key_id = s.key_id;
    if (rc) return rc;
    tb__buf plain = TB__BUF_INIT, chunk = TB__BUF_INIT;
    size_t at = TB__C2_STREAM_HEADER;
    int final = 0;
    /* The plaintext is shorter than the image: one allocation, never a copy while growing. */
    if (tb__buf_reserve(&plain, len - at + 1))
        rc = tb__seterr(eb, TB_ENOMEM, "out of memory opening '%s'", name);
    while (!rc && !final) {
        if (len - at < 4) {
            rc = tb__seterr(eb, TB_ECORRUPT, "'%s', byte %zu: the file ends before its final chunk",
                            name, at);
            break;
        }
        uint32_t clen = get_u32(b + at);
        if (clen > len - at - 4) {
            rc = tb__seterr(eb, TB_ECORRUPT, "'%s', byte %zu: a chunk of %" PRIu32 " bytes is cut",
                            name, at, clen);
            break;
        }
        tb__errbuf ce;
        tb__clearerr(&ce);
        rc = tb__c2_stream_open(&s, b + at + 4, clen, &chunk, &final, name, &ce);
        if (rc) {
            tb__seterr(eb, rc, "byte %zu: %s", at, ce.msg);
            break;
        }
        if (tb__buf_append(&plain, chunk.data, chunk.len))
            rc = tb__seterr(eb, TB_ENOMEM, "out of memory opening '%s'", name);
        at += 4 + (size_t)clen;
    }
    if (!rc && at != len)
        rc = tb__seterr(eb, TB_ECORRUPT, "'%s', byte %zu: bytes after the final chunk", name, at);
    if (!rc && tb__buf_reserve(&plain, 1))
        rc = tb__seterr(eb, TB_ENOMEM, "out of memory opening '%s'", name);
    if (chunk.data) sodium_memzero(chunk.data, chunk.cap);
    tb__buf_release(&chunk);
    sodium_memzero(&s, sizeof s);
    if (rc) {
        if (plain.data) sodium_memzero(plain.data, plain.cap);
        tb__buf_release(&plain);
        return rc;
    }
    plain.data[plain.len] = '\0';
    *outlen = plain.len;
    *out = plain.data; /* taken: the buffer's memory is malloc'd */
    return 0;
}
