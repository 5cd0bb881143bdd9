/// Identifier of a journal shard. Inode ids carry it in their high 16 bits.
public typealias ShardID = UInt16

/// Identifier of a client session. Sessions are registered through the log and take the
/// log index of their `registerSession` entry as their id, so an id is never reused.
public typealias SessionID = UInt64

/// A client's per-session sequence number (starts at 1).
public typealias SequenceNumber = UInt64

/// Identifier of an open-file handle, allocated by the state machine.
public typealias HandleID = UInt64

/// A 64-bit inode number.
///
/// The high ``shardBits`` bits name the shard that allocated the inode and the low
/// ``counterBits`` bits are a per-shard counter, so ids allocated by different shards never
/// collide. Id 0 is invalid and id 1 is the namespace root.
public struct InodeID: RawRepresentable, Hashable, Comparable, Sendable, CustomStringConvertible {
    public var rawValue: UInt64

    public init(rawValue: UInt64) { self.rawValue = rawValue }
    public init(_ rawValue: UInt64) { self.rawValue = rawValue }

    /// Bits of the id that hold the allocating shard.
    public static let shardBits = 16
    /// Bits of the id that hold the shard-local counter.
    public static let counterBits = 48
    /// Largest counter value a shard can allocate.
    public static let maxCounter: UInt64 = (1 << 48) - 1

    /// The root directory.
    public static let root = InodeID(1)

    /// The id a shard allocates for its `counter`-th inode.
    public init(shard: ShardID, counter: UInt64) {
        self.rawValue = (UInt64(shard) << UInt64(Self.counterBits)) | (counter & Self.maxCounter)
    }

    /// The shard whose range holds this id.
    public var shard: ShardID { ShardID(truncatingIfNeeded: rawValue >> UInt64(Self.counterBits)) }
    /// The shard-local counter part of the id.
    public var counter: UInt64 { rawValue & Self.maxCounter }

    public static func < (lhs: InodeID, rhs: InodeID) -> Bool { lhs.rawValue < rhs.rawValue }
    public var description: String { "#\(rawValue)" }
}

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
