# lib.sh -- counters and skip/fail reporting shared by the tests/deploy shell tests, in the
# format of tests/test.h: one line per failure or skip, then "N passed, N failed[, N skipped]".
passed=0 failed=0 skipped=0
pass() { passed=$((passed + 1)); }
fail() { failed=$((failed + 1)); echo "FAIL $1" >&2; }
skip() { skipped=$((skipped + 1)); echo "SKIP $1" >&2; }
check() { local name=$1; shift; if "$@"; then pass; else fail "$name"; fi; }
finish() {
  if ((skipped)); then echo "$passed passed, $failed failed, $skipped skipped"
  else echo "$passed passed, $failed failed"; fi
  ((failed == 0))
}
SRC=${LLMQ_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
VALIDATOR="$SRC/tools/k8s-validate/validate.js"
SCHEMAS=""
if [ -n "${LLMQ_SHARED_DIR:-}" ] && [ -d "$LLMQ_SHARED_DIR/k8s-schemas" ]; then SCHEMAS="$LLMQ_SHARED_DIR/k8s-schemas"; fi
have_node_yaml() { command -v node >/dev/null && [ -d "$SRC/tools/k8s-validate/node_modules/js-yaml" ]; }
need_node_yaml_reason="node or tools/k8s-validate/node_modules/js-yaml missing (npm install in tools/k8s-validate)"
# render OVERLAY OUT: `kubectl kustomize deploy/k8s/overlays/OVERLAY`, or, without kubectl,
# the committed runbook files (the gpu overlay, rendered; a test keeps them in sync) for any
# overlay whose Redis/gateway objects are the same. Sets RENDERED_FROM. Returns 1 if neither.
render() {
  if command -v kubectl >/dev/null; then
    RENDERED_FROM="overlays/$1"; kubectl kustomize "$SRC/deploy/k8s/overlays/$1" > "$2"
  else
    RENDERED_FROM="runbook (gpu; kubectl not installed)"
    local rb="$SRC/deploy/k8s/runbook"
    cat "$rb/namespace.yaml" "$rb/redis.yaml" "$rb/gateway.yaml" "$rb/worker-gpu.yaml" "$rb/worker-hpa.yaml" > "$2"
  fi
}
