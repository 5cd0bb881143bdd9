import AlmanacKeyspace
import Foundation
import Testing

@Suite struct KeyspaceTests {
    @Test func inodeIDsCarryTheirSegmentAndCounter() {
        let id = InodeID(segment: 4095, counter: 77)
        #expect(id.segment == 4095)
        #expect(id.counter == 77)
        #expect(InodeID.root.segment == 0 && InodeID.root.counter == 1)
    }

    @Test func newDirectoriesSpreadOverSegmentsAndTheHashIsFixed() throws {
        let keying = try SegmentKeying(segmentCount: 4096)
        // The hash is part of the on-disk format: pinned values.
        #expect(keying.segmentForNewDirectory(parent: .root, name: Array("bench-0".utf8))
                == keying.segmentForNewDirectory(parent: .root, name: Array("bench-0".utf8)))
        let pinned = keying.segmentForNewDirectory(parent: .root, name: Array("a".utf8))
        #expect(pinned == 285, "the segment hash changed: existing clusters would misplace new directories")
        // 64 sibling directories over 4 shards of contiguous segment ranges: every shard gets some.
        let map = try ShardMap.initial(keying: keying, shardCount: 4) { _ in [ReplicaLocation(node: 1, zone: "z1")] }
        var perShard: [ShardID: Int] = [:]
        for i in 0..<64 {
            let segment = keying.segmentForNewDirectory(parent: .root, name: Array("client-\(i)".utf8))
            perShard[map.shard(ofSegment: segment) ?? 99, default: 0] += 1
        }
        #expect(perShard.keys.sorted() == [0, 1, 2, 3])
        #expect(perShard.values.allSatisfy { $0 >= 6 }, "\(perShard)")
    }

    @Test func badKeyingAndMapsAreRefused() throws {
        #expect(throws: KeyspaceError.self) { try SegmentKeying(segmentCount: 0) }
        #expect(throws: KeyspaceError.self) { try SegmentKeying(segmentCount: 65537) }
        let keying = try SegmentKeying(segmentCount: 8)
        let replica = [ReplicaLocation(node: 1, zone: "z1")]
        #expect(throws: KeyspaceError.self) {
            try ShardMap(keying: keying, epoch: 1, owners: [0, 0, 0, 0, 0, 0, 0, 1], shards: [ShardRecord(id: 0, replicas: replica)])
        }
        #expect(throws: KeyspaceError.self) {
            try ShardMap(keying: keying, epoch: 1, owners: Array(repeating: 0, count: 8),
                         shards: [ShardRecord(id: 0, replicas: [ReplicaLocation(node: 1, zone: "z1"), ReplicaLocation(node: 2, zone: "z1")])])
        }
        let map = try ShardMap.initial(keying: keying, shardCount: 2) { _ in replica }
        #expect(throws: KeyspaceError.self) { try map.validate(knownNodes: [2: "z1"]) }
        #expect(throws: KeyspaceError.self) { try map.validate(knownNodes: [1: "z2"]) }
        try map.validate(knownNodes: [1: "z1"])
    }

    @Test func theMapRoundTripsThroughJSONAndRejectsMalformedRecords() throws {
        let keying = try SegmentKeying(segmentCount: 4096)
        var map = try ShardMap.initial(keying: keying, shardCount: 4) { shard in
            [ReplicaLocation(node: 1, zone: "z1"), ReplicaLocation(node: 2, zone: "z2"), ReplicaLocation(node: 3, zone: "z3")]
        }
        try map.assign([5, 6, 4000], to: 7, replicas: [ReplicaLocation(node: 2, zone: "z2")])
        try map.setLeaderHint(2, of: 7)
        let data = try JSONEncoder().encode(map)
        #expect(data.count < 2048)
        #expect(try JSONDecoder().decode(ShardMap.self, from: data) == map)
        #expect(map.epoch == 3)
        #expect(map.shard(ofSegment: 4000) == 7 && map.shard(ofSegment: 4001) == 3)
        for bad in [
            #"{"segmentCount":4,"epoch":1,"segments":[{"first":0,"last":2,"shard":0}],"shards":[{"id":0,"replicas":[{"node":1,"zone":"z"}],"leaderHint":0,"epoch":1}]}"#,
            #"{"segmentCount":4,"epoch":1,"segments":[{"first":0,"last":3,"shard":1}],"shards":[{"id":0,"replicas":[{"node":1,"zone":"z"}],"leaderHint":0,"epoch":1}]}"#,
            #"{"segmentCount":4,"epoch":1,"segments":[{"first":0,"last":9,"shard":0}],"shards":[]}"#,
            #"{"segmentCount":"x"}"#,
        ] {
            #expect(throws: (any Error).self) { try JSONDecoder().decode(ShardMap.self, from: Data(bad.utf8)) }
        }
    }
}
