#!/usr/bin/env bash
# test_bootstrap.sh -- deploy/bootstrap.sh without a cluster: it parses, refuses bad
# arguments with one clear line, and its --render-only output for each overlay has every
# placeholder secret replaced by a fresh random value and still passes the validator.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
B="$SRC/deploy/bootstrap.sh"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT

check "bootstrap.sh is executable" test -x "$B"
check "bootstrap.sh parses" bash -n "$B"
check "--help exits 0" bash -c '"$1" --help > /dev/null' _ "$B"
out=$("$B" --overlay nope 2>&1); rc=$?
check "bad overlay fails with one line ($out)" test $rc -ne 0 -a "$(wc -l <<<"$out")" -eq 1
out=$("$B" --timeout x 2>&1); rc=$?
check "bad timeout fails" test $rc -ne 0
if ! command -v kubectl >/dev/null; then skip "bootstrap render: kubectl not installed"; finish; exit; fi
# Without ../shared/k8s-schemas the validator still runs its policy checks (as test_manifests does).
schema_args=(--no-schemas)
if [ -n "$SCHEMAS" ]; then schema_args=(--schemas "$SCHEMAS")
else skip "bootstrap schema validation: \$LLMQ_SHARED_DIR/k8s-schemas absent (policy checks still run)"; fi
for o in cpu gpu keda; do
  if ! "$B" --render-only --overlay "$o" > "$tmp/$o.yaml" 2> "$tmp/err"; then fail "render-only $o: $(head -2 "$tmp/err")"; continue; fi
  pass
  check "$o: no placeholder left" bash -c '! grep -q CHANGE_ME "$1"' _ "$tmp/$o.yaml"
  check "$o: API key generated" grep -Eq 'LLMQ_API_KEYS: "sk-llmq-[0-9a-f]{48}"' "$tmp/$o.yaml"
  n=$(grep -Eo 'password: "[0-9a-f]{48}"' "$tmp/$o.yaml" | sort -u | wc -l)
  check "$o: four distinct Redis passwords ($n)" test "$n" -eq 4
  if have_node_yaml; then
    check "$o: rendered output validates" node "$VALIDATOR" "${schema_args[@]}" --policy "$tmp/$o.yaml"
  fi
done
a=$(grep -o 'gateway-password: "[0-9a-f]*"' "$tmp/cpu.yaml"); b=$(grep -o 'gateway-password: "[0-9a-f]*"' "$tmp/gpu.yaml")
check "each render draws new secrets" test "$a" != "$b"
have_node_yaml || skip "bootstrap validate: $need_node_yaml_reason"
finish
