#!/usr/bin/env bash
# Migration of a large shard (issue #12's "shard of 1 GiB"): a 6-node, 1-shard `almanac dev` is
# filled with symbolic links whose targets are SYMLINK_TARGET_BYTES long (4000: about 4.3 KB of state
# per write, so a gigabyte takes a few minutes instead of the ~20 a create-only fill needs) until
# the newest snapshot of a replica of shard 0 holds SHARD_BYTES. Then it measures the disk (dd with
# fdatasync, 1 GiB), a mixed client load alone, and the same load while `ctl migrate 0 --to 4`
# moves zone-a's replica from node 1 to node 4 (a node that never held the shard: the whole
# snapshot is sent). Prints markdown tables: the migration (time, snapshot bytes, the copy's own
# seconds and rate against the disk's, the target's verification and decoding, the log after it)
# and the client load with and without it. Afterwards `ctl check` must be clean.
# Usage (release build; needs about 4 GB of memory per replica of shard 0 and 10 GB of disk):
#   swift build -c release --product almanac
#   bash bench/migrate-large.sh [ALMANAC_BINARY]
# Environment: SHARD_BYTES (1073741824), SYMLINK_TARGET_BYTES (4000), FILL_CLIENTS (64),
# SNAPSHOT_EVERY (25000 entries: about 100 MB of log between snapshots at this entry size),
# LOAD_CLIENTS (16), LOAD_SECONDS (20), DURING_SECONDS (60: the loaded window that the migration
# starts 3 s into), PORT (7800).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN="$(realpath "${1:-.build/release/almanac}")"
SHARD_BYTES="${SHARD_BYTES:-1073741824}"
SYMLINK_TARGET_BYTES="${SYMLINK_TARGET_BYTES:-4000}"
FILL_CLIENTS="${FILL_CLIENTS:-64}"
SNAPSHOT_EVERY="${SNAPSHOT_EVERY:-25000}"
LOAD_CLIENTS="${LOAD_CLIENTS:-16}"
LOAD_SECONDS="${LOAD_SECONDS:-20}"
DURING_SECONDS="${DURING_SECONDS:-60}"
PORT="${PORT:-7800}"
WORK="$(mktemp -d /tmp/almanac-migrate-large.XXXXXX)"
trap 'kill "$DEV" 2>/dev/null || true; wait "$DEV" 2>/dev/null || true; rm -rf "$WORK"' EXIT
. bench/migrate-lib.sh
start_dev 6 1 --snapshot-every "$SNAPSHOT_EVERY"

newest_snapshot_bytes() {  # the largest snapshot file of shard 0's first replicas (nodes 1-3), 0 if none
  local sizes
  sizes=$(find "$WORK/data/node1/snapshots" "$WORK/data/node2/snapshots" "$WORK/data/node3/snapshots" -name 'g0-*.snap' -printf '%s\n' 2>/dev/null || true)
  echo "$sizes" | sort -n | tail -1 | sed 's/^$/0/'
}
FILL_STARTED=$(date +%s)
FILLED=0
fill() {  # $1: seconds of symlinks, $2: clients
  "$BIN" bench --endpoints "$ALMANAC_ENDPOINTS" --clients "$2" --mix symlink=1 --symlink-target-bytes "$SYMLINK_TARGET_BYTES" \
    --workspace fill --duration "$1" --warmup 0 --json --no-progress > "$WORK/fill.json"
  FILLED=$((FILLED + $(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['ops'])" "$WORK/fill.json")))
  echo "filled $FILLED symlinks in $(( $(date +%s) - FILL_STARTED )) s; newest snapshot $(newest_snapshot_bytes) bytes" >&2
}
# Enough links for SHARD_BYTES of state (about 300 bytes per link beyond its target), then a trickle
# (2 clients) until a replica's newest snapshot holds that much: under the full fill the replicas'
# checkpoints (low-priority threads) fall far behind the writes, and the state, with the replicas'
# memory, would overshoot.
while [ $((FILLED * (SYMLINK_TARGET_BYTES + 300))) -lt "$SHARD_BYTES" ]; do fill 5 "$FILL_CLIENTS"; done
while [ "$(newest_snapshot_bytes)" -lt "$SHARD_BYTES" ]; do fill 5 2; done
sleep 5  # the replicas' checkpoints in progress finish
DISK_MBS=$(disk_mbs 1024)
echo "shard 0: $FILLED symlinks of $SYMLINK_TARGET_BYTES-byte targets; newest snapshot $(newest_snapshot_bytes) bytes; $("$BIN" ctl shards | grep '^shard 0')" >&2

bench() { "$BIN" bench --endpoints "$ALMANAC_ENDPOINTS" --clients "$LOAD_CLIENTS" --mix mixed --duration "$1" --warmup 2 --json --no-progress --label "$2"; }
BASE=$(bench "$LOAD_SECONDS" baseline)
( sleep 5; migrate 0 --to 4 > "$WORK/during.txt" ) &
MOVER=$!
DURING=$(bench "$DURING_SECONDS" during-migration)
wait "$MOVER"
read -r secs bytes outcome catchup snap transfer < "$WORK/during.txt"

# copy: snapshot bytes over the seconds until they were all sent (transfer s); snapshot s adds the
# target's verification, read-back and decoding; log s is the catch-up from the log after it.
echo "| migration | outcome | snapshot bytes | seconds | catch-up s | transfer s | snapshot s | log s | copy MB/s (transfer) | disk MB/s (dd) | copy / disk | snapshot MB/s (held) |"
echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
python3 - "$outcome" "$bytes" "$secs" "$DISK_MBS" "$catchup" "$snap" "$transfer" <<'PY'
import sys
outcome, b, s, disk, c, snap, transfer = sys.argv[1:8]
b, s, disk, c, snap, transfer = int(b), float(s), float(disk), float(c), float(snap), float(transfer)
copy = b / 1e6 / transfer if transfer > 0 else 0.0
held = b / 1e6 / snap if snap > 0 else 0.0
print(f"| migrate 0 --to 4 | {outcome} | {b:,} | {s:.2f} | {c:.2f} | {transfer:.2f} | {snap:.2f} | {c - snap:.2f} | "
      f"{copy:.1f} | {disk:.0f} | {copy / disk * 100:.1f}% | {held:.1f} |")
PY
echo
echo "| run | ops/s | p50 ms | p99 ms | max ms | errors |"
echo "|---|---:|---:|---:|---:|---|"
for line in "$BASE" "$DURING"; do load_row "$line"; done
echo
echo "the loaded window: $DURING_SECONDS s; the migration started 3 s into it and took $secs s"
grep -h "snapshot received\|installed snapshot\|checkpoint dropped" "$WORK"/data/node*.log | sed 's/^/  /' >&2 || true
sleep 2
"$BIN" ctl check
