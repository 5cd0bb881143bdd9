import AlmanacClient
import AlmanacKeyspace
import AlmanacShardMap
import AlmanacTestSupport
import Foundation
import Synchronization
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// The embedded instance of the conformance suite: the map lives in the system Raft group of a
/// real 3-node Almanac cluster (`almanac serve` processes on loopback, one per zone), and the
/// crashes are SIGKILLs of those processes.
struct EmbeddedHarness: ShardMapStoreHarness {
    let cluster: TestCluster
    /// Nodes this harness killed, restarted by ``restartCrashed()``.
    let crashed = CrashedNodes()

    /// Calls get 6 s (a loaded CI machine running other clusters beside this one can hold a
    /// commit or a ReadIndex round for over a second); without a majority both fail in 2 x 6 s.
    static let callTimeout: Duration = .seconds(6)

    var unavailableWithin: Duration { Self.callTimeout * 2 + .seconds(2) }

    func makeStore(clusterID: String, knownNodes: [NodeID: ZoneName]?) async throws -> any ShardMapStore {
        try EmbeddedShardMapStore(endpoints: cluster.endpoints, clusterID: clusterID, knownNodes: knownNodes,
                                  callTimeout: Self.callTimeout, watchWait: .seconds(2))
    }

    func release(_ store: any ShardMapStore) async {
        await store.shutdown()
    }

    /// A compare-and-swap of raw bytes over whatever is stored, straight through the client protocol.
    func writeRawRecord(_ bytes: [UInt8], clusterID: String) async throws {
        let client = cluster.client(operationTimeout: 10)
        defer { Task { await client.shutdown() } }
        let key = "shardmap/\(clusterID)"
        let current = try await client.systemStoreLoad(key: key)
        switch try await client.systemStoreCompareAndSwap(key: key, expectedRevision: current?.revision ?? 0, value: bytes) {
        case .success: return
        case .failure(let conflict): throw ClusterError("raw write lost to revision \(conflict.current?.revision ?? 0)")
        }
    }

    /// Kills the system group's leader (the replica every store and watch is served by).
    func crashOneReplica() async throws {
        let leader = try await systemLeader()
        crashed.add(leader)
        cluster.kill(leader)
        try await waitForSystemLeader()
    }

    /// Kills running nodes until no majority is left.
    func crashMajority() async throws {
        while cluster.members.count - crashed.count > cluster.members.count / 2,
              let id = cluster.members.map(\.id).first(where: { !crashed.contains($0) }) {
            crashed.add(id)
            cluster.kill(id)
        }
    }

    func restartCrashed() async throws {
        for id in crashed.takeAll() { try await cluster.restart(id) }
        try await waitForSystemLeader()
    }

    private func systemLeader() async throws -> UInt64 {
        let client = cluster.client(operationTimeout: 10)
        defer { Task { await client.shutdown() } }
        let status = try await client.status()
        guard status.hasSystemGroup, status.systemGroup.leaderNodeID != 0 else { throw ClusterError("the system group has no leader") }
        return status.systemGroup.leaderNodeID
    }

    private func waitForSystemLeader() async throws {
        let client = cluster.client(operationTimeout: 20)
        defer { Task { await client.shutdown() } }
        _ = try await client.systemStoreLoad(key: "probe")
    }
}

final class CrashedNodes: Sendable {
    private let ids = Mutex<[UInt64]>([])
    func add(_ id: UInt64) { ids.withLock { $0.append(id) } }
    func contains(_ id: UInt64) -> Bool { ids.withLock { $0.contains(id) } }
    var count: Int { ids.withLock { $0.count } }
    func takeAll() -> [UInt64] { ids.withLock { all in defer { all.removeAll() }; return all } }
}

enum EmbeddedEnvironment {
    @TaskLocal static var cluster: TestCluster?

    static func harness() async throws -> EmbeddedHarness {
        guard let cluster else { throw ClusterError("no cluster in scope") }
        return EmbeddedHarness(cluster: cluster)
    }
}

