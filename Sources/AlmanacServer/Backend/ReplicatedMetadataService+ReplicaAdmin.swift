import AlmanacMetadata
import AlmanacNode

extension ReplicatedMetadataService: ReplicaAdminService {
    public func replicaAdmin(shard: ShardID, call: ReplicaAdminCall) async throws(ServiceError) -> ReplicaConfiguration? {
        guard Int(shard) < shardCount else {
            throw ServiceError(.wrongShard, "shard \(shard) does not exist (this cluster has \(shardCount) shards)")
        }
        do throws(HostError) {
            return try await host.replicaAdmin(group: UInt64(shard), call)
        } catch {
            throw serviceError(error, shard: shard)
        }
    }
}
