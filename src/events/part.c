/* part.c — columnar day partitions of events: encoding, the safe decoder, listing, and the bulk
 * writer. The merging append (tb__evpart_append) is in part_append.c; the multi-day loader in
 * evset.c. The format is described in evstore.h and docs/events.md. */
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#include "common/crc32c.h"
#include "events/evpart_int.h"
#include "events/evstore.h"
#include "store/file.h"

#define HDR_LEN  64u
#define SEC_LEN  24u
#define VERSION  1u
#define MAX_ROWS 0xFFFFFFF0u

enum {
    SEC_EVDICT = 1,
    SEC_PERSON = 2,
    SEC_TS = 3,
    SEC_CODE = 4,
    SEC_COLDESC = 5,
    SEC_COLVAL = 6,
};

static void put32(uint8_t *p, uint32_t v)
{
    memcpy(p, &v, 4); /* little-endian hosts only (x86-64, aarch64): asserted by the build */
}
static void put64(uint8_t *p, uint64_t v)
{
    memcpy(p, &v, 8);
}
static uint32_t get32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}
static uint64_t get64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "the event formats are little-endian");

/* ---- encoding ------------------------------------------------------------------------------ */

static int put_section(tb__buf *out, uint32_t kind, uint32_t col, const void *raw, size_t rawlen,
                       int level, tb__errbuf *eb)
{
    size_t bound = ZSTD_compressBound(rawlen);
    if (tb__buf_reserve(out, SEC_LEN + bound)) return tb__seterr(eb, TB_ENOMEM, "out of memory");
    uint8_t *h = (uint8_t *)out->data + out->len;
    size_t c = ZSTD_compress(h + SEC_LEN, bound, raw, rawlen, level);
    if (ZSTD_isError(c))
        return tb__seterr(eb, TB_ENOMEM, "cannot compress: %s", ZSTD_getErrorName(c));
    if (c > UINT32_MAX) return tb__seterr(eb, TB_ELIMIT, "a column is over 4 GiB compressed");
    put32(h, kind);
    put32(h + 4, col);
    put64(h + 8, rawlen);
    put32(h + 16, (uint32_t)c);
    uint32_t crc = tb__crc32c(tb__crc32c(0, h, 20), h + SEC_LEN, c);
    put32(h + 20, crc);
    out->len += SEC_LEN + c;
    return 0;
}

static int name_ok(const char *s, size_t max)
{
    if (!s) return 0;
    size_t n = strnlen(s, max + 1);
    return n >= 1 && n <= max;
}

