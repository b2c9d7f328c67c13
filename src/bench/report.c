/* report.c -- JSON, Markdown, SVG and text renderings of a run, and the cost model (see
 * report.h). JSON goes through jansson (it is not per token); SVG is hand-written: one
 * polyline per series over a linear axis with "nice" ticks, readable without a viewer. */
#include "bench/report.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/xalloc.h"

static const char *const stat_names[STAT_N] = { "ttft", "itl", "tpot", "e2e", "queue", "server_queue" };
static const double qs[] = { 0.5, 0.9, 0.95, 0.99, 0.999 };
static const char *const q_names[] = { "p50", "p90", "p95", "p99", "p99.9" };
#define N_QS 5

/* ---- cost ---- */

void cost_prices_default(struct cost_prices *p)
{
    p->gpu_hour = 2.00;
    p->vcpu_hour = 0.04;
    p->redis_mops = 0.20;
}

int cost_prices_load(struct cost_prices *p, const char *path, struct err *e)
{
    FILE *f = fopen(path, "r");
    if (!f) return err_set(e, -errno, "--prices %s: %s", path, strerror(errno));
    char line[256];
    int lineno = 0, rc = 0;
    while (fgets(line, sizeof(line), f)) {
        lineno++;
        char *h = strchr(line, '#');
        if (h) *h = '\0';
        char key[64];
        double v;
        if (sscanf(line, " %63[a-z_] = %lf", key, &v) != 2) {
            if (strspn(line, " \t\r\n") == strlen(line)) continue;
            rc = err_set(e, LLMQ_EFORMAT, "--prices %s:%d: expected 'name = number'", path, lineno);
            break;
        }
        if (!strcmp(key, "gpu_hour")) p->gpu_hour = v;
        else if (!strcmp(key, "vcpu_hour")) p->vcpu_hour = v;
        else if (!strcmp(key, "redis_mops")) p->redis_mops = v;
        else {
            rc = err_set(e, LLMQ_EFORMAT, "--prices %s:%d: unknown price '%s' (gpu_hour, "
                         "vcpu_hour, redis_mops)", path, lineno, key);
            break;
        }
    }
    fclose(f);
    return rc;
}

void cost_compute(const struct bench_result *res, const struct cost_prices *p, double workers_hint,
                  struct cost *c)
{
    memset(c, 0, sizeof(*c));
    c->idle_share = -1;
    double sum = 0;
    int n = 0;
    for (int i = 0; i < res->st.n_w; i++)
        if (res->st.w[i].workers >= 0) {
            sum += res->st.w[i].workers;
            n++;
        }
    if (n) {
        c->workers = sum / n;
        c->have_workers = 1;
    } else if (res->scraped && res->after.have_workers) {
        c->workers = res->after.workers;
        c->have_workers = 1;
    } else if (workers_hint > 0) {
        c->workers = workers_hint;
        c->have_workers = 1;
    }
    c->worker_s = c->workers * res->wall_s;
    if (res->scraped) {
        const struct scrape_snap *b = &res->before, *a = &res->after;
        if (a->have_busy && b->have_busy) {
            c->have_busy = 1;
            c->busy_s = a->engine_busy_s - b->engine_busy_s;
            if (c->worker_s > 0) c->idle_share = 1 - c->busy_s / c->worker_s;
            if (c->idle_share < 0 && c->idle_share > -0.05) c->idle_share = 0;
        }
        if (a->have_gateway_cpu && b->have_gateway_cpu) {
            c->have_gateway_cpu = 1;
            c->gateway_cpu_s = a->gateway_cpu_s - b->gateway_cpu_s;
        }
        if (a->have_worker_cpu && b->have_worker_cpu) c->worker_cpu_s = a->worker_cpu_s - b->worker_cpu_s;
        if (a->have_redis && b->have_redis) {
            c->have_redis = 1;
            c->redis_ops = a->redis_ops - b->redis_ops;
        }
    }
    c->usd_gpu = c->worker_s / 3600 * p->gpu_hour;
    c->usd_cpu = c->gateway_cpu_s / 3600 * p->vcpu_hour;
    c->usd_redis = c->redis_ops / 1e6 * p->redis_mops;
    c->usd_total = c->usd_gpu + c->usd_cpu + c->usd_redis;
    double k = res->st.tokens ? 1000.0 / (double)res->st.tokens : 0;
    c->per1k_gpu = c->usd_gpu * k;
    c->per1k_cpu = c->usd_cpu * k;
    c->per1k_redis = c->usd_redis * k;
    c->per1k_total = c->usd_total * k;
}

