/* test_openai.c -- request validation (every bad input names its field) and the normalised job
 * JSON, checked against the queue library's job_decode (the worker's side of the contract). */
#include "gateway/openai.h"
#include "queue/job.h"
#include "test.h"

static const struct openai_limits lim = {.max_tokens_default = 16,
                                         .max_tokens_limit = 4096,
                                         .max_timeout_ms = 0,
                                         .model_default = "dflt"};

static int parse(const char *body, int kind, struct openai_request *r, struct err *e)
{
    return openai_parse(r, body, strlen(body), kind, &lim, e);
}

static void expect_bad(const char *body, int kind, const char *field)
{
    struct openai_request r;
    struct err e = {0};
    int rc = parse(body, kind, &r, &e);
    CHECK_EQ(rc, LLMQ_EFORMAT);
    if (rc == LLMQ_EFORMAT && strncmp(e.msg, field, strlen(field)))
        fprintf(stderr, "  body %s: message '%s' does not start with '%s'\n", body, e.msg, field);
    CHECK(!strncmp(e.msg, field, strlen(field)));
    openai_request_deinit(&r);
}

static void test_bad_inputs(void)
{
    expect_bad("{", OPENAI_KIND_COMPLETION, "body");
    expect_bad("[1]", OPENAI_KIND_COMPLETION, "body");
    expect_bad("{}", OPENAI_KIND_COMPLETION, "prompt");
    expect_bad("{\"prompt\":5}", OPENAI_KIND_COMPLETION, "prompt");
    expect_bad("{\"prompt\":[1,2]}", OPENAI_KIND_COMPLETION, "prompt");
    expect_bad("{\"prompt\":\"x\",\"model\":3}", OPENAI_KIND_COMPLETION, "model");
    expect_bad("{\"prompt\":\"x\",\"max_tokens\":0}", OPENAI_KIND_COMPLETION, "max_tokens");
    expect_bad("{\"prompt\":\"x\",\"max_tokens\":\"9\"}", OPENAI_KIND_COMPLETION, "max_tokens");
    expect_bad("{\"prompt\":\"x\",\"max_tokens\":99999}", OPENAI_KIND_COMPLETION, "max_tokens");
    expect_bad("{\"prompt\":\"x\",\"max_tokens\":1.5}", OPENAI_KIND_COMPLETION, "max_tokens");
    expect_bad("{\"prompt\":\"x\",\"temperature\":2.5}", OPENAI_KIND_COMPLETION, "temperature");
    expect_bad("{\"prompt\":\"x\",\"temperature\":\"hot\"}", OPENAI_KIND_COMPLETION, "temperature");
    expect_bad("{\"prompt\":\"x\",\"top_p\":1.5}", OPENAI_KIND_COMPLETION, "top_p");
    expect_bad("{\"prompt\":\"x\",\"top_k\":-1}", OPENAI_KIND_COMPLETION, "top_k");
    expect_bad("{\"prompt\":\"x\",\"min_p\":-0.1}", OPENAI_KIND_COMPLETION, "min_p");
    expect_bad("{\"prompt\":\"x\",\"seed\":\"s\"}", OPENAI_KIND_COMPLETION, "seed");
    expect_bad("{\"prompt\":\"x\",\"stop\":5}", OPENAI_KIND_COMPLETION, "stop");
    expect_bad("{\"prompt\":\"x\",\"stop\":[\"a\",1]}", OPENAI_KIND_COMPLETION, "stop");
    expect_bad("{\"prompt\":\"x\",\"stop\":[\"a\",\"b\",\"c\",\"d\",\"e\"]}",
               OPENAI_KIND_COMPLETION, "stop");
    expect_bad("{\"prompt\":\"x\",\"stop\":\"\"}", OPENAI_KIND_COMPLETION, "stop");
    expect_bad("{\"prompt\":\"x\",\"stream\":\"yes\"}", OPENAI_KIND_COMPLETION, "stream");
    expect_bad("{\"prompt\":\"x\",\"stream_options\":1}", OPENAI_KIND_COMPLETION, "stream_options");
    expect_bad("{\"prompt\":\"x\",\"stream_options\":{\"include_usage\":1}}",
               OPENAI_KIND_COMPLETION, "stream_options.include_usage");
    expect_bad("{\"prompt\":\"x\",\"user\":1}", OPENAI_KIND_COMPLETION, "user");
    expect_bad("{\"prompt\":\"x\",\"priority\":\"high\"}", OPENAI_KIND_COMPLETION, "priority");
    expect_bad("{\"prompt\":\"x\",\"timeout_ms\":-1}", OPENAI_KIND_COMPLETION, "timeout_ms");
    expect_bad("{\"prompt\":\"x\",\"n\":2}", OPENAI_KIND_COMPLETION, "n");
    expect_bad("{\"prompt\":\"x\",\"presence_penalty\":3}", OPENAI_KIND_COMPLETION,
               "presence_penalty");
    expect_bad("{\"prompt\":\"x\",\"frequency_penalty\":-3}", OPENAI_KIND_COMPLETION,
               "frequency_penalty");
    expect_bad("{\"prompt\":\"x\",\"repetition_penalty\":0}", OPENAI_KIND_COMPLETION,
               "repetition_penalty");
    expect_bad("{\"prompt\":\"x\",\"a\":1,\"a\":2}", OPENAI_KIND_COMPLETION, "body");
    expect_bad("{\"prompt\":\"x\"}", OPENAI_KIND_CHAT, "messages");
    expect_bad("{\"messages\":[]}", OPENAI_KIND_CHAT, "messages");
    expect_bad("{\"messages\":{}}", OPENAI_KIND_CHAT, "messages");
    expect_bad("{\"messages\":[1]}", OPENAI_KIND_CHAT, "messages[]");
    expect_bad("{\"messages\":[{\"content\":\"x\"}]}", OPENAI_KIND_CHAT, "messages[].role");
    expect_bad("{\"messages\":[{\"role\":\"robot\",\"content\":\"x\"}]}", OPENAI_KIND_CHAT,
               "messages[].role");
    expect_bad("{\"messages\":[{\"role\":\"user\",\"content\":5}]}", OPENAI_KIND_CHAT,
               "messages[].content");
    expect_bad("{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"image_url\"}]}]}",
               OPENAI_KIND_CHAT, "messages[].content");
}

