/* tiny_model.h -- writes a small random-weight Llama/Qwen2 GGUF for engine tests that must
 * run without shared/ (loader, forward, batching, engine ops, CLI). Shapes are chosen so
 * every supported tensor type applies (rows of 256), the vocabulary is a little SPM one
 * (<unk>, <s>, </s>, 256 byte tokens, a few words) so the tokenizer works on any text.
 * Header-only test helper (included by tests/engine/test_*.c). */
#ifndef LLMQ_TEST_TINY_MODEL_H
#define LLMQ_TEST_TINY_MODEL_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/llama/gguf_write.h"
#include "engine/llama/quantize.h"

struct tiny_model_opts {
    const char *arch;          /* "llama" (default) or "qwen2" (or anything, for errors) */
    enum ggml_type type;       /* matrix type (F32 default) */
    int n_embd, n_ff, n_layer, n_head, n_head_kv, ctx;
    uint64_t seed;
    int tied;                  /* omit output.weight */
    const char *skip_tensor;   /* leave this tensor out (error tests) */
    const char *bad_shape_tensor; /* give this tensor a wrong row count (error tests) */
    enum ggml_type roundtrip;  /* write F32 weights that went through this type and back */
    int eos_id;                /* tokenizer.ggml.eos_token_id (0 = 2, "</s>") */
    const char *chat_template; /* tokenizer.chat_template, or NULL */
    float rope_freq;           /* > 0: add rope_freqs.weight with this value everywhere */
};

static uint64_t tiny_rng_state;
static float tiny_randn(void)
{
    /* xorshift + Box-Muller: deterministic, good enough for weights */
    uint64_t a, b;
    tiny_rng_state ^= tiny_rng_state << 13; tiny_rng_state ^= tiny_rng_state >> 7; tiny_rng_state ^= tiny_rng_state << 17;
    a = tiny_rng_state;
    tiny_rng_state ^= tiny_rng_state << 13; tiny_rng_state ^= tiny_rng_state >> 7; tiny_rng_state ^= tiny_rng_state << 17;
    b = tiny_rng_state;
    double u1 = ((a >> 11) + 1) * 0x1.0p-53, u2 = (b >> 11) * 0x1.0p-53;
    return (float)(sqrt(-2 * log(u1)) * cos(6.283185307179586 * u2));
}

static const char *tiny_words[] = { "\xe2\x96\x81" "the", "\xe2\x96\x81" "a", "\xe2\x96\x81" "cat", "\xe2\x96\x81" "sat",
                                    "\xe2\x96\x81" "on", "\xe2\x96\x81" "mat", "\xe2\x96\x81" "Once", "\xe2\x96\x81" "upon",
                                    "\xe2\x96\x81" "time", "\xe2\x96\x81", "e", "t", "a", "o", "n", "s" };
#define TINY_N_WORDS ((int)(sizeof(tiny_words) / sizeof(tiny_words[0])))
#define TINY_VOCAB (3 + 256 + TINY_N_WORDS)

