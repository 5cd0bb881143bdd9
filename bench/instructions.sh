#!/usr/bin/env bash
# bench/instructions.sh: instructions per write and per linearizable getattr on a real 3-node
# loopback cluster, counted by callgrind (repeatable on a noisy shared machine, unlike seconds).
#
# Starts three `almanac serve` (release build, one shard, zones az1..az3 on 127.0.0.1) each under
# `valgrind --tool=callgrind`, warms the cluster up with creates, then runs fixed workloads through
# `almanac bench` (AlmanacClient, majority writes, linearizable reads):
#   writes: creates with 255-byte names (compare.sh's unit), --clients C, --duration D;
#   reads:  getattr of the workers' own files, --read-clients R, --duration D.
# `almanac bench --phase-command` zeroes every node's counters after the bench's setup and dumps them
# after its last operation (callgrind_control), so the counts cover exactly the `ops_all` operations
# the bench completed. Prints instructions per operation for the leader, each follower and the sum,
# and the leader's top functions (self cost) to $WORK/top-*.txt.
# --native runs the same workloads without valgrind and prints context switches (voluntary +
# involuntary, all threads: the wake-ups) per operation per node instead. --env VAR=VALUE (repeatable)
# sets an environment variable of the servers, e.g. the measurement switches that restore the
# code paths before an optimization (ALMANAC_GENERATED_PEER_CODEC=1, ALMANAC_UNBATCHED_READ_INDEX=1).
#
# usage: bench/instructions.sh [--almanac PATH] [--clients 16] [--read-clients 64] [--duration 15]
#          [--warmup 4] [--work DIR] [--port-base 17400] [--only writes|reads] [--json FILE] [--native]
#          [--env VAR=VALUE]...
# See docs/benchmarks.md ("Instructions per operation").
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(dirname "$HERE")
ALMANAC=$REPO/.build/release/almanac
CLIENTS=16
READ_CLIENTS=64
DURATION=15
WARMUP=4
WORK=/var/tmp/almanac-instructions
PORT_BASE=17400
ONLY=""
JSON_OUT=""
NATIVE=0
SERVER_ENV=()
while [ $# -gt 0 ]; do
  case "$1" in
    --almanac) ALMANAC=$2; shift 2 ;;
    --clients) CLIENTS=$2; shift 2 ;;
    --read-clients) READ_CLIENTS=$2; shift 2 ;;
    --duration) DURATION=$2; shift 2 ;;
    --warmup) WARMUP=$2; shift 2 ;;
    --work) WORK=$2; shift 2 ;;
    --port-base) PORT_BASE=$2; shift 2 ;;
    --only) ONLY=$2; shift 2 ;;
    --json) JSON_OUT=$2; shift 2 ;;
    --native) NATIVE=1; shift ;;
    --env) SERVER_ENV+=("$2"); shift 2 ;;
    -h|--help) sed -n '2,24p' "$0"; exit 0 ;;
    *) echo "instructions.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
[ "$NATIVE" = 1 ] || command -v valgrind >/dev/null || { echo "instructions.sh: valgrind is not installed (apt-get install valgrind)" >&2; exit 1; }
[ -x "$ALMANAC" ] || { echo "instructions.sh: no almanac binary at $ALMANAC (swift build -c release --product almanac)" >&2; exit 1; }

log() { printf '[%(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
rm -rf "$WORK"; mkdir -p "$WORK"
PIDS=()
cleanup() {
  local rc=$? pid
  trap - EXIT INT TERM
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  done
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ "$NATIVE" = 0 ]; then
  gcc -O2 -shared -fPIC -o "$WORK/sigsuspend_shim.so" "$HERE/sigsuspend_shim.c" -ldl
fi
ENDPOINTS=""
MEMBERS=""
for i in 1 2 3; do
  MEMBERS+="${MEMBERS:+,}{\"id\":$i,\"zone\":\"az$i\",\"peerAddress\":\"127.0.0.1:$((PORT_BASE + i))\",\"apiAddress\":\"127.0.0.1:$((PORT_BASE + 10 + i))\"}"
  ENDPOINTS+="${ENDPOINTS:+,}127.0.0.1:$((PORT_BASE + 10 + i))"
done
for i in 1 2 3; do
  mkdir -p "$WORK/n$i"
  echo "{\"id\":$i,\"zone\":\"az$i\",\"dataDirectory\":\"$WORK/n$i\",\"shards\":1,\"clusterID\":\"instr\",\"members\":[$MEMBERS]}" > "$WORK/n$i.json"
  # The shim works around valgrind 3.19 dying in libdispatch's sigsuspend (see sigsuspend_shim.c).
  runner=(env LD_PRELOAD="$WORK/sigsuspend_shim.so" valgrind --tool=callgrind --callgrind-out-file="$WORK/cg.n$i.out"
          --dump-instr=no --compress-strings=no)
  [ "$NATIVE" = 1 ] && runner=()
  env "${SERVER_ENV[@]}" "${runner[@]}" "$ALMANAC" serve --config "$WORK/n$i.json" --log-level warning --insecure >"$WORK/n$i.log" 2>&1 </dev/null &
  PIDS+=($!)
done
for i in 1 2 3; do
  ok=0
  for _ in $(seq 600); do
    grep -q "ready" "$WORK/n$i.log" 2>/dev/null && { ok=1; break; }
    kill -0 "${PIDS[$((i - 1))]}" 2>/dev/null || break
    sleep 0.2
  done
  [ "$ok" = 1 ] || { echo "instructions.sh: node $i did not start:" >&2; tail -20 "$WORK/n$i.log" >&2; exit 1; }
done
log "cluster up$([ "$NATIVE" = 1 ] || echo " under callgrind") (pids ${PIDS[*]}; endpoints $ENDPOINTS)"

# The phase command: zero all counters at the start, dump them at the end (in parallel); and the
# context switches of every thread of every node (/proc/PID/task/*/status) at both ends.
cat > "$WORK/phase.sh" <<EOF
#!/usr/bin/env bash
case "\$1" in start) cmd=-z ;; end) cmd=-d ;; *) exit 2 ;; esac
i=0
for pid in ${PIDS[*]}; do
  i=\$((i + 1))
  cat /proc/\$pid/task/*/status 2>/dev/null | awk '/ctxt_switches/ {s += \$2} END {print s + 0}' > "$WORK/ctxt.n\$i.\$1"
  [ "$NATIVE" = 1 ] || callgrind_control \$cmd \$pid >/dev/null &
done
wait
EOF
chmod +x "$WORK/phase.sh"

leader_id() { "$ALMANAC" ctl status --endpoints "$ENDPOINTS" 2>/dev/null | sed -n 's/.*shard 0 *leader node \([0-9]*\).*/\1/p' | head -1; }
summary_of() { # dump file -> total Ir
  awk '/^(summary|totals):/ {print $2; exit}' "$1"
}
newest_dump() { ls -t "$WORK"/cg.n"$1".out.* 2>/dev/null | head -1; }