static void test_defaults_and_unknown_fields(void)
{
    struct openai_request r;
    struct err e = {0};
    CHECK_EQ(parse("{\"prompt\":[\"hi\"],\"logprobs\":null,\"echo\":false,\"whatever\":{\"x\":1},"
                   "\"temperature\":null}",
                   OPENAI_KIND_COMPLETION, &r, &e),
             0);
    CHECK(!strcmp(r.prompt, "hi"));
    CHECK(!strcmp(r.model, "dflt"));
    CHECK_EQ(r.max_tokens, 16);
    CHECK_NEAR(r.temperature, 1.0, 1e-9);
    CHECK(!r.has_seed && !r.stream);
    openai_request_deinit(&r);
    CHECK_EQ(parse("{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"max_completion_"
                   "tokens\":7,\"stream\":true,"
                   "\"stream_options\":{\"include_usage\":true}}",
                   OPENAI_KIND_CHAT, &r, &e),
             0);
    CHECK_EQ(r.max_tokens, 7);
    CHECK(r.stream && r.include_usage);
    openai_request_deinit(&r);
    struct openai_limits capped = lim;
    capped.max_timeout_ms = 1000;
    const char *t = "{\"prompt\":\"x\",\"timeout_ms\":5000}";
    CHECK_EQ(openai_parse(&r, t, strlen(t), OPENAI_KIND_COMPLETION, &capped, &e), 0);
    CHECK_EQ(r.timeout_ms, 1000);
    openai_request_deinit(&r);
    CHECK_EQ(openai_parse(&r, "{\"prompt\":\"x\"}", 14, OPENAI_KIND_COMPLETION, &capped, &e), 0);
    CHECK_EQ(r.timeout_ms, 1000);
    openai_request_deinit(&r);
}

