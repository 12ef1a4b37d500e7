/* server.c — tagbase serve's lifecycle: the data directory's handles, the libmicrohttpd daemon
 * (a pool of worker threads, each with its own poll loop), per-request memory pools, the limits
 * (body size, time, requests in flight), the access log, and the graceful shutdown on SIGTERM or
 * SIGINT. docs/server.md explains the choices. */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sodium.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/log.h"
#include "events/collector.h"
#include "store/meta.h"
#include "server/srv_int.h"

#define DEFAULT_LISTEN "127.0.0.1:8080"

/* A body larger than max_body is still read (and dropped) up to this many bytes so that the
 * client reads a clean 413; beyond it, or with a Content-Length beyond it, the answer is sent at
 * once and the connection closed. */
static size_t drain_cap(const tb__srv *s)
{
    return s->o.max_body * 8 + (1u << 20);
}

/* Seconds since the request started, as a double. */
static double elapsed_ms(const tb__req *r)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - r->t0.tv_sec) * 1e3 + (double)(now.tv_nsec - r->t0.tv_nsec) / 1e6;
}

/* The path as the access log shows it: the route's pattern when one matched (so that a customer
 * number, ID number or mobile in the path never reaches the log), else the raw path with every
 * run of four or more digits starred, cut at 200 bytes. Query values are never shown. */
static void log_path(const tb__req *r, char *out, size_t cap)
{
    if (r->route) {
        snprintf(out, cap, "%s", r->route->pattern);
        return;
    }
    const char *p = r->raw_target ? r->raw_target : "";
    size_t n = strcspn(p, "?"), o = 0;
    if (n > 200) n = 200;
    for (size_t i = 0; i < n && o + 1 < cap;) {
        size_t d = 0;
        while (i + d < n && p[i + d] >= '0' && p[i + d] <= '9')
            d++;
        if (d >= 4) {
            for (size_t k = 0; k < d && o + 1 < cap; k++)
                out[o++] = '*';
            i += d;
        } else if (d) {
            for (size_t k = 0; k < d && o + 1 < cap; k++)
                out[o++] = p[i + k];
            i += d;
        } else
            out[o++] = p[i++];
    }
    out[o] = '\0';
}

/* One JSON line per request on stderr, written with one write(2) so lines never interleave. */
static void access_log(const tb__req *r)
{
    char path[256], now[TB__TIME_TEXT_LEN];
    log_path(r, path, sizeof path);
    json_t *q = json_array();
    for (size_t i = 0; i < r->tgt.nquery && q; i++)
        json_array_append_new(q, json_string(r->tgt.query[i].key));
    json_t *line = json_pack(
        "{s:s, s:s, s:s, s:s, s:o, s:i, s:I, s:f, s:s}", "time", tb__now_text(now), "remote",
        r->remote, "method", r->method ? r->method : "-", "path", path, "query",
        q ? q : json_null(), "status", (int)r->status, "bytes", (json_int_t)r->bytes, "ms",
        (double)(long)(elapsed_ms(r) * 1000) / 1000, "user", r->authed ? r->who.name : "-");
    if (!line) return;
    char *text = json_dumps(line, JSON_COMPACT | JSON_ENSURE_ASCII | JSON_REAL_PRECISION(6));
    json_decref(line);
    if (!text) return;
    size_t n = strlen(text);
    text[n] = '\n'; /* the NUL becomes the line's end */
    ssize_t w = write(STDERR_FILENO, text, n + 1);
    (void)w;
    free(text);
}

