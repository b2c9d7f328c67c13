/* quant.c -- block formats, activation rounding and dot-product kernels (see quant.h).
 * Scalar kernels are written for clarity and are the reference; the AVX2, AVX-512 and VNNI
 * ones are compiled with __attribute__((target)) so the library stays baseline x86-64 and
 * picks them at run time. Integer parts of the quantized products are exact everywhere; the
 * SIMD tiers sum floats in one order (llama.cpp's where we know it) and agree bit for bit,
 * the scalar one differs in order only (tests allow 1e-5 relative).
 * Layout facts follow ggml (ggml-common.h / ggml-quants.c); the code is our own. */
#include "engine/llama/quant.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define QUANT_X86 1
#else
#define QUANT_X86 0
#endif

/* ============================ scalar conversions ==================================== */

float quant_fp16_to_fp32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1f, man = h & 0x3ff, u;
    if (exp == 0) {
        if (man == 0) {
            u = sign;
        } else {                       /* subnormal: normalise */
            int e = -1;
            do { man <<= 1; e++; } while (!(man & 0x400));
            man &= 0x3ff;
            u = sign | ((uint32_t)(127 - 15 - e) << 23) | (man << 13);
        }
    } else if (exp == 31) {
        u = sign | 0x7f800000u | (man << 13);
    } else {
        u = sign | ((exp + 127 - 15) << 23) | (man << 13);
    }
    union { uint32_t u; float f; } v = { .u = u };
    return v.f;
}

uint16_t quant_fp32_to_fp16(float f)
{
    union { float f; uint32_t u; } v = { .f = f };
    uint32_t x = v.u, sign = (x >> 16) & 0x8000;
    uint32_t absx = x & 0x7fffffffu;
    if (absx >= 0x7f800000u)                               /* inf or NaN */
        return (uint16_t)(sign | 0x7c00 | (absx > 0x7f800000u ? 0x200 | ((absx >> 13) & 0x3ff) : 0));
    if (absx >= 0x477ff000u) return (uint16_t)(sign | 0x7c00); /* rounds to >= 65520: inf */
    if (absx < 0x38800000u) {                              /* result subnormal or zero */
        if (absx < 0x33000000u) return (uint16_t)sign;     /* < 2^-25: rounds to 0 */
        uint32_t e = absx >> 23, man = (absx & 0x7fffff) | 0x800000;
        int shift = 126 - (int)e;                          /* 14 + (113 - e) */
        uint32_t r = man >> shift, rem = man & ((1u << shift) - 1), half = 1u << (shift - 1);
        if (rem > half || (rem == half && (r & 1))) r++;
        return (uint16_t)(sign | r);
    }
    uint32_t r = absx - 0x38000000u;                       /* rebias exponent 127 -> 15 */
    uint32_t rem = r & 0x1fff;
    r >>= 13;
    if (rem > 0x1000 || (rem == 0x1000 && (r & 1))) r++;   /* carries into exponent: fine */
    return (uint16_t)(sign | r);
}

uint16_t quant_fp32_to_bf16(float f)
{
    union { float f; uint32_t u; } v = { .f = f };
    if ((v.u & 0x7fffffff) > 0x7f800000) return (uint16_t)((v.u >> 16) | 64); /* quiet NaN */
    return (uint16_t)((v.u + (0x7fff + ((v.u >> 16) & 1))) >> 16);
}

/* Byte offset of the f32 scales in a QUANT_ACT_Q8_0S row of nb blocks. */
#define Q8_0S_SCALES(nb) (((size_t)(nb) * sizeof(struct block_q8_0) + 3) & ~(size_t)3)

/* ============================ dequantization ======================================== */

static void get_scale_min_k4(int j, const uint8_t *q, uint8_t *d, uint8_t *m)
{
    if (j < 4) {
        *d = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *d = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
        *m = (q[j + 4] >> 4) | ((q[j - 0] >> 6) << 4);
    }
}

static void dequant_f32(const void *row, float *out, int n) { memcpy(out, row, (size_t)n * 4); }

static void dequant_f16(const void *row, float *out, int n)
{
    quant_fp16_to_fp32_row(row, out, n);
}

static void dequant_bf16(const void *row, float *out, int n)
{
    const uint16_t *x = row;
    for (int i = 0; i < n; i++) out[i] = quant_bf16_to_fp32(x[i]);
}

static void dequant_q8_0(const void *row, float *out, int n)
{
    const struct block_q8_0 *b = row;
    for (int i = 0; i < n / QK8_0; i++) {
        float d = quant_fp16_to_fp32(b[i].d);
        for (int j = 0; j < QK8_0; j++) out[i * QK8_0 + j] = b[i].qs[j] * d;
    }
}

static void dequant_q4_0(const void *row, float *out, int n)
{
    const struct block_q4_0 *b = row;
    for (int i = 0; i < n / QK4_0; i++) {
        float d = quant_fp16_to_fp32(b[i].d);
        for (int j = 0; j < QK4_0 / 2; j++) {
            out[i * QK4_0 + j] = ((b[i].qs[j] & 0xF) - 8) * d;
            out[i * QK4_0 + j + 16] = ((b[i].qs[j] >> 4) - 8) * d;
        }
    }
}

static void dequant_q4_K(const void *row, float *out, int n)
{
    const struct block_q4_K *b = row;
    for (int i = 0; i < n / QK_K; i++) {
        float d = quant_fp16_to_fp32(b[i].d), dmin = quant_fp16_to_fp32(b[i].dmin);
        const uint8_t *q = b[i].qs;
        for (int j = 0, is = 0; j < QK_K; j += 64, is += 2, q += 32) {
            uint8_t sc, m;
            get_scale_min_k4(is, b[i].scales, &sc, &m);
            float d1 = d * sc, m1 = dmin * m;
            get_scale_min_k4(is + 1, b[i].scales, &sc, &m);
            float d2 = d * sc, m2 = dmin * m;
            for (int l = 0; l < 32; l++) *out++ = d1 * (q[l] & 0xF) - m1;
            for (int l = 0; l < 32; l++) *out++ = d2 * (q[l] >> 4) - m2;
        }
    }
}

