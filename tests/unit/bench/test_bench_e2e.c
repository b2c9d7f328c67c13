/* test_bench_e2e.c -- llmq-bench end to end over real sockets: every arrival profile, over
 * SSE and WebSocket, briefly, against the fake gateway (fake_gw.c) -- counts add up
 * (sent = ok + errors), percentiles are ordered, tokens are all there -- then with faults
 * injected: a skipped token index must be caught, rejections counted as such, merged WS
 * tokens accepted. Finally, when `llmq` (p3's `llmq up`) is built, the same checks against
 * the real platform; skipped with a reason otherwise. Bounded: about 20 s in all. */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench/report.h"
#include "bench/run.h"
#include "common/clock.h"
#include "fake_gw.h"
#include "test.h"

static void base_cfg(struct bench_cfg *c, const char *url, enum bench_mode mode)
{
    memset(c, 0, sizeof(*c));
    c->url = url;
    c->mode = mode;
    c->concurrency = 4;
    c->connections = 2;
    c->timeout_s = 10;
    c->drain_s = 5;
    c->window_s = 0.25;
    c->slo_ttft_ms = 1000;
    c->slo_tpot_ms = 100;
    c->temperature = 0;
    c->metrics_url = "";
    c->arr.prompt_tokens = 32;
    c->arr.max_tokens = 8;
    c->arr.rate = 40;
    c->arr.burstiness = 0.5;
    c->arr.speedup = 1;
    c->arr.seed = 11;
    c->seed = 11;
}

static void check_consistent(const struct bench_result *r, int tokens_each)
{
    const struct stats *s = &r->st;
    CHECK(s->sent > 0);
    CHECK_EQ(s->sent, s->ok + s->errors);
    uint64_t by_code = 0;
    for (int i = 0; i < s->n_codes; i++) by_code += s->codes[i].n;
    CHECK_EQ(by_code, s->errors);
    uint64_t wsent = 0, wok = 0, werr = 0;
    for (int i = 0; i < s->n_w; i++) {
        wsent += s->w[i].sent;
        wok += s->w[i].ok;
        werr += s->w[i].errors;
    }
    CHECK_EQ(wsent, s->sent);
    CHECK_EQ(wok, s->ok);
    CHECK_EQ(werr, s->errors);
    for (int k = 0; k < STAT_N; k++) {
        const struct hist *h = &s->h[k];
        if (!h->count) continue;
        double p50 = hist_quantile(h, 0.5), p90 = hist_quantile(h, 0.9), p99 = hist_quantile(h, 0.99),
               p999 = hist_quantile(h, 0.999), mx = hist_quantile(h, 1);
        CHECK(p50 <= p90 && p90 <= p99 && p99 <= p999 && p999 <= mx);
    }
    if (tokens_each > 0) CHECK_EQ(s->tokens, s->ok * (uint64_t)tokens_each);
    CHECK_EQ(s->h[STAT_TTFT].count, s->ok);
    CHECK(s->h[STAT_E2E].count == s->ok);
}

static int run_profile(const char *url, enum bench_mode mode, enum arrival_profile p,
                       struct bench_result *res)
{
    struct bench_cfg c;
    struct err e = { 0 };
    static double rates[] = { 20, 60 };
    static struct trace_entry te[] = { { 0, 16, 4 }, { 0.05, 64, 8 }, { 0.1, 8, 2 }, { 0.3, 32, 8 },
                                       { 0.31, 32, 8 }, { 0.32, 32, 8 }, { 0.6, 128, 6 } };
    static struct trace tr = { te, 7 };
    base_cfg(&c, url, mode);
    c.arr.profile = p;
    switch (p) {
    case ARRIVAL_CLOSED: c.arr.duration_s = 0.6; break;
    case ARRIVAL_POISSON:
    case ARRIVAL_GAMMA: c.arr.duration_s = 0.6; break;
    case ARRIVAL_STEP: c.arr.rates = rates; c.arr.n_rates = 2; c.arr.step_s = 0.3; break;
    case ARRIVAL_BURST: c.arr.burst_k = 12; c.arr.idle_s = 0.3; c.arr.bursts = 2; break;
    case ARRIVAL_TRACE: c.arr.trace = &tr; c.arr.speedup = 1; break;
    }
    int rc = bench_run(&c, res, &e);
    if (rc < 0) fprintf(stderr, "  bench_run: %s\n", e.msg);
    return rc;
}

