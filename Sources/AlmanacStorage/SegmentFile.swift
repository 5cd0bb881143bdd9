/// Segment file naming and the 32-byte segment header:
///
/// ```
/// 0 "ALMWAL01"   8 u64 sequence number   16 u32 format version (1)   20 u64 reserved (0)   28 u32 CRC32C of 0..<28
/// ```
/// The header's CRC seeds the record chain: the first record of a segment carries it as its
/// previous checksum, so a record copied in from another segment is detected.
enum SegmentFile {
    static let headerSize = 32
    static let magic: [UInt8] = Array("ALMWAL01".utf8)
    static let version: UInt32 = 1
    static let suffix = ".log"

    static func name(sequence: UInt64) -> String {
        let digits = String(sequence, radix: 16)
        return String(repeating: "0", count: max(0, 16 - digits.count)) + digits + suffix
    }

    /// The sequence number of a segment file name, or nil when the name is not a segment's.
    static func sequence(ofName name: String) -> UInt64? {
        guard name.hasSuffix(suffix), name.count == 16 + suffix.count else { return nil }
        return UInt64(name.prefix(16), radix: 16)
    }

    /// The header bytes and the chain seed (its checksum).
    static func header(sequence: UInt64) -> (bytes: [UInt8], seed: UInt32) {
        var writer = ByteWriter(capacity: headerSize)
        writer.raw(magic)
        writer.u64(sequence)
        writer.u32(version)
        writer.u64(0)
        let seed = CRC32C.checksum(writer.bytes)
        writer.u32(seed)
        return (writer.bytes, seed)
    }

    /// Validates a header; returns the chain seed or a reason.
    static func parseHeader(_ bytes: [UInt8], expectedSequence: UInt64) -> Result<UInt32, HeaderError> {
        guard bytes.count >= headerSize else { return .failure(HeaderError(reason: "file shorter than the header")) }
        guard Array(bytes[0..<8]) == magic else { return .failure(HeaderError(reason: "bad magic")) }
        let stored: UInt32 = readLE(bytes, 28)
        let computed = CRC32C.checksum(bytes[0..<28])
        guard stored == computed else {
            return .failure(HeaderError(reason: "header checksum mismatch (stored \(hex(stored)), computed \(hex(computed)))"))
        }
        let sequence: UInt64 = readLE(bytes, 8)
        guard sequence == expectedSequence else {
            return .failure(HeaderError(reason: "header names sequence \(sequence), file name says \(expectedSequence)"))
        }
        let version: UInt32 = readLE(bytes, 16)
        guard version == Self.version else { return .failure(HeaderError(reason: "unsupported version \(version)")) }
        return .success(stored)
    }

    struct HeaderError: Error { var reason: String }
}
