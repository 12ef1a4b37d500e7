/* static.c — the web console's files (web/dist, built by `make web`) served by tagbase serve at
 * "/": strict path normalisation, files opened beneath one directory descriptor without following
 * any symbolic link, Content-Type by extension, ETag revalidation, year-long caching of the
 * build's content-hashed assets, the single-page app's fallback to index.html, and the security
 * headers of a page (CSP, nosniff, no framing). docs/console.md explains the choices. */
#include "server/static.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "common/utf8.h"
#include "server/srv_int.h"
#include "tagbase.h"

/* What the console's pages may do: scripts, styles, fonts and images from the server only (Vite
 * emits no inline script); inline style attributes are allowed because Element Plus and ECharts
 * set them; calls go to the same origin only; nobody may frame the console. */
#define CSP                                                                                        \
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "                    \
    "img-src 'self' data: blob:; font-src 'self' data:; connect-src 'self'; object-src 'none'; "   \
    "base-uri 'self'; form-action 'self'; frame-ancestors 'none'"

static int hexval(unsigned char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

int tb__static_path(const char *raw, size_t len, char *out, size_t cap, const char **why)
{
    static const char index_html[] = "index.html";
    size_t o = 0, depth = 0, i = 1;
    *why = "";
    if (cap == 0) return TB_EINVAL;
    out[0] = '\0';
    if (len == 0 || raw[0] != '/') {
        *why = "the path must start with '/'";
        return TB_EFORMAT;
    }
    for (;;) {
        const char *sl = i < len ? memchr(raw + i, '/', len - i) : NULL;
        size_t end = sl ? (size_t)(sl - raw) : len;
        if (end == i) {
            if (sl) {
                *why = "empty segment in the path";
                return TB_EFORMAT;
            }
            /* "/" or a trailing '/': the directory's index.html */
            if (o + sizeof index_html > cap || o + sizeof index_html - 1 > TB__STATIC_MAX_PATH) {
                *why = "path too long";
                return TB_ELIMIT;
            }
            memcpy(out + o, index_html, sizeof index_html);
            return 0;
        }
        if (++depth > TB__STATIC_MAX_DEPTH) {
            *why = "path too deep";
            return TB_ELIMIT;
        }
        size_t start = o;
        for (size_t k = i; k < end; k++) {
            unsigned char c = (unsigned char)raw[k];
            if (c == '%') {
                int hi = end - k >= 3 ? hexval((unsigned char)raw[k + 1]) : -1;
                int lo = end - k >= 3 ? hexval((unsigned char)raw[k + 2]) : -1;
                if (hi < 0 || lo < 0) {
                    *why = "bad percent-encoding in the path";
                    return TB_EFORMAT;
                }
                c = (unsigned char)(hi << 4 | lo);
                k += 2;
            }
            if (c < 0x20 || c == 0x7f || c == '\\' || c == '/') {
                *why = "control character, backslash or encoded '/' in the path";
                return TB_EFORMAT;
            }
            if (o + 1 >= cap || o >= TB__STATIC_MAX_PATH) {
                *why = "path too long";
                return TB_ELIMIT;
            }
            out[o++] = (char)c;
        }
        out[o] = '\0';
        if (out[start] == '.') { /* ".", "..", and hidden files (.git, .env, .htpasswd) */
            *why = "'.', '..' and names starting with '.' are not served";
            return TB_EFORMAT;
        }
        if (tb__utf8_validate((const unsigned char *)out + start, o - start, NULL) != 0) {
            *why = "the path is not well-formed UTF-8";
            return TB_EFORMAT;
        }
        if (!sl) return 0;
        if (o + 1 >= cap || o >= TB__STATIC_MAX_PATH) {
            *why = "path too long";
            return TB_ELIMIT;
        }
        out[o++] = '/';
        out[o] = '\0';
        i = end + 1;
    }
}

const char *tb__static_mime(const char *rel)
{
    static const struct {
        const char *ext, *type;
    } types[] = {
        {"html", "text/html; charset=utf-8"},
        {"js", "text/javascript; charset=utf-8"},
        {"mjs", "text/javascript; charset=utf-8"},
        {"css", "text/css; charset=utf-8"},
        {"json", "application/json; charset=utf-8"},
        {"map", "application/json; charset=utf-8"},
        {"txt", "text/plain; charset=utf-8"},
        {"svg", "image/svg+xml"},
        {"png", "image/png"},
        {"jpg", "image/jpeg"},
        {"jpeg", "image/jpeg"},
        {"gif", "image/gif"},
        {"webp", "image/webp"},
        {"ico", "image/x-icon"},
        {"woff", "font/woff"},
        {"woff2", "font/woff2"},
        {"ttf", "font/ttf"},
        {"wasm", "application/wasm"},
    };
    const char *slash = strrchr(rel, '/');
    const char *base = slash ? slash + 1 : rel;
    const char *dot = strrchr(base, '.');
    if (dot && dot[1])
        for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
            if (strcasecmp(dot + 1, types[i].ext) == 0) return types[i].type;
    return "application/octet-stream";
}

int tb__static_immutable(const char *rel)
{
    return strncmp(rel, "assets/", 7) == 0 && rel[7] != '\0';
}

int tb__static_spa_route(const char *rel)
{
    const char *slash = strrchr(rel, '/');
    return strchr(slash ? slash + 1 : rel, '.') == NULL;
}

/* Opens rel beneath the directory descriptor root, one component at a time, refusing every
 * symbolic link (O_NOFOLLOW): nothing outside the root can be reached whatever the tree holds.
 * Returns a descriptor of a regular file with *st filled, or -1 (errno: ENOENT, ELOOP, EISDIR,
 * ...). */
static int open_beneath(int root, const char *rel, struct stat *st)
{
    char comp[TB__STATIC_MAX_PATH + 1];
    int dir = root, fd = -1;
    const char *p = rel;
    for (;;) {
        const char *sl = strchr(p, '/');
        size_t n = sl ? (size_t)(sl - p) : strlen(p);
        if (n == 0 || n > TB__STATIC_MAX_PATH) {
            errno = ENOENT;
            goto out_fail;
        }
        memcpy(comp, p, n);
        comp[n] = '\0';
        int flags = O_RDONLY | O_CLOEXEC | O_NOFOLLOW | (sl ? O_DIRECTORY : O_NONBLOCK);
        fd = openat(dir, comp, flags);
        if (dir != root) close(dir);
        dir = root;
        if (fd < 0) return -1;
        if (!sl) break;
        dir = fd;
        fd = -1;
        p = sl + 1;
    }
    if (fstat(fd, st) != 0) goto out_close;
    if (!S_ISREG(st->st_mode)) {
        errno = EISDIR;
        goto out_close;
    }
    return fd;
out_close:
    close(fd);
    return -1;
out_fail:
    if (dir != root) close(dir);
    return -1;
}

/* The ETag of a file: its size and modification time (a rebuilt file gets a new one). */
static void etag_of(const struct stat *st, char *out, size_t cap)
{
    snprintf(out, cap, "\"%llx-%llx%09lx\"", (unsigned long long)st->st_size,
             (unsigned long long)st->st_mtim.tv_sec, (unsigned long)st->st_mtim.tv_nsec);
}

/* 1 when an If-None-Match header lists tag (or is "*"). */
static int etag_matches(const char *inm, const char *tag)
{
    if (!inm) return 0;
    if (strcmp(inm, "*") == 0) return 1;
    size_t n = strlen(tag);
    for (const char *p = inm; (p = strstr(p, tag)) != NULL; p += n) {
        char before = p == inm ? ',' : p[-1];
        char after = p[n];
        if ((before == ',' || before == ' ' || before == '/') &&
            (after == '\0' || after == ',' || after == ' '))
            return 1;
    }
    return 0;
}

static void page_headers(struct MHD_Response *resp)
{
    MHD_add_response_header(resp, "Content-Security-Policy", CSP);
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(resp, "X-Frame-Options", "DENY");
    MHD_add_response_header(resp, "Referrer-Policy", "same-origin");
}

static void answer(tb__req *r, unsigned status, struct MHD_Response *resp, uint64_t bytes)
{
    if (r->resp) MHD_destroy_response(r->resp);
    r->resp = resp;
    r->status = status;
    r->bytes = bytes;
}

int tb__static_serve(tb__req *r)
{
    tb__srv *s = r->srv;
    if (s->webfd < 0) {
        if (r->tgt.nsegs == 0) {
            tb__req_error(r, 404, NULL,
                          "the web console is not served: build it (make web) or start the "
                          "server with --web DIR");
            return 1;
        }
        return 0;
    }
    const char *raw = r->raw_target ? r->raw_target : "/";
    size_t len = strcspn(raw, "?");
    char rel[TB__STATIC_MAX_PATH + 1];
    const char *why;
    int rc = tb__static_path(raw, len, rel, sizeof rel, &why);
    if (rc) {
        tb__req_error(r, rc == TB_ELIMIT ? 414 : 400, NULL, "%s", why);
        return 1;
    }
    struct stat st;
    int fd = open_beneath(s->webfd, rel, &st);
    if (fd < 0 && errno != ENOENT && errno != ELOOP && errno != EISDIR && errno != ENOTDIR &&
        errno != EACCES)
        tb__log_warn("server", "cannot open a file of the console: %s", strerror(errno));
    if (fd < 0 && tb__static_spa_route(rel)) {
        /* a route of the console (a bookmark, a reload): the app's router takes it. Only for a
         * browser asking for a page, so that an API client still reads a JSON 404. */
        const char *accept = tb__req_header_in(r, MHD_HTTP_HEADER_ACCEPT);
        if (accept && strstr(accept, "text/html")) {
            strcpy(rel, "index.html");
            fd = open_beneath(s->webfd, rel, &st);
        }
    }
    if (fd < 0) {
        tb__req_error(r, 404, NULL, "no such file or route");
        return 1;
    }
    char etag[64];
    etag_of(&st, etag, sizeof etag);
    const char *cache =
        tb__static_immutable(rel) ? "public, max-age=31536000, immutable" : "no-cache";
    struct MHD_Response *resp;
    unsigned status;
    uint64_t bytes;
    if (etag_matches(tb__req_header_in(r, MHD_HTTP_HEADER_IF_NONE_MATCH), etag)) {
        close(fd);
        resp = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
        status = 304;
        bytes = 0;
    } else {
        resp = MHD_create_response_from_fd((uint64_t)st.st_size, fd); /* closes fd */
        if (!resp) close(fd);
        status = 200;
        bytes = (uint64_t)st.st_size;
        if (resp) MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, tb__static_mime(rel));
    }
    if (!resp) {
        tb__req_error(r, 500, NULL, "out of memory");
        return 1;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_ETAG, etag);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, cache);
    page_headers(resp);
    answer(r, status, resp, bytes);
    return 1;
}

int tb__static_open(const char *dir, int required)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        if (required) {
            fprintf(stderr, "tagbase serve: cannot open the console's directory '%s': %s\n", dir,
                    strerror(errno));
            return -2;
        }
        tb__log_info("server", "no web console at '%s' (make web builds it): serving the API only",
                     dir);
        return -1;
    }
    struct stat st;
    if (fstatat(fd, "index.html", &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode)) {
        if (required) {
            fprintf(stderr, "tagbase serve: '%s' holds no index.html (make web builds it)\n", dir);
            close(fd);
            return -2;
        }
        tb__log_info("server", "'%s' holds no index.html: serving the API only", dir);
        close(fd);
        return -1;
    }
    tb__log_info("server", "serving the web console from '%s'", dir);
    return fd;
}
