/* backend.h -- the table of functions behind which the llama engine runs a forward pass on
 * another device (ggml's ggml_backend_i, cut down to what forward.c needs). The CPU code in
 * forward.c is always built and is the reference; a backend receives a plain description
 * of the model (pointers into the mmapped file, copied to the device once at init) and of
 * each pass (tokens, positions, RoPE angles computed on the host, KV page tables), and
 * returns the logits of the requested rows in host memory for the CPU sampler.
 * The KV page bookkeeping (which page belongs to which sequence) stays in kv.c on the host;
 * the backend owns only the page *contents* (same layout as kv.h: [layer][K|V][pos][kv_dim]
 * f16 per page of KV_PAGE positions).
 * Plain C with no engine headers so the .cu files compile without the C-only ones. */
#ifndef LLMQ_LLAMA_CUDA_BACKEND_H
#define LLMQ_LLAMA_CUDA_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ggml type ids the backends compute with (same values as enum ggml_type). */
enum {
    BACKEND_TYPE_F32 = 0, BACKEND_TYPE_F16 = 1, BACKEND_TYPE_Q4_0 = 2, BACKEND_TYPE_Q8_0 = 8,
    BACKEND_TYPE_Q4_K = 12, BACKEND_TYPE_Q6_K = 14, BACKEND_TYPE_BF16 = 30
};

/* A weight matrix of rows x cols in its file type (borrowed: the model's mapping). */
struct backend_matrix {
    int type;
    int rows, cols;
    const void *data;
    size_t row_bytes;
};

struct backend_layer {
    const float *attn_norm, *ffn_norm;   /* n_embd */
    const float *bq, *bk, *bv;           /* biases or NULL */
    struct backend_matrix wq, wk, wv, wo, w_gate, w_up, w_down;
};

/* Everything borrowed for the duration of init (the backend copies what it keeps). */
struct backend_model {
    int n_vocab, n_embd, n_layer, n_head, n_head_kv, head_dim, n_ff, rope_dim, rope_neox;
    float rms_eps;
    int f16_act;                          /* 1: round activations of F16 products to f16 */
    int f32_act;                          /* 1: quantized and BF16 products keep f32 activations
                                           * (LLMQ_F32_ACT=1 on the CPU side) */
    struct backend_matrix tok_embd, output;
    const float *out_norm;
    const struct backend_layer *layers;   /* n_layer */
};

struct backend_ctx_desc {
    int batch_tokens;                     /* most tokens per pass */
    int max_seqs;                         /* most distinct sequences per pass */
    int ctx_len;                          /* most positions per sequence */
    int kv_pages;                         /* pages in the device KV pool */
    int kv_page;                          /* positions per page (KV_PAGE) */
};

/* One forward pass (all arrays borrowed for the call). */
struct backend_pass {
    int n_tok;
    const int32_t *tok;                   /* n_tok token ids */
    const int *pos;                       /* n_tok positions */
    const float *rope_cs;                 /* n_tok x rope_dim: cos, sin per pair */
    const int *page_off;                  /* n_tok: start of the token's page table in pages */
    const int *pages;                     /* n_pages page ids (page tables of the pass' seqs) */
    int n_pages;
    int n_out;
    const int *out_tok;                   /* n_out token indices whose logits are wanted */
};

struct backend_i {
    const char *name;
    /* 0 when a device is usable; otherwise < 0 with the reason in why. */
    int (*probe)(char *why, size_t why_len);
    /* Uploads the weights and allocates the KV pool and pass buffers. 0, or < 0 (-ENOMEM,
     * -ENODEV, ...) with the reason in why. */
    int (*init)(void **state, const struct backend_model *m, const struct backend_ctx_desc *d,
                char *why, size_t why_len);
    void (*free)(void *state);            /* NULL is a no-op */
    /* Runs the pass and writes n_out x n_vocab floats to logits. 0, or < 0 (device error)
     * with the reason in why. */
    int (*forward)(void *state, const struct backend_pass *p, float *logits, char *why,
                   size_t why_len);
};

/* The CUDA backend (only in builds with LLMQ_CUDA; see forward.c). */
const struct backend_i *backend_cuda(void);

#ifdef __cplusplus
}
#endif

#endif
