/* main.c -- llmq-platform-bench: the platform benchmarks of `make bench`. `suite` starts
 * `llmq up` with the synthetic engine for each scenario, drives it with the load client
 * (load.c), reads CPU time and RSS of every server process from /proc, and writes
 * docs/BENCHMARKS-PLATFORM.md with ratios against baselines measured in the same run (raw
 * loopback writes, redis-benchmark PUBLISH). `load` runs one load against a running gateway
 * and prints JSON. It measures the platform, not a model: engine time is 0 or subtracted. */
#include "load.h"
#include "e2e/harness.h"

#include "common/buf.h"
#include "common/cfg.h"

#include <pthread.h>
#include <stdarg.h>

/* ---------------------------------------------------------------- /proc */

static double proc_cpu_s(pid_t pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = 0;
    char *p = strrchr(buf, ')');
    if (!p) return 0;
    unsigned long long ut = 0, st = 0;
    /* after ")": state(3) ... utime is field 14, stime 15 */
    if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2) return 0;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static long proc_rss_kb(pid_t pid)
{
    char path[64], line[256];
    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    long kb = 0;
    while (fgets(line, sizeof(line), f))
        if (!strncmp(line, "VmRSS:", 6)) { kb = strtol(line + 6, NULL, 10); break; }
    fclose(f);
    return kb;
}

struct procs { pid_t gw[8], wk[8], redis; int n_gw, n_wk; };

static void procs_get(const struct h_up *u, struct procs *p)
{
    memset(p, 0, sizeof(*p));
    p->n_gw = h_up_children(u, p->gw, 8, "gateway-");
    p->n_wk = h_up_children(u, p->wk, 8, "worker-");
    h_up_children(u, &p->redis, 1, "redis");
}

struct cpu { double gw, wk, redis; };

static void cpu_read(const struct procs *p, struct cpu *c)
{
    memset(c, 0, sizeof(*c));
    for (int i = 0; i < p->n_gw; i++) c->gw += proc_cpu_s(p->gw[i]);
    for (int i = 0; i < p->n_wk; i++) c->wk += proc_cpu_s(p->wk[i]);
    c->redis = proc_cpu_s(p->redis);
}

/* ---------------------------------------------------------------- baselines */

struct sink { int fd; long long bytes; };

static void *sink_main(void *arg)
{
    struct sink *s = arg;
    char buf[65536];
    ssize_t r;
    while ((r = read(s->fd, buf, sizeof(buf))) > 0) s->bytes += r;
    return NULL;
}

/* 64-byte writes, one write(2) each, over TCP loopback for ms: the cost floor of sending one
 * small token event per syscall. Returns writes per second. */
static double baseline_loopback(int ms)
{
    int l = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET };
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t al = sizeof(a);
    if (bind(l, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(l, 1) < 0) return 0;
    getsockname(l, (struct sockaddr *)&a, &al);
    int c = socket(AF_INET, SOCK_STREAM, 0);
    if (connect(c, (struct sockaddr *)&a, sizeof(a)) < 0) return 0;
    struct sink s = { .fd = accept(l, NULL, NULL) };
    pthread_t th;
    pthread_create(&th, NULL, sink_main, &s);
    char msg[64];
    memset(msg, 'x', sizeof(msg));
    long long n = 0;
    uint64_t end = h_now_ms() + (uint64_t)ms, t0 = h_now_ms();
    while (h_now_ms() < end)
        for (int i = 0; i < 256; i++, n++)
            if (write(c, msg, sizeof(msg)) != (ssize_t)sizeof(msg)) break;
    double secs = (double)(h_now_ms() - t0) / 1000.0;
    close(c);
    pthread_join(th, NULL);
    close(s.fd);
    close(l);
    return (double)n / secs;
}

/* redis-benchmark PUBLISH against the platform's own redis-server (no pipelining, 50 clients). */
static double baseline_publish(const struct h_up *u)
{
    json_t *j = json_load_file(u->state, 0, NULL);
    const char *url = json_string_value(json_object_get(j, "redis_url"));
    const char *colon = url ? strrchr(url, ':') : NULL;
    int port = colon ? atoi(colon + 1) : 0;
    json_decref(j);
    if (!port) return 0;
    char cmd[256], out[4096];
    snprintf(cmd, sizeof(cmd), "redis-benchmark -h 127.0.0.1 -p %d -n 200000 -c 50 -q PUBLISH llmq:bench 0123456789 2>/dev/null | tr '\\r' '\\n' | tail -n 2", port);
    if (h_run(cmd, out, sizeof(out)) != 0) return 0;
    char *p = strstr(out, ": ");
    return p ? strtod(p + 2, NULL) : 0;
}

