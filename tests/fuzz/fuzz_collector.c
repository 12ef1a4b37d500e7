/* fuzz_collector.c — libFuzzer target for the event collector's untrusted inputs: the wire formats
 * of src/events/col_format.c (tb__col_decode: Segment / RudderStack JSON, Sensors data / data_list
 * forms and JSON bodies, plain or gzip) and realtime.bin (tb__rt_members_parse in
 * src/events/realtime.c) with the real-time state of the checkpoint (tb__rt_load).
 *
 * The first byte chooses what the rest is:
 *   bit 7     0: a collector request, 1: realtime.bin / checkpoint bytes
 * for a request:
 *   bit 0     0: Segment, 1: Sensors
 *   bit 1     Segment: an HTTP Basic write key is given; Sensors: a GET (the rest is the query)
 *   bit 2     Content-Encoding: gzip
 *   bit 3     the harness gzips the rest first (so mutations of plain JSON reach the gzip path)
 *   bits 4-6  Segment: the endpoint (track identify page screen group alias batch import)
 *   and the second byte, bit 0: small limits (so the size checks are reached);
 *   bit 1: Content-Encoding is some other value ("identity" or "br")
 * for realtime.bin (second byte):
 *   bit 0     the harness writes the right CRC-32C into the last 4 bytes (past the checksum)
 *   bits 1-2  the tag code looked up
 *   bit 7     instead: the rest is an event log segment's records (src/events/evlog.c), written
 *             after a valid header to a file and scanned with a fixed key file (sealed records are
 *             opened); bit 6: the harness writes every record's right CRC-32C (so the length and
 *             authentication checks behind it are reached); bit 5: the rest is a list of
 *             u8 length + payload that the harness seals as records under the key, and the scan
 *             must return exactly those payloads
 *
 * Checks: no out-of-bounds read (every input is an exact-size heap copy), no leak (the decoder
 * allocates from an arena released here), and the promises of collector.h: every event has an
 * event name and properties as a JSON object of props_len bytes; an event without a reason has
 * an id; member lists are ascending. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <zlib.h>

#include <stdio.h>
#include <unistd.h>

#include "common/crc32c.h"
#include "events/col_json.h"
#include "events/collector.h"
#include "events/evlog.h"
#include "events/realtime.h"
#include "store/file.h"

#define NOW_MS 1795305600000LL /* 2026-11-22T00:00:00Z */

static const char *const kinds[] = {"track", "identify", "page",  "screen",
                                    "group", "alias",    "batch", "import"};
static const char *const codes[] = {"hot", "vip_active", "", "x"};

/* gzip of p[0..n) into a malloc'd buffer (NULL when zlib fails). */
static uint8_t *gzip_of(const uint8_t *p, size_t n, size_t *outlen)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    if (deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) return NULL;
    size_t cap = deflateBound(&z, (uLong)n) + 32;
    uint8_t *out = malloc(cap);
    if (!out) {
        deflateEnd(&z);
        return NULL;
    }
    z.next_in = (Bytef *)p;
    z.avail_in = (uInt)n;
    z.next_out = out;
    z.avail_out = (uInt)cap;
    int zr = deflate(&z, Z_FINISH);
    *outlen = z.total_out;
    deflateEnd(&z);
    if (zr != Z_STREAM_END) {
        free(out);
        return NULL;
    }
    /* Exact size, so that ASan sees a read past the end. */
    uint8_t *t = realloc(out, *outlen ? *outlen : 1);
    return t ? t : out;
}

static void check_batch(const tb__col_batch *b)
{
    if (b->n && !b->ev) __builtin_trap();
    for (size_t i = 0; i < b->n; i++) {
        const tb__evin *e = &b->ev[i];
        if (!e->event || !e->props) __builtin_trap();
        if (strlen(e->props) != e->props_len) __builtin_trap();
        if (e->type < TB__EVT_TRACK || e->type > TB__EVT_PROFILE) __builtin_trap();
        /* An object; valid JSON that jansson cannot hold (a number beyond its range) is accepted
         * at the edge and quarantined by compaction (docs/collector.md; events.test.mjs sends
         * 1e400), so that is the one way jansson may refuse it, and then the object must still
         * be whole by the collector's own scanner. */
        json_error_t je;
        json_t *p = json_loadb(e->props, e->props_len, 0, &je);
        if (!p) {
            if (!strstr(je.text, "too big") && !strstr(je.text, "overflow")) __builtin_trap();
            const char *at = e->props, *why = NULL;
            tb__jspan v;
            if (tb__jscan(&at, e->props + e->props_len, &v, &why) || v.kind != 'o' ||
                at != e->props + e->props_len)
                __builtin_trap();
        }
        if (p && !json_is_object(p)) __builtin_trap();
        json_decref(p);
        if (!e->reason) {
            if (!e->user && !e->anon && !e->other) __builtin_trap();
            if (strlen(e->event) > 100) __builtin_trap();
            if (e->ts_ms > NOW_MS + 24LL * 3600 * 1000) __builtin_trap();
        }
        /* Every string is readable to its NUL. */
        const char *s[] = {e->msgid, e->anon, e->user, e->other, e->reason};
        for (size_t k = 0; k < sizeof s / sizeof s[0]; k++)
            if (s[k]) (void)strlen(s[k]);
    }
}

