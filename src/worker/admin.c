/* admin.c -- the worker's own tiny HTTP server on --metrics-port: GET /metrics (Prometheus
 * text), GET /healthz (200 while the process serves, with Redis and drain state in the
 * body) and GET /readyz (503 while Redis is unreachable or the worker drains). One request
 * per connection, parsed with http-parser; it shares no code with the gateway on purpose. */
#include "worker/worker.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/xalloc.h"

#include <http_parser.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ADMIN_REQUEST_MAX 8192

struct aconn {
    uv_tcp_t tcp; /* tcp.data == this */
    uv_write_t wr;
    http_parser parser;
    struct worker *w;
    struct buf url;
    struct buf out; /* the response, alive until the write completes */
    size_t received;
    int responded;
    struct aconn *prev, *next;
};

static struct aconn *conns; /* open connections, closed by admin_close */

static void on_conn_closed(uv_handle_t *h)
{
    struct aconn *c = h->data;
    if (c->prev)
        c->prev->next = c->next;
    else
        conns = c->next;
    if (c->next) c->next->prev = c->prev;
    buf_deinit(&c->url);
    buf_deinit(&c->out);
    free(c);
}

static void conn_close(struct aconn *c)
{
    if (!uv_is_closing((uv_handle_t *)&c->tcp)) uv_close((uv_handle_t *)&c->tcp, on_conn_closed);
}

static void on_written(uv_write_t *req, int status)
{
    conn_close(req->data);
}

static void respond(struct aconn *c, int code, const char *ctype, const char *body, size_t len)
{
    if (c->responded) return;
    c->responded = 1;
    const char *reason = code == 200   ? "OK"
                         : code == 404 ? "Not Found"
                         : code == 405 ? "Method Not Allowed"
                         : code == 503 ? "Service Unavailable"
                                       : "Bad Request";
    buf_printf(
        &c->out,
        "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n",
        code, reason, ctype, len);
    buf_append(&c->out, body, len);
    uv_buf_t b = uv_buf_init(c->out.data, (unsigned)c->out.len);
    c->wr.data = c;
    if (uv_write(&c->wr, (uv_stream_t *)&c->tcp, &b, 1, on_written) < 0) conn_close(c);
}

static void on_metrics_render(struct metrics *m, void *ud)
{
    struct worker *w = ud;
    metric_set(w->m_cpu, clock_cpu_s());
    metric_set(w->m_redis_up, rconn_connected(w->cmd));
}

static void route(struct aconn *c)
{
    struct worker *w = c->w;
    const char *url = c->url.data ? c->url.data : "";
    size_t n = strcspn(url, "?");
    struct buf body;
    buf_init(&body);
    if (c->parser.method != HTTP_GET && c->parser.method != HTTP_HEAD) {
        respond(c, 405, "text/plain", "GET only\n", 9);
    } else if (n == 8 && !strncmp(url, "/metrics", n)) {
        metrics_render(w->metrics, &body);
        respond(c, 200, "text/plain; version=0.0.4", body.data ? body.data : "", body.len);
    } else if ((n == 8 && !strncmp(url, "/healthz", n)) ||
               (n == 7 && !strncmp(url, "/readyz", n))) {
        int redis = rconn_connected(w->cmd) && rconn_connected(w->pull) && rconn_connected(w->sub);
        int ready = redis && !w->draining;
        buf_printf(&body,
                   "{\"status\":\"%s\",\"ready\":%s,\"redis\":%s,\"draining\":%s,\"running\":%d,"
                   "\"max_batch\":%d,\"id\":\"%s\"}\n",
                   url[1] == 'h' ? "ok" : (ready ? "ready" : "not ready"), ready ? "true" : "false",
                   redis ? "true" : "false", w->draining ? "true" : "false", w->n_running,
                   w->max_batch, w->cfg.id);
        /* Liveness stays 200 through a Redis outage (restarting would not help); readiness does
         * not. */
        respond(c, url[1] == 'h' || ready ? 200 : 503, "application/json", body.data, body.len);
    } else {
        respond(c, 404, "text/plain", "not found\n", 10);
    }
    buf_deinit(&body);
}

static int on_url(http_parser *p, const char *at, size_t len)
{
    struct aconn *c = p->data;
    if (c->url.len + len > 2048) return 1;
    buf_append(&c->url, at, len);
    return 0;
}

static int on_complete(http_parser *p)
{
    route(p->data);
    return 1; /* stop parsing: one request per connection */
}

static const http_parser_settings settings = {.on_url = on_url, .on_message_complete = on_complete};

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
    static char slab[4096]; /* loop thread only; consumed synchronously in on_read */
    *b = uv_buf_init(slab, sizeof(slab));
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
    struct aconn *c = s->data;
    if (n < 0) {
        conn_close(c);
        return;
    }
    if (n == 0 || c->responded) return;
    c->received += (size_t)n;
    size_t used = http_parser_execute(&c->parser, &settings, b->base, (size_t)n);
    if (c->responded) {
        uv_read_stop(s);
        return;
    }
    if (used != (size_t)n || c->received > ADMIN_REQUEST_MAX) {
        respond(c, 400, "text/plain", "bad request\n", 12);
        uv_read_stop(s);
    }
}

