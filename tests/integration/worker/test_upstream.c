/* test_upstream.c -- the upstream engine with real parts: a real llmq platform (redis-server,
 * llmq-gateway, llmq-worker --engine synthetic, prefix "a:") is the upstream of a second one
 * (llmq-gateway + llmq-worker --engine upstream, prefix "b:", same redis-server). Checks that
 * text through b equals a's for the same seed (completion, chat, streamed, 8 at once), that
 * usage is reported, that a client cancel on b aborts the upstream request (a's open-streams
 * gauge drops), that the API key is sent (a requires one; a worker without it fails with
 * HTTP 401) and that an unreachable upstream fails the job with a clear error. Its first
 * tests feed the SSE parser directly (the .c is included for its static functions).
 * Every wait is bounded; every process started here is stopped here. */
#include "engine/upstream.c"

#include "redis_harness.h"
#include "test.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---------------------------------------------------------------------------------------
 * Parser (no network) */

static struct upstream fake_up;

static struct upstream_seq *fake_seq(void)
{
    struct upstream_seq *q = xcalloc(1, sizeof(*q));
    q->ops = &upstream_engine_ops;
    q->u = &fake_up;
    q->http_status = 200;
    q->max_tokens = 100;
    q->prompt_tokens = 1;
    buf_init(&q->line);
    buf_init(&q->event);
    buf_init(&q->errbody);
    buf_init(&q->text);
    return q;
}

static void free_seq(struct upstream_seq *q)
{
    up_seq_free(NULL, (struct engine_seq *)q);
}

/* Feeds s in pieces of step bytes as curl would; returns the bytes accepted (0 once the
 * parser aborted the transfer). */
static size_t feed(struct upstream_seq *q, const char *s, size_t step)
{
    size_t n = strlen(s), total = 0;
    for (size_t i = 0; i < n; i += step) {
        size_t k = n - i < step ? n - i : step;
        char piece[4096];
        memcpy(piece, s + i, k);
        if (on_write(piece, 1, k, q) != k) return 0;
        total += k;
    }
    return total;
}

static void check_tok(struct upstream_seq *q, int i, const char *text)
{
    CHECK(i < q->n_tok);
    if (i < q->n_tok) CHECK_STR(q->text.data + q->toks[i].off, q->toks[i].len, text);
}

static void test_parse_completion_any_split(void)
{
    const char *sse =
        ": ping\r\n\r\n"
        "id: x:0\r\ndata: {\"choices\":[{\"index\":0,\"text\":\" caf\\u00e9\",\"finish_reason\":null}]}\r\n\r\n"
        "data: {\"choices\":[{\"index\":0,\"text\":\" two\",\"finish_reason\":null}]}\n\n"
        "data: {\"choices\":[{\"index\":0,\"text\":\"\",\"finish_reason\":\"length\"}]}\n\n"
        "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":17,\"completion_tokens\":2}}\n\n"
        "data: [DONE]\n\n";
    for (size_t step = 1; step <= strlen(sse); step += (step < 8 ? 1 : 37)) {
        struct upstream_seq *q = fake_seq();
        CHECK_EQ(feed(q, sse, step), strlen(sse));
        CHECK(!q->failed);
        CHECK_EQ(q->n_tok, 2); /* the finish-only chunk ends " two": no token of its own */
        check_tok(q, 0, " café");
        check_tok(q, 1, " two");
        CHECK_EQ(q->finish, ENGINE_FINISH_LENGTH);
        CHECK_EQ(q->prompt_tokens, 17);
        CHECK(q->saw_done);
        free_seq(q);
    }
}

static void test_parse_chat_roles_and_finish_token(void)
{
    struct upstream_seq *q = fake_seq();
    feed(q, "data: {\"choices\":[{\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}]}\n\n", 9);
    CHECK_EQ(q->n_tok, 0); /* the role delta is no token */
    feed(q, "data: {\"choices\":[{\"delta\":{\"content\":\"Hi\"}}]}\n\n", 100);
    CHECK_EQ(q->n_tok, 1);
    CHECK(seq_ready(q)); /* not known to be the last: goes out at once */
    q->head = 1;         /* emitted */
    feed(q, "data: {\"choices\":[{\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n", 100);
    CHECK_EQ(q->n_tok, 2); /* the finish chunk after an emitted token is one of its own */
    check_tok(q, 1, "");
    CHECK_EQ(q->finish, ENGINE_FINISH_STOP);
    CHECK(!seq_ready(q)); /* the last token waits for the end of the stream (usage) */
    feed(q, "data: [DONE]\n\n", 3);
    CHECK(seq_ready(q));
    /* Text after the finish is ignored. */
    feed(q, "data: {\"choices\":[{\"delta\":{\"content\":\"late\"}}]}\n\n", 100);
    CHECK_EQ(q->n_tok, 2);
    free_seq(q);
}

