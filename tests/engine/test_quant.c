/* test_quant.c -- block formats and kernels: every SIMD dot product against its scalar
 * reference on random blocks (tolerance 1e-5 relative to the sum of |products|: the
 * integer parts are exact, only float summation order differs), every scalar quantized dot
 * against a double-precision dot of the dequantized rows (1e-4 relative: checks the
 * integer formulas against the dequantization formulas), fp16/bf16 conversion exactness,
 * and activation rounding (Q8_0 / Q8_K) error bounds. */
#include "test.h"

#include <stdint.h>

#include "engine/llama/quant.h"

static uint64_t rng = 88172645463325252ull;
static uint32_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 16);
}
static float frand(void) { return (float)((rnd() & 0xffffff) / 16777216.0 * 2 - 1); }

/* Random bytes, then sane fp16 scales at the known offsets. */
static void random_row(enum ggml_type t, void *row, int n)
{
    size_t bytes = quant_row_bytes(t, n);
    uint8_t *b = row;
    for (size_t i = 0; i < bytes; i++) b[i] = (uint8_t)rnd();
    switch (t) {
    case GGML_TYPE_F32: for (int i = 0; i < n; i++) ((float *)row)[i] = frand(); break;
    case GGML_TYPE_F16: for (int i = 0; i < n; i++) ((uint16_t *)row)[i] = quant_fp32_to_fp16(frand()); break;
    case GGML_TYPE_BF16: for (int i = 0; i < n; i++) ((uint16_t *)row)[i] = quant_fp32_to_bf16(frand()); break;
    case GGML_TYPE_Q8_0: {
        struct block_q8_0 *x = row;
        for (int i = 0; i < n / 32; i++) {
            x[i].d = quant_fp32_to_fp16(0.01f + 0.01f * (rnd() % 100) / 100.0f);
            for (int j = 0; j < 32; j++) if (x[i].qs[j] == -128) x[i].qs[j] = -127;
        }
        break;
    }
    case GGML_TYPE_Q4_0: {
        struct block_q4_0 *x = row;
        for (int i = 0; i < n / 32; i++) x[i].d = quant_fp32_to_fp16(0.01f * (1 + rnd() % 100) / 100.0f);
        break;
    }
    case GGML_TYPE_Q4_K: {
        struct block_q4_K *x = row;
        for (int i = 0; i < n / 256; i++) {
            x[i].d = quant_fp32_to_fp16(0.001f * (1 + rnd() % 100) / 100.0f);
            x[i].dmin = quant_fp32_to_fp16(0.001f * (1 + rnd() % 100) / 100.0f);
        }
        break;
    }
    case GGML_TYPE_Q6_K: {
        struct block_q6_K *x = row;
        for (int i = 0; i < n / 256; i++) x[i].d = quant_fp32_to_fp16(0.001f * (1 + rnd() % 100) / 100.0f);
        break;
    }
    default: break;
    }
}

static void dequant_act(enum ggml_type t, const void *a, float *out, int n)
{
    if (t == GGML_TYPE_Q8_K) {
        const struct block_q8_K *y = a;
        for (int i = 0; i < n / 256; i++)
            for (int j = 0; j < 256; j++) out[i * 256 + j] = y[i].d * y[i].qs[j];
        return;
    }
    quant_dequant_row(t, a, out, n);
}

