/* persons.c — the person table (events/persons.bin): for each event person its root person and
 * the customer internal id (gid) it belongs to. Written whole by the collector after identity
 * changes; read by every analysis. Format: 24-byte header "TBEP", u32 version 1, u64 n, u32 crc32c
 * of root[] and gid[], u32 0; then root[n] and gid[n] as u32 little-endian. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/crc32c.h"
#include "events/evstore.h"
#include "store/file.h"

#define PHDR 24u

int tb__evpersons_write(const char *dir, const uint32_t *root, const uint32_t *gid, size_t n,
                        tb__errbuf *eb)
{
    if (n > 0xFFFFFFF0u) return tb__seterr(eb, TB_ELIMIT, "too many persons");
    for (size_t i = 0; i < n; i++)
        if (root[i] >= n || root[root[i]] != root[i])
            return tb__seterr(eb, TB_EINVAL, "person %zu: root %u is not a root", i, root[i]);
    char path[4096], edir[4096];
    if (snprintf(edir, sizeof edir, "%s/events", dir) >= (int)sizeof edir ||
        snprintf(path, sizeof path, "%s/events/persons.bin", dir) >= (int)sizeof path)
        return tb__seterr(eb, TB_EINVAL, "data directory path too long");
    int rc = tb__mkdir_p(edir, 0750, eb);
    if (rc) return rc;
    uint8_t h[PHDR] = {'T', 'B', 'E', 'P', 1, 0, 0, 0};
    uint64_t n64 = n;
    memcpy(h + 8, &n64, 8);
    uint32_t crc = tb__crc32c(tb__crc32c(0, root, n * 4), gid, n * 4);
    memcpy(h + 16, &crc, 4);
    tb__afile af;
    if ((rc = tb__afile_open(&af, path, 0640, eb))) return rc;
    if (!(rc = tb__afile_write(&af, h, PHDR, eb)) &&
        !(rc = tb__afile_write(&af, root, n * 4, eb)) &&
        !(rc = tb__afile_write(&af, gid, n * 4, eb)))
        rc = tb__afile_commit(&af, eb);
    tb__afile_abort(&af);
    return rc;
}

int tb__evpersons_parse(const void *buf, size_t len, tb__evpersons *out, tb__errbuf *eb)
{
    memset(out, 0, sizeof *out);
    const uint8_t *b = buf;
    if (len < PHDR || memcmp(b, "TBEP", 4) != 0)
        return tb__seterr(eb, TB_ECORRUPT, "byte 0: not a person table");
    uint32_t ver, crc, z;
    uint64_t n;
    memcpy(&ver, b + 4, 4);
    memcpy(&n, b + 8, 8);
    memcpy(&crc, b + 16, 4);
    memcpy(&z, b + 20, 4);
    if (ver != 1)
        return tb__seterr(eb, ver > 1 ? TB_EVERSION : TB_ECORRUPT, "byte 4: version %u", ver);
    if (z) return tb__seterr(eb, TB_ECORRUPT, "byte 20: reserved field not zero");
    if (n > 0xFFFFFFF0u || (len - PHDR) / 8 != n || (len - PHDR) % 8)
        return tb__seterr(eb, TB_ECORRUPT, "byte 8: %llu persons in %zu bytes",
                          (unsigned long long)n, len);
    if (tb__crc32c(0, b + PHDR, len - PHDR) != crc)
        return tb__seterr(eb, TB_ECORRUPT, "byte 16: checksum mismatch");
    uint32_t *m = malloc(n * 8 + 8);
    if (!m) return tb__seterr(eb, TB_ENOMEM, "out of memory");
    memcpy(m, b + PHDR, n * 8);
    uint32_t *root = m, *gid = m + n;
    for (uint64_t i = 0; i < n; i++)
        if (root[i] >= n || root[root[i]] != root[i]) {
            uint32_t bad = root[i];
            free(m);
            return tb__seterr(eb, TB_ECORRUPT, "person %llu: root %u is not a root",
                              (unsigned long long)i, bad);
        }
    out->n = (uint32_t)n;
    out->root = root;
    out->gid = gid;
    return 0;
}

int tb__evpersons_read(const char *dir, tb__evpersons *out, tb__errbuf *eb)
{
    memset(out, 0, sizeof *out);
    char path[4096];
    if (snprintf(path, sizeof path, "%s/events/persons.bin", dir) >= (int)sizeof path)
        return tb__seterr(eb, TB_EINVAL, "data directory path too long");
    char *data;
    size_t len;
    int rc = tb__file_read_all(path, (size_t)1 << 36, &data, &len, eb);
    if (rc == TB_ENOENT) {
        tb__clearerr(eb);
        return 0;
    }
    if (rc) return rc;
    rc = tb__evpersons_parse(data, len, out, eb);
    free(data);
    return rc;
}

void tb__evpersons_release(tb__evpersons *p)
{
    if (!p) return;
    free(p->root); /* root and gid are one allocation */
    memset(p, 0, sizeof *p);
}
