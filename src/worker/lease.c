/* lease.c -- the once-a-second duties: refresh the lease of every job held (XCLAIM .. 0
 * <ids> JUSTID resets their idle time without counting a delivery), take over jobs whose
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
    int n = 0, cap = 6 + w->n_slots;
    const char **argv = xmalloc((size_t)cap * sizeof(*argv));
    char idle[8] = "0";
    argv[n++] = "XCLAIM";
    argv[n++] = w->jobs_key;
    argv[n++] = KEYS_GROUP;
    argv[n++] = w->cfg.id;
    argv[n++] = idle;
    for (struct slot *s = w->slots; s; s = s->next) argv[n++] = s->entry;
    argv[n++] = "JUSTID";
    rconn_command_argv(w->cmd, NULL, NULL, n, argv, NULL);
    free(argv);
}

void lease_heartbeat(struct worker *w)
{
    uint64_t now = clock_mono_us();
    uint64_t tokens = (uint64_t)metric_value(w->m_tokens);
    if (w->tokens_last_us && now > w->tokens_last_us)
        w->tokens_per_s = (double)(tokens - w->tokens_last) * 1e6 / (double)(now - w->tokens_last_us);
    w->tokens_last = tokens;
    w->tokens_last_us = now;
    struct buf j;
    buf_init(&j);
    buf_printf(&j, "{\"model\":\"");
    buf_append_json_str(&j, w->model_name, strlen(w->model_name));
    buf_printf(&j, "\",\"engine\":\"");
    buf_append_json_str(&j, w->cfg.engine, strlen(w->cfg.engine));
    buf_printf(&j, "\",\"max_batch\":%d,\"batch\":%d,\"tokens_per_s\":%.1f,\"metrics\":\"%s:%d\","
                   "\"draining\":%s,\"ts_us\":%llu}",
               w->max_batch, w->n_running, w->tokens_per_s, w->host, w->admin_port,
               w->draining ? "true" : "false", (unsigned long long)clock_wall_us());
    const char *argv[] = { "SET", w->worker_key, j.data, "PX", "3000" };
    size_t lens[] = { 3, strlen(w->worker_key), j.len, 2, 4 };
    rconn_command_argv(w->cmd, NULL, NULL, 5, argv, lens);
    rconn_command(w->cmd, NULL, NULL, "SADD %s %s", w->workers_key, w->cfg.id);
    buf_deinit(&j);
}

void lease_tick(struct worker *w)
{
    metric_set(w->m_redis_up, rconn_connected(w->cmd));
    if (w->stopping || !rconn_connected(w->cmd)) return;
    refresh_leases(w);
    pull_autoclaim(w);
    lease_heartbeat(w);
}
