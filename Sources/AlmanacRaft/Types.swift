// A Raft peer is a node: `NodeID` comes from the shared vocabulary (0 means "none").
@_exported import AlmanacKeyspace

/// A Raft term.
public typealias Term = UInt64
/// A position in the replicated log. Index 0 is the empty prefix.
public typealias LogIndex = UInt64

/// What an entry's payload means to Raft.
public enum EntryType: UInt8, Sendable, Hashable {
    /// Application data (empty data is the new leader's no-op).
    case normal = 0
    /// An encoded ``ConfChange``.
    case configChange = 1
}

/// One log entry.
public struct Entry: Sendable, Hashable {
    public var term: Term
    public var index: LogIndex
    public var type: EntryType
    public var data: [UInt8]

    public init(term: Term, index: LogIndex, type: EntryType = .normal, data: [UInt8] = []) {
        self.term = term
        self.index = index
        self.type = type
        self.data = data
    }

    /// Bytes this entry counts for in flow control and the uncommitted-size bound.
    public var payloadSize: Int { data.count }
}

/// State that must be durable before messages depending on it are sent.
public struct HardState: Sendable, Hashable {
    public var term: Term
    /// The candidate voted for in `term`, or 0.
    public var vote: NodeID
    public var commit: LogIndex

    public init(term: Term = 0, vote: NodeID = 0, commit: LogIndex = 0) {
        self.term = term
        self.vote = vote
        self.commit = commit
    }
}

/// The membership configuration, possibly joint.
public struct ConfState: Sendable, Hashable {
    /// Voters of the incoming (or only) configuration.
    public var voters: [NodeID]
    /// Non-voting replicas.
    public var learners: [NodeID]
    /// Voters of the outgoing configuration while joint; empty when not joint.
    public var votersOutgoing: [NodeID]
    /// Voters that become learners when the joint configuration is left.
    public var learnersNext: [NodeID]
    /// Whether the leader leaves the joint configuration automatically.
    public var autoLeave: Bool

    public init(voters: [NodeID] = [], learners: [NodeID] = [], votersOutgoing: [NodeID] = [],
                learnersNext: [NodeID] = [], autoLeave: Bool = false) {
        self.voters = voters
        self.learners = learners
        self.votersOutgoing = votersOutgoing
        self.learnersNext = learnersNext
        self.autoLeave = autoLeave
    }

    public var isJoint: Bool { !votersOutgoing.isEmpty }
}

/// Where a snapshot sits in the log, and the configuration at that point.
public struct SnapshotMetadata: Sendable, Hashable {
    public var index: LogIndex
    public var term: Term
    public var confState: ConfState

    public init(index: LogIndex, term: Term, confState: ConfState) {
        self.index = index
        self.term = term
        self.confState = confState
    }
}

/// An application-provided snapshot of the state machine.
public struct Snapshot: Sendable, Hashable {
    public var metadata: SnapshotMetadata
    public var data: [UInt8]

    public init(metadata: SnapshotMetadata, data: [UInt8]) {
        self.metadata = metadata
        self.data = data
    }
}

/// One membership step.
public struct ConfChangeSingle: Sendable, Hashable {
    public enum Kind: UInt8, Sendable, Hashable {
        case addVoter = 0
        case addLearner = 1
        case removeNode = 2
    }
    public var kind: Kind
    public var node: NodeID

    public init(_ kind: Kind, _ node: NodeID) {
        self.kind = kind
        self.node = node
    }
}

/// A membership change. More than one step, or `transition == .joint*`, enters joint consensus.
/// An empty change leaves the joint configuration.
public struct ConfChange: Sendable, Hashable {
    public enum Transition: UInt8, Sendable, Hashable {
        /// Simple change when possible (one voter step), otherwise joint with automatic leave.
        case auto = 0
        /// Joint consensus; the leader proposes the leave automatically once it applies.
        case jointImplicit = 1
        /// Joint consensus; the application must propose the leave.
        case jointExplicit = 2
    }
    public var changes: [ConfChangeSingle]
    public var transition: Transition

