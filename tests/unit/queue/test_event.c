/* test_event.c -- the token-event record codec: round trips, exact bytes, and rejection of
 * every malformed form the decoder promises to catch. */
#include "queue/event.h"
#include "test.h"

static int decode_all(const char *msg, size_t len, struct event *evs, int max, struct err *e)
{
    struct event_reader r;
    event_reader_init(&r, msg, len);
    int n = 0, rc;
    while ((rc = event_next(&r, &evs[n < max ? n : max - 1], e)) == 1)
        n++;
    return rc < 0 ? rc : n;
}

static void test_encode_exact_bytes(void)
{
    struct buf b;
    buf_init(&b);
    CHECK_EQ(event_append(&b, EVENT_KIND_TOKENS, "abc", 3, 5, 2, " hi", 3), 0);
    CHECK_EQ(event_append(&b, EVENT_KIND_DONE, "abc", 3, 7, 0, "{}", 2), 0);
    CHECK_EQ(event_append(&b, EVENT_KIND_RUNNING, "x", 1, 0, 0, NULL, 0), 0);
    CHECK_STR(b.data, b.len, "t abc 5 2 3: hi\nd abc 7 0 2:{}\nr x 0 0 0:\n");
    buf_deinit(&b);
}

static void test_roundtrip_binary_payload(void)
{
    struct buf b;
    buf_init(&b);
    const char payload[] = {'a', '\n', 0, ' ', ':', '\xff'};
    CHECK_EQ(event_append(&b, EVENT_KIND_TOKENS, "req-1.x_Y", 9, 4294967295u, 1, payload,
                          sizeof(payload)),
             0);
    CHECK_EQ(event_append(&b, EVENT_KIND_ERROR, "r2", 2, 3, 0, "{\"code\":\"timeout\"}", 18), 0);
    struct event ev[4];
    struct err e = {0};
    CHECK_EQ(decode_all(b.data, b.len, ev, 4, &e), 2);
    CHECK_EQ(ev[0].kind, EVENT_KIND_TOKENS);
    CHECK_STR(ev[0].id, ev[0].id_len, "req-1.x_Y");
    CHECK_EQ(ev[0].index, 4294967295u);
    CHECK_EQ(ev[0].count, 1);
    CHECK_EQ(ev[0].payload_len, sizeof(payload));
    CHECK(memcmp(ev[0].payload, payload, sizeof(payload)) == 0);
    CHECK_EQ(ev[1].kind, EVENT_KIND_ERROR);
    CHECK_STR(ev[1].payload, ev[1].payload_len, "{\"code\":\"timeout\"}");
    buf_deinit(&b);
}

static void test_encode_rejects(void)
{
    struct buf b;
    buf_init(&b);
    CHECK_EQ(event_append(&b, EVENT_KIND_TOKENS, "a", 1, 0, 0, "x", 1), -EINVAL); /* count 0 */
    CHECK_EQ(event_append(&b, EVENT_KIND_DONE, "a", 1, 0, 1, "x", 1), -EINVAL);   /* count != 0 */
    CHECK_EQ(event_append(&b, EVENT_KIND_RUNNING, "a", 1, 1, 0, "x", 1), -EINVAL);
    CHECK_EQ(event_append(&b, EVENT_KIND_TOKENS, "a b", 3, 0, 1, "x", 1), -EINVAL); /* bad id */
    CHECK_EQ(event_append(&b, EVENT_KIND_TOKENS, "", 0, 0, 1, "x", 1), -EINVAL);
    CHECK_EQ(event_append(&b, (enum event_kind)'x', "a", 1, 0, 1, "x", 1), -EINVAL);
    CHECK_EQ(b.len, 0);
    buf_deinit(&b);
}

static void test_empty_message(void)
{
    struct event ev[1];
    struct err e = {0};
    CHECK_EQ(decode_all("", 0, ev, 1, &e), 0);
}

static void test_decode_rejects(void)
{
    static const char *bad[] = {
        "t abc 0 1 1:x",            /* no newline */
        "t abc 0 1 1:xy\n",         /* payload longer than len */
        "t abc 0 1 2:x\n",          /* len runs past */
        "x abc 0 1 1:x\n",          /* kind */
        "t  abc 0 1 1:x\n",         /* double space */
        "t abc 00 1 1:x\n",         /* leading zero */
        "t abc -1 1 1:x\n",         /* sign */
        "t abc 4294967296 1 1:x\n", /* index > u32 */
        "t abc 0 0 1:x\n",          /* token count 0 */
        "d abc 0 1 1:x\n",          /* done count != 0 */
        "r abc 1 0 0:\n",           /* running index != 0 */
        "t a/c 0 1 1:x\n",          /* id charset */
        "t abc 0 1 1x\n",           /* missing colon */
        "t abc 0 1 :x\n",           /* missing length */
        "t abc 0 1 99999999999999999999999:x\n",
        "t abc 0 1 67108865:x\n", /* over EVENT_PAYLOAD_MAX */
        "t",
        "t ",
        "t abc",
        "t abc 1",
        "t abc 1 1",
        "t abc 1 1 1",
        "t 0123456789012345678901234567890123456789012345678901234567890123456789 0 1 1:x\n",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct event ev[2];
        struct err e = {0};
        int rc = decode_all(bad[i], strlen(bad[i]), ev, 2, &e);
        CHECK_EQ(rc, LLMQ_EFORMAT);
        if (rc != LLMQ_EFORMAT) fprintf(stderr, "  accepted: %s\n", bad[i]);
        CHECK(strstr(e.msg, "byte") != NULL);
    }
}

static void test_good_then_bad_reports_offset(void)
{
    const char *msg = "t a 0 1 1:x\nt a 1 1 1:y";
    struct event_reader r;
    struct event ev;
    struct err e = {0};
    event_reader_init(&r, msg, strlen(msg));
    CHECK_EQ(event_next(&r, &ev, &e), 1);
    CHECK_EQ(event_next(&r, &ev, &e), LLMQ_EFORMAT);
    CHECK(strstr(e.msg, "byte 22") != NULL);
}

int main(void)
{
    TEST_RUN(test_encode_exact_bytes);
    TEST_RUN(test_roundtrip_binary_payload);
    TEST_RUN(test_encode_rejects);
    TEST_RUN(test_empty_message);
    TEST_RUN(test_decode_rejects);
    TEST_RUN(test_good_then_bad_reports_offset);
    TEST_MAIN_END();
}
