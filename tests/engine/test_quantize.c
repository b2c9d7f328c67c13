/* test_quantize.c -- the mkmodel weight encoders (src/engine/llama/quantize.c).
 * Checks the fp16/bf16 conversions against the CPU's F16C and exhaustively, the round-trip
 * error of every block type against the bound its formula implies, and -- on the llama-quantize
 * files in shared/testdata -- that re-encoding a dequantized tensor gives back the same bytes
 * (exactly for Q8_0/Q4_0/BF16/F16; for Q4_K/Q6_K over 99.9% of blocks decode to the same values
 * -- measured 99.93% / 99.98% -- because the scale search, run on already-rounded input, can
 * land on a different scale, and Q6_K may flip a sub-block's sign: other bytes, same values). */
#include <float.h>
#include <immintrin.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/llama/gguf.h"
#include "engine/llama/quantize.h"
#include "test.h"

/* ------------------------------------------------------------------ data */

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rng_u64(void)
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static float rng_normal(void)
{
    double u1 = ((rng_u64() >> 11) + 1) * 0x1p-53, u2 = (rng_u64() >> 11) * 0x1p-53;
    return (float)(sqrt(-2 * log(u1)) * cos(2 * M_PI * u2));
}

static void fill_normal(float *x, int n, float std)
{
    for (int i = 0; i < n; i++) x[i] = std * rng_normal();
}

/* ------------------------------------------------------------------ fp16 / bf16 */

__attribute__((target("f16c"))) static uint16_t f16c_encode(float f)
{
    return (uint16_t)_cvtss_sh(f, _MM_FROUND_TO_NEAREST_INT);
}

static void test_fp16_matches_f16c(void)
{
    if (!__builtin_cpu_supports("f16c")) {
        TEST_SKIP("CPU has no F16C");
        return;
    }
    int bad = 0;
    /* every exponent that matters, random mantissas, both signs; plus the rounding edges */
    for (int i = 0; i < 2000000; i++) {
        uint32_t u = (uint32_t)rng_u64();
        if ((u & 0x7f800000) == 0x7f800000 && (u & 0x7fffff)) continue;   /* nan payloads */
        float f;
        memcpy(&f, &u, 4);
        if (i & 1) f = ldexpf((float)(rng_u64() & 0xffffff) / 0x1p24f, (int)(rng_u64() % 48) - 30);
        if (quantize_fp32_to_fp16(f) != f16c_encode(f) && bad++ < 5)
            fprintf(stderr, "fp16(%a): %04x vs f16c %04x\n", f, quantize_fp32_to_fp16(f), f16c_encode(f));
    }
    float edges[] = { 65504.f, 65519.f, 65520.f, 65536.f, 0x1p-24f, 0x1p-25f, 0x1.000002p-25f,
                      0x1.8p-24f, 0x1p-14f, 0x1.ffcp-15f, -0.f, INFINITY, -INFINITY, 1.0009765625f,
                      1.00048828125f, 1.000732421875f, FLT_MIN, FLT_MAX };
    for (size_t i = 0; i < sizeof(edges) / sizeof(edges[0]); i++)
        if (quantize_fp32_to_fp16(edges[i]) != f16c_encode(edges[i]) && bad++ < 10)
            fprintf(stderr, "fp16(%a): %04x vs f16c %04x\n", edges[i],
                    quantize_fp32_to_fp16(edges[i]), f16c_encode(edges[i]));
    CHECK_EQ(bad, 0);
    CHECK((quantize_fp32_to_fp16(NAN) & 0x7fff) > 0x7c00);
}

static void test_fp16_roundtrip_exhaustive(void)
{
    int bad = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        if ((h & 0x7c00) == 0x7c00 && (h & 0x3ff)) continue;     /* nan */
        float f = quantize_fp16_to_fp32((uint16_t)h);
        if (quantize_fp32_to_fp16(f) != h) bad++;
    }
    CHECK_EQ(bad, 0);
    CHECK_EQ(quantize_fp16_to_fp32(0x3c00), 1.0);
    CHECK_EQ(quantize_fp16_to_fp32(0x0001) == 0x1p-24f, 1);
    CHECK_EQ(quantize_fp16_to_fp32(0xfbff), -65504.0);
}

