// Node, zone, shard, segment and epoch ids and `InodeID` come from the shared vocabulary.
@_exported import AlmanacKeyspace

/// Identifier of a client session. Sessions are registered through the log and take the
/// log index of their `registerSession` entry as their id, so an id is never reused.
public typealias SessionID = UInt64

/// A client's per-session sequence number (starts at 1).
public typealias SequenceNumber = UInt64

/// Identifier of an open-file handle, allocated by the state machine.
public typealias HandleID = UInt64

/// Wall-clock time in nanoseconds since the Unix epoch. Chosen by the leader when it proposes
/// a command, so applying the command is deterministic on every replica.
public struct Timestamp: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var nanoseconds: Int64

    public init(nanoseconds: Int64) { self.nanoseconds = nanoseconds }
    public init(seconds: Int64) { self.nanoseconds = seconds &* 1_000_000_000 }

    public static let zero = Timestamp(nanoseconds: 0)

    public static func < (lhs: Timestamp, rhs: Timestamp) -> Bool { lhs.nanoseconds < rhs.nanoseconds }
    public var description: String { "\(nanoseconds)ns" }

    /// This time plus `duration` nanoseconds, saturating instead of overflowing.
    func adding(_ duration: Int64) -> Timestamp {
        let (sum, overflow) = nanoseconds.addingReportingOverflow(duration)
        return Timestamp(nanoseconds: overflow ? (duration > 0 ? .max : .min) : sum)
    }
}
