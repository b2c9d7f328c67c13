/* upstream.c -- the "upstream" engine: forwards each sequence to an OpenAI-compatible server
 * (vLLM, llama.cpp's server, TGI, Ollama, another llmq) as one streaming POST
 * /v1/completions (prompt) or /v1/chat/completions (messages), and hands its chunks back one
 * per step: one upstream chunk = one token (its text). All transfers of an engine share one
 * libcurl multi handle driven from engine_step (no thread, no event loop: the engine links
 * neither libuv nor hiredis). It does not tokenize: prompt tokens are the upstream's own
 * count (stream_options.include_usage) once its usage chunk arrives, an estimate before.
 * Environment: LLMQ_UPSTREAM_API_KEY (sent as "Authorization: Bearer ..."),
 * LLMQ_UPSTREAM_TIMEOUT_MS (longest wait for a sequence's next chunk, default 60000),
 * LLMQ_UPSTREAM_CONNECT_TIMEOUT_MS (default 5000). See docs/WORKER.md. */
#include "engine/engine.h"
#include "common/buf.h"
#include "common/log.h"
#include "common/xalloc.h"

#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ERRBODY_MAX 4096     /* bytes of a non-2xx body kept for the error message */
#define EVENT_MAX (1u << 20) /* one SSE event beyond this is malformed */

struct upstream {
    CURLM *multi;          /* owned; every live sequence's transfer is in it */
    char *url_completions; /* owned: <base>/v1/completions */
    char *url_chat;        /* owned: <base>/v1/chat/completions */
    char *auth_header;     /* owned "Authorization: Bearer ..." or NULL */
    char *model;           /* owned: cfg->model_name, sent as "model"; NULL = not sent */
    long timeout_ms;       /* longest wait in one step for a sequence's next chunk */
    long connect_timeout_ms;
};

struct tok {
    size_t off, len; /* bytes in upstream_seq.text */
};

struct upstream_seq {
    const struct engine_ops *ops; /* must be first (engine.h) */
    struct upstream *u;           /* borrowed; outlives the sequence */
    CURL *easy;                   /* owned; NULL after the transfer ended and was removed */
    struct curl_slist *headers;   /* owned */
    char *body;                   /* owned request JSON (curl does not copy POSTFIELDS) */
    char curl_err[CURL_ERROR_SIZE];
    struct buf line;              /* current, incomplete SSE line */
    struct buf event;             /* data: lines of the current event */
    struct buf errbody;           /* body of a non-2xx answer (at most ERRBODY_MAX) */
    struct buf text;              /* token bytes received and not yet compacted away */
    struct tok *toks;             /* owned: tokens received; [head, n_tok) not yet emitted */
    int n_tok, cap_tok, head;
    int emitted;                  /* tokens handed to the worker */
    int max_tokens;
    enum engine_finish finish;    /* upstream's finish_reason; NONE until its chunk came */
    int saw_done;                 /* "data: [DONE]" received */
    int ended;                    /* the transfer is over (curl reported it done) */
    int failed;                   /* errmsg says why */
    long http_status;
    int prompt_tokens;            /* estimate until the usage chunk replaces it */
    int usage_seen;
    char errmsg[384];
};

extern const struct engine_ops upstream_engine_ops;

static long env_ms(const char *name, long def)
{
    const char *v = getenv(name);
    if (!v || !*v) return def;
    char *end;
    long x = strtol(v, &end, 10);
    return (*end || x <= 0) ? def : x;
}

