/// Linearizable reads of one group share ReadIndex rounds, as etcd's server does: at most one round
/// is in flight; a read that arrives while it is in flight waits and joins the NEXT round (the round
/// in flight may have captured a commit index from before a write the reader already saw
/// acknowledged, so the read cannot use it). When a round is confirmed, every read in it gets its
/// index and the reads queued meanwhile start one new round together. So a leader serving R reads
/// per round trip runs about one heartbeat round per round trip instead of R.
///
/// A round that stays unconfirmed for `retryTicks` ticks (its heartbeats or their acks were lost)
/// is given up: its reads go back to the front of the queue and a new round starts (etcd retries
/// after 500 ms the same way). Pure bookkeeping of read ids; the host does the Raft calls.
public struct ReadIndexBatcher: Sendable {
    public struct Round: Sendable, Equatable {
        /// The ReadIndex request id (its context) of the round.
        public var id: UInt64
        /// The reads the round covers, in arrival order.
        public var reads: [UInt64]
        /// The host tick at which it started.
        public var startedTick: UInt64
    }

    public init() {}

    public private(set) var round: Round?
    /// Reads waiting for the next round, in arrival order.
    public private(set) var queued: [UInt64] = []
    /// Rounds started and rounds given up (for status and tests).
    public private(set) var roundsStarted: UInt64 = 0
    public private(set) var roundsRetried: UInt64 = 0

    /// A read arrived. Returns true when no round is in flight: start one now (``start(id:tick:)``).
    public mutating func add(_ read: UInt64) -> Bool {
        queued.append(read)
        return round == nil
    }

    /// Whether a round should start: none in flight and reads waiting.
    public var needsRound: Bool { round == nil && !queued.isEmpty }

    /// Starts round `id` with every queued read and returns them; nil (and nothing changes) while
    /// another round is in flight.
    public mutating func start(id: UInt64, tick: UInt64) -> [UInt64]? {
        guard round == nil else { return nil }
        let reads = queued
        queued = []
        round = Round(id: id, reads: reads, startedTick: tick)
        roundsStarted += 1
        return reads
    }

    /// Round `id` could not be started (Raft refused it): forget it; returns its reads.
    public mutating func abandon(id: UInt64) -> [UInt64] {
        guard let current = round, current.id == id else { return [] }
        round = nil
        return current.reads
    }

    /// Raft confirmed request `id`. Returns the reads of the round if `id` is the round in flight
    /// (then no round is in flight any more), nil for any other id (an abandoned round).
    public mutating func confirmed(id: UInt64) -> [UInt64]? {
        guard let current = round, current.id == id else { return nil }
        round = nil
        return current.reads
    }

    /// At tick `now`: if the round in flight started `retryTicks` or more ticks ago, gives it up (its
    /// reads go back to the front of the queue) and returns true: start a new round.
    public mutating func retryIfStale(now: UInt64, retryTicks: UInt64) -> Bool {
        guard let current = round, now >= current.startedTick &+ retryTicks else { return false }
        round = nil
        queued = current.reads + queued
        roundsRetried += 1
        return true
    }

    /// Leadership lost or the host stopped: drops everything (the host fails the reads themselves).
    public mutating func reset() {
        round = nil
        queued = []
    }
}
