/// A metadata key: an inode (file or directory) id together with the id of its parent directory.
public struct MetadataKey: Sendable, Hashable {
    /// The inode id of the file or directory itself.
    public var id: UInt64
    /// The inode id of the directory holding the entry (the root is its own parent).
    public var parent: UInt64

    public init(id: UInt64, parent: UInt64) {
        self.id = id
        self.parent = parent
    }
}

/// Cuts the key space into segments of `segmentSize` consecutive *parent directory* ids.
///
/// Keying rule: an entry (its name in the parent, and the child's inode attributes) is keyed by its
/// parent directory id, so every child of one directory lands in the segment of that directory id.
/// Justification: lookup, readdir, create, unlink and rename-within-a-directory all touch only
/// the parent's entries, so they are single-shard; only a rename across directories whose ids fall
/// in different segments is cross-shard. Directory ids are allocated sequentially, so directories
/// created together (a checkout, a build tree) share segments, keeping a working set on few shards.
public struct SegmentKeying: Sendable, Hashable {
    /// Number of consecutive parent-directory ids per segment.
    public let segmentSize: UInt64
    /// Number of segments; ids beyond `segmentSize * segmentCount` wrap around.
    public let segmentCount: Int

    public init(segmentSize: UInt64, segmentCount: Int) throws {
        guard segmentSize > 0 else { throw PlacementError.invalidConfiguration("segmentSize must be > 0") }
        guard segmentCount > 0 else { throw PlacementError.invalidConfiguration("segmentCount must be > 0") }
        self.segmentSize = segmentSize
        self.segmentCount = segmentCount
    }

    /// The segment holding `key`: derived from the parent directory id only.
    public func segment(for key: MetadataKey) -> SegmentID {
        SegmentID((key.parent / segmentSize) % UInt64(segmentCount))
    }

    /// The segment holding the children of directory `directory`.
    public func segment(ofChildrenOf directory: UInt64) -> SegmentID {
        segment(for: MetadataKey(id: directory, parent: directory))
    }
}
