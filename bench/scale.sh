#!/usr/bin/env bash
# bench/scale.sh: one shard's namespace at scale (issue #17, goal 5), in one process: at 1 M and
# 10 M inodes (files in directories of 1,000, 24-byte names), `almanac namespace-bench` replays the
# creates as journal entries (decode + apply: the WAL half of a recovery), then measures resident
# memory per inode, the snapshot's size and encode time, its restore (the snapshot half of a
# recovery, and what a migration's target does with the copy) and the state digest.
#
# With --stall it then runs bench/stall.sh: a real 3-node cluster filled to 10 k and to the
# largest size, and the request latency while its replicas checkpoint (goal 5's "snapshots never
# stall requests"; about 15 minutes and 5 GB per node at 10 M).
#
# usage: bench/scale.sh [--almanac PATH] [--sizes 1000000,10000000] [--json FILE] [--stall]
# Needs a release build (swift build -c release --product almanac). 10 M inodes take about
# 3 minutes and 8 GB of memory. See docs/benchmarks.md ("Namespace at scale").
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ALMANAC=$(dirname "$HERE")/.build/release/almanac
SIZES=1000000,10000000
JSON_OUT=""
STALL=0
while [ $# -gt 0 ]; do
  case "$1" in
    --almanac) ALMANAC=$2; shift 2 ;;
    --sizes) SIZES=$2; shift 2 ;;
    --json) JSON_OUT=$2; shift 2 ;;
    --stall) STALL=1; shift ;;
    *) echo "scale.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
[ -x "$ALMANAC" ] || { echo "scale.sh: no almanac binary at $ALMANAC (swift build -c release --product almanac)" >&2; exit 1; }
results=()
for n in ${SIZES//,/ }; do
  results+=("$("$ALMANAC" namespace-bench --inodes "$n" --json)")
done
printf '%s\n' "${results[@]}" | python3 -c '
import json, sys
rows = [json.loads(line) for line in sys.stdin if line.strip()]
print("| inodes | replay entries/s | resident B/inode (replayed) | resident B/inode (restored) | snapshot B/inode | snapshot s | restore s | restore inodes/s | digest s |")
print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
for r in rows:
    print("| {:,} | {:,.0f} | {:.0f} | {:.0f} | {:.1f} | {:.2f} | {:.2f} | {:,.0f} | {:.2f} |".format(
        r["inodes"], r["replayPerSecond"], r["residentBytesPerInode"], r["restoredResidentBytesPerInode"],
        r["snapshotBytes"] / r["inodes"], r["snapshotSeconds"], r["restoreSeconds"], r["restorePerSecond"], r["digestSeconds"]))
print()
print("targets (issue #17): resident memory <= 250 bytes per inode; recovery >= 500,000 inodes/s")
'
if [ -n "$JSON_OUT" ]; then printf '%s\n' "${results[@]}" > "$JSON_OUT"; fi
if [ "$STALL" = 1 ]; then
  largest=$(echo "${SIZES//,/ }" | tr ' ' '\n' | sort -n | tail -1)
  echo
  SIZES="10000 $largest" bash "$HERE/stall.sh" "$ALMANAC"
fi
