import AlmanacKeyspace
import AlmanacPredict

/// Settings of the predictive policy (monitor, LSMM, PME planner, fallback).
public struct PredictiveConfig: Sendable {
    public var planner = MigrationPlannerConfig()
    public var monitor: AccessMonitorConfig
    public var resharding: ReshardingConfig?
    public var reactive = ReactiveConfig()
    /// Fall back to the reactive policy while the forecast WAPE exceeds this bound.
    public var forecastErrorBound: Double = 0.35
    /// Complete buckets of history needed before forecasting (e.g. one season plus one).
    public var minHistoryBuckets: Int
    /// Run without acting: the reactive policy acts, the planner's decisions are only audited.
    public var shadow = false
    /// Move time assumed before any move has been measured (seconds).
    public var initialMoveSeconds: Double
    /// Season length in buckets (for the seasonal-history check of decisions).
    public var seasonBuckets: Int
    /// Track record for replica moves: at most `trackRecordMaxMisses` missed buckets over `trackRecordBuckets`.
    public var trackRecordBuckets: Int
    public var trackRecordMaxMisses = 4
    /// Tail-aware planning (nil = mean-only objective): keep the p99 no worse than the home placement's.
    public var tail: TailBudget? = TailBudget()
    /// Leadership transfers and the commits of prepared moves judge the near window this many
    /// buckets after the first forecast bucket. 0 (the simulator): decided at a step, in effect at
    /// once. A shell that sees only complete buckets and acts at their boundaries (the live
    /// controller) decides one bucket ahead and times the action itself, so that it lands before
    /// the bucket it was decided for (AlmanacControl's `PlacementController.executionTime(of:)`).
    public var decisionLeadBuckets = 0
    /// LSMM's merge guard (issue 13 item 5) looks back this many seasons. Its forecast of a segment for the next
    /// season is, bucket by bucket, the highest load at the same time of day over those seasons; a segment whose
    /// forecast stays above the split threshold for `consecutiveHotBuckets` buckets is forecast hot, and no merge
    /// that contains it is made. 1 is the seasonal naive forecast (the same time one season ago only). Limited
    /// by the monitor's window (whole seasons observed); 0 turns the guard off.
    public var mergeGuardSeasons = 2

    public init(monitor: AccessMonitorConfig, minHistoryBuckets: Int, initialMoveSeconds: Double, resharding: ReshardingConfig?) {
        self.monitor = monitor
        self.minHistoryBuckets = minHistoryBuckets
        self.initialMoveSeconds = initialMoveSeconds
        self.trackRecordBuckets = minHistoryBuckets
        self.seasonBuckets = Swift.max(1, minHistoryBuckets - 1)
        self.resharding = resharding
        self.reactive.splitThresholdOpsPerSec = nil
    }
}

/// The predictive policy: access monitor + LSMM + forecast-led migration planner, with shadow mode and an
/// automatic fallback to the reactive policy while the forecast error is above its bound.
public struct PredictivePolicy: PlacementPolicy {
    public var name: String { config.shadow ? "predictive-shadow" : "predictive" }
    public let config: PredictiveConfig
    public let planner: MigrationPlanner
    public let forecaster: any LoadForecaster
    public private(set) var monitor: AccessMonitor
    public private(set) var audit = DecisionAudit()
    public private(set) var errorMonitor: ForecastErrorMonitor
    public private(set) var moveSecondsEstimate: Double
    public private(set) var fallbackSteps = 0
    public private(set) var activeSteps = 0
    private var assigner: ShardAssigner?
    private var reactive: ReactivePolicy
    private var histories: [ShardID: ShardPlacementHistory] = [:]
    /// The model's forecasts (judged against what happens, bucket by bucket).
    private var forecasts: [ShardID: (segments: Range<SegmentID>, forecast: AccessForecast)] = [:]
    /// The forecasts decisions use: the model's for shards whose forecast is healthy, else the naive
    /// (last value) forecaster's; replica moves are planned only for healthy shards.
    private var decisionForecasts: [ShardID: (segments: Range<SegmentID>, forecast: AccessForecast)] = [:]
    /// Consecutive complete buckets in which a shard's own forecast error stayed within the bound.
    private var shardGoodStreak: [ShardID: Int] = [:]
    private let naive = SeasonalNaiveForecaster(period: 1)
    /// Buckets in which a segment's shard forecast missed the bound (newest last, kept for one track-record window).
    private var badBuckets: [SegmentID: [Int64]] = [:]
    private var forecastBucket: Int64?
    private var lastPassBucket: Int64?
    private var firstBucket: Int64?
    private var nextMoveID = 0
    private var utilSum: [Int64: [Double]] = [:]
    private var utilSteps: [Int64: Int] = [:]
    /// Where each segment started (leader zone, voter zones): the reference for the tail bound.
    private var home: [SegmentID: (leader: ZoneIndex, voters: [ZoneIndex])] = [:]
    private var tail: TailBudget?
    /// Per completed bucket (oldest first, one season): operations and operations above the tail bound (ops/s).
    private var tailHistory: [(ops: Double, tail: Double)] = []

