/* test_chaos_limits.c -- deadlines and a full queue (issue 3, scenario 6). `llmq up` runs
 * one gateway (--max-queue 8) and one worker with 4 slots (--max-batch 4):
 *   - timeout_ms on a running job: HTTP 504 ("timeout_error") at the deadline, and the worker
 *     drops the sequence (job state timeout/failed, the slot free again);
 *   - timeout_ms on a job still queued behind busy slots: 504 as well, and it never runs;
 *   - a streamed request whose deadline passes mid-stream: an SSE error event (timeout);
 *   - the queue full: requests beyond --max-queue are refused at once with 503 and
 *     Retry-After; the accepted ones complete (each index once).
 * Real processes, each case a few seconds. */
#include "test.h"
#include "e2e/harness.h"
#include "load.h"

#include <pthread.h>

static struct h_up up;
static int redis_port;

static int redis_cli(const char *args, char *out, size_t cap) { return h_redis_cli(redis_port, args, out, cap); }

static int post(const char *body, char *out, size_t cap, uint64_t *ms)
{
    uint64_t t0 = h_now_ms();
    int st = h_http(up.port, "POST", "/v1/completions", "Content-Type: application/json\r\n", body, strlen(body), out,
                    cap, 20000);
    if (ms) *ms = h_now_ms() - t0;
    return st;
}

static void request_id(const char *resp, char *rid, size_t cap)
{
    rid[0] = 0;
    const char *h = strcasestr(resp, "\r\nX-Request-Id: ");
    if (h) snprintf(rid, cap, "%.*s", (int)strcspn(h + 16, "\r\n"), h + 16);
}

static void job_state(const char *rid, char *out, size_t cap)
{
    char args[256];
    snprintf(args, sizeof(args), "HGET llmq:job:%s state", rid);
    redis_cli(args, out, cap);
    out[strcspn(out, "\n")] = 0;
}

/* Four long streams fill the worker's 4 slots (background). */
struct busy { struct load_result r; };

static void *busy_main(void *arg)
{
    struct busy *b = arg;
    struct load_cfg c = { .host = "127.0.0.1", .port = up.port, .proto = LOAD_SSE, .streams = 4,
                          .max_tokens = 500, .seed = 60, .timeout_ms = 30000 };
    load_run(&c, &b->r);
    return NULL;
}

static void test_deadline_running_job(void)
{
    char out[8192], rid[128], st[64];
    uint64_t ms;
    int status = post("{\"prompt\":\"Once upon a time\",\"max_tokens\":2000,\"timeout_ms\":300}", out, sizeof(out), &ms);
    request_id(out, rid, sizeof(rid));
    fprintf(stderr, "running job, timeout_ms 300: HTTP %d after %llu ms: %.200s\n", status, (unsigned long long)ms,
            strstr(out, "\r\n\r\n") ? strstr(out, "\r\n\r\n") + 4 : out);
    CHECK_EQ(status, 504);
    CHECK(strstr(out, "timeout_error") != NULL);
    CHECK(ms >= 290 && ms < 1500);
    CHECK(rid[0] != 0);
    /* the worker lets go of it: no longer running, nothing left pending */
    uint64_t end = h_now_ms() + 3000;
    do { job_state(rid, st, sizeof(st)); } while (!strcmp(st, "running") && h_now_ms() < end && !usleep(50000));
    fprintf(stderr, "its job state: %s\n", st);
    CHECK(strcmp(st, "running") != 0 && strcmp(st, "done") != 0);
}

static void test_deadline_queued_job(void)
{
    struct busy b;
    memset(&b, 0, sizeof(b));
    pthread_t th;
    pthread_create(&th, NULL, busy_main, &b);
    usleep(400000);                                    /* all 4 slots busy for ~2.5 s */
    char out[8192], rid[128], st[64];
    uint64_t ms;
    int status = post("{\"prompt\":\"queued\",\"max_tokens\":20,\"timeout_ms\":400}", out, sizeof(out), &ms);
    request_id(out, rid, sizeof(rid));
    fprintf(stderr, "queued job, timeout_ms 400: HTTP %d after %llu ms\n", status, (unsigned long long)ms);
    CHECK_EQ(status, 504);
    CHECK(ms >= 390 && ms < 1500);
    pthread_join(th, NULL);
    CHECK_EQ(b.r.ok, 4);
    load_result_free(&b.r);
    usleep(300000);                                    /* the worker has reached it by now */
    job_state(rid, st, sizeof(st));
    fprintf(stderr, "its job state once a slot was free: %s\n", st);
    CHECK(rid[0] && strcmp(st, "done") != 0);          /* it never ran to completion */
}

