/* forward.c -- see forward.h. Numerics follow llama.cpp's CPU path where it matters for
 * matching its logits: RMSNorm sums squares in double, RoPE angles are built by repeated
 * multiplication with base^(-2/n_dims) in float, K and V are stored as f16, Q is rounded to
 * f16 before Q.K and the softmax weights to f16 before the V sum (ggml converts the
 * right-hand side of an f16 product to f16), and matrix products round their activations
 * to the weight type's activation type (matmul.c). */
#include "engine/llama/forward.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "common/xalloc.h"
#include "engine/llama/quant.h"

/* ============================ context =============================================== */

int llama_device_resolve(enum llama_device d, enum llama_device *out, struct err *e)
{
    *out = d;
    if (d != LLAMA_DEVICE_DEFAULT) return 0;
    const char *env = getenv("LLMQ_DEVICE");
    *out = LLAMA_DEVICE_CPU;
    if (!env || !*env || !strcmp(env, "cpu")) return 0;
    if (strcmp(env, "cuda")) return err_set(e, -EINVAL, "LLMQ_DEVICE='%.32s': expected cpu or cuda", env);
    *out = LLAMA_DEVICE_CUDA;
    return 0;
}

/* The backend a device needs, or an error saying why there is none. */
static int device_backend(enum llama_device d, const struct backend_i **out, struct err *e)
{
    *out = NULL;
    int rc = llama_device_resolve(d, &d, e);
    if (rc < 0) return rc;
    if (d == LLAMA_DEVICE_CPU) return 0;
    if (d != LLAMA_DEVICE_CUDA) return err_set(e, -EINVAL, "unknown device %d", (int)d);
#ifdef LLMQ_HAVE_CUDA
    *out = backend_cuda();
    return 0;
#else
    return err_set(e, LLMQ_EUNSUPPORTED, "this build has no CUDA backend (configure with -DLLMQ_CUDA=ON)");
#endif
}

int llama_device_probe(enum llama_device d, struct err *e)
{
    const struct backend_i *be;
    int rc = device_backend(d, &be, e);
    if (rc < 0 || !be) return rc;
    char why[256] = "";
    if ((rc = be->probe(why, sizeof(why))) < 0) return err_set(e, rc, "%s", why);
    return 0;
}

static void matrix_desc(struct backend_matrix *o, const struct mm_weight *w)
{
    *o = (struct backend_matrix){ .type = (int)w->type, .rows = w->rows, .cols = w->cols,
                                  .data = w->data, .row_bytes = w->row_bytes };
}

/* Describes the model to the backend and lets it upload the weights. */
static int backend_start(struct llama_ctx *c, struct err *e)
{
    const struct llama_model *m = c->m;
    const struct llama_hparams *hp = &m->hp;
    struct backend_layer *layers = xcalloc((size_t)hp->n_layer, sizeof(*layers));
    for (int l = 0; l < hp->n_layer; l++) {
        const struct llama_layer *L = &m->layers[l];
        struct backend_layer *B = &layers[l];
        B->attn_norm = L->attn_norm;
        B->ffn_norm = L->ffn_norm;
        B->bq = L->bq;
        B->bk = L->bk;
        B->bv = L->bv;
        matrix_desc(&B->wq, &L->wq);
        matrix_desc(&B->wk, &L->wk);
        matrix_desc(&B->wv, &L->wv);
        matrix_desc(&B->wo, &L->wo);
        matrix_desc(&B->w_gate, &L->w_gate);
        matrix_desc(&B->w_up, &L->w_up);
        matrix_desc(&B->w_down, &L->w_down);
    }
    struct backend_model bm = {
        .n_vocab = hp->n_vocab, .n_embd = hp->n_embd, .n_layer = hp->n_layer, .n_head = hp->n_head,
        .n_head_kv = hp->n_head_kv, .head_dim = hp->head_dim, .n_ff = hp->n_ff,
        .rope_dim = hp->rope_dim, .rope_neox = hp->rope_neox, .rms_eps = hp->rms_eps,
        .f16_act = quant_traits(GGML_TYPE_F16)->act_type == QUANT_ACT_F16R,
        .f32_act = quant_traits(GGML_TYPE_Q8_0)->act_type == GGML_TYPE_F32,
        .out_norm = m->out_norm, .layers = layers,
    };
    matrix_desc(&bm.tok_embd, &m->tok_embd);
    matrix_desc(&bm.output, &m->output);
    struct backend_ctx_desc d = { .batch_tokens = c->batch_tokens, .max_seqs = c->max_batch,
                                  .ctx_len = c->ctx_len, .kv_pages = c->kv.n_pages, .kv_page = KV_PAGE };
    char why[256] = "";
    int rc = c->be->init(&c->be_state, &bm, &d, why, sizeof(why));
    free(layers);
    if (rc < 0) return err_set(e, rc, "%s", why);
    return 0;
}

