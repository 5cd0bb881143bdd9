import AlmanacKeyspace

extension ShardRecord {
    /// The shard's record as the client protocol carries it.
    public func wire(clientAddresses: [NodeID: String]) -> Almanac_Api_V1_ShardRecord {
        var shard = Almanac_Api_V1_ShardRecord()
        shard.shardID = UInt32(id)
        shard.leaderHint = leaderHint
        shard.epoch = epoch
        shard.migrationTimestamp = migrationTimestamp
        shard.replicas = replicas.map { replica in
            var wire = Almanac_Api_V1_ShardReplica()
            wire.nodeID = replica.node
            wire.zone = replica.zone
            wire.clientAddress = clientAddresses[replica.node] ?? ""
            return wire
        }
        return shard
    }
}

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
        message.shards = shards.values.sorted { $0.id < $1.id }.map { $0.wire(clientAddresses: clientAddresses) }
        message.handoffs = handoffs.map { intent in
            var wire = Almanac_Api_V1_SegmentHandoff()
            wire.id = intent.id
            wire.segments = intent.segments.map { UInt32($0) }
            wire.sourceShard = UInt32(intent.source)
            wire.targetShard = UInt32(intent.target)
            wire.phase = intent.phase.rawValue
            wire.migrationTimestamp = intent.migrationTimestamp
            return wire
        }
        message.migrations = migrations.map { intent in
            var wire = Almanac_Api_V1_ReplicaMigration()
            wire.id = intent.id
            wire.shardID = UInt32(intent.shard)
            wire.sourceNodeID = intent.source.node
            wire.sourceZone = intent.source.zone
            wire.targetNodeID = intent.target.node
            wire.targetZone = intent.target.zone
            wire.transferLeadership = intent.transferLeadership
            wire.phase = intent.phase.rawValue
            wire.migrationTimestamp = intent.migrationTimestamp
            return wire
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
                leaderHint: shard.leaderHint, epoch: shard.epoch, migrationTimestamp: shard.migrationTimestamp))
        }
        try self.init(keying: keying, epoch: message.epoch, owners: owners.compactMap { $0 }, shards: records)
        var handoffs: [SegmentHandoffIntent] = []
        for wire in message.handoffs {
            guard let source = ShardID(exactly: wire.sourceShard), let target = ShardID(exactly: wire.targetShard),
                  let phase = SegmentHandoffIntent.Phase(rawValue: wire.phase) else {
                throw KeyspaceError.invalid("hand-off \(wire.id) is malformed")
            }
            var segments: [SegmentID] = []
            for segment in wire.segments {
                guard let id = SegmentID(exactly: segment) else { throw KeyspaceError.invalid("hand-off \(wire.id) names segment \(segment)") }
                segments.append(id)
            }
            handoffs.append(SegmentHandoffIntent(id: wire.id, segments: segments, source: source, target: target, phase: phase,
                                                 migrationTimestamp: wire.migrationTimestamp))
        }
        var migrations: [ReplicaMigrationIntent] = []
        for wire in message.migrations {
            guard let shard = ShardID(exactly: wire.shardID), let phase = ReplicaMigrationIntent.Phase(rawValue: wire.phase) else {
                throw KeyspaceError.invalid("migration \(wire.id) is malformed")
            }
            migrations.append(ReplicaMigrationIntent(
                id: wire.id, shard: shard, source: ReplicaLocation(node: wire.sourceNodeID, zone: wire.sourceZone),
                target: ReplicaLocation(node: wire.targetNodeID, zone: wire.targetZone), transferLeadership: wire.transferLeadership,
                phase: phase, migrationTimestamp: wire.migrationTimestamp))
        }
        try restoreIntents(handoffs: handoffs, migrations: migrations)
    }
}
