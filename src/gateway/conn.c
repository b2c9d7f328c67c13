/* conn.c -- client connections: accept, read, parse one request at a time, write with at most
 * one uv_write in flight (uv_try_write first: most writes complete in the syscall and need
 * no request object at all), idle/header timeouts, close. */
#include "gateway/conn.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "gateway/gw.h"
#include "gateway/openai.h"
#include "gateway/route.h"
#include "gateway/stream.h"
#include "gateway/ws.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One read buffer for the whole loop: libuv calls alloc, read, then our read callback for
 * one handle at a time, and everything is copied out (or parsed) before returning. */
static char read_buf[65536];

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
    *b = uv_buf_init(read_buf, sizeof(read_buf));
}

static void conn_free(struct http_conn *c)
{
    http_reader_deinit(&c->reader);
    buf_deinit(&c->in);
    buf_deinit(&c->out);
    buf_deinit(&c->wbuf);
    free(c);
}

static void on_close(uv_handle_t *h)
{
    struct http_conn *c = h->data;
    struct gateway *gw = c->gw;
    if (c->prev)
        c->prev->next = c->next;
    else
        gw->conns = c->next;
    if (c->next) c->next->prev = c->prev;
    gw->n_conns--;
    c->close_done = 1;
    if (c->refs == 0) conn_free(c);
}

void conn_hold(struct http_conn *c)
{
    c->refs++;
}

int conn_release(struct http_conn *c, uint64_t serial)
{
    c->refs--;
    if (c->close_done) {
        if (c->refs == 0) conn_free(c);
        return 0;
    }
    return !c->closing && c->busy && c->serial == serial;
}

void conn_close(struct http_conn *c)
{
    if (c->closing) return;
    c->closing = 1;
    stream_conn_closed(c);
    ws_session_free(c->ws);
    c->ws = NULL;
    uv_close((uv_handle_t *)&c->tcp, on_close);
}

size_t conn_pending_bytes(const struct http_conn *c)
{
    return c->out.len + (c->writing ? c->wbuf.len : 0);
}

/* Empties b; a buffer a burst grew past 8 KiB gives its memory back (idle streams keep none). */
static void recycle(struct buf *b)
{
    if (b->cap > 8192)
        buf_deinit(b);
    else
        buf_reset(b);
}

static void after_written(struct http_conn *c)
{
    if (c->close_after_write && !c->out.len && !c->writing) conn_close(c);
}

static void on_write(uv_write_t *req, int status)
{
    struct http_conn *c = req->data;
    c->writing = 0;
    if (c->closing) return;
    if (status < 0) {
        conn_close(c);
        return;
    }
    c->gw->c.bytes_written += c->wbuf.len;
    recycle(&c->wbuf);
    c->last_active_ms = uv_now(c->gw->loop);
    stream_conn_drained(c);
    conn_flush(c);
    after_written(c);
}

void conn_flush(struct http_conn *c)
{
    if (c->writing || c->closing || !c->out.len) {
        if (!c->writing) after_written(c);
        return;
    }
    struct gateway *gw = c->gw;
    uv_buf_t b = uv_buf_init(c->out.data, (unsigned)c->out.len);
    int n = uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
    if (n == UV_EAGAIN) n = 0;
    if (n < 0) {
        conn_close(c);
        return;
    }
    gw->c.writes++;
    c->last_active_ms = uv_now(gw->loop);
    if ((size_t)n == c->out.len) {
        gw->c.bytes_written += (uint64_t)n;
        recycle(&c->out);
        after_written(c);
        return;
    }
    gw->c.bytes_written += (uint64_t)n;
    /* The rest goes out with uv_write from wbuf; new bytes collect in out meanwhile. */
    struct buf t = c->wbuf;
    c->wbuf = c->out;
    c->out = t;
    buf_reset(&c->out);
    if (n > 0) buf_consume(&c->wbuf, (size_t)n);
    uv_buf_t wb = uv_buf_init(c->wbuf.data, (unsigned)c->wbuf.len);
    c->wreq.data = c;
    if (uv_write(&c->wreq, (uv_stream_t *)&c->tcp, &wb, 1, on_write) < 0) {
        conn_close(c);
        return;
    }
    c->writing = 1;
}

