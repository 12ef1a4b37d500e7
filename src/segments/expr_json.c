/* expr_json.c — the JSON form of segment expressions (what UIs build): reading it into the same
 * tree the text parser makes, with errors that name the JSON pointer of the bad element, and
 * writing a tree back (see expr.h, docs/expressions.md "JSON form"). */
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "segments/expr.h"
#include "segments/expr_int.h"

#define MAX_DEPTH 256

typedef struct jparser {
    tb__arena *a;
    tb__expr_error *err;
    char path[128];
    size_t plen;
} jparser;

/* Records an error at the current path and returns TB_EFORMAT. */
static int jerr(jparser *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int jerr(jparser *p, const char *fmt, ...)
{
    tb__expr_error *err = p->err;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
    err->pos = 0;
    snprintf(err->path, sizeof err->path, "%s", p->path);
    if (p->plen)
        snprintf(err->text, sizeof err->text, "%s at %s", err->msg, err->path);
    else
        snprintf(err->text, sizeof err->text, "%s at the top level", err->msg);
    return TB_EFORMAT;
}

/* Appends "/key" (escaped as RFC 6901 says: ~ as ~0, / as ~1) to the path; returns the old
 * length for pop(). A path longer than the buffer is cut (it only ever appears in messages). */
static size_t push_key(jparser *p, const char *key)
{
    size_t old = p->plen, n = p->plen;
    char *d = p->path;
    if (n + 1 < sizeof p->path) d[n++] = '/';
    for (const char *s = key; *s && n + 2 < sizeof p->path; s++) {
        if (*s == '~' || *s == '/') {
            d[n++] = '~';
            d[n++] = *s == '~' ? '0' : '1';
        } else {
            d[n++] = *s;
        }
    }
    d[n] = '\0';
    p->plen = n;
    return old;
}

static size_t push_index(jparser *p, size_t i)
{
    char k[24];
    snprintf(k, sizeof k, "%zu", i);
    return push_key(p, k);
}

static void pop(jparser *p, size_t old)
{
    p->plen = old;
    p->path[old] = '\0';
}

static tb__expr *jnode(tb__arena *a, tb__expr_kind k, uint32_t nkid)
{
    tb__expr *e = tb__arena_calloc(a, 1, sizeof *e);
    if (!e) return NULL;
    e->kind = k;
    e->slot = -1;
    if (nkid) {
        e->kid = tb__arena_calloc(a, nkid, sizeof *e->kid);
        if (!e->kid) return NULL;
        e->nkid = nkid;
    }
    return e;
}

/* A non-empty JSON string without NUL into the arena; TB_EFORMAT otherwise. */
static int jstring(jparser *p, const json_t *j, const char *what, const char **out, size_t *len)
{
    if (!json_is_string(j)) return jerr(p, "expected %s as a string", what);
    size_t n = json_string_length(j);
    const char *s = json_string_value(j);
    if (n == 0) return jerr(p, "%s is empty", what);
    if (memchr(s, '\0', n)) return jerr(p, "%s contains a NUL character", what);
    if (!(*out = tb__arena_strndup(p->a, s, n))) return TB_ENOMEM;
    *len = n;
    return 0;
}

/* A literal: a string, a number or true/false. */
static int jliteral(jparser *p, const json_t *j, tb__expr **out)
{
    tb__expr *e;
    if (json_is_string(j)) {
        size_t n = json_string_length(j);
        if (memchr(json_string_value(j), '\0', n))
            return jerr(p, "a string contains a NUL character");
        if (!(e = jnode(p->a, TB__X_STR, 0))) return TB_ENOMEM;
        if (!(e->text = tb__arena_strndup(p->a, json_string_value(j), n))) return TB_ENOMEM;
        e->text_len = n;
    } else if (json_is_integer(j)) {
        if (!(e = jnode(p->a, TB__X_NUM, 0))) return TB_ENOMEM;
        e->is_int = 1;
        e->ival = json_integer_value(j);
        e->dval = (double)e->ival;
        e->text = tb__arena_printf(p->a, "%" PRId64, e->ival);
        if (!e->text) return TB_ENOMEM;
        e->text_len = strlen(e->text);
    } else if (json_is_real(j)) {
        if (!isfinite(json_real_value(j))) return jerr(p, "a number is out of range");
        if (!(e = jnode(p->a, TB__X_NUM, 0))) return TB_ENOMEM;
        e->dval = json_real_value(j);
        tb__buf b = TB__BUF_INIT;
        int rc = tb__expr_put_double(&b, e->dval);
        e->text = rc ? NULL : tb__arena_strndup(p->a, b.data, b.len);
        tb__buf_release(&b);
        if (!e->text) return TB_ENOMEM;
        e->text_len = strlen(e->text);
    } else if (json_is_boolean(j)) {
        if (!(e = jnode(p->a, TB__X_BOOL, 0))) return TB_ENOMEM;
        e->ival = json_is_true(j);
        e->text = e->ival ? "true" : "false";
        e->text_len = strlen(e->text);
    } else if (json_is_null(j)) {
        return jerr(p, "null is not a value: test for it with {\"tag\": ..., \"is_null\": true}");
    } else {
        return jerr(p, "expected a value (a string, a number, true or false)");
    }
    *out = e;
    return 0;
}

static const char *const cmp_keys[] = {"eq", "ne", "lt", "le", "gt", "ge"};

static int jexpr(jparser *p, const json_t *j, int depth, tb__expr **out);

/* {"and": [...]} and {"or": [...]}: one element is returned as it is (the text form has no
 * one-operand and/or either). */
static int jlist(jparser *p, const json_t *arr, tb__expr_kind kind, int depth, tb__expr **out)
{
    if (!json_is_array(arr)) return jerr(p, "expected an array of conditions");
    size_t n = json_array_size(arr);
    if (n == 0) return jerr(p, "expected at least one condition");
    if (n == 1) {
        size_t old = push_index(p, 0);
        int rc = jexpr(p, json_array_get(arr, 0), depth + 1, out);
        if (rc == 0) pop(p, old);
        return rc;
    }
    if (n > UINT32_MAX) return jerr(p, "too many conditions");
    tb__expr *e = jnode(p->a, kind, (uint32_t)n);
    if (!e) return TB_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        size_t old = push_index(p, i);
        int rc = jexpr(p, json_array_get(arr, i), depth + 1, &e->kid[i]);
        if (rc) return rc;
        pop(p, old);
    }
    *out = e;
    return 0;
}

