/* keys.h -- names of every Redis key and channel of docs/QUEUE.md, under a configurable
 * prefix ("llmq:" by default). One place builds them so gateway and worker cannot drift.
 * Pure string work: no Redis, no allocation. */
#ifndef LLMQ_QUEUE_KEYS_H
#define LLMQ_QUEUE_KEYS_H

#include <stddef.h>

#define KEYS_PREFIX_MAX 64 /* bytes of prefix */
#define KEYS_ID_MAX 64     /* bytes of a request / gateway / worker id */
#define KEYS_MAX 512       /* a buffer of this size holds any key built here */

struct keys {
    char prefix[KEYS_PREFIX_MAX + 1]; /* NUL-terminated copy */
    size_t prefix_len;
};

/* Copies prefix (NULL = "llmq:"). Returns 0, or -EINVAL when it is longer than
 * KEYS_PREFIX_MAX or holds a space or control byte. */
int keys_init(struct keys *k, const char *prefix);

/* 1 when s[0..n) is a valid id: 1..KEYS_ID_MAX bytes of [A-Za-z0-9._-]. Request ids, gateway
 * ids and worker ids all follow this rule (it keeps keys and event records unambiguous). */
int keys_id_valid(const char *s, size_t n);

/* Builders: write the NUL-terminated key into out (KEYS_MAX bytes) and return its length,
 * or -EINVAL when an id argument is not keys_id_valid (nothing useful is written then). */
int keys_jobs(const struct keys *k, char *out);                          /* P jobs   (stream) */
int keys_dlq(const struct keys *k, char *out);                           /* P dlq    (stream) */
int keys_cancel(const struct keys *k, char *out);                        /* P cancel (channel) */
int keys_workers(const struct keys *k, char *out);                       /* P workers (set) */
int keys_job(const struct keys *k, const char *id, char *out);           /* P job:<id> (hash) */
int keys_out(const struct keys *k, const char *id, char *out);           /* P out:<id> (stream) */
int keys_gw(const struct keys *k, const char *gw_id, char *out);         /* P gw:<gw> (channel) */
int keys_worker(const struct keys *k, const char *worker_id, char *out); /* P worker:<id> */
/* P idem:<key-id>:<idempotency-key>. key_id must be keys_id_valid; idem_key is any
 * 1..256 bytes without control bytes (else -EINVAL). */
int keys_idem(const struct keys *k, const char *key_id, const char *idem_key, char *out);

/* Priority lanes (docs/QUEUE.md "Lanes"): one job stream per lane, same consumer group on
 * each. Workers serve them in this order (KEYS_LANE_HIGH first). The normal lane is P jobs,
 * so tools that only know P jobs keep seeing every job of priority 0. */
enum keys_lane {
    KEYS_LANE_HIGH = 0, /* P jobs:high: priority > 0 */
    KEYS_LANE_NORMAL,   /* P jobs:      priority 0 (and every job of older gateways) */
    KEYS_LANE_LOW,      /* P jobs:low:  priority < 0 */
    KEYS_LANES
};
/* The lane of a request's priority. */
enum keys_lane keys_lane_of(long long priority);
/* Stream of lane (KEYS_LANE_NORMAL = keys_jobs). -EINVAL for a lane out of range. */
int keys_lane(const struct keys *k, int lane, char *out);
/* "high", "normal", "low" (metrics labels, logs); "?" out of range. */
const char *keys_lane_name(int lane);

/* Names that are not keys: the consumer group of every lane stream. */
#define KEYS_GROUP "workers"

#endif
