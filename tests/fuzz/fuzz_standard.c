/* fuzz_standard.c — libFuzzer target for the data-standards parser (src/pipeline/standard.c). */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "pipeline/standard.h"

/* Parses the input; every accepted set must then be walkable and every index it holds in range,
 * and the validator must survive a row built from the input's own bytes. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    tb__standards *s;
    tb__errbuf eb = {0};
    if (tb__std_parse((const char *)data, size, "fuzz", &s, &eb) != 0) {
        if (s) __builtin_trap();
        return 0;
    }
    for (size_t i = 0; i < tb__std_ntypes(s); i++) {
        const tb__std_type *t = tb__std_type_at(s, i);
        if (tb__std_find(s, t->name) != t) __builtin_trap();
        for (size_t k = 0; k < t->nunique; k++)
            if (t->unique[k] < 0 || (size_t)t->unique[k] >= t->nfields) __builtin_trap();
        tb__field f[64];
        size_t n = t->nfields < 64 ? t->nfields : 64;
        for (size_t k = 0; k < n; k++) {
            size_t len = size > k ? (size - k) % 24 : 0;
            f[k].ptr = (const char *)data + (size > k ? k : 0);
            f[k].len = size > k && len <= size - k ? len : 0;
            f[k].is_null = (k & 3) == 3;
        }
        tb__record rec = {f, n, 1, 0, (const char *)data, size, 0};
        tb__std_verdict v;
        int rc = tb__std_check(t, &rec, &v);
        if (rc < 0 || rc >= TB__STD_RULE_COUNT) __builtin_trap();
    }
    tb__std_free(s);
    return 0;
}
