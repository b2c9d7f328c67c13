#!/usr/bin/env bash
# test_pod_env.sh -- the cpu overlay's pods, run for real on this machine: Redis with the
# StatefulSet's exact ACL arguments, the queue-init Job's own script, then llmq-gateway and
# llmq-worker started like their containers (entrypoint, no flags, `env -i` with exactly the
# environment the kubelet would build from the ConfigMaps, Secrets and $(VAR) expansion;
# only the Redis host and the ports are mapped to 127.0.0.1). Every httpGet probe in the
# manifests must answer 200, a completion and a stream must go through with the API key (and
# be refused without it), no component may hit a Redis NOPERM, and both must exit 0 on SIGTERM
# well within their terminationGracePeriodSeconds. Scale from zero: with the gateway up and no
# worker yet, one waiting job per priority lane must show as llmq_queue_lag 3 on /metrics
# (what the keda overlay's trigger reads), then be served once the worker starts. Bounded:
# about 10-20 s.
set -uo pipefail
. "$(dirname "$0")/lib.sh"

bin=${LLMQ_BIN_DIR:-}
for t in redis-server redis-cli curl; do
  command -v "$t" >/dev/null || { skip "pod_env: $t not installed"; finish; exit; }
done
have_node_yaml || { skip "pod_env: $need_node_yaml_reason"; finish; exit; }
for b in llmq-gateway llmq-worker; do
  [ -x "$bin/$b" ] || { skip "pod_env: $bin/$b not built"; finish; exit; }
done

tmp=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
  rm -rf "$tmp"
}
trap cleanup EXIT
render cpu "$tmp/r.yaml" || { fail "render ($RENDERED_FROM)"; finish; exit; }
# From the runbook (gpu) files the worker would want a GGUF model: run it on the synthetic
# engine instead; everything else (ACL user, env names, probes, drain) is the same.
worker_extra=()
command -v kubectl >/dev/null || worker_extra=(LLMQ_ENGINE=synthetic LLMQ_MODEL=)
spec() { node "$SRC/tests/deploy/podspec.js" "$tmp/r.yaml" "$@"; }

free_port() { local p; for _ in $(seq 1 50); do p=$((20000 + RANDOM % 12000)); (echo > /dev/tcp/127.0.0.1/$p) 2>/dev/null || { echo $p; return; }; done; }
wait_http() { # url, seconds: until 200
  local i; for i in $(seq 1 $(( $2 * 10 ))); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "$1")" = 200 ] && return 0; sleep 0.1
  done; return 1
}

# --- Redis, as the StatefulSet runs it (the config file's durability settings aside)
mapfile -t rargs < <(spec StatefulSet/llmq-redis redis args | tail -n +2)
rport=""
for _ in 1 2 3; do
  p=$(free_port)
  redis-server --bind 127.0.0.1 --port "$p" --dir "$tmp" --save '' --appendonly no --protected-mode no \
    "${rargs[@]}" > "$tmp/redis.log" 2>&1 &
  rpid=$!
  for _ in $(seq 1 30); do grep -q 'Ready to accept' "$tmp/redis.log" && { rport=$p; break; }; kill -0 $rpid 2>/dev/null || break; sleep 0.1; done
  [ -n "$rport" ] && { pids+=("$rpid"); break; }
  kill $rpid 2>/dev/null; wait $rpid 2>/dev/null
done
[ -n "$rport" ] || { fail "redis-server with the manifest's arguments: $(tail -2 "$tmp/redis.log")"; finish; exit; }
pass

# --- the queue-init Job's script, pointed at this Redis
script=$(spec Job/llmq-queue-init queue-init args | sed "s/-h llmq-redis -p 6379/-h 127.0.0.1 -p $rport/")
initpw=$(spec Job/llmq-queue-init queue-init env | sed -n 's/^REDIS_PASSWORD=//p')
if env -i PATH="$PATH" REDIS_PASSWORD="$initpw" timeout 20 sh -c "$script" > "$tmp/init.log" 2>&1; then pass
else fail "queue-init script: $(tail -2 "$tmp/init.log")"; fi
for l in llmq:jobs:high llmq:jobs llmq:jobs:low; do
  check "queue-init: group of $l created" grep -q "consumer group $l/workers ready" "$tmp/init.log"
