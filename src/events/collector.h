/* collector.h — the event collector: the wire formats apps already speak (Segment's HTTP tracking
 * API and RudderStack's variant of it, Sensors Data's /sa), validation against the tracking plan,
 * messageId deduplication, ID mapping, the durable event log, real-time tag rules, and compaction
 * of the log into the columnar day partitions of evstore.h. docs/events.md describes all of it.
 *
 * Threading: one tb__collector per data directory and process; tb__collector_submit may be called
 * from any number of threads at once. Its completion callback runs on the event log's committer
 * thread. */
#ifndef TB_EVENTS_COLLECTOR_H
#define TB_EVENTS_COLLECTOR_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "common/arena.h"
#include "common/err.h"
#include "tagbase.h"

/* ---- decoded events ----------------------------------------------------------------------- */

typedef enum tb__evtype {
    TB__EVT_TRACK = 1,
    TB__EVT_IDENTIFY = 2,
    TB__EVT_PAGE = 3,
    TB__EVT_SCREEN = 4,
    TB__EVT_GROUP = 5,
    TB__EVT_ALIAS = 6,
    TB__EVT_SIGNUP = 7,  /* Sensors track_signup: original_id becomes distinct_id */
    TB__EVT_PROFILE = 8, /* Sensors profile_set, _set_once, _increment, _append, _unset */
} tb__evtype;

/* One event as a wire format gives it, normalised. Strings are NUL-terminated, in the decode
 * arena; NULL when absent. */
typedef struct tb__evin {
    uint8_t type;      /* tb__evtype */
    int64_t ts_ms;     /* event time after clock-skew correction (ms since the epoch, UTC) */
    const char *event; /* track: the event name; others: "$identify", "$page", "$SignUp" … */
    const char *msgid; /* dedup key (Segment messageId; Sensors _track_id with distinct_id) */
    const char *anon;  /* anonymous / device id */
    const char *user;  /* login id (customer number, mobile …) */
    const char *other; /* an id of unknown kind: alias previousId, Sensors distinct_id */
    const char *props; /* properties (or traits) as compact JSON text, never NULL */
    size_t props_len;
    const char *reason; /* non-NULL: the event is quarantined, and why */
    size_t raw_bytes;   /* size of the event as received (its JSON) */
} tb__evin;

/* Limits of the wire formats (0 fields take the defaults in brackets). */
typedef struct tb__col_limits {
    size_t max_event;      /* bytes of one event's JSON [32 KiB] */
    size_t max_batch;      /* bytes of one request body after decompression [500 KiB] */
    int64_t max_future_ms; /* events further in the future are quarantined [1 day] */
    int64_t max_past_ms;   /* older events are quarantined [30 days] */
} tb__col_limits;

/* What a request looked like on the wire. */
typedef enum tb__col_fmt {
    TB__COL_SEGMENT = 1, /* POST /v1/{track,identify,page,screen,group,alias,batch} */
    TB__COL_SENSORS = 2, /* GET/POST /sa, /sa.gif */
} tb__col_fmt;

typedef struct tb__col_input {
    tb__col_fmt fmt;
    const char *kind;             /* Segment: the path's last piece (track … batch) */
    const char *basic_user;       /* HTTP Basic user name (Segment write key), or NULL */
    const char *content_encoding; /* "gzip" or NULL */
    const char *body;             /* request body (POST), may be NULL */
    size_t body_len;
    const char *query;     /* Sensors: the raw query string of a GET (without '?'), or NULL */
    const char *url_query; /* Sensors POST: the URL's query string (project=…), or NULL */
    int64_t now_ms;        /* reception time */
    const char *source;    /* trusted callers only (tagbase events import): the source by
                              name, instead of a write key or project */
} tb__col_input;

/* A decoded request: the write key or project it claims and its events. */
typedef struct tb__col_batch {
    const char *write_key; /* Segment: Basic user or the body's writeKey; NULL if none */
    const char *project;   /* Sensors: the project parameter ("default" when absent) */
    tb__evin *ev;
    size_t n;
    int crc_mismatch; /* Sensors: the crc parameter did not match the data (logged, kept) */
} tb__col_batch;

/* Decodes a request into `out` (all memory from arena `a`). Returns 0, or TB_EFORMAT for a body
 * that is not the format at all (with the byte offset or field in `eb`), TB_ELIMIT for one over the
 * limits. Events that decode but break a rule (a missing event name, a wrong type, a timestamp too
 * far off) come back with `reason` set: the caller quarantines them. Never fails on content
 * otherwise; safe on any bytes (fuzzed: tests/fuzz/fuzz_collector.c). */
