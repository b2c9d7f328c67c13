/* test_e2e_ws1000.c -- 1,000 concurrent WebSocket streams of 128 tokens each through `llmq up`
 * with the synthetic engine: every stream finishes, every token index arrives exactly once and
 * in order, usage matches, all within 60 s on a two-core machine. One socket per stream. */
#include "test.h"
#include "e2e/harness.h"
#include "load.h"

static void test_1000_ws_streams(void)
{
    struct h_up up;
    const char *args[] = { "--workers", "1", "--step-ms", "0", "--max-batch", "1000",
                           "--max-streams", "20000", "--max-queue", "100000", NULL };
    if (h_up_start(&up, args, 60000) < 0) { CHECK(0); return; }
    struct load_cfg c = { .host = "127.0.0.1", .port = up.port, .proto = LOAD_WS, .streams = 1000,
                          .max_tokens = 128, .seed = 1, .timeout_ms = 55000, .connect_per_ms = 20 };
    struct load_result r;
    uint64_t t0 = h_now_ms();
    CHECK_EQ(load_run(&c, &r), 0);
    uint64_t ms = h_now_ms() - t0;
    char line[1024];
    load_result_json(&r, line, sizeof(line));
    fprintf(stderr, "1000 ws streams: %s (%llu ms)\n", line, (unsigned long long)ms);
    if (r.first_error[0]) fprintf(stderr, "first error: %s\n", r.first_error);
    CHECK_EQ(r.ok, 1000);
    CHECK_EQ(r.tokens, 1000LL * 128);
    CHECK_EQ(r.dup_or_gap, 0);
    CHECK_EQ(r.usage_mismatch, 0);
    CHECK_EQ(r.failed, 0);
    CHECK(ms < 60000);
    load_result_free(&r);
    pid_t pids[8];
    int n = h_up_children(&up, pids, 8, NULL);
    CHECK_EQ(WEXITSTATUS(h_up_stop(&up, SIGTERM, 40000, 0)), 0);
    CHECK_EQ(h_wait_pids_gone(pids, n, 3000), 0);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    if (!h_bin("llmq-gateway") || !h_bin("llmq-worker") || !h_bin("llmq")) {
        fprintf(stderr, "SKIP: llmq, llmq-gateway or llmq-worker not built\n");
        printf("0 passed, 0 failed, 1 skipped\n");
        return 0;
    }
    TEST_RUN(test_1000_ws_streams);
    TEST_MAIN_END();
}
