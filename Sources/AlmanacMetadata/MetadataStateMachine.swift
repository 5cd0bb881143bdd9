import AlmanacPotentialEntries
/// The namespace state machine of one journal shard.
///
/// Pure and deterministic: no I/O, no clock, no randomness. Time comes inside each
/// ``CommandEnvelope``. Applying the same entries at the same indexes on any replica yields
/// equal states, equal results and equal ``digest``s.
public struct MetadataStateMachine: Equatable, Sendable {
    /// Static configuration (part of the snapshot).
    public internal(set) var config: MetadataConfig
    /// The highest log index applied.
    public internal(set) var appliedIndex: UInt64
    /// The state machine's clock: the largest command time applied so far. Command times are
    /// clamped to it, so time never runs backwards across a leader change.
    public internal(set) var clock: Timestamp
    /// The largest migration timestamp seen in an applied envelope.
    public internal(set) var migrationTimestamp: UInt64

    /// The segments this shard owns (fencing: records elsewhere are refused or coordinated).
    public internal(set) var ownership: SegmentOwnership
    var inodes: InodeTable
    /// Next counter to allocate per owned segment (absent: 1).
    var segmentCounters: [SegmentID: UInt64]
    /// Cross-shard transactions prepared here and not yet committed or aborted.
    var preparedTransactions: [TransactionID: PreparedTransaction]
    /// Records locked by a prepared transaction (derived from `preparedTransactions`).
    var locks: [InodeID: TransactionID]
    /// Decisions of the transactions this shard coordinates, until forgotten.
    var decisions: [TransactionID: TransactionDecision]
    var sessions: [SessionID: ClientSession]
    var handles: [HandleID: OpenHandle]
    var nextHandle: HandleID
    /// Open handles per inode; derived from `handles` (rebuilt on restore, not serialized).
    var openCounts: [InodeID: Int]
    /// Command time at or after which the next sweep of expired sessions runs.
    var nextSessionSweep: Timestamp
    /// Pending potential entries of predictive journaling, by id (the log index that issued them),
    /// by the shared rules of `AlmanacPotentialEntries`.
    var potentials = PendingPotentials<PreparedPotential>(capacity: MetadataStateMachine.maxPendingPotentials)
    /// The id reserved by the potential entry being confirmed; ``allocateID(in:)`` hands it out
    /// once. Nil outside a confirmation (never part of a snapshot).
    var confirmingReservation: InodeID? = nil
    /// The segment hand-off this shard is the source of (its segments frozen), if any.
    var outgoing: OutgoingHandoff? = nil
    /// The segments of ``outgoing`` (derived; empty when there is none).
    var frozen: Set<SegmentID> = []
    /// Hand-offs this shard is the target of, staging their records.
    var incoming: [HandoffID: IncomingHandoff] = [:]
    /// How each hand-off that involved this shard ended.
    var handoffOutcomes: [HandoffID: HandoffOutcome] = [:]

    /// A fresh namespace owning `ownership`'s segments; the owner of segment 0 holds the root
    /// directory (id 1, mode 0o755, owned by 0:0). By default a shard owns every segment.
    public init(config: MetadataConfig = MetadataConfig(), ownership: SegmentOwnership? = nil) {
        self.config = config
        self.ownership = ownership ?? .all(config.keying)
        self.appliedIndex = 0
        self.clock = .zero
        self.migrationTimestamp = 0
        let root = InodeAttributes(
            id: .root, type: .directory, mode: 0o755, uid: 0, gid: 0, size: 0, nlink: 2,
            atime: .zero, mtime: .zero, ctime: .zero, version: 1)
        self.inodes = InodeTable()
        self.segmentCounters = [:]
        self.preparedTransactions = [:]
        self.locks = [:]
        self.decisions = [:]
        if self.ownership.owns(InodeID.root) {
            inodes[.root] = Inode(attributes: root, parent: .root, entries: DirectoryEntries(), symlinkTarget: nil)
            segmentCounters[InodeID.root.segment] = InodeID.root.counter + 1
        }
        self.sessions = [:]
        self.handles = [:]
        self.nextHandle = 1
        self.openCounts = [:]
        self.nextSessionSweep = .zero
    }

