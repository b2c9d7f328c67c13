/* client.h -- what llmq-bench's connection code (sse_client.c, ws_client.c, hget.c) and its
 * runner (run.c) share: the target URL, one benchmark request, and the events a connection
 * reports back to the runner. Internal to src/bench; the public entry point is run.h.
 * Everything here lives on one libuv loop in one thread. */
#ifndef LLMQ_BENCH_CLIENT_H
#define LLMQ_BENCH_CLIENT_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <uv.h>

#include "common/buf.h"

/* http://host[:port][/base] -- the base path is put in front of /v1/... */
struct client_url {
    char host[256];
    int port;
    char base[256];                  /* "" or "/prefix" without a trailing slash */
    struct sockaddr_storage addr;    /* resolved once, before the run */
};

/* Parses and resolves (blocking getaddrinfo). Returns 0 or -EINVAL / -EHOSTUNREACH. */
int client_url_parse(struct client_url *u, const char *url);

struct run;                          /* the runner (run.c) */
struct sse_conn;
struct ws_conn;

/* One request of the benchmark, from its scheduled time to its end. Owned by the runner;
 * a connection holds a borrowed pointer only until it reports the end (run_req_end). */
struct breq {
    uint32_t seq;                    /* position in the run; the WS id is "r<seq>" */
    int prompt_tokens, max_tokens;
    uint64_t sched_us;               /* monotonic: when it was due (latencies start here) */
    uint64_t sent_us;                /* when its bytes were handed to the socket */
    uint64_t accepted_us;            /* WS "accepted" / SSE response headers; 0 = not yet */
    uint64_t first_us, last_us;      /* first and latest token message */
    int tokens;                      /* tokens received (merged messages count each) */
    int next_index;                  /* the index the next token must carry */
    int gaps, repeats;               /* index check findings */
    int indexed;                     /* the server numbers tokens (WS, or SSE ids) */
    int usage_tokens;                /* completion_tokens from the server; -1 = not given */
    double srv_queue_ms;             /* server-reported queue time (WS done.timing); < 0 = none */
    struct sse_conn *sse;            /* SSE: its connection, until the end */
    struct ws_conn *ws;              /* WS: the socket it was sent on */
    struct breq *prev, *next;        /* the runner's in-flight list */
};

/* ---- events from connections to the runner (run.c) ---- */

/* uv loop, shared read buffer, request body builders */
uv_loop_t *run_loop(struct run *run);
const struct client_url *run_url(struct run *run);
/* Writes the request body (JSON) for r into out: OpenAI for SSE, "generate" for WS. */
void run_body(struct run *run, const struct breq *r, int ws, struct buf *out);
const char *run_api_key(struct run *run);        /* NULL when none */
int run_chat(struct run *run);                   /* 1: /v1/chat/completions */
struct breq *run_req_by_seq(struct run *run, uint32_t seq);   /* NULL when finished/unknown */
void run_alloc(struct run *run, uv_buf_t *b);    /* the loop's one read buffer */

void run_req_accepted(struct run *run, struct breq *r);
/* index < 0: the server gave no index (plain OpenAI SSE); count tokens arrived. For SSE with
 * ids, index is the event's last index and count is 0 (derived from the expected index). */
void run_req_tokens(struct run *run, struct breq *r, int index, int count);
/* The request ended: err NULL for success, else a short error code ("overloaded",
 * "http_500", "conn_closed", ...). The connection must drop its pointer to r. */
void run_req_end(struct run *run, struct breq *r, const char *err);

/* A WS socket closed: the runner ends every in-flight request sent on it with err. */
void run_conn_lost(struct run *run, struct ws_conn *c, const char *err);

/* ---- SSE: one HTTP connection per request ---- */
int sse_client_start(struct run *run, struct breq *r);     /* 0 or -errno (then r not sent) */
void sse_client_abort(struct sse_conn *c);                 /* closes; reports nothing */

/* ---- WebSocket: a pool of multiplexed sockets ---- */
struct ws_pool;
struct ws_pool *ws_pool_new(struct run *run, int n_conns);
int ws_pool_send(struct ws_pool *p, struct breq *r);       /* 0, or -errno when no socket */
/* Ends every request still on a socket with err, closes the sockets; frees from the close
 * callbacks (the loop must run afterwards). */
void ws_pool_close(struct ws_pool *p);
int ws_pool_open_count(const struct ws_pool *p);
/* Sends {"type":"cancel","id":"r<seq>"} on c (a request the runner gave up on: timeout,
 * end of run), so the platform stops spending decode steps on it. */
void ws_conn_cancel(struct ws_conn *c, uint32_t seq);

/* ---- a one-shot async HTTP GET (for /metrics during the run) ---- */
typedef void hget_fn(void *ud, int status, const char *body, size_t len);
/* Calls fn once: status 200.. with the body, or status < 0 on a transport error. */
int hget_start(uv_loop_t *loop, const struct sockaddr *addr, const char *host, const char *path,
               double timeout_s, hget_fn *fn, void *ud);

#endif
