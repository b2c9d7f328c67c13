/* test_sse.c -- SSE framing: OpenAI chunk shapes, ids, finish/usage/[DONE], Last-Event-ID. */
#include "gateway/sse.h"
#include "test.h"

#include <errno.h>

static void test_completion_token(void)
{
    struct buf head, out;
    buf_init(&head);
    buf_init(&out);
    sse_head(&head, 0, "r1", 1700000000, "m\"x");
    sse_token(&out, &head, 0, "r1", 7, "a\nb", 3, 0);
    CHECK_STR(
        out.data, out.len,
        "id: r1:7\ndata: {\"id\":\"cmpl-r1\",\"object\":\"text_completion\",\"created\":1700000000,"
        "\"model\":\"m\\\"x\",\"choices\":[{\"index\":0,\"text\":\"a\\nb\",\"logprobs\":null,"
        "\"finish_reason\":null}]}\n\n");
    buf_deinit(&head);
    buf_deinit(&out);
}

static void test_body_head(void)
{
    struct buf out;
    buf_init(&out);
    sse_body_head(&out, 1, "r3", 9, "m");
    CHECK_STR(out.data, out.len,
              "{\"id\":\"chatcmpl-r3\",\"object\":\"chat.completion\",\"created\":9,"
              "\"model\":\"m\",\"choices\":[");
    buf_reset(&out);
    sse_body_head(&out, 0, "r4", 9, "m");
    CHECK(strstr(out.data, "{\"id\":\"cmpl-r4\",\"object\":\"text_completion\",") == out.data);
    buf_deinit(&out);
}

static void test_chat_sequence(void)
{
    struct buf head, out;
    buf_init(&head);
    buf_init(&out);
    sse_head(&head, 1, "r2", 5, "m");
    sse_token(&out, &head, 1, "r2", 0, "Hi", 2, 1);
    CHECK(strstr(out.data, "\"object\":\"chat.completion.chunk\"") != NULL);
    CHECK(strstr(out.data, "\"delta\":{\"role\":\"assistant\",\"content\":\"Hi\"}") != NULL);
    buf_reset(&out);
    sse_token(&out, &head, 1, "r2", 1, "!", 1, 0);
    CHECK(strstr(out.data, "\"delta\":{\"content\":\"!\"}") != NULL);
    buf_reset(&out);
    sse_finish(&out, &head, 1, "r2", 2, "stop", 0);
    CHECK(strstr(out.data, "id: r2:2\n") &&
          strstr(out.data, "\"delta\":{},\"logprobs\":null,\"finish_reason\":\"stop\""));
    buf_reset(&out);
    sse_usage(&out, &head, "r2", 2, 5, 2);
    CHECK(strstr(out.data, "\"choices\":[],\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":2,"
                           "\"total_tokens\":7}}\n\n") != NULL);
    buf_reset(&out);
    sse_done(&out);
    CHECK_STR(out.data, out.len, "data: [DONE]\n\n");
    buf_reset(&out);
    sse_ping(&out);
    CHECK_STR(out.data, out.len, ": ping\n\n");
    buf_reset(&out);
    sse_error(&out, "too \"slow\"", "server_error", "overloaded");
    CHECK_STR(
        out.data, out.len,
        "data: {\"error\":{\"message\":\"too "
        "\\\"slow\\\"\",\"type\":\"server_error\",\"param\":null,\"code\":\"overloaded\"}}\n\n");
    buf_deinit(&head);
    buf_deinit(&out);
}

static void test_last_event_id(void)
{
    char id[72];
    uint32_t idx;
    CHECK_EQ(sse_parse_last_event_id("abc:17", 6, id, sizeof(id), &idx), 0);
    CHECK(!strcmp(id, "abc") && idx == 17);
    CHECK_EQ(sse_parse_last_event_id("a:b:3", 5, id, sizeof(id), &idx), 0); /* last colon */
    CHECK(!strcmp(id, "a:b") && idx == 3);
    CHECK_EQ(sse_parse_last_event_id("abc", 3, id, sizeof(id), &idx), -EINVAL);
    CHECK_EQ(sse_parse_last_event_id(":1", 2, id, sizeof(id), &idx), -EINVAL);
    CHECK_EQ(sse_parse_last_event_id("a:", 2, id, sizeof(id), &idx), -EINVAL);
    CHECK_EQ(sse_parse_last_event_id("a:1x", 4, id, sizeof(id), &idx), -EINVAL);
    CHECK_EQ(sse_parse_last_event_id("a:99999999999", 13, id, sizeof(id), &idx), -EINVAL);
}

int main(void)
{
    TEST_RUN(test_completion_token);
    TEST_RUN(test_body_head);
    TEST_RUN(test_chat_sequence);
    TEST_RUN(test_last_event_id);
    TEST_MAIN_END();
}
