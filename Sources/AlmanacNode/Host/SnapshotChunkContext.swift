/// How a snapshot travels between hosts in chunks without a dedicated wire message: the leader's
/// `installSnapshot` message is sent once per chunk of the snapshot *file* (``SnapshotStore``
/// format, checksummed), each copy carrying that chunk as its snapshot data and this context
/// (marker, offset, total file size). The receiving host reassembles the file with a
/// `SnapshotReceiver` and steps the original message into Raft only when the file is complete and
/// verified.
public struct SnapshotChunkContext: Sendable, Hashable {
    public static let marker: [UInt8] = Array("almanac.snapchunk".utf8)

    public var offset: UInt64
    public var totalSize: UInt64

    public init(offset: UInt64, totalSize: UInt64) {
        self.offset = offset
        self.totalSize = totalSize
    }

    public var encoded: [UInt8] {
        Self.marker + withUnsafeBytes(of: offset.littleEndian) { Array($0) } + withUnsafeBytes(of: totalSize.littleEndian) { Array($0) }
    }

    /// Parses a message context; nil when it is not a chunk context.
    public init?(_ context: [UInt8]) {
        let m = Self.marker.count
        guard context.count == m + 16, Array(context[0..<m]) == Self.marker else { return nil }
        func u64(_ start: Int) -> UInt64 {
            context[start..<(start + 8)].enumerated().reduce(UInt64(0)) { $0 | (UInt64($1.element) << (8 * UInt64($1.offset))) }
        }
        offset = u64(m)
        totalSize = u64(m + 8)
        guard offset <= totalSize else { return nil }
    }
}
