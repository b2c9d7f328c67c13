/* model.c -- GGUF -> struct llama_model: reads <arch>.* hyperparameters, finds every tensor,
 * checks its type and shape against them, and refuses anything it cannot compute exactly
 * (other architectures, tensor types without kernels, rows not a multiple of the block). */
#include "engine/llama/model.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/xalloc.h"
#include "engine/llama/quant.h"

static int get_u32(const struct gguf_file *f, const char *arch, const char *key, int required,
                   int *out, struct err *e)
{
    char name[128];
    uint32_t v;
    snprintf(name, sizeof(name), "%s.%s", arch, key);
    int rc = gguf_get_u32(f, name, &v);
    if (rc == -ENOENT && !required) return 0;
    if (rc < 0) return err_set(e, rc == -ENOENT ? LLMQ_EFORMAT : rc, "metadata '%s': %s", name,
                               rc == -ENOENT ? "missing" : "not an unsigned integer");
    if (v == 0 || v > (1u << 30)) return err_set(e, LLMQ_EFORMAT, "metadata '%s': bad value %u", name, v);
    *out = (int)v;
    return 0;
}

static int get_f32(const struct gguf_file *f, const char *arch, const char *key, float *out,
                   struct err *e)
{
    char name[128];
    snprintf(name, sizeof(name), "%s.%s", arch, key);
    int rc = gguf_get_f32(f, name, out);
    if (rc == -ENOENT) return 0;
    if (rc < 0) return err_set(e, rc, "metadata '%s': not a float", name);
    return 0;
}

/* Finds a 2-D matrix of cols x rows with a computable type. */
static int get_matrix(struct llama_model *m, const char *name, int cols, int rows, int required,
                      struct mm_weight *out, struct err *e)
{
    const struct gguf_tensor *t = gguf_find_tensor(m->f, name);
    if (!t) {
        if (!required) return 0;
        return err_set(e, LLMQ_EFORMAT, "tensor '%s' is missing", name);
    }
    const struct quant_traits *qt = quant_traits(t->type);
    if (!qt)
        return err_set(e, LLMQ_EUNSUPPORTED, "tensor '%s': type %s is not supported (F32, F16, "
                       "BF16, Q8_0, Q4_0, Q4_K, Q6_K are)", name, ggml_type_name(t->type));
    if (t->n_dims != 2 || t->ne[0] != (uint64_t)cols || t->ne[1] != (uint64_t)rows)
        return err_set(e, LLMQ_EFORMAT, "tensor '%s': shape [%llu, %llu] (%u dims), expected "
                       "[%d, %d]", name, (unsigned long long)t->ne[0], (unsigned long long)t->ne[1],
                       t->n_dims, cols, rows);
    if (cols % qt->block_elems)
        return err_set(e, LLMQ_EFORMAT, "tensor '%s': row of %d values is not a multiple of "
                       "the %s block (%d)", name, cols, ggml_type_name(t->type), qt->block_elems);
    out->type = t->type;
    out->rows = rows;
    out->cols = cols;
    out->data = t->data;
    out->row_bytes = (size_t)(cols / qt->block_elems) * qt->block_bytes;
    if (out->row_bytes * (size_t)rows > t->size_bytes)
        return err_set(e, LLMQ_EFORMAT, "tensor '%s': %zu bytes, expected %zu", name,
                       t->size_bytes, out->row_bytes * (size_t)rows);
    return 0;
}

/* Copies a 1-D F32/F16/BF16 vector of n values. */
static int get_vector(struct llama_model *m, const char *name, int n, int required, float **out,
                      struct err *e)
{
    const struct gguf_tensor *t = gguf_find_tensor(m->f, name);
    *out = NULL;
    if (!t) {
        if (!required) return 0;
        return err_set(e, LLMQ_EFORMAT, "tensor '%s' is missing", name);
    }
    if (t->type != GGML_TYPE_F32 && t->type != GGML_TYPE_F16 && t->type != GGML_TYPE_BF16)
        return err_set(e, LLMQ_EUNSUPPORTED, "tensor '%s': type %s for a vector (F32/F16/BF16 "
                       "expected)", name, ggml_type_name(t->type));
    uint64_t total = t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3];
    if (t->ne[0] != (uint64_t)n || total != (uint64_t)n)
        return err_set(e, LLMQ_EFORMAT, "tensor '%s': %llu values, expected %d", name,
                       (unsigned long long)total, n);
    *out = xmalloc((size_t)n * sizeof(float));
    quant_dequant_row(t->type, t->data, *out, n);
    return 0;
}

