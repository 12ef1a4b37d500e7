/* evcrypt.c — the event store's sealed whole files and its step of key rotation (evcrypt.h). */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "events/collector.h"
#include "events/evcrypt.h"
#include "events/evlog.h"
#include "events/evpart_int.h"
#include "events/evstore.h"
#include "store/file.h"
#include "store/meta.h"

tb__evkeys tb__evkeys_of(tb_db *db)
{
    tb__evkeys k = {tb__c2_active(db), tb__c2_ring(db)};
    return k;
}

static uint32_t get_u32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

int tb__ev_seal_image(const tb__c2key *k, const char *name, const void *p, size_t n, tb__buf *out)
{
    tb__c2_stream s;
    int rc = tb__c2_stream_seal_init(&s, k, name, strlen(name), out);
    /* At least one chunk, the last one final: an empty image still proves it is whole. */
    for (size_t at = 0; !rc;) {
        size_t len = n - at < TB__EV_SEAL_CHUNK ? n - at : TB__EV_SEAL_CHUNK;
        int final = at + len == n;
        rc = tb__c2_stream_seal(&s, (const char *)p + at, len, final, out);
        at += len;
        if (final) break;
    }
    sodium_memzero(&s, sizeof s);
    return rc;
}

int tb__ev_open_image(const tb__keyring *ring, const char *name, const void *img, size_t len,
                      char **out, size_t *outlen, uint32_t *key_id, tb__errbuf *eb)
{
    *out = NULL;
    *outlen = 0;
    *key_id = 0;
    if (!tb__c2_stream_is(img, len)) return 0;
    const unsigned char *b = img;
    tb__c2_stream s;
    int rc = tb__c2_stream_open_init(&s, ring, name, strlen(name), b, name, eb);
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

int tb__ev_file_read(const char *path, const char *name, const tb__evkeys *k, size_t max,
                     char **out, size_t *outlen, uint32_t *key_id, tb__errbuf *eb)
{
    char *d;
    size_t n;
    uint32_t kid = 0;
    if (key_id) *key_id = 0;
    int rc = tb__file_read_all(path, max, &d, &n, eb);
    if (rc) {
        *out = NULL;
        *outlen = 0;
        return rc;
    }
    char *plain;
    size_t pn;
    rc = tb__ev_open_image(k ? k->ring : NULL, name, d, n, &plain, &pn, &kid, eb);
    if (rc || !plain) {
        *out = rc ? NULL : d;
        *outlen = rc ? 0 : n;
        if (rc) free(d);
        return rc;
    }
    free(d);
    *out = plain;
    *outlen = pn;
    if (key_id) *key_id = kid;
    return 0;
}

int tb__ev_file_write(const char *path, const char *name, const tb__evkeys *k, const void *p,
                      size_t n, tb__errbuf *eb)
{
    if (!k || !k->seal) return tb__file_write_atomic(path, p, n, 0640, eb);
    tb__buf b = TB__BUF_INIT;
    int rc = tb__ev_seal_image(k->seal, name, p, n, &b);
    if (rc)
        rc = tb__seterr(eb, rc, "cannot seal '%s'", name);
    else
        rc = tb__file_write_atomic(path, b.data, b.len, 0640, eb);
    tb__buf_release(&b);
    return rc;
}

/* ---- key rotation ----------------------------------------------------------------------------*/

/* Re-seals data-directory file `rel` under `to` unless it is sealed under it already. */
static int reseal_file(const char *data, const char *rel, const tb__keyring *ring,
                       const tb__c2key *to, uint64_t *files, tb__errbuf *eb)
{
    char path[4400];
    if (snprintf(path, sizeof path, "%s/%s", data, rel) >= (int)sizeof path)
        return tb__seterr(eb, TB_EINVAL, "path too long");
    struct stat st;
    if (stat(path, &st) != 0 && errno == ENOENT) return 0;
    char *d;
    size_t n;
    uint32_t kid;
    tb__evkeys k = {to, ring};
    int rc = tb__ev_file_read(path, rel, &k, (size_t)1 << 40, &d, &n, &kid, eb);
    if (rc) return rc;
    if (kid != to->id) {
        rc = tb__ev_file_write(path, rel, &k, d, n, eb);
        if (!rc) (*files)++;
    }
    sodium_memzero(d, n);
    free(d);
    return rc;
}

int tb__events_c2_reseal(tb_db *db, const tb__c2key *to, uint64_t *files)
{
    *files = 0;
    tb__errbuf eb;
    tb__clearerr(&eb);
    const char *data = tb_db_path(db);
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/events", data);
    struct stat st;
    if (stat(dir, &st) != 0) return 0; /* no event store */
    const tb__keyring *ring = tb__c2_ring(db);
    /* Every log record into the partitions, and the segments that held them removed: what
     * remains of the log is an empty segment, so no log position has to move. */
    tb__collector *c;
    int rc = tb__collector_open(db, NULL, &c, &eb);
    if (!rc) {
        rc = tb__collector_drain(c, &eb);
        tb__collector_close(c);
    }
    if (!rc) rc = reseal_file(data, "events/state.bin", ring, to, files, &eb);
    if (!rc) rc = reseal_file(data, "events/quarantine.jsonl", ring, to, files, &eb);
    int32_t *days = NULL;
    size_t nd = 0;
    if (!rc) rc = tb__evpart_list(data, &days, &nd, &eb);
    for (size_t i = 0; !rc && i < nd; i++) {
        char path[64]; /* "/events/parts/YYYYMMDD.tbev" */
        if (tb__evpart_path("", days[i], path, sizeof path)) continue;
        rc = reseal_file(data, path + 1, ring, to, files, &eb);
    }
    free(days);
    char logdir[4300];
    snprintf(logdir, sizeof logdir, "%s/log", dir);
    if (!rc) rc = tb__evlog_reseal(logdir, ring, to, files, &eb);
    if (rc) return tb__seterr(tb__db_err(db), rc, "event store: %s", eb.msg);
    return 0;
}
