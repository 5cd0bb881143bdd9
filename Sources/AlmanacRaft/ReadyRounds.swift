/// The rounds of a Ready loop whose writes are being persisted, finished strictly in the order they
/// were taken (`Ready`'s contract for batches taken without `advance` in between).
///
/// One of the rules every shell that drives ``RaftNode``s follows, production's multi-Raft host
/// and the deterministic simulator alike (docs/simulation.md, "Replica driver"):
/// - up to ``maxInFlight`` rounds may be persisting at once: a new round (new entries replicated,
///   newly committed ones applied) does not wait for the previous round's fsync;
/// - a round with nothing to persist still finishes only after every round taken before it;
/// - a round finishes (`messagesAfterPersist`, reads, `advance`) when its own write and every
///   earlier one are durable.
///
/// A plain value; `Work` is whatever the shell carries from taking a round to finishing it.
public struct ReadyRounds<Work> {
    /// Rounds whose write may be persisting at once.
    public let maxInFlight: Int
    private var rounds: [(id: UInt64, work: Work, durable: Bool)] = []
    private var head = 0
    private var nextID: UInt64 = 1
    /// Rounds whose write is not durable yet.
    public private(set) var inFlight = 0

    public init(maxInFlight: Int) {
        self.maxInFlight = max(1, maxInFlight)
    }

    /// Whether another round with a write may be taken now.
    public var canTake: Bool { inFlight < maxInFlight }

    /// No round is waiting to finish.
    public var isEmpty: Bool { head == rounds.count }

    /// Takes a round whose write the shell now persists; its id names it to ``persisted(_:)``.
    public mutating func start(_ work: Work) -> UInt64 {
        let id = nextID
        nextID += 1
        rounds.append((id, work, false))
        inFlight += 1
        return id
    }

    /// Takes a round with nothing to persist: the rounds it finishes (itself, unless an earlier
    /// round is still persisting).
    public mutating func startWithoutWrite(_ work: Work) -> [Work] {
        rounds.append((0, work, true))
        return finishedAtHead()
    }

    /// Round `id`'s write is durable: the rounds now finished, oldest first.
    public mutating func persisted(_ id: UInt64) -> [Work] {
        guard let position = rounds[head...].firstIndex(where: { $0.id == id && !$0.durable }) else { return [] }
        rounds[position].durable = true
        inFlight -= 1
        return finishedAtHead()
    }

    /// Drops every round (the shell crashed or stopped: their writes' fate is the disk's).
    public mutating func reset() {
        rounds.removeAll()
        head = 0
        inFlight = 0
    }

    private mutating func finishedAtHead() -> [Work] {
        var finished: [Work] = []
        while head < rounds.count, rounds[head].durable {
            finished.append(rounds[head].work)
            head += 1
        }
        if head == rounds.count {
            rounds.removeAll(keepingCapacity: true)
            head = 0
        }
        return finished
    }
}

/// Which hard state a Ready's write carries (the other rule of the shells' Ready loop, see
/// ``ReadyRounds``): one whose term or vote changed is written with its Ready; one where only the
/// commit index moved waits for the next write of entries. Raft does not need the commit index
/// durable (a restarted replica learns it again from the leader), so a round that would write only
/// a new commit index writes nothing and needs no fsync.
public struct HardStateWrites: Sendable, Hashable {
    /// The hard state last handed to storage.
    public private(set) var written: HardState
    /// A newer commit index waiting for the next write of entries.
    public private(set) var deferred: HardState?

    /// `written`: the hard state storage holds (recovered at start).
    public init(written: HardState) {
        self.written = written
    }

    /// The hard state to persist with `ready`'s entries and snapshot (nil: none).
    public mutating func toWrite(for ready: Ready) -> HardState? {
        var write = ready.hardState
        if let hardState = ready.hardState, ready.entries.isEmpty, ready.snapshot == nil,
           hardState.term == written.term, hardState.vote == written.vote {
            deferred = hardState
            write = nil
        }
        if write == nil, !ready.entries.isEmpty, let deferred { write = deferred }
        if let write {
            written = write
            deferred = nil
        }
        return write
    }
}

extension ReadyRounds: Sendable where Work: Sendable {}
