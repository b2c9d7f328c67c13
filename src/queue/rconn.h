/* rconn.h -- one hiredis async connection to Redis on a libuv loop that never gives up:
 * it reconnects with jittered exponential backoff, authenticates (AUTH [user] password,
 * SELECT db) before it calls itself connected, runs an on-connect hook (re-SUBSCRIBE, re-
 * register), and fails commands fast with LLMQ_EREDIS while disconnected instead of
 * queueing them. It does not retry commands: a caller that needs a command to happen
 * re-issues it (usually from its on-connect hook or its next timer tick).
 *
 * Threads: everything runs on the loop's thread; nothing here is thread-safe.
 *
 * Callback rules (hiredis' own, restated):
 *  - A command callback runs exactly once per command accepted by rconn_command*: with the
 *    reply, or with reply == NULL when the connection dropped (or rconn_free ran) before the
 *    reply came. Always release privdata there. For SUBSCRIBE the callback runs once per
 *    message instead, until the connection drops (then once more with NULL).
 *  - The reply (and everything inside it) is freed by hiredis after the callback returns:
 *    copy what you keep.
 *  - Callbacks may call rconn_command* (also on this connection) and rconn_free.
 *  - The redisAsyncContext passed to callbacks is hiredis'; use rconn_from_ctx() to get the
 *    rconn back, never store the context.
 *  - on_connect / on_disconnect run on the loop thread; on_connect may send commands.
 *  - Replies come in order, so a blocking command (XREADGROUP/XREAD BLOCK, BLPOP) delays
 *    every later command and the liveness PING: give blocking reads a connection of their
 *    own and block for less than ping_timeout_ms. */
#ifndef LLMQ_QUEUE_RCONN_H
#define LLMQ_QUEUE_RCONN_H

#include <stdint.h>

#include <hiredis/async.h>
#include <uv.h>

#include "common/err.h"

struct rconn;

typedef void rconn_event_fn(struct rconn *rc, void *ud);

struct rconn_config {
    const char *url;        /* redis://[[user]:password@]host[:port][/db]; copied */
    const char *name;       /* for logs ("cmd", "sub"); copied; NULL = "redis" */
    int backoff_min_ms;     /* first retry delay (default 100) */
    int backoff_max_ms;     /* cap of the doubling delay (default 5000); +-25% jitter */
    int connect_timeout_ms; /* give up a connect attempt after this (default 2000) */
    /* Liveness: PING every ping_ms and drop the connection when a reply is older than
     * ping_timeout_ms (defaults 1000 / 3000). Set ping_ms = -1 on a connection that will
     * SUBSCRIBE (RESP2 forbids PING replies there in hiredis 0.14); TCP keepalive still on. */
    int ping_ms;
    int ping_timeout_ms;
    rconn_event_fn *on_connect;    /* after AUTH/SELECT succeeded; may be NULL */
    rconn_event_fn *on_disconnect; /* after a connection that was up went down; may be NULL */
    void *ud;                      /* passed to both hooks; borrowed */
};

/* Parses the URL, then starts connecting at once (never blocks). Returns 0, or -EINVAL
 * with e->msg for a bad URL ("rediss://" and unix sockets are not supported). The rconn
 * lives until rconn_free. */
int rconn_new(struct rconn **out, uv_loop_t *loop, const struct rconn_config *cfg, struct err *e);

/* Disconnects: every pending command callback runs with reply NULL (during this call, or
 * right after the current callback when called from one), the hooks no longer run, and the
 * memory is released from the last libuv close callback: keep running the loop until
 * uv_run returns. NULL is a no-op. */
void rconn_free(struct rconn *rc);

/* 1 while connected and authenticated, else 0. */
int rconn_connected(const struct rconn *rc);

/* Sends a command (hiredis format / argv). Returns 0 when accepted (fn will run exactly
 * once, see above), or LLMQ_EREDIS at once while disconnected (fn never runs). fn may be
 * NULL to ignore the reply. */
int rconn_command(struct rconn *rc, redisCallbackFn *fn, void *privdata, const char *fmt, ...);
int rconn_command_argv(struct rconn *rc, redisCallbackFn *fn, void *privdata, int argc,
                       const char **argv, const size_t *argvlen);

/* The rconn owning a context handed to a callback; NULL once it is being freed. */
struct rconn *rconn_from_ctx(const redisAsyncContext *ac);

/* Number of connections established so far (1 after the first, +1 per reconnect). */
uint64_t rconn_connects(const struct rconn *rc);

#endif
