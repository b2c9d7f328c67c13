/* state.h -- the state file `llmq up` writes so that `llmq status` and `llmq dlq` find the
 * running platform without flags: URL, Redis URL, prefix, pids. One JSON object, written
 * atomically (temp file + rename), removed when `llmq up` stops. */
#ifndef LLMQ_UP_STATE_H
#define LLMQ_UP_STATE_H

/* Default path: $LLMQ_STATE_FILE, else ${XDG_RUNTIME_DIR:-/tmp}/llmq-up-<uid>.json. */
const char *state_default_path(void);

/* Reads redis_url and prefix (malloc'd, caller frees) from the state file at path.
 * Returns 0, -ENOENT (no file: nothing running), or -EINVAL (unreadable JSON). */
int state_read(const char *path, char **redis_url, char **prefix, char **url, long *pid);

#endif
