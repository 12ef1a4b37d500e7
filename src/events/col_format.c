/* col_format.c — the collector's wire formats: Segment / RudderStack JSON (plain or gzip) and
 * Sensors Data's data / data_list (base64 of JSON or of gzip), decoded into tb__evin events. */
#include <ctype.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sodium.h>
#include <zlib.h>

#include "common/clock.h"
#include "common/utf8.h"
#include "events/col_json.h"
#include "events/collector.h"

#define DEF_EVENT  (32u << 10)
#define DEF_BATCH  (500u << 10)
#define DEF_FUTURE (24LL * 3600 * 1000)
#define DEF_PAST   (30LL * 24 * 3600 * 1000)
#define SH_OFFSET  (8 * 3600) /* Asia/Shanghai, no DST */

static void limits(const tb__col_limits *in, tb__col_limits *out)
{
    *out = in ? *in : (tb__col_limits){0};
    if (!out->max_event) out->max_event = DEF_EVENT;
    if (!out->max_batch) out->max_batch = DEF_BATCH;
    if (!out->max_future_ms) out->max_future_ms = DEF_FUTURE;
    if (!out->max_past_ms) out->max_past_ms = DEF_PAST;
}

/* ---- times ---------------------------------------------------------------------------------- */

static int digits(const char *s, int n, int *v)
{
    *v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i])) return -1;
        *v = *v * 10 + (s[i] - '0');
    }
    return 0;
}

int tb__col_parse_time(const char *s, int64_t *ms)
{
    if (!s || !*s) return TB_EFORMAT;
    size_t len = strlen(s);
    if (len <= 16 && strspn(s, "0123456789") == len) {
        *ms = strtoll(s, NULL, 10);
        return 0;
    }
    int Y, M, D, h = 0, mi = 0, sec = 0, frac = 0;
    if (len < 10 || digits(s, 4, &Y) || s[4] != '-' || digits(s + 5, 2, &M) || s[7] != '-' ||
        digits(s + 8, 2, &D))
        return TB_EFORMAT;
    const char *p = s + 10;
    if (*p == 'T' || *p == 't' || *p == ' ') {
        if (strlen(p) < 9 || digits(p + 1, 2, &h) || p[3] != ':' || digits(p + 4, 2, &mi) ||
            p[6] != ':' || digits(p + 7, 2, &sec))
            return TB_EFORMAT;
        p += 9;
        if (*p == '.' || *p == ',') {
            p++;
            int nd = 0;
            while (isdigit((unsigned char)*p)) {
                if (nd < 3) frac = frac * 10 + (*p - '0');
                nd++;
                p++;
            }
            if (nd == 0) return TB_EFORMAT;
            for (int k = nd; k < 3; k++)
                frac *= 10;
        }
    }
    int off = SH_OFFSET;
    if (*p == 'Z' || *p == 'z') {
        off = 0;
        p++;
    } else if (*p == '+' || *p == '-') {
        int oh, om;
        int sign = *p == '-' ? -1 : 1;
        if (digits(p + 1, 2, &oh)) return TB_EFORMAT;
        const char *q = p + 3;
        if (*q == ':') q++;
        if (digits(q, 2, &om)) return TB_EFORMAT;
        off = sign * (oh * 3600 + om * 60);
        p = q + 2;
    }
    if (*p || M < 1 || M > 12 || D < 1 || D > 31 || h > 23 || mi > 59 || sec > 60)
        return TB_EFORMAT;
    int64_t days = tb__days_from_civil(Y, (unsigned)M, (unsigned)D);
    *ms = ((days * 86400 + h * 3600 + mi * 60 + sec) - off) * 1000 + frac;
    return 0;
}

/* Times are kept within ±10^17 ms (about 3 million years) so that the clock-skew arithmetic of
 * fix_time cannot overflow and a huge JSON number is never converted to int64_t out of range. */
#define MAX_TIME_MS 100000000000000000LL

