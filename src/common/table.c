/* table.c — zeroed, pre-faulted memory for large hash tables (table.h). */
#include <errno.h>
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

#include "common/table.h"
#include "tagbase.h"

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23 /* Linux 5.14; older headers lack it, older kernels say EINVAL */
#endif

#define HUGE_MIN ((size_t)4 << 20) /* below this, 4 KiB pages cover a table from the TLB anyway */

static size_t page_size(void)
{
    long n = sysconf(_SC_PAGESIZE);
    return n > 0 ? (size_t)n : 4096;
}

void *tb__table_map(size_t bytes)
{
    if (!bytes) bytes = 1;
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return NULL;
    /* A probe lands at random in a table of hundreds of megabytes: with 4 KiB pages nearly every
     * probe misses the TLB too and walks the page tables. Debian's kernel gives transparent huge
     * pages only to regions that ask (enabled=madvise), so ask before the first fault. A
     * 10M-customer load (75M transactions, a 2 GiB duplicate-key map): that file's worker 51.4 s
     * of CPU with 4 KiB pages, 37.8 s with 2 MiB ones (bench/RESULTS.md). The advice may be
     * refused; the pages are 4 KiB ones then. */
    if (bytes >= HUGE_MIN) (void)madvise(p, bytes, MADV_HUGEPAGE);
    return p;
}

void *tb__table_alloc(size_t bytes)
{
    if (!bytes) bytes = 1;
    if (bytes < HUGE_MIN) {
        /* MAP_POPULATE faults a private writable mapping in for writing: every page is a page of
         * its own from the start. Where it cannot populate, pages fault in later as usual. */
        void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
        return p == MAP_FAILED ? NULL : p;
    }
    /* MAP_POPULATE would fault 4 KiB pages in before the huge-page advice. Written page by page
     * rather than with MADV_POPULATE_WRITE: that holds the process's mapping lock for the whole
     * call, and faulting in a gigabyte takes seconds here (the host backs fresh pages on first
     * touch), so every other thread's mmap or munmap (a malloc or free of a large block) waited
     * for it, and their page faults behind those. A page fault holds a lock only while it runs
     * (since Linux 6.4 only its own mapping's). With huge pages, one write in 512 faults. */
    char *p = tb__table_map(bytes);
    if (p) tb__table_touch(p, bytes);
    return p;
}

void tb__table_touch(void *p, size_t bytes)
{
    volatile char *v = p;
    size_t page = page_size();
    for (size_t at = 0; at < bytes; at += page)
        v[at] = 0;
}

size_t tb__table_page(void)
{
    return page_size();
}

/* The whole pages inside [p, p + bytes): *len 0 when none. */
static void *whole_pages(void *p, size_t bytes, size_t *len)
{
    uintptr_t page = page_size();
    uintptr_t from = ((uintptr_t)p + page - 1) & ~(page - 1),
              to = ((uintptr_t)p + bytes) & ~(page - 1);
    *len = to > from ? to - from : 0;
    return (void *)from;
}

void tb__table_huge(void *p, size_t bytes)
{
    if (!p || bytes < HUGE_MIN) return;
    size_t len;
    void *from = whole_pages(p, bytes, &len);
    if (len) (void)madvise(from, len, MADV_HUGEPAGE);
}

void tb__table_free(void *p, size_t bytes)
{
    if (p) munmap(p, bytes ? bytes : 1);
}

int tb__table_populate(void *p, size_t bytes)
{
    size_t len;
    void *from = p ? whole_pages(p, bytes, &len) : NULL;
    if (!from || !len || madvise(from, len, MADV_POPULATE_WRITE) == 0) return 0;
    return errno == EINVAL ? TB_ENOTSUP : TB_EINVAL;
}