static void dequant_q6_K(const void *row, float *out, int n)
{
    const struct block_q6_K *b = row;
    for (int i = 0; i < n / QK_K; i++) {
        float d = quant_fp16_to_fp32(b[i].d);
        const uint8_t *ql = b[i].ql, *qh = b[i].qh;
        const int8_t *sc = b[i].scales;
        for (int c = 0; c < QK_K; c += 128, ql += 64, qh += 32, sc += 8, out += 128) {
            for (int l = 0; l < 32; l++) {
                int is = l / 16;
                int q1 = (int)((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
                int q2 = (int)((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
                int q3 = (int)((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
                int q4 = (int)((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
                out[l] = d * sc[is] * q1;
                out[l + 32] = d * sc[is + 2] * q2;
                out[l + 64] = d * sc[is + 4] * q3;
                out[l + 96] = d * sc[is + 6] * q4;
            }
        }
    }
}

/* ============================ activation rounding =================================== */

/* llama.cpp's x86 quantize_row_q8_0: scale 127/amax, round half to even (_mm256_round_ps). */
static void act_q8_0(const float *x, struct block_q8_0 *y, int n)
{
    for (int i = 0; i < n / QK8_0; i++, x += QK8_0) {
        float amax = 0;
        for (int j = 0; j < QK8_0; j++) amax = fmaxf(amax, fabsf(x[j]));
        float d = amax / 127.f, id = amax != 0.0f ? 127.f / amax : 0.0f;
        y[i].d = quant_fp32_to_fp16(d);
        for (int j = 0; j < QK8_0; j++) y[i].qs[j] = (int8_t)nearbyintf(x[j] * id);
    }
}

/* llama.cpp's quantize_row_q8_K_ref: scale -127/max (max = the signed value of largest
 * magnitude), round half to even, clamp at 127, block sums for the K-quant mins. */
static void act_q8_K(const float *x, struct block_q8_K *y, int n)
{
    for (int i = 0; i < n / QK_K; i++, x += QK_K) {
        float max = 0, amax = 0;
        for (int j = 0; j < QK_K; j++) {
            float ax = fabsf(x[j]);
            if (ax > amax) { amax = ax; max = x[j]; }
        }
        if (amax == 0) {
            memset(&y[i], 0, sizeof(y[i]));
            continue;
        }
        float iscale = -127.f / max;
        for (int j = 0; j < QK_K; j++) {
            int v = (int)nearbyintf(iscale * x[j]);
            y[i].qs[j] = (int8_t)(v < 127 ? v : 127);
        }
        for (int j = 0; j < QK_K / 16; j++) {
            int s = 0;
            for (int l = 0; l < 16; l++) s += y[i].qs[j * 16 + l];
            y[i].bsums[j] = (int16_t)s;
        }
        y[i].d = 1 / iscale;
    }
}

/* y = x rounded to f16 values (y may be x). */
static void round_fp16_to(const float *x, float *y, int n)
{
    uint16_t h[256];
    for (int i = 0; i < n; i += 256) {
        int k = n - i < 256 ? n - i : 256;
        quant_fp32_to_fp16_row(x + i, h, k);
        quant_fp16_to_fp32_row(h, y + i, k);
    }
}

void quant_round_fp16_row(float *x, int n) { round_fp16_to(x, x, n); }

void quant_act(enum ggml_type act, const float *x, void *out, int n)
{
    switch ((int)act) {
    case GGML_TYPE_F32: memcpy(out, x, (size_t)n * 4); break;
    case (int)QUANT_ACT_F16R: round_fp16_to(x, out, n); break;
    case (int)QUANT_ACT_BF16R: {
        float *y = out;
        for (int i = 0; i < n; i++) y[i] = quant_bf16_to_fp32(quant_fp32_to_bf16(x[i]));
        break;
    }
    case GGML_TYPE_Q8_0: act_q8_0(x, out, n); break;
    case (int)QUANT_ACT_Q8_0S: {
        const struct block_q8_0 *b = out;
        act_q8_0(x, out, n);
        float *sc = (float *)((char *)out + Q8_0S_SCALES(n / QK8_0));
        for (int i = 0; i < n / QK8_0; i++) sc[i] = quant_fp16_to_fp32(b[i].d);
        break;
    }
    case GGML_TYPE_Q8_K: act_q8_K(x, out, n); break;
    default: abort();
    }
}

/* ============================ scalar dot products =================================== */

static float dot_f32_ref(int n, const void *w, const void *a)
{
    const float *x = w, *y = a;
    double s = 0;
    for (int i = 0; i < n; i++) s += (double)x[i] * y[i];
    return (float)s;
}

static float dot_f16_ref(int n, const void *w, const void *a)
{
    const uint16_t *x = w;
    const float *y = a;
    double s = 0;
    for (int i = 0; i < n; i++) s += (double)quant_fp16_to_fp32(x[i]) * y[i];
    return (float)s;
}

static float dot_bf16_ref(int n, const void *w, const void *a)
{
    const uint16_t *x = w;
    const float *y = a;
    double s = 0;
    for (int i = 0; i < n; i++) s += (double)quant_bf16_to_fp32(x[i]) * y[i];
    return (float)s;
}

static float dot_q8_0_ref(int n, const void *w, const void *a)
{
    const struct block_q8_0 *x = w, *y = a;
    float s = 0;
    for (int i = 0; i < n / QK8_0; i++) {
        int si = 0;
        for (int j = 0; j < QK8_0; j++) si += x[i].qs[j] * y[i].qs[j];
        s += si * (quant_fp16_to_fp32(x[i].d) * quant_fp16_to_fp32(y[i].d));
    }
    return s;
}

static float dot_q4_0_ref(int n, const void *w, const void *a)
{
    const struct block_q4_0 *x = w;
    const struct block_q8_0 *y = a;
    float s = 0;
    for (int i = 0; i < n / QK4_0; i++) {
        int si = 0;
        for (int j = 0; j < QK4_0 / 2; j++)
            si += ((x[i].qs[j] & 0xF) - 8) * y[i].qs[j] + ((x[i].qs[j] >> 4) - 8) * y[i].qs[j + 16];
        s = fmaf((float)si, quant_fp16_to_fp32(x[i].d) * quant_fp16_to_fp32(y[i].d), s);
    }
    return s;
}

static float dot_q4_K_ref(int n, const void *w, const void *a)
{
    const struct block_q4_K *x = w;
    const struct block_q8_K *y = a;
    float s = 0;
    for (int i = 0; i < n / QK_K; i++) {
        const uint8_t *q = x[i].qs;
        const int8_t *q8 = y[i].qs;
        int sumi = 0, summ = 0;
        for (int j = 0; j < QK_K / 64; j++, q += 32, q8 += 64) {
            uint8_t sc1, m1, sc2, m2;
            get_scale_min_k4(2 * j, x[i].scales, &sc1, &m1);
            get_scale_min_k4(2 * j + 1, x[i].scales, &sc2, &m2);
            int s1 = 0, s2 = 0;
            for (int l = 0; l < 32; l++) {
                s1 += (q[l] & 0xF) * q8[l];
                s2 += (q[l] >> 4) * q8[l + 32];
            }
            sumi += sc1 * s1 + sc2 * s2;
            summ += m1 * (y[i].bsums[4 * j] + y[i].bsums[4 * j + 1]) +
                    m2 * (y[i].bsums[4 * j + 2] + y[i].bsums[4 * j + 3]);
        }
        s += y[i].d * (quant_fp16_to_fp32(x[i].d) * sumi - quant_fp16_to_fp32(x[i].dmin) * summ);
    }
    return s;
}

static float dot_q6_K_ref(int n, const void *w, const void *a)
{
    const struct block_q6_K *x = w;
    const struct block_q8_K *y = a;
    float s = 0;
    for (int i = 0; i < n / QK_K; i++) {
        const uint8_t *ql = x[i].ql, *qh = x[i].qh;
        const int8_t *sc = x[i].scales, *q8 = y[i].qs;
        int sumi = 0;
        for (int c = 0; c < QK_K; c += 128, ql += 64, qh += 32, sc += 8, q8 += 128) {
            int acc[8] = { 0 };
            for (int l = 0; l < 32; l++) {
                int is = l / 16;
                int q1 = (int)((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
                int q2 = (int)((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
                int q3 = (int)((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
                int q4 = (int)((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
                acc[is] += q1 * q8[l];
                acc[is + 2] += q2 * q8[l + 32];
                acc[is + 4] += q3 * q8[l + 64];
                acc[is + 6] += q4 * q8[l + 96];
            }
            for (int k = 0; k < 8; k++) sumi += sc[k] * acc[k];
        }
        s += y[i].d * quant_fp16_to_fp32(x[i].d) * sumi;
    }
    return s;
}

/* ============================ AVX2 + FMA kernels ===================================== */
#if QUANT_X86
#define AVX2 __attribute__((target("avx2,fma,f16c")))

AVX2 static inline float hsum_ps(__m256 v)
{
    __m128 lo = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    lo = _mm_add_ps(lo, _mm_movehl_ps(lo, lo));
    lo = _mm_add_ss(lo, _mm_movehdup_ps(lo));
    return _mm_cvtss_f32(lo);
}

/* Sum of products of signed bytes, as 8 int32 lanes. */
AVX2 static inline __attribute__((unused)) __m256i mul_sum_i8(__m256i x, __m256i y)
{
    __m256i ax = _mm256_sign_epi8(x, x), sy = _mm256_sign_epi8(y, x);
    return _mm256_madd_epi16(_mm256_maddubs_epi16(ax, sy), _mm256_set1_epi16(1));
}

/* Every AVX2 kernel is written once as an always-inline body over NT tokens (one weight
 * row against NT activation rows, NT a compile-time constant): the weight block is loaded and
 * unpacked once for all NT tokens, and each token keeps its own accumulators, so the
 * single-token dot (NT = 1) and the multi-token one do exactly the same arithmetic per token
 * and give bit-identical results (batched decode == single decode). */
#define BODY static inline __attribute__((always_inline, target("avx2,fma,f16c")))
#define ACT(k) ((const void *)((const char *)a + (size_t)(k) * as))

#define LOAD_F16(p) _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(p)))
#define LOAD_BF16(p) _mm256_castsi256_ps(_mm256_slli_epi32( \
    _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(p))), 16))

/* ggml's ggml_vec_dot_f16 / ggml_vec_dot_f32 as built for AVX-512 (the reference build):
 * 4 accumulators of 16 lanes over 64-value steps, reduced pairwise, then the remaining values
 * one by one (f16: in double; f32: in float, with FMA as the compiler contracts it). ggml
 * uses these where llamafile's 16-lane tinyBLAS does not apply (rows not a multiple of 16),
 * and for Q.K in attention. */
#define GGML_DOT(name, WT, WLOAD, TAIL)                                                       \
    AVX2 static float name(int n, const WT *x, const float *y)                               \
    {                                                                                         \
        int np = n & ~63, i = 0;                                                              \
        float head = 0;                                                                       \
        if (np) {                                                                             \
            __m256 acc[8];                                                                    \
            for (int k = 0; k < 8; k++) acc[k] = _mm256_setzero_ps();                         \
            for (; i < np; i += 64)                                                           \
                for (int k = 0; k < 8; k++)                                                   \
                    acc[k] = _mm256_fmadd_ps(WLOAD(x + i + 8 * k), _mm256_loadu_ps(y + i + 8 * k), acc[k]); \
            for (int h = 0; h < 2; h++) {                                                     \
                acc[h] = _mm256_add_ps(acc[h], acc[4 + h]);                                   \
                acc[2 + h] = _mm256_add_ps(acc[2 + h], acc[6 + h]);                           \
                acc[h] = _mm256_add_ps(acc[h], acc[2 + h]);                                   \
            }                                                                                 \
            head = hsum_ps(_mm256_add_ps(acc[0], acc[1]));                                    \
        }                                                                                     \
        TAIL                                                                                  \
    }
GGML_DOT(dot_f16_ggml_avx2, uint16_t, LOAD_F16,
         double sum = head; for (; i < n; i++) sum += (double)(_cvtsh_ss(x[i]) * y[i]); return (float)sum;)
GGML_DOT(dot_bf16_ggml_avx2, uint16_t, LOAD_BF16,
         double sum = head; for (; i < n; i++) sum += (double)(quant_bf16_to_fp32(x[i]) * y[i]); return (float)sum;)
GGML_DOT(dot_f32_ggml_avx2, float, _mm256_loadu_ps,
         float sum = head; for (; i < n; i++) sum = fmaf(x[i], y[i], sum); return sum;)

/* Decode streams the weights from memory once per token, and the hardware prefetchers alone
 * leave 10-20 % of the read bandwidth unused: the kernels ask for the cache line
 * PREFETCH_DISTANCE bytes ahead of the one they load, one request per line, into L2. Rows of
 * a matmul chunk are adjacent, so near a row's end this fetches the next rows; past the end
 * of the tensor it fetches bytes nobody reads (a prefetch never faults). Measured on the
 * Xeons here (one F16 row per token over 1.5 GB in huge pages, share of the read-loop
 * bandwidth, 1 / 2 threads): no prefetch 77-81 %; 2 KB into L1 (T0, what this was until
 * 2026-11-29) 90-94 %; 3-10 KB into L2 (T1) 97-102 %, with the power-of-two distances (4 and
 * 8 KB) a few points under 3 and 6 KB; into L1 at 3-6 KB 90-97 %. The engine's F16 decode
 * went from 79-92 % to 89-102 % of its bound (1B and 110M, 1 and 2 threads). Requests into
 * L1 hold a line-fill buffer until the line arrives and so cap the lines in flight; into L2
 * they go further ahead. -DPREFETCH_DISTANCE / -DPREFETCH_HINT rebuild with others. */
#ifndef PREFETCH_DISTANCE
#define PREFETCH_DISTANCE 6144
#endif
#ifndef PREFETCH_HINT
#define PREFETCH_HINT _MM_HINT_T1
#endif
#define PREFETCH_AHEAD(p) _mm_prefetch((const char *)(p) + PREFETCH_DISTANCE, PREFETCH_HINT)
/* The same for a quantized block: one request per 64 bytes of it (Q8_0's 34-byte blocks
 * ask twice for some lines; a repeated prefetch of a line in flight costs one load slot). */
#define PREFETCH_BLOCK(b)                                                                    \
    do {                                                                                     \
        for (size_t o_ = 0; o_ < sizeof(*(b)); o_ += 64) PREFETCH_AHEAD((const char *)(b) + o_); \
    } while (0)

/* Float rows: weights F32, F16 or BF16 against f32 activations (for F16/BF16 weights the
 * activations were rounded to F16/BF16 first and are stored as the f32 values they round to,
 * so products are exact and the weight row is converted once for all tokens). Two
 * accumulators per token over 16 values, then 8, then a scalar tail. */
#define FLOAT_BODY(name, WT, WLOAD, WSCALAR, GGMLF)                                           \
    BODY void name(int n, const void *w, const void *a, size_t as, float *out, const int NT)  \
    {                                                                                         \
        const WT *x = w;                                                                      \
        if (n % 16) {                                                                         \
            for (int k = 0; k < NT; k++) out[k] = GGMLF(n, x, ACT(k));                        \
            return;                                                                           \
        }                                                                                     \
        __m256 acc[8][2];                                                                     \
        for (int k = 0; k < NT; k++) acc[k][0] = acc[k][1] = _mm256_setzero_ps();             \
        int i = 0;                                                                            \
        for (; i + 16 <= n; i += 16) {                                                        \
            if ((i * (int)sizeof(WT)) % 64 == 0) PREFETCH_AHEAD(x + i);                       \
            __m256 w0 = WLOAD(x + i), w1 = WLOAD(x + i + 8);                                  \
            for (int k = 0; k < NT; k++) {                                                    \
                const float *y = ACT(k);                                                      \
                acc[k][0] = _mm256_fmadd_ps(w0, _mm256_loadu_ps(y + i), acc[k][0]);           \
                acc[k][1] = _mm256_fmadd_ps(w1, _mm256_loadu_ps(y + i + 8), acc[k][1]);       \
            }                                                                                 \
        }                                                                                     \
        for (; i + 8 <= n; i += 8) {                                                          \
            __m256 w0 = WLOAD(x + i);                                                         \
            for (int k = 0; k < NT; k++)                                                      \
                acc[k][0] = _mm256_fmadd_ps(w0, _mm256_loadu_ps((const float *)ACT(k) + i), acc[k][0]); \
        }                                                                                     \
        for (int k = 0; k < NT; k++) {                                                        \
            const float *y = ACT(k);                                                          \
            float s = hsum_ps(_mm256_add_ps(acc[k][0], acc[k][1]));                           \
            for (int r = i; r < n; r++) s += WSCALAR * y[r];                                  \
            out[k] = s;                                                                       \
        }                                                                                     \
    }

#define F32_LOAD(p) _mm256_loadu_ps(p)
#define F16_LOAD(p) _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(p)))
FLOAT_BODY(f32_body, float, F32_LOAD, x[r], dot_f32_ggml_avx2)
FLOAT_BODY(f16_body, uint16_t, F16_LOAD, _cvtsh_ss(x[r]), dot_f16_ggml_avx2)
FLOAT_BODY(bf16_body, uint16_t, LOAD_BF16, quant_bf16_to_fp32(x[r]), dot_bf16_ggml_avx2)

/* MULSUM: int32 lanes of 4 adjacent byte products, x signed via |x| and sign moved to y
 * (maddubs + madd; or one VNNI dpbusd in the AVX-512 tier: the same sums). */
#define Q8_0_BODY(name, ATTR, MULSUM)                                                         \
    ATTR void name(int n, const void *w, const void *a, size_t as, float *out, const int NT)  \
    {                                                                                         \
        const struct block_q8_0 *x = w;                                                       \
        const size_t so = Q8_0S_SCALES(n / QK8_0);                                            \
        __m256 acc[16];                                                                        \
        for (int k = 0; k < NT; k++) acc[k] = _mm256_setzero_ps();                            \
        for (int i = 0; i < n / QK8_0; i++) {                                                 \
            PREFETCH_BLOCK(&x[i]);                                                        \
            __m256i qx = _mm256_loadu_si256((const __m256i *)x[i].qs);                        \
            __m256i ax = _mm256_sign_epi8(qx, qx);                                            \
            float dx = _cvtsh_ss(x[i].d);                                                     \
            for (int k = 0; k < NT; k++) {                                                    \
                const struct block_q8_0 *y = ACT(k);                                          \
                const float *ys = (const float *)((const char *)y + so);                      \
                __m256i sy = _mm256_sign_epi8(_mm256_loadu_si256((const __m256i *)y[i].qs), qx); \
                __m256i si = MULSUM(ax, sy);                                                  \
                acc[k] = _mm256_fmadd_ps(_mm256_set1_ps(dx * ys[i]), _mm256_cvtepi32_ps(si), acc[k]); \
            }                                                                                 \
        }                                                                                     \
        for (int k = 0; k < NT; k++) out[k] = hsum_ps(acc[k]);                                \
    }
#define MULSUM_AVX2(ax, sy) _mm256_madd_epi16(_mm256_maddubs_epi16(ax, sy), _mm256_set1_epi16(1))
Q8_0_BODY(q8_0_body, BODY, MULSUM_AVX2)

/* Q4_0 sums block by block in one float (acc = fma(int sum, dx * dy, acc)) rather than in
 * 8 lanes: that is the order of llama.cpp's x86 path for Q4_0 (weights repacked 8 rows at a
 * time, one accumulator lane per row), and matching it makes our logits on Q4_0 files equal
 * to llama.cpp's, where lane-wise sums drift by up to 0.3 through the Q8_0 rounding of the
 * next layer's activations. */
#define Q4_0_BODY(name, ATTR, MULSUM)                                                         \
    ATTR void name(int n, const void *w, const void *a, size_t as, float *out, const int NT)  \
    {                                                                                         \
        const struct block_q4_0 *x = w;                                                       \
        const size_t so = Q8_0S_SCALES(n / QK4_0);                                            \
        const __m256i m4 = _mm256_set1_epi8(0xF), off = _mm256_set1_epi8(8);                 \
        float acc[8] = { 0, 0, 0, 0, 0, 0, 0, 0 };                                            \
        for (int i = 0; i < n / QK4_0; i++) {                                                 \
            PREFETCH_BLOCK(&x[i]);                                                        \
            __m128i t = _mm_loadu_si128((const __m128i *)x[i].qs);                            \
            __m256i qx = _mm256_inserti128_si256(_mm256_castsi128_si256(t), _mm_srli_epi16(t, 4), 1); \
            qx = _mm256_sub_epi8(_mm256_and_si256(qx, m4), off);                              \
            __m256i ax = _mm256_sign_epi8(qx, qx);                                            \
            float dx = _cvtsh_ss(x[i].d);                                                     \
            for (int k = 0; k < NT; k++) {                                                    \
                const struct block_q8_0 *y = ACT(k);                                          \
                const float *ys = (const float *)((const char *)y + so);                      \
                __m256i sy = _mm256_sign_epi8(_mm256_loadu_si256((const __m256i *)y[i].qs), qx); \
                __m256i si = MULSUM(ax, sy);                                                  \
                __m128i s4 = _mm_add_epi32(_mm256_castsi256_si128(si), _mm256_extracti128_si256(si, 1)); \
                s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0x4e));                          \
                s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0xb1));                          \
                acc[k] = fmaf((float)_mm_cvtsi128_si32(s4), dx * ys[i], acc[k]);              \
            }                                                                                 \
        }                                                                                     \
        for (int k = 0; k < NT; k++) out[k] = acc[k];                                         \
    }
Q4_0_BODY(q4_0_body, BODY, MULSUM_AVX2)

BODY void q4_K_body(int n, const void *w, const void *a, size_t as, float *out, const int NT)
{
    const struct block_q4_K *x = w;
    const __m256i m4 = _mm256_set1_epi8(0xF);
    __m256 acc[8];
    __m128 accm[8];                                  /* mins, 4 lanes as llama.cpp's kernel */
    for (int k = 0; k < NT; k++) {
        acc[k] = _mm256_setzero_ps();
        accm[k] = _mm_setzero_ps();
    }
    for (int i = 0; i < n / QK_K; i++) {
        PREFETCH_BLOCK(&x[i]);
        uint8_t sc[8], mn[8];
        for (int j = 0; j < 8; j++) get_scale_min_k4(j, x[i].scales, &sc[j], &mn[j]);
        __m256i q[8], scv[8];
        for (int j = 0; j < 4; j++) {
            __m256i bits = _mm256_loadu_si256((const __m256i *)(x[i].qs + 32 * j));
            q[2 * j] = _mm256_and_si256(bits, m4);
            q[2 * j + 1] = _mm256_and_si256(_mm256_srli_epi16(bits, 4), m4);
            scv[2 * j] = _mm256_set1_epi16(sc[2 * j]);
            scv[2 * j + 1] = _mm256_set1_epi16(sc[2 * j + 1]);
        }
        float dx = _cvtsh_ss(x[i].d), dmin = _cvtsh_ss(x[i].dmin);
        for (int k = 0; k < NT; k++) {
            const struct block_q8_K *y = ACT(k);
            /* lane l: mins 2l, 2l+1 times their 32-value sums; scaled by -y.d * dmin */
            __m128i prod = _mm_setr_epi32(
                mn[0] * (y[i].bsums[0] + y[i].bsums[1]) + mn[1] * (y[i].bsums[2] + y[i].bsums[3]),
                mn[2] * (y[i].bsums[4] + y[i].bsums[5]) + mn[3] * (y[i].bsums[6] + y[i].bsums[7]),
                mn[4] * (y[i].bsums[8] + y[i].bsums[9]) + mn[5] * (y[i].bsums[10] + y[i].bsums[11]),
                mn[6] * (y[i].bsums[12] + y[i].bsums[13]) + mn[7] * (y[i].bsums[14] + y[i].bsums[15]));
            accm[k] = _mm_fmadd_ps(_mm_set1_ps(-y[i].d * dmin), _mm_cvtepi32_ps(prod), accm[k]);
            __m256i sumi = _mm256_setzero_si256();
            for (int j = 0; j < 4; j++) {
                __m256i pl = _mm256_maddubs_epi16(q[2 * j], _mm256_loadu_si256((const __m256i *)(y[i].qs + 64 * j)));
                __m256i ph = _mm256_maddubs_epi16(q[2 * j + 1], _mm256_loadu_si256((const __m256i *)(y[i].qs + 64 * j + 32)));
                pl = _mm256_madd_epi16(pl, scv[2 * j]);
                ph = _mm256_madd_epi16(ph, scv[2 * j + 1]);
                sumi = _mm256_add_epi32(sumi, _mm256_add_epi32(pl, ph));
            }
            acc[k] = _mm256_fmadd_ps(_mm256_set1_ps(y[i].d * dx), _mm256_cvtepi32_ps(sumi), acc[k]);
        }
    }
    for (int k = 0; k < NT; k++) {
        __m128 m = _mm_add_ps(accm[k], _mm_movehl_ps(accm[k], accm[k]));
        m = _mm_add_ss(m, _mm_movehdup_ps(m));
        out[k] = hsum_ps(acc[k]) + _mm_cvtss_f32(m);
    }
}

BODY void q6_K_body(int n, const void *w, const void *a, size_t as, float *out, const int NT)
{
    const struct block_q6_K *x = w;
    const __m256i m4 = _mm256_set1_epi8(0xF), m3 = _mm256_set1_epi8(3), m32 = _mm256_set1_epi8(32);
    __m256 acc[8];
    for (int k = 0; k < NT; k++) acc[k] = _mm256_setzero_ps();
    for (int i = 0; i < n / QK_K; i++) {
        PREFETCH_BLOCK(&x[i]);
        __m256i q[8], scv[8];
        const uint8_t *ql = x[i].ql, *qh = x[i].qh;
        const int8_t *sc = x[i].scales;
        for (int c = 0; c < 2; c++, ql += 64, qh += 32, sc += 8) {
            __m256i h = _mm256_loadu_si256((const __m256i *)qh);
            __m256i l0 = _mm256_loadu_si256((const __m256i *)ql);
            __m256i l1 = _mm256_loadu_si256((const __m256i *)(ql + 32));
            __m256i *qc = q + 4 * c;
            qc[0] = _mm256_or_si256(_mm256_and_si256(l0, m4), _mm256_slli_epi16(_mm256_and_si256(h, m3), 4));
            qc[1] = _mm256_or_si256(_mm256_and_si256(l1, m4),
                                    _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(h, 2), m3), 4));
            qc[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), m4),
                                    _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(h, 4), m3), 4));
            qc[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m4),
                                    _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(h, 6), m3), 4));
            for (int j = 0; j < 4; j++)
                scv[4 * c + j] = _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_set1_epi16(sc[2 * j])),
                                                         _mm_set1_epi16(sc[2 * j + 1]), 1);
        }
        float dx = _cvtsh_ss(x[i].d);
        for (int k = 0; k < NT; k++) {
            const struct block_q8_K *y = ACT(k);
            __m256i sumi = _mm256_setzero_si256();
            for (int j = 0; j < 8; j++) {
                __m256i y8 = _mm256_loadu_si256((const __m256i *)(y[i].qs + 32 * j));
                __m256i p = _mm256_sub_epi16(_mm256_maddubs_epi16(q[j], y8), _mm256_maddubs_epi16(m32, y8));
                sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(p, scv[j]));
            }
            acc[k] = _mm256_fmadd_ps(_mm256_set1_ps(y[i].d * dx), _mm256_cvtepi32_ps(sumi), acc[k]);
        }
    }
    for (int k = 0; k < NT; k++) out[k] = hsum_ps(acc[k]);
}

