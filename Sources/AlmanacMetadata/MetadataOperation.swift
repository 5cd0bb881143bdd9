/// A journaled namespace mutation (or session command).
///
/// Operations are plain values with `Hashable` equality: a predicted operation (predictive
/// journaling) can be matched against the one the client really sends by `==`.
public enum MetadataOperation: Hashable, Sendable {
    /// Registers a new client session; the envelope's session id must be 0. The new session's
    /// id is the log index of this entry.
    case registerSession
    /// Keeps the envelope's session alive; changes nothing else.
    case keepAlive
    /// Ends the envelope's session and closes its handles.
    case closeSession
    /// Creates a directory.
    case mkdir(parent: InodeID, name: ByteString, mode: UInt32, uid: UInt32, gid: UInt32)
    /// Creates a regular file; fails with EEXIST if the name exists.
    case create(parent: InodeID, name: ByteString, mode: UInt32, uid: UInt32, gid: UInt32)
    /// Changes attributes of an inode.
    case setattr(id: InodeID, changes: SetAttributes)
    /// POSIX rename within this shard.
    case rename(fromParent: InodeID, fromName: ByteString, toParent: InodeID, toName: ByteString)
    /// Removes a non-directory entry.
    case unlink(parent: InodeID, name: ByteString)
    /// Removes an empty directory.
    case rmdir(parent: InodeID, name: ByteString)
    /// Opens (and optionally creates or truncates) the entry `name` of `parent`.
    case open(parent: InodeID, name: ByteString, flags: OpenFlags, mode: UInt32, uid: UInt32, gid: UInt32)
    /// Closes a handle of the envelope's session.
    case close(handle: HandleID)
    /// Adds a hard link `name` in `parent` to the non-directory `target`.
    case link(target: InodeID, parent: InodeID, name: ByteString)
    /// Creates a symbolic link.
    case symlink(parent: InodeID, name: ByteString, target: ByteString, uid: UInt32, gid: UInt32)

    // Cross-shard transactions (docs/sharding.md). Participant commands carry session 0.
    /// Checks the steps' preconditions, locks their records and allocates new directories' ids.
    case prepareTransaction(TransactionID, steps: [TransactionStep])
    /// Applies a prepared transaction's steps and releases its locks (no-op if not prepared here).
    case commitTransaction(TransactionID)
    /// Releases a prepared transaction's locks without applying anything (no-op if not prepared).
    case abortTransaction(TransactionID)
    /// On the coordinator shard: the commit point. Records the transaction as committed and
    /// `outcome` as the result of `session`'s `sequence`, unless the transaction was aborted or the
    /// sequence already has a result.
    case commitDecision(TransactionID, session: SessionID, sequence: SequenceNumber, outcome: OperationOutcome)
    /// On the coordinator shard: records the transaction as aborted unless it committed.
    case abortDecision(TransactionID)
    /// On the coordinator shard: drops the decision once every participant applied it.
    case forgetDecision(TransactionID)
    /// On the coordinator shard: records `error` as the result of `session`'s `sequence` (a
    /// cross-shard request refused by its plan or its prepare), unless the sequence already has a
    /// result; the answer is the sequence's result either way. Another attempt of the same request
    /// that committed first keeps its result, and one still running loses at its commit decision.
    case recordRefusal(session: SessionID, sequence: SequenceNumber, error: MetadataError)

    // Predictive journaling (docs/prediction.md, "Potential entries"). Outside session sequencing
    // except `confirmPotential`, which carries the real request's session and sequence.
    /// Records a predicted operation of the envelope's session as a potential entry (id: this
    /// entry's log index), validated and with its new inode id reserved; changes no visible state.
    indirect case issuePotential(operation: MetadataOperation, expiresAt: Timestamp)
    /// Executes the oldest pending potential entry of the envelope's session whose operation has
    /// ``potentialTag`` `tag`, as the envelope's sequence. The tag (not the log index) lets the leader
    /// confirm an entry it proposed but has not seen committed yet: the log orders the two.
    case confirmPotential(tag: UInt64)
    /// Drops the pending potential entries `ids` (absent ones are ignored).
    case expirePotential(ids: [UInt64])

