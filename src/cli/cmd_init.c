/* cmd_init.c — tagbase init: create a data directory, or bring an existing one up to date. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

static const char usage[] = "[--data DIR]";

/* Thin on purpose: tb_db_open with TB_OPEN_CREATE does the work (stamp, lock, migrations); the
 * command only reports what happened, so scripts and operators can tell a fresh directory from an
 * upgrade from a no-op. */
int tb__cmd_init(int argc, char **argv)
{
    const char *dir = NULL;
    for (int i = 1; i < argc; i++) {
        int r = tb__cli_data_opt(argc, argv, &i, &dir);
        if (r < 0) return tb__cli_usage("init", usage);
        if (r > 0) continue;
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            printf("usage: tagbase init %s\n\nCreates the data directory (version stamp, lock "
                   "file, meta store) or applies pending meta-store migrations.\n",
                   usage);
            return 0;
        }
        return tb__cli_usage("init", usage);
    }
    if (!dir) dir = tb_default_data_dir();

    char err[512];
    tb_db *db;
    int rc = tb_db_open(dir, TB_OPEN_CREATE, &db, err, sizeof err);
    if (rc) return tb__cli_fail("init", "%s", err);

    tb_db_info info;
    rc = tb_db_get_info(db, &info);
    if (rc) {
        tb__cli_fail("init", "%s", tb_errmsg(db));
        tb_db_close(db);
        return 1;
    }
    if (info.actions & TB_DB_CREATED)
        printf("created data directory '%s' (format %d, schema %d)\n", tb_db_path(db),
               info.format_version, info.schema_version);
    else if (info.actions & TB_DB_MIGRATED)
        printf("upgraded data directory '%s' (schema %d -> %d)\n", tb_db_path(db),
               info.schema_at_open, info.schema_version);
    else
        printf("data directory '%s' is up to date (schema %d)\n", tb_db_path(db),
               info.schema_version);
    tb_db_close(db);
    return 0;
}
