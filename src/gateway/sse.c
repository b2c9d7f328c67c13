/* sse.c -- SSE event formatting. Every function appends; none allocates beyond buf growth,
 * which settles after the first few events of a stream. */
#include "gateway/sse.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static void front(struct buf *out, int chat, const char *object, const char *rid,
                  uint64_t created_s, const char *model)
{
    buf_append_str(out, chat ? "{\"id\":\"chatcmpl-" : "{\"id\":\"cmpl-");
    buf_append_json_str(out, rid, strlen(rid));
    buf_printf(out, "\",\"object\":\"%s\",\"created\":%" PRIu64 ",\"model\":\"", object, created_s);
    buf_append_json_str(out, model, strlen(model));
    buf_append_str(out, "\",\"choices\":[");
}

void sse_head(struct buf *head, int chat, const char *rid, uint64_t created_s, const char *model)
{
    front(head, chat, chat ? "chat.completion.chunk" : "text_completion", rid, created_s, model);
}

void sse_body_head(struct buf *out, int chat, const char *rid, uint64_t created_s,
                   const char *model)
{
    front(out, chat, chat ? "chat.completion" : "text_completion", rid, created_s, model);
}

size_t sse_u32(char *out, uint32_t v)
{
    char tmp[10];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    for (size_t i = 0; i < n; i++)
        out[i] = tmp[n - 1 - i];
    return n;
}

static void put_id(struct buf *out, const char *rid, uint32_t index)
{
    char tmp[16];
    tmp[0] = ':';
    size_t n = 1 + sse_u32(tmp + 1, index);
    tmp[n++] = '\n';
    buf_append(out, "id: ", 4);
    buf_append_str(out, rid);
    buf_append(out, tmp, n);
}

void sse_token(struct buf *out, const struct buf *head, int chat, const char *rid,
               uint32_t last_index, const char *text, size_t len, int first_chat)
{
    buf_reserve(out, head->len + len + 128);
    put_id(out, rid, last_index);
    buf_append(out, "data: ", 6);
    buf_append(out, head->data, head->len);
    if (chat) {
        buf_append_str(out, first_chat
                                ? "{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\""
                                : "{\"index\":0,\"delta\":{\"content\":\"");
        buf_append_json_str(out, text, len);
        buf_append_str(out, "\"},\"logprobs\":null,\"finish_reason\":null}]}\n\n");
    } else {
        buf_append_str(out, "{\"index\":0,\"text\":\"");
        buf_append_json_str(out, text, len);
        buf_append_str(out, "\",\"logprobs\":null,\"finish_reason\":null}]}\n\n");
    }
}

void sse_finish(struct buf *out, const struct buf *head, int chat, const char *rid, uint32_t index,
                const char *finish_reason, int first_chat)
{
    put_id(out, rid, index);
    buf_append(out, "data: ", 6);
    buf_append(out, head->data, head->len);
    if (chat)
        buf_append_str(
            out, first_chat ? "{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},"
                            : "{\"index\":0,\"delta\":{},");
    else
        buf_append_str(out, "{\"index\":0,\"text\":\"\",");
    buf_append_str(out, "\"logprobs\":null,\"finish_reason\":\"");
    buf_append_json_str(out, finish_reason, strlen(finish_reason));
    buf_append_str(out, "\"}]}\n\n");
}

void sse_usage(struct buf *out, const struct buf *head, const char *rid, uint32_t index,
               long long prompt_tokens, long long completion_tokens)
{
    put_id(out, rid, index);
    buf_append(out, "data: ", 6);
    buf_append(out, head->data, head->len);
    buf_printf(out,
               "],\"usage\":{\"prompt_tokens\":%lld,\"completion_tokens\":%lld,\"total_tokens\":%"
               "lld}}\n\n",
               prompt_tokens, completion_tokens, prompt_tokens + completion_tokens);
}

void sse_done(struct buf *out)
{
    buf_append_str(out, "data: [DONE]\n\n");
}

void sse_error(struct buf *out, const char *message, const char *type, const char *code)
{
    buf_append_str(out, "data: {\"error\":{\"message\":\"");
    buf_append_json_str(out, message, strlen(message));
    buf_printf(out, "\",\"type\":\"%s\",\"param\":null,\"code\":\"%s\"}}\n\n", type, code);
}

void sse_ping(struct buf *out)
{
    buf_append(out, ": ping\n\n", 8);
}

int sse_parse_last_event_id(const char *v, size_t len, char *id, size_t id_cap, uint32_t *index)
{
    const char *colon = NULL;
    for (size_t i = len; i > 0; i--)
        if (v[i - 1] == ':') {
            colon = v + i - 1;
            break;
        }
    if (!colon || colon == v) return -EINVAL;
    size_t idl = (size_t)(colon - v);
    if (idl >= id_cap) return -EINVAL;
    const char *d = colon + 1, *end = v + len;
    if (d == end || end - d > 10) return -EINVAL;
    uint64_t x = 0;
    for (; d < end; d++) {
        if (*d < '0' || *d > '9') return -EINVAL;
        x = x * 10 + (uint64_t)(*d - '0');
    }
    if (x > UINT32_MAX) return -EINVAL;
    memcpy(id, v, idl);
    id[idl] = 0;
    *index = (uint32_t)x;
    return 0;
}
