/* hist.h -- a high-dynamic-range histogram of non-negative integer values (HdrHistogram's
 * log-linear bucket layout, written here because Debian packages no C HdrHistogram).
 * Values below 2^sub_bits are counted exactly; above, each power of two is split into
 * 2^(sub_bits-1) equal buckets, so any recorded value is known to a relative error below
 * 2^(1-sub_bits) (sub_bits 11: < 0.1 %, 8: < 0.8 %). Min, max, count and sum are exact.
 * Not thread-safe; no allocation after hist_init. llmq-bench records microseconds. */
#ifndef LLMQ_BENCH_HIST_H
#define LLMQ_BENCH_HIST_H

#include <stdint.h>

struct hist {
    uint64_t *counts;      /* owned; n_buckets entries */
    int n_buckets;
    int sub_bits;          /* precision: values < 2^sub_bits are exact */
    uint64_t value_max;    /* largest trackable value; larger ones are clamped to it */
    uint64_t count;        /* values recorded */
    uint64_t min, max;     /* exact extremes of what was recorded (min = UINT64_MAX when empty) */
    double sum;            /* exact sum, for the mean */
};

/* sub_bits in [2, 16]; value_max >= 1. Returns 0 or -EINVAL. */
int hist_init(struct hist *h, int sub_bits, uint64_t value_max);
void hist_deinit(struct hist *h);                     /* safe on a zeroed struct */
void hist_reset(struct hist *h);
void hist_record(struct hist *h, uint64_t v);
void hist_record_n(struct hist *h, uint64_t v, uint64_t n);
/* Adds src into dst; both must have the same sub_bits (value_max may differ: values past
 * dst's range are clamped). Returns 0 or -EINVAL. */
int hist_merge(struct hist *dst, const struct hist *src);

/* The value at quantile q in [0, 1]: the smallest recorded bucket such that at least
 * ceil(q * count) values are at or below it, reported as the bucket's midpoint clamped to
 * [min, max] (so q = 0 gives min and q = 1 gives max exactly). 0 when empty. */
double hist_quantile(const struct hist *h, double q);
double hist_mean(const struct hist *h);

/* Bucket layout, exposed for tests: the index of v and the [lo, hi] range of a bucket. */
int hist_index(const struct hist *h, uint64_t v);
void hist_bucket_range(const struct hist *h, int idx, uint64_t *lo, uint64_t *hi);

#endif
