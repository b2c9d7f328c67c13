/* admit.c -- the admission path: local checks, then the job in one pipelined round trip
 * (docs/QUEUE.md), plus the 100 ms queue poll that feeds the backpressure decision and the
 * drain-rate estimate behind Retry-After. */
#include "gateway/admit.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "gateway/conn.h"
#include "gateway/fanout.h"
#include "gateway/gw.h"
#include "gateway/models.h"
#include "gateway/route.h"
#include "gateway/sse.h"
#include "gateway/stream.h"
#include "queue/rconn.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- checks */

static int reject(struct gateway *gw, struct admit_reject *r, int status, const char *code,
                  long long retry_after_s, const char *fmt, const char *arg)
{
    r->status = status;
    r->code = code;
    r->type = status == 429 ? "rate_limit_error" : "server_error";
    snprintf(r->message, sizeof(r->message), fmt, arg);
    r->retry_after_ms = retry_after_s * 1000;
    gateway_count_rejection(gw, code);
    return -1;
}

int admit_check(struct gateway *gw, const char *key_id, struct admit_reject *r)
{
    memset(r, 0, sizeof(*r));
    if (gw->draining)
        return reject(gw, r, 503, "overloaded", 1,
                      "%sgateway is draining; retry on another instance", "");
    uint64_t wait_ms = limiter_take(&gw->limiter, key_id, uv_now(gw->loop) * 1000);
    if (wait_ms) {
        reject(gw, r, 429, "rate_limited", 0, "rate limit reached for API key %s", key_id);
        r->retry_after_ms = (long long)wait_ms;
        return -1;
    }
    if (!rconn_connected(gw->cmd))
        return reject(gw, r, 503, "overloaded", 1,
                      "%squeue unavailable (Redis is down); retry later", "");
    if (gw->cfg.max_streams > 0 && (long long)gw->n_streams >= gw->cfg.max_streams) {
        long long s = limit_retry_after_s((double)((long long)gw->n_streams - gw->cfg.max_streams),
                                          gw->stream_finish_rate, 1, 60);
        return reject(gw, r, 503, "overloaded", s, "%stoo many open streams on this gateway", "");
    }
    long long lag = gw->queue_lag + gw->admitted_since_poll;
    if (gw->cfg.max_queue > 0 && lag >= gw->cfg.max_queue) {
        long long s = limit_retry_after_s((double)(lag - gw->cfg.max_queue), gw->drain_rate, 1, 60);
        return reject(gw, r, 503, "overloaded", s, "%squeue full; retry later", "");
    }
    return 0;
}

/* ---------------------------------------------------------------- job creation */

struct enqueue { /* privdata of the creation round trip */
    struct gateway *gw;
    uint64_t serial; /* the stream's serial (streams may die meanwhile) */
    char rid[72];
    struct buf req; /* owned: normalised job JSON */
    char tp[64];
    int idem; /* waiting for SET NX GET */
    int lane; /* enum keys_lane of the request's priority */
};

static void enqueue_free(struct enqueue *q)
{
    buf_deinit(&q->req);
    free(q);
}

/* ---------------------------------------------------------------- outcome unknown */

/* A job whose HSET + XADD went out but got no reply (the connection dropped: a frozen Redis
 * reads and runs them when it resumes) was refused with 503, so it must not run. Its id is
 * remembered; once Redis answers again each is cancelled (state cancelled if still queued, so
 * a worker skips it on delivery; PUBLISH cancel if not ended, so a worker that already took
 * it stops). A reply "no such job" is retried: the old socket's commands may be executed
 * after ours; after ADMIT_UNKNOWN_ABSENT_MAX of them the creation is taken as never run. */
#define ADMIT_UNKNOWN_MAX 4096
#define ADMIT_UNKNOWN_ABSENT_MAX 20
#define ADMIT_UNKNOWN_RETRY_MS 250

static const char unknown_lua[] =
    "local s = redis.call('HGET', KEYS[1], 'state') "
    "if not s then return false end "
    "if s == 'queued' then redis.call('HSET', KEYS[1], 'state', 'cancelled', 'error', ARGV[2]) "
    "end "
    "if s ~= 'done' and s ~= 'failed' and s ~= 'cancelled' then "
    "redis.call('PUBLISH', KEYS[2], ARGV[1]) end "
    "return s";

