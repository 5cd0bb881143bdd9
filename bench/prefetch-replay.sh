#!/usr/bin/env bash
# bench/prefetch-replay.sh: `almanac replay` of strace traces with each prediction model under each
# durability (docs/prediction.md, "Measured"). For each row: a fresh cluster, one replay (JSON
# kept), the nodes' CPU seconds (utime+stime from /proc) over the replay, then the cluster is
# stopped. Prints one JSON object per line: model, durability, network, trace, node CPU, report.
#
# --network picks where the cluster runs:
#   dev    `almanac dev` on loopback (the default);
#   zones  ../shared/tools/zones: three zone namespaces with --delay-ms one way between them
#          (0.5 by default), one `almanac serve` in each, the client in pb-cli (its own path
#          undelayed); needs root;
#   geo    ../shared/tools/geo: three regions of one node each (us, eu, ap; 40/75/100 ms one way),
#          the client in --client-region (ap), every shard's leadership moved to --leaders-on
#          (node 1, in us) before the replay: a client in another region than its leaders; root.
# The namespace networks need gcc and libnetfilter-queue-dev (the tools' packet delayer).
#
# usage: [sudo] bench/prefetch-replay.sh [--almanac .build/release/almanac] [--models "none markov rnn"]
#          [--threshold 0.9] [--limit N] [--durability "majority async"] [--shards 4]
#          [--network dev|zones|geo] [--delay-ms 0.5] [--client-region ap] [--leaders-on 1]
#          [--base-port 27600] [--work /tmp/almanac-prefetch]
#          [--background-clients N --background-seconds S] [--yield-backlog N] TRACE...
# --yield-backlog passes --prefetch-yield-backlog to the servers (the backlog above which
# prefetching yields to requests; -1: never yield).
# With --background-clients, `almanac bench` (N clients, creates, majority) runs beside the replay
# for S seconds, starting 0.5 s after it: its throughput ("background") is what other clients get
# while prefetching runs (the replay must outlast it: compare its replay time with S).
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
ZONES=${ZONES:-$REPO/../shared/tools/zones}
GEO=${GEO:-$REPO/../shared/tools/geo}
ALMANAC=.build/release/almanac
MODELS="none markov rnn"
THRESHOLD=0.9
LIMIT=""
DURABILITIES=majority
SHARDS=4
NETWORK=dev
DELAY=0.5
CLIENT_REGION=ap
LEADERS_ON=1
BASE=27600
WORK=/tmp/almanac-prefetch
BACKGROUND=0
BACKGROUND_SECONDS=5
YIELD=()
while [ $# -gt 0 ]; do
  case "$1" in
    --almanac) ALMANAC=$2; shift 2 ;;
    --models) MODELS=$2; shift 2 ;;
    --threshold) THRESHOLD=$2; shift 2 ;;
    --limit) LIMIT="--limit $2"; shift 2 ;;
    --durability) DURABILITIES=$2; shift 2 ;;
    --shards) SHARDS=$2; shift 2 ;;
    --network) NETWORK=$2; shift 2 ;;
    --delay-ms) DELAY=$2; shift 2 ;;
    --client-region) CLIENT_REGION=$2; shift 2 ;;
    --leaders-on) LEADERS_ON=$2; shift 2 ;;
    --base-port) BASE=$2; shift 2 ;;
    --work) WORK=$2; shift 2 ;;
    --background-clients) BACKGROUND=$2; shift 2 ;;
    --background-seconds) BACKGROUND_SECONDS=$2; shift 2 ;;
    --yield-backlog) YIELD=("--prefetch-yield-backlog=$2"); shift 2 ;;
    -*) echo "bench/prefetch-replay.sh: unknown option $1" >&2; exit 2 ;;
    *) break ;;
  esac
