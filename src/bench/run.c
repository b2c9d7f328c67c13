/* run.c -- the benchmark runner (see run.h): schedules sends, keeps the in-flight list,
 * turns connection events into per-request measurements, checks token indices, enforces
 * timeouts, samples the gateway's queue depth, prints progress. Also the small shared
 * pieces of client.h (URL parsing, request bodies). */
#include "bench/run.h"

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench/client.h"
#include "bench/prompt.h"
#include "bench/rng.h"
#include "common/clock.h"
#include "common/xalloc.h"

#define TICK_MS 100

struct run {
    const struct bench_cfg *cfg;
    uv_loop_t loop;
    struct client_url url;
    uv_timer_t send_timer, tick_timer;
    struct arrival *plan;        /* owned; open loop only */
    size_t n_plan, next_plan;
    struct breq **reqs;          /* owned array by seq; entries owned until they end */
    size_t n_reqs, cap_reqs;
    struct breq *inflight;       /* head of the in-flight list */
    int n_inflight;
    uint64_t t0_us, last_end_us, stop_send_us, hard_end_us;
    int stopping;                /* no more sends */
    int finished;
    int in_send, refill;         /* closed loop: guard against send->fail->send recursion */
    struct ws_pool *ws;
    struct prompt_corpus corpus;
    struct rng rng;
    struct stats *st;
    struct bench_result *res;
    char rbuf[1 << 16];          /* the read buffer of every socket (consumed in read_cb) */
    /* live sampling of the gateway */
    struct client_url murl;
    char mpath[256];
    int mhave, mbusy;
    uint64_t next_scrape_us, next_registry_us;
    uv_work_t reg_work;          /* the registry query in flight (reg_busy) */
    int reg_busy, reg_live;
    /* progress */
    uint64_t next_progress_us, prog_tokens, prog_us;
    int tty;
};

/* ---- client.h helpers ---- */

int client_url_parse(struct client_url *u, const char *url)
{
    memset(u, 0, sizeof(*u));
    const char *p = url;
    if (!strncmp(p, "http://", 7)) p += 7;
    else if (!strncmp(p, "ws://", 5)) p += 5;
    else if (strstr(p, "://")) return -EINVAL;            /* https/wss: not supported */
    const char *slash = strchr(p, '/');
    size_t hl = slash ? (size_t)(slash - p) : strlen(p);
    char hostport[300];
    if (hl == 0 || hl >= sizeof(hostport)) return -EINVAL;
    memcpy(hostport, p, hl);
    hostport[hl] = '\0';
    u->port = 80;
    char *colon = strrchr(hostport, ':');
    if (colon && !strchr(hostport, ']')) {
        *colon = '\0';
        u->port = atoi(colon + 1);
        if (u->port <= 0 || u->port > 65535) return -EINVAL;
    }
    if (strlen(hostport) >= sizeof(u->host)) return -EINVAL;
    memcpy(u->host, hostport, strlen(hostport) + 1);
    if (slash) {
        snprintf(u->base, sizeof(u->base), "%s", slash);
        size_t bl = strlen(u->base);
        while (bl && u->base[bl - 1] == '/') u->base[--bl] = '\0';
        /* a pasted endpoint URL means its base: .../v1, .../metrics are not part of it */
        char *v1 = strstr(u->base, "/v1");
        if (v1 && (v1[3] == '\0' || v1[3] == '/')) *v1 = '\0';
        char *m = strstr(u->base, "/metrics");
        if (m && m[8] == '\0') *m = '\0';
    }
    struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM }, *ai = NULL;
    char port[16];
    snprintf(port, sizeof(port), "%d", u->port);
    if (getaddrinfo(u->host, port, &hints, &ai) != 0 || !ai) return -EHOSTUNREACH;
    memcpy(&u->addr, ai->ai_addr, ai->ai_addrlen);
    freeaddrinfo(ai);
    return 0;
}

uv_loop_t *run_loop(struct run *run) { return &run->loop; }
const struct client_url *run_url(struct run *run) { return &run->url; }
const char *run_api_key(struct run *run) { return run->cfg->api_key; }
int run_chat(struct run *run) { return run->cfg->chat; }
void run_alloc(struct run *run, uv_buf_t *b) { *b = uv_buf_init(run->rbuf, sizeof(run->rbuf)); }