static void on_connection(uv_stream_t *server, int status)
{
    struct worker *w = server->data;
    if (status < 0) return;
    struct aconn *c = xcalloc(1, sizeof(*c));
    c->w = w;
    buf_init(&c->url);
    buf_init(&c->out);
    uv_tcp_init(w->loop, &c->tcp);
    c->tcp.data = c;
    c->next = conns;
    if (conns) conns->prev = c;
    conns = c;
    if (uv_accept(server, (uv_stream_t *)&c->tcp) < 0) {
        conn_close(c);
        return;
    }
    http_parser_init(&c->parser, HTTP_REQUEST);
    c->parser.data = c;
    uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
}

int admin_start(struct worker *w, struct err *e)
{
    struct sockaddr_in addr;
    uv_ip4_addr("0.0.0.0", (int)w->cfg.metrics_port, &addr);
    uv_tcp_init(w->loop, &w->admin);
    w->admin.data = w;
    int rc = uv_tcp_bind(&w->admin, (const struct sockaddr *)&addr, 0);
    if (rc == 0) rc = uv_listen((uv_stream_t *)&w->admin, 64, on_connection);
    if (rc < 0) {
        uv_close((uv_handle_t *)&w->admin, NULL);
        return err_set(e, rc, "--metrics-port %lld: %s", w->cfg.metrics_port, uv_strerror(rc));
    }
    struct sockaddr_storage ss;
    int len = sizeof(ss);
    uv_tcp_getsockname(&w->admin, (struct sockaddr *)&ss, &len);
    w->admin_port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
    metrics_on_render(w->metrics, on_metrics_render, w);
    return 0;
}

void admin_close(struct worker *w)
{
    if (!uv_is_closing((uv_handle_t *)&w->admin)) uv_close((uv_handle_t *)&w->admin, NULL);
    for (struct aconn *c = conns; c; c = c->next)
        conn_close(c);
}

void admin_metrics_init(struct worker *w)
{
    static const double batch_bounds[] = {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024};
    static const double step_bounds[] = {0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01,
                                         0.025,  0.05,   0.1,   0.25,   0.5,   1};
    struct metrics *m = w->metrics;
    w->m_batch =
        metrics_gauge(m, "llmq_worker_batch_size", "Sequences in the engine's current step.", NULL);
    w->m_batch_hist =
        metrics_histogram(m, "llmq_worker_step_batch_size", "Sequences per engine step.", NULL,
                          batch_bounds, (int)(sizeof(batch_bounds) / sizeof(double)));
    w->m_busy = metrics_counter(m, "llmq_engine_busy_seconds_total",
                                "Seconds the engine spent in steps.", NULL);
    w->m_steps = metrics_counter(m, "llmq_engine_steps_total", "Engine steps run.", NULL);
    w->m_step_s = metrics_histogram(m, "llmq_engine_step_seconds", "Duration of one engine step.",
                                    NULL, step_bounds, (int)(sizeof(step_bounds) / sizeof(double)));
    w->m_tokens =
        metrics_counter(m, "llmq_tokens_generated_total", "Tokens generated by the engine.", NULL);
    w->m_wasted = metrics_counter(
        m, "llmq_tokens_wasted_total",
        "Tokens generated for a job in engine steps begun after its cancel, deadline or "
        "hand-back reached the worker, and by early-joined jobs its delivery check dropped.",
        NULL);
    w->m_prompt_tokens =
        metrics_counter(m, "llmq_prompt_tokens_total", "Prompt tokens of finished jobs.", NULL);
    w->m_queue_s = metrics_histogram(m, "llmq_worker_queue_seconds",
                                     "Enqueue to dequeue, as the worker sees it.", NULL,
                                     metrics_latency_buckets_s, metrics_latency_buckets_n);
    w->m_ttft_s =
        metrics_histogram(m, "llmq_worker_ttft_seconds", "Enqueue to first token published.", NULL,
                          metrics_latency_buckets_s, metrics_latency_buckets_n);
    const char *h = "Jobs this worker ended, by outcome.";
    w->m_jobs_done = metrics_counter(m, "llmq_worker_jobs_total", h, "outcome=\"done\"");
    w->m_jobs_failed = metrics_counter(m, "llmq_worker_jobs_total", h, "outcome=\"failed\"");
    w->m_jobs_cancelled = metrics_counter(m, "llmq_worker_jobs_total", h, "outcome=\"cancelled\"");
    w->m_jobs_timeout = metrics_counter(m, "llmq_worker_jobs_total", h, "outcome=\"timeout\"");
    w->m_jobs_dlq = metrics_counter(m, "llmq_worker_jobs_total", h, "outcome=\"dead_lettered\"");
    w->m_jobs_retry = metrics_counter(m, "llmq_worker_jobs_total", h, "outcome=\"retried\"");
    w->m_jobs_skipped = metrics_counter(m, "llmq_worker_jobs_total", h, "outcome=\"skipped\"");
    w->m_jobs_handed_back =
        metrics_counter(m, "llmq_worker_jobs_total", h, "outcome=\"handed_back\"");
    w->m_running = metrics_gauge(m, "llmq_worker_running_jobs", "Jobs joined to the batch.", NULL);
    w->m_redis_up = metrics_gauge(m, "llmq_worker_redis_connected",
                                  "1 while the command connection is up.", NULL);
    w->m_cpu = metrics_gauge(m, "llmq_process_cpu_seconds",
                             "CPU seconds used by this process (user+system).", NULL);
}
