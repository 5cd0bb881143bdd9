
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
/// randomness only through the injected generator. It performs no I/O; a driver runs the Ready loop
/// (see ``Ready``). Internals are split across `RaftNode+*.swift` files by concern.
public struct RaftNode: Sendable {
    /// Marks a vote request sent because of a leadership transfer: receivers skip their lease check.
    static let transferContext: [UInt8] = Array("almanac.raft.transfer".utf8)

    let config: RaftConfig
    let id: NodeID
    var random: any RandomNumberGenerator & Sendable

    var role: RaftRole = .follower
    var term: Term = 0
    var vote: NodeID = 0
    var leader: NodeID = 0
    var log: RaftLog
    var tracker: ProgressTracker

    var electionElapsed = 0
    var heartbeatElapsed = 0
    var randomizedElectionTimeout = 0
    /// Leader only: target of a running leadership transfer, or 0.
    var leadTransferee: NodeID = 0
    /// Leader only: index of the latest configuration entry it proposed (or its last index on election).
    var pendingConfIndex: LogIndex = 0
    /// Leader only: payload bytes of entries appended in this term and not yet committed.
    var uncommittedSize = 0
    /// Leader only: ReadIndex requests waiting for their heartbeat round (safe mode).
    var readOnly = ReadOnlyQueue()
    /// Leader only: ReadIndex requests waiting for the first commit in the leader's term.
    var pendingReads: [PendingRead] = []

    var msgs: [Message] = []
    var msgsAfterPersist: [Message] = []
    var readStates: [ReadState] = []
    var prevSoftState = SoftState(leader: 0, role: .follower)
    var prevHardState: HardState
    /// Leader only: new entries to replicate at the next `ready()` (batching).
    var appendsPending = false
    /// Leader only: the commit index moved; tell every follower at the next `ready()`.
    var commitBroadcastPending = false

    var invariants: InvariantChecker

    struct PendingRead: Sendable, Hashable {
        var from: NodeID
        var context: [UInt8]
    }

    /// Creates a node from recovered durable state.
    ///
    /// The node runs with `config.normalized()` (see ``RaftConfig/validate()``). Its configuration is
    /// the snapshot's, else `initialState.bootstrap`, plus configuration entries up to `applied`.
    public init(config: RaftConfig, initialState: RaftInitialState,
                random: any RandomNumberGenerator & Sendable) {
        let cfg = config.normalized()
        self.config = cfg
        self.id = cfg.id
        self.random = random
        var invariants = InvariantChecker(node: cfg.id, recordOnly: !cfg.testingFaults.isEmpty)
        var initialState = initialState
        let synthesized = RaftNode.synthesizeBootstrap(&initialState)
        var log = RaftLog(snapshot: initialState.snapshot, entries: initialState.entries)
        if synthesized { log.markUnpersisted() }
        let hs = initialState.hardState
        if hs.commit > log.lastIndex {
            invariants.fail("recovered commit index \(hs.commit) beyond recovered last index \(log.lastIndex)")
        }
        log.committed = max(log.snapshotIndex, min(hs.commit, log.lastIndex))
        let applied = max(log.snapshotIndex, min(initialState.applied, log.committed))
        // The base configuration: the snapshot's; else the bootstrap one, unless the log carries
        // configuration entries (which then build the configuration from empty, as on every replica).
        let logHasConf = initialState.entries.contains { $0.type == .configChange }
        let conf = initialState.snapshot?.metadata.confState
            ?? (logHasConf ? ConfState() : initialState.bootstrap ?? ConfState())
        var tracker = ProgressTracker(config: TrackerConfig(conf), maxInflight: cfg.maxInflightMsgs,
                                      maxInflightBytes: cfg.maxInflightBytes,
                                      learnersCountAsVoters: cfg.testingFaults.contains(.learnerVotes),
                                      lastIndex: log.lastIndex)
        if applied > log.snapshotIndex {
            for entry in log.slice(from: log.snapshotIndex + 1, through: applied) ?? []
            where entry.type == .configChange {
                if let change = try? ConfChange(decoding: entry.data),
                   let next = try? tracker.applying(change, lastIndex: log.lastIndex) {
                    tracker = next
                }
            }
        }
        log.applied = applied
        log.applying = applied
        self.log = log
        self.tracker = tracker
        self.term = hs.term
        self.vote = hs.vote
        self.prevHardState = synthesized ? HardState() : HardState(term: hs.term, vote: hs.vote, commit: log.committed)
        invariants.start(term: hs.term, vote: hs.vote, commit: log.committed)
        self.invariants = invariants
        becomeFollower(term: hs.term, leader: 0)
    }

