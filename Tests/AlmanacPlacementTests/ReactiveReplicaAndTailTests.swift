import AlmanacKeyspace
import Foundation
import Testing
@testable import AlmanacPlacement
import AlmanacPlacementSimulation

@Suite struct ReactiveReplicaAndTailTests {
    let topo: Topology
    init() throws { topo = try Fixture.topology() }

    func map(_ zones: [ZoneIndex], segments: Int = 1) throws -> ShardLayout {
        let k = try SegmentKeying(segmentCount: segments)
        return try ShardLayout(keying: k, segmentsPerShard: 1, voters: zones.map { ReplicaPlacement(zone: $0, node: $0) }, leader: zones[0], topology: topo)
    }

    func view(_ m: ShardLayout, time: Double, reads: [Double], moves: [ReplicaMove] = []) -> PlacementView {
        PlacementView(time: time, stepSeconds: 30, map: m, topology: topo, moves: moves, failedMoves: [], completedMoveSeconds: [],
                      stepOps: [0: reads], segmentReads: [reads], segmentWrites: [Array(repeating: 0, count: 6)],
                      nodeUtilization: Array(repeating: 0.1, count: 6), bytesPerSegment: 1e9)
    }

    @Test func reactiveMovesReplicasAfterTheLoadShiftedAndCommitsWhenReady() throws {
        let m = try map([0, 1, 2])
        var c = ReactiveConfig()
        c.replicas = ReactiveReplicaConfig()
        var r = ReactivePolicy(config: c, latency: LatencyModel(serviceTimeMs: 0.5))
        #expect(r.name == "reactive")
        let ap = [3.0, 3, 2, 2, 3000, 60]
        // Before the replica window has seen the shift it only follows with leases (none helps here).
        var prepared: [ReplicaMove] = []
        var t = 30.0
        while t <= 600, prepared.isEmpty {
            for a in r.decide(view(m, time: t, reads: ap)) { if case .prepareReplicaMove(let mv) = a { prepared.append(mv) } }
            t += 30
        }
        // Two voters move to ap-a and ap-b (a single one would still commit across the ocean).
        #expect(Set(prepared.map(\.add.zone)) == [4, 5])
        #expect(Set(prepared.map(\.removeZone)).isSubset(of: [0, 1, 2]) && prepared.count == 2)
        // Not again while in cooldown / in flight.
        let inflight = prepared
        #expect(!r.decide(view(m, time: t, reads: ap, moves: inflight)).contains { if case .prepareReplicaMove = $0 { return true } else { return false } })
        // Both ready: commit both, the last one with the leader on an ap node.
        let ready = prepared.map { var x = $0; x.state = .prepared(readyAt: t); return x }
        let acts = r.decide(view(m, time: t + 30, reads: ap, moves: ready))
        let commits = acts.compactMap { a -> (MoveID, NodeIndex?)? in if case .commitReplicaMove(let id, let l) = a { return (id, l) } else { return nil } }
        #expect(commits.count == 2)
        #expect(commits.last?.1.map { topo.nodes[$0].zone } == 4)
    }

    @Test func leaseOnlyReactiveNeverMovesReplicas() throws {
        let m = try map([0, 1, 2])
        var r = ReactivePolicy(config: ReactiveConfig(), latency: LatencyModel(serviceTimeMs: 0.5))
        #expect(r.name == "reactive-leases")
        for k in 1...40 {
            #expect(!r.decide(view(m, time: Double(k) * 30, reads: [3, 3, 2, 2, 3000, 60])).contains { if case .prepareReplicaMove = $0 { return true } else { return false } })
        }
    }

