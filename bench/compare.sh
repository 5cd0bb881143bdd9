#!/usr/bin/env bash
# bench/compare.sh: etcd, ZooKeeper and Almanac side by side, in one run, in a simulated three-zone network.
#
# Three zone namespaces (one server of each system per zone) and a client namespace on a bridge;
# a one-way delay between zones (tc netem where the kernel has it, else ../shared/tools/zones'
# user-space delayer). For each zone delay (default 0 and 0.5 ms): the physical floor (zone ping
# RTT p50, data-disk fdatasync p50), then etcd 3.4 (3 members, defaults, 256-byte Puts through
# peerload), ZooKeeper 3.8 (3 members, forceSync=yes, 256-byte setData through peerload) and
# Almanac (3 `almanac serve`, creates with 255-byte names through `almanac bench`), each at 1, 16
# and 64 closed-loop clients. Prints a table (ops/s, p50, p99, server CPU s per 1000 ops, Almanac's
# ratios to each) and the goals of issue 17. Stops everything it started and deletes its namespaces on exit.
#
# usage: sudo bench/compare.sh [--delays "0 0.5"] [--clients "1 16 64"] [--duration 8] [--warmup 2]
#          [--systems "etcd zookeeper almanac"] [--shards 1] [--almanac-snapshot-every N] [--zones auto|shared|netem] [--work DIR]
#          [--almanac PATH] [--results FILE] [--no-install] [--rebuild] [--almanac-tls] [--profile DIR]
# --profile DIR records the three Almanac servers with `perf record -g` (499 Hz) over each Almanac
# run's measured window and writes DIR/almanac-<delay>ms-<clients>.txt: where their CPU went by
# thread, by library and by function (self time), for the issue-17 goals that are not met.
# --almanac-tls runs Almanac with TLS on the client API and mutual TLS between its nodes
# (certificates from `almanac certs` for the zone addresses; bench trusts the CA) instead of
# --insecure: what TLS costs (docs/benchmarks.md, "What TLS costs").
# See docs/benchmarks.md ("Almanac vs etcd and ZooKeeper").
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(dirname "$HERE")
DELAYS="0 0.5"
CLIENTS="1 16 64"
DURATION=8
WARMUP=2
SYSTEMS="etcd zookeeper almanac"
SHARDS=1
SNAPSHOT_EVERY=""
ZONES_MODE=auto
WORK=/var/tmp/almanac-compare
ALMANAC=""
RESULTS=""
INSTALL=1
REBUILD=0
ALMANAC_TLS=0
PROFILE_DIR=""
SHARED_ZONES=${SHARED_ZONES:-$REPO/../shared/tools/zones}
PEERLOAD_SRC=${PEERLOAD_SRC:-$REPO/../shared/tools/peerload/main.go}

while [ $# -gt 0 ]; do
  case "$1" in
    --delays) DELAYS=$2; shift 2 ;;
    --clients) CLIENTS=$2; shift 2 ;;
    --duration) DURATION=$2; shift 2 ;;
    --warmup) WARMUP=$2; shift 2 ;;
    --systems) SYSTEMS=$2; shift 2 ;;
    --shards) SHARDS=$2; shift 2 ;;
    --almanac-snapshot-every) SNAPSHOT_EVERY=$2; shift 2 ;;
    --zones) ZONES_MODE=$2; shift 2 ;;
    --work) WORK=$2; shift 2 ;;
    --almanac) ALMANAC=$2; shift 2 ;;
    --results) RESULTS=$2; shift 2 ;;
    --no-install) INSTALL=0; shift ;;
    --rebuild) REBUILD=1; shift ;;
    --almanac-tls) ALMANAC_TLS=1; shift ;;
    --profile) PROFILE_DIR=$2; shift 2 ;;
    -h|--help) sed -n '2,22p' "$0"; exit 0 ;;
    *) echo "compare.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
