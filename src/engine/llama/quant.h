/* quant.h -- ggml block formats as the engine reads them: dequantization, activation
 * quantization (the rounding llama.cpp applies to the right-hand side of every product) and
 * dot products weight-row x activation-row, with AVX2+FMA versions picked at run time and
 * portable scalar versions that are the reference in tests.
 * Does not encode weights (that is quantize.c, for mkmodel) and knows nothing of models. */
#ifndef LLMQ_LLAMA_QUANT_H
#define LLMQ_LLAMA_QUANT_H

#include <stddef.h>
#include <stdint.h>

#include "engine/llama/gguf.h"

#define QK8_0 32
#define QK4_0 32
#define QK_K 256

/* Block layouts, byte for byte as in ggml (little-endian, fp16 scales as raw bits). */
struct block_q8_0 { uint16_t d; int8_t qs[QK8_0]; };                 /* 34 bytes */
struct block_q4_0 { uint16_t d; uint8_t qs[QK4_0 / 2]; };            /* 18: low nibbles = 0..15 */
struct block_q4_K {                                                  /* 144 bytes */
    uint16_t d, dmin;          /* super-block scales of the 6-bit scales and mins */
    uint8_t scales[12];        /* 8 scales + 8 mins, 6 bits each (get_scale_min_k4) */
    uint8_t qs[QK_K / 2];      /* per 64 values: 32 bytes, low nibbles first 32, high next 32 */
};
struct block_q6_K {                                                  /* 210 bytes */
    uint8_t ql[QK_K / 2];      /* low 4 bits */
    uint8_t qh[QK_K / 4];      /* high 2 bits */
    int8_t scales[QK_K / 16];  /* one per 16 values */
    uint16_t d;
};
struct block_q8_K {            /* activations only (never in files): 292 bytes */
    float d;
    int8_t qs[QK_K];
    int16_t bsums[QK_K / 16];  /* sums of qs per 16 values (for the Q4_K mins) */
};

/* Activation types that are not ggml types: values rounded to F16 / BF16 (as llama.cpp
 * rounds the right-hand side of F16 / BF16 products) but stored as the f32 they round to, so
 * kernels convert only the weights. */
#define QUANT_ACT_F16R ((enum ggml_type)100)
#define QUANT_ACT_BF16R ((enum ggml_type)101)
/* Q8_0 blocks followed by their scales again as f32 (4-byte aligned), so kernels for Q8_0 /
 * Q4_0 weights need no f16 conversion per block and token. Reads as plain Q8_0 blocks. */
#define QUANT_ACT_Q8_0S ((enum ggml_type)102)

/* Dot product of n values: w is a weight row of the tensor type, a an activation row of
 * that type's activation type (quant_act_type). */
typedef float quant_dot_fn(int n, const void *w, const void *a);
/* nt dot products of one weight row with the activation rows a, a + a_stride, ...: out[k].
 * Each result is bit-identical to quant_dot_fn on that row (batching changes nothing). */
typedef void quant_dotn_fn(int n, const void *w, const void *a, size_t a_stride, int nt, float *out);

/* Float weights (F32/F16/BF16), many tokens: accumulates columns [c0, c1) (multiples of
 * QUANT_TILE_COLS) of nr <= QUANT_TILE_ROWS weight rows (row_bytes apart) against nt <=
 * QUANT_TILE_TOKS activation rows (a_stride bytes apart) into 16-lane partial sums,
 * acc[r * acc_rs + t * 16 + lane], which the caller zeroes before column 0. Each partial sum
 * sees the same products in the same order as in dot/dotn, so quant_tile_sum of it is
 * bit-identical to their result: splitting the columns into chunks only lets a matmul keep
 * the activations of a chunk in L1 while it computes nr x nt products per weight load
 * (the register tile), which is what batched decode needs to be arithmetic- rather than
 * latency-bound (llmq-kernel-bench). */
#define QUANT_TILE_ROWS 4
#define QUANT_TILE_TOKS 4
#define QUANT_TILE_COLS 16
/* first: start from zero rather than from acc. y: when not NULL (the last chunk), the sums
 * are reduced as dot/dotn reduce them and written to y[t * y_ts + r] instead of to acc.
 * pf: when not NULL, pf_nr <= nr rows the caller multiplies next (same layout): the tile
 * prefetches their columns [c0, c1) into L2 as it walks its own, so they arrive while it
 * computes. */
typedef void quant_tile_fn(int c0, int c1, int first, const void *w, size_t row_bytes, int nr,
                           const void *a, size_t a_stride, int nt, float *acc, size_t acc_rs,
                           float *y, size_t y_ts, const void *pf, int pf_nr);