/* libmicrohttpd calls this with the raw request target before anything else about the request:
 * the request (and its memory pool) starts here, so even a request refused later is logged. */
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *con)
{
    tb__srv *s = cls;
    tb__req *r = calloc(1, sizeof *r);
    if (!r) return NULL;
    r->srv = s;
    r->con = con;
    clock_gettime(CLOCK_MONOTONIC, &r->t0);
    tb__arena_init(&r->pool, 16384);
    atomic_fetch_add(&s->inflight, 1);
    strcpy(r->remote, "-");
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(con, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (ci && ci->client_addr) {
        const struct sockaddr *sa = ci->client_addr;
        if (sa->sa_family == AF_INET)
            inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, r->remote,
                      sizeof r->remote);
        else if (sa->sa_family == AF_INET6)
            inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr,
                      r->remote, sizeof r->remote);
    }
    size_t len = strlen(uri);
    r->raw_target = tb__arena_strndup(&r->pool, uri, len);
    if (!r->raw_target) {
        r->tgt_rc = TB_ENOMEM;
        r->tgt_why = "out of memory";
    } else
        r->tgt_rc = tb__http_parse_target(&r->pool, r->raw_target, len, &r->tgt, &r->tgt_why);
    return r;
}

/* The response has been sent (or the connection died): log, free the pool, count it out. */
static void on_completed(void *cls, struct MHD_Connection *con, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    tb__srv *s = cls;
    tb__req *r = *con_cls;
    (void)con;
    if (!r) return;
    if (toe != MHD_REQUEST_TERMINATED_COMPLETED_OK && r->status == 0) r->status = 499;
    access_log(r);
    if (r->resp) MHD_destroy_response(r->resp);
    json_decref(r->json);
    if (r->body) sodium_memzero(r->body, r->body_cap); /* it may hold a password */
    free(r->body);
    tb__arena_release(&r->pool);
    free(r);
    *con_cls = NULL;
    atomic_fetch_sub(&s->inflight, 1);
}

/* Sends what the request answered: queues the response (libmicrohttpd keeps a reference). */
static enum MHD_Result send_answer(tb__req *r)
{
    if (!r->resp) tb__req_error(r, 500, NULL, "no answer");
    if (!r->resp) return MHD_NO;
    if (atomic_load(&r->srv->stopping))
        MHD_add_response_header(r->resp, MHD_HTTP_HEADER_CONNECTION, "close");
    enum MHD_Result ok = MHD_queue_response(r->con, r->status, r->resp);
    MHD_destroy_response(r->resp);
    r->resp = NULL;
    return ok;
}

/* The access handler: called once when the headers are in, then for each piece of the body, then
 * once more with no data, when the request is answered. */
static enum MHD_Result on_request(void *cls, struct MHD_Connection *con, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    tb__srv *s = cls;
    tb__req *r = *con_cls;
    (void)url;
    (void)version;
    if (!r) return MHD_NO; /* out of memory in on_uri */
    if (!r->started) {
        r->started = 1;
        r->con = con;
        r->method = method;
        int health = r->tgt_rc == 0 && r->tgt.nsegs == 1 && strcmp(r->tgt.segs[0], "health") == 0;
        if (!health && atomic_load(&s->inflight) > s->o.max_inflight) {
            tb__req_error(r, 429, NULL, "too many requests in flight (more than %d)",
                          s->o.max_inflight);
            tb__req_header(r, MHD_HTTP_HEADER_RETRY_AFTER, "1");
            return send_answer(r);
        }
        const char *cl = MHD_lookup_connection_value(con, MHD_HEADER_KIND, "Content-Length");
        if (cl) {
            char *end;
            errno = 0;
            unsigned long long n = strtoull(cl, &end, 10);
            if (errno || *end || (size_t)n > drain_cap(s)) {
                tb__req_error(r, 413, NULL, "request body larger than %zu bytes", s->o.max_body);
                return send_answer(r);
            }
            if (n > s->o.max_body) r->body_too_big = 1;
        }
        return MHD_YES;
    }
    if (*upload_data_size) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        r->body_seen += n;
        if (r->body_seen > drain_cap(s)) return MHD_NO;
        if (elapsed_ms(r) > s->o.timeout_s * 1000.0) return MHD_NO; /* a slow body: give up */
        if (r->body_too_big || r->body_len + n > s->o.max_body) {
            r->body_too_big = 1;
            free(r->body);
            r->body = NULL;
            r->body_len = r->body_cap = 0;
            return MHD_YES;
        }
        if (r->body_len + n > r->body_cap) {
            size_t cap = r->body_cap ? r->body_cap : 4096;
            while (cap < r->body_len + n)
                cap *= 2;
            if (cap > s->o.max_body) cap = s->o.max_body;
            char *nb = realloc(r->body, cap);
            if (!nb) return MHD_NO;
            r->body = nb;
            r->body_cap = cap;
        }
        memcpy(r->body + r->body_len, upload_data, n);
        r->body_len += n;
        return MHD_YES;
    }
    if (r->deferred) return send_answer(r); /* resumed: the event log answered (api_events.c) */
    if (r->body_too_big)
        tb__req_error(r, 413, NULL, "request body larger than %zu bytes", s->o.max_body);
    else if (r->tgt_rc)
        tb__req_error(r, r->tgt_rc == TB_ELIMIT ? 414 : 400, NULL, "%s", r->tgt_why);
    else
        tb__dispatch(r);
    /* Suspended until the batch is durable: the answer is sent when libmicrohttpd calls again
     * after the resume. Never look at r->resp here: the log's committer thread may be writing it
     * (api_events.c). */
    if (r->deferred) return MHD_YES;
    return send_answer(r);
}

