import AlmanacRaft
import AlmanacSimulation
import Testing

/// Async durability in the deterministic simulator: clients whose writes leaders answer ahead of
/// commit, by the node's and the client library's rules (`AlmanacAnswersAhead`), under the
/// simulator's faults plus crashes and partitions timed to each step of a write (docs/simulation.md,
/// "Async durability").
@Suite("Async durability in the simulator")
struct AsyncDurabilitySimulationTests {
    static let seeds: [UInt64] = Array(1...80)

    static func options(seed: UInt64, fault: AsyncDurabilityFault? = nil) -> SimulationOptions {
        SimulationOptions(seed: seed, steps: SimulationBudget.ciSteps, nodeCount: SimulationBudget.nodes(for: seed),
                          asyncClients: 3, asyncFault: fault)
    }

    @Test(arguments: seeds)
    func everyAnswerAheadIsItsCommitsResultAndNoAcknowledgedWriteOfALiveClientIsLost(seed: UInt64) {
        let report = ClusterSimulation.run(Self.options(seed: seed))
        #expect(report.passed, "\(report.summary)")
    }

    /// The seeds reach every step boundary of a write's life with a leader fault, lose writes with
    /// their leader and replay them, and crash clients holding unconfirmed writes.
    @Test func theSeedsFaultEveryStepOfAnAsyncWrite() {
        var total = SimulationStats()
        for seed in Self.seeds.prefix(40) {
            let stats = ClusterSimulation.run(Self.options(seed: seed)).stats
            total.asyncAnsweredAhead += stats.asyncAnsweredAhead
            total.asyncAnswersChecked += stats.asyncAnswersChecked
            total.asyncAnsweredAtCommit += stats.asyncAnsweredAtCommit
            total.asyncRefusedInWindow += stats.asyncRefusedInWindow
            total.asyncLeaderFaultsBeforePersist += stats.asyncLeaderFaultsBeforePersist
            total.asyncLeaderFaultsBeforeCommit += stats.asyncLeaderFaultsBeforeCommit
            total.asyncLeaderFaultsBeforeRelease += stats.asyncLeaderFaultsBeforeRelease
            total.asyncReplays += stats.asyncReplays
            total.asyncReplaysChanged += stats.asyncReplaysChanged
            total.asyncWritesExposedByClientCrash += stats.asyncWritesExposedByClientCrash
        }
        #expect(total.asyncAnswersChecked > 1_000, "answers ahead checked at commit: \(total.asyncAnswersChecked)")
        #expect(total.asyncAnsweredAtCommit > 0)
        #expect(total.asyncRefusedInWindow > 0)
        #expect(total.asyncLeaderFaultsBeforePersist > 0, "no leader fault caught an answer before its append was on disk")
        #expect(total.asyncLeaderFaultsBeforeCommit > 0, "no leader fault caught an answer before its commit")
        #expect(total.asyncLeaderFaultsBeforeRelease > 0, "no leader fault caught an answer committed but not yet released")
        #expect(total.asyncReplaysChanged > 0, "no replay re-executed a write lost with its leader")
        #expect(total.asyncReplays > total.asyncReplaysChanged, "no replay found its write durable")
        #expect(total.asyncWritesExposedByClientCrash > 0, "no client crashed holding unconfirmed writes")
    }

    /// Each broken rule makes a checker fail within the first seeds: the checkers can fail.
    @Test(arguments: AsyncDurabilityFault.allCases)
    func aBrokenRuleIsCaught(fault: AsyncDurabilityFault) {
        let expected: Invariant = switch fault {
        case .noReplay: .acknowledgedAsyncWriteApplied
        case .releaseWhateverTheTerm: .releasedWriteCommitted
        case .readsIgnoreAnswersAhead: .linearizableReads
        case .stateAheadSkipsOtherProposals: .answerAheadMatchesCommit
        }
        let caught = SimulationBudget.firstViolation(seeds: Self.seeds.prefix(30)) { Self.options(seed: $0, fault: fault) }
        #expect(caught == expected, "\(fault.rawValue): caught \(caught.map(\.rawValue) ?? "nothing")")
    }

    @Test func sameSeedGivesIdenticalTraceWithAsyncClients() {
        #expect(SimulationBudget.runsIdentically(Self.options(seed: 11)))
        #expect(Self.options(seed: 11).reproduceCommand.contains("--async-clients 3"))
    }
}
