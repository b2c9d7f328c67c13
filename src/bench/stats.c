/* stats.c -- accumulation of benchmark measurements (see stats.h). */
#include "bench/stats.h"

#include <stdlib.h>
#include <string.h>

#include "common/xalloc.h"

#define VALUE_MAX_US (3600ull * 1000000ull)    /* latencies past an hour are clamped */

void stats_init(struct stats *s, double window_s, double slo_ttft_ms, double slo_tpot_ms)
{
    memset(s, 0, sizeof(*s));
    for (int k = 0; k < STAT_N; k++) hist_init(&s->h[k], 10, VALUE_MAX_US);
    hist_init(&s->send_lag, 10, VALUE_MAX_US);
    s->window_s = window_s > 0 ? window_s : 1;
    s->slo_ttft_ms = slo_ttft_ms;
    s->slo_tpot_ms = slo_tpot_ms;
}

void stats_deinit(struct stats *s)
{
    for (int k = 0; k < STAT_N; k++) hist_deinit(&s->h[k]);
    hist_deinit(&s->send_lag);
    for (int i = 0; i < s->n_w; i++)
        for (int k = 0; k < STAT_N; k++) hist_deinit(&s->w[i].h[k]);
    free(s->w);
    memset(s, 0, sizeof(*s));
}

struct stats_window *stats_window_at(struct stats *s, double t_s)
{
    int i = t_s <= 0 ? 0 : (int)(t_s / s->window_s);
    if (i > 4000) i = 4000;           /* a run far past its plan piles into the last window */
    if (i >= s->n_w) {
        s->w = xrealloc(s->w, (size_t)(i + 1) * sizeof(*s->w));
        for (int j = s->n_w; j <= i; j++) {
            struct stats_window *w = &s->w[j];
            memset(w, 0, sizeof(*w));
            for (int k = 0; k < STAT_N; k++) hist_init(&w->h[k], 7, VALUE_MAX_US);
            w->queue_depth = w->workers = -1;
        }
        s->n_w = i + 1;
    }
    return &s->w[i];
}

static uint64_t us(double v) { return v <= 0 ? 0 : (uint64_t)(v + 0.5); }

void stats_on_sent(struct stats *s, double t_s, double lag_us)
{
    s->sent++;
    stats_window_at(s, t_s)->sent++;
    hist_record(&s->send_lag, us(lag_us));
}

void stats_on_tokens(struct stats *s, double t_s, int n, double gap_us)
{
    struct stats_window *w = stats_window_at(s, t_s);
    s->tokens += (uint64_t)n;
    w->tokens += (uint64_t)n;
    if (gap_us >= 0) {
        hist_record(&s->h[STAT_ITL], us(gap_us));
        hist_record(&w->h[STAT_ITL], us(gap_us));
    }
}

int stats_is_rejection(const char *code)
{
    return !strcmp(code, "overloaded") || !strcmp(code, "rate_limited") ||
           !strcmp(code, "http_503") || !strcmp(code, "http_429") ||
           !strcmp(code, "rate_limit_exceeded");
}

static void count_code(struct stats *s, const char *code)
{
    for (int i = 0; i < s->n_codes; i++)
        if (!strcmp(s->codes[i].code, code)) {
            s->codes[i].n++;
            return;
        }
    if (s->n_codes == STATS_CODES_MAX) {       /* table full: the last slot becomes "other" */
        strcpy(s->codes[STATS_CODES_MAX - 1].code, "other");
        s->codes[STATS_CODES_MAX - 1].n++;
        return;
    }
    struct stats_code *c = &s->codes[s->n_codes++];
    strncpy(c->code, code, sizeof(c->code) - 1);
    c->code[sizeof(c->code) - 1] = '\0';
    c->n = 1;
}

static void record(struct hist *run_h, struct hist *win_h, double v)
{
    if (v < 0) return;
    hist_record(run_h, us(v));
    hist_record(win_h, us(v));
}

void stats_on_end(struct stats *s, double t_s, const struct stats_req *r)
{
    struct stats_window *w = stats_window_at(s, t_s);
    s->prompt_tokens += (uint64_t)(r->prompt_tokens > 0 ? r->prompt_tokens : 0);
    s->index_gaps += (uint64_t)r->gaps;
    s->index_repeats += (uint64_t)r->repeats;
    if (r->gaps || r->repeats) s->index_bad++;
    record(&s->h[STAT_QUEUE], &w->h[STAT_QUEUE], r->queue_us);
    record(&s->h[STAT_SRV_QUEUE], &w->h[STAT_SRV_QUEUE], r->srv_queue_us);
    if (r->err) {
        s->errors++;
        w->errors++;
        count_code(s, r->err);
        if (stats_is_rejection(r->err)) {
            s->rejected++;
            w->rejected++;
        }
        return;
    }
    s->ok++;
    w->ok++;
    record(&s->h[STAT_TTFT], &w->h[STAT_TTFT], r->ttft_us);
    record(&s->h[STAT_TPOT], &w->h[STAT_TPOT], r->tpot_us);
    record(&s->h[STAT_E2E], &w->h[STAT_E2E], r->e2e_us);
    int good = 1;
    if (s->slo_ttft_ms > 0 && (r->ttft_us < 0 || r->ttft_us > s->slo_ttft_ms * 1000)) good = 0;
    if (s->slo_tpot_ms > 0 && r->tpot_us > s->slo_tpot_ms * 1000) good = 0;
    if (good) {
        s->good++;
        w->good++;
    }
}

void stats_on_scrape(struct stats *s, double t_s, double queue_depth, double workers)
{
    struct stats_window *w = stats_window_at(s, t_s);
    if (queue_depth >= 0) w->queue_depth = queue_depth;
    if (workers >= 0) w->workers = workers;
}
