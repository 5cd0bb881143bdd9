/// The one vocabulary of identifiers shared by every Almanac module: Raft, the node runtime,
/// the namespace state machine, the server, the client, the shard map and placement.
///
/// Standard library only, so that the pure cores can depend on it.

/// Identifier of a node (a process holding one replica of many shards). `0` means "none".
public typealias NodeID = UInt64

/// Name of an availability zone, as configured ("z1", "us-east-1a", ...).
public typealias ZoneName = String

/// Identifier of a journal shard: one Raft group holding a set of segments.
public typealias ShardID = UInt16

/// Identifier of a segment: the unit of placement. A segment holds one or more directories'
/// entries and their children's attributes, and moves between shards as a whole.
public typealias SegmentID = UInt16

/// A monotonically increasing version of the shard map (the whole map or one shard's record).
/// Bumped by every change of ownership, membership or leadership.
public typealias Epoch = UInt64

/// The cluster's system Raft group: the embedded shard map store (``SystemRegister``), replicated
/// one voter per zone like every shard. Its group id lies outside the 16-bit shard ids, so it can
/// never be mistaken for a shard.
public enum SystemGroup {
    public static let groupID: UInt64 = 1 << 32
}
