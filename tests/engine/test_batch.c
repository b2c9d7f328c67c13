/* test_batch.c -- batched decode gives exactly the tokens (and bit-equal logits) of
 * single-sequence decode: 4 sequences with different prompts decoded together vs alone,
 * sequences joining and leaving between steps, a prompt prefilled in the same pass as other
 * sequences' decode tokens, and more threads than rows. Runs on a model the test writes
 * (always) and on stories260K / d256-q4_k_m from shared/ when present. */
#include "test.h"

#include <unistd.h>

#include "engine/llama/llama.h"
#include "tiny_model.h"

#define NSEQ 4
#define STEPS 12

static const int32_t prompts[NSEQ][8] = {
    { 1, 270, 271, 272 }, { 1, 100, 101 }, { 1, 5, 6, 7, 8, 9, 10 }, { 1, 263 },
};
static const int plen[NSEQ] = { 4, 3, 7, 2 };

/* Greedy tokens of sequence k alone. */
static void run_alone(struct llama_model *m, int k, int threads, int32_t *out, float *last_logits)
{
    int V = llama_model_hparams(m)->n_vocab;
    struct llama_ctx *c = NULL;
    struct llama_ctx_params cp = { .max_batch = 1, .ctx_len = 64, .threads = threads };
    struct err e;
    CHECK_EQ(llama_ctx_new(&c, m, &cp, &e), 0);
    struct llama_seq *s;
    CHECK_EQ(llama_seq_new(c, &s), 0);
    float *lg = malloc(sizeof(float) * V);
    CHECK_EQ(llama_prefill(c, s, prompts[k], plen[k], lg), 0);
    for (int i = 0; i < STEPS; i++) {
        out[i] = llama_argmax(lg, V);
        if (i + 1 < STEPS) CHECK_EQ(llama_decode(c, &s, &out[i], 1, lg), 0);
    }
    memcpy(last_logits, lg, sizeof(float) * V);
    free(lg);
    llama_ctx_free(c);
}