static void test_bf16(void)
{
    int bad = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        if ((h & 0x7f80) == 0x7f80 && (h & 0x7f)) continue;
        if (quantize_fp32_to_bf16(quantize_bf16_to_fp32((uint16_t)h)) != h) bad++;
    }
    CHECK_EQ(bad, 0);
    /* ties to even: 1 + 2^-8 is halfway between 1 and 1 + 2^-7 -> 1 (even mantissa) */
    CHECK_EQ(quantize_fp32_to_bf16(1.00390625f), 0x3f80);
    CHECK_EQ(quantize_fp32_to_bf16(1.01171875f), 0x3f82);   /* 1+3*2^-8: halfway, odd -> up */
    CHECK_EQ(quantize_fp32_to_bf16(nextafterf(1.00390625f, 2)), 0x3f81);   /* above halfway */
}

/* ------------------------------------------------------------------ round-trip bounds */

static void test_sizes(void)
{
    CHECK_EQ(quantize_row_bytes(GGML_TYPE_F32, 256), 1024);
    CHECK_EQ(quantize_row_bytes(GGML_TYPE_F16, 256), 512);
    CHECK_EQ(quantize_row_bytes(GGML_TYPE_BF16, 256), 512);
    CHECK_EQ(quantize_row_bytes(GGML_TYPE_Q8_0, 256), 8 * 34);
    CHECK_EQ(quantize_row_bytes(GGML_TYPE_Q4_0, 256), 8 * 18);
    CHECK_EQ(quantize_row_bytes(GGML_TYPE_Q4_K, 256), 144);
    CHECK_EQ(quantize_row_bytes(GGML_TYPE_Q6_K, 512), 420);
    CHECK_EQ(quantize_row_bytes(GGML_TYPE_Q4_K, 288), 0);
    CHECK_EQ(quantize_row_bytes(GGML_TYPE_Q8_0, 48), 0);
    CHECK_EQ(quantize_row_bytes(GGML_TYPE_Q5_1, 256), 0);
    CHECK(!quantize_supported(GGML_TYPE_Q2_K));
}

#define N 4096

/* Per-value bound from the block formulas: Q8_0 rounds to the nearest of d*q (d = amax/127,
 * stored as fp16), so |err| <= d/2 plus the fp16 rounding of d times |q| <= 127; Q4_0 rounds to
 * the nearest of d*(q-8) with d = max/-8, except the side opposite the extreme, which clamps at
 * q=15 (7*|d| for a value up to 8*|d|): |err| <= |d|. */
static void test_q8_0_q4_0_bounds(void)
{
    static float x[N], y[N];
    static uint8_t q[N * 2];
    float stds[] = { 1e-3f, 0.02f, 1.0f, 40.0f };
    for (size_t s = 0; s < 4; s++) {
        fill_normal(x, N, stds[s]);
        x[5] = 0;                       /* one all-zero block */
        for (int i = 64; i < 96; i++) x[i] = 0;
        quantize_row(GGML_TYPE_Q8_0, x, q, N);
        quantize_dequantize_row(GGML_TYPE_Q8_0, q, y, N);
        int bad = 0;
        for (int b = 0; b < N / 32; b++) {
            float amax = 0;
            for (int j = 0; j < 32; j++) amax = fmaxf(amax, fabsf(x[b * 32 + j]));
            float d = amax / 127, ds = quantize_fp16_to_fp32(quantize_fp32_to_fp16(d));
            for (int j = 0; j < 32; j++)
                if (fabsf(y[b * 32 + j] - x[b * 32 + j]) > d / 2 + 127 * fabsf(d - ds) + 1e-30f) bad++;
        }
        CHECK_EQ(bad, 0);
        for (int i = 64; i < 96; i++) CHECK(y[i] == 0);

        quantize_row(GGML_TYPE_Q4_0, x, q, N);
        quantize_dequantize_row(GGML_TYPE_Q4_0, q, y, N);
        bad = 0;
        for (int b = 0; b < N / 32; b++) {
            float amax = 0;
            for (int j = 0; j < 32; j++) amax = fmaxf(amax, fabsf(x[b * 32 + j]));
            float d = amax / 8, ds = quantize_fp16_to_fp32(quantize_fp32_to_fp16(d));
            for (int j = 0; j < 32; j++)
                if (fabsf(y[b * 32 + j] - x[b * 32 + j]) > d + 8 * fabsf(d - ds) + 1e-30f) bad++;
        }
        CHECK_EQ(bad, 0);
        for (int i = 64; i < 96; i++) CHECK(y[i] == 0);
    }
}

