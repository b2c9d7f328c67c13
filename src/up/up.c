/* up.c -- `llmq up`: the embedded platform on one machine. Starts a private redis-server
 * (unless --redis-url), N gateways sharing one port (SO_REUSEPORT) and M workers, waits until
 * they are ready, prints the URL, then supervises: a child that dies is restarted with
 * backoff and the reason is logged; with --autoscale the worker count follows the queue lag.
 * SIGINT/SIGTERM stops everything in order (gateways drain first, then workers, then Redis).
 * It does not proxy traffic: clients talk to the gateways directly. */
#include "up/up.h"

#include "up/child.h"
#include "up/lanes.h"
#include "up/net.h"
#include "up/state.h"
#include "common/buf.h"
#include "common/cfg.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "up/autoscale.h"

#include <errno.h>
#include <glob.h>
#include <hiredis/hiredis.h>
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define UP_MAX_GATEWAYS 64
#define UP_MAX_WORKERS 256
#define UP_BACKOFF_MAX_MS 10000
#define UP_STABLE_US (30u * 1000000u)   /* running this long resets a child's backoff */

/* ---------------------------------------------------------------- configuration */

struct up_cfg {
    long long port, gateways, workers, drain_timeout_ms, ready_timeout_ms;
    long long autoscale_sync_ms, autoscale_down_window_s;
    char *host, *engine, *model, *redis_url, *prefix, *autoscale, *state_file, *redis_server;
    char *gateway_bin, *worker_bin;
};

struct up {
    struct up_cfg cfg;
    char bin_dir[PATH_MAX];
    char gateway_bin[PATH_MAX], worker_bin[PATH_MAX];
    char tmp_dir[PATH_MAX];          /* owned temp dir (redis data); removed at exit */
    char redis_url[256];             /* the one in use (ours or --redis-url) */
    char state_path[PATH_MAX];
    char id[32];                     /* this supervisor's id, part of worker ids */
    int port;                        /* the gateways' port, resolved when --port 0 */
    int own_redis;
    struct child redis;
    struct child gateways[UP_MAX_GATEWAYS];
    int n_gateways;
    struct child workers[UP_MAX_WORKERS];
    int n_workers;                   /* slots in use (running or backing off) */
    int worker_seq;                  /* incarnation counter for unique worker ids */
    int workers_min, workers_max;    /* autoscale bounds; equal when off */
    struct cfg_rest rest;            /* flags we do not know: passed to whoever knows them */
    struct buf gateway_flags, worker_flags;   /* "--a --b " flag names each binary knows */
    sigset_t sigs;
    int stop;                        /* 1 = graceful stop requested, 2 = hurry */
    uint64_t last_scale_us;
    struct autoscale *as;            /* the HPA rule (d1's autoscale.c); NULL when off */
};

/* ---------------------------------------------------------------- helpers */

static void find_binaries(struct up *u)
{
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    const char *env = getenv("LLMQ_BIN_DIR");
    u->bin_dir[0] = 0;
    if (n > 0) {
        self[n] = 0;
        char *slash = strrchr(self, '/');
        if (slash) { *slash = 0; snprintf(u->bin_dir, sizeof(u->bin_dir), "%s", self); }
    }
    const char *names[2] = { "llmq-gateway", "llmq-worker" };
    char *outs[2] = { u->gateway_bin, u->worker_bin };
    for (int i = 0; i < 2; i++) {
        char p[2 * PATH_MAX];
        snprintf(outs[i], PATH_MAX, "%s", names[i]);          /* fallback: $PATH */
        const char *dirs[2] = { u->bin_dir, env };
        for (int d = 0; d < 2; d++) {
            if (!dirs[d] || !*dirs[d]) continue;
            snprintf(p, sizeof(p), "%s/%s", dirs[d], names[i]);
            if (strlen(p) < PATH_MAX && access(p, X_OK) == 0) { memcpy(outs[i], p, strlen(p) + 1); break; }
        }
    }
}

/* Runs `bin --help` and collects the "--flag" names it prints into out ("--a --b "), so
 * unknown `llmq up` flags can be routed to the binary that understands them. */
static int learn_flags(const char *bin, struct buf *out)
{
    char cmd[PATH_MAX + 32];
    snprintf(cmd, sizeof(cmd), "'%s' --help 2>&1", bin);
    FILE *p = popen(cmd, "r");
    if (!p) return -errno;
    char line[1024];
    while (fgets(line, sizeof(line), p)) {
        for (char *s = line; (s = strstr(s, "--")) != NULL;) {
            char *e = s + 2;
            while ((*e >= 'a' && *e <= 'z') || (*e >= '0' && *e <= '9') || *e == '-') e++;
            if (e > s + 2) {
                buf_append(out, s, (size_t)(e - s));
                buf_append_char(out, ' ');
            }
            s = e;
        }
    }
    int st = pclose(p);
    if (st == -1 || !WIFEXITED(st) || WEXITSTATUS(st) == 127) return -ENOENT;
    return 0;
}

