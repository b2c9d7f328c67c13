/* test_up.c -- `llmq up` supervision against stand-in children (fake_child.c as llmq-gateway
 * and llmq-worker) and a real redis-server: start and readiness, flag routing, `llmq status`,
 * restart of a killed child with the reason logged, ordered shutdown leaving no process, and
 * children dying with a SIGKILLed supervisor. The real binaries are covered by tests/e2e. */
#include "test.h"
#include "e2e/harness.h"

static char fake_dir[256], fake_log[300], gw_arg[512], wk_arg[512];

static int setup(void)
{
    const char *fake = h_bin("up_fake_child");
    if (!fake) return -1;
    snprintf(fake_dir, sizeof(fake_dir), "/tmp/llmq-fake-XXXXXX");
    if (!mkdtemp(fake_dir)) return -1;
    char p[400];
    snprintf(p, sizeof(p), "%s/llmq-gateway", fake_dir);
    if (symlink(fake, p) < 0) return -1;
    snprintf(gw_arg, sizeof(gw_arg), "--gateway-bin=%s", p);
    snprintf(p, sizeof(p), "%s/llmq-worker", fake_dir);
    if (symlink(fake, p) < 0) return -1;
    snprintf(wk_arg, sizeof(wk_arg), "--worker-bin=%s", p);
    snprintf(fake_log, sizeof(fake_log), "%s/children.log", fake_dir);
    setenv("FAKE_LOG", fake_log, 1);
    return 0;
}

static int count_in_file(const char *path, const char *needle)
{
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    char line[4096];
    int n = 0;
    while (fgets(line, sizeof(line), f)) n += strstr(line, needle) != NULL;
    fclose(f);
    return n;
}

static void test_start_status_restart_stop(void)
{
    struct h_up u;
    const char *args[] = { gw_arg, wk_arg, "--gateways", "2", "--workers", "2", "--step-ms", "7",
                           "--max-queue", "5", NULL };
    unlink(fake_log);
    if (h_up_start(&u, args, 20000) < 0) { CHECK(0); return; }
    CHECK(u.port > 0);

    /* The gateway answers on the shared port. */
    char out[4096];
    CHECK_EQ(h_http(u.port, "GET", "/readyz", NULL, "", 0, out, sizeof(out), 2000), 200);

    /* Flags route to whoever knows them: --step-ms to workers only, --max-queue to gateways. */
    CHECK_EQ(count_in_file(fake_log, "worker"), 2);
    CHECK_EQ(count_in_file(fake_log, "gateway"), 2);
    CHECK_EQ(count_in_file(fake_log, "--step-ms 7"), 2);
    CHECK_EQ(count_in_file(fake_log, "--max-queue 5"), 2);

    /* llmq status reads the state file and the heartbeats. */
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "'%s' status --json --state-file '%s'", h_bin("llmq"), u.state);
    int rc = h_run(cmd, out, sizeof(out));
    CHECK_EQ(rc, 0);
    json_t *j = json_loads(out, 0, NULL);
    CHECK(j != NULL);
    CHECK_EQ(json_integer_value(json_object_get(j, "workers_live")), 2);
    CHECK_EQ(json_integer_value(json_object_get(j, "batch_max")), 16);
    json_decref(j);
    snprintf(cmd, sizeof(cmd), "'%s' status --state-file '%s'", h_bin("llmq"), u.state);
    CHECK_EQ(h_run(cmd, out, sizeof(out)), 0);
    CHECK(strstr(out, "workers  2 live") != NULL);

    /* kill -9 a worker: it is restarted and the reason is logged. */
    pid_t w[4], all[16];
    CHECK_EQ(h_up_children(&u, w, 4, "worker-"), 2);
    kill(w[0], SIGKILL);
    uint64_t end = h_now_ms() + 5000;
    pid_t w2[4];
    int restarted = 0;
    while (h_now_ms() < end && !restarted) {
        usleep(50000);
        int n = h_up_children(&u, w2, 4, "worker-");
        restarted = n == 2 && w2[0] != w[0] && w2[0] > 0;
    }
    CHECK(restarted);
    CHECK(h_log_count(&u, "worker-0") >= 1 && h_log_count(&u, "signal 9") >= 1);

    /* SIGTERM: everything stops, nothing is left, the state file is gone. */
    int n = h_up_children(&u, all, 16, NULL);
    CHECK_EQ(n, 5);   /* redis + 2 gateways + 2 workers */
    char dir_redis[300];
    snprintf(dir_redis, sizeof(dir_redis), "%s", u.dir);
    int st = h_up_stop(&u, SIGTERM, 20000, 1);
    CHECK(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0);
    CHECK_EQ(h_wait_pids_gone(all, n, 2000), 0);
    CHECK(access(u.state, F_OK) != 0);
    /* a state file left by a SIGKILLed llmq up is recognised as stale */
    FILE *sf = fopen(u.state, "w");
    if (sf) { fprintf(sf, "{\"pid\":999999999,\"redis_url\":\"redis://127.0.0.1:1\"}"); fclose(sf); }
    snprintf(cmd, sizeof(cmd), "'%s' status --state-file '%s' 2>&1", h_bin("llmq"), u.state);
    CHECK_EQ(h_run(cmd, out, sizeof(out)), 2);
    CHECK(strstr(out, "stale") != NULL);
    CHECK(h_log_count(&u, "stopping") >= 1);
    h_up_stop(&u, SIGTERM, 0, 0);
}

