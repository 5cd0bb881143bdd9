import AlmanacMetadata
import AlmanacNode
import AlmanacRaft

/// A journal shard's namespace state machine as the multi-Raft host drives it: committed entries
/// are encoded ``CommandEnvelope``s, snapshots are ``MetadataStateMachine/snapshot()``.
///
/// The host runs one state machine type for all its groups, so the system group
/// (``SystemGroup/groupID``, the embedded shard map store) is a replica of this type too: then
/// ``system`` holds its ``SystemRegister``, entries are register commands, and ``state`` is an
/// empty namespace that nothing routes to (the system group is not a shard).
public struct MetadataReplica: ReplicatedStateMachine {
    public var state: MetadataStateMachine
    /// The system group's register; nil on every shard.
    public var system: SystemRegister?

    public init(state: MetadataStateMachine) { self.state = state }

    /// The system group's replica.
    public static func systemGroup() -> MetadataReplica {
        var replica = MetadataReplica(state: MetadataStateMachine(config: MetadataConfig(shardID: .max)))
        replica.system = SystemRegister()
        return replica
    }

    /// A fresh shard owning every segment (a one-shard namespace; clusters use ``initial(group:map:)``).
    public static func initial(group: UInt64) -> MetadataReplica {
        if group == SystemGroup.groupID { return systemGroup() }
        return MetadataReplica(state: MetadataStateMachine(config: MetadataConfig(shardID: ShardID(truncatingIfNeeded: group))))
    }

    /// A fresh shard owning the segments `map` gives it.
    public static func initial(group: UInt64, map: ShardMap) -> MetadataReplica {
        if group == SystemGroup.groupID { return systemGroup() }
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
        if group == SystemGroup.groupID {
            switch SystemRegister.restore(from: data) {
            case .success(let register):
                var replica = systemGroup()
                replica.system = register
                return replica
            case .failure(let error):
                throw CodecError.inconsistent("system group snapshot: \(error)")
            }
        }
        let state = try MetadataStateMachine(restoringFrom: data)
        guard UInt64(state.config.shardID) == group else {
            throw CodecError.inconsistent("snapshot of shard \(state.config.shardID) offered to group \(group)")
        }
        return MetadataReplica(state: state)
    }

    public mutating func apply(_ data: [UInt8], at index: LogIndex) -> CommandResult {
        guard system != nil else { return state.apply(encoded: data, at: index) }
        // The system group: a stored record answers `done`; a lost compare-and-swap CONFLICT (the
        // proposer reads the current revision from the register); a foreign entry EINVAL.
        switch system?.apply(data, at: index) {
        case .stored?: return .success(.done)
        case .conflict?: return .failure(MetadataError(.conflict, "the record's revision is not the expected one"))
        case .rejected(let why)?: return .failure(MetadataError(.einval, why))
        case nil: return .failure(MetadataError(.einval, "no system register"))
        }
    }

    public func snapshotData() -> [UInt8] { system?.snapshot() ?? state.snapshot() }

    public var stateDigest: UInt64 { system?.digest ?? state.digest.value }
}
