/// A dictionary with a capacity: inserting beyond it evicts the least recently used eighth of the entries
/// (amortised O(log n) per insert). Reads through `update`/`touch` refresh recency.
struct BoundedLRUMap<Key: Hashable & Sendable, Value: Sendable>: Sendable {
    private var entries: [Key: (value: Value, tick: UInt64)] = [:]
    private var tick: UInt64 = 0
    let capacity: Int
    private(set) var evictions = 0

    init(capacity: Int) { self.capacity = Swift.max(1, capacity) }

    var count: Int { entries.count }

    /// The value without refreshing recency.
    func peek(_ key: Key) -> Value? { entries[key]?.value }

    /// Mutates (or creates with `make`) the entry for `key` and marks it most recently used.
    mutating func update<R>(_ key: Key, make: () -> Value, _ body: (inout Value) -> R) -> R {
        tick &+= 1
        if entries[key] == nil {
            if entries.count >= capacity { evictOldest() }
            entries[key] = (make(), tick)
        }
        // In-place mutation through the dictionary's modify accessor (no copy of the value).
        let r = body(&entries[key]!.value)  // invariant: inserted above
        entries[key]!.tick = tick
        return r
    }

    mutating func set(_ key: Key, _ value: Value) { update(key, make: { value }) { $0 = value } }

    private mutating func evictOldest() {
        let drop = Swift.max(1, capacity / 8)
        let cutoff = entries.values.map(\.tick).sorted()[Swift.min(drop, entries.count) - 1]
        entries = entries.filter { $0.value.tick > cutoff }
        evictions += drop
    }

    var values: Dictionary<Key, (value: Value, tick: UInt64)>.Values { entries.values }
}

/// Top-k successors of one context with exponentially decayed counts, plus the last successor.
/// Bounded: at most k candidates (space-saving replacement of the weakest).
struct SuccessorCounts: Sendable {
    struct Candidate: Sendable {
        var key: UInt64
        var count: Float
        /// EWMA of the gap (microseconds) between the context event and this successor.
        var gap: Float
    }
    var candidates: [Candidate] = []
    var total: Float = 0
    var last: UInt64 = .max

    /// Records `key` following the context after `gap` microseconds, decaying older counts by `decay`.
    mutating func record(_ key: UInt64, gap: Float, k: Int, decay: Float) {
        total = total * decay + 1
        for i in candidates.indices { candidates[i].count *= decay }
        last = key
        if let i = candidates.firstIndex(where: { $0.key == key }) {
            candidates[i].count += 1
            candidates[i].gap += 0.3 * (gap - candidates[i].gap)
        } else if candidates.count < k {
            candidates.append(Candidate(key: key, count: 1, gap: gap))
        } else if let weakest = candidates.indices.min(by: { candidates[$0].count < candidates[$1].count }) {
            candidates[weakest] = Candidate(key: key, count: 1, gap: gap)
        }
    }

    /// Candidates ranked by count with probability estimates count / (total + prior).
    func ranked(prior: Float) -> [(key: UInt64, p: Double, gap: Double)] {
        candidates.sorted { $0.count > $1.count }.map { ($0.key, Double($0.count / (total + prior)), Double($0.gap)) }
    }

    static func bytes(k: Int) -> Int { 24 + k * MemoryLayout<Candidate>.stride + 16 }
}

/// Per-stream context shared by the table models.
struct StreamContext: Sendable {
    var last: OpEvent?
    var previous: OpEvent?
    /// Last op (and its time) per file for this stream, bounded.
    var lastOpOnFile: BoundedLRUMap<UInt32, (op: MetadataOp, time: Int64)>

    init(filesPerStream: Int) { lastOpOnFile = BoundedLRUMap(capacity: filesPerStream) }

    static func bytes(filesPerStream: Int) -> Int { 64 + filesPerStream * 40 }
}
