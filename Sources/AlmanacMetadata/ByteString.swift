/// A UTF-8 string compared byte by byte.
///
/// POSIX names are byte strings: "é" written precomposed and decomposed are two different
/// names. Swift's `String` equality uses Unicode canonical equivalence, which would merge
/// them (and could differ between standard-library versions), so names and symlink targets
/// use this wrapper: equality, hashing and ordering all look at the UTF-8 bytes only.
public struct ByteString: Hashable, Comparable, Sendable, CustomStringConvertible,
    ExpressibleByStringLiteral
{
    /// The text; its `utf8` view is what counts.
    public let string: String

    public init(_ string: String) {
        var copy = string
        copy.makeContiguousUTF8()
        self.string = copy
    }
    public init(stringLiteral value: String) { self.init(value) }

    /// Number of UTF-8 bytes.
    public var byteCount: Int { string.utf8.count }

    public static func == (lhs: ByteString, rhs: ByteString) -> Bool {
        compare(lhs, rhs) == 0
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(byteCount)
        let hashedContiguously: Void? = string.utf8.withContiguousStorageIfAvailable {
            hasher.combine(bytes: UnsafeRawBufferPointer($0))
        }
        if hashedContiguously == nil {
            for byte in string.utf8 { hasher.combine(byte) }
        }
    }

    public static func < (lhs: ByteString, rhs: ByteString) -> Bool {
        compare(lhs, rhs) < 0
    }

    /// Byte-wise three-way comparison (negative, zero, positive).
    private static func compare(_ lhs: ByteString, _ rhs: ByteString) -> Int {
        let fast: Int?? = lhs.string.utf8.withContiguousStorageIfAvailable { left in
            rhs.string.utf8.withContiguousStorageIfAvailable { right in
                let common = min(left.count, right.count)
                var index = 0
                while index < common {
                    let a = left[index]
                    let b = right[index]
                    if a != b { return a < b ? -1 : 1 }
                    index += 1
                }
                return left.count - right.count
            }
        }
        if let result = fast ?? nil { return result }
        if lhs.string.utf8.elementsEqual(rhs.string.utf8) { return 0 }
        return lhs.string.utf8.lexicographicallyPrecedes(rhs.string.utf8) ? -1 : 1
    }

    public var description: String { string }
}