int tb__evpart_encode(const tb__evpart *p, int level, tb__buf *out, tb__errbuf *eb)
{
    if (level <= 0) level = 3;
    uint32_t n = p->nrows;
    if (n > MAX_ROWS) return tb__seterr(eb, TB_ELIMIT, "too many rows in one day");
    if (p->nevents > 65535)
        return tb__seterr(eb, TB_ELIMIT, "more than 65535 event names in one day");
    if (p->ncols > TB__EV_MAX_COLS)
        return tb__seterr(eb, TB_ELIMIT, "more than %d property keys in one day", TB__EV_MAX_COLS);
    for (uint32_t i = 0; i < p->nevents; i++)
        if (!name_ok(p->events[i], TB__EV_NAME_MAX))
            return tb__seterr(eb, TB_EINVAL, "event name %u is empty or over 100 bytes", i);
    for (uint32_t i = 0; i < n; i++) {
        if (p->ts[i] >= TB__EV_DAY_MS)
            return tb__seterr(eb, TB_EINVAL, "row %u: ts past the day", i);
        if (p->code[i] >= p->nevents) return tb__seterr(eb, TB_EINVAL, "row %u: bad event code", i);
        if (i && (p->person[i] < p->person[i - 1] ||
                  (p->person[i] == p->person[i - 1] && p->ts[i] < p->ts[i - 1])))
            return tb__seterr(eb, TB_EINVAL, "row %u: rows not sorted by (person, ts)", i);
    }
    for (uint32_t c = 0; c < p->ncols; c++) {
        const tb__evcol *col = &p->cols[c];
        if (!name_ok(col->name, 255))
            return tb__seterr(eb, TB_EINVAL, "property column %u: bad name", c);
        for (uint32_t d = 0; d < c; d++)
            if (strcmp(p->cols[d].name, col->name) == 0)
                return tb__seterr(eb, TB_EINVAL, "property '%s' twice", col->name);
        if (col->type == TB__EVCOL_DICT) {
            for (uint32_t i = 0; i < n; i++)
                if (col->code[i] > col->ndict)
                    return tb__seterr(eb, TB_EINVAL, "property '%s': bad code", col->name);
        } else if (col->type != TB__EVCOL_NUM)
            return tb__seterr(eb, TB_EINVAL, "property '%s': bad type", col->name);
    }

    size_t start = out->len;
    if (tb__buf_reserve(out, HDR_LEN)) return tb__seterr(eb, TB_ENOMEM, "out of memory");
    memset(out->data + out->len, 0, HDR_LEN);
    out->len += HDR_LEN;

    tb__buf tmp = TB__BUF_INIT;
    int rc = 0;
    uint32_t nsec = 0;
    /* event dictionary: u8 length + bytes per name */
    for (uint32_t i = 0; !rc && i < p->nevents; i++) {
        size_t l = strlen(p->events[i]);
        uint8_t b = (uint8_t)l;
        rc = tb__buf_append(&tmp, &b, 1) || tb__buf_append(&tmp, p->events[i], l) ? TB_ENOMEM : 0;
    }
    if (!rc) rc = put_section(out, SEC_EVDICT, 0, tmp.data, tmp.len, level, eb), nsec++;
    uint32_t *d = NULL;
    if (!rc && n && !(d = malloc((size_t)n * 4))) rc = TB_ENOMEM;
    if (!rc) {
        uint32_t prev = 0;
        for (uint32_t i = 0; i < n; i++) {
            d[i] = p->person[i] - prev;
            prev = p->person[i];
        }
        rc = put_section(out, SEC_PERSON, 0, d, (size_t)n * 4, level, eb), nsec++;
    }
    free(d);
    if (!rc) rc = put_section(out, SEC_TS, 0, p->ts, (size_t)n * 4, level, eb), nsec++;
    if (!rc) rc = put_section(out, SEC_CODE, 0, p->code, (size_t)n * 2, level, eb), nsec++;
    for (uint32_t c = 0; !rc && c < p->ncols; c++) {
        const tb__evcol *col = &p->cols[c];
        tb__buf_reset(&tmp);
        uint8_t hd[8];
        size_t nl = strlen(col->name);
        hd[0] = (uint8_t)col->type;
        hd[1] = (uint8_t)nl;
        put32(hd + 2, col->type == TB__EVCOL_DICT ? col->ndict : 0);
        rc = tb__buf_append(&tmp, hd, 6) || tb__buf_append(&tmp, col->name, nl) ? TB_ENOMEM : 0;
        for (uint32_t k = 0; !rc && col->type == TB__EVCOL_DICT && k < col->ndict; k++) {
            uint8_t l4[4];
            put32(l4, col->dictlen[k]);
            rc = tb__buf_append(&tmp, l4, 4) || tb__buf_append(&tmp, col->dict[k], col->dictlen[k])
                     ? TB_ENOMEM
                     : 0;
        }
        if (rc) break;
        rc = put_section(out, SEC_COLDESC, c, tmp.data, tmp.len, level, eb), nsec++;
        if (!rc) {
            if (col->type == TB__EVCOL_NUM)
                rc = put_section(out, SEC_COLVAL, c, col->num, (size_t)n * 8, level, eb);
            else
                rc = put_section(out, SEC_COLVAL, c, col->code, (size_t)n * 4, level, eb);
            nsec++;
        }
    }
    tb__buf_release(&tmp);
    if (rc) {
        out->len = start;
        return rc == TB_ENOMEM && !eb->msg[0] ? tb__seterr(eb, rc, "out of memory") : rc;
    }
    uint8_t *h = (uint8_t *)out->data + start;
    memcpy(h, "TBEV", 4);
    put32(h + 4, VERSION);
    put32(h + 8, (uint32_t)p->day);
    put32(h + 12, 0);
    put64(h + 16, n);
    put32(h + 24, p->nevents);
    put32(h + 28, p->ncols);
    put32(h + 32, nsec);
    put32(h + 36, 0);
    put64(h + 40, out->len - start);
    put32(h + 60, tb__crc32c(0, h, 60));
    return 0;
}

