/* main.c -- llmq-worker: pulls jobs from Redis, runs them through one engine with continuous
 * batching, publishes their tokens. Wiring only: flags (each with an LLMQ_* variable), the
 * three Redis connections, the engine thread, timers, the admin HTTP server, and the
 * ordered shutdown. The behaviour lives in pull, batch, publish, lease and drain. */
#include "worker/worker.h"
#include "common/cfg.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/xalloc.h"

#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char usage[] =
    "usage: llmq-worker [flags]\n"
    "Pulls jobs from the Redis streams <prefix>jobs:high, <prefix>jobs and <prefix>jobs:low (in\n"
    "that order) and runs them on one engine with continuous\n"
    "batching; see docs/WORKER.md. Every flag also reads LLMQ_<FLAG> (e.g. LLMQ_REDIS_URL).\n";

/* ---------------------------------------------------------------- Redis hooks */

static void on_cmd_connect(struct rconn *rc, void *ud)
{
    struct worker *w = ud;
    metric_set(w->m_redis_up, 1);
    if (w->stopping) return;
    pull_on_connect(w);
    lease_heartbeat(w);
}

static void on_cmd_disconnect(struct rconn *rc, void *ud)
{
    struct worker *w = ud;
    metric_set(w->m_redis_up, 0);
    w->claim_in_flight = 0;
}

static void on_pull_connect(struct rconn *rc, void *ud)
{
    pull_maybe(ud);
}

static void on_pull_disconnect(struct rconn *rc, void *ud)
{
    ((struct worker *)ud)->pull_in_flight = 0;
}

static void on_cancel_msg(redisAsyncContext *ac, void *reply, void *priv)
{
    struct worker *w = priv;
    redisReply *r = reply;
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements < 3) return;
    if (r->element[0]->type != REDIS_REPLY_STRING || strcmp(r->element[0]->str, "message")) return;
    const redisReply *id = r->element[2];
    if (id->type == REDIS_REPLY_STRING) pull_cancel(w, id->str, id->len);
}

static void on_sub_connect(struct rconn *rc, void *ud)
{
    struct worker *w = ud;
    if (rconn_command(rc, on_cancel_msg, w, "SUBSCRIBE %s", w->cancel_key) < 0)
        log_warn("SUBSCRIBE %s failed", w->cancel_key);
}

/* ---------------------------------------------------------------- timers */

static void on_tick(uv_timer_t *t)
{
    lease_tick(t->data);
}

static void on_prepare(uv_prepare_t *p)
{
    publish_flush(p->data);
}

void worker_shutdown(struct worker *w)
{
    w->stopping = 2;
    batch_stop(&w->batch); /* the engine thread is gone after this */
    uv_timer_stop(&w->tick);
    uv_close((uv_handle_t *)&w->tick, NULL);
    uv_close((uv_handle_t *)&w->pull_retry, NULL);
    uv_close((uv_handle_t *)&w->drain_timer, NULL);
    uv_close((uv_handle_t *)&w->sigterm, NULL);
    uv_close((uv_handle_t *)&w->sigint, NULL);
    uv_close((uv_handle_t *)&w->flusher, NULL);
    admin_close(w);
    rconn_free(w->cmd); /* pending callbacks run with NULL and free their slots */
    rconn_free(w->pull);
    rconn_free(w->sub);
    w->cmd = w->pull = w->sub = NULL;
}

/* ---------------------------------------------------------------- configuration */

static void default_id(char *out, size_t cap)
{
    char host[128] = "worker";
    gethostname(host, sizeof(host) - 1);
    host[sizeof(host) - 1] = 0;
    for (char *p = host; *p; p++)
        if (!keys_id_valid(p, 1)) *p = '-';
    snprintf(out, cap, "%.40s-%d-%04x", host, (int)getpid(), (unsigned)(clock_mono_ns() & 0xffff));
}

