/* llama_engine.c -- the "llama" engine: engine.h's ops over the native engine (llama.h),
 * the tokenizer (tokenizer.h) and chat templates (chat.h).
 * A step runs the prompts of sequences new to the batch and one decode token of every other
 * sequence in ONE forward pass, then samples one token per sequence with its own seeded
 * sampler. KV pages are taken when a sequence first runs and returned when it is freed.
 * Does not schedule, stop on strings or enforce deadlines (the worker does). */
#include "engine/engine.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "engine/llama/chat.h"
#include "engine/llama/gguf.h"
#include "engine/llama/llama.h"
#include "engine/llama/tokenizer.h"

#define DEFAULT_CTX_MAX 4096   /* ctx_len 0 = the model's, capped: KV is sized per slot */

struct lengine {
    struct llama_model *model;          /* owned */
    struct llama_ctx *ctx;              /* owned */
    struct tokenizer *tok;              /* owned */
    struct chat_template chat;          /* format UNKNOWN: chat requests are refused */
    char bos_text[64], eos_text[64];
    int n_vocab, ctx_len, max_batch;
    float *logits;                      /* owned, max_batch x n_vocab */
    struct llama_batch_item *items;     /* owned, max_batch */
};

struct engine_seq {
    const struct engine_ops *ops;       /* first member: see engine.h */
    struct llama_seq *kv;               /* NULL until the sequence first runs */
    int32_t *prompt;                    /* owned, n_prompt ids */
    int n_prompt;
    int max_tokens, n_gen;
    int32_t last;                       /* token to feed in the next step */
    int done;
    struct llama_sampler *smp;          /* owned */
    struct detok dt;
    char text[600];                     /* text of the latest output */
};

extern const struct engine_ops llama_engine_ops;

static void token_text(const struct gguf_file *f, int32_t id, char *out, size_t cap)
{
    struct gguf_str *toks = NULL;
    uint64_t n = 0;
    out[0] = 0;
    if (id < 0 || gguf_get_str_arr(f, "tokenizer.ggml.tokens", &toks, &n) < 0) return;
    if ((uint64_t)id < n)
        snprintf(out, cap, "%.*s", (int)(toks[id].len < cap ? toks[id].len : cap - 1), toks[id].ptr);
    free(toks);
}

static void lengine_close(struct engine *eng)
{
    struct lengine *le = eng->impl;
    if (!le) return;
    llama_ctx_free(le->ctx);
    tokenizer_free(le->tok);
    llama_model_free(le->model);
    free(le->logits);
    free(le->items);
    free(le);
    eng->impl = NULL;
}

static int lengine_open(struct engine *eng, const struct engine_config *cfg, struct err *e)
{
    if (!cfg->model_path || !*cfg->model_path)
        return err_set(e, -EINVAL, "llama engine: no model file given");
    struct lengine *le = xcalloc(1, sizeof(*le));
    eng->impl = le;
    int rc = llama_model_load(&le->model, cfg->model_path, e);
    if (rc < 0) goto fail;
    const struct gguf_file *f = llama_model_gguf(le->model);
    if ((rc = tokenizer_new(&le->tok, f, e)) < 0) goto fail;
    const struct llama_hparams *hp = llama_model_hparams(le->model);
    le->n_vocab = hp->n_vocab;
    if (tokenizer_vocab_size(le->tok) > hp->n_vocab) {
        rc = err_set(e, LLMQ_EFORMAT, "tokenizer has %d tokens but token_embd only %d rows",
                     tokenizer_vocab_size(le->tok), hp->n_vocab);
        goto fail;
    }
    le->max_batch = eng->max_batch;
    le->ctx_len = cfg->ctx_len > 0 ? cfg->ctx_len
                                   : (hp->n_ctx_train < DEFAULT_CTX_MAX ? hp->n_ctx_train : DEFAULT_CTX_MAX);
    struct llama_ctx_params cp = { .max_batch = le->max_batch, .ctx_len = le->ctx_len,
                                   .threads = cfg->threads };
    if ((rc = llama_ctx_new(&le->ctx, le->model, &cp, e)) < 0) goto fail;
    le->logits = malloc((size_t)le->max_batch * (size_t)le->n_vocab * sizeof(float));
    le->items = calloc((size_t)le->max_batch, sizeof(*le->items));
    if (!le->logits || !le->items) {
        rc = err_set(e, -ENOMEM, "llama engine: cannot allocate logits for %d sequences", le->max_batch);
        goto fail;
    }
    struct gguf_str tmpl;
    struct err ce;
    if (gguf_get_str(f, "tokenizer.chat_template", &tmpl) < 0 ||
        chat_template_parse(&le->chat, tmpl.ptr, tmpl.len, &ce) < 0)
        le->chat.format = CHAT_FORMAT_UNKNOWN;
    token_text(f, tokenizer_bos(le->tok), le->bos_text, sizeof(le->bos_text));
    token_text(f, tokenizer_eos(le->tok), le->eos_text, sizeof(le->eos_text));
    if (!eng->model_name[0]) {
        struct gguf_str name;
        if (gguf_get_str(f, "general.name", &name) == 0 && name.len) {
            snprintf(eng->model_name, sizeof(eng->model_name), "%.*s",
                     (int)(name.len < 127 ? name.len : 127), name.ptr);
        } else {
            const char *b = strrchr(cfg->model_path, '/');
            b = b ? b + 1 : cfg->model_path;
            size_t n = strlen(b);
            if (n > 5 && !strcmp(b + n - 5, ".gguf")) n -= 5;
            snprintf(eng->model_name, sizeof(eng->model_name), "%.*s", (int)(n < 127 ? n : 127), b);
        }
    }
    log_info("llama engine: %s (%s, %d layers, dim %d, vocab %d, %.0f MB of weights in %s), ctx %d, "
             "batch %d, device %s, %d threads, chat template %s", cfg->model_path,
             llama_model_type_name(le->model), hp->n_layer, hp->n_embd, hp->n_vocab,
             (double)llama_model_weight_bytes(le->model) / 1e6, llama_model_weights_where(le->model),
             le->ctx_len, le->max_batch, llama_ctx_device(le->ctx), llama_ctx_threads(le->ctx),
             chat_format_name(le->chat.format));
    return 0;
fail:
    lengine_close(eng);
    return rc;
}