/* {"tag": name, op: value} with at most one operator key. */
static int jtag(jparser *p, const json_t *j, tb__expr **out)
{
    tb__expr *id = jnode(p->a, TB__X_IDENT, 0), *e = NULL;
    if (!id) return TB_ENOMEM;
    size_t old = push_key(p, "tag");
    int rc = jstring(p, json_object_get(j, "tag"), "the tag", &id->text, &id->text_len);
    if (rc) return rc;
    pop(p, old);
    id->quoted = !tb__expr_plain_name(id->text, id->text_len);
    const char *key;
    json_t *v;
    const char *opkey = NULL;
    json_object_foreach((json_t *)j, key, v)
    {
        if (strcmp(key, "tag") == 0) continue;
        old = push_key(p, key);
        if (opkey)
            return jerr(p,
                        "a condition has one operator ('%s' is already there): combine "
                        "conditions with {\"and\": [...]}",
                        opkey);
        opkey = key;
        int negated = 0;
        if (strcmp(key, "in") == 0 || (negated = strcmp(key, "not_in") == 0)) {
            if (!json_is_array(v)) return jerr(p, "expected an array of values");
            size_t n = json_array_size(v);
            if (n == 0) return jerr(p, "expected at least one value");
            if (n >= UINT32_MAX) return jerr(p, "too many values");
            if (!(e = jnode(p->a, TB__X_IN, (uint32_t)n + 1))) return TB_ENOMEM;
            for (size_t i = 0; i < n; i++) {
                size_t o2 = push_index(p, i);
                if ((rc = jliteral(p, json_array_get(v, i), &e->kid[i + 1]))) return rc;
                pop(p, o2);
            }
        } else if (strcmp(key, "between") == 0 || (negated = strcmp(key, "not_between") == 0)) {
            if (!json_is_array(v) || json_array_size(v) != 2)
                return jerr(p, "expected an array of two values [low, high]");
            if (!(e = jnode(p->a, TB__X_BETWEEN, 3))) return TB_ENOMEM;
            for (size_t i = 0; i < 2; i++) {
                size_t o2 = push_index(p, i);
                if ((rc = jliteral(p, json_array_get(v, i), &e->kid[i + 1]))) return rc;
                pop(p, o2);
            }
        } else if (strcmp(key, "is_null") == 0) {
            if (!json_is_boolean(v)) return jerr(p, "expected true or false");
            if (!(e = jnode(p->a, TB__X_ISNULL, 1))) return TB_ENOMEM;
            negated = json_is_false(v);
        } else {
            int op = -1;
            for (int k = 0; k < 6; k++)
                if (strcmp(key, cmp_keys[k]) == 0) op = k;
            if (op < 0)
                return jerr(p,
                            "unknown key '%s' (expected eq, ne, lt, le, gt, ge, in, not_in, "
                            "between, not_between or is_null)",
                            key);
            if (!(e = jnode(p->a, TB__X_CMP, 2))) return TB_ENOMEM;
            e->op = op;
            if ((rc = jliteral(p, v, &e->kid[1]))) return rc;
        }
        e->negated = negated;
        pop(p, old);
    }
    if (!e) {
        *out = id;
        return 0;
    }
    e->kid[0] = id;
    *out = e;
    return 0;
}

