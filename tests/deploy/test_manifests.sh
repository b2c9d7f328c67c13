#!/usr/bin/env bash
# test_manifests.sh -- deploy/k8s, offline: every overlay (and the base, and the Prometheus
# Adapter rules) renders with `kubectl kustomize`; every object validates strictly against the
# Kubernetes v1.32 and KEDA schemas in $LLMQ_SHARED_DIR/k8s-schemas; the policy checks pass
# (restricted Pod Security, requests/limits, probes, default deny, RBAC, tokens, tags, links);
# each overlay holds what it promises (expect.js), with the numbers of `llmq up --autoscale`;
# the validator catches deliberate breakage (mutations.js); the plain runbook files equal the
# gpu overlay and apply in order (each file's references are satisfied by it and the files
# before it). Skips with a reason without kubectl, node + js-yaml, or the schemas.
set -uo pipefail
. "$(dirname "$0")/lib.sh"

if ! have_node_yaml; then skip "manifests: $need_node_yaml_reason"; finish; exit; fi
schema_args=(--no-schemas)
if [ -n "$SCHEMAS" ]; then schema_args=(--schemas "$SCHEMAS")
else skip "schema validation: \$LLMQ_SHARED_DIR/k8s-schemas absent (policy checks still run)"; fi

tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
dump=""
if [ -n "${LLMQ_AUTOSCALE_DUMP:-}" ] && [ -x "$LLMQ_AUTOSCALE_DUMP" ]; then
  "$LLMQ_AUTOSCALE_DUMP" > "$tmp/autoscale.json" && dump="$tmp/autoscale.json"
else skip "HPA/llmq up parity: autoscale_dump not built (LLMQ_AUTOSCALE_DUMP)"; fi

run() { # name, command...: pass/fail with the command's output shown on failure
  local name=$1; shift
  if "$@" > "$tmp/out" 2>&1; then pass; else fail "$name"; sed 's/^/    /' "$tmp/out" >&2; fi
}

# Without kubectl (not a Debian 12 package everywhere) the committed runbook files, which are
# the gpu overlay rendered, still get every check that needs no Kustomize.
if ! command -v kubectl >/dev/null; then
  skip "manifests: kubectl not installed: checking the committed runbook files (gpu) only"
  render gpu "$tmp/gpu.yaml"
  run "validate runbook files" node "$VALIDATOR" "${schema_args[@]}" --policy "$tmp/gpu.yaml"
  run "expectations gpu (runbook)" node "$SRC/tests/deploy/expect.js" gpu $dump < "$tmp/gpu.yaml"
  run "mutations gpu (runbook)" node "$SRC/tests/deploy/mutations.js" ${SCHEMAS:+--schemas "$SCHEMAS"} < "$tmp/gpu.yaml"
  finish; exit
fi

for o in base overlays/cpu overlays/gpu overlays/keda monitoring; do
  n=${o#overlays/}
  if ! kubectl kustomize "$SRC/deploy/k8s/$o" > "$tmp/$n.yaml" 2> "$tmp/err"; then
    fail "render $o: $(head -3 "$tmp/err")"; continue
  fi
  pass
  run "validate $o" node "$VALIDATOR" "${schema_args[@]}" --policy "$tmp/$n.yaml"
  case $n in
    cpu|gpu|keda)
      run "expectations $n" node "$SRC/tests/deploy/expect.js" "$n" $dump < "$tmp/$n.yaml"
      run "mutations $n" node "$SRC/tests/deploy/mutations.js" ${SCHEMAS:+--schemas "$SCHEMAS"} < "$tmp/$n.yaml" ;;
  esac
done

# The secrets-as-files component on each overlay: still valid, API keys no longer in env.
for n in cpu gpu keda; do
  k="$tmp/k-$n"; mkdir -p "$k"
  r=$(realpath --relative-to="$k" "$SRC/deploy/k8s")
  printf 'apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: [%s]\ncomponents: [%s]\n' \
    "$r/overlays/$n" "$r/components/secrets-as-files" > "$k/kustomization.yaml"
  if kubectl kustomize "$k" > "$k/r.yaml" 2> "$tmp/err"; then
    pass
    run "validate $n + secrets-as-files" node "$VALIDATOR" "${schema_args[@]}" --policy "$k/r.yaml"
    run "$n + secrets-as-files: API keys from a file" node -e '
      const y = require(process.argv[1]);
      const d = y.loadAll(require("fs").readFileSync(process.argv[2], "utf8")).find((o) => o && o.kind === "Deployment" && o.metadata.name === "llama-api-gateway");
      const c = d.spec.template.spec.containers[0];
      if (c.envFrom.some((e) => e.secretRef)) throw new Error("secretRef still in envFrom");
      if (!c.env.some((e) => e.name === "LLMQ_API_KEYS_FILE" && e.value === "/var/run/secrets/llmq/LLMQ_API_KEYS")) throw new Error("no LLMQ_API_KEYS_FILE");
      if (!c.volumeMounts.some((m) => m.mountPath === "/var/run/secrets/llmq")) throw new Error("secret not mounted");
    ' "$SRC/tools/k8s-validate/node_modules/js-yaml" "$k/r.yaml"
  else fail "render $n + secrets-as-files: $(head -2 "$tmp/err")"; fi
done

# The runbook files: in sync with the gpu overlay, and each prefix of the apply order is
# self-contained (policy checks resolve every reference within the files applied so far).
rb="$SRC/deploy/k8s/runbook"
run "runbook files match overlays/gpu" node "$SRC/tools/k8s-validate/runbook.js" --check "$rb" gpu < "$tmp/gpu.yaml"
files=()
for f in namespace.yaml redis.yaml gateway.yaml worker-gpu.yaml worker-hpa.yaml; do
  files+=("$rb/$f")
  # namespace.yaml alone holds no workload; from redis.yaml on, policy must hold.
  run "runbook apply order up to $f" node "$VALIDATOR" "${schema_args[@]}" --policy "${files[@]}"
done
run "runbook names the runbook objects" grep -q 'name: llama-worker-hpa' "$rb/worker-hpa.yaml"

finish
