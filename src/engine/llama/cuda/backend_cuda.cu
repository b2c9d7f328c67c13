/* backend_cuda.cu -- the CUDA backend of the llama engine (backend.h): weights copied to the
 * device once in their file types and dequantized on the fly inside the products; every
 * activation buffer, the paged f16 KV cache and the pass inputs live on the device, sized at
 * init, so a pass allocates nothing; only the wanted logit rows come back to the host.
 *
 * Numerics mirror forward.c (the CPU reference) where that is cheap, so CPU and CUDA logits
 * stay close: activations are rounded into the weight type's activation type first (f16 for
 * F16, bf16 for BF16, Q8_0 blocks for Q8_0/Q4_0, Q8_K blocks for Q4_K/Q6_K, each held as
 * the f32 values the quantized form stands for), RMSNorm sums squares in double, RoPE uses the
 * cos/sin table the host computed exactly as the CPU does, Q is rounded to f16 before Q.K and
 * the softmax weights to f16 before the V sum. What differs is the summation order of the
 * dot products (warp reductions), i.e. rounding at the 1e-7 relative level per product.
 *
 * Kernels are deliberately simple (one warp per weight row, up to MM_TOK tokens per warp,
 * one thread block per (token, head) for attention); they are correct first and fast enough
 * for a first GPU worker, not tuned. */
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#ifdef LLMQ_CUDA_EMU
#include "engine/cuda_emu.h"   /* tests/engine: runs these kernels on the CPU (engine_test_cuda_emu) */
#else
#include <cuda_runtime.h>
/* kernel<<<grid, block, shared bytes, stream>>>(args), spelled so the CPU emulation can
 * take it too. */
#define LAUNCH(kernel, grid, block, shmem, stream, ...) kernel<<<grid, block, shmem, stream>>>(__VA_ARGS__)
#define DYNAMIC_SHARED(type, name) extern __shared__ type name[]
#endif

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/llama/cuda/backend.h"
#include "engine/llama/cuda/dequant.cuh"

#define MM_TOK 8           /* tokens one warp multiplies with a weight row */
#define MM_WARPS 8         /* weight rows per thread block */
#define ATT_THREADS 128
#define ATT_TILE 128       /* positions whose softmax weights are staged in shared memory */
#define ATT_MAX_DIMS 4     /* head_dim <= ATT_THREADS * ATT_MAX_DIMS */

/* ============================ kernels =============================================== */



__device__ __forceinline__ float warp_sum(float v)
{
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

/* y[t * y_stride + r] = W row r . x row t; grid (row blocks, token blocks of MM_TOK). */
template <int TY>
__global__ void k_matmul(const uint8_t *__restrict__ w, size_t row_bytes, int rows, int cols,
                         const float *__restrict__ x, int n_tok, float *__restrict__ y, int y_stride)
{
    int lane = threadIdx.x % 32, r = blockIdx.x * MM_WARPS + threadIdx.x / 32;
    int t0 = blockIdx.y * MM_TOK;
    if (r >= rows) return;
    int nt = n_tok - t0 < MM_TOK ? n_tok - t0 : MM_TOK;
    const uint8_t *row = w + (size_t)r * row_bytes;
    const float *xt = x + (size_t)t0 * cols;
    float acc[MM_TOK];
#pragma unroll
    for (int k = 0; k < MM_TOK; k++) acc[k] = 0.0f;
    for (int i = lane; i < cols; i += 32) {
        float wv = dq<TY>(row, i);
#pragma unroll
        for (int k = 0; k < MM_TOK; k++)
            if (k < nt) acc[k] = fmaf(wv, xt[(size_t)k * cols + i], acc[k]);
    }
#pragma unroll
    for (int k = 0; k < MM_TOK; k++) {
        float v = warp_sum(acc[k]);
        if (lane == 0 && k < nt) y[(size_t)(t0 + k) * y_stride + r] = v;
    }
}

/* x[t] = row tok[t] of the embedding matrix; grid n_tok. */
template <int TY>
__global__ void k_embed(const uint8_t *__restrict__ w, size_t row_bytes, int cols,
                        const int32_t *__restrict__ tok, float *__restrict__ x)
{
    const uint8_t *row = w + (size_t)tok[blockIdx.x] * row_bytes;
    for (int i = threadIdx.x; i < cols; i += blockDim.x) x[(size_t)blockIdx.x * cols + i] = dq<TY>(row, i);
}

/* Activation rounding kinds (what the CPU's quant_act does before a product). */
enum { ACT_NONE = 0, ACT_F16, ACT_BF16, ACT_Q8_0, ACT_Q8_K };

/* Rounds every value in place-equivalent form: out = the f32 value the rounded activation
 * stands for. F16/BF16: grid-stride over n values. */
__global__ void k_act_elem(const float *__restrict__ x, float *__restrict__ out, size_t n, int kind)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
        out[i] = kind == ACT_F16 ? round_f16(x[i]) : __bfloat162float(__float2bfloat16_rn(x[i]));
}