done

# --- gateway and worker, as their containers
gport=$(free_port); wport=$(free_port)
start() { # name binary container-ref container port-overrides...
  local name=$1 b=$2 ref=$3 cn=$4; shift 4
  local envs=()
  while IFS= read -r l; do
    l=${l//@llmq-redis:6379/@127.0.0.1:$rport}
    envs+=("$l")
  done < <(spec "$ref" "$cn" env)
  env -i PATH=/usr/bin:/bin "${envs[@]}" "$@" "$bin/$b" > "$tmp/$name.log" 2>&1 &
  pids+=("$!")
  eval "${name}_pid=$!"
}
probe_all() { # ref container port-in-manifest mapped-port
  while read -r kind path port; do
    [ "$port" = "$3" ] || { fail "$1 $kind: unexpected port $port"; continue; }
    if wait_http "http://127.0.0.1:$4$path" 15; then pass; else fail "$1 $kind GET $path != 200 ($(tail -2 "$tmp/$2.log"))"; fi
  done < <(spec "$1" "$2" probes)
}
start gateway llmq-gateway Deployment/llama-api-gateway gateway LLMQ_HOST=127.0.0.1 LLMQ_PORT="$gport"
probe_all Deployment/llama-api-gateway gateway 8000 "$gport"
key=$(spec Deployment/llama-api-gateway gateway env | sed -n 's/^LLMQ_API_KEYS=//p' | cut -d, -f1)
url="http://127.0.0.1:$gport/v1/completions"

# --- scale from zero: no worker yet; one streamed job per lane waits in Redis
lane_pids=()
for pr in 5 0 -5; do
  curl -sN --max-time 30 -H "Authorization: Bearer $key" -H 'Content-Type: application/json' \
       -d "{\"prompt\":\"Hello\",\"max_tokens\":4,\"stream\":true,\"priority\":$pr}" "$url" > "$tmp/lane$pr.txt" &
  lane_pids+=("$!")
done
# The lane gauges are as of the gateway's last Redis poll; the sum also counts admissions
# since then. Wait (10 s at most) until a poll has seen all three.
zlag=""
for _ in $(seq 1 100); do
  curl -s --max-time 2 "http://127.0.0.1:$gport/metrics" > "$tmp/m0.txt"
  zlag=$(sed -n 's/^llmq_queue_lag \([0-9.e+]*\)$/\1/p' "$tmp/m0.txt")
  [ "$zlag" = 3 ] && [ "$(grep -cE '^llmq_queue_lane_lag\{lane="[a-z]+"\} 1$' "$tmp/m0.txt")" = 3 ] && break
  sleep 0.1
done
check "no worker: llmq_queue_lag sums the lanes (3 jobs, got '$zlag')" test "$zlag" = 3
for ln in high normal low; do
  check "no worker: lane $ln lag 1" grep -qE "^llmq_queue_lane_lag\{lane=\"$ln\"\} 1$" "$tmp/m0.txt"
done
check "no worker: llmq_queue_pending 0" grep -qE '^llmq_queue_pending 0$' "$tmp/m0.txt"

start worker llmq-worker Deployment/llama-worker-deployment worker LLMQ_METRICS_PORT="$wport" "${worker_extra[@]}"
probe_all Deployment/llama-worker-deployment worker 9100 "$wport"
for i in 0 1 2; do wait "${lane_pids[$i]}"; done
for pr in 5 0 -5; do
  check "priority $pr job served once a worker runs" grep -q 'data: \[DONE\]' "$tmp/lane$pr.txt"
done

code=$(curl -s -o "$tmp/c.json" -w '%{http_code}' --max-time 20 -H "Authorization: Bearer $key" \
       -H 'Content-Type: application/json' -d '{"prompt":"Hello","max_tokens":8}' "$url")
check "completion through the gateway (HTTP $code: $(head -c 200 "$tmp/c.json"))" grep -q '"choices"' "$tmp/c.json"
curl -sN --max-time 20 -H "Authorization: Bearer $key" -H 'Content-Type: application/json' \
     -d '{"prompt":"Hello","max_tokens":8,"stream":true}' "$url" > "$tmp/s.txt"
check "stream ends with [DONE]" grep -q 'data: \[DONE\]' "$tmp/s.txt"
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 -H 'Content-Type: application/json' -d '{"prompt":"x"}' "$url")
check "no API key -> 401 (got $code)" test "$code" = 401
# Every llmq series the Prometheus Adapter rules (hence the HPAs) read, from the real gateway.
curl -s --max-time 5 "http://127.0.0.1:$gport/metrics" > "$tmp/metrics.txt"
for m in $(grep -oE "seriesQuery: '?llmq_[a-z_]+" "$SRC/deploy/k8s/monitoring/adapter-config.yaml" | grep -oE 'llmq_[a-z_]+' | sort -u); do
  check "gateway /metrics exports $m (adapter rule)" grep -qE "^$m(\{| )" "$tmp/metrics.txt"
