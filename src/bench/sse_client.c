/* sse_client.c -- one benchmark request over HTTP + Server-Sent Events: POST the OpenAI body,
 * parse the response with http-parser (chunked or not), split the body into SSE events and
 * report tokens to the runner. One TCP connection per request (Connection: close), which is
 * what most load generators do for SSE and keeps a slow stream from blocking another.
 * Token indices come from the "id: <request-id>:<last-index>" line llmq gateways send; a
 * plain OpenAI server sends none and every chunk with text counts as one token. */
#include "bench/client.h"

#include <errno.h>
#include <http_parser.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/jscan.h"
#include "common/xalloc.h"

struct sse_conn {
    uv_tcp_t tcp;                /* tcp.data == this */
    uv_connect_t creq;
    uv_write_t wreq;
    http_parser parser;
    struct run *run;             /* borrowed; outlives the connection */
    struct breq *r;              /* borrowed until run_req_end; NULL after */
    struct buf wbuf;             /* owned: the request bytes */
    struct buf pend;             /* owned: an SSE line not yet complete */
    struct buf data;             /* owned: the data of the event being built */
    struct buf body;             /* owned: an error response's body */
    long long event_index;       /* index from the event's id line; -1 = none */
    long long event_first;       /* "<first>-<last>" ids: the first index; -1 = not given */
    int status;                  /* HTTP status */
    int done;                    /* [DONE] seen */
    int closing;
};

static void conn_free(struct sse_conn *c)
{
    buf_deinit(&c->wbuf);
    buf_deinit(&c->pend);
    buf_deinit(&c->data);
    buf_deinit(&c->body);
    free(c);
}

static void on_close(uv_handle_t *h) { conn_free(h->data); }

static void conn_close(struct sse_conn *c)
{
    if (c->closing) return;
    c->closing = 1;
    uv_close((uv_handle_t *)&c->tcp, on_close);
}

/* Ends the request once (err NULL = success) and closes the connection. */
static void finish(struct sse_conn *c, const char *err)
{
    if (c->r) {
        struct breq *r = c->r;
        c->r = NULL;
        r->sse = NULL;
        run_req_end(c->run, r, err);
    }
    conn_close(c);
}

void sse_client_abort(struct sse_conn *c)
{
    if (c->r) c->r->sse = NULL;
    c->r = NULL;
    conn_close(c);
}

static void dispatch_event(struct sse_conn *c)
{
    const char *d = c->data.data;
    size_t n = c->data.len;
    struct breq *r = c->r;
    if (!r || !n) goto out;
    if (jscan_eq(d, n, "[DONE]")) {
        c->done = 1;
        goto out;
    }
    const char *s;
    size_t sl;
    struct jscan_val v;
    if (jscan_find(d, n, "error", &v) && v.type == JSCAN_OBJ) {
        char code[48] = "stream_error";
        if (jscan_str(d, n, "error.code", &s, &sl) || jscan_str(d, n, "error.type", &s, &sl))
            snprintf(code, sizeof(code), "%.*s", (int)(sl < 40 ? sl : 40), s);
        finish(c, code);
        goto out;
    }
    jscan_int(d, n, "usage.completion_tokens", &r->usage_tokens);
    int has_text = run_chat(c->run) ? jscan_str(d, n, "choices.0.delta.content", &s, &sl)
                                    : jscan_str(d, n, "choices.0.text", &s, &sl);
    if (has_text) {
        int finish_chunk = jscan_find(d, n, "choices.0.finish_reason", &v) && v.type == JSCAN_STR;
        if (!(finish_chunk && sl == 0)) {
            int last = c->event_index > INT_MAX ? INT_MAX : (int)c->event_index;
            if (c->event_first >= 0) {          /* exact: a gap anywhere is visible */
                r->indexed = 1;
                run_req_tokens(c->run, r, (int)c->event_first, last - (int)c->event_first + 1);
            } else if (c->event_index >= 0) {   /* last index only: a middle gap reads as a merge */
                r->indexed = 1;
                run_req_tokens(c->run, r, last, 0);
            } else {
                run_req_tokens(c->run, r, -1, 1);
            }
        }
    }
out:
    buf_reset(&c->data);
    c->event_index = -1;
    c->event_first = -1;
}

/* Decimal digits at *q (capped, never overflowing); returns how many were read. */
static int digits_at(const char **q, const char *end, long long *v)
{
    int n = 0;
    *v = 0;
    while (*q < end && **q >= '0' && **q <= '9') {
        if (*v < 1000000000000LL) *v = *v * 10 + (**q - '0');
        (*q)++, n++;
    }
    return n;
}

/* One SSE line without its newline (and without a trailing CR). */
static void sse_line(struct sse_conn *c, const char *p, size_t n)
{
    if (n && p[n - 1] == '\r') n--;
    if (n == 0) {
        dispatch_event(c);
        return;
    }
    if (n >= 5 && !memcmp(p, "data:", 5)) {
        p += 5, n -= 5;
        if (n && *p == ' ') p++, n--;
        if (c->data.len) buf_append_char(&c->data, '\n');
        buf_append(&c->data, p, n);
    } else if (n >= 3 && !memcmp(p, "id:", 3)) {
        /* "<request-id>:<last>" (llmq today: the last index of a merged event), or
         * "<request-id>:<first>-<last>" (exact; see docs/LLMQ-BENCH.md): after the last colon */
        const char *colon = NULL;
        for (size_t i = 3; i < n; i++)
            if (p[i] == ':') colon = p + i;
        c->event_index = -1;
        c->event_first = -1;
        if (colon) {
            long long a, b;
            const char *q = colon + 1, *end = p + n;
            if (digits_at(&q, end, &a)) {
                if (q == end) {
                    c->event_index = a;
                } else if (*q == '-') {
                    q++;
                    if (digits_at(&q, end, &b) && q == end && a <= b && b <= INT_MAX &&
                        b - a < (1 << 20)) {
                        c->event_first = a;
                        c->event_index = b;
                    }
                }
            }
        }
    }
    /* "event:", "retry:" and ": comment" lines carry nothing the benchmark needs */
}

