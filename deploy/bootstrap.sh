#!/usr/bin/env bash
# bootstrap.sh -- one command from an empty cluster to a working llmq: renders an overlay of
# deploy/k8s, fills the placeholder secrets (random on first install, the cluster's current
# values afterwards, so re-running never rotates passwords under running pods), applies it,
# waits for Redis, the consumer group, the gateway and the workers, sends one smoke request
# through the gateway, and prints how to reach it. docs/OPERATIONS.md is the manual version.
#
#   deploy/bootstrap.sh [--overlay cpu|gpu|keda] [--context NAME] [--timeout SECONDS]
#                       [--no-smoke] [--render-only]
#
# --render-only prints the manifests it would apply (secrets filled) and touches no cluster.
# Needs: kubectl (with kustomize, v1.27+), curl for the smoke request, openssl or /dev/urandom.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
overlay=cpu context="" timeout_s=600 smoke=1 render_only=0
ns=llm

die() { echo "bootstrap: $*" >&2; exit 1; }
say() { echo "bootstrap: $*" >&2; }
usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; }

while [ $# -gt 0 ]; do
  case "$1" in
    --overlay) overlay=${2:-}; shift 2 ;;
    --overlay=*) overlay=${1#*=}; shift ;;
    --context) context=${2:-}; shift 2 ;;
    --context=*) context=${1#*=}; shift ;;
    --timeout) timeout_s=${2:-}; shift 2 ;;
    --timeout=*) timeout_s=${1#*=}; shift ;;
    --no-smoke) smoke=0; shift ;;
    --render-only) render_only=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
done
case "$overlay" in cpu|gpu|keda) ;; *) die "--overlay must be cpu, gpu or keda, not '$overlay'" ;; esac
[[ "$timeout_s" =~ ^[1-9][0-9]*$ ]] || die "--timeout must be a positive number of seconds"
command -v kubectl >/dev/null || die "kubectl not found (https://kubernetes.io/docs/tasks/tools/)"

k() { if [ -n "$context" ]; then kubectl --context "$context" "$@"; else kubectl "$@"; fi; }

tmp=$(mktemp -d)
pf_pid=""
cleanup() { [ -n "$pf_pid" ] && kill "$pf_pid" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT

# ---------------------------------------------------------------- render + secrets
kubectl kustomize "$here/k8s/overlays/$overlay" > "$tmp/render.yaml" \
  || die "kubectl kustomize deploy/k8s/overlays/$overlay failed"

random_hex() {
  if command -v openssl >/dev/null; then openssl rand -hex 24
  else od -An -N24 -tx1 /dev/urandom | tr -d ' \n'; fi
}
# placeholder  secret  key  prefix  (values are hex: safe in a URL and in sed)
secrets=(
  "CHANGE_ME_api_key llmq-secrets LLMQ_API_KEYS sk-llmq-"
  "CHANGE_ME_gateway llmq-redis-auth gateway-password "
  "CHANGE_ME_worker llmq-redis-auth worker-password "
  "CHANGE_ME_admin llmq-redis-auth admin-password "
  "CHANGE_ME_keda llmq-redis-auth keda-password "
)
for s in "${secrets[@]}"; do
  read -r placeholder name key prefix <<<"$s"
  value=""
  if [ "$render_only" = 0 ]; then
    value=$(k get secret -n "$ns" "$name" -o "jsonpath={.data.$key}" 2>/dev/null | base64 -d 2>/dev/null || true)
    case "$value" in CHANGE_ME*) value="" ;; esac
  fi
  [ -n "$value" ] || value="${prefix:-}$(random_hex)"
  [[ "$value" =~ ^[A-Za-z0-9._,-]+$ ]] || die "secret $name/$key holds characters this script will not template; set it with kubectl"
  sed -i "s|\"$placeholder\"|\"$value\"|g; s|: $placeholder\$|: \"$value\"|g" "$tmp/render.yaml"
done
grep -q 'CHANGE_ME' "$tmp/render.yaml" && die "a placeholder secret was left unfilled"

if [ "$render_only" = 1 ]; then cat "$tmp/render.yaml"; exit 0; fi

# ---------------------------------------------------------------- preflight
k version --request-timeout=10s >/dev/null 2>&1 || die "no cluster reachable with kubectl${context:+ (context $context)}"
if [ "$overlay" = keda ] && ! k get crd scaledobjects.keda.sh >/dev/null 2>&1; then
  die "the keda overlay needs KEDA: helm install keda kedacore/keda -n keda --create-namespace"
fi
if [ "$overlay" != cpu ]; then
  gpus=$(k get nodes -o 'jsonpath={range .items[*]}{.status.allocatable.nvidia\.com/gpu}{"\n"}{end}' 2>/dev/null | awk '{s+=$1} END{print s+0}')
  [ "$gpus" -gt 0 ] || say "warning: no node advertises nvidia.com/gpu (install the NVIDIA device plugin / GPU operator); workers will stay Pending"
