#!/usr/bin/env bash
# Power cut (docs/reliability.md "Power cut"): a whole `almanac dev` cluster (three nodes, three
# zones) loses power at once, and every write its disks had not been made durable is gone. Then it
# restarts, and every create that was acknowledged before the cut must be there.
#
# How the cut drops unsynced writes: the cluster's data directory is an ext4 file system on a loop
# device. What the loop device holds (its backing file) is exactly what reached the "disk": data
# written back or forced by fsync. Dirty pages still in the inner file system's page cache are not
# in it. The cut stops every process (SIGSTOP), copies the backing file at that instant, kills
# everything, and restarts the cluster from the copy. The inner file system is mounted with
# commit=60, so nothing but the nodes' own fsyncs (and the kernel's 30 s dirty expiry) makes writes
# durable during the run.
#
# Two runs:
#   1. the nodes as they are: 0 acknowledged creates may be lost;
#   2. the negative control, `dev --unsafe-no-fsync` (every fsync skipped): the same cut must lose
#      acknowledged creates, or the harness is not cutting anything and the script fails.
#
# Needs root (losetup, mount). Usage:
#   ALMANAC_BINARY=.build/debug/almanac bash scripts/power-cut.sh [--seconds 8] [--writers 4]
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/dev-cluster.sh  # free_base_port (this script runs dev itself, on the loop-mounted file system)

seconds=8
writers=4
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) seconds="$2"; shift 2 ;;
    --writers) writers="$2"; shift 2 ;;
    *) echo "usage: $0 [--seconds N] [--writers N]" >&2; exit 2 ;;
  esac
done
[ "$(id -u)" = 0 ] || { echo "power-cut: needs root (losetup, mount)" >&2; exit 1; }
for tool in losetup mkfs.ext4 mount umount; do
  command -v "$tool" >/dev/null || { echo "power-cut: $tool not found" >&2; exit 1; }
done
if [ -z "${ALMANAC_BINARY:-}" ]; then
  swift build --product almanac
  ALMANAC_BINARY="$(swift build --show-bin-path)/almanac"
fi
ALMANAC_BINARY="$(cd "$(dirname "$ALMANAC_BINARY")" && pwd)/$(basename "$ALMANAC_BINARY")"

work=$(mktemp -d /tmp/almanac-powercut.XXXXXX)
mnt="$work/mnt"
mkdir -p "$mnt"
loop=""
dev_pid=""
writer_pids=()

cleanup() {
  for pid in "${writer_pids[@]}"; do kill -CONT "$pid" 2>/dev/null || true; kill -KILL "$pid" 2>/dev/null || true; done
  pkill -KILL -f "serve --config $mnt/" 2>/dev/null || true
  pkill -KILL -f "dev --data-dir $mnt/" 2>/dev/null || true
  [ -n "$dev_pid" ] && kill -KILL "$dev_pid" 2>/dev/null || true
  sleep 0.3
  mountpoint -q "$mnt" && umount -l "$mnt" || true
  [ -n "$loop" ] && losetup -d "$loop" 2>/dev/null || true
  [ "${ALMANAC_KEEP_TEST_DATA:-0}" = 1 ] || rm -rf "$work"
}
trap cleanup EXIT


# Starts dev on $mnt/cluster (fresh or recovering), waits until it serves.
start_dev() {
  local out="$1"; shift
  "$ALMANAC_BINARY" dev --data-dir "$mnt/cluster" --base-port "$base" --shards 2 "$@" >"$out" 2>&1 &
  dev_pid=$!
  disown "$dev_pid"
  for _ in $(seq 1 900); do
    grep -q "Cluster is up" "$out" 2>/dev/null && break
    kill -0 "$dev_pid" 2>/dev/null || { echo "almanac dev exited:" >&2; tail -20 "$out" >&2; return 1; }
    sleep 0.1
  done
  grep -q "Cluster is up" "$out" || { echo "almanac dev did not come up within 90 s:" >&2; tail -20 "$out" >&2; return 1; }
  export ALMANAC_ENDPOINTS="127.0.0.1:$((base + 1)),127.0.0.1:$((base + 2)),127.0.0.1:$((base + 3))"
  export ALMANAC_CA ALMANAC_TOKEN
  ALMANAC_CA=$(sed -n 's/^ *export ALMANAC_CA=//p' "$out" | head -1)
  ALMANAC_TOKEN=$(sed -n 's/^ *export ALMANAC_TOKEN=//p' "$out" | head -1)
}

ctl() { "$ALMANAC_BINARY" ctl "$@"; }

