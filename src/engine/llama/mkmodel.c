/* mkmodel.c -- `llmq mkmodel`: writes a llama-architecture GGUF with random weights.
 * Speed does not depend on weight values, so a random model of a real shape and real tensor
 * types (laid out as llama-quantize lays them out) stands in for a downloaded one in
 * benchmarks and tests. Weights are N(0, s^2) with the scales of shared/testdata's random
 * models; the tokenizer is copied from --like, from the Llama-2 SPM vocab file when the vocab
 * is 32000, or generated (byte-level SPM). Rows are generated and quantized on several threads
 * and streamed to disk chunk by chunk, so a 1B model needs only a few MB of memory.
 * Only the llama architecture; no trained weights, no imatrix. */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/cfg.h"
#include "common/clock.h"
#include "common/xalloc.h"
#include "engine/llama/cli.h"
#include "engine/llama/gguf.h"
#include "engine/llama/gguf_write.h"
#include "engine/llama/quantize.h"

#define SPM_VOCAB_FILE "testdata/vocab/ggml-vocab-llama-spm.gguf"

/* ------------------------------------------------------------------ model description */

enum ftype {                    /* llama.cpp's general.file_type values */
    FTYPE_F32 = 0, FTYPE_F16 = 1, FTYPE_Q4_0 = 2, FTYPE_Q8_0 = 7, FTYPE_Q4_K_M = 15,
    FTYPE_Q6_K = 18, FTYPE_BF16 = 32,
};

static const struct {
    const char *name;
    enum ftype ftype;
    enum ggml_type base;        /* type of most matrices */
} ftypes[] = {
    { "f32", FTYPE_F32, GGML_TYPE_F32 },    { "f16", FTYPE_F16, GGML_TYPE_F16 },
    { "bf16", FTYPE_BF16, GGML_TYPE_BF16 }, { "q8_0", FTYPE_Q8_0, GGML_TYPE_Q8_0 },
    { "q4_0", FTYPE_Q4_0, GGML_TYPE_Q4_0 }, { "q4_k_m", FTYPE_Q4_K_M, GGML_TYPE_Q4_K },
    { "q6_k", FTYPE_Q6_K, GGML_TYPE_Q6_K },
};

struct shape {
    long long layers, dim, heads, kv_heads, ffn, vocab, ctx;
    int tied;                   /* no output.weight */
    float rope_base, rms_eps;
};

/* One tensor to generate: N(mean, std^2) values, rows of ne[0]. */
struct tdesc {
    char name[64];
    uint64_t ne[2];
    uint32_t n_dims;
    enum ggml_type type;
    float mean, std;
};

/* llama-quantize's use_more_bits: the first and last eighth of the layers and every third
 * layer in between get the bigger type in the _M mixes. */
static int use_more_bits(int i, int n) { return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2; }

/* The type llama-quantize gives a matrix named `role` (of layer il) for file type ft, before
 * the row-length fallback. */
static enum ggml_type matrix_type(int ft_idx, const char *role, int il, int n_layer)
{
    enum ftype ft = ftypes[ft_idx].ftype;
    enum ggml_type base = ftypes[ft_idx].base;
    if (ft == FTYPE_F32 || ft == FTYPE_F16 || ft == FTYPE_BF16 || ft == FTYPE_Q8_0) return base;
    if (!strcmp(role, "output")) return GGML_TYPE_Q6_K;        /* every other quantized mix */
    if (ft == FTYPE_Q4_K_M && (!strcmp(role, "attn_v") || !strcmp(role, "ffn_down")) &&
        use_more_bits(il, n_layer))
        return GGML_TYPE_Q6_K;
    return base;
}

/* A row length the type cannot hold falls back as llama-quantize would, to the nearest type
 * this writer has: k-quants -> Q8_0 -> F16. */
static enum ggml_type fit_type(enum ggml_type t, uint64_t row)
{
    if (quantize_row_bytes(t, (int64_t)row)) return t;
    if (quantize_row_bytes(GGML_TYPE_Q8_0, (int64_t)row)) return GGML_TYPE_Q8_0;
    return GGML_TYPE_F16;
}

