import AlmanacMetadata

/// When a write is acknowledged.
public enum Durability: Sendable, Hashable {
    /// After a majority of the shard's replicas (one per zone) have the entry in their log. Default.
    case majority
    /// WEAKER: after the leader's own fsync only; replication continues in the background. An
    /// acknowledged write is lost if the leader's zone fails before it replicates.
    case leader
}

/// How fresh a read is.
public enum ReadConsistency: Sendable, Hashable {
    /// Served by the leader after a ReadIndex round: sees every write acknowledged before the read.
    case linearizable
    /// Served from any replica's applied state; the result reports that replica's applied index.
    case stale
}

/// The exactly-once key of a journaled write: a shard-local session and the write's sequence number.
public struct SessionRef: Sendable, Hashable {
    /// The session id inside its shard's state machine (the log index that registered it).
    public var id: SessionID
    /// This write's sequence number (1, 2, ...). A retry reuses it.
    public var sequence: SequenceNumber

    public init(id: SessionID, sequence: SequenceNumber) {
        self.id = id
        self.sequence = sequence
    }
}

/// The outcome of a journaled write: the state machine's result and the log index it was applied at.
public struct WriteOutcome: Sendable, Hashable {
    public var result: CommandResult
    public var index: UInt64

    public init(result: CommandResult, index: UInt64) {
        self.result = result
        self.index = index
    }
}

/// The outcome of a query and the applied index of the replica that answered it.
public struct ReadOutcome: Sendable, Hashable {
    public var result: Result<QueryResult, MetadataError>
    public var appliedIndex: UInt64

    public init(result: Result<QueryResult, MetadataError>, appliedIndex: UInt64) {
        self.result = result
        self.appliedIndex = appliedIndex
    }
}