done
# ... and every llmq series the keda overlay's Prometheus triggers query.
for m in $(grep -E '^\s*query:' "$SRC/deploy/k8s/overlays/keda/scaledobject.yaml" | grep -oE 'llmq_[a-z_]+' | sort -u); do
  check "gateway /metrics exports $m (KEDA trigger)" grep -qE "^$m(\{| )" "$tmp/metrics.txt"
done
for n in gateway worker; do
  check "$n: no Redis permission error" bash -c '! grep -qiE "NOPERM|no permissions|WRONGPASS|NOAUTH" "$1"' _ "$tmp/$n.log"
done

# --- the ops CronJobs' llmq CLI as the Redis admin user (skipped without the CLI)
if [ -x "$bin/llmq" ]; then
  for cj in llmq-status llmq-dlq-list; do
    mapfile -t a < <(spec "CronJob/$cj" llmq args)
    envs=(); while IFS= read -r l; do envs+=("${l//@llmq-redis:6379/@127.0.0.1:$rport}"); done < <(spec "CronJob/$cj" llmq env)
    if env -i PATH=/usr/bin:/bin "${envs[@]}" timeout 20 "$bin/llmq" "${a[@]}" > "$tmp/$cj.log" 2>&1; then pass
    elif grep -q WRONGPASS "$tmp/$cj.log" && grep -q '"AUTH %s", pw' "$SRC/src/up/net.c" 2>/dev/null; then
      # Known (2026-11-29): src/up/net.c sends AUTH <password> without the URL's user, so the
      # CLI cannot log in as an ACL user. Reported to its owner; this runs for real once fixed.
      skip "$cj: llmq CLI ignores the user of redis://user:pass@ (src/up/net.c AUTH without user)"; continue
    else fail "$cj (llmq ${a[*]}): $(tail -2 "$tmp/$cj.log")"; fi
    check "$cj: no Redis permission error" bash -c '! grep -qiE "NOPERM|no permissions|WRONGPASS|NOAUTH" "$1"' _ "$tmp/$cj.log"
  done
else skip "ops CronJobs: $bin/llmq not built"; fi

# --- SIGTERM: both drain and exit 0, well inside their grace periods (45 s, 135 s)
kill -TERM "$gateway_pid" "$worker_pid"
for n in gateway worker; do
  p_var=${n}_pid; p=${!p_var}
  for _ in $(seq 1 150); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$p" 2>/dev/null; then fail "$n still running 15 s after SIGTERM"
  else wait "$p"; rc=$?; check "$n exits 0 on SIGTERM (rc $rc)" test "$rc" = 0; fi
