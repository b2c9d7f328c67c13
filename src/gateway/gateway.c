/* gateway.c -- process wiring: Redis connections, the SO_REUSEPORT listener, the 50 ms tick
 * (queue poll, deadlines, pings, idle sweep, drain), the check-phase flush of dirty streams,
 * signals, metrics and ids. */
#include "gateway/gw.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "gateway/admit.h"
#include "gateway/conn.h"
#include "gateway/fanout.h"
#include "gateway/models.h"
#include "gateway/stream.h"
#include "queue/rconn.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

/* ---------------------------------------------------------------- ids */

static uint64_t rng_state;

static uint64_t rng_next(void)
{
    if (!rng_state) {
        if (getrandom(&rng_state, sizeof(rng_state), 0) != sizeof(rng_state))
            rng_state = clock_wall_us() ^ ((uint64_t)getpid() << 32);
        rng_state |= 1;
    }
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull); /* splitmix64 */
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

void gateway_new_id(char *out)
{
    static const char hx[] = "0123456789abcdef";
    uint64_t a = rng_next(), b = rng_next();
    for (int i = 0; i < 16; i++) {
        out[i] = hx[(a >> (60 - 4 * i)) & 15];
        out[16 + i] = hx[(b >> (60 - 4 * i)) & 15];
    }
    out[32] = 0;
}

uint64_t gateway_random_u63(void)
{
    return rng_next() >> 1;
}

/* ---------------------------------------------------------------- metrics */

struct req_series {
    const char *endpoint; /* static string: compared by pointer, then by text */
    int status;
    struct metric *m;
};
static struct req_series req_cache[128];
static int n_req_cache;

void gateway_count_request(struct gateway *gw, const char *endpoint, int status)
{
    for (int i = 0; i < n_req_cache; i++)
        if (req_cache[i].status == status &&
            (req_cache[i].endpoint == endpoint || !strcmp(req_cache[i].endpoint, endpoint))) {
            metric_add(req_cache[i].m, 1);
            return;
        }
    char labels[160];
    snprintf(labels, sizeof(labels), "endpoint=\"%s\",code=\"%d\"", endpoint, status);
    struct metric *m =
        metrics_counter(gw->metrics, "llmq_http_requests_total",
                        "HTTP requests answered, by endpoint and status code", labels);
    if (n_req_cache < (int)(sizeof(req_cache) / sizeof(req_cache[0]))) {
        req_cache[n_req_cache].endpoint = endpoint;
        req_cache[n_req_cache].status = status;
        req_cache[n_req_cache++].m = m;
    }
    metric_add(m, 1);
}

void gateway_count_rejection(struct gateway *gw, const char *reason)
{
    char labels[96];
    snprintf(labels, sizeof(labels), "reason=\"%s\"", reason);
    metric_add(metrics_counter(gw->metrics, "llmq_rejections_total",
                               "requests rejected before a job was created, by reason", labels),
               1);
}

static long rss_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long pages = 0, rss = 0;
    if (!f) return 0;
    if (fscanf(f, "%ld %ld", &pages, &rss) != 2) rss = 0;
    fclose(f);
    return rss * sysconf(_SC_PAGESIZE);
}

