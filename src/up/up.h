/* up.h -- the subcommands of the `llmq` command that src/up implements. Each takes the
 * arguments after `llmq` (argv[0] is the subcommand name) and returns the exit status. */
#ifndef LLMQ_UP_UP_H
#define LLMQ_UP_UP_H

/* `llmq up`: start and supervise redis-server, gateways and workers (up.c). */
int up_main(int argc, char **argv);
/* `llmq status`: queue, workers, occupancy, tokens/s (status.c). */
int status_main(int argc, char **argv);
/* `llmq dlq list|retry|purge`: the dead-letter stream (status.c). */
int dlq_main(int argc, char **argv);

#endif
