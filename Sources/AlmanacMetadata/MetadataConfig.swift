/// Static configuration of one shard's state machine. It is part of the snapshot.
public struct MetadataConfig: Hashable, Sendable {
    /// The shard this state machine serves; envelopes for another shard are refused.
    public var shardID: ShardID
    /// How the namespace is cut into segments (the same on every shard of a cluster).
    public var keying: SegmentKeying
    /// Limits on request sizes.
    public var limits: MetadataLimits
    /// A session with no command for longer than this (command time, nanoseconds) expires.
    public var sessionTimeoutNanoseconds: Int64
    /// How many most-recent sequence numbers per session keep their result for retries.
    /// 1 is the classic "last seq and its result"; larger windows let clients pipeline.
    public var sessionResultWindow: UInt64

    public init(
        shardID: ShardID = 0, keying: SegmentKeying = MetadataConfig.defaultKeying, limits: MetadataLimits = MetadataLimits(),
        sessionTimeoutNanoseconds: Int64 = 60 * 1_000_000_000, sessionResultWindow: UInt64 = 16
    ) {
        self.shardID = shardID
        self.keying = keying
        self.limits = limits
        self.sessionTimeoutNanoseconds = max(1, sessionTimeoutNanoseconds)
        self.sessionResultWindow = max(1, sessionResultWindow)
    }
}

extension MetadataConfig {
    /// ``SegmentKeying/defaultSegmentCount`` segments.
    public static var defaultKeying: SegmentKeying {
        // The default count is inside the valid range, so this cannot fail; fall back to one segment.
        (try? SegmentKeying(segmentCount: SegmentKeying.defaultSegmentCount)) ?? MetadataConfig.oneSegment
    }

    private static var oneSegment: SegmentKeying {
        guard let keying = try? SegmentKeying(segmentCount: 1) else { preconditionFailure("one segment is always valid") }
        return keying
    }
}

/// Size limits enforced on every request before any state changes.
public struct MetadataLimits: Hashable, Sendable {
    /// Longest name in bytes (POSIX NAME_MAX).
    public var maxNameBytes: Int
    /// Longest symlink target in bytes (POSIX PATH_MAX).
    public var maxSymlinkTargetBytes: Int
    /// Largest encoded journal entry accepted by the decoder.
    public var maxRequestBytes: Int
    /// Largest encoded segment hand-off command (a page of records being copied between shards;
    /// below the client protocol's 1 MiB frame).
    public static let maxHandoffEntryBytes = 768 * 1024
    /// Largest hard-link count (also bounds subdirectories per directory).
    public var maxLinks: UInt32
    /// Largest page `readdir` returns.
    public var maxReaddirPage: Int

    public init(
        maxNameBytes: Int = 255, maxSymlinkTargetBytes: Int = 4096, maxRequestBytes: Int = 16 * 1024,
        maxLinks: UInt32 = 65_000, maxReaddirPage: Int = 4096
    ) {
        self.maxNameBytes = maxNameBytes
        self.maxSymlinkTargetBytes = maxSymlinkTargetBytes
        self.maxRequestBytes = maxRequestBytes
        self.maxLinks = maxLinks
        self.maxReaddirPage = maxReaddirPage
    }
}
