#!/usr/bin/env bash
# Replica migration cost on this machine: fill a 2-shard, 6-node `almanac dev` (two nodes per zone)
# with files (create-heavy bench), then measure (1) the disk's sequential write bandwidth in the data
# directory (dd with fdatasync), (2) `ctl migrate 0 --to 4` (zone-a's replica of shard 0 moves from
# node 1 to node 4: time, snapshot bytes sent, copy rate), and (3) client latency of a mixed bench
# without and during migrations (shard 0 back to node 1, shard 1's zone-b replica with its leadership).
# Prints markdown tables. Usage (release build recommended):
#   swift build -c release --product almanac
#   bash bench/migrate.sh [ALMANAC_BINARY]
# Environment: FILL_SECONDS (60: create-heavy fill), FILL_CLIENTS (64), LOAD_CLIENTS (16),
# LOAD_SECONDS (12), PORT (7800), SNAPSHOT_EVERY (leave unset: the node default).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN="$(realpath "${1:-.build/release/almanac}")"
FILL_SECONDS="${FILL_SECONDS:-60}"
FILL_CLIENTS="${FILL_CLIENTS:-64}"
LOAD_CLIENTS="${LOAD_CLIENTS:-16}"
LOAD_SECONDS="${LOAD_SECONDS:-12}"
PORT="${PORT:-7800}"
WORK="$(mktemp -d /tmp/almanac-migrate-bench.XXXXXX)"
trap 'kill "$DEV" 2>/dev/null || true; wait "$DEV" 2>/dev/null || true; rm -rf "$WORK"' EXIT

"$BIN" dev --insecure --no-auth --nodes 6 --shards 2 --data-dir "$WORK/data" --base-port "$PORT" > "$WORK/dev.log" 2>&1 &
DEV=$!
for _ in $(seq 1 100); do grep -q "Cluster is up" "$WORK/dev.log" && break; sleep 0.3; done
grep -q "Cluster is up" "$WORK/dev.log" || { cat "$WORK/dev.log" >&2; exit 1; }
export ALMANAC_ENDPOINTS=$(seq -s, -f "127.0.0.1:%g" $((PORT + 1)) $((PORT + 6)))
unset ALMANAC_CA ALMANAC_TOKEN ALMANAC_TOKEN_KEY

echo "filling: create-heavy, $FILL_CLIENTS clients, $FILL_SECONDS s" >&2
"$BIN" bench --endpoints "$ALMANAC_ENDPOINTS" --clients "$FILL_CLIENTS" --mix create --duration "$FILL_SECONDS" --warmup 1 --json --no-progress > "$WORK/fill.json"

DISK=$(dd if=/dev/zero of="$WORK/data/dd.test" bs=1M count=512 conv=fdatasync 2>&1 | tail -1)
rm -f "$WORK/data/dd.test"
DISK_MBS=$(python3 -c "import re,sys; m=re.search(r'([0-9.,]+) ([MG])B/s', sys.argv[1]); v=float(m.group(1).replace(',','.')); print(v*1000 if m.group(2)=='G' else v)" "$DISK")

migrate() {  # $@: ctl migrate arguments; prints "seconds snapshot_bytes outcome catch_up_seconds snapshot_seconds"
  "$BIN" ctl migrate "$@" --json | python3 -c "
import json,sys
r=json.load(sys.stdin)[0]
print(r['seconds'], r['snapshotBytes'], r['outcome'].replace(' ', '-'), r['catchUpSeconds'], r['snapshotSeconds'])"
}
echo "shard 0 before: $("$BIN" ctl shards | grep -A0 '^shard 0')" >&2
# catch-up: the learner's addition until it caught up. "snapshot s" is its first part, until the target
# held the snapshot (transfer, verification, decoding; polled every 200 ms); the rest replays the log
# written after the leader's snapshot. copy MB/s: snapshot bytes over snapshot s; "seconds" is the
# whole migration.
echo "| migration | outcome | snapshot bytes | seconds | catch-up s | snapshot s | log s | copy MB/s | disk MB/s (dd) | copy / disk |"
echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"
for args in "0 --to 4" "0 --to 1 --leader"; do
  read -r secs bytes outcome catchup snap < <(migrate $args)
  python3 - "$args" "$outcome" "$bytes" "$secs" "$DISK_MBS" "$catchup" "$snap" <<'PY'
import sys
name, outcome, b, s, disk, c, snap = sys.argv[1:8]
rate = int(b) / 1e6 / max(float(snap), 1e-9) if int(b) > 0 else 0.0
print(f"| migrate {name} | {outcome} | {int(b):,} | {float(s):.2f} | {float(c):.2f} | {float(snap):.2f} | {float(c) - float(snap):.2f} | "
      f"{rate:.1f} | {float(disk):.0f} | {rate/float(disk)*100:.1f}% |")
PY
done

bench() { "$BIN" bench --endpoints "$ALMANAC_ENDPOINTS" --clients "$LOAD_CLIENTS" --mix mixed --duration "$LOAD_SECONDS" --warmup 2 --json --no-progress --label "$1"; }
BASE=$(bench baseline)
( sleep $((LOAD_SECONDS / 3 + 2)); migrate 0 --to 4 > "$WORK/during-0.txt"; sleep 1; migrate 1 --to 2 --leader > "$WORK/during-1.txt" ) &
MOVER=$!
DURING=$(bench during-migrations)
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
echo "during the loaded run: shard 0 $(cat "$WORK/during-0.txt"); shard 1 $(cat "$WORK/during-1.txt")"
sleep 2
"$BIN" ctl check
"$BIN" ctl shards | grep -A3 '^shard'
