#!/usr/bin/env bash
# LSMM churn against the merge guard (issue 13 item 5), in the placement simulator.
#
# For each scenario, runs the predictive policy over several windows of its load series (each window
# shifts every series load's phaseOffsetHours by OFFSETS hours) with the merge guard looking back 0
# (off), 1, 2 and 3 seasons, and prints one row per run and one total per scenario and guard:
# splits, merges, merges undone by a split within one season, mean shard count, overload minutes.
#
#   bash bench/lsmm-churn.sh [ALMANAC] [SCENARIO.json ...]
#   OFFSETS="0 96 192" GUARDS="0 2" bash bench/lsmm-churn.sh .build/release/almanac scenarios/diurnal-taxi.json
#
# Defaults: .build/release/almanac, scenarios/diurnal-hot-set.json and scenarios/diurnal-taxi.json,
# OFFSETS "0 96 192 288 384 480 576 672 768 864" (hours), GUARDS "0 1 2 3". About 5 s per run in a
# release build. The simulator is deterministic: the same build prints the same numbers.
set -euo pipefail
cd "$(dirname "$0")/.."
almanac=${1:-.build/release/almanac}
shift || true
scenarios=("$@")
[ ${#scenarios[@]} -gt 0 ] || scenarios=(scenarios/diurnal-hot-set.json scenarios/diurnal-taxi.json)
offsets=${OFFSETS:-"0 96 192 288 384 480 576 672 768 864"}
guards=${GUARDS:-"0 1 2 3"}
[ -x "$almanac" ] || { echo "lsmm-churn: $almanac is not an executable (build it: swift build -c release --product almanac)" >&2; exit 2; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
rows="$work/rows.tsv"
: > "$rows"
for scenario in "${scenarios[@]}"; do
  [ -f "$scenario" ] || { echo "lsmm-churn: no scenario $scenario" >&2; exit 2; }
  for offset in $offsets; do
    for guard in $guards; do
      variant="$work/variant.json"
      python3 - "$scenario" "$offset" "$guard" "$variant" <<'PY'
import json, os, sys
path, offset, guard, out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
d = json.load(open(path))
base = os.path.dirname(os.path.abspath(path))
for load in d["loads"]:
    if load.get("kind") == "series":
        load["phaseOffsetHours"] = load.get("phaseOffsetHours", 0) + offset
    if "files" in load:
        load["files"] = [os.path.normpath(os.path.join(base, f)) for f in load["files"]]
season = d.get("seasonBuckets") or round(86400 / d.get("bucketSeconds", 900))
d["mergeGuardSeasons"] = guard
d["windowBuckets"] = max(d.get("windowBuckets") or 0, season * max(2, guard) + 8)
json.dump(d, open(out, "w"))
PY
      line=$("$almanac" placement-sim --scenario "$variant" --policy predictive | grep '^| predictive |')
      # | predictive | p50 | p99 | mean | overload | moves | reversals | GiB | before peak | splits/merges (undone) | mean shards | ...
      python3 - "$scenario" "$offset" "$guard" "$line" >> "$rows" <<'PY'
import re, sys
cells = [c.strip() for c in sys.argv[4].strip().strip("|").split("|")]
m = re.match(r"(\d+)/(\d+) \((\d+)\)", cells[9])
print("\t".join([sys.argv[1], sys.argv[2], sys.argv[3], m.group(1), m.group(2), m.group(3), cells[10], cells[4], cells[2]]))
PY
    done
  done
done
python3 - "$rows" <<'PY'
import sys, collections
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.strip()]
print("| scenario | offset h | guard seasons | splits | merges | undone | mean shards | overload-min | p99 ms |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
for r in rows:
    print("| " + " | ".join(r) + " |")
print()
print("| scenario | guard seasons | windows | splits + merges | merges undone within a season | mean shards | overload-min |")
print("|---|---:|---:|---:|---:|---:|---:|")
total = collections.OrderedDict()
for sc, off, g, sp, me, un, sh, ov, p99 in rows:
    t = total.setdefault((sc, g), [0, 0, 0, 0.0, 0.0])
    t[0] += 1; t[1] += int(sp) + int(me); t[2] += int(un); t[3] += float(sh); t[4] += float(ov)
for (sc, g), (n, ops, un, sh, ov) in total.items():
    print(f"| {sc} | {g} | {n} | {ops} | {un} | {sh / n:.1f} | {ov:.0f} |")
PY
