/* threadpool.h -- persistent compute threads for the forward pass.
 * threadpool_run(fn, n_chunks) splits a job into n_chunks pieces that the caller and the
 * workers claim one at a time from a shared counter, and returns when every piece is done.
 * Claiming (rather than a fixed split per thread) keeps a step fast when a worker is
 * descheduled -- a shared host, a Kubernetes CPU limit -- because the others, the caller
 * included, take its pieces; nobody waits for a thread that never started.
 * Idle workers spin briefly, then sleep on a condition variable.
 * Not a general task queue: one job at a time, submitted from one thread. */
#ifndef LLMQ_LLAMA_THREADPOOL_H
#define LLMQ_LLAMA_THREADPOOL_H

#include <stddef.h>

struct threadpool;

/* Runs piece `chunk` (0 <= chunk < n_chunks) of a job; ith identifies the calling thread
 * (0 = the submitter, < threadpool_size) for per-thread scratch. */
typedef void threadpool_fn(void *arg, int chunk, int ith);

/* n threads in all (n - 1 are started). Returns NULL on failure (n < 1, thread creation). */
struct threadpool *threadpool_new(int n);
void threadpool_free(struct threadpool *tp);       /* NULL is a no-op; joins the threads */
int threadpool_size(const struct threadpool *tp);
/* Runs fn on chunks 0..n_chunks-1 (n_chunks <= 2^31 - 1) and waits for all of them. */
void threadpool_run(struct threadpool *tp, threadpool_fn *fn, void *arg, int n_chunks);

/* What the job after this one reads, so a thread that has no chunk left of this job
 * (waiting for the others to finish theirs, or, a worker, for the submitter's serial work)
 * fetches it into its cache instead of only spinning. The next job's data is in n_pieces
 * pieces, [base + off[k], base + off[k + 1]), one per chunk of it; thread ith takes pieces
 * ith, ith + n, ith + 2n, ... (n threads: the chunks it claims when all keep pace), up to
 * bytes in all. A memory-bound job then starts with part of its data in cache: time spent
 * waiting turns into memory traffic that would have come anyway. The addresses are hints:
 * a prefetch never faults, so a wrong or stale one costs only bandwidth. */
#define THREADPOOL_MAX_PIECES 256
struct threadpool_next {
    const void *base;
    size_t bytes;
    int n_pieces;                         /* <= THREADPOOL_MAX_PIECES */
    size_t off[THREADPOOL_MAX_PIECES + 1];
};
/* threadpool_run, with next (may be NULL) prefetched by waiting threads. */
void threadpool_run_next(struct threadpool *tp, threadpool_fn *fn, void *arg, int n_chunks,
                         const struct threadpool_next *next);

#endif