static void test_job_json_round_trip(void)
{
    struct openai_request r;
    struct err e = {0};
    const char *body =
        "{\"model\":\"m\",\"messages\":[{\"role\":\"system\",\"content\":\"be \\\"nice\\\"\"},"
        "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"hel\"},{\"type\":\"text\","
        "\"text\":\"lo\"}]}],"
        "\"max_tokens\":9,\"temperature\":0.25,\"top_p\":0.5,\"top_k\":40,\"min_p\":0.05,\"seed\":-"
        "3,"
        "\"stop\":[\"\\n\\n\",\"END\"],\"priority\":2,\"presence_penalty\":0.5,\"repetition_"
        "penalty\":1.1}";
    CHECK_EQ(parse(body, OPENAI_KIND_CHAT, &r, &e), 0);
    struct buf out;
    buf_init(&out);
    openai_job_json(&r, 123, 456, &out);
    struct job_request jr;
    int rc = job_decode(&jr, out.data, out.len, &e);
    if (rc) fprintf(stderr, "job_decode: %s\n%s\n", e.msg, out.data);
    CHECK_EQ(rc, 0);
    if (!rc) {
        CHECK_EQ(jr.kind, JOB_KIND_CHAT);
        CHECK_EQ(jr.n_messages, 2);
        CHECK(!strcmp(jr.messages[0].content, "be \"nice\""));
        CHECK(!strcmp(jr.messages[1].content, "hello"));
        CHECK_EQ(jr.max_tokens, 9);
        CHECK_NEAR(jr.temperature, 0.25, 1e-9);
        CHECK_NEAR(jr.top_p, 0.5, 1e-9);
        CHECK_EQ(jr.top_k, 40);
        CHECK_NEAR(jr.min_p, 0.05, 1e-9);
        CHECK(jr.seed <= INT64_MAX);
        CHECK_EQ(jr.n_stop, 2);
        CHECK(!strcmp(jr.stop[1], "END"));
        CHECK_EQ(jr.priority, 2);
        CHECK_EQ(jr.deadline_us, 456);
        CHECK(!strcmp(jr.model, "m"));
        job_request_deinit(&jr);
    }
    openai_request_deinit(&r);
    buf_reset(&out);
    CHECK_EQ(parse("{\"prompt\":\"p\\u00e9\"}", OPENAI_KIND_COMPLETION, &r, &e), 0);
    openai_job_json(&r, 77, 0, &out);
    CHECK_EQ(job_decode(&jr, out.data, out.len, &e), 0);
    CHECK_EQ(jr.seed, 77); /* the drawn seed when the client gave none */
    CHECK(!strcmp(jr.prompt, "p\xc3\xa9"));
    job_request_deinit(&jr);
    openai_request_deinit(&r);
    buf_deinit(&out);
}

static void test_error_json(void)
{
    struct buf b;
    buf_init(&b);
    openai_error_json(&b, "max_tokens: must be \"int\"", "invalid_request_error", "max_tokens",
                      "bad_request");
    CHECK_STR(b.data, b.len,
              "{\"error\":{\"message\":\"max_tokens: must be "
              "\\\"int\\\"\",\"type\":\"invalid_request_error\","
              "\"param\":\"max_tokens\",\"code\":\"bad_request\"}}");
    buf_deinit(&b);
}

int main(void)
{
    TEST_RUN(test_bad_inputs);
    TEST_RUN(test_defaults_and_unknown_fields);
    TEST_RUN(test_job_json_round_trip);
    TEST_RUN(test_error_json);
    TEST_MAIN_END();
}
