/* test_synthetic.c -- the synthetic engine the worker load-tests with (src/engine/synthetic.c;
 * its test lives with the worker, its only client): determinism per (seed, prompt) whatever
 * the batch, "length" at max_tokens, max_batch, the timing model, and the failure hook. */
#include "common/buf.h"
#include "common/clock.h"
#include "engine/engine.h"
#include "test.h"

static struct engine *open_syn(int max_batch, double step_ms, double prefill_us)
{
    struct engine_config c = {
        .kind = "synthetic", .max_batch = max_batch, .step_ms = step_ms, .prefill_us = prefill_us};
    struct engine *eng = NULL;
    struct err e = {0};
    CHECK_EQ(engine_open(&eng, &c, &e), 0);
    return eng;
}

static struct engine_seq *seq(struct engine *eng, const char *prompt, uint64_t seed, int max_tokens)
{
    struct engine_request r = {.prompt = prompt,
                               .max_tokens = max_tokens,
                               .seed = seed,
                               .top_p = 1,
                               .repetition_penalty = 1};
    struct engine_seq *s = NULL;
    struct err e = {0};
    CHECK_EQ(engine_seq_new(eng, &r, &s, &e), 0);
    return s;
}

/* Runs one sequence alone or next to a distractor; returns the text. */
static void generate(struct engine *eng, const char *prompt, uint64_t seed, int n, int with_other,
                     struct buf *out)
{
    struct engine_seq *seqs[2] = {seq(eng, prompt, seed, n),
                                  with_other ? seq(eng, "other", 99, 1000) : NULL};
    struct engine_output o[2];
    for (int i = 0; i < n; i++) {
        CHECK_EQ(engine_step(eng, seqs, with_other ? 2 : 1, o), 0);
        buf_append(out, o[0].text, o[0].text_len);
        CHECK(o[0].text_len > 0 && o[0].text[0] == ' ');
        CHECK_EQ(o[0].finish, i == n - 1 ? ENGINE_FINISH_LENGTH : ENGINE_FINISH_NONE);
    }
    engine_seq_free(eng, seqs[0]);
    engine_seq_free(eng, seqs[1]);
}

static void test_deterministic(void)
{
    struct engine *eng = open_syn(4, 0, 0);
    struct buf a, b, c;
    buf_init(&a);
    buf_init(&b);
    buf_init(&c);
    generate(eng, "tell me", 7, 20, 0, &a);
    generate(eng, "tell me", 7, 20, 1, &b);
    generate(eng, "tell me", 8, 20, 0, &c);
    CHECK(a.len == b.len && !memcmp(a.data, b.data, a.len));
    CHECK(a.len != c.len || memcmp(a.data, c.data, a.len));
    buf_deinit(&a);
    buf_deinit(&b);
    buf_deinit(&c);
    engine_free(eng);
}

static void test_prompt_tokens_and_limits(void)
{
    struct engine *eng = open_syn(1, 0, 0);
    struct engine_seq *s = seq(eng, "  three  little\twords ", 1, 1);
    CHECK_EQ(engine_seq_prompt_tokens(s), 3);
    struct engine_seq *e0 = seq(eng, "", 1, 1);
    CHECK_EQ(engine_seq_prompt_tokens(e0), 1);
    struct engine_seq *two[2] = {s, e0};
    struct engine_output o[2];
    CHECK(engine_step(eng, two, 2, o) < 0); /* over max_batch */
    engine_seq_free(eng, s);
    engine_seq_free(eng, e0);
    engine_free(eng);
}

static void test_timing_model(void)
{
    struct engine *eng = open_syn(2, 20, 1000); /* 20 ms per step, 1 ms per prompt token */
    struct engine_seq *s = seq(eng, "a b c d e f g h i j", 1, 10); /* 10 prompt tokens */
    struct engine_output o;
    uint64_t t0 = clock_mono_us();
    CHECK_EQ(engine_step(eng, &s, 1, &o), 0); /* joins: 20 + 10 ms */
    uint64_t t1 = clock_mono_us();
    CHECK_EQ(engine_step(eng, &s, 1, &o), 0); /* plain step: 20 ms */
    uint64_t t2 = clock_mono_us();
    CHECK(t1 - t0 >= 30000 && t1 - t0 < 60000);
    CHECK(t2 - t1 >= 20000 && t2 - t1 < 45000);
    engine_seq_free(eng, s);
    engine_free(eng);
}

static void test_fail_hook(void)
{
    struct engine *eng = open_syn(1, 0, 0);
    struct engine_seq *s = seq(eng, "x [[synthetic:fail]]", 1, 5);
    struct engine_output o;
    CHECK_EQ(engine_step(eng, &s, 1, &o), 0);
    CHECK_EQ(o.finish, ENGINE_FINISH_ERROR);
    engine_seq_free(eng, s);
    engine_free(eng);
}

static void test_zero_ms_steps_are_cheap(void)
{
    struct engine *eng = open_syn(256, 0, 0);
    struct engine_seq *seqs[256];
    struct engine_output o[256];
    for (int i = 0; i < 256; i++)
        seqs[i] = seq(eng, "p", (uint64_t)i, 1000000);
    double c0 = clock_cpu_s();
    for (int k = 0; k < 1000; k++)
        CHECK_EQ(engine_step(eng, seqs, 256, o), 0);
    double cpu = clock_cpu_s() - c0;
    fprintf(stderr, "synthetic: 256k tokens in %.3f CPU s\n", cpu);
    CHECK(cpu < 1.0);
    for (int i = 0; i < 256; i++)
        engine_seq_free(eng, seqs[i]);
    engine_free(eng);
}

int main(void)
{
    TEST_RUN(test_deterministic);
    TEST_RUN(test_prompt_tokens_and_limits);
    TEST_RUN(test_timing_model);
    TEST_RUN(test_fail_hook);
    TEST_RUN(test_zero_ms_steps_are_cheap);
    TEST_MAIN_END();
}
