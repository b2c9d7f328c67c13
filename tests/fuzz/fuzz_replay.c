/* fuzz_replay.c -- the per-token length field o of replay-log chunks (gateways parse what
 * Redis hands them). Input: "<index> <count> <next>\n<o>\n<text>". Whatever o is, a cut
 * never points outside the text; an o the parser accepts must cut consistently at every
 * index of the chunk and re-encode to exactly the bytes it came from. */
#include "queue/replay.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static uint32_t num(const uint8_t **p, const uint8_t *end)
{
    uint64_t v = 0;
    while (*p < end && **p == ' ')
        (*p)++;
    while (*p < end && **p >= '0' && **p <= '9' && v < 0xffffffffu)
        v = v * 10 + (uint64_t)(*(*p)++ - '0');
    return v > 0xffffffffu ? 0xffffffffu : (uint32_t)v;
}

static const uint8_t *line_end(const uint8_t *p, const uint8_t *end)
{
    const uint8_t *nl = memchr(p, '\n', (size_t)(end - p));
    return nl ? nl : end;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *p = data, *end = data + size;
    const uint8_t *le = line_end(p, end);
    uint32_t index = num(&p, le), count = num(&p, le), next = num(&p, le);
    p = le < end ? le + 1 : end;
    const uint8_t *o = p;
    le = line_end(p, end);
    size_t o_len = (size_t)(le - o);
    p = le < end ? le + 1 : end;
    struct replay_chunk c = {index,           count, (const char *)p, (size_t)(end - p),
                             (const char *)o, o_len};
    uint64_t last = (uint64_t)index + count;

    /* Any next: the cut stays inside the text and covers [max(next, index), end). */
    struct replay_cut cut;
    struct err e;
    int rc = replay_cut(&c, next, &cut, &e);
    if (rc != 0 && rc != LLMQ_EFORMAT) abort();
    if (last > UINT32_MAX) {
        if (rc != LLMQ_EFORMAT || cut.count != 0 || cut.len != 0) abort();
        return 0;
    }
    if (cut.off > c.text_len || cut.len != c.text_len - cut.off) abort();
    if ((uint64_t)next < last &&
        ((uint64_t)cut.index + cut.count != last || cut.index != (next > index ? next : index)))
        abort();
    if ((uint64_t)next >= last && cut.count != 0) abort();
    if (rc == LLMQ_EFORMAT && (cut.exact || cut.off != 0)) abort();

    int ok = replay_lens_check(c.lens, c.lens_len, count, c.text_len, &e) == 0;
    if (!ok || count > 1u << 16) return 0;
    /* Accepted: walk every index, rebuild o from the offsets, compare bytes. */
    struct buf b;
    buf_init(&b);
    size_t prev = 0;
    for (uint64_t k = (uint64_t)index + 1; k <= last; k++) {
        size_t off = c.text_len;
        if (k < last) {
            if (replay_cut(&c, (uint32_t)k, &cut, &e) != 0 || !cut.exact) abort();
            off = cut.off;
        }
        if (off < prev) abort();
        replay_lens_append(&b, off - prev);
        prev = off;
    }
    if (b.len != o_len || (o_len && memcmp(b.data, o, o_len) != 0)) abort();
    buf_deinit(&b);
    return 0;
}
