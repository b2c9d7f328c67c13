/* engine.h -- the one interface between a worker and whatever produces tokens.
 * Engines: "synthetic" (deterministic text on a timing model, no model file), "llama" (the
 * native GGUF engine, src/engine/llama/) and "upstream" (an OpenAI-compatible server). The
 * worker owns scheduling (continuous batching, stop strings, deadlines, cancellation); an
 * engine only turns a batch of sequences into one token per sequence per step.
 * Links neither libuv nor hiredis: usable from tests and CLIs with no server around it.
 * Not thread-safe: one thread drives one engine. */
#ifndef LLMQ_ENGINE_H
#define LLMQ_ENGINE_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

struct engine;        /* opaque; one per worker */
struct engine_seq;    /* opaque; one running request inside an engine. Every engine's
                       * struct engine_seq must begin with `const struct engine_ops *ops;` */

/* Configuration for engine_open(). Strings are borrowed for the call. */
struct engine_config {
    const char *kind;          /* "synthetic", "llama", "upstream" */
    const char *model_path;    /* llama: the GGUF file */
    const char *model_name;    /* name reported in /v1/models; NULL = derived */
    const char *upstream_url;  /* upstream: base URL of the OpenAI-compatible server */
    int max_batch;             /* most sequences in one step (>= 1) */
    int threads;               /* compute threads (llama); 0 = number of cores */
    int ctx_len;               /* most tokens per sequence (prompt + output); 0 = model's */
    /* synthetic timing model: each step costs step_ms; the step in which a request joins
     * also costs prefill_us per prompt token of every joining request (stalling the batch) */
    double step_ms;
    double prefill_us;
};

struct engine_message {
    const char *role;          /* "system", "user", "assistant" */
    const char *content;
};

/* One request as the engine sees it. Strings are borrowed for the call to engine_seq_new. */
struct engine_request {
    const char *prompt;                    /* completion: raw text; NULL for chat */
    const struct engine_message *messages; /* chat: formatted with the model's template */
    int n_messages;
    int max_tokens;
    float temperature;                     /* 0 = greedy */
    float top_p, min_p;                    /* 1 / 0 = off */
    int top_k;                             /* 0 = off */
    float repetition_penalty;              /* 1 = off */
    float presence_penalty, frequency_penalty; /* 0 = off */
    uint64_t seed;                         /* same seed + prompt => same tokens */
};

enum engine_finish {
    ENGINE_FINISH_NONE = 0,    /* still running */
    ENGINE_FINISH_STOP,        /* end-of-sequence token */
    ENGINE_FINISH_LENGTH,      /* max_tokens or context length reached */
    ENGINE_FINISH_ERROR,
};

/* What one sequence produced in one step: exactly one token. text holds the bytes that
 * became printable with it (complete UTF-8 only; may be empty while a multi-byte character
 * is split across tokens). Valid until the next engine call. */
struct engine_output {
    const char *text;
    size_t text_len;
    int32_t token_id;
    enum engine_finish finish;
};

/* Opens the engine named by cfg->kind. On error returns < 0 with e saying why (unknown
 * kind, model file problems, ...). */
int engine_open(struct engine **out, const struct engine_config *cfg, struct err *e);
void engine_free(struct engine *eng);                       /* NULL is a no-op */
const char *engine_model_name(const struct engine *eng);
int engine_max_batch(const struct engine *eng);

/* Prepares a sequence (tokenizes the prompt, checks its length, reserves nothing large).
 * Its prefill runs in the next engine_step that includes it. Errors: LLMQ_EFORMAT (bad
 * messages/template), LLMQ_ETOOLARGE (prompt beyond the context), -ENOMEM. */
int engine_seq_new(struct engine *eng, const struct engine_request *req,
                   struct engine_seq **out, struct err *e);
/* Prompt tokens of a sequence (after templating and BOS), for usage. */
int engine_seq_prompt_tokens(const struct engine_seq *seq);
/* Frees a sequence and its KV memory at once; it may leave the batch between any steps. */
void engine_seq_free(struct engine *eng, struct engine_seq *seq);

/* One step for n (<= max_batch) sequences: prefill for those new to the batch, then one
 * decoded token each, written to out[i]. A sequence that finished must not be passed again.
 * Returns 0, or < 0 if the step as a whole failed (then every sequence is failed). */
int engine_step(struct engine *eng, struct engine_seq *const *seqs, int n, struct engine_output *out);

/* Implementation table: each engine file defines one (ggml's backend-table lesson). */
struct engine_ops {
    const char *kind;
    int (*open)(struct engine *eng, const struct engine_config *cfg, struct err *e);
    void (*close)(struct engine *eng);
    int (*seq_new)(struct engine *eng, const struct engine_request *req, struct engine_seq **out, struct err *e);
    int (*seq_prompt_tokens)(const struct engine_seq *seq);
    void (*seq_free)(struct engine *eng, struct engine_seq *seq);
    int (*step)(struct engine *eng, struct engine_seq *const *seqs, int n, struct engine_output *out);
};

/* The generic part every engine shares; impl is the engine's own state. */
struct engine {
    const struct engine_ops *ops;
    void *impl;
    char model_name[128];
    int max_batch;
};

#endif
