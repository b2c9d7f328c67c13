/* load.c -- the load client of load.h: one uv loop, one uv_tcp_t per connection, hand-written
 * HTTP/1.1 (+ chunked), SSE and RFC 6455 client framing, so the client costs little CPU next
 * to the server it measures on the same two cores. JSON is scanned, not parsed: the client
 * only needs a few top-level fields of messages whose shape PROTOCOL.md fixes. */
#include "load.h"

#include "common/buf.h"
#include "common/hash.h"
#include "common/xalloc.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <uv.h>

enum { ST_PENDING, ST_SENT, ST_STREAMING, ST_DONE, ST_FAILED, ST_REJECTED };

struct stream {
    int idx;
    int state;
    long long next_index;      /* WS: next expected index; SSE: last index seen + 1 */
    long long usage_tokens;    /* -1 until the usage arrives */
    int bad_order;
    int accepted;              /* WS "accepted", SSE 200 head, or a first token */
    char rid[72];              /* the gateway's request id, once known (for resume) */
    struct buf text;           /* cfg->keep_text: the raw (JSON-escaped) text received */
    uint64_t hash;
    uint64_t t_start_us, t_first_us, t_end_us;
    uint64_t t_last_tok_us, max_gap_us; /* longest wait between two token records */
    struct conn *conn;
};

struct conn {
    uv_tcp_t tcp;
    uv_connect_t creq;
    struct run *run;
    struct stream **streams;   /* owned array of borrowed pointers (into run->streams) */
    int n_streams, open;
    struct buf in;             /* bytes not yet consumed */
    struct buf body;           /* SSE: de-chunked body not yet consumed */
    struct buf msg;            /* WS: message being assembled from fragments */
    int phase;                 /* 0 connecting, 1 reading head, 2 body / frames */
    int status;
    int chunked;
    long long chunk_left;      /* bytes left in the current chunk; -1 = reading a size line */
    int closing;
    int resume;                /* this connection resumes its streams after a lost one */
    int attempts_left;         /* reconnects still allowed for these streams */
};

/* A reconnect waiting for its delay (the gateway that died may be the only one). */
struct redial {
    uv_timer_t timer;          /* timer.data == this */
    struct run *run;
    struct stream **streams;   /* owned array */
    int n, attempts_left;
};

struct run {
    uv_loop_t loop;
    const struct load_cfg *cfg;
    struct load_result *r;
    struct stream *streams;
    int started, finished, accepted;
    uv_timer_t tick, deadline, hold;
    uint64_t t0_us, first_tok_us, last_tok_us;
    int held, conns_open, stopping, redials;
    uint64_t nonce;            /* makes Idempotency-Keys unique to this run */
    double next_arrival_ms;
    char slab[65536];          /* read buffer of every connection of this run (on_alloc) */
};

static uint64_t now_us(void) { return uv_hrtime() / 1000u; }

/* ---------------------------------------------------------------- JSON scanning */

/* Pointer to the value of the first "key": in s[0..n), or NULL. */
static const char *js_find(const char *s, size_t n, const char *key)
{
    size_t kl = strlen(key);
    for (const char *p = s; p + kl + 3 <= s + n; p++) {
        p = memchr(p, '"', (size_t)(s + n - p));
        if (!p || p + kl + 2 > s + n) return NULL;
        if (!memcmp(p + 1, key, kl) && p[kl + 1] == '"') {
            const char *q = p + kl + 2;
            while (q < s + n && (*q == ' ' || *q == ':')) q++;
            return q;
        }
    }
    return NULL;
}

/* A JSON string at p (raw, escapes kept): start and length. Returns 0 or -1. */
static int js_str(const char *p, const char *end, const char **start, size_t *len)
{
    if (!p || p >= end || *p != '"') return -1;
    const char *q = ++p;
    while (q < end && *q != '"') q += *q == '\\' ? 2 : 1;
    if (q >= end) return -1;
    *start = p;
    *len = (size_t)(q - p);
    return 0;
}

static long long js_int(const char *p, const char *end, long long def)
{
    if (!p || p >= end || !(isdigit((unsigned char)*p) || *p == '-')) return def;
    return strtoll(p, NULL, 10);
}

/* ---------------------------------------------------------------- bookkeeping */

static void conn_close(struct conn *c);
static void start_more(struct run *run);
static void open_conn(struct run *run, struct stream **list, int n, int resume, int attempts_left);
static int try_redial(struct conn *c);