static void test_dot_kernels(void)
{
    enum ggml_type types[] = { GGML_TYPE_F32, GGML_TYPE_F16, GGML_TYPE_BF16, GGML_TYPE_Q8_0,
                               GGML_TYPE_Q4_0, GGML_TYPE_Q4_K, GGML_TYPE_Q6_K };
    static uint8_t w[4096 * 4], a[4096 * 4 + 1024];
    static float wf[4096], af[4096], x[4096];
    int sizes[] = { 256, 768, 2048, 4096 };
    printf("simd kernels: %s\n", quant_simd() == 2 ? "avx-512" : quant_simd() ? "avx2" : "scalar only");
    for (size_t ti = 0; ti < sizeof(types) / sizeof(types[0]); ti++) {
        const struct quant_traits *qt = quant_traits(types[ti]);
        CHECK(qt != NULL);
        if (!qt) continue;
        double worst_simd = 0, worst_ref = 0;
        for (int rep = 0; rep < 50; rep++) {
            int n = rep % 5 == 4 && qt->block_elems == 1 ? 172 : sizes[rep % 4];  /* 172: the ggml-order path */
            random_row(types[ti], w, n);
            for (int i = 0; i < n; i++) x[i] = frand() * (rep % 3 == 0 ? 10.0f : 1.0f);
            quant_act(qt->act_type, x, a, n);
            float got = qt->dot(n, w, a), ref = qt->dot_ref(n, w, a);
            qt->dequant(w, wf, n);
            dequant_act(qt->act_type, a, af, n);
            double exact = 0, mag = 0;
            for (int i = 0; i < n; i++) {
                exact += (double)wf[i] * af[i];
                mag += fabs((double)wf[i] * af[i]);
            }
            double e1 = fabs(got - ref) / (mag + 1e-30), e2 = fabs(ref - exact) / (mag + 1e-30);
            if (e1 > worst_simd) worst_simd = e1;
            if (e2 > worst_ref) worst_ref = e2;
        }
        printf("%-5s  simd-vs-ref %.2e  ref-vs-dequant %.2e\n", ggml_type_name(types[ti]), worst_simd, worst_ref);
        CHECK(worst_simd < 1e-5);
        CHECK(worst_ref < 1e-4);
    }
}

static void test_fp16(void)
{
    /* Every half round-trips through float exactly (NaNs stay NaN). */
    int bad = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        float f = quant_fp16_to_fp32((uint16_t)h);
        if (isnan(f)) { bad += !isnan(quant_fp16_to_fp32(quant_fp32_to_fp16(f))); continue; }
        bad += quant_fp32_to_fp16(f) != h;
    }
    CHECK_EQ(bad, 0);
    CHECK_EQ(quant_fp32_to_fp16(1.0f), 0x3c00);
    CHECK_EQ(quant_fp32_to_fp16(65520.0f), 0x7c00);          /* rounds to inf */
    CHECK_EQ(quant_fp32_to_fp16(65519.0f), 0x7bff);
    CHECK_EQ(quant_fp32_to_fp16(1.0f + 1.0f / 2048), 0x3c00); /* tie -> even */
    CHECK_EQ(quant_fp32_to_fp16(1.0f + 3.0f / 2048), 0x3c02);
    CHECK_EQ(quant_fp32_to_fp16(5.96e-8f), 0x0001);           /* smallest subnormal */
    CHECK_EQ(quant_fp32_to_fp16(2.9e-8f), 0x0000);
    /* The row converter (F16C when present) agrees with the scalar one. */
    static float xs[4096];
    static uint16_t hs[4096];
    for (int i = 0; i < 4096; i++) {
        union { uint32_t u; float f; } v = { .u = rnd() ^ (rnd() << 16) };
        xs[i] = isnan(v.f) ? 0 : v.f * 1e-30f * (float)(1 << (i % 24)) * 1e30f;
        if (isnan(xs[i])) xs[i] = 1;
    }
    quant_fp32_to_fp16_row(xs, hs, 4096);
    bad = 0;
    for (int i = 0; i < 4096; i++) bad += hs[i] != quant_fp32_to_fp16(xs[i]);
    CHECK_EQ(bad, 0);
    CHECK_EQ(quant_fp32_to_bf16(1.0f), 0x3f80);
    CHECK_EQ(quant_fp32_to_bf16(1.0f + 1.0f / 256), 0x3f80);  /* tie -> even */
    CHECK_EQ(quant_fp32_to_bf16(1.0f + 3.0f / 256), 0x3f82);
}

