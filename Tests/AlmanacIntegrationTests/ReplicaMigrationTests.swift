import AlmanacCoordinator
import AlmanacKeyspace
import AlmanacNode
import AlmanacRaft
import AlmanacTestSupport
import Foundation
import Synchronization
import Testing

/// `execute_migration` on real hosts (ReplicaMigrationDriver over MigrationTestCluster): a replica
/// moves to another node of its zone and back, with its leadership, through restarts; the driver
/// dies at every call boundary, with and without losing the last answer, and a fresh driver's
/// resume always completes or rolls back, leaving the map, the Raft configuration and the hosted
/// replicas in agreement and every acknowledged write present exactly once.
@Suite(.serialized) struct ReplicaMigrationTests {
    func driver(_ cluster: MigrationTestCluster, attempts: Int = 6) -> ReplicaMigrationDriver {
        var driver = ReplicaMigrationDriver(transport: cluster, store: cluster, clock: { 1_700_000_000_000 })
        driver.attempts = attempts
        driver.catchUpTimeout = .seconds(20)
        driver.settleTimeout = .seconds(5)
        driver.pause = { try? await Task.sleep(for: min($0, .milliseconds(50))) }
        return driver
    }

    /// The node of zone-a that does not hold the replica now (nodes 1 and 4 share zone-a).
    func otherZoneANode(_ cluster: MigrationTestCluster) -> NodeID {
        cluster.map.shards[0]?.replicas.contains { $0.node == 1 } == true ? 4 : 1
    }