static void stream_end(struct run *run, struct stream *s, int state, const char *why)
{
    if (s->state >= ST_DONE) return;
    s->t_end_us = now_us();
    struct load_result *r = run->r;
    if (state == ST_DONE) {
        if (s->bad_order) { r->dup_or_gap++; state = ST_FAILED; why = "token indices repeated or skipped"; }
        else if (s->usage_tokens >= 0 && s->usage_tokens != s->next_index) {
            r->usage_mismatch++;
            state = ST_FAILED;
            why = "usage.completion_tokens differs from tokens received";
        }
    }
    s->state = state;
    if (state == ST_DONE) {
        r->ok++;
        r->tokens += s->next_index;
        r->text_hash[s->idx] = s->hash ? s->hash : 1;
        r->tokens_per_stream[s->idx] = (int)s->next_index;
        r->max_gap_ms[s->idx] = (double)s->max_gap_us / 1000.0;
        if (run->cfg->keep_text) { r->texts[s->idx] = s->text.data ? s->text.data : xstrdup(""); buf_init(&s->text); }
    } else if (state == ST_REJECTED) {
        r->rejected++;
    } else {
        r->failed++;
        if (!r->first_error[0] && why) snprintf(r->first_error, sizeof(r->first_error), "stream %d: %s", s->idx, why);
    }
    run->finished++;
    if (s->conn) s->conn->open--;
}

static void mark_accepted(struct run *run, struct stream *s)
{
    if (s->accepted) return;
    s->accepted = 1;
    run->accepted++;
}

static void got_token(struct run *run, struct stream *s, const char *text, size_t len)
{
    uint64_t t = now_us();
    mark_accepted(run, s);
    if (!s->t_first_us) {
        s->t_first_us = t;
        if (!run->first_tok_us || t < run->first_tok_us) run->first_tok_us = t;
    }
    if (t > run->last_tok_us) run->last_tok_us = t;
    if (s->t_last_tok_us && t - s->t_last_tok_us > s->max_gap_us) s->max_gap_us = t - s->t_last_tok_us;
    s->t_last_tok_us = t;
    s->hash = hash_fnv1a_more(s->hash ? s->hash : HASH_FNV1A_INIT, text, len);
    if (run->cfg->keep_text) buf_append(&s->text, text, len);
    s->state = ST_STREAMING;
}

/* ---------------------------------------------------------------- writing */

struct wreq { uv_write_t req; char data[]; };

static void on_write(uv_write_t *w, int status) { (void)status; free(w); }

static void conn_write(struct conn *c, const char *data, size_t n)
{
    struct wreq *w = xmalloc(sizeof(*w) + n);
    memcpy(w->data, data, n);
    uv_buf_t b = uv_buf_init(w->data, (unsigned)n);
    if (uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, on_write) < 0) free(w);
}

/* One masked client frame (RFC 6455 5.3: clients always mask). */
static void ws_send(struct conn *c, int opcode, const char *p, size_t n)
{
    struct buf f;
    buf_init(&f);
    unsigned char h[14];
    size_t hl = 2;
    h[0] = (unsigned char)(0x80 | opcode);
    if (n < 126) h[1] = (unsigned char)(0x80 | n);
    else if (n < 65536) { h[1] = 0x80 | 126; h[2] = (unsigned char)(n >> 8); h[3] = (unsigned char)n; hl = 4; }
    else { h[1] = 0x80 | 127; for (int i = 0; i < 8; i++) h[2 + i] = (unsigned char)(n >> (56 - 8 * i)); hl = 10; }
    uint32_t m = (uint32_t)rand();
    unsigned char mask[4] = { (unsigned char)m, (unsigned char)(m >> 8), (unsigned char)(m >> 16), (unsigned char)(m >> 24) };
    memcpy(h + hl, mask, 4);
    hl += 4;
    buf_append(&f, h, hl);
    buf_reserve(&f, n);
    for (size_t i = 0; i < n; i++) f.data[f.len + i] = (char)(p[i] ^ mask[i & 3]);
    f.len += n;
    conn_write(c, f.data, f.len);
    buf_deinit(&f);
}

static void request_body(struct run *run, struct stream *s, struct buf *b, int ws)
{
    const struct load_cfg *cfg = run->cfg;
    buf_append_str(b, "{");
    if (ws) buf_printf(b, "\"type\":\"generate\",\"id\":\"s%d\",", s->idx);
    buf_append_str(b, "\"prompt\":\"");
    const char *prompt = cfg->prompt ? cfg->prompt : "Once upon a time";
    buf_append_json_str(b, prompt, strlen(prompt));
    buf_printf(b, "\",\"max_tokens\":%d,\"seed\":%llu", cfg->max_tokens,
               (unsigned long long)(cfg->seed + (uint64_t)s->idx));
    if (!ws) buf_append_str(b, ",\"stream\":true,\"stream_options\":{\"include_usage\":true}");
    buf_append_str(b, "}");
}

