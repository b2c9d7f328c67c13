/* hget.c -- a one-shot asynchronous HTTP/1.1 GET on the runner's loop, for scraping
 * /metrics while the benchmark runs without blocking the token path. Connection: close;
 * the body (chunked or not) is decoded by http-parser and capped at 8 MiB. */
#include "bench/client.h"

#include <errno.h>
#include <http_parser.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/xalloc.h"

struct hget {
    uv_tcp_t tcp;                /* tcp.data == this */
    uv_connect_t creq;
    uv_write_t wreq;
    uv_timer_t timer;            /* timer.data == this */
    http_parser parser;
    struct buf req, body;        /* owned */
    hget_fn *fn;
    void *ud;
    int status, reported, closing, handles;
};

static void hget_free_cb(uv_handle_t *h)
{
    struct hget *g = h->data;
    if (--g->handles) return;
    buf_deinit(&g->req);
    buf_deinit(&g->body);
    free(g);
}

static void report(struct hget *g, int status)
{
    if (!g->reported) {
        g->reported = 1;
        g->fn(g->ud, status, g->body.data ? g->body.data : "", g->body.len);
    }
    if (!g->closing) {
        g->closing = 1;
        uv_close((uv_handle_t *)&g->tcp, hget_free_cb);
        uv_close((uv_handle_t *)&g->timer, hget_free_cb);
    }
}

static int on_headers_complete(http_parser *hp)
{
    ((struct hget *)hp->data)->status = hp->status_code;
    return 0;
}

static int on_body(http_parser *hp, const char *at, size_t len)
{
    struct hget *g = hp->data;
    if (g->body.len + len > (8u << 20)) return -1;
    buf_append(&g->body, at, len);
    return 0;
}

static int on_message_complete(http_parser *hp)
{
    struct hget *g = hp->data;
    report(g, g->status);
    return 0;
}

static const http_parser_settings settings = {
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

static void alloc_cb(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
    static char buf[65536];      /* one loop thread; consumed inside read_cb */
    *b = uv_buf_init(buf, sizeof(buf));
}

static void read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *b)
{
    struct hget *g = s->data;
    if (g->closing) return;
    if (nread > 0) {
        size_t np = http_parser_execute(&g->parser, &settings, b->base, (size_t)nread);
        if (!g->closing && (np != (size_t)nread || HTTP_PARSER_ERRNO(&g->parser) != HPE_OK))
            report(g, -EPROTO);
    } else if (nread == UV_EOF) {
        http_parser_execute(&g->parser, &settings, NULL, 0);
        if (!g->closing) report(g, -ECONNRESET);
    } else if (nread < 0) {
        report(g, (int)nread);
    }
}

static void write_cb(uv_write_t *w, int status)
{
    struct hget *g = w->data;
    if (status < 0 && !g->closing) report(g, status);
}

static void connect_cb(uv_connect_t *cr, int status)
{
    struct hget *g = cr->data;
    if (g->closing) return;
    if (status < 0) {
        report(g, status);
        return;
    }
    uv_buf_t b = uv_buf_init(g->req.data, (unsigned)g->req.len);
    g->wreq.data = g;
    if (uv_write(&g->wreq, (uv_stream_t *)&g->tcp, &b, 1, write_cb) < 0 ||
        uv_read_start((uv_stream_t *)&g->tcp, alloc_cb, read_cb) < 0)
        report(g, -EIO);
}

static void timer_cb(uv_timer_t *t)
{
    struct hget *g = t->data;
    if (!g->closing) report(g, -ETIMEDOUT);
}

int hget_start(uv_loop_t *loop, const struct sockaddr *addr, const char *host, const char *path,
               double timeout_s, hget_fn *fn, void *ud)
{
    struct hget *g = xcalloc(1, sizeof(*g));
    g->fn = fn;
    g->ud = ud;
    buf_init(&g->req);
    buf_init(&g->body);
    buf_printf(&g->req, "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", path, host);
    http_parser_init(&g->parser, HTTP_RESPONSE);
    g->parser.data = g;
    uv_tcp_init(loop, &g->tcp);
    uv_timer_init(loop, &g->timer);
    g->tcp.data = g->timer.data = g;
    g->handles = 2;
    uv_timer_start(&g->timer, timer_cb, (uint64_t)(timeout_s * 1000), 0);
    g->creq.data = g;
    int rc = uv_tcp_connect(&g->creq, &g->tcp, addr, connect_cb);
    if (rc < 0) {
        g->reported = 1;         /* the caller hears rc, not the callback */
        g->closing = 1;
        uv_close((uv_handle_t *)&g->tcp, hget_free_cb);
        uv_close((uv_handle_t *)&g->timer, hget_free_cb);
        return rc;
    }
    return 0;
}
