/// Why bytes could not be decoded as a ``ConfChange``.
public struct ConfChangeDecodingError: Error, Sendable, Hashable, CustomStringConvertible {
    public var description: String
}

/// Deterministic binary encoding of ``ConfChange`` for configuration-change log entries.
///
/// Layout (little endian): magic `0xCC`, version `1`, transition (1 byte), step count (UInt32),
/// then per step: kind (1 byte), node id (UInt64).
extension ConfChange {
    static let codecMagic: UInt8 = 0xCC
    static let codecVersion: UInt8 = 1

    /// The entry payload for this change.
    public func encoded() -> [UInt8] {
        var out: [UInt8] = [ConfChange.codecMagic, ConfChange.codecVersion, transition.rawValue]
        out.reserveCapacity(7 + changes.count * 9)
        appendLittleEndian(UInt64(changes.count), bytes: 4, to: &out)
        for step in changes {
            out.append(step.kind.rawValue)
            appendLittleEndian(step.node, bytes: 8, to: &out)
        }
        return out
    }

    /// Decodes a change produced by ``encoded()``.
    public init(decoding bytes: [UInt8]) throws(ConfChangeDecodingError) {
        var reader = ByteReader(bytes: bytes)
        guard try reader.byte() == ConfChange.codecMagic else {
            throw ConfChangeDecodingError(description: "not a conf change (bad magic)")
        }
        let version = try reader.byte()
        guard version == ConfChange.codecVersion else {
            throw ConfChangeDecodingError(description: "unsupported conf change version \(version)")
        }
        let rawTransition = try reader.byte()
        guard let transition = Transition(rawValue: rawTransition) else {
            throw ConfChangeDecodingError(description: "unknown transition \(rawTransition)")
        }
        let count = try reader.littleEndian(bytes: 4)
        guard count <= UInt64(bytes.count) else {
            throw ConfChangeDecodingError(description: "step count \(count) exceeds payload")
        }
        var steps: [ConfChangeSingle] = []
        for _ in 0..<count {
            let rawKind = try reader.byte()
            guard let kind = ConfChangeSingle.Kind(rawValue: rawKind) else {
                throw ConfChangeDecodingError(description: "unknown step kind \(rawKind)")
            }
            steps.append(ConfChangeSingle(kind, try reader.littleEndian(bytes: 8)))
        }
        guard reader.atEnd else {
            throw ConfChangeDecodingError(description: "\(bytes.count - reader.offset) trailing bytes")
        }
        self.init(steps, transition: transition)
    }
}

private func appendLittleEndian(_ value: UInt64, bytes: Int, to out: inout [UInt8]) {
    for i in 0..<bytes { out.append(UInt8(truncatingIfNeeded: value >> (8 * UInt64(i)))) }
}

private struct ByteReader {
    let bytes: [UInt8]
    var offset = 0

    var atEnd: Bool { offset == bytes.count }

    mutating func byte() throws(ConfChangeDecodingError) -> UInt8 {
        guard offset < bytes.count else { throw ConfChangeDecodingError(description: "truncated conf change") }
        defer { offset += 1 }
        return bytes[offset]
    }

    mutating func littleEndian(bytes n: Int) throws(ConfChangeDecodingError) -> UInt64 {
        var value: UInt64 = 0
        for i in 0..<n { value |= UInt64(try byte()) << (8 * UInt64(i)) }
        return value
    }
}
