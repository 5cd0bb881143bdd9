import AlmanacKeyspace
import AlmanacPredict
import AlmanacPlacement

/// The policies the simulator compares.
public enum PolicyKind: String, Sendable, CaseIterable, Codable {
    case `static`, reactive, predictive
    /// The lease-only reactive policy (no replica moves), for reference.
    case reactiveLeases = "reactive-leases"
    /// The predictive planner in shadow mode: the reactive policy acts, the planner only audits.
    case shadow
}

/// Results of one policy over the measured part of a run (after warm-up).
public struct SimulationResult: Sendable, Hashable {
    public var policy: PolicyKind
    public var p50Ms: Double
    public var p99Ms: Double
    public var meanMs: Double
    public var overloadMinutes: Double
    public var leadershipTransfers: Int
    public var replicaMoves: Int
    public var moves: Int { leadershipTransfers + replicaMoves }
    public var reversals: Int
    /// Largest number of reversals of one shard within any cooldown-long window.
    public var maxReversalsPerShardPerWindow: Int
    public var bytesMoved: Double
    /// Share of replica moves ready before the peak they anticipated (nil when no move anticipated one).
    public var movesBeforePeakShare: Double?
    public var splits: Int
    public var merges: Int
    /// Measured merges that a split cut apart again within one season (LSMM churn).
    public var mergesUndone = 0
    /// Mean number of shards over the measured window (what merges save).
    public var meanShards = 0.0
    public var failedMoves: Int
    public var abortedMoves: Int
    public var rejectedActions: Int
    /// Share of steps the predictive policy ran on the reactive fallback (0 for the others).
    public var fallbackShare: Double
    public var auditEntries: [AuditEntry]
    public var mapViolations: [String]
    /// Client latency per region (zone names `region-x` group by `region`), in region order of first zone.
    public var regions: [RegionLatency] = []
}

/// Latency of one client region over the measured part of a run.
public struct RegionLatency: Sendable, Hashable {
    public var region: String
    public var p50Ms: Double
    public var p99Ms: Double
    public var meanMs: Double
    /// Share of all measured operations that came from this region.
    public var share: Double
}

extension Topology {
    /// Region of a zone: its name up to the last '-' ("eu-a" -> "eu"), or the whole name.
    public func regionName(_ z: ZoneIndex) -> String {
        let n = zoneNames[z]
        guard let i = n.lastIndex(of: "-"), i != n.startIndex else { return n }
        return String(n[..<i])
    }
}

/// The deterministic, seeded placement simulator.
public struct PlacementSimulator: Sendable {
    public let scenario: Scenario
    public let topology: Topology
    public let load: LoadModel
    public let seed: UInt64
    public let latency: LatencyModel
    public let keying: SegmentKeying

    /// Builds a simulator. `readFile` reads files referenced by the scenario (relative paths).
    public init(scenario: Scenario, seed: UInt64? = nil, readFile: (String) throws -> String) throws {
        let sc = scenario
        guard sc.stepSeconds > 0, sc.durationHours > 0, sc.warmupHours >= 0, sc.warmupHours < sc.durationHours else {
            throw PlacementError.invalidConfiguration("need stepSeconds > 0 and 0 <= warmupHours < durationHours")
        }
        var nodes: [NodeSpec] = []
        for n in sc.nodes {
            guard let z = sc.zones.firstIndex(of: n.zone) else { throw PlacementError.invalidConfiguration("node \(n.name): unknown zone \(n.zone)") }
            nodes.append(NodeSpec(name: n.name, zone: z, capacityOpsPerSec: n.capacityOpsPerSec))
        }
        self.topology = try Topology(zoneNames: sc.zones, rttMs: sc.rttMs, nodes: nodes)
        self.scenario = sc
        self.seed = seed ?? sc.seed ?? 1
        self.load = try LoadModel(scenario: sc, topology: topology, seed: self.seed, readFile: readFile)
        self.latency = LatencyModel(serviceTimeMs: sc.serviceTimeMs)
        do { self.keying = try SegmentKeying(segmentCount: sc.segmentCount) } catch {
            throw PlacementError.invalidConfiguration("segmentCount: \(error)")
        }
    }

