/* ws.c -- WebSocket handshake, session (wslay for the receive side and control frames) and the
 * llmq.v1 message protocol. Our data messages are framed by hand straight into the
 * connection's output buffer (see ws.h); wslay only ever writes whole control frames there,
 * so the two never interleave inside a frame. */
#include "gateway/ws.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "gateway/admit.h"
#include "gateway/auth.h"
#include "gateway/conn.h"
#include "gateway/fanout.h"
#include "gateway/gw.h"
#include "gateway/models.h"
#include "gateway/sse.h"
#include "gateway/stream.h"
#include "queue/keys.h"

#include <inttypes.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <wslay/wslay.h>

/* ---------------------------------------------------------------- handshake + frames */

void ws_accept_key(const char *key, size_t len, char out[29])
{
    static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned int dl = 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    EVP_DigestInit_ex(ctx, EVP_sha1(), NULL);
    EVP_DigestUpdate(ctx, key, len);
    EVP_DigestUpdate(ctx, guid, sizeof(guid) - 1);
    EVP_DigestFinal_ex(ctx, d, &dl);
    EVP_MD_CTX_free(ctx);
    EVP_EncodeBlock((unsigned char *)out, d, (int)dl); /* 28 chars + NUL */
}

void ws_frame_header(struct buf *out, int opcode, size_t len)
{
    unsigned char h[10];
    size_t n;
    h[0] = (unsigned char)(0x80 | (opcode & 0x0f));
    if (len < 126) {
        h[1] = (unsigned char)len;
        n = 2;
    } else if (len <= 0xffff) {
        h[1] = 126;
        h[2] = (unsigned char)(len >> 8);
        h[3] = (unsigned char)len;
        n = 4;
    } else {
        h[1] = 127;
        for (int i = 0; i < 8; i++)
            h[2 + i] = (unsigned char)((uint64_t)len >> (56 - 8 * i));
        n = 10;
    }
    buf_append(out, h, n);
}

/* ---------------------------------------------------------------- session */

struct ws_session {
    wslay_event_context_ptr ctx;
    struct buf *out; /* borrowed */
    const char *in;  /* bytes being fed (during ws_session_feed only) */
    size_t in_len;
    ws_text_fn *fn;
    void *ud;
};

static ssize_t on_recv(wslay_event_context_ptr ctx, uint8_t *b, size_t len, int flags, void *ud)
{
    struct ws_session *ws = ud;
    if (ws->in_len == 0) {
        wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
        return -1;
    }
    size_t n = len < ws->in_len ? len : ws->in_len;
    memcpy(b, ws->in, n);
    ws->in += n;
    ws->in_len -= n;
    return (ssize_t)n;
}

static ssize_t on_send(wslay_event_context_ptr ctx, const uint8_t *data, size_t len, int flags,
                       void *ud)
{
    struct ws_session *ws = ud;
    buf_append(ws->out, data, len);
    return (ssize_t)len;
}

static void on_msg(wslay_event_context_ptr ctx, const struct wslay_event_on_msg_recv_arg *arg,
                   void *ud)
{
    struct ws_session *ws = ud;
    if (arg->opcode == WSLAY_TEXT_FRAME) {
        ws->fn(ws->ud, (const char *)arg->msg, arg->msg_length);
    } else if (arg->opcode == WSLAY_BINARY_FRAME) {
        wslay_event_queue_close(ctx, WSLAY_CODE_UNSUPPORTED_DATA,
                                (const uint8_t *)"text frames only", 16);
    }
}

int ws_session_new(struct ws_session **out, struct buf *out_buf, size_t max_msg, ws_text_fn *fn,
                   void *ud)
{
    static const struct wslay_event_callbacks cbs = {
        .recv_callback = on_recv,
        .send_callback = on_send,
        .on_msg_recv_callback = on_msg,
    };
    struct ws_session *ws = xcalloc(1, sizeof(*ws));
    ws->out = out_buf;
    ws->fn = fn;
    ws->ud = ud;
    if (wslay_event_context_server_init(&ws->ctx, &cbs, ws) != 0) {
        free(ws);
        return -ENOMEM;
    }
    wslay_event_config_set_max_recv_msg_length(ws->ctx, max_msg);
    *out = ws;
    return 0;
}

