/* cmd_config.c — tagbase config: read and change the settings of a data directory (retention,
 * identity priorities, ...; docs/pipeline.md and docs/identity.md name them). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

static const char usage[] = "get KEY | set KEY VALUE [--data DIR]";

int tb__cmd_config(int argc, char **argv)
{
    const char *data = tb_default_data_dir();
    const char *args[3];
    int n = 0;
    for (int i = 1; i < argc; i++) {
        int d = tb__cli_data_opt(argc, argv, &i, &data);
        if (d < 0) return tb__cli_usage("config", usage);
        if (d) continue;
        if (n == 3) return tb__cli_usage("config", usage);
        args[n++] = argv[i];
    }
    int set = n == 3 && strcmp(args[0], "set") == 0;
    if (!set && !(n == 2 && strcmp(args[0], "get") == 0)) return tb__cli_usage("config", usage);
    char err[512];
    tb_db *db;
    if (tb_db_open(data, set ? 0 : TB_OPEN_READONLY, &db, err, sizeof err))
        return tb__cli_fail("config", "%s", err);
    int status = 0;
    if (set) {
        if (tb_db_set_setting(db, args[1], args[2]))
            status = tb__cli_fail("config", "%s", tb_errmsg(db));
    } else {
        char *v = NULL;
        int rc = tb_db_get_setting(db, args[1], &v);
        if (rc == TB_ENOENT)
            status = tb__cli_fail("config", "'%s' is not set", args[1]);
        else if (rc)
            status = tb__cli_fail("config", "%s", tb_errmsg(db));
        else
            printf("%s\n", v);
        free(v);
    }
    tb_db_close(db);
    return status;
}