static void *try_alloc(size_t n, int *fail)
{
    void *p = aligned_alloc(64, (n + 63) & ~(size_t)63);
    if (!p) *fail = 1;
    return p;
}

int llama_ctx_new(struct llama_ctx **out, const struct llama_model *m,
                  const struct llama_ctx_params *p, struct err *e)
{
    const struct llama_hparams *hp = &m->hp;
    if (p->max_batch < 1 || p->max_batch > 4096 || p->ctx_len < 0 || p->threads < 0 ||
        p->threads > 256 || p->batch_tokens < 0 || p->kv_positions < 0)
        return err_set(e, -EINVAL, "bad context parameters (max_batch %d, ctx_len %d, threads %d)",
                       p->max_batch, p->ctx_len, p->threads);
    struct llama_ctx *c = xcalloc(1, sizeof(*c));
    int fail = 0, rc;
    c->m = m;
    c->max_batch = p->max_batch;
    c->ctx_len = p->ctx_len ? p->ctx_len : hp->n_ctx_train;
    c->batch_tokens = p->batch_tokens ? p->batch_tokens : 256;
    if (c->batch_tokens < c->max_batch) c->batch_tokens = c->max_batch;
    const struct backend_i *be;
    if ((rc = device_backend(p->device, &be, e)) < 0) goto fail;
    c->be = be;
    int threads = be ? 1 : p->threads;   /* a device pass needs no compute threads */
    if (!threads) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        threads = n > 0 ? (int)n : 1;
    }
    c->tp = threadpool_new(threads);
    if (!c->tp) {
        rc = err_set(e, -ENOMEM, "cannot start %d compute threads", threads);
        goto fail;
    }
    int kv_dim = hp->n_head_kv * hp->head_dim;
    long long kv_pos = p->kv_positions ? p->kv_positions : (long long)c->max_batch * c->ctx_len;
    if (kv_pos > (1LL << 30) ||
        (rc = (be ? kv_pool_init_table : kv_pool_init)(&c->kv, hp->n_layer, kv_dim, (int)kv_pos)) < 0) {
        rc = err_set(e, -ENOMEM, "cannot allocate the KV cache (%lld positions x %d layers x %d)",
                     kv_pos, hp->n_layer, kv_dim);
        goto fail;
    }
    c->seqs = xcalloc((size_t)c->max_batch, sizeof(*c->seqs));
    for (int i = 0; i < c->max_batch; i++)
        if (kv_seq_init(&c->seqs[i].kv, c->ctx_len) < 0) fail = 1;
    size_t T = (size_t)c->batch_tokens, E = (size_t)hp->n_embd, F = (size_t)hp->n_ff;
    c->x = try_alloc(T * E * 4, &fail);
    c->xb = try_alloc(T * E * 4, &fail);
    c->q = try_alloc(T * E * 4, &fail);
    c->k = try_alloc(T * (size_t)kv_dim * 4, &fail);
    c->v = try_alloc(T * (size_t)kv_dim * 4, &fail);
    c->att = try_alloc(T * E * 4, &fail);
    c->hb = try_alloc(T * F * 4, &fail);
    c->hb2 = try_alloc(T * F * 4, &fail);
    c->logits = try_alloc(T * (size_t)hp->n_vocab * 4, &fail);
    c->rope_cs = try_alloc(T * (size_t)hp->rope_dim * 4, &fail);
    c->att_scratch = try_alloc((size_t)threads * (size_t)(c->ctx_len + 17 * hp->head_dim) * 4, &fail);
    c->att_pages = try_alloc((size_t)threads * (size_t)(c->ctx_len / KV_PAGE + 1) * sizeof(*c->att_pages), &fail);
    c->tok = try_alloc(T * sizeof(int32_t), &fail);
    c->pos = try_alloc(T * sizeof(int), &fail);
    c->tseq = try_alloc(T * sizeof(void *), &fail);
    c->out_tok = try_alloc(T * sizeof(int), &fail);
    c->out_dst = try_alloc(T * sizeof(float *), &fail);
    c->item_base = try_alloc((size_t)c->max_batch * sizeof(int), &fail);
    if (mm_act_init(&c->act_x, (int)T, (int)E) < 0) fail = 1;
    if (mm_act_init(&c->act_att, (int)T, (int)E) < 0) fail = 1;
    if (mm_act_init(&c->act_ff, (int)T, (int)F) < 0) fail = 1;
    if (be) {
        int per_seq = (c->ctx_len + KV_PAGE - 1) / KV_PAGE;
        c->pass_page_off = try_alloc(T * sizeof(int), &fail);
        c->pass_pages = try_alloc((size_t)c->max_batch * (size_t)(per_seq > 0 ? per_seq : 1) * sizeof(int), &fail);
    }
    if (fail) {
        rc = err_set(e, -ENOMEM, "cannot allocate buffers for %d tokens per pass", c->batch_tokens);
        goto fail;
    }
    if (be && (rc = backend_start(c, e)) < 0) goto fail;
    *out = c;
    return 0;
