/* err.c — error names and detail messages. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "err.h"

const char *tb_strerror(int rc)
{
    switch (rc) {
    case TB_OK:
        return "success";
    case TB_ERR:
        return "unspecified failure";
    case TB_ENOMEM:
        return "out of memory";
    case TB_EINVAL:
        return "invalid argument";
    case TB_EIO:
        return "input/output error";
    case TB_ENOENT:
        return "not found";
    case TB_EEXIST:
        return "already exists";
    case TB_EBUSY:
        return "locked by another process";
    case TB_ECORRUPT:
        return "stored data is corrupt";
    case TB_EFORMAT:
        return "input does not follow its format";
    case TB_EVERSION:
        return "incompatible version";
    case TB_ERANGE:
        return "value out of range";
    case TB_ESTORE:
        return "meta store failure";
    case TB_EPERM:
        return "not permitted";
    case TB_ENOTSUP:
        return "not supported";
    case TB_ELIMIT:
        return "limit exceeded";
    default:
        return "unknown error";
    }
}

static void vset(tb__errbuf *eb, int code, int errnum, const char *fmt, va_list ap)
{
    eb->code = code;
    int n = vsnprintf(eb->msg, sizeof eb->msg, fmt, ap);
    if (n < 0) {
        eb->msg[0] = '\0';
        n = 0;
    }
    if (errnum && (size_t)n < sizeof eb->msg)
        snprintf(eb->msg + n, sizeof eb->msg - (size_t)n, ": %s", strerror(errnum));
}

int tb__seterr(tb__errbuf *eb, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vset(eb, code, 0, fmt, ap);
    va_end(ap);
    return code;
}

int tb__seterr_errno(tb__errbuf *eb, int code, int errnum, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vset(eb, code, errnum, fmt, ap);
    va_end(ap);
    return code;
}

void tb__clearerr(tb__errbuf *eb)
{
    eb->code = 0;
    eb->msg[0] = '\0';
}

void tb__copyerr(const tb__errbuf *eb, char *dst, size_t len)
{
    if (!dst || len == 0) return;
    snprintf(dst, len, "%s", eb->msg[0] ? eb->msg : tb_strerror(eb->code));
}
