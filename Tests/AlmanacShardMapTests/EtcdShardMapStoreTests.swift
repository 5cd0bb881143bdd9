import AlmanacKeyspace
@testable import AlmanacShardMap
import Foundation
import Testing

/// The etcd instance of the conformance suite, on a real 3-member etcd cluster on loopback
/// (started once for the suite, torn down after it). Without `etcd` on PATH the suite is skipped,
/// unless CI is set: then it fails and says so.
struct EtcdHarness: ShardMapStoreHarness {
    let cluster: EtcdTestCluster

    func makeStore(clusterID: String, knownNodes: [NodeID: ZoneName]?) async throws -> any ShardMapStore {
        try EtcdShardMapStore(url: cluster.url, clusterID: clusterID, attemptTimeout: .seconds(1), knownNodes: knownNodes)
    }

    func release(_ store: any ShardMapStore) async {
        await (store as? EtcdShardMapStore)?.shutdown()
    }

    func writeRawRecord(_ bytes: [UInt8], clusterID: String) async throws {
        let store = try EtcdShardMapStore(url: cluster.url, clusterID: clusterID)
        do {
            _ = try await store.putRawRecord(bytes)
        } catch {
            await store.shutdown()
            throw error
        }
        await store.shutdown()
    }

    /// Kills the first running member: the one fresh stores and their watches talk to first.
    func crashOneReplica() async throws {
        guard let victim = cluster.running.first else { throw EtcdTestError("no member is running") }
        cluster.kill(victim)
        try await waitServing()
    }

    func crashMajority() async throws {
        while cluster.running.count > cluster.members.count / 2, let victim = cluster.running.first {
            cluster.kill(victim)
        }
    }

    func restartCrashed() async throws {
        try await cluster.restartStopped()
    }

    func checkWatchReconnected(_ watch: any ShardMapWatch) {
        guard let watch = watch as? EtcdShardMapWatch else { Issue.record("not an etcd watch"); return }
        #expect(watch.streamsOpened >= 2, "the watch never reconnected (last problem: \(watch.lastProblem ?? "none"))")
    }

    /// Waits until the running members have a leader again.
    private func waitServing() async throws {
        for index in cluster.running {
            try await cluster.waitHealthy(index..<(index + 1))
        }
    }
}

enum EtcdEnvironment {
    @TaskLocal static var cluster: EtcdTestCluster?

    static var isCI: Bool { ProcessInfo.processInfo.environment["CI"].map { !$0.isEmpty && $0 != "0" && $0 != "false" } ?? false }
    static var etcdInstalled: Bool { EtcdTestCluster.locateBinary() != nil }

    /// The suite's cluster, with every member running (a test that failed half-way through a
    /// crash leaves no dead members behind for the next one).
    static func harness() async throws -> EtcdHarness {
        guard let cluster else { throw EtcdTestError("no etcd cluster in scope") }
        try await cluster.restartStopped()
        return EtcdHarness(cluster: cluster)
    }

    static func clusterID(_ test: String = #function) -> String {
        "\(test.prefix { $0 != "(" })-\(UUID().uuidString.prefix(8))"
    }
}

/// Starts the 3-member etcd cluster around the whole suite and tears it down afterwards.
struct EtcdClusterTrait: SuiteTrait, TestScoping {
    var isRecursive: Bool { false }

    func provideScope(for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void) async throws {
        guard EtcdEnvironment.etcdInstalled else {
            throw EtcdTestError("etcd is not installed (no `etcd` on PATH): the etcd shard map suite needs a real etcd 3.4+; run `bash scripts/install-test-deps.sh` (Debian package etcd-server)")
        }
        let cluster = try await EtcdTestCluster.start()
        defer { cluster.shutdown() }
        try await EtcdEnvironment.$cluster.withValue(cluster) { try await function() }
    }
}

@Suite(
    "EtcdShardMapStore on a real 3-member etcd cluster",
    .serialized,
    .enabled(if: EtcdEnvironment.etcdInstalled || EtcdEnvironment.isCI,
             "etcd is not installed; run scripts/install-test-deps.sh (with CI set, this suite fails instead)"),
    EtcdClusterTrait()
)
struct EtcdShardMapStoreTests {
    // MARK: The conformance suite

    @Test func loadOfEmptyStore() async throws {
        try await ShardMapStoreConformance.loadOfEmptyStore(await EtcdEnvironment.harness(), clusterID: EtcdEnvironment.clusterID())
    }

