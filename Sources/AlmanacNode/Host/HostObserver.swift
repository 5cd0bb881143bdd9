import AlmanacStorage

/// Hooks for a node's metrics (see docs/operations.md). Each closure runs on the path it measures
/// and must be cheap: no allocation, no string formatting, no blocking. nil hooks cost nothing.
public struct HostObserver: Sendable {
    /// After every successful WAL group commit, on the thread that synced (the WAL writer thread,
    /// or the host loop for a follower's inline write).
    public var walSync: (@Sendable (GroupCommitSample) -> Void)?
    /// A proposal made on this node was committed and applied here: its group and the time from
    /// the proposal to the apply, in nanoseconds. On the host loop.
    public var committed: (@Sendable (_ group: UInt64, _ nanoseconds: UInt64) -> Void)?

    /// A group's state machine applied a normal entry (or installed a snapshot) up to this index,
    /// whoever proposed it. On the host loop. (The system group's watchers wake on it.)
    public var applied: (@Sendable (_ group: UInt64, _ index: UInt64) -> Void)?

    public init(walSync: (@Sendable (GroupCommitSample) -> Void)? = nil,
                committed: (@Sendable (_ group: UInt64, _ nanoseconds: UInt64) -> Void)? = nil) {
        self.walSync = walSync
        self.committed = committed
    }
}
