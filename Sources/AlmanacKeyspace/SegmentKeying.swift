/// How the namespace is cut into segments.
///
/// - Keying rule: a directory's entries and its regular children's attributes are keyed by the
///   directory, so one directory's children share a segment and name operations inside one
///   directory (lookup, create, unlink, readdir, rename within it) touch one segment.
/// - A new directory is placed in the segment `hash(parent, name) mod segmentCount`: directories
///   created together (a checkout, one directory per client) spread over all segments and hence
///   over all shards, while each directory keeps its children together. See docs/sharding.md for
///   the comparison with range keying (CockroachDB, TiKV) and hashed fragments (CephFS).
/// - The hash is FNV-1a (64 bit) followed by a SplitMix64 finaliser: fixed across processes,
///   platforms and releases (Swift's `Hasher` is seeded per process and must not be used here).
public struct SegmentKeying: Sendable, Hashable, Codable {
    /// Number of segments; segment ids are `0..<segmentCount`.
    public let segmentCount: Int

    /// Default segment count: enough to split a hot directory's neighbours away from it many times,
    /// small enough that the map (one shard id per segment) stays a few KiB.
    public static let defaultSegmentCount = 4096

    public init(segmentCount: Int = SegmentKeying.defaultSegmentCount) throws(KeyspaceError) {
        guard (1...(Int(SegmentID.max) + 1)).contains(segmentCount) else {
            throw KeyspaceError.invalid("segment count \(segmentCount) is outside 1...\(Int(SegmentID.max) + 1)")
        }
        self.segmentCount = segmentCount
    }

    /// The segment a new directory named `name` in `parent` is allocated in.
    public func segmentForNewDirectory(parent: InodeID, name: some Collection<UInt8>) -> SegmentID {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for shift in stride(from: 0, to: 64, by: 8) {
            hash = (hash ^ ((parent.rawValue >> UInt64(shift)) & 0xff)) &* 0x0000_0100_0000_01b3
        }
        for byte in name { hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01b3 }
        // SplitMix64 finaliser: spreads FNV's weak low bits.
        hash = (hash ^ (hash >> 30)) &* 0xbf58_476d_1ce4_e5b9
        hash = (hash ^ (hash >> 27)) &* 0x94d0_49bb_1331_11eb
        hash ^= hash >> 31
        return SegmentID(truncatingIfNeeded: hash % UInt64(segmentCount))
    }

    /// Whether `id` names a segment of this keying.
    public func contains(_ id: InodeID) -> Bool { Int(id.segment) < segmentCount }
}

/// Errors of the keyspace values (bad configuration, malformed maps).
public enum KeyspaceError: Error, Hashable, Sendable, CustomStringConvertible {
    case invalid(String)

    public var description: String {
        switch self {
        case .invalid(let message): return message
        }
    }
}
