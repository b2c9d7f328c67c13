/* stream.c -- client streams: the request-id table, index bookkeeping, token merging, and the
 * one place where a stream's events become bytes (SSE chunks, a JSON body, WS messages).
 * SSE responses use chunked encoding with a fixed-width (zero-padded) chunk size, so a whole
 * flush is formatted in place and framed afterwards without a second copy. */
#include "gateway/stream.h"
#include "common/clock.h"
#include "common/hash.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "gateway/conn.h"
#include "gateway/gw.h"
#include "gateway/openai.h"
#include "gateway/sse.h"
#include "gateway/ws.h"
#include "queue/rconn.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- request-id table */

void stream_table_init(struct gateway *gw)
{
    gw->table_size = 1024;
    gw->table = xcalloc(gw->table_size, sizeof(*gw->table));
}

void stream_table_deinit(struct gateway *gw)
{
    free(gw->table);
    gw->table = NULL;
    gw->table_size = 0;
}

static void table_grow(struct gateway *gw)
{
    size_t n = gw->table_size * 2;
    struct stream **t = xcalloc(n, sizeof(*t));
    for (size_t i = 0; i < gw->table_size; i++) {
        for (struct stream *s = gw->table[i], *next; s; s = next) {
            next = s->hnext;
            size_t j = hash_fnv1a(s->rid, strlen(s->rid)) & (n - 1);
            s->hnext = t[j];
            t[j] = s;
        }
    }
    free(gw->table);
    gw->table = t;
    gw->table_size = n;
}

static void table_insert(struct gateway *gw, struct stream *s)
{
    if (gw->n_streams + 1 > gw->table_size) table_grow(gw);
    size_t i = hash_fnv1a(s->rid, strlen(s->rid)) & (gw->table_size - 1);
    s->hnext = gw->table[i];
    gw->table[i] = s;
    s->in_table = 1;
}

static void table_remove(struct gateway *gw, struct stream *s)
{
    if (!s->in_table) return;
    size_t i = hash_fnv1a(s->rid, strlen(s->rid)) & (gw->table_size - 1);
    for (struct stream **pp = &gw->table[i]; *pp; pp = &(*pp)->hnext)
        if (*pp == s) {
            *pp = s->hnext;
            break;
        }
    s->in_table = 0;
}

struct stream *stream_find(struct gateway *gw, const char *rid, size_t len)
{
    size_t i = hash_fnv1a(rid, len) & (gw->table_size - 1);
    for (struct stream *s = gw->table[i]; s; s = s->hnext)
        if (!strncmp(s->rid, rid, len) && s->rid[len] == 0) return s;
    return NULL;
}

struct stream *stream_find_next(struct stream *s, const char *rid, size_t len)
{
    for (s = s->hnext; s; s = s->hnext)
        if (!strncmp(s->rid, rid, len) && s->rid[len] == 0) return s;
    return NULL;
}

struct stream *stream_find_serial(struct gateway *gw, const char *rid, uint64_t serial)
{
    size_t len = strlen(rid);
    for (struct stream *s = stream_find(gw, rid, len); s; s = stream_find_next(s, rid, len))
        if (s->serial == serial) return s;
    return NULL;
}

/* ---------------------------------------------------------------- lifecycle */