static void on_connect(uv_connect_t *req, int status)
{
    struct conn *c = req->data;
    struct run *run = c->run;
    if (status < 0) {
        if (status != UV_ECANCELED && try_redial(c)) { conn_close(c); return; }
        for (int i = 0; i < c->n_streams; i++) stream_end(run, c->streams[i], ST_FAILED, uv_strerror(status));
        conn_close(c);
        return;
    }
    c->phase = 1;
    struct buf b, body;
    buf_init(&b);
    buf_init(&body);
    char auth[300] = "";
    if (run->cfg->api_key) snprintf(auth, sizeof(auth), "Authorization: Bearer %s\r\n", run->cfg->api_key);
    if (run->cfg->proto == LOAD_SSE) {
        struct stream *s0 = c->streams[0];
        request_body(run, s0, &body, 0);
        char extra[256] = "";
        if (run->cfg->resume > 0) {
            /* A retry with the same key attaches to the same request (replayed from token 0);
             * once tokens arrived, Last-Event-ID asks only for the rest. */
            int n = snprintf(extra, sizeof(extra), "Idempotency-Key: load-%llu-%llu-%d\r\n",
                             (unsigned long long)run->nonce, (unsigned long long)run->cfg->seed, s0->idx);
            if (c->resume && s0->rid[0] && s0->next_index > 0)
                snprintf(extra + n, sizeof(extra) - (size_t)n, "Last-Event-ID: %s:%lld\r\n", s0->rid,
                         s0->next_index - 1);
        }
        buf_printf(&b, "POST /v1/completions HTTP/1.1\r\nHost: %s:%d\r\n%s%sContent-Type: application/json\r\n"
                   "Accept: text/event-stream\r\nContent-Length: %zu\r\n\r\n", run->cfg->host, run->cfg->port,
                   auth, extra, body.len);
        buf_append(&b, body.data, body.len);
    } else {
        buf_printf(&b, "GET /v1/ws HTTP/1.1\r\nHost: %s:%d\r\n%sUpgrade: websocket\r\nConnection: Upgrade\r\n"
                   "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
                   "Sec-WebSocket-Protocol: llmq.v1\r\n\r\n", run->cfg->host, run->cfg->port, auth);
    }
    conn_write(c, b.data, b.len);
    uint64_t t = now_us();
    for (int i = 0; i < c->n_streams && !c->resume; i++) { c->streams[i]->state = ST_SENT; c->streams[i]->t_start_us = t; }
    buf_deinit(&b);
    buf_deinit(&body);
}

/* ---------------------------------------------------------------- SSE */

static void sse_event(struct run *run, struct stream *s, const char *id, size_t idl, const char *data, size_t dl)
{
    if (s->state >= ST_DONE) return;
    if (dl == 6 && !memcmp(data, "[DONE]", 6)) { stream_end(run, s, ST_DONE, NULL); return; }
    const char *end = data + dl;
    if (js_find(data, dl, "error") && !js_find(data, dl, "choices")) {
        run->r->failed_clear++;
        stream_end(run, s, ST_FAILED, "error event in the stream");
        return;
    }
    const char *u = js_find(data, dl, "usage");
    if (u && *u == '{') {
        s->usage_tokens = js_int(js_find(u, (size_t)(end - u), "completion_tokens"), end, -1);
        return;
    }
    const char *fr = js_find(data, dl, "finish_reason");
    if (fr && *fr == '"') return;                       /* the finish chunk */
    const char *colon = id ? memrchr(id, ':', idl) : NULL;
    long long index = colon ? strtoll(colon + 1, NULL, 10) : s->next_index;
    if (colon && !s->rid[0] && (size_t)(colon - id) < sizeof(s->rid)) {
        memcpy(s->rid, id, (size_t)(colon - id));
        s->rid[colon - id] = 0;
    }
    if (index < s->next_index) s->bad_order = 1;        /* a repeat or going backwards */
    const char *t = js_find(data, dl, "text");
    if (!t) t = js_find(data, dl, "content");
    const char *ts = "";
    size_t tl = 0;
    js_str(t, end, &ts, &tl);
    got_token(run, s, ts, tl);
    s->next_index = index + 1;                          /* merged events carry the last index */
}

