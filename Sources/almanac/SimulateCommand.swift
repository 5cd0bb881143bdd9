import AlmanacRaft
import AlmanacSimulation
import ArgumentParser

/// `almanac simulate`: runs the deterministic whole-cluster Raft simulator for one seed or many.
struct SimulateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "simulate",
        abstract: "Run the deterministic Raft cluster simulator (one seed, or a soak over many seeds).",
        discussion: """
            Every run is a function of its options: a failed run prints its seed and the command that \
            replays it exactly. Exit code 1 when any seed finds a violation.
            """
    )

    @Option(help: "The seed of the (first) run.")
    var seed: UInt64 = 1

    @Option(help: "Soak mode: run this many consecutive seeds starting at --seed.")
    var seeds: Int = 1

    @Option(help: "Fault-phase steps (events) per run.")
    var steps: Int = 10_000

    @Option(help: "Initial voters (3 to 7).")
    var nodes: Int = 3

    @Option(help: "Deliberately broken Raft rule: \(SafetyFault.allCases.map(\.rawValue).joined(separator: ", ")).")
    var fault: String?

    @Option(help: "Clients writing with async durability (answered ahead of commit, replayed after a leader change); 0 runs none.")
    var asyncClients: Int = 0

    @Option(help: "Deliberately broken async-durability rule (with --async-clients): \(AsyncDurabilityFault.allCases.map(\.rawValue).joined(separator: ", ")).")
    var asyncFault: String?

    @Option(help: "Clients whose next writes leaders journal ahead as potential entries, confirmed by the real write; 0 runs none.")
    var predictiveClients: Int = 0

    @Option(help: "Deliberately broken potential-entry rule (with --predictive-clients): \(PotentialEntryFault.allCases.map(\.rawValue).joined(separator: ", ")).")
    var potentialFault: String?

    @Flag(inversion: .prefixedNo, help: "Let membership changes remove or demote the current leader itself.")
    var leaderRemoval = true

    @Option(help: "On failure (or always with --verbose), replay the seed and print its last N notable events.")
    var log: Int = 0

    @Flag(help: "Print a summary line for every seed, not only failures.")
    var verbose = false

    func validate() throws {
        guard seeds >= 1 else { throw ValidationError("--seeds must be at least 1") }
        guard log >= 0 else { throw ValidationError("--log must not be negative") }
        guard steps >= 1 else { throw ValidationError("--steps must be at least 1") }
        guard (3...7).contains(nodes) else { throw ValidationError("--nodes must be between 3 and 7") }
        if let fault, SafetyFault(rawValue: fault) == nil {
            throw ValidationError("unknown --fault '\(fault)'; expected one of \(SafetyFault.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        guard (0...64).contains(asyncClients) else { throw ValidationError("--async-clients must be between 0 and 64") }
        if let asyncFault {
            guard AsyncDurabilityFault(rawValue: asyncFault) != nil else {
                throw ValidationError("unknown --async-fault '\(asyncFault)'; expected one of \(AsyncDurabilityFault.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            guard asyncClients > 0 else { throw ValidationError("--async-fault needs --async-clients") }
        }
        guard (0...64).contains(predictiveClients) else { throw ValidationError("--predictive-clients must be between 0 and 64") }
        if let potentialFault {
            guard PotentialEntryFault(rawValue: potentialFault) != nil else {
                throw ValidationError("unknown --potential-fault '\(potentialFault)'; expected one of \(PotentialEntryFault.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            guard predictiveClients > 0 else { throw ValidationError("--potential-fault needs --predictive-clients") }
        }
    }

    func run() throws {
        let safetyFault = fault.flatMap(SafetyFault.init(rawValue:))
        var failures = 0
        for offset in 0..<seeds {
            let (runSeed, overflow) = seed.addingReportingOverflow(UInt64(offset))
            if overflow { break }
            let report = ClusterSimulation.run(
                SimulationOptions(seed: runSeed, steps: steps, nodeCount: nodes, fault: safetyFault,
                                  allowLeaderRemoval: leaderRemoval, asyncClients: asyncClients,
                                  asyncFault: asyncFault.flatMap(AsyncDurabilityFault.init(rawValue:)),
                                  predictiveClients: predictiveClients,
                                  potentialFault: potentialFault.flatMap(PotentialEntryFault.init(rawValue:))))
            if !report.passed { failures += 1 }
            if verbose || !report.passed || seeds == 1 { print(report.summary) }
            if (!report.passed || verbose) && log > 0 {
                var replay = report.options
                replay.eventLogLength = log
                for line in ClusterSimulation.run(replay).eventLog { print("    " + line) }
            }
        }
        print("\(seeds - failures)/\(seeds) seeds passed (\(steps) steps each, \(nodes) nodes\(safetyFault.map { ", fault \($0.rawValue)" } ?? ""))")
        if failures > 0 { throw ExitCode(1) }
    }
}
