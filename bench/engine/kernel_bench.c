/* kernel_bench.c -- llmq-kernel-bench: throughput of the engine's dot-product kernels (quant.h),
 * one thread, per weight type: weight rows hot in L2 (the kernel's compute ceiling) and rows
 * streamed from a buffer far larger than the caches (what a decode step sees), against the
 * memory read bandwidth. A kernel whose L2 figure is below the bandwidth makes decode
 * compute-bound on that type; that is where kernel work pays. Also times 1 weight row against
 * 4 and 16 activation rows (the batched-decode case) per weight byte.
 * Times are the thread's CPU time (robust to a shared machine). Measures only; asserts nothing. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/clock.h"
#include "engine/llama/quant.h"
#include "engine/llama/quantize.h"
#include "membw.h"

#define COLS 2048               /* a 1B-class row */

static volatile float sink;

static const char *act_name(enum ggml_type t)
{
    if (t == QUANT_ACT_F16R) return "f16r";
    if (t == QUANT_ACT_BF16R) return "bf16r";
#ifdef QUANT_ACT_Q8_0S
    if (t == QUANT_ACT_Q8_0S) return "q8_0s";
#endif
    const char *n = ggml_type_name(t);
    return n ? n : "?";
}

/* Thread CPU time, not wall time: on a shared machine the kernel's own cycles are what we
 * want, not the time other processes held the core. */
static uint64_t cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Prefetch distance in bytes for the streamed+prefetch column. The row is multiplied in
 * pieces of 256 values and before each piece the bytes PF_AHEAD beyond it are prefetched, as a
 * kernel would interleave prefetches with its loads (a burst of prefetches per row only fills
 * the line-fill buffers and stalls). */
#define PF_AHEAD 1536
#define PF_PIECE 256

/* GB/s of weight bytes through dot() for n_rows rows of `rows_buf`, each multiplied with
 * n_act activation rows; repeated until ~0.3 s have passed. */
static double run(const struct quant_traits *qt, const uint8_t *rows_buf, size_t n_rows,
                  size_t row_bytes, const uint8_t *act, size_t act_bytes, int n_act, int pf)
{
    uint64_t t0 = cpu_ns(), bytes = 0;
    float s = 0;
    size_t end = n_rows * row_bytes;
    do {
        for (size_t r = 0; r < n_rows; r++) {
            const uint8_t *row = rows_buf + r * row_bytes;
            if (pf) {
                size_t piece = row_bytes / (COLS / PF_PIECE);
                for (int p = 0; p < COLS / PF_PIECE; p++) {
                    size_t at = r * row_bytes + (size_t)p * piece + PF_AHEAD;
                    for (size_t o = at; o < at + piece && o < end; o += 64)
                        __builtin_prefetch(rows_buf + o, 0, 0);
                    for (int k = 0; k < n_act; k++)
                        s += qt->dot(PF_PIECE, row + (size_t)p * piece, act + (size_t)k * act_bytes);
                }
                continue;
            }
            if (n_act > 1 && qt->dotn) {   /* the multi-token kernel, as matmul uses it */
                float out[16];
                qt->dotn(COLS, row, act, act_bytes, n_act, out);
                s += out[0];
                continue;
            }
            for (int k = 0; k < n_act; k++)
                s += qt->dot(COLS, row, act + (size_t)k * act_bytes);
        }
        bytes += n_rows * row_bytes;
    } while (cpu_ns() - t0 < 300000000ull);
    sink = s;
    return (double)bytes / (double)(cpu_ns() - t0);
}

int main(int argc, char **argv)
{
    size_t big_mb = argc > 1 ? (size_t)atol(argv[1]) : 256;
    enum ggml_type types[] = { GGML_TYPE_F32, GGML_TYPE_F16, GGML_TYPE_BF16, GGML_TYPE_Q8_0,
                               GGML_TYPE_Q4_0, GGML_TYPE_Q4_K, GGML_TYPE_Q6_K };
    double bw = membw_read_gbps(1, big_mb << 20, 3);
    printf("llmq-kernel-bench: one thread, rows of %d values, SIMD kernels %s; read bandwidth %.1f GB/s\n\n",
           COLS, quant_simd() ? "on" : "off (scalar)", bw);
    printf("| type | act | L2-hot GB/s | streamed GB/s | streamed+prefetch GB/s | x4 act GB/s | x16 act GB/s | weight values/ns (L2) |\n");
    printf("|---|---|---:|---:|---:|---:|---:|---:|\n");

    float *x = malloc(COLS * sizeof(float));
    for (int i = 0; i < COLS; i++) x[i] = (float)((i * 7919) % 1000) / 1000.0f - 0.5f;
    for (size_t ti = 0; ti < sizeof(types) / sizeof(types[0]); ti++) {
        const struct quant_traits *qt = quant_traits(types[ti]);
        if (!qt) continue;
        size_t row_bytes = quant_row_bytes(types[ti], COLS);
        size_t act_bytes = quant_row_bytes(qt->act_type, COLS);
        /* weights: one row encoded, copied everywhere (values do not matter for speed) */
        uint8_t *row = malloc(row_bytes);
        quantize_row(types[ti], x, row, COLS);
        size_t hot_rows = (256u << 10) / row_bytes;             /* 256 KB: stays in L2 */
        size_t big_rows = (big_mb << 20) / row_bytes;
        uint8_t *big = malloc(big_rows * row_bytes);
        for (size_t r = 0; r < big_rows; r++) memcpy(big + r * row_bytes, row, row_bytes);
        uint8_t *act = malloc(16 * act_bytes);
        for (int k = 0; k < 16; k++) quant_act(qt->act_type, x, act + (size_t)k * act_bytes, COLS);

        double hot = run(qt, big, hot_rows, row_bytes, act, act_bytes, 1, 0);
        double streamed = run(qt, big, big_rows, row_bytes, act, act_bytes, 1, 0);
        double streamed_pf = run(qt, big, big_rows, row_bytes, act, act_bytes, 1, 1);
        double x4 = run(qt, big, hot_rows, row_bytes, act, act_bytes, 4, 0);
        double x16 = run(qt, big, hot_rows, row_bytes, act, act_bytes, 16, 0);
        printf("| %s | %s | %.1f | %.1f | %.1f | %.1f | %.1f | %.2f |\n", ggml_type_name(types[ti]),
               act_name(qt->act_type), hot, streamed, streamed_pf, x4, x16,
               hot * 1e9 / ((double)row_bytes / COLS) / 1e9);
        free(row);
        free(big);
        free(act);
    }
    free(x);
    printf("\n'streamed+prefetch': the same with a software prefetch %d bytes ahead of the row in use.\n"
           "'x4/x16 act': GB/s of weights when each L2-hot row is multiplied with 4/16 activation rows\n"
           "(batched decode, through the multi-token kernel dotn when the type has one); it is\n"
           "L2-hot/4 (/16) when nothing is shared between the rows, more when decoding is shared.\n",
           PF_AHEAD);
    return 0;
}
