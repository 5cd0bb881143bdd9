import AlmanacKeyspace
import Testing

/// A new shard at runtime in the map: the next id, one replica per zone on the least loaded nodes,
/// never an id twice.
@Suite struct NewShardTests {
    static let members: [NodeID: ZoneName] = [1: "zone-a", 2: "zone-b", 3: "zone-c", 4: "zone-a", 5: "zone-b", 6: "zone-c"]

    static func map(shards: Int) throws -> ShardMap {
        try ShardMap.initial(keying: try SegmentKeying(segmentCount: 64), shardCount: shards) { shard in
            let base: NodeID = shard % 2 == 0 ? 1 : 4
            return (0..<3).map { ReplicaLocation(node: base + NodeID($0), zone: members[base + NodeID($0)] ?? "") }
        }
    }

    @Test func aNewShardTakesTheNextIDOwnsNothingAndBumpsTheEpoch() throws {
        var map = try Self.map(shards: 2)
        let id = try #require(map.nextShardID)
        #expect(id == 2)
        let replicas = map.placementForNewShard(members: Self.members, replicasPerShard: 3)
        try map.addShard(id, replicas: replicas)
        #expect(map.epoch == 2)
        #expect(map.shards[id]?.epoch == 1)
        #expect(map.segments(of: id).isEmpty)
        #expect(map.nextShardID == 3)
        // The same id again, or an id that is not the next, is refused.
        #expect(throws: KeyspaceError.self) { try map.addShard(id, replicas: replicas) }
        #expect(throws: KeyspaceError.self) { try map.addShard(9, replicas: replicas) }
        // Bad replica sets are refused.
        #expect(throws: KeyspaceError.self) {
            try map.addShard(3, replicas: [ReplicaLocation(node: 1, zone: "zone-a"), ReplicaLocation(node: 4, zone: "zone-a")])
        }
        #expect(throws: KeyspaceError.self) { try map.addShard(3, replicas: []) }
    }

    @Test func placementPicksTheLeastLoadedNodeOfEachZone() throws {
        // Shards 0 and 2 on nodes 1-3, shard 1 on nodes 4-6: nodes 4-6 hold fewer.
        let map = try Self.map(shards: 3)
        let replicas = map.placementForNewShard(members: Self.members, replicasPerShard: 3)
        #expect(replicas == [ReplicaLocation(node: 4, zone: "zone-a"), ReplicaLocation(node: 5, zone: "zone-b"), ReplicaLocation(node: 6, zone: "zone-c")])
        // Deterministic: a retry picks the same.
        #expect(map.placementForNewShard(members: Self.members, replicasPerShard: 3) == replicas)
        // Five zones, three replicas per shard: the three least loaded zones.
        let five: [NodeID: ZoneName] = Self.members.merging([7: "zone-d", 8: "zone-e"]) { first, _ in first }
        let spread = map.placementForNewShard(members: five, replicasPerShard: 3)
        #expect(spread.count == 3 && Set(spread.map(\.zone)).count == 3)
        #expect(spread.contains { $0.node == 7 } && spread.contains { $0.node == 8 })
    }
}
