import AlmanacMetadata
import AlmanacNode
import AlmanacRaft

/// A journal shard's namespace state machine as the multi-Raft host drives it: committed entries
/// are encoded ``CommandEnvelope``s, snapshots are ``MetadataStateMachine/snapshot()``.
public struct MetadataReplica: ReplicatedStateMachine {
    public var state: MetadataStateMachine

    public init(state: MetadataStateMachine) { self.state = state }

    /// A fresh shard owning every segment (a one-shard namespace; clusters use ``initial(group:map:)``).
    public static func initial(group: UInt64) -> MetadataReplica {
        MetadataReplica(state: MetadataStateMachine(config: MetadataConfig(shardID: ShardID(truncatingIfNeeded: group))))
    }

    /// A fresh shard owning the segments `map` gives it.
    public static func initial(group: UInt64, map: ShardMap) -> MetadataReplica {
        let shard = ShardID(truncatingIfNeeded: group)
        let config = MetadataConfig(shardID: shard, keying: map.keying)
        return MetadataReplica(state: MetadataStateMachine(
            config: config,
            ownership: SegmentOwnership(keying: map.keying, owned: map.segments(of: shard), epoch: map.shards[shard]?.epoch ?? 1)))
    }

    /// The shard map a new cluster starts with: `shardCount` shards with their replicas placed one per
    /// zone, and the segments dealt out in equal contiguous ranges (new directories hash over all
    /// segments, so every shard gets its share). Every node computes the same map from the same
    /// configuration, and every shard's first state agrees with it.
    public static func initialMap(shardCount: Int, members: [ClusterMember]) throws(KeyspaceError) -> ShardMap {
        let zones = Dictionary(members.map { ($0.id, $0.zone) }, uniquingKeysWith: { first, _ in first })
        return try ShardMap.initial(keying: MetadataConfig.defaultKeying, shardCount: max(1, shardCount)) { shard in
            ReplicaPlacement.replicas(of: UInt64(shard), members: members).map { ReplicaLocation(node: $0, zone: zones[$0] ?? "") }
        }
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
