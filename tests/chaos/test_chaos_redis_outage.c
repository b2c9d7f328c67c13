/* test_chaos_redis_outage.c -- Redis frozen, then Redis gone and back (issue 3, scenario 7).
 * `llmq up --redis-url` runs one gateway and one worker against a redis-server this test
 * starts itself (AOF, appendfsync everysec), so it can stop and restart it at will. While
 * requests keep arriving (open loop, fixed seeds):
 *   - frozen: SIGSTOP for 5 s (longer than the 3 s liveness-PING timeout), then SIGCONT;
 *   - port closed: SIGKILL, 3 s with nothing on the port, then a new redis-server on the same
 *     port and data directory.
 * Checked: no gateway or worker process dies; /readyz turns 503 during the outage and 200
 * after; every request either completes (each index once, the same text as an undisturbed
 * run), or is refused with 503 (+ Retry-After), or ends with an error the server states (SSE
 * error event / HTTP error): none hangs, none is cut without a word; afterwards no job is left
 * queued or running in Redis; no request refused while its job creation was unanswered
 * (gateway log "job outcome unknown") has its job run: each is absent or cancelled, with no
 * `d` event other than finish_reason cancelled. */
#include "test.h"
#include "e2e/harness.h"
#include "load.h"

#include <netinet/in.h>
#include <pthread.h>
#include <sys/prctl.h>

#define STREAMS 90
#define TOKENS 200           /* 1 s each at 5 ms per step */
#define RATE 12.0            /* arrivals per second: 7.5 s of arrivals, before, during and after the outage */

static struct h_up up;
static int redis_port;
static char redis_dir[64];
static pid_t redis_pid;
static uint64_t baseline[STREAMS];
static int jobs_done_before = STREAMS;       /* the baseline's */

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof(a);
    int port = -1;
    if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    if (fd >= 0) close(fd);
    return port;
}

static long long redis_int(const char *args)
{
    char cmd[512], out[256];
    snprintf(cmd, sizeof(cmd), "redis-cli -p %d %s 2>/dev/null", redis_port, args);
    if (h_run(cmd, out, sizeof(out)) != 0) return -1;
    char *end;
    long long v = strtoll(out, &end, 10);
    return end == out ? -1 : v;
}

/* from_thread: started by the outage thread, whose exit would fire PR_SET_PDEATHSIG (it
 * follows the creating thread, not the process); that instance is bounded by timeout(1). */
static int redis_start(int from_thread)
{
    char port[16], log[128];
    snprintf(port, sizeof(port), "%d", redis_port);
    snprintf(log, sizeof(log), "%s/redis.log", redis_dir);
    pid_t parent = getpid(), pid = fork();
    if (pid == 0) {
        if (!from_thread) prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent) _exit(1);
        if (from_thread)
            execlp("timeout", "timeout", "-s", "KILL", "150", "redis-server", "--port", port, "--bind", "127.0.0.1",
                   "--dir", redis_dir, "--logfile", log, "--appendonly", "yes", "--appendfsync", "everysec",
                   "--save", "", "--daemonize", "no", (char *)NULL);
        else
            execlp("redis-server", "redis-server", "--port", port, "--bind", "127.0.0.1", "--dir", redis_dir,
                   "--logfile", log, "--appendonly", "yes", "--appendfsync", "everysec", "--save", "",
                   "--daemonize", "no", (char *)NULL);
        _exit(127);
    }
    redis_pid = pid;
    uint64_t end = h_now_ms() + 5000;
    while (h_now_ms() < end) {
        if (redis_int("DBSIZE") >= 0) return 0;
        usleep(50000);
    }
    return -1;
}

static void redis_reap(void)
{
    int st;
    waitpid(redis_pid, &st, 0);
    redis_pid = 0;
}

static void run_load(struct load_result *r)
{
    struct load_cfg c = { .host = "127.0.0.1", .port = up.port, .proto = LOAD_SSE, .streams = STREAMS,
                          .rate_per_s = RATE, .max_tokens = TOKENS, .seed = 7000, .timeout_ms = 40000 };
    CHECK_EQ(load_run(&c, r), 0);
}

/* ---------------------------------------------------------------- outage driver */

struct outage {
    int mode;                  /* 0: SIGSTOP/SIGCONT, 1: SIGKILL, restart 3 s later */
    int done;                  /* load finished: the readiness poller stops */
    int saw_unready, ready_after, actions;
    uint64_t t_out, t_back, t_unready, t_ready;   /* ms: outage start/end, readyz 503 / 200 again */
};

static void *readiness_main(void *arg)
{
    struct outage *o = arg;
    char out[512];
    while (!o->done) {
        int st = h_http(up.port, "GET", "/readyz", NULL, "", 0, out, sizeof(out), 500);
        uint64_t now = h_now_ms();
        if (st != 200 && o->t_out && !o->saw_unready) { o->saw_unready = 1; o->t_unready = now; }
        if (st == 200 && o->saw_unready && !o->ready_after) { o->ready_after = 1; o->t_ready = now; }
        usleep(50000);
    }
    return NULL;
}

