// swift-tools-version:6.1
import PackageDescription

// Dependency direction (see docs/ARCHITECTURE.md):
// AlmanacRaft <- AlmanacStorage <- (Node) <- AlmanacMetadata / (Journal) <- AlmanacPlacement / AlmanacPredict <- almanac
let package = Package(
    name: "Almanac",
    platforms: [.macOS(.v14)],
    products: [
        .library(name: "AlmanacKeyspace", targets: ["AlmanacKeyspace"]),
        .library(name: "AlmanacRaft", targets: ["AlmanacRaft"]),
        .library(name: "AlmanacStorage", targets: ["AlmanacStorage"]),
        .library(name: "AlmanacMetadata", targets: ["AlmanacMetadata"]),
        .library(name: "AlmanacPredict", targets: ["AlmanacPredict"]),
        .library(name: "AlmanacPlacement", targets: ["AlmanacPlacement"]),
        // The Swift client (docs/api.md; a sample package in examples/client-sample).
        .library(name: "AlmanacClient", targets: ["AlmanacClient"]),
        .executable(name: "almanac", targets: ["almanac"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-collections", from: "1.1.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.81.0"),
        .package(url: "https://github.com/apple/swift-protobuf", from: "1.39.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift", from: "0.2.0"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.5.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.1.0"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.0"),
        .package(url: "https://github.com/apple/swift-certificates", from: "1.21.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "4.0.0"),
        .package(url: "https://github.com/apple/swift-asn1", from: "1.7.0"),
        .package(url: "https://github.com/vapor/jwt-kit", from: "5.7.0"),
    ],
    targets: [
        // The shared vocabulary: node, zone, shard, segment, epoch, inode ids, segment keying and
        // the shard map records (standard library only).
        .target(name: "AlmanacKeyspace"),
        // Pure consensus core: standard library only. No Foundation, no NIO, no clock.
        .target(name: "AlmanacRaft", dependencies: ["AlmanacKeyspace"]),
        // The shard map service: one store protocol, the embedded and etcd backends.
        .target(
            name: "AlmanacShardMap",
            dependencies: [
                "AlmanacKeyspace", "AlmanacClient",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ]
        ),
        // Async durability's rules (answers ahead of commit on the leader, unconfirmed writes and
        // their replay on the client), pure, so the node, the client and the simulator share them.
        .target(name: "AlmanacAnswersAhead", dependencies: ["AlmanacRaft"]),
        // Potential entries' rules (the pending set every replica applies in log order, and the
        // leader's issued predictions), pure, so the metadata state machine, the server's
        // prefetcher and the simulator share them.
        .target(name: "AlmanacPotentialEntries"),
        // Shared write-ahead log and snapshots for many Raft groups.
        .target(name: "AlmanacStorage", dependencies: ["AlmanacRaft", "CAlmanacWriteback"]),
        // sync_file_range, which Swift's Glibc module does not export (early writeback of received
        // snapshot files).
        .target(name: "CAlmanacWriteback"),
        // Deterministic whole-cluster simulator (test support).
        .target(name: "AlmanacSimulation", dependencies: ["AlmanacRaft", "AlmanacStorage", "AlmanacAnswersAhead", "AlmanacPotentialEntries"]),
        // Wire formats: protobuf schemas (generated code committed), framing, Raft message converters.
        .target(
            name: "AlmanacWire",
            dependencies: [
                "AlmanacRaft", "AlmanacKeyspace",
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            exclude: ["Generated/README.md"]
        ),
        // Security: TLS contexts from PEM files (swift-nio-ssl), the throwaway dev CA
        // (swift-certificates, swift-crypto), signed expiring client tokens (jwt-kit) and
        // authorization by path prefix (docs/security.md).
        .target(
            name: "AlmanacSecurity",
            dependencies: [
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "JWTKit", package: "jwt-kit"),
            ]
        ),
        // Node runtime pieces: peer transport (NIO) and health tracking.
        .target(
            name: "AlmanacNode",
            dependencies: [
                "AlmanacRaft", "AlmanacStorage", "AlmanacWire", "AlmanacAnswersAhead",
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // Namespace state machine and client sessions.
        .target(name: "AlmanacMetadata", dependencies: ["AlmanacKeyspace", "AlmanacPotentialEntries"]),
        // Client API server: request translation, NIO listener, MetadataService boundary (docs/api.md).
        .target(
            name: "AlmanacServer",
            dependencies: [
                "AlmanacWire", "AlmanacMetadata", "AlmanacNode", "AlmanacRaft", "AlmanacPlacement", "AlmanacSecurity", "AlmanacPredict",
                "AlmanacPotentialEntries",
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // Cross-shard transactions: the coordinator (plans, prepares, decides, commits through the
        // client protocol) and the resolver that finishes transactions whose coordinator died.
        .target(
            name: "AlmanacCoordinator",
            dependencies: [
                "AlmanacServer", "AlmanacClient", "AlmanacMetadata", "AlmanacWire", "AlmanacNode", "AlmanacShardMap",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
            ]
        ),
        // Swift client library for the client protocol.
        .target(
            name: "AlmanacClient",
            dependencies: [
                "AlmanacWire", "AlmanacKeyspace", "AlmanacAnswersAhead",
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ]
        ),
        // Test-only helpers shared by the socket and process suites (an HTTP GET, free loopback ports).
        .target(
            name: "AlmanacTestSupport",
            dependencies: [
                "AlmanacClient", "AlmanacNode",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            path: "Tests/AlmanacTestSupport"
        ),
        // Test-only: an in-process MetadataService over one MetadataStateMachine (a test double).
        .target(
            name: "AlmanacServerTestSupport",
            dependencies: ["AlmanacServer", "AlmanacMetadata", "AlmanacWire"],
            path: "Tests/AlmanacServerTestSupport"
        ),
        // Measurement tool for the client protocol's loopback latency (see its main.swift).
        .executableTarget(
            name: "almanac-api-latency",
            dependencies: [
                "AlmanacClient", "AlmanacServer", "AlmanacServerTestSupport", "AlmanacWire",
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Tests/APILatencyTool"
        ),
        // libFuzzer targets for the client and peer protocol decoders (scripts/fuzz.sh builds them with
        // -sanitize=fuzzer; an ordinary build makes replayers that run the files given as arguments).
        .executableTarget(
            name: "almanac-fuzz-client",
            dependencies: ["AlmanacWire", "AlmanacServer", "AlmanacKeyspace", .product(name: "NIOCore", package: "swift-nio")],
            path: "Tests/Fuzz/ClientProtocolFuzzer"
        ),
        .executableTarget(
            name: "almanac-fuzz-peer",
            dependencies: ["AlmanacWire", "AlmanacRaft", .product(name: "NIOCore", package: "swift-nio")],
            path: "Tests/Fuzz/PeerProtocolFuzzer"
        ),
        // Operations: metrics (swift-metrics -> Prometheus), the /metrics /healthz /readyz HTTP
        // endpoint (NIOHTTP1), JSON logs (docs/operations.md).
        .target(
            name: "AlmanacOperations",
            dependencies: [
                "AlmanacNode", "AlmanacServer", "AlmanacStorage", "AlmanacRaft", "AlmanacWire",
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // The control plane on the live cluster (pure parts): the deciders of AlmanacPlacement run on
        // the live shard map and access series (trigger_resharding).
        .target(name: "AlmanacControl", dependencies: ["AlmanacKeyspace", "AlmanacPlacement", "AlmanacPredict"]),
        // The placement controller's shell: lease election in the map store, passes over the live
        // cluster, actions through the migration and hand-off drivers, the audit record.
        .target(
            name: "AlmanacController",
            dependencies: [
                "AlmanacControl", "AlmanacCoordinator", "AlmanacClient", "AlmanacShardMap", "AlmanacKeyspace", "AlmanacWire", "AlmanacPlacement",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
            ]
        ),
        // Pure predictive models: next-operation prediction and load forecasting.
        .target(name: "AlmanacPredict"),
        // Pure placement deciders.
        .target(name: "AlmanacPlacement", dependencies: ["AlmanacKeyspace", "AlmanacPredict"]),
        // The placement simulator: scenarios, load models and reports that drive the deciders (apart from the product).
        .target(name: "AlmanacPlacementSimulation", dependencies: ["AlmanacKeyspace", "AlmanacPlacement", "AlmanacPredict"]),
        .executableTarget(
            name: "almanac",
            dependencies: [
                "AlmanacKeyspace", "AlmanacShardMap", "AlmanacCoordinator", "AlmanacRaft", "AlmanacStorage", "AlmanacSimulation", "AlmanacMetadata",
                "AlmanacPredict", "AlmanacPlacement", "AlmanacPlacementSimulation", "AlmanacClient", "AlmanacWire",
                "AlmanacNode", "AlmanacServer", "AlmanacOperations", "AlmanacControl", "AlmanacController", "AlmanacSecurity",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),
        .testTarget(name: "AlmanacRaftTests", dependencies: ["AlmanacRaft"]),
        .testTarget(name: "AlmanacKeyspaceTests", dependencies: ["AlmanacKeyspace"]),
        .testTarget(name: "AlmanacControlTests", dependencies: ["AlmanacControl", "AlmanacKeyspace", "AlmanacPlacement"]),
        .testTarget(
            name: "AlmanacCoordinatorTests",
            dependencies: [
                "AlmanacCoordinator", "AlmanacMetadata", "AlmanacServer", "AlmanacShardMap", "AlmanacKeyspace",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // The shard map store conformance suite (etcd instance: a real 3-member etcd cluster on loopback).
        .testTarget(
            name: "AlmanacShardMapTests",
            dependencies: [
                "AlmanacShardMap", "AlmanacKeyspace", "AlmanacTestSupport",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ]
        ),
        // Real `almanac serve` processes on loopback (SIGKILL failover, convergence, bad inputs).
        .testTarget(
            name: "AlmanacIntegrationTests",
            dependencies: [
                "AlmanacClient", "AlmanacSecurity", "AlmanacNode", "AlmanacWire", "AlmanacRaft", "AlmanacStorage", "AlmanacKeyspace", "AlmanacTestSupport",
                "AlmanacShardMap", "AlmanacCoordinator", "AlmanacControl", "AlmanacController",
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "X509", package: "swift-certificates"),
            ]
        ),
        .testTarget(name: "AlmanacStorageTests", dependencies: ["AlmanacStorage"]),
        .testTarget(name: "AlmanacSimulationTests", dependencies: ["AlmanacSimulation"]),
        .testTarget(name: "AlmanacAnswersAheadTests", dependencies: ["AlmanacAnswersAhead", "AlmanacRaft"]),
        .testTarget(name: "AlmanacPotentialEntriesTests", dependencies: ["AlmanacPotentialEntries"]),
        .testTarget(
            name: "AlmanacWireTests",
            dependencies: [
                "AlmanacWire", "AlmanacRaft", "AlmanacKeyspace",
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ]
        ),
        .testTarget(
            name: "AlmanacNodeTests",
            dependencies: [
                "AlmanacNode", "AlmanacWire", "AlmanacRaft", "AlmanacSecurity",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(name: "AlmanacMetadataTests", dependencies: ["AlmanacMetadata"]),
        .testTarget(
            name: "AlmanacServerTests",
            dependencies: [
                "AlmanacServer", "AlmanacServerTestSupport", "AlmanacMetadata", "AlmanacWire", "AlmanacSecurity",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),
        .testTarget(
            name: "AlmanacClientTests",
            dependencies: [
                "AlmanacClient", "AlmanacServer", "AlmanacServerTestSupport", "AlmanacMetadata", "AlmanacWire",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),
        .testTarget(
            name: "AlmanacOperationsTests",
            dependencies: [
                "AlmanacOperations", "AlmanacNode", "AlmanacServer", "AlmanacRaft", "AlmanacStorage", "AlmanacWire", "AlmanacTestSupport",
                "AlmanacController", "AlmanacControl",
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),
        .testTarget(name: "AlmanacPredictTests", dependencies: ["AlmanacPredict"]),
        .testTarget(name: "AlmanacPlacementTests", dependencies: ["AlmanacKeyspace", "AlmanacPlacement", "AlmanacPlacementSimulation"]),
        .testTarget(
            name: "AlmanacBenchTests",
            dependencies: [
                "almanac", "AlmanacServer", "AlmanacServerTestSupport",
                .product(name: "Histogram", package: "hdrhistogram-swift"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
    ]
)

// The protocol fuzzers' short CI form (`scripts/fuzz.sh --quick`, docs/reliability.md): with
// ALMANAC_FUZZ_QUICK=1 the package's own modules are compiled with libFuzzer's instrumentation in
// the ordinary debug build and the fuzz targets are linked with libFuzzer's driver, so the short run
// reuses every dependency already built for the tests instead of a release build of all of them with
// `-Xswiftc -sanitize=fuzzer` (the long form, whose coverage includes SwiftProtobuf and NIO). A later
// build without the variable compiles those modules again without the instrumentation.
if Context.environment["ALMANAC_FUZZ_QUICK"] == "1" {
    for target in package.targets where target.type == .regular || target.type == .executable {
        var settings = target.swiftSettings ?? []
        settings.append(.unsafeFlags(["-sanitize=fuzzer"]))
        if target.name.hasPrefix("almanac-fuzz-") {
            settings.append(.define("ALMANAC_FUZZ"))
            target.linkerSettings = (target.linkerSettings ?? []) + [.unsafeFlags(["-sanitize=fuzzer"])]
        }
        target.swiftSettings = settings
    }
}
