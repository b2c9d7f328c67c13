# syntax=docker/dockerfile:1.7
# llmq-worker image, CPU variant: the worker with the engine (llama on CPU, synthetic,
# upstream) and the llmq CLI (status, dlq: the ops CronJobs run it), on a distroless base
# (no shell), non-root (65532), read-only root friendly. The upstream engine links libcurl:
# stage.sh copies libcurl.so.4 and every library it loads (ldd) from the build stage, so the
# runtime needs no package; TLS roots come from the base's /etc/ssl/certs.
#   docker build -f deploy/docker/worker.Dockerfile -t ghcr.io/llmq/llmq-worker:0.1.0-cpu .
# ---------------------------------------------------------------- build
# The same two steps CI runs (.ci/run -> make test): scripts/deps, then `make build` with
# CMAKE_FLAGS="-DLLMQ_WERROR=ON". tests/deploy/test_dockerfiles.sh keeps them identical.
FROM docker.io/library/debian:12.8 AS build
WORKDIR /src
COPY . .
RUN scripts/deps
RUN make build BUILD=build CMAKE_FLAGS="-DLLMQ_WERROR=ON"
RUN deploy/docker/stage.sh build/bin /out llmq-worker llmq

# ---------------------------------------------------------------- runtime
FROM gcr.io/distroless/base-debian12:nonroot
COPY --from=build /out/ /
ENV LD_LIBRARY_PATH=/usr/lib/llmq \
    LLMQ_METRICS_PORT=9100
USER 65532:65532
EXPOSE 9100
ENTRYPOINT ["/usr/bin/llmq-worker"]