#define PUBLISH_NS 250000000L /* real-time tag state left by the last batches: published within */

/* Until shutdown: publishes the real-time tag state the last batches left (every PUBLISH_NS), and
 * compacts the event log into day partitions every compact_s seconds. */
static void *compactor(void *arg)
{
    tb__srv *s = arg;
    struct timespec compacted;
    clock_gettime(CLOCK_MONOTONIC, &compacted);
    pthread_mutex_lock(&s->stoplock);
    while (!atomic_load(&s->stopping)) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += PUBLISH_NS;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&s->stopcond, &s->stoplock, &until);
        if (atomic_load(&s->stopping)) break;
        pthread_mutex_unlock(&s->stoplock);
        tb__collector_publish(s->col);
        if (tb__seconds_since(&compacted) >= (double)s->o.compact_s) {
            char *out = NULL;
            if (tb__collector_compact(s->col, &out) == 0) tb__log_debug("events", "compacted");
            free(out);
            clock_gettime(CLOCK_MONOTONIC, &compacted);
        }
        pthread_mutex_lock(&s->stoplock);
    }
    pthread_mutex_unlock(&s->stoplock);
    return NULL;
}

/* Opens event collection on its own read-only handle; a failure leaves the rest of the server
 * up (collection answers 503) and says why in the log. */
static void open_collector(tb__srv *s)
{
    char err[512];
    tb__errbuf eb = {0};
    pthread_mutex_init(&s->stoplock, NULL);
    pthread_cond_init(&s->stopcond, NULL);
    if (!s->o.compact_s) s->o.compact_s = 60;
    if (tb_db_open(s->o.data_dir, TB_OPEN_READONLY, &s->coldb, err, sizeof err)) {
        tb__log_error("events", "event collection is off: %s", err);
        return;
    }
    if (tb__collector_open(s->coldb, NULL, &s->col, &eb)) {
        tb__log_error("events", "event collection is off: %s", eb.msg);
        tb_db_close(s->coldb);
        s->coldb = NULL;
        return;
    }
    tb__collector_set_live(s->col, 1);
    s->compactor_on = pthread_create(&s->compactor, NULL, compactor, s) == 0;
}

static void close_collector(tb__srv *s)
{
    if (s->compactor_on) {
        atomic_store(&s->stopping, 1);
        pthread_mutex_lock(&s->stoplock);
        pthread_cond_broadcast(&s->stopcond);
        pthread_mutex_unlock(&s->stoplock);
        pthread_join(s->compactor, NULL);
        s->compactor_on = 0;
    }
    tb__collector_set_live(s->col, 0);
    tb__collector_close(s->col); /* flushes the log and writes a checkpoint */
    s->col = NULL;
    tb_db_close(s->coldb);
    s->coldb = NULL;
}

