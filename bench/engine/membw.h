/* membw.h -- memory read bandwidth, the bound on single-sequence decode speed.
 * Decode streams every weight once per token, so tokens/s can never beat
 * read bandwidth / weight bytes per token. Measures sequential reads of a buffer far larger
 * than the caches, split evenly over n threads, and reports the best of several passes. */
#ifndef LLMQ_BENCH_MEMBW_H
#define LLMQ_BENCH_MEMBW_H

#include <stddef.h>

/* Read bandwidth in GB/s (1e9 bytes/s) with n_threads readers over a buffer of size_bytes;
 * < 0 on allocation failure. Takes about passes * size / bandwidth seconds. */
double membw_read_gbps(int n_threads, size_t size_bytes, int passes);

#endif
