/* test_e2e_llama.c -- the native llama engine through the whole platform: `llmq mkmodel` writes
 * a tiny random-weight GGUF (no download), `llmq up --engine llama --model it` serves it, and
 * real clients stream from it: curl over SSE, the load client over WebSocket (indices exactly
 * once, usage right), and the same seed twice gives the same text (deterministic sampling). */
#include "test.h"
#include "e2e/harness.h"
#include "load.h"

static struct h_up up;

static void test_curl_sse(void)
{
    char cmd[1024], out[65536];
    snprintf(cmd, sizeof(cmd), "curl -sS -N --max-time 30 -H 'Content-Type: application/json' -d "
             "'{\"prompt\":\"Once upon\",\"max_tokens\":8,\"seed\":1,\"stream\":true,"
             "\"stream_options\":{\"include_usage\":true}}' %s/v1/completions", up.url);
    CHECK_EQ(h_run(cmd, out, sizeof(out)), 0);
    CHECK(strstr(out, "\"completion_tokens\":8") != NULL);
    CHECK(strstr(out, "data: [DONE]") != NULL);
}

static void test_ws_exactly_once_and_deterministic(void)
{
    struct load_cfg c = { .host = "127.0.0.1", .port = up.port, .proto = LOAD_WS, .streams = 4, .ws_per_conn = 4,
                          .max_tokens = 24, .seed = 11, .timeout_ms = 60000, .prompt = "The quick brown fox" };
    struct load_result a, b;
    CHECK_EQ(load_run(&c, &a), 0);
    CHECK_EQ(load_run(&c, &b), 0);
    if (a.first_error[0]) fprintf(stderr, "llama ws: %s\n", a.first_error);
    CHECK_EQ(a.ok, 4);
    CHECK_EQ(a.dup_or_gap, 0);
    CHECK_EQ(a.usage_mismatch, 0);
    CHECK_EQ(a.tokens, 4 * 24);
    CHECK_EQ(b.ok, 4);
    for (int i = 0; i < 4; i++) CHECK(a.text_hash[i] != 0 && a.text_hash[i] == b.text_hash[i]);
    load_result_free(&a);
    load_result_free(&b);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    if (!h_bin("llmq-gateway") || !h_bin("llmq-worker") || !h_bin("llmq")) {
        fprintf(stderr, "SKIP: llmq, llmq-gateway or llmq-worker not built\n");
        printf("0 passed, 0 failed, 1 skipped\n");
        return 0;
    }
    char dir[] = "/tmp/llmq-e2e-llama-XXXXXX", model[128], cmd[512];
    if (!mkdtemp(dir)) return 1;
    snprintf(model, sizeof(model), "%s/tiny.gguf", dir);
    snprintf(cmd, sizeof(cmd), "'%s' mkmodel --out '%s' --layers 2 --dim 64 --heads 4 --kv-heads 4 --ffn 128 "
             "--vocab 512 --ctx 256 --seed 3 >/dev/null 2>&1", h_bin("llmq"), model);
    if (h_run(cmd, NULL, 0) != 0 || access(model, R_OK) != 0) {
        fprintf(stderr, "llmq mkmodel failed\n");
        printf("0 passed, 1 failed\n");
        return 1;
    }
    const char *args[] = { "--engine", "llama", "--model", model, "--workers", "1", "--max-batch", "8",
                           "--threads", "1", NULL };
    if (h_up_start(&up, args, 90000) < 0) { printf("0 passed, 1 failed\n"); return 1; }
    TEST_RUN(test_curl_sse);
    TEST_RUN(test_ws_exactly_once_and_deterministic);
    CHECK_EQ(WEXITSTATUS(h_up_stop(&up, SIGTERM, 40000, 0)), 0);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (system(cmd) != 0) { /* best effort */ }
    TEST_MAIN_END();
}
