/// The leader's side of potential entries: which predictions of each session it has issued to the
/// journal, so that the real request is journaled as a compact confirmation when one matches
/// (docs/prediction.md, "Potential entries").
///
/// - An entry is tracked from its proposal; its id (log index) is known once its issue committed.
/// - ``match(session:tag:now:)``: a request matching a tracked, unexpired entry is journaled as a
///   confirmation and the entry stops being tracked. The log orders the confirmation after the
///   issue, so the leader may confirm an entry it has not seen committed: if the issue was refused
///   or lost, the state machine refuses the confirmation before execution and the leader journals
///   the full operation (``PendingPotentials/confirm(session:tag:now:)``).
/// - ``overdue(now:forgetUnheardAfter:)`` hands out the committed entries whose deadline passed,
///   for one expiry journal entry; an entry never heard back is forgotten (the state machine's
///   own sweep removes it).
///
/// A hint, never a promise: losing this state (a crash, a leader change) only turns later
/// confirmations into full entries. Times are in the caller's clock (monotonic, one unit).
public struct IssuedPotentials<Candidate: Sendable>: Sendable {
    public struct Key: Hashable, Sendable {
        public var session: UInt64
        public var tag: UInt64

        public init(session: UInt64, tag: UInt64) {
            self.session = session
            self.tag = tag
        }
    }

    public struct Issued: Sendable {
        public var candidate: Candidate
        /// The predicted request's arrival deadline: later, the entry is no longer confirmed.
        public var deadline: Int64
        /// The log index once it committed (nil while in flight).
        public var id: UInt64?
        public var proposedAt: Int64
    }

    private var issued: [Key: Issued] = [:]

    public init() {}

    public var count: Int { issued.count }

    /// Tracked entries whose issue is known committed (the others are in flight).
    public var committedCount: Int { issued.values.filter { $0.id != nil }.count }

    public func isTracked(_ key: Key) -> Bool { issued[key] != nil }

    /// The issue of `candidate` was proposed at `now`.
    public mutating func proposed(_ candidate: Candidate, key: Key, deadline: Int64, now: Int64) {
        issued[key] = Issued(candidate: candidate, deadline: deadline, id: nil, proposedAt: now)
    }

    /// The issue committed at log index `id` (unless a request already confirmed it).
    public mutating func committed(_ key: Key, id: UInt64) {
        issued[key]?.id = id
    }

    /// The issue was refused by the state machine, or its proposal failed.
    public mutating func failed(_ key: Key) {
        issued.removeValue(forKey: key)
    }

    /// Whether a request of `key` at `now` is confirmed (the entry stops being tracked) rather than
    /// journaled in full.
    public mutating func match(_ key: Key, now: Int64) -> Bool {
        guard let entry = issued[key], entry.deadline >= now else { return false }
        issued.removeValue(forKey: key)
        return true
    }

    /// Committed entries whose deadline passed (sorted ids, for one expiry entry); entries still
    /// unheard of `forgetUnheardAfter` after their proposal are forgotten.
    public mutating func overdue(now: Int64, forgetUnheardAfter: Int64) -> [UInt64] {
        var ids: [UInt64] = []
        for (key, entry) in issued where entry.deadline < now {
            if let id = entry.id {
                ids.append(id)
                issued.removeValue(forKey: key)
            } else if now - entry.proposedAt > forgetUnheardAfter {
                issued.removeValue(forKey: key)
            }
        }
        return ids.sorted()
    }

    /// Forgets everything (this node stopped leading the group).
    public mutating func removeAll() { issued = [:] }
}