static void on_render(struct metrics *m, void *ud)
{
    struct gateway *gw = ud;
    metric_set(gw->m_tokens, (double)gw->c.tokens_streamed);
    metric_set(gw->m_bytes, (double)gw->c.bytes_written);
    metric_set(gw->m_open, (double)gw->n_streams);
    metric_set(gw->m_conns, (double)gw->n_conns);
    metric_set(gw->m_depth, (double)gw->queue_depth);
    metric_set(gw->m_lag, (double)(gw->queue_lag + gw->admitted_since_poll));
    metric_set(gw->m_backlog, (double)gw->backlog_tokens);
    for (int i = 0; i < KEYS_LANES; i++) { /* the same, per priority lane (as last polled) */
        char lab[32];
        snprintf(lab, sizeof(lab), "lane=\"%s\"", keys_lane_name(i));
        metric_set(metrics_gauge(m, "llmq_queue_lane_depth",
                                 "entries in the job stream of one priority lane (XLEN)", lab),
                   (double)gw->lanes[i].depth);
        metric_set(metrics_gauge(m, "llmq_queue_lane_lag",
                                 "jobs of one priority lane not yet delivered to a worker", lab),
                   (double)gw->lanes[i].lag);
    }
    metric_set(gw->m_drain_rate, gw->drain_rate);
    metric_set(metrics_gauge(m, "llmq_queue_pending",
                             "jobs delivered to a worker, not yet acknowledged (all lanes)", NULL),
               (double)gw->queue_pending);
    metric_set(gw->m_redis_up, rconn_connected(gw->cmd) && gw->subscribed ? 1 : 0);
    metric_set(gw->m_cut, (double)gw->c.streams_cut);
    metric_set(gw->m_cancels, (double)gw->c.cancels_published);
    metric_set(metrics_counter(m, "llmq_tokens_deduplicated_total",
                               "token indices dropped because already sent (worker retry)", NULL),
               (double)gw->c.tokens_deduplicated);
    metric_set(metrics_counter(m, "llmq_jobs_unknown_cancelled_total",
                               "jobs refused with their creation unconfirmed, cancelled later",
                               NULL),
               (double)gw->c.unknown_cancelled);
    metric_set(metrics_gauge(m, "llmq_jobs_unknown_pending",
                             "refused requests whose job may exist, not yet cancelled", NULL),
               (double)gw->n_unknown);
    metric_set(metrics_counter(m, "llmq_pubsub_messages_total", "pub/sub messages received", NULL),
               (double)gw->c.pubsub_messages);
    metric_set(metrics_counter(m, "llmq_event_records_total", "event records decoded", NULL),
               (double)gw->c.records);
    metric_set(
        metrics_counter(m, "llmq_event_records_bad_total", "malformed event records dropped", NULL),
        (double)gw->c.bad_records);
    metric_set(metrics_counter(m, "llmq_socket_writes_total", "write syscalls to clients", NULL),
               (double)gw->c.writes);
    metric_set(metrics_gauge(m, "llmq_gateway_draining", "1 while draining (SIGTERM)", NULL),
               gw->draining);
    metric_set(metrics_counter(m, "process_cpu_seconds_total", "user + system CPU seconds", NULL),
               clock_cpu_s());
    metric_set(metrics_gauge(m, "process_resident_memory_bytes", "resident set size", NULL),
               (double)rss_bytes());
}

static void metrics_setup(struct gateway *gw)
{
    static const double itl_bounds[] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
                                        0.025,  0.05,    0.1,    0.25,  0.5,    1};
    struct metrics *m = gw->metrics = metrics_new();
    gw->m_ttft = metrics_histogram(
        m, "llmq_ttft_seconds", "time from request received to first token received (gateway view)",
        NULL, metrics_latency_buckets_s, metrics_latency_buckets_n);
    gw->m_itl = metrics_histogram(m, "llmq_inter_token_seconds",
                                  "time between token arrivals per stream, per token", NULL,
                                  itl_bounds, (int)(sizeof(itl_bounds) / sizeof(double)));
    gw->m_e2e =
        metrics_histogram(m, "llmq_request_duration_seconds", "time from request received to done",
                          NULL, metrics_latency_buckets_s, metrics_latency_buckets_n);
    gw->m_tokens =
        metrics_counter(m, "llmq_tokens_streamed_total", "tokens delivered to clients", NULL);
    gw->m_bytes =
        metrics_counter(m, "llmq_bytes_written_total", "bytes written to client sockets", NULL);
    gw->m_open = metrics_gauge(m, "llmq_open_streams",
                               "open client streams (SSE, JSON, WebSocket requests)", NULL);
    gw->m_conns = metrics_gauge(m, "llmq_open_connections", "open client connections", NULL);
    gw->m_depth = metrics_gauge(m, "llmq_queue_depth",
                                "entries in the job streams (XLEN, all priority lanes)", NULL);
    gw->m_lag =
        metrics_gauge(m, "llmq_queue_lag",
                      "jobs not yet delivered to a worker (+ own admissions since the poll)", NULL);
    gw->m_backlog =
        metrics_gauge(m, "llmq_queue_backlog_tokens",
                      "prompt + max_tokens estimate of this gateway's waiting jobs", NULL);
    gw->m_drain_rate = metrics_gauge(m, "llmq_queue_drain_rate",
                                     "jobs per second delivered to workers (EWMA)", NULL);
    gw->m_redis_up = metrics_gauge(m, "llmq_redis_up",
                                   "1 when the command and pub/sub connections are up", NULL);
    gw->m_cut = metrics_counter(m, "llmq_streams_cut_total",
                                "streams cut because the client read too slowly", NULL);
    gw->m_cancels = metrics_counter(m, "llmq_cancels_published_total",
                                    "cancellations published to workers", NULL);
    metrics_on_render(m, on_render, gw);
}

