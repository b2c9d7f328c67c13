/* test_e2e_node.c -- real Node clients against `llmq up`: the official OpenAI SDK (v6) streaming
 * a chat completion and a completion through /v1 (openai_sdk.mjs), and the `ws` package
 * multiplexing streams on one WebSocket with a cancel (ws_client.mjs). Skips with a reason
 * when node or tests/e2e/node_modules (scripts/deps runs npm install) is missing. */
#include "test.h"
#include "e2e/harness.h"

static struct h_up up;
static char dir[512];

static void test_openai_sdk(void)
{
    char cmd[1200], out[16384];
    snprintf(cmd, sizeof(cmd), "cd '%s' && node openai_sdk.mjs '%s/v1' 2>&1", dir, up.url);
    int rc = h_run(cmd, out, sizeof(out));
    if (rc != 0) fprintf(stderr, "openai_sdk.mjs: %s\n", out);
    CHECK_EQ(rc, 0);
    json_t *j = json_loads(out, JSON_DISABLE_EOF_CHECK, NULL);
    CHECK(j != NULL);
    CHECK(json_integer_value(json_object_get(json_object_get(j, "chat_usage"), "completion_tokens")) == 16);
    CHECK(json_is_true(json_object_get(j, "nonstream_same")));
    json_decref(j);
}

static void test_ws_package(void)
{
    char cmd[1200], out[16384];
    snprintf(cmd, sizeof(cmd), "cd '%s' && node ws_client.mjs 'ws://127.0.0.1:%d/v1/ws' 2>&1", dir, up.port);
    int rc = h_run(cmd, out, sizeof(out));
    if (rc != 0) fprintf(stderr, "ws_client.mjs: %s\n", out);
    CHECK_EQ(rc, 0);
    CHECK(strstr(out, "\"cancelled\":true") != NULL);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const char *src = getenv("LLMQ_SOURCE_DIR");
    snprintf(dir, sizeof(dir), "%s/tests/e2e", src ? src : ".");
    char probe[700];
    snprintf(probe, sizeof(probe), "%s/node_modules/openai/package.json", dir);
    const char *why = NULL;
    if (!h_bin("llmq-gateway") || !h_bin("llmq-worker") || !h_bin("llmq")) why = "llmq, llmq-gateway or llmq-worker not built";
    else if (h_run("command -v node >/dev/null", NULL, 0) != 0) why = "node not installed";
    else if (access(probe, R_OK) != 0) why = "tests/e2e/node_modules missing (run scripts/deps)";
    if (why) {
        fprintf(stderr, "SKIP: %s\n", why);
        printf("0 passed, 0 failed, 1 skipped\n");
        return 0;
    }
    const char *args[] = { "--workers", "1", "--step-ms", "1", NULL };
    if (h_up_start(&up, args, 60000) < 0) { printf("0 passed, 1 failed\n"); return 1; }
    TEST_RUN(test_openai_sdk);
    TEST_RUN(test_ws_package);
    h_up_stop(&up, SIGTERM, 30000, 0);
    TEST_MAIN_END();
}
