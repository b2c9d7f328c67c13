/* cli.c -- PLACEHOLDER until the engine helper writes `llmq generate` and `llmq perplexity`. */
#include "engine/llama/cli.h"

#include <stdio.h>

int llama_cli_generate(int argc, char **argv) { fprintf(stderr, "llmq generate: not built yet\n"); return 2; }
int llama_cli_perplexity(int argc, char **argv) { fprintf(stderr, "llmq perplexity: not built yet\n"); return 2; }