[ "$(id -u)" = 0 ] || { echo "compare.sh: run as root (it creates network namespaces)" >&2; exit 2; }

log() { printf '[%(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
T_START=$(date +%s)
BIN=$WORK/bin
DATA=$WORK/data
LOGS=$WORK/log
RESULTS=${RESULTS:-$WORK/results.jsonl}
mkdir -p "$BIN" "$LOGS"
rm -rf "$DATA"; mkdir -p "$DATA"
: > "$RESULTS"

# ---------------------------------------------------------------- packages and builds
if [ "$INSTALL" = 1 ]; then
  need=()
  for p in iproute2 iptables gcc libnetfilter-queue-dev libmnl-dev iputils-ping etcd-server etcd-client golang-go \
           golang-etcd-server-dev golang-github-nats-io-go-nats-dev golang-github-samuel-go-zookeeper-dev python3 \
           zookeeper default-jre-headless; do
    dpkg -s "$p" >/dev/null 2>&1 || need+=("$p")
  done
  if [ ${#need[@]} -gt 0 ]; then
    log "installing ${need[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
  fi
fi
if [ ! -x "$BIN/peerload" ] || [ "$REBUILD" = 1 ]; then
  log "building peerload (Debian's Go packages, GOPATH mode)"
  (cd "$(dirname "$PEERLOAD_SRC")" && GO111MODULE=off GOPATH=/usr/share/gocode GOCACHE=$WORK/gocache \
    go build -o "$BIN/peerload" "$(basename "$PEERLOAD_SRC")")
fi
gcc -O2 -Wall -o "$BIN/fsyncprobe" "$HERE/fsyncprobe.c"
if [[ " $SYSTEMS " == *" almanac "* ]]; then
  if [ -z "$ALMANAC" ]; then
    ALMANAC=$REPO/.build/release/almanac
    if [ ! -x "$ALMANAC" ] || [ "$REBUILD" = 1 ]; then
      log "building almanac (release)"
      (cd "$REPO" && swift build -c release --product almanac)
    fi
  fi
  [ -x "$ALMANAC" ] || { echo "compare.sh: no almanac binary at $ALMANAC" >&2; exit 1; }
fi

# ---------------------------------------------------------------- topology
# Arrays filled by the chosen mode: ZONE_NS, ZONE_IP, CLI_NS.
netem_available() {
  local ns=alm-netem-probe-$$ ok=1
  ip netns add "$ns" 2>/dev/null || return 1
  modprobe sch_netem 2>/dev/null || true
  ip netns exec "$ns" ip link set lo up
  ip netns exec "$ns" tc qdisc add dev lo root netem delay 1ms >/dev/null 2>&1 || ok=0
  ip netns del "$ns"
  [ "$ok" = 1 ]
}
if [ "$ZONES_MODE" = auto ]; then
  if netem_available; then ZONES_MODE=netem
  elif [ -x "$SHARED_ZONES/zones-up.sh" ]; then ZONES_MODE=shared
  else echo "compare.sh: this kernel has no netem and $SHARED_ZONES is absent: no way to delay packets" >&2; exit 1; fi
fi

STARTED_PIDS=()
TOPOLOGY_UP=0
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  for pid in "${STARTED_PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${STARTED_PIDS[@]}"; do
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  done
  if [ "$TOPOLOGY_UP" = 1 ]; then topology_down; fi
  rm -rf "$DATA"
  log "cleaned up (exit $rc)"
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

case "$ZONES_MODE" in
shared)
  # ../shared/tools/zones: namespaces pb-az1..3 and pb-cli on a bridge in pb-core; pbdelay for the delay.
  export PB_ROOT=$WORK/pb
  ZONE_NS=(pb-az1 pb-az2 pb-az3); ZONE_IP=(10.99.0.1 10.99.0.2 10.99.0.3); CLI_NS=pb-cli
  if [ -e /var/run/netns/pb-core ]; then
    echo "compare.sh: namespace pb-core exists: another zones run is active (or a crashed one left it: $SHARED_ZONES/zones-down.sh removes it); not touching it" >&2
    exit 1
  fi
  topology_up() { TOPOLOGY_UP=1; "$SHARED_ZONES/zones-up.sh" 0 0 >/dev/null; }
  set_delay() { "$SHARED_ZONES/zones-delay.sh" "$1" 0; }
  topology_down() { "$SHARED_ZONES/zones-down.sh" >/dev/null 2>&1 || true; }
  ;;
netem)
  # Own namespaces alm-az1..3 and alm-cli on a bridge in alm-core; netem on the zone->zone path only.
  ZONE_NS=(alm-az1 alm-az2 alm-az3); ZONE_IP=(10.98.0.1 10.98.0.2 10.98.0.3); CLI_NS=alm-cli
  CORE_NS=alm-core; CLI_IP=10.98.0.10
  for ns in "$CORE_NS" "${ZONE_NS[@]}" "$CLI_NS"; do
    [ -e "/var/run/netns/$ns" ] && { echo "compare.sh: namespace $ns exists: another run is active" >&2; exit 1; }
  done
  topology_up() {
    TOPOLOGY_UP=1
    ip netns add "$CORE_NS"
    ip netns exec "$CORE_NS" ip link set lo up
    ip netns exec "$CORE_NS" ip link add br0 type bridge
    ip netns exec "$CORE_NS" ip link set br0 up
    local i ns addr short
    for i in 0 1 2 3; do
      if [ $i -lt 3 ]; then ns=${ZONE_NS[$i]}; addr=${ZONE_IP[$i]}; short=az$((i + 1)); else ns=$CLI_NS; addr=$CLI_IP; short=cli; fi
      ip netns add "$ns"
      ip netns exec "$ns" ip link set lo up
      ip link add eth0 netns "$ns" type veth peer name "$short" netns "$CORE_NS"
      ip netns exec "$CORE_NS" ip link set "$short" master br0 up
      ip netns exec "$ns" ip addr add "$addr/24" dev eth0
      ip netns exec "$ns" ip link set eth0 up
    done
  }
  set_delay() { # one-way ms between zones; the client path is not delayed
    local ns
    for ns in "${ZONE_NS[@]}"; do
      ip netns exec "$ns" tc qdisc del dev eth0 root 2>/dev/null || true
      if awk -v d="$1" 'BEGIN{exit !(d > 0)}'; then
        ip netns exec "$ns" tc qdisc add dev eth0 root handle 1: prio
        ip netns exec "$ns" tc qdisc add dev eth0 parent 1:3 handle 30: netem delay "${1}ms"
        ip netns exec "$ns" tc filter add dev eth0 protocol ip parent 1:0 prio 3 u32 match ip dst 10.98.0.0/30 flowid 1:3
      fi
    done
  }
  topology_down() { local ns; for ns in "${ZONE_NS[@]}" "$CLI_NS" "$CORE_NS"; do ip netns del "$ns" 2>/dev/null || true; done; }
  ;;
*) echo "compare.sh: --zones auto|shared|netem" >&2; exit 2 ;;
esac

