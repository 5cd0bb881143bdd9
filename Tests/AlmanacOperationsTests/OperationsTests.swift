import AlmanacTestSupport
import AlmanacNode
import AlmanacOperations
import AlmanacServer
import AlmanacStorage
import AlmanacWire
import Foundation
import Logging
import Metrics
import Synchronization
import Testing

@Suite("listen addresses and log formats")
struct ParsingTests {
    @Test func parsesHostAndPort() throws {
        #expect(try ListenAddress.parse("127.0.0.1:9100") == ListenAddress(host: "127.0.0.1", port: 9100))
        #expect(try ListenAddress.parse("0.0.0.0:0") == ListenAddress(host: "0.0.0.0", port: 0))
        #expect(try ListenAddress.parse("[::1]:9100") == ListenAddress(host: "::1", port: 9100))
        #expect(ListenAddress(host: "::1", port: 9100).description == "[::1]:9100")
    }

    @Test func rejectsMalformedAddressesWithTypedErrors() {
        #expect(throws: ListenAddressError.missingPort("localhost")) { try ListenAddress.parse("localhost") }
        #expect(throws: ListenAddressError.badHost(":9100")) { try ListenAddress.parse(":9100") }
        #expect(throws: ListenAddressError.badPort("host:http")) { try ListenAddress.parse("host:http") }
        #expect(throws: ListenAddressError.badPort("host:65536")) { try ListenAddress.parse("host:65536") }
        #expect(throws: ListenAddressError.badPort("host:-1")) { try ListenAddress.parse("host:-1") }
        #expect(throws: ListenAddressError.badPort("host:")) { try ListenAddress.parse("host:") }
    }

    @Test func logFormats() throws {
        #expect(try LogFormat.parse("json") == .json)
        #expect(try LogFormat.parse("text") == .text)
        #expect(throws: LogFormatError(value: "xml")) { try LogFormat.parse("xml") }
    }
}

@Suite("health and readiness")
struct ProbeTests {
    static func group(_ id: UInt64, leader: UInt64 = 1, commit: UInt64 = 10, applied: UInt64 = 10) -> GroupProgress {
        GroupProgress(group: id, term: 3, leader: leader, isLeader: leader == 1, commit: commit, applied: applied)
    }

    @Test func healthyAndReadyWhenEveryGroupHasALeaderAndIsCaughtUp() {
        let snapshot = NodeSnapshot(nodeID: 1, groups: [Self.group(0), Self.group(1, leader: 2, commit: 20, applied: 15)])
        #expect(Probes.health(snapshot).ok)
        #expect(Probes.readiness(snapshot, maxApplyLag: 5).ok)
    }

    @Test func notReadyWithoutALeaderOrWhenBehind() {
        let snapshot = NodeSnapshot(nodeID: 1, groups: [Self.group(0, leader: 0), Self.group(1, leader: 2, commit: 200, applied: 50)])
        #expect(Probes.health(snapshot).ok)
        let verdict = Probes.readiness(snapshot, maxApplyLag: 100)
        #expect(!verdict.ok)
        #expect(verdict.reasons.count == 2)
        #expect(verdict.reasons[0].contains("shard 0: no leader known"))
        #expect(verdict.reasons[1].contains("shard 1") && verdict.reasons[1].contains("lag 150"))
        #expect(Probes.readiness(NodeSnapshot(nodeID: 1, groups: [Self.group(1, leader: 2, commit: 200, applied: 100)]),
                                 maxApplyLag: 100).ok)
    }

    @Test func unhealthyWhenTheHostStoppedOrIsGone() {
        let stopped = NodeSnapshot(nodeID: 1, groups: [Self.group(0)], stoppedReason: "storage failed: EIO")
        #expect(!Probes.health(stopped).ok)
        #expect(Probes.health(stopped).reasons == ["host stopped: storage failed: EIO"])
        #expect(!Probes.readiness(stopped, maxApplyLag: 100).ok)
        #expect(!Probes.health(nil).ok)
        #expect(!Probes.readiness(nil, maxApplyLag: 100).ok)
        #expect(Probes.readiness(NodeSnapshot(nodeID: 1, groups: []), maxApplyLag: 100).ok)
    }
}

@Suite("node metrics")
struct NodeMetricsTests {
    static func request(_ build: (inout Almanac_Api_V1_Request) -> Void) -> Almanac_Api_V1_Request {
        var request = Almanac_Api_V1_Request()
        build(&request)
        return request
    }

