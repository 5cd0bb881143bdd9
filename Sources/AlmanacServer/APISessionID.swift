import AlmanacMetadata

/// Session ids as clients see them: the shard in the high 16 bits and the shard-local session id
/// (the log index that registered it) in the low 48 bits, so a session id alone routes keep-alive,
/// close and handle operations to their shard. (Sessions belong to a shard, not to a segment: they
/// stay where they are when segments move.)
public enum APISessionID {
    /// Largest shard-local session id that fits.
    public static let maxLocal: UInt64 = (1 << 48) - 1

    /// The client-visible id of shard-local session `local` of `shard`, or nil if it does not fit.
    public static func encode(shard: ShardID, local: SessionID) -> UInt64? {
        guard local != 0, local <= maxLocal else { return nil }
        return (UInt64(shard) << 48) | local
    }

    /// Splits a client-visible session id into its shard and shard-local id.
    public static func decode(_ id: UInt64) -> (shard: ShardID, local: SessionID) {
        (ShardID(truncatingIfNeeded: id >> 48), id & maxLocal)
    }
}