# ---------------------------------------------------------------- measurements
spawn() { # ns logfile cmd...: start in the background inside ns; prints the pid (ip netns exec execs)
  local ns=$1 logf=$2; shift 2
  ip netns exec "$ns" "$@" >"$logf" 2>&1 </dev/null &
  local pid=$!
  disown "$pid" 2>/dev/null || true   # stopped by cleanup; no job-control noise
  STARTED_PIDS+=("$pid")
  LAST_PID=$pid
}
cpu_seconds() { # total utime+stime of pids, in seconds
  local tck total=0 pid
  tck=$(getconf CLK_TCK)
  for pid in "$@"; do
    total=$((total + $(awk '{sub(/^.*\) /, ""); print $12 + $13}' "/proc/$pid/stat")))
  done
  awk -v t="$total" -v k="$tck" 'BEGIN{printf "%.3f", t / k}'
}
ctx_switches() { # voluntary + involuntary context switches of every thread of pids
  local pid total=0 n
  for pid in "$@"; do
    n=$(cat /proc/"$pid"/task/*/status 2>/dev/null | awk '/^(non)?voluntary_ctxt_switches:/ {s += $2} END {print s + 0}')
    total=$((total + n))
  done
  echo "$total"
}
emit() { echo "$1" >> "$RESULTS"; }

FLOOR_SEQ=0
measure_floor() { # delay: zone RTT p50 (ping az1->az2 and az2->az3) and data-disk fdatasync (1.5 s)
  local d=$1 rtts p50 fs
  rtts=$( { ip netns exec "${ZONE_NS[0]}" ping -n -c 100 -i 0.005 "${ZONE_IP[1]}";
            ip netns exec "${ZONE_NS[1]}" ping -n -c 100 -i 0.005 "${ZONE_IP[2]}"; } 2>/dev/null \
          | sed -n 's/.*time=\([0-9.]*\) ms.*/\1/p' | sort -g)
  p50=$(echo "$rtts" | awk '{a[NR]=$1} END{if (NR) print a[int((NR+1)/2)]; else print 0}')
  fs=$("$BIN/fsyncprobe" "$DATA" 1.5)
  FLOOR_SEQ=$((FLOOR_SEQ + 1))
  log "floor #$FLOOR_SEQ (delay $d ms): zone RTT p50 $p50 ms, fdatasync $fs"
  emit "{\"kind\":\"floor\",\"seq\":$FLOOR_SEQ,\"delay_ms\":$d,\"rtt_p50_ms\":$p50,\"fsync\":$fs}"
}

ETCD_PIDS=(); ETCD_EPS=""
start_etcd() {
  local i cluster=""
  ETCD_PIDS=(); ETCD_EPS=""
  for i in 0 1 2; do cluster+="${cluster:+,}az$((i + 1))=http://${ZONE_IP[$i]}:2380"; ETCD_EPS+="${ETCD_EPS:+,}http://${ZONE_IP[$i]}:2379"; done
  for i in 0 1 2; do
    mkdir -p "$DATA/etcd/az$((i + 1))"
    spawn "${ZONE_NS[$i]}" "$LOGS/etcd-az$((i + 1)).log" \
      etcd --name "az$((i + 1))" --data-dir "$DATA/etcd/az$((i + 1))" \
        --listen-peer-urls "http://${ZONE_IP[$i]}:2380" --initial-advertise-peer-urls "http://${ZONE_IP[$i]}:2380" \
        --listen-client-urls "http://${ZONE_IP[$i]}:2379" --advertise-client-urls "http://${ZONE_IP[$i]}:2379" \
        --initial-cluster "$cluster" --initial-cluster-state new --initial-cluster-token almanac-compare \
        --logger zap --log-outputs stderr --log-level warn
    ETCD_PIDS+=("$LAST_PID")
  done
  local ok=0
  for _ in $(seq 150); do
    if ip netns exec "$CLI_NS" env ETCDCTL_API=3 etcdctl --endpoints "$ETCD_EPS" --command-timeout=2s endpoint health >/dev/null 2>&1; then ok=1; break; fi
    sleep 0.2
  done
  [ "$ok" = 1 ] || { echo "compare.sh: etcd did not become healthy; logs in $LOGS" >&2; exit 1; }
  log "etcd up ($ETCD_EPS), pids ${ETCD_PIDS[*]}"
}

# ZooKeeper (Debian's `zookeeper` package: the server jar; `zookeeperd` only adds a system service
# on the default port, which this script does not use): one member per zone, the defaults of
# Debian's zoo.cfg (tickTime 2000, initLimit 10, syncLimit 5) and ZooKeeper's own default
# forceSync=yes (an fdatasync of the transaction log before every acknowledgement), the
# four-letter word `srvr` enabled for peerload's leader lookup.
ZK_PIDS=(); ZK_EPS=""
ZK_CLASSPATH=${ZK_CLASSPATH:-/etc/zookeeper/conf:/usr/share/java/zookeeper.jar}
zk_mode() { # ip: the member's Mode (leader/follower) through the srvr four-letter word, from the client namespace
  ip netns exec "$CLI_NS" timeout 2 bash -c "exec 3<>/dev/tcp/$1/2181; printf srvr >&3; cat <&3" 2>/dev/null | sed -n 's/^Mode: //p' || true
}
start_zookeeper() {
  local i servers=""
  ZK_PIDS=(); ZK_EPS=""
  for i in 0 1 2; do servers+="server.$((i + 1))=${ZONE_IP[$i]}:2888:3888"$'\n'; ZK_EPS+="${ZK_EPS:+,}${ZONE_IP[$i]}:2181"; done
  for i in 0 1 2; do
    local dir="$DATA/zookeeper/az$((i + 1))"
    mkdir -p "$dir"
    echo "$((i + 1))" > "$dir/myid"
    cat > "$WORK/zk-az$((i + 1)).cfg" <<EOF
tickTime=2000
initLimit=10
syncLimit=5
dataDir=$dir
clientPort=2181
clientPortAddress=${ZONE_IP[$i]}
forceSync=yes
maxClientCnxns=0
admin.enableServer=false
4lw.commands.whitelist=srvr,ruok
$servers
EOF
    spawn "${ZONE_NS[$i]}" "$LOGS/zookeeper-az$((i + 1)).log" \
      java -Xmx1g -Dzookeeper.log.dir="$LOGS" -Dzookeeper.root.logger=WARN,CONSOLE -cp "$ZK_CLASSPATH" \
        org.apache.zookeeper.server.quorum.QuorumPeerMain "$WORK/zk-az$((i + 1)).cfg"
    ZK_PIDS+=("$LAST_PID")
  done
  local ok=0 modes
  for _ in $(seq 150); do
    modes=$(for i in 0 1 2; do zk_mode "${ZONE_IP[$i]}"; done | sort | tr '\n' ' ')
    if [ "$modes" = "follower follower leader " ]; then ok=1; break; fi
    sleep 0.2
  done
  [ "$ok" = 1 ] || { echo "compare.sh: ZooKeeper did not form a quorum (modes: $modes); logs in $LOGS" >&2; exit 1; }
  log "zookeeper up ($ZK_EPS), pids ${ZK_PIDS[*]}"
}

ALMANAC_PIDS=(); ALMANAC_EPS=""; ALMANAC_CLIENT_TLS=()
start_almanac() {
  local i members=() security
  ALMANAC_PIDS=(); ALMANAC_EPS=""
  for i in 0 1 2; do
    members+=(--member "$((i + 1)),az$((i + 1)),${ZONE_IP[$i]}:7001,${ZONE_IP[$i]}:7100")
    ALMANAC_EPS+="${ALMANAC_EPS:+,}${ZONE_IP[$i]}:7100"
  done
  if [ "$ALMANAC_TLS" = 1 ]; then
    "$ALMANAC" certs --dir "$WORK/tls" --nodes 1,2,3 --force \
      --host "1=${ZONE_IP[0]}" --host "2=${ZONE_IP[1]}" --host "3=${ZONE_IP[2]}" >/dev/null
    ALMANAC_CLIENT_TLS=(--ca "$WORK/tls/ca.pem")
  fi
  for i in 0 1 2; do
    mkdir -p "$DATA/almanac/n$((i + 1))"
    if [ "$ALMANAC_TLS" = 1 ]; then
      security=(--tls-cert "$WORK/tls/node$((i + 1)).pem" --tls-key "$WORK/tls/node$((i + 1))-key.pem" --tls-ca "$WORK/tls/ca.pem")
    else
      security=(--insecure)
    fi
    if [ -n "$SNAPSHOT_EVERY" ]; then
      # Non-default snapshot interval: only the JSON configuration carries it.
      python3 - "$WORK/almanac-n$((i + 1)).json" "$((i + 1))" "$DATA/almanac/n$((i + 1))" "$SHARDS" "$SNAPSHOT_EVERY" "${ZONE_IP[@]}" <<'PY'
import json, sys
path, me, data, shards, every, ips = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), sys.argv[6:9]
members = [{"id": i + 1, "zone": f"az{i + 1}", "peerAddress": f"{ip}:7001", "apiAddress": f"{ip}:7100"} for i, ip in enumerate(ips)]
json.dump({"id": me, "zone": f"az{me}", "dataDirectory": data, "shards": shards, "clusterID": "almanac",
           "members": members, "snapshotEveryEntries": every}, open(path, "w"))
PY
      spawn "${ZONE_NS[$i]}" "$LOGS/almanac-n$((i + 1)).log" \
        "$ALMANAC" serve --config "$WORK/almanac-n$((i + 1)).json" --log-level warning "${security[@]}"
    else
      spawn "${ZONE_NS[$i]}" "$LOGS/almanac-n$((i + 1)).log" \
        "$ALMANAC" serve --id "$((i + 1))" --zone "az$((i + 1))" --data-dir "$DATA/almanac/n$((i + 1))" \
          --shards "$SHARDS" --log-level warning "${security[@]}" "${members[@]}"
    fi
    ALMANAC_PIDS+=("$LAST_PID")
  done
  for i in 0 1 2; do
    local ok=0
    for _ in $(seq 300); do
      grep -q "ready" "$LOGS/almanac-n$((i + 1)).log" 2>/dev/null && { ok=1; break; }
      kill -0 "${ALMANAC_PIDS[$i]}" 2>/dev/null || break
      sleep 0.1
    done
    [ "$ok" = 1 ] || { echo "compare.sh: almanac node $((i + 1)) did not start:" >&2; tail -20 "$LOGS/almanac-n$((i + 1)).log" >&2; exit 1; }
  done
  log "almanac up ($ALMANAC_EPS, $SHARDS shard(s), snapshot every ${SNAPSHOT_EVERY:-default} entries, TLS $([ "$ALMANAC_TLS" = 1 ] && echo on || echo off)), pids ${ALMANAC_PIDS[*]}"
}

