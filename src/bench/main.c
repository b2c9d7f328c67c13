/* main.c -- `llmq-bench`: flags -> struct bench_cfg, one run, then the reports (terminal
 * summary, --json, --markdown, --svg). Exit status: 0 when the run completed, 1 on a
 * configuration error, 3 when the token-index check found a gap or a repeat. */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "bench/report.h"
#include "bench/run.h"
#include "bench/trace.h"
#include "common/cfg.h"
#include "common/log.h"
#include "common/xalloc.h"

static const char usage[] =
    "usage: llmq-bench --url URL --mode sse|ws [--endpoint completions|chat]\n"
    "  --profile closed|poisson|gamma|step|burst|trace [--concurrency N] [--rate R]\n"
    "  [--burstiness B] [--rates r1,r2,.. --step-seconds T] [--burst K --idle S --bursts N]\n"
    "  [--trace FILE --trace-format azure|burstgpt|mooncake --speedup X] [--duration S]\n"
    "  [--requests N] [--max-tokens N] [--prompt-tokens N] [--api-key K] [--json FILE]\n"
    "  [--markdown FILE] [--svg DIR]\n"
    "Load generator for llmq gateways (SSE or WebSocket) and OpenAI-compatible servers (SSE).\n"
    "Every flag can also be set as LLMQ_BENCH_<FLAG> in the environment (platform variables\n"
    "such as LLMQ_URL or LLMQ_MODEL are ignored).";

/* Fills the URL and the cost targets from `llmq up`'s state file (src/up/state.c):
 * {"url":..,"redis_url":..,"prefix":..,"children":[{"name":"gateway-0","pid":..},..]}.
 * Strings are stored in *owned (freed by the caller). Returns 0 or -1 with a message. */
static int read_up_state(const char *path, char **url, char **redis, char **prefix,
                         char **gw_pids, char **wk_pids)
{
    json_error_t je;
    json_t *j = json_load_file(path, 0, &je);
    if (!j) {
        fprintf(stderr, "llmq-bench: --up-state %s: %s\n", path, je.text);
        return -1;
    }
    const char *u = json_string_value(json_object_get(j, "url"));
    const char *r = json_string_value(json_object_get(j, "redis_url"));
    const char *p = json_string_value(json_object_get(j, "prefix"));
    if (u && !*url) *url = xstrdup(u);
    if (r && !*redis) *redis = xstrdup(r);
    if (p && !*prefix) *prefix = xstrdup(p);
    struct buf g, w;
    buf_init(&g);
    buf_init(&w);
    json_t *kids = json_object_get(j, "children"), *k;
    size_t i;
    json_array_foreach(kids, i, k) {
        const char *name = json_string_value(json_object_get(k, "name"));
        json_int_t pid = json_integer_value(json_object_get(k, "pid"));
        if (!name || pid <= 0) continue;
        struct buf *b = !strncmp(name, "gateway", 7) ? &g : !strncmp(name, "worker", 6) ? &w : NULL;
        if (b) buf_printf(b, "%s%lld", b->len ? "," : "", (long long)pid);
    }
    if (g.len && !*gw_pids) *gw_pids = xstrdup(g.data);
    if (w.len && !*wk_pids) *wk_pids = xstrdup(w.data);
    buf_deinit(&g);
    buf_deinit(&w);
    json_decref(j);
    return 0;
}

static int parse_rates(const char *s, double **out, int *n)
{
    *out = NULL;
    *n = 0;
    if (!s || !*s) return 0;
    char *copy = xstrdup(s), *save = NULL;
    int cap = 8;
    *out = xmalloc((size_t)cap * sizeof(double));
    for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        char *end;
        double v = strtod(t, &end);
        if (end == t || *end) {
            free(copy);
            return -EINVAL;
        }
        if (*n == cap) *out = xrealloc(*out, (size_t)(cap *= 2) * sizeof(double));
        (*out)[(*n)++] = v;
    }
    free(copy);
    return 0;
}

