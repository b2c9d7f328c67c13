/* test_metrics.c -- Prometheus text rendering and histogram quantiles. */
#include "common/metrics.h"
#include "test.h"

static void test_counter_and_histogram_render(void)
{
    struct metrics *m = metrics_new();
    struct metric *c = metrics_counter(m, "llmq_requests_total", "Requests.", "code=\"200\"");
    metric_add(c, 2);
    CHECK(metrics_counter(m, "llmq_requests_total", NULL, "code=\"200\"") == c);
    double b[] = { 0.1, 1 };
    struct metric *h = metrics_histogram(m, "llmq_ttft_seconds", "TTFT.", NULL, b, 2);
    metric_observe(h, 0.05);
    metric_observe(h, 0.5);
    metric_observe(h, 5);
    struct buf out;
    buf_init(&out);
    metrics_render(m, &out);
    CHECK(strstr(out.data, "# TYPE llmq_requests_total counter\nllmq_requests_total{code=\"200\"} 2\n") != NULL);
    CHECK(strstr(out.data, "llmq_ttft_seconds_bucket{le=\"0.1\"} 1\n") != NULL);
    CHECK(strstr(out.data, "llmq_ttft_seconds_bucket{le=\"1\"} 2\n") != NULL);
    CHECK(strstr(out.data, "llmq_ttft_seconds_bucket{le=\"+Inf\"} 3\n") != NULL);
    CHECK(strstr(out.data, "llmq_ttft_seconds_count 3\n") != NULL);
    CHECK_NEAR(metric_quantile(h, 0.5), 0.55, 1e-9);   /* rank 1.5: halfway into (0.1, 1] */
    buf_deinit(&out);
    metrics_free(m);
}

int main(void)
{
    TEST_RUN(test_counter_and_histogram_render);
    TEST_MAIN_END();
}
