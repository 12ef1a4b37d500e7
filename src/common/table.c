/* table.c — zeroed, pre-faulted memory for large hash tables (table.h). */
#include <sys/mman.h>

#include "common/table.h"

void *tb__table_alloc(size_t bytes)
{
    if (!bytes) bytes = 1;
    /* MAP_POPULATE faults a private writable mapping in for writing: every page is a page of its
     * own from the start. Where it cannot populate, pages fault in later as usual. */
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE,
                   -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

void tb__table_free(void *p, size_t bytes)
{
    if (p) munmap(p, bytes ? bytes : 1);
}
