/* row.c — builds one extract row field by field, injects at most one defect into it, and
 * serialises it as Hive text or RFC 4180 CSV into the chunk's buffer of its file. */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "gen/gen_int.h"

const char *const tb__gen_kind_names[GK_COUNT] = {
    "bad_id_check",  "bad_mobile",         "missing_required", "unknown_code",
    "duplicate_row", "wrong_column_count", "bad_date",
};

void tb__gen_row_begin(gen_row *r)
{
    r->n = 0;
    r->used = 0;
}

/* Reserves room for a field of up to `n` bytes and opens it. The row buffer is sized for the
 * longest row the generator builds; overflowing it is a bug, hence the assert. */
static char *field_open(gen_row *r, size_t n)
{
    assert(r->n < GEN_MAXCOLS && r->used + n <= GEN_ROWCAP);
    r->off[r->n] = (uint16_t)r->used;
    r->null[r->n] = 0;
    return r->data + r->used;
}

static void field_close(gen_row *r, size_t n)
{
    r->len[r->n] = (uint16_t)n;
    r->used += (unsigned)n;
    r->n++;
}

void tb__gen_col_strn(gen_row *r, const char *s, size_t n)
{
    memcpy(field_open(r, n), s, n);
    field_close(r, n);
}

void tb__gen_col_str(gen_row *r, const char *s)
{
    tb__gen_col_strn(r, s, strlen(s));
}

void tb__gen_col_u64(gen_row *r, uint64_t v)
{
    char tmp[TB__U64_DIGITS_MAX];
    tb__gen_col_strn(r, tmp, tb__u64_digits(v, tmp));
}

void tb__gen_col_zpad(gen_row *r, uint64_t v, int width)
{
    char *p = field_open(r, (size_t)width);
    tb__gen_zpad(p, v, width);
    field_close(r, (size_t)width);
}

void tb__gen_col_fixed(gen_row *r, int64_t v, int scale)
{
    assert(scale >= 0 && scale <= 9);
    char tmp[1 + TB__U64_DIGITS_MAX + 1 + 9]; /* sign, integer part, point, fraction */
    size_t k = 0;
    uint64_t a = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v, p = 1;
    for (int d = 0; d < scale; d++)
        p *= 10;
    if (v < 0) tmp[k++] = '-';
    k += tb__u64_digits(a / p, tmp + k);
    if (scale > 0) {
        tmp[k++] = '.';
        tb__gen_zpad(tmp + k, a % p, scale);
        k += (size_t)scale;
    }
    tb__gen_col_strn(r, tmp, k);
}

static void put_date(char *p, int days)
{
    int y, m, d;
    tb__gen_civil(days, &y, &m, &d);
    tb__gen_zpad(p, (uint64_t)y, 4);
    p[4] = '-';
    tb__gen_zpad(p + 5, (uint64_t)m, 2);
    p[7] = '-';
    tb__gen_zpad(p + 8, (uint64_t)d, 2);
}

void tb__gen_col_date(gen_row *r, int days)
{
    char *p = field_open(r, 10);
    put_date(p, days);
    field_close(r, 10);
}

void tb__gen_col_ts(gen_row *r, int64_t secs)
{
    char *p = field_open(r, 19);
    int64_t days = secs / 86400, rem = secs % 86400;
    put_date(p, (int)days);
    p[10] = ' ';
    tb__gen_zpad(p + 11, (uint64_t)(rem / 3600), 2);
    p[13] = ':';
    tb__gen_zpad(p + 14, (uint64_t)(rem / 60 % 60), 2);
    p[16] = ':';
    tb__gen_zpad(p + 17, (uint64_t)(rem % 60), 2);
    field_close(r, 19);
}

void tb__gen_col_null(gen_row *r)
{
    field_open(r, 0);
    r->null[r->n] = 1;
    field_close(r, 0);
}

/* ---- defects ------------------------------------------------------------------------------ */

