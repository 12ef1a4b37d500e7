/* fuzz_manifest.c — libFuzzer target for the batch manifest parser (src/pipeline/manifest.c). */
#include <stddef.h>
#include <stdint.h>

#include "pipeline/manifest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    tb__manifest m;
    tb__errbuf eb = {0};
    if (tb__manifest_parse((const char *)data, size, "fuzz", &m, &eb) == 0) {
        for (size_t i = 0; i < m.nfiles; i++) {
            /* Every accepted file name is a plain name: no path separators, no "..". */
            const char *n = m.files[i].name;
            for (const char *p = n; *p; p++)
                if (*p == '/') __builtin_trap();
        }
        tb__manifest_release(&m);
    }
    return 0;
}
