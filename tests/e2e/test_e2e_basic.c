/* test_e2e_basic.c -- the platform end to end with real clients: `llmq up` (real redis-server,
 * two gateways on one port, a worker with the synthetic engine), curl for SSE and JSON, the
 * C load client for SSE and multiplexed WebSocket streams, bad input of every kind answered
 * with the PROTOCOL.md error while another client's stream keeps flowing, and a shutdown that
 * leaves no process. Fast enough for the AddressSanitizer pass. */
#include "test.h"
#include "e2e/harness.h"
#include "load.h"

#include <pthread.h>

#define KEY "e2e-key-1"
static struct h_up up;
static char curl_auth[] = "-H 'Authorization: Bearer " KEY "'";

static int curl(const char *args, char *out, size_t cap)
{
    char cmd[4096];
    snprintf(cmd, sizeof(cmd), "curl -sS -N --max-time 20 %s %s", curl_auth, args);
    return h_run(cmd, out, cap);
}

static void test_sse_and_json_with_curl(void)
{
    static char out[65536], json[16384];
    char args[1024];
    snprintf(args, sizeof(args), "-i -H 'Content-Type: application/json' "
             "-d '{\"prompt\":\"Once upon\",\"max_tokens\":8,\"seed\":5,\"stream\":true}' %s/v1/completions", up.url);
    CHECK_EQ(curl(args, out, sizeof(out)), 0);
    CHECK(strstr(out, " 200") != NULL);
    CHECK(strcasestr(out, "content-type: text/event-stream") != NULL);
    CHECK(strcasestr(out, "x-request-id:") != NULL);
    CHECK(strstr(out, "data: [DONE]") != NULL);
    /* Each token event carries id: <request-id>:<index>; indices end at 7 with no repeat. */
    int last = -1, repeats = 0, n_ids = 0;
    char sse_text[1024] = "";
    for (char *p = strstr(out, "\nid: "); p; p = strstr(p + 1, "\nid: ")) {
        char *colon = strchr(p + 5, ':');
        char *nl = strchr(p + 5, '\n');
        if (!colon || !nl || colon > nl) continue;
        char *data_line = strstr(p, "data: ");
        char *data_end = data_line ? strchr(data_line, '\n') : NULL;
        if (data_line && data_end) {
            /* the finish chunk and the usage chunk repeat the count as their index */
            char save = *data_end;
            *data_end = 0;
            int tail = strstr(data_line, "\"finish_reason\":\"") || strstr(data_line, "\"usage\"");
            *data_end = save;
            if (tail) continue;
        }
        int idx = atoi(colon + 1);
        if (idx <= last) repeats++;
        last = idx;
        n_ids++;
        char *data = strstr(p, "data: ");
        json_t *j = data ? json_loads(data + 6, JSON_DISABLE_EOF_CHECK, NULL) : NULL;
        const char *t = json_string_value(json_object_get(json_array_get(json_object_get(j, "choices"), 0), "text"));
        if (t) strncat(sse_text, t, sizeof(sse_text) - strlen(sse_text) - 1);
        json_decref(j);
    }
    CHECK(n_ids >= 1);
    CHECK_EQ(repeats, 0);
    CHECK_EQ(last, 7);
    CHECK(strlen(sse_text) > 0);

    /* The same request as one JSON body: same seed, same text, usage filled in. */
    snprintf(args, sizeof(args), "-H 'Content-Type: application/json' "
             "-d '{\"prompt\":\"Once upon\",\"max_tokens\":8,\"seed\":5}' %s/v1/completions", up.url);
    CHECK_EQ(curl(args, json, sizeof(json)), 0);
    json_t *j = json_loads(json, 0, NULL);
    CHECK(j != NULL);
    const char *text = json_string_value(json_object_get(json_array_get(json_object_get(j, "choices"), 0), "text"));
    CHECK(text && !strcmp(text, sse_text));
    CHECK_EQ(json_integer_value(json_object_get(json_object_get(j, "usage"), "completion_tokens")), 8);
    json_decref(j);

    /* Streamed chat through curl. */
    snprintf(args, sizeof(args), "-H 'Content-Type: application/json' -d '{\"messages\":[{\"role\":\"user\","
             "\"content\":\"hi\"}],\"max_tokens\":6,\"stream\":true,\"stream_options\":{\"include_usage\":true}}' "
             "%s/v1/chat/completions", up.url);
    CHECK_EQ(curl(args, out, sizeof(out)), 0);
    CHECK(strstr(out, "chat.completion.chunk") != NULL);
    CHECK(strstr(out, "\"completion_tokens\":6") != NULL);
    CHECK(strstr(out, "data: [DONE]") != NULL);

    /* Probes and listings. */
    CHECK_EQ(h_http(up.port, "GET", "/healthz", NULL, "", 0, out, sizeof(out), 3000), 200);
    CHECK_EQ(h_http(up.port, "GET", "/readyz", NULL, "", 0, out, sizeof(out), 3000), 200);
    CHECK_EQ(h_http(up.port, "GET", "/metrics", NULL, "", 0, out, sizeof(out), 3000), 200);
    CHECK(strstr(out, "llmq_") != NULL);
    CHECK_EQ(h_http(up.port, "GET", "/v1/models", "Authorization: Bearer " KEY "\r\n", "", 0, out, sizeof(out), 3000), 200);
    CHECK(strstr(out, "\"data\"") != NULL);
}