static int check_cfg(struct worker_cfg *c, struct err *e)
{
    if (c->max_batch < 1 || c->max_batch > 4096)
        return err_set(e, -EINVAL, "--max-batch: must be in 1..4096");
    if (c->lease_ms < 100) return err_set(e, -EINVAL, "--lease-ms: must be >= 100");
    if (c->max_attempts < 1) return err_set(e, -EINVAL, "--max-attempts: must be >= 1");
    if (c->replay_flush_ms < 0) return err_set(e, -EINVAL, "--replay-flush-ms: must be >= 0");
    if (c->drain_timeout_ms < 0) return err_set(e, -EINVAL, "--drain-timeout-ms: must be >= 0");
    if (c->metrics_port < 0 || c->metrics_port > 65535)
        return err_set(e, -EINVAL, "--metrics-port: must be in 0..65535");
    if (c->step_ms < 0 || c->prefill_us < 0)
        return err_set(e, -EINVAL, "--step-ms/--prefill-us: must be >= 0");
    if (c->threads < 0) return err_set(e, -EINVAL, "--threads: must be >= 0");
    if (!c->id || !keys_id_valid(c->id, strlen(c->id)))
        return err_set(e, -EINVAL, "--id: 1..64 characters of [A-Za-z0-9._-]");
    return 0;
}

