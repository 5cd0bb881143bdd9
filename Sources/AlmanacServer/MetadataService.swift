import AlmanacMetadata
import AlmanacWire

/// The boundary between the client API and the replicated backend (the node runtime).
///
/// The API server never applies commands itself: it translates requests and calls this protocol.
/// Implementations must be safe to call concurrently; every call may suspend (Raft round trips).
public protocol MetadataService: Sendable {
    /// Journals `operation` on `shard`: the backend builds the ``CommandEnvelope`` (leader time,
    /// shard id, session and sequence), proposes it through the shard's Raft group, waits for the
    /// requested durability and returns the applied result with its log index.
    ///
    /// `session` is nil only for `registerSession`. Namespace errors are returned inside the
    /// ``WriteOutcome``; a thrown ``ServiceError`` means the backend could not decide the outcome.
    func submit(
        shard: ShardID, operation: MetadataOperation, session: SessionRef?, durability: Durability
    ) async throws(ServiceError) -> WriteOutcome

    /// Answers `query` on `shard` with the requested consistency and reports the applied index of
    /// the replica that answered.
    func read(shard: ShardID, consistency: ReadConsistency, query: MetadataQuery) async throws(ServiceError) -> ReadOutcome

    /// Nodes, zones, health, shards, leaders and commit indexes, as seen by this node; with
    /// `stateDigests`, each hosted replica's state digest (O(state size), off the event loop).
    func clusterStatus(stateDigests: Bool) async throws(ServiceError) -> Almanac_Api_V1_ClusterStatus

    /// How long a session lives without requests, in milliseconds (reported to clients).
    var sessionLeaseMilliseconds: UInt32 { get }

    /// ``submit(shard:operation:session:durability:)`` without suspending the caller: `completion`
    /// runs exactly once, on any thread. The default runs the async method in a task; a backend
    /// with its own event loop answers from there and saves the hops through the task pool.
    func submit(
        shard: ShardID, operation: MetadataOperation, session: SessionRef?, durability: Durability,
        completion: @escaping @Sendable (Result<WriteOutcome, ServiceError>) -> Void)

    /// ``read(shard:consistency:query:)`` without suspending the caller: `completion` runs exactly
    /// once, on any thread.
    func read(
        shard: ShardID, consistency: ReadConsistency, query: MetadataQuery,
        completion: @escaping @Sendable (Result<ReadOutcome, ServiceError>) -> Void)
}

extension MetadataService {
    public func submit(
        shard: ShardID, operation: MetadataOperation, session: SessionRef?, durability: Durability,
        completion: @escaping @Sendable (Result<WriteOutcome, ServiceError>) -> Void
    ) {
        Task {
            do throws(ServiceError) {
                completion(.success(try await submit(shard: shard, operation: operation, session: session, durability: durability)))
            } catch {
                completion(.failure(error))
            }
        }
    }

    public func read(
        shard: ShardID, consistency: ReadConsistency, query: MetadataQuery,
        completion: @escaping @Sendable (Result<ReadOutcome, ServiceError>) -> Void
    ) {
        Task {
            do throws(ServiceError) {
                completion(.success(try await read(shard: shard, consistency: consistency, query: query)))
            } catch {
                completion(.failure(error))
            }
        }
    }
}

extension MetadataService {
    /// Registers a session on `shard` through its log; returns the shard-local session id.
    public func registerSession(shard: ShardID) async throws(ServiceError) -> (session: SessionID, index: UInt64) {
        let outcome = try await submit(shard: shard, operation: .registerSession, session: nil, durability: .majority)
        switch outcome.result {
        case .success(.sessionRegistered(let id)): return (id, outcome.index)
        case .success(let other):
            throw ServiceError(.internal, "registerSession returned \(other)")
        case .failure(let error):
            throw ServiceError(.internal, "registerSession failed: \(error)")
        }
    }

    /// Refreshes a session (a journaled command with its own sequence number).
    public func keepAlive(shard: ShardID, session: SessionRef) async throws(ServiceError) -> WriteOutcome {
        try await submit(shard: shard, operation: .keepAlive, session: session, durability: .majority)
    }

    /// Ends a session and closes its handles (a journaled command with its own sequence number).
    public func closeSession(shard: ShardID, session: SessionRef) async throws(ServiceError) -> WriteOutcome {
        try await submit(shard: shard, operation: .closeSession, session: session, durability: .majority)
    }
}