    public init(config: PredictiveConfig, planner: MigrationPlanner, forecaster: any LoadForecaster, keying: SegmentKeying) {
        self.config = config
        self.planner = planner
        self.forecaster = forecaster
        self.monitor = AccessMonitor(config: config.monitor, keying: keying)
        self.errorMonitor = ForecastErrorMonitor(bound: config.forecastErrorBound)
        self.moveSecondsEstimate = config.initialMoveSeconds
        self.assigner = config.resharding.map { ShardAssigner(config: $0) }
        self.reactive = ReactivePolicy(config: config.reactive, latency: planner.latency)
        self.tail = config.tail
    }

    /// The planner for one shard in the current pass (tail-aware unless the shard holds tail budget).
    func plannerFor(_ id: ShardID) -> MigrationPlanner { tail?.planner(planner, for: id) ?? planner }

    /// Observed operations of the last season with the latency the home placement would have given them.
    private func homeLatencies(current: Int64, topology: Topology) -> [(ms: Double, ops: Double)] {
        let season = config.seasonBuckets
        var out: [(ms: Double, ops: Double)] = []
        for (seg, h) in home {
            for z in 0..<config.monitor.zoneCount {
                let ops = monitor.history(segment: seg, zone: z, before: current, length: season).reduce(0, +)
                if ops > 0 { out.append((planner.latency.networkMs(client: z, leaderZone: h.leader, voterZones: h.voters, topology: topology), ops)) }
            }
        }
        return out
    }

    /// Lead time L: measured move time plus the margin.
    public var leadTimeSeconds: Double { moveSecondsEstimate + config.planner.leadMarginSeconds }

    /// The upper seasonal forecast of LSMM's merge guard: for each bucket of the next season, the highest value at
    /// the same time of day over the whole seasons `history` holds (oldest first; a partial oldest season is
    /// ignored). With one season it is the seasonal naive forecast.
    static func seasonalEnvelope(history: [Double], season: Int) -> [Double] {
        guard season > 0, history.count >= season else { return [] }
        let seasons = history.count / season
        let start = history.count - seasons * season
        return (0..<season).map { h in (0..<seasons).reduce(0) { Swift.max($0, history[start + $1 * season + h]) } }
    }

    /// `predict_access_pattern(segment)`: forecast of one segment's per-zone load, or nil without enough history.
    public func predictAccessPattern(segment: SegmentID, at time: Double) -> AccessForecast? {
        predict(segments: segment..<(segment + 1), at: time)
    }

