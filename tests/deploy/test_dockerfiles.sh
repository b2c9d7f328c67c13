#!/usr/bin/env bash
# test_dockerfiles.sh -- deploy/docker without a Docker engine: (1) lint each Dockerfile
# (pinned bases, no latest, a build stage and a distroless final stage with no RUN, numeric
# non-root USER, exec-form ENTRYPOINT, per-Dockerfile .dockerignore); (2) its build steps are
# the ones CI runs (.ci/run -> make test: scripts/deps, then `make build` with the same
# CMAKE_FLAGS; the CUDA image may add only -DLLMQ_CUDA=ON), so CI exercises what an image
# build does; (3) run the image's staging step (stage.sh) on this build's binaries: the
# gateway image holds no engine code and no libcurl, the worker image holds libcurl (the
# upstream engine) with everything it loads, and each staged binary starts with the staged
# libraries and resolves every library but glibc's inside the image.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
D="$SRC/deploy/docker"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT

# --- what CI runs
check ".ci/run runs make test" grep -Eq '^\s*make test\s*$' "$SRC/.ci/run"
check "scripts/deps is executable" test -x "$SRC/scripts/deps"
ci_line=$(sed -n '/^test:/,/^[^[:space:]]/p' "$SRC/Makefile" | grep -E 'build CMAKE_FLAGS=' | head -1)
ci_flags=$(sed -E 's/.*CMAKE_FLAGS="([^"]*)".*/\1/; s/\$\(CMAKE_FLAGS\)//' <<<"$ci_line" | xargs)
check "make test builds with CMAKE_FLAGS (found '$ci_flags')" test -n "$ci_flags"
check "make test installs deps first" grep -Eq '^test: .*deps' "$SRC/Makefile"

lint() { # dockerfile, extra-allowed-flags, staged binaries...
  local f="$D/$1" extra=$2; shift 2
  local name; name=$(basename "$f")
  [ -f "$f" ] || { fail "$name missing"; return; }
  local froms; froms=$(grep -E '^FROM ' "$f")
  check "$name: two stages" test "$(wc -l <<<"$froms")" -ge 2
  check "$name: first stage is 'AS build'" grep -Eq '^FROM \S+ AS build$' <<<"$(head -1 <<<"$froms")"
  while read -r _ img _; do
    case "$img" in
      *@sha256:*) pass ;;
      *:latest|*:latest@*) fail "$name: base $img uses latest" ;;
      */*:*|*:*) pass ;;
      *) fail "$name: base $img has no tag" ;;
    esac
  done <<<"$froms"
  local final; final=$(awk '/^FROM /{buf=""} {buf=buf $0 "\n"} END{printf "%s", buf}' "$f")
  check "$name: final stage is distroless (no shell)" grep -Eq '^FROM gcr\.io/distroless/[a-z0-9-]+:nonroot' <<<"$final"
  check "$name: no RUN in the final stage" bash -c '! grep -Eq "^RUN " <<<"$1"' _ "$final"
  local user; user=$(grep -E '^USER ' <<<"$final" | tail -1 | awk '{print $2}')
  check "$name: numeric non-root USER ($user)" bash -c '[[ "$1" =~ ^[1-9][0-9]*(:[1-9][0-9]*)?$ ]]' _ "$user"
  check "$name: exec-form ENTRYPOINT" grep -Eq '^ENTRYPOINT \["/usr/bin/llmq[a-z-]*"' <<<"$final"
  check "$name: no ADD of URLs" bash -c '! grep -Eq "^ADD +https?://" "$1"' _ "$f"
  check "$name: per-Dockerfile .dockerignore" grep -q '^build\*/' "$f.dockerignore"
  # The build steps are CI's.
  check "$name: RUN scripts/deps" grep -Eq '^RUN scripts/deps$' "$f"
  local mk; mk=$(grep -E '^RUN make build ' "$f")
  check "$name: RUN make build (same target as CI)" test -n "$mk"
  local flags; flags=$(sed -E 's/.*CMAKE_FLAGS="([^"]*)".*/\1/' <<<"$mk" | xargs)
  local want; want=$(xargs <<<"$ci_flags $extra")
  check "$name: CMAKE_FLAGS '$flags' == CI's '$want'" test "$flags" = "$want"
  check "$name: deps before build" bash -c '[ "$(grep -n "^RUN scripts/deps" "$1" | cut -d: -f1)" -lt "$(grep -n "^RUN make build" "$1" | cut -d: -f1)" ]' _ "$f"
  local st; st=$(grep -E '^RUN deploy/docker/stage.sh build/bin /out ' "$f" | sed 's|.*/out ||')
  check "$name: stages exactly '$*' (got '$st')" test "$st" = "$*"
}
lint gateway.Dockerfile "" llmq-gateway
lint worker.Dockerfile "" llmq-worker llmq
lint worker-cuda.Dockerfile "-DLLMQ_CUDA=ON" llmq-worker
check "gateway image has no CUDA/engine base" bash -c '! grep -qi cuda "$1"' _ "$D/gateway.Dockerfile"
check "stage.sh is executable" test -x "$D/stage.sh"

# --- the staging step on this build's binaries
bin=${LLMQ_BIN_DIR:-}
stage_run() { # out, binaries...
  local out=$1; shift
  for b in "$@"; do [ -x "$bin/$b" ] || { skip "stage $*: $bin/$b not built yet"; return 1; }; done
  if "$D/stage.sh" "$bin" "$out" "$@" > "$tmp/stage.log" 2>&1; then pass; else fail "stage.sh $*: $(tail -2 "$tmp/stage.log")"; return 1; fi
  for b in "$@"; do
    # Starts with the staged libraries first (as in the image) and answers --help.
    if env -i LD_LIBRARY_PATH="$out/usr/lib/llmq" timeout 10 "$out/usr/bin/$b" --help > /dev/null 2>&1; then pass
    else fail "staged $b --help did not exit 0"; fi
    # Every library outside glibc (which the distroless base has) comes from the image.
    local host
    host=$(env -i LD_LIBRARY_PATH="$out/usr/lib/llmq" ldd "$out/usr/bin/$b" | awk '$2 == "=>" {print $1, $3}' |
           grep -vE '^(libc|libm|libpthread|libdl|librt|libresolv)\.so' | grep -v " $out/usr/lib/llmq/" | tr '\n' ' ')
    check "staged $b loads no library from the host (${host:-none})" test -z "$host"
  done
}
if [ -z "$bin" ]; then skip "staging: LLMQ_BIN_DIR unset"; else
  if stage_run "$tmp/gw" llmq-gateway; then
    check "staged gateway image holds only llmq-gateway" test "$(ls "$tmp/gw/usr/bin")" = llmq-gateway
    if command -v nm >/dev/null; then
      eng=$(nm "$tmp/gw/usr/bin/llmq-gateway" 2>/dev/null | grep -E ' [TtDdRr] (engine_|llama_|gguf_|synthetic_)' | head -3)
      check "gateway binary links no engine code (${eng:-none})" test -z "$eng"
    else skip "engine symbol check: nm not installed"; fi
    curl_libs=$(ls "$tmp/gw/usr/lib/llmq" | grep -E '^libcurl' | tr '\n' ' ')
    check "gateway image holds no libcurl (${curl_libs:-none})" test -z "$curl_libs"
  fi
  if stage_run "$tmp/wk" llmq-worker llmq; then
    # The upstream engine (src/engine/upstream.c) speaks HTTP through libcurl.
    check "worker image holds libcurl.so.4 (upstream engine)" test -f "$tmp/wk/usr/lib/llmq/libcurl.so.4"
  fi
fi
finish