    @Test func createIfAbsent() async throws {
        try await ShardMapStoreConformance.createIfAbsent(await EtcdEnvironment.harness(), clusterID: EtcdEnvironment.clusterID())
    }

    @Test func controlRecords() async throws {
        try await ShardMapStoreConformance.controlRecords(await EtcdEnvironment.harness(), clusterID: EtcdEnvironment.clusterID())
    }

    @Test func compareAndSwapSucceedsAndConflicts() async throws {
        try await ShardMapStoreConformance.compareAndSwap(await EtcdEnvironment.harness(), clusterID: EtcdEnvironment.clusterID())
    }

    @Test func concurrentWritersExactlyOneWins() async throws {
        try await ShardMapStoreConformance.concurrentWritersExactlyOneWins(await EtcdEnvironment.harness(), clusterID: EtcdEnvironment.clusterID())
    }

    @Test func revisionsAreMonotonic() async throws {
        try await ShardMapStoreConformance.revisionsAreMonotonic(await EtcdEnvironment.harness(), clusterID: EtcdEnvironment.clusterID())
    }

    @Test func watchDeliversEveryChangeInOrder() async throws {
        try await ShardMapStoreConformance.watchDeliversEveryChangeInOrder(await EtcdEnvironment.harness(), clusterID: EtcdEnvironment.clusterID())
    }

    @Test func malformedRecords() async throws {
        try await ShardMapStoreConformance.malformedRecords(await EtcdEnvironment.harness(), clusterID: EtcdEnvironment.clusterID())
    }

    @Test func mapWithUnknownNodesIsInvalid() async throws {
        try await ShardMapStoreConformance.mapWithUnknownNodesIsInvalid(await EtcdEnvironment.harness(), clusterID: EtcdEnvironment.clusterID())
    }

    @Test func healthOfAServingStore() async throws {
        try await ShardMapStoreConformance.healthOfAServingStore(await EtcdEnvironment.harness(), clusterID: EtcdEnvironment.clusterID())
    }

    /// Last: it kills members (and restarts them).
    @Test func survivesMemberKills() async throws {
        try await ShardMapStoreConformance.survivesReplicaCrashes(await EtcdEnvironment.harness(), clusterID: EtcdEnvironment.clusterID())
    }

    // MARK: etcd specifics

    /// The key layout and value format: `<prefix>/<clusterID>/shardmap` holds the map's JSON.
    @Test func recordLayout() async throws {
        let harness = try await EtcdEnvironment.harness()
        let clusterID = EtcdEnvironment.clusterID()
        let store = try EtcdShardMapStore(url: harness.cluster.url, clusterID: clusterID)
        #expect(store.configuration.mapKey == "/almanac/\(clusterID)/shardmap")
        let stored = try await store.compareAndSwap(expectedRevision: 0, map: try TestMaps.initial())
        let raw = try #require(try await store.rawRecord())
        #expect(raw.revision == stored.revision)
        #expect(raw.bytes == (try ShardMapRecord.encode(stored.map)))
        let text = String(decoding: raw.bytes, as: UTF8.self)
        #expect(text.contains(#""segments":[{"first":0,"last":15,"shard":0}"#), "\(text)")
        await store.shutdown()
    }

    /// A watch whose start revision was compacted away re-loads and delivers the newest version.
    @Test func watchAfterCompactionDeliversNewest() async throws {
        let harness = try await EtcdEnvironment.harness()
        let store = try EtcdShardMapStore(url: harness.cluster.url, clusterID: EtcdEnvironment.clusterID())
        var current = try await store.compareAndSwap(expectedRevision: 0, map: try TestMaps.initial())
        let first = current
        for _ in 0..<3 {
            current = try await store.compareAndSwap(expectedRevision: current.revision, map: try TestMaps.next(current.map))
        }
        try await store.compact(revision: current.revision)
        let recorder = WatchRecorder()
        let watch = try await store.watch(afterRevision: first.revision, onChange: recorder.callback)
        try await recorder.wait(forRevision: current.revision)
        #expect(recorder.versions == [current])
        let next = try await store.compareAndSwap(expectedRevision: current.revision, map: try TestMaps.next(current.map))
        try await recorder.wait(forRevision: next.revision)
        #expect(recorder.versions == [current, next])
        watch.cancel()
        await store.shutdown()
    }

