import AlmanacMetadata

/// How the coordinator and the resolver reach the shards: journal a transaction-protocol command on
/// a shard (through its leader) and read the records a plan depends on (linearizably).
///
/// Production uses ``ClientTransactionTransport`` (the client protocol over real sockets); the
/// crash tests drive the same coordinator and resolver over in-memory shards.
public protocol TransactionTransport: ShardCommandTransport {
    /// The shard map to plan with.
    func shardMap() async throws(CommandFailure) -> ShardMap

    /// The entry `name` of `parent`: the child's id and type (a namespace error as `.namespace`).
    func entry(parent: InodeID, name: ByteString) async throws(PlanFailure) -> (InodeID, FileType)

    /// The attributes of `id`, and its parent if it is a directory.
    func attributes(of id: InodeID) async throws(PlanFailure) -> (InodeAttributes, parent: InodeID?)

    /// The transactions prepared on `shard` (read from this node's replica if it leads the shard;
    /// nil when it does not or cannot tell), with their prepare times.
    func transactionsInDoubt(on shard: ShardID) async -> [(id: TransactionID, preparedAt: Timestamp)]?

    /// The shards to look after (those this node leads).
    func ledShards() async -> [ShardID]
}

/// How protocol drivers (the transaction coordinator, the segment hand-off driver) reach a shard.
public protocol ShardCommandTransport: Sendable {
    /// Journals `operation` on `shard`; the result and the log index it was applied at, or a
    /// failure when the outcome is unknown (no answer, no leader, timeout).
    func command(_ operation: MetadataOperation, on shard: ShardID) async -> Result<(CommandResult, UInt64), CommandFailure>
}

/// A shard command whose outcome is unknown (no answer, no leader, timeout).
public struct CommandFailure: Error, Sendable {
    public var reason: String

    public init(reason: String) { self.reason = reason }
}

/// Why planning stopped.
public enum PlanFailure: Error, Sendable {
    /// A namespace error: the operation fails with it (ENOENT, ENOTDIR, ...).
    case namespace(MetadataError)
    /// The cluster could not answer the reads; the outcome is not decided.
    case unavailable(String)
}
