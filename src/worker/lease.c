/* lease.c -- the once-a-second duties: refresh the lease of every job held (XCLAIM .. 0
 * <ids> JUSTID resets their idle time without counting a delivery; one per priority lane
 * that holds any of them), take over jobs whose
 * lease expired (pull_autoclaim), and the heartbeat P worker:<id> (PX 3000) + P workers. */
#include "worker/worker.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/xalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void refresh_leases(struct worker *w)
{
    if (!w->n_slots) return;
    int cap = 6 + w->n_slots;
    const char **argv = xmalloc((size_t)cap * sizeof(*argv));
    for (int lane = 0; lane < KEYS_LANES; lane++) {
        int n = 0;
        argv[n++] = "XCLAIM";
        argv[n++] = w->lanes[lane].key;
        argv[n++] = KEYS_GROUP;
        argv[n++] = w->cfg.id;
        argv[n++] = "0";
        for (struct slot *s = w->slots; s; s = s->next)
            if (s->lane == lane) argv[n++] = s->entry;
        if (n == 5) continue; /* nothing held in this lane */
        argv[n++] = "JUSTID";
        rconn_command_argv(w->cmd, NULL, NULL, n, argv, NULL);
    }
    free(argv);
}

void lease_heartbeat(struct worker *w)
{
    uint64_t now = clock_mono_us();
    uint64_t tokens = (uint64_t)metric_value(w->m_tokens);
    if (w->tokens_last_us && now > w->tokens_last_us)
        w->tokens_per_s =
            (double)(tokens - w->tokens_last) * 1e6 / (double)(now - w->tokens_last_us);
    w->tokens_last = tokens;
    w->tokens_last_us = now;
    struct buf j;
    buf_init(&j);
    buf_printf(&j, "{\"model\":\"");
    buf_append_json_str(&j, w->model_name, strlen(w->model_name));
    buf_printf(&j, "\",\"engine\":\"");
    buf_append_json_str(&j, w->cfg.engine, strlen(w->cfg.engine));
    buf_printf(&j,
               "\",\"max_batch\":%d,\"batch\":%d,\"tokens_per_s\":%.1f,\"metrics\":\"%s:%d\","
               "\"draining\":%s,\"ts_us\":%llu}",
               w->max_batch, w->n_running, w->tokens_per_s, w->host, w->admin_port,
               w->draining ? "true" : "false", (unsigned long long)clock_wall_us());
    const char *argv[] = {"SET", w->worker_key, j.data, "PX", "3000"};
    size_t lens[] = {3, strlen(w->worker_key), j.len, 2, 4};
    rconn_command_argv(w->cmd, NULL, NULL, 5, argv, lens);
    rconn_command(w->cmd, NULL, NULL, "SADD %s %s", w->workers_key, w->cfg.id);
    buf_deinit(&j);
}

/* Consumers of workers long gone (every incarnation has a new id) would pile up in the group.
 * One that holds nothing and has not touched the stream for an hour is deleted: a live worker
 * reads or claims every second, and with no pending entries nothing can be lost. */
#ifndef CONSUMER_GONE_MS
#define CONSUMER_GONE_MS 3600000LL /* overridable at build time, for tests */
#endif
#ifndef CONSUMER_SWEEP_TICKS
#define CONSUMER_SWEEP_TICKS 60
#endif

static void on_consumers(redisAsyncContext *ac, void *reply, void *priv)
{
    struct lane *l = priv;
    struct worker *w = l->w;
    redisReply *r = reply;
    if (!r || r->type != REDIS_REPLY_ARRAY || w->stopping) return;
    for (size_t i = 0; i < r->elements; i++) {
        const redisReply *c = r->element[i];
        const char *name = NULL;
        long long pending = -1, idle = -1;
        for (size_t k = 0; c->type == REDIS_REPLY_ARRAY && k + 1 < c->elements; k += 2) {
            const redisReply *key = c->element[k], *val = c->element[k + 1];
            if (key->type != REDIS_REPLY_STRING) continue;
            if (!strcmp(key->str, "name") && val->type == REDIS_REPLY_STRING)
                name = val->str;
            else if (!strcmp(key->str, "pending") && val->type == REDIS_REPLY_INTEGER)
                pending = val->integer;
            else if (!strcmp(key->str, "idle") && val->type == REDIS_REPLY_INTEGER)
                idle = val->integer;
        }
        if (name && pending == 0 && idle > CONSUMER_GONE_MS && strcmp(name, w->cfg.id)) {
            log_info("removing consumer %s from group %s of %s (idle %lld s, nothing pending)",
                     name, KEYS_GROUP, l->key, idle / 1000);
            rconn_command(w->cmd, NULL, NULL, "XGROUP DELCONSUMER %s %s %s", l->key, KEYS_GROUP,
                          name);
        }
    }
}

void lease_tick(struct worker *w)
{
    static unsigned ticks;
    metric_set(w->m_redis_up, rconn_connected(w->cmd));
    if (w->stopping || !rconn_connected(w->cmd)) return;
    refresh_leases(w);
    pull_autoclaim(w);
    lease_heartbeat(w);
    if (++ticks % CONSUMER_SWEEP_TICKS == 0) {
        pull_lanes_init(w);
        for (int i = 0; i < KEYS_LANES; i++)
            rconn_command(w->cmd, on_consumers, &w->lanes[i], "XINFO CONSUMERS %s %s",
                          w->lanes[i].key, KEYS_GROUP);
    }
}