    func predict(segments: Range<SegmentID>, at time: Double, using model: (any LoadForecaster)? = nil) -> AccessForecast? {
        let mc = config.monitor
        let current = mc.bucket(at: time)
        guard let first = firstBucket else { return nil }
        let observed = monitor.observedBuckets(before: current, since: first)
        guard observed >= config.minHistoryBuckets else { return nil }
        var histories: [[Double]] = []
        var writes = 0.0, total = 0.0
        for z in 0..<mc.zoneCount {
            var h = Array(repeating: 0.0, count: observed)
            for s in segments {
                let hs = monitor.history(segment: s, zone: z, before: current, length: observed)
                for i in 0..<observed { h[i] += hs[i] }
                let recent = Swift.min(observed, 96)
                writes += monitor.history(segment: s, zone: z, type: .write, before: current, length: recent).reduce(0, +)
            }
            total += h.suffix(96).reduce(0, +)
            histories.append(h)
        }
        let lead = Int((leadTimeSeconds / mc.bucketSeconds).rounded(.up))
        let win = Int((config.planner.evaluationWindowSeconds / mc.bucketSeconds).rounded(.up))
        return AccessForecast.make(histories: histories, writeFraction: total > 0 ? writes / total : 0, forecaster: model ?? forecaster,
                                   horizon: lead + win + config.planner.nearBuckets, bucketSeconds: mc.bucketSeconds,
                                   startTime: Double(current) * mc.bucketSeconds)
    }

    /// True when a shard's own forecast has been within the error bound for the recovery period.
    func isHealthy(_ id: ShardID) -> Bool { (shardGoodStreak[id] ?? 0) >= errorMonitor.recoveryBuckets }

    /// True when the shard's forecasts have a track record good enough for a replica move: over the last
    /// `trackRecordBuckets`, none of its segments missed the bound more than `trackRecordMaxMisses` times.
    /// A flash crowd therefore blocks data moves for a day, while leadership decisions go on.
    func hasTrackRecord(_ shard: Shard, now bucket: Int64) -> Bool {
        shard.segments.allSatisfy { seg in
            (badBuckets[seg] ?? []).filter { $0 >= bucket - Int64(config.trackRecordBuckets) }.count <= config.trackRecordMaxMisses
        }
    }

    private func outlooks(_ map: ShardLayout) -> [ShardOutlook] {
        map.shards.compactMap { s in
            guard let f = decisionForecasts[s.id], f.segments == s.segments else { return nil }
            return ShardOutlook(shard: s, forecast: f.forecast)
        }
    }

    public mutating func decide(_ view: PlacementView) -> [PlacementAction] {
        let mc = config.monitor
        let stepTime = view.time - view.stepSeconds / 2
        let b = mc.bucket(at: stepTime)
        if firstBucket == nil {
            firstBucket = b
            for s in view.map.shards { for seg in s.segments { home[seg] = (s.leaderZone, s.voterZones) } }
        }
        for s in view.segmentReads.indices {
            for z in 0..<mc.zoneCount {
                let r = view.segmentReads[s][z], w = view.segmentWrites[s][z]
                if r > 0 { try? monitor.record(segment: SegmentID(s), accessType: .read, zone: z, time: stepTime, count: UInt32(Swift.min(r, 4e9))) }
                if w > 0 { try? monitor.record(segment: SegmentID(s), accessType: .write, zone: z, time: stepTime, count: UInt32(Swift.min(w, 4e9))) }
            }
        }
        reactive.observe(view)
        utilSum[b, default: Array(repeating: 0, count: view.topology.nodes.count)] = zip(utilSum[b] ?? Array(repeating: 0, count: view.topology.nodes.count), view.nodeUtilization).map(+)
        utilSteps[b, default: 0] += 1
        for m in view.failedMoves { audit.setOutcome(moveID: m.id, .failed) }
        for d in view.completedMoveSeconds { moveSecondsEstimate = 0.7 * moveSecondsEstimate + 0.3 * d }

        stepErrorCheck(view, bucket: b)
        var actions: [PlacementAction] = []
        let current = mc.bucket(at: view.time)
        if lastPassBucket.map({ current > $0 }) ?? true {
            lastPassBucket = current
            actions += bucketPass(view, current: current)
        }
        earlyErrorCheck(view, current: current)

        let falling = errorMonitor.fallingBack || forecasts.isEmpty
        if falling || config.shadow {
            fallbackSteps += falling ? 1 : 0
            let reshardShards = Set(actions.compactMap { a -> ShardID? in
                if case .reshard(let op) = a, case .split(let at, _) = op { return view.map.shard(containing: at)?.id }
                return nil
            })
            actions += reactive.actions(view).filter { a in
                if case .transferLeadership(let id, _) = a { return !reshardShards.contains(id) }
                return true
            }
            if config.shadow && !falling { _ = stepDecisions(view, act: false) }
        } else {
            activeSteps += 1
            actions += stepDecisions(view, act: true)
        }
        for a in actions {
            if case .transferLeadership(let id, _) = a, falling || config.shadow { histories[id, default: .init()].lastLeaderChange = view.time }
        }
        return actions
    }

