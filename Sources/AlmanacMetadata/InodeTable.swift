import AlmanacKeyspace

/// A shard's inodes by id: a dictionary split into a fixed number of smaller ones by a hash of the
/// id, so that copy-on-write copies a part, not the whole namespace.
///
/// The host checkpoints a state machine by keeping a copy of it (a value) that a background
/// thread encodes while requests go on writing the live state. With one dictionary, the first
/// write after a checkpoint began copied every inode on the event loop: at 10 M inodes a stall of
/// a large fraction of a second (issue 17: "snapshots never stall requests"). Here that write
/// copies the table of `partCount` references and one part (about 1/4096 of the inodes); later
/// writes copy the other parts as they touch them.
struct InodeTable: Equatable, Sendable {
    /// Parts of the table. A power of two; fixed, so equal tables have equal parts.
    static let partCount = 4_096

    private var parts: [[InodeID: Inode]]

    init() { parts = Array(repeating: [:], count: Self.partCount) }

    @inline(__always)
    private static func part(of id: InodeID) -> Int {
        // SplitMix64's finalizer spreads ids that differ only in their low counter bits.
        var z = id.rawValue
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return Int(truncatingIfNeeded: (z ^ (z >> 31)) & UInt64(partCount - 1))
    }

    subscript(id: InodeID) -> Inode? {
        get { parts[Self.part(of: id)][id] }
        _modify { yield &parts[Self.part(of: id)][id] }
    }

    @discardableResult
    mutating func removeValue(forKey id: InodeID) -> Inode? {
        parts[Self.part(of: id)].removeValue(forKey: id)
    }

    /// The number of inodes (a sum over the parts: not for a hot loop).
    var count: Int { parts.reduce(0) { $0 + $1.count } }

    /// Makes room for `capacity` inodes in all, spread over the parts.
    mutating func reserveCapacity(_ capacity: Int) {
        let perPart = (capacity + Self.partCount - 1) / Self.partCount
        guard perPart > 0 else { return }
        for part in parts.indices { parts[part].reserveCapacity(perPart) }
    }

    /// Every id, in no particular order.
    var keys: some Sequence<InodeID> { parts.lazy.flatMap(\.keys) }
    /// Every inode, in no particular order.
    var values: some Sequence<Inode> { parts.lazy.flatMap(\.values) }
}
