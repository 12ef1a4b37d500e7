/* export.c — seg export: a segment's customers to a CSV file, with the fields asked for, personal
 * fields masked by their class (name 张*, ID number first 6 + last 4, mobile 138****5678) unless
 * the caller may see them. The file is written crash-safely: it exists whole or not at all. */
#include <inttypes.h>
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/clock.h"
#include "common/mask.h"
#include "pipeline/identity.h"
#include "security/security.h"
#include "segments/cseg.h"
#include "store/file.h"
#include "store/meta.h"

#define MAX_FIELDS 64

typedef enum fkind { F_GID, F_CUST_NO, F_NAME, F_CERT, F_MOBILE, F_TAG } fkind;

typedef struct field {
    fkind kind;
    const tb__tagv *tag;
    char name[72];
} field;

typedef struct exp {
    tb_db *db;
    const tb__tagset *ts;
    const field *f;
    size_t nf;
    int unmasked, need_party;
    tb__buf line;
    tb__afile af;
    uint64_t rows;
    tb__errbuf *eb;
    int rc;
    const char *purpose, *channel; /* consent filter, or NULL */
    uint64_t without_consent;
} exp;

/* CSV quoting (RFC 4180) when a value holds a comma, a quote or a line break. */
static void put_csv(tb__buf *b, const char *s, size_t n)
{
    if (!s) return;
    if (!memchr(s, ',', n) && !memchr(s, '"', n) && !memchr(s, '\n', n) && !memchr(s, '\r', n)) {
        tb__buf_append(b, s, n);
        return;
    }
    tb__buf_putc(b, '"');
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '"') tb__buf_putc(b, '"');
        tb__buf_putc(b, s[i]);
    }
    tb__buf_putc(b, '"');
}

static void put_tag(tb__buf *b, const tb__tagv *t, uint64_t id)
{
    int64_t v;
    const char *str;
    switch (tb__tagv_get(t, id, &v, &str)) {
    case 2:
        put_csv(b, str, strlen(str));
        return;
    case 1:
        if (t->m.vtype == TB__TV_DATE) {
            char d[TB__DATE_TEXT_LEN];
            tb__buf_puts(b, tb__date_text(v, d));
        } else if (t->m.vtype == TB__TV_DECIMAL)
            tb__buf_put_fixed(b, v, t->m.scale);
        else
            tb__buf_put_i64(b, v);
        return;
    default:
        return;
    }
}

static int row(uint64_t id, void *arg)
{
    exp *x = arg;
    if (x->purpose) {
        int granted = 0;
        int rc = tb__consent_get(x->db, (uint32_t)id, x->purpose, x->channel ? x->channel : "any",
                                 &granted, NULL);
        if (rc) return x->rc = rc;
        if (!granted) {
            x->without_consent++;
            return 0;
        }
    }
    char name[256] = "", cert[64] = "", mobile[32] = "", buf[256];
    int has_name = 0, has_cert = 0, has_mobile = 0;
    if (x->need_party) {
        /* through identity's one decrypt path: the store may keep these sealed (crypt.h) */
        tb__party_pii p;
        if (tb__party_pii_get(x->db, (uint32_t)id, &p) == 0 && p.found) {
            if ((has_name = p.has_name)) snprintf(name, sizeof name, "%s", p.name);
            if ((has_cert = p.has_cert)) snprintf(cert, sizeof cert, "%s", p.cert_no);
            if ((has_mobile = p.has_mobile)) snprintf(mobile, sizeof mobile, "%.31s", p.mobile);
        }
        sodium_memzero(&p, sizeof p);
    }
    tb__buf *b = &x->line;
    for (size_t i = 0; i < x->nf; i++) {
        if (i) tb__buf_putc(b, ',');
        switch (x->f[i].kind) {
        case F_GID:
            tb__buf_put_u64(b, id);
            break;
        case F_CUST_NO: {
            size_t kl;
            const char *k = tb__tagset_key(x->ts, id, &kl);
            if (k)
                put_csv(b, k, kl);
            else if (tb__customer_key_of(x->db, (uint32_t)id, buf, sizeof buf) == 0)
                put_csv(b, buf, strlen(buf));
            break;
        }
        case F_NAME:
            if (has_name) {
                const char *s =
                    x->unmasked ? name : tb__mask_name(name, strlen(name), buf, sizeof buf);
                put_csv(b, s, strlen(s));
            }
            break;
        case F_CERT:
            if (has_cert)
                tb__buf_puts(b,
                             x->unmasked ? cert : tb__mask_id(cert, strlen(cert), buf, sizeof buf));
            break;
        case F_MOBILE:
            if (has_mobile)
                tb__buf_puts(b, x->unmasked
                                    ? mobile
                                    : tb__mask_mobile(mobile, strlen(mobile), buf, sizeof buf));
            break;
        case F_TAG:
            put_tag(b, x->f[i].tag, id);
            break;
        }
    }
    tb__buf_putc(b, '\n');
    x->rows++;
    if (b->len >= (1u << 20)) {
        x->rc = tb__afile_write(&x->af, b->data, b->len, x->eb);
        tb__buf_reset(b);
    }
    return x->rc;
}