struct breq *run_req_by_seq(struct run *run, uint32_t seq)
{
    return seq < run->n_reqs ? run->reqs[seq] : NULL;
}

void run_body(struct run *run, const struct breq *r, int ws, struct buf *out)
{
    const struct bench_cfg *c = run->cfg;
    const char *text;
    size_t len;
    struct rng pr;
    rng_seed(&pr, c->seed * 1000003u + r->seq);      /* same seed, same prompts */
    prompt_pick(&run->corpus, r->prompt_tokens, &pr, &text, &len);
    buf_append_str(out, "{");
    if (ws) buf_printf(out, "\"type\":\"generate\",\"id\":\"r%u\",", r->seq);
    if (c->model) {
        buf_append_str(out, "\"model\":\"");
        buf_append_json_str(out, c->model, strlen(c->model));
        buf_append_str(out, "\",");
    }
    if (c->chat) {
        buf_append_str(out, "\"messages\":[{\"role\":\"user\",\"content\":\"");
        buf_append_json_str(out, text, len);
        buf_append_str(out, "\"}]");
    } else {
        buf_append_str(out, "\"prompt\":\"");
        buf_append_json_str(out, text, len);
        buf_append_str(out, "\"");
    }
    buf_printf(out, ",\"max_tokens\":%d,\"temperature\":%g,\"seed\":%u", r->max_tokens,
               c->temperature, r->seq + 1);
    if (!ws) buf_append_str(out, ",\"stream\":true,\"stream_options\":{\"include_usage\":true}");
    if (c->ignore_eos) buf_append_str(out, ",\"ignore_eos\":true");
    buf_append_str(out, "}");
}

static double rel_s(struct run *run, uint64_t t_us)
{
    return t_us > run->t0_us ? (double)(t_us - run->t0_us) / 1e6 : 0;
}

/* ---- requests ---- */

static void send_one(struct run *run, double sched_s, int prompt_tokens, int max_tokens);

static void check_finished(struct run *run);

void run_req_accepted(struct run *run, struct breq *r)
{
    if (!r->accepted_us) r->accepted_us = clock_mono_us();
}

void run_req_tokens(struct run *run, struct breq *r, int index, int count)
{
    uint64_t now = clock_mono_us();
    int fresh;
    /* a hostile or broken server's numbers: keep index + count far from overflow */
    if (index > (1 << 30)) index = 1 << 30;
    if (count > (1 << 20)) count = 1 << 20;
    if (index < 0) {
        fresh = count;
    } else {
        if (count == 0) {                  /* SSE id: the last index of the event */
            if (index < r->next_index) {
                r->repeats++;
                return;
            }
            count = index - r->next_index + 1;
            index = r->next_index;
        }
        int lo = index, hi = index + count;
        if (lo > r->next_index) r->gaps += lo - r->next_index;
        if (lo < r->next_index) r->repeats += (hi < r->next_index ? hi : r->next_index) - lo;
        fresh = hi - (lo > r->next_index ? lo : r->next_index);
        if (fresh < 0) fresh = 0;
        if (hi > r->next_index) r->next_index = hi;
    }
    double gap = r->first_us ? (double)(now - r->last_us) : -1;
    if (!r->first_us) r->first_us = now;
    r->last_us = now;
    r->tokens += fresh;
    stats_on_tokens(run->st, rel_s(run, now), fresh, gap);
}

static void list_remove(struct run *run, struct breq *r)
{
    if (r->prev) r->prev->next = r->next;
    else run->inflight = r->next;
    if (r->next) r->next->prev = r->prev;
    run->n_inflight--;
}

