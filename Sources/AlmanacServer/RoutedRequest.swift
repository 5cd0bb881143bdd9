import AlmanacNode
import AlmanacMetadata
import AlmanacWire

/// A client request after translation: where it goes and what the backend must do.
public enum RoutedRequest: Sendable, Hashable {
    /// A journaled write (including keepAlive and closeSession).
    case write(shard: ShardID, operation: MetadataOperation, session: SessionRef, durability: Durability)
    /// `create` with `open_existing`: a create whose EEXIST on a regular file answers with that file
    /// (touch semantics). The create is journaled; the fallback is a linearizable lookup.
    case createOrOpenExisting(shard: ShardID, operation: MetadataOperation, session: SessionRef, durability: Durability)
    /// A read-only query.
    case read(shard: ShardID, consistency: ReadConsistency, query: MetadataQuery)
    /// Registers a session on `shard`.
    case openSession(shard: ShardID)
    /// The node's view of the cluster; with `stateDigests`, every hosted replica's state digest too
    /// (O(state size), computed off the event loop).
    case clusterStatus(stateDigests: Bool)
    /// The shard map (answered from the translator's map).
    case shardMap
    /// A cross-shard transaction command for `shard`, journaled outside any session.
    case shardCommand(shard: ShardID, operation: MetadataOperation)
    /// A call on the system group's register (the embedded shard map store).
    case systemStore(key: String, call: SystemStoreCall)
    /// A step of replica migration on `shard`'s Raft group.
    case replicaAdmin(shard: ShardID, call: ReplicaAdminCall)
    /// A placement call (the seed's placement API), answered by the node's control plane.
    case placement(Almanac_Api_V1_PlacementRequest)

    /// The shard the request is served by, if any.
    public var shard: ShardID? {
        switch self {
        case .write(let shard, _, _, _), .createOrOpenExisting(let shard, _, _, _), .read(let shard, _, _),
            .openSession(let shard), .shardCommand(let shard, _), .replicaAdmin(let shard, _):
            shard
        case .clusterStatus, .shardMap, .systemStore, .placement: nil
        }
    }
}