int tb__evpart_path(const char *dir, int32_t day, char *out, size_t len)
{
    int64_t y;
    unsigned m, dd;
    tb__ev_civil(day, &y, &m, &dd);
    int r = snprintf(out, len, "%s/events/parts/%04lld%02u%02u.tbev", dir, (long long)y, m, dd);
    return r < 0 || (size_t)r >= len ? -1 : 0;
}

int tb__evpart_write(const char *dir, const tb__evkeys *k, const tb__evpart *p, int level,
                     tb__errbuf *eb)
{
    char path[4096], pdir[4096];
    if (tb__evpart_path(dir, p->day, path, sizeof path) ||
        snprintf(pdir, sizeof pdir, "%s/events/parts", dir) >= (int)sizeof pdir)
        return tb__seterr(eb, TB_EINVAL, "data directory path too long");
    int rc = tb__mkdir_p(pdir, 0750, eb);
    if (rc) return rc;
    tb__buf b = TB__BUF_INIT;
    rc = tb__evpart_encode(p, level, &b, eb);
    if (!rc) rc = tb__ev_file_write(path, path + strlen(dir) + 1, k, b.data, b.len, eb);
    tb__buf_release(&b);
    return rc;
}

/* Hinnant's civil_from_days. */
void tb__ev_civil(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t yy = (int64_t)yoe + era * 400;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = yy + (*m <= 2);
}

int64_t tb__ev_days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

int tb__ev_parse_day(const char *s, int32_t *day)
{
    if (!s) return -1;
    size_t n = strlen(s);
    char dg[8];
    if (n == 8 && strspn(s, "0123456789") == 8)
        memcpy(dg, s, 8);
    else if (n == 10 && s[4] == '-' && s[7] == '-' && strspn(s, "0123456789") == 4 &&
             strspn(s + 5, "0123456789") == 2 && strspn(s + 8, "0123456789") == 2) {
        memcpy(dg, s, 4);
        memcpy(dg + 4, s + 5, 2);
        memcpy(dg + 6, s + 8, 2);
    } else
        return -1;
    int y = (dg[0] - '0') * 1000 + (dg[1] - '0') * 100 + (dg[2] - '0') * 10 + (dg[3] - '0');
    unsigned m = (unsigned)((dg[4] - '0') * 10 + (dg[5] - '0'));
    unsigned d = (unsigned)((dg[6] - '0') * 10 + (dg[7] - '0'));
    static const unsigned mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (y < 1970 || y > 9999 || m < 1 || m > 12 || d < 1) return -1;
    unsigned lim = mdays[m - 1] + (m == 2 && (y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)));
    if (d > lim) return -1;
    *day = (int32_t)tb__ev_days_from_civil(y, m, d);
    return 0;
}

char *tb__ev_day_text(int32_t day, char out[16])
{
    int64_t y;
    unsigned m, d;
    tb__ev_civil(day, &y, &m, &d);
    snprintf(out, 16, "%04lld-%02u-%02u", (long long)y, m, d);
    return out;
}

