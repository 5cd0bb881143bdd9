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
}