struct unknown_ctx {
    struct gateway *gw;
    char rid[72];
};

static void unknown_remember(struct gateway *gw, const char *rid)
{
    if (!gw->unknown) gw->unknown = xcalloc(ADMIT_UNKNOWN_MAX, sizeof(*gw->unknown));
    if (gw->n_unknown == ADMIT_UNKNOWN_MAX) {
        log_req(LOG_LEVEL_WARN, gw->unknown[0].rid, NULL,
                "outcome-unknown set full (%d); this job is no longer cancelled if it exists",
                ADMIT_UNKNOWN_MAX);
        memmove(gw->unknown, gw->unknown + 1, (ADMIT_UNKNOWN_MAX - 1) * sizeof(*gw->unknown));
        gw->n_unknown--;
        gw->c.unknown_forgotten++;
    }
    struct gw_unknown *u = &gw->unknown[gw->n_unknown++];
    snprintf(u->rid, sizeof(u->rid), "%s", rid);
    u->absent = 0;
}

static int unknown_find(const struct gateway *gw, const char *rid)
{
    for (int i = 0; i < gw->n_unknown; i++)
        if (!strcmp(gw->unknown[i].rid, rid)) return i;
    return -1;
}

static void unknown_remove(struct gateway *gw, int i)
{
    memmove(gw->unknown + i, gw->unknown + i + 1,
            (size_t)(gw->n_unknown - i - 1) * sizeof(*gw->unknown));
    gw->n_unknown--;
}

static void on_unknown_cancel(redisAsyncContext *ac, void *reply, void *priv)
{
    struct unknown_ctx *u = priv;
    struct gateway *gw = u->gw;
    redisReply *rep = reply;
    if (gw->unknown_inflight > 0) gw->unknown_inflight--;
    int i = rep && rep->type != REDIS_REPLY_ERROR ? unknown_find(gw, u->rid) : -1;
    if (i >= 0) {
        if (rep->type == REDIS_REPLY_NIL) {
            if (++gw->unknown[i].absent >= ADMIT_UNKNOWN_ABSENT_MAX) {
                log_req(LOG_LEVEL_INFO, u->rid, NULL,
                        "refused request: its job never reached Redis (not run)");
                unknown_remove(gw, i);
            }
        } else {
            const char *st = rep->type == REDIS_REPLY_STRING ? rep->str : "?";
            int ended = !strcmp(st, "done") || !strcmp(st, "failed") || !strcmp(st, "cancelled");
            log_req(ended ? LOG_LEVEL_WARN : LOG_LEVEL_INFO, u->rid, NULL,
                    "refused request: its job reached Redis in state %s; %s", st,
                    ended ? "it had already ended" : "cancelled");
            if (!ended) {
                gw->c.unknown_cancelled++;
                gw->c.cancels_published++;
            }
            unknown_remove(gw, i);
        }
    } else if (rep && rep->type == REDIS_REPLY_ERROR) {
        log_req(LOG_LEVEL_WARN, u->rid, NULL, "cancelling a refused request's job: %s", rep->str);
    }
    free(u);
}

void admit_unknown_flush(struct gateway *gw, int now)
{
    if (!gw->n_unknown || gw->unknown_inflight || !rconn_connected(gw->cmd)) return;
    uint64_t t = uv_now(gw->loop);
    if (!now && t < gw->unknown_next_ms) return;
    gw->unknown_next_ms = t + ADMIT_UNKNOWN_RETRY_MS;
    for (int i = 0; i < gw->n_unknown; i++) {
        char job[KEYS_MAX];
        if (keys_job(&gw->keys, gw->unknown[i].rid, job) < 0) continue;
        struct unknown_ctx *u = xcalloc(1, sizeof(*u));
        u->gw = gw;
        snprintf(u->rid, sizeof(u->rid), "%s", gw->unknown[i].rid);
        if (rconn_command(gw->cmd, on_unknown_cancel, u, "EVAL %s 2 %s %s %s %s", unknown_lua, job,
                          gw->cancel_key, u->rid,
                          "refused: Redis connection lost before the job was confirmed") < 0) {
            free(u);
            return;
        }
        gw->unknown_inflight++;
    }
}