/* Q8_0: one warp per 32-value block (lane = value); quant.c act_q8_0. */
__global__ void k_act_q8_0(const float *__restrict__ x, float *__restrict__ out, int n_blocks)
{
    int blk = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32, lane = threadIdx.x % 32;
    if (blk >= n_blocks) return;
    float v = x[(size_t)blk * 32 + lane], amax = fabsf(v);
    for (int o = 16; o > 0; o >>= 1) amax = fmaxf(amax, __shfl_xor_sync(0xffffffffu, amax, o));
    out[(size_t)blk * 32 + lane] = act_q8_0_value(v, amax);
}

/* Q8_K: one warp per 256-value block (8 values per lane); quant.c act_q8_K, including its
 * choice of the first value of largest magnitude as the signed max. */
__global__ void k_act_q8_K(const float *__restrict__ x, float *__restrict__ out, int n_blocks)
{
    int blk = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32, lane = threadIdx.x % 32;
    if (blk >= n_blocks) return;
    const float *xb = x + (size_t)blk * 256;
    float amax = -1.0f;
    int idx = 0;
    for (int k = 0; k < 8; k++) {
        int j = lane + 32 * k;
        float a = fabsf(xb[j]);
        if (a > amax) { amax = a; idx = j; }
    }
    for (int o = 16; o > 0; o >>= 1) {
        float a2 = __shfl_xor_sync(0xffffffffu, amax, o);
        int i2 = __shfl_xor_sync(0xffffffffu, idx, o);
        if (a2 > amax || (a2 == amax && i2 < idx)) { amax = a2; idx = i2; }
    }
    float *ob = out + (size_t)blk * 256;
    if (amax == 0.0f) {
        for (int k = 0; k < 8; k++) ob[lane + 32 * k] = 0.0f;
        return;
    }
    float max = xb[idx];
    for (int k = 0; k < 8; k++) ob[lane + 32 * k] = act_q8_K_value(xb[lane + 32 * k], max);
}

/* o[r] = (x[rows ? rows[r] : r] * scale) * w; one block of 256 per row, squares summed in
 * double as forward.c does. */
__global__ void k_rmsnorm(float *__restrict__ o, const float *__restrict__ x, const float *__restrict__ w,
                          int n, float eps, const int *__restrict__ rows)
{
    __shared__ double part[256];
    const float *xr = x + (size_t)(rows ? rows[blockIdx.x] : (int)blockIdx.x) * n;
    double s = 0;
    for (int i = threadIdx.x; i < n; i += blockDim.x) s += (double)(xr[i] * xr[i]);
    part[threadIdx.x] = s;
    __syncthreads();
    for (int k = blockDim.x / 2; k > 0; k >>= 1) {
        if ((int)threadIdx.x < k) part[threadIdx.x] += part[threadIdx.x + k];
        __syncthreads();
    }
    float scale = 1.0f / sqrtf((float)(part[0] / n) + eps);
    float *orow = o + (size_t)blockIdx.x * n;
    for (int i = threadIdx.x; i < n; i += blockDim.x) orow[i] = (xr[i] * scale) * w[i];
}

__global__ void k_add_bias(float *x, const float *__restrict__ b, size_t total, int n)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < total; i += (size_t)gridDim.x * blockDim.x)
        x[i] += b[i % n];
}

__global__ void k_add(float *x, const float *__restrict__ y, size_t total)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < total; i += (size_t)gridDim.x * blockDim.x)
        x[i] += y[i];
}

__global__ void k_swiglu(float *g, const float *__restrict__ u, size_t total)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < total; i += (size_t)gridDim.x * blockDim.x) {
        float v = g[i];
        g[i] = v / (1.0f + expf(-v)) * u[i];
    }
}