static void test_act_rounding(void)
{
    static float x[512], y[512];
    static uint8_t buf[4096];
    for (int i = 0; i < 512; i++) x[i] = frand() * 3;
    quant_act(GGML_TYPE_Q8_0, x, buf, 512);
    quant_dequant_row(GGML_TYPE_Q8_0, buf, y, 512);
    for (int b = 0; b < 16; b++) {
        float amax = 0, err = 0;
        for (int j = 0; j < 32; j++) {
            amax = fmaxf(amax, fabsf(x[b * 32 + j]));
            err = fmaxf(err, fabsf(x[b * 32 + j] - y[b * 32 + j]));
        }
        CHECK(err <= amax / 127 * 0.57f);   /* 0.5 step + fp16 rounding of d (127 * 2^-11) */
    }
    quant_act(GGML_TYPE_Q8_K, x, buf, 512);
    const struct block_q8_K *k = (const void *)buf;
    for (int b = 0; b < 2; b++) {
        float amax = 0, err = 0;
        int bs = 0;
        for (int j = 0; j < 256; j++) {
            amax = fmaxf(amax, fabsf(x[b * 256 + j]));
            err = fmaxf(err, fabsf(x[b * 256 + j] - k[b].d * k[b].qs[j]));
        }
        for (int j = 0; j < 16; j++) bs += k[b].bsums[j];
        int s = 0;
        for (int j = 0; j < 256; j++) s += k[b].qs[j];
        CHECK_EQ(bs, s);
        CHECK(err <= amax / 127 * 0.51f);
    }
    /* All-zero block: scale 0, no NaN. */
    memset(x, 0, sizeof(x));
    quant_act(GGML_TYPE_Q8_K, x, buf, 256);
    CHECK(k[0].d == 0);
    quant_act(GGML_TYPE_Q8_0, x, buf, 32);
    quant_dequant_row(GGML_TYPE_Q8_0, buf, y, 32);
    CHECK(y[0] == 0 && !isnan(y[5]));
}

static void test_dequant_known(void)
{
    /* Q4_0: d = 0.5, nibble pattern low=1 high=15 -> (1-8)*0.5, (15-8)*0.5. */
    struct block_q4_0 b = { .d = quant_fp32_to_fp16(0.5f) };
    memset(b.qs, 0xF1, sizeof(b.qs));
    float y[32];
    quant_dequant_row(GGML_TYPE_Q4_0, &b, y, 32);
    CHECK_NEAR(y[0], -3.5, 0);
    CHECK_NEAR(y[15], -3.5, 0);
    CHECK_NEAR(y[16], 3.5, 0);
    /* Q4_K: scale index 0 = 1, min 0 = 2; d = 1, dmin = 0.25: value = q - 0.5. */
    struct block_q4_K k;
    memset(&k, 0, sizeof(k));
    k.d = quant_fp32_to_fp16(1.0f);
    k.dmin = quant_fp32_to_fp16(0.25f);
    k.scales[0] = 1;
    k.scales[4] = 2;
    k.qs[0] = 0x37;
    static float yk[256];
    quant_dequant_row(GGML_TYPE_Q4_K, &k, yk, 256);
    CHECK_NEAR(yk[0], 6.5, 0);
    CHECK_NEAR(yk[1], -0.5, 0);
    CHECK_NEAR(yk[32], 0, 0);      /* sub-block 1: scale 0, min 0 */
    /* Q6_K: ql=0x21, qh=0 -> q1 = 1-32, q3 = 2-32; scales 1..; d = 1. */
    struct block_q6_K s6;
    memset(&s6, 0, sizeof(s6));
    s6.d = quant_fp32_to_fp16(1.0f);
    for (int i = 0; i < 16; i++) s6.scales[i] = (int8_t)(i + 1);
    s6.ql[0] = 0x21;
    s6.qh[0] = 0x04;               /* bits 2-3 = 1 -> q2 high part 16 */
    quant_dequant_row(GGML_TYPE_Q6_K, &s6, yk, 256);
    CHECK_NEAR(yk[0], (1 - 32) * 1, 0);
    CHECK_NEAR(yk[64], (2 - 32) * 5, 0);
    CHECK_NEAR(yk[32], (16 - 32) * 3, 0);
}

/* The multi-token kernels give bit-identical results to the single-token ones (this is
 * what makes batched decode produce the same tokens as single decode). */
