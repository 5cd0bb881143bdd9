#!/usr/bin/env bash
# The geo testbed: placement policies on a real multi-region network (docs/controller.md).
#
# ../shared/tools/geo builds 6 network namespaces in 3 regions (us, eu, ap; two zones each; 1 ms
# inside a region, 40/75/100 ms one way between them, by a userspace packet delayer since this
# kernel has no netem) and one client namespace per region. Six real `almanac serve` processes run
# there, one per zone namespace. Almanac's failure domain (its "zone") is the region, so every
# shard keeps 3 replicas, one per region, on one of the region's two nodes: more nodes than
# replicas.
#
# A time-compressed follow-the-sun load drives them: a "day" of SEASON buckets of BUCKET seconds is
# cut into three shifts (us, then eu, then ap). Each shift opens with a cross-fade (the previous
# and the next region at half load each). Outside it, the active region makes (100 - 2 x REMOTE) %
# of the load and the two others REMOTE % each. Real clients run in each region's client namespace:
# one long-running `almanac bench --zone REGION` per region, open loop, whose rate follows the
# schedule (`--rate-schedule`, from a common `--start-at`), so no set-up falls inside a shift.
#
# The same schedule runs under each policy (static, reactive, predictive), on a fresh cluster each:
# WARMUP days, then one measured day. A last run keeps the load steady (the same mix all day) under
# the predictive policy and counts its moves (the target is zero).
#
# Prints markdown tables:
# - per policy and region: client latency p50, p99 and mean over the measured day (latency
#   distributions merged exactly);
# - leadership transfers and replica moves, their reversals and bytes moved.
#
# Needs root, gcc and libnetfilter-queue-dev (the geo tool's packet delayer).
# Usage (release build):
#   swift build -c release --product almanac
#   sudo bash bench/geo.sh [ALMANAC_BINARY]
# Environment: POLICIES ("static reactive predictive"), BUCKET (4), SEASON (18), WARMUP (2), RATE
# (60: requests/s of the whole load), REMOTE (8: % from each inactive region), CLIENTS (48), STEADY
# (1: also the steady run), CHECK_WAIT (60: seconds `ctl check` may wait for a replica catching
# up), KEEP_LOGS (a directory to copy the nodes' logs to), GEO (../shared/tools/geo).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN="$(realpath "${1:-.build/release/almanac}")"
GEO="$(realpath "${GEO:-../shared/tools/geo}")"
POLICIES="${POLICIES:-static reactive predictive}"
BUCKET="${BUCKET:-4}"
SEASON="${SEASON:-18}"
WARMUP="${WARMUP:-2}"
RATE="${RATE:-60}"
REMOTE="${REMOTE:-8}"
CLIENTS="${CLIENTS:-48}"
STEADY="${STEADY:-1}"
CHECK_WAIT="${CHECK_WAIT:-60}"
WORK="$(mktemp -d /tmp/almanac-geo.XXXXXX)"
REGIONS=(us eu ap)
ZONES=(us-a us-b eu-a eu-b ap-a ap-b)
# Node i+1 runs in zone namespace ZONES[i]; its Almanac zone is the region.
ADDR=(10.97.0.1 10.97.0.2 10.97.0.3 10.97.0.4 10.97.0.5 10.97.0.6)
RTT="us:eu=80,us:ap=150,eu:ap=200"
PIDS=()

cleanup() {
  for pid in "${PIDS[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
  pkill -9 -f "$WORK/" 2>/dev/null || true
  bash "$GEO/geo-down.sh" >/dev/null 2>&1 || true
}
trap 'cleanup; rm -rf "$WORK"' EXIT

[ "$(id -u)" = 0 ] || { echo "bench/geo.sh: run as root (network namespaces)" >&2; exit 1; }
bash "$GEO/geo-down.sh" >/dev/null 2>&1 || true
bash "$GEO/geo-up.sh" "$GEO/example.topo" > "$WORK/geo.txt"
ENDPOINTS=$(printf "%s:7100," "${ADDR[@]}"); ENDPOINTS=${ENDPOINTS%,}
MEMBERS=()
for i in 0 1 2 3 4 5; do MEMBERS+=(--member "$((i + 1)),${ZONES[$i]%-*},${ADDR[$i]}:7000,${ADDR[$i]}:7100"); done
DAY=$((BUCKET * SEASON))
SHIFT=$((DAY / 3))
FADE=$((SHIFT / 3))

ctl() { local sub=$1; shift; ip netns exec geo-cli-us "$BIN" ctl "$sub" --endpoints "$ENDPOINTS" "$@"; }

