/* metrics.h -- a Prometheus text-format registry for one process.
 * Series are created once (at start-up, or the first time a label set appears) and then
 * updated lock-free-cheap from any thread; metrics_render() writes the text exposition
 * (version 0.0.4) for /metrics. Names are prefixed "llmq_" by the caller, not here. */
#ifndef LLMQ_METRICS_H
#define LLMQ_METRICS_H

#include "common/buf.h"

struct metrics;
struct metric;             /* one series: a family name plus one label set */

struct metrics *metrics_new(void);
void metrics_free(struct metrics *m);       /* NULL is a no-op */

/* Finds or creates the series. labels is the inside of the braces, already escaped, e.g.
 * "endpoint=\"/v1/completions\",code=\"200\"", or NULL/"" for none. help is used for the
 * first series of a family. The returned pointer lives as long as the registry. */
struct metric *metrics_counter(struct metrics *m, const char *name, const char *help, const char *labels);
struct metric *metrics_gauge(struct metrics *m, const char *name, const char *help, const char *labels);
/* bounds: ascending upper bounds (le), n of them; +Inf is implicit. Copied. */
struct metric *metrics_histogram(struct metrics *m, const char *name, const char *help,
                                 const char *labels, const double *bounds, int n);

void metric_add(struct metric *s, double v);        /* counter or gauge */
void metric_set(struct metric *s, double v);        /* gauge */
void metric_observe(struct metric *s, double v);    /* histogram */
double metric_value(const struct metric *s);        /* counter/gauge value, histogram count */
/* Histogram quantile estimate (linear within the bucket), q in [0,1]; 0 when empty. */
double metric_quantile(const struct metric *s, double q);

/* Called at the start of every render, so gauges computed on demand (open streams, RSS)
 * can be set just in time. One hook per registry; fn may be NULL. */
void metrics_on_render(struct metrics *m, void (*fn)(struct metrics *m, void *ud), void *ud);

/* Appends the text exposition to out. */
void metrics_render(struct metrics *m, struct buf *out);

/* Standard latency buckets in seconds (0.5 ms .. 60 s) for TTFT, queue time and the like. */
extern const double metrics_latency_buckets_s[];
extern const int metrics_latency_buckets_n;

#endif
