/* server.h — tagbase serve: the HTTP/JSON API server, as the command line starts it.
 * docs/server.md is the manual (threads and handles, limits, the auth flow, the access log). */
#ifndef TB_SERVER_SERVER_H
#define TB_SERVER_SERVER_H

#include <stddef.h>

/* What `tagbase serve` was asked for. Zero members take the defaults named here. */
typedef struct tb__srv_opts {
    const char *data_dir; /* NULL: tb_default_data_dir() */
    const char *listen;   /* "HOST:PORT" or "[V6]:PORT"; NULL: "127.0.0.1:8080"; port 0 = any */
    int threads;          /* worker threads, 1..64; 0: 4 */
    size_t max_body;      /* request body bytes; 0: 1 MiB */
    int timeout_s;        /* idle connection and body-upload time limit; 0: 30 */
    int max_inflight;     /* requests in flight before 429; 0: 256 */
    int session_ttl_s;    /* console session lifetime; 0: 8 hours */
    const char *cert;     /* PEM certificate and key files: HTTPS when both are given */
    const char *key;
    int compact_s;       /* seconds between compactions of the event log; 0: 60 */
    const char *web_dir; /* the console's files; NULL: $TAGBASE_WEB, else ./web/dist when it
                            exists; "" or "none": no console */
} tb__srv_opts;

/* Opens the data directory as its writer, creates the first admin when there is no user (its
 * one-time password printed once on stderr), listens, prints "listening on http://HOST:PORT" on
 * stdout, serves until SIGTERM or SIGINT, then stops accepting, lets the requests in flight
 * finish and closes the data directory. Returns 0 after a clean shutdown, or a negative TB_E*
 * after printing why to stderr (TB_EBUSY: another process holds the data directory). Call once
 * per process. */
int tb__srv_run(const tb__srv_opts *o);

#endif
