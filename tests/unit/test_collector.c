/* test_collector.c — tests src/events/col_format.c (the wire formats), realtime.c (rules and
 * realtime.bin) and evmeta.c's plan check. The collector end to end (SDKs, HTTP, kill -9) is
 * tests/e2e/events.test.mjs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <sodium.h>
#include <zlib.h>

#include "common/buf.h"
#include "common/clock.h"
#include "pipeline/identity.h"
#include "store/crypt.h"
#include "events/collector.h"
#include "events/evmeta.h"
#include "events/evstore.h"
#include "events/realtime.h"
#include "store/file.h"

#include "helpers.h"

#define NOW 1795000000000LL /* 2026-11-18 */

static void test_parse_time(void **state)
{
    (void)state;
    int64_t ms;
    assert_int_equal(tb__col_parse_time("2026-11-22T08:30:00.123Z", &ms), 0);
    assert_int_equal(ms, 1795336200123LL);
    assert_int_equal(tb__col_parse_time("2026-11-22T16:30:00.123+08:00", &ms), 0);
    assert_int_equal(ms, 1795336200123LL);
    assert_int_equal(tb__col_parse_time("2026-11-22T16:30:00.123+0800", &ms), 0);
    assert_int_equal(ms, 1795336200123LL);
    assert_int_equal(tb__col_parse_time("2026-11-22 16:30:00.1234", &ms), 0); /* Shanghai */
    assert_int_equal(ms, 1795336200123LL);
    assert_int_equal(tb__col_parse_time("1795336200123", &ms), 0);
    assert_int_equal(ms, 1795336200123LL);
    assert_int_equal(tb__col_parse_time("2026-13-01T00:00:00Z", &ms), TB_EFORMAT);
    assert_int_equal(tb__col_parse_time("2026-11-22T08:30Z", &ms), TB_EFORMAT);
    assert_int_equal(tb__col_parse_time("yesterday", &ms), TB_EFORMAT);
    assert_int_equal(tb__col_parse_time("", &ms), TB_EFORMAT);
}

static int decode(tb__col_fmt fmt, const char *kind, const char *body, size_t n, const char *query,
                  tb__arena *a, tb__col_batch *b, tb__errbuf *eb)
{
    tb__col_input in = {
        .fmt = fmt, .kind = kind, .body = body, .body_len = n, .query = query, .now_ms = NOW};
    return tb__col_decode(&in, NULL, a, b, eb);
}

