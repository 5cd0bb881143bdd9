import AlmanacAnswersAhead
import AlmanacRaft

/// A simulated client writing with `async` durability, by the client library's rules
/// (`AlmanacAnswersAhead.UnconfirmedWrites`): a write answered ahead of commit is kept until a
/// response of the same leader term reports it durable; writes answered under an older term are
/// replayed (same session and sequence); a leader in its replay window makes the client replay
/// everything first. One request at a time waits for an answer at commit (writes admitted at
/// commit, replays, confirmations); answers ahead come back at once.
struct AsyncClient: Sendable {
    typealias Write = ClientWrite

    /// What the client sends next, or waits on.
    enum Request: Sendable, Hashable {
        case write(Write)
        case replay(Write)
        /// An unsequenced keep-alive: its answer at commit carries a term and a durable index.
        case confirm
    }

    /// A request proposed at a node and waiting for its entry to be applied there.
    typealias Waiting = ProposalWait<Request>

    var session: UInt64
    var nextSequence: UInt64 = 1
    var unconfirmed = UnconfirmedWrites<Write>()
    /// Requests to send, in order (replays before the write that found the replay window).
    var toSend: [Request] = []
    var waiting: Waiting?

    init(session: UInt64) { self.session = session }

    /// Production's `maxInFlightWritesPerSession`: sequences of unconfirmed writes stay reserved.
    static let maxUnconfirmed = 16

    /// Writes whose fate this client still has to learn.
    var isSettled: Bool { unconfirmed.count == 0 && toSend.isEmpty && waiting == nil }
}