done
[ $# -gt 0 ] || { echo "usage: $0 [options] TRACE..." >&2; exit 2; }
ALMANAC=$(cd "$(dirname "$ALMANAC")" && pwd)/$(basename "$ALMANAC")
mkdir -p "$WORK"

# The network: addresses, namespaces (none on loopback), how the client runs, up and down.
case "$NETWORK" in
dev)
  ENDPOINTS=127.0.0.1:$((BASE + 1)),127.0.0.1:$((BASE + 2)),127.0.0.1:$((BASE + 3))
  in_client() { "$@"; }
  topology_up() { :; }
  topology_down() { :; } ;;
zones|geo)
  [ "$(id -u)" = 0 ] || { echo "bench/prefetch-replay.sh: --network $NETWORK needs root (network namespaces)" >&2; exit 2; }
  if [ "$NETWORK" = zones ]; then
    [ -x "$ZONES/zones-up.sh" ] || { echo "bench/prefetch-replay.sh: no zones tool at $ZONES" >&2; exit 2; }
    [ -e /var/run/netns/pb-core ] && { echo "bench/prefetch-replay.sh: namespace pb-core exists: another zones run is active (or $ZONES/zones-down.sh)" >&2; exit 1; }
    IPS=(10.99.0.1 10.99.0.2 10.99.0.3); NS=(pb-az1 pb-az2 pb-az3); ZONE_NAMES=(az1 az2 az3); CLI=pb-cli
    topology_up() { "$ZONES/zones-up.sh" "$DELAY" 0 >/dev/null 2>&1; }
    topology_down() { "$ZONES/zones-down.sh" >/dev/null 2>&1 || true; }
  else
    [ -f "$GEO/geo-up.sh" ] || { echo "bench/prefetch-replay.sh: no geo tool at $GEO" >&2; exit 2; }
    IPS=(10.97.0.1 10.97.0.2 10.97.0.3); NS=(geo-us-a geo-eu-a geo-ap-a); ZONE_NAMES=(us eu ap); CLI=geo-cli-$CLIENT_REGION
    printf 'zone us-a us\nzone eu-a eu\nzone ap-a ap\nclient %s\nintra 1\ndelay us eu 40\ndelay us ap 75\ndelay eu ap 100\n' \
      "$CLIENT_REGION" > "$WORK/geo.topo"
    topology_up() { bash "$GEO/geo-down.sh" >/dev/null 2>&1 || true; bash "$GEO/geo-up.sh" "$WORK/geo.topo" >/dev/null; }
    topology_down() { bash "$GEO/geo-down.sh" >/dev/null 2>&1 || true; }
  fi
  ENDPOINTS="${IPS[0]}:7100,${IPS[1]}:7100,${IPS[2]}:7100"
  MEMBERS=()
  for i in 0 1 2; do MEMBERS+=(--member "$((i + 1)),${ZONE_NAMES[$i]},${IPS[$i]}:7001,${IPS[$i]}:7100"); done
  in_client() { ip netns exec "$CLI" "$@"; } ;;
*) echo "bench/prefetch-replay.sh: --network dev|zones|geo" >&2; exit 2 ;;
esac

