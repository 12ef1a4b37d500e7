/* cmd_seg.c — tagbase seg (placeholder until the segment engine lands). */
#include "cli/cli.h"

int tb__cmd_seg(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    return tb__cli_fail("seg", "not available yet");
}