/* ---------------------------------------------------------------- report */

static struct buf md;

static void mdf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void mdf(const char *fmt, ...)
{
    char tmp[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    buf_append_str(&md, tmp);
}

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fflush(stderr);
}

static int up_start(struct h_up *u, const char *const *args)
{
    if (h_up_start(u, args, 90000) < 0) { say("bench: llmq up failed to start\n"); return -1; }
    return 0;
}

/* ---------------------------------------------------------------- scenarios */

struct tput_row {
    const char *proto;
    int conc, streams, ok, failed, dup;
    double tps, ttft50, ttft99, cpu_gw, cpu_wk, cpu_redis;
    long long tokens;
};

static int scenario_throughput(struct tput_row *rows, int *n_rows, double *publish_rate, int quick)
{
    struct h_up u;
    const char *args[] = { "--workers", "1", "--step-ms", "0", "--max-batch", "1000", "--max-streams", "20000",
                           "--max-queue", "100000", NULL };
    if (up_start(&u, args) < 0) return -1;
    struct procs p;
    procs_get(&u, &p);
    *publish_rate = baseline_publish(&u);
    say("bench: redis-benchmark PUBLISH %.0f/s\n", *publish_rate);
    /* warm-up: first connections, allocator growth */
    struct load_cfg w = { .host = "127.0.0.1", .port = u.port, .proto = LOAD_WS, .streams = 32, .max_tokens = 32,
                          .timeout_ms = 30000 };
    struct load_result r;
    load_run(&w, &r);
    load_result_free(&r);
    const int concs[3] = { 16, 256, 1000 };
    *n_rows = 0;
    for (int pi = 0; pi < 2; pi++) {
        for (int ci = 0; ci < 3; ci++) {
            struct tput_row *row = &rows[(*n_rows)++];
            memset(row, 0, sizeof(*row));
            row->proto = pi == 0 ? "SSE" : "WebSocket";
            row->conc = concs[ci];
            /* enough tokens that /proc's 10 ms CPU ticks are small against the run */
            row->streams = quick ? 1000 : 4000;
            struct load_cfg c = { .host = "127.0.0.1", .port = u.port, .proto = pi == 0 ? LOAD_SSE : LOAD_WS,
                                  .streams = row->streams, .concurrency = concs[ci], .max_tokens = 128, .seed = 1,
                                  .timeout_ms = 120000, .connect_per_ms = 20 };
            struct cpu c0, c1;
            cpu_read(&p, &c0);
            load_run(&c, &r);
            cpu_read(&p, &c1);
            row->ok = r.ok;
            row->failed = r.failed + r.rejected;
            row->dup = r.dup_or_gap;
            row->tokens = r.tokens;
            row->tps = r.tokens_per_s;
            row->ttft50 = r.ttft_p50_ms;
            row->ttft99 = r.ttft_p99_ms;
            double k = r.tokens > 0 ? 1000.0 / (double)r.tokens : 0;
            row->cpu_gw = (c1.gw - c0.gw) * k;
            row->cpu_wk = (c1.wk - c0.wk) * k;
            row->cpu_redis = (c1.redis - c0.redis) * k;
            char line[1024];
            load_result_json(&r, line, sizeof(line));
            say("bench: %s x%d: %s\n", row->proto, row->conc, line);
            if (r.first_error[0]) say("bench:   first error: %s\n", r.first_error);
            load_result_free(&r);
        }
    }
    h_up_stop(&u, SIGTERM, 30000, 0);
    return 0;
}

struct ttft_row { const char *proto; int n, ok; double mean, p50, p99; };

