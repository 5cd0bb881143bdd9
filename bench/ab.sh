#!/usr/bin/env bash
# A/B of one almanac binary under two environments (measurement switches such as
# ALMANAC_INLINE_SYNC_LEADER_BACKLOG=-1): a fresh `almanac dev` (plaintext, no controller) per run,
# `almanac bench` creates with 255-byte names at each client count, runs of A and B alternated.
# Prints one line per run: label, clients, ops/s, p50, p99 and the servers' CPU seconds per 1000
# writes. The machine is shared and noisy: compare alternated runs, never single ones.
#
#   bench/ab.sh [--binary PATH] [--clients "1 16 64"] [--rounds 2] [--duration 12] [--warmup 3]
#               --a "VAR=value ..." --b "VAR=value ..."      (an empty string: the defaults)
set -euo pipefail
BIN=.build/release/almanac; CLIENTS="1 16 64"; ROUNDS=2; DURATION=12; WARMUP=3; A=""; B=""; PORT=7400
while [ $# -gt 0 ]; do
  case "$1" in
    --binary) BIN=$2; shift 2 ;; --clients) CLIENTS=$2; shift 2 ;; --rounds) ROUNDS=$2; shift 2 ;;
    --duration) DURATION=$2; shift 2 ;; --warmup) WARMUP=$2; shift 2 ;; --a) A=$2; shift 2 ;; --b) B=$2; shift 2 ;;
    --base-port) PORT=$2; shift 2 ;;
    *) echo "bench/ab.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
[ -x "$BIN" ] || { echo "bench/ab.sh: no binary at $BIN (swift build -c release --product almanac)" >&2; exit 2; }
WORK=$(mktemp -d /tmp/almanac-ab.XXXXXX)
EPS="127.0.0.1:$((PORT + 1)),127.0.0.1:$((PORT + 2)),127.0.0.1:$((PORT + 3))"

run() { # label env
  local label=$1 env=$2 dir="$WORK/$1-$RANDOM" dev pids n
  mkdir -p "$dir"
  env $env "$BIN" dev --data-dir "$dir/data" --base-port "$PORT" --insecure --no-auth --controller-mode off >"$dir/dev.out" 2>&1 &
  dev=$!
  for _ in $(seq 1 60); do grep -q "export\|ready\|client API" "$dir/dev.out" 2>/dev/null && break; sleep 0.5; done
  sleep 5
  pids=$(pgrep -P "$dev" | paste -sd, -)
  for n in $CLIENTS; do
    "$BIN" bench --endpoints "$EPS" --clients "$n" --mix create --name-bytes 255 --duration "$DURATION" --warmup "$WARMUP" \
      --json --no-progress --cpu-pids "$pids" 2>"$dir/bench-$n.err" | tail -1 |
      python3 -c "import json,sys; r=json.loads(sys.stdin.read()); print('%s clients=%s ops/s=%.0f p50=%.3f p99=%.3f cpu_s/1k=%.3f' % ('$label', '$n', r['ops_s'], r['p50_ms'], r['p99_ms'], r.get('server_cpu_s_per_1000_ops') or 0))"
  done
  kill "$dev"; wait "$dev" 2>/dev/null || true
  sleep 3
}

for _ in $(seq 1 "$ROUNDS"); do
  run A "$A"
  run B "$B"
done
rm -rf "$WORK"
