/* child.c -- fork/exec of one supervised process: own process group, death signal tied to
 * the supervisor, signal mask reset. Reaping is the caller's (one waitpid(-1) loop in up.c),
 * so this file keeps no global state. */
#include "up/child.h"

#include "common/log.h"
#include "common/clock.h"
#include "common/xalloc.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

void child_init(struct child *c, const char *name, char *const *argv)
{
    memset(c, 0, sizeof(*c));
    snprintf(c->name, sizeof(c->name), "%s", name);
    c->argv = xcalloc(1, sizeof(char *));
    for (int i = 0; argv && argv[i]; i++) child_arg(c, argv[i]);
    c->backoff_ms = 200;
}

void child_deinit(struct child *c)
{
    for (int i = 0; i < c->argc; i++) free(c->argv[i]);
    free(c->argv);
    c->argv = NULL;
    c->argc = 0;
}

void child_arg(struct child *c, const char *arg)
{
    c->argv = xrealloc(c->argv, (size_t)(c->argc + 2) * sizeof(char *));
    c->argv[c->argc++] = xstrdup(arg);
    c->argv[c->argc] = NULL;
}

int child_start(struct child *c)
{
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) return -errno;
    if (pid == 0) {
        /* Own group: the terminal's SIGINT goes to llmq only, which stops us in order. */
        setpgid(0, 0);
        /* Die with the supervisor even if it is SIGKILLed; SIGTERM lets us drain. */
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (getppid() != parent) _exit(1);      /* the supervisor died before prctl */
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);  /* a blocked mask survives exec */
        signal(SIGPIPE, SIG_DFL);
        dup2(2, 1);           /* llmq up's stdout carries only its own "serving" line */
        execvp(c->argv[0], c->argv);
        fprintf(stderr, "{\"level\":\"error\",\"component\":\"up\",\"msg\":\"%s: cannot run %s: %s\"}\n",
                c->name, c->argv[0], strerror(errno));
        _exit(127);
    }
    setpgid(pid, pid);                          /* both sides, so no race with kill(-pid) */
    c->pid = pid;
    c->stopping = 0;
    c->started_us = clock_mono_us();
    c->restart_at_us = 0;
    log_debug("%s started (pid %d)", c->name, (int)pid);
    return 0;
}

void child_signal(struct child *c, int sig)
{
    if (c->pid > 0) {
        if (kill(-c->pid, sig) < 0) kill(c->pid, sig);
    }
}

void child_status_str(int status, char *out, size_t cap)
{
    if (WIFEXITED(status))
        snprintf(out, cap, "exit code %d", WEXITSTATUS(status));
    else if (WIFSIGNALED(status))
        snprintf(out, cap, "signal %d (%s)", WTERMSIG(status), strsignal(WTERMSIG(status)));
    else
        snprintf(out, cap, "status 0x%x", status);
}
