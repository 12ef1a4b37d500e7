/* cmd_gen.c — tagbase gen: parses options, runs the synthetic-bank generator, reports. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"

static const char usage[] =
    "--customers N --date YYYYMMDD --out DIR [--seed S] [--dirty RATE] [--format hive|csv]\n"
    "       [--threads N]\n"
    "\n"
    "  --customers N     bank customers to generate, 1..100000000\n"
    "  --date YYYYMMDD   batch (business) date\n"
    "  --out DIR         output directory; created if absent; must not hold a manifest.json\n"
    "  --seed S          random seed, 0..9007199254740991 (default 1); same seed, same bytes\n"
    "  --dirty RATE      share of extract rows with one injected defect, 0..0.5 (default 0)\n"
    "  --format F        hive (\\x01, \\N, no header; default) or csv (RFC 4180, BOM, header)\n"
    "  --threads N       worker threads, 0 = one per core (default 0); output is identical\n";

/* Splits "--name=value" or "--name value"; returns the value or NULL when it is missing. */
static const char *opt_value(int argc, char **argv, int *i, const char *name)
{
    const char *a = argv[*i];
    size_t n = strlen(name);
    if (strncmp(a, name, n) != 0) return NULL;
    if (a[n] == '=') return a + n + 1;
    if (a[n] != '\0') return NULL;
    if (*i + 1 >= argc) return "";
    return argv[++*i];
}

static int is_opt(const char *a, const char *name)
{
    size_t n = strlen(name);
    return strncmp(a, name, n) == 0 && (a[n] == '\0' || a[n] == '=');
}

static int bad(const char *opt, const char *expected, const char *got)
{
    fprintf(stderr, "tagbase gen: %s expects %s, got '%s'\n", opt, expected, got);
    return 2;
}

int tb__cmd_gen(int argc, char **argv)
{
    tb_gen_opts o = {0};
    o.seed = 1;
    o.format = TB_GEN_HIVE;
    int have_customers = 0, have_date = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        uint64_t u;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            printf("usage: tagbase gen %s", usage);
            return 0;
        } else if (is_opt(a, "--customers")) {
            v = opt_value(argc, argv, &i, "--customers");
            if (tb__cli_parse_u64(v, 1, 100000000, &u))
                return bad("--customers", "a whole number from 1 to 100000000", v);
            o.customers = u;
            have_customers = 1;
        } else if (is_opt(a, "--seed")) {
            v = opt_value(argc, argv, &i, "--seed");
            if (tb__cli_parse_u64(v, 0, 9007199254740991ULL, &u))
                return bad("--seed", "a whole number from 0 to 9007199254740991", v);
            o.seed = u;
        } else if (is_opt(a, "--date")) {
            v = opt_value(argc, argv, &i, "--date");
            if (strlen(v) != 8 || tb__cli_parse_u64(v, 20000101, 21991231, &u) ||
                !tb_valid_date((int)u))
                return bad("--date", "a calendar date YYYYMMDD from 20000101 to 21991231", v);
            o.batch_date = (int)u;
            have_date = 1;
        } else if (is_opt(a, "--out")) {
            v = opt_value(argc, argv, &i, "--out");
            if (!*v) return bad("--out", "a directory", v);
            o.out_dir = v;
        } else if (is_opt(a, "--dirty")) {
            v = opt_value(argc, argv, &i, "--dirty");
            char *end;
            errno = 0;
            double d = strtod(v, &end);
            if (!*v || *end || errno || !(d >= 0 && d <= 0.5))
                return bad("--dirty", "a rate from 0 to 0.5 (e.g. 0.01)", v);
            o.dirty = d;
        } else if (is_opt(a, "--format")) {
            v = opt_value(argc, argv, &i, "--format");
            if (strcmp(v, "hive") == 0)
                o.format = TB_GEN_HIVE;
            else if (strcmp(v, "csv") == 0)
                o.format = TB_GEN_CSV;
            else
                return bad("--format", "hive or csv", v);
        } else if (is_opt(a, "--threads")) {
            v = opt_value(argc, argv, &i, "--threads");
            if (tb__cli_parse_u64(v, 0, 64, &u))
                return bad("--threads", "a whole number from 0 to 64", v);
            o.threads = (int)u;
        } else {
            fprintf(stderr, "tagbase gen: unknown option '%s'\n", a);
            return tb__cli_usage("gen", usage);
        }
    }
    if (!have_customers || !have_date || !o.out_dir) {
        fprintf(stderr, "tagbase gen: missing %s\n",
                !have_customers ? "--customers N"
                : !have_date    ? "--date YYYYMMDD"
                                : "--out DIR");
        return tb__cli_usage("gen", usage);
    }

    char err[512];
    tb_gen *g;
    int rc = tb_gen_create(&o, &g, err, sizeof err);
    if (rc) {
        fprintf(stderr, "tagbase gen: invalid option: %s\n", err);
        return 2;
    }
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    rc = tb_gen_run(g);
    if (rc) {
        int status = tb__cli_fail("gen", "%s", tb_gen_errmsg(g));
        tb_gen_free(g);
        return status;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    fprintf(stderr, "tagbase gen: %llu customers written to '%s' in %.1f s (see manifest.json)\n",
            (unsigned long long)o.customers, o.out_dir, secs);
    tb_gen_free(g);
    return 0;
}
