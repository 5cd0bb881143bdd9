import AlmanacKeyspace
import Testing
@testable import AlmanacPlacement

@Suite struct KeyingAndMonitorTests {
    @Test func accessesAreCountedInTheSegmentTheInodeIdCarries() throws {
        let k = try SegmentKeying(segmentCount: 4)
        let cfg = try AccessMonitorConfig(bucketSeconds: 60, windowBuckets: 5, zoneCount: 3)
        var m = AccessMonitor(config: cfg, keying: k)
        try m.updateAccessPattern(key: InodeID(segment: 3, counter: 9_000_001), accessType: .write, zone: 1, time: 10)
        try m.updateAccessPattern(key: InodeID(segment: 3, counter: 12), accessType: .write, zone: 1, time: 20)
        #expect(m.history(segment: 3, zone: 1, before: 1, length: 1) == [2])
        #expect(m.history(segment: 2, zone: 1, before: 1, length: 1) == [0])
        // An id whose segment the keying does not have is refused with a typed error, and counts nothing.
        #expect(throws: PlacementError.self) {
            try m.updateAccessPattern(key: InodeID(segment: 4, counter: 1), accessType: .read, zone: 0, time: 10)
        }
    }

    @Test func monitorCountsPerZoneAndTypeInABoundedRing() throws {
        let k = try SegmentKeying(segmentCount: 4)
        let cfg = try AccessMonitorConfig(bucketSeconds: 60, windowBuckets: 5, zoneCount: 3)
        #expect(cfg.bytesPerSegment == 5 * 3 * 2 * 4 + 16)
        var m = AccessMonitor(config: cfg, keying: k)
        let key = InodeID(segment: 1, counter: 7)
        try m.updateAccessPattern(key: key, accessType: .read, zone: 0, time: 10)
        try m.updateAccessPattern(key: key, accessType: .write, zone: 2, time: 70, count: 3)
        try m.updateAccessPattern(key: key, accessType: .read, zone: 0, time: 75)
        #expect(m.history(segment: 1, zone: 0, before: 2, length: 2) == [1, 1])
        #expect(m.history(segment: 1, zone: 2, type: .write, before: 2, length: 2) == [0, 3])
        #expect(m.history(segment: 1, zone: nil, before: 2, length: 2) == [1, 4])
        // Ten buckets later the old counts have left the window.
        try m.updateAccessPattern(key: key, accessType: .read, zone: 1, time: 60 * 12)
        #expect(m.history(segment: 1, zone: nil, before: 12).allSatisfy { $0 == 0 })
        #expect(throws: PlacementError.self) { try m.updateAccessPattern(key: key, accessType: .read, zone: 7, time: 0) }
        // Before the first bucket and for negative times the history is zeros, never a crash.
        var fresh = AccessMonitor(config: cfg, keying: k)
        try fresh.updateAccessPattern(key: key, accessType: .read, zone: 0, time: 0)
        #expect(fresh.history(segment: 1, zone: 0, before: 0, length: 3) == [0, 0, 0])
        try fresh.updateAccessPattern(key: key, accessType: .read, zone: 0, time: -30)
        #expect(fresh.history(segment: 1, zone: 0, before: 1, length: 2) == [1, 1])
    }
}

@Suite struct ShardAssignerTests {
    func map(_ segs: Int, perShard: Int) throws -> (ShardLayout, Topology) {
        let t = try Fixture.topology()
        let k = try SegmentKeying(segmentCount: segs)
        let v = [ReplicaPlacement(zone: 0, node: 0), ReplicaPlacement(zone: 1, node: 1), ReplicaPlacement(zone: 2, node: 2)]
        return (try ShardLayout(keying: k, segmentsPerShard: perShard, voters: v, leader: 0, topology: t), t)
    }