struct stream *stream_new(struct gateway *gw, struct http_conn *conn, enum stream_kind kind,
                          int chat, const char *rid, const char *model)
{
    static uint64_t serial;
    struct stream *s = xcalloc(1, sizeof(*s));
    s->serial = ++serial;
    s->gw = gw;
    s->conn = conn;
    s->kind = kind;
    s->chat = chat;
    s->state = STREAM_STATE_PENDING;
    snprintf(s->rid, sizeof(s->rid), "%s", rid);
    s->model = xstrdup(model ? model : "");
    buf_init(&s->head);
    buf_init(&s->pend);
    buf_init(&s->text);
    s->received_us = clock_wall_us();
    s->received_mono_us = clock_mono_us();
    s->created_s = s->received_us / 1000000u;
    s->last_write_ms = uv_now(gw->loop);
    if (kind == STREAM_KIND_SSE) sse_head(&s->head, chat, rid, s->created_s, s->model);
    if (conn) {
        s->cnext = conn->streams;
        if (conn->streams) conn->streams->cprev = s;
        conn->streams = s;
        snprintf(s->trace_id, sizeof(s->trace_id), "%s", conn->trace_id);
        snprintf(s->key_id, sizeof(s->key_id), "%s", conn->key_id);
    }
    s->anext = gw->all_streams;
    if (gw->all_streams) gw->all_streams->aprev = s;
    gw->all_streams = s;
    table_insert(gw, s);
    gw->n_streams++;
    return s;
}

void stream_set_rid(struct stream *s, const char *rid)
{
    table_remove(s->gw, s);
    snprintf(s->rid, sizeof(s->rid), "%s", rid);
    buf_reset(&s->head);
    if (s->kind == STREAM_KIND_SSE) sse_head(&s->head, s->chat, s->rid, s->created_s, s->model);
    table_insert(s->gw, s);
}

static void unlink_dirty(struct gateway *gw, struct stream *s)
{
    if (!s->dirty) return;
    if (s->dprev)
        s->dprev->dnext = s->dnext;
    else
        gw->dirty = s->dnext;
    if (s->dnext) s->dnext->dprev = s->dprev;
    s->dnext = s->dprev = NULL;
    s->dirty = 0;
}

static void unlink_follower(struct gateway *gw, struct stream *s)
{
    if (!s->following) return;
    for (struct stream **pp = &gw->followers; *pp; pp = &(*pp)->fnext)
        if (*pp == s) {
            *pp = s->fnext;
            break;
        }
    s->following = 0;
}

static void dl_remove(struct gateway *gw, struct stream *s);
static void pg_remove(struct gateway *gw, struct stream *s);

void stream_free(struct stream *s)
{
    if (!s) return;
    struct gateway *gw = s->gw;
    table_remove(gw, s);
    unlink_dirty(gw, s);
    unlink_follower(gw, s);
    dl_remove(gw, s);
    pg_remove(gw, s);
    if (s->conn) {
        if (s->cprev)
            s->cprev->cnext = s->cnext;
        else
            s->conn->streams = s->cnext;
        if (s->cnext) s->cnext->cprev = s->cprev;
    }
    if (s->aprev)
        s->aprev->anext = s->anext;
    else
        gw->all_streams = s->anext;
    if (s->anext) s->anext->aprev = s->aprev;
    gw->n_streams--;
    stream_backlog_release(s);
    gw->finished_since++;
    buf_deinit(&s->head);
    buf_deinit(&s->pend);
    buf_deinit(&s->text);
    free(s->model);
    free(s->err_msg);
    free(s->done_json);
    free(s);
}

static void mark_dirty(struct stream *s)
{
    if (s->dirty) return;
    s->dirty = 1;
    s->dprev = NULL;
    s->dnext = s->gw->dirty;
    if (s->dnext) s->dnext->dprev = s;
    s->gw->dirty = s;
}

/* Deadline list (unordered: only streams with a deadline are in it). */
static void dl_remove(struct gateway *gw, struct stream *s)
{
    if (!s->in_dl) return;
    if (s->dl_prev)
        s->dl_prev->dl_next = s->dl_next;
    else
        gw->deadlines = s->dl_next;
    if (s->dl_next) s->dl_next->dl_prev = s->dl_prev;
    s->dl_next = s->dl_prev = NULL;
    s->in_dl = 0;
}

void stream_set_deadline(struct stream *s, uint64_t deadline_ms)
{
    struct gateway *gw = s->gw;
    s->deadline_ms = deadline_ms;
    if (!s->in_dl) {
        s->in_dl = 1;
        s->dl_prev = NULL;
        s->dl_next = gw->deadlines;
        if (gw->deadlines) gw->deadlines->dl_prev = s;
        gw->deadlines = s;
    }
    if (!gw->next_deadline_ms || deadline_ms < gw->next_deadline_ms)
        gw->next_deadline_ms = deadline_ms;
}