static int knows_flag(const struct buf *flags, const char *flag, size_t len)
{
    char want[128];
    if (len + 2 >= sizeof(want) || !flags->data) return 0;
    snprintf(want, sizeof(want), "%.*s ", (int)len, flag);
    for (const char *s = flags->data; (s = strstr(s, want)) != NULL; s++)
        if (s == flags->data || s[-1] == ' ') return 1;
    return 0;
}

/* Appends the pass-through flags that the binary with this flag list understands. */
static void add_rest_flags(struct up *u, struct child *c, const struct buf *flags)
{
    for (int i = 0; i < u->rest.argc; i++) {
        const char *a = u->rest.argv[i];
        if (strncmp(a, "--", 2) != 0) continue;
        const char *eq = strchr(a, '=');
        size_t len = eq ? (size_t)(eq - a) : strlen(a);
        int has_value = !eq && i + 1 < u->rest.argc && strncmp(u->rest.argv[i + 1], "--", 2) != 0;
        if (knows_flag(flags, a, len)) {
            child_arg(c, a);
            if (has_value) child_arg(c, u->rest.argv[i + 1]);
        }
        if (has_value) i++;
    }
}

static int check_rest_flags(struct up *u, struct err *e)
{
    for (int i = 0; i < u->rest.argc; i++) {
        const char *a = u->rest.argv[i];
        if (strncmp(a, "--", 2) != 0)
            return err_set(e, -EINVAL, "unexpected argument '%s' (see llmq up --help)", a);
        const char *eq = strchr(a, '=');
        size_t len = eq ? (size_t)(eq - a) : strlen(a);
        if (!knows_flag(&u->gateway_flags, a, len) && !knows_flag(&u->worker_flags, a, len))
            return err_set(e, -EINVAL, "unknown flag '%.*s': neither llmq up, llmq-gateway nor "
                           "llmq-worker takes it (see their --help)", (int)len, a);
        if (!eq && i + 1 < u->rest.argc && strncmp(u->rest.argv[i + 1], "--", 2) != 0) i++;
    }
    return 0;
}

static void rm_rf(const char *dir)
{
    if (!dir[0]) return;
    char cmd[PATH_MAX + 32];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (system(cmd) != 0) log_warn("could not remove %s", dir);
}

/* Removes temp dirs of earlier `llmq up`s that were killed with SIGKILL (they could not clean
 * up): every llmq-up-XXXXXX dir under tmp whose owner.pid names a process that is gone. */
static void sweep_stale(const char *tmp)
{
    char pattern[PATH_MAX];
    snprintf(pattern, sizeof(pattern), "%s/llmq-up-*/owner.pid", tmp);
    glob_t g;
    if (glob(pattern, 0, NULL, &g) != 0) return;
    for (size_t i = 0; i < g.gl_pathc; i++) {
        FILE *f = fopen(g.gl_pathv[i], "r");
        long pid = 0;
        if (f) { if (fscanf(f, "%ld", &pid) != 1) pid = 0; fclose(f); }
        if (pid <= 0 || (kill((pid_t)pid, 0) < 0 && errno == ESRCH)) {
            char dir[PATH_MAX];
            snprintf(dir, sizeof(dir), "%s", g.gl_pathv[i]);
            char *slash = strrchr(dir, '/');
            if (slash) { *slash = 0; rm_rf(dir); }
        }
    }
    globfree(&g);
}

static void write_state(struct up *u)
{
    json_t *j = json_object();
    char url[300];
    snprintf(url, sizeof(url), "http://%s:%d", strcmp(u->cfg.host, "0.0.0.0") ? u->cfg.host : "127.0.0.1", u->port);
    json_object_set_new(j, "pid", json_integer(getpid()));
    json_object_set_new(j, "url", json_string(url));
    json_object_set_new(j, "redis_url", json_string(u->redis_url));
    json_object_set_new(j, "prefix", json_string(u->cfg.prefix));
    json_object_set_new(j, "engine", json_string(u->cfg.engine));
    json_t *kids = json_array();
    struct child *all[1 + UP_MAX_GATEWAYS + UP_MAX_WORKERS];
    int n = 0;
    if (u->own_redis) all[n++] = &u->redis;
    for (int i = 0; i < u->n_gateways; i++) all[n++] = &u->gateways[i];
    for (int i = 0; i < u->n_workers; i++) all[n++] = &u->workers[i];
    for (int i = 0; i < n; i++) {
        json_t *k = json_object();
        json_object_set_new(k, "name", json_string(all[i]->name));
        json_object_set_new(k, "pid", json_integer(all[i]->pid));
        json_object_set_new(k, "restarts", json_integer(all[i]->restarts));
        json_array_append_new(kids, k);
    }
    json_object_set_new(j, "children", kids);
    char tmp[PATH_MAX + 8];
    snprintf(tmp, sizeof(tmp), "%s.tmp", u->state_path);
    if (json_dump_file(j, tmp, JSON_INDENT(1)) == 0) rename(tmp, u->state_path);
    json_decref(j);
}

