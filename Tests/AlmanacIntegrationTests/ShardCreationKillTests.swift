import AlmanacClient
import AlmanacKeyspace
import AlmanacTestSupport
import Foundation
import Synchronization
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Splits into new shards (new Raft groups created at runtime) on real processes under a steady
/// client load, with the driving `almanac ctl reshard split` SIGKILLed at the steps of the creation
/// and a founding node SIGKILLed and restarted; `ctl reshard resume` founds what a dead driver left,
/// and the next split fills the empty shard. Pass: every acknowledged create is present exactly
/// once, the new shards serve their segments after a restart, and `ctl check` is clean.
@Suite("New shards at runtime under load with SIGKILL (real processes)", .serialized, .timeLimit(.minutes(5)))
struct ShardCreationKillTests {
    /// Each round splits the largest shard without `--into`; the driver is SIGKILLed when it prints
    /// this (nil: left to finish); `node` is SIGKILLed during the round and restarted after it.
    static let rounds: [(kill: String?, node: UInt64?)] = [
        ("defined in the map", nil), (nil, nil), ("founded on node", 2), (nil, nil), ("led by", nil),
    ]

    @Test("splits create shards at runtime; driver and a founding node SIGKILLed; nothing acknowledged lost; ctl check clean")
    func splitsIntoNewShardsSurviveKills() async throws {
        let cluster = try await TestCluster.start(name: "handoff", shards: 2)
        defer { cluster.shutdown() }
        let admin = cluster.client()
        defer { Task { await admin.shutdown() } }
        _ = try await FailoverTests.waitForLeader(admin)
        let load = try await CreateLoad(admin, directories: 8, seeds: 100)
        load.start(cluster, workers: 2)

        var killed = 0
        for (round, plan) in Self.rounds.enumerated() {
            let map = try await SegmentHandoffKillTests.storedMap(cluster)
            guard let largest = map.shards.keys.max(by: { (map.segments(of: $0).count, $1) < (map.segments(of: $1).count, $0) }) else { break }
            let reached = Mutex(false)
            let output = Pipe()
            let driver = try SegmentHandoffKillTests.ctl(cluster, ["reshard", "split", "\(largest)", "--step-pause-ms", "150"], output: output)
            output.fileHandleForReading.readabilityHandler = { handle in
                let text = String(decoding: handle.availableData, as: UTF8.self)
                guard let kill = plan.kill, text.contains(kill) else { return }
                if reached.withLock({ let first = !$0; $0 = true; return first }) { Glibc.kill(driver.processIdentifier, SIGKILL) }
            }
            if let node = plan.node {
                try await Task.sleep(for: .milliseconds(200))
                cluster.kill(node)
            }
            driver.waitUntilExit()
            output.fileHandleForReading.readabilityHandler = nil
            if driver.terminationReason == .uncaughtSignal { killed += 1 }
            if let node = plan.node {
                try await Task.sleep(for: .milliseconds(300))
                try await cluster.restart(node)
            }
            var resumed = false
            for _ in 0..<20 {
                let resume = try SegmentHandoffKillTests.ctl(cluster, ["reshard", "resume"])
                resume.waitUntilExit()
                if resume.terminationStatus == 0 { resumed = true; break }
                try await Task.sleep(for: .milliseconds(500))
            }
            #expect(resumed, "round \(round): ctl reshard resume never succeeded\n\(cluster.tail(1))")
        }
        // A node that founded new shards restarts: it hosts them again (ctl check compares every replica).
        cluster.kill(1)
        try await Task.sleep(for: .milliseconds(300))
        try await cluster.restart(1)
        try await Task.sleep(for: .seconds(1))
        await load.stop()

        let stored = try await SegmentHandoffKillTests.storedMap(cluster)
        #expect(stored.handoffs == [], "intents left in the map: \(stored.handoffs)")
        #expect(stored.shards.count >= 4, "splits created \(stored.shards.count - 2) shards: \(stored.shards.keys.sorted())")
        let owning = Set(stored.owners)
        #expect(owning.count >= 4, "new shards own no segments: \(owning.sorted())")
        let total = try await load.verify(cluster)
        #expect(total > 50, "the load barely ran: \(total) acknowledged creates")
        #expect(killed >= 2, "only \(killed) drivers were killed at a creation step")
        let (clean, lastCheck) = try await SegmentHandoffKillTests.checkUntilClean(cluster)
        #expect(clean, "ctl check never came back clean:\n\(lastCheck)")
        print("shard creation kill test: \(total) acknowledged creates, \(killed) drivers killed, shards \(stored.shards.keys.sorted()), owning \(owning.sorted())")
    }
}