static void test_dotn_equals_dot(void)
{
    enum ggml_type types[] = { GGML_TYPE_F32, GGML_TYPE_F16, GGML_TYPE_BF16, GGML_TYPE_Q8_0,
                               GGML_TYPE_Q4_0, GGML_TYPE_Q4_K, GGML_TYPE_Q6_K };
    static uint8_t w[4096 * 4], a[20][4096 * 4 + 1024];
    static float x[4096], out[20];
    int n = 768;
    for (size_t ti = 0; ti < sizeof(types) / sizeof(types[0]); ti++) {
        const struct quant_traits *qt = quant_traits(types[ti]);
        if (!qt->dotn) continue;
        random_row(types[ti], w, n);
        size_t rb = quant_row_bytes(qt->act_type, n);
        for (int k = 0; k < 20; k++) {
            for (int i = 0; i < n; i++) x[i] = frand();
            quant_act(qt->act_type, x, a[0] + (size_t)k * rb, n);   /* rows packed back to back */
        }
        int bad = 0;
        for (int nt = 1; nt <= 20; nt++) {   /* every remainder of the 4/8/16-token passes */
            qt->dotn(n, w, a[0], rb, nt, out);
            for (int k = 0; k < nt; k++) {
                float one = qt->dot(n, w, a[0] + (size_t)k * rb);
                bad += memcmp(&one, &out[k], sizeof(float)) != 0;
            }
        }
        CHECK_EQ(bad, 0);
    }
}

/* The register-tile kernel (float weights, AVX-512) gives dot's result bit for bit, for every
 * tile edge (1-4 rows x 1-4 tokens) and with the columns split into chunks (the partial sums
 * carried through acc between calls), as matmul's tile path uses it. */
static void test_tile_equals_dot(void)
{
    enum ggml_type types[] = { GGML_TYPE_F32, GGML_TYPE_F16, GGML_TYPE_BF16 };
    static uint8_t w[4][2048 * 4];
    static uint8_t a[4][2048 * 4];
    static float x[2048], acc[4 * 4 * 16], y[4 * 4];
    const int n = 2048;
    int checked = 0, bad = 0;
    for (size_t ti = 0; ti < sizeof(types) / sizeof(types[0]); ti++) {
        const struct quant_traits *qt = quant_traits(types[ti]);
        if (!qt->tile) continue;
        for (int r = 0; r < 4; r++) random_row(types[ti], w[r], n);
        for (int t = 0; t < 4; t++) {
            for (int i = 0; i < n; i++) x[i] = frand() * 2;
            quant_act(qt->act_type, x, a[t], n);
        }
        int chunks[] = { n, 512, 256 + 64 };           /* one pass; even and uneven chunks */
        for (int ci = 0; ci < 3; ci++)
            for (int nr = 1; nr <= 4; nr++)
                for (int nt = 1; nt <= 4; nt++) {
                    memset(y, 0xff, sizeof(y));
                    for (int c0 = 0; c0 < n; c0 += chunks[ci]) {
                        int c1 = c0 + chunks[ci] < n ? c0 + chunks[ci] : n;
                        qt->tile(c0, c1, c0 == 0, w[0], sizeof(w[0]), nr, a[0], sizeof(a[0]), nt, acc,
                                 4 * 16, c1 == n ? y : NULL, 4, w[0], nr);
                    }
                    for (int r = 0; r < nr; r++)
                        for (int t = 0; t < nt; t++) {
                            float one = qt->dot(n, w[r], a[t]);
                            bad += memcmp(&one, &y[t * 4 + r], sizeof(float)) != 0;
                            checked++;
                        }
                }
    }
    if (!checked) printf("SKIP tile kernels: this CPU has no AVX-512 (matmul uses dotn)\n");
    CHECK_EQ(bad, 0);
}

/* The attention Q.K row form equals the single-row call bit for bit, for head sizes with and
 * without a tail past the last 64-value step. */
static void test_attention_rows(void)
{
    int sizes[] = { 64, 128, 80, 96, 40 };
    static uint16_t k[16 * 160];
    static float q[160], out[16];
    int bad = 0;
    for (int si = 0; si < 5; si++) {
        int n = sizes[si];
        size_t stride = (size_t)n + 32;             /* rows apart, as in a KV page */
        for (size_t i = 0; i < 16 * stride && i < sizeof(k) / sizeof(k[0]); i++)
            k[i] = quant_fp32_to_fp16(frand() * 2);
        for (int i = 0; i < n; i++) q[i] = quant_round_fp16(frand());
        for (int cnt = 1; cnt <= 16; cnt += 5) {
            if ((size_t)(cnt - 1) * stride + (size_t)n > sizeof(k) / sizeof(k[0])) continue;
            quant_dot_f16_f32_rows(n, k, stride, cnt, q, out);
            for (int i = 0; i < cnt; i++) {
                float one = quant_dot_f16_f32(n, k + (size_t)i * stride, q);
                bad += memcmp(&one, &out[i], sizeof(float)) != 0;
            }
        }
    }
    CHECK_EQ(bad, 0);
}

