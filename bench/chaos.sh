#!/usr/bin/env bash
# Chaos on real processes (docs/reliability.md): three `almanac serve` nodes, one per zone, in
# network namespaces (bench/chaos-net.sh), each with its data on its own loop-mounted ext4 file
# system; `almanac chaos` runs the clients in the client namespace, injects faults from a seed
# (SIGKILL+restart, SIGSTOP/SIGCONT, symmetric/asymmetric/bridge partitions with iptables, delay
# spikes, fsfreeze disk stalls) and checks the history (linearizability per register file, no
# lost/duplicated acknowledged operation, replica convergence by state digests, recovery times).
#
# usage: bench/chaos.sh [--faults N] [--seed S] [other `almanac chaos` options]
#   Must run as root (namespaces, iptables, mount, fsfreeze). Fails, never skips, when it cannot.
#   ALMANAC_BINARY=path  use this almanac binary (default: build the release product)
#   CHAOS_WORK=dir       working directory (default: a new /tmp/almanac-chaos.XXXX; kept on failure)
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$(pwd)

[ "$(id -u)" -eq 0 ] || { echo "chaos.sh: must run as root (network namespaces, iptables, loop mounts, fsfreeze)" >&2; exit 1; }
for tool in ip iptables mkfs.ext4 fsfreeze mount umount losetup; do
  command -v "$tool" >/dev/null || { echo "chaos.sh: $tool is missing" >&2; exit 1; }
done

if [ -n "${ALMANAC_BINARY:-}" ]; then
  BIN=$ALMANAC_BINARY
else
  swift build -c release --product almanac >&2
  BIN="$(swift build -c release --show-bin-path)/almanac"
fi
[ -x "$BIN" ] || { echo "chaos.sh: no almanac binary at $BIN" >&2; exit 1; }

WORK=${CHAOS_WORK:-$(mktemp -d /tmp/almanac-chaos.XXXX)}
mkdir -p "$WORK/img"
export CHAOS_NET_STATE=$WORK/net

cleanup() {
  local status=$?
  for n in 1 2 3; do fsfreeze -u "$WORK/node$n" 2>/dev/null || true; done
  # The harness stops its nodes; anything left in the zones is stopped here.
  for ns in ch-az1 ch-az2 ch-az3; do
    [ -e "/var/run/netns/$ns" ] && for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -CONT "$pid" 2>/dev/null; kill -KILL "$pid" 2>/dev/null; done
  done
  sleep 0.2
  for n in 1 2 3; do mountpoint -q "$WORK/node$n" && umount "$WORK/node$n" 2>/dev/null || umount -l "$WORK/node$n" 2>/dev/null || true; done
  bash "$REPO/bench/chaos-net.sh" down || true
  if [ $status -eq 0 ] && [ -z "${CHAOS_KEEP:-}" ]; then rm -rf "$WORK"; else echo "chaos.sh: logs and data kept in $WORK" >&2; fi
  exit $status
}
trap cleanup EXIT INT TERM

bash bench/chaos-net.sh down >/dev/null 2>&1 || true
bash bench/chaos-net.sh up
for n in 1 2 3; do
  truncate -s 512M "$WORK/img/node$n.img"
  mkfs.ext4 -q -F "$WORK/img/node$n.img"
  mkdir -p "$WORK/node$n"
  mount -o loop "$WORK/img/node$n.img" "$WORK/node$n"
done

delay_args=()
if command -v gcc >/dev/null && [ -f "$REPO/../shared/tools/zones/pbdelay.c" ] && [ -f /usr/include/libnetfilter_queue/libnetfilter_queue.h ]; then
  delay_args=(--delay-tool "$REPO/bench/chaos-net.sh")
else
  echo "chaos.sh: no delay spikes (they need ../shared/tools/zones/pbdelay.c, gcc, libnetfilter-queue-dev, libmnl-dev: this kernel has no netem)" >&2
fi

ip netns exec ch-cli "$BIN" chaos --root "$WORK" --namespaces ch-az1,ch-az2,ch-az3 \
  --addresses 10.98.0.1,10.98.0.2,10.98.0.3 --disk-stalls "${delay_args[@]}" \
  --binary "$BIN" --report "$WORK/report.json" "$@"
