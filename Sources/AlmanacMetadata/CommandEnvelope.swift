/// One journal entry: an operation plus everything needed to apply it deterministically.
public struct CommandEnvelope: Hashable, Sendable {
    /// The shard this entry belongs to.
    public var shardID: ShardID
    /// Migration epoch of the shard layout the client saw (0 = none). Carried for the
    /// sharding/migration work; the state machine stores it but does not interpret it yet.
    public var migrationTimestamp: UInt64
    /// The client session (0 only for `registerSession`).
    public var sessionID: SessionID
    /// The client's sequence number within the session (0 only for `registerSession`).
    public var sequence: SequenceNumber
    /// Wall-clock time chosen by the leader when proposing.
    public var time: Timestamp
    public var operation: MetadataOperation

    public init(
        shardID: ShardID, migrationTimestamp: UInt64 = 0, sessionID: SessionID, sequence: SequenceNumber,
        time: Timestamp, operation: MetadataOperation
    ) {
        self.shardID = shardID
        self.migrationTimestamp = migrationTimestamp
        self.sessionID = sessionID
        self.sequence = sequence
        self.time = time
        self.operation = operation
    }

    /// Whether `predicted` (an entry replicated ahead of time by predictive journaling) is the
    /// same request as this one: everything but the leader-chosen time must be equal.
    public func confirms(_ predicted: CommandEnvelope) -> Bool {
        shardID == predicted.shardID && migrationTimestamp == predicted.migrationTimestamp
            && sessionID == predicted.sessionID && sequence == predicted.sequence
            && operation == predicted.operation
    }
}

/// What an operation produced when it succeeded.
public enum OperationOutcome: Hashable, Sendable {
    /// `registerSession`: the new session's id.
    case sessionRegistered(SessionID)
    /// The attributes of the created or changed inode (mkdir, create, setattr, link, symlink).
    case attributes(InodeAttributes)
    /// `open`: the new handle, the file's attributes and whether it was created.
    case opened(handle: HandleID, attributes: InodeAttributes, created: Bool)
    /// Success with nothing to return (unlink, rmdir, rename, close, keepAlive, closeSession).
    case done
    /// `prepareTransaction`: the ids allocated for its `createDirectory` steps, in step order.
    case prepared(allocated: [InodeID])
    /// `freezeSegments`: the frozen segments' counters and record counts.
    indirect case handoffFrozen(HandoffSummary)
    /// `exportSegments`: a page of frozen records.
    indirect case exportPage(SegmentExportPage)
}

/// The outcome of applying one entry. Semantic errors are results, not thrown, so every
/// replica produces the same result.
public enum CommandResult: Hashable, Sendable {
    case success(OperationOutcome)
    case failure(MetadataError)

    /// The error code, if this is a failure.
    public var errorCode: ErrorCode? {
        if case .failure(let error) = self { return error.code }
        return nil
    }

    /// The outcome, if this is a success.
    public var outcome: OperationOutcome? {
        if case .success(let outcome) = self { return outcome }
        return nil
    }
}
