/// One ReadIndex request waiting for its heartbeat round (safe mode).
struct ReadIndexRequest: Sendable, Hashable {
    /// The leader's commit index when the request arrived: the read may be served once applied.
    var index: LogIndex
    /// Who asked: this node (local) or a follower that forwarded the request.
    var from: NodeID
    var context: [UInt8]
    /// Peers that acknowledged a heartbeat carrying this context.
    var acks: Set<NodeID>
}

/// The ReadIndex queue of a leader (Raft thesis §6.4). In safe mode a request is released once a
/// quorum acknowledged a heartbeat sent after the request arrived; releasing a request releases
/// every earlier one too (heartbeat acks are cumulative: they prove leadership at a later time).
struct ReadOnlyQueue: Sendable {
    private var requests: [[UInt8]: ReadIndexRequest] = [:]
    private var order: [[UInt8]] = []

    var isEmpty: Bool { order.isEmpty }
    var lastContext: [UInt8]? { order.last }

    /// Adds a request; a duplicate context is ignored.
    mutating func add(index: LogIndex, from: NodeID, context: [UInt8], selfID: NodeID) {
        guard requests[context] == nil else { return }
        requests[context] = ReadIndexRequest(index: index, from: from, context: context, acks: [selfID])
        order.append(context)
    }

    /// Records a heartbeat acknowledgement; returns the acks of that request (nil if unknown).
    mutating func recordAck(from: NodeID, context: [UInt8]) -> Set<NodeID>? {
        guard requests[context] != nil else { return nil }
        requests[context]?.acks.insert(from)
        return requests[context]?.acks
    }

    /// Removes and returns every request up to and including `context`, oldest first.
    mutating func release(through context: [UInt8]) -> [ReadIndexRequest] {
        guard let pos = order.firstIndex(of: context) else { return [] }
        let released = order[...pos].compactMap { requests[$0] }
        for ctx in order[...pos] { requests[ctx] = nil }
        order.removeFirst(pos + 1)
        return released
    }

    mutating func reset() {
        requests = [:]
        order = []
    }
}
