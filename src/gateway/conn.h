/* conn.h -- one client TCP connection: reads and parses HTTP requests one at a time (keep-alive,
 * pipelining-safe), hands each to route.c, and writes answers with at most one write in
 * flight: bytes produced while a write is pending are coalesced into the next one, so a slow
 * client costs one buffer, not one write request per token. After a WebSocket upgrade the
 * same connection carries ws.c's frames. */
#ifndef LLMQ_GATEWAY_CONN_H
#define LLMQ_GATEWAY_CONN_H

#include "common/buf.h"
#include "gateway/http.h"

#include <stdint.h>
#include <uv.h>

struct gateway;
struct stream;
struct ws_session;

enum conn_mode {
    CONN_MODE_HTTP, /* request/response (a streaming response included) */
    CONN_MODE_WS,   /* upgraded: frames go through c->ws */
};

struct http_conn {
    uv_tcp_t tcp;                  /* tcp.data == this; freed from its close callback */
    struct gateway *gw;            /* borrowed: outlives every connection */
    struct http_conn *next, *prev; /* gw->conns list */
    enum conn_mode mode;
    struct http_reader reader;
    struct buf in;   /* owned: received bytes not yet parsed */
    struct buf out;  /* owned: bytes to write next */
    struct buf wbuf; /* owned: bytes handed to the in-flight uv_write */
    uv_write_t wreq;
    int writing; /* a uv_write is in flight */
    int busy;    /* a request is being answered; parsing waits */
    int closing;
    int close_after_write;   /* close once out and wbuf are written */
    int reading;             /* uv_read_start active */
    int in_process;          /* the request loop is on the stack (no re-entry) */
    int refs;                /* outstanding Redis replies that will look at this connection */
    int close_done;          /* libuv closed the handle; freed when refs drops to 0 */
    uint64_t serial;         /* changes with every request (replies check they still match) */
    struct http_conn *fnext; /* stream_flush_dirty's list of connections to write */
    int flush_queued;
    uint64_t last_active_ms;   /* loop time of the last byte in or out */
    uint64_t request_start_ms; /* loop time the current request's first byte arrived; 0 = none */
    struct stream *streams;    /* streams writing to this connection (1 for SSE, many for WS) */
    struct ws_session *ws;     /* owned, CONN_MODE_WS only */
    char request_id[72];       /* X-Request-Id of the request being answered */
    char trace_id[40];         /* trace id from traceparent, or "" */
    char key_id[24];           /* API key id of the request ("anon" when auth is off) */
    const char *endpoint;      /* static label of the current request's route (metrics) */
};

/* Accepts a pending connection from the listener. */
void conn_accept(struct gateway *gw, uv_stream_t *listener);

/* Writes c->out now if no write is in flight (uv_try_write first, uv_write for the rest). */
void conn_flush(struct http_conn *c);
/* Unsent bytes: out + the unwritten part of the in-flight write. */
size_t conn_pending_bytes(const struct http_conn *c);

/* The current request has been answered completely (its bytes are in c->out): continue with
 * the next pipelined request, or close when the request asked for it. */
void conn_request_done(struct http_conn *c, int keep_alive);

/* Writes a complete response: status line, Content-Type, Content-Length, X-Request-Id,
 * extra_headers (each ending in \r\n, may be NULL) and body, then conn_request_done. */
void conn_respond(struct http_conn *c, int status, const char *content_type,
                  const char *extra_headers, const char *body, size_t body_len);
/* An OpenAI-shaped error response. retry_after_s > 0 adds Retry-After. param may be NULL. */
void conn_respond_error(struct http_conn *c, int status, const char *type, const char *code,
                        const char *param, const char *message, long long retry_after_s);

/* Keeps c's memory alive across an asynchronous call; conn_release drops it and returns 1
 * when c is still open and still answering the request whose serial is given. */
void conn_hold(struct http_conn *c);
int conn_release(struct http_conn *c, uint64_t serial);

/* Closes the connection (streams on it are ended as disconnected). Idempotent. */
void conn_close(struct http_conn *c);

/* Periodic sweep: closes connections idle past the idle timeout or slow to send a request. */
void conn_sweep(struct gateway *gw, uint64_t now_ms);

#endif
