#!/usr/bin/env bash
# bench/prefetch-replay.sh: `almanac replay` of strace traces against `almanac dev` with each
# prediction model (docs/prediction.md, "Measured"). For each model: a fresh dev cluster on its own
# data directory, one replay (JSON kept), the nodes' CPU seconds (utime+stime from /proc) over the
# replay, then the cluster is stopped. Prints one JSON object per line: model, trace, report, cpu.
#
# usage: bench/prefetch-replay.sh [--almanac .build/release/almanac] [--models "none markov rnn"]
#          [--threshold 0.9] [--limit N] [--durability "majority async"] [--base-port 27600]
#          [--work /tmp/almanac-prefetch] [--background-clients N --background-seconds S] TRACE...
# Each model runs under each durability (`replay --durability`; async: acknowledged ahead of commit).
# With --background-clients, `almanac bench` (N clients, creates, majority) runs beside the replay
# for S seconds, starting 0.5 s after it: its throughput ("background") is what other clients get
# while prefetching runs (the replay must outlast it: compare its replay time with S).
set -euo pipefail
ALMANAC=.build/release/almanac
MODELS="none markov rnn"
THRESHOLD=0.9
LIMIT=""
DURABILITIES=majority
BASE=27600
WORK=/tmp/almanac-prefetch
BACKGROUND=0
BACKGROUND_SECONDS=5
while [ $# -gt 0 ]; do
  case "$1" in
    --almanac) ALMANAC=$2; shift 2 ;;
    --models) MODELS=$2; shift 2 ;;
    --threshold) THRESHOLD=$2; shift 2 ;;
    --limit) LIMIT="--limit $2"; shift 2 ;;
    --durability) DURABILITIES=$2; shift 2 ;;
    --base-port) BASE=$2; shift 2 ;;
    --work) WORK=$2; shift 2 ;;
    --background-clients) BACKGROUND=$2; shift 2 ;;
    --background-seconds) BACKGROUND_SECONDS=$2; shift 2 ;;
    -*) echo "unknown option $1" >&2; exit 2 ;;
    *) break ;;
  esac
done
[ $# -gt 0 ] || { echo "usage: $0 [options] TRACE..." >&2; exit 2; }
export ALMANAC_ENDPOINTS=127.0.0.1:$((BASE + 1)),127.0.0.1:$((BASE + 2)),127.0.0.1:$((BASE + 3))

cpu_of_nodes() {  # total utime+stime (seconds) of the dev cluster's serve processes
  local total=0 pid
  for pid in $(pgrep -f "serve --config $1/node" || true); do
    total=$(awk -v t="$total" -v hz="$(getconf CLK_TCK)" '{ print t + ($14 + $15) / hz }' "/proc/$pid/stat")
  done
  echo "$total"
}

for trace in "$@"; do
  for durability in $DURABILITIES; do
  for model in $MODELS; do
    dir="$WORK/$model-$durability-$(basename "$trace" .strace.tar.gz)"
    rm -rf "$dir"; mkdir -p "$dir"
    queue=256; [ "$model" = none ] && queue=0
    "$ALMANAC" dev --insecure --no-auth --data-dir "$dir" --base-port "$BASE" --prediction-model-type "$model" \
      --confidence-threshold "$THRESHOLD" --prefetch-queue-size "$queue" > "$dir/dev.out" 2>&1 &
    dev=$!
    for _ in $(seq 1 100); do grep -q "Press Ctrl-C" "$dir/dev.out" 2>/dev/null && break; sleep 0.2; done
    sleep 1
    before=$(cpu_of_nodes "$dir")
    background=null
    if [ "$BACKGROUND" -gt 0 ]; then
      (sleep 0.5; "$ALMANAC" bench --endpoints "$ALMANAC_ENDPOINTS" --clients "$BACKGROUND" --mix create --name-bytes 255 \
         --duration "$BACKGROUND_SECONDS" --warmup 0 --json --no-progress 2>"$dir/bench.err" | tail -1 > "$dir/bench.json") &
      bench=$!
    fi
    # shellcheck disable=SC2086
    "$ALMANAC" replay "$trace" --json --no-progress --durability "$durability" $LIMIT > "$dir/replay.json"
    after=$(cpu_of_nodes "$dir")
    if [ "$BACKGROUND" -gt 0 ]; then
      wait "$bench" || true
      background=$(python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print(json.dumps({"clients": r["clients"], "ops_s": r["ops_s"], "p50_ms": r["p50_ms"], "p99_ms": r["p99_ms"]}))' "$dir/bench.json" 2>/dev/null || echo null)
    fi
    kill "$dev"; wait "$dev" || true
    printf '{"model":"%s","durability":"%s","trace":"%s","node_cpu_seconds":%s,"background":%s,"report":%s}\n' "$model" "$durability" "$(basename "$trace")" \
      "$(awk -v a="$after" -v b="$before" 'BEGIN { print a - b }')" "$background" "$(tr -d '\n' < "$dir/replay.json")"
  done
done
done
