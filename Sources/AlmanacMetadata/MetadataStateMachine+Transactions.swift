/// The participant and coordinator sides of cross-shard transactions (docs/sharding.md).
///
/// Participant: `prepareTransaction` checks every step against the current state, locks the records
/// the steps touch and allocates new directories' ids; `commitTransaction` applies the steps (they
/// cannot fail: their records were locked since prepare); `abortTransaction` releases the locks.
/// Both are idempotent: a repeat, or one for a transaction not prepared here, changes nothing.
///
/// Coordinator: `commitDecision` is the commit point. It records the transaction as committed and
/// the client's result in the client's session, unless the transaction was aborted first (by
/// recovery) or the session already has a result for that sequence (another attempt of the same
/// request won). `abortDecision` records an abort unless the transaction committed. Journal order
/// decides which of the two comes first, on every replica alike. `recordRefusal` makes a refusal
/// the request's result the same way: whichever of a commit decision and a refusal for one
/// sequence comes first in the journal is the answer to every attempt of that request.
extension MetadataStateMachine {
    mutating func applyTransactionProtocol(
        _ operation: MetadataOperation, sessionID: SessionID, sequence: SequenceNumber, now: Timestamp
    ) -> CommandResult {
        switch operation {
        case .prepareTransaction(let id, let steps):
            do throws(MetadataError) {
                return .success(.prepared(allocated: try prepare(id, steps: steps, now: now)))
            } catch {
                return .failure(error)
            }
        case .commitTransaction(let id):
            commit(id, now: now)
            return .success(.done)
        case .abortTransaction(let id):
            releaseLocks(of: id)
            preparedTransactions.removeValue(forKey: id)
            return .success(.done)
        case .commitDecision(let id, let session, let sequence, let outcome):
            return decideCommit(id, session: session, sequence: sequence, outcome: outcome, now: now)
        case .abortDecision(let id):
            guard id.coordinator == config.shardID else {
                return .failure(MetadataError(.einval, "\(id) is coordinated by shard \(id.coordinator), not \(config.shardID)"))
            }
            if decisions[id] == .committed { return .failure(MetadataError(.eexist, "\(id) already committed")) }
            decisions[id] = .aborted
            return .success(.done)
        case .forgetDecision(let id):
            decisions.removeValue(forKey: id)
            return .success(.done)
        case .recordRefusal(let session, let sequence, let error):
            return recordRefusal(error, session: session, sequence: sequence, now: now)
        default:
            return .failure(MetadataError(.internalInconsistency, "\(operation.name) is not a transaction command"))
        }
    }

    /// The decision recorded for `id` (coordinator shard), if any.
    public func decision(of id: TransactionID) -> TransactionDecision? { decisions[id] }

    /// Transactions prepared here, with their prepare times (for recovery of transactions in doubt).
    public var transactionsInDoubt: [(id: TransactionID, preparedAt: Timestamp)] {
        preparedTransactions.values.sorted { $0.id < $1.id }.map { ($0.id, $0.preparedAt) }
    }

    /// Decisions this shard still holds (recovery forgets them once every participant applied them).
    public var heldDecisions: [(id: TransactionID, decision: TransactionDecision)] {
        decisions.keys.sorted().compactMap { id in decisions[id].map { (id, $0) } }
    }

    /// The result a session recorded for `sequence`, if it is still retained.
    public func sessionResult(session: SessionID, sequence: SequenceNumber) -> CommandResult? {
        sessions[session]?.results[sequence]
    }

    // MARK: - Participant

