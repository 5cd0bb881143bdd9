import AlmanacRaft

/// A simulated client's request proposed at a node, waiting for its entry to be applied there:
/// what was proposed (`request`), where, in which life of the node, at which log position, and since when.
struct ProposalWait<Request: Sendable & Hashable>: Sendable {
    var request: Request
    var slot: Int
    var incarnation: UInt64
    var index: LogIndex
    var term: Term
    var since: UInt64
}
