/* eval.h — the segment evaluator: binds a segment expression (expr.h) to the tags of one tag
 * store (tags/tagstore.h) and evaluates it one chunk of 65,536 customers at a time, the whole
 * expression fused per chunk, so that every bitmap is read once and intermediate results stay in
 * the L1/L2 cache. Counts never materialise a bitmap; `tb__query_bitmap` does, for saving,
 * profiling and exporting. docs/expressions.md, "Evaluation", explains the plan.
 *
 * Binding rules (the errors name the character where the expression goes wrong):
 *  - a bare tag must be boolean; `tag = 'v'` and `in` need values the tag has (the error lists
 *    them); enum tags allow = != in, not in, is [not] null; ordering comparisons and between
 *    need numeric or date tags; dates are written '2026-11-21'; decimal tags compare in their
 *    unit (yuan for money);
 *  - segment('name') is resolved by the caller's resolver to a bitmap over the same store;
 *  - `not E` is the complement of E within the store's universe (the live customers).
 *
 * Ownership: a tb__query lives in the caller's arena (with the expression) and borrows the tagset
 * and the resolver's bitmaps, which must outlive it. tb__query_bitmap's builder: caller frees
 * with tb__bm_builder_free. Thread-safety: a compiled query is read-only; count and bitmap start
 * their own worker threads and may be called from several threads at once. */
#ifndef TB_SEGMENTS_EVAL_H
#define TB_SEGMENTS_EVAL_H

#include <stddef.h>
#include <stdint.h>

#include "common/arena.h"
#include "segments/expr.h"
#include "tags/bitmap.h"
#include "tags/tagstore.h"

typedef struct tb__query tb__query;

/* Resolves segment('name'): 0 and *out (a view that outlives the query), or a negative TB_E*
 * with the detail in eb (TB_ENOENT: no such segment). */
typedef int (*tb__seg_resolver)(const char *name, void *ctx, const tb__bmv **out, tb__errbuf *eb);

/* Binds expression `e`, parsed from src[0, srclen) (for error carets; NULL for JSON input), to
 * `ts`. `universe` (NULL: the store's) is the set the query selects from: a caller's scope; `not`
 * complements within it and no answer leaves it. TB_EFORMAT with *err filled for a binding error;
 * TB_ENOMEM. */
int tb__query_compile(const tb__tagset *ts, const tb__bmv *universe, const tb__expr *e,
                      const char *src, size_t srclen, tb__seg_resolver resolve, void *resolve_ctx,
                      tb__arena *a, tb__query **out, tb__expr_error *err);

/* The number of customers the query selects, with `threads` worker threads (0: one per core). */
int tb__query_count(const tb__query *q, int threads, uint64_t *out);

/* The customers the query selects, as a bitmap over the store's ids. */
int tb__query_bitmap(const tb__query *q, int threads, tb__bm_builder **out);

/* The codes of the tags the query reads (each once), for usage statistics. */
size_t tb__query_ntags(const tb__query *q);
const char *tb__query_tag(const tb__query *q, size_t i);

#endif
