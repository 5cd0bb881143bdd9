/// A stable 64-bit digest of a state machine's whole state (FNV-1a over the canonical snapshot
/// encoding). Equal states have equal digests on every replica and every run; use it to check
/// that replicas converged. Not cryptographic.
public struct StateDigest: Hashable, Sendable, CustomStringConvertible {
    public var value: UInt64

    public init(value: UInt64) { self.value = value }

    /// FNV-1a 64 of `bytes`.
    public init<Bytes: Sequence>(of bytes: Bytes) where Bytes.Element == UInt8 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in bytes {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01B3
        }
        self.value = hash
    }

    public var description: String {
        let hex = String(value, radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }
}
