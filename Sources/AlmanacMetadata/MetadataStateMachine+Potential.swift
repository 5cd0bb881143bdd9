import AlmanacPotentialEntries

// Potential entries of predictive journaling (docs/prediction.md, "Potential entries").
//
// - `issuePotential(op, expiresAt)` (envelope: the predicted session, sequence 0) validates the
//   predicted operation against the current state, reserves the inode id it would create, and
//   records it as pending under its log index. Nothing visible changes: no inode, entry, handle or
//   session result; only the segment counter moves past the reserved id.
// - `confirmPotential(tag)` (envelope: the real request's session and sequence) goes through the
//   session's exactly-once check like any write, then executes the oldest pending operation of
//   that session with that tag (FNV-1a 64 of the operation's journal encoding) with the reserved
//   id. No such entry (never issued, refused, lost with its leader, confirmed or expired): refused
//   before execution (CONFLICT, the sequence stays free) and the leader journals the full operation.
// - `expirePotential(ids)` drops pending entries. Entries past their `expiresAt` are also swept
//   by the first entry applied at or after that command time, and a session's entries go with it.
// All three are journal entries applied in log order, so every replica holds the same pending set.
// The pending set's rules are `AlmanacPotentialEntries.PendingPotentials`, which the deterministic
// simulator runs too; this file adds the metadata checks and the id reservation.

/// What a potential entry of the metadata state machine prepared at issue: the validated
/// operation and the inode id it reserved for the inode it would create (nil: it creates none).
public struct PreparedPotential: Hashable, Sendable {
    public var operation: MetadataOperation
    public var reserved: InodeID?
}

/// A predicted operation journaled ahead of its request (pending until confirmed or expired).
public struct PotentialEntry: Hashable, Sendable {
    /// The log index of the `issuePotential` entry.
    public var id: UInt64
    public var session: SessionID
    public var operation: MetadataOperation
    /// The inode id reserved for the inode the operation would create (nil: it creates none).
    public var reserved: InodeID?
    public var issuedAt: Timestamp
    public var expiresAt: Timestamp
    /// ``MetadataOperation/potentialTag`` of `operation`.
    public var tag: UInt64

    init(_ pending: PendingPotential<PreparedPotential>) {
        id = pending.id
        session = pending.session
        operation = pending.prepared.operation
        reserved = pending.prepared.reserved
        issuedAt = Timestamp(nanoseconds: pending.issuedAt)
        expiresAt = Timestamp(nanoseconds: pending.expiresAt)
        tag = pending.tag
    }
}

extension MetadataOperation {
    /// What a confirmation names its potential entry by: FNV-1a 64 of the journal encoding.
    public var potentialTag: UInt64 {
        var writer = BinaryWriter()
        encode(to: &writer)
        return StateDigest(of: writer.bytes).value
    }

    /// Whether this is potential-entry bookkeeping applied outside session sequencing.
    public var isPotentialBookkeeping: Bool {
        switch self {
        case .issuePotential, .expirePotential: true
        default: false
        }
    }

    /// Whether predictive journaling may issue this operation as a potential entry (namespace
    /// mutations and handle operations of one session; not session or transaction commands).
    public var isPredictable: Bool {
        switch self {
        case .mkdir, .create, .setattr, .rename, .unlink, .rmdir, .open, .close, .link, .symlink: true
        default: false
        }
    }
}

extension MetadataStateMachine {
    /// At most this many potential entries are pending per shard; further issues are refused.
    public static let maxPendingPotentials = 4096

    /// The pending potential entries, by id.
    public var pendingPotentials: [UInt64: PotentialEntry] { potentials.entries.mapValues(PotentialEntry.init) }

    mutating func applyPotentialBookkeeping(_ envelope: CommandEnvelope, at index: UInt64, now: Timestamp) -> CommandResult {
        switch envelope.operation {
        case let .issuePotential(operation, expiresAt):
            do {
                try issuePotential(operation, session: envelope.sessionID, id: index, expiresAt: expiresAt, now: now)
                return .success(.done)
            } catch {
                return .failure(error)
            }
        case let .expirePotential(ids):
            potentials.expire(ids)
            return .success(.done)
        default:
            return .failure(MetadataError(.internalInconsistency, "\(envelope.operation.name) is not potential-entry bookkeeping"))
        }
    }

    private mutating func issuePotential(
        _ operation: MetadataOperation, session: SessionID, id: UInt64, expiresAt: Timestamp, now: Timestamp
    ) throws(MetadataError) {
        guard operation.isPredictable else {
            throw MetadataError(.einval, "\(operation.name) cannot be a potential entry")
        }
        guard let lastActive = sessions[session]?.lastActive, lastActive.adding(config.sessionTimeoutNanoseconds) >= now else {
            throw MetadataError(.unknownSession, "potential entry for session \(session), which is not live")
        }
        do throws(PotentialRefusal) {
            try potentials.checkIssue(expiresAt: expiresAt.nanoseconds, now: now.nanoseconds)
        } catch {
            throw MetadataError(refusal: error)
        }
        // Validation may reserve an id; the issue cannot fail after its checks passed (ids are log indexes).
        let reserved = try validateAndReserve(operation, session: session)
        do throws(PotentialRefusal) {
            try potentials.issue(PendingPotential(id: id, session: session, tag: operation.potentialTag, issuedAt: now.nanoseconds,
                                                  expiresAt: expiresAt.nanoseconds,
                                                  prepared: PreparedPotential(operation: operation, reserved: reserved)),
                                 now: now.nanoseconds)
        } catch {
            throw MetadataError(refusal: error)
        }
    }

