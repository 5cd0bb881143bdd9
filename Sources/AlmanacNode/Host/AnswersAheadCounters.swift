/// What happened to the writes a node answered ahead of commit (in ``HostStatus``; the rules are
/// `AlmanacAnswersAhead.AnswersAhead`, shared with the simulator).
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