fail:
    llama_ctx_free(c);
    return rc;
}

void llama_ctx_free(struct llama_ctx *c)
{
    if (!c) return;
    if (c->be) c->be->free(c->be_state);
    free(c->pass_page_off);
    free(c->pass_pages);
    threadpool_free(c->tp);
    if (c->seqs)
        for (int i = 0; i < c->max_batch; i++) kv_seq_deinit(&c->kv, &c->seqs[i].kv);
    free(c->seqs);
    kv_pool_deinit(&c->kv);
    void *bufs[] = { c->x, c->xb, c->q, c->k, c->v, c->att, c->hb, c->hb2, c->logits, c->rope_cs,
                     c->att_scratch, (void *)c->att_pages, c->tok, c->pos, c->tseq, c->out_tok, c->out_dst, c->item_base };
    for (size_t i = 0; i < sizeof(bufs) / sizeof(bufs[0]); i++) free(bufs[i]);
    mm_act_deinit(&c->act_x);
    mm_act_deinit(&c->act_att);
    mm_act_deinit(&c->act_ff);
    free(c);
}

int llama_ctx_len(const struct llama_ctx *c) { return c->ctx_len; }
int llama_ctx_threads(const struct llama_ctx *c) { return threadpool_size(c->tp); }
const char *llama_ctx_device(const struct llama_ctx *c) { return c->be ? c->be->name : "cpu"; }
const struct llama_model *llama_ctx_model(const struct llama_ctx *c) { return c->m; }

int llama_seq_new(struct llama_ctx *c, struct llama_seq **out)
{
    for (int i = 0; i < c->max_batch; i++) {
        if (!c->seqs[i].in_use) {
            c->seqs[i].in_use = 1;
            c->seqs[i].kv.len = 0;
            *out = &c->seqs[i];
            return 0;
        }
    }
    return -EBUSY;
}

void llama_seq_free(struct llama_ctx *c, struct llama_seq *s)
{
    if (!s) return;
    kv_seq_truncate(&c->kv, &s->kv, 0);
    s->in_use = 0;
}

int llama_seq_pos(const struct llama_seq *s) { return s->kv.len; }

void llama_seq_truncate(struct llama_ctx *c, struct llama_seq *s, int pos)
{
    if (pos < 0) pos = 0;
    kv_seq_truncate(&c->kv, &s->kv, pos);
}

/* ============================ building blocks ======================================= */

