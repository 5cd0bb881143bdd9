/// The node's in-memory log: the entries after the latest snapshot, plus the markers that track
/// which entries are durable ("stable") and which were handed out in a ``Ready`` but not yet
/// acknowledged ("persisting"), and what is committed, handed out for applying, and applied.
///
/// Entries with index above `stable` are unstable: they must be in some `Ready.entries` before they
/// may be counted as durable. Index `snapshotIndex` is the last index covered by the snapshot.
struct RaftLog: Sendable {
    private(set) var snapshotIndex: LogIndex = 0
    private(set) var snapshotTerm: Term = 0
    /// The latest snapshot (durable, or pending installation). Used by the leader for slow followers.
    private(set) var snapshot: Snapshot?
    /// Entries `snapshotIndex + 1 ... lastIndex`, contiguous.
    private(set) var entries: [Entry] = []

    var committed: LogIndex = 0
    /// Acknowledged as applied by `advance`.
    var applied: LogIndex = 0
    /// Handed out in `Ready.committedEntries` (>= applied).
    var applying: LogIndex = 0
    /// Last index known durable (acknowledged by `advance`) and still in the log.
    private(set) var stable: LogIndex = 0
    /// Last index handed out in `Ready.entries`.
    private(set) var persisting: LogIndex = 0
    /// A snapshot received from the leader that still has to be handed out / made durable.
    private(set) var pendingSnapshot: Snapshot?
    private(set) var pendingSnapshotHandedOut = false

    /// A log recovered from durable state: everything given is durable.
    init(snapshot: Snapshot?, entries: [Entry]) {
        if let snapshot {
            snapshotIndex = snapshot.metadata.index
            snapshotTerm = snapshot.metadata.term
            self.snapshot = snapshot
        }
        // Drop entries already covered by the snapshot; keep the contiguous run after it.
        var expected = snapshotIndex + 1
        for entry in entries where entry.index >= expected {
            guard entry.index == expected else { break }
            self.entries.append(entry)
            expected += 1
        }
        committed = snapshotIndex
        applied = snapshotIndex
        applying = snapshotIndex
        stable = lastIndex
        persisting = lastIndex
    }

    /// Treats every entry as not yet durable (bootstrap entries synthesized in memory).
    mutating func markUnpersisted() {
        stable = snapshotIndex
        persisting = snapshotIndex
    }

    var firstIndex: LogIndex { snapshotIndex + 1 }
    var lastIndex: LogIndex { snapshotIndex + LogIndex(entries.count) }
    var lastTerm: Term { entries.last?.term ?? snapshotTerm }

    /// The term of the entry at `index`, or nil when compacted away or beyond the end.
    func term(at index: LogIndex) -> Term? {
        if index == snapshotIndex { return snapshotTerm }
        if index < snapshotIndex || index > lastIndex { return nil }
        return entries[Int(index - snapshotIndex - 1)].term
    }

    func matchTerm(_ index: LogIndex, _ term: Term) -> Bool { self.term(at: index) == term }

    func entry(at index: LogIndex) -> Entry? {
        guard index > snapshotIndex, index <= lastIndex else { return nil }
        return entries[Int(index - snapshotIndex - 1)]
    }

    /// Entries `lo ... hi` (clamped to the log end), at most `maxBytes` of payload but at least one
    /// entry. Returns nil when `lo` is compacted away.
    func slice(from lo: LogIndex, through hi: LogIndex, maxBytes: Int = Int.max) -> [Entry]? {
        if lo <= snapshotIndex { return nil }
        let upper = min(hi, lastIndex)
        if lo > upper { return [] }
        var out: [Entry] = []
        var bytes = 0
        for i in lo...upper {
            let e = entries[Int(i - snapshotIndex - 1)]
            if !out.isEmpty && bytes + e.payloadSize > maxBytes { break }
            bytes += e.payloadSize
            out.append(e)
        }
        return out
    }

    /// Raft §5.4.1: whether a candidate's log (last index/term) is at least as up to date as ours.
    func isUpToDate(lastIndex candidateIndex: LogIndex, lastTerm candidateTerm: Term) -> Bool {
        candidateTerm > lastTerm || (candidateTerm == lastTerm && candidateIndex >= lastIndex)
    }

    /// The index of the first entry in `ents` that is missing from or conflicts with the log; 0 if none.
    func findConflict(_ ents: [Entry]) -> LogIndex {
        for e in ents where !matchTerm(e.index, e.term) {
            if e.index <= snapshotIndex { continue } // compacted entries are committed; they match
            return e.index
        }
        return 0
    }

