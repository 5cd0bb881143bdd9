import AlmanacKeyspace
import AlmanacWire
import Testing

/// The client protocol's shard map carries everything `ctl check` and routers need: shard records
/// with their migration timestamps, and the intents of hand-offs and migrations in progress.
@Suite struct ShardMapWireTests {
    @Test func aMapWithIntentsRoundTripsAndMalformedIntentsAreRefused() throws {
        var map = try ShardMap.initial(keying: SegmentKeying(segmentCount: 16), shardCount: 3) { _ in
            [ReplicaLocation(node: 1, zone: "a"), ReplicaLocation(node: 2, zone: "b"), ReplicaLocation(node: 3, zone: "c")]
        }
        let members: [NodeID: ZoneName] = [1: "a", 2: "b", 3: "c", 4: "a"]
        try map.recordMigration(ReplicaMigrationIntent(
            id: 5, shard: 0, source: ReplicaLocation(node: 1, zone: "a"), target: ReplicaLocation(node: 4, zone: "a"),
            transferLeadership: true, phase: .preparing, migrationTimestamp: 77), knownNodes: members)
        try map.commitMigration(5)
        try map.recordHandoff(SegmentHandoffIntent(id: 9, segments: [12, 13], source: 2, target: 1, phase: .preparing, migrationTimestamp: 78))
        let wire = map.wire(backend: "embedded", clientAddresses: [1: "h:1"])
        #expect(try ShardMap(wire: wire) == map)
        var broken = wire
        broken.migrations[0].shardID = 9
        #expect(throws: KeyspaceError.self) { try ShardMap(wire: broken) }
        broken = wire
        broken.handoffs[0].phase = "halfway"
        #expect(throws: KeyspaceError.self) { try ShardMap(wire: broken) }
    }
}
