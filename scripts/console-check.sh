#!/usr/bin/env bash
# The live console in a real browser: starts `almanac dev` (TLS and tokens on, as by default) on a
# temporary data directory and runs scripts/console_browser_test.py (Selenium driving Debian's
# chromium through chromedriver) against node 1's console: healthy cluster, heat after some traffic,
# then `almanac ctl node kill 3` and what the page shows after it. Screenshots go to docs/ (or
# $CONSOLE_SCREENSHOTS). Installs chromium, chromium-driver (apt) and selenium (pip) when missing.
#
#   ALMANAC_BINARY=.build/debug/almanac bash scripts/console-check.sh
set -euo pipefail
cd "$(dirname "$0")/.."

export DEBIAN_FRONTEND=noninteractive
if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
  echo "== installing chromium and chromium-driver (Debian packages)"
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends chromium chromium-driver >/dev/null
fi
if ! python3 -c 'import selenium' 2>/dev/null; then
  echo "== installing selenium (pip)"
  python3 -m pip install -q --disable-pip-version-check --root-user-action=ignore selenium
fi
if [ -z "${ALMANAC_BINARY:-}" ]; then
  swift build --product almanac
  ALMANAC_BINARY="$(swift build --show-bin-path)/almanac"
fi

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

data=$(mktemp -d /tmp/almanac-console-check.XXXXXX)
out="$data/dev.out"
"$ALMANAC_BINARY" dev --data-dir "$data/cluster" --base-port "$base" --shards 4 >"$out" 2>&1 &
dev=$!
cleanup() {
  if kill -0 "$dev" 2>/dev/null; then
    kill -TERM "$dev" 2>/dev/null || true
    wait "$dev" 2>/dev/null || true
  fi
  rm -rf "$data"
}
trap cleanup EXIT
for _ in $(seq 1 600); do
  grep -q "Cluster is up" "$out" 2>/dev/null && break
  kill -0 "$dev" 2>/dev/null || { echo "almanac dev exited:" >&2; cat "$out" >&2; exit 1; }
  sleep 0.1
done
grep -q "Cluster is up" "$out" || { echo "almanac dev did not come up within 60 s:" >&2; cat "$out" >&2; exit 1; }
url=$(sed -n 's/.*node 1 .* console \(http[^ ]*\).*/\1/p' "$out" | head -1)
[ -n "$url" ] || { echo "almanac dev printed no console URL:" >&2; cat "$out" >&2; exit 1; }
ca=$(sed -n 's/^ *export ALMANAC_CA=//p' "$out" | head -1)
token=$(sed -n 's/^ *export ALMANAC_TOKEN=//p' "$out" | head -1)
endpoints="127.0.0.1:$((base + 1)),127.0.0.1:$((base + 2)),127.0.0.1:$((base + 3))"
echo "== console browser test: $url"
python3 scripts/console_browser_test.py --url "$url" --almanac "$ALMANAC_BINARY" --data-dir "$data/cluster" \
  --endpoints "$endpoints" --ca "$ca" --token "$token" --screenshots "${CONSOLE_SCREENSHOTS:-docs}"
