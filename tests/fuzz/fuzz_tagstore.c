/* fuzz_tagstore.c — libFuzzer target for src/tags/tagstore.c: arbitrary bytes as the manifest.json
 * of a tag store directory whose files are valid (a boolean, an enum and a numeric tag, the
 * universe and the customer numbers, written once by the real writer). The store is opened with
 * the trust it has in production (bitmap payloads unchecked until verify), then every value of
 * every customer, a range over each chunk and the customer numbers are read, and the store is
 * verified. Nothing may crash, read out of bounds or leak; a manifest that points outside a file
 * or at the wrong bytes must be refused.
 * Input: 'M' then the manifest's bytes as they are; anything else is a list of edits (2-byte
 * offset, 1 byte) applied to the valid manifest, so that mutations stay near a real store. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/err.h"
#include "store/file.h"
#include "tags/tagstore.h"

#define N 70000u

static char g_dir[64];
static char *g_valid; /* the valid manifest */
static size_t g_valid_len;
static volatile uint64_t g_sink;

static void cleanup(void)
{
    tb__rm_tree(g_dir);
    free(g_valid);
}

static void build_once(void)
{
    if (g_dir[0]) return;
    atexit(cleanup);
    snprintf(g_dir, sizeof g_dir, "/tmp/fuzz-tagstore-%d", (int)getpid());
    char store[128];
    snprintf(store, sizeof store, "%s", g_dir);
    tb__errbuf eb;
    tb__tagw *w;
    if (tb__tagw_open(store, N, &w, &eb)) abort();
    tb__bm_builder *live, *t, *f, *e[3];
    tb__bsi_builder *b;
    tb__bm_builder_create(N, &live);
    tb__bm_builder_create(N, &t);
    tb__bm_builder_create(N, &f);
    for (int k = 0; k < 3; k++)
        tb__bm_builder_create(N, &e[k]);
    tb__bsi_builder_create(N, &b);
    uint64_t *offs = malloc((N + 1) * sizeof *offs);
    char *blob = malloc(N * 4 + 1);
    for (uint32_t g = 0; g < N; g++) {
        offs[g] = (uint64_t)g * 4;
        memcpy(blob + g * 4, g % 3 ? "C001" : "C002", 4);
        if (g % 11 == 3) continue;
        tb__bm_set(live, g);
        tb__bm_set(g % 1000 == 1 ? t : f, g);
        tb__bm_set(e[g % 3], g);
        if (g % 5) tb__bsi_put(b, g, (int64_t)(g % 977) - 400);
    }
    offs[N] = (uint64_t)N * 4;
    const char *bv[2] = {"true", "false"}, *ev[3] = {"x", "y", "z"};
    tb__bm_builder *bb[2] = {t, f};
    tb__tag_meta mb = {"flag", "标志", "flag", TB__TT_RULE, TB__TV_BOOL,
                       0,      1,      "C1",   2,           "[\"a.b\"]"};
    tb__tag_meta me = {"level", "等级", "level", TB__TT_FACT, TB__TV_ENUM, 0, 1, "C2", 3, NULL};
    tb__tag_meta mn = {"amount", "金额", "amount", TB__TT_STATISTICAL, TB__TV_DECIMAL, 2, 1,
                       "C2",     3,      NULL};
    if (tb__tagw_put_universe(w, live, &eb) || tb__tagw_put_keys(w, blob, offs, &eb) ||
        tb__tagw_put_values(w, &mb, bv, bb, 2, &eb) || tb__tagw_put_values(w, &me, ev, e, 3, &eb) ||
        tb__tagw_put_bsi(w, &mn, b, &eb) || tb__tagw_commit(w, NULL, NULL, &eb))
        abort();
    tb__bm_builder_free(live);
    tb__bm_builder_free(t);
    tb__bm_builder_free(f);
    for (int k = 0; k < 3; k++)
        tb__bm_builder_free(e[k]);
    tb__bsi_builder_free(b);
    free(offs);
    free(blob);
    char from[160];
    snprintf(from, sizeof from, "%s/manifest.json", g_dir);
    if (tb__file_read_all(from, 1 << 20, &g_valid, &g_valid_len, &eb)) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    build_once();
    char path[160];
    snprintf(path, sizeof path, "%s/manifest.json", g_dir);
    FILE *fp = fopen(path, "wb");
    if (!fp) abort();
    if (size && data[0] == 'M') {
        fwrite(data + 1, 1, size - 1, fp);
    } else {
        char *m = malloc(g_valid_len + 1);
        memcpy(m, g_valid, g_valid_len);
        for (size_t i = 0; i + 3 <= size && g_valid_len; i += 3)
            m[((size_t)data[i] << 8 | data[i + 1]) % g_valid_len] = (char)data[i + 2];
        fwrite(m, 1, g_valid_len, fp);
        free(m);
    }
    fclose(fp);
    tb__errbuf eb;
    tb__tagset *ts;
    if (tb__tagset_open(g_dir, &ts, &eb) != 0) return 0;
    uint64_t acc = 0, n = tb__tagset_nrows(ts);
    uint64_t *out = malloc(TB__BM_CHUNK_WORDS * 8), *scr = malloc(TB__BSI_SCRATCH_WORDS * 8);
    for (size_t i = 0; i < tb__tagset_ntags(ts); i++) {
        const tb__tagv *t = tb__tagset_tag_at(ts, i);
        for (uint64_t g = 0; g < n + 3 && g < 2 * N; g += 7) {
            int64_t v;
            const char *s;
            int r = tb__tagv_get(t, g, &v, &s);
            acc += r == 1 ? (uint64_t)v : r == 2 ? (unsigned char)s[0] : 0;
        }
        if (t->bsi)
            for (uint32_t c = 0; c < t->bsi->notnull.nchunks; c++) {
                tb__bsi_range_words(t->bsi, c, TB__BSI_BETWEEN, -10, 300, out, scr);
                acc += out[c % TB__BM_CHUNK_WORDS];
            }
        acc += tb__tagv_value_index(t, "x", 1) + 1;
    }
    for (uint64_t g = 0; g < n + 3 && g < 2 * N; g += 13) {
        size_t len;
        const char *k = tb__tagset_key(ts, g, &len);
        if (k && len) acc += (unsigned char)k[len - 1];
    }
    acc += tb__tagset_find(ts, "等级") != NULL;
    tb__tagset_verify(ts, &eb);
    free(out);
    free(scr);
    tb__tagset_close(ts);
    g_sink += acc;
    return 0;
}
