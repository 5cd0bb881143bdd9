/// A 64-bit inode number, global across the cluster.
///
/// The high ``segmentBits`` bits name the *segment* the inode's attributes live in and the low
/// ``counterBits`` bits are that segment's counter. An id never names a shard: a segment moves
/// between shards with its counter and its records, so nothing is renumbered and file handles
/// stay valid. Id 0 is invalid and id 1 is the namespace root (segment 0, counter 1).
///
/// A regular file or symlink is allocated in its parent directory's segment (children are keyed
/// by their parent); a directory is allocated in a segment of its own choosing
/// (``SegmentKeying/segmentForNewDirectory(parent:name:)``), where its own attributes and entries
/// live and where its children will be allocated.
public struct InodeID: RawRepresentable, Hashable, Comparable, Sendable, CustomStringConvertible {
    public var rawValue: UInt64

    public init(rawValue: UInt64) { self.rawValue = rawValue }
    public init(_ rawValue: UInt64) { self.rawValue = rawValue }

    /// Bits of the id that hold the segment.
    public static let segmentBits = 16
    /// Bits of the id that hold the segment-local counter.
    public static let counterBits = 48
    /// Largest counter value a segment can allocate.
    public static let maxCounter: UInt64 = (1 << 48) - 1

    /// The root directory.
    public static let root = InodeID(1)

    /// The id of the `counter`-th inode allocated in `segment`.
    public init(segment: SegmentID, counter: UInt64) {
        self.rawValue = (UInt64(segment) << UInt64(Self.counterBits)) | (counter & Self.maxCounter)
    }

    /// The segment this inode's attributes (and, for a directory, its entries) belong to.
    public var segment: SegmentID { SegmentID(truncatingIfNeeded: rawValue >> UInt64(Self.counterBits)) }
    /// The segment-local counter part of the id.
    public var counter: UInt64 { rawValue & Self.maxCounter }

    public static func < (lhs: InodeID, rhs: InodeID) -> Bool { lhs.rawValue < rhs.rawValue }
    public var description: String { "#\(rawValue)" }
}