/* ---- derived numbers ---- */

static double ms(double us) { return us / 1000.0; }
static double rate(uint64_t n, double s) { return s > 0 ? (double)n / s : 0; }
static double share(uint64_t n, uint64_t of) { return of ? (double)n / (double)of : 0; }

static const char *endpoint_name(const struct bench_cfg *c) { return c->chat ? "chat" : "completions"; }

static void profile_desc(char *out, size_t cap, const struct report_meta *m)
{
    const struct bench_cfg *c = m->cfg;
    const struct arrival_cfg *a = &c->arr;
    switch (a->profile) {
    case ARRIVAL_CLOSED: snprintf(out, cap, "closed loop, %d users", c->concurrency); break;
    case ARRIVAL_POISSON: snprintf(out, cap, "Poisson %.4g req/s", a->rate); break;
    case ARRIVAL_GAMMA:
        snprintf(out, cap, "gamma %.4g req/s, burstiness %.3g", a->rate, a->burstiness);
        break;
    case ARRIVAL_STEP: {
        size_t n = (size_t)snprintf(out, cap, "step");
        for (int i = 0; i < a->n_rates && n < cap; i++)
            n += (size_t)snprintf(out + n, cap - n, "%s%.4g", i ? "," : " ", a->rates[i]);
        if (n < cap) snprintf(out + n, cap - n, " req/s, %.4g s each", a->step_s);
        break;
    }
    case ARRIVAL_BURST:
        snprintf(out, cap, "burst %d every %.4g s x%d", a->burst_k, a->idle_s, a->bursts);
        break;
    case ARRIVAL_TRACE:
        snprintf(out, cap, "trace %s (%s) x%.4g", m->trace_path ? m->trace_path : "?",
                 a->trace ? "loaded" : "?", a->speedup);
        break;
    }
}

/* ---- JSON ---- */

static json_t *hist_json(const struct hist *h)
{
    json_t *o = json_object();
    json_object_set_new(o, "count", json_integer((json_int_t)h->count));
    for (int i = 0; i < N_QS; i++) json_object_set_new(o, q_names[i], json_real(ms(hist_quantile(h, qs[i]))));
    json_object_set_new(o, "max", json_real(ms(hist_quantile(h, 1))));
    json_object_set_new(o, "min", json_real(ms(hist_quantile(h, 0))));
    json_object_set_new(o, "mean", json_real(ms(hist_mean(h))));
    return o;
}

static json_t *num_or_null(double v, int have) { return have ? json_real(v) : json_null(); }