# One run: fill, cut, restart, count. Prints "acked N lost M" as its last line.
run_case() {
  local name="$1"; shift
  local dev_flags=("$@")
  echo "== power cut, $name: dev ${dev_flags[*]:-}"
  truncate -s 1G "$work/disk.img"
  loop=$(losetup -f --show "$work/disk.img")
  mkfs.ext4 -q -F "$loop"
  mount -o commit=60 "$loop" "$mnt"
  base=$(free_base_port)
  start_dev "$work/dev-$name.out" "${dev_flags[@]}"
  ctl mkdir /pc >/dev/null
  # Everything so far (configs, certificates, the founding logs) is on the disk: the cut below
  # only takes what the writers' creates wrote after it.
  sync
  writer_pids=()
  for w in $(seq 1 "$writers"); do
    (
      n=0
      while true; do
        if ctl touch "/pc/w$w-$n" >/dev/null 2>&1; then echo "w$w-$n" >>"$work/acked-$name-$w"; fi
        n=$((n + 1))
      done
    ) &
    writer_pids+=($!)
    disown $!
  done
  sleep "$seconds"
  # A file written without fsync just before the cut: the cut must not keep it (it shows the
  # harness drops unsynced data; informational, the kernel may have written it back).
  echo "written without fsync" >"$mnt/canary"
  sleep 0.2

  # The cut: freeze the nodes (nothing more reaches their disks), then the writers (an
  # acknowledgement they already received may still be recorded: it came before the cut).
  local nodes
  nodes=$(pgrep -f "serve --config $mnt/" || true)
  [ -n "$nodes" ] || { echo "power-cut: no node processes found" >&2; return 1; }
  kill -STOP $nodes "$dev_pid"
  sleep 0.5
  for pid in "${writer_pids[@]}"; do kill -STOP "$pid" 2>/dev/null || true; done
  cp --sparse=always "$work/disk.img" "$work/cut.img"
  kill -KILL $nodes "$dev_pid" 2>/dev/null || true
  for pid in "${writer_pids[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
  pkill -KILL -f "almanac ctl touch /pc/" 2>/dev/null || true
  writer_pids=()
  dev_pid=""
  sleep 0.5
  umount "$mnt"
  losetup -d "$loop"
  loop=""

  # After the power comes back: the disk as the cut left it (ext4 replays its journal on mount).
  loop=$(losetup -f --show "$work/cut.img")
  mount "$loop" "$mnt"
  if [ -s "$mnt/canary" ]; then canary="kept (written back before the cut)"; elif [ -e "$mnt/canary" ]; then canary="empty"; else canary="gone"; fi
  local acked lost=0 listed back="no"
  acked=$(cat "$work"/acked-"$name"-* 2>/dev/null | sort -u | wc -l)
  if start_dev "$work/dev-$name-after.out" "${dev_flags[@]}"; then
    listed="$work/listed-$name"
    for _ in $(seq 1 30); do
      if ctl ls /pc >"$listed" 2>"$work/ls-$name.err"; then back="yes, /pc lists $(wc -l <"$listed") names"; break; fi
      back="yes, but ctl ls /pc fails: $(tail -1 "$work/ls-$name.err")"
      sleep 1
    done
    lost=$(cat "$work"/acked-"$name"-* 2>/dev/null | sort -u | while read -r n; do grep -qx "$n" "$listed" || echo "$n"; done | wc -l)
  else
    echo "power-cut: the cluster did not come back after the cut ($name)"
    lost=$acked
  fi
  echo "power cut, $name: $acked creates acknowledged before the cut, $lost missing after it; cluster back: $back; unsynced canary file: $canary"
  kill -TERM "$dev_pid" 2>/dev/null || true
  for _ in $(seq 1 100); do kill -0 "$dev_pid" 2>/dev/null || break; sleep 0.1; done
  dev_pid=""
  pkill -KILL -f "serve --config $mnt/" 2>/dev/null || true
  sleep 0.3
  umount "$mnt"
  losetup -d "$loop"
  loop=""
  rm -f "$work/disk.img" "$work/cut.img"
  result_acked=$acked
  result_lost=$lost
}

run_case durable
durable_acked=$result_acked
durable_lost=$result_lost
run_case unsafe-no-fsync --unsafe-no-fsync
unsafe_acked=$result_acked
unsafe_lost=$result_lost

status=0
if [ "$durable_acked" -lt 20 ]; then echo "FAIL: only $durable_acked creates were acknowledged (the writers barely ran)"; status=1; fi
if [ "$durable_lost" -ne 0 ]; then echo "FAIL: $durable_lost acknowledged creates were lost at the power cut"; status=1; fi
if [ "$unsafe_lost" -eq 0 ]; then
  echo "FAIL: the negative control (--unsafe-no-fsync) lost nothing of $unsafe_acked: the cut did not drop unsynced writes"
  status=1
fi
echo "power cut: durable run $durable_acked acknowledged, $durable_lost lost; without fsync $unsafe_acked acknowledged, $unsafe_lost lost"
exit $status
