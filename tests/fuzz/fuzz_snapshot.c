/* fuzz_snapshot.c — libFuzzer target for src/store/snapshot.c: arbitrary bytes as a column file
 * (through the validating parser on memory, then every value and dictionary string is touched and
 * the checksum checked) or, when the input starts with '{', as the manifest.json of a snapshot
 * directory holding valid column files (opened, every column read, verified). Neither may crash,
 * read out of bounds or leak. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/err.h"
#include "store/snapshot.h"
#include "tagbase.h"

static volatile uint64_t g_sink; /* keeps the reads of values from being optimised away */

static void touch(const tb__snap_col *c)
{
    uint64_t acc = 0;
    size_t len;
    for (uint64_t i = 0; i < c->nrows; i++) {
        switch (c->type) {
        case TB__SNAP_I64:
            acc += (uint64_t)((const int64_t *)c->values)[i];
            break;
        case TB__SNAP_I32:
            acc += (uint64_t)((const int32_t *)c->values)[i];
            break;
        case TB__SNAP_U8:
            acc += ((const uint8_t *)c->values)[i];
            break;
        case TB__SNAP_DICT: {
            /* Codes are untrusted until verify: dict_str must bound them itself. */
            const char *s = tb__snap_dict_str(c, ((const uint32_t *)c->values)[i], &len);
            if (s && len) acc += (unsigned char)s[len - 1];
            break;
        }
        }
    }
    for (uint32_t k = 0; k <= c->ndict; k++) {
        const char *s = tb__snap_dict_str(c, k, &len);
        if (s && len) acc += (unsigned char)s[0] + (unsigned char)s[len - 1];
        if (!s && len) __builtin_trap();
    }
    g_sink += acc;
}

static void fuzz_column(const uint8_t *data, size_t size)
{
    /* Mappings are page-aligned; give the parser the same (malloc is 16-byte aligned). */
    void *buf = malloc(size ? size : 1);
    if (!buf) return;
    if (size) memcpy(buf, data, size);
    tb__errbuf eb = {0};
    tb__snap_col c;
    uint32_t crc;
    if (tb__snap_col_parse_safe(buf, size, "fuzz.col", &c, &crc, &eb) == 0) {
        touch(&c);
        (void)tb__snap_col_check_safe(buf, size, "fuzz.col", &c, crc, &eb);
    } else if (eb.code != TB_ECORRUPT && eb.code != TB_EVERSION) {
        __builtin_trap();
    }
    free(buf);
}

static char g_dir[64];
static char g_manifest[96];

/* A snapshot directory with valid columns of every type, made once per process. */
static int make_dir(void)
{
    if (g_dir[0]) return 0;
    char tmpl[] = "/tmp/tb-fuzz-snap-XXXXXX";
    if (!mkdtemp(tmpl)) return -1;
    snprintf(g_dir, sizeof g_dir, "%s/s", tmpl);
    snprintf(g_manifest, sizeof g_manifest, "%s/%s", g_dir, TB__SNAP_MANIFEST);
    tb__errbuf eb = {0};
    tb__snap_writer *w;
    int64_t a[3] = {1, INT64_MIN, 3};
    int32_t b[3] = {1, 2, INT32_MIN};
    uint8_t u[3] = {0, 0xFF, 7};
    uint32_t codes[3] = {1, 0, 2};
    const char *dict[3] = {NULL, "张三", "x"};
    uint32_t dl[3] = {0, 6, 1};
    if (tb__snap_writer_open(g_dir, 3, &w, &eb)) return -1;
    if (tb__snap_put_i64(w, "a", a, NULL) || tb__snap_put_i32(w, "b", b, "{\"k\":1}") ||
        tb__snap_put_u8(w, "u", u, NULL) || tb__snap_put_dict(w, "d", codes, dict, dl, 3, NULL)) {
        tb__snap_writer_abort(w);
        return -1;
    }
    if (tb__snap_writer_commit(w, NULL, &eb)) return -1;
    chmod(g_manifest, 0644);
    return 0;
}

static void fuzz_manifest(const uint8_t *data, size_t size)
{
    if (make_dir()) return;
    unlink(g_manifest);
    FILE *f = fopen(g_manifest, "wb");
    if (!f) return;
    fwrite(data, 1, size, f);
    fclose(f);
    tb__errbuf eb = {0};
    tb__snap *s = NULL;
    if (tb__snap_open(g_dir, &s, &eb) == 0) {
        tb__snap_col c;
        for (size_t i = 0; i < tb__snap_ncolumns(s); i++) {
            if (tb__snap_column_at(s, i, &c)) __builtin_trap();
            if (c.nrows != tb__snap_nrows(s)) __builtin_trap();
            touch(&c);
            tb__snap_col d;
            if (tb__snap_column(s, c.name, &d) || d.values != c.values) __builtin_trap();
        }
        (void)tb__snap_verify(s, &eb);
        tb__snap_close(s);
    } else if (s) {
        __builtin_trap();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size && data[0] == '{')
        fuzz_manifest(data, size);
    else
        fuzz_column(data, size);
    return 0;
}