void ws_session_free(struct ws_session *ws)
{
    if (!ws) return;
    wslay_event_context_free(ws->ctx);
    free(ws);
}

int ws_session_feed(struct ws_session *ws, const char *data, size_t len)
{
    ws->in = data;
    ws->in_len = len;
    int rc = wslay_event_recv(ws->ctx);
    ws->in = NULL;
    ws->in_len = 0;
    if (rc != 0) return 1;
    if (wslay_event_want_write(ws->ctx)) wslay_event_send(ws->ctx);
    if (!wslay_event_want_read(ws->ctx)) return 1;
    return 0;
}

void ws_session_close(struct ws_session *ws, uint16_t code, const char *reason)
{
    wslay_event_queue_close(ws->ctx, code, (const uint8_t *)reason, reason ? strlen(reason) : 0);
    wslay_event_send(ws->ctx);
}

/* ---------------------------------------------------------------- messages */

/* JSON-escapes s into dst (cap bytes); returns -1 when it does not fit. */
static int escape_id(const char *s, size_t n, char *dst, size_t cap)
{
    struct buf b;
    buf_init(&b);
    buf_append_json_str(&b, s, n);
    int ok = b.len < cap;
    if (ok) memcpy(dst, b.data, b.len + 1);
    buf_deinit(&b);
    return ok ? 0 : -1;
}

int ws_msg_parse(struct ws_msg *m, const char *data, size_t len, struct err *e)
{
    memset(m, 0, sizeof(*m));
    m->after = -1;
    json_error_t je;
    json_t *root = json_loadb(data, len, JSON_REJECT_DUPLICATES, &je);
    if (!root)
        return err_set(e, LLMQ_EFORMAT, "invalid JSON at line %d column %d: %s", je.line, je.column,
                       je.text);
    m->root = root;
    if (!json_is_object(root)) return err_set(e, LLMQ_EFORMAT, "message: must be a JSON object");
    json_t *id = json_object_get(root, "id");
    if (id && !json_is_null(id)) {
        if (!json_is_string(id) || json_string_length(id) == 0 || json_string_length(id) > 64)
            return err_set(e, LLMQ_EFORMAT, "id: must be a string of 1..64 bytes");
        if (escape_id(json_string_value(id), json_string_length(id), m->id, sizeof(m->id)) < 0)
            return err_set(e, LLMQ_EFORMAT, "id: too long once escaped");
    }
    json_t *type = json_object_get(root, "type");
    if (!type || !json_is_string(type))
        return err_set(e, LLMQ_EFORMAT, "type: must be one of generate, cancel, resume");
    const char *t = json_string_value(type);
    if (!strcmp(t, "generate")) {
        m->type = WS_MSG_GENERATE;
    } else if (!strcmp(t, "cancel")) {
        m->type = WS_MSG_CANCEL;
        if (!m->id[0]) return err_set(e, LLMQ_EFORMAT, "id: required for cancel");
    } else if (!strcmp(t, "resume")) {
        m->type = WS_MSG_RESUME;
        json_t *rid = json_object_get(root, "request_id");
        const char *r = NULL;
        size_t rl = 0;
        if (rid && json_is_string(rid)) {
            r = json_string_value(rid);
            rl = json_string_length(rid);
        } else if (id && json_is_string(id)) {
            r = json_string_value(id);
            rl = json_string_length(id);
        }
        if (!r || !keys_id_valid(r, rl))
            return err_set(e, LLMQ_EFORMAT,
                           "request_id: a valid request id is required for resume");
        memcpy(m->request_id, r, rl);
        m->request_id[rl] = 0;
        if (!m->id[0]) memcpy(m->id, r, rl + 1);
        json_t *after = json_object_get(root, "after");
        if (after && !json_is_null(after)) {
            if (!json_is_integer(after) || json_integer_value(after) < -1 ||
                json_integer_value(after) > UINT32_MAX)
                return err_set(e, LLMQ_EFORMAT, "after: must be an integer >= -1");
            m->after = (int64_t)json_integer_value(after);
        }
    } else {
        return err_set(e, LLMQ_EFORMAT, "type: must be one of generate, cancel, resume");
    }
    return 0;
}

