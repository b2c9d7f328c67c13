/* limit.c -- token buckets in a small chained hash keyed by key id. Buckets are refilled
 * lazily on access, so idle keys cost nothing; entries are never removed (one per key id,
 * and key ids are bounded by the configured keys plus "anon"). */
#include "gateway/limit.h"
#include "common/hash.h"
#include "common/xalloc.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct bucket {
    struct bucket *next;
    double tokens;
    uint64_t at_us;
    char key[32];
};

void limiter_init(struct limiter *l, double rps, double burst)
{
    memset(l, 0, sizeof(*l));
    l->rps = rps;
    l->burst = burst > 0 ? burst : (rps > 1 ? rps : 1);
    l->size = 64;
    l->table = xcalloc(l->size, sizeof(*l->table));
}

void limiter_deinit(struct limiter *l)
{
    for (size_t i = 0; l->table && i < l->size; i++)
        for (struct bucket *b = l->table[i], *n; b; b = n) {
            n = b->next;
            free(b);
        }
    free(l->table);
    memset(l, 0, sizeof(*l));
}

uint64_t limiter_take(struct limiter *l, const char *key_id, uint64_t now_us)
{
    if (l->rps <= 0) return 0;
    size_t i = hash_fnv1a(key_id, strlen(key_id)) & (l->size - 1);
    struct bucket *b;
    for (b = l->table[i]; b; b = b->next)
        if (!strcmp(b->key, key_id)) break;
    if (!b) {
        b = xcalloc(1, sizeof(*b));
        strncpy(b->key, key_id, sizeof(b->key) - 1);
        b->tokens = l->burst;
        b->at_us = now_us;
        b->next = l->table[i];
        l->table[i] = b;
        l->n++;
    }
    if (now_us > b->at_us) {
        b->tokens += (double)(now_us - b->at_us) / 1e6 * l->rps;
        if (b->tokens > l->burst) b->tokens = l->burst;
        b->at_us = now_us;
    }
    if (b->tokens >= 1.0) {
        b->tokens -= 1.0;
        return 0;
    }
    double wait_ms = (1.0 - b->tokens) / l->rps * 1000.0;
    uint64_t ms = (uint64_t)ceil(wait_ms);
    return ms ? ms : 1;
}

long long limit_retry_after_s(double excess, double rate_per_s, long long min_s, long long max_s)
{
    if (excess < 0) excess = 0;
    double s = rate_per_s > 0 ? ceil((excess + 1) / rate_per_s) : excess + 1;
    long long r = (long long)s;
    if (r < min_s) r = min_s;
    if (r > max_s) r = max_s;
    return r;
}
