/* test_trace.c -- the three public trace formats as they are published (header names,
 * date-time timestamps, extra columns, JSON lines), error reporting, and the trace files
 * shipped in bench/traces/. */
#include "bench/rng.h"
#include "bench/trace.h"
#include "common/xalloc.h"
#include "test.h"

static int parse(struct trace *t, enum trace_format f, const char *s)
{
    struct err e = { 0 };
    int rc = trace_parse(t, f, s, strlen(s), &e);
    if (rc < 0) fprintf(stderr, "  (%s)\n", e.msg);
    return rc;
}

static void test_azure(void)
{
    struct trace t;
    const char *csv = "TIMESTAMP,ContextTokens,GeneratedTokens\r\n"
                      "2023-11-16 18:15:46.6805900,374,44\r\n"
                      "2023-11-16 18:15:50.9951690,396,109\r\n"
                      "2023-11-16 18:15:47.0000000,1000,1\r\n";
    CHECK_EQ(parse(&t, TRACE_FORMAT_AZURE, csv), 0);
    CHECK_EQ(t.n, 3);
    CHECK_NEAR(t.entries[0].t_s, 0, 1e-9);
    CHECK_EQ(t.entries[0].prompt_tokens, 374);
    CHECK_EQ(t.entries[1].prompt_tokens, 1000);     /* sorted by time */
    CHECK_NEAR(t.entries[1].t_s, 0.31941, 1e-5);
    CHECK_NEAR(t.entries[2].t_s, 4.314579, 1e-5);
    CHECK_EQ(t.entries[2].output_tokens, 109);
    trace_deinit(&t);
    /* numeric timestamps, reordered columns, a day boundary */
    CHECK_EQ(parse(&t, TRACE_FORMAT_AZURE, "GeneratedTokens,TIMESTAMP,ContextTokens\n5,10.5,7\n6,12,8\n"), 0);
    CHECK_EQ(t.n, 2);
    CHECK_NEAR(t.entries[1].t_s, 1.5, 1e-9);
    CHECK_EQ(t.entries[1].output_tokens, 6);
    trace_deinit(&t);
    CHECK_EQ(parse(&t, TRACE_FORMAT_AZURE, "TIMESTAMP,ContextTokens,GeneratedTokens\n"
                   "2023-12-31 23:59:59.5,1,1\n2024-01-01 00:00:00.5,1,1\n"), 0);
    CHECK_NEAR(t.entries[1].t_s, 1.0, 1e-6);
    trace_deinit(&t);
}

static void test_burstgpt(void)
{
    struct trace t;
    const char *csv = "Timestamp,Model,Request tokens,Response tokens,Total tokens,Log Type\n"
                      "5,ChatGPT,472,18,490,Conversation log\n"
                      "45,ChatGPT,1087,0,1087,Conversation log\n"
                      "118,GPT-4,417,276,693,API log\n";
    CHECK_EQ(parse(&t, TRACE_FORMAT_BURSTGPT, csv), 0);
    CHECK_EQ(t.n, 3);
    CHECK_NEAR(t.entries[1].t_s, 40, 1e-9);
    CHECK_EQ(t.entries[1].output_tokens, 0);       /* failed requests keep 0; the plan clamps */
    CHECK_EQ(t.entries[2].prompt_tokens, 417);
    trace_deinit(&t);
}

static void test_mooncake(void)
{
    struct trace t;
    const char *jl = "{\"timestamp\": 0, \"input_length\": 6955, \"output_length\": 52, \"hash_ids\": [46, 47]}\n"
                     "\n"
                     "{\"timestamp\": 1500, \"input_length\": 6472, \"output_length\": 26, \"hash_ids\": []}\n";
    CHECK_EQ(parse(&t, TRACE_FORMAT_MOONCAKE, jl), 0);
    CHECK_EQ(t.n, 2);
    CHECK_NEAR(t.entries[1].t_s, 1.5, 1e-9);
    CHECK_EQ(t.entries[0].prompt_tokens, 6955);
    CHECK_EQ(t.entries[1].output_tokens, 26);
    trace_deinit(&t);
}