/* A time field: an ISO text or a number of ms. 1 if present and valid, 0 if absent, -1 if bad. */
static int time_field(json_t *o, const char *key, int64_t *ms)
{
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v)) return 0;
    if (json_is_integer(v)) {
        json_int_t x = json_integer_value(v);
        if (x < -MAX_TIME_MS || x > MAX_TIME_MS) return -1;
        *ms = (int64_t)x;
        return 1;
    }
    if (json_is_real(v)) {
        double x = json_real_value(v);
        if (!(x >= (double)-MAX_TIME_MS && x <= (double)MAX_TIME_MS)) return -1;
        *ms = (int64_t)x;
        return 1;
    }
    if (json_is_string(v) && tb__col_parse_time(json_string_value(v), ms) == 0) return 1;
    return -1;
}

/* ---- bytes ---------------------------------------------------------------------------------- */

/* Inflates gzip (or zlib) bytes into at most `max` bytes. */
static int gunzip(const uint8_t *in, size_t n, size_t max, tb__arena *a, char **out, size_t *outlen,
                  tb__errbuf *eb)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    if (inflateInit2(&z, 15 + 32) != Z_OK) return tb__seterr(eb, TB_ENOMEM, "cannot start zlib");
    char *buf = tb__arena_alloc(a, max + 1);
    if (!buf) {
        inflateEnd(&z);
        return tb__seterr(eb, TB_ENOMEM, "out of memory inflating the body");
    }
    z.next_in = (Bytef *)in;
    z.avail_in = (uInt)n;
    z.next_out = (Bytef *)buf;
    z.avail_out = (uInt)max + 1;
    int zr = inflate(&z, Z_FINISH);
    size_t got = z.total_out;
    uLong consumed = z.total_in;
    inflateEnd(&z);
    if (got > max)
        return tb__seterr(eb, TB_ELIMIT, "body larger than %zu bytes once decompressed", max);
    if (zr != Z_STREAM_END)
        return tb__seterr(eb, TB_EFORMAT, "gzip data %s at compressed byte %lu",
                          zr == Z_BUF_ERROR ? "truncated" : "corrupt", consumed);
    buf[got] = '\0';
    *out = buf;
    *outlen = got;
    return 0;
}

