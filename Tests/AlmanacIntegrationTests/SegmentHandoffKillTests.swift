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

    final class LoadState: Sendable {
        let ledger = Mutex(Ledger())
        let stopped = Mutex(false)
        var stop: Bool { stopped.withLock { $0 } }
    }

    struct Ledger: Sendable {
        var acknowledged: [String: Set<String>] = [:]
        var uncertain: [String: Set<String>] = [:]
        var doubleApplied: [String] = []
        var failures = 0
    }

    @Test("split and merge with the driver and nodes SIGKILLed: nothing acknowledged lost or applied twice; ctl check clean")
    func handOffsSurviveKills() async throws {
        let cluster = try await TestCluster.start(name: "handoff", shards: 4)
        defer { cluster.shutdown() }
        let admin = cluster.client()
        defer { Task { await admin.shutdown() } }
        _ = try await FailoverTests.waitForLeader(admin)
        var directories: [(String, UInt64)] = []
        for i in 0..<8 {
            let directory = try await admin.mkdir(parent: rootInode, name: "w\(i)")
            directories.append(("w\(i)", directory.inode))
            for j in 0..<Self.seeds { _ = try await admin.create(parent: directory.inode, name: "seed-\(j)-with-a-name-long-enough-to-fill-pages") }
        }
        let load = LoadState()
        let targets = directories
        let writers = (0..<Self.workers).map { worker in
            Task { [load, targets] in
                let client = cluster.client(operationTimeout: 20)
                defer { Task { await client.shutdown() } }
                var i = 0
                while !load.stop {
                    let (name, inode) = targets[(worker + i * Self.workers) % targets.count]
                    let file = "n-\(worker)-\(i)"
                    i += 1
                    do {
                        _ = try await client.create(parent: inode, name: file)
                        load.ledger.withLock { $0.acknowledged[name, default: []].insert(file) }
                    } catch let error as AlmanacClientError where error.code == .eexist {
                        load.ledger.withLock { $0.doubleApplied.append("\(name)/\(file)") }
                    } catch {
                        load.ledger.withLock { $0.uncertain[name, default: []].insert(file); $0.failures += 1 }
                        try? await Task.sleep(for: .milliseconds(100))
                    }
                }
            }
        }

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
        load.stopped.withLock { $0 = true }
        for writer in writers { await writer.value }

        let stored = try await Self.storedMap(cluster)
        #expect(stored.handoffs == [], "intents left in the map: \(stored.handoffs)")
        let final = load.ledger.withLock { $0 }
        #expect(final.doubleApplied == [], "creates applied twice: \(final.doubleApplied)")
        var total = 0
        let fresh = cluster.client()
        defer { Task { await fresh.shutdown() } }
        for (name, inode) in directories {
            let listed = try await fresh.readdir(inode).collect().map(\.name)
            #expect(listed.count == Set(listed).count)
            let present = Set(listed)
            let lost = final.acknowledged[name, default: []].subtracting(present)
            #expect(lost.isEmpty, "\(name): acknowledged creates lost: \(lost.sorted().prefix(5))")
            let unexplained = present.subtracting(final.acknowledged[name, default: []]).subtracting(final.uncertain[name, default: []])
                .filter { !$0.hasPrefix("seed-") }
            #expect(unexplained.isEmpty, "\(name): entries nobody created: \(unexplained.sorted().prefix(5))")
            for seed in 0..<Self.seeds { #expect(present.contains("seed-\(seed)-with-a-name-long-enough-to-fill-pages")) }
            // Every record answers from the shard the map names (getattr is routed by the map).
            _ = try await fresh.getattr(inode)
            total += final.acknowledged[name, default: []].count
        }
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
        print("hand-off kill test: \(total) acknowledged creates, \(final.failures) uncertain, \(killedDrivers) drivers killed")
    }

    static func storedMap(_ cluster: TestCluster) async throws -> ShardMap {
        let store = try EmbeddedShardMapStore(endpoints: cluster.endpoints, clusterID: "it-handoff")
        defer { Task { await store.shutdown() } }
        for _ in 0..<20 {
            if let stored = try? await store.load() { return stored.map }
            try await Task.sleep(for: .milliseconds(500))
        }
        throw ClusterError("the shard map store never answered")
    }

    /// Starts `almanac ctl ARGS` against the cluster (plaintext, no tokens), output to the test log.
    static func ctl(_ cluster: TestCluster, _ arguments: [String], output: Pipe? = nil) throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: cluster.binary)
        var args = ["ctl"] + arguments + ["--endpoints", cluster.endpoints.joined(separator: ",")]
        if arguments.first == "reshard" { args += ["--cluster-id", "it-handoff"] }
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
