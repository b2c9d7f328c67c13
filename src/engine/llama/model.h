/* model.h -- a loaded model: hyperparameters from the GGUF metadata and a validated view of
 * every weight (mmapped, read-only; norms and biases copied to f32). The internal
 * counterpart of llama.h's struct llama_model; forward.c reads it directly.
 * Does not tokenize and holds no per-request state. */
#ifndef LLMQ_LLAMA_MODEL_H
#define LLMQ_LLAMA_MODEL_H

#include "engine/llama/gguf.h"
#include "engine/llama/llama.h"
#include "engine/llama/matmul.h"

struct llama_layer {
    float *attn_norm;          /* owned, n_embd */
    float *ffn_norm;           /* owned, n_embd */
    float *bq, *bk, *bv;       /* owned biases (qwen2) or NULL: n_embd, kv_dim, kv_dim */
    struct mm_weight wq;       /* n_embd x n_embd */
    struct mm_weight wk, wv;   /* kv_dim x n_embd */
    struct mm_weight wo;       /* n_embd x n_embd */
    struct mm_weight w_gate, w_up; /* n_ff x n_embd */
    struct mm_weight w_down;   /* n_embd x n_ff */
};

struct llama_model {
    struct gguf_file *f;       /* owned; every weight points into its mapping */
    struct llama_hparams hp;
    struct mm_weight tok_embd; /* n_vocab x n_embd (rows looked up by token id) */
    struct mm_weight output;   /* n_vocab x n_embd; == tok_embd when tied */
    float *out_norm;           /* owned, n_embd */
    float *rope_freqs;         /* owned, rope_dim / 2 frequency divisors (Llama 3.1+ "llama3"
                                * RoPE scaling: rope_freqs.weight), or NULL */
    struct llama_layer *layers;/* owned, n_layer */
    enum ggml_type main_type;  /* most common matrix type, for reports */
    size_t weight_bytes;       /* matrix bytes read per token (excl. the embedding lookup) */
};

#endif
