/* cmd_gen.c — tagbase gen (placeholder until implemented). */
#include "cli/cli.h"

int tb__cmd_gen(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    return tb__cli_fail("gen", "not implemented yet");
}
