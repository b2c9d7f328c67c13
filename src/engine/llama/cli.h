/* cli.h -- the engine's subcommands of the `llmq` command: generate, perplexity, mkmodel.
 * Each takes the arguments after the subcommand name (argv[0] is the subcommand) and
 * returns the process exit status. */
#ifndef LLMQ_LLAMA_CLI_H
#define LLMQ_LLAMA_CLI_H

int llama_cli_generate(int argc, char **argv);
int llama_cli_perplexity(int argc, char **argv);
int llama_cli_mkmodel(int argc, char **argv);

#endif
