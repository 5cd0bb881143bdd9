import AlmanacTestSupport
import AlmanacClient
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// A node whose write-ahead log fails must stop serving altogether, so that the groups it led get
/// new leaders even when they were quiesced (their followers only wake when the leader's node goes
/// silent). Real processes; the failure is injected through `--debug-storage-failure-signal`, which
/// takes exactly the path of a failed fsync.
@Suite("Storage failure (real processes)", .serialized, .timeLimit(.minutes(2)))
struct StorageFailureTests {
    @Test("a leader whose storage fails exits with a clear log line, and its quiesced groups elect new leaders")
    func leaderStorageFailure() async throws {
        let cluster = try await TestCluster.start(name: "storagefail", shards: 2,
                                                  extraArguments: ["--debug-storage-failure-signal", "\(SIGUSR1)"])
        defer { cluster.shutdown() }
        let client = cluster.client(operationTimeout: 20)
        defer { Task { await client.shutdown() } }
        let leader = try await FailoverTests.waitForLeader(client)
        let directory = try await client.mkdir(parent: rootInode, name: "before")
        for i in 0..<5 { _ = try await client.create(parent: directory.inode, name: "f\(i)") }
        await client.shutdown()  // no more traffic (keep-alives included): the groups quiesce
        try await Task.sleep(for: .seconds(1.5))

        let victim = try #require(cluster.process(leader))
        let clock = ContinuousClock()
        let failedAt = clock.now
        #expect(cluster.signal(leader, SIGUSR1))
        // The node exits (status 1) with the reason in its log.
        while victim.isRunning && clock.now - failedAt < .seconds(10) { try await Task.sleep(for: .milliseconds(20)) }
        let exitedAfter = clock.now - failedAt
        #expect(!victim.isRunning, "the node with the failed storage kept running")
        if !victim.isRunning { #expect(victim.terminationStatus == 1) }
        let log = cluster.tail(leader, lines: 40)
        #expect(log.contains("storage failed"), "\(log)")
        #expect(log.contains("stops serving and exits"), "\(log)")

        // The survivors elect a new leader for every shard and take writes.
        let survivors = cluster.members.filter { $0.id != leader }
        let survivorClient = AlmanacClient(configuration: AlmanacClientConfiguration(
            endpoints: survivors.map(\.apiAddress), attemptTimeout: .seconds(1), operationTimeout: .seconds(15)))
        defer { Task { await survivorClient.shutdown() } }
        _ = try await survivorClient.create(parent: directory.inode, name: "after-failure")
        let writableAfter = clock.now - failedAt
        var leaders: [UInt64: UInt64] = [:]
        while clock.now - failedAt < .seconds(15) {
            if let status = try? await survivorClient.status() {
                leaders = Dictionary(status.shards.map { ($0.shardID, $0.leaderNodeID) }, uniquingKeysWith: { a, _ in a })
                if leaders.count == cluster.shards, leaders.values.allSatisfy({ $0 != 0 && $0 != leader }) { break }
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        let electedAfter = clock.now - failedAt
        #expect(leaders.count == cluster.shards && leaders.values.allSatisfy { $0 != 0 && $0 != leader }, "leaders: \(leaders)")
        print("storage-failure: node \(leader) exited \(exitedAfter) after the failure; shard 0 writable after \(writableAfter); "
            + "all shards led by survivors after \(electedAfter)")
        #expect(writableAfter < .seconds(8), "writes resumed only after \(writableAfter)")

        // Restarted (the disk is fine again), the node rejoins and catches up.
        try await cluster.restart(leader)
        let stale = cluster.staleClient(leader)
        defer { Task { await stale.shutdown() } }
        var caughtUp = false
        for _ in 0..<100 where !caughtUp {
            caughtUp = (try? await stale.lookup(parent: directory.inode, name: "after-failure")) != nil
            if !caughtUp { try await Task.sleep(for: .milliseconds(100)) }
        }
        #expect(caughtUp, "the restarted node did not catch up")
    }
}
