/* hist.c -- log-linear histogram (see hist.h for the layout and its error bound).
 * Index of v for v >= 2^k (k = sub_bits): m = msb(v), shift = m - k + 1, sub = v >> shift
 * lies in [2^(k-1), 2^k); idx = 2^k + (shift - 1) * 2^(k-1) + (sub - 2^(k-1)). */
#include "bench/hist.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/xalloc.h"

static int msb64(uint64_t v) { return 63 - __builtin_clzll(v); }

int hist_index(const struct hist *h, uint64_t v)
{
    int k = h->sub_bits;
    if (v > h->value_max) v = h->value_max;
    if (v < (1ull << k)) return (int)v;
    int shift = msb64(v) - k + 1;
    uint64_t sub = v >> shift;
    uint64_t half = 1ull << (k - 1);
    return (int)((1ull << k) + (uint64_t)(shift - 1) * half + (sub - half));
}

void hist_bucket_range(const struct hist *h, int idx, uint64_t *lo, uint64_t *hi)
{
    int k = h->sub_bits;
    if ((uint64_t)idx < (1ull << k)) {
        *lo = *hi = (uint64_t)idx;
        return;
    }
    uint64_t half = 1ull << (k - 1);
    uint64_t rel = (uint64_t)idx - (1ull << k);
    int shift = (int)(rel / half) + 1;
    uint64_t sub = half + rel % half;
    *lo = sub << shift;
    *hi = ((sub + 1) << shift) - 1;
}

int hist_init(struct hist *h, int sub_bits, uint64_t value_max)
{
    memset(h, 0, sizeof(*h));
    if (sub_bits < 2 || sub_bits > 16 || value_max < 1) return -EINVAL;
    if (value_max > (1ull << 62)) value_max = 1ull << 62;
    h->sub_bits = sub_bits;
    h->value_max = value_max;
    h->n_buckets = hist_index(h, value_max) + 1;
    h->counts = xcalloc((size_t)h->n_buckets, sizeof(uint64_t));
    h->min = UINT64_MAX;
    return 0;
}

void hist_deinit(struct hist *h)
{
    free(h->counts);
    memset(h, 0, sizeof(*h));
}

void hist_reset(struct hist *h)
{
    if (h->counts) memset(h->counts, 0, (size_t)h->n_buckets * sizeof(uint64_t));
    h->count = 0;
    h->min = UINT64_MAX;
    h->max = 0;
    h->sum = 0;
}

void hist_record_n(struct hist *h, uint64_t v, uint64_t n)
{
    if (n == 0) return;
    if (v > h->value_max) v = h->value_max;
    h->counts[hist_index(h, v)] += n;
    h->count += n;
    h->sum += (double)v * (double)n;
    if (v < h->min) h->min = v;
    if (v > h->max) h->max = v;
}

void hist_record(struct hist *h, uint64_t v) { hist_record_n(h, v, 1); }

int hist_merge(struct hist *dst, const struct hist *src)
{
    if (dst->sub_bits != src->sub_bits) return -EINVAL;
    if (src->count == 0) return 0;
    for (int i = 0; i < src->n_buckets; i++) {
        if (!src->counts[i]) continue;
        if (i < dst->n_buckets) {
            dst->counts[i] += src->counts[i];
        } else {
            dst->counts[dst->n_buckets - 1] += src->counts[i];
        }
    }
    dst->count += src->count;
    dst->sum += src->sum;
    if (src->min < dst->min) dst->min = src->min > dst->value_max ? dst->value_max : src->min;
    uint64_t mx = src->max > dst->value_max ? dst->value_max : src->max;
    if (mx > dst->max) dst->max = mx;
    return 0;
}

double hist_quantile(const struct hist *h, double q)
{
    if (h->count == 0) return 0;
    if (q <= 0) return (double)h->min;
    if (q >= 1) return (double)h->max;
    uint64_t rank = (uint64_t)ceil(q * (double)h->count);
    if (rank < 1) rank = 1;
    uint64_t seen = 0;
    for (int i = 0; i < h->n_buckets; i++) {
        seen += h->counts[i];
        if (seen >= rank) {
            uint64_t lo, hi;
            hist_bucket_range(h, i, &lo, &hi);
            double v = ((double)lo + (double)hi) / 2.0;
            if (v < (double)h->min) v = (double)h->min;
            if (v > (double)h->max) v = (double)h->max;
            return v;
        }
    }
    return (double)h->max;
}

double hist_mean(const struct hist *h) { return h->count ? h->sum / (double)h->count : 0; }