static void on_xadd(redisAsyncContext *ac, void *reply, void *priv)
{
    struct enqueue *q = priv;
    struct gateway *gw = q->gw;
    redisReply *rep = reply;
    struct stream *s = stream_find_serial(gw, q->rid, q->serial);
    if (!rep) {
        /* Sent, never answered: Redis may still run it (e.g. it was frozen). Cancel it later,
         * whether or not the client is still there. */
        log_req(LOG_LEVEL_WARN, q->rid, s ? s->trace_id : NULL,
                "job outcome unknown (Redis connection lost before the reply); refusing it and "
                "cancelling the job once Redis is back");
        unknown_remember(gw, q->rid);
    }
    if (s) {
        if (!rep) {
            s->cancel_on_close = 0;
            stream_fail(s, 503, "overloaded",
                        "queue connection lost before Redis confirmed the job; it is cancelled "
                        "and will not run; retry later",
                        1000);
        } else if (rep->type == REDIS_REPLY_ERROR) {
            log_req(LOG_LEVEL_ERROR, s->rid, s->trace_id, "job creation failed: %s", rep->str);
            s->cancel_on_close = 0;
            stream_fail(s, 503, "overloaded",
                        "queue unavailable (Redis error); the request was not run; retry later",
                        1000);
        } else {
            stream_start(s, gw->queue_lag + gw->admitted_since_poll);
        }
    }
    enqueue_free(q);
}

static int send_job(struct gateway *gw, struct enqueue *q, struct stream *s)
{
    char job[KEYS_MAX], recv_us[24], enq_us[24];
    keys_job(&gw->keys, q->rid, job);
    s->enqueued_us = clock_wall_us();
    snprintf(recv_us, sizeof(recv_us), "%" PRIu64, s->received_us);
    snprintf(enq_us, sizeof(enq_us), "%" PRIu64, s->enqueued_us);
    const char *hset[] = {"HSET",        job,        "state",  "queued",      "gw",
                          gw->id,        "attempts", "0",      "received_us", recv_us,
                          "enqueued_us", enq_us,     "req",    q->req.data,   "tp",
                          q->tp,         "key",      s->key_id};
    enum { NH = sizeof(hset) / sizeof(hset[0]) };
    size_t hlen[NH];
    for (int i = 0; i < NH; i++)
        hlen[i] = strlen(hset[i]);
    hlen[13] = q->req.len;
    if (rconn_command_argv(gw->cmd, NULL, NULL, NH, hset, hlen) < 0) return -1;
    rconn_command(gw->cmd, NULL, NULL, "EXPIRE %s 86400", job);
    const char *xadd[] = {"XADD",      gw->lanes[q->lane].key,
                          "*",         "id",
                          q->rid,      "gw",
                          gw->id,      "req",
                          q->req.data, "tp",
                          q->tp,       "enq_us",
                          enq_us};
    enum { NX = sizeof(xadd) / sizeof(xadd[0]) };
    size_t xlen[NX];
    for (int i = 0; i < NX; i++)
        xlen[i] = strlen(xadd[i]);
    xlen[8] = q->req.len;
    return rconn_command_argv(gw->cmd, on_xadd, q, NX, xadd, xlen);
}

