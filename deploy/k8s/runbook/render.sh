#!/usr/bin/env bash
# Regenerates the plain runbook files in this folder from the gpu overlay (see runbook.js).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$here/../../.."
kubectl kustomize "$root/deploy/k8s/overlays/gpu" | node "$root/tools/k8s-validate/runbook.js" --write "$here" gpu
echo "runbook: wrote $(cd "$here" && ls *.yaml | tr '\n' ' ')"