static int load_hparams(struct llama_model *m, struct err *e)
{
    struct llama_hparams *hp = &m->hp;
    struct gguf_str arch;
    char a[32];
    int rc;
    if (gguf_get_str(m->f, "general.architecture", &arch) < 0)
        return err_set(e, LLMQ_EFORMAT, "metadata 'general.architecture' is missing");
    if (gguf_str_eq(arch, "llama")) {
        hp->arch = LLAMA_ARCH_LLAMA;
    } else if (gguf_str_eq(arch, "qwen2")) {
        hp->arch = LLAMA_ARCH_QWEN2;
    } else {
        return err_set(e, LLMQ_EUNSUPPORTED, "unsupported architecture '%.*s' (llama and qwen2 "
                       "are supported)", (int)(arch.len < 64 ? arch.len : 64), arch.ptr);
    }
    snprintf(a, sizeof(a), "%.*s", (int)arch.len, arch.ptr);
    if ((rc = get_u32(m->f, a, "embedding_length", 1, &hp->n_embd, e)) < 0) return rc;
    if ((rc = get_u32(m->f, a, "block_count", 1, &hp->n_layer, e)) < 0) return rc;
    if ((rc = get_u32(m->f, a, "attention.head_count", 1, &hp->n_head, e)) < 0) return rc;
    hp->n_head_kv = hp->n_head;
    if ((rc = get_u32(m->f, a, "attention.head_count_kv", 0, &hp->n_head_kv, e)) < 0) return rc;
    if ((rc = get_u32(m->f, a, "feed_forward_length", 1, &hp->n_ff, e)) < 0) return rc;
    hp->n_ctx_train = 2048;
    if ((rc = get_u32(m->f, a, "context_length", 0, &hp->n_ctx_train, e)) < 0) return rc;
    if (hp->n_embd % hp->n_head)
        return err_set(e, LLMQ_EFORMAT, "embedding_length %d is not a multiple of head_count %d",
                       hp->n_embd, hp->n_head);
    if (hp->n_head % hp->n_head_kv)
        return err_set(e, LLMQ_EFORMAT, "head_count %d is not a multiple of head_count_kv %d",
                       hp->n_head, hp->n_head_kv);
    hp->head_dim = hp->n_embd / hp->n_head;
    hp->rope_dim = hp->head_dim;
    if ((rc = get_u32(m->f, a, "rope.dimension_count", 0, &hp->rope_dim, e)) < 0) return rc;
    if (hp->rope_dim > hp->head_dim || hp->rope_dim % 2)
        return err_set(e, LLMQ_EFORMAT, "rope.dimension_count %d does not fit head dim %d",
                       hp->rope_dim, hp->head_dim);
    hp->rope_neox = hp->arch == LLAMA_ARCH_QWEN2;
    hp->rope_freq_base = hp->arch == LLAMA_ARCH_QWEN2 ? 1e6f : 10000.0f;
    hp->rms_eps = hp->arch == LLAMA_ARCH_QWEN2 ? 1e-6f : 1e-5f;
    if ((rc = get_f32(m->f, a, "rope.freq_base", &hp->rope_freq_base, e)) < 0) return rc;
    if ((rc = get_f32(m->f, a, "attention.layer_norm_rms_epsilon", &hp->rms_eps, e)) < 0) return rc;
    hp->rope_freq_scale = 1.0f;
    char key[96];
    struct gguf_str st;
    snprintf(key, sizeof(key), "%s.rope.scaling.type", a);
    int has_type = gguf_get_str(m->f, key, &st) == 0;
    if (has_type && !gguf_str_eq(st, "none") && !gguf_str_eq(st, "linear"))
        return err_set(e, LLMQ_EUNSUPPORTED, "rope scaling '%.*s' is not supported (linear is)",
                       (int)(st.len < 32 ? st.len : 32), st.ptr);
    float factor = 0;
    if ((rc = get_f32(m->f, a, "rope.scaling.factor", &factor, e)) < 0) return rc;
    if (factor == 0) {           /* older files: rope.scale_linear */
        if ((rc = get_f32(m->f, a, "rope.scale_linear", &factor, e)) < 0) return rc;
    }
    if (factor > 0 && (!has_type || !gguf_str_eq(st, "none"))) hp->rope_freq_scale = 1.0f / factor;
    if (!(hp->rope_freq_base > 0) || !(hp->rms_eps > 0))
        return err_set(e, LLMQ_EFORMAT, "bad rope.freq_base %g or rms epsilon %g",
                       hp->rope_freq_base, hp->rms_eps);
    const struct gguf_tensor *te = gguf_find_tensor(m->f, "token_embd.weight");
    if (!te) return err_set(e, LLMQ_EFORMAT, "tensor 'token_embd.weight' is missing");
    if (te->n_dims != 2 || te->ne[1] == 0 || te->ne[1] > (1u << 24))
        return err_set(e, LLMQ_EFORMAT, "tensor 'token_embd.weight': bad shape");
    hp->n_vocab = (int)te->ne[1];
    return 0;
}

