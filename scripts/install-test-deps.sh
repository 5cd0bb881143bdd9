#!/usr/bin/env bash
# Installs what the test suites need beyond the Swift toolchain. Idempotent: installs only what
# is missing. Called by scripts/test.sh before it builds; safe to run by hand (as root).
#   etcd (Debian's etcd-server, 3.4+): the etcd shard map conformance suite starts a real
#   3-member etcd cluster on loopback (Tests/AlmanacShardMapTests, docs/sharding-etcd.md).
set -euo pipefail

need_pkgs=()
command -v etcd >/dev/null 2>&1 || need_pkgs+=(etcd-server)

if [ ${#need_pkgs[@]} -eq 0 ]; then
  echo "install-test-deps: nothing to install (etcd: $(command -v etcd))"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null 2>&1 || { echo "install-test-deps: need root (or sudo) to install ${need_pkgs[*]}" >&2; exit 1; }
  SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
echo "install-test-deps: installing ${need_pkgs[*]}"
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >/dev/null
# The package may try to start a system etcd service; the tests start their own members on
# random ports, so a system one is neither needed nor in the way.
command -v etcd >/dev/null 2>&1 || { echo "install-test-deps: etcd still missing after installing ${need_pkgs[*]}" >&2; exit 1; }
echo "install-test-deps: $(etcd --version | head -1)"
