/* http.h -- HTTP/1.1 request reading (http-parser glue) and response writing for the gateway.
 * http_reader turns bytes into one complete request at a time, enforcing the header and body
 * limits; it knows nothing of sockets, so the fuzzer and unit tests drive it directly.
 * http_conn (conn.c) owns the socket and feeds it. Pipelined requests are parsed one at a time:
 * the reader stops after each complete request and the rest stays in the caller's buffer. */
#ifndef LLMQ_GATEWAY_HTTP_H
#define LLMQ_GATEWAY_HTTP_H

#include "common/buf.h"

#include <http_parser.h>
#include <stddef.h>
#include <stdint.h>

struct http_req {
    int method;      /* enum http_method */
    struct buf url;  /* owned: request target as sent (path + query) */
    struct buf hdrs; /* owned: "name\0value\0" pairs, names lower-cased */
    struct buf body; /* owned */
    int keep_alive;  /* the client allows another request on this connection */
    int upgrade;     /* Connection: upgrade + Upgrade header present */
    int http_minor;
};

struct http_reader {
    http_parser parser;
    struct http_req req;
    size_t header_bytes;     /* bytes of the header section so far */
    size_t max_header_bytes; /* limit for the request line + headers (431 past it) */
    size_t max_body_bytes;   /* limit for the body (413 past it) */
    int last_was_value;      /* header callback state: 1 after a value, 0 after a name */
    int in_headers;          /* at least one header name seen */
    int complete;            /* a whole request has been read */
    int error_status;        /* 400 / 413 / 431 once the reader failed */
    int expect_continue;     /* headers asked for "Expect: 100-continue" (body not read yet) */
};

enum {
    HTTP_READ_MORE = 0, /* consumed everything, need more bytes */
    HTTP_READ_DONE = 1, /* one complete request in r->req; *consumed bytes used */
};

void http_reader_init(struct http_reader *r, size_t max_header_bytes, size_t max_body_bytes);
void http_reader_deinit(struct http_reader *r);
/* Clears the request for the next one on the same connection (keeps allocations). */
void http_reader_next(struct http_reader *r);
/* Frees the request buffers (for long-lived streams, to keep per-stream memory small). */
void http_reader_shrink(struct http_reader *r);
/* Parses data[0..len). Returns HTTP_READ_MORE, HTTP_READ_DONE (stops right after the request;
 * *consumed tells how far), or a negative value: -(HTTP status) to answer before closing
 * (-400 malformed, -413 body too large, -431 headers too large). */
int http_reader_feed(struct http_reader *r, const char *data, size_t len, size_t *consumed);

/* The value of header name (lower-case) or NULL; *len gets its length when non-NULL. */
const char *http_req_header(const struct http_req *req, const char *name, size_t *len);
/* The path of the request target without the query string; writes its length to *len. */
const char *http_req_path(const struct http_req *req, size_t *len);

/* Reason phrase for a status code ("OK", "Not Found", ...). */
const char *http_status_text(int status);
/* Appends "HTTP/1.1 <status> <reason>\r\n" plus the common headers (Date is omitted on
 * purpose: clients do not need it and it costs a clock read per response). */
void http_append_status(struct buf *out, int status);

#endif
