/* test_report.c -- the pieces of the report that are arithmetic or parsing: Prometheus
 * text sums (labels, quoted braces, comments), /proc CPU, the cost model with hand-worked
 * numbers, the prices file, goodput/rejection accounting in stats, and SVG output shape. */
#include <unistd.h>

#include "bench/report.h"
#include "bench/scrape.h"
#include "bench/stats.h"
#include "test.h"

static void test_prom_sum(void)
{
    const char *t = "# HELP llmq_engine_busy_seconds_total busy\n"
                    "# TYPE llmq_engine_busy_seconds_total counter\n"
                    "llmq_engine_busy_seconds_total{worker=\"a\"} 1.5\n"
                    "llmq_engine_busy_seconds_total{worker=\"b}\",x=\"y\"} 2.25\n"
                    "llmq_engine_busy_seconds_total_extra 100\n"
                    "llmq_queue_depth 7\n"
                    "process_cpu_seconds_total 3e1\n";
    double v = -1;
    CHECK_EQ(scrape_prom_sum(t, strlen(t), "llmq_engine_busy_seconds_total", &v), 2);
    CHECK_NEAR(v, 3.75, 1e-12);
    CHECK_EQ(scrape_prom_sum(t, strlen(t), "llmq_queue_depth", &v), 1);
    CHECK_NEAR(v, 7, 0);
    CHECK_EQ(scrape_prom_sum(t, strlen(t), "process_cpu_seconds_total", &v), 1);
    CHECK_NEAR(v, 30, 0);
    v = -1;
    CHECK_EQ(scrape_prom_sum(t, strlen(t), "llmq_workers", &v), 0);
    CHECK_NEAR(v, -1, 0);
}

static void test_pid_cpu(void)
{
    volatile double x = 0;
    for (int i = 0; i < 20000000; i++) x += i;      /* burn a little CPU */
    (void)x;
    double s = scrape_pid_cpu_s(getpid());
    CHECK(s > 0);
    CHECK(scrape_pid_cpu_s(0x7ffffff0) < 0);
}

static void test_cost(void)
{
    struct bench_result res;
    memset(&res, 0, sizeof(res));
    stats_init(&res.st, 10, 1000, 100);
    res.wall_s = 3600;                               /* one hour */
    res.st.tokens = 1000000;                         /* a million output tokens */
    res.scraped = 1;
    res.before = (struct scrape_snap){ .engine_busy_s = 100, .gateway_cpu_s = 10, .redis_ops = 1000,
                                       .have_busy = 1, .have_gateway_cpu = 1, .have_redis = 1,
                                       .workers = 2, .have_workers = 2 };
    res.after = res.before;
    res.after.engine_busy_s = 100 + 5400;            /* 1.5 of 2 worker-hours busy */
    res.after.gateway_cpu_s = 10 + 1800;             /* half a CPU-hour */
    res.after.redis_ops = 1000 + 2000000;
    struct cost_prices p = { 2.0, 0.04, 0.2 };
    struct cost c;
    cost_compute(&res, &p, 0, &c);
    CHECK_NEAR(c.workers, 2, 0);
    CHECK_NEAR(c.worker_s, 7200, 1e-9);
    CHECK_NEAR(c.idle_share, 0.25, 1e-12);
    CHECK_NEAR(c.usd_gpu, 4.0, 1e-12);               /* 2 GPU-hours x $2 */
    CHECK_NEAR(c.usd_cpu, 0.02, 1e-12);              /* 0.5 vCPU-hour x $0.04 */
    CHECK_NEAR(c.usd_redis, 0.4, 1e-12);             /* 2 M ops x $0.2 */
    CHECK_NEAR(c.per1k_total, 4.42 / 1000, 1e-12);   /* per 1k of 1 M tokens */
    CHECK_NEAR(c.per1k_gpu + c.per1k_cpu + c.per1k_redis, c.per1k_total, 1e-15);
    /* windows with a scraped worker count win over the snapshot */
    stats_on_scrape(&res.st, 5, -1, 4);
    stats_on_scrape(&res.st, 15, -1, 2);
    cost_compute(&res, &p, 0, &c);
    CHECK_NEAR(c.workers, 3, 1e-12);
    stats_deinit(&res.st);
}

