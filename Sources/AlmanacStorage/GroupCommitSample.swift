/// One group commit as a ``GroupCommitLog`` observer sees it (for metrics): what one fdatasync covered
/// and how long writing and syncing took. Reported on the thread that synced, after the sync.
public struct GroupCommitSample: Sendable {
    /// Write batches covered by this sync (the writer merges batches queued behind a sync).
    public var batches: Int
    /// Log entries in those batches.
    public var entries: Int
    /// Time spent writing the batches (before the sync), nanoseconds.
    public var writeNanos: UInt64
    /// Time the fdatasync took, nanoseconds.
    public var syncNanos: UInt64

    public init(batches: Int, entries: Int, writeNanos: UInt64, syncNanos: UInt64) {
        self.batches = batches
        self.entries = entries
        self.writeNanos = writeNanos
        self.syncNanos = syncNanos
    }
}