/* Entry points for every instruction-set tier (ATTR: its target attribute, sfx: the name
 * suffix): one token, and up to MAXT (<= 8) tokens per pass over the weight row, the
 * remainder in one more pass. */
#define ENTRYT(name, body, MAXT, ATTR, sfx)                                                  \
    ATTR static float dot_##name##_##sfx(int n, const void *w, const void *a)                \
    {                                                                                        \
        float r;                                                                             \
        body(n, w, a, 0, &r, 1);                                                             \
        return r;                                                                            \
    }                                                                                        \
    ATTR static void dotn_##name##_##sfx(int n, const void *w, const void *a, size_t as,     \
                                            int nt, float *out)                              \
    {                                                                                        \
        for (; nt >= MAXT; nt -= MAXT, a = (const char *)a + MAXT * as, out += MAXT)         \
            body(n, w, a, as, out, MAXT);                                                    \
        switch (nt) {                                                                        \
        case 7: body(n, w, a, as, out, 7); break;                                            \
        case 6: body(n, w, a, as, out, 6); break;                                            \
        case 5: body(n, w, a, as, out, 5); break;                                            \
        case 4: body(n, w, a, as, out, 4); break;                                            \
        case 3: body(n, w, a, as, out, 3); break;                                            \
        case 2: body(n, w, a, as, out, 2); break;                                            \
        case 1: body(n, w, a, as, out, 1); break;                                            \
        default: break;                                                                      \
        }                                                                                    \
    }
