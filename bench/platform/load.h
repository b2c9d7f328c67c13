/* load.h -- a libuv load client for the gateway: many concurrent streamed completions over
 * SSE (POST /v1/completions, stream:true) or WebSocket (GET /v1/ws, one or more streams per
 * socket), closed loop (fixed concurrency) or open loop (fixed arrival rate). It checks what
 * it receives: every token index exactly once and in order, the usage total, and keeps one
 * hash of each stream's text so two runs can be compared. Used by the e2e tests, the chaos
 * tests and `make bench`. It is not llmq-bench (src/bench): no arrival models, no reports. */
#ifndef LLMQ_BENCH_LOAD_H
#define LLMQ_BENCH_LOAD_H

#include <stddef.h>
#include <stdint.h>

enum load_proto { LOAD_SSE, LOAD_WS };

struct load_cfg {
    const char *host;          /* "127.0.0.1" */
    int port;
    enum load_proto proto;
    int streams;               /* requests in total */
    int concurrency;           /* closed loop: streams open at once (0 = all at once) */
    double rate_per_s;         /* > 0: open loop, arrivals per second (concurrency ignored) */
    int ws_per_conn;           /* WS: streams multiplexed on one socket (default 1) */
    int max_tokens;
    const char *prompt;        /* default "Once upon a time" */
    const char *api_key;       /* NULL = no Authorization header */
    uint64_t seed;             /* stream i uses seed + i */
    int timeout_ms;            /* whole run; streams still open then count as failed */
    int hold_ms;               /* > 0: after all streams are accepted (first token seen), call
                                * on_hold once, then wait hold_ms before finishing normally */
    void (*on_hold)(void *ud); /* e.g. read the gateway's RSS while every stream is open */
    void *ud;
    int connect_per_ms;        /* most new connections started per millisecond (default 50) */
    int keep_text;             /* 1: keep each finished stream's text in result.texts */
    int resume;                /* > 0: when a connection breaks mid-stream, reconnect (after
                                * 100 ms, at most this many times) and resume: SSE with
                                * Last-Event-ID (and an Idempotency-Key on every request), WS
                                * with resume messages. 0: a broken connection fails its streams */
};

struct load_result {
    int accepted;              /* streams that received at least one token */
    int ok;                    /* streams that finished with done / [DONE] and passed checks */
    int failed;                /* error event, bad framing, early close, timeout */
    int failed_clear;          /* of those, ended by the server with an error it stated: SSE
                                * error event, WS error message, HTTP status other than 200 */
    int rejected;              /* 503 / 429 (SSE) or overloaded / rate_limited error (WS) */
    int rejected_retry_after;  /* of those, with Retry-After (header or retry_after_ms) */
    int dup_or_gap;            /* streams whose indices repeated, skipped or went backwards */
    int usage_mismatch;        /* streams whose usage.completion_tokens != tokens received */
    int timeouts;              /* streams still open at timeout_ms */
    int reconnects;            /* connections re-dialled to resume (cfg.resume) */
    long long tokens;          /* tokens received in streams that finished ok */
    double wall_s;             /* first connect to last stream end */
    double tokens_per_s;       /* tokens / (first token .. last token) */
    double ttft_p50_ms, ttft_p99_ms, ttft_mean_ms;
    double e2e_p50_ms, e2e_p99_ms;
    uint64_t *text_hash;       /* streams entries: FNV-1a of the stream's text (0 = not ok);
                                * owned, free with load_result_free */
    int *tokens_per_stream;    /* streams entries, owned */
    double *max_gap_ms;        /* streams entries, owned: longest wait between two token
                                * records of a stream that finished ok (a stall, e.g. a retry) */
    char **texts;              /* cfg.keep_text: streams entries (NULL = not ok), raw JSON-escaped, owned */
    int n_texts;
    char first_error[256];     /* the first failure, for a test message */
};

/* Runs the load to completion (blocking; its own uv loop). Returns 0 (inspect r), or < 0
 * when it could not start (bad config). r is always initialised. Several runs may go at once
 * in different threads (each keeps its buffers to itself). */
int load_run(const struct load_cfg *cfg, struct load_result *r);
void load_result_free(struct load_result *r);

/* One line of JSON with the result's numbers (no per-stream arrays) into out. */
void load_result_json(const struct load_result *r, char *out, size_t cap);

#endif
