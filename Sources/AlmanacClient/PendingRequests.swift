import NIOCore

/// The requests in flight on one connection, by request id, with their deadlines, and the one
/// timer that times them out. Pure bookkeeping: the connection handler arms a real timer for
/// ``armedDeadline`` whenever ``insert(_:waiter:deadline:)`` or ``expire(now:)`` asks for it.
///
/// One timer per connection (armed for the earliest deadline, re-armed when it fires) replaces a
/// timer per request: an answered request costs nothing but its removal from the table.
struct PendingRequests<Waiter> {
    private var entries: [UInt64: (waiter: Waiter, deadline: NIODeadline)] = [:]
    /// When the connection's timer fires, if armed (never later than the earliest deadline).
    private(set) var armedDeadline: NIODeadline?

    init(capacity: Int = 0) {
        entries.reserveCapacity(capacity)
    }

    var count: Int { entries.count }
    var isEmpty: Bool { entries.isEmpty }

    /// Adds a request. Returns the deadline to (re)arm the timer for, if it must fire earlier than
    /// it is armed for now (nil: the armed timer already covers this request).
    mutating func insert(_ id: UInt64, waiter: Waiter, deadline: NIODeadline) -> NIODeadline? {
        entries[id] = (waiter, deadline)
        if let armed = armedDeadline, armed <= deadline { return nil }
        armedDeadline = deadline
        return deadline
    }

    /// Removes an answered (or failed) request; nil if it is not pending (it timed out earlier).
    mutating func remove(_ id: UInt64) -> Waiter? {
        entries.removeValue(forKey: id)?.waiter
    }

    /// The timer fired at `now`: removes and returns the overdue requests (oldest deadline first)
    /// and the deadline to re-arm the timer for (nil: nothing left to time out).
    mutating func expire(now: NIODeadline) -> (overdue: [Waiter], rearm: NIODeadline?) {
        var overdue: [(id: UInt64, deadline: NIODeadline)] = []
        var next: NIODeadline?
        for (id, entry) in entries {
            if entry.deadline <= now {
                overdue.append((id, entry.deadline))
            } else if next.map({ entry.deadline < $0 }) ?? true {
                next = entry.deadline
            }
        }
        overdue.sort { ($0.deadline, $0.id) < ($1.deadline, $1.id) }
        let waiters = overdue.compactMap { entries.removeValue(forKey: $0.id)?.waiter }
        armedDeadline = next
        return (waiters, next)
    }

    /// Removes and returns every request (the connection is gone); the timer is no longer needed.
    mutating func removeAll() -> [Waiter] {
        let all = entries.values.map(\.waiter)
        entries.removeAll()
        armedDeadline = nil
        return all
    }
}
