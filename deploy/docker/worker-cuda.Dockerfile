# syntax=docker/dockerfile:1.7
# llmq-worker image, CUDA variant: the llama engine with its CUDA backend (LLMQ_CUDA=ON).
# Built on NVIDIA's CUDA devel image (Ubuntu 22.04: glibc 2.35, older than the runtime's
# 2.36, so the binary runs there); the CUDA runtime is linked statically (CMake's default),
# the driver (libcuda) comes from the host through the NVIDIA container runtime. libcurl
# (upstream engine) and its libraries are staged from the build stage like every other one.
# Runtime: distroless, no shell, non-root (65532).
#   docker build -f deploy/docker/worker-cuda.Dockerfile -t ghcr.io/llmq/llmq-worker:0.1.0-cuda12 .
# ---------------------------------------------------------------- build
# The same two steps CI runs (.ci/run -> make test): scripts/deps, then `make build` with
# CMAKE_FLAGS="-DLLMQ_WERROR=ON". tests/deploy/test_dockerfiles.sh keeps them identical.
# The only additions: -DLLMQ_CUDA=ON, and CUDAARCHS (read by CMake) for the GPUs we ship for.
FROM docker.io/nvidia/cuda:12.6.3-devel-ubuntu22.04 AS build
ENV CUDAARCHS="80;86;89;90"
WORKDIR /src
COPY . .
RUN scripts/deps
RUN make build BUILD=build CMAKE_FLAGS="-DLLMQ_WERROR=ON -DLLMQ_CUDA=ON"
RUN deploy/docker/stage.sh build/bin /out llmq-worker

# ---------------------------------------------------------------- runtime
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /out/ /
ENV LD_LIBRARY_PATH=/usr/lib/llmq \
    LLMQ_METRICS_PORT=9100 \
    NVIDIA_VISIBLE_DEVICES=all \
    NVIDIA_DRIVER_CAPABILITIES=compute,utility
USER 65532:65532
EXPOSE 9100
ENTRYPOINT ["/usr/bin/llmq-worker"]