static void on_idem(redisAsyncContext *ac, void *reply, void *priv)
{
    struct enqueue *q = priv;
    struct gateway *gw = q->gw;
    redisReply *rep = reply;
    struct stream *s = stream_find_serial(gw, q->rid, q->serial);
    if (!s) {
        enqueue_free(q);
        return;
    }
    if (!rep || rep->type == REDIS_REPLY_ERROR) {
        s->cancel_on_close = 0;
        stream_fail(s, 503, "overloaded",
                    "queue unavailable (Redis error); the request was not run; retry later", 1000);
        enqueue_free(q);
        return;
    }
    if (rep->type == REDIS_REPLY_STRING && keys_id_valid(rep->str, rep->len)) {
        /* A retry: attach to the existing request and replay its stream. */
        log_req(LOG_LEVEL_INFO, rep->str, s->trace_id,
                "idempotent retry attached to the existing request");
        stream_set_rid(s, rep->str);
        if (s->conn) snprintf(s->conn->request_id, sizeof(s->conn->request_id), "%s", rep->str);
        s->owned = 0;
        s->cancel_on_close = 0;
        stream_backlog_release(s); /* the original request counts it */
        fanout_resume(s);
        enqueue_free(q);
        return;
    }
    if (send_job(gw, q, s) < 0) {
        s->cancel_on_close = 0;
        stream_fail(s, 503, "overloaded",
                    "queue unavailable (Redis is down); the request was not run; retry later",
                    1000);
        enqueue_free(q);
    }
}

void admit_enqueue(struct gateway *gw, struct stream *s, const struct openai_request *r,
                   const char *traceparent, const char *idem_key)
{
    struct enqueue *q = xcalloc(1, sizeof(*q));
    q->gw = gw;
    q->serial = s->serial;
    snprintf(q->rid, sizeof(q->rid), "%s", s->rid);
    if (traceparent) snprintf(q->tp, sizeof(q->tp), "%s", traceparent);
    q->lane = (int)keys_lane_of(r->priority);
    buf_init(&q->req);
    uint64_t deadline_us = 0;
    if (r->timeout_ms > 0) {
        deadline_us = s->received_us + (uint64_t)r->timeout_ms * 1000u;
        stream_set_deadline(s, uv_now(gw->loop) + (uint64_t)r->timeout_ms);
    }
    openai_job_json(r, gateway_random_u63(), deadline_us, &q->req);
    s->owned = 1;
    s->cancel_on_close = 1;
    s->include_usage = r->include_usage;
    s->backlog_tokens = (long long)r->prompt_chars / 4 + r->max_tokens;
    gw->admitted_since_poll++;
    gw->backlog_tokens += s->backlog_tokens;

    int rc;
    if (idem_key) {
        char key[KEYS_MAX];
        if (keys_idem(&gw->keys, s->key_id, idem_key, key) < 0) {
            /* validated by the caller; a bad one here is a bug, answer as a client error */
            enqueue_free(q);
            s->cancel_on_close = 0;
            stream_fail(s, 400, "bad_request",
                        "Idempotency-Key: 1..256 bytes without control characters", 0);
            return;
        }
        q->idem = 1;
        rc = rconn_command(gw->cmd, on_idem, q, "SET %s %s NX GET EX 86400", key, q->rid);
    } else {
        rc = send_job(gw, q, s);
    }
    if (rc < 0) {
        enqueue_free(q);
        s->cancel_on_close = 0;
        stream_fail(s, 503, "overloaded",
                    "queue unavailable (Redis is down); the request was not run; retry later",
                    1000);
    }
}

/* ---------------------------------------------------------------- HTTP entry */

