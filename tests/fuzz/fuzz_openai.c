/* fuzz_openai.c -- completion / chat body validation. Whatever the validator accepts must
 * become a job JSON that the worker's decoder (job_decode) accepts too: the gateway promises
 * a worker never rejects a job for its shape. */
#include "gateway/openai.h"
#include "queue/job.h"

#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const struct openai_limits lim = {.max_tokens_default = 16,
                                             .max_tokens_limit = 4096,
                                             .max_timeout_ms = 60000,
                                             .model_default = "m"};
    for (int kind = 0; kind < 2; kind++) {
        struct openai_request r;
        struct err e = {0};
        if (openai_parse(&r, (const char *)data, size, kind, &lim, &e) == 0) {
            struct buf out;
            buf_init(&out);
            openai_job_json(&r, 42, 0, &out);
            struct job_request jr;
            if (job_decode(&jr, out.data, out.len, &e) != 0) __builtin_trap();
            job_request_deinit(&jr);
            buf_deinit(&out);
        } else if (e.msg[0] == 0) {
            __builtin_trap(); /* every rejection names its problem */
        }
        openai_request_deinit(&r);
    }
    return 0;
}
