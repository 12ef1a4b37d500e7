/* mdx.c — the master-data look-up image (mdx.h): building it with radix sorts, writing it
 * crash-safely, and reading it through bounds-checked look-ups. */
#include "store/mdx.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "common/buf.h"
#include "common/crc32c.h"
#include "common/radix.h"
#include "common/log.h"
#include "store/file.h"
#include "store/meta.h"
#include "store/store_int.h"
#include <dirent.h>

#define MAGIC       "TBMDX001"
#define VERSION     1
#define HEADER_SIZE 64

enum { S_SYS, S_CERT, S_MOBILE, S_NAME, S_KFIRST, S_KENT, S_HEAP, NSEC };

#define TABLE_END (HEADER_SIZE + NSEC * 16) /* where the first section may start */

/* Header byte offsets. */
enum {
    H_MAGIC = 0,
    H_VERSION = 8,
    H_NSEC = 12,
    H_NPARTY = 16,
    H_NSYS = 20,
    H_LOAD = 24,
    H_BODY_CRC = 32,
    H_HEAD_CRC = 36,
};

static const size_t entsize[NSEC] = {
    [S_SYS] = TB__MDX_SYSTEM_LEN,
    [S_CERT] = 16,
    [S_MOBILE] = 16,
    [S_NAME] = 12,
    [S_KFIRST] = 4,
    [S_KENT] = 8,
    [S_HEAP] = 1,
};

static const char *const sec_name[NSEC] = {"systems",   "cert", "mobile", "name",
                                           "key index", "keys", "heap"};

/* A sort record: ordered by (hi, lo). */
struct rec {
    uint64_t hi, lo;
};

/* A name's sort record: ordered by (k0, k1, gid), its first 16 bytes big-endian; idx into nref. */
struct nrec {
    uint64_t k0, k1;
    uint32_t gid, idx;
};

struct kput {
    uint32_t gid, off;
    uint16_t len;
    uint8_t sys;
};

struct tb__mdx_builder {
    uint32_t nparty;
    int64_t load_id;
    unsigned nsys;
    char sys[TB__MDX_MAX_SYSTEMS][TB__MDX_SYSTEM_LEN];
    struct rec *h[2]; /* CERT, MOBILE: (hash, gid) */
    size_t nh[2], caph[2];
    struct nrec *name; /* names by their first 16 bytes */
    struct nref {
        uint32_t off, len;
    } * nref;
    size_t nname, capname, capref;
    struct kput *keys;
    size_t nkeys, capkeys;
    tb__buf heap;
};

struct tb__mdx {
    const uint8_t *p;
    size_t len;
    int how; /* 0 borrowed, 1 mapped, 2 heap */
    uint32_t nparty, nsys;
    int64_t load_id;
    uint32_t body_crc;
    const uint8_t *sec[NSEC];
    uint64_t seclen[NSEC];
};

static inline uint32_t rd32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

static inline uint64_t rd64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

static inline uint16_t rd16(const uint8_t *p)
{
    uint16_t v;
    memcpy(&v, p, 2);
    return v;
}

static uint64_t hash_of(const char *v, size_t n)
{
    return XXH3_64bits(v, n);
}

static uint64_t be8(const char *s, size_t n)
{
    uint64_t v = 0;
    for (size_t i = 0; i < 8; i++)
        v = v << 8 | (i < n ? (uint8_t)s[i] : 0);
    return v;
}

/* ---- building -------------------------------------------------------------------------------- */

int tb__mdx_builder_create(uint32_t nparty, int64_t load_id, tb__mdx_builder **out)
{
    *out = calloc(1, sizeof **out);
    if (!*out) return TB_ENOMEM;
    (*out)->nparty = nparty;
    (*out)->load_id = load_id;
    return 0;
}

void tb__mdx_builder_free(tb__mdx_builder *b)
{
    if (!b) return;
    free(b->h[0]);
    free(b->h[1]);
    free(b->name);
    free(b->nref);
    free(b->keys);
    tb__buf_release(&b->heap);
    free(b);
}

int tb__mdx_builder_system(tb__mdx_builder *b, const char *name, uint8_t *idx, tb__errbuf *eb)
{
    size_t n = strlen(name);
    if (n >= TB__MDX_SYSTEM_LEN)
        return tb__seterr(eb, TB_EINVAL, "source system '%.40s' is longer than %d bytes", name,
                          TB__MDX_SYSTEM_LEN - 1);
    for (unsigned i = 0; i < b->nsys; i++)
        if (strcmp(b->sys[i], name) == 0) return *idx = (uint8_t)i, 0;
    if (b->nsys == TB__MDX_MAX_SYSTEMS)
        return tb__seterr(eb, TB_ELIMIT, "more than %d source systems", TB__MDX_MAX_SYSTEMS);
    memcpy(b->sys[b->nsys], name, n + 1);
    *idx = (uint8_t)b->nsys++;
    return 0;
}

static int grow(void **p, size_t *cap, size_t n, size_t size)
{
    if (n < *cap) return 0;
    size_t c = *cap ? *cap * 2 : 1024;
    void *q = realloc(*p, c * size);
    if (!q) return TB_ENOMEM;
    *p = q;
    *cap = c;
    return 0;
}

/* Heap bytes for v: its offset, or TB_ELIMIT past the 4 GiB a u32 offset reaches. */
static int heap_put(tb__mdx_builder *b, const char *v, size_t n, uint32_t *off, tb__errbuf *eb)
{
    if (b->heap.len + n > UINT32_MAX)
        return tb__seterr(eb, TB_ELIMIT, "master-data image heap over 4 GiB");
    *off = (uint32_t)b->heap.len;
    if (tb__buf_append(&b->heap, v, n)) return tb__seterr(eb, TB_ENOMEM, "out of memory");
    return 0;
}

