/* cmd_status.c — tagbase status (placeholder until implemented). */
#include "cli/cli.h"

int tb__cmd_status(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    return tb__cli_fail("status", "not implemented yet");
}