static void test_children_die_with_supervisor(void)
{
    struct h_up u;
    const char *args[] = { gw_arg, wk_arg, NULL };
    if (h_up_start(&u, args, 20000) < 0) { CHECK(0); return; }
    pid_t all[8];
    int n = h_up_children(&u, all, 8, NULL);
    CHECK_EQ(n, 3);
    h_up_stop(&u, SIGKILL, 5000, 0);
    CHECK_EQ(h_wait_pids_gone(all, n, 5000), 0);
}

static void test_bad_flags(void)
{
    char cmd[2048], out[2048];
    snprintf(cmd, sizeof(cmd), "'%s' up %s %s --no-such-flag 3 2>&1", h_bin("llmq"), gw_arg, wk_arg);
    CHECK_EQ(h_run(cmd, out, sizeof(out)), 2);
    CHECK(strstr(out, "--no-such-flag") != NULL);
    snprintf(cmd, sizeof(cmd), "'%s' up --engine llama 2>&1", h_bin("llmq"));
    CHECK_EQ(h_run(cmd, out, sizeof(out)), 2);
    CHECK(strstr(out, "--model") != NULL);
    snprintf(cmd, sizeof(cmd), "'%s' up %s %s --autoscale 5:2 2>&1", h_bin("llmq"), gw_arg, wk_arg);
    CHECK_EQ(h_run(cmd, out, sizeof(out)), 2);
    /* a port someone else holds is reported at once, not after three gateway crashes */
    int l = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET };
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t al = sizeof(a);
    bind(l, (struct sockaddr *)&a, sizeof(a));
    listen(l, 1);
    getsockname(l, (struct sockaddr *)&a, &al);
    snprintf(cmd, sizeof(cmd), "'%s' up %s %s --port %d 2>&1", h_bin("llmq"), gw_arg, wk_arg, ntohs(a.sin_port));
    CHECK_EQ(h_run(cmd, out, sizeof(out)), 2);
    CHECK(strstr(out, "in use") != NULL);
    close(l);
    snprintf(cmd, sizeof(cmd), "'%s' frobnicate 2>&1", h_bin("llmq"));
    CHECK_EQ(h_run(cmd, out, sizeof(out)), 2);
    snprintf(cmd, sizeof(cmd), "'%s' status --state-file /nonexistent/x.json 2>&1", h_bin("llmq"));
    CHECK_EQ(h_run(cmd, out, sizeof(out)), 2);
    CHECK(strstr(out, "no running") != NULL);
}

static void test_child_failing_at_start(void)
{
    struct h_up u;
    const char *args[] = { gw_arg, wk_arg, "--ready-timeout-ms", "15000", NULL };
    setenv("FAKE_FAIL", "llmq-worker", 1);
    uint64_t t0 = h_now_ms();
    CHECK(h_up_start(&u, args, 20000) < 0);
    CHECK(h_now_ms() - t0 < 15000);
    unsetenv("FAKE_FAIL");
}