static int scenario_ttft(struct ttft_row *rows, double step_ms)
{
    struct h_up u;
    char step[32];
    snprintf(step, sizeof(step), "%g", step_ms);
    const char *args[] = { "--workers", "1", "--step-ms", step, "--prefill-us", "0", NULL };
    if (up_start(&u, args) < 0) return -1;
    for (int pi = 0; pi < 2; pi++) {
        struct load_cfg c = { .host = "127.0.0.1", .port = u.port, .proto = pi == 0 ? LOAD_SSE : LOAD_WS,
                              .streams = 40, .concurrency = 1, .max_tokens = 2, .seed = 3, .timeout_ms = 60000 };
        struct load_result r;
        load_run(&c, &r);
        rows[pi].proto = pi == 0 ? "SSE" : "WebSocket";
        rows[pi].n = c.streams;
        rows[pi].ok = r.ok;
        rows[pi].mean = r.ttft_mean_ms - step_ms;
        rows[pi].p50 = r.ttft_p50_ms - step_ms;
        rows[pi].p99 = r.ttft_p99_ms - step_ms;
        say("bench: TTFT %s: measured p50 %.2f ms, mean %.2f ms (step %.0f ms)\n", rows[pi].proto,
            r.ttft_p50_ms, r.ttft_mean_ms, step_ms);
        load_result_free(&r);
    }
    h_up_stop(&u, SIGTERM, 30000, 0);
    return 0;
}

struct rss_row { int streams, accepted; long base_kb, held_kb; double per_stream_kb; };
struct hold_ctx { pid_t gw; long rss_kb; };

static void on_hold(void *ud)
{
    struct hold_ctx *h = ud;
    usleep(300000);                 /* let the last accepts settle */
    h->rss_kb = proc_rss_kb(h->gw);
}

static int scenario_rss(struct rss_row *rows, const int *ns, int n)
{
    for (int i = 0; i < n; i++) {
        struct h_up u;
        const char *args[] = { "--workers", "1", "--step-ms", "1000", "--max-batch", "64", "--max-streams", "20000",
                               "--max-queue", "100000", NULL };
        if (up_start(&u, args) < 0) return -1;
        struct procs p;
        procs_get(&u, &p);
        struct load_cfg w = { .host = "127.0.0.1", .port = u.port, .proto = LOAD_WS, .streams = 8, .max_tokens = 1,
                              .timeout_ms = 20000 };
        struct load_result r;
        load_run(&w, &r);           /* warm-up: one round trip through every layer */
        load_result_free(&r);
        usleep(200000);
        struct hold_ctx h = { .gw = p.gw[0] };
        rows[i].streams = ns[i];
        rows[i].base_kb = proc_rss_kb(p.gw[0]);
        struct load_cfg c = { .host = "127.0.0.1", .port = u.port, .proto = LOAD_WS, .streams = ns[i],
                              .max_tokens = 100000, .seed = 5, .timeout_ms = 120000, .hold_ms = 200,
                              .on_hold = on_hold, .ud = &h, .connect_per_ms = 10 };
        load_run(&c, &r);
        rows[i].accepted = r.accepted;
        rows[i].held_kb = h.rss_kb;
        rows[i].per_stream_kb = r.accepted ? (double)(h.rss_kb - rows[i].base_kb) / r.accepted : 0;
        say("bench: RSS %d idle WS streams: accepted %d, gateway RSS %ld -> %ld kB (%.2f kB/stream)\n", ns[i],
            r.accepted, rows[i].base_kb, h.rss_kb, rows[i].per_stream_kb);
        load_result_free(&r);
        h_up_stop(&u, SIGTERM, 30000, 0);
    }
    return 0;
}

struct overload_row {
    double capacity_rps, offered_rps;
    int offered, ok, rejected, rejected_ra, failed, dup;
    double ttft50, ttft99, tps;
};

