import AlmanacMetadata
import AlmanacNode
import AlmanacRaft

/// A journal shard's namespace state machine as the multi-Raft host drives it: committed entries
/// are encoded ``CommandEnvelope``s, snapshots are ``MetadataStateMachine/snapshot()``.
public struct MetadataReplica: ReplicatedStateMachine {
    public var state: MetadataStateMachine

    public init(state: MetadataStateMachine) { self.state = state }

    public static func initial(group: UInt64) -> MetadataReplica {
        MetadataReplica(state: MetadataStateMachine(config: MetadataConfig(shardID: ShardID(truncatingIfNeeded: group))))
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