static void test_deadline_mid_stream(void)
{
    char cmd[600], out[65536];
    snprintf(cmd, sizeof(cmd), "curl -sN --max-time 10 -H 'Content-Type: application/json' -d "
             "'{\"prompt\":\"Once\",\"max_tokens\":2000,\"stream\":true,\"timeout_ms\":300}' "
             "http://127.0.0.1:%d/v1/completions", up.port);
    if (h_run("command -v curl >/dev/null", NULL, 0) != 0) { TEST_SKIP("curl missing"); return; }
    uint64_t t0 = h_now_ms();
    CHECK_EQ(h_run(cmd, out, sizeof(out)), 0);
    uint64_t ms = h_now_ms() - t0;
    char *err = strstr(out, "\"error\"");
    fprintf(stderr, "stream, timeout_ms 300: ended after %llu ms with %.160s\n", (unsigned long long)ms,
            err ? err : "(no error event)");
    CHECK(strstr(out, "data: {") != NULL);            /* it streamed tokens first */
    CHECK(err && strstr(err, "timeout"));
    CHECK(ms < 2000);
}

static void test_queue_full(void)
{
    struct busy b;
    memset(&b, 0, sizeof(b));
    pthread_t th;
    pthread_create(&th, NULL, busy_main, &b);
    usleep(400000);
    /* 30 at once behind 4 busy slots, --max-queue 8: most are refused at once */
    struct load_cfg c = { .host = "127.0.0.1", .port = up.port, .proto = LOAD_SSE, .streams = 30,
                          .max_tokens = 10, .seed = 61, .timeout_ms = 30000 };
    struct load_result r;
    CHECK_EQ(load_run(&c, &r), 0);
    pthread_join(th, NULL);
    char line[1024];
    load_result_json(&r, line, sizeof(line));
    fprintf(stderr, "30 requests on a full queue: %s\n", line);
    if (r.first_error[0]) fprintf(stderr, "  first failure: %s\n", r.first_error);
    load_result_json(&b.r, line, sizeof(line));
    fprintf(stderr, "the 4 busy streams: %s\n", line);
    if (b.r.first_error[0]) fprintf(stderr, "  first failure: %s\n", b.r.first_error);
    CHECK(r.rejected >= 30 - 8 - 4);
    CHECK_EQ(r.rejected_retry_after, r.rejected);     /* every 503 says when to come back */
    CHECK_EQ(r.ok + r.rejected, 30);
    CHECK_EQ(r.failed, 0);
    CHECK_EQ(r.dup_or_gap, 0);
    CHECK_EQ(b.r.ok, 4);
    load_result_free(&r);
    load_result_free(&b.r);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    if (!h_platform_present()) return 0;
    const char *args[] = { "--gateways", "1", "--workers", "1", "--step-ms", "5", "--max-batch", "4",
                           "--max-queue", "8", NULL };
    if (h_up_start(&up, args, 60000) < 0) { printf("0 passed, 1 failed\n"); return 1; }
    redis_port = h_up_redis_port(&up);
    TEST_RUN(test_deadline_running_job);
    TEST_RUN(test_deadline_queued_job);
    TEST_RUN(test_deadline_mid_stream);
    TEST_RUN(test_queue_full);
    pid_t pids[16];
    int n = h_up_children(&up, pids, 16, NULL);
    CHECK_EQ(WEXITSTATUS(h_up_stop(&up, SIGTERM, 40000, 0)), 0);
    CHECK_EQ(h_wait_pids_gone(pids, n, 3000), 0);
    TEST_MAIN_END();
}