static int scenario_overload(struct overload_row *o, int quick)
{
    struct h_up u;
    const char *args[] = { "--workers", "1", "--step-ms", "10", "--max-batch", "32", "--max-queue", "32", NULL };
    if (up_start(&u, args) < 0) return -1;
    /* capacity: closed loop with more streams than the batch holds */
    struct load_cfg c = { .host = "127.0.0.1", .port = u.port, .proto = LOAD_SSE, .streams = 256, .concurrency = 48,
                          .max_tokens = 32, .seed = 7, .timeout_ms = 60000 };
    struct load_result r;
    load_run(&c, &r);
    o->capacity_rps = r.wall_s > 0 ? r.ok / r.wall_s : 0;
    load_result_free(&r);
    say("bench: overload: capacity %.1f requests/s\n", o->capacity_rps);
    o->offered_rps = 2 * o->capacity_rps;
    double secs = quick ? 4 : 8;
    struct load_cfg ol = { .host = "127.0.0.1", .port = u.port, .proto = LOAD_SSE,
                           .streams = (int)(o->offered_rps * secs), .rate_per_s = o->offered_rps,
                           .max_tokens = 32, .seed = 8, .timeout_ms = (int)(secs * 1000) + 30000 };
    if (ol.streams < 10) { h_up_stop(&u, SIGTERM, 30000, 0); return -1; }
    load_run(&ol, &r);
    o->offered = ol.streams;
    o->ok = r.ok;
    o->rejected = r.rejected;
    o->rejected_ra = r.rejected_retry_after;
    o->failed = r.failed;
    o->dup = r.dup_or_gap;
    o->ttft50 = r.ttft_p50_ms;
    o->ttft99 = r.ttft_p99_ms;
    o->tps = r.tokens_per_s;
    char line[1024];
    load_result_json(&r, line, sizeof(line));
    say("bench: overload at %.0f req/s: %s\n", o->offered_rps, line);
    if (r.first_error[0]) say("bench:   first error: %s\n", r.first_error);
    load_result_free(&r);
    h_up_stop(&u, SIGTERM, 30000, 0);
    return 0;
}

/* ---------------------------------------------------------------- suite */

