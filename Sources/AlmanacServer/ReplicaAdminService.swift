import AlmanacMetadata
import AlmanacNode

/// A backend whose shards are Raft groups whose membership can change at runtime.
public protocol ReplicaAdminService: Sendable {
    /// Carries out `call` on `shard`; returns the responder's view of the configuration afterwards
    /// (nil: the responder hosts no replica of the shard any more).
    func replicaAdmin(shard: ShardID, call: ReplicaAdminCall) async throws(ServiceError) -> ReplicaConfiguration?
}
