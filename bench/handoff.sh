#!/usr/bin/env bash
# Segment hand-off cost on this machine: fill a 4-shard `almanac dev` with files (create-heavy
# bench), then measure (1) the disk's sequential write bandwidth in the data directory (dd with
# fdatasync), (2) `ctl reshard merge 3 --into 2` and `ctl reshard split 2 --into 3` (time, records,
# bytes copied, copy rate), and (3) client latency of a mixed bench without and during a merge.
# Prints markdown tables. Usage (release build recommended):
#   swift build -c release --product almanac
#   bash bench/handoff.sh [ALMANAC_BINARY]
# Environment: FILL_SECONDS (60: create-heavy fill), FILL_CLIENTS (64), LOAD_CLIENTS (16),
# LOAD_SECONDS (12), PORT (7700).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN="$(realpath "${1:-.build/release/almanac}")"
FILL_SECONDS="${FILL_SECONDS:-60}"
FILL_CLIENTS="${FILL_CLIENTS:-64}"
LOAD_CLIENTS="${LOAD_CLIENTS:-16}"
LOAD_SECONDS="${LOAD_SECONDS:-12}"
PORT="${PORT:-7700}"
WORK="$(mktemp -d /tmp/almanac-handoff-bench.XXXXXX)"
trap 'kill "$DEV" 2>/dev/null || true; wait "$DEV" 2>/dev/null || true; rm -rf "$WORK"' EXIT

"$BIN" dev --insecure --no-auth --shards 4 --data-dir "$WORK/data" --base-port "$PORT" > "$WORK/dev.log" 2>&1 &
DEV=$!
for _ in $(seq 1 100); do grep -q "Cluster is up" "$WORK/dev.log" && break; sleep 0.3; done
grep -q "Cluster is up" "$WORK/dev.log" || { cat "$WORK/dev.log" >&2; exit 1; }
export ALMANAC_ENDPOINTS="127.0.0.1:$((PORT + 1)),127.0.0.1:$((PORT + 2)),127.0.0.1:$((PORT + 3))"
unset ALMANAC_CA ALMANAC_TOKEN ALMANAC_TOKEN_KEY

echo "filling: create-heavy, $FILL_CLIENTS clients, $FILL_SECONDS s" >&2
"$BIN" bench --endpoints "$ALMANAC_ENDPOINTS" --clients "$FILL_CLIENTS" --mix create --duration "$FILL_SECONDS" --warmup 1 --json --no-progress > "$WORK/fill.json"

# The disk: sequential writes with one fdatasync at the end, in the data directory.
DISK=$(dd if=/dev/zero of="$WORK/data/dd.test" bs=1M count=512 conv=fdatasync 2>&1 | tail -1)
rm -f "$WORK/data/dd.test"
DISK_MBS=$(python3 -c "import re,sys; m=re.search(r'([0-9.,]+) ([MG])B/s', sys.argv[1]); v=float(m.group(1).replace(',','.')); print(v*1000 if m.group(2)=='G' else v)" "$DISK")

handoff() {  # $@: ctl reshard arguments; prints "seconds records bytes"
  "$BIN" ctl reshard "$@" --json | python3 -c "
import json,sys
r=json.load(sys.stdin)[0]
print(r['seconds'], r['records'], r['entries'], r['bytes'], r['outcome'])"
}
echo "| hand-off | outcome | records | entries | bytes copied | seconds | copy MB/s | disk MB/s (dd) | copy / disk |"
echo "|---|---|---:|---:|---:|---:|---:|---:|---:|"
for args in "merge 3 --into 2" "split 2 --into 3"; do
  read -r secs recs ents bytes outcome < <(handoff $args)
  python3 - "$args" "$outcome" "$recs" "$ents" "$bytes" "$secs" "$DISK_MBS" <<'PY'
import sys
name, outcome, recs, ents, b, s, disk = sys.argv[1:8]
rate = int(b) / 1e6 / max(float(s), 1e-9)
print(f"| {name} | {outcome} | {int(recs):,} | {int(ents):,} | {int(b):,} | {float(s):.2f} | {rate:.1f} | {float(disk):.0f} | {rate/float(disk)*100:.0f}% |")
PY
done

# Client latency: a mixed bench alone, then the same bench with a merge (and the split back) during it.
bench() { "$BIN" bench --endpoints "$ALMANAC_ENDPOINTS" --clients "$LOAD_CLIENTS" --mix mixed --duration "$LOAD_SECONDS" --warmup 2 --json --no-progress --label "$1"; }
BASE=$(bench baseline)
( sleep $((LOAD_SECONDS / 3 + 2)); handoff merge 3 --into 2 > "$WORK/during-merge.txt"; sleep 1; handoff split 2 --into 3 > "$WORK/during-split.txt" ) &
MOVER=$!
DURING=$(bench during-handoff)
wait "$MOVER"
echo
echo "| run | ops/s | p50 ms | p99 ms | max ms | errors |"
echo "|---|---:|---:|---:|---:|---|"
for line in "$BASE" "$DURING"; do
  python3 - "$line" <<'PY'
import json, sys
r = json.loads(sys.argv[1])
kinds = ", ".join(f"{k} {v}" for k, v in sorted(r.get('error_kinds', {}).items()))
print(f"| {r.get('label')} | {float(r.get('ops_s',0)):,.0f} | {float(r.get('p50_ms',0)):.2f} | {float(r.get('p99_ms',0)):.2f} | {float(r.get('max_ms',0)):.1f} | {r.get('errors',0)}{' (' + kinds + ')' if kinds else ''} |")
PY
done
echo
echo "during the loaded run: merge $(cat "$WORK/during-merge.txt"); split $(cat "$WORK/during-split.txt")"
sleep 2  # let the last sessions close, so that replicas line up
"$BIN" ctl check