/* Appends tensor `role` (of layer il, or -1 for the global ones) with rows of `row` values;
 * rows == 0 makes a norm vector: F32, 1 + N(0, std^2). */
struct tctx {
    struct tdesc *td;
    size_t n;
    int ft, n_layer;
};

static void add_tensor(struct tctx *c, const char *role, int il, long long row, long long rows,
                       float std)
{
    struct tdesc *t = &c->td[c->n++];
    if (il >= 0) snprintf(t->name, sizeof(t->name), "blk.%d.%s.weight", il, role);
    else snprintf(t->name, sizeof(t->name), "%s.weight", role);
    t->ne[0] = (uint64_t)row;
    t->ne[1] = rows ? (uint64_t)rows : 1;
    t->n_dims = rows ? 2 : 1;
    t->type = rows ? fit_type(matrix_type(c->ft, role, il, c->n_layer), t->ne[0]) : GGML_TYPE_F32;
    t->mean = rows ? 0.f : 1.f;
    t->std = std;
}

/* ------------------------------------------------------------------ random numbers */

/* splitmix64: a full-period 64-bit generator good enough for weights, seeded per row so the
 * output does not depend on the number of threads. */
static inline uint64_t splitmix(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* n values N(mean, std^2), Box-Muller in float (two values per pair of uniforms). */
static void gen_row(float *x, int64_t n, uint64_t seed, float mean, float std)
{
    uint64_t s = seed;
    for (int64_t i = 0; i < n; i += 2) {
        uint64_t r = splitmix(&s);
        float u1 = ((float)(r >> 40) + 1.0f) * 0x1p-24f;          /* (0, 1] */
        float u2 = (float)((r >> 16) & 0xffffff) * 0x1p-24f;      /* [0, 1) */
        float rad = std * sqrtf(-2.0f * logf(u1)), sn, cs;
        sincosf(6.2831853f * u2, &sn, &cs);
        x[i] = mean + rad * cs;
        if (i + 1 < n) x[i + 1] = mean + rad * sn;
    }
}

static uint64_t row_seed(uint64_t seed, uint32_t tensor, uint64_t row)
{
    uint64_t s = seed * 0x2545f4914f6cdd1dull ^ ((uint64_t)tensor << 40) ^ row;
    return splitmix(&s);
}

/* ------------------------------------------------------------------ parallel generation */

struct job {
    const struct tdesc *t;
    uint32_t tensor;
    uint64_t seed;
    uint64_t row0, n_rows;      /* rows of this chunk */
    size_t row_bytes;
    uint8_t *out;               /* n_rows * row_bytes */
    int n_threads, ith;
};

static void *job_run(void *arg)
{
    const struct job *j = arg;
    const struct tdesc *t = j->t;
    float *x = xmalloc(t->ne[0] * sizeof(float));
    for (uint64_t r = (uint64_t)j->ith; r < j->n_rows; r += (uint64_t)j->n_threads) {
        gen_row(x, (int64_t)t->ne[0], row_seed(j->seed, j->tensor, j->row0 + r), t->mean, t->std);
        quantize_row(t->type, x, j->out + r * j->row_bytes, (int64_t)t->ne[0]);
    }
    free(x);
    return NULL;
}

/* Generates, quantizes and writes tensor i in chunks of ~8 MB of output. */
static int write_tensor(struct gguf_write *w, const struct tdesc *t, uint32_t i, uint64_t seed,
                        int n_threads, uint8_t *chunk, size_t chunk_cap)
{
    size_t row_bytes = quantize_row_bytes(t->type, (int64_t)t->ne[0]);
    uint64_t rows = t->n_dims > 1 ? t->ne[1] : 1;
    uint64_t per = chunk_cap / row_bytes;
    if (per < 1) per = 1;
    pthread_t th[64];
    int started[64];
    struct job jobs[64];
    for (uint64_t r0 = 0; r0 < rows; r0 += per) {
        uint64_t n = rows - r0 < per ? rows - r0 : per;
        int nt = n_threads < (int)n ? n_threads : (int)n;
        for (int k = 0; k < nt; k++) {
            jobs[k] = (struct job){ t, i, seed, r0, n, row_bytes, chunk, nt, k };
            started[k] = k > 0 && pthread_create(&th[k], NULL, job_run, &jobs[k]) == 0;
        }
        job_run(&jobs[0]);
        for (int k = 1; k < nt; k++) {
            if (started[k]) pthread_join(th[k], NULL);
            else job_run(&jobs[k]);     /* no thread: do its rows here */
        }
        int rc = gguf_write_tensor_data(w, chunk, (size_t)n * row_bytes);
        if (rc < 0) return rc;
    }
    return 0;
}

/* ------------------------------------------------------------------ tokenizer */

/* Copies every tokenizer.* key of f. Returns the vocab size (tokens array length) or < 0. */
static int copy_tokenizer(struct gguf_write *w, const struct gguf_file *f, long long *n_vocab)
{
    const struct gguf_kv *tok = gguf_find(f, "tokenizer.ggml.tokens");
    if (!tok || tok->type != GGUF_TYPE_ARRAY) return -ENOENT;
    *n_vocab = (long long)tok->arr_len;
    for (uint64_t i = 0; i < f->n_kv; i++) {
        const struct gguf_kv *kv = &f->kv[i];
        if (kv->key.len > 10 && !memcmp(kv->key.ptr, "tokenizer.", 10)) {
            int rc = gguf_write_kv_copy(w, f, kv);
            if (rc < 0) return rc;
        }
    }
    return 0;
}

/* A byte-level SentencePiece vocab of n tokens: <unk> <s> </s>, the 256 byte tokens, "▁" (the
 * space, which every SentencePiece vocab has: without it a space would fall back to the three
 * bytes of U+2581), then made-up pieces ("▁a", "a", "▁b", ... "▁aa", ...), decreasing scores. */
static int gen_tokenizer(struct gguf_write *w, long long n)
{
    struct gguf_str *tok = xcalloc((size_t)n, sizeof(*tok));
    float *score = xcalloc((size_t)n, sizeof(float));
    int32_t *type = xcalloc((size_t)n, sizeof(int32_t));
    char *text = xcalloc((size_t)n, 16);
    for (long long i = 0; i < n; i++) {
        char *p = text + i * 16;
        if (i == 0) strcpy(p, "<unk>"), type[i] = 2;
        else if (i == 1) strcpy(p, "<s>"), type[i] = 3;
        else if (i == 2) strcpy(p, "</s>"), type[i] = 3;
        else if (i < 259) snprintf(p, 16, "<0x%02X>", (unsigned)(i - 3)), type[i] = 6;
        else if (i == 259) strcpy(p, "\xe2\x96\x81"), type[i] = 1;  /* "▁": a space on its own */
        else {
            long long k = i - 260;
            int lead = !(k & 1);        /* alternate "▁xyz" and "xyz" */
            k >>= 1;
            size_t o = 0;
            if (lead) { memcpy(p, "\xe2\x96\x81", 3); o = 3; }
            char rev[8];
            int m = 0;
            do { rev[m++] = (char)('a' + k % 26); k = k / 26 - 1; } while (k >= 0 && m < 8);
            while (m) p[o++] = rev[--m];
            p[o] = 0;
            type[i] = 1;
            score[i] = -(float)(i - 259);
        }
        tok[i].ptr = p;
        tok[i].len = strlen(p);
    }
    int rc = gguf_write_kv_str(w, "tokenizer.ggml.model", "llama", 5);
    if (!rc) rc = gguf_write_kv_str(w, "tokenizer.ggml.pre", "default", 7);
    if (!rc) rc = gguf_write_kv_arr_str(w, "tokenizer.ggml.tokens", tok, (uint64_t)n);
    if (!rc) rc = gguf_write_kv_arr(w, "tokenizer.ggml.scores", GGUF_TYPE_FLOAT32, score, (uint64_t)n);
    if (!rc) rc = gguf_write_kv_arr(w, "tokenizer.ggml.token_type", GGUF_TYPE_INT32, type, (uint64_t)n);
    if (!rc) rc = gguf_write_kv_u32(w, "tokenizer.ggml.bos_token_id", 1);
    if (!rc) rc = gguf_write_kv_u32(w, "tokenizer.ggml.eos_token_id", 2);
    if (!rc) rc = gguf_write_kv_u32(w, "tokenizer.ggml.unknown_token_id", 0);
    if (!rc) rc = gguf_write_kv_bool(w, "tokenizer.ggml.add_bos_token", 1);
    if (!rc) rc = gguf_write_kv_bool(w, "tokenizer.ggml.add_eos_token", 0);
    free(tok);
    free(score);
    free(type);
    free(text);
    return rc;
}

/* Opens the 32000-token Llama-2 vocab from $LLMQ_SHARED_DIR, ./shared or ../shared. */
static struct gguf_file *open_spm_vocab(const char *explicit_path)
{
    char path[4096];
    const char *env = getenv("LLMQ_SHARED_DIR");
    const char *cands[] = { env, "shared", "../shared" };
    struct gguf_file *f = NULL;
    struct err e;
    if (explicit_path && *explicit_path) return gguf_open(&f, explicit_path, &e) == 0 ? f : NULL;
    for (size_t i = 0; i < sizeof(cands) / sizeof(cands[0]); i++) {
        if (!cands[i] || !*cands[i]) continue;
        snprintf(path, sizeof(path), "%s/%s", cands[i], SPM_VOCAB_FILE);
        if (access(path, R_OK) == 0 && gguf_open(&f, path, &e) == 0) return f;
    }
    return NULL;
}

/* ------------------------------------------------------------------ the command */

static void like_shape(const struct gguf_file *f, struct shape *s)
{
    struct gguf_str arch;
    char key[128], a[32] = "llama";
    uint32_t v;
    float fv;
    if (gguf_get_str(f, "general.architecture", &arch) == 0 && arch.len < sizeof(a)) {
        memcpy(a, arch.ptr, arch.len);
        a[arch.len] = 0;
    }
#define GET_U32(field, suffix) \
    snprintf(key, sizeof(key), "%s.%s", a, suffix); \
    if (gguf_get_u32(f, key, &v) == 0) s->field = v;
    GET_U32(layers, "block_count");
    GET_U32(dim, "embedding_length");
    GET_U32(heads, "attention.head_count");
    GET_U32(kv_heads, "attention.head_count_kv");
    GET_U32(ffn, "feed_forward_length");
    GET_U32(ctx, "context_length");
#undef GET_U32
    snprintf(key, sizeof(key), "%s.rope.freq_base", a);
    if (gguf_get_f32(f, key, &fv) == 0) s->rope_base = fv;
    snprintf(key, sizeof(key), "%s.attention.layer_norm_rms_epsilon", a);
    if (gguf_get_f32(f, key, &fv) == 0) s->rms_eps = fv;
    s->tied = gguf_find_tensor(f, "token_embd.weight") && !gguf_find_tensor(f, "output.weight");
}

static const char usage[] =
    "usage: llmq mkmodel --out M.gguf [--shape 110m|1b] [--like X.gguf] [--type f16|bf16|q8_0|q4_0|q4_k_m|q6_k|f32]\n"
    "                    [--layers N --dim D --heads H --kv-heads K --ffn F --vocab V] [--seed S]\n"
    "Writes a llama GGUF with random weights (tensor types as llama-quantize assigns them).\n"
    "--like copies the tokenizer and the shape of X (flags override the shape).";

int llama_cli_mkmodel(int argc, char **argv)
{
    char *out = NULL, *like = NULL, *type_name = NULL, *shape_name = NULL, *vocab_file = NULL;
    char *name = NULL;
    long long layers = 0, dim = 0, heads = 0, kv_heads = 0, ffn = 0, vocab = 0, ctx = 0;
    long long seed = 1, threads = 0;
    int tied = -1, quiet = 0;
    const struct cfg_opt opts[] = {
        { "out", CFG_STR, &out, "output GGUF path (required)" },
        { "like", CFG_STR, &like, "copy tokenizer and shape from this GGUF" },
        { "shape", CFG_STR, &shape_name, "110m (768x12, 12/12 heads, ffn 2048) or 1b (2048x16, 32/8, 5632)" },
        { "type", CFG_STR, &type_name, "f32, f16, bf16, q8_0, q4_0, q4_k_m, q6_k (default f16)" },
        { "layers", CFG_INT, &layers, "transformer blocks (0: from --like/--shape, else 4)" },
        { "dim", CFG_INT, &dim, "model width (n_embd)" },
        { "heads", CFG_INT, &heads, "attention heads" },
        { "kv-heads", CFG_INT, &kv_heads, "key/value heads (GQA)" },
        { "ffn", CFG_INT, &ffn, "feed-forward width" },
        { "vocab", CFG_INT, &vocab, "vocabulary size (32000 = Llama-2 SPM vocab when found)" },
        { "ctx", CFG_INT, &ctx, "context_length written to the file" },
        { "vocab-file", CFG_STR, &vocab_file, "GGUF to take the 32000-token vocab from" },
        { "name", CFG_STR, &name, "general.name" },
        { "tied", CFG_BOOL, &tied, "no output.weight, logits use token_embd (unset: as --like, else separate)" },
        { "seed", CFG_INT, &seed, "random seed" },
        { "threads", CFG_INT, &threads, "worker threads (0 = online CPUs)" },
        { "quiet", CFG_BOOL, &quiet, "no summary line" },
        { NULL, 0, NULL, NULL },
    };
    struct err e = { 0 };
    struct gguf_file *likef = NULL, *vocf = NULL;
    struct gguf_write *w = NULL;
    struct tdesc *td = NULL;
    uint8_t *chunk = NULL;
    int rc = cfg_parse(opts, argc, argv, 1, usage, NULL, &e);
    int status = 2;
    if (rc == 1) { status = 0; goto done; }
    if (rc < 0) { fprintf(stderr, "llmq mkmodel: %s\n", e.msg); goto done; }
    if (!out || !*out) { fprintf(stderr, "llmq mkmodel: --out is required (see --help)\n"); goto done; }

    int ft = -1;
    const char *tn = type_name && *type_name ? type_name : "f16";
    for (size_t i = 0; i < sizeof(ftypes) / sizeof(ftypes[0]); i++)
        if (!strcasecmp(tn, ftypes[i].name)) ft = (int)i;
    if (ft < 0) { fprintf(stderr, "llmq mkmodel: unknown --type '%s'\n", tn); goto done; }

    /* shape: defaults < --shape < --like < flags */
    struct shape s = { 4, 256, 8, 4, 768, 32000, 2048, 0, 10000.f, 1e-5f };
    if (shape_name && *shape_name) {
        if (!strcasecmp(shape_name, "110m"))
            s = (struct shape){ 12, 768, 12, 12, 2048, 32000, 2048, 0, 10000.f, 1e-5f };
        else if (!strcasecmp(shape_name, "1b"))
            s = (struct shape){ 16, 2048, 32, 8, 5632, 32000, 2048, 0, 10000.f, 1e-5f };
        else { fprintf(stderr, "llmq mkmodel: unknown --shape '%s' (110m, 1b)\n", shape_name); goto done; }
    }
    if (like && *like) {
        if ((rc = gguf_open(&likef, like, &e)) < 0) {
            fprintf(stderr, "llmq mkmodel: --like %s: %s\n", like, e.msg);
            goto done;
        }
        like_shape(likef, &s);
    }
    if (layers) s.layers = layers;
    if (dim) s.dim = dim;
    if (heads) s.heads = heads;
    if (kv_heads) s.kv_heads = kv_heads;
    if (ffn) s.ffn = ffn;
    if (ctx) s.ctx = ctx;
    if (tied >= 0) s.tied = tied;
    if (s.layers < 1 || s.dim < 1 || s.heads < 1 || s.kv_heads < 1 || s.ffn < 1 || s.ctx < 1 ||
        s.dim % s.heads || s.heads % s.kv_heads || s.layers > 1000 || s.dim > 65536 || s.ffn > 262144) {
        fprintf(stderr, "llmq mkmodel: bad shape: layers %lld dim %lld heads %lld kv-heads %lld ffn %lld ctx %lld"
                " (dim must divide by heads, heads by kv-heads)\n", s.layers, s.dim, s.heads, s.kv_heads, s.ffn, s.ctx);
        goto done;
    }
    if (threads <= 0) threads = sysconf(_SC_NPROCESSORS_ONLN);
    if (threads < 1) threads = 1;
    if (threads > 64) threads = 64;

    if ((rc = gguf_write_new(&w, out, &e)) < 0) { fprintf(stderr, "llmq mkmodel: %s\n", e.msg); goto done; }

    /* tokenizer first (decides the vocab size), then the hyperparameters */
    long long nv = 0;
    if (likef) {
        if ((rc = copy_tokenizer(w, likef, &nv)) < 0) {
            fprintf(stderr, "llmq mkmodel: --like %s: no usable tokenizer (%s)\n", like, err_str(rc));
            goto done;
        }
        if (vocab && vocab != nv) {
            fprintf(stderr, "llmq mkmodel: --vocab %lld differs from --like's %lld tokens\n", vocab, nv);
            goto done;
        }
    } else {
        nv = vocab ? vocab : s.vocab;
        if (nv == 32000 && (vocf = open_spm_vocab(vocab_file)) != NULL) {
            long long got = 0;
            if ((rc = copy_tokenizer(w, vocf, &got)) < 0 || got != 32000) {
                fprintf(stderr, "llmq mkmodel: vocab file: unexpected tokenizer\n");
                goto done;
            }
        } else {
            if (vocab_file && *vocab_file) {
                fprintf(stderr, "llmq mkmodel: cannot open --vocab-file %s\n", vocab_file);
                goto done;
            }
            if (nv < 259 || nv > 1000000) {
                fprintf(stderr, "llmq mkmodel: --vocab %lld: a generated byte-level vocab needs 259..1000000 tokens\n", nv);
                goto done;
            }
            if ((rc = gen_tokenizer(w, nv)) < 0) goto write_fail;
        }
    }
    s.vocab = nv;

    char gname[128];
    snprintf(gname, sizeof(gname), "llmq-random-%lldx%lld-%s", s.dim, s.layers, ftypes[ft].name);
    const char *nm = name && *name ? name : gname;
    long long head_dim = s.dim / s.heads;
    rc = gguf_write_kv_str(w, "general.architecture", "llama", 5);
    if (!rc) rc = gguf_write_kv_str(w, "general.name", nm, strlen(nm));
    if (!rc) rc = gguf_write_kv_u32(w, "general.file_type", (uint32_t)ftypes[ft].ftype);
    if (!rc && ftypes[ft].ftype != FTYPE_F32 && ftypes[ft].ftype != FTYPE_F16 && ftypes[ft].ftype != FTYPE_BF16)
        rc = gguf_write_kv_u32(w, "general.quantization_version", 2);
    if (!rc) rc = gguf_write_kv_u32(w, "llama.context_length", (uint32_t)s.ctx);
    if (!rc) rc = gguf_write_kv_u32(w, "llama.embedding_length", (uint32_t)s.dim);
    if (!rc) rc = gguf_write_kv_u32(w, "llama.block_count", (uint32_t)s.layers);
    if (!rc) rc = gguf_write_kv_u32(w, "llama.feed_forward_length", (uint32_t)s.ffn);
    if (!rc) rc = gguf_write_kv_u32(w, "llama.attention.head_count", (uint32_t)s.heads);
    if (!rc) rc = gguf_write_kv_u32(w, "llama.attention.head_count_kv", (uint32_t)s.kv_heads);
    if (!rc) rc = gguf_write_kv_u32(w, "llama.rope.dimension_count", (uint32_t)head_dim);
    if (!rc) rc = gguf_write_kv_f32(w, "llama.rope.freq_base", s.rope_base);
    if (!rc) rc = gguf_write_kv_f32(w, "llama.attention.layer_norm_rms_epsilon", s.rms_eps);
    if (!rc) rc = gguf_write_kv_u32(w, "llama.vocab_size", (uint32_t)s.vocab);
    if (rc < 0) goto write_fail;

    /* tensors, with the scales of shared/testdata's random models */
    size_t n_td = 0, cap_td = (size_t)s.layers * 9 + 3;
    td = xcalloc(cap_td, sizeof(*td));
    const float fd = (float)s.dim, fq = (float)(head_dim * s.heads), ff = (float)s.ffn;
    struct tctx tc = { td, 0, ft, (int)s.layers };
    add_tensor(&tc, "token_embd", -1, s.dim, s.vocab, 0.5f);
    for (int il = 0; il < (int)s.layers; il++) {
        add_tensor(&tc, "attn_norm", il, s.dim, 0, 0.1f);
        add_tensor(&tc, "attn_q", il, s.dim, head_dim * s.heads, 1.f / sqrtf(fd));
        add_tensor(&tc, "attn_k", il, s.dim, head_dim * s.kv_heads, 1.f / sqrtf(fd));
        add_tensor(&tc, "attn_v", il, s.dim, head_dim * s.kv_heads, 1.f / sqrtf(fd));
        add_tensor(&tc, "attn_output", il, head_dim * s.heads, s.dim, 0.3f / sqrtf(fq));
        add_tensor(&tc, "ffn_norm", il, s.dim, 0, 0.1f);
        add_tensor(&tc, "ffn_gate", il, s.dim, s.ffn, 1.f / sqrtf(fd));
        add_tensor(&tc, "ffn_up", il, s.dim, s.ffn, 1.f / sqrtf(fd));
        add_tensor(&tc, "ffn_down", il, s.ffn, s.dim, 4.f / sqrtf(ff));
    }
    add_tensor(&tc, "output_norm", -1, s.dim, 0, 0.1f);
    if (!s.tied) add_tensor(&tc, "output", -1, s.dim, s.vocab, 0.5f);
    n_td = tc.n;
    uint64_t total = 0;
    for (size_t i = 0; i < n_td; i++) {
        if ((rc = gguf_write_tensor_add(w, td[i].name, td[i].n_dims, td[i].ne, td[i].type)) < 0)
            goto write_fail;
        total += gguf_write_tensor_bytes(w, (uint32_t)i);
    }

    uint64_t t0 = clock_mono_us();
    const size_t chunk_cap = 8u << 20;
    chunk = xmalloc(chunk_cap);         /* >= one row: rows are at most 262144 f32 = 1 MB */
    for (size_t i = 0; i < n_td; i++)
        if ((rc = write_tensor(w, &td[i], (uint32_t)i, (uint64_t)seed, (int)threads, chunk, chunk_cap)) < 0)
            goto write_fail;
    if ((rc = gguf_write_finish(w, &e)) < 0) { fprintf(stderr, "llmq mkmodel: %s\n", e.msg); goto done; }
    if (!quiet)
        printf("wrote %s: llama %lldx%lld, heads %lld/%lld, ffn %lld, vocab %lld%s, %s, %zu tensors, "
               "%.1f MB of weights, %.1f s\n", out, s.dim, s.layers, s.heads, s.kv_heads, s.ffn, s.vocab,
               s.tied ? " (tied output)" : "", ftypes[ft].name, n_td, (double)total / 1e6,
               (double)(clock_mono_us() - t0) / 1e6);
    status = 0;
    goto done;
write_fail:
    fprintf(stderr, "llmq mkmodel: writing %s: %s\n", out, err_str(rc));
    status = 1;
done:
    free(chunk);
    free(td);
    gguf_write_free(w);
    gguf_close(likef);
    gguf_close(vocf);
    cfg_free(opts);
    return status;
}
