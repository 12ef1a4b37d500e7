/* main.c — the tagbase command: dispatches to subcommands. The only main() of the project. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "events/collector.h"
#include "store/crypt.h"

static int cmd_version(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    printf("tagbase %s\n", TB_VERSION_STRING);
    return 0;
}

static int cmd_help(int argc, char **argv);

static const struct command {
    const char *name;
    int (*fn)(int, char **);
    const char *summary;
} commands[] = {
    {"gen", tb__cmd_gen, "write a synthetic bank's warehouse extracts and events (deterministic)"},
    {"init", tb__cmd_init, "create or upgrade a data directory and its meta store"},
    {"scan", tb__cmd_scan, "read a batch directory of extracts, count and record it"},
    {"status", tb__cmd_status, "show the data directory, its schema and recorded batches"},
    {"standard", tb__cmd_standard,
     "load, list and show the data standards rows are checked against"},
    {"load", tb__cmd_load,
     "load extracts through the five-module pipeline into a profile snapshot"},
    {"pipeline", tb__cmd_pipeline, "pipeline status: rows per module, rejects by rule, quality"},
    {"explain", tb__cmd_explain, "lineage: where a customer's values came from"},
    {"check", tb__cmd_check, "verify the meta store, segments and snapshot checksums"},
    {"config", tb__cmd_config, "get and set settings (retention, identity rules, ...)"},
    {"customer", tb__cmd_customer, "master data: find, show, merge and unmerge golden records"},
    {"tag", tb__cmd_tag, "tag centre: catalog, versions, review and publishing, tag build"},
    {"seg", tb__cmd_seg, "find customers (搜客) and saved segments (客群)"},
    {"user", tb__cmd_user, "users, their passwords, roles and API tokens"},
    {"role", tb__cmd_role, "list roles and their permissions; add custom roles"},
    {"audit", tb__cmd_audit, "verify the hash-chained audit log and list its records"},
    {"approval", tb__cmd_approval, "maker-checker: request, list, approve and reject approvals"},
    {"consent", tb__cmd_consent, "the consent ledger (PIPL): grant, withdraw, show per customer"},
    {"alert", tb__cmd_alert, "abnormal-access alerts; clear a user's block"},
    {"events", tb__cmd_events,
     "event tracking: apps and write keys, tracking plan, import, status"},
    {"funnel", tb__cmd_funnel, "event funnels: conversion per step, trend, breakdown, save"},
    {"paths", tb__cmd_paths, "event paths: the events after or before an event (sankey)"},
    {"retention", tb__cmd_retention, "event retention: day-N return of who did A"},
    {"evstat", tb__cmd_evstat, "event counts and trends by day or hour, property, segment"},
    {"serve", tb__cmd_serve, "the HTTP/JSON API server (docs/server.md)"},
    {"key", tb__cmd_key, "encryption at rest: create, rotate and show the key file"},
    {"version", cmd_version, "print the version"},
    {"help", cmd_help, "show this list"},
};

static int cmd_help(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    printf("usage: tagbase COMMAND [OPTIONS]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        printf("  %-9s %s\n", commands[i].name, commands[i].summary);
    printf("\nThe data directory is --data DIR, else $TAGBASE_DATA, else ./tagbase-data.\n"
           "The key file (encryption at rest of C2 fields, docs/security.md) is --key-file PATH,\n"
           "else $TAGBASE_KEY_FILE; without one a new data directory keeps them in clear.\n"
           "Log level: TAGBASE_LOG=error|warn|info|debug. 'tagbase COMMAND --help' for options.\n");
    return 0;
}

int tb__cli_fail(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "tagbase %s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return 1;
}

int tb__cli_usage(const char *cmd, const char *usage)
{
    fprintf(stderr, "usage: tagbase %s %s\n", cmd, usage);
    return 2;
}

int tb__cli_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
    if (!s || *s < '0' || *s > '9') return -1;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end || v < min || v > max) return -1;
    *out = v;
    return 0;
}

int tb__cli_data_opt(int argc, char **argv, int *i, const char **dir)
{
    const char *a = argv[*i];
    if (strncmp(a, "--data=", 7) == 0) {
        *dir = a + 7;
        return 1;
    }
    if (strcmp(a, "--data") != 0) return 0;
    if (*i + 1 >= argc) return -1;
    *dir = argv[++*i];
    return 1;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        cmd_help(0, NULL);
        return 2;
    }
    const char *name = argv[1];
    tb__events_erase_register(); /* erasure reaches the event store (security/erase.h) */
    /* --key-file PATH is accepted by every command (each opens the data directory through the
     * library, which reads the key file in effect): taken out of argv here, once. */
    int kept = 2;
    for (int i = 2; i < argc; i++) {
        if (strncmp(argv[i], "--key-file=", 11) == 0) {
            tb__c2_set_key_file(argv[i] + 11);
        } else if (strcmp(argv[i], "--key-file") == 0) {
            if (i + 1 >= argc) {
                fprintf(stderr, "tagbase: --key-file needs a path\n");
                return 2;
            }
            tb__c2_set_key_file(argv[++i]);
        } else {
            argv[kept++] = argv[i];
        }
    }
    argc = kept;
    argv[argc] = NULL;
    if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0) return cmd_help(0, NULL);
    if (strcmp(name, "--version") == 0) return cmd_version(0, NULL);
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(name, commands[i].name) == 0) return commands[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "tagbase: unknown command '%s' (try 'tagbase help')\n", name);
    return 2;
}
