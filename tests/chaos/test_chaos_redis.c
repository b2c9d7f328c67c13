/* test_chaos_redis.c -- Redis dies while jobs are queued (issue 3). `llmq up` runs with no
 * worker, so requests stay queued; after AOF (appendfsync everysec) has had time to sync, the
 * redis-server is killed with SIGKILL. `llmq up` restarts it on the same port and data dir, the
 * AOF brings the queue back, a worker started afterwards runs every job to `done`, and every
 * client stream ends (completed with each index exactly once, or a clear error): none hangs. */
#include "test.h"
#include "e2e/harness.h"
#include "load.h"

#include <pthread.h>
#include <sys/prctl.h>

#define STREAMS 20

static struct h_up up;
static int redis_port;

static long long redis_int(const char *cmd_args)
{
    char cmd[512], out[256];
    snprintf(cmd, sizeof(cmd), "redis-cli -p %d %s 2>/dev/null", redis_port, cmd_args);
    if (h_run(cmd, out, sizeof(out)) != 0) return -1;
    char *end;
    long long v = strtoll(out, &end, 10);
    return end == out ? -1 : v;
}

struct bg { struct load_result r; };

static void *clients(void *arg)
{
    struct bg *b = arg;
    struct load_cfg c = { .host = "127.0.0.1", .port = up.port, .proto = LOAD_SSE, .streams = STREAMS,
                          .max_tokens = 40, .seed = 77, .timeout_ms = 45000 };
    load_run(&c, &b->r);
    return NULL;
}

static pid_t start_worker(const char *redis_url)
{
    pid_t parent = getpid(), pid = fork();
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent) _exit(1);
        int fd = open(up.log, O_WRONLY | O_APPEND);
        if (fd >= 0) dup2(fd, 2);
        execl(h_bin("llmq-worker"), "llmq-worker", "--redis-url", redis_url, "--step-ms", "5",
              "--max-batch", "32", "--id", "chaos-late-worker", (char *)NULL);
        _exit(127);
    }
    return pid;
}

static void test_redis_kill_with_queued_jobs(void)
{
    struct bg b;
    memset(&b, 0, sizeof(b));
    pthread_t th;
    pthread_create(&th, NULL, clients, &b);

    /* all requests queued, none delivered (no worker) */
    uint64_t end = h_now_ms() + 10000;
    while (h_now_ms() < end && redis_int("XLEN llmq:jobs") < STREAMS) usleep(50000);
    CHECK_EQ(redis_int("XLEN llmq:jobs"), STREAMS);
    usleep(1500000);                  /* appendfsync everysec: the queue is on disk now */

    pid_t rp;
    CHECK_EQ(h_up_children(&up, &rp, 1, "redis"), 1);
    CHECK_EQ(kill(rp, SIGKILL), 0);
    /* llmq up restarts it (same port, same dir, AOF) */
    end = h_now_ms() + 10000;
    pid_t rp2 = rp;
    while (h_now_ms() < end && (rp2 == rp || redis_int("DBSIZE") < 0)) {
        usleep(100000);
        if (h_up_children(&up, &rp2, 1, "redis") != 1) rp2 = rp;
    }
    CHECK(rp2 != rp);
    CHECK(h_log_count(&up, "redis (pid") >= 1);
    end = h_now_ms() + 10000;
    while (h_now_ms() < end && redis_int("XLEN llmq:jobs") < 0) usleep(100000);
    CHECK_EQ(redis_int("XLEN llmq:jobs"), STREAMS);      /* the queue survived */

    char url[64];
    snprintf(url, sizeof(url), "redis://127.0.0.1:%d", redis_port);
    pid_t w = start_worker(url);
    end = h_now_ms() + 30000;
    while (h_now_ms() < end && redis_int("XLEN llmq:jobs") != 0) usleep(100000);
    CHECK_EQ(redis_int("XLEN llmq:jobs"), 0);            /* every job ran and was acknowledged */

    char cmd[512], out[65536];
    snprintf(cmd, sizeof(cmd), "for k in $(redis-cli -p %d --scan --pattern 'llmq:job:*'); do "
             "redis-cli -p %d HGET $k state; done | sort | uniq -c", redis_port, redis_port);
    h_run(cmd, out, sizeof(out));
    fprintf(stderr, "job states after the restart:\n%s", out);
    int done = 0;
    char *p = strstr(out, " done");
    if (p) { while (p > out && p[-1] == ' ') p--; while (p > out && p[-1] >= '0' && p[-1] <= '9') p--; done = atoi(p); }
    CHECK_EQ(done, STREAMS);

    pthread_join(th, NULL);
    char line[1024];
    load_result_json(&b.r, line, sizeof(line));
    fprintf(stderr, "clients: %s\n", line);
    if (b.r.first_error[0]) fprintf(stderr, "first client error: %s\n", b.r.first_error);
    CHECK_EQ(b.r.ok + b.r.failed + b.r.rejected, STREAMS);   /* every stream ended */
    CHECK_EQ(b.r.timeouts, 0);                               /* none hung */
    CHECK_EQ(b.r.dup_or_gap, 0);
    load_result_free(&b.r);
    kill(w, SIGTERM);
    int st;
    end = h_now_ms() + 15000;
    while (waitpid(w, &st, WNOHANG) == 0 && h_now_ms() < end) usleep(50000);
    if (h_pid_alive(w)) { kill(w, SIGKILL); waitpid(w, &st, 0); }
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    if (!h_platform_present()) return 0;
    const char *args[] = { "--workers", "0", "--max-queue", "1000", NULL };
    if (h_up_start(&up, args, 60000) < 0) { printf("0 passed, 1 failed\n"); return 1; }
    redis_port = h_up_redis_port(&up);
    TEST_RUN(test_redis_kill_with_queued_jobs);
    pid_t pids[8];
    int n = h_up_children(&up, pids, 8, NULL);
    CHECK_EQ(WEXITSTATUS(h_up_stop(&up, SIGTERM, 40000, 0)), 0);
    CHECK_EQ(h_wait_pids_gone(pids, n, 3000), 0);
    TEST_MAIN_END();
}
