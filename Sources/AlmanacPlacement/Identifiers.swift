/// Index of a zone in a `Topology` (0-based).
public typealias ZoneID = Int
/// Index of a node in a `Topology` (0-based).
public typealias NodeID = Int
/// Index of a key-space segment (see `SegmentKeying`).
public typealias SegmentID = Int
/// Stable identifier of a shard (a Raft group) in a `ShardMap`.
public typealias ShardID = Int
/// Identifier of a two-phase replica move, chosen by the policy that prepares it.
public typealias MoveID = Int

/// Kind of metadata access counted by the access monitor.
public enum AccessType: String, Sendable, Hashable, Codable, CaseIterable {
    case read
    case write
}

/// Errors raised by the placement deciders and the shard map on bad input.
public enum PlacementError: Error, Equatable, Sendable, CustomStringConvertible {
    case invalidConfiguration(String)
    case unknownShard(ShardID)
    case unknownZone(ZoneID)
    case unknownNode(NodeID)
    case constraintViolation(String)

    public var description: String {
        switch self {
        case .invalidConfiguration(let m): return "invalid configuration: \(m)"
        case .unknownShard(let s): return "unknown shard \(s)"
        case .unknownZone(let z): return "unknown zone \(z)"
        case .unknownNode(let n): return "unknown node \(n)"
        case .constraintViolation(let m): return "constraint violation: \(m)"
        }
    }
}
