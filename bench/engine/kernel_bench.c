/* kernel_bench.c -- llmq-kernel-bench: throughput of the engine's dot-product kernels (quant.h),
 * one thread, per weight type: weight rows hot in L2 (the kernel's compute ceiling) and rows
 * streamed from a buffer far larger than the caches (what a decode step sees), against the
 * memory read bandwidth. A kernel whose L2 figure is below the bandwidth makes decode
 * compute-bound on that type; that is where kernel work pays. Also times 1 weight row against
 * 4 and 16 activation rows (the batched-decode case) per weight byte.
 * Times are the thread's CPU time (robust to a shared machine). Measures only; asserts nothing. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

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

/* GB/s of weight bytes through dot() for n_rows rows of `rows_buf`, each multiplied with
 * n_act activation rows; repeated until ~0.3 s have passed. */
static double run(const struct quant_traits *qt, const uint8_t *rows_buf, size_t n_rows,
                  size_t row_bytes, const uint8_t *act, size_t act_bytes, int n_act)
{
    uint64_t t0 = cpu_ns(), bytes = 0;
    float s = 0;
    do {
        for (size_t r = 0; r < n_rows; r++) {
            const uint8_t *row = rows_buf + r * row_bytes;
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

/* GB/s of weights through the register-tile kernel (float types with AVX-512): L2-hot rows in
 * blocks of QUANT_TILE_ROWS, each against n_act activation rows in groups of QUANT_TILE_TOKS,
 * whole rows per call (as matmul's tile path does for rows of up to 2048 values). */
static double run_tile(const struct quant_traits *qt, const uint8_t *rows_buf, size_t n_rows,
                       size_t row_bytes, const uint8_t *act, size_t act_bytes, int n_act)
{
    static float acc[QUANT_TILE_ROWS * 16 * 16], y[16 * QUANT_TILE_ROWS];
    uint64_t t0 = cpu_ns(), bytes = 0;
    float s = 0;
    n_rows -= n_rows % QUANT_TILE_ROWS;
    do {
        for (size_t r = 0; r < n_rows; r += QUANT_TILE_ROWS) {
            for (int t = 0; t < n_act; t += QUANT_TILE_TOKS)
                qt->tile(0, COLS, 1, rows_buf + r * row_bytes, row_bytes, QUANT_TILE_ROWS,
                         act + (size_t)t * act_bytes, act_bytes, QUANT_TILE_TOKS, acc, 16 * 16,
                         y + t * QUANT_TILE_ROWS, QUANT_TILE_ROWS,
                         /* pass t / 4 fetches next row t / 4, as matmul spreads them */
                         rows_buf + (r + QUANT_TILE_ROWS + (size_t)t / QUANT_TILE_TOKS) * row_bytes, 1);
            s += y[0];
        }
        bytes += n_rows * row_bytes;
    } while (cpu_ns() - t0 < 300000000ull);
    sink = s;
    return (double)bytes / (double)(cpu_ns() - t0);
}

int main(int argc, char **argv)
{
    if (argc > 1 && atol(argv[1]) <= 0) {
        fprintf(stderr, "usage: llmq-kernel-bench [BUFFER_MB]  (the 'streamed' buffer; default 4x the L3, >= 256)\n");
        return argc > 1 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) ? 0 : 2;
    }
    /* 'streamed' must not fit in the last-level cache: this VM reports a 480 MB L3, and over a
     * 256 MB buffer part of every pass came from it (F16 read ~100 % of the bandwidth test) */
    long l3 = sysconf(_SC_LEVEL3_CACHE_SIZE);
    size_t big_mb = argc > 1 ? (size_t)atol(argv[1]) : l3 > 0 && (size_t)l3 * 4 >> 20 > 256 ? (size_t)l3 * 4 >> 20 : 256;
    enum ggml_type types[] = { GGML_TYPE_F32, GGML_TYPE_F16, GGML_TYPE_BF16, GGML_TYPE_Q8_0,
                               GGML_TYPE_Q4_0, GGML_TYPE_Q4_K, GGML_TYPE_Q6_K };
    double bw = membw_read_gbps(1, big_mb << 20, 3);
    printf("llmq-kernel-bench: one thread, rows of %d values, SIMD kernels %s; read bandwidth %.1f GB/s\n\n",
           COLS, quant_simd() ? "on" : "off (scalar)", bw);
    printf("| type | act | L2-hot GB/s | streamed GB/s | x4 act GB/s | x16 act GB/s | x16 tile GB/s | x16 tile streamed GB/s | weight values/ns (L2) |\n");
    printf("|---|---|---:|---:|---:|---:|---:|---:|---:|\n");

    /* one buffer for all types, in 2 MB pages as the engine's weights (gguf_copy_data) and the
     * bandwidth test have; fresh memory is slow to fault in on this VM, so it is made once */
    uint8_t *big = aligned_alloc(2u << 20, big_mb << 20);
    if (!big) {
        fprintf(stderr, "llmq-kernel-bench: cannot allocate %zu MB\n", big_mb);
        return 1;
    }
    madvise(big, big_mb << 20, MADV_HUGEPAGE);
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
        for (size_t r = 0; r < big_rows; r++) memcpy(big + r * row_bytes, row, row_bytes);
        uint8_t *act = malloc(16 * act_bytes);
        for (int k = 0; k < 16; k++) quant_act(qt->act_type, x, act + (size_t)k * act_bytes, COLS);

        double hot = run(qt, big, hot_rows, row_bytes, act, act_bytes, 1);
        /* the streamed figures are the best of 3: this VM's host takes the core away for
         * ~100 ms now and then, which counts as the thread's CPU time (one F16 figure came
         * out at 9 GB/s between 15-18 before and after) */
        double streamed = 0;
        for (int k = 0; k < 3; k++) streamed = fmax(streamed, run(qt, big, big_rows, row_bytes, act, act_bytes, 1));
        double x4 = run(qt, big, hot_rows, row_bytes, act, act_bytes, 4);
        double x16 = run(qt, big, hot_rows, row_bytes, act, act_bytes, 16);
        char tile[32] = "–", tile_big[32] = "–";
        if (qt->tile) {
            snprintf(tile, sizeof(tile), "%.1f", run_tile(qt, big, hot_rows, row_bytes, act, act_bytes, 16));
            /* the last tile's prefetch reaches past the buffer: harmless, a prefetch never faults */
            double g = 0;
            for (int k = 0; k < 3; k++) g = fmax(g, run_tile(qt, big, big_rows, row_bytes, act, act_bytes, 16));
            snprintf(tile_big, sizeof(tile_big), "%.1f", g);
        }
        printf("| %s | %s | %.1f | %.1f | %.1f | %.1f | %s | %s | %.2f |\n", ggml_type_name(types[ti]),
               act_name(qt->act_type), hot, streamed, x4, x16, tile, tile_big,
               hot * 1e9 / ((double)row_bytes / COLS) / 1e9);
        free(row);
        free(act);
    }
    free(x);
    free(big);
    printf("\n'streamed': rows from a buffer far larger than the caches, in 2 MB pages; the kernels\n"
           "prefetch the weights ahead themselves (quant.c, PREFETCH_AHEAD); best of 3 runs of ~0.3 s.\n"
           "'x4/x16 act': GB/s of weights when each L2-hot row is multiplied with 4/16 activation rows\n"
           "(batched decode, through the multi-token kernel dotn when the type has one); it is\n"
           "L2-hot/4 (/16) when nothing is shared between the rows, more when decoding is shared.\n"
           "'x16 tile': the same 16 activation rows through the 4 x 4 register tile (quant_tile_fn),\n"
           "which matmul uses for float weights and several tokens; 'streamed' from the large\n"
           "buffer, as batched decode reads a model's weights.\n");
    return 0;
}