static void fuzz_request(uint8_t f0, uint8_t f1, const uint8_t *p, size_t n)
{
    uint8_t *gz = NULL;
    if (f0 & 8) {
        size_t gn;
        gz = gzip_of(p, n, &gn);
        if (!gz) return;
        p = gz;
        n = gn;
    }
    /* Exact-size copies: the body with no NUL after it, the query NUL-terminated. */
    char *body = malloc(n ? n : 1);
    if (!body) goto out;
    memcpy(body, p, n);

    tb__col_input in = {.fmt = (f0 & 1) ? TB__COL_SENSORS : TB__COL_SEGMENT,
                        .kind = (f0 & 1) ? "sa" : kinds[(f0 >> 4) & 7],
                        .now_ms = NOW_MS};
    char *query = NULL;
    if ((f0 & 1) && (f0 & 2)) {
        query = malloc(n + 1);
        if (!query) goto out;
        memcpy(query, p, n);
        query[n] = '\0';
        in.query = query;
    } else {
        in.body = body;
        in.body_len = n;
    }
    if (!(f0 & 1) && (f0 & 2)) in.basic_user = "wk_fuzz";
    if (f0 & 4)
        in.content_encoding = "gzip";
    else if (f1 & 2)
        in.content_encoding = (f1 & 4) ? "br" : "identity";
    tb__col_limits small = {.max_event = 200, .max_batch = 4096};

    tb__arena a;
    tb__arena_init(&a, 0);
    tb__errbuf eb = {0};
    tb__col_batch b;
    int rc = tb__col_decode(&in, (f1 & 1) ? &small : NULL, &a, &b, &eb);
    if (rc == 0)
        check_batch(&b);
    else if (rc != TB_EFORMAT && rc != TB_ELIMIT && rc != TB_ENOMEM)
        __builtin_trap();
    else if (!eb.msg[0])
        __builtin_trap();
    tb__arena_release(&a);
out:
    free(query);
    free(body);
    free(gz);
}

static void fuzz_realtime(uint8_t f1, const uint8_t *p, size_t n)
{
    uint8_t *d = malloc(n ? n : 1);
    if (!d) return;
    memcpy(d, p, n);
    if ((f1 & 1) && n >= 4) {
        uint32_t crc = tb__crc32c(0, d, n - 4);
        memcpy(d + n - 4, &crc, 4);
    }
    const char *code = codes[(f1 >> 1) & 3];
    uint32_t *gids = NULL;
    size_t ng = 0;
    tb__errbuf eb = {0};
    int rc = tb__rt_members_parse(d, n, code, NOW_MS, &gids, &ng, &eb);
    if (rc == 0) {
        for (size_t i = 1; i < ng; i++)
            if (gids[i] <= gids[i - 1]) __builtin_trap();
    } else if (gids || ng)
        __builtin_trap();
    free(gids);

    /* The same bytes as the real-time part of a checkpoint, into rules that exist. A fresh set of
     * rules each time: tb__rt_load fills empty rules only. */
    tb__rt *rt;
    tb__errbuf eb2 = {0};
    if (tb__rt_create("/nonexistent",
                      "{\"rules\":[{\"tag\":\"hot\",\"event\":\"buy\",\"count\":3,\"ttl_s\":600},"
                      "{\"tag\":\"x\",\"event\":\"login\",\"ttl_s\":1}]}",
                      &rt, &eb2))
        __builtin_trap();
    if (tb__rt_load(rt, d, n) == 0) {
        tb__rt_observe(rt, 1, "buy", "{}", 2, NOW_MS);
        tb__rt_observe(rt, 2, "login", "{\"a\":1}", 7, NOW_MS);
        json_decref(tb__rt_status(rt));
    }
    tb__rt_free(rt);
    free(d);
}

/* ---- the event log ------------------------------------------------------------------------ */

static tb__keyring *g_ring;
static char g_logdir[64];