static void rmsnorm(float *o, const float *x, const float *w, int n, float eps)
{
    double s = 0;
    for (int i = 0; i < n; i++) s += (double)(x[i] * x[i]);
    float scale = 1.0f / sqrtf((float)(s / n) + eps);
    for (int i = 0; i < n; i++) o[i] = (x[i] * scale) * w[i];
}

/* cos/sin pairs for one position, as ggml_rope_cache_init builds them (freqs: per-pair
 * divisors from rope_freqs.weight, or NULL). */
static void rope_angles(float *cs, int pos, const struct llama_hparams *hp, const float *freqs)
{
    float theta_scale = powf(hp->rope_freq_base, -2.0f / (float)hp->rope_dim);
    float theta = (float)pos;
    for (int i0 = 0; i0 < hp->rope_dim; i0 += 2) {
        float t = hp->rope_freq_scale * (freqs ? theta / freqs[i0 / 2] : theta);
        cs[i0] = cosf(t);
        cs[i0 + 1] = sinf(t);
        theta *= theta_scale;
    }
}

static void rope_apply(float *x, int n_heads, const float *cs, const struct llama_hparams *hp)
{
    int hd = hp->head_dim, nd = hp->rope_dim;
    for (int h = 0; h < n_heads; h++) {
        float *v = x + h * hd;
        if (hp->rope_neox) {
            for (int i0 = 0; i0 < nd; i0 += 2) {
                int ic = i0 / 2;
                float c = cs[i0], s = cs[i0 + 1], x0 = v[ic], x1 = v[ic + nd / 2];
                v[ic] = x0 * c - x1 * s;
                v[ic + nd / 2] = x0 * s + x1 * c;
            }
        } else {
            for (int i0 = 0; i0 < nd; i0 += 2) {
                float c = cs[i0], s = cs[i0 + 1], x0 = v[i0], x1 = v[i0 + 1];
                v[i0] = x0 * c - x1 * s;
                v[i0 + 1] = x0 * s + x1 * c;
            }
        }
    }
}

/* The V sum puts position j in partial sum j % 16 and walks the cache a page at a time, so a
 * page's positions must be exactly those of the 16 partial sums. */
_Static_assert(KV_PAGE == 16, "attention_job's V sum assumes 16 positions per KV page");

/* Chunk = att_chunk(c) consecutive (token, head) pairs; ith picks the scratch. One pair per
 * chunk when a pass has few (a decode step of one sequence: 4 heads a chunk left 12 heads in
 * 3 chunks for 2 threads, and one thread waited a third of the time), else ATT_CHUNK. */
