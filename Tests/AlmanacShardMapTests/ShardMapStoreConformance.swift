import AlmanacKeyspace
import AlmanacShardMap
import Foundation
import Synchronization
import Testing

/// What the conformance suite needs from a backend: stores over one shared storage (one per
/// simulated node), a way to plant a raw record, and fault injection on the storage's replicas.
///
/// The etcd instance is ``EtcdHarness``; the embedded backend supplies its own and runs the same
/// checks (``ShardMapStoreConformance``).
protocol ShardMapStoreHarness: Sendable {
    /// A new store over the harness's storage, for the map of `clusterID` (each test uses its
    /// own cluster id, so tests sharing one storage do not see each other's maps).
    func makeStore(clusterID: String, knownNodes: [NodeID: ZoneName]?) async throws -> any ShardMapStore
    /// Releases a store made by ``makeStore(clusterID:knownNodes:)``.
    func release(_ store: any ShardMapStore) async
    /// Writes `bytes` as the stored record of `clusterID`, bypassing all validation.
    func writeRawRecord(_ bytes: [UInt8], clusterID: String) async throws
    /// Crashes one replica of the storage (the one stores and watches talk to first), leaving a majority.
    func crashOneReplica() async throws
    /// Crashes replicas until no majority is left.
    func crashMajority() async throws
    /// Restarts every crashed replica and waits until the storage serves again.
    func restartCrashed() async throws
    /// Extra check after the watch lived through a crash (e.g. that it really reconnected).
    func checkWatchReconnected(_ watch: any ShardMapWatch)
    /// How soon a load and a compare-and-swap together must fail without a majority (the
    /// backend's call timeouts, twice).
    var unavailableWithin: Duration { get }
}

extension ShardMapStoreHarness {
    func checkWatchReconnected(_ watch: any ShardMapWatch) {}
    var unavailableWithin: Duration { .seconds(8) }
}

/// Collects what a watch delivers, and waits for it.
final class WatchRecorder: Sendable {
    private let received = Mutex<[VersionedShardMap]>([])

    var versions: [VersionedShardMap] { received.withLock { $0 } }
    var revisions: [UInt64] { versions.map(\.revision) }

    var callback: @Sendable (VersionedShardMap) -> Void {
        { [self] version in received.withLock { $0.append(version) } }
    }

    /// Waits until a version with revision `revision` (or newer) arrived.
    func wait(forRevision revision: UInt64, timeout: Duration = .seconds(10)) async throws {
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: timeout)
        while (versions.last?.revision ?? 0) < revision {
            guard clock.now < deadline else {
                throw EtcdTestError("watch delivered \(revisions), not revision \(revision), within \(timeout)")
            }
            try await Task.sleep(for: .milliseconds(20))
        }
    }
}

/// Maps for the tests: a small keying so the JSON stays short.
enum TestMaps {
    static let zones = ["zone-a", "zone-b", "zone-c"]
    static let knownNodes: [NodeID: ZoneName] = [1: "zone-a", 2: "zone-b", 3: "zone-c"]

    static func initial(shards: Int = 4) throws -> ShardMap {
        try ShardMap.initial(keying: SegmentKeying(segmentCount: 64), shardCount: shards) { _ in
            zones.enumerated().map { ReplicaLocation(node: NodeID($0.offset + 1), zone: $0.element) }
        }
    }

    /// `map` with the leader hint of shard 0 moved on (a change that bumps the epoch).
    static func next(_ map: ShardMap) throws -> ShardMap {
        var copy = map
        let current = copy.shards[0]?.leaderHint ?? 0
        try copy.setLeaderHint(current % 3 + 1, of: 0)
        return copy
    }
}

/// The backend-independent checks. Each takes a harness and a cluster id of its own.
enum ShardMapStoreConformance {
    static func loadOfEmptyStore(_ harness: some ShardMapStoreHarness, clusterID: String) async throws {
        let store = try await harness.makeStore(clusterID: clusterID, knownNodes: nil)
        let loaded = try await store.load()
        #expect(loaded == nil)
        await harness.release(store)
    }

