/* limit.h -- per-key token-bucket rate limiting and the Retry-After arithmetic shared by
 * every rejection (rate limit, queue full, stream cap). Pure: times are passed in, so the
 * unit test drives a fake clock. */
#ifndef LLMQ_GATEWAY_LIMIT_H
#define LLMQ_GATEWAY_LIMIT_H

#include <stddef.h>
#include <stdint.h>

struct bucket;

struct limiter {
    double rps;            /* refill rate per key; 0 = unlimited */
    double burst;          /* bucket capacity */
    struct bucket **table; /* owned: key id -> bucket (chained) */
    size_t size;           /* power of two */
    size_t n;
};

void limiter_init(struct limiter *l, double rps, double burst);
void limiter_deinit(struct limiter *l);
/* Takes one token for key_id at time now_us. Returns 0 when allowed, else the number of
 * milliseconds until a token is available (> 0). */
uint64_t limiter_take(struct limiter *l, const char *key_id, uint64_t now_us);

/* Retry-After for a bounded resource: the excess (items above the bound, >= 0) divided by
 * the measured drain rate (items/s), rounded up to whole seconds and clamped to
 * [min_s, max_s]. A rate <= 0 (nothing measured yet) assumes one item per second per
 * excess item, i.e. excess + 1 seconds, still clamped. */
long long limit_retry_after_s(double excess, double rate_per_s, long long min_s, long long max_s);

#endif
