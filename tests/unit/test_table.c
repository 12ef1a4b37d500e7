/* test_table.c — tests src/common/table.c: tables come zeroed and written (or, mapped only, are
 * faulted in by another thread later), the huge-page advice for growing arrays keeps their bytes
 * and marks their mapping, and faulting in ahead changes no byte. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <sys/mman.h>
#include <unistd.h>

#include "common/table.h"
#include "tagbase.h"

/* Whether this kernel has transparent huge pages at all: without them the advice is refused, as
 * the API allows, and only the bytes are checked. */
static int have_thp(void)
{
    FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "r");
    if (!f) {
        print_message("no transparent huge pages on this kernel: the advice is not checked\n");
        return 0;
    }
    fclose(f);
    return 1;
}

/* How many of the pages of [p, p + n) are resident (mincore), of *pages. */
static size_t resident_pages(const void *p, size_t n, size_t *pages)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    *pages = (n + page - 1) / page;
    unsigned char *vec = malloc(*pages);
    assert_non_null(vec);
    assert_int_equal(mincore((void *)p, n, vec), 0);
    size_t in = 0;
    for (size_t i = 0; i < *pages; i++)
        in += vec[i] & 1;
    free(vec);
    return in;
}

/* Whether every page of [p, p + n) is resident. */
static int resident(const void *p, size_t n)
{
    size_t pages;
    return resident_pages(p, n, &pages) == pages;
}

/* Whether the mapping holding `p` carries the huge-page advice ("hg" in its VmFlags). */
static int advised_huge(const void *p)
{
    FILE *f = fopen("/proc/self/smaps", "r");
    assert_non_null(f);
    char line[512];
    int inside = 0, hg = -1;
    while (hg < 0 && fgets(line, sizeof line, f)) {
        unsigned long lo, hi;
        if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2 && strchr(line, '-') < strchr(line, ' ')) {
            inside = (uintptr_t)p >= lo && (uintptr_t)p < hi;
            continue;
        }
        if (inside && strncmp(line, "VmFlags:", 8) == 0) hg = strstr(line, " hg") != NULL;
    }
    fclose(f);
    assert_true(hg >= 0); /* the mapping was found */
    return hg;
}

static void alloc_zeroed(void **state)
{
    (void)state;
    /* below and above the size from which huge pages are asked for */
    size_t sizes[] = {1, 4096, (size_t)3 << 20, (size_t)9 << 20};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        unsigned char *p = tb__table_alloc(sizes[i]);
        assert_non_null(p);
        assert_true(resident(p, sizes[i])); /* faulted in before it is handed out */
        for (size_t at = 0; at < sizes[i]; at += 511)
            assert_int_equal(p[at], 0);
        assert_int_equal(p[sizes[i] - 1], 0);
        memset(p, 0x5a, sizes[i]);
        assert_int_equal(p[sizes[i] - 1], 0x5a);
        tb__table_free(p, sizes[i]);
    }
    unsigned char *big = tb__table_alloc((size_t)9 << 20);
    if (have_thp()) assert_true(advised_huge(big + ((size_t)4 << 20)));
    tb__table_free(big, (size_t)9 << 20);
    tb__table_free(NULL, 0);
}

static void huge_keeps_bytes(void **state)
{
    (void)state;
    /* a malloc'd block, at an address that is not page-aligned (glibc's large blocks start 16
     * bytes into their mapping), filled before the advice */
    size_t n = (size_t)24 << 20;
    unsigned char *p = malloc(n);
    assert_non_null(p);
    for (size_t i = 0; i < n; i++)
        p[i] = (unsigned char)(i * 2654435761u >> 13);
    tb__table_huge(p, n);
    for (size_t i = 0; i < n; i++)
        if (p[i] != (unsigned char)(i * 2654435761u >> 13)) fail_msg("byte %zu changed", i);
    if (have_thp()) assert_true(advised_huge(p + n / 2));
    /* grown by realloc, advised again: still the same bytes */
    unsigned char *q = realloc(p, 2 * n);
    assert_non_null(q);
    tb__table_huge(q, 2 * n);
    for (size_t i = 0; i < n; i++)
        if (q[i] != (unsigned char)(i * 2654435761u >> 13)) fail_msg("byte %zu changed", i);
    memset(q + n, 1, n);
    free(q);
    /* small or absent: nothing happens */
    char small[64] = "kept";
    tb__table_huge(small, sizeof small);
    assert_string_equal(small, "kept");
    tb__table_huge(NULL, n);
}

/* Whether no page of [p, p + n) is resident. */
static int absent(const void *p, size_t n)
{
    size_t pages;
    return resident_pages(p, n, &pages) == 0;
}

/* Memory mapped for a later fault-in, faulted in ahead while it holds bytes: nothing changes,
 * and it is then resident. */
static void populate_keeps_bytes(void **state)
{
    (void)state;
    size_t n = (size_t)12 << 20, page = (size_t)sysconf(_SC_PAGESIZE);
    unsigned char *p = tb__table_map(n);
    assert_non_null(p);
    assert_true(absent(p, n)); /* nothing faulted in yet */
    if (have_thp()) assert_true(advised_huge(p + n / 2));
    /* the first part written, as an array is as it grows; the rest populated ahead of it, from
     * a place that is not on a page boundary (the writer is inside that page) */
    size_t used = 3 * page + 100;
    for (size_t i = 0; i < used; i++)
        p[i] = (unsigned char)(i * 2654435761u >> 13);
    int rc = tb__table_populate(p + 100, n - 100);
    if (rc == TB_ENOTSUP) { /* before Linux 5.14 the kernel cannot, and the API says so */
        print_message("MADV_POPULATE_WRITE unsupported: faulting in ahead is not checked\n");
    } else {
        assert_int_equal(rc, 0);
        assert_true(resident(p + 4 * page, n - 4 * page));
    }
    for (size_t i = 0; i < used; i++)
        if (p[i] != (unsigned char)(i * 2654435761u >> 13)) fail_msg("byte %zu changed", i);
    for (size_t i = used; i < n; i++)
        if (p[i]) fail_msg("byte %zu is not zero", i);
    /* a stretch without a whole page in it, or none: nothing to do */
    assert_int_equal(tb__table_populate(p + 10, 100), 0);
    assert_int_equal(tb__table_populate(NULL, n), 0);
    /* a part freed alone (as the look-up tables carved from one block are) */
    tb__table_free(p + n / 2, n / 2);
    /* memory that is no longer mapped: refused, nothing happens */
    if (rc == 0) assert_int_equal(tb__table_populate(p + n / 2, n / 2), TB_EINVAL);
    tb__table_free(p, n / 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(alloc_zeroed),
        cmocka_unit_test(huge_keeps_bytes),
        cmocka_unit_test(populate_keeps_bytes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
