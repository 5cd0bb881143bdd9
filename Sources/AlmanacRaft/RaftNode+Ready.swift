/// The Ready / advance handshake with the driver (see ``Ready`` for the contract).
extension RaftNode {
    /// Whether `ready()` would return a non-empty batch.
    public var hasReady: Bool {
        if role == .leader && (appendsPending || commitBroadcastPending) { return true }
        if SoftState(leader: leader, role: role) != prevSoftState { return true }
        if HardState(term: term, vote: vote, commit: log.committed) != prevHardState { return true }
        if log.hasUnhandedSnapshot { return true }
        if log.lastIndex > log.persisting { return true }
        if min(log.committed, log.lastIndex) > log.applying { return true }
        return !msgs.isEmpty || !msgsAfterPersist.isEmpty || !readStates.isEmpty
    }

    /// Takes the pending batch of work. Call `advance(_:)` once it has been carried out.
    /// Batches taken in a row without `advance` in between must be carried out in order.
    public mutating func ready() -> Ready {
        flushAppends()
        var rd = Ready()
        let soft = SoftState(leader: leader, role: role)
        if soft != prevSoftState {
            rd.softState = soft
            prevSoftState = soft
        }
        let hard = HardState(term: term, vote: vote, commit: log.committed)
        if hard != prevHardState {
            rd.hardState = hard
            prevHardState = hard
        }
        rd.snapshot = log.takePendingSnapshot()
        rd.entries = log.unpersistedEntries
        if let last = rd.entries.last { log.persisting(to: last.index) }
        rd.committedEntries = log.committedToApply
        if let last = rd.committedEntries.last { log.applying = last.index }
        rd.messages = msgs
        rd.messagesAfterPersist = msgsAfterPersist
        rd.readStates = readStates
        msgs = []
        msgsAfterPersist = []
        readStates = []
        // Commit-only changes are synced too, so the commit index survives crashes monotonically.
        rd.mustSync = rd.hardState != nil || !rd.entries.isEmpty || rd.snapshot != nil
        return rd
    }

    /// Acknowledges that `ready` was persisted, sent and applied: entries become stable (the leader
    /// now counts its own copy), applied configuration changes take effect.
    public mutating func advance(_ ready: Ready) {
        if let snap = ready.snapshot { log.snapshotStable(snap) }
        log.stableTo(ready.entries)
        for entry in ready.committedEntries {
            guard entry.index > log.applied else { continue }
            invariants.check(entry.index == log.applied + 1,
                             "applied entries skip from \(log.applied) to \(entry.index)")
            invariants.check(log.term(at: entry.index).map { $0 == entry.term } ?? true,
                             "applied entry \(entry.index) of term \(entry.term) is no longer in the log")
            log.applied = entry.index
            if entry.type == .configChange { applyConfChange(entry) }
        }
        log.applying = max(log.applying, log.applied)
        if role == .leader {
            if var me = tracker.progress[id], me.maybeUpdate(log.stable) {
                tracker.progress[id] = me
                maybeCommit()
            }
            maybeAutoLeave()
        }
        checkInvariants()
    }
}
