import AlmanacMetadata
import AlmanacNode

extension ReplicatedMetadataService: ReplicaAdminService {
    public func replicaAdmin(shard: ShardID, call: ReplicaAdminCall) async throws(ServiceError) -> ReplicaConfiguration? {
        // A new shard is founded only once the map names it (the creation driver writes the map first).
        try checkShard(shard)
        do throws(HostError) {
            return try await host.replicaAdmin(group: UInt64(shard), call)
        } catch {
            throw serviceError(error, shard: shard)
        }
    }
}