/* Consumes complete events from c->body. */
static void sse_parse(struct conn *c)
{
    struct stream *s = c->streams[0];
    const char *id = NULL, *data = NULL;
    size_t idl = 0, dl = 0, pos = 0, ev_start = 0;
    while (pos < c->body.len) {
        char *nl = memchr(c->body.data + pos, '\n', c->body.len - pos);
        if (!nl) break;
        const char *line = c->body.data + pos;
        size_t ll = (size_t)(nl - line);
        if (ll && line[ll - 1] == '\r') ll--;
        pos = (size_t)(nl - c->body.data) + 1;
        if (ll == 0) {
            if (data) sse_event(c->run, s, id, idl, data, dl);
            id = data = NULL;
            idl = dl = 0;
            ev_start = pos;
            continue;
        }
        if (ll >= 3 && !memcmp(line, "id:", 3)) { id = line + 3; idl = ll - 3; while (idl && *id == ' ') { id++; idl--; } }
        else if (ll >= 5 && !memcmp(line, "data:", 5)) { data = line + 5; dl = ll - 5; if (dl && *data == ' ') { data++; dl--; } }
    }
    buf_consume(&c->body, ev_start);
}

/* De-chunks c->in into c->body. Returns 0, or -1 on a framing error. */
static int http_body(struct conn *c)
{
    if (!c->chunked) { buf_append(&c->body, c->in.data, c->in.len); buf_reset(&c->in); return 0; }
    size_t pos = 0;
    while (pos < c->in.len) {
        if (c->chunk_left < 0) {
            char *nl = memchr(c->in.data + pos, '\n', c->in.len - pos);
            if (!nl) break;
            char *end = c->in.data + pos;
            long long n = 0;
            /* not strtoll: it would skip the CRLF that ends the previous chunk */
            if (isxdigit((unsigned char)*end)) n = strtoll(c->in.data + pos, &end, 16);
            if (end == c->in.data + pos) {
                if (nl == c->in.data + pos || (nl == c->in.data + pos + 1 && c->in.data[pos] == '\r')) {
                    pos = (size_t)(nl - c->in.data) + 1;  /* the CRLF after a chunk */
                    continue;
                }
                return -1;
            }
            pos = (size_t)(nl - c->in.data) + 1;
            c->chunk_left = n;
            if (n == 0) { c->chunk_left = -2; break; }   /* last chunk */
        } else if (c->chunk_left > 0) {
            size_t take = c->in.len - pos < (size_t)c->chunk_left ? c->in.len - pos : (size_t)c->chunk_left;
            buf_append(&c->body, c->in.data + pos, take);
            pos += take;
            c->chunk_left -= (long long)take;
            if (c->chunk_left == 0) c->chunk_left = -1;
        } else {
            break;
        }
    }
    buf_consume(&c->in, pos);
    return 0;
}

/* ---------------------------------------------------------------- WebSocket */

static struct stream *ws_stream(struct conn *c, const char *id, size_t idl)
{
    if (idl < 2 || id[0] != 's') return NULL;
    int n = atoi(id + 1);
    for (int i = 0; i < c->n_streams; i++) if (c->streams[i]->idx == n) return c->streams[i];
    return NULL;
}

static void ws_message(struct conn *c, const char *m, size_t n)
{
    struct run *run = c->run;
    const char *end = m + n, *type, *id;
    size_t tl, idl;
    if (js_str(js_find(m, n, "type"), end, &type, &tl) < 0) return;
    if (js_str(js_find(m, n, "id"), end, &id, &idl) < 0) return;
    struct stream *s = ws_stream(c, id, idl);
    if (!s || s->state >= ST_DONE) return;
    if (tl == 8 && !memcmp(type, "accepted", 8)) {
        mark_accepted(run, s);
        const char *rid;
        size_t rl;
        if (js_str(js_find(m, n, "request_id"), end, &rid, &rl) == 0 && rl < sizeof(s->rid)) {
            memcpy(s->rid, rid, rl);
            s->rid[rl] = 0;
        }
    } else if (tl == 5 && !memcmp(type, "token", 5)) {
        long long index = js_int(js_find(m, n, "index"), end, -1);
        long long count = js_int(js_find(m, n, "count"), end, 1);
        if (index != s->next_index) s->bad_order = 1;
        const char *ts = "";
        size_t tsl = 0;
        js_str(js_find(m, n, "text"), end, &ts, &tsl);
        got_token(run, s, ts, tsl);
        s->next_index = index + count;
    } else if (tl == 4 && !memcmp(type, "done", 4)) {
        const char *u = js_find(m, n, "usage");
        if (u) s->usage_tokens = js_int(js_find(u, (size_t)(end - u), "completion_tokens"), end, -1);
        stream_end(run, s, ST_DONE, NULL);
    } else if (tl == 5 && !memcmp(type, "error", 5)) {
        const char *code;
        size_t cl;
        int rejected = js_str(js_find(m, n, "code"), end, &code, &cl) == 0 &&
                       ((cl == 10 && !memcmp(code, "overloaded", 10)) || (cl == 12 && !memcmp(code, "rate_limited", 12)));
        if (rejected && js_find(m, n, "retry_after_ms")) run->r->rejected_retry_after++;
        char why[200];
        snprintf(why, sizeof(why), "error message: %.*s", (int)(n < 150 ? n : 150), m);
        if (!rejected && s->state < ST_DONE) run->r->failed_clear++;
        stream_end(run, s, rejected ? ST_REJECTED : ST_FAILED, why);
    }
}

