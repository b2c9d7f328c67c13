/* cuda_emu.h -- just enough of CUDA to run src/engine/llama/cuda/backend_cuda.cu on the CPU,
 * so its kernels' indexing, reductions and host logic are tested on machines without a GPU
 * (engine_test_cuda_emu: test_cuda.c against the emulated device). Compiled by the host C++
 * compiler with LLMQ_CUDA_EMU defined (tests/engine/cuda_emu.cpp).
 * Model: "device" memory is host memory; a launch runs its blocks one after another; the
 * threads of a block are coroutines (ucontext) switched at __syncthreads and at every shuffle
 * (a shuffle is a block-wide exchange: valid for kernels whose live threads all shuffle
 * together, which is how backend_cuda.cu uses them); threads that returned do not hold up a
 * barrier. Static __shared__ variables become function statics (blocks never overlap).
 * It checks logic, not timing, memory coalescing, or anything of the real hardware. */
#ifndef LLMQ_TEST_CUDA_EMU_H
#define LLMQ_TEST_CUDA_EMU_H

#include <functional>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <setjmp.h>
#include <ucontext.h>

/* cuda_fp16.h, included before this, already brings the runtime's types (dim3, uint3,
 * cudaError_t, cudaStream_t) and declarations; the API calls are redirected to emu_* below. */
#include <cuda_runtime_api.h>

#undef __global__
#define __global__
#undef __shared__
#define __shared__ static
#define LAUNCH(kernel, grid, block, shmem, stream, ...) \
    emu_launch(dim3(grid), dim3(block), (shmem), [&]() { kernel(__VA_ARGS__); })
#define DYNAMIC_SHARED(type, name) type *name = (type *)emu_dyn_shared

static uint3 threadIdx, blockIdx;
static dim3 blockDim, gridDim;
static char emu_dyn_shared[64 * 1024];

enum { EMU_MAX_THREADS = 1024, EMU_STACK = 64 * 1024 };
/* Threads start with makecontext/setcontext and then switch with _setjmp/_longjmp, which,
 * unlike swapcontext, make no system call (this file must not be built with
 * _FORTIFY_SOURCE, whose longjmp check refuses to change stacks). */
static ucontext_t emu_ctx[EMU_MAX_THREADS];
static jmp_buf emu_main_jb, emu_jb[EMU_MAX_THREADS];
static char *emu_stacks[EMU_MAX_THREADS];
static int emu_state[EMU_MAX_THREADS];      /* 0 runnable, 1 at a barrier, 2 returned, 3 new */
static int emu_cur;
static std::function<void()> *emu_fn;

static void emu_entry(void)
{
    (*emu_fn)();
    emu_state[emu_cur] = 2;
    _longjmp(emu_main_jb, 1);
}

static __attribute__((noinline)) void emu_yield(void)
{
    if (!_setjmp(emu_jb[emu_cur])) _longjmp(emu_main_jb, 1);
}

static inline void __syncthreads(void)
{
    emu_state[emu_cur] = 1;
    emu_yield();
}

template <class T> static inline T __shfl_xor_sync(unsigned, T v, int lane_mask)
{
    static T slot[EMU_MAX_THREADS];
    slot[threadIdx.x] = v;
    __syncthreads();
    T r = slot[threadIdx.x ^ (unsigned)lane_mask];
    __syncthreads();
    return r;
}

/* Runs thread i until it returns or waits at a barrier. */
static __attribute__((noinline)) void emu_resume(int i)
{
    emu_cur = i;
    threadIdx.x = (unsigned)i;
    threadIdx.y = threadIdx.z = 0;
    if (_setjmp(emu_main_jb)) return;
    if (emu_state[i] == 3) {
        emu_state[i] = 0;
        if (!emu_stacks[i] && !(emu_stacks[i] = (char *)malloc(EMU_STACK))) abort();
        getcontext(&emu_ctx[i]);
        emu_ctx[i].uc_stack.ss_sp = emu_stacks[i];
        emu_ctx[i].uc_stack.ss_size = EMU_STACK;
        emu_ctx[i].uc_link = NULL;
        makecontext(&emu_ctx[i], emu_entry, 0);
        setcontext(&emu_ctx[i]);
    }
    _longjmp(emu_jb[i], 1);
}

static void emu_launch(dim3 grid, dim3 block, size_t shmem, std::function<void()> fn)
{
    if (block.x * block.y * block.z > EMU_MAX_THREADS || block.y != 1 || block.z != 1 ||
        shmem > sizeof(emu_dyn_shared))
        abort();
    gridDim = grid;
    blockDim = block;
    emu_fn = &fn;
    int n = (int)block.x;
    for (unsigned by = 0; by < grid.y; by++)
        for (unsigned bx = 0; bx < grid.x; bx++) {
            blockIdx.x = bx;
            blockIdx.y = by;
            blockIdx.z = 0;
            for (int i = 0; i < n; i++) emu_state[i] = 3;
            for (;;) {
                for (int i = 0; i < n; i++)
                    if (emu_state[i] == 0 || emu_state[i] == 3) emu_resume(i);
                int waiting = 0;
                for (int i = 0; i < n; i++)
                    if (emu_state[i] == 1) {
                        emu_state[i] = 0;
                        waiting = 1;
                    }
                if (!waiting) break;
            }
        }
}

/* ---- runtime API ---------------------------------------------------------------------- */
#define cudaGetErrorString emu_cudaGetErrorString
#define cudaGetDeviceCount emu_cudaGetDeviceCount
#define cudaSetDevice emu_cudaSetDevice
#define cudaGetLastError emu_cudaGetLastError
#define cudaStreamCreateWithFlags emu_cudaStreamCreateWithFlags
#define cudaStreamDestroy emu_cudaStreamDestroy
#define cudaStreamSynchronize emu_cudaStreamSynchronize
#define cudaMalloc emu_cudaMalloc
#define cudaFree emu_cudaFree
#define cudaMemcpy emu_cudaMemcpy
#define cudaMemcpyAsync emu_cudaMemcpyAsync

static inline const char *cudaGetErrorString(cudaError_t e) { return e ? "emulated error" : "no error"; }
static inline cudaError_t cudaGetDeviceCount(int *n) { *n = 1; return cudaSuccess; }
static inline cudaError_t cudaSetDevice(int) { return cudaSuccess; }
static inline cudaError_t cudaGetLastError(void) { return cudaSuccess; }
static inline cudaError_t cudaStreamCreateWithFlags(cudaStream_t *s, unsigned) { *s = NULL; return cudaSuccess; }
static inline cudaError_t cudaStreamDestroy(cudaStream_t) { return cudaSuccess; }
static inline cudaError_t cudaStreamSynchronize(cudaStream_t) { return cudaSuccess; }
static inline cudaError_t cudaMalloc(void **p, size_t n)
{
    *p = malloc(n ? n : 1);
    if (*p) memset(*p, 0xa5, n);         /* garbage, like fresh device memory */
    return *p ? cudaSuccess : cudaErrorMemoryAllocation;
}
static inline cudaError_t cudaFree(void *p) { free(p); return cudaSuccess; }
static inline cudaError_t cudaMemcpy(void *d, const void *s, size_t n, cudaMemcpyKind)
{
    memcpy(d, s, n);
    return cudaSuccess;
}
static inline cudaError_t cudaMemcpyAsync(void *d, const void *s, size_t n, cudaMemcpyKind, cudaStream_t)
{
    memcpy(d, s, n);
    return cudaSuccess;
}

#endif
