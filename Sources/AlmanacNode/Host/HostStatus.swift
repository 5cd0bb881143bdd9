import AlmanacRaft

/// The outcome of a proposal: what the state machine returned and the entry's log index.
public struct AppliedResult<Result: Sendable>: Sendable {
    public var result: Result
    public var index: LogIndex
    /// The term of the entry (of the leader that answered, for an answer ahead of commit).
    public var term: Term
    /// Through which index the group's log was committed when the answer was given: `index` for an
    /// answer at apply, possibly less for an answer ahead of commit.
    public var durableIndex: LogIndex

    public init(result: Result, index: LogIndex, term: Term = 0, durableIndex: LogIndex? = nil) {
        self.result = result
        self.index = index
        self.term = term
        self.durableIndex = durableIndex ?? index
    }

    /// Whether the answer came before the entry was durable on a majority.
    public var answeredAhead: Bool { durableIndex < index }
}

/// What a read returned and the applied index of the replica that served it.
public struct ReadResult<Value: Sendable>: Sendable {
    public var value: Value
    public var appliedIndex: LogIndex
}

/// One hosted group as the host sees it.
public struct GroupStatus: Sendable {
    public var group: UInt64
    public var raft: RaftStatus
    /// Highest index applied to the state machine (no-ops and configuration entries included).
    public var applied: LogIndex
    /// Index of the latest snapshot taken or installed here (0: none).
    public var snapshotIndex: LogIndex
    public var quiesced: Bool
    public var stateDigest: UInt64
    /// Snapshot transfers of this group since the host started: started from here to lagging
    /// followers, bytes of chunks sent (resends included), received and installed here.
    public var snapshotsSent: UInt64 = 0
    public var snapshotBytesSent: UInt64 = 0
    public var snapshotsInstalled: UInt64 = 0
    /// Speculative proposals (potential journal entries) held for the next round to ride, not yet
    /// in the log.
    public var heldSpeculative: Int = 0
}

/// A node's view of itself: its groups and its peers' health.
public struct HostStatus: Sendable {
    public var nodeID: NodeID
    public var groups: [GroupStatus]
    /// Peer liveness and zone health (from the transport), nil when the transport is not running.
    public var health: HealthTracker?
    /// The transport's clock when `health` was read (for "last heard" ages).
    public var healthNow: UInt64
    /// Raft ticks skipped because groups were quiesced, since start.
    public var quiescedTicksSkipped: UInt64
    /// Group-commit batches written and the fsyncs they cost, since start.
    public var batches: UInt64
    /// Of those, the batches synced on the host loop itself (a follower's small round on a node
    /// leading no group), since start.
    public var inlineSyncs: UInt64 = 0
    /// Snapshots received from leaders (reassembled from chunks) and installed, since start.
    public var snapshotsInstalled: UInt64
    /// Snapshot transfers started to lagging followers, since start.
    public var snapshotsSent: UInt64
    /// Snapshot chunks sent (resends included), since start.
    public var snapshotChunksSent: UInt64 = 0
    /// Async writes answered ahead of their commit, and what became of them, since start.
    public var answersAhead = AnswersAheadCounters()
    /// Why the host stopped serving (a storage failure, or shutdown); nil while it serves.
    public var stoppedReason: String? = nil
}