/* ---------------------------------------------------------------- children */

static void start_child(struct up *u, struct child *c)
{
    int rc = child_start(c);
    if (rc < 0) {
        log_error("%s: fork failed: %s", c->name, err_str(rc));
        c->restart_at_us = clock_mono_us() + (uint64_t)c->backoff_ms * 1000u;
    }
}

static void redis_init(struct up *u, int port)
{
    char sport[16], dir[PATH_MAX + 16], logf[PATH_MAX + 32];
    snprintf(sport, sizeof(sport), "%d", port);
    snprintf(dir, sizeof(dir), "%s/redis", u->tmp_dir);
    mkdir(dir, 0700);
    snprintf(logf, sizeof(logf), "%s/redis.log", dir);
    char *argv[] = { u->cfg.redis_server, "--port", sport, "--bind", "127.0.0.1",
                     "--dir", dir, "--logfile", logf, "--daemonize", "no",
                     "--appendonly", "yes", "--appendfsync", "everysec", "--save", "",
                     "--protected-mode", "yes", NULL };
    child_init(&u->redis, "redis", argv);
    snprintf(u->redis_url, sizeof(u->redis_url), "redis://127.0.0.1:%d", port);
}

static void gateway_init(struct up *u, int i)
{
    struct child *c = &u->gateways[i];
    char name[32], sport[16];
    snprintf(name, sizeof(name), "gateway-%d", i);
    snprintf(sport, sizeof(sport), "%d", u->port);
    char *argv[] = { u->gateway_bin, "--port", sport, "--host", u->cfg.host,
                     "--redis-url", u->redis_url, "--prefix", u->cfg.prefix, NULL };
    child_init(c, name, argv);
    if (knows_flag(&u->gateway_flags, "--drain-timeout-ms", 18)) {
        char d[32];
        snprintf(d, sizeof(d), "%lld", u->cfg.drain_timeout_ms);
        child_arg(c, "--drain-timeout-ms");
        child_arg(c, d);
    }
    add_rest_flags(u, c, &u->gateway_flags);
}

/* (Re)builds a worker slot's argv with a fresh id: a restarted worker is a new consumer,
 * and its predecessor's pending jobs are reclaimed through the lease like any dead worker's. */
static void worker_init(struct up *u, int i)
{
    struct child *c = &u->workers[i];
    int restarts = c->argv ? c->restarts : 0, backoff = c->argv ? c->backoff_ms : 200;
    if (c->argv) child_deinit(c);
    char name[32], id[96];
    snprintf(name, sizeof(name), "worker-%d", i);
    snprintf(id, sizeof(id), "%s-w%d", u->id, u->worker_seq++);
    char *argv[] = { u->worker_bin, "--redis-url", u->redis_url, "--prefix", u->cfg.prefix,
                     "--engine", u->cfg.engine, NULL };
    child_init(c, name, argv);
    c->restarts = restarts;
    c->backoff_ms = backoff;
    if (u->cfg.model && *u->cfg.model) { child_arg(c, "--model"); child_arg(c, u->cfg.model); }
    if (knows_flag(&u->worker_flags, "--id", 4)) { child_arg(c, "--id"); child_arg(c, id); }
    if (knows_flag(&u->worker_flags, "--drain-timeout-ms", 18)) {
        char d[32];
        snprintf(d, sizeof(d), "%lld", u->cfg.drain_timeout_ms);
        child_arg(c, "--drain-timeout-ms");
        child_arg(c, d);
    }
    add_rest_flags(u, c, &u->worker_flags);
}

static const char *worker_id(const struct child *c)
{
    for (int i = 0; i + 1 < c->argc; i++)
        if (!strcmp(c->argv[i], "--id")) return c->argv[i + 1];
    return NULL;
}

static struct child *find_pid(struct up *u, pid_t pid)
{
    if (u->own_redis && u->redis.pid == pid) return &u->redis;
    for (int i = 0; i < u->n_gateways; i++) if (u->gateways[i].pid == pid) return &u->gateways[i];
    for (int i = 0; i < u->n_workers; i++) if (u->workers[i].pid == pid) return &u->workers[i];
    return NULL;
}