void run_req_end(struct run *run, struct breq *r, const char *err)
{
    uint64_t now = clock_mono_us();
    if (r->indexed && r->usage_tokens > r->next_index) r->gaps += r->usage_tokens - r->next_index;
    if (!err && r->gaps) err = "index_gap";
    if (!err && r->repeats) err = "index_repeat";
    struct stats_req sr = {
        .err = err,
        .ttft_us = r->first_us ? (double)(r->first_us - r->sched_us) : -1,
        .tpot_us = r->tokens > 1 ? (double)(r->last_us - r->first_us) / (r->tokens - 1) : -1,
        .e2e_us = (double)(now - r->sched_us),
        .queue_us = r->accepted_us && r->sent_us ? (double)(r->accepted_us - r->sent_us) : -1,
        .srv_queue_us = r->srv_queue_ms >= 0 ? r->srv_queue_ms * 1000 : -1,
        .tokens = r->tokens,
        .prompt_tokens = r->prompt_tokens,
        .gaps = r->gaps,
        .repeats = r->repeats,
    };
    if (sr.ttft_us < 0 && !err) sr.err = "no_tokens";
    stats_on_end(run->st, rel_s(run, now), &sr);
    run->last_end_us = now;
    list_remove(run, r);
    run->reqs[r->seq] = NULL;
    if (r->sse) sse_client_abort(r->sse);       /* closing an SSE stream cancels it */
    if (r->ws) ws_conn_cancel(r->ws, r->seq);    /* still streaming on a live socket */
    free(r);
    if (run->cfg->arr.profile == ARRIVAL_CLOSED && !run->stopping) {
        if (run->in_send) run->refill++;
        else send_one(run, rel_s(run, clock_mono_us()), run->cfg->arr.prompt_tokens,
                      run->cfg->arr.max_tokens);
    }
    check_finished(run);
}

void run_conn_lost(struct run *run, struct ws_conn *c, const char *err)
{
    struct breq *r = run->inflight;
    while (r) {
        struct breq *next = r->next;
        if (r->ws == c) {
            r->ws = NULL;
            run_req_end(run, r, err);
        }
        r = next;
    }
}

static void send_one(struct run *run, double sched_s, int prompt_tokens, int max_tokens)
{
    const struct bench_cfg *c = run->cfg;
    if (run->stopping) return;
    if (c->arr.requests_max > 0 && (long long)run->n_reqs >= c->arr.requests_max) {
        run->stopping = 1;
        return;
    }
    if (run->n_reqs == run->cap_reqs) {
        run->cap_reqs = run->cap_reqs ? run->cap_reqs * 2 : 1024;
        run->reqs = xrealloc(run->reqs, run->cap_reqs * sizeof(*run->reqs));
    }
    struct breq *r = xcalloc(1, sizeof(*r));
    r->seq = (uint32_t)run->n_reqs;
    run->reqs[run->n_reqs++] = r;
    r->prompt_tokens = prompt_tokens;
    r->max_tokens = max_tokens;
    r->usage_tokens = -1;
    r->srv_queue_ms = -1;
    r->sched_us = run->t0_us + (uint64_t)(sched_s * 1e6);
    r->next = run->inflight;
    if (r->next) r->next->prev = r;
    run->inflight = r;
    run->n_inflight++;
    uint64_t now = clock_mono_us();
    if (r->sched_us > now) r->sched_us = now;       /* never measure from the future */
    r->sent_us = now;
    stats_on_sent(run->st, rel_s(run, now), (double)(now - r->sched_us));
    run->in_send++;
    int rc = c->mode == BENCH_MODE_WS ? ws_pool_send(run->ws, r) : sse_client_start(run, r);
    if (rc < 0) run_req_end(run, r, "send_failed");
    run->in_send--;
}

/* ---- scheduling ---- */

static void send_timer_cb(uv_timer_t *t)
{
    struct run *run = t->data;
    uint64_t now = clock_mono_us();
    while (run->next_plan < run->n_plan && !run->stopping) {
        const struct arrival *a = &run->plan[run->next_plan];
        uint64_t due = run->t0_us + (uint64_t)(a->t_s * 1e6);
        if (due > now + 500) break;                  /* within half a millisecond: send now */
        run->next_plan++;
        send_one(run, a->t_s, a->prompt_tokens, a->max_tokens);
    }
    if (run->next_plan >= run->n_plan) {
        run->stopping = 1;
        check_finished(run);
        return;
    }
    if (run->stopping) return;
    uint64_t due = run->t0_us + (uint64_t)(run->plan[run->next_plan].t_s * 1e6);
    uint64_t wait_ms = due > now ? (due - now) / 1000 : 0;
    uv_timer_start(&run->send_timer, send_timer_cb, wait_ms, 0);
}

