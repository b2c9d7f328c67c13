/* fake_gw.c -- see fake_gw.h. One libuv loop on its own thread; streams live in a list the
 * token clock walks. Connections are freed from their close callbacks. */
#include "fake_gw.h"

#include <http_parser.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <uv.h>
#include <wslay/wslay.h>

#include "bench/jscan.h"
#include "common/buf.h"
#include "common/xalloc.h"

struct fconn;

struct fstream {
    struct fconn *c;
    char id[64];               /* WS client id; SSE: "" */
    int next, total, skip, chat;
    struct fstream *nx;
};

struct fconn {
    uv_tcp_t tcp;
    struct fake_gw *g;
    http_parser hp;
    struct buf url, hfield, body, out, writing;
    char wskey[64];
    int in_key, ws, sse, closing, write_busy, close_after_write, streams, msg_done;
    wslay_event_context_ptr wctx;
    const char *rp;
    size_t rn;
    uv_write_t wreq;
};

struct fake_gw {
    struct fake_gw_cfg cfg;
    uv_loop_t loop;
    uv_tcp_t server;
    uv_timer_t clock;
    uv_async_t stop;
    pthread_t thread;
    int port;
    struct fstream *streams;
    atomic_llong requests, cancels;
    char rbuf[65536];
};

static void conn_flush(struct fconn *c);

static void on_conn_close(uv_handle_t *h)
{
    struct fconn *c = h->data;
    if (c->wctx) wslay_event_context_free(c->wctx);
    buf_deinit(&c->url);
    buf_deinit(&c->hfield);
    buf_deinit(&c->body);
    buf_deinit(&c->out);
    buf_deinit(&c->writing);
    free(c);
}

static void conn_close(struct fconn *c)
{
    if (c->closing) return;
    c->closing = 1;
    /* drop the connection's streams */
    struct fstream **pp = &c->g->streams;
    while (*pp) {
        if ((*pp)->c == c) {
            struct fstream *s = *pp;
            *pp = s->nx;
            free(s);
        } else {
            pp = &(*pp)->nx;
        }
    }
    uv_close((uv_handle_t *)&c->tcp, on_conn_close);
}

static void write_cb(uv_write_t *w, int status)
{
    struct fconn *c = w->data;
    c->write_busy = 0;
    buf_reset(&c->writing);
    if (c->closing) return;
    if (status < 0) {
        conn_close(c);
        return;
    }
    conn_flush(c);
}

static void conn_flush(struct fconn *c)
{
    if (c->closing) return;
    if (c->wctx && wslay_event_send(c->wctx) < 0) {
        conn_close(c);
        return;
    }
    if (c->write_busy) return;
    if (!c->out.len) {
        if (c->close_after_write) conn_close(c);
        return;
    }
    struct buf t = c->writing;
    c->writing = c->out;
    c->out = t;
    buf_reset(&c->out);
    uv_buf_t b = uv_buf_init(c->writing.data, (unsigned)c->writing.len);
    c->write_busy = 1;
    c->wreq.data = c;
    if (uv_write(&c->wreq, (uv_stream_t *)&c->tcp, &b, 1, write_cb) < 0) conn_close(c);
}

/* ---- token emission ---- */

static void ws_send_text(struct fconn *c, const char *s, size_t n)
{
    struct wslay_event_msg m = { WSLAY_TEXT_FRAME, (const uint8_t *)s, n };
    wslay_event_queue_msg(c->wctx, &m);
}

static void emit_token(struct fstream *s, int index, int count)
{
    struct fconn *c = s->c;
    char tmp[256];
    if (c->ws) {
        int n = count > 1
                    ? snprintf(tmp, sizeof(tmp), "{\"type\":\"token\",\"id\":\"%s\",\"index\":%d,\"count\":%d,\"text\":\"%.*s\"}",
                               s->id, index, count, count * 3, "tok tok tok tok tok tok tok tok tok tok tok tok tok tok tok tok ")
                    : snprintf(tmp, sizeof(tmp), "{\"type\":\"token\",\"id\":\"%s\",\"index\":%d,\"text\":\" w%d\"}",
                               s->id, index, index);
        ws_send_text(c, tmp, (size_t)n);
    } else {
        if (c->g->cfg.sse_range_ids) buf_printf(&c->out, "id: fake-1:%d-%d\n", index, index + count - 1);
        else buf_printf(&c->out, "id: fake-1:%d\n", index + count - 1);
        buf_append_str(&c->out, "data: {\"id\":\"cmpl-1\",\"object\":\"text_completion\",\"choices\":[{\"index\":0,");
        if (s->chat) buf_printf(&c->out, "\"delta\":{\"content\":\" w%d\"},\"finish_reason\":null}]}\n\n", index);
        else buf_printf(&c->out, "\"text\":\" w%d\",\"finish_reason\":null}]}\n\n", index);
    }
}

