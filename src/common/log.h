/* log.h — levelled logging to stderr. Callers never pass personal data in clear (see mask.h). */
#ifndef TB_COMMON_LOG_H
#define TB_COMMON_LOG_H

#include <stdio.h>
#include "tagbase.h"

/* Writes one line "2026-11-21 10:00:00.123 INFO  component: message" when `level` is enabled.
 * Thread-safe: one write(2) per line. A level outside TB_LOG_ERROR..TB_LOG_DEBUG is ignored; lines
 * longer than 2 KiB are cut. */
void tb__log(tb_log_level level, const char *component, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Redirects log lines to `f` (NULL restores stderr). For tests. */
void tb__log_set_stream(FILE *f);

#define tb__log_error(comp, ...) tb__log(TB_LOG_ERROR, comp, __VA_ARGS__)
#define tb__log_warn(comp, ...)  tb__log(TB_LOG_WARN, comp, __VA_ARGS__)
#define tb__log_info(comp, ...)  tb__log(TB_LOG_INFO, comp, __VA_ARGS__)
#define tb__log_debug(comp, ...) tb__log(TB_LOG_DEBUG, comp, __VA_ARGS__)

#endif