static void put32le(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

typedef struct logseen {
    const uint8_t *want; /* sealed mode: the payloads as u8 length + bytes */
    size_t wantn, at;
    int bad;
} logseen;

static int on_record(void *arg, tb__evpos pos, const uint8_t *p, size_t n)
{
    logseen *s = arg;
    (void)pos;
    if (!n) __builtin_trap();
    volatile uint8_t x = p[n - 1]; /* readable to its end */
    (void)x;
    if (s->want) {
        if (s->at >= s->wantn || s->want[s->at] != n || memcmp(s->want + s->at + 1, p, n) != 0)
            s->bad = 1;
        s->at += 1 + (size_t)n;
    }
    return 0;
}

/* At exit: the key file (its memory is libsodium's, which LeakSanitizer does not scan) and the
 * scratch segment. */
static void log_cleanup(void)
{
    tb__keyring_free(g_ring);
    char path[128];
    snprintf(path, sizeof path, "%s/00000001.log", g_logdir);
    unlink(path);
    rmdir(g_logdir);
}

static void fuzz_log(uint8_t f1, const uint8_t *p, size_t n)
{
    if (!g_ring) {
        tb__errbuf eb;
        uint32_t id;
        snprintf(g_logdir, sizeof g_logdir, "/tmp/fuzz_evlog.%d", (int)getpid());
        if (tb__keyring_new("/nonexistent/fuzz.key", &g_ring, &eb) ||
            tb__keyring_add(g_ring, &id, &eb) || tb__mkdir_p(g_logdir, 0700, &eb))
            __builtin_trap();
        atexit(log_cleanup);
    }
    const tb__c2key *k = tb__keyring_newest(g_ring);
    size_t cap = 16 + n * (1 + 8 + TB__C2_REC_OVERHEAD) + 64;
    uint8_t *seg = malloc(cap);
    if (!seg) return;
    memcpy(seg, "TBEVLOG1", 8);
    put32le(seg + 8, 1);
    put32le(seg + 12, 1);
    size_t len = 16;
    logseen s = {0};
    if (f1 & 0x20) { /* seal the listed payloads */
        size_t wantn = 0;
        for (size_t at = 0; at < n && p[at] && n - at - 1 >= p[at]; at += 1 + (size_t)p[at]) {
            uint8_t pn = p[at];
            if (tb__c2_rec_seal(k, TB__EVLOG_AD, strlen(TB__EVLOG_AD), p + at + 1, pn,
                                seg + len + 8))
                __builtin_trap();
            put32le(seg + len, (uint32_t)(pn + TB__C2_REC_OVERHEAD) | TB__EVLOG_SEALED);
            put32le(seg + len + 4, tb__crc32c(0, seg + len + 8, pn + TB__C2_REC_OVERHEAD));
            len += 8 + pn + TB__C2_REC_OVERHEAD;
            wantn = at + 1 + pn;
        }
        s.want = p;
        s.wantn = wantn;
    } else {
        memcpy(seg + len, p, n);
        len += n;
        for (size_t at = 16; (f1 & 0x40) && len - at >= 8;) { /* repair the CRCs */
            uint32_t w;
            memcpy(&w, seg + at, 4);
            size_t rl = w & ~TB__EVLOG_SEALED;
            if (rl > len - at - 8) break;
            put32le(seg + at + 4, tb__crc32c(0, seg + at + 8, rl));
            at += 8 + rl;
        }
    }
    char path[128];
    snprintf(path, sizeof path, "%s/00000001.log", g_logdir);
    FILE *f = fopen(path, "wb");
    if (!f) __builtin_trap();
    if (fwrite(seg, 1, len, f) != len) __builtin_trap();
    fclose(f);
    free(seg);
    tb__errbuf eb = {0};
    int rc = tb__evlog_verify(g_logdir, g_ring, on_record, &s, &eb);
    if (s.want && (rc || s.bad || s.at != s.wantn)) __builtin_trap(); /* sealed: all back */
    if (rc && !eb.msg[0]) __builtin_trap();
    rc = tb__evlog_scan(g_logdir, g_ring, (tb__evpos){0, 0}, (tb__evpos){0, 0}, on_record,
                        &(logseen){0}, &eb);
    (void)rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2) return 0;
    if ((data[0] & 0x80) && (data[1] & 0x80))
        fuzz_log(data[1], data + 2, size - 2);
    else if (data[0] & 0x80)
        fuzz_realtime(data[1], data + 2, size - 2);
    else
        fuzz_request(data[0], data[1], data + 2, size - 2);
    return 0;
}
