/// A receiver's acknowledgement of a snapshot in transit (the flow control of snapshot streaming):
/// sent back to the leader as an `installSnapshot` message (followers never send one otherwise),
/// whose `index` and `logTerm` name the snapshot and whose context is this. The host handles it
/// and never steps it into Raft.
public struct SnapshotChunkAck: Sendable, Hashable {
    public static let marker: [UInt8] = Array("almanac.snapack".utf8)

    /// Bytes of the snapshot file the receiver holds, contiguous from offset 0.
    public var received: UInt64
    /// The receiver could not take the last chunk (a gap, or it holds no transfer of that
    /// snapshot): the sender resends from `received`.
    public var rewind: Bool

    public init(received: UInt64, rewind: Bool) {
        self.received = received
        self.rewind = rewind
    }

    public var encoded: [UInt8] {
        Self.marker + withUnsafeBytes(of: received.littleEndian) { Array($0) } + [rewind ? 1 : 0]
    }

    /// Parses a message context; nil when it is not an acknowledgement.
    public init?(_ context: [UInt8]) {
        let m = Self.marker.count
        guard context.count == m + 9, Array(context[0..<m]) == Self.marker else { return nil }
        received = context[m..<(m + 8)].enumerated().reduce(UInt64(0)) { $0 | (UInt64($1.element) << (8 * UInt64($1.offset))) }
        rewind = context[m + 8] != 0
    }
}
