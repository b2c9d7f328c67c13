/* matmul.c -- see matmul.h. Rounding of the activations is split over the threads by
 * token; the product over chunks of weight rows, in tiles of ROW_TILE rows, each row applied
 * to the tokens in groups of TOK_TILE so the group's rounded activations stay in L1/L2. */
#include "engine/llama/matmul.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include "engine/llama/quant.h"

#define ROW_TILE 16
#define TOK_TILE 32

/* Rounded activations one token group may take, so the group stays in L1 (48 KB on the
 * Xeons measured) while the row tile's weights stream past: 16 tokens of F16's f32-width
 * activations at 2048 columns are 128 KB, and the multi-token kernel then reads them from L2
 * once per row (1B F16 at B=16 ran slower per token than at B=4). */
#define TOK_TILE_BYTES 36864
/* Activation bytes of one column chunk in the tile path (mul_tiles): a token group's chunk
 * stays in L2 (2 MB here) while the row tile walks it. Measured on 1B F16, batch 16 and
 * prefill: 32 KB (L1-sized chunks) 98 / 103 tok/s, 128 KB 112 / 116, 256 KB and up 109 / 128;
 * the 4 x 4 tile needs few enough loads per FMA that L2 feeds it. */
#define TILE_ACT_BYTES 262144
/* Multiply-adds below which waking another thread costs more than it saves (a dispatch is
 * ~1-2 us, and more on a busy host; 256k MACs take ~10 us). Tiny models stay on the caller. */
#define MIN_MACS_PER_THREAD 262144
/* The smallest piece once a product is shared out: a claim costs ~0.1-0.2 us, and 32k
 * multiply-adds (64 KB of F16 weights for one token) take 2-4 us. */
#define MIN_MACS_PER_CHUNK 32768
struct mm_plan {
    int n;
    int row_begin[THREADPOOL_MAX_PIECES + 1];  /* chunk c: rows [row_begin[c], row_begin[c + 1]) */
};
/* Most a waiting thread fetches of the next product (threadpool_next): well inside L2 (2 MB).
 * 110M F16 decode, 2 threads, runs alternated: no hints 106-110 tok/s, 128 KB 106-111,
 * 512 KB 114-116, 2 MB 114-118 (its chunks are up to 590 KB, except the output's). */
#define NEXT_PREFETCH_MAX (512u << 10)

int mm_act_init(struct mm_act *a, int max_rows, int max_cols)
{
    a->x = NULL;
    a->n = a->cols = 0;
    a->q_type = (enum ggml_type)-1;
    a->q_cap = (size_t)max_rows * (size_t)max_cols * 4 + 64;  /* f32 is the widest */
    a->q = aligned_alloc(64, (a->q_cap + 63) & ~(size_t)63);
    return a->q ? 0 : -ENOMEM;
}

void mm_act_deinit(struct mm_act *a)
{
    free(a->q);
    a->q = NULL;
}

void mm_act_set(struct mm_act *a, const float *x, int n, int cols)
{
    a->x = x;
    a->n = n;
    a->cols = cols;
    a->q_type = (enum ggml_type)-1;
}

struct mm_job {
    const struct mm_weight *w;
    struct mm_act *a;
    float *y;
    int y_stride;
    quant_dot_fn *dot;
    quant_dotn_fn *dotn;
    quant_tile_fn *tile;       /* set when the register-tile path applies (mul_tiles) */
    enum ggml_type act_type;
    const struct mm_plan *plan;
    int tok_tile;              /* tokens per group, <= TOK_TILE */
};

/* Rounds the activations of tokens [chunk * ROUND_TOK, ...). */
#define ROUND_TOK 4
static void round_job(void *p, int chunk, int ith)
{
    struct mm_job *j = p;
    struct mm_act *a = j->a;
    int t1 = (chunk + 1) * ROUND_TOK < a->n ? (chunk + 1) * ROUND_TOK : a->n;
    for (int t = chunk * ROUND_TOK; t < t1; t++)
        quant_act(j->act_type, a->x + (size_t)t * a->cols, (char *)a->q + (size_t)t * a->q_row_bytes,
                  a->cols);
}

/* Rows [r_begin, r_end) against every token with the register-tile kernel (float weights,
 * several tokens): per row tile and token group, the columns go in chunks whose activations
 * fit TILE_ACT_BYTES, each chunk computing 4 x 4 row-token products per pair of loads; the
 * partial sums live in acc between chunks and the last chunk reduces them exactly as dotn
 * would, so results do not depend on the path or the chunking. */