int tb__mdx_put(tb__mdx_builder *b, tb__mdx_field f, uint32_t gid, const char *v, size_t n,
                tb__errbuf *eb)
{
    if (gid >= b->nparty)
        return tb__seterr(eb, TB_EINVAL, "gid %u outside an image of %u parties", gid, b->nparty);
    if (f == TB__MDX_CERT || f == TB__MDX_MOBILE) {
        int i = f == TB__MDX_MOBILE;
        if (grow((void **)&b->h[i], &b->caph[i], b->nh[i], sizeof *b->h[i]))
            return tb__seterr(eb, TB_ENOMEM, "out of memory");
        b->h[i][b->nh[i]++] = (struct rec){hash_of(v, n), gid};
        return 0;
    }
    if (f != TB__MDX_NAME) return tb__seterr(eb, TB_EINVAL, "no such image field %d", (int)f);
    if (b->nname >= UINT32_MAX) return tb__seterr(eb, TB_ELIMIT, "too many names");
    if (grow((void **)&b->name, &b->capname, b->nname, sizeof *b->name) ||
        grow((void **)&b->nref, &b->capref, b->nname, sizeof *b->nref))
        return tb__seterr(eb, TB_ENOMEM, "out of memory");
    uint32_t off = 0;
    int rc = heap_put(b, v, n, &off, eb);
    if (rc) return rc;
    b->nref[b->nname] = (struct nref){off, (uint32_t)n};
    b->name[b->nname] =
        (struct nrec){be8(v, n), n > 8 ? be8(v + 8, n - 8) : 0, gid, (uint32_t)b->nname};
    b->nname++;
    return 0;
}

int tb__mdx_put_key(tb__mdx_builder *b, uint32_t gid, uint8_t sys, const char *key, size_t n,
                    tb__errbuf *eb)
{
    if (gid >= b->nparty)
        return tb__seterr(eb, TB_EINVAL, "gid %u outside an image of %u parties", gid, b->nparty);
    if (sys >= b->nsys) return tb__seterr(eb, TB_EINVAL, "no source system %u", sys);
    if (n > UINT16_MAX) return tb__seterr(eb, TB_EINVAL, "key of %zu bytes", n);
    if (grow((void **)&b->keys, &b->capkeys, b->nkeys, sizeof *b->keys))
        return tb__seterr(eb, TB_ENOMEM, "out of memory");
    uint32_t off = 0;
    int rc = heap_put(b, key, n, &off, eb);
    if (rc) return rc;
    b->keys[b->nkeys++] = (struct kput){gid, off, (uint16_t)n, sys};
    return 0;
}

/* LSD radix sort of names by (k0, k1, gid), 16 bits a pass, trivial passes skipped: 16 bytes of
 * a name decide its place without a look at the heap (a comparison sort there misses the cache on
 * every compare: 7.6 s for 10M names, most of them sharing their first 8 bytes with others). */
static void radix_names(struct nrec *a, struct nrec *tmp, size_t *count, size_t n)
{
    for (int pass = 0; pass < 10; pass++) {
        int shift = pass < 2 ? pass * 16 : ((pass - 2) & 3) * 16;
#define DIGIT(r) ((pass < 2 ? (uint64_t)(r).gid : pass < 6 ? (r).k1 : (r).k0) >> shift & 0xffff)
        memset(count, 0, (1 << 16) * sizeof *count);
        for (size_t i = 0; i < n; i++)
            count[DIGIT(a[i])]++;
        if (n == 0 || count[DIGIT(a[0])] == n) continue;
        size_t sum = 0;
        for (size_t d = 0; d < (1 << 16); d++) {
            size_t c = count[d];
            count[d] = sum;
            sum += c;
        }
        for (size_t i = 0; i < n; i++)
            tmp[count[DIGIT(a[i])]++] = a[i];
#undef DIGIT
        memcpy(a, tmp, n * sizeof *a);
    }
}

/* Names whose first 16 bytes are equal: by the rest, then length, then gid. */
static int name_cmp(const void *x, const void *y, void *arg)
{
    const tb__mdx_builder *b = arg;
    const struct nrec *p = x, *q = y;
    const struct nref *a = &b->nref[p->idx], *c = &b->nref[q->idx];
    size_t n = a->len < c->len ? a->len : c->len;
    int d = memcmp(b->heap.data + a->off, b->heap.data + c->off, n);
    if (d) return d;
    if (a->len != c->len) return a->len < c->len ? -1 : 1;
    return p->gid < q->gid ? -1 : p->gid > q->gid;
}

/* The key order of one gid: core first, then by system name, then by key. */
struct korder {
    const tb__mdx_builder *b;
    uint8_t rank[TB__MDX_MAX_SYSTEMS];
};

static int key_before(const struct korder *o, const struct kput *x, const struct kput *y)
{
    if (x->sys != y->sys) return o->rank[x->sys] < o->rank[y->sys];
    size_t n = x->len < y->len ? x->len : y->len;
    int d = memcmp(o->b->heap.data + x->off, o->b->heap.data + y->off, n);
    return d ? d < 0 : x->len < y->len;
}

/* Sorted sections, ready to write. */
struct out {
    const void *p[NSEC];
    uint64_t len[NSEC];
    uint32_t *kfirst;
    uint8_t *kent;
    uint32_t *name;
    char *sys;
};

static void out_free(struct out *o)
{
    free(o->kfirst);
    free(o->kent);
    free(o->name);
    free(o->sys);
}

