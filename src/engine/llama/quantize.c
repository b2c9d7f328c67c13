/* quantize.c -- weight encoders for `llmq mkmodel`, matching llama-quantize's reference rounding.
 * The block layouts are ggml's (a GGUF reader decodes them the same way); the Q4_K and Q6_K
 * scale searches reproduce ggml's make_qkx2_quants / make_qx_quants so that requantizing a
 * dequantized llama-quantize tensor gives (nearly) the same bytes. Speed matters only as far as
 * writing a 1B model stays quick: mkmodel runs this on several threads, one row per call.
 * Nothing here allocates. */
#include "engine/llama/quantize.h"
#include "engine/llama/quant.h"

#include <math.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define QUANTIZE_X86 1
#endif

/* Rounding mode for _mm256_round_ps: a macro, since clang wants a literal constant there. */
#define ROUND_NEAREST (_MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)

/* ------------------------------------------------------------------ block layouts (ggml) */

/* QK8_0, QK4_0, QK_K and struct block_q8_0 / q4_0 / q4_K / q6_K come from quant.h, the one
 * definition the encoder here and the engine's kernels share. */

_Static_assert(sizeof(struct block_q8_0) == 34, "q8_0 block");
_Static_assert(sizeof(struct block_q4_0) == 18, "q4_0 block");
_Static_assert(sizeof(struct block_q4_K) == 144, "q4_K block");
_Static_assert(sizeof(struct block_q6_K) == 210, "q6_K block");

/* ggml's threshold below which a group counts as all zero. */
#define GROUP_MAX_EPS 1e-15f

/* ------------------------------------------------------------------ fp16 / bf16 */

static inline uint32_t f32_bits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static inline float f32_from_bits(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }

uint16_t quantize_fp32_to_fp16(float f)
{
    uint32_t x = f32_bits(f);
    uint16_t sign = (uint16_t)((x >> 16) & 0x8000);
    x &= 0x7fffffff;
    if (x >= 0x7f800000)                       /* inf, nan */
        return sign | (x > 0x7f800000 ? 0x7e00 : 0x7c00);
    if (x >= 0x477ff000)                       /* >= 65520 rounds to infinity */
        return sign | 0x7c00;
    if (x < 0x38800000) {                      /* below 2^-14: half subnormal, unit 2^-24 */
        if (x < 0x33000000) return sign;       /* below 2^-25 rounds to zero */
        int e = (int)(x >> 23);
        uint32_t m = (x & 0x7fffff) | 0x800000;    /* value = m * 2^(e-150) */
        int shift = 126 - e;                   /* 14..24 */
        uint32_t q = m >> shift, rem = m & ((1u << shift) - 1), half = 1u << (shift - 1);
        if (rem > half || (rem == half && (q & 1))) q++;
        return sign | (uint16_t)q;             /* q == 0x400 is the smallest normal: right */
    }
    uint32_t h = (x >> 13) - ((127 - 15) << 10), rem = x & 0x1fff;
    if (rem > 0x1000 || (rem == 0x1000 && (h & 1))) h++;
    return sign | (uint16_t)h;
}

float quantize_fp16_to_fp32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, e = (h >> 10) & 0x1f, m = h & 0x3ff;
    if (e == 0x1f) return f32_from_bits(sign | 0x7f800000 | (m << 13));
    if (e == 0) {                              /* zero or subnormal: m * 2^-24 */
        float v = (float)m * 0x1p-24f;
        return sign ? -v : v;
    }
    return f32_from_bits(sign | ((e + 127 - 15) << 23) | (m << 13));
}

uint16_t quantize_fp32_to_bf16(float f)
{
    uint32_t u = f32_bits(f);
    if ((u & 0x7fffffff) > 0x7f800000) return (uint16_t)((u >> 16) | 64);   /* quiet nan */
    return (uint16_t)((u + (0x7fff + ((u >> 16) & 1))) >> 16);
}

float quantize_bf16_to_fp32(uint16_t h) { return f32_from_bits((uint32_t)h << 16); }

/* ------------------------------------------------------------------ helpers */

