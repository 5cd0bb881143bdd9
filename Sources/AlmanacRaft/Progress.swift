/// The leader's view of one peer's log: what it has (`match`), what to send next (`next`), and how.
///
/// - probe: one append at a time, waiting for the answer (after a rejection or on becoming leader);
/// - replicate: optimistic pipelining, bounded by ``Inflights`` (count and bytes);
/// - snapshot: a snapshot was sent; appends pause until it is acknowledged or reported.
struct Progress: Sendable, Hashable {
    typealias State = FollowerProgress.State

    var match: LogIndex
    var next: LogIndex
    var state: State = .probe
    /// Index of the snapshot being sent while in `.snapshot`.
    var pendingSnapshot: LogIndex = 0
    /// Whether the peer was heard from since the last CheckQuorum round.
    var recentActive: Bool
    /// In probe state: an append was sent and not yet answered.
    var msgAppFlowPaused = false
    var inflights: Inflights
    var isLearner: Bool
    /// Ticks spent in `.snapshot` state; the snapshot is retried after an election timeout.
    var ticksInSnapshot = 0

    init(match: LogIndex, next: LogIndex, maxInflight: Int, maxInflightBytes: Int, isLearner: Bool,
         recentActive: Bool) {
        self.match = match
        self.next = next
        self.inflights = Inflights(maxCount: maxInflight, maxBytes: maxInflightBytes)
        self.isLearner = isLearner
        self.recentActive = recentActive
    }

    /// Whether sending appends to this peer is currently throttled.
    var isPaused: Bool {
        switch state {
        case .probe: return msgAppFlowPaused
        case .replicate: return inflights.isFull
        case .snapshot: return true
        }
    }

    private mutating func resetState(_ newState: State) {
        msgAppFlowPaused = false
        pendingSnapshot = 0
        state = newState
        inflights.reset()
        ticksInSnapshot = 0
    }

    mutating func becomeProbe() {
        if state == .snapshot {
            let pending = pendingSnapshot
            resetState(.probe)
            next = max(match + 1, pending + 1)
        } else {
            resetState(.probe)
            next = match + 1
        }
    }

    mutating func becomeReplicate() {
        resetState(.replicate)
        next = match + 1
    }

    mutating func becomeSnapshot(_ index: LogIndex) {
        resetState(.snapshot)
        pendingSnapshot = index
    }

    /// Records that an append carrying `entries` entries (`bytes` payload bytes) was sent.
    mutating func sentEntries(count entries: Int, lastIndex: LogIndex, bytes: Int) {
        switch state {
        case .replicate:
            if entries > 0 {
                next = lastIndex + 1
                inflights.add(lastIndex: lastIndex, bytes: bytes)
            }
        case .probe:
            msgAppFlowPaused = true
        case .snapshot:
            break
        }
    }

    /// Updates `match` from an acknowledgement; returns whether it moved forward.
    mutating func maybeUpdate(_ index: LogIndex) -> Bool {
        var updated = false
        if match < index {
            match = index
            updated = true
            msgAppFlowPaused = false
        }
        next = max(next, index + 1)
        return updated
    }

    /// Handles a rejection of the append at `rejected`, with the follower's hint `matchHint`.
    /// Returns false when the rejection is stale.
    mutating func maybeDecrTo(rejected: LogIndex, matchHint: LogIndex) -> Bool {
        if state == .replicate {
            if rejected <= match { return false }
            next = match + 1
            return true
        }
        // Probe or snapshot: only the rejection of the last probe counts.
        if next == 0 || next - 1 != rejected { return false }
        next = max(min(rejected, matchHint + 1), match + 1)
        msgAppFlowPaused = false
        return true
    }

    var publicValue: FollowerProgress {
        FollowerProgress(match: match, next: next, state: state, isLearner: isLearner, recentActive: recentActive,
                         inflightMessages: inflights.count, inflightBytes: inflights.bytes)
    }
}
