/* ws_client.c -- benchmark requests over the llmq WebSocket protocol (PROTOCOL.md): a small
 * pool of sockets, each carrying many requests at once as "generate" messages with ids
 * "r<seq>". RFC 6455 framing (client masking, control frames) is wslay's; this file does the
 * HTTP upgrade (http-parser), moves bytes between libuv and wslay and turns the gateway's
 * JSON messages into runner events with jscan (no allocation per token). A socket that dies
 * is replaced on the next send; its in-flight requests end as "conn_closed". */
#include "bench/client.h"

#include <errno.h>
#include <http_parser.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wslay/wslay.h>

#include "bench/jscan.h"
#include "bench/rng.h"
#include "common/clock.h"
#include "common/xalloc.h"

struct ws_conn {
    uv_tcp_t tcp;                    /* tcp.data == this */
    uv_connect_t creq;
    uv_write_t wreq;
    http_parser parser;              /* the upgrade response */
    wslay_event_context_ptr ws;      /* owned; created at connect */
    struct ws_pool *pool;            /* borrowed; outlives the connection */
    const char *rp;                  /* bytes wslay may read now (borrowed from read_cb) */
    size_t rn;
    struct buf out;                  /* owned: frames waiting for the socket */
    struct buf writing;              /* owned: the frames of the write in flight */
    int upgraded, write_busy, closing, status;
    int close_when_flushed;          /* the pool is closing: close after the last write */
    struct rng mask_rng;
};

struct ws_pool {
    struct run *run;                 /* borrowed */
    struct ws_conn **conns;          /* owned array; a slot holds the live socket or NULL */
    int n, next, live;               /* live: sockets not yet freed */
    int closing;
    uv_timer_t linger;               /* bounds the final flush; linger.data == this */
    int linger_open;
    struct buf msg;                  /* scratch for one generate message */
};

static void linger_closed(uv_handle_t *h)
{
    struct ws_pool *p = h->data;
    p->linger_open = 0;
    if (p->live == 0) {
        buf_deinit(&p->msg);
        free(p->conns);
        free(p);
    }
}

static void pool_maybe_free(struct ws_pool *p)
{
    if (p->closing && p->live == 0 && p->linger_open == 1) {
        p->linger_open = 2;              /* closing */
        uv_close((uv_handle_t *)&p->linger, linger_closed);
        return;
    }
    if (p->closing && p->live == 0 && p->linger_open == 0) {
        buf_deinit(&p->msg);
        free(p->conns);
        free(p);
    }
}

static void on_close(uv_handle_t *h)
{
    struct ws_conn *c = h->data;
    struct ws_pool *p = c->pool;
    if (c->ws) wslay_event_context_free(c->ws);
    buf_deinit(&c->out);
    buf_deinit(&c->writing);
    free(c);
    p->live--;
    pool_maybe_free(p);
}

static void conn_close(struct ws_conn *c, const char *err)
{
    if (c->closing) return;
    c->closing = 1;
    struct ws_pool *p = c->pool;
    for (int i = 0; i < p->n; i++)
        if (p->conns[i] == c) p->conns[i] = NULL;
    if (!p->closing) run_conn_lost(p->run, c, err);
    uv_close((uv_handle_t *)&c->tcp, on_close);
}

static void write_cb(uv_write_t *w, int status);

static void flush(struct ws_conn *c)
{
    if (c->closing || !c->upgraded) return;
    if (wslay_event_send(c->ws) < 0) {
        conn_close(c, "conn_error");
        return;
    }
    if (c->write_busy || c->out.len == 0) return;
    struct buf t = c->writing;
    c->writing = c->out;
    c->out = t;
    buf_reset(&c->out);
    uv_buf_t b = uv_buf_init(c->writing.data, (unsigned)c->writing.len);
    c->write_busy = 1;
    c->wreq.data = c;
    if (uv_write(&c->wreq, (uv_stream_t *)&c->tcp, &b, 1, write_cb) < 0) {
        c->write_busy = 0;
        conn_close(c, "conn_error");
    }
}

