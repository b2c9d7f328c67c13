/* matmul.h -- Y = X W^T over the thread pool, for one token (mat-vec) or many (mat-mat).
 * Weights stay in their file type; the activations are rounded once per product into the
 * weight type's activation type (quant.h), then the threads claim chunks of whole row tiles
 * and multiply every row with ALL tokens of the pass while the row is in cache (the kernels
 * unpack a weight block once for up to 4-8 tokens; the next rows are prefetched): a decode
 * step of B sequences reads each weight byte from memory once, which is what makes batched
 * decode scale. */
#ifndef LLMQ_LLAMA_MATMUL_H
#define LLMQ_LLAMA_MATMUL_H

#include <stddef.h>

#include "engine/llama/gguf.h"
#include "engine/llama/threadpool.h"

/* A 2-D weight matrix: rows of cols values (ggml ne[0] = cols, ne[1] = rows). */
struct mm_weight {
    enum ggml_type type;
    int rows, cols;
    const void *data;          /* borrowed: the model's mapping */
    size_t row_bytes;
};

/* Activations of one pass: n rows of cols floats, plus a cache of their rounded form so
 * products sharing an input (q/k/v, gate/up) round it once. */
struct mm_act {
    const float *x;            /* borrowed, n x cols */
    int n, cols;
    void *q;                   /* owned scratch (mm_act_init), q_cap bytes */
    size_t q_cap;
    enum ggml_type q_type;     /* what q holds now; -1 = nothing */
    size_t q_row_bytes;
};

/* Scratch for up to max_rows x max_cols activations in any activation type. -ENOMEM. */
int mm_act_init(struct mm_act *a, int max_rows, int max_cols);
void mm_act_deinit(struct mm_act *a);
/* Points a at new input (invalidates the rounded cache). */
void mm_act_set(struct mm_act *a, const float *x, int n, int cols);

/* y[t * y_stride + r] = dot(W row r, x row t) for t < a->n, r < w->rows. next (may be NULL):
 * the matrix the caller multiplies next, which threads that finish early start fetching
 * (threadpool_next). */
void matmul(struct threadpool *tp, const struct mm_weight *w, struct mm_act *a, float *y,
            int y_stride, const struct mm_weight *next);
/* The hints for a pool job followed by a product of w with n tokens (what matmul passes for
 * its next). */
void matmul_next(struct threadpool *tp, const struct mm_weight *w, int n, struct threadpool_next *out);

#endif
