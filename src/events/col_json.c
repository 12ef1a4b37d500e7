/* col_json.c — the collector's validating JSON scanner (col_json.h). */
#include <string.h>

#include "events/col_json.h"

static const char *ws(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
        p++;
    return p;
}

static int hex(int c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static int scan_string(const char **pp, const char *end, const char **why)
{
    const char *p = *pp + 1; /* past the opening quote */
    while (p < end) {
        unsigned char c = (unsigned char)*p;
        if (c == '"') {
            *pp = p + 1;
            return 0;
        }
        if (c < 0x20) {
            *pp = p;
            *why = "a control character inside a string";
            return -1;
        }
        if (c == '\\') {
            if (end - p < 2) break;
            char e = p[1];
            if (e == 'u') {
                if (end - p < 6 || hex(p[2]) < 0 || hex(p[3]) < 0 || hex(p[4]) < 0 ||
                    hex(p[5]) < 0) {
                    *pp = p;
                    *why = "a \\u escape with four hex digits";
                    return -1;
                }
                p += 6;
                continue;
            }
            if (!strchr("\"\\/bfnrt", e) || !e) {
                *pp = p;
                *why = "a valid escape";
                return -1;
            }
            p += 2;
            continue;
        }
        p++;
    }
    *pp = end;
    *why = "the end of a string";
    return -1;
}

static int scan_number(const char **pp, const char *end, const char **why)
{
    const char *p = *pp;
    if (p < end && *p == '-') p++;
    if (p < end && *p == '0')
        p++;
    else if (p < end && *p >= '1' && *p <= '9')
        while (p < end && *p >= '0' && *p <= '9')
            p++;
    else
        goto bad;
    if (p < end && *p == '.') {
        p++;
        if (p >= end || *p < '0' || *p > '9') goto bad;
        while (p < end && *p >= '0' && *p <= '9')
            p++;
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < end && (*p == '+' || *p == '-')) p++;
        if (p >= end || *p < '0' || *p > '9') goto bad;
        while (p < end && *p >= '0' && *p <= '9')
            p++;
    }
    *pp = p;
    return 0;
bad:
    *pp = p;
    *why = "a number";
    return -1;
}

static int scan(const char **pp, const char *end, int depth, tb__jspan *v, const char **why)
{
    const char *p = ws(*pp, end);
    *pp = p;
    if (p >= end) {
        *why = "a value";
        return -1;
    }
    v->p = p;
    int rc = 0;
    switch (*p) {
    case '"':
        v->kind = 's';
        rc = scan_string(&p, end, why);
        break;
    case '{':
    case '[': {
        char close = *p == '{' ? '}' : ']';
        v->kind = *p == '{' ? 'o' : 'a';
        if (depth >= TB__JSON_MAX_DEPTH) {
            *why = "nesting no deeper than 64";
            return -1;
        }
        p = ws(p + 1, end);
        if (p < end && *p == close) {
            p++;
            break;
        }
        for (;;) {
            tb__jspan x;
            if (close == '}') {
                p = ws(p, end);
                if (p >= end || *p != '"') {
                    *pp = p;
                    *why = "a member name (a string)";
                    return -1;
                }
                if (scan_string(&p, end, why)) {
                    *pp = p;
                    return -1;
                }
                p = ws(p, end);
                if (p >= end || *p != ':') {
                    *pp = p;
                    *why = "':' after a member name";
                    return -1;
                }
                p++;
            }
            if (scan(&p, end, depth + 1, &x, why)) {
                *pp = p;
                return -1;
            }
            p = ws(p, end);
            if (p < end && *p == ',') {
                p++;
                continue;
            }
            if (p < end && *p == close) {
                p++;
                break;
            }
            *pp = p;
            *why = close == '}' ? "',' or '}'" : "',' or ']'";
            return -1;
        }
        break;
    }
    case 't':
    case 'f':
    case 'n': {
        const char *lit = *p == 't' ? "true" : *p == 'f' ? "false" : "null";
        size_t l = strlen(lit);
        if ((size_t)(end - p) < l || memcmp(p, lit, l) != 0) {
            *why = "true, false or null";
            return -1;
        }
        v->kind = *p == 'n' ? 'z' : *p;
        p += l;
        break;
    }
    default:
        v->kind = 'n';
        rc = scan_number(&p, end, why);
    }
    if (rc) {
        *pp = p;
        return -1;
    }
    v->n = (size_t)(p - v->p);
    *pp = p;
    return 0;
}

