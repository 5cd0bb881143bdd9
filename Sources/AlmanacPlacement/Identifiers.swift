import AlmanacKeyspace

// Identities are AlmanacKeyspace's, the one vocabulary of every module: `SegmentID`, `ShardID`,
// `NodeIndex`, `ZoneName` and `Epoch`. The deciders also number a topology's zones and nodes by
// position (the rows of its round-trip matrix); those positions are indexes, not identities.

/// Position of a zone in a `Topology` (0-based: its row of the round-trip matrix). The zone itself
/// is named by a `ZoneName` (`Topology.zoneNames[index]`).
public typealias ZoneIndex = Int
/// Position of a node in a `Topology` (0-based). The live node's `NodeIndex` is what AlmanacControl
/// maps it to; the simulator has no other.
public typealias NodeIndex = Int
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
    case unknownZone(ZoneIndex)
    case unknownNode(NodeIndex)
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
