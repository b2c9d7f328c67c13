/* forward.h -- the batched forward pass behind llama_ctx_new / llama_eval (llama.h):
 * embedding lookup, per layer RMSNorm -> Q/K/V (+bias) -> RoPE -> f16 KV cache -> GQA
 * attention -> output projection -> residual -> RMSNorm -> SwiGLU FFN -> residual, then the
 * final norm and the output head for the tokens whose logits are wanted.
 * All tokens of a pass (prompt chunks and single decode tokens of many sequences) go
 * through each matrix product together. Every buffer is sized in llama_ctx_new for
 * batch_tokens tokens, so a pass allocates nothing. */
#ifndef LLMQ_LLAMA_FORWARD_H
#define LLMQ_LLAMA_FORWARD_H

#include "engine/llama/cuda/backend.h"
#include "engine/llama/kv.h"
#include "engine/llama/llama.h"
#include "engine/llama/matmul.h"
#include "engine/llama/model.h"
#include "engine/llama/threadpool.h"

struct llama_seq {
    struct kv_seq kv;          /* page table; kv.len = tokens in the cache */
    int in_use;
};

struct llama_ctx {
    const struct llama_model *m;   /* borrowed; outlives the context */
    struct threadpool *tp;         /* owned */
    struct kv_pool kv;             /* owned */
    int max_batch, ctx_len, batch_tokens;
    struct llama_seq *seqs;        /* owned, max_batch slots */
    /* Pass buffers, T = batch_tokens rows each. */
    float *x;                      /* T x n_embd   residual stream */
    float *xb;                     /* T x n_embd   normed input / sub-layer output */
    float *q;                      /* T x n_embd */
    float *k, *v;                  /* T x kv_dim */
    float *att;                    /* T x n_embd   attention output (before wo) */
    float *hb, *hb2;               /* T x n_ff     gate, up */
    float *logits;                 /* T x n_vocab  rows of the output tokens */
    float *rope_cs;                /* T x rope_dim cos, sin interleaved per pair */
    float *att_scratch;            /* threads x (ctx_len + 17 x head_dim): scores, q, V lanes */
    const uint16_t **att_pages;    /* threads x (ctx_len / KV_PAGE + 1): a sequence's V pages */
    struct mm_act act_x, act_att, act_ff;
    /* The current pass. */
    int n_tok;
    int32_t *tok;                  /* T token ids */
    int *pos;                      /* T positions */
    struct llama_seq **tseq;       /* T owning sequences */
    int n_out;
    int *out_tok;                  /* T: token index of each output row */
    float **out_dst;               /* T: where each output row is copied */
    int *item_base;                /* max_batch: each item's position before the call */
    int layer;                     /* layer the attention job works on */
    /* A device backend (cuda/backend.h), or NULL for the CPU. The pool above then keeps
     * only the page bookkeeping; the page contents live on the device. */
    const struct backend_i *be;
    void *be_state;                /* owned (be->free) */
    int *pass_page_off;            /* owned, T: each token's page table in pass_pages */
    int *pass_pages;               /* owned, max_batch x pages per sequence */
};

#endif
