/* test_platform_load.c -- the platform load client (bench/platform/load.c) run from two
 * threads at once, as the chaos tests do (long "busy" streams in a background thread, a burst
 * in the main thread). Each load_run must see only its own bytes: both runs finish every
 * stream, every index once, all tokens there. Against the fake gateway (fake_gw.c), whose
 * token clock (every ms) keeps both loops reading at the same moments, over SSE and WebSocket.
 * (Before each run had its own read buffer, this failed nearly every time; chaos_limits only
 * about once in 20-30 runs.) Bounded: about 2 s, at most 10 s per bad run. */
#include <pthread.h>
#include <signal.h>

#include "fake_gw.h"
#include "load.h"
#include "test.h"

#define STREAMS 16
#define TOKENS 400

struct side {
    int port, proto;
    uint64_t seed;
    struct load_result r;
};

static void *side_main(void *arg)
{
    struct side *s = arg;
    struct load_cfg c = { .host = "127.0.0.1", .port = s->port, .proto = (enum load_proto)s->proto,
                          .streams = STREAMS, .max_tokens = TOKENS, .seed = s->seed, .timeout_ms = 10000 };
    load_run(&c, &s->r);
    return NULL;
}

/* Returns 0 when the run was clean. */
static int check_side(const struct side *s)
{
    int before = test_failures;
    if (s->r.first_error[0]) fprintf(stderr, "seed %llu: %s\n", (unsigned long long)s->seed, s->r.first_error);
    CHECK_EQ(s->r.ok, STREAMS);
    CHECK_EQ(s->r.failed, 0);
    CHECK_EQ(s->r.dup_or_gap, 0);
    CHECK_EQ(s->r.usage_mismatch, 0);
    CHECK_EQ(s->r.tokens, (long long)STREAMS * TOKENS);
    return test_failures == before ? 0 : -1;
}

/* Two load_run calls in two threads, SSE in both or SSE next to WebSocket. Returns 0 when
 * both were clean. */
static int two_runs(int port, int proto_b)
{
    struct side a = { .port = port, .proto = LOAD_SSE, .seed = 1 };
    struct side b = { .port = port, .proto = proto_b, .seed = 100 };
    pthread_t ta, tb;
    pthread_create(&ta, NULL, side_main, &a);
    pthread_create(&tb, NULL, side_main, &b);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    int rc = check_side(&a) | check_side(&b);
    load_result_free(&a.r);
    load_result_free(&b.r);
    return rc;
}

static void test_two_threads(void)
{
    struct fake_gw_cfg cfg = { .step_ms = 1, .tokens_per_step = 4 };
    struct fake_gw *g = fake_gw_start(&cfg);
    CHECK(g != NULL);
    if (!g) return;
    /* Rounds, because the two loops must read at the same moment; one bad round is enough
     * (a broken WS stream waits for its timeout, so stop there). */
    for (int round = 0; round < 8; round++)
        if (two_runs(fake_gw_port(g), LOAD_SSE) < 0 || two_runs(fake_gw_port(g), LOAD_WS) < 0) break;
    fake_gw_stop(g);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    TEST_RUN(test_two_threads);
    TEST_MAIN_END();
}