    /// Bucket boundary: forecast error, LSMM, forecasts, audit settlement and the replica-move pass.
    private mutating func bucketPass(_ view: PlacementView, current: Int64) -> [PlacementAction] {
        let mc = config.monitor
        var actions: [PlacementAction] = []
        // Error of the forecasts made for the bucket that just completed.
        if forecastBucket == current - 1 {
            var actual: [Double] = [], predicted: [Double] = []
            for s in view.map.shards {
                guard let f = forecasts[s.id], f.segments == s.segments else { continue }
                var a: [Double] = [], p: [Double] = []
                for z in 0..<mc.zoneCount {
                    a.append(s.segments.reduce(0) { $0 + monitor.history(segment: $1, zone: z, before: current, length: 1)[0] })
                    p.append(f.forecast.value[0][z] * mc.bucketSeconds)
                }
                let ok = ForecastErrorMonitor.wape(actual: a, forecast: p) <= errorMonitor.bound
                shardGoodStreak[s.id] = ok ? (shardGoodStreak[s.id] ?? 0) + 1 : 0
                if !ok { for seg in s.segments { badBuckets[seg, default: []].append(current - 1) } }
                actual += a
                predicted += p
            }
            errorMonitor.recordBucket(error: ForecastErrorMonitor.wape(actual: actual, forecast: predicted))
        }
        // LSMM on the completed bucket.
        let busy = Set(view.moves.map(\.shard))
        if var assigner {
            let loads = (0..<monitor.keying.segmentCount).map { s in monitor.history(segment: SegmentID(s), zone: nil, before: current, length: 1)[0] / mc.bucketSeconds }
            assigner.observe(loads: loads, map: view.map)
            // LSMM churn: an upper seasonal forecast of every segment over the next season tells which cold
            // neighbours may be hot again; those merges are not made (`mergeGuardSeasons`).
            if let first = firstBucket {
                let observed = monitor.observedBuckets(before: current, since: first)
                let seasons = Swift.min(config.mergeGuardSeasons, observed / Swift.max(1, config.seasonBuckets))
                if seasons >= 1 {
                    assigner.setForecast(loads: (0..<monitor.keying.segmentCount).map { s in
                        Self.seasonalEnvelope(history: monitor.history(segment: SegmentID(s), zone: nil, before: current, length: seasons * config.seasonBuckets),
                                              season: config.seasonBuckets).map { $0 / mc.bucketSeconds }
                    })
                }
            }
            for op in assigner.triggerResharding(map: view.map, now: view.time, busy: busy) {
                actions.append(.reshard(op))
                assigner.applied(op, map: view.map, now: view.time)
            }
            self.assigner = assigner
        }
        let splitting = Set(actions.compactMap { a -> ShardID? in
            if case .reshard(let op) = a, case .split(let at, _) = op { return view.map.shard(containing: at)?.id }
            if case .reshard(let op) = a, case .merge(let at, _) = op { return view.map.shard(containing: at)?.id }
            return nil
        })
        // Forecasts for every shard.
        forecasts = [:]
        decisionForecasts = [:]
        for s in view.map.shards {
            guard let f = predict(segments: s.segments, at: view.time) else { continue }
            forecasts[s.id] = (s.segments, f)
            if isHealthy(s.id) {
                // Decisions rest on the interval of the model widened by the seasonal history's: a move needs both
                // the adaptive model and the same time on previous days to agree (a fresh burst alone is not a pattern).
                let seasonal = predict(segments: s.segments, at: view.time, using: SeasonalNaiveForecaster(period: config.seasonBuckets))
                decisionForecasts[s.id] = (s.segments, seasonal.map { f.widened(by: $0) } ?? f)
            }
            else if let n = predict(segments: s.segments, at: view.time, using: naive) { decisionForecasts[s.id] = (s.segments, n) }
        }
        forecastBucket = forecasts.isEmpty ? nil : current
        if var t = tail, let first = firstBucket, monitor.observedBuckets(before: current, since: first) >= config.seasonBuckets {
            t.setBound(observed: homeLatencies(current: current, topology: view.topology))
            // The bucket that just completed, under the placement it ran on (the map at its end).
            let done = view.map.shards.map { s in
                (leader: s.leaderZone, voters: s.voterZones, zoneOps: (0..<mc.zoneCount).map { z in
                    s.segments.reduce(0.0) { $0 + monitor.history(segment: $1, zone: z, before: current, length: 1)[0] } / mc.bucketSeconds })
            }
            tailHistory.append(t.tailOps(ops: done, topology: view.topology, latency: planner.latency))
            if tailHistory.count > config.seasonBuckets { tailHistory.removeFirst(tailHistory.count - config.seasonBuckets) }
            let outs = outlooks(view.map)
            let horizon = outs.first?.forecast.horizon ?? 0
            let past = tailHistory.suffix(Swift.max(0, config.seasonBuckets - horizon))
            t.allocate(outlooks: outs, topology: view.topology, latency: planner.latency, replicationFactor: planner.replicationFactor,
                       pastOps: past.reduce(0) { $0 + $1.ops }, pastTailOps: past.reduce(0) { $0 + $1.tail })
            tail = t
        }
        settleAudit(view, current: current, final: false)
        for key in utilSum.keys where key < current - Int64(mc.windowBuckets) { utilSum[key] = nil; utilSteps[key] = nil }
        guard !forecasts.isEmpty, !errorMonitor.fallingBack || config.shadow else { return actions }

        // Replica moves: one plan per shard, admitted by net benefit under the in-flight budget.
        let all = outlooks(view.map)
        let oldestRecord = current - Int64(config.trackRecordBuckets)
        for seg in Array(badBuckets.keys) { badBuckets[seg]?.removeAll { $0 < oldestRecord } }
        let outs = all.filter { !splitting.contains($0.shard.id) && isHealthy($0.shard.id) && hasTrackRecord($0.shard, now: current) }
        guard let horizon = all.first?.forecast.horizon else { return actions }
        let nodeLoad = planner.nodeLoads(outlooks: all, horizon: horizon)
        let nodeLoadLower = planner.nodeLoads(outlooks: all, horizon: horizon, lowerBound: true)
        var inFlight = view.moves.filter(\.isPreparing).count
        let plans = outs.map { o in
            plannerFor(o.shard.id).planMigration(outlook: o, nodeLoad: nodeLoad, nodeLoadLower: nodeLoadLower, leadTimeSeconds: leadTimeSeconds, now: view.time,
                                  history: histories[o.shard.id] ?? .init(), movesInFlight: inFlight,
                                  pendingMoves: view.moves.filter { $0.shard == o.shard.id }, bytes: view.bytesPerSegment * Double(o.shard.segments.count))
        }
        for (plan, o) in zip(plans, outs).sorted(by: { $0.0.net > $1.0.net }) {
            guard case .prepareMoves(let moves) = plan.decision, inFlight + moves.count <= config.planner.maxMovesInFlight else { continue }
            var ids: [MoveID] = []
            for m in moves {
                let id = nextMoveID
                nextMoveID += 1
                ids.append(id)
                if !config.shadow {
                    actions.append(.prepareReplicaMove(ReplicaMove(id: id, shard: o.shard.id, removeZone: m.removeZone, add: m.add,
                                                                   bytes: view.bytesPerSegment * Double(o.shard.segments.count),
                                                                   startedAt: view.time, anticipatedAt: plan.anticipatedAt)))
                }
            }
            inFlight += moves.count
            if config.shadow { histories[o.shard.id, default: .init()].lastReplicaChange = view.time }
            let shadow = config.shadow, lead = leadTimeSeconds
            audit.record { n in
                AuditEntry(id: n, time: view.time, shard: o.shard.id, segments: o.shard.segments, kind: .replicaMove, shadow: shadow,
                           fromVoters: o.shard.voters, fromLeader: o.shard.leader, toVoters: plan.targetVoters, toLeader: plan.targetLeader,
                           forecastOps: plan.forecastOps, leadTimeSeconds: lead, windowStart: plan.windowStart,
                           windowEnd: plan.windowEnd, moveIDs: ids, predictedGainOpMs: plan.predictedGainOpMs, pointGainOpMs: plan.pointGainOpMs, costOpMs: plan.costOpMs,
                           confidence: plan.confidence, outcome: shadow ? .shadow : .pending)
            }
        }
        return actions
    }

