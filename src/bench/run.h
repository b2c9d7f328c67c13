/* run.h -- one benchmark run: sends requests on an arrival schedule (open loop) or keeps N
 * users busy (closed loop) against a gateway over SSE or WebSocket, measures every request
 * and returns the statistics. Single-threaded on its own libuv loop; prints a live progress
 * line to stderr when asked. Rendering the result is report.h's job. */
#ifndef LLMQ_BENCH_RUN_H
#define LLMQ_BENCH_RUN_H

#include <stdint.h>

#include "bench/arrival.h"
#include "bench/scrape.h"
#include "bench/stats.h"
#include "common/err.h"

enum bench_mode { BENCH_MODE_SSE, BENCH_MODE_WS };

struct bench_cfg {
    const char *url;             /* http://host:port[/base] of the gateway (borrowed) */
    enum bench_mode mode;
    int chat;                    /* 1: /v1/chat/completions (SSE) / messages (WS) */
    const char *model;           /* NULL: not sent */
    const char *api_key;         /* NULL: none */
    struct arrival_cfg arr;      /* profile, rates, bounds (duration_s, requests_max) */
    int concurrency;             /* closed loop: users */
    int connections;             /* WS sockets in the pool */
    double timeout_s;            /* per request, from its scheduled time */
    double drain_s;              /* after the last send, wait at most this for stragglers */
    double window_s;             /* statistics window */
    double slo_ttft_ms, slo_tpot_ms;   /* goodput */
    double temperature;
    int ignore_eos;              /* send "ignore_eos":true (vLLM) so outputs reach max_tokens */
    int progress;                /* 1: live progress line on stderr */
    const char *metrics_url;     /* gateway /metrics sampled every window for queue depth and
                                  * workers; NULL: <url>/metrics; "" : none */
    struct scrape_targets scrape;  /* cost counters before/after; all empty: no cost report */
    uint64_t seed;
};

struct bench_result {
    struct stats st;
    double wall_s;               /* from the start to the last request's end */
    double schedule_s;           /* time of the last scheduled send */
    double cpu_s;                /* the generator's own CPU seconds */
    int saturated;               /* the generator may have limited the measurement */
    char saturated_why[160];
    struct scrape_snap before, after;
    int scraped;                 /* before/after are meaningful */
};

/* Runs the benchmark. Returns 0 (the result holds the run, even when every request failed)
 * or a negative code with e saying which setting is wrong. res must be freed with
 * bench_result_deinit in both cases. */
int bench_run(const struct bench_cfg *cfg, struct bench_result *res, struct err *e);
void bench_result_deinit(struct bench_result *res);

#endif
