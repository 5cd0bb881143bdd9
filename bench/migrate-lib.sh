# Shared by bench/migrate.sh, bench/migrate-large.sh and bench/stall.sh (sourced; they set BIN, WORK and PORT).

# start_dev NODES SHARDS [dev options...]: a local cluster in $WORK/data; sets DEV (its pid) and
# exports ALMANAC_ENDPOINTS.
start_dev() {
  local nodes="$1" shards="$2"
  shift 2
  "$BIN" dev --insecure --no-auth --nodes "$nodes" --shards "$shards" "$@" --data-dir "$WORK/data" --base-port "$PORT" > "$WORK/dev.log" 2>&1 &
  DEV=$!
  for _ in $(seq 1 100); do grep -q "Cluster is up" "$WORK/dev.log" && break; sleep 0.3; done
  grep -q "Cluster is up" "$WORK/dev.log" || { cat "$WORK/dev.log" >&2; exit 1; }
  ALMANAC_ENDPOINTS=$(seq -s, -f "127.0.0.1:%g" $((PORT + 1)) $((PORT + nodes)))
  export ALMANAC_ENDPOINTS
  unset ALMANAC_CA ALMANAC_TOKEN ALMANAC_TOKEN_KEY
}

# disk_mbs MIB: the data directory's sequential write bandwidth in MB/s (dd with fdatasync).
disk_mbs() {
  local out
  out=$(dd if=/dev/zero of="$WORK/data/dd.test" bs=1M count="$1" conv=fdatasync 2>&1 | tail -1)
  rm -f "$WORK/data/dd.test"
  python3 -c "import re,sys; m=re.search(r'([0-9.,]+) ([MG])B/s', sys.argv[1]); v=float(m.group(1).replace(',','.')); print(v*1000 if m.group(2)=='G' else v)" "$out"
}

# migrate ARGS...: runs `ctl migrate ARGS --json`; prints "seconds snapshot_bytes outcome
# catch_up_seconds snapshot_seconds transfer_seconds".
migrate() {
  "$BIN" ctl migrate "$@" --json | python3 -c "
import json,sys
r=json.load(sys.stdin)[0]
print(r['seconds'], r['snapshotBytes'], r['outcome'].replace(' ', '-'), r['catchUpSeconds'], r['snapshotSeconds'], r.get('transferSeconds', 0))"
}

# load_row JSON: one markdown row (label, ops/s, p50, p99, max, errors) of an `almanac bench --json` line.
load_row() {
  python3 - "$1" <<'PY'
import json, sys
r = json.loads(sys.argv[1])
kinds = ", ".join(f"{k} {v}" for k, v in sorted(r.get('error_kinds', {}).items()))
print(f"| {r.get('label')} | {float(r.get('ops_s',0)):,.0f} | {float(r.get('p50_ms',0)):.2f} | {float(r.get('p99_ms',0)):.2f} | {float(r.get('max_ms',0)):.1f} | {r.get('errors',0)}{' (' + kinds + ')' if kinds else ''} |")
PY
}