static void seq_fail(struct upstream_seq *q, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void seq_fail(struct upstream_seq *q, const char *fmt, ...)
{
    if (q->failed) return; /* the first reason is the real one */
    va_list ap;
    va_start(ap, fmt);
    int n = snprintf(q->errmsg, sizeof(q->errmsg), "upstream: ");
    vsnprintf(q->errmsg + n, sizeof(q->errmsg) - (size_t)n, fmt, ap);
    va_end(ap);
    q->failed = 1;
    /* The worker reports a generic "engine failed the sequence"; this line says why. */
    log_warn("%s", q->errmsg);
}

/* ---------------------------------------------------------------------------------------
 * Open / close */

static int up_open(struct engine *eng, const struct engine_config *cfg, struct err *e)
{
    const char *base = cfg->upstream_url;
    if (!base || !*base)
        return err_set(e, -EINVAL, "upstream: --upstream-url is required (e.g. http://host:8000)");
    if (strncmp(base, "http://", 7) && strncmp(base, "https://", 8))
        return err_set(e, -EINVAL, "upstream: --upstream-url must start with http:// or https://");
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return err_set(e, -ENOMEM, "upstream: curl_global_init failed");
    struct upstream *u = xcalloc(1, sizeof(*u));
    /* Accept ".../", ".../v1" and ".../v1/": the endpoints are always <base>/v1/... */
    size_t n = strlen(base);
    while (n > 0 && base[n - 1] == '/')
        n--;
    if (n >= 3 && !strncmp(base + n - 3, "/v1", 3)) n -= 3;
    struct buf b;
    buf_init(&b);
    buf_printf(&b, "%.*s/v1/completions", (int)n, base);
    u->url_completions = xstrdup(b.data);
    buf_reset(&b);
    buf_printf(&b, "%.*s/v1/chat/completions", (int)n, base);
    u->url_chat = xstrdup(b.data);
    const char *key = getenv("LLMQ_UPSTREAM_API_KEY");
    if (key && *key) {
        buf_reset(&b);
        buf_printf(&b, "Authorization: Bearer %s", key);
        u->auth_header = xstrdup(b.data);
    }
    buf_deinit(&b);
    if (cfg->model_name && *cfg->model_name) u->model = xstrdup(cfg->model_name);
    u->timeout_ms = env_ms("LLMQ_UPSTREAM_TIMEOUT_MS", 60000);
    u->connect_timeout_ms = env_ms("LLMQ_UPSTREAM_CONNECT_TIMEOUT_MS", 5000);
    u->multi = curl_multi_init();
    if (!u->multi) {
        free(u->url_completions);
        free(u->url_chat);
        free(u->auth_header);
        free(u->model);
        free(u);
        curl_global_cleanup();
        return err_set(e, -ENOMEM, "upstream: curl_multi_init failed");
    }
    eng->impl = u;
    log_info("upstream engine: %s (model %s, api key %s, timeout %ld ms)", u->url_completions,
             u->model ? u->model : "(not sent)", u->auth_header ? "set" : "none", u->timeout_ms);
    return 0;
}

static void up_close(struct engine *eng)
{
    struct upstream *u = eng->impl;
    if (!u) return;
    curl_multi_cleanup(u->multi); /* every sequence was freed before (engine.h) */
    free(u->url_completions);
    free(u->url_chat);
    free(u->auth_header);
    free(u->model);
    free(u);
    curl_global_cleanup();
}

/* ---------------------------------------------------------------------------------------
 * SSE parsing: bytes -> lines -> events -> tokens */

static void push_tok(struct upstream_seq *q, const char *s, size_t len)
{
    if (q->n_tok == q->cap_tok) {
        q->cap_tok = q->cap_tok ? q->cap_tok * 2 : 16;
        q->toks = xrealloc(q->toks, (size_t)q->cap_tok * sizeof(*q->toks));
    }
    q->toks[q->n_tok++] = (struct tok){q->text.len, len};
    buf_append(&q->text, s, len);
}

static enum engine_finish map_finish(const char *reason)
{
    return !strcmp(reason, "length") ? ENGINE_FINISH_LENGTH : ENGINE_FINISH_STOP;
}

/* One complete event's data (NUL-terminated in q->event). */
static void on_event(struct upstream_seq *q)
{
    const char *d = q->event.data;
    size_t len = q->event.len;
    if (len == 6 && !memcmp(d, "[DONE]", 6)) {
        q->saw_done = 1;
        return;
    }
    json_error_t je;
    json_t *root = json_loadb(d, len, 0, &je);
    if (!json_is_object(root)) {
        seq_fail(q, "malformed stream chunk (%s): %.80s", root ? "not an object" : je.text, d);
        json_decref(root);
        return;
    }
    json_t *err = json_object_get(root, "error");
    if (err) {
        const char *msg = json_string_value(json_object_get(err, "message"));
        if (!msg) msg = json_string_value(err);
        seq_fail(q, "error event: %s", msg ? msg : "(no message)");
        json_decref(root);
        return;
    }
    json_t *usage = json_object_get(root, "usage");
    json_t *pt = json_is_object(usage) ? json_object_get(usage, "prompt_tokens") : NULL;
    if (json_is_integer(pt) && json_integer_value(pt) > 0 && json_integer_value(pt) < INT32_MAX) {
        q->prompt_tokens = (int)json_integer_value(pt);
        q->usage_seen = 1;
    }
    json_t *choices = json_object_get(root, "choices");
    json_t *c0 = json_is_array(choices) ? json_array_get(choices, 0) : NULL;
    if (!c0 || q->finish != ENGINE_FINISH_NONE) { /* usage-only chunk, or after the finish */
        json_decref(root);
        return;
    }
    json_t *t = json_object_get(c0, "text"); /* /v1/completions */
    if (!t) {                                  /* /v1/chat/completions */
        json_t *delta = json_object_get(c0, "delta");
        t = json_is_object(delta) ? json_object_get(delta, "content") : NULL;
    }
    const char *text = json_string_value(t);
    size_t text_len = text ? json_string_length(t) : 0;
    const char *reason = json_string_value(json_object_get(c0, "finish_reason"));
    if (text_len > 0) push_tok(q, text, text_len);
    if (reason) {
        q->finish = map_finish(reason);
        /* A finish-only chunk (empty text) ends the token before it when that one is still
         * queued; otherwise it is a token of its own (vLLM's EOS chunk is one). */
        if (text_len == 0 && q->head == q->n_tok) push_tok(q, "", 0);
    }
    /* An empty chunk without finish_reason (the chat role delta) is no token. */
    json_decref(root);
}

static void on_line(struct upstream_seq *q, const char *s, size_t len)
{
    if (len && s[len - 1] == '\r') len--;
    if (len == 0) { /* blank line: dispatch */
        if (q->event.len) {
            on_event(q); /* q->event.data is NUL-terminated (buf.h) */
            buf_reset(&q->event);
        }
        return;
    }
    if (s[0] == ':') return; /* comment (keep-alive ping) */
    if (len >= 5 && !memcmp(s, "data:", 5)) {
        s += 5;
        len -= 5;
        if (len && s[0] == ' ') s++, len--;
        if (q->event.len) buf_append_char(&q->event, '\n');
        buf_append(&q->event, s, len);
        if (q->event.len > EVENT_MAX) seq_fail(q, "stream event larger than %u bytes", EVENT_MAX);
    }
    /* id:, event:, retry: carry nothing this engine needs. */
}

static size_t on_write(char *p, size_t size, size_t nmemb, void *ud)
{
    struct upstream_seq *q = ud;
    size_t n = size * nmemb;
    if (!q->http_status) curl_easy_getinfo(q->easy, CURLINFO_RESPONSE_CODE, &q->http_status);
    if (q->http_status < 200 || q->http_status > 299) { /* keep the error body for the message */
        size_t room = ERRBODY_MAX - q->errbody.len;
        buf_append(&q->errbody, p, n < room ? n : room);
        return n;
    }
    size_t start = 0;
    for (size_t i = 0; i < n && !q->failed; i++) {
        if (p[i] != '\n') continue;
        if (q->line.len) {
            buf_append(&q->line, p + start, i - start);
            on_line(q, q->line.data, q->line.len);
            buf_reset(&q->line);
        } else {
            on_line(q, p + start, i - start);
        }
        start = i + 1;
    }
    if (q->failed) return 0; /* aborts the transfer (CURLE_WRITE_ERROR) */
    buf_append(&q->line, p + start, n - start);
    if (q->line.len > EVENT_MAX) {
        seq_fail(q, "stream line longer than %u bytes", EVENT_MAX);
        return 0;
    }
    return n;
}

/* The transfer is over: decide between ended-cleanly and failed. */
static void on_done(struct upstream_seq *q, CURLcode rc)
{
    struct upstream *u = q->u;
    q->ended = 1;
    if (!q->http_status) curl_easy_getinfo(q->easy, CURLINFO_RESPONSE_CODE, &q->http_status);
    if (q->failed) {
        /* reason already recorded */
    } else if (rc != CURLE_OK && !q->saw_done) {
        seq_fail(q, "%s (%s)", q->curl_err[0] ? q->curl_err : curl_easy_strerror(rc),
                 q->http_status ? "during the stream" : "no answer");
    } else if (q->http_status < 200 || q->http_status > 299) {
        const char *msg = NULL;
        json_t *j = json_loadb(q->errbody.data ? q->errbody.data : "", q->errbody.len, 0, NULL);
        json_t *err = j ? json_object_get(j, "error") : NULL;
        msg = json_is_object(err) ? json_string_value(json_object_get(err, "message"))
                                  : json_string_value(err);
        if (!msg && j) msg = json_string_value(json_object_get(j, "message"));
        if (msg)
            seq_fail(q, "HTTP %ld: %s", q->http_status, msg);
        else
            seq_fail(q, "HTTP %ld: %.200s", q->http_status,
                     q->errbody.len ? q->errbody.data : "(empty body)");
        json_decref(j);
    } else if (q->finish == ENGINE_FINISH_NONE) {
        if (q->saw_done) { /* [DONE] without finish_reason: the stream ended normally */
            q->finish = ENGINE_FINISH_STOP;
            if (q->head == q->n_tok) push_tok(q, "", 0);
        } else {
            seq_fail(q, "stream ended without finish_reason or [DONE]");
        }
    }
    curl_multi_remove_handle(u->multi, q->easy);
    curl_easy_cleanup(q->easy);
    q->easy = NULL;
}

/* ---------------------------------------------------------------------------------------
 * Sequences */

static void up_seq_free(struct engine *eng, struct engine_seq *seq);

static int estimate_tokens(const char *s)
{
    return s ? (int)((strlen(s) + 3) / 4) : 0; /* ~4 bytes per token in English BPE */
}

static int up_seq_new(struct engine *eng, const struct engine_request *req,
                      struct engine_seq **out, struct err *e)
{
    struct upstream *u = eng->impl;
    if (req->max_tokens < 1) return err_set(e, -EINVAL, "upstream: max_tokens must be >= 1");
    if (!req->prompt && req->n_messages < 1)
        return err_set(e, LLMQ_EFORMAT, "upstream: no prompt and no messages");
    json_t *body = json_object();
    int est = 0;
    if (u->model) json_object_set_new(body, "model", json_string(u->model));
    if (req->prompt) {
        json_object_set_new(body, "prompt", json_string(req->prompt));
        est = estimate_tokens(req->prompt);
    } else {
        json_t *msgs = json_array();
        for (int i = 0; i < req->n_messages; i++) {
            const char *role = req->messages[i].role ? req->messages[i].role : "user";
            const char *content = req->messages[i].content ? req->messages[i].content : "";
            json_t *m = json_object();
            json_object_set_new(m, "role", json_string(role));
            json_object_set_new(m, "content", json_string(content));
            json_array_append_new(msgs, m);
            est += estimate_tokens(content) + 4; /* + the template's role framing */
        }
        json_object_set_new(body, "messages", msgs);
    }
    /* Non-UTF-8 text makes json_string return NULL, which set_new rejects: check once. */
    if (!json_object_get(body, req->prompt ? "prompt" : "messages") ||
        (!req->prompt &&
         json_array_size(json_object_get(body, "messages")) != (size_t)req->n_messages)) {
        json_decref(body);
        return err_set(e, LLMQ_EFORMAT, "upstream: prompt is not valid UTF-8");
    }
    json_object_set_new(body, "max_tokens", json_integer(req->max_tokens));
    json_object_set_new(body, "temperature", json_real(req->temperature));
    if (req->top_p > 0 && req->top_p < 1) json_object_set_new(body, "top_p", json_real(req->top_p));
    json_object_set_new(body, "seed", json_integer((json_int_t)(req->seed & (uint64_t)INT64_MAX)));
    if (req->presence_penalty != 0)
        json_object_set_new(body, "presence_penalty", json_real(req->presence_penalty));
    if (req->frequency_penalty != 0)
        json_object_set_new(body, "frequency_penalty", json_real(req->frequency_penalty));
    /* Not in OpenAI's API but accepted by vLLM, llama.cpp's server and llmq: sent only when set,
     * so that strict servers see nothing unknown for a default request. */
    if (req->top_k > 0) json_object_set_new(body, "top_k", json_integer(req->top_k));
    if (req->min_p > 0) json_object_set_new(body, "min_p", json_real(req->min_p));
    if (req->repetition_penalty > 0 && req->repetition_penalty != 1)
        json_object_set_new(body, "repetition_penalty", json_real(req->repetition_penalty));
    json_object_set_new(body, "stream", json_true());
    json_t *so = json_object();
    json_object_set_new(so, "include_usage", json_true());
    json_object_set_new(body, "stream_options", so);
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    if (!text) return err_set(e, -ENOMEM, "upstream: out of memory");

    struct upstream_seq *q = calloc(1, sizeof(*q));
    CURL *easy = q ? curl_easy_init() : NULL;
    if (!easy) {
        free(q);
        free(text);
        return err_set(e, -ENOMEM, "upstream: out of memory");
    }
    q->ops = &upstream_engine_ops;
    q->u = u;
    q->easy = easy;
    q->body = text;
    q->max_tokens = req->max_tokens;
    q->prompt_tokens = est > 0 ? est : 1;
    buf_init(&q->line);
    buf_init(&q->event);
    buf_init(&q->errbody);
    buf_init(&q->text);
    q->headers = curl_slist_append(q->headers, "Content-Type: application/json");
    q->headers = curl_slist_append(q->headers, "Accept: text/event-stream");
    q->headers = curl_slist_append(q->headers, "Expect:"); /* no 100-continue round trip */
    if (u->auth_header) q->headers = curl_slist_append(q->headers, u->auth_header);
    curl_easy_setopt(easy, CURLOPT_URL, req->prompt ? u->url_completions : u->url_chat);
    curl_easy_setopt(easy, CURLOPT_HTTPHEADER, q->headers);
    curl_easy_setopt(easy, CURLOPT_POSTFIELDS, q->body);
    curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(q->body));
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(easy, CURLOPT_WRITEDATA, q);
    curl_easy_setopt(easy, CURLOPT_PRIVATE, q);
    curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, q->curl_err);
    curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L); /* the engine runs on a worker thread */
    curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, u->connect_timeout_ms);
    curl_easy_setopt(easy, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(easy, CURLOPT_USERAGENT, "llmq-worker (upstream engine)");
    /* The request starts now; its bytes move whenever a step drives the multi handle. */
    CURLMcode mc = curl_multi_add_handle(u->multi, easy);
    if (mc != CURLM_OK) {
        int rc = err_set(e, -ENOMEM, "upstream: %s", curl_multi_strerror(mc));
        q->easy = NULL;
        curl_easy_cleanup(easy);
        up_seq_free(eng, (struct engine_seq *)q);
        return rc;
    }
    *out = (struct engine_seq *)q;
    return 0;
}

