/* test_model.c -- the loader and the forward pass on models the test writes itself
 * (tiny_model.h), so they run without shared/: hyperparameters, tied output, clear errors
 * for unsupported architectures / missing tensors / bad shapes, prompt-at-once ==
 * token-by-token == chunked prefill (bit-equal), and every tensor type giving logits close
 * to the F32 model written from the same random weights. */
#include "test.h"

#include <unistd.h>

#include "engine/llama/gguf.h"
#include "engine/llama/llama.h"
#include "tiny_model.h"

static int load(const char *path, struct llama_model **m, struct err *e)
{
    memset(e, 0, sizeof(*e));
    return llama_model_load(m, path, e);
}

static void test_load_ok(void)
{
    const char *p = tiny_model_path("model-ok");
    struct tiny_model_opts o = { .tied = 1 };
    CHECK_EQ(tiny_model_write(p, &o), 0);
    struct llama_model *m = NULL;
    struct err e;
    CHECK_EQ(load(p, &m, &e), 0);
    if (!m) { fprintf(stderr, "%s\n", e.msg); unlink(p); return; }
    const struct llama_hparams *hp = llama_model_hparams(m);
    CHECK_EQ(hp->n_embd, 256);
    CHECK_EQ(hp->n_layer, 2);
    CHECK_EQ(hp->n_head, 8);
    CHECK_EQ(hp->n_head_kv, 4);
    CHECK_EQ(hp->head_dim, 32);
    CHECK_EQ(hp->n_ff, 512);
    CHECK_EQ(hp->n_vocab, TINY_VOCAB);
    CHECK_EQ(hp->tied_output, 1);
    CHECK_EQ(hp->rope_neox, 0);
    CHECK_NEAR(hp->rope_freq_base, 10000, 0);
    CHECK(llama_model_weight_bytes(m) > 0);
    llama_model_free(m);
    unlink(p);
}

static void test_errors(void)
{
    struct { struct tiny_model_opts o; int code; const char *needle; } cases[] = {
        { { .arch = "mamba" }, LLMQ_EUNSUPPORTED, "unsupported architecture" },
        { { .skip_tensor = "blk.1.ffn_up.weight" }, LLMQ_EFORMAT, "blk.1.ffn_up.weight" },
        { { .bad_shape_tensor = "blk.0.attn_k.weight" }, LLMQ_EFORMAT, "shape" },
        { { .skip_tensor = "output_norm.weight" }, LLMQ_EFORMAT, "output_norm.weight" },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *p = tiny_model_path("model-bad");
        CHECK_EQ(tiny_model_write(p, &cases[i].o), 0);
        struct llama_model *m = NULL;
        struct err e;
        int rc = load(p, &m, &e);
        CHECK_EQ(rc, cases[i].code);
        CHECK(strstr(e.msg, cases[i].needle) != NULL);
        if (!strstr(e.msg, cases[i].needle)) fprintf(stderr, "message: %s\n", e.msg);
        CHECK(m == NULL);
        unlink(p);
    }
    struct llama_model *m = NULL;
    struct err e;
    CHECK(load("/nonexistent/model.gguf", &m, &e) < 0);
}

static void logits_of(struct llama_model *m, const int32_t *toks, int n, int batch_tokens,
                      int one_by_one, float *out);

/* LLMQ_WEIGHTS: the weights copied into huge pages give the same logits as the mapped file;
 * a copy that cannot be made (file shrunk after it was validated) is a clear error; a bad
 * value of the variable is refused by name. */
static void test_weights_copy(void)
{
    const char *p = tiny_model_path("model-copy");
    struct tiny_model_opts o = { .seed = 5 };
    CHECK_EQ(tiny_model_write(p, &o), 0);
    int32_t toks[6] = { 1, 17, 42, 99, 3, 250 };
    static float a[TINY_VOCAB], b[TINY_VOCAB];
    struct llama_model *m = NULL;
    struct err e;

    setenv("LLMQ_WEIGHTS", "mmap", 1);
    CHECK_EQ(load(p, &m, &e), 0);
    if (!m) goto out;
    CHECK(!strcmp(llama_model_weights_where(m), "mmap"));
    logits_of(m, toks, 6, 0, 0, a);
    llama_model_free(m);

    setenv("LLMQ_WEIGHTS", "copy", 1);
    CHECK_EQ(load(p, &m, &e), 0);
    if (!m) goto out;
    const char *where = llama_model_weights_where(m);
    CHECK(!strcmp(where, "huge pages") || !strcmp(where, "copy") || !strcmp(where, "mmap"));
    if (!strcmp(where, "mmap")) printf("SKIP weights copy: transparent huge pages are off here\n");
    logits_of(m, toks, 6, 0, 0, b);
    CHECK_EQ(memcmp(a, b, sizeof(a)), 0);
    llama_model_free(m);

    /* the file shrinks between validation and the copy */
    struct gguf_file *f = NULL;
    CHECK_EQ(gguf_open(&f, p, &e), 0);
    if (f) {
        CHECK_EQ(truncate(p, (off_t)(f->size - 100)), 0);
        int rc = gguf_copy_data(f, p, SIZE_MAX, &e);
        if (rc != 0) {             /* 0: huge pages off, nothing read */
            CHECK(rc < 0);
            CHECK(strstr(e.msg, "unexpected end of file") != NULL);
            CHECK(f->copy == NULL);
        }
        gguf_close(f);
    }

    setenv("LLMQ_WEIGHTS", "fast", 1);
    CHECK(load(p, &m, &e) < 0);
    CHECK(strstr(e.msg, "LLMQ_WEIGHTS") != NULL);
out:
    unsetenv("LLMQ_WEIGHTS");
    unlink(p);
}