    /// Behind a compaction the newest record is malformed: the watch skips it (no spinning on
    /// re-loads) and delivers the repair.
    @Test func watchAfterCompactionSkipsAMalformedNewest() async throws {
        let harness = try await EtcdEnvironment.harness()
        let store = try EtcdShardMapStore(url: harness.cluster.url, clusterID: EtcdEnvironment.clusterID())
        let first = try await store.compareAndSwap(expectedRevision: 0, map: try TestMaps.initial())
        _ = try await store.compareAndSwap(expectedRevision: first.revision, map: try TestMaps.next(first.map))
        let bad = try await store.putRawRecord(Array("{oops".utf8))
        try await store.compact(revision: bad)
        let recorder = WatchRecorder()
        let watch = try await store.etcdWatch(afterRevision: first.revision, onChange: recorder.callback)
        // The first stream is cancelled for the compaction; after the re-load skipped the bad
        // record, a second stream follows the key from there.
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: .seconds(5))
        while watch.streamsOpened < 2 && clock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
        #expect(watch.streamsOpened == 2, "\(watch.lastProblem ?? "none")")
        #expect(watch.lastProblem?.contains("not valid JSON") == true, "\(watch.lastProblem ?? "none")")
        #expect(recorder.versions.isEmpty)
        let repaired = try await store.compareAndSwap(expectedRevision: bad, map: try TestMaps.next(first.map))
        try await recorder.wait(forRevision: repaired.revision)
        #expect(recorder.versions == [repaired])
        watch.cancel()
        await store.shutdown()
    }

    /// A member that hangs without closing its connections (SIGSTOP) is noticed by the watch's
    /// liveness check; the watch resumes on another member and misses nothing.
    @Test func watchLeavesAFrozenMember() async throws {
        let harness = try await EtcdEnvironment.harness()
        let cluster = harness.cluster
        let clusterID = EtcdEnvironment.clusterID()
        let endpoints = try EtcdShardMapStoreConfiguration.parse(url: cluster.url).endpoints
        let reader = try EtcdShardMapStore(configuration: EtcdShardMapStoreConfiguration(
            endpoints: endpoints, clusterID: clusterID, attemptTimeout: .milliseconds(500),
            watchLivenessInterval: .milliseconds(500)))
        let writer = try EtcdShardMapStore(configuration: EtcdShardMapStoreConfiguration(
            endpoints: Array(endpoints.dropFirst()), clusterID: clusterID))
        var current = try await writer.compareAndSwap(expectedRevision: 0, map: try TestMaps.initial())
        var committed = [current]
        let recorder = WatchRecorder()
        let watch = try await reader.etcdWatch(afterRevision: 0, onChange: recorder.callback)
        try await recorder.wait(forRevision: current.revision)

        cluster.freeze(0)
        defer { cluster.thaw(0) }
        try await cluster.waitHealthy(1..<3)  // the other two have (re-)elected a leader
        for _ in 0..<3 {
            current = try await writer.compareAndSwap(expectedRevision: current.revision, map: try TestMaps.next(current.map))
            committed.append(current)
        }
        try await recorder.wait(forRevision: current.revision, timeout: .seconds(15))
        #expect(recorder.versions == committed)
        #expect(watch.streamsOpened >= 2, "last problem: \(watch.lastProblem ?? "none")")
        watch.cancel()
        await reader.shutdown()
        await writer.shutdown()
    }

    /// A deleted record (not something Almanac does) reads as absent, can be created again, and
    /// watchers skip the delete and see the re-creation.
    @Test func deletedRecordReadsAsAbsent() async throws {
        let harness = try await EtcdEnvironment.harness()
        let store = try EtcdShardMapStore(url: harness.cluster.url, clusterID: EtcdEnvironment.clusterID())
        let first = try await store.compareAndSwap(expectedRevision: 0, map: try TestMaps.initial())
        let recorder = WatchRecorder()
        let watch = try await store.etcdWatch(afterRevision: first.revision, onChange: recorder.callback)
        try await store.deleteRecord()
        #expect(try await store.load() == nil)
        let again = try await store.compareAndSwap(expectedRevision: 0, map: try TestMaps.initial(shards: 2))
        try await recorder.wait(forRevision: again.revision)
        #expect(recorder.versions == [again])
        #expect(watch.lastProblem?.contains("deleted") == true, "\(watch.lastProblem ?? "none")")
        watch.cancel()
        await store.shutdown()
    }