/* ---------------------------------------------------------------- loop hooks */

static void close_all(struct gateway *gw);

static void on_flush(uv_check_t *h)
{
    struct gateway *gw = h->data;
    if (gw->dirty) stream_flush_dirty(gw);
}

static void on_tick(uv_timer_t *t)
{
    struct gateway *gw = t->data;
    static unsigned n;
    uint64_t now = uv_now(gw->loop);
    n++;
    if (n % 2 == 0) admit_poll(gw);
    /* Deadlines and pings: the sweep touches only streams with a deadline and SSE streams
     * due for a ping (walking 10,000 streams would cost a few % of a core). */
    if ((gw->next_deadline_ms && now >= gw->next_deadline_ms) || n % 4 == 0) stream_sweep(gw, now);
    if (n % 20 == 0) conn_sweep(gw, now); /* 1 s: idle and header timeouts */
    if (n % 20 == 1) models_refresh(gw);  /* 1 s: the default model, model_not_found */
    fanout_kick(gw);
    if (gw->dirty) stream_flush_dirty(gw); /* the check phase would only run after the next poll */
    if (gw->draining) {
        int busy = 0;
        for (struct http_conn *c = gw->conns; c; c = c->next)
            if (c->busy || c->streams || c->writing) busy = 1;
        if (!busy || now >= gw->drain_deadline_ms) {
            if (busy)
                log_warn("drain timeout: closing %zu streams still open", gw->n_streams);
            else
                log_info("drained: all streams finished");
            close_all(gw);
        }
    }
}

static void on_signal(uv_signal_t *s, int signum)
{
    struct gateway *gw = s->data;
    if (gw->draining) {
        log_warn("second signal %d: closing now", signum);
        close_all(gw);
        return;
    }
    log_info("signal %d: draining (readyz 503, no new connections, up to %lld ms for open streams)",
             signum, gw->cfg.drain_timeout_ms);
    gateway_drain(gw);
}

static void on_connection(uv_stream_t *l, int status)
{
    struct gateway *gw = l->data;
    if (status < 0) {
        log_warn("accept: %s", uv_strerror(status));
        return;
    }
    conn_accept(gw, l);
}