static void emit_done(struct fstream *s)
{
    struct fconn *c = s->c;
    char tmp[512];
    if (c->ws) {
        int n = snprintf(tmp, sizeof(tmp), "{\"type\":\"done\",\"id\":\"%s\",\"finish_reason\":\"length\","
                         "\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":%d},"
                         "\"timing\":{\"queue_ms\":0.5,\"ttft_ms\":1.0,\"total_ms\":2.0}}", s->id, s->total);
        ws_send_text(c, tmp, (size_t)n);
    } else {
        buf_printf(&c->out, "id: fake-1:%d\ndata: {\"choices\":[{\"index\":0,\"%s,\"finish_reason\":\"length\"}]}\n\n",
                   s->total - 1, s->chat ? "delta\":{}" : "text\":\"\"");
        buf_printf(&c->out, "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":%d}}\n\n", s->total);
        buf_append_str(&c->out, "data: [DONE]\n\n");
        c->close_after_write = 1;
    }
}

static void clock_cb(uv_timer_t *t)
{
    struct fake_gw *g = t->data;
    struct fstream **pp = &g->streams;
    while (*pp) {
        struct fstream *s = *pp;
        int k = g->cfg.tokens_per_step > 0 ? g->cfg.tokens_per_step : 1;
        int ws_like = s->c->ws || g->cfg.sse_range_ids;
        if (g->cfg.merge && ws_like) {
            int n = s->total - s->next < k ? s->total - s->next : k;
            emit_token(s, s->next, n);
            s->next += n;
        } else {
            for (int i = 0; i < k && s->next < s->total; i++) {
                /* the injected gap: WS skips index 2; SSE (whose ids carry only the last
                 * index, so a middle gap reads as a merge) drops the last token */
                if (s->skip && s->next == (ws_like ? 2 : s->total - 1)) s->next++;
                if (s->next < s->total) emit_token(s, s->next, 1);
                s->next++;
            }
        }
        if (s->next >= s->total) {
            emit_done(s);
            *pp = s->nx;
            s->c->streams--;
            free(s);
        } else {
            pp = &s->nx;
        }
    }
}

static void add_stream(struct fconn *c, const char *id, size_t idl, int total, int chat)
{
    struct fake_gw *g = c->g;
    long long n = atomic_fetch_add(&g->requests, 1) + 1;
    struct fstream *s = xcalloc(1, sizeof(*s));
    s->c = c;
    snprintf(s->id, sizeof(s->id), "%.*s", (int)(idl < 60 ? idl : 60), id);
    s->total = total > 0 ? total : 16;
    s->chat = chat;
    s->skip = g->cfg.skip_index_every > 0 && n % g->cfg.skip_index_every == 0;
    s->nx = g->streams;
    g->streams = s;
    c->streams++;
}

static int rejected(struct fake_gw *g)
{
    if (g->cfg.reject_every <= 0) return 0;
    long long n = atomic_load(&g->requests) + 1;
    if (n % g->cfg.reject_every == 0) {
        atomic_fetch_add(&g->requests, 1);
        return 1;
    }
    return 0;
}

/* ---- WebSocket ---- */

static ssize_t ws_recv(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, int flags, void *ud)
{
    struct fconn *c = ud;
    if (!c->rn) {
        wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
        return -1;
    }
    size_t n = len < c->rn ? len : c->rn;
    memcpy(buf, c->rp, n);
    c->rp += n;
    c->rn -= n;
    return (ssize_t)n;
}

static ssize_t ws_send(wslay_event_context_ptr ctx, const uint8_t *d, size_t len, int flags, void *ud)
{
    buf_append(&((struct fconn *)ud)->out, d, len);
    return (ssize_t)len;
}