/* Ping list: SSE streams ordered by last write; a write moves a stream to the tail, so the
 * sweep looks only at the head, where the streams due for a ping are. */
static void pg_remove(struct gateway *gw, struct stream *s)
{
    if (!s->in_pg) return;
    if (s->pg_prev)
        s->pg_prev->pg_next = s->pg_next;
    else
        gw->pings_head = s->pg_next;
    if (s->pg_next)
        s->pg_next->pg_prev = s->pg_prev;
    else
        gw->pings_tail = s->pg_prev;
    s->pg_next = s->pg_prev = NULL;
    s->in_pg = 0;
}

static void pg_touch(struct stream *s, uint64_t now_ms)
{
    struct gateway *gw = s->gw;
    s->last_write_ms = now_ms;
    if (s->kind != STREAM_KIND_SSE) return;
    if (s->in_pg && gw->pings_tail == s) return;
    pg_remove(gw, s);
    s->in_pg = 1;
    s->pg_prev = gw->pings_tail;
    s->pg_next = NULL;
    if (gw->pings_tail)
        gw->pings_tail->pg_next = s;
    else
        gw->pings_head = s;
    gw->pings_tail = s;
}

/* ---------------------------------------------------------------- cancel */

static const char cancel_lua[] =
    "local s = redis.call('HGET', KEYS[1], 'state') "
    "if s == 'queued' then redis.call('HSET', KEYS[1], 'state', 'cancelled') end "
    "redis.call('PUBLISH', KEYS[2], ARGV[1]) "
    "return s";

void stream_publish_cancel(struct gateway *gw, const char *rid)
{
    char job[KEYS_MAX];
    if (keys_job(&gw->keys, rid, job) < 0) return;
    if (rconn_command(gw->cmd, NULL, NULL, "EVAL %s 2 %s %s %s", cancel_lua, job, gw->cancel_key,
                      rid) == 0)
        gw->c.cancels_published++;
}

void stream_backlog_release(struct stream *s)
{
    struct gateway *gw = s->gw;
    gw->backlog_tokens -= s->backlog_tokens;
    if (gw->backlog_tokens < 0) gw->backlog_tokens = 0;
    s->backlog_tokens = 0;
}

void stream_abandon(struct stream *s)
{
    if (!s) return;
    if (s->cancel_on_close && !s->finished) {
        /* Only cancel when no other local stream still follows the same request. */
        struct stream *o = stream_find(s->gw, s->rid, strlen(s->rid));
        int others = 0;
        for (; o; o = stream_find_next(o, s->rid, strlen(s->rid)))
            if (o != s) others = 1;
        if (!others) stream_publish_cancel(s->gw, s->rid);
    }
    stream_free(s);
}

/* ---------------------------------------------------------------- events in */

static void chunk_begin(const struct stream *s, struct buf *out, size_t *at);
static void chunk_end(const struct stream *s, struct buf *out, size_t at);

static void cut(struct stream *s)
{
    struct gateway *gw = s->gw;
    gw->c.streams_cut++;
    log_req(LOG_LEVEL_WARN, s->rid, s->trace_id,
            "client too slow: %zu bytes unsent, stream cut at index %" PRIu32 " (resumable)",
            s->pend.len + (s->conn ? conn_pending_bytes(s->conn) : 0), s->pend_index);
    if (s->kind == STREAM_KIND_WS && s->conn) {
        char msg[160];
        snprintf(msg, sizeof(msg), "client too slow; resume after index %" PRId64,
                 (int64_t)s->pend_index - 1);
        ws_send_error(s->conn, s->cid, "overloaded", msg, 0);
        stream_free(s); /* no cancel: the job runs on and can be resumed */
        return;
    }
    /* SSE: a last error event behind what is queued, then close once written (a client
     * that never reads is dropped by the connection sweep). The client reconnects with
     * Last-Event-ID; the job runs on. */
    struct http_conn *c = s->conn;
    if (c && s->kind == STREAM_KIND_SSE && s->state == STREAM_STATE_LIVE) {
        size_t at;
        chunk_begin(s, &c->out, &at);
        sse_error(&c->out, "client too slow; reconnect with Last-Event-ID", "server_error",
                  "overloaded");
        chunk_end(s, &c->out, at);
        c->close_after_write = 1;
        stream_free(s);
        conn_flush(c);
        return;
    }
    stream_free(s);
    if (c) conn_close(c);
}

