#!/usr/bin/env bash
# test_redis_acl.sh -- the Redis ACL users of deploy/k8s, for real: starts redis-server 7 on a
# free 127.0.0.1 port with the exact user arguments of the rendered StatefulSet, then checks
# with ACL DRYRUN (and a few real calls) that each user may run the commands docs/QUEUE.md
# gives its component, on its keys and channels (the three priority lanes llmq:jobs:high,
# llmq:jobs, llmq:jobs:low included), and nothing else (no other keys, no admin commands, no
# FLUSHALL/KEYS/CONFIG/EVAL). Bounded: a few seconds.
set -uo pipefail
. "$(dirname "$0")/lib.sh"

if ! have_node_yaml; then skip "redis_acl: $need_node_yaml_reason"; finish; exit; fi
if ! command -v redis-server >/dev/null || ! command -v redis-cli >/dev/null; then skip "redis_acl: redis-server/redis-cli not installed"; finish; exit; fi

tmp=$(mktemp -d)
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT

render cpu "$tmp/render.yaml" || { fail "render ($RENDERED_FROM)"; finish; exit; }
# The user arguments, one per line, with the kubelet's $(VAR) expansion done by hand.
node -e '
  const yaml = require(process.argv[1]);
  const objs = yaml.loadAll(require("fs").readFileSync(process.argv[2], "utf8")).filter(Boolean);
  const ss = objs.find((o) => o.kind === "StatefulSet" && o.metadata.name === "llmq-redis");
  const args = ss.spec.template.spec.containers[0].args.slice(1);   /* [0] is the config file */
  const pw = { GATEWAY_PASSWORD: "gw-pw", WORKER_PASSWORD: "wk-pw", ADMIN_PASSWORD: "ad-pw", KEDA_PASSWORD: "kd-pw" };
  for (const a of args) console.log(a.replace(/\$\((\w+)\)/g, (_, v) => pw[v]));
' "$SRC/tools/k8s-validate/node_modules/js-yaml" "$tmp/render.yaml" > "$tmp/args" || { fail "extract redis args"; finish; exit; }
mapfile -t acl < "$tmp/args"

# A free port below the ephemeral range; retried, since another test may take it first.
# A test-only superuser "t" runs ACL DRYRUN; everything else is the manifest's.
port="" pid=""
for _ in $(seq 1 5); do
  p=$((20000 + RANDOM % 12000))
  (echo > /dev/tcp/127.0.0.1/$p) 2>/dev/null && continue
  redis-server --bind 127.0.0.1 --port "$p" --dir "$tmp" --save '' --appendonly no \
    --protected-mode no "${acl[@]}" --user t on '>t-pw' '~*' '&*' '+@all' > "$tmp/redis.log" 2>&1 &
  pid=$!
  for _ in $(seq 1 50); do
    redis-cli -p "$p" --user t --pass t-pw --no-auth-warning PING 2>/dev/null | grep -q PONG && { port=$p; break; }
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  [ -n "$port" ] && break
  kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; pid=""
  grep -q 'Address already in use' "$tmp/redis.log" || break
done
if [ -z "$port" ]; then
  fail "redis-server did not start with the manifest's ACL arguments: $(tail -3 "$tmp/redis.log")"; finish; exit
fi
pass

as() { local u=$1 pw=$2; shift 2; redis-cli -p "$port" --user "$u" --pass "$pw" --no-auth-warning "$@" 2>&1; }
dry() { as t t-pw ACL DRYRUN "$@"; }
allow() { local out; out=$(dry "$@"); if [ "$out" = OK ]; then pass; else fail "allow: $* -> $out"; fi; }
deny()  { local out; out=$(dry "$@"); if [ "$out" != OK ]; then pass; else fail "deny: $* was allowed"; fi; }

# default user is off
out=$(redis-cli -p "$port" PING 2>&1); check "default user disabled ($out)" grep -q NOAUTH <<<"$out"