static void test_profiles_fake(void)
{
    struct fake_gw_cfg fc = { .step_ms = 2, .tokens_per_step = 1 };
    struct fake_gw *g = fake_gw_start(&fc);
    CHECK(g != NULL);
    if (!g) return;
    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", fake_gw_port(g));
    for (int m = 0; m < 2; m++) {
        for (int p = ARRIVAL_CLOSED; p <= ARRIVAL_TRACE; p++) {
            struct bench_result res;
            int rc = run_profile(url, m ? BENCH_MODE_WS : BENCH_MODE_SSE, (enum arrival_profile)p, &res);
            CHECK_EQ(rc, 0);
            if (rc == 0) {
                check_consistent(&res, p == ARRIVAL_TRACE ? -1 : 8);
                if (res.st.errors) fprintf(stderr, "  %s/%s: %llu errors (first: %s)\n", m ? "ws" : "sse",
                                           arrival_profile_name((enum arrival_profile)p),
                                           (unsigned long long)res.st.errors, res.st.codes[0].code);
                CHECK_EQ(res.st.errors, 0);
                CHECK_EQ(res.st.index_gaps + res.st.index_repeats, 0);
                if (p == ARRIVAL_BURST) CHECK_EQ(res.st.sent, 24);
                if (p == ARRIVAL_TRACE) {
                    CHECK_EQ(res.st.sent, 7);
                    CHECK_EQ(res.st.tokens, 4 + 8 + 2 + 8 + 8 + 8 + 6);
                }
            }
            bench_result_deinit(&res);
        }
    }
    fake_gw_stop(g);
}

static void test_index_gap_caught(void)
{
    struct fake_gw_cfg fc = { .step_ms = 1, .tokens_per_step = 2, .skip_index_every = 3 };
    struct fake_gw *g = fake_gw_start(&fc);
    CHECK(g != NULL);
    if (!g) return;
    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", fake_gw_port(g));
    for (int m = 0; m < 2; m++) {
        struct bench_cfg c;
        struct bench_result res;
        struct err e = { 0 };
        base_cfg(&c, url, m ? BENCH_MODE_WS : BENCH_MODE_SSE);
        c.arr.profile = ARRIVAL_CLOSED;
        c.arr.requests_max = 30;
        CHECK_EQ(bench_run(&c, &res, &e), 0);
        check_consistent(&res, -1);
        /* every 3rd request misses one token: 10 requests, 10 tokens */
        CHECK_EQ(res.st.index_bad, 10);
        CHECK_EQ(res.st.index_gaps, 10);
        CHECK_EQ(res.st.errors, 10);
        CHECK(res.st.n_codes == 1 && !strcmp(res.st.codes[0].code, "index_gap"));
        bench_result_deinit(&res);
    }
    fake_gw_stop(g);
}

/* SSE ids of the exact form "<rid>:<first>-<last>" (proposed for the gateway): a token
 * missing in the middle of an SSE stream is caught like over WebSocket, and merged events
 * still count every token. With today's "<rid>:<last>" ids the same gap reads as a merge. */
static void test_sse_range_ids(void)
{
    for (int merge = 0; merge < 2; merge++) {
        struct fake_gw_cfg fc = { .step_ms = 1, .tokens_per_step = merge ? 3 : 2,
                                  .merge = merge, .skip_index_every = merge ? 0 : 3,
                                  .sse_range_ids = 1 };
        struct fake_gw *g = fake_gw_start(&fc);
        CHECK(g != NULL);
        if (!g) return;
        char url[64];
        snprintf(url, sizeof(url), "http://127.0.0.1:%d", fake_gw_port(g));
        struct bench_cfg c;
        struct bench_result res;
        struct err e = { 0 };
        base_cfg(&c, url, BENCH_MODE_SSE);
        c.arr.profile = ARRIVAL_CLOSED;
        c.arr.requests_max = 30;
        CHECK_EQ(bench_run(&c, &res, &e), 0);
        check_consistent(&res, merge ? 8 : -1);
        CHECK_EQ(res.st.index_gaps, merge ? 0 : 10);
        CHECK_EQ(res.st.index_bad, merge ? 0 : 10);
        CHECK_EQ(res.st.index_repeats, 0);
        bench_result_deinit(&res);
        fake_gw_stop(g);
    }
}

