/* test_gateway.c -- the real llmq-gateway against a real redis-server, with this test playing
 * the worker (it reads the job from P jobs, checks it with the queue library's job_decode,
 * and PUBLISHes event records) and real clients over sockets: SSE, JSON, WebSocket, resume,
 * jobs, errors (malformed JSON, wrong types, 413, bad frames, 401) while other streams go on,
 * backpressure (503 + Retry-After), rate limit (429) and SIGTERM drain. Every wait is bounded. */
#include "../worker/redis_harness.h"
#include "queue/event.h"
#include "queue/job.h"
#include "test.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/evp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

static struct redis_server rs;
static redisContext *rc;
static pid_t gw_pid = -1, gw2_pid = -1;
static int gw_port, gw2_port;
static char last_job_id[64] = "0-0";
static char logdir[256];

/* ---------------------------------------------------------------- sockets */

static int dial(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct timeval tv = {.tv_sec = 3};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static int send_all(int fd, const void *p, size_t n)
{
    const char *b = p;
    while (n) {
        ssize_t w = send(fd, b, n, MSG_NOSIGNAL);
        if (w <= 0) return -1;
        b += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Reads until needle appears in buf (or EOF/timeout). Returns total bytes in buf. */
static size_t read_until(int fd, char *buf, size_t cap, size_t have, const char *needle)
{
    buf[have] = 0;
    while (have + 1 < cap && !strstr(buf, needle)) {
        ssize_t r = recv(fd, buf + have, cap - 1 - have, 0);
        if (r <= 0) break;
        have += (size_t)r;
        buf[have] = 0;
    }
    return have;
}

/* One HTTP request; returns the status and fills resp with the whole response (headers +
 * body) read until Content-Length is satisfied or the terminating chunk / close. */
static int http(int port, const char *method, const char *path, const char *headers,
                const char *body, char *resp, size_t cap)
{
    int fd = dial(port);
    if (fd < 0) return -1;
    char req[8192];
    size_t bl = body ? strlen(body) : 0;
    int n =
        snprintf(req, sizeof(req),
                 "%s %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n%sContent-Length: %zu\r\n\r\n",
                 method, path, headers ? headers : "", bl);
    send_all(fd, req, (size_t)n);
    if (bl) send_all(fd, body, bl);
    size_t have = 0;
    resp[0] = 0;
    while (have + 1 < cap) {
        ssize_t r = recv(fd, resp + have, cap - 1 - have, 0);
        if (r <= 0) break;
        have += (size_t)r;
        resp[have] = 0;
    }
    close(fd);
    int status = 0;
    sscanf(resp, "HTTP/1.1 %d", &status);
    return status;
}

/* ---------------------------------------------------------------- playing the worker */

static void rcmd(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(rc, fmt, ap);
    va_end(ap);
    freeReplyObject(r);
}

/* Waits for the next job in P jobs; writes its request id and req JSON. */
static int next_job(char *id, size_t id_cap, char *req, size_t req_cap)
{
    redisReply *r = redisCommand(rc, "XREAD COUNT 1 BLOCK 3000 STREAMS llmq:jobs %s", last_job_id);
    int ok = -1;
    if (r && r->type == REDIS_REPLY_ARRAY && r->elements == 1) {
        redisReply *e = r->element[0]->element[1]->element[0];
        snprintf(last_job_id, sizeof(last_job_id), "%s", e->element[0]->str);
        redisReply *f = e->element[1];
        for (size_t i = 0; i + 1 < f->elements; i += 2) {
            if (!strcmp(f->element[i]->str, "id"))
                snprintf(id, id_cap, "%s", f->element[i + 1]->str);
            if (!strcmp(f->element[i]->str, "req"))
                snprintf(req, req_cap, "%s", f->element[i + 1]->str);
        }
        ok = 0;
    }
    freeReplyObject(r);
    return ok;
}

static void publish(const char *gw, struct buf *msg)
{
    redisReply *r = redisCommand(rc, "PUBLISH llmq:gw:%s %b", gw, msg->data, msg->len);
    freeReplyObject(r);
    buf_reset(msg);
}

static void tok(struct buf *m, const char *id, uint32_t index, uint32_t count, const char *text)
{
    event_append(m, EVENT_KIND_TOKENS, id, strlen(id), index, count, text, strlen(text));
}

static void done(struct buf *m, const char *id, uint32_t total)
{
    char js[256];
    snprintf(
        js, sizeof(js),
        "{\"finish_reason\":\"length\",\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":%u},"
        "\"timing\":{\"queue_ms\":0.5,\"ttft_ms\":1.5,\"total_ms\":9.5}}",
        total);
    event_append(m, EVENT_KIND_DONE, id, strlen(id), total, 0, js, strlen(js));
}

/* ---------------------------------------------------------------- WebSocket client */

static int ws_open(int port, const char *extra)
{
    int fd = dial(port);
    if (fd < 0) return -1;
    char req[1024];
    int n = snprintf(
        req, sizeof(req),
        "GET /v1/ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n%s\r\n",
        extra ? extra : "");
    send_all(fd, req, (size_t)n);
    char resp[2048];
    size_t have = 0;
    while (have + 1 < sizeof(resp)) { /* read the header byte by byte: frames follow */
        ssize_t r = recv(fd, resp + have, 1, 0);
        if (r <= 0) break;
        have++;
        resp[have] = 0;
        if (have >= 4 && !memcmp(resp + have - 4, "\r\n\r\n", 4)) break;
    }
    if (!strstr(resp, "101 Switching") ||
        !strstr(resp, "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")) {
        close(fd);
        return -1;
    }
    return fd;
}

static void ws_send_frame(int fd, int opcode, const char *data, size_t len, int masked)
{
    unsigned char h[14];
    size_t n = 0;
    h[n++] = (unsigned char)(0x80 | opcode);
    unsigned char mbit = masked ? 0x80 : 0;
    if (len < 126)
        h[n++] = (unsigned char)(mbit | len);
    else {
        h[n++] = mbit | 126;
        h[n++] = (unsigned char)(len >> 8);
        h[n++] = (unsigned char)len;
    }
    unsigned char key[4] = {1, 2, 3, 4};
    if (masked) {
        memcpy(h + n, key, 4);
        n += 4;
    }
    char *p = malloc(len + 1);
    for (size_t i = 0; i < len; i++)
        p[i] = (char)(data[i] ^ (masked ? key[i % 4] : 0));
    send_all(fd, h, n);
    send_all(fd, p, len);
    free(p);
}

static void ws_send(int fd, const char *json)
{
    ws_send_frame(fd, 1, json, strlen(json), 1);
}

/* Reads one frame; returns the opcode (payload NUL-terminated into out) or -1. */
static int ws_recv(int fd, char *out, size_t cap)
{
    unsigned char h[2];
    if (recv(fd, h, 2, MSG_WAITALL) != 2) return -1;
    uint64_t len = h[1] & 0x7f;
    if (len == 126) {
        unsigned char e[2];
        if (recv(fd, e, 2, MSG_WAITALL) != 2) return -1;
        len = (uint64_t)e[0] << 8 | e[1];
    } else if (len == 127) {
        unsigned char e[8];
        if (recv(fd, e, 8, MSG_WAITALL) != 8) return -1;
        len = 0;
        for (int i = 0; i < 8; i++)
            len = len << 8 | e[i];
    }
    if (len + 1 > cap) return -1;
    if (len && recv(fd, out, len, MSG_WAITALL) != (ssize_t)len) return -1;
    out[len] = 0;
    return h[0] & 0x0f;
}

/* ---------------------------------------------------------------- tests */

static void test_health(void)
{
    char resp[4096];
    int st0 = -1;
    for (int i = 0; i < 50 && st0 != 200; i++) {
        st0 = http(gw_port, "GET", "/healthz", NULL, NULL, resp, sizeof(resp));
        if (st0 != 200) usleep(100000);
    }
    CHECK_EQ(st0, 200);
    CHECK(strstr(resp, "X-Request-Id: ") != NULL);
    int st = 0;
    for (int i = 0; i < 50 && st != 200; i++) {
        st = http(gw_port, "GET", "/readyz", NULL, NULL, resp, sizeof(resp));
        if (st != 200) usleep(100000);
    }
    CHECK_EQ(st, 200);
    CHECK_EQ(http(gw_port, "GET", "/metrics", NULL, NULL, resp, sizeof(resp)), 200);
    CHECK(strstr(resp, "llmq_open_streams") != NULL);
    CHECK_EQ(http(gw_port, "GET", "/nope", NULL, NULL, resp, sizeof(resp)), 404);
}

static const char *AUTH = "Authorization: Bearer k1\r\n";

static void test_auth(void)
{
    char resp[4096];
    const char *body = "{\"prompt\":\"x\"}";
    CHECK_EQ(http(gw_port, "POST", "/v1/completions", NULL, body, resp, sizeof(resp)), 401);
    CHECK(strstr(resp, "\"error\":{\"message\":") && strstr(resp, "\"code\":\"unauthorized\""));
    CHECK_EQ(http(gw_port, "POST", "/v1/completions", "Authorization: Bearer wrong\r\n", body, resp,
                  sizeof(resp)),
             401);
    CHECK_EQ(http(gw_port, "GET", "/v1/models", "Authorization: Bearer k2\r\n", NULL, resp,
                  sizeof(resp)),
             200);
    CHECK(strstr(resp, "\"object\":\"list\"") != NULL);
}

static void test_bad_input(void)
{
    char resp[8192];
    CHECK_EQ(http(gw_port, "POST", "/v1/completions", AUTH, "{\"prompt\":", resp, sizeof(resp)),
             400);
    CHECK(strstr(resp, "invalid JSON") != NULL);
    CHECK_EQ(http(gw_port, "POST", "/v1/completions", AUTH,
                  "{\"prompt\":\"x\",\"max_tokens\":\"many\"}", resp, sizeof(resp)),
             400);
    CHECK(strstr(resp, "max_tokens") != NULL && strstr(resp, "\"param\":\"max_tokens\"") != NULL);
    CHECK_EQ(http(gw_port, "POST", "/v1/chat/completions", AUTH, "{\"messages\":\"hi\"}", resp,
                  sizeof(resp)),
             400);
    CHECK(strstr(resp, "messages") != NULL);
    CHECK_EQ(http(gw_port, "POST", "/v1/completions", AUTH, "{\"prompt\":\"x\",\"temperature\":9}",
                  resp, sizeof(resp)),
             400);
    char *big = malloc(9000);
    memset(big, 'a', 8999);
    big[8999] = 0;
    memcpy(big, "{\"prompt\":\"", 11);
    CHECK_EQ(http(gw_port, "POST", "/v1/completions", AUTH, big, resp, sizeof(resp)), 413);
    free(big);
    CHECK_EQ(http(gw_port, "GET", "/v1/completions", AUTH, NULL, resp, sizeof(resp)), 405);
}

/* A streaming request, served by the test-worker with a duplicate (retry) in the middle. */
static void test_sse(void)
{
    int fd = dial(gw_port);
    CHECK(fd >= 0);
    const char *body =
        "{\"model\":\"m1\",\"prompt\":\"Once upon\",\"max_tokens\":4,\"stream\":true,"
        "\"stream_options\":{\"include_usage\":true},\"seed\":7}";
    char req[1024];
    int n = snprintf(req, sizeof(req),
                     "POST /v1/completions HTTP/1.1\r\nHost: x\r\n%sX-Request-Id: sse-1\r\n"
                     "traceparent: 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01\r\n"
                     "Content-Length: %zu\r\n\r\n%s",
                     AUTH, strlen(body), body);
    send_all(fd, req, (size_t)n);
    char id[64] = "", js[4096] = "";
    CHECK_EQ(next_job(id, sizeof(id), js, sizeof(js)), 0);
    CHECK(!strcmp(id, "sse-1"));
    struct job_request jr;
    struct err e = {0};
    CHECK_EQ(job_decode(&jr, js, strlen(js), &e), 0);
    CHECK_EQ(jr.max_tokens, 4);
    CHECK_EQ(jr.seed, 7);
    CHECK(jr.prompt && !strcmp(jr.prompt, "Once upon"));
    job_request_deinit(&jr);
    redisReply *h = redisCommand(rc, "HGET llmq:job:sse-1 tp");
    CHECK(h && h->type == REDIS_REPLY_STRING && strstr(h->str, "0af7651916cd43dd8448eb211c80319c"));
    freeReplyObject(h);

    char resp[16384];
    size_t have = read_until(fd, resp, sizeof(resp), 0, "\r\n\r\n");
    CHECK(strstr(resp, "Content-Type: text/event-stream") && strstr(resp, "X-Accel-Buffering: no"));
    struct buf m;
    buf_init(&m);
    tok(&m, "sse-1", 0, 1, " a");
    publish("gw-it", &m);
    have = read_until(fd, resp, sizeof(resp), have, "sse-1:0");
    tok(&m, "sse-1", 0, 1, " a"); /* a retried job restarts at 0: dropped */
    tok(&m, "sse-1", 1, 1, " b");
    publish("gw-it", &m);
    tok(&m, "sse-1", 2, 2, " c d");
    done(&m, "sse-1", 4);
    publish("gw-it", &m);
    have = read_until(fd, resp, sizeof(resp), have, "\r\n0\r\n\r\n");
    /* Tokens may be merged when messages arrive together: check the concatenated text and
     * that no index is repeated. */
    char text[256] = "";
    int last = -1, ordered = 1;
    for (const char *p = resp; (p = strstr(p, "id: sse-1:")); p++) {
        int idx = atoi(p + 10);
        const char *t = strstr(p, "\"text\":\"");
        const char *q = t ? strchr(t + 8, '"') : NULL;
        if (t && q && q > t + 8 && strlen(text) + (size_t)(q - t - 8) < sizeof(text)) {
            if (idx <= last) ordered = 0;
            last = idx;
            strncat(text, t + 8, (size_t)(q - t - 8));
        }
    }
    CHECK(!strcmp(text, " a b c d"));
    CHECK(ordered);
    CHECK(strstr(resp, "id: sse-1:0\n") && strstr(resp, "id: sse-1:3\n"));
    CHECK(strstr(resp, "\"finish_reason\":\"length\"") && strstr(resp, "\"total_tokens\":7"));
    CHECK(strstr(resp, "data: [DONE]") != NULL);
    CHECK(strstr(resp, "\"object\":\"text_completion\"") && strstr(resp, "\"id\":\"cmpl-sse-1\""));
    /* keep-alive: the same connection serves the next request */
    const char *hz = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
    send_all(fd, hz, strlen(hz));
    size_t before = have;
    have = read_until(fd, resp, sizeof(resp), have, "{\"status\":\"ok\"}");
    CHECK(have > before && strstr(resp + before, "200 OK"));
    close(fd);
    buf_deinit(&m);
    /* the repeated index 0 is counted as deduplicated */
    static char met[65536];
    CHECK_EQ(http(gw_port, "GET", "/metrics", NULL, NULL, met, sizeof(met)), 200);
    const char *dd = strstr(met, "\nllmq_tokens_deduplicated_total ");
    CHECK(dd != NULL);
    if (dd) CHECK_EQ(atoi(dd + 32), 1);
    CHECK(strstr(met, "\nllmq_jobs_unknown_pending 0") != NULL);
}

static void test_json_and_jobs(void)
{
    int fd = dial(gw_port);
    const char *body = "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"max_tokens\":2}";
    char req[1024], resp[16384];
    int n =
        snprintf(req, sizeof(req),
                 "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n%sContent-Length: %zu\r\n\r\n%s",
                 AUTH, strlen(body), body);
    send_all(fd, req, (size_t)n);
    char id[64] = "", js[4096] = "";
    CHECK_EQ(next_job(id, sizeof(id), js, sizeof(js)), 0);
    CHECK(strstr(js, "\"kind\":\"chat\"") != NULL);
    struct buf m;
    buf_init(&m);
    tok(&m, id, 0, 1, "Hel");
    tok(&m, id, 1, 1, "lo\"");
    done(&m, id, 2);
    publish("gw-it", &m);
    read_until(fd, resp, sizeof(resp), 0, "}}}");
    CHECK(strstr(resp, "200 OK") && strstr(resp, "\"content\":\"Hello\\\"\""));
    CHECK(strstr(resp, "\"object\":\"chat.completion\"") &&
          strstr(resp, "\"completion_tokens\":2"));
    CHECK(strstr(resp, "\"gateway_ms\":") != NULL);
    close(fd);
    char path[128];
    snprintf(path, sizeof(path), "/v1/jobs/%s", id);
    CHECK_EQ(http(gw_port, "GET", path, AUTH, NULL, resp, sizeof(resp)), 200);
    CHECK(strstr(resp, "\"state\":\"queued\"") && strstr(resp, "\"received_us\":"));
    CHECK_EQ(http(gw_port, "GET", path, "Authorization: Bearer k2\r\n", NULL, resp, sizeof(resp)),
             404);
    CHECK_EQ(http(gw_port, "DELETE", path, AUTH, NULL, resp, sizeof(resp)), 200);
    CHECK(strstr(resp, "\"cancelled\":true") != NULL);
    CHECK_EQ(http(gw_port, "GET", "/v1/jobs/unknown-id", AUTH, NULL, resp, sizeof(resp)), 404);
    buf_deinit(&m);
}

/* A JSON completion naming model (none when NULL), served with one token after an `r` record
 * naming run_model (no `r` record when NULL); writes the job's req JSON and the response. */
static void json_roundtrip(const char *model, const char *run_model, char *js, size_t js_cap,
                           char *resp, size_t cap)
{
    char body[256], req[1024], id[64] = "";
    snprintf(body, sizeof(body), "{%s%s%s\"prompt\":\"p\",\"max_tokens\":1}",
             model ? "\"model\":\"" : "", model ? model : "", model ? "\"," : "");
    int fd = dial(gw_port);
    int n = snprintf(req, sizeof(req),
                     "POST /v1/completions HTTP/1.1\r\nHost: x\r\n%sContent-Length: %zu\r\n\r\n%s",
                     AUTH, strlen(body), body);
    send_all(fd, req, (size_t)n);
    js[0] = 0;
    CHECK_EQ(next_job(id, sizeof(id), js, js_cap), 0);
    struct buf m;
    buf_init(&m);
    if (run_model) {
        char r[128];
        int rl = snprintf(r, sizeof(r), "{\"worker\":\"w\",\"model\":\"%s\",\"attempt\":1}",
                          run_model);
        event_append(&m, EVENT_KIND_RUNNING, id, strlen(id), 0, 0, r, (size_t)rl);
    }
    tok(&m, id, 0, 1, "x");
    done(&m, id, 1);
    publish("gw-it", &m);
    read_until(fd, resp, cap, 0, "}}}");
    close(fd);
    buf_deinit(&m);
}

/* Served models come from worker heartbeats: the one served model is the default, a model no
 * live worker serves is a 404, and with no live worker any name is accepted. */
static void test_models(void)
{
    char resp[8192], js[4096];
    rcmd("SADD llmq:workers w-it");
    rcmd("SET llmq:worker:w-it {\"model\":\"m-served\",\"ts_us\":1000000} PX 20000");
    int listed = 0;
    for (int i = 0; i < 40 && !listed; i++) { /* the cache lives a second */
        CHECK_EQ(http(gw_port, "GET", "/v1/models", AUTH, NULL, resp, sizeof(resp)), 200);
        listed = strstr(resp, "\"id\":\"m-served\"") != NULL;
        if (!listed) usleep(100000);
    }
    CHECK(listed);
    CHECK_EQ(http(gw_port, "POST", "/v1/completions", AUTH,
                  "{\"model\":\"nope\",\"prompt\":\"x\",\"stream\":true}", resp, sizeof(resp)),
             404);
    CHECK(strstr(resp, "\"code\":\"model_not_found\"") && strstr(resp, "\"param\":\"model\""));
    json_roundtrip(NULL, NULL, js, sizeof(js), resp, sizeof(resp));
    CHECK(strstr(js, "\"model\":\"m-served\"") != NULL);
    CHECK(strstr(resp, "200 OK") && strstr(resp, "\"model\":\"m-served\""));
    /* the running worker's model (its `r` record) names a response that asked for none... */
    json_roundtrip(NULL, "m-run", js, sizeof(js), resp, sizeof(resp));
    CHECK(strstr(resp, "200 OK") && strstr(resp, "\"model\":\"m-run\""));
    /* ...but not one that named its model */
    json_roundtrip("m-served", "m-run", js, sizeof(js), resp, sizeof(resp));
    CHECK(strstr(resp, "200 OK") && strstr(resp, "\"model\":\"m-served\""));
    rcmd("DEL llmq:worker:w-it");
    listed = 1;
    for (int i = 0; i < 40 && listed; i++) {
        CHECK_EQ(http(gw_port, "GET", "/v1/models", AUTH, NULL, resp, sizeof(resp)), 200);
        listed = strstr(resp, "m-served") != NULL;
        if (listed) usleep(100000);
    }
    CHECK(!listed);
    json_roundtrip("nope", NULL, js, sizeof(js), resp, sizeof(resp)); /* scaling from zero */
    CHECK(strstr(js, "\"model\":\"nope\"") != NULL);
    CHECK(strstr(resp, "200 OK") && strstr(resp, "\"model\":\"nope\""));
    json_roundtrip(NULL, NULL, js, sizeof(js), resp, sizeof(resp));
    CHECK(strstr(resp, "\"model\":\"default\"") != NULL);
    rcmd("SREM llmq:workers w-it");
}

static void test_ws(void)
{
    int fd = ws_open(gw_port, "Sec-WebSocket-Protocol: llmq.v1, bearer.k1\r\n");
    CHECK(fd >= 0);
    if (fd < 0) return;
    char msg[8192];
    ws_send(
        fd,
        "{\"type\":\"generate\",\"id\":\"c1\",\"prompt\":\"Once\",\"max_tokens\":3,\"seed\":1}");
    CHECK_EQ(ws_recv(fd, msg, sizeof(msg)), 1);
    CHECK(strstr(msg, "\"type\":\"accepted\"") && strstr(msg, "\"id\":\"c1\""));
    char id[64] = "", js[4096] = "";
    CHECK_EQ(next_job(id, sizeof(id), js, sizeof(js)), 0);
    /* bad JSON on the same socket: an error message, the socket keeps serving */
    ws_send(fd, "{not json");
    CHECK_EQ(ws_recv(fd, msg, sizeof(msg)), 1);
    CHECK(strstr(msg, "\"type\":\"error\"") && strstr(msg, "\"code\":\"bad_request\""));
    ws_send(fd, "{\"type\":\"generate\",\"id\":\"c2\",\"prompt\":5}");
    CHECK_EQ(ws_recv(fd, msg, sizeof(msg)), 1);
    CHECK(strstr(msg, "\"id\":\"c2\"") && strstr(msg, "prompt"));
    struct buf m;
    buf_init(&m);
    tok(&m, id, 0, 1, "A");
    publish("gw-it", &m);
    CHECK_EQ(ws_recv(fd, msg, sizeof(msg)), 1);
    CHECK(strstr(msg, "{\"type\":\"token\",\"id\":\"c1\",\"index\":0,\"text\":\"A\"}") != NULL);
    tok(&m, id, 1, 1, "B");
    tok(&m, id, 2, 1, "C");
    done(&m, id, 3);
    publish("gw-it", &m);
    CHECK_EQ(ws_recv(fd, msg, sizeof(msg)), 1);
    CHECK(strstr(msg, "\"index\":1,\"count\":2,\"text\":\"BC\"") != NULL); /* merged */
    CHECK_EQ(ws_recv(fd, msg, sizeof(msg)), 1);
    CHECK(strstr(msg, "\"type\":\"done\"") && strstr(msg, "\"finish_reason\":\"length\"") &&
          strstr(msg, "\"timing\":{"));
    /* resume from the replay log after index 0 */
    rcmd("XADD llmq:out:%s * i 0 n 1 t A", id);
    rcmd("XADD llmq:out:%s * i 1 n 2 t BC", id);
    rcmd("XADD llmq:out:%s * d {\"finish_reason\":\"length\"}", id);
    char rmsg[256];
    snprintf(rmsg, sizeof(rmsg),
             "{\"type\":\"resume\",\"id\":\"r1\",\"request_id\":\"%s\",\"after\":0}", id);
    ws_send(fd, rmsg);
    CHECK_EQ(ws_recv(fd, msg, sizeof(msg)), 1);
    CHECK(strstr(msg, "\"type\":\"accepted\"") != NULL);
    CHECK_EQ(ws_recv(fd, msg, sizeof(msg)), 1);
    CHECK(strstr(msg, "\"id\":\"r1\",\"index\":1,\"count\":2,\"text\":\"BC\"") != NULL);
    CHECK_EQ(ws_recv(fd, msg, sizeof(msg)), 1);
    CHECK(strstr(msg, "\"type\":\"done\"") != NULL);
    /* an unmasked client frame is a protocol error: close 1002 */
    ws_send_frame(fd, 1, "{}", 2, 0);
    int op = ws_recv(fd, msg, sizeof(msg));
    CHECK_EQ(op, 8);
    CHECK(op == 8 && (unsigned char)msg[0] == 0x03 && (unsigned char)msg[1] == 0xEA);
    close(fd);
    /* wrong key on the upgrade */
    char resp[2048];
    CHECK_EQ(http(gw_port, "GET", "/v1/ws",
                  "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: "
                  "dGhlIHNhbXBsZSBub25jZQ==\r\n"
                  "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: llmq.v1, bearer.nope\r\n",
                  NULL, resp, sizeof(resp)),
             401);
    buf_deinit(&m);
}

static void test_sse_resume(void)
{
    /* sse-1 finished in test_sse; give it a replay log and reconnect after index 1 */
    rcmd("XADD llmq:out:sse-1 * i 0 n 1 t x0");
    rcmd("XADD llmq:out:sse-1 * i 1 n 1 t x1");
    rcmd("XADD llmq:out:sse-1 * i 2 n 2 t x23 o 1,2");
    rcmd("XADD llmq:out:sse-1 * d "
         "{\"finish_reason\":\"stop\",\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":4}}");
    char resp[8192];
    int st = http(gw_port, "POST", "/v1/completions",
                  "Authorization: Bearer k1\r\nLast-Event-ID: sse-1:1\r\n",
                  "{\"prompt\":\"Once upon\",\"stream\":true}", resp, sizeof(resp));
    CHECK_EQ(st, 200);
    CHECK(!strstr(resp, "x0") && !strstr(resp, "\"x1\"") && strstr(resp, "x23") &&
          strstr(resp, "[DONE]"));
    CHECK(strstr(resp, "\"finish_reason\":\"stop\"") != NULL);
    /* resuming inside an entry: its "o" field (token byte lengths) cuts off the seen part */
    st = http(gw_port, "POST", "/v1/completions",
              "Authorization: Bearer k1\r\nLast-Event-ID: sse-1:2\r\n",
              "{\"prompt\":\"Once upon\",\"stream\":true}", resp, sizeof(resp));
    CHECK_EQ(st, 200);
    CHECK(strstr(resp, "\"text\":\"23\"") && !strstr(resp, "x23") && strstr(resp, "id: sse-1:3\n"));
    st = http(gw_port, "POST", "/v1/completions",
              "Authorization: Bearer k1\r\nLast-Event-ID: no-such:1\r\n",
              "{\"prompt\":\"x\",\"stream\":true}", resp, sizeof(resp));
    CHECK_EQ(st, 404);
}

/* Errors while a stream is open: the stream still completes. */
static void test_errors_do_not_disturb(void)
{
    int fd = ws_open(gw_port, "Authorization: Bearer k1\r\n");
    CHECK(fd >= 0);
    if (fd < 0) return;
    char msg[4096], resp[4096];
    ws_send(fd, "{\"type\":\"generate\",\"id\":\"long\",\"prompt\":\"p\",\"max_tokens\":2}");
    CHECK_EQ(ws_recv(fd, msg, sizeof(msg)), 1);
    char id[64] = "", js[4096] = "";
    CHECK_EQ(next_job(id, sizeof(id), js, sizeof(js)), 0);
    CHECK_EQ(http(gw_port, "POST", "/v1/completions", AUTH, "{{{", resp, sizeof(resp)), 400);
    CHECK_EQ(http(gw_port, "POST", "/v1/completions", "Authorization: Bearer bad\r\n", "{}", resp,
                  sizeof(resp)),
             401);
    int bad = dial(gw_port);
    send_all(bad, "GARBAGE\r\n\r\n", 11);
    char b[512];
    ssize_t r = recv(bad, b, sizeof(b) - 1, 0);
    CHECK(r > 0 && !memcmp(b, "HTTP/1.1 400", 12));
    close(bad);
    struct buf m;
    buf_init(&m);
    tok(&m, id, 0, 2, "ok");
    done(&m, id, 2);
    publish("gw-it", &m);
    CHECK_EQ(ws_recv(fd, msg, sizeof(msg)), 1);
    CHECK(strstr(msg, "\"text\":\"ok\"") != NULL);
    CHECK_EQ(ws_recv(fd, msg, sizeof(msg)), 1);
    CHECK(strstr(msg, "\"type\":\"done\"") != NULL);
    close(fd);
    buf_deinit(&m);
}

/* Idempotency-Key: the retry attaches to the same request; only one job exists. Pipelined
 * requests on one connection are answered in order. WS cancel answers done/cancelled. */
static void test_idempotency_pipelining_cancel(void)
{
    char resp[16384];
    redisReply *before = redisCommand(rc, "XLEN llmq:jobs");
    long long n0 = before ? before->integer : -1;
    freeReplyObject(before);
    int fd = dial(gw_port);
    const char *body = "{\"prompt\":\"idem\",\"max_tokens\":1}";
    char req[1024];
    int n = snprintf(req, sizeof(req),
                     "POST /v1/completions HTTP/1.1\r\nHost: x\r\n%sIdempotency-Key: k-1\r\n"
                     "Content-Length: %zu\r\n\r\n%s",
                     AUTH, strlen(body), body);
    send_all(fd, req, (size_t)n);
    char id[64] = "", js[4096] = "";
    CHECK_EQ(next_job(id, sizeof(id), js, sizeof(js)), 0);
    struct buf m;
    buf_init(&m);
    tok(&m, id, 0, 1, "Z");
    done(&m, id, 1);
    publish("gw-it", &m);
    read_until(fd, resp, sizeof(resp), 0, "}}}");
    CHECK(strstr(resp, "\"text\":\"Z\"") != NULL);
    close(fd);
    rcmd("XADD llmq:out:%s * i 0 n 1 t Z", id);
    rcmd("XADD llmq:out:%s * d {\"finish_reason\":\"length\"}", id);
    CHECK_EQ(http(gw_port, "POST", "/v1/completions",
                  "Authorization: Bearer k1\r\nIdempotency-Key: k-1\r\n", body, resp, sizeof(resp)),
             200);
    char hdr[128];
    snprintf(hdr, sizeof(hdr), "X-Request-Id: %s", id);
    CHECK(strstr(resp, hdr) != NULL && strstr(resp, "\"text\":\"Z\"") != NULL);
    redisReply *after = redisCommand(rc, "XLEN llmq:jobs");
    CHECK(after && after->integer == n0 + 1);
    freeReplyObject(after);

    /* pipelining: three requests in one write, answered in order on one connection */
    fd = dial(gw_port);
    const char *three =
        "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /nope HTTP/1.1\r\nHost: x\r\n\r\n"
        "GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    send_all(fd, three, strlen(three));
    size_t have = read_until(fd, resp, sizeof(resp), 0, "{\"status\":\"ready\"}");
    const char *a = strstr(resp, "{\"status\":\"ok\"}"), *b = strstr(resp, "404 Not Found"),
               *c = strstr(resp, "ready\"}");
    CHECK(have > 0 && a && b && c && a < b && b < c);
    close(fd);

    /* WS cancel: done/cancelled at once, and a cancel reaches the workers' channel */
    fd = ws_open(gw_port, "Authorization: Bearer k1\r\n");
    CHECK(fd >= 0);
    if (fd >= 0) {
        char msg[4096];
        ws_send(fd, "{\"type\":\"generate\",\"id\":\"x\",\"prompt\":\"p\"}");
        CHECK_EQ(ws_recv(fd, msg, sizeof(msg)), 1);
        CHECK_EQ(next_job(id, sizeof(id), js, sizeof(js)), 0);
        ws_send(fd, "{\"type\":\"cancel\",\"id\":\"x\"}");
        CHECK_EQ(ws_recv(fd, msg, sizeof(msg)), 1);
        CHECK(strstr(msg, "\"type\":\"done\"") && strstr(msg, "\"finish_reason\":\"cancelled\""));
        usleep(100000);
        redisReply *st = redisCommand(rc, "HGET llmq:job:%s state", id);
        CHECK(st && st->type == REDIS_REPLY_STRING && !strcmp(st->str, "cancelled"));
        freeReplyObject(st);
        close(fd);
    }
    buf_deinit(&m);
}

/* Second gateway: one stream max, 1 request/s per key, short deadline. */
static void test_limits(void)
{
    char resp[4096];
    int st = 0;
    for (int i = 0; i < 50 && st != 200; i++) {
        st = http(gw2_port, "GET", "/readyz", NULL, NULL, resp, sizeof(resp));
        if (st != 200) usleep(100000);
    }
    CHECK_EQ(st, 200);
    int fd = dial(gw2_port);
    const char *body = "{\"prompt\":\"p\",\"stream\":true,\"timeout_ms\":300}";
    char req[512];
    int n = snprintf(req, sizeof(req),
                     "POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: %zu\r\n\r\n%s",
                     strlen(body), body);
    send_all(fd, req, (size_t)n);
    usleep(100000);
    /* the stream cap (1) is reached: 503 overloaded with Retry-After, no Redis round trip */
    CHECK_EQ(
        http(gw2_port, "POST", "/v1/completions", NULL, "{\"prompt\":\"q\"}", resp, sizeof(resp)),
        503);
    CHECK(strstr(resp, "Retry-After: ") && strstr(resp, "\"code\":\"overloaded\""));
    /* the deadline passes: the open stream ends with a timeout error */
    size_t have = read_until(fd, resp, sizeof(resp), 0, "\r\n0\r\n\r\n");
    CHECK(have > 0 && strstr(resp, "\"code\":\"timeout\"") != NULL);
    if (!strstr(resp, "timeout")) fprintf(stderr, "got: %s\n", resp);
    close(fd);
    /* rate limit: 1 rps, burst 2 */
    http(gw2_port, "POST", "/v1/completions", NULL, "{\"prompt\":5}", resp, sizeof(resp));
    http(gw2_port, "POST", "/v1/completions", NULL, "{\"prompt\":5}", resp, sizeof(resp));
    CHECK_EQ(http(gw2_port, "POST", "/v1/completions", NULL, "{\"prompt\":5}", resp, sizeof(resp)),
             429);
    CHECK(strstr(resp, "Retry-After: ") && strstr(resp, "\"code\":\"rate_limited\""));
}

static void test_drain(void)
{
    kill(gw2_pid, SIGTERM);
    int status = -1;
    CHECK_EQ(harness_wait(gw2_pid, 5000, &status), 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    gw2_pid = -1;
}

/* A bad configuration exits 2 with one clear line, never a crash. */
static void test_bad_config(void)
{
    char bin[1024];
    const char *dir = getenv("LLMQ_BIN_DIR");
    snprintf(bin, sizeof(bin), "%s/llmq-gateway", dir ? dir : ".");
    char *bad[][4] = { { bin, "--port", "99999", NULL }, { bin, "--redis-url", "http://x", NULL },
                       { bin, "--api-keys-file", "/nonexistent/keys", NULL } };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        pid_t p = harness_spawn(bad[i], "/dev/null");
        int status = -1;
        CHECK_EQ(harness_wait(p, 5000, &status), 0);
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 2);
    }
}

