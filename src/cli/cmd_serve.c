/* cmd_serve.c — tagbase serve: the HTTP/JSON API server (src/server/). Thin: parses options and
 * runs the server until SIGTERM or SIGINT. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "server/server.h"

static const char usage[] =
    "[--data DIR] [--listen 127.0.0.1:8080] [--threads N] [--max-body BYTES] [--timeout S]\n"
    "       [--max-inflight N] [--session-ttl S] [--cert FILE --key FILE] [--web DIR|none]";

int tb__cmd_serve(int argc, char **argv)
{
    tb__srv_opts o = {0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int r = tb__cli_data_opt(argc, argv, &i, &o.data_dir);
        if (r < 0) return tb__cli_usage("serve", usage);
        if (r > 0) continue;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            printf("usage: tagbase serve %s\n", usage);
            return 0;
        }
        if (i + 1 >= argc) return tb__cli_usage("serve", usage);
        const char *v = argv[++i];
        uint64_t n;
        if (strcmp(a, "--listen") == 0)
            o.listen = v;
        else if (strcmp(a, "--cert") == 0)
            o.cert = v;
        else if (strcmp(a, "--key") == 0)
            o.key = v;
        else if (strcmp(a, "--web") == 0)
            o.web_dir = v;
        else if (strcmp(a, "--threads") == 0 && tb__cli_parse_u64(v, 1, 64, &n) == 0)
            o.threads = (int)n;
        else if (strcmp(a, "--max-body") == 0 &&
                 tb__cli_parse_u64(v, 64, (uint64_t)1 << 30, &n) == 0)
            o.max_body = (size_t)n;
        else if (strcmp(a, "--timeout") == 0 && tb__cli_parse_u64(v, 1, 3600, &n) == 0)
            o.timeout_s = (int)n;
        else if (strcmp(a, "--max-inflight") == 0 && tb__cli_parse_u64(v, 1, 100000, &n) == 0)
            o.max_inflight = (int)n;
        else if (strcmp(a, "--session-ttl") == 0 && tb__cli_parse_u64(v, 60, 604800, &n) == 0)
            o.session_ttl_s = (int)n;
        else
            return tb__cli_usage("serve", usage);
    }
    return tb__srv_run(&o) == 0 ? 0 : 1;
}
