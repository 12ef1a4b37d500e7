/* table.h — memory for large open-addressing tables: zeroed, and already written. */
#ifndef TB_COMMON_TABLE_H
#define TB_COMMON_TABLE_H

#include <stddef.h>

/* Returns `bytes` of zeroed memory whose pages are already mapped writable, or NULL when out of
 * memory. A probe reads a slot before an insert writes it: on memory from calloc (or from malloc
 * plus memset, which the compiler turns into calloc) the first read maps the shared zero page and
 * the first write then takes a copy-on-write fault that flushes the TLB of every thread of the
 * process. Caller frees with tb__table_free(p, bytes). Thread-safe. */
void *tb__table_alloc(size_t bytes);

/* tb__table_alloc's memory with no page faulted in yet: for a thread that faults it in a few
 * megabytes at a time (tb__table_populate) and so holds no lock for long. Zeroed as any new
 * mapping is. Same ownership. */
void *tb__table_map(size_t bytes);

/* Asks for transparent huge pages for the whole pages of [p, p + bytes) when it is large: for an
 * array that grows at its end (malloc, realloc) and is written as it grows, each fault then
 * brings 2 MiB, not 4 KiB (a 10M-customer load's serial applier took millions of faults on its
 * golden records, keys and strings). Advice only: it may be refused. Thread-safe. */
void tb__table_huge(void *p, size_t bytes);

/* Faults in [p, p + bytes) by writing a zero at each page's start (tb__table_alloc's way): only
 * for memory no other thread reads or writes meanwhile, and whose bytes there may be zeroed. */
void tb__table_touch(void *p, size_t bytes);

/* The system's page size. */
size_t tb__table_page(void);

/* Frees what tb__table_alloc returned, with the same `bytes`. NULL is a no-op. A part of it that
 * starts on a page boundary may be freed alone the same way. */
void tb__table_free(void *p, size_t bytes);

/* A stretch of memory: `n` bytes at `p`. */
typedef struct tb__span {
    void *p;
    size_t n;
} tb__span;

/* Faults in the whole pages inside [p, p + bytes) for writing without changing a byte of them
 * (MADV_POPULATE_WRITE), so that a thread may do it ahead of another one that writes there: the
 * writer then takes no fault, and on a virtual machine the first write to a page is what costs.
 * Returns 0; TB_ENOTSUP when the kernel cannot (before Linux 5.14); TB_EINVAL when a page there is
 * not mapped writable (the memory moved). Nothing is changed either way. Holds the process's
 * mapping lock for the call, so callers go a few megabytes at a time. Thread-safe. */
int tb__table_populate(void *p, size_t bytes);

#endif