    /// A fresh node (nothing durable) with a bootstrap configuration writes that configuration into
    /// its log as committed configuration entries of term 1 (one step each: voters, then learners),
    /// like etcd's bootstrap. Every founding replica writes the same entries, and a replica added
    /// later (created with empty storage and no bootstrap) receives them from the leader, so it
    /// builds the same configuration history. A joint bootstrap configuration is not supported:
    /// only `voters` and `learners` are used.
    static func synthesizeBootstrap(_ state: inout RaftInitialState) -> Bool {
        guard let boot = state.bootstrap, !boot.voters.isEmpty, state.snapshot == nil, state.entries.isEmpty,
              state.hardState == HardState() else { return false }
        var entries: [Entry] = []
        let steps = Array(Set(boot.voters)).sorted().map { ConfChangeSingle(.addVoter, $0) }
            + Array(Set(boot.learners).subtracting(boot.voters)).sorted().map { ConfChangeSingle(.addLearner, $0) }
        for step in steps {
            entries.append(Entry(term: 1, index: LogIndex(entries.count + 1), type: .configChange,
                                 data: ConfChange([step]).encoded()))
        }
        state.entries = entries
        state.hardState = HardState(term: 1, vote: 0, commit: LogIndex(entries.count))
        return true
    }

    /// The current term, without building a whole ``status`` (which copies the progress map).
    public var currentTerm: Term { term }

    /// The index of the last entry in the log, without building a whole ``status``.
    public var lastIndex: LogIndex { log.lastIndex }

    /// The commit index, without building a whole ``status``.
    public var commitIndex: LogIndex { log.committed }

    /// Observable state.
    public var status: RaftStatus {
        var progress: [NodeID: FollowerProgress] = [:]
        if role == .leader {
            for (peer, pr) in tracker.progress { progress[peer] = pr.publicValue }
        }
        return RaftStatus(id: id, role: role, term: term, vote: vote, leader: leader, commit: log.committed,
                          applied: log.applied, firstIndex: log.firstIndex, lastIndex: log.lastIndex,
                          confState: tracker.config.confState, progress: progress, transferee: leadTransferee)
    }

    /// Invariant violations recorded instead of stopping the node. Always empty unless
    /// `config.testingFaults` is non-empty (with no faults, a violation stops the process).
    public var invariantViolations: [String] { invariants.violations }

    /// The index of the latest snapshot (0 if none): entries up to it are compacted away.
    public var snapshotIndex: LogIndex { log.snapshotIndex }

    /// The latest snapshot this node holds (its own from `compact`, or one received from the leader).
    public var latestSnapshot: Snapshot? { log.snapshot }

    /// Advances logical time by one tick.
    public mutating func tick() {
        if role == .leader { tickHeartbeat() } else { tickElection() }
        checkInvariants()
    }

    /// Delivers a message from a peer. Messages for other nodes or stale terms are ignored.
    public mutating func step(_ message: Message) {
        guard message.to == id, message.from != id, message.from != 0 else { return }
        stepMessage(message)
        checkInvariants()
    }

    /// Proposes application data. Returns the log index assigned to it.
    @discardableResult
    public mutating func propose(_ data: [UInt8]) throws(RaftError) -> LogIndex {
        try checkCanPropose()
        if config.maxEntrySize > 0 && data.count > config.maxEntrySize {
            throw .entryTooLarge(size: data.count, limit: config.maxEntrySize)
        }
        guard increaseUncommittedSize(data.count) else {
            throw .uncommittedSizeExceeded(limit: config.maxUncommittedEntriesSize)
        }
        let index = appendEntry(type: .normal, data: data)
        checkInvariants()
        return index
    }