    /// Immediate detection: the step just observed compared with the forecast rate of its bucket.
    private mutating func stepErrorCheck(_ view: PlacementView, bucket: Int64) {
        guard forecastBucket == bucket else { return }
        var actual: [Double] = [], predicted: [Double] = []
        for s in view.map.shards {
            guard let f = forecasts[s.id], f.segments == s.segments else { continue }
            for z in 0..<config.monitor.zoneCount {
                actual.append(s.segments.reduce(0.0) { $0 + view.segmentReads[Int($1)][z] + view.segmentWrites[Int($1)][z] })
                predicted.append(f.forecast.value[0][z] * view.stepSeconds)
            }
        }
        errorMonitor.recordPartial(error: ForecastErrorMonitor.wape(actual: actual, forecast: predicted))
    }

    /// Early detection: the bucket in progress compared with its forecast.
    private mutating func earlyErrorCheck(_ view: PlacementView, current: Int64) {
        let mc = config.monitor
        let elapsed = view.time - Double(current) * mc.bucketSeconds
        guard forecastBucket == current, elapsed >= view.stepSeconds else { return }
        var actual: [Double] = [], predicted: [Double] = []
        for s in view.map.shards {
            guard let f = forecasts[s.id], f.segments == s.segments else { continue }
            for z in 0..<mc.zoneCount {
                actual.append(s.segments.reduce(0) { $0 + monitor.history(segment: $1, zone: z, before: current + 1, length: 1)[0] })
                predicted.append(f.forecast.value[0][z] * elapsed)
            }
        }
        errorMonitor.recordPartial(error: ForecastErrorMonitor.wape(actual: actual, forecast: predicted))
    }