/* Replaces field k's value by `s` (appended to the row's data; the old bytes stay unused). */
static void field_replace(gen_row *r, unsigned k, const char *s, size_t n)
{
    assert(r->used + n <= GEN_ROWCAP);
    memcpy(r->data + r->used, s, n);
    r->off[k] = (uint16_t)r->used;
    r->len[k] = (uint16_t)n;
    r->null[k] = 0;
    r->used += (unsigned)n;
}

static int is_uscc_field(const gen_file_spec *fs, const gen_row *r, unsigned k)
{
    unsigned fl = fs->cols[k].flags;
    if (fl & GC_USCC) return 1;
    if (!(fl & GC_IDTYPE)) return 0;
    for (unsigned j = 0; j < fs->ncols; j++)
        if (strcmp(fs->cols[j].name, "id_type") == 0)
            return r->len[j] == 3 && memcmp(r->data + r->off[j], "201", 3) == 0;
    return 0;
}

static int eligible(const gen_col *col, const gen_row *r, unsigned k, int kind)
{
    unsigned fl = col->flags;
    if (r->null[k] || (fl & GC_NODIRT)) return 0;
    switch (kind) {
    case GK_BAD_ID:
        return (fl & (GC_RID | GC_USCC | GC_IDTYPE)) != 0;
    case GK_BAD_MOBILE:
        return (fl & GC_MOBILE) != 0;
    case GK_MISSING:
        return (fl & GC_REQ) != 0;
    case GK_UNKNOWN_CODE:
        return col->codes != NULL;
    case GK_BAD_DATE:
        return (fl & GC_DATE) != 0;
    default:
        return 0;
    }
}

/* Breaks field k for `kind` so that exactly that check fails and every other still passes. */
static void corrupt(gen_chunk *c, const gen_file_spec *fs, gen_row *r, unsigned k, int kind)
{
    char v[32];
    size_t n = r->len[k];
    if (n < sizeof v) memcpy(v, r->data + r->off[k], n);
    switch (kind) {
    case GK_BAD_ID: {
        static const char rid_set[] = "0123456789X";
        static const char uscc_set[] = "0123456789ABCDEFGHJKLMNPQRTUWXY";
        const char *set = is_uscc_field(fs, r, k) ? uscc_set : rid_set;
        size_t ns = strlen(set);
        assert(n == 18);
        char good = v[17];
        do
            v[17] = set[tb__rng_below(&c->dirt, ns)];
        while (v[17] == good);
        field_replace(r, k, v, 18);
        break;
    }
    case GK_BAD_MOBILE:
        assert(n == 11);
        if (tb__rng_chance(&c->dirt, 0.5)) {
            v[1] = (char)('0' + tb__rng_below(&c->dirt, 3)); /* 10x, 11x, 12x: no such network */
            field_replace(r, k, v, 11);
        } else {
            field_replace(r, k, v, 10); /* a digit lost */
        }
        break;
    case GK_MISSING:
        r->null[k] = 1;
        r->len[k] = 0;
        break;
    case GK_UNKNOWN_CODE:
        field_replace(r, k, "ZZ", 2);
        break;
    case GK_BAD_DATE: {
        static const char *const bad[] = {"-02-30", "-13-01", "-00-10", "-04-31", "-06-00"};
        assert(n == 10);
        memcpy(v + 4, bad[tb__rng_below(&c->dirt, 5)], 6);
        field_replace(r, k, v, 10);
        break;
    }
    default:
        break;
    }
}

static void record(gen_chunk *c, gen_file f, int kind, unsigned col)
{
    if (c->ndefects == c->capdefects) {
        size_t cap = c->capdefects ? c->capdefects * 2 : 256;
        gen_defect *d = realloc(c->defects, cap * sizeof *d);
        if (!d) {
            c->rc = TB_ENOMEM;
            return;
        }
        c->defects = d;
        c->capdefects = cap;
    }
    c->defects[c->ndefects++] = (gen_defect){c->rows[f], (uint8_t)f, (uint8_t)kind, (uint8_t)col};
    c->kinds[f][kind]++;
}

/* ---- serialisation ------------------------------------------------------------------------- */