static void lengine_seq_free(struct engine *eng, struct engine_seq *s)
{
    struct lengine *le = eng->impl;
    if (!s) return;
    if (s->kv) llama_seq_free(le->ctx, s->kv);
    llama_sampler_free(s->smp);
    free(s->prompt);
    free(s);
}

static int lengine_seq_new(struct engine *eng, const struct engine_request *req,
                           struct engine_seq **out, struct err *e)
{
    struct lengine *le = eng->impl;
    struct buf text;
    int rc;
    buf_init(&text);
    int special = 0;
    if (req->prompt) {
        buf_append_str(&text, req->prompt);
    } else {
        if (le->chat.format == CHAT_FORMAT_UNKNOWN) {
            buf_deinit(&text);
            return err_set(e, LLMQ_EFORMAT, "the model has no chat template this engine knows");
        }
        if ((rc = chat_template_render(&le->chat, req->messages, req->n_messages, le->bos_text,
                                       le->eos_text, &text, e)) < 0) {
            buf_deinit(&text);
            return rc == LLMQ_EUNSUPPORTED ? err_set(e, LLMQ_EFORMAT, "%s", e ? e->msg : "chat") : rc;
        }
        special = 1;
    }
    int add_bos = tokenizer_add_bos(le->tok);
    int n = tokenizer_encode(le->tok, text.data ? text.data : "", text.len, add_bos, special, NULL, 0);
    if (n < 0) {
        buf_deinit(&text);
        return err_set(e, LLMQ_EFORMAT, "the prompt cannot be tokenized");
    }
    if (n == 0) {
        buf_deinit(&text);
        return err_set(e, LLMQ_EFORMAT, "empty prompt");
    }
    if (n >= le->ctx_len) {
        buf_deinit(&text);
        return err_set(e, LLMQ_ETOOLARGE, "prompt of %d tokens does not fit the context of %d", n,
                       le->ctx_len);
    }
    struct engine_seq *s = calloc(1, sizeof(*s));
    int32_t *ids = malloc((size_t)n * sizeof(int32_t));
    if (!s || !ids) {
        free(s);
        free(ids);
        buf_deinit(&text);
        return err_set(e, -ENOMEM, "out of memory for a %d-token prompt", n);
    }
    tokenizer_encode(le->tok, text.data ? text.data : "", text.len, add_bos, special, ids, n);
    buf_deinit(&text);
    s->ops = &llama_engine_ops;
    s->prompt = ids;
    s->n_prompt = n;
    s->max_tokens = req->max_tokens > 0 ? req->max_tokens : le->ctx_len;
    struct llama_sampler_params sp;
    llama_sampler_params_default(&sp);
    sp.temperature = req->temperature;
    sp.top_k = req->top_k;
    sp.top_p = req->top_p > 0 ? req->top_p : 1.0f;
    sp.min_p = req->min_p;
    sp.repetition_penalty = req->repetition_penalty > 0 ? req->repetition_penalty : 1.0f;
    sp.presence_penalty = req->presence_penalty;
    sp.frequency_penalty = req->frequency_penalty;
    sp.seed = req->seed;
    if ((rc = llama_sampler_new(&s->smp, &sp, le->n_vocab)) < 0) {
        lengine_seq_free(eng, s);
        return err_set(e, rc, "out of memory for the sampler");
    }
    detok_init(&s->dt, le->tok);
    *out = s;
    return 0;
}

