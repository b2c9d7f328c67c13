/* test_priority.c -- priority lanes with real parts: a real redis-server, the real
 * llmq-gateway and the real llmq-worker (synthetic engine, --max-batch 1, slow --step-ms).
 * With a backlog of normal jobs, a later high-priority request starts before the earlier
 * normal ones and a later low-priority one after them; a high-lane job whose worker is
 * killed is taken over by another worker from P jobs:high, and one whose worker drains is
 * handed back and finished by a peer; --max-queue and the queue
 * metrics count every lane. Clients are plain HTTP sockets; every wait is bounded. */
#include "../worker/redis_harness.h"
#include "test.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

static struct redis_server rs;
static redisContext *rc;
static char bin_dir[900], log_path[300];

/* ---------------------------------------------------------------- helpers */

static int dial(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct timeval tv = {.tv_sec = 10};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Sends a non-streaming completion with request id rid and priority prio; returns the
 * socket (the answer is read later with finish()) or -1. */
static int submit(int port, const char *rid, int prio, int max_tokens)
{
    int fd = dial(port);
    if (fd < 0) return -1;
    char body[256], req[1024];
    int bl = snprintf(body, sizeof(body),
                      "{\"prompt\":\"lane test\",\"max_tokens\":%d,\"priority\":%d,\"seed\":1}",
                      max_tokens, prio);
    int n = snprintf(req, sizeof(req),
                     "POST /v1/completions HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                     "Content-Type: application/json\r\nX-Request-Id: %s\r\n"
                     "Content-Length: %d\r\n\r\n%s",
                     rid, bl, body);
    if (send(fd, req, (size_t)n, MSG_NOSIGNAL) != n) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Reads the whole answer (until close); returns the status, resp holds it. */
static int finish(int fd, char *resp, size_t cap)
{
    size_t have = 0;
    resp[0] = 0;
    while (fd >= 0 && have + 1 < cap) {
        ssize_t r = recv(fd, resp + have, cap - 1 - have, 0);
        if (r <= 0) break;
        have += (size_t)r;
        resp[have] = 0;
    }
    if (fd >= 0) close(fd);
    int status = 0;
    sscanf(resp, "HTTP/1.1 %d", &status);
    return status;
}

static void hget(const char *id, const char *field, char *out, size_t cap)
{
    redisReply *r = redisCommand(rc, "HGET llmq:job:%s %s", id, field);
    snprintf(out, cap, "%s", r && r->type == REDIS_REPLY_STRING ? r->str : "");
    if (r) freeReplyObject(r);
}

static unsigned long long hget_u64(const char *id, const char *field)
{
    char v[32];
    hget(id, field, v, sizeof(v));
    return strtoull(v, NULL, 10);
}

/* Waits up to ms for P job:<id> state to be want. */
static int wait_state(const char *id, const char *want, int ms)
{
    long long until = harness_now_ms() + ms;
    char st[32];
    do {
        hget(id, "state", st, sizeof(st));
        if (!strcmp(st, want)) return 0;
        usleep(20000);
    } while (harness_now_ms() < until);
    return -1;
}

static long long rint_(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(rc, fmt, ap);
    va_end(ap);
    long long v = r && r->type == REDIS_REPLY_INTEGER ? r->integer : -1;
    if (r) freeReplyObject(r);
    return v;
}

/* entries-read of group "workers" on stream key (-1 when none). */
static long long entries_read(const char *key)
{
    redisReply *r = redisCommand(rc, "XINFO GROUPS %s", key);
    long long v = -1;
    for (size_t g = 0; r && r->type == REDIS_REPLY_ARRAY && g < r->elements; g++) {
        redisReply *grp = r->element[g];
        for (size_t i = 0; grp->type == REDIS_REPLY_ARRAY && i + 1 < grp->elements; i += 2)
            if (grp->element[i]->type == REDIS_REPLY_STRING &&
                !strcmp(grp->element[i]->str, "entries-read") &&
                grp->element[i + 1]->type == REDIS_REPLY_INTEGER)
                v = grp->element[i + 1]->integer;
    }
    if (r) freeReplyObject(r);
    return v;
}

static pid_t start_gateway(int port, const char *prefix, const char *max_queue)
{
    char bin[1024], url[64], p[16];
    snprintf(bin, sizeof(bin), "%s/llmq-gateway", bin_dir);
    snprintf(url, sizeof(url), "redis://127.0.0.1:%d", rs.port);
    snprintf(p, sizeof(p), "%d", port);
    char *argv[] = {bin,
                    "--port",
                    p,
                    "--redis-url",
                    url,
                    "--prefix",
                    (char *)prefix,
                    "--idle-timeout-ms",
                    "30000",
                    "--max-queue",
                    (char *)max_queue,
                    NULL};
    pid_t pid = harness_spawn(argv, log_path);
    char body[256];
    int status = 0;
    long long until = harness_now_ms() + 5000;
    while (harness_now_ms() < until) {
        if (harness_http_get(port, "/readyz", &status, body, sizeof(body)) >= 0 && status == 200)
            return pid;
        usleep(20000);
    }
    return pid;
}

/* A worker: one sequence at a time, step_ms per token, lease 500 ms, drain timeout 300 ms;
 * waits until ready. */
static pid_t start_worker(const char *id, const char *step_ms)
{
    char bin[1024], url[64], port[16];
    int mport = harness_free_port();
    snprintf(bin, sizeof(bin), "%s/llmq-worker", bin_dir);
    snprintf(url, sizeof(url), "redis://127.0.0.1:%d", rs.port);
    snprintf(port, sizeof(port), "%d", mport);
    char *argv[] = {bin,
                    "--redis-url",
                    url,
                    "--id",
                    (char *)id,
                    "--engine",
                    "synthetic",
                    "--max-batch",
                    "1",
                    "--step-ms",
                    (char *)step_ms,
                    "--lease-ms",
                    "500",
                    "--metrics-port",
                    port,
                    "--drain-timeout-ms",
                    "300",
                    NULL};
    pid_t pid = harness_spawn(argv, log_path);
    char body[512];
    int status = 0;
    long long until = harness_now_ms() + 10000;
    while (harness_now_ms() < until) {
        if (harness_http_get(mport, "/healthz", &status, body, sizeof(body)) > 0 &&
            strstr(body, "\"ready\":true"))
            return pid;
        usleep(20000);
    }
    CHECK(!"worker became ready");
    return pid;
}

/* SIGTERM and a bounded wait; 1 when it exited 0 (a drain; under ASan: no leak, no error). */
static int stop_clean(pid_t pid)
{
    int st = -1;
    kill(pid, SIGTERM);
    if (harness_wait(pid, 8000, &st) != 0) {
        harness_kill(pid);
        return 0;
    }
    return WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

/* ---------------------------------------------------------------- tests */

static int gw_port;

/* Backlog: n1 runs, n2..n4 wait; then l1 (priority -3) and h1 (priority 5) arrive. The
 * worker must run h1 next, then n2..n4 in order, then l1. */
static void test_order(void)
{
    pid_t wk = start_worker("wk-order", "40");
    const char *order[] = {"n1", "n2", "n3", "n4", "l1", "h1"};
    int prio[] = {0, 0, 0, 0, -3, 5};
    int fds[6];
    fds[0] = submit(gw_port, "n1", 0, 10);
    CHECK_EQ(wait_state("n1", "running", 3000), 0);
    for (int i = 1; i < 6; i++) {
        fds[i] = submit(gw_port, order[i], prio[i], 10);
        CHECK(fds[i] >= 0);
        usleep(30000); /* distinct arrival times, all while n1 still runs (400 ms) */
    }
    /* The backlog is visible in the summed metrics (five waiting over three lanes). */
    char body[16384];
    int status = 0;
    usleep(150000); /* one queue poll */
    CHECK(harness_http_get(gw_port, "/metrics", &status, body, sizeof(body)) > 0);
    CHECK(strstr(body, "llmq_queue_lane_lag{lane=\"high\"} 1") != NULL);
    CHECK(strstr(body, "llmq_queue_lane_lag{lane=\"low\"} 1") != NULL);
    CHECK(strstr(body, "llmq_queue_lag 4") != NULL || strstr(body, "llmq_queue_lag 5") != NULL);
    CHECK(strstr(body, "llmq_queue_pending 1") != NULL); /* n1, running */

    char resp[6][4096];
    for (int i = 0; i < 6; i++) {
        CHECK_EQ(finish(fds[i], resp[i], sizeof(resp[i])), 200);
        CHECK(strstr(resp[i], "\"finish_reason\":\"length\"") != NULL);
    }
    unsigned long long deq[6];
    for (int i = 0; i < 6; i++) {
        deq[i] = hget_u64(order[i], "dequeued_us");
        CHECK(deq[i] > 0);
        fprintf(stderr, "  %s (priority %d): started at +%.0f ms\n", order[i], prio[i],
                (double)(deq[i] - deq[0]) / 1e3);
    }
    CHECK(deq[5] > deq[0]);                    /* h1 after the running n1 (no preemption) ... */
    CHECK(deq[5] < deq[1]);                    /* ... but before every earlier normal job */
    CHECK(deq[1] < deq[2] && deq[2] < deq[3]); /* normal lane in arrival order */
    CHECK(deq[4] > deq[3]);                    /* low after every normal job */
    CHECK(entries_read("llmq:jobs:high") >= 1);
    CHECK(entries_read("llmq:jobs:low") >= 1);
    /* every lane was acknowledged and emptied */
    CHECK_EQ(rint_("XLEN llmq:jobs:high"), 0);
    CHECK_EQ(rint_("XLEN llmq:jobs:low"), 0);
    CHECK_EQ(rint_("XLEN llmq:jobs"), 0);
    CHECK(stop_clean(wk));
}

/* A high-lane job whose worker dies is taken over (XAUTOCLAIM on P jobs:high). */
static void test_takeover(void)
{
    pid_t a = start_worker("wk-a", "100");
    int fd = submit(gw_port, "h-take", 2, 30); /* 3 s of work */
    CHECK_EQ(wait_state("h-take", "running", 3000), 0);
    char who[64];
    hget("h-take", "worker", who, sizeof(who));
    CHECK_STR(who, strlen(who), "wk-a");
    usleep(300000);  /* a few tokens out */
    harness_kill(a); /* SIGKILL: no hand-back, only the lease can bring it back */
    pid_t b = start_worker("wk-b", "5");
    char resp[8192];
    CHECK_EQ(finish(fd, resp, sizeof(resp)), 200);
    CHECK(strstr(resp, "\"finish_reason\":\"length\"") != NULL);
    CHECK(strstr(resp, "\"completion_tokens\":30") != NULL);
    CHECK_EQ(wait_state("h-take", "done", 3000), 0);
    hget("h-take", "worker", who, sizeof(who));
    CHECK_STR(who, strlen(who), "wk-b");
    CHECK_EQ(hget_u64("h-take", "attempts"), 2);
    CHECK_EQ(rint_("XLEN llmq:jobs:high"), 0);
    redisReply *r = redisCommand(rc, "XPENDING llmq:jobs:high workers");
    CHECK(r && r->type == REDIS_REPLY_ARRAY && r->elements >= 1 &&
          r->element[0]->type == REDIS_REPLY_INTEGER && r->element[0]->integer == 0);
    if (r) freeReplyObject(r);
    CHECK(stop_clean(b));
}

/* A draining worker hands a running high-lane job back (XCLAIM IDLE on P jobs:high) and a
 * peer finishes it; the hand-back is not counted as an attempt. */
static void test_handback(void)
{
    pid_t a = start_worker("wk-c", "100");
    int fd = submit(gw_port, "h-back", 1, 30);
    CHECK_EQ(wait_state("h-back", "running", 3000), 0);
    usleep(200000);
    kill(a, SIGTERM); /* drain: 300 ms, then hand back */
    int st = -1;
    CHECK_EQ(harness_wait(a, 5000, &st), 0);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    pid_t b = start_worker("wk-d", "5");
    char resp[8192];
    CHECK_EQ(finish(fd, resp, sizeof(resp)), 200);
    CHECK(strstr(resp, "\"completion_tokens\":30") != NULL);
    CHECK_EQ(wait_state("h-back", "done", 3000), 0);
    char who[64];
    hget("h-back", "worker", who, sizeof(who));
    CHECK_STR(who, strlen(who), "wk-d");
    CHECK_EQ(hget_u64("h-back", "attempts"), 1);
    CHECK_EQ(rint_("XLEN llmq:jobs:high"), 0);
    CHECK(stop_clean(b));
}

/* --max-queue bounds the sum of the lanes (no worker on this prefix: all is lag). */
static void test_admission(void)
{
    int port = harness_free_port();
    pid_t g = start_gateway(port, "adm:", "2");
    int f1 = submit(port, "a-high", 9, 4);
    int f2 = submit(port, "a-low", -9, 4);
    long long until = harness_now_ms() + 3000;
    while (harness_now_ms() < until &&
           (rint_("XLEN adm:jobs:high") < 1 || rint_("XLEN adm:jobs:low") < 1))
        usleep(20000);
    CHECK_EQ(rint_("XLEN adm:jobs:high"), 1);
    CHECK_EQ(rint_("XLEN adm:jobs:low"), 1);
    CHECK_EQ(rint_("XLEN adm:jobs"), 0);
    usleep(250000); /* a queue poll or two */
    char resp[4096];
    int f3 = submit(port, "a-normal", 0, 4);
    CHECK_EQ(finish(f3, resp, sizeof(resp)), 503);
    CHECK(strstr(resp, "queue full") != NULL);
    close(f1);
    close(f2);
    CHECK(stop_clean(g));
}

int main(void)
{
    const char *dir = getenv("LLMQ_BIN_DIR");
    snprintf(bin_dir, sizeof(bin_dir), "%s", dir ? dir : ".");
    char gw_bin[1024], wk_bin[1024];
    snprintf(gw_bin, sizeof(gw_bin), "%s/llmq-gateway", bin_dir);
    snprintf(wk_bin, sizeof(wk_bin), "%s/llmq-worker", bin_dir);
    if (access(gw_bin, X_OK) != 0 || access(wk_bin, X_OK) != 0) {
        fprintf(stderr, "SKIP: llmq-gateway or llmq-worker not built\n");
        printf("0 passed, 0 failed, 1 skipped\n");
        return 0;
    }
    int rc0 = redis_server_start(&rs);
    if (rc0 == -ENOENT) {
        fprintf(stderr, "SKIP: redis-server not installed\n");
        printf("0 passed, 0 failed, 1 skipped\n");
        return 0;
    }
    if (rc0 < 0) {
        fprintf(stderr, "redis-server failed to start\n");
        return 1;
    }
    rc = redis_server_connect(&rs);
    snprintf(log_path, sizeof(log_path), "%s/priority.log", rs.dir);
    gw_port = harness_free_port();
    pid_t gw = start_gateway(gw_port, "llmq:", "0");

    TEST_RUN(test_order);
    TEST_RUN(test_takeover);
    TEST_RUN(test_handback);
    TEST_RUN(test_admission);

    CHECK(stop_clean(gw));
    if (test_failed) {
        fprintf(stderr, "--- %s (last 60 lines)\n", log_path);
        char cmd[400];
        snprintf(cmd, sizeof(cmd), "tail -n 60 %s >&2", log_path);
        if (system(cmd)) {
        }
    }
    redisFree(rc);
    redis_server_stop(&rs);
    redis_server_cleanup(&rs);
    TEST_MAIN_END();
}
