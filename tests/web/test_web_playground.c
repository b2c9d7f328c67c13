/* test_web_playground.c -- the web playground (web/index.html, GET /) in a real headless
 * Chromium against a real `llmq up`. playground.mjs drives the browser (playwright-core with
 * Debian's /usr/bin/chromium); this file starts and stops the platforms and checks what the
 * script saw:
 *   open: synthetic engine, no API keys -- with the page's seed field set, text streams in
 *         exactly as the same HTTP request returns it (an empty seed field sends none), Stop
 *         cancels a long generation, the metrics view follows /metrics, no console errors
 *         (the page names its icon: no /favicon.ico 404);
 *   auth: --api-keys and a deterministic engine (stories260K from shared/, else a tiny model
 *         from `llmq mkmodel`) at temperature 0 -- no key or a wrong key shows the gateway's
 *         401 message (missing vs incorrect), the right key streams exactly the text
 *         /v1/completions returns, and changing the key reconnects.
 * Skips with a reason when the binaries, node, chromium or tests/web/node_modules are missing.
 * LLMQ_WEB_SCREENSHOT_DIR (CTest: the build dir; else /tmp) receives web-open.png and web-auth.png. */
#include "test.h"
#include "e2e/harness.h"

static char dir[512], shots[512], chromium[512], model[600], tmpdir[64];
static const char *key = "sk-web-e2e";

/* Runs playground.mjs; returns its parsed JSON result (NULL on none) and prints its stderr. */
static json_t *run_script(const char *mode_args, int *rc)
{
    char cmd[2048], out[65536];
    snprintf(cmd, sizeof(cmd), "cd '%s' && LLMQ_CHROMIUM='%s' timeout 30 node playground.mjs %s", dir, chromium, mode_args);
    *rc = h_run(cmd, out, sizeof(out));
    json_t *j = json_loads(out, JSON_DISABLE_EOF_CHECK, NULL);
    if (*rc != 0 || !j) fprintf(stderr, "playground.mjs %s: rc %d, output: %.4000s\n", mode_args, *rc, out);
    return j;
}

static int jint(json_t *j, const char *k) { return (int)json_integer_value(json_object_get(j, k)); }
static int jtrue(json_t *j, const char *k) { return json_is_true(json_object_get(j, k)); }

static void test_open(void)
{
    const char *args[] = { "--workers", "1", "--step-ms", "5", NULL };
    struct h_up up;
    if (h_up_start(&up, args, 20000) < 0) { CHECK(0); return; }
    char a[1200];
    snprintf(a, sizeof(a), "open '%s' '%s/web-open.png'", up.url, shots);
    int rc;
    json_t *j = run_script(a, &rc);
    CHECK_EQ(rc, 0);
    CHECK(j != NULL);
    if (j) {
        CHECK(jtrue(j, "ok"));
        CHECK(jtrue(j, "dash_loaded"));
        CHECK(jtrue(j, "page_done"));
        CHECK_EQ(jint(j, "page_tokens"), 24);
        CHECK_EQ(jint(j, "http_tokens"), 24);
        CHECK_EQ(jint(j, "page_words"), jint(j, "http_words"));
        CHECK(jtrue(j, "text_equal"));
        CHECK(jtrue(j, "noseed_sent"));
        CHECK(jtrue(j, "dash_open_streams_seen"));
        CHECK(jint(j, "stop_tokens") > 0 && jint(j, "stop_tokens") < 4000);
        CHECK(jtrue(j, "dash_updated"));
        CHECK_EQ((int)json_array_size(json_object_get(j, "console_errors")), 0);
        printf("open: stop after %d tokens took %d ms; metrics view: %s\n", jint(j, "stop_tokens"),
               jint(j, "stop_ms"), json_string_value(json_object_get(j, "dash_text")));
        json_decref(j);
    }
    CHECK_EQ(WEXITSTATUS(h_up_stop(&up, SIGTERM, 15000, 0)), 0);
}

