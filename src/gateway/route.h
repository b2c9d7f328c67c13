/* route.h -- maps one parsed request to its handler: request id and trace context first, then
 * auth for /v1/..., then the endpoint. Small endpoints (health, readiness, metrics, the web
 * page, jobs) live in route.c; completions in admit.c; the WebSocket in ws.c; /v1/models in
 * models.c. */
#ifndef LLMQ_GATEWAY_ROUTE_H
#define LLMQ_GATEWAY_ROUTE_H

#include <stddef.h>

struct http_conn;

/* Handles c->reader.req. Either answers at once (conn_respond*) or keeps c->busy until an
 * asynchronous answer ends with conn_request_done. */
void route_request(struct http_conn *c);

/* Parses a W3C traceparent ("00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>").
 * Writes the trace id (32 hex + NUL) and returns 0, or -EINVAL. */
int route_traceparent(const char *v, size_t len, char trace_id[33]);

#endif