/* Collects every exited child; schedules a restart for those that died on their own. */
static void reap(struct up *u)
{
    int st;
    pid_t pid;
    while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
        struct child *c = find_pid(u, pid);
        if (!c) continue;
        c->pid = 0;
        c->last_status = st;
        if (c->stopping || u->stop) continue;
        char why[96];
        child_status_str(st, why, sizeof(why));
        uint64_t now = clock_mono_us();
        if (now - c->started_us > UP_STABLE_US) c->backoff_ms = 200;
        log_warn("%s (pid %d) died: %s; restarting in %d ms (restart %d)", c->name, (int)pid, why,
                 c->backoff_ms, c->restarts + 1);
        c->restart_at_us = now + (uint64_t)c->backoff_ms * 1000u;
        c->backoff_ms = c->backoff_ms * 2 > UP_BACKOFF_MAX_MS ? UP_BACKOFF_MAX_MS : c->backoff_ms * 2;
    }
}

static void restart_due(struct up *u)
{
    uint64_t now = clock_mono_us();
    int changed = 0;
    struct child *all[1 + UP_MAX_GATEWAYS + UP_MAX_WORKERS];
    int n = 0;
    if (u->own_redis) all[n++] = &u->redis;
    for (int i = 0; i < u->n_gateways; i++) all[n++] = &u->gateways[i];
    for (int i = 0; i < u->n_workers; i++) all[n++] = &u->workers[i];
    for (int i = 0; i < n; i++) {
        struct child *c = all[i];
        if (c->pid || !c->restart_at_us || c->restart_at_us > now) continue;
        c->restarts++;
        if (c >= u->workers && c < u->workers + UP_MAX_WORKERS) worker_init(u, (int)(c - u->workers));
        start_child(u, c);
        changed = 1;
    }
    if (changed) write_state(u);
}

/* Waits up to timeout_ms for a signal, reaps and restarts. Returns u->stop. */
static int tick(struct up *u, int timeout_ms)
{
    struct timespec ts = { timeout_ms / 1000, (long)(timeout_ms % 1000) * 1000000L };
    siginfo_t si;
    int sig = sigtimedwait(&u->sigs, &si, &ts);
    if (sig == SIGINT || sig == SIGTERM || sig == SIGHUP) {
        if (u->stop) {
            u->stop = 2;
        } else {
            u->stop = 1;
            log_info("%s: stopping (gateways drain first, then workers, then redis)", strsignal(sig));
        }
    }
    reap(u);
    if (!u->stop) restart_due(u);
    return u->stop;
}

/* Signals every running child of the list, then waits up to timeout_ms for them to exit;
 * what is left gets SIGKILL. A second Ctrl-C cuts the wait short. */
static void stop_children(struct up *u, struct child **cs, int n, int timeout_ms)
{
    for (int i = 0; i < n; i++) {
        cs[i]->stopping = 1;
        cs[i]->restart_at_us = 0;
        child_signal(cs[i], SIGTERM);
    }
    uint64_t deadline = clock_mono_us() + (uint64_t)timeout_ms * 1000u;
    for (;;) {
        int alive = 0;
        for (int i = 0; i < n; i++) alive += cs[i]->pid != 0;
        if (!alive) return;
        if (clock_mono_us() >= deadline || u->stop == 2) break;
        tick(u, 50);
    }
    for (int i = 0; i < n; i++) {
        if (!cs[i]->pid) continue;
        log_warn("%s (pid %d) did not stop in time: killing it", cs[i]->name, (int)cs[i]->pid);
        child_signal(cs[i], SIGKILL);
        int st;
        waitpid(cs[i]->pid, &st, 0);
        cs[i]->pid = 0;
    }
}

/* ---------------------------------------------------------------- readiness */

static int redis_ping(const char *url)
{
    char err[256];
    redisContext *c = net_redis_connect(url, 300, err, sizeof(err));
    if (!c) return 0;
    redisReply *r = redisCommand(c, "PING");
    int ok = r && r->type == REDIS_REPLY_STATUS;
    if (r) freeReplyObject(r);
    redisFree(c);
    return ok;
}

static int workers_alive(struct up *u)
{
    char err[256];
    redisContext *c = net_redis_connect(u->redis_url, 500, err, sizeof(err));
    if (!c) return -1;
    int alive = 0;
    for (int i = 0; i < u->n_workers; i++) {
        const char *id = worker_id(&u->workers[i]);
        if (!id || !u->workers[i].pid) continue;
        redisReply *r = redisCommand(c, "EXISTS %sworker:%s", u->cfg.prefix, id);
        if (r && r->type == REDIS_REPLY_INTEGER && r->integer == 1) alive++;
        if (r) freeReplyObject(r);
    }
    redisFree(c);
    return alive;
}