static void closed_refill(struct run *run)
{
    const struct bench_cfg *c = run->cfg;
    while (!run->stopping && run->n_inflight < c->concurrency) {
        run->refill = 0;
        send_one(run, rel_s(run, clock_mono_us()), c->arr.prompt_tokens, c->arr.max_tokens);
        if (run->n_inflight < c->concurrency && !run->refill) break;  /* sends fail at once */
    }
    run->refill = 0;
}

/* ---- sampling, progress, timeouts, the end ---- */

static void on_metrics(void *ud, int status, const char *body, size_t len)
{
    struct run *run = ud;
    run->mbusy = 0;
    if (status != 200 || run->finished) return;
    double q = -1, w = -1, v;
    if (scrape_prom_sum(body, len, "llmq_queue_depth", &v)) q = v;
    if (scrape_prom_sum(body, len, "llmq_workers", &v) ||
        scrape_prom_sum(body, len, "llmq_workers_live", &v))
        w = v;
    stats_on_scrape(run->st, rel_s(run, clock_mono_us()), q, w);
}

static void registry_work(uv_work_t *w)
{
    struct run *run = w->data;
    run->reg_live = scrape_redis_workers(run->cfg->scrape.redis, run->cfg->scrape.prefix, NULL, 0);
}

static void registry_done(uv_work_t *w, int status)
{
    struct run *run = w->data;
    run->reg_busy = 0;
    if (status == 0 && run->reg_live >= 0 && !run->finished)
        stats_on_scrape(run->st, rel_s(run, clock_mono_us()), -1, run->reg_live);
}

static void progress(struct run *run, uint64_t now, int final)
{
    struct stats *s = run->st;
    double el = rel_s(run, now);
    double dt = (double)(now - run->prog_us) / 1e6;
    double tps = dt > 0 ? (double)(s->tokens - run->prog_tokens) / dt : 0;
    run->prog_us = now;
    run->prog_tokens = s->tokens;
    fprintf(stderr, "%s[%7.1fs] sent %llu ok %llu err %llu inflight %d | %.0f tok/s | "
            "ttft p50 %.1f p99 %.1f ms | e2e p99 %.0f ms | cpu %.0f%%%s",
            run->tty ? "\r" : "", el, (unsigned long long)s->sent, (unsigned long long)s->ok,
            (unsigned long long)s->errors, run->n_inflight, tps,
            hist_quantile(&s->h[STAT_TTFT], 0.5) / 1e3, hist_quantile(&s->h[STAT_TTFT], 0.99) / 1e3,
            hist_quantile(&s->h[STAT_E2E], 0.99) / 1e3,
            el > 0 ? 100.0 * (clock_cpu_s() - run->res->cpu_s) / el : 0,
            run->tty && !final ? "   " : "\n");
    fflush(stderr);
}

static void shutdown_run(struct run *run)
{
    if (run->finished) return;
    run->finished = 1;
    run->stopping = 1;
    while (run->inflight) run_req_end(run, run->inflight, "unfinished");
    uv_timer_stop(&run->send_timer);
    uv_timer_stop(&run->tick_timer);
    uv_close((uv_handle_t *)&run->send_timer, NULL);
    uv_close((uv_handle_t *)&run->tick_timer, NULL);
    if (run->ws) ws_pool_close(run->ws);
    run->ws = NULL;
}

static void check_finished(struct run *run)
{
    if (run->finished || !run->stopping || run->n_inflight > 0 || run->in_send) return;
    shutdown_run(run);
}

