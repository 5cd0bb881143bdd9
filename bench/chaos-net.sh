#!/usr/bin/env bash
# The chaos harness's network: three zone namespaces and a client namespace on a bridge, and the
# inter-zone delay used for delay spikes. Like ../shared/tools/zones (whose pbdelay.c it builds, since
# this kernel has no netem), but with its own names (ch-*, 10.98.0.0/24) so that it never touches
# another run's pb-* zones.
#
# usage: chaos-net.sh up | down | delay MS [ignored]
#   up      create ch-core (bridge), ch-az1..3 (10.98.0.1-3), ch-cli (10.98.0.10)
#   down    stop the delayer, delete the namespaces
#   delay   one-way delay MS between zones (0: none); needs pbdelay (gcc, libnetfilter-queue-dev, libmnl-dev)
set -euo pipefail
ZONES=(ch-az1 ch-az2 ch-az3); CLIENT=ch-cli; CORE=ch-core; NET=10.98.0
STATE=${CHAOS_NET_STATE:-/tmp/almanac-chaos-net}
PBDELAY_SRC=${PBDELAY_SRC:-$(cd "$(dirname "$0")/.." && pwd)/../shared/tools/zones/pbdelay.c}
mkdir -p "$STATE"
in_ns() { local ns=$1; shift; ip netns exec "$ns" "$@"; }
exists() { [ -e "/var/run/netns/$1" ]; }

stop_delayer() {
  for ns in "${ZONES[@]}"; do exists "$ns" && { in_ns "$ns" iptables -w -t mangle -F; in_ns "$ns" iptables -w -t mangle -X; } 2>/dev/null || true; done
  if [ -f "$STATE/pbdelay.pid" ]; then
    local pid; pid=$(cat "$STATE/pbdelay.pid")
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
    kill -KILL "$pid" 2>/dev/null || true
    rm -f "$STATE/pbdelay.pid" "$STATE/pbdelay.ready"
  fi
}

case "${1:-}" in
  up)
    exists "$CORE" || ip netns add "$CORE"
    in_ns "$CORE" ip link set lo up
    in_ns "$CORE" ip link show br0 >/dev/null 2>&1 || in_ns "$CORE" ip link add br0 type bridge
    in_ns "$CORE" ip link set br0 up
    attach() { # ns addr short
      exists "$1" || ip netns add "$1"
      in_ns "$1" ip link set lo up
      in_ns "$1" ip link show eth0 >/dev/null 2>&1 || ip link add eth0 netns "$1" type veth peer name "$3" netns "$CORE"
      in_ns "$CORE" ip link set "$3" master br0 up
      in_ns "$1" ip addr replace "$2/24" dev eth0
      in_ns "$1" ip link set eth0 up
    }
    for i in 0 1 2; do attach "${ZONES[$i]}" "$NET.$((i + 1))" "chaz$((i + 1))"; done
    attach "$CLIENT" "$NET.10" chcli
    ;;
  down)
    stop_delayer
    for ns in "${ZONES[@]}" "$CLIENT" "$CORE"; do exists "$ns" && ip netns del "$ns"; done
    true
    ;;
  delay)
    ms=${2:?delay in ms}
    stop_delayer
    us=$(awk -v m="$ms" 'BEGIN{printf "%d", m*1000}')
    [ "$us" -gt 0 ] || exit 0
    if [ ! -x "$STATE/pbdelay" ] || [ "$PBDELAY_SRC" -nt "$STATE/pbdelay" ]; then
      [ -f "$PBDELAY_SRC" ] || { echo "delay spikes need $PBDELAY_SRC (the zones tool): this kernel has no netem" >&2; exit 1; }
      gcc -O2 -Wall -o "$STATE/pbdelay" "$PBDELAY_SRC" -lnetfilter_queue -lmnl
    fi
    specs=(); for ns in "${ZONES[@]}"; do specs+=("$ns:0:$us"); done
    "$STATE/pbdelay" "$STATE/pbdelay.ready" "${specs[@]}" >>"$STATE/pbdelay.log" 2>&1 </dev/null &
    echo $! >"$STATE/pbdelay.pid"
    for _ in $(seq 100); do [ -f "$STATE/pbdelay.ready" ] && break; sleep 0.05; done
    [ -f "$STATE/pbdelay.ready" ] || { echo "pbdelay did not start; see $STATE/pbdelay.log" >&2; exit 1; }
    for ns in "${ZONES[@]}"; do
      in_ns "$ns" iptables -w -t mangle -N CHDELAY
      in_ns "$ns" iptables -w -t mangle -A POSTROUTING -o eth0 -j CHDELAY
      in_ns "$ns" iptables -w -t mangle -A CHDELAY -d "$NET.0/30" -j NFQUEUE --queue-num 0
    done
    ;;
  *) echo "usage: $0 up | down | delay MS" >&2; exit 2 ;;
esac