/* Returns 0 when ready, -ETIMEDOUT, -EINTR (stop requested) or -ECHILD (a child keeps dying). */
static int wait_ready(struct up *u)
{
    uint64_t t0 = clock_mono_us(), deadline = t0 + (uint64_t)u->cfg.ready_timeout_ms * 1000u;
    const char *probe_host = strcmp(u->cfg.host, "0.0.0.0") ? u->cfg.host : "127.0.0.1";
    int stage = u->own_redis ? 0 : 1;
    while (clock_mono_us() < deadline) {
        if (tick(u, 50)) return -EINTR;
        for (int i = 0; i < u->n_gateways; i++)
            if (u->gateways[i].restarts >= 3) return -ECHILD;
        for (int i = 0; i < u->n_workers; i++)
            if (u->workers[i].restarts >= 3) return -ECHILD;
        if (u->own_redis && u->redis.restarts >= 3) return -ECHILD;
        if (stage == 0) {
            if (redis_ping(u->redis_url)) stage = 1;
        } else if (stage == 1) {
            if (net_http_get(probe_host, u->port, "/readyz", 500, NULL) == 200) stage = 2;
        } else {
            int alive = workers_alive(u);
            if (alive >= u->n_workers) return 0;
            /* Workers without heartbeats (or ids) must not block forever: after 15 s the
             * gateways' readiness is enough, with a warning. */
            if (clock_mono_us() - t0 > 15000000u) {
                log_warn("only %d of %d workers sent a heartbeat so far; serving anyway", alive, u->n_workers);
                return 0;
            }
        }
    }
    return -ETIMEDOUT;
}

/* ---------------------------------------------------------------- autoscale */

/* Reads lag (jobs not yet delivered) and pending (delivered, not acked) of group "workers"
 * on every priority lane (XINFO GROUPS + XLEN, pipelined) and sums them with
 * autoscale_queue_totals: a nil lag (Redis cannot compute it once an entry after a pending
 * one was XDELed) counts as XLEN - pending, as in the gateway. Returns 0, or -1 when Redis
 * does not answer. A lane with no stream yet counts 0. */
static int queue_stats(struct up *u, long long *lag, long long *pending)
{
    char err[256];
    redisContext *c = net_redis_connect(u->redis_url, 300, err, sizeof(err));
    if (!c) return -1;
    struct autoscale_lane q[UP_LANES];
    memset(q, 0, sizeof(q));
    for (int lane = 0; lane < UP_LANES; lane++) {
        redisAppendCommand(c, "XINFO GROUPS %sjobs%s", u->cfg.prefix, up_lane_suffix[lane]);
        redisAppendCommand(c, "XLEN %sjobs%s", u->cfg.prefix, up_lane_suffix[lane]);
    }
    int rc = 0;
    for (int lane = 0; lane < UP_LANES && rc == 0; lane++) {
        redisReply *r = NULL, *x = NULL;
        if (redisGetReply(c, (void **)&r) != REDIS_OK || redisGetReply(c, (void **)&x) != REDIS_OK)
            rc = -1;
        for (size_t g = 0; r && r->type == REDIS_REPLY_ARRAY && g < r->elements; g++) {
            redisReply *grp = r->element[g];
            long long glag = -1, gpend = 0;
            int mine = 0;
            for (size_t k = 0; grp->type == REDIS_REPLY_ARRAY && k + 1 < grp->elements; k += 2) {
                const char *key = grp->element[k]->str;
                redisReply *v = grp->element[k + 1];
                if (!key) continue;
                if (!strcmp(key, "name") && v->str && !strcmp(v->str, "workers")) mine = 1;
                if (!strcmp(key, "lag") && v->type == REDIS_REPLY_INTEGER) glag = v->integer;
                if (!strcmp(key, "pending") && v->type == REDIS_REPLY_INTEGER) gpend = v->integer;
            }
            if (mine) {
                q[lane].have_group = 1;
                q[lane].lag = glag;
                q[lane].pending = gpend;
            }
        }
        if (x && x->type == REDIS_REPLY_INTEGER) q[lane].xlen = x->integer;
        if (r) freeReplyObject(r);
        if (x) freeReplyObject(x);
    }
    redisFree(c);
    if (rc < 0) return -1;
    double l, p;
    autoscale_queue_totals(q, UP_LANES, &l, &p);
    *lag = (long long)l;
    *pending = (long long)p;
    return 0;
}