static void test_load_client_sse_and_ws(void)
{
    struct load_cfg c = { .host = "127.0.0.1", .port = up.port, .proto = LOAD_SSE, .streams = 8,
                          .max_tokens = 32, .api_key = KEY, .seed = 100, .timeout_ms = 30000 };
    struct load_result r;
    CHECK_EQ(load_run(&c, &r), 0);
    CHECK_EQ(r.ok, 8);
    CHECK_EQ(r.tokens, 8 * 32);
    CHECK_EQ(r.dup_or_gap, 0);
    if (r.first_error[0]) fprintf(stderr, "sse: %s\n", r.first_error);
    uint64_t sse_hash0 = r.text_hash[0];
    load_result_free(&r);

    c.proto = LOAD_WS;
    c.ws_per_conn = 8;           /* all eight multiplexed on one socket */
    CHECK_EQ(load_run(&c, &r), 0);
    CHECK_EQ(r.ok, 8);
    CHECK_EQ(r.tokens, 8 * 32);
    CHECK_EQ(r.dup_or_gap, 0);
    CHECK_EQ(r.usage_mismatch, 0);
    if (r.first_error[0]) fprintf(stderr, "ws: %s\n", r.first_error);
    /* Same seed and prompt over either transport: the same text. */
    CHECK(r.text_hash[0] != 0 && r.text_hash[0] == sse_hash0);
    load_result_free(&r);
}

/* ---- bad input while another client streams ---- */

struct bg { struct load_result r; int rc; };

static void *background_stream(void *arg)
{
    struct bg *b = arg;
    struct load_cfg c = { .host = "127.0.0.1", .port = up.port, .proto = LOAD_WS, .streams = 1,
                          .max_tokens = 600, .api_key = KEY, .seed = 9, .timeout_ms = 60000 };
    b->rc = load_run(&c, &b->r);
    return NULL;
}

static int error_type_is(const char *resp, const char *type)
{
    const char *body = strstr(resp, "\r\n\r\n");
    json_t *j = body ? json_loads(body + 4, 0, NULL) : NULL;
    const char *t = json_string_value(json_object_get(json_object_get(j, "error"), "type"));
    int ok = t && !strcmp(t, type) && json_string_value(json_object_get(json_object_get(j, "error"), "message"));
    json_decref(j);
    return ok;
}

