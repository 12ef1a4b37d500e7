/* realtime.h — real-time tags: rules over incoming events (an event, conditions on its properties,
 * how many within how long) that put a customer into a tag for a while. The collector feeds every
 * accepted event through tb__rt_observe under its lock; members are published to
 * <data>/events/realtime.bin, which the segment engine reads (tb__rt_members), so a tag set by an
 * event is seen by segment counts within a second. State survives restarts in the collector's
 * checkpoint plus the log replay. docs/events.md, "Real-time tags". */
#ifndef TB_EVENTS_REALTIME_H
#define TB_EVENTS_REALTIME_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "common/buf.h"
#include "common/err.h"

typedef struct tb__rt tb__rt;

/* Rules as JSON text (NULL: none yet). Errors: TB_EFORMAT with the rule and field, TB_ENOMEM. */
int tb__rt_create(const char *events_dir, const char *rules, tb__rt **out, tb__errbuf *eb);
void tb__rt_free(tb__rt *rt);

/* One accepted event of person `root` (its root person) at ts_ms. */
void tb__rt_observe(tb__rt *rt, uint32_t root, const char *event, const char *props, size_t plen,
                    int64_t ts_ms);

/* Writes the members (persons mapped to customers through parent/gid) to realtime.bin when they
 * changed and a quarter second has passed since the last write, or always when `force`. */
void tb__rt_publish(tb__rt *rt, const uint32_t *parent, const uint32_t *gid, size_t npersons,
                    int force);

/* Forgets every window and membership of the persons with gone[root] != 0 (erasure). */
void tb__rt_forget(tb__rt *rt, const uint8_t *gone, size_t npersons);

/* The state (windows and memberships) into / out of the collector's checkpoint. */
int tb__rt_save(const tb__rt *rt, tb__buf *b);
int tb__rt_load(tb__rt *rt, const uint8_t *p, size_t n);

/* {rules, members per tag} for status output (new reference). */
json_t *tb__rt_status(const tb__rt *rt);

/* The customers (internal ids, ascending, no duplicates) in real-time tag `code` at `now_ms`,
 * from <data_dir>/events/realtime.bin. *gids is malloc'd (caller frees); *n = 0 and TB_ENOENT
 * when the file or the tag is absent. TB_ECORRUPT for a damaged file. Safe on any bytes. */
int tb__rt_members(const char *data_dir, const char *code, int64_t now_ms, uint32_t **gids,
                   size_t *n, tb__errbuf *eb);
/* The same over a file's bytes (for the fuzzer). */
int tb__rt_members_parse(const uint8_t *p, size_t len, const char *code, int64_t now_ms,
                         uint32_t **gids, size_t *n, tb__errbuf *eb);

#endif