/* Decodes standard or URL-safe base64 (spaces read as '+', the usual damage of form decoding). */
static int b64(const char *s, size_t n, tb__arena *a, uint8_t **out, size_t *outlen, tb__errbuf *eb,
               const char *what)
{
    char *t = tb__arena_strndup(a, s, n);
    uint8_t *bin = tb__arena_alloc(a, n / 4 * 3 + 4);
    if (!t || !bin) return tb__seterr(eb, TB_ENOMEM, "out of memory decoding base64");
    int urlsafe = 0;
    for (size_t i = 0; i < n; i++) {
        if (t[i] == ' ') t[i] = '+';
        if (t[i] == '-' || t[i] == '_') urlsafe = 1;
    }
    const char *end;
    int variant = urlsafe ? sodium_base64_VARIANT_URLSAFE : sodium_base64_VARIANT_ORIGINAL;
    size_t m = n;
    while (m && t[m - 1] == '=' && urlsafe)
        m--;
    if (urlsafe) variant = sodium_base64_VARIANT_URLSAFE_NO_PADDING;
    if (sodium_base642bin(bin, n / 4 * 3 + 4, t, m, "\r\n", outlen, &end, variant) != 0 ||
        (end && end != t + m))
        return tb__seterr(eb, TB_EFORMAT, "%s: not base64 (at character %zu)", what,
                          end ? (size_t)(end - t) : (size_t)0);
    *out = bin;
    return 0;
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Finds `key` in an application/x-www-form-urlencoded text and URL-decodes its value. */
static char *form_get(const char *s, size_t n, const char *key, tb__arena *a, size_t *len)
{
    size_t kl = strlen(key);
    size_t i = 0;
    while (i < n) {
        size_t j = i;
        while (j < n && s[j] != '&')
            j++;
        if (j - i > kl && memcmp(s + i, key, kl) == 0 && s[i + kl] == '=') {
            const char *v = s + i + kl + 1;
            size_t vn = j - i - kl - 1;
            char *o = tb__arena_alloc(a, vn + 1);
            if (!o) return NULL;
            size_t k = 0;
            for (size_t x = 0; x < vn; x++) {
                int h1, h2;
                if (v[x] == '%' && x + 2 < vn && (h1 = hexval(v[x + 1])) >= 0 &&
                    (h2 = hexval(v[x + 2])) >= 0) {
                    o[k++] = (char)(h1 * 16 + h2);
                    x += 2;
                } else
                    o[k++] = v[x] == '+' ? ' ' : v[x];
            }
            o[k] = '\0';
            *len = k;
            return o;
        }
        i = j + 1;
    }
    return NULL;
}

/* ---- JSON helpers --------------------------------------------------------------------------- */

static const char *str_of(json_t *o, const char *key, tb__arena *a)
{
    json_t *v = json_object_get(o, key);
    if (json_is_string(v)) {
        if (json_string_length(v) == 0) return NULL;
        return tb__arena_strndup(a, json_string_value(v), json_string_length(v));
    }
    /* Ids are often numbers in app code: take them as their decimal text. */
    if (json_is_integer(v)) return tb__arena_printf(a, "%lld", (long long)json_integer_value(v));
    return NULL;
}

static void set_props(tb__evin *e, json_t *obj, tb__arena *a)
{
    char *t = obj && json_is_object(obj) ? json_dumps(obj, JSON_COMPACT) : NULL;
    if (t) {
        e->props = tb__arena_strdup(a, t);
        free(t);
    }
    if (!e->props) e->props = "{}";
    e->props_len = strlen(e->props);
}

static size_t json_size(json_t *o)
{
    return json_dumpb(o, NULL, 0, JSON_COMPACT);
}

static const char *limit_text(size_t n)
{
    static _Thread_local char t[32];
    snprintf(t, sizeof t, "%zu", n);
    return t;
}

/* Ids are keys of the ID mapping and of deduplication: longer than 255 bytes is not an id. */
static int long_id(const tb__evin *e)
{
    const char *ids[] = {e->anon, e->user, e->other};
    for (size_t k = 0; k < 3; k++)
        if (ids[k] && strlen(ids[k]) > 255) return 1;
    return e->msgid && strlen(e->msgid) > 320; /* Sensors' is _track_id:distinct_id:time */
}

/* Quarantines with a reason that names the event's index. */
static void reject(tb__evin *e, tb__arena *a, size_t i, const char *fmt, const char *x)
{
    if (e->reason) return;
    char msg[200];
    snprintf(msg, sizeof msg, fmt, x ? x : "");
    e->reason = tb__arena_printf(a, "event %zu: %s", i, msg);
}

/* Clock-skew correction and the plausibility window shared by both formats. */
static void fix_time(tb__evin *e, tb__arena *a, size_t i, int64_t client_ms, int have_client,
                     int64_t sent_ms, int have_sent, int64_t now, const tb__col_limits *lim)
{
    if (!have_client)
        e->ts_ms = now;
    else if (have_sent)
        e->ts_ms = now - (sent_ms - client_ms); /* the client's clock offset removed */
    else
        e->ts_ms = client_ms;
    if (e->ts_ms > now + lim->max_future_ms)
        reject(e, a, i, "timestamp more than the allowed %s ahead of the server's clock", "window");
    else if (e->ts_ms < now - lim->max_past_ms)
        reject(e, a, i, "timestamp older than the accepted %s", "window");
}

/* ---- Segment / RudderStack ------------------------------------------------------------------ */

static const struct {
    const char *name;
    tb__evtype type;
    const char *event; /* the stored event name for non-track types */
} seg_types[] = {
    {"track", TB__EVT_TRACK, NULL},     {"identify", TB__EVT_IDENTIFY, "$identify"},
    {"page", TB__EVT_PAGE, "$page"},    {"screen", TB__EVT_SCREEN, "$screen"},
    {"group", TB__EVT_GROUP, "$group"}, {"alias", TB__EVT_ALIAS, "$alias"},
};

/* The fields of one Segment message that tagbase reads, as spans of the body (col_json.h). */
typedef struct segmsg {
    tb__jspan type, event, messageId, anonymousId, userId, previousId, groupId, name,
        originalTimestamp, timestamp, sentAt, properties, traits;
    int dup; /* a field given twice */
} segmsg;

static const struct {
    const char *key;
    size_t off;
} seg_fields[] = {
    {"type", offsetof(segmsg, type)},
    {"event", offsetof(segmsg, event)},
    {"messageId", offsetof(segmsg, messageId)},
    {"anonymousId", offsetof(segmsg, anonymousId)},
    {"userId", offsetof(segmsg, userId)},
    {"previousId", offsetof(segmsg, previousId)},
    {"groupId", offsetof(segmsg, groupId)},
    {"name", offsetof(segmsg, name)},
    {"originalTimestamp", offsetof(segmsg, originalTimestamp)},
    {"timestamp", offsetof(segmsg, timestamp)},
    {"sentAt", offsetof(segmsg, sentAt)},
    {"properties", offsetof(segmsg, properties)},
    {"traits", offsetof(segmsg, traits)},
};

static void index_msg(const tb__jspan *obj, segmsg *m)
{
    memset(m, 0, sizeof *m);
    const char *it = NULL;
    tb__jspan k, v;
    while (tb__jobj_next(obj, &it, &k, &v))
        for (size_t f = 0; f < sizeof seg_fields / sizeof seg_fields[0]; f++)
            if (tb__jkey_is(&k, seg_fields[f].key)) {
                tb__jspan *slot = (tb__jspan *)(void *)((char *)m + seg_fields[f].off);
                if (slot->kind) m->dup = 1;
                *slot = v;
                break;
            }
}

/* An id or name: a non-empty string, or an integer (app code often sends numbers) as its text. */
static const char *span_str(const tb__jspan *v, tb__arena *a)
{
    if (v->kind == 's') return v->n > 2 ? tb__jstr(v, a) : NULL;
    if (v->kind == 'n' && !memchr(v->p, '.', v->n) && !memchr(v->p, 'e', v->n) &&
        !memchr(v->p, 'E', v->n))
        return tb__arena_strndup(a, v->p, v->n);
    return NULL;
}

/* A time: ISO text or ms as a number. 1 if present and valid, 0 if absent or null, -1 if bad. */
static int span_time(const tb__jspan *v, tb__arena *a, int64_t *ms)
{
    if (!v->kind || v->kind == 'z') return 0;
    if (v->kind == 'n') {
        char t[48];
        if (v->n >= sizeof t) return -1;
        memcpy(t, v->p, v->n);
        t[v->n] = '\0';
        double x = strtod(t, NULL);
        if (!(x >= (double)-MAX_TIME_MS && x <= (double)MAX_TIME_MS)) return -1;
        *ms = (int64_t)x;
        return 1;
    }
    const char *s = v->kind == 's' ? tb__jstr(v, a) : NULL;
    return s && tb__col_parse_time(s, ms) == 0 ? 1 : -1;
}

/* Properties as the client sent them (validated JSON); with `key` and `extra` (a JSON value's
 * bytes) put first when extra is present: page names and group ids join the properties. */
static void span_props(tb__evin *e, const tb__jspan *obj, const char *key, const tb__jspan *extra,
                       tb__arena *a)
{
    int has = obj->kind == 'o';
    if (!extra || !extra->kind) {
        if (has) {
            e->props = tb__arena_strndup(a, obj->p, obj->n);
            e->props_len = obj->n;
        }
        if (!e->props) {
            e->props = "{}";
            e->props_len = 2;
        }
        return;
    }
    const char *body = has ? obj->p + 1 : "}";
    size_t blen = has ? obj->n - 1 : 1;
    size_t i = 0;
    while (i < blen && strchr(" \t\r\n", body[i]))
        i++;
    int empty = body[i] == '}';
    char *t = tb__arena_printf(a, "{\"%s\":%.*s%s%.*s", key, (int)extra->n, extra->p,
                               empty ? "" : ",", empty ? 1 : (int)blen, empty ? "}" : body);
    e->props = t ? t : "{}";
    e->props_len = strlen(e->props);
}

static void seg_event(const tb__jspan *obj, const char *type_hint, size_t i, int64_t batch_sent,
                      int have_bsent, int64_t now, const tb__col_limits *lim, tb__arena *a,
                      tb__evin *e)
{
    memset(e, 0, sizeof *e);
    e->props = "{}";
    e->props_len = 2;
    if (obj->kind != 'o') {
        e->type = TB__EVT_TRACK;
        e->event = "$invalid";
        e->ts_ms = now;
        reject(e, a, i, "not a JSON object%s", NULL);
        return;
    }
    segmsg m;
    index_msg(obj, &m);
    e->raw_bytes = obj->n;
    const char *t = type_hint ? type_hint : span_str(&m.type, a);
    size_t k = 0, nt = sizeof seg_types / sizeof seg_types[0];
    while (k < nt && (!t || strcmp(t, seg_types[k].name) != 0))
        k++;
    e->type = k < nt ? (uint8_t)seg_types[k].type : TB__EVT_TRACK;
    e->msgid = span_str(&m.messageId, a);
    e->anon = span_str(&m.anonymousId, a);
    e->user = span_str(&m.userId, a);
    int64_t client = 0, sent = 0;
    int hc = span_time(&m.originalTimestamp, a, &client);
    if (hc == 0) hc = span_time(&m.timestamp, a, &client);
    int hs = span_time(&m.sentAt, a, &sent);
    if (hs == 0 && have_bsent) {
        sent = batch_sent;
        hs = 1;
    }
    fix_time(e, a, i, client, hc > 0, sent, hs > 0, now, lim);
    if (k == nt) {
        e->event = "$invalid";
        reject(e, a, i, t ? "unknown type '%.40s'" : "no type%s", t);
        return;
    }
    const tb__jspan *pv = &m.traits;
    const char *pname = "traits";
    if (e->type == TB__EVT_TRACK || e->type == TB__EVT_PAGE || e->type == TB__EVT_SCREEN) {
        pv = &m.properties;
        pname = "properties";
    }
    e->event = e->type == TB__EVT_TRACK ? span_str(&m.event, a) : seg_types[k].event;
    if (e->type == TB__EVT_PAGE || e->type == TB__EVT_SCREEN)
        span_props(e, pv, "name", m.name.kind == 's' ? &m.name : NULL, a);
    else if (e->type == TB__EVT_GROUP)
        span_props(e, pv, "groupId",
                   m.groupId.kind == 's' || m.groupId.kind == 'n' ? &m.groupId : NULL, a);
    else
        span_props(e, pv, NULL, NULL, a);
    if (e->type == TB__EVT_ALIAS) e->other = span_str(&m.previousId, a);
    if (m.dup) reject(e, a, i, "a field given twice%s", NULL);
    if (hc < 0) reject(e, a, i, "timestamp is not an ISO-8601 time%s", NULL);
    if (hs < 0) reject(e, a, i, "sentAt is not an ISO-8601 time%s", NULL);
    if (!e->event) e->event = "$invalid";
    if (e->type == TB__EVT_TRACK && strcmp(e->event, "$invalid") == 0)
        reject(e, a, i, "track without a string 'event'%s", NULL);
    else if (strlen(e->event) > 100)
        reject(e, a, i, "event name longer than 100 bytes%s", NULL);
    if (pv->kind && pv->kind != 'o' && pv->kind != 'z')
        reject(e, a, i, "'%s' is not an object", pname);
    if (!e->user && !e->anon) reject(e, a, i, "neither userId nor anonymousId%s", NULL);
    if (long_id(e)) reject(e, a, i, "an id or messageId longer than %s bytes", "255");
    if (e->type == TB__EVT_ALIAS && (!e->other || !e->user))
        reject(e, a, i, "alias needs previousId and userId%s", NULL);
    if (e->raw_bytes > lim->max_event)
        reject(e, a, i, "larger than the per-event limit of %s bytes", limit_text(lim->max_event));
}

static int decode_segment(const tb__col_input *in, const tb__col_limits *lim, const char *body,
                          size_t n, tb__arena *a, tb__col_batch *out, tb__errbuf *eb)
{
    size_t bad;
    if (tb__utf8_validate((const unsigned char *)body, n, &bad))
        return tb__seterr(eb, TB_EFORMAT, "body is not UTF-8 at byte %zu", bad);
    const char *p = body, *end = body + n, *why = NULL;
    tb__jspan root;
    if (tb__jscan(&p, end, &root, &why))
        return tb__seterr(eb, TB_EFORMAT, "body is not JSON: expected %s at byte %zu", why,
                          (size_t)(p - body));
    while (p < end && strchr(" \t\r\n", *p))
        p++;
    if (p != end)
        return tb__seterr(eb, TB_EFORMAT, "body is not JSON: text after the value at byte %zu",
                          (size_t)(p - body));
    if (root.kind != 'o') return tb__seterr(eb, TB_EFORMAT, "body is not a JSON object");
    tb__jspan k, v, wk = {0}, sent = {0}, list = {0};
    const char *it = NULL;
    while (tb__jobj_next(&root, &it, &k, &v)) {
        tb__jspan *slot = tb__jkey_is(&k, "writeKey") ? &wk
                          : tb__jkey_is(&k, "sentAt") ? &sent
                          : tb__jkey_is(&k, "batch")  ? &list
                                                      : NULL;
        if (slot && slot->kind)
            return tb__seterr(eb, TB_EFORMAT, "duplicate field at byte %zu", (size_t)(k.p - body));
        if (slot) *slot = v;
    }
    out->write_key = in->basic_user && *in->basic_user ? in->basic_user : span_str(&wk, a);
    int is_batch = strcmp(in->kind, "batch") == 0 || strcmp(in->kind, "import") == 0;
    if (is_batch && list.kind != 'a')
        return tb__seterr(eb, TB_EFORMAT, "field 'batch': expected an array of events");
    int64_t bsent = 0;
    int hbs = span_time(&sent, a, &bsent) > 0;
    size_t cnt = 0;
    if (is_batch)
        for (it = NULL; tb__jarr_next(&list, &it, &v);)
            cnt++;
    else
        cnt = 1;
    out->ev = tb__arena_calloc(a, cnt ? cnt : 1, sizeof *out->ev);
    if (!out->ev) return tb__seterr(eb, TB_ENOMEM, "out of memory");
    out->n = cnt;
    if (!is_batch) {
        seg_event(&root, in->kind, 0, bsent, hbs, in->now_ms, lim, a, &out->ev[0]);
        return 0;
    }
    size_t i = 0;
    for (it = NULL; i < cnt && tb__jarr_next(&list, &it, &v); i++)
        seg_event(&v, NULL, i, bsent, hbs, in->now_ms, lim, a, &out->ev[i]);
    return 0;
}

/* ---- Sensors Data --------------------------------------------------------------------------- */

static const struct {
    const char *name;
    tb__evtype type;
} sa_types[] = {
    {"track", TB__EVT_TRACK},
    {"track_signup", TB__EVT_SIGNUP},
    {"profile_set", TB__EVT_PROFILE},
    {"profile_set_once", TB__EVT_PROFILE},
    {"profile_increment", TB__EVT_PROFILE},
    {"profile_append", TB__EVT_PROFILE},
    {"profile_unset", TB__EVT_PROFILE},
    {"profile_delete", TB__EVT_PROFILE},
    {"track_id_bind", TB__EVT_SIGNUP},
};

static void sa_event(json_t *m, size_t i, int64_t now, const tb__col_limits *lim, tb__arena *a,
                     tb__evin *e)
{
    memset(e, 0, sizeof *e);
    e->props = "{}";
    e->props_len = 2;
    e->type = TB__EVT_TRACK;
    if (!json_is_object(m)) {
        e->event = "$invalid";
        e->ts_ms = now;
        reject(e, a, i, "not a JSON object%s", NULL);
        return;
    }
    const char *t = str_of(m, "type", a);
    size_t k = 0, nt = sizeof sa_types / sizeof sa_types[0];
    while (k < nt && (!t || strcmp(t, sa_types[k].name) != 0))
        k++;
    if (k < nt) e->type = (uint8_t)sa_types[k].type;
    const char *distinct = str_of(m, "distinct_id", a);
    json_t *props = json_object_get(m, "properties");
    const char *login = str_of(m, "login_id", a);
    if (!login && json_is_true(json_object_get(props, "$is_login_id"))) login = distinct;
    if (e->type == TB__EVT_SIGNUP) {
        e->user = distinct;
        e->anon = str_of(m, "original_id", a);
    } else if (login) {
        e->user = login;
        e->anon = str_of(m, "anonymous_id", a);
    } else
        e->other = distinct;
    int64_t client = 0, flush = 0;
    int hc = time_field(m, "time", &client);
    int hf = time_field(m, "_flush_time", &flush);
    fix_time(e, a, i, client, hc > 0, flush, hf > 0, now, lim);
    json_t *track_id = json_object_get(m, "_track_id");
    if (json_is_integer(track_id) && distinct)
        e->msgid = tb__arena_printf(a, "sa:%lld:%s:%lld", (long long)json_integer_value(track_id),
                                    distinct, (long long)client);
    if (k == nt) {
        e->event = "$invalid";
        reject(e, a, i, t ? "unknown type '%.40s'" : "no type%s", t);
    } else if (e->type == TB__EVT_TRACK) {
        e->event = str_of(m, "event", a);
        if (!e->event) {
            e->event = "$invalid";
            reject(e, a, i, "track without a string 'event'%s", NULL);
        }
    } else if (e->type == TB__EVT_SIGNUP) {
        const char *ev = str_of(m, "event", a);
        e->event = ev ? ev : "$SignUp";
        if (!e->anon) reject(e, a, i, "track_signup without original_id%s", NULL);
    } else
        e->event = tb__arena_printf(a, "$%s", t);
    if (!e->event) e->event = "$invalid";
    set_props(e, props, a);
    if (props && !json_is_object(props)) reject(e, a, i, "'properties' is not an object%s", NULL);
    if (hc < 0) reject(e, a, i, "'time' is not a time%s", NULL);
    if (!distinct) reject(e, a, i, "no distinct_id%s", NULL);
    if (long_id(e)) reject(e, a, i, "an id longer than %s bytes", "255");
    if (strlen(e->event) > 100) reject(e, a, i, "event name longer than 100 bytes%s", NULL);
    /* Serialising every event to measure it costs as much as decoding it: only events whose
     * properties alone come near the limit are measured whole. */
    e->raw_bytes = e->props_len > lim->max_event / 2 ? json_size(m) : e->props_len;
    if (e->raw_bytes > lim->max_event)
        reject(e, a, i, "larger than the per-event limit of %s bytes", limit_text(lim->max_event));
}

static int sensors_json(const char *json, size_t jn, int64_t now, const tb__col_limits *lim,
                        tb__arena *a, tb__col_batch *out, tb__errbuf *eb, const char *what);

static int decode_sensors(const tb__col_input *in, const tb__col_limits *lim, tb__arena *a,
                          tb__col_batch *out, tb__errbuf *eb)
{
    const char *src = in->query ? in->query : in->body ? in->body : "";
    size_t sn = in->query ? strlen(in->query) : in->body ? in->body_len : 0;
    if (!in->query && sn && (src[0] == '[' || src[0] == '{')) {
        /* A JSON body as it is (tagbase events import, and clients that post JSON). */
        size_t pl = 0;
        char *p = in->url_query ? form_get(in->url_query, strlen(in->url_query), "project", a, &pl)
                                : NULL;
        out->project = p && *p ? p : "default";
        return sensors_json(src, sn, in->now_ms, lim, a, out, eb, "body");
    }
    size_t dl = 0, gl = 0, cl = 0, pl = 0;
    int list = 1;
    char *data = form_get(src, sn, "data_list", a, &dl);
    if (!data) {
        data = form_get(src, sn, "data", a, &dl);
        list = 0;
    }
    if (!data) return tb__seterr(eb, TB_EFORMAT, "no 'data' or 'data_list' parameter");
    char *gz = form_get(src, sn, "gzip", a, &gl);
    char *crc = form_get(src, sn, "crc", a, &cl);
    if (!crc) {
        char *ext = form_get(src, sn, "ext", a, &cl);
        if (ext && strncmp(ext, "crc=", 4) == 0) crc = ext + 4;
    }
    char *project = form_get(src, sn, "project", a, &pl);
    if (!project && in->url_query)
        project = form_get(in->url_query, strlen(in->url_query), "project", a, &pl);
    out->project = project && *project ? project : "default";
    if (crc) {
        /* Sensors' JS SDK: the Java String.hashCode of the base64 text, as a decimal. */
        int32_t h = 0;
        for (size_t i = 0; i < dl; i++)
            h = (int32_t)((uint32_t)h * 31u + (unsigned char)data[i]);
        if (strtoll(crc, NULL, 10) != h) out->crc_mismatch = 1;
    }
    uint8_t *bin = NULL;
    size_t bn = 0;
    int rc = b64(data, dl, a, &bin, &bn, eb, list ? "data_list" : "data");
    if (rc) return rc;
    char *json = (char *)bin;
    size_t jn = bn;
    if ((gz && strcmp(gz, "1") == 0) || (bn >= 2 && bin[0] == 0x1f && bin[1] == 0x8b)) {
        if ((rc = gunzip(bin, bn, lim->max_batch, a, &json, &jn, eb))) return rc;
    } else if (bn > lim->max_batch)
        return tb__seterr(eb, TB_ELIMIT, "batch larger than %zu bytes", lim->max_batch);
    return sensors_json(json, jn, in->now_ms, lim, a, out, eb, list ? "data_list" : "data");
}

static int sensors_json(const char *json, size_t jn, int64_t now, const tb__col_limits *lim,
                        tb__arena *a, tb__col_batch *out, tb__errbuf *eb, const char *what)
{
    json_error_t je;
    json_t *root = json_loadb(json, jn, 0, &je);
    if (!root)
        return tb__seterr(eb, TB_EFORMAT, "%s: not JSON: %s at byte %d", what, je.text,
                          je.position);
    size_t cnt = json_is_array(root) ? json_array_size(root) : 1;
    out->ev = tb__arena_calloc(a, cnt ? cnt : 1, sizeof *out->ev);
    if (!out->ev) {
        json_decref(root);
        return tb__seterr(eb, TB_ENOMEM, "out of memory");
    }
    out->n = cnt;
    for (size_t i = 0; i < cnt; i++)
        sa_event(json_is_array(root) ? json_array_get(root, i) : root, i, now, lim, a, &out->ev[i]);
    json_decref(root);
    return 0;
}

int tb__col_decode(const tb__col_input *in, const tb__col_limits *lim_in, tb__arena *a,
                   tb__col_batch *out, tb__errbuf *eb)
{
    tb__col_limits lim;
    limits(lim_in, &lim);
    memset(out, 0, sizeof *out);
    const char *body = in->body ? in->body : "";
    size_t n = in->body ? in->body_len : 0;
    int gz = (in->content_encoding && strcasecmp(in->content_encoding, "gzip") == 0) ||
             (n >= 2 && (uint8_t)body[0] == 0x1f && (uint8_t)body[1] == 0x8b);
    if (in->content_encoding && !gz && strcasecmp(in->content_encoding, "identity") != 0)
        return tb__seterr(eb, TB_EFORMAT, "unsupported Content-Encoding '%.40s'",
                          in->content_encoding);
    if (gz && in->body) {
        char *plain;
        size_t pn;
        int rc = gunzip((const uint8_t *)body, n, lim.max_batch, a, &plain, &pn, eb);
        if (rc) return rc;
        body = plain;
        n = pn;
    } else if (n > lim.max_batch)
        return tb__seterr(eb, TB_ELIMIT, "batch larger than %zu bytes", lim.max_batch);
    if (in->fmt == TB__COL_SEGMENT) return decode_segment(in, &lim, body, n, a, out, eb);
    tb__col_input s = *in;
    s.body = body;
    s.body_len = n;
    return decode_sensors(&s, &lim, a, out, eb);
}
