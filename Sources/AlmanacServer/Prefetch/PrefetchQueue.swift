import AlmanacMetadata

/// A potential entry waiting to be issued: the predicted request, fully formed.
public struct PrefetchCandidate: Sendable, Hashable {
    public var session: SessionID
    public var operation: MetadataOperation
    public var confidence: Double
    /// When the request is expected (µs, the leader's clock).
    public var expectedArrival: Int64
    /// After this the entry is useless: not issued, or expired once issued (µs).
    public var deadline: Int64
    /// Failed issue attempts so far.
    public var attempts: Int = 0

    public init(session: SessionID, operation: MetadataOperation, confidence: Double, expectedArrival: Int64, deadline: Int64) {
        self.session = session
        self.operation = operation
        self.confidence = confidence
        self.expectedArrival = expectedArrival
        self.deadline = deadline
    }

    /// Queue order: higher confidence first, then the earlier expected arrival.
    func precedes(_ other: PrefetchCandidate) -> Bool {
        confidence != other.confidence ? confidence > other.confidence : expectedArrival < other.expectedArrival
    }
}

/// The bounded priority prefetch queue (`prefetch_queue_size`), ordered by confidence and then by
/// expected time to arrival. When full, a new entry displaces the last one only if it precedes it.
public struct PrefetchQueue: Sendable {
    public let capacity: Int
    /// Sorted, best first.
    private var entries: [PrefetchCandidate] = []

    public init(capacity: Int) { self.capacity = max(0, capacity) }

    public var count: Int { entries.count }
    public var isEmpty: Bool { entries.isEmpty }

    /// Inserts `candidate`; returns the entry that fell out (the candidate itself if it did not fit).
    @discardableResult
    public mutating func insert(_ candidate: PrefetchCandidate) -> PrefetchCandidate? {
        guard capacity > 0 else { return candidate }
        if entries.count == capacity {
            guard let last = entries.last, candidate.precedes(last) else { return candidate }
            entries.removeLast()
            insertSorted(candidate)
            return last
        }
        insertSorted(candidate)
        return nil
    }

    private mutating func insertSorted(_ candidate: PrefetchCandidate) {
        var low = 0
        var high = entries.count
        while low < high {
            let mid = (low + high) / 2
            if entries[mid].precedes(candidate) || !candidate.precedes(entries[mid]) { low = mid + 1 } else { high = mid }
        }
        entries.insert(candidate, at: low)
    }

    /// Removes and returns the best entry.
    public mutating func popFirst() -> PrefetchCandidate? { entries.isEmpty ? nil : entries.removeFirst() }

    /// Whether an entry for `session` and `operation` is queued.
    public func contains(session: SessionID, operation: MetadataOperation) -> Bool {
        entries.contains { $0.session == session && $0.operation == operation }
    }

    /// Removes the entries for `session` and `operation` (the request came before they were issued).
    public mutating func remove(session: SessionID, operation: MetadataOperation) {
        entries.removeAll { $0.session == session && $0.operation == operation }
    }

    /// Removes the entries whose deadline is before `now`; returns how many.
    public mutating func dropPassed(now: Int64) -> Int {
        let before = entries.count
        entries.removeAll { $0.deadline < now }
        return before - entries.count
    }
}
