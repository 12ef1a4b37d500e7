/* fuzz_expr.c — libFuzzer target for the expression language (src/segments/expr*.c). The first
 * byte picks the input's form: text in segment mode, text in rule mode, or the JSON form; the
 * rest is the input. What parses must print canonically and read back as an equal tree (text,
 * and JSON for segment expressions), and must evaluate against a row of varied values without
 * anything but 0 or a clean TB_EINVAL. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "segments/expr.h"

/* A value for each name, chosen by a hash of the name and the input's seed: every type shows up,
 * strings that are dates and strings that are not, extremes of integers and days. */
static int fuzz_get(const tb__expr *id, void *ctx, tb__xval *out)
{
    uint32_t h = *(const uint32_t *)ctx;
    for (size_t i = 0; i < id->text_len; i++)
        h = (h ^ (unsigned char)id->text[i]) * 16777619u;
    static const char *const strs[] = {"2024-02-29",          "19900615", "L4", "",
                                       "2024-06-15 08:00:00", "x"};
    static const int64_t ints[] = {0, 1, -1, 42, INT64_MAX, INT64_MIN, 11016, -719468};
    memset(out, 0, sizeof *out);
    switch (h % 7) {
    case 0:
        out->type = TB__XV_NULL;
        break;
    case 1:
        out->type = TB__XV_BOOL;
        out->i = (h >> 3) & 1;
        break;
    case 2:
        out->type = TB__XV_INT;
        out->i = ints[(h >> 3) % 8];
        break;
    case 3:
        out->type = TB__XV_NUM;
        out->d = (h >> 4) & 1 ? 2.5 : -1e308;
        break;
    case 4:
        out->type = TB__XV_STR;
        out->s = strs[(h >> 3) % 6];
        out->slen = strlen(out->s);
        break;
    case 5:
        out->type = TB__XV_DATE;
        out->i = ints[(h >> 3) % 8];
        break;
    default:
        out->type = TB__XV_TIME;
        out->i = ints[(h >> 3) % 8];
        break;
    }
    return 0;
}

static int fuzz_segment(const tb__expr *call, void *ctx)
{
    (void)ctx;
    return call->kid[0]->text_len & 1;
}

static void check_eval(const tb__expr *e, uint32_t seed)
{
    tb__expr_env env = {fuzz_get, fuzz_segment, &seed, 19889, 28800};
    tb__errbuf eb = {0};
    tb__xval v;
    int rc = tb__expr_eval(e, &env, &v, &eb);
    if (rc != 0 && rc != TB_EINVAL) __builtin_trap();
    if (rc == 0 && e->kind <= TB__X_ISNULL && v.type != TB__XV_BOOL) __builtin_trap();
    rc = tb__expr_test(e, &env, &eb);
    if (rc != 0 && rc != 1 && rc != TB_EINVAL) __builtin_trap();
}

static void check_text(const tb__expr *e, tb__expr_mode mode, tb__arena *a)
{
    tb__buf b = TB__BUF_INIT;
    if (tb__expr_to_text(e, &b) != 0) __builtin_trap();
    tb__expr *back;
    tb__expr_error err;
    if (tb__expr_parse(b.data, b.len, mode, a, &back, &err) != 0) __builtin_trap();
    if (!tb__expr_equal(e, back)) __builtin_trap();
    tb__buf_release(&b);
}

static void check_json(const tb__expr *e, tb__arena *a)
{
    json_t *j = tb__expr_to_json(e);
    if (!j) __builtin_trap(); /* every segment-mode tree has a JSON form */
    char *s = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    if (!s) __builtin_trap();
    j = json_loads(s, 0, NULL);
    free(s);
    if (!j) __builtin_trap();
    tb__expr *back;
    tb__expr_error err;
    if (tb__expr_parse_json(j, a, &back, &err) != 0) __builtin_trap();
    if (!tb__expr_equal(e, back)) __builtin_trap();
    json_decref(j);
}

static void suggest(tb__expr *node, void *arg)
{
    static const char *const cands[] = {"age", "aum_level", "资产等级", "churn_high"};
    (void)arg;
    if (node->kind == TB__X_IDENT) tb__expr_nearest(node->text, cands, 4);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    int form = data[0] % 3;
    uint32_t seed = data[0];
    const char *src = (const char *)data + 1;
    size_t len = size - 1;
    tb__arena a;
    tb__arena_init(&a, 0);
    tb__expr *e = NULL;
    tb__expr_error err;
    tb__expr_mode mode = form == 1 ? TB__EXPR_RULE : TB__EXPR_SEGMENT;
    int rc;
    if (form == 2) {
        json_t *j = json_loadb(src, len, 0, NULL);
        if (!j) goto out;
        rc = tb__expr_parse_json(j, &a, &e, &err);
        json_decref(j);
    } else {
        rc = tb__expr_parse(src, len, mode, &a, &e, &err);
        if (rc == 0) {
            tb__expr_fail(src, len, e, &err, "fuzz %s", "check");
        } else if (err.pos > len) {
            __builtin_trap();
        }
    }
    if (rc != 0) {
        if (rc != TB_EFORMAT || e || !err.text[0]) __builtin_trap();
        goto out;
    }
    check_text(e, mode, &a);
    if (mode == TB__EXPR_SEGMENT) check_json(e, &a);
    tb__expr_walk(e, suggest, NULL);
    check_eval(e, seed);
    check_eval(e, seed * 2654435761u);
out:
    tb__arena_release(&a);
    return 0;
}
