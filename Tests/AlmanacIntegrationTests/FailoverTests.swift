import AlmanacTestSupport
import AlmanacClient
import AlmanacWire
import Foundation
import Synchronization
import Testing

/// Three real node processes on loopback; a client runs a mixed workload while a node is SIGKILLed.
@Suite("Cluster failover (real processes)", .serialized, .timeLimit(.minutes(3)))
struct FailoverTests {
    enum Victim: Sendable { case leader, follower, zoneC }

    static let workers = 4
    static let operationsPerWorker = 120
    static let killAtOperation = 30

    static func leader(of client: AlmanacClient, shard: UInt64 = 0) async -> UInt64? {
        guard let status = try? await client.status() else { return nil }
        let leader = status.shards.first { $0.shardID == shard }?.leaderNodeID ?? 0
        return leader == 0 ? nil : leader
    }

    static func waitForLeader(_ client: AlmanacClient) async throws -> UInt64 {
        for _ in 0..<100 {
            if let leader = await leader(of: client) { return leader }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw ClusterError("shard 0 elected no leader within 10 s")
    }

    /// Runs the workload, kills the victim mid-way, optionally keeps it down for a while (checking that
    /// the survivors report it and its zone down), restarts it and checks every acknowledged operation
    /// and the convergence of all three replicas.
    func scenario(_ name: String, victim: Victim, keepDown: Duration? = nil) async throws {
        let cluster = try await TestCluster.start(name: name)
        defer { cluster.shutdown() }
        let client = cluster.client()
        defer { Task { await client.shutdown() } }

        let leaderBefore = try await Self.waitForLeader(client)
        let directory = try await client.mkdir(parent: rootInode, name: "work").inode
        let killed = SharedValue<UInt64>(0)
        let progress = SharedValue<Int>(0)
        let prefixes = (0..<Self.workers).map { "w\($0)" }

        let models = await withTaskGroup(of: WorkloadModel.self) { group in
            for (worker, prefix) in prefixes.enumerated() {
                group.addTask {
                    await Workload.run(client: client, directory: directory, prefix: prefix, operations: Self.operationsPerWorker,
                                       progress: progress) { i in
                        guard worker == 0, i == Self.killAtOperation else { return }
                        let leader = await Self.leader(of: client) ?? leaderBefore
                        let target: UInt64 = switch victim {
                        case .leader: leader
                        case .follower: [1, 2, 3].first { $0 != leader } ?? 1
                        case .zoneC: 3
                        }
                        cluster.kill(target)
                        killed.update { $0 = target }
                    }
                }
            }
            var all: [WorkloadModel] = []
            for await model in group { all.append(model) }
            return all
        }
        let victimID = killed.value
        #expect(victimID != 0, "the victim was never killed")

        if let keepDown {
            // The survivors must see the node, then its zone, go down (health in the status API).
            let survivor = cluster.staleClient(victimID == 1 ? 2 : 1)
            defer { Task { await survivor.shutdown() } }
            let clock = ContinuousClock()
            let deadline = clock.now.advanced(by: .seconds(10))
            var nodeDown = false
            var zoneDown = false
            while clock.now < deadline && !(nodeDown && zoneDown) {
                if let status = try? await survivor.status() {
                    nodeDown = status.nodes.first { $0.nodeID == victimID }?.health == .down
                    zoneDown = status.zones.first { $0.zone == cluster.member(victimID).zone }?.health == .down
                }
                try await Task.sleep(for: .milliseconds(200))
            }
            #expect(nodeDown, "survivors never reported node \(victimID) down")
            #expect(zoneDown, "survivors never reported zone \(cluster.member(victimID).zone) down")
            // Writes keep working with one zone down.
            _ = try await client.create(parent: directory, name: "while-zone-down")
            try await Task.sleep(for: keepDown)
        }

        try await cluster.restart(victimID)
        let listing = try await client.readdir(directory, pageSize: 500, withAttributes: true).collect()
        let problems = Workload.verify(listing: listing.filter { $0.name != "while-zone-down" }, models: models, prefixes: prefixes)
        #expect(problems.isEmpty, "workload violations:\n\(problems.prefix(20).joined(separator: "\n"))")
        let acknowledged = models.reduce(0) { $0 + $1.acknowledged }
        let unknown = models.reduce(0) { $0 + $1.unknownOutcomes }
        #expect(acknowledged >= Self.workers * Self.operationsPerWorker * 9 / 10,
                "only \(acknowledged) operations acknowledged (\(unknown) unknown outcomes)")

        let differences = await Convergence.await(cluster: cluster, nodes: [1, 2, 3], directory: directory, reference: client)
        #expect(differences.isEmpty, "replicas did not converge:\n\(differences.joined(separator: "\n"))\n\(cluster.tail(victimID))")
        // The restarted node serves its own replica again and reports the cluster healthy.
        let restarted = cluster.staleClient(victimID)
        defer { Task { await restarted.shutdown() } }
        let status = try await restarted.status()
        #expect(status.responderNodeID == victimID)
        #expect(status.shards.count == cluster.shards)
        if keepDown != nil {
            // It was down for hundreds of entries and the leader compacted its log meanwhile.
            let log = (try? String(contentsOfFile: cluster.logPath(victimID), encoding: .utf8)) ?? ""
            let lastLaunch = log.range(of: "=== launch", options: .backwards).map { String(log[$0.lowerBound...]) } ?? ""
            #expect(lastLaunch.contains("installed snapshot"), "node \(victimID) did not catch up from a snapshot")
            // ... sent in several 4 KiB chunks of the snapshot file and reassembled.
            #expect(lastLaunch.contains("snapshot received"), "node \(victimID) did not reassemble a chunked snapshot")
        }
    }

    @Test("leader SIGKILLed mid-workload: no lost or duplicated write, replicas converge, it rejoins")
    func leaderKilled() async throws {
        try await scenario("leader", victim: .leader)
    }

    @Test("follower SIGKILLed mid-workload: writes continue, it rejoins and catches up")
    func followerKilled() async throws {
        try await scenario("follower", victim: .follower)
    }

    @Test("one zone's node down for a while: health reports it, writes continue, it catches up from a snapshot")
    func zoneDownForAWhile() async throws {
        try await scenario("zone", victim: .zoneC, keepDown: .seconds(1))
    }
}
