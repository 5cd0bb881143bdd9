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

. scripts/dev-cluster.sh
# One-second access buckets and a two-bucket season: the forecast pane fills within seconds. The
# controller runs in shadow mode: it decides and audits, but moves nothing under the test's feet.
start_dev console-check 4 --access-bucket-seconds 1 --season-buckets 2 --controller-mode shadow
url=$(sed -n 's/.*node 1 .* console \(http[^ ]*\).*/\1/p' "$out" | head -1)
[ -n "$url" ] || { echo "almanac dev printed no console URL:" >&2; cat "$out" >&2; exit 1; }
echo "== console browser test: $url"
python3 scripts/console_browser_test.py --url "$url" --almanac "$ALMANAC_BINARY" --data-dir "$data/cluster" \
  --endpoints "$endpoints" --ca "$ca" --token "$token" --screenshots "${CONSOLE_SCREENSHOTS:-docs}"
