/* fuzz_ws.c -- WebSocket frames and messages: bytes go through the wslay session (masking,
 * fragmentation, control frames, UTF-8, size limit) and each complete message through the
 * llmq.v1 message parser and, for generate, the request validator. */
#include "gateway/openai.h"
#include "gateway/ws.h"

#include <stdint.h>
#include <string.h>

static void on_text(void *ud, const char *msg, size_t len)
{
    static const struct openai_limits lim = {.max_tokens_default = 16, .max_tokens_limit = 4096};
    struct ws_msg m;
    struct err e = {0};
    if (ws_msg_parse(&m, msg, len, &e) == 0 && m.type == WS_MSG_GENERATE) {
        struct openai_request r;
        if (openai_parse_json(&r, m.root, -1, &lim, &e) == 0) openai_request_deinit(&r);
    }
    ws_msg_deinit(&m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct buf out;
    buf_init(&out);
    struct ws_session *ws;
    if (ws_session_new(&ws, &out, 4096, on_text, NULL) != 0) return 0;
    /* feed in two parts so frame headers split across reads are covered */
    size_t half = size ? data[0] % (size + 1) : 0;
    if (ws_session_feed(ws, (const char *)data, half) == 0)
        ws_session_feed(ws, (const char *)data + half, size - half);
    ws_session_free(ws);
    buf_deinit(&out);
    return 0;
}