static void tick_cb(uv_timer_t *t)
{
    struct run *run = t->data;
    const struct bench_cfg *c = run->cfg;
    uint64_t now = clock_mono_us();
    if (c->arr.profile == ARRIVAL_CLOSED) {
        if (!run->stopping && run->stop_send_us && now >= run->stop_send_us) {
            run->stopping = 1;
            run->hard_end_us = now + (uint64_t)(c->drain_s * 1e6);
        }
        closed_refill(run);
    } else if (run->stopping && !run->hard_end_us) {
        run->hard_end_us = now + (uint64_t)(c->drain_s * 1e6);
    }
    /* per-request timeouts */
    uint64_t limit = (uint64_t)(c->timeout_s * 1e6);
    for (struct breq *r = run->inflight, *next; r; r = next) {
        next = r->next;
        if (now > r->sched_us + limit) run_req_end(run, r, "timeout");
        if (run->finished) return;
    }
    if (run->mhave && !run->mbusy && now >= run->next_scrape_us) {
        run->next_scrape_us = now + (uint64_t)(c->window_s * 1e6);
        char host[300];
        snprintf(host, sizeof(host), "%s:%d", run->murl.host, run->murl.port);
        if (hget_start(&run->loop, (const struct sockaddr *)&run->murl.addr, host, run->mpath,
                       2.0, on_metrics, run) == 0)
            run->mbusy = 1;
    }
    if (c->scrape.redis && *c->scrape.redis && !run->reg_busy && now >= run->next_registry_us) {
        /* live workers from the registry: blocking hiredis calls, so on the thread pool,
         * never on the loop that times the sends */
        run->next_registry_us = now + (uint64_t)(c->window_s * 1e6);
        run->reg_busy = 1;
        run->reg_work.data = run;
        if (uv_queue_work(&run->loop, &run->reg_work, registry_work, registry_done) < 0) run->reg_busy = 0;
    }
    if (c->progress && now >= run->next_progress_us) {
        progress(run, now, 0);
        run->next_progress_us = now + (run->tty ? 1000000 : 5000000);
    }
    if (run->stopping && run->hard_end_us && now >= run->hard_end_us) shutdown_run(run);
    else check_finished(run);
}

/* ---- entry ---- */

static int validate(const struct bench_cfg *c, struct err *e)
{
    if (!c->url || !*c->url) return err_set(e, -EINVAL, "--url is required");
    if (c->arr.profile == ARRIVAL_CLOSED) {
        if (c->concurrency < 1) return err_set(e, -EINVAL, "--concurrency must be >= 1");
        if (c->arr.duration_s <= 0 && c->arr.requests_max <= 0)
            return err_set(e, -EINVAL, "--duration or --requests is needed");
    }
    if (c->arr.max_tokens < 1 && c->arr.profile != ARRIVAL_TRACE)
        return err_set(e, -EINVAL, "--max-tokens must be >= 1");
    if (c->timeout_s <= 0) return err_set(e, -EINVAL, "--timeout must be > 0");
    if (c->window_s <= 0) return err_set(e, -EINVAL, "--window must be > 0");
    return 0;
}

void bench_result_deinit(struct bench_result *res) { stats_deinit(&res->st); }

