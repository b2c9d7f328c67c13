/* stream.h -- one client's view of one request: where its tokens go (an SSE response, a JSON
 * body being accumulated, or a request on a WebSocket), which index comes next, and the
 * tokens merged while the client's socket is busy. The request-id table routes token events
 * (fanout.c) to streams; several streams may follow one request (resume, idempotent retry).
 *
 * Output discipline: events only append to s->pend and mark the stream dirty; the loop's
 * check phase (or the end of the connection's write) formats what is pending into ONE
 * event / message per stream and writes once per connection. Indices are delivered in
 * order without gaps or repeats: an index below next_index is dropped (a retried job
 * restarts at 0). */
#ifndef LLMQ_GATEWAY_STREAM_H
#define LLMQ_GATEWAY_STREAM_H

#include "common/buf.h"

#include <stddef.h>
#include <stdint.h>

struct gateway;
struct http_conn;

enum stream_kind {
    STREAM_KIND_SSE,  /* text/event-stream response */
    STREAM_KIND_JSON, /* one JSON body at the end */
    STREAM_KIND_WS,   /* messages on a WebSocket */
};

enum stream_state {
    STREAM_STATE_PENDING, /* job creation in flight; events are held */
    STREAM_STATE_LIVE,    /* headers / accepted sent; events flow */
    STREAM_STATE_ENDED,   /* final bytes formatted; freed at the next flush */
};

struct stream {
    struct gateway *gw;               /* borrowed */
    struct http_conn *conn;           /* borrowed; NULL once the connection closed */
    struct stream *hnext;             /* request-id table chain */
    struct stream *cnext, *cprev;     /* the connection's streams */
    struct stream *anext, *aprev;     /* gw->all_streams */
    struct stream *dnext, *dprev;     /* gw->dirty list */
    struct stream *fnext;             /* gw->followers list */
    struct stream *dl_next, *dl_prev; /* gw->deadlines: streams with a deadline */
    struct stream *pg_next, *pg_prev; /* gw->pings: SSE streams, least recently written first */
    int in_dl, in_pg;
    int dirty, following, in_table;
    uint64_t serial; /* unique per stream: async replies find "their" stream by it */
    enum stream_kind kind;
    enum stream_state state;
    int chat; /* chat chunk shapes */
    int include_usage;
    int role_sent;       /* chat: the first delta (with role) was written */
    int model_guessed;   /* the client named no model: the worker's `r` record names it */
    int chunked;         /* SSE: chunked framing (HTTP/1.1); else end = close */
    int owned;           /* this gateway created the job (tokens come by pub/sub) */
    int cancel_on_close; /* publish a cancel when the client goes away early */
    char rid[72];        /* request id (keys_id_valid) */
    char cid[72];        /* WebSocket client id (already JSON-safe: validated) */
    char trace_id[40];
    char key_id[24];
    struct buf head;      /* owned: SSE chunk front (sse_head); JSON and WS write their own */
    char *model;          /* owned */
    uint64_t created_s;   /* unix seconds, OpenAI "created" */
    uint64_t received_us; /* wall clock the request arrived */
    uint64_t enqueued_us; /* wall clock the job was sent to Redis */
    uint64_t received_mono_us;
    uint64_t first_token_mono_us;
    uint64_t last_token_mono_us;
    uint64_t deadline_ms;     /* loop time (uv_now) of the deadline; 0 = none */
    uint64_t last_write_ms;   /* loop time of the last bytes for this stream (pings) */
    long long backlog_tokens; /* prompt/4 + max_tokens counted in gw->backlog_tokens
                                 until released (0 after; owned streams only) */
    uint32_t next_index;      /* next token index the client has not been sent */
    uint32_t pend_index;      /* first index in pend (valid when pend_count > 0) */
    uint32_t pend_count;      /* tokens merged in pend */
    struct buf pend;          /* owned: merged token text not yet written */
    struct buf text;          /* owned: JSON kind: the whole completion text */
    /* end of the request, once known */
    int finished;     /* a done or error event arrived */
    int error_status; /* HTTP status of an error end (504 timeout, 500, ...) */
    char finish_reason[24];
    char err_code[24];
    char *err_msg;   /* owned */
    char *done_json; /* owned: the worker's done payload */
    uint32_t total_tokens;
    char follow_id[48];  /* XREAD position in P out:<id> */
    uint32_t skip_below; /* resume: indices below this were already seen by the client */
};

