/* fuzz_job.c -- the job "req" JSON decoder (workers parse what gateways enqueued). A decoded
 * request must encode, and decode again to the same request. */
#include "queue/job.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct job_request r, r2;
    struct err e;
    if (job_decode(&r, (const char *)data, size, &e) != 0) return 0;
    struct buf b;
    buf_init(&b);
    if (job_encode(&r, &b, &e) != 0) abort();
    if (job_decode(&r2, b.data, b.len, &e) != 0) abort();
    if (r2.max_tokens != r.max_tokens || r2.seed != r.seed || r2.n_stop != r.n_stop ||
        r2.kind != r.kind || r2.n_messages != r.n_messages)
        abort();
    job_request_deinit(&r2);
    job_request_deinit(&r);
    buf_deinit(&b);
    return 0;
}
