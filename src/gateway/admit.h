/* admit.h -- admission and job creation. Every rejection is decided locally (no Redis round
 * trip): per-key rate limit (429), draining or Redis down (503), stream cap and queue bound
 * (503 overloaded) with a Retry-After computed from the backlog and the measured drain
 * rate. Admitted requests become one pipelined HSET + EXPIRE + XADD (after SET NX for an
 * Idempotency-Key); the XADD goes to the stream of the request's priority lane (queue/keys.h).
 * The queue is polled (XINFO GROUPS + XLEN of every lane, summed) every 100 ms, not per
 * request. */
#ifndef LLMQ_GATEWAY_ADMIT_H
#define LLMQ_GATEWAY_ADMIT_H

#include "gateway/openai.h"

struct gateway;
struct stream;
struct http_conn;

struct admit_reject {
    int status;       /* 429, 503 */
    const char *code; /* PROTOCOL.md code: rate_limited, overloaded */
    const char *type; /* OpenAI error type */
    char message[200];
    long long retry_after_ms;
};

/* 0 when the request may go on, else -1 with *r filled (and the rejection counted). */
int admit_check(struct gateway *gw, const char *key_id, struct admit_reject *r);

/* Creates the job for stream s (registered, PENDING) from request r; the stream starts
 * when Redis confirms, or fails with 503. traceparent and idem_key may be NULL. Borrows r. */
void admit_enqueue(struct gateway *gw, struct stream *s, const struct openai_request *r,
                   const char *traceparent, const char *idem_key);

/* POST /v1/completions (chat = 0) and /v1/chat/completions (chat = 1). */
void admit_http(struct http_conn *c, int chat);

/* Cancels the jobs of requests refused while their creation was unanswered (connection
 * lost): sent each ADMIT_UNKNOWN_RETRY_MS while any are remembered and Redis is connected;
 * now = 1 (on reconnect) skips the wait. Called from admit_poll. */
void admit_unknown_flush(struct gateway *gw, int now);

/* Sends the queue poll (timer, every 100 ms). */
void admit_poll(struct gateway *gw);

#endif