int main(int argc, char **argv)
{
    static struct worker wk;
    struct worker *w = &wk;
    struct worker_cfg *c = &w->cfg;
    c->redis_url = "redis://127.0.0.1:6379";
    c->prefix = "llmq:";
    c->engine = "synthetic";
    c->max_batch = 16;
    c->step_ms = 20;
    c->prefill_us = 50;
    c->lease_ms = 3000;
    c->max_attempts = 3;
    c->replay_flush_ms = 50;
    c->drain_timeout_ms = 30000;
    char idbuf[KEYS_ID_MAX + 1];
    const struct cfg_opt opts[] = {
        {"redis-url", CFG_STR, &c->redis_url, "redis://[[user]:password@]host:port[/db]"},
        {"prefix", CFG_STR, &c->prefix, "key prefix"},
        {"engine", CFG_STR, &c->engine, "synthetic | llama | upstream"},
        {"model", CFG_STR, &c->model, "llama: path of the GGUF model file"},
        {"model-name", CFG_STR, &c->model_name,
         "model name announced in the heartbeat (default: derived)"},
        {"upstream-url", CFG_STR, &c->upstream_url,
         "upstream engine: base URL of an OpenAI-compatible server"},
        {"max-batch", CFG_INT, &c->max_batch, "most sequences per step"},
        {"ctx-len", CFG_INT, &c->ctx_len,
         "most tokens per sequence, prompt + output (0 = model's)"},
        {"step-ms", CFG_DOUBLE, &c->step_ms, "synthetic: milliseconds per decode step"},
        {"prefill-us", CFG_DOUBLE, &c->prefill_us,
         "synthetic: microseconds per prompt token of joining requests"},
        {"threads", CFG_INT, &c->threads, "llama: compute threads (0 = cores)"},
        {"metrics-port", CFG_INT, &c->metrics_port,
         "port of /metrics and /healthz (0 = ephemeral, logged)"},
        {"lease-ms", CFG_INT, &c->lease_ms,
         "idle time after which a dead worker's job is taken over"},
        {"max-attempts", CFG_INT, &c->max_attempts,
         "deliveries before a job goes to the dead-letter stream"},
        {"replay-flush-ms", CFG_INT, &c->replay_flush_ms,
         "most frequent replay-log append per request"},
        {"drain-timeout-ms", CFG_INT, &c->drain_timeout_ms,
         "on SIGTERM, wait this long for running jobs"},
        {"id", CFG_STR, &c->id, "consumer name in the group"},
        {NULL, 0, NULL, NULL},
    };
    struct err e = {0};
    log_init("worker");
    int rc = cfg_parse(opts, argc, argv, 1, usage, NULL, &e);
    if (rc == 1) return 0;
    if (rc < 0) {
        fprintf(stderr, "llmq-worker: %s\n", e.msg);
        return 2;
    }
    if (!c->id || !*c->id) {
        default_id(idbuf, sizeof(idbuf));
        c->id = idbuf;
    }
    if (check_cfg(c, &e) < 0 ||
        (keys_init(&w->keys, c->prefix) < 0 &&
         err_set(&e, -EINVAL, "--prefix: at most %d bytes, no spaces", KEYS_PREFIX_MAX) < 0)) {
        fprintf(stderr, "llmq-worker: %s\n", e.msg);
        cfg_free(opts);
        return 2;
    }
    keys_jobs(&w->keys, w->jobs_key);
    keys_dlq(&w->keys, w->dlq_key);
    keys_cancel(&w->keys, w->cancel_key);
    keys_worker(&w->keys, c->id, w->worker_key);
    keys_workers(&w->keys, w->workers_key);
    if (gethostname(w->host, sizeof(w->host) - 1) < 0)
        snprintf(w->host, sizeof(w->host), "localhost");

    struct engine_config ec = {
        .kind = c->engine,
        .model_path = c->model,
        .model_name = c->model_name,
        .upstream_url = c->upstream_url,
        .max_batch = (int)c->max_batch,
        .threads = (int)c->threads,
        .ctx_len = (int)c->ctx_len,
        .step_ms = c->step_ms,
        .prefill_us = c->prefill_us,
    };
    struct engine *eng = NULL;
    if ((rc = engine_open(&eng, &ec, &e)) < 0) {
        fprintf(stderr, "llmq-worker: engine %s: %s\n", c->engine, e.msg[0] ? e.msg : err_str(rc));
        cfg_free(opts);
        return 2;
    }
    snprintf(w->model_name, sizeof(w->model_name), "%s", engine_model_name(eng));
    if (!c->model_name && c->model && !strcmp(w->model_name, c->engine)) {
        /* The engine named no model: announce the file name (without .gguf) to /v1/models. */
        const char *base = strrchr(c->model, '/');
        base = base ? base + 1 : c->model;
        size_t n = strlen(base);
        if (n > 5 && !strcmp(base + n - 5, ".gguf")) n -= 5;
        snprintf(w->model_name, sizeof(w->model_name), "%.*s", (int)n, base);
    }
    w->max_batch = engine_max_batch(eng);

    uv_loop_t loop;
    uv_loop_init(&loop);
    w->loop = &loop;
    w->metrics = metrics_new();
    admin_metrics_init(w);
    if ((rc = admin_start(w, &e)) < 0) {
        fprintf(stderr, "llmq-worker: %s\n", e.msg);
        engine_free(eng);
        uv_run(&loop, UV_RUN_DEFAULT);
        uv_loop_close(&loop);
        metrics_free(w->metrics);
        cfg_free(opts);
        return 2;
    }
    struct rconn_config rcfg = {.url = c->redis_url,
                                .name = "cmd",
                                .ud = w,
                                .on_connect = on_cmd_connect,
                                .on_disconnect = on_cmd_disconnect};
    if ((rc = rconn_new(&w->cmd, &loop, &rcfg, &e)) < 0) {
        fprintf(stderr, "llmq-worker: --redis-url: %s\n", e.msg);
        admin_close(w);
        engine_free(eng);
        uv_run(&loop, UV_RUN_DEFAULT);
        uv_loop_close(&loop);
        metrics_free(w->metrics);
        cfg_free(opts);
        return 2;
    }
    rcfg.name = "pull";
    rcfg.on_connect = on_pull_connect;
    rcfg.on_disconnect = on_pull_disconnect;
    rconn_new(&w->pull, &loop, &rcfg, &e);
    rcfg.name = "sub";
    rcfg.ping_ms = -1; /* a subscribed RESP2 connection cannot PING in hiredis 0.14 */
    rcfg.on_connect = on_sub_connect;
    rcfg.on_disconnect = NULL;
    rconn_new(&w->sub, &loop, &rcfg, &e);

    uv_timer_init(&loop, &w->tick);
    w->tick.data = w;
    uv_timer_start(&w->tick, on_tick, 1000, 1000);
    uv_timer_init(&loop, &w->pull_retry);
    w->pull_retry.data = w;
    uv_prepare_init(&loop, &w->flusher);
    w->flusher.data = w;
    uv_prepare_start(&w->flusher, on_prepare);
    drain_init(w);
    if ((rc = batch_start(w, eng, &e)) < 0) {
        fprintf(stderr, "llmq-worker: %s\n", e.msg);
        return 1;
    }
    log_info(
        "worker %s: engine %s, model %s, max batch %d, metrics on port %d, redis %s, prefix %s",
        c->id, c->engine, w->model_name, w->max_batch, w->admin_port, c->redis_url, c->prefix);

    uv_run(&loop, UV_RUN_DEFAULT);

    /* Slots still held (forced shutdown) belong to nobody now. */
    while (w->slots) {
        struct slot *s = w->slots;
        w->slots = s->next;
        free(s->traceparent);
        free(s->req_json);
        job_request_deinit(&s->req);
        buf_deinit(&s->replay);
        buf_deinit(&s->replay_lens);
        free(s->held);
        buf_deinit(&s->held_text);
        free(s);
    }
    publish_deinit(w);
    engine_free(eng);
    uv_loop_close(&loop);
    metrics_free(w->metrics);
    log_info("worker %s: exited", c->id);
    cfg_free(opts);
    return w->exit_code;
}
