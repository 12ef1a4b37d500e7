/* cmd_init.c — tagbase init (placeholder until implemented). */
#include "cli/cli.h"

int tb__cmd_init(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    return tb__cli_fail("init", "not implemented yet");
}