# --- gateway (docs/QUEUE.md: admit, enqueue, read queue depth, replay, idempotency, cancel)
allow gateway HSET llmq:job:a1 state queued gw g1 attempts 0
allow gateway EXPIRE llmq:job:a1 86400
LANES=(llmq:jobs:high llmq:jobs llmq:jobs:low)
for l in "${LANES[@]}"; do
  allow gateway XADD "$l" '*' id a1 gw g1 req '{}'
  allow gateway XINFO GROUPS "$l"
  allow gateway XLEN "$l"
  allow gateway XGROUP CREATE "$l" workers 0 MKSTREAM
done
deny gateway XADD llmq:jobs:other '*' id a1
allow gateway HGETALL llmq:job:a1
allow gateway SET llmq:idem:k1:i1 a1 NX EX 86400
allow gateway GET llmq:idem:k1:i1
allow gateway XRANGE llmq:out:a1 - +
allow gateway XREAD COUNT 10 BLOCK 100 STREAMS llmq:out:a1 0
allow gateway SMEMBERS llmq:workers
allow gateway GET llmq:worker:w1
allow gateway PUBLISH llmq:cancel a1
allow gateway SUBSCRIBE llmq:gw:g1
allow gateway PING
deny gateway XREADGROUP GROUP workers w1 COUNT 1 STREAMS llmq:jobs '>'
deny gateway XACK llmq:jobs:high workers 1-0
deny gateway XGROUP DELCONSUMER llmq:jobs workers w1
deny gateway XADD llmq:dlq '*' id a1
deny gateway XRANGE llmq:dlq - +
deny gateway XADD llmq:out:a1 '*' t x
deny gateway SET llmq:worker:w1 x
deny gateway SET other:key x
deny gateway PUBLISH other a1
deny gateway SUBSCRIBE other
deny gateway FLUSHALL
deny gateway KEYS '*'
deny gateway CONFIG SET appendonly no
allow gateway EVAL "return redis.call('HGET', KEYS[1], 'state')" 2 llmq:job:a1 llmq:cancel
allow gateway EVAL "return redis.call('HGET', KEYS[1], 'state')" 2 llmq:job:a1 llmq:out:a1
deny gateway EVAL 'return 1' 1 other:key
deny gateway EVAL 'return 1' 1 llmq:dlq
deny gateway DEL llmq:jobs

# --- worker (pull, lease, run, publish, replay log, DLQ, heartbeat, consumer sweep): every
# command of src/worker, on every lane
for l in "${LANES[@]}"; do
  allow worker XREADGROUP GROUP workers w1 COUNT 1 STREAMS "$l" '>'
  allow worker XACK "$l" workers 1-0
  allow worker XDEL "$l" 1-0
  allow worker XCLAIM "$l" workers w1 0 1-0 JUSTID
  allow worker XCLAIM "$l" workers w1 0 1-0 IDLE 5000 JUSTID
  allow worker XAUTOCLAIM "$l" workers w1 3000 0-0 COUNT 8
  allow worker XGROUP CREATE "$l" workers 0 MKSTREAM
  allow worker XINFO CONSUMERS "$l" workers
  allow worker XGROUP DELCONSUMER "$l" workers w-old
