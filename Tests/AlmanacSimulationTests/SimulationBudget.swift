import AlmanacRaft
import AlmanacSimulation

/// The fixed seed budget `swift test` runs (see docs/simulation.md).
enum SimulationBudget {
    /// Seeds 1...300; odd seeds run 3 voters, even seeds 5.
    static let ciSeeds: [UInt64] = Array(1...300)
    static let ciSteps = 10_000

    static func nodes(for seed: UInt64) -> Int { seed % 2 == 0 ? 5 : 3 }

    static func options(seed: UInt64, fault: SafetyFault? = nil) -> SimulationOptions {
        SimulationOptions(seed: seed, steps: ciSteps, nodeCount: nodes(for: seed), fault: fault)
    }

    /// The invariant the first failing run among `seeds` broke, or nil: a broken rule must be
    /// caught within the first seeds.
    static func firstViolation(seeds: some Sequence<UInt64>, options: (UInt64) -> SimulationOptions) -> Invariant? {
        for seed in seeds {
            if let violation = ClusterSimulation.run(options(seed)).violation { return violation.invariant }
        }
        return nil
    }

    /// Whether two runs of `options` are identical (trace and counters).
    static func runsIdentically(_ options: SimulationOptions) -> Bool {
        let first = ClusterSimulation.run(options)
        let second = ClusterSimulation.run(options)
        return first.traceHash == second.traceHash && first.stats == second.stats
    }
}
