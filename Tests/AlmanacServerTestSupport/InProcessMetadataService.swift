import AlmanacMetadata
import AlmanacServer
import AlmanacWire

/// TEST DOUBLE: a ``MetadataService`` that applies commands directly to one in-memory
/// ``MetadataStateMachine`` (no Raft, no WAL, no replication, no durability). It exists only so the
/// API server and client can be tested over real sockets; the node runtime is the real backend.
///
/// Knobs let tests inject backend behaviour: a NOT_LEADER redirect, UNAVAILABLE, a delay per
/// request, and "applied but the answer was lost" (the write is applied, then TIMEOUT is thrown).
public actor InProcessMetadataService: MetadataService {
    public private(set) var state: MetadataStateMachine
    private var lastIndex: UInt64 = 0
    private var clockNanoseconds: Int64 = 1_700_000_000_000_000_000

    /// When set, every request fails with NOT_LEADER and this hint.
    public var redirect: LeaderHint?
    /// When > 0, that many requests fail with UNAVAILABLE (nothing applied).
    public var unavailableCount = 0
    /// When > 0, that many writes are applied and then answered with TIMEOUT (lost answer).
    public var loseAnswerCount = 0
    /// Sleep before serving each request.
    public var delay: Duration?
    /// Writes that reached the state machine (retries answered from the session cache included).
    public private(set) var appliedWrites = 0
    /// Writes that actually changed the namespace's applied index with a new command.
    public private(set) var operationsSeen: [MetadataOperation] = []

    public nonisolated let sessionLeaseMilliseconds: UInt32
    public nonisolated let nodeID: UInt64

    public init(config: MetadataConfig = MetadataConfig(), nodeID: UInt64 = 1, sessionLeaseMilliseconds: UInt32 = 60_000) {
        self.state = MetadataStateMachine(config: config)
        self.nodeID = nodeID
        self.sessionLeaseMilliseconds = sessionLeaseMilliseconds
    }

    public func setRedirect(_ hint: LeaderHint?) { redirect = hint }
    public func setUnavailable(count: Int) { unavailableCount = count }
    public func setLoseAnswer(count: Int) { loseAnswerCount = count }
    public func setDelay(_ delay: Duration?) { self.delay = delay }

    /// Requests in progress now, and the most ever in progress at once.
    public private(set) var concurrent = 0
    public private(set) var maxConcurrent = 0

    private func gate(_ shard: ShardID) async throws(ServiceError) {
        concurrent += 1
        maxConcurrent = max(maxConcurrent, concurrent)
        defer { concurrent -= 1 }
        if let delay { try? await Task.sleep(for: delay) }
        if let redirect { throw ServiceError(.notLeader, "node \(nodeID) is not the leader of shard \(shard)", leaderHint: redirect) }
        if unavailableCount > 0 {
            unavailableCount -= 1
            throw ServiceError(.unavailable, "shard \(shard) has no quorum (injected)")
        }
        guard shard == state.config.shardID else {
            throw ServiceError(.wrongShard, "shard \(shard) is not hosted here (test double hosts shard \(state.config.shardID))")
        }
    }

    public func submit(
        shard: ShardID, operation: MetadataOperation, session: SessionRef?, durability: Durability
    ) async throws(ServiceError) -> WriteOutcome {
        try await gate(shard)
        lastIndex += 1
        clockNanoseconds += 1_000_000
        let envelope = CommandEnvelope(
            shardID: shard, sessionID: session?.id ?? 0, sequence: session?.sequence ?? 0,
            time: Timestamp(nanoseconds: clockNanoseconds), operation: operation)
        let result = state.apply(envelope, at: lastIndex)
        appliedWrites += 1
        operationsSeen.append(operation)
        if loseAnswerCount > 0 {
            loseAnswerCount -= 1
            throw ServiceError(.timeout, "answer lost (injected) after applying at index \(lastIndex)")
        }
        return WriteOutcome(result: result, index: lastIndex)
    }

    public func read(shard: ShardID, consistency: ReadConsistency, query: MetadataQuery) async throws(ServiceError) -> ReadOutcome {
        try await gate(shard)
        return ReadOutcome(result: query.evaluate(on: state), appliedIndex: state.appliedIndex)
    }

    public func clusterStatus(stateDigests: Bool) async throws(ServiceError) -> Almanac_Api_V1_ClusterStatus {
        var status = Almanac_Api_V1_ClusterStatus()
        status.responderNodeID = nodeID
        var node = Almanac_Api_V1_NodeStatus()
        node.nodeID = nodeID
        node.zone = "test-zone"
        node.health = .alive
        status.nodes = [node]
        var zone = Almanac_Api_V1_ZoneStatus()
        zone.zone = "test-zone"
        zone.health = .healthy
        zone.nodeIds = [nodeID]
        status.zones = [zone]
        var shard = Almanac_Api_V1_ShardStatus()
        shard.shardID = UInt64(state.config.shardID)
        shard.leaderNodeID = redirect == nil ? nodeID : redirect?.nodeID ?? 0
        shard.commitIndex = lastIndex
        shard.appliedIndex = state.appliedIndex
        status.shards = [shard]
        return status
    }
}