/* Relative RMS error of a Gaussian row, and the Q6_K per-value bound: each 16-value sub-block
 * is d*sc*(q-32) with q in 0..63, so a value inside the range errs by at most half a step
 * (plus the rounding of the 8-bit sub-scale, at most half of d per step count). */
static double rel_rms(enum ggml_type t, const float *x, float *y, uint8_t *q, int n)
{
    quantize_row(t, x, q, n);
    quantize_dequantize_row(t, q, y, n);
    double se = 0, sx = 0;
    for (int i = 0; i < n; i++) {
        se += (double)(y[i] - x[i]) * (y[i] - x[i]);
        sx += (double)x[i] * x[i];
    }
    return sqrt(se / sx);
}

static void test_kquant_bounds(void)
{
    static float x[N], y[N];
    static uint8_t q[N * 2];
    /* expected relative RMS error for N(0,1) data: Q4_K ~0.09, Q6_K ~0.02, Q8_0 ~0.004,
     * Q4_0 ~0.11 (fixed by the formats, not by the data scale) */
    struct { enum ggml_type t; double lo, hi; } want[] = {
        { GGML_TYPE_Q8_0, 0.002, 0.006 }, { GGML_TYPE_Q4_0, 0.08, 0.14 },
        { GGML_TYPE_Q4_K, 0.06, 0.11 },   { GGML_TYPE_Q6_K, 0.012, 0.03 },
        { GGML_TYPE_F16, 0, 3e-4 },       { GGML_TYPE_BF16, 0, 3e-3 },
    };
    float stds[] = { 0.02f, 1.0f, 30.0f };
    for (size_t s = 0; s < 3; s++) {
        fill_normal(x, N, stds[s]);
        for (size_t k = 0; k < sizeof(want) / sizeof(want[0]); k++) {
            double r = rel_rms(want[k].t, x, y, q, N);
            if (r < want[k].lo || r > want[k].hi)
                fprintf(stderr, "type %d std %g: rel rms %g outside [%g, %g]\n", want[k].t,
                        stds[s], r, want[k].lo, want[k].hi);
            CHECK(r >= want[k].lo && r <= want[k].hi);
        }
    }
    /* Q6_K: per value within one step of the sub-block (steps are d*sc). Q4_K: within one
     * step of its sub-block plus the 6-bit min's rounding. Checked through the max error
     * relative to the block's range. */
    fill_normal(x, N, 1.0f);
    quantize_row(GGML_TYPE_Q6_K, x, q, N);
    quantize_dequantize_row(GGML_TYPE_Q6_K, q, y, N);
    int bad = 0;
    for (int sb = 0; sb < N / 16; sb++) {
        float amax = 0, emax = 0;
        for (int j = 0; j < 16; j++) {
            amax = fmaxf(amax, fabsf(x[sb * 16 + j]));
            emax = fmaxf(emax, fabsf(y[sb * 16 + j] - x[sb * 16 + j]));
        }
        if (emax > amax / 32 * 1.0f) bad++;    /* step ~ amax/32; error <= step/2 + clamp */
    }
    CHECK_EQ(bad, 0);
    quantize_row(GGML_TYPE_Q4_K, x, q, N);
    quantize_dequantize_row(GGML_TYPE_Q4_K, q, y, N);
    bad = 0;
    for (int sb = 0; sb < N / 32; sb++) {
        float lo = 0, hi = 0, emax = 0;
        for (int j = 0; j < 32; j++) {
            lo = fminf(lo, x[sb * 32 + j]);
            hi = fmaxf(hi, x[sb * 32 + j]);
            emax = fmaxf(emax, fabsf(y[sb * 32 + j] - x[sb * 32 + j]));
        }
        if (emax > (hi - lo) / 15 * 1.25f) bad++;
    }
    CHECK_EQ(bad, 0);

    /* all zero: zero out, no NaN */
    memset(x, 0, sizeof(x));
    enum ggml_type all[] = { GGML_TYPE_Q8_0, GGML_TYPE_Q4_0, GGML_TYPE_Q4_K, GGML_TYPE_Q6_K };
    for (int k = 0; k < 4; k++) {
        quantize_row(all[k], x, q, N);
        quantize_dequantize_row(all[k], q, y, N);
        int nz = 0;
        for (int i = 0; i < N; i++) nz += y[i] != 0;
        CHECK_EQ(nz, 0);
    }
    /* a constant positive row is representable by Q4_K's scale + min: tiny error */
    for (int i = 0; i < N; i++) x[i] = 0.75f;
    CHECK(rel_rms(GGML_TYPE_Q4_K, x, y, q, N) < 2e-3);
}