void report_json(struct buf *out, const struct report_meta *m, const struct bench_result *res,
                 const struct cost *cost, const struct cost_prices *prices)
{
    const struct bench_cfg *c = m->cfg;
    const struct stats *s = &res->st;
    char desc[512];
    profile_desc(desc, sizeof(desc), m);
    json_t *root = json_object();
    json_object_set_new(root, "version", json_integer(1));
    json_object_set_new(root, "name", json_string(m->name ? m->name : ""));

    json_t *cfg = json_object();
    json_object_set_new(cfg, "url", json_string(c->url));
    json_object_set_new(cfg, "mode", json_string(c->mode == BENCH_MODE_WS ? "ws" : "sse"));
    json_object_set_new(cfg, "endpoint", json_string(endpoint_name(c)));
    json_object_set_new(cfg, "profile", json_string(arrival_profile_name(c->arr.profile)));
    json_object_set_new(cfg, "profile_desc", json_string(desc));
    json_object_set_new(cfg, "duration_s", json_real(c->arr.duration_s));
    json_object_set_new(cfg, "requests", json_integer(c->arr.requests_max));
    json_object_set_new(cfg, "prompt_tokens", json_integer(c->arr.prompt_tokens));
    json_object_set_new(cfg, "max_tokens", json_integer(c->arr.max_tokens));
    json_object_set_new(cfg, "concurrency", json_integer(c->concurrency));
    json_object_set_new(cfg, "connections", json_integer(c->connections));
    json_object_set_new(cfg, "seed", json_integer((json_int_t)c->seed));
    json_object_set_new(cfg, "slo_ttft_ms", json_real(c->slo_ttft_ms));
    json_object_set_new(cfg, "slo_tpot_ms", json_real(c->slo_tpot_ms));
    json_object_set_new(cfg, "window_s", json_real(s->window_s));
    if (m->trace_path) json_object_set_new(cfg, "trace", json_string(m->trace_path));
    json_object_set_new(root, "config", cfg);

    json_t *sum = json_object();
    json_object_set_new(sum, "sent", json_integer((json_int_t)s->sent));
    json_object_set_new(sum, "ok", json_integer((json_int_t)s->ok));
    json_object_set_new(sum, "errors", json_integer((json_int_t)s->errors));
    json_object_set_new(sum, "rejected", json_integer((json_int_t)s->rejected));
    json_object_set_new(sum, "good", json_integer((json_int_t)s->good));
    json_object_set_new(sum, "error_rate", json_real(share(s->errors, s->sent)));
    json_object_set_new(sum, "rejection_rate", json_real(share(s->rejected, s->sent)));
    json_object_set_new(sum, "wall_s", json_real(res->wall_s));
    json_object_set_new(sum, "request_throughput_rps", json_real(rate(s->ok, res->wall_s)));
    json_object_set_new(sum, "goodput_rps", json_real(rate(s->good, res->wall_s)));
    json_object_set_new(sum, "goodput_share", json_real(share(s->good, s->sent)));
    json_object_set_new(sum, "output_tokens", json_integer((json_int_t)s->tokens));
    json_object_set_new(sum, "prompt_tokens", json_integer((json_int_t)s->prompt_tokens));
    json_object_set_new(sum, "token_throughput_tps", json_real(rate(s->tokens, res->wall_s)));
    json_object_set_new(sum, "index_gaps", json_integer((json_int_t)s->index_gaps));
    json_object_set_new(sum, "index_repeats", json_integer((json_int_t)s->index_repeats));
    json_object_set_new(sum, "index_bad_requests", json_integer((json_int_t)s->index_bad));
    json_object_set_new(root, "summary", sum);

    json_t *lat = json_object();
    for (int k = 0; k < STAT_N; k++) json_object_set_new(lat, stat_names[k], hist_json(&s->h[k]));
    json_object_set_new(root, "latency_ms", lat);

    json_t *errs = json_object();
    for (int i = 0; i < s->n_codes; i++)
        json_object_set_new(errs, s->codes[i].code, json_integer((json_int_t)s->codes[i].n));
    json_object_set_new(root, "errors", errs);

    json_t *wins = json_array();
    for (int i = 0; i < s->n_w; i++) {
        const struct stats_window *w = &s->w[i];
        json_t *o = json_object();
        json_object_set_new(o, "t_s", json_real(i * s->window_s));
        json_object_set_new(o, "sent", json_integer((json_int_t)w->sent));
        json_object_set_new(o, "ok", json_integer((json_int_t)w->ok));
        json_object_set_new(o, "errors", json_integer((json_int_t)w->errors));
        json_object_set_new(o, "rejected", json_integer((json_int_t)w->rejected));
        json_object_set_new(o, "good", json_integer((json_int_t)w->good));
        json_object_set_new(o, "tokens", json_integer((json_int_t)w->tokens));
        json_object_set_new(o, "rps", json_real(rate(w->ok, s->window_s)));
        json_object_set_new(o, "tps", json_real(rate(w->tokens, s->window_s)));
        json_object_set_new(o, "error_rate", json_real(share(w->errors, w->ok + w->errors)));
        json_object_set_new(o, "rejection_rate", json_real(share(w->rejected, w->ok + w->errors)));
        json_t *wl = json_object();
        for (int k = 0; k < STAT_N; k++)
            if (w->h[k].count) json_object_set_new(wl, stat_names[k], hist_json(&w->h[k]));
        json_object_set_new(o, "latency_ms", wl);
        json_object_set_new(o, "queue_depth", num_or_null(w->queue_depth, w->queue_depth >= 0));
        json_object_set_new(o, "workers", num_or_null(w->workers, w->workers >= 0));
        json_array_append_new(wins, o);
    }
    json_object_set_new(root, "windows", wins);

    json_t *gen = json_object();
    json_object_set_new(gen, "cpu_s", json_real(res->cpu_s));
    json_object_set_new(gen, "cpu_share", json_real(res->wall_s > 0 ? res->cpu_s / res->wall_s : 0));
    json_object_set_new(gen, "cpu_us_per_request", json_real(s->sent ? res->cpu_s * 1e6 / (double)s->sent : 0));
    json_object_set_new(gen, "tokens_per_cpu_s", json_real(res->cpu_s > 0 ? (double)s->tokens / res->cpu_s : 0));
    json_object_set_new(gen, "send_lag_p50_ms", json_real(ms(hist_quantile(&s->send_lag, 0.5))));
    json_object_set_new(gen, "send_lag_p99_ms", json_real(ms(hist_quantile(&s->send_lag, 0.99))));
    json_object_set_new(gen, "send_lag_max_ms", json_real(ms(hist_quantile(&s->send_lag, 1))));
    json_object_set_new(gen, "saturated", json_boolean(res->saturated));
    if (res->saturated) json_object_set_new(gen, "saturated_why", json_string(res->saturated_why));
    json_object_set_new(root, "generator", gen);

    if (cost) {
        json_t *co = json_object();
        json_object_set_new(co, "workers", num_or_null(cost->workers, cost->have_workers));
        json_object_set_new(co, "worker_s", json_real(cost->worker_s));
        json_object_set_new(co, "engine_busy_s", num_or_null(cost->busy_s, cost->have_busy));
        json_object_set_new(co, "worker_idle_share", num_or_null(cost->idle_share, cost->idle_share >= 0));
        json_object_set_new(co, "gateway_cpu_s", num_or_null(cost->gateway_cpu_s, cost->have_gateway_cpu));
        json_object_set_new(co, "worker_cpu_s", json_real(cost->worker_cpu_s));
        json_object_set_new(co, "redis_ops", num_or_null(cost->redis_ops, cost->have_redis));
        json_object_set_new(co, "usd_total", json_real(cost->usd_total));
        json_t *p1k = json_object();
        json_object_set_new(p1k, "gpu", json_real(cost->per1k_gpu));
        json_object_set_new(p1k, "gateway_cpu", json_real(cost->per1k_cpu));
        json_object_set_new(p1k, "redis", json_real(cost->per1k_redis));
        json_object_set_new(p1k, "total", json_real(cost->per1k_total));
        json_object_set_new(co, "usd_per_1k_tokens", p1k);
        if (prices) {
            json_t *pr = json_object();
            json_object_set_new(pr, "gpu_hour", json_real(prices->gpu_hour));
            json_object_set_new(pr, "vcpu_hour", json_real(prices->vcpu_hour));
            json_object_set_new(pr, "redis_mops", json_real(prices->redis_mops));
            json_object_set_new(co, "prices", pr);
        }
        json_object_set_new(root, "cost", co);
    }
    char *txt = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(6));
    buf_append_str(out, txt);
    buf_append_char(out, '\n');
    free(txt);
    json_decref(root);
}

