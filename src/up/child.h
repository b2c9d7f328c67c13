/* child.h -- one supervised child process of `llmq up` (redis-server, a gateway, a worker).
 * A child runs in its own process group (so a terminal's Ctrl-C reaches only llmq, which
 * then stops the children in order) and dies with llmq (PR_SET_PDEATHSIG), so no process
 * outlives the supervisor even when it is killed with SIGKILL. Knows nothing of what the
 * child is; restarts and their backoff are decided by the caller (up.c). */
#ifndef LLMQ_UP_CHILD_H
#define LLMQ_UP_CHILD_H

#include <stdint.h>
#include <sys/types.h>

struct child {
    char name[48];          /* "gateway-0", "worker-3", "redis" */
    char **argv;            /* owned, NULL-terminated; argv[0] is the program path */
    int argc;
    pid_t pid;              /* 0 while not running */
    int stopping;           /* 1 once llmq asked it to stop: its exit is not a failure */
    int restarts;           /* how many times it was restarted after dying */
    int backoff_ms;         /* delay before the next restart; doubles, capped */
    uint64_t started_us;    /* monotonic time of the last start */
    uint64_t restart_at_us; /* monotonic time of the scheduled restart, 0 = none */
    int last_status;        /* waitpid status of the last exit */
};

/* Sets name and copies argv (NULL-terminated list of strings). */
void child_init(struct child *c, const char *name, char *const *argv);
void child_deinit(struct child *c);         /* frees argv; does not stop the process */
/* Appends one argument (copied). */
void child_arg(struct child *c, const char *arg);

/* Forks and execs. The caller must have blocked the signals it waits for; the child's mask
 * is cleared before exec. Returns 0 or a negative errno (fork failed). An exec failure shows
 * up as exit status 127 with one log line from the child. */
int child_start(struct child *c);
/* Sends sig to the child's whole process group; no-op when not running. */
void child_signal(struct child *c, int sig);
/* Human text for a waitpid status: "exit code 1", "signal 9 (Killed)". */
void child_status_str(int status, char *out, size_t cap);

#endif