static void autoscale_tick(struct up *u)
{
    if (!u->as) return;
    uint64_t now = clock_mono_us();
    if (now - u->last_scale_us < (uint64_t)autoscale_config(u->as)->sync_period_ms * 1000u) return;
    u->last_scale_us = now;
    long long lag, pending;
    if (queue_stats(u, &lag, &pending) < 0) return;
    double values[AUTOSCALE_M_DEFAULT_COUNT];
    values[AUTOSCALE_M_QUEUE_LAG] = (double)lag;
    values[AUTOSCALE_M_BACKLOG_TOKENS] = NAN;   /* per-gateway; not reachable behind REUSEPORT */
    values[AUTOSCALE_M_IN_FLIGHT] = (double)pending;
    struct autoscale_decision d;
    int want = (int)autoscale_step(u->as, now / 1000u, (uint32_t)u->n_workers, values, &d);
    if (want == u->n_workers) return;
    log_info("autoscale: lag %lld, in flight %lld: workers %d -> %d (%s)", lag, pending,
             u->n_workers, want, d.reason ? d.reason : "");
    while (u->n_workers < want) {
        int i = u->n_workers++;
        memset(&u->workers[i], 0, sizeof(u->workers[i]));
        worker_init(u, i);
        start_child(u, &u->workers[i]);
    }
    if (want < u->n_workers) {
        /* From the top: SIGTERM lets each finish or hand back its jobs. */
        struct child *cs[UP_MAX_WORKERS];
        int n = 0;
        for (int i = want; i < u->n_workers; i++) cs[n++] = &u->workers[i];
        stop_children(u, cs, n, 30000);
        for (int i = want; i < u->n_workers; i++) child_deinit(&u->workers[i]);
        u->n_workers = want;
    }
    write_state(u);
}

/* ---------------------------------------------------------------- llmq up */

static void shutdown_all(struct up *u)
{
    struct child *cs[UP_MAX_WORKERS];
    int n = 0;
    for (int i = 0; i < u->n_gateways; i++) cs[n++] = &u->gateways[i];
    stop_children(u, cs, n, (int)u->cfg.drain_timeout_ms + 3000);
    n = 0;
    for (int i = 0; i < u->n_workers; i++) cs[n++] = &u->workers[i];
    stop_children(u, cs, n, (int)u->cfg.drain_timeout_ms + 5000);
    if (u->own_redis) {
        cs[0] = &u->redis;
        stop_children(u, cs, 1, 5000);
    }
}