    @Test func hotSegmentSplitsOnlyAfterKConsecutiveBuckets() throws {
        var (m, _) = try map(8, perShard: 4)
        var a = ShardAssigner(config: try ReshardingConfig(splitThresholdOpsPerSec: 100, consecutiveHotBuckets: 3, cooldownSeconds: 600))
        let loads = [10, 500, 10, 10, 10, 10, 10, 10.0]
        for i in 0..<2 { a.observe(loads: loads, map: m); #expect(a.triggerResharding(map: m, now: Double(i)).isEmpty) }
        a.observe(loads: loads, map: m)
        let plan = a.triggerResharding(map: m, now: 3)
        #expect(plan == [.split(at: 1, loadOpsPerSec: 500), .split(at: 2, loadOpsPerSec: 500)])
        for op in plan { try m.apply(op); a.applied(op, map: m, now: 3) }
        #expect(m.shard(containing: 1)?.segments == 1..<2)
        #expect(m.violations(topology: try Fixture.topology()).isEmpty)
    }

    @Test func coldNeighboursMergeBelowHalfThresholdAfterCooldown() throws {
        var (m, _) = try map(4, perShard: 1)
        var a = ShardAssigner(config: try ReshardingConfig(splitThresholdOpsPerSec: 100, mergeColdBuckets: 2, cooldownSeconds: 0))
        // Combined 60 >= 50: no merge (hysteresis band).
        a.observe(loads: [30, 30, 30, 30], map: m); a.observe(loads: [30, 30, 30, 30], map: m)
        #expect(a.triggerResharding(map: m, now: 0).isEmpty)
        a.observe(loads: [10, 10, 30, 30], map: m)
        #expect(a.triggerResharding(map: m, now: 0).isEmpty)
        a.observe(loads: [10, 10, 30, 30], map: m)
        let plan = a.triggerResharding(map: m, now: 0)
        #expect(plan == [.merge(boundary: 1, combinedOpsPerSec: 20)])
        try m.apply(plan[0])
        #expect(m.shards.count == 3)
    }
}

@Suite struct ShardMapTests {
    @Test func locationAndReconfiguration() throws {
        let t = try Fixture.topology()
        let k = try SegmentKeying(segmentCount: 4)
        let v = [ReplicaPlacement(zone: 0, node: 0), ReplicaPlacement(zone: 1, node: 1), ReplicaPlacement(zone: 2, node: 2)]
        var m = try ShardLayout(keying: k, segmentsPerShard: 2, voters: v, leader: 0, topology: t)
        let loc = try #require(m.shard(containing: 2))
        #expect(loc.id == 1 && loc.leader == 0 && loc.voters.count == 3 && loc.epoch == 1)
        try m.replaceVoter(shard: 1, removeZone: 0, add: ReplicaPlacement(zone: 4, node: 4), topology: t)
        let after = try #require(m.shard(containing: 2))
        #expect(after.leader == 4 && after.epoch == 2)
        #expect(throws: PlacementError.self) { try m.replaceVoter(shard: 1, removeZone: 1, add: ReplicaPlacement(zone: 2, node: 2), topology: t) }
        #expect(throws: PlacementError.self) { try m.transferLeadership(shard: 0, to: 5) }
        #expect(m.violations(topology: t, replicationFactor: 3).isEmpty)
    }
}

@Suite struct PolicyTests {
    let topo: Topology
    let planner: MigrationPlanner
    init() throws {
        topo = try Fixture.topology()
        var c = MigrationPlannerConfig()
        c.maxMovesInFlight = 4
        planner = try MigrationPlanner(config: c, topology: topo, latency: LatencyModel(serviceTimeMs: 0.5), replicationFactor: 3)
    }

    func shard(_ m: ShardLayout) -> Shard { m.shards[0] }

    func usMap(_ zones: [ZoneIndex] = [0, 1, 2]) throws -> ShardLayout {
        let k = try SegmentKeying(segmentCount: 1)
        return try ShardLayout(keying: k, segmentsPerShard: 1, voters: zones.map { ReplicaPlacement(zone: $0, node: $0) }, leader: 0, topology: topo)
    }

    /// Load from us for `usBuckets` buckets, then from ap.
    func flipForecast(usBuckets: Int, horizon: Int = 24, width: Double = 0.05) -> AccessForecast {
        Fixture.forecast((0..<horizon).map { t in t < usBuckets ? [380, 10, 2, 2, 3, 3] : [3, 3, 2, 2, 380, 10] }, width: width)
    }

    @Test func preparesLearnersInTheComingZoneWithinTheLeadTime() throws {
        let m = try usMap()
        let o = ShardOutlook(shard: shard(m), forecast: flipForecast(usBuckets: 3))
        let load = planner.nodeLoads(outlooks: [o], horizon: 24)
        let plan = planner.planMigration(outlook: o, nodeLoad: load, leadTimeSeconds: 1800, now: 0, history: .init(),
                                         movesInFlight: 0, pendingMoves: [], bytes: 8e9)
        guard case .prepareMoves(let moves) = plan.decision else { Issue.record("no move: \(plan.decision)"); return }
        #expect(Set(moves.map(\.add.zone)) == [4, 5])
        #expect(plan.predictedGainOpMs > plan.costOpMs)
        #expect(plan.anticipatedAt.map { $0 == 2700 } == true, "\(String(describing: plan.anticipatedAt))")
    }

