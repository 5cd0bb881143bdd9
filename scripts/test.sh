#!/usr/bin/env bash
# The test command. Builds once, then runs the suites in three phases so that socket and
# process tests never share the cooperative thread pool (as wide as the core count: 2 here)
# with CPU-heavy simulation tests, which would starve their event loops into timeouts.
set -euo pipefail
cd "$(dirname "$0")/.."

SOCKET_SUITES='AlmanacServerTests|AlmanacOperationsTests|AlmanacClientTests|AlmanacNodeTests|AlmanacWireTests|AlmanacBenchTests'
# AlmanacShardMapTests starts a real 3-member etcd cluster (scripts/install-test-deps.sh installs etcd).
PROCESS_SUITES='AlmanacIntegrationTests|AlmanacShardMapTests'

# etcd for the shard map store's conformance suite (installs Debian's etcd-server if etcd is missing).
bash scripts/install-test-deps.sh
swift build --build-tests
echo "== phase 1/3: pure and simulation tests"
swift test --skip-build --skip "$SOCKET_SUITES|$PROCESS_SUITES"
echo "== phase 2/3: socket tests"
swift test --skip-build --filter "$SOCKET_SUITES"
if ls Tests | grep -qxE "$PROCESS_SUITES"; then
  echo "== phase 3/3: multi-process integration tests"
  swift test --skip-build --filter "$PROCESS_SUITES"
fi