    /// Stores can be dropped without `shutdown()` (no watch running): nothing traps.
    @Test func droppingAStoreIsSafe() async throws {
        let harness = try await EtcdEnvironment.harness()
        for _ in 0..<3 {
            let store = try EtcdShardMapStore(url: harness.cluster.url, clusterID: EtcdEnvironment.clusterID())
            #expect(try await store.load() == nil)
        }
    }

    /// The first attempt commits but its answer is lost (the connection closes); the retry on
    /// the next member loses its compare against our own write and reports the write as ours
    /// instead of a conflict.
    @Test func casWhoseAnswerWasLostIsRecognisedAsOurs() async throws {
        let harness = try await EtcdEnvironment.harness()
        let clusterID = EtcdEnvironment.clusterID()
        let members = try EtcdShardMapStoreConfiguration.parse(url: harness.cluster.url).endpoints
        let direct = try EtcdShardMapStore(url: harness.cluster.url, clusterID: clusterID)
        let proxy = try await AnswerLosingProxy.start(forwardingTo: members[0], via: direct)
        let store = try EtcdShardMapStore(configuration: EtcdShardMapStoreConfiguration(
            endpoints: [EtcdEndpoint(host: "127.0.0.1", port: proxy.port)] + members, clusterID: clusterID))
        let created = try await store.compareAndSwap(expectedRevision: 0, map: try TestMaps.initial())
        #expect(try await direct.load() == created)
        // Again with a revision compare (the store now prefers a real member: force the proxy first).
        let viaProxy = try EtcdShardMapStore(configuration: EtcdShardMapStoreConfiguration(
            endpoints: [EtcdEndpoint(host: "127.0.0.1", port: proxy.port)] + members, clusterID: clusterID))
        let next = try await viaProxy.compareAndSwap(expectedRevision: created.revision, map: try TestMaps.next(created.map))
        #expect(next.revision > created.revision)
        #expect(try await direct.load() == next)
        // A genuinely stale write through the proxy is still a conflict.
        await #expect(throws: ShardMapStoreError.conflict(expected: created.revision, actual: next.revision)) {
            let stale = try EtcdShardMapStore(configuration: EtcdShardMapStoreConfiguration(
                endpoints: [EtcdEndpoint(host: "127.0.0.1", port: proxy.port)] + members, clusterID: clusterID))
            _ = try await stale.compareAndSwap(expectedRevision: created.revision, map: try TestMaps.initial(shards: 2))
        }
        await proxy.stop()
    }

    /// Many watches in one process (each holds a connection) do not starve calls.
    @Test func manyWatchesDoNotStarveCalls() async throws {
        let harness = try await EtcdEnvironment.harness()
        // A long attempt timeout, so a starved call is told apart from a slow CI machine by a wide margin.
        let store = try EtcdShardMapStore(url: harness.cluster.url, clusterID: EtcdEnvironment.clusterID(),
                                          attemptTimeout: .seconds(8))
        var current = try await store.compareAndSwap(expectedRevision: 0, map: try TestMaps.initial())
        var watches: [EtcdShardMapWatch] = []
        var recorders: [WatchRecorder] = []
        for _ in 0..<12 {
            let recorder = WatchRecorder()
            watches.append(try await store.etcdWatch(afterRevision: current.revision, onChange: recorder.callback))
            recorders.append(recorder)
        }
        var committed: [VersionedShardMap] = []
        let clock = ContinuousClock()
        let started = clock.now
        for _ in 0..<2 {
            current = try await store.compareAndSwap(expectedRevision: current.revision, map: try TestMaps.next(current.map))
            committed.append(current)
        }
        // Queued behind the watches' connections, a call would wait out an attempt timeout (8 s).
        #expect(clock.now - started < .seconds(4), "\(clock.now - started)")
        for recorder in recorders {
            try await recorder.wait(forRevision: current.revision)
            #expect(recorder.versions == committed)
        }
        for watch in watches { watch.cancel() }
        await store.shutdown()
    }

    /// A dead first endpoint costs nothing but a refused connection: calls go on to the next one.
    @Test func failsOverPastADeadEndpoint() async throws {
        let harness = try await EtcdEnvironment.harness()
        let dead = try EtcdTestCluster.freePorts(count: 1)[0]
        let live = harness.cluster.members.map { "127.0.0.1:\($0.clientPort)" }
        let store = try EtcdShardMapStore(url: "etcd://127.0.0.1:\(dead)," + live.joined(separator: ","), clusterID: EtcdEnvironment.clusterID())
        let created = try await store.compareAndSwap(expectedRevision: 0, map: try TestMaps.initial())
        #expect(try await store.load() == created)
        await store.shutdown()
    }
}