#define ATT_CHUNK 4
static int att_chunk(const struct llama_ctx *c)
{
    return c->n_tok * c->m->hp.n_head <= 64 ? 1 : ATT_CHUNK;
}
static void attention_job(void *arg, int chunk, int ith)
{
    struct llama_ctx *c = arg;
    const struct llama_hparams *hp = &c->m->hp;
    int H = hp->n_head, hd = hp->head_dim, gqa = hp->n_head / hp->n_head_kv, E = hp->n_embd;
    float scale = 1.0f / sqrtf((float)hd);
    float *scores = c->att_scratch + (size_t)ith * (size_t)(c->ctx_len + 17 * hd);
    float *qf = scores + c->ctx_len, *part = qf + hd;
    const uint16_t **vpages = c->att_pages + (size_t)ith * (size_t)(c->ctx_len / KV_PAGE + 1);
    int per = att_chunk(c);
    int idx_end = (chunk + 1) * per < c->n_tok * H ? (chunk + 1) * per : c->n_tok * H;
    for (int idx = chunk * per; idx < idx_end; idx++) {
        int t = idx / H, h = idx % H, g = h / gqa, p = c->pos[t];
        const struct kv_seq *ks = &c->tseq[t]->kv;
        const float *qh = c->q + (size_t)t * E + (size_t)h * hd;
        memcpy(qf, qh, (size_t)hd * sizeof(float));
        quant_round_fp16_row(qf, hd);
        float mx = -INFINITY;
        for (int j0 = 0; j0 <= p; j0 += KV_PAGE) {      /* a page of positions per call */
            int n = p + 1 - j0 < KV_PAGE ? p + 1 - j0 : KV_PAGE;
            quant_dot_f16_f32_rows(hd, kv_k(&c->kv, ks, c->layer, j0) + g * hd, (size_t)c->kv.kv_dim, n, qf,
                                   scores + j0);
        }
        for (int j = 0; j <= p; j++) {
            float s = scores[j] * scale;
            scores[j] = s;
            if (s > mx) mx = s;
        }
        double sum = 0;
        for (int j = 0; j <= p; j++) {
            float ev = expf(scores[j] - mx);
            scores[j] = ev;
            sum += ev;
        }
        float inv = (float)(1.0 / sum);
        /* V sum in the order of llamafile's tinyBLAS over positions (16 lanes: position j
         * goes to partial sum j % 16, each an FMA chain; then the lanes are added pairwise),
         * which is what llama.cpp's CPU path runs for this product. */
        float *o = c->att + (size_t)t * E + (size_t)h * hd;
        int lanes = p + 1 < 16 ? p + 1 : 16;
        for (int j = 0; j <= p; j++) scores[j] *= inv;
        quant_round_fp16_row(scores, p + 1);
        for (int k = 0; k * KV_PAGE <= p; k++) vpages[k] = kv_v(&c->kv, ks, c->layer, k * KV_PAGE) + g * hd;
        quant_vsum_f16(hd, scores, p + 1, vpages, (size_t)c->kv.kv_dim, part);
        for (int w = 8; w >= 1; w /= 2)
            for (int l = 0; l < w && l + w < 16; l++) {
                if (l + w >= lanes) continue;        /* that lane got no position: all zero */
                float *dst = part + (size_t)l * hd, *src = part + (size_t)(l + w) * hd;
                for (int i = 0; i < hd; i++) dst[i] += src[i];
            }
        memcpy(o, part, (size_t)hd * sizeof(float));
    }
}

static void add_bias(float *x, const float *b, int rows, int n)
{
    if (!b) return;
    for (int t = 0; t < rows; t++)
        for (int i = 0; i < n; i++) x[(size_t)t * n + i] += b[i];
}

/* ============================ one pass ============================================== */

