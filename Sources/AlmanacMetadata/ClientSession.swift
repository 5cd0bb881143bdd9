/// Exactly-once bookkeeping for one client session.
///
/// The session remembers the highest sequence number it applied and the results of the most
/// recent `window` sequence numbers. A sequence number inside the window that has a result is
/// a retry and gets that result back; one inside the window without a result was never
/// applied (a pipelined request overtaken by a later one) and is applied now; one below the
/// window is refused as stale.
struct ClientSession: Hashable, Sendable {
    var id: SessionID
    var lastActive: Timestamp
    var highestSequence: SequenceNumber
    var results: [SequenceNumber: CommandResult]

    init(id: SessionID, lastActive: Timestamp) {
        self.id = id
        self.lastActive = lastActive
        self.highestSequence = 0
        self.results = [:]
    }

    enum SequenceCheck: Equatable {
        case apply
        case duplicate(CommandResult)
        case stale
    }

    func check(_ sequence: SequenceNumber, window: UInt64) -> SequenceCheck {
        if let cached = results[sequence] { return .duplicate(cached) }
        if sequence > highestSequence { return .apply }
        return highestSequence - sequence < window ? .apply : .stale
    }

    mutating func record(_ sequence: SequenceNumber, _ result: CommandResult, window: UInt64) {
        results[sequence] = result
        guard sequence > highestSequence else { return }
        // Invariant: every cached sequence is above highestSequence - window (the floor).
        let oldFloor = highestSequence >= window ? highestSequence - window : 0
        highestSequence = sequence
        guard highestSequence >= window else { return }
        let newFloor = highestSequence - window
        guard newFloor > oldFloor else { return }
        if newFloor - oldFloor >= UInt64(results.count) {
            results = results.filter { $0.key > newFloor }
        } else {
            for dropped in (oldFloor + 1)...newFloor { results.removeValue(forKey: dropped) }
        }
    }
}

/// An open-file handle.
struct OpenHandle: Hashable, Sendable {
    var id: HandleID
    var session: SessionID
    var inode: InodeID
    var access: OpenFlags.Access
}
