import AlmanacClient
import AlmanacKeyspace
import AlmanacNode
import AlmanacTestSupport
import Foundation
import Synchronization
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Real `almanac serve` processes with `--metrics-listen`: /healthz, /readyz and /metrics over HTTP.
@Suite("operations endpoint", .serialized, .timeLimit(.minutes(3)))
struct OperationsEndpointTests {
    /// Three nodes (one per zone) with their configs written; started one by one by the test.
    final class Nodes: Sendable {
        let root: String
        let members: [ClusterMember]
        let metricsPorts: [Int]
        let binary: String
        private let processes = Mutex<[UInt64: Process]>([:])

        init() throws {
            binary = try TestCluster.locateBinary()
            root = FileManager.default.temporaryDirectory.appendingPathComponent("almanac-it-ops-\(UUID().uuidString.prefix(8))").path
            try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
            let ports = try TestCluster.freePorts(count: 9)
            members = (0..<3).map { i in
                ClusterMember(id: UInt64(i + 1), zone: TestCluster.zones[i], peerAddress: "127.0.0.1:\(ports[i])",
                              apiAddress: "127.0.0.1:\(ports[i + 3])")
            }
            metricsPorts = Array(ports[6..<9])
            for member in members {
                let config = NodeConfigFile(id: member.id, zone: member.zone, dataDirectory: "\(root)/node\(member.id)",
                                            shards: 2, clusterID: "it-ops", members: members)
                try config.encoded().write(to: URL(fileURLWithPath: "\(root)/node\(member.id).json"))
            }
        }

        func metricsPort(_ id: UInt64) -> Int { metricsPorts[Int(id) - 1] }
        func logPath(_ id: UInt64) -> String { "\(root)/node\(id).log" }

        func launch(_ id: UInt64, extra: [String] = []) throws {
            _ = FileManager.default.createFile(atPath: logPath(id), contents: nil)
            guard let handle = FileHandle(forWritingAtPath: logPath(id)) else { throw ClusterError("cannot open \(logPath(id))") }
            let process = Process()
            process.executableURL = URL(fileURLWithPath: binary)
            process.arguments = ["serve", "--config", "\(root)/node\(id).json", "--log-level", "info",
                                 "--metrics-listen", "127.0.0.1:\(metricsPort(id))", "--insecure"] + extra
            process.standardOutput = handle
            process.standardError = handle
            process.standardInput = FileHandle.nullDevice
            try process.run()
            processes.withLock { $0[id] = process }
        }

        func waitFor(_ text: String, node id: UInt64, timeout: Duration = .seconds(30)) async throws {
            let clock = ContinuousClock()
            let deadline = clock.now.advanced(by: timeout)
            while clock.now < deadline {
                if let log = try? String(contentsOfFile: logPath(id), encoding: .utf8), log.contains(text) { return }
                try await Task.sleep(for: .milliseconds(50))
            }
            throw ClusterError("node \(id) did not print \"\(text)\":\n\(tail(id))")
        }

        func processHandle(_ id: UInt64) -> Process? { processes.withLock { $0[id] } }

        func kill(_ id: UInt64) {
            guard let process = processes.withLock({ $0.removeValue(forKey: id) }) else { return }
            Glibc.kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }

        func tail(_ id: UInt64) -> String {
            let text = (try? String(contentsOfFile: logPath(id), encoding: .utf8)) ?? ""
            return text.split(separator: "\n").suffix(20).joined(separator: "\n")
        }

        func shutdown() {
            let all = processes.withLock { current in
                defer { current.removeAll() }
                return Array(current.values)
            }
            for process in all where process.isRunning { process.terminate() }
            for process in all { process.waitUntilExit() }
            if ProcessInfo.processInfo.environment["ALMANAC_KEEP_TEST_DATA"] == nil {
                try? FileManager.default.removeItem(atPath: root)
            }
        }