/* libmicrohttpd's own messages, through our log (they hold no request data). */
static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    size_t n = strlen(msg);
    while (n && msg[n - 1] == '\n')
        msg[--n] = '\0';
    tb__log_warn("server", "libmicrohttpd: %s", msg);
}

/* Creates the listening socket for "HOST:PORT" or "[V6]:PORT" and writes the address it got
 * (the real port when 0 was asked) to url. Returns the socket or -1 after printing why. */
static int listen_on(const char *spec, int tls, char *url, size_t urlcap)
{
    char host[256];
    const char *port;
    if (spec[0] == '[') {
        const char *rb = strchr(spec, ']');
        if (!rb || rb[1] != ':' || (size_t)(rb - spec - 1) >= sizeof host) goto out_bad;
        memcpy(host, spec + 1, (size_t)(rb - spec - 1));
        host[rb - spec - 1] = '\0';
        port = rb + 2;
    } else {
        const char *colon = strrchr(spec, ':');
        if (!colon || (size_t)(colon - spec) >= sizeof host) goto out_bad;
        memcpy(host, spec, (size_t)(colon - spec));
        host[colon - spec] = '\0';
        port = colon + 1;
    }
    if (!*host || !*port || strspn(port, "0123456789") != strlen(port) || strlen(port) > 5)
        goto out_bad;
    struct addrinfo hints = {0}, *ai;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    int gai = getaddrinfo(host, port, &hints, &ai);
    if (gai) {
        fprintf(stderr, "tagbase serve: cannot resolve '%s': %s\n", host, gai_strerror(gai));
        return -1;
    }
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) goto out_errno;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, ai->ai_addr, ai->ai_addrlen) || listen(fd, 128)) goto out_errno;
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    char addr[INET6_ADDRSTRLEN] = "?";
    int p = 0;
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0) {
        if (ss.ss_family == AF_INET) {
            struct sockaddr_in *in = (struct sockaddr_in *)&ss;
            inet_ntop(AF_INET, &in->sin_addr, addr, sizeof addr);
            p = ntohs(in->sin_port);
        } else if (ss.ss_family == AF_INET6) {
            struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
            inet_ntop(AF_INET6, &in6->sin6_addr, addr, sizeof addr);
            p = ntohs(in6->sin6_port);
        }
    }
    snprintf(url, urlcap, "%s://%s%s%s:%d", tls ? "https" : "http",
             ss.ss_family == AF_INET6 ? "[" : "", addr, ss.ss_family == AF_INET6 ? "]" : "", p);
    freeaddrinfo(ai);
    return fd;
out_errno:
    fprintf(stderr, "tagbase serve: cannot listen on '%s': %s\n", spec, strerror(errno));
    if (fd >= 0) close(fd);
    freeaddrinfo(ai);
    return -1;
out_bad:
    fprintf(stderr, "tagbase serve: --listen takes HOST:PORT or [V6]:PORT, not '%s'\n", spec);
    return -1;
}

/* Reads a whole PEM file (small) into a NUL-terminated malloc'd buffer. NULL after printing. */
static char *read_pem(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "tagbase serve: cannot open '%s': %s\n", path, strerror(errno));
        return NULL;
    }
    char *buf = malloc(1 << 20);
    size_t n = buf ? fread(buf, 1, (1 << 20) - 1, f) : 0;
    fclose(f);
    if (!buf || n == 0) {
        free(buf);
        fprintf(stderr, "tagbase serve: cannot read '%s'\n", path);
        return NULL;
    }
    buf[n] = '\0';
    return buf;
}

