/* http.c -- http-parser glue: one request at a time, limits enforced while parsing.
 * The parser is paused in on_message_complete so pipelined bytes after a request are left to
 * the caller; header names are lower-cased once here so lookups are plain strcmp. */
#include "gateway/http.h"

#include <ctype.h>
#include <limits.h>
#include <string.h>
#include <strings.h>

static struct http_reader *reader_of(http_parser *p)
{
    return p->data;
}

static int on_message_begin(http_parser *p)
{
    struct http_reader *r = reader_of(p);
    r->header_bytes = 0;
    return 0;
}

/* Counts n more bytes of the request line and headers; past the limit the request is a 431
 * (returns 1, which stops the parser). */
static int header_bytes_add(struct http_reader *r, size_t n)
{
    r->header_bytes += n;
    if (r->header_bytes <= r->max_header_bytes) return 0;
    r->error_status = 431;
    return 1;
}

static int on_url(http_parser *p, const char *at, size_t n)
{
    struct http_reader *r = reader_of(p);
    if (header_bytes_add(r, n)) return 1;
    buf_append(&r->req.url, at, n);
    return 0;
}

static int on_header_field(http_parser *p, const char *at, size_t n)
{
    struct http_reader *r = reader_of(p);
    if (header_bytes_add(r, n + 4)) return 1; /* ": " and CRLF */
    if (r->last_was_value || !r->in_headers) {
        if (r->in_headers) buf_append_char(&r->req.hdrs, '\0'); /* ends the previous value */
        r->in_headers = 1;
        r->last_was_value = 0;
    }
    buf_reserve(&r->req.hdrs, n);
    for (size_t i = 0; i < n; i++)
        buf_append_char(&r->req.hdrs, (char)tolower((unsigned char)at[i]));
    return 0;
}

static int on_header_value(http_parser *p, const char *at, size_t n)
{
    struct http_reader *r = reader_of(p);
    if (header_bytes_add(r, n)) return 1;
    if (!r->last_was_value) {
        buf_append_char(&r->req.hdrs, '\0'); /* ends the name */
        r->last_was_value = 1;
    }
    buf_append(&r->req.hdrs, at, n);
    return 0;
}

static int on_headers_complete(http_parser *p)
{
    struct http_reader *r = reader_of(p);
    if (r->in_headers) {
        if (!r->last_was_value) buf_append_char(&r->req.hdrs, '\0'); /* name without value */
        buf_append_char(&r->req.hdrs, '\0');
    }
    r->req.method = p->method;
    r->req.http_minor = p->http_minor;
    r->req.keep_alive = http_should_keep_alive(p);
    r->req.upgrade = p->upgrade;
    const char *expect = http_req_header(&r->req, "expect", NULL);
    if (expect && !strcasecmp(expect, "100-continue")) r->expect_continue = 1;
    if ((p->flags & F_CONTENTLENGTH) && p->content_length > r->max_body_bytes) {
        r->error_status = 413;
        return -1;
    }
    if (p->content_length > 0 && p->content_length != ULLONG_MAX &&
        p->content_length <= r->max_body_bytes)
        buf_reserve(&r->req.body, (size_t)p->content_length);
    return 0;
}

static int on_body(http_parser *p, const char *at, size_t n)
{
    struct http_reader *r = reader_of(p);
    if (r->req.body.len + n > r->max_body_bytes) {
        r->error_status = 413;
        return 1;
    }
    buf_append(&r->req.body, at, n);
    return 0;
}

static int on_message_complete(http_parser *p)
{
    struct http_reader *r = reader_of(p);
    r->complete = 1;
    http_parser_pause(p, 1);
    return 0;
}

static const http_parser_settings settings = {
    .on_message_begin = on_message_begin,
    .on_url = on_url,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

void http_reader_init(struct http_reader *r, size_t max_header_bytes, size_t max_body_bytes)
{
    memset(r, 0, sizeof(*r));
    http_parser_init(&r->parser, HTTP_REQUEST);
    r->parser.data = r;
    r->max_header_bytes = max_header_bytes;
    r->max_body_bytes = max_body_bytes;
    buf_init(&r->req.url);
    buf_init(&r->req.hdrs);
    buf_init(&r->req.body);
}

void http_reader_deinit(struct http_reader *r)
{
    buf_deinit(&r->req.url);
    buf_deinit(&r->req.hdrs);
    buf_deinit(&r->req.body);
}

void http_reader_next(struct http_reader *r)
{
    buf_reset(&r->req.url);
    buf_reset(&r->req.hdrs);
    buf_reset(&r->req.body);
    r->req.keep_alive = r->req.upgrade = 0;
    r->last_was_value = r->in_headers = r->complete = r->expect_continue = 0;
    r->header_bytes = 0;
    r->error_status = 0;
    enum http_errno e = HTTP_PARSER_ERRNO(&r->parser);
    if (e == HPE_PAUSED) {
        http_parser_pause(&r->parser, 0);
    } else if (e != HPE_OK || r->parser.upgrade) {
        http_parser_init(&r->parser, HTTP_REQUEST);
        r->parser.data = r;
    }
}

void http_reader_shrink(struct http_reader *r)
{
    buf_deinit(&r->req.url);
    buf_deinit(&r->req.hdrs);
    buf_deinit(&r->req.body);
}

int http_reader_feed(struct http_reader *r, const char *data, size_t len, size_t *consumed)
{
    *consumed = 0;
    if (r->error_status) return -r->error_status;
    if (r->complete) return HTTP_READ_DONE;
    size_t n = http_parser_execute(&r->parser, &settings, data, len);
    enum http_errno e = HTTP_PARSER_ERRNO(&r->parser);
    *consumed = n;
    if (r->complete) {
        /* http-parser reports the byte that completed the message as parsed only when it was
         * not paused on it; with pause it stops right after, so n is exact in both cases. */
        return HTTP_READ_DONE;
    }
    if (r->error_status) return -r->error_status;
    if (e != HPE_OK) {
        r->error_status = 400;
        return -400;
    }
    if (r->parser.upgrade) { /* Upgrade without body: headers complete = message */
        r->complete = 1;
        return HTTP_READ_DONE;
    }
    return HTTP_READ_MORE;
}

const char *http_req_header(const struct http_req *req, const char *name, size_t *len)
{
    const char *p = req->hdrs.data, *end = p + req->hdrs.len;
    while (p && p < end && *p) {
        const char *v = p + strlen(p) + 1;
        if (v >= end) break;
        size_t vl = strlen(v);
        if (!strcmp(p, name)) {
            if (len) *len = vl;
            return v;
        }
        p = v + vl + 1;
    }
    return NULL;
}

const char *http_req_path(const struct http_req *req, size_t *len)
{
    const char *u = req->url.data ? req->url.data : "";
    const char *q = memchr(u, '?', req->url.len);
    *len = q ? (size_t)(q - u) : req->url.len;
    return u;
}

const char *http_status_text(int status)
{
    switch (status) {
    case 101:
        return "Switching Protocols";
    case 200:
        return "OK";
    case 204:
        return "No Content";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 408:
        return "Request Timeout";
    case 409:
        return "Conflict";
    case 413:
        return "Payload Too Large";
    case 426:
        return "Upgrade Required";
    case 429:
        return "Too Many Requests";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    case 504:
        return "Gateway Timeout";
    default:
        return "Unknown";
    }
}

void http_append_status(struct buf *out, int status)
{
    buf_printf(out, "HTTP/1.1 %d %s\r\n", status, http_status_text(status));
}