static void test_prices_file(void)
{
    char path[] = "/tmp/llmq-bench-prices-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    const char *txt = "# cloud list prices\ngpu_hour = 2.49\n\nvcpu_hour=0.034  # per vCPU\n";
    CHECK_EQ(write(fd, txt, strlen(txt)), (long)strlen(txt));
    close(fd);
    struct cost_prices p;
    struct err e = { 0 };
    cost_prices_default(&p);
    CHECK_EQ(cost_prices_load(&p, path, &e), 0);
    CHECK_NEAR(p.gpu_hour, 2.49, 1e-12);
    CHECK_NEAR(p.vcpu_hour, 0.034, 1e-12);
    CHECK_NEAR(p.redis_mops, 0.20, 1e-12);           /* default kept */
    FILE *f = fopen(path, "w");
    fputs("tpu_hour = 3\n", f);
    fclose(f);
    CHECK_EQ(cost_prices_load(&p, path, &e), LLMQ_EFORMAT);
    CHECK(strstr(e.msg, "tpu_hour") != NULL);
    unlink(path);
}

static void test_stats_accounting(void)
{
    struct stats s;
    stats_init(&s, 1, 100, 10);
    struct stats_req ok_fast = { .ttft_us = 50000, .tpot_us = 5000, .e2e_us = 200000, .queue_us = 1000,
                                 .srv_queue_us = 800, .tokens = 20, .prompt_tokens = 10 };
    struct stats_req ok_slow = { .ttft_us = 150000, .tpot_us = 5000, .e2e_us = 300000, .queue_us = -1,
                                 .srv_queue_us = -1, .tokens = 20, .prompt_tokens = 10 };   /* TTFT > SLO */
    struct stats_req rej = { .err = "overloaded", .ttft_us = -1, .tpot_us = -1, .e2e_us = 1000,
                             .queue_us = -1, .srv_queue_us = -1, .prompt_tokens = 10 };
    struct stats_req gap = { .err = "index_gap", .ttft_us = 1000, .tpot_us = 1000, .e2e_us = 5000,
                             .queue_us = -1, .srv_queue_us = -1, .tokens = 3, .prompt_tokens = 10, .gaps = 1 };
    for (int i = 0; i < 3; i++) stats_on_sent(&s, 0.5, 0);
    stats_on_sent(&s, 1.5, 0);
    stats_on_end(&s, 0.9, &ok_fast);
    stats_on_end(&s, 1.2, &ok_slow);
    stats_on_end(&s, 1.3, &rej);
    stats_on_end(&s, 2.5, &gap);
    CHECK_EQ(s.sent, 4);
    CHECK_EQ(s.ok, 2);
    CHECK_EQ(s.errors, 2);
    CHECK_EQ(s.rejected, 1);
    CHECK_EQ(s.good, 1);
    CHECK_EQ(s.index_bad, 1);
    CHECK_EQ(s.n_w, 3);
    CHECK_EQ(s.w[0].sent, 3);
    CHECK_EQ(s.w[1].ok, 1);
    CHECK_EQ(s.w[1].errors, 1);
    CHECK_EQ(s.h[STAT_TTFT].count, 2);
    CHECK_EQ(s.h[STAT_QUEUE].count, 1);
    CHECK_EQ(s.h[STAT_SRV_QUEUE].count, 1);
    CHECK(stats_is_rejection("rate_limited") && stats_is_rejection("http_503") && !stats_is_rejection("timeout"));
    stats_deinit(&s);
}

static void test_svg(void)
{
    double x[] = { 0.5, 1.5, 2.5, 3.5 };
    double a[] = { 1, 2, NAN, 4 };
    double b[] = { 10, 20, 30, 40 };
    struct svg_series s[] = { { "a<b", a }, { "b", b } };
    struct buf out;
    buf_init(&out);
    report_svg_chart(&out, "t & t", "ms", x, 4, s, 2);
    CHECK(!strncmp(out.data, "<svg ", 5));
    CHECK(strstr(out.data, "</svg>\n") != NULL);
    CHECK(strstr(out.data, "a&lt;b") != NULL);
    CHECK(strstr(out.data, "t &amp; t") != NULL);
    int polylines = 0;
    for (const char *p = out.data; (p = strstr(p, "<polyline")); p++) polylines++;
    CHECK_EQ(polylines, 3);                          /* the NaN splits series a in two */
    buf_deinit(&out);
}

int main(void)
{
    TEST_RUN(test_prom_sum);
    TEST_RUN(test_pid_cpu);
    TEST_RUN(test_cost);
    TEST_RUN(test_prices_file);
    TEST_RUN(test_stats_accounting);
    TEST_RUN(test_svg);
    TEST_MAIN_END();
}