static int suite(const char *bin_dir, const char *out_path, int quick)
{
    setenv("LLMQ_BIN_DIR", bin_dir, 1);
    if (!h_bin("llmq") || !h_bin("llmq-gateway") || !h_bin("llmq-worker")) {
        say("bench: llmq, llmq-gateway and llmq-worker must be built in %s\n", bin_dir);
        return 2;
    }
    buf_init(&md);
    char cpu_model[256] = "?", rev[64] = "?", date[64] = "?", load[64] = "?";
    h_run("grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//' | tr -d '\\n'", cpu_model, sizeof(cpu_model));
    h_run("git rev-parse --short HEAD 2>/dev/null | tr -d '\\n'", rev, sizeof(rev));
    h_run("date -u '+%Y-%m-%d %H:%M UTC' | tr -d '\\n'", date, sizeof(date));
    h_run("cut -d' ' -f1-3 /proc/loadavg | tr -d '\\n'", load, sizeof(load));
    long cores = sysconf(_SC_NPROCESSORS_ONLN);

    say("bench: baseline loopback writes...\n");
    double loop_wps = baseline_loopback(1000);
    struct tput_row rows[6];
    int n_rows = 0;
    double publish = 0;
    say("bench: throughput (synthetic engine, 0 ms per step)...\n");
    int t_ok = scenario_throughput(rows, &n_rows, &publish, quick) == 0;
    struct ttft_row ttft[2];
    say("bench: TTFT added by the platform (20 ms per step)...\n");
    int f_ok = scenario_ttft(ttft, 20) == 0;
    const int rss_ns[3] = { 1000, 5000, 10000 };
    struct rss_row rss[3];
    int n_rss = quick ? 2 : 3;
    say("bench: RSS per open stream...\n");
    int r_ok = scenario_rss(rss, rss_ns, n_rss) == 0;
    struct overload_row ov;
    memset(&ov, 0, sizeof(ov));
    say("bench: open-loop overload at 2x capacity...\n");
    int o_ok = scenario_overload(&ov, quick) == 0;

    mdf("# Platform benchmarks\n\n");
    mdf("Written by `make bench` (`scripts/bench` → `llmq-platform-bench suite`, source in `bench/platform/`). "
        "Every number below comes from one run on this machine: %s, %ld cores, %s, commit %s, "
        "load average %s when it started. Server and load client share the same cores (and, when the load "
        "average is high, other work), so absolute numbers are floors; the ratios against the baselines of "
        "the same run are the portable part.\n\n", cpu_model, cores, date, rev, load);
    mdf("The engine is `synthetic` (deterministic text, no model), so what is measured is the platform: "
        "gateway, Redis, worker scheduling and the transports. Each scenario starts its own `llmq up` "
        "(private redis-server with AOF everysec, 1 gateway, 1 worker).\n\n");
    mdf("## Baselines (same run)\n\n| baseline | rate |\n| --- | ---: |\n");
    mdf("| raw TCP loopback, one 64-byte write(2) per message, 1 thread | %.0f writes/s |\n", loop_wps);
    mdf("| `redis-benchmark` PUBLISH, 50 clients, no pipelining, against the platform's redis-server | %.0f publishes/s |\n\n", publish);

    if (t_ok) {
        mdf("## Streamed tokens per second (engine at 0 ms per step, 128 tokens per stream)\n\n");
        mdf("Closed loop: `concurrent` streams open at all times until `streams` have finished (each stream "
            "is one request; one socket per stream). Every stream is "
            "checked: all indices exactly once, in order, usage equal to tokens received. CPU is "
            "user+system seconds from /proc/<pid>/stat of the server processes over the run, per 1,000 "
            "tokens delivered.\n\n");
        mdf("| transport | concurrent | streams ok | tokens/s | vs loopback writes | vs PUBLISH | TTFT p50 / p99 ms | "
            "server CPU-s per 1k tokens (gateway + worker + redis) |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n");
        for (int i = 0; i < n_rows; i++) {
            struct tput_row *r = &rows[i];
            mdf("| %s | %d | %d/%d%s | %.0f | %.3f | %.2f | %.1f / %.1f | %.4f (%.4f + %.4f + %.4f) |\n", r->proto, r->conc,
                r->ok, r->streams, r->dup ? " (index errors!)" : "", r->tps, loop_wps > 0 ? r->tps / loop_wps : 0,
                publish > 0 ? r->tps / publish : 0, r->ttft50, r->ttft99, r->cpu_gw + r->cpu_wk + r->cpu_redis,
                r->cpu_gw, r->cpu_wk, r->cpu_redis);
        }
        mdf("\nReading it: tokens/s can exceed the PUBLISH rate because a worker publishes once per step per "
            "gateway, carrying the tokens of all that gateway's sequences (docs/QUEUE.md), and the gateway "
            "merges tokens that arrive faster than a client reads into one event (PROTOCOL.md `count`), so "
            "the per-token cost is amortised. The loopback column is the share of the bare cost of one "
            "small write(2) per token that the whole platform reaches. TTFT at high concurrency is mostly "
            "the time to connect and admit that many requests at once on two shared cores.\n\n");
    }
    if (f_ok) {
        mdf("## TTFT added by the platform (1 stream at a time, engine at 20 ms per step)\n\n");
        mdf("Measured time from request sent to first token, minus the one engine step (20 ms) that "
            "produces the first token: what gateway admission, Redis (XADD, XREADGROUP, PUBLISH) and the "
            "worker's batching add. 40 sequential requests per transport.\n\n"
            "| transport | requests ok | added mean ms | added p50 ms | added p99 ms |\n| --- | ---: | ---: | ---: | ---: |\n");
        for (int i = 0; i < 2; i++)
            mdf("| %s | %d/%d | %.2f | %.2f | %.2f |\n", ttft[i].proto, ttft[i].ok, ttft[i].n, ttft[i].mean,
                ttft[i].p50, ttft[i].p99);
        mdf("\n");
    }
    if (r_ok) {
        mdf("## Gateway memory per open stream (idle WebSocket streams)\n\n");
        mdf("One socket per stream, engine at 1,000 ms per step and a batch of 64, so almost every stream is "
            "open and waiting. Gateway RSS (VmRSS) after a warm-up versus with all streams accepted.\n\n"
            "| open streams | accepted | gateway RSS before kB | with streams kB | kB per stream |\n"
            "| ---: | ---: | ---: | ---: | ---: |\n");
        for (int i = 0; i < n_rss; i++)
            mdf("| %d | %d | %ld | %ld | %.2f |\n", rss[i].streams, rss[i].accepted, rss[i].base_kb, rss[i].held_kb,
                rss[i].per_stream_kb);
        mdf("\n");
    }
    if (o_ok) {
        mdf("## Open-loop overload at 2x capacity\n\n");
        mdf("Engine at 10 ms per step, batch 32, `--max-queue 32`, 32 tokens per request over SSE. Capacity "
            "is measured first (closed loop, 48 concurrent); then requests arrive at twice that rate, each "
            "on its own connection, for %s s.\n\n", quick ? "4" : "8");
        mdf("| capacity req/s | offered req/s | offered | completed ok | 503 rejected | of those with Retry-After | "
            "failed | index errors | accepted TTFT p50 / p99 ms | tokens/s |\n"
            "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n");
        mdf("| %.1f | %.1f | %d | %d | %d | %d | %d | %d | %.1f / %.1f | %.0f |\n\n", ov.capacity_rps, ov.offered_rps,
            ov.offered, ov.ok, ov.rejected, ov.rejected_ra, ov.failed, ov.dup, ov.ttft50, ov.ttft99, ov.tps);
        mdf("Accepted requests keep flowing while the excess is refused at admission with 503 and "
            "`Retry-After`: the bounded queue keeps the accepted requests' TTFT bounded.\n\n");
    }
    mdf("## Reproduce\n\n```\nmake bench                       # builds, then scripts/bench build/bin\n"
        "build/bin/llmq-platform-bench suite --bin-dir build/bin --out docs/BENCHMARKS-PLATFORM.md [--quick]\n"
        "build/bin/llmq-platform-bench load --port 8000 --proto ws --streams 1000 --max-tokens 128\n```\n");
    FILE *f = fopen(out_path, "w");
    if (!f) { say("bench: cannot write %s\n", out_path); buf_deinit(&md); return 1; }
    fwrite(md.data, 1, md.len, f);
    fclose(f);
    say("bench: wrote %s\n", out_path);
    buf_deinit(&md);
    return t_ok && f_ok && r_ok && o_ok ? 0 : 1;
}

