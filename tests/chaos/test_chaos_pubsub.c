/* test_chaos_pubsub.c -- a gateway loses its Pub/Sub subscription mid-stream (issue 3,
 * scenario 8). `llmq up` runs one gateway and two workers (synthetic engine, fixed seeds):
 *   - the subscriber connection is killed on the redis-server (CLIENT KILL TYPE pubsub), twice;
 *   - Redis cuts off a slow subscriber: client-output-buffer-limit "pubsub 64kb 32kb 1" and the
 *     gateway stopped (SIGSTOP) for 1.5 s while tokens are published to it, then SIGCONT.
 * Tokens published while the gateway was unsubscribed exist only in the replay logs; clients
 * (whose own connections never break) still get every index exactly once and the same text as
 * an undisturbed run. The gateway logs the reconnect and the switch to the replay logs. */
#include "test.h"
#include "e2e/harness.h"
#include "load.h"

#include <pthread.h>

#define STREAMS 40
#define TOKENS 300           /* 1.5 s at 5 ms per step */
#define SLOW_STREAMS 200     /* ~2 MB/s of records: fills the socket buffers within seconds */
#define SLOW_TOKENS 1400     /* 7 s: the stop (from 0.4 s, at most 5.5 s) ends mid-stream */
#define SLOW_STOP_MAX_MS 5500

static struct h_up up;
static int redis_port;
static uint64_t baseline[STREAMS], baseline_slow[SLOW_STREAMS];

static int redis_cli(const char *args, char *out, size_t cap) { return h_redis_cli(redis_port, args, out, cap); }

static void run_load(enum load_proto proto, int streams, int tokens, struct load_result *r)
{
    struct load_cfg c = { .host = "127.0.0.1", .port = up.port, .proto = proto, .streams = streams,
                          .ws_per_conn = proto == LOAD_WS ? 4 : 1, .max_tokens = tokens, .seed = 8100,
                          .timeout_ms = 60000 };
    CHECK_EQ(load_run(&c, r), 0);
}

static void check_run(const char *what, struct load_result *r, int streams, int tokens, const uint64_t *base)
{
    char line[1024];
    load_result_json(r, line, sizeof(line));
    fprintf(stderr, "%s: %s reconnects %d\n", what, line, r->reconnects);
    if (r->first_error[0]) fprintf(stderr, "first error: %s\n", r->first_error);
    CHECK_EQ(r->ok, streams);
    CHECK_EQ(r->dup_or_gap, 0);
    CHECK_EQ(r->usage_mismatch, 0);
    CHECK_EQ(r->reconnects, 0);                /* the clients' own connections never broke */
    CHECK_EQ(r->tokens, (long long)streams * tokens);
    int same = 0;
    for (int i = 0; i < streams; i++) same += r->text_hash[i] == base[i];
    CHECK_EQ(same, streams);
}

static void test_baseline(void)
{
    struct load_result r;
    run_load(LOAD_SSE, STREAMS, TOKENS, &r);
    CHECK_EQ(r.ok, STREAMS);
    CHECK_EQ(r.dup_or_gap, 0);
    memcpy(baseline, r.text_hash, sizeof(baseline));
    load_result_free(&r);
    run_load(LOAD_WS, STREAMS, TOKENS, &r);    /* same seeds, same text over WebSocket */
    int same = 0;
    for (int i = 0; i < STREAMS; i++) same += r.text_hash[i] == baseline[i];
    CHECK_EQ(same, STREAMS);
    load_result_free(&r);
    run_load(LOAD_SSE, SLOW_STREAMS, SLOW_TOKENS, &r);
    CHECK_EQ(r.ok, SLOW_STREAMS);
    CHECK_EQ(r.dup_or_gap, 0);
    memcpy(baseline_slow, r.text_hash, sizeof(baseline_slow));
    load_result_free(&r);
}

struct chaos { int mode; int actions; int stopped_ms; char out[256]; };

/* Subscribed connections on the redis-server (the gateway's, and each worker's cancel one). */
static int pubsub_clients(void)
{
    char out[8192];
    if (redis_cli("CLIENT LIST TYPE pubsub", out, sizeof(out)) != 0) return -1;
    int n = 0;
    for (char *p = out; (p = strstr(p, "cmd=")); p++) n++;
    return n;
}