/* Round to nearest, ties to even, for |f| < 2^22: the float-add trick ggml uses, which the
 * compiler vectorises (lrintf would do the same rounding, one call per value). */
static inline int nearest_int(float f)
{
    float v = f + 12582912.f;
    int i;
    memcpy(&i, &v, sizeof(i));
    return (i & 0x007fffff) - 0x00400000;
}

static inline int imin(int a, int b) { return a < b ? a : b; }
static inline int imax(int a, int b) { return a > b ? a : b; }

/* ------------------------------------------------------------------ Q8_0, Q4_0 */

static void quantize_q8_0(const float *x, struct block_q8_0 *y, int64_t nb)
{
    for (int64_t i = 0; i < nb; i++, x += QK8_0) {
        float amax = 0;
        for (int j = 0; j < QK8_0; j++) amax = fmaxf(amax, fabsf(x[j]));
        const float d = amax / 127.f;
        const float id = d ? 1.0f / d : 0.0f;
        struct block_q8_0 b;
        b.d = quantize_fp32_to_fp16(d);
        for (int j = 0; j < QK8_0; j++) b.qs[j] = (int8_t)roundf(x[j] * id);
        memcpy(&y[i], &b, sizeof(b));
    }
}

static void quantize_q4_0(const float *x, struct block_q4_0 *y, int64_t nb)
{
    for (int64_t i = 0; i < nb; i++, x += QK4_0) {
        float amax = 0, max = 0;               /* max keeps the sign of the largest magnitude */
        for (int j = 0; j < QK4_0; j++) {
            if (amax < fabsf(x[j])) { amax = fabsf(x[j]); max = x[j]; }
        }
        const float d = max / -8;
        const float id = d ? 1.0f / d : 0.0f;
        struct block_q4_0 b;
        b.d = quantize_fp32_to_fp16(d);
        for (int j = 0; j < QK4_0 / 2; j++) {
            /* truncation after +8.5 is ggml's rounding; the extreme value lands on 0 */
            int q0 = imin(15, (int8_t)(x[j] * id + 8.5f));
            int q1 = imin(15, (int8_t)(x[j + QK4_0 / 2] * id + 8.5f));
            b.qs[j] = (uint8_t)(q0 | (q1 << 4));
        }
        memcpy(&y[i], &b, sizeof(b));
    }
}

/* ------------------------------------------------------------------ Q4_K */

/* Weighted least-squares fit of x ~ scale*L + min with L in 0..nmax (min <= 0), trying
 * nstep+1 candidate inverse scales around nmax/(max-min) and keeping the one with the
 * smallest weighted squared error: ggml's make_qkx2_quants with use_mad = false.
 * Returns the scale; *neg_min = -min (>= 0). */
static float fit_scale_min(int n, int nmax, const float *x, const float *w, uint8_t *L,
                           float *neg_min, float rmin, float rdelta, int nstep)
{
    float min = x[0], max = x[0];
    float sum_w = w[0], sum_x = w[0] * x[0];
    for (int i = 1; i < n; i++) {
        if (x[i] < min) min = x[i];
        if (x[i] > max) max = x[i];
        sum_w += w[i];
        sum_x += w[i] * x[i];
    }
    if (min > 0) min = 0;
    if (max == min) {
        memset(L, 0, (size_t)n);
        *neg_min = -min;
        return 0.f;
    }
    float iscale = nmax / (max - min);
    float scale = 1 / iscale;
    float best_err = 0;
    for (int i = 0; i < n; i++) {
        L[i] = (uint8_t)imax(0, imin(nmax, nearest_int(iscale * (x[i] - min))));
        float diff = scale * L[i] + min - x[i];
        best_err += w[i] * (diff * diff);
    }
    uint8_t Laux[32];
    for (int is = 0; is <= nstep; is++) {
        iscale = (rmin + rdelta * is + nmax) / (max - min);
        float sum_l = 0, sum_l2 = 0, sum_xl = 0;
        for (int i = 0; i < n; i++) {
            int l = imax(0, imin(nmax, nearest_int(iscale * (x[i] - min))));
            Laux[i] = (uint8_t)l;
            sum_l += w[i] * l;
            sum_l2 += w[i] * l * l;
            sum_xl += w[i] * l * x[i];
        }
        float D = sum_w * sum_l2 - sum_l * sum_l;
        if (D > 0) {
            float this_scale = (sum_w * sum_xl - sum_x * sum_l) / D;
            float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / D;
            if (this_min > 0) {
                this_min = 0;
                this_scale = sum_xl / sum_l2;
            }
            float err = 0;
            for (int i = 0; i < n; i++) {
                float diff = this_scale * Laux[i] + this_min - x[i];
                err += w[i] * (diff * diff);
            }
            if (err < best_err) {
                memcpy(L, Laux, (size_t)n);
                best_err = err;
                scale = this_scale;
                min = this_min;
            }
        }
    }
    *neg_min = -min;
    return scale;
}