    // Segment hand-off (docs/migration.md). Session 0, outside sessions; each is idempotent.
    /// Source: freezes `segments` for hand-off `id` to `target` (they refuse changes until released
    /// or thawed); answers ``OperationOutcome/handoffFrozen(_:)``.
    case freezeSegments(HandoffID, segments: [SegmentID], target: ShardID)
    /// Source: a page of the frozen records from `after`, about `budgetBytes` long (changes nothing).
    case exportSegments(HandoffID, after: SegmentExportCursor, budgetBytes: UInt32)
    /// Source: rolls a freeze back (refused once released).
    case thawSegments(HandoffID)
    /// Source: drops the frozen segments and their records (after the target activated them).
    case releaseSegments(HandoffID, epoch: Epoch)
    /// Target: stages exported pieces, invisible until activation.
    case stageSegments(HandoffID, source: ShardID, segments: [SegmentID], pieces: [SegmentRecordPiece])
    /// Target: the commit point. Takes ownership of the staged segments at shard epoch `epoch`
    /// once the staging matches the source's `summary`.
    case activateSegments(HandoffID, source: ShardID, summary: HandoffSummary, epoch: Epoch, migrationTimestamp: UInt64)
    /// Target: drops the staging and refuses the hand-off from now on (refused once activated).
    case abortImport(HandoffID)

    /// A short name for logs and metrics.
    public var name: String {
        switch self {
        case .registerSession: "registerSession"
        case .keepAlive: "keepAlive"
        case .closeSession: "closeSession"
        case .mkdir: "mkdir"
        case .create: "create"
        case .setattr: "setattr"
        case .rename: "rename"
        case .unlink: "unlink"
        case .rmdir: "rmdir"
        case .open: "open"
        case .close: "close"
        case .link: "link"
        case .symlink: "symlink"
        case .prepareTransaction: "prepareTransaction"
        case .commitTransaction: "commitTransaction"
        case .abortTransaction: "abortTransaction"
        case .commitDecision: "commitDecision"
        case .abortDecision: "abortDecision"
        case .forgetDecision: "forgetDecision"
        case .recordRefusal: "recordRefusal"
        case .issuePotential: "issuePotential"
        case .confirmPotential: "confirmPotential"
        case .expirePotential: "expirePotential"
        case .freezeSegments: "freezeSegments"
        case .exportSegments: "exportSegments"
        case .thawSegments: "thawSegments"
        case .releaseSegments: "releaseSegments"
        case .stageSegments: "stageSegments"
        case .activateSegments: "activateSegments"
        case .abortImport: "abortImport"
        }
    }

    /// Whether this is a transaction-protocol command (carried with session 0, outside sessions).
    public var isTransactionProtocol: Bool {
        switch self {
        case .prepareTransaction, .commitTransaction, .abortTransaction, .commitDecision, .abortDecision, .forgetDecision,
            .recordRefusal:
            return true
        default:
            return false
        }
    }
}

/// Which attributes `setattr` changes; nil fields stay as they are.
public struct SetAttributes: Hashable, Sendable {
    /// New permission bits; may include the inode's own type bits, nothing else.
    public var mode: UInt32?
    public var uid: UInt32?
    public var gid: UInt32?
    /// New size of a regular file (truncate or extend); also sets mtime unless `mtime` is given.
    public var size: UInt64?
    public var atime: TimeUpdate?
    public var mtime: TimeUpdate?

    public init(
        mode: UInt32? = nil, uid: UInt32? = nil, gid: UInt32? = nil, size: UInt64? = nil,
        atime: TimeUpdate? = nil, mtime: TimeUpdate? = nil
    ) {
        self.mode = mode
        self.uid = uid
        self.gid = gid
        self.size = size
        self.atime = atime
        self.mtime = mtime
    }

    /// Whether nothing would change.
    public var isEmpty: Bool {
        mode == nil && uid == nil && gid == nil && size == nil && atime == nil && mtime == nil
    }
}

/// A new value for a timestamp attribute.
public enum TimeUpdate: Hashable, Sendable {
    /// The command's time (`UTIME_NOW`).
    case now
    /// An explicit time.
    case set(Timestamp)
}

/// Flags of `open`.
public struct OpenFlags: Hashable, Sendable {
    /// Read/write intent of the handle.
    public enum Access: UInt8, Hashable, Sendable {
        case readOnly = 0
        case writeOnly = 1
        case readWrite = 2

        /// Whether the handle may write.
        public var writes: Bool { self != .readOnly }
    }

    public var access: Access
    /// `O_CREAT`: create a regular file if the name does not exist.
    public var create: Bool
    /// `O_EXCL`: with `create`, fail with EEXIST if the name exists. Invalid without `create`.
    public var exclusive: Bool
    /// `O_TRUNC`: set an existing regular file's size to 0. Needs a writing access.
    public var truncate: Bool

    public init(access: Access = .readOnly, create: Bool = false, exclusive: Bool = false, truncate: Bool = false) {
        self.access = access
        self.create = create
        self.exclusive = exclusive
        self.truncate = truncate
    }
}