    private mutating func prepare(_ id: TransactionID, steps: [TransactionStep], now: Timestamp) throws(MetadataError) -> [InodeID] {
        if let existing = preparedTransactions[id] {
            // A repeated prepare (the coordinator retried after a lost answer): same steps, same ids.
            guard existing.steps == steps else { throw MetadataError(.eexist, "\(id) is already prepared with other steps") }
            return existing.allocated
        }
        guard !steps.isEmpty else { throw MetadataError(.einval, "\(id) has no steps") }
        // Names added by earlier steps of this transaction (a replace after a remove is a replace).
        var allocated: [InodeID] = []
        var reservedCounters: [SegmentID: UInt64] = [:]
        for step in steps {
            for record in step.touched {
                if record.rawValue == 0 { throw MetadataError(.einval, "\(id) names inode id 0") }
                if !isLocal(record) {
                    throw MetadataError(.wrongShard, "\(id): inode \(record) is in segment \(record.segment), not owned by shard \(config.shardID) (epoch \(ownership.epoch))")
                }
                if let holder = locks[record], holder != id {
                    throw MetadataError(.conflict, "\(id): inode \(record) is locked by \(holder)")
                }
                if isFrozen(record.segment) {
                    throw MetadataError(.conflict, "\(id): inode \(record) is in segment \(record.segment), moving to another shard")
                }
            }
            switch step {
            case let .addEntry(directory, name, child, type):
                try checkName(name)
                let attributes = try liveDirectory(directory, "parent")
                if entry(directory, name) != nil { throw MetadataError(.eexist, "\"\(name)\" already exists in \(directory)") }
                if type == .directory && attributes.nlink >= config.limits.maxLinks {
                    throw MetadataError(.emlink, "directory \(directory) has the maximum of \(config.limits.maxLinks) links")
                }
                if child.rawValue == 0 { throw MetadataError(.einval, "entry names inode id 0") }
            case let .removeEntry(directory, name, child):
                _ = try liveDirectory(directory, "parent", allowOrphan: true)
                guard entry(directory, name) == child else {
                    throw MetadataError(.enoent, "\"\(name)\" in \(directory) no longer names \(child)")
                }
            case let .replaceEntry(directory, name, old, new, _):
                _ = try liveDirectory(directory, "parent")
                guard entry(directory, name) == old else {
                    throw MetadataError(.enoent, "\"\(name)\" in \(directory) no longer names \(old)")
                }
                if new.rawValue == 0 { throw MetadataError(.einval, "entry names inode id 0") }
            case let .createDirectory(segment, parent, mode, uid, gid):
                guard ownership.owns(segment) else {
                    throw MetadataError(.wrongShard, "\(id): segment \(segment) is not owned by shard \(config.shardID) (epoch \(ownership.epoch))")
                }
                if isFrozen(segment) { throw MetadataError(.conflict, "\(id): segment \(segment) is moving to another shard") }
                if let error = Validation.mode(mode, for: .directory) { throw error }
                try checkOwners(uid: uid, gid: gid)
                if parent.rawValue == 0 { throw MetadataError(.einval, "parent inode id 0 is invalid") }
                let counter = reservedCounters[segment] ?? nextCounter(segment)
                if counter > InodeID.maxCounter { throw MetadataError(.enospc, "segment \(segment) has allocated all of its inode ids") }
                reservedCounters[segment] = counter + 1
                allocated.append(InodeID(segment: segment, counter: counter))
            case let .adjustLinks(inode, delta):
                let node = try existingInode(inode, "inode")
                if node.isDirectory { throw MetadataError(.eperm, "link counts of directory \(inode) change through entries") }
                if delta > 0 {
                    if node.isOrphan { throw MetadataError(.enoent, "inode \(inode) has no links left") }
                    if Int64(node.attributes.nlink) + Int64(delta) > Int64(config.limits.maxLinks) {
                        throw MetadataError(.emlink, "inode \(inode) has the maximum of \(config.limits.maxLinks) links")
                    }
                } else if Int64(node.attributes.nlink) + Int64(delta) < 0 {
                    throw MetadataError(.internalInconsistency, "inode \(inode) has \(node.attributes.nlink) links, cannot drop \(-delta)")
                }
            case let .removeDirectory(directory):
                let node = try existingInode(directory, "directory")
                if !node.isDirectory { throw MetadataError(.enotdir, "inode \(directory) is not a directory") }
                if !node.entries.isEmpty { throw MetadataError(.enotempty, "directory \(directory) has \(node.entries.count) entries") }
            case let .reparent(directory, parent):
                let node = try existingInode(directory, "directory")
                if !node.isDirectory { throw MetadataError(.enotdir, "inode \(directory) is not a directory") }
                if parent.rawValue == 0 { throw MetadataError(.einval, "parent inode id 0 is invalid") }
            case let .assertParent(directory, parent):
                let node = try existingInode(directory, "directory")
                guard node.isDirectory, !node.isOrphan, node.parent == parent else {
                    throw MetadataError(.conflict, "the parent of \(directory) changed since the transaction was planned")
                }
            }
        }
        for (segment, counter) in reservedCounters { segmentCounters[segment] = counter }
        for step in steps { for record in step.touched { locks[record] = id } }
        for created in allocated { locks[created] = id }
        preparedTransactions[id] = PreparedTransaction(id: id, steps: steps, allocated: allocated, preparedAt: now)
        return allocated
    }