/* Creates a stream for conn (NULL allowed for tests) and links it into the connection and
 * the gateway lists. The request id must be valid; it is registered in the table at once,
 * so events that race the job creation are not lost (they wait in PENDING). */
struct stream *stream_new(struct gateway *gw, struct http_conn *conn, enum stream_kind kind,
                          int chat, const char *rid, const char *model);
/* Unlinks and frees. NULL is a no-op. Does not publish a cancel (see stream_abandon). */
void stream_free(struct stream *s);

/* The job exists: send the response headers / accepted message and release held events. */
void stream_start(struct stream *s, long long queue_depth);
/* Ends the stream with an error (before or after start): HTTP error response when nothing was
 * sent yet, else an error event / message. code is PROTOCOL.md's ("timeout", "internal", ...). */
void stream_fail(struct stream *s, int status, const char *code, const char *message,
                 long long retry_after_ms);
/* The client is gone or cancelled: publish a cancel if the request is unfinished, free. */
void stream_abandon(struct stream *s);
/* Takes s's estimate out of the gateway's backlog (llmq_queue_backlog_tokens), once: at its
 * first token, its end, an idempotent re-attach, or when it is freed, whichever is first. */
void stream_backlog_release(struct stream *s);

/* Event delivery (fanout.c / resume). text is borrowed for the call. */
void stream_on_tokens(struct stream *s, uint32_t index, uint32_t count, const char *text,
                      size_t len);
void stream_on_done(struct stream *s, uint32_t total, const char *json, size_t len);
void stream_on_error(struct stream *s, uint32_t sent, const char *json, size_t len);
/* `r` record (JSON {"worker":..,"model":..,..}): a stream whose client named no model takes
 * the running worker's, unless tokens already went out under the guessed name. */
void stream_on_running(struct stream *s, const char *json, size_t len);

/* Re-keys s under another request id (an idempotent retry attaching to the original). */
void stream_set_rid(struct stream *s, const char *rid);

/* Request-id table: the first stream of request rid[0..len), NULL when none; the next one
 * after s (several streams may follow one request). */
struct stream *stream_find(struct gateway *gw, const char *rid, size_t len);
struct stream *stream_find_next(struct stream *s, const char *rid, size_t len);
/* The stream of request rid with this serial, NULL once it was freed: how an asynchronous
 * reply finds the stream it was sent for. */
struct stream *stream_find_serial(struct gateway *gw, const char *rid, uint64_t serial);
void stream_table_init(struct gateway *gw);
void stream_table_deinit(struct gateway *gw);

/* Formats and writes what dirty streams have pending (loop check phase). */
void stream_flush_dirty(struct gateway *gw);
/* The connection's write finished: format what its streams merged meanwhile. */
void stream_conn_drained(struct http_conn *c);
/* Gives s a deadline (loop time, ms): the sweep fails it with timeout then. */
void stream_set_deadline(struct stream *s, uint64_t deadline_ms);
/* Periodic sweep: deadlines (504 / timeout), SSE pings. Touches only streams with a
 * deadline and SSE streams due for a ping, never every stream. */
void stream_sweep(struct gateway *gw, uint64_t now_ms);
/* The connection closed: abandon every stream on it. */
void stream_conn_closed(struct http_conn *c);

/* Publishes a cancel for rid (and marks a still-queued job cancelled). */
void stream_publish_cancel(struct gateway *gw, const char *rid);

#endif