int tb__col_decode(const tb__col_input *in, const tb__col_limits *lim, tb__arena *a,
                   tb__col_batch *out, tb__errbuf *eb);

/* Parses an ISO-8601 time ("2026-11-22T08:30:00.123Z", offsets ±HH:MM or ±HHMM; no zone means
 * Asia/Shanghai) or, when `s` is all digits, milliseconds since the epoch. 0 or TB_EFORMAT. */
int tb__col_parse_time(const char *s, int64_t *ms);

/* ---- the collector ------------------------------------------------------------------------ */

typedef struct tb__collector tb__collector;

/* Opens the collector of the data directory `db` is open on (the handle is used under the
 * collector's own lock for write keys, the tracking plan and customer look-ups; the caller keeps
 * it open until close). Replays the log since the last checkpoint. */
int tb__collector_open(tb_db *db, const tb__col_limits *lim, tb__collector **out, tb__errbuf *eb);

/* Writes a checkpoint and closes. NULL is a no-op. */
void tb__collector_close(tb__collector *c);

/* The answer to one request. */
typedef struct tb__col_result {
    int status;        /* HTTP status */
    int retry_after;   /* seconds, with 429/503 */
    char message[300]; /* for errors: what and where */
    size_t accepted, duplicates, quarantined;
} tb__col_result;

typedef void (*tb__col_done_fn)(void *arg, const tb__col_result *res);

/* Takes one request: decodes, authenticates, validates, deduplicates, maps ids and appends it to
 * the log. Returns 1 when the answer will come through `done` once the batch is durable, or 0 when
 * *res holds the answer now (errors, and batches with nothing to store). */
int tb__collector_submit(tb__collector *c, const tb__col_input *in, tb__col_done_fn done, void *arg,
                         tb__col_result *res);

/* Compacts the durable log into day partitions and the person table, then trims log segments
 * older than the retention. JSON summary in *json_out (caller frees with free()). */
int tb__collector_compact(tb__collector *c, char **json_out);

/* Writes up to `limit` stored events as JSON Lines to `out`, oldest day first: time, event,
 * person, its key ("u:" login id or "a:" device id), its root's key, customer internal id, and
 * properties. For operators and tests; unmasked (the caller owns the data directory). */
int tb__collector_dump(tb__collector *c, FILE *out, size_t limit, tb__errbuf *eb);

/* Reads every byte of the event store of the data directory `db` is open on, without opening the
 * collector: every log record (length, CRC, authentication when sealed, decoding), the
 * checkpoint's checksum, the quarantine, the person table and every day partition (sealed files
 * are opened with the handle's key file). Appends {what, detail} problems to `problems`; *records
 * and *days count what was read. Used by tb_check. */
int tb__events_check(tb_db *db, json_t *problems, int64_t *records, int64_t *days);

/* Registers the event store's step and proof with customer erasure (security/erase.h): the
 * person's events (their logins and every device linked to them), their quarantined events and
 * their ids are removed from partitions, log, checkpoint and the person table. Call once at
 * start-up. */
int tb__events_erase_register(void);
/* Marks `c` as the collector of this process (the server's), so that an erasure running in the
 * same process works on its live state (on = 0 clears it). */
void tb__collector_set_live(tb__collector *c, int on);

/* Rolls the log to a new segment and compacts: every record so far moves into the partitions
 * and the segments that held them are removed (erasure, key rotation). 0 or a TB_E… (eb). */
int tb__collector_drain(tb__collector *c, tb__errbuf *eb);

/* Waits until every batch appended so far is durable and answered (its completion called): the
 * server calls it before stopping libmicrohttpd, so no connection stays suspended. */
int tb__collector_flush(tb__collector *c);

/* Publishes real-time tag state that changed since it was last published. Batches publish it as
 * they arrive, at most four times a second, so a burst's last change waits for the next batch;
 * the server calls this on a timer so that it never waits longer than that. NULL: nothing to
 * do. Thread-safe. */
void tb__collector_publish(tb__collector *c);

/* The newest `limit` quarantined events of the data directory `db` is open on
 * (events/quarantine.jsonl, read without the collector, opened when sealed): {"total", "newest":
 * [...]}, with login ids, mobiles and resident ID numbers masked everywhere in them when `masked`.
 * *out is a new reference. TB_EIO, TB_ENOMEM.
 */
int tb__events_quarantine(tb_db *db, size_t limit, int masked, json_t **out);

/* Status: sources, counters, log position, persons (JSON; caller frees with free()). */
int tb__collector_status(tb__collector *c, char **json_out);

#endif