static void test_rejections_and_merges(void)
{
    struct fake_gw_cfg fc = { .step_ms = 1, .tokens_per_step = 3, .merge = 1, .reject_every = 4 };
    struct fake_gw *g = fake_gw_start(&fc);
    CHECK(g != NULL);
    if (!g) return;
    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", fake_gw_port(g));
    for (int m = 0; m < 2; m++) {
        struct bench_cfg c;
        struct bench_result res;
        struct err e = { 0 };
        base_cfg(&c, url, m ? BENCH_MODE_WS : BENCH_MODE_SSE);
        c.arr.profile = ARRIVAL_POISSON;
        c.arr.rate = 100;
        c.arr.requests_max = 40;
        c.arr.max_tokens = 10;
        CHECK_EQ(bench_run(&c, &res, &e), 0);
        check_consistent(&res, 10);
        CHECK_EQ(res.st.sent, 40);
        CHECK_EQ(res.st.rejected, 10);
        CHECK_EQ(res.st.errors, 10);
        CHECK_EQ(res.st.index_gaps + res.st.index_repeats, 0);
        /* the renderings hold the numbers */
        struct buf b;
        struct cost_prices pr;
        struct cost co;
        buf_init(&b);
        cost_prices_default(&pr);
        cost_compute(&res, &pr, 1, &co);
        struct report_meta meta = { "t", &c, NULL, NULL };
        report_json(&b, &meta, &res, &co, &pr);
        CHECK(strstr(b.data, "\"rejected\": 10") != NULL);
        CHECK(strstr(b.data, "\"overloaded\": 10") != NULL);
        buf_reset(&b);
        report_markdown(&b, &meta, &res, &co);
        CHECK(strstr(b.data, "| 40 | 30 |") != NULL);
        buf_deinit(&b);
        bench_result_deinit(&res);
    }
    fake_gw_stop(g);
}

static void test_timeouts_cancel(void)
{
    struct fake_gw_cfg fc = { .step_ms = 10, .tokens_per_step = 1 };
    struct fake_gw *g = fake_gw_start(&fc);
    CHECK(g != NULL);
    if (!g) return;
    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", fake_gw_port(g));
    struct bench_cfg c;
    struct bench_result res;
    struct err e = { 0 };
    base_cfg(&c, url, BENCH_MODE_WS);
    c.arr.profile = ARRIVAL_CLOSED;
    c.concurrency = 3;
    c.arr.requests_max = 3;
    c.arr.max_tokens = 100000;          /* ~17 minutes of tokens: only the timeout ends them */
    c.timeout_s = 0.4;
    CHECK_EQ(bench_run(&c, &res, &e), 0);
    check_consistent(&res, -1);
    CHECK_EQ(res.st.errors, 3);
    CHECK(res.st.n_codes == 1 && !strcmp(res.st.codes[0].code, "timeout"));
    CHECK(res.st.tokens > 0);
    for (int i = 0; i < 20 && fake_gw_cancels(g) < 3; i++) usleep(20000);
    CHECK_EQ(fake_gw_cancels(g), 3);    /* the gateway was told to stop decoding them */
    bench_result_deinit(&res);
    fake_gw_stop(g);
}

static void test_unreachable(void)
{
    struct bench_cfg c;
    struct bench_result res;
    struct err e = { 0 };
    base_cfg(&c, "http://127.0.0.1:1", BENCH_MODE_SSE);
    c.arr.profile = ARRIVAL_CLOSED;
    c.arr.requests_max = 5;
    CHECK_EQ(bench_run(&c, &res, &e), 0);
    CHECK_EQ(res.st.sent, 5);
    CHECK_EQ(res.st.errors, 5);
    bench_result_deinit(&res);
    base_cfg(&c, "https://example.com", BENCH_MODE_WS);
    c.arr.profile = ARRIVAL_CLOSED;
    c.arr.requests_max = 5;
    CHECK(bench_run(&c, &res, &e) < 0);
    bench_result_deinit(&res);
}