static int prepare(tb__mdx_builder *b, struct out *o, tb__errbuf *eb)
{
    memset(o, 0, sizeof *o);
    struct nrec *ntmp = malloc((b->nname ? b->nname : 1) * sizeof *ntmp);
    o->kfirst = calloc((size_t)b->nparty + 1, sizeof *o->kfirst);
    o->kent = malloc((b->nkeys ? b->nkeys : 1) * 8);
    o->name = malloc((b->nname ? b->nname : 1) * 12);
    o->sys = calloc(b->nsys ? b->nsys : 1, TB__MDX_SYSTEM_LEN);
    struct kput *kt = malloc((b->nkeys ? b->nkeys : 1) * sizeof *kt);
    size_t *count = malloc((1 << 16) * sizeof *count);
    /* CERT and MOBILE by (hash, gid): the radix sort skips the passes of gid digits all share */
    int rc = 0;
    for (int i = 0; !rc && i < 2; i++)
        rc = tb__radix_sort128(b->h[i], b->nh[i], sizeof *b->h[i]);
    if (rc || !ntmp || !count || !o->kfirst || !o->kent || !o->name || !o->sys || !kt) {
        free(ntmp);
        free(count);
        free(kt);
        out_free(o);
        return tb__seterr(eb, TB_ENOMEM, "out of memory building the master-data image");
    }
    radix_names(b->name, ntmp, count, b->nname);
    free(count);
    free(ntmp);
    /* Names equal in their first 16 bytes (zero-padded) are ordered by the rest, when there is
     * a rest or their lengths differ. */
    for (size_t i = 0, j; i < b->nname; i = j) {
        int more = 0;
        uint32_t len0 = b->nref[b->name[i].idx].len;
        for (j = i;
             j < b->nname && b->name[j].k0 == b->name[i].k0 && b->name[j].k1 == b->name[i].k1; j++)
            more |= b->nref[b->name[j].idx].len > 16 || b->nref[b->name[j].idx].len != len0;
        if (j - i > 1 && more) qsort_r(b->name + i, j - i, sizeof *b->name, name_cmp, b);
    }
    for (size_t i = 0; i < b->nname; i++) {
        const struct nref *r = &b->nref[b->name[i].idx];
        o->name[i * 3] = r->off;
        o->name[i * 3 + 1] = r->len;
        o->name[i * 3 + 2] = b->name[i].gid;
    }
    /* Keys by gid: a counting sort, then each gid's few keys in order. */
    struct korder ko = {.b = b};
    for (unsigned i = 0; i < b->nsys; i++) {
        memcpy(o->sys + (size_t)i * TB__MDX_SYSTEM_LEN, b->sys[i], TB__MDX_SYSTEM_LEN);
        if (strcmp(b->sys[i], "core") == 0) continue; /* rank 0 */
        ko.rank[i] = 1;
        for (unsigned k = 0; k < b->nsys; k++)
            ko.rank[i] += strcmp(b->sys[k], "core") != 0 && strcmp(b->sys[k], b->sys[i]) < 0;
    }
    for (size_t i = 0; i < b->nkeys; i++)
        o->kfirst[b->keys[i].gid + 1]++;
    for (uint32_t g = 0; g < b->nparty; g++)
        o->kfirst[g + 1] += o->kfirst[g];
    for (size_t i = 0; i < b->nkeys; i++)
        kt[o->kfirst[b->keys[i].gid]++] = b->keys[i];
    for (uint32_t g = b->nparty; g > 0; g--) /* back to starts */
        o->kfirst[g] = o->kfirst[g - 1];
    o->kfirst[0] = 0;
    for (uint32_t g = 0; g < b->nparty; g++)
        for (uint32_t i = o->kfirst[g] + 1; i < o->kfirst[g + 1]; i++)
            for (uint32_t k = i; k > o->kfirst[g] && key_before(&ko, &kt[k], &kt[k - 1]); k--) {
                struct kput t = kt[k];
                kt[k] = kt[k - 1];
                kt[k - 1] = t;
            }
    for (size_t i = 0; i < b->nkeys; i++) {
        uint8_t *e = o->kent + i * 8;
        memcpy(e, &kt[i].off, 4);
        memcpy(e + 4, &kt[i].len, 2);
        e[6] = kt[i].sys;
        e[7] = 0;
    }
    free(kt);
    o->p[S_SYS] = o->sys;
    o->len[S_SYS] = (uint64_t)b->nsys * TB__MDX_SYSTEM_LEN;
    o->p[S_CERT] = b->h[0];
    o->len[S_CERT] = b->nh[0] * 16;
    o->p[S_MOBILE] = b->h[1];
    o->len[S_MOBILE] = b->nh[1] * 16;
    o->p[S_NAME] = o->name;
    o->len[S_NAME] = b->nname * 12;
    o->p[S_KFIRST] = o->kfirst;
    o->len[S_KFIRST] = ((uint64_t)b->nparty + 1) * 4;
    o->p[S_KENT] = o->kent;
    o->len[S_KENT] = b->nkeys * 8;
    o->p[S_HEAP] = b->heap.data;
    o->len[S_HEAP] = b->heap.len;
    return 0;
}

static const uint8_t zeros[8];

static uint64_t pad8(uint64_t n)
{
    return (8 - (n & 7)) & 7;
}