/// Starts one 3-node Almanac cluster around the whole suite.
struct AlmanacClusterTrait: SuiteTrait, TestScoping {
    var isRecursive: Bool { false }

    func provideScope(for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void) async throws {
        let cluster = try await TestCluster.start(name: "embedded-map", shards: 1)
        defer { cluster.shutdown() }
        try await EmbeddedEnvironment.$cluster.withValue(cluster) { try await function() }
    }
}

@Suite("EmbeddedShardMapStore on the system group of a real 3-node cluster", .serialized, AlmanacClusterTrait())
struct EmbeddedShardMapStoreTests {
    @Test func loadOfEmptyStore() async throws {
        try await ShardMapStoreConformance.loadOfEmptyStore(await EmbeddedEnvironment.harness(), clusterID: EtcdEnvironment.clusterID())
    }

    @Test func createIfAbsent() async throws {
        try await ShardMapStoreConformance.createIfAbsent(await EmbeddedEnvironment.harness(), clusterID: EtcdEnvironment.clusterID())
    }

    @Test func controlRecords() async throws {
        try await ShardMapStoreConformance.controlRecords(await EmbeddedEnvironment.harness(), clusterID: EtcdEnvironment.clusterID())
    }

    @Test func compareAndSwapSucceedsAndConflicts() async throws {
        try await ShardMapStoreConformance.compareAndSwap(await EmbeddedEnvironment.harness(), clusterID: EtcdEnvironment.clusterID())
    }

    @Test func concurrentWritersExactlyOneWins() async throws {
        try await ShardMapStoreConformance.concurrentWritersExactlyOneWins(await EmbeddedEnvironment.harness(), clusterID: EtcdEnvironment.clusterID())
    }

    @Test func revisionsAreMonotonic() async throws {
        try await ShardMapStoreConformance.revisionsAreMonotonic(await EmbeddedEnvironment.harness(), clusterID: EtcdEnvironment.clusterID())
    }

    @Test func watchDeliversEveryChangeInOrder() async throws {
        try await ShardMapStoreConformance.watchDeliversEveryChangeInOrder(await EmbeddedEnvironment.harness(), clusterID: EtcdEnvironment.clusterID())
    }

    @Test func malformedRecords() async throws {
        try await ShardMapStoreConformance.malformedRecords(await EmbeddedEnvironment.harness(), clusterID: EtcdEnvironment.clusterID())
    }

    @Test func mapWithUnknownNodesIsInvalid() async throws {
        try await ShardMapStoreConformance.mapWithUnknownNodesIsInvalid(await EmbeddedEnvironment.harness(), clusterID: EtcdEnvironment.clusterID())
    }

    @Test func healthOfAServingStore() async throws {
        try await ShardMapStoreConformance.healthOfAServingStore(await EmbeddedEnvironment.harness(), clusterID: EtcdEnvironment.clusterID())
    }

    /// The cluster's own map: stored by the nodes at start-up in the system group (create-if-absent).
    @Test func nodesStoreTheClusterMapAtStartUp() async throws {
        let harness = try await EmbeddedEnvironment.harness()
        let cluster = harness.cluster
        let clusterID = "it-embedded-map"  // TestCluster's cluster id for the name "embedded-map"
        let store = try await harness.makeStore(clusterID: clusterID, knownNodes: nil)
        let stored = try #require(try await ShardMapStoreConformance.retryingWhileUnavailable { try await store.load() })
        #expect(stored.map.shards.count == 1)
        #expect(stored.map.keying.segmentCount == 4096)
        await store.shutdown()
    }

    /// Last: it kills nodes (and restarts them).
    @Test func survivesNodeKills() async throws {
        try await ShardMapStoreConformance.survivesReplicaCrashes(await EmbeddedEnvironment.harness(), clusterID: EtcdEnvironment.clusterID())
    }
}