void stream_on_tokens(struct stream *s, uint32_t index, uint32_t count, const char *text,
                      size_t len)
{
    if (s->finished || s->state == STREAM_STATE_ENDED) return;
    uint32_t end = index + count;
    struct gateway *gw = s->gw;
    if (index < s->next_index) /* already sent (a retry restarted at 0): dropped */
        gw->c.tokens_deduplicated += (end <= s->next_index ? end : s->next_index) - index;
    if (end <= s->next_index) return;
    uint32_t from = index < s->next_index ? s->next_index : index;
    if (index > s->next_index) {
        /* Tokens were lost (published while our subscription was down and not in the replay
         * log, e.g. Redis restarted). Never send a gap: end with a clear error. */
        log_req(LOG_LEVEL_WARN, s->rid, s->trace_id,
                "token gap: expected %" PRIu32 ", got %" PRIu32 "; ending the stream",
                s->next_index, index);
        stream_publish_cancel(gw, s->rid);
        s->cancel_on_close = 0;
        stream_fail(s, 502, "internal", "tokens were lost in a Redis outage; retry the request", 0);
        return;
    }
    uint64_t now =
        gw->now_mono_us ? gw->now_mono_us : clock_mono_us(); /* one clock read per message */
    if (!s->first_token_mono_us) {
        s->first_token_mono_us = now;
        metric_observe(gw->m_ttft, (double)(now - s->received_mono_us) / 1e6);
        stream_backlog_release(s);
    } else if (s->last_token_mono_us) {
        metric_observe(gw->m_itl, (double)(now - s->last_token_mono_us) / 1e6 / (end - from));
    }
    s->last_token_mono_us = now;
    gw->c.tokens_streamed += end - from;
    s->next_index = end;
    if (s->kind == STREAM_KIND_JSON) {
        buf_append(&s->text, text, len);
        return;
    }
    if (s->pend_count == 0) s->pend_index = from;
    buf_append(&s->pend, text, len);
    s->pend_count += end - from;
    if (s->conn &&
        (long long)(s->pend.len + conn_pending_bytes(s->conn)) > gw->cfg.max_stream_buffer_bytes) {
        cut(s);
        return;
    }
    mark_dirty(s);
}

void stream_on_done(struct stream *s, uint32_t total, const char *json, size_t len)
{
    if (s->finished) return;
    s->finished = 1;
    s->total_tokens = total;
    free(s->done_json);
    s->done_json = xstrndup(json, len);
    snprintf(s->finish_reason, sizeof(s->finish_reason), "stop");
    json_t *root = json_loadb(json, len, 0, NULL);
    json_t *fr = root ? json_object_get(root, "finish_reason") : NULL;
    if (fr && json_is_string(fr))
        snprintf(s->finish_reason, sizeof(s->finish_reason), "%s", json_string_value(fr));
    json_decref(root);
    stream_backlog_release(s);
    metric_observe(s->gw->m_e2e, (double)(clock_mono_us() - s->received_mono_us) / 1e6);
    mark_dirty(s);
}