    @Test func requestsAreCountedAndTimedByOperationShardAndOutcome() throws {
        let metrics = NodeMetrics()
        let observer = metrics.requestObserver
        let mkdir = Self.request { $0.mkdir = Almanac_Api_V1_MkdirRequest() }
        var ok = Almanac_Api_V1_Response()
        ok.shardID = 2
        for _ in 0..<3 { observer.requestFinished(observer.requestStarted(mkdir), response: ok) }
        var notLeader = Almanac_Api_V1_Response()
        notLeader.shardID = 2
        notLeader.error.code = .notLeader
        observer.requestFinished(observer.requestStarted(mkdir), response: notLeader)
        var enoent = Almanac_Api_V1_Response()
        enoent.error.code = .enoent
        let lookup = Self.request { $0.lookup = Almanac_Api_V1_LookupRequest() }
        observer.requestFinished(observer.requestStarted(lookup), response: enoent)
        let status = Self.request { $0.clusterStatus = Almanac_Api_V1_ClusterStatusRequest() }
        observer.requestFinished(observer.requestStarted(status), response: Almanac_Api_V1_Response())

        let text = String(decoding: metrics.exposition(), as: UTF8.self)
        #expect(text.contains(#"almanac_requests_total{operation="mkdir",shard="2",outcome="ok"} 3"#))
        #expect(text.contains(#"almanac_requests_total{operation="mkdir",shard="2",outcome="not_leader"} 1"#))
        #expect(text.contains(#"almanac_requests_total{operation="lookup",shard="0",outcome="namespace_error"} 1"#))
        #expect(text.contains(#"almanac_requests_total{operation="cluster_status",shard="none",outcome="ok"} 1"#))
        #expect(text.contains(#"almanac_request_duration_seconds_count{operation="mkdir",shard="2"} 4"#))
        #expect(text.contains(#"almanac_request_duration_seconds_bucket{operation="mkdir",shard="2",le="+Inf"} 4"#))
    }

    @Test func hostHooksRecordCommitLatencyAndWALSyncs() {
        let metrics = NodeMetrics()
        let hooks = metrics.hostObserver
        hooks.committed?(1, 3_000_000)
        hooks.committed?(1, 300_000_000)
        hooks.walSync?(GroupCommitSampleFixture.sample(batches: 2, entries: 40, syncNanos: 700_000))
        let text = String(decoding: metrics.exposition(), as: UTF8.self)
        #expect(text.contains(#"almanac_commit_duration_seconds_count{shard="1"} 2"#))
        #expect(text.contains(#"almanac_commit_duration_seconds_bucket{shard="1",le="0.004"} 1"#))
        #expect(text.contains(#"almanac_commit_duration_seconds_bucket{shard="1",le="0.512"} 2"#))
        #expect(text.contains("almanac_wal_fsync_duration_seconds_count 1"))
        #expect(text.contains(#"almanac_wal_fsync_duration_seconds_bucket{le="0.001"} 1"#))
        #expect(text.contains(#"almanac_wal_fsync_duration_seconds_bucket{le="0.0005"} 0"#))
        #expect(text.contains("almanac_wal_sync_entries_sum 40"))
        #expect(text.contains("almanac_wal_sync_batches_sum 2"))
    }

    @Test func theGlobalMetricsAPIExportsThroughTheNodeRegistryOnceBootstrapped() {
        let metrics = NodeMetrics()
        metrics.bootstrapMetricsSystem()
        Counter(label: "almanac_migrations_total").increment(by: 3)
        let text = String(decoding: metrics.exposition(), as: UTF8.self)
        #expect(text.contains("almanac_migrations_total 3"))
    }

    @Test func stateGaugesFollowTheSnapshot() {
        let metrics = NodeMetrics()
        var snapshot = NodeSnapshot(
            nodeID: 1,
            groups: [GroupProgress(group: 0, term: 4, leader: 1, isLeader: true, commit: 90, applied: 80),
                     GroupProgress(group: 1, term: 2, leader: 0, isLeader: false, commit: 5, applied: 5)],
            peers: [PeerHealth(id: 2, zone: "zone-b", liveness: .alive, silenceNanos: 50_000_000,
                               link: { var link = PeerLinkStatistics(peer: 2); link.connections = 3; link.stalledConnections = 2; return link }()),
                    PeerHealth(id: 3, zone: "zone-c", liveness: .down, silenceNanos: nil)],
            zones: [ZoneState(zone: "zone-b", health: .healthy), ZoneState(zone: "zone-c", health: .down)])
        metrics.update(from: snapshot, maxApplyLag: 1000)
        var text = String(decoding: metrics.exposition(), as: UTF8.self)
        for line in [
            #"almanac_raft_term{shard="0"} 4"#, #"almanac_raft_is_leader{shard="0"} 1"#,
            #"almanac_raft_has_leader{shard="1"} 0"#, #"almanac_raft_apply_lag{shard="0"} 10"#,
            #"almanac_raft_commit_index{shard="0"} 90"#, #"almanac_raft_applied_index{shard="0"} 80"#,
            #"almanac_peer_up{peer="2",zone="zone-b"} 1"#, #"almanac_peer_up{peer="3",zone="zone-c"} 0"#,
            #"almanac_peer_liveness{peer="3",zone="zone-c",state="down"} 1"#,
            #"almanac_peer_last_heard_seconds{peer="2",zone="zone-b"} 0.05"#,
            #"almanac_peer_connections{peer="2",zone="zone-b"} 3"#,
            #"almanac_peer_stalled_connections{peer="2",zone="zone-b"} 2"#,
            #"almanac_zone_up{zone="zone-c"} 0"#, #"almanac_zone_healthy{zone="zone-b"} 1"#,
            "almanac_node_healthy 1", "almanac_node_ready 0",
        ] {
            #expect(text.contains(line), "missing \(line)")
        }
        snapshot.groups[1].leader = 2
        snapshot.zones[1].health = .degraded
        metrics.update(from: snapshot, maxApplyLag: 1000)
        text = String(decoding: metrics.exposition(), as: UTF8.self)
        #expect(text.contains(#"almanac_raft_has_leader{shard="1"} 1"#))
        #expect(text.contains(#"almanac_zone_up{zone="zone-c"} 1"#))
        #expect(text.contains("almanac_node_ready 1"))
        metrics.update(from: nil, maxApplyLag: 1000)
        text = String(decoding: metrics.exposition(), as: UTF8.self)
        #expect(text.contains("almanac_node_healthy 0"))
    }
}

