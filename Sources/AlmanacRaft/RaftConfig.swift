/// How linearizable reads are confirmed.
public enum ReadOnlyOption: Sendable, Hashable {
    /// ReadIndex confirmed by a heartbeat round to a quorum (default, always safe).
    case safe
    /// Leader lease; requires `checkQuorum`. Relies on bounded clock drift.
    case leaseBased
}

/// Deliberate safety bugs, for proving that the simulator's checkers fire. Never set in production.
public enum SafetyFault: String, Sendable, Hashable, CaseIterable {
    /// Commit an entry of a previous term by counting replicas (violates Raft §5.4.2).
    case commitPreviousTermByCounting
    /// Grant votes in `messages` (before the vote is durable) instead of `messagesAfterPersist`.
    case skipPersistBeforeVote
    /// Let learners vote: their grants count towards the voters' majority in elections
    /// (commitment still counts voters only, so quorums stop intersecting).
    case learnerVotes
}

/// Static configuration of one Raft node.
public struct RaftConfig: Sendable {
    public var id: NodeID
    /// Ticks without leader contact before a follower campaigns (randomized in [t, 2t)).
    public var electionTick: Int
    /// Ticks between leader heartbeats.
    public var heartbeatTick: Int
    /// Soft cap on the bytes of entries in one append message.
    public var maxSizePerMsg: Int
    /// Maximum append messages in flight per follower in the replicate state.
    public var maxInflightMsgs: Int
    /// Maximum entry bytes in flight per follower; 0 means unlimited.
    public var maxInflightBytes: Int
    /// Maximum bytes of uncommitted entries at the leader; 0 means unlimited.
    public var maxUncommittedEntriesSize: Int
    /// Maximum size of one proposed entry's payload; 0 means unlimited.
    public var maxEntrySize: Int
    public var preVote: Bool
    public var checkQuorum: Bool
    public var readOnlyOption: ReadOnlyOption
    /// When the leader's commit index moves, send it to the followers at once (an empty append
    /// where no entries are pending; etcd's behaviour). Off, the new commit index rides on the next
    /// append or heartbeat: fewer messages under load, followers apply later (stale reads lag by up
    /// to a heartbeat interval). Safety does not depend on it.
    public var broadcastCommit = true
    /// A leader that steps down under CheckQuorum sends TimeoutNow to its most up-to-date voter, so
    /// that a new election starts as soon as that message arrives instead of after the followers'
    /// election timeouts (which the old leader's last messages, delivered late, may have just
    /// restarted, and during which their leases refuse pre-votes). Lost in a partition, it changes
    /// nothing; arriving after a newer term, it is ignored. Safety does not depend on it: any
    /// node may start an election at any time.
    public var handOverOnQuorumLoss = true
    /// Test-only safety bugs. Must stay empty outside tests.
    public var testingFaults: Set<SafetyFault>

    public init(id: NodeID, electionTick: Int = 10, heartbeatTick: Int = 1, maxSizePerMsg: Int = 1 << 20,
                maxInflightMsgs: Int = 256, maxInflightBytes: Int = 32 << 20,
                maxUncommittedEntriesSize: Int = 64 << 20, maxEntrySize: Int = 8 << 20, preVote: Bool = true,
                checkQuorum: Bool = true, readOnlyOption: ReadOnlyOption = .safe,
                testingFaults: Set<SafetyFault> = []) {
        self.id = id
        self.electionTick = electionTick
        self.heartbeatTick = heartbeatTick
        self.maxSizePerMsg = maxSizePerMsg
        self.maxInflightMsgs = maxInflightMsgs
        self.maxInflightBytes = maxInflightBytes
        self.maxUncommittedEntriesSize = maxUncommittedEntriesSize
        self.maxEntrySize = maxEntrySize
        self.preVote = preVote
        self.checkQuorum = checkQuorum
        self.readOnlyOption = readOnlyOption
        self.testingFaults = testingFaults
    }
}

/// Why a request to the Raft core was refused.
public enum RaftError: Error, Sendable, Hashable {
    /// This node is not the leader; `leader` is the known leader or 0.
    case notLeader(leader: NodeID)
    /// A leadership transfer is running; proposals are refused until it ends.
    case transferInProgress(to: NodeID)
    /// The leader's uncommitted bytes would exceed `maxUncommittedEntriesSize`.
    case uncommittedSizeExceeded(limit: Int)
    /// The entry is larger than `maxEntrySize`.
    case entryTooLarge(size: Int, limit: Int)
    /// Another configuration change is still pending.
    case configChangePending
    /// The configuration change is invalid (for example removing every voter).
    case invalidConfigChange(String)
    /// A ReadIndex read cannot be served yet (no entry of the leader's term committed).
    case readNotReady
    /// The target of a transfer is not a voter.
    case unknownNode(NodeID)
    /// The snapshot given to `compact` is older than what the node already has, or ahead of `applied`.
    case snapshotOutOfDate
}

/// Why a ``RaftConfig`` is not usable as given.
public struct RaftConfigError: Error, Sendable, Hashable, CustomStringConvertible {
    public var description: String
}

extension RaftConfig {
    /// Checks the configuration. `RaftNode.init` does not throw: it runs with ``normalized()``,
    /// so callers that want to refuse bad settings call `validate()` first.
    public func validate() throws(RaftConfigError) {
        if id == 0 { throw RaftConfigError(description: "node id 0 is reserved for \"none\"") }
        if heartbeatTick <= 0 { throw RaftConfigError(description: "heartbeatTick must be positive") }
        if electionTick <= heartbeatTick {
            throw RaftConfigError(description: "electionTick (\(electionTick)) must exceed heartbeatTick (\(heartbeatTick))")
        }
        if maxInflightMsgs <= 0 { throw RaftConfigError(description: "maxInflightMsgs must be positive") }
        if maxSizePerMsg <= 0 { throw RaftConfigError(description: "maxSizePerMsg must be positive") }
        if maxInflightBytes < 0 || maxUncommittedEntriesSize < 0 || maxEntrySize < 0 {
            throw RaftConfigError(description: "byte limits must not be negative (0 means unlimited)")
        }
        if maxInflightBytes > 0 && maxInflightBytes < maxSizePerMsg {
            throw RaftConfigError(description: "maxInflightBytes must be at least maxSizePerMsg")
        }
        if readOnlyOption == .leaseBased && !checkQuorum {
            throw RaftConfigError(description: "lease-based reads require checkQuorum")
        }
    }

    /// The configuration `RaftNode` actually runs with: invalid settings are replaced by the nearest
    /// valid ones. In particular `leaseBased` reads without `checkQuorum` fall back to `.safe`.
    public func normalized() -> RaftConfig {
        var c = self
        c.heartbeatTick = max(1, c.heartbeatTick)
        c.electionTick = max(c.heartbeatTick + 1, c.electionTick)
        c.maxInflightMsgs = max(1, c.maxInflightMsgs)
        c.maxSizePerMsg = max(1, c.maxSizePerMsg)
        c.maxInflightBytes = max(0, c.maxInflightBytes)
        if c.maxInflightBytes > 0 { c.maxInflightBytes = max(c.maxInflightBytes, c.maxSizePerMsg) }
        c.maxUncommittedEntriesSize = max(0, c.maxUncommittedEntriesSize)
        c.maxEntrySize = max(0, c.maxEntrySize)
        if c.readOnlyOption == .leaseBased && !c.checkQuorum { c.readOnlyOption = .safe }
        return c
    }
}
