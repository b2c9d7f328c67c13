/* test_stream.c -- stream bookkeeping without sockets: the request-id table (several streams
 * per id, growth), index dedupe after a retry, merging of pending tokens, gap detection and
 * the JSON-body accumulation. Streams here have no connection, so nothing is written. */
#include "gateway/gw.h"
#include "gateway/stream.h"
#include "test.h"

static struct gateway gw;

static void setup(void)
{
    memset(&gw, 0, sizeof(gw));
    gw.loop = uv_default_loop();
    gw.metrics = metrics_new();
    gw.m_ttft = metrics_histogram(gw.metrics, "t", "", NULL, metrics_latency_buckets_s,
                                  metrics_latency_buckets_n);
    gw.m_itl = metrics_histogram(gw.metrics, "i", "", NULL, metrics_latency_buckets_s,
                                 metrics_latency_buckets_n);
    gw.m_e2e = metrics_histogram(gw.metrics, "e", "", NULL, metrics_latency_buckets_s,
                                 metrics_latency_buckets_n);
    gw.cfg.max_stream_buffer_bytes = 1 << 20;
    stream_table_init(&gw);
}

static void teardown(void)
{
    while (gw.all_streams)
        stream_free(gw.all_streams);
    stream_table_deinit(&gw);
    metrics_free(gw.metrics);
}

static void test_table(void)
{
    setup();
    struct stream *a = stream_new(&gw, NULL, STREAM_KIND_SSE, 0, "req-a", "m");
    struct stream *b = stream_new(&gw, NULL, STREAM_KIND_WS, 0, "req-a", "m");
    CHECK(a->serial != b->serial);
    struct stream *f = stream_find(&gw, "req-a", 5);
    CHECK(f == a || f == b);
    CHECK(stream_find(&gw, "req-", 4) == NULL);
    CHECK(stream_find(&gw, "req-b", 5) == NULL);
    char id[16];
    for (int i = 0; i < 3000; i++) { /* past the first table size: it grows */
        snprintf(id, sizeof(id), "r%d", i);
        stream_new(&gw, NULL, STREAM_KIND_JSON, 0, id, "m");
    }
    CHECK_EQ(gw.n_streams, 3002);
    CHECK(gw.table_size >= 2048);
    struct stream *r7 = stream_find(&gw, "r7", 2);
    CHECK(r7 && !strcmp(r7->rid, "r7"));
    stream_free(r7);
    CHECK(stream_find(&gw, "r7", 2) == NULL);
    stream_set_rid(a, "req-z");
    CHECK(stream_find(&gw, "req-z", 5) == a);
    CHECK(stream_find(&gw, "req-a", 5) == b);
    teardown();
}

static void test_dedupe_and_merge(void)
{
    setup();
    struct stream *s = stream_new(&gw, NULL, STREAM_KIND_WS, 0, "r", "m");
    stream_on_tokens(s, 0, 1, "a", 1);
    stream_on_tokens(s, 1, 2, "bc", 2);
    CHECK_EQ(s->pend_index, 0);
    CHECK_EQ(s->pend_count, 3);
    CHECK_STR(s->pend.data, s->pend.len, "abc");
    CHECK_EQ(s->next_index, 3);
    CHECK(s->dirty && gw.dirty == s);
    stream_on_tokens(s, 0, 1, "a", 1); /* a retried job restarts at 0: dropped */
    stream_on_tokens(s, 2, 1, "c", 1);
    CHECK_EQ(s->pend_count, 3);
    CHECK_EQ(gw.c.tokens_streamed, 3);
    stream_on_tokens(s, 3, 1, "", 0); /* an empty token still advances */
    CHECK_EQ(s->next_index, 4);
    struct stream *g = stream_new(&gw, NULL, STREAM_KIND_WS, 0, "g", "m");
    stream_on_tokens(g, 0, 1, "x", 1);
    stream_on_tokens(g, 5, 1, "y", 1); /* a gap ends the stream with an error */
    CHECK(g->finished && g->error_status == 502);
    stream_on_tokens(g, 1, 1, "z", 1); /* nothing after the end */
    CHECK_EQ(g->next_index, 1);
    teardown();
}

static void test_json_and_done(void)
{
    setup();
    struct stream *s = stream_new(&gw, NULL, STREAM_KIND_JSON, 1, "j", "m");
    stream_on_tokens(s, 0, 1, "Hel", 3);
    stream_on_tokens(s, 1, 1, "lo", 2);
    CHECK_STR(s->text.data, s->text.len, "Hello");
    CHECK_EQ(s->pend_count, 0);
    const char *d =
        "{\"finish_reason\":\"length\",\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":2}}";
    stream_on_done(s, 2, d, strlen(d));
    CHECK(s->finished && !strcmp(s->finish_reason, "length"));
    struct stream *e = stream_new(&gw, NULL, STREAM_KIND_SSE, 0, "e", "m");
    const char *ej = "{\"code\":\"timeout\",\"message\":\"too late\"}";
    stream_on_error(e, 0, ej, strlen(ej));
    CHECK(e->finished && e->error_status == 504 && !strcmp(e->err_code, "timeout") &&
          !strcmp(e->err_msg, "too late"));
    struct stream *b = stream_new(&gw, NULL, STREAM_KIND_SSE, 0, "b", "m");
    stream_on_error(b, 0, "not json", 8); /* a bad payload still ends the stream */
    CHECK(b->finished && b->error_status == 500 && !strcmp(b->err_code, "internal"));
    teardown();
}

/* The `r` record names the model of a stream whose client named none, until tokens flow;
 * the request-id chain helpers find streams by serial. */
static void test_running_model_and_serial(void)
{
    setup();
    const char r[] = "{\"worker\":\"w1\",\"model\":\"llama-x\",\"attempt\":1}";
    struct stream *a = stream_new(&gw, NULL, STREAM_KIND_SSE, 0, "req-a", "default");
    struct stream *b = stream_new(&gw, NULL, STREAM_KIND_SSE, 0, "req-a", "mine");
    a->model_guessed = 1;
    stream_on_running(a, r, sizeof(r) - 1);
    stream_on_running(b, r, sizeof(r) - 1);
    CHECK(!strcmp(a->model, "llama-x") && strstr(a->head.data, "\"model\":\"llama-x\""));
    CHECK(!strcmp(b->model, "mine")); /* named by the client */
    stream_on_tokens(a, 0, 1, "t", 1);
    const char r2[] = "{\"model\":\"other\"}"; /* a retry elsewhere after tokens went out */
    stream_on_running(a, r2, sizeof(r2) - 1);
    CHECK(!strcmp(a->model, "llama-x"));
    CHECK(stream_find_serial(&gw, "req-a", a->serial) == a);
    CHECK(stream_find_serial(&gw, "req-a", b->serial) == b);
    struct stream *f = stream_find(&gw, "req-a", 5);
    struct stream *n = stream_find_next(f, "req-a", 5);
    CHECK(n && n != f && stream_find_next(n, "req-a", 5) == NULL);
    uint64_t gone = b->serial;
    stream_free(b);
    CHECK(stream_find_serial(&gw, "req-a", gone) == NULL);
    teardown();
}

int main(void)
{
    TEST_RUN(test_table);
    TEST_RUN(test_dedupe_and_merge);
    TEST_RUN(test_json_and_done);
    TEST_RUN(test_running_model_and_serial);
    uv_loop_close(uv_default_loop());
    TEST_MAIN_END();
}
