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

. bench/migrate-lib.sh
start_dev 6 2 ${SNAPSHOT_EVERY:+--snapshot-every "$SNAPSHOT_EVERY"}

echo "filling: create-heavy, $FILL_CLIENTS clients, $FILL_SECONDS s" >&2
"$BIN" bench --endpoints "$ALMANAC_ENDPOINTS" --clients "$FILL_CLIENTS" --mix create --duration "$FILL_SECONDS" --warmup 1 --json --no-progress > "$WORK/fill.json"

DISK_MBS=$(disk_mbs 512)
echo "shard 0 before: $("$BIN" ctl shards | grep -A0 '^shard 0')" >&2
# catch-up: the learner's addition until it caught up. "snapshot s" is its first part, until the target
# held the snapshot (transfer, verification, decoding; polled every 200 ms); the rest replays the log
# written after the leader's snapshot. copy MB/s: snapshot bytes over snapshot s; "seconds" is the
# whole migration.
echo "| migration | outcome | snapshot bytes | seconds | catch-up s | snapshot s | log s | copy MB/s | disk MB/s (dd) | copy / disk |"
echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"
for args in "0 --to 4" "0 --to 1 --leader"; do
  read -r secs bytes outcome catchup snap _ < <(migrate $args)
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
for line in "$BASE" "$DURING"; do load_row "$line"; done
echo
echo "during the loaded run: shard 0 $(cat "$WORK/during-0.txt"); shard 1 $(cat "$WORK/during-1.txt")"
sleep 2
"$BIN" ctl check
"$BIN" ctl shards | grep -A3 '^shard'