#define ENTRY(name, body, MAXT) ENTRYT(name, body, MAXT, AVX2, avx2)
ENTRY(f32, f32_body, 4)
ENTRY(f16, f16_body, 4)
ENTRY(bf16, bf16_body, 4)
ENTRY(q8_0, q8_0_body, 8)
ENTRY(q4_0, q4_0_body, 8)
ENTRY(q4_K, q4_K_body, 4)
ENTRY(q6_K, q6_K_body, 4)

/* ---- AVX-512 (F, BW, VL, DQ): the same arithmetic in wider registers -------------------
 * Each kernel below gives bit-identical results to its AVX2 twin: float rows keep one
 * 16-lane accumulator per token, which is exactly the AVX2 pair (lo, hi) of 8 lanes, reduced
 * the same way; K-quant rows do the integer part of two 32-value groups per instruction
 * and then convert and scale them in the AVX2 order (integer sums are exact, so only the
 * float steps' order matters). Fewer instructions per multiply-add is what batch decode,
 * which is compute-bound, needs. */
#define BODY512 static inline __attribute__((always_inline, target("avx512f,avx512bw,avx512vl,avx512dq,avx2,fma,f16c")))
#define AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx2,fma,f16c")))

BODY512 float hsum512_as_avx2(__m512 v)
{
    __m256 lo = _mm512_castps512_ps256(v), hi = _mm512_extractf32x8_ps(v, 1);
    return hsum_ps(_mm256_add_ps(lo, hi));
}

#define FLOAT_BODY512(name, WT, WLOAD16, GGMLF)                                               \
    BODY512 void name(int n, const void *w, const void *a, size_t as, float *out, const int NT) \
    {                                                                                         \
        const WT *x = w;                                                                      \
        if (n % 16) {                                                                         \
            for (int k = 0; k < NT; k++) out[k] = GGMLF(n, x, ACT(k));                        \
            return;                                                                           \
        }                                                                                     \
        __m512 acc[8];                                                                        \
        for (int k = 0; k < NT; k++) acc[k] = _mm512_setzero_ps();                            \
        /* one cache line of weights per step: 64 / sizeof(WT) values, 16 at a time */        \
        enum { LINE = 64 / (int)sizeof(WT) };                                                 \
        int i = 0;                                                                            \
        for (; i + LINE <= n; i += LINE) {                                                    \
            PREFETCH_AHEAD(x + i);                                                            \
            for (int h = 0; h < LINE; h += 16) {                                              \
                __m512 w0 = WLOAD16(x + i + h);                                               \
                for (int k = 0; k < NT; k++)                                                  \
                    acc[k] = _mm512_fmadd_ps(w0, _mm512_loadu_ps((const float *)ACT(k) + i + h), acc[k]); \
            }                                                                                 \
        }                                                                                     \
        for (; i < n; i += 16) {                                                              \
            __m512 w0 = WLOAD16(x + i);                                                       \
            for (int k = 0; k < NT; k++)                                                      \
                acc[k] = _mm512_fmadd_ps(w0, _mm512_loadu_ps((const float *)ACT(k) + i), acc[k]); \
        }                                                                                     \
        for (int k = 0; k < NT; k++) out[k] = hsum512_as_avx2(acc[k]);                        \
    }
