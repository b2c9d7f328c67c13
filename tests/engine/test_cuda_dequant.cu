/* test_cuda_dequant.cu -- the CUDA backend's per-element dequantization and activation
 * rounding (src/engine/llama/cuda/dequant.cuh) against quant.c, run on the HOST: it needs
 * nvcc to build (LLMQ_CUDA=ON) but no GPU, so the index arithmetic of every block format is
 * checked wherever the CUDA backend compiles. Random blocks with finite scales. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/llama/cuda/dequant.cuh"

extern "C" {
void quant_dequant_row(int t, const void *row, float *out, int n);
void quant_act(int act, const float *x, void *out, int n);
size_t quant_row_bytes(int t, int n);
}

static int failures, checks;
static uint64_t rng = 88172645463325252ull;
static uint32_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 16);
}
static float rndf(void) { return ((float)(rnd() % 20001) - 10000.f) / 5000.f; }

static void put_f16(uint8_t *p, float v)
{
    unsigned short h = __half_as_ushort(__float2half_rn(v));
    p[0] = (uint8_t)h;
    p[1] = (uint8_t)(h >> 8);
}

template <int TY> static void check_type(const char *name, int block_elems, size_t block_bytes)
{
    enum { N = 512 };
    uint8_t row[4096];
    float want[N];
    for (int rep = 0; rep < 20; rep++) {
        size_t bytes = (size_t)(N / block_elems) * block_bytes;
        for (size_t i = 0; i < bytes; i++) row[i] = (uint8_t)rnd();
        for (int b = 0; b < N / block_elems; b++) {      /* finite scales */
            uint8_t *blk = row + b * block_bytes;
            if (TY == BACKEND_TYPE_Q8_0 || TY == BACKEND_TYPE_Q4_0) put_f16(blk, rndf() * 0.01f);
            if (TY == BACKEND_TYPE_Q4_K) { put_f16(blk, rndf() * 0.01f); put_f16(blk + 2, rndf() * 0.01f); }
            if (TY == BACKEND_TYPE_Q6_K) put_f16(blk + 208, rndf() * 0.01f);
        }
        if (TY == BACKEND_TYPE_F32)
            for (int i = 0; i < N; i++) { float v = rndf(); memcpy(row + 4 * i, &v, 4); }
        if (TY == BACKEND_TYPE_F16)
            for (int i = 0; i < N; i++) put_f16(row + 2 * i, rndf());
        if (TY == BACKEND_TYPE_BF16)
            for (int i = 0; i < N; i++) row[2 * i + 1] = (uint8_t)(0x3c + rnd() % 8);   /* finite exponent */
        quant_dequant_row(TY, row, want, N);
        for (int i = 0; i < N; i++) {
            float got = dq<TY>(row, i);
            checks++;
            if (!(got == want[i])) {
                if (failures++ < 10) fprintf(stderr, "%s: element %d: %.9g, quant.c %.9g\n", name, i, got, want[i]);
            }
        }
    }
}

static void check_act(void)
{
    enum { N = 512 };
    float x[N], got[N];
    static uint8_t buf[4096];
    for (int rep = 0; rep < 50; rep++) {
        for (int i = 0; i < N; i++) x[i] = rndf() * (rep % 5 ? 1.0f : 1e-3f);
        if (rep == 7) for (int i = 0; i < 32; i++) x[i] = 0;         /* an all-zero Q8_0 block */
        /* Q8_0: quant.c's blocks, dequantized, vs act_q8_0_value with the block's amax. */
        quant_act(BACKEND_TYPE_Q8_0, x, buf, N);
        float want[N];
        quant_dequant_row(BACKEND_TYPE_Q8_0, buf, want, N);
        for (int b = 0; b < N / 32; b++) {
            float amax = 0;
            for (int j = 0; j < 32; j++) amax = fmaxf(amax, fabsf(x[b * 32 + j]));
            for (int j = 0; j < 32; j++) got[b * 32 + j] = act_q8_0_value(x[b * 32 + j], amax);
        }
        for (int i = 0; i < N; i++) {
            checks++;
            if (!(got[i] == want[i]) && failures++ < 10)
                fprintf(stderr, "act q8_0 %d: %.9g, quant.c %.9g\n", i, got[i], want[i]);
        }
        /* Q8_K (block: float d, int8 qs[256], int16 bsums[16]) vs act_q8_K_value. */
        quant_act(15 /* GGML_TYPE_Q8_K */, x, buf, N);
        for (int b = 0; b < N / 256; b++) {
            const uint8_t *blk = buf + b * 292;
            float d;
            memcpy(&d, blk, 4);
            float amax = 0, max = 0;
            for (int j = 0; j < 256; j++)
                if (fabsf(x[b * 256 + j]) > amax) { amax = fabsf(x[b * 256 + j]); max = x[b * 256 + j]; }
            for (int j = 0; j < 256; j++) {
                float w = (float)(int8_t)blk[4 + j] * d, g = act_q8_K_value(x[b * 256 + j], max);
                checks++;
                if (!(g == w) && failures++ < 10) fprintf(stderr, "act q8_K %d: %.9g, quant.c %.9g\n", j, g, w);
            }
        }
    }
}

int main(void)
{
    check_type<BACKEND_TYPE_F32>("f32", 1, 4);
    check_type<BACKEND_TYPE_F16>("f16", 1, 2);
    check_type<BACKEND_TYPE_BF16>("bf16", 1, 2);
    check_type<BACKEND_TYPE_Q8_0>("q8_0", 32, 34);
    check_type<BACKEND_TYPE_Q4_0>("q4_0", 32, 18);
    check_type<BACKEND_TYPE_Q4_K>("q4_K", 256, 144);
    check_type<BACKEND_TYPE_Q6_K>("q6_K", 256, 210);
    check_act();
    printf("%d checks, %d failed\n%d passed, %d failed\n", checks, failures, failures ? 0 : 1, failures ? 1 : 0);
    return failures ? 1 : 0;
}