/* ---------------------------------------------------------------- requests */

static void process(struct http_conn *c);
static void start_reading(struct http_conn *c);

void conn_request_done(struct http_conn *c, int keep_alive)
{
    if (c->closing) return;
    int keep = keep_alive && c->reader.req.keep_alive && !c->gw->draining;
    c->busy = 0;
    c->request_start_ms = 0;
    c->endpoint = NULL;
    http_reader_next(&c->reader);
    if (!keep) {
        c->close_after_write = 1;
        conn_flush(c);
        return;
    }
    conn_flush(c);
    if (!c->reading && !c->closing) start_reading(c);
    if (!c->in_process) process(c);
}

static void append_common(struct http_conn *c, struct buf *o, int keep)
{
    buf_append_str(o, "X-Request-Id: ");
    buf_append_str(o, c->request_id[0] ? c->request_id : "-");
    buf_append_str(o, "\r\n");
    if (!keep)
        buf_append_str(o, "Connection: close\r\n");
    else if (c->reader.req.http_minor == 0)
        buf_append_str(o, "Connection: keep-alive\r\n");
}

void conn_respond(struct http_conn *c, int status, const char *content_type,
                  const char *extra_headers, const char *body, size_t body_len)
{
    if (c->closing) return;
    struct buf *o = &c->out;
    /* Parse errors (400/413/431 from the reader) clear keep_alive before answering: the rest
     * of the stream cannot be trusted. A validation 400 keeps the connection. */
    int keep = c->reader.req.keep_alive && !c->gw->draining;
    buf_reserve(o, body_len + 256);
    http_append_status(o, status);
    if (content_type) buf_printf(o, "Content-Type: %s\r\n", content_type);
    buf_printf(o, "Content-Length: %zu\r\n", body_len);
    append_common(c, o, keep);
    if (extra_headers) buf_append_str(o, extra_headers);
    buf_append(o, "\r\n", 2);
    if (body_len && c->reader.req.method != HTTP_HEAD) buf_append(o, body, body_len);
    gateway_count_request(c->gw, c->endpoint ? c->endpoint : "other", status);
    if (c->busy)
        conn_request_done(c, keep);
    else {
        if (!keep) c->close_after_write = 1;
        conn_flush(c);
    }
}

void conn_respond_error(struct http_conn *c, int status, const char *type, const char *code,
                        const char *param, const char *message, long long retry_after_s)
{
    struct buf body;
    buf_init(&body);
    char field[64];
    if (!param) {
        /* Validation messages start with the field name ("max_tokens: ..."): use it as param. */
        const char *colon = strstr(message, ": ");
        if (status == 400 && colon && (size_t)(colon - message) < sizeof(field) &&
            !memchr(message, ' ', (size_t)(colon - message))) {
            memcpy(field, message, (size_t)(colon - message));
            field[colon - message] = 0;
            param = field;
        }
    }
    openai_error_json(&body, message, type, param, code);
    char extra[64] = "";
    if (retry_after_s > 0) snprintf(extra, sizeof(extra), "Retry-After: %lld\r\n", retry_after_s);
    conn_respond(c, status, "application/json", extra[0] ? extra : NULL, body.data, body.len);
    buf_deinit(&body);
}

/* Answers an error after which the connection closes: the rest of its bytes cannot be
 * trusted (parse errors) or will not come (header timeout). */
static void answer_and_close(struct http_conn *c, int status, const char *code, const char *msg)
{
    c->busy = 1;
    c->reader.req.keep_alive = 0;
    c->endpoint = "other";
    conn_respond_error(c, status, "invalid_request_error", code, NULL, msg, 0);
    c->close_after_write = 1;
    conn_flush(c);
}

static void answer_parse_error(struct http_conn *c, int status)
{
    const char *msg = status == 413   ? "request body too large (see --max-body-bytes)"
                      : status == 431 ? "request headers too large"
                                      : "malformed HTTP request";
    answer_and_close(c, status, status == 413 ? "too_large" : "bad_request", msg);
}