summary() { python3 -c 'import json,sys; r=json.loads(sys.argv[1]); print("%.0f ops/s p50 %.2f ms p99 %.2f ms errors %d" % (r["ops_s"], r["p50_ms"], r["p99_ms"], r["errors"]))' "$1"; }

bench_peer() { # sys(etcd|zookeeper) delay clients floor_before: load through peerload
  local sys=$1 d=$2 n=$3 fb=$4 out="$WORK/peerload.out" c0 c1 t0 t1 json cpu_per_k mode eps pids
  case "$sys" in
    etcd) mode=etcd; eps=$ETCD_EPS; pids=("${ETCD_PIDS[@]}") ;;
    zookeeper) mode=zk; eps=$ZK_EPS; pids=("${ZK_PIDS[@]}") ;;
  esac
  ip netns exec "$CLI_NS" "$BIN/peerload" -sys "$mode" -endpoints "$eps" -clients "$n" -size 256 \
    -duration "${DURATION}s" -warmup "${WARMUP}s" -label "delay=$d" >"$out" 2>"$LOGS/peerload-$sys-$d-$n.err" &
  local lp=$!
  # Server CPU over the steady part of the window (peerload's own setup takes well under 0.3 s).
  sleep "$(awk -v w="$WARMUP" 'BEGIN{print w + 0.3}')"
  c0=$(cpu_seconds "${pids[@]}"); s0=$(ctx_switches "${pids[@]}"); t0=$(date +%s.%N)
  sleep "$(awk -v d="$DURATION" 'BEGIN{print d - 0.6}')"
  c1=$(cpu_seconds "${pids[@]}"); s1=$(ctx_switches "${pids[@]}"); t1=$(date +%s.%N)
  wait "$lp" || { echo "compare.sh: peerload failed: $(cat "$LOGS/peerload-$sys-$d-$n.err")" >&2; exit 1; }
  json=$(tail -1 "$out")
  cpu_per_k=$(python3 -c 'import json,sys; r=json.loads(sys.argv[1]); c=float(sys.argv[2]); t=float(sys.argv[3]); print("%.4f" % (c / t / r["ops_s"] * 1000 if r["ops_s"] > 0 else 0))' \
    "$json" "$(awk -v a="$c0" -v b="$c1" 'BEGIN{print b - a}')" "$(awk -v a="$t0" -v b="$t1" 'BEGIN{print b - a}')")
  switches_per_op=$(python3 -c 'import json,sys; r=json.loads(sys.argv[1]); s=float(sys.argv[2]); t=float(sys.argv[3]); print("%.3f" % (s / t / r["ops_s"] if r["ops_s"] > 0 else 0))' \
    "$json" "$((s1 - s0))" "$(awk -v a="$t0" -v b="$t1" 'BEGIN{print b - a}')")
  log "$(printf '%-9s' "$sys") delay $d ms, $n clients: $(summary "$json"), server CPU $cpu_per_k s/1000 ops, $switches_per_op context switches/op"
  emit "{\"kind\":\"run\",\"sys\":\"$sys\",\"delay_ms\":$d,\"floor_before\":$fb,\"cpu_s_per_1000_ops\":$cpu_per_k,\"switches_per_op\":$switches_per_op,\"result\":$json}"
}

