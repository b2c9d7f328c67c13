#!/bin/sh
# bench_worker.sh -- worker overhead with a free engine: N concurrent sequences on the
# synthetic engine at --step-ms 0, tokens published to a subscribed gateway channel.
# Reports worker CPU-seconds per 1000 tokens (from /proc/<pid>/stat) and steps/s.
# usage: bench_worker.sh BIN_DIR [N_SEQ (256)] [TOKENS_PER_SEQ (2000)]
set -eu
BIN=${1:?usage: bench_worker.sh BIN_DIR [N_SEQ] [TOKENS]}
N=${2:-256}
T=${3:-2000}
free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
RP=$(free_port); MP=$(free_port)
DIR=$(mktemp -d /tmp/llmq-bench-worker-XXXXXX)
redis-server --port "$RP" --bind 127.0.0.1 --save '' --appendonly no --dir "$DIR" --daemonize no >"$DIR/redis.log" 2>&1 &
RPID=$!
WPID=; SPID=
cleanup() { [ -n "$WPID" ] && kill "$WPID" 2>/dev/null; [ -n "$SPID" ] && kill "$SPID" 2>/dev/null; kill "$RPID" 2>/dev/null; wait 2>/dev/null; rm -rf "$DIR"; }
trap cleanup EXIT
for i in $(seq 50); do redis-cli -p "$RP" ping >/dev/null 2>&1 && break; sleep 0.1; done
"$BIN/llmq-worker" --redis-url "redis://127.0.0.1:$RP" --prefix b: --id bench --metrics-port "$MP" \
  --max-batch "$N" --step-ms 0 --prefill-us 0 >"$DIR/worker.log" 2>&1 &
WPID=$!
for i in $(seq 100); do curl -sf "http://127.0.0.1:$MP/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
redis-cli -p "$RP" subscribe b:gw:g1 >/dev/null &
SPID=$!
metric() { curl -s "http://127.0.0.1:$MP/metrics" | awk -v n="$1" '$1==n {print $2}'; }
cpu() { awk '{print $14+$15}' "/proc/$WPID/stat"; }
HZ=$(getconf CLK_TCK)
i=0; : >"$DIR/cmds"
while [ $i -lt "$N" ]; do
  echo "XADD b:jobs * id j$i gw g1 req '{\"prompt\":\"bench $i\",\"max_tokens\":$T,\"seed\":$i}'" >>"$DIR/cmds"; i=$((i+1))
done
C0=$(cpu); S0=$(metric llmq_engine_steps_total); K0=$(metric llmq_tokens_generated_total); W0=$(date +%s.%N)
redis-cli -p "$RP" <"$DIR/cmds" >/dev/null
until [ "$(metric 'llmq_worker_jobs_total{outcome="done"}')" = "$N" ]; do sleep 0.05; done
C1=$(cpu); S1=$(metric llmq_engine_steps_total); K1=$(metric llmq_tokens_generated_total); W1=$(date +%s.%N)
awk -v c0="$C0" -v c1="$C1" -v hz="$HZ" -v s0="$S0" -v s1="$S1" -v k0="$K0" -v k1="$K1" -v w0="$W0" -v w1="$W1" -v n="$N" 'BEGIN {
  cpu=(c1-c0)/hz; tok=k1-k0; wall=w1-w0;
  printf "sequences %d, tokens %d, wall %.2f s, worker CPU %.2f s\n", n, tok, wall, cpu;
  printf "CPU-seconds per 1000 tokens: %.5f\n", cpu*1000/tok;
  printf "steps/s: %.0f, tokens/s: %.0f, mean batch %.1f\n", (s1-s0)/wall, tok/wall, tok/(s1-s0) }'