/* The AVX2 Q4_K / Q6_K searches must give the scalar reference's bytes exactly, on ordinary rows
 * and on the corner cases of their branches: flat sub-blocks, all-positive / all-negative
 * sub-blocks, zeros, values below ggml's all-zero threshold, huge dynamic range. */
static void test_simd_matches_scalar(void)
{
    static float x[N];
    static uint8_t a[N], b[N];
    int bad = 0;
    for (int round = 0; round < 40; round++) {
        fill_normal(x, N, round % 3 == 0 ? 1e-3f : round % 3 == 1 ? 1.0f : 50.0f);
        for (int sb = 0; sb < N / 32; sb++) {
            float *s = x + 32 * sb;
            switch ((sb + round) % 9) {
            case 0: for (int i = 0; i < 32; i++) s[i] = 0.5f; break;               /* flat > 0 */
            case 1: for (int i = 0; i < 32; i++) s[i] = -0.25f; break;             /* flat < 0 */
            case 2: for (int i = 0; i < 32; i++) s[i] = fabsf(s[i]) + 1.0f; break; /* all > 0 */
            case 3: for (int i = 0; i < 32; i++) s[i] = -fabsf(s[i]); break;       /* all <= 0 */
            case 4: memset(s, 0, 32 * sizeof(float)); break;
            case 5: s[7] *= 1e4f; break;                                         /* outlier */
            case 6: for (int i = 0; i < 32; i += 2) s[i] = 0; break;
            case 7: for (int i = 0; i < 16; i++) s[i] *= 1e-17f; break;         /* "zero" */
            default: break;
            }
        }
        enum ggml_type ts[2] = { GGML_TYPE_Q4_K, GGML_TYPE_Q6_K };
        for (int k = 0; k < 2; k++) {
            quantize_row(ts[k], x, a, N);
            quantize_row_ref(ts[k], x, b, N);
            if (memcmp(a, b, quantize_row_bytes(ts[k], N)) != 0 && bad++ < 4)
                fprintf(stderr, "round %d: %s differs\n", round, ggml_type_name(ts[k]));
        }
    }
    CHECK_EQ(bad, 0);
}

/* ------------------------------------------------------------------ llama-quantize files */

/* Dequantizes every tensor of type t in the file and re-encodes it; counts blocks whose bytes
 * come back identical, blocks that decode to identical values (Q6_K can flip the sign of a
 * sub-block's scale and of its quants together), and the largest value difference. */
