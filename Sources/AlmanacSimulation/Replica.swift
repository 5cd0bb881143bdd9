import AlmanacAnswersAhead
import AlmanacPotentialEntries
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
    /// Ready rounds taken and not finished, by the production driver's rules (``ReadyRounds``: up
    /// to ``Replica/roundsInFlight`` persisting at once, finished in order).
    var rounds = ReadyRounds<TakenRound>(maxInFlight: Replica.roundsInFlight)
    /// Which hard state each round writes (``HardStateWrites``: a commit-only change waits).
    var hardStates = HardStateWrites(written: HardState())
    /// `disk.write` calls so far (a round's fsync makes the writes up to its own durable).
    var diskWrites = 0
    /// When the last round's fsync completes: fsyncs complete in the order they were issued.
    var lastSyncAt: UInt64 = 0
    /// A configuration change was applied while rounds were in flight: snapshot once they are done.
    var compactionOwed = false
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
    /// Async durability, while leading: the answers ahead of commit (the shared rules), and when
    /// this leadership began (the replay window). Reset at every start.
    var ahead = AnswersAhead<KeyValueStateMachine>()
    var leadingSince: UInt64?
    /// Async clients waiting here for an answer at commit: log index -> client.
    var asyncWaits: [LogIndex: Int] = [:]
    /// Potential entries, while leading: the predictions issued (the server's rules), the issues
    /// waiting to be applied here, and predictive clients waiting for an answer. Reset at every
    /// start and when leadership ends.
    var issued = IssuedPotentials<UInt64>()
    var issueWaits: [LogIndex: IssueWait] = [:]
    var predictiveWaits: [LogIndex: Int] = [:]

    init(id: NodeID, isInitialMember: Bool, keyCount: Int, snapshotEvery: Int, disk: any SimulatedRaftStorage) {
        self.id = id
        self.disk = disk
        self.isInitialMember = isInitialMember
        self.machine = KeyValueStateMachine(keyCount: keyCount)
        self.lifecycle = .notStarted
        self.snapshotEvery = snapshotEvery
    }

    var isUp: Bool { lifecycle == .up }

    /// Rounds whose writes may persist at once (production's `HostConfiguration.maxBatchesInFlight`).
    static let roundsInFlight = 4

    /// What a round carries from being taken to being finished.
    struct TakenRound: Sendable {
        var ready: Ready
        /// Its committed entries or snapshot may have changed the configuration.
        var configurationMayChange: Bool
    }
}
