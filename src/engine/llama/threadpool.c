/* threadpool.c -- see threadpool.h. Dispatch is a generation counter: the caller publishes
 * (fn, arg), bumps gen and wakes sleepers; workers that see a new gen run their share and
 * count themselves done. Spinning first keeps the per-matmul dispatch cost to about a
 * microsecond while a forward pass is running; sleeping after ~50 us of idleness keeps
 * idle workers off the CPU (the machine may be shared). */
#include "engine/llama/threadpool.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define cpu_relax() _mm_pause()
#else
#define cpu_relax() do { } while (0)
#endif

#define SPIN_ITERS 20000

struct threadpool {
    int n;
    pthread_t *threads;          /* owned, n - 1 */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    atomic_uint gen;             /* bumped once per run */
    atomic_int done;             /* workers finished with the current run */
    atomic_int stop;
    threadpool_fn *fn;           /* current job; written before gen is bumped */
    void *arg;
};

struct worker_arg { struct threadpool *tp; int ith; };

static void *worker_main(void *p)
{
    struct worker_arg wa = *(struct worker_arg *)p;
    free(p);
    struct threadpool *tp = wa.tp;
    unsigned seen = 0;
    for (;;) {
        unsigned g;
        int spins = 0;
        while ((g = atomic_load_explicit(&tp->gen, memory_order_acquire)) == seen &&
               !atomic_load(&tp->stop)) {
            if (++spins < SPIN_ITERS) {
                cpu_relax();
                continue;
            }
            pthread_mutex_lock(&tp->mu);
            while (atomic_load(&tp->gen) == seen && !atomic_load(&tp->stop))
                pthread_cond_wait(&tp->cv, &tp->mu);
            pthread_mutex_unlock(&tp->mu);
        }
        if (atomic_load(&tp->stop)) return NULL;
        seen = g;
        tp->fn(tp->arg, wa.ith, tp->n);
        atomic_fetch_add_explicit(&tp->done, 1, memory_order_acq_rel);
    }
}

struct threadpool *threadpool_new(int n)
{
    if (n < 1) return NULL;
    struct threadpool *tp = calloc(1, sizeof(*tp));
    if (!tp) return NULL;
    tp->n = n;
    pthread_mutex_init(&tp->mu, NULL);
    pthread_cond_init(&tp->cv, NULL);
    tp->threads = calloc((size_t)n, sizeof(pthread_t));
    if (!tp->threads) goto fail;
    for (int i = 1; i < n; i++) {
        struct worker_arg *wa = malloc(sizeof(*wa));
        if (!wa) goto fail_threads;
        wa->tp = tp;
        wa->ith = i;
        if (pthread_create(&tp->threads[i - 1], NULL, worker_main, wa) != 0) {
            free(wa);
            goto fail_threads;
        }
        continue;
fail_threads:
        tp->n = i;               /* join those started */
        threadpool_free(tp);
        return NULL;
    }
    return tp;
fail:
    free(tp->threads);
    free(tp);
    return NULL;
}

void threadpool_free(struct threadpool *tp)
{
    if (!tp) return;
    pthread_mutex_lock(&tp->mu);
    atomic_store(&tp->stop, 1);
    pthread_cond_broadcast(&tp->cv);
    pthread_mutex_unlock(&tp->mu);
    for (int i = 1; i < tp->n; i++) pthread_join(tp->threads[i - 1], NULL);
    pthread_mutex_destroy(&tp->mu);
    pthread_cond_destroy(&tp->cv);
    free(tp->threads);
    free(tp);
}

int threadpool_size(const struct threadpool *tp) { return tp->n; }

void threadpool_run(struct threadpool *tp, threadpool_fn *fn, void *arg)
{
    if (tp->n == 1) {
        fn(arg, 0, 1);
        return;
    }
    tp->fn = fn;
    tp->arg = arg;
    atomic_store_explicit(&tp->done, 0, memory_order_relaxed);
    pthread_mutex_lock(&tp->mu);            /* pairs with the sleepers' check under mu */
    atomic_fetch_add_explicit(&tp->gen, 1, memory_order_release);
    pthread_cond_broadcast(&tp->cv);
    pthread_mutex_unlock(&tp->mu);
    fn(arg, 0, tp->n);
    int spins = 0;
    while (atomic_load_explicit(&tp->done, memory_order_acquire) < tp->n - 1) {
        if (++spins < SPIN_ITERS) cpu_relax();
        else sched_yield();
    }
}