static void mul_tiles(struct mm_job *j, int r_begin, int r_end)
{
    const struct mm_weight *w = j->w;
    struct mm_act *a = j->a;
    const char *wd = w->data, *qd = a->q;
    static _Thread_local float acc[ROW_TILE * TOK_TILE * 16] __attribute__((aligned(64)));
    const size_t acc_rs = TOK_TILE * 16;
    for (int r0 = r_begin; r0 < r_end; r0 += ROW_TILE) {
        int r1 = r0 + ROW_TILE < r_end ? r0 + ROW_TILE : r_end;
        for (int tk0 = 0; tk0 < a->n; tk0 += TOK_TILE) {
            int tk1 = tk0 + TOK_TILE < a->n ? tk0 + TOK_TILE : a->n;
            int passes = (tk1 - tk0 + QUANT_TILE_TOKS - 1) / QUANT_TILE_TOKS;
            int kc = (int)(TILE_ACT_BYTES / ((size_t)(tk1 - tk0) * (a->q_row_bytes / w->cols)));
            kc = kc < 256 ? 256 : kc / 64 * 64;
            for (int c0 = 0; c0 < w->cols; c0 += kc) {
                int c1 = c0 + kc < w->cols ? c0 + kc : w->cols;
                for (int r = r0; r < r1; r += QUANT_TILE_ROWS) {
                    int nr = r1 - r < QUANT_TILE_ROWS ? r1 - r : QUANT_TILE_ROWS;
                    for (int t = tk0; t < tk1; t += QUANT_TILE_TOKS) {
                        int nt = tk1 - t < QUANT_TILE_TOKS ? tk1 - t : QUANT_TILE_TOKS;
                        /* the passes of the first token group fetch the next rows, spread
                         * evenly: pass p asks for rows [p * per, (p + 1) * per) of them */
                        int pass = (t - tk0) / QUANT_TILE_TOKS, per = (QUANT_TILE_ROWS + passes - 1) / passes;
                        int pf_first = pass * per, pf_nr = QUANT_TILE_ROWS - pf_first < per ? QUANT_TILE_ROWS - pf_first : per;
                        const char *pf = tk0 == 0 && pf_nr > 0
                                             ? wd + (size_t)(r + QUANT_TILE_ROWS + pf_first) * w->row_bytes : NULL;
                        j->tile(c0, c1, c0 == 0, wd + (size_t)r * w->row_bytes, w->row_bytes, nr,
                                qd + (size_t)t * a->q_row_bytes, a->q_row_bytes, nt,
                                acc + (size_t)(r - r0) * acc_rs + (size_t)(t - tk0) * 16, acc_rs,
                                c1 == w->cols ? j->y + (size_t)t * j->y_stride + r : NULL,
                                (size_t)j->y_stride, pf, pf_nr);
                    }
                }
            }
        }
    }
}

/* Rows [plan->row_begin[chunk], plan->row_begin[chunk + 1]) against every token. */
static void mul_job(void *p, int chunk, int ith)
{
    struct mm_job *j = p;
    const struct mm_weight *w = j->w;
    struct mm_act *a = j->a;
    int r_begin = j->plan->row_begin[chunk], r_end = j->plan->row_begin[chunk + 1];
    if (j->tile) {
        mul_tiles(j, r_begin, r_end);
        return;
    }
    const char *wd = w->data, *qd = a->q;
    for (int r0 = r_begin; r0 < r_end; r0 += ROW_TILE) {
        int r1 = r0 + ROW_TILE < r_end ? r0 + ROW_TILE : r_end;
        for (int tk0 = 0; tk0 < a->n; tk0 += j->tok_tile) {
            int tk1 = tk0 + j->tok_tile < a->n ? tk0 + j->tok_tile : a->n;
            for (int r = r0; r < r1; r++) {
                const void *row = wd + (size_t)r * w->row_bytes;
                if (j->dotn) {
                    float out[TOK_TILE];
                    j->dotn(w->cols, row, qd + (size_t)tk0 * a->q_row_bytes, a->q_row_bytes,
                            tk1 - tk0, out);
                    for (int t = tk0; t < tk1; t++) j->y[(size_t)t * j->y_stride + r] = out[t - tk0];
                } else {
                    for (int t = tk0; t < tk1; t++)
                        j->y[(size_t)t * j->y_stride + r] =
                            j->dot(w->cols, row, qd + (size_t)t * a->q_row_bytes);
                }
            }
        }
    }
}

