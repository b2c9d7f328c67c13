/* threadpool.h -- persistent compute threads for the forward pass.
 * threadpool_run(fn) runs fn(arg, ith, nth) on all nth threads (the caller is ith 0) and
 * returns when every thread is done. Idle workers spin briefly, then sleep on a condition
 * variable, so a pool costs nothing between requests. Not a general task queue: one run at
 * a time, from one thread. */
#ifndef LLMQ_LLAMA_THREADPOOL_H
#define LLMQ_LLAMA_THREADPOOL_H

struct threadpool;

typedef void threadpool_fn(void *arg, int ith, int nth);

/* n threads in all (n - 1 are started). Returns NULL on failure (n < 1, thread creation). */
struct threadpool *threadpool_new(int n);
void threadpool_free(struct threadpool *tp);       /* NULL is a no-op; joins the threads */
int threadpool_size(const struct threadpool *tp);
void threadpool_run(struct threadpool *tp, threadpool_fn *fn, void *arg);

#endif
