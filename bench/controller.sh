#!/usr/bin/env bash
# The placement controller ahead of a shifting load, on `almanac dev --nodes 6` (two nodes per zone).
# A time-compressed follow-the-sun load: each "day" is SEASON_BUCKETS buckets of BUCKET seconds; in
# the first half of every day the clients say they run in zone-a, in the second half in zone-c
# (`almanac bench --zone`), on the same directories every day (`--workspace`), so each shard's load
# repeats daily. The controller runs POLICY (predictive by default; run again with
# POLICY=reactive for the baseline). At the end, every leadership transfer in `ctl audit` is placed
# against the shift it follows or anticipates: a negative offset is a move *before* the load arrived.
# "decided" is when the policy decided (the end of the bucket it observed); "landed" is when the
# transfer was done (a predictive transfer is decided a bucket ahead and carried out shortly before
# the bucket it was decided for; the audit's outcome says how long before).
# Prints markdown. Usage (release build recommended):
#   swift build -c release --product almanac
#   bash bench/controller.sh [ALMANAC_BINARY]
# Environment: POLICY (predictive), BUCKET (4), SEASON_BUCKETS (12), DAYS (8), CLIENTS (4),
# RTT_MS (40: the planner's cross-zone round trip; the zones are not apart on one machine), PORT (7900).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN="$(realpath "${1:-.build/release/almanac}")"
POLICY="${POLICY:-predictive}"
BUCKET="${BUCKET:-4}"
SEASON_BUCKETS="${SEASON_BUCKETS:-12}"
DAYS="${DAYS:-8}"
CLIENTS="${CLIENTS:-4}"
RTT_MS="${RTT_MS:-40}"
PORT="${PORT:-7900}"
WORK="$(mktemp -d /tmp/almanac-controller-bench.XXXXXX)"
trap 'kill "$DEV" 2>/dev/null || true; wait "$DEV" 2>/dev/null || true; rm -rf "$WORK"' EXIT

"$BIN" dev --insecure --no-auth --nodes 6 --shards 4 --data-dir "$WORK/data" --base-port "$PORT" \
  --controller-policy "$POLICY" --access-bucket-seconds "$BUCKET" --season-buckets "$SEASON_BUCKETS" \
  --cross-zone-rtt-ms "$RTT_MS" > "$WORK/dev.log" 2>&1 &
DEV=$!
for _ in $(seq 1 100); do grep -q "Cluster is up" "$WORK/dev.log" && break; sleep 0.3; done
grep -q "Cluster is up" "$WORK/dev.log" || { cat "$WORK/dev.log" >&2; exit 1; }
export ALMANAC_ENDPOINTS=$(seq -s, -f "127.0.0.1:%g" $((PORT + 1)) $((PORT + 6)))
unset ALMANAC_CA ALMANAC_TOKEN ALMANAC_TOKEN_KEY

DAY=$((BUCKET * SEASON_BUCKETS))
HALF=$((DAY / 2))
# Start on a day boundary of the monitors' buckets (bucket index = floor(unix time / BUCKET)).
NOW=$(date +%s)
START=$(( (NOW / DAY + 1) * DAY ))
echo "policy $POLICY: $DAYS days of ${DAY}s (${SEASON_BUCKETS} buckets of ${BUCKET}s), zone-a then zone-c each day, from $(date -d @$START +%T)" >&2
sleep $((START - NOW))
for day in $(seq 0 $((DAYS - 1))); do
  for half in 0 1; do
    zone=$([ $half = 0 ] && echo zone-a || echo zone-c)
    phase_start=$((START + day * DAY + half * HALF))
    # bench sets up for about a second; it runs until just before the next phase.
    "$BIN" bench --endpoints "$ALMANAC_ENDPOINTS" --zone "$zone" --clients "$CLIENTS" --mix mixed \
      --duration $((HALF - 3)) --warmup 0 --json --no-progress --label "day$day-$zone" --workspace sun >> "$WORK/bench.jsonl" 2>>"$WORK/bench.err" || true
    now=$(date +%s); next=$((phase_start + HALF))
    if [ "$now" -lt "$next" ]; then sleep $((next - now)); fi
  done
  echo "day $day done" >&2
done

"$BIN" ctl audit --json --last 200 > "$WORK/audit.json"
"$BIN" ctl shards > "$WORK/shards.txt"
python3 - "$WORK/audit.json" "$START" "$DAY" "$HALF" "$POLICY" "$WORK/bench.jsonl" "$BUCKET" <<'PY'
import json, re, sys
audit = json.load(open(sys.argv[1]))
start, day, half, policy = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
bucket = float(sys.argv[7])
zone_c, zone_a = {3, 6}, {1, 4}
print(f"### {policy}: leadership transfers against the shifts (s from the shift; negative: before the load arrived)")
print()
print("| day | shard | move | to zone | decided s | landed s | outcome |")
print("|---:|---:|---|---|---:|---:|---|")
ahead = behind = 0
landed_ahead = landed_behind = 0
for d in audit:
    if d["action"] != "transfer leadership" or not d["outcome"].startswith("applied"):
        continue
    to = d.get("toLeader")
    zone = "zone-c" if to in zone_c else "zone-a" if to in zone_a else "zone-b"
    t = d["time"] - start
    # the shift toward zone-c is at half a day, toward zone-a at each day boundary
    shift = (t // day) * day + (half if zone == "zone-c" else 0)
    if zone == "zone-a" and t - shift > half:
        shift += day
    offset = t - shift
    # A deferred transfer says when it was done against the bucket it was decided for (t + bucket).
    done = re.search(r"done (-?[0-9.]+) s before the bucket", d["outcome"])
    landed = (t + bucket - float(done.group(1)) - shift) if done else None
    if offset < -half / 2 or offset > half:
        offset_text = f"{offset:.0f} (not near a shift)"
    else:
        offset_text = f"{offset:.0f}"
        if offset < 0: ahead += 1
        else: behind += 1
        if landed is not None:
            if landed < 0: landed_ahead += 1
            else: landed_behind += 1
    landed_text = f"{landed:.1f}" if landed is not None else "at once"
    print(f"| {int(t // day)} | {d['shard']} | {d.get('fromLeader')}->{to} | {zone} | {offset_text} | {landed_text} | {d['outcome']} |")
print()
print(f"decided before the shift: {ahead}; at or after it: {behind}. Deferred transfers landed before the shift: {landed_ahead}; at or after it: {landed_behind}")
lat = {}
for line in open(sys.argv[6]):
    try:
        r = json.loads(line)
    except Exception:
        continue
    lat.setdefault("zone-c" if "zone-c" in r.get("label", "") else "zone-a", []).append(r)
print()
print("| load from | runs | mean p50 ms | mean p99 ms |")
print("|---|---:|---:|---:|")
for zone, rows in sorted(lat.items()):
    p50 = [r["p50_ms"] for r in rows if "p50_ms" in r]
    p99 = [r["p99_ms"] for r in rows if "p99_ms" in r]
    if p50:
        print(f"| {zone} | {len(rows)} | {sum(p50)/len(p50):.2f} | {sum(p99)/len(p99):.2f} |")
PY
echo >&2; cat "$WORK/shards.txt" | grep '^shard' >&2