/* RoPE on n_heads heads of every token (row stride = n_heads * hd); one thread per pair. */
__global__ void k_rope(float *x, int n_tok, int n_heads, int hd, int nd, int neox,
                       const float *__restrict__ cs)
{
    int pairs = nd / 2;
    size_t total = (size_t)n_tok * n_heads * pairs;
    for (size_t idx = blockIdx.x * (size_t)blockDim.x + threadIdx.x; idx < total; idx += (size_t)gridDim.x * blockDim.x) {
        int p = (int)(idx % pairs);
        size_t th = idx / pairs;
        int t = (int)(th / n_heads);
        float *v = x + th * hd;
        float c = cs[(size_t)t * nd + 2 * p], s = cs[(size_t)t * nd + 2 * p + 1];
        int i0 = neox ? p : 2 * p, i1 = neox ? p + nd / 2 : 2 * p + 1;
        float x0 = v[i0], x1 = v[i1];
        v[i0] = x0 * c - x1 * s;
        v[i1] = x0 * s + x1 * c;
    }
}

/* Address of K (kv = 0) or V (kv = 1) of layer at position pos, in kv.h's page layout. */
__device__ __forceinline__ __half *kv_at(__half *pool, size_t page_elems, int kv_dim, const int *pg,
                                         int layer, int kv, int pos, int page)
{
    return pool + (size_t)pg[pos / page] * page_elems + ((size_t)(2 * layer + kv) * page + pos % page) * kv_dim;
}

__global__ void k_kv_store(const float *__restrict__ k, const float *__restrict__ v, __half *pool,
                           size_t page_elems, int kv_dim, int page, int layer, int n_tok,
                           const int *__restrict__ pos, const int *__restrict__ page_off,
                           const int *__restrict__ pages)
{
    size_t total = (size_t)n_tok * kv_dim;
    for (size_t idx = blockIdx.x * (size_t)blockDim.x + threadIdx.x; idx < total; idx += (size_t)gridDim.x * blockDim.x) {
        int t = (int)(idx / kv_dim), i = (int)(idx % kv_dim);
        const int *pg = pages + page_off[t];
        kv_at(pool, page_elems, kv_dim, pg, layer, 0, pos[t], page)[i] = __float2half_rn(k[idx]);
        kv_at(pool, page_elems, kv_dim, pg, layer, 1, pos[t], page)[i] = __float2half_rn(v[idx]);
    }
}

__device__ float block_max(float v, float *red)
{
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    if (threadIdx.x % 32 == 0) red[threadIdx.x / 32] = v;
    __syncthreads();
    float m = red[0];
    for (int w = 1; w < (int)blockDim.x / 32; w++) m = fmaxf(m, red[w]);
    __syncthreads();
    return m;
}

__device__ double block_sum_d(double v, double *red)
{
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    if (threadIdx.x % 32 == 0) red[threadIdx.x / 32] = v;
    __syncthreads();
    double s = 0;
    for (int w = 0; w < (int)blockDim.x / 32; w++) s += red[w];
    __syncthreads();
    return s;
}

/* Causal attention of token t, head h over positions 0..pos[t] of its sequence; one block
 * of ATT_THREADS per (t, h). Three sweeps over the keys (max, sum, weighted V) so no score
 * buffer of ctx_len is needed; dynamic shared memory: head_dim + ATT_TILE floats. */