static void test_parse_errors(void)
{
    struct upstream_seq *q = fake_seq();
    CHECK_EQ(feed(q, "data: {\"choices\":[{\"text\":\"a\"}\n\n", 100), 0); /* aborts */
    CHECK(q->failed);
    CHECK(strstr(q->errmsg, "malformed stream chunk") != NULL);
    CHECK(seq_ready(q));
    free_seq(q);

    q = fake_seq();
    CHECK_EQ(feed(q, "data: {\"error\":{\"message\":\"overloaded, retry\"}}\n\n", 100), 0);
    CHECK(q->failed);
    CHECK(strstr(q->errmsg, "overloaded, retry") != NULL);
    free_seq(q);

    /* A non-2xx answer: its body becomes the message when the transfer ends. */
    q = fake_seq();
    q->http_status = 503;
    feed(q, "{\"error\":{\"message\":\"no capacity\",\"type\":\"overloaded\"}}", 7);
    CHECK(!q->failed);
    on_done(q, CURLE_OK);
    CHECK(q->failed);
    CHECK(strstr(q->errmsg, "HTTP 503: no capacity") != NULL);
    free_seq(q);

    /* A clean end without finish_reason or [DONE] is a truncated stream. */
    q = fake_seq();
    feed(q, "data: {\"choices\":[{\"text\":\"a\"}]}\n\n", 100);
    on_done(q, CURLE_OK);
    CHECK(q->failed);
    CHECK(strstr(q->errmsg, "without finish_reason") != NULL);
    free_seq(q);

    /* [DONE] without any finish_reason: stop. */
    q = fake_seq();
    feed(q, "data: {\"choices\":[{\"text\":\"a\"}]}\n\ndata: [DONE]\n\n", 100);
    q->head = 1;
    on_done(q, CURLE_OK);
    CHECK(!q->failed);
    CHECK_EQ(q->finish, ENGINE_FINISH_STOP);
    CHECK_EQ(q->n_tok, 2);
    free_seq(q);
}

/* ---------------------------------------------------------------------------------------
 * Real platforms */

static struct redis_server rs;
static char log_dir[160];
static const char *bin_dir;

struct proc {
    pid_t pid;
    int port;
    char log[256];
};

static struct proc gw_a, gw_b, gw_c, wk_a, wk_b, wk_c;

static int http_status(int port, const char *path, const char *want)
{
    char body[512];
    int status = 0;
    if (harness_http_get(port, path, &status, body, sizeof(body)) < 0) return 0;
    return status == 200 && (!want || strstr(body, want));
}

static int proc_start(struct proc *p, const char *name, const char *const *args, int is_gateway)
{
    char exe[512], url[64], port[16];
    p->port = harness_free_port();
    snprintf(exe, sizeof(exe), "%s/%s", bin_dir, is_gateway ? "llmq-gateway" : "llmq-worker");
    snprintf(url, sizeof(url), "redis://127.0.0.1:%d", rs.port);
    snprintf(port, sizeof(port), "%d", p->port);
    snprintf(p->log, sizeof(p->log), "%s/%s.log", log_dir, name);
    char *argv[32];
    int n = 0;
    argv[n++] = exe;
    argv[n++] = "--redis-url";
    argv[n++] = url;
    argv[n++] = is_gateway ? "--port" : "--metrics-port";
    argv[n++] = port;
    for (int i = 0; args[i] && n < 30; i++)
        argv[n++] = (char *)args[i];
    argv[n] = NULL;
    p->pid = harness_spawn(argv, p->log);
    if (p->pid <= 0) return -1;
    long long until = harness_now_ms() + 10000;
    while (harness_now_ms() < until) {
        if (is_gateway ? http_status(p->port, "/readyz", NULL)
                       : http_status(p->port, "/healthz", "\"ready\":true"))
            return 0;
        usleep(20000);
    }
    fprintf(stderr, "%s did not become ready; log %s\n", name, p->log);
    return -1;
}