int tb__jscan(const char **p, const char *end, tb__jspan *v, const char **why)
{
    return scan(p, end, 0, v, why);
}

int tb__jobj_next(const tb__jspan *obj, const char **it, tb__jspan *key, tb__jspan *val)
{
    const char *end = obj->p + obj->n - 1; /* at the closing brace */
    const char *p = *it ? *it : obj->p + 1;
    p = ws(p, end);
    if (p < end && *p == ',') p = ws(p + 1, end);
    if (p >= end || *p != '"') return 0;
    const char *why;
    key->p = p;
    key->kind = 's';
    scan_string(&p, end, &why);
    key->n = (size_t)(p - key->p);
    p = ws(p, end);
    p++; /* ':' */
    if (scan(&p, end, 1, val, &why)) return 0;
    *it = p;
    return 1;
}

int tb__jarr_next(const tb__jspan *arr, const char **it, tb__jspan *val)
{
    const char *end = arr->p + arr->n - 1;
    const char *p = *it ? *it : arr->p + 1;
    p = ws(p, end);
    if (p < end && *p == ',') p = ws(p + 1, end);
    if (p >= end) return 0;
    val->p = p;
    const char *why;
    if (scan(&p, end, 1, val, &why)) return 0;
    *it = p;
    return 1;
}

int tb__jkey_is(const tb__jspan *s, const char *k)
{
    size_t n = strlen(k);
    return s->n == n + 2 && memcmp(s->p + 1, k, n) == 0;
}

/* Appends code point `c` as UTF-8. */
static char *put_utf8(char *o, uint32_t c)
{
    if (c < 0x80)
        *o++ = (char)c;
    else if (c < 0x800) {
        *o++ = (char)(0xC0 | c >> 6);
        *o++ = (char)(0x80 | (c & 0x3F));
    } else if (c < 0x10000) {
        *o++ = (char)(0xE0 | c >> 12);
        *o++ = (char)(0x80 | (c >> 6 & 0x3F));
        *o++ = (char)(0x80 | (c & 0x3F));
    } else {
        *o++ = (char)(0xF0 | c >> 18);
        *o++ = (char)(0x80 | (c >> 12 & 0x3F));
        *o++ = (char)(0x80 | (c >> 6 & 0x3F));
        *o++ = (char)(0x80 | (c & 0x3F));
    }
    return o;
}

char *tb__jstr(const tb__jspan *s, tb__arena *a)
{
    if (s->kind != 's' || s->n < 2) return NULL;
    const char *p = s->p + 1, *end = s->p + s->n - 1;
    if (!memchr(p, '\\', (size_t)(end - p))) return tb__arena_strndup(a, p, (size_t)(end - p));
    char *out = tb__arena_alloc(a, (size_t)(end - p) + 1), *o = out;
    if (!out) return NULL;
    while (p < end) {
        if (*p != '\\') {
            *o++ = *p++;
            continue;
        }
        char e = p[1];
        p += 2;
        switch (e) {
        case 'b':
            *o++ = '\b';
            break;
        case 'f':
            *o++ = '\f';
            break;
        case 'n':
            *o++ = '\n';
            break;
        case 'r':
            *o++ = '\r';
            break;
        case 't':
            *o++ = '\t';
            break;
        case 'u': {
            uint32_t c = (uint32_t)(hex(p[0]) << 12 | hex(p[1]) << 8 | hex(p[2]) << 4 | hex(p[3]));
            p += 4;
            if (c >= 0xD800 && c < 0xDC00 && end - p >= 6 && p[0] == '\\' && p[1] == 'u') {
                uint32_t lo =
                    (uint32_t)(hex(p[2]) << 12 | hex(p[3]) << 8 | hex(p[4]) << 4 | hex(p[5]));
                if (lo >= 0xDC00 && lo < 0xE000) {
                    c = 0x10000 + ((c - 0xD800) << 10) + (lo - 0xDC00);
                    p += 6;
                }
            }
            if ((c >= 0xD800 && c < 0xE000) || c == 0) c = 0xFFFD; /* lone surrogate, NUL */
            o = put_utf8(o, c);
            break;
        }
        default:
            *o++ = e; /* \" \\ \/ */
        }
    }
    *o = '\0';
    return out;
}
