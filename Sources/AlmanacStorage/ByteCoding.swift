/// Appends little-endian integers and byte strings to a growing buffer.
struct ByteWriter {
    var bytes: [UInt8] = []

    init(capacity: Int = 0) { bytes.reserveCapacity(capacity) }

    mutating func u8(_ value: UInt8) { bytes.append(value) }
    mutating func u16(_ value: UInt16) { integer(value) }
    mutating func u32(_ value: UInt32) { integer(value) }
    mutating func u64(_ value: UInt64) { integer(value) }

    mutating func integer<T: FixedWidthInteger>(_ value: T) {
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
    }

    /// A u32 length followed by the bytes.
    mutating func lengthPrefixed(_ data: [UInt8]) {
        u32(UInt32(data.count))
        bytes.append(contentsOf: data)
    }

    mutating func raw(_ data: [UInt8]) { bytes.append(contentsOf: data) }
}

/// Reads little-endian integers from a byte buffer; every read is bounds-checked.
struct ByteReader {
    let bytes: [UInt8]
    private(set) var position: Int

    init(_ bytes: [UInt8], position: Int = 0) {
        self.bytes = bytes
        self.position = position
    }

    var remaining: Int { bytes.count - position }

    struct Truncated: Error {}

    mutating func u8() throws(Truncated) -> UInt8 {
        guard remaining >= 1 else { throw Truncated() }
        defer { position += 1 }
        return bytes[position]
    }
    mutating func u16() throws(Truncated) -> UInt16 { try integer() }
    mutating func u32() throws(Truncated) -> UInt32 { try integer() }
    mutating func u64() throws(Truncated) -> UInt64 { try integer() }

    mutating func integer<T: FixedWidthInteger>() throws(Truncated) -> T {
        let size = MemoryLayout<T>.size
        guard remaining >= size else { throw Truncated() }
        var value: T = 0
        for k in 0..<size { value |= T(bytes[position + k]) << (8 * k) }
        position += size
        return value
    }

    mutating func raw(_ count: Int) throws(Truncated) -> [UInt8] {
        guard count >= 0, remaining >= count else { throw Truncated() }
        defer { position += count }
        return Array(bytes[position..<(position + count)])
    }

    mutating func lengthPrefixed() throws(Truncated) -> [UInt8] {
        try raw(Int(try u32()))
    }
}

/// Reads a little-endian integer at `offset` of a byte array (caller checks bounds).
@inline(__always)
func readLE<T: FixedWidthInteger>(_ bytes: [UInt8], _ offset: Int, as: T.Type = T.self) -> T {
    var value: T = 0
    for k in 0..<MemoryLayout<T>.size { value |= T(bytes[offset + k]) << (8 * k) }
    return value
}
