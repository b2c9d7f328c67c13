/* cuda_emu.cpp -- backend_cuda.cu compiled for the CPU emulation of cuda_emu.h: defines
 * backend_cuda() for engine_test_cuda_emu, ahead of the real one in libllmq_llama_cuda.a. */
#define LLMQ_CUDA_EMU 1
#include "engine/llama/cuda/backend_cuda.cu"