/* ---- Markdown ---- */

static void md_hist_row(struct buf *out, const char *name, const struct hist *h)
{
    buf_printf(out, "| %s | %llu |", name, (unsigned long long)h->count);
    for (int i = 0; i < N_QS; i++) buf_printf(out, " %.1f |", ms(hist_quantile(h, qs[i])));
    buf_printf(out, " %.1f | %.1f |\n", ms(hist_quantile(h, 1)), ms(hist_mean(h)));
}

void report_markdown(struct buf *out, const struct report_meta *m, const struct bench_result *res,
                     const struct cost *cost)
{
    const struct bench_cfg *c = m->cfg;
    const struct stats *s = &res->st;
    char desc[512];
    profile_desc(desc, sizeof(desc), m);
    buf_printf(out, "### %s\n\n", m->name ? m->name : arrival_profile_name(c->arr.profile));
    buf_printf(out, "%s over %s (`/v1/%s`), prompt %d tokens, max_tokens %d; %.1f s wall.\n\n",
               desc, c->mode == BENCH_MODE_WS ? "WebSocket" : "SSE",
               c->chat ? "chat/completions" : "completions", c->arr.prompt_tokens,
               c->arr.max_tokens, res->wall_s);
    buf_append_str(out, "| sent | ok | errors | rejected | req/s | tokens/s | goodput req/s | "
                        "goodput share | index gaps | index repeats |\n"
                        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n");
    buf_printf(out, "| %llu | %llu | %llu (%.1f%%) | %llu (%.1f%%) | %.2f | %.0f | %.2f | %.1f%% | %llu | %llu |\n\n",
               (unsigned long long)s->sent, (unsigned long long)s->ok,
               (unsigned long long)s->errors, 100 * share(s->errors, s->sent),
               (unsigned long long)s->rejected, 100 * share(s->rejected, s->sent),
               rate(s->ok, res->wall_s), rate(s->tokens, res->wall_s), rate(s->good, res->wall_s),
               100 * share(s->good, s->sent), (unsigned long long)s->index_gaps,
               (unsigned long long)s->index_repeats);
    buf_printf(out, "Goodput SLO: TTFT <= %.0f ms and TPOT <= %.0f ms.\n\n", c->slo_ttft_ms, c->slo_tpot_ms);
    buf_append_str(out, "| latency (ms) | n | p50 | p90 | p95 | p99 | p99.9 | max | mean |\n"
                        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n");
    static const char *const pretty[STAT_N] = { "TTFT", "ITL", "TPOT", "E2E", "queue (client)",
                                                "queue (server)" };
    for (int k = 0; k < STAT_N; k++)
        if (k != STAT_SRV_QUEUE || s->h[k].count) md_hist_row(out, pretty[k], &s->h[k]);
    buf_append_char(out, '\n');
    if (s->n_codes) {
        buf_append_str(out, "Errors by code:");
        for (int i = 0; i < s->n_codes; i++)
            buf_printf(out, "%s `%s` %llu", i ? "," : "", s->codes[i].code, (unsigned long long)s->codes[i].n);
        buf_append_str(out, ".\n\n");
    }
    if (cost && (cost->have_workers || cost->have_gateway_cpu || cost->have_redis)) {
        buf_append_str(out, "| cost per 1k output tokens | GPU (workers) | gateway CPU | Redis | total | worker idle share |\n"
                            "| --- | ---: | ---: | ---: | ---: | ---: |\n");
        char idle[32] = "n/a";
        if (cost->idle_share >= 0) snprintf(idle, sizeof(idle), "%.0f%%", 100 * cost->idle_share);
        buf_printf(out, "| USD | %.6f | %.6f | %.6f | **%.6f** | %s |\n\n", cost->per1k_gpu,
                   cost->per1k_cpu, cost->per1k_redis, cost->per1k_total, idle);
        char b1[32] = "n/a", b2[32] = "n/a", b3[32] = "n/a";
        if (cost->have_busy) snprintf(b1, sizeof(b1), "%.1f", cost->busy_s);
        if (cost->have_gateway_cpu) snprintf(b2, sizeof(b2), "%.1f", cost->gateway_cpu_s);
        if (cost->have_redis) snprintf(b3, sizeof(b3), "%.0f", cost->redis_ops);
        buf_printf(out, "Inputs: %.2f workers x %.1f s; engine busy %s s; gateway CPU %s s; "
                   "Redis %s ops.\n\n", cost->workers, res->wall_s, b1, b2, b3);
    }
    buf_printf(out, "Generator: %.2f CPU s (%.0f%% of one core), %.1f us CPU per request, "
               "send lag p99 %.2f ms%s%s.\n\n",
               res->cpu_s, res->wall_s > 0 ? 100 * res->cpu_s / res->wall_s : 0,
               s->sent ? res->cpu_s * 1e6 / (double)s->sent : 0,
               ms(hist_quantile(&s->send_lag, 0.99)),
               res->saturated ? "; **SATURATED**: " : "", res->saturated ? res->saturated_why : "");
    if (s->n_w > 1 && s->n_w <= 60) {
        buf_printf(out, "<details><summary>Per %.4g s window</summary>\n\n", s->window_s);
        buf_append_str(out, "| t (s) | sent | ok | errors | rejected | tokens/s | TTFT p50 | TTFT p99 | "
                            "TPOT p50 | E2E p99 | queue depth | workers |\n"
                            "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n");
        for (int i = 0; i < s->n_w; i++) {
            const struct stats_window *w = &s->w[i];
            char qd[24] = "-", wk[24] = "-";
            if (w->queue_depth >= 0) snprintf(qd, sizeof(qd), "%.0f", w->queue_depth);
            if (w->workers >= 0) snprintf(wk, sizeof(wk), "%.0f", w->workers);
            buf_printf(out, "| %.4g | %llu | %llu | %llu | %llu | %.0f | %.1f | %.1f | %.1f | %.0f | %s | %s |\n",
                       i * s->window_s, (unsigned long long)w->sent, (unsigned long long)w->ok,
                       (unsigned long long)w->errors, (unsigned long long)w->rejected,
                       rate(w->tokens, s->window_s), ms(hist_quantile(&w->h[STAT_TTFT], 0.5)),
                       ms(hist_quantile(&w->h[STAT_TTFT], 0.99)), ms(hist_quantile(&w->h[STAT_TPOT], 0.5)),
                       ms(hist_quantile(&w->h[STAT_E2E], 0.99)), qd, wk);
        }
        buf_append_str(out, "\n</details>\n\n");
    }
    if (m->svg_link) {
        const char *n = m->name ? m->name : arrival_profile_name(c->arr.profile);
        buf_printf(out, "![latency](%s/%s-latency.svg) ![throughput](%s/%s-throughput.svg)\n"
                        "![requests](%s/%s-requests.svg) ![queue](%s/%s-queue.svg)\n\n",
                   m->svg_link, n, m->svg_link, n, m->svg_link, n, m->svg_link, n);
    }
}

void report_markdown_row_header(struct buf *out)
{
    buf_append_str(out, "| scenario | arrivals | mode | ok / sent | req/s | tokens/s | TTFT p50 | TTFT p99 | "
                        "TPOT p50 | TPOT p99 | E2E p99 | errors | goodput | USD / 1k tok |\n"
                        "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n");
}

void report_markdown_row(struct buf *out, const struct report_meta *m, const struct bench_result *res,
                         const struct cost *cost)
{
    const struct stats *s = &res->st;
    char desc[512], usd[32] = "n/a";
    profile_desc(desc, sizeof(desc), m);
    if (m->cfg->arr.profile == ARRIVAL_TRACE && m->trace_path) {     /* the file name is enough */
        const char *base = strrchr(m->trace_path, '/');
        snprintf(desc, sizeof(desc), "trace %s x%.4g", base ? base + 1 : m->trace_path, m->cfg->arr.speedup);
    }
    if (cost && cost->have_workers && s->tokens) snprintf(usd, sizeof(usd), "%.5f", cost->per1k_total);
    buf_printf(out, "| %s | %s | %s | %llu / %llu | %.2f | %.0f | %.1f | %.1f | %.1f | %.1f | %.0f | %.1f%% | %.1f%% | %s |\n",
               m->name ? m->name : "-", desc, m->cfg->mode == BENCH_MODE_WS ? "WS" : "SSE",
               (unsigned long long)s->ok, (unsigned long long)s->sent, rate(s->ok, res->wall_s),
               rate(s->tokens, res->wall_s), ms(hist_quantile(&s->h[STAT_TTFT], 0.5)),
               ms(hist_quantile(&s->h[STAT_TTFT], 0.99)), ms(hist_quantile(&s->h[STAT_TPOT], 0.5)),
               ms(hist_quantile(&s->h[STAT_TPOT], 0.99)), ms(hist_quantile(&s->h[STAT_E2E], 0.99)),
               100 * share(s->errors, s->sent), 100 * share(s->good, s->sent), usd);
}

void report_text(struct buf *out, const struct report_meta *m, const struct bench_result *res,
                 const struct cost *cost)
{
    const struct stats *s = &res->st;
    buf_printf(out, "%s: sent %llu, ok %llu, errors %llu, rejected %llu in %.1f s\n",
               m->name ? m->name : "run", (unsigned long long)s->sent, (unsigned long long)s->ok,
               (unsigned long long)s->errors, (unsigned long long)s->rejected, res->wall_s);
    buf_printf(out, "  throughput %.2f req/s, %.0f tokens/s; goodput %.2f req/s\n",
               rate(s->ok, res->wall_s), rate(s->tokens, res->wall_s), rate(s->good, res->wall_s));
    static const char *const pretty[STAT_N] = { "TTFT ", "ITL  ", "TPOT ", "E2E  ", "queue", "srvq " };
    for (int k = 0; k < STAT_N; k++) {
        const struct hist *h = &s->h[k];
        if (k == STAT_SRV_QUEUE && !h->count) continue;
        buf_printf(out, "  %s ms  p50 %8.2f  p90 %8.2f  p99 %8.2f  p99.9 %8.2f  max %8.2f\n",
                   pretty[k], ms(hist_quantile(h, 0.5)), ms(hist_quantile(h, 0.9)),
                   ms(hist_quantile(h, 0.99)), ms(hist_quantile(h, 0.999)), ms(hist_quantile(h, 1)));
    }
    if (s->index_gaps || s->index_repeats)
        buf_printf(out, "  INDEX CHECK: %llu tokens missing, %llu repeated, in %llu requests\n",
                   (unsigned long long)s->index_gaps, (unsigned long long)s->index_repeats,
                   (unsigned long long)s->index_bad);
    for (int i = 0; i < s->n_codes; i++)
        buf_printf(out, "  error %-20s %llu\n", s->codes[i].code, (unsigned long long)s->codes[i].n);
    if (cost && (cost->have_workers || cost->have_gateway_cpu || cost->have_redis)) {
        char idle[32] = "n/a";
        if (cost->idle_share >= 0) snprintf(idle, sizeof(idle), "%.0f%%", 100 * cost->idle_share);
        buf_printf(out, "  cost per 1k tokens: total $%.5f (gpu %.5f, gateway cpu %.5f, redis %.5f); "
                   "%.2f workers, idle %s of worker time\n", cost->per1k_total, cost->per1k_gpu,
                   cost->per1k_cpu, cost->per1k_redis, cost->workers, idle);
    }
    buf_printf(out, "  generator: %.2f CPU s (%.0f%% of a core), %.0f tokens per CPU s%s%s\n",
               res->cpu_s, res->wall_s > 0 ? 100 * res->cpu_s / res->wall_s : 0,
               res->cpu_s > 0 ? (double)s->tokens / res->cpu_s : 0,
               res->saturated ? "; SATURATED: " : "", res->saturated ? res->saturated_why : "");
}

/* ---- SVG ---- */

static const char *const colors[] = { "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b" };

static double nice_step(double range, int ticks)
{
    if (range <= 0) return 1;
    double raw = range / ticks, mag = pow(10, floor(log10(raw))), f = raw / mag;
    return (f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10) * mag;
}

static void xml_text(struct buf *out, const char *s)
{
    for (; *s; s++) {
        if (*s == '<') buf_append_str(out, "&lt;");
        else if (*s == '>') buf_append_str(out, "&gt;");
        else if (*s == '&') buf_append_str(out, "&amp;");
        else buf_append_char(out, *s);
    }
}

void report_svg_chart(struct buf *out, const char *title, const char *y_label, const double *x,
                      int n, const struct svg_series *s, int n_series)
{
    const double W = 720, H = 320, L = 70, R = 150, T = 36, B = 44;
    double pw = W - L - R, ph = H - T - B;
    double xmax = 0, ymax = 0;
    for (int i = 0; i < n; i++) {
        if (x[i] > xmax) xmax = x[i];
        for (int k = 0; k < n_series; k++)
            if (!isnan(s[k].y[i]) && s[k].y[i] > ymax) ymax = s[k].y[i];
    }
    if (xmax <= 0) xmax = 1;
    double ystep = nice_step(ymax > 0 ? ymax : 1, 5);
    ymax = ceil((ymax > 0 ? ymax : 1) / ystep) * ystep;
    double xstep = nice_step(xmax, 8);
    buf_printf(out, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" "
               "viewBox=\"0 0 %.0f %.0f\" font-family=\"sans-serif\" font-size=\"12\">\n", W, H, W, H);
    buf_append_str(out, "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n");
    buf_printf(out, "<text x=\"%.0f\" y=\"20\" font-size=\"14\" font-weight=\"bold\">", L);
    xml_text(out, title);
    buf_append_str(out, "</text>\n");
    for (double v = 0; v <= ymax + ystep / 2; v += ystep) {
        double y = T + ph - v / ymax * ph;
        buf_printf(out, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>"
                   "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%g</text>\n",
                   L, y, L + pw, y, L - 6, y + 4, v);
    }
    for (double v = 0; v <= xmax + xstep / 2; v += xstep) {
        double xx = L + v / xmax * pw;
        buf_printf(out, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#eee\"/>"
                   "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%g</text>\n",
                   xx, T, xx, T + ph, xx, T + ph + 16, v);
    }
    buf_printf(out, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">time (s)</text>\n", L + pw / 2, H - 8);
    buf_printf(out, "<text transform=\"translate(16 %.1f) rotate(-90)\" text-anchor=\"middle\">", T + ph / 2);
    xml_text(out, y_label);
    buf_append_str(out, "</text>\n");
    buf_printf(out, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" stroke=\"#888\"/>\n",
               L, T, pw, ph);
    for (int k = 0; k < n_series && k < 6; k++) {
        int open = 0;
        for (int i = 0; i < n; i++) {
            double v = s[k].y[i];
            if (isnan(v)) {
                if (open) buf_append_str(out, "\"/>\n");
                open = 0;
                continue;
            }
            double px = L + x[i] / xmax * pw, py = T + ph - v / ymax * ph;
            if (!open) {
                buf_printf(out, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"1.8\" points=\"", colors[k]);
                open = 1;
            }
            buf_printf(out, "%.1f,%.1f ", px, py);
        }
        if (open) buf_append_str(out, "\"/>\n");
        double ly = T + 14 + k * 18;
        buf_printf(out, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" stroke-width=\"3\"/>"
                   "<text x=\"%.1f\" y=\"%.1f\">", L + pw + 12, ly, L + pw + 32, ly, colors[k], L + pw + 38, ly + 4);
        xml_text(out, s[k].name);
        buf_append_str(out, "</text>\n");
    }
    buf_append_str(out, "</svg>\n");
}

int report_write_file(const char *path, const struct buf *b, int append, struct err *e)
{
    FILE *f = fopen(path, append ? "a" : "w");
    if (!f) return err_set(e, -errno, "%s: %s", path, strerror(errno));
    size_t n = b->len ? fwrite(b->data, 1, b->len, f) : 0;
    int bad = n != b->len;
    if (fclose(f) != 0) bad = 1;
    if (bad) return err_set(e, -EIO, "%s: write failed", path);
    return 0;
}

static int write_chart(const char *dir, const char *name, const char *what, const char *title,
                       const char *ylabel, const double *x, int n, const struct svg_series *s,
                       int ns, struct err *e)
{
    struct buf b;
    char path[1024];
    buf_init(&b);
    report_svg_chart(&b, title, ylabel, x, n, s, ns);
    snprintf(path, sizeof(path), "%s/%s-%s.svg", dir, name, what);
    int rc = report_write_file(path, &b, 0, e);
    buf_deinit(&b);
    return rc;
}

int report_write_svgs(const char *dir, const char *name, const struct bench_result *res, struct err *e)
{
    const struct stats *s = &res->st;
    int n = s->n_w, rc = 0;
    if (mkdir(dir, 0777) < 0 && errno != EEXIST) return err_set(e, -errno, "%s: %s", dir, strerror(errno));
    if (n == 0) return 0;
    double *x = xcalloc((size_t)n, sizeof(double));
    double *y = xcalloc((size_t)n * 6, sizeof(double));
    double *c[6];
    for (int k = 0; k < 6; k++) c[k] = y + (size_t)k * n;
    for (int i = 0; i < n; i++) x[i] = (i + 0.5) * s->window_s;
    char title[256];
    const double nan_v = NAN;
#define Q(w, kind, q) ((w)->h[kind].count ? ms(hist_quantile(&(w)->h[kind], q)) : nan_v)
    for (int i = 0; i < n; i++) {
        const struct stats_window *w = &s->w[i];
        c[0][i] = Q(w, STAT_TTFT, 0.5);
        c[1][i] = Q(w, STAT_TTFT, 0.99);
        c[2][i] = Q(w, STAT_ITL, 0.99);
        c[3][i] = Q(w, STAT_TPOT, 0.5);
        c[4][i] = Q(w, STAT_E2E, 0.5);
        c[5][i] = Q(w, STAT_E2E, 0.99);
    }
    struct svg_series lat[] = { { "TTFT p50", c[0] }, { "TTFT p99", c[1] }, { "ITL p99", c[2] },
                                { "TPOT p50", c[3] }, { "E2E p50", c[4] }, { "E2E p99", c[5] } };
    snprintf(title, sizeof(title), "%s: latency percentiles per %.0f s window", name, s->window_s);
    if ((rc = write_chart(dir, name, "latency", title, "ms", x, n, lat, 6, e)) < 0) goto out;

    for (int i = 0; i < n; i++) c[0][i] = rate(s->w[i].tokens, s->window_s);
    struct svg_series thr[] = { { "tokens/s", c[0] } };
    snprintf(title, sizeof(title), "%s: output token throughput", name);
    if ((rc = write_chart(dir, name, "throughput", title, "tokens/s", x, n, thr, 1, e)) < 0) goto out;

    for (int i = 0; i < n; i++) {
        const struct stats_window *w = &s->w[i];
        c[0][i] = rate(w->sent, s->window_s);
        c[1][i] = rate(w->ok, s->window_s);
        c[2][i] = rate(w->good, s->window_s);
        c[3][i] = rate(w->errors, s->window_s);
        c[4][i] = rate(w->rejected, s->window_s);
    }
    struct svg_series rq[] = { { "sent/s", c[0] }, { "ok/s", c[1] }, { "goodput/s", c[2] },
                               { "errors/s", c[3] }, { "rejected/s", c[4] } };
    snprintf(title, sizeof(title), "%s: requests", name);
    if ((rc = write_chart(dir, name, "requests", title, "requests/s", x, n, rq, 5, e)) < 0) goto out;

    for (int i = 0; i < n; i++) {
        c[0][i] = s->w[i].queue_depth >= 0 ? s->w[i].queue_depth : nan_v;
        c[1][i] = s->w[i].workers >= 0 ? s->w[i].workers : nan_v;
    }
    struct svg_series qd[] = { { "queue depth", c[0] }, { "workers", c[1] } };
    snprintf(title, sizeof(title), "%s: queue depth (gateway /metrics) and live workers (Redis registry)", name);
    rc = write_chart(dir, name, "queue", title, "count", x, n, qd, 2, e);
out:
    free(x);
    free(y);
    return rc;
}