__global__ void k_attention(const float *__restrict__ q, float *__restrict__ att, const __half *pool,
                            size_t page_elems, int kv_dim, int page, int layer, int n_head, int gqa,
                            int hd, float scale, const int *__restrict__ pos,
                            const int *__restrict__ page_off, const int *__restrict__ pages)
{
    DYNAMIC_SHARED(float, sh);
    float *qf = sh, *wt = sh + hd;
    __shared__ float redf[ATT_THREADS / 32];
    __shared__ double redd[ATT_THREADS / 32];
    int t = blockIdx.x / n_head, h = blockIdx.x % n_head, g = h / gqa, p = pos[t];
    int E = n_head * hd;
    const int *pg = pages + page_off[t];
    __half *pl = (__half *)pool;
    for (int i = threadIdx.x; i < hd; i += blockDim.x) qf[i] = round_f16(q[(size_t)t * E + (size_t)h * hd + i]);
    __syncthreads();
#define SCORE(j, out)                                                                  \
    do {                                                                               \
        const __half *kr = kv_at(pl, page_elems, kv_dim, pg, layer, 0, (j), page) + g * hd; \
        float s_ = 0;                                                                  \
        for (int i_ = 0; i_ < hd; i_++) s_ = fmaf(__half2float(kr[i_]), qf[i_], s_);   \
        (out) = s_ * scale;                                                            \
    } while (0)
    float mx = -INFINITY;
    for (int j = threadIdx.x; j <= p; j += blockDim.x) {
        float s;
        SCORE(j, s);
        mx = fmaxf(mx, s);
    }
    mx = block_max(mx, redf);
    double sum = 0;
    for (int j = threadIdx.x; j <= p; j += blockDim.x) {
        float s;
        SCORE(j, s);
        sum += (double)expf(s - mx);
    }
    sum = block_sum_d(sum, redd);
    float inv = (float)(1.0 / sum);
    float acc[ATT_MAX_DIMS];
    for (int k = 0; k < ATT_MAX_DIMS; k++) acc[k] = 0.0f;
    for (int j0 = 0; j0 <= p; j0 += ATT_TILE) {
        int n = p + 1 - j0 < ATT_TILE ? p + 1 - j0 : ATT_TILE;
        for (int jj = threadIdx.x; jj < n; jj += blockDim.x) {
            float s;
            SCORE(j0 + jj, s);
            wt[jj] = round_f16(expf(s - mx) * inv);
        }
        __syncthreads();
        for (int jj = 0; jj < n; jj++) {
            const __half *vr = kv_at(pl, page_elems, kv_dim, pg, layer, 1, j0 + jj, page) + g * hd;
            float a = wt[jj];
#pragma unroll
            for (int k = 0; k < ATT_MAX_DIMS; k++) {
                int d = threadIdx.x + k * ATT_THREADS;
                if (d < hd) acc[k] = fmaf(a, __half2float(vr[d]), acc[k]);
            }
        }
        __syncthreads();
    }
#undef SCORE
    for (int k = 0; k < ATT_MAX_DIMS; k++) {
        int d = threadIdx.x + k * ATT_THREADS;
        if (d < hd) att[(size_t)t * E + (size_t)h * hd + d] = acc[k];
    }
}

/* ============================ host side ============================================= */

struct dmat {
    int type, rows, cols;
    size_t row_bytes;
    uint8_t *d;                 /* device copy; owned unless shared (tied output) */
    int owned;
};

struct dlayer {
    float *attn_norm, *ffn_norm, *bq, *bk, *bv;
    struct dmat wq, wk, wv, wo, w_gate, w_up, w_down;
};

struct cuda_state {
    struct backend_model hp;     /* copy of the scalars (pointers in it are not used) */
    struct backend_ctx_desc d;
    int device;                  /* CUDA device id (LLMQ_CUDA_DEVICE, default 0) */
    cudaStream_t stream;
    struct dmat tok_embd, output;
    float *out_norm;
    struct dlayer *layers;
    __half *kv;                  /* kv_pages x page_elems */
    size_t page_elems;
    /* pass buffers (T = batch_tokens rows) */
    float *x, *xb, *q, *k, *v, *att, *hb, *hb2, *xr, *logits, *rope_cs;
    int *tok, *pos, *page_off, *pages, *out_tok;
    const float *xr_src;         /* input whose rounded form xr holds, or NULL */
    int xr_kind;
};

static int cu_fail(cudaError_t ce, const char *what, char *why, size_t n)
{
    if (why && n) snprintf(why, n, "CUDA: %s: %s", what, cudaGetErrorString(ce));
    return ce == cudaErrorMemoryAllocation ? -ENOMEM : -EIO;
}

static int cuda_probe(char *why, size_t n)
{
    int count = 0;
    cudaError_t ce = cudaGetDeviceCount(&count);
    if (ce != cudaSuccess) {
        snprintf(why, n, "CUDA: no usable device: %s", cudaGetErrorString(ce));
        return -ENODEV;
    }
    if (count < 1) {
        snprintf(why, n, "CUDA: no device found");
        return -ENODEV;
    }
    return 0;
}

static int type_ok(int t)
{
    return t == BACKEND_TYPE_F32 || t == BACKEND_TYPE_F16 || t == BACKEND_TYPE_BF16 || t == BACKEND_TYPE_Q8_0 ||
           t == BACKEND_TYPE_Q4_0 || t == BACKEND_TYPE_Q4_K || t == BACKEND_TYPE_Q6_K;
}

