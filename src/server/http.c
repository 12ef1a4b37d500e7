/* http.c — percent-decoding, request targets, the Cookie header and JSON bodies (see http.h).
 * Everything here reads untrusted bytes with an explicit length; the fuzz target fuzz_http.c
 * drives every function. */
#include "server/http.h"

#include <stdio.h>
#include <string.h>

#include "common/utf8.h"
#include "tagbase.h"

/* The value of one hex digit, or -1. */
static int hexval(unsigned char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Decodes %XX (and '+' when asked) first, then checks the result: control characters and NUL
 * would reach engines and logs, and invalid UTF-8 would reach JSON answers. */
long tb__http_pct_decode(const char *src, size_t len, int plus_is_space, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)src[i];
        if (c == '%') {
            if (len - i < 3) return -1;
            int hi = hexval((unsigned char)src[i + 1]), lo = hexval((unsigned char)src[i + 2]);
            if (hi < 0 || lo < 0) return -1;
            c = (unsigned char)(hi << 4 | lo);
            i += 2;
        } else if (c == '+' && plus_is_space)
            c = ' ';
        if (c < 0x20 || c == 0x7f) return -1;
        out[o++] = (char)c;
    }
    out[o] = '\0';
    if (tb__utf8_validate((const unsigned char *)out, o, NULL) != 0) return -1;
    return (long)o;
}

/* Copies and decodes one piece of the target into the arena; NULL with *why on bad bytes. */
static char *decode_piece(tb__arena *a, const char *s, size_t len, int plus, const char **why,
                          int *rc)
{
    char *out = tb__arena_alloc(a, len + 1);
    if (!out) {
        *rc = TB_ENOMEM;
        return NULL;
    }
    if (tb__http_pct_decode(s, len, plus, out) < 0) {
        *why = "bad percent-encoding, control character or invalid UTF-8 in the request target";
        *rc = TB_EFORMAT;
        return NULL;
    }
    return out;
}

/* Splits the query on '&' and each parameter on its first '='; a parameter without '=' has the
 * value "". Empty pieces ("a=1&&b=2") are skipped. */
static int parse_query(tb__arena *a, const char *q, size_t len, tb__target *t, const char **why)
{
    size_t i = 0;
    int rc = 0;
    while (i <= len) {
        const char *amp = memchr(q + i, '&', len - i);
        size_t end = amp ? (size_t)(amp - q) : len;
        if (end > i) {
            if (t->nquery == TB__HTTP_MAX_QUERY) {
                *why = "too many query parameters";
                return TB_ELIMIT;
            }
            const char *eq = memchr(q + i, '=', end - i);
            size_t klen = eq ? (size_t)(eq - (q + i)) : end - i;
            char *k = decode_piece(a, q + i, klen, 1, why, &rc);
            if (!k) return rc;
            const char *v = "";
            if (eq) {
                v = decode_piece(a, eq + 1, (size_t)(q + end - (eq + 1)), 1, why, &rc);
                if (!v) return rc;
            }
            t->query[t->nquery].key = k;
            t->query[t->nquery].val = v;
            t->nquery++;
        }
        if (!amp) break;
        i = end + 1;
    }
    return 0;
}

int tb__http_parse_target(tb__arena *a, const char *raw, size_t len, tb__target *t,
                          const char **why)
{
    memset(t, 0, sizeof *t);
    *why = "";
    if (len > TB__HTTP_MAX_TARGET) {
        *why = "request target too long";
        return TB_ELIMIT;
    }
    if (len == 0 || raw[0] != '/') {
        *why = "the request target must be a path starting with '/'";
        return TB_EFORMAT;
    }
    if (memchr(raw, '#', len)) {
        *why = "a fragment is not allowed in the request target";
        return TB_EFORMAT;
    }
    const char *qm = memchr(raw, '?', len);
    size_t plen = qm ? (size_t)(qm - raw) : len;
    int rc = 0;
    size_t i = 1; /* past the leading '/' */
    if (plen > 1) {
        for (;;) {
            const char *sl = memchr(raw + i, '/', plen - i);
            size_t end = sl ? (size_t)(sl - raw) : plen;
            if (t->nsegs == TB__HTTP_MAX_SEGS) {
                *why = "too many path segments";
                return TB_ELIMIT;
            }
            char *seg = decode_piece(a, raw + i, end - i, 0, why, &rc);
            if (!seg) return rc;
            if (strcmp(seg, ".") == 0 || strcmp(seg, "..") == 0) {
                *why = "'.' and '..' are not allowed in the path";
                return TB_EFORMAT;
            }
            t->segs[t->nsegs++] = seg;
            if (!sl) break;
            i = end + 1;
        }
    }
    if (qm) return parse_query(a, qm + 1, len - plen - 1, t, why);
    return 0;
}

const char *tb__http_query(const tb__target *t, const char *key)
{
    for (size_t i = 0; i < t->nquery; i++)
        if (strcmp(t->query[i].key, key) == 0) return t->query[i].val;
    return NULL;
}

/* RFC 6265 cookie-string: pairs separated by ';' and optional white space. */
const char *tb__http_cookie(const char *hdr, size_t len, const char *name, size_t *vlen)
{
    size_t nlen = strlen(name), i = 0;
    *vlen = 0;
    while (i < len) {
        while (i < len && (hdr[i] == ' ' || hdr[i] == '\t' || hdr[i] == ';'))
            i++;
        const char *semi = memchr(hdr + i, ';', len - i);
        size_t end = semi ? (size_t)(semi - hdr) : len;
        const char *eq = memchr(hdr + i, '=', end - i);
        if (eq) {
            size_t klen = (size_t)(eq - (hdr + i));
            while (klen && (hdr[i + klen - 1] == ' ' || hdr[i + klen - 1] == '\t'))
                klen--;
            if (klen == nlen && memcmp(hdr + i, name, nlen) == 0) {
                const char *v = eq + 1;
                size_t vl = (size_t)(hdr + end - v);
                while (vl && (*v == ' ' || *v == '\t')) {
                    v++;
                    vl--;
                }
                while (vl && (v[vl - 1] == ' ' || v[vl - 1] == '\t'))
                    vl--;
                if (vl >= 2 && v[0] == '"' && v[vl - 1] == '"') {
                    v++;
                    vl -= 2;
                }
                *vlen = vl;
                return v;
            }
        }
        i = end;
    }
    return NULL;
}

int tb__http_json_body(const char *body, size_t len, json_t **out, char *err, size_t errlen)
{
    *out = NULL;
    size_t i = 0;
    while (i < len && (body[i] == ' ' || body[i] == '\t' || body[i] == '\r' || body[i] == '\n'))
        i++;
    if (i == len) {
        *out = json_object();
        return *out ? 0 : TB_ENOMEM;
    }
    json_error_t je;
    json_t *doc = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
    if (!doc) {
        /* jansson quotes the bytes it stopped at ("near 'xyz'"): they may be a password */
        char *near = strstr(je.text, " near ");
        if (near) *near = '\0';
        snprintf(err, errlen, "invalid JSON at line %d, column %d: %s", je.line, je.column,
                 je.text);
        return TB_EFORMAT;
    }
    if (!json_is_object(doc)) {
        json_decref(doc);
        snprintf(err, errlen, "the body must be a JSON object");
        return TB_EFORMAT;
    }
    *out = doc;
    return 0;
}