struct quant_traits {
    enum ggml_type type;
    int block_elems;
    size_t block_bytes;
    enum ggml_type act_type;         /* F32, QUANT_ACT_F16R / BF16R / Q8_0S, or Q8_K */
    quant_dot_fn *dot;               /* fastest available (AVX2 when the CPU has it) */
    quant_dot_fn *dot_ref;           /* portable scalar reference */
    void (*dequant)(const void *row, float *out, int n);
    quant_dotn_fn *dotn;             /* multi-token form of dot; NULL: call dot per token */
    quant_tile_fn *tile;             /* register-tiled form (float types with AVX-512), or NULL */
};

/* Traits of a weight type the engine computes with (F32, F16, BF16, Q8_0, Q4_0, Q4_K,
 * Q6_K), or NULL. The first call picks the kernels (thread-safe). */
const struct quant_traits *quant_traits(enum ggml_type t);
/* 0: scalar kernels, 1: AVX2 (+FMA, F16C), 2: AVX-512 (F, BW, VL, DQ). LLMQ_NO_SIMD=1 forces
 * the scalar ones, LLMQ_NO_AVX512=1 stops at AVX2. Each tier gives bit-identical results
 * to AVX2 (the scalar one differs in summation order only). */
int quant_simd(void);
/* For tests: the dot of every tier available here (scalar, AVX2, AVX-512, VNNI) into out[0..];
 * returns how many. Not for quantized weights in the LLMQ_F32_ACT mode. */
int quant_dot_tiers(enum ggml_type t, int n, const void *w, const void *a, float out[4]);
/* Which activation type F16 weights use: 1 (default) rounds activations to F16 like
 * llama.cpp; 0 keeps them F32. Call before the first quant_traits. */
void quant_set_f16_act(int f16);

/* Bytes of one row of n values of type t (weights or activation types, incl. Q8_K). */
size_t quant_row_bytes(enum ggml_type t, int n);
/* Converts n floats into an activation row of type act (F32 copy, F16R, BF16R, Q8_0, Q8_0S, Q8_K),
 * rounding as llama.cpp does on x86. n must be a multiple of the block size. */
void quant_act(enum ggml_type act, const float *x, void *out, int n);
void quant_dequant_row(enum ggml_type t, const void *row, float *out, int n);

/* Scalar IEEE conversions (round to nearest even). */
float quant_fp16_to_fp32(uint16_t h);
uint16_t quant_fp32_to_fp16(float f);
static inline float quant_bf16_to_fp32(uint16_t h)
{
    union { uint32_t u; float f; } v = { .u = (uint32_t)h << 16 };
    return v.f;
}
uint16_t quant_fp32_to_bf16(float f);
/* Rounds x to the nearest f16 value (as storing into an f16 KV cache does). */
static inline float quant_round_fp16(float x) { return quant_fp16_to_fp32(quant_fp32_to_fp16(x)); }
/* The same over a row, in place (F16C when available; the same values as one by one). */
void quant_round_fp16_row(float *x, int n);
/* Converts n floats to/from f16 (F16C when available). */
void quant_fp32_to_fp16_row(const float *x, uint16_t *y, int n);
void quant_fp16_to_fp32_row(const uint16_t *x, float *y, int n);
/* f16 . f32 dot of n values, and y += a * x[f16] (attention over the KV cache). */
float quant_dot_f16_f32(int n, const uint16_t *x, const float *y);
void quant_axpy_f16(int n, float a, const uint16_t *x, float *y);
/* The same over count rows x, x + x_stride, ... (one KV page of positions), in one call:
 * out[i] = quant_dot_f16_f32(n, row i, y), bit-identical to the single-row call (attention
 * spent as long in the calls and their dispatch as in the arithmetic at head_dim 64). */
void quant_dot_f16_f32_rows(int n, const uint16_t *x, size_t x_stride, int count, const float *y,
                            float *out);
/* The V sum of attention in llamafile tinyBLAS's order: part + (j % 16) * n accumulates
 * a[j] * V_j for positions j < count, each partial sum an FMA chain in increasing j; V_j is
 * pages[j / 16] + (j % 16) * row_stride (the KV cache's pages). Partial sums 0 .. min(count,
 * 16) - 1 are written (the others are not touched). Same values as quant_axpy_f16 per
 * position into zeroed partial sums; with AVX-512 each partial sum stays in registers over
 * its positions instead of being loaded and stored at every one. */
void quant_vsum_f16(int n, const float *a, int count, const uint16_t *const *pages,
                    size_t row_stride, float *part);

#endif