static void *outage_main(void *arg)
{
    struct outage *o = arg;
    usleep(800000);            /* streams running, more arriving */
    o->t_out = h_now_ms();
    if (o->mode == 0) {
        if (kill(redis_pid, SIGSTOP) == 0) o->actions++;
        usleep(5000000);
        kill(redis_pid, SIGCONT);
    } else {
        if (kill(redis_pid, SIGKILL) == 0) o->actions++;
        redis_reap();
        usleep(3000000);
        if (redis_start(1) == 0) o->actions++;
    }
    o->t_back = h_now_ms();
    return NULL;
}

static void outage_case(int mode, const char *what)
{
    pid_t before[8], after[8];
    int n_before = h_up_children(&up, before, 8, NULL);
    int died0 = h_log_count(&up, "died");
    struct outage o = { .mode = mode };
    pthread_t ro, tr;
    pthread_create(&tr, NULL, readiness_main, &o);
    pthread_create(&ro, NULL, outage_main, &o);
    struct load_result r;
    run_load(&r);
    pthread_join(ro, NULL);
    /* the readiness poller runs until /readyz is back (or 10 s after the outage ended) */
    uint64_t end = o.t_back + 10000;
    while (!o.ready_after && h_now_ms() < end) usleep(50000);
    o.done = 1;
    pthread_join(tr, NULL);

    char line[1024];
    load_result_json(&r, line, sizeof(line));
    fprintf(stderr, "%s: %s\n", what, line);
    if (r.first_error[0]) fprintf(stderr, "first error: %s\n", r.first_error);
    fprintf(stderr, "%s: outage %llu ms; /readyz 503 after %lld ms, 200 again %lld ms after Redis was back\n", what,
            (unsigned long long)(o.t_back - o.t_out), o.saw_unready ? (long long)(o.t_unready - o.t_out) : -1LL,
            o.ready_after ? (long long)(o.t_ready - o.t_back) : -1LL);
    CHECK(o.actions >= 1);
    CHECK(o.saw_unready);                                   /* /readyz false during the outage */
    CHECK(o.ready_after);                                   /* ... and true again */
    int n_after = h_up_children(&up, after, 8, NULL);
    CHECK_EQ(n_after, n_before);
    CHECK_EQ(memcmp(before, after, sizeof(pid_t) * (size_t)(n_before < n_after ? n_before : n_after)), 0);
    CHECK_EQ(h_log_count(&up, "died") - died0, 0);          /* no gateway or worker crashed */

    CHECK_EQ(r.ok + r.rejected + r.failed, STREAMS);
    CHECK_EQ(r.timeouts, 0);                                /* none hung */
    CHECK_EQ(r.failed, r.failed_clear);                     /* none cut off without a word */
    CHECK_EQ(r.dup_or_gap, 0);
    CHECK_EQ(r.usage_mismatch, 0);
    CHECK_EQ(r.rejected, r.rejected_retry_after);
    int same = 0;
    for (int i = 0; i < STREAMS; i++) same += r.text_hash[i] == 0 || r.text_hash[i] == baseline[i];
    CHECK_EQ(same, STREAMS);                                /* completed ones: the undisturbed text */
    CHECK(r.ok >= 1);

    /* no job left behind queued or running */
    end = h_now_ms() + 15000;
    while (h_now_ms() < end && (redis_int("XLEN llmq:jobs") != 0 || redis_int("XPENDING llmq:jobs workers") > 0))
        usleep(100000);
    CHECK_EQ(redis_int("XLEN llmq:jobs"), 0);
    char cmd[512], out[4096];
    snprintf(cmd, sizeof(cmd), "for k in $(redis-cli -p %d --scan --pattern 'llmq:job:*'); do "
             "redis-cli -p %d HGET $k state; done | sort | uniq -c | tr '\\n' ' '", redis_port, redis_port);
    h_run(cmd, out, sizeof(out));
    fprintf(stderr, "%s: job states in Redis: %s\n", what, out);
    int done = 0;
    char *p = strstr(out, " done");
    if (p) { while (p > out && p[-1] == ' ') p--; while (p > out && p[-1] >= '0' && p[-1] <= '9') p--; done = atoi(p); }
    fprintf(stderr, "%s: %d jobs done in this case for %d completed streams\n", what,
            done - jobs_done_before, r.ok);
    /* A request refused while its HSET + XADD were unanswered (outcome unknown: a frozen Redis
     * runs them on SIGCONT) gets its job cancelled once Redis answers again: every such job is
     * absent or cancelled, and none produced tokens to completion (a `d` event other than
     * finish_reason cancelled). The gateway logs their ids ("job outcome unknown"). */
    int unknown = 0, bad_state = 0, ran = 0, cancelled = 0;
    FILE *lf = fopen(up.log, "r");
    char ll[8192];
    while (lf && fgets(ll, sizeof(ll), lf)) {
        char *q = strstr(ll, "job outcome unknown");
        char *id = q ? strstr(q, "\"request_id\":\"") : NULL;
        if (!id) continue;
        id += 14;
        char rid[80];
        size_t n = strcspn(id, "\"");
        if (n == 0 || n >= sizeof(rid)) continue;
        memcpy(rid, id, n);
        rid[n] = 0;
        unknown++;
        char st[256] = "";
        uint64_t until = h_now_ms() + 5000; /* the cancel round runs every 250 ms */
        for (;;) {
            snprintf(cmd, sizeof(cmd), "redis-cli -p %d HGET llmq:job:%s state", redis_port, rid);
            st[0] = 0;
            h_run(cmd, st, sizeof(st));
            st[strcspn(st, "\r\n")] = 0;
            if (st[0] == 0 || !strcmp(st, "cancelled") || h_now_ms() > until) break;
            usleep(100000);
        }
        cancelled += !strcmp(st, "cancelled");
        if (st[0] && strcmp(st, "cancelled")) {
            bad_state++;
            fprintf(stderr, "%s: refused request %s: job state %s\n", what, rid, st);
        }
        snprintf(cmd, sizeof(cmd), "redis-cli -p %d XRANGE llmq:out:%s - + | "
                 "grep -o 'finish_reason\"[: ]*\"[a-z_]*' | grep -vc cancelled", redis_port, rid);
        char cnt[64] = "";
        h_run(cmd, cnt, sizeof(cnt));
        if (atoi(cnt) > 0) {
            ran++;
            fprintf(stderr, "%s: refused request %s: its job ran to completion\n", what, rid);
        }
    }
    if (lf) fclose(lf);
    fprintf(stderr, "%s: %d refused with outcome unknown (all cases so far): %d cancelled, %d absent, "
            "%d in another state, %d ran to completion\n", what, unknown, cancelled,
            unknown - cancelled - bad_state, bad_state, ran);
    CHECK_EQ(bad_state, 0);
    CHECK_EQ(ran, 0);
    static char met[131072];
    if (h_http(up.port, "GET", "/metrics", NULL, "", 0, met, sizeof(met), 2000) == 200) {
        const char *names[] = { "\nllmq_jobs_unknown_cancelled_total ", "\nllmq_jobs_unknown_pending ",
                                "\nllmq_tokens_deduplicated_total " };
        for (int k = 0; k < 3; k++) {
            const char *v = strstr(met, names[k]);
            fprintf(stderr, "%s: gateway %s%.*s\n", what, names[k] + 1, v ? (int)strcspn(v + strlen(names[k]), "\n") : 1,
                    v ? v + strlen(names[k]) : "?");
        }
    }
    jobs_done_before = done;
    CHECK(strstr(out, "queued") == NULL && strstr(out, "running") == NULL);
    load_result_free(&r);
}