static void test_errors(void)
{
    struct trace t;
    struct err e = { 0 };
    const char *s = "Time,Tokens\n1,2\n";
    CHECK_EQ(trace_parse(&t, TRACE_FORMAT_AZURE, s, strlen(s), &e), LLMQ_EFORMAT);
    CHECK(strstr(e.msg, "header") != NULL);
    s = "TIMESTAMP,ContextTokens,GeneratedTokens\n1,2,3\nbad,2,3\n";
    CHECK_EQ(trace_parse(&t, TRACE_FORMAT_AZURE, s, strlen(s), &e), LLMQ_EFORMAT);
    CHECK(strstr(e.msg, "line 3") != NULL);
    CHECK_EQ(t.n, 0);
    s = "{\"timestamp\": 1}\n";
    CHECK_EQ(trace_parse(&t, TRACE_FORMAT_MOONCAKE, s, strlen(s), &e), LLMQ_EFORMAT);
    s = "TIMESTAMP,ContextTokens,GeneratedTokens\nnan,2,3\n";
    CHECK_EQ(trace_parse(&t, TRACE_FORMAT_AZURE, s, strlen(s), &e), LLMQ_EFORMAT);
    s = "TIMESTAMP,ContextTokens,GeneratedTokens\n1,inf,3\n";
    CHECK_EQ(trace_parse(&t, TRACE_FORMAT_AZURE, s, strlen(s), &e), LLMQ_EFORMAT);
    /* found by fuzz_trace: NaN/inf seconds in a date, times whose differences overflow,
     * token counts beyond int (clamped to 10^7, never cast out of range) */
    s = "TIMESTAMP,ContextTokens,GeneratedTokens\n2023-01-01 00:00:nan,2,3\n";
    CHECK_EQ(trace_parse(&t, TRACE_FORMAT_AZURE, s, strlen(s), &e), LLMQ_EFORMAT);
    s = "{\"timestamp\": 1e300, \"input_length\": 1, \"output_length\": 2}\n";
    CHECK_EQ(trace_parse(&t, TRACE_FORMAT_MOONCAKE, s, strlen(s), &e), LLMQ_EFORMAT);
    s = "TIMESTAMP,ContextTokens,GeneratedTokens\n1,1e300,-1e300\n";
    CHECK_EQ(trace_parse(&t, TRACE_FORMAT_AZURE, s, strlen(s), &e), 0);
    CHECK(t.n == 1 && t.entries[0].prompt_tokens == 10000000 && t.entries[0].output_tokens == 0);
    trace_deinit(&t);
    CHECK_EQ(trace_load(&t, TRACE_FORMAT_AZURE, "/nonexistent/trace.csv", &e), -ENOENT);
    enum trace_format f;
    CHECK_EQ(trace_format_parse("BurstGPT", &f), 0);
    CHECK_EQ(f, TRACE_FORMAT_BURSTGPT);
    CHECK_EQ(trace_format_parse("csv", &f), -EINVAL);
}

static void test_shipped_traces(void)
{
    const char *src = getenv("LLMQ_SOURCE_DIR");
    if (!src) { TEST_SKIP("LLMQ_SOURCE_DIR not set"); return; }
    static const struct { const char *file; enum trace_format f; } files[] = {
        { "diurnal-azure.csv", TRACE_FORMAT_AZURE },
        { "bursty-burstgpt.csv", TRACE_FORMAT_BURSTGPT },
        { "bursty-mooncake.jsonl", TRACE_FORMAT_MOONCAKE },
    };
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        char path[1024];
        struct trace t;
        struct err e = { 0 };
        snprintf(path, sizeof(path), "%s/bench/traces/%s", src, files[i].file);
        int rc = trace_load(&t, files[i].f, path, &e);
        if (rc < 0) fprintf(stderr, "  %s\n", e.msg);
        CHECK_EQ(rc, 0);
        CHECK(t.n >= 100);
        for (size_t k = 1; k < t.n; k++) CHECK(t.entries[k].t_s >= t.entries[k - 1].t_s);
        trace_deinit(&t);
    }
}

/* Truncated and corrupted traces in exactly-sized buffers: parse or fail cleanly. */
static void test_mutations(void)
{
    static const char *seeds[] = {
        "TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:46.6805900,374,44\n\"2023-11-16 18:15:50\",396,109\n",
        "Timestamp,Model,Request tokens,Response tokens,Total tokens,Log Type\n5,ChatGPT,472,18,490,Conversation log\n",
        "{\"timestamp\": 0, \"input_length\": 6955, \"output_length\": 52}\n{\"timestamp\": 1500, \"input_length\": 1, \"output_length\": 2}\n",
    };
    struct rng r;
    rng_seed(&r, 5);
    int ok = 0;
    for (int it = 0; it < 6000; it++) {
        int k = it % 3;
        size_t n = strlen(seeds[k]);
        size_t len = (size_t)rng_below(&r, n + 1);
        char *m = xmalloc(len ? len : 1);
        memcpy(m, seeds[k], len);
        int flips = (int)rng_below(&r, 3);
        for (int f = 0; f < flips && len; f++) m[rng_below(&r, len)] = (char)rng_below(&r, 256);
        struct trace t;
        struct err e = { 0 };
        if (trace_parse(&t, (enum trace_format)k, m, len, &e) == 0) {
            ok++;
            for (size_t i = 0; i < t.n; i++) CHECK(t.entries[i].prompt_tokens >= 0 && t.entries[i].t_s >= 0);
        } else {
            CHECK(t.n == 0 && t.entries == NULL && e.msg[0]);
        }
        trace_deinit(&t);
        free(m);
    }
    CHECK(ok > 0);
}

int main(void)
{
    TEST_RUN(test_azure);
    TEST_RUN(test_burstgpt);
    TEST_RUN(test_mooncake);
    TEST_RUN(test_errors);
    TEST_RUN(test_shipped_traces);
    TEST_RUN(test_mutations);
    TEST_MAIN_END();
}
