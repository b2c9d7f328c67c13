/* test_chaos_poison.c -- a poison job (issue 3, scenario 4). The synthetic engine fails any
 * sequence whose prompt holds "[[synthetic:fail]]" in its first step (an engine error, not a
 * process crash: no worker dies). `llmq up` runs two workers with --lease-ms 500 and
 * --max-attempts 3. While 40 ordinary streams run, one poison request is sent: it is tried
 * on every delivery, lands in llmq:dlq after the attempts run out with the last error kept,
 * its client gets a clear error, and the 40 other streams finish exactly as in an undisturbed
 * run (every index once, same text). `llmq dlq list` shows it. */
#include "test.h"
#include "e2e/harness.h"
#include "load.h"

#include <pthread.h>

#define STREAMS 40
#define TOKENS 600           /* 3 s at 5 ms per step: the poison job's retries happen meanwhile */
#define MAX_ATTEMPTS 3

static struct h_up up;
static int redis_port;

static int redis_cli(const char *args, char *out, size_t cap) { return h_redis_cli(redis_port, args, out, cap); }

static void run_load(struct load_result *r)
{
    struct load_cfg c = { .host = "127.0.0.1", .port = up.port, .proto = LOAD_SSE, .streams = STREAMS,
                          .max_tokens = TOKENS, .seed = 4400, .timeout_ms = 60000 };
    CHECK_EQ(load_run(&c, r), 0);
}

struct poison { int status; uint64_t ms; char out[4096]; };

static void *poison_main(void *arg)
{
    struct poison *p = arg;
    usleep(300000);
    const char *body = "{\"prompt\":\"tell me [[synthetic:fail]] a story\",\"max_tokens\":50,\"seed\":9}";
    uint64_t t0 = h_now_ms();
    p->status = h_http(up.port, "POST", "/v1/completions", "Content-Type: application/json\r\n", body, strlen(body),
                       p->out, sizeof(p->out), 30000);
    p->ms = h_now_ms() - t0;
    return NULL;
}

static void test_poison_job_dead_lettered(void)
{
    struct load_result base, r;
    run_load(&base);
    CHECK_EQ(base.ok, STREAMS);

    int died0 = h_log_count(&up, "died");
    struct poison p = { 0 };
    pthread_t th;
    pthread_create(&th, NULL, poison_main, &p);
    run_load(&r);
    pthread_join(th, NULL);

    char line[1024];
    load_result_json(&r, line, sizeof(line));
    fprintf(stderr, "40 streams beside the poison job: %s\n", line);
    CHECK_EQ(r.ok, STREAMS);
    CHECK_EQ(r.dup_or_gap, 0);
    CHECK_EQ(r.tokens, (long long)STREAMS * TOKENS);
    int same = 0;
    for (int i = 0; i < STREAMS; i++) same += r.text_hash[i] == base.text_hash[i];
    CHECK_EQ(same, STREAMS);
    load_result_free(&base);
    load_result_free(&r);

    char *body = strstr(p.out, "\r\n\r\n");
    fprintf(stderr, "poison request: HTTP %d after %llu ms: %.300s\n", p.status, (unsigned long long)p.ms,
            body ? body + 4 : p.out);
    CHECK(p.status >= 500);                              /* a clear error, not a hang or a 200 */
    CHECK(body && strstr(body, "\"error\""));
    char rid[128] = "";
    char *h = strcasestr(p.out, "\r\nX-Request-Id: ");
    if (h) sscanf(h + 16, "%127[^\r\n]", rid);
    CHECK(rid[0] != 0);

    char out[4096], args[256];
    CHECK_EQ(redis_cli("XLEN llmq:dlq", out, sizeof(out)), 0);
    CHECK_EQ(atoi(out), 1);
    CHECK_EQ(redis_cli("XRANGE llmq:dlq - +", out, sizeof(out)), 0);
    fprintf(stderr, "llmq:dlq: %s\n", out);
    CHECK(rid[0] && strstr(out, rid) != NULL);
    CHECK(strstr(out, "gave up after") != NULL);
    snprintf(args, sizeof(args), "HMGET llmq:job:%s state attempts", rid);
    CHECK_EQ(redis_cli(args, out, sizeof(out)), 0);
    fprintf(stderr, "job hash state, attempts: %s\n", out);
    CHECK(strncmp(out, "failed", 6) == 0);
    CHECK(atoi(strchr(out, '\n') ? strchr(out, '\n') + 1 : "0") >= MAX_ATTEMPTS);
    CHECK_EQ(h_log_count(&up, "died") - died0, 0);        /* an engine error, no process crash */
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "'%s' dlq list --state-file '%s'", h_bin("llmq"), up.state);
    CHECK_EQ(h_run(cmd, out, sizeof(out)), 0);
    CHECK(rid[0] && strstr(out, rid) != NULL);
    CHECK_EQ(redis_cli("XLEN llmq:jobs", out, sizeof(out)), 0);
    CHECK_EQ(atoi(out), 0);                               /* nothing left queued */
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    if (!h_platform_present()) return 0;
    const char *args[] = { "--gateways", "1", "--workers", "2", "--step-ms", "5", "--max-batch", "64",
                           "--lease-ms", "500", "--max-attempts", "3", NULL };
    if (h_up_start(&up, args, 60000) < 0) { printf("0 passed, 1 failed\n"); return 1; }
    redis_port = h_up_redis_port(&up);
    TEST_RUN(test_poison_job_dead_lettered);
    pid_t pids[16];
    int n = h_up_children(&up, pids, 16, NULL);
    CHECK_EQ(WEXITSTATUS(h_up_stop(&up, SIGTERM, 40000, 0)), 0);
    CHECK_EQ(h_wait_pids_gone(pids, n, 3000), 0);
    TEST_MAIN_END();
}
