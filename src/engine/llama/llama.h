/* llama.h -- the native engine's public API: load a GGUF Llama-family model, create a batch
 * context (thread pool, paged KV cache, activation buffers sized for max_batch), run prompt
 * and decode steps for many sequences at once, and sample tokens.
 * This is what the engine ops (llama_engine.c), the CLI (cli.c), the tests and the
 * benchmarks use. It does no tokenization (tokenizer.h) and no scheduling (the worker).
 * Threading: a model is read-only and may be shared by several contexts; one context is
 * driven by one thread at a time (it owns its pool of compute threads). */
#ifndef LLMQ_LLAMA_H
#define LLMQ_LLAMA_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

struct gguf_file;
struct llama_model;      /* weights (mmapped) + hyperparameters; read-only after load */
struct llama_ctx;        /* compute context: threads, KV pool, buffers for max_batch */
struct llama_seq;        /* one sequence's KV pages and position inside a context */

enum llama_arch { LLAMA_ARCH_LLAMA = 0, LLAMA_ARCH_QWEN2 = 1 };

struct llama_hparams {
    enum llama_arch arch;
    int n_vocab;
    int n_embd;          /* model width */
    int n_layer;
    int n_head, n_head_kv;
    int head_dim;        /* n_embd / n_head */
    int n_ff;            /* feed-forward hidden width */
    int n_ctx_train;     /* <arch>.context_length */
    int rope_dim;        /* rotated dimensions per head (<= head_dim) */
    int rope_neox;       /* 1: rotate i with i + rope_dim/2 (qwen2); 0: adjacent pairs (llama) */
    float rope_freq_base;
    float rope_freq_scale; /* 1 / linear scaling factor (1 = none) */
    float rms_eps;
    int tied_output;     /* 1 when output.weight is absent and token_embd is the head */
};

/* ---- model ------------------------------------------------------------------------- */

/* Maps and validates path: architecture (llama, qwen2; anything else LLMQ_EUNSUPPORTED
 * "unsupported architecture"), hyperparameters, every tensor's presence, type (F32, F16,
 * BF16, Q8_0, Q4_0, Q4_K, Q6_K) and shape. e says exactly what is wrong.
 * For CPU compute the weights are then copied out of the mapping into memory backed by 2 MB
 * huge pages (faster to stream; gguf_copy_data in gguf.h says why and what it costs);
 * env LLMQ_WEIGHTS=auto (default), copy or mmap decides (docs/ENGINE.md). */
int llama_model_load(struct llama_model **out, const char *path, struct err *e);
/* Where the weights are read from: "huge pages", "copy" (huge pages refused), "mmap". */
const char *llama_model_weights_where(const struct llama_model *m);
/* Same over an already opened file. Takes ownership of f (closed by llama_model_free, and
 * also on failure). */
int llama_model_from_gguf(struct llama_model **out, struct gguf_file *f, struct err *e);
void llama_model_free(struct llama_model *m);                 /* NULL is a no-op */
const struct llama_hparams *llama_model_hparams(const struct llama_model *m);
/* The underlying file (for the tokenizer and chat template); lives as long as m. */
const struct gguf_file *llama_model_gguf(const struct llama_model *m);
/* Name of the dominant matrix type, e.g. "q4_K" (for logs and reports). */
const char *llama_model_type_name(const struct llama_model *m);
/* Bytes of weights read for one token (all matrices incl. output head). */
size_t llama_model_weight_bytes(const struct llama_model *m);

/* ---- context ----------------------------------------------------------------------- */

/* Where a context computes. The CPU code is always built and is the reference; CUDA exists
 * in builds with -DLLMQ_CUDA=ON (docs/ENGINE-CUDA.md). */
enum llama_device {
    LLAMA_DEVICE_DEFAULT = 0,  /* env LLMQ_DEVICE=cpu|cuda, else the CPU */
    LLAMA_DEVICE_CPU = 1,
    LLAMA_DEVICE_CUDA = 2,
};

/* 0 when contexts on device d can be created in this process; otherwise
 * LLMQ_EUNSUPPORTED (this build has no such backend) or -ENODEV (no usable device), with e
 * saying why. LLAMA_DEVICE_DEFAULT probes what the environment picks. */
int llama_device_probe(enum llama_device d, struct err *e);
/* The device d stands for: LLAMA_DEVICE_DEFAULT becomes what env LLMQ_DEVICE names (the CPU
 * when unset); -EINVAL, with *out the CPU, for a value other than cpu or cuda. */
int llama_device_resolve(enum llama_device d, enum llama_device *out, struct err *e);