static int up_seq_prompt_tokens(const struct engine_seq *seq)
{
    return ((const struct upstream_seq *)seq)->prompt_tokens;
}

/* Aborts the transfer at once: removing an unfinished easy handle closes its connection, so
 * the upstream sees the client go away (and, if it is llmq, cancels the job). */
static void up_seq_free(struct engine *eng, struct engine_seq *seq)
{
    (void)eng;
    struct upstream_seq *q = (struct upstream_seq *)seq;
    if (q->easy) {
        curl_multi_remove_handle(q->u->multi, q->easy);
        curl_easy_cleanup(q->easy);
    }
    curl_slist_free_all(q->headers);
    free(q->body);
    buf_deinit(&q->line);
    buf_deinit(&q->event);
    buf_deinit(&q->errbody);
    buf_deinit(&q->text);
    free(q->toks);
    free(q);
}

/* ---------------------------------------------------------------------------------------
 * Step */

/* 1 when q can produce this step's output without waiting. */
static int seq_ready(const struct upstream_seq *q)
{
    if (q->failed) return 1;
    int queued = q->n_tok - q->head;
    if (queued > 1) return 1;
    if (queued == 1)
        /* The last token waits for the end of the stream (usage comes after finish_reason,
         * microseconds later); a token not known to be the last goes out at once. */
        return q->finish == ENGINE_FINISH_NONE || q->ended || q->saw_done;
    return 0;
}