static void ws_msg(wslay_event_context_ptr ctx, const struct wslay_event_on_msg_recv_arg *a, void *ud)
{
    struct fconn *c = ud;
    if (a->opcode != WSLAY_TEXT_FRAME) return;
    const char *m = (const char *)a->msg, *id;
    size_t n = a->msg_length, idl;
    double mt = 16;
    if (!jscan_str(m, n, "id", &id, &idl)) return;
    const char *type;
    size_t tl;
    if (jscan_str(m, n, "type", &type, &tl) && jscan_eq(type, tl, "cancel")) {
        for (struct fstream **pp = &c->g->streams; *pp; pp = &(*pp)->nx) {
            struct fstream *s = *pp;
            if (s->c == c && strlen(s->id) == idl && !memcmp(s->id, id, idl)) {
                *pp = s->nx;
                c->streams--;
                free(s);
                atomic_fetch_add(&c->g->cancels, 1);
                break;
            }
        }
        return;
    }
    jscan_num(m, n, "max_tokens", &mt);
    char tmp[256];
    if (rejected(c->g)) {
        int k = snprintf(tmp, sizeof(tmp), "{\"type\":\"error\",\"id\":\"%.*s\",\"code\":\"overloaded\","
                         "\"message\":\"queue full\",\"retry_after_ms\":500}", (int)idl, id);
        ws_send_text(c, tmp, (size_t)k);
        return;
    }
    int k = snprintf(tmp, sizeof(tmp), "{\"type\":\"accepted\",\"id\":\"%.*s\",\"request_id\":\"x\",\"queue_depth\":0}",
                     (int)idl, id);
    ws_send_text(c, tmp, (size_t)k);
    add_stream(c, id, idl, (int)mt, 0);
}

static const struct wslay_event_callbacks ws_cbs = { ws_recv, ws_send, NULL, NULL, NULL, NULL, ws_msg };

/* ---- HTTP ---- */

static int on_url(http_parser *p, const char *at, size_t n)
{
    buf_append(&((struct fconn *)p->data)->url, at, n);
    return 0;
}

static int on_hfield(http_parser *p, const char *at, size_t n)
{
    struct fconn *c = p->data;
    buf_reset(&c->hfield);
    buf_append(&c->hfield, at, n);
    c->in_key = !strcasecmp(c->hfield.data, "Sec-WebSocket-Key");
    return 0;
}

static int on_hvalue(http_parser *p, const char *at, size_t n)
{
    struct fconn *c = p->data;
    if (c->in_key) snprintf(c->wskey, sizeof(c->wskey), "%.*s", (int)n, at);
    return 0;
}

static int on_body(http_parser *p, const char *at, size_t n)
{
    buf_append(&((struct fconn *)p->data)->body, at, n);
    return 0;
}

static int on_msg_complete(http_parser *p)
{
    struct fconn *c = p->data;
    c->msg_done = 1;
    return 0;
}

static const http_parser_settings hs = {
    .on_url = on_url, .on_header_field = on_hfield, .on_header_value = on_hvalue,
    .on_body = on_body, .on_message_complete = on_msg_complete,
};

