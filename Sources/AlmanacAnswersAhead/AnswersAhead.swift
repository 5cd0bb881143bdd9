import AlmanacRaft

/// A leader's answers ahead of commit, for writes that ask for `async` durability (docs/node.md,
/// "Answers ahead of commit"): the rules, as a value that the node's host and the deterministic
/// simulator both drive. The leader keeps a second copy of its state machine, *the state ahead*:
/// the applied state plus every entry it proposed since, in log order. An async write is proposed
/// like any other and answered at once with its result on the state ahead, which is the result its
/// commit will produce, since apply is deterministic and the leader's log below the entry does not
/// change while it leads.
///
/// Times are whatever monotonic clock the driver uses (nanoseconds in the node, simulated
/// microseconds in the simulator), the same unit for every argument.
public struct AnswersAhead<Machine: AheadApplicable>: Sendable {
    /// What a leader does with an async write (``admit(now:leadingSince:replayWindow:lastIndex:applied:)``).
    public enum Admission: Sendable, Hashable {
        /// Refused: the leader is in its replay window; `remaining` time units are left of it.
        case refusedInReplayWindow(remaining: UInt64)
        /// Answered at commit, like a majority write: the state ahead cannot be built yet (the
        /// log holds a previous leader's entries, whose data this leader does not keep).
        case atCommit
        /// Answered at once, with ``answer(_:at:term:now:applied:appliedIndex:)``.
        case ahead
    }

    /// What became of a write answered ahead, learned when its index is applied here.
    public enum Outcome: Sendable, Hashable {
        /// Applied with the term it was answered in: durable on a majority, after `exposure` time
        /// units from answer to apply.
        case durable(exposure: UInt64)
        /// Another leader's entry took its index: acknowledged and lost (the client replays it).
        case lost
    }

    /// The state ahead, through `through`; nil until an async write needs it, and again once the
    /// applied state caught up (then it equals the applied one) or after `rebuildAfter` applies (so
    /// the two copies never drift apart by more than that many entries' copy-on-write).
    public private(set) var machine: Machine?
    public private(set) var through: LogIndex = 0
    var appliedSinceBuilt = 0
    /// The data of this leader's proposals not yet applied, recorded since its log ended at
    /// `recordingFrom`: what building the state ahead replays over the applied state.
    var unapplied: [LogIndex: [UInt8]] = [:]
    public private(set) var recordingFrom: LogIndex?
    /// Entries answered ahead and not applied yet: their term and the time of the answer (the
    /// exposure window ends when the entry is applied here, i.e. committed by a majority).
    var answered: [LogIndex: (term: Term, at: UInt64)] = [:]
    /// The highest index answered ahead while leading: linearizable reads wait for it, so a read
    /// never misses a write that was acknowledged before it.
    public private(set) var answeredThrough: LogIndex = 0
    /// Applies after which the state ahead is rebuilt from the applied state.
    public let rebuildAfter: Int

    public init(rebuildAfter: Int = 4096) {
        self.rebuildAfter = rebuildAfter
    }

    /// Whether applies and snapshots must be reported (something is recorded or answered).
    public var isTracking: Bool { recordingFrom != nil || !answered.isEmpty }

    /// Step 1, at a leader: what to do with an async write. A leader refuses async writes for
    /// `replayWindow` after its election (clients replay first). The first async write of a
    /// leadership starts recording this leader's proposals; until the applied index reaches the
    /// log's end at that moment (the previous leader's entries), async writes are answered at commit.
    public mutating func admit(now: UInt64, leadingSince: UInt64, replayWindow: UInt64,
                               lastIndex: LogIndex, applied: LogIndex) -> Admission {
        let windowEnds = leadingSince &+ replayWindow
        if now < windowEnds { return .refusedInReplayWindow(remaining: windowEnds - now) }
        if recordingFrom == nil { recordingFrom = lastIndex }
        guard let recordingFrom, applied >= recordingFrom else { return .atCommit }
        return .ahead
    }

    /// Step 2: the admitted write entered this leader's log at `index` in `term`. Returns its
    /// result on the state ahead (built over `applied` through `appliedIndex` when missing).
    public mutating func answer(_ data: [UInt8], at index: LogIndex, term: Term, now: UInt64,
                                applied: Machine, appliedIndex: LogIndex) -> Machine.ApplyResult {
        var ahead = takeStateBefore(index, applied: applied, appliedIndex: appliedIndex)
        let result = ahead.apply(data, at: index)
        machine = ahead
        through = index
        unapplied[index] = data
        answered[index] = (term, now)
        answeredThrough = max(answeredThrough, index)
        return result
    }

    /// Any other proposal of this leader (majority writes, replays), while answers ahead are
    /// recorded: kept until applied, and applied to the state ahead when there is one (log order is
    /// proposal order).
    public mutating func proposed(_ data: [UInt8], at index: LogIndex) {
        guard recordingFrom != nil else { return }
        unapplied[index] = data
        guard var ahead = machine else { return }
        machine = nil
        _ = ahead.apply(data, at: index)
        machine = ahead
        through = index
    }

    /// Step 3: the entry at `index` with `term` was applied to this replica's state. An entry
    /// answered ahead is now durable on a majority, or, with another term at its index, was
    /// replaced (acknowledged and lost).
    public mutating func applied(index: LogIndex, term: Term, now: UInt64) -> Outcome? {
        unapplied.removeValue(forKey: index)
        if machine != nil { appliedSinceBuilt += 1 }
        guard let answer = answered.removeValue(forKey: index) else { return nil }
        guard answer.term == term else { return .lost }
        return .durable(exposure: now >= answer.at ? now - answer.at : 0)
    }

    /// After a round of applies: the state ahead is dropped once the applied state caught up with
    /// it (they are equal then), or after ``rebuildAfter`` applies.
    public mutating func dropIfCaughtUp(applied: LogIndex) {
        guard machine != nil else { return }
        if applied >= through || appliedSinceBuilt >= rebuildAfter { machine = nil }
    }

    /// A snapshot from a leader replaced this replica's state through `index`. Returns how many
    /// answered writes it covered: their outcome is not known here.
    public mutating func installedSnapshot(through index: LogIndex) -> Int {
        machine = nil
        unapplied = unapplied.filter { $0.key > index }
        let covered = answered.keys.filter { $0 <= index }
        for key in covered { answered.removeValue(forKey: key) }
        return covered.count
    }

    /// Forgets what only a leader keeps (leadership lost). The answered entries stay: they may
    /// still commit under the next leader, or be replaced (lost).
    public mutating func leadershipLost() {
        machine = nil
        unapplied = [:]
        recordingFrom = nil
        answeredThrough = 0
    }

    /// Takes the state ahead through `index` - 1 out (so that applying to it copies nothing it
    /// alone holds), building it over the applied state when missing.
    mutating func takeStateBefore(_ index: LogIndex, applied: Machine, appliedIndex: LogIndex) -> Machine {
        if let ahead = machine {
            machine = nil
            return ahead
        }
        var ahead = applied
        for (entryIndex, data) in unapplied.sorted(by: { $0.key < $1.key }) where entryIndex > appliedIndex && entryIndex < index {
            _ = ahead.apply(data, at: entryIndex)
        }
        appliedSinceBuilt = 0
        return ahead
    }
}
