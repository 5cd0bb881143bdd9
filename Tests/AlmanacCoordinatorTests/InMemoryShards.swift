@testable import AlmanacCoordinator
import AlmanacMetadata
import Synchronization

/// Shards as plain state machines in memory, reached through the same ``TransactionTransport`` the
/// production coordinator and resolver use. A command budget models a coordinator crash at a step
/// boundary: once spent, no command reaches a shard any more (`applyThenFail` also loses the answer
/// of the last one that did land).
final class InMemoryShards: TransactionTransport, @unchecked Sendable {
    struct State {
        var shards: [ShardID: MetadataStateMachine]
        var indexes: [ShardID: UInt64] = [:]
        var time = Timestamp(seconds: 1_000_000)
        /// Commands that may still land; nil: unlimited.
        var budget: Int?
        var applyThenFail = false
        /// Every command that landed, in order (the recorded history the checkers read).
        var history: [(ShardID, MetadataOperation, CommandResult)] = []
    }

    let map: ShardMap
    let state: Mutex<State>

    init(map: ShardMap) {
        self.map = map
        var shards: [ShardID: MetadataStateMachine] = [:]
        for shard in map.shards.keys {
            shards[shard] = MetadataStateMachine(
                config: MetadataConfig(shardID: shard, keying: map.keying),
                ownership: SegmentOwnership(keying: map.keying, owned: map.segments(of: shard), epoch: 1))
        }
        state = Mutex(State(shards: shards))
    }

    /// Applies a session-less or session command directly (setup and the client's own attempts).
    @discardableResult
    func apply(_ operation: MetadataOperation, on shard: ShardID, session: SessionID = 0, sequence: SequenceNumber = 0) -> CommandResult {
        state.withLock { state in
            state.time.nanoseconds += 1_000
            let index = (state.indexes[shard] ?? 0) + 1
            state.indexes[shard] = index
            let envelope = CommandEnvelope(shardID: shard, sessionID: session, sequence: sequence, time: state.time, operation: operation)
            return state.shards[shard]?.apply(envelope, at: index) ?? .failure(MetadataError(.wrongShard, "no shard \(shard)"))
        }
    }

    func machine(_ shard: ShardID) -> MetadataStateMachine? { state.withLock { $0.shards[shard] } }

    // MARK: - TransactionTransport

    func command(_ operation: MetadataOperation, on shard: ShardID) async -> Result<(CommandResult, UInt64), CommandFailure> {
        let outcome: (CommandResult, UInt64)? = state.withLock { state in
            if let budget = state.budget {
                if budget <= 0 { return nil }
                state.budget = budget - 1
            }
            state.time.nanoseconds += 1_000
            let index = (state.indexes[shard] ?? 0) + 1
            state.indexes[shard] = index
            let envelope = CommandEnvelope(shardID: shard, sessionID: 0, sequence: 0, time: state.time, operation: operation)
            let result = state.shards[shard]?.apply(envelope, at: index) ?? .failure(MetadataError(.wrongShard, "no shard \(shard)"))
            state.history.append((shard, operation, result))
            if state.applyThenFail, state.budget == 0 { return nil }
            return (result, index)
        }
        guard let outcome else { return .failure(CommandFailure(reason: "coordinator crashed")) }
        return .success(outcome)
    }

    func shardMap() async throws(CommandFailure) -> ShardMap { map }

    func entry(parent: InodeID, name: ByteString) async throws(PlanFailure) -> (InodeID, FileType) {
        guard let shard = map.shard(of: parent), let machine = machine(shard) else {
            throw .namespace(MetadataError(.einval, "no shard for \(parent)"))
        }
        do {
            let found = try machine.lookupEntry(parent: parent, name: name)
            return (found.id, found.type)
        } catch {
            throw .namespace(error)
        }
    }

    func attributes(of id: InodeID) async throws(PlanFailure) -> (InodeAttributes, parent: InodeID?) {
        guard let shard = map.shard(of: id), let machine = machine(shard) else {
            throw .namespace(MetadataError(.einval, "no shard for \(id)"))
        }
        do {
            return (try machine.getattr(id), machine.directoryParent(id))
        } catch {
            throw .namespace(error)
        }
    }

    func transactionsInDoubt(on shard: ShardID) async -> [(id: TransactionID, preparedAt: Timestamp)]? {
        machine(shard)?.transactionsInDoubt
    }

    func ledShards() async -> [ShardID] { map.shards.keys.sorted() }

    /// Lifts any crash: commands land again.
    func recover() { state.withLock { $0.budget = nil; $0.applyThenFail = false } }

    func crash(after commands: Int, losingTheLastAnswer: Bool) {
        state.withLock { $0.budget = commands; $0.applyThenFail = losingTheLastAnswer }
    }

    var now: Timestamp { state.withLock { $0.time } }
}