struct llama_ctx_params {
    int max_batch;       /* most sequences alive at once (>= 1) */
    int ctx_len;         /* most positions per sequence; 0 = the model's n_ctx_train */
    int threads;         /* compute threads incl. the caller; 0 = online CPUs */
    int batch_tokens;    /* most tokens in one forward pass (prompt chunking); 0 = 256 */
    int kv_positions;    /* KV pool size in positions; 0 = max_batch * ctx_len */
    enum llama_device device; /* 0 = LLAMA_DEVICE_DEFAULT (env LLMQ_DEVICE, else CPU) */
};

/* Creates a context. Every buffer a forward pass needs is allocated here, so llama_eval
 * never allocates. On CUDA the weights are copied to the device here (once per context).
 * Errors: -EINVAL (bad params, bad LLMQ_DEVICE), -ENOMEM (KV pool / buffers),
 * LLMQ_EUNSUPPORTED / -ENODEV (device asked for but not built / not present). */
int llama_ctx_new(struct llama_ctx **out, const struct llama_model *m,
                  const struct llama_ctx_params *p, struct err *e);
void llama_ctx_free(struct llama_ctx *c);                     /* NULL is a no-op */
int llama_ctx_len(const struct llama_ctx *c);                 /* effective ctx_len */
int llama_ctx_threads(const struct llama_ctx *c);
const char *llama_ctx_device(const struct llama_ctx *c);      /* "cpu" or "cuda" */
const struct llama_model *llama_ctx_model(const struct llama_ctx *c);

/* A new empty sequence (position 0). -EBUSY when max_batch sequences exist already.
 * KV pages are taken from the pool as the sequence grows and returned by llama_seq_free. */
int llama_seq_new(struct llama_ctx *c, struct llama_seq **out);
void llama_seq_free(struct llama_ctx *c, struct llama_seq *s); /* NULL is a no-op */
int llama_seq_pos(const struct llama_seq *s);                  /* tokens in its KV cache */
/* Forgets positions >= pos (pos <= current), returning whole pages to the pool. */
void llama_seq_truncate(struct llama_ctx *c, struct llama_seq *s, int pos);

/* One entry of a forward pass: append n_tokens to seq's cache and compute logits. */
struct llama_batch_item {
    struct llama_seq *seq;
    const int32_t *tokens;     /* borrowed for the call */
    int n_tokens;              /* >= 1 */
    float *logits;             /* out, caller's: n_vocab floats for the last token, or
                                * n_tokens * n_vocab with all_logits; NULL = none wanted */
    int all_logits;
};

/* Runs the items together: every matrix product reads each weight row once for all the
 * tokens of the pass (prompts are split into passes of at most batch_tokens tokens).
 * Each seq may appear at most once. Errors: -EINVAL (bad token id, duplicate seq, n_items
 * out of range), LLMQ_ETOOLARGE (a sequence would exceed ctx_len), -ENOMEM (KV pool empty);
 * on error no sequence has advanced. On a device, -EIO when the device fails mid-pass
 * (the sequences' caches are then undefined: free them). */
int llama_eval(struct llama_ctx *c, const struct llama_batch_item *items, int n_items);

/* Convenience wrappers over llama_eval. logits: n_vocab floats (n_seqs rows for decode). */
int llama_prefill(struct llama_ctx *c, struct llama_seq *s, const int32_t *tokens, int n,
                  float *logits);
int llama_decode(struct llama_ctx *c, struct llama_seq *const *seqs, const int32_t *tokens,
                 int n_seqs, float *logits);

/* ---- sampler ----------------------------------------------------------------------- */

struct llama_sampler_params {
    float temperature;         /* <= 0: greedy (ties -> lowest id) */
    int top_k;                 /* 0 = off */
    float top_p;               /* 1 = off */
    float min_p;               /* 0 = off */
    float repetition_penalty;  /* 1 = off (llama.cpp style: divide positive, multiply negative) */
    float presence_penalty;    /* 0 = off */
    float frequency_penalty;   /* 0 = off */
    int penalty_last_n;        /* tokens the penalties look back on; 0 = 64, -1 = all */
    uint64_t seed;             /* same seed + same logits sequence -> same tokens */
};

struct llama_sampler;
/* Defaults: greedy, everything off. */
void llama_sampler_params_default(struct llama_sampler_params *p);
/* n_vocab sized scratch is allocated here; sampling never allocates. -ENOMEM. */
int llama_sampler_new(struct llama_sampler **out, const struct llama_sampler_params *p, int n_vocab);
void llama_sampler_free(struct llama_sampler *s);             /* NULL is a no-op */
/* Records a token for the penalties (prompt tokens too, if they should count). */
void llama_sampler_accept(struct llama_sampler *s, int32_t id);
/* Picks a token from logits (n_vocab floats; not modified) and accepts it. */
int32_t llama_sampler_sample(struct llama_sampler *s, const float *logits);

/* Index of the largest value, lowest index on ties. */
int32_t llama_argmax(const float *logits, int n);

#endif
