/* clock.c — timestamps in Asia/Shanghai, independent of the process's time zone. */
#include <stdio.h>

#include "common/clock.h"

#define SHANGHAI_OFFSET (8 * 3600)

char *tb__time_text(time_t t, char out[TB__TIME_TEXT_LEN])
{
    time_t local = t + SHANGHAI_OFFSET;
    struct tm tm;
    gmtime_r(&local, &tm);
    /* Each field is reduced to its width so the compiler can see the text fits in 20 bytes. */
    snprintf(out, TB__TIME_TEXT_LEN, "%04u-%02u-%02u %02u:%02u:%02u",
             (unsigned)(tm.tm_year + 1900) % 10000u, (unsigned)(tm.tm_mon + 1) % 100u,
             (unsigned)tm.tm_mday % 100u, (unsigned)tm.tm_hour % 100u, (unsigned)tm.tm_min % 100u,
             (unsigned)tm.tm_sec % 100u);
    return out;
}

char *tb__now_text(char out[TB__TIME_TEXT_LEN])
{
    return tb__time_text(time(NULL), out);
}

char *tb__date_text(int64_t days, char out[TB__DATE_TEXT_LEN])
{
    time_t t = (time_t)days * 86400;
    struct tm tm;
    gmtime_r(&t, &tm);
    snprintf(out, TB__DATE_TEXT_LEN, "%04u-%02u-%02u", (unsigned)(tm.tm_year + 1900) % 10000u,
             (unsigned)(tm.tm_mon + 1) % 100u, (unsigned)tm.tm_mday % 100u);
    return out;
}