int tb__evpart_list(const char *dir, int32_t **days, size_t *ndays, tb__errbuf *eb)
{
    *days = NULL;
    *ndays = 0;
    char pdir[4096];
    if (snprintf(pdir, sizeof pdir, "%s/events/parts", dir) >= (int)sizeof pdir)
        return tb__seterr(eb, TB_EINVAL, "data directory path too long");
    DIR *dh = opendir(pdir);
    if (!dh) {
        if (errno == ENOENT) return 0;
        return tb__seterr_errno(eb, TB_EIO, errno, "cannot open '%s'", pdir);
    }
    size_t cap = 0;
    int rc = 0;
    struct dirent *de;
    while ((de = readdir(dh))) {
        const char *nm = de->d_name;
        if (strlen(nm) != 13 || strcmp(nm + 8, ".tbev") != 0) continue;
        char ymd[9];
        memcpy(ymd, nm, 8);
        ymd[8] = 0;
        int32_t day;
        if (tb__ev_parse_day(ymd, &day)) continue;
        if (*ndays == cap) {
            cap = cap ? cap * 2 : 64;
            int32_t *nd = realloc(*days, cap * sizeof **days);
            if (!nd) {
                rc = tb__seterr(eb, TB_ENOMEM, "out of memory");
                break;
            }
            *days = nd;
        }
        (*days)[(*ndays)++] = day;
    }
    closedir(dh);
    if (rc) {
        free(*days);
        *days = NULL;
        *ndays = 0;
        return rc;
    }
    /* insertion sort: a few hundred names at most */
    for (size_t i = 1; i < *ndays; i++)
        for (size_t j = i; j > 0 && (*days)[j - 1] > (*days)[j]; j--) {
            int32_t t = (*days)[j];
            (*days)[j] = (*days)[j - 1];
            (*days)[j - 1] = t;
        }
    return 0;
}

/* ---- decoding ------------------------------------------------------------------------------ */

typedef struct own {
    void **mem;
    size_t nmem, cap;
} own;

static void *own_alloc(own *o, size_t n)
{
    if (o->nmem == o->cap) {
        size_t cap = o->cap ? o->cap * 2 : 16;
        void **m = realloc(o->mem, cap * sizeof *m);
        if (!m) return NULL;
        o->mem = m;
        o->cap = cap;
    }
    void *p = malloc(n ? n : 1);
    if (p) o->mem[o->nmem++] = p;
    return p;
}

void tb__evpart_release(tb__evpart *p)
{
    if (!p) return;
    own *o = p->own;
    if (o) {
        for (size_t i = 0; i < o->nmem; i++)
            free(o->mem[i]);
        free(o->mem);
        free(o);
    }
    memset(p, 0, sizeof *p);
}

typedef struct rd {
    const uint8_t *b;
    size_t len, off;
    tb__errbuf *eb;
    unsigned flags;
} rd;

#define BAD(r, at, ...) tb__seterr((r)->eb, TB_ECORRUPT, "byte " at ": " __VA_ARGS__)

/* Reads the next section header; checks kind/col, bounds and checksum; decompresses into a fresh
 * allocation of exactly `want` raw bytes (want == SIZE_MAX: any size up to the ratio bound) unless
 * `skip`. */
static int next_section(rd *r, own *o, uint32_t kind, uint32_t col, size_t want, int skip,
                        void **raw, size_t *rawlen)
{
    *raw = NULL;
    *rawlen = 0;
    size_t at = r->off;
    if (r->len - r->off < SEC_LEN)
        return tb__seterr(r->eb, TB_ECORRUPT, "byte %zu: section header cut short", at);
    const uint8_t *h = r->b + r->off;
    uint32_t k = get32(h), c = get32(h + 4), clen = get32(h + 16);
    uint64_t rl = get64(h + 8);
    if (k != kind || c != col)
        return tb__seterr(r->eb, TB_ECORRUPT, "byte %zu: section %u/%u, expected %u/%u", at, k, c,
                          kind, col);
    if (clen > r->len - r->off - SEC_LEN)
        return tb__seterr(r->eb, TB_ECORRUPT, "byte %zu: section of %u bytes past the end", at,
                          clen);
    if (want != SIZE_MAX && rl != want)
        return tb__seterr(r->eb, TB_ECORRUPT, "byte %zu: raw length %llu, expected %zu", at + 8,
                          (unsigned long long)rl, want);
    /* zstd cannot expand more than about 32768:1 (RLE blocks): bound what we allocate */
    if (rl > (uint64_t)clen * 32768 + 65536)
        return tb__seterr(r->eb, TB_ECORRUPT, "byte %zu: raw length %llu impossible for %u bytes",
                          at + 8, (unsigned long long)rl, clen);
    const uint8_t *payload = h + SEC_LEN;
    uint32_t crc = tb__crc32c(tb__crc32c(0, h, 20), payload, clen);
    if (crc != get32(h + 20))
        return tb__seterr(r->eb, TB_ECORRUPT, "byte %zu: section checksum mismatch", at + 20);
    r->off += SEC_LEN + clen;
    if (skip) return 0;
    void *dst = own_alloc(o, (size_t)rl);
    if (!dst) return tb__seterr(r->eb, TB_ENOMEM, "out of memory");
    unsigned long long fcs = ZSTD_getFrameContentSize(payload, clen);
    if (fcs != rl)
        return tb__seterr(r->eb, TB_ECORRUPT, "byte %zu: zstd frame size is not the raw length",
                          at + SEC_LEN);
    size_t got = ZSTD_decompress(dst, (size_t)rl, payload, clen);
    if (ZSTD_isError(got) || got != rl)
        return tb__seterr(r->eb, TB_ECORRUPT, "byte %zu: zstd: %s", at + SEC_LEN,
                          ZSTD_isError(got) ? ZSTD_getErrorName(got) : "short frame");
    *raw = dst;
    *rawlen = (size_t)rl;
    return 0;
}