void stream_on_running(struct stream *s, const char *json, size_t len)
{
    if (!s->model_guessed || s->next_index || s->finished) return;
    json_t *root = json_loadb(json, len, 0, NULL);
    json_t *m = root ? json_object_get(root, "model") : NULL;
    if (m && json_is_string(m) && json_string_length(m) && strcmp(s->model, json_string_value(m))) {
        free(s->model);
        s->model = xstrdup(json_string_value(m));
        buf_reset(&s->head);
        if (s->kind == STREAM_KIND_SSE) sse_head(&s->head, s->chat, s->rid, s->created_s, s->model);
    }
    json_decref(root);
}

static int status_of_code(const char *code)
{
    if (!strcmp(code, "timeout")) return 504;
    if (!strcmp(code, "overloaded")) return 503;
    if (!strcmp(code, "bad_request")) return 400;
    if (!strcmp(code, "cancelled")) return 499;
    return 500;
}

void stream_on_error(struct stream *s, uint32_t sent, const char *json, size_t len)
{
    if (s->finished) return;
    s->finished = 1;
    s->total_tokens = sent;
    json_t *root = json_loadb(json, len, 0, NULL);
    json_t *code = root ? json_object_get(root, "code") : NULL;
    json_t *msg = root ? json_object_get(root, "message") : NULL;
    snprintf(s->err_code, sizeof(s->err_code), "%s",
             code && json_is_string(code) ? json_string_value(code) : "internal");
    free(s->err_msg);
    s->err_msg = xstrdup(msg && json_is_string(msg) ? json_string_value(msg)
                                                    : "the worker failed the request");
    json_decref(root);
    s->error_status = status_of_code(s->err_code);
    mark_dirty(s);
}

void stream_fail(struct stream *s, int status, const char *code, const char *message,
                 long long retry_after_ms)
{
    if (s->finished && s->state != STREAM_STATE_PENDING) return;
    if (s->state == STREAM_STATE_PENDING && s->conn) {
        struct http_conn *c = s->conn;
        if (s->kind == STREAM_KIND_WS) {
            ws_send_error(c, s->cid, code, message, retry_after_ms);
            stream_free(s);
            conn_flush(c);
            return;
        }
        const char *type = status / 100 == 4 ? "invalid_request_error"
                           : status == 504   ? "timeout_error"
                                             : "server_error";
        stream_free(s);
        conn_respond_error(c, status, type, code, NULL, message, (retry_after_ms + 999) / 1000);
        return;
    }
    s->finished = 1;
    s->error_status = status;
    snprintf(s->err_code, sizeof(s->err_code), "%s", code);
    free(s->err_msg);
    s->err_msg = xstrdup(message);
    mark_dirty(s);
}

/* ---------------------------------------------------------------- bytes out */

/* HTTP/1.0 clients get the raw event stream ended by closing the connection. */
static void chunk_begin(const struct stream *s, struct buf *out, size_t *at)
{
    *at = out->len;
    if (s->chunked) buf_append(out, "00000000\r\n", 10);
}

/* Frames what was appended since chunk_begin; drops an empty chunk. */
static void chunk_end(const struct stream *s, struct buf *out, size_t at)
{
    if (!s->chunked) return;
    size_t n = out->len - at - 10;
    if (n == 0) {
        out->len = at;
        out->data[at] = 0;
        return;
    }
    static const char hx[] = "0123456789abcdef";
    for (int i = 0; i < 8; i++)
        out->data[at + i] = hx[(n >> (28 - 4 * i)) & 15];
    buf_append(out, "\r\n", 2);
}

static void put_usage(struct buf *b, json_t *done, long long *prompt, long long *completion)
{
    json_t *u = done ? json_object_get(done, "usage") : NULL;
    json_t *p = u ? json_object_get(u, "prompt_tokens") : NULL;
    json_t *c = u ? json_object_get(u, "completion_tokens") : NULL;
    *prompt = p && json_is_integer(p) ? (long long)json_integer_value(p) : 0;
    *completion = c && json_is_integer(c) ? (long long)json_integer_value(c) : 0;
    if (b)
        buf_printf(b, "{\"prompt_tokens\":%lld,\"completion_tokens\":%lld,\"total_tokens\":%lld}",
                   *prompt, *completion, *prompt + *completion);
}

