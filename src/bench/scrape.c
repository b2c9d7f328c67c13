/* scrape.c -- platform counters for the cost report (see scrape.h). Snapshots run on a
 * private libuv loop with hget.c, so a dead endpoint costs at most the timeout. */
#include "bench/scrape.h"

#include <ctype.h>
#include <errno.h>
#include <hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench/client.h"
#include "common/xalloc.h"

int scrape_prom_sum(const char *text, size_t len, const char *name, double *out)
{
    size_t nl = strlen(name);
    int found = 0;
    double sum = 0;
    const char *p = text, *end = text + len;
    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        if (!eol) eol = end;
        if ((size_t)(eol - p) > nl && *p != '#' && !memcmp(p, name, nl) &&
            (p[nl] == ' ' || p[nl] == '{')) {
            const char *q = p + nl;
            if (*q == '{') {
                int inq = 0;
                for (q++; q < eol; q++) {            /* label values may hold '}' when quoted */
                    if (*q == '\\' && inq) { q++; continue; }
                    if (*q == '"') inq = !inq;
                    else if (*q == '}' && !inq) { q++; break; }
                }
            }
            char tmp[64];
            while (q < eol && *q == ' ') q++;
            size_t vl = 0;
            while (q + vl < eol && q[vl] != ' ' && vl < sizeof(tmp) - 1) vl++;
            memcpy(tmp, q, vl);
            tmp[vl] = '\0';
            char *e;
            double v = strtod(tmp, &e);
            if (e != tmp) {
                sum += v;
                found++;
            }
        }
        p = eol + 1;
    }
    if (found) *out = sum;
    return found;
}

double scrape_pid_cpu_s(int pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof(path), "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *p = strrchr(buf, ')');          /* comm may contain spaces */
    if (!p) return -1;
    unsigned long long ut = 0, st = 0;
    /* after ")": state(3) ... utime is field 14, stime 15 */
    if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
        return -1;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static redisContext *redis_open(const char *host_port, int timeout_ms)
{
    char host[256];
    int port = 6379;
    if (!strncmp(host_port, "redis://", 8)) host_port += 8;
    snprintf(host, sizeof(host), "%s", host_port);
    char *slash = strchr(host, '/');
    if (slash) *slash = '\0';
    char *at = strrchr(host, '@');               /* redis://user:pass@host: auth not supported */
    if (at) memmove(host, at + 1, strlen(at + 1) + 1);
    char *colon = strrchr(host, ':');
    if (colon) {
        *colon = '\0';
        port = atoi(colon + 1);
    }
    struct timeval tv = { timeout_ms / 1000, (timeout_ms % 1000) * 1000 };
    redisContext *c = redisConnectWithTimeout(host, port, tv);
    if (!c || c->err) {
        if (c) redisFree(c);
        return NULL;
    }
    redisSetTimeout(c, tv);
    return c;
}

int scrape_redis_ops(const char *host_port, double *ops)
{
    redisContext *c = redis_open(host_port, 2000);
    if (!c) return -ECONNREFUSED;
    redisReply *r = redisCommand(c, "INFO stats");
    int rc = -EPROTO;
    if (r && r->type == REDIS_REPLY_STRING) {
        const char *k = strstr(r->str, "total_commands_processed:");
        if (k) {
            *ops = strtod(k + strlen("total_commands_processed:"), NULL);
            rc = 0;
        }
    }
    if (r) freeReplyObject(r);
    redisFree(c);
    return rc;
}

int scrape_redis_workers(const char *host_port, const char *prefix, char **urls, int cap)
{
    if (!prefix) prefix = "llmq:";
    redisContext *c = redis_open(host_port, 1000);
    if (!c) return -ECONNREFUSED;
    int live = 0;
    redisReply *ids = redisCommand(c, "SMEMBERS %sworkers", prefix);
    if (!ids || ids->type != REDIS_REPLY_ARRAY) {
        if (ids) freeReplyObject(ids);
        redisFree(c);
        return -EPROTO;
    }
    for (size_t i = 0; i < ids->elements; i++) {
        if (ids->element[i]->type != REDIS_REPLY_STRING) continue;
        redisReply *hb = redisCommand(c, "GET %sworker:%s", prefix, ids->element[i]->str);
        if (hb && hb->type == REDIS_REPLY_STRING) {
            live++;
            const char *m = strstr(hb->str, "\"metrics\":\"");
            if (m && live <= cap) {
                m += 11;
                size_t n = strcspn(m, "\"");
                char *u = xmalloc(n + 32);
                snprintf(u, n + 32, "http://%.*s/metrics", (int)n, m);
                urls[live - 1] = u;
            }
            else if (live <= cap) urls[live - 1] = NULL;
        }
        if (hb) freeReplyObject(hb);
    }
    freeReplyObject(ids);
    redisFree(c);
    return live;
}

/* ---- snapshot ---- */

struct target {
    struct scrape_snap *snap;
    int worker;                  /* 0 gateway, 1 worker */
};

static void on_metrics(void *ud, int status, const char *body, size_t len)
{
    struct target *t = ud;
    struct scrape_snap *s = t->snap;
    if (status != 200) {
        s->endpoints_failed++;
        return;
    }
    s->endpoints_ok++;
    double v;
    if (scrape_prom_sum(body, len, "llmq_engine_busy_seconds_total", &v)) {
        s->engine_busy_s += v;
        s->have_busy = 1;
    }
    if (scrape_prom_sum(body, len, "process_cpu_seconds_total", &v) ||
        scrape_prom_sum(body, len, "llmq_process_cpu_seconds", &v)) {
        if (t->worker) {
            s->worker_cpu_s += v;
            s->have_worker_cpu = 1;
        } else {
            s->gateway_cpu_s += v;
            s->have_gateway_cpu = 1;
        }
    }
    if (!t->worker) {
        if (scrape_prom_sum(body, len, "llmq_queue_depth", &v)) {
            s->queue_depth += v;
            s->have_queue = 1;
        }
        if (scrape_prom_sum(body, len, "llmq_workers", &v) ||
            scrape_prom_sum(body, len, "llmq_workers_live", &v)) {
            if (!s->have_workers || v > s->workers) s->workers = v;
            s->have_workers = 2;       /* from a gauge: preferred over counting endpoints */
        }
    } else if (s->have_workers == 0 || s->have_workers == 1) {
        s->workers += 1;
        s->have_workers = 1;
    }
}

/* Splits "http://host:port/path" for hget; returns 0 or -EINVAL. */
static int split_url(const char *url, struct client_url *u, char *path, size_t path_cap)
{
    if (client_url_parse(u, url) < 0) return -EINVAL;
    const char *p = strstr(url, "://");
    p = p ? strchr(p + 3, '/') : NULL;
    snprintf(path, path_cap, "%s", p ? p : "/metrics");
    return 0;
}

static void fire_list(uv_loop_t *loop, const char *list, int worker, struct scrape_snap *snap,
                      double timeout_s, struct target *slots, int *n_slots, int cap)
{
    if (!list || !*list) return;
    char *copy = xstrdup(list), *save = NULL;
    for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        struct client_url u;
        char path[512], host[300];
        if (*n_slots >= cap || split_url(tok, &u, path, sizeof(path)) < 0) {
            snap->endpoints_failed++;
            continue;
        }
        struct target *t = &slots[(*n_slots)++];
        t->snap = snap;
        t->worker = worker;
        snprintf(host, sizeof(host), "%s:%d", u.host, u.port);
        if (hget_start(loop, (const struct sockaddr *)&u.addr, host, path, timeout_s, on_metrics,
                       t) < 0)
            snap->endpoints_failed++;
    }
    free(copy);
}