static int up_mat(struct dmat *o, const struct backend_matrix *m, char *why, size_t n)
{
    o->type = m->type;
    o->rows = m->rows;
    o->cols = m->cols;
    o->row_bytes = m->row_bytes;
    o->owned = 1;
    if (!type_ok(m->type)) {
        snprintf(why, n, "CUDA: weight type %d has no kernel", m->type);
        return -EINVAL;
    }
    size_t bytes = m->row_bytes * (size_t)m->rows;
    cudaError_t ce = cudaMalloc((void **)&o->d, bytes);
    if (ce != cudaSuccess) return cu_fail(ce, "weights", why, n);
    ce = cudaMemcpy(o->d, m->data, bytes, cudaMemcpyHostToDevice);
    if (ce != cudaSuccess) return cu_fail(ce, "weight upload", why, n);
    return 0;
}

static int up_vec(float **o, const float *v, int count, char *why, size_t n)
{
    *o = NULL;
    if (!v) return 0;
    cudaError_t ce = cudaMalloc((void **)o, (size_t)count * sizeof(float));
    if (ce == cudaSuccess) ce = cudaMemcpy(*o, v, (size_t)count * sizeof(float), cudaMemcpyHostToDevice);
    return ce == cudaSuccess ? 0 : cu_fail(ce, "vector upload", why, n);
}

static void free_mat(struct dmat *m)
{
    if (m->owned) cudaFree(m->d);
    m->d = NULL;
}

static void cuda_free(void *state)
{
    struct cuda_state *s = (struct cuda_state *)state;
    if (!s) return;
    cudaSetDevice(s->device);
    if (s->layers) {
        for (int l = 0; l < s->hp.n_layer; l++) {
            struct dlayer *L = &s->layers[l];
            float *vs[] = { L->attn_norm, L->ffn_norm, L->bq, L->bk, L->bv };
            for (int i = 0; i < 5; i++) cudaFree(vs[i]);
            struct dmat *ms[] = { &L->wq, &L->wk, &L->wv, &L->wo, &L->w_gate, &L->w_up, &L->w_down };
            for (int i = 0; i < 7; i++) free_mat(ms[i]);
        }
        free(s->layers);
    }
    free_mat(&s->tok_embd);
    free_mat(&s->output);
    void *bufs[] = { s->out_norm, s->kv, s->x, s->xb, s->q, s->k, s->v, s->att, s->hb, s->hb2, s->xr,
                     s->logits, s->rope_cs, s->tok, s->pos, s->page_off, s->pages, s->out_tok };
    for (size_t i = 0; i < sizeof(bufs) / sizeof(bufs[0]); i++) cudaFree(bufs[i]);
    if (s->stream) cudaStreamDestroy(s->stream);
    free(s);
}