#define F32_LOAD16(p) _mm512_loadu_ps(p)
#define F16_LOAD16(p) _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(p)))
#define BF16_LOAD16(p) _mm512_castsi512_ps(_mm512_slli_epi32( \
    _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)(p))), 16))
FLOAT_BODY512(f32_body512, float, F32_LOAD16, dot_f32_ggml_avx2)
FLOAT_BODY512(f16_body512, uint16_t, F16_LOAD16, dot_f16_ggml_avx2)
FLOAT_BODY512(bf16_body512, uint16_t, BF16_LOAD16, dot_bf16_ggml_avx2)

/* hsum512_as_avx2 of 16 vectors at once: the same four levels of pairwise adds (lanes i and
 * i + 8, then i and i + 4, i and i + 2, i and i + 1), each done for all 16 vectors by shuffles
 * that line up the operands, so every sum is bit-identical to hsum512_as_avx2 of its vector
 * (test_tile_equals_dot) in ~30 instructions instead of ~130. Lane j of the result holds the
 * sum of v[4 * (j % 4) + j / 4]. Short rows (768 values) spent ~15 % of a tile on these sums. */
BODY512 __m512 hsum16_as_avx2(const __m512 v[16])
{
    __m512 a[8], b[4], c[2];
    for (int p = 0; p < 8; p++)
        a[p] = _mm512_add_ps(_mm512_shuffle_f32x4(v[2 * p], v[2 * p + 1], _MM_SHUFFLE(1, 0, 1, 0)),
                             _mm512_shuffle_f32x4(v[2 * p], v[2 * p + 1], _MM_SHUFFLE(3, 2, 3, 2)));
    for (int p = 0; p < 4; p++)
        b[p] = _mm512_add_ps(_mm512_shuffle_f32x4(a[2 * p], a[2 * p + 1], _MM_SHUFFLE(2, 0, 2, 0)),
                             _mm512_shuffle_f32x4(a[2 * p], a[2 * p + 1], _MM_SHUFFLE(3, 1, 3, 1)));
    for (int p = 0; p < 2; p++)
        c[p] = _mm512_add_ps(_mm512_shuffle_ps(b[2 * p], b[2 * p + 1], _MM_SHUFFLE(1, 0, 1, 0)),
                             _mm512_shuffle_ps(b[2 * p], b[2 * p + 1], _MM_SHUFFLE(3, 2, 3, 2)));
    return _mm512_add_ps(_mm512_shuffle_ps(c[0], c[1], _MM_SHUFFLE(2, 0, 2, 0)),
                         _mm512_shuffle_ps(c[0], c[1], _MM_SHUFFLE(3, 1, 3, 1)));
}

/* The register tile (quant.h, quant_tile_fn) for float weights: NR rows x NT tokens of
 * 16-lane accumulators, loaded from and stored back to the caller's array so a matmul can
 * walk the columns in chunks. With 4 x 4, each converted weight vector feeds 4 FMAs and each
 * activation vector 4, and 16 independent FMA chains hide the FMA latency; the single-row
 * dotn has only NT chains. llmq-kernel-bench 'x16 tile': F16 ~2x dotn's rate.
 * It prefetches pf_nr of the caller's next rows (pf) into L2 while it computes its own: with
 * B tokens the caller passes over a row tile B/4 times and spreads the next tile's rows over
 * those passes (matmul.c). Asking for all four next rows in the first pass, into L1, kept
 * the line-fill buffers full of memory reads that the tile's own L2 hits then waited behind:
 * 16 tokens over a 256 MB F16 matrix ran at 38-43 G multiply-adds/s that way, 46-49 spread
 * out into L2, and 52-53 with the matrix in L2 (one thread, llmq-kernel-bench 'x16 tile'). */
#define FLOAT_TILE512(name, WLOAD16, WT, NR, NT)                                              \
    BODY512 void name(int c0, int c1, int first, const WT *w, size_t rb, const float *a,      \
                      size_t as, float *acc, size_t acc_rs, float *y, size_t y_ts,            \
                      const char *pf, int pf_nr)                                              \
    {                                                                                         \
        __m512 s[NR][NT];                                                                     \
        const WT *row[NR];                                                                    \
        const float *act[NT];                                                                 \
        for (int r = 0; r < NR; r++) row[r] = (const WT *)((const char *)w + r * rb);         \
        for (int t = 0; t < NT; t++) act[t] = (const float *)((const char *)a + t * as);      \
        for (int r = 0; r < NR; r++)                                                          \
            for (int t = 0; t < NT; t++)                                                      \
                s[r][t] = first ? _mm512_setzero_ps() : _mm512_loadu_ps(acc + r * acc_rs + t * 16); \
        for (int i = c0; i < c1; i += 16) {                                                   \
            __m512 wv[NR];                                                                    \
            if (pf && (i * (int)sizeof(WT)) % 64 == 0)                                        \
                for (int r = 0; r < pf_nr; r++) _mm_prefetch(pf + r * rb + (size_t)i * sizeof(WT), _MM_HINT_T1); \
            for (int r = 0; r < NR; r++) wv[r] = WLOAD16(row[r] + i);                         \
            for (int t = 0; t < NT; t++) {                                                    \
                __m512 av = _mm512_loadu_ps(act[t] + i);                                      \
                for (int r = 0; r < NR; r++) s[r][t] = _mm512_fmadd_ps(wv[r], av, s[r][t]);  \
            }                                                                                 \
        }                                                                                     \
        if (NR == 4 && NT == 4 && y) {                                                        \
            __m512 v[16];                                                                     \
            for (int k = 0; k < 16; k++) v[k] = s[k / 4][k % 4];                              \
            __m512 sums = hsum16_as_avx2(v);             /* lane 4 t + r: row r, token t */   \
            for (int t = 0; t < 4; t++)                                                       \
                _mm_storeu_ps(y + t * y_ts, _mm512_extractf32x4_ps(sums, t));                 \
            return;                                                                           \
        }                                                                                     \
        for (int r = 0; r < NR; r++)                                                          \
            for (int t = 0; t < NT; t++) {                                                    \
                if (y) y[t * y_ts + r] = hsum512_as_avx2(s[r][t]);                            \
                else _mm512_storeu_ps(acc + r * acc_rs + t * 16, s[r][t]);                    \
            }                                                                                 \
    }
/* One function per weight type: the full 4 x 4 tile and the edges (fewer rows at the end of a
 * matrix, fewer tokens in the last group), each with constant loop bounds. */
