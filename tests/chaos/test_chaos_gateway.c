/* test_chaos_gateway.c -- a gateway dies under load (issue 3). `llmq up` runs two gateways on
 * one port; mid-stream one is killed with SIGKILL. Its clients see the connection drop, dial
 * the same port again (the kernel now hands them to the surviving gateway, or to the restarted
 * one) and resume: SSE with Last-Event-ID (Idempotency-Key when no token had arrived yet),
 * WebSocket with resume messages carrying the request id. Every stream completes, every token
 * index arrives exactly once, and the text equals an undisturbed run with the same seeds. */
#include "test.h"
#include "e2e/harness.h"
#include "load.h"

#include <pthread.h>

#define STREAMS 40
#define TOKENS 300

static struct h_up up;

static void *killer(void *arg)
{
    int *killed = arg;
    usleep(500000);
    pid_t g;
    if (h_up_children(&up, &g, 1, "gateway-0") == 1 && kill(g, SIGKILL) == 0) *killed = 1;
    return NULL;
}

static void run(enum load_proto proto, uint64_t seed, struct load_result *r)
{
    struct load_cfg c = { .host = "127.0.0.1", .port = up.port, .proto = proto, .streams = STREAMS,
                          .ws_per_conn = proto == LOAD_WS ? 2 : 1, .max_tokens = TOKENS, .seed = seed,
                          .timeout_ms = 60000, .resume = 5, .keep_text = 1 };
    CHECK_EQ(load_run(&c, r), 0);
}

static void kill_gateway_mid_stream(enum load_proto proto, uint64_t seed)
{
    struct load_result base, r;
    run(proto, seed, &base);
    CHECK_EQ(base.ok, STREAMS);
    CHECK_EQ(base.reconnects, 0);

    int killed = 0;
    pthread_t th;
    pthread_create(&th, NULL, killer, &killed);
    run(proto, seed, &r);
    pthread_join(th, NULL);
    char line[1024];
    load_result_json(&r, line, sizeof(line));
    fprintf(stderr, "%s with a gateway killed: %s reconnects %d\n", proto == LOAD_SSE ? "SSE" : "WS", line, r.reconnects);
    if (r.first_error[0]) fprintf(stderr, "first error: %s\n", r.first_error);
    CHECK(killed);
    CHECK(r.reconnects >= 1);                 /* some streams were on the killed gateway */
    CHECK_EQ(r.ok, STREAMS);
    CHECK_EQ(r.dup_or_gap, 0);
    CHECK_EQ(r.tokens, (long long)STREAMS * TOKENS);
    int same = 0;
    for (int i = 0; i < STREAMS; i++) {
        int eq = r.text_hash[i] == base.text_hash[i];
        same += eq;
        if (!eq && same + 3 > i && r.texts[i] && base.texts[i]) {
            size_t k = 0;
            while (r.texts[i][k] && r.texts[i][k] == base.texts[i][k]) k++;
            fprintf(stderr, "stream %d differs at byte %zu of %zu/%zu:\n  undisturbed ...%.60s\n  resumed     ...%.60s\n", i, k,
                    strlen(base.texts[i]), strlen(r.texts[i]), base.texts[i] + (k > 20 ? k - 20 : 0), r.texts[i] + (k > 20 ? k - 20 : 0));
        }
    }
    CHECK_EQ(same, STREAMS);
    load_result_free(&base);
    load_result_free(&r);
    /* wait for the replacement gateway before the next case */
    uint64_t end = h_now_ms() + 5000;
    char out[256];
    while (h_now_ms() < end && h_http(up.port, "GET", "/readyz", NULL, "", 0, out, sizeof(out), 500) != 200) usleep(50000);
}

static void test_sse_resume_after_gateway_kill(void) { kill_gateway_mid_stream(LOAD_SSE, 500); }
static void test_ws_resume_after_gateway_kill(void) { kill_gateway_mid_stream(LOAD_WS, 900); }

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    if (!h_bin("llmq-gateway") || !h_bin("llmq-worker") || !h_bin("llmq")) {
        fprintf(stderr, "SKIP: llmq, llmq-gateway or llmq-worker not built\n");
        printf("0 passed, 0 failed, 1 skipped\n");
        return 0;
    }
    const char *args[] = { "--gateways", "2", "--workers", "1", "--step-ms", "5", "--max-batch", "64", NULL };
    if (h_up_start(&up, args, 60000) < 0) { printf("0 passed, 1 failed\n"); return 1; }
    TEST_RUN(test_sse_resume_after_gateway_kill);
    TEST_RUN(test_ws_resume_after_gateway_kill);
    pid_t pids[16];
    int n = h_up_children(&up, pids, 16, NULL);
    CHECK_EQ(WEXITSTATUS(h_up_stop(&up, SIGTERM, 40000, 0)), 0);
    CHECK_EQ(h_wait_pids_gone(pids, n, 3000), 0);
    TEST_MAIN_END();
}
