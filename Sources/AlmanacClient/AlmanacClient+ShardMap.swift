import AlmanacKeyspace
import AlmanacWire

/// Routing with a cached shard map: a request goes to the shard owning the segment of the inode it
/// is routed by. The map is fetched from any node on first use (one round trip) and again after a
/// WRONG_SHARD answer (the map moved on), then the request is retried once on the new owner. The
/// owning shard's state machine refuses records it does not own, so a stale map costs a retry,
/// never a write in the wrong shard.
extension AlmanacClient {
    /// The shard map, fetched if not cached yet.
    public func currentShardMap() async throws(AlmanacClientError) -> ShardMap {
        if let shardMap { return shardMap }
        return try await refreshShardMap()
    }

    /// Fetches the shard map from the cluster and caches it.
    @discardableResult
    public func refreshShardMap() async throws(AlmanacClientError) -> ShardMap {
        let wire = try await fetchShardMap()
        let map: ShardMap
        do throws(KeyspaceError) {
            map = try ShardMap(wire: wire)
        } catch {
            throw AlmanacClientError(.protocolViolation, "get_shard_map: the server sent an invalid map: \(error)")
        }
        if let cached = shardMap, cached.epoch > map.epoch { return cached }  // never go back to an older map
        shardMap = map
        return map
    }

    /// The shard owning the segment of `inode` in the cached map.
    public func shard(ofInode inode: UInt64) async throws(AlmanacClientError) -> UInt16 {
        let map = try await currentShardMap()
        guard let shard = map.shard(of: InodeID(inode)) else {
            throw AlmanacClientError(.invalidArgument, code: .einval,
                                     "inode \(inode) names segment \(segment(ofInode: inode)), outside the map's \(map.keying.segmentCount) segments")
        }
        return shard
    }

    /// `get_shard_location(key)`: where the segment of `inode` lives in the cached map.
    public func location(ofInode inode: UInt64) async throws(AlmanacClientError) -> ShardLocation? {
        try await currentShardMap().location(of: InodeID(inode))
    }

    /// A write routed by `inode`, retried once on a fresh map after WRONG_SHARD.
    func writeRouted(_ request: Almanac_Api_V1_Request, inode: UInt64) async throws(AlmanacClientError) -> Almanac_Api_V1_Response {
        do {
            return try await write(request, shard: try await shard(ofInode: inode))
        } catch where error.code == .wrongShard {
            try await refreshShardMap()
            return try await write(request, shard: try await shard(ofInode: inode))
        }
    }

    /// A read routed by `inode`, retried once on a fresh map after WRONG_SHARD.
    func readRouted(_ request: Almanac_Api_V1_Request, inode: UInt64) async throws(AlmanacClientError) -> Almanac_Api_V1_Response {
        do {
            return try await read(request, shard: try await shard(ofInode: inode))
        } catch where error.code == .wrongShard {
            try await refreshShardMap()
            return try await read(request, shard: try await shard(ofInode: inode))
        }
    }
}

extension AlmanacClient {
    /// The shard map as the cluster serves it (with its backend's name), refreshing the cache.
    public func shardMapMessage() async throws(AlmanacClientError) -> Almanac_Api_V1_ShardMap {
        let wire = try await fetchShardMap()
        if let map = try? ShardMap(wire: wire), (shardMap?.epoch ?? 0) <= map.epoch { shardMap = map }
        return wire
    }

    /// One `get_shard_map` round trip (counted in ``shardMapFetches``).
    private func fetchShardMap() async throws(AlmanacClientError) -> Almanac_Api_V1_ShardMap {
        var request = Almanac_Api_V1_Request()
        request.getShardMap = Almanac_Api_V1_GetShardMapRequest()
        shardMapFetches += 1
        let response = try await read(request, shard: nil)
        guard case .shardMap(let wire)? = response.result else {
            throw AlmanacClientError(.protocolViolation, "get_shard_map: response carries no map")
        }
        return wire
    }
}