/* --autoscale: queue lag read from XINFO GROUPS drives the worker count through the HPA rule. */
static void test_autoscale(void)
{
    struct h_up u;
    const char *args[] = { gw_arg, wk_arg, "--autoscale", "1:3", "--autoscale-sync-ms", "200",
                           "--autoscale-down-window-s", "0", NULL };
    if (h_up_start(&u, args, 20000) < 0) { CHECK(0); return; }
    json_t *j = json_load_file(u.state, 0, NULL);
    const char *url = json_string_value(json_object_get(j, "redis_url"));
    int port = url && strrchr(url, ':') ? atoi(strrchr(url, ':') + 1) : 0;
    json_decref(j);
    pid_t w[8];
    CHECK_EQ(h_up_children(&u, w, 8, "worker-"), 1);
    /* 20 undelivered jobs over two priority lanes: lag 20 in all, target 4 per worker -> 5,
     * capped at 3 (a scaler reading only P jobs would see 8 and want 2) */
    char cmd[800];
    snprintf(cmd, sizeof(cmd), "redis-cli -p %d XGROUP CREATE llmq:jobs workers '$' MKSTREAM >/dev/null && "
             "redis-cli -p %d XGROUP CREATE llmq:jobs:high workers '$' MKSTREAM >/dev/null && "
             "for i in $(seq 8); do redis-cli -p %d XADD llmq:jobs '*' id x$i >/dev/null; done && "
             "for i in $(seq 12); do redis-cli -p %d XADD llmq:jobs:high '*' id h$i >/dev/null; done",
             port, port, port, port);
    CHECK_EQ(h_run(cmd, NULL, 0), 0);
    char out[4096];
    snprintf(cmd, sizeof(cmd), "'%s' status --json --state-file '%s'", h_bin("llmq"), u.state);
    CHECK_EQ(h_run(cmd, out, sizeof(out)), 0);
    json_t *sj = json_loads(out, 0, NULL);
    CHECK_EQ(json_integer_value(json_object_get(sj, "queue_lag")), 20);
    CHECK_EQ(json_integer_value(json_object_get(json_object_get(json_object_get(sj, "lanes"), "high"), "lag")), 12);
    json_decref(sj);
    uint64_t end = h_now_ms() + 8000;
    int n = 1;
    while (h_now_ms() < end && n != 3) { usleep(100000); n = h_up_children(&u, w, 8, "worker-"); }
    CHECK_EQ(n, 3);
    CHECK(h_log_count(&u, "autoscale") >= 1);
    /* A nil lag (an entry after a pending one XDELed) counts as XLEN - pending, not 0: one job
     * delivered on each lane and the last one deleted leave lag 6 + 10 = 16, pending 2 ->
     * still 3 workers (counted as 0 it would be 2 in flight -> 1 worker). */
    snprintf(cmd, sizeof(cmd), "for l in llmq:jobs llmq:jobs:high; do "
             "redis-cli -p %d XREADGROUP GROUP workers w1 COUNT 1 STREAMS $l '>' >/dev/null && "
             "redis-cli -p %d XDEL $l $(redis-cli -p %d XREVRANGE $l + - COUNT 1 | head -1) >/dev/null; done",
             port, port, port);
    CHECK_EQ(h_run(cmd, NULL, 0), 0);
    snprintf(cmd, sizeof(cmd), "redis-cli -p %d XINFO GROUPS llmq:jobs | sed -n '/^lag$/{n;p}'", port);
    CHECK_EQ(h_run(cmd, out, sizeof(out)), 0);
    CHECK(out[0] == 0 || out[0] == '\n');   /* Redis reports nil */
    snprintf(cmd, sizeof(cmd), "'%s' status --json --state-file '%s'", h_bin("llmq"), u.state);
    CHECK_EQ(h_run(cmd, out, sizeof(out)), 0);
    sj = json_loads(out, 0, NULL);
    CHECK_EQ(json_integer_value(json_object_get(sj, "queue_lag")), 16);
    CHECK_EQ(json_integer_value(json_object_get(sj, "queue_pending")), 2);
    json_decref(sj);
    usleep(1500000);   /* several sync periods */
    CHECK_EQ(h_up_children(&u, w, 8, "worker-"), 3);
    /* queue drained: scale down (one pod per period by the default policy) */
    snprintf(cmd, sizeof(cmd), "redis-cli -p %d DEL llmq:jobs llmq:jobs:high >/dev/null", port);
    CHECK_EQ(h_run(cmd, NULL, 0), 0);
    end = h_now_ms() + 8000;
    while (h_now_ms() < end && n == 3) { usleep(100000); n = h_up_children(&u, w, 8, "worker-"); }
    CHECK(n < 3 && n >= 1);
    CHECK_EQ(WEXITSTATUS(h_up_stop(&u, SIGTERM, 20000, 0)), 0);
}

static long long redis_int(int port, const char *args)
{
    char cmd[512], out[128];
    snprintf(cmd, sizeof(cmd), "redis-cli -p %d %s", port, args);
    if (h_run(cmd, out, sizeof(out)) != 0) return -1;
    return strtoll(out, NULL, 10);
}