static void sse_feed(struct sse_conn *c, const char *p, size_t n)
{
    if (c->pend.len) {
        const char *nl = memchr(p, '\n', n);
        if (!nl) {
            buf_append(&c->pend, p, n);
            return;
        }
        buf_append(&c->pend, p, (size_t)(nl - p));
        sse_line(c, c->pend.data, c->pend.len);
        buf_reset(&c->pend);
        n -= (size_t)(nl - p) + 1;
        p = nl + 1;
    }
    while (n && c->r) {
        const char *nl = memchr(p, '\n', n);
        if (!nl) {
            buf_append(&c->pend, p, n);
            return;
        }
        sse_line(c, p, (size_t)(nl - p));
        n -= (size_t)(nl - p) + 1;
        p = nl + 1;
    }
}

static int on_headers_complete(http_parser *hp)
{
    struct sse_conn *c = hp->data;
    c->status = hp->status_code;
    if (c->r && c->status == 200) run_req_accepted(c->run, c->r);
    return 0;
}

static int on_body(http_parser *hp, const char *at, size_t len)
{
    struct sse_conn *c = hp->data;
    if (c->status == 200) {
        sse_feed(c, at, len);
    } else if (c->body.len < 65536) {
        buf_append(&c->body, at, len);
    }
    return 0;
}

static int on_message_complete(http_parser *hp)
{
    struct sse_conn *c = hp->data;
    if (c->status != 200) {
        char code[48];
        const char *s;
        size_t sl;
        if (c->body.len && jscan_str(c->body.data, c->body.len, "error.code", &s, &sl) && sl)
            snprintf(code, sizeof(code), "%.*s", (int)(sl < 40 ? sl : 40), s);
        else
            snprintf(code, sizeof(code), "http_%d", c->status);
        finish(c, code);
    } else {
        if (c->pend.len) sse_line(c, c->pend.data, c->pend.len);
        if (c->data.len) dispatch_event(c);
        finish(c, c->done ? NULL : "incomplete");
    }
    return 0;
}

static const http_parser_settings settings = {
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

static void alloc_cb(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
    struct sse_conn *c = h->data;
    run_alloc(c->run, b);
}

static void read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *b)
{
    struct sse_conn *c = s->data;
    if (nread > 0) {
        size_t np = http_parser_execute(&c->parser, &settings, b->base, (size_t)nread);
        if (c->closing) return;
        if (np != (size_t)nread || HTTP_PARSER_ERRNO(&c->parser) != HPE_OK)
            finish(c, "bad_response");
        return;
    }
    if (nread == UV_EOF) {
        http_parser_execute(&c->parser, &settings, NULL, 0);   /* ends a body read to EOF */
        finish(c, c->status ? "incomplete" : "conn_closed");
        return;
    }
    if (nread < 0) finish(c, "conn_error");
}

static void write_cb(uv_write_t *w, int status)
{
    struct sse_conn *c = w->data;
    if (status < 0 && !c->closing) finish(c, "conn_error");
}

static void connect_cb(uv_connect_t *cr, int status)
{
    struct sse_conn *c = cr->data;
    if (c->closing) return;
    if (status < 0) {
        finish(c, "connect_failed");
        return;
    }
    uv_buf_t b = uv_buf_init(c->wbuf.data, (unsigned)c->wbuf.len);
    c->wreq.data = c;
    if (uv_write(&c->wreq, (uv_stream_t *)&c->tcp, &b, 1, write_cb) < 0 ||
        uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, read_cb) < 0)
        finish(c, "conn_error");
}

int sse_client_start(struct run *run, struct breq *r)
{
    const struct client_url *u = run_url(run);
    struct sse_conn *c = xcalloc(1, sizeof(*c));
    struct buf body;
    c->run = run;
    c->r = r;
    c->event_index = -1;
    c->event_first = -1;
    buf_init(&c->wbuf);
    buf_init(&c->pend);
    buf_init(&c->data);
    buf_init(&c->body);
    buf_init(&body);
    run_body(run, r, 0, &body);
    const char *key = run_api_key(run);
    buf_printf(&c->wbuf,
               "POST %s/v1/%s HTTP/1.1\r\nHost: %s:%d\r\nContent-Type: application/json\r\n"
               "Accept: text/event-stream\r\nConnection: close\r\nX-Request-Id: bench-%u\r\n"
               "Content-Length: %zu\r\n",
               u->base, run_chat(run) ? "chat/completions" : "completions", u->host, u->port,
               r->seq, body.len);
    if (key) buf_printf(&c->wbuf, "Authorization: Bearer %s\r\n", key);
    buf_append_str(&c->wbuf, "\r\n");
    buf_append(&c->wbuf, body.data, body.len);
    buf_deinit(&body);
    http_parser_init(&c->parser, HTTP_RESPONSE);
    c->parser.data = c;
    int rc = uv_tcp_init(run_loop(run), &c->tcp);
    if (rc < 0) {
        conn_free(c);                       /* not a live handle: free directly */
        return rc;
    }
    c->tcp.data = c;
    uv_tcp_nodelay(&c->tcp, 1);
    c->creq.data = c;
    rc = uv_tcp_connect(&c->creq, &c->tcp, (const struct sockaddr *)&u->addr, connect_cb);
    if (rc < 0) {
        c->r = NULL;
        conn_close(c);
        return rc;
    }
    r->sse = c;
    return 0;
}
