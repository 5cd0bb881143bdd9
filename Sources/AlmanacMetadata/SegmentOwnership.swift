/// The segments a shard's state machine owns, and the shard epoch at which it came to own them.
///
/// Every operation checks that each record it touches lies in an owned segment: a request routed
/// with a stale map is refused (`WRONG_SHARD`, with this epoch) instead of landing in the wrong
/// shard. Ownership changes only through the journal (bootstrap, and hand-offs when segments move).
public struct SegmentOwnership: Hashable, Sendable {
    public let keying: SegmentKeying
    /// The shard epoch of the map this ownership was taken from.
    public internal(set) var epoch: Epoch
    private var words: [UInt64]

    /// Ownership of exactly `segments`.
    public init(keying: SegmentKeying, owned segments: some Sequence<SegmentID>, epoch: Epoch) {
        self.keying = keying
        self.epoch = epoch
        self.words = Array(repeating: 0, count: (keying.segmentCount + 63) / 64)
        for segment in segments where Int(segment) < keying.segmentCount { insert(segment) }
    }

    /// Ownership of every segment (a single-shard namespace).
    public static func all(_ keying: SegmentKeying) -> SegmentOwnership {
        SegmentOwnership(keying: keying, owned: (0..<keying.segmentCount).map { SegmentID($0) }, epoch: 1)
    }

    public func owns(_ segment: SegmentID) -> Bool {
        Int(segment) < keying.segmentCount && words[Int(segment) >> 6] & (1 << UInt64(segment & 63)) != 0
    }

    /// Whether the record of `id` (its attributes; a directory's entries too) is owned here.
    public func owns(_ id: InodeID) -> Bool { owns(id.segment) }

    /// Owned segments, ascending.
    public var segments: [SegmentID] { (0..<keying.segmentCount).map { SegmentID($0) }.filter { owns($0) } }

    public var ownsEverything: Bool { segments.count == keying.segmentCount }

    mutating func insert(_ segment: SegmentID) { words[Int(segment) >> 6] |= 1 << UInt64(segment & 63) }
    mutating func remove(_ segment: SegmentID) { words[Int(segment) >> 6] &= ~(1 << UInt64(segment & 63)) }
}