static void logits_of(struct llama_model *m, const int32_t *toks, int n, int batch_tokens,
                      int one_by_one, float *out)
{
    struct llama_ctx *c = NULL;
    struct llama_ctx_params cp = { .max_batch = 1, .ctx_len = 128, .threads = 2, .batch_tokens = batch_tokens };
    struct err e;
    CHECK_EQ(llama_ctx_new(&c, m, &cp, &e), 0);
    struct llama_seq *s;
    CHECK_EQ(llama_seq_new(c, &s), 0);
    if (one_by_one)
        for (int i = 0; i < n; i++) CHECK_EQ(llama_prefill(c, s, &toks[i], 1, out), 0);
    else
        CHECK_EQ(llama_prefill(c, s, toks, n, out), 0);
    CHECK_EQ(llama_seq_pos(s), n);
    llama_seq_free(c, s);
    llama_ctx_free(c);
}

static void test_prefill_equivalence(void)
{
    const char *p = tiny_model_path("model-pf");
    struct tiny_model_opts o = { .seed = 77 };
    CHECK_EQ(tiny_model_write(p, &o), 0);
    struct llama_model *m = NULL;
    struct err e;
    CHECK_EQ(load(p, &m, &e), 0);
    if (!m) return;
    int V = llama_model_hparams(m)->n_vocab;
    int32_t toks[40];
    for (int i = 0; i < 40; i++) toks[i] = (int32_t)((i * 37 + 5) % V);
    float *a = malloc(sizeof(float) * V), *b = malloc(sizeof(float) * V), *c = malloc(sizeof(float) * V);
    logits_of(m, toks, 40, 0, 0, a);     /* one pass */
    logits_of(m, toks, 40, 0, 1, b);     /* token by token */
    logits_of(m, toks, 40, 7, 0, c);     /* passes of 7 tokens */
    CHECK(memcmp(a, b, sizeof(float) * V) == 0);
    CHECK(memcmp(a, c, sizeof(float) * V) == 0);
    int finite = 1;
    for (int i = 0; i < V; i++) finite &= isfinite(a[i]);
    CHECK(finite);
    /* all_logits: row i equals the logits after prefix i+1 */
    float *all = malloc(sizeof(float) * V * 40);
    struct llama_ctx *ctx = NULL;
    struct llama_ctx_params cp = { .max_batch = 1, .ctx_len = 128, .threads = 1 };
    CHECK_EQ(llama_ctx_new(&ctx, m, &cp, &e), 0);
    struct llama_seq *s;
    CHECK_EQ(llama_seq_new(ctx, &s), 0);
    struct llama_batch_item it = { .seq = s, .tokens = toks, .n_tokens = 40, .logits = all, .all_logits = 1 };
    CHECK_EQ(llama_eval(ctx, &it, 1), 0);
    CHECK(memcmp(all + (size_t)39 * V, a, sizeof(float) * V) == 0);
    logits_of(m, toks, 10, 0, 0, b);
    CHECK(memcmp(all + (size_t)9 * V, b, sizeof(float) * V) == 0);
    /* bad input */
    int32_t bad = V;
    CHECK_EQ(llama_prefill(ctx, s, &bad, 1, a), -EINVAL);
    CHECK_EQ(llama_seq_pos(s), 40);
    static int32_t many[100];
    CHECK_EQ(llama_prefill(ctx, s, many, 100, a), LLMQ_ETOOLARGE);   /* 40 + 100 > 128 */
    CHECK_EQ(llama_seq_pos(s), 40);
    llama_seq_truncate(ctx, s, 10);
    CHECK_EQ(llama_seq_pos(s), 10);
    CHECK_EQ(llama_prefill(ctx, s, toks + 10, 30, a), 0);             /* recompute the tail */
    CHECK(memcmp(all + (size_t)39 * V, a, sizeof(float) * V) == 0);
    llama_seq_free(ctx, s);
    llama_ctx_free(ctx);
    free(all);
    free(a);
    free(b);
    free(c);
    llama_model_free(m);
    unlink(p);
}

