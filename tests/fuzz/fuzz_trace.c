/* fuzz_trace.c -- llmq-bench's trace readers (src/bench/trace.c): Azure and BurstGPT CSV,
 * Mooncake JSON lines, from a memory buffer (trace_parse; trace_load only reads the file).
 * Input: the first byte picks the format (byte % 3: azure, burstgpt, mooncake), the rest is
 * the trace. Whatever the bytes: the result is 0 or LLMQ_EFORMAT; an error names its problem
 * and leaves the trace empty; a parsed trace is sorted, starts at 0, has finite times and
 * token counts in [0, 10^7] -- what the replay scheduler relies on. */
#include "bench/trace.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    enum trace_format fmt = (enum trace_format)(data[0] % 3);
    size_t len = size - 1;
    char *buf = malloc(len ? len : 1);        /* exact size: ASan sees a read past the end */
    if (!buf) return 0;
    memcpy(buf, data + 1, len);

    struct trace t;
    struct err e = { 0 };
    int rc = trace_parse(&t, fmt, buf, len, &e);
    if (rc != 0 && rc != LLMQ_EFORMAT) abort();
    if (rc) {
        if (!e.msg[0] || t.n != 0 || t.entries != NULL) abort();
    } else {
        for (size_t i = 0; i < t.n; i++) {
            const struct trace_entry *x = &t.entries[i];
            if (!isfinite(x->t_s) || x->t_s < 0) abort();
            if (i == 0 && x->t_s != 0) abort();
            if (i > 0 && x->t_s < t.entries[i - 1].t_s) abort();
            if (x->prompt_tokens < 0 || x->prompt_tokens > 10000000) abort();
            if (x->output_tokens < 0 || x->output_tokens > 10000000) abort();
        }
    }
    trace_deinit(&t);
    trace_deinit(&t);                          /* safe twice */
    free(buf);
    return 0;
}
