# syntax=docker/dockerfile:1.7
# llmq-gateway image: the gateway alone, without the engine (nor the llmq CLI, which links it), on a
# distroless base (no shell, no package manager), non-root (65532), read-only root friendly
# (writes nothing outside /tmp). Build from the repository root:
#   docker build -f deploy/docker/gateway.Dockerfile -t ghcr.io/llmq/llmq-gateway:0.1.0 .
# ---------------------------------------------------------------- build
# The same two steps CI runs (.ci/run -> make test): scripts/deps, then `make build` with
# CMAKE_FLAGS="-DLLMQ_WERROR=ON". tests/deploy/test_dockerfiles.sh keeps them identical.
FROM docker.io/library/debian:12.8 AS build
WORKDIR /src
COPY . .
RUN scripts/deps
RUN make build BUILD=build CMAKE_FLAGS="-DLLMQ_WERROR=ON"
RUN deploy/docker/stage.sh build/bin /out llmq-gateway

# ---------------------------------------------------------------- runtime
FROM gcr.io/distroless/base-debian12:nonroot
COPY --from=build /out/ /
ENV LD_LIBRARY_PATH=/usr/lib/llmq \
    LLMQ_HOST=0.0.0.0 \
    LLMQ_PORT=8000
USER 65532:65532
EXPOSE 8000
ENTRYPOINT ["/usr/bin/llmq-gateway"]
