#!/usr/bin/env bash
# bench/prefetch-zones.sh: `almanac replay` of strace traces on the simulated three-zone network
# (../shared/tools/zones: namespaces pb-az1..3 and pb-cli, a one-way delay between zones, the
# client's path undelayed), with each prediction model under each durability (docs/prediction.md,
# "On the three-zone testbed"). For each row: three fresh `almanac serve` processes, one per zone
# namespace (plaintext, no tokens, 4 shards), one replay from pb-cli (JSON kept), the nodes' CPU
# seconds over the replay; then the nodes are stopped. Prints one JSON object per line.
#
# With --geo, the network is ../shared/tools/geo instead: three regions (us, eu, ap; one node each,
# 40/75/100 ms one way between them), the client in --client-region (ap by default), and every
# shard's leadership moved to --leaders-on (node 1, in us) before the replay: a client in another
# region than its leaders.
#
# Needs root, gcc and libnetfilter-queue-dev (the tools' packet delayer).
# usage: sudo bench/prefetch-zones.sh [--almanac .build/release/almanac] [--delay-ms 0.5]
#          [--geo [--client-region ap] [--leaders-on 1]]
#          [--models "none markov"] [--durability "majority async"] [--threshold 0.9]
#          [--limit N] [--shards 4] [--work /tmp/almanac-prefetch-zones] TRACE...
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
ZONES=${ZONES:-$REPO/../shared/tools/zones}
GEO=${GEO:-$REPO/../shared/tools/geo}
TOPOLOGY=zones
CLIENT_REGION=ap
LEADERS_ON=1
ALMANAC=.build/release/almanac
DELAY=0.5
MODELS="none markov"
DURABILITIES="majority async"
THRESHOLD=0.9
LIMIT=""
SHARDS=4
WORK=/tmp/almanac-prefetch-zones
while [ $# -gt 0 ]; do
  case "$1" in
    --almanac) ALMANAC=$2; shift 2 ;;
    --delay-ms) DELAY=$2; shift 2 ;;
    --geo) TOPOLOGY=geo; shift ;;
    --client-region) CLIENT_REGION=$2; shift 2 ;;
    --leaders-on) LEADERS_ON=$2; shift 2 ;;
    --models) MODELS=$2; shift 2 ;;
    --durability) DURABILITIES=$2; shift 2 ;;
    --threshold) THRESHOLD=$2; shift 2 ;;
    --limit) LIMIT="--limit $2"; shift 2 ;;
    --shards) SHARDS=$2; shift 2 ;;
    --work) WORK=$2; shift 2 ;;
    -*) echo "bench/prefetch-zones.sh: unknown option $1" >&2; exit 2 ;;
    *) break ;;
  esac