int main(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN);
    const char *mode = argc > 1 ? argv[1] : "";
    char *bin_dir = NULL, *out = NULL, *proto = NULL, *host = NULL, *key = NULL;
    long long port = 8000, streams = 100, conc = 0, max_tokens = 128, per_conn = 1, timeout_ms = 120000, quick = 0;
    double rate = 0;
    int q = 0;
    const struct cfg_opt opts[] = {
        { "bin-dir", CFG_STR, &bin_dir, "suite: folder with llmq, llmq-gateway, llmq-worker" },
        { "out", CFG_STR, &out, "suite: Markdown report to write" },
        { "quick", CFG_BOOL, &q, "suite: fewer streams (a smoke run)" },
        { "host", CFG_STR, &host, "load: gateway address" },
        { "port", CFG_INT, &port, "load: gateway port" },
        { "proto", CFG_STR, &proto, "load: sse | ws" },
        { "streams", CFG_INT, &streams, "load: requests in total" },
        { "concurrency", CFG_INT, &conc, "load: open at once (0 = all)" },
        { "rate", CFG_DOUBLE, &rate, "load: open loop, arrivals per second" },
        { "ws-per-conn", CFG_INT, &per_conn, "load: streams per WebSocket" },
        { "max-tokens", CFG_INT, &max_tokens, "load: tokens per stream" },
        { "api-key", CFG_STR, &key, "load: Bearer key" },
        { "timeout-ms", CFG_INT, &timeout_ms, "load: whole run" },
        { NULL },
    };
    (void)quick;
    const char *usage = "usage: llmq-platform-bench suite --bin-dir DIR --out FILE [--quick]\n"
                        "       llmq-platform-bench load --port P [--proto sse|ws] [--streams N] ...";
    if (strcmp(mode, "suite") && strcmp(mode, "load")) { fprintf(stderr, "%s\n", usage); return 2; }
    struct err e = { 0 };
    int rc = cfg_parse(opts, argc, argv, 2, usage, NULL, &e);
    if (rc == 1) return 0;
    if (rc < 0) { fprintf(stderr, "llmq-platform-bench: %s\n", e.msg); return 2; }
    if (!strcmp(mode, "suite")) {
        rc = suite(bin_dir ? bin_dir : "build/bin", out ? out : "docs/BENCHMARKS-PLATFORM.md", q);
        cfg_free(opts);
        return rc;
    }
    struct load_cfg c = { .host = host ? host : "127.0.0.1", .port = (int)port,
                          .proto = proto && !strcmp(proto, "sse") ? LOAD_SSE : LOAD_WS, .streams = (int)streams,
                          .concurrency = (int)conc, .rate_per_s = rate, .ws_per_conn = (int)per_conn,
                          .max_tokens = (int)max_tokens, .api_key = key, .seed = 1, .timeout_ms = (int)timeout_ms };
    struct load_result r;
    if (load_run(&c, &r) < 0) { fprintf(stderr, "llmq-platform-bench: bad load configuration\n"); return 2; }
    char line[1024];
    load_result_json(&r, line, sizeof(line));
    printf("%s\n", line);
    if (r.first_error[0]) fprintf(stderr, "first error: %s\n", r.first_error);
    rc = r.failed || r.dup_or_gap ? 1 : 0;
    load_result_free(&r);
    cfg_free(opts);
    return rc;
}