    func initialMap() throws -> ShardLayout {
        var voters: [ReplicaPlacement] = []
        for zn in scenario.initialVoters {
            guard let z = topology.zone(named: zn), let n = topology.nodesByZone[z].first else {
                throw PlacementError.invalidConfiguration("initial voter zone \(zn) unknown or has no node")
            }
            voters.append(ReplicaPlacement(zone: z, node: n))
        }
        guard voters.count == scenario.replicationFactor else {
            throw PlacementError.invalidConfiguration("initialVoters must list replicationFactor zones")
        }
        guard let lz = topology.zone(named: scenario.initialLeader), let leader = voters.first(where: { $0.zone == lz }) else {
            throw PlacementError.invalidConfiguration("initialLeader must be one of initialVoters")
        }
        return try ShardLayout(keying: keying, segmentsPerShard: scenario.segmentsPerShard, voters: voters, leader: leader.node, topology: topology)
    }

    /// The predictive policy configured from the scenario, with the named AlmanacPredict forecaster.
    public func makePredictive(shadow: Bool = false) throws -> PredictivePolicy {
        let sc = scenario
        let bucket = sc.bucketSeconds ?? 900
        let season = sc.seasonBuckets ?? Int((86400 / bucket).rounded())
        let monitor = try AccessMonitorConfig(bucketSeconds: bucket, windowBuckets: sc.windowBuckets ?? (season * 2 + 8), zoneCount: topology.zoneCount)
        let resharding = try sc.splitThresholdOpsPerSec.map { try ReshardingConfig(splitThresholdOpsPerSec: $0) }
        var pc = PredictiveConfig(monitor: monitor, minHistoryBuckets: season + 1,
                                  initialMoveSeconds: sc.bytesPerSegment * Double(sc.segmentsPerShard) / sc.bandwidthBytesPerSec + sc.catchUpSeconds,
                                  resharding: resharding)
        pc.shadow = shadow
        pc.planner.followerApplyCost = sc.followerApplyCost
        if let m = sc.leadMarginSeconds { pc.planner.leadMarginSeconds = m }
        if let w = sc.evaluationWindowHours { pc.planner.evaluationWindowSeconds = w * 3600 }
        if let b = sc.maxMovesInFlight { pc.planner.maxMovesInFlight = b }
        if let g = sc.mergeGuardSeasons {
            guard g >= 0 else { throw PlacementError.invalidConfiguration("mergeGuardSeasons must be >= 0 (0 turns the merge guard off), got \(g)") }
            pc.mergeGuardSeasons = g
        }
        let planner = try MigrationPlanner(config: pc.planner, topology: topology, latency: latency, replicationFactor: sc.replicationFactor)
        let forecaster: any LoadForecaster
        switch sc.forecaster ?? "seasonal-naive" {
        case "seasonal-naive": forecaster = SeasonalNaiveForecaster(period: season)
        case "combination":
            forecaster = CombinationForecaster(members: [
                SeasonalNaiveForecaster(period: season),
                HoltWintersForecaster(period: season, fitWindow: 2 * season),
                AutoregressiveForecaster(order: 3, seasonalLags: [season], fitWindow: 2 * season),
            ], seasonPeriod: season, spikePersistence: 2)
        case let other: throw PlacementError.invalidConfiguration("unknown forecaster '\(other)' (seasonal-naive, combination)")
        }
        return PredictivePolicy(config: pc, planner: planner, forecaster: forecaster, keying: keying)
    }