/* Behaviour: {"did": "name"[, "last_days": N]} and {"event": "name"[, "last_days": N],
 * "eq"|"ne"|"lt"|"le"|"gt"|"ge": whole number} (docs/expressions.md, "Behaviour"). */
static int jbehaviour(jparser *p, const json_t *j, int is_event, tb__expr **out)
{
    const char *key = is_event ? "event" : "did";
    const json_t *ld = json_object_get(j, "last_days");
    int op = -1;
    size_t want = 1 + (ld != NULL);
    for (int k = 0; is_event && k < 6; k++)
        if (json_object_get(j, cmp_keys[k])) op = k, want++;
    if (is_event && op < 0)
        return jerr(p, "{\"event\": ...} needs a comparison: eq, ne, lt, le, gt or ge");
    if (json_object_size(j) != want)
        return jerr(p, "{\"%s\": ...} takes only %s", key,
                    is_event ? "\"last_days\" and one comparison" : "\"last_days\"");
    size_t old = push_key(p, key);
    tb__expr *e = jnode(p->a, TB__X_CALL, ld ? 2 : 1);
    if (!e || !(e->kid[0] = jnode(p->a, TB__X_STR, 0))) return TB_ENOMEM;
    e->text = key;
    e->text_len = strlen(key);
    int rc = jstring(p, json_object_get(j, key), "an event name", &e->kid[0]->text,
                     &e->kid[0]->text_len);
    if (rc) return rc;
    if (e->kid[0]->text_len > 100) return jerr(p, "an event name has at most 100 bytes");
    pop(p, old);
    if (ld) {
        old = push_key(p, "last_days");
        if (!json_is_integer(ld) || json_integer_value(ld) < 1 || json_integer_value(ld) > 3660)
            return jerr(p, "last_days is a whole number of days from 1 to 3660");
        tb__expr *w = jnode(p->a, TB__X_CALL, 1), *n = jnode(p->a, TB__X_NUM, 0);
        if (!w || !n) return TB_ENOMEM;
        w->text = "last";
        w->text_len = 4;
        n->is_int = 1;
        n->ival = json_integer_value(ld);
        n->dval = (double)n->ival;
        n->text = tb__arena_printf(p->a, "%lld", (long long)n->ival);
        if (!n->text) return TB_ENOMEM;
        n->text_len = strlen(n->text);
        w->kid[0] = n;
        e->kid[1] = w;
        pop(p, old);
    }
    if (!is_event) {
        *out = e;
        return 0;
    }
    old = push_key(p, cmp_keys[op]);
    const json_t *v = json_object_get(j, cmp_keys[op]);
    if (!json_is_integer(v)) return jerr(p, "event() is compared with a whole number of events");
    tb__expr *c = jnode(p->a, TB__X_CMP, 2);
    if (!c) return TB_ENOMEM;
    c->op = op;
    c->kid[0] = e;
    if ((rc = jliteral(p, v, &c->kid[1]))) return rc;
    pop(p, old);
    *out = c;
    return 0;
}