    /// The checks that do not depend on what happens before the confirmation (names, owners,
    /// modes, the parent directory, the handle's owner), then the reservation of the new inode id.
    private mutating func validateAndReserve(_ operation: MetadataOperation, session: SessionID) throws(MetadataError) -> InodeID? {
        let newInode: (type: FileType, parent: InodeID, name: ByteString)?
        switch operation {
        case let .mkdir(parent, name, mode, uid, gid):
            try checkName(name)
            if let error = Validation.mode(mode, for: .directory) { throw error }
            try checkOwners(uid: uid, gid: gid)
            _ = try liveDirectory(parent, "parent")
            newInode = (.directory, parent, name)
        case let .create(parent, name, mode, uid, gid):
            try checkName(name)
            if let error = Validation.mode(mode, for: .regular) { throw error }
            try checkOwners(uid: uid, gid: gid)
            _ = try liveDirectory(parent, "parent")
            newInode = (.regular, parent, name)
        case let .symlink(parent, name, target, uid, gid):
            try checkName(name)
            if let error = Validation.symlinkTarget(target, limits: config.limits) { throw error }
            try checkOwners(uid: uid, gid: gid)
            _ = try liveDirectory(parent, "parent")
            newInode = (.symlink, parent, name)
        case let .open(parent, name, flags, mode, uid, gid):
            try checkName(name)
            if flags.create {
                if let error = Validation.mode(mode, for: .regular) { throw error }
                try checkOwners(uid: uid, gid: gid)
            }
            _ = try liveDirectory(parent, "parent")
            // Only an open that would create the file needs an id.
            newInode = flags.create && entry(parent, name) == nil ? (.regular, parent, name) : nil
        case let .unlink(parent, name), let .rmdir(parent, name):
            try checkName(name)
            _ = try liveDirectory(parent, "parent")
            newInode = nil
        case let .rename(fromParent, fromName, toParent, toName):
            try checkName(fromName)
            try checkName(toName)
            _ = try liveDirectory(fromParent, "source parent")
            _ = try liveDirectory(toParent, "target parent")
            newInode = nil
        case let .link(_, parent, name):
            try checkName(name)
            _ = try liveDirectory(parent, "parent")
            newInode = nil
        case let .setattr(id, _):
            try checkID(id, "inode")
            newInode = nil
        case let .close(handle):
            guard let open = handles[handle], open.session == session else {
                throw MetadataError(.ebadf, "handle \(handle) is not open in session \(session)")
            }
            newInode = nil
        default:
            throw MetadataError(.einval, "\(operation.name) cannot be a potential entry")
        }
        guard let newInode, entry(newInode.parent, newInode.name) == nil else { return nil }
        let segment = segmentForNew(newInode.type, parent: newInode.parent, name: newInode.name)
        guard ownership.owns(segment) else {
            throw MetadataError(.crossShard, "the new inode's segment \(segment) is owned by another shard")
        }
        try checkIDAvailable(in: segment)
        return allocateID(in: segment)
    }

    /// Executes the oldest pending potential entry of `session` tagged `tag`, with its reserved inode id.
    mutating func confirmPotential(tag: UInt64, session: SessionID, now: Timestamp) throws(MetadataError) -> OperationOutcome {
        guard let potential = potentials.confirm(session: session, tag: tag, now: now.nanoseconds) else {
            throw MetadataError(.conflict, "session \(session) has no pending potential entry tagged \(tag)")
        }
        confirmingReservation = potential.prepared.reserved
        defer { confirmingReservation = nil }
        return try execute(potential.prepared.operation, session: session, now: now)
    }

    /// Drops the pending entries of `session` (closed or expired).
    mutating func dropPotentials(of session: SessionID) {
        potentials.drop(session: session)
    }

    /// Drops the entries whose expiry time has passed. Runs when the clock moves into a new
    /// 100 ms of command time, so its cost is bounded whatever the entry rate.
    mutating func sweepExpiredPotentials(now: Timestamp) {
        potentials.sweep(now: now.nanoseconds)
    }
}

extension MetadataError {
    /// The shared pending set's refusal, as the state machine reports it.
    init(refusal: PotentialRefusal) {
        switch refusal {
        case let .expiresBeforeIssue(expiresAt, now):
            self.init(.einval, "potential entry expires at \(Timestamp(nanoseconds: expiresAt)), not after \(Timestamp(nanoseconds: now))")
        case let .full(capacity):
            self.init(.enospc, "\(capacity) potential entries are pending")
        case let .duplicate(id):
            self.init(.internalInconsistency, "potential entry \(id) is pending already")
        }
    }
}
