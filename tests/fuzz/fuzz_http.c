/* fuzz_http.c -- the gateway's HTTP request reader (http-parser glue): arbitrary bytes, fed
 * whole and then split at a data-derived point, pipelined requests read one at a time.
 * Must not crash, leak or read past the input; limits must hold. */
#include "gateway/http.h"

#include <stdint.h>
#include <string.h>

static void run(const uint8_t *data, size_t size, size_t split)
{
    struct http_reader r;
    http_reader_init(&r, 2048, 4096);
    size_t off = 0;
    for (int guard = 0; guard < 64 && off < size; guard++) {
        size_t end = off < split && split < size ? split : size;
        size_t used = 0;
        int rc = http_reader_feed(&r, (const char *)data + off, end - off, &used);
        if (used > end - off) __builtin_trap();
        off += used;
        if (rc < 0) break;
        if (rc == HTTP_READ_DONE) {
            if (r.req.body.len > 4096) __builtin_trap();
            size_t n;
            (void)http_req_path(&r.req, &n);
            (void)http_req_header(&r.req, "content-type", &n);
            (void)http_req_header(&r.req, "authorization", &n);
            if (r.req.upgrade) break;
            http_reader_next(&r);
            continue;
        }
        if (end == size) break;
        split = size; /* second part: the rest */
    }
    http_reader_deinit(&r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    run(data, size, size);
    if (size > 1) run(data, size, (size_t)data[0] % size);
    return 0;
}
