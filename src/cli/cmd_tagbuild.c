/* cmd_tagbuild.c — tagbase tag build (placeholder until the tag store lands). */
#include "cli/cli.h"

int tb__cmd_tag_build(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    return tb__cli_fail("tag build", "not available yet");
}