profile_almanac() { # delay clients: perf over the window of the bench that starts now, in the background
  local d=$1 n=$2 pids
  pids=$(IFS=,; echo "${ALMANAC_PIDS[*]}")
  mkdir -p "$PROFILE_DIR"
  ( sleep "$(awk -v w="$WARMUP" 'BEGIN{print w + 0.5}')"
    perf record -F 499 -g -p "$pids" -o "$PROFILE_DIR/almanac-${d}ms-$n.data" -- sleep "$(awk -v d="$DURATION" 'BEGIN{print d - 1}')" >/dev/null 2>&1
  ) &
  PERF_PID=$!
}

profile_report() { # delay clients: the text report of the profile just recorded
  local d=$1 n=$2 data="$PROFILE_DIR/almanac-${1}ms-$2.data" out="$PROFILE_DIR/almanac-${1}ms-$2.txt"
  wait "$PERF_PID" 2>/dev/null || true
  [ -s "$data" ] || { log "profile: perf recorded nothing for delay $d ms, $n clients"; return 0; }
  # `head` closes the pipes early: no pipefail here, or perf's SIGPIPE would end the run.
  ( set +o pipefail
    echo "# Almanac servers, delay $d ms, $n clients: perf record -F 499 -g over the window ($(date -u +%FT%TZ))"
    echo; echo "## by thread, self"; perf report -i "$data" --no-children --sort pid --stdio -g none 2>/dev/null | grep -v '^#' | grep '%' | head -15
    echo; echo "## by library (dso), self"; perf report -i "$data" --no-children --sort dso --stdio -g none 2>/dev/null | grep -v '^#' | grep '%' | head -15
    echo; echo "## by function, self"; perf report -i "$data" --no-children --sort sym --stdio -g none 2>/dev/null | grep -v '^#' | grep '%' | head -40
  ) > "$out"
  rm -f "$data"
  log "profile: $out"
}