done

# --- the worker's hourly consumer sweep (XINFO CONSUMERS, XGROUP DELCONSUMER on every lane)
# under the worker's ACL user: a consumer left by a dead worker on each lane must go. The
# llmq-worker-sweep build runs the sweep every 2 s (tests/deploy/CMakeLists.txt).
sweep=${LLMQ_WORKER_SWEEP:-}
if [ -x "$sweep" ]; then
  wurl=$(spec Deployment/llama-worker-deployment worker env | sed -n 's/^LLMQ_REDIS_URL=//p')
  wuser=$(sed -E 's|^redis://([^:@]*):.*|\1|' <<<"$wurl"); wpass=$(sed -E 's|^redis://[^:]*:([^@]*)@.*|\1|' <<<"$wurl")
  gpass=$(spec Deployment/llama-api-gateway gateway env | sed -n 's/^LLMQ_REDIS_URL=//p' | sed -E 's|^redis://[^:]*:([^@]*)@.*|\1|')
  rc_() { local u=$1 pw=$2; shift 2; redis-cli -p "$rport" --user "$u" --pass "$pw" --no-auth-warning "$@" 2>&1; }
  # Observed as the admin user: the worker user's own view could hide a NOPERM.
  apass=$(printf '%s\n' "${rargs[@]}" | awk 'p == 2 {sub(/^>/, ""); print; exit} p == 1 {p = ($0 == "on") ? 2 : 0} $0 == "admin" && prev == "--user" {p = 1} {prev = $0}')
  consumers() { for l in "${lanes[@]}"; do rc_ admin "$apass" XINFO CONSUMERS "$l" workers; done; }
  lanes=(llmq:jobs:high llmq:jobs llmq:jobs:low)
  for l in "${lanes[@]}"; do # a dead worker's consumer: it took a job and finished it
    id=$(rc_ gateway "$gpass" XADD "$l" '*' id gone gw g0 req '{}')
    rc_ "$wuser" "$wpass" XREADGROUP GROUP workers w-gone COUNT 1 STREAMS "$l" '>' > /dev/null
    rc_ "$wuser" "$wpass" XACK "$l" workers "$id" > /dev/null; rc_ "$wuser" "$wpass" XDEL "$l" "$id" > /dev/null
  done
  check "dead consumer w-gone set up on each lane" test "$(consumers | grep -cx w-gone)" = 3
  envs=(); while IFS= read -r l; do envs+=("${l//@llmq-redis:6379/@127.0.0.1:$rport}"); done < <(spec Deployment/llama-worker-deployment worker env)
  env -i PATH=/usr/bin:/bin "${envs[@]}" LLMQ_METRICS_PORT="$(free_port)" "${worker_extra[@]}" "$sweep" > "$tmp/sweep.log" 2>&1 &
  spid=$!; pids+=("$spid")
  left=3
  for _ in $(seq 1 80); do
    left=$(consumers | grep -cx w-gone)
    [ "$left" = 0 ] && break; sleep 0.1
  done
  check "worker sweep removed the dead consumer from every lane ($left left; $(grep -c 'removing consumer' "$tmp/sweep.log") removals logged)" test "$left" = 0
  check "worker sweep: no Redis permission error" bash -c '! grep -qiE "NOPERM|no permissions|WRONGPASS|NOAUTH" "$1"' _ "$tmp/sweep.log"
  kill -TERM "$spid"
  for _ in $(seq 1 150); do kill -0 "$spid" 2>/dev/null || break; sleep 0.1; done
  wait "$spid"; rc=$?; check "sweep worker exits 0 on SIGTERM (rc $rc)" test "$rc" = 0
else skip "consumer sweep: llmq-worker-sweep not built (LLMQ_WORKER_SWEEP)"; fi
finish