/* How a product of w with n tokens is cut into pool chunks on `threads` threads. None is
 * cut when the whole is below the size where handing a piece to another thread costs more
 * than computing it (MIN_MACS_PER_THREAD). Otherwise the pieces shrink as they go ("guided"):
 * each takes 1 / (2 x threads) of the row tiles left, none below MIN_MACS_PER_CHUNK, so the
 * threads start on large pieces and end on small ones, and whoever finishes first waits at
 * most a small piece for the others. */
static void plan_chunks(const struct mm_weight *w, int n, int threads, struct mm_plan *p)
{
    int tiles = (w->rows + ROW_TILE - 1) / ROW_TILE;
    long long tile_macs = (long long)ROW_TILE * w->cols * n;
    int min_tiles = (int)((MIN_MACS_PER_CHUNK + tile_macs - 1) / tile_macs);
    p->n = 0;
    p->row_begin[0] = 0;
    int split = threads > 1 && tiles > 1 && tile_macs * tiles >= 2LL * MIN_MACS_PER_THREAD;
    for (int done = 0; done < tiles;) {
        int left = tiles - done, take = (left + 2 * threads - 1) / (2 * threads);
        if (take < min_tiles) take = min_tiles;
        if (!split || take > left || p->n == THREADPOOL_MAX_PIECES - 1) take = left;
        done += take;
        p->row_begin[++p->n] = done * ROW_TILE < w->rows ? done * ROW_TILE : w->rows;
    }
}

void matmul(struct threadpool *tp, const struct mm_weight *w, struct mm_act *a, float *y,
            int y_stride, const struct mm_weight *next)
{
    const struct quant_traits *qt = quant_traits(w->type);
    /* No prefetching here: the SIMD kernels prefetch the weights in their loops (quant.c,
     * PREFETCH_AHEAD); a burst of prefetches per row, as this loop once did, filled the
     * line-fill buffers and cost up to a quarter of decode speed. */
    struct mm_job j = { w, a, y, y_stride, qt->dot, qt->dotn, NULL, qt->act_type, NULL, TOK_TILE };
    /* One token streams the weights once and is bound by memory, where dot's single pass is
     * as fast; several tokens are bound by arithmetic, where the tile is. */
    if (qt->tile && a->n >= 2 && w->cols % QUANT_TILE_COLS == 0) j.tile = qt->tile;
    if (a->q_type != qt->act_type) {
        a->q_row_bytes = quant_row_bytes(qt->act_type, a->cols);
        int chunks = (a->n + ROUND_TOK - 1) / ROUND_TOK;
        if (a->n * a->cols >= 8192) threadpool_run(tp, round_job, &j, chunks);
        else for (int c = 0; c < chunks; c++) round_job(&j, c, 0);
        a->q_type = qt->act_type;
    }
    /* Token groups of equal size (a multiple of 4 where possible) that fit TOK_TILE_BYTES. */
    int fit = (int)(TOK_TILE_BYTES / a->q_row_bytes) & ~3;
    if (fit < 4) fit = 4;
    if (fit > TOK_TILE) fit = TOK_TILE;
    int groups = (a->n + fit - 1) / fit;
    j.tok_tile = (a->n + groups - 1) / groups;
    if (j.tok_tile < fit) j.tok_tile = (j.tok_tile + 3) & ~3;
    if (j.tok_tile > fit) j.tok_tile = fit;
    struct mm_plan plan;
    plan_chunks(w, a->n, threadpool_size(tp), &plan);
    j.plan = &plan;
    struct threadpool_next pf;
    if (next) matmul_next(tp, next, a->n, &pf);
    threadpool_run_next(tp, mul_job, &j, plan.n, next ? &pf : NULL);
}

void matmul_next(struct threadpool *tp, const struct mm_weight *w, int n, struct threadpool_next *out)
{
    struct mm_plan plan;
    plan_chunks(w, n, threadpool_size(tp), &plan);
    out->base = w->data;
    out->bytes = NEXT_PREFETCH_MAX;
    out->n_pieces = plan.n;
    for (int k = 0; k <= plan.n; k++) out->off[k] = (size_t)plan.row_begin[k] * w->row_bytes;
}