static int listen_start(struct gateway *gw, struct err *e)
{
    struct sockaddr_storage addr;
    int family = AF_INET;
    const char *host = gw->cfg.host ? gw->cfg.host : "127.0.0.1";
    if (uv_ip4_addr(host, (int)gw->cfg.port, (struct sockaddr_in *)&addr) != 0) {
        if (uv_ip6_addr(host, (int)gw->cfg.port, (struct sockaddr_in6 *)&addr) != 0)
            return err_set(e, -EINVAL, "host %s: not an IPv4 or IPv6 address", host);
        family = AF_INET6;
    }
    int rc = uv_tcp_init_ex(gw->loop, &gw->listener, (unsigned)family);
    if (rc < 0) return err_set(e, rc, "socket: %s", uv_strerror(rc));
    gw->listener.data = gw;
    gw->listening = 1;
    uv_os_fd_t fd;
    int one = 1;
    if (uv_fileno((uv_handle_t *)&gw->listener, &fd) == 0)
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one,
                   sizeof(one)); /* several gateways, one port */
    if ((rc = uv_tcp_bind(&gw->listener, (struct sockaddr *)&addr, 0)) < 0 ||
        (rc = uv_listen((uv_stream_t *)&gw->listener, 4096, on_connection)) < 0)
        return err_set(e, rc, "listen on %s:%lld: %s", host, gw->cfg.port, uv_strerror(rc));
    struct sockaddr_storage bound;
    int len = sizeof(bound);
    uv_tcp_getsockname(&gw->listener, (struct sockaddr *)&bound, &len);
    int port = ntohs(family == AF_INET ? ((struct sockaddr_in *)&bound)->sin_port
                                       : ((struct sockaddr_in6 *)&bound)->sin6_port);
    gw->cfg.port = port;
    log_info("listening on http://%s:%d (gateway %s, pid %d)", host, port, gw->id, (int)getpid());
    printf("llmq-gateway listening on http://%s:%d\n", host, port);
    fflush(stdout);
    return 0;
}

/* ---------------------------------------------------------------- lifecycle */

int gateway_ready(const struct gateway *gw)
{
    return !gw->draining && rconn_connected(gw->cmd) && gw->subscribed;
}

int gateway_init(struct gateway *gw, uv_loop_t *loop, const struct gw_config *cfg, struct err *e)
{
    int rc;
    memset(gw, 0, sizeof(*gw));
    gw->loop = loop;
    /* Handles first, so that a failure below can always close them (close_all). */
    uv_timer_init(loop, &gw->tick);
    uv_check_init(loop, &gw->flush);
    uv_signal_init(loop, &gw->sigterm);
    uv_signal_init(loop, &gw->sigint);
    gw->tick.data = gw->flush.data = gw->sigterm.data = gw->sigint.data = gw;
    gw->cfg = *cfg;
    for (int i = 0; i < KEYS_LANES; i++) {
        gw->lanes[i].gw = gw;
        gw->lanes[i].index = i;
        gw->lanes[i].entries_read_prev = -1;
        gw->lanes[i].xinfo_lag = -1;
    }
    buf_init(&gw->models_json);
    if (cfg->id && *cfg->id) {
        if (!keys_id_valid(cfg->id, strlen(cfg->id)))
            return err_set(e, -EINVAL, "id: 1..64 characters of [A-Za-z0-9._-]");
        snprintf(gw->id, sizeof(gw->id), "%s", cfg->id);
    } else {
        char hex[33];
        gateway_new_id(hex);
        snprintf(gw->id, sizeof(gw->id), "gw-%.16s", hex);
    }
    if (keys_init(&gw->keys, cfg->prefix) < 0)
        return err_set(e, -EINVAL, "prefix: at most 64 bytes, no spaces");
    keys_jobs(&gw->keys, gw->jobs_key);
    for (int i = 0; i < KEYS_LANES; i++)
        keys_lane(&gw->keys, i, gw->lanes[i].key);
    keys_cancel(&gw->keys, gw->cancel_key);
    keys_gw(&gw->keys, gw->id, gw->gw_channel);
    if (cfg->max_body_bytes < 1024) return err_set(e, -EINVAL, "max-body-bytes: must be >= 1024");
    if (cfg->max_header_bytes < 1024)
        return err_set(e, -EINVAL, "max-header-bytes: must be >= 1024");
    if (cfg->max_stream_buffer_bytes < 4096)
        return err_set(e, -EINVAL, "max-stream-buffer-bytes: must be >= 4096");
    if (cfg->port < 0 || cfg->port > 65535) return err_set(e, -EINVAL, "port: must be 0..65535");
    if (cfg->rate_limit_rps < 0) return err_set(e, -EINVAL, "rate-limit-rps: must be >= 0");
    if (cfg->default_max_tokens < 1 || cfg->max_tokens_limit < cfg->default_max_tokens)
        return err_set(e, -EINVAL,
                       "default-max-tokens / max-tokens-limit: need 1 <= default <= limit");
    gw->limits.max_tokens_default = cfg->default_max_tokens;
    gw->limits.max_tokens_limit = cfg->max_tokens_limit;
    gw->limits.max_timeout_ms = cfg->max_timeout_ms;
    gw->limits.model_default = NULL; /* "" when the client names none: models_resolve */
    if ((rc = auth_init(&gw->auth, cfg->api_keys, cfg->api_keys_file, e)) < 0) return rc;
    if (auth_open(&gw->auth))
        log_warn("no API keys configured (--api-keys / --api-keys-file): the API is open to anyone "
                 "who can reach it");
    else
        log_info("%d API keys loaded", gw->auth.n_keys);
    limiter_init(&gw->limiter, cfg->rate_limit_rps, cfg->rate_limit_burst);
    metrics_setup(gw);
    stream_table_init(gw);

    struct rconn_config cmd = {
        .url = cfg->redis_url, .name = "cmd", .on_connect = fanout_cmd_connected, .ud = gw};
    if ((rc = rconn_new(&gw->cmd, loop, &cmd, e)) < 0) return rc;
    if ((rc = fanout_init(gw, e)) < 0) return rc;
    if ((rc = listen_start(gw, e)) < 0) return rc;

    uv_timer_start(&gw->tick, on_tick, 50, 50);
    uv_check_start(&gw->flush, on_flush);
    uv_signal_start(&gw->sigterm, on_signal, SIGTERM);
    uv_signal_start(&gw->sigint, on_signal, SIGINT);
    signal(SIGPIPE, SIG_IGN);
    return 0;
}