/* Header and section table of the sections in o. */
static void header(const tb__mdx_builder *b, const struct out *o, uint8_t h[TABLE_END])
{
    memset(h, 0, TABLE_END);
    memcpy(h + H_MAGIC, MAGIC, 8);
    uint32_t v = VERSION, nsec = NSEC, nsys = b->nsys;
    memcpy(h + H_VERSION, &v, 4);
    memcpy(h + H_NSEC, &nsec, 4);
    memcpy(h + H_NPARTY, &b->nparty, 4);
    memcpy(h + H_NSYS, &nsys, 4);
    memcpy(h + H_LOAD, &b->load_id, 8);
    uint64_t at = TABLE_END;
    uint32_t crc = 0;
    for (int s = 0; s < NSEC; s++) {
        memcpy(h + HEADER_SIZE + s * 16, &at, 8);
        memcpy(h + HEADER_SIZE + s * 16 + 8, &o->len[s], 8);
        crc = tb__crc32c(crc, o->p[s], o->len[s]);
        crc = tb__crc32c(crc, zeros, pad8(o->len[s]));
        at += o->len[s] + pad8(o->len[s]);
    }
    memcpy(h + H_BODY_CRC, &crc, 4);
    uint32_t hc = tb__crc32c(0, h, TABLE_END);
    memcpy(h + H_HEAD_CRC, &hc, 4);
}

int tb__mdx_builder_write(tb__mdx_builder *b, const char *path, tb__errbuf *eb)
{
    struct out o;
    int rc = prepare(b, &o, eb);
    if (rc) return rc;
    uint8_t h[TABLE_END];
    header(b, &o, h);
    tb__afile af = {.fd = -1};
    rc = tb__afile_open(&af, path, 0640, eb);
    /* Past the page cache: at 10M customers the image is 860 MB, and filling fresh page-cache pages
     * costs a virtual machine far more than the disk write (docs/identity.md). */
    if (!rc) rc = tb__afile_direct(&af, eb);
    if (!rc) rc = tb__afile_write(&af, h, TABLE_END, eb);
    for (int s = 0; !rc && s < NSEC; s++) {
        if (o.len[s]) rc = tb__afile_write(&af, o.p[s], o.len[s], eb);
        if (!rc && pad8(o.len[s])) rc = tb__afile_write(&af, zeros, pad8(o.len[s]), eb);
    }
    if (!rc) rc = tb__afile_commit(&af, eb);
    tb__afile_abort(&af);
    out_free(&o);
    return rc;
}

int tb__mdx_builder_image(tb__mdx_builder *b, tb__mdx **out, tb__errbuf *eb)
{
    *out = NULL;
    struct out o;
    int rc = prepare(b, &o, eb);
    if (rc) return rc;
    uint64_t total = TABLE_END;
    for (int s = 0; s < NSEC; s++)
        total += o.len[s] + pad8(o.len[s]);
    uint8_t *p = total <= SIZE_MAX ? malloc((size_t)total) : NULL;
    if (!p) {
        out_free(&o);
        return tb__seterr(eb, TB_ENOMEM, "out of memory building the master-data image");
    }
    header(b, &o, p);
    size_t at = TABLE_END;
    for (int s = 0; s < NSEC; s++) {
        if (o.len[s]) memcpy(p + at, o.p[s], o.len[s]);
        memset(p + at + o.len[s], 0, pad8(o.len[s]));
        at += o.len[s] + pad8(o.len[s]);
    }
    out_free(&o);
    rc = tb__mdx_from_bytes(p, (size_t)total, out, eb);
    if (rc) {
        free(p);
        return rc;
    }
    (*out)->how = 2;
    return 0;
}

/* ---- reading --------------------------------------------------------------------------------- */

static int parse(tb__mdx *m, const char *what, tb__errbuf *eb)
{
    const uint8_t *p = m->p;
    if (m->len < TABLE_END)
        return tb__seterr(eb, TB_ECORRUPT, "%s byte 0: %zu bytes cannot hold an image", what,
                          m->len);
    if (memcmp(p + H_MAGIC, MAGIC, 8) != 0)
        return tb__seterr(eb, TB_ECORRUPT, "%s byte 0: not a master-data image", what);
    uint8_t h[TABLE_END];
    memcpy(h, p, TABLE_END);
    memset(h + H_HEAD_CRC, 0, 4);
    if (tb__crc32c(0, h, TABLE_END) != rd32(p + H_HEAD_CRC))
        return tb__seterr(eb, TB_ECORRUPT, "%s byte %d: header checksum mismatch", what,
                          H_HEAD_CRC);
    if (rd32(p + H_VERSION) != VERSION)
        return tb__seterr(eb, TB_ECORRUPT, "%s byte %d: version %u, expected %d", what, H_VERSION,
                          rd32(p + H_VERSION), VERSION);
    if (rd32(p + H_NSEC) != NSEC)
        return tb__seterr(eb, TB_ECORRUPT, "%s byte %d: %u sections, expected %d", what, H_NSEC,
                          rd32(p + H_NSEC), NSEC);
    m->nparty = rd32(p + H_NPARTY);
    m->nsys = rd32(p + H_NSYS);
    m->load_id = (int64_t)rd64(p + H_LOAD);
    m->body_crc = rd32(p + H_BODY_CRC);
    if (m->nparty == UINT32_MAX || m->nsys > TB__MDX_MAX_SYSTEMS)
        return tb__seterr(eb, TB_ECORRUPT, "%s byte %d: %u parties, %u systems", what, H_NPARTY,
                          m->nparty, m->nsys);
    for (int s = 0; s < NSEC; s++) {
        uint64_t off = rd64(p + HEADER_SIZE + s * 16), len = rd64(p + HEADER_SIZE + s * 16 + 8);
        if (off < TABLE_END || off % 8 || off > m->len || len > m->len - off || len % entsize[s])
            return tb__seterr(eb, TB_ECORRUPT,
                              "%s byte %d: %s section at %llu, %llu bytes, in a file of %zu", what,
                              HEADER_SIZE + s * 16, sec_name[s], (unsigned long long)off,
                              (unsigned long long)len, m->len);
        m->sec[s] = p + off;
        m->seclen[s] = len;
    }
    if (m->seclen[S_SYS] != (uint64_t)m->nsys * TB__MDX_SYSTEM_LEN ||
        m->seclen[S_KFIRST] != ((uint64_t)m->nparty + 1) * 4)
        return tb__seterr(eb, TB_ECORRUPT, "%s: section sizes disagree with the header", what);
    for (uint32_t i = 0; i < m->nsys; i++)
        if (!memchr(m->sec[S_SYS] + (size_t)i * TB__MDX_SYSTEM_LEN, 0, TB__MDX_SYSTEM_LEN))
            return tb__seterr(eb, TB_ECORRUPT, "%s: system name %u is not terminated", what, i);
    return 0;
}

