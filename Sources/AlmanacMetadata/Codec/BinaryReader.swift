/// Reads what ``BinaryWriter`` writes, checking every bound. Non-canonical varints are refused
/// so that every value has exactly one encoding.
struct BinaryReader {
    let bytes: [UInt8]
    private(set) var offset: Int = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    var remaining: Int { bytes.count - offset }

    mutating func byte() throws(CodecError) -> UInt8 {
        guard offset < bytes.count else { throw .truncated(offset: offset, needed: 1) }
        defer { offset += 1 }
        return bytes[offset]
    }

    mutating func raw(_ count: Int) throws(CodecError) -> ArraySlice<UInt8> {
        guard count >= 0, count <= remaining else { throw .truncated(offset: offset, needed: count - remaining) }
        defer { offset += count }
        return bytes[offset..<(offset + count)]
    }

    @inline(__always)
    mutating func varint() throws(CodecError) -> UInt64 {
        // One byte (values below 128) is the common case: types, counts, link counts.
        if offset < bytes.count, bytes[offset] & 0x80 == 0 {
            defer { offset += 1 }
            return UInt64(bytes[offset])
        }
        return try multiByteVarint()
    }

    private mutating func multiByteVarint() throws(CodecError) -> UInt64 {
        let start = offset
        // Over the raw buffer (bounds checked here, once per byte): the hot loop of snapshot
        // restore and journal decoding.
        let decoded: (value: UInt64, end: Int)? = bytes.withUnsafeBufferPointer { buffer in
            var result: UInt64 = 0
            var shift: UInt64 = 0
            var index = start
            while index < buffer.count {
                let next = buffer[index]
                index += 1
                if shift == 63 && next > 1 { return nil }
                result |= UInt64(next & 0x7F) << shift
                if next & 0x80 == 0 {
                    if next == 0 && index - start > 1 { return nil }
                    return (result, index)
                }
                shift += 7
                if shift > 63 { return nil }
            }
            return (0, -1)
        }
        guard let decoded else { throw .malformedVarint(offset: start) }
        guard decoded.end >= 0 else {
            offset = bytes.count
            throw .truncated(offset: bytes.count, needed: 1)
        }
        offset = decoded.end
        return decoded.value
    }

    mutating func varint32(_ field: String) throws(CodecError) -> UInt32 {
        let value = try varint()
        guard let narrow = UInt32(exactly: value) else { throw .valueOutOfRange(field: field, value: value) }
        return narrow
    }

    mutating func varint16(_ field: String) throws(CodecError) -> UInt16 {
        let value = try varint()
        guard let narrow = UInt16(exactly: value) else { throw .valueOutOfRange(field: field, value: value) }
        return narrow
    }

    /// A count of items that each take at least one byte (so it cannot exceed what remains).
    mutating func count(_ field: String) throws(CodecError) -> Int {
        let value = try varint()
        guard value <= UInt64(remaining) else { throw .valueOutOfRange(field: field, value: value) }
        return Int(value)
    }

    mutating func signed() throws(CodecError) -> Int64 {
        let raw = try varint()
        return Int64(bitPattern: (raw >> 1) ^ (0 &- (raw & 1)))
    }

    mutating func bool(_ field: String) throws(CodecError) -> Bool {
        switch try byte() {
        case 0: return false
        case 1: return true
        case let other: throw .unknownTag(field: field, value: UInt64(other))
        }
    }

    mutating func string(_ field: String) throws(CodecError) -> ByteString {
        let length = try varint()
        guard length <= UInt64(remaining) else { throw .truncated(offset: offset, needed: Int(length) - remaining) }
        let slice = try raw(Int(length))
        guard let text = String(validating: slice, as: UTF8.self) else { throw .invalidUTF8(field: field) }
        return ByteString(text)
    }

    mutating func timestamp() throws(CodecError) -> Timestamp { Timestamp(nanoseconds: try signed()) }

    mutating func littleEndian64() throws(CodecError) -> UInt64 {
        let slice = try raw(8)
        var value: UInt64 = 0
        for (shift, byte) in zip(stride(from: 0, to: 64, by: 8), slice) { value |= UInt64(byte) << UInt64(shift) }
        return value
    }

    /// Checks a record header (magic bytes then a version byte) and returns the version.
    mutating func header(magic: [UInt8], kind: String, supported: ClosedRange<UInt8>) throws(CodecError) -> UInt8 {
        for expected in magic where try byte() != expected { throw .badMagic(expected: kind) }
        let version = try byte()
        guard supported.contains(version) else { throw .unsupportedVersion(version) }
        return version
    }

    func finish() throws(CodecError) {
        if remaining > 0 { throw .trailingBytes(count: remaining) }
    }
}
