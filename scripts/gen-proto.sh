#!/usr/bin/env bash
# Regenerates the committed Swift code for proto/*.proto into Sources/AlmanacWire/Generated/.
#
# Needs:
#   - protoc (Debian: apt-get install -y protobuf-compiler)
#   - protoc-gen-swift built from swift-protobuf 1.39.0 (the runtime version Package.swift resolves):
#       git clone https://github.com/apple/swift-protobuf /tmp/swift-protobuf
#       cd /tmp/swift-protobuf && git checkout 1.39.0 && swift build -c release --product protoc-gen-swift
#     Point PROTOC_GEN_SWIFT at the binary (default: /tmp/swift-protobuf/.build/release/protoc-gen-swift).
#
# The SwiftPM protobuf build plugin is deliberately not used: generated code is committed and reviewed.
set -euo pipefail
cd "$(dirname "$0")/.."

PROTOC="${PROTOC:-protoc}"
PLUGIN="${PROTOC_GEN_SWIFT:-/tmp/swift-protobuf/.build/release/protoc-gen-swift}"
OUT="Sources/AlmanacWire/Generated"

command -v "$PROTOC" >/dev/null || { echo "gen-proto: protoc not found (apt-get install -y protobuf-compiler)" >&2; exit 1; }
[ -x "$PLUGIN" ] || { echo "gen-proto: protoc-gen-swift not found at $PLUGIN (set PROTOC_GEN_SWIFT)" >&2; exit 1; }

mkdir -p "$OUT"
rm -f "$OUT"/*.pb.swift
"$PROTOC" \
  --plugin=protoc-gen-swift="$PLUGIN" \
  --proto_path=proto \
  --swift_opt=Visibility=Public \
  --swift_opt=FileNaming=DropPath \
  --swift_out="$OUT" \
  proto/*.proto
# Every line where protoc-gen-swift opts out of checked concurrency gets its proof on the same line
# (the full argument is in Generated/README.md). Only comments are added; the code is unchanged.
sed -i \
  -e 's|^\(public nonisolated struct [A-Za-z0-9_]*: @unchecked Sendable {\)$|\1  // safe: the shared state, its only stored property (heap storage), is protected by copy-on-write (_uniqueStorage() copies before any write to a shared object); Generated/README.md|' \
  -e 's|^\(      // hence, it is safe to mark this as `nonisolated(unsafe)`.\)$|\1  (safe: an immutable binding to an object nothing writes; Generated/README.md)|' \
  -e 's|^\(      static nonisolated(unsafe) let defaultInstance = _StorageClass()\)$|\1  // safe: immutable binding, initialised once; every write copies it first (_uniqueStorage())|' \
  "$OUT"/*.pb.swift
echo "gen-proto: wrote $(ls "$OUT"/*.pb.swift | tr '\n' ' ')"