/* Consumes complete frames from c->in. Returns 0, 1 when the server closed, -1 on a bad frame. */
static int ws_frames(struct conn *c)
{
    size_t pos = 0;
    int rc = 0;
    while (c->in.len - pos >= 2) {
        const unsigned char *h = (const unsigned char *)c->in.data + pos;
        size_t avail = c->in.len - pos, hl = 2;
        uint64_t len = h[1] & 0x7f;
        if (h[1] & 0x80) { rc = -1; break; }           /* servers never mask */
        if (len == 126) { if (avail < 4) break; len = (uint64_t)h[2] << 8 | h[3]; hl = 4; }
        else if (len == 127) { if (avail < 10) break; len = 0; for (int i = 0; i < 8; i++) len = len << 8 | h[2 + i]; hl = 10; }
        if (avail < hl + len) break;
        int op = h[0] & 0x0f, fin = h[0] & 0x80;
        const char *p = (const char *)h + hl;
        if (op == 0x8) { rc = 1; pos += hl + len; break; }
        if (op == 0x9) ws_send(c, 0xA, p, (size_t)len);
        else if (op == 0x1 || op == 0x0) {
            buf_append(&c->msg, p, (size_t)len);
            if (fin) { ws_message(c, c->msg.data, c->msg.len); buf_reset(&c->msg); }
        }
        pos += hl + (size_t)len;
    }
    buf_consume(&c->in, pos);
    return rc;
}

static void ws_start_streams(struct conn *c)
{
    struct buf b;
    buf_init(&b);
    uint64_t t = now_us();
    for (int i = 0; i < c->n_streams; i++) {
        struct stream *s = c->streams[i];
        buf_reset(&b);
        if (c->resume && s->rid[0]) {
            buf_printf(&b, "{\"type\":\"resume\",\"id\":\"s%d\",\"request_id\":\"%s\",\"after\":%lld}",
                       s->idx, s->rid, s->next_index - 1);
        } else {
            request_body(c->run, s, &b, 1);
            if (!c->resume) s->t_start_us = t;
        }
        ws_send(c, 0x1, b.data, b.len);
    }
    buf_deinit(&b);
}

/* ---------------------------------------------------------------- reading */

/* The run's one read buffer: libuv calls on_read right after the read that filled it, before
 * it allocates again, so one per loop is enough; one per process is not: runs in two threads
 * (chaos_limits' busy streams and burst) then overwrite each other's bytes before they are
 * copied, and streams of both fail now and then (test_platform_load). */
static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
    (void)hint;
    struct conn *c = h->data;
    *b = uv_buf_init(c->run->slab, sizeof(c->run->slab));
}

static void fail_open(struct conn *c, int state, const char *why)
{
    for (int i = 0; i < c->n_streams; i++)
        if (c->streams[i]->state < ST_DONE) stream_end(c->run, c->streams[i], state, why);
}

static int http_head(struct conn *c)
{
    char *end = strstr(c->in.data, "\r\n\r\n");
    if (!end) return c->in.len > 65536 ? -1 : 0;
    *end = 0;
    if (sscanf(c->in.data, "HTTP/1.%*d %d", &c->status) != 1) return -1;
    int retry_after = 0;
    for (char *l = strstr(c->in.data, "\r\n"); l; l = strstr(l + 2, "\r\n")) {
        if (!strncasecmp(l + 2, "Transfer-Encoding:", 18) && strcasestr(l + 2, "chunked")) c->chunked = 1;
        if (!strncasecmp(l + 2, "Retry-After:", 12)) retry_after = 1;
        if (!strncasecmp(l + 2, "X-Request-Id:", 13) && c->run->cfg->proto == LOAD_SSE && !c->streams[0]->rid[0]) {
            const char *v = l + 15;
            while (*v == ' ') v++;
            size_t vl = strcspn(v, "\r");
            if (vl < sizeof(c->streams[0]->rid)) { memcpy(c->streams[0]->rid, v, vl); c->streams[0]->rid[vl] = 0; }
        }
    }
    size_t head = (size_t)(end - c->in.data) + 4;
    char first[160];
    snprintf(first, sizeof(first), "%s", c->in.data);
    char *crlf = strstr(first, "\r\n");
    if (crlf) *crlf = 0;
    buf_consume(&c->in, head);
    c->phase = 2;
    c->chunk_left = -1;
    int want = c->run->cfg->proto == LOAD_WS ? 101 : 200;
    if (c->status == 200) mark_accepted(c->run, c->streams[0]);
    if (c->status == want) return 1;
    if (c->status == 503 || c->status == 429) {
        if (retry_after) c->run->r->rejected_retry_after++;
        fail_open(c, ST_REJECTED, first);
    } else {
        for (int i = 0; i < c->n_streams; i++)
            if (c->streams[i]->state < ST_DONE) c->run->r->failed_clear++;
        fail_open(c, ST_FAILED, first);
    }
    return -2;
}