bench_almanac() { # delay clients floor_before
  local d=$1 n=$2 fb=$3 json cpu_per_k cpupids
  cpupids=$(IFS=,; echo "${ALMANAC_PIDS[*]}")
  [ -z "$PROFILE_DIR" ] || profile_almanac "$d" "$n"
  json=$(ip netns exec "$CLI_NS" "$ALMANAC" bench --endpoints "$ALMANAC_EPS" "${ALMANAC_CLIENT_TLS[@]}" --clients "$n" --mix create --name-bytes 255 \
    --duration "$DURATION" --warmup "$WARMUP" --json --no-progress --cpu-pids "$cpupids" --label "delay=$d" \
    2>"$LOGS/almanac-bench-$d-$n.err") || { echo "compare.sh: almanac bench failed: $(tail -5 "$LOGS/almanac-bench-$d-$n.err")" >&2; exit 1; }
  json=$(echo "$json" | tail -1)
  cpu_per_k=$(python3 -c 'import json,sys; r=json.loads(sys.argv[1]); print("%.4f" % (r.get("server_cpu_s_per_1000_ops") or 0))' "$json")
  switches_per_op=$(python3 -c 'import json,sys; r=json.loads(sys.argv[1]); print("%.3f" % (r.get("server_context_switches_per_op") or 0))' "$json")
  [ -z "$PROFILE_DIR" ] || profile_report "$d" "$n"
  log "almanac  delay $d ms, $n clients: $(summary "$json"), server CPU $cpu_per_k s/1000 ops, $switches_per_op context switches/op"
  emit "{\"kind\":\"run\",\"sys\":\"almanac\",\"delay_ms\":$d,\"floor_before\":$fb,\"cpu_s_per_1000_ops\":$cpu_per_k,\"switches_per_op\":$switches_per_op,\"result\":$json}"
}

