#!/usr/bin/env bash
# Throughput and latency of the sharded namespace against the shard count, on loopback:
# `almanac dev --shards N` for N in $SHARDS, then `almanac bench` for each mix and client count
# (every bench worker works in its own directory, and directories hash over all shards).
# Prints one markdown row per run. Usage (release build recommended):
#   swift build -c release --product almanac
#   bash bench/shards.sh [ALMANAC_BINARY]
# Environment: SHARDS ("1 4 16"), CLIENTS ("16 64"), MIXES ("create-heavy mixed"), DURATION (8),
# TLS (0: `dev --insecure`, plaintext; 1: dev's default TLS, bench trusts the generated CA).
# The TLS cost in docs/operations.md: SHARDS=4 TLS=0 and SHARDS=4 TLS=1.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN="${1:-.build/release/almanac}"
SHARDS="${SHARDS:-1 4 16}"
CLIENTS="${CLIENTS:-16 64}"
MIXES="${MIXES:-create-heavy mixed}"
DURATION="${DURATION:-8}"
TLS="${TLS:-0}"
PORT="${PORT:-7400}"
WORK="$(mktemp -d /tmp/almanac-shards-bench.XXXXXX)"
trap 'kill "$DEV" 2>/dev/null || true; wait "$DEV" 2>/dev/null || true; rm -rf "$WORK"' EXIT

echo "| shards | mix | clients | ops/s | p50 ms | p99 ms | errors |"
echo "|---:|---|---:|---:|---:|---:|---:|"
for shards in $SHARDS; do
  rm -rf "$WORK/data"
  # Token checks off in both cases (--no-auth): this compares transports.
  security=(--insecure --no-auth); [ "$TLS" = 1 ] && security=(--no-auth)
  "$BIN" dev "${security[@]}" --shards "$shards" --data-dir "$WORK/data" --base-port "$PORT" > "$WORK/dev.log" 2>&1 &
  DEV=$!
  for _ in $(seq 1 100); do grep -q "Cluster is up" "$WORK/dev.log" && break; sleep 0.3; done
  grep -q "Cluster is up" "$WORK/dev.log" || { cat "$WORK/dev.log" >&2; exit 1; }
  endpoints="127.0.0.1:$((PORT + 1)),127.0.0.1:$((PORT + 2)),127.0.0.1:$((PORT + 3))"
  trust=(); [ "$TLS" = 1 ] && trust=(--ca "$WORK/data/tls/ca.pem")
  for mix in $MIXES; do
    for clients in $CLIENTS; do
      line=$("$BIN" bench "${trust[@]}" --endpoints "$endpoints" --clients "$clients" --mix "$mix" --duration "$DURATION" \
        --warmup 2 --json --no-progress --label "shards=$shards tls=$TLS" 2>>"$WORK/bench.err" || true)
      python3 - "$shards" "$mix" "$clients" "$line" <<'PY'
import json, sys
shards, mix, clients, line = sys.argv[1:5]
try:
    r = json.loads(line)
except Exception:
    print(f"| {shards} | {mix} | {clients} | failed | | | |"); sys.exit(0)
ops = r.get("ops_s", 0); p50 = r.get("p50_ms", 0); p99 = r.get("p99_ms", 0); err = r.get("errors", 0)
print(f"| {shards} | {mix} | {clients} | {float(ops):,.0f} | {float(p50):.2f} | {float(p99):.2f} | {err} |")
PY
    done
  done
  kill "$DEV"; wait "$DEV" 2>/dev/null || true
  sleep 1
done