static void process(struct http_conn *c)
{
    c->in_process = 1;
    while (!c->busy && !c->closing && !c->close_after_write && c->mode == CONN_MODE_HTTP &&
           c->in.len) {
        size_t used = 0;
        int rc = http_reader_feed(&c->reader, c->in.data, c->in.len, &used);
        buf_consume(&c->in, used);
        if (rc == HTTP_READ_MORE) {
            if (c->reader.expect_continue == 1) { /* curl waits 1 s for this otherwise */
                c->reader.expect_continue = 2;
                buf_append_str(&c->out, "HTTP/1.1 100 Continue\r\n\r\n");
                conn_flush(c);
            }
            break;
        }
        if (rc < 0) {
            answer_parse_error(c, -rc);
            break;
        }
        c->busy = 1;
        route_request(c);
    }
    c->in_process = 0;
    /* Stop reading while a large backlog of pipelined bytes waits behind a busy request. */
    if (c->busy && c->mode == CONN_MODE_HTTP && c->in.len > 256 * 1024 && c->reading &&
        !c->closing) {
        uv_read_stop((uv_stream_t *)&c->tcp);
        c->reading = 0;
    }
}

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *b)
{
    struct http_conn *c = st->data;
    if (nread == 0) return;
    if (nread < 0) {
        conn_close(c);
        return;
    }
    c->last_active_ms = uv_now(c->gw->loop);
    if (c->mode == CONN_MODE_WS) {
        ws_conn_read(c, b->base, (size_t)nread);
        return;
    }
    if (!c->busy && !c->request_start_ms) c->request_start_ms = c->last_active_ms;
    if (c->close_after_write) return; /* answered an error: ignore the rest */
    buf_append(&c->in, b->base, (size_t)nread);
    if (!c->in_process) process(c);
}

static void start_reading(struct http_conn *c)
{
    if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) == 0) c->reading = 1;
}

void conn_accept(struct gateway *gw, uv_stream_t *listener)
{
    struct http_conn *c = xcalloc(1, sizeof(*c));
    c->gw = gw;
    uv_tcp_init(gw->loop, &c->tcp);
    c->tcp.data = c;
    if (uv_accept(listener, (uv_stream_t *)&c->tcp) < 0) {
        uv_close((uv_handle_t *)&c->tcp, (uv_close_cb)free);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    uv_tcp_keepalive(&c->tcp, 1, 60); /* finds half-open idle streams eventually */
    http_reader_init(&c->reader, (size_t)gw->cfg.max_header_bytes, (size_t)gw->cfg.max_body_bytes);
    buf_init(&c->in);
    buf_init(&c->out);
    buf_init(&c->wbuf);
    c->next = gw->conns;
    if (gw->conns) gw->conns->prev = c;
    gw->conns = c;
    gw->n_conns++;
    c->last_active_ms = uv_now(gw->loop);
    start_reading(c);
}

void conn_sweep(struct gateway *gw, uint64_t now_ms)
{
    for (struct http_conn *c = gw->conns, *next; c; c = next) {
        next = c->next;
        if (c->closing) continue;
        if (c->mode == CONN_MODE_HTTP && c->request_start_ms && !c->busy &&
            gw->cfg.header_timeout_ms > 0 &&
            now_ms - c->request_start_ms > (uint64_t)gw->cfg.header_timeout_ms) {
            answer_and_close(c, 408, "timeout", "request not received in time");
            continue;
        }
        int idle = !c->streams && !c->busy && !c->writing && !c->out.len;
        if (idle && c->mode == CONN_MODE_WS && gw->draining && c->ws && !c->close_after_write) {
            ws_session_close(c->ws, 1001, "gateway draining"); /* going away */
            c->close_after_write = 1;
            conn_flush(c);
            continue;
        }
        if (idle && gw->cfg.idle_timeout_ms > 0 &&
            now_ms - c->last_active_ms > (uint64_t)gw->cfg.idle_timeout_ms &&
            c->mode == CONN_MODE_HTTP) {
            conn_close(c);
            continue;
        }
        /* A connection stuck writing (client not reading) past the idle timeout is dropped. */
        if (c->writing && gw->cfg.idle_timeout_ms > 0 &&
            now_ms - c->last_active_ms > (uint64_t)gw->cfg.idle_timeout_ms * 2)
            conn_close(c);
        /* Draining: idle keep-alive connections go at once. */
        else if (gw->draining && idle && c->mode == CONN_MODE_HTTP)
            conn_close(c);
    }
}
