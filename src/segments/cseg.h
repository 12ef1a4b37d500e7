/* cseg.h — saved segments (客群) and the query context every segment operation runs in: one data
 * directory handle, the tag store of one batch date, and the memberships of saved segments loaded
 * for segment('name'). The public functions (tb_seg_*, tb_customer_360, tb_tag_build) are built
 * on it in cseg.c, profile.c and export.c.
 *
 * Membership of a saved segment at a batch date is a serialised bitmap (tags/bitmap.h) in
 * segments/<batch>/<hex of the name>.bm, recorded in cseg_member; dynamic segments get one per
 * tag build (their expression evaluated again), imported (static) ones carry their customers
 * forward, limited to the live ones.
 *
 * Ownership: a context is created by tb__segctx_open and freed by tb__segctx_close; views it hands
 * out are borrowed from it. Not thread-safe (one per request). */
#ifndef TB_SEGMENTS_CSEG_H
#define TB_SEGMENTS_CSEG_H

#include <stdint.h>

#include "common/arena.h"
#include "common/err.h"
#include "segments/eval.h"
#include "tags/tagstore.h"
#include "tagbase.h"

typedef struct tb__segctx tb__segctx;

/* Opens the tag store of o->as_of (NULL or as_of NULL: the newest built batch) for a caller
 * limited to o->scope: the context's universe is then the live customers of that scope, and
 * every query, membership and look-up through the context stays inside it. */
int tb__segctx_open(tb_db *db, const tb_seg_opts *o, tb__segctx **out, tb__errbuf *eb);
/* The customers the context may see (the store's universe when unscoped). */
const tb__bmv *tb__segctx_universe(const tb__segctx *c);
void tb__segctx_close(tb__segctx *c);
/* Forgets the process-wide cached open tag store of `dir` (the absolute path it was opened by):
 * unmapped at once when no context uses it, else when the last one closes; later contexts open
 * whatever the meta store then names. An erasure calls it for every store it replaced, so a
 * running server never serves the old bytes again. Thread-safe. */
void tb__tagset_cache_drop(const char *dir);

const tb__tagset *tb__segctx_tags(const tb__segctx *c);
const char *tb__segctx_batch(const tb__segctx *c);

/* Parses (text, or the JSON form when is_json) and binds `expr`; *q lives in the context. On a
 * parse or binding error: TB_EFORMAT with the caret text in eb. */
int tb__segctx_compile(tb__segctx *c, const char *expr, int is_json, tb__query **q, tb__expr **e,
                       tb__errbuf *eb);

/* The members of saved segment `name` at the context's batch. */
int tb__segctx_members(tb__segctx *c, const char *name, const tb__bmv **out, tb__errbuf *eb);

/* Evaluates every dynamic segment for the context's batch and carries static ones forward
 * (after a tag build). */
int tb__segctx_refresh(tb__segctx *c, tb__errbuf *eb);

/* Saves a static segment `name` whose members at the context's batch are the ids set in `b`
 * (over the store's ids; carried to later batches like an imported list): the customers a funnel
 * step converted or dropped. *count: its size. TB_EEXIST when the name is taken, TB_EINVAL for a
 * bad name. The context must be unscoped and its handle writable. */
int tb__seg_save_bitmap(tb__segctx *c, const char *name, const tb__bm_builder *b, const char *user,
                        const char *description, uint64_t *count, tb__errbuf *eb);

#endif
