/// The potential-entry commands of the simulator's register machine, as journal payloads
/// (docs/simulation.md, "Potential entries"). Like the metadata state machine's, they carry the
/// leader's command time, which is the only clock their rules read.
public enum PotentialCommand: Sendable, Hashable {
    /// Records `write` (a predicted write of `session`) as a potential entry whose id is the log
    /// index of this entry; it can be confirmed until `expiresAt`.
    case issue(session: UInt64, write: KeyValueCommand, time: Int64, expiresAt: Int64)
    /// Executes the oldest pending entry of `session` tagged `tag` as the session's `sequence`.
    case confirm(session: UInt64, sequence: UInt64, tag: UInt64, time: Int64)
    /// Drops the pending entries `ids`.
    case expire(ids: [UInt64], time: Int64)

    static let issueHeader: UInt8 = 0xE1
    static let confirmHeader: UInt8 = 0xE2
    static let expireHeader: UInt8 = 0xE3

    /// The command time of the entry.
    public var time: Int64 {
        switch self {
        case .issue(_, _, let time, _), .confirm(_, _, _, let time), .expire(_, let time): time
        }
    }

    /// Issue 34 bytes, confirmation 33, expiry 10 + 8 per id: never 9 or 25, the lengths of a
    /// ``KeyValueCommand``, so the two decoders never both accept a payload.
    public var encoded: [UInt8] {
        var bytes: [UInt8] = []
        func put(_ x: UInt64) { for shift in stride(from: 0, to: 64, by: 8) { bytes.append(UInt8(truncatingIfNeeded: x >> UInt64(shift))) } }
        switch self {
        case let .issue(session, write, time, expiresAt):
            bytes.append(Self.issueHeader)
            put(session)
            bytes.append(write.key)
            put(write.opID)
            put(UInt64(bitPattern: time))
            put(UInt64(bitPattern: expiresAt))
        case let .confirm(session, sequence, tag, time):
            bytes.append(Self.confirmHeader)
            put(session)
            put(sequence)
            put(tag)
            put(UInt64(bitPattern: time))
        case let .expire(ids, time):
            bytes.append(Self.expireHeader)
            bytes.append(0)
            put(UInt64(bitPattern: time))
            for id in ids { put(id) }
        }
        return bytes
    }

    /// Decodes a potential command; nil for any other payload.
    public init?(decoding bytes: [UInt8]) {
        guard let header = bytes.first, bytes.count != 9, bytes.count != 25 else { return nil }
        func get(_ offset: Int) -> UInt64 {
            var x: UInt64 = 0
            for i in 0..<8 { x |= UInt64(bytes[offset + i]) << UInt64(8 * i) }
            return x
        }
        switch header {
        case Self.issueHeader where bytes.count == 34:
            self = .issue(session: get(1), write: KeyValueCommand(opID: get(10), key: bytes[9]),
                          time: Int64(bitPattern: get(18)), expiresAt: Int64(bitPattern: get(26)))
        case Self.confirmHeader where bytes.count == 33:
            self = .confirm(session: get(1), sequence: get(9), tag: get(17), time: Int64(bitPattern: get(25)))
        case Self.expireHeader where bytes.count >= 10 && (bytes.count - 10) % 8 == 0:
            self = .expire(ids: stride(from: 10, to: bytes.count, by: 8).map { get($0) }, time: Int64(bitPattern: get(2)))
        default:
            return nil
        }
    }
}

extension KeyValueCommand {
    /// What a confirmation names a predicted write by: a digest of its register and value.
    public var potentialTag: UInt64 {
        var hasher = StableHasher()
        hasher.combine(UInt64(key))
        hasher.combine(opID)
        return hasher.value
    }
}
