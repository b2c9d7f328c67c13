/* fake_gw.h -- a tiny llmq-shaped gateway for llmq-bench's tests, on real sockets (libuv,
 * its own thread): POST /v1/completions and /v1/chat/completions answer SSE with
 * "id: <rid>:<index>" events, GET /v1/ws speaks the PROTOCOL.md WebSocket messages (wslay
 * server side), GET /metrics exports the gauges the bench samples. Tokens come out on a
 * batched clock (every step_ms, tokens_per_step per stream), like a decoding engine. Faults
 * can be injected: skip an index, merge tokens, reject requests. Not a gateway: no Redis. */
#ifndef LLMQ_TEST_FAKE_GW_H
#define LLMQ_TEST_FAKE_GW_H

struct fake_gw_cfg {
    double step_ms;            /* token clock period (>= 1 ms granularity of libuv) */
    int tokens_per_step;       /* tokens per stream per tick (merged into one WS message when
                                * merge is set; separate messages/events otherwise) */
    int merge;                 /* WS: send ticks' tokens as one {"count":n} message */
    int skip_index_every;      /* fault: every Nth request skips index 2 (0 = never) */
    int reject_every;          /* fault: every Nth request gets 503 / overloaded (0 = never) */
    int sse_range_ids;         /* SSE ids "<rid>:<first>-<last>" (the proposed exact form);
                                * SSE then merges like WS and skips index 2 like WS */
};

struct fake_gw;

/* Starts on 127.0.0.1 on a free port. Returns NULL on failure. */
struct fake_gw *fake_gw_start(const struct fake_gw_cfg *cfg);
int fake_gw_port(const struct fake_gw *g);
long long fake_gw_requests(const struct fake_gw *g);   /* generate requests seen */
long long fake_gw_cancels(const struct fake_gw *g);    /* WS cancel messages that stopped a stream */
void fake_gw_stop(struct fake_gw *g);                  /* joins the thread, frees */

#endif