#define FLOAT_TILES512(ty, WLOAD16, WT)                                                       \
    FLOAT_TILE512(tile_##ty##_4x4, WLOAD16, WT, 4, 4)                                         \
    FLOAT_TILE512(tile_##ty##_4x1, WLOAD16, WT, 4, 1)                                         \
    FLOAT_TILE512(tile_##ty##_4x2, WLOAD16, WT, 4, 2)                                         \
    FLOAT_TILE512(tile_##ty##_4x3, WLOAD16, WT, 4, 3)                                         \
    FLOAT_TILE512(tile_##ty##_1x4, WLOAD16, WT, 1, 4)                                         \
    FLOAT_TILE512(tile_##ty##_1x1, WLOAD16, WT, 1, 1)                                         \
    AVX512 static void tile_##ty##_avx512(int c0, int c1, int first, const void *w, size_t rb, \
                                          int nr, const void *a, size_t as, int nt, float *acc, \
                                          size_t acc_rs, float *y, size_t y_ts, const void *pf, \
                                          int pf_nr)                                          \
    {                                                                                         \
        const WT *x = w;                                                                      \
        if (nr == 4) {                                                                        \
            switch (nt) {                                                                     \
            case 4: tile_##ty##_4x4(c0, c1, first, x, rb, a, as, acc, acc_rs, y, y_ts, pf, pf_nr); return; \
            case 3: tile_##ty##_4x3(c0, c1, first, x, rb, a, as, acc, acc_rs, y, y_ts, pf, pf_nr); return; \
            case 2: tile_##ty##_4x2(c0, c1, first, x, rb, a, as, acc, acc_rs, y, y_ts, pf, pf_nr); return; \
            default: tile_##ty##_4x1(c0, c1, first, x, rb, a, as, acc, acc_rs, y, y_ts, pf, pf_nr); return; \
            }                                                                                 \
        }                                                                                     \
        for (int r = 0; r < nr; r++, x = (const WT *)((const char *)x + rb), acc += acc_rs) { \
            float *yr = y ? y + r : NULL;                                                     \
            const char *pr = pf && r < pf_nr ? (const char *)pf + r * rb : NULL;              \
            if (nt == 4) tile_##ty##_1x4(c0, c1, first, x, rb, a, as, acc, acc_rs, yr, y_ts, pr, 1); \
            else                                                                              \
                for (int t = 0; t < nt; t++)                                                  \
                    tile_##ty##_1x1(c0, c1, first, x, rb, (const float *)((const char *)a + t * as), \
                                    as, acc + t * 16, acc_rs, yr ? yr + t * y_ts : NULL, y_ts, \
                                    t == 0 ? pr : NULL, 1);                                   \
        }                                                                                     \
    }
FLOAT_TILES512(f32, F32_LOAD16, float)
FLOAT_TILES512(f16, F16_LOAD16, uint16_t)
FLOAT_TILES512(bf16, BF16_LOAD16, uint16_t)

/* Attention in 512-bit registers. Q.K: the AVX2 kernel's eight 8-lane accumulators are four
 * 16-lane ones here ([acc0|acc1], [acc2|acc3], ...), added in the same pairs, so the sums are
 * bit-identical; head sizes that are not a multiple of 64 (a tail summed in double) take the
 * AVX2 kernel. V (quant_vsum_f16): y += a x is one FMA per element either way. */
AVX2 static void dot_f16_rows_avx2(int n, const uint16_t *x, size_t xs, int count, const float *y, float *out);
AVX512 static void dot_f16_rows_avx512(int n, const uint16_t *x, size_t xs, int count, const float *y,
                                       float *out)
{
    if (n % 64) {
        dot_f16_rows_avx2(n, x, xs, count, y, out);
        return;
    }
    /* 16 rows at a time, their last reductions done together (hsum16_as_avx2, same order) */
    const __m512i back = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
    for (int r0 = 0; r0 < count; r0 += 16) {
        int m = count - r0 < 16 ? count - r0 : 16;
        __m512 v[16];
        for (int r = 0; r < 16; r++) {
            if (r >= m) {
                v[r] = _mm512_setzero_ps();
                continue;
            }
            const uint16_t *xr = x + (size_t)(r0 + r) * xs;
            __m512 z0 = _mm512_setzero_ps(), z1 = z0, z2 = z0, z3 = z0;
            for (int i = 0; i < n; i += 64) {
                z0 = _mm512_fmadd_ps(F16_LOAD16(xr + i), _mm512_loadu_ps(y + i), z0);
                z1 = _mm512_fmadd_ps(F16_LOAD16(xr + i + 16), _mm512_loadu_ps(y + i + 16), z1);
                z2 = _mm512_fmadd_ps(F16_LOAD16(xr + i + 32), _mm512_loadu_ps(y + i + 32), z2);
                z3 = _mm512_fmadd_ps(F16_LOAD16(xr + i + 48), _mm512_loadu_ps(y + i + 48), z3);
            }
            z0 = _mm512_add_ps(z0, z2);
            z1 = _mm512_add_ps(z1, z3);
            v[r] = _mm512_add_ps(z0, z1);
        }
        /* lane j of the tree holds row 4 (j % 4) + j / 4; permute back to row order */
        __m512 sums = _mm512_permutexvar_ps(back, hsum16_as_avx2(v));
        _mm512_mask_storeu_ps(out + r0, (__mmask16)((1u << m) - 1), sums);
    }
}

/* quant_vsum_f16 for n a multiple of 16: 64 columns of one partial sum at a time in four
 * registers, over all of its positions. */
AVX512 static void vsum_f16_avx512(int n, const float *a, int count, const uint16_t *const *pages,
                                   size_t rs, float *part)
{
    int lanes = count < 16 ? count : 16;
    for (int l = 0; l < lanes; l++) {
        float *dst = part + (size_t)l * n;
        int c0 = 0;
        for (; c0 + 64 <= n; c0 += 64) {
            __m512 s0 = _mm512_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
            for (int j = l; j < count; j += 16) {
                const uint16_t *v = pages[j >> 4] + (size_t)(j & 15) * rs + c0;
                __m512 va = _mm512_set1_ps(a[j]);
                s0 = _mm512_fmadd_ps(va, F16_LOAD16(v), s0);
                s1 = _mm512_fmadd_ps(va, F16_LOAD16(v + 16), s1);
                s2 = _mm512_fmadd_ps(va, F16_LOAD16(v + 32), s2);
                s3 = _mm512_fmadd_ps(va, F16_LOAD16(v + 48), s3);
            }
            _mm512_storeu_ps(dst + c0, s0);
            _mm512_storeu_ps(dst + c0 + 16, s1);
            _mm512_storeu_ps(dst + c0 + 32, s2);
            _mm512_storeu_ps(dst + c0 + 48, s3);
        }
        for (; c0 < n; c0 += 16) {
            __m512 s0 = _mm512_setzero_ps();
            for (int j = l; j < count; j += 16)
                s0 = _mm512_fmadd_ps(_mm512_set1_ps(a[j]), F16_LOAD16(pages[j >> 4] + (size_t)(j & 15) * rs + c0), s0);
            _mm512_storeu_ps(dst + c0, s0);
        }
    }
}

/* Q8_0 / Q4_0 keep 256-bit vectors (without a byte sign instruction at 512 bits the wider
 * versions measured slower: 21 vs 32 GMAC/s for Q8_0 at 16 tokens) but use VNNI's dpbusd
 * where present: one instruction for maddubs + madd, the same int32 sums. */
#define BODYVNNI static inline __attribute__((always_inline, target("avx512vnni,avx512vl,avx512f,avx2,fma,f16c")))
#define AVXVNNI __attribute__((target("avx512vnni,avx512vl,avx512f,avx2,fma,f16c")))
#define MULSUM_VNNI(ax, sy) _mm256_dpbusd_epi32(_mm256_setzero_si256(), ax, sy)
Q4_0_BODY(q4_0_body_vnni, BODYVNNI, MULSUM_VNNI)
Q8_0_BODY(q8_0_body_vnni_sign, BODYVNNI, MULSUM_VNNI)

/* Q8_0 with VNNI, batches of 8+ tokens: dpbusd wants one unsigned operand. Rather than making |x| and
 * sign(y, x) per token (two ops per token and block), the activation is flipped to y + 128
 * (one xor, on any vector port) and the accumulator starts at -128 * sum(x) per lane, made
 * once per weight block: dpbusd(-128 sum x, y + 128, x) = sum x y, the same exact int32 lane
 * sums as before, so results stay bit-identical to the AVX2 kernel. The scale dx * dy is a
 * vector multiply of broadcast dx by a broadcast load of dy (same float product). */
BODYVNNI void q8_0_body_vnni(int n, const void *w, const void *a, size_t as, float *out, const int NT)
{
    const struct block_q8_0 *x = w;
    const size_t so = Q8_0S_SCALES(n / QK8_0);
    const __m256i flip = _mm256_set1_epi8((char)0x80);
    __m256 acc[16];
    for (int k = 0; k < NT; k++) acc[k] = _mm256_setzero_ps();
    for (int i = 0; i < n / QK8_0; i++) {
        PREFETCH_BLOCK(&x[i]);
        __m256i qx = _mm256_loadu_si256((const __m256i *)x[i].qs);
        __m256i neg = _mm256_sub_epi32(_mm256_setzero_si256(),
                                       _mm256_dpbusd_epi32(_mm256_setzero_si256(), flip, qx));
        __m256 dx = _mm256_set1_ps(_cvtsh_ss(x[i].d));
        for (int k = 0; k < NT; k++) {
            const struct block_q8_0 *y = ACT(k);
            const float *ys = (const float *)((const char *)y + so);
            __m256i yu = _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)y[i].qs), flip);
            __m256i si = _mm256_dpbusd_epi32(neg, yu, qx);
            __m256 d = _mm256_mul_ps(dx, _mm256_broadcast_ss(ys + i));
            acc[k] = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(si), acc[k]);
        }
    }
    for (int k = 0; k < NT; k++) out[k] = hsum_ps(acc[k]);
}

BODY512 void q4_K_body512(int n, const void *w, const void *a, size_t as, float *out, const int NT)
{
    const struct block_q4_K *x = w;
    const __m512i m4 = _mm512_set1_epi8(0xF);
    __m256 acc[8];
    __m128 accm[8];                                  /* mins, 4 lanes as llama.cpp's kernel */
    for (int k = 0; k < NT; k++) {
        acc[k] = _mm256_setzero_ps();
        accm[k] = _mm_setzero_ps();
    }
    for (int i = 0; i < n / QK_K; i++) {
        PREFETCH_BLOCK(&x[i]);
        uint8_t sc[8], mn[8];
        for (int j = 0; j < 8; j++) get_scale_min_k4(j, x[i].scales, &sc[j], &mn[j]);
        __m512i q[4], scv[4];
        for (int j = 0; j < 4; j++) {
            __m256i bits = _mm256_loadu_si256((const __m256i *)(x[i].qs + 32 * j));
            __m512i b2 = _mm512_inserti64x4(_mm512_castsi256_si512(bits), _mm256_srli_epi16(bits, 4), 1);
            q[j] = _mm512_and_si512(b2, m4);             /* [low nibbles | high nibbles] */
            scv[j] = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_set1_epi16(sc[2 * j])),
                                        _mm256_set1_epi16(sc[2 * j + 1]), 1);
        }
        float dx = _cvtsh_ss(x[i].d), dmin = _cvtsh_ss(x[i].dmin);
        for (int k = 0; k < NT; k++) {
            const struct block_q8_K *y = ACT(k);
            /* lane l: mins 2l, 2l+1 times their 32-value sums; scaled by -y.d * dmin */
            __m128i prod = _mm_setr_epi32(
                mn[0] * (y[i].bsums[0] + y[i].bsums[1]) + mn[1] * (y[i].bsums[2] + y[i].bsums[3]),
                mn[2] * (y[i].bsums[4] + y[i].bsums[5]) + mn[3] * (y[i].bsums[6] + y[i].bsums[7]),
                mn[4] * (y[i].bsums[8] + y[i].bsums[9]) + mn[5] * (y[i].bsums[10] + y[i].bsums[11]),
                mn[6] * (y[i].bsums[12] + y[i].bsums[13]) + mn[7] * (y[i].bsums[14] + y[i].bsums[15]));
            accm[k] = _mm_fmadd_ps(_mm_set1_ps(-y[i].d * dmin), _mm_cvtepi32_ps(prod), accm[k]);
            __m512i s = _mm512_setzero_si512();
            for (int j = 0; j < 4; j++) {
                __m512i y8 = _mm512_loadu_si512((const void *)(y[i].qs + 64 * j));
                s = _mm512_add_epi32(s, _mm512_madd_epi16(_mm512_maddubs_epi16(q[j], y8), scv[j]));
            }
            __m256i sumi = _mm256_add_epi32(_mm512_castsi512_si256(s), _mm512_extracti64x4_epi64(s, 1));
            acc[k] = _mm256_fmadd_ps(_mm256_set1_ps(y[i].d * dx), _mm256_cvtepi32_ps(sumi), acc[k]);
        }
    }
    for (int k = 0; k < NT; k++) {
        __m128 m = _mm_add_ps(accm[k], _mm_movehl_ps(accm[k], accm[k]));
        m = _mm_add_ss(m, _mm_movehdup_ps(m));
        out[k] = hsum_ps(acc[k]) + _mm_cvtss_f32(m);
    }
}

