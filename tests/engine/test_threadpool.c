/* test_threadpool.c -- the compute pool: every chunk of every job runs exactly once, on
 * threads with valid ids, jobs of 0 / 1 / many chunks back to back (the generation-parity
 * slot reuse), pools of 1-4 threads, idle periods long enough for workers to sleep and be
 * woken, and a clean shutdown. Jobs alternate between no prefetch hints, hints into a real
 * buffer and hints at an address that is not mapped (a waiting thread prefetches them: that
 * must neither fault nor disturb the job). Bounded: ~20000 jobs. */
#include "test.h"

#include <stdatomic.h>
#include <stdint.h>
#include <time.h>

#include "engine/llama/threadpool.h"

#define MAX_CHUNKS 257

struct job {
    atomic_int hits[MAX_CHUNKS];
    atomic_int bad_ith;
    int nth;
};

static void fn(void *arg, int chunk, int ith)
{
    struct job *j = arg;
    if (ith < 0 || ith >= j->nth) atomic_fetch_add(&j->bad_ith, 1);
    if (chunk >= 0 && chunk < MAX_CHUNKS) atomic_fetch_add(&j->hits[chunk], 1);
    if ((chunk & 7) == 0) for (volatile int k = 0; k < 200; k++) { }   /* uneven work */
}

static void test_every_chunk_once(void)
{
    static struct job jobs[2];
    for (int n = 1; n <= 4; n++) {
        struct threadpool *tp = threadpool_new(n);
        CHECK(tp != NULL);
        if (!tp) continue;
        CHECK_EQ(threadpool_size(tp), n);
        int bad = 0;
        for (int it = 0; it < 5000; it++) {
            struct job *j = &jobs[it & 1];
            int chunks = (it * 37) % MAX_CHUNKS;          /* includes 0 and 1 */
            for (int c = 0; c < MAX_CHUNKS; c++) atomic_store(&j->hits[c], 0);
            atomic_store(&j->bad_ith, 0);
            j->nth = n;
            static char buf[1 << 20];
            static struct threadpool_next real, wild;
            real = (struct threadpool_next){ buf, 256 << 10, 3, { 0, 4096, 8192, sizeof(buf) } };
            wild = (struct threadpool_next){ (const void *)(uintptr_t)0x7fff00000000ull, 4 << 20, 2, { 0, 1 << 20, 8 << 20 } };
            threadpool_run_next(tp, fn, j, chunks, it % 3 == 0 ? NULL : it % 3 == 1 ? &real : &wild);
            for (int c = 0; c < MAX_CHUNKS; c++) bad += atomic_load(&j->hits[c]) != (c < chunks);
            bad += atomic_load(&j->bad_ith);
            if (it % 1000 == 999) {                       /* let the workers fall asleep */
                struct timespec ts = { 0, 3 * 1000 * 1000 };
                nanosleep(&ts, NULL);
            }
        }
        CHECK_EQ(bad, 0);
        threadpool_free(tp);
    }
    threadpool_free(NULL);
    CHECK(threadpool_new(0) == NULL);
}

int main(void)
{
    TEST_RUN(test_every_chunk_once);
    TEST_MAIN_END();
}
