#!/usr/bin/env bash
# Latency of durable creates under a multi-shard load while a node's background storage work runs,
# for one or more builds side by side (issue 15, "blocking work on the host loop"):
#   steady    `almanac dev --shards $SHARDS --snapshot-every $SNAPSHOT_EVERY`: every node leads some
#             shards and follows the others, and the frequent snapshots make each node purge its WAL
#             every few seconds;
#   catch-up  the same, with node 3 killed (SIGKILL) a quarter into the window and restarted at its
#             half: it catches up from snapshots streamed by the leaders while they serve the load.
# Each build is run RUNS times per scenario, interleaved (A B A B ...), so that drift of this shared
# machine falls on both. Prints one markdown row per run, then the median per build and scenario.
# Usage (release builds):  bash bench/host-loop.sh LABEL=BIN [LABEL=BIN ...]
# Environment: SHARDS (4), CLIENTS (64), DURATION (20), RUNS (3), SNAPSHOT_EVERY (5000),
#              SCENARIOS ("steady catch-up"), PORT (7600).
set -euo pipefail
cd "$(dirname "$0")/.."
SHARDS="${SHARDS:-4}"; CLIENTS="${CLIENTS:-64}"; DURATION="${DURATION:-20}"; RUNS="${RUNS:-3}"
SNAPSHOT_EVERY="${SNAPSHOT_EVERY:-5000}"; SCENARIOS="${SCENARIOS:-steady catch-up}"; PORT="${PORT:-7600}"
[ $# -ge 1 ] || { echo "usage: $0 LABEL=BIN [LABEL=BIN ...]" >&2; exit 2; }
WORK="$(mktemp -d /tmp/almanac-host-loop.XXXXXX)"
DEV=""
cleanup() { [ -n "$DEV" ] && { kill "$DEV" 2>/dev/null || true; wait "$DEV" 2>/dev/null || true; }; rm -rf "$WORK"; }
trap cleanup EXIT
ROWS="$WORK/rows.tsv"; : > "$ROWS"

run_once() {  # label bin scenario
  local label="$1" bin="$2" scenario="$3" data="$WORK/data"
  rm -rf "$data"
  "$bin" dev --insecure --no-auth --shards "$SHARDS" --snapshot-every "$SNAPSHOT_EVERY" --data-dir "$data" \
    --base-port "$PORT" > "$WORK/dev.log" 2>&1 &
  DEV=$!
  for _ in $(seq 1 150); do grep -q "Cluster is up" "$WORK/dev.log" && break; sleep 0.3; done
  grep -q "Cluster is up" "$WORK/dev.log" || { cat "$WORK/dev.log" >&2; exit 1; }
  local endpoints="127.0.0.1:$((PORT + 1)),127.0.0.1:$((PORT + 2)),127.0.0.1:$((PORT + 3))"
  local drill=""
  if [ "$scenario" = catch-up ]; then
    ( sleep $((2 + DURATION / 4)); "$bin" ctl node kill 3 --data-dir "$data" >/dev/null 2>&1 || true
      sleep $((DURATION / 4)); "$bin" ctl node start 3 --data-dir "$data" >/dev/null 2>&1 || true ) &
    drill=$!
  fi
  local line
  line=$("$bin" bench --endpoints "$endpoints" --clients "$CLIENTS" --mix create-heavy --duration "$DURATION" \
    --warmup 2 --json --no-progress --timeout 30 2>>"$WORK/bench.err" || true)
  [ -n "$drill" ] && wait "$drill" 2>/dev/null || true
  local purges installed
  purges=$(cat "$data"/node*.log 2>/dev/null | grep -c "WAL purged" || true)
  installed=$(cat "$data"/node*.log 2>/dev/null | grep -c "snapshot received" || true)
  kill "$DEV"; wait "$DEV" 2>/dev/null || true; DEV=""
  python3 - "$label" "$scenario" "$line" "$purges" "$installed" >> "$ROWS" <<'PY'
import json, sys
label, scenario, line, purges, installed = sys.argv[1:6]
try:
    r = json.loads(line)
    print("\t".join([label, scenario, f"{float(r['ops_s']):.0f}", f"{float(r['p50_ms']):.2f}", f"{float(r['p99_ms']):.2f}",
                     f"{float(r['p999_ms']):.2f}", f"{float(r['max_ms']):.1f}", str(r.get('errors', 0)), purges, installed]))
except Exception:
    print("\t".join([label, scenario, "failed", "", "", "", "", "", purges, installed]))
PY
  tail -1 "$ROWS" | awk -F'\t' '{printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n",$1,$2,$3,$4,$5,$6,$7,$8,$9,$10}'
  sleep 1
}

echo "shards $SHARDS, $CLIENTS clients, create-heavy, ${DURATION} s windows, snapshot every $SNAPSHOT_EVERY entries, $RUNS runs; $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "| build | scenario | ops/s | p50 ms | p99 ms | p99.9 ms | max ms | errors | WAL purges | snapshots installed |"
echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"
for scenario in $SCENARIOS; do
  for run in $(seq 1 "$RUNS"); do
    for pair in "$@"; do run_once "${pair%%=*}" "${pair#*=}" "$scenario"; done
  done
done
echo
echo "Medians:"
echo "| build | scenario | ops/s | p50 ms | p99 ms | p99.9 ms | max ms |"
echo "|---|---|---:|---:|---:|---:|---:|"
python3 - "$ROWS" <<'PY'
import statistics, sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.strip()]
seen = []
for r in rows:
    if (r[0], r[1]) not in seen: seen.append((r[0], r[1]))
for label, scenario in seen:
    ok = [r for r in rows if r[0] == label and r[1] == scenario and r[2] != "failed"]
    if not ok: print(f"| {label} | {scenario} | failed | | | | |"); continue
    med = lambda i: statistics.median(float(r[i]) for r in ok)
    print(f"| {label} | {scenario} | {med(2):,.0f} | {med(3):.2f} | {med(4):.2f} | {med(5):.2f} | {med(6):.1f} |")
PY
