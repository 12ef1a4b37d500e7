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

/* H. Hinnant's days_from_civil, in 64 bits so that no input can overflow it. */
int64_t tb__days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    uint64_t yoe = (uint64_t)(y - era * 400);
    uint64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    uint64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

/* H. Hinnant's civil_from_days; z is clamped by callers to a range where it cannot overflow. */
void tb__civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    uint64_t doe = (uint64_t)(z - era * 146097);
    uint64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t yy = (int64_t)yoe + era * 400;
    uint64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    uint64_t mp = (5 * doy + 2) / 153;
    *d = (unsigned)(doy - (153 * mp + 2) / 5 + 1);
    *m = (unsigned)(mp < 10 ? mp + 3 : mp - 9);
    *y = yy + (*m <= 2);
}

double tb__seconds_since(const struct timespec *t0)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)(t.tv_sec - t0->tv_sec) + (double)(t.tv_nsec - t0->tv_nsec) / 1e9;
}

int64_t tb__now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