int tb_seg_export(tb_db *db, const char *name, const tb_seg_opts *o, const char *fields,
                  const char *outpath, char **json_out)
{
    *json_out = NULL;
    tb__errbuf eb;
    tb__clearerr(&eb);
    tb_seg_opts none = {0};
    if (!o) o = &none;
    if (!outpath) return tb__seterr(tb__db_err(db), TB_EINVAL, "export needs an output file");
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    tb__segctx *c;
    int rc = tb__segctx_open(db, o, &c, &eb);
    if (rc) return tb__seterr(tb__db_err(db), rc, "%s", eb.msg);
    field f[MAX_FIELDS];
    size_t nf = 0;
    json_t *masked = json_array();
    const char *spec = fields && fields[0] ? fields : "cust_no";
    int need_party = 0;
    for (const char *p = spec; !rc && *p;) {
        const char *e = strchr(p, ',');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if (nf == MAX_FIELDS)
            rc = tb__seterr(&eb, TB_ELIMIT, "at most %d fields", MAX_FIELDS);
        else if (n == 0 || n >= sizeof f[0].name)
            rc = tb__seterr(&eb, TB_EINVAL, "an empty or too long field name in '%s'", spec);
        if (rc) break;
        field *x = &f[nf++];
        memset(x, 0, sizeof *x);
        memcpy(x->name, p, n);
        static const struct {
            const char *n;
            fkind k;
        } fixed[] = {{"gid", F_GID},
                     {"cust_no", F_CUST_NO},
                     {"name", F_NAME},
                     {"cert_no", F_CERT},
                     {"mobile", F_MOBILE}};
        int found = 0;
        for (size_t k = 0; k < sizeof fixed / sizeof fixed[0]; k++)
            if (strcmp(x->name, fixed[k].n) == 0) x->kind = fixed[k].k, found = 1;
        if (!found) {
            x->tag = tb__tagset_find(tb__segctx_tags(c), x->name);
            if (!x->tag) rc = tb__seterr(&eb, TB_ENOENT, "unknown field or tag '%s'", x->name);
            x->kind = F_TAG;
        }
        if (x->kind == F_NAME || x->kind == F_CERT || x->kind == F_MOBILE) {
            need_party = 1;
            if (!o->unmasked) json_array_append_new(masked, json_string(x->name));
        }
        p = e ? e + 1 : p + n;
    }
    const tb__bmv *m = NULL;
    if (!rc) rc = tb__segctx_members(c, name, &m, &eb);
    exp x = {db,
             tb__segctx_tags(c),
             f,
             nf,
             o->unmasked,
             need_party,
             TB__BUF_INIT,
             {-1, NULL, NULL, NULL, 0},
             0,
             &eb,
             0,
             NULL,
             NULL,
             0};
    x.purpose = o->consent_purpose;
    x.channel = o->consent_channel;
    if (!rc) rc = tb__afile_open(&x.af, outpath, 0640, &eb);
    if (!rc) {
        for (size_t i = 0; i < nf; i++)
            tb__buf_printf(&x.line, "%s%s", i ? "," : "", f[i].name);
        tb__buf_putc(&x.line, '\n');
        rc = tb__bmv_foreach(m, row, &x);
        if (rc && x.rc && rc == x.rc && !eb.msg[0])
            tb__seterr(&eb, rc, "%s", tb_errmsg(db)); /* a consent look-up failed */
        if (!rc && x.line.len) rc = tb__afile_write(&x.af, x.line.data, x.line.len, &eb);
        if (!rc) rc = tb__afile_commit(&x.af, &eb);
        tb__afile_abort(&x.af);
    }
    tb__buf_release(&x.line);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    json_t *doc = NULL;
    if (!rc)
        doc = json_pack("{s:s, s:s, s:s, s:I, s:I, s:o, s:b, s:f}", "segment", name, "batch_date",
                        tb__segctx_batch(c), "file", outpath, "rows", (json_int_t)x.rows,
                        "without_consent", (json_int_t)x.without_consent, "masked_fields", masked,
                        "unmasked", o->unmasked, "millis",
                        (double)(t1.tv_sec - t0.tv_sec) * 1e3 +
                            (double)(t1.tv_nsec - t0.tv_nsec) / 1e6);
    else
        json_decref(masked);
    tb__segctx_close(c);
    if (rc) return tb__seterr(tb__db_err(db), rc, "%s", eb.msg[0] ? eb.msg : tb_strerror(rc));
    *json_out = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    return *json_out ? 0 : TB_ENOMEM;
}
