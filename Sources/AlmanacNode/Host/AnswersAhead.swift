import AlmanacRaft
import NIOCore

/// A leader's answers ahead of commit, for writes that ask for `async` durability (docs/node.md,
/// "Answers ahead of commit"). The leader keeps a second copy of its state machine, *the state
/// ahead*: the applied state plus every entry it proposed since, in log order. An async write is
/// proposed like any other and answered at once with its result on the state ahead, which is the
/// result its commit will produce here, since apply is deterministic and the leader's log below the
/// entry does not change while it leads. Confined to the host loop, like the group.
struct AnswersAhead<Machine: ReplicatedStateMachine> {
    /// The state ahead, through `through`; nil until an async write needs it, and again once the
    /// applied state caught up (then it equals the applied one) or after `rebuildAfter` applies (so
    /// the two copies never drift apart by more than that many entries' copy-on-write).
    var machine: Machine?
    var through: LogIndex = 0
    var appliedSinceBuilt = 0
    /// The data of this leader's proposals not yet applied, recorded since its log ended at
    /// `recordingFrom`: what building the state ahead replays over the applied state.
    var unapplied: [LogIndex: [UInt8]] = [:]
    var recordingFrom: LogIndex?
    /// Entries answered ahead and not applied yet: their term and the time of the answer (the
    /// exposure window ends when the entry is applied here, i.e. committed by a majority).
    var answered: [LogIndex: (term: Term, at: NIODeadline)] = [:]
    /// The highest index answered ahead while leading: linearizable reads wait for it, so a read
    /// never misses a write that was acknowledged before it.
    var answeredThrough: LogIndex = 0

    static var rebuildAfter: Int { 4096 }

    /// Whether the state ahead can be built: every entry between the applied index and the end of
    /// the log was proposed while recording (entries before that, a previous leader's, are not
    /// known here without reading the log).
    func canAnswer(applied: LogIndex) -> Bool {
        guard let recordingFrom else { return false }
        return applied >= recordingFrom
    }

    /// Takes the state ahead through `index` - 1 out (so that applying to it copies nothing it
    /// alone holds), building it over the applied state when missing.
    mutating func takeStateBefore(_ index: LogIndex, applied machine: Machine, appliedIndex: LogIndex) -> Machine {
        if let ahead = self.machine {
            self.machine = nil
            return ahead
        }
        var ahead = machine
        for (entryIndex, data) in unapplied.sorted(by: { $0.key < $1.key }) where entryIndex > appliedIndex && entryIndex < index {
            _ = ahead.apply(data, at: entryIndex)
        }
        appliedSinceBuilt = 0
        return ahead
    }

    /// Forgets what only a leader keeps (leadership lost). `answered` stays: those entries may
    /// still commit under the next leader, or be replaced (lost).
    mutating func leadershipLost() {
        machine = nil
        unapplied = [:]
        recordingFrom = nil
        answeredThrough = 0
    }
}

/// What happened to the writes a node answered ahead of commit (in ``HostStatus``).
public struct AnswersAheadCounters: Sendable, Hashable {
    /// Writes answered before their commit.
    public var answered: UInt64 = 0
    /// Of those, applied here with the term they were answered in (durable on a majority).
    public var durable: UInt64 = 0
    /// Replaced by another leader's entry: acknowledged, then lost (the client replays them).
    public var lost: UInt64 = 0
    /// Covered by a snapshot from a later leader before being applied here: outcome not known here.
    public var outcomeUnknown: UInt64 = 0
    /// Async writes answered at their commit instead (a new leader's first entries, or no leader
    /// state to build on yet).
    public var answeredAtCommit: UInt64 = 0
    /// The exposure windows of `durable` writes: their sum and maximum, in nanoseconds.
    public var exposureNanosecondsTotal: UInt64 = 0
    public var exposureNanosecondsMax: UInt64 = 0

    public init() {}
}
