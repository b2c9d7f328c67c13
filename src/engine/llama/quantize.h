/* quantize.h -- f32 -> F16, BF16, Q8_0, Q4_0, Q4_K, Q6_K weight encoders (and a scalar decoder).
 * Encoders follow llama-quantize without an importance matrix: Q8_0/Q4_0 round per 32-value
 * block, Q4_K/Q6_K run ggml's scale searches (make_qkx2 / make_qx) per 256-value super-block,
 * so a file written here is laid out and rounded like one llama-quantize writes.
 * The decoder is the plain scalar formula, a reference for tests; the engine's fast
 * dequantization and dot products live in quant.c, not here. */
#ifndef LLMQ_LLAMA_QUANTIZE_H
#define LLMQ_LLAMA_QUANTIZE_H

#include <stddef.h>
#include <stdint.h>

#include "engine/llama/gguf.h"

/* 1 when quantize_row() can encode t: F32, F16, BF16, Q8_0, Q4_0, Q4_K, Q6_K. */
int quantize_supported(enum ggml_type t);

/* Values per block of t (1 for F32/F16/BF16, 32 for Q8_0/Q4_0, 256 for Q4_K/Q6_K);
 * 0 when t is not supported here. */
int quantize_block_elems(enum ggml_type t);

/* Bytes of one row of n values in type t; 0 when t is unsupported or n is not a multiple
 * of the block size. */
size_t quantize_row_bytes(enum ggml_type t, int64_t n);

/* Encodes n floats (n a multiple of quantize_block_elems(t)) into dst, which holds
 * quantize_row_bytes(t, n) bytes. Deterministic; no allocation; thread-safe. Uses AVX2 for
 * the Q4_K/Q6_K scale searches when the CPU has it, bit-identical to quantize_row_ref. */
void quantize_row(enum ggml_type t, const float *src, void *dst, int64_t n);
/* The same with the portable scalar code only (the reference the SIMD path is tested against). */
void quantize_row_ref(enum ggml_type t, const float *src, void *dst, int64_t n);

/* Decodes n values of type t (n < 2^31; unknown types: nothing written). Forwards to the
 * engine's quant_dequant_row, so encoder and engine agree by construction. */
void quantize_dequantize_row(enum ggml_type t, const void *src, float *dst, int64_t n);

/* IEEE half and bfloat16 conversions, round to nearest even (as ggml / F16C / llama-quantize).
 * NaN stays NaN (quiet); overflow becomes infinity. */
uint16_t quantize_fp32_to_fp16(float f);
float quantize_fp16_to_fp32(uint16_t h);
uint16_t quantize_fp32_to_bf16(float f);
float quantize_bf16_to_fp32(uint16_t h);

#endif