int main(int argc, char **argv)
{
    char *url = NULL, *mode = "sse", *endpoint = "completions", *profile = "closed";
    char *rates_s = NULL, *trace_path = NULL, *trace_fmt = "azure", *api_key = NULL, *model = NULL;
    char *row_path = NULL;
    char *json_path = NULL, *md_path = NULL, *svg_dir = NULL, *svg_link = NULL, *name = NULL;
    char *metrics_url = NULL, *gw_metrics = NULL, *wk_metrics = NULL, *gw_pids = NULL;
    char *wk_pids = NULL, *redis = NULL, *prices_path = NULL, *up_state = NULL, *prefix = NULL;
    char *st_url = NULL, *st_redis = NULL, *st_prefix = NULL, *st_gw = NULL, *st_wk = NULL;
    long long concurrency = 8, burst = 10, bursts = 3, requests = 0, max_tokens = 128;
    long long prompt_tokens = 128, connections = 4, seed = 1;
    double rate = 10, burstiness = 1, step_s = 10, idle = 5, speedup = 1, duration = 0;
    double timeout = 120, drain = 30, window = 0, slo_ttft = 1000, slo_tpot = 100;
    double temperature = 0.8, workers_hint = 0;
    double price_gpu = -1, price_vcpu = -1, price_redis = -1;
    int md_append = 0, ignore_eos = 0, progress = 1, quiet = 0;
    const struct cfg_opt opts[] = {
        { "url", CFG_STR, &url, "gateway base URL, e.g. http://127.0.0.1:8000" },
        { "mode", CFG_STR, &mode, "sse or ws" },
        { "endpoint", CFG_STR, &endpoint, "completions or chat" },
        { "profile", CFG_STR, &profile, "closed, poisson, gamma, step, burst or trace" },
        { "concurrency", CFG_INT, &concurrency, "closed: concurrent users" },
        { "rate", CFG_DOUBLE, &rate, "poisson, gamma: requests per second" },
        { "burstiness", CFG_DOUBLE, &burstiness, "gamma: shape (1 = Poisson, < 1 burstier)" },
        { "rates", CFG_STR, &rates_s, "step: comma-separated requests per second" },
        { "step-seconds", CFG_DOUBLE, &step_s, "step: seconds per rate" },
        { "burst", CFG_INT, &burst, "burst: requests sent at once" },
        { "idle", CFG_DOUBLE, &idle, "burst: seconds between bursts" },
        { "bursts", CFG_INT, &bursts, "burst: number of bursts" },
        { "trace", CFG_STR, &trace_path, "trace: file to replay" },
        { "trace-format", CFG_STR, &trace_fmt, "trace: azure, burstgpt or mooncake" },
        { "speedup", CFG_DOUBLE, &speedup, "trace: time compression factor" },
        { "duration", CFG_DOUBLE, &duration, "seconds of sending (0 = profile's own end)" },
        { "requests", CFG_INT, &requests, "stop after this many requests (0 = no bound)" },
        { "max-tokens", CFG_INT, &max_tokens, "output tokens per request (trace: a cap)" },
        { "prompt-tokens", CFG_INT, &prompt_tokens, "prompt length in tokens (not trace)" },
        { "api-key", CFG_STR, &api_key, "Authorization: Bearer key" },
        { "model", CFG_STR, &model, "model field of requests (not sent when unset)" },
        { "connections", CFG_INT, &connections, "ws: sockets in the pool" },
        { "timeout", CFG_DOUBLE, &timeout, "seconds a request may take from its scheduled time" },
        { "drain", CFG_DOUBLE, &drain, "seconds to wait for in-flight requests after the last send" },
        { "window", CFG_DOUBLE, &window, "statistics window in seconds (0 = auto)" },
        { "slo-ttft-ms", CFG_DOUBLE, &slo_ttft, "goodput: TTFT limit" },
        { "slo-tpot-ms", CFG_DOUBLE, &slo_tpot, "goodput: time-per-output-token limit" },
        { "temperature", CFG_DOUBLE, &temperature, "sampling temperature" },
        { "ignore-eos", CFG_BOOL, &ignore_eos, "send ignore_eos (vLLM) so outputs reach max_tokens" },
        { "seed", CFG_INT, &seed, "seed of arrivals and prompts" },
        { "json", CFG_STR, &json_path, "write the full report as JSON here" },
        { "markdown", CFG_STR, &md_path, "write a Markdown section here" },
        { "markdown-append", CFG_BOOL, &md_append, "append to --markdown instead of replacing it" },
        { "markdown-row", CFG_STR, &row_path, "append one summary-table row here (header when the file is new)" },
        { "svg", CFG_STR, &svg_dir, "write SVG charts into this directory" },
        { "svg-link", CFG_STR, &svg_link, "path of the charts as the Markdown links them (default: --svg)" },
        { "name", CFG_STR, &name, "scenario name for reports and chart files" },
        { "metrics-url", CFG_STR, &metrics_url, "gateway /metrics sampled during the run ('' = none)" },
        { "gateway-metrics", CFG_STR, &gw_metrics, "cost: gateway /metrics URLs, comma-separated" },
        { "worker-metrics", CFG_STR, &wk_metrics, "cost: worker /metrics URLs, comma-separated" },
        { "gateway-pids", CFG_STR, &gw_pids, "cost: local gateway pids (CPU from /proc)" },
        { "worker-pids", CFG_STR, &wk_pids, "cost: local worker pids" },
        { "redis", CFG_STR, &redis, "cost: Redis host:port for INFO" },
        { "prefix", CFG_STR, &prefix, "cost: Redis key prefix of the platform [llmq:]" },
        { "up-state", CFG_STR, &up_state, "read --url and the cost targets from `llmq up`'s state file (default when --url is unset: llmq up's default state file)" },
        { "workers", CFG_DOUBLE, &workers_hint, "cost: worker count when the platform exports none" },
        { "prices", CFG_STR, &prices_path, "cost: file of gpu_hour, vcpu_hour, redis_mops = N" },
        { "price-gpu-hour", CFG_DOUBLE, &price_gpu, "cost: USD per GPU-hour (-1: from --prices, else 2.00)" },
        { "price-vcpu-hour", CFG_DOUBLE, &price_vcpu, "cost: USD per vCPU-hour (-1: from --prices, else 0.04)" },
        { "price-redis-mops", CFG_DOUBLE, &price_redis, "cost: USD per million Redis ops (-1: from --prices, else 0.20)" },
        { "progress", CFG_BOOL, &progress, "live progress line on stderr" },
        { "quiet", CFG_BOOL, &quiet, "no summary on stdout" },
        { .name = NULL },
    };
    struct err e = { 0 };
    struct trace tr = { 0 };
    double *rates = NULL;
    int n_rates = 0, status = 1;
    struct bench_result res;
    int have_res = 0;

    log_init("bench");
    /* one socket per SSE request: lift the soft descriptor limit to the hard one */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    /* not LLMQ_: a platform setting exported in the same shell (LLMQ_MODEL, LLMQ_PORT, ...)
     * must not change the load */
    cfg_set_env_prefix("LLMQ_BENCH_");
    int rc = cfg_parse(opts, argc, argv, 1, usage, NULL, &e);
    if (rc == 1) return 0;
    if (rc < 0) {
        fprintf(stderr, "llmq-bench: %s\n", e.msg);
        return 1;
    }
    char default_state[600];
    if (!up_state && !url) {
        /* no target given: a local `llmq up` (its default state file, as src/up/state.c) */
        const char *env = getenv("LLMQ_STATE_FILE");
        const char *dir = getenv("XDG_RUNTIME_DIR");
        if (!dir || !*dir || access(dir, W_OK) != 0) dir = "/tmp";
        if (env && *env) snprintf(default_state, sizeof(default_state), "%s", env);
        else snprintf(default_state, sizeof(default_state), "%s/llmq-up-%u.json", dir, (unsigned)getuid());
        if (access(default_state, R_OK) == 0) {
            up_state = default_state;
            fprintf(stderr, "llmq-bench: no --url: using llmq up's state %s\n", up_state);
        }
    }
    if (up_state) {
        if (read_up_state(up_state, &st_url, &st_redis, &st_prefix, &st_gw, &st_wk) < 0) goto out;
        if (!url) url = st_url;
        if (!redis) redis = st_redis;
        if (!prefix) prefix = st_prefix;
        if (!gw_pids) gw_pids = st_gw;
        if (!wk_pids) wk_pids = st_wk;
        if (!gw_metrics && url) {          /* the gateways share one port: scrape it */
            static char m[600];
            snprintf(m, sizeof(m), "%s/metrics", url);
            gw_metrics = m;
        }
    }
    struct bench_cfg c = { 0 };
    c.url = url;
    if (!strcmp(mode, "ws")) c.mode = BENCH_MODE_WS;
    else if (!strcmp(mode, "sse")) c.mode = BENCH_MODE_SSE;
    else { fprintf(stderr, "llmq-bench: --mode must be sse or ws, not '%s'\n", mode); goto out; }
    if (!strcmp(endpoint, "chat")) c.chat = 1;
    else if (strcmp(endpoint, "completions")) {
        fprintf(stderr, "llmq-bench: --endpoint must be completions or chat\n");
        goto out;
    }
    if (arrival_profile_parse(profile, &c.arr.profile) < 0) {
        fprintf(stderr, "llmq-bench: --profile must be closed, poisson, gamma, step, burst or trace\n");
        goto out;
    }
    if (parse_rates(rates_s, &rates, &n_rates) < 0) {
        fprintf(stderr, "llmq-bench: --rates: expected numbers separated by commas\n");
        goto out;
    }
    if (c.arr.profile == ARRIVAL_TRACE) {
        enum trace_format tf;
        if (!trace_path) { fprintf(stderr, "llmq-bench: --trace FILE is needed\n"); goto out; }
        if (trace_format_parse(trace_fmt, &tf) < 0) {
            fprintf(stderr, "llmq-bench: --trace-format must be azure, burstgpt or mooncake\n");
            goto out;
        }
        if (trace_load(&tr, tf, trace_path, &e) < 0) { fprintf(stderr, "llmq-bench: %s\n", e.msg); goto out; }
        c.arr.trace = &tr;
    }
    c.model = model;
    c.api_key = api_key && *api_key ? api_key : NULL;
    c.arr.rate = rate;
    c.arr.burstiness = burstiness;
    c.arr.rates = rates;
    c.arr.n_rates = n_rates;
    c.arr.step_s = step_s;
    c.arr.burst_k = (int)burst;
    c.arr.idle_s = idle;
    c.arr.bursts = (int)bursts;
    c.arr.speedup = speedup;
    c.arr.duration_s = duration;
    c.arr.requests_max = requests;
    c.arr.prompt_tokens = (int)prompt_tokens;
    c.arr.max_tokens = (int)max_tokens;
    c.arr.seed = (uint64_t)seed;
    c.concurrency = (int)concurrency;
    c.connections = (int)connections;
    c.timeout_s = timeout;
    c.drain_s = drain;
    if (window <= 0) {      /* auto: about 30 windows over the expected run, 1..60 s */
        double span = duration;
        if (c.arr.profile == ARRIVAL_STEP) span = n_rates * step_s;
        if (c.arr.profile == ARRIVAL_BURST) span = bursts * idle;
        if (c.arr.profile == ARRIVAL_TRACE && tr.n) span = tr.entries[tr.n - 1].t_s / (speedup > 0 ? speedup : 1);
        if (duration > 0 && duration < span) span = duration;
        window = span > 0 ? span / 30 : 1;
        window = window < 1 ? 1 : window > 60 ? 60 : (double)(long)window;
    }
    {   /* at most 2000 windows (each holds five histograms, ~70 KB) */
        double span = duration;
        if (c.arr.profile == ARRIVAL_STEP) span = n_rates * step_s;
        if (c.arr.profile == ARRIVAL_BURST) span = bursts * idle;
        if (c.arr.profile == ARRIVAL_TRACE && tr.n) span = tr.entries[tr.n - 1].t_s / (speedup > 0 ? speedup : 1);
        if (span / window > 2000) {
            double w = span / 2000;
            fprintf(stderr, "llmq-bench: --window %.3g s would make %.0f windows; using %.3g s\n",
                    window, span / window, w);
            window = w;
        }
    }
    c.window_s = window;
    c.slo_ttft_ms = slo_ttft;
    c.slo_tpot_ms = slo_tpot;
    c.temperature = temperature;
    c.ignore_eos = ignore_eos;
    c.progress = progress;
    c.metrics_url = metrics_url;
    c.scrape.gateway_urls = gw_metrics;
    c.scrape.worker_urls = wk_metrics;
    c.scrape.gateway_pids = gw_pids;
    c.scrape.worker_pids = wk_pids;
    c.scrape.redis = redis;
    c.scrape.prefix = prefix;
    c.seed = (uint64_t)seed;

    struct cost_prices prices;
    cost_prices_default(&prices);
    if (prices_path && cost_prices_load(&prices, prices_path, &e) < 0) {
        fprintf(stderr, "llmq-bench: %s\n", e.msg);
        goto out;
    }
    if (price_gpu >= 0) prices.gpu_hour = price_gpu;
    if (price_vcpu >= 0) prices.vcpu_hour = price_vcpu;
    if (price_redis >= 0) prices.redis_mops = price_redis;

    char default_name[64];
    snprintf(default_name, sizeof(default_name), "%s-%s", arrival_profile_name(c.arr.profile), mode);
    struct report_meta meta = { name && *name ? name : default_name, &c,
                                c.arr.profile == ARRIVAL_TRACE ? trace_path : NULL,
                                svg_dir ? (svg_link ? svg_link : svg_dir) : NULL };

    have_res = 1;
    if (bench_run(&c, &res, &e) < 0) {
        fprintf(stderr, "llmq-bench: %s\n", e.msg);
        goto out;
    }
    struct cost cost;
    cost_compute(&res, &prices, workers_hint, &cost);
    struct buf b;
    buf_init(&b);
    status = 0;
    if (!quiet) {
        report_text(&b, &meta, &res, &cost);
        fputs(b.data ? b.data : "", stdout);
    }
    if (json_path) {
        buf_reset(&b);
        report_json(&b, &meta, &res, &cost, &prices);
        if (report_write_file(json_path, &b, 0, &e) < 0) { fprintf(stderr, "llmq-bench: %s\n", e.msg); status = 1; }
    }
    if (md_path) {
        buf_reset(&b);
        report_markdown(&b, &meta, &res, &cost);
        if (report_write_file(md_path, &b, md_append, &e) < 0) { fprintf(stderr, "llmq-bench: %s\n", e.msg); status = 1; }
    }
    if (row_path) {
        FILE *probe = fopen(row_path, "r");
        buf_reset(&b);
        if (!probe) report_markdown_row_header(&b);
        else fclose(probe);
        report_markdown_row(&b, &meta, &res, &cost);
        if (report_write_file(row_path, &b, 1, &e) < 0) { fprintf(stderr, "llmq-bench: %s\n", e.msg); status = 1; }
    }
    if (svg_dir && report_write_svgs(svg_dir, meta.name, &res, &e) < 0) {
        fprintf(stderr, "llmq-bench: %s\n", e.msg);
        status = 1;
    }
    buf_deinit(&b);
    if (!status && (res.st.index_gaps || res.st.index_repeats)) status = 3;
out:
    if (have_res) bench_result_deinit(&res);
    trace_deinit(&tr);
    free(rates);
    cfg_free(opts);
    free(st_url);
    free(st_redis);
    free(st_prefix);
    free(st_gw);
    free(st_wk);
    return status;
}
