@testable import AlmanacCoordinator
import AlmanacKeyspace
@testable import AlmanacMetadata
import AlmanacShardMap
import Synchronization

/// Shards as state machines in memory plus a shard map store in memory, reached through the same
/// ``ShardCommandTransport`` and ``ShardMapStore`` protocols the production hand-off driver uses.
/// One call budget covers both: once spent, nothing reaches a shard or the store (the driving
/// process died); `losingTheLastAnswer` lands the last call but loses its answer.
final class HandoffTestCluster: ShardCommandTransport, ShardMapStore, Sendable {
    struct State {
        var shards: [ShardID: MetadataStateMachine] = [:]
        var indexes: [ShardID: UInt64] = [:]
        var time = Timestamp(seconds: 1_000_000)
        var map: VersionedShardMap
        var budget: Int?
        var applyThenFail = false
        /// Every shard command that landed, in order.
        var history: [(ShardID, MetadataOperation)] = []
        var calls = 0
    }

    let state: Mutex<State>

    init(map: ShardMap) {
        var state = State(map: VersionedShardMap(map: map, revision: 1))
        for shard in map.shards.keys {
            state.shards[shard] = MetadataStateMachine(
                config: MetadataConfig(shardID: shard, keying: map.keying),
                ownership: SegmentOwnership(keying: map.keying, owned: map.segments(of: shard), epoch: 1))
        }
        self.state = Mutex(state)
    }

    /// Spends one call of the budget; nil when the driver is "dead". `land` runs when the call lands.
    private func spend<T>(_ land: (inout State) -> T) -> T? {
        state.withLock { state in
            state.calls += 1
            if let budget = state.budget {
                if budget <= 0 { return nil }
                state.budget = budget - 1
            }
            let value = land(&state)
            if state.applyThenFail, state.budget == 0 { return nil }
            return value
        }
    }

    /// Applies `operation` on `shard` as a client or the driver would (no budget).
    @discardableResult
    func apply(_ operation: MetadataOperation, on shard: ShardID, session: SessionID = 0, sequence: SequenceNumber = 0) -> CommandResult {
        state.withLock { Self.land(operation, on: shard, session: session, sequence: sequence, &$0) }
    }

    private static func land(_ operation: MetadataOperation, on shard: ShardID, session: SessionID, sequence: SequenceNumber, _ state: inout State) -> CommandResult {
        state.time.nanoseconds += 1_000
        let index = (state.indexes[shard] ?? 0) + 1
        state.indexes[shard] = index
        let envelope = CommandEnvelope(shardID: shard, sessionID: session, sequence: sequence, time: state.time, operation: operation)
        // Through the journal codec, as a replica applies it.
        return state.shards[shard]?.apply(encoded: envelope.encoded(), at: index) ?? .failure(MetadataError(.wrongShard, "no shard \(shard)"))
    }

    func machine(_ shard: ShardID) -> MetadataStateMachine? { state.withLock { $0.shards[shard] } }
    var map: ShardMap { state.withLock { $0.map.map } }
    var calls: Int { state.withLock { $0.calls } }
    var history: [(ShardID, MetadataOperation)] { state.withLock { $0.history } }

    func crash(after calls: Int, losingTheLastAnswer: Bool) {
        state.withLock { $0.budget = calls; $0.applyThenFail = losingTheLastAnswer; $0.calls = 0 }
    }

    func recover() { state.withLock { $0.budget = nil; $0.applyThenFail = false } }

    /// Restarts every shard from its own snapshot (what a replica does after a crash).
    func restartShards() throws {
        try state.withLock { state in
            for (shard, machine) in state.shards { state.shards[shard] = try MetadataStateMachine(restoringFrom: machine.snapshot()) }
        }
    }

    // MARK: - ShardCommandTransport

    func command(_ operation: MetadataOperation, on shard: ShardID) async -> Result<(CommandResult, UInt64), CommandFailure> {
        let outcome: (CommandResult, UInt64)? = spend { state in
            let result = Self.land(operation, on: shard, session: 0, sequence: 0, &state)
            state.history.append((shard, operation))
            return (result, state.indexes[shard] ?? 0)
        }
        guard let outcome else { return .failure(CommandFailure(reason: "the driver died")) }
        return .success(outcome)
    }

    // MARK: - ShardMapStore

    var backendName: String { "memory" }

    func load() async throws(ShardMapStoreError) -> VersionedShardMap? {
        guard let map = spend({ $0.map }) else { throw .unavailable("the driver died") }
        return map
    }

    func compareAndSwap(expectedRevision: UInt64, map: ShardMap) async throws(ShardMapStoreError) -> VersionedShardMap {
        let outcome: Result<VersionedShardMap, ShardMapStoreError>? = spend { state in
            guard state.map.revision == expectedRevision else {
                return .failure(.conflict(expected: expectedRevision, actual: state.map.revision))
            }
            // Through the stored form, as both real backends keep it.
            guard let bytes = try? ShardMapRecord.encode(map), let decoded = try? ShardMapRecord.decode(bytes, source: "memory") else {
                return .failure(.invalid("the map does not round-trip"))
            }
            state.map = VersionedShardMap(map: decoded, revision: state.map.revision + 1)
            return .success(state.map)
        }
        guard let outcome else { throw .unavailable("the driver died") }
        return try outcome.get()
    }

    func watch(afterRevision: UInt64, onChange: @escaping @Sendable (VersionedShardMap) -> Void) async throws(ShardMapStoreError) -> any ShardMapWatch {
        throw .unavailable("the in-memory store does not watch")
    }

    func health() async -> ShardMapStoreHealth { ShardMapStoreHealth(healthy: true, detail: "memory") }
    func shutdown() async {}
}