/* llmq dlq list | retry | purge against entries shaped as the worker writes them. */
static void test_dlq(void)
{
    struct h_up u;
    const char *args[] = { gw_arg, wk_arg, "--prefix", "t:", NULL };
    if (h_up_start(&u, args, 20000) < 0) { CHECK(0); return; }
    json_t *j = json_load_file(u.state, 0, NULL);
    const char *url = json_string_value(json_object_get(j, "redis_url"));
    int port = url && strrchr(url, ':') ? atoi(strrchr(url, ':') + 1) : 0;
    json_decref(j);
    char cmd[1024], out[4096];
    snprintf(cmd, sizeof(cmd), "for i in 1 2; do redis-cli -p %d XADD t:dlq '*' id req$i gw gw-1 "
             "req '{\"kind\":\"completion\",\"prompt\":\"x\"}' error 'gave up after 3 attempts' entry 1-$i >/dev/null; "
             "redis-cli -p %d HSET t:job:req$i state failed attempts 4 >/dev/null; done", port, port);
    CHECK_EQ(h_run(cmd, NULL, 0), 0);
    snprintf(cmd, sizeof(cmd), "'%s' dlq list --state-file '%s'", h_bin("llmq"), u.state);
    CHECK_EQ(h_run(cmd, out, sizeof(out)), 0);
    CHECK(strstr(out, "request req1") && strstr(out, "request req2") && strstr(out, "gave up"));
    snprintf(cmd, sizeof(cmd), "'%s' dlq retry all --state-file '%s'", h_bin("llmq"), u.state);
    CHECK_EQ(h_run(cmd, out, sizeof(out)), 0);
    CHECK(strstr(out, "retried 2 of 2") != NULL);
    CHECK_EQ(redis_int(port, "XLEN t:jobs"), 2);
    CHECK_EQ(redis_int(port, "XLEN t:dlq"), 0);
    CHECK_EQ(h_run("true", NULL, 0), 0);
    snprintf(cmd, sizeof(cmd), "redis-cli -p %d HGET t:job:req1 state", port);
    h_run(cmd, out, sizeof(out));
    CHECK(strncmp(out, "queued", 6) == 0);
    snprintf(cmd, sizeof(cmd), "redis-cli -p %d XADD t:dlq '*' id req3 error x >/dev/null && "
             "'%s' dlq purge --redis-url redis://127.0.0.1:%d --prefix t:", port, h_bin("llmq"), port);
    CHECK_EQ(h_run(cmd, out, sizeof(out)), 0);
    CHECK(strstr(out, "purged 1") != NULL);
    CHECK_EQ(redis_int(port, "XLEN t:dlq"), 0);
    /* As a Redis ACL user (redis://user:pass@host, %XX decoded): AUTH user pass, not AUTH pass. */
    snprintf(cmd, sizeof(cmd), "redis-cli -p %d ACL SETUSER ops on '>p@ss:w' '~t:*' '+@all' >/dev/null && "
             "'%s' dlq list --redis-url 'redis://ops:p%%40ss%%3Aw@127.0.0.1:%d' --prefix t: 2>&1",
             port, h_bin("llmq"), port);
    CHECK_EQ(h_run(cmd, out, sizeof(out)), 0);
    CHECK(strstr(out, "WRONGPASS") == NULL);
    snprintf(cmd, sizeof(cmd), "'%s' dlq list --redis-url 'redis://ops:nope@127.0.0.1:%d' --prefix t: 2>&1",
             h_bin("llmq"), port);
    CHECK(h_run(cmd, out, sizeof(out)) != 0);
    CHECK(strstr(out, "WRONGPASS") != NULL);
    snprintf(cmd, sizeof(cmd), "'%s' dlq frob --state-file '%s' 2>&1", h_bin("llmq"), u.state);
    CHECK_EQ(h_run(cmd, out, sizeof(out)), 2);
    CHECK_EQ(WEXITSTATUS(h_up_stop(&u, SIGTERM, 20000, 0)), 0);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    if (access("/usr/bin/redis-server", X_OK) != 0 && system("command -v redis-server >/dev/null") != 0) {
        fprintf(stderr, "SKIP: redis-server not installed\n");
        printf("0 passed, 0 failed, 1 skipped\n");
        return 0;
    }
    if (!h_bin("llmq") || setup() < 0) { fprintf(stderr, "setup failed (LLMQ_BIN_DIR?)\n"); return 1; }
    TEST_RUN(test_bad_flags);
    TEST_RUN(test_start_status_restart_stop);
    TEST_RUN(test_children_die_with_supervisor);
    TEST_RUN(test_child_failing_at_start);
    TEST_RUN(test_autoscale);
    TEST_RUN(test_dlq);
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", fake_dir);
    if (system(cmd) != 0) { /* best effort */ }
    TEST_MAIN_END();
}