/* The connection broke with streams still open: with cfg->resume, dial again after a short
 * delay and resume them (Last-Event-ID / Idempotency-Key for SSE, resume messages for WS).
 * Returns 1 when a redial was scheduled. */
static void on_redial(uv_timer_t *t);
static int try_redial(struct conn *c)
{
    struct run *run = c->run;
    if (run->cfg->resume <= 0 || run->stopping) return 0;
    int attempts = c->resume ? c->attempts_left : run->cfg->resume;
    if (attempts <= 0 || c->open <= 0) return 0;
    struct redial *d = xcalloc(1, sizeof(*d));
    d->run = run;
    d->streams = xcalloc((size_t)c->n_streams, sizeof(*d->streams));
    for (int i = 0; i < c->n_streams; i++) {
        struct stream *s = c->streams[i];
        if (s->state >= ST_DONE) continue;
        s->conn = NULL;
        d->streams[d->n++] = s;
    }
    d->attempts_left = attempts - 1;
    c->open = 0;
    run->r->reconnects++;
    uv_timer_init(&run->loop, &d->timer);
    d->timer.data = d;
    run->redials++;
    uv_timer_start(&d->timer, on_redial, 100, 0);
    return 1;
}

static void redial_free(uv_handle_t *h)
{
    struct redial *d = h->data;
    d->run->redials--;
    free(d->streams);
    free(d);
}

static void on_redial(uv_timer_t *t)
{
    struct redial *d = t->data;
    if (!d->run->stopping) open_conn(d->run, d->streams, d->n, 1, d->attempts_left);
    uv_close((uv_handle_t *)t, redial_free);
}

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *b)
{
    struct conn *c = st->data;
    if (nread < 0) {
        if (try_redial(c)) { conn_close(c); return; }
        /* For SSE a close after [DONE] is normal; anything still open failed. */
        fail_open(c, ST_FAILED, nread == UV_EOF ? "connection closed early" : uv_strerror((int)nread));
        conn_close(c);
        return;
    }
    buf_append(&c->in, b->base, (size_t)nread);
    if (c->phase == 1) {
        int rc = http_head(c);
        if (rc < 0) { if (rc == -1) fail_open(c, ST_FAILED, "bad HTTP response"); conn_close(c); return; }
        if (rc == 0) return;
        if (c->run->cfg->proto == LOAD_WS) {
            for (int i = 0; i < c->n_streams && !c->resume; i++) c->streams[i]->state = ST_SENT;
            ws_start_streams(c);
        }
    }
    if (c->run->cfg->proto == LOAD_SSE) {
        if (http_body(c) < 0) { fail_open(c, ST_FAILED, "bad chunked encoding"); conn_close(c); return; }
        sse_parse(c);
    } else {
        int rc = ws_frames(c);
        if (rc < 0) { fail_open(c, ST_FAILED, "bad WebSocket frame from the server"); conn_close(c); return; }
        if (rc > 0) { fail_open(c, ST_FAILED, "server closed the WebSocket"); conn_close(c); return; }
    }
    if (c->open == 0) {
        if (c->run->cfg->proto == LOAD_WS) ws_send(c, 0x8, "\x03\xe8", 2);
        conn_close(c);
    }
}

static void on_close(uv_handle_t *h)
{
    struct conn *c = h->data;
    struct run *run = c->run;
    buf_deinit(&c->in);
    buf_deinit(&c->body);
    buf_deinit(&c->msg);
    free(c->streams);
    free(c);
    run->conns_open--;
    start_more(run);
}

static void conn_close(struct conn *c)
{
    if (c->closing) return;
    c->closing = 1;
    uv_close((uv_handle_t *)&c->tcp, on_close);
}