void admit_http(struct http_conn *c, int chat)
{
    struct gateway *gw = c->gw;
    struct admit_reject rej;
    if (admit_check(gw, c->key_id, &rej) < 0) {
        conn_respond_error(c, rej.status, rej.type, rej.code, NULL, rej.message,
                           (rej.retry_after_ms + 999) / 1000);
        return;
    }
    const struct http_req *req = &c->reader.req;
    struct openai_request r;
    struct err e = {0};
    if (openai_parse(&r, req->body.data ? req->body.data : "", req->body.len,
                     chat ? OPENAI_KIND_CHAT : OPENAI_KIND_COMPLETION, &gw->limits, &e) < 0) {
        gateway_count_rejection(gw, "bad_request");
        conn_respond_error(c, 400, "invalid_request_error", "bad_request", NULL, e.msg, 0);
        return;
    }
    size_t vl = 0;
    const char *v = http_req_header(req, "last-event-id", &vl);
    if (v && vl) {
        char rid[72];
        uint32_t index;
        if (sse_parse_last_event_id(v, vl, rid, sizeof(rid), &index) < 0 ||
            !keys_id_valid(rid, strlen(rid))) {
            openai_request_deinit(&r);
            conn_respond_error(c, 400, "invalid_request_error", "bad_request", "Last-Event-ID",
                               "Last-Event-ID: must be <request-id>:<index>", 0);
            return;
        }
        (void)models_resolve(gw, &r.model, &e); /* a resume keeps the name it was given */
        struct stream *s = stream_new(gw, c, STREAM_KIND_SSE, chat, rid, r.model);
        s->include_usage = r.include_usage;
        s->next_index = index + 1;
        openai_request_deinit(&r);
        http_reader_shrink(&c->reader);
        if (!c->in.len) buf_deinit(&c->in); /* long-lived streams keep no request memory */
        fanout_resume(s);
        return;
    }
    int guessed = !r.model[0];
    if (models_resolve(gw, &r.model, &e) < 0) {
        openai_request_deinit(&r);
        gateway_count_rejection(gw, "model_not_found");
        conn_respond_error(c, 404, "invalid_request_error", "model_not_found", "model", e.msg, 0);
        return;
    }
    const char *idem = http_req_header(req, "idempotency-key", &vl);
    if (idem) {
        char tmp[KEYS_MAX];
        if (keys_idem(&gw->keys, c->key_id, idem, tmp) < 0) {
            openai_request_deinit(&r);
            conn_respond_error(c, 400, "invalid_request_error", "bad_request", "Idempotency-Key",
                               "Idempotency-Key: 1..256 bytes without control characters", 0);
            return;
        }
    }
    if (stream_find(gw, c->request_id, strlen(c->request_id))) {
        openai_request_deinit(&r);
        conn_respond_error(c, 409, "invalid_request_error", "bad_request", "X-Request-Id",
                           "X-Request-Id: a request with this id is already streaming", 0);
        return;
    }
    char tid[33];
    const char *tp = http_req_header(req, "traceparent", &vl);
    if (tp && route_traceparent(tp, vl, tid) < 0) tp = NULL;
    char idem_copy[300];
    if (idem) snprintf(idem_copy, sizeof(idem_copy), "%s", idem);
    char tp_copy[64];
    if (tp) snprintf(tp_copy, sizeof(tp_copy), "%.*s", (int)vl, tp);
    struct stream *s = stream_new(gw, c, r.stream ? STREAM_KIND_SSE : STREAM_KIND_JSON, chat,
                                  c->request_id, r.model);
    s->model_guessed = guessed;
    http_reader_shrink(&c->reader);
    if (!c->in.len) buf_deinit(&c->in); /* the body is parsed: long-lived streams keep none */
    admit_enqueue(gw, s, &r, tp ? tp_copy : NULL, idem ? idem_copy : NULL);
    openai_request_deinit(&r);
}

/* ---------------------------------------------------------------- queue poll */

/* Rates are smoothed over polls: a new sample weighs 0.2; the first one is taken as is. */
static double ewma(double prev, double sample)
{
    return prev > 0 ? 0.8 * prev + 0.2 * sample : sample;
}

static long long reply_int(const redisReply *r)
{
    if (!r) return -1;
    if (r->type == REDIS_REPLY_INTEGER) return r->integer;
    if (r->type == REDIS_REPLY_STRING) return atoll(r->str);
    return -1;
}