static void requantize_file(const char *dir, const char *name, enum ggml_type t,
                            double min_same_frac, double max_rel_diff)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/testdata/models/%s", dir, name);
    struct gguf_file *f = NULL;
    struct err e = { 0 };
    int rc = gguf_open(&f, path, &e);
    CHECK_EQ(rc, 0);
    if (rc) {
        fprintf(stderr, "%s: %s\n", path, e.msg);
        return;
    }
    size_t be = (size_t)quantize_block_elems(t), bb = quantize_row_bytes(t, (int64_t)be);
    uint64_t blocks = 0, same = 0, same_val = 0, tensors = 0;
    double worst = 0;
    for (uint64_t i = 0; i < f->n_tensors; i++) {
        const struct gguf_tensor *gt = &f->tensors[i];
        if (gt->type != t) continue;
        tensors++;
        uint64_t n = gt->size_bytes / bb * be;
        float *x = malloc(n * sizeof(float)), *y = malloc(n * sizeof(float));
        uint8_t *q = malloc(gt->size_bytes);
        quantize_dequantize_row(t, gt->data, x, (int64_t)n);
        quantize_row(t, x, q, (int64_t)n);
        quantize_dequantize_row(t, q, y, (int64_t)n);
        double amax = 0, dmax = 0;
        for (uint64_t k = 0; k < n; k++) {
            amax = fmax(amax, fabs(x[k]));
            dmax = fmax(dmax, fabs((double)y[k] - x[k]));
        }
        worst = fmax(worst, dmax / amax);
        for (uint64_t b = 0; b < n / be; b++, blocks++) {
            same += memcmp((const uint8_t *)gt->data + b * bb, q + b * bb, bb) == 0;
            int eq = 1;                 /* by value: a flipped sign turns 0 into -0 */
            for (size_t k = 0; k < be; k++) eq &= x[b * be + k] == y[b * be + k];
            same_val += eq;
        }
        free(x);
        free(y);
        free(q);
    }
    double frac = blocks ? (double)same_val / blocks : 0;
    printf("%s: %llu %s tensors, %llu blocks: %llu byte-identical, %llu value-identical (%.4f),"
           " max diff %.3g of amax\n", name, (unsigned long long)tensors, ggml_type_name(t),
           (unsigned long long)blocks, (unsigned long long)same, (unsigned long long)same_val,
           frac, worst);
    if (min_same_frac == 1.0) CHECK_EQ(same, blocks);
    CHECK(tensors > 0);
    CHECK(frac >= min_same_frac);
    CHECK(worst <= max_rel_diff);
    gguf_close(f);
}

static void test_requantize_llama_quantize_files(void)
{
    const char *dir = test_shared_dir();
    if (!dir) {
        TEST_SKIP("no shared/testdata");
        return;
    }
    requantize_file(dir, "tiny-random-llama-d256-q8_0.gguf", GGML_TYPE_Q8_0, 1.0, 0);
    requantize_file(dir, "tiny-random-llama-d256-q4_0.gguf", GGML_TYPE_Q4_0, 1.0, 0);
    requantize_file(dir, "tiny-random-llama-d256-bf16.gguf", GGML_TYPE_BF16, 1.0, 0);
    requantize_file(dir, "stories260K-f16.gguf", GGML_TYPE_F16, 1.0, 0);
    requantize_file(dir, "tiny-random-llama-d256-q4_k_m.gguf", GGML_TYPE_Q4_K, 0.999, 0.05);
    requantize_file(dir, "tiny-random-llama-d256-q4_k_m.gguf", GGML_TYPE_Q6_K, 0.999, 0.01);
    requantize_file(dir, "tiny-random-llama-d256-q6_k.gguf", GGML_TYPE_Q6_K, 0.999, 0.01);
    requantize_file(dir, "tiny-random-llama-d256-q4_0.gguf", GGML_TYPE_Q6_K, 0.999, 0.01);
}

int main(void)
{
    TEST_RUN(test_fp16_matches_f16c);
    TEST_RUN(test_fp16_roundtrip_exhaustive);
    TEST_RUN(test_bf16);
    TEST_RUN(test_sizes);
    TEST_RUN(test_q8_0_q4_0_bounds);
    TEST_RUN(test_kquant_bounds);
    TEST_RUN(test_simd_matches_scalar);
    TEST_RUN(test_requantize_llama_quantize_files);
    TEST_MAIN_END();
}