    /// Per-step decisions in the near window: commit prepared moves, abandon stale ones, transfer leadership.
    private mutating func stepDecisions(_ view: PlacementView, act: Bool) -> [PlacementAction] {
        let pc = config.planner
        let lead = config.decisionLeadBuckets
        let outs = outlooks(view.map).map { lead > 0 ? ShardOutlook(shard: $0.shard, forecast: $0.forecast.dropping(lead)) : $0 }
        guard let first = outs.first else { return [] }
        // Node loads are updated after every decision of this step, so shards do not stampede onto one node.
        let near = Swift.min(first.forecast.horizon, pc.nearBuckets)
        var nodeLoad = planner.nodeLoads(outlooks: outs, horizon: near)
        var nodeLoadLower = planner.nodeLoads(outlooks: outs, horizon: near, lowerBound: true)
        var actions: [PlacementAction] = []
        let byShard = Dictionary(grouping: view.moves, by: \.shard)
        for o in outs {
            let s = o.shard
            var h = histories[s.id] ?? .init()
            defer { histories[s.id] = h }
            let moves = byShard[s.id] ?? []
            for m in moves where m.isPrepared && view.time - m.startedAt > pc.preparedTimeoutSeconds {
                actions.append(.abortReplicaMove(id: m.id))
                audit.setOutcome(moveID: m.id, .aborted)
            }
            let prepared = moves.filter { $0.isPrepared && view.time - $0.startedAt <= pc.preparedTimeoutSeconds }
            let planner = plannerFor(s.id)
            guard let base = planner.leadershipChoice(outlook: o, nodeLoad: nodeLoad, nodeLoadLower: nodeLoadLower) else { continue }
            if !prepared.isEmpty {
                // Commit the subset of prepared learners that serves the near window best.
                var best: (set: [ReplicaMove], cost: Double, leader: ReplicaPlacement)?
                for mask in 1..<(1 << Swift.min(prepared.count, 3)) {
                    let subset = prepared.enumerated().filter { mask & (1 << $0.offset) != 0 }.map(\.element)
                    let vs = vs(applying: subset, to: s.voters)
                    guard Set(vs.map(\.zone)).count == vs.count,
                          let c = planner.leadershipChoice(outlook: o, nodeLoad: nodeLoad, nodeLoadLower: nodeLoadLower, voters: vs) else { continue }
                    if c.bestCost < (best?.cost ?? .infinity) { best = (subset, c.bestCost, c.leader) }
                }
                if let best, best.cost < Swift.min(base.currentCost, base.bestCost) * (1 - pc.minImprovement) {
                    if act {
                        for (i, m) in best.set.enumerated() {
                            actions.append(.commitReplicaMove(id: m.id, newLeader: i == best.set.count - 1 ? best.leader.node : nil))
                            audit.setOutcome(moveID: m.id, .applied)
                            h.removedZones[m.removeZone] = view.time
                        }
                        h.lastReplicaChange = view.time
                        h.lastLeaderChange = view.time
                        if best.leader.node != s.leader { h.leaderLeft[s.leader] = view.time }
                        var moved = s
                        moved.voters = vs(applying: best.set, to: s.voters)
                        moved.leader = best.leader.node
                        planner.add(o, to: &nodeLoad, sign: -1)
                        planner.add(ShardOutlook(shard: moved, forecast: o.forecast), to: &nodeLoad, sign: 1)
                        planner.add(o, to: &nodeLoadLower, sign: -1, lowerBound: true)
                        planner.add(ShardOutlook(shard: moved, forecast: o.forecast), to: &nodeLoadLower, sign: 1, lowerBound: true)
                    }
                    continue
                }
            }
            // Leadership transfer within the current voters.
            let leaderNode = s.leader
            let overloaded = (0..<nodeLoad.count).contains { t in nodeLoad[t][leaderNode] / view.topology.nodes[leaderNode].capacityOpsPerSec > pc.capacityHeadroom }
            guard base.leader.node != leaderNode,
                  base.bestCost < base.currentCost * (1 - pc.minImprovement),
                  base.gainLowerBound > o.forecast.total(0) * pc.transferPauseMs / 1000 * pc.transferPauseMs,
                  view.time - h.lastLeaderChange >= pc.leaderCooldownSeconds || overloaded,
                  // Never hand leadership back to a node it left within the cooldown (no ping-pong).
                  h.leaderLeft[base.leader.node].map({ view.time - $0 >= pc.leaderCooldownSeconds }) ?? true
            else { continue }
            if act {
                actions.append(.transferLeadership(shard: s.id, to: base.leader.node))
                h.lastLeaderChange = view.time
                h.leaderLeft[leaderNode] = view.time
                var moved = s
                moved.leader = base.leader.node
                planner.add(o, to: &nodeLoad, sign: -1)
                planner.add(ShardOutlook(shard: moved, forecast: o.forecast), to: &nodeLoad, sign: 1)
                planner.add(o, to: &nodeLoadLower, sign: -1, lowerBound: true)
                planner.add(ShardOutlook(shard: moved, forecast: o.forecast), to: &nodeLoadLower, sign: 1, lowerBound: true)
            }
            let f = o.forecast
            // The transfer is judged for the rest of the near window.
            let share = Swift.min(1, Swift.max(0, f.startTime + Double(pc.nearBuckets) * f.bucketSeconds - view.time) / (Double(pc.nearBuckets) * f.bucketSeconds))
            audit.record { n in
                AuditEntry(id: n, time: view.time, shard: s.id, segments: s.segments, kind: .leadershipTransfer, shadow: !act,
                           fromVoters: s.voters, fromLeader: leaderNode, toVoters: s.voters, toLeader: base.leader.node,
                           forecastOps: f.total(0) * f.bucketSeconds, leadTimeSeconds: 0,
                           // The bucket it was decided for (decisionLeadBuckets later), where it takes effect.
                           windowStart: Swift.max(view.time, f.startTime),
                           windowEnd: f.startTime + Double(pc.nearBuckets) * f.bucketSeconds, moveIDs: [],
                           predictedGainOpMs: base.gainLowerBound * share, pointGainOpMs: (base.currentCost - base.bestCost) * share,
                           costOpMs: f.total(0) * pc.transferPauseMs / 1000 * pc.transferPauseMs,
                           confidence: base.currentCost > base.bestCost ? Swift.max(0, Swift.min(1, base.gainLowerBound / (base.currentCost - base.bestCost))) : 0, outcome: act ? .applied : .shadow)
            }
        }
        return actions
    }

