import AlmanacRaft
import AlmanacSimulation
import Testing

/// Potential entries in the deterministic simulator: leaders journal predicted writes ahead, real
/// writes confirm them, by the metadata state machine's and the server's rules
/// (`AlmanacPotentialEntries`), under the simulator's faults plus crashes and partitions timed to
/// each step of a prediction (docs/simulation.md, "Potential entries").
@Suite("Potential entries in the simulator")
struct PotentialEntrySimulationTests {
    static let seeds: [UInt64] = Array(1...80)

    static func options(seed: UInt64, asyncClients: Int = 0, fault: PotentialEntryFault? = nil) -> SimulationOptions {
        SimulationOptions(seed: seed, steps: SimulationBudget.ciSteps, nodeCount: SimulationBudget.nodes(for: seed),
                          asyncClients: asyncClients, predictiveClients: 3, potentialFault: fault)
    }

    /// No phantom write, no acknowledged write lost or applied twice, every replica in the same
    /// state (pending set included), the history linearizable; half the seeds also run async
    /// clients, whose leaders' state ahead must apply potential entries as the commit does.
    @Test(arguments: seeds)
    func noPhantomNoLostNoDoubleWriteAcrossCrashesAndLeaderChanges(seed: UInt64) {
        let report = ClusterSimulation.run(Self.options(seed: seed, asyncClients: seed % 2 == 0 ? 2 : 0))
        #expect(report.passed, "\(report.summary)")
    }

    /// The seeds reach every step of a prediction with a leader fault, refuse issues (the pending
    /// set is full) and confirmations (their issue expired, or was refused or lost), expire entries
    /// and make wrong predictions.
    @Test func theSeedsFaultEveryStepOfAPotentialEntry() {
        var total = SimulationStats()
        for seed in Self.seeds.prefix(40) {
            let stats = ClusterSimulation.run(Self.options(seed: seed)).stats
            total.potentialIssuesRecorded += stats.potentialIssuesRecorded
            total.potentialIssuesRefused += stats.potentialIssuesRefused
            total.potentialWrongPredictions += stats.potentialWrongPredictions
            total.potentialConfirmed += stats.potentialConfirmed
            total.potentialConfirmationsRefused += stats.potentialConfirmationsRefused
            total.potentialExpired += stats.potentialExpired
            total.predictedWritesAnswered += stats.predictedWritesAnswered
            total.potentialLeaderFaultsIssueInFlight += stats.potentialLeaderFaultsIssueInFlight
            total.potentialLeaderFaultsIssuedUnconfirmed += stats.potentialLeaderFaultsIssuedUnconfirmed
            total.potentialLeaderFaultsConfirmationInFlight += stats.potentialLeaderFaultsConfirmationInFlight
        }
        #expect(total.potentialConfirmed > 500, "confirmed: \(total.potentialConfirmed)")
        #expect(total.potentialWrongPredictions > 100)
        #expect(total.potentialIssuesRefused > 0, "no issue was refused (the pending set was never full)")
        #expect(total.potentialConfirmationsRefused > 20, "refused confirmations: \(total.potentialConfirmationsRefused)")
        #expect(total.potentialExpired > 100)
        #expect(total.potentialLeaderFaultsIssueInFlight > 0, "no leader fault caught an issue before its commit")
        #expect(total.potentialLeaderFaultsIssuedUnconfirmed > 0, "no leader fault caught an issue committed and unconfirmed")
        #expect(total.potentialLeaderFaultsConfirmationInFlight > 0, "no leader fault caught a confirmation before its commit")
    }

    /// Each broken rule makes a checker fail within the first seeds: the checkers can fail.
    @Test(arguments: PotentialEntryFault.allCases)
    func aBrokenRuleIsCaught(fault: PotentialEntryFault) {
        let expected: Invariant = switch fault {
        case .issueApplies: .potentialEntryInvisible
        case .confirmSkipsSessionCheck: .exactlyOnce
        case .sweepByLocalClock: .stateMachineSafety
        case .refusalAnswered: .acknowledgedPredictedWriteApplied
        }
        let caught = SimulationBudget.firstViolation(seeds: Self.seeds.prefix(30)) { Self.options(seed: $0, fault: fault) }
        #expect(caught == expected, "\(fault.rawValue): caught \(caught.map(\.rawValue) ?? "nothing")")
    }

    @Test func sameSeedGivesIdenticalTraceWithPredictiveClients() {
        #expect(SimulationBudget.runsIdentically(Self.options(seed: 12)))
        #expect(Self.options(seed: 12).reproduceCommand.contains("--predictive-clients 3"))
    }
}