BODY512 void q6_K_body512(int n, const void *w, const void *a, size_t as, float *out, const int NT)
{
    const struct block_q6_K *x = w;
    const __m256i m4 = _mm256_set1_epi8(0xF), m3 = _mm256_set1_epi8(3);
    const __m512i m32 = _mm512_set1_epi8(32);
    __m256 acc[8];
    for (int k = 0; k < NT; k++) acc[k] = _mm256_setzero_ps();
    for (int i = 0; i < n / QK_K; i++) {
        PREFETCH_BLOCK(&x[i]);
        __m512i q[4], scv[4];
        const uint8_t *ql = x[i].ql, *qh = x[i].qh;
        const int8_t *sc = x[i].scales;
        for (int c = 0; c < 2; c++, ql += 64, qh += 32, sc += 8) {
            __m256i h = _mm256_loadu_si256((const __m256i *)qh);
            __m256i l0 = _mm256_loadu_si256((const __m256i *)ql);
            __m256i l1 = _mm256_loadu_si256((const __m256i *)(ql + 32));
            __m256i q0 = _mm256_or_si256(_mm256_and_si256(l0, m4), _mm256_slli_epi16(_mm256_and_si256(h, m3), 4));
            __m256i q1 = _mm256_or_si256(_mm256_and_si256(l1, m4),
                                         _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(h, 2), m3), 4));
            __m256i q2 = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), m4),
                                         _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(h, 4), m3), 4));
            __m256i q3 = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m4),
                                         _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(h, 6), m3), 4));
            q[2 * c] = _mm512_inserti64x4(_mm512_castsi256_si512(q0), q1, 1);
            q[2 * c + 1] = _mm512_inserti64x4(_mm512_castsi256_si512(q2), q3, 1);
            for (int j = 0; j < 2; j++) {
                __m256i s_a = _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_set1_epi16(sc[4 * j])),
                                                      _mm_set1_epi16(sc[4 * j + 1]), 1);
                __m256i s_b = _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_set1_epi16(sc[4 * j + 2])),
                                                      _mm_set1_epi16(sc[4 * j + 3]), 1);
                scv[2 * c + j] = _mm512_inserti64x4(_mm512_castsi256_si512(s_a), s_b, 1);
            }
        }
        float dx = _cvtsh_ss(x[i].d);
        for (int k = 0; k < NT; k++) {
            const struct block_q8_K *y = ACT(k);
            __m512i s = _mm512_setzero_si512();
            for (int j = 0; j < 4; j++) {
                __m512i y8 = _mm512_loadu_si512((const void *)(y[i].qs + 64 * j));
                __m512i p = _mm512_sub_epi16(_mm512_maddubs_epi16(q[j], y8), _mm512_maddubs_epi16(m32, y8));
                s = _mm512_add_epi32(s, _mm512_madd_epi16(p, scv[j]));
            }
            __m256i sumi = _mm256_add_epi32(_mm512_castsi512_si256(s), _mm512_extracti64x4_epi64(s, 1));
            acc[k] = _mm256_fmadd_ps(_mm256_set1_ps(y[i].d * dx), _mm256_cvtepi32_ps(sumi), acc[k]);
        }
    }
    for (int k = 0; k < NT; k++) out[k] = hsum_ps(acc[k]);
}

#define ENTRY512(name, body, MAXT) ENTRYT(name, body, MAXT, AVX512, avx512)
ENTRY512(f32, f32_body512, 8)
ENTRY512(f16, f16_body512, 8)
ENTRY512(bf16, bf16_body512, 8)
ENTRY512(q4_K, q4_K_body512, 4)
ENTRY512(q6_K, q6_K_body512, 4)
AVXVNNI static float dot_q8_0_vnni(int n, const void *w, const void *a)
{
    float r;
    q8_0_body_vnni_sign(n, w, a, 0, &r, 1);
    return r;
}
/* 8 or 16 tokens per pass over the weight row (32 vector registers hold 16 accumulators) with
 * the flipped-activation body; fewer with the sign body, which is faster when the per-block
 * setup is shared by few tokens (llmq-kernel-bench: x16 2.9 -> 3.3 GB/s, x4 and x1 unchanged). */
AVXVNNI static void dotn_q8_0_vnni(int n, const void *w, const void *a, size_t as, int nt, float *out)
{
    for (; nt >= 16; nt -= 16, a = (const char *)a + 16 * as, out += 16)
        q8_0_body_vnni(n, w, a, as, out, 16);
    if (nt >= 8) {
        q8_0_body_vnni(n, w, a, as, out, 8);
        nt -= 8, a = (const char *)a + 8 * as, out += 8;
    }
    switch (nt) {
    case 7: q8_0_body_vnni_sign(n, w, a, as, out, 7); break;
    case 6: q8_0_body_vnni_sign(n, w, a, as, out, 6); break;
    case 5: q8_0_body_vnni_sign(n, w, a, as, out, 5); break;
    case 4: q8_0_body_vnni_sign(n, w, a, as, out, 4); break;
    case 3: q8_0_body_vnni_sign(n, w, a, as, out, 3); break;
    case 2: q8_0_body_vnni_sign(n, w, a, as, out, 2); break;
    case 1: q8_0_body_vnni_sign(n, w, a, as, out, 1); break;
    default: break;
    }
}
ENTRYT(q4_0, q4_0_body_vnni, 8, AVXVNNI, vnni)

AVX2 static void fp32_to_fp16_avx2(const float *x, uint16_t *y, int n)
{
    int i = 0;
    for (; i + 8 <= n; i += 8)
        _mm_storeu_si128((__m128i *)(y + i), _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT));
    for (; i < n; i++) y[i] = quant_fp32_to_fp16(x[i]);
}

AVX2 static void fp16_to_fp32_avx2(const uint16_t *x, float *y, int n)
{
    int i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, LOAD_F16(x + i));
    for (; i < n; i++) y[i] = _cvtsh_ss(x[i]);
}

AVX2 static void axpy_f16_avx2(int n, float a, const uint16_t *x, float *y)
{
    __m256 va = _mm256_set1_ps(a);
    int i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, _mm256_fmadd_ps(va, LOAD_F16(x + i), _mm256_loadu_ps(y + i)));
    for (; i < n; i++) y[i] += a * _cvtsh_ss(x[i]);
}

/* The row form: the single-row kernel inlined into one loop (same arithmetic). */
AVX2 static void dot_f16_rows_avx2(int n, const uint16_t *x, size_t xs, int count, const float *y, float *out)
{
    for (int i = 0; i < count; i++) out[i] = dot_f16_ggml_avx2(n, x + (size_t)i * xs, y);
}
#endif

/* ============================ f32-activation fallback =============================== */

/* Dequantize the weight row, then an f32 dot: used when LLMQ_F32_ACT=1 asks for unrounded
 * activations on every type (for measuring what llama.cpp's rounding contributes). */
#define DEQ_DOT(t, T)                                                                \
    static float dot_##t##_f32(int n, const void *w, const void *a)                 \
    {                                                                               \
        static _Thread_local float buf[16384];                                      \
        float s = 0;                                                                \
        for (int o = 0; o < n; o += 16384) {                                        \
            int k = n - o < 16384 ? n - o : 16384;                                  \
            dequant_##t((const char *)w + quant_row_bytes(GGML_TYPE_##T, o), buf, k); \
            s += traits[0].dot(k, buf, (const float *)a + o);                       \
        }                                                                           \
        return s;                                                                   \
    }
static struct quant_traits traits[7];

DEQ_DOT(q8_0, Q8_0)
DEQ_DOT(q4_0, Q4_0)
DEQ_DOT(q4_K, Q4_K)
DEQ_DOT(q6_K, Q6_K)

/* ============================ dispatch ============================================== */