static void add_pids(const char *list, double *sum, int *have)
{
    if (!list || !*list) return;
    char *copy = xstrdup(list), *save = NULL;
    for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        double v = scrape_pid_cpu_s(atoi(tok));
        if (v >= 0) {
            *sum += v;
            *have = 1;
        }
    }
    free(copy);
}

void scrape_snapshot(const struct scrape_targets *t, double timeout_s, struct scrape_snap *out)
{
    memset(out, 0, sizeof(*out));
    uv_loop_t loop;
    struct target slots[64];
    int n = 0;
    uv_loop_init(&loop);
    fire_list(&loop, t->gateway_urls, 0, out, timeout_s, slots, &n, 64);
    fire_list(&loop, t->worker_urls, 1, out, timeout_s, slots, &n, 64);
    struct buf found;
    buf_init(&found);
    if ((!t->worker_urls || !*t->worker_urls) && t->redis && *t->redis) {
        char *urls[32] = { 0 };
        int live = scrape_redis_workers(t->redis, t->prefix, urls, 32);
        for (int i = 0; i < live && i < 32; i++) {
            if (urls[i]) buf_printf(&found, "%s%s", found.len ? "," : "", urls[i]);
            free(urls[i]);
        }
        if (found.len) fire_list(&loop, found.data, 1, out, timeout_s, slots, &n, 64);
        if (live >= 0) {
            out->workers = live;
            out->have_workers = 2;       /* the registry is the authority on live workers */
        }
    }
    buf_deinit(&found);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    /* local pids, when given, win over /metrics: gateways sharing a port answer /metrics one
     * at a time, while /proc sees every process */
    double v = 0;
    int have = 0;
    add_pids(t->gateway_pids, &v, &have);
    if (have) {
        out->gateway_cpu_s = v;
        out->have_gateway_cpu = 1;
    }
    v = 0;
    have = 0;
    add_pids(t->worker_pids, &v, &have);
    if (have) {
        out->worker_cpu_s = v;
        out->have_worker_cpu = 1;
    }
    if (t->redis && *t->redis && scrape_redis_ops(t->redis, &out->redis_ops) == 0)
        out->have_redis = 1;
}
