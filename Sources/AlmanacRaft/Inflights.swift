/// The append messages sent to one follower and not yet acknowledged, bounded by count and by bytes.
struct Inflights: Sendable, Hashable {
    /// Maximum number of messages in flight.
    let maxCount: Int
    /// Maximum entry bytes in flight; 0 means unlimited.
    let maxBytes: Int
    /// (last index of the message, entry bytes of the message), oldest first, from `start`.
    private var buffer: [InflightMessage] = []
    private var start = 0
    private(set) var bytes = 0

    struct InflightMessage: Sendable, Hashable {
        var lastIndex: LogIndex
        var bytes: Int
    }

    init(maxCount: Int, maxBytes: Int) {
        self.maxCount = max(1, maxCount)
        self.maxBytes = max(0, maxBytes)
    }

    var count: Int { buffer.count - start }

    /// Whether no more messages may be sent: the count limit or the byte limit is reached.
    var isFull: Bool {
        count >= maxCount || (maxBytes > 0 && bytes >= maxBytes)
    }

    /// Records a message whose last entry is `lastIndex` carrying `bytes` of entry payload.
    mutating func add(lastIndex: LogIndex, bytes: Int) {
        if let last = buffer.last, start < buffer.count {
            precondition(lastIndex > last.lastIndex,
                         "raft invariant violated: inflight index \(lastIndex) not above \(last.lastIndex)")
        }
        buffer.append(InflightMessage(lastIndex: lastIndex, bytes: bytes))
        self.bytes += bytes
    }

    /// Frees every message whose last index is at most `index` (acknowledged).
    mutating func freeLE(_ index: LogIndex) {
        while start < buffer.count, buffer[start].lastIndex <= index {
            bytes -= buffer[start].bytes
            start += 1
        }
        compactIfNeeded()
    }

    /// Frees the oldest message (used when a heartbeat response shows the follower is alive).
    mutating func freeFirstOne() {
        guard start < buffer.count else { return }
        bytes -= buffer[start].bytes
        start += 1
        compactIfNeeded()
    }

    mutating func reset() {
        buffer.removeAll(keepingCapacity: true)
        start = 0
        bytes = 0
    }

    private mutating func compactIfNeeded() {
        if start == buffer.count {
            buffer.removeAll(keepingCapacity: true)
            start = 0
        } else if start > 64 && start * 2 > buffer.count {
            buffer.removeFirst(start)
            start = 0
        }
    }
}
