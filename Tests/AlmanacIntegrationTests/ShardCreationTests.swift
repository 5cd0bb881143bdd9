import AlmanacCoordinator
import AlmanacKeyspace
import AlmanacNode
import AlmanacShardMap
import AlmanacTestSupport
import Foundation
import Testing

/// New shards at runtime (``ShardCreationDriver``) on real multi-Raft hosts in this process (real
/// sockets, real WAL and fsync), the map in memory behind the same store protocol, the driver's calls
/// on a budget so that it "dies" after any call, with that call's answer landed or lost.
@Suite("New shards at runtime: a Raft group founded by the map first, crashes at every step", .serialized, .timeLimit(.minutes(6)))
struct ShardCreationTests {
    func driver(_ cluster: MigrationTestCluster, attempts: Int = 6) -> ShardCreationDriver {
        var driver = ShardCreationDriver(transport: cluster, store: cluster, pause: { try? await Task.sleep(for: min($0, .milliseconds(50))) })
        driver.attempts = attempts
        // A "dead" driver's polls fail at once: a short wait keeps the crash runs quick.
        driver.leaderTimeout = .seconds(3)
        return driver
    }

    /// After a creation (finished, crashed, or crashed and resumed): the map names shards 0...n once
    /// each; every node hosts exactly the groups the map places on it, each with the map's replicas as
    /// its voters, and every group has a leader. No group runs that the map does not name.
    func expectConsistent(_ cluster: MigrationTestCluster, _ context: String, sourceLocation: SourceLocation = #_sourceLocation) async throws {
        let map = cluster.map
        #expect(Set(map.shards.keys) == Set((0...(map.shards.keys.max() ?? 0)).map { $0 }), "\(context): shard ids \(map.shards.keys.sorted())",
                sourceLocation: sourceLocation)
        for (id, host) in cluster.running {
            for shard in map.shards.keys.sorted() {
                let placed = map.shards[shard]?.replicas.contains { $0.node == id } ?? false
                var view = try? await host.configuration(of: UInt64(shard))
                // A replica that joined the group (rather than founding it) holds no configuration
                // until the leader's first message reaches it: wait for that, bounded.
                for _ in 0..<250 where view?.voters.isEmpty == true {
                    try await Task.sleep(for: .milliseconds(20))
                    view = try? await host.configuration(of: UInt64(shard))
                }
                #expect((view != nil) == placed, "\(context): node \(id) hosts shard \(shard): \(view != nil), placed: \(placed)", sourceLocation: sourceLocation)
                if let view, shard != 0 {
                    #expect(Set(view.voters) == Set(map.shards[shard]?.replicas.map(\.node) ?? []), "\(context): shard \(shard) voters \(view.voters)",
                            sourceLocation: sourceLocation)
                }
            }
            // Nothing beyond the map: the next id is not hosted anywhere.
            if let next = map.nextShardID {
                #expect((try? await host.configuration(of: UInt64(next))) == nil, "\(context): node \(id) hosts shard \(next), which the map does not name",
                        sourceLocation: sourceLocation)
            }
        }
        for shard in map.shards.keys.sorted() where shard != 0 {
            var led = false
            for _ in 0..<200 where !led {
                for host in cluster.running.values where (try? await host.configuration(of: UInt64(shard)))?.isLeader == true { led = true }
                if !led { try await Task.sleep(for: .milliseconds(20)) }
            }
            #expect(led, "\(context): shard \(shard) has no leader", sourceLocation: sourceLocation)
        }
    }

    @Test("a new shard: the map names it, its replicas found the group and elect a leader; it survives a restart; bad input changes nothing")
    func aNewShardIsFoundedAndSurvivesARestart() async throws {
        try await MigrationTestCluster.with { cluster in
            let id = try await driver(cluster).createShard(members: cluster.zones)
            #expect(id == 1)
            #expect(cluster.map.epoch == 2 && cluster.map.segments(of: 1).isEmpty)
            // Node 4 holds no replica yet, so the least loaded zone-a node is node 4.
            #expect(Set(cluster.map.shards[1]?.replicas.map(\.node) ?? []) == [2, 3, 4])
            try await expectConsistent(cluster, "after creating shard 1")
            // A founding node restarts: it hosts the group again with the same voters.
            await cluster.stopHost(4)
            try await cluster.startHost(4)
            try await expectConsistent(cluster, "after restarting node 4")
            // ensureFounded on a running shard changes nothing; splitTarget reuses the empty shard.
            try await driver(cluster).ensureFounded(1)
            #expect(try await driver(cluster).splitTarget(members: cluster.zones) == 1)
            #expect(cluster.map.shards.count == 2)
            // Bad input: a founding that does not list the node, a node outside the cluster, fewer
            // zones than replicas per shard. A running replica answers a founding with itself.
            let host2 = try #require(cluster.running[2])
            await #expect(throws: HostError.self) { _ = try await host2.foundGroup(7, voters: [1, 3, 4]) }
            await #expect(throws: HostError.self) { _ = try await host2.foundGroup(8, voters: [2, 3, 99]) }
            #expect(Set(try await host2.foundGroup(1, voters: [1, 2, 3]).voters) == [2, 3, 4])
            // A node that left the group keeps its log: founding it again there would fork the
            // group's history, so it is refused; joining brings the replica back from its log.
            try await host2.leaveGroup(1)
            await #expect(throws: HostError.self) { _ = try await host2.foundGroup(1, voters: [2, 3, 4]) }
            _ = try await host2.joinGroup(1)
            let seven = try? await host2.configuration(of: 7)
            let eight = try? await host2.configuration(of: 8)
            #expect(seven == nil && eight == nil)
            await #expect(throws: ShardCreationError.self) {
                _ = try await driver(cluster).createShard(members: [1: "zone-a", 4: "zone-a"])
            }
            #expect(cluster.map.shards.count == 2, "a refused creation changed the map")
            try await expectConsistent(cluster, "after the bad input")
        }
    }

    @Test("the driver dies at every call boundary (answers landed or lost); ensureFounded completes what the map names")
    func crashAtEveryStepBoundary() async throws {
        try await MigrationTestCluster.with { cluster in
            // A clean run counts the calls (polls included) a creation makes.
            let counted = cluster.calls
            _ = try await driver(cluster).createShard(members: cluster.zones)
            let total = cluster.calls - counted
            #expect(total >= 5)
            var outcomes: [String: Int] = [:]
            for boundary in 0..<total {
                for lose in [false, true] {
                    let before = cluster.map.shards.count
                    cluster.crash(after: boundary, losingTheLastAnswer: lose)
                    do {
                        _ = try await driver(cluster, attempts: 1).createShard(members: cluster.zones)
                        outcomes["finished before the crash", default: 0] += 1
                    } catch {
                        outcomes["\(type(of: error))", default: 0] += 1
                    }
                    cluster.recover()
                    let defined = cluster.map.shards.count > before
                    outcomes[defined ? "defined in the map" : "not defined", default: 0] += 1
                    // What a later split or `ctl reshard resume` does: found every empty shard.
                    let owning = Set(cluster.map.owners)
                    for shard in cluster.map.shards.keys.sorted() where !owning.contains(shard) {
                        try await driver(cluster).ensureFounded(shard)
                    }
                    try await expectConsistent(cluster, "boundary \(boundary), lost answer \(lose)")
                }
            }
            print("shard creation crash boundaries: \(total) calls x 2; outcomes \(outcomes.sorted { $0.key < $1.key }); \(cluster.map.shards.count) shards")
            #expect(outcomes["defined in the map", default: 0] > 0 && outcomes["not defined", default: 0] > 0, "\(outcomes)")
            // Group 0's data and configuration are untouched by all of it.
            _ = try await cluster.propose([9, 9])
            // The whole recorded history, crashed and resumed, through the checker.
            let history = cluster.history
            let foundings = history.filter { if case .founded = $0 { true } else { false } }.count
            let violations = ShardCreationHistory.violations(history, running: [0])
            #expect(foundings >= 3 * total && violations.isEmpty, "\(foundings) foundings: \(violations.prefix(5))")
        }
    }

    @Test("the creation history checker finds a group founded before its shard was defined, with other voters, and a shard redefined")
    func historyCheckerCatchesViolations() throws {
        let replicas = [ReplicaLocation(node: 1, zone: "a"), ReplicaLocation(node: 2, zone: "b"), ReplicaLocation(node: 3, zone: "c")]
        let map = try ShardMap.initial(keying: SegmentKeying(segmentCount: 4), shardCount: 1) { _ in replicas }
        var grown = map
        try grown.addShard(1, replicas: replicas)
        var moved = grown
        try moved.addShard(2, replicas: [ReplicaLocation(node: 4, zone: "a")] + replicas.dropFirst())
        let good: [MigrationHistory.Event] = [.map(grown), .founded(node: 1, shard: 1, voters: [1, 2, 3]), .founded(node: 2, shard: 1, voters: [3, 2, 1])]
        #expect(ShardCreationHistory.violations(good, running: [0]).isEmpty)
        // Founded before the map defined the shard; on a node it is not placed on; with other voters.
        #expect(ShardCreationHistory.violations([.founded(node: 1, shard: 1, voters: [1, 2, 3]), .map(grown)], running: [0]).count == 1)
        #expect(ShardCreationHistory.violations([.map(grown), .founded(node: 4, shard: 1, voters: [1, 2, 3])], running: [0]).count == 1)
        #expect(ShardCreationHistory.violations([.map(grown), .founded(node: 1, shard: 1, voters: [1, 2, 4])], running: [0]).count == 1)
        // A shard id reused for another group, a shard that vanishes, a shard that owns segments
        // with no replica founded.
        var redefined = map
        try redefined.addShard(1, replicas: [ReplicaLocation(node: 4, zone: "a")] + replicas.dropFirst())
        #expect(ShardCreationHistory.violations([.map(grown), .map(redefined)], running: [0]).count == 1)
        #expect(ShardCreationHistory.violations([.map(moved), .map(grown)], running: [0]).count == 1)
        var owning = grown
        try owning.assign([3], to: 1)
        #expect(ShardCreationHistory.violations([.map(owning)], running: [0]).count == 1)
    }
}
