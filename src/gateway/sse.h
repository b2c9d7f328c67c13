/* sse.h -- Server-Sent Events framing of OpenAI streaming chunks, written by hand into a buf.
 * Each token event is "id: <request-id>:<index>\ndata: {chunk}\n\n" where the chunk is exactly
 * what OpenAI SDKs parse (chat.completion.chunk / text_completion). Knows nothing of sockets
 * or Redis; stream.c decides when to call it. */
#ifndef LLMQ_GATEWAY_SSE_H
#define LLMQ_GATEWAY_SSE_H

#include "common/buf.h"

#include <stddef.h>
#include <stdint.h>

/* Appends the constant front of every chunk of one response to head:
 * {"id":"chatcmpl-<rid>","object":"chat.completion.chunk","created":N,"model":"m","choices":[
 * (or "cmpl-" / "text_completion"). Computed once per stream, so no per-token escaping. */
void sse_head(struct buf *head, int chat, const char *rid, uint64_t created_s, const char *model);
/* The same front for a non-streaming response body ("chat.completion" / "text_completion"). */
void sse_body_head(struct buf *out, int chat, const char *rid, uint64_t created_s,
                   const char *model);

/* One token event: id <rid>:<last_index>, text JSON-escaped. first_chat adds
 * "role":"assistant" to the delta (the first chat chunk). */
void sse_token(struct buf *out, const struct buf *head, int chat, const char *rid,
               uint32_t last_index, const char *text, size_t len, int first_chat);
/* The final chunk with finish_reason (delta {} / text ""), id <rid>:<index>. */
void sse_finish(struct buf *out, const struct buf *head, int chat, const char *rid, uint32_t index,
                const char *finish_reason, int first_chat);
/* The usage chunk (choices [] + usage) sent when stream_options.include_usage. */
void sse_usage(struct buf *out, const struct buf *head, const char *rid, uint32_t index,
               long long prompt_tokens, long long completion_tokens);
/* "data: [DONE]\n\n" */
void sse_done(struct buf *out);
/* An OpenAI error object as a data event (what SDKs raise mid-stream). */
void sse_error(struct buf *out, const char *message, const char *type, const char *code);
/* The keep-alive comment ": ping\n\n". */
void sse_ping(struct buf *out);

/* Writes v in decimal (no NUL) into out (>= 10 bytes); returns the length. snprintf costs
 * more than the rest of a token event. */
size_t sse_u32(char *out, uint32_t v);

/* Parses a Last-Event-ID value "<request-id>:<index>". Writes the id (NUL-terminated, at most
 * id_cap-1 bytes) and the index. Returns 0 or -EINVAL. */
int sse_parse_last_event_id(const char *v, size_t len, char *id, size_t id_cap, uint32_t *index);

#endif
