/* membw.c -- sequential read bandwidth with 1..N threads (see membw.h).
 * Each reader sums its slice with 256-bit loads into four independent accumulators so the
 * loop is limited by memory, not by add latency; the sums are kept so nothing is optimised
 * away. Pages are touched before timing so page faults are not measured. The buffer asks
 * for 2 MB huge pages, as the engine's weights do (gguf_copy_data), so the bound and the
 * engine read memory the same way: over 4 KB pages this loop itself reads ~15 % slower. */
#include "membw.h"

#include <immintrin.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "common/clock.h"

struct reader {
    const uint8_t *p;
    size_t n;                   /* bytes, multiple of 128 */
    pthread_barrier_t *start;
    uint64_t sum;
};

__attribute__((target("avx2"))) static uint64_t read_avx2(const uint8_t *p, size_t n)
{
    __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0;
    for (size_t i = 0; i < n; i += 128) {
        a0 = _mm256_add_epi64(a0, _mm256_load_si256((const __m256i *)(p + i)));
        a1 = _mm256_add_epi64(a1, _mm256_load_si256((const __m256i *)(p + i + 32)));
        a2 = _mm256_add_epi64(a2, _mm256_load_si256((const __m256i *)(p + i + 64)));
        a3 = _mm256_add_epi64(a3, _mm256_load_si256((const __m256i *)(p + i + 96)));
    }
    a0 = _mm256_add_epi64(_mm256_add_epi64(a0, a1), _mm256_add_epi64(a2, a3));
    uint64_t out[4];
    _mm256_storeu_si256((__m256i *)out, a0);
    return out[0] + out[1] + out[2] + out[3];
}

static uint64_t read_scalar(const uint8_t *p, size_t n)
{
    const uint64_t *q = (const uint64_t *)p;
    uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    for (size_t i = 0; i < n / 8; i += 4) {
        s0 += q[i];
        s1 += q[i + 1];
        s2 += q[i + 2];
        s3 += q[i + 3];
    }
    return s0 + s1 + s2 + s3;
}

static void *reader_run(void *arg)
{
    struct reader *r = arg;
    pthread_barrier_wait(r->start);
    r->sum += __builtin_cpu_supports("avx2") ? read_avx2(r->p, r->n) : read_scalar(r->p, r->n);
    return NULL;
}

double membw_read_gbps(int n_threads, size_t size_bytes, int passes)
{
    if (n_threads < 1) n_threads = 1;
    if (n_threads > 64) n_threads = 64;
    size_t slice = size_bytes / (size_t)n_threads / 128 * 128;
    uint8_t *buf = NULL;
    if (slice == 0 || posix_memalign((void **)&buf, 2u << 20, slice * (size_t)n_threads) != 0) return -1;
    madvise(buf, slice * (size_t)n_threads, MADV_HUGEPAGE);
    memset(buf, 1, slice * (size_t)n_threads);
    double best = 0;
    volatile uint64_t sink = 0;
    for (int pass = 0; pass < passes; pass++) {
        pthread_barrier_t start;
        pthread_barrier_init(&start, NULL, (unsigned)n_threads);
        struct reader r[64];
        pthread_t th[64];
        for (int t = 0; t < n_threads; t++) r[t] = (struct reader){ buf + slice * (size_t)t, slice, &start, 0 };
        for (int t = 1; t < n_threads; t++) pthread_create(&th[t], NULL, reader_run, &r[t]);
        /* the caller is reader 0; time from just before the barrier releases */
        uint64_t t0 = clock_mono_ns();
        reader_run(&r[0]);
        for (int t = 1; t < n_threads; t++) pthread_join(th[t], NULL);
        uint64_t ns = clock_mono_ns() - t0;
        pthread_barrier_destroy(&start);
        for (int t = 0; t < n_threads; t++) sink += r[t].sum;
        double gbps = (double)(slice * (size_t)n_threads) / (double)ns;
        if (gbps > best) best = gbps;
    }
    (void)sink;
    free(buf);
    return best;
}