#if QUANTIZE_X86
/* fit_scale_min for the 8 sub-blocks of one Q4_K super-block at once, sub-block j in lane j.
 * Every lane performs exactly the scalar function's IEEE operations in the same order
 * (rounding by _mm256_round_ps is nearest-even like nearest_int; no FMA: the target is plain
 * AVX2), so results are bit-identical to fit_scale_min -- the test checks it -- while the
 * 21-candidate search, ~90% of mkmodel's time on Q4_K, runs 8 times fewer instructions.
 * x, w: 8 x 32 values (sub-block-major). L: 8 x 32 out. */
__attribute__((target("avx2"))) static void fit_scale_min_x8(const float *x, const float *w,
                                                             uint8_t *L, float *scale_out,
                                                             float *neg_min_out)
{
    enum { N = 32, NMAX = 15, NSTEP = 20 };
    const float rmin = -1.f, rdelta = 0.1f;
    __m256 xt[N], wt[N], l[N], laux[N];
    for (int i = 0; i < N; i++) {              /* transpose: xt[i] lane j = x[j][i] */
        xt[i] = _mm256_setr_ps(x[i], x[32 + i], x[64 + i], x[96 + i], x[128 + i], x[160 + i],
                               x[192 + i], x[224 + i]);
        wt[i] = _mm256_setr_ps(w[i], w[32 + i], w[64 + i], w[96 + i], w[128 + i], w[160 + i],
                               w[192 + i], w[224 + i]);
    }
    const __m256 zero = _mm256_setzero_ps(), vnmax = _mm256_set1_ps((float)NMAX);
    __m256 mn = xt[0], mx = xt[0], sum_w = wt[0], sum_x = _mm256_mul_ps(wt[0], xt[0]);
    for (int i = 1; i < N; i++) {
        mn = _mm256_min_ps(xt[i], mn);         /* no NaNs here: same as `if (x < min) min = x` */
        mx = _mm256_max_ps(xt[i], mx);
        sum_w = _mm256_add_ps(sum_w, wt[i]);
        sum_x = _mm256_add_ps(sum_x, _mm256_mul_ps(wt[i], xt[i]));
    }
    mn = _mm256_blendv_ps(mn, zero, _mm256_cmp_ps(mn, zero, _CMP_GT_OQ)); /* if (min > 0) min = 0 */
    const __m256 flat = _mm256_cmp_ps(mx, mn, _CMP_EQ_OQ);
    __m256 iscale = _mm256_div_ps(vnmax, _mm256_sub_ps(mx, mn));
    __m256 scale = _mm256_div_ps(_mm256_set1_ps(1.f), iscale);
    __m256 best = zero;
    for (int i = 0; i < N; i++) {
        __m256 q = _mm256_round_ps(_mm256_mul_ps(iscale, _mm256_sub_ps(xt[i], mn)), ROUND_NEAREST);
        l[i] = _mm256_min_ps(_mm256_max_ps(q, zero), vnmax);
        __m256 diff = _mm256_sub_ps(_mm256_add_ps(_mm256_mul_ps(scale, l[i]), mn), xt[i]);
        best = _mm256_add_ps(best, _mm256_mul_ps(wt[i], _mm256_mul_ps(diff, diff)));
    }
    for (int is = 0; is <= NSTEP; is++) {
        float c = rmin + rdelta * (float)is + (float)NMAX;
        /* min moves when a candidate wins, and the range with it (as in the scalar code) */
        iscale = _mm256_div_ps(_mm256_set1_ps(c), _mm256_sub_ps(mx, mn));
        __m256 sum_l = zero, sum_l2 = zero, sum_xl = zero;
        for (int i = 0; i < N; i++) {
            __m256 q = _mm256_round_ps(_mm256_mul_ps(iscale, _mm256_sub_ps(xt[i], mn)), ROUND_NEAREST);
            laux[i] = _mm256_min_ps(_mm256_max_ps(q, zero), vnmax);
            __m256 wl = _mm256_mul_ps(wt[i], laux[i]);
            sum_l = _mm256_add_ps(sum_l, wl);
            sum_l2 = _mm256_add_ps(sum_l2, _mm256_mul_ps(wl, laux[i]));
            sum_xl = _mm256_add_ps(sum_xl, _mm256_mul_ps(wl, xt[i]));
        }
        __m256 D = _mm256_sub_ps(_mm256_mul_ps(sum_w, sum_l2), _mm256_mul_ps(sum_l, sum_l));
        __m256 ok = _mm256_cmp_ps(D, zero, _CMP_GT_OQ);
        if (_mm256_movemask_ps(ok) == 0) continue;
        __m256 ts = _mm256_div_ps(_mm256_sub_ps(_mm256_mul_ps(sum_w, sum_xl), _mm256_mul_ps(sum_x, sum_l)), D);
        __m256 tm = _mm256_div_ps(_mm256_sub_ps(_mm256_mul_ps(sum_l2, sum_x), _mm256_mul_ps(sum_l, sum_xl)), D);
        __m256 pos = _mm256_cmp_ps(tm, zero, _CMP_GT_OQ);
        ts = _mm256_blendv_ps(ts, _mm256_div_ps(sum_xl, sum_l2), pos);
        tm = _mm256_blendv_ps(tm, zero, pos);
        __m256 err = zero;
        for (int i = 0; i < N; i++) {
            __m256 diff = _mm256_sub_ps(_mm256_add_ps(_mm256_mul_ps(ts, laux[i]), tm), xt[i]);
            err = _mm256_add_ps(err, _mm256_mul_ps(wt[i], _mm256_mul_ps(diff, diff)));
        }
        __m256 take = _mm256_and_ps(ok, _mm256_cmp_ps(err, best, _CMP_LT_OQ));
        if (_mm256_movemask_ps(take) == 0) continue;
        for (int i = 0; i < N; i++) l[i] = _mm256_blendv_ps(l[i], laux[i], take);
        best = _mm256_blendv_ps(best, err, take);
        scale = _mm256_blendv_ps(scale, ts, take);
        mn = _mm256_blendv_ps(mn, tm, take);
    }
    /* flat sub-blocks: all quants 0, scale 0, min as found */
    scale = _mm256_blendv_ps(scale, zero, flat);
    float sc[8], nm[8], lv[N][8];
    _mm256_storeu_ps(sc, scale);
    _mm256_storeu_ps(nm, _mm256_xor_ps(mn, _mm256_set1_ps(-0.f)));    /* -min, signed zeros too */
    for (int i = 0; i < N; i++) _mm256_storeu_ps(lv[i], _mm256_blendv_ps(l[i], zero, flat));
    for (int j = 0; j < 8; j++) {
        scale_out[j] = sc[j];
        neg_min_out[j] = nm[j];
        for (int i = 0; i < N; i++) L[32 * j + i] = (uint8_t)lv[i][j];
    }
}