    /// Voters after committing `moves`.
    private func vs(applying moves: [ReplicaMove], to voters: [ReplicaPlacement]) -> [ReplicaPlacement] {
        var vs = voters
        for m in moves {
            vs.removeAll { $0.zone == m.removeZone }
            vs.append(m.add)
        }
        return vs.sorted { $0.zone < $1.zone }
    }

    /// Records realized gains for decisions whose window has been observed (all of them when `final`).
    private mutating func settleAudit(_ view: PlacementView, current: Int64, final: Bool) {
        let mc = config.monitor
        let oldest = current - Int64(mc.windowBuckets - 1)
        for e in audit.unsettled {
            let wb0 = Swift.max(oldest, mc.bucket(at: e.windowStart))
            let wbEnd = Int64((e.windowEnd / mc.bucketSeconds).rounded(.up))
            guard final || wbEnd <= current else { continue }
            let wb1 = Swift.min(wbEnd, current)
            var gain = 0.0
            let effective = e.outcome == .applied || e.outcome == .shadow
            if effective && wb1 > wb0 {
                for b in wb0..<wb1 {
                    let ops = (0..<mc.zoneCount).map { z in e.segments.reduce(0.0) { $0 + monitor.history(segment: $1, zone: z, before: b + 1, length: 1)[0] } / mc.bucketSeconds }
                    let util = (utilSum[b] ?? Array(repeating: 0, count: view.topology.nodes.count)).map { $0 / Double(Swift.max(1, utilSteps[b] ?? 1)) }
                    let baseLoad = util.enumerated().map { $0.element * view.topology.nodes[$0.offset].capacityOpsPerSec }
                    let fraction = b == mc.bucket(at: e.windowStart) ? Swift.max(0, Double(b + 1) * mc.bucketSeconds - e.windowStart) / mc.bucketSeconds : 1
                    gain += fraction * mc.bucketSeconds * planner.realizedGain(entry: e, ops: ops, nodeBase: baseLoad)
                }
            }
            audit.setRealized(entry: e.id, gain: gain - e.costOpMs, partial: wbEnd > current)
        }
    }