    /// The largest index at most `index` whose term is at most `term` (fast backtracking), with its term.
    /// When the terms are unknown (compacted), returns `(index, 0)`.
    func findConflictByTerm(index: LogIndex, term: Term) -> (index: LogIndex, term: Term) {
        var i = index
        while true {
            guard let t = self.term(at: i) else { return (i, 0) }
            if t <= term { return (i, t) }
            if i == 0 { return (0, 0) }
            i -= 1
        }
    }

    /// Appends `ents`, truncating any suffix from `ents.first.index`. `ents` must start within
    /// `firstIndex ... lastIndex + 1`.
    mutating func truncateAndAppend(_ ents: [Entry]) {
        guard let first = ents.first else { return }
        precondition(first.index > snapshotIndex && first.index <= lastIndex + 1,
                     "raft invariant violated: append at \(first.index) outside \(firstIndex)...\(lastIndex + 1)")
        let keep = Int(first.index - snapshotIndex - 1)
        if keep < entries.count {
            entries.removeSubrange(keep...)
            stable = min(stable, first.index - 1)
            persisting = min(persisting, first.index - 1)
            committed = min(committed, max(first.index - 1, snapshotIndex))
            applying = min(applying, committed)
            applied = min(applied, committed)
        }
        entries.append(contentsOf: ents)
    }

    /// Entries not yet handed out for persisting.
    var unpersistedEntries: [Entry] {
        let lo = max(persisting, snapshotIndex) + 1
        return slice(from: lo, through: lastIndex) ?? []
    }

    /// Marks entries up to `index` as handed out in a Ready.
    mutating func persisting(to index: LogIndex) { persisting = max(persisting, index) }

    /// Records that `ents` (handed out earlier) are durable, as far as they still match the log.
    mutating func stableTo(_ ents: [Entry]) {
        for e in ents.reversed() where matchTerm(e.index, e.term) {
            stable = max(stable, e.index)
            return
        }
    }

    /// Replaces the whole log with a snapshot received from the leader (follower install). The
    /// snapshot must still be handed out in a Ready and made durable.
    mutating func restore(_ snap: Snapshot) {
        snapshotIndex = snap.metadata.index
        snapshotTerm = snap.metadata.term
        snapshot = snap
        entries = []
        pendingSnapshot = snap
        pendingSnapshotHandedOut = false
        committed = snap.metadata.index
        applying = max(applying, snap.metadata.index)
        stable = min(stable, snapshotIndex)
        persisting = snapshotIndex
    }

    /// The snapshot to hand out in the next Ready, if any; marks it handed out.
    mutating func takePendingSnapshot() -> Snapshot? {
        guard let snap = pendingSnapshot, !pendingSnapshotHandedOut else { return nil }
        pendingSnapshotHandedOut = true
        return snap
    }

    var hasUnhandedSnapshot: Bool { pendingSnapshot != nil && !pendingSnapshotHandedOut }

    /// Records that `snap` (handed out earlier) is durable and applied.
    mutating func snapshotStable(_ snap: Snapshot) {
        if pendingSnapshot?.metadata == snap.metadata { pendingSnapshot = nil; pendingSnapshotHandedOut = false }
        if snapshotIndex >= snap.metadata.index { stable = max(stable, snap.metadata.index) }
        applied = max(applied, snap.metadata.index)
        applying = max(applying, applied)
    }

    /// Discards entries up to the application's snapshot (log compaction).
    mutating func compact(to snap: Snapshot) {
        let index = snap.metadata.index
        let drop = Int(index - snapshotIndex)
        entries.removeFirst(min(drop, entries.count))
        snapshotIndex = index
        snapshotTerm = snap.metadata.term
        snapshot = snap
    }

    /// Committed entries not yet handed out for applying (`applying + 1 ... committed`).
    var committedToApply: [Entry] {
        let hi = min(committed, lastIndex)
        if applying >= hi { return [] }
        return slice(from: max(applying, snapshotIndex) + 1, through: hi) ?? []
    }

    /// Whether a configuration entry is committed but not yet applied.
    var hasUnappliedConfChange: Bool {
        let hi = min(committed, lastIndex)
        if applied >= hi { return false }
        var i = max(applied, snapshotIndex) + 1
        while i <= hi {
            if entries[Int(i - snapshotIndex - 1)].type == .configChange { return true }
            i += 1
        }
        return false
    }

    /// Payload bytes of entries in `lo ... hi` (clamped to the log).
    func payloadBytes(from lo: LogIndex, through hi: LogIndex) -> Int {
        let l = max(lo, firstIndex)
        let h = min(hi, lastIndex)
        if l > h { return 0 }
        var total = 0
        for i in l...h { total += entries[Int(i - snapshotIndex - 1)].payloadSize }
        return total
    }
}