    /// Number of inodes, including the root and open orphans.
    public var inodeCount: Int { inodes.count }
    /// Number of live client sessions.
    public var sessionCount: Int { sessions.count }
    /// Number of open handles.
    public var openHandleCount: Int { handles.count }
    /// Whether `session` is registered and not reclaimed.
    public func hasSession(_ session: SessionID) -> Bool { sessions[session] != nil }

    // MARK: - Apply

    /// Applies the journal entry at log `index`.
    ///
    /// Never throws: a semantic error is the result, identical on every replica. An entry at
    /// an index not above ``appliedIndex`` changes nothing and returns `alreadyApplied`.
    /// Every other call advances ``appliedIndex``, even if the command fails.
    public mutating func apply(_ envelope: CommandEnvelope, at index: UInt64) -> CommandResult {
        guard index > appliedIndex else {
            return .failure(MetadataError(
                .alreadyApplied, "log index \(index) is not after the applied index \(appliedIndex)"))
        }
        appliedIndex = index
        if envelope.time > clock { clock = envelope.time }
        let now = clock
        defer { sweepExpiredSessions(now: now) }

        guard envelope.shardID == config.shardID else {
            return .failure(MetadataError(
                .wrongShard, "entry is for shard \(envelope.shardID), this is shard \(config.shardID)"))
        }
        if envelope.migrationTimestamp > migrationTimestamp { migrationTimestamp = envelope.migrationTimestamp }

        if envelope.operation.isTransactionProtocol {
            return applyTransactionProtocol(envelope.operation, sessionID: envelope.sessionID, sequence: envelope.sequence, now: now)
        }
        if envelope.operation.isHandoffProtocol {
            return applyHandoffProtocol(envelope.operation)
        }
        if envelope.operation.isPotentialBookkeeping {
            return applyPotentialBookkeeping(envelope, at: index, now: now)
        }

        if case .registerSession = envelope.operation {
            guard envelope.sessionID == 0, envelope.sequence == 0 else {
                return .failure(MetadataError(.einval, "registerSession must carry session id 0 and sequence 0"))
            }
            sessions[index] = ClientSession(id: index, lastActive: now)
            return .success(.sessionRegistered(index))
        }

        let sessionID = envelope.sessionID
        // Read what is needed without keeping a copy of the session (its result cache would
        // be copied on write below).
        guard let lastActive = sessions[sessionID]?.lastActive else {
            return .failure(MetadataError(
                .unknownSession, "session \(sessionID) is not registered (never registered, closed, or expired)"))
        }
        if lastActive.adding(config.sessionTimeoutNanoseconds) < now {
            expireSession(sessionID)
            return .failure(MetadataError(.sessionExpired, "session \(sessionID) expired; register a new session"))
        }
        if envelope.sequence == 0, case .keepAlive = envelope.operation {
            // An unsequenced keep-alive (a client asking for an answer at commit, to confirm the
            // writes acknowledged ahead of it): idempotent, refreshes the lease, records nothing.
            sessions[sessionID]?.lastActive = now
            return .success(.done)
        }
        guard envelope.sequence != 0 else {
            return .failure(MetadataError(.einval, "sequence numbers start at 1"))
        }
        let check = sessions[sessionID]?.check(envelope.sequence, window: config.sessionResultWindow) ?? .apply
        let highestSequence = sessions[sessionID]?.highestSequence ?? 0
        switch check {
        case .duplicate(let first):
            sessions[sessionID]?.lastActive = now
            return first
        case .stale:
            return .failure(MetadataError(
                .staleSequence,
                "sequence \(envelope.sequence) is older than the retained window (highest applied \(highestSequence), window \(config.sessionResultWindow))"
            ))
        case .apply:
            break
        }
        sessions[sessionID]?.lastActive = now

        let result: CommandResult
        do {
            result = .success(try execute(envelope.operation, session: sessionID, now: now))
        } catch {
            // Refused before executing (wrong shard, cross-shard, locked): nothing changed, so the
            // sequence stays free for the retry or for the cross-shard transaction's decision.
            if error.isRefusalBeforeExecution { return .failure(error) }
            result = .failure(error)
        }
        sessions[sessionID]?.record(envelope.sequence, result, window: config.sessionResultWindow)
        return result
    }

