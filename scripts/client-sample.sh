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
# A sample build left from an older checkout can keep the dependency's old file list (SwiftPM does not
# always notice files added to a path dependency): build once more from scratch if the first fails.
swift build --package-path examples/client-sample || { rm -rf examples/client-sample/.build; swift build --package-path examples/client-sample; }
sample="$(swift build --package-path examples/client-sample --show-bin-path)/client-sample"

. scripts/dev-cluster.sh
start_dev client-sample 2

echo "== client-sample $endpoints"
result=$(ALMANAC_CA="$ca" ALMANAC_TOKEN="$token" "$sample" "$endpoints")
echo "$result"
echo "$result" | grep -q '^  hello.txt$' || { echo "client-sample did not list hello.txt" >&2; exit 1; }
echo "== client sample OK"