RESULTS=()
measure() { # name clients mix extra-args...
  local name=$1 clients=$2 mix=$3; shift 3
  local out json ops leader i dump ir sum=0 line
  out=$("$ALMANAC" bench --endpoints "$ENDPOINTS" --clients "$clients" --mix "$mix" --name-bytes 255 \
        --duration "$DURATION" --warmup 0 --json --no-progress --timeout 60 --phase-command "$WORK/phase.sh" "$@" \
        2>"$WORK/bench-$name.err") || { echo "instructions.sh: bench $name failed: $(tail -5 "$WORK/bench-$name.err")" >&2; exit 1; }
  json=$(echo "$out" | tail -1)
  ops=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["ops_all"])' "$json")
  leader=$(leader_id)
  line="{\"workload\":\"$name\",\"clients\":$clients,\"ops\":$ops,\"leader\":${leader:-0}"
  printf '%-8s %3d clients, %7d ops:' "$name" "$clients" "$ops"
  for i in 1 2 3; do
    local role=follower cs
    [ "$i" = "$leader" ] && role=leader
    cs=$(( $(cat "$WORK/ctxt.n$i.end") - $(cat "$WORK/ctxt.n$i.start") ))
    line+=",\"n${i}_ctxt_switches\":$cs"
    if [ "$NATIVE" = 1 ]; then
      printf '  node %d (%s) %s switches/op' "$i" "$role" "$(awk -v a="$cs" -v b="$ops" 'BEGIN{printf "%.2f", a / b}')"
      sum=$((sum + cs))
      continue
    fi
    dump=$(newest_dump "$i")
    ir=$(summary_of "$dump")
    sum=$((sum + ir))
    cp "$dump" "$WORK/$name.n$i.callgrind"
    printf '  node %d (%s) %s Ir/op' "$i" "$role" "$(awk -v a="$ir" -v b="$ops" 'BEGIN{printf "%.0f", a / b}')"
    line+=",\"n${i}_ir\":$ir"
    if [ "$role" = leader ]; then
      callgrind_annotate --threshold=100 "$WORK/$name.n$i.callgrind" 2>/dev/null | head -60 > "$WORK/top-$name.txt" || true
      line+=",\"leader_ir_per_op\":$(awk -v a="$ir" -v b="$ops" 'BEGIN{printf "%.0f", a / b}')"
    fi
  done
  if [ "$NATIVE" = 1 ]; then
    printf '  all %s switches/op (%.0f ops/s, noisy)\n' "$(awk -v a="$sum" -v b="$ops" 'BEGIN{printf "%.2f", a / b}')" \
      "$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["ops_s"])' "$json")"
    line+=",\"all_ctxt_switches_per_op\":$(awk -v a="$sum" -v b="$ops" 'BEGIN{printf "%.3f", a / b}'),\"bench\":$json}"
  else
    printf '  all %s Ir/op\n' "$(awk -v a="$sum" -v b="$ops" 'BEGIN{printf "%.0f", a / b}')"
    line+=",\"all_ir_per_op\":$(awk -v a="$sum" -v b="$ops" 'BEGIN{printf "%.0f", a / b}'),\"bench\":$json}"
  fi
  RESULTS+=("$line")
}

log "warm-up: ${WARMUP} s of creates"
"$ALMANAC" bench --endpoints "$ENDPOINTS" --clients "$CLIENTS" --mix create --name-bytes 255 --duration "$WARMUP" --warmup 0 \
  --json --no-progress --timeout 60 >/dev/null 2>"$WORK/warmup.err" || { echo "instructions.sh: warm-up failed: $(tail -5 "$WORK/warmup.err")" >&2; exit 1; }
log "leader: node $(leader_id)"
[ "$ONLY" = reads ] || measure writes "$CLIENTS" create
[ "$ONLY" = writes ] || measure getattr "$READ_CLIENTS" getattr=1 --files-per-client 1
if [ -n "$JSON_OUT" ]; then printf '%s\n' "${RESULTS[@]}" > "$JSON_OUT"; fi
log "callgrind dumps and the leader's top functions: $WORK"