static void test_segment(void **state)
{
    (void)state;
    tb__arena a;
    tb__arena_init(&a, 0);
    tb__errbuf eb = {0};
    tb__col_batch b;
    const char *body =
        "{\"writeKey\":\"k1\",\"sentAt\":\"2026-11-18T00:00:10Z\",\"batch\":["
        "{\"type\":\"track\",\"event\":\"login\",\"userId\":\"C1\",\"anonymousId\":\"d1\","
        "\"messageId\":\"m1\",\"timestamp\":\"2026-11-18T00:00:00Z\",\"properties\":{\"ok\":true}},"
        "{\"type\":\"page\",\"name\":\"Home\",\"anonymousId\":\"d1\",\"messageId\":\"m2\"},"
        "{\"type\":\"alias\",\"previousId\":\"d1\",\"userId\":\"C1\"},"
        "{\"type\":\"track\",\"userId\":\"C1\"},"
        "{\"type\":\"track\",\"event\":\"x\",\"properties\":[1]},"
        "{\"type\":\"shout\",\"userId\":\"C1\"}]}";
    assert_int_equal(decode(TB__COL_SEGMENT, "batch", body, strlen(body), NULL, &a, &b, &eb), 0);
    assert_string_equal(b.write_key, "k1");
    assert_int_equal(b.n, 6);
    tb__evin *e = b.ev;
    assert_int_equal(e[0].type, TB__EVT_TRACK);
    assert_string_equal(e[0].event, "login");
    assert_string_equal(e[0].user, "C1");
    assert_string_equal(e[0].anon, "d1");
    assert_string_equal(e[0].msgid, "m1");
    assert_string_equal(e[0].props, "{\"ok\":true}");
    assert_null(e[0].reason);
    /* The client's clock is 10 s behind what sentAt says: corrected to reception minus 10 s. */
    assert_int_equal(e[0].ts_ms, NOW - 10000);
    assert_string_equal(e[1].event, "$page");
    assert_non_null(strstr(e[1].props, "\"name\":\"Home\""));
    assert_int_equal(e[2].type, TB__EVT_ALIAS);
    assert_string_equal(e[2].other, "d1");
    assert_non_null(e[3].reason);
    assert_non_null(strstr(e[3].reason, "event 3: track without a string 'event'"));
    assert_non_null(strstr(e[4].reason, "'properties' is not an object"));
    assert_non_null(strstr(e[5].reason, "unknown type 'shout'"));

    /* Not the format at all: 400-class errors that say where. */
    assert_int_equal(decode(TB__COL_SEGMENT, "batch", "{\"batch\":", 9, NULL, &a, &b, &eb),
                     TB_EFORMAT);
    assert_non_null(strstr(eb.msg, "byte"));
    assert_int_equal(decode(TB__COL_SEGMENT, "batch", "{\"batch\":{}}", 12, NULL, &a, &b, &eb),
                     TB_EFORMAT);
    assert_non_null(strstr(eb.msg, "field 'batch'"));
    assert_int_equal(decode(TB__COL_SEGMENT, "track", "[]", 2, NULL, &a, &b, &eb), TB_EFORMAT);

    /* The scanner: escapes decoded in ids, numbers as ids, properties kept as sent, page names
     * joined to the properties, duplicate fields quarantined. */
    const char *esc = "{\"batch\":[{\"type\":\"track\",\"event\":\"caf\\u00e9\\n\","
                      "\"userId\":12345,\"properties\": {\"a\" : [1, {\"b\":null}]}},"
                      "{\"type\":\"screen\",\"name\":\"\\ud83d\\ude00\",\"anonymousId\":\"d\","
                      "\"properties\":{\"x\":1}},"
                      "{\"type\":\"track\",\"event\":\"a\",\"event\":\"b\",\"userId\":\"u\"}]}";
    assert_int_equal(decode(TB__COL_SEGMENT, "batch", esc, strlen(esc), NULL, &a, &b, &eb), 0);
    assert_string_equal(b.ev[0].event, "caf\xc3\xa9\n");
    assert_string_equal(b.ev[0].user, "12345");
    assert_string_equal(b.ev[0].props, "{\"a\" : [1, {\"b\":null}]}");
    assert_string_equal(b.ev[1].props, "{\"name\":\"\\ud83d\\ude00\",\"x\":1}");
    assert_non_null(strstr(b.ev[2].reason, "a field given twice"));
    static const char *const bad[] = {
        "{\"batch\":[],\"batch\":[]}", /* duplicate top-level field */
        "{\"batch\":[\"\x01\"]}",      /* control character in a string */
        "{\"batch\":[\"\xff\"]}",      /* not UTF-8 */
        "{\"batch\":[01]}",            /* leading zero */
        "{\"batch\":[1.]}",            /* no digits after the point */
        "{\"batch\":[tru]}",           /* not a literal */
        "{\"batch\":[\"\\x\"]}",       /* bad escape */
        "{\"batch\":[]} x",            /* text after the value */
        "{\"batch\" []}",              /* no colon */
    };
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++)
        assert_int_equal(
            decode(TB__COL_SEGMENT, "batch", bad[k], strlen(bad[k]), NULL, &a, &b, &eb),
            TB_EFORMAT);
    char deep[300];
    memset(deep, '[', sizeof deep);
    memcpy(deep, "{\"batch\":", 9);
    assert_int_equal(decode(TB__COL_SEGMENT, "batch", deep, sizeof deep, NULL, &a, &b, &eb),
                     TB_EFORMAT);
    assert_non_null(strstr(eb.msg, "nesting no deeper than 64"));

    /* Far future and ancient times are quarantined, not refused. */
    const char *odd =
        "{\"batch\":[{\"type\":\"track\",\"event\":\"a\",\"userId\":\"u\","
        "\"timestamp\":\"2030-01-01T00:00:00Z\"},{\"type\":\"track\",\"event\":\"a\","
        "\"userId\":\"u\",\"timestamp\":\"2001-01-01T00:00:00Z\"},{\"type\":\"track\","
        "\"event\":\"a\",\"userId\":\"u\",\"timestamp\":\"soon\"}]}";
    assert_int_equal(decode(TB__COL_SEGMENT, "batch", odd, strlen(odd), NULL, &a, &b, &eb), 0);
    assert_non_null(strstr(b.ev[0].reason, "ahead"));
    assert_non_null(strstr(b.ev[1].reason, "older"));
    assert_non_null(strstr(b.ev[2].reason, "not an ISO-8601 time"));
    tb__arena_release(&a);
}

