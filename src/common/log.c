/* log.c — levelled logging to stderr, one line per write so concurrent lines never interleave. */
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

static _Atomic int g_level = -1; /* -1: not yet read from TAGBASE_LOG */
static FILE *g_stream;           /* NULL: stderr */
static pthread_mutex_t g_stream_mu = PTHREAD_MUTEX_INITIALIZER;

static const char *const level_names[] = {"error", "warn", "info", "debug"};

int tb_log_level_parse(const char *name, tb_log_level *out)
{
    for (int i = 0; i < 4; i++) {
        if (name && strcmp(name, level_names[i]) == 0) {
            *out = (tb_log_level)i;
            return 0;
        }
    }
    return TB_EINVAL;
}

tb_log_level tb_log_get_level(void)
{
    int lv = atomic_load(&g_level);
    if (lv < 0) {
        tb_log_level parsed = TB_LOG_INFO;
        const char *env = getenv("TAGBASE_LOG");
        if (env) tb_log_level_parse(env, &parsed);
        lv = (int)parsed;
        atomic_store(&g_level, lv);
    }
    return (tb_log_level)lv;
}

void tb_log_set_level(tb_log_level level)
{
    if ((int)level < TB_LOG_ERROR || (int)level > TB_LOG_DEBUG) return; /* not a level: ignored */
    atomic_store(&g_level, (int)level);
}

void tb__log_set_stream(FILE *f)
{
    pthread_mutex_lock(&g_stream_mu);
    g_stream = f;
    pthread_mutex_unlock(&g_stream_mu);
}

void tb__log(tb_log_level level, const char *component, const char *fmt, ...)
{
    if ((int)level < TB_LOG_ERROR || (int)level > TB_LOG_DEBUG) return;
    if ((int)level > (int)tb_log_get_level()) return;

    char line[2048];
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    localtime_r(&ts.tv_sec, &tm);
    static const char *const tags[] = {"ERROR", "WARN ", "INFO ", "DEBUG"};
    int n = snprintf(line, sizeof line,
                     "%04d-%02d-%02d %02d:%02d:%02d.%03ld %s %s: ", tm.tm_year + 1900,
                     tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     ts.tv_nsec / 1000000, tags[level], component ? component : "tagbase");
    if (n < 0) return;
    /* A header longer than the line (a very long component name) is cut, leaving room for a
     * message; without this the size below would wrap around. */
    if ((size_t)n > sizeof line / 2) n = (int)(sizeof line / 2);
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
    va_end(ap);
    if (m < 0) return;
    size_t len = (size_t)n + (size_t)m;
    if (len > sizeof line - 2) len = sizeof line - 2;
    line[len++] = '\n';

    pthread_mutex_lock(&g_stream_mu);
    if (g_stream) {
        fwrite(line, 1, len, g_stream);
        fflush(g_stream);
    } else {
        ssize_t w = write(STDERR_FILENO, line, len);
        (void)w; /* nothing sensible to do when stderr is gone */
    }
    pthread_mutex_unlock(&g_stream_mu);
}