static int lengine_seq_prompt_tokens(const struct engine_seq *s) { return s->n_prompt; }

static void set_text(struct engine_seq *s, const char *a, size_t na, const char *b, size_t nb,
                     struct engine_output *o)
{
    size_t cap = sizeof(s->text);
    if (na > cap) na = cap;
    if (nb > cap - na) nb = cap - na;
    if (na) memcpy(s->text, a, na);
    if (nb) memcpy(s->text + na, b, nb);
    o->text = s->text;
    o->text_len = na + nb;
}

static int lengine_step(struct engine *eng, struct engine_seq *const *seqs, int n,
                        struct engine_output *out)
{
    struct lengine *le = eng->impl;
    if (n < 1 || n > le->max_batch) return -EINVAL;
    int n_items = 0;
    int map[n];
    for (int i = 0; i < n; i++) {
        struct engine_seq *s = seqs[i];
        out[i] = (struct engine_output){ .text = "", .token_id = -1, .finish = ENGINE_FINISH_NONE };
        map[i] = -1;
        if (s->done) {
            out[i].finish = ENGINE_FINISH_ERROR;    /* contract: never passed again */
            continue;
        }
        if (!s->kv && llama_seq_new(le->ctx, &s->kv) < 0) {
            log_warn("llama engine: no free sequence slot (max_batch %d)", le->max_batch);
            s->done = 1;
            out[i].finish = ENGINE_FINISH_ERROR;
            continue;
        }
        struct llama_batch_item *it = &le->items[n_items];
        it->seq = s->kv;
        it->all_logits = 0;
        it->logits = le->logits + (size_t)n_items * le->n_vocab;
        if (llama_seq_pos(s->kv) == 0) {
            it->tokens = s->prompt;
            it->n_tokens = s->n_prompt;
        } else {
            it->tokens = &s->last;
            it->n_tokens = 1;
        }
        map[i] = n_items++;
    }
    if (n_items) {
        int rc = llama_eval(le->ctx, le->items, n_items);
        if (rc < 0) {
            log_error("llama engine: step of %d sequences failed: %s", n_items, err_str(rc));
            for (int i = 0; i < n; i++) {
                if (map[i] >= 0) {
                    seqs[i]->done = 1;
                    out[i].finish = ENGINE_FINISH_ERROR;
                }
            }
            return rc;
        }
    }
    for (int i = 0; i < n; i++) {
        if (map[i] < 0) continue;
        struct engine_seq *s = seqs[i];
        int32_t id = llama_sampler_sample(s->smp, le->logits + (size_t)map[i] * le->n_vocab);
        s->last = id;
        s->n_gen++;
        out[i].token_id = id;
        size_t na = 0, nb = 0;
        const char *a, *b = "";
        if (tokenizer_is_eog(le->tok, id)) {
            out[i].finish = ENGINE_FINISH_STOP;
            a = "";
        } else {
            a = detok_push(&s->dt, id, &na);
            if (s->n_gen >= s->max_tokens || llama_seq_pos(s->kv) + 1 >= le->ctx_len)
                out[i].finish = ENGINE_FINISH_LENGTH;
        }
        if (out[i].finish != ENGINE_FINISH_NONE) {
            char keep[sizeof(s->text)];
            if (na > sizeof(keep)) na = sizeof(keep);
            memcpy(keep, a, na);                 /* detok reuses its buffer on flush */
            b = detok_flush(&s->dt, &nb);
            set_text(s, keep, na, b, nb, &out[i]);
            s->done = 1;
        } else {
            set_text(s, a, na, NULL, 0, &out[i]);
        }
    }
    return 0;
}

const struct engine_ops llama_engine_ops = {
    .kind = "llama",
    .open = lengine_open,
    .close = lengine_close,
    .seq_new = lengine_seq_new,
    .seq_prompt_tokens = lengine_seq_prompt_tokens,
    .seq_free = lengine_seq_free,
    .step = lengine_step,
};
