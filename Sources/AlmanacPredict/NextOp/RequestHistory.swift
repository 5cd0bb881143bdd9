/// Fixed-capacity ring buffer of recent requests (client id, file id, op, timestamp); the oldest is overwritten.
/// Memory: `capacity * MemoryLayout<OpEvent>.stride` bytes (24 bytes per event).
public struct RequestHistory: Sendable {
    public let capacity: Int
    private var storage: [OpEvent] = []
    private var next = 0

    /// - Parameter capacity: number of events kept; values < 1 become 1.
    public init(capacity: Int) {
        self.capacity = Swift.max(1, capacity)
        storage.reserveCapacity(self.capacity)
    }

    public var count: Int { storage.count }

    public mutating func append(_ e: OpEvent) {
        if storage.count < capacity { storage.append(e) } else { storage[next] = e }
        next = (next + 1) % capacity
    }

    /// Events oldest first.
    public var events: [OpEvent] {
        storage.count < capacity ? storage : Array(storage[next...] + storage[..<next])
    }

    /// The newest `n` events (oldest first).
    public func suffix(_ n: Int) -> [OpEvent] { Array(events.suffix(n)) }

    public var approximateBytes: Int { capacity * MemoryLayout<OpEvent>.stride }
}