    /// Runs one policy over the whole scenario. `progress` receives the completed fraction.
    public func run(_ kind: PolicyKind, progress: ((Double) -> Void)? = nil) throws -> SimulationResult {
        let sc = scenario
        var map = try initialMap()
        var staticPolicy = StaticPolicy()
        var reactive = ReactivePolicy(config: { var c = ReactiveConfig(splitThresholdOpsPerSec: sc.splitThresholdOpsPerSec); c.overfullUtilization = 0.9
            if kind == .reactive { var rc = ReactiveReplicaConfig(); rc.maxMovesInFlight = sc.maxMovesInFlight ?? rc.maxMovesInFlight; c.replicas = rc }
            return c }(), latency: latency)
        var predictive = try makePredictive(shadow: kind == .shadow)
        let steps = Int((sc.durationHours * 3600 / sc.stepSeconds).rounded())
        let warmup = sc.warmupHours * 3600
        let zones = topology.zoneCount
        var hist = LatencyHistogram()
        var regionNames: [String] = []
        for z in 0..<topology.zoneCount where !regionNames.contains(topology.regionName(z)) { regionNames.append(topology.regionName(z)) }
        let regionOf = (0..<topology.zoneCount).map { z in regionNames.firstIndex(of: topology.regionName(z)) ?? 0 }
        var regionHist = Array(repeating: LatencyHistogram(), count: regionNames.count)
        var backlog = Array(repeating: 0.0, count: topology.nodes.count)
        var moves: [MoveID: ReplicaMove] = [:]
        var failed: [ReplicaMove] = []
        var completed: [Double] = []
        var r = SimulationResult(policy: kind, p50Ms: 0, p99Ms: 0, meanMs: 0, overloadMinutes: 0, leadershipTransfers: 0, replicaMoves: 0,
                                 reversals: 0, maxReversalsPerShardPerWindow: 0, bytesMoved: 0, movesBeforePeakShare: nil, splits: 0,
                                 merges: 0, failedMoves: 0, abortedMoves: 0, rejectedActions: 0, fallbackShare: 0, auditEntries: [], mapViolations: [])
        var anticipated = 0, beforePeak = 0
        var leaderLeft: [ShardID: [ZoneIndex: Double]] = [:]
        var voterLeft: [ShardID: [ZoneIndex: Double]] = [:]
        var reversalTimes: [ShardID: [Double]] = [:]
        var lastUtil = Array(repeating: 0.0, count: topology.nodes.count)
        var lastView: PlacementView?
        let reportEvery = Swift.max(1, steps / 200)
        let seasonSeconds = Double(sc.seasonBuckets ?? Int((86400 / (sc.bucketSeconds ?? 900)).rounded())) * (sc.bucketSeconds ?? 900)
        /// Measured merges (time, the segments they joined) not yet cut apart again.
        var recentMerges: [(time: Double, segments: Range<SegmentID>)] = []
        var shardSteps = 0, measuredSteps = 0

        for k in 0..<steps {
            let time = Double(k + 1) * sc.stepSeconds
            let mid = time - sc.stepSeconds / 2
            let measured = mid >= warmup
            // Offered load with seeded Poisson-like noise, identical for every policy.
            let rates = load.rates(at: mid)
            var reads = rates.reads, writes = rates.writes
            for s in 0..<sc.segmentCount {
                for z in 0..<zones {
                    for (isWrite, lam0) in [(false, rates.reads[s][z]), (true, rates.writes[s][z])] {
                        let lam = lam0 * sc.stepSeconds
                        guard lam > 0 else { continue }
                        let n = Swift.max(0, (lam + lam.squareRoot() * SeededHash.normal(seed, UInt64(k), UInt64(s), UInt64(z * 2 + (isWrite ? 1 : 0)))).rounded())
                        if isWrite { writes[s][z] = n } else { reads[s][z] = n }
                    }
                }
            }
            // Node load and queueing.
            var nodeLoad = Array(repeating: 0.0, count: topology.nodes.count)
            var shardOps: [ShardID: [Double]] = [:]
            for sh in map.shards {
                var ops = Array(repeating: 0.0, count: zones)
                var w = 0.0
                for s in sh.segments.lazy.map(Int.init) { for z in 0..<zones { ops[z] += reads[s][z] + writes[s][z]; w += writes[s][z] } }
                shardOps[sh.id] = ops
                let tot = ops.reduce(0, +)
                for v in sh.voters { nodeLoad[v.node] += v.node == sh.leader ? tot : w * sc.followerApplyCost }
            }
            var svc = Array(repeating: 0.0, count: topology.nodes.count)
            for n in topology.nodes.indices {
                let cap = topology.nodes[n].capacityOpsPerSec
                let rate = nodeLoad[n] / sc.stepSeconds
                let util = rate / cap
                lastUtil[n] = util
                backlog[n] = Swift.max(0, backlog[n] + (rate - cap) * sc.stepSeconds)
                svc[n] = latency.serviceMs(utilization: Swift.min(util, 1.0)) + backlog[n] / cap * 1000
                if measured && util > sc.overloadUtilization { r.overloadMinutes += sc.stepSeconds / 60 }
            }
            if measured {
                for sh in map.shards {
                    guard let ops = shardOps[sh.id] else { continue }
                    let lz = sh.leaderZone
                    let vz = sh.voterZones
                    for z in 0..<zones where ops[z] > 0 {
                        let ms = latency.networkMs(client: z, leaderZone: lz, voterZones: vz, topology: topology) + svc[sh.leader]
                        hist.record(ms, weight: ops[z])
                        regionHist[regionOf[z]].record(ms, weight: ops[z])
                    }
                }
            }
            // Moves progress; failures are seeded.
            for (id, m) in moves.sorted(by: { $0.key < $1.key }) {
                guard case .preparing(let readyAt) = m.state, readyAt <= time else { continue }
                if SeededHash.uniform(seed, 99, UInt64(id)) < sc.moveFailureRate {
                    moves[id] = nil
                    failed.append(m)
                    if measured { r.failedMoves += 1 }
                } else {
                    var mm = m
                    mm.state = .prepared(readyAt: readyAt)
                    moves[id] = mm
                    completed.append(readyAt - m.startedAt)
                }
            }
            let view = PlacementView(time: time, stepSeconds: sc.stepSeconds, map: map, topology: topology,
                                     moves: moves.values.sorted { $0.id < $1.id }, failedMoves: failed, completedMoveSeconds: completed,
                                     stepOps: shardOps, segmentReads: reads, segmentWrites: writes,
                                     nodeUtilization: lastUtil, bytesPerSegment: sc.bytesPerSegment)
            failed = []
            completed = []
            lastView = view
            let actions: [PlacementAction]
            switch kind {
            case .static: actions = staticPolicy.decide(view)
            case .reactive, .reactiveLeases: actions = reactive.decide(view)
            case .predictive, .shadow: actions = predictive.decide(view)
            }
            func reversal(_ shard: ShardID) {
                guard measured else { return }
                r.reversals += 1
                reversalTimes[shard, default: []].append(time)
            }
            for a in actions {
                switch a {
                case .transferLeadership(let id, let node):
                    guard let sh = map.shard(id), sh.leader != node, (try? map.transferLeadership(shard: id, to: node)) != nil else { r.rejectedActions += 1; continue }
                    let to = topology.nodes[node].zone
                    if let left = leaderLeft[id]?[to], time - left < sc.reversalWindowSeconds { reversal(id) }
                    leaderLeft[id, default: [:]][sh.leaderZone] = time
                    if measured { r.leadershipTransfers += 1 }
                case .prepareReplicaMove(var m):
                    guard moves[m.id] == nil, let sh = map.shard(m.shard), sh.voterZones.contains(m.removeZone),
                          !sh.voterZones.contains(m.add.zone), topology.nodes.indices.contains(m.add.node),
                          topology.nodes[m.add.node].zone == m.add.zone,
                          !moves.values.contains(where: { $0.shard == m.shard && ($0.add.zone == m.add.zone || $0.removeZone == m.removeZone) })
                    else { r.rejectedActions += 1; continue }
                    let sharing = moves.values.filter { $0.isPreparing && $0.add.node == m.add.node }.count
                    let seconds = m.bytes / (sc.bandwidthBytesPerSec / Double(1 + sharing)) + sc.catchUpSeconds
                    m.startedAt = time
                    m.state = .preparing(readyAt: time + seconds)
                    moves[m.id] = m
                case .commitReplicaMove(let id, let newLeader):
                    guard let m = moves[id], m.isPrepared,
                          (try? map.replaceVoter(shard: m.shard, removeZone: m.removeZone, add: m.add, topology: topology)) != nil
                    else { r.rejectedActions += 1; continue }
                    moves[id] = nil
                    if let left = voterLeft[m.shard]?[m.add.zone], time - left < sc.reversalWindowSeconds { reversal(m.shard) }
                    voterLeft[m.shard, default: [:]][m.removeZone] = time
                    if measured {
                        r.replicaMoves += 1
                        r.bytesMoved += m.bytes
                        if let peak = m.anticipatedAt, case .prepared(let readyAt) = m.state {
                            anticipated += 1
                            if readyAt <= peak { beforePeak += 1 }
                        }
                    }
                    if let nl = newLeader, let sh = map.shard(m.shard), sh.leader != nl {
                        let from = sh.leaderZone
                        if (try? map.transferLeadership(shard: m.shard, to: nl)) != nil {
                            leaderLeft[m.shard, default: [:]][from] = time
                            if measured { r.leadershipTransfers += 1 }
                        }
                    }
                case .abortReplicaMove(let id):
                    guard let m = moves.removeValue(forKey: id) else { r.rejectedActions += 1; continue }
                    if measured { r.abortedMoves += 1; r.bytesMoved += m.bytes }
                case .reshard(let op):
                    let target: ShardID?
                    switch op {
                    case .split(let at, _): target = map.shard(containing: at)?.id
                    case .merge(let b, _): target = map.shard(containing: b)?.id
                    }
                    let joined: Range<SegmentID>?
                    if case .merge(let b, _) = op, let left = map.shard(containing: b - 1), let right = map.shard(containing: b) {
                        joined = left.segments.lowerBound..<right.segments.upperBound
                    } else { joined = nil }
                    guard let t = target, !moves.values.contains(where: { $0.shard == t }), (try? map.apply(op)) != nil else { r.rejectedActions += 1; continue }
                    if measured { if case .split = op { r.splits += 1 } else { r.merges += 1 } }
                    recentMerges.removeAll { time - $0.time >= seasonSeconds }
                    switch op {
                    case .merge:
                        if measured, let joined { recentMerges.append((time, joined)) }
                    case .split(let at, _):
                        if let i = recentMerges.firstIndex(where: { $0.segments.lowerBound < at && at < $0.segments.upperBound }) {
                            recentMerges.remove(at: i)
                            r.mergesUndone += 1
                        }
                    }
                }
            }
            if measured { shardSteps += map.shards.count; measuredSteps += 1 }
            if let p = progress, k % reportEvery == 0 || k == steps - 1 { p(Double(k + 1) / Double(steps)) }
        }
        if kind == .predictive || kind == .shadow, let v = lastView {
            predictive.finish(v)
            r.auditEntries = predictive.audit.entries
            r.fallbackShare = Double(predictive.fallbackSteps) / Double(Swift.max(1, steps))
        }
        r.meanShards = Double(shardSteps) / Double(Swift.max(1, measuredSteps))
        r.p50Ms = hist.quantile(0.5)
        r.p99Ms = hist.quantile(0.99)
        r.meanMs = hist.mean
        r.regions = regionNames.indices.map { i in
            RegionLatency(region: regionNames[i], p50Ms: regionHist[i].quantile(0.5), p99Ms: regionHist[i].quantile(0.99), meanMs: regionHist[i].mean,
                          share: hist.totalWeight > 0 ? regionHist[i].totalWeight / hist.totalWeight : 0)
        }
        r.movesBeforePeakShare = anticipated > 0 ? Double(beforePeak) / Double(anticipated) : nil
        for (_, ts) in reversalTimes {
            var j = 0
            for i in ts.indices {
                while ts[i] - ts[j] >= sc.reversalWindowSeconds { j += 1 }
                r.maxReversalsPerShardPerWindow = Swift.max(r.maxReversalsPerShardPerWindow, i - j + 1)
            }
        }
        r.mapViolations = map.violations(topology: topology, replicationFactor: sc.replicationFactor)
        return r
    }
}
