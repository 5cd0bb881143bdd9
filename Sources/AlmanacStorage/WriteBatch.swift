import AlmanacRaft

/// What one group persists in one write (typically one Raft `Ready`), applied in this order:
/// install a received snapshot, record a local snapshot, append entries (truncating a conflicting
/// suffix first), set the hard state, compact.
public struct GroupWrite: Sendable {
    public var group: GroupID
    /// A snapshot received from the leader, already stored with ``SnapshotStore``. Entries up to its
    /// index are dropped; later entries are kept only if the log holds its (index, term).
    public var installSnapshot: SnapshotReference?
    /// A snapshot this node took of its own state machine; the log is unchanged, but entries up to
    /// its index may now be compacted.
    public var checkpoint: SnapshotReference?
    /// Contiguous entries. If the first index is not after the last stored one, a truncation
    /// record removes the stored suffix first.
    public var entries: [Entry]
    public var hardState: HardState?
    /// Declares entries up to this index obsolete. Must be covered by the group's snapshot.
    public var compactThrough: LogIndex?

    public init(group: GroupID, installSnapshot: SnapshotReference? = nil, checkpoint: SnapshotReference? = nil,
                entries: [Entry] = [], hardState: HardState? = nil, compactThrough: LogIndex? = nil) {
        self.group = group
        self.installSnapshot = installSnapshot
        self.checkpoint = checkpoint
        self.entries = entries
        self.hardState = hardState
        self.compactThrough = compactThrough
    }
}

/// Writes for several groups that become durable together (each group at most once).
public struct WriteBatch: Sendable {
    public var groups: [GroupWrite]

    public init(_ groups: [GroupWrite] = []) { self.groups = groups }

    /// Number of entries in the batch.
    public var entryCount: Int { groups.reduce(0) { $0 + $1.entries.count } }
}