void gateway_drain(struct gateway *gw)
{
    if (gw->draining) return;
    gw->draining = 1;
    gw->drain_deadline_ms =
        uv_now(gw->loop) + (uint64_t)(gw->cfg.drain_timeout_ms > 0 ? gw->cfg.drain_timeout_ms : 0);
    if (gw->listening) {
        uv_close((uv_handle_t *)&gw->listener, NULL);
        gw->listening = 0;
    }
}

static void close_all(struct gateway *gw)
{
    if (gw->closing_handles) return;
    gw->closing_handles = 1;
    /* Streams still open get a resumable error before their connection closes. */
    for (struct stream *s = gw->all_streams, *next; s; s = next) {
        next = s->anext;
        s->cancel_on_close = 0; /* the job goes on; the client resumes elsewhere */
        if (s->state == STREAM_STATE_LIVE && s->conn) {
            stream_fail(s, 503, "overloaded",
                        "gateway shutting down; resume with Last-Event-ID or a resume message",
                        1000);
        }
    }
    if (gw->dirty) stream_flush_dirty(gw);
    for (struct http_conn *c = gw->conns, *next; c; c = next) {
        next = c->next;
        conn_flush(c);
        conn_close(c);
    }
    if (gw->listening) uv_close((uv_handle_t *)&gw->listener, NULL);
    gw->listening = 0;
    uv_close((uv_handle_t *)&gw->tick, NULL);
    uv_close((uv_handle_t *)&gw->flush, NULL);
    uv_close((uv_handle_t *)&gw->sigterm, NULL);
    uv_close((uv_handle_t *)&gw->sigint, NULL);
    rconn_free(gw->cmd);
    rconn_free(gw->sub);
    rconn_free(gw->follow);
    gw->cmd = gw->sub = gw->follow = NULL;
}

void gateway_close(struct gateway *gw)
{
    close_all(gw);
}

void gateway_deinit(struct gateway *gw)
{
    while (gw->all_streams)
        stream_free(gw->all_streams);
    stream_table_deinit(gw);
    auth_deinit(&gw->auth);
    limiter_deinit(&gw->limiter);
    metrics_free(gw->metrics);
    models_deinit(gw);
    free(gw->unknown);
    gw->unknown = NULL;
    gw->n_unknown = 0;
}