start_cluster() { # policy
  rm -rf "$WORK/data"; mkdir -p "$WORK/data"
  PIDS=()
  for i in 0 1 2 3 4 5; do
    ip netns exec "geo-${ZONES[$i]}" "$BIN" serve --id $((i + 1)) --zone "${ZONES[$i]%-*}" \
      --peer-listen "${ADDR[$i]}:7000" --api-listen "${ADDR[$i]}:7100" "${MEMBERS[@]}" \
      --data-dir "$WORK/data/n$((i + 1))" --shards 4 --cluster-id geo --insecure \
      --controller-policy "$1" --access-bucket-seconds "$BUCKET" --season-buckets "$SEASON" \
      --cross-zone-rtt-ms 150 --zone-rtt "$RTT" > "$WORK/data/n$((i + 1)).log" 2>&1 &
    PIDS+=($!)
  done
  for _ in $(seq 1 120); do
    ctl status --json > "$WORK/status.json" 2>/dev/null && python3 -c "
import json,sys; s=json.load(open('$WORK/status.json')); sys.exit(0 if s.get('shards') and all(x.get('leaderNodeId') for x in s['shards']) else 1)" 2>/dev/null && return 0
    sleep 0.5
  done
  echo "the geo cluster did not come up" >&2; for f in "$WORK"/data/n*.log; do tail -n 5 "$f" >&2; done; exit 1
}

# The workspace and its worker directories, made once before the clock starts (cross-region
# transactions: slow, and not what is measured).
prepare_workspace() {
  for _ in 1 2 3; do
    ip netns exec geo-cli-us "$BIN" bench --endpoints "$ENDPOINTS" --clients "$CLIENTS" --rate 5 --mix mixed --workspace sun \
      --duration 1 --warmup 0 --timeout 60 --no-progress > /dev/null 2> "$WORK/prepare.err" && return 0
  done
  echo "bench/geo.sh: the workspace could not be prepared: $(tail -n 1 "$WORK/prepare.err")" >&2; exit 1
}

stop_cluster() {
  for pid in "${PIDS[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  PIDS=()
}

# share of the load (percent) of region R in shift S (0, 1, 2), fade (1) or not (0); steady: fixed mix.
share() { # region_index shift fade steady
  local r=$1 s=$2 f=$3 steady=$4
  if [ "$steady" = 1 ]; then echo $((r == 0 ? 60 : 20)); return; fi
  local prev=$(((s + 2) % 3))
  if [ "$f" = 1 ]; then
    if [ "$r" = "$s" ] || [ "$r" = "$prev" ]; then echo $(((100 - REMOTE) / 2)); else echo "$REMOTE"; fi
  else
    if [ "$r" = "$s" ]; then echo $((100 - 2 * REMOTE)); else echo "$REMOTE"; fi
  fi
}

# One rate schedule per region for the whole run (warm-up days, then the measured day): lines of
# "seconds-from-start rate" for `almanac bench --rate-schedule`, one per sub-phase (cross-fade,
# then the shift's rest), ending at rate 0.
write_schedule() { # region_index steady file
  local r=$1 steady=$2 file=$3
  : > "$file"
  for day in $(seq 0 "$WARMUP"); do
    for s in 0 1 2; do
      for f in 1 0; do
        local offset=$((day * DAY + s * SHIFT + (f == 1 ? 0 : FADE)))
        local pct; pct=$(share "$r" "$s" "$f" "$steady")
        echo "$offset $(python3 -c "print($RATE * $pct / 100)")" >> "$file"
      done
    done
  done
  echo "$(((WARMUP + 1) * DAY)) 0" >> "$file"
}

