/* stats.h -- what a benchmark run measured: latency histograms (TTFT, inter-token gap,
 * time per output token, end-to-end, queue time as seen and as reported), counters (sent, ok, errors by code,
 * rejections, goodput, tokens, index-check findings), all for the whole run and per time
 * window. Times in microseconds; window membership is by the time an event happened
 * (sent: when sent; tokens and gaps: when received; a request's latencies and outcome:
 * when it ended). No I/O; report.c renders it. */
#ifndef LLMQ_BENCH_STATS_H
#define LLMQ_BENCH_STATS_H

#include <stdint.h>

#include "bench/hist.h"

/* STAT_QUEUE: send to WS "accepted" / SSE headers (admission, as the client sees it);
 * STAT_SRV_QUEUE: the gateway's own done.timing.queue_ms (waiting in the job stream; WS). */
enum stat_kind { STAT_TTFT, STAT_ITL, STAT_TPOT, STAT_E2E, STAT_QUEUE, STAT_SRV_QUEUE, STAT_N };

struct stats_window {
    struct hist h[STAT_N];        /* coarser (sub_bits 7: < 1.6 % error) than the run's */
    uint64_t sent, ok, errors, rejected, good, tokens;
    double queue_depth, workers;  /* scraped from the gateway during the window; < 0 = none */
};

struct stats_code {
    char code[48];
    uint64_t n;
};

#define STATS_CODES_MAX 32

struct stats {
    struct hist h[STAT_N];        /* whole run (sub_bits 10: < 0.2 % error) */
    struct hist send_lag;         /* us from scheduled to sent: the generator's own lateness */
    double window_s;
    struct stats_window *w;       /* owned; n_w windows from the start of the run */
    int n_w;
    uint64_t sent, ok, errors, rejected, good, tokens, prompt_tokens;
    uint64_t index_gaps, index_repeats, index_bad;   /* tokens missing / repeated; requests */
    struct stats_code codes[STATS_CODES_MAX];         /* errors by code; the last is "other" */
    int n_codes;
    double slo_ttft_ms, slo_tpot_ms;                  /* goodput SLO; <= 0 = not checked */
};

/* What the runner knows about a request when it ends. Latencies < 0 = not applicable. */
struct stats_req {
    const char *err;              /* NULL = success */
    double ttft_us, tpot_us, e2e_us, queue_us;
    double srv_queue_us;          /* server-reported queue wait; < 0 = not reported */
    int tokens, prompt_tokens;
    int gaps, repeats;
};

void stats_init(struct stats *s, double window_s, double slo_ttft_ms, double slo_tpot_ms);
void stats_deinit(struct stats *s);
/* The window holding time t_s after the start (created on demand; t_s < 0 -> window 0). */
struct stats_window *stats_window_at(struct stats *s, double t_s);
void stats_on_sent(struct stats *s, double t_s, double lag_us);
void stats_on_tokens(struct stats *s, double t_s, int n, double gap_us);   /* gap < 0: first */
void stats_on_end(struct stats *s, double t_s, const struct stats_req *r);
/* 1 for codes that mean the platform refused the request (backpressure or rate limit). */
int stats_is_rejection(const char *code);
/* Gauges scraped at t_s (either may be < 0 when unknown). */
void stats_on_scrape(struct stats *s, double t_s, double queue_depth, double workers);

#endif