static void check_model(struct llama_model *m, const char *name)
{
    int V = llama_model_hparams(m)->n_vocab;
    int32_t alone[NSEQ][STEPS], together[NSEQ][STEPS];
    float *alone_logits = malloc(sizeof(float) * V * NSEQ);
    for (int k = 0; k < NSEQ; k++) run_alone(m, k, 1, alone[k], alone_logits + (size_t)k * V);

    /* All four: prompts in one pass, then decode steps of 4. */
    for (int threads = 1; threads <= 3; threads += 2) {
        struct llama_ctx *c = NULL;
        struct llama_ctx_params cp = { .max_batch = NSEQ, .ctx_len = 64, .threads = threads };
        struct err e;
        CHECK_EQ(llama_ctx_new(&c, m, &cp, &e), 0);
        struct llama_seq *s[NSEQ];
        float *lg = malloc(sizeof(float) * V * NSEQ);
        struct llama_batch_item it[NSEQ];
        for (int k = 0; k < NSEQ; k++) {
            CHECK_EQ(llama_seq_new(c, &s[k]), 0);
            it[k] = (struct llama_batch_item){ s[k], prompts[k], plen[k], lg + (size_t)k * V, 0 };
        }
        CHECK_EQ(llama_eval(c, it, NSEQ), 0);
        int32_t next[NSEQ];
        for (int i = 0; i < STEPS; i++) {
            for (int k = 0; k < NSEQ; k++) together[k][i] = next[k] = llama_argmax(lg + (size_t)k * V, V);
            if (i + 1 < STEPS) CHECK_EQ(llama_decode(c, s, next, NSEQ, lg), 0);
        }
        int same_tokens = 1, same_logits = 1;
        for (int k = 0; k < NSEQ; k++) {
            same_tokens &= !memcmp(alone[k], together[k], sizeof(alone[k]));
            same_logits &= !memcmp(alone_logits + (size_t)k * V, lg + (size_t)k * V, sizeof(float) * V);
        }
        printf("%s: 4 sequences together (%d threads): tokens %s, logits %s\n", name, threads,
               same_tokens ? "equal" : "DIFFER", same_logits ? "bit-equal" : "DIFFER");
        CHECK(same_tokens);
        CHECK(same_logits);
        free(lg);
        llama_ctx_free(c);
    }

    /* Join/leave: seq 0 starts alone; seq 1 joins at step 3 (its prompt in the same pass as
     * seq 0's decode token); seq 0 leaves after step 6; seq 2 takes its slot at step 7. */
    struct llama_ctx *c = NULL;
    struct llama_ctx_params cp = { .max_batch = 2, .ctx_len = 64, .threads = 2, .kv_positions = 64 };
    struct err e;
    CHECK_EQ(llama_ctx_new(&c, m, &cp, &e), 0);
    float *lg = malloc(sizeof(float) * V * 2);
    struct llama_seq *sq[3] = { 0 };
    int32_t got[3][STEPS];
    int n_got[3] = { 0 }, live[3] = { 0 };
    int32_t last[3];
    for (int step = 0; step < 20; step++) {
        if (step == 7) {
            llama_seq_free(c, sq[0]);
            live[0] = 0;
        }
        if (step == 0 || step == 3 || step == 7) {
            int k = step == 0 ? 0 : step == 3 ? 1 : 2;
            CHECK_EQ(llama_seq_new(c, &sq[k]), 0);
            live[k] = 1;
            n_got[k] = -1;      /* prompt not yet run */
        }
        struct llama_batch_item it[3];
        int map[3], n = 0;
        for (int k = 0; k < 3; k++) {
            if (!live[k] || n_got[k] >= STEPS) continue;
            if (n_got[k] < 0) it[n] = (struct llama_batch_item){ sq[k], prompts[k], plen[k], lg + (size_t)n * V, 0 };
            else it[n] = (struct llama_batch_item){ sq[k], &last[k], 1, lg + (size_t)n * V, 0 };
            map[n++] = k;
        }
        if (!n) break;
        CHECK_EQ(llama_eval(c, it, n), 0);
        for (int j = 0; j < n; j++) {
            int k = map[j];
            if (n_got[k] < 0) n_got[k] = 0;
            last[k] = got[k][n_got[k]++] = llama_argmax(lg + (size_t)j * V, V);
        }
    }
    for (int k = 0; k < 3; k++) {
        int n = k == 0 ? 7 : STEPS;
        CHECK(n_got[k] >= n);
        CHECK(!memcmp(got[k], alone[k], sizeof(int32_t) * (size_t)n));
    }
    printf("%s: join/leave between steps: tokens equal to single-sequence decode\n", name);
    /* The pool (64 positions) is shared: it was reused after seq 0 left. Exhaust it now. */
    {
        static int32_t fill[64];
        int rc = llama_prefill(c, sq[1], fill, 40, NULL);
        CHECK_EQ(rc, -ENOMEM);
        CHECK(llama_seq_pos(sq[1]) == plen[1] + STEPS - 1);
    }
    free(lg);
    llama_ctx_free(c);
    free(alone_logits);
}

static void test_tiny_model(void)
{
    const char *p = tiny_model_path("batch");
    struct tiny_model_opts o = { .seed = 5, .type = GGML_TYPE_Q8_0 };
    CHECK_EQ(tiny_model_write(p, &o), 0);
    struct llama_model *m = NULL;
    struct err e;
    CHECK_EQ(llama_model_load(&m, p, &e), 0);
    unlink(p);
    if (!m) return;
    check_model(m, "tiny-q8_0");
    llama_model_free(m);
}

static void test_shared_models(void)
{
    const char *shared = test_shared_dir();
    if (!shared) { TEST_SKIP("LLMQ_SHARED_DIR/testdata absent"); return; }
    const char *names[] = { "stories260K-f32", "tiny-random-llama-d256-q4_k_m", "tiny-random-qwen2-f16" };
    for (int i = 0; i < 3; i++) {
        char path[4096];
        snprintf(path, sizeof(path), "%s/testdata/models/%s.gguf", shared, names[i]);
        struct llama_model *m = NULL;
        struct err e;
        CHECK_EQ(llama_model_load(&m, path, &e), 0);
        if (!m) continue;
        check_model(m, names[i]);
        llama_model_free(m);
    }
}

int main(void)
{
    TEST_RUN(test_tiny_model);
    TEST_RUN(test_shared_models);
    TEST_MAIN_END();
}
