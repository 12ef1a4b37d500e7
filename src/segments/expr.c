/* expr.c — the expression language's text parser (both modes), error messages with carets, the
 * canonical text printer, structural equality, name suggestions and the tree walk (see expr.h and
 * docs/expressions.md). The JSON form lives in expr_json.c, the row evaluator in expr_eval.c. */
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/utf8.h"
#include "segments/expr.h"
#include "segments/expr_int.h"

#define MAX_SRC   (1u << 20) /* bytes of expression text */
#define MAX_DEPTH 256        /* nesting: parentheses, not, unary minus, calls, operator chains */
#define WINDOW    60         /* characters of a long expression shown around the caret */

/* ---------------------------------------------------------------------------------------------
 * Function table and calendar
 */

const tb__expr_fn tb__expr_fns[TB__FN_COUNT] = {
    {"age", TB__FN_AGE, 1, 1},
    {"days_since", TB__FN_DAYS_SINCE, 1, 1},
    {"days_until_birthday", TB__FN_DAYS_UNTIL_BIRTHDAY, 1, 1},
    {"year", TB__FN_YEAR, 1, 1},
    {"month", TB__FN_MONTH, 1, 1},
    {"day", TB__FN_DAY, 1, 1},
    {"abs", TB__FN_ABS, 1, 1},
    {"coalesce", TB__FN_COALESCE, 1, -1},
    {"least", TB__FN_LEAST, 1, -1},
    {"greatest", TB__FN_GREATEST, 1, -1},
    {"date", TB__FN_DATE, 1, 1},
    {"today", TB__FN_TODAY, 0, 0},
    {"segment", TB__FN_SEGMENT, 1, 1},
};

static int lower(int c)
{
    return c >= 'A' && c <= 'Z' ? c + 32 : c;
}

/* ASCII case-insensitive comparison of s[0, len) with the NUL-terminated lowercase word w. */
static int word_eq(const char *s, size_t len, const char *w)
{
    for (size_t i = 0; i < len; i++)
        if (!w[i] || lower((unsigned char)s[i]) != w[i]) return 0;
    return w[len] == '\0';
}

/* A linear scan: the table has a dozen entries and the parser calls it once per call site. */
const tb__expr_fn *tb__expr_fn_find(const char *s, size_t len)
{
    for (size_t i = 0; i < TB__FN_COUNT; i++)
        if (word_eq(s, len, tb__expr_fns[i].name)) return &tb__expr_fns[i];
    return NULL;
}

/* Gregorian leap years, proleptic. */
int tb__expr_is_leap(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int ndigits(const char *s, size_t n, unsigned *out)
{
    unsigned v = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned c = (unsigned char)s[i] - '0';
        if (c > 9) return -1;
        v = v * 10 + c;
    }
    *out = v;
    return 0;
}

