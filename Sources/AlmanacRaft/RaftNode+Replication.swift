/// Log replication (Raft §5.3), commitment (§5.4.2), flow control and snapshots sent to followers.
extension RaftNode {
    // MARK: Leader side

    mutating func checkCanPropose() throws(RaftError) {
        guard role == .leader else { throw .notLeader(leader: leader) }
        guard tracker.progress[id] != nil else { throw .notLeader(leader: 0) } // removed from the group
        if leadTransferee != 0 { throw .transferInProgress(to: leadTransferee) }
    }

    /// Accounts `bytes` of new uncommitted payload; false when over `maxUncommittedEntriesSize`.
    /// An entry is always accepted when nothing is uncommitted, so a large entry cannot wedge the log.
    mutating func increaseUncommittedSize(_ bytes: Int) -> Bool {
        let limit = config.maxUncommittedEntriesSize
        if limit > 0 && uncommittedSize > 0 && bytes > 0 && uncommittedSize + bytes > limit { return false }
        uncommittedSize += bytes
        return true
    }

    /// Appends one entry of the leader's term; replication happens at the next `ready()` (batching).
    mutating func appendEntry(type: EntryType, data: [UInt8]) -> LogIndex {
        let entry = Entry(term: term, index: log.lastIndex + 1, type: type, data: data)
        log.truncateAndAppend([entry])
        appendsPending = true
        return entry.index
    }

    /// Sends pending appends to every peer: new entries, and the new commit index if it moved.
    mutating func flushAppends() {
        guard role == .leader, appendsPending || commitBroadcastPending else { return }
        let sendEmpty = commitBroadcastPending
        appendsPending = false
        commitBroadcastPending = false
        for peer in tracker.ids where peer != id {
            var empty = sendEmpty
            while maybeSendAppend(to: peer, sendIfEmpty: empty) { empty = false }
        }
    }

    /// Sends one append (or a snapshot) to `peer` unless its flow is paused. Returns whether sent.
    @discardableResult
    mutating func maybeSendAppend(to peer: NodeID, sendIfEmpty: Bool) -> Bool {
        guard var pr = tracker.progress[peer], !pr.isPaused else { return false }
        let prevIndex = pr.next - 1
        guard let prevTerm = log.term(at: prevIndex),
              let entries = log.slice(from: pr.next, through: log.lastIndex, maxBytes: config.maxSizePerMsg)
        else { return maybeSendSnapshot(to: peer) }
        if entries.isEmpty && !sendIfEmpty { return false }
        var m = message(.append, to: peer)
        m.index = prevIndex
        m.logTerm = prevTerm
        m.entries = entries
        m.commit = log.committed
        send(m)
        let bytes = entries.reduce(0) { $0 + $1.payloadSize }
        pr.sentEntries(count: entries.count, lastIndex: entries.last?.index ?? prevIndex, bytes: bytes)
        tracker.progress[peer] = pr
        return true
    }

    /// Sends the latest snapshot to a follower whose next entry is compacted away.
    mutating func maybeSendSnapshot(to peer: NodeID) -> Bool {
        guard var pr = tracker.progress[peer], pr.recentActive else { return false }
        guard let snap = log.snapshot else {
            invariants.fail("entries needed by node \(peer) are compacted but no snapshot is held")
            return false
        }
        pr.becomeSnapshot(snap.metadata.index)
        tracker.progress[peer] = pr
        var m = message(.installSnapshot, to: peer)
        m.index = snap.metadata.index
        m.logTerm = snap.metadata.term
        m.snapshot = snap
        send(m)
        return true
    }

    mutating func broadcastHeartbeat(context: [UInt8]) {
        for peer in tracker.ids where peer != id {
            guard let pr = tracker.progress[peer] else { continue }
            var m = message(.heartbeat, to: peer)
            // Never tell a follower to commit beyond what it is known to hold.
            m.commit = min(pr.match, log.committed)
            m.context = context
            send(m)
        }
    }

    /// Commits the largest index replicated on a quorum, if it is of the current term (§5.4.2).
    @discardableResult
    mutating func maybeCommit() -> Bool {
        let index = tracker.committedIndex()
        guard index > log.committed, index <= log.lastIndex else { return false }
        // Raft §5.4.2: never commit an entry of a previous term by counting replicas. It becomes
        // committed indirectly once an entry of the current term above it is.
        if !config.testingFaults.contains(.commitPreviousTermByCounting) {
            guard log.term(at: index) == term else { return false }
        }
        let old = log.committed
        commit(to: index)
        uncommittedSize = max(0, uncommittedSize - log.payloadBytes(from: old + 1, through: index))
        if config.broadcastCommit { commitBroadcastPending = true }
        releasePendingReads()
        return true
    }

    mutating func commit(to index: LogIndex) {
        guard index > log.committed else { return }
        invariants.check(index <= log.lastIndex, "commit index \(index) beyond last index \(log.lastIndex)")
        log.committed = min(index, log.lastIndex)
    }

    mutating func stepLeader(_ m: Message) {
        switch m.type {
        case .appendResponse:
            handleAppendResponse(m)
        case .heartbeatResponse:
            handleHeartbeatResponse(m)
        case .readIndex:
            guard tracker.progress[m.from] != nil else { return }
            handleReadIndexRequest(from: m.from, context: m.context)
        case .append, .heartbeat, .installSnapshot:
            invariants.fail("two leaders in term \(term): \(id) and \(m.from)")
        default:
            break
        }
    }

