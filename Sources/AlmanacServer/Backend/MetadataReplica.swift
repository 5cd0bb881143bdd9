import AlmanacMetadata
import AlmanacNode
import AlmanacRaft

/// A journal shard's namespace state machine as the multi-Raft host drives it: committed entries
/// are encoded ``CommandEnvelope``s, snapshots are ``MetadataStateMachine/snapshot()``.
public struct MetadataReplica: ReplicatedStateMachine {
    public var state: MetadataStateMachine

    public init(state: MetadataStateMachine) { self.state = state }

    /// A fresh shard. Until cross-shard transactions run in the server, the initial map gives every
    /// segment to shard 0 (``initialMap(shardCount:members:)``); the other shards start empty.
    public static func initial(group: UInt64) -> MetadataReplica {
        let config = MetadataConfig(shardID: ShardID(truncatingIfNeeded: group))
        let owned = group == 0 ? (0..<config.keying.segmentCount).map { SegmentID($0) } : []
        return MetadataReplica(state: MetadataStateMachine(
            config: config, ownership: SegmentOwnership(keying: config.keying, owned: owned, epoch: 1)))
    }

    /// The shard map a new cluster starts with: `shardCount` shards with their replicas placed one per
    /// zone, and every segment in shard 0 (the state every shard's initial state machine agrees with).
    public static func initialMap(shardCount: Int, members: [ClusterMember]) throws(KeyspaceError) -> ShardMap {
        let keying = MetadataConfig.defaultKeying
        let zones = Dictionary(members.map { ($0.id, $0.zone) }, uniquingKeysWith: { first, _ in first })
        let shards = (0..<max(1, shardCount)).map { shard in
            ShardRecord(id: ShardID(shard), replicas: ReplicaPlacement.replicas(of: UInt64(shard), members: members).map {
                ReplicaLocation(node: $0, zone: zones[$0] ?? "")
            })
        }
        return try ShardMap(keying: keying, epoch: 1, owners: Array(repeating: 0, count: keying.segmentCount), shards: shards)
    }

    public static func restore(group: UInt64, from data: [UInt8]) throws -> MetadataReplica {
        let state = try MetadataStateMachine(restoringFrom: data)
        guard UInt64(state.config.shardID) == group else {
            throw CodecError.inconsistent("snapshot of shard \(state.config.shardID) offered to group \(group)")
        }
        return MetadataReplica(state: state)
    }

    public mutating func apply(_ data: [UInt8], at index: LogIndex) -> CommandResult {
        state.apply(encoded: data, at: index)
    }

    public func snapshotData() -> [UInt8] { state.snapshot() }

    public var stateDigest: UInt64 { state.digest.value }
}