static int log_has(const struct proc *p, const char *a, const char *b);

/* SIGTERM, bounded wait: a clean exit 0 with nothing from the sanitizers in its log. */
static void proc_stop(struct proc *p)
{
    if (p->pid <= 0) return;
    kill(p->pid, SIGTERM);
    int st = 0;
    if (harness_wait(p->pid, 5000, &st) < 0) {
        harness_kill(p->pid);
        CHECK(!"process exited within 5 s of SIGTERM");
    } else {
        CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    }
    CHECK(!log_has(p, "Sanitizer", NULL) && !log_has(p, "runtime error", NULL));
    p->pid = 0;
}

static int log_has(const struct proc *p, const char *a, const char *b)
{
    FILE *f = fopen(p->log, "r");
    if (!f) return 0;
    char line[4096];
    int found = 0;
    while (!found && fgets(line, sizeof(line), f))
        found = strstr(line, a) && (!b || strstr(line, b));
    fclose(f);
    return found;
}

static double metric(int port, const char *name)
{
    static char body[1 << 16];
    int status = 0;
    if (harness_http_get(port, "/metrics", &status, body, sizeof(body)) < 0 || status != 200)
        return -1;
    size_t n = strlen(name);
    for (char *p = body; (p = strstr(p, name)) != NULL; p += n)
        if ((p == body || p[-1] == '\n') && p[n] == ' ') return atof(p + n + 1);
    return -1;
}

static size_t on_body(char *p, size_t size, size_t nmemb, void *ud)
{
    buf_append(ud, p, size * nmemb);
    return size * nmemb;
}

static const char *api_key = "k-upstream-test";

static CURL *post_handle(int port, const char *path, const char *body, struct buf *out,
                         struct curl_slist **hdrs, int with_key)
{
    char url[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port, path);
    *hdrs = curl_slist_append(NULL, "Content-Type: application/json");
    if (with_key) {
        char h[128];
        snprintf(h, sizeof(h), "Authorization: Bearer %s", api_key);
        *hdrs = curl_slist_append(*hdrs, h);
    }
    CURL *c = curl_easy_init();
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, *hdrs);
    curl_easy_setopt(c, CURLOPT_COPYPOSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 15000L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    return c;
}

/* POST, bounded by 15 s; returns the HTTP status (0 on a transport error), body in out. */
static long post(int port, const char *path, const char *body, struct buf *out, int with_key)
{
    struct curl_slist *h;
    buf_reset(out);
    CURL *c = post_handle(port, path, body, out, &h, with_key);
    long status = 0;
    if (curl_easy_perform(c) == CURLE_OK) curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(c);
    curl_slist_free_all(h);
    return status;
}

struct answer {
    char text[4096];
    char finish[32];
    long long prompt_tokens, completion_tokens;
    int chunks;
};

/* Reads a non-streamed completion or chat answer. */
static int read_answer(const struct buf *b, struct answer *a)
{
    memset(a, 0, sizeof(*a));
    a->prompt_tokens = a->completion_tokens = -1;
    json_t *j = json_loadb(b->data ? b->data : "", b->len, 0, NULL);
    json_t *c0 = json_array_get(json_object_get(j, "choices"), 0);
    const char *t = json_string_value(json_object_get(c0, "text"));
    if (!t) t = json_string_value(json_object_get(json_object_get(c0, "message"), "content"));
    const char *f = json_string_value(json_object_get(c0, "finish_reason"));
    json_t *u = json_object_get(j, "usage");
    int ok = t != NULL;
    snprintf(a->text, sizeof(a->text), "%s", t ? t : "");
    snprintf(a->finish, sizeof(a->finish), "%s", f ? f : "");
    if (u) {
        a->prompt_tokens = json_integer_value(json_object_get(u, "prompt_tokens"));
        a->completion_tokens = json_integer_value(json_object_get(u, "completion_tokens"));
    }
    json_decref(j);
    return ok ? 0 : -1;
}