done
[ $# -gt 0 ] || { echo "usage: $0 [options] TRACE..." >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "bench/prefetch-zones.sh: needs root (network namespaces)" >&2; exit 2; }
ALMANAC=$(cd "$(dirname "$ALMANAC")" && pwd)/$(basename "$ALMANAC")
mkdir -p "$WORK"
if [ "$TOPOLOGY" = zones ]; then
  [ -x "$ZONES/zones-up.sh" ] || { echo "bench/prefetch-zones.sh: no zones tool at $ZONES" >&2; exit 2; }
  [ -e /var/run/netns/pb-core ] && { echo "bench/prefetch-zones.sh: namespace pb-core exists: another zones run is active (or $ZONES/zones-down.sh)" >&2; exit 1; }
  IPS=(10.99.0.1 10.99.0.2 10.99.0.3); NS=(pb-az1 pb-az2 pb-az3); ZONE_NAMES=(az1 az2 az3); CLI=pb-cli
  topology_up() { "$ZONES/zones-up.sh" "$DELAY" 0 >/dev/null; }
  topology_down() { "$ZONES/zones-down.sh" >/dev/null 2>&1 || true; }
else
  [ -f "$GEO/geo-up.sh" ] || { echo "bench/prefetch-zones.sh: no geo tool at $GEO" >&2; exit 2; }
  IPS=(10.97.0.1 10.97.0.2 10.97.0.3); NS=(geo-us-a geo-eu-a geo-ap-a); ZONE_NAMES=(us eu ap); CLI=geo-cli-$CLIENT_REGION
  printf 'zone us-a us\nzone eu-a eu\nzone ap-a ap\nclient %s\nintra 1\ndelay us eu 40\ndelay us ap 75\ndelay eu ap 100\n' \
    "$CLIENT_REGION" > "$WORK/geo.topo"
  topology_up() { bash "$GEO/geo-down.sh" >/dev/null 2>&1 || true; bash "$GEO/geo-up.sh" "$WORK/geo.topo" >/dev/null; }
  topology_down() { bash "$GEO/geo-down.sh" >/dev/null 2>&1 || true; }
fi
PIDS=()
stop_nodes() { local pid; for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
               for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done; PIDS=(); }
cleanup() { stop_nodes; topology_down; }
trap cleanup EXIT
topology_up
ENDPOINTS="${IPS[0]}:7100,${IPS[1]}:7100,${IPS[2]}:7100"
members=()
for i in 0 1 2; do members+=(--member "$((i + 1)),${ZONE_NAMES[$i]},${IPS[$i]}:7001,${IPS[$i]}:7100"); done

cpu_of() { local total=0 pid; for pid in "$@"; do
  total=$(awk -v t="$total" -v hz="$(getconf CLK_TCK)" '{ print t + ($14 + $15) / hz }' "/proc/$pid/stat"); done; echo "$total"; }

for trace in "$@"; do
  for durability in $DURABILITIES; do
    for model in $MODELS; do
      dir="$WORK/$model-$durability-$(basename "$trace" .strace.tar.gz)"
      rm -rf "$dir"; mkdir -p "$dir"
      queue=256; [ "$model" = none ] && queue=0
      for i in 0 1 2; do
        ip netns exec "${NS[$i]}" "$ALMANAC" serve --id "$((i + 1))" --zone "${ZONE_NAMES[$i]}" --data-dir "$dir/n$((i + 1))" \
          --shards "$SHARDS" --log-level warning --insecure --prediction-model-type "$model" \
          --confidence-threshold "$THRESHOLD" --prefetch-queue-size "$queue" "${members[@]}" > "$dir/n$((i + 1)).log" 2>&1 &
        PIDS+=($!)
      done
      for i in 0 1 2; do
        for _ in $(seq 300); do grep -q "ready" "$dir/n$((i + 1)).log" 2>/dev/null && break; sleep 0.1; done
        grep -q "ready" "$dir/n$((i + 1)).log" || { echo "node $((i + 1)) did not start:" >&2; tail -5 "$dir/n$((i + 1)).log" >&2; exit 1; }
      done
      sleep 2
      if [ "$TOPOLOGY" = geo ]; then
        for shard in $(seq 0 $((SHARDS - 1))); do
          ip netns exec "$CLI" "$ALMANAC" ctl migrate "$shard" --to "$LEADERS_ON" --leader --endpoints "$ENDPOINTS" > "$dir/migrate-$shard.out" 2>&1 \
            || { echo "moving shard $shard's leadership failed:" >&2; tail -3 "$dir/migrate-$shard.out" >&2; exit 1; }
        done
      fi
      before=$(cpu_of "${PIDS[@]}")
      # shellcheck disable=SC2086
      ip netns exec "$CLI" "$ALMANAC" replay "$trace" --endpoints "$ENDPOINTS" --json --no-progress --durability "$durability" $LIMIT \
        > "$dir/replay.json" 2> "$dir/replay.err"
      after=$(cpu_of "${PIDS[@]}")
      stop_nodes
      printf '{"model":"%s","durability":"%s","topology":"%s","delay_ms":%s,"trace":"%s","node_cpu_seconds":%s,"background":null,"report":%s}\n' \
        "$model" "$durability" "$TOPOLOGY" "$DELAY" "$(basename "$trace")" "$(awk -v a="$after" -v b="$before" 'BEGIN { print a - b }')" \
        "$(tr -d '\n' < "$dir/replay.json")"
    done
  done
done
