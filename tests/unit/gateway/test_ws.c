/* test_ws.c -- RFC 6455 accept key, server frame headers, the wslay session (messages, ping,
 * close, protocol errors) and client message parsing. */
#include "gateway/ws.h"
#include "test.h"

static void test_accept_key(void)
{
    char out[29];
    ws_accept_key("dGhlIHNhbXBsZSBub25jZQ==", 24, out); /* RFC 6455 section 1.3 */
    CHECK(!strcmp(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="));
}

static void test_frame_header(void)
{
    struct buf b;
    buf_init(&b);
    ws_frame_header(&b, 1, 5);
    CHECK_EQ(b.len, 2);
    CHECK_EQ((unsigned char)b.data[0], 0x81);
    CHECK_EQ((unsigned char)b.data[1], 5);
    buf_reset(&b);
    ws_frame_header(&b, 1, 300);
    CHECK_EQ(b.len, 4);
    CHECK_EQ((unsigned char)b.data[1], 126);
    CHECK_EQ(((unsigned char)b.data[2] << 8) | (unsigned char)b.data[3], 300);
    buf_reset(&b);
    ws_frame_header(&b, 1, 70000);
    CHECK_EQ(b.len, 10);
    CHECK_EQ((unsigned char)b.data[1], 127);
    buf_deinit(&b);
}

static int n_msgs;
static char last_msg[256];
static void on_text(void *ud, const char *m, size_t n)
{
    n_msgs++;
    snprintf(last_msg, sizeof(last_msg), "%.*s", (int)n, m);
}

/* A masked client frame. */
static size_t client_frame(char *out, int fin, int opcode, const char *p, size_t n)
{
    const unsigned char key[4] = {0x11, 0x22, 0x33, 0x44};
    size_t k = 0;
    out[k++] = (char)((fin ? 0x80 : 0) | opcode);
    out[k++] = (char)(0x80 | n); /* n < 126 here */
    memcpy(out + k, key, 4);
    k += 4;
    for (size_t i = 0; i < n; i++)
        out[k++] = (char)(p[i] ^ key[i % 4]);
    return k;
}

static void test_session(void)
{
    struct buf out;
    buf_init(&out);
    struct ws_session *ws;
    CHECK_EQ(ws_session_new(&ws, &out, 1024, on_text, NULL), 0);
    char f[256];
    size_t n = client_frame(f, 1, 1, "{\"a\":1}", 7);
    n_msgs = 0;
    CHECK_EQ(ws_session_feed(ws, f, n), 0);
    CHECK_EQ(n_msgs, 1);
    CHECK(!strcmp(last_msg, "{\"a\":1}"));
    /* fragmented message, fed one byte at a time */
    size_t n1 = client_frame(f, 0, 1, "hel", 3);
    size_t n2 = client_frame(f + n1, 1, 0, "lo", 2);
    for (size_t i = 0; i < n1 + n2; i++)
        CHECK_EQ(ws_session_feed(ws, f + i, 1), 0);
    CHECK_EQ(n_msgs, 2);
    CHECK(!strcmp(last_msg, "hello"));
    /* ping -> pong */
    n = client_frame(f, 1, 9, "p", 1);
    CHECK_EQ(ws_session_feed(ws, f, n), 0);
    CHECK(out.len >= 3 && (unsigned char)out.data[0] == 0x8A);
    buf_reset(&out);
    /* close -> close reply, finished */
    n = client_frame(f, 1, 8, "\x03\xe8", 2);
    CHECK_EQ(ws_session_feed(ws, f, n), 1);
    CHECK(out.len >= 2 && (unsigned char)out.data[0] == 0x88);
    ws_session_free(ws);

    /* unmasked frame from a client: protocol error, close 1002 */
    buf_reset(&out);
    CHECK_EQ(ws_session_new(&ws, &out, 1024, on_text, NULL), 0);
    CHECK_EQ(ws_session_feed(ws, "\x81\x02{}", 4), 1);
    CHECK(out.len >= 4 && (unsigned char)out.data[0] == 0x88 &&
          (unsigned char)out.data[2] == 0x03 && (unsigned char)out.data[3] == 0xEA);
    ws_session_free(ws);

    /* invalid UTF-8 in a text frame: 1007 */
    buf_reset(&out);
    CHECK_EQ(ws_session_new(&ws, &out, 1024, on_text, NULL), 0);
    n = client_frame(f, 1, 1, "\xff\xfe", 2);
    CHECK_EQ(ws_session_feed(ws, f, n), 1);
    CHECK(out.len >= 4 && (unsigned char)out.data[2] == 0x03 && (unsigned char)out.data[3] == 0xEF);
    ws_session_free(ws);

    /* too big: 1009 */
    buf_reset(&out);
    CHECK_EQ(ws_session_new(&ws, &out, 8, on_text, NULL), 0);
    n = client_frame(f, 1, 1, "0123456789", 10);
    CHECK_EQ(ws_session_feed(ws, f, n), 1);
    CHECK(out.len >= 4 && (unsigned char)out.data[2] == 0x03 && (unsigned char)out.data[3] == 0xF1);
    ws_session_free(ws);
    buf_deinit(&out);
}

static void test_messages(void)
{
    struct ws_msg m;
    struct err e = {0};
    const char *g = "{\"type\":\"generate\",\"id\":\"c\\\"1\",\"prompt\":\"x\"}";
    CHECK_EQ(ws_msg_parse(&m, g, strlen(g), &e), 0);
    CHECK_EQ(m.type, WS_MSG_GENERATE);
    CHECK(!strcmp(m.id, "c\\\"1")); /* stored JSON-escaped */
    ws_msg_deinit(&m);
    const char *r = "{\"type\":\"resume\",\"id\":\"c1\",\"request_id\":\"abc\",\"after\":17}";
    CHECK_EQ(ws_msg_parse(&m, r, strlen(r), &e), 0);
    CHECK(m.type == WS_MSG_RESUME && m.after == 17 && !strcmp(m.request_id, "abc"));
    ws_msg_deinit(&m);
    const char *bad[] = {"{",
                         "[]",
                         "{\"type\":\"dance\"}",
                         "{\"type\":\"cancel\"}",
                         "{\"type\":\"generate\",\"id\":5}",
                         "{\"type\":\"resume\",\"id\":\"a b\"}",
                         "{\"type\":\"resume\",\"id\":\"ab\",\"after\":\"x\"}"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        CHECK_EQ(ws_msg_parse(&m, bad[i], strlen(bad[i]), &e), LLMQ_EFORMAT);
        ws_msg_deinit(&m);
    }
}

int main(void)
{
    TEST_RUN(test_accept_key);
    TEST_RUN(test_frame_header);
    TEST_RUN(test_session);
    TEST_RUN(test_messages);
    TEST_MAIN_END();
}