/* Reads a streamed (SSE) answer: concatenated text, finish_reason, usage chunk. */
static int read_sse(const struct buf *b, struct answer *a)
{
    memset(a, 0, sizeof(*a));
    a->prompt_tokens = a->completion_tokens = -1;
    int done = 0;
    size_t tl = 0;
    for (const char *p = b->data; p && *p;) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        if (len > 6 && !strncmp(p, "data: ", 6)) {
            if (len == 12 && !strncmp(p + 6, "[DONE]", 6)) done = 1;
            json_t *j = json_loadb(p + 6, len - 6, 0, NULL);
            json_t *c0 = json_array_get(json_object_get(j, "choices"), 0);
            const char *t = json_string_value(json_object_get(c0, "text"));
            if (!t) t = json_string_value(json_object_get(json_object_get(c0, "delta"), "content"));
            if (t && *t) {
                size_t n = strlen(t);
                if (tl + n < sizeof(a->text)) memcpy(a->text + tl, t, n + 1), tl += n;
                a->chunks++;
            }
            const char *f = json_string_value(json_object_get(c0, "finish_reason"));
            if (f) snprintf(a->finish, sizeof(a->finish), "%s", f);
            json_t *u = json_object_get(j, "usage");
            if (json_is_object(u)) {
                a->prompt_tokens = json_integer_value(json_object_get(u, "prompt_tokens"));
                a->completion_tokens = json_integer_value(json_object_get(u, "completion_tokens"));
            }
            json_decref(j);
        }
        p = nl ? nl + 1 : p + len;
    }
    return done ? 0 : -1;
}

static void test_completion_same_as_upstream(void)
{
    struct buf b;
    buf_init(&b);
    const uint64_t seeds[] = {42, 7, 1234567890123ull};
    for (size_t i = 0; i < sizeof(seeds) / sizeof(seeds[0]); i++) {
        char body[256];
        snprintf(body, sizeof(body),
                 "{\"prompt\":\"The queue of tokens\",\"max_tokens\":24,\"seed\":%llu}",
                 (unsigned long long)seeds[i]);
        struct answer da, db;
        CHECK_EQ(post(gw_a.port, "/v1/completions", body, &b, 1), 200);
        CHECK(read_answer(&b, &da) == 0);
        CHECK_EQ(post(gw_b.port, "/v1/completions", body, &b, 0), 200);
        CHECK(read_answer(&b, &db) == 0);
        CHECK_STR(db.text, strlen(db.text), da.text);
        CHECK(da.text[0] != 0);
        CHECK(!strcmp(db.finish, "length") && !strcmp(da.finish, "length"));
        /* Usage: b counts one token per upstream chunk (a's gateway may merge tokens, and a
         * finish that arrives alone is a token of its own); prompt tokens are a's count,
         * which the worker re-reads from the engine when the sequence ends. */
        /* The upstream's exact prompt count (its usage chunk), not b's estimate. */
        CHECK_EQ(db.prompt_tokens, da.prompt_tokens);
        CHECK(db.completion_tokens >= 1 && db.completion_tokens <= da.completion_tokens + 1);
        if (i == 0)
            fprintf(stderr, "completion: a usage %lld+%lld, b usage %lld+%lld, text '%s'\n",
                    da.prompt_tokens, da.completion_tokens, db.prompt_tokens,
                    db.completion_tokens, db.text);
    }
    buf_deinit(&b);
}

static void test_chat_streamed_with_usage(void)
{
    struct buf b;
    buf_init(&b);
    const char *plain = "{\"messages\":[{\"role\":\"system\",\"content\":\"Be brief.\"},"
                        "{\"role\":\"user\",\"content\":\"Say something \\u00e9\"}],"
                        "\"max_tokens\":16,\"seed\":99}";
    const char *streamed = "{\"messages\":[{\"role\":\"system\",\"content\":\"Be brief.\"},"
                           "{\"role\":\"user\",\"content\":\"Say something \\u00e9\"}],"
                           "\"max_tokens\":16,\"seed\":99,\"stream\":true,"
                           "\"stream_options\":{\"include_usage\":true}}";
    struct answer da, db;
    CHECK_EQ(post(gw_a.port, "/v1/chat/completions", plain, &b, 1), 200);
    CHECK(read_answer(&b, &da) == 0);
    CHECK_EQ(post(gw_b.port, "/v1/chat/completions", streamed, &b, 0), 200);
    CHECK(read_sse(&b, &db) == 0);
    CHECK_STR(db.text, strlen(db.text), da.text);
    CHECK(!strcmp(db.finish, "length"));
    CHECK_EQ(db.prompt_tokens, da.prompt_tokens);
    CHECK(db.completion_tokens >= 1 && db.completion_tokens <= da.completion_tokens + 1);
    fprintf(stderr, "chat: a '%s' usage %lld+%lld; b %d chunks, usage %lld+%lld\n", da.text,
            da.prompt_tokens, da.completion_tokens, db.chunks, db.prompt_tokens,
            db.completion_tokens);
    buf_deinit(&b);
}