/// Needs no etcd: parsing and an unreachable cluster.
@Suite struct EtcdShardMapStoreOfflineTests {
    @Test func parsesEndpointURLs() throws {
        let parsed = try EtcdShardMapStoreConfiguration.parse(url: "etcd://10.0.0.1:2379, etcd-b:22379,[::1]:32379")
        #expect(parsed.endpoints == [EtcdEndpoint(host: "10.0.0.1", port: 2379), EtcdEndpoint(host: "etcd-b", port: 22379),
                                     EtcdEndpoint(host: "::1", port: 32379)])
        #expect(parsed.keyPrefix == nil)
        #expect(try EtcdShardMapStoreConfiguration.parse(url: "ETCD://h:1/tenants/a/").keyPrefix == "/tenants/a")
        let configuration = try EtcdShardMapStoreConfiguration(url: "etcd://h:1,h:2/p", clusterID: "c1")
        #expect(configuration.mapKey == "/p/c1/shardmap")
        #expect(try EtcdShardMapStoreConfiguration(url: "etcd://h:1", clusterID: "c1").mapKey == "/almanac/c1/shardmap")
    }

    @Test(arguments: [
        ("http://h:2379", "unknown scheme"),
        ("h:2379", "not a URL"),
        ("etcd://", "no endpoints"),
        ("etcd://,", "no endpoints"),
        ("etcd://h:1,,h:2", "empty endpoint"),
        ("etcd://h", "no port"),
        ("etcd://h:", "no port"),
        ("etcd://:2379", "no host"),
        ("etcd://h:port", "not a number"),
        ("etcd://h:0", "not a number"),
        ("etcd://h:65536", "not a number"),
        ("etcd://h:-1", "not a number"),
        ("etcd://::1:2379", "brackets"),
        ("etcd://[::1", "unclosed"),
        ("etcd://user@h:1", "no user"),
    ])
    func rejectsBadURLs(url: String, expected: String) {
        do {
            _ = try EtcdShardMapStoreConfiguration.parse(url: url)
            Issue.record("\(url) parsed")
        } catch {
            guard case .configuration(let message) = error else { Issue.record("\(url): \(error)"); return }
            #expect(message.contains(expected), "\(url): \(message)")
        }
    }

    @Test func rejectsBadClusterIDs() {
        #expect(throws: ShardMapStoreError.self) { try EtcdShardMapStore(url: "etcd://h:1", clusterID: "") }
        #expect(throws: ShardMapStoreError.self) { try EtcdShardMapStore(url: "etcd://h:1", clusterID: "a/b") }
    }

    /// Nothing listens: every call fails with `.unavailable` at once (connection refused), a watch
    /// cannot start, health says why.
    @Test func unreachableClusterIsUnavailableQuickly() async throws {
        let ports = try EtcdTestCluster.freePorts(count: 3)
        let store = try EtcdShardMapStore(url: "etcd://" + ports.map { "127.0.0.1:\($0)" }.joined(separator: ","), clusterID: "down")
        let clock = ContinuousClock()
        let started = clock.now
        do {
            _ = try await store.load()
            Issue.record("load succeeded")
        } catch {
            guard case .unavailable(let message) = error else { Issue.record("\(error)"); return }
            #expect(message.contains("127.0.0.1:\(ports[0])"))
        }
        await #expect(throws: ShardMapStoreError.self) {
            try await store.compareAndSwap(expectedRevision: 0, map: try TestMaps.initial())
        }
        await #expect(throws: ShardMapStoreError.self) {
            try await store.watch(afterRevision: 0) { _ in }
        }
        let health = await store.health()
        #expect(!health.healthy)
        #expect(health.detail.hasPrefix("0/3"), "\(health.detail)")
        #expect(clock.now - started < .seconds(3))
        await store.shutdown()
    }

    @Test func recordDecodingSaysWhatIsWrong() throws {
        for (record, expected) in [("[", "k: not valid JSON"), (#"{"segmentCount":"x"}"#, "k: segmentCount: expected Int")] {
            do {
                _ = try ShardMapRecord.decode(Array(record.utf8), source: "k")
                Issue.record("\(record) decoded")
            } catch {
                #expect(error.description.contains(expected), "\(error)")
            }
        }
    }
}
