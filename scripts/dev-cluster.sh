# Sourced by scripts that need a throwaway `almanac dev` cluster (client-sample.sh, console-check.sh;
# power-cut.sh takes free_base_port only).
# start_dev NAME SHARDS [DEV OPTIONS...]: picks a base port whose client, peer and metrics ports (base+1..3, +11..13,
# +21..23) are free, starts "$ALMANAC_BINARY" dev on a temporary data directory and waits for it.
# Sets base, data (the temporary directory; the cluster's data in $data/cluster), out (dev's output),
# dev (its pid), endpoints, ca and token (what dev printed to export); stops dev and removes the data
# on exit (ALMANAC_KEEP_TEST_DATA=1 keeps it).
# free_base_port: a base port whose client, peer and metrics ports (base+1..3, +11..13, +21..23)
# are free right now.
free_base_port() {
  python3 - <<'PY'
import random, socket
for _ in range(100):
    base = random.randint(20000, 32000)
    ok = True
    for offset in (1, 2, 3, 11, 12, 13, 21, 22, 23):
        s = socket.socket()
        try:
            s.bind(("127.0.0.1", base + offset))
        except OSError:
            ok = False
        finally:
            s.close()
        if not ok:
            break
    if ok:
        print(base)
        break
PY
}

start_dev() {
  local name="$1" shards="$2"
  shift 2
  base=$(free_base_port)
  [ -n "$base" ] || { echo "no free port range found" >&2; exit 1; }
  data=$(mktemp -d "/tmp/almanac-$name.XXXXXX")
  out="$data/dev.out"
  echo "== almanac dev --data-dir $data/cluster --base-port $base --shards $shards $*"
  "$ALMANAC_BINARY" dev --data-dir "$data/cluster" --base-port "$base" --shards "$shards" "$@" >"$out" 2>&1 &
  dev=$!
  trap stop_dev EXIT
  for _ in $(seq 1 600); do
    grep -q "Cluster is up" "$out" 2>/dev/null && break
    kill -0 "$dev" 2>/dev/null || { echo "almanac dev exited:" >&2; cat "$out" >&2; exit 1; }
    sleep 0.1
  done
  grep -q "Cluster is up" "$out" || { echo "almanac dev did not come up within 60 s:" >&2; cat "$out" >&2; exit 1; }
  endpoints="127.0.0.1:$((base + 1)),127.0.0.1:$((base + 2)),127.0.0.1:$((base + 3))"
  # dev runs TLS and token checks by default and prints the CA to trust and a token.
  ca=$(sed -n 's/^ *export ALMANAC_CA=//p' "$out" | head -1)
  token=$(sed -n 's/^ *export ALMANAC_TOKEN=//p' "$out" | head -1)
  [ -n "$ca" ] && [ -n "$token" ] || { echo "almanac dev printed no ALMANAC_CA or ALMANAC_TOKEN:" >&2; cat "$out" >&2; exit 1; }
}

stop_dev() {
  if kill -0 "$dev" 2>/dev/null; then
    kill -TERM "$dev" 2>/dev/null || true
    wait "$dev" 2>/dev/null || true
  fi
  if [ -z "${ALMANAC_KEEP_TEST_DATA:-}" ]; then rm -rf "$data"; else echo "data kept in $data"; fi
}
