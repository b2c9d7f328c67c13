/* report.h -- renders a benchmark run: JSON (the full record, machine-readable), a Markdown
 * section (tables for docs/BENCHMARKS.md) and SVG line charts over time (latency
 * percentiles, throughput, requests, queue depth and workers). Also the cost model: what the
 * platform's own counters, priced, say one thousand output tokens cost. Pure rendering: no
 * sockets; files are written by the caller (main.c) or report_write_*. */
#ifndef LLMQ_BENCH_REPORT_H
#define LLMQ_BENCH_REPORT_H

#include "bench/run.h"
#include "common/buf.h"
#include "common/err.h"

struct cost_prices {
    double gpu_hour;             /* USD per GPU-hour (one worker = one GPU) */
    double vcpu_hour;            /* USD per vCPU-hour (gateway CPU) */
    double redis_mops;           /* USD per million Redis operations */
};

struct cost {
    int have_workers, have_busy, have_gateway_cpu, have_redis;
    double workers;              /* mean workers during the run */
    double worker_s;             /* worker (GPU) seconds paid: workers * wall */
    double busy_s;               /* engine busy seconds (delta) */
    double idle_share;           /* 1 - busy / worker_s; < 0 unknown */
    double gateway_cpu_s, worker_cpu_s, redis_ops;
    double usd_gpu, usd_cpu, usd_redis, usd_total;
    double per1k_gpu, per1k_cpu, per1k_redis, per1k_total;   /* USD per 1k output tokens */
};

/* Default prices (illustrative on-demand cloud list prices; override with flags or a file). */
void cost_prices_default(struct cost_prices *p);
/* Reads "gpu_hour = 2.5" style lines (# comments) into p. Returns 0 or < 0 with e. */
int cost_prices_load(struct cost_prices *p, const char *path, struct err *e);
/* workers_hint > 0 is used when the platform exports no worker count. */
void cost_compute(const struct bench_result *res, const struct cost_prices *p, double workers_hint,
                  struct cost *out);

/* Run description for headers. */
struct report_meta {
    const char *name;            /* scenario name, e.g. "poisson-ws" */
    const struct bench_cfg *cfg;
    const char *trace_path;      /* NULL unless trace */
    const char *svg_link;        /* path prefix the Markdown uses for the charts; NULL: none */
};

void report_json(struct buf *out, const struct report_meta *m, const struct bench_result *res,
                 const struct cost *cost, const struct cost_prices *prices);
void report_markdown(struct buf *out, const struct report_meta *m, const struct bench_result *res,
                     const struct cost *cost);
/* One row of the cross-scenario summary table; report_markdown_row_header() is its header. */
void report_markdown_row_header(struct buf *out);
void report_markdown_row(struct buf *out, const struct report_meta *m, const struct bench_result *res,
                         const struct cost *cost);
/* One-paragraph plain-text summary for the terminal. */
void report_text(struct buf *out, const struct report_meta *m, const struct bench_result *res,
                 const struct cost *cost);

/* A line chart: x values (seconds) and up to 6 series; NaN y values leave a gap. */
struct svg_series {
    const char *name;
    const double *y;
};
void report_svg_chart(struct buf *out, const char *title, const char *y_label, const double *x,
                      int n, const struct svg_series *s, int n_series);
/* Writes <dir>/<name>-{latency,throughput,requests,queue}.svg. Returns 0 or -errno. */
int report_write_svgs(const char *dir, const char *name, const struct bench_result *res, struct err *e);

/* Writes buf to path (append when append != 0). Returns 0 or -errno with e. */
int report_write_file(const char *path, const struct buf *b, int append, struct err *e);

#endif