static void test_bad_input_while_streaming(void)
{
    struct bg b;
    memset(&b, 0, sizeof(b));
    pthread_t th;
    pthread_create(&th, NULL, background_stream, &b);
    usleep(200000);

    static char out[65536];
    const char *auth = "Authorization: Bearer " KEY "\r\nContent-Type: application/json\r\n";
    const char *bad_json = "{\"prompt\":";
    CHECK_EQ(h_http(up.port, "POST", "/v1/completions", auth, bad_json, strlen(bad_json), out, sizeof(out), 5000), 400);
    CHECK(error_type_is(out, "invalid_request_error"));

    const char *wrong_type = "{\"prompt\":\"x\",\"max_tokens\":\"many\"}";
    CHECK_EQ(h_http(up.port, "POST", "/v1/completions", auth, wrong_type, strlen(wrong_type), out, sizeof(out), 5000), 400);
    CHECK(strstr(out, "max_tokens") != NULL);

    const char *range = "{\"prompt\":\"x\",\"temperature\":-3}";
    CHECK_EQ(h_http(up.port, "POST", "/v1/completions", auth, range, strlen(range), out, sizeof(out), 5000), 400);
    CHECK(strstr(out, "temperature") != NULL);

    const char *no_msgs = "{\"messages\":\"hi\"}";
    CHECK_EQ(h_http(up.port, "POST", "/v1/chat/completions", auth, no_msgs, strlen(no_msgs), out, sizeof(out), 5000), 400);
    CHECK(strstr(out, "messages") != NULL);

    size_t big_n = 3u << 20;     /* 3 MiB, past the default body limit */
    char *big = malloc(big_n);
    memset(big, 'a', big_n);
    memcpy(big, "{\"prompt\":\"", 11);
    memcpy(big + big_n - 2, "\"}", 2);
    CHECK_EQ(h_http(up.port, "POST", "/v1/completions", auth, big, big_n, out, sizeof(out), 10000), 413);
    free(big);

    const char *ok_body = "{\"prompt\":\"x\",\"max_tokens\":2}";
    CHECK_EQ(h_http(up.port, "POST", "/v1/completions", "Authorization: Bearer wrong\r\n", ok_body, strlen(ok_body), out, sizeof(out), 5000), 401);
    CHECK(error_type_is(out, "authentication_error") || strstr(out, "\"error\"") != NULL);
    CHECK_EQ(h_http(up.port, "POST", "/v1/completions", NULL, ok_body, strlen(ok_body), out, sizeof(out), 5000), 401);
    CHECK_EQ(h_http(up.port, "GET", "/no/such/path", auth, "", 0, out, sizeof(out), 5000), 404);

    /* WebSocket: a wrong key is refused at the upgrade. */
    CHECK_EQ(h_ws_connect(up.port, "Authorization: Bearer wrong\r\n", 5000), -401);
    /* A bad message gets an error message and the socket stays usable. */
    int fd = h_ws_connect(up.port, "Authorization: Bearer " KEY "\r\n", 5000);
    CHECK(fd >= 0);
    if (fd >= 0) {
        char msg[4096];
        CHECK_EQ(h_ws_send(fd, 0x81, "{not json", 9, 0), 0);
        CHECK_EQ(h_ws_read(fd, msg, sizeof(msg), 5000), 1);
        CHECK(strstr(msg, "\"error\"") && strstr(msg, "bad_request"));
        const char *wt = "{\"type\":\"generate\",\"id\":\"w\",\"prompt\":\"x\",\"max_tokens\":\"x\"}";
        CHECK_EQ(h_ws_send(fd, 0x81, wt, strlen(wt), 0), 0);
        CHECK_EQ(h_ws_read(fd, msg, sizeof(msg), 5000), 1);
        CHECK(strstr(msg, "bad_request") && strstr(msg, "max_tokens"));
        const char *good = "{\"type\":\"generate\",\"id\":\"g\",\"prompt\":\"x\",\"max_tokens\":2}";
        CHECK_EQ(h_ws_send(fd, 0x81, good, strlen(good), 0), 0);
        int got_done = 0;
        for (int i = 0; i < 20 && !got_done; i++) {
            if (h_ws_read(fd, msg, sizeof(msg), 5000) != 1) break;
            got_done = strstr(msg, "\"done\"") != NULL;
        }
        CHECK(got_done);
        /* An unmasked client frame is a protocol error: close 1002 (RFC 6455 5.1). */
        CHECK_EQ(h_ws_send(fd, 0x81, good, strlen(good), 1), 0);
        int op = h_ws_read(fd, msg, sizeof(msg), 5000);
        CHECK(op == 8 || op == 0);
        if (op == 8) CHECK_EQ(((unsigned char)msg[0] << 8) | (unsigned char)msg[1], 1002);
        close(fd);
    }
    /* A reserved opcode is a protocol error too. */
    fd = h_ws_connect(up.port, "Authorization: Bearer " KEY "\r\n", 5000);
    if (fd >= 0) {
        char msg[256];
        CHECK_EQ(h_ws_send(fd, 0x83, "x", 1, 0), 0);
        int op = h_ws_read(fd, msg, sizeof(msg), 5000);
        CHECK(op == 8 || op == 0);
        close(fd);
    }

    pthread_join(th, NULL);
    CHECK_EQ(b.rc, 0);
    CHECK_EQ(b.r.ok, 1);
    CHECK_EQ(b.r.tokens, 600);
    CHECK_EQ(b.r.dup_or_gap, 0);
    if (b.r.first_error[0]) fprintf(stderr, "background: %s\n", b.r.first_error);
    load_result_free(&b.r);
}

static const char *job_state(const char *rid, char *out, size_t cap)
{
    char path[128];
    snprintf(path, sizeof(path), "/v1/jobs/%s", rid);
    if (h_http(up.port, "GET", path, "Authorization: Bearer " KEY "\r\n", "", 0, out, cap, 3000) != 200) return "";
    const char *body = strstr(out, "\r\n\r\n");
    json_t *j = body ? json_loads(body + 4, 0, NULL) : NULL;
    static char state[32];
    snprintf(state, sizeof(state), "%s", j && json_string_value(json_object_get(j, "state"))
                                             ? json_string_value(json_object_get(j, "state")) : "");
    json_decref(j);
    return state;
}

/* Idempotency-Key, X-Request-Id, GET /v1/jobs/{id}, and a client that goes away mid-stream
 * (its job is cancelled, not run to the end). */