void ws_msg_deinit(struct ws_msg *m)
{
    if (m->root) json_decref(m->root);
    m->root = NULL;
}

/* ---------------------------------------------------------------- connection side */

void ws_send_text(struct http_conn *c, const char *json, size_t len)
{
    ws_frame_header(&c->out, WSLAY_TEXT_FRAME, len);
    buf_append(&c->out, json, len);
}

/* Formats a message into the connection's buffer after a reserved 4-byte header slot:
 * messages under 64 KiB (all but huge merges) then need no memmove. */
static size_t msg_begin(struct http_conn *c)
{
    size_t at = c->out.len;
    buf_append(&c->out, "\x81\x7e\0\0", 4);
    return at;
}

static void msg_end(struct http_conn *c, size_t at)
{
    size_t n = c->out.len - at - 4;
    unsigned char *h = (unsigned char *)c->out.data + at;
    if (n < 126) {
        h[1] = (unsigned char)n;
        memmove(h + 2, h + 4, n);
        c->out.len -= 2;
        c->out.data[c->out.len] = 0;
    } else if (n <= 0xffff) {
        h[2] = (unsigned char)(n >> 8);
        h[3] = (unsigned char)n;
    } else {
        buf_reserve(&c->out, 6);
        h = (unsigned char *)c->out.data + at;
        memmove(h + 10, h + 4, n);
        h[1] = 127;
        for (int i = 0; i < 8; i++)
            h[2 + i] = (unsigned char)((uint64_t)n >> (56 - 8 * i));
        c->out.len += 6;
        c->out.data[c->out.len] = 0;
    }
}

void ws_send_accepted(struct http_conn *c, const char *cid, const char *rid, long long queue_depth)
{
    size_t at = msg_begin(c);
    buf_printf(&c->out,
               "{\"type\":\"accepted\",\"id\":\"%s\",\"request_id\":\"%s\",\"queue_depth\":%lld}",
               cid, rid, queue_depth);
    msg_end(c, at);
}

void ws_send_token(struct http_conn *c, const char *cid, uint32_t index, uint32_t count,
                   const char *text, size_t len)
{
    buf_reserve(&c->out, len + len / 8 + 96);
    size_t at = msg_begin(c);
    buf_append(&c->out, "{\"type\":\"token\",\"id\":\"", 22);
    buf_append_str(&c->out, cid);
    char tmp[64];
    size_t n = 0;
    memcpy(tmp, "\",\"index\":", 10);
    n = 10 + sse_u32(tmp + 10, index);
    if (count > 1) {
        memcpy(tmp + n, ",\"count\":", 9);
        n += 9;
        n += sse_u32(tmp + n, count);
    }
    memcpy(tmp + n, ",\"text\":\"", 9);
    n += 9;
    buf_append(&c->out, tmp, n);
    buf_append_json_str(&c->out, text, len);
    buf_append(&c->out, "\"}", 2);
    msg_end(c, at);
}

void ws_send_error(struct http_conn *c, const char *cid, const char *code, const char *message,
                   long long retry_after_ms)
{
    size_t at = msg_begin(c);
    buf_append_str(&c->out, "{\"type\":\"error\",\"id\":");
    if (cid && *cid)
        buf_printf(&c->out, "\"%s\"", cid);
    else
        buf_append_str(&c->out, "null");
    buf_printf(&c->out, ",\"code\":\"%s\",\"message\":\"", code);
    buf_append_json_str(&c->out, message, strlen(message));
    buf_append_char(&c->out, '"');
    if (retry_after_ms > 0) buf_printf(&c->out, ",\"retry_after_ms\":%lld", retry_after_ms);
    buf_append_char(&c->out, '}');
    msg_end(c, at);
}