static int cuda_init(void **out, const struct backend_model *m, const struct backend_ctx_desc *d,
                     char *why, size_t n)
{
    int rc = cuda_probe(why, n);
    if (rc < 0) return rc;
    if (m->head_dim > ATT_THREADS * ATT_MAX_DIMS) {
        snprintf(why, n, "CUDA: head dim %d > %d", m->head_dim, ATT_THREADS * ATT_MAX_DIMS);
        return -EINVAL;
    }
    struct cuda_state *s = (struct cuda_state *)calloc(1, sizeof(*s));
    if (!s) return -ENOMEM;
    s->hp = *m;
    s->hp.layers = NULL;
    s->d = *d;
    const char *dev = getenv("LLMQ_CUDA_DEVICE");
    s->device = dev ? atoi(dev) : 0;
    cudaError_t ce = cudaSetDevice(s->device);
    if (ce == cudaSuccess) ce = cudaStreamCreateWithFlags(&s->stream, cudaStreamNonBlocking);
    if (ce != cudaSuccess) {
        rc = cu_fail(ce, "device setup", why, n);
        goto fail;
    }
    if ((rc = up_mat(&s->tok_embd, &m->tok_embd, why, n)) < 0) goto fail;
    if (m->output.data == m->tok_embd.data) {
        s->output = s->tok_embd;
        s->output.owned = 0;
    } else if ((rc = up_mat(&s->output, &m->output, why, n)) < 0) {
        goto fail;
    }
    if ((rc = up_vec(&s->out_norm, m->out_norm, m->n_embd, why, n)) < 0) goto fail;
    s->layers = (struct dlayer *)calloc((size_t)m->n_layer, sizeof(*s->layers));
    if (!s->layers) {
        rc = -ENOMEM;
        goto fail;
    }
    {
        int E = m->n_embd, KV = m->n_head_kv * m->head_dim;
        for (int l = 0; l < m->n_layer; l++) {
            const struct backend_layer *S = &m->layers[l];
            struct dlayer *L = &s->layers[l];
            if ((rc = up_vec(&L->attn_norm, S->attn_norm, E, why, n)) < 0 ||
                (rc = up_vec(&L->ffn_norm, S->ffn_norm, E, why, n)) < 0 ||
                (rc = up_vec(&L->bq, S->bq, E, why, n)) < 0 || (rc = up_vec(&L->bk, S->bk, KV, why, n)) < 0 ||
                (rc = up_vec(&L->bv, S->bv, KV, why, n)) < 0 || (rc = up_mat(&L->wq, &S->wq, why, n)) < 0 ||
                (rc = up_mat(&L->wk, &S->wk, why, n)) < 0 || (rc = up_mat(&L->wv, &S->wv, why, n)) < 0 ||
                (rc = up_mat(&L->wo, &S->wo, why, n)) < 0 || (rc = up_mat(&L->w_gate, &S->w_gate, why, n)) < 0 ||
                (rc = up_mat(&L->w_up, &S->w_up, why, n)) < 0 || (rc = up_mat(&L->w_down, &S->w_down, why, n)) < 0)
                goto fail;
        }
        size_t T = (size_t)d->batch_tokens, F = (size_t)m->n_ff, V = (size_t)m->n_vocab;
        size_t W = F > (size_t)E ? F : (size_t)E;
        s->page_elems = (size_t)m->n_layer * 2 * (size_t)d->kv_page * (size_t)KV;
        size_t max_pages = (size_t)(d->max_seqs < d->batch_tokens ? d->max_seqs : d->batch_tokens) *
                           (size_t)((d->ctx_len + d->kv_page - 1) / d->kv_page);
        struct { void **p; size_t bytes; } al[] = {
            { (void **)&s->kv, (size_t)d->kv_pages * s->page_elems * sizeof(__half) },
            { (void **)&s->x, T * E * 4 }, { (void **)&s->xb, T * E * 4 }, { (void **)&s->q, T * E * 4 },
            { (void **)&s->k, T * KV * 4 }, { (void **)&s->v, T * KV * 4 }, { (void **)&s->att, T * E * 4 },
            { (void **)&s->hb, T * F * 4 }, { (void **)&s->hb2, T * F * 4 }, { (void **)&s->xr, T * W * 4 },
            { (void **)&s->logits, T * V * 4 }, { (void **)&s->rope_cs, T * (size_t)m->rope_dim * 4 },
            { (void **)&s->tok, T * 4 }, { (void **)&s->pos, T * 4 }, { (void **)&s->page_off, T * 4 },
            { (void **)&s->pages, (max_pages ? max_pages : 1) * 4 }, { (void **)&s->out_tok, T * 4 },
        };
        for (size_t i = 0; i < sizeof(al) / sizeof(al[0]); i++) {
            ce = cudaMalloc(al[i].p, al[i].bytes ? al[i].bytes : 4);
            if (ce != cudaSuccess) {
                rc = cu_fail(ce, i == 0 ? "KV cache" : "pass buffers", why, n);
                goto fail;
            }
        }
    }
    *out = s;
    return 0;
fail:
    cuda_free(s);
    return rc;
}

static unsigned grid_for(size_t total, int threads)
{
    size_t g = (total + threads - 1) / threads;
    return (unsigned)(g < 65535 ? (g ? g : 1) : 65535);
}

static int act_kind(const struct cuda_state *s, int type)
{
    if (type != BACKEND_TYPE_F16 && s->hp.f32_act) return ACT_NONE;
    switch (type) {
    case BACKEND_TYPE_F16: return s->hp.f16_act ? ACT_F16 : ACT_NONE;
    case BACKEND_TYPE_BF16: return ACT_BF16;
    case BACKEND_TYPE_Q8_0: case BACKEND_TYPE_Q4_0: return ACT_Q8_0;
    case BACKEND_TYPE_Q4_K: case BACKEND_TYPE_Q6_K: return ACT_Q8_K;
    default: return ACT_NONE;
    }
}

/* y = x W^T for n rows of x, with x rounded as the CPU rounds it (cached in xr while the
 * same input feeds several products). */