    public init(_ changes: [ConfChangeSingle], transition: Transition = .auto) {
        self.changes = changes
        self.transition = transition
    }

    /// The change that leaves a joint configuration.
    public static var leaveJoint: ConfChange { ConfChange([]) }
}

/// Kinds of Raft messages.
public enum MessageType: UInt8, Sendable, Hashable {
    case append = 0
    case appendResponse = 1
    case vote = 2
    case voteResponse = 3
    case preVote = 4
    case preVoteResponse = 5
    case heartbeat = 6
    case heartbeatResponse = 7
    case installSnapshot = 8
    case readIndex = 9
    case readIndexResponse = 10
    case timeoutNow = 11
}

/// A message between peers of one Raft group.
public struct Message: Sendable, Hashable {
    public var type: MessageType
    public var from: NodeID
    public var to: NodeID
    public var term: Term
    /// Term of the entry at `index` (append: the entry before `entries`; vote: candidate's last term).
    public var logTerm: Term
    /// append: index before `entries`; vote: candidate's last index; responses: the matched or rejected index.
    public var index: LogIndex
    public var entries: [Entry]
    public var commit: LogIndex
    public var reject: Bool
    /// On a rejected append: the follower's hint for where to probe next.
    public var rejectHint: LogIndex
    public var snapshot: Snapshot?
    /// Opaque context (ReadIndex request ids, heartbeat read contexts, transfer marker).
    public var context: [UInt8]

    public init(type: MessageType, from: NodeID, to: NodeID, term: Term = 0, logTerm: Term = 0,
                index: LogIndex = 0, entries: [Entry] = [], commit: LogIndex = 0, reject: Bool = false,
                rejectHint: LogIndex = 0, snapshot: Snapshot? = nil, context: [UInt8] = []) {
        self.type = type
        self.from = from
        self.to = to
        self.term = term
        self.logTerm = logTerm
        self.index = index
        self.entries = entries
        self.commit = commit
        self.reject = reject
        self.rejectHint = rejectHint
        self.snapshot = snapshot
        self.context = context
    }
}

/// A node's role.
public enum RaftRole: UInt8, Sendable, Hashable {
    case follower, preCandidate, candidate, leader
}

/// Volatile state that the application may want to observe.
public struct SoftState: Sendable, Hashable {
    public var leader: NodeID
    public var role: RaftRole

    public init(leader: NodeID, role: RaftRole) {
        self.leader = leader
        self.role = role
    }
}

/// A ReadIndex request that may now be served once `index` is applied.
public struct ReadState: Sendable, Hashable {
    public var index: LogIndex
    public var context: [UInt8]

    public init(index: LogIndex, context: [UInt8]) {
        self.index = index
        self.context = context
    }
}

/// What a restarting node recovered from durable storage.
public struct RaftInitialState: Sendable {
    public var hardState: HardState
    /// The latest durable snapshot, if any. Entries start after it.
    public var snapshot: Snapshot?
    /// Durable entries after the snapshot, contiguous.
    public var entries: [Entry]
    /// The founding configuration of a fresh cluster (non-joint). On empty storage it is written into
    /// the log as committed configuration entries (delivered in the first Ready); otherwise it is the
    /// base configuration only when there is no snapshot and the log holds no configuration entry.
    /// A replica added later starts with empty storage and `bootstrap == nil`.
    public var bootstrap: ConfState?
    /// The index the application has durably applied (0: only the snapshot). Committed entries after
    /// `max(applied, snapshot index)` are delivered again in `Ready.committedEntries`.
    public var applied: LogIndex

    public init(hardState: HardState = HardState(), snapshot: Snapshot? = nil, entries: [Entry] = [],
                bootstrap: ConfState? = nil, applied: LogIndex = 0) {
        self.hardState = hardState
        self.snapshot = snapshot
        self.entries = entries
        self.bootstrap = bootstrap
        self.applied = applied
    }
}