static void test_idempotency_jobs_and_disconnect(void)
{
    static char a[16384], b[16384];
    char args[1024];
    snprintf(args, sizeof(args), "-i -H 'Content-Type: application/json' -H 'Idempotency-Key: e2e-idem-1' "
             "-d '{\"prompt\":\"idem\",\"max_tokens\":6}' %s/v1/completions", up.url);
    CHECK_EQ(curl(args, a, sizeof(a)), 0);
    CHECK_EQ(curl(args, b, sizeof(b)), 0);
    char *ra = strcasestr(a, "x-request-id: "), *rb = strcasestr(b, "x-request-id: ");
    CHECK(ra && rb);
    if (ra && rb) {
        char ida[80], idb[80];
        sscanf(ra + 14, "%79[^\r\n]", ida);
        sscanf(rb + 14, "%79[^\r\n]", idb);
        CHECK(!strcmp(ida, idb));                    /* the retry is the same request */
        CHECK(!strcmp(job_state(ida, a, sizeof(a)), "done"));
    }

    /* X-Request-Id from the client is echoed and names the job. */
    snprintf(args, sizeof(args), "-i -H 'Content-Type: application/json' -H 'X-Request-Id: e2e-own-id-1' "
             "-d '{\"prompt\":\"mine\",\"max_tokens\":3}' %s/v1/completions", up.url);
    CHECK_EQ(curl(args, a, sizeof(a)), 0);
    CHECK(strstr(a, "e2e-own-id-1") != NULL);

    /* A streaming client that disconnects after 0.5 s: its job ends cancelled, long before
     * its 100,000 tokens (2 ms each) could have been generated. */
    snprintf(args, sizeof(args), "--max-time 0.5 -H 'Content-Type: application/json' -H 'X-Request-Id: e2e-gone-1' "
             "-d '{\"prompt\":\"bye\",\"max_tokens\":100000,\"stream\":true}' %s/v1/completions 2>/dev/null", up.url);
    curl(args, a, sizeof(a));
    uint64_t end = h_now_ms() + 5000;
    const char *st = "";
    while (h_now_ms() < end && strcmp(st = job_state("e2e-gone-1", b, sizeof(b)), "cancelled")) usleep(100000);
    CHECK(!strcmp(st, "cancelled"));
    if (strcmp(st, "cancelled")) fprintf(stderr, "job after disconnect: %s\n", b);
}

static void test_status_and_shutdown(void)
{
    char cmd[600], out[8192];
    snprintf(cmd, sizeof(cmd), "'%s' status --json --state-file '%s'", h_bin("llmq"), up.state);
    CHECK_EQ(h_run(cmd, out, sizeof(out)), 0);
    json_t *j = json_loads(out, 0, NULL);
    CHECK_EQ(json_integer_value(json_object_get(j, "workers_live")), 1);
    json_decref(j);

    pid_t pids[16];
    int n = h_up_children(&up, pids, 16, NULL);
    CHECK_EQ(n, 4);    /* redis, 2 gateways, 1 worker */
    /* SIGTERM with a stream in flight: gateways drain (the stream finishes) before anything
     * else stops, then nothing is left running. */
    struct bg b;
    memset(&b, 0, sizeof(b));
    pthread_t th;
    pthread_create(&th, NULL, background_stream, &b);
    usleep(300000);
    int st = h_up_stop(&up, SIGTERM, 40000, 0);
    pthread_join(th, NULL);
    CHECK(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0);
    CHECK_EQ(h_wait_pids_gone(pids, n, 3000), 0);
    if (b.r.first_error[0]) fprintf(stderr, "stream during shutdown: %s\n", b.r.first_error);
    CHECK_EQ(b.r.ok, 1);
    CHECK_EQ(b.r.tokens, 600);
    load_result_free(&b.r);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    if (!h_bin("llmq-gateway") || !h_bin("llmq-worker") || !h_bin("llmq")) {
        fprintf(stderr, "SKIP: llmq, llmq-gateway or llmq-worker not built\n");
        printf("0 passed, 0 failed, 1 skipped\n");
        return 0;
    }
    if (h_run("command -v curl >/dev/null && command -v redis-server >/dev/null", NULL, 0) != 0) {
        fprintf(stderr, "SKIP: curl or redis-server missing\n");
        printf("0 passed, 0 failed, 1 skipped\n");
        return 0;
    }
    const char *args[] = { "--gateways", "2", "--workers", "1", "--step-ms", "2", "--api-keys", KEY, NULL };
    if (h_up_start(&up, args, 60000) < 0) { printf("0 passed, 1 failed\n"); return 1; }
    TEST_RUN(test_sse_and_json_with_curl);
    TEST_RUN(test_load_client_sse_and_ws);
    TEST_RUN(test_bad_input_while_streaming);
    TEST_RUN(test_idempotency_jobs_and_disconnect);
    TEST_RUN(test_status_and_shutdown);
    if (up.pid) h_up_stop(&up, SIGKILL, 5000, 0);
    TEST_MAIN_END();
}
