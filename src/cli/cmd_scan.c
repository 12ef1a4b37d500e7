/* cmd_scan.c — tagbase scan (placeholder until implemented). */
#include "cli/cli.h"

int tb__cmd_scan(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    return tb__cli_fail("scan", "not implemented yet");
}