static struct stream *find_cid(struct http_conn *c, const char *cid)
{
    for (struct stream *s = c->streams; s; s = s->cnext)
        if (!strcmp(s->cid, cid)) return s;
    return NULL;
}

static void on_generate(struct http_conn *c, struct ws_msg *m)
{
    struct gateway *gw = c->gw;
    struct err e = {0};
    char gen_id[40];
    if (!m->id[0]) {
        gateway_new_id(gen_id);
        snprintf(m->id, sizeof(m->id), "%s", gen_id);
    }
    if (find_cid(c, m->id)) {
        ws_send_error(c, m->id, "bad_request",
                      "id: a request with this id is already running on this socket", 0);
        return;
    }
    struct admit_reject rej;
    if (admit_check(gw, c->key_id, &rej) < 0) {
        ws_send_error(c, m->id, rej.code, rej.message, rej.retry_after_ms);
        return;
    }
    struct openai_request r;
    if (openai_parse_json(&r, m->root, -1, &gw->limits, &e) < 0) {
        gateway_count_rejection(gw, "bad_request");
        ws_send_error(c, m->id, "bad_request", e.msg, 0);
        return;
    }
    int guessed = !r.model[0];
    if (models_resolve(gw, &r.model, &e) < 0) {
        openai_request_deinit(&r);
        gateway_count_rejection(gw, "model_not_found");
        ws_send_error(c, m->id, "model_not_found", e.msg, 0);
        return;
    }
    char rid[40];
    gateway_new_id(rid);
    struct stream *s = stream_new(gw, c, STREAM_KIND_WS, r.kind == OPENAI_KIND_CHAT, rid, r.model);
    s->model_guessed = guessed;
    snprintf(s->cid, sizeof(s->cid), "%s", m->id);
    admit_enqueue(gw, s, &r, NULL, NULL);
    openai_request_deinit(&r);
}

static void on_cancel(struct http_conn *c, struct ws_msg *m)
{
    struct stream *s = find_cid(c, m->id);
    if (!s) {
        ws_send_error(c, m->id, "bad_request", "id: no running request with this id on this socket",
                      0);
        return;
    }
    if (!s->finished) stream_publish_cancel(c->gw, s->rid);
    size_t at = msg_begin(c);
    buf_printf(
        &c->out,
        "{\"type\":\"done\",\"id\":\"%s\",\"request_id\":\"%s\",\"finish_reason\":\"cancelled\","
        "\"usage\":{\"prompt_tokens\":0,\"completion_tokens\":%" PRIu32 "}}",
        s->cid, s->rid, s->next_index);
    msg_end(c, at);
    stream_free(s);
}

static void on_resume(struct http_conn *c, struct ws_msg *m)
{
    struct gateway *gw = c->gw;
    struct stream *old = find_cid(c, m->id);
    if (old) stream_free(old); /* the client restarts this id from `after` */
    struct stream *s = stream_new(gw, c, STREAM_KIND_WS, 0, m->request_id, "");
    snprintf(s->cid, sizeof(s->cid), "%s", m->id);
    s->next_index = (uint32_t)(m->after + 1);
    fanout_resume(s);
}

static void on_text(void *ud, const char *msg, size_t len)
{
    struct http_conn *c = ud;
    struct ws_msg m;
    struct err e = {0};
    if (ws_msg_parse(&m, msg, len, &e) < 0) {
        gateway_count_rejection(c->gw, "bad_request");
        ws_send_error(c, m.id, "bad_request", e.msg, 0);
        ws_msg_deinit(&m);
        return;
    }
    switch (m.type) {
    case WS_MSG_GENERATE:
        on_generate(c, &m);
        break;
    case WS_MSG_CANCEL:
        on_cancel(c, &m);
        break;
    case WS_MSG_RESUME:
        on_resume(c, &m);
        break;
    }
    ws_msg_deinit(&m);
}

