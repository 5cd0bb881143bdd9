import AlmanacClient
import AlmanacKeyspace
import AlmanacTestSupport
import Foundation
import Synchronization
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Replica migrations (`almanac ctl migrate`) on six real processes (two per zone) under a steady
/// client load: the driving process is SIGKILLed at each phase, and the source or the target node
/// is SIGKILLed (and restarted) during migrations; `ctl migrate --resume` finishes or rolls back
/// what a dead driver left. Pass: every acknowledged create is present exactly once, nothing was
/// applied twice, no intent stays in the map, every shard has one replica per zone, and
/// `ctl check` is clean (map, Raft configurations and hosted replicas agree; digests too).
@Suite("Replica migrations under load with SIGKILL (real processes)", .serialized, .timeLimit(.minutes(6)))
struct ReplicaMigrationKillTests {
    static let clusterID = "it-migrate"
    /// The driver is SIGKILLed as soon as it reports reaching this phase (nil: left to finish).
    static let killPhases: [String?] = [nil, "recorded", "joined", "learner", "caught up", "swapped", "committed", "source dropped", nil]

    @Test("migrations with the driver, the source and the target SIGKILLed: nothing acknowledged lost or applied twice; ctl check clean")
    func migrationsSurviveKills() async throws {
        let cluster = try await TestCluster.start(name: "migrate", shards: 2, nodes: 6, snapshotEvery: 200)
        defer { cluster.shutdown() }
        let admin = cluster.client()
        defer { Task { await admin.shutdown() } }
        _ = try await FailoverTests.waitForLeader(admin)
        let load = try await CreateLoad(admin, directories: 6, seeds: 40)
        load.start(cluster, workers: 3)

        var killedDrivers = 0, killedNodes = 0, moved = 0
        for round in 0..<Self.killPhases.count {
            let map = try await SegmentHandoffKillTests.storedMap(cluster, clusterID: Self.clusterID)
            // Shard round % 2 moves its replica in zone round % 3 to the other node of that zone.
            let shard = ShardID(round % 2)
            let zone = TestCluster.zones[round % 3]
            guard let source = map.shards[shard]?.replicas.first(where: { $0.zone == zone })?.node,
                  let target = cluster.members.first(where: { $0.zone == zone && $0.id != source })?.id else {
                Issue.record("round \(round): shard \(shard) has no replica in \(zone): \(map)")
                break
            }
            let phase = Self.killPhases[round]
            let reached = Mutex(false)
            let output = Pipe()
            var arguments = ["migrate", "\(shard)", "--to", "\(target)", "--step-pause-ms", "150"]
            if round % 3 == 1 { arguments.append("--leader") }
            let driver = try SegmentHandoffKillTests.ctl(cluster, arguments, clusterID: Self.clusterID, output: output)
            output.fileHandleForReading.readabilityHandler = { handle in
                let text = String(decoding: handle.availableData, as: UTF8.self)
                guard let phase, text.contains(": \(phase) ") else { return }
                if reached.withLock({ let first = !$0; $0 = true; return first }) { Glibc.kill(driver.processIdentifier, SIGKILL) }
            }
            // Every third round kills the source, the next the target, a little after the start;
            // both come back a second later while the driver runs.
            let victim: UInt64? = round % 3 == 0 && round > 0 ? source : round % 3 == 1 ? target : nil
            var restart: Task<Void, any Error>?
            if let victim {
                restart = Task {
                    try await Task.sleep(for: .milliseconds(Int.random(in: 100...700)))
                    cluster.kill(victim)
                    try await Task.sleep(for: .seconds(1))
                    try await cluster.restart(victim)
                }
                killedNodes += 1
            }
            driver.waitUntilExit()
            output.fileHandleForReading.readabilityHandler = nil
            try await restart?.value
            if driver.terminationReason == .uncaughtSignal { killedDrivers += 1 }
            if driver.terminationReason == .exit && driver.terminationStatus == 0 { moved += 1 }
            // Resume until the map holds no intent (a node may still be electing).
            var resumed = false
            for _ in 0..<30 {
                let resume = try SegmentHandoffKillTests.ctl(cluster, ["migrate", "--resume", "--take-over"], clusterID: Self.clusterID)
                resume.waitUntilExit()
                if resume.terminationStatus == 0,
                   try await SegmentHandoffKillTests.storedMap(cluster, clusterID: Self.clusterID).migrations.isEmpty {
                    resumed = true
                    break
                }
                try await Task.sleep(for: .milliseconds(500))
            }
            #expect(resumed, "round \(round) (\(arguments)): ctl migrate --resume never succeeded\n\(cluster.tail(1))")
            try await Task.sleep(for: .milliseconds(300))
        }
        try await Task.sleep(for: .seconds(1))
        await load.stop()

        let stored = try await SegmentHandoffKillTests.storedMap(cluster, clusterID: Self.clusterID)
        #expect(stored.migrations == [], "intents left in the map: \(stored.migrations)")
        for record in stored.shards.values { #expect(Set(record.replicas.map(\.zone)).count == 3, "shard \(record.id): \(record.replicas)") }
        let total = try await load.verify(cluster)
        #expect(total > 50, "the load barely ran: \(total) acknowledged creates")
        #expect(killedDrivers >= 5, "only \(killedDrivers) drivers were killed at a phase boundary")
        let (clean, lastCheck) = try await SegmentHandoffKillTests.checkUntilClean(cluster)
        #expect(clean, "ctl check never came back clean:\n\(lastCheck)")
        print("migration kill test: \(total) acknowledged creates, \(load.snapshot.failures) uncertain, "
            + "\(killedDrivers) drivers and \(killedNodes) nodes killed, \(moved) migrations finished by their driver")
    }
}
