import AlmanacRaft
import Testing
@testable import AlmanacSimulation

@Suite struct ClusterSimulationTests {
    @Test func sameSeedGivesIdenticalTrace() {
        let options = SimulationOptions(seed: 12_345, steps: 4_000, nodeCount: 5)
        let first = ClusterSimulation.run(options)
        let second = ClusterSimulation.run(options)
        #expect(first.traceHash == second.traceHash)
        #expect(first.stats == second.stats)
        #expect(first.violation == second.violation)
    }

    @Test func differentSeedsGiveDifferentTraces() {
        let a = ClusterSimulation.run(SimulationOptions(seed: 1, steps: 2_000))
        let b = ClusterSimulation.run(SimulationOptions(seed: 2, steps: 2_000))
        #expect(a.traceHash != b.traceHash)
    }

    @Test func eventLogDoesNotChangeTheRun() {
        var options = SimulationOptions(seed: 99, steps: 3_000)
        let plain = ClusterSimulation.run(options)
        options.eventLogLength = 50
        let logged = ClusterSimulation.run(options)
        #expect(plain.traceHash == logged.traceHash)
        #expect(!logged.eventLog.isEmpty)
        #expect(plain.eventLog.isEmpty)
    }

    @Test(arguments: [3, 5])
    func faultFreeClusterServesClients(nodes: Int) {
        let report = ClusterSimulation.run(SimulationOptions(seed: 7, steps: 10_000, nodeCount: nodes,
                                                             injectFaults: false, reconfigure: false))
        #expect(report.violation == nil, "\(report.summary)")
        #expect(report.stats.writesAcknowledged > 100)
        #expect(report.stats.readsCompleted > 50)
        #expect(report.stats.applicationSnapshots > 0)
        #expect(report.stats.crashes == 0)
    }

    /// The fault schedule really exercises every kind of fault and reconfiguration.
    @Test func faultScheduleExercisesEveryFaultKind() {
        var total = SimulationStats()
        for seed in UInt64(1)...6 {
            let s = ClusterSimulation.run(SimulationBudget.options(seed: seed)).stats
            total.crashes += s.crashes
            total.tornCrashes += s.tornCrashes
            total.partitions += s.partitions
            total.membershipChanges += s.membershipChanges
            total.transfers += s.transfers
            total.applicationSnapshots += s.applicationSnapshots
            total.snapshotsInstalled += s.snapshotsInstalled
            total.messagesDropped += s.messagesDropped
            total.messagesDuplicated += s.messagesDuplicated
            total.writesAcknowledged += s.writesAcknowledged
            total.readsCompleted += s.readsCompleted
            total.leadersElected += s.leadersElected
        }
        #expect(total.crashes > 0)
        #expect(total.tornCrashes > 0)
        #expect(total.partitions > 0)
        #expect(total.membershipChanges > 0)
        #expect(total.transfers > 0)
        #expect(total.applicationSnapshots > 0)
        #expect(total.snapshotsInstalled > 0)
        #expect(total.messagesDropped > 0)
        #expect(total.messagesDuplicated > 0)
        #expect(total.writesAcknowledged > 0)
        #expect(total.readsCompleted > 0)
        #expect(total.leadersElected > 6)
    }

    @Test func reproduceCommandNamesEveryOption() {
        let options = SimulationOptions(seed: 42, steps: 777, nodeCount: 5, fault: .learnerVotes)
        #expect(options.reproduceCommand
            == "swift run almanac simulate --seed 42 --steps 777 --nodes 5 --fault learnerVotes")
    }
}

/// The CI budget: every seed must run its fault schedule and liveness phase without a violation.
@Suite struct SimulationBudgetTests {
    @Test(arguments: SimulationBudget.ciSeeds)
    func seedHasNoViolation(seed: UInt64) {
        let report = ClusterSimulation.run(SimulationBudget.options(seed: seed))
        #expect(report.violation == nil, "\(report.summary)")
        #expect(report.stats.faultSteps == SimulationBudget.ciSteps)
        #expect(!report.stats.linearizabilityInconclusive, "\(report.summary)")
    }
}

/// Proof that the checks bite: with each deliberately broken Raft rule, some seed of the CI budget
/// must produce a violation.
@Suite struct SafetyFaultDetectionTests {
    @Test(arguments: SafetyFault.allCases)
    func simulatorCatchesBrokenRule(fault: SafetyFault) {
        var caught: SimulationReport?
        var tried = 0
        for seed in SimulationBudget.ciSeeds {
            tried += 1
            let report = ClusterSimulation.run(SimulationBudget.options(seed: seed, fault: fault))
            if !report.passed {
                caught = report
                break
            }
        }
        #expect(caught != nil, "no violation found for \(fault.rawValue) in \(tried) seeds")
        if let caught { print("\(fault.rawValue): caught after \(tried) seeds: \(caught.summary)") }
    }
}

/// The checkers themselves fire on hand-made bad states (independent of the Raft core).
@Suite struct CheckerUnitTests {
    func simulation() -> ClusterSimulation { ClusterSimulation(options: SimulationOptions(seed: 1, steps: 1)) }

    @Test func divergentAppliedEntriesBreakStateMachineSafety() {
        var sim = simulation()
        sim.recordApplied(0, index: 1, term: 1, digest: 10)
        sim.recordApplied(1, index: 1, term: 1, digest: 10)
        #expect(sim.violation == nil)
        sim.recordApplied(2, index: 1, term: 2, digest: 11)
        #expect(sim.violation?.invariant == .stateMachineSafety)
    }

    @Test func conflictingEntriesBreakLogMatching() {
        var sim = simulation()
        sim.replicas[0].disk.write([.entries([Entry(term: 1, index: 1, data: [1])])])
        sim.checkLogMatching(0, written: [Entry(term: 1, index: 1, data: [1])])
        sim.replicas[1].disk.write([.entries([Entry(term: 1, index: 1, data: [2])])])
        sim.checkLogMatching(1, written: [Entry(term: 1, index: 1, data: [2])])
        #expect(sim.violation?.invariant == .logMatching)
    }

    @Test func overwritingACommittedEntryIsCaught() {
        var sim = simulation()
        sim.replicas[0].disk.write([.entries([Entry(term: 1, index: 1), Entry(term: 1, index: 2)])])
        sim.recordApplied(1, index: 1, term: 1, digest: 5)
        sim.recordApplied(1, index: 2, term: 1, digest: 6)
        sim.checkCommittedEntriesKept(0, overwrittenBy: [Entry(term: 2, index: 2)])
        #expect(sim.violation?.invariant == .committedEntryKept)
    }

    @Test func staleReadInHistoryIsCaught() {
        var sim = simulation()
        sim.history = [
            KeyValueOperation(key: 0, kind: .write(value: 5), invoked: 0, completed: 10),
            KeyValueOperation(key: 0, kind: .read(value: 0), invoked: 20, completed: 30),
        ]
        sim.finalChecks()
        #expect(sim.violation?.invariant == .linearizableReads)
    }
}
