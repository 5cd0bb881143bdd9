import AlmanacKeyspace

/// A multiset of references to inodes, kept as the sum of a keyed 128-bit hash of each element
/// (set hashing by addition: equal multisets have equal sums; a difference goes unnoticed with
/// probability about 2^-128 for data not crafted against the fixed keys).
///
/// A restored namespace's invariant check (`checkInvariants`) sums one such multiset over the
/// directory entries (each names a child, with its type, and for a directory the parent naming
/// it) and another over the inodes (each as many times as entries must name it). Equal sums stand
/// for "every entry names an inode of its type, and every inode is named as often as its link
/// count says", checked in two sequential passes instead of a lookup per entry and a table of
/// counters as large as the namespace. A mismatch is then located by the exact check.
struct ReferenceMultiset: Equatable {
    private(set) var low: UInt64 = 0
    private(set) var high: UInt64 = 0

    /// Adds (`id`, `type`, `parent`) `times` times; `parent` is the naming directory of a directory
    /// and nil otherwise.
    mutating func add(_ id: InodeID, type: FileType, parent: InodeID?, times: UInt64 = 1) {
        guard times > 0 else { return }
        let element = id.rawValue
        let detail = (UInt64(type.rawValue) << 56) ^ (parent.map { Self.mix($0.rawValue ^ 0x5851_F42D_4C95_7F2D) } ?? 0)
        low = low &+ times &* Self.mix(Self.mix(element ^ 0x9E37_79B9_7F4A_7C15) ^ detail)
        high = high &+ times &* Self.mix(Self.mix(element ^ 0xD1B5_4A32_D192_ED03) ^ detail ^ 0xA076_1D64_78BD_642F)
    }

    /// SplitMix64's finalizer: a bijection of 64-bit words that spreads every input bit.
    private static func mix(_ value: UInt64) -> UInt64 {
        var z = value
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
