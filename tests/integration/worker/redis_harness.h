/* redis_harness.h -- real parts for integration tests: a private redis-server on a free
 * port (started and stopped by the test, like Redis' own start_server), child processes of
 * the real binaries with bounded waits, and a Pub/Sub reader with a timeout. Reusable by
 * any integration test: compile redis_harness.c in and link hiredis. */
#ifndef LLMQ_REDIS_HARNESS_H
#define LLMQ_REDIS_HARNESS_H

#include <hiredis/hiredis.h>
#include <sys/types.h>

struct redis_server {
    pid_t pid;
    int port;
    char dir[128]; /* private working directory (removed by stop) */
};

/* Picks a free port and starts `redis-server` (no persistence, 127.0.0.1 only), waiting up
 * to 5 s for PING. Returns 0, -ENOENT when redis-server is not installed (skip the test),
 * or another negative errno. */
int redis_server_start(struct redis_server *rs);
/* Starts it again on the same port (after redis_server_stop), for outage tests. */
int redis_server_restart(struct redis_server *rs);
/* SIGTERM, bounded wait, SIGKILL if needed. Safe to call twice. */
void redis_server_stop(struct redis_server *rs);
/* Removes the private directory and the files directly in it (redis.log and any logs the
 * test kept there), after the last stop. */
void redis_server_cleanup(struct redis_server *rs);
/* A synchronous connection with 2 s timeouts, or NULL. Free with redisFree. */
redisContext *redis_server_connect(const struct redis_server *rs);

/* A free TCP port on 127.0.0.1 (bind to 0, read, close). */
int harness_free_port(void);

/* Spawns argv[0] (a path) with stdout+stderr appended to log_path (NULL = inherit).
 * Returns the pid or -errno. */
pid_t harness_spawn(char *const argv[], const char *log_path);
/* Waits up to timeout_ms for pid to exit. Returns 0 and *status (waitpid form), or
 * -ETIMEDOUT. */
int harness_wait(pid_t pid, int timeout_ms, int *status);
/* SIGKILL + reap; no-op for pid <= 0. */
void harness_kill(pid_t pid);
/* Milliseconds on the monotonic clock. */
long long harness_now_ms(void);

/* Next Pub/Sub push on a SUBSCRIBEd sync context, waiting up to timeout_ms. Returns the
 * reply (caller frees it with freeReplyObject) or NULL on timeout/error. */
redisReply *harness_sub_next(redisContext *c, int timeout_ms);

/* GET http://127.0.0.1:port/path; writes the status code, returns body length read into
 * body (NUL-terminated, truncated to cap-1) or -1. Bounded by 2 s. */
int harness_http_get(int port, const char *path, int *status, char *body, size_t cap);

#endif
