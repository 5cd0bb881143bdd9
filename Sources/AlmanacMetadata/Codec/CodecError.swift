/// Why bytes could not be decoded. Decoding never crashes: any input either decodes or yields one of these.
public enum CodecError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The input ended early.
    case truncated(offset: Int, needed: Int)
    /// The leading magic bytes are not those of the expected kind of record.
    case badMagic(expected: String)
    /// The format version is not one this build reads.
    case unsupportedVersion(UInt8)
    /// An enum tag has no meaning.
    case unknownTag(field: String, value: UInt64)
    /// A varint is longer than its canonical encoding, or longer than 10 bytes.
    case malformedVarint(offset: Int)
    /// A number does not fit its field.
    case valueOutOfRange(field: String, value: UInt64)
    /// A string is not valid UTF-8.
    case invalidUTF8(field: String)
    /// Bytes remain after the record.
    case trailingBytes(count: Int)
    /// The input is larger than the configured limit.
    case tooLarge(size: Int, limit: Int)
    /// The snapshot's checksum does not match its contents.
    case checksumMismatch
    /// Well-formed bytes describing an impossible state (snapshots only).
    case inconsistent(String)

    public var description: String {
        switch self {
        case .truncated(let offset, let needed): "input ends at byte \(offset); \(needed) more bytes needed"
        case .badMagic(let expected): "not a \(expected) (bad magic bytes)"
        case .unsupportedVersion(let version): "unsupported format version \(version)"
        case .unknownTag(let field, let value): "unknown \(field) tag \(value)"
        case .malformedVarint(let offset): "malformed varint at byte \(offset)"
        case .valueOutOfRange(let field, let value): "\(field) value \(value) is out of range"
        case .invalidUTF8(let field): "\(field) is not valid UTF-8"
        case .trailingBytes(let count): "\(count) unexpected bytes after the record"
        case .tooLarge(let size, let limit): "record is \(size) bytes, over the limit of \(limit)"
        case .checksumMismatch: "snapshot checksum mismatch"
        case .inconsistent(let reason): "inconsistent snapshot: \(reason)"
        }
    }
}
