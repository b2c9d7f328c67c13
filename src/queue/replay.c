/* replay.c -- per-token byte lengths of replay-log chunks (see replay.h, docs/QUEUE.md).
 * The parser accepts exactly one spelling, the one replay_lens_append writes, and checks the
 * whole field before any offset is trusted: a length past the text, a count that does not
 * match n or a sum that is not len(t) would otherwise cut text at a wrong byte. */
#include "queue/replay.h"

#include <stdio.h>

void replay_lens_append(struct buf *b, size_t len)
{
    char tmp[24];
    int n = snprintf(tmp, sizeof(tmp), "%s%zu", b->len ? "," : "", len);
    buf_append(b, tmp, (size_t)n);
}

void replay_lens_append_record(struct buf *b, uint32_t count, size_t text_len)
{
    if (!count) return;
    for (uint32_t k = 1; k < count; k++)
        replay_lens_append(b, 0);
    replay_lens_append(b, text_len);
}

/* Validates o in full (see replay_lens_check) and stores in *prefix the sum of its first
 * `skip` lengths (skip <= count). */
static int lens_walk(const char *o, size_t o_len, uint32_t count, size_t text_len, uint32_t skip,
                     size_t *prefix, struct err *e)
{
    size_t p = 0, sum = 0;
    uint32_t k = 0;
    *prefix = 0;
    if (count == 0) {
        if (o_len) return err_set(e, LLMQ_EFORMAT, "o: lengths given for a chunk of 0 tokens");
        return 0;
    }
    for (;;) {
        size_t start = p, v = 0;
        while (p < o_len && o[p] >= '0' && o[p] <= '9') {
            if (p > start && o[start] == '0')
                return err_set(e, LLMQ_EFORMAT, "o: leading zero at byte %zu", start);
            size_t d = (size_t)(o[p] - '0'), room = text_len - sum;
            /* No length, nor the running sum, may pass the text (so nothing overflows). */
            if (v > room / 10 || v * 10 + d > room)
                return err_set(e, LLMQ_EFORMAT, "o: lengths pass the text (%zu bytes) at byte %zu",
                               text_len, p);
            v = v * 10 + d;
            p++;
        }
        if (p == start)
            return err_set(e, LLMQ_EFORMAT, "o: expected a decimal length at byte %zu", p);
        sum += v;
        k++;
        if (k == skip) *prefix = sum;
        if (p == o_len) break;
        if (o[p] != ',') return err_set(e, LLMQ_EFORMAT, "o: expected ',' at byte %zu", p);
        if (k == count) return err_set(e, LLMQ_EFORMAT, "o: more than n = %u lengths", count);
        p++;
    }
    if (k != count) return err_set(e, LLMQ_EFORMAT, "o: %u lengths for n = %u tokens", k, count);
    if (sum != text_len)
        return err_set(e, LLMQ_EFORMAT, "o: lengths sum to %zu, the text has %zu bytes", sum,
                       text_len);
    return 0;
}

int replay_lens_check(const char *o, size_t o_len, uint32_t count, size_t text_len, struct err *e)
{
    size_t prefix;
    return lens_walk(o, o_len, count, text_len, 0, &prefix, e);
}

int replay_cut(const struct replay_chunk *c, uint32_t next, struct replay_cut *out, struct err *e)
{
    uint64_t end = (uint64_t)c->index + c->count;
    if (end > UINT32_MAX) { /* indices are uint32 (docs/QUEUE.md): a corrupt entry */
        *out = (struct replay_cut){next, 0, c->text_len, 0, 0};
        return err_set(e, LLMQ_EFORMAT, "i + n = %llu passes the largest token index",
                       (unsigned long long)end);
    }
    if (next <= c->index) { /* all new */
        *out = (struct replay_cut){c->index, c->count, 0, c->text_len, 1};
        return 0;
    }
    if ((uint64_t)next >= end) { /* all sent already */
        *out = (struct replay_cut){(uint32_t)end, 0, c->text_len, 0, 1};
        return 0;
    }
    /* Straddles: tokens [index, next) were sent, [next, end) were not. */
    uint32_t rest = (uint32_t)(end - next);
    *out = (struct replay_cut){next, rest, 0, c->text_len, 0};
    if (!c->lens) return 0;
    size_t off;
    int rc = lens_walk(c->lens, c->lens_len, c->count, c->text_len, next - c->index, &off, e);
    if (rc < 0) return rc;
    out->off = off;
    out->len = c->text_len - off;
    out->exact = 1;
    return 0;
}
