/* dequant.cuh -- element i of a weight row in any type the CUDA backend computes with
 * (byte layouts as quant.h / ggml), for the kernels of backend_cuda.cu. Host-callable too,
 * so tests/engine/test_cuda_dequant.cu checks it against quant.c on a machine without a GPU. */
#ifndef LLMQ_LLAMA_CUDA_DEQUANT_CUH
#define LLMQ_LLAMA_CUDA_DEQUANT_CUH

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "engine/llama/cuda/backend.h"

__host__ __device__ __forceinline__ float ld_f16(const uint8_t *p)
{
    return __half2float(__ushort_as_half((unsigned short)(p[0] | (p[1] << 8))));
}

__host__ __device__ __forceinline__ float bits_to_f32(unsigned u)
{
#ifdef __CUDA_ARCH__
    return __uint_as_float(u);
#else
    float f;
    memcpy(&f, &u, sizeof(f));
    return f;
#endif
}

/* a * b rounded on its own: kept out of an FMA, as the CPU computes it. */
__host__ __device__ __forceinline__ float mul_rn(float a, float b)
{
#ifdef __CUDA_ARCH__
    return __fmul_rn(a, b);
#else
    return a * b;
#endif
}

__host__ __device__ __forceinline__ float round_f16(float x) { return __half2float(__float2half_rn(x)); }

/* Element i of a weight row of type TY (byte layouts as quant.h / ggml). */
template <int TY> __host__ __device__ float dq(const uint8_t *row, int i);

template <> __host__ __device__ __forceinline__ float dq<BACKEND_TYPE_F32>(const uint8_t *row, int i)
{
    return ((const float *)row)[i];
}
template <> __host__ __device__ __forceinline__ float dq<BACKEND_TYPE_F16>(const uint8_t *row, int i)
{
    return __half2float(((const __half *)row)[i]);
}
template <> __host__ __device__ __forceinline__ float dq<BACKEND_TYPE_BF16>(const uint8_t *row, int i)
{
    return bits_to_f32((unsigned)((const unsigned short *)row)[i] << 16);
}
template <> __host__ __device__ __forceinline__ float dq<BACKEND_TYPE_Q8_0>(const uint8_t *row, int i)
{
    const uint8_t *b = row + (size_t)(i / 32) * 34;
    return ld_f16(b) * (float)(int8_t)b[2 + i % 32];
}
template <> __host__ __device__ __forceinline__ float dq<BACKEND_TYPE_Q4_0>(const uint8_t *row, int i)
{
    const uint8_t *b = row + (size_t)(i / 32) * 18;
    int j = i % 32, byte = b[2 + (j & 15)];
    int q = (j < 16 ? (byte & 15) : (byte >> 4)) - 8;
    return ld_f16(b) * (float)q;
}
template <> __host__ __device__ __forceinline__ float dq<BACKEND_TYPE_Q4_K>(const uint8_t *row, int i)
{
    const uint8_t *b = row + (size_t)(i / 256) * 144;
    const uint8_t *sc = b + 4, *qs = b + 16;
    int r = i % 256, j = r / 64, rr = r % 64, is = 2 * j + (rr >= 32);
    int s, m;
    if (is < 4) {                                     /* get_scale_min_k4 */
        s = sc[is] & 63;
        m = sc[is + 4] & 63;
    } else {
        s = (sc[is + 4] & 0xF) | ((sc[is - 4] >> 6) << 4);
        m = (sc[is + 4] >> 4) | ((sc[is] >> 6) << 4);
    }
    int byte = qs[j * 32 + rr % 32];
    int q = rr < 32 ? (byte & 15) : (byte >> 4);
    return mul_rn(ld_f16(b) * (float)s, (float)q) - mul_rn(ld_f16(b + 2), (float)m);
}
template <> __host__ __device__ __forceinline__ float dq<BACKEND_TYPE_Q6_K>(const uint8_t *row, int i)
{
    const uint8_t *b = row + (size_t)(i / 256) * 210;
    const uint8_t *ql = b, *qh = b + 128;
    const int8_t *sc = (const int8_t *)(b + 192);
    int r = i % 256, n = r / 128, rr = r % 128, k = rr / 32, l = rr % 32;
    int qlb = ql[n * 64 + l + (k & 1) * 32];
    int lo = k >= 2 ? (qlb >> 4) : (qlb & 15);
    int hi = (qh[n * 32 + l] >> (2 * k)) & 3;
    int q = (lo | (hi << 4)) - 32;
    return ld_f16(b + 208) * (float)sc[n * 8 + l / 16 + 2 * k] * (float)q;
}


/* Activation rounding, per value, given its block's largest magnitude (Q8_0, 32 values) or
 * its signed value of largest magnitude (Q8_K, 256 values; not 0): the f32 value the CPU's
 * quant_act block stands for (quant.c act_q8_0 / act_q8_K, round half to even). */
__host__ __device__ __forceinline__ float act_q8_0_value(float x, float amax)
{
    float d = amax / 127.f, id = amax != 0.0f ? 127.f / amax : 0.0f;
    return rintf(x * id) * round_f16(d);
}

__host__ __device__ __forceinline__ float act_q8_K_value(float x, float max)
{
    float iscale = -127.f / max, q = rintf(iscale * x);
    return (q < 127.f ? q : 127.f) * (1 / iscale);
}

#endif