/* One element of the JSON form at the current path. */
static int jexpr(jparser *p, const json_t *j, int depth, tb__expr **out)
{
    if (depth > MAX_DEPTH)
        return jerr(p, "expression is nested more than %d levels deep", MAX_DEPTH);
    if (!json_is_object(j))
        return jerr(p, "expected an object: {\"tag\": ...}, {\"and\": [...]}, {\"or\": [...]}, "
                       "{\"not\": ...} or {\"segment\": ...}");
    if (json_object_get(j, "did")) return jbehaviour(p, j, 0, out);
    if (json_object_get(j, "event")) return jbehaviour(p, j, 1, out);
    static const char *const forms[] = {"and", "or", "not", "segment"};
    for (size_t f = 0; f < 4; f++) {
        json_t *v = json_object_get(j, forms[f]);
        if (!v) continue;
        if (json_object_size(j) != 1) {
            const char *key;
            json_t *x;
            json_object_foreach((json_t *)j, key, x) if (strcmp(key, forms[f]) != 0) break;
            push_key(p, key);
            return jerr(p, "unexpected key '%s' beside '%s'", key, forms[f]);
        }
        size_t old = push_key(p, forms[f]);
        int rc;
        if (f == 0 || f == 1) {
            if ((rc = jlist(p, v, f == 0 ? TB__X_AND : TB__X_OR, depth, out))) return rc;
        } else if (f == 2) {
            tb__expr *e = jnode(p->a, TB__X_NOT, 1);
            if (!e) return TB_ENOMEM;
            if ((rc = jexpr(p, v, depth + 1, &e->kid[0]))) return rc;
            *out = e;
        } else {
            tb__expr *e = jnode(p->a, TB__X_CALL, 1);
            if (!e || !(e->kid[0] = jnode(p->a, TB__X_STR, 0))) return TB_ENOMEM;
            e->text = "segment";
            e->text_len = 7;
            if ((rc = jstring(p, v, "the segment's name", &e->kid[0]->text, &e->kid[0]->text_len)))
                return rc;
            *out = e;
        }
        pop(p, old);
        return 0;
    }
    if (json_object_get(j, "tag")) return jtag(p, j, out);
    const char *key;
    json_t *x;
    json_object_foreach((json_t *)j, key, x)
    {
        push_key(p, key);
        return jerr(p, "unknown key '%s' (expected tag, and, or, not or segment)", key);
    }
    return jerr(p, "empty object: expected {\"tag\": ...}, {\"and\": [...]}, {\"or\": [...]}, "
                   "{\"not\": ...} or {\"segment\": ...}");
}

/* See expr.h. */
int tb__expr_parse_json(const json_t *j, tb__arena *a, tb__expr **out, tb__expr_error *err)
{
    tb__expr_error dummy;
    if (!err) err = &dummy;
    memset(err, 0, sizeof *err);
    *out = NULL;
    jparser p = {.a = a, .err = err};
    return jexpr(&p, j, 1, out);
}

/* ---------------------------------------------------------------------------------------------
 * Writing
 */