/* Runs the llmq-bench binary with extra environment entries ("NAME=value", NULL-ended) and
 * returns its exit status (-1 when it could not run). */
static int run_bench_bin(const char *const *env, const char *url)
{
    const char *bin = getenv("LLMQ_BIN_DIR");
    char path[1024];
    snprintf(path, sizeof(path), "%s/llmq-bench", bin ? bin : ".");
    if (access(path, X_OK) != 0) return -1;
    pid_t pid = fork();
    if (pid == 0) {
        int null = open("/dev/null", O_WRONLY);
        if (null >= 0) { dup2(null, 1); dup2(null, 2); }
        for (const char *const *v = env; *v; v++) putenv((char *)*v);
        execl(path, "llmq-bench", "--url", url, "--profile", "closed", "--concurrency", "1",
              "--requests", "3", "--max-tokens", "4", "--prompt-tokens", "8", "--no-progress",
              "--quiet", (char *)NULL);
        _exit(127);
    }
    int st = 0;
    uint64_t deadline = clock_mono_us() + 30000000;
    while (waitpid(pid, &st, WNOHANG) != pid) {
        if (clock_mono_us() > deadline) { kill(pid, SIGKILL); waitpid(pid, &st, 0); return -1; }
        usleep(20000);
    }
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* The binary reads LLMQ_BENCH_<FLAG>, never the platform's LLMQ_<FLAG>: a shell that exports
 * LLMQ_MODE / LLMQ_URL / LLMQ_REQUESTS for the gateway must not change the load. */
static void test_env_prefix(void)
{
    const char *bin = getenv("LLMQ_BIN_DIR");
    char path[1024];
    snprintf(path, sizeof(path), "%s/llmq-bench", bin ? bin : ".");
    if (access(path, X_OK) != 0) { TEST_SKIP("llmq-bench binary not built"); return; }
    struct fake_gw_cfg fc = { .step_ms = 2, .tokens_per_step = 1 };
    struct fake_gw *g = fake_gw_start(&fc);
    CHECK(g != NULL);
    if (!g) return;
    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", fake_gw_port(g));
    static const char *const platform[] = { "LLMQ_MODE=bogus", "LLMQ_REQUESTS=100000",
                                            "LLMQ_PROFILE=bogus", "LLMQ_MAX_TOKENS=-5", NULL };
    CHECK_EQ(run_bench_bin(platform, url), 0);
    CHECK_EQ(fake_gw_requests(g), 3);
    static const char *const ours[] = { "LLMQ_BENCH_MODE=bogus", NULL };
    CHECK_EQ(run_bench_bin(ours, url), 1);             /* configuration error: it was read */
    CHECK_EQ(fake_gw_requests(g), 3);
    fake_gw_stop(g);
}


/* ---- a fault-injecting WebSocket proxy in front of the real gateway ----
 * Passes bytes both ways; in the gateway-to-client direction it parses the (unmasked)
 * server frames after the 101 response and drops every token message whose index is 2:
 * the fault a gateway that loses a Pub/Sub message would produce. One thread per
 * connection, poll(2), bounded by the test. */

struct wsproxy {
    int lfd, port, upstream_port;
    atomic_int stop, drops;
    pthread_t acceptor;
};

struct wsproxy_conn {
    struct wsproxy *p;
    int cfd, ufd;
};

static int write_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w <= 0) return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static void *proxy_conn_main(void *arg)
{
    struct wsproxy_conn *c = arg;
    char *acc = malloc(1 << 20);           /* gateway bytes not yet forwarded */
    size_t an = 0;
    int upgraded = 0;
    char buf[65536];
    struct pollfd pf[2] = { { c->cfd, POLLIN, 0 }, { c->ufd, POLLIN, 0 } };
    while (!atomic_load(&c->p->stop)) {
        if (poll(pf, 2, 100) <= 0) continue;
        if (pf[0].revents) {
            ssize_t r = read(c->cfd, buf, sizeof(buf));
            if (r <= 0 || write_all(c->ufd, buf, (size_t)r) < 0) break;
        }
        if (pf[1].revents) {
            ssize_t r = read(c->ufd, buf, sizeof(buf));
            if (r <= 0 || an + (size_t)r > (1 << 20)) break;
            memcpy(acc + an, buf, (size_t)r);
            an += (size_t)r;
            size_t off = 0;
            if (!upgraded) {
                char *end = memmem(acc, an, "\r\n\r\n", 4);
                if (!end) continue;
                off = (size_t)(end - acc) + 4;
                if (write_all(c->cfd, acc, off) < 0) break;
                upgraded = 1;
            }
            for (;;) {                      /* whole frames only */
                if (an - off < 2) break;
                const unsigned char *h = (const unsigned char *)acc + off;
                uint64_t len = h[1] & 0x7f;
                size_t hl = 2;
                if (len == 126) { if (an - off < 4) break; len = ((uint64_t)h[2] << 8) | h[3]; hl = 4; }
                else if (len == 127) {
                    if (an - off < 10) break;
                    len = 0;
                    for (int i = 0; i < 8; i++) len = (len << 8) | h[2 + i];
                    hl = 10;
                }
                if (an - off < hl + len) break;
                const char *payload = acc + off + hl;
                int drop = (h[0] & 0x0f) == 1 && memmem(payload, len, "\"type\":\"token\"", 14) &&
                           (memmem(payload, len, "\"index\":2,", 10) || memmem(payload, len, "\"index\":2}", 10));
                if (drop) atomic_fetch_add(&c->p->drops, 1);
                else if (write_all(c->cfd, acc + off, hl + len) < 0) goto out;
                off += hl + len;
            }
            memmove(acc, acc + off, an - off);
            an -= off;
        }
    }
out:
    close(c->cfd);
    close(c->ufd);
    free(acc);
    free(c);
    return NULL;
}

