/* cli.h — the tagbase command's subcommands and the small helpers they share. */
#ifndef TB_CLI_H
#define TB_CLI_H

#include <stdint.h>
#include "tagbase.h"

/* Each subcommand gets argv with argv[0] = its own name and returns the process exit status:
 * 0 success, 1 failure (message already printed to stderr), 2 usage error. */
int tb__cmd_gen(int argc, char **argv);
int tb__cmd_init(int argc, char **argv);
int tb__cmd_scan(int argc, char **argv);
int tb__cmd_status(int argc, char **argv);
int tb__cmd_standard(int argc, char **argv);
int tb__cmd_customer(int argc, char **argv);
int tb__cmd_load(int argc, char **argv);
int tb__cmd_pipeline(int argc, char **argv);
int tb__cmd_explain(int argc, char **argv);
int tb__cmd_config(int argc, char **argv);
int tb__cmd_check(int argc, char **argv);
int tb__cmd_tag(int argc, char **argv);       /* cmd_tag.c; `tag build` is tb__cmd_tag_build */
int tb__cmd_tag_build(int argc, char **argv); /* cmd_tagbuild.c */
int tb__cmd_seg(int argc, char **argv);
int tb__cmd_serve(int argc, char **argv); /* cmd_serve.c: the HTTP/JSON API server */
int tb__cmd_user(int argc, char **argv);  /* cmd_user.c, with tb__cmd_role */
int tb__cmd_role(int argc, char **argv);
int tb__cmd_audit(int argc, char **argv);
int tb__cmd_approval(int argc, char **argv); /* cmd_approval.c: maker-checker requests */
int tb__cmd_consent(int argc, char **argv);  /* cmd_consent.c: the consent ledger */
int tb__cmd_alert(int argc, char **argv);    /* cmd_alert.c: abnormal-access alerts, unblock */
int tb__cmd_events(int argc, char **argv);   /* cmd_events.c: event collection and its setup */
/* cmd_funnel.c: event analysis (funnels, paths, retention, counts) */
int tb__cmd_funnel(int argc, char **argv);
int tb__cmd_paths(int argc, char **argv);
int tb__cmd_retention(int argc, char **argv);
int tb__cmd_evstat(int argc, char **argv);
int tb__cmd_key(int argc, char **argv); /* cmd_key.c: encryption at rest, the key file */

/* Prints "tagbase CMD: message" to stderr and returns 1 (or 2 for usage, via tb__cli_usage). */
int tb__cli_fail(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int tb__cli_usage(const char *cmd, const char *usage);

/* Parses a whole decimal number into *out; returns 0, or -1 when `s` is not one or is out of
 * [min, max]. */
int tb__cli_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out);

/* Handles the common --data DIR option: if argv[*i] is --data (or --data=DIR), stores the
 * directory in *dir, advances *i past it and returns 1; returns -1 when the value is missing. */
int tb__cli_data_opt(int argc, char **argv, int *i, const char **dir);

/* Who runs the command: $TAGBASE_USER, else the operating-system account (cmd_approval.c).
 * Static or environment storage; do not free. */
const char *tb__cli_os_user(void);

/* The acting principal: tagbase user `user` (its role and scope; trusted on the command line,
 * whose runner owns the data directory) or, when user is NULL, the operating-system user with
 * every permission (tb__principal_cli). Returns 0 or the error of tb__principal_user, detail on
 * db. */
struct tb__principal;
int tb__cli_principal(tb_db *db, const char *user, struct tb__principal *p);

#endif