void llama_model_free(struct llama_model *m)
{
    if (!m) return;
    if (m->layers) {
        for (int i = 0; i < m->hp.n_layer; i++) {
            struct llama_layer *l = &m->layers[i];
            free(l->attn_norm);
            free(l->ffn_norm);
            free(l->bq);
            free(l->bk);
            free(l->bv);
        }
        free(m->layers);
    }
    free(m->out_norm);
    free(m->rope_freqs);
    gguf_close(m->f);
    free(m);
}

int llama_model_from_gguf(struct llama_model **out, struct gguf_file *f, struct err *e)
{
    struct llama_model *m = xcalloc(1, sizeof(*m));
    struct llama_hparams *hp = &m->hp;
    int rc;
    char name[96];
    m->f = f;
    if ((rc = load_hparams(m, e)) < 0) goto fail;
    int E = hp->n_embd, KV = hp->n_head_kv * hp->head_dim, FF = hp->n_ff, V = hp->n_vocab;
    if ((rc = get_matrix(m, "token_embd.weight", E, V, 1, &m->tok_embd, e)) < 0) goto fail;
    if ((rc = get_vector(m, "output_norm.weight", E, 1, &m->out_norm, e)) < 0) goto fail;
    if ((rc = get_matrix(m, "output.weight", E, V, 0, &m->output, e)) < 0) goto fail;
    if ((rc = get_vector(m, "rope_freqs.weight", hp->rope_dim / 2, 0, &m->rope_freqs, e)) < 0) goto fail;
    if (!m->output.data) {
        m->output = m->tok_embd;
        hp->tied_output = 1;
    }
    m->layers = xcalloc((size_t)hp->n_layer, sizeof(*m->layers));
    for (int i = 0; i < hp->n_layer; i++) {
        struct llama_layer *l = &m->layers[i];
#define NAME(s) (snprintf(name, sizeof(name), "blk.%d." s, i), name)
        if ((rc = get_vector(m, NAME("attn_norm.weight"), E, 1, &l->attn_norm, e)) < 0) goto fail;
        if ((rc = get_vector(m, NAME("ffn_norm.weight"), E, 1, &l->ffn_norm, e)) < 0) goto fail;
        if ((rc = get_matrix(m, NAME("attn_q.weight"), E, E, 1, &l->wq, e)) < 0) goto fail;
        if ((rc = get_matrix(m, NAME("attn_k.weight"), E, KV, 1, &l->wk, e)) < 0) goto fail;
        if ((rc = get_matrix(m, NAME("attn_v.weight"), E, KV, 1, &l->wv, e)) < 0) goto fail;
        if ((rc = get_matrix(m, NAME("attn_output.weight"), E, E, 1, &l->wo, e)) < 0) goto fail;
        if ((rc = get_matrix(m, NAME("ffn_gate.weight"), E, FF, 1, &l->w_gate, e)) < 0) goto fail;
        if ((rc = get_matrix(m, NAME("ffn_up.weight"), E, FF, 1, &l->w_up, e)) < 0) goto fail;
        if ((rc = get_matrix(m, NAME("ffn_down.weight"), FF, E, 1, &l->w_down, e)) < 0) goto fail;
        int need_bias = hp->arch == LLAMA_ARCH_QWEN2;
        if ((rc = get_vector(m, NAME("attn_q.bias"), E, need_bias, &l->bq, e)) < 0) goto fail;
        if ((rc = get_vector(m, NAME("attn_k.bias"), KV, need_bias, &l->bk, e)) < 0) goto fail;
        if ((rc = get_vector(m, NAME("attn_v.bias"), KV, need_bias, &l->bv, e)) < 0) goto fail;
#undef NAME
    }
    /* Report figures: dominant type and bytes read per token. */
    size_t by_type[64] = { 0 };
    m->weight_bytes = m->output.row_bytes * (size_t)V;
    for (int i = 0; i < hp->n_layer; i++) {
        const struct mm_weight *ws[] = { &m->layers[i].wq, &m->layers[i].wk, &m->layers[i].wv,
                                         &m->layers[i].wo, &m->layers[i].w_gate, &m->layers[i].w_up,
                                         &m->layers[i].w_down };
        for (int k = 0; k < 7; k++) {
            size_t b = ws[k]->row_bytes * (size_t)ws[k]->rows;
            m->weight_bytes += b;
            if ((unsigned)ws[k]->type < 64) by_type[ws[k]->type] += b;
        }
    }
    m->main_type = GGML_TYPE_F32;
    for (int t = 0; t < 64; t++)
        if (by_type[t] > by_type[m->main_type]) m->main_type = (enum ggml_type)t;
    *out = m;
    return 0;
fail:
    llama_model_free(m);
    return rc;
}