static void write_cb(uv_write_t *w, int status)
{
    struct ws_conn *c = w->data;
    c->write_busy = 0;
    buf_reset(&c->writing);
    if (c->closing) return;
    if (status < 0) {
        conn_close(c, "conn_error");
        return;
    }
    flush(c);
    if (c->close_when_flushed && !c->write_busy && !c->closing) conn_close(c, "closed");
}

/* ---- wslay callbacks ---- */

static ssize_t recv_cb(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, int flags, void *ud)
{
    struct ws_conn *c = ud;
    if (c->rn == 0) {
        wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
        return -1;
    }
    size_t n = len < c->rn ? len : c->rn;
    memcpy(buf, c->rp, n);
    c->rp += n;
    c->rn -= n;
    return (ssize_t)n;
}

static ssize_t send_cb(wslay_event_context_ptr ctx, const uint8_t *data, size_t len, int flags,
                       void *ud)
{
    struct ws_conn *c = ud;
    if (c->out.len > (64u << 20)) {            /* the gateway stopped reading: back off */
        wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
        return -1;
    }
    buf_append(&c->out, data, len);
    return (ssize_t)len;
}

static int genmask_cb(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, void *ud)
{
    struct ws_conn *c = ud;
    for (size_t i = 0; i < len; i += 8) {
        uint64_t v = rng_next(&c->mask_rng);
        memcpy(buf + i, &v, len - i < 8 ? len - i : 8);
    }
    return 0;
}

