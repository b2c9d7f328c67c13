/* mkmodel.c -- PLACEHOLDER until the engine-tools helper writes `llmq mkmodel`. */
#include "engine/llama/cli.h"

#include <stdio.h>

int llama_cli_mkmodel(int argc, char **argv) { fprintf(stderr, "llmq mkmodel: not built yet\n"); return 2; }