# ---------------------------------------------------------------- the run
log "zones: $ZONES_MODE; delays: $DELAYS ms one way; clients: $CLIENTS; ${WARMUP}+${DURATION} s per run; data: $DATA"
topology_up
emit "{\"kind\":\"machine\",\"almanac_shards\":$SHARDS,\"almanac_tls\":$ALMANAC_TLS,\"almanac_snapshot_every\":\"${SNAPSHOT_EVERY:-default}\",\"cores\":$(nproc),\"kernel\":\"$(uname -r)\",\"zones\":\"$ZONES_MODE\",\"loadavg\":\"$(cut -d' ' -f1-3 /proc/loadavg)\",\"disk\":\"$(df --output=source "$DATA" | tail -1)\",\"date\":\"$(date -u +%FT%TZ)\"}"
# All clusters stay up for the whole run (the idle ones cost little) so that the systems' runs at
# each setting are adjacent in time: this disk's sync latency drifts between quiet and slow
# phases. The order alternates (etcd first, then Almanac first, ...) and the floor is measured
# between runs, so every run has a floor measurement right before and right after it.
for sys in $SYSTEMS; do
  case "$sys" in etcd) start_etcd ;; zookeeper) start_zookeeper ;; almanac) start_almanac ;; *) echo "compare.sh: unknown system $sys" >&2; exit 2 ;; esac
done
flip=0
for d in $DELAYS; do
  set_delay "$d"
  sleep 0.5
  for n in $CLIENTS; do
    order=$SYSTEMS
    if [ "$flip" = 1 ]; then order=$(echo "$SYSTEMS" | awk '{for (i = NF; i > 0; i--) printf "%s%s", $i, (i > 1 ? " " : "")}'); fi
    flip=$((1 - flip))
    for sys in $order; do
      measure_floor "$d"
      case "$sys" in etcd|zookeeper) bench_peer "$sys" "$d" "$n" "$FLOOR_SEQ" ;; almanac) bench_almanac "$d" "$n" "$FLOOR_SEQ" ;; esac
    done
  done
  measure_floor "$d"
done
emit "{\"kind\":\"end\",\"loadavg\":\"$(cut -d' ' -f1-3 /proc/loadavg)\",\"seconds\":$(( $(date +%s) - T_START ))}"
python3 "$HERE/compare_table.py" "$RESULTS"
log "results: $RESULTS ($(( $(date +%s) - T_START )) s)"
