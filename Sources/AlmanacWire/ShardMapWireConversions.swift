import AlmanacKeyspace

extension ShardMap {
    /// The map as the client protocol carries it; `clientAddresses` gives each node's client endpoint.
    public func wire(backend: String, clientAddresses: [NodeID: String]) -> Almanac_Api_V1_ShardMap {
        var message = Almanac_Api_V1_ShardMap()
        message.epoch = epoch
        message.segmentCount = UInt32(keying.segmentCount)
        message.backend = backend
        var runs: [Almanac_Api_V1_SegmentRun] = []
        for (index, owner) in owners.enumerated() {
            if var last = runs.last, last.shard == UInt32(owner), Int(last.last) + 1 == index {
                last.last = UInt32(index)
                runs[runs.count - 1] = last
            } else {
                var run = Almanac_Api_V1_SegmentRun()
                run.first = UInt32(index)
                run.last = UInt32(index)
                run.shard = UInt32(owner)
                runs.append(run)
            }
        }
        message.segments = runs
        message.shards = shards.values.sorted { $0.id < $1.id }.map { record in
            var shard = Almanac_Api_V1_ShardRecord()
            shard.shardID = UInt32(record.id)
            shard.leaderHint = record.leaderHint
            shard.epoch = record.epoch
            shard.replicas = record.replicas.map { replica in
                var wire = Almanac_Api_V1_ShardReplica()
                wire.nodeID = replica.node
                wire.zone = replica.zone
                wire.clientAddress = clientAddresses[replica.node] ?? ""
                return wire
            }
            return shard
        }
        return message
    }

    /// Decodes the client protocol's map, validating it like any other map.
    public init(wire message: Almanac_Api_V1_ShardMap) throws(KeyspaceError) {
        let keying = try SegmentKeying(segmentCount: Int(message.segmentCount))
        var owners = [ShardID?](repeating: nil, count: keying.segmentCount)
        for run in message.segments {
            guard run.first <= run.last, Int(run.last) < keying.segmentCount, let shard = ShardID(exactly: run.shard) else {
                throw KeyspaceError.invalid("segment run \(run.first)...\(run.last) -> \(run.shard) is malformed")
            }
            for segment in Int(run.first)...Int(run.last) {
                guard owners[segment] == nil else { throw KeyspaceError.invalid("segment \(segment) is assigned twice") }
                owners[segment] = shard
            }
        }
        guard owners.allSatisfy({ $0 != nil }) else { throw KeyspaceError.invalid("the map leaves segments unassigned") }
        var records: [ShardRecord] = []
        for shard in message.shards {
            guard let id = ShardID(exactly: shard.shardID) else { throw KeyspaceError.invalid("shard id \(shard.shardID) is out of range") }
            records.append(ShardRecord(
                id: id, replicas: shard.replicas.map { ReplicaLocation(node: $0.nodeID, zone: $0.zone) },
                leaderHint: shard.leaderHint, epoch: shard.epoch))
        }
        try self.init(keying: keying, epoch: message.epoch, owners: owners.compactMap { $0 }, shards: records)
    }
}
