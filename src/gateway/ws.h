/* ws.h -- WebSocket (RFC 6455) for the gateway: the upgrade handshake, a wslay-based session
 * that reassembles client frames into messages and answers control frames, hand-built
 * server frames for our own messages (server frames are unmasked, so framing is a 2-10 byte
 * header; building them directly avoids wslay's per-message queue and copy), and the
 * multiplexed llmq.v1 protocol (generate / cancel / resume; accepted / token / done / error).
 * The session is socket-free so the fuzzer drives it with bytes. */
#ifndef LLMQ_GATEWAY_WS_H
#define LLMQ_GATEWAY_WS_H

#include "common/buf.h"
#include "common/err.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

struct http_conn;
struct http_req;
struct ws_session;

/* Sec-WebSocket-Accept for a Sec-WebSocket-Key: base64(SHA-1(key + GUID)), 28 chars + NUL. */
void ws_accept_key(const char *key, size_t len, char out[29]);

/* Appends a final, unmasked server frame header for a payload of len bytes. */
void ws_frame_header(struct buf *out, int opcode, size_t len);

/* Called with each complete text message; msg is valid during the call. */
typedef void ws_text_fn(void *ud, const char *msg, size_t len);

/* A session writes its control frames (pong, close) to *out (borrowed; outlives it) and
 * delivers text messages up to max_msg bytes to fn. Returns 0 or -ENOMEM. */
int ws_session_new(struct ws_session **out, struct buf *out_buf, size_t max_msg, ws_text_fn *fn,
                   void *ud);
void ws_session_free(struct ws_session *ws); /* NULL is a no-op */
/* Feeds received bytes. Returns 0 while the connection goes on, 1 when it is finished (close
 * handshake done or a protocol error answered with a close frame: flush *out, then close). */
int ws_session_feed(struct ws_session *ws, const char *data, size_t len);
/* Queues a close frame with code and reason and writes it to *out. */
void ws_session_close(struct ws_session *ws, uint16_t code, const char *reason);

enum ws_msg_type { WS_MSG_GENERATE, WS_MSG_CANCEL, WS_MSG_RESUME };

/* A parsed client message. id is the client's id JSON-escaped (may be "" when absent). */
struct ws_msg {
    enum ws_msg_type type;
    json_t *root; /* owned reference */
    char id[72];
    char request_id[72]; /* resume: "request_id" (else the id is used) */
    int64_t after;       /* resume: last index the client has; -1 = from the start */
};

/* Parses one text message. Returns 0, or LLMQ_EFORMAT with e->msg (and m->id filled when the
 * message had a usable id, so the error can name the request). */
int ws_msg_parse(struct ws_msg *m, const char *data, size_t len, struct err *e);
void ws_msg_deinit(struct ws_msg *m);

/* Connection side (conn.c / route.c / stream.c). */
void ws_upgrade(struct http_conn *c); /* answers 101 or an error */
void ws_conn_read(struct http_conn *c, const char *data, size_t len);
void ws_send_text(struct http_conn *c, const char *json, size_t len);
void ws_send_accepted(struct http_conn *c, const char *cid, const char *rid, long long queue_depth);
void ws_send_token(struct http_conn *c, const char *cid, uint32_t index, uint32_t count,
                   const char *text, size_t len);
void ws_send_error(struct http_conn *c, const char *cid, const char *code, const char *message,
                   long long retry_after_ms);

#endif