done
allow worker XREADGROUP GROUP workers w1 COUNT 1 BLOCK 1000 STREAMS "${LANES[@]}" '>' '>' '>'
deny worker XREADGROUP GROUP workers w1 COUNT 1 STREAMS llmq:jobs:other '>'
deny worker XGROUP DESTROY llmq:jobs workers
deny worker XGROUP SETID llmq:jobs workers 0
deny worker XTRIM llmq:jobs MAXLEN 0
allow worker HINCRBY llmq:job:a1 attempts 1
allow worker HINCRBY llmq:job:a1 attempts -1
allow worker HSET llmq:job:a1 state running worker w1 dequeued_us 1
allow worker HMGET llmq:job:a1 state
allow worker EXPIRE llmq:job:a1 3600
allow worker XADD llmq:dlq '*' id a1 error x
allow worker XADD llmq:dlq '*' entry 1-0 error x
allow worker XADD llmq:out:a1 '*' i 0 n 1 t x
allow worker EXPIRE llmq:out:a1 600
allow worker PUBLISH llmq:gw:g1 x
allow worker SUBSCRIBE llmq:cancel
allow worker SET llmq:worker:w1 '{}' PX 3000
allow worker SADD llmq:workers w1
allow worker DEL llmq:worker:w1
deny worker DEL llmq:jobs
deny worker EVAL 'return 1' 0
deny worker XRANGE llmq:dlq - +
deny worker SET llmq:idem:k1:i1 x
deny worker SUBSCRIBE llmq:gw:g1x other
deny worker FLUSHDB
deny worker KEYS '*'
deny worker CONFIG GET '*'
deny worker GET other:key

# --- keda (read each lane's lag only)
for l in "${LANES[@]}"; do
  allow keda XINFO GROUPS "$l"
  allow keda XPENDING "$l" workers
  allow keda XLEN "$l"
done
deny keda XINFO GROUPS llmq:jobs:other
deny keda XADD llmq:jobs '*' a b
deny keda XRANGE llmq:jobs - +
deny keda HGETALL llmq:job:a1
deny keda XINFO GROUPS other

# --- admin (operators: DLQ, status)
allow admin XRANGE llmq:dlq - +
allow admin XDEL llmq:dlq 1-0
allow admin XADD llmq:jobs '*' id a1
allow admin INFO
allow admin SCAN 0 MATCH 'llmq:worker:*' COUNT 500
allow admin DEL llmq:dlq
deny admin FLUSHALL
deny admin KEYS '*'
deny admin CONFIG SET appendonly no
deny admin DEBUG SLEEP 0
deny admin GET other:key

# --- real calls: the queue-init Job's command twice per lane (OK, then BUSYGROUP), one
# job's life in each lane, and the worker's consumer sweep
for l in "${LANES[@]}"; do
  check "queue-init creates the group of $l" grep -qx OK <<<"$(as gateway gw-pw XGROUP CREATE "$l" workers 0 MKSTREAM)"
  check "queue-init is idempotent on $l" grep -q BUSYGROUP <<<"$(as gateway gw-pw XGROUP CREATE "$l" workers 0 MKSTREAM)"
done
for l in "${LANES[@]}"; do
  id=$(as gateway gw-pw XADD "$l" '*' id a1 gw g1 req '{}')
  check "gateway enqueues on $l" grep -Eq '^[0-9]+-[0-9]+$' <<<"$id"
  lag=$(as keda kd-pw XINFO GROUPS "$l" | grep -A1 -x lag | tail -1)
  check "keda reads lag 1 on $l (got '$lag')" test "$lag" = 1
  got=$(as worker wk-pw XREADGROUP GROUP workers w1 COUNT 1 STREAMS "${LANES[@]}" '>' '>' '>')
  check "worker reads the job of $l" grep -q "$l" <<<"$got"
  check "worker acks on $l" grep -qx 1 <<<"$(as worker wk-pw XACK "$l" workers "$id")"
  check "worker deletes on $l" grep -qx 1 <<<"$(as worker wk-pw XDEL "$l" "$id")"
done
# The hourly sweep (src/worker/lease.c): XINFO CONSUMERS, then DELCONSUMER of an idle one.
id=$(as gateway gw-pw XADD llmq:jobs:low '*' id a2 gw g1 req '{}')
as worker wk-pw XREADGROUP GROUP workers w-old COUNT 1 STREAMS llmq:jobs:low '>' > /dev/null
as worker wk-pw XACK llmq:jobs:low workers "$id" > /dev/null
out=$(as worker wk-pw XINFO CONSUMERS llmq:jobs:low workers)
check "worker lists consumers ($(tr '\n' ' ' <<<"$out" | head -c 80))" grep -qx w-old <<<"$out"
check "worker removes a dead consumer" grep -qx 0 <<<"$(as worker wk-pw XGROUP DELCONSUMER llmq:jobs:low workers w-old)"
check "real denial" grep -q NOPERM <<<"$(as worker wk-pw XRANGE llmq:dlq - +)"
check "real denial of another stream" grep -q NOPERM <<<"$(as worker wk-pw XINFO CONSUMERS llmq:jobs:other workers)"