/* First start: no user yet, so an admin with a generated one-time password, shown once. */
static int first_admin(tb__srv *s)
{
    int none = tb__user_none(s->wdb);
    if (none < 0) return none;
    if (!none) return 0;
    char pw[128];
    int rc = tb__user_add(s->wdb, "admin", "admin", TB__SCOPE_ALL, "", NULL, pw, sizeof pw);
    if (rc) return rc;
    tb__principal sys;
    tb__principal_cli(&sys, "tagbase-serve");
    tb__audit(s->wdb, &sys, "local", "user.add", "admin", "{\"role\":\"admin\",\"first\":true}",
              "ok");
    fprintf(stderr,
            "tagbase serve: first start: created user 'admin' with the one-time password %s\n"
            "tagbase serve: it is shown only this once; log in and change it\n",
            pw);
    sodium_memzero(pw, sizeof pw);
    return 0;
}

/* Fills in defaults and checks ranges; returns 0 or TB_EINVAL after printing. */
static int check_opts(tb__srv_opts *o)
{
    if (!o->data_dir) o->data_dir = tb_default_data_dir();
    if (!o->listen) o->listen = DEFAULT_LISTEN;
    if (!o->threads) o->threads = 4;
    if (!o->max_body) o->max_body = 1u << 20;
    if (!o->timeout_s) o->timeout_s = 30;
    if (!o->max_inflight) o->max_inflight = 256;
    if (!o->session_ttl_s) o->session_ttl_s = 8 * 3600;
    if (o->threads < 1 || o->threads > 64 || o->max_body < 64 || o->max_body > (1u << 30) ||
        o->timeout_s < 1 || o->timeout_s > 3600 || o->max_inflight < 1 ||
        o->max_inflight > 100000 || (!o->cert != !o->key)) {
        fprintf(stderr, "tagbase serve: option out of range (threads 1..64, max-body 64..1 GiB, "
                        "timeout 1..3600, max-inflight 1..100000, --cert with --key)\n");
        return TB_EINVAL;
    }
    return 0;
}

