/* fuzz_event.c -- the token-event decoder (gateways parse what Redis hands them). Every
 * record it accepts must re-encode to exactly the bytes it came from. */
#include "queue/event.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct event_reader r;
    struct event ev;
    struct err e;
    struct buf b;
    buf_init(&b);
    event_reader_init(&r, (const char *)data, size);
    size_t consumed = 0;
    while (event_next(&r, &ev, &e) == 1) {
        if (event_append(&b, ev.kind, ev.id, ev.id_len, ev.index, ev.count, ev.payload,
                         ev.payload_len) != 0)
            abort();
        consumed = r.off;
    }
    if (b.len != consumed || (consumed && memcmp(b.data, data, consumed) != 0)) abort();
    buf_deinit(&b);
    return 0;
}