    private mutating func commit(_ id: TransactionID, now: Timestamp) {
        guard let transaction = preparedTransactions[id] else { return }
        releaseLocks(of: id)
        preparedTransactions.removeValue(forKey: id)
        var allocated = transaction.allocated[...]
        for step in transaction.steps {
            switch step {
            case let .addEntry(directory, name, child, type):
                inodes[directory]?.entries.set(name, to: child, type: type)
                if type == .directory { inodes[directory]?.attributes.nlink += 1 }
                inodes[directory]?.touchModify(now)
            case let .removeEntry(directory, name, _):
                if entryType(directory, name) == .directory { inodes[directory]?.attributes.nlink -= 1 }
                inodes[directory]?.entries.remove(name)
                inodes[directory]?.touchModify(now)
            case let .replaceEntry(directory, name, _, new, newType):
                if entryType(directory, name) == .directory { inodes[directory]?.attributes.nlink -= 1 }
                inodes[directory]?.entries.remove(name)
                inodes[directory]?.entries.set(name, to: new, type: newType)
                if newType == .directory { inodes[directory]?.attributes.nlink += 1 }
                inodes[directory]?.touchModify(now)
            case let .createDirectory(_, parent, mode, uid, gid):
                guard let id = allocated.popFirst() else { continue }
                let attributes = InodeAttributes(
                    id: id, type: .directory, mode: mode & FileType.permissionMask, uid: uid, gid: gid, size: 0,
                    nlink: 2, atime: now, mtime: now, ctime: now, version: 1)
                inodes[id] = Inode(attributes: attributes, parent: parent, entries: DirectoryEntries(), symlinkTarget: nil)
            case let .adjustLinks(inode, delta):
                guard var node = inodes[inode] else { continue }
                node.attributes.nlink = UInt32(max(0, Int64(node.attributes.nlink) + Int64(delta)))
                node.touchChange(now)
                if node.isOrphan && openCounts[inode] == nil {
                    inodes.removeValue(forKey: inode)
                } else {
                    inodes[inode] = node
                }
            case let .removeDirectory(directory):
                if openCounts[directory] == nil {
                    inodes.removeValue(forKey: directory)
                } else {
                    inodes[directory]?.attributes.nlink = 0
                    inodes[directory]?.touchChange(now)
                }
            case let .reparent(directory, parent):
                inodes[directory]?.parent = parent
                inodes[directory]?.touchChange(now)
            case .assertParent:
                break
            }
        }
    }

    private mutating func releaseLocks(of id: TransactionID) {
        guard let transaction = preparedTransactions[id] else { return }
        for step in transaction.steps { for record in step.touched where locks[record] == id { locks.removeValue(forKey: record) } }
        for created in transaction.allocated where locks[created] == id { locks.removeValue(forKey: created) }
    }

    // MARK: - Coordinator

    private mutating func decideCommit(
        _ id: TransactionID, session sessionID: SessionID, sequence: SequenceNumber, outcome: OperationOutcome, now: Timestamp
    ) -> CommandResult {
        guard id.coordinator == config.shardID else {
            return .failure(MetadataError(.einval, "\(id) is coordinated by shard \(id.coordinator), not \(config.shardID)"))
        }
        switch decisions[id] {
        case .committed: return .success(.done)
        case .aborted: return .failure(MetadataError(.transactionAborted, "\(id) was aborted before its commit decision"))
        case nil: break
        }
        guard let session = sessions[sessionID] else {
            decisions[id] = .aborted
            return .failure(MetadataError(.unknownSession, "session \(sessionID) is not registered (never registered, closed, or expired)"))
        }
        switch session.check(sequence, window: config.sessionResultWindow) {
        case .duplicate:
            // Another attempt of the same request already has a result: this one must not commit.
            decisions[id] = .aborted
            return .failure(MetadataError(.alreadyApplied, "sequence \(sequence) of session \(sessionID) already has a result"))
        case .stale:
            decisions[id] = .aborted
            return .failure(MetadataError(.staleSequence, "sequence \(sequence) is older than the retained window"))
        case .apply:
            break
        }
        decisions[id] = .committed
        sessions[sessionID]?.lastActive = now
        sessions[sessionID]?.record(sequence, .success(outcome), window: config.sessionResultWindow)
        return .success(.done)
    }

    /// The result of `sequence` once `error` is offered as it: the result already recorded, if any
    /// (another attempt of the request decided first), else `error`, now recorded.
    private mutating func recordRefusal(
        _ error: MetadataError, session sessionID: SessionID, sequence: SequenceNumber, now: Timestamp
    ) -> CommandResult {
        guard let session = sessions[sessionID] else {
            return .failure(MetadataError(.unknownSession, "session \(sessionID) is not registered (never registered, closed, or expired)"))
        }
        switch session.check(sequence, window: config.sessionResultWindow) {
        case .duplicate(let recorded):
            return recorded
        case .stale:
            return .failure(MetadataError(.staleSequence, "sequence \(sequence) is older than the retained window"))
        case .apply:
            // A refusal before execution (wrong shard, conflict) is not an answer: the retry decides.
            guard !error.isRefusalBeforeExecution else { return .failure(error) }
            sessions[sessionID]?.lastActive = now
            sessions[sessionID]?.record(sequence, .failure(error), window: config.sessionResultWindow)
            return .failure(error)
        }
    }
}
