#!/usr/bin/env bash
# bench/stall.sh: do snapshots stall requests at a large namespace? (issue #17, goal 5: "max
# latency at 10 M inodes within 2x its value at 10 k"), end to end through a real cluster.
#
# For each size: a fresh 3-node, 1-shard `almanac dev` (default settings: a checkpoint every
# 100,000 entries) is filled with creates (64 clients, one directory each, 255-byte names would
# cost 3x the memory: the names are 32 bytes) until it holds SIZE inodes; then LOAD_CLIENTS clients
# create files for LOAD_SECONDS while the replicas keep taking checkpoints of the whole state. It
# prints per size: the load's ops/s, p50, p99, p99.9 and max, and how many checkpoints of shard 0
# the three replicas finished inside the window (a window without one measures nothing).
#
# usage: bench/stall.sh [ALMANAC_BINARY]
# Environment: SIZES (10000 10000000), LOAD_CLIENTS (16), LOAD_SECONDS (60), FILL_CLIENTS (64),
# NAME_BYTES (32), PORT (7900). Release build; 10 M inodes take about 15-20 minutes to fill and
# about 4 GB of memory per node.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN="$(realpath "${1:-.build/release/almanac}")"
SIZES="${SIZES:-10000 10000000}"
LOAD_CLIENTS="${LOAD_CLIENTS:-16}"
LOAD_SECONDS="${LOAD_SECONDS:-60}"
FILL_CLIENTS="${FILL_CLIENTS:-64}"
NAME_BYTES="${NAME_BYTES:-32}"
PORT="${PORT:-7900}"
[ -x "$BIN" ] || { echo "stall.sh: no almanac binary at $BIN (swift build -c release --product almanac)" >&2; exit 1; }
DEV=""
WORK=""
cleanup() {
  if [ -n "$DEV" ]; then kill "$DEV" 2>/dev/null || true; wait "$DEV" 2>/dev/null || true; fi
  if [ -n "$WORK" ]; then rm -rf "$WORK"; fi
}
trap cleanup EXIT
. bench/migrate-lib.sh

checkpoints() {  # snapshots of shard 0 (group 0) the three nodes have taken so far
  cat "$WORK"/data/node*.log 2>/dev/null | grep -c 'group=0 .*snapshot taken' || true
}
ROWS=()
for size in $SIZES; do
  WORK="$(mktemp -d /tmp/almanac-stall.XXXXXX)"
  start_dev 3 1
  filled=0
  started=$(date +%s)
  while [ "$filled" -lt "$size" ]; do
    left=$((size - filled))
    # near the size: 1 s of 4 clients (a few thousand creates); far from it: 20 s of FILL_CLIENTS
    if [ "$left" -lt 200000 ]; then seconds=1; clients=4; else seconds=20; clients=$FILL_CLIENTS; fi
    out=$("$BIN" bench --endpoints "$ALMANAC_ENDPOINTS" --clients "$clients" --mix create --name-bytes "$NAME_BYTES" \
      --workspace fill --duration "$seconds" --warmup 0 --files-per-client 0 --json --no-progress)
    filled=$((filled + $(python3 -c "import json,sys; print(json.loads(sys.argv[1])['ops'])" "$out")))
    echo "size $size: $filled inodes after $(( $(date +%s) - started )) s; $(ps -o rss= -p "$(pgrep -f "serve.*node1" | head -1)" 2>/dev/null | awk '{printf "node 1 resident %.0f MB", $1/1024}')" >&2
  done
  sleep 15  # the checkpoints of the fill finish
  before=$(checkpoints)
  load=$("$BIN" bench --endpoints "$ALMANAC_ENDPOINTS" --clients "$LOAD_CLIENTS" --mix create --name-bytes "$NAME_BYTES" \
    --duration "$LOAD_SECONDS" --warmup 2 --json --no-progress --label "$filled inodes")
  after=$(checkpoints)
  resident=$(for p in $(pgrep -f "$WORK/data"); do ps -o rss= -p "$p"; done | sort -n | tail -1)
  ROWS+=("$(python3 - "$load" "$((after - before))" "${resident:-0}" <<'PY'
import json, sys
r = json.loads(sys.argv[1])
print(f"| {r['label']} | {float(r['ops_s']):,.0f} | {float(r['p50_ms']):.2f} | {float(r['p99_ms']):.2f} | {float(r['p999_ms']):.2f} | {float(r['max_ms']):.1f} | {sys.argv[2]} | {int(sys.argv[3]) / 1024:,.0f} | {r.get('errors', 0)} |")
PY
)")
  grep -h "group=0 .*snapshot taken" "$WORK"/data/node*.log | tail -3 | sed 's/^/  /' >&2 || true
  cleanup
  DEV=""
  WORK=""
done
echo "| inodes in the shard | ops/s | p50 ms | p99 ms | p99.9 ms | max ms | checkpoints in the window (3 replicas) | largest node RSS MB | errors |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
printf '%s\n' "${ROWS[@]}"
echo
echo "load: $LOAD_CLIENTS clients creating files ($NAME_BYTES-byte names) for $LOAD_SECONDS s; target (issue #17): max at 10 M inodes <= 2x max at 10 k"
