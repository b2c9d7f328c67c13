/* test_chaos_workers.c -- workers dying under load (issue 3). With streamed requests in flight
 * through `llmq up` (3 workers, synthetic engine, fixed seeds):
 *   - kill -9 a random worker, twice: every stream still completes, every token index arrives
 *     exactly once, and each stream's text is identical to an undisturbed run;
 *   - rolling SIGTERM restart of every worker: the same guarantees.
 * A killed worker's jobs are taken over after the lease (--lease-ms 1000) and rerun with the
 * same seed; the gateway drops indices it already sent. Each case stays well under 90 s. */
#include "test.h"
#include "e2e/harness.h"
#include "load.h"

#include <pthread.h>

#define STREAMS 60
#define TOKENS_KILL 400      /* 2 s at 5 ms per step: both kills land mid-stream */
#define TOKENS_ROLL 800      /* 4 s: the whole rolling restart happens mid-stream */

static struct h_up up;
static uint64_t baseline_kill[STREAMS], baseline_roll[STREAMS];

struct chaos { int mode; int done; int actions; };   /* mode 0: kill -9, 1: rolling SIGTERM */

static void *chaos_main(void *arg)
{
    struct chaos *c = arg;
    usleep(400000);      /* streams are running by now */
    if (c->mode == 0) {
        for (int round = 0; round < 2; round++) {
            pid_t w[8];
            int n = h_up_children(&up, w, 8, "worker-");
            if (n > 0) {
                pid_t victim = w[rand() % n];
                if (kill(victim, SIGKILL) == 0) c->actions++;
            }
            usleep(700000);
        }
    } else {
        for (int i = 0; i < 3; i++) {
            char name[32];
            snprintf(name, sizeof(name), "worker-%d", i);
            pid_t w;
            if (h_up_children(&up, &w, 1, name) == 1 && kill(w, SIGTERM) == 0) c->actions++;
            /* wait for the replacement before the next one, as a rolling restart does */
            uint64_t end = h_now_ms() + 8000;
            pid_t w2 = w;
            while (h_now_ms() < end && (w2 == w || w2 == 0)) {
                usleep(50000);
                if (h_up_children(&up, &w2, 1, name) != 1) w2 = 0;
            }
        }
    }
    c->done = 1;
    return NULL;
}

static void run_load(struct load_result *r, int tokens)
{
    struct load_cfg c = { .host = "127.0.0.1", .port = up.port, .proto = LOAD_WS, .streams = STREAMS,
                          .ws_per_conn = 4, .max_tokens = tokens, .seed = 4242, .timeout_ms = 60000 };
    CHECK_EQ(load_run(&c, r), 0);
}

static void check_against_baseline(struct load_result *r, const uint64_t *baseline, int tokens)
{
    char line[1024];
    load_result_json(r, line, sizeof(line));
    fprintf(stderr, "chaos run: %s\n", line);
    if (r->first_error[0]) fprintf(stderr, "first error: %s\n", r->first_error);
    CHECK_EQ(r->ok, STREAMS);
    CHECK_EQ(r->dup_or_gap, 0);
    CHECK_EQ(r->tokens, (long long)STREAMS * tokens);
    int same = 0;
    for (int i = 0; i < STREAMS; i++) same += r->text_hash[i] == baseline[i];
    CHECK_EQ(same, STREAMS);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* The added latency of a retry: a stream on a killed worker stalls from its last token before
 * the kill to its first resumed one (lease expiry, takeover, rerun up to the index already
 * sent). Streams are counted as stalled when their longest gap exceeds 100 ms (a normal step
 * is 5 ms). */
static void report_retry_stalls(const struct load_result *r)
{
    double gaps[STREAMS];
    int n = 0;
    for (int i = 0; i < STREAMS; i++)
        if (r->max_gap_ms && r->max_gap_ms[i] > 100.0) gaps[n++] = r->max_gap_ms[i];
    if (!n) { fprintf(stderr, "retry stall: no stream stalled > 100 ms\n"); return; }
    qsort(gaps, (size_t)n, sizeof(double), cmp_double);
    fprintf(stderr, "retry stall (kill -> first resumed token) over %d streams: p50 %.0f ms, p99 %.0f ms, max %.0f ms\n",
            n, gaps[n / 2], gaps[(n * 99) / 100 < n ? (n * 99) / 100 : n - 1], gaps[n - 1]);
}

static void test_baseline(void)
{
    struct load_result r;
    run_load(&r, TOKENS_KILL);
    CHECK_EQ(r.ok, STREAMS);
    CHECK_EQ(r.dup_or_gap, 0);
    memcpy(baseline_kill, r.text_hash, sizeof(baseline_kill));
    load_result_free(&r);
    run_load(&r, TOKENS_ROLL);
    CHECK_EQ(r.ok, STREAMS);
    memcpy(baseline_roll, r.text_hash, sizeof(baseline_roll));
    load_result_free(&r);
}

static void test_kill9_random_worker(void)
{
    struct chaos c = { .mode = 0 };
    pthread_t th;
    pthread_create(&th, NULL, chaos_main, &c);
    struct load_result r;
    run_load(&r, TOKENS_KILL);
    pthread_join(th, NULL);
    CHECK(c.actions >= 1);
    CHECK(h_log_count(&up, "died: signal 9") >= 1);
    check_against_baseline(&r, baseline_kill, TOKENS_KILL);
    report_retry_stalls(&r);
    load_result_free(&r);
}

static void test_rolling_sigterm_restart(void)
{
    struct chaos c = { .mode = 1 };
    pthread_t th;
    pthread_create(&th, NULL, chaos_main, &c);
    struct load_result r;
    uint64_t t0 = h_now_ms();
    run_load(&r, TOKENS_ROLL);
    uint64_t load_end = h_now_ms();
    pthread_join(th, NULL);
    CHECK_EQ(c.actions, 3);
    fprintf(stderr, "rolling restart: load took %llu ms, restarts took %llu ms\n",
            (unsigned long long)(load_end - t0), (unsigned long long)(h_now_ms() - t0));
    check_against_baseline(&r, baseline_roll, TOKENS_ROLL);
    load_result_free(&r);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    srand((unsigned)time(NULL));
    if (!h_bin("llmq-gateway") || !h_bin("llmq-worker") || !h_bin("llmq")) {
        fprintf(stderr, "SKIP: llmq, llmq-gateway or llmq-worker not built\n");
        printf("0 passed, 0 failed, 1 skipped\n");
        return 0;
    }
    const char *args[] = { "--workers", "3", "--step-ms", "5", "--max-batch", "64", "--lease-ms", "1000",
                           "--drain-timeout-ms", "10000", NULL };
    if (h_up_start(&up, args, 60000) < 0) { printf("0 passed, 1 failed\n"); return 1; }
    TEST_RUN(test_baseline);
    TEST_RUN(test_kill9_random_worker);
    TEST_RUN(test_rolling_sigterm_restart);
    pid_t pids[16];
    int n = h_up_children(&up, pids, 16, NULL);
    CHECK_EQ(WEXITSTATUS(h_up_stop(&up, SIGTERM, 40000, 0)), 0);
    CHECK_EQ(h_wait_pids_gone(pids, n, 3000), 0);
    TEST_MAIN_END();
}