static json_t *jlit(const tb__expr *e)
{
    switch (e->kind) {
    case TB__X_STR:
        return json_stringn(e->text, e->text_len);
    case TB__X_NUM:
        return e->is_int ? json_integer(e->ival) : json_real(e->dval);
    case TB__X_BOOL:
        return json_boolean(e->ival);
    default:
        return NULL;
    }
}

/* Adds key: v to o, consuming v; NULL v (out of memory, or not representable) fails. */
static int set(json_t *o, const char *key, json_t *v)
{
    return v && json_object_set_new(o, key, v) == 0 ? 0 : -1;
}

/* {"did"|"event": name[, "last_days": N]} into o. */
static int behaviour_json(json_t *o, const tb__expr *call)
{
    if (call->nkid < 1 || call->kid[0]->kind != TB__X_STR) return -1;
    int rc = set(o, call->text, json_stringn(call->kid[0]->text, call->kid[0]->text_len));
    if (rc == 0 && call->nkid == 2 && call->kid[1]->nkid == 1)
        rc = set(o, "last_days", json_integer(call->kid[1]->kid[0]->ival));
    return rc;
}

static json_t *to_json(const tb__expr *e)
{
    json_t *o = json_object(), *arr;
    if (!o) return NULL;
    int rc = -1;
    const tb__expr *tag = e->nkid ? e->kid[0] : NULL;
    switch (e->kind) {
    case TB__X_AND:
    case TB__X_OR:
        if (!(arr = json_array()) || set(o, e->kind == TB__X_AND ? "and" : "or", arr)) break;
        rc = 0;
        for (uint32_t i = 0; i < e->nkid && rc == 0; i++) {
            json_t *k = to_json(e->kid[i]);
            rc = k && json_array_append_new(arr, k) == 0 ? 0 : -1;
        }
        break;
    case TB__X_NOT:
        rc = set(o, "not", to_json(e->kid[0]));
        break;
    case TB__X_IDENT:
        rc = set(o, "tag", json_stringn(e->text, e->text_len));
        break;
    case TB__X_CALL:
        if (e->nkid == 1 && e->kid[0]->kind == TB__X_STR && strcmp(e->text, "segment") == 0)
            rc = set(o, "segment", json_stringn(e->kid[0]->text, e->kid[0]->text_len));
        else if (strcmp(e->text, "did") == 0)
            rc = behaviour_json(o, e);
        break;
    case TB__X_CMP:
        if (tag->kind == TB__X_CALL && strcmp(tag->text, "event") == 0 && (unsigned)e->op < 6) {
            rc = behaviour_json(o, tag);
            if (rc == 0) rc = set(o, cmp_keys[e->op], jlit(e->kid[1]));
            break;
        }
        if (tag->kind != TB__X_IDENT || (unsigned)e->op >= 6) break;
        rc = set(o, "tag", json_stringn(tag->text, tag->text_len));
        if (rc == 0) rc = set(o, cmp_keys[e->op], jlit(e->kid[1]));
        break;
    case TB__X_IN:
    case TB__X_BETWEEN:
        if (tag->kind != TB__X_IDENT || set(o, "tag", json_stringn(tag->text, tag->text_len)))
            break;
        if (!(arr = json_array())) break;
        if (set(o,
                e->kind == TB__X_IN ? (e->negated ? "not_in" : "in")
                                    : (e->negated ? "not_between" : "between"),
                arr))
            break;
        rc = 0;
        for (uint32_t i = 1; i < e->nkid && rc == 0; i++) {
            json_t *k = jlit(e->kid[i]);
            rc = k && json_array_append_new(arr, k) == 0 ? 0 : -1;
        }
        break;
    case TB__X_ISNULL:
        if (tag->kind != TB__X_IDENT) break;
        rc = set(o, "tag", json_stringn(tag->text, tag->text_len));
        if (rc == 0) rc = set(o, "is_null", json_boolean(!e->negated));
        break;
    default:
        break;
    }
    if (rc) {
        json_decref(o);
        return NULL;
    }
    return o;
}

/* See expr.h. */
json_t *tb__expr_to_json(const tb__expr *e)
{
    return e ? to_json(e) : NULL;
}
