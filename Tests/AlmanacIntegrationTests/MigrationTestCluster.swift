import AlmanacCoordinator
import AlmanacKeyspace
import AlmanacNode
import AlmanacRaft
import AlmanacShardMap
import AlmanacTestSupport
import Foundation
import Logging
import Synchronization

/// Real multi-Raft hosts in this process (real sockets, real WAL and fsync) plus a shard map store
/// in memory, reached through the same ``ReplicaAdminTransport`` and ``ShardMapStore`` protocols the
/// production migration driver uses. One call budget covers both: once spent, nothing reaches a
/// host or the store (the driving process died); `losingTheLastAnswer` lands the last call but
/// loses its answer. Hosts can be stopped and restarted on their data (a node crash and restart).
final class MigrationTestCluster: ReplicaAdminTransport, ShardMapStore, Sendable {
    struct Budget {
        var remaining: Int?
        var loseLast = false
        var calls = 0
        var map: VersionedShardMap
    }

    static let logger = Logger(label: "almanac.test.migration", factory: { _ in SwiftLogNoOpLogHandler() })
    let members: [ClusterMember]
    let root: String
    private let configure: @Sendable (inout HostConfiguration) -> Void
    private let hosts: Mutex<[NodeID: MultiRaftHost<PayloadList>]>
    private let budget: Mutex<Budget>
    /// Every configuration a call answered with and every map version stored, in order.
    private let recorded = Mutex<[MigrationHistory.Event]>([])

    var history: [MigrationHistory.Event] { recorded.withLock { $0 } }

    var zones: [NodeID: ZoneName] { Dictionary(members.map { ($0.id, $0.zone) }, uniquingKeysWith: { a, _ in a }) }

    /// Nodes 1-3 in zones a, b, c and node 4 in zone a (it hosts nothing at first); one group.
    static func start(configure: @escaping @Sendable (inout HostConfiguration) -> Void = { _ in }) async throws -> MigrationTestCluster {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("almanac-migration-\(UUID().uuidString.prefix(8))").path
        let ports = try TestCluster.freePorts(count: 4)
        let zones = ["zone-a", "zone-b", "zone-c", "zone-a"]
        let members = (0..<4).map { i in
            ClusterMember(id: UInt64(i + 1), zone: zones[i], peerAddress: "127.0.0.1:\(ports[i])", apiAddress: "127.0.0.1:1")
        }
        let map = try ShardMap.initial(keying: try SegmentKeying(segmentCount: 16), shardCount: 1) { shard in
            ReplicaPlacement.replicas(of: UInt64(shard), members: members).map { node in
                ReplicaLocation(node: node, zone: members.first { $0.id == node }?.zone ?? "")
            }
        }
        let cluster = MigrationTestCluster(members: members, root: root, map: map, configure: configure)
        for member in members { try await cluster.startHost(member.id) }
        return cluster
    }

    private init(members: [ClusterMember], root: String, map: ShardMap, configure: @escaping @Sendable (inout HostConfiguration) -> Void) {
        self.configure = configure
        self.members = members
        self.root = root
        self.hosts = Mutex([:])
        self.budget = Mutex(Budget(map: VersionedShardMap(map: map, revision: 1)))
    }

    func startHost(_ id: NodeID) async throws {
        var configuration = HostConfiguration(nodeID: id, members: members, groupCount: 1)
        configuration.tickInterval = .milliseconds(20)
        configuration.snapshotEveryEntries = 40
        configuration.snapshotChunkBytes = 512
        configuration.requestTimeout = .seconds(3)
        configure(&configuration)
        let host = try await MultiRaftHost<PayloadList>.start(configuration: configuration, dataDirectory: "\(root)/node\(id)",
                                                             clusterID: "migration-test", logger: Self.logger)
        hosts.withLock { $0[id] = host }
    }

    /// Stops host `id` (its data stays: a crash without the torn tail, then `startHost` restarts it).
    func stopHost(_ id: NodeID) async {
        guard let host = hosts.withLock({ $0.removeValue(forKey: id) }) else { return }
        await host.stop()
    }

    var running: [NodeID: MultiRaftHost<PayloadList>] { hosts.withLock { $0 } }

    func stopAll() async {
        for id in running.keys { await stopHost(id) }
        try? FileManager.default.removeItem(atPath: root)
    }

    /// Runs `body` on a fresh cluster and stops it afterwards, whether `body` threw or not.
    static func with(configure: @escaping @Sendable (inout HostConfiguration) -> Void = { _ in },
                     _ body: (MigrationTestCluster) async throws -> Void) async throws {
        let cluster = try await start(configure: configure)
        do {
            try await body(cluster)
        } catch {
            await cluster.stopAll()
            throw error
        }
        await cluster.stopAll()
    }

    // MARK: - Driver budget

    func crash(after calls: Int, losingTheLastAnswer: Bool) {
        budget.withLock { $0.remaining = calls; $0.loseLast = losingTheLastAnswer; $0.calls = 0 }
    }

    func recover() { budget.withLock { $0.remaining = nil; $0.loseLast = false } }
    var calls: Int { budget.withLock { $0.calls } }
    var map: ShardMap { budget.withLock { $0.map.map } }

