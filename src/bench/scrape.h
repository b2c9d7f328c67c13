/* scrape.h -- what the platform itself says it spent, read before and after a run for the
 * cost report: Prometheus /metrics of gateways and workers (engine busy seconds, process
 * CPU, queue depth, worker count), Redis INFO (commands processed) and /proc/<pid>/stat for
 * local processes that export no CPU counter. Also the Prometheus text helper the runner
 * uses for its live queue-depth / worker-count samples. */
#ifndef LLMQ_BENCH_SCRAPE_H
#define LLMQ_BENCH_SCRAPE_H

#include <stddef.h>

/* Sums the samples of every series of metric `name` (any labels) in a Prometheus text
 * exposition; returns how many series matched (0: *out untouched). */
int scrape_prom_sum(const char *text, size_t len, const char *name, double *out);

/* user+system CPU seconds of a local process from /proc/<pid>/stat; < 0 when unreadable. */
double scrape_pid_cpu_s(int pid);

/* Redis INFO stats total_commands_processed from host:port (blocking, 2 s timeout).
 * Returns 0 or a negative code. */
int scrape_redis_ops(const char *host_port, double *ops);

/* Live workers from the Redis worker registry (QUEUE.md: SMEMBERS <prefix>workers, then
 * GET <prefix>worker:<id>, whose JSON has "metrics":"host:port"). Writes up to cap
 * "http://host:port/metrics" URLs (malloc'd, caller frees each) into urls and returns how
 * many workers are live (>= 0), or a negative code. Blocking, 1 s timeout. */
int scrape_redis_workers(const char *host_port, const char *prefix, char **urls, int cap);

/* Targets: comma-separated lists, any may be NULL/"". */
struct scrape_targets {
    const char *gateway_urls;     /* http://h:p/metrics of each gateway */
    const char *worker_urls;      /* http://h:p/metrics of each worker */
    const char *gateway_pids;     /* local pids, CPU from /proc when no process_cpu_seconds */
    const char *worker_pids;
    const char *redis;            /* host:port (also "redis://host:port") */
    const char *prefix;           /* Redis key prefix for worker discovery; NULL = "llmq:" */
};

struct scrape_snap {
    double engine_busy_s;         /* sum of llmq_engine_busy_seconds_total (workers) */
    double gateway_cpu_s;         /* process_cpu_seconds_total of gateways, else /proc */
    double worker_cpu_s;
    double redis_ops;             /* total_commands_processed */
    double workers;               /* live workers in the Redis registry, else endpoints up */
    double queue_depth;           /* llmq_queue_depth */
    int have_busy, have_gateway_cpu, have_worker_cpu, have_redis, have_workers, have_queue;
    int endpoints_ok, endpoints_failed;
};

/* Takes one snapshot (blocking, each endpoint bounded by timeout_s). */
void scrape_snapshot(const struct scrape_targets *t, double timeout_s, struct scrape_snap *out);

#endif