# --- why the keda overlay sizes on the gateway's lag (docs/AUTOSCALING.md, "KEDA's triggers"):
# once a worker XDELs a finished entry while an older one still runs, Redis reports no lag
# (nil) though jobs wait; the gateway then uses XLEN - pending. Pinned here so a Redis that
# changes this is noticed.
s=llmq:jobs:high
for j in j1 j2 j3; do as gateway gw-pw XADD "$s" '*' id "$j" gw g1 req '{}' > /dev/null; done
ids=$(as worker wk-pw XREADGROUP GROUP workers w1 COUNT 2 STREAMS "$s" '>' | grep -E '^[0-9]+-[0-9]+$')
second=$(sed -n 2p <<<"$ids")
as worker wk-pw XACK "$s" workers "$second" > /dev/null; as worker wk-pw XDEL "$s" "$second" > /dev/null
as gateway gw-pw XADD "$s" '*' id j4 gw g1 req '{}' > /dev/null
info=$(as keda kd-pw XINFO GROUPS "$s")
lag=$(sed -n '/^lag$/{n;p}' <<<"$info"); pend=$(grep -A1 -x pending <<<"$info" | tail -1)
xlen=$(as keda kd-pw XLEN "$s")
check "out-of-order XDEL: Redis lag is nil (got '$lag'), XLEN - pending = 2 ($xlen - $pend)" \
  test -z "$lag" -a "$((xlen - pend))" = 2

# --- the gateway's Lua scripts (src/gateway stream.c, route.c, fanout.c), run for real: the
# commands inside a script are checked against the same user.
as gateway gw-pw HSET llmq:job:a1 state queued key k1 > /dev/null
cancel="local s = redis.call('HGET', KEYS[1], 'state') if s == 'queued' then redis.call('HSET', KEYS[1], 'state', 'cancelled') end redis.call('PUBLISH', KEYS[2], ARGV[1]) return s"
check "gateway cancel script" grep -qx queued <<<"$(as gateway gw-pw EVAL "$cancel" 2 llmq:job:a1 llmq:cancel a1)"
del="local s = redis.call('HGET', KEYS[1], 'state') if not s then return false end if ARGV[2] ~= '' then local k = redis.call('HGET', KEYS[1], 'key') if k and k ~= ARGV[2] then return false end end if s == 'queued' then redis.call('HSET', KEYS[1], 'state', 'cancelled') end if s ~= 'done' and s ~= 'failed' and s ~= 'cancelled' then redis.call('PUBLISH', KEYS[2], ARGV[1]) end return s"
check "gateway DELETE /v1/jobs script" grep -qx cancelled <<<"$(as gateway gw-pw EVAL "$del" 2 llmq:job:a1 llmq:cancel a1 k1)"
resume="return {redis.call('HGET', KEYS[1], 'state'), redis.call('EXISTS', KEYS[2])}"
out=$(as gateway gw-pw EVAL "$resume" 2 llmq:job:a1 llmq:out:a1)
check "gateway cannot write a replay log from a script" grep -q "can't access" <<<"$(as gateway gw-pw EVAL "return redis.call('XADD', KEYS[2], '*', 't', 'x')" 2 llmq:job:a1 llmq:out:a1)"
check "gateway resume script ($out)" bash -c '! grep -q -i err <<<"$1"' _ "$out"
check "a script cannot escape the ACL" grep -q "can't run this command" <<<"$(as gateway gw-pw EVAL "return redis.call('FLUSHALL')" 0)"

finish
