import AlmanacTestSupport
import AlmanacClient
import AlmanacWire
import Foundation
import Testing

/// Prefetching yields to real traffic (real `almanac serve` processes, docs/prediction.md
/// "Yielding to real traffic"): a leader busy with requests queues and issues no potential
/// entries; once idle again, it does.
@Suite("Prefetching yields to requests (real processes)", .serialized, .timeLimit(.minutes(3)))
struct PrefetchYieldTests {
    /// The prefetch counters summed over every node that answers.
    static func counters(_ cluster: TestCluster) async -> Almanac_Api_V1_PrefetchShardStatus {
        var total = Almanac_Api_V1_PrefetchShardStatus()
        for node: UInt64 in [1, 2, 3] {
            let client = cluster.staleClient(node)
            defer { Task { await client.shutdown() } }
            guard let status = try? await client.status() else { continue }
            for shard in status.prefetch {
                total.predictions += shard.predictions
                total.issued += shard.issued
                total.yielded += shard.yielded
            }
        }
        return total
    }

    /// One worker cycles create+open, close, unlink over five names: the model learns the cycle.
    static func cycle(_ client: AlmanacClient, directory: UInt64, rounds: Range<Int>) async throws {
        for round in rounds {
            let name = "f\(round % 5)"
            let file = try await client.open(parent: directory, name: name, flags: [.write, .create])
            try await client.close(file)
            try await client.unlink(parent: directory, name: name)
        }
    }

    @Test func aLeaderBusyWithRequestsIssuesNoPotentialEntriesAndResumesWhenIdle() async throws {
        let cluster = try await TestCluster.start(
            name: "prefetch-yield", shards: 1,
            extraArguments: ["--prefetch-queue-size", "64", "--confidence-threshold", "0.5", "--prefetch-yield-backlog", "8"])
        defer { cluster.shutdown() }
        let client = cluster.client()
        defer { Task { await client.shutdown() } }
        let directory = try await client.mkdir(parent: rootInode, name: "cycle").inode
        let load = try await client.mkdir(parent: rootInode, name: "load").inode

        // Alone, one request at a time: the backlog stays at one entry, nothing yields.
        try await Self.cycle(client, directory: directory, rounds: 0..<30)
        let alone = await Self.counters(cluster)
        #expect(alone.issued > 0, "the worker alone got no potential entry issued: \(alone)")
        #expect(alone.yielded == 0, "predictions yielded with one request at a time: \(alone)")

        // The same worker beside 24 writers that keep the leader's backlog full.
        let stop = SharedValue<Bool>(false)
        let writers = (0..<3).map { _ in cluster.client() }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for (index, writer) in writers.enumerated() {
                for lane in 0..<8 {
                    group.addTask {
                        var n = 0
                        while !stop.value {
                            _ = try? await writer.create(parent: load, name: "w\(index)-\(lane)-\(n)")
                            n += 1
                        }
                    }
                }
            }
            try await Task.sleep(for: .milliseconds(500))
            try await Self.cycle(client, directory: directory, rounds: 30..<60)
            stop.update { $0 = true }
            try await group.waitForAll()
        }
        for writer in writers { await writer.shutdown() }
        let busy = await Self.counters(cluster)
        let yielded = busy.yielded - alone.yielded
        let issued = busy.issued - alone.issued
        #expect(yielded > 0, "no prediction yielded beside 24 writers: \(busy)")
        #expect(issued < yielded, "beside 24 writers \(issued) potential entries were issued and \(yielded) yielded")

        // Idle again: prefetching resumes.
        try await Task.sleep(for: .milliseconds(300))
        try await Self.cycle(client, directory: directory, rounds: 60..<90)
        let after = await Self.counters(cluster)
        #expect(after.issued > busy.issued, "prefetching did not resume once the writers stopped: \(after)")
    }
}