    @Test func steadyLoadWhereVotersAlreadyServeMakesNoReplicaMoves() throws {
        let m = try map([0, 1, 2])
        var c = ReactiveConfig()
        c.replicas = ReactiveReplicaConfig()
        var r = ReactivePolicy(config: c, latency: LatencyModel(serviceTimeMs: 0.5))
        for k in 1...60 { #expect(r.decide(view(m, time: Double(k) * 30, reads: [3000, 60, 100, 100, 100, 100])).isEmpty) }
    }

    @Test func tailBoundIsTheWeightedQuantileAndTheBudgetGoesToTheBestRatio() throws {
        #expect(TailBudget.weightedQuantile([(10, 98), (100, 1), (200, 1)], 0.99) == 100)
        #expect(TailBudget.weightedQuantile([(10, 98), (100, 1), (200, 1)], 0.985) == 100)
        #expect(TailBudget.weightedQuantile([(10, 98), (100, 1), (200, 2)], 0.99) == 200)
        var tb = TailBudget(quantile: 0.99, budgetFraction: 1)
        // Home placement tail bound 152 ms (ap clients led from us).
        tb.setBound(observed: [(2.5, 90), (152, 10)])
        #expect(tb.boundMs == 152)
        let m = try map([0, 1, 2], segments: 2)
        // Shard 0: 97% ap, 3% eu -> leading from ap sends 3% of its ops above the bound.
        // Shard 1: 99.5% ap, 0.5% eu -> only 0.5%. The budget (1% of all ops) admits shard 1 only.
        let f0 = Fixture.forecast(Array(repeating: [0, 0, 30, 0, 970, 0], count: 4))
        let f1 = Fixture.forecast(Array(repeating: [0, 0, 5, 0, 995, 0], count: 4))
        let outs = [ShardOutlook(shard: m.shards[0], forecast: f0), ShardOutlook(shard: m.shards[1], forecast: f1)]
        tb.allocate(outlooks: outs, topology: topo, latency: LatencyModel(serviceTimeMs: 0.5), replicationFactor: 3)
        #expect(tb.admitted == [m.shards[1].id])
        let base = try MigrationPlanner(config: MigrationPlannerConfig(), topology: topo, latency: LatencyModel(serviceTimeMs: 0.5), replicationFactor: 3)
        #expect(tb.planner(base, for: m.shards[1].id).config.tailBoundMs == nil)
        #expect(tb.planner(base, for: m.shards[0].id).config.tailBoundMs == 152)
        // The penalised planner does not move shard 0's voters to ap (eu clients would pay 202 ms > 152 ms).
        let p0 = tb.planner(base, for: m.shards[0].id)
        let load = p0.nodeLoads(outlooks: outs, horizon: 4)
        let plan = p0.planMigration(outlook: outs[0], nodeLoad: load, leadTimeSeconds: 0, now: 0, history: .init(), movesInFlight: 0, pendingMoves: [], bytes: 1e9)
        if case .prepareMoves(let mv) = plan.decision {
            let zones = Set(m.shards[0].voterZones).subtracting(mv.map(\.removeZone)).union(mv.map(\.add.zone))
            #expect(!(zones.contains(4) && zones.contains(5)), "tail-penalised plan moved to \(zones)")
        }
    }

    @Test func lsmmDoesNotMergeWhatTheForecastSaysWillBeHot() throws {
        let k = try SegmentKeying(segmentCount: 4)
        let m = try ShardLayout(keying: k, segmentsPerShard: 1, voters: [0, 1, 2].map { ReplicaPlacement(zone: $0, node: $0) }, leader: 0, topology: topo)
        var a = try ShardAssigner(config: ReshardingConfig(splitThresholdOpsPerSec: 100, consecutiveHotBuckets: 2, mergeColdBuckets: 2, cooldownSeconds: 0))
        for _ in 0..<3 { a.observe(loads: [1, 1, 1, 1], map: m) }
        let all = a.triggerResharding(map: m, now: 0)
        #expect(all.count >= 2)
        // Segment 1 is forecast hot (two buckets above the threshold): no merge touches shards 0-1 or 1-2.
        a.setForecast(loads: [[1, 1], [150, 160], [1, 1], [1, 1]])
        #expect(a.forecastHot == [1])
        let ops = a.triggerResharding(map: m, now: 0)
        for op in ops {
            if case .merge(let b, _) = op { #expect(b != 1 && b != 2, "merge at \(b) would be undone") }
        }
        #expect(ops.contains { if case .merge(3, _) = $0 { return true } else { return false } })
        // A single hot bucket is not a forecast split.
        a.setForecast(loads: [[1, 1], [150, 1], [1, 1], [1, 1]])
        #expect(a.forecastHot.isEmpty)
    }
}

/// LSMM's merge guard on the predictive policy (issue 13 item 5): merges the coming season would undo are not made.
@Suite struct MergeGuardTests {
    @Test func seasonalEnvelopeTakesTheHighestLoadAtEachTimeOfDay() {
        // Three buckets per season; a partial oldest season (the leading 9) is ignored.
        let history: [Double] = [9, 1, 5, 2, 4, 1, 3]
        #expect(PredictivePolicy.seasonalEnvelope(history: history, season: 3) == [4, 5, 3])
        #expect(PredictivePolicy.seasonalEnvelope(history: Array(history.suffix(3)), season: 3) == [4, 1, 3])
        #expect(PredictivePolicy.seasonalEnvelope(history: [1, 2], season: 3).isEmpty)
    }

    /// Eight segments whose load follows a working day: above the split threshold for 8 hours, far below the merge
    /// threshold at night (two shapes, shifted by 4 hours). Without the guard LSMM merges cold neighbours every night
    /// and splits them again the next morning; with the default guard it makes no merge that a split undoes.
    @Test func theGuardStopsTheDiurnalChurn() throws {
        var (sc, _) = try Fixture.scenario("diurnal-hot-set.json")
        sc.segmentCount = 8
        sc.durationHours = 84
        sc.warmupHours = 48
        sc.stepSeconds = 300
        sc.forecaster = "seasonal-naive"
        sc.loads = [sc.loads[0]]
        sc.loads[0].segmentCount = 8
        sc.loads[0].files = ["day-a.csv", "day-b.csv"]
        func day(shift: Int) -> String {
            var lines = ["timestamp,value"]
            for h in 0..<(24 * 10) {
                let hour = (h + shift) % 24
                let value = (9..<17).contains(hour) ? 2.4 : 0.15
                lines.append(String(format: "2024-01-%02d %02d:00:00,%.3f", 1 + h / 24, h % 24, value * 1000))
            }
            return lines.joined(separator: "\n")
        }
        let files = ["day-a.csv": day(shift: 0), "day-b.csv": day(shift: 4)]
        let read: (String) throws -> String = { name in
            guard let text = files[name] else { throw PlacementError.invalidConfiguration("no file \(name)") }
            return text
        }
        sc.mergeGuardSeasons = 0
        let off = try PlacementSimulator(scenario: sc, readFile: read).run(.predictive)
        sc.mergeGuardSeasons = nil
        let on = try PlacementSimulator(scenario: sc, readFile: read).run(.predictive)
        #expect(off.merges > 0 && off.mergesUndone > 0, "without the guard: \(off.splits) splits, \(off.merges) merges, \(off.mergesUndone) undone")
        #expect(on.mergesUndone == 0, "with the guard: \(on.mergesUndone) merges undone")
        #expect(on.splits + on.merges < off.splits + off.merges)
        #expect(on.meanShards >= off.meanShards, "the guard keeps shards apart, it never merges more")
        #expect(off.mapViolations.isEmpty && on.mapViolations.isEmpty)
    }

    @Test func aNegativeGuardIsATypedError() throws {
        var (sc, read) = try Fixture.scenario("steady-uniform.json")
        sc.mergeGuardSeasons = -1
        #expect(throws: PlacementError.self) { try PlacementSimulator(scenario: sc, readFile: read).makePredictive() }
    }
}