/* XINFO GROUPS of one lane: its "workers" group's lag, pending and entries-read. */
static void on_xinfo(redisAsyncContext *ac, void *reply, void *priv)
{
    struct gw_lane *l = priv;
    redisReply *rep = reply;
    l->have_group = 0;
    if (!rep || rep->type != REDIS_REPLY_ARRAY) return;
    for (size_t g = 0; g < rep->elements; g++) {
        redisReply *grp = rep->element[g];
        if (grp->type != REDIS_REPLY_ARRAY) continue;
        long long lag = -1, pending = -1, entries_read = -1;
        int ours = 0;
        for (size_t i = 0; i + 1 < grp->elements; i += 2) {
            redisReply *k = grp->element[i], *v = grp->element[i + 1];
            if (k->type != REDIS_REPLY_STRING) continue;
            if (!strcmp(k->str, "name"))
                ours = v->type == REDIS_REPLY_STRING && !strcmp(v->str, KEYS_GROUP);
            else if (!strcmp(k->str, "lag"))
                lag = v->type == REDIS_REPLY_NIL ? -1 : reply_int(v);
            else if (!strcmp(k->str, "pending"))
                pending = reply_int(v);
            else if (!strcmp(k->str, "entries-read"))
                entries_read = reply_int(v);
        }
        if (!ours) continue;
        if (entries_read >= 0) {
            if (l->entries_read_prev >= 0 && entries_read >= l->entries_read_prev)
                l->gw->poll_read_delta += (double)(entries_read - l->entries_read_prev);
            l->entries_read_prev = entries_read;
        }
        l->pending = pending >= 0 ? pending : 0;
        l->xinfo_lag = lag; /* nil after XDELs: on_xlen estimates it from XLEN - pending */
        l->have_group = 1;
    }
}

/* XLEN of one lane; the last lane's reply (pipelined in lane order) updates the sums. */
static void on_xlen(redisAsyncContext *ac, void *reply, void *priv)
{
    struct gw_lane *l = priv;
    struct gateway *gw = l->gw;
    redisReply *rep = reply;
    if (rep && rep->type == REDIS_REPLY_INTEGER) {
        l->depth = rep->integer;
        /* Without a group (no worker started yet) every entry is lag. Workers XDEL finished
         * entries, so XLEN - pending is the undelivered backlog when Redis cannot say. */
        if (!l->have_group)
            l->lag = rep->integer;
        else if (l->xinfo_lag >= 0)
            l->lag = l->xinfo_lag;
        else
            l->lag = rep->integer > l->pending ? rep->integer - l->pending : 0;
    }
    if (l->index != KEYS_LANES - 1) return;
    gw->poll_inflight = 0;
    if (!rep) return; /* connection lost: keep the last sums */
    long long depth = 0, lag = 0, pending = 0;
    for (int i = 0; i < KEYS_LANES; i++) {
        depth += gw->lanes[i].depth;
        lag += gw->lanes[i].lag;
        pending += gw->lanes[i].have_group ? gw->lanes[i].pending : 0;
    }
    gw->queue_depth = depth;
    gw->queue_lag = lag;
    gw->queue_pending = pending;
    gw->admitted_since_poll = 0;
    /* Drain rate: jobs delivered per second over every lane (EWMA over polls). */
    uint64_t now = clock_mono_us();
    if (gw->poll_prev_us && now > gw->poll_prev_us) {
        double dt = (double)(now - gw->poll_prev_us) / 1e6;
        gw->drain_rate = ewma(gw->drain_rate, gw->poll_read_delta / dt);
    }
    gw->poll_prev_us = now;
    gw->poll_read_delta = 0;
}

void admit_poll(struct gateway *gw)
{
    /* Stream finish rate (for the stream-cap Retry-After), EWMA over poll intervals. */
    uint64_t now = clock_mono_us();
    if (gw->finish_prev_us) {
        double dt = (double)(now - gw->finish_prev_us) / 1e6;
        if (dt > 0)
            gw->stream_finish_rate = ewma(gw->stream_finish_rate, (double)gw->finished_since / dt);
    }
    gw->finished_since = 0;
    gw->finish_prev_us = now;
    admit_unknown_flush(gw, 0);
    if (gw->poll_inflight || !rconn_connected(gw->cmd)) return;
    /* Per lane, pipelined in lane order: XINFO GROUPS + XLEN; the last XLEN sums them. */
    for (int i = 0; i < KEYS_LANES; i++) {
        struct gw_lane *l = &gw->lanes[i];
        if (rconn_command(gw->cmd, on_xinfo, l, "XINFO GROUPS %s", l->key) < 0) return;
        if (rconn_command(gw->cmd, on_xlen, l, "XLEN %s", l->key) < 0) return;
    }
    gw->poll_inflight = 1;
}