/* Eight requests at once through b (one batch of upstream streams): each equals a's. */
static void test_batch_of_eight(void)
{
    enum { N = 8 };
    struct buf ba[N], bb[N];
    struct curl_slist *ha[N], *hb[N];
    CURL *ca[N], *cb[N];
    CURLM *m = curl_multi_init();
    char body[N][160];
    for (int i = 0; i < N; i++) {
        buf_init(&ba[i]);
        buf_init(&bb[i]);
        snprintf(body[i], sizeof(body[i]),
                 "{\"prompt\":\"request %d of a batch\",\"max_tokens\":%d,\"seed\":%d}", i,
                 8 + 5 * i, 1000 + i);
        ca[i] = post_handle(gw_a.port, "/v1/completions", body[i], &ba[i], &ha[i], 1);
        cb[i] = post_handle(gw_b.port, "/v1/completions", body[i], &bb[i], &hb[i], 0);
        curl_multi_add_handle(m, ca[i]);
        curl_multi_add_handle(m, cb[i]);
    }
    long long t0 = harness_now_ms();
    int running = 1;
    while (running && harness_now_ms() - t0 < 20000) {
        curl_multi_perform(m, &running);
        if (running) curl_multi_poll(m, NULL, 0, 100, NULL);
    }
    CHECK_EQ(running, 0);
    for (int i = 0; i < N; i++) {
        struct answer da, db;
        CHECK(read_answer(&ba[i], &da) == 0);
        CHECK(read_answer(&bb[i], &db) == 0);
        CHECK_STR(db.text, strlen(db.text), da.text);
        curl_multi_remove_handle(m, ca[i]);
        curl_multi_remove_handle(m, cb[i]);
        curl_easy_cleanup(ca[i]);
        curl_easy_cleanup(cb[i]);
        curl_slist_free_all(ha[i]);
        curl_slist_free_all(hb[i]);
        buf_deinit(&ba[i]);
        buf_deinit(&bb[i]);
    }
    curl_multi_cleanup(m);
}

/* A client that goes away from b: b's worker frees the sequence, which closes the upstream
 * connection, and a's gateway (and worker) see the cancel. */
static void test_cancel_aborts_upstream(void)
{
    struct buf b;
    buf_init(&b);
    struct curl_slist *h;
    CURL *c = post_handle(gw_b.port, "/v1/completions",
                          "{\"prompt\":\"long\",\"max_tokens\":100000,\"seed\":5,\"stream\":true}",
                          &b, &h, 0);
    CURLM *m = curl_multi_init();
    curl_multi_add_handle(m, c);
    long long t0 = harness_now_ms();
    int running = 1;
    while (running && b.len < 4000 && harness_now_ms() - t0 < 10000) {
        curl_multi_perform(m, &running);
        if (running) curl_multi_poll(m, NULL, 0, 50, NULL);
    }
    CHECK(b.len >= 4000);
    CHECK_EQ(metric(gw_a.port, "llmq_open_streams"), 1);
    CHECK_EQ(metric(gw_b.port, "llmq_open_streams"), 1);
    curl_multi_remove_handle(m, c); /* the client goes away */
    curl_easy_cleanup(c);
    long long t_cancel = harness_now_ms();
    double open_a = 1;
    while (harness_now_ms() - t_cancel < 3000 && (open_a = metric(gw_a.port, "llmq_open_streams")) != 0)
        usleep(5000);
    long long dt = harness_now_ms() - t_cancel;
    CHECK_EQ(open_a, 0);
    fprintf(stderr, "cancel: upstream stream closed %lld ms after the client left b\n", dt);
    /* a's worker stops generating: it logs the cancel of its job. */
    long long until = harness_now_ms() + 2000;
    while (harness_now_ms() < until && !log_has(&wk_a, "job cancelled", NULL))
        usleep(20000);
    CHECK(log_has(&wk_a, "job cancelled", NULL));
    curl_multi_cleanup(m);
    curl_slist_free_all(h);
    buf_deinit(&b);
}