    mutating func handleAppendResponse(_ m: Message) {
        guard var pr = tracker.progress[m.from] else { return }
        pr.recentActive = true
        if m.reject {
            // Fast backtracking: jump to the follower's hint, refined by our own log's terms.
            var probe = m.rejectHint
            if m.logTerm > 0 { probe = log.findConflictByTerm(index: m.rejectHint, term: m.logTerm).index }
            if pr.maybeDecrTo(rejected: m.index, matchHint: probe) {
                if pr.state == .replicate { pr.becomeProbe() }
                tracker.progress[m.from] = pr
                maybeSendAppend(to: m.from, sendIfEmpty: true)
            } else {
                tracker.progress[m.from] = pr
            }
            return
        }
        let wasPaused = pr.isPaused
        guard pr.maybeUpdate(m.index) || (pr.match == m.index && pr.state == .probe) else {
            tracker.progress[m.from] = pr
            return
        }
        switch pr.state {
        case .probe:
            pr.becomeReplicate()
        case .snapshot where pr.match + 1 >= log.firstIndex:
            pr.becomeProbe()
            pr.becomeReplicate()
        case .replicate:
            pr.inflights.freeLE(m.index)
        default:
            break
        }
        tracker.progress[m.from] = pr
        if !maybeCommit() && wasPaused {
            maybeSendAppend(to: m.from, sendIfEmpty: true)
        }
        while maybeSendAppend(to: m.from, sendIfEmpty: false) {}
        if m.from == leadTransferee, tracker.progress[m.from]?.match == log.lastIndex {
            send(message(.timeoutNow, to: m.from))
        }
    }

    mutating func handleHeartbeatResponse(_ m: Message) {
        guard var pr = tracker.progress[m.from] else { return }
        pr.recentActive = true
        pr.msgAppFlowPaused = false
        if pr.state == .replicate && pr.inflights.isFull { pr.inflights.freeFirstOne() }
        tracker.progress[m.from] = pr
        if pr.match < log.lastIndex || pr.state == .probe {
            maybeSendAppend(to: m.from, sendIfEmpty: true)
        }
        if config.readOnlyOption == .safe && !m.context.isEmpty {
            handleReadAck(from: m.from, context: m.context)
        }
    }

    // MARK: Follower side

    mutating func handleAppend(_ m: Message) {
        if let first = m.entries.first, let last = m.entries.last,
           first.index != m.index + 1 || last.index != m.index + LogIndex(m.entries.count) {
            return // malformed: entries must directly follow m.index, contiguously
        }
        if m.index < log.committed {
            var r = message(.appendResponse, to: m.from)
            r.index = log.committed
            send(r)
            return
        }
        guard log.matchTerm(m.index, m.logTerm) else {
            // Reject with a hint: the largest index <= m.index whose term is <= m.logTerm, so the
            // leader can skip a whole term of conflicting entries per round trip.
            let hint = log.findConflictByTerm(index: min(m.index, log.lastIndex), term: m.logTerm)
            var r = message(.appendResponse, to: m.from)
            r.reject = true
            r.index = m.index
            r.rejectHint = hint.index
            r.logTerm = hint.term
            send(r)
            return
        }
        let lastNew = m.index + LogIndex(m.entries.count)
        let conflict = log.findConflict(m.entries)
        if conflict != 0 {
            if conflict <= log.committed {
                invariants.fail("committed entry at index \(conflict) would be truncated (commit \(log.committed))")
            }
            let start = Int(conflict - m.index - 1)
            log.truncateAndAppend(Array(m.entries[start...]))
        }
        commit(to: min(m.commit, lastNew))
        var r = message(.appendResponse, to: m.from)
        r.index = lastNew
        send(r)
    }

    mutating func handleHeartbeat(_ m: Message) {
        commit(to: min(m.commit, log.lastIndex))
        var r = message(.heartbeatResponse, to: m.from)
        r.context = m.context
        send(r)
    }

    mutating func handleSnapshot(_ m: Message) {
        guard let snap = m.snapshot else { return }
        var r = message(.appendResponse, to: m.from)
        r.index = restore(snap) ? log.lastIndex : log.committed
        send(r)
    }

    /// Installs a leader's snapshot unless the log already has it. Returns whether it was installed.
    mutating func restore(_ snap: Snapshot) -> Bool {
        let meta = snap.metadata
        guard meta.index > log.committed, role == .follower else { return false }
        if log.matchTerm(meta.index, meta.term) {
            // We already hold the snapshot's last entry: just fast-forward the commit index.
            commit(to: meta.index)
            return false
        }
        let cs = meta.confState
        // Installed even when the snapshot's configuration lacks this node: the leader sends only to
        // members of its current configuration, so later entries re-add us. (Refusing, as etcd does,
        // wedges a re-added node until the leader happens to take a newer snapshot.)
        // Discards every entry (the suffix after the snapshot conflicts or is missing).
        log.restore(snap)
        tracker = ProgressTracker(config: TrackerConfig(cs), maxInflight: config.maxInflightMsgs,
                                  maxInflightBytes: config.maxInflightBytes,
                                  learnersCountAsVoters: tracker.learnersCountAsVoters, lastIndex: log.lastIndex)
        return true
    }
}
