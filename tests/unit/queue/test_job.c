/* test_job.c -- job "req" JSON: round trip, defaults, and named errors for bad fields. */
#include "queue/job.h"
#include "test.h"

static void test_roundtrip_completion(void)
{
    struct job_request in, out;
    job_request_init(&in);
    in.prompt = "Once upon";
    in.max_tokens = 64;
    in.temperature = 0.8;
    in.seed = 7;
    in.stop[0] = "\n\n";
    in.stop[1] = "END";
    in.n_stop = 2;
    in.priority = -3;
    in.deadline_us = 1700000000000000ull;
    in.model = "synthetic";
    struct buf b;
    buf_init(&b);
    struct err e = {0};
    CHECK_EQ(job_encode(&in, &b, &e), 0);
    CHECK(strstr(b.data, "\"kind\":\"completion\"") != NULL);
    CHECK_EQ(job_decode(&out, b.data, b.len, &e), 0);
    CHECK_EQ(out.kind, JOB_KIND_COMPLETION);
    CHECK_STR(out.prompt, strlen(out.prompt), "Once upon");
    CHECK_EQ(out.max_tokens, 64);
    CHECK_NEAR(out.temperature, 0.8, 1e-9);
    CHECK_NEAR(out.top_p, 1, 0);
    CHECK_EQ(out.seed, 7);
    CHECK_EQ(out.n_stop, 2);
    CHECK_STR(out.stop[0], strlen(out.stop[0]), "\n\n");
    CHECK_STR(out.stop[1], strlen(out.stop[1]), "END");
    CHECK_EQ(out.priority, -3);
    CHECK_EQ(out.deadline_us, 1700000000000000ull);
    CHECK_STR(out.model, strlen(out.model), "synthetic");
    job_request_deinit(&out);
    buf_deinit(&b);
}

static void test_roundtrip_chat(void)
{
    struct job_message msgs[2] = {{"system", "be brief"}, {"user", "hi \xc3\xa9"}};
    struct job_request in, out;
    job_request_init(&in);
    in.kind = JOB_KIND_CHAT;
    in.messages = msgs;
    in.n_messages = 2;
    in.seed = (uint64_t)INT64_MAX;
    struct buf b;
    buf_init(&b);
    struct err e = {0};
    CHECK_EQ(job_encode(&in, &b, &e), 0);
    CHECK_EQ(job_decode(&out, b.data, b.len, &e), 0);
    CHECK_EQ(out.kind, JOB_KIND_CHAT);
    CHECK(out.prompt == NULL);
    CHECK_EQ(out.n_messages, 2);
    CHECK_STR(out.messages[1].content, strlen(out.messages[1].content), "hi \xc3\xa9");
    CHECK_STR(out.messages[0].role, strlen(out.messages[0].role), "system");
    CHECK_EQ(out.seed, (uint64_t)INT64_MAX);
    job_request_deinit(&out);
    buf_deinit(&b);
}

static void test_minimal_and_stop_string(void)
{
    struct job_request r;
    struct err e = {0};
    const char *j = "{\"prompt\":\"x\",\"stop\":\"###\",\"future_field\":[1,2]}";
    CHECK_EQ(job_decode(&r, j, strlen(j), &e), 0);
    CHECK_EQ(r.max_tokens, 16);
    CHECK_EQ(r.n_stop, 1);
    CHECK_STR(r.stop[0], 3, "###");
    CHECK(r.model == NULL);
    job_request_deinit(&r);
}

static void expect_bad(const char *json, const char *field)
{
    struct job_request r;
    struct err e = {0};
    int rc = job_decode(&r, json, strlen(json), &e);
    CHECK_EQ(rc, LLMQ_EFORMAT);
    CHECK(strstr(e.msg, field) != NULL);
    if (!strstr(e.msg, field)) fprintf(stderr, "  %s -> '%s' (wanted %s)\n", json, e.msg, field);
}

static void test_named_errors(void)
{
    expect_bad("", "invalid JSON");
    expect_bad("[]", "must be a JSON object");
    expect_bad("{\"kind\":\"image\",\"prompt\":\"x\"}", "req.kind");
    expect_bad("{}", "req.prompt");
    expect_bad("{\"prompt\":5}", "req.prompt");
    expect_bad("{\"prompt\":\"x\",\"max_tokens\":0}", "req.max_tokens");
    expect_bad("{\"prompt\":\"x\",\"max_tokens\":1.5}", "req.max_tokens");
    expect_bad("{\"prompt\":\"x\",\"max_tokens\":\"3\"}", "req.max_tokens");
    expect_bad("{\"prompt\":\"x\",\"temperature\":2.5}", "req.temperature");
    expect_bad("{\"prompt\":\"x\",\"top_p\":-0.1}", "req.top_p");
    expect_bad("{\"prompt\":\"x\",\"top_k\":-1}", "req.top_k");
    expect_bad("{\"prompt\":\"x\",\"seed\":-1}", "req.seed");
    expect_bad("{\"prompt\":\"x\",\"repetition_penalty\":0}", "req.repetition_penalty");
    expect_bad("{\"prompt\":\"x\",\"stop\":[\"a\",\"b\",\"c\",\"d\",\"e\"]}", "req.stop");
    expect_bad("{\"prompt\":\"x\",\"stop\":[\"\"]}", "req.stop[0]");
    expect_bad("{\"prompt\":\"x\",\"stop\":[1]}", "req.stop[0]");
    expect_bad("{\"prompt\":\"x\",\"stop\":3}", "req.stop");
    expect_bad("{\"prompt\":\"x\",\"deadline_us\":-5}", "req.deadline_us");
    expect_bad("{\"prompt\":\"x\",\"model\":1}", "req.model");
    expect_bad("{\"kind\":\"chat\"}", "req.messages");
    expect_bad("{\"kind\":\"chat\",\"messages\":[]}", "req.messages");
    expect_bad("{\"kind\":\"chat\",\"messages\":[{\"role\":\"user\"}]}", "req.messages[0].content");
    expect_bad("{\"kind\":\"chat\",\"messages\":[{\"role\":\"\",\"content\":\"x\"}]}",
               "req.messages[0].role");
    expect_bad("{\"prompt\":\"x\",\"prompt\":\"y\"}", "invalid JSON");
}

static void test_encode_rejects_out_of_range(void)
{
    struct job_request r;
    job_request_init(&r);
    r.prompt = "x";
    r.max_tokens = 0;
    struct buf b;
    buf_init(&b);
    struct err e = {0};
    CHECK_EQ(job_encode(&r, &b, &e), -EINVAL);
    CHECK(strstr(e.msg, "req.max_tokens") != NULL);
    r.max_tokens = 1;
    r.prompt = "bad \xff utf8";
    CHECK_EQ(job_encode(&r, &b, &e), -EINVAL);
    CHECK_EQ(b.len, 0);
    buf_deinit(&b);
}

int main(void)
{
    TEST_RUN(test_roundtrip_completion);
    TEST_RUN(test_roundtrip_chat);
    TEST_RUN(test_minimal_and_stop_string);
    TEST_RUN(test_named_errors);
    TEST_RUN(test_encode_rejects_out_of_range);
    TEST_MAIN_END();
}