run_policy() { # label policy steady
  local label=$1 policy=$2 steady=$3
  echo "== $label: $policy, $WARMUP warm-up days + 1 measured day of ${DAY}s" >&2
  start_cluster "$policy"
  prepare_workspace
  # One long-running open-loop client per region follows its schedule from a day boundary of the
  # monitors' buckets, far enough ahead for the clients' set-up (their worker directories span
  # regions); only the last day is measured.
  local now; now=$(date +%s)
  local start=$((((now + 45) / DAY + 1) * DAY))
  echo $((start + WARMUP * DAY)) > "$WORK/$label.measured-from"
  local runs=()
  for r in 0 1 2; do
    local out="$WORK/$label-dall-${REGIONS[$r]}"
    write_schedule "$r" "$steady" "$out.schedule"
    ip netns exec "geo-cli-${REGIONS[$r]}" "$BIN" bench --endpoints "$ENDPOINTS" --zone "${REGIONS[$r]}" \
      --clients "$CLIENTS" --rate-schedule "$out.schedule" --start-at "$start" --mix mixed --workspace sun \
      --warmup $((WARMUP * DAY)) --duration "$DAY" --timeout 30 --json --no-progress \
      --label "$label ${REGIONS[$r]}" --latency-file "$out.lat" > "$out.json" 2> "$out.err" &
    runs+=($!)
  done
  for pid in "${runs[@]}"; do wait "$pid" || echo "   the ${label} client failed: $(tail -n 1 "$WORK/$label-dall-"*.err | tail -n 1)" >&2; done
  echo "   $((WARMUP + 1)) days done" >&2
  date +%s > "$WORK/$label.measured-to"
  ctl audit --json --last 200 --cluster-id geo > "$WORK/$label.audit.json" || echo "[]" > "$WORK/$label.audit.json"
  # A replica still catching up makes the check inconclusive: retry for up to CHECK_WAIT seconds.
  local waited=0 checked=1
  until ctl check > "$WORK/$label.check.txt" 2>&1; do
    if [ "$waited" -ge "$CHECK_WAIT" ]; then checked=0; break; fi
    sleep 5; waited=$((waited + 5))
  done
  if [ "$checked" = 1 ]; then echo "   ctl check clean after ${waited}s" >&2
  else echo "   ctl check after ${waited}s: $(tail -1 "$WORK/$label.check.txt")" >&2; fi
  if [ -n "${KEEP_LOGS:-}" ]; then mkdir -p "$KEEP_LOGS/$label"; cp "$WORK"/data/n*.log "$KEEP_LOGS/$label/"; fi
  stop_cluster
}

for policy in $POLICIES; do run_policy "$policy" "$policy" 0; done
if [ "$STEADY" = 1 ]; then run_policy steady predictive 1; fi

DAY=$DAY python3 - "$WORK" $POLICIES $([ "$STEADY" = 1 ] && echo steady) <<'PY'
import glob, json, os, sys
work, labels = sys.argv[1], sys.argv[2:]
def merged(paths):
    counts = {}
    for p in paths:
        for line in open(p):
            v, c = line.split()
            counts[int(v)] = counts.get(int(v), 0) + int(c)
    total = sum(counts.values())
    if total == 0:
        return None
    values = sorted(counts)
    def pct(q):
        want, acc = q * total, 0
        for v in values:
            acc += counts[v]
            if acc >= want:
                return v / 1000
        return values[-1] / 1000
    mean = sum(v * c for v, c in counts.items()) / total / 1000
    return total, pct(0.5), pct(0.99), mean
print("### Client latency over the measured day (ms)")
print()
print("| policy | region | ops | p50 | p99 | mean |")
print("|---|---|---:|---:|---:|---:|")
for label in labels:
    everything = []
    for region in ("us", "eu", "ap"):
        files = glob.glob(f"{work}/{label}-d*-{region}.lat")
        everything += files
        m = merged(files)
        if m:
            print(f"| {label} | {region} | {m[0]} | {m[1]:.1f} | {m[2]:.1f} | {m[3]:.1f} |")
    m = merged(everything)
    if m:
        print(f"| {label} | **all** | {m[0]} | **{m[1]:.1f}** | **{m[2]:.1f}** | **{m[3]:.1f}** |")
print()
print("### Moves")
print()
print("| policy | leadership transfers (all days) | in the measured day | replica moves | reversals | bytes moved | failed |")
print("|---|---:|---:|---:|---:|---:|---:|")
for label in labels:
    audit = json.load(open(f"{work}/{label}.audit.json"))
    frm = int(open(f"{work}/{label}.measured-from").read())
    to = int(open(f"{work}/{label}.measured-to").read())
    applied = [d for d in audit if d["outcome"].startswith("applied") or d["outcome"].startswith("prepared")]
    transfers = [d for d in applied if d["action"] == "transfer leadership"]
    moves = [d for d in applied if d["action"] == "commit replica move"]
    failed = [d for d in audit if d["outcome"].startswith("failed")]
    measured = [d for d in transfers if frm <= d["time"] <= to]
    # A reversal: a shard's leadership goes back to the node it left within the same day.
    reversals, last = 0, {}
    for d in sorted(transfers, key=lambda d: d["time"]):
        prev = last.get(d["shard"])
        if prev and prev["fromLeader"] == d.get("toLeader") and d["time"] - prev["time"] < int(os.environ.get("DAY", "72")):
            reversals += 1
        last[d["shard"]] = d
    print(f"| {label} | {len(transfers)} | {len(measured)} | {len(moves)} | {reversals} | 0 | {len(failed)} |")
PY