    /// Proposes a membership change. Returns the log index assigned to it.
    /// Throws ``RaftError/configChangePending`` while an earlier change is not applied yet.
    @discardableResult
    public mutating func proposeConfChange(_ change: ConfChange) throws(RaftError) -> LogIndex {
        try checkCanPropose()
        if pendingConfIndex > log.applied { throw .configChangePending }
        do {
            _ = try tracker.applying(change, lastIndex: log.lastIndex)
        } catch {
            throw .invalidConfigChange(error.reason)
        }
        let data = change.encoded()
        guard increaseUncommittedSize(data.count) else {
            throw .uncommittedSizeExceeded(limit: config.maxUncommittedEntriesSize)
        }
        let index = appendEntry(type: .configChange, data: data)
        pendingConfIndex = index
        checkInvariants()
        return index
    }

    /// Requests a linearizable read; a `ReadState` carrying `context` appears in a later Ready, on
    /// this node, once the leader confirmed it. Contexts must be unique across the group (for
    /// example node id + counter). A follower forwards the request to its leader; a leader that has
    /// not yet committed an entry of its term queues the request until it has (it never throws
    /// ``RaftError/readNotReady``). Throws ``RaftError/notLeader(leader:)`` when no leader is known.
    public mutating func readIndex(context: [UInt8]) throws(RaftError) {
        if role == .leader {
            handleReadIndexRequest(from: id, context: context)
        } else if leader != 0 {
            var m = message(.readIndex, to: leader)
            m.context = context
            send(m)
        } else {
            throw .notLeader(leader: 0)
        }
        checkInvariants()
    }

    /// Starts a leadership transfer to `target` (a voter). Abandoned after an election timeout.
    public mutating func transferLeadership(to target: NodeID) throws(RaftError) {
        guard role == .leader else { throw .notLeader(leader: leader) }
        try startTransfer(to: target)
        checkInvariants()
    }

    /// Starts an election now (subject to PreVote).
    public mutating func campaign() {
        hup(transfer: false)
        checkInvariants()
    }

    /// Makes a follower forget its leader (it stays a follower in its term). It then grants
    /// (pre-)votes at once instead of waiting for its leader lease to expire, and takes the leader
    /// back when it hears from it. Use when the application has strong reason to believe the leader
    /// is gone. Does nothing on non-followers or with lease-based reads (it would break the lease).
    public mutating func forgetLeader() {
        guard role == .follower, config.readOnlyOption != .leaseBased else { return }
        leader = 0
    }

    /// Tells the leader that a message to `peer` could not be delivered.
    public mutating func reportUnreachable(_ peer: NodeID) {
        guard role == .leader, var pr = tracker.progress[peer], peer != id else { return }
        if pr.state == .replicate { pr.becomeProbe() }
        tracker.progress[peer] = pr
    }

    /// Tells the leader whether sending a snapshot to `peer` finished.
    public mutating func reportSnapshot(_ peer: NodeID, success: Bool) {
        guard role == .leader, var pr = tracker.progress[peer], pr.state == .snapshot else { return }
        if !success { pr.pendingSnapshot = 0 }
        pr.becomeProbe()
        // Wait for the follower's answer (or a heartbeat) before the next append.
        pr.msgAppFlowPaused = true
        tracker.progress[peer] = pr
    }

    /// The application's transfer of a snapshot to `peer` made progress (the follower acknowledged
    /// more of it): the snapshot is not lost, so the leader keeps waiting for it instead of
    /// probing again after an election timeout in the snapshot state. A transfer of a large
    /// snapshot takes far longer than an election timeout; without this, the leader gave up on it
    /// (and the host restarted the transfer) every election timeout.
    public mutating func reportSnapshotProgress(_ peer: NodeID) {
        guard role == .leader, var pr = tracker.progress[peer], pr.state == .snapshot else { return }
        pr.ticksInSnapshot = 0
        tracker.progress[peer] = pr
    }

    /// Records an application snapshot at `snapshot.metadata.index` (at most `applied`) and
    /// discards log entries up to it. The leader uses it for followers too far behind.
    /// `snapshot.metadata.confState` must be the configuration as of that index.
    public mutating func compact(snapshot: Snapshot) throws(RaftError) {
        let index = snapshot.metadata.index
        guard index > log.snapshotIndex, index <= log.applied, index <= log.stable,
              log.term(at: index) == snapshot.metadata.term
        else { throw .snapshotOutOfDate }
        log.compact(to: snapshot)
        checkInvariants()
    }

    mutating func checkInvariants() {
        invariants.observe(term: term, vote: vote, commit: log.committed, applied: log.applied,
                           lastIndex: log.lastIndex, firstIndex: log.firstIndex, role: role, lastLogTerm: log.lastTerm)
    }
}
