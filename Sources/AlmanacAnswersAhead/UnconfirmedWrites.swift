import AlmanacRaft

/// The client's side of async durability (docs/api.md, "Async durability"), as a value that the
/// client library and the deterministic simulator both drive: a write a leader acknowledged ahead
/// of commit is kept until a response **of the same leader term** reports the log durable past the
/// write's index. A response of a newer term means the leader changed while the write may not have
/// been durable: the write is handed back to be replayed (same session and sequence, so it is
/// applied at most once).
public struct UnconfirmedWrites<Write: Sendable>: Sendable {
    /// One write answered ahead: what the client needs to send it again, and where it was answered.
    public struct Pending: Sendable {
        public var write: Write
        public var sequence: UInt64
        /// The log index and leader term of the answer.
        public var index: LogIndex
        public var term: Term

        public init(write: Write, sequence: UInt64, index: LogIndex, term: Term) {
            self.write = write
            self.sequence = sequence
            self.index = index
            self.term = term
        }
    }

    /// What one leader's response settles.
    public struct Settlement: Sendable {
        /// Known durable: release their sequence numbers.
        public var durable: [Pending] = []
        /// Answered under an older term: replay them, in this order (their sequence order).
        public var replay: [Pending] = []
    }

    var byShard: [UInt16: [Pending]] = [:]

    public init() {}

    /// Keeps a write `shard`'s leader answered ahead of commit at `index` in `term`.
    public mutating func keep(_ write: Write, shard: UInt16, sequence: UInt64, index: LogIndex, term: Term) {
        byShard[shard, default: []].append(Pending(write: write, sequence: sequence, index: index, term: term))
    }

    /// Settles `shard`'s writes against a leader's response carrying its term and durable index.
    public mutating func settle(shard: UInt16, leaderTerm: Term, durableIndex: LogIndex) -> Settlement {
        guard var pending = byShard[shard], !pending.isEmpty else { return Settlement() }
        var settlement = Settlement()
        pending.removeAll { write in
            if write.term == leaderTerm && write.index <= durableIndex { settlement.durable.append(write); return true }
            if write.term < leaderTerm { settlement.replay.append(write); return true }
            return false
        }
        byShard[shard] = pending.isEmpty ? nil : pending
        settlement.replay.sort { $0.sequence < $1.sequence }
        return settlement
    }

    /// Takes every unconfirmed write of `shard`, in sequence order, to replay them all (the
    /// shard's new leader is in its replay window).
    public mutating func takeAll(shard: UInt16) -> [Pending] {
        (byShard.removeValue(forKey: shard) ?? []).sorted { $0.sequence < $1.sequence }
    }

    /// `shard`'s unconfirmed writes, oldest first.
    public func pending(shard: UInt16) -> [Pending] { byShard[shard] ?? [] }

    /// The oldest unconfirmed write of `shard`.
    public func first(shard: UInt16) -> Pending? { byShard[shard]?.first }

    /// Whether `shard` has unconfirmed writes.
    public func contains(shard: UInt16) -> Bool { byShard[shard]?.isEmpty == false }

    /// Shards with unconfirmed writes, in order.
    public var shards: [UInt16] { byShard.keys.filter { contains(shard: $0) }.sorted() }

    /// Unconfirmed writes over all shards.
    public var count: Int { byShard.values.reduce(0) { $0 + $1.count } }

    /// Forgets everything (the client's process died).
    public mutating func removeAll() { byShard = [:] }
}
