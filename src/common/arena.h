/* arena.h — a bump allocator: many small allocations freed in one call (a pool per request). */
#ifndef TB_COMMON_ARENA_H
#define TB_COMMON_ARENA_H

#include <stddef.h>

typedef struct tb__arena_block tb__arena_block;

/* Embed or declare on the stack, zero-initialise with tb__arena_init, release with
 * tb__arena_release. Not thread-safe. */
typedef struct tb__arena {
    tb__arena_block *head; /* current block; older blocks chain behind it */
    size_t block_size;     /* default size of new blocks */
    size_t used;           /* bytes handed out, for statistics */
} tb__arena;

/* Prepares an empty arena whose blocks are `block_size` bytes (0: 64 KiB). Allocates nothing. */
void tb__arena_init(tb__arena *a, size_t block_size);

/* Returns `n` bytes aligned for any type, or NULL when out of memory (or n overflows). The memory
 * belongs to the arena until tb__arena_reset or tb__arena_release. */
void *tb__arena_alloc(tb__arena *a, size_t n);

/* Like tb__arena_alloc but zeroed; NULL on overflow of n*size. */
void *tb__arena_calloc(tb__arena *a, size_t n, size_t size);

/* Copies `len` bytes of `s` and a NUL into the arena. NULL when out of memory. */
char *tb__arena_strndup(tb__arena *a, const char *s, size_t len);
char *tb__arena_strdup(tb__arena *a, const char *s);

/* printf into the arena. NULL when out of memory. */
char *tb__arena_printf(tb__arena *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Frees all but the first block and makes it empty again: cheap reuse between requests. */
void tb__arena_reset(tb__arena *a);

/* Frees every block. The arena may be used again afterwards (it starts empty). */
void tb__arena_release(tb__arena *a);

#endif
