#!/usr/bin/env bash
# Builds and runs the libFuzzer targets for the protocol decoders (docs/reliability.md).
#
# usage: scripts/fuzz.sh [--runs N | --seconds S] [--target client|peer|all] [--jobs J] [--quick]
#   --runs N      stop each target after N inputs (libFuzzer -runs)
#   --seconds S   stop each target after S seconds (libFuzzer -max_total_time); default 30
#   --quick       the short CI form: only Almanac's own modules instrumented, in the ordinary debug
#                 build (.build), so no dependency is built again (ALMANAC_FUZZ_QUICK=1, see
#                 Package.swift); coverage guidance stops at SwiftProtobuf and NIO, and inputs run
#                 slower (-Onone). The next ordinary build recompiles Almanac's modules. Without it
#                 (the long form): a release build of everything with -sanitize=fuzzer in .build-fuzz.
#
# Targets (Tests/Fuzz): almanac-fuzz-client (client protocol: framing, api.proto requests through the
# server's RequestTranslator, responses and their shard map), almanac-fuzz-peer (peer protocol:
# framing, PeerFrame, peer batches into Raft messages). Seeds: fuzz/corpus/<target>/ (committed);
# inputs the fuzzer finds go to .build-fuzz/corpus/<target>/ (not committed), crashes to
# .build-fuzz/crashes/<target>/. Exits non-zero if a target crashes (libFuzzer prints the input).
# The build is release with -sanitize=fuzzer in its own scratch directory (.build-fuzz), so the
# ordinary .build stays untouched; the first build takes several minutes.
set -euo pipefail
cd "$(dirname "$0")/.."

runs=""; seconds=30; target=all; jobs=1; quick=0
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) runs=$2; shift 2 ;;
    --seconds) seconds=$2; shift 2 ;;
    --target) target=$2; shift 2 ;;
    --jobs) jobs=$2; shift 2 ;;
    --quick) quick=1; shift ;;
    *) echo "usage: $0 [--runs N | --seconds S] [--target client|peer|all]" >&2; exit 2 ;;
  esac
done
case "$target" in
  all) targets=(client peer) ;;
  client|peer) targets=("$target") ;;
  *) echo "unknown target '$target' (client, peer, all)" >&2; exit 2 ;;
esac

scratch=.build-fuzz
flags=(-c release --scratch-path "$scratch" -Xswiftc -sanitize=fuzzer -Xswiftc -DALMANAC_FUZZ)
if [ "$quick" = 1 ]; then
  export ALMANAC_FUZZ_QUICK=1
  flags=()
fi
mkdir -p "$scratch"
for t in "${targets[@]}"; do
  swift build ${flags[@]+"${flags[@]}"} --product "almanac-fuzz-$t"
done
bin=$(swift build ${flags[@]+"${flags[@]}"} --show-bin-path)

status=0
for t in "${targets[@]}"; do
  work="$scratch/corpus/$t"; crashes="$scratch/crashes/$t"
  mkdir -p "$work" "$crashes"
  limit=(-max_total_time="$seconds")
  [ -n "$runs" ] && limit=(-runs="$runs")
  echo "== fuzz $t: ${limit[*]}"
  log="$scratch/fuzz-$t.log"
  # -max_len 4096: frames larger than that add nothing the decoder does not see in a smaller one.
  # -timeout 10: an input that takes longer is a hang and a failure.
  if ! "$bin/almanac-fuzz-$t" "${limit[@]}" -max_len=4096 -timeout=10 -rss_limit_mb=2048 \
      -print_final_stats=1 -artifact_prefix="$crashes/" "$work" "fuzz/corpus/$t" >"$log" 2>&1; then
    echo "fuzz $t FAILED; the input is in $crashes/, the log in $log" >&2
    tail -40 "$log" >&2
    status=1
  fi
  grep -E '^(#[0-9]+[[:space:]]+DONE|stat::number_of_executed_units|stat::average_exec_per_sec|Done )' "$log" || tail -5 "$log"
done
exit $status