int up_main(int argc, char **argv)
{
    struct up *u = xcalloc(1, sizeof(*u));
    struct up_cfg *cf = &u->cfg;
    cf->port = 8000; cf->gateways = 1; cf->workers = 1;
    cf->drain_timeout_ms = 10000; cf->ready_timeout_ms = 120000; cf->autoscale_down_window_s = -1;
    cf->host = "127.0.0.1"; cf->engine = "synthetic"; cf->prefix = "llmq:";
    cf->redis_server = "redis-server";
    const struct cfg_opt opts[] = {
        { "port", CFG_INT, &cf->port, "port the gateways share (0 = pick a free one)" },
        { "host", CFG_STR, &cf->host, "address the gateways listen on" },
        { "gateways", CFG_INT, &cf->gateways, "gateway processes (one event loop each)" },
        { "workers", CFG_INT, &cf->workers, "worker processes (with --autoscale: the start count)" },
        { "engine", CFG_STR, &cf->engine, "worker engine: synthetic | llama | upstream" },
        { "model", CFG_STR, &cf->model, "model file (GGUF) for --engine llama" },
        { "redis-url", CFG_STR, &cf->redis_url, "use this Redis instead of starting a private redis-server" },
        { "gateway-bin", CFG_STR, &cf->gateway_bin, "llmq-gateway binary (default: next to llmq, $LLMQ_BIN_DIR, $PATH)" },
        { "worker-bin", CFG_STR, &cf->worker_bin, "llmq-worker binary (default: next to llmq, $LLMQ_BIN_DIR, $PATH)" },
        { "redis-server", CFG_STR, &cf->redis_server, "redis-server binary to start" },
        { "prefix", CFG_STR, &cf->prefix, "Redis key prefix" },
        { "autoscale", CFG_STR, &cf->autoscale, "MIN:MAX: scale workers on queue lag (HPA rule)" },
        { "autoscale-sync-ms", CFG_INT, &cf->autoscale_sync_ms, "autoscaler sync period (0 = HPA default, 15 s)" },
        { "autoscale-down-window-s", CFG_INT, &cf->autoscale_down_window_s, "scale-down stabilization window (-1 = HPA default, 300 s)" },
        { "drain-timeout-ms", CFG_INT, &cf->drain_timeout_ms, "how long gateways and workers may drain on stop" },
        { "ready-timeout-ms", CFG_INT, &cf->ready_timeout_ms, "how long to wait for readiness at start" },
        { "state-file", CFG_STR, &cf->state_file, "where to write the state `llmq status` reads" },
        { NULL },
    };
    struct err e = { 0 };
    int rc = cfg_parse(opts, argc, argv, 1,
                       "usage: llmq up [options] [worker/gateway flags, e.g. --step-ms 20]\n"
                       "Starts redis-server, gateways and workers on this machine and supervises them.\n"
                       "Flags not listed here go to llmq-gateway and/or llmq-worker, whichever takes them.",
                       &u->rest, &e);
    int status = 2;
    if (rc == 1) { status = 0; goto out; }
    if (rc < 0) { fprintf(stderr, "llmq up: %s\n", e.msg); goto out; }
    log_init("up");

    if (cf->gateways < 1 || cf->gateways > UP_MAX_GATEWAYS) {
        fprintf(stderr, "llmq up: --gateways must be 1..%d\n", UP_MAX_GATEWAYS); goto out;
    }
    if (cf->workers < 0 || cf->workers > UP_MAX_WORKERS) {
        fprintf(stderr, "llmq up: --workers must be 0..%d\n", UP_MAX_WORKERS); goto out;
    }
    if (cf->port < 0 || cf->port > 65535) { fprintf(stderr, "llmq up: --port must be 0..65535\n"); goto out; }
    if (!strcmp(cf->engine, "llama") && (!cf->model || !*cf->model)) {
        fprintf(stderr, "llmq up: --engine llama needs --model PATH (a GGUF file)\n"); goto out;
    }
    if (cf->model && *cf->model && access(cf->model, R_OK) != 0) {
        fprintf(stderr, "llmq up: --model %s: %s\n", cf->model, strerror(errno)); goto out;
    }
    u->workers_min = u->workers_max = (int)cf->workers;
    if (cf->autoscale && *cf->autoscale) {
        struct autoscale_config ac;
        autoscale_config_default(&ac);
        if (autoscale_parse_range(&ac, cf->autoscale) < 0 || ac.max_replicas > UP_MAX_WORKERS) {
            fprintf(stderr, "llmq up: --autoscale wants MIN:MAX with MIN <= MAX, 1 <= MAX <= %d, got '%s'\n",
                    UP_MAX_WORKERS, cf->autoscale);
            goto out;
        }
        if (cf->autoscale_sync_ms > 0) ac.sync_period_ms = (uint32_t)cf->autoscale_sync_ms;
        if (cf->autoscale_down_window_s >= 0) ac.scale_down.stabilization_window_s = (uint32_t)cf->autoscale_down_window_s;
        u->workers_min = (int)ac.min_replicas;
        u->workers_max = (int)ac.max_replicas;
        if (cf->workers < u->workers_min) cf->workers = u->workers_min;
        if (cf->workers > u->workers_max) cf->workers = u->workers_max;
        if (autoscale_new(&u->as, &ac, clock_mono_us() / 1000u, (uint32_t)cf->workers) < 0) {
            fprintf(stderr, "llmq up: --autoscale %s: invalid autoscaler configuration\n", cf->autoscale);
            goto out;
        }
    }

    find_binaries(u);
    if (cf->gateway_bin && *cf->gateway_bin) snprintf(u->gateway_bin, sizeof(u->gateway_bin), "%s", cf->gateway_bin);
    if (cf->worker_bin && *cf->worker_bin) snprintf(u->worker_bin, sizeof(u->worker_bin), "%s", cf->worker_bin);
    if (learn_flags(u->gateway_bin, &u->gateway_flags) < 0 || !u->gateway_flags.len) {
        fprintf(stderr, "llmq up: cannot run %s --help (is llmq-gateway built?)\n", u->gateway_bin); goto out;
    }
    if (learn_flags(u->worker_bin, &u->worker_flags) < 0 || !u->worker_flags.len) {
        fprintf(stderr, "llmq up: cannot run %s --help (is llmq-worker built?)\n", u->worker_bin); goto out;
    }
    if (check_rest_flags(u, &e) < 0) { fprintf(stderr, "llmq up: %s\n", e.msg); goto out; }

    u->port = (int)cf->port;
    if (u->port == 0 && (u->port = net_free_port()) < 0) {
        fprintf(stderr, "llmq up: no free port: %s\n", err_str(u->port)); goto out;
    }
    if ((rc = net_port_check(cf->host, u->port)) < 0) {
        fprintf(stderr, "llmq up: cannot listen on %s:%d: %s%s\n", cf->host, u->port, strerror(-rc),
                rc == -EADDRINUSE ? " (another server has it: stop it or pass --port)" : "");
        goto out;
    }
    snprintf(u->id, sizeof(u->id), "up%d", (int)getpid());
    snprintf(u->state_path, sizeof(u->state_path), "%s",
             cf->state_file && *cf->state_file ? cf->state_file : state_default_path());

    sigemptyset(&u->sigs);
    sigaddset(&u->sigs, SIGINT);
    sigaddset(&u->sigs, SIGTERM);
    sigaddset(&u->sigs, SIGHUP);
    sigaddset(&u->sigs, SIGCHLD);
    sigprocmask(SIG_BLOCK, &u->sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    if (cf->redis_url && *cf->redis_url) {
        snprintf(u->redis_url, sizeof(u->redis_url), "%s", cf->redis_url);
        if (!redis_ping(u->redis_url)) {
            fprintf(stderr, "llmq up: --redis-url %s: no answer to PING\n", u->redis_url); goto out;
        }
    } else {
        const char *tmp = getenv("TMPDIR");
        if (!tmp || !*tmp) tmp = "/tmp";
        sweep_stale(tmp);
        snprintf(u->tmp_dir, sizeof(u->tmp_dir), "%s/llmq-up-XXXXXX", tmp);
        if (!mkdtemp(u->tmp_dir)) {
            fprintf(stderr, "llmq up: cannot create a temp dir: %s\n", strerror(errno));
            u->tmp_dir[0] = 0;
            goto out;
        }
        char owner[PATH_MAX + 16];
        snprintf(owner, sizeof(owner), "%s/owner.pid", u->tmp_dir);
        FILE *of = fopen(owner, "w");
        if (of) { fprintf(of, "%d\n", (int)getpid()); fclose(of); }
        int rport = net_free_port();
        if (rport < 0) { fprintf(stderr, "llmq up: no free port for redis\n"); goto out; }
        u->own_redis = 1;
        redis_init(u, rport);
        start_child(u, &u->redis);
    }
    u->n_gateways = (int)cf->gateways;
    for (int i = 0; i < u->n_gateways; i++) gateway_init(u, i);
    u->n_workers = (int)cf->workers;
    for (int i = 0; i < u->n_workers; i++) worker_init(u, i);

    /* Redis first (the others would only retry), then gateways and workers together. */
    if (u->own_redis) {
        uint64_t deadline = clock_mono_us() + 10000000u;
        while (!redis_ping(u->redis_url)) {
            if (tick(u, 50) || clock_mono_us() > deadline || u->redis.restarts >= 3) {
                fprintf(stderr, "llmq up: redis-server did not start (see %s/redis/redis.log)\n", u->tmp_dir);
                goto stop;
            }
        }
    }
    for (int i = 0; i < u->n_gateways; i++) start_child(u, &u->gateways[i]);
    for (int i = 0; i < u->n_workers; i++) start_child(u, &u->workers[i]);
    write_state(u);

    rc = wait_ready(u);
    if (rc < 0) {
        if (rc == -EINTR) { status = 0; goto stop; }
        fprintf(stderr, "llmq up: %s\n", rc == -ECHILD ? "a gateway or worker keeps dying at start (see the log above)"
                                                       : "not ready in time (see the log above)");
        goto stop;
    }
    write_state(u);
    printf("llmq up: serving http://%s:%d (gateways %d, workers %d%s%s, engine %s, redis %s)\n",
           strcmp(cf->host, "0.0.0.0") ? cf->host : "127.0.0.1", u->port, u->n_gateways, u->n_workers,
           u->workers_min != u->workers_max ? ", autoscale " : "",
           u->workers_min != u->workers_max ? cf->autoscale : "", cf->engine, u->redis_url);
    fflush(stdout);
    log_info("ready: http://%s:%d; Ctrl-C to stop", cf->host, u->port);

    while (!tick(u, 100)) autoscale_tick(u);
    status = 0;
stop:
    shutdown_all(u);
    unlink(u->state_path);
    log_info("stopped");
out:
    rm_rf(u->tmp_dir);
    if (u->own_redis) child_deinit(&u->redis);
    for (int i = 0; i < u->n_gateways; i++) child_deinit(&u->gateways[i]);
    for (int i = 0; i < UP_MAX_WORKERS; i++) if (u->workers[i].argv) child_deinit(&u->workers[i]);
    autoscale_free(u->as);
    buf_deinit(&u->gateway_flags);
    buf_deinit(&u->worker_flags);
    cfg_rest_free(&u->rest);
    cfg_free(opts);
    free(u);
    return status;
}