    mutating func execute(
        _ operation: MetadataOperation, session: SessionID, now: Timestamp
    ) throws(MetadataError) -> OperationOutcome {
        switch operation {
        case .registerSession:
            throw MetadataError(.internalInconsistency, "registerSession reached execute")
        case .keepAlive:
            return .done
        case .closeSession:
            expireSession(session)
            return .done
        case let .mkdir(parent, name, mode, uid, gid):
            return try mkdir(parent: parent, name: name, mode: mode, uid: uid, gid: gid, now: now)
        case let .create(parent, name, mode, uid, gid):
            return try create(parent: parent, name: name, mode: mode, uid: uid, gid: gid, now: now)
        case let .setattr(id, changes):
            return try setattr(id, changes, now: now)
        case let .rename(fromParent, fromName, toParent, toName):
            return try rename(fromParent: fromParent, fromName: fromName, toParent: toParent, toName: toName, now: now)
        case let .unlink(parent, name):
            return try unlink(parent: parent, name: name, now: now)
        case let .rmdir(parent, name):
            return try rmdir(parent: parent, name: name, now: now)
        case let .open(parent, name, flags, mode, uid, gid):
            return try open(parent: parent, name: name, flags: flags, mode: mode, uid: uid, gid: gid, session: session, now: now)
        case let .close(handle):
            return try close(handle, session: session)
        case let .link(target, parent, name):
            return try link(target: target, parent: parent, name: name, now: now)
        case let .symlink(parent, name, target, uid, gid):
            return try symlink(parent: parent, name: name, target: target, uid: uid, gid: gid, now: now)
        case let .confirmPotential(tag):
            return try confirmPotential(tag: tag, session: session, now: now)
        case .prepareTransaction, .commitTransaction, .abortTransaction, .commitDecision, .abortDecision, .forgetDecision,
            .recordRefusal:
            throw MetadataError(.internalInconsistency, "transaction protocol command reached execute")
        case .issuePotential, .expirePotential:
            throw MetadataError(.internalInconsistency, "potential entry bookkeeping reached execute")
        case .freezeSegments, .exportSegments, .thawSegments, .releaseSegments, .stageSegments, .activateSegments, .abortImport:
            throw MetadataError(.internalInconsistency, "hand-off protocol command reached execute")
        }
    }

    // MARK: - Sessions

    /// Removes a session and closes its handles.
    mutating func expireSession(_ id: SessionID) {
        guard sessions.removeValue(forKey: id) != nil else { return }
        dropPotentials(of: id)
        let owned = handles.values.filter { $0.session == id }.map(\.id).sorted()
        for handle in owned { releaseHandle(handle) }
    }

    /// Reclaims sessions idle longer than the timeout. Runs at most every timeout/4 of command time.
    private mutating func sweepExpiredSessions(now: Timestamp) {
        sweepExpiredPotentials(now: now)
        guard now >= nextSessionSweep else { return }
        let timeout = config.sessionTimeoutNanoseconds
        let expired = sessions.values.filter { $0.lastActive.adding(timeout) < now }.map(\.id).sorted()
        for id in expired { expireSession(id) }
        nextSessionSweep = now.adding(max(1, timeout / 4))
    }

    /// Closes a handle; deletes its inode if that was the last reference.
    mutating func releaseHandle(_ id: HandleID) {
        guard let handle = handles.removeValue(forKey: id) else { return }
        let remaining = (openCounts[handle.inode] ?? 1) - 1
        if remaining > 0 {
            openCounts[handle.inode] = remaining
        } else {
            openCounts.removeValue(forKey: handle.inode)
            if let node = inodes[handle.inode], node.isOrphan { inodes.removeValue(forKey: handle.inode) }
        }
    }
}