void ws_conn_read(struct http_conn *c, const char *data, size_t len)
{
    int rc = ws_session_feed(c->ws, data, len);
    if (rc != 0) c->close_after_write = 1;
    conn_flush(c);
}

static int header_has_token(const char *v, const char *token)
{
    size_t tl = strlen(token);
    while (v && *v) {
        while (*v == ' ' || *v == ',' || *v == '\t')
            v++;
        const char *t = v;
        while (*v && *v != ',')
            v++;
        const char *e = v;
        while (e > t && (e[-1] == ' ' || e[-1] == '\t'))
            e--;
        if ((size_t)(e - t) == tl && !strncasecmp(t, token, tl)) return 1;
    }
    return 0;
}

void ws_upgrade(struct http_conn *c)
{
    struct gateway *gw = c->gw;
    const struct http_req *req = &c->reader.req;
    const char *up = http_req_header(req, "upgrade", NULL);
    const char *conn = http_req_header(req, "connection", NULL);
    size_t key_len = 0;
    const char *key = http_req_header(req, "sec-websocket-key", &key_len);
    const char *ver = http_req_header(req, "sec-websocket-version", NULL);
    if (req->method != HTTP_GET) {
        conn_respond_error(c, 405, "invalid_request_error", "bad_request", NULL,
                           "GET required for /v1/ws", 0);
        return;
    }
    if (!up || strcasecmp(up, "websocket") || !conn || !header_has_token(conn, "upgrade")) {
        conn_respond_error(c, 426, "invalid_request_error", "bad_request", NULL,
                           "WebSocket upgrade required (Upgrade: websocket, Connection: Upgrade)",
                           0);
        return;
    }
    if (!ver || strcmp(ver, "13")) {
        static const char body[] = "{\"error\":{\"message\":\"Sec-WebSocket-Version: 13 required\","
                                   "\"type\":\"invalid_request_error\",\"param\":null,"
                                   "\"code\":\"bad_request\"}}";
        conn_respond(c, 426, "application/json", "Sec-WebSocket-Version: 13\r\n", body,
                     sizeof(body) - 1);
        return;
    }
    unsigned char raw[32];
    if (!key || key_len != 24 || EVP_DecodeBlock(raw, (const unsigned char *)key, 24) != 18) {
        conn_respond_error(c, 400, "invalid_request_error", "bad_request", NULL,
                           "Sec-WebSocket-Key: must be base64 of 16 bytes", 0);
        return;
    }
    size_t proto_len = 0;
    const char *proto = http_req_header(req, "sec-websocket-protocol", &proto_len);
    int llmq_v1 = proto && header_has_token(proto, "llmq.v1");
    if (proto && !llmq_v1) {
        conn_respond_error(c, 400, "invalid_request_error", "bad_request", NULL,
                           "Sec-WebSocket-Protocol: llmq.v1 is the only protocol", 0);
        return;
    }
    char accept[29];
    ws_accept_key(key, key_len, accept);
    if (ws_session_new(&c->ws, &c->out, (size_t)gw->cfg.max_body_bytes, on_text, c) < 0) {
        conn_respond_error(c, 503, "server_error", "internal", NULL, "out of memory", 1);
        return;
    }
    struct buf *o = &c->out;
    buf_append_str(o, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: "
                      "Upgrade\r\nSec-WebSocket-Accept: ");
    buf_append_str(o, accept);
    if (llmq_v1) buf_append_str(o, "\r\nSec-WebSocket-Protocol: llmq.v1");
    buf_append_str(o, "\r\nX-Request-Id: ");
    buf_append_str(o, c->request_id);
    buf_append_str(o, "\r\n\r\n");
    c->mode = CONN_MODE_WS;
    gateway_count_request(gw, "/v1/ws", 101);
    http_reader_shrink(&c->reader);
    conn_flush(c);
    if (c->in.len) { /* frames sent right behind the upgrade request */
        struct buf rest = c->in;
        buf_init(&c->in);
        ws_conn_read(c, rest.data, rest.len);
        buf_deinit(&rest);
    }
}