static void forward_pass(struct llama_ctx *c)
{
    const struct llama_model *m = c->m;
    const struct llama_hparams *hp = &m->hp;
    int T = c->n_tok, E = hp->n_embd, F = hp->n_ff, KV = hp->n_head_kv * hp->head_dim;
    long long att_work = 0;
    for (int t = 0; t < T; t++) att_work += (long long)(c->pos[t] + 1) * E;
    for (int t = 0; t < T; t++) {
        quant_dequant_row(m->tok_embd.type, (const char *)m->tok_embd.data +
                          (size_t)c->tok[t] * m->tok_embd.row_bytes, c->x + (size_t)t * E, E);
        rope_angles(c->rope_cs + (size_t)t * hp->rope_dim, c->pos[t], hp, m->rope_freqs);
    }
    for (int l = 0; l < hp->n_layer; l++) {
        const struct llama_layer *L = &m->layers[l];
        for (int t = 0; t < T; t++)
            rmsnorm(c->xb + (size_t)t * E, c->x + (size_t)t * E, L->attn_norm, E, hp->rms_eps);
        mm_act_set(&c->act_x, c->xb, T, E);
        matmul(c->tp, &L->wq, &c->act_x, c->q, E, &L->wk);
        matmul(c->tp, &L->wk, &c->act_x, c->k, KV, &L->wv);
        matmul(c->tp, &L->wv, &c->act_x, c->v, KV, &L->wo);
        add_bias(c->q, L->bq, T, E);
        add_bias(c->k, L->bk, T, KV);
        add_bias(c->v, L->bv, T, KV);
        for (int t = 0; t < T; t++) {
            const float *cs = c->rope_cs + (size_t)t * hp->rope_dim;
            rope_apply(c->q + (size_t)t * E, hp->n_head, cs, hp);
            rope_apply(c->k + (size_t)t * KV, hp->n_head_kv, cs, hp);
            const struct kv_seq *ks = &c->tseq[t]->kv;
            quant_fp32_to_fp16_row(c->k + (size_t)t * KV, kv_k(&c->kv, ks, l, c->pos[t]), KV);
            quant_fp32_to_fp16_row(c->v + (size_t)t * KV, kv_v(&c->kv, ks, l, c->pos[t]), KV);
        }
        c->layer = l;
        int att_chunks = (T * hp->n_head + att_chunk(c) - 1) / att_chunk(c);
        if (att_work < 65536) {                          /* too small to share out */
            for (int k = 0; k < att_chunks; k++) attention_job(c, k, 0);
        } else {
            struct threadpool_next wo_next;
            matmul_next(c->tp, &L->wo, T, &wo_next);
            threadpool_run_next(c->tp, attention_job, c, att_chunks, &wo_next);
        }
        mm_act_set(&c->act_att, c->att, T, E);
        matmul(c->tp, &L->wo, &c->act_att, c->xb, E, &L->w_gate);
        for (size_t i = 0; i < (size_t)T * E; i++) c->x[i] += c->xb[i];

        for (int t = 0; t < T; t++)
            rmsnorm(c->xb + (size_t)t * E, c->x + (size_t)t * E, L->ffn_norm, E, hp->rms_eps);
        mm_act_set(&c->act_x, c->xb, T, E);
        matmul(c->tp, &L->w_gate, &c->act_x, c->hb, F, &L->w_up);
        matmul(c->tp, &L->w_up, &c->act_x, c->hb2, F, &L->w_down);
        for (size_t i = 0; i < (size_t)T * F; i++) {
            float g = c->hb[i];
            c->hb[i] = g / (1.0f + expf(-g)) * c->hb2[i];
        }
        mm_act_set(&c->act_ff, c->hb, T, F);
        matmul(c->tp, &L->w_down, &c->act_ff, c->xb, E,
               l + 1 < hp->n_layer ? &m->layers[l + 1].wq : c->n_out ? &m->output : NULL);
        for (size_t i = 0; i < (size_t)T * E; i++) c->x[i] += c->xb[i];
    }
    if (!c->n_out) return;
    for (int j = 0; j < c->n_out; j++)
        rmsnorm(c->xb + (size_t)j * E, c->x + (size_t)c->out_tok[j] * E, m->out_norm, E, hp->rms_eps);
    mm_act_set(&c->act_x, c->xb, c->n_out, E);
    matmul(c->tp, &m->output, &c->act_x, c->logits, hp->n_vocab, NULL);
    for (int j = 0; j < c->n_out; j++)
        memcpy(c->out_dst[j], c->logits + (size_t)j * hp->n_vocab, (size_t)hp->n_vocab * sizeof(float));
}

/* The same pass on a device: the host computes the RoPE table (bit-identical to the CPU's)
 * and flattens the page tables of the pass' sequences (a sequence's tokens are adjacent in
 * a pass, so each table is copied once); the backend does the rest. */
static int backend_pass(struct llama_ctx *c)
{
    const struct llama_model *m = c->m;
    const struct llama_hparams *hp = &m->hp;
    int n_pages = 0;
    for (int t = 0; t < c->n_tok; t++) {
        rope_angles(c->rope_cs + (size_t)t * hp->rope_dim, c->pos[t], hp, m->rope_freqs);
        if (t > 0 && c->tseq[t] == c->tseq[t - 1]) {
            c->pass_page_off[t] = c->pass_page_off[t - 1];
            continue;
        }
        const struct kv_seq *ks = &c->tseq[t]->kv;
        c->pass_page_off[t] = n_pages;
        memcpy(c->pass_pages + n_pages, ks->pages, (size_t)ks->n_pages * sizeof(int));
        n_pages += ks->n_pages;
    }
    struct backend_pass bp = { .n_tok = c->n_tok, .tok = c->tok, .pos = c->pos, .rope_cs = c->rope_cs,
                               .page_off = c->pass_page_off, .pages = c->pass_pages, .n_pages = n_pages,
                               .n_out = c->n_out, .out_tok = c->out_tok };
    char why[256] = "";
    int rc = c->be->forward(c->be_state, &bp, c->logits, why, sizeof(why));
    if (rc < 0) {
        log_error("llama: %s pass of %d tokens failed: %s", c->be->name, c->n_tok, why);
        return rc;
    }
    for (int j = 0; j < c->n_out; j++)
        memcpy(c->out_dst[j], c->logits + (size_t)j * hp->n_vocab, (size_t)hp->n_vocab * sizeof(float));
    return 0;
}