int tb__mdx_from_bytes(const void *p, size_t len, tb__mdx **out, tb__errbuf *eb)
{
    *out = NULL;
    tb__mdx *m = calloc(1, sizeof *m);
    if (!m) return tb__seterr(eb, TB_ENOMEM, "out of memory");
    m->p = p;
    m->len = len;
    int rc = parse(m, "master-data image", eb);
    if (rc) {
        free(m);
        return rc;
    }
    *out = m;
    return 0;
}

int tb__mdx_open(const char *path, tb__mdx **out, tb__errbuf *eb)
{
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return tb__seterr_errno(eb, errno == ENOENT ? TB_ENOENT : TB_EIO, errno, "cannot open '%s'",
                                path);
    struct stat st;
    int rc = 0;
    if (fstat(fd, &st) != 0) {
        rc = tb__seterr_errno(eb, TB_EIO, errno, "cannot stat '%s'", path);
        close(fd);
        return rc;
    }
    if (st.st_size < TABLE_END || (uint64_t)st.st_size > SIZE_MAX) {
        close(fd);
        return tb__seterr(eb, TB_ECORRUPT, "'%s' byte 0: %lld bytes cannot hold an image", path,
                          (long long)st.st_size);
    }
    void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
    int err = errno;
    close(fd);
    if (p == MAP_FAILED) return tb__seterr_errno(eb, TB_EIO, err, "cannot map '%s'", path);
    tb__mdx *m = calloc(1, sizeof *m);
    if (!m) {
        munmap(p, (size_t)st.st_size);
        return tb__seterr(eb, TB_ENOMEM, "out of memory");
    }
    m->p = p;
    m->len = (size_t)st.st_size;
    m->how = 1;
    char what[300];
    snprintf(what, sizeof what, "'%.280s'", path);
    if ((rc = parse(m, what, eb)) != 0) {
        tb__mdx_close(m);
        return rc;
    }
    *out = m;
    return 0;
}

void tb__mdx_close(tb__mdx *m)
{
    if (!m) return;
    if (m->how == 1)
        munmap((void *)m->p, m->len);
    else if (m->how == 2)
        free((void *)m->p);
    free(m);
}

int tb__mdx_verify(const tb__mdx *m, tb__errbuf *eb)
{
    uint32_t crc = 0;
    for (int s = 0; s < NSEC; s++) {
        crc = tb__crc32c(crc, m->sec[s], m->seclen[s]);
        crc = tb__crc32c(crc, zeros, pad8(m->seclen[s]));
        /* the padding the file holds is zeros too (the checksum counts zeros there) */
        const uint8_t *pad = m->sec[s] + m->seclen[s];
        for (uint64_t i = 0; i < pad8(m->seclen[s]) && pad + i < m->p + m->len; i++)
            if (pad[i])
                return tb__seterr(eb, TB_ECORRUPT,
                                  "master-data image byte %llu: padding is not zero",
                                  (unsigned long long)(pad + i - m->p));
    }
    if (crc != m->body_crc)
        return tb__seterr(eb, TB_ECORRUPT, "master-data image: body checksum mismatch");
    return 0;
}

uint32_t tb__mdx_nparty(const tb__mdx *m)
{
    return m->nparty;
}

int64_t tb__mdx_load_id(const tb__mdx *m)
{
    return m->load_id;
}

static int corrupt(tb__errbuf *eb, const char *sec, uint64_t i)
{
    return tb__seterr(eb, TB_ECORRUPT, "master-data image: %s entry %llu is out of bounds", sec,
                      (unsigned long long)i);
}

/* Name entry i's bytes. */
static int name_at(const tb__mdx *m, uint64_t i, const uint8_t **s, uint32_t *len, uint32_t *gid,
                   tb__errbuf *eb)
{
    const uint8_t *e = m->sec[S_NAME] + i * 12;
    uint32_t off = rd32(e);
    *len = rd32(e + 4);
    *gid = rd32(e + 8);
    if ((uint64_t)off + *len > m->seclen[S_HEAP] || *gid >= m->nparty)
        return corrupt(eb, "name", i);
    *s = m->sec[S_HEAP] + off;
    return 0;
}

/* memcmp order of (s, sn) against (q, qn); with `prefix`, s equal to q on q's length is 0. */
static int cmp_bytes(const uint8_t *s, size_t sn, const char *q, size_t qn, int prefix)
{
    size_t n = sn < qn ? sn : qn;
    int d = memcmp(s, q, n);
    if (d) return d;
    if (prefix && sn >= qn) return 0;
    return sn < qn ? -1 : sn > qn;
}