static const unsigned char mdays[13] = {0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

/* Both spellings a bank's data uses: ISO dates and the batch-date form. */
int tb__expr_parse_date(const char *s, size_t len, int64_t *days)
{
    unsigned y, m, d;
    if (len == 10 && s[4] == '-' && s[7] == '-') {
        if (ndigits(s, 4, &y) || ndigits(s + 5, 2, &m) || ndigits(s + 8, 2, &d)) return -1;
    } else if (len == 8) {
        if (ndigits(s, 4, &y) || ndigits(s + 4, 2, &m) || ndigits(s + 6, 2, &d)) return -1;
    } else {
        return -1;
    }
    if (y < 1 || m < 1 || m > 12 || d < 1) return -1;
    unsigned dim = mdays[m] + (m == 2 && tb__expr_is_leap(y));
    if (d > dim) return -1;
    *days = tb__days_from_civil(y, m, d);
    return 0;
}

/* A date alone is local midnight; the offset is the env's (Asia/Shanghai: 28800). */
int tb__expr_parse_time(const char *s, size_t len, int utc_offset_s, int64_t *epoch)
{
    int64_t days;
    unsigned hh = 0, mi = 0, ss = 0;
    if (len == 19 && (s[10] == ' ' || s[10] == 'T')) {
        if (tb__expr_parse_date(s, 10, &days)) return -1;
        if (s[13] != ':' || s[16] != ':' || ndigits(s + 11, 2, &hh) || ndigits(s + 14, 2, &mi) ||
            ndigits(s + 17, 2, &ss) || hh > 23 || mi > 59 || ss > 59)
            return -1;
    } else if (tb__expr_parse_date(s, len, &days)) {
        return -1;
    }
    *epoch = days * 86400 + hh * 3600 + mi * 60 + ss - utc_offset_s;
    return 0;
}

/* ---------------------------------------------------------------------------------------------
 * Characters: decoding, display width, error messages
 */

/* The code point at s[0, n) and its length; an invalid byte reads as one character U+FFFD so
 * that callers given unvalidated text (tb__expr_fail, tb__expr_nearest) still advance. */
static uint32_t decode(const unsigned char *s, size_t n, size_t *clen)
{
    size_t k = tb__utf8_char(s, n);
    if (k == 0) {
        *clen = 1;
        return 0xFFFD;
    }
    *clen = k;
    switch (k) {
    case 1:
        return s[0];
    case 2:
        return (uint32_t)(s[0] & 0x1F) << 6 | (s[1] & 0x3F);
    case 3:
        return (uint32_t)(s[0] & 0x0F) << 12 | (uint32_t)(s[1] & 0x3F) << 6 | (s[2] & 0x3F);
    default:
        return (uint32_t)(s[0] & 0x07) << 18 | (uint32_t)(s[1] & 0x3F) << 12 |
               (uint32_t)(s[2] & 0x3F) << 6 | (s[3] & 0x3F);
    }
}

/* Terminal columns of a code point: East Asian Wide and Fullwidth ranges take two (so a caret
 * lines up under Chinese text), combining marks none, everything else one. The ranges are the
 * blocks of UAX #11 that users of a Chinese bank's console actually type. */
static int cp_width(uint32_t c)
{
    if ((c >= 0x0300 && c <= 0x036F) || c == 0x200B) return 0;
    if ((c >= 0x1100 && c <= 0x115F) || (c >= 0x2E80 && c <= 0x303E) ||
        (c >= 0x3041 && c <= 0x33FF) || (c >= 0x3400 && c <= 0x4DBF) ||
        (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0xA000 && c <= 0xA4CF) ||
        (c >= 0xAC00 && c <= 0xD7A3) || (c >= 0xF900 && c <= 0xFAFF) ||
        (c >= 0xFE30 && c <= 0xFE4F) || (c >= 0xFF00 && c <= 0xFF60) ||
        (c >= 0xFFE0 && c <= 0xFFE6) || (c >= 0x1F300 && c <= 0x1F64F) ||
        (c >= 0x1F900 && c <= 0x1F9FF) || (c >= 0x20000 && c <= 0x3FFFD))
        return 2;
    return 1;
}

/* Cuts s (NUL-terminated) back so that it does not end inside a UTF-8 character: snprintf into
 * a fixed buffer may have stopped in the middle of one. */
static void utf8_trim(char *s)
{
    size_t n = strlen(s), bad;
    if (tb__utf8_validate((const unsigned char *)s, n, &bad) == 0) return;
    if (bad + 4 > n) s[bad] = '\0';
}

/* Fills err for an error at byte `pos` of src[0, len) (which may be NULL: JSON input): msg as
 * given, then the text users see, the message with its character position and, below, the
 * expression (a window of WINDOW characters around the error when it is long) with a caret. */
static void render(tb__expr_error *err, const char *src, size_t len, size_t pos)
{
    err->pos = (uint32_t)pos;
    err->path[0] = '\0';
    if (!src || pos > len) {
        snprintf(err->text, sizeof err->text, "%s", err->msg);
        return;
    }
    const unsigned char *s = (const unsigned char *)src;
    size_t nchars = 0, caret = 0, clen;
    for (size_t i = 0; i < len; i += clen) {
        if (i < pos) caret++;
        decode(s + i, len - i, &clen);
        nchars++;
    }
    size_t first = 0, last = nchars; /* window [first, last) in characters */
    if (nchars > WINDOW) {
        first = caret > WINDOW / 2 ? caret - WINDOW / 2 : 0;
        last = first + WINDOW;
        if (last > nchars) {
            last = nchars;
            first = last - WINDOW;
        }
    }
    char line[WINDOW * 4 + 16];
    size_t ln = 0, col = 0, ci = 0;
    if (first > 0) {
        memcpy(line, "...", 3);
        ln = col = 3;
    }
    for (size_t i = 0; i < len && ci < last; i += clen, ci++) {
        uint32_t c = decode(s + i, len - i, &clen);
        if (ci < first) continue;
        if (c < 0x20 || c == 0x7F || c == 0xFFFD) {
            line[ln++] = ' '; /* tabs, newlines and bad bytes show as one blank column */
            if (ci < caret) col++;
            continue;
        }
        memcpy(line + ln, s + i, clen);
        ln += clen;
        if (ci < caret) col += (size_t)cp_width(c);
    }
    if (last < nchars) {
        memcpy(line + ln, "...", 3);
        ln += 3;
    }
    line[ln] = '\0';
    snprintf(err->text, sizeof err->text, "%s at character %zu\n  %s\n  %*s^", err->msg, caret + 1,
             line, (int)col, "");
}

static void vformat_msg(tb__expr_error *err, const char *fmt, va_list ap)
{
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    utf8_trim(err->msg);
}

/* See expr.h. Binders call it with the node they reject. */
int tb__expr_fail(const char *src, size_t len, const tb__expr *at, tb__expr_error *err,
                  const char *fmt, ...)
{
    if (!err) return TB_EFORMAT;
    va_list ap;
    va_start(ap, fmt);
    vformat_msg(err, fmt, ap);
    va_end(ap);
    render(err, src, len, at ? at->pos : 0);
    return TB_EFORMAT;
}

/* ---------------------------------------------------------------------------------------------
 * Lexer
 */

enum tk {
    TK_EOF,
    TK_NUM,
    TK_STR,   /* 'text' */
    TK_IDENT, /* plain identifier, not a keyword */
    TK_QNAME, /* "quoted name" */
    TK_KW,    /* v: enum kw */
    TK_LP,
    TK_RP,
    TK_COMMA,
    TK_CMP, /* v: tb__expr_cmp */
    TK_PLUS,
    TK_MINUS,
    TK_STAR,
    TK_SLASH,
    TK_PCT,
};

enum kw { KW_AND, KW_OR, KW_NOT, KW_IN, KW_BETWEEN, KW_IS, KW_NULL, KW_TRUE, KW_FALSE, KW_COUNT };
static const char *const kw_names[KW_COUNT] = {"and", "or",   "not",  "in",   "between",
                                               "is",  "null", "true", "false"};

typedef struct tok {
    int t, v;
    uint32_t pos, len; /* bytes, the whole token (quotes included) */
} tok;

typedef struct parser {
    const char *src;
    size_t len;
    tb__expr_mode mode;
    tb__arena *a;
    tb__expr_error *err;
    tok cur, prev;
    int depth;
    int bare;         /* the last predicate parsed was a value without an operator */
    const char *want; /* what the next operand is, for "expected ... after ..." */
} parser;

/* Records a parse error at byte pos and returns TB_EFORMAT. */
static int perr(parser *p, size_t pos, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int perr(parser *p, size_t pos, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vformat_msg(p->err, fmt, ap);
    va_end(ap);
    render(p->err, p->src, p->len, pos);
    return TB_EFORMAT;
}

/* The 1-based character number of byte pos, for messages that point back ("the '(' at ..."). */
static size_t char_no(const parser *p, size_t pos)
{
    size_t n = 1;
    for (size_t i = 0; i < pos; i++)
        n += ((unsigned char)p->src[i] & 0xC0) != 0x80;
    return n;
}

/* A token's text for messages: at most 24 bytes, cut at a character boundary, into buf. */
static const char *tok_text(const parser *p, const tok *t, char buf[32])
{
    if (t->t == TK_EOF) return "the end";
    size_t n = t->len;
    if (n > 24) {
        n = 24;
        while (n > 0 && ((unsigned char)p->src[t->pos + n] & 0xC0) == 0x80)
            n--;
    }
    memcpy(buf, p->src + t->pos, n);
    strcpy(buf + n, t->len > n ? "..." : "");
    return buf;
}

static int is_alpha(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static int is_digit(int c)
{
    return c >= '0' && c <= '9';
}

static int is_identc(int c)
{
    return is_alpha(c) || is_digit(c) || c == '.';
}

/* Full-width punctuation a Chinese input method produces, and what to write instead. */
static const struct {
    const char *wide, *ascii;
} fullwidth[] = {
    {"\xEF\xBC\x88", "("}, {"\xEF\xBC\x89", ")"},  {"\xEF\xBC\x8C", ","},  {"\xEF\xBC\x9D", "="},
    {"\xEF\xBC\x9C", "<"}, {"\xEF\xBC\x9E", ">"},  {"\xEF\xBC\x81", "!"},  {"\xE2\x80\x98", "'"},
    {"\xE2\x80\x99", "'"}, {"\xE2\x80\x9C", "\""}, {"\xE2\x80\x9D", "\""}, {"\xE3\x80\x81", ","},
};

/* Reads the token at byte `at` (after blanks) into *t. Pure in `at`, so the parser peeks by
 * lexing ahead without advancing. TB_EFORMAT for text no token starts with. */
static int lex(parser *p, size_t at, tok *t)
{
    const unsigned char *s = (const unsigned char *)p->src;
    size_t n = p->len;
    for (;;) {
        if (at < n && (s[at] == ' ' || s[at] == '\t' || s[at] == '\n' || s[at] == '\r'))
            at++;
        else if (at + 1 < n && s[at] == 0xC2 && s[at + 1] == 0xA0) /* no-break space */
            at += 2;
        else if (at + 2 < n && s[at] == 0xE3 && s[at + 1] == 0x80 && s[at + 2] == 0x80)
            at += 3; /* ideographic space */
        else
            break;
    }
    t->pos = (uint32_t)at;
    t->v = 0;
    t->len = 1;
    if (at >= n) {
        t->t = TK_EOF;
        t->len = 0;
        return 0;
    }
    int c = s[at];
    size_t e = at + 1;
    switch (c) {
    case '(':
        t->t = TK_LP;
        return 0;
    case ')':
        t->t = TK_RP;
        return 0;
    case ',':
        t->t = TK_COMMA;
        return 0;
    case '+':
        t->t = TK_PLUS;
        return 0;
    case '-':
        t->t = TK_MINUS;
        return 0;
    case '*':
        t->t = TK_STAR;
        return 0;
    case '/':
        t->t = TK_SLASH;
        return 0;
    case '%':
        t->t = TK_PCT;
        return 0;
    case '=':
        if (e < n && s[e] == '=') return perr(p, at, "unexpected '==': write '=' to compare");
        t->t = TK_CMP;
        t->v = TB__CMP_EQ;
        return 0;
    case '!':
        if (e < n && s[e] == '=') {
            t->t = TK_CMP;
            t->v = TB__CMP_NE;
            t->len = 2;
            return 0;
        }
        return perr(p, at, "unexpected '!': write 'not' to negate a condition, '!=' to compare");
    case '<':
        t->t = TK_CMP;
        t->v = TB__CMP_LT;
        if (e < n && (s[e] == '=' || s[e] == '>')) {
            t->v = s[e] == '=' ? TB__CMP_LE : TB__CMP_NE;
            t->len = 2;
        }
        return 0;
    case '>':
        t->t = TK_CMP;
        t->v = TB__CMP_GT;
        if (e < n && s[e] == '=') {
            t->v = TB__CMP_GE;
            t->len = 2;
        }
        return 0;
    case '&':
        return perr(p, at, "unexpected '&': write 'and'");
    case '|':
        return perr(p, at, "unexpected '|': write 'or'");
    case '\'':
    case '"':
        for (;;) {
            if (e >= n) {
                return perr(p, at,
                            c == '\'' ? "unterminated string: no closing ' for the quote here"
                                      : "unterminated name: no closing \" for the quote here");
            }
            if (s[e] == c) {
                if (e + 1 < n && s[e + 1] == c) {
                    e += 2;
                    continue;
                }
                break;
            }
            if (s[e] == '\0') return perr(p, e, "a NUL character cannot be part of an expression");
            e++;
        }
        t->t = c == '\'' ? TK_STR : TK_QNAME;
        t->len = (uint32_t)(e + 1 - at);
        if (c == '"' && t->len == 2)
            return perr(p, at, "empty name \"\": write a tag's code or name");
        return 0;
    default:
        break;
    }
    if (is_digit(c)) {
        while (e < n && is_digit(s[e]))
            e++;
        int bad = 0;
        if (e < n && s[e] == '.') {
            e++;
            if (e >= n || !is_digit(s[e])) bad = 1;
            while (e < n && is_digit(s[e]))
                e++;
        }
        if (!bad && e < n && (s[e] == 'e' || s[e] == 'E')) {
            size_t x = e + 1;
            if (x < n && (s[x] == '+' || s[x] == '-')) x++;
            if (x < n && is_digit(s[x])) {
                e = x;
                while (e < n && is_digit(s[e]))
                    e++;
            } else {
                bad = 1;
            }
        }
        if (bad || (e < n && (is_identc(s[e])))) {
            while (e < n && (is_identc(s[e]) || s[e] == '+' || s[e] == '-'))
                e++;
            return perr(p, at, "invalid number '%.*s'", (int)(e - at > 24 ? 24 : e - at),
                        p->src + at);
        }
        t->t = TK_NUM;
        t->len = (uint32_t)(e - at);
        return 0;
    }
    if (is_alpha(c)) {
        while (e < n && is_identc(s[e]))
            e++;
        t->len = (uint32_t)(e - at);
        t->t = TK_IDENT;
        for (int k = 0; k < KW_COUNT; k++)
            if (word_eq(p->src + at, e - at, kw_names[k])) {
                t->t = TK_KW;
                t->v = k;
            }
        return 0;
    }
    size_t clen;
    decode(s + at, n - at, &clen);
    for (size_t k = 0; k < sizeof fullwidth / sizeof fullwidth[0]; k++)
        if (strlen(fullwidth[k].wide) == clen && memcmp(s + at, fullwidth[k].wide, clen) == 0)
            return perr(p, at, "unexpected full-width '%s': write '%s'", fullwidth[k].wide,
                        fullwidth[k].ascii);
    if (c >= 0x80)
        return perr(p, at,
                    "unexpected '%.*s': a name with characters other than A-Z, 0-9, _ and . is "
                    "written in double quotes (\"...\")",
                    (int)clen, p->src + at);
    if (c < 0x20 || c == 0x7F) return perr(p, at, "unexpected control character 0x%02x", c);
    return perr(p, at, "unexpected character '%c'", c);
}

static int advance(parser *p)
{
    p->prev = p->cur;
    return lex(p, p->cur.pos + p->cur.len, &p->cur);
}

static int peek(parser *p, tok *t)
{
    return lex(p, p->cur.pos + p->cur.len, t);
}

static int is_kw(const tok *t, int kw)
{
    return t->t == TK_KW && t->v == kw;
}

/* ---------------------------------------------------------------------------------------------
 * Parser
 */

#define TRY(x)                                                                                     \
    do {                                                                                           \
        int rc_ = (x);                                                                             \
        if (rc_) return rc_;                                                                       \
    } while (0)

static tb__expr *new_node(tb__arena *a, tb__expr_kind k, uint32_t pos, uint32_t end)
{
    tb__expr *e = tb__arena_calloc(a, 1, sizeof *e);
    if (!e) return NULL;
    e->kind = k;
    e->pos = pos;
    e->len = end > pos ? end - pos : 0;
    e->slot = -1;
    return e;
}

static uint32_t end_of(const tb__expr *e)
{
    return e->pos + e->len;
}

/* A growing kid list in the arena (the old arrays stay there: at most twice the final size). */
typedef struct kids {
    tb__expr **v;
    uint32_t n, cap;
} kids;

static int kids_push(tb__arena *a, kids *k, tb__expr *e)
{
    if (k->n == k->cap) {
        uint32_t cap = k->cap ? k->cap * 2 : 4;
        tb__expr **v = tb__arena_alloc(a, cap * sizeof *v);
        if (!v) return TB_ENOMEM;
        if (k->n) memcpy(v, k->v, k->n * sizeof *v);
        k->v = v;
        k->cap = cap;
    }
    k->v[k->n++] = e;
    return 0;
}

static int enter(parser *p, size_t pos)
{
    if (++p->depth > MAX_DEPTH)
        return perr(p, pos, "expression is nested more than %d levels deep", MAX_DEPTH);
    return 0;
}

static int is_literal(const tb__expr *e)
{
    return e->kind == TB__X_NUM || e->kind == TB__X_STR || e->kind == TB__X_BOOL;
}

static int is_condition(const tb__expr *e)
{
    return e->kind <= TB__X_ISNULL;
}

/* Number token t (with a '-' before it when neg) into a NUM node spanning [pos, end). Integers
 * stay exact in 64 bits; anything else is a double. */
static int number(parser *p, const tok *t, int neg, uint32_t pos, tb__expr **out)
{
    const char *s = p->src + t->pos;
    tb__expr *e = new_node(p->a, TB__X_NUM, pos, t->pos + t->len);
    if (!e) return TB_ENOMEM;
    e->text = tb__arena_printf(p->a, "%s%.*s", neg ? "-" : "", (int)t->len, s);
    if (!e->text) return TB_ENOMEM;
    e->text_len = strlen(e->text);
    int is_int = 1;
    for (size_t i = 0; i < t->len; i++)
        if (!is_digit(s[i])) is_int = 0;
    if (is_int) {
        uint64_t v = 0, lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
        for (size_t i = 0; i < t->len; i++) {
            unsigned d = (unsigned)(s[i] - '0');
            if (v > (lim - d) / 10)
                return perr(p, pos, "integer %s is out of range (at most 19 digits)", e->text);
            v = v * 10 + d;
        }
        e->is_int = 1;
        e->ival = neg ? (int64_t)(0 - v) : (int64_t)v;
        e->dval = (double)e->ival;
    } else {
        e->dval = strtod(e->text, NULL);
        if (!isfinite(e->dval)) return perr(p, pos, "number %s is out of range", e->text);
    }
    *out = e;
    return 0;
}

/* The text of a string or quoted-name token without its quotes, doubled quotes made single. */
static int unquote(parser *p, const tok *t, tb__expr *e)
{
    const char *s = p->src + t->pos + 1;
    size_t n = t->len - 2, k = 0;
    char q = p->src[t->pos];
    char *d = tb__arena_alloc(p->a, n + 1);
    if (!d) return TB_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        d[k++] = s[i];
        if (s[i] == q) i++;
    }
    d[k] = '\0';
    e->text = d;
    e->text_len = k;
    return 0;
}

static int parse_or(parser *p, tb__expr **out);

/* "expected <want> after '<previous token>'", with the caret under what was found instead. */
static int expected(parser *p)
{
    char b[32];
    if (p->cur.t == TK_KW && p->cur.v == KW_NULL)
        return perr(p, p->cur.pos,
                    "'null' is not a value: test for it with 'is null' or 'is not null'");
    if (p->prev.t == TK_EOF) return perr(p, p->cur.pos, "expected %s", p->want);
    return perr(p, p->cur.pos, "expected %s after '%s'", p->want, tok_text(p, &p->prev, b));
}

/* A literal of an 'in' list: a number (maybe negative), a string, true or false. */
static int parse_literal(parser *p, tb__expr **out)
{
    tok t = p->cur;
    if (t.t == TK_MINUS) {
        tok nx;
        TRY(peek(p, &nx));
        if (nx.t == TK_NUM) {
            TRY(advance(p));
            TRY(number(p, &nx, 1, t.pos, out));
            return advance(p);
        }
    }
    if (t.t == TK_NUM) {
        TRY(number(p, &t, 0, t.pos, out));
        return advance(p);
    }
    if (t.t == TK_STR) {
        tb__expr *e = new_node(p->a, TB__X_STR, t.pos, t.pos + t.len);
        if (!e) return TB_ENOMEM;
        TRY(unquote(p, &t, e));
        *out = e;
        return advance(p);
    }
    if (is_kw(&t, KW_TRUE) || is_kw(&t, KW_FALSE)) {
        tb__expr *e = new_node(p->a, TB__X_BOOL, t.pos, t.pos + t.len);
        if (!e) return TB_ENOMEM;
        e->ival = is_kw(&t, KW_TRUE);
        e->text = e->ival ? "true" : "false";
        e->text_len = strlen(e->text);
        *out = e;
        return advance(p);
    }
    if (is_kw(&t, KW_NULL))
        return perr(p, t.pos, "'null' cannot be in a list: test for it with 'is null'");
    p->want = "a value (a number, a 'string', true or false)";
    return expected(p);
}

/* name '(' args ')' with the name's token in p->cur. Checks the name and the number of arguments
 * against the function table, and in segment mode allows only segment('name'). */
/* 1 when token t is the plain word w (ASCII case-insensitive). */
static int word_is(const parser *p, const tok *t, const char *w)
{
    size_t n = strlen(w);
    if (t->t != TK_IDENT || t->len != n) return 0;
    for (size_t i = 0; i < n; i++)
        if (lower((unsigned char)p->src[t->pos + i]) != w[i]) return 0;
    return 1;
}

/* Behaviour in segment mode (docs/expressions.md, "Behaviour"): did('name'[, last N days]) and
 * event('name'[, last N days]), with the name's token in p->cur. The window is a CALL node "last"
 * holding the number of days (printed back as `last N days`). */
static int parse_behaviour(parser *p, int is_event, tb__expr **out)
{
    tok name = p->cur;
    const char *fname = is_event ? "event" : "did";
    TRY(advance(p)); /* the name */
    TRY(advance(p)); /* '(' */
    kids k = {0};
    tb__expr *arg;
    if (p->cur.t != TK_STR)
        return perr(p, p->cur.pos, "%s() takes an event name in quotes: %s('login')", fname, fname);
    TRY(parse_literal(p, &arg));
    if (arg->text_len == 0 || arg->text_len > 100)
        return perr(p, arg->pos, "%s() needs an event name of 1 to 100 bytes", fname);
    TRY(kids_push(p->a, &k, arg));
    if (p->cur.t == TK_COMMA) {
        TRY(advance(p));
        tok l = p->cur;
        if (!word_is(p, &l, "last"))
            return perr(p, l.pos, "expected 'last N days' after the event name of %s()", fname);
        TRY(advance(p));
        tb__expr *n;
        if (p->cur.t != TK_NUM)
            return perr(p, p->cur.pos, "expected a number of days after 'last'");
        TRY(parse_literal(p, &n));
        if (!n->is_int || n->ival < 1 || n->ival > 3660)
            return perr(p, n->pos, "'last N days' takes a whole number of days from 1 to 3660");
        tok d = p->cur;
        if (!word_is(p, &d, "days") && !word_is(p, &d, "day"))
            return perr(p, d.pos, "expected 'days' after 'last %lld'", (long long)n->ival);
        tb__expr *w = new_node(p->a, TB__X_CALL, l.pos, d.pos + d.len);
        if (!w || !(w->kid = tb__arena_alloc(p->a, sizeof *w->kid))) return TB_ENOMEM;
        w->text = "last";
        w->text_len = 4;
        w->kid[0] = n;
        w->nkid = 1;
        TRY(kids_push(p->a, &k, w));
        TRY(advance(p));
    }
    if (p->cur.t != TK_RP)
        return perr(p, p->cur.pos, "expected ')' or ', last N days' in %s()", fname);
    tb__expr *e = new_node(p->a, TB__X_CALL, name.pos, p->cur.pos + 1);
    if (!e) return TB_ENOMEM;
    e->text = fname;
    e->text_len = strlen(fname);
    e->op = 0; /* not in the function table: segment mode only */
    e->kid = k.v;
    e->nkid = k.n;
    *out = e;
    p->depth--;
    return advance(p); /* ')' */
}

static int parse_call(parser *p, tb__expr **out)
{
    tok name = p->cur;
    char b[32];
    TRY(enter(p, name.pos));
    if (p->mode == TB__EXPR_SEGMENT && (word_is(p, &name, "event") || word_is(p, &name, "did")))
        return parse_behaviour(p, word_is(p, &name, "event"), out);
    const tb__expr_fn *fn = tb__expr_fn_find(p->src + name.pos, name.len);
    if (p->mode == TB__EXPR_SEGMENT && (!fn || fn->id != TB__FN_SEGMENT))
        return perr(p, name.pos,
                    "function '%s' is not available in a segment expression: the calls are "
                    "segment('name'), did('event'[, last N days]) and event(...) compared with a "
                    "number",
                    tok_text(p, &name, b));
    if (!fn) {
        const char *names[TB__FN_COUNT - 1];
        for (size_t i = 0; i < TB__FN_COUNT - 1; i++)
            names[i] = tb__expr_fns[i].name;
        char nm[128];
        snprintf(nm, sizeof nm, "%.*s", (int)(name.len < 127 ? name.len : 127), p->src + name.pos);
        const char *near = tb__expr_nearest(nm, names, TB__FN_COUNT - 1);
        if (near)
            return perr(p, name.pos, "unknown function '%s' (did you mean '%s'?)",
                        tok_text(p, &name, b), near);
        return perr(p, name.pos, "unknown function '%s'", tok_text(p, &name, b));
    }
    if (fn->id == TB__FN_SEGMENT && p->mode != TB__EXPR_SEGMENT)
        return perr(p, name.pos, "segment() is only available in segment expressions");
    TRY(advance(p)); /* the name */
    TRY(advance(p)); /* '(' */
    kids k = {0};
    if (fn->id == TB__FN_SEGMENT) {
        /* the name is a literal, not a condition (which a segment expression's operands are) */
        tb__expr *arg;
        if (p->cur.t != TK_STR)
            return perr(p, p->cur.pos,
                        "segment() takes a segment's name in quotes: segment('name')");
        TRY(parse_literal(p, &arg));
        if (arg->text_len == 0)
            return perr(p, arg->pos, "segment() needs a segment's name, not ''");
        TRY(kids_push(p->a, &k, arg));
        if (p->cur.t != TK_RP) return perr(p, p->cur.pos, "expected ')' after the segment's name");
    } else if (p->cur.t != TK_RP) {
        for (;;) {
            tb__expr *arg;
            p->want = "an argument";
            TRY(parse_or(p, &arg));
            TRY(kids_push(p->a, &k, arg));
            if (p->cur.t == TK_RP) break;
            if (p->cur.t != TK_COMMA)
                return perr(p, p->cur.pos, "expected ',' or ')' after an argument of %s()",
                            fn->name);
            TRY(advance(p));
        }
    }
    if ((int)k.n < fn->min_args || (fn->max_args >= 0 && (int)k.n > fn->max_args)) {
        if (fn->max_args < 0)
            return perr(p, name.pos, "%s() takes at least %d argument%s, not %u", fn->name,
                        fn->min_args, fn->min_args == 1 ? "" : "s", k.n);
        return perr(p, name.pos, "%s() takes %d argument%s, not %u", fn->name, fn->min_args,
                    fn->min_args == 1 ? "" : "s", k.n);
    }
    if (fn->id == TB__FN_SEGMENT && k.v[0]->kind != TB__X_STR)
        return perr(p, k.v[0]->pos, "segment() takes a segment's name in quotes: segment('name')");
    if (fn->id == TB__FN_DATE && k.v[0]->kind == TB__X_STR) {
        int64_t d;
        if (tb__expr_parse_date(k.v[0]->text, k.v[0]->text_len, &d))
            return perr(p, k.v[0]->pos, "'%s' is not a date: expected 'YYYY-MM-DD' or 'YYYYMMDD'",
                        tok_text(p, &(tok){TK_STR, 0, k.v[0]->pos + 1, k.v[0]->len - 2}, b));
    }
    tb__expr *e = new_node(p->a, TB__X_CALL, name.pos, p->cur.pos + 1);
    if (!e) return TB_ENOMEM;
    e->text = fn->name;
    e->text_len = strlen(fn->name);
    e->op = (int)fn->id + 1; /* the evaluator's look-up, done once (0: look the name up) */
    e->kid = k.v;
    e->nkid = k.n;
    *out = e;
    p->depth--;
    return advance(p); /* ')' */
}

static int parse_unary(parser *p, tb__expr **out);

static int parse_primary(parser *p, tb__expr **out)
{
    tok t = p->cur;
    tb__expr *e;
    switch (t.t) {
    case TK_NUM:
    case TK_STR:
        return parse_literal(p, out);
    case TK_KW:
        if (t.v == KW_TRUE || t.v == KW_FALSE) return parse_literal(p, out);
        return expected(p);
    case TK_IDENT:
    case TK_QNAME: {
        if (t.t == TK_IDENT) {
            tok nx;
            TRY(peek(p, &nx));
            if (nx.t == TK_LP) return parse_call(p, out);
        }
        e = new_node(p->a, TB__X_IDENT, t.pos, t.pos + t.len);
        if (!e) return TB_ENOMEM;
        if (t.t == TK_QNAME) {
            e->quoted = 1;
            TRY(unquote(p, &t, e));
        } else {
            e->text = tb__arena_strndup(p->a, p->src + t.pos, t.len);
            if (!e->text) return TB_ENOMEM;
            e->text_len = t.len;
        }
        *out = e;
        return advance(p);
    }
    case TK_LP: {
        TRY(enter(p, t.pos));
        TRY(advance(p));
        p->want = p->mode == TB__EXPR_SEGMENT ? "a condition" : "an expression";
        TRY(parse_or(p, &e));
        if (p->cur.t != TK_RP)
            return perr(p, p->cur.pos, "expected ')' (the '(' at character %zu is not closed)",
                        char_no(p, t.pos));
        p->depth--;
        *out = e;
        return advance(p);
    }
    default:
        return expected(p);
    }
}

static int parse_unary(parser *p, tb__expr **out)
{
    tok t = p->cur;
    if (t.t != TK_MINUS) return parse_primary(p, out);
    tok nx;
    TRY(peek(p, &nx));
    if (nx.t == TK_NUM) return parse_literal(p, out);
    if (p->mode == TB__EXPR_SEGMENT)
        return perr(p, t.pos, "arithmetic ('-') is only available in rule expressions");
    TRY(enter(p, t.pos));
    TRY(advance(p));
    p->want = "a value";
    tb__expr *k;
    TRY(parse_unary(p, &k));
    tb__expr *e = new_node(p->a, TB__X_NEG, t.pos, end_of(k));
    if (!e) return TB_ENOMEM;
    e->kid = tb__arena_alloc(p->a, sizeof *e->kid);
    if (!e->kid) return TB_ENOMEM;
    e->kid[0] = k;
    e->nkid = 1;
    p->depth--;
    *out = e;
    return 0;
}

static tb__expr *binary(tb__arena *a, tb__expr_kind kind, int op, tb__expr *l, tb__expr *r)
{
    tb__expr *e = new_node(a, kind, l->pos, end_of(r));
    if (!e || !(e->kid = tb__arena_alloc(a, 2 * sizeof *e->kid))) return NULL;
    e->op = op;
    e->kid[0] = l;
    e->kid[1] = r;
    e->nkid = 2;
    return e;
}

/* One level of left-associative arithmetic: ops are the token types it takes, next the level
 * below. Each link of a chain counts as a level of nesting (the tree gets one deeper). */
static int parse_arith(parser *p, tb__expr **out, int lo, int hi,
                       int (*next)(parser *, tb__expr **))
{
    tb__expr *l, *r;
    TRY(next(p, &l));
    int links = 0;
    while (p->cur.t >= lo && p->cur.t <= hi) {
        static const char opc[] = {
            [TK_PLUS] = '+', [TK_MINUS] = '-', [TK_STAR] = '*', [TK_SLASH] = '/', [TK_PCT] = '%'};
        int op = opc[p->cur.t];
        if (p->mode == TB__EXPR_SEGMENT)
            return perr(p, p->cur.pos, "arithmetic ('%c') is only available in rule expressions",
                        op);
        TRY(enter(p, p->cur.pos));
        links++;
        TRY(advance(p));
        p->want = "a value";
        TRY(next(p, &r));
        if (!(l = binary(p->a, TB__X_ARITH, op, l, r))) return TB_ENOMEM;
    }
    p->depth -= links;
    *out = l;
    return 0;
}

static int parse_term(parser *p, tb__expr **out)
{
    return parse_arith(p, out, TK_STAR, TK_PCT, parse_unary);
}

static int parse_sum(parser *p, tb__expr **out)
{
    return parse_arith(p, out, TK_PLUS, TK_MINUS, parse_term);
}

/* Segment mode: the left of an operator is a tag, its values are literals. */
static int seg_left(parser *p, const tb__expr *l, const char *what)
{
    if (p->mode != TB__EXPR_SEGMENT || l->kind == TB__X_IDENT) return 0;
    return perr(p, l->pos, "%s in a segment expression needs a tag on the left", what);
}

static int seg_value(parser *p, const tb__expr *v, const char *what)
{
    if (p->mode != TB__EXPR_SEGMENT || is_literal(v)) return 0;
    return perr(
        p, v->pos,
        "%s in a segment expression needs a value (a number, a 'string', true or false) here",
        what);
}

static const char cmp_msg[] =
    "a comparison in a segment expression needs a tag on the left and a value on the right";

static int parse_pred(parser *p, tb__expr **out)
{
    tb__expr *l, *e;
    TRY(parse_sum(p, &l));
    tok t = p->cur;
    p->bare = 0;
    if (t.t == TK_CMP) {
        int evl = l->kind == TB__X_CALL && l->op == 0 && strcmp(l->text, "event") == 0;
        if (p->mode == TB__EXPR_SEGMENT && l->kind != TB__X_IDENT && !evl)
            return perr(p, l->pos, cmp_msg);
        TRY(advance(p));
        p->want = "a value";
        tb__expr *r;
        TRY(parse_sum(p, &r));
        if (p->mode == TB__EXPR_SEGMENT && !is_literal(r)) return perr(p, r->pos, cmp_msg);
        if (evl && (r->kind != TB__X_NUM || !r->is_int))
            return perr(p, r->pos, "event() is compared with a whole number of events");
        if (!(e = binary(p->a, TB__X_CMP, t.v, l, r))) return TB_ENOMEM;
        *out = e;
        return 0;
    }
    int negated = 0;
    if (is_kw(&t, KW_NOT)) {
        tok nx;
        TRY(peek(p, &nx));
        if (!is_kw(&nx, KW_IN) && !is_kw(&nx, KW_BETWEEN))
            return perr(p, nx.pos, "expected 'in' or 'between' after 'not'");
        negated = 1;
        TRY(advance(p));
        t = p->cur;
    }
    if (is_kw(&t, KW_IN)) {
        TRY(seg_left(p, l, "'in'"));
        TRY(advance(p));
        if (p->cur.t != TK_LP)
            return perr(p, p->cur.pos, "expected '(' and a list of values after 'in'");
        TRY(advance(p));
        kids k = {0};
        TRY(kids_push(p->a, &k, l));
        for (;;) {
            tb__expr *v;
            TRY(parse_literal(p, &v));
            TRY(kids_push(p->a, &k, v));
            if (p->cur.t == TK_RP) break;
            if (p->cur.t != TK_COMMA)
                return perr(p, p->cur.pos, "expected ',' or ')' in the list of 'in'");
            TRY(advance(p));
        }
        if (!(e = new_node(p->a, TB__X_IN, l->pos, p->cur.pos + 1))) return TB_ENOMEM;
        e->negated = negated;
        e->kid = k.v;
        e->nkid = k.n;
        *out = e;
        return advance(p);
    }
    if (is_kw(&t, KW_BETWEEN)) {
        TRY(seg_left(p, l, "'between'"));
        TRY(advance(p));
        tb__expr *lo, *hi;
        p->want = "a value";
        TRY(parse_sum(p, &lo));
        TRY(seg_value(p, lo, "'between'"));
        if (!is_kw(&p->cur, KW_AND))
            return perr(p, p->cur.pos, "expected 'and' between the two bounds of 'between'");
        TRY(advance(p));
        p->want = "a value";
        TRY(parse_sum(p, &hi));
        TRY(seg_value(p, hi, "'between'"));
        if (!(e = new_node(p->a, TB__X_BETWEEN, l->pos, end_of(hi)))) return TB_ENOMEM;
        if (!(e->kid = tb__arena_alloc(p->a, 3 * sizeof *e->kid))) return TB_ENOMEM;
        e->negated = negated;
        e->kid[0] = l;
        e->kid[1] = lo;
        e->kid[2] = hi;
        e->nkid = 3;
        *out = e;
        return 0;
    }
    if (is_kw(&t, KW_IS)) {
        TRY(seg_left(p, l, "'is null'"));
        TRY(advance(p));
        if (is_kw(&p->cur, KW_NOT)) {
            negated = 1;
            TRY(advance(p));
        }
        if (!is_kw(&p->cur, KW_NULL))
            return perr(p, p->cur.pos, "expected 'null' or 'not null' after 'is'");
        if (!(e = new_node(p->a, TB__X_ISNULL, l->pos, p->cur.pos + p->cur.len))) return TB_ENOMEM;
        if (!(e->kid = tb__arena_alloc(p->a, sizeof *e->kid))) return TB_ENOMEM;
        e->negated = negated;
        e->kid[0] = l;
        e->nkid = 1;
        *out = e;
        return advance(p);
    }
    /* No operator: a boolean test of a tag, a segment(), or a parenthesised condition. */
    if (p->mode == TB__EXPR_SEGMENT && l->kind == TB__X_CALL && l->op == 0 &&
        strcmp(l->text, "event") == 0)
        return perr(p, l->pos, "compare event() with a number: event('login', last 30 days) >= 3");
    if (p->mode == TB__EXPR_SEGMENT && !is_condition(l) && l->kind != TB__X_IDENT &&
        l->kind != TB__X_CALL)
        return perr(p, l->pos,
                    "a value alone is not a condition: compare a tag with it (tag = value)");
    p->bare = !is_condition(l);
    *out = l;
    return 0;
}

static int parse_not(parser *p, tb__expr **out)
{
    tok t = p->cur;
    if (!is_kw(&t, KW_NOT)) return parse_pred(p, out);
    TRY(enter(p, t.pos));
    TRY(advance(p));
    p->want = "a condition";
    tb__expr *k;
    TRY(parse_not(p, &k));
    tb__expr *e = new_node(p->a, TB__X_NOT, t.pos, end_of(k));
    if (!e || !(e->kid = tb__arena_alloc(p->a, sizeof *e->kid))) return TB_ENOMEM;
    e->kid[0] = k;
    e->nkid = 1;
    p->depth--;
    *out = e;
    return 0;
}

/* and_expr and expr: n-ary nodes; a single operand is returned as it is. */
static int parse_list(parser *p, tb__expr **out, int kw, tb__expr_kind kind,
                      int (*next)(parser *, tb__expr **))
{
    tb__expr *first;
    TRY(next(p, &first));
    if (!is_kw(&p->cur, kw)) {
        *out = first;
        return 0;
    }
    kids k = {0};
    TRY(kids_push(p->a, &k, first));
    while (is_kw(&p->cur, kw)) {
        TRY(advance(p));
        p->want = "a condition";
        tb__expr *e;
        TRY(next(p, &e));
        TRY(kids_push(p->a, &k, e));
    }
    tb__expr *e = new_node(p->a, kind, first->pos, end_of(k.v[k.n - 1]));
    if (!e) return TB_ENOMEM;
    e->kid = k.v;
    e->nkid = k.n;
    *out = e;
    return 0;
}

static int parse_and(parser *p, tb__expr **out)
{
    return parse_list(p, out, KW_AND, TB__X_AND, parse_not);
}

static int parse_or(parser *p, tb__expr **out)
{
    return parse_list(p, out, KW_OR, TB__X_OR, parse_and);
}

/* See expr.h. Validates the whole text first, so the lexer only ever sees well-formed UTF-8. */
int tb__expr_parse(const char *src, size_t len, tb__expr_mode mode, tb__arena *a, tb__expr **out,
                   tb__expr_error *err)
{
    tb__expr_error dummy;
    if (!err) err = &dummy;
    memset(err, 0, sizeof *err);
    *out = NULL;
    if (!src && len) return TB_EINVAL;
    if (mode != TB__EXPR_SEGMENT && mode != TB__EXPR_RULE) return TB_EINVAL;
    if (len > MAX_SRC) {
        snprintf(err->msg, sizeof err->msg,
                 "expression is %zu bytes long, longer than the limit of 1 MiB", len);
        render(err, NULL, 0, 0);
        return TB_EFORMAT;
    }
    size_t bad;
    if (tb__utf8_validate((const unsigned char *)src, len, &bad)) {
        snprintf(err->msg, sizeof err->msg, "invalid UTF-8 at byte %zu", bad);
        render(err, NULL, 0, 0);
        err->pos = (uint32_t)bad;
        return TB_EFORMAT;
    }
    parser p = {.src = src ? src : "", .len = len, .mode = mode, .a = a, .err = err};
    p.prev.t = TK_EOF;
    TRY(lex(&p, 0, &p.cur));
    if (p.cur.t == TK_EOF) return perr(&p, 0, "the expression is empty");
    p.want = mode == TB__EXPR_SEGMENT ? "a condition" : "an expression";
    tb__expr *root;
    TRY(parse_or(&p, &root));
    if (p.cur.t == TK_RP) return perr(&p, p.cur.pos, "unexpected ')': there is no '(' to close");
    if (p.cur.t != TK_EOF) {
        if (p.bare)
            return perr(&p, p.cur.pos,
                        "expected an operator, 'and', 'or' or the end of the expression");
        return perr(&p, p.cur.pos, "expected 'and', 'or' or the end of the expression");
    }
    *out = root;
    return 0;
}

/* ---------------------------------------------------------------------------------------------
 * Canonical text
 */

/* A plain identifier that the lexer reads back as one: [A-Za-z_][A-Za-z0-9_.]*, no keyword. */
int tb__expr_plain_name(const char *s, size_t n)
{
    if (n == 0 || !is_alpha((unsigned char)s[0])) return 0;
    for (size_t i = 1; i < n; i++)
        if (!is_identc((unsigned char)s[i])) return 0;
    for (int k = 0; k < KW_COUNT; k++)
        if (word_eq(s, n, kw_names[k])) return 0;
    return 1;
}

/* Binding strength: a kid printed where a stronger level is needed gets parentheses. */
static int prec(const tb__expr *e)
{
    switch (e->kind) {
    case TB__X_OR:
        return 1;
    case TB__X_AND:
        return 2;
    case TB__X_NOT:
        return 3;
    case TB__X_CMP:
    case TB__X_IN:
    case TB__X_BETWEEN:
    case TB__X_ISNULL:
        return 4;
    case TB__X_ARITH:
        return e->op == '+' || e->op == '-' ? 5 : 6;
    case TB__X_NEG:
        return 7;
    default:
        return 8;
    }
}

/* The shortest decimal that reads back as the same double, always with a '.' or an exponent so
 * that it reads back as a double and not an integer. */
int tb__expr_put_double(tb__buf *b, double d)
{
    char s[40];
    for (int digits = 15; digits <= 17; digits++) {
        snprintf(s, sizeof s, "%.*g", digits, d);
        if (strtod(s, NULL) == d) break;
    }
    if (!strpbrk(s, ".eEn")) strcat(s, ".0");
    return tb__buf_puts(b, s);
}

static int put_quoted(tb__buf *b, const char *s, size_t n, char q)
{
    TRY(tb__buf_putc(b, q));
    for (size_t i = 0; i < n; i++) {
        if (s[i] == q) TRY(tb__buf_putc(b, q));
        TRY(tb__buf_putc(b, s[i]));
    }
    return tb__buf_putc(b, q);
}

static int put(const tb__expr *e, tb__buf *b, int need);

static int put_join(const tb__expr *e, tb__buf *b, uint32_t from, const char *sep, int need)
{
    for (uint32_t i = from; i < e->nkid; i++) {
        if (i > from) TRY(tb__buf_puts(b, sep));
        TRY(put(e->kid[i], b, need));
    }
    return 0;
}

static const char *const cmp_text[] = {"=", "!=", "<", "<=", ">", ">="};

static int put_bare(const tb__expr *e, tb__buf *b)
{
    switch (e->kind) {
    case TB__X_OR:
        return put_join(e, b, 0, " or ", 2);
    case TB__X_AND:
        return put_join(e, b, 0, " and ", 3);
    case TB__X_NOT:
        TRY(tb__buf_puts(b, "not "));
        return put(e->kid[0], b, 3);
    case TB__X_CMP:
        TRY(put(e->kid[0], b, 5));
        TRY(tb__buf_printf(b, " %s ", (unsigned)e->op < 6 ? cmp_text[e->op] : "?"));
        return put(e->kid[1], b, 5);
    case TB__X_IN:
        TRY(put(e->kid[0], b, 5));
        TRY(tb__buf_puts(b, e->negated ? " not in (" : " in ("));
        TRY(put_join(e, b, 1, ", ", 0));
        return tb__buf_putc(b, ')');
    case TB__X_BETWEEN:
        TRY(put(e->kid[0], b, 5));
        TRY(tb__buf_puts(b, e->negated ? " not between " : " between "));
        TRY(put(e->kid[1], b, 5));
        TRY(tb__buf_puts(b, " and "));
        return put(e->kid[2], b, 5);
    case TB__X_ISNULL:
        TRY(put(e->kid[0], b, 5));
        return tb__buf_puts(b, e->negated ? " is not null" : " is null");
    case TB__X_IDENT:
        if (!e->quoted && tb__expr_plain_name(e->text, e->text_len))
            return tb__buf_append(b, e->text, e->text_len);
        return put_quoted(b, e->text, e->text_len, '"');
    case TB__X_STR:
        return put_quoted(b, e->text, e->text_len, '\'');
    case TB__X_NUM:
        if (e->is_int) return tb__buf_put_i64(b, e->ival);
        return tb__expr_put_double(b, e->dval);
    case TB__X_BOOL:
        return tb__buf_puts(b, e->ival ? "true" : "false");
    case TB__X_CALL:
        if (e->op == 0 && e->nkid == 1 && strcmp(e->text, "last") == 0) {
            TRY(tb__buf_puts(b, "last "));
            TRY(put_bare(e->kid[0], b));
            return tb__buf_puts(b, " days");
        }
        TRY(tb__buf_append(b, e->text, e->text_len));
        TRY(tb__buf_putc(b, '('));
        TRY(put_join(e, b, 0, ", ", 0));
        return tb__buf_putc(b, ')');
    case TB__X_ARITH: {
        int add = e->op == '+' || e->op == '-';
        TRY(put(e->kid[0], b, add ? 5 : 6));
        TRY(tb__buf_printf(b, " %c ", e->op));
        return put(e->kid[1], b, add ? 6 : 7);
    }
    case TB__X_NEG:
        /* -(3) is the negation of 3, not the literal -3; "- -x" keeps a blank between the signs
         * (and no parentheses: they would nest one level deeper than the source did). So does the
         * negation of a negative literal, "- -3", and of zero, "- -0" (the literal -0 is 0): the
         * source can have written it so, and "-(-3)" or "-(0)" would read back one level deeper,
         * past the nesting limit for a source right at it. */
        if (e->kid[0]->kind == TB__X_NUM) {
            const tb__expr *k = e->kid[0];
            size_t at = b->len;
            TRY(tb__buf_puts(b, "-("));
            TRY(put_bare(k, b));
            if (b->data[at + 2] == '-') { /* negative, or -0.0 */
                b->data[at + 1] = ' ';
                return 0;
            }
            if (k->is_int ? k->ival == 0 : k->dval == 0) {
                b->len = at;
                TRY(tb__buf_puts(b, "- -"));
                return put_bare(k, b);
            }
            return tb__buf_putc(b, ')');
        }
        TRY(tb__buf_puts(b, e->kid[0]->kind == TB__X_NEG ? "- " : "-"));
        return put(e->kid[0], b, 7);
    }
    return TB_EINVAL;
}

static int put(const tb__expr *e, tb__buf *b, int need)
{
    if (prec(e) >= need) return put_bare(e, b);
    TRY(tb__buf_putc(b, '('));
    TRY(put_bare(e, b));
    return tb__buf_putc(b, ')');
}

/* See expr.h. */
int tb__expr_to_text(const tb__expr *e, tb__buf *out)
{
    return put(e, out, 0);
}

/* ---------------------------------------------------------------------------------------------
 * Equality, walk, suggestions
 */

/* See expr.h: what a tree means, not where it came from (positions, quoting, binder fields). */
int tb__expr_equal(const tb__expr *x, const tb__expr *y)
{
    if (x->kind != y->kind || x->nkid != y->nkid) return 0;
    switch (x->kind) {
    case TB__X_CMP:
    case TB__X_ARITH:
        if (x->op != y->op) return 0;
        break;
    case TB__X_IN:
    case TB__X_BETWEEN:
    case TB__X_ISNULL:
        if (!x->negated != !y->negated) return 0;
        break;
    case TB__X_IDENT:
    case TB__X_STR:
    case TB__X_CALL:
        if (x->text_len != y->text_len || memcmp(x->text, y->text, x->text_len) != 0) return 0;
        break;
    case TB__X_NUM:
        if (!x->is_int != !y->is_int) return 0;
        if (x->is_int ? x->ival != y->ival : !(x->dval == y->dval)) return 0;
        break;
    case TB__X_BOOL:
        if (!x->ival != !y->ival) return 0;
        break;
    default:
        break;
    }
    for (uint32_t i = 0; i < x->nkid; i++)
        if (!tb__expr_equal(x->kid[i], y->kid[i])) return 0;
    return 1;
}

/* See expr.h. */
void tb__expr_walk(tb__expr *e, void (*fn)(tb__expr *node, void *arg), void *arg)
{
    fn(e, arg);
    for (uint32_t i = 0; i < e->nkid; i++)
        tb__expr_walk(e->kid[i], fn, arg);
}

#define NEAR_MAX 128 /* code points compared; longer names get no suggestion */

/* Code points of s, ASCII folded to lowercase; the count, or NEAR_MAX + 1 when longer. */
static size_t fold(const char *s, uint32_t *cp)
{
    size_t n = 0, len = strlen(s), clen;
    for (size_t i = 0; i < len; i += clen) {
        if (n == NEAR_MAX) return NEAR_MAX + 1;
        uint32_t c = decode((const unsigned char *)s + i, len - i, &clen);
        cp[n++] = c < 0x80 ? (uint32_t)lower((int)c) : c;
    }
    return n;
}

/* Optimal string alignment distance (Damerau–Levenshtein without repeated edits of a substring):
 * a swapped pair of letters is one edit, the typing mistake people make most. */
static size_t osa(const uint32_t *a, size_t n, const uint32_t *b, size_t m)
{
    size_t rows[3][NEAR_MAX + 1];
    size_t *pp = rows[0], *pr = rows[1], *cu = rows[2];
    for (size_t j = 0; j <= m; j++)
        pr[j] = j;
    for (size_t i = 1; i <= n; i++) {
        cu[0] = i;
        for (size_t j = 1; j <= m; j++) {
            size_t cost = a[i - 1] != b[j - 1];
            size_t v = pr[j - 1] + cost;
            if (pr[j] + 1 < v) v = pr[j] + 1;
            if (cu[j - 1] + 1 < v) v = cu[j - 1] + 1;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] && pp[j - 2] + 1 < v)
                v = pp[j - 2] + 1;
            cu[j] = v;
        }
        size_t *t = pp;
        pp = pr;
        pr = cu;
        cu = t;
    }
    return pr[m];
}

/* See expr.h. The first of equally near candidates wins, so callers order them by preference. */
const char *tb__expr_nearest(const char *name, const char *const *cands, size_t ncands)
{
    uint32_t a[NEAR_MAX], b[NEAR_MAX];
    if (!name) return NULL;
    size_t n = fold(name, a);
    if (n > NEAR_MAX) return NULL;
    size_t limit = n / 3 > 2 ? n / 3 : 2, best = limit + 1;
    const char *found = NULL;
    for (size_t i = 0; i < ncands; i++) {
        if (!cands[i]) continue;
        size_t m = fold(cands[i], b);
        if (m > NEAR_MAX || (m > n ? m - n : n - m) > limit) continue;
        size_t d = osa(a, n, b, m);
        if (d < best) {
            best = d;
            found = cands[i];
        }
    }
    return found;
}
