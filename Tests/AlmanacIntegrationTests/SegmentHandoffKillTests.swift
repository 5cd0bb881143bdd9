import AlmanacTestSupport
import AlmanacClient
import AlmanacKeyspace
import AlmanacShardMap
import Foundation
import Synchronization
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Segment hand-offs (split and merge) on real processes under a steady client load, with the
/// driving process (`almanac ctl reshard ...`) SIGKILLed at random points and nodes SIGKILLed and
/// restarted during hand-offs; `ctl reshard resume` finishes or rolls back what the dead driver
/// left. Pass: every acknowledged create is present exactly once, nothing was applied twice (no
/// create of a fresh name ever answered EEXIST), no intent stays in the map, every segment's
/// records answer from the shard the map names, and `ctl check` is clean.
@Suite("Segment hand-offs under load with SIGKILL (real processes)", .serialized, .timeLimit(.minutes(6)))
struct SegmentHandoffKillTests {
    static let workers = 3
    static let seeds = 150
    /// The driver is SIGKILLed as soon as it reports reaching this phase (nil: left to finish).
    static let killPhases: [String?] = [nil, "recorded", "frozen", "copying", "activated", "committed", "released", "copying"]

    @Test("split and merge with the driver and nodes SIGKILLed: nothing acknowledged lost or applied twice; ctl check clean")
    func handOffsSurviveKills() async throws {
        let cluster = try await TestCluster.start(name: "handoff", shards: 4)
        defer { cluster.shutdown() }
        let admin = cluster.client()
        defer { Task { await admin.shutdown() } }
        _ = try await FailoverTests.waitForLeader(admin)
        let load = try await CreateLoad(admin, directories: 8, seeds: Self.seeds)
        load.start(cluster, workers: Self.workers)

        // Rounds alternate a split (the largest shard into an empty one) and a merge (the smallest
        // shard into the next), chosen from the map as the previous round left it. Each driver is
        // killed after a random delay (or left to finish); odd rounds also kill a node.
        var killedDrivers = 0
        for round in 0..<Self.killPhases.count {
            let map = try await Self.storedMap(cluster)
            let sizes = map.shards.keys.sorted().map { ($0, map.segments(of: $0).count) }
            let arguments: [String]
            if let empty = sizes.first(where: { $0.1 == 0 }), let largest = sizes.max(by: { $0.1 < $1.1 }) {
                arguments = ["split", "\(largest.0)", "--into", "\(empty.0)"]
            } else {
                let owning = sizes.filter { $0.1 > 0 }.sorted { ($0.1, $1.0) < ($1.1, $0.0) }
                guard owning.count >= 2 else { break }
                let into = owning.dropFirst().min { $0.0 < $1.0 }?.0 ?? 0
                arguments = ["merge", "\(owning[0].0)", "--into", "\(into)"]
            }
            let phase = Self.killPhases[round % Self.killPhases.count]
            let reached = Mutex(false)
            let output = Pipe()
            // Small pages and a pause after each step: the kill lands inside the step it aims at.
            let driver = try Self.ctl(cluster, ["reshard"] + arguments + ["--page-bytes", "2048", "--step-pause-ms", "150"], output: output)
            output.fileHandleForReading.readabilityHandler = { handle in
                let text = String(decoding: handle.availableData, as: UTF8.self)
                guard let phase, text.contains(": \(phase) ") else { return }
                if reached.withLock({ let first = !$0; $0 = true; return first }) { Glibc.kill(driver.processIdentifier, SIGKILL) }
            }
            let nodeKill: UInt64? = round % 3 == 2 ? UInt64(1 + round % 3) : nil
            if let nodeKill {
                try await Task.sleep(for: .milliseconds(Int.random(in: 50...400)))
                cluster.kill(nodeKill)
            }
            driver.waitUntilExit()
            output.fileHandleForReading.readabilityHandler = nil
            if driver.terminationReason == .uncaughtSignal { killedDrivers += 1 }
            if let nodeKill {
                try await Task.sleep(for: .milliseconds(500))
                try await cluster.restart(nodeKill)
            }
            // Resume until the map holds no intent (a node may still be electing).
            var resumed = false
            for _ in 0..<20 {
                let resume = try Self.ctl(cluster, ["reshard", "resume"])
                resume.waitUntilExit()
                if resume.terminationStatus == 0 { resumed = true; break }
                try await Task.sleep(for: .milliseconds(500))
            }
            #expect(resumed, "round \(round) (\(arguments)): ctl reshard resume never succeeded\n\(cluster.tail(1))")
            try await Task.sleep(for: .milliseconds(300))
        }
        try await Task.sleep(for: .seconds(1))
        await load.stop()

        let stored = try await Self.storedMap(cluster)
        #expect(stored.handoffs == [], "intents left in the map: \(stored.handoffs)")
        let total = try await load.verify(cluster)
        #expect(total > 50, "the load barely ran: \(total) acknowledged creates")
        #expect(killedDrivers >= 4, "only \(killedDrivers) drivers were killed at a phase boundary")
        var clean = false
        for _ in 0..<10 {
            let check = try Self.ctl(cluster, ["check"])
            check.waitUntilExit()
            if check.terminationStatus == 0 { clean = true; break }
            try await Task.sleep(for: .seconds(1))
        }
        #expect(clean, "ctl check never came back clean")
        print("hand-off kill test: \(total) acknowledged creates, \(load.snapshot.failures) uncertain, \(killedDrivers) drivers killed")
    }

    /// Runs `ctl check` until it comes back clean (at most `attempts`, a second apart): whether it
    /// did, and the last check's output.
    static func checkUntilClean(_ cluster: TestCluster, attempts: Int = 15) async throws -> (clean: Bool, output: String) {
        var output = ""
        for _ in 0..<attempts {
            let pipe = Pipe()
            let check = try ctl(cluster, ["check"], output: pipe)
            output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            check.waitUntilExit()
            if check.terminationStatus == 0 { return (true, output) }
            try await Task.sleep(for: .seconds(1))
        }
        return (false, output)
    }

    static func storedMap(_ cluster: TestCluster, clusterID: String = "it-handoff") async throws -> ShardMap {
        let store = try EmbeddedShardMapStore(endpoints: cluster.endpoints, clusterID: clusterID)
        defer { Task { await store.shutdown() } }
        for _ in 0..<20 {
            if let stored = try? await store.load() { return stored.map }
            try await Task.sleep(for: .milliseconds(500))
        }
        throw ClusterError("the shard map store never answered")
    }

    /// Starts `almanac ctl ARGS` against the cluster (plaintext, no tokens), output to the test log.
    static func ctl(_ cluster: TestCluster, _ arguments: [String], clusterID: String = "it-handoff", output: Pipe? = nil) throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: cluster.binary)
        var args = ["ctl"] + arguments + ["--endpoints", cluster.endpoints.joined(separator: ",")]
        if arguments.first == "reshard" || arguments.first == "migrate" { args += ["--cluster-id", clusterID] }
        process.arguments = args
        var environment = ProcessInfo.processInfo.environment
        environment.removeValue(forKey: "ALMANAC_TOKEN_KEY")
        environment.removeValue(forKey: "ALMANAC_TOKEN")
        environment.removeValue(forKey: "ALMANAC_CA")
        process.environment = environment
        process.standardInput = FileHandle.nullDevice
        if let output { process.standardOutput = output }
        try process.run()
        return process
    }
}