static void test_auth(void)
{
    const char *args[] = { "--workers", "1", "--engine", "llama", "--model", model, "--threads", "1",
                           "--api-keys", key, NULL };
    struct h_up up;
    if (h_up_start(&up, args, 30000) < 0) { CHECK(0); return; }
    char a[1200];
    snprintf(a, sizeof(a), "auth '%s' '%s' '%s/web-auth.png'", up.url, key, shots);
    int rc;
    json_t *j = run_script(a, &rc);
    CHECK_EQ(rc, 0);
    CHECK(j != NULL);
    if (j) {
        CHECK(jtrue(j, "ok"));
        const char *nokey = json_string_value(json_object_get(j, "nokey_stats"));
        CHECK(nokey && strstr(nokey, "Missing API key"));
        const char *bad = json_string_value(json_object_get(j, "badkey_stats"));
        CHECK(bad && strstr(bad, "Incorrect API key"));
        const char *rekey = json_string_value(json_object_get(j, "rekey_stats"));
        CHECK(rekey && strstr(rekey, "Incorrect API key"));
        CHECK(jtrue(j, "rekey_back"));
        CHECK(jtrue(j, "text_equal"));
        CHECK(jint(j, "page_tokens") > 0);
        CHECK_EQ(jint(j, "page_tokens"), jint(j, "http_tokens"));
        CHECK(jtrue(j, "dash_updated"));
        CHECK_EQ((int)json_array_size(json_object_get(j, "console_errors")), 0);
        printf("auth: without key \"%s\"; with key %d tokens, equal to HTTP: %s\n", nokey ? nokey : "",
               jint(j, "page_tokens"), json_string_value(json_object_get(j, "page_text")));
        json_decref(j);
    }
    CHECK_EQ(WEXITSTATUS(h_up_stop(&up, SIGTERM, 15000, 0)), 0);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const char *src = getenv("LLMQ_SOURCE_DIR");
    snprintf(dir, sizeof(dir), "%s/tests/web", src ? src : ".");
    const char *sd = getenv("LLMQ_WEB_SCREENSHOT_DIR");
    snprintf(shots, sizeof(shots), "%s", sd ? sd : "/tmp");
    const char *ch = getenv("LLMQ_CHROMIUM");
    snprintf(chromium, sizeof(chromium), "%s", ch ? ch : "/usr/bin/chromium");
    char probe[700];
    snprintf(probe, sizeof(probe), "%s/node_modules/playwright-core/package.json", dir);
    const char *why = NULL;
    if (!h_bin("llmq-gateway") || !h_bin("llmq-worker") || !h_bin("llmq")) why = "llmq, llmq-gateway or llmq-worker not built";
    else if (h_run("command -v node >/dev/null", NULL, 0) != 0) why = "node not installed";
    else if (access(chromium, X_OK) != 0) why = "chromium not installed (apt-get install chromium)";
    else if (access(probe, R_OK) != 0) why = "tests/web/node_modules missing (npm install in tests/web)";
    if (why) {
        fprintf(stderr, "SKIP: %s\n", why);
        printf("0 passed, 0 failed, 1 skipped\n");
        return 0;
    }
    /* The deterministic model: stories260K when shared/ has it (real words on the page), else
     * a tiny random one written here. */
    const char *shared = getenv("LLMQ_SHARED_DIR");
    snprintf(model, sizeof(model), "%s/testdata/models/stories260K-f32.gguf", shared ? shared : "/nonexistent");
    if (access(model, R_OK) != 0) {
        snprintf(tmpdir, sizeof(tmpdir), "/tmp/llmq-web-XXXXXX");
        if (!mkdtemp(tmpdir)) return 1;
        snprintf(model, sizeof(model), "%s/tiny.gguf", tmpdir);
        char cmd[900];
        snprintf(cmd, sizeof(cmd), "'%s' mkmodel --out '%s' --layers 2 --dim 64 --heads 4 --kv-heads 4 --ffn 128 "
                 "--vocab 512 --ctx 256 --seed 3 >/dev/null 2>&1", h_bin("llmq"), model);
        if (h_run(cmd, NULL, 0) != 0) { fprintf(stderr, "llmq mkmodel failed\n"); printf("0 passed, 1 failed\n"); return 1; }
    }
    TEST_RUN(test_open);
    TEST_RUN(test_auth);
    if (tmpdir[0]) {
        char cmd[128];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
        if (system(cmd) != 0) { /* best effort */ }
    }
    TEST_MAIN_END();
}