static void handle_request(struct fconn *c)
{
    const char *u = c->url.data ? c->url.data : "";
    if (!strcmp(u, "/v1/ws") && c->wskey[0]) {
        char cat[128];
        unsigned char sha[20];
        char acc[64];
        snprintf(cat, sizeof(cat), "%s258EAFA5-E914-47DA-95CA-C5AB0DC85B11", c->wskey);
        SHA1((unsigned char *)cat, strlen(cat), sha);
        EVP_EncodeBlock((unsigned char *)acc, sha, 20);
        buf_printf(&c->out, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                   "Sec-WebSocket-Accept: %s\r\nSec-WebSocket-Protocol: llmq.v1\r\n\r\n", acc);
        c->ws = 1;
        wslay_event_context_server_init(&c->wctx, &ws_cbs, c);
        return;
    }
    if (!strcmp(u, "/metrics")) {
        struct buf m;
        buf_init(&m);
        int n = 0;
        for (struct fstream *s = c->g->streams; s; s = s->nx) n++;
        buf_printf(&m, "# TYPE llmq_queue_depth gauge\nllmq_queue_depth %d\nllmq_workers 2\n"
                   "llmq_engine_busy_seconds_total{worker=\"a\"} %lld\nprocess_cpu_seconds_total 1.5\n",
                   n, (long long)atomic_load(&c->g->requests));
        buf_printf(&c->out, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\n"
                   "Connection: close\r\n\r\n%s", m.len, m.data);
        buf_deinit(&m);
        c->close_after_write = 1;
        return;
    }
    int chat = !strcmp(u, "/v1/chat/completions");
    if (chat || !strcmp(u, "/v1/completions")) {
        if (rejected(c->g)) {
            const char *b = "{\"error\":{\"message\":\"queue full\",\"type\":\"overloaded\",\"code\":\"overloaded\"}}";
            buf_printf(&c->out, "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nContent-Type: application/json\r\n"
                       "Content-Length: %zu\r\nConnection: close\r\n\r\n%s", strlen(b), b);
            c->close_after_write = 1;
            return;
        }
        double mt = 16;
        jscan_num(c->body.data ? c->body.data : "", c->body.len, "max_tokens", &mt);
        buf_append_str(&c->out, "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n");
        c->sse = 1;
        add_stream(c, "", 0, (int)mt, chat);
        return;
    }
    buf_append_str(&c->out, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    c->close_after_write = 1;
}

static void alloc_cb(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
    struct fconn *c = h->data;
    *b = uv_buf_init(c->g->rbuf, sizeof(c->g->rbuf));
}

static void read_cb(uv_stream_t *st, ssize_t nread, const uv_buf_t *b)
{
    struct fconn *c = st->data;
    if (nread < 0) {
        conn_close(c);
        return;
    }
    const char *p = b->base;
    size_t n = (size_t)nread;
    if (!c->ws && !c->sse) {
        size_t np = http_parser_execute(&c->hp, &hs, p, n);
        if (c->hp.upgrade || c->msg_done) {
            handle_request(c);
            p += np;
            n -= np;
        } else if (np != n) {
            conn_close(c);
            return;
        }
    }
    if (c->ws && n) {
        c->rp = p;
        c->rn = n;
        if (wslay_event_recv(c->wctx) < 0) {
            conn_close(c);
            return;
        }
    }
    conn_flush(c);
}

static void on_connection(uv_stream_t *srv, int status)
{
    struct fake_gw *g = srv->data;
    if (status < 0) return;
    struct fconn *c = xcalloc(1, sizeof(*c));
    c->g = g;
    buf_init(&c->url);
    buf_init(&c->hfield);
    buf_init(&c->body);
    buf_init(&c->out);
    buf_init(&c->writing);
    http_parser_init(&c->hp, HTTP_REQUEST);
    c->hp.data = c;
    uv_tcp_init(&g->loop, &c->tcp);
    c->tcp.data = c;
    if (uv_accept(srv, (uv_stream_t *)&c->tcp) < 0) {
        conn_close(c);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, read_cb);
}

/* uv_walk callback used by the clock: flush every open connection */
static void flush_walk(uv_handle_t *h, void *arg)
{
    if (h->type == UV_TCP && h->data && h->data != arg && !uv_is_closing(h)) conn_flush(h->data);
}

static void stop_walk(uv_handle_t *h, void *arg)
{
    if (uv_is_closing(h)) return;
    if (h->type == UV_TCP && h->data && h->data != arg) conn_close(h->data);
    else uv_close(h, NULL);
}

static void stop_cb(uv_async_t *a)
{
    struct fake_gw *g = a->data;
    while (g->streams) {
        struct fstream *s = g->streams;
        g->streams = s->nx;
        free(s);
    }
    uv_walk(&g->loop, stop_walk, g);
}

static void *thread_main(void *arg)
{
    struct fake_gw *g = arg;
    uv_run(&g->loop, UV_RUN_DEFAULT);
    return NULL;
}

static void clock_tick(uv_timer_t *t)
{
    struct fake_gw *g = t->data;
    clock_cb(t);
    uv_walk(&g->loop, flush_walk, g);
}

struct fake_gw *fake_gw_start(const struct fake_gw_cfg *cfg)
{
    struct fake_gw *g = xcalloc(1, sizeof(*g));
    g->cfg = *cfg;
    uv_loop_init(&g->loop);
    uv_tcp_init(&g->loop, &g->server);
    g->server.data = g;
    struct sockaddr_in a;
    uv_ip4_addr("127.0.0.1", 0, &a);
    if (uv_tcp_bind(&g->server, (const struct sockaddr *)&a, 0) < 0 ||
        uv_listen((uv_stream_t *)&g->server, 1024, on_connection) < 0) {
        free(g);
        return NULL;
    }
    struct sockaddr_storage ss;
    int len = sizeof(ss);
    uv_tcp_getsockname(&g->server, (struct sockaddr *)&ss, &len);
    g->port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
    uv_timer_init(&g->loop, &g->clock);
    g->clock.data = g;
    uint64_t ms = cfg->step_ms >= 1 ? (uint64_t)cfg->step_ms : 1;
    uv_timer_start(&g->clock, clock_tick, ms, ms);
    uv_async_init(&g->loop, &g->stop, stop_cb);
    g->stop.data = g;
    pthread_create(&g->thread, NULL, thread_main, g);
    return g;
}

int fake_gw_port(const struct fake_gw *g) { return g->port; }
long long fake_gw_requests(const struct fake_gw *g) { return atomic_load(&((struct fake_gw *)g)->requests); }
long long fake_gw_cancels(const struct fake_gw *g) { return atomic_load(&((struct fake_gw *)g)->cancels); }

void fake_gw_stop(struct fake_gw *g)
{
    if (!g) return;
    uv_async_send(&g->stop);
    pthread_join(g->thread, NULL);
    uv_loop_close(&g->loop);
    free(g);
}