/* MemAvailable from /proc/meminfo in bytes, or 0 when unknown. */
static size_t mem_available(void)
{
    FILE *fp = fopen("/proc/meminfo", "r");
    char line[256];
    size_t kb = 0;
    if (!fp) return 0;
    while (fgets(line, sizeof(line), fp))
        if (sscanf(line, "MemAvailable: %zu kB", &kb) == 1) break;
    fclose(fp);
    return kb * 1024;
}

/* Whether to copy the weights into huge pages (gguf_copy_data): LLMQ_WEIGHTS=copy always,
 * =mmap never; unset or "auto": when the compute runs on the CPU (a GPU context uploads the
 * weights and never streams them from host memory) and the copy takes at most half of the
 * memory available, so a large model on a small machine stays mapped rather than swapping. */
static int copy_limit(const char *path, size_t *limit, struct err *e)
{
    const char *mode = getenv("LLMQ_WEIGHTS");
    enum llama_device dev;
    llama_device_resolve(LLAMA_DEVICE_DEFAULT, &dev, NULL); /* a bad value: the context says so */
    if (mode && !strcmp(mode, "copy")) *limit = SIZE_MAX;
    else if (mode && !strcmp(mode, "mmap")) *limit = 0;
    else if (mode && *mode && strcmp(mode, "auto"))
        return err_set(e, -EINVAL, "%s: LLMQ_WEIGHTS='%.32s': expected auto, copy or mmap", path, mode);
    else *limit = dev == LLAMA_DEVICE_CUDA ? 0 : mem_available() / 2;
    return 0;
}

int llama_model_load(struct llama_model **out, const char *path, struct err *e)
{
    struct gguf_file *f;
    size_t limit = 0;
    int rc = copy_limit(path, &limit, e);
    if (rc < 0) return rc;
    if ((rc = gguf_open(&f, path, e)) < 0) return rc;
    if (limit && (rc = gguf_copy_data(f, path, limit, e)) < 0) {
        gguf_close(f);
        return rc;
    }
    return llama_model_from_gguf(out, f, e);
}

const char *llama_model_weights_where(const struct llama_model *m)
{
    if (!m->f->copy) return m->f->mapped ? "mmap" : "memory";
    return m->f->copy_huge ? "huge pages" : "copy";
}

const struct llama_hparams *llama_model_hparams(const struct llama_model *m) { return &m->hp; }
const struct gguf_file *llama_model_gguf(const struct llama_model *m) { return m->f; }
const char *llama_model_type_name(const struct llama_model *m) { return ggml_type_name(m->main_type); }
size_t llama_model_weight_bytes(const struct llama_model *m) { return m->weight_bytes; }