/* The first name entry not below q. */
static int name_lower(const tb__mdx *m, const char *q, size_t n, uint64_t *at, tb__errbuf *eb)
{
    uint64_t lo = 0, hi = m->seclen[S_NAME] / 12;
    while (lo < hi) {
        uint64_t mid = lo + (hi - lo) / 2;
        const uint8_t *s = NULL;
        uint32_t len, gid;
        int rc = name_at(m, mid, &s, &len, &gid, eb);
        if (rc) return rc;
        if (cmp_bytes(s, len, q, n, 0) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *at = lo;
    return 0;
}

int tb__mdx_lookup(const tb__mdx *m, tb__mdx_field f, const char *v, size_t n, uint32_t *gids,
                   size_t cap, size_t *found, tb__errbuf *eb)
{
    *found = 0;
    if (f == TB__MDX_NAME) {
        uint64_t i, end = m->seclen[S_NAME] / 12;
        int rc = name_lower(m, v, n, &i, eb);
        for (; !rc && i < end; i++) {
            const uint8_t *s = NULL;
            uint32_t len, gid;
            if ((rc = name_at(m, i, &s, &len, &gid, eb)) != 0) break;
            if (cmp_bytes(s, len, v, n, 0) != 0) break;
            if (*found < cap) gids[*found] = gid;
            ++*found;
        }
        return rc;
    }
    if (f != TB__MDX_CERT && f != TB__MDX_MOBILE)
        return tb__seterr(eb, TB_EINVAL, "no such image field %d", (int)f);
    int s = f == TB__MDX_CERT ? S_CERT : S_MOBILE;
    const uint8_t *a = m->sec[s];
    uint64_t h = hash_of(v, n), lo = 0, hi = m->seclen[s] / 16, end = hi;
    while (lo < hi) {
        uint64_t mid = lo + (hi - lo) / 2;
        if (rd64(a + mid * 16) < h)
            lo = mid + 1;
        else
            hi = mid;
    }
    for (; lo < end && rd64(a + lo * 16) == h; lo++) {
        uint32_t gid = rd32(a + lo * 16 + 8);
        if (gid >= m->nparty) return corrupt(eb, sec_name[s], lo);
        if (*found < cap) gids[*found] = gid;
        ++*found;
    }
    return 0;
}

int tb__mdx_prefix(const tb__mdx *m, const char *q, size_t n, uint32_t *gids, size_t cap,
                   size_t *got, tb__errbuf *eb)
{
    *got = 0;
    uint64_t i, end = m->seclen[S_NAME] / 12;
    int rc = name_lower(m, q, n, &i, eb);
    for (; !rc && i < end && *got < cap; i++) {
        const uint8_t *s = NULL;
        uint32_t len, gid;
        if ((rc = name_at(m, i, &s, &len, &gid, eb)) != 0) break;
        if (cmp_bytes(s, len, q, n, 1) != 0) break;
        if (len > n) gids[(*got)++] = gid;
    }
    return rc;
}

int tb__mdx_keys(const tb__mdx *m, uint32_t gid, tb__mdx_key *keys, size_t cap, size_t *n,
                 tb__errbuf *eb)
{
    *n = 0;
    if (gid >= m->nparty) return 0;
    uint32_t a = rd32(m->sec[S_KFIRST] + (size_t)gid * 4);
    uint32_t b = rd32(m->sec[S_KFIRST] + (size_t)gid * 4 + 4);
    uint64_t nkent = m->seclen[S_KENT] / 8;
    if (a > b || b > nkent) return corrupt(eb, "key index", gid);
    for (uint32_t i = a; i < b; i++, ++*n) {
        if (*n >= cap) continue;
        const uint8_t *e = m->sec[S_KENT] + (size_t)i * 8;
        uint32_t off = rd32(e);
        uint16_t len = rd16(e + 4);
        uint8_t sys = e[6];
        if ((uint64_t)off + len > m->seclen[S_HEAP] || sys >= m->nsys)
            return corrupt(eb, "keys", i);
        keys[*n] = (tb__mdx_key){(const char *)m->sec[S_SYS] + (size_t)sys * TB__MDX_SYSTEM_LEN,
                                 (const char *)m->sec[S_HEAP] + off, len};
    }
    return 0;
}

/* ---- the data directory's current image ------------------------------------------------------ */

#define MASTER_DIR "master"

void tb__mdx_forget(tb_db *db)
{
    tb__mdx_close(db->mdx);
    free(db->mdx_file);
    free(db->mdx_for);
    db->mdx = NULL;
    db->mdx_file = db->mdx_for = NULL;
}

static int data_version(tb_db *db, int64_t *v)
{
    sqlite3_stmt *st;
    int rc = tb__meta_stmt(db, TB__STMT_MDX_VERSION, "PRAGMA data_version", &st);
    if (rc) return rc;
    int s = sqlite3_step(st);
    if (s == SQLITE_ROW)
        *v = sqlite3_column_int64(st, 0);
    else
        rc = tb__meta_seterr_sqlite(db, s, "cannot read the store's data version");
    tb__meta_stmt_done(st);
    return rc;
}

/* 1 for a name tb__mdx_new_path makes ("master/NAME.mdx", no other slash, no ".."). */
static int image_name(const char *file)
{
    size_t n = strlen(file);
    return n > sizeof MASTER_DIR + 4 && strncmp(file, MASTER_DIR "/", sizeof MASTER_DIR) == 0 &&
           !strstr(file, "..") && !strchr(file + sizeof MASTER_DIR, '/') &&
           strcmp(file + n - 4, ".mdx") == 0;
}

/* The file md_image names, into *file (caller frees; NULL when there is no row). A value that is
 * not one of our names is TB_ECORRUPT. */
static int current_file(tb_db *db, char **file)
{
    *file = NULL;
    sqlite3_stmt *st;
    int rc = tb__meta_stmt(db, TB__STMT_MDX_GET, "SELECT file FROM md_image WHERE id = 1", &st);
    if (rc) return rc;
    int s = sqlite3_step(st);
    if (s == SQLITE_ROW) {
        const char *f = (const char *)sqlite3_column_text(st, 0);
        if (!(*file = strdup(f ? f : ""))) rc = tb__seterr(&db->err, TB_ENOMEM, "out of memory");
    } else if (s != SQLITE_DONE) {
        rc = tb__meta_seterr_sqlite(db, s, "cannot read md_image");
    }
    tb__meta_stmt_done(st);
    if (!rc && *file && !image_name(*file)) {
        rc = tb__seterr(&db->err, TB_ECORRUPT, "md_image names '%.100s', not an image file", *file);
        free(*file);
        *file = NULL;
    }
    return rc;
}

static int same(const char *a, const char *b)
{
    return a == b || (a && b && strcmp(a, b) == 0);
}

int tb__mdx_current(tb_db *db, const tb__mdx **out)
{
    *out = NULL;
    char *file;
    int rc = current_file(db, &file);
    if (rc) return rc;
    /* An image built in memory stands in for what md_image named then (nothing, or a file that
     * was missing or damaged) until the store changes. */
    if (db->mdx && !db->mdx_file && same(db->mdx_for, file)) {
        int64_t v = 0;
        if ((rc = data_version(db, &v)) == 0 && v == db->mdx_version) {
            free(file);
            *out = db->mdx;
            return 0;
        }
        if (rc) {
            free(file);
            return rc;
        }
    }
    if (!file) return TB_ENOENT;
    if (db->mdx && db->mdx_file && strcmp(db->mdx_file, file) == 0) {
        free(file);
        *out = db->mdx;
        return 0;
    }
    char *abs = tb__db_join(db, file);
    tb__mdx *m = NULL;
    rc = abs ? tb__mdx_open(abs, &m, &db->err) : tb__seterr(&db->err, TB_ENOMEM, "out of memory");
    free(abs);
    if (rc == TB_ENOENT || rc == TB_ECORRUPT)
        tb__log_warn("store", "master-data image '%s': %s: rebuilding it from the rows", file,
                     db->err.msg);
    if (!rc) rc = tb__mdx_adopt(db, m, file);
    free(file);
    if (!rc) *out = db->mdx;
    return rc;
}

int tb__mdx_adopt(tb_db *db, tb__mdx *m, const char *file)
{
    tb__mdx_forget(db);
    char *f = NULL, *stands = NULL;
    int64_t v = 0;
    int rc = 0;
    if (file) {
        if (!(f = strdup(file))) rc = tb__seterr(&db->err, TB_ENOMEM, "out of memory");
    } else {
        rc = current_file(db, &stands);
        if (rc == TB_ECORRUPT) rc = 0; /* a damaged value is what it stands in for: none */
        if (!rc) rc = data_version(db, &v);
    }
    if (rc) {
        free(stands);
        tb__mdx_close(m);
        return rc;
    }
    db->mdx = m;
    db->mdx_file = f;
    db->mdx_for = stands;
    db->mdx_version = v;
    return 0;
}

int tb__mdx_record(tb_db *db, const char *file, int64_t load_id)
{
    sqlite3_stmt *st;
    int rc = tb__meta_stmt(db, TB__STMT_MDX_PUT,
                           "INSERT OR REPLACE INTO md_image (id, file, load_id, created_at) "
                           "VALUES (1, ?1, ?2, strftime('%Y-%m-%d %H:%M:%S', 'now', '+8 hours'))",
                           &st);
    if (rc) return rc;
    sqlite3_bind_text(st, 1, file, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, load_id);
    return tb__meta_run(db, st, "cannot record the master-data image");
}

int tb__mdx_drop(tb_db *db)
{
    char *err = NULL;
    int s = sqlite3_exec(db->sql, "DELETE FROM md_image", NULL, NULL, &err);
    sqlite3_free(err);
    int rc = s == SQLITE_OK ? 0 : tb__meta_seterr_sqlite(db, s, "cannot drop the look-up image");
    if (!rc) tb__mdx_forget(db);
    return rc;
}

int tb__mdx_new_path(tb_db *db, int64_t load_id, char **rel, char **abs)
{
    static unsigned seq;
    *rel = *abs = NULL;
    char *dir = tb__db_join(db, MASTER_DIR);
    if (!dir) return tb__seterr(&db->err, TB_ENOMEM, "out of memory");
    int rc = tb__mkdir_p(dir, 0750, &db->err);
    free(dir);
    if (rc) return rc;
    /* Load, pid and a counter say where a file came from; 64 random bits make the name unique
     * whatever they are (two processes that are both pid 1 in their containers, a rebuild in a
     * transaction that rolls back): an image is never written over one a row may name. */
    uint64_t nonce;
    if (getrandom(&nonce, sizeof nonce, 0) != (ssize_t)sizeof nonce)
        return tb__seterr_errno(&db->err, TB_EIO, errno, "cannot read random bytes");
    char name[128];
    snprintf(name, sizeof name, MASTER_DIR "/%lld-%ld-%u-%016llx.mdx", (long long)load_id,
             (long)getpid(), __atomic_add_fetch(&seq, 1, __ATOMIC_RELAXED),
             (unsigned long long)nonce);
    *rel = strdup(name);
    *abs = tb__db_join(db, name);
    if (!*rel || !*abs) {
        free(*rel);
        free(*abs);
        *rel = *abs = NULL;
        return tb__seterr(&db->err, TB_ENOMEM, "out of memory");
    }
    return 0;
}

void tb__mdx_prune(tb_db *db)
{
    char *file = NULL;
    if (current_file(db, &file)) return;
    char *dir = tb__db_join(db, MASTER_DIR);
    DIR *d = dir ? opendir(dir) : NULL;
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL) {
        size_t n = strlen(e->d_name);
        /* images, and the temp files of writes that died (file.h names them "<path>.tmp.*") */
        if ((n < 5 || strcmp(e->d_name + n - 4, ".mdx") != 0) && !strstr(e->d_name, ".mdx.tmp."))
            continue;
        if (file && strcmp(file + sizeof MASTER_DIR, e->d_name) == 0) continue;
        if (unlinkat(dirfd(d), e->d_name, 0) != 0)
            tb__log_warn("store", "cannot remove '%s/%s': %s", dir, e->d_name, strerror(errno));
    }
    if (d) closedir(d);
    free(dir);
    free(file);
}

/* ---- building from the meta store's rows ------------------------------------------------------
 */

int tb__mdx_put_store(tb_db *db, tb__mdx_builder *b)
{
    tb__errbuf *eb = &db->err;
    sqlite3_stmt *st;
    int rc = tb__meta_stmt(db, TB__STMT_ID_SCAN_PARTY,
                           "SELECT gid, cert_no, mobile, name FROM party", &st);
    if (rc) return rc;
    static const tb__mdx_field cols[] = {TB__MDX_CERT, TB__MDX_MOBILE, TB__MDX_NAME};
    int s;
    while (rc == 0 && (s = sqlite3_step(st)) == SQLITE_ROW) {
        uint32_t g = (uint32_t)sqlite3_column_int64(st, 0);
        for (int c = 0; rc == 0 && c < 3; c++) {
            const char *v = (const char *)sqlite3_column_text(st, c + 1);
            if (v) rc = tb__mdx_put(b, cols[c], g, v, (size_t)sqlite3_column_bytes(st, c + 1), eb);
        }
    }
    if (!rc && s != SQLITE_DONE) rc = tb__meta_seterr_sqlite(db, s, "cannot read parties");
    tb__meta_stmt_done(st);
    if (rc) return rc;
    rc = tb__meta_stmt(db, TB__STMT_ID_SCAN_PARTY_KEY, "SELECT system, key, gid FROM party_key",
                       &st);
    if (rc) return rc;
    char last[TB__MDX_SYSTEM_LEN] = "";
    uint8_t sys = 0;
    while (rc == 0 && (s = sqlite3_step(st)) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(st, 0);
        if (!name) name = "";
        if (strcmp(name, last) != 0) { /* rows come by system: one look-up per system */
            rc = tb__mdx_builder_system(b, name, &sys, eb);
            snprintf(last, sizeof last, "%s", name);
        }
        if (!rc)
            rc = tb__mdx_put_key(b, (uint32_t)sqlite3_column_int64(st, 2), sys,
                                 (const char *)sqlite3_column_text(st, 1),
                                 (size_t)sqlite3_column_bytes(st, 1), eb);
    }
    if (!rc && s != SQLITE_DONE) rc = tb__meta_seterr_sqlite(db, s, "cannot read party keys");
    tb__meta_stmt_done(st);
    return rc;
}

int tb__mdx_rebuild(tb_db *db)
{
    sqlite3_stmt *st;
    int rc = tb__meta_stmt(db, TB__STMT_ID_PARTY_COUNT,
                           "SELECT coalesce(max(gid) + 1, 0) FROM party", &st);
    if (rc) return rc;
    int s = sqlite3_step(st);
    int64_t n = s == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    if (s != SQLITE_ROW) rc = tb__meta_seterr_sqlite(db, s, "cannot count parties");
    tb__meta_stmt_done(st);
    if (rc) return rc;
    if (n < 0 || n >= UINT32_MAX)
        return tb__seterr(&db->err, TB_ECORRUPT, "party gids reach %lld", (long long)n);
    tb__mdx_builder *b;
    if (tb__mdx_builder_create((uint32_t)n, 0, &b))
        return tb__seterr(&db->err, TB_ENOMEM, "out of memory");
    rc = tb__mdx_put_store(db, b);
    if (!rc && !(db->flags & TB_OPEN_READONLY)) {
        char *rel = NULL, *abs = NULL;
        rc = tb__mdx_new_path(db, 0, &rel, &abs);
        if (!rc) rc = tb__mdx_builder_write(b, abs, &db->err);
        if (!rc) rc = tb__mdx_record(db, rel, 0);
        free(rel);
        free(abs);
        tb__mdx_builder_free(b);
        if (rc) return rc;
        tb__log_info("store", "master-data look-up image built from %lld parties", (long long)n);
        if (sqlite3_get_autocommit(db->sql)) tb__mdx_prune(db); /* recorded for good */
        return 0;
    }
    tb__mdx *m = NULL;
    if (!rc) rc = tb__mdx_builder_image(b, &m, &db->err);
    tb__mdx_builder_free(b);
    return rc ? rc : tb__mdx_adopt(db, m, NULL);
}

int tb__mdx_check(tb_db *db, char *msg, size_t cap)
{
    char *file;
    if (current_file(db, &file) != 0) {
        snprintf(msg, cap, "%s", db->err.msg);
        return -1;
    }
    if (!file) return 0;
    char *abs = tb__db_join(db, file);
    tb__errbuf eb = {0};
    tb__mdx *m = NULL;
    int rc = abs ? tb__mdx_open(abs, &m, &eb) : tb__seterr(&eb, TB_ENOMEM, "out of memory");
    if (!rc) rc = tb__mdx_verify(m, &eb);
    if (rc) snprintf(msg, cap, "'%s': %s", file, eb.msg);
    tb__mdx_close(m);
    free(abs);
    free(file);
    return rc ? -1 : 1;
}