PIDS=()  # the cluster's processes (the dev supervisor, or the three serve processes)
start_cluster() { # dir model queue
  local dir=$1 model=$2 queue=$3 i
  if [ "$NETWORK" = dev ]; then
    "$ALMANAC" dev --insecure --no-auth --data-dir "$dir" --base-port "$BASE" --shards "$SHARDS" --prediction-model-type "$model" \
      --confidence-threshold "$THRESHOLD" --prefetch-queue-size "$queue" "${YIELD[@]}" > "$dir/dev.out" 2>&1 &
    PIDS=($!)
    for _ in $(seq 1 100); do grep -q "Press Ctrl-C" "$dir/dev.out" 2>/dev/null && break; sleep 0.2; done
    sleep 1
    return
  fi
  for i in 0 1 2; do
    ip netns exec "${NS[$i]}" "$ALMANAC" serve --id "$((i + 1))" --zone "${ZONE_NAMES[$i]}" --data-dir "$dir/n$((i + 1))" \
      --shards "$SHARDS" --log-level warning --insecure --prediction-model-type "$model" \
      --confidence-threshold "$THRESHOLD" --prefetch-queue-size "$queue" "${YIELD[@]}" "${MEMBERS[@]}" > "$dir/n$((i + 1)).log" 2>&1 &
    PIDS+=($!)
  done
  for i in 0 1 2; do
    for _ in $(seq 300); do grep -q "ready" "$dir/n$((i + 1)).log" 2>/dev/null && break; sleep 0.1; done
    grep -q "ready" "$dir/n$((i + 1)).log" || { echo "node $((i + 1)) did not start:" >&2; tail -5 "$dir/n$((i + 1)).log" >&2; exit 1; }
  done
  sleep 2
  if [ "$NETWORK" = geo ]; then
    local shard
    for shard in $(seq 0 $((SHARDS - 1))); do
      in_client "$ALMANAC" ctl migrate "$shard" --to "$LEADERS_ON" --leader --endpoints "$ENDPOINTS" > "$dir/migrate-$shard.out" 2>&1 \
        || { echo "moving shard $shard's leadership failed:" >&2; tail -3 "$dir/migrate-$shard.out" >&2; exit 1; }
    done
  fi
}
stop_cluster() { local pid; for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
                 for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done; PIDS=(); }
node_pids() { # the serve processes: the dev supervisor's children, or the processes started here
  if [ "$NETWORK" = dev ]; then pgrep -P "${PIDS[0]}" || true; else printf '%s\n' "${PIDS[@]}"; fi; }
node_cpu() { local total=0 pid; for pid in $(node_pids); do
  total=$(awk -v t="$total" -v hz="$(getconf CLK_TCK)" '{ print t + ($14 + $15) / hz }' "/proc/$pid/stat"); done; echo "$total"; }
trap 'stop_cluster; topology_down' EXIT
topology_up

for trace in "$@"; do
  for durability in $DURABILITIES; do
    for model in $MODELS; do
      dir="$WORK/$model-$durability-$NETWORK-$(basename "$trace" .strace.tar.gz)"
      rm -rf "$dir"; mkdir -p "$dir"
      queue=256; [ "$model" = none ] && queue=0
      start_cluster "$dir" "$model" "$queue"
      before=$(node_cpu)
      background=null
      if [ "$BACKGROUND" -gt 0 ]; then
        (sleep 0.5; in_client "$ALMANAC" bench --endpoints "$ENDPOINTS" --clients "$BACKGROUND" --mix create --name-bytes 255 \
           --duration "$BACKGROUND_SECONDS" --warmup 0 --json --no-progress 2>"$dir/bench.err" | tail -1 > "$dir/bench.json") &
        bench=$!
      fi
      # shellcheck disable=SC2086
      in_client "$ALMANAC" replay "$trace" --endpoints "$ENDPOINTS" --json --no-progress --durability "$durability" $LIMIT \
        > "$dir/replay.json" 2> "$dir/replay.err"
      after=$(node_cpu)
      if [ "$BACKGROUND" -gt 0 ]; then
        wait "$bench" || true
        background=$(python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print(json.dumps({"clients": r["clients"], "ops_s": r["ops_s"], "p50_ms": r["p50_ms"], "p99_ms": r["p99_ms"]}))' "$dir/bench.json" 2>/dev/null || echo null)
      fi
      stop_cluster
      printf '{"model":"%s","durability":"%s","network":"%s","delay_ms":%s,"trace":"%s","node_cpu_seconds":%s,"background":%s,"report":%s}\n' \
        "$model" "$durability" "$NETWORK" "$([ "$NETWORK" = zones ] && echo "$DELAY" || echo null)" "$(basename "$trace")" \
        "$(awk -v a="$after" -v b="$before" 'BEGIN { print a - b }')" "$background" "$(tr -d '\n' < "$dir/replay.json")"
    done
  done
done