/* timing object: the worker's, plus the gateway's own stage stamps. */
static void put_timing(struct buf *b, const struct stream *s, json_t *done)
{
    json_t *t = done ? json_object_get(done, "timing") : NULL;
    buf_append_char(b, '{');
    int first = 1;
    if (t && json_is_object(t)) {
        const char *k;
        json_t *v;
        json_object_foreach(t, k, v)
        {
            if (!json_is_number(v)) continue;
            if (!first) buf_append_char(b, ',');
            first = 0;
            buf_append_char(b, '"');
            buf_append_json_str(b, k, strlen(k));
            if (json_is_integer(v))
                buf_printf(b, "\":%" JSON_INTEGER_FORMAT, json_integer_value(v));
            else
                buf_printf(b, "\":%.3f", json_real_value(v));
        }
    }
    if (s->received_us) {
        buf_printf(b, "%s\"received_us\":%" PRIu64, first ? "" : ",", s->received_us);
        first = 0;
        if (s->enqueued_us)
            buf_printf(b, ",\"gateway_ms\":%.3f",
                       (double)(s->enqueued_us - s->received_us) / 1000.0);
    }
    buf_append_char(b, '}');
}

static void sse_flush(struct stream *s, struct http_conn *c)
{
    size_t at;
    chunk_begin(s, &c->out, &at);
    if (s->pend_count) {
        sse_token(&c->out, &s->head, s->chat, s->rid, s->pend_index + s->pend_count - 1,
                  s->pend.data ? s->pend.data : "", s->pend.len, s->chat && !s->role_sent);
        s->role_sent = 1;
        buf_reset(&s->pend);
        s->pend_count = 0;
    }
    if (!s->finished) {
        chunk_end(s, &c->out, at);
        return;
    }
    if (s->error_status) {
        sse_error(&c->out, s->err_msg ? s->err_msg : "error",
                  s->error_status == 504 ? "timeout_error" : "server_error", s->err_code);
    } else {
        json_t *done = s->done_json ? json_loads(s->done_json, 0, NULL) : NULL;
        sse_finish(&c->out, &s->head, s->chat, s->rid, s->next_index, s->finish_reason,
                   s->chat && !s->role_sent);
        if (s->include_usage) {
            long long p, q;
            put_usage(NULL, done, &p, &q);
            sse_usage(&c->out, &s->head, s->rid, s->next_index, p, q);
        }
        sse_done(&c->out);
        json_decref(done);
    }
    chunk_end(s, &c->out, at);
    if (s->chunked) buf_append(&c->out, "0\r\n\r\n", 5);
    s->state = STREAM_STATE_ENDED;
}

