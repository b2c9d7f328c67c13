/* models.h -- the models live workers serve, read from their heartbeats (P worker:<id>,
 * docs/QUEUE.md "Worker registry"): GET /v1/models, the model a request without one runs
 * under, and the 404 for a model nobody serves. Refreshed each second from the tick and on
 * /v1/models. It does not route: any worker still takes any job from the lanes. */
#ifndef LLMQ_GATEWAY_MODELS_H
#define LLMQ_GATEWAY_MODELS_H

#include "common/err.h"

#include <jansson.h>

struct gateway;
struct http_conn;

/* Served-model knowledge older than this is not trusted for a 404 (Redis down, tick late). */
#define MODELS_FRESH_MS 5000

/* Picks the model name a request runs under. named: the client's "model" ("" when it sent
 * none). served: object whose keys are the models of live workers (NULL = not known).
 * fallback: --default-model ("" = none). An unnamed request gets fallback, else the one
 * served model when exactly one is served, else "default". A named model is kept unless
 * served holds at least one model and not this one: then NULL (404 model_not_found; with no
 * live worker every name is accepted, workers may be scaling from zero). The result is
 * borrowed from the arguments (or static); pure, so unit-tested. */
const char *models_pick(const char *named, const json_t *served, const char *fallback);

/* models_pick against the gateway's last refresh (treated as unknown when older than
 * MODELS_FRESH_MS) and its --default-model. *model is the client's ("" = none) and becomes
 * the name to run under, borrowed until the next refresh callback. Returns 0, or
 * LLMQ_ENOTFOUND with *model unchanged and e->msg the client-facing 404 message. */
int models_resolve(struct gateway *gw, const char **model, struct err *e);

/* Starts a refresh (SMEMBERS P workers, MGET their heartbeats) unless one is in flight. */
void models_refresh(struct gateway *gw);

/* GET /v1/models: from the cache when it is under a second old, else after a refresh. */
void models_http(struct http_conn *c);

/* Frees the cache and the waiter list (gateway_deinit). */
void models_deinit(struct gateway *gw);

#endif