/* The V sum over pages equals position-by-position axpy into zeroed partial sums j % 16,
 * bit for bit, for counts below, at and across page boundaries. */
static void test_vsum(void)
{
    int sizes[] = { 64, 128, 80, 48, 40 }, counts[] = { 1, 5, 16, 17, 40, 100 };
    static uint16_t pool[7][16 * 136];
    static float a[112], p1[16 * 128], p2[16 * 128];
    const uint16_t *pages[7];
    int bad = 0;
    for (int si = 0; si < 5; si++) {
        int n = sizes[si];
        size_t rs = 136;                                  /* row stride, as kv_dim */
        for (int pg = 0; pg < 7; pg++) {
            for (size_t i = 0; i < 16 * rs; i++) pool[pg][i] = quant_fp32_to_fp16(frand() * 2);
            pages[6 - pg] = pool[pg];                     /* pages need not be in address order */
        }
        for (int ci = 0; ci < 6; ci++) {
            int count = counts[ci], lanes = count < 16 ? count : 16;
            for (int j = 0; j < count; j++) a[j] = quant_round_fp16(frand());
            quant_vsum_f16(n, a, count, pages, rs, p1);
            memset(p2, 0, sizeof(p2));
            for (int j = 0; j < count; j++)
                quant_axpy_f16(n, a[j], pages[j / 16] + (size_t)(j % 16) * rs, p2 + (size_t)(j % 16) * n);
            bad += memcmp(p1, p2, (size_t)lanes * (size_t)n * sizeof(float)) != 0;
        }
    }
    CHECK_EQ(bad, 0);
}

/* Every SIMD tier gives the AVX2 result bit for bit (odd block counts included). */
static void test_tiers_equal(void)
{
    enum ggml_type types[] = { GGML_TYPE_F32, GGML_TYPE_F16, GGML_TYPE_BF16, GGML_TYPE_Q8_0,
                               GGML_TYPE_Q4_0, GGML_TYPE_Q4_K, GGML_TYPE_Q6_K };
    static uint8_t w[4096 * 4], a[4096 * 4 + 1024];
    static float x[4096];
    int sizes[] = { 256, 768, 2048, 32 * 7, 172 };
    float out[4];
    int tiers = 0, bad = 0;
    for (size_t ti = 0; ti < sizeof(types) / sizeof(types[0]); ti++) {
        const struct quant_traits *qt = quant_traits(types[ti]);
        for (int si = 0; si < 5; si++) {
            int n = sizes[si];
            if (n % qt->block_elems) continue;
            for (int rep = 0; rep < 10; rep++) {
                random_row(types[ti], w, n);
                for (int i = 0; i < n; i++) x[i] = frand() * 4;
                quant_act(qt->act_type, x, a, n);
                tiers = quant_dot_tiers(types[ti], n, w, a, out);
                for (int k = 2; k < tiers; k++) bad += memcmp(&out[1], &out[k], sizeof(float)) != 0;
            }
        }
    }
    printf("SIMD tiers compared here: up to %d (scalar, AVX2, AVX-512, VNNI)\n", tiers);
    CHECK_EQ(bad, 0);
}

int main(void)
{
    TEST_RUN(test_tiers_equal);
    TEST_RUN(test_dotn_equals_dot);
    TEST_RUN(test_tile_equals_dot);
    TEST_RUN(test_attention_rows);
    TEST_RUN(test_vsum);
    TEST_RUN(test_fp16);
    TEST_RUN(test_dequant_known);
    TEST_RUN(test_act_rounding);
    TEST_RUN(test_dot_kernels);
    TEST_MAIN_END();
}
