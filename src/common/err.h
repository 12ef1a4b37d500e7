/* err.h — the detail-message half of the error model: a buffer each handle embeds. */
#ifndef TB_COMMON_ERR_H
#define TB_COMMON_ERR_H

#include <stddef.h>
#include "tagbase.h"

#define TB__ERRMSG_MAX 512

/* Embedded in every handle; msg is "" when the last call succeeded or set no detail. */
typedef struct tb__errbuf {
    int code;
    char msg[TB__ERRMSG_MAX];
} tb__errbuf;

/* Records code and a printf-style detail in `eb` and returns `code`, so callers can write
 * `return tb__seterr(&db->err, TB_EIO, "cannot open '%s': %s", path, strerror(errno));`.
 * Never pass personal data in clear: mask it first (mask.h). */
int tb__seterr(tb__errbuf *eb, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Like tb__seterr but appends ": <strerror(errnum)>" to the message. */
int tb__seterr_errno(tb__errbuf *eb, int code, int errnum, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Clears the buffer (code 0, empty message). */
void tb__clearerr(tb__errbuf *eb);

/* Copies the detail to a caller's buffer of `len` bytes (NUL-terminated, truncated). */
void tb__copyerr(const tb__errbuf *eb, char *dst, size_t len);

#endif
