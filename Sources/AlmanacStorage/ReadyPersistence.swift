import AlmanacRaft

extension GroupWrite {
    /// The durable part of a Raft `Ready` for `group`: its snapshot (written to `snapshots` first,
    /// crash-safely, then installed), entries and hard state. Send `messagesAfterPersist` only
    /// after the write containing this has been synced.
    public init(group: GroupID, persisting ready: Ready, snapshots: SnapshotStore) throws(StorageError) {
        var installed: SnapshotReference?
        if let snapshot = ready.snapshot {
            installed = try snapshots.write(group: group, snapshot: snapshot)
        }
        self.init(group: group, installSnapshot: installed, entries: ready.entries, hardState: ready.hardState)
    }
}