static void *proxy_accept_main(void *arg)
{
    struct wsproxy *p = arg;
    while (!atomic_load(&p->stop)) {
        struct pollfd pf = { p->lfd, POLLIN, 0 };
        if (poll(&pf, 1, 100) <= 0) continue;
        int cfd = accept(p->lfd, NULL, NULL);
        if (cfd < 0) continue;
        int ufd = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)p->upstream_port) };
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (connect(ufd, (struct sockaddr *)&a, sizeof(a)) < 0) {
            close(cfd);
            close(ufd);
            continue;
        }
        struct wsproxy_conn *c = calloc(1, sizeof(*c));
        c->p = p;
        c->cfd = cfd;
        c->ufd = ufd;
        pthread_t t;
        pthread_create(&t, NULL, proxy_conn_main, c);
        pthread_detach(t);
    }
    return NULL;
}

static int wsproxy_start(struct wsproxy *p, int upstream_port)
{
    memset(p, 0, sizeof(*p));
    p->upstream_port = upstream_port;
    p->lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET };
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t al = sizeof(a);
    if (bind(p->lfd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(p->lfd, 64) < 0 ||
        getsockname(p->lfd, (struct sockaddr *)&a, &al) < 0) {
        close(p->lfd);
        return -1;
    }
    p->port = ntohs(a.sin_port);
    pthread_create(&p->acceptor, NULL, proxy_accept_main, p);
    return 0;
}

static void wsproxy_stop(struct wsproxy *p)
{
    atomic_store(&p->stop, 1);
    pthread_join(p->acceptor, NULL);
    close(p->lfd);
    usleep(300000);                 /* connection threads notice stop within one poll */
}

static void check_gap_through_proxy(const char *url)
{
    int port = atoi(strrchr(url, ':') + 1);
    struct wsproxy px;
    CHECK_EQ(wsproxy_start(&px, port), 0);
    char purl[64];
    snprintf(purl, sizeof(purl), "http://127.0.0.1:%d", px.port);
    struct bench_cfg c;
    struct bench_result res;
    struct err e = { 0 };
    base_cfg(&c, purl, BENCH_MODE_WS);
    c.arr.profile = ARRIVAL_CLOSED;
    c.arr.requests_max = 12;
    CHECK_EQ(bench_run(&c, &res, &e), 0);
    check_consistent(&res, -1);
    int drops = atomic_load(&px.drops);
    CHECK(drops > 0);
    /* a dropped message merged several tokens when the gateway batched them ("count") */
    CHECK(res.st.index_gaps >= (uint64_t)drops);
    CHECK_EQ(res.st.index_bad, drops);
    CHECK_EQ(res.st.errors, drops);
    bench_result_deinit(&res);
    wsproxy_stop(&px);
}