/* Worker c: without the API key a demands (HTTP 401), then pointed at a closed port. Both
 * fail the job (after --max-attempts 1) with the reason in c's log. */
static void test_upstream_errors(void)
{
    struct buf b;
    buf_init(&b);
    const char *gw_args[] = {"--prefix", "c:", NULL};
    CHECK(proc_start(&gw_c, "gw_c", gw_args, 1) == 0);
    char url_a[64];
    snprintf(url_a, sizeof(url_a), "http://127.0.0.1:%d/v1", gw_a.port);
    const char *wk_args[] = {"--prefix",     "c:",  "--engine",     "upstream",
                             "--upstream-url", url_a, "--max-attempts", "1",
                             "--lease-ms",   "200", "--id",         "wc1", NULL};
    unsetenv("LLMQ_UPSTREAM_API_KEY");
    CHECK(proc_start(&wk_c, "wk_c1", wk_args, 0) == 0);
    long long t0 = harness_now_ms();
    long st = post(gw_c.port, "/v1/completions", "{\"prompt\":\"x\",\"max_tokens\":4}", &b, 0);
    CHECK(st >= 500);
    CHECK(strstr(b.data ? b.data : "", "\"error\"") != NULL);
    CHECK(log_has(&wk_c, "upstream: HTTP 401", NULL));
    fprintf(stderr, "401 upstream: answer %ld in %lld ms: %s\n", st, harness_now_ms() - t0,
            b.data ? b.data : "");
    /* The engine's reason reaches the client, the job hash and the dead-letter entry. */
    CHECK(strstr(b.data ? b.data : "", "last error: upstream: HTTP 401") != NULL);
    redisContext *rc = redis_server_connect(&rs);
    CHECK(rc != NULL);
    if (rc) {
        redisReply *keys = redisCommand(rc, "KEYS c:job:*");
        int hashes = 0;
        for (size_t i = 0; keys && keys->type == REDIS_REPLY_ARRAY && i < keys->elements; i++) {
            redisReply *e = redisCommand(rc, "HGET %s error", keys->element[i]->str);
            if (e && e->type == REDIS_REPLY_STRING && strstr(e->str, "upstream: HTTP 401"))
                hashes++;
            freeReplyObject(e);
        }
        CHECK_EQ(hashes, 1);
        freeReplyObject(keys);
        redisReply *dlq = redisCommand(rc, "XRANGE c:dlq - +");
        int dead = 0;
        for (size_t i = 0; dlq && dlq->type == REDIS_REPLY_ARRAY && i < dlq->elements; i++) {
            redisReply *kv = dlq->element[i]->element[1];
            for (size_t k = 0; k + 1 < kv->elements; k += 2)
                if (!strcmp(kv->element[k]->str, "error") &&
                    strstr(kv->element[k + 1]->str, "last error: upstream: HTTP 401"))
                    dead++;
        }
        CHECK_EQ(dead, 1);
        freeReplyObject(dlq);
        redisFree(rc);
    }
    proc_stop(&wk_c);

    char url_dead[64];
    snprintf(url_dead, sizeof(url_dead), "http://127.0.0.1:%d", harness_free_port());
    wk_args[5] = url_dead;
    wk_args[11] = "wc2";
    CHECK(proc_start(&wk_c, "wk_c2", wk_args, 0) == 0);
    t0 = harness_now_ms();
    st = post(gw_c.port, "/v1/completions",
              "{\"prompt\":\"x\",\"max_tokens\":4,\"stream\":true}", &b, 0);
    long long dt = harness_now_ms() - t0;
    CHECK_EQ(st, 200); /* streamed: the error is an event */
    CHECK(strstr(b.data ? b.data : "", "\"error\"") != NULL);
    CHECK(dt < 5000);
    CHECK(log_has(&wk_c, "upstream: ", "connect"));
    fprintf(stderr, "unreachable upstream: job failed in %lld ms: %s\n", dt, b.data ? b.data : "");
    proc_stop(&wk_c);

    /* An upstream that accepts the connection and never answers: the step gives up after
     * LLMQ_UPSTREAM_TIMEOUT_MS (the kernel completes the handshake from the backlog). */
    int ls = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof(sa);
    CHECK(ls >= 0 && bind(ls, (struct sockaddr *)&sa, sizeof(sa)) == 0 && listen(ls, 8) == 0 &&
          getsockname(ls, (struct sockaddr *)&sa, &sl) == 0);
    char url_silent[64];
    snprintf(url_silent, sizeof(url_silent), "http://127.0.0.1:%d", ntohs(sa.sin_port));
    wk_args[5] = url_silent;
    wk_args[11] = "wc3";
    setenv("LLMQ_UPSTREAM_TIMEOUT_MS", "300", 1);
    CHECK(proc_start(&wk_c, "wk_c3", wk_args, 0) == 0);
    unsetenv("LLMQ_UPSTREAM_TIMEOUT_MS");
    t0 = harness_now_ms();
    st = post(gw_c.port, "/v1/completions", "{\"prompt\":\"x\",\"max_tokens\":4}", &b, 0);
    dt = harness_now_ms() - t0;
    CHECK(st >= 500);
    CHECK(log_has(&wk_c, "upstream: no token within 300 ms", NULL));
    fprintf(stderr, "silent upstream: job failed in %lld ms\n", dt);
    proc_stop(&wk_c);
    close(ls);
    proc_stop(&gw_c);
    buf_deinit(&b);
}

