import AlmanacControl
import AlmanacKeyspace
import Testing

/// `ctl check`'s checker: every kind of disagreement is found and located; a consistent cluster is clean.
@Suite struct ConsistencyCheckTests {
    static let members: [NodeID: ZoneName] = [1: "zone-a", 2: "zone-b", 3: "zone-c"]

    static func map() throws -> ShardMap {
        try ShardMap.initial(keying: SegmentKeying(segmentCount: 64), shardCount: 2) { _ in
            [ReplicaLocation(node: 1, zone: "zone-a"), ReplicaLocation(node: 2, zone: "zone-b"), ReplicaLocation(node: 3, zone: "zone-c")]
        }
    }

    static func healthy() -> [ReplicaReport] {
        [0, 1].flatMap { shard in
            (1...3).map { node in ReplicaReport(node: NodeID(node), shard: ShardID(shard), voters: [1, 2, 3], learners: [], appliedIndex: 10, digest: 0xabc + UInt64(shard)) }
        } + (1...3).map { ReplicaReport(node: NodeID($0), shard: nil, voters: [1, 2, 3], learners: [], appliedIndex: 4, digest: 7) }
    }

    @Test func ownershipThatDisagreesWithTheMapIsAnErrorUnlessAHandOffOrALagExplainsIt() throws {
        let map = try Self.map()
        var reports = Self.healthy().map { report in
            var report = report
            if let shard = report.shard { report.owned = map.segments(of: shard) }
            return report
        }
        #expect(ConsistencyCheck.evaluate(map: map, members: Self.members, answered: [1, 2, 3], replicas: reports).isEmpty)
        // Node 2's replica of shard 0 still owns segment 40 (shard 1's) and lost segment 3.
        reports[1].owned = (map.segments(of: 0) + [40]).filter { $0 != 3 }
        let findings = ConsistencyCheck.evaluate(map: map, members: Self.members, answered: [1, 2, 3], replicas: reports)
        #expect(findings.count == 1)
        #expect(findings.first?.severity == .error && findings.first?.location == "shard 0")
        #expect(findings.first?.message.contains("owned but mapped elsewhere: 40") == true)
        #expect(findings.first?.message.contains("mapped here but not owned: 3") == true)
        // While a hand-off of the shard is in progress, or the replica is behind, it is not decided.
        var moving = map
        try moving.recordHandoff(SegmentHandoffIntent(id: 9, segments: [40], source: 1, target: 0, phase: .preparing, migrationTimestamp: 1))
        #expect(ConsistencyCheck.evaluate(map: moving, members: Self.members, answered: [1, 2, 3], replicas: reports).map(\.severity) == [.inconclusive])
        reports[1].appliedIndex = 9
        #expect(ConsistencyCheck.evaluate(map: map, members: Self.members, answered: [1, 2, 3], replicas: reports).allSatisfy { $0.severity == .inconclusive })
    }

    @Test func aConsistentClusterIsClean() throws {
        #expect(ConsistencyCheck.evaluate(map: try Self.map(), members: Self.members, answered: [1, 2, 3], replicas: Self.healthy()).isEmpty)
    }

    @Test func divergedDigestsAtOneIndexAreAnErrorWithTheirLocation() throws {
        var reports = Self.healthy()
        reports[1].digest = 0xdead
        let findings = ConsistencyCheck.evaluate(map: try Self.map(), members: Self.members, answered: [1, 2, 3], replicas: reports)
        #expect(findings.count == 1)
        #expect(findings.first?.severity == .error && findings.first?.location == "shard 0")
        #expect(findings.first?.message.contains("DIVERGED at applied index 10") == true)
    }

    @Test func replicasAtDifferentIndexesAreInconclusiveNotDiverged() throws {
        var reports = Self.healthy()
        reports[2].appliedIndex = 11
        reports[2].digest = 0x999
        let findings = ConsistencyCheck.evaluate(map: try Self.map(), members: Self.members, answered: [1, 2, 3], replicas: reports)
        #expect(findings.map(\.severity) == [.inconclusive])
    }

    @Test func configurationAndPlacementDisagreementsAreErrors() throws {
        var reports = Self.healthy()
        reports[3].voters = [1, 2, 4]  // node 1's replica of shard 1
        reports.removeAll { $0.shard == 0 && $0.node == 3 }  // node 3 lost its replica of shard 0
        reports.append(ReplicaReport(node: 2, shard: 5, voters: [2], learners: [], appliedIndex: 1, digest: 1))  // a shard the map lacks
        let findings = ConsistencyCheck.evaluate(map: try Self.map(), members: Self.members, answered: [1, 2, 3], replicas: reports)
        let messages = findings.map(\.description)
        #expect(messages.contains { $0.contains("shard 0") && $0.contains("node 3, which hosts none") })
        #expect(messages.contains { $0.contains("shard 1") && $0.contains("voters [1, 2, 4]") })
        #expect(messages.contains { $0.contains("shard 5") && $0.contains("does not list") })
        #expect(findings.allSatisfy { $0.severity == .error })
    }

    @Test func aSilentNodeIsInconclusiveAndAMapNamingStrangersIsAnError() throws {
        let stranger = try ShardMap.initial(keying: SegmentKeying(segmentCount: 64), shardCount: 1) { _ in
            [ReplicaLocation(node: 9, zone: "zone-a")]
        }
        let findings = ConsistencyCheck.evaluate(map: stranger, members: Self.members, answered: [1, 2], replicas: [])
        #expect(findings.contains { $0.location == "map" && $0.severity == .error })
        #expect(findings.contains { $0.location == "node 3" && $0.severity == .inconclusive })
    }

    @Test func membershipDifferencesAreErrorsUnlessAMigrationOrALagExplainsThem() throws {
        let members: [NodeID: ZoneName] = [1: "zone-a", 2: "zone-b", 3: "zone-c", 4: "zone-a"]
        let map = try Self.map()
        var reports = Self.healthy()
        // Node 4 joined shard 0 as a learner: a replica the map does not list.
        reports.append(ReplicaReport(node: 4, shard: 0, voters: [1, 2, 3], learners: [4], appliedIndex: 10, digest: 0xabc))
        let stray = ConsistencyCheck.evaluate(map: map, members: members, answered: [1, 2, 3, 4], replicas: reports)
        #expect(stray.map(\.severity) == [.error] && stray.first?.message.contains("node 4 hosts a replica the map does not list") == true)
        // With the migration's intent in the map, the same difference is not decided yet.
        var migrating = map
        try migrating.recordMigration(ReplicaMigrationIntent(
            id: 7, shard: 0, source: ReplicaLocation(node: 1, zone: "zone-a"), target: ReplicaLocation(node: 4, zone: "zone-a"),
            transferLeadership: false, phase: .preparing, migrationTimestamp: 1), knownNodes: members)
        let during = ConsistencyCheck.evaluate(map: migrating, members: members, answered: [1, 2, 3, 4], replicas: reports)
        #expect(during.map(\.severity) == [.inconclusive] && during.first?.message.contains("migration 7") == true)
        // A replica whose configuration lags its group's applied index is inconclusive, not an error.
        var lagging = Self.healthy()
        lagging[0].voters = [1, 2, 4]
        #expect(ConsistencyCheck.evaluate(map: map, members: members, answered: [1, 2, 3, 4], replicas: lagging).map(\.severity) == [.error])
        lagging[0].appliedIndex = 9
        #expect(ConsistencyCheck.evaluate(map: map, members: members, answered: [1, 2, 3, 4], replicas: lagging).allSatisfy { $0.severity == .inconclusive })
    }
}
