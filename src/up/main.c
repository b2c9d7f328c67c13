/* main.c -- the `llmq` command: dispatches `llmq <subcommand> ...` to the platform commands
 * (up, status, dlq; src/up) and the engine's (generate, perplexity, mkmodel;
 * src/engine/llama/cli.h). Holds no logic of its own beyond the table and the help text. */
#include "up/up.h"

#include "engine/llama/cli.h"

#include <stdio.h>
#include <string.h>

struct subcommand {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *help;
};

static const struct subcommand subcommands[] = {
    { "up", up_main, "start redis-server, gateways and workers here; Ctrl-C stops them all" },
    { "status", status_main, "queue depth and lag, live workers, batch occupancy, tokens/s" },
    { "dlq", dlq_main, "dead-letter jobs: list | retry <id>...|all | purge" },
    { "generate", llama_cli_generate, "generate text from a GGUF model, no server needed" },
    { "perplexity", llama_cli_perplexity, "perplexity of a GGUF model on a text file" },
    { "mkmodel", llama_cli_mkmodel, "write a small random GGUF model (for tests)" },
    { NULL, NULL, NULL },
};

static void usage(FILE *f)
{
    fprintf(f, "usage: llmq <command> [options]   (llmq <command> --help for its options)\n\nCommands:\n");
    for (const struct subcommand *s = subcommands; s->name; s++)
        fprintf(f, "  %-12s %s\n", s->name, s->help);
}

int main(int argc, char **argv)
{
    if (argc < 2) { usage(stderr); return 2; }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    for (const struct subcommand *s = subcommands; s->name; s++)
        if (!strcmp(argv[1], s->name)) return s->run(argc - 1, argv + 1);
    fprintf(stderr, "llmq: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}
