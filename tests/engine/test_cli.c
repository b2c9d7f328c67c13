/* test_cli.c -- `llmq generate` and `llmq perplexity` as a user runs them (the built llmq
 * binary, LLMQ_BIN_DIR) on a model the test writes: the continuation and timing line, the
 * --json lines (prompt tokens, generated tokens with 10 top logits, summary), greedy output
 * equal across runs and thread counts, a perplexity figure, and clear errors. */
#include "test.h"

#include <jansson.h>
#include <unistd.h>

#include "e2e/harness.h"
#include "tiny_model.h"

static char llmq[4096];

static void test_generate(const char *model)
{
    static char out[1 << 16], out2[1 << 16], cmd[8192];
    snprintf(cmd, sizeof(cmd), "%s generate --model %s -p 'the cat sat' -n 12 --threads 1 2>/dev/null",
             llmq, model);
    CHECK_EQ(h_run(cmd, out, sizeof(out)), 0);
    snprintf(cmd, sizeof(cmd), "%s generate --model %s -p 'the cat sat' -n 12 --threads 3 2>&1 >/dev/null",
             llmq, model);
    CHECK_EQ(h_run(cmd, out2, sizeof(out2)), 0);
    CHECK(strstr(out2, "prompt: ") && strstr(out2, "tok/s") && strstr(out2, "decode: 11 tokens"));
    snprintf(cmd, sizeof(cmd), "%s generate --model %s -p 'the cat sat' -n 12 --threads 3 2>/dev/null",
             llmq, model);
    CHECK_EQ(h_run(cmd, out2, sizeof(out2)), 0);
    CHECK(!strcmp(out, out2));                     /* greedy: same text whatever the threads */
    snprintf(cmd, sizeof(cmd), "%s generate --model %s -p 'the cat sat' -n 12 --json 2>/dev/null",
             llmq, model);
    CHECK_EQ(h_run(cmd, out, sizeof(out)), 0);
    int prompt_lines = 0, gen_lines = 0, summary = 0, bad = 0;
    for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n")) {
        json_error_t je;
        json_t *j = json_loads(line, 0, &je);
        if (!j) { bad++; continue; }
        if (json_object_get(j, "summary")) {
            summary++;
            CHECK_EQ(json_integer_value(json_object_get(j, "generated_tokens")), 12);
            CHECK(json_number_value(json_object_get(j, "decode_tok_s")) > 0);
        } else if (json_object_get(j, "top")) {
            gen_lines++;
            json_t *top = json_object_get(j, "top");
            CHECK_EQ(json_array_size(top), 10);
            /* the chosen (greedy) token is the first of the top 10; logits descending */
            CHECK_EQ(json_integer_value(json_array_get(json_array_get(top, 0), 0)),
                     json_integer_value(json_object_get(j, "id")));
            for (size_t k = 1; k < json_array_size(top); k++)
                CHECK(json_number_value(json_array_get(json_array_get(top, k - 1), 1)) >=
                      json_number_value(json_array_get(json_array_get(top, k), 1)));
        } else {
            prompt_lines++;
            CHECK(json_is_string(json_object_get(j, "piece")));
        }
        json_decref(j);
    }
    CHECK_EQ(bad, 0);
    CHECK(prompt_lines >= 2);                      /* BOS + at least one text token */
    CHECK_EQ(gen_lines, 12);
    CHECK_EQ(summary, 1);
    /* errors */
    snprintf(cmd, sizeof(cmd), "%s generate --model /nonexistent.gguf -p x 2>&1", llmq);
    CHECK(h_run(cmd, out, sizeof(out)) != 0);
    CHECK(strstr(out, "/nonexistent.gguf") != NULL);
    snprintf(cmd, sizeof(cmd), "%s generate --model %s --bogus 2>&1", llmq, model);
    CHECK(h_run(cmd, out, sizeof(out)) != 0);
}

static double perplexity(const char *model, const char *text)
{
    static char out[1 << 16], cmd[8192];
    snprintf(cmd, sizeof(cmd), "%s perplexity --model %s -f %s --ctx 64 --threads 2 2>/dev/null", llmq, model, text);
    CHECK_EQ(h_run(cmd, out, sizeof(out)), 0);
    char *p = strstr(out, "perplexity: ");
    CHECK(p != NULL);
    return p ? atof(p + 12) : 0;
}

static void test_perplexity(const char *model)
{
    char text[64];
    snprintf(text, sizeof(text), "/tmp/llmq-test-ppl-%d.txt", (int)getpid());
    FILE *f = fopen(text, "w");
    for (int i = 0; i < 60; i++) fputs("the cat sat on the mat. Once upon a time ", f);
    fclose(f);
    double ppl = perplexity(model, text);
    printf("perplexity of the random model: %.1f\n", ppl);
    CHECK(ppl > 1 && isfinite(ppl));            /* random weights: confidently wrong */
    const char *shared = test_shared_dir();
    if (shared) {
        /* stories260K on a TinyStories-like text: a trained model predicts it well */
        char st[4096];
        snprintf(st, sizeof(st), "%s/testdata/models/stories260K-f32.gguf", shared);
        f = fopen(text, "w");
        for (int i = 0; i < 12; i++)
            fputs("Once upon a time, there was a little girl named Lily. She loved to play outside "
                  "in the park. One day, she saw a big, red ball. ", f);
        fclose(f);
        ppl = perplexity(st, text);
        printf("perplexity of stories260K on a TinyStories-like text: %.3f\n", ppl);
        CHECK(ppl > 1 && ppl < 4);
    }
    unlink(text);
}

static const char *model_path;
static void run_generate(void) { test_generate(model_path); }
static void run_perplexity(void) { test_perplexity(model_path); }

int main(void)
{
    const char *bin = getenv("LLMQ_BIN_DIR");
    snprintf(llmq, sizeof(llmq), "%s/llmq", bin ? bin : ".");
    if (access(llmq, X_OK) != 0) {
        TEST_SKIP("llmq binary not built (LLMQ_BIN_DIR)");
        TEST_MAIN_END();
    }
    const char *model = tiny_model_path("cli");
    struct tiny_model_opts o = { .seed = 21, .type = GGML_TYPE_Q8_0 };
    CHECK_EQ(tiny_model_write(model, &o), 0);
    model_path = model;
    TEST_RUN(run_generate);
    TEST_RUN(run_perplexity);
    unlink(model);
    TEST_MAIN_END();
}