static int needs_quotes(const char *s, size_t n)
{
    for (size_t k = 0; k < n; k++)
        if (s[k] == ',' || s[k] == '"' || s[k] == '\n' || s[k] == '\r') return 1;
    return 0;
}

/* Writes the row (fields [0, n), plus an extra field when `extra`) to b, which has room. */
static void serialise(const gen_ctx *x, tb__buf *b, const gen_row *r, unsigned n, int extra)
{
    char *p = b->data + b->len;
    for (unsigned k = 0; k < n + (unsigned)extra; k++) {
        if (k) *p++ = x->hive ? '\x01' : ',';
        if (k == n) { /* the extra field of a wrong_column_count defect */
            *p++ = '0';
            continue;
        }
        const char *s = r->data + r->off[k];
        size_t len = r->len[k];
        if (r->null[k]) {
            if (x->hive) {
                *p++ = '\\';
                *p++ = 'N';
            }
            continue;
        }
        if (!x->hive && needs_quotes(s, len)) {
            *p++ = '"';
            for (size_t j = 0; j < len; j++) {
                if (s[j] == '"') *p++ = '"';
                *p++ = s[j];
            }
            *p++ = '"';
        } else {
            memcpy(p, s, len);
            p += len;
        }
    }
    if (!x->hive) *p++ = '\r';
    *p++ = '\n';
    b->len = (size_t)(p - b->data);
    b->data[b->len] = '\0';
}

void tb__gen_emit(gen_chunk *c, gen_file f, gen_row *r)
{
    const gen_ctx *x = c->ctx;
    const gen_file_spec *fs = &tb__gen_files[f];
    assert(r->n == fs->ncols);
    if (c->rc) return;
    int kind = -1;
    unsigned col = 0xff;
    if (fs->dirty && x->o.dirty > 0 && tb__rng_chance(&c->dirt, x->o.dirty)) {
        /* the kinds this row can carry, and the fields each could break */
        unsigned cand[GK_COUNT][GEN_MAXCOLS], ncand[GK_COUNT] = {0}, kinds[GK_COUNT], nk = 0;
        for (int k = 0; k < GK_COUNT; k++) {
            if (k == GK_DUP || k == GK_WIDTH) {
                kinds[nk++] = (unsigned)k;
                continue;
            }
            for (unsigned j = 0; j < r->n; j++)
                if (eligible(&fs->cols[j], r, j, k)) cand[k][ncand[k]++] = j;
            if (ncand[k]) kinds[nk++] = (unsigned)k;
        }
        kind = (int)kinds[tb__rng_below(&c->dirt, nk)];
        if (kind != GK_DUP && kind != GK_WIDTH) {
            col = cand[kind][tb__rng_below(&c->dirt, ncand[kind])];
            corrupt(c, fs, r, col, kind);
        }
    }
    /* quoting at most doubles a field, plus separators, quotes, line end; twice for a repeat */
    size_t need = 2 * (2 * (size_t)r->used + 4 * (size_t)r->n + 8);
    if (tb__buf_reserve(&c->out[f], need)) {
        c->rc = TB_ENOMEM;
        return;
    }
    int width_extra = 0;
    unsigned n = r->n;
    if (kind == GK_WIDTH) {
        if (tb__rng_chance(&c->dirt, 0.5))
            width_extra = 1;
        else
            n--;
    }
    if (kind == GK_DUP) {
        serialise(x, &c->out[f], r, n, 0);
        c->rows[f]++;
    }
    if (kind >= 0) record(c, f, kind, col);
    serialise(x, &c->out[f], r, n, width_extra);
    c->rows[f]++;
}

int tb__gen_header(const gen_ctx *x, gen_file f, tb__buf *b)
{
    (void)x;
    const gen_file_spec *fs = &tb__gen_files[f];
    int rc = 0;
    for (unsigned k = 0; k < fs->ncols && !rc; k++) {
        if (k) rc = tb__buf_putc(b, ',');
        if (!rc) rc = tb__buf_puts(b, fs->cols[k].name);
    }
    if (!rc) rc = tb__buf_append(b, "\r\n", 2);
    return rc;
}
