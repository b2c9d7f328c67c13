/* stop.c -- stop-string matching with hold-back (see stop.h). The held text never contains
 * a whole stop string and is shorter than the longest one, so each feed scans at most
 * (longest stop - 1 + len) bytes: the cost per token is independent of the output length. */
#include "worker/stop.h"

#include <string.h>

void stop_init(struct stop *s, const char *const *strs, int n)
{
    s->strs = strs;
    s->n = n;
    buf_init(&s->held);
}

void stop_deinit(struct stop *s)
{
    buf_deinit(&s->held);
}

/* Earliest position of any stop string in h[0..n), or n when none occurs. */
static size_t first_match(const struct stop *s, const char *h, size_t n)
{
    size_t best = n;
    for (int i = 0; i < s->n; i++) {
        size_t m = strlen(s->strs[i]);
        if (m == 0 || m > n) continue;
        const char *p = memmem(h, n, s->strs[i], m);
        if (p && (size_t)(p - h) < best) best = (size_t)(p - h);
    }
    return best;
}

/* Length of the longest suffix of h[0..n) that is a proper prefix of some stop string. */
static size_t partial_suffix(const struct stop *s, const char *h, size_t n)
{
    size_t best = 0;
    for (int i = 0; i < s->n; i++) {
        size_t m = strlen(s->strs[i]);
        size_t k = m - 1 < n ? m - 1 : n;
        for (; k > best; k--)
            if (!memcmp(h + n - k, s->strs[i], k)) {
                best = k;
                break;
            }
    }
    return best;
}

int stop_feed(struct stop *s, const char *text, size_t len, struct buf *out)
{
    if (s->n == 0) {
        buf_append(out, text, len);
        return 0;
    }
    buf_append(&s->held, text, len);
    const char *h = s->held.data;
    size_t n = s->held.len;
    size_t at = first_match(s, h, n);
    if (at < n) {
        buf_append(out, h, at);
        buf_reset(&s->held);
        return 1;
    }
    size_t keep = partial_suffix(s, h, n);
    buf_append(out, h, n - keep);
    buf_consume(&s->held, n - keep);
    return 0;
}

void stop_flush(struct stop *s, struct buf *out)
{
    if (s->held.len) buf_append(out, s->held.data, s->held.len);
    buf_reset(&s->held);
}
