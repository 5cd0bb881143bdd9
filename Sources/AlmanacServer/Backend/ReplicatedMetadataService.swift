import AlmanacMetadata
import AlmanacNode
import AlmanacRaft
import AlmanacWire
import Foundation
import NIOCore

/// The real ``MetadataService``: every shard is a Raft group of the node's ``MultiRaftHost``.
///
/// - Writes: the leader builds the ``CommandEnvelope`` (its wall-clock time, the session and
///   sequence, the shard id, migration timestamp 0), proposes it and answers once the entry is
///   committed by a majority and applied here. `Durability.async` is answered ahead of
///   commit when the leader can: with the result its commit will produce, before the entry is
///   durable (``MultiRaftHost/proposingAhead(group:data:timeout:)``; docs/node.md).
/// - Linearizable reads: ReadIndex on the leader, then the query once the state machine reached
///   the read index. Stale reads: this replica's state and its applied index.
/// - Not the leader: `notLeader` with the leader's client endpoint; no leader yet: `unavailable`.
/// - Every wait is bounded (`timeout`); exactly-once retries rely on the state machine's sessions.
public final class ReplicatedMetadataService: MetadataService {
    public let host: MultiRaftHost<MetadataReplica>
    public let shardCount: Int
    public let sessionLeaseMilliseconds: UInt32
    /// The cluster's members now, by id: the founding ones and those the shard map added, without
    /// those it removed (the host follows the map's membership).
    var members: [NodeID: ClusterMember] {
        Dictionary(host.members.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
    }
    private let maxEntryBytes: Int
    /// Runs the operations a shard answers `CROSS_SHARD` to; nil: they fail with UNSUPPORTED.
    private let crossShard: (any CrossShardExecutor)?
    /// The state machine's name and symlink-target limits, checked before an entry is encoded.
    private let limits: MetadataLimits
    /// Announces the system group's applied index (its watches wait on it); nil: no system group here.
    public let systemApplied: AppliedIndexSignal?
    /// The prefetching path (predictive journaling); nil: off.
    public let prefetcher: Prefetcher?
    /// The live map, whose shard records carry each shard's migration timestamp (stamped on every
    /// journal entry); nil: 0.
    public let liveMap: LiveShardMap?

    public init(host: MultiRaftHost<MetadataReplica>, sessionLeaseMilliseconds: UInt32 = 60_000,
                maxEntryBytes: Int = MetadataLimits().maxRequestBytes, limits: MetadataLimits = MetadataLimits(),
                crossShard: (any CrossShardExecutor)? = nil, prefetch: PrefetchSettings? = nil,
                systemApplied: AppliedIndexSignal? = nil, liveMap: LiveShardMap? = nil) {
        self.host = host
        self.liveMap = liveMap
        self.systemApplied = systemApplied
        self.prefetcher = prefetch.flatMap { $0.enabled ? Prefetcher(settings: $0, host: host) : nil }
        self.prefetcher?.start()
        self.crossShard = crossShard
        self.shardCount = host.configuration.groupCount
        self.sessionLeaseMilliseconds = sessionLeaseMilliseconds
        self.maxEntryBytes = maxEntryBytes
        self.limits = limits
    }

    public func submit(shard: ShardID, operation: MetadataOperation, session: SessionRef?,
                       durability: Durability) async throws(ServiceError) -> WriteOutcome {
        let result = await withCheckedContinuation { continuation in
            submit(shard: shard, operation: operation, session: session, durability: durability) { continuation.resume(returning: $0) }
        }
        return try result.get()
    }

    public func submit(shard: ShardID, operation: MetadataOperation, session: SessionRef?, durability: Durability,
                       completion: @escaping @Sendable (Result<WriteOutcome, ServiceError>) -> Void) {
        let data: [UInt8]
        do throws(ServiceError) {
            try checkShard(shard)
            // A name over 255 bytes is ENAMETOOLONG whatever its size (not TOO_LARGE for the entry).
            if let error = operation.lengthLimitError(limits: limits) {
                return completion(.success(WriteOutcome(result: .failure(error), index: 0)))
            }
            data = try entry(shard: shard, operation: operation, session: session)
        } catch {
            return completion(.failure(error))
        }
        if let prefetcher, let session, operation.isPredictable || operation == .closeSession {
            return submitPredicted(prefetcher, shard: shard, operation: operation, session: session, durability: durability,
                                   entry: data, completion: completion)
        }
        propose(shard: shard, data: data, operation: operation, session: session, durability: durability, completion: completion)
    }

    /// Proposes `data` and answers with its applied result (cross-shard operations go to the executor).
    func propose(shard: ShardID, data: [UInt8], operation: MetadataOperation, session: SessionRef?, durability: Durability = .majority,
                 completion: @escaping @Sendable (Result<WriteOutcome, ServiceError>) -> Void) {
        let crossShard = self.crossShard
        let proposal = durability == .async
            ? host.proposingAhead(group: UInt64(shard), data: data) : host.proposing(group: UInt64(shard), data: data)
        proposal.whenComplete { result in
            switch result {
            case .success(let applied):
                if applied.result.errorCode == .crossShard, let crossShard, let session {
                    return crossShard.execute(operation, primary: shard, session: session, completion: completion)
                }
                completion(.success(WriteOutcome(result: applied.result, index: applied.index, leaderTerm: applied.term,
                                                 durableIndex: applied.durableIndex)))
            case .failure(let error): completion(.failure(self.serviceError(Self.hostError(error), shard: shard)))
            }
        }
    }

    public func read(shard: ShardID, consistency: ReadConsistency, query: MetadataQuery) async throws(ServiceError) -> ReadOutcome {
        let result = await withCheckedContinuation { continuation in
            read(shard: shard, consistency: consistency, query: query) { continuation.resume(returning: $0) }
        }
        return try result.get()
    }

    public func read(shard: ShardID, consistency: ReadConsistency, query: MetadataQuery,
                     completion: @escaping @Sendable (Result<ReadOutcome, ServiceError>) -> Void) {
        do throws(ServiceError) {
            try checkShard(shard)
        } catch {
            return completion(.failure(error))
        }
        host.reading(group: UInt64(shard), linearizable: consistency == .linearizable) { replica in
            query.evaluate(on: replica.state)
        }.whenComplete { result in
            switch result {
            case .success(let outcome): completion(.success(ReadOutcome(result: outcome.value, appliedIndex: outcome.appliedIndex)))
            case .failure(let error): completion(.failure(self.serviceError(Self.hostError(error), shard: shard)))
            }
        }
    }

    /// The journal entry for `operation`: the leader's time, the session and sequence, the shard.
    private func entry(shard: ShardID, operation: MetadataOperation, session: SessionRef?) throws(ServiceError) -> [UInt8] {
        try checkShard(shard)
        let envelope = CommandEnvelope(
            shardID: shard, migrationTimestamp: liveMap?.migrationTimestamp(of: shard) ?? 0,
            sessionID: session?.id ?? 0, sequence: session?.sequence ?? 0,
            time: Self.now(), operation: operation)
        let data = envelope.encoded()
        guard data.count <= (operation.isHandoffProtocol ? max(maxEntryBytes, MetadataLimits.maxHandoffEntryBytes) : maxEntryBytes) else {
            throw ServiceError(.tooLarge, "the encoded entry has \(data.count) bytes; the limit is \(maxEntryBytes)")
        }
        return data
    }

    /// Ascending segments as runs.
    static func runs(_ segments: [SegmentID], shard: UInt32) -> [Almanac_Api_V1_SegmentRun] {
        var runs: [Almanac_Api_V1_SegmentRun] = []
        for segment in segments {
            if let last = runs.last, last.last + 1 == UInt32(segment) {
                runs[runs.count - 1].last = UInt32(segment)
            } else {
                var run = Almanac_Api_V1_SegmentRun()
                run.first = UInt32(segment)
                run.last = UInt32(segment)
                run.shard = shard
                runs.append(run)
            }
        }
        return runs
    }

    static func hostError(_ error: any Error) -> HostError {
        (error as? HostError) ?? .unavailable("\(error)")
    }

    public func clusterStatus(stateDigests: Bool) async throws(ServiceError) -> Almanac_Api_V1_ClusterStatus {
        guard let status = await host.status(digests: stateDigests) else { throw ServiceError(.unavailable, "the node is shutting down") }
        var result = ClusterStatusBuilder.build(status, members: Array(members.values))
        // Each hosted shard's ownership as its state machine has it (`ctl check` compares the map).
        for index in result.shards.indices {
            let group = result.shards[index].shardID
            guard let ownership = try? await host.reading(group: group, linearizable: false, { $0.state.ownership }).get().value else { continue }
            result.shards[index].ownershipKnown = true
            result.shards[index].ownershipEpoch = ownership.epoch
            result.shards[index].ownedSegments = Self.runs(ownership.segments, shard: UInt32(truncatingIfNeeded: group))
        }
        if let prefetcher {
            result.prefetch = prefetcher.status()
            result.prefetchSettings = prefetcher.settingsStatus
        }
        return result
    }

    func checkShard(_ shard: ShardID) throws(ServiceError) {
        guard !knows(shard) else { return }
        throw ServiceError(.wrongShard, "shard \(shard) does not exist (the cluster started with \(shardCount) shards: 0...\(shardCount - 1), "
            + "and the shard map names no shard \(shard))")
    }

    /// A shard of the cluster's start, or one the live map names (created at runtime).
    func knows(_ shard: ShardID) -> Bool {
        Int(shard) < shardCount || liveMap?.current.shards[shard] != nil
    }

    func serviceError(_ error: HostError, shard: ShardID) -> ServiceError {
        switch error {
        case .notLeader(_, let leader):
            guard leader != 0, let member = members[leader] else {
                return ServiceError(.unavailable, "shard \(shard) has no leader right now (election in progress); retry")
            }
            return ServiceError(.notLeader, "node \(host.configuration.nodeID) does not lead shard \(shard); node \(leader) does",
                                leaderHint: LeaderHint(nodeID: leader, address: member.apiAddress, zone: member.zone))
        case .unknownGroup:
            // With more nodes than zones a node hosts only some shards: send the client to a node
            // that hosts this one (preferably in this node's zone); it redirects on to the leader.
            // The map's replicas (replica migration moves them); the static placement without a map.
            let configuration = host.configuration
            let placed = liveMap?.current.shards[shard].map { $0.replicas.map(\.node) }
                ?? ReplicaPlacement.replicas(of: UInt64(shard), members: configuration.members)
            let known = members
            let hosts = placed.filter { $0 != configuration.nodeID }.compactMap { known[$0] }
            let zone = configuration.localMember?.zone
            guard let target = hosts.first(where: { $0.zone == zone }) ?? hosts.first else {
                return ServiceError(.wrongShard, "shard \(shard) has no replica on node \(configuration.nodeID)")
            }
            return ServiceError(.notLeader, "node \(configuration.nodeID) hosts no replica of shard \(shard); node \(target.id) does",
                                leaderHint: LeaderHint(nodeID: target.id, address: target.apiAddress, zone: target.zone))
        case .unavailable(let reason): return ServiceError(.unavailable, reason)
        case .timeout(let reason): return ServiceError(.timeout, reason)
        case .tooLarge(let reason): return ServiceError(.tooLarge, reason)
        case .stopped(let reason): return ServiceError(.unavailable, "node is not serving: \(reason)")
        case .invalid(let reason): return ServiceError(.invalidArgument, reason)
        case .replayWindow:
            var refusal = ServiceError(.unavailable, "shard \(shard): \(error)")
            refusal.replayWindow = true
            return refusal
        }
    }

    static func now() -> Timestamp {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        return Timestamp(nanoseconds: Int64(spec.tv_sec) &* 1_000_000_000 &+ Int64(spec.tv_nsec))
    }
}