int main(void)
{
    TEST_RUN(test_parse_completion_any_split);
    TEST_RUN(test_parse_chat_roles_and_finish_token);
    TEST_RUN(test_parse_errors);

    bin_dir = getenv("LLMQ_BIN_DIR");
    int rc = redis_server_start(&rs);
    if (!bin_dir || rc < 0) {
        fprintf(stderr, "SKIP platform tests: %s\n",
                !bin_dir ? "LLMQ_BIN_DIR not set" : "redis-server not available");
        TEST_MAIN_END();
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    snprintf(log_dir, sizeof(log_dir), "%s", rs.dir);
    char keys[64], url_a[64];
    snprintf(keys, sizeof(keys), "%s", api_key);
    const char *ga[] = {"--prefix", "a:", "--api-keys", keys, NULL};
    const char *wa[] = {"--prefix", "a:", "--engine", "synthetic", "--step-ms", "2",
                        "--id",     "wa", NULL};
    const char *gb[] = {"--prefix", "b:", NULL};
    int ok = proc_start(&gw_a, "gw_a", ga, 1) == 0 && proc_start(&wk_a, "wk_a", wa, 0) == 0 &&
             proc_start(&gw_b, "gw_b", gb, 1) == 0;
    snprintf(url_a, sizeof(url_a), "http://127.0.0.1:%d/", gw_a.port);
    const char *wb[] = {"--prefix", "b:", "--engine", "upstream", "--upstream-url", url_a,
                        "--id",     "wb", NULL};
    setenv("LLMQ_UPSTREAM_API_KEY", api_key, 1);
    ok = ok && proc_start(&wk_b, "wk_b", wb, 0) == 0;
    CHECK(ok);
    if (ok) {
        TEST_RUN(test_completion_same_as_upstream);
        TEST_RUN(test_chat_streamed_with_usage);
        TEST_RUN(test_batch_of_eight);
        TEST_RUN(test_cancel_aborts_upstream);
        TEST_RUN(test_upstream_errors);
    }
    struct proc *all[] = {&wk_b, &gw_b, &wk_a, &gw_a, &wk_c, &gw_c};
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
        proc_stop(all[i]);
    if (test_failures && !getenv("LLMQ_TEST_KEEP")) {
        char cmd[400];
        snprintf(cmd, sizeof(cmd), "tail -n 8 %s/*.log >&2", log_dir);
        if (system(cmd) != 0) { /* best effort */ }
    }
    redis_server_stop(&rs);
    redis_server_cleanup(&rs);
    curl_global_cleanup();
    TEST_MAIN_END();
}
