/* openai.h -- OpenAI request validation and the normalised job JSON (docs/QUEUE.md "req").
 * openai_parse() checks a completion / chat request body (or a WebSocket generate message,
 * which has the same fields) and names the first bad field; openai_job_json() writes the
 * normalised request the worker runs, with every default filled in. Unknown fields are
 * ignored as OpenAI does; known fields of the wrong type or out of range are errors.
 * Response shapes (chunks, bodies) are written by sse.c and stream.c, not here. */
#ifndef LLMQ_GATEWAY_OPENAI_H
#define LLMQ_GATEWAY_OPENAI_H

#include "common/buf.h"
#include "common/err.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#define OPENAI_MAX_STOP 4

enum openai_kind { OPENAI_KIND_COMPLETION, OPENAI_KIND_CHAT };

struct openai_limits {
    long long max_tokens_default; /* used when the client gives none */
    long long max_tokens_limit;   /* larger values are a 400 */
    long long max_timeout_ms;     /* 0 = no cap; a larger timeout_ms is clamped to it */
    const char *model_default;    /* borrowed; model when the client gives none */
};

/* A validated request. Strings are borrowed from the json_t root the caller parsed, which
 * must outlive this struct (openai_request_deinit drops that reference). */
struct openai_request {
    enum openai_kind kind;
    json_t *root; /* owned reference to the parsed body */
    const char *model;
    const char *prompt; /* completion: the prompt; NULL for chat */
    size_t prompt_len;
    json_t *messages;    /* chat: the messages array (borrowed from root) */
    size_t prompt_chars; /* prompt or all message contents, bytes (backlog estimate) */
    long long max_tokens;
    double temperature, top_p, min_p;
    long long top_k;
    double presence_penalty, frequency_penalty, repetition_penalty;
    int has_seed;
    uint64_t seed;
    const char *stop[OPENAI_MAX_STOP];
    size_t stop_len[OPENAI_MAX_STOP];
    int n_stop;
    int stream;        /* bool */
    int include_usage; /* stream_options.include_usage */
    long long priority;
    long long timeout_ms; /* 0 = none (after clamping to max_timeout_ms) */
    const char *user;
};

/* Parses and validates body[0..len). kind is the endpoint's (for WebSocket pass -1: chat
 * when "messages" is present, else completion). Returns 0, or LLMQ_EFORMAT with e->msg a
 * client-facing sentence naming the field ("max_tokens: must be an integer >= 1").
 * On failure r holds nothing (openai_request_deinit is still safe). */
int openai_parse(struct openai_request *r, const char *body, size_t len, int kind,
                 const struct openai_limits *lim, struct err *e);
/* The same from an already parsed object (WebSocket). Takes a new reference to obj. */
int openai_parse_json(struct openai_request *r, json_t *obj, int kind,
                      const struct openai_limits *lim, struct err *e);
void openai_request_deinit(struct openai_request *r);

/* Appends the normalised job JSON (docs/QUEUE.md) to out. seed is used when the request
 * has none; deadline_us is the absolute wall-clock deadline or 0. */
void openai_job_json(const struct openai_request *r, uint64_t seed, uint64_t deadline_us,
                     struct buf *out);

/* Appends an OpenAI-shaped error body {"error":{"message":..,"type":..,"param":..,"code":..}}.
 * param may be NULL (written as null). */
void openai_error_json(struct buf *out, const char *message, const char *type, const char *param,
                       const char *code);

#endif