    /// Settles every open audit entry with the data observed so far (call at the end of a run).
    public mutating func finish(_ view: PlacementView) {
        settleAudit(view, current: config.monitor.bucket(at: view.time), final: true)
    }
}

extension MigrationPlanner {
    /// Realized gain rate (op-ms/s) of an audited decision for observed per-zone rates `ops` and measured node loads.
    func realizedGain(entry e: AuditEntry, ops: [Double], nodeBase: [Double]) -> Double {
        let fromZones = e.fromVoters.map(\.zone), toZones = e.toVoters.map(\.zone)
        let upper = ops
        switch e.kind {
        case .leadershipTransfer:
            guard let from = e.fromVoters.first(where: { $0.node == e.fromLeader }), let to = e.toVoters.first(where: { $0.node == e.toLeader }) else { return 0 }
            return cost(ops: ops, leader: from, voterZones: fromZones, base: nodeBase[from.node]) - cost(ops: ops, leader: to, voterZones: toZones, base: nodeBase[to.node])
        case .replicaMove:
            let a = bestLeader(voters: e.fromVoters, ops: ops, opsUpper: upper, base: nodeBase).1
            let b = bestLeader(voters: e.toVoters, ops: ops, opsUpper: upper, base: nodeBase).1
            return a - b
        }
    }
}
