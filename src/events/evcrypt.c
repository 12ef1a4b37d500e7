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

int tb__ev_seal_image(const tb__c2key *k, const char *name, const void *p, size_t n, tb__buf *out)
{
    return tb__c2_image_seal(k, name, strlen(name), p, n, TB__EV_SEAL_CHUNK, out);
}

int tb__ev_open_image(const tb__keyring *ring, const char *name, const void *img, size_t len,
                      char **out, size_t *outlen, uint32_t *key_id, tb__errbuf *eb)
{
    return tb__c2_image_open(ring, name, strlen(name), name, img, len, out, outlen, key_id, eb);
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
    return tb__c2_file_write(path, p, n, 0640, k ? k->seal : NULL, name, strlen(name), eb);
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