int tb__srv_run(const tb__srv_opts *opts)
{
    static tb__srv srv; /* one per process */
    tb__srv *s = &srv;
    char err[512], url[300];
    char *cert = NULL, *key = NULL;
    int rc, lfd = -1;
    memset(s, 0, sizeof *s);
    s->webfd = -1;
    s->o = *opts;
    if ((rc = check_opts(&s->o))) return rc;
    pthread_mutex_init(&s->wlock, NULL);
    pthread_mutex_init(&s->rlock, NULL);
    pthread_cond_init(&s->rcond, NULL);
    if (s->o.cert) {
        if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
            fprintf(stderr, "tagbase serve: this libmicrohttpd has no TLS support\n");
            return TB_ENOTSUP;
        }
        cert = read_pem(s->o.cert);
        key = cert ? read_pem(s->o.key) : NULL;
        if (!key) {
            rc = TB_EIO;
            goto out_free;
        }
        s->tls = 1;
    }
    /* Signals are taken by sigwait in this thread only: every thread started from here on
     * (libmicrohttpd's, the engines') inherits the blocked mask. */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    rc = tb_db_open(s->o.data_dir, 0, &s->wdb, err, sizeof err);
    if (rc) {
        fprintf(stderr, "tagbase serve: %s%s\n", err,
                rc == TB_EBUSY ? " (the server must be the data directory's only writer)" : "");
        goto out_free;
    }
    /* The writer's page cache: bounded, or every audit page it ever wrote stays in memory. */
    if ((rc = tb__meta_cache_limit(s->wdb, 8))) {
        fprintf(stderr, "tagbase serve: %s\n", tb_errmsg(s->wdb));
        goto out_close;
    }
    if ((rc = tb__security_init(s->wdb)) || (rc = first_admin(s))) {
        fprintf(stderr, "tagbase serve: cannot set up users: %s\n", tb_errmsg(s->wdb));
        goto out_close;
    }
    s->nrdb = s->o.threads;
    s->rdb = calloc((size_t)s->nrdb, sizeof *s->rdb);
    if (!s->rdb) {
        rc = TB_ENOMEM;
        goto out_close;
    }
    for (int i = 0; i < s->nrdb; i++) {
        rc = tb_db_open(s->o.data_dir, TB_OPEN_READONLY, &s->rdb[i], err, sizeof err);
        if (rc) {
            fprintf(stderr, "tagbase serve: %s\n", err);
            goto out_close;
        }
        s->rfree = i + 1;
    }
    {
        const char *web = s->o.web_dir ? s->o.web_dir : getenv("TAGBASE_WEB");
        int required = web != NULL && *web && strcmp(web, "none") != 0;
        if (web && (!*web || strcmp(web, "none") == 0))
            s->webfd = -1;
        else if ((s->webfd = tb__static_open(web ? web : "web/dist", required)) == -2) {
            s->webfd = -1;
            rc = TB_EIO;
            goto out_close;
        }
    }
    lfd = listen_on(s->o.listen, s->tls, url, sizeof url);
    if (lfd < 0) {
        rc = TB_EIO;
        goto out_close;
    }
    open_collector(s);
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | MHD_ALLOW_SUSPEND_RESUME |
                     MHD_USE_ERROR_LOG | (s->tls ? MHD_USE_TLS : 0);
    struct MHD_OptionItem tlsopts[] = {
        {s->tls ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, 0, cert},
        {s->tls ? MHD_OPTION_HTTPS_MEM_KEY : MHD_OPTION_END, 0, key},
        {MHD_OPTION_END, 0, NULL},
    };
    s->daemon = MHD_start_daemon(
        flags, 0, NULL, NULL, on_request, s, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
        MHD_OPTION_LISTEN_SOCKET, lfd, MHD_OPTION_THREAD_POOL_SIZE, (unsigned)s->o.threads,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)s->o.timeout_s, MHD_OPTION_CONNECTION_LIMIT,
        (unsigned)(s->o.max_inflight * 2 + 64), MHD_OPTION_CONNECTION_MEMORY_LIMIT,
        (size_t)64 * 1024, MHD_OPTION_URI_LOG_CALLBACK, on_uri, s, MHD_OPTION_NOTIFY_COMPLETED,
        on_completed, s, MHD_OPTION_ARRAY, tlsopts, MHD_OPTION_END);
    if (!s->daemon) {
        fprintf(stderr, "tagbase serve: cannot start the HTTP daemon on %s\n", s->o.listen);
        rc = TB_EIO;
        goto out_close;
    }
    printf("listening on %s\n", url);
    fflush(stdout);
    tb__log_info("server", "serving %s on %s with %d threads", s->o.data_dir, url, s->o.threads);

    int sig = 0;
    while (sigwait(&sigs, &sig) != 0)
        ;
    /* Stop accepting, let the requests in flight finish (bounded), then stop the threads. */
    atomic_store(&s->stopping, 1);
    tb__log_info("server", "signal %d: shutting down", sig);
    MHD_socket q = MHD_quiesce_daemon(s->daemon);
    if (q != MHD_INVALID_SOCKET) close(q);
    lfd = -1;
    struct timespec t0, now, nap = {0, 10 * 1000 * 1000};
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        if (atomic_load(&s->inflight) == 0) break;
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (now.tv_sec - t0.tv_sec > s->o.timeout_s + 5) {
            tb__log_warn("server", "%d requests still in flight: closing them",
                         atomic_load(&s->inflight));
            break;
        }
        nanosleep(&nap, NULL);
    }
    /* Batches still waiting for their fsync are answered (and their connections resumed)
     * before the daemon stops: it must not find a suspended connection. */
    tb__collector_flush(s->col);
    MHD_stop_daemon(s->daemon);
    s->daemon = NULL;
    close_collector(s);
    rc = 0;
    tb__log_info("server", "stopped");
out_close:
    close_collector(s);
    if (lfd >= 0 && !s->daemon) close(lfd);
    for (int i = 0; i < s->nrdb; i++)
        tb_db_close(s->rdb[i]);
    free(s->rdb);
    tb_db_close(s->wdb);
    if (s->webfd >= 0) close(s->webfd);
out_free:
    free(cert);
    free(key);
    return rc;
}
