import AlmanacClient
import AlmanacSimulation
import AlmanacWire
import ArgumentParser
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// `almanac chaos`: a Jepsen-style run against real `almanac serve` processes in network namespaces
/// (bench/chaos.sh sets up the namespaces and file systems and starts this inside the client
/// namespace). See docs/reliability.md.
struct ChaosCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "chaos",
        abstract: "Fault injection on a real 3-zone cluster with history checkers (run by bench/chaos.sh, as root).")

    @Option(help: "Faults to inject.") var faults = 100
    @Option(help: "Seed of the fault schedule and the workload.") var seed: UInt64 = 1
    @Option(help: "Concurrent clients.") var clients = 4
    @Option(help: "Shared register files.") var registers = 8
    @Option(help: "Shards (Raft groups) per node.") var shards = 1
    @Option(help: "Working directory: node<N> (mount points), logs.") var root: String
    @Option(help: "The zones' network namespaces, comma-separated.") var namespaces = "pb-az1,pb-az2,pb-az3"
    @Option(help: "The zones' addresses, comma-separated.") var addresses = "10.99.0.1,10.99.0.2,10.99.0.3"
    @Option(help: "bench/chaos-net.sh, for delay spikes (`delay MS`); empty: none.") var delayTool = ""
    @Flag(help: "root/node<N> are file systems of their own: inject disk stalls with fsfreeze.") var diskStalls = false
    @Option(help: "Longest hold of a fault, milliseconds (holds are uniform in [hold/4, hold]).") var maxHoldMs = 2000
    @Option(help: "Stop injecting after this many minutes even if fewer faults were injected (0: no limit).") var maxMinutes = 0
    @Option(help: "Write the JSON report here.") var report: String?
    @Option(help: "The almanac binary for the nodes (default: this one).") var binary: String?
    @Option(help: "The clients' largest pause between retries while a shard has no leader, milliseconds (AlmanacClientConfiguration.maxElectionBackoff).")
    var maxElectionBackoffMs: Int64 = 100
    @Option(help: "Fault kinds to draw from, comma-separated (default: every kind this run can inject: \(ChaosFaultKind.allCases.map(\.rawValue).joined(separator: ", "))).")
    var kinds: String?

    func run() async throws {
        let namespaceList = namespaces.split(separator: ",").map(String.init)
        let addressList = addresses.split(separator: ",").map(String.init)
        guard namespaceList.count == 3, addressList.count == 3 else { throw ValidationError("three namespaces and three addresses") }
        for namespace in namespaceList where !FileManager.default.fileExists(atPath: "/var/run/netns/\(namespace)") {
            throw ChaosError("network namespace \(namespace) does not exist (bench/chaos.sh creates them)")
        }
        let executable = binary ?? (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        let cluster = try ChaosCluster(binary: executable, root: root, namespaces: namespaceList, addresses: addressList,
                                       shards: shards, snapshotEvery: 500)
        let nemesis = ChaosNemesis(cluster: cluster, delayTool: delayTool.isEmpty ? nil : delayTool, diskStalls: diskStalls)
        let kinds = try chosenKinds(available: nemesis.kinds)  // refused before any node starts
        nemesis.healEverything()
        defer {
            nemesis.healEverything()
            cluster.shutdown()
        }
        for node in cluster.nodes { try await cluster.start(node.id) }
        log("cluster up: \(cluster.endpoints)")
        let outcome = try await drive(cluster: cluster, nemesis: nemesis, kinds: kinds)
        print(outcome.markdown)
        if let report {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            try encoder.encode(outcome).write(to: URL(fileURLWithPath: report))
        }
        if !outcome.violations.isEmpty { throw ExitCode(1) }
    }

    /// The kinds named by `--kinds` (all available ones without it); a kind this run cannot inject
    /// (delay spikes without the delay tool, disk stalls without their own file systems) is refused.
    private func chosenKinds(available: [ChaosFaultKind]) throws -> [ChaosFaultKind] {
        guard let kinds else { return available }
        let named = try kinds.split(separator: ",").map { name -> ChaosFaultKind in
            let trimmed = name.trimmingCharacters(in: .whitespaces)
            guard let kind = ChaosFaultKind(rawValue: trimmed) else {
                throw ValidationError("unknown fault kind '\(trimmed)'; known: \(ChaosFaultKind.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            guard available.contains(kind) else {
                throw ValidationError("fault kind '\(trimmed)' cannot be injected in this run (delay-spike needs --delay-tool, disk-stall --disk-stalls)")
            }
            return kind
        }
        guard !named.isEmpty else { throw ValidationError("--kinds names no fault kind") }
        return named
    }

    /// UTC wall-clock time with milliseconds, as in the nodes' JSON logs.
    static let wallClock = Date.ISO8601FormatStyle(timeZone: .gmt).time(includingFractionalSeconds: true)

    private func log(_ text: String) {
        FileHandle.standardError.write(Data("[chaos] \(text)\n".utf8))
    }

    private func makeClient(_ endpoints: [String], name: String, consistency: Almanac_Api_V1_ReadConsistency = .linearizable,
                            operationTimeout: Int64 = 15) -> AlmanacClient {
        AlmanacClient(configuration: AlmanacClientConfiguration(
            endpoints: endpoints, attemptTimeout: .seconds(2), operationTimeout: .seconds(operationTimeout),
            consistency: consistency, clientName: name, maxElectionBackoff: .milliseconds(maxElectionBackoffMs)))
    }

    private func drive(cluster: ChaosCluster, nemesis: ChaosNemesis, kinds: [ChaosFaultKind]) async throws -> ChaosOutcome {
        let admin = makeClient(cluster.endpoints, name: "chaos-admin", operationTimeout: 60)
        defer { Task { await admin.shutdown() } }
        let directory = try await admin.mkdir(parent: rootInode, name: "chaos").inode
        var registerInodes: [UInt64] = []
        for k in 0..<registers { registerInodes.append(try await admin.create(parent: directory, name: "reg-\(k)").inode) }

        let workload = ChaosWorkload(directory: directory, registers: registerInodes, started: .now)
        let stop = ChaosStopFlag()
        let workers = (0..<clients).map { worker in
            let client = makeClient(cluster.endpoints, name: "chaos-\(worker)")
            return Task { () -> ChaosClientRecord in
                let record = await workload.run(worker: worker, client: client, seed: seed, stop: stop)
                await client.shutdown()
                return record
            }
        }

        var random = Xoshiro256StarStar.derived(seed: seed, stream: 1)
        var injected: [ChaosFault] = []
        log("nemesis: \(faults) faults from \(kinds.map(\.rawValue)), seed \(seed)")
        var failure: Error?
        var selfExits: [String] = []
        do {
            let budgetEnd = ContinuousClock.now.advanced(by: .seconds(maxMinutes * 60))
            for index in 0..<faults {
                if maxMinutes > 0 && ContinuousClock.now >= budgetEnd {
                    log("time budget of \(maxMinutes) min spent after \(index) faults")
                    break
                }
                let kind = kinds[random.next(below: kinds.count)]
                let leader = await shardLeader(admin)
                let target: UInt64 = (random.next(below: 2) == 0 && leader != 0) ? leader : UInt64(1 + random.next(below: 3))
                let hold = Duration.milliseconds(maxHoldMs / 4 + random.next(below: max(1, maxHoldMs - maxHoldMs / 4)))
                let detail = try nemesis.inject(kind, target: target, random: &random)
                // Once the fault is in effect: iptables and fsfreeze take milliseconds to run, and a
                // write invoked before they finish may complete as if nothing happened, which made
                // partitions of the leader's zone look recovered within milliseconds.
                let injectedAt = workload.now()
                let injectedWall = Date()  // for reading the nodes' logs beside this one
                try await Task.sleep(for: hold)
                try await nemesis.heal(kind, target: target)
                let healedAt = workload.now()
                injected.append(ChaosFault(kind: kind, target: target, targetWasLeader: target == leader,
                                           injectedAt: injectedAt, healedAt: healedAt, detail: detail))
                log("fault \(index + 1)/\(faults) at \(injectedWall.formatted(Self.wallClock)): \(kind.rawValue) on node \(target)\(target == leader ? " (leader)" : ""): \(detail), held \(hold)")
                // A node that exited by itself (not killed by the nemesis) is a finding; it is restarted.
                for (node, status) in cluster.exited() {
                    selfExits.append("node \(node) exited by itself with status \(status) after fault \(index + 1) (\(kind.rawValue))")
                    log(selfExits[selfExits.count - 1])
                    try await cluster.start(node)
                }
                // Each fault's recovery is its own: the next fault waits until the cluster takes a
                // write again (a probe outside the checked directory), then for a quiet gap.
                // Without the wait a fault could land on a leader elected a moment before, and its
                // outage was counted in the previous fault's recovery.
                do {
                    _ = try await admin.mkdir(parent: rootInode, name: "probe-\(index + 1)")
                } catch {
                    log("fault \(index + 1): no write taken within the probe's deadline after healing: \(error)")
                }
                // A quiet gap.
                try await Task.sleep(for: .milliseconds(300 + random.next(below: 700)))
            }
        } catch {
            failure = error
        }
        nemesis.healEverything()
        // Writes keep going for a while after the last fault, then stop.
        try await Task.sleep(for: .seconds(2))
        stop.set()
        var records: [ChaosClientRecord] = []
        for worker in workers { records.append(await worker.value) }
        if let failure { throw ChaosError("the nemesis failed after \(injected.count) faults: \(failure)") }
        log("workload stopped; checking")
        var outcome = await check(cluster: cluster, admin: admin, workload: workload, records: records, faults: injected)
        outcome.violations.append(contentsOf: selfExits)
        return outcome
    }

    /// Shard 0's leader as the cluster reports it (0 when unknown).
    private func shardLeader(_ client: AlmanacClient) async -> UInt64 {
        guard let status = try? await client.status() else { return 0 }
        return status.shards.first { $0.shardID == 0 }?.leaderNodeID ?? 0
    }

    private func check(cluster: ChaosCluster, admin: AlmanacClient, workload: ChaosWorkload, records: [ChaosClientRecord],
                       faults: [ChaosFault]) async -> ChaosOutcome {
        var violations = records.flatMap(\.violations)
        // Final reads of every register join the history: the last value must be a linearizable one.
        var history = records.flatMap(\.registerHistory)
        for (key, inode) in workload.registers.enumerated() {
            let invoked = workload.now()
            do throws(AlmanacClientError) {
                let attributes = try await admin.getattr(inode)
                history.append(KeyValueOperation(key: key, kind: .read(value: attributes.size), invoked: invoked, completed: workload.now()))
            } catch {
                violations.append("final read of reg-\(key) failed: \(error)")
            }
        }
        let linearizability: String
        switch LinearizabilityChecker.check(history) {
        case .linearizable: linearizability = "linearizable"
        case .notLinearizable(let key):
            linearizability = "NOT linearizable (reg-\(key))"
            violations.append("register reg-\(key): history is not linearizable")
        case .inconclusive(let key):
            linearizability = "inconclusive (reg-\(key))"
            violations.append("register reg-\(key): the checker's budget ran out")
        }

        // Lost and duplicated operations: the final listing against what was acknowledged.
        var listed: [String: Int] = [:]
        do {
            for entry in try await admin.readdir(workload.directory, pageSize: 500).collect() { listed[entry.name, default: 0] += 1 }
        } catch {
            violations.append("final listing failed: \(error)")
        }
        let present = records.reduce(into: Set<String>()) { $0.formUnion($1.present) }
        let removed = records.reduce(into: Set<String>()) { $0.formUnion($1.removed) }
        let uncertain = records.reduce(into: Set<String>()) { $0.formUnion($1.uncertain) }
        let registerNames = Set((0..<registers).map { "reg-\($0)" })
        for (name, count) in listed where count > 1 { violations.append("\(name) is listed \(count) times") }
        for name in present.subtracting(uncertain) where listed[name] == nil { violations.append("acknowledged create of \(name) is lost") }
        for name in registerNames where listed[name] == nil { violations.append("register file \(name) is lost") }
        for name in removed.subtracting(uncertain) where listed[name] != nil { violations.append("acknowledged unlink of \(name) is lost") }
        for name in listed.keys where !present.contains(name) && !uncertain.contains(name) && !registerNames.contains(name) {
            violations.append("\(name) exists but was never acknowledged (phantom or duplicated apply)")
        }

        let convergence = await awaitConvergence(cluster)
        violations.append(contentsOf: convergence)

        // Recovery: from each fault's injection to the first acknowledged write invoked after it.
        let acknowledged = records.flatMap(\.acknowledgedWrites).sorted { $0.invoked < $1.invoked }
        var recoveries: [ChaosOutcome.Recovery] = []
        for fault in faults {
            let first = acknowledged.lazy.filter { $0.invoked >= fault.injectedAt }.map(\.completed).min()
            recoveries.append(ChaosOutcome.Recovery(kind: fault.kind, leader: fault.targetWasLeader,
                                                    microseconds: first.map { $0 - fault.injectedAt }))
        }
        return ChaosOutcome(
            seed: seed, faults: faults, recoveries: recoveries,
            operations: history.count + records.reduce(0) { $0 + $1.present.count + $1.removed.count },
            registerOperations: history.count, acknowledgedWrites: acknowledged.count,
            unknownOutcomes: records.reduce(0) { $0 + $1.unknownOutcomes },
            namesChecked: present.count + removed.count, linearizability: linearizability,
            convergence: convergence.isEmpty ? "converged" : "DIVERGED", violations: violations)
    }

    /// Every node's own status, until all report the same applied index and state digest per shard.
    private func awaitConvergence(_ cluster: ChaosCluster) async -> [String] {
        let deadline = ContinuousClock.now.advanced(by: .seconds(60))
        var problems: [String] = []
        while ContinuousClock.now < deadline {
            problems = []
            var views: [UInt64: [UInt64: (UInt64, UInt64)]] = [:]
            for node in cluster.nodes {
                let client = makeClient([node.address], name: "chaos-status", consistency: .stale, operationTimeout: 3)
                let status = try? await client.status(stateDigests: true)
                await client.shutdown()
                guard let status, status.responderNodeID == node.id else {
                    problems.append("node \(node.id) did not answer its status")
                    continue
                }
                views[node.id] = Dictionary(status.shards.map { ($0.shardID, ($0.appliedIndex, $0.stateDigest)) }, uniquingKeysWith: { a, _ in a })
            }
            if problems.isEmpty {
                for shard in 0..<UInt64(shards) {
                    let seen = cluster.nodes.compactMap { views[$0.id]?[shard] }
                    if seen.count != cluster.nodes.count || Set(seen.map(\.0)).count != 1 || Set(seen.map(\.1)).count != 1 || seen.contains(where: { $0.1 == 0 }) {
                        problems.append("shard \(shard): applied/digest per node \(cluster.nodes.map { views[$0.id]?[shard].map { "\($0.0)/\(String($0.1, radix: 16))" } ?? "?" })")
                    }
                }
            }
            if problems.isEmpty { return [] }
            try? await Task.sleep(for: .milliseconds(500))
        }
        return problems
    }
}
