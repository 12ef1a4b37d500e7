/* clock.h — the bank's time: timestamps as text in Asia/Shanghai (yyyy-MM-dd HH:mm:ss).
 * China has kept UTC+8 without daylight saving since 1991, so a fixed offset is exact for any
 * time we record; the process's TZ setting never changes what is stored. */
#ifndef TB_COMMON_CLOCK_H
#define TB_COMMON_CLOCK_H

#include <stdint.h>
#include <time.h>

#define TB__TIME_TEXT_LEN 20 /* "2026-11-21 10:00:00" and its NUL */

/* Writes `t` as "yyyy-MM-dd HH:mm:ss" in Asia/Shanghai into out. Returns out. Thread-safe. */
char *tb__time_text(time_t t, char out[TB__TIME_TEXT_LEN]);

#define TB__DATE_TEXT_LEN 16 /* "2026-11-21" and its NUL, with room to spare */

/* Writes day number `days` (since 1970-01-01) as "yyyy-MM-dd" into out. Returns out. The one
 * date formatter of the code base (views, exports, profiles, tag statistics). Thread-safe. */
char *tb__date_text(int64_t days, char out[TB__DATE_TEXT_LEN]);

/* The current time, as tb__time_text. */
char *tb__now_text(char out[TB__TIME_TEXT_LEN]);

/* Days since 1970-01-01 of a proleptic Gregorian date and back (H. Hinnant's algorithms, in 64
 * bits so that no input overflows days_from_civil; civil_from_days' callers keep z within
 * ±10^12). The one pair of civil-date conversions of the code base. */
int64_t tb__days_from_civil(int64_t y, unsigned m, unsigned d);
void tb__civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d);

/* Seconds elapsed on CLOCK_MONOTONIC since `t0` (taken with clock_gettime(CLOCK_MONOTONIC)):
 * the one stopwatch of the code base's phase timings. */
double tb__seconds_since(const struct timespec *t0);

/* Milliseconds since the epoch (the wall clock). */
int64_t tb__now_ms(void);

#endif