int bench_run(const struct bench_cfg *cfg, struct bench_result *res, struct err *e)
{
    struct run *run;
    int rc;
    memset(res, 0, sizeof(*res));
    stats_init(&res->st, cfg->window_s > 0 ? cfg->window_s : 1, cfg->slo_ttft_ms, cfg->slo_tpot_ms);
    if ((rc = validate(cfg, e)) < 0) return rc;
    run = xcalloc(1, sizeof(*run));
    run->cfg = cfg;
    run->st = &res->st;
    run->res = res;
    if ((rc = client_url_parse(&run->url, cfg->url)) < 0) {
        err_set(e, rc, "--url %s: not an http:// URL of a reachable host", cfg->url);
        goto out;
    }
    if (cfg->arr.profile != ARRIVAL_CLOSED) {
        if ((rc = arrival_plan(&cfg->arr, &run->plan, &run->n_plan, e)) < 0) goto out;
        if (run->n_plan == 0) {
            rc = err_set(e, -EINVAL, "the arrival schedule is empty");
            goto out;
        }
        res->schedule_s = run->plan[run->n_plan - 1].t_s;
        run->cap_reqs = run->n_plan;
        run->reqs = xmalloc(run->cap_reqs * sizeof(*run->reqs));
    }
    /* the corpus covers the longest prompt (bounded: 2 M words, ~12 MB) */
    size_t words = 20000;
    for (size_t i = 0; i < run->n_plan; i++) {
        size_t w = prompt_words_for_tokens(run->plan[i].prompt_tokens) * 2;
        if (w > words) words = w;
    }
    if (prompt_words_for_tokens(cfg->arr.prompt_tokens) * 2 > words)
        words = prompt_words_for_tokens(cfg->arr.prompt_tokens) * 2;
    if (words > 2000000) words = 2000000;
    prompt_corpus_init(&run->corpus, words, cfg->seed);
    rng_seed(&run->rng, cfg->seed);

    if (cfg->scrape.gateway_urls || cfg->scrape.worker_urls || cfg->scrape.redis ||
        cfg->scrape.gateway_pids || cfg->scrape.worker_pids) {
        scrape_snapshot(&cfg->scrape, 3.0, &res->before);
        res->scraped = 1;
    }
    {
        char murl[600];
        const char *m = cfg->metrics_url;
        if (!m) {
            snprintf(murl, sizeof(murl), "http://%s:%d%s/metrics", run->url.host, run->url.port,
                     run->url.base);
            m = murl;
        }
        if (*m && client_url_parse(&run->murl, m) == 0) {
            const char *p = strstr(m, "://");
            p = p ? strchr(p + 3, '/') : NULL;
            snprintf(run->mpath, sizeof(run->mpath), "%s", p ? p : "/metrics");
            run->mhave = 1;
        }
    }

    uv_loop_init(&run->loop);
    uv_timer_init(&run->loop, &run->send_timer);
    uv_timer_init(&run->loop, &run->tick_timer);
    run->send_timer.data = run->tick_timer.data = run;
    run->tty = isatty(2);
    if (cfg->mode == BENCH_MODE_WS) run->ws = ws_pool_new(run, cfg->connections);

    res->cpu_s = clock_cpu_s();                  /* the start; replaced by the difference */
    run->t0_us = clock_mono_us();
    run->prog_us = run->t0_us;
    run->next_progress_us = run->t0_us + 1000000;
    if (cfg->arr.profile == ARRIVAL_CLOSED) {
        if (cfg->arr.duration_s > 0) run->stop_send_us = run->t0_us + (uint64_t)(cfg->arr.duration_s * 1e6);
        closed_refill(run);
    } else {
        uv_timer_start(&run->send_timer, send_timer_cb, (uint64_t)(run->plan[0].t_s * 1000), 0);
    }
    uv_timer_start(&run->tick_timer, tick_cb, TICK_MS, TICK_MS);
    check_finished(run);
    uv_run(&run->loop, UV_RUN_DEFAULT);
    uint64_t end = run->last_end_us > run->t0_us ? run->last_end_us : clock_mono_us();
    res->wall_s = rel_s(run, end);
    res->cpu_s = clock_cpu_s() - res->cpu_s;
    if (cfg->progress) progress(run, end, 1);
    uv_loop_close(&run->loop);

    if (res->scraped) scrape_snapshot(&cfg->scrape, 3.0, &res->after);

    /* was the generator the bottleneck? */
    double busy = res->wall_s > 0 ? res->cpu_s / res->wall_s : 0;
    double lag_p99_ms = hist_quantile(&res->st.send_lag, 0.99) / 1e3;
    if (busy > 0.85) {
        res->saturated = 1;
        snprintf(res->saturated_why, sizeof(res->saturated_why),
                 "generator CPU at %.0f%% of one core", busy * 100);
    } else if (cfg->arr.profile != ARRIVAL_CLOSED && lag_p99_ms > 10) {
        res->saturated = 1;
        snprintf(res->saturated_why, sizeof(res->saturated_why),
                 "sends were late: p99 %.1f ms after their scheduled time, with the generator at "
                 "%.0f%% CPU%s", lag_p99_ms, busy * 100,
                 busy < 0.5 ? " (the machine is oversubscribed)" : "");
    }
    rc = 0;
out:
    prompt_corpus_deinit(&run->corpus);
    free(run->plan);
    for (size_t i = 0; i < run->n_reqs; i++) free(run->reqs[i]);
    free(run->reqs);
    free(run);
    return rc;
}
