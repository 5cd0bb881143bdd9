#!/usr/bin/env bash
# Async durability against majority on one `almanac dev` (loopback, plaintext, tokens off): `almanac
# bench --mix create` at each client count, the two modes interleaved, and the exposure window of
# the async writes (answer to majority commit) from the nodes' counters (`ctl status`, ASYNC WRITES).
# Prints one markdown row per run. Usage (release build recommended):
#   swift build -c release --product almanac
#   bash bench/async.sh [ALMANAC_BINARY]
# Environment: CLIENTS ("1 16 64"), SHARDS (4), DURATION (8), ROUNDS (2), PORT (7700).
# docs/node.md, "Answers ahead of commit".
set -euo pipefail
cd "$(dirname "$0")/.."
BIN="${1:-.build/release/almanac}"
CLIENTS="${CLIENTS:-1 16 64}"
SHARDS="${SHARDS:-4}"
DURATION="${DURATION:-8}"
ROUNDS="${ROUNDS:-2}"
PORT="${PORT:-7700}"
WORK="$(mktemp -d /tmp/almanac-async-bench.XXXXXX)"
trap 'kill "$DEV" 2>/dev/null || true; wait "$DEV" 2>/dev/null || true; rm -rf "$WORK"' EXIT

"$BIN" dev --insecure --no-auth --shards "$SHARDS" --data-dir "$WORK/data" --base-port "$PORT" > "$WORK/dev.log" 2>&1 &
DEV=$!
for _ in $(seq 1 100); do grep -q "Cluster is up" "$WORK/dev.log" && break; sleep 0.3; done
grep -q "Cluster is up" "$WORK/dev.log" || { cat "$WORK/dev.log" >&2; exit 1; }
endpoints="127.0.0.1:$((PORT + 1)),127.0.0.1:$((PORT + 2)),127.0.0.1:$((PORT + 3))"
exposure() { # "answered durable total_ns" over the nodes, from ctl status
  "$BIN" ctl status --endpoints "$endpoints" 2>/dev/null | awk '/^ASYNC WRITES/ {
    for (i = 1; i <= NF; i++) { if ($i == "commit" && $(i - 1) == "of") a = $(i + 1); if ($i == "durable") d = $(i + 1); if ($i == "total") t = $(i + 1) }
  } END { printf "%.0f %.0f %.0f\n", a, d, t }'
}
echo "| durability | clients | ops/s | p50 ms | p99 ms | answered ahead | mean exposure ms | errors |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|"
for round in $(seq 1 "$ROUNDS"); do
  for clients in $CLIENTS; do
    for durability in majority async; do
      read -r a0 d0 t0 <<< "$(exposure)"
      line=$("$BIN" bench --endpoints "$endpoints" --clients "$clients" --mix create --duration "$DURATION" --warmup 2 \
        --durability "$durability" --json --no-progress --label "async-bench round=$round" 2>>"$WORK/bench.err" || true)
      read -r a1 d1 t1 <<< "$(exposure)"
      python3 - "$durability" "$clients" "$line" "$((a1 - a0))" "$((d1 - d0))" "$((t1 - t0))" <<'PY'
import json, sys
durability, clients, line, answered, durable, total = sys.argv[1:7]
mean = f"{int(total) / int(durable) / 1e6:.2f}" if int(durable) > 0 else "-"
try:
    r = json.loads(line)
except Exception:
    print(f"| {durability} | {clients} | failed | | | | | |"); sys.exit(0)
shown = answered if durability == "async" else "-"
exp = mean if durability == "async" else "-"
print(f"| {durability} | {clients} | {float(r.get('ops_s', 0)):,.0f} | {float(r.get('p50_ms', 0)):.2f} | {float(r.get('p99_ms', 0)):.2f} | {shown} | {exp} | {r.get('errors', 0)} |")
PY
    done
  done
done