/* ---------------------------------------------------------------- scheduling */

static void open_conn(struct run *run, struct stream **list, int n, int resume, int attempts_left)
{
    struct conn *c = xcalloc(1, sizeof(*c));
    c->run = run;
    c->resume = resume;
    c->attempts_left = attempts_left;
    buf_init(&c->in);
    buf_init(&c->body);
    buf_init(&c->msg);
    c->streams = xcalloc((size_t)n, sizeof(*c->streams));
    int open = 0;
    for (int i = 0; i < n; i++) {
        c->streams[i] = list[i];
        c->streams[i]->conn = c;
        if (!resume) c->streams[i]->t_start_us = now_us();
        open += c->streams[i]->state < ST_DONE;
    }
    c->n_streams = n;
    c->open = open;
    uv_tcp_init(&run->loop, &c->tcp);
    c->tcp.data = c;
    c->creq.data = c;
    run->conns_open++;
    struct sockaddr_in a;
    uv_ip4_addr(run->cfg->host, run->cfg->port, &a);
    int rc = uv_tcp_connect(&c->creq, &c->tcp, (struct sockaddr *)&a, on_connect);
    if (rc < 0) { fail_open(c, ST_FAILED, uv_strerror(rc)); conn_close(c); return; }
    uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
}

static void start_more(struct run *run)
{
    const struct load_cfg *cfg = run->cfg;
    if (run->stopping) return;
    int per = cfg->proto == LOAD_WS && cfg->ws_per_conn > 1 ? cfg->ws_per_conn : 1;
    if (per > 256) per = 256;
    int budget = cfg->connect_per_ms > 0 ? cfg->connect_per_ms : 50;
    while (run->started < cfg->streams && budget-- > 0) {
        if (cfg->rate_per_s > 0) {
            double due_ms = (double)run->started * 1000.0 / cfg->rate_per_s;
            if ((double)(now_us() - run->t0_us) / 1000.0 < due_ms) break;
        } else {
            int conc = cfg->concurrency > 0 ? cfg->concurrency : cfg->streams;
            if (run->started - run->finished >= conc) break;
        }
        int n = cfg->streams - run->started < per ? cfg->streams - run->started : per;
        struct stream *list[256];
        for (int i = 0; i < n && i < 256; i++) list[i] = &run->streams[run->started + i];
        run->started += n;
        open_conn(run, list, n, 0, 0);
    }
}

static void close_all(uv_handle_t *h, void *ud)
{
    if (uv_is_closing(h)) return;
    if (h->type == UV_TCP) { conn_close(h->data); return; }
    struct run *run = ud;
    if (h->type == UV_TIMER && h->data != run) { uv_close(h, redial_free); return; }
    uv_close(h, NULL);
}

/* The end of a hold: the streams were only needed open; close everything. */
static void on_hold_done(uv_timer_t *t)
{
    struct run *run = t->data;
    run->held = 2;
    run->stopping = 1;
    uv_walk(&run->loop, close_all, run);
}

static void on_tick(uv_timer_t *t)
{
    struct run *run = t->data;
    const struct load_cfg *cfg = run->cfg;
    start_more(run);
    if (cfg->hold_ms > 0 && !run->held && run->accepted + run->r->rejected + run->r->failed >= cfg->streams) {
        run->held = 1;
        if (cfg->on_hold) cfg->on_hold(cfg->ud);
        uv_timer_start(&run->hold, on_hold_done, (uint64_t)cfg->hold_ms, 0);
    }
    if (run->finished >= cfg->streams && run->conns_open == 0 && run->redials == 0) {
        run->stopping = 1;
        uv_walk(&run->loop, close_all, run);
    }
}