static void test_types_close_to_f32(void)
{
    /* Each type against an F32 model holding the same weights after a round trip through
     * that type, so only the engine's arithmetic (activation rounding, kernels) differs.
     * Bounds relative to the logits' spread, ~3x what was measured. */
    struct { enum ggml_type t; double max_rel; } types[] = {
        /* measured: f16 0.001, bf16 0.012, q8_0 0.041, q6_K 0.046, q4_K 0.041, q4_0 0.033 */
        { GGML_TYPE_F16, 0.005 }, { GGML_TYPE_BF16, 0.04 }, { GGML_TYPE_Q8_0, 0.12 },
        { GGML_TYPE_Q6_K, 0.12 }, { GGML_TYPE_Q4_K, 0.12 }, { GGML_TYPE_Q4_0, 0.12 },
    };
    struct llama_model *m = NULL;
    struct err e;
    int32_t toks[6] = { 1, 270, 271, 272, 100, 200 };
    int V = TINY_VOCAB;
    float *ref = malloc(sizeof(float) * V), *got = malloc(sizeof(float) * V);
    for (size_t k = 0; k < sizeof(types) / sizeof(types[0]); k++) {
        struct tiny_model_opts o = { .seed = 99, .n_layer = 1, .roundtrip = types[k].t };
        const char *p = tiny_model_path("model-rt");
        CHECK_EQ(tiny_model_write(p, &o), 0);
        CHECK_EQ(load(p, &m, &e), 0);
        if (!m) continue;
        logits_of(m, toks, 6, 0, 0, ref);
        llama_model_free(m);
        unlink(p);
        double mean = 0, var = 0;
        for (int i = 0; i < V; i++) mean += ref[i] / V;
        for (int i = 0; i < V; i++) var += (ref[i] - mean) * (ref[i] - mean) / V;
        double sd = sqrt(var);
        o.roundtrip = 0;
        o.type = types[k].t;
        p = tiny_model_path("model-q");
        CHECK_EQ(tiny_model_write(p, &o), 0);
        CHECK_EQ(load(p, &m, &e), 0);
        if (!m) { fprintf(stderr, "%s\n", e.msg); continue; }
        logits_of(m, toks, 6, 0, 0, got);
        double worst = 0;
        for (int i = 0; i < V; i++) worst = fmax(worst, fabs(got[i] - ref[i]));
        printf("%-5s max |logit - f32 of the same weights| = %.4f (%.3f of the logits' sd %.2f)\n",
               llama_model_type_name(m), worst, worst / sd, sd);
        CHECK(worst / sd < types[k].max_rel);
        llama_model_free(m);
        unlink(p);
    }
    free(ref);
    free(got);
}

/* rope_freqs.weight (Llama 3.1+): all-ones divisors change nothing, others change logits. */
static void test_rope_freqs(void)
{
    int V = TINY_VOCAB;
    int32_t toks[8] = { 1, 270, 271, 272, 100, 200, 30, 40 };
    float *l0 = malloc(sizeof(float) * V), *l1 = malloc(sizeof(float) * V), *l2 = malloc(sizeof(float) * V);
    float freq[3] = { 0, 1.0f, 4.0f };
    float *outs[3] = { l0, l1, l2 };
    for (int k = 0; k < 3; k++) {
        struct tiny_model_opts o = { .seed = 31, .n_layer = 1, .rope_freq = freq[k] };
        const char *p = tiny_model_path("model-rf");
        CHECK_EQ(tiny_model_write(p, &o), 0);
        struct llama_model *m = NULL;
        struct err e;
        CHECK_EQ(load(p, &m, &e), 0);
        unlink(p);
        if (!m) { fprintf(stderr, "%s\n", e.msg); continue; }
        logits_of(m, toks, 8, 0, 0, outs[k]);
        llama_model_free(m);
    }
    CHECK(memcmp(l0, l1, sizeof(float) * V) == 0);
    CHECK(memcmp(l0, l2, sizeof(float) * V) != 0);
    free(l0);
    free(l1);
    free(l2);
}

int main(void)
{
    TEST_RUN(test_rope_freqs);
    TEST_RUN(test_load_ok);
    TEST_RUN(test_errors);
    TEST_RUN(test_weights_copy);
    TEST_RUN(test_prefill_equivalence);
    TEST_RUN(test_types_close_to_f32);
    TEST_MAIN_END();
}