static int use_simd, use_vnni;
static int f16_act = 1;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static struct quant_traits traits[7] = {
    { GGML_TYPE_F32, 1, 4, GGML_TYPE_F32, dot_f32_ref, dot_f32_ref, dequant_f32, NULL, NULL },
    { GGML_TYPE_F16, 1, 2, QUANT_ACT_F16R, dot_f16_ref, dot_f16_ref, dequant_f16, NULL, NULL },
    { GGML_TYPE_BF16, 1, 2, QUANT_ACT_BF16R, dot_bf16_ref, dot_bf16_ref, dequant_bf16, NULL, NULL },
    { GGML_TYPE_Q8_0, QK8_0, sizeof(struct block_q8_0), QUANT_ACT_Q8_0S, dot_q8_0_ref, dot_q8_0_ref, dequant_q8_0, NULL, NULL },
    { GGML_TYPE_Q4_0, QK4_0, sizeof(struct block_q4_0), QUANT_ACT_Q8_0S, dot_q4_0_ref, dot_q4_0_ref, dequant_q4_0, NULL, NULL },
    { GGML_TYPE_Q4_K, QK_K, sizeof(struct block_q4_K), GGML_TYPE_Q8_K, dot_q4_K_ref, dot_q4_K_ref, dequant_q4_K, NULL, NULL },
    { GGML_TYPE_Q6_K, QK_K, sizeof(struct block_q6_K), GGML_TYPE_Q8_K, dot_q6_K_ref, dot_q6_K_ref, dequant_q6_K, NULL, NULL },
};

static void pick_kernels(void)
{
    _Static_assert(sizeof(struct block_q8_0) == 34, "q8_0");
    _Static_assert(sizeof(struct block_q4_0) == 18, "q4_0");
    _Static_assert(sizeof(struct block_q4_K) == 144, "q4_K");
    _Static_assert(sizeof(struct block_q6_K) == 210, "q6_K");
    _Static_assert(sizeof(struct block_q8_K) == 292, "q8_K");
    const char *no = getenv("LLMQ_NO_SIMD"), *no512 = getenv("LLMQ_NO_AVX512");
#if QUANT_X86
    __builtin_cpu_init();
    /* F16C is not asked for: clang 14 rejects "f16c" here, and every CPU with AVX2 and FMA
     * (Haswell, Zen and later) has it. */
    use_simd = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
               !(no && *no && *no != '0');
    if (use_simd && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
        !(no512 && *no512 && *no512 != '0'))
        use_simd = 2;
    use_vnni = use_simd == 2 && __builtin_cpu_supports("avx512vnni");
#else
    (void)no;
    (void)no512;
#endif
    const char *f32 = getenv("LLMQ_F32_ACT");
    int all_f32 = f32 && *f32 == '1';
    if (all_f32) {
        quant_dot_fn *fns[] = { dot_q8_0_f32, dot_q4_0_f32, dot_q4_K_f32, dot_q6_K_f32 };
        for (int i = 3; i < 7; i++) {
            traits[i].act_type = GGML_TYPE_F32;
            traits[i].dot = traits[i].dot_ref = fns[i - 3];
        }
        traits[2].act_type = GGML_TYPE_F32;   /* the float kernels take any f32 values */
    }
    if (all_f32 || !f16_act) traits[1].act_type = GGML_TYPE_F32;
#if QUANT_X86
    if (!use_simd) return;
    traits[0].dot = dot_f32_avx2;
    traits[0].dotn = dotn_f32_avx2;
    traits[1].dot = dot_f16_avx2;
    traits[1].dotn = dotn_f16_avx2;
    traits[2].dot = dot_bf16_avx2;
    traits[2].dotn = dotn_bf16_avx2;
    if (all_f32) return;
    traits[3].dot = dot_q8_0_avx2;
    traits[3].dotn = dotn_q8_0_avx2;
    traits[4].dot = dot_q4_0_avx2;
    traits[4].dotn = dotn_q4_0_avx2;
    traits[5].dot = dot_q4_K_avx2;
    traits[5].dotn = dotn_q4_K_avx2;
    traits[6].dot = dot_q6_K_avx2;
    traits[6].dotn = dotn_q6_K_avx2;
    if (use_simd < 2) return;
    quant_dot_fn *d512[] = { dot_f32_avx512, dot_f16_avx512, dot_bf16_avx512, dot_q8_0_avx2,
                             dot_q4_0_avx2, dot_q4_K_avx512, dot_q6_K_avx512 };
    quant_dotn_fn *n512[] = { dotn_f32_avx512, dotn_f16_avx512, dotn_bf16_avx512, dotn_q8_0_avx2,
                              dotn_q4_0_avx2, dotn_q4_K_avx512, dotn_q6_K_avx512 };
    for (int i = 0; i < 7; i++) {
        traits[i].dot = d512[i];
        traits[i].dotn = n512[i];
    }
    traits[0].tile = tile_f32_avx512;
    traits[1].tile = tile_f16_avx512;
    traits[2].tile = tile_bf16_avx512;
    if (use_vnni) {
        traits[3].dot = dot_q8_0_vnni;
        traits[3].dotn = dotn_q8_0_vnni;
        traits[4].dot = dot_q4_0_vnni;
        traits[4].dotn = dotn_q4_0_vnni;
    }
#endif
}

int quant_dot_tiers(enum ggml_type t, int n, const void *w, const void *a, float out[4])
{
    const struct quant_traits *qt = quant_traits(t);
    int k = 0;
    out[k++] = qt->dot_ref(n, w, a);
#if QUANT_X86
    static quant_dot_fn *const d2[] = { dot_f32_avx2, dot_f16_avx2, dot_bf16_avx2, dot_q8_0_avx2,
                                        dot_q4_0_avx2, dot_q4_K_avx2, dot_q6_K_avx2 };
    static quant_dot_fn *const d5[] = { dot_f32_avx512, dot_f16_avx512, dot_bf16_avx512, dot_q8_0_avx2,
                                        dot_q4_0_avx2, dot_q4_K_avx512, dot_q6_K_avx512 };
    int i = (int)(qt - traits);
    if (use_simd >= 1) out[k++] = d2[i](n, w, a);
    if (use_simd >= 2) out[k++] = d5[i](n, w, a);
    if (use_vnni && (i == 3 || i == 4)) out[k++] = i == 3 ? dot_q8_0_vnni(n, w, a) : dot_q4_0_vnni(n, w, a);
#endif
    return k;
}

void quant_set_f16_act(int f16) { f16_act = f16; }

int quant_simd(void)
{
    pthread_once(&once, pick_kernels);
    return use_simd;
}

const struct quant_traits *quant_traits(enum ggml_type t)
{
    pthread_once(&once, pick_kernels);
    for (size_t i = 0; i < sizeof(traits) / sizeof(traits[0]); i++)
        if (traits[i].type == t) return &traits[i];
    return NULL;
}

size_t quant_row_bytes(enum ggml_type t, int n)
{
    if (t == QUANT_ACT_F16R || t == QUANT_ACT_BF16R) return (size_t)n * 4;
    if (t == QUANT_ACT_Q8_0S) return Q8_0S_SCALES(n / QK8_0) + (size_t)(n / QK8_0) * 4;
    if (t == GGML_TYPE_Q8_K) return (size_t)(n / QK_K) * sizeof(struct block_q8_K);
    const struct quant_traits *q = quant_traits(t);
    return q ? (size_t)(n / q->block_elems) * q->block_bytes : 0;
}

void quant_dequant_row(enum ggml_type t, const void *row, float *out, int n)
{
    if (t == QUANT_ACT_F16R || t == QUANT_ACT_BF16R) t = GGML_TYPE_F32;
    if (t == QUANT_ACT_Q8_0S) t = GGML_TYPE_Q8_0;
    quant_traits(t)->dequant(row, out, n);
}

void quant_fp32_to_fp16_row(const float *x, uint16_t *y, int n)
{
#if QUANT_X86
    if (quant_simd()) { fp32_to_fp16_avx2(x, y, n); return; }
#endif
    for (int i = 0; i < n; i++) y[i] = quant_fp32_to_fp16(x[i]);
}

void quant_fp16_to_fp32_row(const uint16_t *x, float *y, int n)
{
#if QUANT_X86
    if (quant_simd()) { fp16_to_fp32_avx2(x, y, n); return; }
#endif
    for (int i = 0; i < n; i++) y[i] = quant_fp16_to_fp32(x[i]);
}

/* Q.K in attention: ggml_vec_dot_f16's order (dot_f16_ggml_avx2 above). */
float quant_dot_f16_f32(int n, const uint16_t *x, const float *y)
{
#if QUANT_X86
    if (quant_simd()) return dot_f16_ggml_avx2(n, x, y);
#endif
    return dot_f16_ref(n, x, y);
}

void quant_dot_f16_f32_rows(int n, const uint16_t *x, size_t x_stride, int count, const float *y,
                            float *out)
{
#if QUANT_X86
    int simd = quant_simd();
    if (simd == 2) { dot_f16_rows_avx512(n, x, x_stride, count, y, out); return; }
    if (simd) { dot_f16_rows_avx2(n, x, x_stride, count, y, out); return; }
#endif
    for (int i = 0; i < count; i++) out[i] = dot_f16_ref(n, x + (size_t)i * x_stride, y);
}

void quant_vsum_f16(int n, const float *a, int count, const uint16_t *const *pages,
                    size_t row_stride, float *part)
{
#if QUANT_X86
    if (quant_simd() == 2 && n % 16 == 0) {
        vsum_f16_avx512(n, a, count, pages, row_stride, part);
        return;
    }
#endif
    int lanes = count < 16 ? count : 16;
    memset(part, 0, (size_t)lanes * (size_t)n * sizeof(float));
    for (int j = 0; j < count; j++)
        quant_axpy_f16(n, a[j], pages[j >> 4] + (size_t)(j & 15) * row_stride, part + (size_t)(j & 15) * n);
}

void quant_axpy_f16(int n, float a, const uint16_t *x, float *y)
{
#if QUANT_X86
    if (quant_simd()) { axpy_f16_avx2(n, a, x, y); return; }
#endif
    for (int i = 0; i < n; i++) y[i] += a * quant_fp16_to_fp32(x[i]);
}