/* Writes the model to path. Returns 0 or < 0. */
static int tiny_model_write(const char *path, const struct tiny_model_opts *in)
{
    struct tiny_model_opts o = *in;
    if (!o.arch) o.arch = "llama";
    if (!o.n_embd) o.n_embd = 256;
    if (!o.n_ff) o.n_ff = 512;
    if (!o.n_layer) o.n_layer = 2;
    if (!o.n_head) o.n_head = 8;
    if (!o.n_head_kv) o.n_head_kv = 4;
    if (!o.ctx) o.ctx = 256;
    if (!o.type) o.type = GGML_TYPE_F32;
    tiny_rng_state = o.seed ? o.seed : 0x1234567;
    struct gguf_write *w;
    struct err e;
    int rc = gguf_write_new(&w, path, &e);
    if (rc < 0) return rc;
    char key[128];
    int E = o.n_embd, F = o.n_ff, KV = o.n_embd / o.n_head * o.n_head_kv, V = TINY_VOCAB;
    gguf_write_kv_str(w, "general.architecture", o.arch, strlen(o.arch));
#define KEY(s) (snprintf(key, sizeof(key), "%s." s, o.arch), key)
    gguf_write_kv_u32(w, KEY("embedding_length"), (uint32_t)E);
    gguf_write_kv_u32(w, KEY("block_count"), (uint32_t)o.n_layer);
    gguf_write_kv_u32(w, KEY("attention.head_count"), (uint32_t)o.n_head);
    gguf_write_kv_u32(w, KEY("attention.head_count_kv"), (uint32_t)o.n_head_kv);
    gguf_write_kv_u32(w, KEY("feed_forward_length"), (uint32_t)F);
    gguf_write_kv_u32(w, KEY("context_length"), (uint32_t)o.ctx);
    gguf_write_kv_u32(w, KEY("rope.dimension_count"), (uint32_t)(E / o.n_head));
    gguf_write_kv_f32(w, KEY("attention.layer_norm_rms_epsilon"), 1e-5f);
#undef KEY
    /* SPM vocabulary */
    struct gguf_str toks[TINY_VOCAB];
    static char bytes_txt[256][8];
    float scores[TINY_VOCAB];
    int32_t types[TINY_VOCAB];
    toks[0] = (struct gguf_str){ "<unk>", 5 }; types[0] = 2;
    toks[1] = (struct gguf_str){ "<s>", 3 }; types[1] = 3;
    toks[2] = (struct gguf_str){ "</s>", 4 }; types[2] = 3;
    for (int i = 0; i < 256; i++) {
        snprintf(bytes_txt[i], sizeof(bytes_txt[i]), "<0x%02X>", i);
        toks[3 + i] = (struct gguf_str){ bytes_txt[i], 6 };
        types[3 + i] = 6;
    }
    for (int i = 0; i < TINY_N_WORDS; i++) {
        toks[259 + i] = (struct gguf_str){ tiny_words[i], strlen(tiny_words[i]) };
        types[259 + i] = 1;
    }
    for (int i = 0; i < V; i++) scores[i] = i < 259 ? 0 : -(float)(i - 259);
    gguf_write_kv_str(w, "tokenizer.ggml.model", "llama", 5);
    gguf_write_kv_arr_str(w, "tokenizer.ggml.tokens", toks, V);
    gguf_write_kv_arr(w, "tokenizer.ggml.scores", GGUF_TYPE_FLOAT32, scores, V);
    gguf_write_kv_arr(w, "tokenizer.ggml.token_type", GGUF_TYPE_INT32, types, V);
    gguf_write_kv_u32(w, "tokenizer.ggml.bos_token_id", 1);
    gguf_write_kv_u32(w, "tokenizer.ggml.eos_token_id", (uint32_t)(o.eos_id ? o.eos_id : 2));
    gguf_write_kv_u32(w, "tokenizer.ggml.unknown_token_id", 0);
    if (o.chat_template)
        gguf_write_kv_str(w, "tokenizer.chat_template", o.chat_template, strlen(o.chat_template));
    /* Tensors: declared first, then data in the same order. */
    struct { char name[64]; int cols, rows; enum ggml_type t; float scale, bias1; } td[64];
    int nt = 0;
#define T(nm, c, r, ty, sc, b1) do { snprintf(td[nt].name, 64, "%s", nm); td[nt].cols = c; td[nt].rows = r; \
    td[nt].t = ty; td[nt].scale = sc; td[nt].bias1 = b1; nt++; } while (0)
    T("token_embd.weight", E, V, o.type, 0.5f, 0);
    T("output_norm.weight", E, 1, GGML_TYPE_F32, 0.1f, 1);
    if (o.rope_freq > 0) T("rope_freqs.weight", E / o.n_head / 2, 1, GGML_TYPE_F32, 0, o.rope_freq);
    if (!o.tied) T("output.weight", E, V, o.type, 0.5f, 0);
    for (int l = 0; l < o.n_layer; l++) {
        char n[64];
#define L(s) (snprintf(n, sizeof(n), "blk.%d." s, l), n)
        T(L("attn_norm.weight"), E, 1, GGML_TYPE_F32, 0.1f, 1);
        T(L("attn_q.weight"), E, E, o.type, 1.0f / sqrtf((float)E), 0);
        T(L("attn_k.weight"), E, KV, o.type, 1.0f / sqrtf((float)E), 0);
        T(L("attn_v.weight"), E, KV, o.type, 1.0f / sqrtf((float)E), 0);
        if (!strcmp(o.arch, "qwen2")) {
            T(L("attn_q.bias"), E, 1, GGML_TYPE_F32, 0.5f, 0);
            T(L("attn_k.bias"), KV, 1, GGML_TYPE_F32, 0.5f, 0);
            T(L("attn_v.bias"), KV, 1, GGML_TYPE_F32, 0.5f, 0);
        }
        T(L("attn_output.weight"), E, E, o.type, 0.3f / sqrtf((float)E), 0);
        T(L("ffn_norm.weight"), E, 1, GGML_TYPE_F32, 0.1f, 1);
        T(L("ffn_gate.weight"), E, F, o.type, 1.0f / sqrtf((float)E), 0);
        T(L("ffn_up.weight"), E, F, o.type, 1.0f / sqrtf((float)E), 0);
        T(L("ffn_down.weight"), F, E, o.type, 4.0f / sqrtf((float)F), 0);
#undef L
    }
#undef T
    for (int i = 0; i < nt && rc >= 0; i++) {
        if (o.skip_tensor && !strcmp(o.skip_tensor, td[i].name)) continue;
        int rows = td[i].rows + (o.bad_shape_tensor && !strcmp(o.bad_shape_tensor, td[i].name));
        uint64_t ne[2] = { (uint64_t)td[i].cols, (uint64_t)rows };
        rc = gguf_write_tensor_add(w, td[i].name, rows > 1 ? 2 : 1, ne, td[i].t);
    }
    float *row = malloc(sizeof(float) * 4096);
    void *q = malloc(4096 * 4);
    for (int i = 0; i < nt && rc >= 0; i++) {
        if (o.skip_tensor && !strcmp(o.skip_tensor, td[i].name)) continue;
        int rows = td[i].rows + (o.bad_shape_tensor && !strcmp(o.bad_shape_tensor, td[i].name));
        for (int r = 0; r < rows && rc >= 0; r++) {
            for (int c = 0; c < td[i].cols; c++)
                row[c] = td[i].scale != 0 ? td[i].bias1 + td[i].scale * tiny_randn() : td[i].bias1;
            if (o.roundtrip && td[i].t == GGML_TYPE_F32 && td[i].rows > 1) {
                quantize_row(o.roundtrip, row, q, td[i].cols);
                quantize_dequantize_row(o.roundtrip, q, row, td[i].cols);
            }
            size_t nb = quantize_row_bytes(td[i].t, td[i].cols);
            quantize_row(td[i].t, row, q, td[i].cols);
            rc = gguf_write_tensor_data(w, q, nb);
        }
    }
    free(row);
    free(q);
    if (rc >= 0) rc = gguf_write_finish(w, &e);
    gguf_write_free(w);
    return rc;
}

/* A per-process temp path: /tmp/llmq-test-<tag>-<pid>.gguf */
static const char *tiny_model_path(const char *tag)
{
    static char p[8][256];
    static int k;
    char *s = p[k++ % 8];
    snprintf(s, 256, "/tmp/llmq-test-%s-%d.gguf", tag, (int)getpid());
    return s;
}

#endif
