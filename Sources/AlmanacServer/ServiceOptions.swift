import AlmanacMetadata

/// When a write is acknowledged.
public enum Durability: Sendable, Hashable {
    /// After a majority of the shard's replicas (one per zone) have the entry in their log. Default.
    case majority
    /// WEAKER (the seed's asynchronous journaling; wire name `DURABILITY_LEADER`): once the leader
    /// has proposed the entry and applied it to its state ahead, before any fsync; journaling
    /// continues in the background. An acknowledged write is lost if the leader fails before a
    /// majority has it and the client does not replay it (docs/node.md, "Answers ahead of commit").
    case async
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
    /// The term of the leader that answered, and the index through which its log was committed
    /// when it answered (`index` unless the write was answered ahead of commit); 0: not known.
    public var leaderTerm: UInt64
    public var durableIndex: UInt64

    public init(result: CommandResult, index: UInt64, leaderTerm: UInt64 = 0, durableIndex: UInt64? = nil) {
        self.result = result
        self.index = index
        self.leaderTerm = leaderTerm
        self.durableIndex = durableIndex ?? index
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
