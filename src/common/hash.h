/* hash.h -- FNV-1a, 64 bits: the hash of the in-memory tables keyed by short byte strings
 * (stream ids in the gateway, rate-limit keys, tokenizer pieces, GGUF tensor names) and of
 * the load generator's text checksums. Short, fast on short keys and well spread for
 * power-of-two tables. It is not keyed: a table whose keys a client chooses (the gateway's
 * stream table takes X-Request-Id) relies on its bounded size (admission limits) rather than
 * on the hash to keep probes short. */
#ifndef LLMQ_COMMON_HASH_H
#define LLMQ_COMMON_HASH_H

#include <stddef.h>
#include <stdint.h>

#define HASH_FNV1A_INIT 1469598103934665603ull

/* Continues hash h over n more bytes (h = HASH_FNV1A_INIT to start). */
static inline uint64_t hash_fnv1a_more(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 1099511628211ull;
    return h;
}

static inline uint64_t hash_fnv1a(const void *p, size_t n) { return hash_fnv1a_more(HASH_FNV1A_INIT, p, n); }

#endif