static pid_t start_gateway(int port, const char *id, const char *extra1, const char *extra2,
                           const char *log)
{
    char bin[1024], url[128], p[16];
    const char *dir = getenv("LLMQ_BIN_DIR");
    snprintf(bin, sizeof(bin), "%s/llmq-gateway", dir ? dir : ".");
    snprintf(url, sizeof(url), "redis://127.0.0.1:%d", rs.port);
    snprintf(p, sizeof(p), "%d", port);
    char *argv[] = {bin,
                    "--port",
                    p,
                    "--redis-url",
                    url,
                    "--id",
                    (char *)id,
                    "--max-body-bytes",
                    "4096",
                    "--idle-timeout-ms",
                    "5000",
                    (char *)extra1,
                    (char *)extra2,
                    NULL};
    if (!extra1) argv[11] = NULL;
    return harness_spawn(argv, log);
}

int main(void)
{
    const char *dir = getenv("LLMQ_BIN_DIR");
    char bin[1024];
    snprintf(bin, sizeof(bin), "%s/llmq-gateway", dir ? dir : ".");
    if (access(bin, X_OK) != 0) {
        fprintf(stderr, "SKIP: %s not built\n", bin);
        printf("0 passed, 0 failed, 1 skipped\n");
        return 0;
    }
    int rc0 = redis_server_start(&rs);
    if (rc0 == -ENOENT) {
        fprintf(stderr, "SKIP: redis-server not installed\n");
        printf("0 passed, 0 failed, 1 skipped\n");
        return 0;
    }
    if (rc0 < 0) {
        fprintf(stderr, "redis-server failed to start\n");
        return 1;
    }
    rc = redis_server_connect(&rs);
    snprintf(logdir, sizeof(logdir), "%s/gateway.log", rs.dir);
    gw_port = harness_free_port();
    setenv("LLMQ_API_KEYS", "k1,k2", 1);
    gw_pid = start_gateway(gw_port, "gw-it", NULL, NULL, logdir);
    unsetenv("LLMQ_API_KEYS");
    gw2_port = harness_free_port();
    char log2[300];
    snprintf(log2, sizeof(log2), "%s/gateway2.log", rs.dir);
    setenv("LLMQ_MAX_STREAMS", "1", 1);
    setenv("LLMQ_RATE_LIMIT_BURST", "2", 1);
    gw2_pid = start_gateway(gw2_port, "gw-it2", "--rate-limit-rps", "1", log2);
    unsetenv("LLMQ_MAX_STREAMS");
    unsetenv("LLMQ_RATE_LIMIT_BURST");

    TEST_RUN(test_health);
    TEST_RUN(test_auth);
    TEST_RUN(test_bad_input);
    TEST_RUN(test_sse);
    TEST_RUN(test_json_and_jobs);
    TEST_RUN(test_models);
    TEST_RUN(test_ws);
    TEST_RUN(test_sse_resume);
    TEST_RUN(test_errors_do_not_disturb);
    TEST_RUN(test_idempotency_pipelining_cancel);
    TEST_RUN(test_limits);
    TEST_RUN(test_drain);
    TEST_RUN(test_bad_config);

    /* the main gateway must still be alive and serving after all of the above */
    char resp[1024];
    CHECK_EQ(http(gw_port, "GET", "/healthz", NULL, NULL, resp, sizeof(resp)), 200);
    kill(gw_pid, SIGTERM);
    int status = -1;
    if (harness_wait(gw_pid, 5000, &status) != 0) {
        harness_kill(gw_pid);
        CHECK(0);
    } else
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    if (gw2_pid > 0) harness_kill(gw2_pid);
    if (test_failures) {
        char cmd[600];
        snprintf(cmd, sizeof(cmd), "tail -n 30 %s %s 1>&2", logdir, log2);
        if (system(cmd) != 0) fprintf(stderr, "(no gateway log)\n");
    }
    redisFree(rc);
    redis_server_stop(&rs);
    redis_server_cleanup(&rs);
    TEST_MAIN_END();
}
