import Synchronization

/// How busy the groups this node leads are with requests, readable from any thread: the most
/// entries they held uncommitted at once, not counting speculative proposals (potential journal
/// entries), plus the linearizable reads waiting, over the current and the previous tick.
///
/// The host loop writes it on every Ready round; the prefetching worker reads it to yield to real
/// traffic (docs/prediction.md, "Yielding to real traffic").
public final class RequestBacklogGauge: Sendable {
    private let value = Atomic<Int>(0)

    public init() {}

    /// The latest published backlog.
    public var current: Int { value.load(ordering: .relaxed) }

    func publish(_ backlog: Int) {
        value.store(backlog, ordering: .relaxed)
    }
}