int tb__evpart_parse(const void *buf, size_t len, unsigned flags, tb__evpart *out, tb__errbuf *eb)
{
    memset(out, 0, sizeof *out);
    const uint8_t *b = buf;
    if (len < HDR_LEN)
        return tb__seterr(eb, TB_ECORRUPT, "byte 0: %zu bytes, not a partition", len);
    if (memcmp(b, "TBEV", 4) != 0) return tb__seterr(eb, TB_ECORRUPT, "byte 0: bad magic");
    if (get32(b + 60) != tb__crc32c(0, b, 60))
        return tb__seterr(eb, TB_ECORRUPT, "byte 60: header checksum mismatch");
    uint32_t ver = get32(b + 4);
    if (ver != VERSION)
        return tb__seterr(eb, ver > VERSION ? TB_EVERSION : TB_ECORRUPT,
                          "byte 4: format version %u, expected %u", ver, VERSION);
    uint64_t n64 = get64(b + 16), flen = get64(b + 40);
    uint32_t nev = get32(b + 24), ncols = get32(b + 28), nsec = get32(b + 32);
    if (get32(b + 12) || get32(b + 36) || get64(b + 48) || get32(b + 56))
        return tb__seterr(eb, TB_ECORRUPT, "byte 12: reserved fields not zero");
    if (n64 > MAX_ROWS)
        return tb__seterr(eb, TB_ECORRUPT, "byte 16: %llu rows", (unsigned long long)n64);
    if (nev > 65535) return tb__seterr(eb, TB_ECORRUPT, "byte 24: %u event names", nev);
    if (ncols > TB__EV_MAX_COLS) return tb__seterr(eb, TB_ECORRUPT, "byte 28: %u columns", ncols);
    if (nsec != 4 + 2 * ncols)
        return tb__seterr(eb, TB_ECORRUPT, "byte 32: %u sections, expected %u", nsec,
                          4 + 2 * ncols);
    if (flen != len)
        return tb__seterr(eb, TB_ECORRUPT, "byte 40: file length %llu, have %zu",
                          (unsigned long long)flen, len);
    uint32_t n = (uint32_t)n64;
    own *o = calloc(1, sizeof *o);
    if (!o) return tb__seterr(eb, TB_ENOMEM, "out of memory");
    out->own = o;
    out->day = (int32_t)get32(b + 8);
    out->nrows = n;
    out->nevents = nev;
    rd r = {b, len, HDR_LEN, eb, flags};
    void *raw;
    size_t rl;
    int rc = next_section(&r, o, SEC_EVDICT, 0, SIZE_MAX, 0, &raw, &rl);
    if (rc) goto out_fail;
    out->events = own_alloc(o, (size_t)nev * sizeof(char *));
    char *names = own_alloc(o, rl + nev);
    if (!out->events || !names) {
        rc = tb__seterr(eb, TB_ENOMEM, "out of memory");
        goto out_fail;
    }
    {
        const uint8_t *q = raw, *qe = q + rl;
        for (uint32_t i = 0; i < nev; i++) {
            if (q >= qe || *q == 0 || *q > TB__EV_NAME_MAX || (size_t)(qe - q - 1) < *q) {
                rc = tb__seterr(eb, TB_ECORRUPT, "event dictionary: entry %u malformed", i);
                goto out_fail;
            }
            size_t l = *q++;
            if (memchr(q, 0, l)) {
                rc = tb__seterr(eb, TB_ECORRUPT, "event dictionary: entry %u has a NUL", i);
                goto out_fail;
            }
            memcpy(names, q, l);
            names[l] = 0;
            out->events[i] = names;
            names += l + 1;
            q += l;
        }
        if (q != qe) {
            rc = tb__seterr(eb, TB_ECORRUPT, "event dictionary: trailing bytes");
            goto out_fail;
        }
    }
    if ((rc = next_section(&r, o, SEC_PERSON, 0, (size_t)n * 4, 0, &raw, &rl))) goto out_fail;
    out->person = raw;
    if ((rc = next_section(&r, o, SEC_TS, 0, (size_t)n * 4, 0, &raw, &rl))) goto out_fail;
    out->ts = raw;
    if ((rc = next_section(&r, o, SEC_CODE, 0, (size_t)n * 2, 0, &raw, &rl))) goto out_fail;
    out->code = raw;
    {
        uint32_t prev = 0;
        for (uint32_t i = 0; i < n; i++) {
            uint32_t p = prev + out->person[i];
            if (p < prev) {
                rc = tb__seterr(eb, TB_ECORRUPT, "row %u: person id overflows", i);
                goto out_fail;
            }
            if (out->ts[i] >= TB__EV_DAY_MS || out->code[i] >= nev ||
                (i && p == prev && out->ts[i] < out->ts[i - 1])) {
                rc = tb__seterr(eb, TB_ECORRUPT, "row %u: ts or event code out of range or order",
                                i);
                goto out_fail;
            }
            out->person[i] = p;
            prev = p;
        }
    }
    int props = (flags & TB__EVP_PROPS) != 0;
    if (props && ncols) {
        out->cols = own_alloc(o, (size_t)ncols * sizeof(tb__evcol));
        if (!out->cols) {
            rc = tb__seterr(eb, TB_ENOMEM, "out of memory");
            goto out_fail;
        }
        memset(out->cols, 0, (size_t)ncols * sizeof(tb__evcol));
        out->ncols = ncols;
    }
    for (uint32_t c = 0; c < ncols; c++) {
        if ((rc = next_section(&r, o, SEC_COLDESC, c, SIZE_MAX, !props, &raw, &rl))) goto out_fail;
        tb__evcol tmp, *col = props ? &out->cols[c] : &tmp;
        memset(col, 0, sizeof *col);
        if (props) {
            const uint8_t *q = raw;
            if (rl < 6 || (q[0] != TB__EVCOL_NUM && q[0] != TB__EVCOL_DICT) || q[1] == 0 ||
                rl - 6 < q[1]) {
                rc = tb__seterr(eb, TB_ECORRUPT, "column %u: bad descriptor", c);
                goto out_fail;
            }
            col->type = q[0];
            size_t nl = q[1];
            uint32_t nd = get32(q + 2);
            char *nm = own_alloc(o, nl + 1);
            if (!nm) {
                rc = tb__seterr(eb, TB_ENOMEM, "out of memory");
                goto out_fail;
            }
            memcpy(nm, q + 6, nl);
            nm[nl] = 0;
            if (memchr(nm, 0, nl)) {
                rc = tb__seterr(eb, TB_ECORRUPT, "column %u: NUL in its name", c);
                goto out_fail;
            }
            for (uint32_t d = 0; d < c; d++)
                if (strcmp(out->cols[d].name, nm) == 0) {
                    rc = tb__seterr(eb, TB_ECORRUPT, "column %u: name '%s' twice", c, nm);
                    goto out_fail;
                }
            col->name = nm;
            const uint8_t *qe = q + rl;
            q += 6 + nl;
            if (col->type == TB__EVCOL_NUM && (nd || q != qe)) {
                rc = tb__seterr(eb, TB_ECORRUPT, "column %u: number column with a dictionary", c);
                goto out_fail;
            }
            if (col->type == TB__EVCOL_DICT) {
                /* each entry takes at least 4 bytes: nd is bounded by the section */
                if (nd > (size_t)(qe - q) / 4) {
                    rc = tb__seterr(eb, TB_ECORRUPT, "column %u: %u values do not fit", c, nd);
                    goto out_fail;
                }
                const char **dict = own_alloc(o, (size_t)nd * sizeof(char *) + 1);
                uint32_t *dl = own_alloc(o, (size_t)nd * 4 + 1);
                char *txt = own_alloc(o, (size_t)(qe - q) + 1);
                if (!dict || !dl || !txt) {
                    rc = tb__seterr(eb, TB_ENOMEM, "out of memory");
                    goto out_fail;
                }
                for (uint32_t k = 0; k < nd; k++) {
                    if (qe - q < 4 || (size_t)(qe - q - 4) < get32(q)) {
                        rc = tb__seterr(eb, TB_ECORRUPT, "column %u: value %u cut short", c, k);
                        goto out_fail;
                    }
                    uint32_t l = get32(q);
                    q += 4;
                    if (l == 0 || memchr(q, 0, l)) {
                        rc = tb__seterr(eb, TB_ECORRUPT, "column %u: value %u empty or NUL", c, k);
                        goto out_fail;
                    }
                    memcpy(txt, q, l);
                    txt[l] = 0;
                    dict[k] = txt;
                    dl[k] = l;
                    txt += l + 1;
                    q += l;
                }
                if (q != qe) {
                    rc = tb__seterr(eb, TB_ECORRUPT, "column %u: trailing bytes", c);
                    goto out_fail;
                }
                col->ndict = nd;
                col->dict = dict;
                col->dictlen = dl;
            }
        }
        size_t want = !props                       ? SIZE_MAX
                      : col->type == TB__EVCOL_NUM ? (size_t)n * 8
                                                   : (size_t)n * 4;
        if ((rc = next_section(&r, o, SEC_COLVAL, c, want, !props, &raw, &rl))) goto out_fail;
        if (!props) continue;
        if (col->type == TB__EVCOL_NUM)
            col->num = raw;
        else {
            col->code = raw;
            for (uint32_t i = 0; i < n; i++)
                if (col->code[i] > col->ndict) {
                    rc = tb__seterr(eb, TB_ECORRUPT, "column %u row %u: code out of range", c, i);
                    goto out_fail;
                }
        }
    }
    if (r.off != len) {
        rc = tb__seterr(eb, TB_ECORRUPT, "byte %zu: trailing bytes", r.off);
        goto out_fail;
    }
    return 0;
out_fail:
    tb__evpart_release(out);
    return rc;
}

int tb__evpart_read(const char *dir, const tb__evkeys *k, int32_t day, unsigned flags,
                    tb__evpart *out, tb__errbuf *eb)
{
    memset(out, 0, sizeof *out);
    out->day = day;
    char path[4096];
    if (tb__evpart_path(dir, day, path, sizeof path))
        return tb__seterr(eb, TB_EINVAL, "data directory path too long");
    char *data;
    size_t len;
    int rc =
        tb__ev_file_read(path, path + strlen(dir) + 1, k, (size_t)1 << 40, &data, &len, NULL, eb);
    if (rc) return rc;
    rc = tb__evpart_parse(data, len, flags, out, eb);
    free(data);
    if (rc) {
        char msg[TB__ERRMSG_MAX];
        tb__copyerr(eb, msg, sizeof msg);
        tb__seterr(eb, rc, "'%s': %s", path, msg);
        out->day = day;
        return rc;
    }
    if (out->day != day) {
        tb__evpart_release(out);
        out->day = day;
        return tb__seterr(eb, TB_ECORRUPT, "'%s': holds another day", path);
    }
    return 0;
}