/* ---- against the real platform, when built ---- */

static pid_t up_pid;

static int start_up(char *url, size_t cap)
{
    const char *bin = getenv("LLMQ_BIN_DIR");
    char path[1024];
    snprintf(path, sizeof(path), "%s/llmq", bin ? bin : ".");
    if (access(path, X_OK) != 0) return -1;
    /* stdout goes to a file, not a pipe: llmq up must never die of SIGPIPE and leave its
     * children behind */
    char out_path[] = "/tmp/llmq-bench-e2e-XXXXXX";
    int fd = mkstemp(out_path);
    if (fd < 0) return -1;
    up_pid = fork();
    if (up_pid == 0) {
        dup2(fd, 1);
        close(fd);
        setpgid(0, 0);
        setenv("LLMQ_LOG_LEVEL", "warn", 1);
        execl(path, "llmq", "up", "--port", "0", "--workers", "2", "--step-ms", "5", (char *)NULL);
        _exit(127);
    }
    close(fd);
    int ok = -1;
    uint64_t deadline = clock_mono_us() + 30000000;
    while (ok < 0 && clock_mono_us() < deadline) {
        FILE *f = fopen(out_path, "r");
        char line[512];
        while (f && fgets(line, sizeof(line), f)) {
            char *h = strstr(line, "http://");
            if (h) {
                size_t n = strcspn(h, " \n)");
                snprintf(url, cap, "%.*s", (int)n, h);
                ok = 0;
                break;
            }
        }
        if (f) fclose(f);
        if (ok < 0) {
            if (waitpid(up_pid, NULL, WNOHANG) == up_pid) { up_pid = 0; break; }
            usleep(100000);
        }
    }
    unlink(out_path);
    return ok;
}

static void stop_up(void)
{
    if (up_pid <= 0) return;
    kill(up_pid, SIGTERM);
    for (int i = 0; i < 150; i++) {
        if (waitpid(up_pid, NULL, WNOHANG) == up_pid) { up_pid = 0; return; }
        usleep(100000);
    }
    kill(-up_pid, SIGKILL);
    kill(up_pid, SIGKILL);
    waitpid(up_pid, NULL, 0);
    up_pid = 0;
}

static void test_profiles_llmq_up(void)
{
    char url[256];
    if (start_up(url, sizeof(url)) < 0) {
        stop_up();
        TEST_SKIP("llmq up is not built or did not print its URL");
        return;
    }
    for (int m = 0; m < 2; m++) {
        for (int p = ARRIVAL_CLOSED; p <= ARRIVAL_TRACE; p++) {
            struct bench_result res;
            int rc = run_profile(url, m ? BENCH_MODE_WS : BENCH_MODE_SSE, (enum arrival_profile)p, &res);
            CHECK_EQ(rc, 0);
            if (rc == 0) {
                check_consistent(&res, -1);
                if (res.st.errors) fprintf(stderr, "  llmq up %s/%s: %llu errors (first: %s)\n", m ? "ws" : "sse",
                                           arrival_profile_name((enum arrival_profile)p),
                                           (unsigned long long)res.st.errors, res.st.codes[0].code);
                CHECK_EQ(res.st.index_gaps + res.st.index_repeats, 0);
                CHECK(res.st.ok > 0);
            }
            bench_result_deinit(&res);
        }
    }
    check_gap_through_proxy(url);
    stop_up();
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    TEST_RUN(test_profiles_fake);
    TEST_RUN(test_index_gap_caught);
    TEST_RUN(test_sse_range_ids);
    TEST_RUN(test_rejections_and_merges);
    TEST_RUN(test_timeouts_cancel);
    TEST_RUN(test_unreachable);
    TEST_RUN(test_env_prefix);
    TEST_RUN(test_profiles_llmq_up);
    TEST_MAIN_END();
}
