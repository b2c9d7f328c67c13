/* test_hist.c -- the log-linear histogram against known distributions: exact small values,
 * a uniform range, an exponential sample (quantiles -ln(1-q) * mean), merges, and the
 * bucket layout (contiguous, error bound). */
#include <errno.h>

#include "bench/hist.h"
#include "bench/rng.h"
#include "test.h"

static void test_small_values_exact(void)
{
    struct hist h;
    CHECK_EQ(hist_init(&h, 8, 1000000), 0);
    for (int v = 1; v <= 100; v++) hist_record(&h, (uint64_t)v);
    CHECK_EQ(h.count, 100);
    CHECK_NEAR(hist_quantile(&h, 0.5), 50, 0);
    CHECK_NEAR(hist_quantile(&h, 0.99), 99, 0);
    CHECK_NEAR(hist_quantile(&h, 0), 1, 0);
    CHECK_NEAR(hist_quantile(&h, 1), 100, 0);
    CHECK_NEAR(hist_mean(&h), 50.5, 1e-9);
    hist_deinit(&h);
}

static void test_uniform_range(void)
{
    struct hist h;
    hist_init(&h, 10, 100000000);
    for (uint64_t v = 1; v <= 1000000; v++) hist_record(&h, v);
    static const double q[] = { 0.5, 0.9, 0.95, 0.99, 0.999 };
    for (int i = 0; i < 5; i++) {
        double want = q[i] * 1e6;
        CHECK_NEAR(hist_quantile(&h, q[i]), want, want * 0.002);
    }
    CHECK_NEAR(hist_quantile(&h, 1), 1e6, 0);
    hist_deinit(&h);
}

static void test_exponential(void)
{
    struct hist h;
    struct rng r;
    hist_init(&h, 10, 1ull << 40);
    rng_seed(&r, 42);
    const double mean = 20000;          /* 20 ms in us */
    for (int i = 0; i < 400000; i++) hist_record(&h, (uint64_t)rng_exponential(&r, mean));
    static const double q[] = { 0.5, 0.9, 0.99 };
    for (int i = 0; i < 3; i++) {
        double want = -log(1 - q[i]) * mean;
        /* sampling error dominates: a few percent at p99 with 400k samples */
        CHECK_NEAR(hist_quantile(&h, q[i]), want, want * 0.03);
    }
    CHECK_NEAR(hist_mean(&h), mean, mean * 0.01);
    /* percentiles are ordered */
    CHECK(hist_quantile(&h, 0.5) <= hist_quantile(&h, 0.9));
    CHECK(hist_quantile(&h, 0.9) <= hist_quantile(&h, 0.99));
    CHECK(hist_quantile(&h, 0.99) <= hist_quantile(&h, 0.999));
    CHECK(hist_quantile(&h, 0.999) <= hist_quantile(&h, 1));
    hist_deinit(&h);
}

static void test_layout(void)
{
    struct hist h;
    hist_init(&h, 8, 1ull << 36);
    uint64_t prev_hi = 0;
    for (int i = 0; i < h.n_buckets; i++) {
        uint64_t lo, hi;
        hist_bucket_range(&h, i, &lo, &hi);
        if (i > 0) CHECK_EQ(lo, prev_hi + 1);
        CHECK(hi >= lo);
        CHECK_EQ(hist_index(&h, lo), i);
        CHECK_EQ(hist_index(&h, hi), i);
        if (lo >= 256) CHECK((double)(hi - lo + 1) / (double)lo <= 1.0 / 128 + 1e-12);
        prev_hi = hi;
    }
    CHECK(prev_hi >= (1ull << 36));
    hist_deinit(&h);
}

static void test_merge_and_clamp(void)
{
    struct hist a, b, c;
    hist_init(&a, 8, 1000000);
    hist_init(&b, 8, 1000000);
    hist_init(&c, 10, 1000000);
    for (int i = 0; i < 1000; i++) hist_record(&a, 100);
    for (int i = 0; i < 1000; i++) hist_record(&b, 10000);
    hist_record(&b, 5000000);            /* past value_max: clamped */
    CHECK_EQ(b.max, 1000000);
    CHECK_EQ(hist_merge(&a, &b), 0);
    CHECK_EQ(a.count, 2001);
    CHECK_NEAR(hist_quantile(&a, 0.25), 100, 0);
    CHECK_NEAR(hist_quantile(&a, 0.75), 10000, 10000 * 0.008);
    CHECK_EQ(hist_merge(&a, &c), -EINVAL);
    hist_reset(&a);
    CHECK_EQ(a.count, 0);
    CHECK_NEAR(hist_quantile(&a, 0.5), 0, 0);
    hist_deinit(&a);
    hist_deinit(&b);
    hist_deinit(&c);
}

int main(void)
{
    TEST_RUN(test_small_values_exact);
    TEST_RUN(test_uniform_range);
    TEST_RUN(test_exponential);
    TEST_RUN(test_layout);
    TEST_RUN(test_merge_and_clamp);
    TEST_MAIN_END();
}
