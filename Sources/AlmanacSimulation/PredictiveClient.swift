import AlmanacRaft

/// A simulated client whose next writes leaders predict (docs/simulation.md, "Potential entries").
/// It writes with `majority` durability, one write at a time, each with its session's next
/// sequence; it sends a write again (same sequence) until it is answered. Its next write is chosen
/// before the current one is answered, so a leader's prediction of it can be right.
struct PredictiveClient: Sendable {
    typealias Write = ClientWrite

    /// How the leader journaled the write it waits on.
    enum Journaled: Sendable, Hashable {
        case confirmation
        case full
    }

    /// A write proposed at a leader, waiting for its entry to be applied there (its request: how
    /// the leader journaled it).
    typealias Waiting = ProposalWait<Journaled>

    var session: UInt64
    var nextSequence: UInt64 = 1
    /// The write sent until it is answered.
    var current: Write?
    /// What this client writes next: (value, register).
    var upcoming: (opID: UInt64, key: Int)
    var waiting: Waiting?

    init(session: UInt64, upcoming: (opID: UInt64, key: Int)) {
        self.session = session
        self.upcoming = upcoming
    }

    var isSettled: Bool { current == nil && waiting == nil }
}
