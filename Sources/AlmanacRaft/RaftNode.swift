// API CONTRACT (placeholder bodies; the Raft core work replaces every body below, keeping the signatures).

/// Progress of one follower as seen by the leader.
public struct FollowerProgress: Sendable, Hashable {
    public enum State: UInt8, Sendable, Hashable { case probe, replicate, snapshot }
    public var match: LogIndex
    public var next: LogIndex
    public var state: State
    public var isLearner: Bool
    public var recentActive: Bool
    public var inflightMessages: Int
    public var inflightBytes: Int

    public init(match: LogIndex, next: LogIndex, state: State, isLearner: Bool, recentActive: Bool,
                inflightMessages: Int, inflightBytes: Int) {
        self.match = match
        self.next = next
        self.state = state
        self.isLearner = isLearner
        self.recentActive = recentActive
        self.inflightMessages = inflightMessages
        self.inflightBytes = inflightBytes
    }
}

/// A snapshot of a node's state for observers (tests, status APIs).
public struct RaftStatus: Sendable, Hashable {
    public var id: NodeID
    public var role: RaftRole
    public var term: Term
    public var vote: NodeID
    public var leader: NodeID
    public var commit: LogIndex
    public var applied: LogIndex
    public var firstIndex: LogIndex
    public var lastIndex: LogIndex
    public var confState: ConfState
    /// Leader only: per-peer progress.
    public var progress: [NodeID: FollowerProgress]
    /// Leader only: the target of a running leadership transfer, or 0.
    public var transferee: NodeID

    public init(id: NodeID, role: RaftRole, term: Term, vote: NodeID, leader: NodeID, commit: LogIndex,
                applied: LogIndex, firstIndex: LogIndex, lastIndex: LogIndex, confState: ConfState,
                progress: [NodeID: FollowerProgress], transferee: NodeID) {
        self.id = id
        self.role = role
        self.term = term
        self.vote = vote
        self.leader = leader
        self.commit = commit
        self.applied = applied
        self.firstIndex = firstIndex
        self.lastIndex = lastIndex
        self.confState = confState
        self.progress = progress
        self.transferee = transferee
    }
}

/// The pure Raft state machine for one group. Deterministic: time enters only through `tick()`,
/// randomness only through the injected generator. It performs no I/O; a driver runs the Ready loop.
public struct RaftNode: Sendable {
    /// Creates a node from recovered durable state.
    public init(config: RaftConfig, initialState: RaftInitialState,
                random: any RandomNumberGenerator & Sendable) {
        preconditionFailure("RaftNode placeholder: replaced by the Raft core")
    }

    /// Observable state.
    public var status: RaftStatus { preconditionFailure("placeholder") }

    /// Advances logical time by one tick.
    public mutating func tick() { preconditionFailure("placeholder") }

    /// Delivers a message from a peer. Messages for other nodes or stale terms are ignored.
    public mutating func step(_ message: Message) { preconditionFailure("placeholder") }

    /// Proposes application data. Returns the log index assigned to it.
    @discardableResult
    public mutating func propose(_ data: [UInt8]) throws(RaftError) -> LogIndex { preconditionFailure("placeholder") }

    /// Proposes a membership change. Returns the log index assigned to it.
    @discardableResult
    public mutating func proposeConfChange(_ change: ConfChange) throws(RaftError) -> LogIndex {
        preconditionFailure("placeholder")
    }

    /// Requests a linearizable read; a `ReadState` carrying `context` appears in a later Ready.
    public mutating func readIndex(context: [UInt8]) throws(RaftError) { preconditionFailure("placeholder") }

    /// Starts a leadership transfer to `target` (a voter). Abandoned after an election timeout.
    public mutating func transferLeadership(to target: NodeID) throws(RaftError) { preconditionFailure("placeholder") }

    /// Starts an election now (subject to PreVote).
    public mutating func campaign() { preconditionFailure("placeholder") }

    /// Whether `ready()` would return a non-empty batch.
    public var hasReady: Bool { preconditionFailure("placeholder") }

    /// Takes the pending batch of work. Call `advance(_:)` once it has been carried out.
    public mutating func ready() -> Ready { preconditionFailure("placeholder") }

    /// Acknowledges that `ready` was persisted, sent and applied.
    public mutating func advance(_ ready: Ready) { preconditionFailure("placeholder") }

    /// Records an application snapshot at `snapshot.metadata.index` (at most `applied`) and
    /// discards log entries up to it. The leader uses it for followers too far behind.
    public mutating func compact(snapshot: Snapshot) throws(RaftError) { preconditionFailure("placeholder") }

    /// Tells the leader that a message to `peer` could not be delivered.
    public mutating func reportUnreachable(_ peer: NodeID) { preconditionFailure("placeholder") }

    /// Tells the leader whether sending a snapshot to `peer` finished.
    public mutating func reportSnapshot(_ peer: NodeID, success: Bool) { preconditionFailure("placeholder") }
}
