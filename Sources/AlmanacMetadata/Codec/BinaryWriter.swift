/// Appends the journal codec's primitives: bytes, LEB128 varints, zigzag signed varints and
/// length-prefixed UTF-8 strings. The output for a given value is always the same.
struct BinaryWriter {
    private(set) var bytes: [UInt8] = []

    init(capacity: Int = 64) { bytes.reserveCapacity(capacity) }

    mutating func byte(_ value: UInt8) { bytes.append(value) }

    mutating func raw(_ values: [UInt8]) { bytes.append(contentsOf: values) }

    mutating func varint(_ value: UInt64) {
        var rest = value
        while rest >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: rest) | 0x80)
            rest >>= 7
        }
        bytes.append(UInt8(rest))
    }

    mutating func varint(_ value: UInt32) { varint(UInt64(value)) }
    mutating func varint(_ value: UInt16) { varint(UInt64(value)) }

    mutating func signed(_ value: Int64) {
        varint(UInt64(bitPattern: (value << 1) ^ (value >> 63)))
    }

    mutating func bool(_ value: Bool) { bytes.append(value ? 1 : 0) }

    mutating func string(_ value: ByteString) {
        varint(UInt64(value.byteCount))
        bytes.append(contentsOf: value.string.utf8)
    }

    mutating func string(_ value: String) { string(ByteString(value)) }

    /// A string given as its UTF-8 bytes (the same encoding as ``string(_:)``).
    mutating func string(utf8 value: ArraySlice<UInt8>) {
        varint(UInt64(value.count))
        bytes.append(contentsOf: value)
    }

    mutating func timestamp(_ value: Timestamp) { signed(value.nanoseconds) }

    mutating func littleEndian(_ value: UInt64) {
        for shift in stride(from: 0, to: 64, by: 8) { bytes.append(UInt8(truncatingIfNeeded: value >> UInt64(shift))) }
    }
}
