/* evpart_int.h — what the event store's own files share (part.c, part_append.c, persons.c,
 * evset.c and the analyses): calendar helpers for local days and partition paths. */
#ifndef TB_EVENTS_EVPART_INT_H
#define TB_EVENTS_EVPART_INT_H

#include <stddef.h>
#include <stdint.h>

/* Day number (days since 1970-01-01) to a proleptic Gregorian date and back. */
void tb__ev_civil(int64_t z, int64_t *y, unsigned *m, unsigned *d);
int64_t tb__ev_days_from_civil(int64_t y, unsigned m, unsigned d);

/* Reads "YYYYMMDD" or "YYYY-MM-DD" (1970..9999, a real calendar day): 0 and *day, or -1. */
int tb__ev_parse_day(const char *s, int32_t *day);

/* "YYYY-MM-DD" of `day` into out; returns out. */
char *tb__ev_day_text(int32_t day, char out[16]);

/* <dir>/events/parts/YYYYMMDD.tbev into out: 0, or -1 when it does not fit. */
int tb__evpart_path(const char *dir, int32_t day, char *out, size_t len);

#endif