    /// Spends one call: false when the driver is "dead". `answered` tells whether its answer arrives.
    private func spend() -> (lands: Bool, answered: Bool) {
        budget.withLock { state in
            state.calls += 1
            guard let remaining = state.remaining else { return (true, true) }
            if remaining <= 0 { return (false, false) }
            state.remaining = remaining - 1
            return (true, !(state.loseLast && remaining == 1))
        }
    }

    // MARK: - Client work

    /// Proposes through whichever host leads the group, retrying through elections and changes.
    func propose(_ payload: [UInt8]) async throws -> AppliedResult<Int> {
        for _ in 0..<300 {
            for host in running.values {
                do throws(HostError) {
                    return try await host.propose(group: 0, data: payload)
                } catch {
                    if case .notLeader = error { continue }
                    if case .unknownGroup = error { continue }
                    try await Task.sleep(for: .milliseconds(20))
                }
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw ClusterError("no host accepted a proposal")
    }

    /// The leader's configuration (waiting for one).
    func leaderView() async throws -> ReplicaConfiguration {
        for _ in 0..<300 {
            for host in running.values {
                if let view = try? await host.configuration(of: 0), view.isLeader { return view }
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw ClusterError("no leader")
    }

    /// The nodes hosting a replica of the group right now.
    func hostingNodes() async -> Set<NodeID> {
        var nodes: Set<NodeID> = []
        for (id, host) in running where (try? await host.configuration(of: 0)) != nil { nodes.insert(id) }
        return nodes
    }

    // MARK: - ReplicaAdminTransport

    func replicaAdmin(shard: ShardID, call: ReplicaAdminCall, on node: NodeID?) async -> Result<ReplicaConfiguration?, ReplicaAdminFailure> {
        let spent = spend()
        guard spent.lands else { return .failure(.unknown("the driver died")) }
        let outcome = await land(call, on: node, group: UInt64(shard))
        return spent.answered ? outcome : .failure(.unknown("the answer was lost"))
    }

    private func land(_ call: ReplicaAdminCall, on node: NodeID?, group: UInt64) async -> Result<ReplicaConfiguration?, ReplicaAdminFailure> {
        let outcome = await execute(call, on: node, group: group)
        // The history checker follows group 0 (the migrations'); new shards are checked apart.
        if case .success(let view?) = outcome, view.isLeader, group == 0 { recorded.withLock { $0.append(.configuration(view)) } }
        if case .success = outcome, case .found(let voters) = call, let node, let shard = ShardID(exactly: group) {
            recorded.withLock { $0.append(.founded(node: node, shard: shard, voters: voters)) }
        }
        return outcome
    }

    private func execute(_ call: ReplicaAdminCall, on node: NodeID?, group: UInt64) async -> Result<ReplicaConfiguration?, ReplicaAdminFailure> {
        let candidates: [MultiRaftHost<PayloadList>]
        if let node {
            guard let host = running[node] else { return .failure(.unknown("node \(node) is down")) }
            candidates = [host]
        } else {
            var leaders: [MultiRaftHost<PayloadList>] = []
            for host in running.values {
                if let view = try? await host.configuration(of: group), view.isLeader { leaders.append(host) }
            }
            guard !leaders.isEmpty else { return .failure(.unknown("no leader")) }
            candidates = leaders
        }
        var last = HostError.unavailable("no host")
        for host in candidates {
            do throws(HostError) {
                return .success(try await host.replicaAdmin(group: group, call))
            } catch {
                if case .invalid(let reason) = error { return .failure(.refused(reason)) }
                last = error
            }
        }
        return .failure(.unknown("\(last)"))
    }

    // MARK: - ShardMapStore

    var backendName: String { "memory" }

    func load() async throws(ShardMapStoreError) -> VersionedShardMap? {
        let spent = spend()
        guard spent.lands else { throw .unavailable("the driver died") }
        let map = budget.withLock { $0.map }
        guard spent.answered else { throw .unavailable("the answer was lost") }
        return map
    }

    func compareAndSwap(expectedRevision: UInt64, map: ShardMap) async throws(ShardMapStoreError) -> VersionedShardMap {
        let spent = spend()
        guard spent.lands else { throw .unavailable("the driver died") }
        let outcome: Result<VersionedShardMap, ShardMapStoreError> = budget.withLock { state in
            guard state.map.revision == expectedRevision else {
                return .failure(.conflict(expected: expectedRevision, actual: state.map.revision))
            }
            guard let bytes = try? ShardMapRecord.encode(map), let decoded = try? ShardMapRecord.decode(bytes, source: "memory") else {
                return .failure(.invalid("the map does not round-trip"))
            }
            state.map = VersionedShardMap(map: decoded, revision: state.map.revision + 1)
            recorded.withLock { $0.append(.map(decoded)) }
            return .success(state.map)
        }
        guard spent.answered else { throw .unavailable("the answer was lost") }
        return try outcome.get()
    }

    func watch(afterRevision: UInt64, onChange: @escaping @Sendable (VersionedShardMap) -> Void) async throws(ShardMapStoreError) -> any ShardMapWatch {
        throw .unavailable("the in-memory store does not watch")
    }

    func health() async -> ShardMapStoreHealth { ShardMapStoreHealth(healthy: true, detail: "memory") }
    func shutdown() async {}
}