static void on_deadline(uv_timer_t *t)
{
    struct run *run = t->data;
    run->stopping = 1;
    for (int i = 0; i < run->cfg->streams; i++) {
        struct stream *s = &run->streams[i];
        if (s->state < ST_DONE) { run->r->timeouts++; stream_end(run, s, ST_FAILED, "timed out"); }
    }
    uv_walk(&run->loop, close_all, run);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int load_run(const struct load_cfg *cfg, struct load_result *r)
{
    memset(r, 0, sizeof(*r));
    if (!cfg || cfg->streams <= 0 || cfg->port <= 0 || cfg->max_tokens <= 0) return -EINVAL;
    r->text_hash = xcalloc((size_t)cfg->streams, sizeof(uint64_t));
    r->n_texts = cfg->streams;
    r->tokens_per_stream = xcalloc((size_t)cfg->streams, sizeof(int));
    r->max_gap_ms = xcalloc((size_t)cfg->streams, sizeof(double));
    struct run *run = xcalloc(1, sizeof(*run));
    run->cfg = cfg;
    run->r = r;
    run->streams = xcalloc((size_t)cfg->streams, sizeof(struct stream));
    for (int i = 0; i < cfg->streams; i++) { run->streams[i].idx = i; run->streams[i].usage_tokens = -1; }
    uv_loop_init(&run->loop);
    uv_timer_init(&run->loop, &run->tick);
    uv_timer_init(&run->loop, &run->deadline);
    uv_timer_init(&run->loop, &run->hold);
    run->tick.data = run->deadline.data = run->hold.data = run;
    run->t0_us = now_us();
    run->nonce = uv_hrtime() ^ ((uint64_t)uv_os_getpid() << 32);
    if (cfg->keep_text) r->texts = xcalloc((size_t)cfg->streams, sizeof(char *));
    start_more(run);
    uv_timer_start(&run->tick, on_tick, 1, 1);
    uv_timer_start(&run->deadline, on_deadline, (uint64_t)(cfg->timeout_ms > 0 ? cfg->timeout_ms : 60000), 0);
    /* hold: streams stay open until the hold timer ends; stream ends before that are normal */
    uv_run(&run->loop, UV_RUN_DEFAULT);
    uv_loop_close(&run->loop);

    uint64_t t_end = 0;
    double *ttft = xcalloc((size_t)cfg->streams + 1, sizeof(double));
    double *e2e = xcalloc((size_t)cfg->streams + 1, sizeof(double));
    int nt = 0, ne = 0;
    double sum = 0;
    for (int i = 0; i < cfg->streams; i++) {
        struct stream *s = &run->streams[i];
        if (s->t_end_us > t_end) t_end = s->t_end_us;
        if (s->state != ST_DONE) continue;
        if (s->t_first_us) { ttft[nt] = (double)(s->t_first_us - s->t_start_us) / 1000.0; sum += ttft[nt++]; }
        e2e[ne++] = (double)(s->t_end_us - s->t_start_us) / 1000.0;
    }
    qsort(ttft, (size_t)nt, sizeof(double), cmp_double);
    qsort(e2e, (size_t)ne, sizeof(double), cmp_double);
    if (nt) {
        r->ttft_p50_ms = ttft[nt / 2];
        r->ttft_p99_ms = ttft[(int)((nt - 1) * 0.99)];
        r->ttft_mean_ms = sum / nt;
    }
    if (ne) { r->e2e_p50_ms = e2e[ne / 2]; r->e2e_p99_ms = e2e[(int)((ne - 1) * 0.99)]; }
    r->accepted = run->accepted;
    r->wall_s = t_end > run->t0_us ? (double)(t_end - run->t0_us) / 1e6 : 0;
    if (run->last_tok_us > run->first_tok_us)
        r->tokens_per_s = (double)r->tokens / ((double)(run->last_tok_us - run->first_tok_us) / 1e6);
    free(ttft);
    free(e2e);
    for (int i = 0; i < cfg->streams; i++) buf_deinit(&run->streams[i].text);
    free(run->streams);
    free(run);
    return 0;
}

void load_result_free(struct load_result *r)
{
    free(r->text_hash);
    free(r->tokens_per_stream);
    free(r->max_gap_ms);
    r->max_gap_ms = NULL;
    if (r->texts)
        for (int i = 0; i < r->n_texts; i++) free(r->texts[i]);
    free(r->texts);
    r->texts = NULL;
    r->text_hash = NULL;
    r->tokens_per_stream = NULL;
}

void load_result_json(const struct load_result *r, char *out, size_t cap)
{
    snprintf(out, cap, "{\"ok\":%d,\"failed\":%d,\"failed_clear\":%d,\"rejected\":%d,\"rejected_retry_after\":%d,\"dup_or_gap\":%d,"
             "\"usage_mismatch\":%d,\"timeouts\":%d,\"tokens\":%lld,\"wall_s\":%.3f,\"tokens_per_s\":%.1f,"
             "\"ttft_p50_ms\":%.2f,\"ttft_p99_ms\":%.2f,\"ttft_mean_ms\":%.2f,\"e2e_p50_ms\":%.1f,\"e2e_p99_ms\":%.1f}",
             r->ok, r->failed, r->failed_clear, r->rejected, r->rejected_retry_after, r->dup_or_gap, r->usage_mismatch, r->timeouts,
             r->tokens, r->wall_s, r->tokens_per_s, r->ttft_p50_ms, r->ttft_p99_ms, r->ttft_mean_ms,
             r->e2e_p50_ms, r->e2e_p99_ms);
}