static struct breq *req_of(struct ws_conn *c, const char *m, size_t n)
{
    const char *s;
    size_t sl;
    if (!jscan_str(m, n, "id", &s, &sl) || sl < 2 || sl > 11 || s[0] != 'r') return NULL;
    uint64_t v = 0;
    for (size_t i = 1; i < sl; i++) {
        if (s[i] < '0' || s[i] > '9') return NULL;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    if (v > UINT32_MAX) return NULL;
    struct breq *r = run_req_by_seq(c->pool->run, (uint32_t)v);
    return r && r->ws == c ? r : NULL;
}

static void handle_message(struct ws_conn *c, const char *m, size_t n)
{
    struct run *run = c->pool->run;
    const char *type;
    size_t tl;
    if (!jscan_str(m, n, "type", &type, &tl)) return;
    struct breq *r = req_of(c, m, n);
    if (!r) return;                              /* late message of an ended request */
    double v;
    if (jscan_eq(type, tl, "token")) {
        int index, count;
        if (!jscan_int(m, n, "index", &index)) index = -1;
        if (!jscan_int(m, n, "count", &count) || count < 1) count = 1;
        r->indexed = index >= 0;
        run_req_tokens(run, r, index, count);
    } else if (jscan_eq(type, tl, "accepted")) {
        run_req_accepted(run, r);
    } else if (jscan_eq(type, tl, "done")) {
        jscan_int(m, n, "usage.completion_tokens", &r->usage_tokens);
        if (jscan_num(m, n, "timing.queue_ms", &v)) r->srv_queue_ms = v;
        const char *fr;
        size_t fl;
        int cancelled = jscan_str(m, n, "finish_reason", &fr, &fl) && jscan_eq(fr, fl, "cancelled");
        r->ws = NULL;
        run_req_end(run, r, cancelled ? "cancelled" : NULL);
    } else if (jscan_eq(type, tl, "error")) {
        char code[48] = "error";
        const char *s;
        size_t sl;
        if (jscan_str(m, n, "code", &s, &sl) && sl)
            snprintf(code, sizeof(code), "%.*s", (int)(sl < 40 ? sl : 40), s);
        r->ws = NULL;
        run_req_end(run, r, code);
    }
}

static void msg_cb(wslay_event_context_ptr ctx, const struct wslay_event_on_msg_recv_arg *arg,
                   void *ud)
{
    if (arg->opcode == WSLAY_TEXT_FRAME)
        handle_message(ud, (const char *)arg->msg, arg->msg_length);
}

static const struct wslay_event_callbacks ws_callbacks = {
    .recv_callback = recv_cb,
    .send_callback = send_cb,
    .genmask_callback = genmask_cb,
    .on_msg_recv_callback = msg_cb,
};

/* ---- socket ---- */

static void alloc_cb(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
    struct ws_conn *c = h->data;
    run_alloc(c->pool->run, b);
}

static int on_headers_complete(http_parser *hp)
{
    struct ws_conn *c = hp->data;
    c->status = hp->status_code;
    return 1;          /* no body: stop here, the rest of the bytes are frames */
}

static const http_parser_settings upgrade_settings = {
    .on_headers_complete = on_headers_complete,
};

static void ws_feed(struct ws_conn *c, const char *p, size_t n)
{
    c->rp = p;
    c->rn = n;
    if (wslay_event_recv(c->ws) < 0) {
        conn_close(c, "conn_error");
        return;
    }
    if (c->closing) return;
    c->rn = 0;
    flush(c);
    if (!c->closing && !wslay_event_want_read(c->ws) && !wslay_event_want_write(c->ws))
        conn_close(c, "conn_closed");
}

static void read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *b)
{
    struct ws_conn *c = s->data;
    if (nread < 0) {
        conn_close(c, nread == UV_EOF ? "conn_closed" : "conn_error");
        return;
    }
    if (nread == 0) return;
    const char *p = b->base;
    size_t n = (size_t)nread;
    if (!c->upgraded) {
        size_t np = http_parser_execute(&c->parser, &upgrade_settings, p, n);
        if (!c->status) {
            if (HTTP_PARSER_ERRNO(&c->parser) != HPE_OK) conn_close(c, "bad_response");
            return;            /* headers not complete yet */
        }
        if (c->status != 101) {
            char code[32];
            snprintf(code, sizeof(code), "ws_upgrade_%d", c->status);
            conn_close(c, code);
            return;
        }
        c->upgraded = 1;
        p += np;
        n -= np;
        flush(c);              /* generate messages queued while connecting */
        if (c->closing) return;
    }
    if (n) ws_feed(c, p, n);
}

static void connect_cb(uv_connect_t *cr, int status)
{
    struct ws_conn *c = cr->data;
    if (c->closing) return;
    if (status < 0) {
        conn_close(c, "connect_failed");
        return;
    }
    const struct client_url *u = run_url(c->pool->run);
    unsigned char key[16];
    char key64[32];
    for (int i = 0; i < 16; i += 8) {
        uint64_t v = rng_next(&c->mask_rng);
        memcpy(key + i, &v, 8);
    }
    EVP_EncodeBlock((unsigned char *)key64, key, 16);
    buf_printf(&c->writing,
               "GET %s/v1/ws HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\n"
               "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n"
               "Sec-WebSocket-Protocol: llmq.v1\r\n",
               u->base, u->host, u->port, key64);
    const char *api_key = run_api_key(c->pool->run);
    if (api_key) buf_printf(&c->writing, "Authorization: Bearer %s\r\n", api_key);
    buf_append_str(&c->writing, "\r\n");
    uv_buf_t b = uv_buf_init(c->writing.data, (unsigned)c->writing.len);
    c->write_busy = 1;
    c->wreq.data = c;
    if (uv_write(&c->wreq, (uv_stream_t *)&c->tcp, &b, 1, write_cb) < 0 ||
        uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, read_cb) < 0)
        conn_close(c, "conn_error");
}

