import AlmanacMetadata

/// Session ids as clients see them: the shard in the high 16 bits (like inode ids) and the
/// shard-local session id (the log index that registered it) in the low 48 bits, so a session
/// id alone routes keep-alive, close and handle operations to their shard.
public enum APISessionID {
    /// Largest shard-local session id that fits.
    public static let maxLocal: UInt64 = InodeID.maxCounter

    /// The client-visible id of shard-local session `local` of `shard`, or nil if it does not fit.
    public static func encode(shard: ShardID, local: SessionID) -> UInt64? {
        guard local != 0, local <= maxLocal else { return nil }
        return InodeID(shard: shard, counter: local).rawValue
    }

    /// Splits a client-visible session id into its shard and shard-local id.
    public static func decode(_ id: UInt64) -> (shard: ShardID, local: SessionID) {
        let split = InodeID(id)
        return (split.shard, split.counter)
    }
}