    @Test func waitsWhenThePeakIsBeyondTheLeadTime() throws {
        let m = try usMap()
        // Load flips to ap in 6 buckets; the lead time is 2 buckets: not yet.
        let o = ShardOutlook(shard: shard(m), forecast: flipForecast(usBuckets: 6, horizon: 40))
        let plan = planner.planMigration(outlook: o, nodeLoad: planner.nodeLoads(outlooks: [o], horizon: 40), leadTimeSeconds: 1800, now: 0,
                                         history: .init(), movesInFlight: 0, pendingMoves: [], bytes: 8e9)
        #expect(plan.decision == .none(reason: "not yet within lead time"))
        // Four buckets later (the forecast shifted), the move is due.
        let later = ShardOutlook(shard: shard(m), forecast: flipForecast(usBuckets: 3, horizon: 40))
        let due = planner.planMigration(outlook: later, nodeLoad: planner.nodeLoads(outlooks: [later], horizon: 40), leadTimeSeconds: 1800, now: 0,
                                        history: .init(), movesInFlight: 0, pendingMoves: [], bytes: 8e9)
        guard case .prepareMoves = due.decision else { Issue.record("expected a move: \(due.decision)"); return }
    }

    @Test func aWideIntervalBlocksTheMove() throws {
        let m = try usMap()
        // Lower bound of the ap load is zero: the lower bound cannot justify the move.
        let o = ShardOutlook(shard: shard(m), forecast: flipForecast(usBuckets: 2, width: 1.0))
        let plan = planner.planMigration(outlook: o, nodeLoad: planner.nodeLoads(outlooks: [o], horizon: 24), leadTimeSeconds: 1800, now: 0,
                                         history: .init(), movesInFlight: 0, pendingMoves: [], bytes: 8e9)
        #expect(plan.decision == .none(reason: "lower bound does not justify the cost"))
    }

    @Test func budgetAndCooldownAreConstraints() throws {
        let m = try usMap()
        let o = ShardOutlook(shard: shard(m), forecast: flipForecast(usBuckets: 2))
        let load = planner.nodeLoads(outlooks: [o], horizon: 24)
        let full = planner.planMigration(outlook: o, nodeLoad: load, leadTimeSeconds: 1800, now: 0, history: .init(),
                                         movesInFlight: 3, pendingMoves: [], bytes: 8e9)
        #expect(full.decision == .none(reason: "in-flight budget"))
        var h = ShardPlacementHistory()
        h.lastReplicaChange = -100
        let cool = planner.planMigration(outlook: o, nodeLoad: load, leadTimeSeconds: 1800, now: 0, history: h,
                                         movesInFlight: 0, pendingMoves: [], bytes: 8e9)
        #expect(cool.decision == .none(reason: "cooldown"))
    }

    @Test func leadershipIsTheCheapestActionWhenAVoterServesTheLoad() throws {
        let m = try usMap([0, 2, 3])
        // Load from eu: eu-a and eu-b hold voters, so leadership goes to eu-b and no replica moves.
        let f = Fixture.forecast(Array(repeating: [2, 2, 20, 380, 2, 2], count: 24))
        let o = ShardOutlook(shard: shard(m), forecast: f)
        let load = planner.nodeLoads(outlooks: [o], horizon: 24)
        let choice = try #require(planner.leadershipChoice(outlook: o, nodeLoad: load))
        #expect(choice.leader.zone == 3)
        #expect(choice.gainLowerBound > 0)
        let plan = planner.planMigration(outlook: o, nodeLoad: load, leadTimeSeconds: 1800, now: 0, history: .init(),
                                         movesInFlight: 0, pendingMoves: [], bytes: 8e9)
        #expect(plan.decision == .none(reason: "no better placement"))
    }

    @Test func reactiveTransfersWhenRemoteLoadDominates() throws {
        let m = try usMap([0, 2, 3])
        var r = ReactivePolicy(config: ReactiveConfig(), latency: LatencyModel(serviceTimeMs: 0.5))
        let reads = [[0.0, 0, 3000, 0, 0, 0]]
        let view = PlacementView(time: 30, stepSeconds: 30, map: m, topology: topo, moves: [], failedMoves: [], completedMoveSeconds: [],
                                 stepOps: [0: reads[0]], segmentReads: reads, segmentWrites: [[0, 0, 0, 0, 0, 0]],
                                 nodeUtilization: Array(repeating: 0.1, count: 6), bytesPerSegment: 1)
        #expect(r.decide(view) == [.transferLeadership(shard: 0, to: 2)])
        // An overfull target is refused (measured-load guard).
        var busy = view
        busy.nodeUtilization[2] = 0.79
        var r2 = ReactivePolicy(config: ReactiveConfig(), latency: LatencyModel(serviceTimeMs: 0.5))
        #expect(r2.decide(busy) == [.transferLeadership(shard: 0, to: 3)])
    }

    @Test func errorMonitorFallsBackAndRecovers() {
        var e = ForecastErrorMonitor(bound: 0.3, recoveryBuckets: 2)
        #expect(e.fallingBack)
        e.recordBucket(error: 0.1); #expect(e.fallingBack)
        e.recordBucket(error: 0.1); #expect(!e.fallingBack)
        e.recordPartial(error: 0.9); #expect(e.fallingBack)
        #expect(ForecastErrorMonitor.wape(actual: [10, 0], forecast: [5, 5]) == 1.0 * 10 / 15)
    }
}