static void json_finish(struct stream *s, struct http_conn *c)
{
    if (s->error_status) {
        const char *type = s->error_status == 504 ? "timeout_error" : "server_error";
        char msg[512];
        snprintf(msg, sizeof(msg), "%s", s->err_msg ? s->err_msg : "error");
        int st = s->error_status == 499 ? 500 : s->error_status;
        char code[24];
        snprintf(code, sizeof(code), "%s", s->err_code);
        s->state = STREAM_STATE_ENDED;
        stream_free(s);
        conn_respond_error(c, st, type, code, NULL, msg, 0);
        return;
    }
    json_t *done = s->done_json ? json_loads(s->done_json, 0, NULL) : NULL;
    struct buf b;
    buf_init(&b);
    buf_reserve(&b, s->text.len + 640);
    sse_body_head(&b, s->chat, s->rid, s->created_s, s->model);
    if (s->chat) {
        buf_append_str(&b, "{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"");
        buf_append_json_str(&b, s->text.data ? s->text.data : "", s->text.len);
        buf_append_str(&b, "\"},");
    } else {
        buf_append_str(&b, "{\"index\":0,\"text\":\"");
        buf_append_json_str(&b, s->text.data ? s->text.data : "", s->text.len);
        buf_append_str(&b, "\",");
    }
    buf_append_str(&b, "\"logprobs\":null,\"finish_reason\":\"");
    buf_append_json_str(&b, s->finish_reason, strlen(s->finish_reason));
    buf_append_str(&b, "\"}],\"usage\":");
    long long p, q;
    put_usage(&b, done, &p, &q);
    buf_append_str(&b, ",\"timing\":");
    put_timing(&b, s, done);
    buf_append_char(&b, '}');
    json_decref(done);
    s->state = STREAM_STATE_ENDED;
    stream_free(s);
    conn_respond(c, 200, "application/json", NULL, b.data, b.len);
    buf_deinit(&b);
}

static void ws_flush(struct stream *s, struct http_conn *c)
{
    if (s->pend_count) {
        ws_send_token(c, s->cid, s->pend_index, s->pend_count, s->pend.data ? s->pend.data : "",
                      s->pend.len);
        buf_reset(&s->pend);
        s->pend_count = 0;
    }
    if (!s->finished) return;
    if (s->error_status) {
        ws_send_error(c, s->cid, s->err_code, s->err_msg ? s->err_msg : "error", 0);
    } else {
        json_t *done = s->done_json ? json_loads(s->done_json, 0, NULL) : NULL;
        struct buf *b = &s->text; /* unused for WS streams: reuse as scratch */
        buf_reset(b);
        buf_append_str(b, "{\"type\":\"done\",\"id\":\"");
        buf_append_str(b, s->cid);
        buf_append_str(b, "\",\"request_id\":\"");
        buf_append_str(b, s->rid);
        buf_append_str(b, "\",\"finish_reason\":\"");
        buf_append_json_str(b, s->finish_reason, strlen(s->finish_reason));
        buf_append_str(b, "\",\"usage\":");
        long long p, q;
        put_usage(NULL, done, &p, &q);
        buf_printf(b, "{\"prompt_tokens\":%lld,\"completion_tokens\":%lld}", p, q);
        buf_append_str(b, ",\"timing\":");
        put_timing(b, s, done);
        buf_append_char(b, '}');
        ws_send_text(c, b->data, b->len);
        json_decref(done);
    }
    s->state = STREAM_STATE_ENDED;
}

static void log_end(const struct stream *s)
{
    if (!log_enabled(LOG_LEVEL_DEBUG)) return;
    log_write(LOG_LEVEL_DEBUG, s->rid, s->trace_id[0] ? s->trace_id : NULL,
              "stream end: %s, %" PRIu32 " tokens, %.1f ms, ttft %.1f ms",
              s->error_status ? s->err_code : s->finish_reason, s->next_index,
              (double)(clock_mono_us() - s->received_mono_us) / 1000.0,
              s->first_token_mono_us
                  ? (double)(s->first_token_mono_us - s->received_mono_us) / 1000.0
                  : -1.0);
}

/* Formats what s has pending into its connection's out buffer. May free s. Returns 1 when
 * the stream ended (and was freed). */
static int format_stream(struct stream *s)
{
    struct http_conn *c = s->conn;
    if (!c) return 0;
    if (s->finished && s->state != STREAM_STATE_PENDING) log_end(s);
    if (s->state == STREAM_STATE_PENDING) return 0;
    if (c->writing && !s->finished) return 0; /* merge until the write completes */
    pg_touch(s, uv_now(s->gw->loop));
    switch (s->kind) {
    case STREAM_KIND_SSE:
        sse_flush(s, c);
        if (s->state == STREAM_STATE_ENDED) {
            int keep = s->chunked;
            stream_free(s);
            conn_request_done(c, keep);
            return 1;
        }
        return 0;
    case STREAM_KIND_JSON:
        if (s->finished) {
            json_finish(s, c);
            return 1;
        }
        return 0;
    case STREAM_KIND_WS:
        ws_flush(s, c);
        if (s->state == STREAM_STATE_ENDED) {
            stream_free(s);
            return 1;
        }
        return 0;
    }
    return 0;
}

void stream_flush_dirty(struct gateway *gw)
{
    /* Format every dirty stream first, then write each connection once: a WebSocket carrying
     * many streams gets one write per loop iteration, not one per stream. Connections are
     * freed only from their close callback, so the list stays valid here. */
    struct http_conn *todo = NULL;
    while (gw->dirty) {
        struct stream *s = gw->dirty;
        unlink_dirty(gw, s);
        struct http_conn *c = s->conn;
        if (!c) continue;
        format_stream(s);
        if (!c->flush_queued) {
            c->flush_queued = 1;
            c->fnext = todo;
            todo = c;
        }
    }
    while (todo) {
        struct http_conn *c = todo;
        todo = c->fnext;
        c->flush_queued = 0;
        conn_flush(c);
    }
}

void stream_conn_drained(struct http_conn *c)
{
    for (struct stream *s = c->streams, *next; s; s = next) {
        next = s->cnext;
        if (s->pend_count || s->finished) mark_dirty(s);
    }
}

void stream_conn_closed(struct http_conn *c)
{
    while (c->streams) {
        struct stream *s = c->streams;
        c->streams = s->cnext;
        s->conn = NULL;
        s->cprev = s->cnext = NULL;
        stream_abandon(s);
    }
}

void stream_start(struct stream *s, long long queue_depth)
{
    struct http_conn *c = s->conn;
    if (s->state != STREAM_STATE_PENDING) return;
    s->state = STREAM_STATE_LIVE;
    if (!c) return;
    if (s->kind == STREAM_KIND_SSE) {
        struct buf *o = &c->out;
        s->chunked = c->reader.req.http_minor >= 1;
        buf_append_str(o, "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                          "Cache-Control: no-cache\r\nX-Accel-Buffering: no\r\n");
        /* HTTP/1.0 has no chunked encoding: the stream ends when the connection closes */
        buf_append_str(o, s->chunked ? "Transfer-Encoding: chunked\r\n" : "Connection: close\r\n");
        buf_append_str(o, "X-Request-Id: ");
        buf_append_str(o, s->rid);
        buf_append_str(o, "\r\n\r\n");
        gateway_count_request(s->gw, c->endpoint ? c->endpoint : "other", 200);
    } else if (s->kind == STREAM_KIND_WS) {
        ws_send_accepted(c, s->cid, s->rid, queue_depth);
    }
    pg_touch(s, uv_now(s->gw->loop));
    mark_dirty(s);
}

void stream_sweep(struct gateway *gw, uint64_t now_ms)
{
    uint64_t next_deadline = 0;
    for (struct stream *s = gw->deadlines, *next; s; s = next) {
        next = s->dl_next;
        if (s->finished) {
            dl_remove(gw, s);
            continue;
        }
        if (now_ms >= s->deadline_ms) {
            dl_remove(gw, s);
            log_req(LOG_LEVEL_INFO, s->rid, s->trace_id, "deadline passed");
            stream_publish_cancel(gw, s->rid);
            s->cancel_on_close = 0;
            stream_fail(s, 504, "timeout", "the request's deadline (timeout_ms) passed", 0);
            continue;
        }
        if (!next_deadline || s->deadline_ms < next_deadline) next_deadline = s->deadline_ms;
    }
    gw->next_deadline_ms = next_deadline;
    if (gw->cfg.sse_ping_ms <= 0) return;
    size_t budget = gw->n_streams; /* each stream at most once per sweep */
    while (gw->pings_head && budget--) {
        struct stream *s = gw->pings_head;
        if (now_ms - s->last_write_ms < (uint64_t)gw->cfg.sse_ping_ms) break;
        pg_touch(s, now_ms); /* to the tail first: the flush below may free s */
        if (s->state == STREAM_STATE_LIVE && s->conn && !s->conn->writing) {
            size_t at;
            chunk_begin(s, &s->conn->out, &at);
            sse_ping(&s->conn->out);
            chunk_end(s, &s->conn->out, at);
            conn_flush(s->conn);
        }
    }
}