static size_t gzip_buf(const char *in, size_t n, unsigned char *out, size_t cap)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    assert_int_equal(deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY), Z_OK);
    z.next_in = (Bytef *)in;
    z.avail_in = (uInt)n;
    z.next_out = out;
    z.avail_out = (uInt)cap;
    assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
    size_t got = z.total_out;
    deflateEnd(&z);
    return got;
}

static void test_sensors(void **state)
{
    (void)state;
    tb__arena a;
    tb__arena_init(&a, 0);
    tb__errbuf eb = {0};
    tb__col_batch b;
    const char *json = "[{\"_track_id\":12,\"type\":\"track\",\"event\":\"login\",\"time\":"
                       "1795000000000,\"distinct_id\":\"d7\",\"properties\":{\"a\":1}},"
                       "{\"type\":\"track_signup\",\"event\":\"$SignUp\",\"distinct_id\":"
                       "\"13800138000\",\"original_id\":\"d7\",\"time\":1795000000000},"
                       "{\"type\":\"profile_set\",\"distinct_id\":\"d7\",\"time\":1795000000000,"
                       "\"properties\":{\"vip\":true}}]";
    unsigned char gz[1024];
    size_t gn = gzip_buf(json, strlen(json), gz, sizeof gz);
    char b64[2048];
    sodium_bin2base64(b64, sizeof b64, gz, gn, sodium_base64_VARIANT_ORIGINAL);
    /* Form-encode it the way sa-sdk-node does ('+' '/' '=' percent-encoded). */
    tb__buf form = TB__BUF_INIT;
    tb__buf_puts(&form, "data_list=");
    for (const char *p = b64; *p; p++) {
        if (*p == '+' || *p == '/' || *p == '=')
            tb__buf_printf(&form, "%%%02X", (unsigned char)*p);
        else
            tb__buf_putc(&form, *p);
    }
    tb__buf_puts(&form, "&gzip=1&project=bank");
    assert_int_equal(decode(TB__COL_SENSORS, "sa", form.data, form.len, NULL, &a, &b, &eb), 0);
    assert_string_equal(b.project, "bank");
    assert_int_equal(b.n, 3);
    assert_string_equal(b.ev[0].event, "login");
    assert_string_equal(b.ev[0].other, "d7");
    assert_string_equal(b.ev[0].msgid, "sa:12:d7:1795000000000");
    assert_int_equal(b.ev[0].ts_ms, 1795000000000LL);
    assert_int_equal(b.ev[1].type, TB__EVT_SIGNUP);
    assert_string_equal(b.ev[1].user, "13800138000");
    assert_string_equal(b.ev[1].anon, "d7");
    assert_string_equal(b.ev[2].event, "$profile_set");
    assert_null(b.ev[2].reason);

    /* GET with data= (plain base64 JSON) and the JS SDK's crc: a wrong crc is flagged, kept. */
    const char *one =
        "{\"type\":\"track\",\"event\":\"v\",\"distinct_id\":\"x\",\"time\":1795000000000}";
    sodium_bin2base64(b64, sizeof b64, (const unsigned char *)one, strlen(one),
                      sodium_base64_VARIANT_ORIGINAL);
    char q[4096];
    snprintf(q, sizeof q, "data=%s&ext=crc%%3D12345&project=p", b64);
    assert_int_equal(decode(TB__COL_SENSORS, "sa", NULL, 0, q, &a, &b, &eb), 0);
    /* The query was not form-decoded as crc=12345: it is 'ext=crc%3D12345' → crc=12345. */
    assert_int_equal(b.n, 1);
    assert_int_equal(b.crc_mismatch, 1);

    /* Bad base64, truncated gzip, no data. */
    assert_int_equal(decode(TB__COL_SENSORS, "sa", NULL, 0, "data=%%%%", &a, &b, &eb), TB_EFORMAT);
    assert_non_null(strstr(eb.msg, "base64"));
    sodium_bin2base64(b64, sizeof b64, gz, gn / 2, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    snprintf(q, sizeof q, "data_list=%s&gzip=1", b64);
    assert_int_equal(decode(TB__COL_SENSORS, "sa", NULL, 0, q, &a, &b, &eb), TB_EFORMAT);
    assert_non_null(strstr(eb.msg, "gzip data truncated"));
    assert_int_equal(decode(TB__COL_SENSORS, "sa", NULL, 0, "project=x", &a, &b, &eb), TB_EFORMAT);
    assert_non_null(strstr(eb.msg, "no 'data'"));
    tb__buf_release(&form);
    tb__arena_release(&a);
}

/* A gzip bomb stops at the batch limit instead of filling memory. */
static void test_limits(void **state)
{
    (void)state;
    size_t n = 4u << 20;
    char *big = malloc(n);
    memset(big, ' ', n);
    memcpy(big, "{\"batch\":[", 10);
    unsigned char *gz = malloc(n);
    size_t gn = gzip_buf(big, n, gz, n);
    tb__arena a;
    tb__arena_init(&a, 0);
    tb__errbuf eb = {0};
    tb__col_batch b;
    tb__col_input in = {.fmt = TB__COL_SEGMENT,
                        .kind = "batch",
                        .body = (const char *)gz,
                        .body_len = gn,
                        .content_encoding = "gzip",
                        .now_ms = NOW};
    assert_int_equal(tb__col_decode(&in, NULL, &a, &b, &eb), TB_ELIMIT);
    assert_non_null(strstr(eb.msg, "larger than 512000 bytes"));
    in.content_encoding = "br"; /* a plain body that says it is brotli */
    in.body = "{}";
    in.body_len = 2;
    assert_int_equal(tb__col_decode(&in, NULL, &a, &b, &eb), TB_EFORMAT);
    assert_non_null(strstr(eb.msg, "unsupported Content-Encoding 'br'"));
    free(big);
    free(gz);
    tb__arena_release(&a);
}

static void test_rules_and_members(void **state)
{
    char why[300];
    assert_int_equal(
        tb__ev_rules_check("{\"rules\":[{\"tag\":\"t\",\"event\":\"e\",\"ttl_s\":60}]}", why,
                           sizeof why),
        0);
    assert_int_equal(
        tb__ev_rules_check("{\"rules\":[{\"tag\":\"t\",\"event\":\"e\"}]}", why, sizeof why),
        TB_EFORMAT);
    assert_non_null(strstr(why, "rules[0].ttl_s"));
    assert_int_equal(tb__ev_rules_check("{\"rules\":[{\"tag\":\"t\",\"event\":\"e\",\"ttl_s\":1,"
                                        "\"where\":{\"a\":{\"near\":1}}}]}",
                                        why, sizeof why),
                     TB_EFORMAT);
    assert_non_null(strstr(why, "unknown operator 'near'"));
    assert_int_equal(tb__ev_plan_check("{\"events\":{\"e\":{\"properties\":{\"p\":{\"type\":"
                                       "\"decimal\"}}}}}",
                                       why, sizeof why),
                     TB_EFORMAT);
    assert_non_null(strstr(why, "events.e.properties.p.type"));

    /* Three failures within the window set the tag; publish maps the person to its customer. */
    tb__errbuf eb = {0};
    tb__rt *rt;
    const char *rules = "{\"rules\":[{\"tag\":\"rt_fail\",\"event\":\"login\",\"where\":"
                        "{\"ok\":false},\"count\":3,\"within_s\":60,\"ttl_s\":3600},"
                        "{\"tag\":\"rt_big\",\"event\":\"pay\",\"where\":{\"amt\":{\"gte\":100}},"
                        "\"ttl_s\":10}]}";
    assert_int_equal(tb__rt_create(*state, rules, &rt, &eb), 0);
    tb__rt_observe(rt, 0, "login", "{\"ok\":false}", 12, NOW);
    tb__rt_observe(rt, 0, "login", "{\"ok\":true}", 11, NOW + 1000);
    tb__rt_observe(rt, 0, "login", "{\"ok\":false}", 12, NOW + 2000);
    tb__rt_observe(rt, 1, "login", "{\"ok\":false}", 12, NOW);
    tb__rt_observe(rt, 1, "login", "{\"ok\":false}", 12, NOW + 1000);
    tb__rt_observe(rt, 1, "login", "{\"ok\":false}", 12, NOW + 120000); /* outside 60 s */
    tb__rt_observe(rt, 2, "pay", "{\"amt\":99.5}", 12, NOW);
    tb__rt_observe(rt, 0, "login", "{\"ok\":false}", 12, NOW + 3000); /* the third in 3 s */
    tb__rt_observe(rt, 2, "pay", "{\"amt\":250}", 11, NOW);
    uint32_t parent[3] = {0, 1, 1}, gid[3] = {7, 9, TB__EV_NO_GID};
    tb__rt_publish(rt, parent, gid, 3, 1);
    uint32_t *g;
    size_t n;
    char *dd = tbt_join(*state, "..");
    /* tb__rt_members reads <data>/events/realtime.bin: our state dir plays <data>/events. */
    char *path = tbt_join(*state, "realtime.bin");
    char *bytes;
    size_t len;
    assert_int_equal(tb__file_read_all(path, 1 << 20, &bytes, &len, &eb), 0);
    assert_int_equal(
        tb__rt_members_parse((uint8_t *)bytes, len, "rt_fail", NOW + 4000, &g, &n, &eb), 0);
    assert_int_equal(n, 1);
    assert_int_equal(g[0], 7);
    free(g);
    /* Person 2's root is person 1, customer 9; the tag expires after 10 s. */
    assert_int_equal(tb__rt_members_parse((uint8_t *)bytes, len, "rt_big", NOW + 5000, &g, &n, &eb),
                     0);
    assert_int_equal(n, 1);
    assert_int_equal(g[0], 9);
    free(g);
    assert_int_equal(
        tb__rt_members_parse((uint8_t *)bytes, len, "rt_big", NOW + 11000, &g, &n, &eb), 0);
    assert_int_equal(n, 0);
    free(g);
    assert_int_equal(tb__rt_members_parse((uint8_t *)bytes, len, "nope", NOW, &g, &n, &eb),
                     TB_ENOENT);
    /* A flipped byte is caught by the checksum. */
    bytes[14] ^= 1;
    assert_int_equal(tb__rt_members_parse((uint8_t *)bytes, len, "rt_big", NOW, &g, &n, &eb),
                     TB_ECORRUPT);
    free(bytes);

    /* The windows survive a save and a load (the collector's checkpoint). */
    tb__buf saved = TB__BUF_INIT;
    assert_int_equal(tb__rt_save(rt, &saved), 0);
    tb__rt *back;
    assert_int_equal(tb__rt_create(*state, rules, &back, &eb), 0);
    assert_int_equal(tb__rt_load(back, (uint8_t *)saved.data, saved.len), 0);
    tb__rt_observe(back, 1, "login", "{\"ok\":false}", 12, NOW + 121000);
    tb__rt_observe(back, 1, "login", "{\"ok\":false}", 12, NOW + 122000);
    tb__rt_publish(back, parent, gid, 3, 1);
    assert_int_equal(tb__file_read_all(path, 1 << 20, &bytes, &len, &eb), 0);
    assert_int_equal(
        tb__rt_members_parse((uint8_t *)bytes, len, "rt_fail", NOW + 123000, &g, &n, &eb), 0);
    assert_int_equal(n, 2); /* customers 7 and 9 */
    free(g);
    free(bytes);
    assert_int_equal(tb__rt_load(back, (uint8_t *)saved.data, 3), TB_ECORRUPT);
    tb__buf_release(&saved);
    tb__rt_free(back);
    tb__rt_free(rt);
    free(path);
    free(dd);
}

/* Every byte of the files under dir (recursively) searched for `s`: the files that hold it. */
static int files_holding(const char *dir, const char *s, char *first, size_t cap)
{
    char cmd[4400];
    snprintf(cmd, sizeof cmd, "grep -rlaF '%s' '%s' 2>/dev/null", s, dir);
    FILE *f = popen(cmd, "r");
    assert_non_null(f);
    int n = 0;
    char line[4096];
    while (fgets(line, sizeof line, f)) {
        if (!n) snprintf(first, cap, "%s", line);
        n++;
    }
    pclose(f);
    return n;
}

static void on_done(void *arg, const tb__col_result *res)
{
    *(int *)arg = res->status;
}

/* An encrypted data directory: a login id that is a mobile goes through the collector into the
 * log, the checkpoint, the quarantine and the partitions, and is in none of their bytes; every
 * reader opens them; rotation re-seals all of it under the new key, after which the old key is
 * not needed by any file. */
static void test_encrypted_store(void **state)
{
    const char *root = *state;
    char *data = tbt_join(root, "data"), *kf = tbt_join(root, "data.key"),
         *evdir = tbt_join(data, "events");
    tb__errbuf eb = {0};
    tb__keyring_free(tbt_key_file(kf, NULL));
    tb__c2_set_key_file(kf);
    tb_db *db;
    char err[512];
    assert_int_equal(tb_db_open(data, TB_OPEN_CREATE, &db, err, sizeof err), 0);
    assert_true(tb__c2_on(db));
    char key[TB__EV_KEY_LEN + 1];
    assert_int_equal(tb__ev_source_add(db, "mbank", "bank", "ops", key), 0);
    tb__collector *c;
    assert_int_equal(tb__collector_open(db, NULL, &c, &eb), 0);
    int64_t now = tb__now_ms();
    char body[1024];
    snprintf(body, sizeof body,
             "{\"batch\":[{\"type\":\"track\",\"event\":\"login\",\"userId\":\"13812345678\","
             "\"messageId\":\"m1\",\"properties\":{\"phone\":\"13812345678\"}},"
             "{\"type\":\"track\",\"event\":\"pay\",\"userId\":\"13812345678\","
             "\"messageId\":\"m2\",\"properties\":{\"amount\":3}},"
             "{\"type\":\"track\",\"userId\":\"13812345678\",\"messageId\":\"m3\"}]}");
    tb__col_input in = {.fmt = TB__COL_SEGMENT,
                        .kind = "batch",
                        .basic_user = key,
                        .body = body,
                        .body_len = strlen(body),
                        .now_ms = now};
    tb__col_result res;
    int status = 0;
    int async = tb__collector_submit(c, &in, on_done, &status, &res);
    assert_int_equal(tb__collector_flush(c), 0);
    assert_int_equal(async ? status : res.status, 200);
    char first[4096] = "";
    /* log and checkpoint */
    tb__collector_close(c);
    assert_int_equal(files_holding(evdir, "1381234", first, sizeof first), 0);
    /* replay, compaction (partitions, quarantine), dump */
    assert_int_equal(tb__collector_open(db, NULL, &c, &eb), 0);
    char *out = NULL;
    assert_int_equal(tb__collector_compact(c, &out), 0);
    free(out);
    char *dump = NULL;
    size_t dn = 0;
    FILE *f = open_memstream(&dump, &dn);
    assert_int_equal(tb__collector_dump(c, f, 100, &eb), 0);
    fclose(f);
    assert_non_null(strstr(dump, "\"key\":\"u:13812345678\""));
    assert_non_null(strstr(dump, "\"phone\":\"13812345678\""));
    free(dump);
    tb__collector_close(c);
    if (files_holding(evdir, "1381234", first, sizeof first)) fail_msg("in clear: %s", first);
    json_t *q;
    assert_int_equal(tb__events_quarantine(db, 10, 0, &q), 0);
    assert_int_equal(json_integer_value(json_object_get(q, "total")), 1);
    json_decref(q);
    json_t *problems = json_array();
    int64_t recs, days;
    assert_int_equal(tb__events_check(db, problems, &recs, &days), 0);
    assert_int_equal(json_array_size(problems), 0);
    assert_int_equal(days, 1);
    json_decref(problems);

    /* rotation: everything re-sealed under key 2, then readable without key 1 */
    tb__keyring *ring = tb__c2_ring(db);
    uint32_t id2;
    assert_int_equal(tb__keyring_add(ring, &id2, &eb), 0);
    assert_int_equal(tb__keyring_save(ring, &eb), 0);
    tb__c2key k2 = *tb__keyring_get(ring, id2);
    uint64_t files = 0;
    assert_int_equal(tb__events_c2_reseal(db, &k2, &files), 0);
    assert_true(files >= 3); /* checkpoint, quarantine, the day */
    uint64_t rows;
    assert_int_equal(tb__md_c2_rekey(db, &k2, &rows), 0);
    assert_int_equal(tb__keyring_retire(ring, 1, &eb), 0);
    assert_int_equal(tb__keyring_save(ring, &eb), 0);
    tb_db_close(db);
    assert_int_equal(files_holding(evdir, "TBS1\x01", first, sizeof first), 0);
    assert_int_equal(tb_db_open(data, 0, &db, err, sizeof err), 0);
    assert_int_equal(tb__collector_open(db, NULL, &c, &eb), 0);
    f = open_memstream(&dump, &dn);
    assert_int_equal(tb__collector_dump(c, f, 100, &eb), 0);
    fclose(f);
    assert_non_null(strstr(dump, "\"key\":\"u:13812345678\""));
    free(dump);
    tb__collector_close(c);
    problems = json_array();
    assert_int_equal(tb__events_check(db, problems, &recs, &days), 0);
    assert_int_equal(json_array_size(problems), 0);
    json_decref(problems);
    tb_db_close(db);
    if (files_holding(evdir, "1381234", first, sizeof first)) fail_msg("in clear: %s", first);
    tb__c2_set_key_file("");
    free(evdir);
    free(kf);
    free(data);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_time),
        cmocka_unit_test(test_segment),
        cmocka_unit_test(test_sensors),
        cmocka_unit_test(test_limits),
        cmocka_unit_test_setup_teardown(test_rules_and_members, tbt_setup_tmpdir,
                                        tbt_teardown_tmpdir),
        cmocka_unit_test_setup_teardown(test_encrypted_store, tbt_setup_tmpdir,
                                        tbt_teardown_tmpdir),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
