/* evbehav.h — behaviour predicates of segment expressions evaluated from the event store
 * (evbehav.c), for the segment evaluator's resolver (segments/cseg.c). */
#ifndef TB_EVENTS_EVBEHAV_H
#define TB_EVENTS_EVBEHAV_H

#include <stdint.h>

#include "common/err.h"
#include "events/evcrypt.h"
#include "segments/expr.h"
#include "tags/bitmap.h"

/* The customers (gids < nbits) for whom `pred` holds: did('e'[, last N days]) (a CALL node) or
 * event('e'[, last N days]) <cmp> whole number (a CMP node), as parsed by tb__expr_parse. The
 * window is the N local days ending at `as_of` (days since 1970-01-01), inclusive; without one,
 * every partition up to `as_of`. `k`: the data directory's keys (sealed partitions). Events are
 * counted per customer over all its linked persons. *out: caller frees with tb__bm_builder_free.
 * TB_EINVAL (not such a predicate), TB_ENOMEM, or the loader's errors (TB_ECORRUPT for a damaged
 * partition). */
int tb__ev_behaviour(const char *dir, const tb__evkeys *k, const tb__expr *pred, int32_t as_of,
                     uint64_t nbits, tb__bm_builder **out, tb__errbuf *eb);

#endif