/* Drops tokens already emitted (their text was valid until this call). */
static void compact(struct upstream_seq *q)
{
    if (q->head == 0) return;
    size_t cut = q->head < q->n_tok ? q->toks[q->head].off : q->text.len;
    buf_consume(&q->text, cut);
    for (int i = q->head; i < q->n_tok; i++) {
        q->toks[i - q->head] = q->toks[i];
        q->toks[i - q->head].off -= cut;
    }
    q->n_tok -= q->head;
    q->head = 0;
}

static void drive(struct upstream *u)
{
    int running;
    curl_multi_perform(u->multi, &running);
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(u->multi, &left))) {
        if (m->msg != CURLMSG_DONE) continue;
        struct upstream_seq *q = NULL;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&q);
        if (q) on_done(q, m->data.result);
    }
}

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static int up_step(struct engine *eng, struct engine_seq *const *seqs, int n,
                   struct engine_output *out)
{
    struct upstream *u = eng->impl;
    if (n < 0 || n > eng->max_batch) return -EINVAL;
    if (n == 0) return 0;
    for (int i = 0; i < n; i++)
        compact((struct upstream_seq *)seqs[i]);
    /* Drive every transfer until each sequence of the batch has a token (or ended or failed),
     * at most timeout_ms: one step moves at the pace of the slowest stream in it. */
    uint64_t deadline = now_ms() + (uint64_t)u->timeout_ms;
    for (;;) {
        drive(u);
        int waiting = 0;
        for (int i = 0; i < n; i++)
            waiting += !seq_ready((struct upstream_seq *)seqs[i]);
        if (!waiting) break;
        uint64_t now = now_ms();
        if (now >= deadline) break;
        uint64_t wait = deadline - now;
        curl_multi_poll(u->multi, NULL, 0, wait > 100 ? 100 : (int)wait, NULL);
    }
    for (int i = 0; i < n; i++) {
        struct upstream_seq *q = (struct upstream_seq *)seqs[i];
        if (!seq_ready(q) && !q->failed) {
            if (q->head < q->n_tok) {
                /* Only the final [DONE]/close is late: the token and its finish are known. */
            } else {
                seq_fail(q, "no token within %ld ms (LLMQ_UPSTREAM_TIMEOUT_MS)", u->timeout_ms);
            }
        }
        if (q->failed) {
            out[i] = (struct engine_output){.text = q->errmsg,
                                            .text_len = strlen(q->errmsg),
                                            .token_id = -1,
                                            .finish = ENGINE_FINISH_ERROR};
            continue;
        }
        struct tok t = q->toks[q->head++];
        q->emitted++;
        out[i].text = q->text.data ? q->text.data + t.off : "";
        out[i].text_len = t.len;
        out[i].token_id = -1; /* the upstream sends text, not ids */
        out[i].finish = ENGINE_FINISH_NONE;
        if (q->head == q->n_tok && q->finish != ENGINE_FINISH_NONE)
            out[i].finish = q->finish;
        else if (q->emitted >= q->max_tokens)
            out[i].finish = ENGINE_FINISH_LENGTH; /* an upstream that overruns max_tokens */
    }
    return 0;
}

const struct engine_ops upstream_engine_ops = {
    .kind = "upstream",
    .open = up_open,
    .close = up_close,
    .seq_new = up_seq_new,
    .seq_prompt_tokens = up_seq_prompt_tokens,
    .seq_free = up_seq_free,
    .step = up_step,
};
