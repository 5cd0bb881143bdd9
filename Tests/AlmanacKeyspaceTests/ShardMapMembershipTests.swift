import AlmanacKeyspace
import Foundation
import Testing

/// The map's side of cluster membership at runtime: who may join, who may leave, and that the
/// changes survive the stored (JSON) form and make the map accept replicas on joined nodes.
@Suite struct ShardMapMembershipTests {
    static let founding = [
        ClusterMember(id: 1, zone: "a", peerAddress: "127.0.0.1:7111", apiAddress: "127.0.0.1:7101"),
        ClusterMember(id: 2, zone: "b", peerAddress: "127.0.0.1:7112", apiAddress: "127.0.0.1:7102"),
        ClusterMember(id: 3, zone: "c", peerAddress: "127.0.0.1:7113", apiAddress: "127.0.0.1:7103"),
    ]
    static let fourth = ClusterMember(id: 4, zone: "a", peerAddress: "127.0.0.1:7114", apiAddress: "127.0.0.1:7104")

    static func map() throws -> ShardMap {
        try ShardMap.initial(keying: SegmentKeying(segmentCount: 16), shardCount: 2) { _ in
            [ReplicaLocation(node: 1, zone: "a"), ReplicaLocation(node: 2, zone: "b"), ReplicaLocation(node: 3, zone: "c")]
        }
    }

    static var foundingZones: [NodeID: ZoneName] { Dictionary(uniqueKeysWithValues: founding.map { ($0.id, $0.zone) }) }

    @Test func anAddedMemberIsKnownToEveryMapReaderAndMayHoldReplicas() throws {
        var map = try Self.map()
        let epoch = map.epoch
        try map.addMember(Self.fourth, current: Self.founding)
        #expect(map.epoch == epoch + 1)
        #expect(map.members(founding: Self.founding).map(\.id) == [1, 2, 3, 4])
        // A migration to node 4 validates against the founding list alone: the map knows node 4.
        let intent = ReplicaMigrationIntent(id: 1, shard: 0, source: ReplicaLocation(node: 1, zone: "a"), target: ReplicaLocation(node: 4, zone: "a"),
                                            transferLeadership: false, phase: .preparing, migrationTimestamp: 1)
        try map.recordMigration(intent, knownNodes: Self.foundingZones)
        try map.commitMigration(1)
        try map.validate(knownNodes: Self.foundingZones)
        // The stored form keeps the membership.
        let decoded = try JSONDecoder().decode(ShardMap.self, from: JSONEncoder().encode(map))
        #expect(decoded == map)
        #expect(decoded.joinedMembers == [Self.fourth])
    }

    @Test func aJoinIsRefusedForUsedIdsAndAddressesAndMalformedEntries() throws {
        var map = try Self.map()
        let before = map
        let refused: [ClusterMember] = [
            ClusterMember(id: 2, zone: "a", peerAddress: "127.0.0.1:7999", apiAddress: "127.0.0.1:7998"),   // id in use
            ClusterMember(id: 0, zone: "a", peerAddress: "127.0.0.1:7999", apiAddress: "127.0.0.1:7998"),   // id 0
            ClusterMember(id: 9, zone: "", peerAddress: "127.0.0.1:7999", apiAddress: "127.0.0.1:7998"),    // no zone
            ClusterMember(id: 9, zone: "a", peerAddress: "nowhere", apiAddress: "127.0.0.1:7998"),          // bad address
            ClusterMember(id: 9, zone: "a", peerAddress: "127.0.0.1:7112", apiAddress: "127.0.0.1:7998"),   // node 2's peer address
            ClusterMember(id: 9, zone: "a", peerAddress: "127.0.0.1:7999", apiAddress: "127.0.0.1:7999"),   // one address twice
        ]
        for member in refused {
            #expect(throws: KeyspaceError.self, "\(member)") { try map.addMember(member, current: Self.founding) }
        }
        #expect(map == before)
        try map.addMember(Self.fourth, current: Self.founding)
        #expect(throws: KeyspaceError.self) { try map.addMember(Self.fourth, current: Self.founding) }
    }

    @Test func aMemberLeavesOnlyWhenItHoldsNothingAndItsIdIsNeverReused() throws {
        var map = try Self.map()
        try map.addMember(Self.fourth, current: Self.founding)
        let current = map.members(founding: Self.founding)
        // Node 1 holds replicas of both shards: refused, naming them and the way out.
        #expect { try map.removeMember(1, current: current) } throws: { error in
            "\(error)".contains("shard(s) 0, 1") && "\(error)".contains("ctl node drain 1")
        }
        // Node 4 while a migration targets it: refused.
        let intent = ReplicaMigrationIntent(id: 7, shard: 1, source: ReplicaLocation(node: 1, zone: "a"), target: ReplicaLocation(node: 4, zone: "a"),
                                            transferLeadership: false, phase: .preparing, migrationTimestamp: 1)
        try map.recordMigration(intent, knownNodes: Self.foundingZones)
        #expect(throws: KeyspaceError.self) { try map.removeMember(4, current: current) }
        map.clearMigration(7)
        // Unknown nodes: refused.
        #expect(throws: KeyspaceError.self) { try map.removeMember(9, current: current) }
        let epoch = map.epoch
        try map.removeMember(4, current: current)
        #expect(map.epoch == epoch + 1)
        #expect(map.members(founding: Self.founding).map(\.id) == [1, 2, 3])
        #expect(map.removedNodes == [4] && map.joinedMembers.isEmpty)
        // Its id never comes back, and a map naming it as a replica no longer validates.
        #expect(throws: KeyspaceError.self) { try map.addMember(Self.fourth, current: Self.founding) }
        #expect(throws: KeyspaceError.self) { try map.removeMember(4, current: current) }
        let decoded = try JSONDecoder().decode(ShardMap.self, from: JSONEncoder().encode(map))
        #expect(decoded.removedNodes == [4])
    }

    @Test func aStoredMembershipThatContradictsItselfIsRejected() throws {
        var map = try Self.map()
        #expect(throws: KeyspaceError.self) { try map.restoreMembership(joined: [Self.fourth, Self.fourth], removed: []) }
        #expect(throws: KeyspaceError.self) { try map.restoreMembership(joined: [Self.fourth], removed: [4]) }
        #expect(throws: KeyspaceError.self) { try map.restoreMembership(joined: [], removed: [0]) }
    }
}
