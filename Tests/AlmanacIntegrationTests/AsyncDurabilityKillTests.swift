import AlmanacTestSupport
import AlmanacClient
import AlmanacWire
import Foundation
import Testing

/// Async durability (writes acknowledged ahead of commit) across a SIGKILL of the leader that
/// acknowledged them, with real `almanac serve` processes (docs/node.md, "Answers ahead of commit").
@Suite("Async durability under SIGKILL (real processes)", .serialized, .timeLimit(.minutes(3)))
struct AsyncDurabilityKillTests {
    static let workers = 4
    static let createsPerWorker = 80
    static let killAfter = 25

    /// Workers create distinct files with async durability; the shard's followers are stopped
    /// (SIGSTOP) for 400 ms while the leader goes on answering ahead of commit, then all three are
    /// SIGKILLed and the followers restarted (the leader only at the end), so the writes answered
    /// meanwhile are lost with the leader. Each client keeps its writes until
    /// a response shows them durable and replays the others to the new leader. Every acknowledged
    /// create must be there exactly once at the end, on every replica, and the clients must hold no
    /// write of unknown fate.
    @Test func everyAcknowledgedAsyncWriteSurvivesTheLeadersKillWhenItsClientLives() async throws {
        let cluster = try await TestCluster.start(name: "async-kill", shards: 1)
        defer { cluster.shutdown() }
        let setup = cluster.client()
        defer { Task { await setup.shutdown() } }
        let directory = try await setup.mkdir(parent: rootInode, name: "async").inode
        let leader = try await FailoverTests.waitForLeader(setup)
        let acknowledged = SharedValue<[String]>([])
        let clients = (0..<Self.workers).map { _ in cluster.client(durability: .leader) }

        try await withThrowingTaskGroup(of: Void.self) { group in
            for (worker, client) in clients.enumerated() {
                group.addTask {
                    for index in 0..<Self.createsPerWorker {
                        if worker == 0 && index == Self.killAfter {
                            // The followers stop, so what the leader answers now is durable nowhere
                            // else; then the leader dies and the followers come back without it.
                            // A stopped follower's unread socket buffers would still deliver the
                            // leader's appends when it resumes, so the followers are killed too
                            // (losing those buffers) and restarted from their disks.
                            let followers: [UInt64] = [1, 2, 3].filter { $0 != leader }
                            for follower in followers { cluster.signal(follower, SIGSTOP) }
                            try await Task.sleep(for: .milliseconds(400))
                            cluster.kill(leader)
                            for follower in followers { cluster.kill(follower) }
                            for follower in followers { try cluster.launch(follower) }
                        }
                        let name = "w\(worker)-f\(index)"
                        for attempt in 0..<20 {
                            do throws(AlmanacClientError) {
                                _ = try await client.create(parent: directory, name: name)
                                acknowledged.update { $0.append(name) }
                                break
                            } catch {
                                // A retry after an ambiguous failure may find its own earlier create.
                                if attempt > 0, error.code == .eexist { acknowledged.update { $0.append(name) }; break }
                                guard error.isClusterUnavailable else { throw error }
                            }
                            try await Task.sleep(for: .milliseconds(200))
                        }
                    }
                }
            }
            try await group.waitForAll()
        }
        var answeredAhead = 0, replayed = 0, changed = 0
        for client in clients {
            #expect(await client.waitUntilDurable(), "a client still holds writes of unknown fate")
            answeredAhead += await client.answeredAheadWrites
            replayed += await client.replayedWrites
            changed += await client.replayedWritesChanged
            await client.shutdown()
        }
        print("async-kill: \(acknowledged.value.count) acknowledged, \(answeredAhead) answered ahead of commit, "
              + "\(replayed) replayed after the kill, \(changed) of them lost with the leader and executed again")
        #expect(answeredAhead > 0, "no write was answered ahead of commit")
        // Writes answered while the followers were stopped were lost with the leader: the replays
        // brought them back (without replays they would be missing below).
        #expect(changed > 0, "no acknowledged write was lost with the leader: the test did not exercise the replay")
        #expect(acknowledged.value.count == Self.workers * Self.createsPerWorker)

        try await cluster.restart(leader)
        let names = try await setup.readdir(directory, pageSize: 500).collect().map(\.name)
        #expect(names.count == Set(names).count)
        let missing = Set(acknowledged.value).subtracting(names)
        #expect(missing.isEmpty, "acknowledged async creates lost: \(missing.sorted())")
        let problems = await Convergence.await(cluster: cluster, nodes: [1, 2, 3], directory: directory, reference: setup)
        #expect(problems.isEmpty, "\(problems)")
    }
}
