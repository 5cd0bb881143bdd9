import AlmanacKeyspace
import Foundation
import Testing

/// The map's side of replica migration: what an intent may name, what its commit changes, and that
/// intents survive the stored (JSON) form.
@Suite struct ReplicaMigrationIntentTests {
    static let members: [NodeID: ZoneName] = [1: "a", 2: "b", 3: "c", 4: "a", 5: "d"]

    static func map() throws -> ShardMap {
        try ShardMap.initial(keying: SegmentKeying(segmentCount: 16), shardCount: 2) { _ in
            [ReplicaLocation(node: 1, zone: "a"), ReplicaLocation(node: 2, zone: "b"), ReplicaLocation(node: 3, zone: "c")]
        }
    }

    static func intent(_ source: NodeID, _ target: NodeID, shard: ShardID = 0, leader: Bool = false) -> ReplicaMigrationIntent {
        ReplicaMigrationIntent(id: 42, shard: shard, source: ReplicaLocation(node: source, zone: members[source] ?? "?"),
                               target: ReplicaLocation(node: target, zone: members[target] ?? "?"),
                               transferLeadership: leader, phase: .preparing, migrationTimestamp: 1_700_000_000_000)
    }

    @Test func aHeartbeatIsTheOwnersAndATakeOverWaitsForSilence() throws {
        var map = try Self.map()
        var intent = Self.intent(1, 4)
        intent.driver = 7
        try map.recordMigration(intent, knownNodes: Self.members)
        let epoch = map.epoch
        // The owner's heartbeat: the epoch stays (no placement changed), the heartbeat never goes back.
        try map.touchMigration(42, driver: 7, at: 1_700_000_005_000)
        try map.touchMigration(42, driver: 7, at: 1_700_000_004_000)
        #expect(map.epoch == epoch && map.migration(42)?.heartbeat == 1_700_000_005_000)
        #expect(map.migration(42)?.silence(at: 1_700_000_012_000) == 7_000)
        // Another driver's heartbeat is refused; so is a take-over while the owner is alive.
        let before = map
        #expect(throws: KeyspaceError.self) { try map.touchMigration(42, driver: 8, at: 1_700_000_006_000) }
        #expect(throws: KeyspaceError.self) {
            try map.takeOverMigration(42, driver: 8, at: 1_700_000_034_999, liveWindow: 30_000)
        }
        #expect(map == before)
        // Silent for the window: taken over; the old owner's heartbeat is refused from then on.
        try map.takeOverMigration(42, driver: 8, at: 1_700_000_035_000, liveWindow: 30_000)
        #expect(map.migration(42)?.driver == 8 && map.epoch == epoch)
        #expect(throws: KeyspaceError.self) { try map.touchMigration(42, driver: 7, at: 1_700_000_036_000) }
        // A driver known dead: taken over at once; an intent that is gone is refused to both.
        try map.takeOverMigration(42, driver: 9, at: 1_700_000_035_001, liveWindow: nil)
        #expect(map.migration(42)?.driver == 9)
        // Liveness survives the stored form; an intent stored without it (older maps) still decodes.
        #expect(try JSONDecoder().decode(ShardMap.self, from: try JSONEncoder().encode(map)) == map)
        let older = String(decoding: try JSONEncoder().encode(Self.intent(1, 4)), as: UTF8.self)
        #expect(!older.contains("heartbeat") && !older.contains("driver"))
        #expect(try JSONDecoder().decode(ReplicaMigrationIntent.self, from: Data(older.utf8)) == Self.intent(1, 4))
        map.clearMigration(42)
        #expect(throws: KeyspaceError.self) { try map.touchMigration(42, driver: 9, at: 1_700_000_040_000) }
        #expect(throws: KeyspaceError.self) { try map.takeOverMigration(42, driver: 9, at: 1_700_000_040_000, liveWindow: nil) }
        // Liveness is not placement.
        var touched = before
        try touched.takeOverMigration(42, driver: 8, at: 1_700_000_090_000, liveWindow: 30_000)
        #expect(touched != before && touched.withoutDriverLiveness == before.withoutDriverLiveness)
    }

    @Test func badIntentsAreRefusedWithTheirReasonAndChangeNothing() throws {
        let map = try Self.map()
        let cases: [(ReplicaMigrationIntent, String)] = [
            (Self.intent(1, 2), "already holds a replica"),
            (Self.intent(4, 1), "holds no replica"),
            (Self.intent(2, 4), "one replica per zone"),
            (Self.intent(1, 9), "not a member"),
            (Self.intent(1, 4, shard: 7), "does not exist"),
        ]
        for (intent, reason) in cases {
            var trial = map
            #expect(throws: KeyspaceError.self) { try trial.recordMigration(intent, knownNodes: Self.members) }
            do { try trial.recordMigration(intent, knownNodes: Self.members) } catch {
                #expect(error.description.contains(reason), "\(error)")
            }
            #expect(trial == map)
        }
        // A zone without a replica of the shard may take one from any zone.
        var other = map
        try other.recordMigration(Self.intent(2, 5), knownNodes: Self.members)
        // A shard busy with a migration or a hand-off refuses another.
        var busy = map
        try busy.recordMigration(Self.intent(1, 4), knownNodes: Self.members)
        #expect(throws: KeyspaceError.self) { try busy.recordMigration(Self.intent(2, 5), knownNodes: Self.members) }
        #expect(throws: KeyspaceError.self) {
            try busy.recordHandoff(SegmentHandoffIntent(id: 1, segments: [0], source: 0, target: 1, phase: .preparing, migrationTimestamp: 1))
        }
    }

    @Test func theCommitNamesTheTargetBumpsEpochsAndStampsTheTimestamp() throws {
        var map = try Self.map()
        try map.setLeaderHint(1, of: 0)
        try map.recordMigration(Self.intent(1, 4, leader: false), knownNodes: Self.members)
        let before = map
        try map.commitMigration(42)
        let record = try #require(map.shards[0])
        #expect(record.replicas.map(\.node).sorted() == [2, 3, 4])
        #expect(record.leaderHint == 0, "the hint named the replica that left")
        #expect(record.epoch == (before.shards[0]?.epoch ?? 0) + 1 && map.epoch == before.epoch + 1)
        #expect(record.migrationTimestamp == 1_700_000_000_000)
        #expect(map.migration(42)?.phase == .committed && map.shards[1] == before.shards[1])
        try map.commitMigration(42)  // repeated: nothing more
        #expect(map.shards[0] == record)
        // Intents survive the stored form.
        let decoded = try JSONDecoder().decode(ShardMap.self, from: try JSONEncoder().encode(map))
        #expect(decoded == map && decoded.migrations.count == 1)
        map.clearMigration(42)
        #expect(map.migrations.isEmpty)
    }
}