static struct ws_conn *conn_new(struct ws_pool *p)
{
    struct ws_conn *c = xcalloc(1, sizeof(*c));
    c->pool = p;
    buf_init(&c->out);
    buf_init(&c->writing);
    rng_seed(&c->mask_rng, clock_mono_ns() ^ (uintptr_t)c);
    http_parser_init(&c->parser, HTTP_RESPONSE);
    c->parser.data = c;
    if (wslay_event_context_client_init(&c->ws, &ws_callbacks, c) != 0 ||
        uv_tcp_init(run_loop(p->run), &c->tcp) < 0) {
        if (c->ws) wslay_event_context_free(c->ws);
        buf_deinit(&c->out);
        buf_deinit(&c->writing);
        free(c);
        return NULL;
    }
    wslay_event_config_set_max_recv_msg_length(c->ws, 1u << 24);
    c->tcp.data = c;
    p->live++;
    uv_tcp_nodelay(&c->tcp, 1);
    c->creq.data = c;
    if (uv_tcp_connect(&c->creq, &c->tcp, (const struct sockaddr *)&run_url(p->run)->addr,
                       connect_cb) < 0) {
        conn_close(c, "connect_failed");
        return NULL;
    }
    return c;
}

struct ws_pool *ws_pool_new(struct run *run, int n_conns)
{
    struct ws_pool *p = xcalloc(1, sizeof(*p));
    p->run = run;
    p->n = n_conns < 1 ? 1 : n_conns;
    p->conns = xcalloc((size_t)p->n, sizeof(*p->conns));
    buf_init(&p->msg);
    for (int i = 0; i < p->n; i++) p->conns[i] = conn_new(p);
    return p;
}

int ws_pool_send(struct ws_pool *p, struct breq *r)
{
    int slot = p->next++ % p->n;
    if (!p->conns[slot]) p->conns[slot] = conn_new(p);
    struct ws_conn *c = p->conns[slot];
    if (!c) return -ECONNREFUSED;
    buf_reset(&p->msg);
    run_body(p->run, r, 1, &p->msg);
    struct wslay_event_msg m = { WSLAY_TEXT_FRAME, (const uint8_t *)p->msg.data, p->msg.len };
    if (wslay_event_queue_msg(c->ws, &m) != 0) return -EPIPE;
    r->ws = c;
    flush(c);
    return 0;
}

static void linger_cb(uv_timer_t *t)
{
    struct ws_pool *p = t->data;
    for (int i = 0; i < p->n; i++)       /* the gateway stopped reading: give up on it */
        if (p->conns[i]) conn_close(p->conns[i], "closed");
}

void ws_pool_close(struct ws_pool *p)
{
    p->closing = 1;
    int waiting = 0;
    for (int i = 0; i < p->n; i++) {
        struct ws_conn *c = p->conns[i];
        if (!c) continue;
        if (c->upgraded) flush(c);
        if (c->upgraded && c->write_busy && !c->closing) {   /* last messages (cancels) in flight */
            c->close_when_flushed = 1;
            waiting = 1;
        } else {
            conn_close(c, "closed");
        }
    }
    if (waiting) {
        uv_timer_init(run_loop(p->run), &p->linger);
        p->linger.data = p;
        p->linger_open = 1;
        uv_timer_start(&p->linger, linger_cb, 1000, 0);
    }
    pool_maybe_free(p);
}

int ws_pool_open_count(const struct ws_pool *p)
{
    int n = 0;
    for (int i = 0; i < p->n; i++)
        if (p->conns[i] && p->conns[i]->upgraded) n++;
    return n;
}

void ws_conn_cancel(struct ws_conn *c, uint32_t seq)
{
    if (c->closing) return;
    char msg[64];
    int n = snprintf(msg, sizeof(msg), "{\"type\":\"cancel\",\"id\":\"r%u\"}", seq);
    struct wslay_event_msg m = { WSLAY_TEXT_FRAME, (const uint8_t *)msg, (size_t)n };
    if (wslay_event_queue_msg(c->ws, &m) == 0) flush(c);
}
