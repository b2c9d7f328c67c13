/* event.c -- encoder and strict decoder of token-event records (see event.h, docs/QUEUE.md).
 * The decoder accepts exactly one spelling of each record: single spaces, decimal numbers
 * without sign or leading zeros, a length that fits the message, a final '\n'. */
#include "queue/event.h"
#include "queue/keys.h"

#include <stdio.h>
#include <string.h>

static int kind_valid(int c)
{
    return c == EVENT_KIND_TOKENS || c == EVENT_KIND_DONE || c == EVENT_KIND_ERROR ||
           c == EVENT_KIND_RUNNING;
}

/* The index/count rules shared by encoder and decoder; NULL when they hold. */
static const char *rules(enum event_kind kind, uint32_t index, uint32_t count)
{
    switch (kind) {
    case EVENT_KIND_TOKENS:
        return count == 0 ? "token record with count 0" : NULL;
    case EVENT_KIND_DONE:
    case EVENT_KIND_ERROR:
        return count != 0 ? "count must be 0" : NULL;
    case EVENT_KIND_RUNNING:
        return (index || count) ? "running record needs index 0, count 0" : NULL;
    }
    return "unknown kind";
}

int event_append(struct buf *b, enum event_kind kind, const char *id, size_t id_len, uint32_t index,
                 uint32_t count, const char *payload, size_t len)
{
    if (!kind_valid((int)kind) || !keys_id_valid(id, id_len) || rules(kind, index, count) ||
        len > EVENT_PAYLOAD_MAX || (len && !payload))
        return -EINVAL;
    char head[64];
    int n = snprintf(head, sizeof(head), "%c ", (char)kind);
    buf_reserve(b, (size_t)n + id_len + 40 + len);
    buf_append(b, head, (size_t)n);
    buf_append(b, id, id_len);
    n = snprintf(head, sizeof(head), " %u %u %zu:", index, count, len);
    buf_append(b, head, (size_t)n);
    if (len) buf_append(b, payload, len);
    buf_append_char(b, '\n');
    return 0;
}

void event_reader_init(struct event_reader *r, const char *msg, size_t len)
{
    r->msg = msg;
    r->len = len;
    r->off = 0;
}

/* Parses a decimal at msg[*pos..) up to `stop`; no sign, no leading zero, <= max. */
static int number(const struct event_reader *r, size_t *pos, char stop, uint64_t max, uint64_t *out,
                  const char *what, struct err *e)
{
    size_t p = *pos, start = p;
    uint64_t v = 0;
    while (p < r->len && r->msg[p] >= '0' && r->msg[p] <= '9') {
        if (p - start >= 20)
            return err_set(e, LLMQ_EFORMAT, "event at byte %zu: %s too long", start, what);
        uint64_t d = (uint64_t)(r->msg[p] - '0');
        if (v > (max - d) / 10)
            return err_set(e, LLMQ_EFORMAT, "event at byte %zu: %s out of range", start, what);
        v = v * 10 + d;
        p++;
    }
    if (p == start) return err_set(e, LLMQ_EFORMAT, "event at byte %zu: expected %s", start, what);
    if (r->msg[start] == '0' && p - start > 1)
        return err_set(e, LLMQ_EFORMAT, "event at byte %zu: %s has a leading zero", start, what);
    if (p >= r->len)
        return err_set(e, LLMQ_EFORMAT, "event at byte %zu: truncated after %s", p, what);
    if (r->msg[p] != stop)
        return err_set(e, LLMQ_EFORMAT, "event at byte %zu: expected '%c' after %s", p,
                       stop == ' ' ? ' ' : stop, what);
    *pos = p + 1;
    *out = v;
    return 0;
}

int event_next(struct event_reader *r, struct event *ev, struct err *e)
{
    size_t p = r->off;
    if (p >= r->len) return 0;
    if (r->len - p < 2 || !kind_valid((unsigned char)r->msg[p]) || r->msg[p + 1] != ' ')
        return err_set(e, LLMQ_EFORMAT, "event at byte %zu: expected '<kind> ' (t, d, e or r)", p);
    ev->kind = (enum event_kind)r->msg[p];
    p += 2;
    size_t id_start = p;
    while (p < r->len && r->msg[p] != ' ' && p - id_start <= KEYS_ID_MAX)
        p++;
    if (p >= r->len || r->msg[p] != ' ' || !keys_id_valid(r->msg + id_start, p - id_start))
        return err_set(e, LLMQ_EFORMAT, "event at byte %zu: bad request id", id_start);
    ev->id = r->msg + id_start;
    ev->id_len = p - id_start;
    p++;
    uint64_t index, count, len;
    int rc;
    if ((rc = number(r, &p, ' ', UINT32_MAX, &index, "index", e)) < 0) return rc;
    if ((rc = number(r, &p, ' ', UINT32_MAX, &count, "count", e)) < 0) return rc;
    if ((rc = number(r, &p, ':', EVENT_PAYLOAD_MAX, &len, "length", e)) < 0) return rc;
    const char *why = rules(ev->kind, (uint32_t)index, (uint32_t)count);
    if (why) return err_set(e, LLMQ_EFORMAT, "event at byte %zu: %s", r->off, why);
    if (len >= r->len - p)
        return err_set(e, LLMQ_EFORMAT,
                       "event at byte %zu: payload of %llu bytes runs past the message", p,
                       (unsigned long long)len);
    if (r->msg[p + len] != '\n')
        return err_set(e, LLMQ_EFORMAT, "event at byte %zu: expected newline after payload",
                       p + (size_t)len);
    ev->index = (uint32_t)index;
    ev->count = (uint32_t)count;
    ev->payload = r->msg + p;
    ev->payload_len = (size_t)len;
    r->off = p + (size_t)len + 1;
    return 1;
}