static int have_avx2(void)
{
    static int v = -1;
    if (v < 0) v = __builtin_cpu_supports("avx2") ? 1 : 0;   /* benign race: same value */
    return v;
}
#endif

/* Sub-block j's 6-bit scale and min from the 12 packed bytes: j < 4 sit in the low 6 bits of
 * bytes j and j+4; j >= 4 are split into a nibble of byte j+4 and the top 2 bits of j-4 / j. */
static inline void get_scale_min(int j, const uint8_t *q, uint8_t *sc, uint8_t *m)
{
    if (j < 4) {
        *sc = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *sc = (uint8_t)((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
        *m = (uint8_t)((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
    }
}

static void quantize_q4_K(const float *x, struct block_q4_K *y, int64_t nb, int simd)
{
    uint8_t L[QK_K];
    float w[QK_K], mins[QK_K / 32], scales[QK_K / 32];

    for (int64_t i = 0; i < nb; i++, x += QK_K) {
        struct block_q4_K b;
        memset(&b, 0, sizeof(b));
        for (int j = 0; j < QK_K / 32; j++) {
            const float *xs = x + 32 * j;
            float sum_x2 = 0;
            for (int l = 0; l < 32; l++) sum_x2 += xs[l] * xs[l];
            float av_x = sqrtf(sum_x2 / 32);
            for (int l = 0; l < 32; l++) w[32 * j + l] = av_x + fabsf(xs[l]);
        }
#if QUANTIZE_X86
        if (simd) {
            fit_scale_min_x8(x, w, L, scales, mins);
        } else
#endif
        {
            (void)simd;
            for (int j = 0; j < QK_K / 32; j++)
                scales[j] = fit_scale_min(32, 15, x + 32 * j, w + 32 * j, L + 32 * j, &mins[j],
                                          -1.f, 0.1f, 20);
        }
        float max_scale = 0, max_min = 0;
        for (int j = 0; j < QK_K / 32; j++) {
            if (scales[j] > max_scale) max_scale = scales[j];
            if (mins[j] > max_min) max_min = mins[j];
        }
        float inv_scale = max_scale > 0 ? 63.f / max_scale : 0.f;
        float inv_min = max_min > 0 ? 63.f / max_min : 0.f;
        for (int j = 0; j < QK_K / 32; j++) {
            uint8_t ls = (uint8_t)imin(63, nearest_int(inv_scale * scales[j]));
            uint8_t lm = (uint8_t)imin(63, nearest_int(inv_min * mins[j]));
            if (j < 4) {
                b.scales[j] = ls;
                b.scales[j + 4] = lm;
            } else {
                b.scales[j + 4] = (uint8_t)((ls & 0xF) | ((lm & 0xF) << 4));
                b.scales[j - 4] |= (uint8_t)((ls >> 4) << 6);
                b.scales[j] |= (uint8_t)((lm >> 4) << 6);
            }
        }
        b.d = quantize_fp32_to_fp16(max_scale / 63.f);
        b.dmin = quantize_fp32_to_fp16(max_min / 63.f);

        /* Requantize against the rounded 6-bit scales actually stored. */
        const float d_all = quantize_fp16_to_fp32(b.d), dmin_all = quantize_fp16_to_fp32(b.dmin);
        for (int j = 0; j < QK_K / 32; j++) {
            uint8_t sc, m;
            get_scale_min(j, b.scales, &sc, &m);
            const float d = d_all * sc;
            if (!d) continue;
            const float dm = dmin_all * m;
            for (int l = 0; l < 32; l++)
                L[32 * j + l] = (uint8_t)imax(0, imin(15, nearest_int((x[32 * j + l] + dm) / d)));
        }
        uint8_t *q = b.qs;
        for (int j = 0; j < QK_K; j += 64, q += 32)
            for (int l = 0; l < 32; l++) q[l] = (uint8_t)(L[j + l] | (L[j + l + 32] << 4));
        memcpy(&y[i], &b, sizeof(b));
    }
}

/* ------------------------------------------------------------------ Q6_K */

/* Symmetric fit of x ~ scale*(L - nmax) with L-nmax in -nmax..nmax-1, weights x^2, trying 19
 * inverse scales around -nmax/max: ggml's make_qx_quants with rmse_type 1 and no imatrix. */
static float fit_scale_sym(int n, int nmax, const float *x, int8_t *L)
{
    float max = 0, amax = 0;
    for (int i = 0; i < n; i++) {
        float ax = fabsf(x[i]);
        if (ax > amax) { amax = ax; max = x[i]; }
    }
    if (amax < GROUP_MAX_EPS) {
        memset(L, 0, (size_t)n);
        return 0.f;
    }
    float iscale = -nmax / max;
    float sumlx = 0, suml2 = 0;
    for (int i = 0; i < n; i++) {
        int l = imax(-nmax, imin(nmax - 1, nearest_int(iscale * x[i])));
        L[i] = (int8_t)(l + nmax);
        float w = x[i] * x[i];
        sumlx += w * x[i] * l;
        suml2 += w * l * l;
    }
    float scale = suml2 ? sumlx / suml2 : 0.0f;
    float best = scale * sumlx;
    for (int is = -9; is <= 9; is++) {
        if (is == 0) continue;
        iscale = -(nmax + 0.1f * is) / max;
        sumlx = suml2 = 0;
        for (int i = 0; i < n; i++) {
            int l = imax(-nmax, imin(nmax - 1, nearest_int(iscale * x[i])));
            float w = x[i] * x[i];
            sumlx += w * x[i] * l;
            suml2 += w * l * l;
        }
        if (suml2 > 0 && sumlx * sumlx > best * suml2) {
            for (int i = 0; i < n; i++)
                L[i] = (int8_t)(nmax + imax(-nmax, imin(nmax - 1, nearest_int(iscale * x[i]))));
            scale = sumlx / suml2;
            best = scale * sumlx;
        }
    }
    return scale;
}

#if QUANTIZE_X86
/* fit_scale_sym for 8 consecutive 16-value sub-blocks of a Q6_K super-block, sub-block j in
 * lane j, bit-identical to the scalar function (same operations, same order, no FMA).
 * x: 8 x 16 values. L: 8 x 16 out (q + 32). */
__attribute__((target("avx2"))) static void fit_scale_sym_x8(const float *x, int8_t *L,
                                                             float *scale_out)
{
    enum { N = 16, NMAX = 32 };
    const __m256 zero = _mm256_setzero_ps(), lo = _mm256_set1_ps(-NMAX), hi = _mm256_set1_ps(NMAX - 1);
    const __m256 sign = _mm256_set1_ps(-0.f);
    __m256 xt[N], wt[N], l[N];
    __m256 amax = zero, mx = zero;
    for (int i = 0; i < N; i++) {
        xt[i] = _mm256_setr_ps(x[i], x[16 + i], x[32 + i], x[48 + i], x[64 + i], x[80 + i],
                               x[96 + i], x[112 + i]);
        wt[i] = _mm256_mul_ps(xt[i], xt[i]);
        __m256 ax = _mm256_andnot_ps(sign, xt[i]);
        __m256 gt = _mm256_cmp_ps(ax, amax, _CMP_GT_OQ);       /* first largest |x| wins */
        amax = _mm256_blendv_ps(amax, ax, gt);
        mx = _mm256_blendv_ps(mx, xt[i], gt);
    }
    const __m256 tiny = _mm256_cmp_ps(amax, _mm256_set1_ps(GROUP_MAX_EPS), _CMP_LT_OQ);
    __m256 iscale = _mm256_div_ps(_mm256_set1_ps((float)-NMAX), mx);
    __m256 sumlx = zero, suml2 = zero;
    for (int i = 0; i < N; i++) {
        __m256 q = _mm256_round_ps(_mm256_mul_ps(iscale, xt[i]), ROUND_NEAREST);
        l[i] = _mm256_min_ps(_mm256_max_ps(q, lo), hi);
        sumlx = _mm256_add_ps(sumlx, _mm256_mul_ps(_mm256_mul_ps(wt[i], xt[i]), l[i]));
        suml2 = _mm256_add_ps(suml2, _mm256_mul_ps(_mm256_mul_ps(wt[i], l[i]), l[i]));
    }
    /* scale = suml2 ? sumlx / suml2 : 0 */
    __m256 scale = _mm256_blendv_ps(_mm256_div_ps(sumlx, suml2), zero,
                                    _mm256_cmp_ps(suml2, zero, _CMP_EQ_OQ));
    __m256 best = _mm256_mul_ps(scale, sumlx);
    for (int is = -9; is <= 9; is++) {
        if (is == 0) continue;
        float c = -((float)NMAX + 0.1f * (float)is);
        iscale = _mm256_div_ps(_mm256_set1_ps(c), mx);
        __m256 lt[N];
        sumlx = suml2 = zero;
        for (int i = 0; i < N; i++) {
            __m256 q = _mm256_round_ps(_mm256_mul_ps(iscale, xt[i]), ROUND_NEAREST);
            lt[i] = _mm256_min_ps(_mm256_max_ps(q, lo), hi);
            sumlx = _mm256_add_ps(sumlx, _mm256_mul_ps(_mm256_mul_ps(wt[i], xt[i]), lt[i]));
            suml2 = _mm256_add_ps(suml2, _mm256_mul_ps(_mm256_mul_ps(wt[i], lt[i]), lt[i]));
        }
        __m256 take = _mm256_and_ps(_mm256_cmp_ps(suml2, zero, _CMP_GT_OQ),
                                    _mm256_cmp_ps(_mm256_mul_ps(sumlx, sumlx),
                                                  _mm256_mul_ps(best, suml2), _CMP_GT_OQ));
        if (_mm256_movemask_ps(take) == 0) continue;
        for (int i = 0; i < N; i++) l[i] = _mm256_blendv_ps(l[i], lt[i], take);
        scale = _mm256_blendv_ps(scale, _mm256_div_ps(sumlx, suml2), take);
        best = _mm256_blendv_ps(best, _mm256_mul_ps(scale, sumlx), take);
    }
    scale = _mm256_blendv_ps(scale, zero, tiny);
    float sc[8], lv[N][8];
    _mm256_storeu_ps(sc, scale);
    /* L = l + nmax, or 0 for an all-zero sub-block */
    for (int i = 0; i < N; i++)
        _mm256_storeu_ps(lv[i], _mm256_blendv_ps(_mm256_add_ps(l[i], _mm256_set1_ps(NMAX)), zero, tiny));
    for (int j = 0; j < 8; j++) {
        scale_out[j] = sc[j];
        for (int i = 0; i < N; i++) L[16 * j + i] = (int8_t)lv[i][j];
    }
}
#endif

static void quantize_q6_K(const float *x, struct block_q6_K *y, int64_t nb, int simd)
{
    int8_t L[QK_K];
    float scales[QK_K / 16];

    for (int64_t i = 0; i < nb; i++, x += QK_K) {
        struct block_q6_K b;
        memset(&b, 0, sizeof(b));
#if QUANTIZE_X86
        if (simd) {
            fit_scale_sym_x8(x, L, scales);
            fit_scale_sym_x8(x + 128, L + 128, scales + 8);
        } else
#endif
        {
            (void)simd;
            for (int ib = 0; ib < QK_K / 16; ib++)
                scales[ib] = fit_scale_sym(16, 32, x + 16 * ib, L + 16 * ib);
        }
        float max_scale = 0, max_abs_scale = 0;
        for (int ib = 0; ib < QK_K / 16; ib++) {
            if (fabsf(scales[ib]) > max_abs_scale) {
                max_abs_scale = fabsf(scales[ib]);
                max_scale = scales[ib];
            }
        }
        if (max_abs_scale < GROUP_MAX_EPS) {   /* all zero: an all-zero block */
            memcpy(&y[i], &b, sizeof(b));
            continue;
        }
        float iscale = -128.f / max_scale;
        b.d = quantize_fp32_to_fp16(1 / iscale);
        for (int ib = 0; ib < QK_K / 16; ib++)
            b.scales[ib] = (int8_t)imin(127, nearest_int(iscale * scales[ib]));
        const float d_all = quantize_fp16_to_fp32(b.d);
        for (int j = 0; j < QK_K / 16; j++) {
            const float d = d_all * b.scales[j];
            if (!d) continue;
            for (int l = 0; l < 16; l++)
                L[16 * j + l] = (int8_t)(imax(-32, imin(31, nearest_int(x[16 * j + l] / d))) + 32);
        }
        uint8_t *ql = b.ql, *qh = b.qh;
        for (int j = 0; j < QK_K; j += 128, ql += 64, qh += 32) {
            for (int l = 0; l < 32; l++) {
                uint8_t q1 = L[j + l] & 0xF, q2 = L[j + l + 32] & 0xF;
                uint8_t q3 = L[j + l + 64] & 0xF, q4 = L[j + l + 96] & 0xF;
                ql[l] = (uint8_t)(q1 | (q3 << 4));
                ql[l + 32] = (uint8_t)(q2 | (q4 << 4));
                qh[l] = (uint8_t)((L[j + l] >> 4) | ((L[j + l + 32] >> 4) << 2) |
                                  ((L[j + l + 64] >> 4) << 4) | ((L[j + l + 96] >> 4) << 6));
            }
        }
        memcpy(&y[i], &b, sizeof(b));
    }
}

/* ------------------------------------------------------------------ public */

int quantize_block_elems(enum ggml_type t)
{
    switch (t) {
    case GGML_TYPE_F32: case GGML_TYPE_F16: case GGML_TYPE_BF16: return 1;
    case GGML_TYPE_Q8_0: case GGML_TYPE_Q4_0: return 32;
    case GGML_TYPE_Q4_K: case GGML_TYPE_Q6_K: return QK_K;
    default: return 0;
    }
}

int quantize_supported(enum ggml_type t) { return quantize_block_elems(t) != 0; }

size_t quantize_row_bytes(enum ggml_type t, int64_t n)
{
    int be = quantize_block_elems(t);
    if (!be || n < 0 || n % be) return 0;
    size_t nb = (size_t)(n / be);
    switch (t) {
    case GGML_TYPE_F32: return nb * 4;
    case GGML_TYPE_F16: case GGML_TYPE_BF16: return nb * 2;
    case GGML_TYPE_Q8_0: return nb * sizeof(struct block_q8_0);
    case GGML_TYPE_Q4_0: return nb * sizeof(struct block_q4_0);
    case GGML_TYPE_Q4_K: return nb * sizeof(struct block_q4_K);
    case GGML_TYPE_Q6_K: return nb * sizeof(struct block_q6_K);
    default: return 0;
    }
}

static void encode(enum ggml_type t, const float *src, void *dst, int64_t n, int simd)
{
    uint8_t *out = dst;
    switch (t) {
    case GGML_TYPE_F32:
        memcpy(dst, src, (size_t)n * 4);
        break;
    case GGML_TYPE_F16:
        for (int64_t i = 0; i < n; i++) {
            uint16_t h = quantize_fp32_to_fp16(src[i]);
            memcpy(out + 2 * i, &h, 2);
        }
        break;
    case GGML_TYPE_BF16:
        for (int64_t i = 0; i < n; i++) {
            uint16_t h = quantize_fp32_to_bf16(src[i]);
            memcpy(out + 2 * i, &h, 2);
        }
        break;
    case GGML_TYPE_Q8_0: quantize_q8_0(src, dst, n / QK8_0); break;
    case GGML_TYPE_Q4_0: quantize_q4_0(src, dst, n / QK4_0); break;
    case GGML_TYPE_Q4_K: quantize_q4_K(src, dst, n / QK_K, simd); break;
    case GGML_TYPE_Q6_K: quantize_q6_K(src, dst, n / QK_K, simd); break;
    default: break;
    }
}

void quantize_row(enum ggml_type t, const float *src, void *dst, int64_t n)
{
#if QUANTIZE_X86
    encode(t, src, dst, n, have_avx2());
#else
    encode(t, src, dst, n, 0);
#endif
}

void quantize_row_ref(enum ggml_type t, const float *src, void *dst, int64_t n)
{
    encode(t, src, dst, n, 0);
}

void quantize_dequantize_row(enum ggml_type t, const void *src, float *dst, int64_t n)
{
    /* One decoder for the whole project: the engine's (quant.c), the same formulas. */
    if (quant_traits(t)) quant_dequant_row(t, src, dst, (int)n);
}