static void *chaos_main(void *arg)
{
    struct chaos *c = arg;
    usleep(400000);                            /* streams are running by now */
    if (c->mode == 0) {
        for (int i = 0; i < 2; i++) {          /* CLIENT KILL answers the number killed */
            if (redis_cli("CLIENT KILL TYPE pubsub", c->out, sizeof(c->out)) == 0 && atoi(c->out) >= 1)
                c->actions++;
            usleep(400000);
        }
    } else {
        /* stopped until Redis drops its subscription (the kernel's socket buffers, a few MB,
         * fill first), at most SLOW_STOP_MAX_MS */
        int subs0 = pubsub_clients();
        pid_t g;
        if (h_up_children(&up, &g, 1, "gateway-0") == 1 && kill(g, SIGSTOP) == 0) {
            uint64_t t0 = h_now_ms();
            while (h_now_ms() - t0 < SLOW_STOP_MAX_MS && pubsub_clients() >= subs0) usleep(100000);
            c->stopped_ms = (int)(h_now_ms() - t0);
            kill(g, SIGCONT);
            c->actions++;
        }
    }
    return NULL;
}

static void disturbed_run(enum load_proto proto, int mode, const char *what)
{
    int streams = mode ? SLOW_STREAMS : STREAMS, tokens = mode ? SLOW_TOKENS : TOKENS;
    int lost0 = h_log_count(&up, "pub/sub connection lost");
    int follow0 = h_log_count(&up, "continue from their replay logs");
    struct chaos c = { .mode = mode };
    pthread_t th;
    pthread_create(&th, NULL, chaos_main, &c);
    struct load_result r;
    run_load(proto, streams, tokens, &r);
    pthread_join(th, NULL);
    int lost = h_log_count(&up, "pub/sub connection lost") - lost0;
    int follow = h_log_count(&up, "continue from their replay logs") - follow0;
    fprintf(stderr, "%s: %d disturbances (stopped %d ms), gateway logged %d pub/sub losses, %d switches to replay\n",
            what, c.actions, c.stopped_ms, lost, follow);
    CHECK(c.actions >= 1);
    CHECK(lost >= 1);                          /* the subscription really went down mid-stream */
    CHECK(follow >= 1);
    check_run(what, &r, streams, tokens, mode ? baseline_slow : baseline);
    load_result_free(&r);
}

static void test_client_kill_pubsub_sse(void) { disturbed_run(LOAD_SSE, 0, "SSE, CLIENT KILL TYPE pubsub"); }
static void test_client_kill_pubsub_ws(void) { disturbed_run(LOAD_WS, 0, "WS, CLIENT KILL TYPE pubsub"); }

static void test_slow_subscriber_cut_off(void)
{
    char out[256];
    CHECK_EQ(redis_cli("CONFIG SET client-output-buffer-limit \"pubsub 64kb 32kb 1\"", out, sizeof(out)), 0);
    CHECK(strncmp(out, "OK", 2) == 0);
    disturbed_run(LOAD_SSE, 1, "SSE, slow subscriber over the output-buffer limit");
    /* it was Redis' output-buffer limit that closed the subscription */
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "grep -c 'output buffer limits' \"$(redis-cli -p %d CONFIG GET logfile | tail -1)\"",
             redis_port);
    CHECK_EQ(h_run(cmd, out, sizeof(out)), 0);
    fprintf(stderr, "redis log: %d client(s) closed for overcoming the output buffer limits\n", atoi(out));
    CHECK(atoi(out) >= 1);
    redis_cli("CONFIG SET client-output-buffer-limit \"pubsub 32mb 8mb 60\"", out, sizeof(out));
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    if (!h_platform_present()) return 0;
    const char *args[] = { "--gateways", "1", "--workers", "2", "--step-ms", "5", "--max-batch", "128", NULL };
    if (h_up_start(&up, args, 60000) < 0) { printf("0 passed, 1 failed\n"); return 1; }
    redis_port = h_up_redis_port(&up);
    TEST_RUN(test_baseline);
    TEST_RUN(test_client_kill_pubsub_sse);
    TEST_RUN(test_client_kill_pubsub_ws);
    TEST_RUN(test_slow_subscriber_cut_off);
    pid_t pids[16];
    int n = h_up_children(&up, pids, 16, NULL);
    CHECK_EQ(WEXITSTATUS(h_up_stop(&up, SIGTERM, 40000, 0)), 0);
    CHECK_EQ(h_wait_pids_gone(pids, n, 3000), 0);
    TEST_MAIN_END();
}