    static func createIfAbsent(_ harness: some ShardMapStoreHarness, clusterID: String) async throws {
        let store = try await harness.makeStore(clusterID: clusterID, knownNodes: nil)
        let map = try TestMaps.initial()
        let created = try await store.compareAndSwap(expectedRevision: 0, map: map)
        #expect(created.map == map)
        #expect(created.revision > 0)
        // A second create loses and reports the stored revision.
        await #expect(throws: ShardMapStoreError.conflict(expected: 0, actual: created.revision)) {
            try await store.compareAndSwap(expectedRevision: 0, map: try TestMaps.next(map))
        }
        let loaded = try await store.load()
        #expect(loaded == created)
        await harness.release(store)
    }

    static func compareAndSwap(_ harness: some ShardMapStoreHarness, clusterID: String) async throws {
        let store = try await harness.makeStore(clusterID: clusterID, knownNodes: nil)
        let first = try await store.compareAndSwap(expectedRevision: 0, map: try TestMaps.initial())
        let second = try await store.compareAndSwap(expectedRevision: first.revision, map: try TestMaps.next(first.map))
        #expect(second.revision > first.revision)
        // A writer still holding the first revision loses and learns the current one.
        await #expect(throws: ShardMapStoreError.conflict(expected: first.revision, actual: second.revision)) {
            try await store.compareAndSwap(expectedRevision: first.revision, map: try TestMaps.next(second.map))
        }
        // A revision that was never stored loses too.
        await #expect(throws: ShardMapStoreError.conflict(expected: second.revision + 1000, actual: second.revision)) {
            try await store.compareAndSwap(expectedRevision: second.revision + 1000, map: try TestMaps.next(second.map))
        }
        #expect(try await store.load() == second)
        await harness.release(store)
    }

    /// The control records beside the map (the controller's lease and audit): absent, created once,
    /// compare-and-swapped, conflicts naming the current revision, each record apart from the map
    /// and from the other.
    static func controlRecords(_ harness: some ShardMapStoreHarness, clusterID: String) async throws {
        let anyStore = try await harness.makeStore(clusterID: clusterID, knownNodes: nil)
        let store = try #require(anyStore as? any ControlRecordStore)
        #expect(try await store.loadRecord(.controllerLease) == nil)
        let created = try await store.compareAndSwapRecord(.controllerLease, expectedRevision: 0, bytes: Array("one".utf8))
        #expect(created.revision > 0)
        await #expect(throws: ShardMapStoreError.conflict(expected: 0, actual: created.revision)) {
            try await store.compareAndSwapRecord(.controllerLease, expectedRevision: 0, bytes: Array("two".utf8))
        }
        let updated = try await store.compareAndSwapRecord(.controllerLease, expectedRevision: created.revision, bytes: Array("two".utf8))
        #expect(updated.revision > created.revision)
        await #expect(throws: ShardMapStoreError.conflict(expected: created.revision, actual: updated.revision)) {
            try await store.compareAndSwapRecord(.controllerLease, expectedRevision: created.revision, bytes: Array("three".utf8))
        }
        #expect(try await store.loadRecord(.controllerLease) == updated)
        #expect(try await store.loadRecord(.controllerAudit) == nil)
        #expect(try await anyStore.load() == nil)
        await harness.release(anyStore)
    }

    /// Two writers (two stores, as on two nodes) race from the same revision: exactly one wins,
    /// the other gets a conflict naming the winner's revision. Repeated a few rounds.
    static func concurrentWritersExactlyOneWins(_ harness: some ShardMapStoreHarness, clusterID: String) async throws {
        let a = try await harness.makeStore(clusterID: clusterID, knownNodes: nil)
        let b = try await harness.makeStore(clusterID: clusterID, knownNodes: nil)
        var current = try await a.compareAndSwap(expectedRevision: 0, map: try TestMaps.initial())
        for round in 0..<5 {
            let base = current
            var mapA = try TestMaps.next(base.map)
            try mapA.assign([SegmentID(round)], to: 1)
            var mapB = try TestMaps.next(base.map)
            try mapB.assign([SegmentID(round)], to: 2)
            let (ra, rb) = (mapA, mapB)
            async let outcomeA = result { try await a.compareAndSwap(expectedRevision: base.revision, map: ra) }
            async let outcomeB = result { try await b.compareAndSwap(expectedRevision: base.revision, map: rb) }
            let outcomes = await [outcomeA, outcomeB]
            let winners = outcomes.compactMap { try? $0.get() }
            #expect(winners.count == 1, "round \(round): \(outcomes)")
            guard let winner = winners.first else { break }
            for case .failure(let error) in outcomes {
                #expect(error == .conflict(expected: base.revision, actual: winner.revision), "round \(round)")
            }
            #expect(try await a.load() == winner)
            #expect(try await b.load() == winner)
            current = winner
        }
        await harness.release(a)
        await harness.release(b)
    }

    static func revisionsAreMonotonic(_ harness: some ShardMapStoreHarness, clusterID: String) async throws {
        let store = try await harness.makeStore(clusterID: clusterID, knownNodes: nil)
        var current = try await store.compareAndSwap(expectedRevision: 0, map: try TestMaps.initial())
        for _ in 0..<10 {
            let next = try await store.compareAndSwap(expectedRevision: current.revision, map: try TestMaps.next(current.map))
            #expect(next.revision > current.revision)
            #expect(next.map.epoch == current.map.epoch + 1)
            current = next
        }
        #expect(try await store.load() == current)
        await harness.release(store)
    }

    /// A watcher (on another store) sees every committed version in order, including versions
    /// committed before the watch started but after its `afterRevision`.
    static func watchDeliversEveryChangeInOrder(_ harness: some ShardMapStoreHarness, clusterID: String) async throws {
        let writer = try await harness.makeStore(clusterID: clusterID, knownNodes: nil)
        let reader = try await harness.makeStore(clusterID: clusterID, knownNodes: nil)
        var current = try await writer.compareAndSwap(expectedRevision: 0, map: try TestMaps.initial())
        var committed = [current]
        current = try await writer.compareAndSwap(expectedRevision: current.revision, map: try TestMaps.next(current.map))
        committed.append(current)
        let recorder = WatchRecorder()
        let watch = try await reader.watch(afterRevision: committed[0].revision, onChange: recorder.callback)
        for _ in 0..<8 {
            current = try await writer.compareAndSwap(expectedRevision: current.revision, map: try TestMaps.next(current.map))
            committed.append(current)
        }
        try await recorder.wait(forRevision: current.revision)
        #expect(recorder.versions == Array(committed.dropFirst()))
        watch.cancel()
        // After cancel, no more deliveries.
        let countAtCancel = recorder.versions.count
        _ = try await writer.compareAndSwap(expectedRevision: current.revision, map: try TestMaps.next(current.map))
        try await Task.sleep(for: .milliseconds(300))
        #expect(recorder.versions.count == countAtCancel)
        await harness.release(writer)
        await harness.release(reader)
    }

    /// Kill the replica everyone talks to: the watch and CAS go on with the majority; kill the
    /// majority: calls fail fast with `.unavailable`; restart: everything resumes, and the watch
    /// delivers the versions committed after the restart, in order, with no duplicates.
    static func survivesReplicaCrashes(_ harness: some ShardMapStoreHarness, clusterID: String) async throws {
        let writer = try await harness.makeStore(clusterID: clusterID, knownNodes: nil)
        let reader = try await harness.makeStore(clusterID: clusterID, knownNodes: nil)
        var current = try await writer.compareAndSwap(expectedRevision: 0, map: try TestMaps.initial())
        var committed = [current]
        let recorder = WatchRecorder()
        let watch = try await reader.watch(afterRevision: 0, onChange: recorder.callback)
        try await recorder.wait(forRevision: current.revision)

        try await harness.crashOneReplica()
        for _ in 0..<3 {
            current = try await writer.compareAndSwap(expectedRevision: current.revision, map: try TestMaps.next(current.map))
            committed.append(current)
        }
        try await recorder.wait(forRevision: current.revision)
        #expect(recorder.versions == committed)
        harness.checkWatchReconnected(watch)
        #expect(await writer.health().healthy)

        try await harness.crashMajority()
        let clock = ContinuousClock()
        let started = clock.now
        do {
            _ = try await writer.load()
            Issue.record("load succeeded without a majority")
        } catch {
            guard case .unavailable = error else { Issue.record("expected .unavailable, got \(error)"); throw error }
        }
        let refused = try TestMaps.next(current.map)
        do {
            _ = try await writer.compareAndSwap(expectedRevision: current.revision, map: refused)
            Issue.record("compare-and-swap succeeded without a majority")
        } catch {
            guard case .unavailable = error else { Issue.record("expected .unavailable, got \(error)"); throw error }
        }
        let elapsed = clock.now - started
        #expect(elapsed < harness.unavailableWithin, "unavailable took \(elapsed)")
        let health = await writer.health()
        #expect(!health.healthy, "\(health.detail)")

        try await harness.restartCrashed()
        // `.unavailable` from a CAS means "outcome unknown": a replica that still believed it led
        // may have logged it, and the restarted majority may commit it. Either way, load tells.
        let afterRestart = try await retryingWhileUnavailable { try await writer.load() }
        if let afterRestart, afterRestart.revision != current.revision {
            #expect(afterRestart.map == refused, "an unexpected version appeared: \(afterRestart)")
            current = afterRestart
            committed.append(afterRestart)
        }
        for _ in 0..<3 {
            current = try await retryingWhileUnavailable {
                try await writer.compareAndSwap(expectedRevision: current.revision, map: try TestMaps.next(current.map))
            }
            committed.append(current)
        }
        try await recorder.wait(forRevision: current.revision, timeout: .seconds(20))
        #expect(recorder.versions == committed)
        watch.cancel()
        await harness.release(writer)
        await harness.release(reader)
    }

    /// Malformed records: `load` says what is wrong (never crashes), a watch skips them and
    /// delivers the next good version, and a CAS on the bad record's revision repairs it.
    static func malformedRecords(_ harness: some ShardMapStoreHarness, clusterID: String) async throws {
        let store = try await harness.makeStore(clusterID: clusterID, knownNodes: nil)
        let good = try await store.compareAndSwap(expectedRevision: 0, map: try TestMaps.initial(shards: 2))
        let recorder = WatchRecorder()
        let watch = try await store.watch(afterRevision: good.revision, onChange: recorder.callback)
        let cases: [(record: String, expected: String)] = [
            ("{not json", "not valid JSON"),
            (#"{"segmentCount":4,"epoch":1,"segments":[{"first":2,"last":1,"shard":0}],"shards":[]}"#, "outside"),
            (#"{"segmentCount":4,"epoch":1,"segments":[{"first":0,"last":3,"shard":7}],"shards":[{"id":0,"replicas":[{"node":1,"zone":"a"}],"leaderHint":0,"epoch":1}]}"#, "shard 7"),
            (#"{"segmentCount":4,"epoch":1,"segments":[{"first":0,"last":2,"shard":0}],"shards":[{"id":0,"replicas":[{"node":1,"zone":"a"}],"leaderHint":0,"epoch":1}]}"#, "segment 3 is not assigned"),
            (#"{"segmentCount":4,"epoch":1,"segments":[{"first":0,"last":9,"shard":0}],"shards":[{"id":0,"replicas":[{"node":1,"zone":"a"}],"leaderHint":0,"epoch":1}]}"#, "outside 0..<4"),
            (#"{"segmentCount":0,"epoch":1,"segments":[],"shards":[]}"#, "segment count"),
            (#"{"segmentCount":4,"segments":[{"first":0,"last":3,"shard":0}],"shards":[{"id":0,"replicas":[{"node":1,"zone":"a"}],"leaderHint":0,"epoch":1}]}"#, "epoch: missing field"),
            ("", "empty"),
        ]
        for (record, expected) in cases {
            try await harness.writeRawRecord(Array(record.utf8), clusterID: clusterID)
            do {
                let loaded = try await store.load()
                Issue.record("record \(record) loaded as \(String(describing: loaded))")
            } catch {
                guard case .malformed(let message) = error else {
                    Issue.record("record \(record): expected .malformed, got \(error)")
                    continue
                }
                #expect(message.contains(expected), "record \(record): message '\(message)' does not mention '\(expected)'")
            }
        }
        // Repair: the stored record's revision is the newest one; a CAS on it replaces the record.
        let badRevision = try await currentRevision(store)
        let repaired = try await store.compareAndSwap(expectedRevision: badRevision, map: try TestMaps.next(good.map))
        #expect(try await store.load() == repaired)
        try await recorder.wait(forRevision: repaired.revision)
        #expect(recorder.versions == [repaired], "the watch delivers only well-formed versions")
        watch.cancel()
        await harness.release(store)
    }

    /// A map naming nodes that are not members is refused as `.invalid` before it is stored.
    static func mapWithUnknownNodesIsInvalid(_ harness: some ShardMapStoreHarness, clusterID: String) async throws {
        let store = try await harness.makeStore(clusterID: clusterID, knownNodes: TestMaps.knownNodes)
        let stranger = try ShardMap.initial(keying: SegmentKeying(segmentCount: 8), shardCount: 1) { _ in
            [ReplicaLocation(node: 1, zone: "zone-a"), ReplicaLocation(node: 9, zone: "zone-d")]
        }
        do {
            _ = try await store.compareAndSwap(expectedRevision: 0, map: stranger)
            Issue.record("a map naming node 9 was stored")
        } catch {
            guard case .invalid(let message) = error else { Issue.record("expected .invalid, got \(error)"); return }
            #expect(message.contains("node 9"))
        }
        let wrongZone = try ShardMap.initial(keying: SegmentKeying(segmentCount: 8), shardCount: 1) { _ in
            [ReplicaLocation(node: 1, zone: "zone-b")]
        }
        await #expect(throws: ShardMapStoreError.self) { try await store.compareAndSwap(expectedRevision: 0, map: wrongZone) }
        #expect(try await store.load() == nil)
        _ = try await store.compareAndSwap(expectedRevision: 0, map: try TestMaps.initial())
        await harness.release(store)
    }

    static func healthOfAServingStore(_ harness: some ShardMapStoreHarness, clusterID: String) async throws {
        let store = try await harness.makeStore(clusterID: clusterID, knownNodes: nil)
        let health = await store.health()
        #expect(health.healthy, "\(health.detail)")
        #expect(!health.detail.isEmpty)
        await harness.release(store)
    }

    // MARK: Helpers

    /// The revision the store reports in a conflict for a CAS that cannot win.
    static func currentRevision(_ store: any ShardMapStore) async throws -> UInt64 {
        let map = try TestMaps.initial()
        do {
            _ = try await store.compareAndSwap(expectedRevision: UInt64(Int64.max - 1), map: map)
        } catch {
            if case .conflict(_, let actual) = error { return actual }
            throw error
        }
        throw EtcdTestError("a CAS on an impossible revision won")
    }

    static func result<T: Sendable>(_ body: () async throws -> T) async -> Result<T, ShardMapStoreError> {
        do {
            return .success(try await body())
        } catch let error as ShardMapStoreError {
            return .failure(error)
        } catch {
            return .failure(.invalid("unexpected error \(error)"))
        }
    }

    /// Retries while the store reports `.unavailable` (a restarted cluster electing a leader).
    static func retryingWhileUnavailable<T>(timeout: Duration = .seconds(15), _ body: () async throws -> T) async throws -> T {
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: timeout)
        while true {
            do {
                return try await body()
            } catch let error as ShardMapStoreError {
                guard case .unavailable = error, clock.now < deadline else { throw error }
                try await Task.sleep(for: .milliseconds(100))
            }
        }
    }
}
