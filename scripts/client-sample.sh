#!/usr/bin/env bash
# Builds examples/client-sample (a package of its own that depends on this repository by path and
# uses the AlmanacClient library), starts `almanac dev` on a temporary data directory, runs the
# sample against it (mkdir / create / ls) and stops the cluster. Exit 0 only if the sample listed
# the file it created.
#
#   bash scripts/client-sample.sh          (ALMANAC_BINARY=... to use an already built almanac)
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD

if [ -z "${ALMANAC_BINARY:-}" ]; then
  swift build --product almanac
  ALMANAC_BINARY="$(swift build --show-bin-path)/almanac"
fi
echo "== building examples/client-sample"
swift build --package-path examples/client-sample
sample="$(swift build --package-path examples/client-sample --show-bin-path)/client-sample"

# A base port whose client, peer and metrics ports (base+1..3, +11..13, +21..23) are free.
base=$(python3 - <<'PY'
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
)
[ -n "$base" ] || { echo "no free port range found" >&2; exit 1; }

data=$(mktemp -d /tmp/almanac-client-sample.XXXXXX)
out="$data/dev.out"
echo "== almanac dev --data-dir $data --base-port $base"
"$ALMANAC_BINARY" dev --data-dir "$data/cluster" --base-port "$base" --shards 2 >"$out" 2>&1 &
dev=$!
cleanup() {
  if kill -0 "$dev" 2>/dev/null; then
    kill -TERM "$dev" 2>/dev/null || true
    wait "$dev" 2>/dev/null || true
  fi
  if [ -z "${ALMANAC_KEEP_TEST_DATA:-}" ]; then rm -rf "$data"; else echo "data kept in $data"; fi
}
trap cleanup EXIT

for _ in $(seq 1 600); do
  grep -q "Cluster is up" "$out" && break
  kill -0 "$dev" 2>/dev/null || { echo "almanac dev exited:" >&2; cat "$out" >&2; exit 1; }
  sleep 0.1
done
grep -q "Cluster is up" "$out" || { echo "almanac dev did not come up within 60 s:" >&2; cat "$out" >&2; exit 1; }

endpoints="127.0.0.1:$((base + 1)),127.0.0.1:$((base + 2)),127.0.0.1:$((base + 3))"
echo "== client-sample $endpoints"
# dev runs TLS by default and prints the CA to trust.
ca=$(sed -n 's/^ *export ALMANAC_CA=//p' "$out" | head -1)
[ -n "$ca" ] || { echo "almanac dev printed no ALMANAC_CA:" >&2; cat "$out" >&2; exit 1; }
token=$(sed -n 's/^ *export ALMANAC_TOKEN=//p' "$out" | head -1)
[ -n "$token" ] || { echo "almanac dev printed no ALMANAC_TOKEN:" >&2; cat "$out" >&2; exit 1; }
result=$(ALMANAC_CA="$ca" ALMANAC_TOKEN="$token" "$sample" "$endpoints")
echo "$result"
echo "$result" | grep -q '^  hello.txt$' || { echo "client-sample did not list hello.txt" >&2; exit 1; }
echo "== client sample OK"
