/* keys.c -- key and channel names of docs/QUEUE.md under a configurable prefix. */
#include "queue/keys.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

int keys_init(struct keys *k, const char *prefix)
{
    if (!prefix) prefix = "llmq:";
    size_t n = strlen(prefix);
    if (n > KEYS_PREFIX_MAX) return -EINVAL;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)prefix[i] <= ' ' || prefix[i] == 0x7f) return -EINVAL;
    memcpy(k->prefix, prefix, n + 1);
    k->prefix_len = n;
    return 0;
}

int keys_id_valid(const char *s, size_t n)
{
    if (!s || n == 0 || n > KEYS_ID_MAX) return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return 0;
    }
    return 1;
}

/* prefix + name: always fits (64 + short literal < KEYS_MAX). */
static int plain(const struct keys *k, const char *name, char *out)
{
    return snprintf(out, KEYS_MAX, "%s%s", k->prefix, name);
}

static int with_id(const struct keys *k, const char *what, const char *id, char *out)
{
    if (!id || !keys_id_valid(id, strlen(id))) {
        out[0] = 0;
        return -EINVAL;
    }
    return snprintf(out, KEYS_MAX, "%s%s%s", k->prefix, what, id);
}

int keys_jobs(const struct keys *k, char *out)
{
    return plain(k, "jobs", out);
}
enum keys_lane keys_lane_of(long long priority)
{
    return priority > 0 ? KEYS_LANE_HIGH : priority < 0 ? KEYS_LANE_LOW : KEYS_LANE_NORMAL;
}
int keys_lane(const struct keys *k, int lane, char *out)
{
    static const char *const names[KEYS_LANES] = {"jobs:high", "jobs", "jobs:low"};
    if (lane < 0 || lane >= KEYS_LANES) {
        out[0] = 0;
        return -EINVAL;
    }
    return plain(k, names[lane], out);
}
const char *keys_lane_name(int lane)
{
    static const char *const names[KEYS_LANES] = {"high", "normal", "low"};
    return lane >= 0 && lane < KEYS_LANES ? names[lane] : "?";
}
int keys_dlq(const struct keys *k, char *out)
{
    return plain(k, "dlq", out);
}
int keys_cancel(const struct keys *k, char *out)
{
    return plain(k, "cancel", out);
}
int keys_workers(const struct keys *k, char *out)
{
    return plain(k, "workers", out);
}
int keys_job(const struct keys *k, const char *id, char *out)
{
    return with_id(k, "job:", id, out);
}
int keys_out(const struct keys *k, const char *id, char *out)
{
    return with_id(k, "out:", id, out);
}
int keys_gw(const struct keys *k, const char *gw_id, char *out)
{
    return with_id(k, "gw:", gw_id, out);
}
int keys_worker(const struct keys *k, const char *worker_id, char *out)
{
    return with_id(k, "worker:", worker_id, out);
}

int keys_idem(const struct keys *k, const char *key_id, const char *idem_key, char *out)
{
    out[0] = 0;
    if (!key_id || !keys_id_valid(key_id, strlen(key_id)) || !idem_key) return -EINVAL;
    size_t n = strlen(idem_key);
    if (n == 0 || n > 256) return -EINVAL;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)idem_key[i] < ' ' || idem_key[i] == 0x7f) return -EINVAL;
    return snprintf(out, KEYS_MAX, "%sidem:%s:%s", k->prefix, key_id, idem_key);
}