fi
k get apiservice v1beta1.external.metrics.k8s.io >/dev/null 2>&1 || [ "$overlay" = keda ] \
  || say "note: no external metrics API (Prometheus Adapter): llama-worker-hpa shows <unknown> for the queue metrics; see deploy/k8s/monitoring"

# ---------------------------------------------------------------- apply + wait
# Switching gpu -> keda: KEDA must create llama-worker-hpa itself; a plain one in the way
# (not managed by keda-operator) is removed first.
if [ "$overlay" = keda ]; then
  owner=$(k get hpa -n "$ns" llama-worker-hpa -o 'jsonpath={.metadata.labels.app\.kubernetes\.io/managed-by}' 2>/dev/null || true)
  if k get hpa -n "$ns" llama-worker-hpa >/dev/null 2>&1 && [ "$owner" != keda-operator ]; then
    say "removing the plain llama-worker-hpa so KEDA can own it"
    k delete hpa -n "$ns" llama-worker-hpa >&2
  fi
fi
# A Job's pod template is immutable: delete the finished init Job so this run re-runs it.
k delete job -n "$ns" llmq-queue-init --ignore-not-found >/dev/null 2>&1 || true
say "applying overlay $overlay"
k apply -f "$tmp/render.yaml" >&2

deadline=$(( $(date +%s) + timeout_s ))
left() { local l=$(( deadline - $(date +%s) )); [ "$l" -gt 0 ] && echo "${l}s" || echo 1s; }
say "waiting for Redis"
k rollout status -n "$ns" statefulset/llmq-redis --timeout="$(left)" >&2 || die "Redis did not become ready: kubectl describe pod -n $ns -l app.kubernetes.io/component=redis"
say "waiting for the consumer group (job llmq-queue-init)"
k wait -n "$ns" --for=condition=complete job/llmq-queue-init --timeout="$(left)" >&2 || die "queue init failed: kubectl logs -n $ns job/llmq-queue-init"
say "waiting for the gateway"
k rollout status -n "$ns" deployment/llama-api-gateway --timeout="$(left)" >&2 || die "gateway not ready: kubectl describe pod -n $ns -l app.kubernetes.io/component=gateway"
say "waiting for the workers"
k rollout status -n "$ns" deployment/llama-worker-deployment --timeout="$(left)" >&2 || die "workers not ready: kubectl describe pod -n $ns -l app.kubernetes.io/component=worker"

api_key=$(k get secret -n "$ns" llmq-secrets -o 'jsonpath={.data.LLMQ_API_KEYS}' | base64 -d | cut -d, -f1)

# ---------------------------------------------------------------- smoke request
if [ "$smoke" = 1 ]; then
  command -v curl >/dev/null || die "curl not found (or use --no-smoke)"
  port=$(( 30000 + RANDOM % 20000 ))
  k port-forward -n "$ns" svc/llama-api-gateway "$port:80" > "$tmp/pf.log" 2>&1 &
  pf_pid=$!
  for _ in $(seq 1 50); do curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break; sleep 0.2; done
  curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null || die "gateway /readyz not answering through port-forward: $(tail -2 "$tmp/pf.log")"
  say "smoke request (a pool at zero wakes on it: up to $(left))"
  code=$(curl -sS -o "$tmp/smoke.json" -w '%{http_code}' --max-time "${timeout_s}" \
              -H "Authorization: Bearer $api_key" -H 'Content-Type: application/json' \
              -d '{"prompt":"Hello","max_tokens":8}' \
              "http://127.0.0.1:$port/v1/completions") || code=000
  if [ "$code" != 200 ] || ! grep -q '"choices"' "$tmp/smoke.json"; then
    die "smoke request failed (HTTP $code): $(head -c 300 "$tmp/smoke.json" 2>/dev/null)"
  fi
  say "smoke request OK: $(head -c 200 "$tmp/smoke.json")"
  kill "$pf_pid" 2>/dev/null; pf_pid=""
fi

cat <<EOF
llmq is up in namespace $ns (overlay $overlay).

  kubectl port-forward -n $ns svc/llama-api-gateway 8000:80
  export LLMQ_API_KEY=\$(kubectl get secret -n $ns llmq-secrets -o jsonpath='{.data.LLMQ_API_KEYS}' | base64 -d | cut -d, -f1)
  curl -N http://127.0.0.1:8000/v1/chat/completions -H "Authorization: Bearer \$LLMQ_API_KEY" \\
       -H 'Content-Type: application/json' \\
       -d '{"messages":[{"role":"user","content":"Hi"}],"stream":true}'

  kubectl get hpa -n $ns              kubectl describe hpa llama-worker-hpa -n $ns
  kubectl top pods -n $ns             kubectl get events -n $ns --sort-by=.lastTimestamp
Runbook: docs/OPERATIONS.md
EOF