        func get(_ id: UInt64, _ path: String) async throws -> HTTPAnswer {
            try await httpRequest(host: "127.0.0.1", port: metricsPort(id), path: path)
        }

        /// Polls `path` on node `id` until `accept` holds; returns the last answer.
        func poll(_ id: UInt64, _ path: String, timeout: Duration = .seconds(30),
                  until accept: (HTTPAnswer) -> Bool) async throws -> HTTPAnswer {
            let clock = ContinuousClock()
            let deadline = clock.now.advanced(by: timeout)
            var last: HTTPAnswer?
            while clock.now < deadline {
                if let answer = try? await get(id, path) {
                    last = answer
                    if accept(answer) { return answer }
                }
                try await Task.sleep(for: .milliseconds(100))
            }
            throw ClusterError("node \(id) \(path) never matched; last: \(last.map { "\($0.status) \($0.body)" } ?? "no answer")")
        }
    }

    /// The value of the sample `series` (exact name and labels) in a Prometheus text exposition.
    static func value(of series: String, in exposition: String) -> Double? {
        for line in exposition.split(separator: "\n") where line.hasPrefix(series + " ") {
            return Double(line.dropFirst(series.count + 1))
        }
        return nil
    }

    @Test func healthReadinessAndMetricsOfRealNodes() async throws {
        let nodes = try Nodes()
        defer { nodes.shutdown() }

        // One node of three: alive and healthy, but no shard can elect a leader, so not ready.
        try nodes.launch(1)
        try await nodes.waitFor("ready: api=", node: 1)
        try await nodes.waitFor("operations: http://127.0.0.1:\(nodes.metricsPort(1))/metrics", node: 1)
        let health = try await nodes.get(1, "/healthz")
        #expect(health.status == 200)
        #expect(health.body == "ok\n")
        let alone = try await nodes.get(1, "/readyz")
        #expect(alone.status == 503)
        #expect(alone.body.contains("shard 0: no leader known"))
        #expect(alone.body.contains("shard 1: no leader known"))
        let lonely = try await nodes.get(1, "/metrics")
        #expect(Self.value(of: #"almanac_raft_has_leader{shard="0"}"#, in: lonely.body) == 0)
        #expect(Self.value(of: "almanac_node_ready", in: lonely.body) == 0)
        #expect((try await nodes.get(1, "/nope")).status == 404)

        // The other two join: every node becomes ready.
        try nodes.launch(2)
        try nodes.launch(3)
        for id: UInt64 in 1...3 {
            let ready = try await nodes.poll(id, "/readyz") { $0.status == 200 }
            #expect(ready.body == "ready\n")
        }

        // Client traffic: mkdir / create / ls through the client library.
        let client = AlmanacClient(configuration: AlmanacClientConfiguration(
            endpoints: nodes.members.map(\.apiAddress), attemptTimeout: .seconds(3), operationTimeout: .seconds(30),
            clientName: "ops-test"))
        _ = try await client.mkdir(path: "/ops")
        for i in 0..<5 { _ = try await client.create(path: "/ops/f\(i)") }
        let listing = try await client.readdir(try await client.resolve("/ops").inode).collect()
        #expect(listing.map(\.name).sorted() == (0..<5).map { "f\($0)" })
        let status = try await client.status()
        await client.shutdown()
        let leader = try #require(status.shards.first { $0.shardID == 0 }?.leaderNodeID)
        #expect((1...3).contains(leader))

        // The shard-0 leader's metrics: requests by operation and shard, commit latency, WAL syncs,
        // Raft state per shard, peers and zones.
        let metrics = try await nodes.get(leader, "/metrics")
        #expect(metrics.status == 200)
        #expect(metrics.headers["content-type"]?.hasPrefix("text/plain; version=0.0.4") == true)
        let text = metrics.body
        #expect((Self.value(of: #"almanac_request_duration_seconds_count{operation="mkdir",shard="0"}"#, in: text) ?? 0) >= 1)
        #expect((Self.value(of: #"almanac_requests_total{operation="create",shard="0",outcome="ok"}"#, in: text) ?? 0) >= 5)
        #expect((Self.value(of: #"almanac_commit_duration_seconds_count{shard="0"}"#, in: text) ?? 0) >= 6)
        #expect((Self.value(of: "almanac_wal_fsync_duration_seconds_count", in: text) ?? 0) >= 6)
        #expect((Self.value(of: "almanac_wal_sync_entries_count", in: text) ?? 0) >= 6)
        #expect((Self.value(of: #"almanac_raft_term{shard="0"}"#, in: text) ?? 0) >= 1)
        #expect(Self.value(of: #"almanac_raft_is_leader{shard="0"}"#, in: text) == 1)
        #expect(Self.value(of: #"almanac_raft_leader{shard="0"}"#, in: text) == Double(leader))
        #expect(Self.value(of: #"almanac_raft_has_leader{shard="1"}"#, in: text) == 1)
        #expect(Self.value(of: #"almanac_raft_apply_lag{shard="0"}"#, in: text) != nil)
        #expect(Self.value(of: "almanac_node_healthy", in: text) == 1)
        #expect(Self.value(of: "almanac_node_ready", in: text) == 1)
        for member in nodes.members where member.id != leader {
            #expect(Self.value(of: #"almanac_peer_up{peer="\#(member.id)",zone="\#(member.zone)"}"#, in: text) == 1)
        }
        for zone in TestCluster.zones {
            #expect(Self.value(of: #"almanac_zone_up{zone="\#(zone)"}"#, in: text) == 1)
        }
        #expect(Self.value(of: #"almanac_raft_snapshots_sent{shard="0"}"#, in: text) != nil)
        // The access monitors' heat: the six writes above are counted on the nodes that served them.
        var writes = 0.0
        for id: UInt64 in 1...3 {
            let body = try await nodes.get(id, "/metrics").body
            for line in body.split(separator: "\n") where line.hasPrefix("almanac_segment_requests{") && line.contains(#"kind="write""#) {
                writes += Double(line.split(separator: " ").last ?? "") ?? 0
            }
        }
        #expect(writes >= 6, "segment heat counted \(writes) writes over the three nodes")

        // Zone-c's node dies: the others report its zone down and stay ready (two zones are a quorum).
        nodes.kill(3)
        let survivor: UInt64 = 1
        let down = try await nodes.poll(survivor, "/metrics") {
            Self.value(of: #"almanac_zone_up{zone="zone-c"}"#, in: $0.body) == 0
        }
        #expect(Self.value(of: #"almanac_peer_up{peer="3",zone="zone-c"}"#, in: down.body) == 0)
        #expect(Self.value(of: #"almanac_peer_liveness{peer="3",zone="zone-c",state="down"}"#, in: down.body) == 1)
        _ = try await nodes.poll(survivor, "/readyz") { $0.status == 200 }
        #expect((try await nodes.get(survivor, "/healthz")).status == 200)
    }

    @Test func malformedMetricsListenIsAUsageError() async throws {
        let nodes = try Nodes()
        defer { nodes.shutdown() }
        try nodes.launch(1, extra: ["--metrics-listen", "no-port-here"])
        try await nodes.waitFor("is not host:port", node: 1, timeout: .seconds(20))
        let exited = ContinuousClock().now.advanced(by: .seconds(10))
        while ContinuousClock().now < exited, nodes.isRunning(1) { try await Task.sleep(for: .milliseconds(50)) }
        #expect(nodes.exitStatus(1) == 2)
    }
}

extension OperationsEndpointTests.Nodes {
    func isRunning(_ id: UInt64) -> Bool { processHandle(id)?.isRunning ?? false }
    func exitStatus(_ id: UInt64) -> Int32? {
        guard let process = processHandle(id), !process.isRunning else { return nil }
        return process.terminationStatus
    }
}