static void mm(struct cuda_state *s, const struct dmat *w, const float *x, int n, float *y, int y_stride)
{
    int kind = act_kind(s, w->type);
    const float *xa = x;
    if (kind != ACT_NONE) {
        if (s->xr_src != x || s->xr_kind != kind) {
            size_t total = (size_t)n * w->cols;
            if (kind == ACT_F16 || kind == ACT_BF16) {
                LAUNCH(k_act_elem, grid_for(total, 256), 256, 0, s->stream, x, s->xr, total, kind);
            } else if (kind == ACT_Q8_0) {
                int nb = (int)(total / 32);
                LAUNCH(k_act_q8_0, (nb + 7) / 8, 256, 0, s->stream, x, s->xr, nb);
            } else {
                int nb = (int)(total / 256);
                LAUNCH(k_act_q8_K, (nb + 7) / 8, 256, 0, s->stream, x, s->xr, nb);
            }
            s->xr_src = x;
            s->xr_kind = kind;
        }
        xa = s->xr;
    }
    dim3 grid((unsigned)((w->rows + MM_WARPS - 1) / MM_WARPS), (unsigned)((n + MM_TOK - 1) / MM_TOK));
    dim3 block(32 * MM_WARPS);
#define MM_CASE(TY)                                                                                   \
    case TY: LAUNCH(k_matmul<TY>, grid, block, 0, s->stream, w->d, w->row_bytes, w->rows, w->cols, xa, n, y, y_stride); break
    switch (w->type) {
        MM_CASE(BACKEND_TYPE_F32);
        MM_CASE(BACKEND_TYPE_F16);
        MM_CASE(BACKEND_TYPE_BF16);
        MM_CASE(BACKEND_TYPE_Q8_0);
        MM_CASE(BACKEND_TYPE_Q4_0);
        MM_CASE(BACKEND_TYPE_Q4_K);
        MM_CASE(BACKEND_TYPE_Q6_K);
    }
#undef MM_CASE
}

/* A buffer's contents changed: its rounded cache is stale. */
static void touched(struct cuda_state *s, const float *x)
{
    if (s->xr_src == x) s->xr_src = NULL;
}

