/* cfg.h -- command-line flags, each with an LLMQ_* environment variable.
 * A program declares a table of struct cfg_opt; cfg_parse() fills the destinations from, in
 * increasing priority: the defaults already in them, the environment (LLMQ_MAX_QUEUE for
 * "max-queue"; for strings also LLMQ_X_FILE, whose file content is used, for Kubernetes
 * Secrets mounted as files), then the command line (--max-queue 10 or --max-queue=10;
 * booleans also --flag / --no-flag). --help prints a usage text generated from the table. */
#ifndef LLMQ_CFG_H
#define LLMQ_CFG_H

#include "common/err.h"

enum cfg_type { CFG_STR, CFG_INT, CFG_DOUBLE, CFG_BOOL };

struct cfg_opt {
    const char *name;      /* flag name without dashes, e.g. "max-queue" */
    enum cfg_type type;
    void *dst;             /* char ** (owned by cfg: strdup'd), long long *, double *, int * */
    const char *help;      /* one line */
};

/* Leftover arguments: with a non-NULL rest, unknown flags (and their value, if the next
 * argument does not start with "--") and positional arguments are collected here instead of
 * failing. rest->argv is malloc'd; free it with cfg_rest_free. */
struct cfg_rest {
    int argc;
    char **argv;           /* borrowed strings from the caller's argv */
};

/* Parses argv[first..argc). Returns 0, 1 if --help was printed (caller exits 0), or
 * -EINVAL with e->msg naming the flag and the problem. opts ends with a {NULL} entry. */
int cfg_parse(const struct cfg_opt *opts, int argc, char **argv, int first,
              const char *usage, struct cfg_rest *rest, struct err *e);
void cfg_rest_free(struct cfg_rest *rest);
/* Sets the environment prefix for the options of this process ("LLMQ_" by default). Tools that
 * are not part of the platform (llmq-bench) use their own, e.g. "LLMQ_BENCH_", so a platform
 * variable such as LLMQ_MODEL exported in the same shell does not leak into them. Copied. */
void cfg_set_env_prefix(const char *prefix);
/* Prints "usage" and one line per option to f. */
void cfg_print_help(const struct cfg_opt *opts, const char *usage, void *f);
/* Frees the strings cfg_parse stored into CFG_STR destinations it set. */
void cfg_free(const struct cfg_opt *opts);

#endif