enum GroupCommitSampleFixture {
    static func sample(batches: Int, entries: Int, syncNanos: UInt64) -> GroupCommitSample {
        GroupCommitSample(batches: batches, entries: entries, writeNanos: 10_000, syncNanos: syncNanos)
    }
}

@Suite("JSON log lines")
struct JSONLogTests {
    final class Lines: Sendable {
        let storage = Mutex<[String]>([])
        var all: [String] { storage.withLock { $0 } }
    }

    @Test func eachEventIsOneParsableJSONObject() throws {
        let lines = Lines()
        let sink = JSONLogHandler.Sink { bytes in lines.storage.withLock { $0.append(String(decoding: bytes, as: UTF8.self)) } }
        var logger = Logger(label: "almanac.test") { label in JSONLogHandler(label: label, sink: sink) }
        logger.logLevel = .debug
        logger[metadataKey: "node"] = "1"
        logger.info("quote \" backslash \\ newline \n tab \t bell \u{07} é", metadata: [
            "group": "3", "level": "clash", "list": ["a", "b"], "nested": ["k": "v"]])
        logger.trace("not logged")
        logger.warning("second")
        #expect(lines.all.count == 2)
        let first = try #require(lines.all.first)
        #expect(first.hasSuffix("}\n"))
        #expect(!first.dropLast().contains("\n"))
        let object = try #require(try JSONSerialization.jsonObject(with: Data(first.utf8)) as? [String: Any])
        #expect(object["level"] as? String == "info")
        #expect(object["label"] as? String == "almanac.test")
        #expect(object["message"] as? String == "quote \" backslash \\ newline \n tab \t bell \u{07} é")
        #expect(object["node"] as? String == "1")
        #expect(object["group"] as? String == "3")
        #expect(object["meta_level"] as? String == "clash")
        #expect(object["list"] as? [String] == ["a", "b"])
        #expect((object["nested"] as? [String: String])?["k"] == "v")
        let stamp = try #require(object["ts"] as? String)
        #expect(stamp.count == 24 && stamp.hasSuffix("Z") && stamp.contains("T"))
        #expect(ISO8601DateFormatter.withFractionalSeconds.date(from: stamp) != nil)
    }
}

extension ISO8601DateFormatter {
    static var withFractionalSeconds: ISO8601DateFormatter {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter
    }
}

@Suite("operations HTTP server", .timeLimit(.minutes(1)))
struct OperationsHTTPServerTests {
    struct Stub: OperationsResponder {
        func respond(toPath path: String) async -> OperationsResponse {
            try? await Task.sleep(for: .milliseconds(5))  // answered off the event loop, later
            return path == "/hello" ? OperationsResponse(status: .ok, text: "hi\n")
                : OperationsResponse(status: .notFound, text: "no \(path)\n")
        }
    }

    @Test func servesGetAndHeadAndRejectsOtherMethods() async throws {
        let server = try await OperationsHTTPServer.start(address: ListenAddress(host: "127.0.0.1", port: 0), responder: Stub())
        do {
            #expect(server.address.port != 0)
            let hello = try await httpRequest(host: "127.0.0.1", port: server.address.port, path: "/hello?x=1")
            #expect(hello.status == 200)
            #expect(hello.body == "hi\n")
            #expect(hello.headers["content-length"] == "3")
            let head = try await httpRequest(host: "127.0.0.1", port: server.address.port, path: "/hello", method: "HEAD")
            #expect(head.status == 200 && head.body.isEmpty && head.headers["content-length"] == "3")
            let missing = try await httpRequest(host: "127.0.0.1", port: server.address.port, path: "/nope")
            #expect(missing.status == 404 && missing.body == "no /nope\n")
            let post = try await httpRequest(host: "127.0.0.1", port: server.address.port, path: "/hello", method: "POST")
            #expect(post.status == 405)
        } catch {
            await server.shutdown()
            throw error
        }
        await server.shutdown()
    }

    @Test func aTakenPortIsAnError() async throws {
        let first = try await OperationsHTTPServer.start(address: ListenAddress(host: "127.0.0.1", port: 0), responder: Stub())
        await #expect(throws: (any Error).self) {
            let second = try await OperationsHTTPServer.start(address: first.address, responder: Stub())
            await second.shutdown()
        }
        await first.shutdown()
    }
}
