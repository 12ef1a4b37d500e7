/* cmd_tag.c — tagbase tag: the tag catalog (placeholder until the catalog lands). */
#include <string.h>

#include "cli/cli.h"

int tb__cmd_tag(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "build") == 0) return tb__cmd_tag_build(argc - 1, argv + 1);
    return tb__cli_usage("tag", "build --batch YYYYMMDD [--data DIR]");
}