static int cuda_forward(void *state, const struct backend_pass *p, float *logits, char *why, size_t why_len)
{
    struct cuda_state *s = (struct cuda_state *)state;
    const struct backend_model *hp = &s->hp;
    int T = p->n_tok, E = hp->n_embd, F = hp->n_ff, KV = hp->n_head_kv * hp->head_dim;
    int H = hp->n_head, V = hp->n_vocab;
    cudaStream_t st = s->stream;
    if (T < 1 || T > s->d.batch_tokens) return -EINVAL;
    /* The current device is per host thread, and the driving thread may not be the one
     * that created the context. */
    cudaError_t ce = cudaSetDevice(s->device);
    if (ce != cudaSuccess) return cu_fail(ce, "device", why, why_len);
    cudaMemcpyAsync(s->tok, p->tok, (size_t)T * 4, cudaMemcpyHostToDevice, st);
    cudaMemcpyAsync(s->pos, p->pos, (size_t)T * 4, cudaMemcpyHostToDevice, st);
    cudaMemcpyAsync(s->page_off, p->page_off, (size_t)T * 4, cudaMemcpyHostToDevice, st);
    cudaMemcpyAsync(s->pages, p->pages, (size_t)p->n_pages * 4, cudaMemcpyHostToDevice, st);
    cudaMemcpyAsync(s->rope_cs, p->rope_cs, (size_t)T * hp->rope_dim * 4, cudaMemcpyHostToDevice, st);
    if (p->n_out) cudaMemcpyAsync(s->out_tok, p->out_tok, (size_t)p->n_out * 4, cudaMemcpyHostToDevice, st);
    s->xr_src = NULL;
#define EMB_CASE(TY) case TY: LAUNCH(k_embed<TY>, T, 256, 0, st, s->tok_embd.d, s->tok_embd.row_bytes, E, s->tok, s->x); break
    switch (s->tok_embd.type) {
        EMB_CASE(BACKEND_TYPE_F32);
        EMB_CASE(BACKEND_TYPE_F16);
        EMB_CASE(BACKEND_TYPE_BF16);
        EMB_CASE(BACKEND_TYPE_Q8_0);
        EMB_CASE(BACKEND_TYPE_Q4_0);
        EMB_CASE(BACKEND_TYPE_Q4_K);
        EMB_CASE(BACKEND_TYPE_Q6_K);
    }
#undef EMB_CASE
    size_t TE = (size_t)T * E, TF = (size_t)T * F, TKV = (size_t)T * KV;
    size_t att_shared = (size_t)(hp->head_dim + ATT_TILE) * sizeof(float);
    float scale = 1.0f / sqrtf((float)hp->head_dim);
    for (int l = 0; l < hp->n_layer; l++) {
        const struct dlayer *L = &s->layers[l];
        LAUNCH(k_rmsnorm, T, 256, 0, st, s->xb, s->x, L->attn_norm, E, hp->rms_eps, NULL);
        touched(s, s->xb);
        mm(s, &L->wq, s->xb, T, s->q, E);
        mm(s, &L->wk, s->xb, T, s->k, KV);
        mm(s, &L->wv, s->xb, T, s->v, KV);
        if (L->bq) LAUNCH(k_add_bias, grid_for(TE, 256), 256, 0, st, s->q, L->bq, TE, E);
        if (L->bk) LAUNCH(k_add_bias, grid_for(TKV, 256), 256, 0, st, s->k, L->bk, TKV, KV);
        if (L->bv) LAUNCH(k_add_bias, grid_for(TKV, 256), 256, 0, st, s->v, L->bv, TKV, KV);
        size_t pairs = (size_t)T * H * (hp->rope_dim / 2);
        LAUNCH(k_rope, grid_for(pairs, 256), 256, 0, st, s->q, T, H, hp->head_dim, hp->rope_dim, hp->rope_neox, s->rope_cs);
        pairs = (size_t)T * hp->n_head_kv * (hp->rope_dim / 2);
        LAUNCH(k_rope, grid_for(pairs, 256), 256, 0, st, s->k, T, hp->n_head_kv, hp->head_dim, hp->rope_dim, hp->rope_neox,
                                                   s->rope_cs);
        LAUNCH(k_kv_store, grid_for(TKV, 256), 256, 0, st, s->k, s->v, s->kv, s->page_elems, KV, s->d.kv_page, l, T,
                                                       s->pos, s->page_off, s->pages);
        LAUNCH(k_attention, T * H, ATT_THREADS, att_shared, st, s->q, s->att, s->kv, s->page_elems, KV, s->d.kv_page, l, H,
                                                            H / hp->n_head_kv, hp->head_dim, scale, s->pos,
                                                            s->page_off, s->pages);
        touched(s, s->att);
        mm(s, &L->wo, s->att, T, s->xb, E);
        LAUNCH(k_add, grid_for(TE, 256), 256, 0, st, s->x, s->xb, TE);
        LAUNCH(k_rmsnorm, T, 256, 0, st, s->xb, s->x, L->ffn_norm, E, hp->rms_eps, NULL);
        touched(s, s->xb);
        mm(s, &L->w_gate, s->xb, T, s->hb, F);
        mm(s, &L->w_up, s->xb, T, s->hb2, F);
        LAUNCH(k_swiglu, grid_for(TF, 256), 256, 0, st, s->hb, s->hb2, TF);
        touched(s, s->hb);
        mm(s, &L->w_down, s->hb, T, s->xb, E);
        touched(s, s->xb);
        LAUNCH(k_add, grid_for(TE, 256), 256, 0, st, s->x, s->xb, TE);
    }
    if (p->n_out) {
        LAUNCH(k_rmsnorm, p->n_out, 256, 0, st, s->xb, s->x, s->out_norm, E, hp->rms_eps, s->out_tok);
        touched(s, s->xb);
        mm(s, &s->output, s->xb, p->n_out, s->logits, V);
        cudaMemcpyAsync(logits, s->logits, (size_t)p->n_out * V * sizeof(float), cudaMemcpyDeviceToHost, st);
    }
    ce = cudaStreamSynchronize(st);
    if (ce == cudaSuccess) ce = cudaGetLastError();
    if (ce != cudaSuccess) {
        snprintf(why, why_len, "CUDA: forward pass: %s", cudaGetErrorString(ce));
        return ce == cudaErrorMemoryAllocation ? -ENOMEM : -EIO;
    }
    return 0;
}

static const struct backend_i cuda_backend = {
    "cuda", cuda_probe, cuda_init, cuda_free, cuda_forward,
};

extern "C" const struct backend_i *backend_cuda(void) { return &cuda_backend; }