/* ============================ llama_eval ============================================ */

int llama_eval(struct llama_ctx *c, const struct llama_batch_item *items, int n_items)
{
    const struct llama_hparams *hp = &c->m->hp;
    if (n_items < 1 || n_items > c->max_batch) return -EINVAL;
    for (int i = 0; i < n_items; i++) {
        const struct llama_batch_item *it = &items[i];
        if (!it->seq || !it->seq->in_use || it->n_tokens < 1 || !it->tokens) return -EINVAL;
        for (int k = 0; k < i; k++)
            if (items[k].seq == it->seq) return -EINVAL;
        for (int k = 0; k < it->n_tokens; k++)
            if (it->tokens[k] < 0 || it->tokens[k] >= hp->n_vocab) return -EINVAL;
        if ((long long)it->seq->kv.len + it->n_tokens > c->ctx_len) return LLMQ_ETOOLARGE;
    }
    for (int i = 0; i < n_items; i++) {
        struct llama_seq *s = items[i].seq;
        int rc = kv_seq_reserve(&c->kv, &s->kv, s->kv.len + items[i].n_tokens);
        if (rc < 0) {
            for (int k = 0; k <= i; k++) kv_seq_truncate(&c->kv, &items[k].seq->kv, items[k].seq->kv.len);
            return rc;
        }
    }
    /* Passes of at most batch_tokens tokens; an item may continue in the next pass. */
    for (int i = 0; i < n_items; i++) c->item_base[i] = items[i].seq->kv.len;
    int item = 0, off = 0;
    while (item < n_items) {
        c->n_tok = c->n_out = 0;
        while (item < n_items && c->n_tok < c->batch_tokens) {
            const struct llama_batch_item *it = &items[item];
            int take = it->n_tokens - off;
            if (take > c->batch_tokens - c->n_tok) take = c->batch_tokens - c->n_tok;
            for (int k = 0; k < take; k++) {
                int tk = off + k, t = c->n_tok++;
                c->tok[t] = it->tokens[tk];
                c->pos[t] = c->item_base[item] + tk;
                c->tseq[t] = it->seq;
                if (it->logits && (it->all_logits || tk == it->n_tokens - 1)) {
                    c->out_tok[c->n_out] = t;
                    c->out_dst[c->n_out++] = it->logits + (it->all_logits ? (size_t)tk * hp->n_vocab : 0);
                }
            }
            off += take;
            if (off == it->n_tokens) {
                item++;
                off = 0;
            }
        }
        if (c->be) {
            int rc = backend_pass(c);
            if (rc < 0) return rc;
        } else {
            forward_pass(c);
        }
        /* Advance every sequence by what this pass wrote (positions are now readable). */
        for (int t = 0; t < c->n_tok; t++)
            if (c->pos[t] + 1 > c->tseq[t]->kv.len) c->tseq[t]->kv.len = c->pos[t] + 1;
    }
    return 0;
}

int llama_prefill(struct llama_ctx *c, struct llama_seq *s, const int32_t *tokens, int n,
                  float *logits)
{
    struct llama_batch_item it = { .seq = s, .tokens = tokens, .n_tokens = n, .logits = logits };
    return llama_eval(c, &it, 1);
}

int llama_decode(struct llama_ctx *c, struct llama_seq *const *seqs, const int32_t *tokens,
                 int n_seqs, float *logits)
{
    if (n_seqs < 1 || n_seqs > c->max_batch) return -EINVAL;
    struct llama_batch_item items[n_seqs];      /* <= max_batch entries */
    for (int i = 0; i < n_seqs; i++)
        items[i] = (struct llama_batch_item){ .seq = seqs[i], .tokens = &tokens[i], .n_tokens = 1,
                                              .logits = logits ? logits + (size_t)i * c->m->hp.n_vocab : NULL };
    return llama_eval(c, items, n_seqs);
}
