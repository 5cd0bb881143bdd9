import AlmanacRaft

/// One simulated server: a Raft node, its disk and its state machine.
struct Replica: Sendable {
    enum Lifecycle: Sendable, Hashable {
        /// A spare id, not yet added to the cluster.
        case notStarted
        case up
        case down
    }

    struct PendingRead: Sendable {
        var key: Int
        var invoked: UInt64
    }

    let id: NodeID
    let isInitialMember: Bool
    var raft: RaftNode?
    var disk: any SimulatedRaftStorage
    var machine: KeyValueStateMachine
    var lifecycle: Lifecycle
    /// Bumped at every start, so events of an earlier life are ignored.
    var incarnation: UInt64 = 0
    /// The Ready being persisted (between its writes and its fsync).
    var pendingReady: Ready?
    var role: RaftRole = .follower
    /// Term from the last hard state this node handed out.
    var term: Term = 0
    /// Highest commit index seen in this life.
    var commit: LogIndex = 0
    /// Highest commit index ever made durable.
    var durableCommit: LogIndex = 0
    /// Whether this node has seen itself in an applied configuration.
    var wasMember = false
    /// Has applied a configuration without itself.
    var retired = false
    /// Core invariant breaches already collected from this life's node.
    var coreAssertionsSeen = 0
    /// Applied entries between application snapshots (drawn per node).
    var snapshotEvery: Int
    /// Proposals made at this node in this life: log index -> operation number in the history.
    var pendingWrites: [LogIndex: Int] = [:]
    /// ReadIndex requests made at this node in this life, by request id.
    var pendingReads: [UInt64: PendingRead] = [:]
    /// Reads confirmed by Raft, waiting for the state machine to reach their index.
    var waitingReads: [(read: PendingRead, index: LogIndex)] = []

    init(id: NodeID, isInitialMember: Bool, keyCount: Int, snapshotEvery: Int, disk: any SimulatedRaftStorage) {
        self.id = id
        self.disk = disk
        self.isInitialMember = isInitialMember
        self.machine = KeyValueStateMachine(keyCount: keyCount)
        self.lifecycle = .notStarted
        self.snapshotEvery = snapshotEvery
    }

    var isUp: Bool { lifecycle == .up }
}