static void test_baseline(void)
{
    struct load_result r;
    run_load(&r);
    CHECK_EQ(r.ok, STREAMS);
    CHECK_EQ(r.dup_or_gap, 0);
    memcpy(baseline, r.text_hash, sizeof(baseline));
    load_result_free(&r);
}

static void test_redis_frozen(void) { outage_case(0, "Redis frozen 5 s (SIGSTOP)"); }
static void test_redis_port_closed(void) { outage_case(1, "Redis killed, port closed 3 s, restarted"); }

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    if (!h_bin("llmq-gateway") || !h_bin("llmq-worker") || !h_bin("llmq") ||
        h_run("command -v redis-cli >/dev/null && command -v redis-server >/dev/null", NULL, 0) != 0) {
        fprintf(stderr, "SKIP: llmq, llmq-gateway, llmq-worker, redis-server or redis-cli missing\n");
        printf("0 passed, 0 failed, 1 skipped\n");
        return 0;
    }
    snprintf(redis_dir, sizeof(redis_dir), "/tmp/llmq-chaos-redis-XXXXXX");
    redis_port = free_port();
    if (!mkdtemp(redis_dir) || redis_port < 0 || redis_start(0) < 0) {
        fprintf(stderr, "could not start redis-server\n");
        printf("0 passed, 1 failed\n");
        return 1;
    }
    char url[64];
    snprintf(url, sizeof(url), "--redis-url=redis://127.0.0.1:%d", redis_port);
    const char *args[] = { url, "--gateways", "1", "--workers", "1", "--step-ms", "5", "--max-batch", "64",
                           "--lease-ms", "1000", NULL };
    if (h_up_start(&up, args, 60000) < 0) {
        kill(redis_pid, SIGKILL);
        redis_reap();
        printf("0 passed, 1 failed\n");
        return 1;
    }
    TEST_RUN(test_baseline);
    TEST_RUN(test_redis_frozen);
    TEST_RUN(test_redis_port_closed);
    pid_t pids[16];
    int n = h_up_children(&up, pids, 16, NULL);
    CHECK_EQ(WEXITSTATUS(h_up_stop(&up, SIGTERM, 40000, 0)), 0);
    CHECK_EQ(h_wait_pids_gone(pids, n, 3000), 0);
    if (redis_pid > 0) {
        kill(redis_pid, SIGTERM);
        redis_reap();
    }
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", redis_dir);
    h_run(cmd, NULL, 0);
    TEST_MAIN_END();
}