    /// Map, configuration and hosted replicas agree; no intent is left; every acknowledged write is
    /// on the leader once; the voters converge on one state.
    func expectConsistent(_ cluster: MigrationTestCluster, acknowledged: [[UInt8]], _ context: String,
                          sourceLocation: SourceLocation = #_sourceLocation) async throws {
        let map = cluster.map
        #expect(map.migrations.isEmpty, "\(context): intents left: \(map.migrations)", sourceLocation: sourceLocation)
        var view = try await cluster.leaderView()
        for _ in 0..<100 where view.isJoint {
            try await Task.sleep(for: .milliseconds(20))
            view = try await cluster.leaderView()
        }
        #expect(!view.isJoint && view.learners.isEmpty, "\(context): configuration \(view)", sourceLocation: sourceLocation)
        let mapped = Set(map.shards[0]?.replicas.map(\.node) ?? [])
        #expect(mapped == Set(view.voters), "\(context): map \(mapped.sorted()) vs voters \(view.voters)", sourceLocation: sourceLocation)
        let hosting = await cluster.hostingNodes()
        #expect(hosting == Set(view.voters), "\(context): hosted \(hosting.sorted())", sourceLocation: sourceLocation)
        let leader = try #require(cluster.running[view.responder])
        let items = try await leader.read(group: 0, linearizable: true) { $0.items }.value
        var counts: [[UInt8]: Int] = [:]
        for item in items { counts[item, default: 0] += 1 }
        let wrong = acknowledged.filter { counts[$0] != 1 }
        #expect(wrong.isEmpty, "\(context): \(wrong.count) acknowledged writes missing or duplicated", sourceLocation: sourceLocation)
        // Every voter reaches the leader's state.
        var digests: Set<UInt64> = []
        for _ in 0..<250 {
            digests = []
            var applied: Set<LogIndex> = []
            for voter in view.voters {
                guard let host = cluster.running[voter], let status = await host.status(),
                      let group = status.groups.first(where: { $0.group == 0 }) else { continue }
                digests.insert(group.stateDigest)
                applied.insert(group.applied)
            }
            if digests.count == 1 && applied.count == 1 { break }
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(digests.count == 1, "\(context): voters disagree: \(digests)", sourceLocation: sourceLocation)
    }

    @Test("a replica moves to another node of its zone with the leadership, survives a restart there, and moves back")
    func moveWithinZoneAndBack() async throws {
        try await MigrationTestCluster.with { cluster in
            var acknowledged: [[UInt8]] = []
            for i in 0..<100 { _ = try await cluster.propose([0, UInt8(i)]); acknowledged.append([0, UInt8(i)]) }
            var progress: [MigrationProgress] = []
            let recorder = ProgressRecorder()
            var run = driver(cluster)
            run.onProgress = { recorder.add($0) }
            let report = try await run.executeMigration(ReplicaMigrationPlan(shard: 0, target: 4, transferLeadership: true), members: cluster.zones)
            progress = recorder.all
            #expect(report.outcome == .moved)
            #expect(progress.map(\.phase).contains("swapped") && progress.last?.phase == "cleared", "\(progress.map(\.phase))")
            #expect(progress.contains { $0.snapshotBytes > 0 }, "the learner was sent a snapshot (the log was compacted)")
            let record = try #require(cluster.map.shards[0])
            #expect(Set(record.replicas.map(\.node)) == [2, 3, 4])
            #expect(record.leaderHint == 4 && record.migrationTimestamp == 1_700_000_000_000 && record.epoch > 1)
            #expect(try await cluster.leaderView().responder == 4, "the planned leadership moved")
            try await expectConsistent(cluster, acknowledged: acknowledged, "after the move")

            // The target restarts from its own data: it still hosts the replica (hosted-groups.json).
            await cluster.stopHost(4)
            for i in 100..<120 { _ = try await cluster.propose([0, UInt8(i)]); acknowledged.append([0, UInt8(i)]) }
            try await cluster.startHost(4)
            // The source restarted too: it no longer hosts the group it left.
            await cluster.stopHost(1)
            try await cluster.startHost(1)
            try await expectConsistent(cluster, acknowledged: acknowledged, "after restarts")

            let back = try await driver(cluster).executeMigration(ReplicaMigrationPlan(shard: 0, target: 1), members: cluster.zones)
            #expect(back.outcome == .moved)
            for i in 120..<140 { _ = try await cluster.propose([0, UInt8(i)]); acknowledged.append([0, UInt8(i)]) }
            try await expectConsistent(cluster, acknowledged: acknowledged, "after moving back")
            let violations = MigrationHistory.violations(cluster.history, zones: cluster.zones, zoneCount: 3)
            #expect(violations.isEmpty, "\(violations)")
        }
    }

    @Test("a snapshot streams to a new learner within its window and resumes after dropped connections, not from zero")
    func snapshotStreamingResumesAfterDrops() async throws {
        try await MigrationTestCluster.with(configure: { configuration in
            configuration.snapshotChunkBytes = 256
            configuration.snapshotWindowChunks = 2
            configuration.snapshotStallTimeout = .milliseconds(150)
            configuration.snapshotEveryEntries = 300
        }) { cluster in
            // About 150 KB of state: ~600 chunks of 256 bytes.
            for i in 0..<1500 { _ = try await cluster.propose([5, UInt8(i >> 8), UInt8(i & 0xFF)] + [UInt8](repeating: UInt8(i % 251), count: 97)) }
            let view = try await cluster.leaderView()
            let leader = try #require(cluster.running[view.responder])
            let learner = try #require(cluster.running[4])
            let chunksBefore = await leader.status()?.snapshotChunksSent ?? 0
            _ = try await learner.joinGroup(0)
            _ = try await leader.changeMembership(group: 0, .addLearner(4))
            // Drop the leader's connection to the learner every 20 ms until it holds the log.
            var drops = 0
            let clock = ContinuousClock()
            let started = clock.now
            while clock.now - started < .seconds(60) {
                let current = try await leader.configuration(of: 0)
                if (current.matchIndex[4] ?? 0) >= view.commitIndex { break }
                await leader.dropConnection(to: 4)
                drops += 1
                try await Task.sleep(for: .milliseconds(20))
            }
            let elapsed = clock.now - started
            let current = try await leader.configuration(of: 0)
            #expect((current.matchIndex[4] ?? 0) >= view.commitIndex, "the learner never caught up (\(drops) drops)")
            let wireBytes = current.snapshotBytesSent[4] ?? 0
            let sent = (await leader.status()?.snapshotChunksSent ?? 0) - chunksBefore
            let stalls = UInt64(elapsed.components.seconds * 1000 + elapsed.components.attoseconds / 1_000_000_000_000_000) / 150 + 2
            // The state is 1500 items of 100 bytes plus framing: the file takes 586 to 640 chunks.
            let (least, most): (UInt64, UInt64) = (586, 640)
            print("snapshot streaming: \(sent) chunks (\(wireBytes) bytes) sent over \(drops) dropped connections in \(elapsed)")
            #expect(sent >= least && drops >= 2, "\(sent) chunks, \(drops) drops")
            // Each drop or stall resends at most a window (2 chunks); a transfer restarting from
            // offset 0 would resend everything received so far.
            #expect(sent <= most + 2 * (UInt64(drops) + stalls), "\(sent) chunks sent")
            #expect(sent < 2 * least, "\(sent) chunks sent")
            #expect(wireBytes <= sent * 256)
            let learned = try await learner.read(group: 0, linearizable: false) { $0.items.count }.value
            #expect(learned >= 1500)
        }
    }

    @Test("the history checker finds a voter that joins without an intent, two voters in a zone, an epoch going back, and voters the map does not explain")
    func historyCheckerCatchesViolations() throws {
        let zones: [NodeID: ZoneName] = [1: "a", 2: "b", 3: "c", 4: "a"]
        func view(_ voters: [NodeID], learners: [NodeID] = []) -> MigrationHistory.Event {
            .configuration(ReplicaConfiguration(group: 0, responder: voters[0], leader: voters[0], term: 1, voters: voters, outgoingVoters: [],
                                                learners: learners, commitIndex: 1, lastIndex: 1, appliedIndex: 1, matchIndex: [:], snapshotBytesSent: [:]))
        }
        let map = try ShardMap.initial(keying: SegmentKeying(segmentCount: 4), shardCount: 1) { _ in
            [ReplicaLocation(node: 1, zone: "a"), ReplicaLocation(node: 2, zone: "b"), ReplicaLocation(node: 3, zone: "c")]
        }
        #expect(MigrationHistory.violations([.map(map), view([1, 2, 3])], zones: zones, zoneCount: 3).isEmpty)
        #expect(MigrationHistory.violations([view([1, 2, 3]), view([4, 2, 3])], zones: zones, zoneCount: 3).count == 2)
        #expect(MigrationHistory.violations([view([1, 4, 3])], zones: zones, zoneCount: 3).count == 1)
        #expect(MigrationHistory.violations([view([1, 2, 3], learners: [4])], zones: zones, zoneCount: 3).count == 1)
        var migrating = map
        let intent = ReplicaMigrationIntent(id: 9, shard: 0, source: ReplicaLocation(node: 1, zone: "a"), target: ReplicaLocation(node: 4, zone: "a"),
                                            transferLeadership: false, phase: .preparing, migrationTimestamp: 1, driver: 7)
        try migrating.recordMigration(intent, knownNodes: zones)
        var touched = migrating
        try touched.touchMigration(9, driver: 7, at: 2)
        // An epoch going back is flagged; a heartbeat alone keeps the epoch.
        #expect(MigrationHistory.violations([.map(migrating), .map(map)], zones: zones, zoneCount: 3).count == 1)
        #expect(MigrationHistory.violations([.map(migrating), .map(touched)], zones: zones, zoneCount: 3).isEmpty)
        // Raft swapped in node 4: explained by the intent in the map, not without it.
        #expect(MigrationHistory.violations([.map(migrating), view([4, 2, 3])], zones: zones, zoneCount: 3).isEmpty)
        #expect(MigrationHistory.violations([.map(map), view([4, 2, 3])], zones: zones, zoneCount: 3).count == 1)
    }

    @Test("bad plans are refused with a reason and change nothing")
    func badPlansChangeNothing() async throws {
        try await MigrationTestCluster.with { cluster in
            _ = try await cluster.propose([1])
            let before = cluster.map
            let run = driver(cluster)
            let plans: [(ReplicaMigrationPlan, Set<NodeID>, String)] = [
                (ReplicaMigrationPlan(shard: 0, target: 9), [], "not a member"),
                (ReplicaMigrationPlan(shard: 7, target: 4), [], "does not exist"),
                (ReplicaMigrationPlan(shard: 0, target: 4), [4], "is down"),
                (ReplicaMigrationPlan(shard: 0, target: 2), [], "already holds a replica"),
                // Zone a holds node 1's replica: node 4 may only replace it, not node 2's.
                (ReplicaMigrationPlan(shard: 0, target: 4, source: 2), [], "one replica per zone"),
                (ReplicaMigrationPlan(shard: 0, target: 4, source: 9), [], "holds no replica"),
            ]
            for (plan, down, reason) in plans {
                do {
                    _ = try await run.executeMigration(plan, members: cluster.zones, down: down)
                    Issue.record("\(plan) was accepted")
                } catch let error as MigrationError {
                    guard case .invalid(let message) = error else { Issue.record("\(plan): \(error)"); continue }
                    #expect(message.contains(reason), "\(plan): \(message)")
                }
            }
            #expect(cluster.map == before, "a refused plan changed the map")
            // A second migration of a shard that is migrating.
            var slow = driver(cluster)
            slow.stepPause = .milliseconds(400)
            slow.pause = { try? await Task.sleep(for: $0) }
            let first = Task { try await slow.executeMigration(ReplicaMigrationPlan(shard: 0, target: 4), members: cluster.zones) }
            for _ in 0..<100 where cluster.map.migrations.isEmpty { try await Task.sleep(for: .milliseconds(20)) }
            do {
                _ = try await run.executeMigration(ReplicaMigrationPlan(shard: 0, target: 4), members: cluster.zones)
                Issue.record("a second migration of shard 0 was accepted")
            } catch let error as MigrationError {
                guard case .invalid(let message) = error else { Issue.record("\(error)"); throw error }
                #expect(message.contains("already migrating"), "\(message)")
            }
            #expect(try await first.value.outcome == .moved)
            // Leadership only: a plan whose target already holds a replica.
            let leaderOnly = try await run.executeMigration(ReplicaMigrationPlan(shard: 0, target: 2, transferLeadership: true), members: cluster.zones)
            #expect(leaderOnly.outcome == .leadershipMoved)
            #expect(try await cluster.leaderView().responder == 2 && cluster.map.shards[0]?.leaderHint == 2)
            try await expectConsistent(cluster, acknowledged: [[1]], "after the bad plans")
        }
    }

    @Test("the driver dies at every call boundary (answers landed or lost); resume completes or rolls back")
    func crashAtEveryStepBoundary() async throws {
        try await MigrationTestCluster.with { cluster in
            var acknowledged: [[UInt8]] = []
            var outcomes: [String: Int] = [:]
            for i in 0..<60 { _ = try await cluster.propose([2, UInt8(i)]); acknowledged.append([2, UInt8(i)]) }
            // A clean run counts the calls (polls included) a migration makes.
            cluster.recover()
            let counted = cluster.calls
            _ = try await driver(cluster).executeMigration(ReplicaMigrationPlan(shard: 0, target: otherZoneANode(cluster), transferLeadership: true), members: cluster.zones)
            let total = cluster.calls - counted
            #expect(total > 10)
            var payload: UInt16 = 0
            for boundary in 0..<total {
                for lose in [false, true] {
                    let target = otherZoneANode(cluster)
                    cluster.crash(after: boundary, losingTheLastAnswer: lose)
                    do {
                        _ = try await driver(cluster, attempts: 1).executeMigration(
                            ReplicaMigrationPlan(shard: 0, target: target, transferLeadership: boundary % 2 == 0), members: cluster.zones)
                        outcomes["finished before the crash", default: 0] += 1
                    } catch {
                        outcomes["\(type(of: error))", default: 0] += 1
                    }
                    cluster.recover()
                    let reports = try await driver(cluster).resume(liveWindow: nil).reports
                    for report in reports { outcomes["resume: \(report.outcome.rawValue)", default: 0] += 1 }
                    payload += 1
                    let write = [3, UInt8(payload >> 8), UInt8(payload & 0xFF)]
                    _ = try await cluster.propose(write)
                    acknowledged.append(write)
                    try await expectConsistent(cluster, acknowledged: acknowledged, "boundary \(boundary), lost answer \(lose)")
                }
            }
            print("migration crash boundaries: \(total) calls x 2; outcomes \(outcomes.sorted { $0.key < $1.key })")
            #expect(outcomes["resume: moved", default: 0] > 0 && outcomes["resume: rolled back", default: 0] > 0, "\(outcomes)")
            // The whole recorded history of every run, crashed and resumed, through the checker.
            let history = cluster.history
            let violations = MigrationHistory.violations(history, zones: cluster.zones, zoneCount: 3)
            #expect(history.count > 100 && violations.isEmpty, "\(history.count) events: \(violations.prefix(5))")
        }
    }
}

/// Collects progress reports from the driver's callback.
final class ProgressRecorder: Sendable {
    private let reports = Mutex<[MigrationProgress]>([])
    func add(_ progress: MigrationProgress) { reports.withLock { $0.append(progress) } }
    var all: [MigrationProgress] { reports.withLock { $0 } }
}
