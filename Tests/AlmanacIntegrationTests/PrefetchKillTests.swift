import AlmanacTestSupport
import AlmanacClient
import AlmanacWire
import Foundation
import Testing

/// Predictive journaling across a SIGKILL of the leader that issues potential entries (real
/// `almanac serve` processes, docs/prediction.md "Potential entries").
@Suite("Prefetching under SIGKILL (real processes)", .serialized, .timeLimit(.minutes(3)))
struct PrefetchKillTests {
    static let workers = 2
    static let rounds = 60
    static let killAtRound = 20

    /// The counters of every node that reports some, by node.
    static func counters(_ cluster: TestCluster, nodes: [UInt64]) async -> [UInt64: Almanac_Api_V1_PrefetchShardStatus] {
        var out: [UInt64: Almanac_Api_V1_PrefetchShardStatus] = [:]
        for node in nodes {
            let client = cluster.staleClient(node)
            defer { Task { await client.shutdown() } }
            guard let status = try? await client.status() else { continue }
            var total = Almanac_Api_V1_PrefetchShardStatus()
            for shard in status.prefetch {
                total.issued += shard.issued
                total.confirmed += shard.confirmed
                total.expired += shard.expired
            }
            out[node] = total
        }
        return out
    }

    /// Runs `body` until it answers; a failure the cluster caused (unavailable, timeout) is retried,
    /// and `accept` says which error means "an earlier attempt already applied it".
    static func persist(_ accept: Almanac_Api_V1_ErrorCode?, _ body: () async throws(AlmanacClientError) -> Void) async throws {
        for attempt in 0..<20 {
            do {
                try await body()
                return
            } catch {
                if attempt > 0, let accept, error.code == accept { return }
                guard error.isClusterUnavailable else { throw error }
                try await Task.sleep(for: .milliseconds(200))
            }
        }
        throw ClusterError("an operation never succeeded across 20 attempts")
    }

    /// Each worker cycles through five names: create+open, close, unlink. The model learns the
    /// cycle, so the leader journals potential entries for the next request (an open that would
    /// create a file, a close, an unlink) ahead of it. The leader that issued them is SIGKILLed
    /// mid-way. Every acknowledged operation must hold, and no potential entry may have created
    /// anything: at the end every worker's names are gone (each cycle ends with an acknowledged
    /// unlink), the replicas converge, and a close never fails (its open was not lost).
    @Test func leaderKilledWhilePotentialEntriesAreInFlightLeavesNoPhantomAndLosesNothing() async throws {
        let cluster = try await TestCluster.start(
            name: "prefetch-kill", shards: 1, extraArguments: ["--prefetch-queue-size", "64", "--confidence-threshold", "0.5"])
        defer { cluster.shutdown() }
        let client = cluster.client()
        defer { Task { await client.shutdown() } }
        let directory = try await client.mkdir(parent: rootInode, name: "prefetch").inode
        let killed = SharedValue<UInt64>(0)

        try await withThrowingTaskGroup(of: Void.self) { group in
            for worker in 0..<Self.workers {
                let own = cluster.client()
                group.addTask {
                    defer { Task { await own.shutdown() } }
                    for round in 0..<Self.rounds {
                        if worker == 0 && round == Self.killAtRound {
                            // Kill the node that is issuing potential entries (the leader).
                            let issuing = await Self.counters(cluster, nodes: [1, 2, 3]).filter { $0.value.issued > 0 }
                            let victim = issuing.max { $0.value.issued < $1.value.issued }?.key ?? 0
                            #expect(victim != 0, "no node issued potential entries before the kill: \(issuing)")
                            if victim != 0 {
                                cluster.kill(victim)
                                killed.update { $0 = victim }
                            }
                        }
                        let name = "w\(worker)-f\(round % 5)"
                        var handle: OpenFile?
                        try await Self.persist(nil) { () throws(AlmanacClientError) in
                            handle = try await own.open(parent: directory, name: name, flags: [.write, .create])
                        }
                        if let file = handle {
                            try await Self.persist(nil) { () throws(AlmanacClientError) in try await own.close(file) }
                        }
                        try await Self.persist(.enoent) { () throws(AlmanacClientError) in try await own.unlink(parent: directory, name: name) }
                    }
                }
            }
            try await group.waitForAll()
        }
        let victim = killed.value
        #expect(victim != 0)
        if victim != 0 { try await cluster.restart(victim) }

        let entries = try await client.readdir(directory, pageSize: 200).collect().map(\.name)
        #expect(entries.isEmpty, "phantom or resurrected entries: \(entries)")
        let problems = await Convergence.await(cluster: cluster, nodes: [1, 2, 3], directory: directory, reference: client)
        #expect(problems.isEmpty, "\(problems)")
        // The path was exercised: after the kill, the new leader confirmed potential entries too.
        let after = await Self.counters(cluster, nodes: [1, 2, 3].filter { $0 != victim })
        #expect(after.values.contains { $0.confirmed > 0 }, "the new leader confirmed no potential entry: \(after)")
    }
}
